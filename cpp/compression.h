// compression.h — general-purpose compression of byte buffers: zlib, one shot.
//
// Owns the one place that reaches zlib. allocbench does not include zlib.h (a fresh machine
// has the runtime library, libz.so.1, which dpkg itself depends on, but not the -dev headers):
// compression.cpp declares the few functions of zlib's stable C ABI it calls and the build
// links them by soname (-l:libz.so.1). Only one-shot calls are used, so no zlib structure
// layout is ever assumed.
//
// Invariants: these functions never read outside `input` or write outside `output`; a
// decompression succeeds only when the input is one whole zlib stream (its Adler-32 checked)
// that fills `output` exactly, with nothing after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace allocbench {

// The largest expansion deflate can achieve: no zlib stream of n bytes decompresses to more
// than kDeflateMaxRatio * n bytes (a 258-byte match costs at least 2 bits). Readers use it to
// bound a claimed decompressed size by the bytes actually stored, before decompressing.
inline constexpr uint64_t kDeflateMaxRatio = 1032;

// Compresses `input` as one zlib stream (RFC 1950: default window and memory level, the
// settings of Python's zlib.compress) at `level` (1..9) into `output`, replacing its content.
// Returns an empty string, or what went wrong (zlib out of memory).
std::string zlib_compress(const uint8_t* input, size_t length, int level, std::vector<uint8_t>& output);

// Decompresses `input`, which must be exactly one zlib stream, into exactly `output_length`
// bytes at `output`. Returns an empty string, or what is wrong with the input ("not a valid
// zlib stream", "decompresses to more than N bytes", "ends before its stream does", ...).
std::string zlib_decompress(const uint8_t* input, size_t length, uint8_t* output, size_t output_length);

// The version of the zlib library loaded ("1.2.13").
std::string zlib_version();

}  // namespace allocbench
