"""The plan of a run: what cells exist and how they are measured, every part of the request
checked before anything is created (no folder, no trace), so that a bad request is one line
and exit status 2 with nothing left behind.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from allocbench.allocators import AllocatorChoice, choose, file_label
from allocbench.errors import UsageError
from allocbench.provenance import machine_facts, package_versions, python_facts, utc_now
from allocbench.replay import TOUCH_MODES
from allocbench.results import MODES, SCHEMA, new_cell
from allocbench.run_modes import LIVE, REPLAY, RUN_MODES, live_name, live_unavailable, replays, runs_live
from allocbench.suites import Suite, Workload, load_suite
from allocbench.workloads import program_path

DEFAULT_CELL_TIMEOUT = 600.0  # seconds one cell's process may take


@dataclass
class RunRequest:
    suite: str = "small-objects"
    allocators: list[str] | None = None
    baseline: str = "cpython"
    mode: str = "default"  # pyperf's: fast, default or rigorous
    run_mode: str = REPLAY  # replay, live or both (allocbench/run_modes.py)
    output: Path | None = None
    results_root: Path = Path("results")
    touch: str = "first"
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunPlan:
    suite: Suite
    allocators: list[AllocatorChoice]
    baseline: str
    output: Path
    mode: str
    touch: str
    cell_timeout: float
    run_mode: str = REPLAY

    @property
    def replayed(self) -> list[Workload]:
        """The workloads whose traces are replayed (their traces are needed)."""
        return list(self.suite.workloads) if replays(self.run_mode) else []

    @property
    def live(self) -> list[Workload]:
        """The program workloads run live."""
        if not runs_live(self.run_mode):
            return []
        return [w for w in self.suite.workloads if live_unavailable(w.kind) is None]

    @property
    def not_live(self) -> list[tuple[str, str]]:
        """(workload, why) of the suite's workloads that do not run live in this run."""
        if not runs_live(self.run_mode):
            return []
        return [(w.name, live_unavailable(w.kind)) for w in self.suite.workloads if live_unavailable(w.kind)]

    def workload_names(self) -> list[str]:
        """Every workload of the results: replayed ones, then live ones."""
        return [w.name for w in self.replayed] + [live_name(w.name) for w in self.live]

    def cells(self) -> list[tuple[str, str]]:
        """(allocator label, workload name) of every cell, workload by workload."""
        return [(a.label, name) for name in self.workload_names() for a in self.allocators]


def check_timeout(seconds: float) -> float:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"--cell-timeout {seconds}: a number of seconds above 0")
    return float(seconds)


def check_choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UsageError(f"{option} {value!r}: one of {', '.join(allowed)}")
    return value


def make_plan(request: RunRequest, clock=utc_now) -> RunPlan:
    """Checks everything the user asked for; creates nothing."""
    check_choice("mode", request.mode, MODES)
    check_choice("--mode", request.run_mode, RUN_MODES)
    check_choice("--touch", request.touch, TOUCH_MODES)
    timeout = check_timeout(request.cell_timeout)
    suite = load_suite(request.suite)
    allocators = choose(request.allocators)
    labels = [a.label for a in allocators]
    baseline = request.baseline
    if baseline not in labels:
        if request.allocators is None or baseline != "cpython":
            raise UsageError(f"baseline '{baseline}' is not one of the run's allocators ({', '.join(labels)})")
        baseline = labels[0]
    files = [file_label(label) for label in labels]
    if len(set(files)) != len(files):
        raise UsageError("two allocator labels map to the same pyperf file name; rename one")
    output = request.output or request.results_root / f"{clock().replace(':', '')}-{suite.name}"
    plan = RunPlan(suite=suite, allocators=allocators, baseline=baseline, output=output, mode=request.mode,
                   touch=request.touch, cell_timeout=timeout, run_mode=request.run_mode)
    if runs_live(plan.run_mode) and not plan.live:
        raise UsageError(f"suite '{suite.name}' has no program workload to run live (--mode {plan.run_mode})")
    if plan.live:
        from allocbench import _core

        for allocator in allocators:
            try:
                _core.check_live_spec(allocator.spec)
            except _core.ConfigError as error:
                raise UsageError(f"-a {allocator.label}: cannot run live: {error}") from None
    check_writable(output)
    return plan


def check_writable(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: already exists and is not empty (use --resume to finish a run)")
    parent = output
    while not parent.exists():
        parent = parent.parent
    try:  # the one sure test (permission bits say nothing to root, or of /proc)
        os.rmdir(tempfile.mkdtemp(prefix=".allocbench-probe-", dir=parent))
    except OSError as error:
        raise UsageError(f"{output}: cannot write there ({parent}: {error.strerror})") from None


def new_manifest(plan: RunPlan, command: list[str], traces: dict, clock=utc_now) -> dict:
    """The manifest of a new run: how to reproduce it, on what, with which allocators (full
    configs) and traces (hashes), and every cell missing."""
    return {
        "schema": SCHEMA,
        "kind": "run",
        "status": "running",
        "suite": plan.suite.name,
        "mode": plan.mode,
        "run_mode": plan.run_mode,
        "baseline": plan.baseline,
        "touch": plan.touch,
        "cell_timeout": plan.cell_timeout,
        "command": command or ["allocbench", "run", "--suite", plan.suite.name],
        "cwd": os.getcwd(),
        "created": clock(),
        "finished": None,
        "machine": machine_facts(),
        "python": python_facts(),
        "packages": package_versions(),
        "allocators": [a.to_manifest() for a in plan.allocators],
        "workloads": [
            {"name": w.name, "description": w.description, "kind": w.kind, "mode": REPLAY, "source": w.source(),
             "trace": str(traces[w.name].path), "trace_sha256": traces[w.name].sha256, "ops": traces[w.name].ops}
            for w in plan.replayed
        ] + [
            {"name": live_name(w.name), "description": f"{w.description}, run live", "kind": w.kind, "mode": LIVE,
             "source": w.source(), "program": str(program_path(w.program).resolve())}
            for w in plan.live
        ],
        "cells": [new_cell(label, workload) for label, workload in plan.cells()],
    }
