"""`allocbench replay FILE --allocator SPEC ...`: a quick single-process comparison.

Each allocator replays the trace --repeat times, freshly built each time, in this process,
the allocators taking turns; the table gives the least op-loop time per op, and the peak and
final footprint and the fragmentation (peak footprint / peak live requested bytes) of the
first replay. A peak marked `~` is the largest of the sampled footprints, not
the allocator's own exact figure. For statistically sound timings use `allocbench run`.
"""

from __future__ import annotations

import argparse
import math

from allocbench._core import TraceError, TraceReader, parse_spec
from allocbench.errors import UsageError
from allocbench.replay import TIMELINE_SAMPLES, TOUCH_MODES, ReplayResult, replay

NAME = "replay"
HELP = "replay a trace against one or more allocators and compare them in a table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a trace written by `allocbench record` or `allocbench generate`")
    parser.add_argument(
        "--allocator", "-a", dest="allocators", action="append", required=True, metavar="SPEC",
        help='an allocator spec, e.g. "pymalloc:preset=cpython-3.11", system, cpython, floor (repeatable)',
    )
    parser.add_argument(
        "--touch", choices=TOUCH_MODES, default="first",
        help="how much of each new block to write: none, the first byte, or all of it (default: first)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3,
        help="replays per allocator; the fastest counts, the first warms up what it can (default: 3)",
    )


def _mib(value: int | None, exact: bool = True) -> str:
    if value is None:
        return "unknown"
    return f"{'' if exact else '~'}{value / 2**20:.2f} MiB"


def _row(spec: str, result: ReplayResult, ns_per_op: float) -> list[str]:
    fragmentation = result.fragmentation
    return [
        spec,
        f"{ns_per_op:.2f}",
        _mib(result.peak_footprint_bytes, result.peak_footprint_exact),
        _mib(result.final_footprint_bytes),
        "unknown" if math.isnan(fragmentation) else f"{fragmentation:.2f}",
    ]


def run(args: argparse.Namespace) -> int:
    for spec in args.allocators:
        parse_spec(spec)  # every spec checked before anything runs
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: at least 1")
    try:
        op_count = TraceReader(args.file).summary["op_count"]
        every = max(1, op_count // TIMELINE_SAMPLES)
        results = [replay(args.file, spec, touch=args.touch, timeline_every=every) for spec in args.allocators]
        fastest = [result.ns_per_op for result in results]
        for _ in range(args.repeat - 1):
            for i, spec in enumerate(args.allocators):
                fastest[i] = min(fastest[i], replay(args.file, spec, touch=args.touch).ns_per_op)
    except TraceError as error:
        raise UsageError(str(error)) from None
    first = results[0]
    print(
        f"{args.file}: {first.played_ops:,} ops played, {first.skipped_ops:,} skipped; "
        f"peak live {_mib(first.peak_live_requested_bytes)} in {first.peak_live_objects:,} objects; "
        f"touch={args.touch}, fastest of {args.repeat}"
    )
    header = ["allocator", "ns/op", "peak footprint", "final footprint", "fragmentation"]
    rows = [header] + [_row(*row) for row in zip(args.allocators, results, fastest)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
    return 0
