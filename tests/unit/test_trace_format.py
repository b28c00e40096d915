"""The trace format: round trips, the byte layout against an independent Python writer, and a
one-line TraceError naming the file (and the op index where one is concerned) for every bad
input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocbench.trace import OPS, RECORD_DTYPE, Trace, TraceError, summarise, write_trace
from trace_bytes import CHUNK_HEADER, HEADER, record, record_offset, trace_bytes

METADATA = {"python": "3.11", "command": ["x.py"]}


def read_all(path) -> tuple[Trace, np.ndarray]:
    trace = Trace(path)
    chunks = [records for _, records in trace.chunks()]
    return trace, np.concatenate(chunks) if chunks else np.zeros(0, RECORD_DTYPE)


def alloc_free_records(n: int) -> np.ndarray:
    """n allocs of ids 0..n-1 in the mem domain, then their frees in reverse."""
    records = np.zeros(2 * n, dtype=RECORD_DTYPE)
    records["op"][:n] = OPS["alloc"]
    records["op"][n:] = OPS["free"]
    records["domain"] = 1
    records["id"][:n] = np.arange(n)
    records["id"][n:] = np.arange(n)[::-1]
    records["size"][:n] = np.arange(n) % 600
    return records


def expect_error(path, pattern: str) -> str:
    with pytest.raises(TraceError) as caught:
        summarise(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert re.search(pattern, message), message
    return message


@pytest.mark.parametrize("version", [1, 2])
def test_round_trip_across_chunks(tmp_path, version):
    path = tmp_path / "t.trace"
    records = alloc_free_records(70_000)  # 140,000 ops: three chunks
    summary = write_trace(path, records, METADATA, version=version)
    assert summary["version"] == version and Trace(path).version == version
    assert summary["op_count"] == 140_000 and summary["chunk_count"] == 3
    assert summary["id_space"] == 70_000
    trace, back = read_all(path)
    assert trace.metadata == METADATA
    assert trace.summary == summary
    assert np.array_equal(back, records)
    assert [first for first, _ in trace.chunks()] == [0, 65536, 131072]


def test_cpp_writer_matches_the_python_reference_byte_for_byte(tmp_path):
    path = tmp_path / "t.trace"
    metadata = json.dumps(METADATA).encode()
    ops = [record("alloc", 0, 24), record("calloc", 1, 3, 8), record("realloc", 0, 100, 2),
           record("free", 1), record("foreign_free"), record("foreign_realloc", 0, 40, 1)]
    records = np.frombuffer(b"".join(ops), dtype=RECORD_DTYPE)
    write_trace(path, records, METADATA, version=1)
    assert path.read_bytes() == trace_bytes(ops, metadata)


def test_python_written_trace_reads_and_summarises(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 24), record("foreign_free"),
                                  record("realloc", 0, 600, 1), record("calloc", 0, 4, 4),
                                  record("free", 1)]))
    stats = summarise(path)
    assert stats.ops_by_kind["alloc"] == 1 and stats.ops_by_kind["foreign_free"] == 1
    assert stats.skipped_on_replay == 1
    assert stats.peak_live_objects == 2  # id 0 (calloc) and id 1 (realloc'd) together
    assert stats.peak_live_bytes == 616
    assert stats.final_live_objects == 1 and stats.final_live_bytes == 16
    assert stats.by_size_class["32"] == 1 and stats.by_size_class[">512"] == 1
    assert stats.by_size_class["16"] == 1  # the calloc: 4 * 4 bytes


def test_tuples_with_names_are_records(tmp_path):
    path = tmp_path / "t.trace"
    write_trace(path, [("alloc", "obj", 0, 32, 0), ("free", "mem", 0, 0, 0)], {})
    _, back = read_all(path)
    assert back["op"].tolist() == [OPS["alloc"], OPS["free"]]
    assert back["domain"].tolist() == [2, 1]


def test_empty_trace(tmp_path):
    path = tmp_path / "t.trace"
    write_trace(path, np.zeros(0, RECORD_DTYPE), {})
    stats = summarise(path)
    assert stats.op_count == 0 and stats.peak_live_objects == 0 and stats.size_min is None


def test_metadata_capacity_leaves_room_for_a_rewrite(tmp_path):
    from allocbench._core import TraceWriter

    path = tmp_path / "t.trace"
    writer = TraceWriter(str(path), json.dumps({"a": 1}), 64)
    writer.append_records(alloc_free_records(3))
    writer.rewrite_metadata(json.dumps({"a": 1, "counts": [1, 2, 3]}))
    with pytest.raises(TraceError, match="does not fit"):
        writer.rewrite_metadata(json.dumps({"x": "y" * 100}))
    writer.close()
    assert Trace(path).metadata == {"a": 1, "counts": [1, 2, 3]}


def test_writer_refuses_metadata_that_is_not_a_json_object(tmp_path):
    from allocbench._core import TraceWriter

    for text in ["[1, 2]", "{'a': 1}", '{"a": 1} x', '{"a": NaN}', ""]:
        with pytest.raises(TraceError, match="metadata is not JSON text"):
            TraceWriter(str(tmp_path / "t.trace"), text)


def test_writer_refuses_unknown_ops(tmp_path):
    path = tmp_path / "t.trace"
    with pytest.raises(TraceError, match=r": op 1: unknown op 9$"):
        write_trace(path, np.frombuffer(record("alloc", 0, 8) + record(9), dtype=RECORD_DTYPE), {})


@st.composite
def consistent_ops(draw):
    """A random but consistent op sequence: ids recycled LIFO as the recorder does."""
    live: list[int] = []
    free_ids: list[int] = []
    next_id = 0
    out = []
    for _ in range(draw(st.integers(0, 400))):
        choice = draw(st.sampled_from(["alloc", "calloc", "realloc", "free", "foreign_free", "foreign_realloc"]))
        domain = draw(st.sampled_from([1, 2]))
        size = draw(st.integers(0, 2000))
        if choice in ("realloc", "free") and not live:
            choice = "alloc"
        if choice in ("alloc", "calloc", "foreign_realloc"):
            new = free_ids.pop() if free_ids else next_id
            next_id = max(next_id, new + 1)
            live.append(new)
            if choice == "calloc":
                out.append(("calloc", domain, new, size % 50, draw(st.integers(0, 40))))
            elif choice == "alloc":
                out.append(("alloc", domain, new, size, 0))
            else:
                out.append(("foreign_realloc", domain, 0, size, new))
        elif choice == "realloc":
            victim = live[draw(st.integers(0, len(live) - 1))]
            out.append(("realloc", domain, victim, size, victim))
        elif choice == "free":
            victim = live.pop(draw(st.integers(0, len(live) - 1)))
            free_ids.append(victim)
            out.append(("free", domain, victim, 0, 0))
        else:
            out.append(("foreign_free", domain, 0, 0, 0))
    return out


@given(consistent_ops(), st.sampled_from([1, 2]))
def test_hypothesis_traces_round_trip(tmp_path_factory, ops, version):
    path = tmp_path_factory.mktemp("rt") / "t.trace"
    summary = write_trace(path, ops, {"n": len(ops)}, version=version)
    trace, back = read_all(path)
    assert back.tolist() == [(OPS[op], d, 0, i, s, a) for op, d, i, s, a in ops]
    assert trace.summary == summary
    stats = summarise(path)
    assert stats.op_count == len(ops)
    assert stats.skipped_on_replay == sum(op.startswith("foreign") for op, *_ in ops)


# --- bad input ---------------------------------------------------------------------------------

def valid_trace(tmp_path, n: int = 50_000) -> tuple:
    """A valid version 1 trace of 2n ops (two chunks when n is large) and its bytes."""
    path = tmp_path / "t.trace"
    write_trace(path, alloc_free_records(n), METADATA, version=1)
    return path, path.read_bytes()


def offset_of_op(op_index: int) -> int:
    """Where record `op_index` of a valid_trace starts."""
    return record_offset(len(json.dumps(METADATA)), op_index)


@pytest.mark.parametrize("cut", [0, 7, 31, 40, 60, 61, 200, 1_048_600, -49, -48, -20, -1])
def test_truncated_file(tmp_path, cut):
    path, data = valid_trace(tmp_path)
    path.write_bytes(data[:cut])
    expect_error(path, "truncated")


def test_truncation_inside_a_chunk_names_the_op(tmp_path):
    path, data = valid_trace(tmp_path)
    path.write_bytes(data[: offset_of_op(70_000) + 5])
    expect_error(path, r": op 70000: truncated: the file ends inside chunk 1$")


def test_truncation_between_chunks_says_the_recording_did_not_finish(tmp_path):
    path, data = valid_trace(tmp_path)
    path.write_bytes(data[: offset_of_op(65536) - CHUNK_HEADER.size])
    expect_error(path, r": op 65536: truncated: the file ends after chunk 1 without a trailer")


def test_wrong_magic(tmp_path):
    path, data = valid_trace(tmp_path, 10)
    path.write_bytes(b"XBTRACE\0" + data[8:])
    expect_error(path, r"not an allocbench trace \(wrong magic\)$")


def test_unknown_version_is_refused_clearly(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8)], version=99))
    expect_error(path, r"trace format version 99 is not supported \(this allocbench reads versions 1 and 2\)$")


def test_flipped_byte_in_a_chunk_is_a_checksum_mismatch(tmp_path):
    path, data = valid_trace(tmp_path)
    corrupt = bytearray(data)
    corrupt[offset_of_op(80_000) + 9] ^= 0x40
    path.write_bytes(bytes(corrupt))
    expect_error(path, r": op 65536: chunk 1: checksum mismatch")


def test_flipped_byte_in_the_metadata(tmp_path):
    path, data = valid_trace(tmp_path, 10)
    corrupt = bytearray(data)
    corrupt[HEADER.size + 3] ^= 0x01
    path.write_bytes(bytes(corrupt))
    expect_error(path, "metadata checksum mismatch$")


def test_flipped_byte_in_the_trailer(tmp_path):
    path, data = valid_trace(tmp_path, 10)
    corrupt = bytearray(data)
    corrupt[-30] ^= 0x01
    path.write_bytes(bytes(corrupt))
    expect_error(path, "trailer checksum mismatch$")


def test_metadata_not_json(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8)], metadata=b"python 3.11"))
    expect_error(path, r"metadata is not JSON text: expected a JSON object at byte 0$")


def test_metadata_not_utf8(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8)], metadata=b'{"a": "\xff"}'))
    expect_error(path, r"metadata is not UTF-8 \(invalid byte at 7\)$")


def test_unknown_op(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8), record("alloc", 1, 8), record(7, 0)]))
    expect_error(path, r": op 2: unknown op 7$")


def test_id_out_of_range(tmp_path):
    path = tmp_path / "t.trace"
    ops = [record("alloc", 0, 8), record("alloc", 1, 8), record("alloc", 2, 8), record("free", 12)]
    path.write_bytes(trace_bytes(ops, id_space=3))
    expect_error(path, r": op 3: free id 12 is outside the id space of 3$")


def test_id_space_larger_than_the_trace(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8)], id_space=4_000_000_000))
    expect_error(path, r"the trailer's id space 4000000000 exceeds its 1 ops$")


def test_free_of_an_id_that_is_not_live(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8), record("alloc", 1, 8), record("free", 1),
                                  record("realloc", 1, 30, 1)]))
    expect_error(path, r": op 3: realloc of id 1, which is not live \(freed already\)$")


def test_double_free(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8), record("alloc", 1, 8), record("free", 0),
                                  record("free", 1), record("free", 0)]))
    expect_error(path, r": op 4: free of id 0, which is not live \(freed already\)$")


def test_double_free_across_chunks(tmp_path):
    path = tmp_path / "t.trace"
    ops = [record("alloc", 0, 8), record("free", 0)] + [record("foreign_free")] * 70_000 + [record("free", 0)]
    path.write_bytes(trace_bytes(ops))
    expect_error(path, r": op 70002: free of id 0, which is not live \(freed already\)$")


def test_alloc_of_a_live_id(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8), record("alloc", 0, 8)]))
    expect_error(path, r": op 1: alloc gives id 0, which is already live$")


@pytest.mark.parametrize(
    "op",
    [record("alloc", 1, 2**31), record("calloc", 1, 2**20, 2**20), record("calloc", 1, 2**32 - 1, 2**32 - 1),
     record("realloc", 0, 3 * 2**30, 0)],
)
def test_absurd_size(tmp_path, op):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8), op]))
    expect_error(path, r": op 1: (alloc|calloc|realloc) of id \d: absurd size \d+ bytes")


def test_first_error_wins_over_later_ones(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8), record("free", 3), record("alloc", 2, 2**31),
                                  record("free", 0), record("free", 0)]))
    expect_error(path, r": op 1: free of id 3, which is not live$")


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nothing.trace", "cannot open: No such file or directory$")


def test_a_refused_trace_leaves_no_file_open(tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(trace_bytes([record("alloc", 0, 8)], version=99))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        with pytest.raises(TraceError):
            Trace(path)
    assert len(os.listdir("/proc/self/fd")) == before


WRITE_PAST_A_FILE_SIZE_LIMIT = """
import resource, signal, sys
from allocbench import _core
from test_trace_format import alloc_free_records
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
writer = _core.TraceWriter(sys.argv[1], "{}", version=1)
records = alloc_free_records(70_000).tobytes()
for call in ("append", "again", "close"):
    try:
        writer.close() if call == "close" else writer.append_records(records)
        print(call, "ok")
    except _core.TraceError as error:
        print(call, str(error).split(": ", 1)[1])
"""


def test_a_writer_whose_write_failed_refuses_every_later_call(tmp_path):
    path = tmp_path / "t.trace"
    here = Path(__file__).parent
    result = subprocess.run([sys.executable, "-c", WRITE_PAST_A_FILE_SIZE_LIMIT, str(path)], capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=f"{here}{os.pathsep}{here.parent}"), check=True)
    assert result.stdout.splitlines() == ["append write failed: File too large",
                                          "again append after a failed write", "close ok"]
    with pytest.raises(TraceError):
        Trace(path)  # no trailer: every reader refuses it
