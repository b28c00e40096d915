// arena.cpp — OS calls and the arena map. See arena.h.
#include "arena.h"

#include <sys/mman.h>

#include <cstdlib>

namespace allocbench {

void ArenaMemory::note_footprint() {
  if (counters_.bytes_mapped > counters_.peak_bytes_mapped)
    counters_.peak_bytes_mapped = counters_.bytes_mapped;
  const uint64_t footprint = counters_.bytes_mapped - counters_.bytes_purged_current;
  if (footprint > counters_.peak_footprint) counters_.peak_footprint = footprint;
}

void* ArenaMemory::map() {
  const size_t size = config_.arena_size;
  const bool aligned = config_.arena_alignment == ArenaAlignment::aligned;
  const size_t length = aligned ? 2 * size : size;
  ++counters_.mmap_calls;
  void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  if (aligned) {
    const uintptr_t want = (start + size - 1) & ~(static_cast<uintptr_t>(size) - 1);
    const size_t head = want - start;
    const size_t tail = length - head - size;
    if (head != 0) {
      ++counters_.munmap_calls;
      munmap(p, head);
    }
    if (tail != 0) {
      ++counters_.munmap_calls;
      munmap(reinterpret_cast<void*>(want + size), tail);
    }
    start = want;
  }
  if (config_.arena_hugepages == ArenaHugepages::madvise) {
    // Advice, not a demand: a kernel without transparent huge pages refuses it, and the arena
    // works the same with small pages.
    ++counters_.madvise_calls;
    madvise(reinterpret_cast<void*>(start), size, MADV_HUGEPAGE);
  }
  return reinterpret_cast<void*>(start);
}

void* ArenaMemory::acquire() {
  void* arena;
  if (config_.arena_source == ArenaSource::malloc) {
    ++counters_.arena_malloc_calls;
    arena = lower_.malloc(lower_.ctx, config_.arena_size);
  } else {
    arena = map();
  }
  if (arena == nullptr) return nullptr;
  counters_.bytes_mapped += config_.arena_size;
  note_footprint();
  return arena;
}

void ArenaMemory::release(void* arena, size_t purged_inside) {
  if (config_.arena_source == ArenaSource::malloc) {
    ++counters_.arena_free_calls;
    lower_.free(lower_.ctx, arena);
  } else {
    ++counters_.munmap_calls;
    munmap(arena, config_.arena_size);
  }
  counters_.bytes_mapped -= config_.arena_size;
  counters_.bytes_purged_current -= purged_inside;
}

void ArenaMemory::purge(void* address, size_t size) {
  // Pools are page aligned and at least a page (validate() sees to it), so the kernel
  // accepts every call; a failure here would be a bug worth stopping on.
  ++counters_.madvise_calls;
  const int advice = config_.pool_purge == PoolPurge::free ? MADV_FREE : MADV_DONTNEED;
  if (madvise(address, size, advice) != 0) std::abort();
  counters_.bytes_purged_total += size;
  counters_.bytes_purged_current += size;
}

void ArenaMemory::unpurge(size_t size) {
  counters_.bytes_purged_current -= size;
  note_footprint();
}

ArenaMap::ArenaMap(uint32_t arena_size) {
  arena_bits_ = 0;
  while ((1u << arena_bits_) < arena_size) ++arena_bits_;
  arena_mask_ = (static_cast<uintptr_t>(1) << arena_bits_) - 1;
  const uint32_t key_bits = kAddressBits - arena_bits_;
  leaf_bits_ = key_bits < 15 ? key_bits : 15;
  leaf_mask_ = (static_cast<uintptr_t>(1) << leaf_bits_) - 1;
  top_shift_ = arena_bits_ + leaf_bits_;
  top_entries_ = static_cast<size_t>(1) << (key_bits - leaf_bits_);
  // calloc: large zeroed blocks come straight from mmap, so untouched entries cost no memory.
  top_ = static_cast<Leaf**>(std::calloc(top_entries_, sizeof(Leaf*)));
  if (top_ == nullptr) throw std::bad_alloc();
}

ArenaMap::~ArenaMap() {
  for (size_t i = 0; i < top_entries_; ++i) std::free(top_[i]);
  std::free(top_);
}

ArenaMap::Entry* ArenaMap::entry(uintptr_t address, bool create) {
  Leaf*& leaf = top_[address >> top_shift_];
  if (leaf == nullptr) {
    if (!create) return nullptr;
    leaf = static_cast<Leaf*>(std::calloc(leaf_mask_ + 1, sizeof(Entry)));
    if (leaf == nullptr) return nullptr;
    ++leaves_;
  }
  return &leaf[(address >> arena_bits_) & leaf_mask_];
}

bool ArenaMap::mark_used(uintptr_t base) {
  const int32_t tail = static_cast<int32_t>(base & arena_mask_);
  Entry* hi = entry(base, true);
  if (hi == nullptr) return false;
  if (tail == 0) {
    hi->tail_hi = -1;
    return true;
  }
  Entry* lo = entry(base + arena_mask_ + 1, true);
  if (lo == nullptr) return false;
  hi->tail_hi = tail;
  lo->tail_lo = tail;
  return true;
}

void ArenaMap::mark_unused(uintptr_t base) {
  const int32_t tail = static_cast<int32_t>(base & arena_mask_);
  entry(base, false)->tail_hi = 0;
  if (tail != 0) entry(base + arena_mask_ + 1, false)->tail_lo = 0;
}

uint64_t ArenaMap::node_bytes() const {
  return top_entries_ * sizeof(Leaf*) + leaves_ * (leaf_mask_ + 1) * sizeof(Entry);
}

}  // namespace allocbench
