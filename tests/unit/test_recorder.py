"""The recording hook, in this process: what it records, id recycling, uninstalling, and a
forked child that must leave the parent's trace alone."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocbench import _core
from allocbench import _record_bootstrap as bootstrap
from allocbench.trace import OPS, Trace, TraceError, summarise


def record_in_process(path, work) -> dict:
    bootstrap.start_recording(_core, str(path), '{"test": true}')
    try:
        work()
    finally:
        metadata = bootstrap.stop_recording(_core, '{"test": true}')
    return json.loads(metadata)


def make_garbage():
    kept = [str(i) * 3 for i in range(5000)]  # 5,000 small objects (plus the list)
    grown = []
    for i in range(2000):
        grown.append((i, i + 1))  # list appends: reallocs
    del kept, grown


def test_recording_captures_allocations_frees_and_reallocs(tmp_path):
    path = tmp_path / "t.trace"
    metadata = record_in_process(path, make_garbage)
    assert not _core.is_recording()
    stats = summarise(path)
    assert stats.ops_by_kind["alloc"] >= 7000
    assert stats.ops_by_kind["free"] >= 7000
    assert stats.ops_by_kind["realloc"] >= 10
    assert stats.ops_by_domain["obj"] > 0 and stats.ops_by_domain["mem"] > 0
    assert stats.peak_live_objects >= 7000
    assert metadata["test"] is True and Trace(path).metadata == metadata
    assert metadata["recorder"]["ops_recorded"] == stats.op_count


def test_ids_are_recycled_below_the_peak_live_count(tmp_path):
    path = tmp_path / "t.trace"
    metadata = record_in_process(path, lambda: [make_garbage() for _ in range(5)])
    stats = summarise(path)
    assert Trace(path).summary["id_space"] <= metadata["recorder"]["peak_live"] + 1
    assert metadata["recorder"]["peak_live"] >= stats.peak_live_objects
    assert stats.op_count > 5 * 14000  # five rounds recorded, one id space


def test_frees_of_blocks_from_before_the_recording_are_foreign(tmp_path):
    path = tmp_path / "t.trace"
    before = [object() for _ in range(300)]

    def drop():
        before.clear()

    metadata = record_in_process(path, drop)
    stats = summarise(path)
    assert stats.ops_by_kind["foreign_free"] >= 300
    assert metadata["ops_skipped"]["foreign_free"] == stats.ops_by_kind["foreign_free"]
    assert stats.skipped_on_replay == stats.ops_by_kind["foreign_free"] + stats.ops_by_kind["foreign_realloc"]


def test_stopping_uninstalls_the_hook(tmp_path):
    path = tmp_path / "t.trace"
    record_in_process(path, make_garbage)
    ops_at_stop = Trace(path).summary["op_count"]
    make_garbage()  # after stopping: not recorded, and nothing breaks
    assert Trace(path).summary["op_count"] == ops_at_stop


def test_a_second_recording_at_once_is_refused(tmp_path):
    bootstrap.start_recording(_core, str(tmp_path / "a.trace"), "{}")
    try:
        with pytest.raises(TraceError, match="already running"):
            _core.start_recording(str(tmp_path / "b.trace"), "{}")
    finally:
        bootstrap.stop_recording(_core, "{}")
    summarise(tmp_path / "a.trace")


def test_a_forked_child_never_touches_the_parents_trace(tmp_path):
    path = tmp_path / "t.trace"
    bootstrap.start_recording(_core, str(path), "{}")
    try:
        make_garbage()
        pid = os.fork()
        if pid == 0:  # the child: allocate, try to stop, exit as a program would
            status = 0
            try:
                make_garbage()
                status = 0 if bootstrap.stop_recording(_core, "{}") is None and not _core.is_recording() else 1
            finally:
                os._exit(status)
        _, child_status = os.waitpid(pid, 0)
        make_garbage()
    finally:
        metadata = json.loads(bootstrap.stop_recording(_core, "{}"))
    assert os.waitstatus_to_exitcode(child_status) == 0
    stats = summarise(path)  # complete and consistent: the child wrote nothing into it
    assert stats.op_count == metadata["recorder"]["ops_recorded"]


def test_numpy_chunks_match_the_summary(tmp_path):
    path = tmp_path / "t.trace"
    record_in_process(path, make_garbage)
    trace = Trace(path)
    ops = np.concatenate([records["op"] for _, records in trace.chunks()])
    assert len(ops) == trace.summary["op_count"]
    assert int((ops == OPS["alloc"]).sum()) == summarise(trace).ops_by_kind["alloc"]


COUNT = st.integers(0, 2**64 - 1)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=8)


@given(metadata=st.dictionaries(st.text(), JSON_VALUES, max_size=5), status=st.integers(0, 255),
       counts=st.fixed_dictionaries({key: COUNT for key in (
           "foreign_frees", "foreign_reallocs", "oversize_skipped", "ops_recorded", "peak_live", "id_space")}))
def test_completed_metadata_is_the_metadata_with_the_counts_added(metadata, status, counts):
    completed = json.loads(bootstrap.completed_metadata(json.dumps(metadata), status, counts))
    assert completed == dict(metadata, program_exit_status=status, ops_skipped={
        "foreign_free": counts["foreign_frees"], "foreign_realloc": counts["foreign_reallocs"],
        "oversize": counts["oversize_skipped"]}, recorder={
        key: counts[key] for key in ("ops_recorded", "peak_live", "id_space")})
