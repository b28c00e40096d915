// trace_format.h — the allocbench trace file: what it holds, how it is written and read.
//
// A trace is a recording of allocator operations, by block id rather than address, so that
// it can be replayed against any allocator. The full specification, with byte offsets, is
// docs/trace-format.md; this comment is its summary and the two must agree.
//
// Layout (all integers little endian), the same frame in both versions:
//   FileHeader     32 bytes: magic "ABTRACE\0", version (1 or 2), metadata length, CRC-32 of
//                  the metadata, reserved
//   metadata       JSON, UTF-8, `metadata_bytes` long (python version, command, domains, ...);
//                  may end in spaces, room left for rewrite_metadata()
//   chunk*         a chunk header, then the chunk's records (at most kChunkRecords)
//   Trailer        48 bytes: magic "TEND", op count, chunk count, skipped ops, id space,
//                  checksum (CRC-32 over the chunk CRCs, in order), CRC-32 of the trailer
// Version 1 chunk: ChunkHeader (16 bytes: magic "CHNK", record count, CRC, reserved), then
//                  `count` records of 16 bytes (trace_record.h).
// Version 2 chunk: ChunkHeader (24 bytes: magic "CHNK", record count, CRC, codec, reserved,
//                  encoded bytes, stored bytes), then `stored` bytes: the records encoded
//                  (trace_codec.h), compressed with zlib (codec 1) or as they are (codec 0).
// In both versions a chunk's CRC is the CRC-32 of its records as 16-byte records, whatever
// their encoding on disk: a reader checks what it hands out, so the checksums cover the
// encoder, the compressor, the disk and the decoder at once, and a trace has the same chunk
// CRCs and checksum in either version.
//
// Ids are recycled by the writer (a freed id is handed out again), so every id is below
// `id_space`, which is at most the peak number of live blocks plus one: replay keeps a flat
// table of id_space entries, memory proportional to the live set, however long the trace.
// A reader refuses an id_space larger than the op count (every id is born by an op).
//
// Invariants the reader enforces, each failure a TraceError naming the file and the op index:
// the file is a regular file (files.h); magic and version known; metadata is valid UTF-8 JSON
// text (an object); the chunk headers account for every byte between the metadata and the
// trailer and for the trailer's op and chunk counts before any record is read (version 1 by
// the file's size, version 2 by a walk over the chunk headers); every chunk's CRC matches;
// the trailer's checksum matches what was read; ops and domains are known; ids < id_space;
// every reserved byte and bit (header, chunk headers, records, trailer) is zero. A version 2
// chunk is decompressed into a buffer of at most kMaxEncodedRecordBytes * kChunkRecords bytes,
// its sizes checked against each other and against what deflate can expand before any of it
// is read.
// Liveness (a free of an id that is not live, a double free, an absurd size) is checked by
// the consumer (replay, trace info), which knows the live set, with the same error shape.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "text.h"
#include "trace_codec.h"
#include "trace_record.h"

namespace allocbench {

inline constexpr char kTraceMagic[8] = {'A', 'B', 'T', 'R', 'A', 'C', 'E', '\0'};
inline constexpr uint32_t kOldestTraceVersion = 1;
inline constexpr uint32_t kNewestTraceVersion = 2;
// What a writer writes unless told otherwise: the recorder, the generators, write_trace.
inline constexpr uint32_t kTraceVersionWritten = 2;
inline constexpr uint32_t kChunkRecords = 65536;
inline constexpr size_t kFileHeaderBytes = 32;
inline constexpr size_t kTrailerBytes = 48;

// Whether a version 2 writer compresses its chunks (a version 1 writer never does).
enum class ChunkCompression { none, zlib };

struct TraceSummary {
  uint32_t version = 0;
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
  // `version`: kOldestTraceVersion .. kNewestTraceVersion. `compression`: in version 2,
  // whether chunks are compressed (each still only when that makes it smaller).
  TraceWriter(const std::string& path, const std::string& metadata_json, size_t metadata_capacity,
              uint32_t version = kTraceVersionWritten, ChunkCompression compression = ChunkCompression::zlib);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Throws TraceError for a record no reader would accept (unknown op or domain, id
  // 0xFFFFFFFF; in version 2, a field its op does not use that is not zero), and when the
  // file cannot be written.
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
  void write_chunk_version1();
  void write_chunk_version2();
  void write_bytes(const void* data, size_t length);
  void write_header_and_metadata(const std::string& metadata_json);
  [[noreturn]] void fail(const std::string& message) const;
  // Refuses `call` once the file is closed (by close(), or by a failed write).
  void fail_if_closed(const char* call) const;
  std::string path_;
  std::FILE* file_ = nullptr;  // null once closed, or once a write failed
  bool write_failed_ = false;
  size_t metadata_capacity_ = 0;
  ChunkCompression compression_ = ChunkCompression::zlib;
  TraceSummary summary_;
  // The chunk being built: its records so far, their CRC (computed as they come).
  uint32_t chunk_records_ = 0;
  uint32_t chunk_crc_ = 0;
  std::vector<TraceRecord> chunk_;  // version 1: the records as they will be written
  // Version 2: the records encoded as they come, into a buffer with room for a whole chunk;
  // the buffers are reused chunk to chunk.
  RecordEncoder encoder_;
  std::unique_ptr<uint8_t[]> encoded_;
  size_t encoded_bytes_ = 0;
  std::vector<uint8_t> compressed_;
};

// Reads a trace as a stream: open() checks header and trailer (and, in version 2, every chunk
// header), next_chunk() hands out one verified chunk at a time, decoded into 16-byte records.
class TraceReader {
 public:
  explicit TraceReader(const std::string& path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  const std::string& path() const { return path_; }
  const std::string& metadata_json() const { return metadata_; }
  const TraceSummary& summary() const { return summary_; }
  uint32_t version() const { return summary_.version; }
  uint64_t file_bytes() const { return file_bytes_; }

  // Fills `records` with the next chunk (decoded, its CRC checked); false at the end, after
  // checking the trailer's op count and checksum against what was read.
  bool next_chunk(std::vector<TraceRecord>& records);
  // Index of the first op of the chunk last returned.
  uint64_t chunk_first_op() const { return chunk_first_op_; }
  void rewind();

  // "<file>: op <index>: <message>" as a TraceError.
  [[noreturn]] void fail(uint64_t op_index, const std::string& message) const;
  // "<file>: <message>" as a TraceError.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  struct ChunkFrame;  // a chunk header of either version, as read (trace_format.cpp)
  void read_exactly(void* data, size_t length, std::optional<uint64_t> op_index);
  void read_header_and_trailer();
  void read_trailer();
  void check_chunk_headers();
  size_t chunk_header_bytes() const;
  // Reads a chunk header at the current position into `frame`; empty, or what is wrong with it
  // for a trace with `ops_left` ops still to come.
  std::string read_chunk_header(ChunkFrame& frame, uint64_t ops_left, uint64_t op_index);
  void read_records_version1(const ChunkFrame& frame, std::vector<TraceRecord>& records);
  void read_records_version2(const ChunkFrame& frame, std::vector<TraceRecord>& records, const std::string& chunk_name);
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
  // Version 2: the id predictor spans the whole trace (reset by rewind()); the buffers are
  // reused chunk to chunk, each at most kMaxEncodedRecordBytes * kChunkRecords bytes.
  IdPredictor ids_;
  std::vector<uint8_t> stored_;
  std::vector<uint8_t> encoded_;
};

// Writes the metadata and every record of `reader` (from its first op) into a new trace at
// `path`, in `version`: the records, their order and the metadata are kept exactly; only the
// encoding changes. Returns the new trace's summary. Throws TraceError for a bad input (as
// reading it would) or when the output cannot be written (the file is then left without a
// trailer: callers write to a temporary name and rename it when this returns).
TraceSummary copy_trace(TraceReader& reader, const std::string& path, uint32_t version);

// Empty when `text` is one JSON object in UTF-8 (RFC 8259, nesting at most 64 deep, so that
// every reader, Python's json included, parses it without recursion trouble); otherwise what
// is wrong with it, and where.
std::string json_object_problem(const std::string& text);

}  // namespace allocbench
