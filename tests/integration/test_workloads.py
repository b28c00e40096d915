"""The shipped workload programs and their cached traces."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from allocbench import trace_cache, workloads
from allocbench.errors import UsageError
from allocbench.suites import load_workloads
from allocbench.trace import Trace

pytestmark = pytest.mark.integration

EXPECTED = {"ast_compile.py", "json_roundtrip.py", "records_sort_group.py", "regex_tokenize.py", "word_count.py"}


def test_the_programs_are_found():
    assert set(workloads.programs()) >= EXPECTED
    with pytest.raises(UsageError, match="no such workload program"):
        workloads.program_path("nonexistent")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_program_runs_quickly_and_deterministically(name):
    runs = [subprocess.run([sys.executable, workloads.program_path(name)], capture_output=True, text=True,
                           timeout=30, env=dict(os.environ, PYTHONHASHSEED=seed)) for seed in ("1", "2")]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout != ""


def test_a_program_trace_is_recorded_once_and_cached(tmp_path):
    workload = load_workloads()["records-sort-group"]
    facts = trace_cache.prepare([workload], tmp_path)["records-sort-group"]
    path = facts.path
    assert path.parent == tmp_path and path.name.startswith("records-sort-group-") and path.suffix == ".abt"
    assert Trace(path).summary["op_count"] == facts.ops > 100_000
    recorded_at = path.stat().st_mtime_ns
    assert trace_cache.prepare([workload], tmp_path)["records-sort-group"].path == path
    assert path.stat().st_mtime_ns == recorded_at
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_an_unreadable_cached_trace_is_made_again(tmp_path):
    workload = load_workloads()["records-sort-group"]
    path = trace_cache.cached_path(workload, tmp_path)
    path.write_bytes(b"not a trace")
    assert trace_cache.prepare([workload], tmp_path)["records-sort-group"].path == path
    assert Trace(path).summary["op_count"] > 100_000


def test_temporaries_of_dead_processes_are_removed(tmp_path):
    stale = tmp_path / ".churn-lifo-0123.abt.999999999.partial"
    stale.write_bytes(b"half a trace")
    mine = tmp_path / f".churn-lifo-0123.abt.{os.getpid()}.partial"
    mine.write_bytes(b"being written")
    trace_cache.remove_stale_partials(tmp_path)
    assert not stale.exists() and mine.exists()
