// live_startup.cpp — the early and fallback recipes. See live_startup.h.
#include "live_startup.h"

#include <Python.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>

#include "arena_observer.h"
#include "live.h"
#include "text.h"

namespace allocbench {
namespace {

// PYTHONMALLOC's name for what MEM and OBJ hold now; CPython exports the function (private,
// 3.8+), looked up so that an interpreter without it still runs. Null when it cannot tell
// (another hook is installed).
const char* current_allocator_name() {
  using NameOf = const char* (*)();
  const auto name_of = reinterpret_cast<NameOf>(dlsym(RTLD_DEFAULT, "_PyMem_GetCurrentAllocatorName"));
  return name_of == nullptr ? nullptr : name_of();
}

BelowTheVariant selected_below(const PyMemAllocatorEx& raw, const PyMemAllocatorEx& pymalloc) {
  PyMemAllocatorEx now;
  PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &now);
  BelowTheVariant below;
  if (now.malloc == pymalloc.malloc) {
    below.python_allocator = "pymalloc";
  } else if (now.malloc == raw.malloc) {
    below.python_allocator = "malloc";
  } else {
    const char* name = current_allocator_name();
    below.python_allocator = name != nullptr ? name : "debug";
    below.debug_hooks = true;
  }
  return below;
}

bool same_allocator(const PyMemAllocatorEx& a, const PyMemAllocatorEx& b) {
  return a.ctx == b.ctx && a.malloc == b.malloc && a.calloc == b.calloc && a.realloc == b.realloc && a.free == b.free;
}

}  // namespace

void start_live_fallback(uint64_t small_blocks_before) {
  const LiveSettings settings = take_live_settings();
  const AllocatorSpec spec = parse_spec(settings.spec);
  PyMemAllocatorEx mem, obj;
  PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &mem);
  PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &obj);
  if (spec.kind == AllocatorKind::pymalloc && spec.pymalloc.arena_source == ArenaSource::malloc &&
      !same_allocator(mem, obj))
    throw ConfigError("arena_source=malloc: not on the fallback path when MEM and OBJ have different allocators "
                      "below (debug hooks): an arena taken through one domain could go back through the other");
  BelowTheVariant below;
  const char* name = current_allocator_name();
  below.python_allocator = name != nullptr ? name : "a hook";
  start_live_run(settings, LivePath::fallback, below, std::nullopt, small_blocks_before);
}

}  // namespace allocbench

using namespace allocbench;

extern "C" int allocbench_live_start_early(int argc, char** argv) {
  try {
    const LiveSettings settings = take_live_settings();
    // 1. As statically initialised: RAW is the C library's, OBJ is pymalloc.
    PyMemAllocatorEx raw, pymalloc;
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &raw);
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &pymalloc);
    // 2.
    if (live_spec_observes_arenas(settings.spec)) process_arena_observer().install();
    // 3.
    PyPreConfig preconfig;
    PyPreConfig_InitPythonConfig(&preconfig);
    if (PyStatus_Exception(Py_PreInitializeFromBytesArgs(&preconfig, argc, argv))) return 1;
    // 4.
    const BelowTheVariant below = selected_below(raw, pymalloc);
    start_live_run(settings, LivePath::early, below, raw, 0);
    // 5.
    if (below.debug_hooks && live_status()->variant_installed) PyMem_SetupDebugHooks();
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "allocbench exec: %s\n", one_line(error.what()).c_str());
    std::fflush(stderr);
    _exit(2);
  }
}
