// A Packet over a test-owned byte vector, as l2 would leave it (for calling one stage).
#pragma once

#include <cstdint>
#include <vector>

#include "core/packet.h"

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

}  // namespace ingress::test
