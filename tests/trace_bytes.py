"""An independent, pure-Python writer of the trace format (struct + zlib), following
docs/trace-format.md byte by byte, versions 1 and 2: the tests build valid and deliberately
broken traces with it, and check that the C++ writer produces the very same bytes. For
version 2 it also has a reader of the encoded records (decode_records_v2), so that fuzzing can
give mutated records valid checksums and compare what the core reads with what the document
says."""

from __future__ import annotations

import json
import struct
import zlib

HEADER = struct.Struct("<8sIII12x")
CHUNK_HEADER = struct.Struct("<4sIII")  # version 1
CHUNK_HEADER_V2 = struct.Struct("<4sIIB3sII")  # magic, count, crc, codec, reserved, encoded, stored
TRAILER_BODY = struct.Struct("<4sIQQQIII")  # the 44 bytes the trailer's own CRC covers
RECORD = struct.Struct("<BBHIII")
CHUNK_RECORDS = 65536
OP_CODES = {"alloc": 1, "calloc": 2, "realloc": 3, "free": 4, "foreign_free": 5, "foreign_realloc": 6}
DEFAULT_METADATA = json.dumps({"made_by": "tests"}).encode()

# Version 2.
STORED, ZLIB = 0, 1  # chunk codecs
ZLIB_LEVEL = 1  # what allocbench's writer uses
IMPLIED_ID, KEEPS_ID, RESERVED_BIT = 0x20, 0x40, 0x80  # flags of the tag byte
BIRTHS = (1, 2, 6)  # alloc, calloc, foreign_realloc
U32 = 0xFFFFFFFF


def record(op, id_=0, size=0, arg=0, domain=2) -> bytes:
    return RECORD.pack(OP_CODES.get(op, op), domain, 0, id_, size, arg)


def header_bytes(metadata: bytes, version: int, magic: bytes = b"ABTRACE\0") -> bytes:
    return HEADER.pack(magic, version, len(metadata), zlib.crc32(metadata)) + metadata


def trailer_bytes(op_count: int, chunk_count: int, skipped_ops: int, id_space: int, checksum: int) -> bytes:
    body = TRAILER_BODY.pack(b"TEND", 0, op_count, chunk_count, skipped_ops, id_space, checksum, 0)
    return body + struct.pack("<I", zlib.crc32(body))


def true_id_space(records: list[bytes]) -> int:
    id_space = 0
    for r in records:
        op, _, _, id_, _, arg = RECORD.unpack(r)
        if op in (1, 2, 3, 4):
            id_space = max(id_space, id_ + 1)
        if op in (3, 6):
            id_space = max(id_space, arg + 1)
    return min(id_space, U32)  # what a u32 holds; such an id is refused on reading


def true_skipped_ops(records: list[bytes]) -> int:
    return sum(1 for r in records if r[0] in (5, 6))


def checksum_of(chunk_crcs: list[int]) -> int:
    checksum = 0
    for crc in chunk_crcs:
        checksum = zlib.crc32(struct.pack("<I", crc), checksum)
    return checksum


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
    """The bytes of a version 1 trace holding `records`; keyword arguments override what the
    trailer and header would truthfully say (`version` only changes the header's field)."""
    metadata = DEFAULT_METADATA if metadata is None else metadata
    out = [header_bytes(metadata, version, magic)]
    crcs = []
    chunks = [records[i : i + chunk_records] for i in range(0, len(records), chunk_records)]
    for chunk in chunks:
        body = b"".join(chunk)
        crcs.append(zlib.crc32(body))
        out += [CHUNK_HEADER.pack(b"CHNK", len(chunk), crcs[-1], 0), body]
    id_space = true_id_space(records) if id_space is None else id_space
    skipped_ops = true_skipped_ops(records) if skipped_ops is None else skipped_ops
    out.append(trailer_bytes(len(records), len(chunks), skipped_ops, id_space, checksum_of(crcs)))
    return b"".join(out)


def record_offset(metadata_length: int, op_index: int, chunk_records: int = CHUNK_RECORDS) -> int:
    """Byte offset of record `op_index` in a version 1 trace with that much metadata."""
    chunks_before = op_index // chunk_records + 1
    return HEADER.size + metadata_length + chunks_before * CHUNK_HEADER.size + op_index * RECORD.size


# --- version 2 -----------------------------------------------------------------------------------

class IdPredictor:
    """The recorder's id allocator as docs/trace-format.md describes it: freed ids on a stack,
    a birth takes the top one, or a fresh id."""

    def __init__(self):
        self.free: list[int] = []
        self.fresh = 0

    def predicted(self) -> int:
        return self.free[-1] if self.free else self.fresh

    def born(self, id_: int) -> None:
        if self.free and self.free[-1] == id_:
            self.free.pop()
        elif len(self.free) > 1 and self.free[-2] == id_:
            del self.free[-2]
        elif id_ >= self.fresh:
            self.fresh = id_ + 1

    def released(self, id_: int) -> None:
        if len(self.free) < self.fresh:
            self.free.append(id_)


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def zigzag(difference: int) -> int:
    """A difference of u32 ids, taken modulo 2^32 and read as a signed 32-bit number."""
    d = difference & U32
    signed = d - (1 << 32) if d & 0x80000000 else d
    return (signed << 1) & U32 if signed >= 0 else ((-signed) << 1) - 1


def unzigzag(coded: int) -> int:
    return (coded >> 1) if coded % 2 == 0 else (-(coded >> 1) - 1) & U32


def encode_records_v2(records: list[bytes], ids: IdPredictor) -> bytes:
    """A chunk's records as version 2 encodes them (before compression). Records with an
    unknown op become a bare tag, so that tests can write them."""
    out = bytearray()
    last = 0
    for r in records:
        op, domain, _, id_, size, arg = RECORD.unpack(r)
        tag = (op | domain << 3) & 0xFF
        if op in BIRTHS:
            new = arg if op == 6 else id_
            implied = new == ids.predicted()
            out.append(tag | IMPLIED_ID if implied else tag)
            if not implied:
                out += varint(zigzag(new - last))
            out += varint(size)
            if op == 2:
                out += varint(arg)
            ids.born(new)
            last = new
        elif op == 3:
            keeps = arg == id_
            out.append(tag | KEEPS_ID if keeps else tag)
            out += varint(zigzag(id_ - last)) + varint(size)
            if not keeps:
                out += varint(zigzag(arg - id_))
                ids.born(arg)
                ids.released(id_)
            last = arg
        elif op == 4:
            out.append(tag)
            out += varint(zigzag(id_ - last))
            ids.released(id_)
            last = id_
        else:
            out.append(tag)
    return bytes(out)


class DecodeError(ValueError):
    """What the document says a reader must refuse in a chunk's encoded records."""


def decode_records_v2(data: bytes, count: int, ids: IdPredictor) -> list[bytes]:
    """The `count` records of a chunk's encoded bytes; DecodeError where the document says
    the bytes are not a valid encoding."""
    position = 0

    def take_varint() -> int:
        nonlocal position
        value = 0
        for k in range(5):
            if position == len(data):
                raise DecodeError("the encoded records end early")
            b = data[position]
            position += 1
            value |= (b & 0x7F) << (7 * k)
            if b < 0x80:
                if b == 0 and k > 0:
                    raise DecodeError("a varint is not in its shortest form")
                if value > U32:
                    raise DecodeError("a varint is above 2^32-1")
                return value
        raise DecodeError("a varint is longer than 5 bytes")

    out = []
    last = 0
    for _ in range(count):
        if position == len(data):
            raise DecodeError("the encoded records end early")
        tag = data[position]
        position += 1
        op, domain = tag & 7, tag >> 3 & 3
        if op not in OP_CODES.values():
            raise DecodeError(f"unknown op {op}")
        if domain > 2:
            raise DecodeError(f"unknown domain {domain}")
        if tag & RESERVED_BIT:
            raise DecodeError("reserved bit")
        if tag & IMPLIED_ID and op not in BIRTHS or tag & KEEPS_ID and op != 3:
            raise DecodeError("a flag on an op that does not take it")
        id_ = size = arg = 0
        if op in BIRTHS:
            predicted = ids.predicted()
            if tag & IMPLIED_ID:
                if predicted > U32:
                    raise DecodeError("an implied id above 2^32-1")
                new = predicted
            else:
                new = (last + unzigzag(take_varint())) & U32
                if new == predicted:
                    raise DecodeError("an id written out that the tag should imply")
            size = take_varint()
            if op == 2:
                arg = take_varint()
            if op == 6:
                arg = new
            else:
                id_ = new
            ids.born(new)
            last = new
        elif op == 3:
            id_ = (last + unzigzag(take_varint())) & U32
            size = take_varint()
            arg = id_
            if not tag & KEEPS_ID:
                arg = (id_ + unzigzag(take_varint())) & U32
                if arg == id_:
                    raise DecodeError("a new id equal to the old one, written out")
                ids.born(arg)
                ids.released(id_)
            last = arg
        elif op == 4:
            id_ = (last + unzigzag(take_varint())) & U32
            ids.released(id_)
            last = id_
        out.append(RECORD.pack(op, domain, 0, id_, size, arg))
    if position != len(data):
        raise DecodeError("bytes follow the last record")
    return out


def chunk_v2(count: int, crc: int, encoded: bytes, *, codec: int | None = None, stored: bytes | None = None,
             encoded_bytes: int | None = None, reserved: bytes = b"\0\0\0") -> bytes:
    """One version 2 chunk: its header and stored bytes. By default the encoded records are
    compressed at the writer's level when that makes them smaller (as allocbench's writer
    does), stored as they are otherwise; keyword arguments override any field."""
    if stored is None:
        compressed = zlib.compress(encoded, ZLIB_LEVEL)
        if codec is None:
            codec = ZLIB if len(compressed) < len(encoded) else STORED
        stored = compressed if codec == ZLIB else encoded
    elif codec is None:
        codec = ZLIB
    encoded_bytes = len(encoded) if encoded_bytes is None else encoded_bytes
    return CHUNK_HEADER_V2.pack(b"CHNK", count, crc, codec, reserved, encoded_bytes, len(stored)) + stored


def trace_v2_from_chunks(chunks: list[bytes], crcs: list[int], records: list[bytes], metadata: bytes | None = None, *,
                         op_count: int | None = None, chunk_count: int | None = None, id_space: int | None = None,
                         skipped_ops: int | None = None, version: int = 2) -> bytes:
    """A version 2 file around ready-made chunks; the trailer tells the truth about `records`
    unless told otherwise."""
    metadata = DEFAULT_METADATA if metadata is None else metadata
    trailer = trailer_bytes(
        len(records) if op_count is None else op_count,
        len(chunks) if chunk_count is None else chunk_count,
        true_skipped_ops(records) if skipped_ops is None else skipped_ops,
        true_id_space(records) if id_space is None else id_space,
        checksum_of(crcs),
    )
    return header_bytes(metadata, version) + b"".join(chunks) + trailer


def trace_bytes_v2(records: list[bytes], metadata: bytes | None = None, *, chunk_records: int = CHUNK_RECORDS,
                   codec: int | None = None, **trailer) -> bytes:
    """The bytes of a version 2 trace holding `records`, as allocbench's writer makes them
    (chunks compressed when that makes them smaller, unless `codec` says which); keyword
    arguments of trace_v2_from_chunks override the trailer."""
    ids = IdPredictor()
    chunks, crcs = [], []
    for start in range(0, len(records), chunk_records):
        chunk = records[start : start + chunk_records]
        crcs.append(zlib.crc32(b"".join(chunk)))
        chunks.append(chunk_v2(len(chunk), crcs[-1], encode_records_v2(chunk, ids), codec=codec))
    return trace_v2_from_chunks(chunks, crcs, records, metadata, **trailer)
