// live.cpp — the installed variant, the process's live run and its report. See live.h.
//
// The hook functions run on every MEM and OBJ call of the program: they set which domain is
// calling (for the pass-through), count small requests, and hand the call to the model's
// unsized entry points; nothing else on the fast path. They never call into MEM or OBJ
// themselves, and nothing they do can throw.
#include "live.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "arena_observer.h"
#include "config.h"
#include "cpython_allocator.h"
#include "files.h"
#include "live_preload.h"
#include "peers.h"
#include "replay.h"
#include "text.h"

namespace allocbench {

const char* live_path_name(LivePath path) { return path == LivePath::early ? "early" : "fallback"; }

namespace {
LiveVariant* installed_variant = nullptr;  // the one per process, once install() ran
}  // namespace

LiveVariant::LiveVariant(const PymallocConfig& config, LivePath path, std::optional<PyMemAllocatorEx> raw_below,
                         uint64_t small_blocks_before)
    : raw_below_(path == LivePath::early ? raw_below : std::nullopt),
      model_(config, LowerAllocator{this, below_malloc, below_calloc, below_realloc, below_free}, false),
      threshold_(model_.size_classes().threshold()) {
  counts_.small_blocks_before_install = small_blocks_before;
}

void LiveVariant::install() {
  if (installed_variant != nullptr) return;
  installed_variant = this;
  // Every call sets the domain it comes from; this one keeps below() defined before the first.
  caller_ = &hooks_.obj;
  hooks_.install(HookFunctions{hook_malloc, hook_calloc, hook_realloc, hook_free});
}

void* LiveVariant::hook_malloc(void* ctx, size_t n) {
  LiveVariant& v = *installed_variant;
  v.caller_ = static_cast<const DomainHook*>(ctx);
  if (ALLOCBENCH_UNLIKELY(!v.is_small(n))) return v.model_.allocate_unsized(n);  // passed through
  ++v.counts_.small_requests;
  void* block = v.model_.allocate_unsized(n);
  return ALLOCBENCH_LIKELY(block != nullptr) ? block : v.small_request_below(n);
}

void* LiveVariant::small_request_below(size_t n) {
  ++counts_.small_requests_passed_down;
  return below_malloc(this, n);
}

void* LiveVariant::hook_calloc(void* ctx, size_t count, size_t size) {
  LiveVariant& v = *installed_variant;
  v.caller_ = static_cast<const DomainHook*>(ctx);
  void* block = v.model_.callocate_unsized(count, size);
  if (!calloc_overflows(count, size) && v.is_small(count * size)) {
    ++v.counts_.small_requests;
    if (block == nullptr) {
      ++v.counts_.small_requests_passed_down;
      block = below_calloc(&v, count, size);
    }
  }
  return block;
}

void* LiveVariant::hook_realloc(void* ctx, void* block, size_t n) {
  LiveVariant& v = *installed_variant;
  v.caller_ = static_cast<const DomainHook*>(ctx);
  void* moved = v.model_.reallocate_unsized(block, n);
  if (v.is_small(n)) {
    ++v.counts_.small_requests;
    // A block the variant does not own stays below, even when small (CPython does the same:
    // the valid length of a foreign block is unknown, so it cannot be copied).
    if (moved == nullptr || v.model_.owns(moved) != Ownership::yes) ++v.counts_.small_requests_passed_down;
  }
  return moved;
}

void LiveVariant::hook_free(void* ctx, void* block) {
  LiveVariant& v = *installed_variant;
  v.caller_ = static_cast<const DomainHook*>(ctx);
  v.model_.deallocate_unsized(block);
}

void* LiveVariant::below_malloc(void* ctx, size_t n) {
  const PyMemAllocatorEx& below = static_cast<LiveVariant*>(ctx)->below();
  return below.malloc(below.ctx, n);
}

void* LiveVariant::below_calloc(void* ctx, size_t count, size_t size) {
  const PyMemAllocatorEx& below = static_cast<LiveVariant*>(ctx)->below();
  return below.calloc(below.ctx, count, size);
}

void* LiveVariant::below_realloc(void* ctx, void* block, size_t n) {
  const PyMemAllocatorEx& below = static_cast<LiveVariant*>(ctx)->below();
  return below.realloc(below.ctx, block, n);
}

void LiveVariant::below_free(void* ctx, void* block) {
  const PyMemAllocatorEx& below = static_cast<LiveVariant*>(ctx)->below();
  below.free(below.ctx, block);
}

std::string LiveVariant::is_valid() const {
  if (counts_.small_requests_passed_down > counts_.small_requests)
    return "more small requests passed down than were counted";
  return model_.is_valid();
}

LiveSettings take_live_settings() {
  const auto read = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value == nullptr ? "" : value);
  };
  LiveSettings settings{read(kLiveSpecVariable), read(kLiveLabelVariable), read(kLiveReportVariable)};
  if (settings.label.empty()) settings.label = settings.spec;
  unsetenv(kLiveReportVariable);
  return settings;
}

AllocatorSpec check_live_spec(const std::string& spec_text) {
  const AllocatorSpec spec = parse_spec(spec_text);
  if (spec.kind == AllocatorKind::floor)
    throw ConfigError("allocator 'floor' cannot run a program: it is the replay harness's measure and never "
                      "gives memory back");
  return spec;
}

bool live_spec_observes_arenas(const std::string& spec) {
  return check_live_spec(spec).kind == AllocatorKind::cpython;
}

namespace {

// The process's run. Never destroyed (reported on at exit, read by the bindings).
struct LiveRun {
  LiveSettings settings;
  AllocatorSpec spec;
  LivePath path = LivePath::early;
  BelowTheVariant below;
  LiveVariant* variant = nullptr;
  pid_t owner = 0;
  bool reported = false;
};
LiveRun* the_run = nullptr;

std::string json_string(std::string_view text) {
  // Valid JSON whatever the bytes: a name that is not UTF-8 has its bytes above 0x7f written
  // as the code points of the same value (read back, they are the Latin-1 reading).
  const bool utf8 = invalid_utf8_at(text) == std::string_view::npos;
  std::string out = "\"";
  char escaped[8];
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f || (!utf8 && byte >= 0x80)) {
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A JSON object written member by member.
class JsonObject {
 public:
  JsonObject& raw(const char* key, const std::string& value) {
    text_ += (text_.empty() ? "{" : ", ") + json_string(key) + ": " + value;
    return *this;
  }
  JsonObject& text(const char* key, std::string_view value) { return raw(key, json_string(value)); }
  JsonObject& number(const char* key, uint64_t value) { return raw(key, std::to_string(value)); }
  JsonObject& number(const char* key, std::optional<uint64_t> value) {
    return raw(key, value ? std::to_string(*value) : "null");
  }
  JsonObject& flag(const char* key, bool value) { return raw(key, value ? "true" : "false"); }
  std::string str() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

std::string figures_json(const Figures& figures) {
  JsonObject out;
  for (const auto& [name, value] : figures.info) out.text(name.c_str(), value);
  for (const auto& [name, value] : figures.counters) out.number(name.c_str(), value);
  return out.str();
}

std::string arenas_json(const ArenaObservation& o) {
  std::string timeline = "[";
  for (size_t i = 0; i < o.timeline.size(); ++i)
    timeline += (i ? ", [" : "[") + std::to_string(o.timeline[i].time_ns) + ", " +
                std::to_string(o.timeline[i].arenas_current) + "]";
  return JsonObject()
      .number("arenas_mapped", o.arenas_mapped)
      .number("arenas_unmapped", o.arenas_unmapped)
      .number("arenas_peak", o.arenas_peak)
      .number("other_chunks_mapped", o.other_chunks_mapped)
      .number("other_chunks_unmapped", o.other_chunks_unmapped)
      .number("timeline_dropped", o.timeline_dropped)
      .raw("timeline", timeline + "]")
      .str();
}

// The text of the allocator's own report: the variant's, or the interpreter's pymalloc.
std::string own_report(const LiveRun& run) {
  if (run.variant != nullptr) return run.variant->model().debug_malloc_stats();
  if (run.spec.kind == AllocatorKind::cpython) return CpythonAllocator().debug_malloc_stats();
  return "";
}

// The process's RSS now and its peak: the kernel updates VmHWM lazily, so the peak is at
// least the RSS read with it (the same rule as the memory pass's).
struct ProcessMemory {
  std::optional<uint64_t> peak_rss_bytes;
  std::optional<uint64_t> rss_bytes;
};
ProcessMemory process_memory() {
  ProcessMemory m{process_peak_rss_bytes(), process_rss_bytes()};
  if (m.rss_bytes && (!m.peak_rss_bytes || *m.peak_rss_bytes < *m.rss_bytes)) m.peak_rss_bytes = m.rss_bytes;
  return m;
}

std::string malloc_library() {
  for (const auto& [name, value] : SystemMalloc().figures().info)
    if (name == "malloc_library") return value;
  return "unknown";
}

void report_at_exit(const char* ended) {
  LiveRun* run = the_run;
  if (run == nullptr || run->reported || getpid() != run->owner) return;
  run->reported = true;
  const std::string& target = run->settings.report;
  if (target.empty()) return;
  if (target == "-") {
    std::fputs(live_report_text().c_str(), stderr);
    std::fflush(stderr);
    return;
  }
  std::string error;
  std::FILE* out = open_regular_for_writing(target, error);
  const std::string json = live_report_json(ended) + "\n";
  if (out == nullptr || std::fwrite(json.data(), 1, json.size(), out) != json.size() || std::fclose(out) != 0)
    std::fprintf(stderr, "allocbench exec: %s: cannot write the statistics: %s\n", one_line(target).c_str(),
                 error.empty() ? std::strerror(errno) : error.c_str());
}

}  // namespace

bool start_live_run(const LiveSettings& settings, LivePath path, const BelowTheVariant& below,
                    std::optional<PyMemAllocatorEx> raw_below, uint64_t small_blocks_before) {
  if (the_run != nullptr) return false;
  auto* run = new LiveRun{settings, check_live_spec(settings.spec), path, below};
  run->owner = getpid();
  if (run->spec.kind == AllocatorKind::pymalloc) {
    run->variant = new LiveVariant(run->spec.pymalloc, path, raw_below, small_blocks_before);  // never destroyed
    run->variant->install();
  } else if (run->spec.kind == AllocatorKind::cpython) {
    process_arena_observer().install();
  }
  the_run = run;
  // Py_AtExit runs at the end of Py_FinalizeEx, after the last MEM and OBJ call; the C
  // library's atexit covers the runs that never finalise (--version, a usage error).
  Py_AtExit([] { report_at_exit("finalised"); });
  std::atexit([] { report_at_exit("exited"); });
  return true;
}

std::optional<LiveStatus> live_status() {
  const LiveRun* run = the_run;
  if (run == nullptr) return std::nullopt;
  LiveStatus s;
  s.label = run->settings.label;
  s.spec = run->spec.canonical();
  s.path = live_path_name(run->path);
  s.python_allocator = run->below.python_allocator;
  s.debug_hooks = run->below.debug_hooks;
  if (run->variant != nullptr) {
    s.variant_installed = true;
    s.counts = run->variant->counts();
    s.valid = run->variant->is_valid();
  } else if (run->spec.kind == AllocatorKind::cpython) {
    s.valid = process_arena_observer().is_valid();
  }
  return s;
}

std::string live_report_json(const char* ended) {
  const LiveRun& run = *the_run;
  const ProcessMemory memory = process_memory();
  JsonObject out;
  out.text("allocator", run.settings.label)
      .text("spec", run.spec.canonical())
      .text("path", live_path_name(run.path))
      .text("python_allocator", run.below.python_allocator)
      .flag("debug_hooks", run.below.debug_hooks)
      .number("pid", static_cast<uint64_t>(run.owner))
      .text("ended", ended)
      .text("malloc_library", malloc_library())
      .number("process_peak_rss_bytes", memory.peak_rss_bytes)
      .number("process_rss_bytes_at_exit", memory.rss_bytes);
  if (run.variant != nullptr) {
    const LiveCounts counts = run.variant->counts();
    char share[32];
    std::snprintf(share, sizeof share, "%.6f", counts.served_share());
    out.number("small_requests", counts.small_requests)
        .number("small_requests_served", counts.small_requests_served())
        .number("small_blocks_before_install", counts.small_blocks_before_install)
        .raw("served_share", share)
        .raw("variant", figures_json(run.variant->model().figures()));
  }
  if (run.spec.kind == AllocatorKind::cpython) out.raw("arenas", arenas_json(process_arena_observer().observation()));
  out.text("debug_malloc_stats", own_report(run));
  return out.str();
}

std::string live_report_text() {
  const LiveRun& run = *the_run;
  std::string out = "allocbench exec: " + run.settings.label + " live (" + live_path_name(run.path) + " path, " +
                    (run.path == LivePath::early ? "in place of " : "wrapping ") + run.below.python_allocator +
                    (run.below.debug_hooks ? ", debug hooks on top" : "") + ")\n";
  out += own_report(run);
  if (run.variant != nullptr) {
    const LiveCounts counts = run.variant->counts();
    out += "\n" + debug_stats_line("# small requests", counts.small_requests);
    out += debug_stats_line("# small requests served", counts.small_requests_served());
    if (run.path == LivePath::fallback)
      out += debug_stats_line("# small blocks before the install", counts.small_blocks_before_install);
    char share[64];
    std::snprintf(share, sizeof share, "%.2f%%", 100.0 * counts.served_share());
    out += "share of small requests served     = " + std::string(share) + "\n";
  }
  if (run.spec.kind == AllocatorKind::cpython) {
    const ArenaObservation arenas = process_arena_observer().observation();
    out += "\n" + debug_stats_line("# arenas mapped (observed)", arenas.arenas_mapped);
    out += debug_stats_line("# arenas unmapped (observed)", arenas.arenas_unmapped);
    out += debug_stats_line("# other arena-allocator chunks", arenas.other_chunks_mapped);
  }
  if (run.spec.kind == AllocatorKind::system) out += "malloc from " + malloc_library() + "\n";
  const ProcessMemory memory = process_memory();
  out += "\n" + debug_stats_line("process peak RSS bytes", memory.peak_rss_bytes.value_or(0));
  out += debug_stats_line("process RSS bytes at exit", memory.rss_bytes.value_or(0));
  return out;
}

}  // namespace allocbench
