// stats.cpp — figures and the debugmallocstats text. See stats.h.
#include "stats.h"

#include <cstdio>
#include <sstream>

namespace allocbench {

std::string debug_stats_line(const std::string& message, uint64_t value) {
  std::string digits = std::to_string(value);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  std::string line = message;
  if (line.size() < 35) line.append(35 - line.size(), ' ');
  line += '=';
  if (grouped.size() < 21) line.append(21 - grouped.size(), ' ');
  return line + grouped + "\n";
}

std::string PymallocStats::accounting_error() const {
  const uint64_t accounted = allocated_block_bytes + available_block_bytes +
                             unused_pools * config.pool_size + pool_header_bytes +
                             quantization_bytes + arena_alignment_bytes;
  if (accounted == arena_bytes()) return "";
  return "accounted bytes " + std::to_string(accounted) + " != arenas * arena_size " +
         std::to_string(arena_bytes());
}

Figures PymallocStats::figures() const {
  Figures f;
  for (const auto& [name, value] : config_items(config)) f.note(name.c_str(), value);
  f.note("sizes_known", sizes_known ? "yes" : "no");
  if (sizes_known) {
    f.add("live_bytes", live_bytes);
    f.add("peak_live_bytes", peak_live_bytes);
  }
  f.add("live_block_bytes", live_block_bytes);
  f.add("peak_block_bytes", peak_block_bytes);
  f.add("arenas_current", arenas_current);
  f.add("arenas_peak", arenas_peak);
  f.add("arenas_allocated_total", arenas_allocated_total);
  f.add("arenas_reclaimed", arenas_reclaimed);
  f.add("empty_arenas_retained", empty_arenas_retained);
  f.add("bytes_mapped", bytes_mapped);
  f.add("peak_bytes_mapped", peak_bytes_mapped);
  f.add("bytes_purged_total", bytes_purged_total);
  f.add("bytes_purged_current", bytes_purged_current);
  f.add("arena_footprint_bytes", arena_footprint_bytes);
  f.add("peak_arena_footprint_bytes", peak_arena_footprint_bytes);
  f.add("footprint_bytes", footprint_bytes);
  f.add("peak_footprint_bytes", peak_footprint_bytes);
  f.add("mmap_calls", mmap_calls);
  f.add("munmap_calls", munmap_calls);
  f.add("madvise_calls", madvise_calls);
  f.add("arena_malloc_calls", arena_malloc_calls);
  f.add("arena_free_calls", arena_free_calls);
  f.add("passthrough_calls", passthrough_calls);
  if (sizes_known) {
    f.add("passthrough_live_objects", passthrough_live_objects);
    f.add("passthrough_live_bytes", passthrough_live_bytes);
    f.add("passthrough_peak_bytes", passthrough_peak_bytes);
  }
  f.add("arena_bytes", arena_bytes());
  f.add("allocated_block_bytes", allocated_block_bytes);
  f.add("available_block_bytes", available_block_bytes);
  f.add("unused_pools", unused_pools);
  f.add("unused_pool_bytes", unused_pools * config.pool_size);
  f.add("pool_header_bytes", pool_header_bytes);
  f.add("quantization_bytes", quantization_bytes);
  f.add("arena_alignment_bytes", arena_alignment_bytes);
  f.add("arena_map_bytes", arena_map_bytes);
  return f;
}

std::string PymallocStats::debug_malloc_stats() const {
  std::string out = "Small block threshold = " + std::to_string(config.threshold) + ", in " +
                    std::to_string(size_class_count) + " size classes.\n\n";
  out +=
      "class   size   num pools   blocks in use  avail blocks\n"
      "-----   ----   ---------   -------------  ------------\n";
  char row[96];
  for (const SizeClassStats& c : classes) {
    if (c.pools == 0) continue;
    std::snprintf(row, sizeof row, "%5u %6u %11llu %15llu %13llu\n", c.size_class, c.block_size,
                  static_cast<unsigned long long>(c.pools),
                  static_cast<unsigned long long>(c.blocks_in_use),
                  static_cast<unsigned long long>(c.blocks_available));
    out += row;
  }
  out += "\n";
  out += debug_stats_line("# arenas allocated total", arenas_allocated_total);
  out += debug_stats_line("# arenas reclaimed", arenas_reclaimed);
  out += debug_stats_line("# arenas highwater mark", arenas_peak);
  out += debug_stats_line("# arenas allocated current", arenas_current);
  out += debug_stats_line(std::to_string(arenas_current) + " arenas * " +
                              std::to_string(config.arena_size) + " bytes/arena",
                          arena_bytes());
  out += "\n";
  uint64_t total = 0;
  auto account = [&](const std::string& message, uint64_t value) {
    out += debug_stats_line(message, value);
    total += value;
  };
  account("# bytes in allocated blocks", allocated_block_bytes);
  account("# bytes in available blocks", available_block_bytes);
  account(std::to_string(unused_pools) + " unused pools * " + std::to_string(config.pool_size) +
              " bytes",
          unused_pools * config.pool_size);
  account("# bytes lost to pool headers", pool_header_bytes);
  account("# bytes lost to quantization", quantization_bytes);
  account("# bytes lost to arena alignment", arena_alignment_bytes);
  out += debug_stats_line("Total", total);
  out += "\n";
  out += debug_stats_line("# bytes lost to arena map", arena_map_bytes);
  if (bytes_purged_total != 0 || config.pool_purge != PoolPurge::none) {
    out += debug_stats_line("# bytes purged (madvise) now", bytes_purged_current);
    out += debug_stats_line("# bytes purged (madvise) total", bytes_purged_total);
  }
  if (sizes_known) out += debug_stats_line("# pass-through (lower allocator) live bytes", passthrough_live_bytes);
  return out;
}

std::optional<uint64_t> ParsedMallocStats::counter(std::string_view message) const {
  for (const auto& [name, value] : counters)
    if (name == message) return value;
  return std::nullopt;
}

std::optional<ParsedMallocStats> parse_debug_malloc_stats(std::string_view text) {
  const auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
    return s;
  };
  const auto digits = [](std::string_view s, uint64_t& out) {
    uint64_t value = 0;
    bool any = false;
    for (char c : s) {
      if (c >= '0' && c <= '9') {
        value = value * 10 + static_cast<uint64_t>(c - '0');
        any = true;
      } else if (c != ',') {
        return false;
      }
    }
    out = value;
    return any;
  };
  ParsedMallocStats out;
  bool found = false;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    unsigned threshold = 0, count = 0;
    if (std::sscanf(line.c_str(), "Small block threshold = %u, in %u size classes", &threshold, &count) == 2) {
      out.threshold = threshold;
      out.size_class_count = count;
      found = true;
      continue;
    }
    unsigned cls = 0, size = 0;
    unsigned long long pools = 0, in_use = 0, available = 0;
    char rest = 0;
    if (std::sscanf(line.c_str(), "%u %u %llu %llu %llu %c", &cls, &size, &pools, &in_use, &available, &rest) == 5) {
      SizeClassStats c;
      c.size_class = cls;
      c.block_size = size;
      c.pools = pools;
      c.blocks_in_use = in_use;
      c.blocks_available = available;
      c.blocks_per_pool = pools == 0 ? 0 : static_cast<uint32_t>((in_use + available) / pools);
      out.classes.push_back(c);
      continue;
    }
    const size_t eq = line.rfind('=');
    uint64_t value = 0;
    if (eq == std::string::npos || !digits(trim(std::string_view(line).substr(eq + 1)), value)) continue;
    const std::string message(trim(std::string_view(line).substr(0, eq)));
    unsigned long long arenas = 0, arena_size = 0;
    if (std::sscanf(message.c_str(), "%llu arenas * %llu bytes/arena", &arenas, &arena_size) == 2)
      out.arena_size = arena_size;
    out.counters.emplace_back(message, value);
  }
  if (!found) return std::nullopt;
  return out;
}

}  // namespace allocbench
