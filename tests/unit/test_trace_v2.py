"""Trace format version 2: the C++ writer against the independent Python one byte for byte,
round trips, conversion between versions (same records, same checksum), the id predictor,
records version 2 cannot hold, and a one-line TraceError for every bad chunk."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_trace_format import alloc_free_records, consistent_ops

from allocbench import _core
from allocbench.errors import UsageError
from allocbench.trace import RECORD_DTYPE, Trace, TraceError, convert, summarise, write_trace
from trace_bytes import (
    CHUNK_HEADER_V2,
    HEADER,
    IMPLIED_ID,
    ZLIB,
    IdPredictor,
    chunk_v2,
    decode_records_v2,
    encode_records_v2,
    record,
    trace_bytes,
    trace_bytes_v2,
    trace_v2_from_chunks,
)

METADATA = {"python": "3.11", "command": ["x.py"]}
SAME_ZLIB = _core.zlib_version() == zlib.ZLIB_RUNTIME_VERSION
needs_same_zlib = pytest.mark.skipif(
    not SAME_ZLIB, reason=f"the core's zlib {_core.zlib_version()} is not Python's {zlib.ZLIB_RUNTIME_VERSION}: "
                          "compressed bytes may differ")


def records_of(ops: list[tuple]) -> list[bytes]:
    return [record(op, i, s, a, domain=d) for op, d, i, s, a in ops]


def expect_error(path, pattern: str) -> str:
    with pytest.raises(TraceError) as caught:
        summarise(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    assert re.search(pattern, message), message
    return message


# --- the writer, byte for byte -------------------------------------------------------------------

def test_small_trace_matches_the_python_reference_byte_for_byte(tmp_path):
    path = tmp_path / "t.abt"
    ops = [record("alloc", 0, 24), record("calloc", 1, 3, 8), record("realloc", 0, 100, 2),
           record("free", 1), record("foreign_free"), record("foreign_realloc", 0, 40, 1),
           record("realloc", 2, 7, 2, domain=1), record("free", 2, domain=0)]
    write_trace(path, np.frombuffer(b"".join(ops), dtype=RECORD_DTYPE), METADATA)
    assert path.read_bytes() == trace_bytes_v2(ops, json.dumps(METADATA).encode())
    chunk = CHUNK_HEADER_V2.unpack_from(path.read_bytes(), HEADER.size + len(json.dumps(METADATA)))
    assert chunk[3] == 0  # too small for zlib to help: stored as encoded


@needs_same_zlib
def test_compressed_chunks_match_the_python_reference_byte_for_byte(tmp_path):
    path = tmp_path / "t.abt"
    records = alloc_free_records(70_000)  # three chunks, compressed
    write_trace(path, records, METADATA)
    ops = [records[i:i + 1].tobytes() for i in range(len(records))]
    assert path.read_bytes() == trace_bytes_v2(ops, json.dumps(METADATA).encode())


@needs_same_zlib
@given(consistent_ops(), st.integers(1, 70))
def test_hypothesis_traces_match_the_python_reference(tmp_path_factory, ops, chunk_records):
    path = tmp_path_factory.mktemp("v2") / "t.abt"
    write_trace(path, ops, {"n": len(ops)})
    assert path.read_bytes() == trace_bytes_v2(records_of(ops), json.dumps({"n": len(ops)}).encode())
    # Chunks of any size read back (the core's writer makes full ones only).
    path.write_bytes(trace_bytes_v2(records_of(ops), chunk_records=chunk_records))
    back = b"".join(chunk.tobytes() for _, chunk in Trace(path).chunks())
    assert back == b"".join(records_of(ops))


def write_in_pieces(path, records: bytes, cuts: list[int], version: int = 2) -> bytes:
    """The trace the core's writer makes of `records` handed over in pieces, cut at `cuts`
    (record indexes), as the recorder hands over its batches."""
    writer = _core.TraceWriter(path, json.dumps(METADATA), version=version)
    count = len(records) // 16
    bounds = [0, *sorted({min(max(cut, 0), count) for cut in cuts}), count]
    for start, end in zip(bounds, bounds[1:]):
        writer.append_records(records[16 * start:16 * end])
    writer.close()
    return Path(path).read_bytes()


@needs_same_zlib
@given(consistent_ops(), st.lists(st.integers(0, 200), max_size=6))
def test_records_handed_over_in_pieces_encode_as_one_piece(tmp_path_factory, ops, cuts):
    path = tmp_path_factory.mktemp("pieces") / "t.abt"
    records = records_of(ops)
    assert write_in_pieces(path, b"".join(records), cuts) == trace_bytes_v2(records, json.dumps(METADATA).encode())


@needs_same_zlib
@pytest.mark.parametrize("version", [1, 2])
@given(cuts=st.lists(st.integers(60_000, 70_000), min_size=1, max_size=4))
@settings(max_examples=8, deadline=None)
def test_pieces_across_a_chunk_boundary_give_the_same_file(tmp_path_factory, version, cuts):
    folder = tmp_path_factory.mktemp("boundary")
    records = alloc_free_records(70_000).tobytes()  # a chunk of 65,536 records and a part
    whole = write_in_pieces(folder / "whole.abt", records, [], version)
    assert write_in_pieces(folder / "pieces.abt", records, cuts, version) == whole


def test_python_written_chunks_of_both_codecs_read(tmp_path):
    ops = records_of([("alloc", 1, i, 8 * i, 0) for i in range(300)] + [("free", 2, i, 0, 0) for i in range(300)])
    for codec in (0, ZLIB):
        path = tmp_path / f"codec{codec}.abt"
        path.write_bytes(trace_bytes_v2(ops, codec=codec, chunk_records=250))
        assert b"".join(chunk.tobytes() for _, chunk in Trace(path).chunks()) == b"".join(ops)


# --- the id predictor -----------------------------------------------------------------------------

def implied_births(path) -> tuple[int, int]:
    """(births whose id the tag implies, births) in a version 2 trace, read by the reference."""
    data = path.read_bytes()
    metadata_bytes = HEADER.unpack_from(data)[2]
    position, implied, births = HEADER.size + metadata_bytes, 0, 0
    ids = IdPredictor()
    while data[position:position + 4] == b"CHNK":
        _, count, _, codec, _, encoded_bytes, stored_bytes = CHUNK_HEADER_V2.unpack_from(data, position)
        stored = data[position + CHUNK_HEADER_V2.size:position + CHUNK_HEADER_V2.size + stored_bytes]
        encoded = zlib.decompress(stored) if codec == ZLIB else stored
        # Walk the encoding once for its tags, once through the decoder for its predictor.
        for r in decode_records_v2(encoded, count, ids):
            births += r[0] in (1, 2, 6)
        implied += sum(1 for t in tags_of(encoded, count) if t & IMPLIED_ID)
        position += CHUNK_HEADER_V2.size + stored_bytes
    return implied, births


def tags_of(encoded: bytes, count: int) -> list[int]:
    """The tag bytes of a chunk's encoded records (varints skipped by their continuation bit)."""
    tags, position = [], 0
    fields = {1: 2, 2: 3, 3: 2, 4: 1, 5: 0, 6: 2}
    for _ in range(count):
        tag = encoded[position]
        tags.append(tag)
        position += 1
        n = fields[tag & 7] - (1 if tag & IMPLIED_ID else 0) + (1 if tag & 7 == 3 and not tag & 0x40 else 0)
        for _ in range(n):
            while encoded[position] & 0x80:
                position += 1
            position += 1
    return tags


def test_generated_traces_imply_every_new_id(tmp_path):
    path = tmp_path / "churn.abt"
    _core.generate("churn", path, 1, [("live", "500"), ("pairs", "20000"), ("lifetime", "random")])
    implied, births = implied_births(path)
    assert births == 20_500 and implied == births


def test_a_free_recorded_between_taking_an_id_and_its_birth_keeps_the_prediction(tmp_path):
    # The recorder took id 1 from its stack, then recorded the free of a stale id 0 (whose free
    # escaped the hook) before the birth of id 1: that birth cannot be implied, but the
    # predictor takes 1 from under 0 and stays in step: the births after it are (without that,
    # it would predict the live id 1 for the last one).
    ops = [record("alloc", 0, 8), record("alloc", 1, 8), record("free", 1),
           record("free", 0), record("alloc", 1, 8), record("alloc", 0, 8), record("alloc", 2, 8)]
    path = tmp_path / "t.abt"
    write_trace(path, np.frombuffer(b"".join(ops), dtype=RECORD_DTYPE), {})
    assert implied_births(path) == (4, 5)


def test_ids_out_of_lifo_order_are_written_out_and_read_back(tmp_path):
    ops = [record("alloc", 3, 8), record("alloc", 1, 8), record("free", 3), record("alloc", 5, 8),
           record("realloc", 1, 30, 4), record("foreign_realloc", 0, 12, 2)]
    path = tmp_path / "t.abt"
    write_trace(path, np.frombuffer(b"".join(ops), dtype=RECORD_DTYPE), {})
    assert b"".join(chunk.tobytes() for _, chunk in Trace(path).chunks()) == b"".join(ops)


# --- what version 2 cannot hold, and versions ----------------------------------------------------

@pytest.mark.parametrize("op, words", [
    (record("free", 0, 5), r"op 1: free with size 5 and arg 0: version 2 holds neither for it$"),
    (record("alloc", 1, 5, 9), r"op 1: alloc with arg 9: version 2 holds no arg for it$"),
    (record("foreign_free", 2), r"op 1: foreign_free with id 2, size 0 and arg 0: version 2 holds none"),
    (record("foreign_realloc", 4, 5, 1), r"op 1: foreign_realloc with id 4: version 2 holds no old id for it$"),
])
def test_fields_version_2_cannot_hold_are_refused_by_its_writer(tmp_path, op, words):
    records = np.frombuffer(record("alloc", 0, 8) + op, dtype=RECORD_DTYPE)
    with pytest.raises(TraceError, match=words):
        write_trace(tmp_path / "t.abt", records, {})
    write_trace(tmp_path / "v1.abt", records, {}, version=1)  # version 1 keeps them
    with pytest.raises(TraceError, match=words):
        convert(tmp_path / "v1.abt", tmp_path / "v2.abt", 2)
    assert not (tmp_path / "v2.abt").exists() and list(tmp_path.glob(".*partial")) == []


def test_writer_refuses_a_version_it_does_not_know(tmp_path):
    with pytest.raises(TraceError, match=r"cannot write trace format version 3 \(this allocbench writes versions 1 and 2\)"):
        write_trace(tmp_path / "t.abt", [], {}, version=3)


def test_both_versions_of_a_trace_have_the_same_checksum_and_size_apart(tmp_path):
    records = alloc_free_records(70_000)
    one = write_trace(tmp_path / "1.abt", records, METADATA, version=1)
    two = write_trace(tmp_path / "2.abt", records, METADATA, version=2)
    assert {k: v for k, v in one.items() if k != "version"} == {k: v for k, v in two.items() if k != "version"}
    stats = summarise(tmp_path / "2.abt")
    assert stats.version == 2 and stats.file_bytes == (tmp_path / "2.abt").stat().st_size
    assert stats.bytes_per_op == stats.file_bytes / 140_000
    assert summarise(tmp_path / "1.abt").bytes_per_op == pytest.approx(16, abs=0.01)
    assert stats.bytes_per_op < 0.35 * 16


# --- convert ----------------------------------------------------------------------------------------

@given(consistent_ops())
def test_convert_round_trips_byte_for_byte(tmp_path_factory, ops):
    folder = tmp_path_factory.mktemp("convert")
    write_trace(folder / "a2.abt", ops, {"n": len(ops)})
    one = convert(folder / "a2.abt", folder / "a1.abt", 1)
    two = convert(folder / "a1.abt", folder / "b2.abt", 2)
    assert (folder / "b2.abt").read_bytes() == (folder / "a2.abt").read_bytes()
    assert one["checksum"] == two["checksum"] and one["version"] == 1 and two["version"] == 2
    convert(folder / "b2.abt", folder / "b1.abt", 1)
    assert (folder / "b1.abt").read_bytes() == (folder / "a1.abt").read_bytes()


def test_convert_keeps_the_metadata_padding_and_all(tmp_path):
    writer = _core.TraceWriter(str(tmp_path / "a.abt"), json.dumps({"a": 1}), 300, version=1)
    writer.append_records(alloc_free_records(10))
    writer.close()
    convert(tmp_path / "a.abt", tmp_path / "b.abt", 2)
    assert _core.TraceReader(tmp_path / "b.abt").metadata_json == _core.TraceReader(tmp_path / "a.abt").metadata_json


def test_convert_of_a_corrupt_trace_leaves_nothing_behind(tmp_path):
    data = bytearray(trace_bytes([record("alloc", 0, 8)] + [record("foreign_free")] * 100_000))
    data[-48 - 16 + 8] ^= 0x01  # the size of the last record: chunk 1's CRC no longer matches
    source = tmp_path / "bad.abt"
    source.write_bytes(bytes(data))
    with pytest.raises(TraceError, match=r"bad.abt: op 65536: chunk 1: checksum mismatch \(corrupt file\)$"):
        convert(source, tmp_path / "out.abt", 2)  # found after the first chunk was written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.abt"]


def test_convert_refuses_bad_outputs_and_versions(tmp_path):
    write_trace(tmp_path / "a.abt", alloc_free_records(3), {})
    with pytest.raises(UsageError, match="is also an input"):
        convert(tmp_path / "a.abt", tmp_path / "a.abt", 1)
    with pytest.raises(UsageError, match="is a folder"):
        convert(tmp_path / "a.abt", tmp_path, 1)
    with pytest.raises(UsageError, match=r"version 7: this allocbench writes versions 1, 2"):
        convert(tmp_path / "a.abt", tmp_path / "b.abt", 7)
    (tmp_path / "link.abt").symlink_to(tmp_path / "elsewhere.abt")
    with pytest.raises(UsageError, match="symbolic link"):
        convert(tmp_path / "a.abt", tmp_path / "link.abt", 1)


# --- bad chunks -------------------------------------------------------------------------------------

GOOD = [record("alloc", 0, 16), record("alloc", 1, 32), record("free", 0), record("free", 1)]
GOOD_CRC = zlib.crc32(b"".join(GOOD))


def one_chunk(encoded: bytes, **overrides) -> bytes:
    """A version 2 trace of GOOD whose one chunk holds `encoded` (valid CRC of GOOD)."""
    return trace_v2_from_chunks([chunk_v2(len(GOOD), GOOD_CRC, encoded, **overrides)], [GOOD_CRC], GOOD)


def good_encoding() -> bytes:
    return encode_records_v2(GOOD, IdPredictor())


@pytest.mark.parametrize("data, words", [
    (one_chunk(good_encoding()[:-1]), r"op 3: chunk 0: the encoded records end early$"),
    (one_chunk(good_encoding() + b"\x00"), r"op 3: chunk 0: 1 bytes follow the last record$"),
    (one_chunk(bytes([0x27]) + good_encoding()[1:]), r"op 0: chunk 0: unknown op 7$"),
    (one_chunk(bytes([0x39]) + good_encoding()[1:]), r"op 0: chunk 0: unknown domain 3$"),
    (one_chunk(bytes([0xB1]) + good_encoding()[1:]), r"op 0: chunk 0: reserved bit of the record's tag is set$"),
    (one_chunk(good_encoding()[:4] + bytes([0x34]) + good_encoding()[5:]), r"op 2: chunk 0: free with the implied-id"),
    (one_chunk(bytes([0x51]) + good_encoding()[1:]), r"op 0: chunk 0: alloc with the keeps-id flag"),
    (one_chunk(bytes([0x11, 0x00, 0x10]) + good_encoding()[2:]), r"op 0: chunk 0: alloc writes out id 0, which its tag"),
    (one_chunk(bytes([0x31, 0x90, 0x00]) + good_encoding()[2:]), r"op 0: chunk 0: a varint is not in its shortest form"),
    (one_chunk(bytes([0x31, 0x90, 0x80, 0x80, 0x80, 0x80, 0x01]) + good_encoding()[2:]),
     r"op 0: chunk 0: a varint is longer than 5 bytes"),
    (one_chunk(bytes([0x31, 0x90, 0x80, 0x80, 0x80, 0x10]) + good_encoding()[2:]), r"op 0: chunk 0: a varint is above"),
    (one_chunk(good_encoding(), codec=7), r"op 0: chunk 0: unknown codec 7$"),
    (one_chunk(good_encoding(), codec=0, reserved=b"\0\1\0"), r"op 0: chunk 0: reserved bytes of the chunk header"),
    (one_chunk(good_encoding(), encoded_bytes=3), r"op 0: chunk 0: 3 encoded bytes cannot hold 4 records"),
    (one_chunk(good_encoding(), codec=0, stored=good_encoding() + b"\0"), r"uncompressed, yet its 9 stored bytes"),
    (one_chunk(good_encoding(), codec=ZLIB, stored=good_encoding()), r"compressed, yet its 8 stored bytes are not fewer"),
    (one_chunk(bytes(2000), codec=ZLIB, stored=zlib.compress(bytes(2000))),
     r"op 0: chunk 0: 2000 encoded bytes cannot hold 4 records"),
    (trace_v2_from_chunks([chunk_v2(1033, 0, b"\x15" * 1033, codec=ZLIB, stored=b"x")], [0], [record("foreign_free")] * 1033),
     r"compressed: 1 stored bytes cannot expand to 1033 encoded bytes \(zlib expands at most 1032 times\)"),
    (one_chunk(b"\x31\x10\x31\x20\x04\x02\x04\x01", codec=ZLIB, stored=b"\x78\x01" + b"\xff" * 4),
     r"op 0: chunk 0: its compressed records: not a valid zlib stream"),
    (one_chunk(b"\x31\x10\x31\x20\x04\x02\x04\x01", codec=ZLIB, stored=zlib.compress(b"\x31\x10\x31\x20\x04\x02\x04")[:6] + b"\0"),
     r"its compressed records: "),
    (one_chunk(good_encoding(), encoded_bytes=40, codec=ZLIB, stored=zlib.compress(bytes(200))),
     r"op 0: chunk 0: its compressed records: decompresses to more than 40 bytes$"),
    (one_chunk(good_encoding(), encoded_bytes=40, codec=ZLIB, stored=zlib.compress(bytes(20))),
     r"op 0: chunk 0: its compressed records: decompresses to 20 bytes, not 40$"),
    (one_chunk(good_encoding(), encoded_bytes=40, codec=ZLIB, stored=zlib.compress(bytes(40)) + b"\1\2"),
     r"op 0: chunk 0: its compressed records: 2 bytes follow the zlib stream$"),
])
def test_bad_version_2_chunks_are_one_line(tmp_path, data, words):
    path = tmp_path / "bad.abt"
    path.write_bytes(data)
    expect_error(path, words)


def test_a_trailer_that_claims_more_than_the_chunks_hold(tmp_path):
    path = tmp_path / "t.abt"
    chunk = chunk_v2(len(GOOD), GOOD_CRC, good_encoding())
    path.write_bytes(trace_v2_from_chunks([chunk], [GOOD_CRC], GOOD, op_count=5))
    expect_error(path, r": the trailer counts 5 ops, the chunks hold 4$")
    path.write_bytes(trace_v2_from_chunks([chunk, chunk], [GOOD_CRC], GOOD, chunk_count=1, op_count=8))
    expect_error(path, r": \d+ bytes lie between the last chunk and the trailer")
    path.write_bytes(trace_v2_from_chunks([chunk], [GOOD_CRC], GOOD, chunk_count=2, op_count=8))
    expect_error(path, r": the trailer's count of 2 chunks does not fit the file's size$")
    many = [record("alloc", 0, 100_000), record("free", 0)] * 10
    crc = zlib.crc32(b"".join(many))
    chunk = chunk_v2(len(many), crc, encode_records_v2(many, IdPredictor()), codec=0)
    path.write_bytes(trace_v2_from_chunks([chunk], [crc], many, chunk_count=2, op_count=40))
    expect_error(path, r": op 20: chunk 1: the chunks end before the trailer's 2 do \(corrupt file\)$")


def test_truncated_version_2_traces_name_the_chunk(tmp_path):
    path = tmp_path / "t.abt"
    write_trace(path, alloc_free_records(70_000), METADATA)
    data = path.read_bytes()
    first = HEADER.size + len(json.dumps(METADATA))
    second = first + CHUNK_HEADER_V2.size + CHUNK_HEADER_V2.unpack_from(data, first)[6]
    for cut, words in [(second + 40, r": op 65536: truncated: the file ends inside chunk 1$"),
                       (second, r": op 65536: truncated: the file ends after chunk 1 without a trailer"),
                       (second + 10, r": op 65536: truncated: the file ends 10 bytes into a chunk header"),
                       (len(data) - 20, r"truncated: the file ends inside the trailer")]:
        path.write_bytes(data[:cut])
        expect_error(path, words)


def test_a_flipped_bit_in_a_compressed_chunk_is_refused(tmp_path):
    path = tmp_path / "t.abt"
    write_trace(path, alloc_free_records(70_000), METADATA)
    data = bytearray(path.read_bytes())
    first = HEADER.size + len(json.dumps(METADATA))
    data[first + CHUNK_HEADER_V2.size + 100] ^= 0x10
    path.write_bytes(bytes(data))
    expect_error(path, r": op 0: chunk 0: (its compressed records: .*|checksum mismatch \(corrupt file\))$")


def test_records_decoded_from_a_valid_encoding_are_checked_as_version_1_checks_them(tmp_path):
    ops = [record("alloc", 0, 8), record("alloc", 1, 8), record("free", 12)]
    path = tmp_path / "t.abt"
    path.write_bytes(trace_bytes_v2(ops, id_space=2))
    expect_error(path, r": op 2: free id 12 is outside the id space of 2$")
    path.write_bytes(trace_bytes_v2([record("alloc", 0, 8), record("free", 0), record("free", 0)]))
    with pytest.raises(TraceError, match=r": op 2: free of id 0, which is not live \(freed already\)$"):
        _core.replay(path, "pymalloc")


def test_the_documents_example_is_what_the_writer_writes(tmp_path):
    document = (Path(__file__).resolve().parents[2] / "docs" / "trace-format.md").read_text()
    example = re.search(r"encode as the 18 bytes\s+`([0-9a-f ]+)`", document).group(1)
    ops = [record("alloc", 0, 24, domain=1), record("calloc", 1, 3, 8), record("realloc", 0, 100, 0),
           record("realloc", 1, 700, 4), record("free", 0), record("foreign_free"), record("foreign_realloc", 0, 40, 0)]
    path = tmp_path / "t.abt"
    write_trace(path, np.frombuffer(b"".join(ops), dtype=RECORD_DTYPE), {}, compress=False)
    data = path.read_bytes()
    _, count, _, codec, _, encoded_bytes, stored_bytes = CHUNK_HEADER_V2.unpack_from(data, HEADER.size + 2)
    assert (count, codec, encoded_bytes) == (7, 0, 18)
    assert data[HEADER.size + 2 + CHUNK_HEADER_V2.size:][:stored_bytes].hex(" ") == example


@st.composite
def ops_with_any_ids(draw):
    """Ops whose ids follow no allocator (double frees, frees of ids never born, ids skipped):
    the predictor must still step exactly as the document says, and its stack stay bounded."""
    out = []
    count = draw(st.integers(0, 300))
    ids = st.integers(0, count // 3)  # an id space within the op count, as a reader requires
    for _ in range(count):
        op = draw(st.sampled_from(["alloc", "calloc", "realloc", "free", "foreign_free", "foreign_realloc"]))
        id_, other, size = draw(ids), draw(ids), draw(st.integers(0, 3000))
        out.append({"alloc": ("alloc", 2, id_, size, 0), "calloc": ("calloc", 1, id_, size, 3),
                    "realloc": ("realloc", 2, id_, size, other), "free": ("free", 2, id_, 0, 0),
                    "foreign_free": ("foreign_free", 1, 0, 0, 0), "foreign_realloc": ("foreign_realloc", 2, 0, size, id_)}[op])
    return out


@needs_same_zlib
@given(ops_with_any_ids())
def test_ids_in_any_order_match_the_python_reference_and_read_back(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("v2") / "t.abt"
    write_trace(path, ops, {})
    records = records_of(ops)
    assert path.read_bytes() == trace_bytes_v2(records, b"{}")
    assert b"".join(chunk.tobytes() for _, chunk in Trace(path).chunks()) == b"".join(records)
