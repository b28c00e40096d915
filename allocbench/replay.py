"""Replay a trace against an allocator: the Python face of cpp/replay.h.

>>> result = replay("churn.abt", "pymalloc:preset=cpython-3.11", touch="first")
>>> result.ns_per_op, result.peak_footprint_bytes, result.fragmentation

Each call with a spec builds a fresh allocator (one per loop); with an `allocbench.Allocator`
the trace is played into that allocator, which keeps what the trace did to it (its arenas,
its peaks) but none of the trace's blocks: they are freed before the call returns.
`time_replay` has the signature pyperf's `bench_time_func` expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from os import PathLike, fspath
from typing import TYPE_CHECKING

from allocbench import _core

if TYPE_CHECKING:  # numpy is imported on first replay: pyperf workers never need it
    import numpy as np

TOUCH_MODES = ("none", "first", "all")  # nothing, the first byte, the whole block
TIMELINE_SAMPLES = 200  # samples of a timeline taken by count: smooth enough, small enough


@dataclass(frozen=True)
class Timeline:
    """Samples taken every `timeline_every` ops: ops played so far (skipped ones included),
    live requested bytes, and footprint (NaN where the allocator cannot tell)."""

    op_index: "np.ndarray"
    live_requested_bytes: "np.ndarray"
    footprint_bytes: "np.ndarray"

    def __len__(self) -> int:
        return len(self.op_index)


@dataclass(frozen=True)
class ReplayResult:
    trace: str
    allocator: str  # the canonical spec
    touch: str
    loops: int
    elapsed_seconds: float  # the op loop only, summed over the loops
    ops: dict[str, int]  # by kind, for one pass over the trace
    played_ops: int  # allocs, callocs, reallocs, frees and foreign reallocs (played as allocs)
    skipped_ops: int  # foreign frees: blocks allocated before the recording started
    peak_live_requested_bytes: int
    peak_live_objects: int
    live_requested_bytes_at_end: int
    live_objects_at_end: int
    final_footprint_bytes: int | None  # None: the allocator cannot tell
    peak_footprint_bytes: int | None
    peak_footprint_exact: bool  # the allocator's own peak, not the largest sample
    figures: dict = field(repr=False)  # the allocator's figures at the end of the last pass
    timeline: Timeline = field(repr=False)

    @property
    def ns_per_op(self) -> float:
        ops = self.played_ops * self.loops
        return self.elapsed_seconds * 1e9 / ops if ops else math.nan

    @property
    def fragmentation(self) -> float:
        """Peak footprint / peak live requested bytes; NaN when either is unknown or zero."""
        if not self.peak_footprint_bytes or not self.peak_live_requested_bytes:
            return math.nan
        return self.peak_footprint_bytes / self.peak_live_requested_bytes


def replay(
    trace_path: str | PathLike,
    allocator: str | _core.Allocator,
    *,
    touch: str = "none",
    timeline_every: int = 0,
    loops: int = 1,
) -> ReplayResult:
    """Plays the trace `loops` times against `allocator` (a spec: a fresh allocator per loop;
    or an allocbench.Allocator: every loop into it). Raises ConfigError for a bad spec or
    option, TraceError for a trace that cannot be read or replayed."""
    if loops < 1:
        raise _core.ConfigError(f"loops={loops}: at least 1")
    if timeline_every < 0:
        raise _core.ConfigError(f"timeline_every={timeline_every}: 0 (no timeline) or more")
    path = fspath(trace_path)
    spec = allocator.spec if isinstance(allocator, _core.Allocator) else _core.parse_spec(allocator)["spec"]
    elapsed = 0.0
    for _ in range(loops):
        raw = _core.replay(path, allocator, touch, timeline_every)
        elapsed += raw["elapsed_seconds"]
    import numpy as np

    timeline = raw["timeline"]
    return ReplayResult(
        trace=path,
        allocator=spec,
        touch=touch,
        loops=loops,
        elapsed_seconds=elapsed,
        ops=raw["ops"],
        played_ops=raw["played_ops"],
        skipped_ops=raw["skipped_ops"],
        peak_live_requested_bytes=raw["peak_live_requested_bytes"],
        peak_live_objects=raw["peak_live_objects"],
        live_requested_bytes_at_end=raw["live_requested_bytes_at_end"],
        live_objects_at_end=raw["live_objects_at_end"],
        final_footprint_bytes=raw["final_footprint_bytes"],
        peak_footprint_bytes=raw["peak_footprint_bytes"],
        peak_footprint_exact=raw["peak_footprint_exact"],
        figures=raw["figures"],
        timeline=Timeline(
            op_index=np.array(timeline["op_index"], dtype=np.uint64),
            live_requested_bytes=np.array(timeline["live_requested_bytes"], dtype=np.uint64),
            footprint_bytes=np.array(
                [math.nan if f is None else f for f in timeline["footprint_bytes"]], dtype=np.float64
            ),
        ),
    )


def time_replay(loops: int, trace_path: str | PathLike, spec: str, touch: str = "none") -> float:
    """Seconds of the op loop for `loops` replays, each against a fresh allocator (cold: its
    arenas are mapped and first touched inside the timed loops), with the signature of
    pyperf's time functions. `allocbench run` times warm allocators instead (see
    allocbench.bench_worker)."""
    return _core.replay_loops(loops, fspath(trace_path), spec, touch)


def time_harness_only(loops: int, trace_path: str | PathLike, touch: str = "none") -> float:
    """Seconds of the op loop for `loops` replays with no allocator behind it (every block is
    one scratch region): the harness's own cost, for benchmarks/harness_cost.py."""
    return _core.replay_harness_loops(loops, fspath(trace_path), touch)
