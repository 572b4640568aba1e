#include "worker/pipeline.h"

#include "demux/udp.h"
#include "ipv4/defrag.h"
#include "ipv4/rcv_core.h"
#include "ipv4/route_type.h"
#include "l2/eth_type_trans.h"
#include "l2/ptype.h"
#include "l2/vlan.h"

namespace ingress::worker {

void Pipeline::hand_off(core::PacketBatch& batch) noexcept {
    const HandoffMesh* mesh = t_.handoff;
    if (!mesh || mesh->workers() <= 1) return;
    uint16_t keep = 0;
    for (uint16_t i = 0; i < batch.count; ++i) {
        core::Packet& p = batch.pkts[i];
        const uint16_t owner =
            p.is_fragment() ? ipv4::defrag_owner(p, mesh->workers()) : t_.mesh_worker;
        if (owner == t_.mesh_worker) {
            if (keep != i) batch.pkts[keep] = p;
            ++keep;
        } else if (t_.handoff->ring(t_.mesh_worker, owner).try_push(p)) {
            c_.handed_off();  // its fate is counted by the owner
        } else {
            sink_.settle(p, core::Verdict::drop(core::DropReason::kFragHandoffFull));
        }
    }
    batch.count = keep;
}

template <bool kObserve>
void Pipeline::local_deliver(core::PacketBatch& batch, uint64_t now_ns, Laps& laps,
                             uint16_t entered) noexcept {
    stage<kObserve>(batch, TraceStage::kIpDefrag,
                    [&](core::Packet& p) { return ipv4::defrag(p, defrag_, now_ns, c_); });
    defrag_.reap(sink_);
    laps.lap(Stage::kDefrag, entered);
    const uint16_t to_demux = batch.count;

    // ip_local_deliver_finish: raw copies, then UDP / the kernel's protocols / unknown. Every
    // packet leaves it with a fate.
    demux::DemuxEnv env{*eps_,
                        c_,
                        &icmp_,
                        now_ns,
                        &delivery_,
                        csum_at_queue_,
                        t_.early_demux.on(),
                        route_generation_};
    demux::udp_prefetch({batch.pkts.data(), batch.count}, *eps_, t_.worker);
    stage<kObserve>(batch, TraceStage::kLocalDeliver,
                    [&](core::Packet& p) { return demux::local_deliver_finish(p, env, t_.local); });
    for (core::Packet& p : batch) sink_.settle(p, core::Verdict::next());  // a wiring bug
    batch.count = 0;
    laps.lap(Stage::kDemux, to_demux);
}

template <bool kObserve>
void Pipeline::process_impl(core::PacketBatch& batch, uint64_t now_ns, ObserveSession* s) noexcept {
    c_.begin_burst();
    c_.rx(batch.count);
    const uint16_t queue = batch.count ? batch.pkts[0].queue : 0;
    sink_.set_queue(queue);
    const l2::Port& port = *t_.port;

    // This burst's route snapshot, also for routing ICMP errors back (the reassembly timers
    // below send them too).
    const ipv4::RouteTables& rt = *t_.routes->read();
    icmp_.set_routes(&rt);
    if constexpr (kObserve) {
        obs_.begin(s, &rt);
        sink_.set_observer(&obs_);  // drop captures, the timers' drops included
        obs_.admit(batch);
    }

    // Reassembly timers first: the kernel's ip_expire runs from a timer, before later input.
    Laps laps(profile_);
    const uint16_t burst = batch.count;
    defrag_.expire(now_ns, icmp_, c_);
    defrag_.reap(sink_);
    laps.lap(Stage::kTimers, burst);

    stage<kObserve>(batch, TraceStage::kEthTypeTrans,
                    [&](core::Packet& p) { return l2::eth_type_trans(p, port); });
    const demux::EndpointTable& eps = t_.endpoint_pub ? *t_.endpoint_pub->read() : *t_.endpoints;
    eps_ = &eps;
    if constexpr (kObserve) obs_.set_endpoints(&eps);
    if (eps.has_taps()) {
        // __netif_receive_skb_core: skb_vlan_untag, ptype_all on the port, vlan_do_receive,
        // then another_round's ptype_all and ptype_base.
        run_stage(batch, sink_, [&](core::Packet& p) { return l2::vlan_untag(p, c_); });
        run_stage(batch, sink_, [&](core::Packet& p) {
            return demux::tap_deliver_port(p, port, eps, tap_scratch_);
        });
        stage<kObserve>(batch, TraceStage::kVlan,
                        [&](core::Packet& p) { return l2::vlan_do_receive(p, port); });
        run_stage(batch, sink_, [&](core::Packet& p) {
            return demux::tap_deliver_final(p, port, eps, tap_scratch_);
        });
    } else {
        // No tap sees the frame between the two: one pass.
        stage<kObserve>(batch, TraceStage::kVlan, [&](core::Packet& p) {
            const core::Verdict v = l2::vlan_untag(p, c_);
            return v.is_next() ? l2::vlan_do_receive(p, port) : v;
        });
    }
    stage<kObserve>(batch, TraceStage::kPtype,
                    [&](core::Packet& p) { return l2::ptype_dispatch(p, c_); });
    laps.lap(Stage::kL2, burst);
    const uint16_t to_rcv_core = batch.count;
    stage<kObserve>(batch, TraceStage::kIpRcvCore,
                    [&](core::Packet& p) { return ipv4::rcv_core(p, c_); });
    laps.lap(Stage::kRcvCore, to_rcv_core);
    // ip_rcv_finish_core: early demux (a connected endpoint's cached route), then the input
    // route for the rest.
    const uint16_t to_route = batch.count;
    route_generation_ = rt.generation();
    if (t_.early_demux.on())
        stage<kObserve>(batch, TraceStage::kUdpV4EarlyDemux, [&](core::Packet& p) {
            return demux::udp_v4_early_demux(p, eps, route_generation_);
        });
    stage<kObserve>(batch, TraceStage::kRouteInput, [&](core::Packet& p) {
        return ipv4::route_input(p, rt, c_, &icmp_, now_ns, hint_);
    });
    laps.lap(Stage::kRoute, to_route);
    // ip_local_deliver: LOCAL / BROADCAST / MULTICAST from here on.
    const uint16_t to_defrag = batch.count;
    hand_off(batch);
    local_deliver<kObserve>(batch, now_ns, laps, to_defrag);

    // Fragments other workers received for datagrams this worker owns.
    if (HandoffMesh* mesh = t_.handoff) {
        for (uint16_t from = 0; from < mesh->workers(); ++from) {
            if (from == t_.mesh_worker) continue;
            auto& ring = mesh->ring(from, t_.mesh_worker);
            handed_in_.count =
                static_cast<uint16_t>(ring.try_dequeue_burst(handed_in_.pkts.data(), core::kBurst));
            if (handed_in_.count == 0) continue;
            c_.handed_in(handed_in_.count);
            local_deliver<kObserve>(handed_in_, now_ns, laps, handed_in_.count);
        }
    }

    sink_.flush();
    if constexpr (kObserve) {
        sink_.set_observer(nullptr);
        obs_.end();
    }
    // Wake the apps that went to sleep on a ring this burst filled (one write each).
    wakeups_.flush(t_.worker);
    // ICMP errors built during the burst; a refused frame was counted as sent, so it moves
    // to IcmpOutErrors.
    if (uint16_t refused = txq_.flush(backend_, queue)) c_.mib(core::Mib::kIcmpOutErrors, refused);
    laps.lap(Stage::kTx, burst);
    c_.end_burst();
}

void Pipeline::process(core::PacketBatch& batch, uint64_t now_ns) noexcept {
    if (ObserveSession* s = t_.observe->read()) [[unlikely]]
        process_impl<true>(batch, now_ns, s);
    else
        process_impl<false>(batch, now_ns, nullptr);
}

void Pipeline::shutdown() noexcept {
    c_.begin_burst();
    defrag_.flush_all();
    defrag_.reap(sink_);
    sink_.flush();
    c_.end_burst();
}

}  // namespace ingress::worker
