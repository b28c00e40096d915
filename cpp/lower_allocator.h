// lower_allocator.h — the allocator below a pymalloc variant: where the requests the variant
// does not serve go (0 bytes, above the threshold, frees and reallocs of blocks it does not
// own), and where its arenas come from with arena_source=malloc.
//
// Injected, not hard-wired: system malloc (the C library's) by default; the interpreter's
// previous MEM or OBJ allocator when a variant is installed live (cpp/hooks.h), so that the
// blocks a program made before the install go back to the allocator that made them. The
// shape is that of CPython's PyMemAllocatorEx (a context and four functions), so a domain's
// saved allocator can be passed as it is.
//
// Invariant: every function is non-null; a block is always freed or reallocated through the
// same LowerAllocator that made it.
#pragma once

#include <cstddef>

namespace allocbench {

struct LowerAllocator {
  void* ctx = nullptr;
  void* (*malloc)(void* ctx, size_t size) = nullptr;
  void* (*calloc)(void* ctx, size_t count, size_t size) = nullptr;
  void* (*realloc)(void* ctx, void* block, size_t size) = nullptr;
  void (*free)(void* ctx, void* block) = nullptr;
};

// The C library's malloc, calloc, realloc and free.
const LowerAllocator& system_lower_allocator();

}  // namespace allocbench
