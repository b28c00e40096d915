// handles.h — an allocator driven through handles, for callers that cannot be trusted with
// raw pointers (Python, tests, notebooks): the Python class allocbench.Allocator.
//
// Owns the handle table: a handle is the block's address as an integer, and the table
// remembers each live block's requested size, so that a free, realloc, read or write of a
// handle that is not live is refused with HandleError instead of corrupting memory.
// Destroying a Handles frees every block still live. Also owns the probe mini-language:
// a program of (op, slot, size) steps run without returning to the caller between steps, so
// that nothing else allocates between two reports (the fidelity tests' instrument).
//
// Sharing: one Handles may be used from several threads. Every operation, a replay into the
// allocator included, holds the object's mutex for its whole length, so two threads take
// turns rather than corrupt the model (the allocators themselves are not thread-safe).
//
// Invariant: the table holds exactly the blocks handed out through it and not yet freed,
// each at the size it was requested with (every path that hands out or frees a block goes
// through remember() or erases its entry); is_valid() is the allocator's own check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allocator.h"

namespace allocbench {

// A handle that is not live, a range outside its block, or a malformed probe program.
class HandleError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class Handles {
 public:
  explicit Handles(std::string_view spec);
  ~Handles();
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;

  // Every call below must be made with mutex() held.
  std::mutex& mutex() { return mutex_; }

  uintptr_t malloc(size_t n);
  uintptr_t calloc(size_t count, size_t size);
  uintptr_t realloc(uintptr_t handle, size_t n);
  void free(uintptr_t handle);
  size_t size_of(uintptr_t handle) const;
  void write(uintptr_t handle, std::string_view data, size_t offset);
  std::string read(uintptr_t handle, size_t length, size_t offset) const;
  // Fills the whole requested extent with a pattern derived from `seed`; check() verifies it.
  // Fast enough to run on every block after every step of a property test.
  void fill(uintptr_t handle, uint8_t seed);
  bool check(uintptr_t handle, uint8_t seed) const;
  Ownership owns(uintptr_t handle) const;

  // Runs a program of (op, slot, size) steps (op 0 malloc, 1 free, 2 realloc) and returns
  // the allocator's report before and after it. Blocks still live at the end are freed after
  // the second report.
  using ProbeStep = std::tuple<int, size_t, size_t>;
  std::pair<std::string, std::string> probe(const std::vector<ProbeStep>& program);

  Allocator& allocator() { return *allocator_; }
  const Allocator& allocator() const { return *allocator_; }
  size_t live() const { return live_.size(); }
  std::string is_valid() const;

 private:
  uintptr_t remember(void* p, size_t n, const char* what);
  void check_range(uintptr_t handle, size_t offset, size_t length) const;

  std::mutex mutex_;
  std::unique_ptr<Allocator> allocator_;
  std::unordered_map<uintptr_t, size_t> live_;
};

}  // namespace allocbench
