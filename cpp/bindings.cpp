// bindings.cpp — allocbench._core: the C++ core as seen from Python. The only file that
// includes pybind11, and it only binds: every behaviour lives in the layer it names.
//
// Conventions of the binding:
//   * Paths are taken as str, bytes or os.PathLike and passed to the core as the file
//     system's bytes (os.fsencode), so a name that is not UTF-8 reaches the file it names.
//   * Errors: ConfigError, TraceError and HandleError are ValueError subclasses; their
//     messages are one printable line (text.h).
//   * The GIL is released around work that does not call into the interpreter (replays of
//     allocators other than `cpython`, reading chunks, generating); an allocbench.Allocator is
//     locked for the length of each call (handles.h), its mutex taken with the GIL released
//     so that a thread waiting for it never blocks the one holding it.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <mutex>

#include "allocator.h"
#include "arena_observer.h"
#include "checksum.h"
#include "compression.h"
#include "files.h"
#include "generators.h"
#include "handles.h"
#include "live.h"
#include "live_preload.h"
#include "live_startup.h"
#include "recorder.h"
#include "replay.h"
#include "trace_format.h"

namespace py = pybind11;
using namespace allocbench;

namespace {

// The size in bytes of a buffer the core reads as plain bytes; `what` names it in the error
// when it is not one contiguous run of memory.
size_t contiguous_bytes(const py::buffer_info& info, const std::string& what) {
  if (info.ndim > 1 || (info.ndim == 1 && info.strides[0] != info.itemsize))
    throw py::value_error(what + " must be one contiguous buffer");
  return static_cast<size_t>(info.size * info.itemsize);
}

std::string path_bytes(const py::handle& path) {
  return py::module_::import("os").attr("fsencode")(path).cast<std::string>();
}

py::object optional_int(const std::optional<uint64_t>& value) {
  return value ? py::object(py::int_(*value)) : py::object(py::none());
}

py::dict figures_to_dict(const Figures& figures) {
  py::dict d;
  for (const auto& [name, value] : figures.info) d[py::str(name)] = value;
  for (const auto& [name, value] : figures.counters) d[py::str(name)] = value;
  return d;
}

py::dict config_to_dict(const AllocatorSpec& spec) {
  py::dict d;
  d["allocator"] = kind_name(spec.kind);
  if (spec.kind == AllocatorKind::pymalloc) {
    d["preset"] = spec.preset;
    for (const auto& [name, value] : config_items(spec.pymalloc)) d[py::str(name)] = value;
  }
  return d;
}

// Calls f with the allocator's lock held, waiting for it with the GIL released.
template <class F>
decltype(auto) exclusive(Handles& handles, F&& f) {
  std::unique_lock<std::mutex> lock(handles.mutex(), std::defer_lock);
  {
    py::gil_scoped_release release;
    lock.lock();
  }
  return f();
}

// Runs f without the GIL unless the allocator is the interpreter's own (whose MEM and OBJ
// domains must be called with it held).
template <class F>
decltype(auto) maybe_without_gil(AllocatorKind kind, F&& f) {
  if (kind == AllocatorKind::cpython) return f();
  py::gil_scoped_release release;
  return f();
}

void bind_config(py::module_& m) {
  py::register_exception<ConfigError>(m, "ConfigError", PyExc_ValueError);
  m.def(
      "parse_spec",
      [](const std::string& text) {
        const AllocatorSpec spec = parse_spec(text);
        py::dict d = config_to_dict(spec);
        d["spec"] = spec.canonical();
        return d;
      },
      py::arg("spec"), "Validates an allocator spec; returns its full configuration.");
  m.def("options", [] {
    py::list out;
    for (const OptionInfo& o : option_table()) {
      py::dict d(py::arg("name") = o.name, py::arg("unit") = o.unit, py::arg("kind") = option_kind_name(o.kind),
                 py::arg("default") = o.default_value, py::arg("allowed") = o.allowed, py::arg("help") = o.help);
      if (o.kind == OptionKind::word || o.kind == OptionKind::release) d["words"] = o.words;
      if (o.kind != OptionKind::word) {
        d["min"] = o.kind == OptionKind::release ? "keep:" + std::to_string(o.min) : format_bytes(o.min);
        d["max"] = o.kind == OptionKind::release ? "keep:" + std::to_string(o.max) : format_bytes(o.max);
      }
      if (o.kind == OptionKind::stepped) d["step"] = format_bytes(o.step);
      out.append(d);
    }
    return out;
  }, "The option table: each option's name, unit, kind, range, default, allowed values and help.");
  m.def("check_option_value", &check_option_value, py::arg("name"), py::arg("value"),
        "The canonical text of one option's value, checked against its kind and range alone.");
  m.def("option_values", &option_values, py::arg("name"), py::arg("low") = py::none(), py::arg("high") = py::none(),
        "Every allowed value of an option from low to high (inclusive), canonical text.");
  m.def("presets", [] {
    py::list out;
    for (const PresetInfo& p : presets()) {
      AllocatorSpec spec;
      spec.pymalloc = p.config;
      spec.preset = p.name;
      out.append(py::dict(py::arg("name") = p.name, py::arg("description") = p.description,
                          py::arg("spec") = spec.canonical()));
    }
    return out;
  });
  m.def(
      "block_sizes",
      [](const std::string& spec_text, const std::vector<uint64_t>& sizes) {
        return block_sizes(parse_spec(spec_text), sizes);
      },
      py::arg("spec"), py::arg("sizes"),
      "For each request size, the block a pymalloc spec serves it from (0: passed to the lower allocator).");
}

void bind_allocator(py::module_& m) {
  py::register_exception<HandleError>(m, "HandleError", PyExc_ValueError);
  using H = Handles;
  py::class_<Handles>(m, "Allocator", "An allocator built from a spec, driven by handles; safe to share between threads.")
      .def(py::init<const std::string&>(), py::arg("spec"))
      .def("malloc", [](H& h, size_t n) { return exclusive(h, [&] { return h.malloc(n); }); }, py::arg("size"))
      .def("calloc", [](H& h, size_t c, size_t n) { return exclusive(h, [&] { return h.calloc(c, n); }); },
           py::arg("count"), py::arg("size"))
      .def("realloc", [](H& h, uintptr_t p, size_t n) { return exclusive(h, [&] { return h.realloc(p, n); }); },
           py::arg("handle"), py::arg("size"))
      .def("free", [](H& h, uintptr_t p) { exclusive(h, [&] { h.free(p); }); }, py::arg("handle"))
      .def("size_of", [](H& h, uintptr_t p) { return exclusive(h, [&] { return h.size_of(p); }); }, py::arg("handle"))
      .def("write",
           [](H& h, uintptr_t p, const py::bytes& data, size_t offset) {
             const std::string_view bytes = data;
             exclusive(h, [&] { h.write(p, bytes, offset); });
           },
           py::arg("handle"), py::arg("data"), py::arg("offset") = 0)
      .def("read",
           [](H& h, uintptr_t p, size_t length, size_t offset) {
             return py::bytes(exclusive(h, [&] { return h.read(p, length, offset); }));
           },
           py::arg("handle"), py::arg("length"), py::arg("offset") = 0)
      .def("fill", [](H& h, uintptr_t p, uint8_t seed) { exclusive(h, [&] { h.fill(p, seed); }); },
           py::arg("handle"), py::arg("seed"))
      .def("check", [](H& h, uintptr_t p, uint8_t seed) { return exclusive(h, [&] { return h.check(p, seed); }); },
           py::arg("handle"), py::arg("seed"))
      .def("owns",
           [](H& h, uintptr_t p) -> py::object {
             switch (exclusive(h, [&] { return h.owns(p); })) {
               case Ownership::yes: return py::bool_(true);
               case Ownership::no: return py::bool_(false);
               case Ownership::unknown: break;
             }
             return py::none();
           },
           py::arg("handle"), "True or False where the allocator can tell, None where it cannot.")
      .def("probe",
           [](H& h, const std::vector<Handles::ProbeStep>& program) { return exclusive(h, [&] { return h.probe(program); }); },
           py::arg("program"))
      .def("stats", [](H& h) { return figures_to_dict(exclusive(h, [&] { return h.allocator().figures(); })); })
      .def("size_classes",
           [](H& h) {
             py::list out;
             for (const SizeClassStats& c : exclusive(h, [&] { return size_class_stats(h.allocator()); }))
               out.append(py::dict(py::arg("size_class") = c.size_class, py::arg("block_size") = c.block_size,
                                   py::arg("blocks_per_pool") = c.blocks_per_pool, py::arg("pools") = c.pools,
                                   py::arg("blocks_in_use") = c.blocks_in_use,
                                   py::arg("blocks_available") = c.blocks_available));
             return out;
           })
      .def("debugmallocstats", [](H& h) { return exclusive(h, [&] { return h.allocator().debug_malloc_stats(); }); })
      .def("is_valid", [](H& h) { return exclusive(h, [&] { return h.is_valid(); }); },
           "Empty string when every invariant holds, else the first that does not.")
      .def_property_readonly("spec", [](H& h) { return h.allocator().spec().canonical(); })
      .def_property_readonly("kind", [](H& h) { return kind_name(h.allocator().spec().kind); })
      .def_property_readonly("config", [](H& h) { return config_to_dict(h.allocator().spec()); })
      .def_property_readonly("live", [](H& h) { return exclusive(h, [&] { return h.live(); }); });

  m.def(
      "parse_debug_malloc_stats",
      [](const std::string& text) -> py::object {
        const std::optional<ParsedMallocStats> parsed = parse_debug_malloc_stats(text);
        if (!parsed) return py::none();
        py::dict classes, counters;
        for (const SizeClassStats& c : parsed->classes)
          classes[py::int_(c.size_class)] =
              py::dict(py::arg("block_size") = c.block_size, py::arg("pools") = c.pools,
                       py::arg("blocks_in_use") = c.blocks_in_use, py::arg("blocks_available") = c.blocks_available,
                       py::arg("blocks_per_pool") = c.blocks_per_pool);
        for (const auto& [message, value] : parsed->counters) counters[py::str(message)] = value;
        return py::dict(py::arg("threshold") = parsed->threshold, py::arg("size_classes") = parsed->size_class_count,
                        py::arg("arena_size") = parsed->arena_size, py::arg("classes") = classes,
                        py::arg("counters") = counters);
      },
      py::arg("text"),
      "The pymalloc part of a sys._debugmallocstats()-style report as numbers; None when the text holds none.");
}

// A reader with the buffer its chunks are read into, reused from chunk to chunk.
struct ChunkReader {
  explicit ChunkReader(const std::string& path) : reader(path) {}
  TraceReader reader;
  std::vector<TraceRecord> chunk;
};

py::dict trace_summary_to_dict(const TraceSummary& s) {
  return py::dict(py::arg("version") = s.version, py::arg("op_count") = s.op_count, py::arg("chunk_count") = s.chunk_count,
                  py::arg("skipped_ops") = s.skipped_ops, py::arg("id_space") = s.id_space,
                  py::arg("checksum") = s.checksum);
}

void bind_traces(py::module_& m) {
  py::register_exception<TraceError>(m, "TraceError", PyExc_ValueError);
  m.attr("TRACE_VERSION") = kTraceVersionWritten;
  py::list versions;
  for (uint32_t v = kOldestTraceVersion; v <= kNewestTraceVersion; ++v) versions.append(v);
  m.attr("TRACE_VERSIONS") = versions;
  m.attr("TRACE_CHUNK_RECORDS") = kChunkRecords;
  m.def("trace_op_names", [] {
    py::dict names;
    for (int op = 0; op < 256; ++op)
      if (const char* name = trace_op_name(static_cast<uint8_t>(op))) names[py::int_(op)] = name;
    return names;
  }, "Op code -> name, for every op the format knows.");
  // Both paths of the CRC, so that tests can hold each to zlib's.
  // A buffer, not bytes: a memoryview slice reaches the core at the alignment it has.
  const auto crc_of_bytes = [](uint32_t (*crc)(const void*, size_t, uint32_t)) {
    return [crc](const py::buffer& data, uint32_t start) {
      const py::buffer_info info = data.request();
      return crc(info.ptr, contiguous_bytes(info, "crc32: the data"), start);
    };
  };
  m.def("crc32", crc_of_bytes(&allocbench::crc32), py::arg("data"), py::arg("crc") = 0,
        "The trace format's CRC-32 (equal to zlib.crc32).");
  m.def("crc32_by_table", crc_of_bytes(&allocbench::crc32_by_table), py::arg("data"), py::arg("crc") = 0,
        "crc32 by the table alone, as on a processor without PCLMULQDQ.");
  m.def("crc32_uses_clmul", &crc32_uses_clmul, "Whether crc32 folds with carry-less multiplication here.");
  m.def("input_path_problem", [](const py::handle& path) { return input_path_problem(path_bytes(path)); },
        py::arg("path"), "Empty when the path may be read (a regular file that opens); else what is wrong.");
  m.def("zlib_version", &zlib_version, "The version of the zlib library the core compresses trace chunks with.");
  m.def("output_path_problem", [](const py::handle& path) { return output_path_problem(path_bytes(path)); },
        py::arg("path"), "Empty when the path may be written as an output file, else what is wrong (files.h).");

  py::class_<TraceWriter>(m, "TraceWriter", "Writes a trace file (see docs/trace-format.md).")
      .def(py::init([](const py::handle& path, const std::string& metadata, size_t capacity, uint32_t version,
                       bool compress) {
             return new TraceWriter(path_bytes(path), metadata, capacity, version,
                                    compress ? ChunkCompression::zlib : ChunkCompression::none);
           }),
           py::arg("path"), py::arg("metadata_json"), py::arg("metadata_capacity") = 0,
           py::arg("version") = kTraceVersionWritten, py::arg("compress") = true)
      .def(
          "append_records",
          [](TraceWriter& writer, const py::buffer& data) {
            const py::buffer_info info = data.request();
            const size_t bytes = contiguous_bytes(info, "append_records: records");
            if (bytes % sizeof(TraceRecord) != 0)
              throw py::value_error("append_records: " + std::to_string(bytes) +
                                    " bytes is not a whole number of 16-byte records");
            if (bytes == 0) return;  // memcpy into an empty vector's null data() is undefined
            std::vector<TraceRecord> records(bytes / sizeof(TraceRecord));
            std::memcpy(records.data(), info.ptr, bytes);
            writer.append(records.data(), records.size());
          },
          py::arg("records"), "Appends records given as a buffer of 16-byte records.")
      .def("rewrite_metadata", &TraceWriter::rewrite_metadata, py::arg("metadata_json"))
      .def("close", &TraceWriter::close)
      .def_property_readonly("summary", [](const TraceWriter& w) { return trace_summary_to_dict(w.summary()); });

  py::class_<ChunkReader>(m, "TraceReader", "Reads a trace file chunk by chunk, verifying each.")
      .def(py::init([](const py::handle& path) { return new ChunkReader(path_bytes(path)); }), py::arg("path"))
      .def_property_readonly("metadata_json", [](const ChunkReader& r) { return r.reader.metadata_json(); })
      .def_property_readonly("summary", [](const ChunkReader& r) { return trace_summary_to_dict(r.reader.summary()); })
      .def_property_readonly("file_bytes", [](const ChunkReader& r) { return r.reader.file_bytes(); })
      .def(
          "next_chunk",
          [](ChunkReader& r) -> py::object {
            bool more;
            {
              py::gil_scoped_release release;
              more = r.reader.next_chunk(r.chunk);
            }
            if (!more) return py::none();
            return py::bytes(reinterpret_cast<const char*>(r.chunk.data()), r.chunk.size() * sizeof(TraceRecord));
          },
          "The next verified chunk as bytes of 16-byte records; None after the last.")
      .def_property_readonly("chunk_first_op", [](const ChunkReader& r) { return r.reader.chunk_first_op(); })
      .def("rewind", [](ChunkReader& r) { r.reader.rewind(); });

  m.def(
      "copy_trace",
      [](const py::handle& source, const py::handle& output, uint32_t version) {
        const std::string from = path_bytes(source), to = path_bytes(output);
        TraceSummary summary;
        {
          py::gil_scoped_release release;
          TraceReader reader(from);
          summary = copy_trace(reader, to, version);
        }
        return trace_summary_to_dict(summary);
      },
      py::arg("source"), py::arg("output"), py::arg("version"),
      "Writes the trace at source again at output in the given format version; returns the new summary.");

  m.def(
      "start_recording",
      [](const py::handle& path, const std::string& metadata, size_t capacity) {
        start_recording(path_bytes(path), metadata, capacity);
      },
      py::arg("path"), py::arg("metadata_json"), py::arg("metadata_capacity") = 0,
      "Hooks the MEM and OBJ domains and records their calls into a trace at `path`.");
  m.def("is_recording", &is_recording);
  m.def("install_empty_profile_function", &install_empty_profile_function,
        "Installs a profile function that does nothing on this thread (as memray's tracker installs one).");
  m.def(
      "stop_recording",
      [](const py::function& final_metadata) {
        const auto counts = stop_recording([&](const RecorderCounts& c) {
          py::dict d(py::arg("ops_recorded") = c.ops_recorded, py::arg("foreign_frees") = c.foreign_frees,
                     py::arg("foreign_reallocs") = c.foreign_reallocs,
                     py::arg("oversize_skipped") = c.oversize_skipped, py::arg("peak_live") = c.peak_live,
                     py::arg("id_space") = c.id_space);
          return final_metadata(d).cast<std::string>();
        });
        return counts.has_value();
      },
      py::arg("final_metadata"),
      "Unhooks and closes the trace, its metadata final_metadata(counts) (a JSON string). "
      "False, and nothing written, in a forked child of the recording process.");
}

void bind_replay(py::module_& m) {
  m.attr("ABSURD_REQUEST_BYTES") = kAbsurdRequestBytes;

  py::class_<OpCounts>(m, "OpCounts", "Operations of one pass over a trace, by kind and domain.")
      .def_readonly("alloc", &OpCounts::alloc)
      .def_readonly("calloc", &OpCounts::calloc)
      .def_readonly("realloc", &OpCounts::realloc)
      .def_readonly("free", &OpCounts::free)
      .def_readonly("foreign_realloc", &OpCounts::foreign_realloc)
      .def_readonly("foreign_free", &OpCounts::foreign_free)
      .def("__eq__", [](const OpCounts& a, const OpCounts& b) { return a == b; }, py::is_operator())
      .def_property_readonly("played", &OpCounts::played)
      .def_property_readonly("total", &OpCounts::total)
      .def_property_readonly("by_domain", [](const OpCounts& o) {
        return py::dict(py::arg("raw") = o.by_domain[0], py::arg("mem") = o.by_domain[1], py::arg("obj") = o.by_domain[2]);
      })
      .def("as_dict", [](const OpCounts& o) {
        return py::dict(py::arg("alloc") = o.alloc, py::arg("calloc") = o.calloc, py::arg("realloc") = o.realloc,
                        py::arg("free") = o.free, py::arg("foreign_realloc") = o.foreign_realloc,
                        py::arg("foreign_free") = o.foreign_free);
      });

  py::class_<TimelineSample>(m, "TimelineSample", "Memory at one point of a replay (timelines.csv's columns).")
      .def_readonly("op_index", &TimelineSample::op_index)
      .def_readonly("live_bytes", &TimelineSample::live_bytes)
      .def_property_readonly("footprint_bytes", [](const TimelineSample& s) { return optional_int(s.footprint_bytes); })
      .def_property_readonly("rss_bytes", [](const TimelineSample& s) { return optional_int(s.rss_bytes); });

  py::class_<ReplayResult>(m, "ReplayResult", "What a replay found (cpp/replay.h).")
      .def_readonly("loops", &ReplayResult::loops)
      .def_readonly("elapsed_seconds", &ReplayResult::elapsed_seconds)
      .def_readonly("ops", &ReplayResult::ops)
      .def_readonly("peak_live_bytes", &ReplayResult::peak_live_bytes)
      .def_readonly("peak_live_objects", &ReplayResult::peak_live_objects)
      .def_readonly("retained_live_bytes", &ReplayResult::retained_live_bytes)
      .def_readonly("retained_live_objects", &ReplayResult::retained_live_objects)
      .def_property_readonly("peak_footprint_bytes", [](const ReplayResult& r) { return optional_int(r.peak_footprint_bytes); })
      .def_property_readonly("retained_footprint_bytes",
                             [](const ReplayResult& r) { return optional_int(r.retained_footprint_bytes); })
      .def_readonly("peak_footprint_exact", &ReplayResult::peak_footprint_exact)
      .def_property_readonly("rss_bytes_at_start", [](const ReplayResult& r) { return optional_int(r.rss_bytes_at_start); })
      .def_property_readonly("rss_bytes_at_end", [](const ReplayResult& r) { return optional_int(r.rss_bytes_at_end); })
      .def_property_readonly("figures", [](const ReplayResult& r) { return figures_to_dict(r.figures); })
      .def_readonly("timeline", &ReplayResult::timeline)
      .def_property_readonly("ns_per_op", &ReplayResult::ns_per_op)
      .def_property_readonly("footprint_fragmentation", &ReplayResult::footprint_fragmentation)
      .def("__repr__", [](const ReplayResult& r) {
        return "<ReplayResult " + std::to_string(r.ops.total()) + " ops x " + std::to_string(r.loops) + " loops, " +
               std::to_string(r.ns_per_op()) + " ns/op>";
      });

  py::class_<TraceScan>(m, "TraceScan", "What a trace holds, read through the replay loop's checks.")
      .def_readonly("ops", &TraceScan::ops)
      .def_readonly("peak_live_bytes", &TraceScan::peak_live_bytes)
      .def_readonly("peak_live_objects", &TraceScan::peak_live_objects)
      .def_readonly("retained_live_bytes", &TraceScan::retained_live_bytes)
      .def_readonly("retained_live_objects", &TraceScan::retained_live_objects)
      .def_readonly("request_sizes", &TraceScan::request_sizes);

  m.def(
      "replay",
      [](const py::handle& path, const std::string& spec_text, const std::string& touch, uint64_t every, uint64_t loops) {
        const ReplayOptions options{parse_touch(touch), every, loops};
        const AllocatorSpec spec = parse_spec(spec_text);
        const std::string file = path_bytes(path);
        return maybe_without_gil(spec.kind, [&] {
          TraceReader reader(file);
          return replay(reader, spec, options);
        });
      },
      py::arg("path"), py::arg("spec"), py::arg("touch") = "none", py::arg("timeline_every") = 0, py::arg("loops") = 1,
      "Replays a trace `loops` times, each against a fresh allocator built from spec.");
  m.def(
      "replay",
      [](const py::handle& path, Handles& handles, const std::string& touch, uint64_t every, uint64_t loops) {
        const ReplayOptions options{parse_touch(touch), every, loops};
        const std::string file = path_bytes(path);
        return exclusive(handles, [&] {
          return maybe_without_gil(handles.allocator().spec().kind, [&] {
            TraceReader reader(file);
            return replay(reader, handles.allocator(), options);
          });
        });
      },
      py::arg("path"), py::arg("allocator"), py::arg("touch") = "none", py::arg("timeline_every") = 0,
      py::arg("loops") = 1,
      "Replays a trace `loops` times into an existing allocator; frees every block of the trace before returning.");
  m.def(
      "replay_harness_loops",
      [](uint64_t loops, const py::handle& path, const std::string& touch) {
        const Touch how = parse_touch(touch);
        const std::string file = path_bytes(path);
        py::gil_scoped_release release;
        TraceReader reader(file);
        return replay_harness_only(reader, loops, how);
      },
      py::arg("loops"), py::arg("path"), py::arg("touch") = "none",
      "The replay loop's own op-loop seconds over `loops` passes, with no allocator behind it.");
  m.def(
      "scan_trace",
      [](const py::handle& path) {
        const std::string file = path_bytes(path);
        py::gil_scoped_release release;
        TraceReader reader(file);
        return scan_trace(reader);
      },
      py::arg("path"), "Reads a whole trace through the replay loop's checks; returns what it holds.");

  m.def("generators", [] {
    py::list out;
    for (const GeneratorInfo& g : generator_table()) {
      py::list params;
      for (const GeneratorParam& p : g.params)
        params.append(py::dict(py::arg("name") = p.name, py::arg("default") = p.default_value, py::arg("help") = p.help));
      out.append(py::dict(py::arg("name") = g.name, py::arg("description") = g.description, py::arg("params") = params));
    }
    return out;
  });
  m.def(
      "generate",
      [](const std::string& kind, const py::handle& path, uint64_t seed, const GeneratorArgs& params) {
        const std::string file = path_bytes(path);
        TraceSummary summary;
        {
          py::gil_scoped_release release;
          summary = generate_trace(kind, params, seed, file);
        }
        return trace_summary_to_dict(summary);
      },
      py::arg("kind"), py::arg("path"), py::arg("seed") = 0, py::arg("params") = GeneratorArgs{},
      "Writes a synthetic trace; params is a list of (name, value) text pairs.");
}

py::dict arena_observation_to_dict(const ArenaObserver& observer) {
  const ArenaObservation o = observer.observation();
  py::list timeline;
  for (const ArenaSample& sample : o.timeline) timeline.append(py::make_tuple(sample.time_ns, sample.arenas_current));
  return py::dict(py::arg("installed") = observer.installed(), py::arg("arenas_mapped") = o.arenas_mapped,
                  py::arg("arenas_unmapped") = o.arenas_unmapped, py::arg("arenas_peak") = o.arenas_peak,
                  py::arg("other_chunks_mapped") = o.other_chunks_mapped,
                  py::arg("other_chunks_unmapped") = o.other_chunks_unmapped,
                  py::arg("timeline_dropped") = o.timeline_dropped, py::arg("timeline") = timeline,
                  py::arg("valid") = observer.is_valid());
}

void bind_live(py::module_& m) {
  m.attr("LIVE_VARIABLES") = py::dict(py::arg("spec") = kLiveSpecVariable, py::arg("label") = kLiveLabelVariable,
                                      py::arg("report") = kLiveReportVariable, py::arg("core") = kLiveCoreVariable);
  m.def(
      "live_status",
      []() -> py::object {
        const std::optional<LiveStatus> s = live_status();
        if (!s) return py::none();
        return py::dict(py::arg("allocator") = s->label, py::arg("spec") = s->spec, py::arg("path") = s->path,
                        py::arg("python_allocator") = s->python_allocator, py::arg("debug_hooks") = s->debug_hooks,
                        py::arg("variant_installed") = s->variant_installed,
                        py::arg("small_requests") = s->counts.small_requests,
                        py::arg("small_requests_served") = s->counts.small_requests_served(),
                        py::arg("small_blocks_before_install") = s->counts.small_blocks_before_install,
                        py::arg("served_share") = s->counts.served_share(),
                        py::arg("valid") = s->valid);
      },
      "The live run of this process (cpp/live.h), None when the program does not run live.");
  m.def("check_live_spec", [](const std::string& spec) { return check_live_spec(spec).canonical(); }, py::arg("spec"),
        "The canonical spec, when it can run a program live; ConfigError when it cannot.");
  m.def("start_live_fallback", &start_live_fallback, py::arg("small_blocks_before"),
        "Installs the live run named by the environment now, as a wrapping hook (the fallback path).");
  m.def("live_report_json", [] { return live_status() ? py::object(py::str(live_report_json("running"))) : py::object(py::none()); },
        "The report of this process's live run as it stands (JSON text), None when there is none.");
  m.def("observe_arenas", [] { process_arena_observer().install(); },
        "Wraps the interpreter's arena allocator with the counting observer (once per process).");
  m.def("arena_observation", [] { return arena_observation_to_dict(process_arena_observer()); },
        "What the arena observer counted: arenas mapped and unmapped, other chunks, the timeline.");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "allocbench's C++ core: pymalloc variants, system malloc, the interpreter's allocator";
  bind_config(m);
  bind_allocator(m);
  bind_traces(m);
  bind_replay(m);
  bind_live(m);
}
