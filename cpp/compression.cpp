// compression.cpp — zlib through its stable one-shot C ABI, declared here. See compression.h.
//
// Owns the declarations of the zlib functions allocbench calls, exactly as zlib.h declares
// them on LP64 systems (Bytef is unsigned char, uLong and uLongf unsigned long) and the
// return codes they use, which zlib has kept since 1.0. uncompress2 (zlib 1.2.9, 2017) is
// used rather than uncompress because it says how much input the stream took: bytes after
// the stream are refused, so that a chunk is read exactly as it was written.
#include "compression.h"

#include <limits>

extern "C" {
unsigned long compressBound(unsigned long source_length);
int compress2(unsigned char* dest, unsigned long* dest_length, const unsigned char* source,
              unsigned long source_length, int level);
int uncompress2(unsigned char* dest, unsigned long* dest_length, const unsigned char* source,
                unsigned long* source_length);
const char* zlibVersion(void);
}

namespace allocbench {

namespace {

// zlib.h's return codes.
constexpr int kZlibOk = 0;
constexpr int kZlibDataError = -3;
constexpr int kZlibMemoryError = -4;
constexpr int kZlibBufferError = -5;

static_assert(sizeof(unsigned long) == sizeof(size_t), "zlib's uLong is size_t wide on LP64");

}  // namespace

std::string zlib_compress(const uint8_t* input, size_t length, int level, std::vector<uint8_t>& output) {
  unsigned long produced = compressBound(length);
  output.resize(produced);
  const int status = compress2(output.data(), &produced, input, length, level);
  if (status != kZlibOk) {
    output.clear();
    return status == kZlibMemoryError ? "zlib is out of memory" : "zlib failed (status " + std::to_string(status) + ")";
  }
  output.resize(produced);
  return {};
}

std::string zlib_decompress(const uint8_t* input, size_t length, uint8_t* output, size_t output_length) {
  unsigned long produced = output_length;
  unsigned long consumed = length;
  const int status = uncompress2(output, &produced, input, &consumed);
  switch (status) {
    case kZlibOk: break;
    case kZlibBufferError: return "decompresses to more than " + std::to_string(output_length) + " bytes";
    case kZlibDataError: return "not a valid zlib stream (corrupt, or cut short)";
    case kZlibMemoryError: return "zlib is out of memory";
    default: return "zlib failed (status " + std::to_string(status) + ")";
  }
  if (produced != output_length)
    return "decompresses to " + std::to_string(produced) + " bytes, not " + std::to_string(output_length);
  if (consumed != length) return std::to_string(length - consumed) + " bytes follow the zlib stream";
  return {};
}

std::string zlib_version() { return zlibVersion(); }

}  // namespace allocbench
