// handles.cpp — see handles.h.
#include "handles.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace allocbench {

Handles::Handles(std::string_view spec) : allocator_(make_allocator(spec)) {}

Handles::~Handles() {
  for (const auto& [address, size] : live_) allocator_->deallocate(reinterpret_cast<void*>(address), size);
}

uintptr_t Handles::remember(void* p, size_t n, const char* what) {
  if (p == nullptr) throw std::bad_alloc();
  const auto address = reinterpret_cast<uintptr_t>(p);
  if (!live_.emplace(address, n).second) {
    allocator_->deallocate(p, n);
    throw std::logic_error(std::string(what) + " returned a block that is already live");
  }
  return address;
}

uintptr_t Handles::malloc(size_t n) { return remember(allocator_->allocate(n), n, "malloc"); }

uintptr_t Handles::calloc(size_t count, size_t size) {
  if (calloc_overflows(count, size)) throw std::bad_alloc();
  return remember(allocator_->callocate(count, size), count * size, "calloc");
}

uintptr_t Handles::realloc(uintptr_t handle, size_t n) {
  const size_t old_n = size_of(handle);
  void* q = allocator_->reallocate(reinterpret_cast<void*>(handle), old_n, n);
  if (q == nullptr) throw std::bad_alloc();
  live_.erase(handle);
  live_[reinterpret_cast<uintptr_t>(q)] = n;
  return reinterpret_cast<uintptr_t>(q);
}

void Handles::free(uintptr_t handle) {
  const size_t n = size_of(handle);
  live_.erase(handle);
  allocator_->deallocate(reinterpret_cast<void*>(handle), n);
}

size_t Handles::size_of(uintptr_t handle) const {
  const auto it = live_.find(handle);
  if (it == live_.end()) throw HandleError("handle " + std::to_string(handle) + " is not live");
  return it->second;
}

void Handles::check_range(uintptr_t handle, size_t offset, size_t length) const {
  const size_t n = size_of(handle);
  if (offset > n || length > n - offset)
    throw HandleError("range [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                      ") is outside the block of " + std::to_string(n) + " bytes");
}

void Handles::write(uintptr_t handle, std::string_view data, size_t offset) {
  check_range(handle, offset, data.size());
  std::memcpy(reinterpret_cast<char*>(handle) + offset, data.data(), data.size());
}

std::string Handles::read(uintptr_t handle, size_t length, size_t offset) const {
  check_range(handle, offset, length);
  return std::string(reinterpret_cast<const char*>(handle) + offset, length);
}

void Handles::fill(uintptr_t handle, uint8_t seed) {
  const size_t n = size_of(handle);
  auto* p = reinterpret_cast<uint8_t*>(handle);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 131);
}

bool Handles::check(uintptr_t handle, uint8_t seed) const {
  const size_t n = size_of(handle);
  const auto* p = reinterpret_cast<const uint8_t*>(handle);
  for (size_t i = 0; i < n; ++i)
    if (p[i] != static_cast<uint8_t>(seed + i * 131)) return false;
  return true;
}

Ownership Handles::owns(uintptr_t handle) const { return allocator_->owns(reinterpret_cast<void*>(handle)); }

std::pair<std::string, std::string> Handles::probe(const std::vector<ProbeStep>& program) {
  size_t slots = 0;
  for (const auto& [op, slot, size] : program) {
    if (op < 0 || op > 2) throw HandleError("probe: op must be 0, 1 or 2");
    slots = std::max(slots, slot + 1);
  }
  std::vector<std::pair<void*, size_t>> table(slots, {nullptr, 0});
  std::string before = allocator_->debug_malloc_stats();
  std::string error;
  for (const auto& [op, slot, size] : program) {
    auto& [p, n] = table[slot];
    if (op == 0 && p == nullptr) {
      p = allocator_->allocate(size);
      n = size;
    } else if (op == 1 && p != nullptr) {
      allocator_->deallocate(p, n);
      p = nullptr;
    } else if (op == 2 && p != nullptr) {
      p = allocator_->reallocate(p, n, size);
      n = size;
    } else {
      error = "probe: slot " + std::to_string(slot) + " is not in the state the op needs";
      break;
    }
  }
  std::string after = allocator_->debug_malloc_stats();
  for (auto& [p, n] : table)
    if (p != nullptr) allocator_->deallocate(p, n);
  if (!error.empty()) throw HandleError(error);
  return {before, after};
}

std::string Handles::is_valid() const { return allocator_->is_valid(); }

}  // namespace allocbench
