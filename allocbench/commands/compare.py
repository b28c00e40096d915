"""`allocbench compare DIR_A DIR_B`: B relative to A, cell by cell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "compare two results folders (the second relative to the first)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("before", type=Path, help="the reference results folder")
    parser.add_argument("after", type=Path, help="the results folder compared with it")


def run(args: argparse.Namespace) -> int:
    from allocbench.results import ResultsFolder

    for folder in (args.before, args.after):  # each checked before the report's libraries load
        ResultsFolder.open(folder)
    from allocbench.report.terminal import print_comparison

    print_comparison(args.before, args.after, sys.stdout)
    return 0
