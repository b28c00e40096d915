"""How memray's records become trace ops (allocbench.memray_import), record by record: a realloc
is memray's FREE then REALLOC on one thread, a realloc of NULL its REALLOC alone, blocks from
before the capture give foreign ops, blocks too large for a record are left out. The records
are given as memray's reader gives them (its AllocatorType and fields), in a list."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from allocbench.memray_import import LARGEST_RECORDABLE, _convert
from allocbench.trace import OP_NAMES, Trace

memray = pytest.importorskip("memray")
KIND = memray.AllocatorType


@dataclass
class Record:  # the fields of memray's AllocationRecord that the import reads
    allocator: int
    address: int
    size: int = 0
    tid: int = 1


class Reader:
    def __init__(self, records):
        self.records = records

    def get_allocation_records(self):
        return iter(self.records)


def convert(tmp_path, records, expected=None):
    path = tmp_path / "t.abt"
    summary = _convert(memray, Reader(records), tmp_path / "capture.bin", path, {"test": True}, expected)
    ops = [(OP_NAMES[int(r["op"])], int(r["id"]), int(r["size"]), int(r["arg"]))
           for _, chunk in Trace(path).chunks() for r in chunk]
    return ops, summary, Trace(path).metadata


def test_malloc_calloc_free_by_id_ids_recycled_last_freed_first(tmp_path):
    ops, summary, _ = convert(tmp_path, [
        Record(KIND.PYMALLOC_MALLOC, 0x1000, 32), Record(KIND.PYMALLOC_CALLOC, 0x2000, 64),
        Record(KIND.PYMALLOC_FREE, 0x1000), Record(KIND.PYMALLOC_MALLOC, 0x3000, 16),
        Record(KIND.PYMALLOC_FREE, 0x2000), Record(KIND.PYMALLOC_FREE, 0x3000),
    ])
    assert ops == [("alloc", 0, 32, 0), ("calloc", 1, 64, 1), ("free", 0, 0, 0), ("alloc", 0, 16, 0),
                   ("free", 1, 0, 0), ("free", 0, 0, 0)]
    assert summary.ops == 6 and summary.records == 6


def test_free_then_realloc_on_one_thread_is_one_realloc_keeping_the_id(tmp_path):
    ops, _, _ = convert(tmp_path, [
        Record(KIND.PYMALLOC_MALLOC, 0x1000, 32),
        Record(KIND.PYMALLOC_FREE, 0x1000), Record(KIND.PYMALLOC_REALLOC, 0x5000, 600),
        Record(KIND.PYMALLOC_FREE, 0x5000), Record(KIND.PYMALLOC_REALLOC, 0x5000, 700),  # in place
        Record(KIND.PYMALLOC_FREE, 0x5000),
    ])
    assert ops == [("alloc", 0, 32, 0), ("realloc", 0, 600, 0), ("realloc", 0, 700, 0), ("free", 0, 0, 0)]


def test_free_then_realloc_to_the_size_the_block_had_is_a_free_and_an_alloc(tmp_path):
    # The re module's matcher: free(stack) ends one match, realloc(NULL, same size) starts the next.
    ops, _, _ = convert(tmp_path, [
        Record(KIND.PYMALLOC_REALLOC, 0x1000, 1024),
        Record(KIND.PYMALLOC_FREE, 0x1000), Record(KIND.PYMALLOC_REALLOC, 0x1000, 1024),
        Record(KIND.PYMALLOC_FREE, 0x1000),
    ])
    assert ops == [("alloc", 0, 1024, 0), ("free", 0, 0, 0), ("alloc", 0, 1024, 0), ("free", 0, 0, 0)]


def test_realloc_of_null_is_an_alloc_and_another_thread_does_not_break_a_pair(tmp_path):
    ops, _, _ = convert(tmp_path, [
        Record(KIND.PYMALLOC_REALLOC, 0x1000, 24),  # realloc(NULL, 24)
        Record(KIND.PYMALLOC_FREE, 0x1000, tid=1),
        Record(KIND.PYMALLOC_MALLOC, 0x9000, 8, tid=2),  # another thread, between the pair's records
        Record(KIND.PYMALLOC_REALLOC, 0x2000, 48, tid=1),
        Record(KIND.PYMALLOC_FREE, 0x9000, tid=2), Record(KIND.PYMALLOC_FREE, 0x2000, tid=1),
    ])
    assert ops == [("alloc", 0, 24, 0), ("alloc", 1, 8, 0), ("realloc", 0, 48, 0), ("free", 1, 0, 0), ("free", 0, 0, 0)]


def test_blocks_from_before_the_capture_give_foreign_ops(tmp_path):
    ops, summary, metadata = convert(tmp_path, [
        Record(KIND.PYMALLOC_FREE, 0x7000),  # never seen allocated
        Record(KIND.PYMALLOC_MALLOC, 0x1000, 32),
        Record(KIND.PYMALLOC_FREE, 0x8000), Record(KIND.PYMALLOC_REALLOC, 0x2000, 100),  # a realloc of one
        Record(KIND.PYMALLOC_FREE, 0x1000), Record(KIND.PYMALLOC_FREE, 0x2000),
    ])
    assert ops == [("foreign_free", 0, 0, 0), ("alloc", 0, 32, 0), ("foreign_realloc", 0, 100, 1),
                   ("free", 0, 0, 0), ("free", 1, 0, 0)]
    assert metadata["ops_skipped"]["foreign_free"] == 1 and metadata["ops_skipped"]["foreign_realloc"] == 1
    assert summary.by_op["foreign_free"] == 1


def test_other_allocators_null_frees_failed_and_oversize_blocks_are_counted_not_imported(tmp_path):
    ops, summary, metadata = convert(tmp_path, [
        Record(KIND.MALLOC, 0x1000, 32), Record(KIND.MMAP, 0x200000, 1 << 20),
        Record(KIND.PYMALLOC_FREE, 0), Record(KIND.PYMALLOC_MALLOC, 0, 64),
        Record(KIND.PYMALLOC_MALLOC, 0x3000, LARGEST_RECORDABLE + 1), Record(KIND.PYMALLOC_FREE, 0x3000),
        Record(KIND.PYMALLOC_MALLOC, 0x4000, 16), Record(KIND.PYMALLOC_FREE, 0x4000),
    ])
    assert ops == [("alloc", 0, 16, 0), ("free", 0, 0, 0)]
    assert summary.not_python_allocator == 2
    assert summary.skipped == {"oversize": 2, "failed_allocation": 1, "free_of_null": 1}
    assert metadata["memray_records"] == {"total": 8, "not_python_allocator": 2}


def test_a_block_whose_free_escaped_is_freed_when_its_address_comes_back(tmp_path):
    ops, _, _ = convert(tmp_path, [Record(KIND.PYMALLOC_MALLOC, 0x1000, 32), Record(KIND.PYMALLOC_MALLOC, 0x1000, 48)])
    assert ops == [("alloc", 0, 32, 0), ("free", 0, 0, 0), ("alloc", 0, 48, 0)]


def test_more_records_than_a_chunk(tmp_path):
    records = []
    for i in range(40_000):
        records += [Record(KIND.PYMALLOC_MALLOC, 0x1000 + 16 * i, 8), Record(KIND.PYMALLOC_FREE, 0x1000 + 16 * i)]
    ops, summary, _ = convert(tmp_path, records)
    assert summary.ops == len(ops) == 80_000 and {op[1] for op in ops} == {0}


def test_fewer_records_than_the_header_counts_is_refused(tmp_path):
    from allocbench.errors import UsageError

    with pytest.raises(UsageError, match="truncated capture: its header counts 3 records, the file holds 2"):
        convert(tmp_path, [Record(KIND.PYMALLOC_MALLOC, 0x1000, 8), Record(KIND.PYMALLOC_FREE, 0x1000)], expected=3)
    with pytest.raises(UsageError, match="holds no Python-allocator records"):
        convert(tmp_path, [Record(KIND.MALLOC, 0x1000, 8)])
