"""A parameter sweep: a grid of pymalloc variants over one base, measured like a run.

The plan checks everything before anything exists (the suite, the grid's knobs and values,
every point against the core's validate(), the base, the references, the output folder),
and lists the points it skips with their reasons. The results folder is a run's (kind
"sweep"): one allocator per point, the base, and the references (default: cpython and
system), each with its full config and, for points, its knobs. Memory first, every cell in a
process of its own, `--jobs` at a time (or on a Dask cluster). Then time, one cell at a
time: each point and reference is timed in pyperf processes alternating with the base's, so
that its ratio to the base is measured side by side (allocbench.measure); the base itself
is not timed apart. `--time front` times only the points on the memory Pareto front (total
peak RSS against total retained RSS over the workloads); `--time none` is memory only.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from allocbench.allocators import AllocatorChoice, choose, file_label
from allocbench.errors import UsageError
from allocbench.grid import Grid, Resolved, make_grid, parse_knob, resolve
from allocbench.outputs import read_input_file
from allocbench.pareto import front
from allocbench.plan import DEFAULT_CELL_TIMEOUT, check_choice, check_timeout, check_writable
from allocbench.provenance import machine_facts, package_versions, python_facts, utc_now
from allocbench.replay import TOUCH_MODES
from allocbench.results import MODES, SCHEMA, ResultsFolder, new_cell
from allocbench.suites import Suite, load_suite

TIME_MODES = ("all", "front", "none")
DEFAULT_BASE = "pymalloc:preset=cpython-3.11"
DEFAULT_REFERENCES = ("cpython", "system")
FILE_KEYS = {"suite", "grid", "base", "references", "time", "mode", "sample", "touch", "cell_timeout"}
BASE_NOT_TIMED = "the base: timed alongside every other cell"
OFF_THE_FRONT = "not on the memory front (peak RSS against retained RSS, each relative to the base)"
NOT_TIMED = "--time none: memory only"


@dataclass
class SweepRequest:
    suite: str = "small-objects"
    grid: list[str] = field(default_factory=list)  # KNOB=VALUES, as given
    base: str = DEFAULT_BASE
    references: list[str] | None = None
    time: str = "all"
    mode: str = "default"
    sample: int | None = None
    seed: int = 0
    touch: str = "first"
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    output: Path | None = None
    results_root: Path = Path("results")
    file: dict | None = None  # the sweep file, resolved: kept in the results


@dataclass(frozen=True)
class SweepPlan:
    suite: Suite
    grid: Grid
    resolved: Resolved
    base: AllocatorChoice
    points: list[AllocatorChoice]  # the base among them when it is one of the grid's points
    references: list[AllocatorChoice]
    time: str
    mode: str
    touch: str
    cell_timeout: float
    output: Path

    def allocators(self) -> list[AllocatorChoice]:
        base_is_a_point = any(p.label == self.base.label for p in self.points)
        return ([] if base_is_a_point else [self.base]) + self.points + self.references

    def cells(self) -> list[tuple[str, str]]:
        return [(a.label, w.name) for w in self.suite.workloads for a in self.allocators()]


def read_sweep_file(path: Path) -> SweepRequest:
    """A sweep file (TOML): the same settings as the command line's, the grid as a table of
    knob = [values] or knob = "A..B". Raises UsageError for anything else."""
    data = read_input_file(path, "sweep file")
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None
    unknown = set(table) - FILE_KEYS
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (keys: {', '.join(sorted(FILE_KEYS))})")
    grid = table.get("grid", {})
    if not isinstance(grid, dict):
        raise UsageError(f"{path}: [grid] must be a table of knob = [values] or knob = \"A..B\"")
    knobs = []
    for knob, values in grid.items():
        if isinstance(values, list) and values and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            knobs.append(f"{knob}={','.join(str(v) for v in values)}")
        elif isinstance(values, str):
            knobs.append(f"{knob}={values}")
        else:
            raise UsageError(f"{path}: grid.{knob} must be a list of values or a range \"A..B\"")
    sample = table.get("sample", {})
    if not isinstance(sample, dict) or set(sample) - {"points", "seed"}:
        raise UsageError(f"{path}: [sample] takes points and seed")
    references = table.get("references")
    if references is not None and not (isinstance(references, list) and all(isinstance(r, str) for r in references)):
        raise UsageError(f"{path}: references must be a list of allocator labels")
    request = SweepRequest(grid=knobs, references=references, file=table)
    for key, kind in (("suite", str), ("base", str), ("time", str), ("mode", str), ("touch", str)):
        if key in table:
            if not isinstance(table[key], kind):
                raise UsageError(f"{path}: {key} must be a string")
            setattr(request, key, table[key])
    if "cell_timeout" in table:
        if not isinstance(table["cell_timeout"], (int, float)) or isinstance(table["cell_timeout"], bool):
            raise UsageError(f"{path}: cell_timeout must be a number of seconds")
        request.cell_timeout = float(table["cell_timeout"])
    for key, attribute in (("points", "sample"), ("seed", "seed")):
        if key in sample:
            if not isinstance(sample[key], int) or isinstance(sample[key], bool):
                raise UsageError(f"{path}: sample.{key} must be a whole number")
            setattr(request, attribute, sample[key])
    return request


def make_plan(request: SweepRequest, clock=utc_now) -> SweepPlan:
    """Checks everything the sweep asks for; creates nothing."""
    check_choice("--time", request.time, TIME_MODES)
    check_choice("mode", request.mode, MODES)
    check_choice("--touch", request.touch, TOUCH_MODES)
    timeout = check_timeout(request.cell_timeout)
    suite = load_suite(request.suite)
    grid = make_grid([parse_knob(text) for text in request.grid], request.sample, request.seed)
    resolved = resolve(grid, request.base)
    (base,) = choose([request.base])
    points = [
        AllocatorChoice(label=p.label, spec=resolved.specs[p.label], config=_config(resolved.specs[p.label]))
        for p in resolved.points
    ]
    for point in points:
        if point.spec == base.spec:  # the base is one of the grid's points: measured once, as that point
            base = point
    reference_labels = list(DEFAULT_REFERENCES) if request.references is None else request.references
    references = choose(reference_labels) if reference_labels else []
    labels = [a.label for a in points] + [r.label for r in references]
    ours = {p.spec: p.label for p in points} | {base.spec: base.label}
    for reference in references:
        if reference.label in ours.values() or (reference.preload is None and reference.spec in ours):
            raise UsageError(f"reference {reference.label!r} is also a point or the base of the sweep "
                             f"({ours.get(reference.spec, reference.label)})")
    files = [file_label(label) for label in labels + [base.label]]
    if len(set(files)) != len(set(labels + [base.label])):
        raise UsageError("two allocator labels map to the same pyperf file name")
    output = request.output or request.results_root / f"{clock().replace(':', '')}-sweep-{suite.name}"
    check_writable(output)
    return SweepPlan(suite=suite, grid=grid, resolved=resolved, base=base, points=points, references=references,
                     time=request.time, mode=request.mode, touch=request.touch, cell_timeout=timeout, output=output)


def _config(spec: str) -> dict:
    from allocbench import _core

    config = _core.parse_spec(spec)
    config.pop("spec")
    return config


def new_manifest(plan: SweepPlan, request: SweepRequest, command: list[str], traces: dict, jobs: int,
                 executor: str, clock=utc_now) -> dict:
    knobs_of = {p.label: p.as_dict() for p in plan.resolved.points}
    roles = {plan.base.label: "base", **{r.label: "reference" for r in plan.references}}

    def entry(choice: AllocatorChoice) -> dict:
        role = "base" if choice.label == plan.base.label else roles.get(choice.label, "point")
        return {**choice.to_manifest(), "role": role, "knobs": knobs_of.get(choice.label)}

    cells = []
    for label, workload in plan.cells():
        cell = new_cell(label, workload)
        if plan.time == "none":
            cell.update(time="skipped", reasons={"time": NOT_TIMED})
        elif label == plan.base.label:
            cell.update(time="skipped", reasons={"time": BASE_NOT_TIMED})
        cells.append(cell)
    return {
        "schema": SCHEMA,
        "kind": "sweep",
        "status": "running",
        "suite": plan.suite.name,
        "mode": plan.mode,
        "baseline": plan.base.label,
        "touch": plan.touch,
        "cell_timeout": plan.cell_timeout,
        "command": command,
        "cwd": os.getcwd(),
        "created": clock(),
        "finished": None,
        "machine": machine_facts(),
        "python": python_facts(),
        "packages": package_versions(),
        "sweep": {
            "base": request.base,
            "grid": plan.grid.as_dict(),
            "sample": None if plan.grid.sample is None else {"points": plan.grid.sample, "seed": plan.grid.seed},
            "time": plan.time,
            "points": [p.label for p in plan.points],
            "skipped": [{"point": p.as_dict(), "reason": reason} for p, reason in plan.resolved.skipped],
            "references": [r.label for r in plan.references],
            "executor": executor,
            "jobs": jobs,
            "file": request.file,
        },
        "allocators": [entry(a) for a in plan.allocators()],
        "workloads": [
            {"name": w.name, "description": w.description, "kind": w.kind, "source": w.source(),
             "trace": str(traces[w.name].path), "trace_sha256": traces[w.name].sha256, "ops": traces[w.name].ops}
            for w in plan.suite.workloads
        ],
        "cells": cells,
    }


def memory_ratios(folder: ResultsFolder, labels: list[str]) -> dict[str, tuple[float, float]]:
    """Per allocator, its peak and retained RSS relative to the base: the geometric means over
    the workloads that the report's front is drawn from (report.stats.ratio_over_workloads);
    NaN for one whose memory is not done on every workload (it would not compare)."""
    from allocbench.report.stats import ratio_over_workloads

    base = folder.manifest["baseline"]
    workloads = [w["name"] for w in folder.manifest["workloads"]]
    rss: dict[tuple[str, str, str], float] = {}
    for allocator, workload, metric, value, _ in folder.metrics_rows():
        if metric in ("peak_rss_bytes", "retained_rss_bytes"):
            rss[(allocator, workload, metric)] = value
    out = {}
    for label in labels:
        ratios = []
        for metric in ("peak_rss_bytes", "retained_rss_bytes"):
            pairs = [(rss.get((label, w, metric)), rss.get((base, w, metric))) for w in workloads]
            if any(v is None or b is None for v, b in pairs):
                ratios.append(math.nan)
                continue
            ratios.append(ratio_over_workloads([v for v, _ in pairs], [b for _, b in pairs]).ratio)
        out[label] = tuple(ratios)
    return out


def time_only_the_front(folder: ResultsFolder) -> None:
    """Between the phases of a --time front sweep: the time phase of every point off the
    memory front is skipped, with the reason."""
    if folder.manifest["sweep"]["time"] != "front":
        return
    points = [a["label"] for a in folder.manifest["allocators"] if a.get("role") == "point"]
    candidates = points + [folder.manifest["baseline"]] * (folder.manifest["baseline"] not in points)
    ratios = memory_ratios(folder, candidates)
    on_front = set(front([(label, ratios[label]) for label in candidates]))
    for (label, workload), cell in list(folder.cells.items()):
        if label in points and label not in on_front and cell["time"] == "missing":
            folder.record(label, workload, "time", "skipped", reason=OFF_THE_FRONT)


def estimate_seconds(plan: SweepPlan, traces: dict, jobs: int) -> float:
    """A rough forecast, to say before starting: a memory cell costs a process start and its
    replay (every byte written), a time cell pyperf's processes, alternating with the base's."""
    from allocbench.bench_worker import RUNNER_DEFAULTS, processes_and_values

    start, per_op = 0.35, 60e-9  # seconds a worker process takes to start; replay seconds per op, touch=all
    allocators = plan.allocators()
    memory = sum(start + per_op * traces[w.name].ops for w in plan.suite.workloads) * len(allocators) / max(1, jobs)
    timed = {"none": 0, "front": min(len(plan.points), 3) + len(plan.references), "all": len(plan.points) + len(plan.references)}
    processes, values = processes_and_values(plan.mode)
    per_process = 2 * start + (values + RUNNER_DEFAULTS["warmups"]) * RUNNER_DEFAULTS["min_time"]
    time = timed[plan.time] * len(plan.suite.workloads) * processes * 2 * per_process
    return memory + time


def make_executor(executor: str, scheduler: str | None, jobs: int | None):
    from allocbench.executors import LocalExecutor, default_jobs

    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: at least 1")
    if executor == "dask":
        from allocbench.dask_executor import DaskExecutor

        return DaskExecutor(scheduler, jobs)
    return LocalExecutor(jobs or default_jobs())


def _describe(plan: SweepPlan, traces: dict, jobs: int, say) -> None:
    from allocbench.progress import format_seconds

    allocators = plan.allocators()
    workloads = len(plan.suite.workloads)
    timed = {"all": "every point and reference", "front": "the points on the memory front and the references",
             "none": "nothing (memory only)"}[plan.time]
    say(f"sweep of {plan.grid.size:,} grid point(s) over {plan.base.label}: {len(plan.points)} valid, "
        f"{len(plan.resolved.skipped)} skipped; {len(plan.references)} reference(s); "
        f"{len(allocators)} allocators x {workloads} workloads = {len(allocators) * workloads} memory cells; timing {timed}")
    for point, reason in plan.resolved.skipped[:10]:
        say(f"  skipped {point.label}: {reason}")
    if len(plan.resolved.skipped) > 10:
        say(f"  ... and {len(plan.resolved.skipped) - 10} more skipped points (all listed in the manifest)")
    say(f"estimated time: about {format_seconds(estimate_seconds(plan, traces, jobs))} (m:ss) with {jobs} job(s)")


def start(request: SweepRequest, *, command: list[str], jobs: int | None, executor: str, scheduler: str | None,
          traces: Path, clock=utc_now):
    """Plans, prepares the traces, creates the folder and measures. Returns (folder, status)."""
    from allocbench.progress import Progress
    from allocbench.runner import execute
    from allocbench.trace_cache import prepare

    plan = make_plan(request, clock)
    runner = make_executor(executor, scheduler, jobs)  # a scheduler out of reach stops here, before any trace
    try:
        progress = Progress()
        facts = prepare(list(plan.suite.workloads), traces, progress.note)
        _describe(plan, facts, runner.jobs, progress.note)
        folder = ResultsFolder.create(plan.output, new_manifest(plan, request, command, facts, runner.jobs, executor, clock),
                                      {name: fact.sizes for name, fact in facts.items()})
        status = execute(folder, facts, runner, progress, clock, between_phases=time_only_the_front)
    finally:
        runner.close()
    return folder, status


def resume(path: Path, *, jobs: int | None, executor: str, scheduler: str | None, traces: Path, clock=utc_now):
    """Finishes an interrupted sweep with its own settings. Returns (folder, status)."""
    from allocbench.progress import Progress
    from allocbench.runner import execute, resume as reopen
    from allocbench.suites import load_workloads
    from allocbench.trace_cache import prepare

    folder = reopen(path)
    if folder.manifest.get("kind") != "sweep":
        raise UsageError(f"{path}: not a sweep's results folder (resume a run with allocbench run --resume)")
    workloads = load_workloads()
    missing = [e["name"] for e in folder.manifest["workloads"] if e["name"] not in workloads]
    if missing:
        raise UsageError(f"{path}: workload '{missing[0]}' is no longer defined")
    runner = make_executor(executor, scheduler, jobs)
    try:
        progress = Progress()
        facts = prepare([workloads[e["name"]] for e in folder.manifest["workloads"]], traces, progress.note)
        status = execute(folder, facts, runner, progress, clock, between_phases=time_only_the_front)
    finally:
        runner.close()
    return folder, status
