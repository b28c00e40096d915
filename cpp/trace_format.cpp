// trace_format.cpp — the trace file's writer, reader, CRC-32 and metadata check.
// See trace_format.h and docs/trace-format.md.
//
// Owns every byte layout decision of the file (headers, chunk framing, trailer, what each CRC
// covers, when a chunk is compressed); the bytes of version 2's records are trace_codec's.
// Invariants:
//   * the writer never writes a record a reader would refuse, and a file it did not close()
//     has no trailer, so every reader refuses it;
//   * the reader never reads outside the bounds the header and trailer establish and never
//     trusts a count before checking it against the file's size (version 1) or against the
//     chunk headers and their sizes (version 2); no buffer is sized from a count before that
//     check: whatever bytes it is given, it returns verified records or throws TraceError
//     (one line, naming the file).
#include "trace_format.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>

#include "checksum.h"
#include "compression.h"
#include "files.h"
#include "text.h"
#include "trace_codec.h"

namespace allocbench {

static_assert(std::endian::native == std::endian::little,
              "records are written as they lie in memory: the format is little endian");

namespace {

constexpr char kChunkMagic[4] = {'C', 'H', 'N', 'K'};
constexpr char kTrailerMagic[4] = {'T', 'E', 'N', 'D'};
constexpr size_t kRecordBytes = sizeof(TraceRecord);
constexpr int kMaxJsonDepth = 64;
constexpr size_t kLongestNumber = 100;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t metadata_bytes;
  uint32_t metadata_crc;
  uint8_t reserved[12];
};
static_assert(sizeof(FileHeader) == kFileHeaderBytes);

struct ChunkHeaderV1 {
  char magic[4];
  uint32_t count;
  uint32_t crc;  // of the count * 16 record bytes
  uint32_t reserved;
};
static_assert(sizeof(ChunkHeaderV1) == 16);

struct ChunkHeaderV2 {
  char magic[4];
  uint32_t count;
  uint32_t crc;  // of the records as 16-byte records (as in version 1), not of the stored bytes
  uint8_t codec;
  uint8_t reserved[3];
  uint32_t encoded_bytes;  // the records encoded (trace_codec.h), before compression
  uint32_t stored_bytes;   // what follows this header: the encoded bytes, compressed or not
};
static_assert(sizeof(ChunkHeaderV2) == 24);

// How a version 2 chunk's encoded records are stored.
constexpr uint8_t kStoredCodec = 0;  // as they are
constexpr uint8_t kZlibCodec = 1;    // one zlib stream (RFC 1950)

// Chunks are compressed at zlib's fastest level: on recorded traces level 6 saves only 9-14% of
// the bytes of level 1, at 2.5 to 4 times the time, which every recording, generation and
// conversion would pay.
constexpr int kZlibLevel = 1;

// The largest encoding of a chunk: kChunkRecords records of kMaxEncodedRecordBytes each.
constexpr uint64_t kMaxEncodedChunkBytes = uint64_t{kChunkRecords} * kMaxEncodedRecordBytes;
static_assert(kMaxEncodedChunkBytes <= std::numeric_limits<uint32_t>::max());

struct Trailer {
  char magic[4];
  uint32_t reserved0;
  uint64_t op_count;
  uint64_t chunk_count;
  uint64_t skipped_ops;
  uint32_t id_space;
  uint32_t checksum;
  uint32_t reserved1;
  uint32_t trailer_crc;  // over the 44 bytes before it
};
static_assert(sizeof(Trailer) == kTrailerBytes);
constexpr size_t kTrailerCrcSpan = offsetof(Trailer, trailer_crc);

uint32_t append_crc(uint32_t running, uint32_t chunk_crc) {
  return crc32(&chunk_crc, sizeof chunk_crc, running);
}

bool is_skipped_on_replay(uint8_t op) {
  return op == static_cast<uint8_t>(TraceOp::foreign_free) ||
         op == static_cast<uint8_t>(TraceOp::foreign_realloc);
}

// What is wrong with a record in a trace of `id_space` ids; empty when nothing is.
// Ids that an op does not use (a foreign free's, a foreign realloc's old one) are not checked.
std::string record_problem(const TraceRecord& r, uint32_t id_space) {
  if (trace_op_name(r.op) == nullptr) return "unknown op " + std::to_string(r.op);
  if (r.domain > static_cast<uint8_t>(TraceDomain::obj))
    return "unknown domain " + std::to_string(r.domain);
  if (r.reserved != 0) return "reserved bytes of the record are not zero";
  const auto op = static_cast<TraceOp>(r.op);
  const bool uses_id = op != TraceOp::foreign_free && op != TraceOp::foreign_realloc;
  const bool uses_arg = op == TraceOp::realloc || op == TraceOp::foreign_realloc;
  const auto out_of_range = [&](const char* what, uint32_t id) {
    return std::string(trace_op_name(r.op)) + " " + what + " " + std::to_string(id) +
           " is outside the id space of " + std::to_string(id_space);
  };
  if (uses_id && r.id >= id_space) return out_of_range("id", r.id);
  if (uses_arg && r.arg >= id_space) return out_of_range("new id", r.arg);
  return {};
}

// record_problem(r, id_space).empty(), without building a string: the writer and the reader
// check every record.
bool record_is_valid(const TraceRecord& r, uint32_t id_space) {
  if (r.domain > static_cast<uint8_t>(TraceDomain::obj) || r.reserved != 0) return false;
  switch (static_cast<TraceOp>(r.op)) {
    case TraceOp::alloc:
    case TraceOp::calloc:
    case TraceOp::free: return r.id < id_space;
    case TraceOp::realloc: return r.id < id_space && r.arg < id_space;
    case TraceOp::foreign_free: return true;
    case TraceOp::foreign_realloc: return r.arg < id_space;
  }
  return false;
}

// A recursive-descent JSON validator: recursion is bounded by kMaxJsonDepth.
class JsonValidator {
 public:
  explicit JsonValidator(const std::string& text) : s_(text) {}

  std::string problem() {
    skip_space();
    if (peek() != '{') return at("expected a JSON object");
    if (!value(0)) return error_;
    skip_space();
    if (pos_ != s_.size()) return at("unexpected text after the JSON object");
    return {};
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool done() const { return pos_ >= s_.size(); }
  std::string at(const std::string& what) const {
    return what + " at byte " + std::to_string(pos_);
  }
  bool fail(const std::string& what) {
    error_ = at(what);
    return false;
  }
  void skip_space() {
    while (!done() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }
  bool literal(const char* word) {
    const size_t n = std::strlen(word);
    if (s_.compare(pos_, n, word) != 0) return fail("invalid literal");
    pos_ += n;
    return true;
  }
  bool digits() {
    if (done() || !std::isdigit(static_cast<unsigned char>(peek()))) return fail("expected a digit");
    while (!done() && std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    return true;
  }
  bool number() {
    const size_t start = pos_;
    if (!number_text()) return false;
    // Longer numbers are legal JSON, but no metadata needs them and readers differ on them
    // (Python refuses integers of more than 4300 digits): refused here, for every reader.
    if (pos_ - start > kLongestNumber) {
      pos_ = start;
      return fail("number longer than " + std::to_string(kLongestNumber) + " characters");
    }
    return true;
  }
  bool number_text() {
    if (peek() == '-') ++pos_;
    if (peek() == '0') ++pos_;
    else if (!digits()) return false;
    if (peek() == '.') {
      ++pos_;
      if (!digits()) return false;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digits()) return false;
    }
    return true;
  }
  bool string() {
    ++pos_;  // the opening quote
    while (!done()) {
      const auto c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return fail("control character in a string");
      if (c != '\\') continue;
      const char e = peek();
      ++pos_;
      if (e == 'u') {
        unsigned unit = 0;
        if (!hex4(unit)) return false;
        // A surrogate escape must be a high one followed by a low one: a lone half encodes
        // no character, and Python decodes it into a string that cannot be printed.
        if (unit >= 0xDC00 && unit <= 0xDFFF) return fail("lone low surrogate escape");
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          unsigned low = 0;
          if (peek() != '\\' || pos_ + 1 >= s_.size() || s_[pos_ + 1] != 'u')
            return fail("lone high surrogate escape");
          pos_ += 2;
          if (!hex4(low)) return false;
          if (low < 0xDC00 || low > 0xDFFF) return fail("lone high surrogate escape");
        }
      } else if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') {
        return fail("bad escape");
      }
    }
    return fail("unterminated string");
  }
  bool hex4(unsigned& unit) {
    for (int k = 0; k < 4; ++k, ++pos_) {
      const char c = peek();
      if (done() || !std::isxdigit(static_cast<unsigned char>(c))) return fail("bad \\u escape");
      unit = unit * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return true;
  }
  template <class Element>
  bool sequence(char close, Element element) {
    ++pos_;  // the opening bracket
    skip_space();
    if (peek() == close) {
      ++pos_;
      return true;
    }
    while (true) {
      if (!element()) return false;
      skip_space();
      if (peek() == close) {
        ++pos_;
        return true;
      }
      if (peek() != ',') return fail(std::string("expected ',' or '") + close + "'");
      ++pos_;
      skip_space();
    }
  }
  bool value(int depth) {
    skip_space();
    switch (peek()) {
      case '{':
        if (depth >= kMaxJsonDepth) return fail("nesting too deep");
        return sequence('}', [&] {
          if (peek() != '"') return fail("expected a string key");
          if (!string()) return false;
          skip_space();
          if (peek() != ':') return fail("expected ':'");
          ++pos_;
          return value(depth + 1);
        });
      case '[':
        if (depth >= kMaxJsonDepth) return fail("nesting too deep");
        return sequence(']', [&] { return value(depth + 1); });
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default:
        if (peek() == '-' || std::isdigit(static_cast<unsigned char>(peek()))) return number();
        return fail(done() ? "unexpected end of text" : "unexpected character");
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
  std::string error_;
};

std::string metadata_problem(const std::string& metadata) {
  const size_t bad = invalid_utf8_at(metadata);
  if (bad != std::string_view::npos)
    return "metadata is not UTF-8 (invalid byte at " + std::to_string(bad) + ")";
  const std::string problem = json_object_problem(metadata);
  return problem.empty() ? problem : "metadata is not JSON text: " + problem;
}

std::string system_error() { return std::strerror(errno); }

// "1 and 2": the versions this allocbench reads and writes, for messages.
std::string known_versions() {
  std::string text;
  for (uint32_t v = kOldestTraceVersion; v <= kNewestTraceVersion; ++v)
    text += (v == kOldestTraceVersion ? "" : v == kNewestTraceVersion ? " and " : ", ") + std::to_string(v);
  return text;
}

bool all_zero(const void* data, size_t length) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  return std::all_of(bytes, bytes + length, [](unsigned char b) { return b == 0; });
}

}  // namespace

std::string json_object_problem(const std::string& text) { return JsonValidator(text).problem(); }


// ---------------------------------------------------------------------------------------------
// Writer

TraceWriter::TraceWriter(const std::string& path, const std::string& metadata_json)
    : TraceWriter(path, metadata_json, metadata_json.size()) {}

TraceWriter::TraceWriter(const std::string& path, const std::string& metadata_json,
                         size_t metadata_capacity, uint32_t version, ChunkCompression compression)
    : path_(path), metadata_capacity_(std::max(metadata_capacity, metadata_json.size())), compression_(compression) {
  if (version < kOldestTraceVersion || version > kNewestTraceVersion)
    fail("cannot write trace format version " + std::to_string(version) + " (this allocbench writes versions " +
         known_versions() + ")");
  summary_.version = version;
  if (metadata_capacity_ > std::numeric_limits<uint32_t>::max())
    fail("metadata of " + std::to_string(metadata_capacity_) + " bytes is too long");
  const std::string problem = metadata_problem(metadata_json);
  if (!problem.empty()) fail(problem);
  if (version == 1) chunk_.reserve(kChunkRecords);
  else encoded_ = std::make_unique_for_overwrite<uint8_t[]>(kMaxEncodedChunkBytes);
  std::string error;
  file_ = open_regular_for_writing(path, error);
  if (file_ == nullptr) fail(error);
  // Unbuffered: chunks are written whole anyway, and a forked child that inherits this
  // stream must have no buffered bytes of ours that its exit() could flush into the file.
  std::setvbuf(file_, nullptr, _IONBF, 0);
  try {
    write_header_and_metadata(metadata_json);
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

TraceWriter::~TraceWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void TraceWriter::fail(const std::string& message) const { throw TraceError(path_ + ": " + message); }

void TraceWriter::fail_if_closed(const char* call) const {
  if (file_ == nullptr) fail(std::string(call) + (write_failed_ ? " after a failed write" : " after close"));
}

// A failed write leaves the file in no known state: the writer closes it (no trailer, so every
// reader refuses it) and refuses every later call, rather than write a chunk twice.
void TraceWriter::write_bytes(const void* data, size_t length) {
  if (std::fwrite(data, 1, length, file_) == length) return;
  const std::string message = "write failed: " + system_error();
  std::fclose(file_);
  file_ = nullptr;
  write_failed_ = true;
  fail(message);
}

void TraceWriter::write_header_and_metadata(const std::string& metadata_json) {
  std::string padded = metadata_json;
  padded.resize(metadata_capacity_, ' ');
  FileHeader header{};
  std::memcpy(header.magic, kTraceMagic, sizeof header.magic);
  header.version = summary_.version;
  header.metadata_bytes = static_cast<uint32_t>(padded.size());
  header.metadata_crc = crc32(padded.data(), padded.size());
  write_bytes(&header, sizeof header);
  write_bytes(padded.data(), padded.size());
}

void TraceWriter::rewrite_metadata(const std::string& metadata_json) {
  fail_if_closed("rewrite_metadata");
  if (metadata_json.size() > metadata_capacity_)
    fail("new metadata of " + std::to_string(metadata_json.size()) +
         " bytes does not fit the " + std::to_string(metadata_capacity_) + " reserved");
  const std::string problem = metadata_problem(metadata_json);
  if (!problem.empty()) fail(problem);
  const off_t end = ftello(file_);
  if (end < 0 || fseeko(file_, 0, SEEK_SET) != 0) fail("seek failed: " + system_error());
  write_header_and_metadata(metadata_json);
  if (fseeko(file_, end, SEEK_SET) != 0) fail("seek failed: " + system_error());
}

void TraceWriter::append(const TraceRecord& record) { append(&record, 1); }

void TraceWriter::append(const TraceRecord* records, size_t count) {
  fail_if_closed("append");
  constexpr uint32_t kAnyId = std::numeric_limits<uint32_t>::max();
  const bool version2 = summary_.version == 2;
  while (count > 0) {
    const size_t n = std::min<size_t>(count, kChunkRecords - chunk_records_);
    uint32_t id_space = summary_.id_space;
    uint64_t skipped = 0;
    for (size_t i = 0; i < n; ++i) {
      const TraceRecord& r = records[i];
      if (!record_is_valid(r, kAnyId))
        fail("op " + std::to_string(summary_.op_count + i) + ": " + record_problem(r, kAnyId));
      if (version2 && !fits_version2(r))
        fail("op " + std::to_string(summary_.op_count + i) + ": " + version2_problem(r));
      const auto op = static_cast<TraceOp>(r.op);
      if (op != TraceOp::foreign_free && op != TraceOp::foreign_realloc) id_space = std::max(id_space, r.id + 1);
      if (op == TraceOp::realloc || op == TraceOp::foreign_realloc) id_space = std::max(id_space, r.arg + 1);
      skipped += is_skipped_on_replay(r.op);
    }
    // Checksummed and encoded now, while the records are in the cache.
    chunk_crc_ = crc32(records, n * kRecordBytes, chunk_crc_);
    if (version2) encoded_bytes_ += encoder_.encode(records, n, encoded_.get() + encoded_bytes_);
    else chunk_.insert(chunk_.end(), records, records + n);
    chunk_records_ += static_cast<uint32_t>(n);
    summary_.id_space = id_space;
    summary_.skipped_ops += skipped;
    summary_.op_count += n;
    if (chunk_records_ == kChunkRecords) flush_chunk();
    records += n;
    count -= n;
  }
}

void TraceWriter::flush_chunk() {
  if (chunk_records_ == 0) return;
  if (summary_.version == 1) write_chunk_version1();
  else write_chunk_version2();
  summary_.checksum = append_crc(summary_.checksum, chunk_crc_);
  ++summary_.chunk_count;
  chunk_records_ = 0;
  chunk_crc_ = 0;
  chunk_.clear();
  encoded_bytes_ = 0;
  encoder_.start_chunk();
}

void TraceWriter::write_chunk_version1() {
  ChunkHeaderV1 header{};
  std::memcpy(header.magic, kChunkMagic, sizeof header.magic);
  header.count = chunk_records_;
  header.crc = chunk_crc_;
  write_bytes(&header, sizeof header);
  write_bytes(chunk_.data(), chunk_.size() * kRecordBytes);
}

void TraceWriter::write_chunk_version2() {
  compressed_.clear();
  if (compression_ == ChunkCompression::zlib) {
    const std::string problem = zlib_compress(encoded_.get(), encoded_bytes_, kZlibLevel, compressed_);
    if (!problem.empty()) fail("cannot compress chunk " + std::to_string(summary_.chunk_count) + ": " + problem);
  }
  // Stored as encoded when compression does not make it smaller: a reader can then rely on a
  // compressed chunk being smaller than its records, which bounds its buffers by the file.
  const bool compress = compression_ == ChunkCompression::zlib && compressed_.size() < encoded_bytes_;
  ChunkHeaderV2 header{};
  std::memcpy(header.magic, kChunkMagic, sizeof header.magic);
  header.count = chunk_records_;
  header.crc = chunk_crc_;
  header.codec = compress ? kZlibCodec : kStoredCodec;
  header.encoded_bytes = static_cast<uint32_t>(encoded_bytes_);
  header.stored_bytes = static_cast<uint32_t>(compress ? compressed_.size() : encoded_bytes_);
  write_bytes(&header, sizeof header);
  write_bytes(compress ? compressed_.data() : encoded_.get(), header.stored_bytes);
}

void TraceWriter::close() {
  if (file_ == nullptr) return;
  flush_chunk();
  Trailer trailer{};
  std::memcpy(trailer.magic, kTrailerMagic, sizeof trailer.magic);
  trailer.op_count = summary_.op_count;
  trailer.chunk_count = summary_.chunk_count;
  trailer.skipped_ops = summary_.skipped_ops;
  trailer.id_space = summary_.id_space;
  trailer.checksum = summary_.checksum;
  trailer.trailer_crc = crc32(&trailer, kTrailerCrcSpan);
  write_bytes(&trailer, sizeof trailer);
  std::FILE* file = file_;
  file_ = nullptr;
  if (std::fclose(file) != 0) fail("close failed: " + system_error());
}

// ---------------------------------------------------------------------------------------------
// Reader

struct TraceReader::ChunkFrame {
  uint32_t count = 0;
  uint32_t crc = 0;
  uint8_t codec = kStoredCodec;  // version 2
  uint32_t encoded_bytes = 0;    // version 2: the records encoded, before compression
  uint64_t stored_bytes = 0;     // what follows the header in the file
};

TraceReader::TraceReader(const std::string& path) : path_(path) {
  std::string error;
  file_ = open_regular_for_reading(path, error);
  if (file_ == nullptr) fail(error);
  // A constructor that throws runs no destructor: the file is closed here, or a process that
  // reads many bad traces (a fuzzer, a long session) runs out of descriptors.
  try {
    read_header_and_trailer();
  } catch (...) {
    std::fclose(file_);
    file_ = nullptr;
    throw;
  }
}

void TraceReader::read_header_and_trailer() {
  // The magic first: a file that is no trace at all is named as such, whatever its size
  // says (files under /proc claim 0 bytes and have content).
  FileHeader header{};
  const size_t got = std::fread(&header, 1, sizeof header, file_);
  if (got < sizeof header.magic || std::memcmp(header.magic, kTraceMagic, sizeof header.magic) != 0) {
    if (std::ferror(file_)) fail("read failed: " + system_error());
    if (got < kFileHeaderBytes && std::memcmp(header.magic, kTraceMagic, std::min(got, sizeof header.magic)) == 0)
      fail("truncated: " + std::to_string(got) + " bytes, shorter than the " + std::to_string(kFileHeaderBytes) +
           "-byte header");
    fail("not an allocbench trace (wrong magic)");
  }
  if (fseeko(file_, 0, SEEK_END) != 0) fail("cannot seek: " + system_error());
  const off_t size = ftello(file_);
  if (size < 0) fail("cannot tell the file's size: " + system_error());
  file_bytes_ = static_cast<uint64_t>(size);
  if (got < kFileHeaderBytes || file_bytes_ < kFileHeaderBytes)
    fail("truncated: " + std::to_string(std::max<uint64_t>(got, file_bytes_)) + " bytes, shorter than the " +
         std::to_string(kFileHeaderBytes) + "-byte header");
  if (header.version < kOldestTraceVersion || header.version > kNewestTraceVersion)
    fail("trace format version " + std::to_string(header.version) +
         " is not supported (this allocbench reads versions " + known_versions() + ")");
  summary_.version = header.version;
  if (!all_zero(header.reserved, sizeof header.reserved)) fail("reserved bytes of the header are not zero");
  if (fseeko(file_, kFileHeaderBytes, SEEK_SET) != 0) fail("cannot seek: " + system_error());
  if (header.metadata_bytes > file_bytes_ - kFileHeaderBytes)
    fail("truncated: the header announces " + std::to_string(header.metadata_bytes) +
         " bytes of metadata, the file has " + std::to_string(file_bytes_ - kFileHeaderBytes) +
         " after the header");
  metadata_.resize(header.metadata_bytes);
  read_exactly(metadata_.data(), metadata_.size(), std::nullopt);
  if (crc32(metadata_.data(), metadata_.size()) != header.metadata_crc)
    fail("metadata checksum mismatch");
  const std::string problem = metadata_problem(metadata_);
  if (!problem.empty()) fail(problem);
  records_start_ = static_cast<long>(kFileHeaderBytes + header.metadata_bytes);
  read_trailer();
  if (summary_.version == 2) check_chunk_headers();
  rewind();
}

TraceReader::~TraceReader() {
  if (file_ != nullptr) std::fclose(file_);
}

void TraceReader::fail(uint64_t op_index, const std::string& message) const {
  throw TraceError(path_ + ": op " + std::to_string(op_index) + ": " + message);
}

void TraceReader::fail(const std::string& message) const { throw TraceError(path_ + ": " + message); }

void TraceReader::read_exactly(void* data, size_t length, std::optional<uint64_t> op_index) {
  if (std::fread(data, 1, length, file_) == length) return;
  const std::string problem = std::ferror(file_) ? "read failed: " + system_error() : "unexpected end of file";
  if (op_index) fail(*op_index, problem);
  fail(problem);
}

size_t TraceReader::chunk_header_bytes() const {
  return summary_.version == 1 ? sizeof(ChunkHeaderV1) : sizeof(ChunkHeaderV2);
}

void TraceReader::read_trailer() {
  const uint64_t records_start = static_cast<uint64_t>(records_start_);
  Trailer trailer{};
  const bool room = file_bytes_ - records_start >= kTrailerBytes;
  if (room) {
    if (fseeko(file_, static_cast<off_t>(file_bytes_ - kTrailerBytes), SEEK_SET) != 0)
      fail("cannot seek: " + system_error());
    read_exactly(&trailer, sizeof trailer, std::nullopt);
  }
  if (!room || std::memcmp(trailer.magic, kTrailerMagic, sizeof trailer.magic) != 0 ||
      crc32(&trailer, kTrailerCrcSpan) != trailer.trailer_crc)
    fail_truncated_or_corrupt();
  // Counts are checked against the file's size before anything trusts them. In version 1
  // the size says exactly how many ops and chunks there are; in version 2 it bounds the
  // chunks (each has a header), and check_chunk_headers() then counts them.
  const uint64_t record_bytes = file_bytes_ - records_start - kTrailerBytes;
  if (summary_.version == 1) {
    const uint64_t max_units = record_bytes / sizeof(ChunkHeaderV1);
    if (trailer.op_count > max_units || trailer.chunk_count > max_units ||
        (trailer.op_count + trailer.chunk_count) * sizeof(ChunkHeaderV1) != record_bytes)
      fail("the trailer's counts (" + std::to_string(trailer.op_count) + " ops in " +
           std::to_string(trailer.chunk_count) + " chunks) do not match the file's size");
  } else if (trailer.chunk_count > record_bytes / sizeof(ChunkHeaderV2)) {
    fail("the trailer's count of " + std::to_string(trailer.chunk_count) + " chunks does not fit the file's size");
  }
  if (trailer.chunk_count > trailer.op_count ||
      trailer.op_count > trailer.chunk_count * uint64_t{kChunkRecords} ||
      trailer.skipped_ops > trailer.op_count)
    fail("the trailer's counts are inconsistent");
  // Each id is born by an op, so a trace with more ids than ops is corrupt; refusing it keeps
  // the flat per-id tables of its consumers proportional to the (verified) op count.
  if (trailer.id_space > trailer.op_count)
    fail("the trailer's id space " + std::to_string(trailer.id_space) + " exceeds its " +
         std::to_string(trailer.op_count) + " ops");
  if (trailer.reserved0 != 0 || trailer.reserved1 != 0) fail("reserved bytes of the trailer are not zero");
  summary_.op_count = trailer.op_count;
  summary_.chunk_count = trailer.chunk_count;
  summary_.skipped_ops = trailer.skipped_ops;
  summary_.id_space = trailer.id_space;
  summary_.checksum = trailer.checksum;
}

// Version 2: walks the chunk headers (a seek over each chunk's stored bytes) before any
// record is read, so that the trailer's op count, which sizes the consumers' id tables
// through id_space, is what the chunks hold, and the chunks fill the file exactly.
void TraceReader::check_chunk_headers() {
  const uint64_t end = file_bytes_ - kTrailerBytes;
  uint64_t position = static_cast<uint64_t>(records_start_);
  uint64_t op = 0;
  if (fseeko(file_, records_start_, SEEK_SET) != 0) fail("cannot seek: " + system_error());
  for (uint64_t chunk = 0; chunk < summary_.chunk_count; ++chunk) {
    const std::string chunk_name = "chunk " + std::to_string(chunk);
    if (end - position < sizeof(ChunkHeaderV2))
      fail(op, chunk_name + ": the chunks end before the trailer's " + std::to_string(summary_.chunk_count) +
                   " do (corrupt file)");
    ChunkFrame frame;
    const std::string problem = read_chunk_header(frame, summary_.op_count - op, op);
    if (!problem.empty()) fail(op, chunk_name + ": " + problem);
    position += sizeof(ChunkHeaderV2);
    if (frame.stored_bytes > end - position)
      fail(op, chunk_name + ": its " + std::to_string(frame.stored_bytes) +
                   " stored bytes run past the trailer (corrupt file)");
    if (fseeko(file_, static_cast<off_t>(frame.stored_bytes), SEEK_CUR) != 0) fail("cannot seek: " + system_error());
    position += frame.stored_bytes;
    op += frame.count;
  }
  if (position != end)
    fail(std::to_string(end - position) + " bytes lie between the last chunk and the trailer (corrupt file)");
  if (op != summary_.op_count)
    fail("the trailer counts " + std::to_string(summary_.op_count) + " ops, the chunks hold " + std::to_string(op));
}

std::string TraceReader::read_chunk_header(ChunkFrame& frame, uint64_t ops_left, uint64_t op_index) {
  const auto count_problem = [](uint32_t count) {
    return "record count " + std::to_string(count) + " is out of range (corrupt file)";
  };
  if (summary_.version == 1) {
    ChunkHeaderV1 header;
    read_exactly(&header, sizeof header, op_index);
    if (std::memcmp(header.magic, kChunkMagic, sizeof kChunkMagic) != 0) return "bad chunk magic (corrupt file)";
    if (header.count == 0 || header.count > kChunkRecords || header.count > ops_left) return count_problem(header.count);
    if (header.reserved != 0) return "reserved bytes of the chunk header are not zero";
    frame = {header.count, header.crc, kStoredCodec, 0, uint64_t{header.count} * kRecordBytes};
    return {};
  }
  ChunkHeaderV2 header;
  read_exactly(&header, sizeof header, op_index);
  if (std::memcmp(header.magic, kChunkMagic, sizeof kChunkMagic) != 0) return "bad chunk magic (corrupt file)";
  if (header.count == 0 || header.count > kChunkRecords || header.count > ops_left) return count_problem(header.count);
  if (!all_zero(header.reserved, sizeof header.reserved)) return "reserved bytes of the chunk header are not zero";
  const std::string encoded = std::to_string(header.encoded_bytes) + " encoded bytes";
  const std::string stored = std::to_string(header.stored_bytes) + " stored bytes";
  if (header.encoded_bytes < header.count || header.encoded_bytes > uint64_t{header.count} * kMaxEncodedRecordBytes)
    return encoded + " cannot hold " + std::to_string(header.count) + " records (1 to " +
           std::to_string(kMaxEncodedRecordBytes) + " bytes each) (corrupt file)";
  if (header.codec == kStoredCodec) {
    if (header.stored_bytes != header.encoded_bytes)
      return "uncompressed, yet its " + stored + " differ from its " + encoded + " (corrupt file)";
  } else if (header.codec == kZlibCodec) {
    if (header.stored_bytes >= header.encoded_bytes)
      return "compressed, yet its " + stored + " are not fewer than its " + encoded + " (corrupt file)";
    if (header.encoded_bytes > kDeflateMaxRatio * header.stored_bytes)
      return "compressed: " + stored + " cannot expand to " + encoded + " (zlib expands at most " +
             std::to_string(kDeflateMaxRatio) + " times) (corrupt file)";
  } else {
    return "unknown codec " + std::to_string(header.codec);
  }
  frame = {header.count, header.crc, header.codec, header.encoded_bytes, header.stored_bytes};
  return {};
}

// No valid trailer at the end: walk the chunk headers to say where the file stops making
// sense, with the index of the op there.
void TraceReader::fail_truncated_or_corrupt() {
  uint64_t position = static_cast<uint64_t>(records_start_);
  uint64_t op = 0;
  const uint64_t header_bytes = chunk_header_bytes();
  if (fseeko(file_, records_start_, SEEK_SET) != 0) fail("cannot seek: " + system_error());
  for (uint64_t chunk = 0;; ++chunk) {
    const uint64_t left = file_bytes_ - position;
    if (left == 0)
      fail(op, "truncated: the file ends after chunk " + std::to_string(chunk) +
                   " without a trailer (the recording did not finish)");
    char magic[4];
    if (left < sizeof magic)
      fail(op, "truncated: the file ends " + std::to_string(left) + " bytes into a chunk header or the trailer");
    read_exactly(magic, sizeof magic, op);
    if (std::memcmp(magic, kTrailerMagic, sizeof kTrailerMagic) == 0) {
      if (left < kTrailerBytes) fail(op, "truncated: the file ends inside the trailer");
      if (left > kTrailerBytes)
        fail(op, std::to_string(left - kTrailerBytes) + " unexpected bytes after the trailer");
      fail(op, "trailer checksum mismatch");
    }
    if (left < header_bytes)
      fail(op, "truncated: the file ends " + std::to_string(left) + " bytes into a chunk header or the trailer");
    if (fseeko(file_, -static_cast<off_t>(sizeof magic), SEEK_CUR) != 0) fail("cannot seek: " + system_error());
    const std::string chunk_name = "chunk " + std::to_string(chunk);
    ChunkFrame frame;
    const std::string problem = read_chunk_header(frame, std::numeric_limits<uint64_t>::max(), op);
    if (!problem.empty()) fail(op, chunk_name + ": " + problem);
    if (left - header_bytes < frame.stored_bytes) {
      // Version 1 records have a fixed size, so the op where the file ends is known.
      const uint64_t ops_in = summary_.version == 1 ? (left - header_bytes) / kRecordBytes : 0;
      fail(op + ops_in, "truncated: the file ends inside " + chunk_name);
    }
    if (fseeko(file_, static_cast<off_t>(frame.stored_bytes), SEEK_CUR) != 0) fail("cannot seek: " + system_error());
    position += header_bytes + frame.stored_bytes;
    op += frame.count;
  }
}

void TraceReader::rewind() {
  if (fseeko(file_, records_start_, SEEK_SET) != 0) fail("cannot seek: " + system_error());
  ops_read_ = 0;
  chunks_read_ = 0;
  chunk_first_op_ = 0;
  skipped_read_ = 0;
  running_checksum_ = 0;
  ids_.reset();
}

void TraceReader::read_records_version1(const ChunkFrame& frame, std::vector<TraceRecord>& records) {
  records.resize(frame.count);
  read_exactly(records.data(), records.size() * kRecordBytes, ops_read_);
}

void TraceReader::read_records_version2(const ChunkFrame& frame, std::vector<TraceRecord>& records,
                                        const std::string& chunk_name) {
  // Both sizes were checked against the count (so at most kMaxEncodedChunkBytes) before this.
  stored_.resize(frame.stored_bytes);
  read_exactly(stored_.data(), stored_.size(), ops_read_);
  const uint8_t* encoded = stored_.data();
  if (frame.codec == kZlibCodec) {
    encoded_.resize(frame.encoded_bytes);
    const std::string problem = zlib_decompress(stored_.data(), stored_.size(), encoded_.data(), encoded_.size());
    if (!problem.empty()) fail(ops_read_, chunk_name + ": its compressed records: " + problem);
    encoded = encoded_.data();
  }
  records.resize(frame.count);
  if (const auto problem = decode_records(encoded, frame.encoded_bytes, frame.count, ids_, records.data()))
    fail(ops_read_ + problem->record, chunk_name + ": " + problem->what);
}

bool TraceReader::next_chunk(std::vector<TraceRecord>& records) {
  records.clear();
  if (chunks_read_ == summary_.chunk_count) {
    if (ops_read_ != summary_.op_count)
      fail(ops_read_, "the trailer counts " + std::to_string(summary_.op_count) +
                          " ops, the chunks hold " + std::to_string(ops_read_));
    if (running_checksum_ != summary_.checksum) fail(ops_read_, "the trailer's checksum does not match the chunks");
    if (skipped_read_ != summary_.skipped_ops)
      fail(ops_read_, "the trailer counts " + std::to_string(summary_.skipped_ops) +
                          " skipped ops, the chunks hold " + std::to_string(skipped_read_));
    return false;
  }
  const std::string chunk_name = "chunk " + std::to_string(chunks_read_);
  ChunkFrame frame;
  const std::string problem = read_chunk_header(frame, summary_.op_count - ops_read_, ops_read_);
  if (!problem.empty()) fail(ops_read_, chunk_name + ": " + problem);
  if (summary_.version == 1) read_records_version1(frame, records);
  else read_records_version2(frame, records, chunk_name);
  const uint32_t crc = crc32(records.data(), records.size() * kRecordBytes);
  if (crc != frame.crc) fail(ops_read_, chunk_name + ": checksum mismatch (corrupt file)");
  for (size_t i = 0; i < records.size(); ++i) {
    if (!record_is_valid(records[i], summary_.id_space))
      fail(ops_read_ + i, record_problem(records[i], summary_.id_space));
    skipped_read_ += is_skipped_on_replay(records[i].op);
  }
  chunk_first_op_ = ops_read_;
  ops_read_ += frame.count;
  ++chunks_read_;
  running_checksum_ = append_crc(running_checksum_, crc);
  return true;
}

TraceSummary copy_trace(TraceReader& reader, const std::string& path, uint32_t version) {
  TraceWriter writer(path, reader.metadata_json(), reader.metadata_json().size(), version);
  std::vector<TraceRecord> records;
  reader.rewind();
  while (reader.next_chunk(records)) writer.append(records.data(), records.size());
  writer.close();
  return writer.summary();
}

}  // namespace allocbench
