// Raw IP endpoints: a copy of every local datagram of their protocol.
#pragma once

#include "core/packet.h"
#include "demux/udp.h"

namespace ingress::demux {

struct RawResult {
    bool matched = false;    // some raw endpoint matched (raw_v4_input's `delivered`)
    bool delivered = false;  // at least one copy was queued
    bool rcvbuf = false;     // at least one copy found its queue full
};

// Kernel-equivalent: net/ipv4/raw.c raw_local_deliver() / raw_v4_input() with
// raw_v4_match(), icmp_filter() and ip_mc_sf_allow(), then raw_rcv() -> sock_queue_rcv_skb.
// Every raw endpoint whose protocol matches, whose bound address is 0 or the destination,
// whose connected address is 0 or the source, and whose device binding matches, is a match;
// it gets a copy of the whole IP datagram (header included) unless its ICMP_FILTER (ICMP
// only) or its multicast source filter refuses it. A full queue loses that copy (the
// endpoint's own drop count; the kernel has no MIB counter for it).
// Reads:  pkt.l3_off, pkt.len, pkt.ip_proto, pkt.saddr, pkt.daddr, pkt.l4_off, frame
//         bytes, pkt.ifindex.
// Writes: endpoint queues only (the packet goes on to its protocol handler).
// Next:   the protocol dispatch of local_deliver_finish.
// `ctx`: the delivering worker (shared-memory rings); nullptr = worker 0.
RawResult raw_local_deliver(const core::Packet& pkt, const EndpointTable& t,
                            const DeliveryCtx* ctx = nullptr) noexcept;

}  // namespace ingress::demux
