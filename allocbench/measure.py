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

import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from allocbench.allocators import worker_environment
from allocbench.bench_worker import RUNNER_DEFAULTS
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
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _loader_message(stderr: str) -> str:
    """The dynamic loader's complaint about LD_PRELOAD, if it made one."""
    for line in stderr.splitlines():
        if "ld.so" in line and "LD_PRELOAD" in line:
            return line.strip()[:300]
    return ""


def _spawn(args: list[str], preload: str | None, timeout: float) -> tuple[int | None, str]:
    """Runs `python -P args` and returns (exit status, stderr); None for a timeout."""
    # -P: the current folder stays off sys.path, so a run started in a source checkout
    # imports the installed package (with its compiled core), not the source tree. A session
    # of its own: a terminal's Ctrl-C must not kill it halfway through writing.
    child = subprocess.Popen(
        [sys.executable, "-P", *args], env=worker_environment(dict(os.environ), preload),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
    )
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
    metrics = tuple((name, getattr(measurement, name)) for name in names("memory") if getattr(measurement, name) is not None)
    return CellOutcome(task=task, state="done", metrics=metrics, timeline=tuple(measurement.timeline),
                       loops=loops_for(measurement.replay_seconds), seconds=elapsed)


def measure_time(task: CellTask, trace: str) -> CellOutcome:
    import pyperf

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="allocbench-cell-") as scratch:
        out = Path(scratch) / "cell.json"
        args = ["-m", "allocbench.bench_worker", "--quiet", "-o", str(out)]
        if task.mode != "default":
            args.append(f"--{task.mode}")
        if task.loops:
            args.append(f"--loops={task.loops}")
        if task.preload:
            args.append("--inherit-environ=LD_PRELOAD")
        args += ["--allocbench-trace", trace, "--allocbench-spec", task.spec, "--allocbench-name", task.workload,
                 "--allocbench-touch", task.touch]
        returncode, stderr = _spawn(args, task.preload, task.timeout)
        elapsed = time.monotonic() - started
        if returncode != 0 or not out.is_file():
            return CellOutcome.failed(task, _failure(returncode, stderr), elapsed)
        text = out.read_text()
        benchmark = pyperf.Benchmark.load(str(out))
    for run in benchmark.get_runs():
        problem = preload_problem(task.preload, str(run.get_metadata().get("allocbench_malloc_library", "")), stderr)
        if problem:
            return CellOutcome.failed(task, problem, elapsed)
    values = benchmark.get_values()
    mean = benchmark.mean()
    ops = task.trace.ops
    metrics = (
        ("time_mean", mean),
        ("time_median", benchmark.median()),
        ("time_stdev", benchmark.stdev() if len(values) > 1 else 0.0),
        ("time_values", len(values)),
        ("ns_per_op", mean * 1e9 / ops if ops else math.nan),
        ("ops", ops),
    )
    return CellOutcome(task=task, state="done", metrics=metrics, pyperf_json=text, seconds=elapsed)


def run_cell(task: CellTask, trace: str | None = None) -> CellOutcome:
    """Measures a task; `trace` is the trace's local path where it differs from the task's."""
    path = trace or task.trace.path
    return measure_memory(task, path) if task.phase == "memory" else measure_time(task, path)
