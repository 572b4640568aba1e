// Packet taps: AF_PACKET sockets' view of every frame, before IP sees it.
#pragma once

#include <array>
#include <cstdint>

#include "core/packet.h"
#include "core/verdict.h"
#include "demux/endpoint_table.h"
#include "l2/port.h"

namespace ingress::demux {

// Preallocated scratch for the one case that needs a contiguous copy: a SOCK_RAW tap with
// a filter on a frame whose VLAN tag was moved to metadata (the filter must see the frame
// as the tap receives it, without the tag).
struct TapScratch {
    static constexpr std::size_t kBytes = 16384;
    std::array<uint8_t, kBytes> bytes;
    const DeliveryCtx* delivery = nullptr;  // the delivering worker; nullptr = worker 0
    // Bytes the frame had on the wire beyond pkt.len: a copy the XDP program cut at its snap
    // length (the record's orig_len counts them, and it is flagged truncated). 0 otherwise.
    uint32_t cut = 0;
};

// Kernel-equivalent: net/core/dev.c __netif_receive_skb_core() delivering to packet sockets
// (deliver_skb over ptype_all, then ptype_base / ptype_specific), net/packet/af_packet.c
// packet_rcv() (framing, run_filter, sockaddr_ll, tpacket_auxdata) and fanout_demux()
// (PACKET_FANOUT_HASH / PACKET_FANOUT_LB). Two stages, where the kernel's two deliveries are:
//   tap_deliver_port   ptype_all on the port, after skb_vlan_untag and before
//                      vlan_do_receive: ETH_P_ALL taps see every frame, OTHERHOST included,
//                      with the VLAN tag in aux data and eth_type_trans's pkt_type (a frame
//                      of an unknown VLAN is still HOST here; IP later drops it as OTHERHOST).
//   tap_deliver_final  after vlan_do_receive: when the frame moved to a VLAN sub-interface
//                      (another_round), ETH_P_ALL taps see it once more on that interface,
//                      untagged; then ethertype taps see frames of their ethertype once, on
//                      the final interface (bound to it, to the port, or to all), without
//                      VLAN aux data (the tag is cleared by then).
//   - SOCK_RAW: link header + packet (the tag is not in the bytes: it is in aux data);
//     SOCK_DGRAM: from the network header.
//   - The filter runs on the bytes as delivered; 0 rejects (counted per tap, SOCKET_FILTER),
//     otherwise it is the snap length.
//   - A fanout group delivers each frame to one member: flow hash or round robin.
// Reads:  the frame, pkt.ifindex, pkt.pkt_type, pkt.ethertype, pkt.l3_off, pkt.vlan_*,
//         pkt.flags, pkt.rx_ns, port.ifindex.
// Writes: tap queues only. A tap copy never changes the frame's fate.
// Next:   tap_deliver_port: vlan_do_receive; tap_deliver_final: ptype_dispatch.
core::Verdict tap_deliver_port(const core::Packet& pkt, const l2::Port& port,
                               const EndpointTable& t, TapScratch& scratch) noexcept;
core::Verdict tap_deliver_final(const core::Packet& pkt, const l2::Port& port,
                                const EndpointTable& t, TapScratch& scratch) noexcept;

// Kernel-equivalent: net/core/dev.c dev_queue_xmit_nit() (from xmit_one, as the frame goes
// to the driver): a frame the dataplane sends reaches the ptype_all taps (ETH_P_ALL, bound to
// the sending device or to all) as PACKET_OUTGOING, stamped `tstamp_ns` (CLOCK_REALTIME, as
// net_timestamp_set), skipping taps with PACKET_IGNORE_OUTGOING (the prot_hook's
// ignore_outgoing). Ethertype taps (ptype_base, an ETH_P_IP tap) do not see outgoing frames:
// dev_queue_xmit_nit walks ptype_all and dev->ptype_all only. A frame sent on a VLAN
// sub-interface is seen twice, as the kernel's vlan device and then its real device each
// call it: untagged on the sub-interface, then on the port with the tag in aux data.
// sll_addr is the frame's source MAC (eth_header_parse), ours. Framing, filter, snap length,
// fanout and the ring-full count as packet_rcv() for an incoming frame.
// Reads:  the built frame (link header at data), frame.ifindex, frame.len.
// Writes: tap queues only.
void tap_deliver_outgoing(const core::Packet& frame, const l2::Port& port, const EndpointTable& t,
                          TapScratch& scratch, uint64_t tstamp_ns) noexcept;

// Kernel-equivalent: a datagram sent to one of our own addresses (ICMP answers routed LOCAL,
// ipv4/icmp_send.h "Looped back") as lo shows it to packet taps: dev_queue_xmit on lo ->
// dev_queue_xmit_nit (PACKET_OUTGOING, ETH_P_ALL taps on lo or on all devices, not those with
// PACKET_IGNORE_OUTGOING), then loopback_xmit -> __netif_rx, and from the backlog
// __netif_receive_skb_core on lo: ptype_all, then ptype_base (PACKET_HOST; an ETH_P_IP tap
// sees this copy). Both copies carry lo's Ethernet header (zero MACs) and `pkt.rx_ns`
// (loopback_xmit clears the stamp, netif_rx sets it: one clock for both here). A tap bound
// to a port never sees them.
// Reads:  the looped frame (lo's header at data), pkt.len, pkt.rx_ns; lo.ifindex.
// Writes: tap queues only.
void tap_deliver_looped(const core::Packet& pkt, const l2::Port& lo, const EndpointTable& t,
                        TapScratch& scratch) noexcept;

// The symmetric flow hash the HASH fanout mode uses (__skb_get_hash_symmetric: the same for
// both directions of a flow). 0 for frames that are not IPv4.
uint32_t fanout_flow_hash(const core::Packet& pkt, uint32_t seed) noexcept;

}  // namespace ingress::demux
