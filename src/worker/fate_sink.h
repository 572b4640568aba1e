// The one place a packet's fate is counted and its buffer given back.
//
// Stages return Verdicts; the batch loop hands every non-continue verdict to settle(). The
// sink counts the fate (and the drop reason), queues the buffer for one free_bulk() /
// pass_burst() per burst, and never calls the backend per packet.
#pragma once

#include <array>
#include <cstdint>

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "io/backend.h"

namespace ingress::worker {

class FateSink {
public:
    FateSink(io::Backend& backend, core::CounterBlock& counters) noexcept
        : backend_(backend), c_(counters) {}

    // Counts the packet's fate; its buffer goes back at flush() (held buffers stay with
    // whoever holds them).
    void settle(core::Packet& pkt, core::Verdict v) noexcept {
        using Kind = core::Verdict::Kind;
        switch (v.kind()) {
        case Kind::kDrop:
            c_.dropped(v.reason(), pkt.frames);
            free_[nfree_++] = pkt.buf;
            break;
        case Kind::kDelivered:
            c_.delivered(pkt.frames);
            free_[nfree_++] = pkt.buf;
            break;
        case Kind::kPass:
            c_.passed(pkt.frames);
            pass_[npass_++] = pkt;
            break;
        case Kind::kHeld:
            c_.held(pkt.frames);
            break;
        case Kind::kContinue:
            // A packet that left the pipeline without a fate is a bug in the wiring; count
            // it as an unspecified drop rather than lose it.
            c_.dropped(core::DropReason::kNotSpecified, pkt.frames);
            free_[nfree_++] = pkt.buf;
            break;
        }
        if (nfree_ == kCap || npass_ == kCap) flush();
    }

    // Gives the queued buffers back to the backend: once per burst.
    void flush() noexcept {
        if (nfree_) backend_.free_bulk(free_.data(), nfree_);
        if (npass_) backend_.pass_burst(pass_queue_, pass_.data(), npass_);
        nfree_ = npass_ = 0;
    }

    void set_queue(uint16_t q) noexcept { pass_queue_ = q; }
    core::CounterBlock& counters() noexcept { return c_; }

private:
    static constexpr uint16_t kCap = core::kBurst;
    io::Backend& backend_;
    core::CounterBlock& c_;
    std::array<uint64_t, kCap> free_{};
    std::array<core::Packet, kCap> pass_{};
    uint16_t nfree_ = 0, npass_ = 0, pass_queue_ = 0;
};

// Runs `stage` over every packet of the batch; packets that continue are compacted to the
// front, the others are settled. Written once; every stage goes through it.
template <class Stage>
inline void run_stage(core::PacketBatch& batch, FateSink& sink, Stage&& stage) noexcept {
    uint16_t keep = 0;
    for (uint16_t i = 0; i < batch.count; ++i) {
        core::Packet& pkt = batch.pkts[i];
        core::Verdict v = stage(pkt);
        if (v.is_next()) {
            if (keep != i) batch.pkts[keep] = pkt;
            ++keep;
        } else {
            sink.settle(pkt, v);
        }
    }
    batch.count = keep;
}

}  // namespace ingress::worker
