// size_classes.cpp — see size_classes.h.
#include "size_classes.h"

namespace allocbench {

SizeClasses::SizeClasses(const PymallocConfig& config)
    : shift_(config.alignment == 16 ? 4 : 3),
      count_(config.threshold / config.alignment),
      threshold_(config.threshold),
      pool_size_(config.pool_size) {
  blocks_per_pool_.reserve(count_);
  for (uint32_t c = 0; c < count_; ++c)
    blocks_per_pool_.push_back((pool_size_ - kPoolHeaderBytes) / block_size(c));
}

std::string SizeClasses::is_valid() const {
  if ((1u << shift_) * count_ != threshold_) return "size classes do not end at the threshold";
  for (uint32_t c = 0; c < count_; ++c) {
    const uint32_t usable = pool_size_ - kPoolHeaderBytes;
    if (blocks_per_pool_[c] < 4)
      return "class " + std::to_string(c) + " fits fewer than 4 blocks in a pool";
    if (blocks_per_pool_[c] * block_size(c) + quantization(c) != usable)
      return "class " + std::to_string(c) + ": blocks and quantization do not fill the pool";
    if (index(block_size(c)) != c || (c > 0 && index(block_size(c - 1) + 1) != c))
      return "class " + std::to_string(c) + ": request sizes do not map back to it";
  }
  return "";
}

}  // namespace allocbench
