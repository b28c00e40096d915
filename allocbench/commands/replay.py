"""`allocbench replay FILE --allocator SPEC ...`: a quick single-process comparison.

Each allocator replays the trace --repeat times, freshly built each time, in this process,
the allocators taking turns; the table gives the least op-loop time per op, and the peak and
retained footprint and the footprint fragmentation (peak footprint / peak live bytes) of the
first replay. A peak marked `~` is the largest of the sampled footprints, not the
allocator's own exact figure. For statistically sound timings use `allocbench run`.
"""

from __future__ import annotations

import argparse
import math

HELP = "replay a trace against one or more allocators and compare them in a table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a trace written by `allocbench record` or `allocbench generate`")
    parser.add_argument(
        "--allocator", "-a", dest="allocators", action="append", required=True, metavar="SPEC",
        help='an allocator spec, e.g. "pymalloc:preset=cpython-3.11", system, cpython, floor (repeatable)',
    )
    parser.add_argument(
        "--touch", choices=("none", "first", "all"), default="first",
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


def run(args: argparse.Namespace) -> int:
    from allocbench import _core
    from allocbench.allocators import is_preloaded
    from allocbench.errors import UsageError
    from allocbench.metrics import metric
    from allocbench.replay import replay, timeline_every

    for spec in args.allocators:  # every spec checked before anything runs
        if is_preloaded(spec):
            raise UsageError(f"allocator '{spec}': a preloaded library runs only in the worker processes of "
                             "`allocbench run`; replay takes pymalloc[:...], system, cpython or floor")
        _core.parse_spec(spec)
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: at least 1")
    every = timeline_every(_core.TraceReader(args.file).summary["op_count"])
    results = [replay(args.file, spec, touch=args.touch, timeline_every=every) for spec in args.allocators]
    fastest = [result.ns_per_op for result in results]
    for _ in range(args.repeat - 1):
        for i, spec in enumerate(args.allocators):
            fastest[i] = min(fastest[i], replay(args.file, spec, touch=args.touch).ns_per_op)
    first = results[0]
    print(
        f"{args.file}: {first.ops.played:,} ops played, {first.ops.foreign_free:,} skipped; "
        f"peak live {_mib(first.peak_live_bytes)} in {first.peak_live_objects:,} objects; "
        f"touch={args.touch}, fastest of {args.repeat}"
    )
    header = ["allocator", "ns/op", metric("peak_footprint_bytes").title, metric("retained_footprint_bytes").title,
              metric("footprint_fragmentation").title]
    rows = [header]
    for spec, result, ns in zip(args.allocators, results, fastest):
        fragmentation = result.footprint_fragmentation
        rows.append([spec, f"{ns:.2f}", _mib(result.peak_footprint_bytes, result.peak_footprint_exact),
                     _mib(result.retained_footprint_bytes), "unknown" if math.isnan(fragmentation) else f"{fragmentation:.2f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
    return 0
