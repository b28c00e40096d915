"""`allocbench record -o FILE -- python SCRIPT [ARGS...]` or `... -o FILE -m MODULE [ARGS...]`:
run a Python program with the recording hook on and write its allocation trace
(allocbench.recording)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "record"
HELP = "run a Python program and record its allocations (MEM and OBJ domains) into a trace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the trace to write")
    parser.add_argument("--empty-profile-function", action="store_true",
                        help="record with a profile function that does nothing installed, as memray's tracker "
                        "installs one (on CPython 3.11 every Python call then allocates a frame object): "
                        "to compare with a memray capture of the same program")
    parser.add_argument("-m", dest="module", nargs=argparse.REMAINDER, metavar="MODULE [ARGS]",
                        help="run a module, as python -m does")
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- python SCRIPT [ARGS]",
                        help="the script to run (after --) and its arguments")


def run(args: argparse.Namespace) -> int:
    from allocbench.recording import program_to_run, record

    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    kind, target, program_args = program_to_run(args.module, program)
    command = ["-m", *args.module] if args.module is not None else program
    result = record(kind, target, program_args, Path(args.output), command,
                    empty_profile_function=args.empty_profile_function)
    if result.failure is not None:
        print(f"allocbench record: {args.output}: no trace written: {result.failure}", file=sys.stderr)
        return result.status or 2
    return result.status
