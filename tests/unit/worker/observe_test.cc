// ingressctl trace / capture on the worker side (worker/observe.h): the steps a traced frame
// records, the filter, drops-only, the bounded ring, and that observing never changes the
// traffic's counters.
#include "worker/observe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "demux/endpoint.h"
#include "support/counters.h"
#include "support/demux.h"
#include "support/rings.h"
#include "wire/icmp.h"

namespace ingress::worker {
namespace {

using test::kLocal;
using test::kPeer;
using test::udp_to;

// A demux harness whose pipeline reads `hub`; observe() runs frames under one session.
struct ObserveHarness : test::DemuxHarness {
    ObserveHarness() { tables.observe = &hub; }
    void observe(ObserveSession& s, const std::vector<std::vector<uint8_t>>& frames) {
        if (!endpoints) publish();
        hub.start(&s);
        run(frames);
        hub.stop();
    }
    ObserveHub hub;
};

std::vector<CaptureRecord> drain_copies(ObserveSession& s) {
    std::vector<CaptureRecord> out(8);
    out.resize(s.drain(0, out.data(), static_cast<uint32_t>(out.size())));
    return out;
}

std::vector<TraceRecord> drain(ObserveSession& s) {
    std::vector<TraceRecord> out(64);
    out.resize(s.drain(0, out.data(), static_cast<uint32_t>(out.size())));
    return out;
}

std::vector<std::string> lines(const TraceRecord& r) {
    std::vector<std::string> out;
    for (uint8_t i = 0; i < r.nsteps; ++i) out.push_back(format_step(r.steps[i]));
    return out;
}

ObserveSpec trace_spec(const std::string& filter = {}) {
    ObserveSpec spec;
    if (!filter.empty()) spec.filter = compile_filter(filter).value();
    return spec;
}

// __udp4_lib_rcv with no socket: the stages in the kernel's order, the local route and the
// reverse route, and the fate NO_SOCKET (what `perf trace skb:kfree_skb` names it).
TEST(Observe, TraceOfNoSocketDropShowsEveryStageAndTheReason) {
    ObserveHarness h;
    ObserveSession s(trace_spec(), 1);
    h.observe(s, {udp_to(kLocal, 5555).build()});
    auto recs = drain(s);
    ASSERT_EQ(recs.size(), 1u);
    const TraceRecord& r = recs[0];
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.fate, core::Verdict::Kind::kDrop);
    EXPECT_EQ(r.reason, core::DropReason::kNoSocket);
    auto l = lines(r);
    ASSERT_EQ(l.size(), 7u) << ::testing::PrintToString(l);
    EXPECT_EQ(l[0], "eth_type_trans: pkt_type PACKET_HOST, ethertype 0x0800");
    EXPECT_EQ(l[1].rfind("vlan_do_receive", 0), std::string::npos) << "no tag, no VLAN step";
    EXPECT_EQ(l[1], "__netif_receive_skb_core: protocol 0x0800");
    EXPECT_EQ(l[2], "ip_rcv_core: 198.18.0.2 > 198.18.0.1 proto 17 len 46 frag_off 0x0000");
    EXPECT_EQ(l[3], "ip_route_input_noref: route local, table local, 198.18.0.1/32 dev 1");
    EXPECT_EQ(l[4], "fib_validate_source: rp_filter 0, accept, reverse route 198.18.0.0/16 dev 1");
    EXPECT_EQ(l[5], "ip_local_deliver_finish: protocol 17");
    EXPECT_EQ(l[6], "__udp4_lib_lookup: no endpoint -> dropped SKB_DROP_REASON_NO_SOCKET");
}

// The same datagram with an endpoint bound: the lookup's score (compute_score: PF_INET 2;
// the bound address is the slot's key, no bonus), the step that found it, the endpoint and the ring
// slot it used; fate delivered.
TEST(Observe, TraceOfDeliveredDatagramShowsEndpointScoreAndSlot) {
    ObserveHarness h;
    demux::UdpEndpoint ep(test::rings(8), "app");
    ep.bind(kLocal, 5555);
    h.builder.add(ep);
    h.publish();
    h.run_one(udp_to(kLocal, 5555).build());  // slot 0, before the trace
    ObserveSession s(trace_spec(), 1);
    h.observe(s, {udp_to(kLocal, 5555).build()});
    auto recs = drain(s);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].fate, core::Verdict::Kind::kDelivered);
    auto l = lines(recs[0]);
    ASSERT_FALSE(l.empty());
    EXPECT_EQ(l.back(), "__udp4_lib_lookup: endpoint " + std::to_string(ep.rings().endpoint_id()) +
                            " (score 2, bound address), ring slot 1 -> delivered");
}

// Bindings: the trace names the step (sk_lookup) and the binding that matched, for a
// delivery through a label and for a drop binding's NO_SOCKET.
TEST(Observe, TraceOfABindingNamesSkLookupAndTheBinding) {
    ObserveHarness h;
    demux::UdpEndpoint ep(test::rings(8), "app");
    ep.bind(kLocal, 7000);
    h.builder.add(ep).add_label_member("svc", ep);
    h.builder.add_binding(test::binding(kLocal, 32, "", 9, 9));  // binding 0: drop port 9
    h.builder.add_binding(test::binding(kLocal, 32, "svc", 53, 53));
    h.publish();
    ObserveSession s(trace_spec(), 1);
    h.observe(s, {udp_to(kLocal, 53).build(), udp_to(kLocal, 9).build()});
    auto recs = drain(s);
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(lines(recs[0]).back(), "__udp4_lib_lookup: endpoint " +
                                         std::to_string(ep.rings().endpoint_id()) +
                                         " (score -1, sk_lookup, binding 1), ring slot 0 -> "
                                         "delivered");
    EXPECT_EQ(lines(recs[1]).back(),
              "__udp4_lib_lookup: no endpoint, binding 0 -> dropped SKB_DROP_REASON_NO_SOCKET");
}

// icmp_rcv as a stage of its own after ip_local_deliver_finish: the type, the code and what
// icmp_rcv did, with the verdict (an echo answered, one ignored by each sysctl, an error
// handed to the socket lookup).
wire::FrameBuilder icmp_frame(uint8_t type, uint8_t code = 0, wire::Ipv4Addr dst = kLocal) {
    const wire::Mac l2 = dst == test::kSubnetBcast ? wire::Mac::broadcast() : test::kPortMac;
    auto b = wire::FrameBuilder().eth(test::kPeerMac, l2).ipv4(kPeer, dst);
    if (type == wire::kIcmpDestUnreach) {
        // Quoting a UDP datagram we sent.
        const auto quoted = udp_to(kPeer, 4000, kLocal, 5555).build();
        return b.icmp(type, code).payload({quoted.begin() + 14, quoted.end()});
    }
    return b.icmp(type, code, 0x12340007).payload_size(16);
}

// The last two steps of the one frame's trace.
std::vector<std::string> icmp_trace_tail(ObserveHarness& h, const std::vector<uint8_t>& frame) {
    ObserveSession s(trace_spec(), 1);
    h.observe(s, {frame});
    auto recs = drain(s);
    if (recs.size() != 1) return {};
    auto l = lines(recs[0]);
    if (l.size() < 2) return l;
    return {l.end() - 2, l.end()};
}

TEST(Observe, TraceOfEchoShowsIcmpRcvAndTheReplySent) {
    ObserveHarness h;
    auto l = icmp_trace_tail(h, icmp_frame(wire::kIcmpEcho).build());
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[0], "ip_local_deliver_finish: protocol 1");
    EXPECT_EQ(l[1], "icmp_rcv: type 8 code 0: reply sent -> delivered");
    EXPECT_EQ(h.backend.sent().size(), 1u);
}

TEST(Observe, TraceOfEchoIgnoredNamesTheSysctl) {
    ObserveHarness h;
    h.tables.icmp.icmp_echo_ignore_all = true;
    auto l = icmp_trace_tail(h, icmp_frame(wire::kIcmpEcho).build());
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[1],
              "icmp_rcv: type 8 code 0: ignored (net.ipv4.icmp_echo_ignore_all) -> delivered");
    EXPECT_TRUE(h.backend.sent().empty());
}

TEST(Observe, TraceOfBroadcastEchoNamesIgnoreBroadcasts) {
    ObserveHarness h;
    auto l = icmp_trace_tail(h, icmp_frame(wire::kIcmpEcho, 0, test::kSubnetBcast).build());
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[1],
              "icmp_rcv: type 8 code 0: ignored (net.ipv4.icmp_echo_ignore_broadcasts) -> dropped "
              "SKB_DROP_REASON_INVALID_PROTO");
}

TEST(Observe, TraceOfPortUnreachableShowsTheSocketLookup) {
    ObserveHarness h;
    auto l = icmp_trace_tail(h, icmp_frame(wire::kIcmpDestUnreach, wire::kIcmpPortUnreach).build());
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[1], "icmp_rcv: type 3 code 3: error handed to socket lookup -> delivered");
}

// A traced ICMP message icmp_rcv never sees (an echo reply: the kernel's ping sockets)
// after an untraced one it did: no icmp_rcv step, the protocol step has the fate.
TEST(Observe, TraceOfIcmpLeftToTheKernelHasNoIcmpRcvStep) {
    ObserveHarness h;
    ObserveSession s(trace_spec("icmp[icmptype] == icmp-echoreply"), 1);
    h.observe(s, {icmp_frame(wire::kIcmpEcho).build(), icmp_frame(wire::kIcmpEchoReply).build()});
    auto recs = drain(s);
    ASSERT_EQ(recs.size(), 1u);
    auto l = lines(recs[0]);
    ASSERT_FALSE(l.empty());
    EXPECT_EQ(l.back(), "ip_local_deliver_finish: protocol 1 -> passed to the kernel");
}

// rp_filter=1 with the source routed out of another interface: the route step is local,
// fib_validate_source rejects (-EXDEV) and names the reverse route; fate IP_RPFILTER.
TEST(Observe, TraceOfRpFilterDropNamesTheReverseRoute) {
    ObserveHarness h;
    ipv4::RouteConfig cfg = test::demux_route_config();
    cfg.iface(1)->conf.rp_filter = 1;
    ipv4::IfConfig other;
    other.ifindex = 2;
    other.name = "test1";
    other.addrs.push_back({.addr = wire::ipv4(198, 19, 0, 1), .prefix_len = 24});
    cfg.ifaces.push_back(other);
    h.routes.update(cfg);
    ObserveSession s(trace_spec(), 1);
    h.observe(s, {udp_to(kLocal, 5555, wire::ipv4(198, 19, 0, 7)).build()});
    auto recs = drain(s);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].reason, core::DropReason::kIpRpfilter);
    auto l = lines(recs[0]);
    ASSERT_EQ(l.size(), 5u) << ::testing::PrintToString(l);
    EXPECT_EQ(l[3], "ip_route_input_noref: route local, table local, 198.18.0.1/32 dev 1");
    EXPECT_EQ(l[4],
              "fib_validate_source: rp_filter 1, reject (-EXDEV), reverse route 198.19.0.0/24 "
              "dev 2 -> dropped SKB_DROP_REASON_IP_RPFILTER");
    EXPECT_COUNTERS(h.snap(), ({{"rx", 1},
                                {"IP_RPFILTER", 1},
                                {"IpInReceives", 1},
                                {"IpExtInOctets", 46},
                                {"IpExtInNoECTPkts", 1},
                                {"TcpExtIPReversePathFilter", 1}}));
}

// ip_defrag: the first fragment is held in its queue (id, protocol, offset, MF); the last one
// completes the datagram, which goes on to the lookup as one packet of two frames.
TEST(Observe, TraceOfFragmentsShowsTheReassemblyQueue) {
    ObserveHarness h;
    auto frags = udp_to(kLocal, 5555).ip_id(77).payload_size(100).build_fragments(64);
    ASSERT_EQ(frags.size(), 2u);
    ObserveSession s(trace_spec(), 1);
    h.observe(s, {frags[0]});
    h.observe(s, {frags[1]});
    auto recs = drain(s);
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0].fate, core::Verdict::Kind::kHeld);
    EXPECT_EQ(lines(recs[0]).back(),
              "ip_defrag: queue id 77 proto 17: offset 0 MF -> held (reassembly queue)");
    auto l = lines(recs[1]);
    EXPECT_NE(
        std::find(l.begin(), l.end(), "ip_defrag: queue id 77 proto 17: complete, 2 fragments"),
        l.end())
        << ::testing::PrintToString(l);
    EXPECT_EQ(recs[1].reason, core::DropReason::kNoSocket) << "the whole datagram's fate";
}

TEST(Observe, FilterMatchesOnlyWhatItShould) {
    ObserveHarness h;
    ObserveSession s(trace_spec("udp dst port 2000"), 1);
    h.observe(s, {udp_to(kLocal, 2000).build(), udp_to(kLocal, 3000).build(),
                  udp_to(kLocal, 2000).build(), udp_to(kLocal, 2001).build()});
    auto recs = drain(s);
    ASSERT_EQ(recs.size(), 2u);
    for (const TraceRecord& r : recs) EXPECT_EQ(r.bytes[36] << 8 | r.bytes[37], 2000);
}

TEST(Observe, DropsOnlyKeepsOnlyDroppedFrames) {
    ObserveHarness h;
    demux::UdpEndpoint ep(test::rings(), "app");
    ep.bind(0, 53);
    h.builder.add(ep);
    ObserveSpec spec;
    spec.drops_only = true;
    ObserveSession s(spec, 1);
    h.observe(s, {udp_to(kLocal, 53).build(), udp_to(kLocal, 54).build(),
                  udp_to(kLocal, 53).bad_ip_checksum().build()});
    auto recs = drain(s);
    // Stage by stage over the burst: the IP_CSUM frame ends (and is pushed) first.
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0].reason, core::DropReason::kIpCsum);
    EXPECT_EQ(lines(recs[0]).back().find("ip_rcv_core"), 0u) << "the stage that dropped it";
    EXPECT_EQ(recs[1].reason, core::DropReason::kNoSocket);
}

TEST(Observe, CountEndsTheBudget) {
    ObserveHarness h;
    ObserveSpec spec;
    spec.count = 2;
    ObserveSession s(spec, 1);
    h.observe(s, std::vector<std::vector<uint8_t>>(5, udp_to(kLocal, 9).build()));
    EXPECT_EQ(drain(s).size(), 2u);
    EXPECT_EQ(s.lost(), 0u);
}

// A full ring loses records (counted), never traffic: the counters are those of the same
// frames run unobserved.
TEST(Observe, FullRingCountsLostRecordsAndTrafficIsUnchanged) {
    std::vector<std::vector<uint8_t>> frames(20, udp_to(kLocal, 9).build());
    test::DemuxHarness plain;
    plain.publish();
    plain.run(frames);

    ObserveHarness h;
    ObserveSpec spec;
    spec.ring_slots = 4;
    ObserveSession s(spec, 1);
    h.observe(s, frames);
    EXPECT_EQ(drain(s).size(), 4u);
    // 20 frames in one burst: kMaxOpen traced, the rest skipped; of the traced, 4 fit.
    EXPECT_EQ(s.skipped(), 20u - Observer::kMaxOpen);
    EXPECT_EQ(s.lost(), Observer::kMaxOpen - 4u);
    EXPECT_EQ(core::counter_array(h.snap()), core::counter_array(plain.snap()));
    h.expect_buffers_conserved();
}

TEST(Observe, CaptureDropsCopiesOnlyTheAskedReasons) {
    ObserveHarness h;
    ObserveSpec spec;
    spec.mode = ObserveMode::kCaptureDrops;
    spec.reasons.set(static_cast<std::size_t>(core::DropReason::kIpCsum));
    ObserveSession s(spec, 1);
    const auto bad = udp_to(kLocal, 53).bad_ip_checksum().build();
    h.observe(s, {udp_to(kLocal, 53).build(), bad});
    auto out = drain_copies(s);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].dropped);
    EXPECT_EQ(out[0].reason, core::DropReason::kIpCsum);
    EXPECT_EQ(std::vector<uint8_t>(out[0].bytes.begin(), out[0].bytes.begin() + out[0].caplen),
              bad);
}

TEST(Observe, CaptureIfaceCopiesReceivedFramesThatMatch) {
    ObserveHarness h;
    ObserveSpec spec;
    spec.mode = ObserveMode::kCaptureIface;
    spec.ifindex = 1;
    spec.filter = compile_filter("udp port 7").value();
    ObserveSession s(spec, 1);
    h.observe(s, {udp_to(kLocal, 7).build(), udp_to(kLocal, 8).build()});
    auto out = drain_copies(s);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_FALSE(out[0].dropped);
    EXPECT_EQ(out[0].ifindex, 1u);
}

TEST(Observe, FilterValidationRefusesBrokenPrograms) {
    auto ok = compile_filter("udp and dst host 198.18.0.1");
    ASSERT_TRUE(ok);
    EXPECT_TRUE(filter_is_valid(*ok));
    std::vector<BpfInsn> jump_out = *ok;
    jump_out[0] = {0x05 /* BPF_JMP|BPF_JA */, 0, 0, 1000};
    EXPECT_FALSE(filter_is_valid(jump_out));
    EXPECT_FALSE(filter_is_valid({}));
    std::string err;
    EXPECT_FALSE(compile_filter("udp port nonsense", &err));
    EXPECT_FALSE(err.empty());
}

}  // namespace
}  // namespace ingress::worker
