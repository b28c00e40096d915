// trace_codec.cpp — version 2's record encoding: the tag byte, varints, zigzag id deltas and
// the id predictor. See trace_codec.h and docs/trace-format.md ("Encoded records").
//
// Owns the bit layout of the tag and the order of the fields after it. Invariants beyond the
// header's: the encoder writes at most kMaxEncodedRecordBytes per record, and the decoder never
// reads past the end of its input: it checks each byte's position, except while a whole
// record's worth (kMaxEncodedRecordBytes) is left, which no record can read beyond.
#include "trace_codec.h"

#include <array>
#include <string>

namespace allocbench {

namespace {

// The tag byte: bits 0-2 the op, bits 3-4 the domain, then two flags and a reserved bit.
constexpr uint8_t kOpBits = 0x07;
constexpr int kDomainShift = 3;
constexpr uint8_t kDomainBits = 0x03;
constexpr uint8_t kImpliedId = 0x20;  // a birth: the new id is IdPredictor::predicted()
constexpr uint8_t kKeepsId = 0x40;    // a realloc: the block keeps its id (arg == id)
constexpr uint8_t kReservedBit = 0x80;

constexpr int kVarintMaxBytes = 5;  // 35 bits of payload hold any u32

constexpr bool is_birth(TraceOp op) {
  return op == TraceOp::alloc || op == TraceOp::calloc || op == TraceOp::foreign_realloc;
}

// Differences of ids wrap modulo 2^32 and are read as signed: small steps either way give
// small numbers, and zigzag maps them to small unsigned ones (0, -1, 1, -2 ... -> 0, 1, 2, 3).
constexpr uint32_t zigzag(uint32_t difference) {
  return (difference << 1) ^ static_cast<uint32_t>(static_cast<int32_t>(difference) >> 31);
}
constexpr uint32_t unzigzag(uint32_t coded) { return (coded >> 1) ^ (0u - (coded & 1)); }

uint8_t* put_varint(uint8_t* out, uint32_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<uint8_t>(value) | 0x80;
    value >>= 7;
  }
  *out++ = static_cast<uint8_t>(value);
  return out;
}

std::string op_text(uint8_t op) { return trace_op_name(op); }

// Faults of the bytes themselves, worded once.
constexpr const char* kEndsEarly = "the encoded records end early";
constexpr const char* kNotShortest = "a varint is not in its shortest form (it ends in a zero byte)";
constexpr const char* kAboveU32 = "a varint is above 2^32-1";
constexpr const char* kTooLong = "a varint is longer than 5 bytes";

// Whether a tag byte is valid: a known op and domain, the reserved bit clear, flags only on the
// ops that take them. One lookup per record; the cold path says which rule it broke.
constexpr std::array<bool, 256> make_valid_tags() {
  std::array<bool, 256> valid{};
  for (int tag = 0; tag < 256; ++tag) {
    const auto op = static_cast<uint8_t>(tag & kOpBits);
    const bool flags_fit = (!(tag & kImpliedId) || is_birth(static_cast<TraceOp>(op))) &&
                           (!(tag & kKeepsId) || op == static_cast<uint8_t>(TraceOp::realloc));
    valid[tag] = is_trace_op(op) && ((tag >> kDomainShift) & kDomainBits) <= static_cast<uint8_t>(TraceDomain::obj) &&
                 !(tag & kReservedBit) && flags_fit;
  }
  return valid;
}
constexpr std::array<bool, 256> kValidTags = make_valid_tags();

// Reads one varint at `p`, in its shortest form, of a value below 2^32. `checked`: compare
// every byte's position with `end` first; without, the caller has made sure that a whole
// record (kMaxEncodedRecordBytes) lies before `end`, which no read of a record can pass: a
// varint gives up after 5 bytes.
template <bool checked>
inline bool read_varint(const uint8_t*& p, const uint8_t* end, uint32_t& value, const char*& fault) {
  if (checked && p == end) return fault = kEndsEarly, false;
  uint8_t b = *p++;
  if (b < 0x80) return value = b, true;
  uint32_t v = b & 0x7F;
  for (int k = 1; k < kVarintMaxBytes; ++k) {
    if (checked && p == end) return fault = kEndsEarly, false;
    b = *p++;
    v |= static_cast<uint32_t>(b & 0x7F) << (7 * k);
    if (b < 0x80) {
      if (b == 0) return fault = kNotShortest, false;
      if (k == kVarintMaxBytes - 1 && b > 0x0F) return fault = kAboveU32, false;
      return value = v, true;
    }
  }
  return fault = kTooLong, false;
}

// An id written as its zigzag difference from `base`.
template <bool checked>
inline bool read_id(const uint8_t*& p, const uint8_t* end, uint32_t base, uint32_t& id, const char*& fault) {
  uint32_t coded;
  if (!read_varint<checked>(p, end, coded, fault)) return false;
  id = base + unzigzag(coded);
  return true;
}

// What is wrong with a tag that kValidTags refuses.
std::string tag_problem(uint8_t tag) {
  const uint8_t op = tag & kOpBits;
  const uint8_t domain = (tag >> kDomainShift) & kDomainBits;
  if (!is_trace_op(op)) return "unknown op " + std::to_string(op);
  if (domain > static_cast<uint8_t>(TraceDomain::obj)) return "unknown domain " + std::to_string(domain);
  if (tag & kReservedBit) return "reserved bit of the record's tag is set";
  if ((tag & kImpliedId) && !is_birth(static_cast<TraceOp>(op)))
    return std::string(trace_op_name(op)) +
           " with the implied-id flag (0x20), which only allocs, callocs and foreign reallocs take";
  return std::string(trace_op_name(op)) + " with the keeps-id flag (0x40), which only reallocs take";
}

// The decoder's state across records, and one record's decoding, with or without position
// checks (see read_varint).
class Decoder {
 public:
  Decoder(const uint8_t* data, size_t length, IdPredictor& ids) : p_(data), end_(data + length), ids_(ids) {}

  size_t left() const { return static_cast<size_t>(end_ - p_); }

  // Decodes one record into `r`; on a fault returns false with problem() set.
  template <bool checked>
  bool next(TraceRecord& r) {
    if (checked && p_ == end_) return fail(kEndsEarly);
    const uint8_t tag = *p_++;
    if (!kValidTags[tag]) [[unlikely]] {
      problem_ = tag_problem(tag);
      return false;
    }
    const uint8_t op = tag & kOpBits;
    r = TraceRecord{op, static_cast<uint8_t>((tag >> kDomainShift) & kDomainBits), 0, 0, 0, 0};
    const char* fault = nullptr;
    switch (static_cast<TraceOp>(op)) {
      case TraceOp::free:
        if (!read_id<checked>(p_, end_, last_, r.id, fault)) return fail(fault);
        ids_.released(r.id);
        last_ = r.id;
        return true;
      case TraceOp::alloc:
      case TraceOp::calloc:
      case TraceOp::foreign_realloc: {
        const uint64_t predicted = ids_.predicted();
        uint32_t id;
        if (tag & kImpliedId) {
          if (predicted > UINT32_MAX) [[unlikely]]
            return fail(op_text(op) + " implies an id above 2^32-1");
          id = static_cast<uint32_t>(predicted);
        } else {
          if (!read_id<checked>(p_, end_, last_, id, fault)) return fail(fault);
          if (id == predicted) [[unlikely]]
            return fail(op_text(op) + " writes out id " + std::to_string(id) + ", which its tag should imply");
        }
        if (!read_varint<checked>(p_, end_, r.size, fault)) return fail(fault);
        if (op == static_cast<uint8_t>(TraceOp::calloc) && !read_varint<checked>(p_, end_, r.arg, fault))
          return fail(fault);
        if (op == static_cast<uint8_t>(TraceOp::foreign_realloc)) r.arg = id;
        else r.id = id;
        ids_.born(id);
        last_ = id;
        return true;
      }
      case TraceOp::realloc:
        if (!read_id<checked>(p_, end_, last_, r.id, fault) || !read_varint<checked>(p_, end_, r.size, fault))
          return fail(fault);
        r.arg = r.id;
        if (!(tag & kKeepsId)) {
          if (!read_id<checked>(p_, end_, r.id, r.arg, fault)) return fail(fault);
          if (r.arg == r.id) [[unlikely]]
            return fail("realloc writes out a new id equal to its own, which its tag should say");
          ids_.born(r.arg);
          ids_.released(r.id);
        }
        last_ = r.arg;
        return true;
      case TraceOp::foreign_free:
        return true;
    }
    return true;  // unreachable: kValidTags admits known ops only
  }

  std::string problem_;

 private:
  bool fail(std::string what) {
    problem_ = std::move(what);
    return false;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  IdPredictor& ids_;
  uint32_t last_ = 0;  // the id the next id is coded against
};

}  // namespace

void IdPredictor::born(uint32_t id) {
  const size_t n = free_.size();
  if (n > 0 && free_[n - 1] == id) {
    free_.pop_back();
  } else if (n > 1 && free_[n - 2] == id) {
    // The recorder took this id from the top of its stack, then found that the block's address
    // was still mapped to an id whose free escaped the hook: it recorded that free (pushing
    // the stale id) before the birth. Taking the id from under it keeps step with the recorder.
    free_.erase(free_.end() - 2);
  } else if (id >= fresh_) {
    fresh_ = uint64_t{id} + 1;
  }
}

void IdPredictor::released(uint32_t id) {
  // A consistent trace never holds more free ids than ids born; only a corrupt one (frees of
  // ids never born, double frees) would, and its stack stops growing there.
  if (free_.size() < fresh_) free_.push_back(id);
}

void IdPredictor::reset() {
  free_.clear();
  fresh_ = 0;
}

std::string version2_problem(const TraceRecord& r) {
  if (fits_version2(r)) return {};
  const std::string op = op_text(r.op);
  switch (static_cast<TraceOp>(r.op)) {
    case TraceOp::alloc: return op + " with arg " + std::to_string(r.arg) + ": version 2 holds no arg for it";
    case TraceOp::free: return op + " with size " + std::to_string(r.size) + " and arg " + std::to_string(r.arg) +
                               ": version 2 holds neither for it";
    case TraceOp::foreign_free: return op + " with id " + std::to_string(r.id) + ", size " + std::to_string(r.size) +
                                       " and arg " + std::to_string(r.arg) + ": version 2 holds none of them for it";
    case TraceOp::foreign_realloc: return op + " with id " + std::to_string(r.id) + ": version 2 holds no old id for it";
    default: return "unknown op " + std::to_string(r.op);
  }
}

size_t RecordEncoder::encode(const TraceRecord* records, size_t count, uint8_t* const out) {
  uint8_t* p = out;
  IdPredictor& ids = ids_;
  uint32_t last = last_;
  for (const TraceRecord* r = records; r != records + count; ++r) {
    uint8_t tag = static_cast<uint8_t>(r->op | (r->domain << kDomainShift));
    switch (static_cast<TraceOp>(r->op)) {
      case TraceOp::alloc:
      case TraceOp::calloc:
      case TraceOp::foreign_realloc: {
        const uint32_t id = r->op == static_cast<uint8_t>(TraceOp::foreign_realloc) ? r->arg : r->id;
        const bool implied = ids.predicted() == id;
        *p++ = implied ? tag | kImpliedId : tag;
        if (!implied) p = put_varint(p, zigzag(id - last));
        p = put_varint(p, r->size);
        if (r->op == static_cast<uint8_t>(TraceOp::calloc)) p = put_varint(p, r->arg);
        ids.born(id);
        last = id;
        break;
      }
      case TraceOp::realloc: {
        const bool keeps = r->arg == r->id;
        *p++ = keeps ? tag | kKeepsId : tag;
        p = put_varint(p, zigzag(r->id - last));
        p = put_varint(p, r->size);
        if (!keeps) {
          p = put_varint(p, zigzag(r->arg - r->id));
          ids.born(r->arg);
          ids.released(r->id);
        }
        last = r->arg;
        break;
      }
      case TraceOp::free:
        *p++ = tag;
        p = put_varint(p, zigzag(r->id - last));
        ids.released(r->id);
        last = r->id;
        break;
      case TraceOp::foreign_free:
        *p++ = tag;
        break;
    }
  }
  last_ = last;
  return static_cast<size_t>(p - out);
}

std::optional<DecodeProblem> decode_records(const uint8_t* data, size_t length, size_t count, IdPredictor& ids,
                                            TraceRecord* out) {
  Decoder decoder(data, length, ids);
  size_t i = 0;
  // While a whole record's worth of bytes is left, no read needs its position checked.
  for (; i < count && decoder.left() >= kMaxEncodedRecordBytes; ++i)
    if (!decoder.next<false>(out[i])) return DecodeProblem{i, std::move(decoder.problem_)};
  for (; i < count; ++i)
    if (!decoder.next<true>(out[i])) return DecodeProblem{i, std::move(decoder.problem_)};
  if (decoder.left() != 0)
    return DecodeProblem{count == 0 ? 0 : count - 1, std::to_string(decoder.left()) + " bytes follow the last record"};
  return std::nullopt;
}

}  // namespace allocbench
