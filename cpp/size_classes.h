// size_classes.h — the size-class table of a pymalloc variant.
//
// Owns the mapping request size -> size class -> block size -> blocks per pool, exactly as
// CPython's obmalloc computes it (docs/pymalloc-facts.md, "Size classes"):
//
//   class(n)            = (n - 1) >> log2(alignment)        for 1 <= n <= threshold
//   block_size(class)   = (class + 1) * alignment
//   blocks_per_pool(c)  = (pool_size - 48) / block_size(c)
//   quantization(c)     = (pool_size - 48) % block_size(c)   bytes at the end of each pool
//
// With the cpython-3.11 preset (alignment 16, threshold 512, 16 KiB pools):
//
//   request    class  block  blocks/pool  quantization
//     1..16        0     16         1021             0
//    17..32        1     32          510            16
//      ...
//   497..512      31    512           31           464
//
// Invariant (is_valid): every class fits at least 4 blocks in a pool (config.h guarantees it
// for the largest, hence for all), and blocks * size + quantization == pool_size - header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace allocbench {

class SizeClasses {
 public:
  explicit SizeClasses(const PymallocConfig& config);

  uint32_t count() const { return count_; }
  uint32_t threshold() const { return threshold_; }
  uint32_t pool_size() const { return pool_size_; }

  // n must be in [1, threshold].
  uint32_t index(size_t n) const { return static_cast<uint32_t>(n - 1) >> shift_; }
  uint32_t block_size(uint32_t cls) const { return (cls + 1) << shift_; }
  uint32_t blocks_per_pool(uint32_t cls) const { return blocks_per_pool_[cls]; }
  uint32_t quantization(uint32_t cls) const {
    return (pool_size_ - kPoolHeaderBytes) % block_size(cls);
  }
  // The block a request of n bytes is served from; 0 when it is not served from a pool
  // (0 bytes, or above the threshold: the lower allocator's).
  uint64_t block_for(uint64_t n) const { return n == 0 || n > threshold_ ? 0 : block_size(index(n)); }

  // Empty when the invariants hold, else a description of the first that does not.
  std::string is_valid() const;

 private:
  uint32_t shift_;
  uint32_t count_;
  uint32_t threshold_;
  uint32_t pool_size_;
  std::vector<uint32_t> blocks_per_pool_;
};

}  // namespace allocbench
