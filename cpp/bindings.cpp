// bindings.cpp — allocbench._core: the C++ core as seen from Python. The only file that
// includes pybind11.
//
// Owns the handle table through which Python drives an allocator: a handle is the block's
// address as an int, and the table remembers each live block's requested size, so that a
// free, realloc, read or write of a handle that is not live is refused with ValueError
// instead of corrupting memory. Destroying the Python object frees every block still live.
//
// Invariant: the table holds exactly the blocks handed out through it and not yet freed.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <unordered_map>

#include "allocator.h"
#include "generators.h"
#include "replay.h"
#include "recorder.h"
#include "trace_format.h"

namespace py = pybind11;
using namespace allocbench;

namespace {

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

class Handles {
 public:
  explicit Handles(const std::string& spec_text) : allocator_(make_allocator(spec_text)) {}
  ~Handles() {
    for (const auto& [address, size] : live_)
      allocator_->deallocate(reinterpret_cast<void*>(address), size);
  }

  uintptr_t malloc(size_t n) { return remember(allocator_->allocate(n), n, "malloc"); }
  uintptr_t calloc(size_t count, size_t size) {
    return remember(allocator_->callocate(count, size), count * size, "calloc");
  }
  uintptr_t realloc(uintptr_t handle, size_t n) {
    const size_t old_n = size_of(handle);
    void* q = allocator_->reallocate(reinterpret_cast<void*>(handle), old_n, n);
    if (q == nullptr) throw std::bad_alloc();
    live_.erase(handle);
    live_[reinterpret_cast<uintptr_t>(q)] = n;
    return reinterpret_cast<uintptr_t>(q);
  }
  void free(uintptr_t handle) {
    const size_t n = size_of(handle);
    live_.erase(handle);
    allocator_->deallocate(reinterpret_cast<void*>(handle), n);
  }
  size_t size_of(uintptr_t handle) const {
    auto it = live_.find(handle);
    if (it == live_.end()) throw py::value_error("handle " + std::to_string(handle) + " is not live");
    return it->second;
  }
  void write(uintptr_t handle, py::bytes data, size_t offset) {
    std::string_view bytes = data;
    check_range(handle, offset, bytes.size());
    std::memcpy(reinterpret_cast<char*>(handle) + offset, bytes.data(), bytes.size());
  }
  py::bytes read(uintptr_t handle, size_t length, size_t offset) const {
    check_range(handle, offset, length);
    return py::bytes(reinterpret_cast<const char*>(handle) + offset, length);
  }
  // Fills the whole requested extent with a pattern derived from `seed`; check() verifies it.
  // Fast enough to run on every block after every step of a property test.
  void fill(uintptr_t handle, uint8_t seed) {
    const size_t n = size_of(handle);
    auto* p = reinterpret_cast<uint8_t*>(handle);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 131);
  }
  bool check(uintptr_t handle, uint8_t seed) const {
    const size_t n = size_of(handle);
    const auto* p = reinterpret_cast<const uint8_t*>(handle);
    for (size_t i = 0; i < n; ++i)
      if (p[i] != static_cast<uint8_t>(seed + i * 131)) return false;
    return true;
  }
  py::object owns(uintptr_t handle) const {
    switch (allocator_->owns(reinterpret_cast<void*>(handle))) {
      case Ownership::yes: return py::bool_(true);
      case Ownership::no: return py::bool_(false);
      case Ownership::unknown: break;
    }
    return py::none();
  }
  // Runs a program of (op, slot, size) triples without returning to Python between steps,
  // and returns the allocator's report before and after it. op: 0 malloc, 1 free, 2 realloc.
  // Blocks still live at the end are freed after the second report.
  std::pair<std::string, std::string> probe(const std::vector<std::tuple<int, size_t, size_t>>& program) {
    size_t slots = 0;
    for (const auto& [op, slot, size] : program) {
      if (op < 0 || op > 2) throw py::value_error("probe: op must be 0, 1 or 2");
      slots = std::max(slots, slot + 1);
    }
    std::vector<std::pair<void*, size_t>> table(slots, {nullptr, 0});
    std::string before = allocator_->debug_malloc_stats();
    std::string error;
    for (const auto& [op, slot, size] : program) {
      auto& [p, n] = table[slot];
      if (op == 0 && p == nullptr) {
        p = allocator_->allocate(size);
        n = size;
      } else if (op == 1 && p != nullptr) {
        allocator_->deallocate(p, n);
        p = nullptr;
      } else if (op == 2 && p != nullptr) {
        p = allocator_->reallocate(p, n, size);
        n = size;
      } else {
        error = "probe: slot " + std::to_string(slot) + " is not in the state the op needs";
        break;
      }
    }
    std::string after = allocator_->debug_malloc_stats();
    for (auto& [p, n] : table)
      if (p != nullptr) allocator_->deallocate(p, n);
    if (!error.empty()) throw py::value_error(error);
    return {before, after};
  }

  Allocator& allocator() { return *allocator_; }
  size_t live() const { return live_.size(); }

 private:
  uintptr_t remember(void* p, size_t n, const char* what) {
    if (p == nullptr) throw std::bad_alloc();
    const auto address = reinterpret_cast<uintptr_t>(p);
    if (!live_.emplace(address, n).second) {
      allocator_->deallocate(p, n);
      throw std::logic_error(std::string(what) + " returned a block that is already live");
    }
    return address;
  }
  void check_range(uintptr_t handle, size_t offset, size_t length) const {
    const size_t n = size_of(handle);
    if (offset > n || length > n - offset)
      throw py::value_error("range [" + std::to_string(offset) + ", " +
                            std::to_string(offset + length) + ") is outside the block of " +
                            std::to_string(n) + " bytes");
  }

  std::unique_ptr<Allocator> allocator_;
  std::unordered_map<uintptr_t, size_t> live_;
};

// Traces: the format's reader and writer, and the recorder (trace_format.h, recorder.h).
py::dict trace_summary_to_dict(const TraceSummary& s) {
  return py::dict(py::arg("op_count") = s.op_count, py::arg("chunk_count") = s.chunk_count,
                  py::arg("skipped_ops") = s.skipped_ops, py::arg("id_space") = s.id_space,
                  py::arg("checksum") = s.checksum);
}

// A reader with the buffer its chunks are read into, reused from chunk to chunk.
struct ChunkReader {
  explicit ChunkReader(const std::string& path) : reader(path) {}
  TraceReader reader;
  std::vector<TraceRecord> chunk;
};

void bind_traces(py::module_& m) {
  py::register_exception<TraceError>(m, "TraceError", PyExc_ValueError);
  m.attr("TRACE_VERSION") = kTraceVersion;
  m.attr("TRACE_CHUNK_RECORDS") = kChunkRecords;
  m.def("trace_op_names", [] {
    py::dict names;
    for (int op = 0; op < 256; ++op)
      if (const char* name = trace_op_name(static_cast<uint8_t>(op))) names[py::int_(op)] = name;
    return names;
  }, "Op code -> name, for every op the format knows.");
  m.def(
      "crc32",
      [](py::bytes data, uint32_t crc) {
        const std::string_view bytes = data;
        return allocbench::crc32(bytes.data(), bytes.size(), crc);
      },
      py::arg("data"), py::arg("crc") = 0, "The trace format's CRC-32 (equal to zlib.crc32).");

  py::class_<TraceWriter>(m, "TraceWriter", "Writes a trace file (see docs/trace-format.md).")
      .def(py::init<const std::string&, const std::string&, size_t>(), py::arg("path"),
           py::arg("metadata_json"), py::arg("metadata_capacity") = 0)
      .def(
          "append_records",
          [](TraceWriter& writer, py::buffer data) {
            const py::buffer_info info = data.request();
            const auto bytes = static_cast<size_t>(info.size * info.itemsize);
            if (info.ndim > 1 || (info.ndim == 1 && info.strides[0] != info.itemsize))
              throw py::value_error("append_records: records must be one contiguous buffer");
            if (bytes % sizeof(TraceRecord) != 0)
              throw py::value_error("append_records: " + std::to_string(bytes) +
                                    " bytes is not a whole number of 16-byte records");
            const auto* base = static_cast<const char*>(info.ptr);
            TraceRecord record;
            for (size_t offset = 0; offset < bytes; offset += sizeof record) {
              std::memcpy(&record, base + offset, sizeof record);
              writer.append(record);
            }
          },
          py::arg("records"), "Appends records given as a buffer of 16-byte records.")
      .def("rewrite_metadata", &TraceWriter::rewrite_metadata, py::arg("metadata_json"))
      .def("close", &TraceWriter::close)
      .def_property_readonly("summary", [](const TraceWriter& w) { return trace_summary_to_dict(w.summary()); });

  py::class_<ChunkReader>(m, "TraceReader", "Reads a trace file chunk by chunk, verifying each.")
      .def(py::init<const std::string&>(), py::arg("path"))
      .def_property_readonly("path", [](const ChunkReader& r) { return r.reader.path(); })
      .def_property_readonly("metadata_json", [](const ChunkReader& r) { return r.reader.metadata_json(); })
      .def_property_readonly("summary", [](const ChunkReader& r) { return trace_summary_to_dict(r.reader.summary()); })
      .def(
          "next_chunk",
          [](ChunkReader& r) -> py::object {
            bool more;
            {
              py::gil_scoped_release release;
              more = r.reader.next_chunk(r.chunk);
            }
            if (!more) return py::none();
            return py::bytes(reinterpret_cast<const char*>(r.chunk.data()),
                             r.chunk.size() * sizeof(TraceRecord));
          },
          "The next verified chunk as bytes of 16-byte records; None after the last.")
      .def_property_readonly("chunk_first_op", [](const ChunkReader& r) { return r.reader.chunk_first_op(); })
      .def("rewind", [](ChunkReader& r) { r.reader.rewind(); });

  m.def("start_recording", &start_recording, py::arg("path"), py::arg("metadata_json"),
        py::arg("metadata_capacity") = 0,
        "Hooks the MEM and OBJ domains and records their calls into a trace at `path`.");
  m.def("is_recording", &is_recording);
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

// Replay and the synthetic generators (replay.h, generators.h).
void bind_replay(py::module_& m) {
  m.attr("ABSURD_REQUEST_BYTES") = kAbsurdRequestBytes;
  const auto result_to_dict = [](const ReplayResult& r) {
    const auto optional_int = [](const std::optional<uint64_t>& v) -> py::object {
      return v ? py::object(py::int_(*v)) : py::object(py::none());
    };
    py::list op_index, live_bytes, footprint, rss;
    for (const TimelineSample& s : r.timeline) {
      op_index.append(s.op_index);
      live_bytes.append(s.live_requested_bytes);
      footprint.append(optional_int(s.footprint_bytes));
      rss.append(optional_int(s.rss_bytes));
    }
    return py::dict(
        py::arg("elapsed_seconds") = r.elapsed_seconds,
        py::arg("ops") = py::dict(py::arg("alloc") = r.ops.alloc, py::arg("calloc") = r.ops.calloc,
                                  py::arg("realloc") = r.ops.realloc, py::arg("free") = r.ops.free,
                                  py::arg("foreign_realloc") = r.ops.foreign_realloc,
                                  py::arg("foreign_free") = r.ops.foreign_free),
        py::arg("played_ops") = r.ops.played(), py::arg("skipped_ops") = r.ops.foreign_free,
        py::arg("peak_live_requested_bytes") = r.peak_live_requested_bytes,
        py::arg("peak_live_objects") = r.peak_live_objects,
        py::arg("live_requested_bytes_at_end") = r.live_requested_bytes_at_end,
        py::arg("live_objects_at_end") = r.live_objects_at_end,
        py::arg("final_footprint_bytes") = optional_int(r.final_footprint_bytes),
        py::arg("peak_footprint_bytes") = optional_int(r.peak_footprint_bytes),
        py::arg("peak_footprint_exact") = r.peak_footprint_exact,
        py::arg("rss_bytes_at_start") = optional_int(r.rss_bytes_at_start),
        py::arg("rss_bytes_at_end") = optional_int(r.rss_bytes_at_end),
        py::arg("figures") = figures_to_dict(r.figures),
        py::arg("timeline") = py::dict(py::arg("op_index") = op_index,
                                       py::arg("live_requested_bytes") = live_bytes,
                                       py::arg("footprint_bytes") = footprint,
                                       py::arg("rss_bytes") = rss));
  };
  // The interpreter's allocator must be called with the GIL held; the others run without it.
  const auto play = [](const std::string& path, Allocator& allocator, const ReplayOptions& options) {
    const auto run = [&] {
      TraceReader reader(path);
      return replay(reader, allocator, options);
    };
    if (allocator.spec().kind == AllocatorKind::cpython) return run();
    py::gil_scoped_release release;
    return run();
  };
  m.def(
      "replay",
      [=](const std::string& path, const std::string& spec, const std::string& touch, uint64_t timeline_every) {
        const ReplayOptions options{parse_touch(touch), timeline_every};
        const std::unique_ptr<Allocator> allocator = make_allocator(spec);
        return result_to_dict(play(path, *allocator, options));
      },
      py::arg("path"), py::arg("spec"), py::arg("touch") = "none", py::arg("timeline_every") = 0,
      "Replays a trace against a fresh allocator built from spec.");
  m.def(
      "replay",
      [=](const std::string& path, Handles& handles, const std::string& touch, uint64_t timeline_every) {
        const ReplayOptions options{parse_touch(touch), timeline_every};
        return result_to_dict(play(path, handles.allocator(), options));
      },
      py::arg("path"), py::arg("allocator"), py::arg("touch") = "none", py::arg("timeline_every") = 0,
      "Replays a trace against an existing allocator; frees every block of the trace before returning.");
  m.def(
      "replay_loops",
      [](uint64_t loops, const std::string& path, const std::string& spec, const std::string& touch) {
        const AllocatorSpec parsed = parse_spec(spec);
        const Touch how = parse_touch(touch);
        const auto run = [&] {
          TraceReader reader(path);
          return replay_loops(reader, parsed, loops, how);
        };
        if (parsed.kind == AllocatorKind::cpython) return run();
        py::gil_scoped_release release;
        return run();
      },
      py::arg("loops"), py::arg("path"), py::arg("spec"), py::arg("touch") = "none",
      "Replays a trace `loops` times, a fresh allocator each time; total op-loop seconds.");
  m.def(
      "replay_harness_loops",
      [](uint64_t loops, const std::string& path, const std::string& touch) {
        const Touch how = parse_touch(touch);
        py::gil_scoped_release release;
        TraceReader reader(path);
        return replay_harness_only(reader, loops, how);
      },
      py::arg("loops"), py::arg("path"), py::arg("touch") = "none",
      "The replay loop's own op-loop seconds over `loops` passes, with no allocator behind it.");

  m.def("generators", [] {
    py::list out;
    for (const GeneratorInfo& g : generator_table()) {
      py::list params;
      for (const GeneratorParam& p : g.params)
        params.append(py::dict(py::arg("name") = p.name, py::arg("default") = p.default_value,
                               py::arg("help") = p.help));
      out.append(py::dict(py::arg("name") = g.name, py::arg("description") = g.description,
                          py::arg("params") = params));
    }
    return out;
  });
  m.def(
      "generate",
      [](const std::string& kind, const std::string& path, uint64_t seed, const GeneratorArgs& params) {
        TraceSummary summary;
        {
          py::gil_scoped_release release;
          summary = generate_trace(kind, params, seed, path);
        }
        return trace_summary_to_dict(summary);
      },
      py::arg("kind"), py::arg("path"), py::arg("seed") = 0, py::arg("params") = GeneratorArgs{},
      "Writes a synthetic trace; params is a list of (name, value) text pairs.");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "allocbench's C++ core: pymalloc variants, system malloc, the interpreter's allocator";
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
    for (const OptionInfo& o : option_table())
      out.append(py::dict(py::arg("name") = o.name, py::arg("unit") = o.unit,
                          py::arg("default") = o.default_value, py::arg("allowed") = o.allowed,
                          py::arg("help") = o.help));
    return out;
  });
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

  py::class_<Handles>(m, "Allocator", "An allocator built from a spec, driven by handles.")
      .def(py::init<const std::string&>(), py::arg("spec"))
      .def("malloc", &Handles::malloc, py::arg("size"))
      .def("calloc", &Handles::calloc, py::arg("count"), py::arg("size"))
      .def("realloc", &Handles::realloc, py::arg("handle"), py::arg("size"))
      .def("free", &Handles::free, py::arg("handle"))
      .def("size_of", &Handles::size_of, py::arg("handle"))
      .def("write", &Handles::write, py::arg("handle"), py::arg("data"), py::arg("offset") = 0)
      .def("read", &Handles::read, py::arg("handle"), py::arg("length"), py::arg("offset") = 0)
      .def("fill", &Handles::fill, py::arg("handle"), py::arg("seed"))
      .def("check", &Handles::check, py::arg("handle"), py::arg("seed"))
      .def("owns", &Handles::owns, py::arg("handle"))
      .def("probe", &Handles::probe, py::arg("program"))
      .def("stats", [](Handles& h) { return figures_to_dict(h.allocator().figures()); })
      .def("size_classes",
           [](Handles& h) {
             py::list out;
             if (h.allocator().spec().kind != AllocatorKind::pymalloc) return out;
             const PymallocStats s =
                 static_cast<AllocatorModel<Pymalloc>&>(h.allocator()).impl().stats();
             for (const SizeClassStats& c : s.classes)
               out.append(py::dict(py::arg("size_class") = c.size_class,
                                   py::arg("block_size") = c.block_size,
                                   py::arg("blocks_per_pool") = c.blocks_per_pool,
                                   py::arg("pools") = c.pools,
                                   py::arg("blocks_in_use") = c.blocks_in_use,
                                   py::arg("blocks_available") = c.blocks_available));
             return out;
           })
      .def("debugmallocstats", [](Handles& h) { return h.allocator().debug_malloc_stats(); })
      .def("is_valid", [](Handles& h) { return h.allocator().is_valid(); },
           "Empty string when every invariant holds, else the first that does not.")
      .def_property_readonly("spec", [](Handles& h) { return h.allocator().spec().canonical(); })
      .def_property_readonly("kind", [](Handles& h) { return kind_name(h.allocator().spec().kind); })
      .def_property_readonly("config", [](Handles& h) { return config_to_dict(h.allocator().spec()); })
      .def_property_readonly("live", &Handles::live);

  bind_traces(m);
  bind_replay(m);
}
