// The in-memory backend: tests inject frames, run the pipeline, then inspect what was sent,
// passed to the kernel, and whether every buffer came back. No NIC, no threads.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "io/backend.h"
#include "io/buffer_pool.h"

namespace ingress::io {

class MemoryBackend final : public Backend {
public:
    struct Frame {
        uint16_t queue;
        std::vector<uint8_t> bytes;
    };

    explicit MemoryBackend(uint32_t ifindex = 1, uint16_t queues = 1, uint32_t buffers = 1024,
                           uint32_t buf_size = 2048);

    // Queues a copy of `frame` for rx on `queue`. Returns false when no buffer is free or the
    // frame does not fit in one (counted in stats()). `hw_ns`: the frame comes with a
    // hardware receive stamp, left before the frame in the buffer as AF_XDP's metadata area
    // holds it (core::kFlagHwTstamp; the frame then needs 8 bytes less than a buffer).
    bool inject(std::span<const uint8_t> frame, uint16_t queue = 0, uint64_t rx_ns = 0,
                std::optional<uint64_t> hw_ns = std::nullopt);

    uint16_t rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept override;
    uint16_t tx_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept override;
    void pass_burst(uint16_t queue, core::Packet* pkts, uint16_t n) noexcept override;
    void free_bulk(const uint64_t* bufs, uint16_t n) noexcept override;
    bool try_alloc(core::Packet& pkt, uint32_t len) noexcept override;
    BackendStats stats() const noexcept override { return stats_; }
    std::string name() const override { return "memory"; }

    const std::vector<Frame>& sent() const noexcept { return sent_; }
    const std::vector<Frame>& passed() const noexcept { return passed_; }
    std::size_t pending(uint16_t queue = 0) const noexcept { return rxq_[queue].size(); }
    const BufferPool& pool() const noexcept { return pool_; }
    // A tx that refuses frames (to test the caller's handling of a full TX ring).
    void set_tx_capacity(std::size_t n) noexcept { tx_capacity_ = n; }
    // Models a backend with no path to the kernel (AF_XDP): set before building the pipeline.
    void set_can_pass(bool on) noexcept { can_pass_ = on; }
    bool can_pass() const noexcept override { return can_pass_; }

private:
    struct Pending {
        uint64_t buf;
        uint32_t len;
        uint64_t rx_ns;
        bool hw;  // the frame starts kHwOff bytes in, after its hardware stamp
    };
    static constexpr uint32_t kHwOff = sizeof(uint64_t);
    uint32_t ifindex_;
    BufferPool pool_;
    std::vector<std::deque<Pending>> rxq_;
    std::vector<Frame> sent_, passed_;
    std::size_t tx_capacity_ = SIZE_MAX;
    bool can_pass_ = true;
    BackendStats stats_;
};

}  // namespace ingress::io
