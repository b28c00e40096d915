"""Bounded fuzzing of the trace reader, in this process: whatever the bytes, reading and
summarising a trace either succeeds or raises TraceError. A crash takes the test run down
with it, which is the point.

Two mutators: raw byte mutation of a valid file (mostly caught by the checksums), and
structure-aware mutation that changes records or trailer fields and then fixes the checksums
up, so that the checks behind the checksums are reached too."""

from __future__ import annotations

import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from allocbench.trace import TraceError, summarise
from trace_bytes import RECORD, TRAILER_BODY, record, trace_bytes

FUZZ = settings(max_examples=300, deadline=None)
INTERESTING_WORDS = [0, 1, 2, 7, 255, 65535, 65536, 65537, 2**31, 2**32 - 1]


def valid_ops() -> list[bytes]:
    ops = []
    for i in range(40):
        ops += [record("alloc", i, 8 * i), record("calloc", 40 + i, i, 3)]
    ops += [record("realloc", 3, 700, 3), record("foreign_free"), record("foreign_realloc", 0, 12, 80)]
    ops += [record("free", i) for i in range(0, 40, 3)]
    return ops


VALID = trace_bytes(valid_ops())


def read_or_refuse(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "t.trace"
    path.write_bytes(data)
    try:
        summarise(path)
    except TraceError as error:
        assert "\n" not in str(error) and str(error).startswith(str(path))


byte_edits = st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8)
word_edits = st.lists(st.tuples(st.integers(0, len(VALID) - 4), st.sampled_from(INTERESTING_WORDS)), max_size=3)


@FUZZ
@given(byte_edits, word_edits, st.integers(0, len(VALID)), st.binary(max_size=64))
def test_byte_mutations_never_crash(tmp_path_factory, edits, words, cut, tail):
    data = bytearray(VALID)
    for position, value in edits:
        data[position] = value
    for position, word in words:
        data[position : position + 4] = struct.pack("<I", word)
    read_or_refuse(tmp_path_factory, bytes(data[:cut]) + tail)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(valid_ops()) - 1), st.integers(0, 5), st.sampled_from(INTERESTING_WORDS)), max_size=6),
    st.sampled_from(["none", "op_count", "chunk_count", "skipped", "id_space"]),
    st.sampled_from(INTERESTING_WORDS),
    st.integers(1, 100),
)
def test_structured_mutations_with_valid_checksums_never_crash(tmp_path_factory, edits, trailer_field, value, chunk_records):
    ops = [list(RECORD.unpack(r)) for r in valid_ops()]
    for index, field, word in edits:
        ops[index][field] = word & (0xFF if field < 2 else 0xFFFF if field == 2 else 0xFFFFFFFF)
    data = bytearray(trace_bytes([RECORD.pack(*r) for r in ops], chunk_records=chunk_records))
    if trailer_field != "none":
        fields = list(TRAILER_BODY.unpack(data[-48:-4]))
        fields[{"op_count": 2, "chunk_count": 3, "skipped": 4, "id_space": 5}[trailer_field]] = value
        body = TRAILER_BODY.pack(*fields)
        data[-48:] = body + struct.pack("<I", zlib.crc32(body))
    read_or_refuse(tmp_path_factory, bytes(data))
