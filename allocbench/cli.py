"""The `allocbench` command: one small module per subcommand under allocbench.commands.

Each command module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
Bad input (ConfigError, TraceError, UsageError, a file that cannot be read or written, an
output that cannot be written) is reported as one line on stderr with exit status 2, never
as a traceback; so is a standard output that is closed or full.
"""

from __future__ import annotations

import argparse
import codecs
import errno
import importlib
import os
import sys

from allocbench._core import ConfigError, TraceError
from allocbench.errors import UsageError

COMMANDS = ["run", "sweep", "show", "compare", "report", "list", "spec", "generate", "replay", "record", "import_capture", "exec", "trace"]


_OUTPUT_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF)


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


def _silence_stdout() -> None:
    """Points standard output at /dev/null, so that the interpreter's own flush at exit has
    nothing left to fail on."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _file_system_bytes(error: UnicodeEncodeError) -> tuple[bytes | str, int]:
    """Prints a name that is not UTF-8 as the bytes it has on disk (as `ls` does), and any
    other character the stream cannot take escaped."""
    text = error.object[error.start:error.end]
    if all("\udc80" <= c <= "\udcff" for c in text):
        return bytes(ord(c) - 0xDC00 for c in text), error.end
    return text.encode("ascii", "backslashreplace").decode(), error.end


codecs.register_error("allocbench.names", _file_system_bytes)


def main(argv: list[str] | None = None) -> int:
    if sys.stdout is None:
        print("allocbench: standard output is closed; give it somewhere to write (e.g. >/dev/null)", file=sys.stderr)
        return 2
    # Names the user gave (paths that are not UTF-8) are printed, never refused.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="allocbench.names")
    args = build_parser().parse_args(argv)
    try:
        status = args._run(args)
        sys.stdout.flush()  # a full disk shows here, as one line, not at the interpreter's exit
        return status
    except BrokenPipeError:  # `allocbench ... | head`: the reader has seen enough
        _silence_stdout()
        return 0
    except (ConfigError, TraceError, UsageError) as error:
        print(f"allocbench {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.filename is None and error.errno in _OUTPUT_ERRORS:
            _silence_stdout()
            print(f"allocbench {args.command}: cannot write the output: {error.strerror}", file=sys.stderr)
        elif error.filename is None:
            print(f"allocbench {args.command}: {error.strerror or error}", file=sys.stderr)
        else:
            print(f"allocbench {args.command}: {os.fsdecode(error.filename)}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"allocbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
