"""`allocbench run` end to end on a tiny suite: results folder, pyperf files, the worker's
own proof of which allocator it ran, failed cells, interruption and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from tiny_workloads import write_tiny_workloads

import allocbench
from allocbench.allocators import find_library

pytestmark = pytest.mark.integration



@pytest.fixture()
def workloads(tmp_path: Path) -> Path:
    folder = tmp_path / "workloads"
    write_tiny_workloads(folder)
    return folder


def allocbench_cli(args: list[str], workloads: Path, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "ALLOCBENCH_WORKLOADS": str(workloads)}
    return subprocess.run([sys.executable, "-m", "allocbench", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600, **kwargs)


def test_run_writes_a_complete_results_folder(workloads: Path, tmp_path: Path) -> None:
    allocators = ["pymalloc:preset=cpython-3.11", "cpython", "system"]
    jemalloc = find_library("jemalloc")
    if jemalloc:
        allocators.append("jemalloc")
    elif os.environ.get("CI"):
        pytest.fail("CI installs libjemalloc2: the preloaded-allocator path must be tested there")
    args = ["run", "--suite", "tiny", "--fast", "--no-report", "-o", "out"]
    for a in allocators:
        args += ["--allocator", a]
    done = allocbench_cli(args, workloads, tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert [a["label"] for a in manifest["allocators"]] == allocators
    assert all(c["time"] == c["memory"] == "done" for c in manifest["cells"])
    assert all(len(w["trace_sha256"]) == 64 and w["ops"] > 0 for w in manifest["workloads"])
    assert manifest["command"][:2] == ["allocbench", "run"]
    assert "time relative to cpython" in done.stdout

    # metrics.csv: the documented columns, units, a row per metric per cell.
    frame = allocbench.load(out)
    assert list(frame.columns) == ["run", "allocator", "workload", "metric", "value", "unit"]
    for metric, unit in [("time_mean", "s"), ("ns_per_op", "ns"), ("peak_rss_bytes", "bytes"),
                         ("retained_rss_bytes", "bytes"), ("rss_fragmentation", "ratio"), ("peak_live_bytes", "bytes")]:
        rows = frame[frame.metric == metric]
        assert len(rows) == len(allocators) * 2, metric
        assert set(rows.unit) == {unit}
        assert (rows.value > 0).all(), metric
    pymalloc_calls = frame[(frame.allocator == allocators[0]) & (frame.metric == "mmap_calls")]
    assert (pymalloc_calls.value >= 1).all()
    assert pd.read_csv(out / "timelines.csv").groupby(["allocator", "workload"]).size().min() > 10
    assert set(pd.read_csv(out / "sizes.csv").workload) == {"tiny-churn", "tiny-ramp"}

    # pyperf's own tools read the files; every worker says which malloc it really ran.
    import pyperf

    for label in allocators:
        path = out / "pyperf" / f"{allocbench.allocators.file_label(label)}.json"
        stats = subprocess.run([sys.executable, "-m", "pyperf", "stats", str(path)], capture_output=True, text=True)
        assert stats.returncode == 0, stats.stderr
        for benchmark in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks():
            assert benchmark.get_name() in ("tiny-churn", "tiny-ramp")
            for run in benchmark.get_runs():
                identity = run.get_metadata()
                if label == "jemalloc":
                    assert identity["allocbench_malloc_library"] == jemalloc
                    assert "jemalloc" in identity["allocbench_preloaded"]
                else:
                    assert "libc.so" in identity["allocbench_malloc_library"]
                    assert identity["allocbench_preloaded"] == "none"
                assert identity["allocbench_pymalloc_active"] == 1
    compared = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", str(out / "pyperf" / "cpython.json"),
                               str(out / "pyperf" / "system.json")], capture_output=True, text=True)
    assert compared.returncode == 0, compared.stderr

    shown = allocbench_cli(["show", "out"], workloads, tmp_path)
    assert shown.returncode == 0 and "geometric mean" in shown.stdout
    compared = allocbench_cli(["compare", "out", "out"], workloads, tmp_path)
    assert compared.returncode == 0 and "tiny-churn" in compared.stdout


def test_a_crashing_allocator_is_a_failed_cell_and_the_run_goes_on(workloads: Path, tmp_path: Path) -> None:
    source = tmp_path / "crash.c"
    source.write_text("#include <signal.h>\n__attribute__((constructor)) static void crash(void) { raise(SIGSEGV); }\n")
    library = tmp_path / "libcrash.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    done = allocbench_cli(["run", "--suite", "tiny", "--fast", "--no-report", "-o", "out",
                           "--allocator", "cpython", "--allocator", f"preload:{library}"], workloads, tmp_path)
    assert done.returncode == 1
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    for cell in manifest["cells"]:
        if cell["allocator"] == "cpython":
            assert cell["time"] == cell["memory"] == "done"
        else:
            assert cell["memory"] == "failed" and "SIGSEGV" in cell["reasons"]["memory"]
    assert "failed: preload:" in done.stderr
    assert set(allocbench.load(tmp_path / "out").allocator) == {"cpython"}


def processes_working_in(folder: Path) -> list[int]:
    """Processes whose current folder is `folder`: the run's workers, if any are left."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(folder):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_an_interrupted_run_is_resumed(workloads: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ALLOCBENCH_WORKLOADS": str(workloads)}
    run = subprocess.Popen([sys.executable, "-m", "allocbench", "run", "--suite", "tiny", "--fast", "--no-report",
                            "-o", "out", "-a", "pymalloc", "-a", "cpython", "-a", "system"],
                           env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest_path = tmp_path / "out" / "manifest.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        journal = tmp_path / "out" / "cells.jsonl"
        if journal.is_file() and '"phase":"time","state":"done"' in journal.read_text():
            break
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "--resume" in stderr
    assert processes_working_in(tmp_path) == [], "the interrupted run left workers running"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "interrupted"
    missing = [c for c in manifest["cells"] if "missing" in (c["time"], c["memory"])]
    assert missing, "the run finished before it could be interrupted"
    partial = allocbench.load(tmp_path / "out")  # what is on disk is complete and readable
    assert set(partial.allocator) <= {"pymalloc", "cpython", "system"}

    resumed = allocbench_cli(["run", "--resume", "out", "--no-report"], workloads, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "complete"
    assert all(c["time"] == c["memory"] == "done" for c in manifest["cells"])
    frame = allocbench.load(tmp_path / "out")
    assert not frame.duplicated(["allocator", "workload", "metric"]).any()
    assert len(frame[frame.metric == "time_mean"]) == 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--suite", "nope"], "unknown suite 'nope'"),
        (["--suite", "tiny", "-a", "pymalloc:pool_size=3K"], "pool_size=3K"),
        (["--suite", "tiny", "-a", "preload:/no/such/lib.so"], "preload:/no/such/lib.so"),
        (["--suite", "tiny", "-a", "system", "--baseline", "floor"], "baseline 'floor'"),
        (["--suite", "tiny", "-o", "/proc/allocbench-out"], "/proc/allocbench-out"),
    ],
)
def test_bad_requests_are_one_line_errors_and_leave_no_folder(workloads: Path, tmp_path: Path, args, message) -> None:
    before = set(tmp_path.rglob("*"))
    done = allocbench_cli(["run", *args], workloads, tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert set(tmp_path.rglob("*")) == before, "a results folder was left behind"


def test_a_corrupt_cached_trace_is_made_again(tmp_path: Path) -> None:
    from allocbench.trace_cache import prepare
    from allocbench.suites import Workload

    workload = Workload("w", "a churn", generator="churn", params={"live": 50, "pairs": 2000}, seed=1)
    first = prepare([workload], tmp_path)["w"]
    data = bytearray(first.path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a chunk: its checksum no longer matches
    first.path.write_bytes(bytes(data))
    again = prepare([workload], tmp_path)["w"]
    assert again.sha256 == first.sha256 and again.ops == first.ops


@pytest.mark.parametrize("what, expected", [("suites", "small-objects"), ("workloads", "churn-random"),
                                            ("allocators", "preload:/path/lib.so"), ("presets", "cpython-3.11"),
                                            ("options", "arena_release")])
def test_list_prints_one_described_line_each(tmp_path: Path, what: str, expected: str) -> None:
    done = subprocess.run([sys.executable, "-m", "allocbench", "list", what], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith(expected) for line in lines)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines), "a line without its description"
