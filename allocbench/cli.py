"""The `allocbench` command: one small module per subcommand under allocbench.commands.

Each command module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
Bad input (ConfigError, UsageError, a missing or unreadable file) is reported as one line
on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from allocbench._core import ConfigError, TraceError
from allocbench.errors import UsageError

COMMANDS = ["run", "show", "compare", "report", "list", "spec", "generate", "replay", "record", "trace"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="allocbench", description="Benchmark pymalloc variants and other allocators.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"allocbench.commands.{name}")
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args._run(args)
    except BrokenPipeError:  # `allocbench ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ConfigError, TraceError, UsageError) as error:
        print(f"allocbench {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"allocbench {args.command}: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"allocbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
