// cpython_allocator.h — the running interpreter's own object allocator, the ground truth.
//
// Owns the calls into PyObject_Malloc / PyObject_Calloc / PyObject_Realloc / PyObject_Free of
// the interpreter that loaded this module: pymalloc on a default 3.11, system malloc under
// PYTHONMALLOC=malloc, and whatever hooks are installed. Every call must be made with the
// GIL held (the OBJ domain requires it); the bindings and replay guarantee that.
//
// Its statistics are the interpreter's own: the text of _PyObject_DebugMallocStats (what
// sys._debugmallocstats() prints first), and figures parsed from it. They describe the whole
// interpreter, not only the blocks this object handed out; the requested-byte counters are
// this object's own.
//
// Invariant (is_valid): live requested bytes never exceed their peak.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "stats.h"

namespace allocbench {

class CpythonAllocator {
 public:
  void* allocate(size_t n);
  void* callocate(size_t count, size_t size);
  void* reallocate(void* p, size_t old_n, size_t n);
  void deallocate(void* p, size_t n);
  Ownership owns(const void*) const { return Ownership::unknown; }

  // The interpreter's arenas (parsed from its report: slow, walks every arena); none when
  // pymalloc is not in use.
  std::optional<uint64_t> footprint_bytes() const;
  Figures figures() const;
  // The interpreter's own report (empty when pymalloc is not in use).
  std::string debug_malloc_stats() const;
  std::string is_valid() const;

 private:
  RequestCounters requested_;
};

}  // namespace allocbench
