"""`allocbench record -o FILE -- python SCRIPT [ARGS...]` or `... -o FILE -m MODULE [ARGS...]`:
run a Python program with the recording hook on and write its allocation trace
(allocbench.recording)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from allocbench.commands._shared import add_program_arguments, program_words

HELP = "run a Python program and record its allocations (MEM and OBJ domains) into a trace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the trace to write")
    parser.add_argument("--empty-profile-function", action="store_true",
                        help="record with a profile function that does nothing installed, as memray's tracker "
                        "installs one (on CPython 3.11 every Python call then allocates a frame object): "
                        "to compare with a memray capture of the same program")
    add_program_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from allocbench.recording import program_to_run, record

    program = program_words(args)
    kind, target, program_args = program_to_run(args.module, program)
    command = ["-m", *args.module] if args.module is not None else program
    result = record(kind, target, program_args, Path(args.output), command,
                    empty_profile_function=args.empty_profile_function)
    if result.failure is not None:
        print(f"allocbench record: {args.output}: no trace written: {result.failure}", file=sys.stderr)
        return result.status or 2
    return result.status
