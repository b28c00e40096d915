// generators.cpp — the synthetic generators, their parameters and their random numbers.
// See generators.h for the patterns and the invariants.
#include "generators.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <deque>
#include <memory>
#include <functional>
#include <map>

#include "config.h"
#include "files.h"
#include "replay.h"

namespace allocbench {
namespace {

// xoshiro256** (Blackman and Vigna), seeded through splitmix64: defined bit for bit here, so
// a seed means the same numbers everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& word : state_) word = splitmix(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  // Uniform in [0, n) for n > 0, without modulo bias (Lemire's multiply-shift with rejection).
  uint64_t below(uint64_t n) {
    __uint128_t m = static_cast<__uint128_t>(next()) * n;
    if (static_cast<uint64_t>(m) < n) {
      const uint64_t threshold = (0 - n) % n;
      while (static_cast<uint64_t>(m) < threshold) m = static_cast<__uint128_t>(next()) * n;
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

// The next line of `file` without its newline; false at the end.
bool read_line(std::FILE* file, std::string& line) {
  line.clear();
  for (int c; (c = std::fgetc(file)) != EOF;) {
    if (c == '\n') return true;
    line += static_cast<char>(c);
  }
  return !line.empty();
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

[[noreturn]] void bad_value(std::string_view generator, std::string_view name,
                            std::string_view value, std::string_view allowed) {
  throw ConfigError(std::string(generator) + ": " + std::string(name) + "=" +
                    std::string(value) + ": " + std::string(allowed));
}

bool parse_whole(std::string_view text, uint64_t& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// Request sizes: uniform over [low, high], or drawn from a table of whole-number weights.
class SizeDistribution {
 public:
  static SizeDistribution parse(std::string_view generator, std::string_view name,
                                std::string_view text) {
    const std::string allowed =
        "uniform:LOW-HIGH, fixed:N or table:PATH (a size,weight CSV), sizes at most 1 GiB";
    SizeDistribution d;
    if (text.starts_with("uniform:")) {
      const std::string_view range = text.substr(8);
      const size_t dash = range.find('-');
      uint64_t low = 0, high = 0;
      if (dash == std::string_view::npos || !parse_whole(range.substr(0, dash), low) ||
          !parse_whole(range.substr(dash + 1), high) || low > high || high > kAbsurdRequestBytes)
        bad_value(generator, name, text, allowed);
      d.low_ = static_cast<uint32_t>(low);
      d.high_ = static_cast<uint32_t>(high);
      d.json_ = json_string(text);
    } else if (text.starts_with("fixed:")) {
      uint64_t size = 0;
      if (!parse_whole(text.substr(6), size) || size > kAbsurdRequestBytes)
        bad_value(generator, name, text, allowed);
      d.low_ = d.high_ = static_cast<uint32_t>(size);
      d.json_ = json_string(text);
    } else if (text.starts_with("table:")) {
      d.read_table(generator, name, text);
    } else {
      bad_value(generator, name, text, allowed);
    }
    return d;
  }

  uint32_t sample(Rng& rng) const {
    if (cumulative_.empty()) return low_ + static_cast<uint32_t>(rng.below(uint64_t{high_} - low_ + 1));
    const uint64_t u = rng.below(cumulative_.back());
    return sizes_[std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin()];
  }

  // For the metadata: the text given, or for a table its file name and its whole content
  // (so that the trace says what it was drawn from wherever the table lives).
  const std::string& json() const { return json_; }

 private:
  void read_table(std::string_view generator, std::string_view name, std::string_view text) {
    const std::string path(text.substr(6));
    std::string error;
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(open_regular_for_reading(path, error), std::fclose);
    if (!in) bad_value(generator, name, text, "cannot read the table: " + error);
    std::string line;
    uint64_t line_number = 0, total = 0;
    std::string rows;
    while (read_line(in.get(), line)) {
      ++line_number;
      if (line.empty() || line[0] == '#' || line == "size,weight") continue;
      const size_t comma = line.find(',');
      uint64_t size = 0, weight = 0;
      if (comma == std::string::npos || !parse_whole(std::string_view(line).substr(0, comma), size) ||
          !parse_whole(std::string_view(line).substr(comma + 1), weight) ||
          size > kAbsurdRequestBytes || weight > (uint64_t{1} << 40))
        bad_value(generator, name, text,
                  "line " + std::to_string(line_number) +
                      ": expected SIZE,WEIGHT (whole numbers, size at most 1 GiB, weight at most 2^40)");
      if (weight == 0) continue;
      total += weight;
      sizes_.push_back(static_cast<uint32_t>(size));
      cumulative_.push_back(total);
      rows += (rows.empty() ? "[" : ",[") + std::to_string(size) + "," + std::to_string(weight) + "]";
    }
    if (total == 0) bad_value(generator, name, text, "the table has no row of positive weight");
    const std::string file = path.substr(path.find_last_of('/') + 1);
    json_ = "{\"table\":" + json_string(file) + ",\"rows\":[" + rows + "]}";
  }

  uint32_t low_ = 0;
  uint32_t high_ = 0;
  std::vector<uint32_t> sizes_;
  std::vector<uint64_t> cumulative_;
  std::string json_;
};

enum class Order { lifo, fifo, random };

// The parameters of one generator run: the ones given, checked against the table, and the
// defaults of the others; each read records its canonical value for the metadata.
class Params {
 public:
  Params(const GeneratorInfo& info, const GeneratorArgs& args) : info_(info) {
    for (const auto& [name, value] : args) {
      const bool known = std::any_of(info.params.begin(), info.params.end(),
                                     [&](const GeneratorParam& p) { return p.name == name; });
      if (!known) {
        std::string names;
        for (const GeneratorParam& p : info.params) names += (names.empty() ? "" : ", ") + p.name;
        throw ConfigError(info.name + ": unknown parameter '" + name + "' (parameters: " + names + ")");
      }
      if (!given_.emplace(name, value).second)
        throw ConfigError(info.name + ": parameter '" + name + "' given twice");
    }
  }

  uint64_t count(const char* name, uint64_t low, uint64_t high) {
    const std::string text = value_of(name);
    uint64_t value = 0;
    if (!parse_whole(text, value) || value < low || value > high)
      bad_value(info_.name, name, text,
                "a whole number in [" + std::to_string(low) + ", " + std::to_string(high) + "]");
    record(name, std::to_string(value));
    return value;
  }

  double fraction(const char* name) {
    const std::string text = value_of(name);
    double value = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !(value >= 0 && value <= 1))
      bad_value(info_.name, name, text, "a number in [0, 1]");
    char shortest[32];
    const auto printed = std::to_chars(shortest, shortest + sizeof shortest, value);
    record(name, std::string(shortest, printed.ptr));
    return value;
  }

  bool yes_no(const char* name) {
    const std::string text = value_of(name);
    if (text != "yes" && text != "no") bad_value(info_.name, name, text, "yes or no");
    record(name, json_string(text));
    return text == "yes";
  }

  Order order(const char* name) {
    const std::string text = value_of(name);
    const std::pair<const char*, Order> choices[] = {
        {"lifo", Order::lifo}, {"fifo", Order::fifo}, {"random", Order::random}};
    for (const auto& [choice, value] : choices) {
      if (text != choice) continue;
      record(name, json_string(text));
      return value;
    }
    bad_value(info_.name, name, text, "one of lifo, fifo, random");
  }

  SizeDistribution sizes(const char* name) {
    SizeDistribution d = SizeDistribution::parse(info_.name, name, value_of(name));
    record(name, d.json());
    return d;
  }

  std::string metadata(uint64_t seed) const {
    std::string params;
    for (const GeneratorParam& p : info_.params)  // table order, whatever order they came in
      params += (params.empty() ? "" : ",") + json_string(p.name) + ":" + recorded_.at(p.name);
    return "{\"source\":\"allocbench generate\",\"generator\":" + json_string(info_.name) +
           ",\"seed\":" + std::to_string(seed) + ",\"parameters\":{" + params + "}}";
  }

 private:
  std::string value_of(const std::string& name) const {
    if (auto it = given_.find(name); it != given_.end()) return it->second;
    for (const GeneratorParam& p : info_.params)
      if (p.name == name) return p.default_value;
    throw std::logic_error("generator " + info_.name + " reads undeclared parameter " + name);
  }
  void record(const std::string& name, std::string json) { recorded_[name] = std::move(json); }

  const GeneratorInfo& info_;
  std::map<std::string, std::string> given_;
  std::map<std::string, std::string> recorded_;
};

// Writes ops by block id, handing out ids last-freed-first so the id space stays at the
// peak live count.
class TraceBuilder {
 public:
  TraceBuilder(const std::string& path, const std::string& metadata) : writer_(path, metadata) {}

  uint32_t alloc(uint32_t size, TraceDomain domain = TraceDomain::obj) {
    uint32_t id;
    if (free_ids_.empty()) {
      id = next_id_++;
    } else {
      id = free_ids_.back();
      free_ids_.pop_back();
    }
    append(TraceOp::alloc, domain, id, size, 0);
    return id;
  }
  void realloc(uint32_t id, uint32_t size, TraceDomain domain = TraceDomain::obj) {
    append(TraceOp::realloc, domain, id, size, id);
  }
  void free(uint32_t id, TraceDomain domain = TraceDomain::obj) {
    append(TraceOp::free, domain, id, 0, 0);
    free_ids_.push_back(id);
  }
  TraceSummary close() {
    writer_.close();
    return writer_.summary();
  }

 private:
  void append(TraceOp op, TraceDomain domain, uint32_t id, uint32_t size, uint32_t arg) {
    writer_.append(TraceRecord{static_cast<uint8_t>(op), static_cast<uint8_t>(domain), 0, id, size, arg});
  }

  TraceWriter writer_;
  std::vector<uint32_t> free_ids_;
  uint32_t next_id_ = 0;
};

// Live blocks, handing back the one whose lifetime ends next as `order` says.
class LiveSet {
 public:
  LiveSet(Order order, Rng& rng) : order_(order), rng_(rng) {}
  void put(uint32_t id) { ids_.push_back(id); }
  uint32_t take() {
    uint32_t id;
    switch (order_) {
      case Order::lifo:
        id = ids_.back();
        ids_.pop_back();
        return id;
      case Order::fifo:
        id = ids_.front();
        ids_.pop_front();
        return id;
      case Order::random:
        break;
    }
    uint32_t& chosen = ids_[rng_.below(ids_.size())];
    id = chosen;
    chosen = ids_.back();
    ids_.pop_back();
    return id;
  }
  size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }

 private:
  Order order_;
  Rng& rng_;
  std::deque<uint32_t> ids_;
};

void free_all(TraceBuilder& trace, LiveSet& live) {
  while (!live.empty()) trace.free(live.take());
}

using Writer = std::function<void(TraceBuilder&, Rng&)>;

struct Generator {
  GeneratorInfo info;
  // Reads and checks every parameter, then returns what writes the trace.
  std::function<Writer(Params&)> prepare;
};

constexpr uint64_t kMaxLive = 100'000'000;      // ids are 32-bit; this keeps replay tables sane
constexpr uint64_t kMaxSteps = 4'000'000'000;   // 64 GB of trace
constexpr const char* kSizesHelp =
    "request sizes: uniform:LOW-HIGH, fixed:N or table:PATH (size,weight CSV)";

// CPython 3.11 objects as pymalloc sees them.
constexpr uint32_t kListObjectBytes = 56;   // PyListObject (40) behind its GC header (16)
constexpr uint32_t kPointerBytes = 8;        // one slot of a list's items array
constexpr uint32_t kCompactAsciiBytes = 49;  // PyASCIIObject (48) and the trailing NUL

// list_resize() of CPython 3.11 for an append that needs room: the new capacity in items.
uint32_t list_capacity_for(uint32_t new_length) {
  return (new_length + (new_length >> 3) + 6) & ~uint32_t{3};
}

Writer churn(Params& p) {
  const uint64_t live = p.count("live", 1, kMaxLive);
  const uint64_t pairs = p.count("pairs", 0, kMaxSteps);
  const Order lifetime = p.order("lifetime");
  const SizeDistribution sizes = p.sizes("sizes");
  const bool free_at_end = p.yes_no("free_at_end");
  return [=](TraceBuilder& trace, Rng& rng) {
    LiveSet set(lifetime, rng);
    for (uint64_t i = 0; i < live; ++i) set.put(trace.alloc(sizes.sample(rng)));
    for (uint64_t i = 0; i < pairs; ++i) {
      trace.free(set.take());
      set.put(trace.alloc(sizes.sample(rng)));
    }
    if (free_at_end) free_all(trace, set);
  };
}

Writer size_ramp(Params& p) {
  const uint64_t max_size = p.count("max_size", 1, 1 << 20);
  const uint64_t per_size = p.count("per_size", 1, kMaxLive);
  const uint64_t rounds = p.count("rounds", 1, kMaxSteps);
  const Order free_order = p.order("free_order");
  if (max_size * per_size > kMaxLive)
    bad_value("size-ramp", "per_size", std::to_string(per_size),
              "max_size * per_size must be at most " + std::to_string(kMaxLive));
  return [=](TraceBuilder& trace, Rng& rng) {
    LiveSet set(free_order, rng);
    for (uint64_t round = 0; round < rounds; ++round) {
      for (uint64_t size = 1; size <= max_size; ++size)
        for (uint64_t i = 0; i < per_size; ++i) set.put(trace.alloc(static_cast<uint32_t>(size)));
      free_all(trace, set);
    }
  };
}

Writer survivors(Params& p) {
  const uint64_t blocks = p.count("blocks", 1, kMaxLive);
  const double keep = p.fraction("keep");
  const SizeDistribution sizes = p.sizes("sizes");
  const bool free_survivors = p.yes_no("free_survivors");
  return [=](TraceBuilder& trace, Rng& rng) {
    std::vector<uint32_t> ids(blocks);
    for (uint32_t& id : ids) id = trace.alloc(sizes.sample(rng));
    // Selection sampling (Knuth's algorithm S): exactly `wanted` survivors, spread uniformly.
    uint64_t wanted = static_cast<uint64_t>(static_cast<double>(blocks) * keep + 0.5);
    std::vector<uint32_t> kept;
    for (uint64_t i = 0; i < blocks; ++i) {
      if (rng.below(blocks - i) < wanted) {
        kept.push_back(ids[i]);
        --wanted;
      } else {
        trace.free(ids[i]);
      }
    }
    if (free_survivors)
      for (uint32_t id : kept) trace.free(id);
  };
}

Writer sawtooth(Params& p) {
  const uint64_t peak = p.count("peak", 1, kMaxLive);
  const uint64_t cycles = p.count("cycles", 1, kMaxSteps);
  const double drop = p.fraction("drop");
  const Order drop_order = p.order("drop_order");
  const SizeDistribution sizes = p.sizes("sizes");
  return [=](TraceBuilder& trace, Rng& rng) {
    LiveSet set(drop_order, rng);
    const uint64_t trough = peak - static_cast<uint64_t>(static_cast<double>(peak) * drop + 0.5);
    for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
      while (set.size() < peak) set.put(trace.alloc(sizes.sample(rng)));
      while (set.size() > trough) trace.free(set.take());
    }
    free_all(trace, set);
  };
}

Writer list_growth(Params& p) {
  const uint64_t lists = p.count("lists", 1, kMaxLive);
  const uint64_t appends = p.count("appends", 0, kMaxSteps);
  const uint64_t max_items = p.count("max_items", 1, 1 << 24);
  const uint64_t item_size = p.count("item_size", 0, 1 << 20);
  return [=](TraceBuilder& trace, Rng& rng) {
    struct List {
      uint32_t object = 0;
      bool has_items_array = false;
      uint32_t items_array = 0;
      uint32_t capacity = 0;
      std::vector<uint32_t> items;  // ids of the items' own blocks, when item_size > 0
      uint32_t length = 0;
    };
    const auto start = [&](List& list) {
      list = List{};
      list.object = trace.alloc(kListObjectBytes);
    };
    // As list_dealloc: the items from the last, then the items array, then the list.
    const auto finish = [&](List& list) {
      for (auto it = list.items.rbegin(); it != list.items.rend(); ++it) trace.free(*it);
      if (list.has_items_array) trace.free(list.items_array, TraceDomain::mem);
      trace.free(list.object);
    };
    std::vector<List> growing(lists);
    for (List& list : growing) start(list);
    for (uint64_t i = 0; i < appends; ++i) {
      List& list = growing[rng.below(lists)];
      if (item_size != 0) list.items.push_back(trace.alloc(static_cast<uint32_t>(item_size)));
      const uint32_t length = list.length + 1;
      if (length > list.capacity) {
        list.capacity = list_capacity_for(length);
        const uint32_t bytes = list.capacity * kPointerBytes;
        if (list.has_items_array) {
          trace.realloc(list.items_array, bytes, TraceDomain::mem);
        } else {
          list.items_array = trace.alloc(bytes, TraceDomain::mem);
          list.has_items_array = true;
        }
      }
      list.length = length;
      if (length == max_items) {
        finish(list);
        start(list);
      }
    }
    for (List& list : growing) finish(list);
  };
}

Writer string_growth(Params& p) {
  const uint64_t strings = p.count("strings", 1, kMaxLive);
  const uint64_t appends = p.count("appends", 0, kMaxSteps);
  const uint64_t max_length = p.count("max_length", 1, 1 << 24);
  const uint64_t piece = p.count("piece", 1, 1 << 20);
  return [=](TraceBuilder& trace, Rng& rng) {
    struct Text {
      uint32_t id = 0;
      uint64_t length = 0;
    };
    const auto start = [&](Text& text) {
      text.length = 1 + rng.below(piece);
      text.id = trace.alloc(static_cast<uint32_t>(kCompactAsciiBytes + text.length));
    };
    std::vector<Text> growing(strings);
    for (Text& text : growing) start(text);
    for (uint64_t i = 0; i < appends; ++i) {
      Text& text = growing[rng.below(strings)];
      // `s += t`: t is a fresh string, s is resized in place, t dies.
      const uint64_t added = 1 + rng.below(piece);
      const uint32_t t = trace.alloc(static_cast<uint32_t>(kCompactAsciiBytes + added));
      text.length += added;
      trace.realloc(text.id, static_cast<uint32_t>(kCompactAsciiBytes + text.length));
      trace.free(t);
      if (text.length >= max_length) {
        trace.free(text.id);
        start(text);
      }
    }
    for (const Text& text : growing) trace.free(text.id);
  };
}

const std::vector<Generator>& generators() {
  static const std::vector<Generator> table = {
      {{"churn",
        "a live set of fixed size; each step frees one block (chosen by lifetime) and allocates one",
        {{"live", "10000", "blocks live throughout"},
         {"pairs", "1000000", "free+alloc steps after the live set is built"},
         {"lifetime", "random", "which block dies at each step: lifo, fifo or random"},
         {"sizes", "uniform:8-512", kSizesHelp},
         {"free_at_end", "yes", "free the live set at the end: yes or no"}}},
       churn},
      {{"size-ramp",
        "every request size from 1 to max_size, per_size blocks each, all live at once, then freed",
        {{"max_size", "512", "largest request size (the 3.11 threshold by default)"},
         {"per_size", "16", "blocks of each size per round"},
         {"rounds", "4", "times the ramp is repeated"},
         {"free_order", "random", "order the blocks are freed in: lifo, fifo or random"}}},
       size_ramp},
      {{"survivors",
        "allocate blocks, free all but a scattered fraction; the survivors stay live or are freed last",
        {{"blocks", "1000000", "blocks allocated"},
         {"keep", "0.01", "fraction that survives, chosen uniformly at random"},
         {"sizes", "uniform:8-512", kSizesHelp},
         {"free_survivors", "no", "free the survivors at the end: yes or no"}}},
       survivors},
      {{"sawtooth",
        "grow to a peak, drop a fraction of the blocks, regrow, for some cycles (arena thrashing)",
        {{"peak", "100000", "live blocks at each peak"},
         {"cycles", "10", "grow-and-drop cycles"},
         {"drop", "0.9", "fraction of the peak freed at each drop"},
         {"drop_order", "lifo", "which blocks are dropped: lifo, fifo or random"},
         {"sizes", "uniform:8-512", kSizesHelp}}},
       sawtooth},
      {{"list-growth",
        "lists appended to one item at a time (CPython 3.11 over-allocation), items array realloc'ed past the threshold",
        {{"lists", "100", "lists growing at once; each append picks one at random"},
         {"appends", "1000000", "appends in all"},
         {"max_items", "1000", "a list is freed and started again at this length"},
         {"item_size", "32", "bytes of each appended item's own block (an int is 32); 0: none"}}},
       list_growth},
      {{"string-growth",
        "strings built by s += piece: a temporary piece, an in-place resize, the piece freed",
        {{"strings", "100", "strings growing at once; each append picks one at random"},
         {"appends", "1000000", "appends in all"},
         {"max_length", "4000", "a string is freed and started again at this many characters"},
         {"piece", "16", "largest piece appended, in characters (uniform from 1)"}}},
       string_growth},
  };
  return table;
}

}  // namespace

const std::vector<GeneratorInfo>& generator_table() {
  static const std::vector<GeneratorInfo> table = [] {
    std::vector<GeneratorInfo> out;
    for (const Generator& g : generators()) out.push_back(g.info);
    return out;
  }();
  return table;
}

TraceSummary generate_trace(std::string_view kind, const GeneratorArgs& args, uint64_t seed,
                            const std::string& path) {
  const auto& table = generators();
  const auto found = std::find_if(table.begin(), table.end(),
                                  [&](const Generator& g) { return g.info.name == kind; });
  if (found == table.end()) {
    std::string names;
    for (const Generator& g : table) names += (names.empty() ? "" : ", ") + g.info.name;
    throw ConfigError("unknown generator '" + std::string(kind) + "' (one of " + names + ")");
  }
  Params params(found->info, args);
  const Writer write = found->prepare(params);
  TraceBuilder trace(path, params.metadata(seed));
  Rng rng(seed);
  write(trace, rng);
  return trace.close();
}

}  // namespace allocbench
