// Frames the pipeline builds during a burst (ICMP errors) wait here and go out in one
// tx_burst at the end of the burst. Buffers come from the backend (try_alloc); frames the
// backend does not accept are freed and counted, never leaked.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "core/packet.h"
#include "io/backend.h"

namespace ingress::io {

class TxQueue {
public:
    static constexpr uint16_t kCapacity = core::kBurst;

    bool full() const noexcept { return n_ == kCapacity; }
    uint16_t size() const noexcept { return n_; }
    // The caller filled `pkt` from backend.try_alloc(); false (and the caller frees it) when
    // the queue is full.
    [[nodiscard]] bool try_push(const core::Packet& pkt) noexcept {
        if (n_ == kCapacity) return false;
        pkts_[n_++] = pkt;
        return true;
    }
    // The frames queued so far, in order (the outgoing taps' copies are taken from here,
    // just before flush()).
    std::span<const core::Packet> pending() const noexcept { return {pkts_.data(), n_}; }
    // Moves everything queued to `out` (room for kCapacity), emptying the queue; returns how
    // many. The buffers are the caller's from then on.
    uint16_t take(core::Packet* out) noexcept {
        const uint16_t n = n_;
        for (uint16_t i = 0; i < n; ++i) out[i] = pkts_[i];
        n_ = 0;
        return n;
    }
    // Sends everything queued; returns how many the backend refused (already freed).
    uint16_t flush(Backend& backend, uint16_t queue) noexcept {
        if (n_ == 0) return 0;
        uint16_t sent = backend.tx_burst(queue, pkts_.data(), n_);
        uint16_t refused = static_cast<uint16_t>(n_ - sent);
        for (uint16_t i = 0; i < refused; ++i) bufs_[i] = pkts_[sent + i].buf;
        if (refused) backend.free_bulk(bufs_.data(), refused);
        n_ = 0;
        return refused;
    }

private:
    std::array<core::Packet, kCapacity> pkts_{};
    std::array<uint64_t, kCapacity> bufs_{};
    uint16_t n_ = 0;
};

}  // namespace ingress::io
