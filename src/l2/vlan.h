#pragma once

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "l2/port.h"

namespace ingress::l2 {

// Kernel-equivalent: net/core/dev.c __netif_receive_skb_core() -> skb_vlan_untag(), for
// software-untagged frames: an 802.1Q / 802.1ad tag is moved out of the frame into
// pkt.vlan_tci / vlan_tpid (kFlagVlan); pkt.l3_off and pkt.ethertype move past it. Nothing
// else changes yet: the packet taps' ptype_all round on the port runs next and sees
// eth_type_trans()'s pkt_type, as in the kernel. With kFlagL2Parsed the backend's steering
// (io/dpdk/steer.h) already pulled the first tag: it is only counted here.
// Reads:  pkt.ethertype, pkt.l3_off, frame bytes.
// Writes: pkt.vlan_tci, pkt.vlan_tpid, pkt.flags, pkt.l3_off, pkt.ethertype.
// Next:   taps (ptype_all on the port), vlan_do_receive.
// Drops:  PKT_TOO_SMALL (tag truncated; the kernel frees it with NOT_SPECIFIED).
// Counts: IngressL2VlanTagged.
core::Verdict vlan_untag(core::Packet& pkt, core::CounterBlock& c) noexcept;

// Kernel-equivalent: net/8021q/vlan_core.c vlan_do_receive() and the check_vlan_id branch of
// __netif_receive_skb_core(), for a frame vlan_untag tagged:
//   - A sub-interface for the VID exists: the frame now belongs to it (pkt.ifindex), and an
//     OTHERHOST frame addressed to the sub-interface's MAC becomes HOST.
//   - No sub-interface and VID != 0: pkt_type becomes OTHERHOST (so IPv4 drops it).
//   - VID 0 (priority tag) with no sub-interface: handled as untagged; if another tag
//     follows, it is untagged in turn (802.1p outer header over QinQ) and looked up again.
// Reads:  pkt.flags, pkt.vlan_tci, pkt.pkt_type, pkt.ethertype, frame bytes, port.vlans.
// Writes: pkt.ifindex, pkt.pkt_type; for an inner tag, what vlan_untag writes.
// Next:   taps (another_round on a sub-interface, ptype_base), ptype_dispatch.
// Drops:  PKT_TOO_SMALL (inner tag truncated).
core::Verdict vlan_do_receive(core::Packet& pkt, const Port& port) noexcept;

}  // namespace ingress::l2
