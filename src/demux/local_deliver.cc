#include "demux/local_deliver.h"

#include "demux/icmp_rcv.h"
#include "demux/raw.h"
#include "wire/icmp.h"

namespace ingress::demux {

using core::DropReason;
using core::Mib;
using core::Verdict;

Verdict local_deliver_finish(core::Packet& pkt, DemuxEnv& env,
                             const LocalDeliverConfig& cfg) noexcept {
    const RawResult raw =
        env.table.has_raw() ? raw_local_deliver(pkt, env.table, env.delivery) : RawResult{};

    if (pkt.ip_proto == wire::kIpProtoUdp) {
        env.c.mib(Mib::kIpInDelivers);
        Verdict v = udp_rcv(pkt, env);
        if (v.is_drop() && raw.delivered) return Verdict::delivered();
        return v;
    }
    if (pkt.ip_proto == wire::kIpProtoIcmp && !cfg.kernel_handles[pkt.ip_proto] &&
        !icmp_kernel_keeps(pkt, cfg)) {
        env.c.mib(Mib::kIpInDelivers);
        Verdict v = icmp_rcv(pkt, env);
        if (v.is_drop() && raw.delivered) return Verdict::delivered();
        return v;
    }
    if (cfg.kernel_handles[pkt.ip_proto] || pkt.ip_proto == wire::kIpProtoIcmp) {
        // The kernel gets the frames it would have reassembled itself; a datagram we
        // rebuilt has no frame to hand over.
        if (pkt.flags & core::kFlagReassembled) return Verdict::drop(DropReason::kReasmKernelProto);
        return Verdict::pass();
    }

    if (raw.matched) {
        // "raw" in ip_protocol_deliver_rcu(): consumed by the raw endpoints.
        env.c.mib(Mib::kIpInDelivers);
        if (raw.delivered) return Verdict::delivered();
        // Matched, but every copy was filtered out or found a full queue.
        return Verdict::drop(raw.rcvbuf ? DropReason::kSocketRcvbuff : DropReason::kNoSocket);
    }
    env.c.mib(Mib::kIpInUnknownProtos);
    if (env.icmp)
        env.icmp->send(pkt, wire::kIcmpDestUnreach, wire::kIcmpProtUnreach, 0, pkt.daddr,
                       env.now_ns, env.c);
    return Verdict::drop(DropReason::kIpNoproto);
}

}  // namespace ingress::demux
