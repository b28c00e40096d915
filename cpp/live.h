// live.h — an allocator installed live in the running interpreter, and what it reports.
//
// Owns the process's live run: which allocator the run asked for (live_preload.h's
// variables), how it was installed (the path: early, before the interpreter initialises,
// live_startup.h; or fallback, a wrapping hook installed at start-up), the installed pymalloc
// variant and its counts, the arena observer for `cpython` (arena_observer.h), and the
// report at exit: the debugmallocstats-style dump to stderr, or JSON to a file.
//
// What each spec installs: a pymalloc spec, a LiveVariant in MEM and OBJ; `cpython`, the
// arena observer only (the interpreter's own pymalloc runs); `system` (and the preloaded
// libraries, which run as system with PYTHONMALLOC=malloc), nothing: the report only.
//
// The variant:
//   * one Pymalloc for both domains, driven through its *_unsized entry points (CPython's
//     free takes no size), as CPython's pymalloc serves MEM and OBJ from one set of pools:
//     a block allocated in one domain and freed in the other (extensions do it) is found;
//   * below it, where the requests it does not serve go (0 bytes, above its threshold,
//     blocks it does not own): on the early path the raw allocator, which is what pymalloc
//     itself passes them to (handing them to the interpreter's pymalloc would make that one
//     serve 0-byte requests and those between the two thresholds from arenas of its own);
//     on the fallback path the previous allocator of the domain that was called, which made
//     every block allocated before the install and so gets it back;
//   * a small request (1 byte up to the threshold) the variant cannot serve from its pools
//     (no arena to be had) goes below, as in CPython's _PyObject_Malloc;
//   * the domains' contracts hold: called with the GIL held (so the state needs no lock,
//     and threads take turns), and 0 bytes gives a distinct pointer (1 byte from below);
//   * never destroyed: blocks are freed through it up to the end of finalisation, and C++
//     static destructors and libc atexit handlers may free later still;
//   * a forked child carries on with its copy (nothing is shared); only the process that
//     started the run writes the report (not a forked child, not os._exit).
// Invariants (LiveVariant::is_valid, which tests call): the model's own is_valid(), and the
// small requests passed down are among the small requests counted.
#pragma once

#include <Python.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hooks.h"
#include "pymalloc.h"
#include "stats.h"

namespace allocbench {

enum class LivePath { early, fallback };
const char* live_path_name(LivePath path);

// What the pre-initialisation selected below the installed allocator, by PYTHONMALLOC's
// names: pymalloc, malloc, pymalloc_debug, malloc_debug.
struct BelowTheVariant {
  std::string python_allocator = "pymalloc";
  bool debug_hooks = false;  // CPython's debug hooks are on top of the installed allocator
};

struct LiveCounts {
  uint64_t small_requests = 0;              // malloc, calloc and realloc of 1..threshold bytes
  uint64_t small_requests_passed_down = 0;  // of those, served below the variant
  uint64_t small_blocks_before_install = 0;  // fallback: pymalloc's live blocks at the install
  uint64_t small_requests_served() const { return small_requests - small_requests_passed_down; }
  // The share of the program's small requests the variant served. On the fallback path the
  // requests made before the install were not seen: the blocks still live from them then
  // stand for them (a floor on their number), so the share is an upper bound there.
  double served_share() const {
    const uint64_t all = small_requests + small_blocks_before_install;
    return all == 0 ? 0.0 : static_cast<double>(small_requests_served()) / static_cast<double>(all);
  }
};

class LiveVariant {
 public:
  // `raw_below`: on the early path, the raw allocator every pass-through goes to; on the
  // fallback path nullopt: each domain's previous allocator (saved by install()).
  LiveVariant(const PymallocConfig& config, LivePath path, std::optional<PyMemAllocatorEx> raw_below,
              uint64_t small_blocks_before);
  LiveVariant(const LiveVariant&) = delete;
  LiveVariant& operator=(const LiveVariant&) = delete;

  // Sets ours on MEM and OBJ (hooks.h). Once per process.
  void install();
  const Pymalloc& model() const { return model_; }
  LiveCounts counts() const { return counts_; }
  std::string is_valid() const;

 private:
  static void* hook_malloc(void* ctx, size_t n);
  static void* hook_calloc(void* ctx, size_t count, size_t size);
  static void* hook_realloc(void* ctx, void* block, size_t n);
  static void hook_free(void* ctx, void* block);
  static void* below_malloc(void* ctx, size_t n);
  // A small request the pools could not serve (no arena to be had): below, counted.
  [[gnu::noinline, gnu::cold]] void* small_request_below(size_t n);
  static void* below_calloc(void* ctx, size_t count, size_t size);
  static void* below_realloc(void* ctx, void* block, size_t n);
  static void below_free(void* ctx, void* block);
  // The allocator the current call's pass-through goes to.
  const PyMemAllocatorEx& below() const { return raw_below_ ? *raw_below_ : caller_->previous; }
  bool is_small(size_t n) const { return n - 1 < threshold_; }

  const std::optional<PyMemAllocatorEx> raw_below_;
  const DomainHook* caller_ = nullptr;  // the domain being called (GIL held: one at a time)
  Pymalloc model_;
  const size_t threshold_;
  DomainHooks hooks_;
  LiveCounts counts_;
};

// What the run asked for: read once from the environment (live_preload.h's variables). The
// report target is removed from the environment as it is read, so that the processes the
// program starts, which inherit the rest and run live too, do not write over its report.
struct LiveSettings {
  std::string spec;    // a core spec: pymalloc:..., cpython or system
  std::string label;   // the allocator as the user named it (mimalloc, preload:..., the spec)
  std::string report;  // "": none; "-": the dump to stderr; else the JSON file to write
};
LiveSettings take_live_settings();

// Throws ConfigError for a spec that is invalid or cannot run a program (floor: the replay
// harness's measure, which never gives memory back).
AllocatorSpec check_live_spec(const std::string& spec);

// Starts the process's live run: builds what the spec installs (check_live_spec), installs
// it and registers the report at exit.
// `raw_below`: as LiveVariant's. Once per process; false when a run had already started.
bool start_live_run(const LiveSettings& settings, LivePath path, const BelowTheVariant& below,
                    std::optional<PyMemAllocatorEx> raw_below, uint64_t small_blocks_before);
// The arena observer of `cpython` goes in before anything else, on the early path before the
// interpreter has an arena; a spec that is not cpython does not ask for it.
bool live_spec_observes_arenas(const std::string& spec);

// The run's figures now, as the report holds them; nothing when no run started here.
struct LiveStatus {
  std::string label;
  std::string spec;
  std::string path;
  std::string python_allocator;
  bool debug_hooks = false;
  bool variant_installed = false;
  LiveCounts counts;
  std::string valid;                         // is_valid() of what is installed
};
std::optional<LiveStatus> live_status();

// The report of the run as it stands: JSON, or the dump's text.
std::string live_report_json(const char* ended);
std::string live_report_text();

}  // namespace allocbench
