// Fixed-size buffers for the memory and pcap backends, with ownership checks: every buffer
// is either free or lent out, and giving back a buffer that is not lent out is counted (a
// double free), never silently accepted. Tests assert outstanding() == 0 and
// double_frees() == 0 after every run ("no buffer leaked, none freed twice").
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/packet.h"
#include "io/rx_packet.h"

namespace ingress::io {

class BufferPool {
public:
    BufferPool(uint32_t count, uint32_t buf_size);

    // Handle of a free buffer, or nullopt-like UINT64_MAX when none is left.
    static constexpr uint64_t kNone = UINT64_MAX;
    // Inline: a handful of instructions on every receive and every fate (bench_defrag).
    uint64_t try_get() noexcept {
        if (free_.empty()) return kNone;
        const uint32_t h = free_.back();
        free_.pop_back();
        lent_[h] = 1;
        return h;
    }
    void put(uint64_t handle) noexcept {
        if (handle >= count_ || !lent_[handle]) {
            ++double_frees_;
            return;
        }
        lent_[handle] = 0;
        free_.push_back(static_cast<uint32_t>(handle));
    }

    // Lends a buffer as a fresh Packet of `len` bytes (the backends' try_alloc and rx):
    // pkt is reset; data, buf, len, queue (kept from pkt) and ifindex set. False when no
    // buffer is free or len does not fit one.
    [[nodiscard]] bool try_lend(core::Packet& pkt, uint32_t len, uint32_t ifindex) noexcept {
        if (len > buf_size_) return false;
        uint64_t b = try_get();
        if (b == kNone) return false;
        init_packet(pkt, data(b), len, b, pkt.queue, ifindex, 0);
        return true;
    }

    uint8_t* data(uint64_t handle) noexcept { return mem_.get() + handle * buf_size_; }
    uint32_t buf_size() const noexcept { return buf_size_; }
    uint32_t count() const noexcept { return count_; }
    uint32_t outstanding() const noexcept { return count_ - static_cast<uint32_t>(free_.size()); }
    uint64_t double_frees() const noexcept { return double_frees_; }

private:
    uint32_t count_, buf_size_;
    std::unique_ptr<uint8_t[]> mem_;  // left uninitialised: untouched pages cost nothing
    std::vector<uint32_t> free_;      // stack of free handles
    std::vector<uint8_t> lent_;       // 1 while lent out
    uint64_t double_frees_ = 0;
};

}  // namespace ingress::io
