// config.cpp — the option table, the presets and the spec parser. See config.h.
#include "config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "text.h"

namespace allocbench {
namespace {

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

[[noreturn]] void fail(std::string_view field, std::string_view value, std::string_view allowed) {
  throw ConfigError(std::string(field) + "=" + std::string(value) + ": " + std::string(allowed));
}

// An option's value: a number (power_of_two, stepped, and N of keep:N) or the index of a
// word (word, release; for release, index == words.size() means keep:N).
struct OptionValue {
  uint64_t number = 0;
  size_t word = 0;
};

// The option table: the one place where an option is named, typed and ranged. Reading and
// writing a config field goes through get/set, so parsing, formatting, validation and
// enumeration are written once, by kind, below.
struct OptionDef {
  const char* name;
  const char* unit;
  OptionKind kind;
  uint64_t min;
  uint64_t max;
  uint64_t step;
  std::vector<std::string> words;
  const char* help;
  const char* also;  // what validate() adds across options, appended to the allowed text
  OptionValue (*get)(const PymallocConfig&);
  void (*set)(PymallocConfig&, OptionValue);
};

constexpr const char* kSizeSuffixes = " (a whole number of bytes, K and M suffixes allowed)";

std::string allowed_text(const OptionDef& d) {
  switch (d.kind) {
    case OptionKind::power_of_two:
      return "a power of two from " + format_bytes(d.min) + " to " + format_bytes(d.max) + d.also;
    case OptionKind::stepped:
      return "a multiple of " + format_bytes(d.step) + " from " + format_bytes(d.min) + " to " +
             format_bytes(d.max) + d.also;
    case OptionKind::word:
    case OptionKind::release: {
      std::string out = "one of ";
      for (size_t i = 0; i < d.words.size(); ++i) out += (i ? ", " : "") + d.words[i];
      if (d.kind == OptionKind::release)
        out += ", keep:N (N from " + std::to_string(d.min) + " to " + std::to_string(d.max) + ")";
      return out;
    }
  }
  return "?";
}

// Reads "16384", "16K", "1M" (K = 1024). Rejects signs, blanks, fractions and overflow.
std::optional<uint64_t> parse_size(std::string_view text) {
  std::string_view digits = text;
  uint64_t scale = 1;
  if (!digits.empty()) {
    const char last = static_cast<char>(std::toupper(static_cast<unsigned char>(digits.back())));
    if (last == 'K') scale = KiB;
    if (last == 'M') scale = MiB;
    if (scale != 1) digits.remove_suffix(1);
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      value > std::numeric_limits<uint64_t>::max() / scale)
    return std::nullopt;
  return value * scale;
}

std::optional<uint64_t> parse_count(std::string_view digits) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

bool in_range(const OptionDef& d, OptionValue v) {
  switch (d.kind) {
    case OptionKind::power_of_two:
      return is_power_of_two(v.number) && v.number >= d.min && v.number <= d.max;
    case OptionKind::stepped:
      return v.number % d.step == 0 && v.number >= d.min && v.number <= d.max;
    case OptionKind::word: return v.word < d.words.size();
    case OptionKind::release:
      return v.word < d.words.size() || (v.word == d.words.size() && v.number >= d.min && v.number <= d.max);
  }
  return false;
}

std::string format_value(const OptionDef& d, OptionValue v) {
  switch (d.kind) {
    case OptionKind::power_of_two:
    case OptionKind::stepped: return format_bytes(v.number);
    case OptionKind::word: return v.word < d.words.size() ? d.words[v.word] : "?";
    case OptionKind::release:
      if (v.word < d.words.size()) return d.words[v.word];
      return "keep:" + std::to_string(v.number);
  }
  return "?";
}

OptionValue parse_value(const OptionDef& d, std::string_view text) {
  OptionValue v;
  std::string allowed = allowed_text(d);
  switch (d.kind) {
    case OptionKind::power_of_two:
    case OptionKind::stepped: {
      const std::optional<uint64_t> n = parse_size(text);
      if (!n) fail(d.name, text, allowed + kSizeSuffixes);
      v.number = *n;
      break;
    }
    case OptionKind::word:
    case OptionKind::release: {
      const auto it = std::find(d.words.begin(), d.words.end(), text);
      v.word = static_cast<size_t>(it - d.words.begin());
      if (it == d.words.end() && d.kind == OptionKind::release && text.substr(0, 5) == "keep:") {
        const std::optional<uint64_t> n = parse_count(text.substr(5));
        v.number = n.value_or(0);
        if (!n) v.word = d.words.size() + 1;  // out of range: refused below
      }
      break;
    }
  }
  if (!in_range(d, v)) fail(d.name, text, allowed);
  return v;
}

template <class Enum>
OptionValue word_of(Enum e) {
  return {0, static_cast<size_t>(e)};
}

const std::vector<OptionDef>& option_defs() {
  using C = PymallocConfig;
  static const std::vector<OptionDef> defs = {
      {"threshold", "bytes", OptionKind::stepped, 8, 4 * KiB, 8, {},
       "largest request pymalloc serves (a multiple of alignment); larger ones and 0 bytes go to "
       "the lower allocator",
       ", and a multiple of alignment",
       [](const C& c) { return OptionValue{c.threshold, 0}; },
       [](C& c, OptionValue v) { c.threshold = static_cast<uint32_t>(v.number); }},
      {"alignment", "bytes", OptionKind::power_of_two, 8, 16, 0, {},
       "block alignment and size-class spacing",
       "",
       [](const C& c) { return OptionValue{c.alignment, 0}; },
       [](C& c, OptionValue v) { c.alignment = static_cast<uint32_t>(v.number); }},
      {"pool_size", "bytes", OptionKind::power_of_two, 4 * KiB, 256 * KiB, 0, {},
       "size of a pool; a pool serves one size class",
       "",
       [](const C& c) { return OptionValue{c.pool_size, 0}; },
       [](C& c, OptionValue v) { c.pool_size = static_cast<uint32_t>(v.number); }},
      {"arena_size", "bytes", OptionKind::power_of_two, 16 * KiB, 64 * MiB, 0, {},
       "size of an arena, the unit obtained from the OS (at least 4 pools)",
       ", and at least 4 pools",
       [](const C& c) { return OptionValue{c.arena_size, 0}; },
       [](C& c, OptionValue v) { c.arena_size = static_cast<uint32_t>(v.number); }},
      {"arena_release", "policy", OptionKind::release, 1, 1000000, 0, {"never", "immediate", "keep-one"},
       "when a wholly empty arena goes back to the OS: never; immediate (CPython 2.5-3.8); "
       "keep-one (CPython 3.9+: unless it is the last usable arena; at most one under the "
       "other arena orders); keep:N (retain up to N)",
       "",
       [](const C& c) {
         return c.arena_release == ArenaRelease::keep_n ? OptionValue{c.keep_empty_arenas, 3}
                                                        : word_of(c.arena_release);
       },
       [](C& c, OptionValue v) {
         c.arena_release = v.word == 3 ? ArenaRelease::keep_n : static_cast<ArenaRelease>(v.word);
         c.keep_empty_arenas = v.word == 3 ? static_cast<uint32_t>(v.number) : 0;
       }},
      {"pool_purge", "policy", OptionKind::word, 0, 0, 0, {"none", "dontneed", "free"},
       "give an emptied pool's pages back with madvise(MADV_DONTNEED or MADV_FREE), keeping the "
       "address space (no CPython does this)",
       "",
       [](const C& c) { return word_of(c.pool_purge); },
       [](C& c, OptionValue v) { c.pool_purge = static_cast<PoolPurge>(v.word); }},
      {"arena_order", "policy", OptionKind::word, 0, 0, 0, {"most-used-first", "lifo", "address"},
       "which usable arena serves the next new pool: most-used-first (CPython: sorted by free "
       "pools, ascending), lifo (most recently usable), address (lowest address)",
       "",
       [](const C& c) { return word_of(c.arena_order); },
       [](C& c, OptionValue v) { c.arena_order = static_cast<ArenaOrder>(v.word); }},
      {"arena_alignment", "policy", OptionKind::word, 0, 0, 0, {"cpython", "aligned"},
       "cpython: take the arena where mmap puts it and lose the partial first pool; aligned: "
       "arenas aligned to their size, no pool lost (needs arena_source=mmap)",
       "",
       [](const C& c) { return word_of(c.arena_alignment); },
       [](C& c, OptionValue v) { c.arena_alignment = static_cast<ArenaAlignment>(v.word); }},
      {"arena_hugepages", "policy", OptionKind::word, 0, 0, 0, {"none", "madvise"},
       "madvise: ask for transparent huge pages on each arena (MADV_HUGEPAGE; only 2M-aligned "
       "2M stretches can be huge, so it matters with arenas of 2M or more; CPython gh-144319; "
       "needs arena_source=mmap)",
       "",
       [](const C& c) { return word_of(c.arena_hugepages); },
       [](C& c, OptionValue v) { c.arena_hugepages = static_cast<ArenaHugepages>(v.word); }},
      {"arena_source", "policy", OptionKind::word, 0, 0, 0, {"mmap", "malloc"},
       "where arenas come from: mmap (CPython), or the lower allocator's malloc (CPython "
       "gh-115429)",
       "",
       [](const C& c) { return word_of(c.arena_source); },
       [](C& c, OptionValue v) { c.arena_source = static_cast<ArenaSource>(v.word); }},
  };
  return defs;
}

const OptionDef& find_option(std::string_view name) {
  for (const OptionDef& d : option_defs())
    if (name == d.name) return d;
  std::string names;
  for (const OptionDef& d : option_defs()) names += (names.empty() ? "" : ", ") + std::string(d.name);
  throw ConfigError("pymalloc option '" + std::string(name) + "': unknown (options: preset, " + names + ")");
}

std::string preset_names() {
  std::string out;
  for (const auto& p : presets()) out += (out.empty() ? "" : ", ") + p.name;
  return out;
}

PymallocConfig era(uint32_t threshold, uint32_t alignment, uint32_t pool, uint32_t arena,
                   ArenaRelease release, ArenaOrder order) {
  PymallocConfig c;
  c.threshold = threshold;
  c.alignment = alignment;
  c.pool_size = pool;
  c.arena_size = arena;
  c.arena_release = release;
  c.arena_order = order;
  return c;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string ConfigError::one_line(const std::string& text) { return allocbench::one_line(text); }

std::string format_bytes(uint64_t bytes) {
  if (bytes != 0 && bytes % MiB == 0) return std::to_string(bytes / MiB) + "M";
  if (bytes != 0 && bytes % KiB == 0) return std::to_string(bytes / KiB) + "K";
  return std::to_string(bytes);
}

const char* option_kind_name(OptionKind kind) {
  switch (kind) {
    case OptionKind::power_of_two: return "power-of-two bytes";
    case OptionKind::stepped: return "bytes in steps";
    case OptionKind::word: return "word";
    case OptionKind::release: return "word or keep:N";
  }
  return "?";
}

void validate(const PymallocConfig& c) {
  for (const OptionDef& d : option_defs()) {
    const OptionValue v = d.get(c);
    if (!in_range(d, v)) fail(d.name, format_value(d, v), allowed_text(d));
  }
  const std::string t = std::to_string(c.threshold);
  if (c.threshold % c.alignment != 0)
    fail("threshold", t, "a multiple of alignment (" + std::to_string(c.alignment) + ")");
  if (c.arena_size < 4ull * c.pool_size)
    fail("arena_size", format_bytes(c.arena_size),
         "at least 4 pools (" + format_bytes(4ull * c.pool_size) + ")");
  if ((c.pool_size - kPoolHeaderBytes) / c.threshold < 4)
    fail("threshold", t,
         "the largest class must fit at least 4 blocks in a " + format_bytes(c.pool_size) +
             " pool (threshold at most " +
             std::to_string((c.pool_size - kPoolHeaderBytes) / 4 / c.alignment * c.alignment) +
             ")");
  const long page = sysconf(_SC_PAGESIZE);
  if (c.pool_purge != PoolPurge::none && page > 0 && c.pool_size < static_cast<uint64_t>(page))
    fail("pool_size", format_bytes(c.pool_size),
         "at least a page (" + format_bytes(static_cast<uint64_t>(page)) +
             " here) when pool_purge is on: madvise works on whole pages");
  if (c.arena_source == ArenaSource::malloc && c.arena_alignment == ArenaAlignment::aligned)
    fail("arena_alignment", "aligned", "needs arena_source=mmap (malloc does not align arenas to their size)");
  if (c.arena_source == ArenaSource::malloc && c.arena_hugepages != ArenaHugepages::none)
    fail("arena_hugepages", "madvise", "needs arena_source=mmap (madvise needs page-aligned arenas)");
}

std::vector<OptionInfo> option_table() {
  const PymallocConfig defaults;
  std::vector<OptionInfo> out;
  for (const OptionDef& d : option_defs())
    out.push_back({d.name, d.unit, d.kind, d.min, d.max, d.step, d.words, format_value(d, d.get(defaults)),
                   allowed_text(d), d.help});
  return out;
}

std::string check_option_value(std::string_view name, std::string_view value) {
  const OptionDef& d = find_option(name);
  return format_value(d, parse_value(d, value));
}

std::vector<std::string> option_values(std::string_view name, std::optional<std::string_view> low,
                                       std::optional<std::string_view> high) {
  const OptionDef& d = find_option(name);
  // Positions in the option's order: numbers by value; words by index, keep:N after them.
  const auto position = [&](OptionValue v) -> uint64_t {
    if (d.kind == OptionKind::word || (d.kind == OptionKind::release && v.word < d.words.size())) return v.word;
    if (d.kind == OptionKind::release) return d.words.size() + (v.number - d.min);
    return v.number;
  };
  const OptionValue first = low ? parse_value(d, *low) : OptionValue{};
  const OptionValue last = high ? parse_value(d, *high) : OptionValue{};
  if (low && high && position(first) > position(last))
    throw ConfigError(std::string(d.name) + "=" + std::string(*low) + ".." + std::string(*high) +
                      ": the first value comes after the last (values go in the order " +
                      allowed_text(d) + ")");
  std::vector<std::string> out;
  const auto add = [&](OptionValue v) {
    if (out.size() == kMostOptionValues)
      throw ConfigError(std::string(d.name) + ": more than " + std::to_string(kMostOptionValues) +
                        " values in the range; give a narrower one");
    out.push_back(format_value(d, v));
  };
  switch (d.kind) {
    case OptionKind::power_of_two:
    case OptionKind::stepped: {
      const uint64_t from = low ? first.number : d.min;
      const uint64_t to = high ? last.number : d.max;
      for (uint64_t n = from; n <= to; n = d.kind == OptionKind::stepped ? n + d.step : n * 2) add({n, 0});
      break;
    }
    case OptionKind::word:
    case OptionKind::release: {
      const uint64_t from = low ? position(first) : 0;
      if (d.kind == OptionKind::release && !high)
        throw ConfigError(std::string(d.name) + ": keep:N takes up to " + std::to_string(d.max) +
                          " values; give the last one (e.g. " + std::string(d.name) + "=never..keep:4)");
      const uint64_t to = high ? position(last) : d.words.size() - 1;
      for (uint64_t p = from; p <= to; ++p)
        add(p < d.words.size() ? OptionValue{0, p} : OptionValue{p - d.words.size() + d.min, d.words.size()});
      break;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> config_items(const PymallocConfig& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const OptionDef& d : option_defs()) out.emplace_back(d.name, format_value(d, d.get(config)));
  return out;
}

const std::vector<PresetInfo>& presets() {
  using R = ArenaRelease;
  using O = ArenaOrder;
  static const std::vector<PresetInfo> table = {
      {"cpython-3.11",
       "CPython 3.11 and 3.12 on 64-bit (3.10 alike but for the radix tree's root): 512 B threshold, "
       "16 B alignment, 16 KiB pools, 1 MiB arenas, keep one empty arena (bpo-37257), most-used arena "
       "first; read off a real 3.11 (docs/pymalloc-facts.md, 'Constants by era')",
       era(512, 16, 16 * KiB, MiB, R::keep_one, O::most_used_first)},
      {"cpython-3.9",
       "CPython 3.9: 4 KiB pools, 256 KiB arenas, keeps one empty arena (bpo-37257); read off a real "
       "3.9 (docs/pymalloc-facts.md, 'Constants by era')",
       era(512, 16, 4 * KiB, 256 * KiB, R::keep_one, O::most_used_first)},
      {"cpython-3.8",
       "CPython 3.8 (and 3.7.4+): 16 B alignment (bpo-27987), 4 KiB pools, 256 KiB arenas, returns an "
       "arena as soon as it is empty; read off a real 3.8 (docs/pymalloc-facts.md, 'Constants by era')",
       era(512, 16, 4 * KiB, 256 * KiB, R::immediate, O::most_used_first)},
      {"cpython-3.7",
       "CPython 3.x up to 3.7.3: 8 B alignment, 512 B threshold in 64 classes, 4 KiB pools, 256 KiB "
       "arenas, immediate release; an era approximation from the sources (3.7.4 moved to 16 B: use "
       "cpython-3.8) (docs/pymalloc-facts.md, 'Constants by era')",
       era(512, 8, 4 * KiB, 256 * KiB, R::immediate, O::most_used_first)},
      {"cpython-2.5",
       "CPython 2.5 and early 2.7: 256 B threshold, 8 B alignment, 4 KiB pools, 256 KiB arenas, the "
       "first to return empty arenas; an era approximation (2.7.17+ has 16 B alignment and 2.7.18 a "
       "512 B threshold) (docs/pymalloc-facts.md, 'Constants by era')",
       era(256, 8, 4 * KiB, 256 * KiB, R::immediate, O::most_used_first)},
      {"cpython-2.4",
       "CPython up to 2.4: as 2.5 but arenas were never returned; an approximation: 2.4 kept one "
       "global list of free pools and one current arena, modelled here as per-arena lists used "
       "last-in first-out (docs/pymalloc-facts.md, 'Constants by era')",
       era(256, 8, 4 * KiB, 256 * KiB, R::never, O::lifo)},
  };
  return table;
}

const char* kind_name(AllocatorKind kind) {
  switch (kind) {
    case AllocatorKind::pymalloc: return "pymalloc";
    case AllocatorKind::system: return "system";
    case AllocatorKind::cpython: return "cpython";
    case AllocatorKind::floor: return "floor";
  }
  return "?";
}

std::string AllocatorSpec::canonical() const {
  std::string out = kind_name(kind);
  if (kind != AllocatorKind::pymalloc) return out;
  char sep = ':';
  for (const auto& [name, value] : config_items(pymalloc)) {
    out += sep + name + "=" + value;
    sep = ',';
  }
  return out;
}

AllocatorSpec parse_spec(std::string_view text) {
  const std::string_view whole = trim(text);
  const size_t colon = whole.find(':');
  const std::string_view kind = trim(whole.substr(0, colon));
  const std::string_view rest = colon == std::string_view::npos ? "" : whole.substr(colon + 1);

  AllocatorSpec spec;
  if (kind == "system") spec.kind = AllocatorKind::system;
  else if (kind == "cpython") spec.kind = AllocatorKind::cpython;
  else if (kind == "floor") spec.kind = AllocatorKind::floor;
  else if (kind == "pymalloc") spec.kind = AllocatorKind::pymalloc;
  else
    throw ConfigError("allocator '" + std::string(kind) +
                      "': unknown; expected pymalloc[:key=value,...], system, cpython or floor");

  if (spec.kind != AllocatorKind::pymalloc) {
    if (colon != std::string_view::npos)
      throw ConfigError("allocator '" + std::string(kind) + "' takes no options (got '" +
                        std::string(rest) + "')");
    return spec;
  }

  // Split key=value items; the preset applies first, whatever its position.
  std::vector<std::pair<std::string_view, std::string_view>> items;
  std::string_view remaining = rest;
  while (colon != std::string_view::npos) {
    const size_t comma = remaining.find(',');
    const std::string_view item = trim(remaining.substr(0, comma));
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || trim(item.substr(0, eq)).empty()) {
      std::string names;
      for (const OptionDef& d : option_defs()) names += ", " + std::string(d.name);
      throw ConfigError("pymalloc option '" + std::string(item) + "': expected key=value (options: preset" +
                        names + ")");
    }
    items.emplace_back(trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
    if (comma == std::string_view::npos) break;
    remaining = remaining.substr(comma + 1);
  }
  for (size_t i = 0; i < items.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (items[i].first == items[j].first)
        throw ConfigError(std::string(items[i].first) + "=" + std::string(items[i].second) +
                          ": given twice");

  spec.pymalloc = presets().front().config;
  spec.preset = presets().front().name;
  for (const auto& [key, value] : items) {
    if (key != "preset") continue;
    auto it = std::find_if(presets().begin(), presets().end(),
                           [&](const PresetInfo& p) { return p.name == value; });
    if (it == presets().end()) fail("preset", value, "one of " + preset_names());
    spec.pymalloc = it->config;
    spec.preset = it->name;
  }
  for (const auto& [key, value] : items) {
    if (key == "preset") continue;
    const OptionDef& d = find_option(key);
    d.set(spec.pymalloc, parse_value(d, value));
  }
  validate(spec.pymalloc);
  return spec;
}

}  // namespace allocbench
