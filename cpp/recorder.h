// recorder.h — records the running interpreter's MEM and OBJ allocator calls into a trace.
//
// Owns the recording hook: functions installed on the MEM and OBJ domains (not RAW) through
// hooks.h, which call through to the allocator that was there before, so the program
// behaves exactly as it would, and record each call by block id (trace_format.h).
//
// Invariants, while recording:
//   * every block allocated through the hook and not yet freed has exactly one entry in the
//     address map: its id, or the oversize mark for a block whose size a record cannot hold;
//   * ids are recycled LIFO, so every id is below the peak number of live ids;
//   * a free or realloc of an address not in the map (allocated before the hook went in) is
//     recorded as foreign_free / foreign_realloc and counted;
//   * only the process that started the recording writes the file: in a forked child the
//     hook stops recording at once (pthread_atfork) and never touches the parent's file.
// One recording per process at a time; the hook is called with the GIL held, so the state
// needs no lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace allocbench {

struct RecorderCounts {
  uint64_t ops_recorded = 0;
  uint64_t foreign_frees = 0;
  uint64_t foreign_reallocs = 0;
  uint64_t oversize_skipped = 0;  // ops on blocks of 2^32 bytes or more: not in the trace
  uint64_t peak_live = 0;         // blocks allocated while recording and live at once
  uint32_t id_space = 0;
};

// Installs the hook and starts writing the trace (TraceWriter with `metadata_capacity`
// bytes reserved for the metadata). Throws TraceError when already recording or when the
// file cannot be written.
void start_recording(const std::string& path, const std::string& metadata_json, size_t metadata_capacity);

bool is_recording();

// Installs a profile function that does nothing (PyEval_SetProfile) on the calling thread, and
// leaves it there. Why: a memray capture is made with memray's profile function on, and on
// CPython 3.11 any profile function makes the interpreter create a frame object (an OBJ
// allocation and its free) for every Python call; a recording made with this one installed
// holds the same allocator traffic, so the two compare like with like. Threads started
// later run without it.
void install_empty_profile_function();

// Stops recording: uninstalls the hook (restoring the saved allocators; if another hook was
// installed over ours since, ours stays in the chain and only passes calls through), then
// rewrites the metadata with final_metadata(counts) and closes the trace. Returns the counts;
// nothing, and nothing written, in a forked child of the recording process. Throws
// TraceError when the recording failed on the way (the file is then left without trailer).
std::optional<RecorderCounts> stop_recording(
    const std::function<std::string(const RecorderCounts&)>& final_metadata);

}  // namespace allocbench
