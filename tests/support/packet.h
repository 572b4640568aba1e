// A Packet over a test-owned byte vector, as l2 would leave it (for calling one stage).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/packet.h"
#include "ipv4/rcv_core.h"

namespace ingress::test {

inline core::Packet packet_over(std::vector<uint8_t>& bytes, uint16_t l3_off = 14,
                                core::PktType type = core::PktType::kHost,
                                uint16_t ethertype = 0x0800) {
    core::Packet p;
    p.data = bytes.data();
    p.len = static_cast<uint32_t>(bytes.size());
    p.l3_off = l3_off;
    p.pkt_type = type;
    p.ethertype = ethertype;
    p.ifindex = 1;
    return p;
}

// What rcv_core establishes (ipv4::set_l3_meta: l4_off, ip_proto, addresses, id, fragment
// bits, tos, ttl), for calling a later stage directly on a Packet whose l3_off points at an IPv4
// header. Returns the packet.
inline core::Packet& fill_l3_meta(core::Packet& p) {
    auto ip = wire::Ipv4View::try_view(p.l3());
    if (!ip) std::abort();  // a test bug: no IPv4 header at l3_off
    ipv4::set_l3_meta(p, *ip);
    return p;
}

}  // namespace ingress::test
