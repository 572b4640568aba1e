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

// The pkt_type eth_type_trans() gives a frame for `dst` on `port`.
core::PktType eth_pkt_type(const wire::Mac& dst, const Port& port) noexcept;

}  // namespace ingress::l2
