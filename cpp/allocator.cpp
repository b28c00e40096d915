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

}  // namespace allocbench
