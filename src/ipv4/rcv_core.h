#pragma once

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "wire/ipv4.h"

namespace ingress::ipv4 {

// Kernel-equivalent: net/ipv4/ip_input.c ip_rcv_core(), every check in its order.
// Reads:  pkt.pkt_type, pkt.l3_off, pkt.len, frame bytes (IPv4 header).
// Writes: pkt.len (trimmed to l3_off + tot_len: link padding removed), and through
//         set_l3_meta: pkt.l4_off, pkt.ip_proto, pkt.saddr, pkt.daddr, pkt.ip_id,
//         pkt.frag_off, pkt.tos, pkt.ttl (host order). Later stages read these, not the
//         header.
// Next:   route (ip_rcv_finish_core).
// Drops:  OTHERHOST, IP_INHDR, IP_CSUM, PKT_TOO_SMALL.
// Counts: IpInReceives, IpExtInOctets, IpInHdrErrors, IpExtInCsumErrors,
//         IpExtInTruncatedPkts, IpExtIn{NoECT,ECT1,ECT0,CE}Pkts.
// Deliberately not here: InMcastPkts/InBcastPkts and their octets (the kernel counts them
// in ip_rcv_finish_core from the route type, so the route stage does); InDiscards for
// skb_share_check/pskb_trim_rcsum failures (allocation failures we cannot have: the frame is
// never copied and trimming is a length change).
core::Verdict rcv_core(core::Packet& pkt, core::CounterBlock& c) noexcept;

// What a header that passed rcv_core's checks tells the later stages, copied into the
// packet: l4_off = l3_off + ihl*4, ip_proto, saddr, daddr, ip_id, frag_off, tos, ttl. rcv_core
// calls it; code that builds a Packet without running rcv_core (stage tests, fuzzers,
// benchmarks) calls it too, so no stage reads a field nobody set. Inline: rcv_core's tail
// on every packet.
inline void set_l3_meta(core::Packet& pkt, const wire::Ipv4View& ip) noexcept {
    pkt.l4_off = static_cast<uint16_t>(pkt.l3_off + ip.header_len());
    pkt.ip_proto = ip.protocol();
    pkt.saddr = ip.src();
    pkt.daddr = ip.dst();
    pkt.ip_id = ip.id();
    pkt.frag_off = ip.frag_field();
    pkt.tos = ip.tos();
    pkt.ttl = ip.ttl();
}

}  // namespace ingress::ipv4
