"""Results folders measured for real, small enough for the report's tests.

The folder is made by the run's own machinery (manifest, results folder, traces, the memory
pass in a fresh process per cell) except for the timing: pyperf's worker processes would
take a minute, so each cell's time values are repeated replays in this process, which give
the mean, median, stdev and count a pyperf run gives. One cell fails for real: its memory
worker is given a time limit no process can start within, and the run's own code records
the timeout.

By hand: python tests/report_fixture.py OUT_DIR [ALLOCATOR ...]
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from pathlib import Path

from allocbench.allocators import choose
from allocbench.plan import RunPlan, new_manifest
from allocbench.provenance import utc_now
from allocbench.replay import time_replay
from allocbench.results import ResultsFolder
from allocbench.runner import tasks, write_outcome
from allocbench.measure import run_cell
from allocbench.suites import Suite, Workload
from allocbench.trace_cache import prepare

ALLOCATORS = ("cpython", "system", "pymalloc:preset=cpython-3.11", "pymalloc:preset=cpython-3.7")
WORKLOADS = (
    Workload("churn", "a live set of 2,000 blocks of 8-512 B, one freed and one allocated per step",
             generator="churn", params={"live": 2000, "pairs": 20000}, seed=1),
    Workload("size-ramp", "every size from 1 to 600 B, eight blocks each, all live, then freed",
             generator="size-ramp", params={"max_size": 600, "per_size": 8, "rounds": 1}, seed=1),
)
FAILING_CELL = ("system", "size-ramp")
# Two runs to compare: every allocator with one failed cell, then a changed pymalloc variant.
RUNS = {
    "before": (ALLOCATORS, FAILING_CELL),
    "after": (("cpython", "system", "pymalloc:preset=cpython-3.11,pool_size=64K"), None),
}
VALUES, LOOPS = 6, 4
CELL_TIMEOUT, IMPOSSIBLE_TIMEOUT = 60.0, 0.01


def _timing(spec: str, trace: Path, ops: int, touch: str) -> list[tuple[str, float]]:
    time_replay(LOOPS, trace, spec, touch)  # warm-up, as pyperf's
    values = [time_replay(LOOPS, trace, spec, touch) / LOOPS for _ in range(VALUES)]
    mean = statistics.fmean(values)
    return [
        ("time_mean", mean),
        ("time_median", statistics.median(values)),
        ("time_stdev", statistics.stdev(values)),
        ("time_values", len(values)),
        ("ns_per_op", mean * 1e9 / ops),
        ("ops", ops),
    ]


def build_results_folder(
    output: Path, allocators: tuple[str, ...] = ALLOCATORS, failing_cell: tuple[str, str] | None = FAILING_CELL
) -> Path:
    """Measures every allocator on every workload into the results folder `output`; the
    traces are cached beside it, in `traces/`."""
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    return _measure(output, allocators, failing_cell)


def _measure(output: Path, allocators: tuple[str, ...], failing_cell: tuple[str, str] | None) -> Path:
    suite = Suite("report-fixture", "two tiny generated workloads for the report's tests", WORKLOADS)
    command = ["python", str(Path(__file__).resolve()), str(output), *allocators]
    plan = RunPlan(suite=suite, allocators=choose(list(allocators)), baseline="cpython", output=output, mode="fast",
                   touch="first", cell_timeout=CELL_TIMEOUT)
    facts = prepare(list(WORKLOADS), output.parent / "traces")
    folder = ResultsFolder.create(output, new_manifest(plan, command, facts), {n: f.sizes for n, f in facts.items()})
    for task in tasks(folder, facts, "memory"):
        if (task.allocator, task.workload) == failing_cell:
            task = dataclasses.replace(task, timeout=IMPOSSIBLE_TIMEOUT)
        write_outcome(folder, run_cell(task))
    for task in tasks(folder, facts, "time"):
        folder.record(task.allocator, task.workload, "time", "done",
                      metrics=_timing(task.spec, Path(task.trace.path), task.trace.ops, task.touch))
    folder.set_status("failed" if folder.failures() else "complete", utc_now())
    return output


_measured: dict[str, Path] = {}


def measured(tmp_path_factory, name: str) -> Path:
    """The results folder RUNS[name], measured once per test session however many test
    modules ask for it. Tests that change a folder work on a copy."""
    if name not in _measured:
        _measured[name] = build_results_folder(tmp_path_factory.getbasetemp() / "report-results" / name, *RUNS[name])
    return _measured[name]


if __name__ == "__main__":
    print(build_results_folder(Path(sys.argv[1]), tuple(sys.argv[2:]) or ALLOCATORS))
