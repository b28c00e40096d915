// trace_record.h — one allocator operation of a trace, as every layer sees it once read.
//
// Owns the record type, its ops and domains. It is the 16-byte record of trace format
// version 1 (docs/trace-format.md), which is also what a reader of any version hands out and
// what the chunk CRCs of every version cover; how records lie in a file is trace_format's
// business (and, for version 2, trace_codec's).
//
// Record (16 bytes, little endian):  op u8 | domain u8 | reserved u16 | id u32 | size u32 | arg u32
//   alloc            id = new id, size = bytes
//   calloc           id = new id, size = element count, arg = element size
//   realloc          id = old id, size = new bytes, arg = new id (may equal the old id)
//   free             id
//   foreign_free     a free of a block allocated before recording started: skipped on replay
//   foreign_realloc  a realloc of such a block: replayed as alloc(arg = new id, size)
#pragma once

#include <cstdint>

namespace allocbench {

enum class TraceOp : uint8_t {
  alloc = 1,
  calloc = 2,
  realloc = 3,
  free = 4,
  foreign_free = 5,
  foreign_realloc = 6,
};

enum class TraceDomain : uint8_t { raw = 0, mem = 1, obj = 2 };

// Whether a byte is an op of the format (the ops are numbered without gaps).
constexpr bool is_trace_op(uint8_t op) {
  return op >= static_cast<uint8_t>(TraceOp::alloc) && op <= static_cast<uint8_t>(TraceOp::foreign_realloc);
}

// "alloc", "calloc", ...; nullptr for a byte that is no op.
const char* trace_op_name(uint8_t op);

struct TraceRecord {
  uint8_t op;
  uint8_t domain;
  uint16_t reserved;
  uint32_t id;
  uint32_t size;
  uint32_t arg;
};
static_assert(sizeof(TraceRecord) == 16, "trace records are 16 bytes");

}  // namespace allocbench
