// trace_codec.h — version 2's compact encoding of trace records (docs/trace-format.md,
// "Version 2: records"): what a chunk's records become before general compression.
//
// Each record is a tag byte (op, domain, two flags) and the fields its op uses, as varints;
// ids are zigzag-coded differences from the id before them, and the id a birth (alloc, calloc,
// foreign realloc) gets is left out when it is the one the recorder's own id allocator would
// hand out next (IdPredictor), which is nearly always. It sits under trace_format, which owns
// the file around the records (headers, chunk framing, CRCs, compression): this layer knows
// the record type (trace_record.h) and the bytes of records, nothing of files.
//
// Invariants:
//   * decode_records() reads nothing outside [data, data + length) and writes exactly the
//     `count` records it is asked for, or returns the problem (and the index of the record)
//     that stops it; it never allocates from a count it was given;
//   * the encoding is canonical: every record sequence has exactly one encoding, and
//     decode_records() refuses any other bytes (an over-long varint, an id written out that
//     the tag could have implied), so that encoding what was decoded gives the same bytes;
//   * an IdPredictor holds at most one entry per id it has seen born (its memory follows the
//     ids in use, not the number of ops), and encoder and decoder update it identically.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trace_record.h"

namespace allocbench {

// An encoded record takes at most this many bytes: a tag and three varints of 5 bytes.
inline constexpr size_t kMaxEncodedRecordBytes = 16;

// The recorder's id allocator (recorder.cpp, generators.cpp), played alongside the records:
// a freed id is pushed on a stack and the next birth takes the top one, or a fresh id when the
// stack is empty. A birth whose id is the predicted one is written without it.
class IdPredictor {
 public:
  // The id the next birth gets from the recorder; 2^32 once every u32 id has been born.
  uint64_t predicted() const { return free_.empty() ? fresh_ : free_.back(); }
  void born(uint32_t id);
  void released(uint32_t id);
  void reset();

 private:
  std::vector<uint32_t> free_;  // LIFO; at most fresh_ entries
  uint64_t fresh_ = 0;          // above every id born so far
};

// Empty when version 2 can hold the record (a field its op does not use is zero: version 1
// kept such fields but never gave them a meaning); else what it carries that v2 cannot.
// The record must be valid otherwise (a known op and domain, reserved bytes zero).
std::string version2_problem(const TraceRecord& record);
inline bool fits_version2(const TraceRecord& r) {
  switch (static_cast<TraceOp>(r.op)) {
    case TraceOp::alloc: return r.arg == 0;
    case TraceOp::calloc:
    case TraceOp::realloc: return true;
    case TraceOp::free: return r.size == 0 && r.arg == 0;
    case TraceOp::foreign_free: return r.id == 0 && r.size == 0 && r.arg == 0;
    case TraceOp::foreign_realloc: return r.id == 0;
  }
  return false;
}

// Encodes a trace's records chunk by chunk, each chunk a piece at a time (the recorder hands
// over a few thousand records at once, and encoding them while they are in the cache is what
// keeps its cost low). The id predictor spans the whole trace; the id each id is coded against
// starts at 0 in every chunk, so that a chunk decodes knowing only the predictor.
class RecordEncoder {
 public:
  // Writes the encoding of `count` records (each valid and fitting version 2) at `out`, which
  // has room for count * kMaxEncodedRecordBytes bytes; returns the number of bytes written.
  size_t encode(const TraceRecord* records, size_t count, uint8_t* out);
  void start_chunk() { last_ = 0; }

 private:
  IdPredictor ids_;
  uint32_t last_ = 0;  // the id the next id is coded against
};

struct DecodeProblem {
  size_t record;     // index of the record, within the ones asked for, where decoding stopped
  std::string what;  // "varint longer than 5 bytes", ...
};

// Decodes exactly `count` records from exactly `length` bytes into `out` (room for `count`),
// continuing `ids`. Checks the tag (known op and domain, reserved bit clear, flags only where
// they mean something) and the canonical form; ids are not checked against an id space here.
std::optional<DecodeProblem> decode_records(const uint8_t* data, size_t length, size_t count, IdPredictor& ids,
                                            TraceRecord* out);

}  // namespace allocbench
