// replay.h — plays a trace (trace_format.h) against any allocator of the core.
//
// Owns the mapping from trace ids to the blocks one allocator returned: a flat table of
// id_space slots (the trailer's figure), each a pointer and the requested size, so memory is
// proportional to the live set however long the trace. The trace is streamed a chunk at a
// time through TraceReader.
//
// The op loop is a template over the concrete allocator type (and the touch mode), chosen
// once per replay with visit(): no virtual call per operation. Only the loop is timed; file
// reading, checksums, op counting and timeline samples happen between timed stretches.
//
// What a replay does with each op:
//   alloc, calloc      the id must not be live; the block is written as `touch` says
//   realloc            the old id must be live and the new id (if different) must not be;
//                      the grown part [old size, new size) is written as `touch` says
//   free               the id must be live
//   foreign_free       skipped (the block was allocated before recording started)
//   foreign_realloc    an alloc of the new id (arg)
// Any request above kAbsurdRequestBytes is refused. Every refusal is a TraceError
// "<file>: op <index>: <what>", thrown after the blocks still live have been freed. These
// checks are the one home of a trace's liveness rules: `allocbench trace info` and the
// runner's reading of a trace (scan_trace) play the trace through the same loop against an
// allocator that only counts, so a fault reads the same wherever it is found.
//
// Ids index the table unchecked: the reader guarantees every id of a record it hands out is
// below id_space, and every op is known.
//
// Invariants: a slot is live if and only if its block is not null; the loop's live requested
// bytes and objects equal the sums over live slots; when replay() returns or throws, no block
// of the trace is live in the allocator any more (blocks the trace leaves live are freed
// after the end-of-trace figures are taken).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allocator.h"
#include "trace_format.h"

namespace allocbench {

// Larger requests are taken as a corrupt trace rather than served.
inline constexpr uint64_t kAbsurdRequestBytes = uint64_t{1} << 30;

// How much of each new block the replay writes, as the program that was traced would.
enum class Touch { none, first_byte, whole_block };

// "none", "first" or "all"; anything else throws ConfigError.
Touch parse_touch(std::string_view text);

struct ReplayOptions {
  Touch touch = Touch::none;
  uint64_t timeline_every = 0;  // take a timeline sample every this many ops; 0: none
  uint64_t loops = 1;           // passes over the trace
};

// One sample of the memory over time: the names are those of timelines.csv.
struct TimelineSample {
  uint64_t op_index = 0;  // ops of the trace played (skipped ones included) when taken
  uint64_t live_bytes = 0;                  // requested bytes live
  std::optional<uint64_t> footprint_bytes;  // the allocator's own; empty when it cannot tell
  std::optional<uint64_t> rss_bytes;        // the process's resident set; empty off Linux
};

// The process's resident set size now, from /proc/self/statm; empty where it cannot be read.
// The same measure for every allocator, whatever it can report about itself.
std::optional<uint64_t> process_rss_bytes();
// The kernel's high-water mark of the process's resident set (VmHWM in /proc/self/status);
// empty where it cannot be read.
std::optional<uint64_t> process_peak_rss_bytes();
// Resets the kernel's high-water mark of RSS (VmHWM) to the current RSS (Linux 4.0+; a no-op
// where refused).
void reset_peak_rss();

struct OpCounts {
  uint64_t alloc = 0;
  uint64_t calloc = 0;
  uint64_t realloc = 0;
  uint64_t free = 0;
  uint64_t foreign_realloc = 0;
  uint64_t foreign_free = 0;  // skipped
  uint64_t by_domain[3] = {};  // raw, mem, obj

  uint64_t played() const { return alloc + calloc + realloc + free + foreign_realloc; }
  uint64_t total() const { return played() + foreign_free; }
  bool operator==(const OpCounts&) const = default;
};

// What a replay found, one pass over the trace, with the names of the results folder's
// metrics (docs/results-format.md) for every figure it shares with them.
struct ReplayResult {
  uint64_t loops = 1;
  double elapsed_seconds = 0;  // the op loop only, summed over the loops
  OpCounts ops;                // one pass
  uint64_t peak_live_bytes = 0;  // requested bytes live at once, at most
  uint64_t peak_live_objects = 0;
  uint64_t retained_live_bytes = 0;  // what the trace itself leaves live at its end
  uint64_t retained_live_objects = 0;
  // Footprint (bytes held from the OS, by the allocator's own account): its peak and what it
  // retains at the end of the trace. The peak is the allocator's own exact figure where it
  // keeps one (peak_footprint_exact), else the largest of the timeline samples and the end.
  std::optional<uint64_t> peak_footprint_bytes;
  std::optional<uint64_t> retained_footprint_bytes;
  bool peak_footprint_exact = false;
  // The process's RSS just before the first op (id table and first chunk loaded; VmHWM reset
  // then), and when the trace has ended, before the blocks it leaves live are freed.
  std::optional<uint64_t> rss_bytes_at_start;
  std::optional<uint64_t> rss_bytes_at_end;
  Figures figures;  // the allocator's, at the end of the last pass
  std::vector<TimelineSample> timeline;  // of the last pass

  // Op-loop nanoseconds per played op; NaN when nothing was played.
  double ns_per_op() const;
  // peak_footprint_bytes / peak_live_bytes; NaN when either is unknown or zero.
  double footprint_fragmentation() const;
};

// Plays the trace options.loops times, from its first op, against `allocator`. Peaks the
// allocator keeps itself (pymalloc's footprint peak) cover its whole life, so pass a fresh
// allocator for figures of this trace alone.
ReplayResult replay(TraceReader& reader, Allocator& allocator, const ReplayOptions& options);
// The same, each loop against a fresh allocator built from `spec`.
ReplayResult replay(TraceReader& reader, const AllocatorSpec& spec, const ReplayOptions& options);

// What a trace holds, read through the replay loop (so with its checks) against an allocator
// that only counts: ops by kind and domain, live peaks, what it leaves live, and how many
// requests (allocs, callocs, reallocs' new sizes, foreign reallocs) ask for each size.
struct TraceScan {
  OpCounts ops;
  uint64_t peak_live_bytes = 0;
  uint64_t peak_live_objects = 0;
  uint64_t retained_live_bytes = 0;
  uint64_t retained_live_objects = 0;
  std::vector<std::pair<uint64_t, uint64_t>> request_sizes;  // (size, count), ascending
};
TraceScan scan_trace(TraceReader& reader);

// The same as replay_loops with no allocator at all: every request gets one scratch region,
// nothing is reused or given back. Not an allocator (all blocks alias): it measures the
// harness alone (id table, dispatch, checks, touch) for benchmarks/harness_cost.py.
double replay_harness_only(TraceReader& reader, uint64_t loops, Touch touch);

}  // namespace allocbench
