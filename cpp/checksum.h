// checksum.h — CRC-32 (the zlib / IEEE 802.3 polynomial, reflected; Python's zlib.crc32).
//
// Owns the one checksum of the trace format (docs/trace-format.md): headers, chunks and the
// trailer all use it. A recording checksums every record it writes (16 bytes an op, in the
// program's time), so speed matters: on x86-64 processors with carry-less multiplication
// (PCLMULQDQ, every one since 2010) whole 16-byte blocks are folded 64 bytes at a time, about
// ten times the speed of the table; the table (slicing-by-16) does the rest, and everything
// elsewhere.
//
// Invariant: crc32() gives the same value on every path, for every length and alignment
// (tests/unit/test_checksum.py compares both paths with zlib.crc32).
#pragma once

#include <cstddef>
#include <cstdint>

namespace allocbench {

// CRC-32 of `length` bytes, continuing from `crc` (the CRC of what came before, 0 at first).
uint32_t crc32(const void* data, size_t length, uint32_t crc = 0);

// The same with the table alone: the path a processor without PCLMULQDQ takes.
uint32_t crc32_by_table(const void* data, size_t length, uint32_t crc = 0);

// Whether crc32() folds with carry-less multiplication on this processor.
bool crc32_uses_clmul();

}  // namespace allocbench
