// lower_allocator.cpp — the default lower allocator: the C library's. See lower_allocator.h.
#include "lower_allocator.h"

#include <cstdlib>

namespace allocbench {

const LowerAllocator& system_lower_allocator() {
  static const LowerAllocator libc{
      nullptr,
      [](void*, size_t size) { return std::malloc(size); },
      [](void*, size_t count, size_t size) { return std::calloc(count, size); },
      [](void*, void* block, size_t size) { return std::realloc(block, size); },
      [](void*, void* block) { std::free(block); },
  };
  return libc;
}

}  // namespace allocbench
