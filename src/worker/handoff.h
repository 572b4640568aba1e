// Worker-to-worker handoff of fragments: one SPSC ring per ordered pair of workers, so each
// ring has exactly one producer (the worker that received the fragment) and one consumer
// (the worker that owns its datagram, ipv4::defrag_owner()). The mesh spans every worker of
// every interface, since the kernel's reassembly key has no interface (src/ipv4/defrag.md).
// Built before the workers start; no allocation afterwards.
//
// Buffers: the owner gives a handed-in fragment's buffer back through its own backend when
// both workers receive into the same one (the backend sends it home: AF_XDP return rings,
// a DPDK mempool). Workers of different backends (another interface) cannot: the owner
// pushes the buffer onto the return ring `returns(owner, home)` and the home worker frees
// it through its backend when it drains its return rings (every burst).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/packet.h"
#include "core/spsc_ring.h"

namespace ingress::worker {

class HandoffMesh {
public:
    // `backends[w]`: which backend worker w receives into (workers with the same value share
    // one); empty: all share one, and there are no return rings. `return_capacity`: entries
    // per return ring; it must bound the buffers one worker can hold of another's at once
    // (ring_capacity + the owner's held fragments + two bursts; see Dataplane), so a return
    // never fails.
    HandoffMesh(uint16_t n_workers, uint32_t ring_capacity, std::vector<uint16_t> backends = {},
                uint32_t return_capacity = 0)
        : n_(n_workers), backends_(std::move(backends)) {
        if (backends_.empty()) backends_.assign(n_, 0);
        rings_.reserve(std::size_t{n_} * n_);
        returns_.resize(std::size_t{n_} * n_);
        for (uint16_t from = 0; from < n_; ++from)
            for (uint16_t to = 0; to < n_; ++to) {
                rings_.push_back(std::make_unique<core::SpscRing<core::Packet>>(ring_capacity));
                if (!same_backend(from, to))
                    returns_[std::size_t{from} * n_ + to] =
                        std::make_unique<core::SpscRing<uint64_t>>(return_capacity);
            }
    }
    uint16_t workers() const noexcept { return n_; }
    core::SpscRing<core::Packet>& ring(uint16_t from, uint16_t to) noexcept {
        return *rings_[std::size_t{from} * n_ + to];
    }
    bool same_backend(uint16_t a, uint16_t b) const noexcept {
        return backends_[a] == backends_[b];
    }
    // Buffers of `home`'s backend that worker `from` is done with (only between workers of
    // different backends).
    core::SpscRing<uint64_t>& returns(uint16_t from, uint16_t home) noexcept {
        return *returns_[std::size_t{from} * n_ + home];
    }

private:
    uint16_t n_;
    std::vector<uint16_t> backends_;
    std::vector<std::unique_ptr<core::SpscRing<core::Packet>>> rings_;
    std::vector<std::unique_ptr<core::SpscRing<uint64_t>>> returns_;
};

}  // namespace ingress::worker
