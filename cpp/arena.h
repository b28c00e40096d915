// arena.h — arenas: memory obtained from the OS, the record of each arena, and the exact
// "is this address inside one of my arenas?" lookup.
//
// Owns three things:
//   * ArenaMemory: where arenas come from (mmap, or the lower allocator's malloc with
//     arena_source=malloc), the madvise calls on them (huge pages, purged pools), and the
//     counters of every call (calls, bytes held now and at peak, bytes purged).
//   * ArenaObject: CPython's struct arena_object. An arena of arena_size bytes is cut into
//     pools. With arena_alignment=cpython the arena is taken where mmap puts it (page
//     aligned); when its start is not pool aligned, the partial first pool and the partial
//     last pool are unusable: one pool_size lost ("bytes lost to arena alignment").
//     With arena_alignment=aligned the arena is aligned to its own size and loses nothing.
//   * ArenaMap: CPython 3.10's radix tree over arena addresses, two levels here. The key is
//     address >> log2(arena_size); an arena not aligned to its size covers the tail of one
//     key ("tail_hi": the offset where it starts) and the head of the next ("tail_lo": the
//     offset where it ends). contains(p) is exact: true if and only if p lies inside an arena
//     currently mapped by this allocator.
//
// Invariants (checked by Pymalloc::is_valid):
//   * an arena object's address is 0 if and only if it is on the unused list;
//   * pools carved so far are [first_pool, pool_address); nfreepools == free_pools.size() +
//     pools never carved; ntotalpools == arena_size / pool_size, less one when unaligned;
//   * contains() is true at both ends of every mapped arena and false just outside them
//     (unless a neighbouring arena is mapped there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "config.h"
#include "lower_allocator.h"
#include "pool.h"

namespace allocbench {

struct ArenaCounters {
  uint64_t mmap_calls = 0;
  uint64_t munmap_calls = 0;
  uint64_t madvise_calls = 0;
  uint64_t arena_malloc_calls = 0;  // arena_source=malloc: arenas taken from the lower allocator
  uint64_t arena_free_calls = 0;    // ... and given back to it
  uint64_t bytes_mapped = 0;        // arena bytes held, whatever their source
  uint64_t peak_bytes_mapped = 0;
  uint64_t bytes_purged_total = 0;    // every madvise'd byte, ever
  uint64_t bytes_purged_current = 0;  // purged pools not taken again since
  uint64_t peak_footprint = 0;        // peak of bytes_mapped - bytes_purged_current
};

class ArenaMemory {
 public:
  ArenaMemory(const PymallocConfig& config, const LowerAllocator& lower)
      : config_(config), lower_(lower) {}

  // An arena of arena_size bytes: from mmap (read-write, private, anonymous; aligned to its
  // size with arena_alignment=aligned, by mapping twice the size and unmapping the excess;
  // MADV_HUGEPAGE with arena_hugepages=madvise) or from the lower allocator. nullptr on
  // failure.
  void* acquire();
  // `purged_inside`: bytes of the arena that are currently purged.
  void release(void* arena, size_t purged_inside);
  // Gives the pages of [address, address + size) back, keeping the mapping.
  void purge(void* address, size_t size);
  // A purged range is in use again (its pages come back on first touch).
  void unpurge(size_t size);

  const ArenaCounters& counters() const { return counters_; }

 private:
  void* map();
  void note_footprint();
  const PymallocConfig& config_;
  const LowerAllocator& lower_;
  ArenaCounters counters_;
};

struct ArenaObject {
  uint32_t index = 0;          // position in the allocator's table, stored in pool headers
  uintptr_t address = 0;       // start of the mapping; 0 when unused
  uintptr_t first_pool = 0;    // first pool-aligned address inside the arena
  uintptr_t pool_address = 0;  // next never-carved pool
  uint32_t nfreepools = 0;     // empty pools, carved or not
  uint32_t ntotalpools = 0;
  // Emptied pools, the most recently emptied last: CPython's "freepools" list, kept beside the
  // arena rather than threaded through the pool headers so that a purged pool's zeroed pages
  // cannot break it. Same last-in first-out order as CPython.
  std::vector<PoolHeader*> free_pools;
  ArenaObject* next = nullptr;  // usable list, or unused list when address == 0
  ArenaObject* prev = nullptr;  // usable list only
};

class ArenaMap {
 public:
  explicit ArenaMap(uint32_t arena_size);
  ~ArenaMap();
  ArenaMap(const ArenaMap&) = delete;
  ArenaMap& operator=(const ArenaMap&) = delete;

  // Returns false when a node could not be allocated (the arena must then not be used).
  bool mark_used(uintptr_t arena_base);
  void mark_unused(uintptr_t arena_base);

  bool contains(const void* p) const {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    if (a >> kAddressBits) return false;
    const Leaf* leaf = top_[a >> top_shift_];
    if (leaf == nullptr) return false;
    const Entry& e = leaf[(a >> arena_bits_) & leaf_mask_];
    const int32_t tail = static_cast<int32_t>(a & arena_mask_);
    return tail < e.tail_lo || (tail >= e.tail_hi && e.tail_hi != 0);
  }

  // Bytes held by the tree's nodes (CPython prints these as "bytes lost to arena map").
  uint64_t node_bytes() const;

 private:
  static constexpr uint32_t kAddressBits = 48;
  struct Entry {
    int32_t tail_hi;  // arena starting in this key starts at this offset; -1: at offset 0
    int32_t tail_lo;  // arena ending in this key ends before this offset
  };
  using Leaf = Entry;
  Entry* entry(uintptr_t address, bool create);

  uint32_t arena_bits_;
  uintptr_t arena_mask_;
  uint32_t leaf_bits_;
  uintptr_t leaf_mask_;
  uint32_t top_shift_;
  size_t top_entries_;
  Leaf** top_;
  size_t leaves_ = 0;
};

}  // namespace allocbench
