"""The trace format's CRC-32 (cpp/checksum.h): both of its paths, the carry-less folding one
and the table one, give zlib.crc32's value for every length, alignment and starting CRC."""

from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocbench import _core

PATHS = {"crc32": _core.crc32, "table": _core.crc32_by_table}


@pytest.mark.parametrize("path", PATHS)
@given(data=st.binary(max_size=2000), start=st.integers(0, 2**32 - 1), offset=st.integers(0, 15))
@settings(max_examples=300)
def test_every_path_matches_zlib(path, data, start, offset):
    shifted = bytes(offset) + data  # the same bytes at another alignment in memory
    assert PATHS[path](memoryview(shifted)[offset:], start) == zlib.crc32(data, start)


@pytest.mark.parametrize("length", [0, 1, 15, 16, 63, 64, 65, 79, 80, 127, 128, 129, 4096, 65536 * 16 + 7])
def test_lengths_around_the_fold_boundaries(length):
    data = os.urandom(length)
    assert _core.crc32(data) == _core.crc32_by_table(data) == zlib.crc32(data)


def test_a_crc_continues_across_pieces():
    data = os.urandom(10_000)
    crc = 0
    for start in range(0, len(data), 777):
        crc = _core.crc32(data[start:start + 777], crc)
    assert crc == zlib.crc32(data)


def test_this_machine_takes_the_folding_path_where_it_can():
    flags = open("/proc/cpuinfo").read().split() if os.path.exists("/proc/cpuinfo") else []
    if os.uname().machine != "x86_64" or "pclmulqdq" not in flags:
        pytest.skip("no PCLMULQDQ here: the table path is the only one")
    assert _core.crc32_uses_clmul()
