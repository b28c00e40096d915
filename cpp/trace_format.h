// trace_format.h — the allocbench trace file: what it holds, how it is written and read.
//
// A trace is a recording of allocator operations, by block id rather than address, so that
// it can be replayed against any allocator. The full specification, with byte offsets, is
// docs/trace-format.md; this comment is its summary and the two must agree.
//
// Layout (all integers little endian):
//   FileHeader     32 bytes: magic "ABTRACE\0", version (1), metadata length, CRC-32 of the
//                  metadata, reserved
//   metadata       JSON, UTF-8, `metadata_bytes` long (python version, command, domains, ...);
//                  may end in spaces, room left for rewrite_metadata()
//   chunk*         ChunkHeader (16 bytes: magic "CHNK", record count <= kChunkRecords,
//                  CRC-32 of the records, reserved) then `count` Records of 16 bytes
//   Trailer        48 bytes: magic "TEND", op count, chunk count, skipped ops, id space,
//                  checksum (CRC-32 over the chunk CRCs, in order), CRC-32 of the trailer
//
// Record (16 bytes):  op u8 | domain u8 | reserved u16 | id u32 | size u32 | arg u32
//   alloc            id = new id, size = bytes
//   calloc           id = new id, size = element count, arg = element size
//   realloc          id = old id, size = new bytes, arg = new id (may equal the old id)
//   free             id
//   foreign_free     a free of a block allocated before recording started: skipped on replay
//   foreign_realloc  a realloc of such a block: replayed as alloc(arg = new id, size)
// Ids are recycled by the writer (a freed id is handed out again), so every id is below
// `id_space`, which is at most the peak number of live blocks plus one: replay keeps a flat
// table of id_space entries, memory proportional to the live set, however long the trace.
// A reader refuses an id_space larger than the op count (every id is born by an op).
//
// Invariants the reader enforces, each failure a TraceError naming the file and the op index:
// the file is a regular file (files.h); magic and version known; metadata is valid UTF-8 JSON
// text (an object); every chunk's CRC matches; the trailer's counts and checksum match what
// was read; ops and domains are known; ids < id_space; every reserved byte (header, chunk
// headers, records, trailer) is zero.
// Liveness (a free of an id that is not live, a double free, an absurd size) is checked by
// the consumer (replay, trace info), which knows the live set, with the same error shape.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "text.h"

namespace allocbench {

inline constexpr char kTraceMagic[8] = {'A', 'B', 'T', 'R', 'A', 'C', 'E', '\0'};
inline constexpr uint32_t kTraceVersion = 1;
inline constexpr uint32_t kChunkRecords = 65536;
inline constexpr size_t kFileHeaderBytes = 32;
inline constexpr size_t kChunkHeaderBytes = 16;
inline constexpr size_t kTrailerBytes = 48;

enum class TraceOp : uint8_t {
  alloc = 1,
  calloc = 2,
  realloc = 3,
  free = 4,
  foreign_free = 5,
  foreign_realloc = 6,
};

enum class TraceDomain : uint8_t { raw = 0, mem = 1, obj = 2 };

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

struct TraceSummary {
  uint64_t op_count = 0;
  uint64_t chunk_count = 0;
  uint64_t skipped_ops = 0;  // foreign frees and reallocs
  uint32_t id_space = 0;
  uint32_t checksum = 0;
};

// A trace that cannot be read. what() is one line: "<file>: op <index>: <what is wrong>"
// (or "<file>: <what is wrong>" when no op is concerned).
// The message goes through text.h's one_line(): a path that is not UTF-8 is shown escaped.
class TraceError : public std::runtime_error {
 public:
  explicit TraceError(const std::string& message) : std::runtime_error(one_line(message)) {}
};

// Writes a trace as a stream: records are buffered a chunk at a time; close() writes the
// last chunk and the trailer. A writer destroyed without close() leaves a file that every
// reader refuses (no trailer).
class TraceWriter {
 public:
  TraceWriter(const std::string& path, const std::string& metadata_json);
  // Reserves `metadata_capacity` bytes for the metadata (padded with spaces, which JSON
  // allows), so that rewrite_metadata() can replace it once the recording knows its counts.
  TraceWriter(const std::string& path, const std::string& metadata_json, size_t metadata_capacity);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Throws TraceError for a record no reader would accept (unknown op or domain, id
  // 0xFFFFFFFF), and when the file cannot be written.
  void append(const TraceRecord& record);
  // The same for `count` records at once: the recorder's path, one call per batch.
  void append(const TraceRecord* records, size_t count);
  // Replaces the metadata in place; throws TraceError if it is not JSON text or longer than
  // the capacity reserved at construction.
  void rewrite_metadata(const std::string& metadata_json);
  void close();
  const std::string& path() const { return path_; }
  const TraceSummary& summary() const { return summary_; }

 private:
  void flush_chunk();
  void write_bytes(const void* data, size_t length);
  void write_header_and_metadata(const std::string& metadata_json);
  [[noreturn]] void fail(const std::string& message) const;
  std::string path_;
  std::FILE* file_ = nullptr;
  size_t metadata_capacity_ = 0;
  std::vector<TraceRecord> chunk_;
  TraceSummary summary_;
};

// Reads a trace as a stream: open() checks header and trailer, next_chunk() hands out one
// verified chunk at a time.
class TraceReader {
 public:
  explicit TraceReader(const std::string& path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  const std::string& path() const { return path_; }
  const std::string& metadata_json() const { return metadata_; }
  const TraceSummary& summary() const { return summary_; }

  // Fills `records` with the next chunk (its CRC checked); false at the end, after checking
  // the trailer's op count and checksum against what was read.
  bool next_chunk(std::vector<TraceRecord>& records);
  // Index of the first op of the chunk last returned.
  uint64_t chunk_first_op() const { return chunk_first_op_; }
  void rewind();

  // "<file>: op <index>: <message>" as a TraceError.
  [[noreturn]] void fail(uint64_t op_index, const std::string& message) const;
  // "<file>: <message>" as a TraceError.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  void read_exactly(void* data, size_t length, std::optional<uint64_t> op_index);
  void read_trailer();
  [[noreturn]] void fail_truncated_or_corrupt();
  std::string path_;
  std::FILE* file_ = nullptr;
  std::string metadata_;
  TraceSummary summary_;
  long records_start_ = 0;
  uint64_t file_bytes_ = 0;
  uint64_t skipped_read_ = 0;
  uint64_t ops_read_ = 0;
  uint64_t chunks_read_ = 0;
  uint64_t chunk_first_op_ = 0;
  uint32_t running_checksum_ = 0;
};

// CRC-32 (the zlib / IEEE 802.3 polynomial, as Python's zlib.crc32), continuing from `crc`.
uint32_t crc32(const void* data, size_t length, uint32_t crc = 0);

// Empty when `text` is one JSON object in UTF-8 (RFC 8259, nesting at most 64 deep, so that
// every reader, Python's json included, parses it without recursion trouble); otherwise what
// is wrong with it, and where.
std::string json_object_problem(const std::string& text);

}  // namespace allocbench
