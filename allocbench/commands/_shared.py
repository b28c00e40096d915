"""What several subcommands share, written once: the program arguments of `record` and `exec`,
and how `run` and `sweep` end (the report, the summary, the failures, the exit status)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_program_arguments(parser: argparse.ArgumentParser) -> None:
    """`-m MODULE [ARGS]` or `-- python SCRIPT [ARGS]`."""
    parser.add_argument("-m", dest="module", nargs=argparse.REMAINDER, metavar="MODULE [ARGS]",
                        help="run a module, as python -m does")
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- python SCRIPT [ARGS]",
                        help="the script to run (after --) and its arguments")


def program_words(args: argparse.Namespace) -> list[str]:
    """The program's words as given after `--`."""
    return args.program[1:] if args.program[:1] == ["--"] else args.program


def finish(folder: Path, status: str, command: str, write_report: bool) -> int:
    """The end of a run or a sweep: how to resume an interrupted one, else the report, the
    summary and the failures; the exit status."""
    if status == "interrupted":
        print(f"interrupted: finish it with  allocbench {command} --resume {folder}", file=sys.stderr)
        return 130
    if write_report:
        from allocbench.report import write_report as write

        write([folder], folder / "report.html")
    from allocbench.report.terminal import print_failures, print_summary

    print_summary([folder], sys.stdout)
    print(f"results: {folder}")
    print_failures([folder], sys.stderr)
    return 1 if status == "failed" else 0
