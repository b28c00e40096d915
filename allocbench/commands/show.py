"""`allocbench show DIR`: the table `allocbench run` printed at the end, again."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "show"
HELP = "print the summary tables of a results folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="a results folder")


def run(args: argparse.Namespace) -> int:
    from allocbench.results import ResultsFolder
    from allocbench.summary import print_summary

    folder = ResultsFolder.open(args.folder)
    print_summary(folder, sys.stdout)
    for cell in folder.failures():
        print(f"failed: {cell['allocator']} x {cell['workload']}: {cell['reason']}")
    if folder.manifest["status"] != "complete":
        print(f"status: {folder.manifest['status']}")
    return 0
