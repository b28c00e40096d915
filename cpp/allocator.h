// allocator.h — the one allocator interface of allocbench, and the factory from a spec.
//
// Every allocator offers the same operations: allocate, callocate, reallocate, deallocate,
// "does this pointer belong to me", figures (statistics), a debugmallocstats-style text and
// an invariant check. free and realloc take the size the block was requested with (as C++'s
// sized delete does): the allocators' decisions never depend on it, but it lets each of them
// keep exact live and peak requested bytes at the cost of one addition.
//
// Two ways to call them:
//   * Allocator, a virtual interface, for the Python bindings and tools: one virtual call per
//     operation, fine where Python is calling anyway.
//   * visit(allocator, f): calls f with the concrete allocator (Pymalloc, SystemMalloc,
//     FloorAllocator, CpythonAllocator), so that a hot loop templated on its argument (trace
//     replay) is compiled once per allocator type and pays no virtual call per operation.
//
// Each concrete allocator offers the same members (allocate, callocate, reallocate,
// deallocate, owns, footprint_bytes, figures, debug_malloc_stats, is_valid), so the one
// adapter below forwards them all without knowing which allocator it holds.
//
// Invariant: an Allocator's spec() is the validated spec that built it, and canonical()
// of it reproduces the same configuration.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.h"
#include "cpython_allocator.h"
#include "peers.h"
#include "pymalloc.h"
#include "stats.h"

namespace allocbench {

class Allocator {
 public:
  explicit Allocator(AllocatorSpec spec) : spec_(std::move(spec)) {}
  virtual ~Allocator() = default;

  virtual void* allocate(size_t n) = 0;
  virtual void* callocate(size_t count, size_t size) = 0;
  virtual void* reallocate(void* p, size_t old_n, size_t n) = 0;
  virtual void deallocate(void* p, size_t n) = 0;
  virtual Ownership owns(const void* p) const = 0;
  // Statistics, with the full configuration in info.
  virtual Figures figures() const = 0;
  virtual std::string debug_malloc_stats() const = 0;
  virtual std::string is_valid() const = 0;

  const AllocatorSpec& spec() const { return spec_; }

 private:
  AllocatorSpec spec_;
};

template <class Impl>
class AllocatorModel final : public Allocator {
 public:
  template <class... Args>
  explicit AllocatorModel(AllocatorSpec spec, Args&&... args)
      : Allocator(std::move(spec)), impl_(std::forward<Args>(args)...) {}

  Impl& impl() { return impl_; }
  const Impl& impl() const { return impl_; }

  void* allocate(size_t n) override { return impl_.allocate(n); }
  void* callocate(size_t count, size_t size) override { return impl_.callocate(count, size); }
  void* reallocate(void* p, size_t old_n, size_t n) override {
    return impl_.reallocate(p, old_n, n);
  }
  void deallocate(void* p, size_t n) override { impl_.deallocate(p, n); }
  Ownership owns(const void* p) const override { return impl_.owns(p); }
  Figures figures() const override {
    Figures f;
    f.note("allocator", kind_name(spec().kind));
    f.note("spec", spec().canonical());
    if (!spec().preset.empty()) f.note("preset", spec().preset);
    Figures own = impl_.figures();
    f.info.insert(f.info.end(), own.info.begin(), own.info.end());
    f.counters = std::move(own.counters);
    return f;
  }
  std::string debug_malloc_stats() const override { return impl_.debug_malloc_stats(); }
  std::string is_valid() const override { return impl_.is_valid(); }

 private:
  Impl impl_;
};

// Builds the allocator a spec names. Throws ConfigError for an invalid spec.
std::unique_ptr<Allocator> make_allocator(const AllocatorSpec& spec);
inline std::unique_ptr<Allocator> make_allocator(std::string_view spec_text) {
  return make_allocator(parse_spec(spec_text));
}

// For each request size, the block a pymalloc spec serves it from (SizeClasses::block_for);
// throws ConfigError for a spec of another kind, which has no size classes.
std::vector<uint64_t> block_sizes(const AllocatorSpec& spec, const std::vector<uint64_t>& sizes);

// Every size class of a pymalloc allocator with its pools and blocks now; empty for the other
// kinds. (The one place outside visit() that asks which allocator it holds: only pymalloc has
// size classes.)
std::vector<SizeClassStats> size_class_stats(const Allocator& allocator);

template <class F>
decltype(auto) visit(Allocator& allocator, F&& f) {
  switch (allocator.spec().kind) {
    case AllocatorKind::pymalloc:
      return f(static_cast<AllocatorModel<Pymalloc>&>(allocator).impl());
    case AllocatorKind::system:
      return f(static_cast<AllocatorModel<SystemMalloc>&>(allocator).impl());
    case AllocatorKind::floor:
      return f(static_cast<AllocatorModel<FloorAllocator>&>(allocator).impl());
    case AllocatorKind::cpython:
      break;
  }
  return f(static_cast<AllocatorModel<CpythonAllocator>&>(allocator).impl());
}

}  // namespace allocbench
