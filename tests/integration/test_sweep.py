"""`allocbench sweep` end to end on a tiny suite: memory only twice and on a Dask
LocalCluster (identical model figures every time), timing only the memory front, pyperf
files pyperf's own tools read, the knob columns of load(), and an interrupted sweep resumed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import allocbench
from allocbench.allocators import file_label

pytestmark = pytest.mark.integration

TINY = """
[tiny-churn]
description = "a small churn"
generator = "churn"
seed = 3
params = { live = 2000, pairs = 20000, lifetime = "random", sizes = "uniform:8-512" }
"""
GRID = ["--grid", "pool_size=4K,16K", "--grid", "arena_release=never,immediate"]
MODEL = ("peak_footprint_bytes", "retained_footprint_bytes", "mmap_calls", "munmap_calls", "madvise_calls",
         "peak_live_bytes", "footprint_fragmentation")


@pytest.fixture(scope="module")
def workloads(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep-workloads")
    (folder / "suites").mkdir()
    (folder / "workloads.toml").write_text(TINY)
    (folder / "suites" / "tiny.toml").write_text('description = "one tiny workload"\nworkloads = ["tiny-churn"]\n')
    return folder


def sweep(args: list, workloads: Path, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "ALLOCBENCH_WORKLOADS": str(workloads)}
    suite = [] if "--resume" in args else ["--suite", "tiny"]
    return subprocess.run([sys.executable, "-m", "allocbench", "sweep", *suite, *map(str, args)], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)


def model_figures(folder: Path) -> dict:
    with open(folder / "metrics.csv") as file:
        return {(r["allocator"], r["workload"], r["metric"]): r["value"] for r in csv.DictReader(file)
                if r["metric"] in MODEL and r["allocator"] != "system"}


def test_memory_sweeps_repeat_exactly_locally_and_on_dask(workloads, tmp_path):
    common = [*GRID, "--time", "none", "--no-report", "-a", "system", "--traces", tmp_path / "traces"]
    first = sweep([*common, "-o", "one"], workloads, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "4 valid, 0 skipped; 1 reference(s); 6 allocators x 1 workloads = 6 memory cells" in first.stderr
    assert "estimated time" in first.stderr
    second = sweep([*common, "-o", "two", "--jobs", "1"], workloads, tmp_path)
    dask = sweep([*common, "-o", "dask", "--executor", "dask", "--jobs", "2"], workloads, tmp_path)
    assert second.returncode == 0 and dask.returncode == 0, (second.stderr, dask.stderr)
    figures = model_figures(tmp_path / "one")
    assert len(figures) == 5 * len(MODEL)  # the 4 points and the base, each with every model figure
    assert model_figures(tmp_path / "two") == figures
    assert model_figures(tmp_path / "dask") == figures
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["kind"] == "sweep" and manifest["sweep"]["executor"] == "dask"
    assert all(c["time"] == "skipped" and c["memory"] == "done" for c in manifest["cells"])
    frame = allocbench.load(tmp_path / "one")
    rows = frame[(frame.metric == "mmap_calls") & frame.pool_size.notna()]
    assert set(zip(rows.pool_size, rows.arena_release)) == {("4K", "never"), ("4K", "immediate"), ("16K", "never"),
                                                            ("16K", "immediate"), ("16K", "keep-one")}  # and the base
    assert frame[frame.allocator == "system"].pool_size.isna().all()


def test_time_front_times_only_the_memory_front_side_by_side_with_the_base(workloads, tmp_path):
    done = sweep([*GRID, "--time", "front", "--fast", "--no-report", "--no-references", "-o", "out"], workloads, tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    base = manifest["baseline"]
    assert base == "pymalloc:preset=cpython-3.11"  # the grid has no point equal to it: measured apart
    states = {c["allocator"]: c for c in manifest["cells"]}
    assert states[base]["time"] == "skipped" and "timed alongside" in states[base]["reasons"]["time"]
    timed = [label for label, c in states.items() if c["time"] == "done"]
    skipped = [label for label, c in states.items() if c["time"] == "skipped" and label != base]
    assert timed and all("not on the memory front" in states[label]["reasons"]["time"] for label in skipped)
    for label in timed:
        point = out / "pyperf" / f"{file_label(label)}.json"
        alongside = out / "pyperf" / f"{file_label(label)}@base.json"
        compared = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", str(alongside), str(point)],
                                  capture_output=True, text=True)
        assert compared.returncode == 0, compared.stderr
        import pyperf

        benchmark = pyperf.Benchmark.load(str(alongside))
        assert {r.get_metadata()["allocbench_spec"] for r in benchmark.get_runs()} == {
            next(a["spec"] for a in manifest["allocators"] if a["label"] == base)}
        assert len(benchmark.get_runs()) == 3  # --fast: three processes of each, alternating
    frame = allocbench.load(out)
    assert set(frame[frame.metric == "base_time_mean"].allocator) == set(timed)


def test_an_interrupted_sweep_is_resumed(workloads, tmp_path):
    env = {**os.environ, "ALLOCBENCH_WORKLOADS": str(workloads)}
    command = [sys.executable, "-m", "allocbench", "sweep", "--suite", "tiny", "--grid", "pool_size=4K..64K",
               "--grid", "arena_release=never,immediate,keep-one", "--time", "none", "--no-report", "--jobs", "1", "-o", "out"]
    run = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = tmp_path / "out" / "cells.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (journal.is_file() and journal.read_text().count("\n") >= 2):
        time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "allocbench sweep --resume" in stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert any(c["memory"] == "missing" for c in manifest["cells"]), "finished before it could be interrupted"
    refused = sweep(["--resume", "out", "--grid", "pool_size=4K"], workloads, tmp_path)
    assert refused.returncode == 2 and "--resume takes the sweep's own settings" in refused.stderr
    resumed = sweep(["--resume", "out", "--no-report"], workloads, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and all(c["memory"] == "done" for c in manifest["cells"])
    frame = allocbench.load(tmp_path / "out")
    assert not frame.duplicated(["allocator", "workload", "metric"]).any()
    assert len(frame[frame.metric == "peak_rss_bytes"]) == len(manifest["cells"]) == 5 * 3 + 2
