// allocator.cpp — the factory. See allocator.h.
#include "allocator.h"

namespace allocbench {

std::unique_ptr<Allocator> make_allocator(const AllocatorSpec& spec) {
  switch (spec.kind) {
    case AllocatorKind::pymalloc:
      return std::make_unique<AllocatorModel<Pymalloc>>(spec, spec.pymalloc);
    case AllocatorKind::system:
      return std::make_unique<AllocatorModel<SystemMalloc>>(spec);
    case AllocatorKind::floor:
      return std::make_unique<AllocatorModel<FloorAllocator>>(spec);
    case AllocatorKind::cpython:
      break;
  }
  return std::make_unique<AllocatorModel<CpythonAllocator>>(spec);
}

std::vector<uint64_t> block_sizes(const AllocatorSpec& spec, const std::vector<uint64_t>& sizes) {
  if (spec.kind != AllocatorKind::pymalloc)
    throw ConfigError("allocator '" + spec.canonical() + "' has no size classes (only pymalloc specs do)");
  const SizeClasses classes(spec.pymalloc);
  std::vector<uint64_t> out;
  out.reserve(sizes.size());
  for (uint64_t n : sizes) out.push_back(classes.block_for(n));
  return out;
}

std::vector<SizeClassStats> size_class_stats(const Allocator& allocator) {
  if (allocator.spec().kind != AllocatorKind::pymalloc) return {};
  return static_cast<const AllocatorModel<Pymalloc>&>(allocator).impl().stats().classes;
}

}  // namespace allocbench
