// cpython_allocator.cpp — see cpython_allocator.h.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "cpython_allocator.h"

#include <cstdio>
#include <cstdlib>

extern "C" int _PyObject_DebugMallocStats(FILE* out);  // exported by CPython 3.11

namespace allocbench {

void* CpythonAllocator::allocate(size_t n) {
  void* p = PyObject_Malloc(n);
  if (p != nullptr) requested_.add(n);
  return p;
}

void* CpythonAllocator::callocate(size_t count, size_t size) {
  if (calloc_overflows(count, size)) return nullptr;
  void* p = PyObject_Calloc(count, size);
  if (p != nullptr) requested_.add(count * size);
  return p;
}

void* CpythonAllocator::reallocate(void* p, size_t old_n, size_t n) {
  if (p == nullptr) return allocate(n);
  void* q = PyObject_Realloc(p, n);
  if (q != nullptr) requested_.resize(old_n, n);
  return q;
}

void CpythonAllocator::deallocate(void* p, size_t n) {
  if (p == nullptr) return;
  requested_.remove(n);
  PyObject_Free(p);
}

std::string CpythonAllocator::debug_malloc_stats() const {
  // open_memstream buffers with the C library's malloc, not with pymalloc, so taking the
  // report does not disturb what it reports.
  char* buffer = nullptr;
  size_t length = 0;
  FILE* out = open_memstream(&buffer, &length);
  if (out == nullptr) return "";
  _PyObject_DebugMallocStats(out);
  std::fclose(out);
  std::string text(buffer, length);
  std::free(buffer);
  return text;
}

Figures CpythonAllocator::figures() const {
  Figures f;
  f.note("python_version", Py_GetVersion());
  requested_.add_figures(f);
  // Interpreter-wide figures from the report.
  const std::optional<ParsedMallocStats> report = parse_debug_malloc_stats(debug_malloc_stats());
  if (!report) return f;
  const std::pair<const char*, const char*> wanted[] = {
      {"# arenas allocated current", "arenas_current"},
      {"# arenas highwater mark", "arenas_peak"},
      {"# arenas allocated total", "arenas_allocated_total"},
      {"# arenas reclaimed", "arenas_reclaimed"},
      {"# bytes in allocated blocks", "allocated_block_bytes"},
      {"# bytes in available blocks", "available_block_bytes"},
  };
  for (const auto& [message, name] : wanted)
    if (const std::optional<uint64_t> value = report->counter(message)) f.add(name, *value);
  if (report->arena_size != 0) f.add("arena_size", report->arena_size);
  return f;
}

std::optional<uint64_t> CpythonAllocator::footprint_bytes() const {
  const std::optional<ParsedMallocStats> report = parse_debug_malloc_stats(debug_malloc_stats());
  const std::optional<uint64_t> arenas = report ? report->counter("# arenas allocated current") : std::nullopt;
  if (!arenas) return std::nullopt;
  return *arenas * report->arena_size;
}

std::string CpythonAllocator::is_valid() const {
  return requested_.is_valid();
}

}  // namespace allocbench
