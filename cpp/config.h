// config.h — every tunable of allocbench's allocators, the presets, and the textual spec.
//
// Owns:
//   * PymallocConfig: the parameters of a pymalloc variant. Its member initialisers are the
//     cpython-3.11 defaults; the option table in config.cpp declares, once, each option's
//     name, unit, allowed range and help text. Nothing else in the code names an option.
//   * The presets (CPython eras), each citing ../shared/reference/pymalloc-facts.md.
//   * AllocatorSpec: the parsed form of "pymalloc:preset=cpython-3.11,pool_size=64K",
//     "system", "cpython" or "floor", and its canonical text.
//
// Invariants (checked by validate(), which parse_spec() always calls; a config that fails it
// is never built):
//   * alignment is 8 or 16; threshold is a multiple of alignment in [alignment, 4096];
//   * pool_size is a power of two in [4K, 256K]; arena_size a power of two in
//     [4 * pool_size, 64M];
//   * the largest size class fits at least 4 blocks in a pool after the pool header;
//   * arena_release keep:N has 1 <= N <= 1,000,000.
#pragma once

#include <cstdint>
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

 private:
  // User text can hold anything: control characters are shown escaped, so the message
  // stays one printable line.
  static std::string one_line(const std::string& text);
};

enum class ArenaRelease { never, immediate, keep_one, keep_n };
enum class PoolPurge { none, dontneed, free };
enum class ArenaOrder { most_used_first, lifo, address };
enum class ArenaAlignment { cpython, aligned };

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

  bool operator==(const PymallocConfig&) const = default;
};

// Throws ConfigError when an invariant above does not hold.
void validate(const PymallocConfig& config);

// One row of the option table, for listings and documentation.
struct OptionInfo {
  std::string name;
  std::string unit;
  std::string default_value;
  std::string allowed;
  std::string help;
};
std::vector<OptionInfo> option_table();

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
