// Worker-to-worker handoff of fragments: one SPSC ring per ordered pair of workers, so each
// ring has exactly one producer (the worker that received the fragment) and one consumer
// (the worker that owns its datagram, ipv4::defrag_owner()). Built before the workers start;
// no allocation afterwards. See src/ipv4/defrag.md.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/packet.h"
#include "core/spsc_ring.h"

namespace ingress::worker {

class HandoffMesh {
public:
    HandoffMesh(uint16_t n_workers, uint32_t ring_capacity) : n_(n_workers) {
        rings_.reserve(std::size_t{n_} * n_);
        for (std::size_t i = 0; i < std::size_t{n_} * n_; ++i)
            rings_.push_back(std::make_unique<core::SpscRing<core::Packet>>(ring_capacity));
    }
    uint16_t workers() const noexcept { return n_; }
    core::SpscRing<core::Packet>& ring(uint16_t from, uint16_t to) noexcept {
        return *rings_[std::size_t{from} * n_ + to];
    }

private:
    uint16_t n_;
    std::vector<std::unique_ptr<core::SpscRing<core::Packet>>> rings_;
};

}  // namespace ingress::worker
