#include "worker/pipeline.h"

#include <array>

#include "demux/udp.h"
#include "io/rx_packet.h"
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
                             uint16_t entered, bool looped) noexcept {
    const uint16_t home = sink_.home();  // who received the batch (hand_off, take_in)
    stage<kObserve>(batch, TraceStage::kIpDefrag,
                    [&](core::Packet& p) { return ipv4::defrag(p, defrag_, now_ns, c_, home); });
    defrag_.reap(sink_);
    laps.lap(Stage::kDefrag, entered);
    const uint16_t to_demux = batch.count;

    // ip_local_deliver_finish: raw copies, then UDP / the kernel's protocols / unknown. Every
    // packet leaves it with a fate.
    demux::DemuxEnv env{*eps_,  c_,      &icmp_,         now_ns,           &delivery_,
                        &pmtu_, nullptr, csum_at_queue_, route_generation_};
    env.looped = looped;
    if constexpr (kObserve) env.icmp_trace = obs_.icmp_trace();
    demux::udp_prefetch({batch.pkts.data(), batch.count}, *eps_, t_.worker);
    stage<kObserve>(batch, TraceStage::kLocalDeliver,
                    [&](core::Packet& p) { return demux::local_deliver_finish(p, env, t_.local); });
    for (core::Packet& p : batch) sink_.settle(p, core::Verdict::next());  // a wiring bug
    batch.count = 0;
    laps.lap(Stage::kDemux, to_demux);
}

void Pipeline::on_kernel_frame(void* self, std::span<const uint8_t> frame,
                               uint32_t wire_len) noexcept {
    auto& pl = *static_cast<Pipeline*>(self);
    if (!pl.kernel_eps_->has_taps()) return;  // copied for a tap that has closed since
    const l2::Port& port = *pl.t_.port;
    if (pl.kernel_ts_ == 0) pl.kernel_ts_ = io::rx_clock_ns();  // one clock read per drain
    core::Packet p;
    // The taps only read the bytes (the ring buffer's pages are mapped read-only).
    io::init_packet(p, const_cast<uint8_t*>(frame.data()), static_cast<uint32_t>(frame.size()), 0,
                    0, port.ifindex, pl.kernel_ts_);
    // __netif_receive_skb_core as for a frame the dataplane receives: eth_type_trans's
    // pkt_type (OTHERHOST, BROADCAST...), skb_vlan_untag, ptype_all on the port,
    // vlan_do_receive, another_round / ptype_base.
    if (!l2::eth_type_trans(p, port).is_next()) return;
    if (!l2::vlan_untag(p, pl.kernel_l2_).is_next()) return;
    demux::TapScratch& s = pl.tap_scratch_;
    s.cut = wire_len - static_cast<uint32_t>(frame.size());  // beyond the program's snap length
    (void)demux::tap_deliver_port(p, port, *pl.kernel_eps_, s);
    if (l2::vlan_do_receive(p, port).is_next())
        (void)demux::tap_deliver_final(p, port, *pl.kernel_eps_, s);
    s.cut = 0;
}

void Pipeline::tap_kernel_frames(const demux::EndpointTable& eps) noexcept {
    kernel_eps_ = &eps;
    kernel_ts_ = 0;
    (void)t_.kernel_frames->drain(&Pipeline::on_kernel_frame, this, kKernelFramesPerBurst);
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
    if (t_.knobs) {
        const ipv4::KnobPublisher::Snapshot* k = t_.knobs->read();
        if (k->generation != knobs_generation_) [[unlikely]] {
            knobs_generation_ = k->generation;
            icmp_.set_config(k->knobs.icmp);
            defrag_.set_knobs(k->knobs.defrag);
            t_.early_demux = {k->knobs.ip_early_demux, k->knobs.udp_early_demux};
            pmtu_.set_config(k->knobs.pmtu);
        }
    }
    if constexpr (kObserve) {
        obs_.begin(s, &rt);
        sink_.set_observer(&obs_);  // drop captures, the timers' drops included
        obs_.admit(batch);
    }

    // Reassembly timers first: the kernel's ip_expire runs from a timer, before later input.
    Laps laps(profile_);
    const uint16_t burst = batch.count;
    take_back();
    defrag_.expire(now_ns, icmp_, c_);
    defrag_.reap(sink_);
    laps.lap(Stage::kTimers, burst);

    const demux::EndpointTable& eps = t_.endpoint_pub ? *t_.endpoint_pub->read() : *t_.endpoints;
    eps_ = &eps;
    if constexpr (kObserve) obs_.set_endpoints(&eps);
    // What the kernel kept since the last burst, to the taps first (it arrived earlier).
    // Drained with no tap too (a read of two ring positions when empty): copies made before
    // the last tap closed must not reach a tap opened later. Before eth_type_trans: that
    // stage shows no frame to a tap, so the taps' order is the same either way.
    if (t_.kernel_frames) tap_kernel_frames(eps);
    if (kObserve || eps.has_taps()) {
        stage<kObserve>(batch, TraceStage::kEthTypeTrans,
                        [&](core::Packet& p) { return l2::eth_type_trans(p, port); });
        if (eps.has_taps()) {
            // __netif_receive_skb_core: skb_vlan_untag, ptype_all on the port,
            // vlan_do_receive, then another_round's ptype_all and ptype_base.
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
            stage<kObserve>(batch, TraceStage::kVlan, [&](core::Packet& p) {
                const core::Verdict v = l2::vlan_untag(p, c_);
                return v.is_next() ? l2::vlan_do_receive(p, port) : v;
            });
        }
        stage<kObserve>(batch, TraceStage::kPtype,
                        [&](core::Packet& p) { return l2::ptype_dispatch(p, c_); });
    } else {
        // No tap and no trace sees a frame between the L2 steps: one pass over the burst
        // (each frame still takes them in the kernel's order; a pass per step cost a loop,
        // a compaction and the Packet's reload per frame each).
        run_stage(batch, sink_, [&](core::Packet& p) {
            core::Verdict v = l2::eth_type_trans(p, port);
            if (v.is_next()) v = l2::vlan_untag(p, c_);
            if (v.is_next()) v = l2::vlan_do_receive(p, port);
            return v.is_next() ? l2::ptype_dispatch(p, c_) : v;
        });
    }
    laps.lap(Stage::kL2, burst);
    const uint16_t to_rcv_core = batch.count;
    stage<kObserve>(batch, TraceStage::kIpRcvCore,
                    [&](core::Packet& p) { return ipv4::rcv_core(p, c_); });
    laps.lap(Stage::kRcvCore, to_rcv_core);
    // ip_rcv_finish_core: early demux (a connected endpoint's cached route), then the input
    // route for the rest.
    const uint16_t to_route = batch.count;
    route_generation_ = rt.generation();
    const bool early_demux = t_.early_demux.on();
    auto early = [&](core::Packet& p) {
        return demux::udp_v4_early_demux(p, eps, rt.mc(), route_generation_);
    };
    auto input = [&](core::Packet& p) {
        return ipv4::route_input(p, rt, c_, &icmp_, now_ns, hint_);
    };
    if constexpr (kObserve) {
        if (early_demux) stage<kObserve>(batch, TraceStage::kUdpV4EarlyDemux, early);
        stage<kObserve>(batch, TraceStage::kRouteInput, input);
    } else {
        // One pass: early demux then the input route, frame by frame (the route hint
        // still sees the frames in order).
        run_stage(batch, sink_, [&](core::Packet& p) {
            if (early_demux) {
                const core::Verdict v = early(p);
                if (!v.is_next()) return v;
            }
            return input(p);
        });
    }
    laps.lap(Stage::kRoute, to_route);
    // ip_local_deliver: LOCAL / BROADCAST / MULTICAST from here on.
    const uint16_t to_defrag = batch.count;
    hand_off(batch);
    local_deliver<kObserve>(batch, now_ns, laps, to_defrag);

    // Fragments other workers (of any interface) received for datagrams this worker owns;
    // their buffers are settled as the sender's (FateSink::set_home).
    if (HandoffMesh* mesh = t_.handoff) {
        for (uint16_t from = 0; from < mesh->workers(); ++from) {
            if (from == t_.mesh_worker) continue;
            auto& ring = mesh->ring(from, t_.mesh_worker);
            handed_in_.count =
                static_cast<uint16_t>(ring.try_dequeue_burst(handed_in_.pkts.data(), core::kBurst));
            if (handed_in_.count == 0) continue;
            c_.handed_in(handed_in_.count);
            sink_.set_home(from);
            local_deliver<kObserve>(handed_in_, now_ns, laps, handed_in_.count);
            sink_.set_home(t_.mesh_worker);
        }
    }

    // The answers the burst sent to our own addresses (ipv4/icmp_send.h, "Looped back"):
    // received on lo after it, as loopback_xmit()'s netif_rx() queues them behind the
    // current softirq work. They carry their output route (skb_dst, LOCAL): ip_rcv_core,
    // then straight to ip_local_deliver (no early demux, no input route, no rp_filter).
    // Answers are never answered, so one round takes them all; a second is a bound.
    for (int round = 0; round < 2 && icmp_.looped(); ++round) {
        looped_.count = icmp_.take_looped(looped_.pkts.data());
        c_.looped(looped_.count);
        // __netif_rx stamps them (CLOCK_REALTIME, as a received frame's), after the taps on
        // lo have seen them go out and come in (demux::tap_deliver_looped).
        const uint64_t lo_ns = io::rx_clock_ns();
        lo_port_.ifindex = rt.loopback_ifindex();
        for (core::Packet& p : looped_) {
            p.rx_ns = lo_ns;
            if (eps.has_taps()) demux::tap_deliver_looped(p, lo_port_, eps, tap_scratch_);
        }
        stage<kObserve>(looped_, TraceStage::kIpRcvCore,
                        [&](core::Packet& p) { return ipv4::rcv_core(p, c_); });
        for (core::Packet& p : looped_)
            p.route_type = static_cast<uint8_t>(ipv4::RouteType::kLocal);
        local_deliver<kObserve>(looped_, now_ns, laps, looped_.count, true);
    }

    sink_.flush();
    if constexpr (kObserve) {
        sink_.set_observer(nullptr);
        obs_.end();
    }
    // Wake the apps that went to sleep on a ring this burst filled (one write each).
    wakeups_.flush(t_.worker);
    // dev_queue_xmit_nit: the frames built during the burst reach the ETH_P_ALL taps as
    // PACKET_OUTGOING before they go to the driver (one clock read per burst that sends).
    if (txq_.size() && eps.has_taps()) {
        const uint64_t tstamp = io::rx_clock_ns();
        for (const core::Packet& f : txq_.pending())
            demux::tap_deliver_outgoing(f, port, eps, tap_scratch_, tstamp);
    }
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

void Pipeline::take_back() noexcept {
    HandoffMesh* mesh = t_.handoff;
    if (!mesh) return;
    std::array<uint64_t, core::kBurst> bufs;
    for (uint16_t from = 0; from < mesh->workers(); ++from) {
        if (mesh->same_backend(from, t_.mesh_worker)) continue;
        auto& ring = mesh->returns(from, t_.mesh_worker);
        while (uint32_t n = ring.try_dequeue_burst(bufs.data(), core::kBurst))
            backend_.free_bulk(bufs.data(), static_cast<uint16_t>(n));
    }
}

void Pipeline::shutdown() noexcept {
    c_.begin_burst();
    take_back();
    defrag_.flush_all();
    defrag_.reap(sink_);
    sink_.flush();
    c_.end_burst();
}

}  // namespace ingress::worker
