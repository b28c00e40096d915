"""The memory pass of one (allocator, workload) cell: `python -m allocbench.memory_probe`.

Runs in a fresh process with the allocator's environment and replays the trace once:
memory needs no repeats, the same trace gives the same figures. Measures the same way for
every allocator, from the process itself: the RSS high-water mark and the RSS when the trace
has ended (before the blocks it leaves live are freed), each above the RSS just before the
first op; plus the allocator's own figures where it has them. Writes one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from allocbench import _core


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(trace: str, spec: str, touch: str, timeline_every: int) -> dict:
    raw = _core.replay(trace, spec, touch, timeline_every)
    timeline = raw["timeline"]
    # Baseline: the RSS just before the first op, id table and first chunk loaded (the replay
    # resets VmHWM there too). The kernel refreshes VmHWM lazily, so the peak is also at
    # least every RSS seen.
    baseline = raw["rss_bytes_at_start"] or 0
    end = raw["rss_bytes_at_end"] or _status_bytes("VmRSS")
    peak = max([_status_bytes("VmHWM"), end] + [r for r in timeline["rss_bytes"] if r is not None])
    figures = raw["figures"]
    return {
        "baseline_rss_bytes": baseline,
        "ops": raw["played_ops"] + raw["skipped_ops"],
        "replay_seconds": raw["elapsed_seconds"],
        "peak_live_bytes": raw["peak_live_requested_bytes"],
        "peak_rss_bytes": max(0, peak - baseline),
        "retained_rss_bytes": max(0, end - baseline),
        "peak_footprint_bytes": raw["peak_footprint_bytes"],
        "retained_footprint_bytes": raw["final_footprint_bytes"],
        "mmap_calls": figures.get("mmap_calls"),
        "munmap_calls": figures.get("munmap_calls"),
        "madvise_calls": figures.get("madvise_calls"),
        "timeline": {
            "op_index": timeline["op_index"],
            "live_bytes": timeline["live_requested_bytes"],
            "footprint_bytes": timeline["footprint_bytes"],
            "rss_bytes": [None if r is None else max(0, r - baseline) for r in timeline["rss_bytes"]],
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m allocbench.memory_probe")
    parser.add_argument("--trace", required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--touch", default="first")
    parser.add_argument("--timeline-every", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    result = measure(args.trace, args.spec, args.touch, args.timeline_every)
    with open(args.output, "w") as out:
        json.dump(result, out, allow_nan=False, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v)


if __name__ == "__main__":
    sys.exit(main())
