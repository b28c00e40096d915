// arena_observer.cpp — the counting wrapper around CPython's arena allocator. See
// arena_observer.h.
#include "arena_observer.h"

#include <time.h>

#include <algorithm>

#include "config.h"

namespace allocbench {

uint64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

ArenaObserver::ArenaObserver(size_t arena_bytes, Clock clock) : arena_bytes_(arena_bytes), clock_(clock) {}

void ArenaObserver::install() {
  if (installed_) return;
  origin_ns_ = clock_();
  PyObject_GetArenaAllocator(&previous_);
  PyObjectArenaAllocator ours{this, &ArenaObserver::map, &ArenaObserver::unmap};
  PyObject_SetArenaAllocator(&ours);
  installed_ = true;
}

void* ArenaObserver::map(void* ctx, size_t size) {
  auto* self = static_cast<ArenaObserver*>(ctx);
  void* address = self->previous_.alloc(self->previous_.ctx, size);
  if (address != nullptr) self->note(true, size);
  return address;
}

void ArenaObserver::unmap(void* ctx, void* address, size_t size) {
  auto* self = static_cast<ArenaObserver*>(ctx);
  self->previous_.free(self->previous_.ctx, address, size);
  self->note(false, size);
}

void ArenaObserver::note(bool mapped, size_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  ArenaObservation& s = state_;
  if (size != arena_bytes_) {
    ++(mapped ? s.other_chunks_mapped : s.other_chunks_unmapped);
    return;
  }
  ++(mapped ? s.arenas_mapped : s.arenas_unmapped);
  // An arena mapped before the observer and unmapped after it leaves fewer than none counted:
  // the timeline shows the arenas mapped since, at least zero.
  const uint64_t current = s.arenas_mapped > s.arenas_unmapped ? s.arenas_mapped - s.arenas_unmapped : 0;
  s.arenas_peak = std::max(s.arenas_peak, current);
  if (s.timeline.size() == kMostSamples) {
    ++s.timeline_dropped;
    return;
  }
  // The vector grows through the C library's allocator, never through the MEM or OBJ domain.
  s.timeline.push_back({clock_() - origin_ns_, current});
}

ArenaObservation ArenaObserver::observation() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

std::string ArenaObserver::is_valid() const {
  const ArenaObservation s = observation();
  if (s.timeline.size() + s.timeline_dropped != s.arenas_mapped + s.arenas_unmapped)
    return "the timeline does not have one sample per arena event";
  for (size_t i = 1; i < s.timeline.size(); ++i) {
    const ArenaSample& before = s.timeline[i - 1];
    const ArenaSample& now = s.timeline[i];
    if (now.time_ns < before.time_ns) return "the timeline goes back in time";
    const uint64_t step = now.arenas_current > before.arenas_current ? now.arenas_current - before.arenas_current
                                                                     : before.arenas_current - now.arenas_current;
    // A step of 0 happens only at 0: an arena mapped before the observer was unmapped.
    if (step > 1 || (step == 0 && now.arenas_current != 0)) return "the timeline skips an arena event";
  }
  return "";
}

ArenaObserver& process_arena_observer() {
  // Never destroyed: the interpreter frees arenas through it until the very end.
  static ArenaObserver* observer = [] {
    const PresetInfo& cpython = presets().front();  // cpython-3.11: the interpreter this is built for
    return new ArenaObserver(cpython.config.arena_size, monotonic_ns);
  }();
  return *observer;
}

}  // namespace allocbench
