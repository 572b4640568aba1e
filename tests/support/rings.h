// Endpoint rings for tests, and what an app reads from them.
//
// Endpoints deliver only into shared-memory rings (demux/delivery.h), so stage tests give
// each endpoint real rings and read them back with the app's own consumer (shm::RingConsumer):
// what a test sees is exactly what libingress would hand an app.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "demux/delivery.h"
#include "shm/ring.h"

namespace ingress::test {

// Rings for one endpoint: `slots` datagrams per worker ring (rounded up to the ring's
// power of two, at least 2), at least `payload` bytes each (a slot holds 56 at least: the
// smallest slot, 128 bytes, less the record).
inline std::shared_ptr<demux::ShmRings> rings(uint32_t slots = 256, uint32_t payload = 2048,
                                              uint16_t workers = 1) {
    static std::atomic<uint32_t> next_id{1};
    constexpr uint32_t kLine = shm::kCacheLine;
    const uint32_t bytes =
        static_cast<uint32_t>(sizeof(shm::SlotMeta)) +
        std::max<uint32_t>(payload, shm::RingGeometry::kMinSlotSize -
                                        static_cast<uint32_t>(sizeof(shm::SlotMeta)));
    const shm::RingGeometry g{std::bit_ceil(std::max(slots, 2u)),
                              (bytes + kLine - 1) / kLine * kLine};
    return std::make_shared<demux::ShmRings>(next_id++, workers, g);
}

// One datagram as the app read it: the slot's record and its payload.
struct Received {
    shm::SlotMeta meta;
    std::vector<uint8_t> bytes;
    std::vector<uint8_t> ip_opts;  // after the payload: IP_RECVOPTS ++ IP_RETOPTS (record.h)
};

// Everything waiting in the endpoint's rings (worker 0's first, each oldest first), read
// and released as an app's recv does: datagrams with a checksum left for the reader are
// verified, and the bad ones dropped and counted in the ring (ShmRings::read_counts).
inline std::vector<Received> take(const demux::ShmRings& r) {
    std::vector<Received> out;
    for (uint16_t w = 0; w < r.workers(); ++w) {
        shm::RingConsumer c(r.region(w).data());
        uint32_t idx;
        while (const uint32_t n = c.peek_verified(UINT32_MAX, &idx, true)) {
            for (uint32_t i = 0; i < n; ++i) {
                std::span<const uint8_t> p = c.payload(idx + i);
                const shm::SlotMeta& m = c.meta(idx + i);
                const uint8_t* o = p.data() + p.size();
                out.push_back({m, {p.begin(), p.end()}, {o, o + m.ip_optlen + m.ip_retoptlen}});
            }
            c.release(n);
        }
    }
    return out;
}

// Fills every free slot of worker 0's ring with an empty datagram (for tests of what a full
// ring does; no drop is counted); returns how many it took.
inline uint32_t fill_up(demux::ShmRings& r) {
    uint32_t n = 0;
    while (r.used() < r.geometry().slot_count)
        if (r.try_emplace([](shm::SlotMeta&) noexcept {}, {})) ++n;
    return n;
}

}  // namespace ingress::test
