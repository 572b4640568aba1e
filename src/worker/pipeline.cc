#include "worker/pipeline.h"

#include "ipv4/rcv_core.h"
#include "ipv4/route_type.h"
#include "l2/eth_type_trans.h"
#include "l2/ptype.h"
#include "l2/vlan.h"

namespace ingress::worker {

namespace {

// ---- TEMPORARY: delete when the route and defrag stages are merged. ----
// A stand-in for the route stage's classification on a branch that does not have it:
// limited broadcast or the port's subnet broadcast -> BROADCAST, 224.0.0.0/4 -> MULTICAST,
// anything else -> LOCAL (no forwarding, no martian checks, no interface-level group
// membership). Fragments are passed to the kernel, since defrag is not here either.
core::Verdict temp_classify_route(core::Packet& pkt, wire::Ipv4Addr subnet_bcast) noexcept {
    auto ip = wire::Ipv4View::try_view(pkt.l3());
    if (ip->is_fragment()) return core::Verdict::pass();
    const wire::Ipv4Addr dst = ip->dst();
    ipv4::RouteType rt = ipv4::RouteType::kLocal;
    if (wire::ipv4_is_lbcast(dst) || (subnet_bcast && dst == subnet_bcast))
        rt = ipv4::RouteType::kBroadcast;
    else if (wire::ipv4_is_multicast(dst))
        rt = ipv4::RouteType::kMulticast;
    pkt.route_type = static_cast<uint8_t>(rt);
    return core::Verdict::next();
}
// ---- end TEMPORARY ----

}  // namespace

void Pipeline::process(core::PacketBatch& batch, uint64_t now_ns) noexcept {
    c_.begin_burst();
    c_.rx(batch.count);
    const uint16_t queue = batch.count ? batch.pkts[0].queue : 0;
    sink_.set_queue(queue);
    const l2::Port& port = *t_.port;

    run_stage(batch, sink_, [&](core::Packet& p) { return l2::eth_type_trans(p, port); });
    run_stage(batch, sink_, [&](core::Packet& p) { return l2::vlan_untag(p, port, c_); });
    const demux::EndpointTable* eps = t_.endpoints;
    if (eps && eps->has_taps()) {
        run_stage(batch, sink_, [&](core::Packet& p) {
            return demux::tap_deliver(p, port, *eps, tap_scratch_);
        });
    }
    run_stage(batch, sink_, [&](core::Packet& p) { return l2::ptype_dispatch(p, c_); });
    run_stage(batch, sink_, [&](core::Packet& p) { return ipv4::rcv_core(p, c_); });

    if (eps) {
        // [route: ip_route_input_noref / fib_validate_source — the route issue goes here]
        // [defrag: ip_defrag — the defrag issue goes here]
        // TEMPORARY stand-in for both (see temp_classify_route above).
        const wire::Ipv4Addr bcast = t_.temp_subnet_broadcast;
        run_stage(batch, sink_, [&](core::Packet& p) { return temp_classify_route(p, bcast); });

        demux::DemuxEnv env{*eps, c_, &icmp_, now_ns};
        run_stage(batch, sink_,
                  [&](core::Packet& p) { return demux::local_deliver(p, env, t_.local); });
    }
    // End of the implemented path: what remains is valid IPv4 the kernel handles next.
    for (core::Packet& p : batch) sink_.settle(p, core::Verdict::pass());
    batch.count = 0;

    sink_.flush();
    // ICMP errors built during the burst; a refused frame was counted as sent, so it moves
    // to IcmpOutErrors.
    if (uint16_t refused = txq_.flush(backend_, queue)) c_.mib(core::Mib::kIcmpOutErrors, refused);
    c_.end_burst();
}

}  // namespace ingress::worker
