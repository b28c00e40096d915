// pymalloc.h — a faithful, configurable reimplementation of CPython's small-object allocator.
//
// Layers, bottom up (each in its own file):
//   lower     the allocator below: pass-through requests (and arenas   lower_allocator.h
//             with arena_source=malloc); system malloc unless injected
//   OS        mmap / munmap / madvise, counted                        arena.h (ArenaMemory)
//   arena     arena_size bytes from the OS, cut into pools            arena.h (ArenaObject)
//   pool      pool_size bytes serving one size class, header first    pool.h
//   block     the unit handed out; size classes in size_classes.h
//   this file the decisions: which pool, which arena, when to give memory back.
//
// The decisions follow CPython 3.11's Objects/obmalloc.c step for step
// (docs/pymalloc-facts.md, "Allocation, in order", "Free, in order", "realloc"):
//
// allocate(n): n == 0 or n > threshold -> the lower allocator (pass-through). Else take the head
//   of the class's used-pool list and pop its free list; when the list runs dry carve the
//   next block, and when none is left the pool is full and leaves the list. With no used
//   pool: take a pool from the head of the usable-arena list (its most recently emptied pool,
//   else its next never-carved pool; a new arena when no arena is usable); the arena leaves
//   the usable list when its last free pool is taken.
// free(p): p not inside an arena (exact radix-tree lookup) -> the lower allocator's free. Else push the
//   block on its pool's free list. A pool that was full rejoins the front of its class's
//   list; a pool that became empty goes on its arena's free-pool stack (and is purged with
//   madvise when pool_purge asks), and then the arena is released, made usable, or moved,
//   as the release and order policies say.
// realloc(p, n): not owned -> the lower allocator's realloc. Owned and n fits the block and n > 3/4 of the
//   block -> stays in place. Else allocate, copy, free.
//
// Lists and what they hold (the "if and only if" invariants, checked by is_valid()):
//   used_[c]       pools of class c with 0 < count < blocks_per_pool, nothing else;
//                  doubly linked, NULL at both ends
//   usable_        arenas with nfreepools > 0, nothing else; with most-used-first sorted by
//                  nfreepools ascending, and last_with_[k] is the last arena of the list with
//                  nfreepools == k (or NULL when none has k), which makes re-sorting O(1);
//                  with address sorted by address; with lifo in the order they became usable
//   unused_        arena objects whose address is 0, nothing else
//   arena.free_pools  the arena's carved pools with count == 0, nothing else
// Sizes: allocbench's interface passes the requested size to free and realloc, which keeps
// live and peak requested bytes exact. CPython's does not (PyObject_Free(p)); the *_unsized
// entry points serve it (the live mode): a block's size then comes from its pool, and
// requested and pass-through bytes are not kept (sizes_known() is false).
// Release policy after freeing everything: immediate keeps no arena, keep-one at most one
// (under most-used-first an empty arena is kept only while it is the last of the usable
// list, CPython's rule; under the other orders, while no other empty arena is kept),
// keep:N at most N, never keeps them all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arena.h"
#include "config.h"
#include "lower_allocator.h"
#include "pool.h"
#include "size_classes.h"
#include "stats.h"

#define ALLOCBENCH_LIKELY(x) __builtin_expect(!!(x), 1)
#define ALLOCBENCH_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace allocbench {

class Pymalloc {
 public:
  // `sizes_known`: false when the variant is driven through the *_unsized entry points.
  explicit Pymalloc(const PymallocConfig& config, const LowerAllocator& lower = system_lower_allocator(),
                    bool sizes_known = true);
  ~Pymalloc();
  Pymalloc(const Pymalloc&) = delete;
  Pymalloc& operator=(const Pymalloc&) = delete;

  const PymallocConfig& config() const { return config_; }
  const SizeClasses& size_classes() const { return classes_; }

  inline void* allocate(size_t n);
  inline void deallocate(void* p, size_t n);
  void* reallocate(void* p, size_t old_n, size_t n) { return reallocate_as<true>(p, old_n, n); }
  void* callocate(size_t count, size_t size) { return callocate_as<true>(count, size); }

  // CPython's API: no size on free and realloc (see "Sizes" above).
  void* allocate_unsized(size_t n) { return allocate_as<false>(n); }
  void* callocate_unsized(size_t count, size_t size) { return callocate_as<false>(count, size); }
  void* reallocate_unsized(void* p, size_t n) { return reallocate_as<false>(p, 0, n); }
  void deallocate_unsized(void* p) { deallocate_as<false>(p, 0); }
  bool sizes_known() const { return sizes_known_; }

  // Yes if and only if p lies inside one of this allocator's arenas.
  Ownership owns(const void* p) const { return map_.contains(p) ? Ownership::yes : Ownership::no; }
  // The block size of an owned pointer, from its pool's size class.
  uint32_t block_size_of(const void* p) const { return classes_.block_size(pool_of(p)->size_class); }

  // Bytes held from the layers below: arenas (less purged pools) plus pass-through blocks
  // (their requested bytes: what system malloc was asked for).
  std::optional<uint64_t> footprint_bytes() const { return current_footprint(); }
  // Exact: noted at every event that can raise the footprint.
  uint64_t peak_footprint_bytes() const { return peak_footprint_; }
  PymallocStats stats() const;
  Figures figures() const { return stats().figures(); }
  std::string debug_malloc_stats() const { return stats().debug_malloc_stats(); }
  // Empty when every invariant in the comment above holds, else the first that does not.
  std::string is_valid() const;

 private:
  PoolHeader* pool_of(const void* p) const {
    return reinterpret_cast<PoolHeader*>(reinterpret_cast<uintptr_t>(p) & pool_mask_);
  }
  uint64_t current_footprint() const {
    const ArenaCounters& arenas = arena_memory_.counters();
    return arenas.bytes_mapped - arenas.bytes_purged_current + passthrough_.live_bytes;
  }
  void note_footprint() {
    const uint64_t now = current_footprint();
    if (now > peak_footprint_) peak_footprint_ = now;
  }
  void note_block_bytes(uint64_t bytes) {
    live_block_bytes_ += bytes;
    if (live_block_bytes_ > peak_block_bytes_) peak_block_bytes_ = live_block_bytes_;
  }

  // The entry points, with (sized) or without the caller's sizes.
  template <bool sized>
  inline void* allocate_as(size_t n);
  template <bool sized>
  inline void deallocate_as(void* p, size_t n);
  template <bool sized>
  void* reallocate_as(void* p, size_t old_n, size_t n);
  template <bool sized>
  void* callocate_as(size_t count, size_t size);
  // A block of class `cls` from the pools; nullptr when no arena can be had.
  inline void* allocate_block(uint32_t cls);
  inline void free_block(void* p);

  template <bool sized>
  void* passthrough_allocate(size_t n);
  // Counts a block the lower allocator gave for a request of n bytes; passes nullptr through.
  template <bool sized>
  void* note_passthrough(void* p, size_t n);
  template <bool sized>
  void passthrough_free(void* p, size_t n);
  void full_pool(PoolHeader* pool);
  void* allocate_from_new_pool(uint32_t cls);
  void pool_became_empty(PoolHeader* pool);
  ArenaObject* new_arena();
  void release_arena(ArenaObject* arena);
  bool should_release(const ArenaObject* arena) const;
  void unlink_usable(ArenaObject* arena);
  void insert_usable_after(ArenaObject* arena, ArenaObject* after);
  size_t pool_number(const ArenaObject& arena, const PoolHeader* pool) const;
  // Which of the arena's pools are on its free stack, by pool_number.
  std::vector<bool> empty_pool_map(const ArenaObject& arena) const;
  std::string check_arenas() const;
  std::string check_pools() const;

  const PymallocConfig config_;
  const LowerAllocator lower_;
  const bool sizes_known_;
  const SizeClasses classes_;
  const uintptr_t pool_mask_;
  const uint32_t max_pools_per_arena_;

  std::vector<PoolHeader*> used_;  // per class
  std::vector<std::unique_ptr<ArenaObject[]>> arena_chunks_;
  std::vector<ArenaObject*> arenas_;  // index -> object; objects never move
  ArenaObject* unused_ = nullptr;
  ArenaObject* usable_ = nullptr;
  std::vector<ArenaObject*> last_with_;  // most-used-first only, by nfreepools

  ArenaMemory arena_memory_;
  ArenaMap map_;

  RequestCounters requested_;
  RequestCounters passthrough_;
  uint64_t passthrough_calls_ = 0;
  uint64_t live_block_bytes_ = 0;
  uint64_t peak_block_bytes_ = 0;
  uint64_t arenas_current_ = 0;
  uint64_t arenas_peak_ = 0;
  uint64_t arenas_allocated_total_ = 0;
  uint64_t empty_arenas_retained_ = 0;
  uint64_t peak_footprint_ = 0;
};

inline void* Pymalloc::allocate(size_t n) { return allocate_as<true>(n); }
inline void Pymalloc::deallocate(void* p, size_t n) { deallocate_as<true>(p, n); }

template <bool sized>
inline void* Pymalloc::allocate_as(size_t n) {
  if (ALLOCBENCH_UNLIKELY(n - 1 >= classes_.threshold())) return passthrough_allocate<sized>(n);
  void* block = allocate_block(classes_.index(n));
  if constexpr (sized)
    if (ALLOCBENCH_LIKELY(block != nullptr)) requested_.add(n);
  return block;
}

inline void* Pymalloc::allocate_block(uint32_t cls) {
  PoolHeader* pool = used_[cls];
  char* block;
  if (ALLOCBENCH_LIKELY(pool != nullptr)) {
    ++pool->count;
    block = pool->freeblock;
    pool->freeblock = *reinterpret_cast<char**>(block);
    if (ALLOCBENCH_UNLIKELY(pool->freeblock == nullptr) &&
        !pool->carve_next(classes_.block_size(cls)))
      full_pool(pool);
  } else {
    block = static_cast<char*>(allocate_from_new_pool(cls));
    if (block == nullptr) return nullptr;
  }
  note_block_bytes(classes_.block_size(cls));
  return block;
}

template <bool sized>
inline void Pymalloc::deallocate_as(void* p, size_t n) {
  if (p == nullptr) return;
  if (ALLOCBENCH_UNLIKELY(!map_.contains(p))) {
    passthrough_free<sized>(p, n);
    return;
  }
  if constexpr (sized) requested_.remove(n);
  free_block(p);
}

inline void Pymalloc::free_block(void* p) {
  PoolHeader* pool = pool_of(p);
  live_block_bytes_ -= classes_.block_size(pool->size_class);
  char* last_free = pool->freeblock;
  *reinterpret_cast<char**>(p) = last_free;
  pool->freeblock = static_cast<char*>(p);
  --pool->count;
  if (ALLOCBENCH_UNLIKELY(last_free == nullptr)) {
    // The pool was full, so it was on no list: it goes to the front of its class's list,
    // which makes the next allocation of this class reuse the block just freed.
    PoolHeader*& head = used_[pool->size_class];
    pool->next = head;
    pool->prev = nullptr;
    if (head != nullptr) head->prev = pool;
    head = pool;
    return;
  }
  if (ALLOCBENCH_LIKELY(pool->count != 0)) return;
  pool_became_empty(pool);
}

}  // namespace allocbench
