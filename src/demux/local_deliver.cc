#include "demux/local_deliver.h"

#include <algorithm>
#include <array>

#include "demux/icmp_rcv.h"
#include "demux/raw.h"
#include "ipv4/ip_options.h"
#include "wire/icmp.h"

namespace ingress::demux {

using core::DropReason;
using core::Mib;
using core::Verdict;

namespace {

Verdict deliver(core::Packet& pkt, DemuxEnv& env, const LocalDeliverConfig& cfg) noexcept {
    const RawResult raw =
        env.table.has_raw() ? raw_local_deliver(pkt, env.table, env.delivery) : RawResult{};

    if (pkt.ip_proto == wire::kIpProtoUdp) {
        env.c.mib(Mib::kIpInDelivers);
        Verdict v = udp_rcv(pkt, env);
        if (v.is_drop() && raw.delivered) return Verdict::delivered();
        return v;
    }
    // A looped-back answer (env.looped) exists only here: the kernel never sees it,
    // so this icmp_rcv takes every one, echo replies and errors about kernel protocols too.
    if (pkt.ip_proto == wire::kIpProtoIcmp &&
        (env.looped || (!cfg.kernel_handles[pkt.ip_proto] && !icmp_kernel_keeps(pkt, cfg)))) {
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
                       env.now_ns, env.c, env.ip_opt);
    return Verdict::drop(DropReason::kIpNoproto);
}

// ip_rcv_options()'s writes into the header (ipv4/ip_options.h says why here), then the
// delivery with the compiled options in env.ip_opt. A frame passed to the kernel gets its
// header back as it arrived: the kernel runs ip_rcv_options() on it itself.
[[gnu::noinline]] Verdict deliver_with_options(core::Packet& pkt, DemuxEnv& env,
                                               const LocalDeliverConfig& cfg) noexcept {
    const std::span<uint8_t> hdr = pkt.l3().first(pkt.ip_hlen());
    std::array<uint8_t, wire::Ipv4View::kMinHeaderLen + ipv4::kMaxIpOptionsLen> arrived;
    std::copy(hdr.begin(), hdr.end(), arrived.begin());
    ipv4::OptionsRcvEnv oenv{.spec_dst = pkt.daddr, .now_ms = 0, .routes = nullptr};
    if (env.icmp) oenv = env.icmp->options_env(pkt);
    const ipv4::IpOptions opt = ipv4::ip_options_rcv_write(hdr, oenv);
    // route_input validated these bytes (the first fragment's, for a reassembled datagram).
    env.ip_opt = opt.ok ? &opt : nullptr;
    const Verdict v = deliver(pkt, env, cfg);
    env.ip_opt = nullptr;
    if (v.kind() == core::Verdict::Kind::kPass)
        std::copy_n(arrived.begin(), hdr.size(), hdr.begin());
    return v;
}

}  // namespace

Verdict local_deliver_finish(core::Packet& pkt, DemuxEnv& env,
                             const LocalDeliverConfig& cfg) noexcept {
    if (pkt.ip_hlen() > wire::Ipv4View::kMinHeaderLen) [[unlikely]]
        return deliver_with_options(pkt, env, cfg);
    return deliver(pkt, env, cfg);
}

}  // namespace ingress::demux
