// pool.h — a pool: a pool_size piece of an arena, aligned to pool_size, serving one size class.
//
// Owns the pool header layout and the block-level operations inside one pool. The header
// sits at the start of the pool, 48 bytes as in CPython's 64-bit struct pool_header:
//
//   count             blocks handed out and not yet freed
//   freeblock         head of the singly linked list of free blocks; each free block's first
//                     word points at the next one. NULL means: no free block and no uncarved
//                     block left, i.e. the pool is full.
//   next, prev        links of the size class's list of partly used pools ("usedpools")
//   arena_index       which arena object owns the pool
//   size_class        the class it serves (kUnassignedClass until first initialised)
//   next_offset       offset of the next never-used block: blocks are carved lazily, one at a
//                     time, when the free list runs dry
//   max_next_offset   the largest offset at which a whole block still fits
//
// A pool is in exactly one of three states, and the state says which list holds it:
//   used   0 < count < blocks_per_pool: on its class's used list, freeblock != NULL
//   full   count == blocks_per_pool: on no list, freeblock == NULL
//   empty  count == 0: on its arena's stack of free pools (not on a used list)
// Invariant (checked by Pymalloc::is_valid): count + |free list| + uncarved blocks ==
// blocks_per_pool for every used or full pool, and every free-list block lies inside the
// carved part of its own pool, on a block boundary.
#pragma once

#include <cstdint>

#include "config.h"

namespace allocbench {

inline constexpr uint32_t kUnassignedClass = 0xFFFFFFFFu;

struct PoolHeader {
  uint32_t count;
  uint32_t reserved;  // keeps the layout of CPython's union { block*; uint count; }
  char* freeblock;
  PoolHeader* next;
  PoolHeader* prev;
  uint32_t arena_index;
  uint32_t size_class;
  uint32_t next_offset;
  uint32_t max_next_offset;

  char* base() { return reinterpret_cast<char*>(this); }

  // Makes a freshly taken pool serve `cls`: hands out the first block (returned) and carves
  // the second onto the free list, as CPython does.
  char* initialise(uint32_t cls, uint32_t block_size, uint32_t pool_size) {
    size_class = cls;
    char* first = base() + kPoolHeaderBytes;
    next_offset = kPoolHeaderBytes + 2 * block_size;
    max_next_offset = pool_size - block_size;
    freeblock = first + block_size;
    *reinterpret_cast<char**>(freeblock) = nullptr;
    return first;
  }

  // The free list ran dry: carve the next block. Returns false when none is left (full).
  bool carve_next(uint32_t block_size) {
    if (next_offset > max_next_offset) return false;
    freeblock = base() + next_offset;
    next_offset += block_size;
    *reinterpret_cast<char**>(freeblock) = nullptr;
    return true;
  }

  uint32_t uncarved_blocks(uint32_t block_size) const {
    return next_offset > max_next_offset ? 0 : (max_next_offset - next_offset) / block_size + 1;
  }
};

static_assert(sizeof(PoolHeader) == kPoolHeaderBytes, "pool header must be 48 bytes, as CPython's");

}  // namespace allocbench
