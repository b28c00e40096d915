"""`allocbench run`: every allocator on every workload of a suite, timed by pyperf and
measured by a memory pass, each in processes of its own, written to a results folder.

Order of work: everything that can be wrong with the request (suite, allocator labels,
baseline, output folder) is checked before anything is created; then the workloads' traces
are made (recorded or generated, cached); then the cells run one at a time, time then
memory, each in a fresh process with the allocator's environment. A cell whose process
crashes or times out is recorded as failed with the reason and the run goes on. Every file
is complete on disk after every cell, so Ctrl-C or a kill leaves a folder that
`--resume` finishes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from allocbench import __version__
from allocbench.allocators import AllocatorChoice, choose, file_label, worker_environment
from allocbench.bench_worker import RUNNER_DEFAULTS
from allocbench.errors import UsageError
from allocbench.replay import TIMELINE_SAMPLES
from allocbench.results import SCHEMA, ResultsFolder
from allocbench.suites import Suite, Workload, load_suite

MODES = ("fast", "default", "rigorous")
DEFAULT_CELL_TIMEOUT = 600.0  # seconds one cell's process may take
RUNNER_MIN_TIME = RUNNER_DEFAULTS["min_time"]


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the run stops after saving what is complete."""


@dataclass
class RunRequest:
    suite: str = "small-objects"
    allocators: list[str] | None = None
    baseline: str = "cpython"
    mode: str = "default"
    output: Path | None = None
    results_root: Path = Path("results")
    touch: str = "first"
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    command: list[str] | None = None


@dataclass
class Plan:
    suite: Suite
    allocators: list[AllocatorChoice]
    baseline: str
    output: Path


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_plan(request: RunRequest, clock=utc_now) -> Plan:
    """Checks everything the user asked for; creates nothing."""
    if request.mode not in MODES:
        raise UsageError(f"mode '{request.mode}': one of {', '.join(MODES)}")
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
    _check_writable(output)
    return Plan(suite=suite, allocators=allocators, baseline=baseline, output=output)


def _check_writable(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: already exists and is not empty (use --resume to finish a run)")
    parent = output
    while not parent.exists():
        parent = parent.parent
    try:  # the one sure test (permission bits say nothing to root, or of /proc)
        os.rmdir(tempfile.mkdtemp(prefix=".allocbench-probe-", dir=parent))
    except OSError as error:
        raise UsageError(f"{output}: cannot write there ({parent}: {error.strerror})") from None


def machine_facts() -> dict:
    memory = 0
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((l.split(":", 1)[1].strip() for l in cpuinfo if l.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
    }


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"allocbench": __version__}
    for name in ("pyperf", "numpy", "pandas", "seaborn", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def new_manifest(plan: Plan, request: RunRequest, clock=utc_now) -> dict:
    return {
        "schema": SCHEMA,
        "status": "running",
        "suite": plan.suite.name,
        "mode": request.mode,
        "baseline": plan.baseline,
        "touch": request.touch,
        "cell_timeout": request.cell_timeout,
        "command": request.command or ["allocbench", "run", "--suite", plan.suite.name],
        "cwd": os.getcwd(),
        "created": clock(),
        "finished": None,
        "machine": machine_facts(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": package_versions(),
        "allocators": [a.to_manifest() for a in plan.allocators],
        "workloads": [
            {"name": w.name, "description": w.description, "kind": w.kind, "source": w.source()}
            for w in plan.suite.workloads
        ],
        "cells": [
            {"allocator": a.label, "workload": w.name, "time": "missing", "memory": "missing", "reason": None}
            for w in plan.suite.workloads
            for a in plan.allocators
        ],
    }


@dataclass(frozen=True)
class TraceFacts:
    path: Path
    sha256: str
    ops: int
    sizes: dict  # requested size -> count (alloc, calloc, realloc)


def trace_facts(path: Path) -> TraceFacts:
    """Reads the whole trace (every chunk's checksum is verified on the way): its sha256, op
    count and histogram of requested sizes. Raises TraceError for a corrupt file."""
    import numpy as np

    from allocbench.trace import OPS, SizeHistogram, Trace, block_bytes

    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    histogram = SizeHistogram()
    ops = 0
    requests = (OPS["alloc"], OPS["calloc"], OPS["realloc"], OPS["foreign_realloc"])
    for _, records in Trace(path).chunks():
        ops += len(records)
        histogram.add(block_bytes(records)[np.isin(records["op"], requests)])
    sizes = {int(v): int(c) for v, c in zip(histogram.values, histogram.counts)}
    return TraceFacts(path=path, sha256=digest.hexdigest(), ops=ops, sizes=sizes)


def prepare_traces(workloads: list[Workload], cache_dir: Path, progress) -> dict[str, TraceFacts]:
    """Every workload's trace, recorded or generated if not cached, and read through once.
    A cached trace that cannot be read is made again; one that still cannot is an error."""
    from allocbench.trace import TraceError

    facts = {}
    for workload in workloads:
        progress.note(f"trace of {workload.name}")
        try:
            facts[workload.name] = trace_facts(workload.trace(cache_dir))
        except TraceError:
            workload.forget_trace(cache_dir)
            try:
                facts[workload.name] = trace_facts(workload.trace(cache_dir))
            except TraceError as error:
                raise UsageError(f"workload '{workload.name}': {error}") from None
    return facts


def signal_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


class Runner:
    def __init__(self, folder: ResultsFolder, progress):
        self.folder = folder
        self.progress = progress
        manifest = folder.manifest
        self.allocators = {a["label"]: a for a in manifest["allocators"]}
        self.mode = manifest["mode"]
        self.touch = manifest.get("touch", "first")
        self.facts: dict[str, TraceFacts] = {}
        self.replay_seconds: dict[tuple[str, str], float] = {}
        self.child: subprocess.Popen | None = None

    # --- traces -----------------------------------------------------------------------
    def use_traces(self, facts: dict[str, TraceFacts]) -> None:
        for entry in self.folder.manifest["workloads"]:
            fact = facts[entry["name"]]
            if entry.get("trace_sha256") not in (None, fact.sha256):
                raise UsageError(f"workload '{entry['name']}': its trace changed since the run began ({fact.path})")
            entry.update({"trace": str(fact.path), "trace_sha256": fact.sha256, "ops": fact.ops})
            self.facts[entry["name"]] = fact
            if not any(r["workload"] == entry["name"] for r in self.folder.sizes):
                self.folder.set_sizes(entry["name"], fact.sizes)
        self.folder.save_manifest()

    # --- one child process ------------------------------------------------------------
    def _spawn(self, args: list[str], allocator: dict, timeout: float) -> tuple[int | None, str]:
        env = worker_environment(dict(os.environ), allocator["preload"])
        # -P: the current folder stays off sys.path, so a run started in a source checkout
        # imports the installed package (with its compiled core), not the source tree.
        child = self.child = subprocess.Popen(
            [sys.executable, "-P", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )
        try:
            _, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_child()
            return None, f"timed out after {timeout:g} s"
        except BaseException:
            # Ctrl-C or SIGTERM: the child has a session of its own (so that a terminal's
            # Ctrl-C does not kill it halfway through writing), so it must be killed here,
            # with pyperf's workers, before the run stops.
            self._kill_child()
            raise
        finally:
            self.child = None
        return child.returncode, stderr

    def _kill_child(self) -> None:
        if self.child is not None and self.child.poll() is None:
            try:
                os.killpg(self.child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.child.wait()

    # --- phases -----------------------------------------------------------------------
    def time_cell(self, label: str, workload: str, timeout: float) -> None:
        import pyperf

        allocator = self.allocators[label]
        with tempfile.TemporaryDirectory(prefix="allocbench-cell-") as scratch:
            out = Path(scratch) / "cell.json"
            args = ["-m", "allocbench.bench_worker", "--quiet", "-o", str(out)]
            if self.mode != "default":
                args.append(f"--{self.mode}")
            loops = self.loops_from_memory_pass(label, workload)
            if loops:
                args.append(f"--loops={loops}")
            if allocator["preload"]:
                args.append("--inherit-environ=LD_PRELOAD")
            args += [
                "--allocbench-trace", str(self.facts[workload].path),
                "--allocbench-spec", allocator["spec"],
                "--allocbench-name", workload,
                "--allocbench-touch", self.touch,
            ]
            returncode, stderr = self._spawn(args, allocator, timeout)
            if returncode != 0 or not out.is_file():
                reason = stderr if returncode is None else f"{signal_reason(returncode)}: {_last_line(stderr)}"
                self.folder.mark(label, workload, "time", "failed", reason.strip(": "))
                return
            benchmark = pyperf.Benchmark.load(str(out))
        self._merge_pyperf(label, benchmark)
        values = benchmark.get_values()
        mean = benchmark.mean()
        ops = self.facts[workload].ops
        stdev = benchmark.stdev() if len(values) > 1 else 0.0
        rows = [
            ("time_mean", mean, "s"),
            ("time_median", benchmark.median(), "s"),
            ("time_stdev", stdev, "s"),
            ("time_values", len(values), "count"),
            ("ns_per_op", mean * 1e9 / ops if ops else float("nan"), "ns"),
            ("ops", ops, "count"),
        ]
        self.folder.put_metrics(label, workload, [_metric(label, workload, *row) for row in rows])
        self.folder.mark(label, workload, "time", "done")

    def loops_from_memory_pass(self, label: str, workload: str) -> int | None:
        """Loops per value, from the memory pass's replay time, so that pyperf needs no
        calibration process (a third of a fast run's processes). None: let pyperf calibrate."""
        seconds = self.replay_seconds.get((label, workload))
        if not seconds:
            return None
        return max(1, math.ceil(RUNNER_MIN_TIME / seconds))

    def _merge_pyperf(self, label: str, benchmark) -> None:
        """pyperf/<allocator>.json holds one benchmark per workload; rewritten whole."""
        import pyperf

        path = self.folder.path / "pyperf" / f"{file_label(label)}.json"
        benchmarks = []
        if path.is_file():
            benchmarks = [b for b in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks() if b.get_name() != benchmark.get_name()]
        suite = pyperf.BenchmarkSuite(benchmarks + [benchmark])
        partial = path.with_name(f".{path.name}.partial")
        suite.dump(str(partial), replace=True)
        os.replace(partial, path)

    def memory_cell(self, label: str, workload: str, timeout: float) -> None:
        allocator = self.allocators[label]
        every = max(1, self.facts[workload].ops // TIMELINE_SAMPLES)
        with tempfile.TemporaryDirectory(prefix="allocbench-cell-") as scratch:
            out = Path(scratch) / "memory.json"
            args = [
                "-m", "allocbench.memory_probe",
                "--trace", str(self.facts[workload].path),
                "--spec", allocator["spec"],
                # Every byte written, as a program fills what it allocates: RSS then counts
                # the memory the workload really uses, not only pages its first bytes share.
                "--touch", "all",
                "--timeline-every", str(every),
                "--output", str(out),
            ]
            returncode, stderr = self._spawn(args, allocator, timeout)
            if returncode != 0 or not out.is_file():
                reason = stderr if returncode is None else f"{signal_reason(returncode)}: {_last_line(stderr)}"
                self.folder.mark(label, workload, "memory", "failed", reason.strip(": "))
                return
            result = json.loads(out.read_text())
        self.replay_seconds[(label, workload)] = result["replay_seconds"]
        peak_live = result["peak_live_bytes"]
        rows = [
            ("peak_live_bytes", peak_live, "bytes"),
            ("peak_rss_bytes", result["peak_rss_bytes"], "bytes"),
            ("retained_rss_bytes", result["retained_rss_bytes"], "bytes"),
            ("fragmentation", result["peak_rss_bytes"] / peak_live if peak_live else float("nan"), "ratio"),
        ]
        for name in ("peak_footprint_bytes", "retained_footprint_bytes"):
            if result[name] is not None:
                rows.append((name, result[name], "bytes"))
        for name in ("mmap_calls", "munmap_calls", "madvise_calls"):
            if result[name] is not None:
                rows.append((name, result[name], "count"))
        self.folder.put_metrics(label, workload, [_metric(label, workload, *row) for row in rows])
        timeline = result["timeline"]
        rss = timeline["rss_bytes"] or [None] * len(timeline["op_index"])
        self.folder.put_timeline(
            label,
            workload,
            [
                {
                    "allocator": label,
                    "workload": workload,
                    "op_index": op,
                    "live_bytes": live,
                    "footprint_bytes": "" if footprint is None else footprint,
                    "rss_bytes": "" if r is None else r,
                }
                for op, live, footprint, r in zip(timeline["op_index"], timeline["live_bytes"], timeline["footprint_bytes"], rss)
            ],
        )
        self.folder.mark(label, workload, "memory", "done")

    # --- the whole run ----------------------------------------------------------------
    def run_missing(self, timeout: float) -> None:
        todo = self.folder.missing()
        self.progress.start(len(todo))
        for label, workload, phase in todo:
            self.progress.cell(label, workload, phase)
            if phase == "time":
                self.time_cell(label, workload, timeout)
            else:
                self.memory_cell(label, workload, timeout)
        self.progress.done()


def _metric(allocator: str, workload: str, metric: str, value, unit: str) -> dict:
    return {"allocator": allocator, "workload": workload, "metric": metric, "value": value, "unit": unit}


def _raise_interrupted(signum, frame):
    raise Interrupted()


def execute(folder: ResultsFolder, facts: dict[str, TraceFacts], progress, timeout: float, clock=utc_now) -> str:
    """Runs what the folder's manifest says is missing. Returns the final status."""
    runner = Runner(folder, progress)
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        folder.manifest["status"] = "running"
        folder.save_manifest()
        runner.use_traces(facts)
        runner.run_missing(timeout)
        status = "failed" if folder.failures() else "complete"
    except (KeyboardInterrupt, Interrupted):
        status = "interrupted"
    finally:
        signal.signal(signal.SIGTERM, previous)
    folder.manifest["status"] = status
    folder.manifest["finished"] = clock() if status != "interrupted" else None
    folder.save_manifest()
    return status
