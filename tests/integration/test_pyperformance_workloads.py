"""pyperformance benchmarks as workloads, end to end: recorded in-process through the trace
cache (deterministically, wherever the cache is), listed with where they come from, run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from allocbench import pyperformance_suite
from allocbench.suites import Workload
from allocbench.trace import Trace, summarise
from allocbench.trace_cache import cached_path, prepare

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(pyperformance_suite.installed() is None, reason="pyperformance is not installed"),
]

# deltablue: one iteration is some 28,000 ops, recorded in well under a second.
DELTABLUE = Workload("pp-deltablue", "deltablue", pyperformance="deltablue", params={"loops": 1})


def records_after_the_metadata(path: Path) -> bytes:
    data = path.read_bytes()
    return data[32 + int.from_bytes(data[12:16], "little"):]  # docs/trace-format.md, FileHeader


def test_a_benchmark_is_recorded_once_deterministically_wherever_the_cache_is(tmp_path):
    caches = [tmp_path / "c", tmp_path / ("a-much-longer-folder-name-for-the-cache" * 3) / "traces"]
    facts = [prepare([DELTABLUE], cache)["pp-deltablue"] for cache in caches]
    assert facts[0].ops > 10_000
    assert records_after_the_metadata(facts[0].path) == records_after_the_metadata(facts[1].path)
    metadata = Trace(facts[0].path).metadata
    assert metadata["command"] == ["pyperformance", "deltablue", "loops=1"]
    assert metadata["pyperformance"] == {"pyperformance": "deltablue", "version": pyperformance_suite.version(),
                                         "params": {"loops": 1}}
    assert facts[0].path == cached_path(DELTABLUE, caches[0])
    assert prepare([DELTABLUE], caches[0])["pp-deltablue"].sha256 == facts[0].sha256  # from the cache, not again
    more = prepare([Workload("pp-deltablue", "", pyperformance="deltablue", params={"loops": 3})], caches[0])
    assert more["pp-deltablue"].path != facts[0].path and more["pp-deltablue"].ops > 2 * facts[0].ops


def test_only_the_timed_call_is_recorded(tmp_path):
    # Importing the benchmark (and pyperf with it) costs some 200,000 ops; the call alone is
    # what pyperformance times, and what the trace holds.
    stats = summarise(prepare([DELTABLUE], tmp_path)["pp-deltablue"].path)
    assert stats.op_count < 100_000 and stats.ops_by_kind["alloc"] > 5_000


def allocbench(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "allocbench", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def test_list_shows_the_suite_where_each_workload_comes_from_and_what_is_not_recorded(tmp_path):
    suites = allocbench("list", "suites", cwd=tmp_path)
    assert suites.returncode == 0 and any(line.startswith("pyperformance ") for line in suites.stdout.splitlines())
    lines = allocbench("list", "workloads", cwd=tmp_path).stdout.splitlines()
    richards = next(line for line in lines if line.startswith("pyperformance-richards "))
    assert f"from: recorded pyperformance {pyperformance_suite.version()} bm_richards/run_benchmark.py, loops=" in richards
    assert any(line.startswith("python_startup ") and "not recorded" in line and "bench_command" in line for line in lines)
    assert any("needs " in line and "not installed" in line for line in lines if "not recorded" in line)


def test_a_run_of_a_pyperformance_workload(tmp_path):
    folder = tmp_path / "workloads"
    (folder / "suites").mkdir(parents=True)
    (folder / "workloads.toml").write_text('[pp-deltablue]\ndescription = "deltablue"\npyperformance = "deltablue"\n'
                                           'params = { loops = 1 }\n')
    (folder / "suites" / "pp.toml").write_text('description = "one benchmark"\nworkloads = ["pp-deltablue"]\n')
    done = allocbench("run", "--suite", "pp", "--fast", "-a", "pymalloc", "--no-report", "-o", "out",
                      "--traces", "traces", cwd=tmp_path, env={"ALLOCBENCH_WORKLOADS": str(folder)})
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["workloads"][0]["kind"] == "pyperformance"
    assert manifest["workloads"][0]["source"]["version"] == pyperformance_suite.version()
    assert [(cell["time"], cell["memory"]) for cell in manifest["cells"]] == [("done", "done")]
