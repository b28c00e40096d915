"""`allocbench import memray CAPTURE -o TRACE`: a memray capture, made with
`memray run --trace-python-allocators`, as an allocbench trace (allocbench.memray_import)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert another tool's capture into a trace (memray, made with --trace-python-allocators)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", required=True, parser_class=type(parser))
    memray = sources.add_parser("memray", help="a memray capture (pip install 'allocbench[memray]')",
                                description="Convert a memray capture into a trace, through memray's own reader.")
    memray.add_argument("capture", help="the capture: memray run --trace-python-allocators -o CAPTURE SCRIPT")
    memray.add_argument("-o", "--output", required=True, metavar="TRACE", help="the trace to write")


def run(args: argparse.Namespace) -> int:
    from allocbench.memray_import import import_capture

    summary = import_capture(Path(args.capture), Path(args.output))
    ops = ", ".join(f"{name} {count:,}" for name, count in summary.by_op.items() if count)
    print(f"{args.output}: {summary.ops:,} ops ({ops}) from {summary.records:,} memray records "
          f"({summary.not_python_allocator:,} of other allocators not imported)")
    return 0
