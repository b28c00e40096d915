// arena_observer.h — the interpreter's own pymalloc, observed: its arenas mapped and unmapped
// over time, counted through CPython's arena allocator (PyObject_SetArenaAllocator).
//
// Owns a wrapper around the arena allocator that was installed (mmap by default): every call
// is passed to it unchanged, and counted. In 3.11 the arena allocator serves more than arenas:
// the thread data-stack chunks (16 KiB and up, Python/pystate.c allocate_chunk) come from it
// too, so only calls of exactly the interpreter's arena size (1 MiB on 64-bit 3.10+,
// docs/pymalloc-facts.md, "Layers") count as arenas; the others are counted apart. With that
// filter the counts equal the change of sys._debugmallocstats()'s "# arenas allocated total"
// and "# arenas reclaimed" over any stretch (tests/unit/test_live.py holds them together).
//
// Invariants (is_valid): the timeline has one sample per arena mapped or unmapped (until it
// is full, then timeline_dropped counts the rest); its times never decrease; each sample's
// arenas_current is the previous one's plus or minus one, or 0 again (an arena mapped before
// the observer was installed, unmapped after it: arenas_current counts those mapped since).
// Installed once per process and never taken off nor destroyed: CPython frees arenas through
// whatever arena allocator is current, up to the end of finalisation. The arena allocator
// may be called without the GIL (thread-state teardown frees data-stack chunks), so the state
// is guarded by its own mutex; arena calls are rare (one per MiB), the lock costs nothing.
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace allocbench {

struct ArenaSample {
  uint64_t time_ns = 0;         // since the observer was installed
  uint64_t arenas_current = 0;  // after the event
};

struct ArenaObservation {
  uint64_t arenas_mapped = 0;    // calls of the arena size that succeeded
  uint64_t arenas_unmapped = 0;
  uint64_t other_chunks_mapped = 0;  // any other size (data-stack chunks)
  uint64_t other_chunks_unmapped = 0;
  uint64_t arenas_peak = 0;          // the most arenas mapped at once since installed
  uint64_t timeline_dropped = 0;     // events after the timeline was full
  std::vector<ArenaSample> timeline;
};

class ArenaObserver {
 public:
  // The most samples kept: a run that maps more arenas than this keeps the first ones.
  static constexpr size_t kMostSamples = 100000;
  using Clock = uint64_t (*)();  // nanoseconds, from any fixed origin

  // `arena_bytes`: the size of one of the interpreter's arenas; `clock`: injected (tests).
  ArenaObserver(size_t arena_bytes, Clock clock);
  ArenaObserver(const ArenaObserver&) = delete;
  ArenaObserver& operator=(const ArenaObserver&) = delete;

  // Puts the wrapper over the current arena allocator. Once; later calls do nothing.
  void install();
  bool installed() const { return installed_; }
  ArenaObservation observation() const;
  // Empty when every invariant above holds, else the first that does not.
  std::string is_valid() const;

 private:
  static void* map(void* ctx, size_t size);
  static void unmap(void* ctx, void* address, size_t size);
  void note(bool mapped, size_t size);

  const size_t arena_bytes_;
  const Clock clock_;
  uint64_t origin_ns_ = 0;
  bool installed_ = false;
  PyObjectArenaAllocator previous_{};
  mutable std::mutex mutex_;
  ArenaObservation state_;
};

// The monotonic clock, in nanoseconds.
uint64_t monotonic_ns();

// The process's observer of the interpreter's arenas (CPython 3.11's arena size), created on
// first use and never destroyed; install() it to start counting.
ArenaObserver& process_arena_observer();

}  // namespace allocbench
