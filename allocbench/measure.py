"""Measures one cell task in a process of its own: `run_cell(task) -> CellOutcome`.

The memory phase runs allocbench.memory_probe, the time phase pyperf through
allocbench.bench_worker, each a fresh `python -P` process started with the allocator's
environment (LD_PRELOAD for a preloaded library). A process that crashes, times out or
leaves no result makes a failed outcome with the reason: how it ended and the last line it
wrote. A worker also proves which malloc it ran; a preloaded library that did not take
effect (not a library, or one that does not define malloc) fails its cell with the loader's
own message, instead of reporting the C library's figures under the library's name.

Every child process is remembered until it ends, so that an interrupted run kills them all
(kill_children), whatever thread started them.
"""

from __future__ import annotations

import atexit
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from allocbench.allocators import worker_environment
from allocbench.bench_worker import RUNNER_DEFAULTS, processes_and_values
from allocbench.cells import CellOutcome, CellTask
from allocbench.metrics import names
from allocbench.replay import timeline_every

_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def kill_children() -> None:
    """Kills every worker process still running, with the processes they started."""
    with _children_lock:
        running = list(_children)
    for child in running:
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def signal_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _last_line(text: str) -> str:
    """The line that says what went wrong: the last error a Python process printed, passed
    over pyperf's own "... failed with exit code N" (which names no cause), else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^\w+(Error|Exception): ", line) and "failed with exit code" not in line]
    return (errors or lines or [""])[-1][:300]


def _loader_message(stderr: str) -> str:
    """The dynamic loader's complaint about LD_PRELOAD, if it made one."""
    for line in stderr.splitlines():
        if "ld.so" in line and "LD_PRELOAD" in line:
            return line.strip()[:300]
    return ""


_traces_folder: Path | None = None
_traces_lock = threading.Lock()


def traces_folder() -> Path:
    """This process's own folder of traces named by their content: made once, private (no
    other process can remove what a worker is about to read), its name of a fixed length,
    and removed when the process ends."""
    global _traces_folder
    with _traces_lock:
        if _traces_folder is None:
            _traces_folder = Path(tempfile.mkdtemp(prefix="allocbench-traces-"))
            atexit.register(shutil.rmtree, _traces_folder, True)
        return _traces_folder


def trace_by_content(path: str, sha256: str) -> str:
    """The trace under a name made of its content hash (a link to it) in traces_folder(), so
    that a worker's command line is the same, to the byte count, wherever the trace is
    cached: the coordinator's folder or a Dask worker's (allocbench/dask_executor.py writes
    its copies there)."""
    canonical = traces_folder() / f"{sha256}.abt"
    with _traces_lock:
        if not canonical.is_file():
            canonical.unlink(missing_ok=True)
            canonical.symlink_to(os.path.abspath(path))
    return str(canonical)


def _spawn(args: list[str], preload: str | None, timeout: float) -> tuple[int | None, str]:
    """Runs `python -P args` and returns (exit status, stderr); None for a timeout."""
    # -P: the current folder stays off sys.path, so a run started in a source checkout
    # imports the installed package (with its compiled core), not the source tree. The
    # environment and the folder are the same for every worker, whoever starts it. A session
    # of its own: a terminal's Ctrl-C must not kill it halfway through writing.
    child = subprocess.Popen(
        [sys.executable, "-P", *args], env=worker_environment(dict(os.environ), preload), cwd="/",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
    )
    return _wait_child(child, timeout)


def _failure(returncode: int | None, stderr: str) -> str:
    if returncode is None:
        return stderr
    return f"{signal_reason(returncode)}: {_last_line(stderr)}".strip(": ")


def preload_problem(preload: str | None, malloc_library: str, stderr: str) -> str | None:
    """Why a worker's proof of its malloc does not match the preload it was given."""
    if preload is None:
        return None
    if os.path.realpath(malloc_library) == os.path.realpath(preload):
        return None
    loader = _loader_message(stderr)
    return f"the preload did not replace malloc (malloc came from {malloc_library})" + (f": {loader}" if loader else "")


def loops_for(replay_seconds: float) -> int | None:
    """pyperf's loops per value from one replay's time, so that each value lasts at least
    min_time and pyperf needs no calibration process. None: let pyperf calibrate."""
    if not replay_seconds or replay_seconds <= 0 or not math.isfinite(replay_seconds):
        return None
    return max(1, math.ceil(RUNNER_DEFAULTS["min_time"] / replay_seconds))


def measure_memory(task: CellTask, trace: str) -> CellOutcome:
    from allocbench.memory_probe import MemoryMeasurement

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="allocbench-cell-") as scratch:
        out = Path(scratch) / "memory.json"
        args = [
            "-m", "allocbench.memory_probe", "--trace", trace, "--spec", task.spec,
            # Every byte written, as a program fills what it allocates: RSS then counts the
            # memory the workload really uses, not only pages its first bytes share.
            "--touch", "all",
            "--timeline-every", str(timeline_every(task.trace.ops)), "--output", str(out),
        ]
        returncode, stderr = _spawn(args, task.preload, task.timeout)
        elapsed = time.monotonic() - started
        if returncode != 0 or not out.is_file():
            return CellOutcome.failed(task, _failure(returncode, stderr), elapsed)
        measurement = MemoryMeasurement.from_json(out.read_text())
    problem = preload_problem(task.preload, measurement.malloc_library, stderr)
    if problem:
        return CellOutcome.failed(task, problem, elapsed)
    metrics = tuple((name, getattr(measurement, name)) for name in names("memory", "memory pass") if getattr(measurement, name) is not None)
    return CellOutcome(task=task, state="done", metrics=metrics, timeline=tuple(measurement.timeline),
                       loops=loops_for(measurement.replay_seconds), seconds=elapsed)


def _timing_metrics(benchmark, ops: int | None, prefix: str = "") -> tuple[tuple[str, float], ...]:
    """pyperf's figures; per op too where the work has ops (a program run live has none)."""
    values = benchmark.get_values()
    mean = benchmark.mean()
    figures = [
        ("time_mean", mean),
        ("time_median", benchmark.median()),
        ("time_stdev", benchmark.stdev() if len(values) > 1 else 0.0),
        ("time_values", len(values)),
    ]
    if prefix or ops is None:
        return tuple((prefix + name, value) for name, value in figures)
    return (*figures, ("ns_per_op", mean * 1e9 / ops if ops else math.nan), ("ops", ops))


def _pyperf_steps(task: CellTask, out: Path, base_out: Path) -> list[tuple[str, Path, int | None, list[str]]]:
    """(whose: "cell" or "base", pyperf file, loops, pyperf options) of each pyperf process
    of a time task, in order: pyperf's own processes for the cell alone; with a base to pair
    with (task.paired_with), one process of the base and one of the cell in turn, round after
    round, the order alternating (ABBA) so that drift in the machine's speed falls on both."""
    if task.paired_with is None:
        options = {"fast": ["--fast"], "rigorous": ["--rigorous"]}.get(task.mode, [])
        return [("cell", out, task.loops, ["-o", str(out), *options])]
    processes, values = processes_and_values(task.mode)
    one = ["--processes=1", f"--values={values}", f"--warmups={RUNNER_DEFAULTS['warmups']}"]
    steps = []
    for round_ in range(processes):
        for whose in (("base", "cell") if round_ % 2 == 0 else ("cell", "base")):
            path, loops = (out, task.loops) if whose == "cell" else (base_out, task.pair_loops)
            steps.append((whose, path, loops, [*one, "--append", str(path)]))
    return steps


def _run_steps(task: CellTask, steps, run_one) -> tuple[str | None, str]:
    """Runs the steps through `run_one(whose, options, loops) -> (exit status, stderr)`.
    Returns (why it failed or None, the stderr seen)."""
    stderr_seen = ""
    for whose, path, loops, options in steps:
        returncode, stderr = run_one(whose, options, loops)
        stderr_seen += stderr
        if returncode != 0 or not path.is_file():
            return ("base: " if whose == "base" else "") + _failure(returncode, stderr), stderr_seen
    return None, stderr_seen


def measure_time(task: CellTask, trace: str) -> CellOutcome:
    """pyperf's processes for the cell (paired with the base's in a sweep: _pyperf_steps)."""
    import pyperf

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="allocbench-cell-") as scratch:
        out, base_out = Path(scratch) / "cell.json", Path(scratch) / "base.json"

        def run_one(whose: str, options: list[str], loops: int | None):
            spec, preload = (task.spec, task.preload) if whose == "cell" else (task.paired_with, None)
            return _pyperf_run(spec, preload, task, trace, options, loops)

        failure, stderr_seen = _run_steps(task, _pyperf_steps(task, out, base_out), run_one)
        if failure is not None:
            return CellOutcome.failed(task, failure, time.monotonic() - started)
        elapsed = time.monotonic() - started
        text = out.read_text()
        benchmark = pyperf.Benchmark.load(str(out))
        base_text = base_out.read_text() if task.paired_with is not None else None
        base_benchmark = pyperf.Benchmark.load(str(base_out)) if base_text else None
    for run in benchmark.get_runs():
        problem = preload_problem(task.preload, str(run.get_metadata().get("allocbench_malloc_library", "")), stderr_seen)
        if problem:
            return CellOutcome.failed(task, problem, elapsed)
    metrics = _timing_metrics(benchmark, task.trace.ops)
    if base_benchmark is not None:
        metrics += _timing_metrics(base_benchmark, task.trace.ops, prefix="base_")
    return CellOutcome(task=task, state="done", metrics=metrics, pyperf_json=text, pair_pyperf_json=base_text,
                       seconds=elapsed)


def _pyperf_run(spec: str, preload: str | None, task: CellTask, trace: str, options: list[str],
                loops: int | None) -> tuple[int | None, str]:
    """One pyperf run of the benchmark worker for `spec`."""
    args = ["-m", "allocbench.bench_worker", "--quiet", *options]
    if loops:
        args.append(f"--loops={loops}")
    if preload:
        args.append("--inherit-environ=LD_PRELOAD")
    args += ["--allocbench-trace", trace, "--allocbench-spec", spec, "--allocbench-name", task.workload,
             "--allocbench-touch", task.touch]
    return _spawn(args, preload, task.timeout)


def measure_live_memory(task: CellTask) -> CellOutcome:
    """One run of a live cell's program on its allocator, its report read back: the process's
    peak and final RSS, and a variant's own figures."""
    from allocbench.errors import UsageError
    from allocbench.live import read_stats
    from allocbench.live_bench_worker import program_command

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="allocbench-cell-") as scratch:
        report = Path(scratch) / "live.json"
        # The program's environment is built from a worker's, as the timing worker builds it.
        command = program_command(task.allocator, task.program, worker_environment(dict(os.environ), None),
                                  report=report)
        child = subprocess.Popen(command.argv, env=command.environment, cwd="/", stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                                 start_new_session=True)
        returncode, stderr = _wait_child(child, task.timeout)
        elapsed = time.monotonic() - started
        if returncode != 0:
            return CellOutcome.failed(task, _failure(returncode, stderr), elapsed)
        try:
            stats = read_stats(report)
        except UsageError as error:
            return CellOutcome.failed(task, str(error), elapsed)
    problem = preload_problem(task.preload, stats.malloc_library, stderr)
    if problem:
        return CellOutcome.failed(task, problem, elapsed)
    variant = stats.variant
    figures = {
        "process_peak_rss_bytes": stats.process_peak_rss_bytes,
        "process_rss_bytes_at_exit": stats.process_rss_bytes_at_exit,
        "served_share": stats.served_share,
        "peak_footprint_bytes": variant.get("peak_footprint_bytes"),
        "retained_footprint_bytes": variant.get("footprint_bytes"),
        "mmap_calls": variant.get("mmap_calls"),
        "munmap_calls": variant.get("munmap_calls"),
        "madvise_calls": variant.get("madvise_calls"),
    }
    metrics = tuple((name, float(value)) for name, value in figures.items() if value is not None)
    return CellOutcome(task=task, state="done", metrics=metrics, loops=loops_for(elapsed), seconds=elapsed)


def _wait_child(child: subprocess.Popen, timeout: float) -> tuple[int | None, str]:
    """Waits for a child started in a session of its own; returns (exit status, stderr), None
    for a timeout (the child and what it started killed)."""
    with _children_lock:
        _children.add(child)
    try:
        _, stderr = child.communicate(timeout=timeout)
        return child.returncode, stderr
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return None, f"timed out after {timeout:g} s"
    except BaseException:
        kill_children()
        child.wait()
        raise
    finally:
        with _children_lock:
            _children.discard(child)


def measure_live_time(task: CellTask) -> CellOutcome:
    """pyperf's processes for a live cell, each value whole runs of the program; paired with
    the baseline's (task.paired_with: its label), as a sweep's cells are with their base, so
    that the ratio of whole programs, whose differences are small, is measured side by side."""
    import pyperf

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="allocbench-cell-") as scratch:
        out, base_out = Path(scratch) / "cell.json", Path(scratch) / "base.json"

        def run_one(whose: str, options: list[str], loops: int | None):
            args = ["-m", "allocbench.live_bench_worker", "--quiet", *options]
            if loops:
                args.append(f"--loops={loops}")
            args += ["--allocbench-label", task.allocator if whose == "cell" else task.paired_with,
                     "--allocbench-program", task.program, "--allocbench-name", task.workload]
            return _spawn(args, None, task.timeout)

        failure, _ = _run_steps(task, _pyperf_steps(task, out, base_out), run_one)
        elapsed = time.monotonic() - started
        if failure is not None:
            return CellOutcome.failed(task, failure, elapsed)
        text = out.read_text()
        benchmark = pyperf.Benchmark.load(str(out))
        base_text = base_out.read_text() if task.paired_with is not None else None
        base_benchmark = pyperf.Benchmark.load(str(base_out)) if base_text else None
    metrics = _timing_metrics(benchmark, None)
    if base_benchmark is not None:
        metrics += _timing_metrics(base_benchmark, None, prefix="base_")
    return CellOutcome(task=task, state="done", metrics=metrics, pyperf_json=text, pair_pyperf_json=base_text,
                       seconds=elapsed)


def run_cell(task: CellTask, trace: str | None = None) -> CellOutcome:
    """Measures a task; `trace` is the trace's local path where it differs from the task's."""
    if task.program is not None:
        return measure_live_memory(task) if task.phase == "memory" else measure_live_time(task)
    path = trace_by_content(trace or task.trace.path, task.trace.sha256)
    return measure_memory(task, path) if task.phase == "memory" else measure_time(task, path)
