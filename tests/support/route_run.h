// One datagram through the input route stage with an in-memory backend for its ICMP error:
// the verdict, the route type, the counters and what went out on the wire.
#pragma once

#include <cstdint>
#include <vector>

#include "core/counters.h"
#include "io/memory.h"
#include "io/tx_queue.h"
#include "ipv4/route.h"
#include "support/packet.h"
#include "wire/icmp.h"

namespace ingress::test {

struct RouteRun {
    core::Verdict verdict = core::Verdict::next();
    ipv4::RouteType type = ipv4::RouteType::kUnspec;
    core::Snapshot counters;
    std::size_t sent = 0;  // frames on the wire
    // The first frame sent, decoded as an ICMP error (-1: none or not ICMP).
    int icmp_type = -1, icmp_code = -1;
    uint32_t icmp_info = 0;
    wire::Ipv4Addr icmp_dst = 0;
};

// `routes_for_icmp`: the sender's route back goes through `t` too (icmp_route_lookup()).
inline RouteRun run_route_input(const ipv4::RouteTables& t, std::vector<uint8_t> bytes,
                                core::PktType pkt_type, uint32_t ifindex,
                                bool routes_for_icmp = false) {
    core::Packet pkt = packet_over(bytes, 14, pkt_type);
    pkt.ifindex = ifindex;
    fill_l3_meta(pkt);
    io::MemoryBackend backend(ifindex);
    io::TxQueue txq;
    ipv4::IcmpSender icmp(backend, txq, ipv4::IcmpConfig{});
    if (routes_for_icmp) icmp.set_routes(&t);
    core::CounterBlock counters;
    ipv4::RouteHint hint;
    RouteRun r;
    r.verdict = ipv4::route_input(pkt, t, counters, &icmp, 1'000'000'000, hint);
    r.type = ipv4::route_type_of(pkt.route_type);
    r.counters = counters.snapshot();
    txq.flush(backend, 0);
    r.sent = backend.sent().size();
    if (r.sent) {
        std::span<const uint8_t> f(backend.sent()[0].bytes);
        auto ip = wire::Ipv4View::try_view(f.subspan(14));
        if (!ip) return r;
        auto icmph = wire::IcmpView::try_view(f.subspan(14 + ip->header_len()));
        if (!icmph) return r;
        r.icmp_type = icmph->type();
        r.icmp_code = icmph->code();
        r.icmp_info = icmph->rest();
        r.icmp_dst = ip->dst();
    }
    return r;
}

}  // namespace ingress::test
