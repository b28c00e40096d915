// live_preload.h — the start-up interposition of the live mode: a small library preloaded
// into the program's process (LD_PRELOAD) that defines Py_BytesMain, and the contract
// between it, allocbench/live.py and the core.
//
// Owns the early path's first step. `python SCRIPT` calls Py_BytesMain, which an interpreter
// built with --enable-shared imports from libpython; the preloaded definition comes first.
// It loads the core (allocbench's _core extension, from ALLOCBENCH_LIVE_CORE) and calls its
// entry point (kLiveEarlyEntryPoint, live_startup.h), which pre-initialises the interpreter
// as the real start-up would and installs the allocator; then it calls the real Py_BytesMain,
// whose own pre-initialisation is then skipped (Python/pylifecycle.c v3.11.2,
// _Py_PreInitializeFromPyArgv: "If it's already configured: ignored the new configuration").
//
// Invariants:
//   * the library references no Python symbol: it is loaded into every process the program
//     starts (sh, compilers, other Pythons), where libpython is absent; it only looks Python
//     up with dlsym, and acts only inside an interpreter of the version the core was built
//     for (Py_Version), and only when ALLOCBENCH_LIVE_SPEC is set;
//   * the real Py_BytesMain always runs, with the same arguments;
//   * a core that cannot be loaded stops the process before the program starts, with one
//     line on stderr and exit status 2.
// A statically linked interpreter defines Py_BytesMain itself and never calls this one: the
// live mode takes the fallback path there (allocbench/live.py tells the two apart before the
// program starts).
#pragma once

namespace allocbench {

// The environment a live run is configured by: set by allocbench/live.py, read here and by
// the core (live.h). A child process inherits them all but the report target, which the
// core removes as it reads it (only the program's own process reports).
inline constexpr const char* kLiveSpecVariable = "ALLOCBENCH_LIVE_SPEC";      // the core spec
inline constexpr const char* kLiveLabelVariable = "ALLOCBENCH_LIVE_LABEL";    // as the user wrote it
inline constexpr const char* kLiveReportVariable = "ALLOCBENCH_LIVE_REPORT";  // "-": stderr; else a JSON file
inline constexpr const char* kLiveCoreVariable = "ALLOCBENCH_LIVE_CORE";      // the _core library to load

// The core's early entry point: int (int argc, char** argv), 0 when installed.
inline constexpr const char* kLiveEarlyEntryPoint = "allocbench_live_start_early";

}  // namespace allocbench
