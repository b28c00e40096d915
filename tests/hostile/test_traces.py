"""Hostile traces: corrupt with valid checksums (format versions 1 and 2), special files, names
that are not UTF-8, bad conversions. Each is refused with one line by `trace info`, `replay`
and `trace convert`, and with TraceError by the API; none crashes, hangs, leaves a file
behind or is read as something it is not."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib

import pytest
from conftest import cli, refused

import allocbench
from trace_bytes import (
    HEADER,
    RECORD,
    ZLIB,
    IdPredictor,
    chunk_v2,
    encode_records_v2,
    record,
    trace_bytes,
    trace_bytes_v2,
    trace_v2_from_chunks,
)

GOOD_OPS = [record("alloc", 0, 16), record("alloc", 1, 32), record("free", 0), record("free", 1)]


def with_metadata(text: bytes) -> bytes:
    return trace_bytes(GOOD_OPS, metadata=text)


def patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new):]


def reserved_in_header() -> bytes:
    return patched(trace_bytes(GOOD_OPS), 20, b"\x01")  # the 12 reserved bytes, outside any CRC


def reserved_in_chunk_header() -> bytes:
    metadata = json.dumps({"made_by": "tests"}).encode()
    return patched(trace_bytes(GOOD_OPS), HEADER.size + len(metadata) + 12, b"\x07")  # outside any CRC


def reserved_in_trailer(which: int) -> bytes:
    """The trailer's reserved words (offset 4 or 40), its own CRC recomputed: valid checksums."""
    data = trace_bytes(GOOD_OPS)
    body = bytearray(data[-48:-4])
    body[which:which + 4] = struct.pack("<I", 9)
    return data[:-48] + bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def reserved_in_a_record() -> bytes:
    ops = [RECORD.pack(1, 2, 5, 0, 16, 0), record("free", 0)]  # reserved u16 = 5, CRC computed over it
    return trace_bytes(ops)


# (name, bytes, fragment of the one line): every one has valid checksums where it has any.
CORRUPT = [
    ("item 3: a 5000-digit integer in the metadata", with_metadata(b'{"n": ' + b"7" * 5000 + b"}"), "number longer than"),
    ("item 4: a lone high surrogate key", with_metadata(b'{"\\ud800": 1}'), "lone high surrogate"),
    ("item 4: a lone low surrogate value", with_metadata(b'{"k": "\\udc00"}'), "lone low surrogate"),
    ("a surrogate pair is fine, then a bad one", with_metadata(b'{"a": "\\ud83d\\ude00", "b": "\\ud83d"}'), "lone high surrogate"),
    ("item 20: reserved header bytes", reserved_in_header(), "reserved bytes of the header"),
    ("item 20: reserved chunk header bytes", reserved_in_chunk_header(), "reserved bytes of the chunk header"),
    ("item 20: trailer reserved word 0", reserved_in_trailer(4), "reserved bytes of the trailer"),
    ("item 20: trailer reserved word 1", reserved_in_trailer(32 + 4 + 4), "reserved bytes of the trailer"),
    ("item 20: reserved record bytes", reserved_in_a_record(), "reserved bytes of the record"),
    ("metadata that is an array", with_metadata(b"[1, 2]"), "expected a JSON object"),
    ("metadata nested 100 deep", with_metadata(b'{"a":' * 100 + b"1" + b"}" * 100), "nesting too deep"),
    ("metadata with a control character", with_metadata(b'{"a": "\x01"}'), "control character"),
    ("metadata that is not UTF-8", with_metadata(b'{"a": "\xff"}'), "not UTF-8"),
    ("an unknown op", trace_bytes([record(9, 0, 16)]), "unknown op 9"),
    ("an unknown domain", trace_bytes([record("alloc", 0, 16, domain=7)]), "unknown domain 7"),
    ("an id past the id space", trace_bytes([record("alloc", 5, 16), record("alloc", 0, 8), record("alloc", 1, 8)],
                                            id_space=2), "outside the id space"),
    ("an id space past the op count", trace_bytes([record("alloc", 0, 16)], id_space=9), "exceeds its 1 ops"),
    ("skipped ops that do not add up", trace_bytes(GOOD_OPS, skipped_ops=1), "skipped ops"),
    ("a version from the future", trace_bytes(GOOD_OPS, version=3), "version 3 is not supported"),
    ("the wrong magic", trace_bytes(GOOD_OPS, magic=b"ABTRACX\0"), "not an allocbench trace"),
    ("item 25: a free after realloc moved the block",
     trace_bytes([record("alloc", 0, 16), record("realloc", 0, 40, 1), record("free", 0)]),
     "op 2: free of id 0, which is not live (a realloc moved it to another id)"),
    ("a double free", trace_bytes([record("alloc", 0, 16), record("free", 0), record("free", 0)]),
     "op 2: free of id 0, which is not live (freed already)"),
    ("an absurd calloc", trace_bytes([record("calloc", 0, 1 << 20, 1 << 12)]), "absurd size"),
    ("an empty file", b"", "truncated: 0 bytes"),
    ("half a header", trace_bytes(GOOD_OPS)[:12], "truncated: 12 bytes"),
    ("no trailer", trace_bytes(GOOD_OPS)[:-48], "truncated"),
    ("text", b"hello, this is not a trace at all\n" * 4, "not an allocbench trace"),
]


# Version 2: every chunk CRC is that of the records the chunk decodes to (or was meant to),
# every trailer CRC recomputed; the faults lie behind the checksums.
GOOD_V2_ENCODING = encode_records_v2(GOOD_OPS, IdPredictor())  # 31 10 31 20 04 02 04 01


def v2_one_chunk(encoded: bytes, records: list[bytes] = GOOD_OPS, **overrides) -> bytes:
    crc = zlib.crc32(b"".join(records))
    chunk_fields = {k: overrides.pop(k) for k in ("codec", "stored", "encoded_bytes", "reserved") if k in overrides}
    return trace_v2_from_chunks([chunk_v2(len(records), crc, encoded, **chunk_fields)], [crc], records, **overrides)


def v2_tag(first_tag: int) -> bytes:
    return v2_one_chunk(bytes([first_tag]) + GOOD_V2_ENCODING[1:])


CORRUPT_V2 = [
    ("v2: the reserved bit of a tag", v2_tag(0xB1), "op 0: chunk 0: reserved bit of the record's tag is set"),
    ("v2: an unknown op in a tag", v2_tag(0x37), "op 0: chunk 0: unknown op 7"),
    ("v2: an unknown domain in a tag", v2_tag(0x39), "op 0: chunk 0: unknown domain 3"),
    ("v2: a flag on an op that does not take it", v2_tag(0x71), "alloc with the keeps-id flag (0x40)"),
    ("v2: an id written out that the tag implies", v2_one_chunk(b"\x11\x00\x10" + GOOD_V2_ENCODING[2:]),
     "op 0: chunk 0: alloc writes out id 0, which its tag should imply"),
    ("v2: a varint not in its shortest form", v2_one_chunk(b"\x31\x90\x00" + GOOD_V2_ENCODING[2:]), "not in its shortest form"),
    ("v2: a varint of six bytes", v2_one_chunk(b"\x31" + b"\x80" * 5 + b"\x01" + GOOD_V2_ENCODING[2:]), "longer than 5 bytes"),
    ("v2: a varint above 2^32-1", v2_one_chunk(b"\x31\xff\xff\xff\xff\x7f" + GOOD_V2_ENCODING[2:]), "above 2^32-1"),
    ("v2: records that end inside a record", v2_one_chunk(GOOD_V2_ENCODING[:-1]), "op 3: chunk 0: the encoded records end early"),
    ("v2: bytes after the last record", v2_one_chunk(GOOD_V2_ENCODING + b"\x04\x00"), "2 bytes follow the last record"),
    ("v2: an unknown codec", v2_one_chunk(GOOD_V2_ENCODING, codec=2), "chunk 0: unknown codec 2"),
    ("v2: reserved bytes of a chunk header", v2_one_chunk(GOOD_V2_ENCODING, codec=0, reserved=b"\0\0\1"),
     "reserved bytes of the chunk header are not zero"),
    ("v2: encoded bytes that cannot hold the records", v2_one_chunk(GOOD_V2_ENCODING, codec=0, encoded_bytes=65),
     "65 encoded bytes cannot hold 4 records"),
    ("v2: a zlib stream that is not one", v2_one_chunk(bytes(40), codec=ZLIB, stored=b"\x78\x9c" + bytes(10)),
     "its compressed records: not a valid zlib stream"),
    ("v2: a zlib stream longer than the chunk says", v2_one_chunk(bytes(40), codec=ZLIB, stored=zlib.compress(bytes(4000))),
     "its compressed records: decompresses to more than 40 bytes"),
    ("v2: a zlib stream with bytes after it", v2_one_chunk(bytes(40), codec=ZLIB, stored=zlib.compress(bytes(40)) + b"!"),
     "1 bytes follow the zlib stream"),
    ("v2: more than zlib can expand", v2_one_chunk(b"\x15" * 2000, records=[record("foreign_free")] * 2000, codec=ZLIB, stored=b"z"),
     "1 stored bytes cannot expand to 2000 encoded bytes"),
    ("v2: an implied id past the id space", v2_one_chunk(GOOD_V2_ENCODING, id_space=1), "op 1: alloc id 1 is outside the id space of 1"),
    ("v2: a trailer that counts more ops than the chunks hold", v2_one_chunk(GOOD_V2_ENCODING, op_count=6, skipped_ops=0),
     "the trailer counts 6 ops, the chunks hold 4"),
    ("v2: chunks that stop short of the trailer",
     trace_v2_from_chunks([chunk_v2(4, zlib.crc32(b"".join(GOOD_OPS)), GOOD_V2_ENCODING) + b"\0" * 30],
                          [zlib.crc32(b"".join(GOOD_OPS))], GOOD_OPS), "30 bytes lie between the last chunk and the trailer"),
    ("v2: a billion ops claimed by a small file", v2_one_chunk(GOOD_V2_ENCODING, op_count=10**9), "the trailer's counts"),
    ("v2: a double free, encoded", trace_bytes_v2([record("alloc", 0, 16), record("free", 0), record("free", 0)]),
     "op 2: free of id 0, which is not live (freed already)"),
    ("v2: no trailer", trace_bytes_v2(GOOD_OPS)[:-48], "truncated: the file ends after chunk 1 without a trailer"),
    ("v2: the trailer cut short", trace_bytes_v2(GOOD_OPS)[:-20], "truncated"),
]


@pytest.mark.parametrize("name, data, fragment", CORRUPT + CORRUPT_V2, ids=[c[0] for c in CORRUPT + CORRUPT_V2])
def test_corrupt_traces_are_one_line_everywhere(name, data, fragment, tmp_path):
    path = tmp_path / "bad.abt"
    path.write_bytes(data)
    refused(cli("trace", "info", path), str(path), fragment)
    refused(cli("replay", path, "-a", "pymalloc", "-a", "system", "--repeat", "1"), str(path), fragment)
    with pytest.raises(ValueError) as caught:  # allocbench.TraceError
        allocbench.replay(path, "pymalloc")
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_item_25_trace_info_and_replay_word_a_fault_alike(tmp_path):
    path = tmp_path / "moved.abt"
    path.write_bytes(trace_bytes([record("alloc", 0, 16), record("realloc", 0, 40, 1), record("free", 0)]))
    info = refused(cli("trace", "info", path))
    replay = refused(cli("replay", path, "-a", "system", "--repeat", "1"))
    assert info.split(": ", 1)[1] == replay.split(": ", 1)[1]


def test_item_02_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "x"
    os.mkfifo(fifo)
    for args in (("trace", "info", fifo), ("replay", fifo, "-a", "system")):
        refused(cli(*args, timeout=30), str(fifo), "not a regular file (a FIFO)")
    probe = subprocess.run([sys.executable, "-c", f"import allocbench; allocbench.replay({str(fifo)!r}, 'system')"],
                           capture_output=True, text=True, timeout=30)
    assert probe.returncode == 1 and "TraceError" in probe.stderr and "not a regular file (a FIFO)" in probe.stderr


@pytest.mark.parametrize("path, fragment", [("/dev/urandom", "not a regular file (a character device)"),
                                            ("/dev/null", "not a regular file (a character device)"),
                                            ("/proc/self/status", "not an allocbench trace"),
                                            ("/", "not a regular file (a directory)")])
def test_item_26_special_files_are_named_for_what_they_are(path, fragment):
    line = refused(cli("trace", "info", path, timeout=30), fragment)
    assert "truncated: 0 bytes" not in line
    refused(cli("replay", path, "-a", "floor", timeout=30), fragment)


@pytest.fixture()
def non_utf8_trace(tmp_path) -> bytes:
    name = os.fsencode(tmp_path) + b"/bad\xff.abt"
    with open(name, "wb") as out:
        out.write(trace_bytes(GOOD_OPS))
    return name


def test_item_05_a_name_that_is_not_utf8_reaches_its_file(non_utf8_trace):
    info = cli("trace", "info", non_utf8_trace)
    assert info.returncode == 0, info.stderr
    assert b"/bad\xff.abt\n" in info.stdout  # the name's own bytes, as `ls` prints them
    replay = cli("replay", non_utf8_trace, "-a", "pymalloc", "--repeat", "1")
    assert replay.returncode == 0, replay.stderr
    for path in (non_utf8_trace, os.fsdecode(non_utf8_trace)):  # bytes, and str with surrogate escapes
        assert allocbench.replay(path, "pymalloc").peak_live_bytes == 48


def test_item_05_a_missing_name_that_is_not_utf8_is_one_line(tmp_path):
    missing = os.fsencode(tmp_path) + b"/gone\xfe.abt"
    line = refused(cli("trace", "info", missing), "gone\\xfe.abt", "cannot open")
    assert "\udcfe" not in line
    with pytest.raises(ValueError, match="cannot open"):
        allocbench.replay(missing, "pymalloc")


def test_a_directory_and_a_symlink_loop_are_refused(tmp_path):
    loop = tmp_path / "loop.abt"
    loop.symlink_to(loop)
    refused(cli("trace", "info", loop), "cannot open")
    refused(cli("trace", "info", tmp_path), "a directory")


@pytest.mark.parametrize("name, data, fragment", CORRUPT_V2[:3] + CORRUPT[13:16], ids=[c[0] for c in CORRUPT_V2[:3] + CORRUPT[13:16]])
def test_converting_a_corrupt_trace_is_one_line_and_leaves_nothing(name, data, fragment, tmp_path):
    path = tmp_path / "bad.abt"
    path.write_bytes(data)
    for version in ("1", "2"):
        refused(cli("trace", "convert", path, "-o", tmp_path / "out.abt", "--version", version), str(path), fragment)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.abt"]


def test_bad_conversion_outputs_and_versions_are_one_line(tmp_path):
    good = tmp_path / "good.abt"
    good.write_bytes(trace_bytes_v2(GOOD_OPS))
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link.abt").symlink_to(tmp_path / "elsewhere.abt")
    for output, fragment in [(good, "is also an input"), ("/dev/null", "not a regular file (a character device)"),
                             (tmp_path, "is a folder"), (tmp_path / "fifo", "a FIFO"), (tmp_path / "link.abt", "symbolic link"),
                             (tmp_path / "missing" / "x.abt", "No such file or directory")]:
        refused(cli("trace", "convert", good, "-o", output, timeout=30), fragment)
    refused(cli("trace", "convert", good, "-o", tmp_path / "x.abt", "--version", "3"), "invalid choice: 3")
    refused(cli("trace", "convert", tmp_path / "fifo", "-o", tmp_path / "x.abt", timeout=30), "not a regular file (a FIFO)")
    assert not (tmp_path / "elsewhere.abt").exists() and not (tmp_path / "x.abt").exists()
    assert good.read_bytes() == trace_bytes_v2(GOOD_OPS)
