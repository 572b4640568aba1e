#include "io/buffer_pool.h"

#include <stdexcept>

namespace ingress::io {

BufferPool::BufferPool(uint32_t count, uint32_t buf_size)
    : count_(count),
      buf_size_(buf_size),
      mem_(new uint8_t[std::size_t{count} * buf_size]),
      lent_(count, 0) {
    if (count == 0 || buf_size == 0) throw std::invalid_argument("BufferPool: empty pool");
    free_.reserve(count);
    for (uint32_t i = count; i-- > 0;) free_.push_back(i);
}

uint64_t BufferPool::try_get() noexcept {
    if (free_.empty()) return kNone;
    uint32_t h = free_.back();
    free_.pop_back();
    lent_[h] = 1;
    return h;
}

void BufferPool::put(uint64_t handle) noexcept {
    if (handle >= count_ || !lent_[handle]) {
        ++double_frees_;
        return;
    }
    lent_[handle] = 0;
    free_.push_back(static_cast<uint32_t>(handle));
}

}  // namespace ingress::io
