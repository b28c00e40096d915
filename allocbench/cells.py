"""The one data model the coordinator of a run and its workers exchange: what to measure
(CellTask) and what came back (CellOutcome). Plain, frozen, picklable data, so that the same
records go to a local process, a thread pool or a Dask worker and come back to the one
process that writes the results folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TraceRef:
    """A workload's trace: where it is on the coordinator, and what it must hash to anywhere
    else (a worker without the coordinator's file system fetches it by its sha256)."""

    path: str
    sha256: str
    ops: int


@dataclass(frozen=True)
class CellTask:
    """One phase of one (allocator, workload) cell."""

    phase: str  # "memory" or "time"
    allocator: str  # the label: the key in every result
    workload: str
    spec: str  # the canonical core spec the worker builds
    preload: str | None  # LD_PRELOAD of the worker process
    trace: TraceRef | None  # None: a live cell, which runs `program` instead
    touch: str  # how much of each block the timed replays write (the memory pass writes all)
    mode: str  # pyperf's: fast, default or rigorous
    timeout: float  # seconds the worker process may take
    loops: int | None = None  # time: pyperf's loops per value, from the memory pass (None: calibrate)
    # time, in a sweep: the base's spec, timed in processes that alternate with this cell's,
    # so that the cell's ratio to the base is measured side by side (a live cell: the
    # baseline's label, whose program run live alternates with this cell's); and its loops
    paired_with: str | None = None
    pair_loops: int | None = None
    program: str | None = None  # a live cell's program (allocbench/run_modes.py), run on the allocator

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.allocator, self.workload, self.phase)


@dataclass(frozen=True)
class CellOutcome:
    """What one task gave: done with its figures, or failed with the reason."""

    task: CellTask
    state: str  # "done", "failed" or "skipped" (not measured by design, e.g. off a sweep's front)
    reason: str | None = None
    metrics: tuple[tuple[str, float], ...] = ()  # (metric name, value), names of allocbench.metrics
    timeline: tuple[tuple, ...] = ()  # memory: (op_index, live_bytes, footprint_bytes, rss_bytes)
    pyperf_json: str | None = None  # time: the cell's pyperf benchmark, as pyperf writes it
    pair_pyperf_json: str | None = None  # time, paired: the base's benchmark, timed alongside
    loops: int | None = None  # memory: the loops per value it sets for the time phase
    seconds: float = 0.0  # wall time the task took
    worker: str = field(default="local", compare=False)  # where it ran

    @classmethod
    def failed(cls, task: CellTask, reason: str, seconds: float = 0.0) -> "CellOutcome":
        return cls(task=task, state="failed", reason=reason, seconds=seconds)
