"""`allocbench trace info FILE`: what a trace holds — its format version and bytes per op, ops
by kind, peak live objects and bytes, the size mix, skipped ops and the recording's metadata.
`allocbench trace convert IN -o OUT [--version 1|2]`: the same trace in another format version
(allocbench.trace.convert). A trace that cannot be read is one line naming the file (and the
op index), exit status 2."""

from __future__ import annotations

import argparse
import json

from allocbench.errors import UsageError
from allocbench.trace import PERCENTILES, TRACE_VERSION, TRACE_VERSIONS, TraceError, TraceStats, convert, summarise

HELP = "inspect trace files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    info = actions.add_parser("info", help="summarise a trace", description="Summarise a trace.")
    info.add_argument("file")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    change = actions.add_parser("convert", help="write a trace in another format version",
                                description="Write a trace in another format version: same records, same metadata.")
    change.add_argument("file")
    change.add_argument("-o", "--output", required=True, metavar="FILE", help="the trace to write")
    change.add_argument("--version", type=int, choices=TRACE_VERSIONS, default=TRACE_VERSION,
                        help=f"format version to write (default: {TRACE_VERSION})")


def _format(stats: TraceStats) -> str:
    per_op = f", {stats.bytes_per_op:.2f} bytes per op" if stats.bytes_per_op is not None else ""
    lines = [f"trace      {stats.path}", f"format     version {stats.version}, {stats.file_bytes:,} bytes{per_op}",
             f"ops        {stats.op_count:,}"]
    lines += [f"  {kind:<16} {count:,}" for kind, count in stats.ops_by_kind.items() if count]
    lines += [f"  domain {domain:<9} {count:,}" for domain, count in stats.ops_by_domain.items() if count]
    lines.append(f"peak live  {stats.peak_live_objects:,} objects, {stats.peak_live_bytes:,} bytes")
    lines.append(f"at the end {stats.final_live_objects:,} objects, {stats.final_live_bytes:,} bytes live")
    if stats.requests:
        percentiles = ", ".join(f"p{p} {stats.size_percentiles[p]}" for p in PERCENTILES)
        lines.append(
            f"sizes      {stats.requests:,} requests: min {stats.size_min}, {percentiles}, "
            f"max {stats.size_max}, mean {stats.size_mean:.1f}"
        )
        served = {k: v for k, v in stats.by_size_class.items() if v}
        lines.append("  by pymalloc size class (block bytes: requests):")
        lines.append("    " + ", ".join(f"{size}: {count:,}" for size, count in served.items()))
    lines.append(f"skipped    {stats.skipped_on_replay:,} foreign ops in the trace (skipped on replay)")
    for reason, count in stats.skipped_by_recorder.items():
        lines.append(f"  recorder: {reason} {count:,}")
    lines.append("metadata")
    lines += [f"  {key:<20} {json.dumps(value)}" for key, value in stats.metadata.items()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    return _convert(args) if args.action == "convert" else _info(args)


def _convert(args: argparse.Namespace) -> int:
    summary = convert(args.file, args.output, args.version)  # TraceError: one line, exit status 2
    print(f"{args.output}: version {summary['version']}, {summary['op_count']:,} ops")
    return 0


def _info(args: argparse.Namespace) -> int:
    try:
        stats = summarise(args.file)
    except TraceError as error:
        raise UsageError(str(error)) from None
    if args.json:
        print(json.dumps(stats.__dict__, indent=2))
    else:
        print(_format(stats))
    return 0
