"""`allocbench show DIR`: the tables `allocbench run` printed at the end, again, with the
failed or missing cells and their reasons."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "print the summary tables of a results folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="a results folder")


def run(args: argparse.Namespace) -> int:
    from allocbench.results import ResultsFolder

    folder = ResultsFolder.open(args.folder)  # checked before the report's libraries load
    from allocbench.report.terminal import print_failures, print_summary

    print_summary([args.folder], sys.stdout)
    print_failures([args.folder], sys.stdout)
    if folder.manifest["status"] != "complete":
        print(f"status: {folder.manifest['status']}")
    return 0
