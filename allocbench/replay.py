"""Replay a trace against an allocator: the Python face of cpp/replay.h.

>>> result = replay("churn.abt", "pymalloc:preset=cpython-3.11", touch="first")
>>> result.ns_per_op, result.peak_footprint_bytes, result.footprint_fragmentation

The result is the core's own ReplayResult (allocbench.ReplayResult): the same object, with
the same names, that the memory pass, the benchmark worker and `allocbench replay` read.
Each call with a spec builds a fresh allocator (one per loop); with an `allocbench.Allocator`
the trace is played into that allocator, which keeps what the trace did to it (its arenas,
its peaks) but none of the trace's blocks: they are freed before the call returns.
"""

from __future__ import annotations

from os import PathLike

from allocbench import _core

TOUCH_MODES = ("none", "first", "all")  # nothing, the first byte, the whole block
TIMELINE_SAMPLES = 200  # samples of a timeline taken by count: smooth enough, small enough


def timeline_every(ops: int) -> int:
    """The sampling interval that gives about TIMELINE_SAMPLES samples of a trace of `ops` ops."""
    return max(1, ops // TIMELINE_SAMPLES)


def replay(
    trace_path: str | bytes | PathLike,
    allocator: str | _core.Allocator,
    *,
    touch: str = "none",
    timeline_every: int = 0,
    loops: int = 1,
) -> _core.ReplayResult:
    """Plays the trace `loops` times against `allocator` (a spec: a fresh allocator per loop;
    or an allocbench.Allocator: every loop into it). Raises ConfigError for a bad spec or
    option, TraceError for a trace that cannot be read or replayed."""
    if not isinstance(loops, int) or loops < 1:
        raise _core.ConfigError(f"loops={loops}: a whole number, at least 1")
    if not isinstance(timeline_every, int) or timeline_every < 0:
        raise _core.ConfigError(f"timeline_every={timeline_every}: a whole number, 0 (no timeline) or more")
    return _core.replay(trace_path, allocator, touch, timeline_every, loops)


def time_replay(loops: int, trace_path: str | PathLike, spec: str, touch: str = "none") -> float:
    """Seconds of the op loop for `loops` replays, each against a fresh allocator (cold: its
    arenas are mapped and first touched inside the timed loops), with the signature of
    pyperf's time functions. `allocbench run` times warm allocators instead (see
    allocbench.bench_worker)."""
    return _core.replay(trace_path, spec, touch, 0, loops).elapsed_seconds


def time_harness_only(loops: int, trace_path: str | PathLike, touch: str = "none") -> float:
    """Seconds of the op loop for `loops` replays with no allocator behind it (every block is
    one scratch region): the harness's own cost, for benchmarks/harness_cost.py."""
    return _core.replay_harness_loops(loops, trace_path, touch)
