// Local delivery after reassembly: raw copies first, then the transport protocol.
#pragma once

#include <array>
#include <cstdint>

#include "core/packet.h"
#include "core/verdict.h"
#include "demux/udp.h"

namespace ingress::demux {

// Which IP protocols have a handler in the kernel that we leave to the kernel (the
// inet_protos[] entries other than UDP and ICMP). Default: IGMP (igmp_rcv keeps the kernel's
// group state) and TCP. ICMP is the dataplane's (icmp_rcv.h), except the messages only the
// kernel's sockets can use (icmp_kernel_keeps()).
struct LocalDeliverConfig {
    std::array<bool, 256> kernel_handles{};
    LocalDeliverConfig() noexcept {
        kernel_handles[wire::kIpProtoIgmp] = true;
        kernel_handles[wire::kIpProtoTcp] = true;
    }
};

// Kernel-equivalent: net/ipv4/ip_input.c ip_local_deliver_finish() ->
// ip_protocol_deliver_rcu(): raw_local_deliver(), then inet_protos[protocol]->handler.
//   Options (ihl > 5): first ip_rcv_options()'s writes into the header
//             (ipv4::ip_options_rcv_write(): record route, timestamp), so the raw copies,
//             UDP's IP_RECVOPTS and every answer see what a kernel socket sees; the compiled
//             options go in env.ip_opt for the answers' echo. A frame then passed to the
//             kernel gets back the header it arrived with.
//   UDP:      udp_rcv here; IpInDelivers counted whatever udp_rcv decides (the kernel counts
//             it once the handler returns, and udp_rcv always returns 0).
//   ICMP:     icmp_rcv here (echo and timestamp replies, errors to endpoints), IpInDelivers
//             counted whatever it decides; what icmp_kernel_keeps() names is passed as
//             below instead.
//   IGMP, TCP (kernel_handles): passed to the kernel after the raw copies; the kernel
//             counts their InDelivers. Not "delivered" even if a raw endpoint took a copy.
//             A reassembled datagram cannot be passed (its fragments' buffers were consumed
//             into it): dropped as REASM_KERNEL_PROTO, after the raw copies.
//   other:    a raw endpoint matched -> IpInDelivers, delivered (or dropped if no copy could
//             be queued); none -> IpInUnknownProtos, ICMP protocol unreachable, IP_NOPROTO.
// A frame that a raw endpoint and a UDP endpoint both received is one delivered frame; if
// only a raw endpoint got it (UDP had no socket), it is delivered too, and UDP's counters
// and ICMP error still happen as in the kernel.
// Reads:  pkt.ip_proto, pkt.daddr, pkt.flags (kFlagReassembled), pkt.route_type (via
//         udp_rcv), frame bytes.
// Writes: the IP header's option bytes (ihl > 5; restored for a passed frame).
// Next:   delivered, pass.
// Drops:  IP_NOPROTO, NO_SOCKET, SOCKET_RCVBUFF, REASM_KERNEL_PROTO, and udp_rcv's.
// Counts: IpInDelivers, IpInUnknownProtos.
// (worker::Pipeline::local_deliver is ip_local_deliver: defrag, then this.)
core::Verdict local_deliver_finish(core::Packet& pkt, DemuxEnv& env,
                                   const LocalDeliverConfig& cfg) noexcept;

}  // namespace ingress::demux
