// config.cpp — the option table, the presets and the spec parser. See config.h.
#include "config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace allocbench {
namespace {

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

[[noreturn]] void fail(std::string_view field, std::string_view value, std::string_view allowed) {
  throw ConfigError(std::string(field) + "=" + std::string(value) + ": " + std::string(allowed));
}

// Reads "16384", "16K", "1M" (K = 1024). Rejects signs, blanks, fractions and overflow.
uint64_t parse_size(std::string_view field, std::string_view text, std::string_view allowed) {
  std::string_view digits = text;
  uint64_t scale = 1;
  if (!digits.empty()) {
    char last = static_cast<char>(std::toupper(static_cast<unsigned char>(digits.back())));
    if (last == 'K') scale = KiB;
    if (last == 'M') scale = MiB;
    if (scale != 1) digits.remove_suffix(1);
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      value > std::numeric_limits<uint64_t>::max() / scale) {
    fail(field, text, std::string(allowed) + " (a whole number of bytes, K and M suffixes allowed)");
  }
  return value * scale;
}

template <class Enum>
struct Choice {
  const char* text;
  Enum value;
};

constexpr Choice<PoolPurge> kPurgeChoices[] = {
    {"none", PoolPurge::none}, {"dontneed", PoolPurge::dontneed}, {"free", PoolPurge::free}};
constexpr Choice<ArenaOrder> kOrderChoices[] = {{"most-used-first", ArenaOrder::most_used_first},
                                                {"lifo", ArenaOrder::lifo},
                                                {"address", ArenaOrder::address}};
constexpr Choice<ArenaAlignment> kAlignmentChoices[] = {{"cpython", ArenaAlignment::cpython},
                                                        {"aligned", ArenaAlignment::aligned}};

template <class Enum, size_t N>
std::string choices_text(const Choice<Enum> (&choices)[N]) {
  std::string out = "one of ";
  for (size_t i = 0; i < N; ++i) out += (i ? ", " : "") + std::string(choices[i].text);
  return out;
}

template <class Enum, size_t N>
Enum parse_choice(std::string_view field, std::string_view text, const Choice<Enum> (&choices)[N]) {
  for (const auto& c : choices)
    if (text == c.text) return c.value;
  fail(field, text, choices_text(choices));
}

template <class Enum, size_t N>
std::string format_choice(Enum value, const Choice<Enum> (&choices)[N]) {
  for (const auto& c : choices)
    if (c.value == value) return c.text;
  return "?";
}

constexpr const char* kReleaseAllowed =
    "one of never, immediate, keep-one, keep:N (N from 1 to 1000000)";

ArenaRelease parse_release(std::string_view text, uint32_t& keep) {
  keep = 0;
  if (text == "never") return ArenaRelease::never;
  if (text == "immediate") return ArenaRelease::immediate;
  if (text == "keep-one") return ArenaRelease::keep_one;
  if (text.substr(0, 5) == "keep:") {
    std::string_view digits = text.substr(5);
    uint32_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (!digits.empty() && ec == std::errc() && end == digits.data() + digits.size() && n >= 1 &&
        n <= 1000000) {
      keep = n;
      return ArenaRelease::keep_n;
    }
  }
  fail("arena_release", text, kReleaseAllowed);
}

std::string format_release(const PymallocConfig& c) {
  switch (c.arena_release) {
    case ArenaRelease::never: return "never";
    case ArenaRelease::immediate: return "immediate";
    case ArenaRelease::keep_one: return "keep-one";
    case ArenaRelease::keep_n: return "keep:" + std::to_string(c.keep_empty_arenas);
  }
  return "?";
}

// The option table: the one place where an option is named. Range checks that involve a
// single option live in its parser; those across options live in validate().
struct OptionDef {
  const char* name;
  const char* unit;
  std::string allowed;
  const char* help;
  void (*parse)(PymallocConfig&, std::string_view);
  std::string (*format)(const PymallocConfig&);
};

const std::vector<OptionDef>& option_defs() {
  static const std::vector<OptionDef> defs = {
      {"threshold", "bytes", "a multiple of alignment, up to 4K",
       "largest request pymalloc serves; larger ones and 0 bytes go to system malloc",
       [](PymallocConfig& c, std::string_view v) {
         uint64_t n = parse_size("threshold", v, "a multiple of alignment, up to 4K");
         if (n == 0 || n > 4 * KiB) fail("threshold", v, "a multiple of alignment, up to 4K");
         c.threshold = static_cast<uint32_t>(n);
       },
       [](const PymallocConfig& c) { return format_bytes(c.threshold); }},
      {"alignment", "bytes", "8 or 16", "block alignment and size-class spacing",
       [](PymallocConfig& c, std::string_view v) {
         uint64_t n = parse_size("alignment", v, "8 or 16");
         if (n != 8 && n != 16) fail("alignment", v, "8 or 16");
         c.alignment = static_cast<uint32_t>(n);
       },
       [](const PymallocConfig& c) { return std::to_string(c.alignment); }},
      {"pool_size", "bytes", "a power of two from 4K to 256K",
       "size of a pool; a pool serves one size class",
       [](PymallocConfig& c, std::string_view v) {
         uint64_t n = parse_size("pool_size", v, "a power of two from 4K to 256K");
         if (!is_power_of_two(n) || n < 4 * KiB || n > 256 * KiB)
           fail("pool_size", v, "a power of two from 4K to 256K");
         c.pool_size = static_cast<uint32_t>(n);
       },
       [](const PymallocConfig& c) { return format_bytes(c.pool_size); }},
      {"arena_size", "bytes", "a power of two, at least 4 pools, up to 64M",
       "size of an arena, the unit obtained from the OS with mmap",
       [](PymallocConfig& c, std::string_view v) {
         uint64_t n = parse_size("arena_size", v, "a power of two, at least 4 pools, up to 64M");
         if (!is_power_of_two(n) || n > 64 * MiB)
           fail("arena_size", v, "a power of two, at least 4 pools, up to 64M");
         c.arena_size = static_cast<uint32_t>(n);
       },
       [](const PymallocConfig& c) { return format_bytes(c.arena_size); }},
      {"arena_release", "policy", kReleaseAllowed,
       "when a wholly empty arena goes back to the OS: never; immediate (CPython 2.5-3.8); "
       "keep-one (CPython 3.9+: unless it is the last usable arena; at most one under the "
       "other arena orders); keep:N (retain up to N)",
       [](PymallocConfig& c, std::string_view v) {
         c.arena_release = parse_release(v, c.keep_empty_arenas);
       },
       format_release},
      {"pool_purge", "policy", choices_text(kPurgeChoices),
       "give an emptied pool's pages back with madvise(MADV_DONTNEED or MADV_FREE), keeping the "
       "address space (no CPython does this)",
       [](PymallocConfig& c, std::string_view v) {
         c.pool_purge = parse_choice("pool_purge", v, kPurgeChoices);
       },
       [](const PymallocConfig& c) { return format_choice(c.pool_purge, kPurgeChoices); }},
      {"arena_order", "policy", choices_text(kOrderChoices),
       "which usable arena serves the next new pool: most-used-first (CPython: sorted by free "
       "pools, ascending), lifo (most recently usable), address (lowest address)",
       [](PymallocConfig& c, std::string_view v) {
         c.arena_order = parse_choice("arena_order", v, kOrderChoices);
       },
       [](const PymallocConfig& c) { return format_choice(c.arena_order, kOrderChoices); }},
      {"arena_alignment", "policy", choices_text(kAlignmentChoices),
       "cpython: take the arena where mmap puts it and lose the partial first pool; aligned: "
       "arenas aligned to their size, no pool lost",
       [](PymallocConfig& c, std::string_view v) {
         c.arena_alignment = parse_choice("arena_alignment", v, kAlignmentChoices);
       },
       [](const PymallocConfig& c) { return format_choice(c.arena_alignment, kAlignmentChoices); }},
  };
  return defs;
}

std::string option_names() {
  std::string out;
  for (const auto& d : option_defs()) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
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
  c.arena_alignment = ArenaAlignment::cpython;
  return c;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string ConfigError::one_line(const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string format_bytes(uint64_t bytes) {
  if (bytes != 0 && bytes % MiB == 0) return std::to_string(bytes / MiB) + "M";
  if (bytes != 0 && bytes % KiB == 0) return std::to_string(bytes / KiB) + "K";
  return std::to_string(bytes);
}

void validate(const PymallocConfig& c) {
  const std::string t = std::to_string(c.threshold);
  if (c.alignment != 8 && c.alignment != 16)
    fail("alignment", std::to_string(c.alignment), "8 or 16");
  if (c.threshold == 0 || c.threshold > 4 * KiB || c.threshold % c.alignment != 0)
    fail("threshold", t,
         "a multiple of alignment (" + std::to_string(c.alignment) + "), up to 4K");
  if (!is_power_of_two(c.pool_size) || c.pool_size < 4 * KiB || c.pool_size > 256 * KiB)
    fail("pool_size", format_bytes(c.pool_size), "a power of two from 4K to 256K");
  if (!is_power_of_two(c.arena_size) || c.arena_size > 64 * MiB ||
      c.arena_size < 4ull * c.pool_size)
    fail("arena_size", format_bytes(c.arena_size),
         "a power of two, at least 4 pools (" + format_bytes(4ull * c.pool_size) + "), up to 64M");
  const uint32_t largest_blocks = (c.pool_size - kPoolHeaderBytes) / c.threshold;
  if (largest_blocks < 4)
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
  const bool keep_n = c.arena_release == ArenaRelease::keep_n;
  if (keep_n != (c.keep_empty_arenas != 0) || c.keep_empty_arenas > 1000000)
    fail("arena_release", format_release(c), kReleaseAllowed);
}

std::vector<OptionInfo> option_table() {
  const PymallocConfig defaults;
  std::vector<OptionInfo> out;
  for (const auto& d : option_defs())
    out.push_back({d.name, d.unit, d.format(defaults), d.allowed, d.help});
  return out;
}

std::vector<std::pair<std::string, std::string>> config_items(const PymallocConfig& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& d : option_defs()) out.emplace_back(d.name, d.format(config));
  return out;
}

const std::vector<PresetInfo>& presets() {
  using R = ArenaRelease;
  using O = ArenaOrder;
  static const std::vector<PresetInfo> table = {
      {"cpython-3.11",
       "CPython 3.10-3.12, 64-bit with the radix tree: 512 B threshold, 16 B alignment, 16 KiB "
       "pools, 1 MiB arenas, keep one empty arena (bpo-37257), most-used arena first; read off a "
       "real 3.11 (pymalloc-facts.md, 'Constants by era', last row)",
       era(512, 16, 16 * KiB, MiB, R::keep_one, O::most_used_first)},
      {"cpython-3.9",
       "CPython 3.9: 4 KiB pools, 256 KiB arenas, keeps one empty arena (bpo-37257); from the "
       "interpreter's history (pymalloc-facts.md, 'Constants by era')",
       era(512, 16, 4 * KiB, 256 * KiB, R::keep_one, O::most_used_first)},
      {"cpython-3.8",
       "CPython 3.8: 16 B alignment (bpo-27987), 4 KiB pools, 256 KiB arenas, returns an arena as "
       "soon as it is empty; from the interpreter's history (pymalloc-facts.md)",
       era(512, 16, 4 * KiB, 256 * KiB, R::immediate, O::most_used_first)},
      {"cpython-3.7",
       "CPython 3.x before 3.8: 8 B alignment, 512 B threshold in 64 classes, 4 KiB pools, "
       "256 KiB arenas, immediate release; from the interpreter's history (pymalloc-facts.md)",
       era(512, 8, 4 * KiB, 256 * KiB, R::immediate, O::most_used_first)},
      {"cpython-2.5",
       "CPython 2.5-2.7: 256 B threshold, 8 B alignment, 4 KiB pools, 256 KiB arenas, the first "
       "to return empty arenas; from the interpreter's history (pymalloc-facts.md)",
       era(256, 8, 4 * KiB, 256 * KiB, R::immediate, O::most_used_first)},
      {"cpython-2.4",
       "CPython up to 2.4: as 2.5 but arenas were never returned; an approximation: 2.4 kept one "
       "global list of free pools, modelled here as per-arena lists used last-in first-out "
       "(pymalloc-facts.md, 'Constants by era')",
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
    if (eq == std::string_view::npos || trim(item.substr(0, eq)).empty())
      throw ConfigError("pymalloc option '" + std::string(item) +
                        "': expected key=value (options: preset, " + option_names() + ")");
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
    auto it = std::find_if(option_defs().begin(), option_defs().end(),
                           [&](const OptionDef& d) { return key == d.name; });
    if (it == option_defs().end())
      throw ConfigError("pymalloc option '" + std::string(key) +
                        "': unknown (options: preset, " + option_names() + ")");
    it->parse(spec.pymalloc, value);
  }
  validate(spec.pymalloc);
  return spec;
}

}  // namespace allocbench
