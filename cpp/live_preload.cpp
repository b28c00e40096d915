// live_preload.cpp — the preloaded Py_BytesMain. See live_preload.h.
#include "live_preload.h"

#include <dlfcn.h>
#include <patchlevel.h>  // PY_VERSION_HEX only: a macro, no Python symbol
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace allocbench {
namespace {

using BytesMain = int (*)(int, char**);

// Whether this process is an interpreter of the version the core was built for. Py_Version
// exists from 3.11 on; an older Python, or none, has no such symbol.
bool interpreter_matches() {
  const auto* version = static_cast<const unsigned long*>(dlsym(RTLD_DEFAULT, "Py_Version"));
  return version != nullptr && (*version >> 16) == (PY_VERSION_HEX >> 16);
}

[[noreturn]] void refuse(const char* what, const char* detail) {
  std::fprintf(stderr, "allocbench exec: %s: %s\n", what, detail);
  std::fflush(stderr);
  _exit(2);
}

void start_core(int argc, char** argv) {
  const char* core_path = std::getenv(kLiveCoreVariable);
  if (core_path == nullptr || *core_path == '\0') refuse(kLiveCoreVariable, "not set; run the program with allocbench exec");
  // Never closed: the installed allocator lives in it until the process ends. The
  // interpreter's own import of allocbench._core later finds this very copy.
  void* core = dlopen(core_path, RTLD_NOW | RTLD_LOCAL);
  if (core == nullptr) refuse("cannot load the core", dlerror());
  const auto start = reinterpret_cast<int (*)(int, char**)>(dlsym(core, kLiveEarlyEntryPoint));
  if (start == nullptr) refuse(core_path, "has no live entry point (built without the live mode?)");
  start(argc, argv);
}

}  // namespace
}  // namespace allocbench

extern "C" __attribute__((visibility("default"))) int Py_BytesMain(int argc, char** argv) {
  static const auto real = reinterpret_cast<allocbench::BytesMain>(dlsym(RTLD_NEXT, "Py_BytesMain"));
  if (real == nullptr) allocbench::refuse("Py_BytesMain", "no interpreter below the preloaded library");
  if (std::getenv(allocbench::kLiveSpecVariable) != nullptr && allocbench::interpreter_matches())
    allocbench::start_core(argc, argv);
  return real(argc, argv);
}
