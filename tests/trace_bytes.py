"""An independent, pure-Python writer of the trace format (struct + zlib), following
docs/trace-format.md byte by byte: the tests build valid and deliberately broken traces with
it, and check that the C++ writer produces the very same bytes."""

from __future__ import annotations

import json
import struct
import zlib

HEADER = struct.Struct("<8sIII12x")
CHUNK_HEADER = struct.Struct("<4sIII")
TRAILER_BODY = struct.Struct("<4sIQQQIII")  # the 44 bytes the trailer's own CRC covers
RECORD = struct.Struct("<BBHIII")
CHUNK_RECORDS = 65536
OP_CODES = {"alloc": 1, "calloc": 2, "realloc": 3, "free": 4, "foreign_free": 5, "foreign_realloc": 6}


def record(op, id_=0, size=0, arg=0, domain=2) -> bytes:
    return RECORD.pack(OP_CODES.get(op, op), domain, 0, id_, size, arg)


def trace_bytes(
    records: list[bytes],
    metadata: bytes | None = None,
    *,
    version: int = 1,
    magic: bytes = b"ABTRACE\0",
    id_space: int | None = None,
    skipped_ops: int | None = None,
    chunk_records: int = CHUNK_RECORDS,
) -> bytes:
    """The bytes of a trace holding `records`; keyword arguments override what the trailer and
    header would truthfully say."""
    metadata = json.dumps({"made_by": "tests"}).encode() if metadata is None else metadata
    out = [HEADER.pack(magic, version, len(metadata), zlib.crc32(metadata)), metadata]
    checksum = 0
    chunks = [records[i : i + chunk_records] for i in range(0, len(records), chunk_records)]
    for chunk in chunks:
        body = b"".join(chunk)
        crc = zlib.crc32(body)
        out += [CHUNK_HEADER.pack(b"CHNK", len(chunk), crc, 0), body]
        checksum = zlib.crc32(struct.pack("<I", crc), checksum)
    if id_space is None:
        id_space = 0
        for r in records:
            op, _, _, id_, _, arg = RECORD.unpack(r)
            if op in (1, 2, 3, 4):
                id_space = max(id_space, id_ + 1)
            if op in (3, 6):
                id_space = max(id_space, arg + 1)
        id_space = min(id_space, 2**32 - 1)  # what a u32 holds; such an id is refused on reading
    if skipped_ops is None:
        skipped_ops = sum(1 for r in records if r[0] in (5, 6))
    body = TRAILER_BODY.pack(b"TEND", 0, len(records), len(chunks), skipped_ops, id_space, checksum, 0)
    out += [body, struct.pack("<I", zlib.crc32(body))]
    return b"".join(out)


def record_offset(metadata_length: int, op_index: int, chunk_records: int = CHUNK_RECORDS) -> int:
    """Byte offset of record `op_index` in a trace with that much metadata."""
    chunks_before = op_index // chunk_records + 1
    return HEADER.size + metadata_length + chunks_before * CHUNK_HEADER.size + op_index * RECORD.size
