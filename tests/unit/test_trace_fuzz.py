"""Bounded fuzzing of the trace reader, in this process: whatever the bytes, reading and
summarising a trace either succeeds or raises TraceError. A crash takes the test run down
with it, which is the point.

Two mutators, for each format version: raw byte mutation of a valid file (mostly caught by the
checksums, and in version 2 by zlib's own), and structure-aware mutation that changes records,
encoded records, chunk headers or trailer fields and then fixes the checksums up, so that the
checks behind the checksums are reached too. Mutated version 2 encodings are also read by the
reference reader in tests/trace_bytes.py: the core must accept exactly the encodings it
accepts and read the same records from them."""

from __future__ import annotations

import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from allocbench.trace import Trace, TraceError, summarise
from trace_bytes import (
    CHUNK_HEADER_V2,
    HEADER,
    RECORD,
    TRAILER_BODY,
    DecodeError,
    IdPredictor,
    chunk_v2,
    decode_records_v2,
    encode_records_v2,
    record,
    trace_bytes,
    trace_bytes_v2,
    trace_v2_from_chunks,
    true_id_space,
)

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
VALID_V2 = {codec: trace_bytes_v2(valid_ops(), codec=codec) for codec in (0, 1)}  # stored, zlib
ENCODED_V2 = encode_records_v2(valid_ops(), IdPredictor())


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


# --- version 2 --------------------------------------------------------------------------------------

@FUZZ
@given(st.sampled_from([0, 1]), st.data())
def test_version_2_byte_mutations_never_crash(tmp_path_factory, codec, data):
    valid = VALID_V2[codec]
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=8))
    words = data.draw(st.lists(st.tuples(st.integers(0, len(valid) - 4), st.sampled_from(INTERESTING_WORDS)), max_size=3))
    cut = data.draw(st.integers(0, len(valid)))
    mutated = bytearray(valid)
    for position, value in edits:
        mutated[position] = value
    for position, word in words:
        mutated[position : position + 4] = struct.pack("<I", word)
    read_or_refuse(tmp_path_factory, bytes(mutated[:cut]) + data.draw(st.binary(max_size=64)))


encoded_edits = st.lists(
    st.tuples(st.sampled_from(["replace", "insert", "delete"]), st.integers(0, len(ENCODED_V2) - 1), st.integers(0, 255)),
    min_size=1, max_size=6)


@FUZZ
@given(encoded_edits)
def test_version_2_encoding_mutations_read_as_the_reference_reads_them(tmp_path_factory, edits):
    """The chunk's encoded records mutated, its CRC that of what they decode to: the core reads
    exactly the records the reference reader does, or refuses exactly when it does."""
    encoded = bytearray(ENCODED_V2)
    for kind, position, value in edits:
        position = min(position, len(encoded) - 1)
        if kind == "replace":
            encoded[position] = value
        elif kind == "insert":
            encoded.insert(position, value)
        elif len(encoded) > 1:
            del encoded[position]
    count = len(valid_ops())
    try:
        records = decode_records_v2(bytes(encoded), count, IdPredictor())
    except DecodeError:
        records = None
    crc = zlib.crc32(b"".join(records)) if records else 0
    path = tmp_path_factory.mktemp("fuzz") / "t.trace"
    path.write_bytes(trace_v2_from_chunks([chunk_v2(count, crc, bytes(encoded))], [crc], records or valid_ops()))
    readable = records is not None and true_id_space(records) <= count
    try:
        read = b"".join(chunk.tobytes() for _, chunk in Trace(path).chunks())
    except TraceError as error:
        assert "\n" not in str(error) and str(error).startswith(str(path))
        assert not readable, str(error)
    else:
        assert readable and read == b"".join(records)
    read_or_refuse(tmp_path_factory, path.read_bytes())


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from([1, 2, 3, 5, 6]), st.sampled_from(INTERESTING_WORDS + [3, 40, 300])), max_size=3),
    st.sampled_from(["none", "op_count", "chunk_count", "skipped", "id_space"]),
    st.sampled_from(INTERESTING_WORDS),
    st.integers(1, 100),
    st.sampled_from([None, 0, 1]),
)
def test_version_2_chunk_header_and_trailer_mutations_never_crash(tmp_path_factory, header_edits, trailer_field, value,
                                                                   chunk_records, codec):
    data = bytearray(trace_bytes_v2(valid_ops(), chunk_records=chunk_records, codec=codec))
    first = HEADER.size + HEADER.unpack_from(data)[2]
    fields = list(CHUNK_HEADER_V2.unpack_from(data, first))
    for field, word in header_edits:  # count, crc, codec, encoded bytes, stored bytes
        fields[field] = word & (0xFF if field == 3 else 0xFFFFFFFF)
    CHUNK_HEADER_V2.pack_into(data, first, *fields)
    if trailer_field != "none":
        trailer = list(TRAILER_BODY.unpack(data[-48:-4]))
        trailer[{"op_count": 2, "chunk_count": 3, "skipped": 4, "id_space": 5}[trailer_field]] = value
        body = TRAILER_BODY.pack(*trailer)
        data[-48:] = body + struct.pack("<I", zlib.crc32(body))
    read_or_refuse(tmp_path_factory, bytes(data))
