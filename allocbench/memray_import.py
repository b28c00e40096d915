"""A memray capture as an allocbench trace: `import_capture()`, which `allocbench import
memray` calls.

memray (`pip install 'allocbench[memray]'`) records, with `memray run --trace-python-allocators`,
every call of the Python allocator domains as a record of its own reader's API
(`memray.FileReader(...).get_allocation_records()`): PYMALLOC_MALLOC and PYMALLOC_CALLOC (the
block's address and its size in bytes), PYMALLOC_FREE (an address; no size), and a realloc as
two records of one thread, PYMALLOC_FREE of the old address then PYMALLOC_REALLOC of the new
one (a realloc of NULL is the second alone). The import turns them into trace ops by block id,
as `allocbench record` does: ids recycled last-freed-first, a free or realloc of a block
allocated before the capture began written as a foreign op, a block of 2^32 bytes or more
left out and counted. Records of other allocators (libc's malloc, mmap) are counted, not
imported.

What a capture cannot say, and what the import does about it:
  * the domain: memray hooks RAW, MEM and OBJ alike and records none of them, so every op is
    written in the obj domain, and the metadata says so (RAW calls, a few hundred in a
    program, are in the trace; `record` leaves them out);
  * a free followed by an unrelated realloc(NULL) on the same thread reads like one realloc
    (the re module's matcher does this once a match: it frees its stack, and the next match
    grows one from NULL). A pair whose new size is the size the freed block had is imported as
    a free and an alloc: a realloc to the size a block already has changes nothing, and
    CPython's resizers return before calling it. Other pairs are imported as one realloc;
    either way the live set is the same after the pair;
  * memray's tracker runs a profile function, and on CPython 3.11 every Python call then
    allocates a frame object: a capture holds 1.1 to 2.5 times the ops of the program run
    plainly. `allocbench record --empty-profile-function` records a program the same way.

A capture that ends early reads, through memray's reader, as a shorter valid one. So the
import checks the file's own counts first: an lz4-compressed capture (memray's default) must
end with the end mark of its lz4 frame, and an uncompressed one must hold as many records as
its header says it does (the header of a capture whose tracker was killed never got its
count).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import allocbench
from allocbench import _core
from allocbench.errors import UsageError
from allocbench.outputs import check_input_file, check_output_file
from allocbench.trace import DOMAINS, OPS, RECORD_DTYPE

INSTALL_HINT = "pip install 'allocbench[memray]'"
HOW_TO_CAPTURE = "memray run --trace-python-allocators -o CAPTURE.bin SCRIPT.py"
LARGEST_RECORDABLE = (1 << 32) - 1  # a record's size field
# Room for the counts written into the metadata once the import has seen every record.
ROOM_FOR_COUNTS = 4096

# The LZ4 frame format (lz4's doc/lz4_Frame_format.md): magic, then FLG and BD bytes, the
# optional content size, the header checksum; blocks of a 4-byte size (the high bit: stored
# uncompressed) with an optional checksum; a zero size as the end mark; an optional checksum.
LZ4_MAGIC = b"\x04\x22\x4d\x18"
# memray's uncompressed file: this magic, then a header whose counts sit at HEADER_COUNTS
# for the header versions listed (n_allocations first, as a little-endian u64).
MEMRAY_MAGIC = b"memray\x00"
HEADER_VERSION_AT = len(MEMRAY_MAGIC)
HEADER_COUNTS_AT = {13: 17}


@dataclass(frozen=True)
class ImportSummary:
    """What became of a capture's records."""

    records: int  # all records the reader gave
    ops: int  # ops written to the trace
    by_op: dict  # trace op name -> count
    not_python_allocator: int  # records of libc's allocator, mmap, ...: not imported
    skipped: dict  # why some Python-allocator records are not ops: reason -> count


def import_capture(capture: Path, output: Path) -> ImportSummary:
    """Converts the memray capture into a trace at `output` (written under a temporary name
    and renamed when complete). Raises UsageError, one line, for anything that is not a
    whole capture with Python-allocator records."""
    capture = check_input_file(Path(capture), what="memray capture")
    output = check_output_file(Path(output), [capture], what="trace")
    try:
        import memray
    except ImportError:
        raise UsageError(f"memray is not installed: {INSTALL_HINT}") from None
    expected = _check_complete(capture)
    # memray's reader logs what it cannot read to stderr as it goes; the import says what is
    # wrong itself, in one line (the counts above and below).
    memray.set_log_level(logging.CRITICAL)
    reader = _open(memray, capture)
    metadata = reader.metadata
    if metadata.file_format.name != "ALL_ALLOCATIONS":
        raise UsageError(f"{capture}: an aggregated capture (memray run --aggregate) has no record of each call; "
                         f"capture again with: {HOW_TO_CAPTURE}")
    if not metadata.trace_python_allocators:
        raise UsageError(f"{capture}: captured without --trace-python-allocators, so it holds no Python-allocator "
                         f"records; capture with: {HOW_TO_CAPTURE}")
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        summary = _convert(memray, reader, capture, partial, _trace_metadata(memray, capture, metadata), expected)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return summary


def _open(memray, capture: Path):
    try:
        return memray.FileReader(os.fsdecode(capture))
    except (OSError, ValueError, RuntimeError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise UsageError(f"{capture}: not a memray capture memray {memray.__version__} can read ({reason})") from None


def _check_complete(capture: Path) -> int | None:
    """The record count an uncompressed capture's header promises (None when the file does
    not say: then it is lz4, checked here to its end mark, or not memray's at all, which the
    reader refuses)."""
    with capture.open("rb") as file:
        head = file.read(64)
        if head.startswith(LZ4_MAGIC):
            problem = _lz4_frame_problem(file, head)
            if problem:
                raise UsageError(f"{capture}: truncated or corrupt capture: {problem}")
            return None
    if not head.startswith(MEMRAY_MAGIC) or len(head) < HEADER_VERSION_AT + 4:
        return None
    version = struct.unpack_from("<I", head, HEADER_VERSION_AT)[0]
    counts_at = HEADER_COUNTS_AT.get(version)
    if counts_at is None or len(head) < counts_at + 8:
        return None
    count = struct.unpack_from("<Q", head, counts_at)[0]
    if count == 0:
        raise UsageError(f"{capture}: the capture never finished (its header has no record count: was memray killed?)")
    return count


def _lz4_frame_problem(file, head: bytes) -> str | None:
    """Walks the LZ4 frame's blocks to its end mark without decompressing; what is wrong,
    or None."""
    size = os.fstat(file.fileno()).st_size
    if len(head) < 7:
        return "the lz4 frame header is cut short"
    flags = head[4]
    block_checksums, content_size, content_checksum = flags & 0x10, flags & 0x08, flags & 0x04
    position = 4 + 2 + (8 if content_size else 0) + (4 if flags & 0x01 else 0) + 1
    while True:
        if position + 4 > size:
            return f"the lz4 stream ends at byte {size} without its end mark"
        file.seek(position)
        word = struct.unpack("<I", file.read(4))[0]
        position += 4
        if word == 0:
            break
        position += (word & 0x7FFFFFFF) + (4 if block_checksums else 0)
        if position > size:
            return f"an lz4 block runs past the end of the file ({size} bytes)"
    if position + (4 if content_checksum else 0) > size:
        return "the lz4 content checksum is cut short"
    return None


def _trace_metadata(memray, capture: Path, metadata) -> dict:
    return {
        "imported_from": "memray",
        "memray_version": memray.__version__,
        "capture": os.fsdecode(capture.name),
        "command": metadata.command_line,
        "python_allocator": metadata.python_allocator,
        "domains": ["raw", "mem", "obj"],
        "domain_note": "memray does not record the domain of a call: every op is written in the obj domain",
        "capture_started": metadata.start_time.isoformat(timespec="seconds"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "allocbench_version": allocbench.__version__,
    }


class _Ops:
    """The trace being written: ids by address, ids recycled last-freed-first, records
    buffered a chunk at a time."""

    def __init__(self, writer):
        self.writer = writer
        self.ids: dict[int, int] = {}  # address of a live block -> its id
        self.sizes: dict[int, int] = {}  # address of a live block -> its size
        self.oversize: set[int] = set()  # addresses of live blocks too large for a record
        self.free_ids: list[int] = []
        self.id_space = 0
        self.rows: list[tuple] = []
        self.by_op = {name: 0 for name in ("alloc", "calloc", "realloc", "free", "foreign_free", "foreign_realloc")}
        self.skipped = {"oversize": 0, "failed_allocation": 0, "free_of_null": 0}

    def emit(self, op: str, block: int, size: int, arg: int) -> None:
        self.by_op[op] += 1
        self.rows.append((OPS[op], DOMAINS["obj"], 0, block, size, arg))
        if len(self.rows) == _core.TRACE_CHUNK_RECORDS:  # a chunk of the file at a time
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.append_records(np.array(self.rows, dtype=RECORD_DTYPE))
            self.rows = []

    def new_id(self) -> int:
        if self.free_ids:
            return self.free_ids.pop()
        self.id_space += 1
        return self.id_space - 1

    def release(self, address: int) -> int | None:
        """Frees the block at `address` in the trace; its id, or None when it was not known."""
        block = self.ids.pop(address, None)
        if block is not None:
            del self.sizes[address]
            self.emit("free", block, 0, 0)
            self.free_ids.append(block)
        return block

    def birth(self, op: str, address: int, size: int) -> None:
        """A block appears at `address` (alloc, calloc, or the new block of a foreign realloc)."""
        self.release(address)  # a block still live there was freed where memray did not see it
        self.oversize.discard(address)
        if size > LARGEST_RECORDABLE:
            self.skipped["oversize"] += 1
            self.oversize.add(address)
            return
        block = self.new_id()
        self.ids[address] = block
        self.sizes[address] = size
        if op == "foreign_realloc":
            self.emit(op, 0, size, block)
        elif op == "calloc":
            self.emit(op, block, size, 1)  # memray keeps the bytes, not the element count
        else:
            self.emit(op, block, size, 0)

    def free(self, address: int) -> None:
        if address in self.oversize:
            self.oversize.discard(address)
            self.skipped["oversize"] += 1
        elif self.release(address) is None:
            self.emit("foreign_free", 0, 0, 0)

    def realloc(self, old: int, address: int, size: int) -> None:
        """memray's FREE of `old` then REALLOC of `address` on one thread."""
        if old in self.oversize or size > LARGEST_RECORDABLE or self.sizes.get(old) == size:
            self.free(old)  # (same size: a free, then a realloc of NULL; see the module's doc)
            self.birth("alloc", address, size)
            return
        block = self.ids.pop(old, None)
        if block is None:
            self.birth("foreign_realloc", address, size)
            return
        del self.sizes[old]
        self.release(address)  # (a stale block there: see birth)
        self.ids[address] = block
        self.sizes[address] = size
        self.emit("realloc", block, size, block)


def _convert(memray, reader, capture: Path, partial: Path, metadata: dict, expected: int | None) -> ImportSummary:
    kinds = memray.AllocatorType
    malloc, calloc, realloc, free = (kinds.PYMALLOC_MALLOC, kinds.PYMALLOC_CALLOC, kinds.PYMALLOC_REALLOC,
                                     kinds.PYMALLOC_FREE)
    text = json.dumps(metadata)
    writer = _core.TraceWriter(partial, text, len(text.encode()) + ROOM_FOR_COUNTS)
    ops = _Ops(writer)
    pending_free: dict[int, int] = {}  # thread -> a free whose thread's next record may be its realloc
    records = other = 0
    for record in reader.get_allocation_records():
        records += 1
        kind, thread, address = record.allocator, record.tid, record.address
        if kind not in (malloc, calloc, realloc, free):
            other += 1
            continue
        if kind != realloc and thread in pending_free:
            ops.free(pending_free.pop(thread))
        if kind == free:
            if address == 0:
                ops.skipped["free_of_null"] += 1
            else:
                pending_free[thread] = address
        elif address == 0:
            ops.skipped["failed_allocation"] += 1
            if kind == realloc and thread in pending_free:
                ops.free(pending_free.pop(thread))
        elif kind == realloc:
            old = pending_free.pop(thread, None)
            if old is None:
                ops.birth("alloc", address, record.size)  # realloc(NULL, n)
            else:
                ops.realloc(old, address, record.size)
        else:
            ops.birth("alloc" if kind == malloc else "calloc", address, record.size)
    for address in pending_free.values():
        ops.free(address)
    if expected is not None and records != expected:
        raise UsageError(f"{capture}: truncated capture: its header counts {expected:,} records, the file holds {records:,}")
    if not any(ops.by_op.values()):
        raise UsageError(f"{capture}: the capture holds no Python-allocator records; capture with: {HOW_TO_CAPTURE}")
    ops.flush()
    metadata.update(
        ops_skipped={"foreign_free": ops.by_op["foreign_free"], "foreign_realloc": ops.by_op["foreign_realloc"],
                     **ops.skipped},
        memray_records={"total": records, "not_python_allocator": other},
    )
    writer.rewrite_metadata(json.dumps(metadata))
    writer.close()
    return ImportSummary(records=records, ops=writer.summary["op_count"], by_op=dict(ops.by_op), not_python_allocator=other,
                         skipped=dict(ops.skipped))
