#pragma once

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "l2/port.h"

namespace ingress::l2 {

// Kernel-equivalent: net/core/dev.c __netif_receive_skb_core() -> skb_vlan_untag() and
// vlan_do_receive() (net/8021q/vlan_core.c), for software-untagged frames.
//   - An 802.1Q / 802.1ad tag is moved out of the frame into pkt.vlan_tci / vlan_tpid
//     (kFlagVlan); pkt.l3_off and pkt.ethertype move past it.
//   - A sub-interface for the VID exists: the frame now belongs to it (pkt.ifindex), and an
//     OTHERHOST frame addressed to the sub-interface's MAC becomes HOST.
//   - No sub-interface and VID != 0: pkt_type becomes OTHERHOST (so IPv4 drops it).
//   - VID 0 (priority tag) with no sub-interface: handled as untagged; if another tag
//     follows, it is untagged in turn (802.1p outer header over QinQ).
//   - kFlagL2Parsed: the first tag was pulled by the backend (io/dpdk/steer.h); the rest
//     is done here as above.
// Reads:  pkt.ethertype, pkt.l3_off, pkt.flags, frame bytes, port.vlans.
// Writes: pkt.vlan_tci, pkt.vlan_tpid, pkt.flags, pkt.l3_off, pkt.ethertype, pkt.ifindex,
//         pkt.pkt_type.
// Next:   taps, ptype_dispatch.
// Drops:  PKT_TOO_SMALL (tag truncated; the kernel frees it with NOT_SPECIFIED).
// Counts: IngressL2VlanTagged.
core::Verdict vlan_untag(core::Packet& pkt, const Port& port, core::CounterBlock& c) noexcept;

}  // namespace ingress::l2
