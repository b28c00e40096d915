// cpython_allocator.cpp — see cpython_allocator.h.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "cpython_allocator.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

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
  f.add("live_requested_bytes", requested_.live_bytes);
  f.add("peak_requested_bytes", requested_.peak_bytes);
  f.add("live_count", requested_.live_count);
  // Interpreter-wide figures from the report: "<message>   =   1,234".
  const std::pair<const char*, const char*> wanted[] = {
      {"# arenas allocated current", "arenas_current"},
      {"# arenas highwater mark", "arenas_peak"},
      {"# arenas allocated total", "arenas_allocated_total"},
      {"# arenas reclaimed", "arenas_reclaimed"},
      {"# bytes in allocated blocks", "allocated_block_bytes"},
      {"# bytes in available blocks", "available_block_bytes"},
  };
  std::istringstream lines(debug_malloc_stats());
  std::string line;
  while (std::getline(lines, line)) {
    const size_t star = line.find(" arenas * ");
    if (star != std::string::npos && line.find(" bytes/arena") != std::string::npos)
      f.add("arena_size", std::stoull(line.substr(star + 10)));
    for (const auto& [message, name] : wanted) {
      if (line.rfind(message, 0) != 0) continue;
      uint64_t value = 0;
      for (char ch : line.substr(line.find('=') + 1))
        if (ch >= '0' && ch <= '9') value = value * 10 + static_cast<uint64_t>(ch - '0');
      f.add(name, value);
    }
  }
  return f;
}

std::optional<uint64_t> CpythonAllocator::footprint_bytes() const {
  const Figures f = figures();
  uint64_t arenas = 0, arena_size = 0;
  bool found = false;
  for (const auto& [name, value] : f.counters) {
    if (name == "arenas_current") arenas = value, found = true;
    if (name == "arena_size") arena_size = value;
  }
  if (!found) return std::nullopt;
  return arenas * arena_size;
}

std::string CpythonAllocator::is_valid() const {
  return requested_.live_bytes <= requested_.peak_bytes ? "" : "live requested bytes above peak";
}

}  // namespace allocbench
