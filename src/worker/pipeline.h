// The worker's pipeline: every stage, wired explicitly, in the kernel's order. Reading
// process() shows the whole packet path.
//
//   rx burst
//    -> l2::eth_type_trans      pkt_type against the port MAC            (net/ethernet/eth.c)
//    -> l2::vlan_untag          skb_vlan_untag: the tag to metadata          (net/core/dev.c)
//    -> demux::tap_deliver_port ptype_all on the port: ETH_P_ALL taps get their copy,
//                               OTHERHOST included; never changes the fate
//    -> l2::vlan_do_receive     sub-interface, or OTHERHOST for an unknown VLAN
//                               (net/8021q/vlan_core.c)
//    -> demux::tap_deliver_final ptype_all on the sub-interface (another_round), ptype_base
//    -> l2::ptype_dispatch      IPv4 on, the rest passed to the kernel
//    -> ipv4::rcv_core          ip_rcv_core header validation, trim; the header's fields into
//                               the Packet                           (net/ipv4/ip_input.c)
//    -> ipv4::route_input       ip_rcv_finish_core: input route, martians, rp_filter,
//                               options, mcast/bcast counters         (net/ipv4/route.c)
//    -> hand_off                a fragment owned by another worker (of any interface) goes
//                               to its ring
//    -> local_deliver           ip_local_deliver: ipv4::defrag        (net/ipv4/ip_fragment.c)
//       -> demux::local_deliver_finish  raw copies, then UDP (udp_rcv) / kernel protocols /
//                               unknown                    (ip_local_deliver_finish)
//    looped: the ICMP answers sent to our own addresses, in again as received on lo
//                               (ipv4/icmp_send.h): demux::tap_deliver_looped (out and in
//                               on lo), rcv_core, then local_deliver
//    tx: demux::tap_deliver_outgoing  the burst's built frames (ICMP errors, replies) to the
//                               ETH_P_ALL taps as PACKET_OUTGOING   (dev_queue_xmit_nit)
//        then one tx_burst
// Every packet leaves process() with a fate (docs/accounting.md).
#pragma once

#include <cassert>

#include "core/counters.h"
#include "core/packet.h"
#include "demux/endpoint_publisher.h"
#include "demux/endpoint_table.h"
#include "demux/local_deliver.h"
#include "demux/tap.h"
#include "io/backend.h"
#include "io/kernel_frames.h"
#include "io/tx_queue.h"
#include "ipv4/defrag.h"
#include "ipv4/icmp_send.h"
#include "ipv4/knobs.h"
#include "ipv4/pmtu.h"
#include "ipv4/route.h"
#include "ipv4/route_tables.h"
#include "l2/port.h"
#include "worker/fate_sink.h"
#include "worker/handoff.h"
#include "worker/observe.h"
#include "worker/runtime.h"

namespace ingress::worker {

struct PipelineTables {
    const l2::Port* port = nullptr;  // the port this worker's queue belongs to
    ipv4::IcmpConfig icmp;           // net.ipv4.icmp_* knobs
    ipv4::PmtuConfig pmtu;           // net.ipv4.route.min_pmtu, mtu_expires
    ipv4::DefragConfig defrag;       // net.ipv4.ipfrag_* knobs and pool sizes
    // The live net.ipv4.* knobs (null: `icmp` and `defrag` above for the worker's life):
    // taken into the two above at the start of a burst when their generation moved.
    const ipv4::KnobPublisher* knobs = nullptr;
    HandoffMesh* handoff = nullptr;  // fragments to their owning worker (null: one worker)
    uint16_t worker = 0;             // this worker's index: its ring in every endpoint
    uint16_t mesh_worker = 0;        // its index in `handoff` (every interface's workers)
    // The route tables (read once per burst: the burst is the RCU read-side section, and
    // the worker loop announces a quiescent state between bursts). Required.
    const ipv4::RoutePublisher* routes = nullptr;
    // The endpoint snapshot (taps, raw, UDP): a fixed table, or, when `endpoint_pub` is set,
    // the publisher's snapshot read once per burst (RCU, as the routes). One of the two is
    // required; a host without apps has an empty table.
    const demux::EndpointTable* endpoints = nullptr;
    const demux::EndpointPublisher* endpoint_pub = nullptr;
    demux::LocalDeliverConfig local;      // protocols left to the kernel's handlers
    demux::EarlyDemuxConfig early_demux;  // net.ipv4.ip_early_demux, udp_early_demux
    // Where `ingressctl trace` / `capture` sessions are published (null: never observed).
    ObserveHub* observe = nullptr;
    // Copies of the frames the kernel kept on this port (AF_XDP: the XDP program's tap ring
    // buffer), drained into the taps at each burst while a tap is open. One worker per port
    // (the ring has one consumer); null: none.
    io::KernelFrames* kernel_frames = nullptr;
};

class Pipeline {
public:
    Pipeline(io::Backend& backend, core::CounterBlock& counters, PipelineTables tables) noexcept
        : backend_(backend),
          sink_(backend, counters),
          c_(counters),
          t_(tables),
          icmp_(backend, txq_, t_.icmp),
          defrag_(t_.defrag) {
        assert(t_.port && t_.routes && (t_.endpoints || t_.endpoint_pub));
        sink_.set_reasm_pool(&defrag_.buffers());
        sink_.set_mesh(t_.handoff, t_.mesh_worker);
        delivery_.worker = t_.worker;
        delivery_.wakeups = &wakeups_;
        tap_scratch_.delivery = &delivery_;
        if (!t_.observe) t_.observe = &no_observe_;
        obs_.set_worker(t_.worker);
    }
    // Holds pointers into itself (delivery_ -> wakeups_): neither copied nor moved.
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Runs one received burst to completion: every packet ends with a fate, frames the
    // pipeline built (ICMP errors) leave in one tx_burst, and the counter block is
    // consistent (rx == delivered + held + passed + dropped) when this returns. `now_ns`
    // is the burst's time (timeouts, rate limits); the caller's clock.
    // Also runs the reassembly timers (ipfrag_time) at `now_ns` and takes in the fragments
    // other workers handed over; a burst with count == 0 does only that.
    // With an observe session live (worker/observe.h) the burst runs the observed copy of
    // the same wiring; without, the cost is one load and one predictable branch per burst.
    void process(core::PacketBatch& batch, uint64_t now_ns = 0) noexcept;
    // Worker shutdown (the kernel's fqdir_exit): every reassembly queue is killed and its
    // fragments are dropped as FRAG_REASM_TIMEOUT, with no MIB counted and no ICMP sent, so
    // the final counters hold nothing and every buffer is back.
    void shutdown() noexcept;
    // Frees, through this worker's backend, the buffers of its own that workers of other
    // backends are done with (handed-off fragments; handoff.h). Each burst does it first;
    // the daemon calls it once more after every worker stopped.
    void take_back() noexcept;

    const ipv4::Defrag& defrag() const noexcept { return defrag_; }
    // The PMTU exceptions "fragmentation needed" taught this worker (ipv4/pmtu.h); another
    // thread may snapshot() it.
    const ipv4::PmtuCache& pmtu() const noexcept { return pmtu_; }
    // Stamps every stage of every burst into `p` (the worker's runtime profile; null: off).
    void set_profile(RuntimeProfile* p) noexcept { profile_ = p; }
    // Benchmarks only: verify every UDP checksum before queueing (demux::DemuxEnv).
    void set_csum_at_queue(bool on) noexcept { csum_at_queue_ = on; }

private:
    template <bool kObserve>
    void process_impl(core::PacketBatch& batch, uint64_t now_ns, ObserveSession* s) noexcept;
    // run_stage(), with each packet's step recorded when the burst is observed.
    template <bool kObserve, class F>
    void stage(core::PacketBatch& batch, TraceStage st, F&& f) noexcept {
        if constexpr (kObserve)
            run_stage(batch, sink_, [&](core::Packet& p) { return obs_.around(p, st, f); });
        else
            run_stage(batch, sink_, f);
    }
    // Splits off the fragments another worker owns (pushed to its ring, or dropped when the
    // ring is full).
    void hand_off(core::PacketBatch& batch) noexcept;
    // ip_local_deliver: defrag, then demux::local_deliver_finish; every packet ends with a
    // fate. `entered`: the frames the defrag stage is charged with (the handoff's included);
    // `looped`: the batch is answers to our own addresses received on lo (DemuxEnv::looped).
    template <bool kObserve>
    void local_deliver(core::PacketBatch& batch, uint64_t now_ns, Laps& laps, uint16_t entered,
                       bool looped = false) noexcept;
    // The frames the kernel kept, copied by the XDP program: to the taps as received frames
    // (their true pkt_type), at most kKernelFramesPerBurst per burst. No fate: the frame is
    // the kernel's.
    void tap_kernel_frames(const demux::EndpointTable& eps) noexcept;
    static void on_kernel_frame(void* self, std::span<const uint8_t> frame,
                                uint32_t wire_len) noexcept;
    static constexpr uint32_t kKernelFramesPerBurst = core::kBurst;

    io::Backend& backend_;
    FateSink sink_;
    core::CounterBlock& c_;
    PipelineTables t_;
    io::TxQueue txq_;
    ipv4::IcmpSender icmp_;
    ipv4::Defrag defrag_;
    ipv4::PmtuCache pmtu_{t_.pmtu};
    core::PacketBatch handed_in_;
    core::PacketBatch looped_;  // the answers icmp_ looped back, taken in after the burst
    ipv4::RouteHint hint_;
    demux::TapScratch tap_scratch_;
    l2::Port lo_port_;  // lo, as the taps see it for looped answers (its ifindex, zero MAC)
    // tap_kernel_frames(): the snapshot and timestamp of the current drain, and a counter block
    // for the L2 stages' counts, which are not this worker's (the kernel received the frame).
    const demux::EndpointTable* kernel_eps_ = nullptr;
    uint64_t kernel_ts_ = 0;
    core::CounterBlock kernel_l2_;
    // Endpoints whose app ring got data this burst: their needs-wakeup flags are checked
    // once, at burst end.
    demux::WakeupList wakeups_;
    demux::DeliveryCtx delivery_;
    const demux::EndpointTable* eps_ = nullptr;  // this burst's snapshot
    uint64_t knobs_generation_ = 0;              // of the knobs icmp_ and defrag_ hold
    RuntimeProfile* profile_ = nullptr;
    bool csum_at_queue_ = false;
    uint64_t route_generation_ = 0;  // this burst's route tables
    Observer obs_;
    static inline ObserveHub no_observe_;  // for pipelines built without a hub
};

}  // namespace ingress::worker
