"""The `allocbench` command: one small module per subcommand under allocbench.commands.

Each command module defines `HELP`, `add_arguments(parser)` and `run(args) -> int`; COMMANDS
says which word runs it.
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

# The word on the command line -> its module under allocbench.commands. Only the module of the
# command given is imported: the modules import the library, numpy among it, which would cost
# every command about 0.25 s. Without a command (`allocbench --help`, a word that is none)
# every module is imported, to list them with their help.
COMMANDS = {"run": "run", "sweep": "sweep", "show": "show", "compare": "compare", "report": "report", "list": "list",
            "spec": "spec", "generate": "generate", "replay": "replay", "record": "record", "import": "import_capture",
            "exec": "exec", "trace": "trace"}


_OUTPUT_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv` (default: this process's arguments): complete for the command they
    give; the other commands are there by name only."""
    words = sys.argv[1:] if argv is None else argv
    given = next((word for word in words if not word.startswith("-")), None)  # the top level takes no option but -h
    parser = _Parser(prog="allocbench", description="Benchmark pymalloc variants and other allocators.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for word, module_name in COMMANDS.items():
        if given in COMMANDS and word != given:
            subparsers.add_parser(word)
            continue
        module = importlib.import_module(f"allocbench.commands.{module_name}")
        sub = subparsers.add_parser(word, help=module.HELP, description=module.HELP)
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
    args = build_parser(argv).parse_args(argv)
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
