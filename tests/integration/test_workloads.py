"""The shipped workload programs and their cached traces."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from allocbench import workloads
from allocbench.errors import UsageError
from allocbench.trace import Trace

pytestmark = pytest.mark.integration

EXPECTED = {"ast_compile", "json_roundtrip", "records_sort_group", "regex_tokenize", "word_count"}


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


def test_recorded_trace_is_recorded_once_and_cached(tmp_path):
    path = workloads.recorded_trace("records_sort_group", cache=tmp_path)
    assert path.parent == tmp_path and path.name.startswith("records_sort_group-py")
    assert Trace(path).summary["op_count"] > 100_000
    recorded_at = path.stat().st_mtime_ns
    assert workloads.recorded_trace("records_sort_group", cache=tmp_path) == path
    assert path.stat().st_mtime_ns == recorded_at
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_an_unreadable_cached_trace_is_recorded_again(tmp_path):
    path = workloads.cached_trace_path("records_sort_group", cache=tmp_path)
    path.write_bytes(b"not a trace")
    assert workloads.recorded_trace("records_sort_group", cache=tmp_path) == path
    assert Trace(path).summary["op_count"] > 100_000
