// The whole worker path on one core: eth_type_trans -> vlan_untag -> vlan_do_receive
// -> ptype_dispatch -> rcv_core -> route_input -> defrag check -> local_deliver_finish ->
// udp_rcv -> the endpoint's shared-memory ring (payload and record written into the slot),
// on 64-byte UDP frames (60 bytes + FCS: 18 payload bytes) to 1, 16, 512 and 10,000 endpoints.
//
// One benchmark iteration is one burst of 64 frames through Pipeline::process(). The frames
// come from a recycling backend: a fixed set of pre-built frames handed out again and again
// (rx_burst sets the same Packet fields a NIC backend does; free_bulk takes them back), so
// the loop measures the worker, not test-fixture allocation. The application side is a
// consumer that empties the rings once per cycle of the frame set (O(1) per endpoint).
//
//   build/bench/bench_pipeline
//
// BM_PipelineUdpLarge: 1472-byte datagrams (1514-byte frames) to one endpoint, with the
// kernel's read-time checksum (csum_at_queue:0: udp_rcv leaves the checksum of a datagram
// longer than CHECKSUM_BREAK to the reader, the default) and without (1: verified in the
// worker before queueing), side by side; BM_AppReadLarge is the reader's side of the same
// datagrams (libingress's peek_verified + the copy recvmmsg makes, verify:1) against the
// copy alone (verify:0).
//
// Each case runs twice, without and with the runtime profile (BM_PipelineUdpUnicastProfiled:
// the worker's TSC stamps per stage per burst, worker/runtime.h), in the same run: the
// difference is the profile's own cost.
//
// BM_RingFloor: the same datagrams into the same rings with no parsing and no lookup (the
// ring push alone, and one line written per slot alone): what the rings' memory costs at
// 1, 512 and 10,000 endpoints, the floor under BM_PipelineUdpUnicast.
//
// Reports items_per_second (= packets/s), Mpps and ns_per_pkt, as mean / median / stddev /
// max / min over 5 repetitions.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/counters.h"
#include "demux/delivery.h"
#include "demux/endpoint_table.h"
#include "io/backend.h"
#include "ipv4/route_tables.h"
#include "l2/port.h"
#include "wire/frame_builder.h"
#include "worker/observe.h"
#include "worker/pipeline.h"
#include "worker/runtime.h"

namespace {

using namespace ingress;

const wire::Mac kPortMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
const wire::Mac kPeerMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
constexpr wire::Ipv4Addr kLocal = wire::ipv4(198, 18, 0, 1);
constexpr wire::Ipv4Addr kPeer = wire::ipv4(198, 18, 0, 2);

// Hands out the same pre-built frames forever; never allocates.
class RecycleBackend final : public io::Backend {
public:
    explicit RecycleBackend(const std::vector<std::vector<uint8_t>>& frames)
        : n_(static_cast<uint32_t>(frames.size())),
          stride_(stride_of(frames)),
          mem_(std::make_unique<uint8_t[]>(std::size_t{n_} * stride_)),
          lens_(frames.size()) {
        for (uint32_t i = 0; i < n_; ++i) {
            std::copy(frames[i].begin(), frames[i].end(), mem_.get() + std::size_t{i} * stride_);
            lens_[i] = static_cast<uint32_t>(frames[i].size());
        }
    }
    uint16_t rx_burst(uint16_t queue, core::Packet* pkts, uint16_t max) noexcept override {
        static const core::Packet kFresh{};  // copied, not built on the stack per packet
        for (uint16_t i = 0; i < max; ++i) {
            core::Packet& p = pkts[i];
            p = kFresh;
            p.data = mem_.get() + std::size_t{next_} * stride_;
            p.buf = next_;
            p.len = lens_[next_];
            p.queue = queue;
            p.ifindex = 1;
            if (++next_ == n_) next_ = 0;
        }
        stats_.rx += max;
        return max;
    }
    uint16_t tx_burst(uint16_t, core::Packet*, uint16_t n) noexcept override {
        stats_.tx += n;
        return n;
    }
    void pass_burst(uint16_t, core::Packet*, uint16_t n) noexcept override { stats_.passed += n; }
    void free_bulk(const uint64_t*, uint16_t n) noexcept override { stats_.freed += n; }
    bool try_alloc(core::Packet&, uint32_t) noexcept override { return false; }
    io::BackendStats stats() const noexcept override { return stats_; }
    std::string name() const override { return "recycle"; }

private:
    // The longest frame rounded up to 128 bytes (a 64-byte frame's stride stays 128).
    static std::size_t stride_of(const std::vector<std::vector<uint8_t>>& frames) {
        std::size_t m = 1;
        for (const auto& f : frames) m = std::max(m, f.size());
        return (m + 127) / 128 * 128;
    }
    uint32_t n_;
    std::size_t stride_;
    std::unique_ptr<uint8_t[]> mem_;
    std::vector<uint32_t> lens_;
    uint32_t next_ = 0;
    io::BackendStats stats_;
};

// The receiving port (ifindex 1) and its route tables: kLocal/24 on it, as in a worker (the
// route stage with its hint across the burst).
struct BenchHost {
    l2::Port port{.ifindex = 1, .mac = kPortMac};
    ipv4::RoutePublisher routes{[] {
        ipv4::RouteConfig c;
        c.ifaces.push_back(
            {.ifindex = 1, .name = "bench0", .addrs = {{.addr = kLocal, .prefix_len = 24}}});
        return c;
    }()};
};

// The endpoints deliver into shared-memory rings (one memfd ring each, one worker), the apps'
// consumer side drained once per cycle.
// `observe`: what `ingressctl trace` leaves in the worker: kOff (the hub read once per
// burst, no session: the cost every worker pays), kNoMatch (a session whose filter matches
// none of the frames: the observed copy of the pipeline plus bpf_filter on every frame),
// kMatchAll (every frame traced, every stage recorded, the ring full: records lost).
enum class Observe { kOff, kNoMatch, kMatchAll };
// `bindings` >= 0: 16 endpoints and that many bindings (demux/sk_lookup.h) in the table
// (state.range(0) is the binding count): see add_bindings().
void add_bindings(demux::EndpointTable::Builder& b,
                  const std::vector<std::unique_ptr<demux::UdpEndpoint>>& eps, uint32_t n);
// `payload`: UDP payload bytes per datagram; `csum_at_queue`: demux::DemuxEnv's switch.
// `stalled`: the apps never read, so once their rings are full every datagram is refused
// (SOCKET_RCVBUFF): the worker's cost under overload, an app that does not keep up.
// `rings`: kBench, rings sized for the bench's cycle and a budget that holds them whole;
// kDaemonFollow, the daemon's default rings (ring_slots 1024 x 2048 B) and budget
// (rmem_default: 256 active slots, shm/ring.h), the apps reading after every burst;
// kDaemonWhole, the same with every slot active (the ring not following the budget).
enum class Rings { kBench, kDaemonFollow, kDaemonWhole };
// The rings' geometry and budgets for `per_ep_cycle` datagrams of `payload` bytes per
// endpoint per cycle (the floor benchmark below delivers into the same ones).
struct RingSetup {
    shm::RingGeometry g;
    demux::RingBudgets budgets;
    bool daemon = false;  // the daemon's rings (kDaemonFollow, kDaemonWhole)
    // A budget (SO_RCVBUF) that holds a full ring of frames of `frame_len` bytes, so the
    // budget check runs on every datagram and never refuses one; the daemon's default for
    // its rings.
    uint32_t rcvbuf(uint32_t frame_len) const noexcept {
        return daemon ? demux::kRmemDefault : g.slot_count * demux::skb_truesize(frame_len);
    }
};
RingSetup ring_setup(Rings kind, uint32_t per_ep_cycle, uint32_t payload) {
    RingSetup s;
    const uint32_t slot =
        (static_cast<uint32_t>(sizeof(shm::SlotMeta)) + std::max(payload, 64u) + 63) / 64 * 64;
    s.daemon = kind != Rings::kBench;
    s.g = s.daemon ? shm::RingGeometry{1024, 2048}
                   : shm::RingGeometry{std::bit_ceil(per_ep_cycle + core::kBurst), slot};
    if (kind == Rings::kDaemonFollow) s.budgets = {demux::kRmemDefault, demux::kRmemDefault};
    return s;
}
// One endpoint's rings (one worker), its app's consumer side added to `apps`.
std::shared_ptr<demux::ShmRings> bench_rings(uint32_t id, const RingSetup& s,
                                             std::vector<shm::RingConsumer>& apps) {
    auto rings =
        std::make_shared<demux::ShmRings>(id, 1, s.g, demux::ShmRings::kDefaultErrSlots, s.budgets);
    apps.emplace_back(rings->region(0).data());
    // No app here needs the fds (three per endpoint: 10,000 endpoints would pass
    // RLIMIT_NOFILE); the mappings stay.
    rings->close_fds();
    // Steady state: every slot page already faulted in, as in a daemon that has run a while
    // (the memfd's pages are allocated on first write; 10,000 fresh rings would otherwise
    // measure page faults).
    std::memset(static_cast<uint8_t*>(rings->region(0).data()) + s.g.header_size(), 0,
                std::size_t{rings->active_slots(0)} * s.g.slot_size);
    return rings;
}
// The applications empty their rings.
void drain(std::vector<shm::RingConsumer>& apps) noexcept {
    for (auto& app : apps) {
        uint32_t idx;
        app.release(app.peek(UINT32_MAX, &idx));
    }
}
void pipeline_udp_unicast(benchmark::State& state, bool profiled, Observe observe = Observe::kOff,
                          bool bindings = false, uint32_t payload = 18, bool csum_at_queue = false,
                          bool stalled = false, Rings rings_kind = Rings::kBench) {
    const auto endpoints = bindings ? 16u : static_cast<uint32_t>(state.range(0));
    // One frame per endpoint (each endpoint gets one datagram per cycle), and at least one
    // full burst; flows vary by source port.
    const uint32_t nframes = std::max<uint32_t>(endpoints, 1024);
    std::vector<std::vector<uint8_t>> frames;
    for (uint32_t i = 0; i < nframes; ++i) {
        frames.push_back(wire::FrameBuilder()
                             .eth(kPeerMac, kPortMac)
                             .ipv4(kPeer, kLocal)
                             .udp(static_cast<uint16_t>(1024 + i % 50000),
                                  static_cast<uint16_t>(10000 + i % endpoints))
                             .payload_size(payload)
                             .build());
    }
    const uint32_t per_ep_cycle = (nframes + endpoints - 1) / endpoints;
    std::vector<std::unique_ptr<demux::UdpEndpoint>> eps;
    std::vector<shm::RingConsumer> apps;
    demux::EndpointTable::Builder b;
    const RingSetup rs = ring_setup(rings_kind, per_ep_cycle, payload);
    const shm::RingGeometry& g = rs.g;
    const bool daemon_rings = rs.daemon;
    for (uint32_t i = 0; i < endpoints; ++i) {
        eps.push_back(std::make_unique<demux::UdpEndpoint>(bench_rings(i + 1, rs, apps)));
        eps.back()
            ->bind(kLocal, static_cast<uint16_t>(10000 + i))
            .set_rcvbuf(rs.rcvbuf(static_cast<uint32_t>(frames[0].size())));
        b.add(*eps.back());
    }
    if (bindings) add_bindings(b, eps, static_cast<uint32_t>(state.range(0)));
    auto table = b.build();

    RecycleBackend backend(frames);
    core::CounterBlock counters;
    BenchHost host;
    l2::Port& port = host.port;
    ipv4::RoutePublisher& routes = host.routes;
    worker::ObserveHub hub;
    worker::ObserveSpec spec;
    if (observe == Observe::kNoMatch) spec.filter = *worker::compile_filter("udp port 1");
    worker::ObserveSession session(spec, 1);
    if (observe != Observe::kOff) hub.start(&session);
    worker::Pipeline pipeline(
        backend, counters,
        {.port = &port, .routes = &routes, .endpoints = table.get(), .observe = &hub});
    // The runtime profile as a worker keeps it (worker/runtime.h): the pipeline's stage stamps
    // and the worker's own around rx_burst and the poll.
    worker::RuntimeProfile profile;
    if (profiled) pipeline.set_profile(&profile);
    pipeline.set_csum_at_queue(csum_at_queue);
    core::PacketBatch batch;
    // The daemon's rings hold 256 datagrams under their budget: an endpoint that gets more
    // in a cycle (one endpoint: 1024) has its app read after every burst.
    const uint32_t bursts_per_cycle =
        daemon_rings && per_ep_cycle > 256 - core::kBurst ? 1 : nframes / core::kBurst;
    uint32_t burst = 0;
    for (auto _ : state) {
        const uint64_t t0 = profiled ? core::tsc_now() : 0;
        batch.count = backend.rx_burst(0, batch.pkts.data(), core::kBurst);
        const uint16_t n = batch.count;
        if (profiled) profile.stage(worker::Stage::kRx, core::tsc_now() - t0, n);
        pipeline.process(batch, 1'000'000'000);
        if (profiled) profile.poll(n, core::tsc_now() - t0);
        if (++burst == bursts_per_cycle && !stalled) {  // the applications drain their rings
            burst = 0;
            drain(apps);
        }
    }
    const auto snap = counters.snapshot();
    if (!stalled && snap.delivered != snap.rx) state.SkipWithError("not every frame was delivered");
    if (stalled && (!snap.conserved() ||
                    snap.delivered + snap.drop_value(core::DropReason::kSocketRcvbuff) != snap.rx ||
                    snap.delivered > uint64_t{endpoints} * g.slot_count))
        state.SkipWithError(("a stalled app's datagrams were not refused as SOCKET_RCVBUFF: rx " +
                             std::to_string(snap.rx) + " delivered " +
                             std::to_string(snap.delivered) + " dropped " +
                             std::to_string(snap.dropped_total()) + " rcvbuff " +
                             std::to_string(snap.drop_value(core::DropReason::kSocketRcvbuff)))
                                .c_str());
    if ((observe == Observe::kMatchAll) != (session.lost() + session.skipped() > 0))
        state.SkipWithError("the trace did not see what it should");
    hub.stop();
    const double pkts = static_cast<double>(state.iterations()) * core::kBurst;
    state.SetItemsProcessed(static_cast<int64_t>(pkts));
    state.counters["ns_per_pkt"] =
        benchmark::Counter(pkts, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["Mpps"] = benchmark::Counter(pkts / 1e6, benchmark::Counter::kIsRate);
    if (profiled) {
        const worker::RuntimeSnapshot r = profile.snapshot();
        if (r.frames != snap.rx) state.SkipWithError("the profile lost frames");
        state.counters["prof_cyc_per_pkt"] =
            static_cast<double>(r.busy_cycles) / static_cast<double>(r.frames ? r.frames : 1);
    }
}

void BM_PipelineUdpUnicast(benchmark::State& state) {
    pipeline_udp_unicast(state, false);
}
// The daemon's default rings and budget (one endpoint gets up to a burst before its app
// reads); follow: 1, the active slots follow the budget (256); 0, all 1024 are used.
void BM_PipelineUdpDefaultBudget(benchmark::State& state) {
    pipeline_udp_unicast(state, false, Observe::kOff, false, 18, false, false,
                         state.range(1) ? Rings::kDaemonFollow : Rings::kDaemonWhole);
}
// The same with the runtime profile on: the difference is the profile's own cost.
void BM_PipelineUdpUnicastProfiled(benchmark::State& state) {
    pipeline_udp_unicast(state, true);
}

void BM_PipelineUdpStalledApp(benchmark::State& state) {
    pipeline_udp_unicast(state, false, Observe::kOff, false, 18, false, true);
}

// Repeated, with the best run reported beside mean/median: on a shared machine other
// processes only ever make a run slower, so "max" of items_per_second / Mpps is the
// machine's figure (for ns_per_pkt, read "min").
// The worker's path: rcv_core -> route_input with its hint -> defrag check -> udp. One
// memfd ring per endpoint, mapped (the bench closes the fds: ShmRings::close_fds()).
void repeated(benchmark::internal::Benchmark* b) {
    b->Repetitions(5)
        ->ComputeStatistics(
            "max",
            [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); })
        ->ComputeStatistics(
            "min",
            [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
        ->ReportAggregatesOnly(true);
}
void pipeline_args(benchmark::internal::Benchmark* b) {
    repeated(b->Arg(1)->Arg(16)->Arg(512)->Arg(10000)->ArgName("endpoints"));
}
// ingressctl trace live in the same run (worker/observe.h): BM_PipelineUdpUnicast is the
// trace-off figure; these are the bounded cost while a session runs.
void BM_PipelineUdpUnicastTraceNoMatch(benchmark::State& state) {
    pipeline_udp_unicast(state, false, Observe::kNoMatch);
}
void BM_PipelineUdpUnicastTraceAll(benchmark::State& state) {
    pipeline_udp_unicast(state, false, Observe::kMatchAll);
}
// Bindings (tubular's sk_lookup model) in the lookup: 16 endpoints bound to kLocal:10000+i,
// traffic spread evenly over them. Up to 16 bindings are (kLocal/32, port 10000+i) ->
// label i with endpoint i under it: those flows are steered by a binding (to the endpoint
// the bound lookup would have found, so delivery is the same), the others probe every prefix
// length in use, find nothing and go on to the bound lookup. Beyond 16, the bindings are
// fillers over 198.19.0.0/16 that never match, spread over 17 prefix lengths (/16../32)
// and port ranges, so a missing flow pays 17 hash probes. 0 bindings: the one branch.
void add_bindings(demux::EndpointTable::Builder& b,
                  const std::vector<std::unique_ptr<demux::UdpEndpoint>>& eps, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
        demux::Binding x;
        if (i < eps.size()) {
            x.prefix = kLocal;
            x.prefix_len = 32;
            x.port_lo = x.port_hi = static_cast<uint16_t>(10000 + i);
            x.label = "l" + std::to_string(i);
            b.add_label_member(x.label, *eps[i]);
        } else {
            const uint32_t len = 16 + i % 17;
            const uint32_t host = (i * 2654435761u) & 0xffffu;
            x.prefix = (wire::ipv4(198, 19, 0, 0) | host) & (len ? ~0u << (32 - len) : 0);
            x.prefix_len = static_cast<uint8_t>(len);
            x.port_lo = static_cast<uint16_t>(1000 + i % 50000);
            x.port_hi = static_cast<uint16_t>(x.port_lo + i % 7);
            x.label = "filler" + std::to_string(i % 64);
        }
        b.add_binding(x);
    }
}
void BM_PipelineUdpBindings(benchmark::State& state) {
    pipeline_udp_unicast(state, false, Observe::kOff, true);
}
void bindings_args(benchmark::internal::Benchmark* b) {
    repeated(b->Arg(0)->Arg(10)->Arg(10000)->ArgName("bindings"));
}

// The worker with and without the read-time checksum of long datagrams (state.range(0) =
// csum_at_queue), 1472-byte payloads to one endpoint.
void BM_PipelineUdpLarge(benchmark::State& state) {
    pipeline_udp_unicast(state, false, Observe::kOff, false, 1472, state.range(0) != 0);
}
void large_args(benchmark::internal::Benchmark* b) {
    repeated(b->ArgPair(1, 0)->ArgPair(1, 1)->ArgNames({"endpoints", "csum_at_queue"}));
}

// The floor under BM_PipelineUdpUnicast (issue 21): the same endpoints, rings, budgets and
// datagrams in the same order (frame i of the cycle to endpoint i % endpoints, 64 per burst,
// the apps draining once per cycle), with no parsing and no lookup: the endpoint comes from a
// compact array. `mode`:
//   kPush:   only the ring push, what Receiver::queue_rcv does once it has the endpoint (the
//            record written in place, the 18 payload bytes, the budget check, submit, the
//            wakeup list; one fence per burst): the rings' own memory (ShmRings, the worker's
//            producer state and charge array, the ring header's lines, the slot's lines).
//   kPushPrefetch: the same after the last passes of demux::udp_prefetch (the ShmRings, the
//            producer state, the next slot and charge entry) over the burst.
//   kTouch:  only one 64-byte line written in each datagram's slot (the slot the push would
//            fill; no ring state read or written): the bare memory floor.
//   kTouchPrefetch: the same with the burst's slot lines prefetched first.
enum class Floor { kPush, kPushPrefetch, kTouch, kTouchPrefetch };
void BM_RingFloor(benchmark::State& state) {
    const auto endpoints = static_cast<uint32_t>(state.range(0));
    const auto mode = static_cast<Floor>(state.range(1));
    const bool push = mode == Floor::kPush || mode == Floor::kPushPrefetch;
    const bool prefetch = mode == Floor::kPushPrefetch || mode == Floor::kTouchPrefetch;
    constexpr uint32_t kPayload = 18;
    const uint32_t nframes = std::max<uint32_t>(endpoints, 1024);
    const uint32_t per_ep_cycle = (nframes + endpoints - 1) / endpoints;
    const std::vector<uint8_t> frame = wire::FrameBuilder()
                                           .eth(kPeerMac, kPortMac)
                                           .ipv4(kPeer, kLocal)
                                           .udp(1024, 10000)
                                           .payload_size(kPayload)
                                           .build();
    const auto frame_len = static_cast<uint32_t>(frame.size());
    const std::span<const uint8_t> payload{frame.data() + frame_len - kPayload, kPayload};
    const RingSetup rs = ring_setup(Rings::kBench, per_ep_cycle, kPayload);
    // Per endpoint: its rings and budget (kPush*), where its slots start and the next one
    // (kTouch*).
    struct Target {
        demux::ShmRings* rings;
        uint32_t rcvbuf;
        uint32_t mask;
        uint8_t* slots;
        uint32_t next = 0;
    };
    std::vector<std::shared_ptr<demux::ShmRings>> owned;
    std::vector<shm::RingConsumer> apps;
    std::vector<Target> targets;
    for (uint32_t i = 0; i < endpoints; ++i) {
        owned.push_back(bench_rings(i + 1, rs, apps));
        demux::ShmRings& r = *owned.back();
        targets.push_back({&r, rs.rcvbuf(frame_len), r.active_slots(0) - 1,
                           static_cast<uint8_t*>(r.region(0).data()) + rs.g.header_size()});
    }
    // The cycle's datagrams: endpoint and source port of frame i (as the pipeline's frames).
    struct Dgram {
        uint32_t ep;
        uint16_t sport;
    };
    std::vector<Dgram> cycle(nframes);
    for (uint32_t i = 0; i < nframes; ++i)
        cycle[i] = {i % endpoints, static_cast<uint16_t>(1024 + i % 50000)};
    const uint32_t truesize = demux::skb_truesize(frame_len);
    demux::WakeupList wakeups;
    const demux::DeliveryCtx ctx{0, &wakeups};
    alignas(64) std::array<uint8_t, 64> line{};
    const uint32_t bursts_per_cycle = nframes / core::kBurst;
    uint32_t next = 0, burst = 0;
    uint64_t refused = 0;
    auto slot_of = [&rs](Target& t) noexcept {
        return t.slots + std::size_t{t.next & t.mask} * rs.g.slot_size;
    };
    for (auto _ : state) {
        if (prefetch) {
            auto each = [&](auto f) noexcept {
                for (uint32_t k = 0, i = next; k < core::kBurst;
                     ++k, i = i + 1 == nframes ? 0 : i + 1)
                    f(targets[cycle[i].ep]);
            };
            if (push) {
                each([](Target& t) noexcept { __builtin_prefetch(t.rings); });
                each([](Target& t) noexcept { t.rings->prefetch_producer(0); });
                each([](Target& t) noexcept { t.rings->prefetch_next_slot(0); });
            } else {
                each([&](Target& t) noexcept { __builtin_prefetch(slot_of(t), 1); });
            }
        }
        for (uint32_t k = 0; k < core::kBurst; ++k) {
            const Dgram d = cycle[next];
            if (++next == nframes) next = 0;
            Target& t = targets[d.ep];
            if (!push) {
                std::memcpy(slot_of(t), line.data(), line.size());
                ++t.next;
                continue;
            }
            const auto dport = static_cast<uint16_t>(10000 + d.ep);
            // Receiver::queue_rcv's record for a verified datagram.
            auto fill = [&d, dport](shm::SlotMeta& m) noexcept {
                m.src_addr = kPeer;
                m.dst_addr = kLocal;
                m.src_port = d.sport;
                m.dst_port = dport;
                m.ifindex = 1;
                m.pkt_type = static_cast<uint8_t>(core::PktType::kHost);
                m.protocol = wire::kIpProtoUdp;
                m.flags = INGRESS_F_CSUM_VERIFIED;
                m.tos = 0;
                m.ttl = 64;
                m.rx_ns = 0;
            };
            const demux::RcvBudget budget{truesize, t.rcvbuf};
            if (!t.rings->try_emplace(fill, payload, {}, &ctx, &budget)) ++refused;
        }
        if (push) {
            wakeups.flush(0);
            if (++burst == bursts_per_cycle) {
                burst = 0;
                drain(apps);
            }
        }
    }
    const double pkts = static_cast<double>(state.iterations()) * core::kBurst;
    uint64_t delivered = 0;
    for (const auto& r : owned) delivered += r->delivered();
    if (push && (refused != 0 || delivered != static_cast<uint64_t>(pkts)))
        state.SkipWithError("not every datagram was delivered");
    state.SetItemsProcessed(static_cast<int64_t>(pkts));
    state.counters["ns_per_pkt"] =
        benchmark::Counter(pkts, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["Mpps"] = benchmark::Counter(pkts / 1e6, benchmark::Counter::kIsRate);
}
void floor_args(benchmark::internal::Benchmark* b) {
    repeated(b->ArgsProduct({{1, 512, 10000}, {0, 1, 2, 3}})->ArgNames({"endpoints", "mode"}));
}

// The reader's side: 1024 unverified 1472-byte datagrams in a ring (queued by the pipeline),
// read as recvmmsg reads them (each payload copied out), with libingress's verification
// (state.range(0) = 1: RingConsumer::peek_verified) or without (0: peek alone, what the
// reader cost before the deferral). The ring is read again from the same index each
// iteration (nothing released), so every iteration reads the same 1024 slots.
void BM_AppReadLarge(benchmark::State& state) {
    const bool verify = state.range(0) != 0;
    constexpr uint32_t kN = 1024;
    std::vector<std::vector<uint8_t>> frames;
    for (uint32_t i = 0; i < kN; ++i)
        frames.push_back(wire::FrameBuilder()
                             .eth(kPeerMac, kPortMac)
                             .ipv4(kPeer, kLocal)
                             .udp(static_cast<uint16_t>(1024 + i), 10000)
                             .payload_size(1472)
                             .build());
    auto rings = std::make_shared<demux::ShmRings>(1, 1, shm::RingGeometry{kN, 1536});
    demux::UdpEndpoint ep(rings);
    ep.bind(kLocal, 10000).set_rcvbuf(kN * demux::skb_truesize(frames[0].size()));
    demux::EndpointTable::Builder b;
    b.add(ep);
    auto table = b.build();
    RecycleBackend backend(frames);
    core::CounterBlock counters;
    BenchHost host;
    worker::Pipeline pipeline(
        backend, counters, {.port = &host.port, .routes = &host.routes, .endpoints = table.get()});
    core::PacketBatch batch;
    for (uint32_t i = 0; i < kN / core::kBurst; ++i) {
        batch.count = backend.rx_burst(0, batch.pkts.data(), core::kBurst);
        pipeline.process(batch, 1'000'000'000);
    }
    if (rings->used() != kN) state.SkipWithError("the ring did not fill");
    std::vector<uint8_t> buf(2048);
    for (auto _ : state) {
        shm::RingConsumer app(rings->region(0).data());
        uint32_t idx;
        const uint32_t n = verify ? app.peek_verified(kN, &idx, false) : app.peek(kN, &idx);
        for (uint32_t i = 0; i < n; ++i) {
            const auto p = app.payload(idx + i);
            std::memcpy(buf.data(), p.data(), p.size());
        }
        benchmark::DoNotOptimize(buf.data());
        if (n != kN) state.SkipWithError("a datagram failed its checksum");
    }
    const double pkts = static_cast<double>(state.iterations()) * kN;
    state.SetItemsProcessed(static_cast<int64_t>(pkts));
    state.counters["ns_per_pkt"] =
        benchmark::Counter(pkts, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_PipelineUdpUnicast)->Apply(pipeline_args);
BENCHMARK(BM_PipelineUdpStalledApp)->Apply(pipeline_args);
BENCHMARK(BM_RingFloor)->Apply(floor_args);
BENCHMARK(BM_PipelineUdpDefaultBudget)
    ->ArgsProduct({{1, 512}, {0, 1}})
    ->ArgNames({"endpoints", "follow"})
    ->Apply(repeated);
BENCHMARK(BM_PipelineUdpLarge)->Apply(large_args);
BENCHMARK(BM_AppReadLarge)->Arg(0)->Arg(1)->ArgName("verify")->Apply(repeated);
BENCHMARK(BM_PipelineUdpBindings)->Apply(bindings_args);
BENCHMARK(BM_PipelineUdpUnicastProfiled)->Apply(pipeline_args);
BENCHMARK(BM_PipelineUdpUnicastTraceNoMatch)->Apply(pipeline_args);
BENCHMARK(BM_PipelineUdpUnicastTraceAll)->Apply(pipeline_args);

}  // namespace

BENCHMARK_MAIN();
