// generators.h — synthetic traces: the allocation patterns real programs rarely isolate.
//
// Owns the table of generators and their parameters (name, default, help: declared once, in
// generators.cpp), and writes each pattern through TraceWriter:
//   churn          a live set of fixed size; each step frees one block and allocates one,
//                  the victim chosen by lifetime: lifo, fifo or random
//   size-ramp      every request size from 1 to max_size, per_size blocks each, all live at
//                  once, then freed; repeated for some rounds
//   survivors      allocate N blocks, free all but a scattered fraction, optionally free the
//                  survivors too: what stays mapped (docs/pymalloc-facts.md, "Field observations")
//   sawtooth       grow to a peak, drop a fraction, regrow, for some cycles: arena thrashing
//   list-growth    lists appended to one item at a time, with CPython 3.11's list_resize
//                  over-allocation, the items array crossing the small-object threshold
//   string-growth  strings built by `s += piece`, resized in place one piece at a time
// Request sizes come from a size distribution: uniform:LOW-HIGH, fixed:N or table:PATH (a CSV
// "size,weight" of whole-number weights, e.g. the empirical mix in workloads/size-mix.csv).
//
// Invariants: the same generator, parameters and seed give a byte-identical file (the random
// numbers are xoshiro256** and the distributions are written out here, not taken from the
// standard library, whose distributions differ between implementations); ids are recycled
// last-freed-first, so the id space is the peak live count; every trace frees what it
// allocates unless a parameter says otherwise; the metadata records the generator, every
// parameter's value (defaults included) and the seed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trace_format.h"

namespace allocbench {

struct GeneratorParam {
  std::string name;
  std::string default_value;
  std::string help;
};

struct GeneratorInfo {
  std::string name;
  std::string description;
  std::vector<GeneratorParam> params;
};

const std::vector<GeneratorInfo>& generator_table();

// name=value pairs; parameters not given take their defaults.
using GeneratorArgs = std::vector<std::pair<std::string, std::string>>;

// Writes the trace of generator `kind` to `path`. Throws ConfigError for an unknown
// generator, an unknown parameter or a value out of range (one line naming it), before
// anything is written.
TraceSummary generate_trace(std::string_view kind, const GeneratorArgs& args, uint64_t seed,
                            const std::string& path);

}  // namespace allocbench
