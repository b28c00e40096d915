// replay.cpp — the replay loop, its checks and its timing. See replay.h for what each op
// does and the invariants.
#include "replay.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <new>

namespace allocbench {

Touch parse_touch(std::string_view text) {
  if (text == "none") return Touch::none;
  if (text == "first") return Touch::first_byte;
  if (text == "all") return Touch::whole_block;
  throw ConfigError("touch=" + std::string(text) + ": one of none, first, all");
}

namespace {

using Clock = std::chrono::steady_clock;

// The size a dead slot keeps, so that a later free says how the id died: freed (a double
// free) or moved by a realloc to another id.
constexpr uint64_t kFreedSize = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kMovedSize = kFreedSize - 1;

struct Slot {
  char* block = nullptr;  // null: not live
  uint64_t size = 0;      // requested bytes while live; kFreedSize once freed
};

struct LiveCounters {
  uint64_t bytes = 0;
  uint64_t objects = 0;
  uint64_t peak_bytes = 0;
  uint64_t peak_objects = 0;
};

// Everything a pass over the trace produces besides the allocator's own figures.
struct PassOutcome {
  int64_t elapsed_ns = 0;
  OpCounts ops;
  LiveCounters live;
  std::vector<TimelineSample> timeline;
  std::optional<uint64_t> largest_sampled_footprint;
  std::optional<uint64_t> rss_at_start;
};

enum class Refusal { unknown_op, already_live, not_live, freed_already, moved_already, absurd_size, allocator_refused };

// Off the hot path: builds the one-line message (worded as `allocbench trace info` words the
// same faults) and throws.
[[noreturn]] __attribute__((noinline, cold)) void refuse(const TraceReader& reader,
                                                        uint64_t op_index,
                                                        const TraceRecord& record,
                                                        Refusal refusal, uint64_t value) {
  const char* name = trace_op_name(record.op);
  const std::string op = name != nullptr ? name : "op";
  const std::string number = std::to_string(value);
  switch (refusal) {
    case Refusal::unknown_op:
      reader.fail(op_index, "unknown op " + number);
    case Refusal::already_live:
      reader.fail(op_index, op + " gives id " + number + ", which is already live");
    case Refusal::not_live:
      reader.fail(op_index, op + " of id " + number + ", which is not live");
    case Refusal::freed_already:
      reader.fail(op_index, op + " of id " + number + ", which is not live (freed already)");
    case Refusal::moved_already:
      reader.fail(op_index, op + " of id " + number + ", which is not live (a realloc moved it to another id)");
    case Refusal::absurd_size:
      reader.fail(op_index, op + " of id " + std::to_string(record.id) + ": absurd size " + number +
                                " bytes (more than " + std::to_string(kAbsurdRequestBytes) + ")");
    case Refusal::allocator_refused:
      break;
  }
  reader.fail(op_index, op + " of " + number + " bytes: the allocator returned NULL");
}

template <Touch touch>
inline void write_new_part(char* block, uint64_t from, uint64_t to) {
  if constexpr (touch == Touch::first_byte) {
    if (from < to) *static_cast<volatile char*>(block + from) = 1;
  } else if constexpr (touch == Touch::whole_block) {
    if (from < to) std::memset(block + from, 0x5A, to - from);
  }
}

// The op loop for one allocator type and touch mode. The counters live in scalar locals of
// run(), captured by nothing: a counter behind a reference or in a struct was kept in
// memory by the compiler, and its store-to-load round trip every op was the loop's largest
// cost. The checks are members, reaching the op index only on their cold path.
template <class Impl, Touch touch>
class Player {
 public:
  Player(Impl& allocator, const TraceReader& reader, std::vector<Slot>& slots)
      : allocator_(allocator), reader_(reader), slots_(slots) {}

  // Plays records [begin, end); the first is op `first_op` of the trace.
  void play(const TraceRecord* begin, const TraceRecord* end, uint64_t first_op) {
    begin_ = begin;
    first_op_ = first_op;
    if (slots_.size() * sizeof(Slot) > kPrefetchAboveTableBytes)
      run<true>(begin, end);
    else
      run<false>(begin, end);
  }

  // Frees every block still live (after an error, or what the trace leaves live at its end).
  void free_live() {
    for (Slot& s : slots_) {
      if (s.block != nullptr) allocator_.deallocate(s.block, s.size);
      s = Slot{};
    }
    live_.bytes = live_.objects = 0;
  }

  const LiveCounters& live() const { return live_; }

 private:
  // A table larger than this misses the cache on the slots of frees, which are random: the
  // slot of the op kPrefetchDistance ahead is fetched early. Smaller tables stay in the cache,
  // where the prefetch would only add work.
  static constexpr size_t kPrefetchAboveTableBytes = 64 * 1024;
  static constexpr ptrdiff_t kPrefetchDistance = 16;

  template <bool prefetch>
  void run(const TraceRecord* begin, const TraceRecord* end) {
    Impl& a = allocator_;
    Slot* const slots = slots_.data();
    uint64_t live_bytes = live_.bytes, live_objects = live_.objects;
    uint64_t peak_bytes = live_.peak_bytes, peak_objects = live_.peak_objects;

    for (const TraceRecord* r = begin; r != end; ++r) {
      if constexpr (prefetch)
        if (end - r > kPrefetchDistance) __builtin_prefetch(&slots[r[kPrefetchDistance].id]);
      uint64_t born;  // requested bytes of the block an alloc, calloc or foreign realloc makes
      switch (static_cast<TraceOp>(r->op)) {
        case TraceOp::alloc:
          born = place(r, r->id, r->size, false);
          break;
        case TraceOp::free: {
          Slot& s = slots[r->id];
          require_live(r, s, r->id);
          a.deallocate(s.block, s.size);
          live_bytes -= s.size;
          --live_objects;
          s = {nullptr, kFreedSize};
          continue;
        }
        case TraceOp::realloc: {
          Slot& old = slots[r->id];
          require_live(r, old, r->id);
          Slot& target = slots[r->arg];
          if (&target != &old) require_free(r, target, r->arg);
          const uint64_t n = r->size;
          require_sane(r, n);
          char* q = static_cast<char*>(a.reallocate(old.block, old.size, n));
          require_block(r, q, n);
          write_new_part<touch>(q, old.size, n);
          live_bytes += n - old.size;  // wraps correctly when shrinking
          peak_bytes = std::max(peak_bytes, live_bytes);
          old = {nullptr, &target == &old ? kFreedSize : kMovedSize};
          target = {q, n};
          continue;
        }
        case TraceOp::calloc:
          born = place(r, r->id, uint64_t{r->size} * r->arg, true);
          break;
        case TraceOp::foreign_free:
          continue;
        case TraceOp::foreign_realloc:
          born = place(r, r->arg, r->size, false);
          break;
        default:
          refuse(reader_, index_of(r), *r, Refusal::unknown_op, r->op);
      }
      live_bytes += born;
      ++live_objects;
      peak_bytes = std::max(peak_bytes, live_bytes);
      peak_objects = std::max(peak_objects, live_objects);
    }
    live_ = {live_bytes, live_objects, peak_bytes, peak_objects};
  }

  uint64_t index_of(const TraceRecord* r) const { return first_op_ + (r - begin_); }

  // Makes the block of a birth (alloc, calloc, foreign realloc) in slot `id`; returns its size.
  uint64_t place(const TraceRecord* r, uint32_t id, uint64_t n, bool zeroed) {
    Slot& s = slots_.data()[id];
    require_free(r, s, id);
    require_sane(r, n);
    char* p = static_cast<char*>(zeroed ? allocator_.callocate(r->size, r->arg) : allocator_.allocate(n));
    require_block(r, p, n);
    write_new_part<touch>(p, 0, n);
    s = {p, n};
    return n;
  }
  void require_live(const TraceRecord* r, const Slot& s, uint32_t id) const {
    if (s.block == nullptr) [[unlikely]]
      refuse(reader_, index_of(r), *r,
             s.size == kFreedSize ? Refusal::freed_already
                                  : s.size == kMovedSize ? Refusal::moved_already : Refusal::not_live,
             id);
  }
  void require_free(const TraceRecord* r, const Slot& s, uint32_t id) const {
    if (s.block != nullptr) [[unlikely]]
      refuse(reader_, index_of(r), *r, Refusal::already_live, id);
  }
  void require_sane(const TraceRecord* r, uint64_t n) const {
    if (n > kAbsurdRequestBytes) [[unlikely]]
      refuse(reader_, index_of(r), *r, Refusal::absurd_size, n);
  }
  void require_block(const TraceRecord* r, const void* p, uint64_t n) const {
    if (p == nullptr) [[unlikely]]
      refuse(reader_, index_of(r), *r, Refusal::allocator_refused, n);
  }

  Impl& allocator_;
  const TraceReader& reader_;
  std::vector<Slot>& slots_;
  LiveCounters live_;
  const TraceRecord* begin_ = nullptr;  // of the stretch being played, for op indices
  uint64_t first_op_ = 0;
};

void count_ops(const std::vector<TraceRecord>& records, OpCounts& ops) {
  uint64_t by_op[8] = {};
  for (const TraceRecord& r : records) {
    ++by_op[r.op & 7];
    ++ops.by_domain[r.domain < 3 ? r.domain : 0];  // the reader has checked the domain
  }
  ops.alloc += by_op[static_cast<int>(TraceOp::alloc)];
  ops.calloc += by_op[static_cast<int>(TraceOp::calloc)];
  ops.realloc += by_op[static_cast<int>(TraceOp::realloc)];
  ops.free += by_op[static_cast<int>(TraceOp::free)];
  ops.foreign_free += by_op[static_cast<int>(TraceOp::foreign_free)];
  ops.foreign_realloc += by_op[static_cast<int>(TraceOp::foreign_realloc)];
}

// One pass over the whole trace. Times each stretch of the op loop between two chunk reads
// or timeline samples, and sums the stretches. Frees what the trace leaves live only after
// `at_end` has looked at the allocator; on an error, frees it before rethrowing.
template <Touch touch, class Impl, class AtEnd>
PassOutcome play_trace(TraceReader& reader, Impl& allocator, std::vector<Slot>& slots,
                       uint64_t timeline_every, AtEnd&& at_end) {
  slots.assign(reader.summary().id_space, Slot{});
  Player<Impl, touch> player(allocator, reader, slots);
  PassOutcome out;
  try {
    reader.rewind();
    std::vector<TraceRecord> records;
    uint64_t next_sample =
        timeline_every == 0 ? std::numeric_limits<uint64_t>::max() : timeline_every;
    while (reader.next_chunk(records)) {
      count_ops(records, out.ops);
      const uint64_t first_op = reader.chunk_first_op();
      if (first_op == 0) {
        // The id table and the first chunk are in memory: what the process holds from here
        // on is the allocator's doing.
        out.rss_at_start = process_rss_bytes();
        reset_peak_rss();
      }
      size_t done = 0;
      while (done < records.size()) {
        const size_t stop =
            static_cast<size_t>(std::min<uint64_t>(records.size(), next_sample - first_op));
        const Clock::time_point start = Clock::now();
        player.play(records.data() + done, records.data() + stop, first_op + done);
        out.elapsed_ns +=
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
        done = stop;
        if (first_op + done == next_sample) {
          const std::optional<uint64_t> footprint = allocator.footprint_bytes();
          out.timeline.push_back({next_sample, player.live().bytes, footprint, process_rss_bytes()});
          if (footprint)
            out.largest_sampled_footprint =
                std::max(out.largest_sampled_footprint.value_or(0), *footprint);
          next_sample += timeline_every;
        }
      }
    }
    out.live = player.live();
    at_end();
  } catch (...) {
    player.free_live();
    throw;
  }
  player.free_live();
  return out;
}

// The allocator's own record of its peak footprint: a lower bound in any case, and exact
// when `exact` says so.
struct OwnPeak {
  uint64_t at_least = 0;
  bool exact = false;
};

template <class Impl>
std::optional<OwnPeak> own_peak_footprint(const Impl&) {
  return std::nullopt;
}

// pymalloc notes its footprint (arenas and pass-through blocks) at every event that can
// raise it, so its peak is exact.
std::optional<OwnPeak> own_peak_footprint(const Pymalloc& allocator) {
  return OwnPeak{allocator.peak_footprint_bytes(), true};
}

// What replay_harness_only plays against: one region of address space as large as any
// request may be, handed out for every request. Pages come only as the touch writes them.
class ScratchOnly {
 public:
  ScratchOnly()
      : region_(mmap(nullptr, kAbsurdRequestBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)) {
    if (region_ == MAP_FAILED) throw std::bad_alloc();
  }
  ~ScratchOnly() { munmap(region_, kAbsurdRequestBytes); }
  ScratchOnly(const ScratchOnly&) = delete;
  ScratchOnly& operator=(const ScratchOnly&) = delete;

  void* allocate(size_t) { return region_; }
  void* callocate(size_t, size_t) { return region_; }
  void* reallocate(void*, size_t, size_t) { return region_; }
  void deallocate(void*, size_t) {}
  std::optional<uint64_t> footprint_bytes() const { return std::nullopt; }

 private:
  void* region_;
};

// What scan_trace plays against (with touch none, so no block is ever written): counts the
// requests of each size and hands out one address that is never dereferenced.
class SizeCounter {
 public:
  void* allocate(size_t n) { return count(n); }
  void* callocate(size_t count_, size_t size) { return count(count_ * size); }
  void* reallocate(void*, size_t, size_t n) { return count(n); }
  void deallocate(void*, size_t) {}
  std::optional<uint64_t> footprint_bytes() const { return std::nullopt; }
  std::vector<std::pair<uint64_t, uint64_t>> sizes() const { return {counts_.begin(), counts_.end()}; }

 private:
  void* count(uint64_t n) {
    ++counts_[n];
    return &placeholder_;
  }
  std::map<uint64_t, uint64_t> counts_;
  char placeholder_ = 0;
};

template <class F>
decltype(auto) with_touch(Touch touch, F&& f) {
  switch (touch) {
    case Touch::none: return f.template operator()<Touch::none>();
    case Touch::first_byte: return f.template operator()<Touch::first_byte>();
    case Touch::whole_block: break;
  }
  return f.template operator()<Touch::whole_block>();
}

// One pass of the loop of a replay into `impl`: fills `result` with the pass's figures.
template <Touch touch, class Impl>
void play_once(TraceReader& reader, const Allocator& allocator, Impl& impl, const ReplayOptions& options,
               std::vector<Slot>& slots, ReplayResult& result) {
  PassOutcome pass = play_trace<touch>(reader, impl, slots, options.timeline_every, [&] {
    result.rss_bytes_at_end = process_rss_bytes();
    result.retained_footprint_bytes = impl.footprint_bytes();
    result.figures = allocator.figures();
    result.peak_footprint_bytes = result.retained_footprint_bytes;
    result.peak_footprint_exact = false;
    if (const std::optional<OwnPeak> own = own_peak_footprint(impl)) {
      result.peak_footprint_bytes = std::max(result.retained_footprint_bytes.value_or(0), own->at_least);
      result.peak_footprint_exact = own->exact;
    }
  });
  if (pass.largest_sampled_footprint)
    result.peak_footprint_bytes = std::max(result.peak_footprint_bytes.value_or(0), *pass.largest_sampled_footprint);
  result.elapsed_seconds += static_cast<double>(pass.elapsed_ns) * 1e-9;
  result.ops = pass.ops;
  result.peak_live_bytes = pass.live.peak_bytes;
  result.peak_live_objects = pass.live.peak_objects;
  result.retained_live_bytes = pass.live.bytes;
  result.retained_live_objects = pass.live.objects;
  result.timeline = std::move(pass.timeline);
  result.rss_bytes_at_start = pass.rss_at_start;
}

// options.loops passes, each into the allocator that `next_allocator()` returns.
template <class NextAllocator>
ReplayResult replay_loops(TraceReader& reader, const ReplayOptions& options, NextAllocator&& next_allocator) {
  if (options.loops == 0) throw ConfigError("loops=0: at least 1");
  ReplayResult result;
  result.loops = options.loops;
  std::vector<Slot> slots;
  for (uint64_t loop = 0; loop < options.loops; ++loop) {
    Allocator& allocator = next_allocator();
    visit(allocator, [&](auto& impl) {
      with_touch(options.touch, [&]<Touch touch>() { play_once<touch>(reader, allocator, impl, options, slots, result); });
    });
  }
  return result;
}

}  // namespace

double ReplayResult::ns_per_op() const {
  const uint64_t played = ops.played() * loops;
  return played == 0 ? std::numeric_limits<double>::quiet_NaN() : elapsed_seconds * 1e9 / static_cast<double>(played);
}

double ReplayResult::footprint_fragmentation() const {
  if (!peak_footprint_bytes || *peak_footprint_bytes == 0 || peak_live_bytes == 0)
    return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(*peak_footprint_bytes) / static_cast<double>(peak_live_bytes);
}

void reset_peak_rss() {
  if (std::FILE* clear_refs = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", clear_refs);
    std::fclose(clear_refs);
  }
}

std::optional<uint64_t> process_rss_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return std::nullopt;
  unsigned long long size = 0, resident = 0;
  const int read = std::fscanf(statm, "%llu %llu", &size, &resident);
  std::fclose(statm);
  if (read != 2) return std::nullopt;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::optional<uint64_t> process_peak_rss_bytes() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) return std::nullopt;
  char line[256];
  std::optional<uint64_t> peak;
  unsigned long long kib = 0;
  while (!peak && std::fgets(line, sizeof line, status) != nullptr)
    if (std::sscanf(line, "VmHWM: %llu kB", &kib) == 1) peak = kib * 1024;
  std::fclose(status);
  return peak;
}

ReplayResult replay(TraceReader& reader, Allocator& allocator, const ReplayOptions& options) {
  return replay_loops(reader, options, [&]() -> Allocator& { return allocator; });
}

ReplayResult replay(TraceReader& reader, const AllocatorSpec& spec, const ReplayOptions& options) {
  std::unique_ptr<Allocator> fresh;
  return replay_loops(reader, options, [&]() -> Allocator& {
    fresh.reset();  // the previous loop's allocator is gone before the next is built
    fresh = make_allocator(spec);
    return *fresh;
  });
}

TraceScan scan_trace(TraceReader& reader) {
  SizeCounter counter;
  std::vector<Slot> slots;
  const PassOutcome pass = play_trace<Touch::none>(reader, counter, slots, 0, [] {});
  return {pass.ops, pass.live.peak_bytes, pass.live.peak_objects, pass.live.bytes, pass.live.objects, counter.sizes()};
}

double replay_harness_only(TraceReader& reader, uint64_t loops, Touch touch) {
  ScratchOnly scratch;
  int64_t total_ns = 0;
  std::vector<Slot> slots;
  for (uint64_t loop = 0; loop < loops; ++loop)
    total_ns += with_touch(touch, [&]<Touch t>() { return play_trace<t>(reader, scratch, slots, 0, [] {}).elapsed_ns; });
  return static_cast<double>(total_ns) * 1e-9;
}

}  // namespace allocbench
