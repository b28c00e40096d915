"""`allocbench report DIR [DIR ...] -o FILE.html`: the self-contained HTML report of one or
more results folders; several folders are compared side by side against their common
baseline."""

from __future__ import annotations

import argparse

HELP = "write the self-contained HTML report of one or more results folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folders", nargs="+", metavar="DIR", help="a results folder written by `allocbench run`")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.html", help="where to write the report")


def run(args: argparse.Namespace) -> int:
    from allocbench.outputs import check_output_file
    from allocbench.results import ResultsFolder

    check_output_file(args.output, what="report")
    for folder in args.folders:  # each checked before the report's libraries load
        ResultsFolder.open(folder)
    from allocbench.report import write_report

    print(write_report(args.folders, args.output))
    return 0
