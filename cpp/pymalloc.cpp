// pymalloc.cpp — the slow paths of the pymalloc model, its statistics and its checks.
// See pymalloc.h for the decisions and the invariants.
#include "pymalloc.h"

#include <algorithm>
#include <new>

namespace allocbench {

Pymalloc::Pymalloc(const PymallocConfig& config, const LowerAllocator& lower, bool sizes_known)
    : config_((validate(config), config)),
      lower_(lower),
      sizes_known_(sizes_known),
      classes_(config_),
      pool_mask_(~static_cast<uintptr_t>(config_.pool_size - 1)),
      max_pools_per_arena_(config_.arena_size / config_.pool_size),
      used_(classes_.count(), nullptr),
      last_with_(max_pools_per_arena_ + 1, nullptr),
      arena_memory_(config_, lower_),
      map_(config_.arena_size) {}

Pymalloc::~Pymalloc() {
  for (ArenaObject* arena : arenas_)
    if (arena->address != 0) arena_memory_.release(reinterpret_cast<void*>(arena->address), 0);
}

template <bool sized>
void* Pymalloc::passthrough_allocate(size_t n) {
  // As CPython's raw domain: malloc(0) is made malloc(1) so that the pointer is distinct.
  return note_passthrough<sized>(lower_.malloc(lower_.ctx, n == 0 ? 1 : n), n);
}

template <bool sized>
void* Pymalloc::note_passthrough(void* p, size_t n) {
  if (p == nullptr) return nullptr;
  ++passthrough_calls_;
  if constexpr (sized) {
    passthrough_.add(n);
    requested_.add(n);
    note_footprint();
  }
  return p;
}

template <bool sized>
void Pymalloc::passthrough_free(void* p, size_t n) {
  ++passthrough_calls_;
  if constexpr (sized) {
    passthrough_.remove(n);
    requested_.remove(n);
  }
  lower_.free(lower_.ctx, p);
}

void Pymalloc::full_pool(PoolHeader* pool) {
  // Only the head of a used list is ever allocated from, so a pool fills up at the head.
  PoolHeader* next = pool->next;
  used_[pool->size_class] = next;
  if (next != nullptr) next->prev = nullptr;
  pool->next = pool->prev = nullptr;
}

ArenaObject* Pymalloc::new_arena() {
  if (unused_ == nullptr) {
    // Arena objects are created in chunks that never move, doubling like CPython's array.
    const size_t add = arenas_.empty() ? 16 : arenas_.size();
    arena_chunks_.emplace_back(new ArenaObject[add]);
    ArenaObject* chunk = arena_chunks_.back().get();
    for (size_t i = add; i-- > 0;) {
      arenas_.push_back(nullptr);
      chunk[i].next = unused_;
      unused_ = &chunk[i];
    }
    for (size_t i = 0; i < add; ++i) {
      chunk[i].index = static_cast<uint32_t>(arenas_.size() - add + i);
      arenas_[chunk[i].index] = &chunk[i];
    }
  }
  void* memory = arena_memory_.acquire();
  if (memory == nullptr) return nullptr;
  const uintptr_t base = reinterpret_cast<uintptr_t>(memory);
  if (!map_.mark_used(base)) {
    arena_memory_.release(memory, 0);
    return nullptr;
  }
  ArenaObject* arena = unused_;
  unused_ = arena->next;
  arena->address = base;
  arena->first_pool = base;
  arena->nfreepools = max_pools_per_arena_;
  if ((base & (config_.pool_size - 1)) != 0) {
    // Not pool aligned: skip to the next pool boundary, losing the partial first pool and,
    // at the other end, the partial last one (one pool_size in all).
    --arena->nfreepools;
    arena->first_pool = (base & pool_mask_) + config_.pool_size;
  }
  arena->pool_address = arena->first_pool;
  arena->ntotalpools = arena->nfreepools;
  arena->free_pools.clear();
  arena->free_pools.reserve(arena->ntotalpools);
  arena->next = arena->prev = nullptr;
  ++arenas_current_;
  ++arenas_allocated_total_;
  arenas_peak_ = std::max(arenas_peak_, arenas_current_);
  note_footprint();
  return arena;
}

void Pymalloc::release_arena(ArenaObject* arena) {
  const size_t purged =
      config_.pool_purge == PoolPurge::none ? 0 : arena->free_pools.size() * config_.pool_size;
  map_.mark_unused(arena->address);
  arena_memory_.release(reinterpret_cast<void*>(arena->address), purged);
  arena->address = 0;
  arena->free_pools.clear();
  arena->next = unused_;
  arena->prev = nullptr;
  unused_ = arena;
  --arenas_current_;
}

bool Pymalloc::should_release(const ArenaObject* arena) const {
  switch (config_.arena_release) {
    case ArenaRelease::never: return false;
    case ArenaRelease::immediate: return true;
    case ArenaRelease::keep_one:
      // CPython 3.9+ (bpo-37257): keep it only while it is the last usable arena, which the
      // sorted list makes the only empty one. Under the other orders arenas can be inserted
      // after a kept one, so that rule alone would keep several: there, keep at most one.
      return config_.arena_order == ArenaOrder::most_used_first ? arena->next != nullptr
                                                                : empty_arenas_retained_ >= 1;
    case ArenaRelease::keep_n: return empty_arenas_retained_ >= config_.keep_empty_arenas;
  }
  return true;
}

void Pymalloc::unlink_usable(ArenaObject* arena) {
  if (arena->prev != nullptr) arena->prev->next = arena->next;
  else usable_ = arena->next;
  if (arena->next != nullptr) arena->next->prev = arena->prev;
  arena->next = arena->prev = nullptr;
}

void Pymalloc::insert_usable_after(ArenaObject* arena, ArenaObject* after) {
  arena->prev = after;
  if (after == nullptr) {
    arena->next = usable_;
    usable_ = arena;
  } else {
    arena->next = after->next;
    after->next = arena;
  }
  if (arena->next != nullptr) arena->next->prev = arena;
}

void* Pymalloc::allocate_from_new_pool(uint32_t cls) {
  const bool sorted = config_.arena_order == ArenaOrder::most_used_first;
  bool fresh = false;
  if (usable_ == nullptr) {
    usable_ = new_arena();
    if (usable_ == nullptr) return nullptr;
    fresh = true;
    if (sorted) last_with_[usable_->nfreepools] = usable_;
  }
  ArenaObject* arena = usable_;
  if (!fresh && arena->nfreepools == arena->ntotalpools) --empty_arenas_retained_;
  if (sorted) {
    // The head already has the fewest free pools; one fewer keeps it the head. Only the
    // "last arena with k free pools" entries change.
    if (last_with_[arena->nfreepools] == arena) last_with_[arena->nfreepools] = nullptr;
    if (arena->nfreepools > 1) last_with_[arena->nfreepools - 1] = arena;
  }

  PoolHeader* pool;
  bool reinitialise = true;
  if (!arena->free_pools.empty()) {
    pool = arena->free_pools.back();
    arena->free_pools.pop_back();
    if (config_.pool_purge != PoolPurge::none) {
      // The purged pages may read back as zeros: nothing in the header can be trusted.
      arena_memory_.unpurge(config_.pool_size);
      note_footprint();
      pool->arena_index = arena->index;
    } else {
      reinitialise = pool->size_class != cls;
    }
  } else {
    pool = reinterpret_cast<PoolHeader*>(arena->pool_address);
    pool->arena_index = arena->index;
    pool->size_class = kUnassignedClass;
    arena->pool_address += config_.pool_size;
  }
  if (--arena->nfreepools == 0) {
    usable_ = arena->next;
    if (usable_ != nullptr) usable_->prev = nullptr;
    arena->next = arena->prev = nullptr;
  }

  // used_[cls] is empty, or we would not be here.
  pool->next = pool->prev = nullptr;
  used_[cls] = pool;
  pool->count = 1;
  char* block;
  if (!reinitialise) {
    // It last served this class: its free list already holds every carved block (at least
    // two, so one is left after this).
    block = pool->freeblock;
    pool->freeblock = *reinterpret_cast<char**>(block);
  } else {
    block = pool->initialise(cls, classes_.block_size(cls), config_.pool_size);
  }
  return block;
}

void Pymalloc::pool_became_empty(PoolHeader* pool) {
  // Off the used list...
  if (pool->prev != nullptr) pool->prev->next = pool->next;
  else used_[pool->size_class] = pool->next;
  if (pool->next != nullptr) pool->next->prev = pool->prev;
  pool->next = pool->prev = nullptr;

  // ...onto its arena's free pools.
  ArenaObject* arena = arenas_[pool->arena_index];
  arena->free_pools.push_back(pool);
  if (config_.pool_purge != PoolPurge::none)
    arena_memory_.purge(pool, config_.pool_size);

  const bool sorted = config_.arena_order == ArenaOrder::most_used_first;
  uint32_t nf = arena->nfreepools;
  ArenaObject* last_nf = sorted ? last_with_[nf] : nullptr;
  if (sorted && last_nf == arena) {
    ArenaObject* prev = arena->prev;
    last_with_[nf] = (prev != nullptr && prev->nfreepools == nf) ? prev : nullptr;
  }
  arena->nfreepools = ++nf;

  if (nf == arena->ntotalpools) {
    // Wholly empty. An arena has at least 3 pools (4, less one lost to alignment), so it had
    // a free pool before and is on the usable list, where the release rule looks for it.
    if (should_release(arena)) {
      unlink_usable(arena);
      release_arena(arena);
      return;
    }
    ++empty_arenas_retained_;
  }

  if (nf == 1) {
    // It had no free pool, so it was on no list: it joins at the front. Under
    // most-used-first that is its sorted place, as 1 is the smallest count on the list.
    switch (config_.arena_order) {
      case ArenaOrder::most_used_first:
      case ArenaOrder::lifo:
        insert_usable_after(arena, nullptr);
        break;
      case ArenaOrder::address: {
        ArenaObject* after = nullptr;
        for (ArenaObject* a = usable_; a != nullptr && a->address < arena->address; a = a->next)
          after = a;
        insert_usable_after(arena, after);
        break;
      }
    }
    if (sorted && last_with_[1] == nullptr) last_with_[1] = arena;
    return;
  }
  if (!sorted) return;

  // Keep the list sorted by free pools: the arena moves to just after the last arena that
  // had its old count (unless it was that arena), in O(1).
  if (last_with_[nf] == nullptr) last_with_[nf] = arena;
  if (arena == last_nf) return;
  unlink_usable(arena);
  insert_usable_after(arena, last_nf);
}

template <bool sized>
void* Pymalloc::reallocate_as(void* p, size_t old_n, size_t n) {
  if (p == nullptr) return allocate_as<sized>(n);
  if (!map_.contains(p)) {
    // Not ours: it stays in the lower domain even when small (CPython bug 1185883: the
    // valid length of a foreign block is unknown, so it cannot be copied safely).
    void* q = lower_.realloc(lower_.ctx, p, n == 0 ? 1 : n);
    if (q == nullptr) return nullptr;
    ++passthrough_calls_;
    if constexpr (sized) {
      passthrough_.resize(old_n, n);
      requested_.resize(old_n, n);
      note_footprint();
    }
    return q;
  }
  size_t copy = block_size_of(p);
  if (n <= copy) {
    // Shrinking copies only when it saves at least a quarter of the block.
    if (4 * n > 3 * copy) {
      if constexpr (sized) requested_.resize(old_n, n);
      return p;
    }
    copy = n;
  }
  void* q = allocate_as<sized>(n);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, copy);
  deallocate_as<sized>(p, old_n);
  return q;
}

template <bool sized>
void* Pymalloc::callocate_as(size_t count, size_t size) {
  if (calloc_overflows(count, size)) return nullptr;
  const size_t n = count * size;
  if (n - 1 >= classes_.threshold())
    return note_passthrough<sized>(lower_.calloc(lower_.ctx, n == 0 ? 1 : count, n == 0 ? 1 : size), n);
  void* p = allocate_as<sized>(n);
  if (p != nullptr) std::memset(p, 0, n);
  return p;
}

template void* Pymalloc::reallocate_as<true>(void*, size_t, size_t);
template void* Pymalloc::reallocate_as<false>(void*, size_t, size_t);
template void* Pymalloc::callocate_as<true>(size_t, size_t);
template void* Pymalloc::callocate_as<false>(size_t, size_t);
template void* Pymalloc::passthrough_allocate<true>(size_t);
template void* Pymalloc::passthrough_allocate<false>(size_t);
template void Pymalloc::passthrough_free<true>(void*, size_t);
template void Pymalloc::passthrough_free<false>(void*, size_t);

size_t Pymalloc::pool_number(const ArenaObject& arena, const PoolHeader* pool) const {
  return (reinterpret_cast<uintptr_t>(pool) - arena.first_pool) / config_.pool_size;
}

std::vector<bool> Pymalloc::empty_pool_map(const ArenaObject& arena) const {
  std::vector<bool> empty(arena.ntotalpools, false);
  for (const PoolHeader* pool : arena.free_pools) empty[pool_number(arena, pool)] = true;
  return empty;
}

PymallocStats Pymalloc::stats() const {
  PymallocStats s;
  s.config = config_;
  s.size_class_count = classes_.count();
  s.live_bytes = requested_.live_bytes;
  s.peak_live_bytes = requested_.peak_live_bytes;
  s.live_block_bytes = live_block_bytes_;
  s.peak_block_bytes = peak_block_bytes_;
  s.arenas_current = arenas_current_;
  s.arenas_peak = arenas_peak_;
  s.arenas_allocated_total = arenas_allocated_total_;
  s.arenas_reclaimed = arenas_allocated_total_ - arenas_current_;
  s.empty_arenas_retained = empty_arenas_retained_;
  s.passthrough_calls = passthrough_calls_;
  s.passthrough_live_objects = passthrough_.live_objects;
  s.passthrough_live_bytes = passthrough_.live_bytes;
  s.passthrough_peak_bytes = passthrough_.peak_live_bytes;
  const ArenaCounters& os = arena_memory_.counters();
  s.sizes_known = sizes_known_;
  s.mmap_calls = os.mmap_calls;
  s.munmap_calls = os.munmap_calls;
  s.madvise_calls = os.madvise_calls;
  s.arena_malloc_calls = os.arena_malloc_calls;
  s.arena_free_calls = os.arena_free_calls;
  s.bytes_mapped = os.bytes_mapped;
  s.peak_bytes_mapped = os.peak_bytes_mapped;
  s.bytes_purged_total = os.bytes_purged_total;
  s.bytes_purged_current = os.bytes_purged_current;
  s.arena_footprint_bytes = os.bytes_mapped - os.bytes_purged_current;
  s.peak_arena_footprint_bytes = os.peak_footprint;
  s.footprint_bytes = current_footprint();
  s.peak_footprint_bytes = peak_footprint_;
  s.arena_map_bytes = map_.node_bytes();

  s.classes.resize(classes_.count());
  for (uint32_t c = 0; c < classes_.count(); ++c) {
    s.classes[c].size_class = c;
    s.classes[c].block_size = classes_.block_size(c);
    s.classes[c].blocks_per_pool = classes_.blocks_per_pool(c);
  }
  // Walk every carved pool, as _PyObject_DebugMallocStats does. Emptied pools are known from
  // the arena's stack, so a purged pool is never read.
  for (const ArenaObject* arena : arenas_) {
    if (arena->address == 0) continue;
    s.unused_pools += arena->nfreepools;
    if (arena->first_pool != arena->address) s.arena_alignment_bytes += config_.pool_size;
    const std::vector<bool> empty = empty_pool_map(*arena);
    for (uintptr_t a = arena->first_pool; a < arena->pool_address; a += config_.pool_size) {
      const PoolHeader* pool = reinterpret_cast<const PoolHeader*>(a);
      if (empty[pool_number(*arena, pool)]) continue;
      SizeClassStats& c = s.classes[pool->size_class];
      ++c.pools;
      c.blocks_in_use += pool->count;
      c.blocks_available += c.blocks_per_pool - pool->count;
    }
  }
  for (const SizeClassStats& c : s.classes) {
    s.allocated_block_bytes += c.blocks_in_use * c.block_size;
    s.available_block_bytes += c.blocks_available * c.block_size;
    s.pool_header_bytes += c.pools * kPoolHeaderBytes;
    s.quantization_bytes += c.pools * classes_.quantization(c.size_class);
  }
  return s;
}

}  // namespace allocbench

namespace allocbench {
namespace {
std::string at_arena(const ArenaObject& a) { return "arena #" + std::to_string(a.index) + ": "; }
}  // namespace

std::string Pymalloc::check_arenas() const {
  const size_t total = arenas_.size();
  // The unused list holds exactly the objects with address 0.
  size_t unused = 0;
  for (const ArenaObject* a = unused_; a != nullptr; a = a->next) {
    if (a->address != 0) return at_arena(*a) + "on the unused list but mapped";
    if (++unused > total) return "unused arena list has a cycle";
  }
  size_t mapped = 0, usable_expected = 0, empty = 0;
  for (const ArenaObject* a : arenas_) {
    if (a->address == 0) continue;
    ++mapped;
    const bool aligned_to_pool = (a->address & (config_.pool_size - 1)) == 0;
    if (config_.arena_alignment == ArenaAlignment::aligned &&
        (a->address & (config_.arena_size - 1)) != 0)
      return at_arena(*a) + "not aligned to its size";
    if (a->ntotalpools != max_pools_per_arena_ - (aligned_to_pool ? 0 : 1))
      return at_arena(*a) + "wrong number of pools for its alignment";
    if (a->first_pool % config_.pool_size != 0 || a->first_pool < a->address ||
        a->pool_address < a->first_pool ||
        a->pool_address > a->first_pool + uint64_t{a->ntotalpools} * config_.pool_size)
      return at_arena(*a) + "pool range out of the arena";
    const uint64_t uncarved =
        (a->first_pool + uint64_t{a->ntotalpools} * config_.pool_size - a->pool_address) /
        config_.pool_size;
    if (a->nfreepools != a->free_pools.size() + uncarved)
      return at_arena(*a) + "nfreepools != emptied pools + never-carved pools";
    std::vector<bool> seen(a->ntotalpools, false);
    for (const PoolHeader* p : a->free_pools) {
      const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
      if (addr < a->first_pool || addr >= a->pool_address || (addr - a->first_pool) % config_.pool_size)
        return at_arena(*a) + "a free pool outside its carved pools";
      if (seen[pool_number(*a, p)]) return at_arena(*a) + "a pool twice on the free stack";
      seen[pool_number(*a, p)] = true;
      if (config_.pool_purge == PoolPurge::none && p->count != 0)
        return at_arena(*a) + "a pool on the free stack has blocks in use";
    }
    if (a->nfreepools > 0) ++usable_expected;
    if (a->nfreepools == a->ntotalpools) ++empty;
    const uintptr_t last = a->address + config_.arena_size - 1;
    if (!map_.contains(reinterpret_cast<void*>(a->address)) ||
        !map_.contains(reinterpret_cast<void*>(last)))
      return at_arena(*a) + "not found by the arena map";
    for (uintptr_t outside : {a->address - 1, last + 1}) {
      bool covered = false;
      for (const ArenaObject* b : arenas_)
        covered |= b->address != 0 && outside >= b->address &&
                   outside < b->address + config_.arena_size;
      if (map_.contains(reinterpret_cast<void*>(outside)) != covered)
        return at_arena(*a) + "the arena map claims an address next to it";
    }
  }
  if (mapped + unused != total) return "arena objects neither mapped nor on the unused list";
  if (mapped != arenas_current_) return "arenas_current does not match the mapped arenas";
  if (empty != empty_arenas_retained_) return "empty_arenas_retained does not match";

  // The usable list: exactly the mapped arenas with a free pool, ordered as configured.
  size_t usable = 0;
  const ArenaObject* prev = nullptr;
  for (const ArenaObject* a = usable_; a != nullptr; prev = a, a = a->next) {
    if (++usable > mapped) return "usable arena list has a cycle or foreign objects";
    if (a->address == 0 || a->nfreepools == 0) return at_arena(*a) + "usable but has no free pool";
    if (a->prev != prev) return at_arena(*a) + "broken prev link on the usable list";
    if (prev == nullptr) continue;
    if (config_.arena_order == ArenaOrder::most_used_first && prev->nfreepools > a->nfreepools)
      return at_arena(*a) + "usable list not sorted by free pools";
    if (config_.arena_order == ArenaOrder::address && prev->address > a->address)
      return at_arena(*a) + "usable list not sorted by address";
  }
  if (usable != usable_expected) return "usable list misses an arena with free pools";
  if (config_.arena_order == ArenaOrder::most_used_first) {
    std::vector<const ArenaObject*> expected_last(last_with_.size(), nullptr);
    for (const ArenaObject* a = usable_; a != nullptr; a = a->next) expected_last[a->nfreepools] = a;
    for (size_t k = 0; k < last_with_.size(); ++k)
      if (last_with_[k] != expected_last[k])
        return "last arena with " + std::to_string(k) + " free pools is wrong";
  }

  // What the release policy promises about wholly empty arenas.
  switch (config_.arena_release) {
    case ArenaRelease::never: break;
    case ArenaRelease::immediate:
      if (empty != 0) return "an empty arena kept under arena_release=immediate";
      break;
    case ArenaRelease::keep_one:
      if (empty > 1) return "more than one empty arena kept under arena_release=keep-one";
      for (const ArenaObject* a = usable_; a != nullptr; a = a->next)
        if (config_.arena_order == ArenaOrder::most_used_first &&
            a->nfreepools == a->ntotalpools && a->next != nullptr)
          return at_arena(*a) + "empty arena kept that is not the last usable one";
      break;
    case ArenaRelease::keep_n:
      if (empty > config_.keep_empty_arenas) return "more empty arenas kept than keep:N allows";
      break;
  }
  return "";
}

std::string Pymalloc::check_pools() const {
  uint64_t partly_used = 0, block_bytes = 0;
  for (const ArenaObject* a : arenas_) {
    if (a->address == 0) continue;
    const std::vector<bool> empty = empty_pool_map(*a);
    for (uintptr_t addr = a->first_pool; addr < a->pool_address; addr += config_.pool_size) {
      const PoolHeader* p = reinterpret_cast<const PoolHeader*>(addr);
      if (empty[pool_number(*a, p)]) continue;
      const std::string where = "pool at arena #" + std::to_string(a->index) + "+" +
                                std::to_string(addr - a->address) + ": ";
      if (p->arena_index != a->index) return where + "wrong arena index";
      if (p->size_class >= classes_.count()) return where + "in use with no size class";
      const uint32_t size = classes_.block_size(p->size_class);
      const uint32_t capacity = classes_.blocks_per_pool(p->size_class);
      if (p->count == 0 || p->count > capacity) return where + "block count out of range";
      uint32_t free_blocks = 0;
      for (const char* b = p->freeblock; b != nullptr; b = *reinterpret_cast<char* const*>(b)) {
        const uintptr_t off = reinterpret_cast<uintptr_t>(b) - addr;
        if (off < kPoolHeaderBytes || off >= p->next_offset || (off - kPoolHeaderBytes) % size)
          return where + "free list points outside the carved blocks";
        if (++free_blocks > capacity) return where + "free list has a cycle";
      }
      if (p->count + free_blocks + p->uncarved_blocks(size) != capacity)
        return where + "in use + free + uncarved != blocks per pool";
      if ((p->count == capacity) != (p->freeblock == nullptr))
        return where + "freeblock is NULL but the pool is not full (or the reverse)";
      if (p->count < capacity) ++partly_used;
      block_bytes += uint64_t{p->count} * size;
    }
  }
  uint64_t listed = 0;
  for (uint32_t c = 0; c < classes_.count(); ++c) {
    const PoolHeader* prev = nullptr;
    for (const PoolHeader* p = used_[c]; p != nullptr; prev = p, p = p->next) {
      if (++listed > partly_used) return "used pool lists hold more pools than are partly used";
      if (p->size_class != c) return "class " + std::to_string(c) + " list holds a foreign pool";
      if (p->count == 0 || p->count >= classes_.blocks_per_pool(c))
        return "class " + std::to_string(c) + " list holds an empty or full pool";
      if (p->prev != prev) return "class " + std::to_string(c) + " list has a broken prev link";
    }
  }
  if (listed != partly_used) return "a partly used pool is missing from its class's list";
  if (block_bytes != live_block_bytes_) return "live_block_bytes does not match the pools";
  return "";
}

std::string Pymalloc::is_valid() const {
  std::string error = classes_.is_valid();
  if (error.empty()) error = check_arenas();
  if (error.empty()) error = check_pools();
  if (error.empty()) error = stats().accounting_error();
  return error;
}

}  // namespace allocbench
