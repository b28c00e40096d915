// peers.cpp — system malloc and the floor allocator. See peers.h.
#include "peers.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace allocbench {

namespace {
// The region the floor allocator bumps through: address space only, pages come on touch.
constexpr size_t kFloorReserve = size_t{64} << 30;
}  // namespace

SystemMalloc::SystemMalloc() {
  Dl_info info{};
  void* resolved = dlsym(RTLD_DEFAULT, "malloc");
  malloc_library_ =
      (resolved != nullptr && dladdr(resolved, &info) != 0 && info.dli_fname != nullptr)
          ? info.dli_fname
          : "unknown";
  glibc_answers_ = malloc_library_.find("libc.so") != std::string::npos;
}

void* SystemMalloc::allocate(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p != nullptr) requested_.add(n);
  return p;
}

void* SystemMalloc::callocate(size_t count, size_t size) {
  if (calloc_overflows(count, size)) return nullptr;
  void* p = (count == 0 || size == 0) ? std::calloc(1, 1) : std::calloc(count, size);
  if (p != nullptr) requested_.add(count * size);
  return p;
}

void* SystemMalloc::reallocate(void* p, size_t old_n, size_t n) {
  if (p == nullptr) return allocate(n);
  void* q = std::realloc(p, n == 0 ? 1 : n);
  if (q != nullptr) requested_.resize(old_n, n);
  return q;
}

void SystemMalloc::deallocate(void* p, size_t n) {
  if (p == nullptr) return;
  requested_.remove(n);
  std::free(p);
}

std::optional<uint64_t> SystemMalloc::footprint_bytes() const {
  if (!glibc_answers_) return std::nullopt;
  const struct mallinfo2 mi = mallinfo2();
  return mi.arena + mi.hblkhd;
}

Figures SystemMalloc::figures() const {
  Figures f;
  f.note("malloc_library", malloc_library_);
  requested_.add_figures(f);
  if (glibc_answers_) {
    const struct mallinfo2 mi = mallinfo2();
    f.note("footprint_source", "mallinfo2");
    f.add("footprint_bytes", mi.arena + mi.hblkhd);
    f.add("heap_bytes", mi.arena);
    f.add("mmapped_bytes", mi.hblkhd);
    f.add("in_use_bytes", mi.uordblks + mi.hblkhd);
    f.add("free_bytes", mi.fordblks);
    f.add("releasable_bytes", mi.keepcost);
  } else {
    f.note("footprint_source", "unavailable: malloc is not glibc's");
  }
  return f;
}

std::string SystemMalloc::debug_malloc_stats() const {
  std::string out = "System malloc from " + malloc_library_ + "\n";
  for (const auto& [name, value] : figures().counters) out += debug_stats_line(name, value);
  return out;
}

std::string SystemMalloc::is_valid() const {
  return requested_.is_valid();
}

FloorAllocator::FloorAllocator() : free_(kLargest / kGranule) {
  void* p = mmap(nullptr, kFloorReserve, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = bump_ = static_cast<char*>(p);
  end_ = base_ + kFloorReserve;
}

FloorAllocator::~FloorAllocator() { munmap(base_, kFloorReserve); }

void* FloorAllocator::refuse(char* block) {
  bump_ = block;
  return nullptr;
}

void* FloorAllocator::large_allocate(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p != nullptr) {
    large_.add(n);
    requested_.add(n);
  }
  return p;
}

void FloorAllocator::large_free(void* p, size_t n) {
  large_.remove(n);
  requested_.remove(n);
  std::free(p);
}

void* FloorAllocator::reallocate(void* p, size_t old_n, size_t n) {
  if (p == nullptr) return allocate(n);
  if (!in_region(p)) {
    void* q = std::realloc(p, n == 0 ? 1 : n);
    if (q == nullptr) return nullptr;
    large_.resize(old_n, n);
    requested_.resize(old_n, n);
    return q;
  }
  if (n != 0 && n <= kLargest && (n - 1) / kGranule == (old_n - 1) / kGranule) {
    requested_.resize(old_n, n);
    return p;
  }
  void* q = allocate(n);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, old_n < n ? old_n : n);
  deallocate(p, old_n);
  return q;
}

void* FloorAllocator::callocate(size_t count, size_t size) {
  if (calloc_overflows(count, size)) return nullptr;
  void* p = allocate(count * size);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

std::optional<uint64_t> FloorAllocator::footprint_bytes() const {
  uint64_t stacks = 0;
  for (const std::vector<char*>& stack : free_) stacks += stack.capacity() * sizeof(char*);
  return static_cast<uint64_t>(bump_ - base_) + large_.live_bytes + stacks;
}

Figures FloorAllocator::figures() const {
  Figures f;
  requested_.add_figures(f);
  f.add("footprint_bytes", *footprint_bytes());
  f.add("bumped_bytes", static_cast<uint64_t>(bump_ - base_));
  f.add("passthrough_live_bytes", large_.live_bytes);
  return f;
}

std::string FloorAllocator::debug_malloc_stats() const {
  std::string out = "Floor allocator: bump pointer and 16-byte size-class free lists\n";
  for (const auto& [name, value] : figures().counters) out += debug_stats_line(name, value);
  return out;
}

std::string FloorAllocator::is_valid() const {
  if (std::string error = requested_.is_valid(); !error.empty()) return error;
  std::vector<char*> all;
  for (size_t cls = 0; cls < free_.size(); ++cls) {
    for (char* b : free_[cls]) {
      if (!in_region(b) || (b - base_) % kGranule != 0)
        return "floor class " + std::to_string(cls) + ": free block outside the region";
      all.push_back(b);
    }
  }
  std::sort(all.begin(), all.end());
  if (std::adjacent_find(all.begin(), all.end()) != all.end()) return "floor: a block freed twice";
  return "";
}

}  // namespace allocbench
