#pragma once

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "l2/port.h"

namespace ingress::l2 {

// Kernel-equivalent: net/ethernet/eth.c eth_type_trans().
// Reads:  frame bytes (Ethernet header), port.mac.
// Writes: pkt.pkt_type, pkt.ethertype, pkt.l3_off (only pkt_type under kFlagL2Parsed: the
//         backend parsed the header while steering).
// Next:   vlan_untag.
// Drops:  PKT_TOO_SMALL (a runt shorter than ETH_HLEN: drivers drop these before
//         eth_type_trans, counted as rx_length_errors; we name it).
core::Verdict eth_type_trans(core::Packet& pkt, const Port& port) noexcept;

// The pkt_type eth_type_trans() gives a frame for `dst` on `port`: our address -> HOST;
// I/G bit set -> BROADCAST if ff:ff:ff:ff:ff:ff (the device's broadcast address), else
// MULTICAST; anything else -> OTHERHOST. The kernel does not check multicast filters here:
// a multicast frame the NIC let through is MULTICAST whatever the group. Inline: every
// frame's first step.
inline core::PktType eth_pkt_type(const wire::Mac& dst, const Port& port) noexcept {
    if (dst == port.mac) return core::PktType::kHost;
    if (dst.is_multicast())
        return dst.is_broadcast() ? core::PktType::kBroadcast : core::PktType::kMulticast;
    return core::PktType::kOtherhost;
}

}  // namespace ingress::l2
