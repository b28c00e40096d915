// recorder.cpp — the recording hook, its address map and id recycling. See recorder.h.
//
// Owns the process-wide recording state. Invariants beyond recorder.h's: the hook functions
// never call into the MEM or OBJ domains themselves (the map and the writer use the C
// library's malloc), and no exception leaves them: a failure (disk full, no memory) stops
// recording, passes every later call through, and is reported by stop_recording().
#include "recorder.h"

#include <unistd.h>

#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "hooks.h"
#include "trace_format.h"

namespace allocbench {

namespace {

constexpr uint64_t kLargestRecordable = std::numeric_limits<uint32_t>::max();

// Address -> id, as a two-level table: a directory (open addressing, linear probing) from
// the address's 1 MiB region to a page of one slot per 16 bytes of that region. Blocks are
// 16-byte aligned on 64-bit builds (alignof(max_align_t), which pymalloc and malloc honour),
// so two live blocks never share a slot. Why not a hash map of addresses: hashing scatters
// neighbouring blocks over the whole table, and with a live set of a few hundred thousand
// blocks nearly every lookup missed the cache (~60 ns an op); a page keeps the locality of
// the allocator itself (the slots of neighbouring blocks share cache lines), and the last
// region used is remembered, so the directory is rarely probed. Pages come from calloc:
// untouched parts cost address space only.
class AddressMap {
 public:
  static constexpr uint32_t kMissing = std::numeric_limits<uint32_t>::max();
  static constexpr uint32_t kOversize = kMissing - 1;  // a live block that is not in the trace

  AddressMap() { rehash(64); }
  ~AddressMap() {
    for (size_t i = 0; i <= mask_; ++i) std::free(directory_[i].page);
    std::free(directory_);
  }
  AddressMap(const AddressMap&) = delete;
  AddressMap& operator=(const AddressMap&) = delete;

  // Maps `address` to `id` (below kMissing); returns the id it had (kMissing if none).
  uint32_t insert(uintptr_t address, uint32_t id) {
    uint32_t& slot = page_of(address, true)[slot_index(address)];
    const uint32_t old = slot - 1;  // slots hold id + 1; an empty one (0) reads as kMissing
    slot = id + 1;
    return old;
  }

  // Removes `address`; returns its id (kMissing if it was not there).
  uint32_t take(uintptr_t address) {
    uint32_t* page = page_of(address, false);
    if (page == nullptr) return kMissing;
    uint32_t& slot = page[slot_index(address)];
    const uint32_t id = slot - 1;
    slot = 0;
    return id;
  }

 private:
  static constexpr int kRegionBits = 20;
  static constexpr int kGrainBits = 4;
  static constexpr size_t kPageSlots = size_t{1} << (kRegionBits - kGrainBits);

  struct Entry {
    uintptr_t region;  // region number + 1; 0: empty
    uint32_t* page;
  };

  static size_t slot_index(uintptr_t address) { return (address >> kGrainBits) & (kPageSlots - 1); }
  size_t home(uintptr_t region) const {
    return static_cast<size_t>((region * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  uint32_t* page_of(uintptr_t address, bool create) {
    const uintptr_t region = (address >> kRegionBits) + 1;
    if (region == last_region_) return last_page_;
    size_t i = home(region);
    for (; directory_[i].region != 0; i = (i + 1) & mask_) {
      if (directory_[i].region == region) {
        last_region_ = region;
        return last_page_ = directory_[i].page;
      }
    }
    if (!create) return nullptr;
    auto* page = static_cast<uint32_t*>(std::calloc(kPageSlots, sizeof(uint32_t)));
    if (page == nullptr) throw std::bad_alloc();
    directory_[i] = {region, page};
    if (2 * ++regions_ > mask_ + 1) rehash(2 * (mask_ + 1));
    last_region_ = region;
    return last_page_ = page;
  }

  void rehash(size_t capacity) {
    auto* fresh = static_cast<Entry*>(std::calloc(capacity, sizeof(Entry)));
    if (fresh == nullptr) throw std::bad_alloc();
    Entry* old = directory_;
    const size_t old_capacity = old == nullptr ? 0 : mask_ + 1;
    directory_ = fresh;
    mask_ = capacity - 1;
    shift_ = 64 - std::countr_zero(capacity);
    for (size_t k = 0; k < old_capacity; ++k) {
      if (old[k].region == 0) continue;
      size_t i = home(old[k].region);
      while (directory_[i].region != 0) i = (i + 1) & mask_;
      directory_[i] = old[k];
    }
    std::free(old);
  }

  Entry* directory_ = nullptr;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t regions_ = 0;
  uintptr_t last_region_ = 0;
  uint32_t* last_page_ = nullptr;
};

constexpr uint32_t kOversize = AddressMap::kOversize;

struct Recording {
  // Records are handed to the writer a batch at a time: one call, and one tight validation
  // loop, per batch instead of per allocation.
  static constexpr size_t kBatch = 4096;
  std::array<TraceRecord, kBatch> batch;
  size_t batched = 0;
  std::unique_ptr<TraceWriter> writer;
  AddressMap addresses;
  std::vector<uint32_t> free_ids;  // LIFO
  uint32_t next_id = 0;
  uint64_t live = 0;
  RecorderCounts counts;
};

// The process-wide state. `active` is the only thing the hook reads before calling through
// when nothing is recorded.
struct RecorderState {
  bool active = false;
  bool forked_away = false;  // this process is a fork of the recording one
  pid_t owner = 0;
  std::string failure;
  std::unique_ptr<Recording> recording;
  DomainHooks hooks;
};

// Never destroyed: the hook may still be in the allocator chain at exit. A pointer set at load
// time, not a function-local static: the hook reads it on every call, without a guard.
RecorderState* const g_state = new RecorderState;
inline RecorderState& state() { return *g_state; }

void fail_recording(const char* what) {
  RecorderState& s = state();
  s.active = false;
  if (s.failure.empty()) s.failure = what;
}

uint32_t new_id(Recording& r) {
  ++r.live;
  if (r.live > r.counts.peak_live) r.counts.peak_live = r.live;
  if (!r.free_ids.empty()) {
    const uint32_t id = r.free_ids.back();
    r.free_ids.pop_back();
    return id;
  }
  return r.next_id++;
}

void release_id(Recording& r, uint32_t id) {
  --r.live;
  r.free_ids.push_back(id);
}

[[gnu::noinline, gnu::cold]] void flush_batch(Recording& r) {
  r.writer->append(r.batch.data(), r.batched);
  r.counts.ops_recorded += r.batched;
  r.batched = 0;
}

// The trace numbers the domains as CPython does, so a domain is its own trace domain.
static_assert(static_cast<int>(TraceDomain::mem) == PYMEM_DOMAIN_MEM &&
              static_cast<int>(TraceDomain::obj) == PYMEM_DOMAIN_OBJ);
uint8_t trace_domain(const DomainHook& hook) { return static_cast<uint8_t>(hook.domain); }

void append(Recording& r, TraceOp op, const DomainHook& hook, uint32_t id, uint64_t size, uint32_t arg) {
  r.batch[r.batched++] = {static_cast<uint8_t>(op), trace_domain(hook), 0, id,
                          static_cast<uint32_t>(size), arg};
  if (r.batched == Recording::kBatch) flush_batch(r);
}

// The id an address map slot held, when it was a block of the trace (not missing, not oversize).
bool is_traced_id(uint32_t id) { return id < kOversize; }

// A block is born at an address the map still holds: the free of the block there before
// escaped the hook (made through another domain or allocator). Its free is recorded now.
[[gnu::noinline, gnu::cold]] void record_escaped_free(Recording& r, const DomainHook& hook, uint32_t stale) {
  append(r, TraceOp::free, hook, stale, 0, 0);
  release_id(r, stale);
}

// A new block at `address`: in the trace as `op` (alloc, calloc, foreign_realloc) unless its
// size cannot be recorded. `size`/`arg` are the record's fields.
[[gnu::always_inline]] inline void record_birth(Recording& r, const DomainHook& hook, void* address, TraceOp op,
                                                uint64_t size, uint64_t arg, bool oversize) {
  const auto key = reinterpret_cast<uintptr_t>(address);
  if (oversize) [[unlikely]] {
    ++r.counts.oversize_skipped;
    const uint32_t stale = r.addresses.insert(key, kOversize);
    if (is_traced_id(stale)) record_escaped_free(r, hook, stale);
    return;
  }
  const uint32_t id = new_id(r);
  const uint32_t stale = r.addresses.insert(key, id);
  if (is_traced_id(stale)) [[unlikely]] record_escaped_free(r, hook, stale);
  if (op == TraceOp::foreign_realloc) append(r, op, hook, 0, size, id);
  else append(r, op, hook, id, size, static_cast<uint32_t>(arg));
}

void* hook_malloc(void* ctx, size_t size) {
  auto* hook = static_cast<DomainHook*>(ctx);
  void* p = hook->previous.malloc(hook->previous.ctx, size);
  RecorderState& s = state();
  if (!s.active || p == nullptr) return p;
  try {
    record_birth(*s.recording, *hook, p, TraceOp::alloc, size, 0, size > kLargestRecordable);
  } catch (const std::exception& error) {
    fail_recording(error.what());
  }
  return p;
}

void* hook_calloc(void* ctx, size_t count, size_t element_size) {
  auto* hook = static_cast<DomainHook*>(ctx);
  void* p = hook->previous.calloc(hook->previous.ctx, count, element_size);
  RecorderState& s = state();
  if (!s.active || p == nullptr) return p;
  try {
    record_birth(*s.recording, *hook, p, TraceOp::calloc, count, element_size,
                 count > kLargestRecordable || element_size > kLargestRecordable);
  } catch (const std::exception& error) {
    fail_recording(error.what());
  }
  return p;
}

void* hook_realloc(void* ctx, void* old_address, size_t size) {
  auto* hook = static_cast<DomainHook*>(ctx);
  void* p = hook->previous.realloc(hook->previous.ctx, old_address, size);
  RecorderState& s = state();
  // NULL: the realloc failed and the old block is untouched (MEM and OBJ never free on a
  // realloc to size 0: they allocate one byte).
  if (!s.active || p == nullptr) return p;
  try {
    Recording& r = *s.recording;
    const bool oversize = size > kLargestRecordable;
    if (old_address == nullptr) {
      record_birth(r, *hook, p, TraceOp::alloc, size, 0, oversize);
      return p;
    }
    const uint32_t id = r.addresses.take(reinterpret_cast<uintptr_t>(old_address));
    if (id == AddressMap::kMissing || id == kOversize) {
      if (id == kOversize) ++r.counts.oversize_skipped;
      else if (!oversize) ++r.counts.foreign_reallocs;
      record_birth(r, *hook, p, TraceOp::foreign_realloc, size, 0, oversize);
    } else if (oversize) {
      // The block grows out of what a record can hold: it leaves the trace here.
      append(r, TraceOp::free, *hook, id, 0, 0);
      release_id(r, id);
      record_birth(r, *hook, p, TraceOp::alloc, size, 0, true);
    } else {
      const uint32_t stale = r.addresses.insert(reinterpret_cast<uintptr_t>(p), id);
      if (is_traced_id(stale)) [[unlikely]] record_escaped_free(r, *hook, stale);
      append(r, TraceOp::realloc, *hook, id, size, id);
    }
  } catch (const std::exception& error) {
    fail_recording(error.what());
  }
  return p;
}

void hook_free(void* ctx, void* address) {
  auto* hook = static_cast<DomainHook*>(ctx);
  hook->previous.free(hook->previous.ctx, address);
  RecorderState& s = state();
  if (!s.active || address == nullptr) return;
  try {
    Recording& r = *s.recording;
    const uint32_t id = r.addresses.take(reinterpret_cast<uintptr_t>(address));
    if (is_traced_id(id)) [[likely]] {
      append(r, TraceOp::free, *hook, id, 0, 0);
      release_id(r, id);
    } else if (id == kOversize) {
      ++r.counts.oversize_skipped;
    } else {
      ++r.counts.foreign_frees;
      append(r, TraceOp::foreign_free, *hook, 0, 0, 0);
    }
  } catch (const std::exception& error) {
    fail_recording(error.what());
  }
}

constexpr HookFunctions kRecordingHook{hook_malloc, hook_calloc, hook_realloc, hook_free};

void stop_in_forked_child() {
  RecorderState& s = state();
  if (!s.active && s.recording == nullptr) return;
  s.active = false;
  s.forked_away = true;
  s.hooks.uninstall();
}

}  // namespace

void start_recording(const std::string& path, const std::string& metadata_json, size_t metadata_capacity) {
  RecorderState& s = state();
  if (s.recording != nullptr) throw TraceError(path + ": a recording is already running in this process");
  if (!run_in_forked_child(stop_in_forked_child)) throw TraceError(path + ": cannot register the fork handler");
  auto recording = std::make_unique<Recording>();
  // Chunks are encoded but not compressed here: compressing costs several times what encoding
  // does, and in the hook that time is the recorded program's. allocbench record compresses
  // the trace once the program has ended (recording.py).
  recording->writer = std::make_unique<TraceWriter>(path, metadata_json, metadata_capacity, kTraceVersionWritten,
                                                    ChunkCompression::none);
  s.recording = std::move(recording);
  s.failure.clear();
  s.forked_away = false;
  s.owner = getpid();
  s.hooks.install(kRecordingHook);
  s.active = true;
}

bool is_recording() { return state().active; }

namespace {
int empty_profile_function(PyObject*, PyFrameObject*, int, PyObject*) { return 0; }
}  // namespace

void install_empty_profile_function() { PyEval_SetProfile(empty_profile_function, nullptr); }

std::optional<RecorderCounts> stop_recording(
    const std::function<std::string(const RecorderCounts&)>& final_metadata) {
  RecorderState& s = state();
  s.active = false;
  s.hooks.uninstall();
  std::unique_ptr<Recording> recording = std::move(s.recording);
  if (recording == nullptr) return std::nullopt;
  if (s.forked_away || getpid() != s.owner) {
    s.forked_away = false;
    return std::nullopt;  // the writer closes its descriptor; unbuffered, it writes nothing
  }
  const std::string path = recording->writer->path();
  if (!s.failure.empty()) throw TraceError(path + ": recording failed: " + s.failure);
  flush_batch(*recording);
  RecorderCounts counts = recording->counts;
  counts.id_space = recording->writer->summary().id_space;
  recording->writer->rewrite_metadata(final_metadata(counts));
  recording->writer->close();
  return counts;
}

}  // namespace allocbench
