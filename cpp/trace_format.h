// trace_format.h — the allocbench trace file: what it holds, how it is written and read.
//
// A trace is a recording of allocator operations, by block id rather than address, so that
// it can be replayed against any allocator. The full specification, with byte offsets, is
// docs/trace-format.md; this comment is its summary and the two must agree.
//
// Layout (all integers little endian):
//   FileHeader     32 bytes: magic "ABTRACE\0", version (1), metadata length, reserved
//   metadata       JSON, UTF-8, `metadata_bytes` long (python version, command, domains, ...)
//   chunk*         ChunkHeader (16 bytes: magic "CHNK", record count <= kChunkRecords,
//                  CRC-32 of the records, reserved) then `count` Records of 16 bytes
//   Trailer        48 bytes: magic "TEND", op count, chunk count, skipped ops, id space,
//                  checksum (CRC-32 over the chunk CRCs, in order)
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
//
// Invariants the reader enforces, each failure a TraceError naming the file and the op index:
// magic and version known; metadata is valid UTF-8 JSON text; every chunk's CRC matches;
// the trailer's counts and checksum match what was read; ops are known; ids < id_space.
// Liveness (a free of an id that is not live, a double free, an absurd size) is checked by
// the consumer (replay, trace info), which knows the live set, with the same error shape.
#pragma once

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace allocbench {

inline constexpr char kTraceMagic[8] = {'A', 'B', 'T', 'R', 'A', 'C', 'E', '\0'};
inline constexpr uint32_t kTraceVersion = 1;
inline constexpr uint32_t kChunkRecords = 65536;

enum class TraceOp : uint8_t {
  alloc = 1,
  calloc = 2,
  realloc = 3,
  free = 4,
  foreign_free = 5,
  foreign_realloc = 6,
};

enum class TraceDomain : uint8_t { raw = 0, mem = 1, obj = 2 };

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
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writes a trace as a stream: records are buffered a chunk at a time; close() writes the
// last chunk and the trailer. A writer destroyed without close() leaves a file that every
// reader refuses (no trailer).
class TraceWriter {
 public:
  TraceWriter(const std::string& path, const std::string& metadata_json);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  void append(const TraceRecord& record);
  void close();
  const TraceSummary& summary() const { return summary_; }

 private:
  void flush_chunk();
  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<TraceRecord> chunk_;
  std::vector<uint32_t> chunk_crcs_;
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

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::string metadata_;
  TraceSummary summary_;
  long records_start_ = 0;
  uint64_t ops_read_ = 0;
  uint64_t chunks_read_ = 0;
  uint64_t chunk_first_op_ = 0;
  uint32_t running_checksum_ = 0;
};

// CRC-32 (the zlib / IEEE 802.3 polynomial, as Python's zlib.crc32), continuing from `crc`.
uint32_t crc32(const void* data, size_t length, uint32_t crc = 0);

}  // namespace allocbench
