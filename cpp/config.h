// config.h — every tunable of allocbench's allocators, the presets, and the textual spec.
//
// Owns:
//   * PymallocConfig: the parameters of a pymalloc variant. Its member initialisers are the
//     cpython-3.11 defaults.
//   * The option table (config.cpp): each option declared once, as typed data: its name,
//     unit, kind (a power-of-two byte size, a byte size in steps, a word from a list, or the
//     release policy's words plus keep:N), its range, its default and its help. The spec
//     parser, validate(), the listings (`allocbench list options`, the README table) and the
//     sweep's grid enumeration (option_values) all read that table; nothing else names an
//     option or restates a range.
//   * The presets (CPython eras), each citing docs/pymalloc-facts.md.
//   * AllocatorSpec: the parsed form of "pymalloc:preset=cpython-3.11,pool_size=64K",
//     "system", "cpython" or "floor", and its canonical text.
//
// Invariants (checked by validate(), which parse_spec() always calls; a config that fails it
// is never built):
//   * every option's value lies in its table row's kind and range;
//   * threshold is a multiple of alignment;
//   * arena_size is at least 4 pools;
//   * the largest size class fits at least 4 blocks in a pool after the pool header;
//   * pool_purge other than none needs pools of at least one page;
//   * keep_empty_arenas is non-zero if and only if arena_release is keep:N.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace allocbench {

// A spec or config that cannot be built. what() is one line naming the field, the value
// and what is allowed.
class ConfigError : public std::invalid_argument {
 public:
  explicit ConfigError(const std::string& message) : std::invalid_argument(one_line(message)) {}

  // User text can hold anything: the message goes through text.h's one_line().
  static std::string one_line(const std::string& text);
};

enum class ArenaRelease { never, immediate, keep_one, keep_n };
enum class PoolPurge { none, dontneed, free };
enum class ArenaOrder { most_used_first, lifo, address };
enum class ArenaAlignment { cpython, aligned };
enum class ArenaHugepages { none, madvise };
enum class ArenaSource { mmap, malloc };

// Bytes of the pool header, as in CPython's 64-bit struct pool_header (rounded up to the
// alignment, which for 8 and 16 leaves it at 48).
inline constexpr uint32_t kPoolHeaderBytes = 48;

struct PymallocConfig {
  uint32_t threshold = 512;
  uint32_t alignment = 16;
  uint32_t pool_size = 16 * 1024;
  uint32_t arena_size = 1024 * 1024;
  ArenaRelease arena_release = ArenaRelease::keep_one;
  uint32_t keep_empty_arenas = 0;  // N of keep:N; 0 for the other policies
  PoolPurge pool_purge = PoolPurge::none;
  ArenaOrder arena_order = ArenaOrder::most_used_first;
  ArenaAlignment arena_alignment = ArenaAlignment::cpython;
  ArenaHugepages arena_hugepages = ArenaHugepages::none;
  ArenaSource arena_source = ArenaSource::mmap;

  bool operator==(const PymallocConfig&) const = default;
};

// Throws ConfigError when an invariant above does not hold.
void validate(const PymallocConfig& config);

// The kinds of value an option takes.
enum class OptionKind {
  power_of_two,  // a power of two in [min, max] (bytes: K and M suffixes)
  stepped,       // a multiple of step in [min, max] (bytes: K and M suffixes)
  word,          // one of words
  release,       // one of words, or keep:N with N in [min, max]
};
const char* option_kind_name(OptionKind kind);

// One row of the option table, as the listings, the bindings and the grids see it.
struct OptionInfo {
  std::string name;
  std::string unit;
  OptionKind kind;
  uint64_t min = 0;   // power_of_two, stepped: bytes; release: N of keep:N
  uint64_t max = 0;
  uint64_t step = 0;  // stepped only
  std::vector<std::string> words;
  std::string default_value;
  std::string allowed;  // the kind and range in words, e.g. "a power of two from 4K to 256K"
  std::string help;
};
std::vector<OptionInfo> option_table();

// Checks `value` against option `name`'s kind and range alone (the checks across options are
// validate()'s) and returns its canonical text ("65536" -> "64K"). Throws ConfigError for an
// unknown option or a value it does not allow.
std::string check_option_value(std::string_view name, std::string_view value);

// Every allowed value of option `name` from `low` to `high` (inclusive, in the option's
// order: numbers ascending, words as listed, keep:N after the words by N), canonical text.
// Without bounds, the whole range; the keep:N values then need an upper bound. Throws
// ConfigError for an unknown option, a bound it does not allow, low after high, or more
// than kMostOptionValues values.
inline constexpr size_t kMostOptionValues = size_t{1} << 21;
std::vector<std::string> option_values(std::string_view name, std::optional<std::string_view> low,
                                       std::optional<std::string_view> high);

// Every option of the config, as name -> canonical text, in table order.
std::vector<std::pair<std::string, std::string>> config_items(const PymallocConfig& config);

struct PresetInfo {
  std::string name;
  std::string description;  // what it models and where the numbers come from
  PymallocConfig config;
};
const std::vector<PresetInfo>& presets();

enum class AllocatorKind { pymalloc, system, cpython, floor };

struct AllocatorSpec {
  AllocatorKind kind = AllocatorKind::pymalloc;
  PymallocConfig pymalloc;        // meaningful for kind == pymalloc
  std::string preset = "";        // the preset the config started from, if any

  // Canonical text: parse_spec(canonical()) yields the same spec.
  std::string canonical() const;
};

// Parses "pymalloc[:key=value,...]", "system", "cpython" or "floor". Throws ConfigError.
AllocatorSpec parse_spec(std::string_view text);

const char* kind_name(AllocatorKind kind);

// "16K", "1M" or plain bytes: the form the spec parser reads back.
std::string format_bytes(uint64_t bytes);

}  // namespace allocbench
