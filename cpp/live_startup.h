// live_startup.h — putting the live run in at the interpreter's start-up: the early path
// (before initialisation, called by the preloaded Py_BytesMain, live_preload.h) and the
// fallback path (a wrapping hook, installed by allocbench/_live_bootstrap.py before the
// program runs).
//
// Owns the recipe of each path (live.h owns what is installed):
//   early     1. read the statically initialised allocators (no runtime needed): RAW's is
//               the raw allocator the variant passes through to, OBJ's is pymalloc;
//             2. for `cpython`, the arena observer, before any arena exists;
//             3. pre-initialise exactly as the real start-up would (PyPreConfig_InitPythonConfig,
//               Py_PreInitializeFromBytesArgs with the same argv), so -E, -I, -X utf8, -X dev
//               and PYTHONMALLOC are read by CPython's own code; the real start-up then skips
//               its pre-initialisation;
//             4. see what it selected: pymalloc, malloc, or debug hooks (whose name CPython
//               reports); install ours outright over MEM and OBJ, the documented window for
//               an allocator that does not wrap (the C API's "Memory Management",
//               PyMem_SetAllocator; docs/pymalloc-facts.md, "The C API around it");
//             5. with debug hooks, PyMem_SetupDebugHooks() puts them back on top of ours. Ours
//               never passes through to the hook it replaced: that hook's context now
//               forwards to ours, and the two would call each other forever.
//   fallback  after initialisation only a wrapping allocator is allowed: ours goes over
//             whatever MEM and OBJ hold, and every block ours does not own (all those made at
//             start-up) goes back to it.
// Invariants: a run is started at most once per process; a pre-initialisation that fails
// (PYTHONMALLOC=bogus) installs nothing and lets the real start-up fail as it would alone; a
// spec that cannot run is one line on stderr and exit status 2 before the program starts.
#pragma once

#include <cstdint>

namespace allocbench {

// The fallback path, now. `small_blocks_before`: pymalloc's live blocks at this point
// (sys.getallocatedblocks()), which stay with it. Throws ConfigError for a spec that cannot
// run live, or that cannot run on this path (arena_source=malloc with different allocators
// below MEM and OBJ: an arena taken through one domain could be given back through the other).
void start_live_fallback(uint64_t small_blocks_before);

}  // namespace allocbench

// The early path (kLiveEarlyEntryPoint): returns 0 when the run started, 1 when the
// pre-initialisation failed (nothing installed); exits with status 2 on a bad spec.
extern "C" __attribute__((visibility("default"))) int allocbench_live_start_early(int argc, char** argv);
