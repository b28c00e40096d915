// stats.h — what an allocator reports about itself, and the sys._debugmallocstats() layout.
//
// Owns the statistics records and their names. Counters that must be exact at every step
// and are cheap (live and peak bytes, OS calls, arena counts) are kept on the fly by the
// allocators; everything per size class is derived by walking the arenas, as CPython's
// _PyObject_DebugMallocStats does, so that malloc and free pay nothing for it.
//
// Invariant (PymallocStats::accounting_error, checked by tests after every operation): the
// arenas' bytes are all accounted for, exactly as CPython prints them:
//   bytes in allocated blocks + bytes in available blocks + unused pools * pool_size
//   + pool headers + quantization + arena alignment == arenas * arena_size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.h"

namespace allocbench {

// A flat, ordered record of named figures: what every allocator can report, each name
// written once, here or where the figure is produced.
struct Figures {
  std::vector<std::pair<std::string, uint64_t>> counters;  // bytes, calls, counts
  std::vector<std::pair<std::string, std::string>> info;   // config and provenance

  void add(const char* name, uint64_t value) { counters.emplace_back(name, value); }
  void note(const char* name, std::string value) { info.emplace_back(name, std::move(value)); }
};


// Whether an allocator can tell that a pointer is one of its blocks: yes or no where it can
// tell exactly (pymalloc: inside one of its arenas; floor: inside its region), unknown where
// it serves everything itself and cannot tell a foreign pointer (system, cpython).
enum class Ownership { no, yes, unknown };

// count * size does not fit in size_t: calloc must fail rather than wrap.
inline bool calloc_overflows(size_t count, size_t size) {
  return size != 0 && count > SIZE_MAX / size;
}

// Requested bytes as the caller sees them: kept by every allocator, since allocbench's
// interface passes the size to free and realloc (as C++'s sized delete does).
struct RequestCounters {
  uint64_t live_bytes = 0;
  uint64_t peak_live_bytes = 0;
  uint64_t live_objects = 0;

  void add(uint64_t n) {
    live_bytes += n;
    ++live_objects;
    if (live_bytes > peak_live_bytes) peak_live_bytes = live_bytes;
  }
  void remove(uint64_t n) {
    live_bytes -= n;
    --live_objects;
  }
  void resize(uint64_t old_n, uint64_t new_n) {
    live_bytes += new_n - old_n;  // wraps correctly for shrinking
    if (live_bytes > peak_live_bytes) peak_live_bytes = live_bytes;
  }
  // The figures of every allocator that keeps them, under the names used everywhere.
  void add_figures(Figures& f) const;
  // Empty when live bytes do not exceed their peak.
  std::string is_valid() const { return live_bytes <= peak_live_bytes ? "" : "live bytes above their peak"; }
};

inline void RequestCounters::add_figures(Figures& f) const {
  f.add("live_bytes", live_bytes);
  f.add("peak_live_bytes", peak_live_bytes);
  f.add("live_objects", live_objects);
}

struct SizeClassStats {
  uint32_t size_class = 0;
  uint32_t block_size = 0;
  uint32_t blocks_per_pool = 0;
  uint64_t pools = 0;             // pools currently serving the class
  uint64_t blocks_in_use = 0;
  uint64_t blocks_available = 0;  // free or never carved, in those pools
};

struct PymallocStats {
  PymallocConfig config;
  uint32_t size_class_count = 0;

  // Kept on the fly. Requested and pass-through bytes only when sizes_known (the caller
  // passes sizes to free and realloc; not in the live mode).
  bool sizes_known = true;
  uint64_t live_bytes = 0;       // requested bytes live
  uint64_t peak_live_bytes = 0;
  uint64_t live_block_bytes = 0;
  uint64_t peak_block_bytes = 0;
  uint64_t arenas_current = 0;
  uint64_t arenas_peak = 0;
  uint64_t arenas_allocated_total = 0;
  uint64_t arenas_reclaimed = 0;
  uint64_t empty_arenas_retained = 0;
  uint64_t passthrough_calls = 0;  // malloc, calloc, realloc and free calls sent to the lower allocator
  uint64_t passthrough_live_objects = 0;
  uint64_t passthrough_live_bytes = 0;
  uint64_t passthrough_peak_bytes = 0;
  uint64_t mmap_calls = 0;
  uint64_t munmap_calls = 0;
  uint64_t madvise_calls = 0;
  uint64_t arena_malloc_calls = 0;
  uint64_t arena_free_calls = 0;
  uint64_t bytes_mapped = 0;
  uint64_t peak_bytes_mapped = 0;
  uint64_t bytes_purged_total = 0;
  uint64_t bytes_purged_current = 0;
  uint64_t arena_footprint_bytes = 0;  // mapped less purged: what the arenas hold from the OS
  uint64_t peak_arena_footprint_bytes = 0;
  uint64_t footprint_bytes = 0;  // arena footprint + pass-through live bytes (when sizes_known)
  uint64_t peak_footprint_bytes = 0;
  uint64_t arena_map_bytes = 0;

  // Derived by walking the arenas.
  std::vector<SizeClassStats> classes;  // every class, including those with no pool
  uint64_t unused_pools = 0;
  uint64_t allocated_block_bytes = 0;
  uint64_t available_block_bytes = 0;
  uint64_t pool_header_bytes = 0;
  uint64_t quantization_bytes = 0;
  uint64_t arena_alignment_bytes = 0;

  uint64_t arena_bytes() const { return arenas_current * config.arena_size; }
  // Empty if the accounting identity holds, else the two sides.
  std::string accounting_error() const;
  Figures figures() const;
  // The report of sys._debugmallocstats() for the pymalloc part, same layout and wording.
  std::string debug_malloc_stats() const;
};

// CPython's printone(): the message padded to 35 columns, '=', the value with thousands
// separators right-aligned in 21 columns.
std::string debug_stats_line(const std::string& message, uint64_t value);

// The pymalloc part of a sys._debugmallocstats()-style report (the interpreter's own, or a
// variant's debug_malloc_stats()), read back: the one reader of the layout written above.
struct ParsedMallocStats {
  uint32_t threshold = 0;
  uint32_t size_class_count = 0;
  std::vector<SizeClassStats> classes;  // the rows printed: classes with at least one pool
  // "<message> = <value>" lines, in order, e.g. {"# arenas allocated total", 12}
  std::vector<std::pair<std::string, uint64_t>> counters;
  uint64_t arena_size = 0;  // from "N arenas * SIZE bytes/arena"

  std::optional<uint64_t> counter(std::string_view message) const;
};
// Empty when the text holds no pymalloc report ("Small block threshold = ..." missing).
std::optional<ParsedMallocStats> parse_debug_malloc_stats(std::string_view text);

}  // namespace allocbench
