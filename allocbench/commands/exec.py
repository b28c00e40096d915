"""`allocbench exec -a SPEC [--stats FILE.json] -- python SCRIPT [ARGS...]` or `... -m MODULE
[ARGS...]`: run a Python program live on an allocator; this process becomes the program
(allocbench.live), and the allocator's statistics are written when it exits."""

from __future__ import annotations

import argparse

from allocbench.commands._shared import add_program_arguments, program_words

HELP = "run a Python program live on an allocator and report the allocator's statistics at exit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--allocator", required=True, metavar="SPEC",
                        help="pymalloc[:key=value,...], cpython, system, mimalloc, jemalloc, tcmalloc or preload:/path/lib.so")
    parser.add_argument("--stats", metavar="FILE.json", help="write the statistics as JSON here (default: a dump on stderr)")
    parser.add_argument("--path", choices=("auto", "early", "fallback"), default="auto",
                        help="how the allocator goes in: early (before the interpreter starts), fallback (a wrapping "
                             "hook at start-up), auto (early where the interpreter allows it)")
    add_program_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from allocbench.live import REPORT_TO_STDERR, live_command, replace_process
    from allocbench.recording import program_to_run

    program = program_words(args)
    kind, target, program_args = program_to_run(args.module, program, verb="run")
    report = args.stats if args.stats is not None else REPORT_TO_STDERR
    replace_process(live_command(args.allocator, kind, target, program_args, report=report, path=args.path))
    return 0  # not reached: this process is the program now
