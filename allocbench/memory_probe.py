"""The memory pass of one (allocator, workload) cell: `python -m allocbench.memory_probe`.

Runs in a fresh process with the allocator's environment and replays the trace once:
memory needs no repeats, the same trace gives the same figures. Measures the same way for
every allocator, from the process itself: the RSS high-water mark and the RSS when the trace
has ended (before the blocks it leaves live are freed), each above the RSS just before the
first op; plus the allocator's own figures where it has them. Writes one JSON object: a
MemoryMeasurement, whose field names are those of metrics.csv (allocbench.metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from allocbench import _core
from allocbench.metrics import ratio


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


@dataclass(frozen=True)
class MemoryMeasurement:
    """What the memory pass of a cell measured. The metric fields carry their metrics.csv
    names; None where the allocator cannot tell."""

    malloc_library: str  # which malloc served this process: the proof of a preloaded allocator
    baseline_rss_bytes: int
    replay_seconds: float  # the op loop of this one pass (touch=all): calibrates pyperf's loops
    ops: int
    peak_live_bytes: int
    peak_rss_bytes: int
    retained_rss_bytes: int
    peak_footprint_bytes: int | None
    retained_footprint_bytes: int | None
    rss_fragmentation: float | None
    footprint_fragmentation: float | None
    mmap_calls: int | None
    munmap_calls: int | None
    madvise_calls: int | None
    # (op_index, live_bytes, footprint_bytes, rss_bytes above the baseline): timelines.csv's rows
    timeline: list[tuple[int, int, int | None, int | None]]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "MemoryMeasurement":
        data = json.loads(text)
        data["timeline"] = [tuple(sample) for sample in data["timeline"]]
        return cls(**data)


def measure(trace: str, spec: str, touch: str, timeline_every: int) -> MemoryMeasurement:
    result = _core.replay(trace, spec, touch, timeline_every)
    # Baseline: the RSS just before the first op, id table and first chunk loaded (the replay
    # resets VmHWM there too). The kernel refreshes VmHWM lazily, so the peak is also at
    # least every RSS seen.
    baseline = result.rss_bytes_at_start or 0
    end = result.rss_bytes_at_end or _status_bytes("VmRSS")
    sampled = [s.rss_bytes for s in result.timeline if s.rss_bytes is not None]
    peak_rss = max(0, max([_status_bytes("VmHWM"), end, *sampled]) - baseline)
    figures = result.figures
    return MemoryMeasurement(
        malloc_library=_core.Allocator("system").stats()["malloc_library"],
        baseline_rss_bytes=baseline,
        replay_seconds=result.elapsed_seconds,
        ops=result.ops.total,
        peak_live_bytes=result.peak_live_bytes,
        peak_rss_bytes=peak_rss,
        retained_rss_bytes=max(0, end - baseline),
        peak_footprint_bytes=result.peak_footprint_bytes,
        retained_footprint_bytes=result.retained_footprint_bytes,
        rss_fragmentation=ratio(peak_rss, result.peak_live_bytes),
        footprint_fragmentation=ratio(result.peak_footprint_bytes, result.peak_live_bytes),
        mmap_calls=figures.get("mmap_calls"),
        munmap_calls=figures.get("munmap_calls"),
        madvise_calls=figures.get("madvise_calls"),
        timeline=[
            (s.op_index, s.live_bytes, s.footprint_bytes, None if s.rss_bytes is None else max(0, s.rss_bytes - baseline))
            for s in result.timeline
        ],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m allocbench.memory_probe")
    parser.add_argument("--trace", required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--touch", default="first")
    parser.add_argument("--timeline-every", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    measurement = measure(args.trace, args.spec, args.touch, args.timeline_every)
    with open(args.output, "w") as out:
        out.write(measurement.to_json())


if __name__ == "__main__":
    sys.exit(main())
