"""The coordinator of a run: turns what a results folder lacks into cell tasks, hands them
to an executor, and writes each outcome into the folder as it comes back.

Order of work: the memory phase of every missing cell first (an executor may run several
at once: each is a process of its own), then the time phase of every missing cell, one at a
time, each with pyperf's loops per value taken from its memory pass (kept in the folder, so
a resumed run does not calibrate again). Every outcome is written before the next is
awaited, so Ctrl-C or a kill leaves a folder that `--resume` finishes; SIGTERM is treated
as Ctrl-C, and either kills the worker processes still running.
"""

from __future__ import annotations

import signal
from pathlib import Path

from allocbench.address_space import without_address_randomization
from allocbench.cells import CellOutcome, CellTask, TraceRef
from allocbench.errors import UsageError
from allocbench.executors import Executor
from allocbench.measure import kill_children
from allocbench.provenance import utc_now
from allocbench.results import ResultsFolder
from allocbench.run_modes import LIVE, workload_mode
from allocbench.trace_cache import TraceFacts


class Interrupted(Exception):
    """SIGTERM: the run stops after saving what is complete."""


def _raise_interrupted(signum, frame):
    raise Interrupted()


def check_traces(folder: ResultsFolder, facts: dict[str, TraceFacts]) -> None:
    """A resumed run must replay the traces it began with."""
    for entry in folder.manifest["workloads"]:
        if workload_mode(entry) == LIVE:
            continue
        fact = facts[entry["name"]]
        if entry.get("trace_sha256") not in (None, fact.sha256):
            raise UsageError(f"workload '{entry['name']}': its trace changed since the run began ({fact.path})")
        entry.update({"trace": str(fact.path), "trace_sha256": fact.sha256, "ops": fact.ops})


def tasks(folder: ResultsFolder, facts: dict[str, TraceFacts], phase: str) -> list[CellTask]:
    """The tasks of every cell whose `phase` is missing. In a sweep, time is paired with the
    base (the manifest's baseline): timed in processes alternating with the base's; so is a
    live cell's, with the baseline's program run live."""
    manifest = folder.manifest
    allocators = {a["label"]: a for a in manifest["allocators"]}
    paired = manifest.get("kind") == "sweep"
    base = allocators[manifest["baseline"]]
    programs = {e["name"]: e["program"] for e in manifest["workloads"] if workload_mode(e) == LIVE}
    out = []
    for label, workload, missing_phase in folder.missing():
        if missing_phase != phase:
            continue
        allocator, fact = allocators[label], facts.get(workload)
        live = workload in programs
        # A live cell is timed alongside the baseline's program too (but for the baseline's own).
        timed_with_base = phase == "time" and (paired or (live and label != base["label"]))
        out.append(CellTask(
            phase=phase, allocator=label, workload=workload, spec=allocator["spec"], preload=allocator.get("preload"),
            trace=TraceRef(str(fact.path), fact.sha256, fact.ops) if workload not in programs else None,
            program=programs.get(workload), touch=manifest.get("touch", "first"),
            mode=manifest["mode"], timeout=float(manifest.get("cell_timeout", 600.0)),
            loops=folder.cells[(label, workload)].get("loops") if phase == "time" else None,
            paired_with=(base["label"] if live else base["spec"]) if timed_with_base else None,
            pair_loops=folder.cells[(base["label"], workload)].get("loops") if timed_with_base else None,
        ))
    return out


def write_outcome(folder: ResultsFolder, outcome: CellOutcome) -> None:
    task = outcome.task
    folder.record(task.allocator, task.workload, task.phase, outcome.state, reason=outcome.reason,
                  metrics=list(outcome.metrics), timeline=list(outcome.timeline), pyperf_json=outcome.pyperf_json,
                  pair_pyperf_json=outcome.pair_pyperf_json, loops=outcome.loops)


def execute(folder: ResultsFolder, facts: dict[str, TraceFacts], executor: Executor, progress, clock=utc_now,
            between_phases=None) -> str:
    """Measures what the folder lacks. Returns the final status: complete, failed (some cell
    failed) or interrupted. `between_phases(folder)`, when given, runs after the memory
    phase and before time (a sweep decides there which points to time)."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        check_traces(folder, facts)
        folder.set_status("running", None)
        # Workers with a fixed address layout: the model's arena figures depend on where mmap
        # puts arenas (allocbench/address_space.py).
        with without_address_randomization():
            for phase in ("memory", "time"):
                if phase == "time" and between_phases is not None:
                    between_phases(folder)
                todo = tasks(folder, facts, phase)
                # Time cells run one at a time, whatever the executor (never beside other work).
                progress.start(phase, todo, executor.jobs if phase == "memory" else 1)
                for outcome in executor.run(todo, on_start=progress.started):
                    write_outcome(folder, outcome)
                    progress.finished(outcome)
                progress.stop()
        status = "failed" if folder.failures() else "complete"
    except (KeyboardInterrupt, Interrupted):
        kill_children()
        progress.stop()
        status = "interrupted"
    finally:
        signal.signal(signal.SIGTERM, previous)
    folder.set_status(status, clock() if status != "interrupted" else None)
    return status


def resume(path: Path) -> ResultsFolder:
    """Opens an interrupted run's folder for finishing it: the tables are compacted to the
    rows that count, and phases that lack their rows are measured again."""
    folder = ResultsFolder.open(path)
    folder.compact()
    return folder
