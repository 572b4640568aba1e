// What every backend does to a Packet it hands out (rx_burst, try_alloc): one place, so
// each backend keeps the promise io/backend.h makes (data, len, buf, queue, ifindex and
// rx_ns set; every other field at its default).
#pragma once

#include <time.h>

#include <cstdint>

#include "core/packet.h"

namespace ingress::io {

// The receive clock of the AF_XDP and DPDK backends: CLOCK_REALTIME in nanoseconds, the
// clock of the kernel's software receive timestamps (SO_TIMESTAMPNS, which is what an app's
// recvmsg() sees). Read once per burst (a vDSO call, not a system call): every frame of a
// burst gets the burst's time, so timestamps never decrease along a queue (unless the wall
// clock is set back: the kernel's SO_TIMESTAMPNS stamps behave the same). The memory
// backend's clock is what the test injects; the pcap backend's, the capture's timestamps.
inline uint64_t rx_clock_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Resets `pkt` and makes it describe one buffer. try_alloc passes rx_ns = 0 (built, not
// received).
inline void init_packet(core::Packet& pkt, uint8_t* data, uint32_t len, uint64_t buf,
                        uint16_t queue, uint32_t ifindex, uint64_t rx_ns) noexcept {
    pkt = core::Packet{};
    pkt.data = data;
    pkt.buf = buf;
    pkt.rx_ns = rx_ns;
    pkt.len = len;
    pkt.ifindex = ifindex;
    pkt.queue = queue;
}

}  // namespace ingress::io
