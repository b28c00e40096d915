"""What writing a results folder costs per cell, at 500 cells and at 5,000.

Writes synthetic cells through the results folder's own writer (allocbench.results): for each
cell a memory phase (its 10 metric rows and a 200-sample timeline) and a time phase (6 rows
and a pyperf benchmark merged into its allocator's file), journal lines included, then
reads the folder back once. Prints the time per cell of each size and their ratio; the
writing is O(1) per cell when the ratio stays near 1 (the target is at most 1.5).

    python benchmarks/results_writing.py [--sizes 500 5000] [--workloads 10]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import pyperf

from allocbench.metrics import names
from allocbench.results import ResultsFolder, new_cell

MEMORY_ROWS = [(name, 1_000_000 + i) for i, name in enumerate(names("memory", "memory pass"))]
TIMELINE = [(op, op * 10, op * 12, op * 13) for op in range(0, 200_000, 1000)]


def benchmark_json(name: str) -> str:
    run = pyperf.Run([0.010, 0.011, 0.012], warmups=[(4, 0.011)], metadata={"name": name, "loops": 4}, collect_metadata=False)
    out = io.StringIO()
    pyperf.BenchmarkSuite([pyperf.Benchmark([run])]).dump(out)
    return out.getvalue()


def manifest(allocators: int, workloads: int) -> dict:
    labels = [f"pymalloc:pool_size=16K,arena_size=1M,arena_release=keep:{i + 1}" for i in range(allocators)]
    return {
        "schema": 1, "kind": "run", "status": "running", "suite": "synthetic", "mode": "fast", "baseline": labels[0],
        "touch": "first", "cell_timeout": 600.0, "command": ["benchmarks/results_writing.py"], "cwd": ".",
        "created": "2026-01-01T00:00:00Z", "finished": None, "machine": {}, "python": {}, "packages": {},
        "allocators": [{"label": label, "spec": label, "config": {"allocator": "pymalloc"}, "preload": None} for label in labels],
        "workloads": [{"name": f"w{w}", "kind": "generator"} for w in range(workloads)],
        "cells": [new_cell(label, f"w{w}") for w in range(workloads) for label in labels],
    }


def write_cells(folder_path: Path, cells: int, workloads: int, pyperf_texts: dict[str, str]) -> float:
    """Seconds per cell to write `cells` cells (both phases), read-back excluded."""
    allocators = cells // workloads
    folder = ResultsFolder.create(folder_path, manifest(allocators, workloads), {f"w{w}": {16: 3} for w in range(workloads)})
    started = time.perf_counter()
    for w in range(workloads):
        for a in range(allocators):
            label = folder.manifest["allocators"][a]["label"]
            folder.record(label, f"w{w}", "memory", "done", metrics=MEMORY_ROWS, timeline=TIMELINE, loops=3)
            folder.record(label, f"w{w}", "time", "done", metrics=[(n, 0.5) for n in names("time", "pyperf")],
                          pyperf_json=pyperf_texts[f"w{w}"])
    elapsed = time.perf_counter() - started
    folder.set_status("complete", "2026-01-01T00:01:00Z")
    reopened = ResultsFolder.open(folder_path)
    assert not reopened.missing() and not reopened.problems, "the folder did not read back whole"
    return elapsed / cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--workloads", type=int, default=10)
    args = parser.parse_args()
    texts = {f"w{w}": benchmark_json(f"w{w}") for w in range(args.workloads)}
    per_cell = {}
    with tempfile.TemporaryDirectory(prefix="allocbench-results-writing-") as scratch:
        for size in args.sizes:
            per_cell[size] = write_cells(Path(scratch) / f"cells-{size}", size, args.workloads, texts)
            print(f"{size:>6} cells: {per_cell[size] * 1e3:.2f} ms per cell (both phases, 216 rows)")
    first, last = args.sizes[0], args.sizes[-1]
    print(f"per-cell time at {last} / at {first}: {per_cell[last] / per_cell[first]:.2f} (target: at most 1.5)")


if __name__ == "__main__":
    main()
