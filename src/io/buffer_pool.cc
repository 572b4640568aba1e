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

}  // namespace ingress::io
