// peers.h — the allocators pymalloc is measured against, other than the interpreter's own:
//
//   SystemMalloc    the process's malloc/free/realloc/calloc: glibc, or whatever an
//                   LD_PRELOADed allocator (mimalloc, jemalloc, tcmalloc) puts there. Its
//                   footprint comes from glibc's mallinfo2() only when glibc's malloc is the
//                   one in use; otherwise it is reported as unknown, never as glibc's zeros.
//   FloorAllocator  the least work a valid allocator can do, so that benchmarks can subtract
//                   the harness's cost: one bump pointer through a reserved region, and per
//                   16-byte size class a LIFO stack of freed blocks, found from the size the
//                   caller passes to free. The stacks are kept beside the blocks, never in
//                   them: reading a freed block's link is a cache miss, allocator work the
//                   floor exists to leave out. No headers, no pools, nothing given back.
//
// Invariants (is_valid): every request's bytes are accounted (live <= peak); for the floor,
// every block on a free stack lies inside the bump-allocated part of the region, on a 16-byte
// boundary, once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stats.h"

namespace allocbench {

class SystemMalloc {
 public:
  SystemMalloc();
  void* allocate(size_t n);
  void* callocate(size_t count, size_t size);
  void* reallocate(void* p, size_t old_n, size_t n);
  void deallocate(void* p, size_t n);
  Ownership owns(const void*) const { return Ownership::unknown; }

  // Heap plus mmapped bytes from mallinfo2; none when glibc's malloc is not in use.
  std::optional<uint64_t> footprint_bytes() const;
  Figures figures() const;
  std::string debug_malloc_stats() const;
  std::string is_valid() const;

 private:
  RequestCounters requested_;
  bool glibc_answers_;  // glibc's malloc serves this process, so mallinfo2 describes it
  std::string malloc_library_;
};

class FloorAllocator {
 public:
  static constexpr size_t kGranule = 16;
  static constexpr size_t kLargest = 64 * 1024;  // larger requests go to system malloc

  FloorAllocator();
  ~FloorAllocator();
  FloorAllocator(const FloorAllocator&) = delete;
  FloorAllocator& operator=(const FloorAllocator&) = delete;

  void* allocate(size_t n) {
    if (n - 1 >= kLargest) return large_allocate(n);
    const size_t cls = (n - 1) / kGranule;
    std::vector<char*>& stack = free_[cls];
    char* block;
    if (!stack.empty()) {
      block = stack.back();
      stack.pop_back();
    } else {
      block = bump_;
      bump_ += (cls + 1) * kGranule;
      if (bump_ > end_) return refuse(block);
    }
    requested_.add(n);
    return block;
  }
  void deallocate(void* p, size_t n) {
    if (p == nullptr) return;
    if (!in_region(p)) return large_free(p, n);
    free_[(n - 1) / kGranule].push_back(static_cast<char*>(p));
    requested_.remove(n);
  }
  void* reallocate(void* p, size_t old_n, size_t n);
  void* callocate(size_t count, size_t size);
  Ownership owns(const void* p) const { return in_region(p) ? Ownership::yes : Ownership::no; }

  // The region used so far, large blocks, and the free stacks themselves.
  std::optional<uint64_t> footprint_bytes() const;
  Figures figures() const;
  std::string debug_malloc_stats() const;
  std::string is_valid() const;

 private:
  bool in_region(const void* p) const {
    return static_cast<const char*>(p) >= base_ && static_cast<const char*>(p) < bump_;
  }
  void* large_allocate(size_t n);
  void large_free(void* p, size_t n);
  void* refuse(char* block);

  char* base_;
  char* bump_;
  char* end_;
  std::vector<std::vector<char*>> free_;  // per class
  RequestCounters requested_;
  RequestCounters large_;
};

}  // namespace allocbench
