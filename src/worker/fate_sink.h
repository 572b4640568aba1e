// The one place a packet's fate is counted and its buffer given back.
//
// Stages return Verdicts; the batch loop hands every non-continue verdict to settle(). The
// sink counts the fate (and the drop reason), queues the buffer for one free_bulk() /
// pass_burst() per burst, and never calls the backend per packet.
//
// Buffers come from two places: the backend (every received frame) and the reassembly pool
// (a datagram defrag rebuilt, marked core::kFlagReassembled). A reassembled packet's buffer
// goes back to the reassembly pool, whatever its fate; the fragments it was built from go
// back to the backend through release() when defrag reaps them.
//
// A fragment handed in by a worker of another backend (another interface, handoff.h) is
// settled like any other, but its buffer goes home on the mesh's return ring: set_home()
// names the worker whose buffers are being settled.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "io/backend.h"
#include "io/buffer_pool.h"
#include "worker/handoff.h"
#include "worker/observe.h"

namespace ingress::worker {

class FateSink {
public:
    FateSink(io::Backend& backend, core::CounterBlock& counters) noexcept
        : backend_(backend), c_(counters), can_pass_(backend.can_pass()) {}

    // Counts the packet's fate; its buffer goes back at flush() (held buffers stay with
    // whoever holds them).
    void settle(core::Packet& pkt, core::Verdict v) noexcept {
        // The common fate first, inline: a received frame of this worker's delivered.
        if (v.kind() == core::Verdict::Kind::kDelivered && !(pkt.flags & core::kFlagReassembled) &&
            home_ == me_) [[likely]] {
            c_.delivered(pkt.frames);
            free_[nfree_++] = pkt.buf;
            if (nfree_ == kCap) flush();
            return;
        }
        settle_any(pkt, v);
    }

private:
    void settle_any(core::Packet& pkt, core::Verdict v) noexcept {
        using Kind = core::Verdict::Kind;
        // A backend with no path to the kernel (AF_XDP: a frame in the UMEM cannot re-enter
        // the receive path): what would be passed is dropped under a reason of its own, so
        // nothing is counted passed that the kernel never sees.
        if (v.kind() == Kind::kPass && !can_pass_) [[unlikely]]
            v = core::Verdict::drop(core::DropReason::kXdpUnpassable);
        switch (v.kind()) {
            case Kind::kDrop:
                c_.dropped(v.reason(), pkt.frames);
                // Drop capture (set only during observed bursts): a copy before the buffer
                // goes back.
                if (obs_) [[unlikely]]
                    obs_->dropped(pkt, v.reason());
                give_back(pkt);
                break;
            case Kind::kDelivered:
                c_.delivered(pkt.frames);
                give_back(pkt);
                break;
            case Kind::kPass:
                // A passed frame reaches the kernel. A reassembled datagram has no frame to pass
                // (its fragments' buffers went back when it was built): the stages drop it with
                // their own reason (REASM_KERNEL_PROTO); reaching here is a wiring bug.
                if (pkt.flags & core::kFlagReassembled) {
                    assert(!"reassembled datagram passed");
                    c_.dropped(core::DropReason::kNotSpecified, pkt.frames);
                    give_back(pkt);
                    break;
                }
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
                give_back(pkt);
                break;
        }
        if (nfree_ == kCap || npass_ == kCap) flush();
    }

public:
    // A backend buffer whose frame's fate was already counted elsewhere (a fragment consumed
    // into a reassembled datagram): back to the backend at flush(), nothing counted.
    void release(uint64_t buf) noexcept {
        if (foreign()) [[unlikely]]
            return send_home(buf);
        free_[nfree_++] = buf;
        if (nfree_ == kCap) flush();
    }

    // Where kFlagReassembled buffers go back (the worker's defrag pool).
    void set_reasm_pool(io::BufferPool* pool) noexcept { reasm_ = pool; }

    // The handoff mesh and this worker's index in it (null: every buffer is the backend's).
    void set_mesh(HandoffMesh* mesh, uint16_t me) noexcept {
        mesh_ = mesh;
        me_ = home_ = me;
    }
    // Whose buffers settle() and release() take from now on: a mesh index (the worker that
    // received them). Reset to this worker's own after each handed-in batch.
    void set_home(uint16_t w) noexcept { home_ = w; }
    uint16_t home() const noexcept { return home_; }
    uint16_t me() const noexcept { return me_; }

    // Gives the queued buffers back to the backend: once per burst.
    void flush() noexcept {
        if (nfree_) backend_.free_bulk(free_.data(), nfree_);
        if (npass_) backend_.pass_burst(pass_queue_, pass_.data(), npass_);
        nfree_ = npass_ = 0;
    }

    void set_queue(uint16_t q) noexcept { pass_queue_ = q; }
    void set_observer(Observer* o) noexcept { obs_ = o; }
    core::CounterBlock& counters() noexcept { return c_; }

private:
    void give_back(const core::Packet& pkt) noexcept {
        if (pkt.flags & core::kFlagReassembled) {
            reasm_->put(pkt.buf);
        } else if (foreign()) [[unlikely]] {
            send_home(pkt.buf);
        } else {
            free_[nfree_++] = pkt.buf;
        }
    }
    bool foreign() const noexcept {
        return home_ != me_ && mesh_ && !mesh_->same_backend(home_, me_);
    }
    void send_home(uint64_t buf) noexcept {
        // Cannot be full: the ring holds more than one worker can hold of another's buffers
        // (handoff.h).
        const bool ok = mesh_->returns(me_, home_).try_push(buf);
        assert(ok);
        (void)ok;
    }

    static constexpr uint16_t kCap = core::kBurst;
    io::Backend& backend_;
    io::BufferPool* reasm_ = nullptr;
    HandoffMesh* mesh_ = nullptr;
    uint16_t me_ = 0, home_ = 0;
    Observer* obs_ = nullptr;
    core::CounterBlock& c_;
    bool can_pass_;
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
