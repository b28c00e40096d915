"""The memory pass of one (allocator, workload) cell: `python -m allocbench.memory_probe`.

Runs in a fresh process with the allocator's environment and replays the trace once:
memory needs no repeats, the same trace gives the same figures. Measures the same way for
every allocator, from the process itself: the RSS high-water mark (VmHWM, reset just before
the replay) and the RSS when the trace has ended, each above the RSS measured just before
the replay; plus the allocator's own figures where it has them. Writes one JSON object.
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


def _reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux 4.0+); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def measure(trace: str, spec: str, touch: str, timeline_every: int) -> dict:
    baseline = _status_bytes("VmRSS")
    peak_is_reset = _reset_peak_rss()
    raw = _core.replay(trace, spec, touch, timeline_every)
    peak_rss = _status_bytes("VmHWM")
    end_rss = raw.get("rss_bytes_at_end") or _status_bytes("VmRSS")
    figures = raw["figures"]
    timeline = raw["timeline"]
    return {
        "baseline_rss_bytes": baseline,
        "peak_rss_exact": peak_is_reset,
        "ops": raw["played_ops"] + raw["skipped_ops"],
        "replay_seconds": raw["elapsed_seconds"],
        "peak_live_bytes": raw["peak_live_requested_bytes"],
        "peak_rss_bytes": max(0, peak_rss - baseline),
        "retained_rss_bytes": max(0, end_rss - baseline),
        "peak_footprint_bytes": raw["peak_footprint_bytes"],
        "retained_footprint_bytes": raw["final_footprint_bytes"],
        "mmap_calls": figures.get("mmap_calls"),
        "munmap_calls": figures.get("munmap_calls"),
        "madvise_calls": figures.get("madvise_calls"),
        "timeline": {
            "op_index": timeline["op_index"],
            "live_bytes": timeline["live_requested_bytes"],
            "footprint_bytes": timeline["footprint_bytes"],
            "rss_bytes": [
                None if r is None else max(0, r - baseline) for r in timeline.get("rss_bytes", [])
            ],
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
