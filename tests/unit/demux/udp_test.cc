// udp_rcv: the checks of __udp4_lib_rcv (header, ulen, trim, checksum), what recvmsg would
// return, NoPorts with ICMP port unreachable, and full queues; through the whole pipeline.
#include "demux/udp.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "io/tx_queue.h"
#include "ipv4/knobs.h"
#include "ipv4/route_type.h"
#include "support/demux.h"
#include "support/option_bytes.h"
#include "wire/icmp.h"
#include "wire/udp.h"

namespace ingress::demux {
namespace {

using test::kLocal;
using test::kPeer;
using test::udp_to;
using wire::FrameBuilder;

// A UDP datagram of 4 bytes: no room for the 8-byte header.
std::vector<uint8_t> no_room_for_header() {
    return FrameBuilder()
        .eth(test::kPeerMac, test::kPortMac)
        .ipv4(kPeer, kLocal)
        .protocol(17)
        .payload_size(4)
        .build();
}

TEST(Udp, DeliversPayloadWithRecvmsgMetadata) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings(), "dns");
    ep.bind(0, 53);
    h.builder.add(ep);
    h.publish();
    ASSERT_TRUE(h.backend.inject(udp_to(kLocal, 53).pad_to(60).build(), 0, 777));
    h.drain();
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(test::ip_local(1, 46), {{"delivered", 1}, {"UdpInDatagrams", 1}}));
    auto got = test::take(ep.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, test::payload_bytes(18)) << "payload only, link padding gone";
    EXPECT_EQ(got[0].meta.src_addr, kPeer);
    EXPECT_EQ(got[0].meta.src_port, 4000);
    EXPECT_EQ(got[0].meta.dst_addr, kLocal);
    EXPECT_EQ(got[0].meta.dst_port, 53);
    EXPECT_EQ(got[0].meta.ifindex, 1u);
    EXPECT_EQ(got[0].meta.rx_ns, 777u);
    EXPECT_EQ(got[0].meta.pkt_type, static_cast<uint8_t>(core::PktType::kHost));
    EXPECT_EQ(got[0].meta.orig_len, 18u);
    EXPECT_EQ(got[0].meta.flags & INGRESS_F_TRUNCATED, 0);
    EXPECT_EQ(got[0].meta.ttl, 64u) << "IP_RECVTTL";
    EXPECT_EQ(got[0].meta.tos, 0u) << "IP_RECVTOS";
    EXPECT_EQ(got[0].meta.drops, 0u) << "SO_RXQ_OVFL: nothing dropped yet";
    h.expect_buffers_conserved();
}

// IP_RECVTOS / IP_RECVTTL give the header's bytes as they arrived (DSCP EF here), and
// SO_RXQ_OVFL the socket's drops when the datagram was queued: a ring of 2 slots takes two,
// drops three (SOCKET_RCVBUFF), and after the app read them the next one says 3.
TEST(Udp, TosTtlAndDropsSoFarAreInTheRecord) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings(2), "small");
    ep.bind(0, 53);
    h.builder.add(ep);
    h.publish();
    for (int i = 0; i < 5; ++i) h.run_one(udp_to(kLocal, 53).ttl(9).tos(0xb8).build());
    auto first = test::take(ep.rings());
    ASSERT_EQ(first.size(), 2u);
    for (const auto& g : first) {
        EXPECT_EQ(g.meta.ttl, 9u);
        EXPECT_EQ(g.meta.tos, 0xb8u);
        EXPECT_EQ(g.meta.drops, 0u);
    }
    h.run_one(udp_to(kLocal, 53).ttl(200).build());
    auto next = test::take(ep.rings());
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].meta.ttl, 200u);
    EXPECT_EQ(next[0].meta.tos, 0u);
    EXPECT_EQ(next[0].meta.drops, 3u);
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(6, 46), {{"delivered", 3},
                                                                    {"UdpInDatagrams", 3},
                                                                    {"UdpRcvbufErrors", 3},
                                                                    {"UdpInErrors", 3},
                                                                    {"SOCKET_RCVBUFF", 3}}));
    h.expect_buffers_conserved();
}

TEST(Udp, MalformedHeaderIsInErrors) {
    struct Case {
        const char* name;
        std::vector<uint8_t> frame;
        uint64_t ip_len;
    };
    std::vector<Case> cases = {
        {"no room for the header", no_room_for_header(), 24},
        {"ulen longer than the IP payload", udp_to(kLocal, 53).udp_length(100).build(), 46},
        {"ulen shorter than the header", udp_to(kLocal, 53).udp_length(4).build(), 46},
    };
    for (const auto& tc : cases) {
        SCOPED_TRACE(tc.name);
        test::DemuxHarness h;
        UdpEndpoint ep(test::rings());
        ep.bind(0, 53);
        h.builder.add(ep);
        h.publish();
        h.run_one(tc.frame);
        EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, tc.ip_len),
                                                {{"PKT_TOO_SMALL", 1}, {"UdpInErrors", 1}}));
        EXPECT_EQ(ep.rings().used(), 0u);
        EXPECT_TRUE(h.backend.sent().empty()) << "no ICMP for a malformed datagram";
        h.expect_buffers_conserved();
    }
}

TEST(Udp, UlenShorterThanPayloadTrimsTheDatagram) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, 53);
    h.builder.add(ep);
    h.publish();
    // ulen 18: 10 payload bytes; the other 8 are outside the datagram (pskb_trim_rcsum).
    h.run_one(udp_to(kLocal, 53).udp_length(18).zero_udp_checksum().build());
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(test::ip_local(1, 46), {{"delivered", 1}, {"UdpInDatagrams", 1}}));
    auto got = test::take(ep.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, test::payload_bytes(10));
}

TEST(Udp, ZeroChecksumMeansNoneAndIsAccepted) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, 53);
    h.builder.add(ep);
    h.publish();
    h.run_one(udp_to(kLocal, 53, kPeer, 4000, 300).zero_udp_checksum().build());
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(test::ip_local(1, 328), {{"delivered", 1}, {"UdpInDatagrams", 1}}));
    EXPECT_EQ(ep.rings().used(), 1u);
}

TEST(Udp, BadChecksumIsDroppedSilently) {
    // A short datagram (<= 76 bytes: udp4_csum_init verifies it at once) with or without an
    // endpoint, and a long one with no endpoint (verified before answering port unreachable):
    // UDP_CSUM, never NoPorts / ICMP.
    struct Case {
        std::size_t payload;
        bool with_endpoint;
    };
    for (Case c : {Case{18, false}, Case{18, true}, Case{300, false}}) {
        SCOPED_TRACE(testing::Message() << c.payload << " " << c.with_endpoint);
        test::DemuxHarness h;
        UdpEndpoint ep(test::rings());
        ep.bind(kLocal, 53);
        if (c.with_endpoint) h.builder.add(ep);
        h.publish();
        h.run_one(udp_to(kLocal, 53, kPeer, 4000, c.payload).bad_udp_checksum().build());
        EXPECT_COUNTERS_EQ(
            h.snap(), test::plus(test::ip_local(1, 28 + c.payload),
                                 {{"UDP_CSUM", 1}, {"UdpInCsumErrors", 1}, {"UdpInErrors", 1}}));
        EXPECT_EQ(ep.rings().used(), 0u);
        EXPECT_TRUE(h.backend.sent().empty());
    }
}

// One endpoint on kLocal:53 in a published table.
struct Port53 {
    test::DemuxHarness h;
    UdpEndpoint ep{test::rings()};
    Port53() {
        ep.bind(kLocal, 53);
        h.builder.add(ep);
        h.publish();
    }
};

// The worker's counters plus what the app's reads of `eps` counted (as the daemon reports
// them: ShmRings::read_counts per worker ring, added to the workers' snapshots).
core::Snapshot with_reads(const test::DemuxHarness& h,
                          std::initializer_list<const UdpEndpoint*> eps) {
    core::Snapshot s = h.snap();
    for (const UdpEndpoint* ep : eps) ep->rings().read_counts().add_to(s);
    return s;
}

// A datagram longer than CHECKSUM_BREAK is queued unverified (udp4_csum_init leaves it,
// udp_queue_rcv_one_skb does not look without a socket filter): a bad one sits in the queue
// and counts nothing until the app reads; the read (udp_recvmsg -> csum_copy_err) drops it
// and counts UdpInCsumErrors, UdpInErrors and the socket's drop; a good one counts
// UdpInDatagrams when read, not when queued.
TEST(Udp, LongDatagramChecksumIsVerifiedWhenTheAppReads) {
    Port53 p;
    auto& [h, ep] = p;
    h.run({udp_to(kLocal, 53, kPeer, 4000, 300).bad_udp_checksum().build(),
           udp_to(kLocal, 53, kPeer, 4001, 301).build(),
           udp_to(kLocal, 53, kPeer, 4002, 69).bad_udp_checksum().build()});
    auto queued = test::plus(test::plus(test::ip_local(1, 328), test::ip_local(1, 329)),
                             test::plus(test::ip_local(1, 97), {{"delivered", 3}}));
    EXPECT_COUNTERS_EQ(with_reads(h, {&ep}), queued) << "nothing counted before the read";
    EXPECT_EQ(ep.rings().used(), 3u) << "the bad ones wait in the queue";

    auto got = test::take(ep.rings());
    ASSERT_EQ(got.size(), 1u) << "the app reads only the intact one";
    EXPECT_EQ(got[0].meta.src_port, 4001);
    EXPECT_EQ(got[0].bytes, test::payload_bytes(301));
    EXPECT_TRUE(got[0].meta.flags & INGRESS_F_CSUM_UNVERIFIED);
    EXPECT_EQ(ep.rings().used(), 0u) << "the bad ones left the queue with the read";
    EXPECT_COUNTERS_EQ(
        with_reads(h, {&ep}),
        test::plus(queued, {{"UdpInDatagrams", 1}, {"UdpInCsumErrors", 2}, {"UdpInErrors", 2}}));
    const auto r = ep.rings().read_counts();
    EXPECT_EQ(r.csum_errors, 2u) << "the endpoint's drops (sk_drops)";
    h.expect_buffers_conserved();
}

// A datagram longer than the slot: the worker sums the bytes the slot cannot hold into the
// record, so the reader still verifies the whole datagram (udp_recvmsg checks it before a
// truncating copy).
TEST(Udp, TruncatedLongDatagramIsVerifiedOverItsWholeLength) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings(16, 64));
    ep.bind(kLocal, 53);
    h.builder.add(ep);
    h.publish();
    for (std::size_t payload : {999u, 1000u}) {
        h.run({udp_to(kLocal, 53, kPeer, 4000, payload).build(),
               udp_to(kLocal, 53, kPeer, 4001, payload).bad_udp_checksum().build()});
        auto got = test::take(ep.rings());
        ASSERT_EQ(got.size(), 1u) << payload;
        EXPECT_EQ(got[0].meta.src_port, 4000);
        EXPECT_TRUE(got[0].meta.flags & INGRESS_F_TRUNCATED);
        EXPECT_EQ(got[0].meta.orig_len, payload);
    }
    const auto r = ep.rings().read_counts();
    EXPECT_EQ(r.csum_errors, 2u);
    EXPECT_EQ(r.csum_ok, 2u);
}

// MSG_PEEK (and FIONREAD's first_packet_length) drop a bad datagram from the queue and count
// it just as a read does (__sk_queue_drop_skb unlinks the peeked skb); a good one peeked is
// not yet InDatagrams (udp_recvmsg counts only "if (!peeking)"). A bad one behind good ones
// ends the burst before it and is dropped when it reaches the head.
TEST(Udp, PeekDropsABadChecksumAndCountsInDatagramsOnlyOnRead) {
    Port53 p;
    auto& [h, ep] = p;
    h.run({udp_to(kLocal, 53, kPeer, 4000, 200).bad_udp_checksum().build(),
           udp_to(kLocal, 53, kPeer, 4001, 200).build(),
           udp_to(kLocal, 53, kPeer, 4002, 200).bad_udp_checksum().build(),
           udp_to(kLocal, 53, kPeer, 4003, 200).build()});
    shm::RingConsumer app(ep.rings().region(0).data());
    uint32_t idx;
    ASSERT_EQ(app.peek_verified(1, &idx, false), 1u) << "MSG_PEEK";
    EXPECT_EQ(app.meta(idx).src_port, 4001);
    EXPECT_EQ(ep.rings().read_counts().csum_errors, 1u);
    EXPECT_EQ(ep.rings().read_counts().csum_ok, 0u) << "peeked, not read";
    ASSERT_EQ(app.peek_verified(8, &idx, true), 1u) << "stops before the bad one";
    EXPECT_EQ(app.meta(idx).src_port, 4001);
    app.release(1);
    ASSERT_EQ(app.peek_verified(8, &idx, true), 1u);
    EXPECT_EQ(app.meta(idx).src_port, 4003);
    app.release(1);
    EXPECT_EQ(app.peek_verified(8, &idx, true), 0u);
    EXPECT_EQ(ep.rings().read_counts().csum_errors, 2u);
    EXPECT_EQ(ep.rings().read_counts().csum_ok, 2u);
}

// The daemon reports what the app wrote only up to what it delivered on the ring: an app
// cannot push UdpInCsumErrors / InDatagrams beyond its own datagrams.
TEST(Udp, ReadCountsAreBoundedByWhatTheRingDelivered) {
    Port53 p;
    auto& [h, ep] = p;
    h.run({udp_to(kLocal, 53, kPeer, 4000, 200).build()});
    auto* hdr = static_cast<shm::RingHeader*>(ep.rings().region(0).data());
    hdr->csum_errors.store(1000);
    hdr->csum_ok.store(1000);
    EXPECT_EQ(ep.rings().read_counts().csum_errors, 1u);
    EXPECT_EQ(ep.rings().read_counts().csum_ok, 0u);
}

// The deferral off (benchmarks): every checksum verified before queueing, as before.
TEST(Udp, ChecksumAtQueueVerifiesLongDatagramsInTheWorker) {
    auto bytes = udp_to(kLocal, 53, kPeer, 4000, 300).bad_udp_checksum().build();
    core::Packet p = test::ip_packet(bytes, ipv4::RouteType::kLocal);
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, 53);
    auto table = EndpointTable::Builder().add(ep).build();
    core::CounterBlock c;
    DemuxEnv env{*table, c, nullptr, 0, nullptr, nullptr, nullptr, true};
    EXPECT_EQ(udp_rcv(p, env), core::Verdict::drop(core::DropReason::kUdpCsum));
    EXPECT_COUNTERS(c.snapshot(), ({{"UdpInCsumErrors", 1}, {"UdpInErrors", 1}}));
    EXPECT_EQ(ep.rings().used(), 0u);
}

TEST(Udp, HardwareVerifiedChecksumIsHonoured) {
    // A backend that verified the L4 checksum sets kFlagL4CsumGood (CHECKSUM_UNNECESSARY):
    // the datagram is not verified again, even if (here: deliberately) its bytes disagree.
    auto bytes = udp_to(kLocal, 53).bad_udp_checksum().build();
    core::Packet p = test::ip_packet(bytes, ipv4::RouteType::kLocal);
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, 53);
    auto table = EndpointTable::Builder().add(ep).build();
    core::CounterBlock c;
    DemuxEnv env{*table, c, nullptr, 0};

    core::Packet flagged = p;
    flagged.flags = core::kFlagL4CsumGood;
    EXPECT_EQ(udp_rcv(flagged, env), core::Verdict::delivered());
    EXPECT_EQ(udp_rcv(p, env), core::Verdict::drop(core::DropReason::kUdpCsum));
    EXPECT_COUNTERS(c.snapshot(),
                    ({{"UdpInDatagrams", 1}, {"UdpInCsumErrors", 1}, {"UdpInErrors", 1}}));
    EXPECT_EQ(ep.rings().used(), 1u);
}

TEST(Udp, NoPortsAnswersPortUnreachable) {
    test::DemuxHarness h;
    h.publish();
    auto frame = udp_to(kLocal, 53).build();
    h.run_one(frame);
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 46), {{"NO_SOCKET", 1},
                                                                    {"UdpNoPorts", 1},
                                                                    {"IcmpOutMsgs", 1},
                                                                    {"IcmpOutDestUnreachs", 1},
                                                                    {"IcmpMsgOutType3", 1}}));
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& icmp = h.backend.sent()[0].bytes;
    ASSERT_EQ(icmp.size(), 14u + 20 + 8 + 46);
    EXPECT_EQ(icmp[34], wire::kIcmpDestUnreach);
    EXPECT_EQ(icmp[35], wire::kIcmpPortUnreach);
    EXPECT_EQ(wire::load_be32(icmp.data() + 14 + 12), kLocal) << "from the address it was sent to";
    EXPECT_EQ(wire::load_be32(icmp.data() + 14 + 16), kPeer);
    EXPECT_TRUE(std::equal(icmp.begin() + 42, icmp.end(), frame.begin() + 14));
    h.expect_buffers_conserved();
}

TEST(Udp, NoPortsForUnicastInL2BroadcastSendsNoIcmp) {
    test::DemuxHarness h;
    h.publish();
    h.run_one(udp_to(kLocal, 53).eth_dst(wire::Mac::broadcast()).build());
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(test::ip_local(1, 46), {{"NO_SOCKET", 1}, {"UdpNoPorts", 1}}));
    EXPECT_TRUE(h.backend.sent().empty()) << "no replies to physical broadcast";
}

TEST(Udp, PortUnreachableIsRateLimitedPerHost) {
    test::DemuxHarness h;
    h.publish();
    std::vector<std::vector<uint8_t>> frames(8, udp_to(kLocal, 53).build());
    h.run(frames);
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(8, 46), {{"NO_SOCKET", 8},
                                                                    {"UdpNoPorts", 8},
                                                                    {"IcmpOutMsgs", 6},
                                                                    {"IcmpOutDestUnreachs", 6},
                                                                    {"IcmpMsgOutType3", 6},
                                                                    {"IcmpOutRateLimitHost", 2}}));
    EXPECT_EQ(h.backend.sent().size(), 6u);
}

TEST(Udp, FullQueueIsRcvbufErrorsNeverAStall) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings(2), "slow");
    ep.bind(kLocal, 53);
    h.builder.add(ep);
    h.publish();
    std::vector<std::vector<uint8_t>> frames(5, udp_to(kLocal, 53).build());
    h.run(frames);
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(5, 46), {{"delivered", 2},
                                                                    {"UdpInDatagrams", 2},
                                                                    {"SOCKET_RCVBUFF", 3},
                                                                    {"UdpRcvbufErrors", 3},
                                                                    {"UdpInErrors", 3}}));
    EXPECT_EQ(ep.rings().used(), 2u);
    EXPECT_EQ(ep.rings().dropped(), 3u) << "per-endpoint drops (sk_drops)";
    h.expect_buffers_conserved();
}

}  // namespace
}  // namespace ingress::demux

namespace ingress::demux {
namespace {

TEST(Udp, VlanSubInterfaceIsTheIngressInterface) {
    // After vlan_do_receive the datagram arrives on the sub-interface: SO_BINDTODEVICE to it
    // matches, IP_PKTINFO reports it, and the tag is in the metadata.
    test::DemuxHarness h;
    h.port.vlans.push_back({10, 10, test::kPortMac});
    UdpEndpoint on_vlan(test::rings(), "on_vlan"), on_port(test::rings(), "on_port");
    on_vlan.bind(0, 53).bind_to_device(10);
    on_port.bind(0, 54).bind_to_device(1);
    h.builder.add(on_vlan).add(on_port);
    h.publish();
    h.run({udp_to(kLocal, 53).vlan(10, 6).build(), udp_to(kLocal, 54).vlan(10).build()});
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(2, 46), {{"delivered", 1},
                                                                    {"UdpInDatagrams", 1},
                                                                    {"IngressL2VlanTagged", 2},
                                                                    {"NO_SOCKET", 1},
                                                                    {"UdpNoPorts", 1},
                                                                    {"IcmpOutMsgs", 1},
                                                                    {"IcmpOutDestUnreachs", 1},
                                                                    {"IcmpMsgOutType3", 1}}));
    auto got = test::take(on_vlan.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.ifindex, 10u);
    EXPECT_EQ(got[0].meta.vlan_tci, (6 << 13) | 10);
    EXPECT_EQ(got[0].meta.vlan_tpid, 0x8100);
    EXPECT_NE(got[0].meta.flags & INGRESS_F_VLAN, 0);
    EXPECT_EQ(on_port.rings().used(), 0u) << "bound to the port, not to its VLAN";
    // The port unreachable goes back on VLAN 10.
    ASSERT_EQ(h.backend.sent().size(), 1u);
    EXPECT_EQ(wire::load_be16(h.backend.sent()[0].bytes.data() + 12), 0x8100);
    EXPECT_EQ(wire::load_be16(h.backend.sent()[0].bytes.data() + 14), 10);
}

// SO_RCVBUF in bytes (demux/rcvbuf.h): SO_RCVBUF 0 leaves SOCK_MIN_RCVBUF (2304); a 60-byte
// frame's skb costs 832, so two fit and the third would pass the budget: SOCKET_RCVBUFF and
// RcvbufErrors although the ring has room. Reading them gives the bytes back.
TEST(Udp, ByteBudgetDropsAsTheKernelWouldAndReadingGivesItBack) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings(64), "tight");
    ep.bind(kLocal, 53).set_rcvbuf(so_rcvbuf(0, kRmemMax));
    h.builder.add(ep);
    h.publish();
    const std::vector<uint8_t> f = udp_to(kLocal, 53).build();
    ASSERT_EQ(skb_truesize(static_cast<uint32_t>(f.size())), 832u);
    h.run(std::vector<std::vector<uint8_t>>(5, f));
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(5, 46), {{"delivered", 2},
                                                                    {"UdpInDatagrams", 2},
                                                                    {"SOCKET_RCVBUFF", 3},
                                                                    {"UdpRcvbufErrors", 3},
                                                                    {"UdpInErrors", 3}}));
    EXPECT_EQ(ep.rings().used(), 2u) << "the ring had room: the bytes decided";
    EXPECT_EQ(ep.rings().rmem(), 2u * 832u) << "sk_rmem_alloc";
    EXPECT_EQ(test::take(ep.rings()).size(), 2u);
    EXPECT_EQ(ep.rings().rmem(), 0u);
    h.run_one(f);
    EXPECT_EQ(test::take(ep.rings()).size(), 1u) << "room again after the read";
    h.expect_buffers_conserved();
}

// Above kPrefetchMinEndpoints the burst-ahead walk (udp_prefetch) runs before delivery: it
// only warms the cache, so one burst mixing deliveries to two of 2049 address-bound
// endpoints, a port nobody holds and a datagram too short for its header has the fates and
// counters it has with few endpoints (and, under ASan, the walk reads nothing out of bounds).
TEST(Udp, ManyEndpointsBurstAheadWalkChangesNoFate) {
    test::DemuxHarness h;
    std::vector<std::unique_ptr<UdpEndpoint>> eps;
    for (uint32_t i = 0; i <= kPrefetchMinEndpoints; ++i) {
        auto r = test::rings(2, 64);
        r->close_fds();  // 2049 endpoints x 3 fds would pass a default RLIMIT_NOFILE
        eps.push_back(std::make_unique<UdpEndpoint>(std::move(r)));
        eps.back()->bind(kLocal, static_cast<uint16_t>(20000 + i));
        h.builder.add(*eps.back());
    }
    h.publish();
    ASSERT_GT(h.snapshot->udp_count(), kPrefetchMinEndpoints);
    h.run({udp_to(kLocal, 20000).build(), udp_to(kLocal, 30000).build(), no_room_for_header(),
           udp_to(kLocal, 22048).build()});
    const core::Snapshot s = h.snap();
    EXPECT_EQ(s.rx, 4u);
    EXPECT_EQ(s.delivered, 2u);
    EXPECT_EQ(s.mib_value(core::Mib::kUdpInDatagrams), 2u);
    EXPECT_EQ(s.mib_value(core::Mib::kUdpNoPorts), 1u);
    EXPECT_EQ(s.mib_value(core::Mib::kUdpInErrors), 1u);
    EXPECT_EQ(s.drop_value(core::DropReason::kNoSocket), 1u);
    EXPECT_EQ(s.drop_value(core::DropReason::kPktTooSmall), 1u);
    EXPECT_EQ(test::take(eps.front()->rings()).size(), 1u);
    EXPECT_EQ(test::take(eps.back()->rings()).size(), 1u);
    EXPECT_EQ(eps[1]->rings().used(), 0u);
    h.expect_buffers_conserved();
}

}  // namespace
}  // namespace ingress::demux

namespace ingress::demux {
namespace {

// Early demux (ip_rcv_finish_core -> udp_v4_early_demux): a datagram of a connected
// endpoint's 4-tuple takes the input route cached from the first datagram early demux
// steered there, skipping the lookup and rp_filter. Visible under rp_filter=1: the same
// 4-tuple arriving on the VLAN 10 sub-interface, where the route back to the peer (via the
// port) fails the strict check, is delivered with early demux on and dropped with it off.
struct EarlyDemuxCase {
    test::DemuxHarness h;
    UdpEndpoint ep{test::rings()};
    explicit EarlyDemuxCase(bool udp_early_demux, bool connected = true) {
        h.port.vlans.push_back({10, 10, test::kPortMac});
        ipv4::RouteConfig cfg = test::demux_route_config();
        cfg.ifaces[1].conf.rp_filter = 1;  // test0.10
        h.routes.update(cfg);
        h.tables.early_demux.udp_early_demux = udp_early_demux;
        ep.bind(kLocal, 53);
        if (connected) ep.connect(kPeer, 4000);
        h.builder.add(ep);
        h.publish();
    }
    std::vector<uint8_t> on_port() { return udp_to(kLocal, 53, kPeer, 4000).build(); }
    std::vector<uint8_t> on_vlan() { return udp_to(kLocal, 53, kPeer, 4000).vlan(10).build(); }
    uint64_t rpfilter() const { return h.snap().drop_value(core::DropReason::kIpRpfilter); }
    // One burst each: within a burst every datagram passes early demux and the route before
    // any is delivered (ip_list_rcv_finish does the same), so a cache set by one is seen
    // from the next burst on.
    void run(std::initializer_list<std::vector<uint8_t>> frames) {
        for (const auto& f : frames) h.run_one(f);
    }
};

TEST(EarlyDemux, CachedRouteSkipsRpFilterForTheConnectedFourTuple) {
    EarlyDemuxCase c(true);
    c.run({c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.h.snap().delivered, 2u) << "the VLAN datagram reused the port's route";
    EXPECT_EQ(c.rpfilter(), 0u);
    EXPECT_EQ(c.h.snap().mib_value(core::Mib::kTcpExtIPReversePathFilter), 0u);
    EXPECT_EQ(test::take(c.ep.rings()).size(), 2u);
    c.h.expect_buffers_conserved();
}

TEST(EarlyDemux, KnobOffTakesTheFullRouteAndRpFilterDrops) {
    EarlyDemuxCase c(false);
    c.run({c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.h.snap().delivered, 1u);
    EXPECT_EQ(c.rpfilter(), 1u);
    EXPECT_EQ(c.h.snap().mib_value(core::Mib::kTcpExtIPReversePathFilter), 1u);
}

// `sysctl -w net.ipv4.ip_early_demux=0` while the worker runs (ipv4/knobs.h): from the next
// burst the 4-tuple takes the full route again and rp_filter drops the VLAN datagram.
TEST(EarlyDemux, KnobPublishedLiveTurnsItOffFromTheNextBurst) {
    EarlyDemuxCase c(true);
    ipv4::NetKnobs k{c.h.tables.icmp, c.h.tables.defrag};
    ipv4::KnobPublisher knobs(k);
    c.h.tables.knobs = &knobs;
    c.run({c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.rpfilter(), 0u);
    k.ip_early_demux = false;
    ASSERT_TRUE(knobs.publish(k));
    c.run({c.on_vlan()});
    EXPECT_EQ(c.rpfilter(), 1u);
    EXPECT_EQ(c.h.snap().delivered, 2u);
    k.ip_early_demux = true;
    ASSERT_TRUE(knobs.publish(k));
    c.run({c.on_vlan()});
    EXPECT_EQ(c.h.snap().delivered, 3u) << "on again: the cached route still current";
}

// The cache is set only by a datagram that went through the full lookup (udp_sk_rx_dst_set
// after route input): the first VLAN datagram is dropped; a route change (a new tables
// generation: dst_check fails) makes the cached route stale again.
TEST(EarlyDemux, FirstDatagramAndRouteChangesTakeTheFullLookup) {
    EarlyDemuxCase c(true);
    c.run({c.on_vlan(), c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.rpfilter(), 1u);
    EXPECT_EQ(c.h.snap().delivered, 2u);
    ipv4::RouteConfig cfg = test::demux_route_config();
    cfg.ifaces[1].conf.rp_filter = 1;
    cfg.routes.push_back({.prefix = wire::ipv4(203, 0, 113, 0), .prefix_len = 24, .oif = 1});
    c.h.routes.update(cfg);
    c.run({c.on_vlan()});
    EXPECT_EQ(c.rpfilter(), 2u) << "stale after the route change";
}

// Only a connected endpoint that matches the whole 4-tuple is found (__udp4_lib_demux_lookup
// checks the first socket of the slot with inet_match).
TEST(EarlyDemux, UnconnectedEndpointIsNotEarlyDemuxed) {
    EarlyDemuxCase c(true, false);
    c.run({c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.rpfilter(), 1u);
}

// What the stage leaves for udp_rcv, which looks the endpoint up again only to cache its
// route (udp_sk_rx_dst_set) and only when told to: an endpoint found with a current cached
// route gives kFlagRxDst and that route; one found without gives kFlagEarlySk (skb->sk and
// no dst); a datagram no connected endpoint matches gets neither, and udp_rcv does not
// look again. A later tables generation makes the cached route stale (dst_check).
TEST(EarlyDemux, StageMarksTheEndpointItFoundAndItsRoute) {
    UdpEndpoint connected(test::rings()), unconnected(test::rings());
    connected.bind(kLocal, 53);
    connected.connect(kPeer, 4000);
    unconnected.bind(kLocal, 54);
    auto table = EndpointTable::Builder().add(connected).add(unconnected).build();
    const ipv4::McGroups mc;
    auto early = [&](uint16_t port, uint64_t generation) {
        auto bytes = udp_to(kLocal, port, kPeer, 4000).build();
        core::Packet p = test::ip_packet(bytes, ipv4::RouteType::kUnicast);
        EXPECT_EQ(udp_v4_early_demux(p, *table, mc, generation), core::Verdict::next());
        return p;
    };
    core::Packet p = early(53, 7);
    EXPECT_EQ(p.flags & (core::kFlagRxDst | core::kFlagEarlySk), core::kFlagEarlySk);
    connected.rx_dst_set(7, static_cast<uint8_t>(ipv4::RouteType::kLocal));
    p = early(53, 7);
    EXPECT_EQ(p.flags & (core::kFlagRxDst | core::kFlagRxDstValidate), core::kFlagRxDst);
    EXPECT_EQ(ipv4::route_type_of(p.route_type), ipv4::RouteType::kLocal);
    p = early(53, 8);
    EXPECT_EQ(p.flags & (core::kFlagRxDst | core::kFlagEarlySk), core::kFlagEarlySk)
        << "stale after a route change";
    EXPECT_EQ(ipv4::route_type_of(p.route_type), ipv4::RouteType::kUnicast);
    p = early(54, 8);
    EXPECT_EQ(p.flags & (core::kFlagRxDst | core::kFlagEarlySk), 0) << "unconnected: not found";
}

// Multicast early demux (udp_v4_early_demux's PACKET_MULTICAST branch): the group joined on
// the port and on VLAN 10 (strict rp_filter there); the one endpoint that
// __udp4_lib_mcast_demux_lookup finds caches the route of its first datagram. Connected (bound
// to the group, connected to the peer), the datagram on the VLAN reuses it and skips
// rp_filter; unconnected, the source is still validated (ip_mc_validate_source) and strict
// rp_filter drops it; two matching endpoints mean no early demux at all.
struct McastEarlyDemuxCase {
    test::DemuxHarness h;
    std::vector<std::unique_ptr<UdpEndpoint>> eps;
    explicit McastEarlyDemuxCase(bool udp_early_demux) {
        h.port.vlans.push_back({10, 10, test::kPortMac});
        ipv4::RouteConfig cfg = test::demux_route_config();
        cfg.ifaces[1].conf.rp_filter = 1;  // test0.10
        cfg.mc.join(10, test::kGroup, ipv4::McFilterMode::kExclude, {});
        h.routes.update(cfg);
        h.tables.early_demux.udp_early_demux = udp_early_demux;
    }
    UdpEndpoint& add(wire::Ipv4Addr bind, wire::Ipv4Addr peer = 0) {
        eps.push_back(std::make_unique<UdpEndpoint>(test::rings()));
        UdpEndpoint& ep = *eps.back();
        ep.bind(bind, 5000);
        if (peer) ep.connect(peer, 4000);
        h.builder.add(ep);
        h.publish();
        return ep;
    }
    std::vector<uint8_t> on_port() { return udp_to(test::kGroup, 5000, kPeer, 4000).build(); }
    std::vector<uint8_t> on_vlan() {
        return udp_to(test::kGroup, 5000, kPeer, 4000).vlan(10).build();
    }
    uint64_t rpfilter() const { return h.snap().drop_value(core::DropReason::kIpRpfilter); }
    void run(std::initializer_list<std::vector<uint8_t>> frames) {
        for (const auto& f : frames) h.run_one(f);
    }
};

TEST(EarlyDemux, MulticastConnectedEndpointSkipsRpFilter) {
    McastEarlyDemuxCase c(true);
    UdpEndpoint& ep = c.add(test::kGroup, kPeer);
    c.run({c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.h.snap().delivered, 2u) << "the VLAN datagram reused the port's route";
    EXPECT_EQ(c.rpfilter(), 0u);
    EXPECT_EQ(c.h.snap().mib_value(core::Mib::kTcpExtIPReversePathFilter), 0u);
    EXPECT_EQ(c.h.snap().mib_value(core::Mib::kIpExtInMcastPkts), 2u);
    EXPECT_EQ(test::take(ep.rings()).size(), 2u);
    c.h.expect_buffers_conserved();
}

TEST(EarlyDemux, MulticastKnobOffTakesTheRouteAndRpFilterDrops) {
    McastEarlyDemuxCase c(false);
    c.add(test::kGroup, kPeer);
    c.run({c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.h.snap().delivered, 1u);
    EXPECT_EQ(c.rpfilter(), 1u);
    EXPECT_EQ(c.h.snap().mib_value(core::Mib::kTcpExtIPReversePathFilter), 1u);
}

TEST(EarlyDemux, MulticastUnconnectedEndpointStillValidatesTheSource) {
    McastEarlyDemuxCase c(true);
    c.add(0);
    c.run({c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.h.snap().delivered, 1u);
    EXPECT_EQ(c.rpfilter(), 1u);
    EXPECT_EQ(c.h.snap().mib_value(core::Mib::kTcpExtIPReversePathFilter), 1u);
}

TEST(EarlyDemux, MulticastWithTwoMatchingEndpointsIsNotEarlyDemuxed) {
    McastEarlyDemuxCase c(true);
    c.add(test::kGroup, kPeer);
    c.add(0);
    c.run({c.on_port(), c.on_vlan()});
    EXPECT_EQ(c.rpfilter(), 1u);
    EXPECT_EQ(c.h.snap().mib_value(core::Mib::kUdpInDatagrams), 2u) << "both got the first";
}

// IP_RECVOPTS / IP_RETOPTS: a datagram with options carries, after its payload, the options
// as ip_rcv_options() wrote them (ip_cmsg_recv_opts) and their echo reversed back
// (ip_cmsg_recv_retopts: __ip_options_echo() then ip_options_undo()); one without carries
// nothing and costs nothing.
TEST(Udp, OptionsTravelAfterThePayloadAsRecvoptsAndRetopts) {
    test::DemuxHarness h;
    h.routes.update([] {
        auto cfg = test::demux_route_config();
        cfg.all.accept_source_route = true;
        return cfg;
    }());
    UdpEndpoint ep(test::rings(), "opts");
    ep.bind(0, 53);
    h.builder.add(ep);
    h.publish();
    const wire::Ipv4Addr hop = wire::ipv4(198, 18, 1, 1), last = wire::ipv4(198, 18, 1, 2);
    h.run_one(udp_to(kLocal, 53)
                  .ip_options(test::cat({{7, 7, 4, 0, 0, 0, 0},
                                         {131, 11, 12},
                                         test::be32_bytes(hop),
                                         test::be32_bytes(last)}))
                  .payload_size(10)
                  .build());
    h.run_one(udp_to(kLocal, 53).payload_size(10).build());
    const auto got = test::take(ep.rings());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].bytes.size(), 10u);
    EXPECT_EQ(got[0].meta.ip_optlen, 20u);
    // IP_RECVOPTS: RR with our address, the source route as it came, EOL padding.
    EXPECT_EQ(got[0].meta.ip_optlen + got[0].meta.ip_retoptlen, got[0].ip_opts.size());
    const std::vector<uint8_t> recv(got[0].ip_opts.begin(), got[0].ip_opts.begin() + 20);
    EXPECT_EQ(recv, test::cat({{7, 7, 8},
                               test::be32_bytes(kLocal),
                               {131, 11, 12},
                               test::be32_bytes(hop),
                               test::be32_bytes(last),
                               {0, 0}}));
    // IP_RETOPTS: RR as recorded (full: nothing to undo), then the reversed route with its
    // first hop back in front (ip_options_undo), padded.
    const std::vector<uint8_t> ret(got[0].ip_opts.begin() + 20, got[0].ip_opts.end());
    EXPECT_EQ(ret, test::cat({{7, 7, 8},
                              test::be32_bytes(kLocal),
                              {131, 11, 4},
                              test::be32_bytes(last),
                              test::be32_bytes(hop),
                              {0, 0}}));
    EXPECT_FALSE(got[0].meta.flags & INGRESS_F_RETOPTS_CTRUNC);
    EXPECT_EQ(got[1].meta.ip_optlen, 0u);
    EXPECT_EQ(got[1].meta.ip_retoptlen, 0u);
    EXPECT_TRUE(got[1].ip_opts.empty());
}

TEST(Udp, RetoptsEchoFailureIsMsgCtrunc) {
    // A record route of 9 bytes: after our entry the pointer (8) leaves 2 bytes, less than
    // an entry: __ip_options_echo() returns -EINVAL, ip_cmsg_recv_retopts() sets MSG_CTRUNC.
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings(), "ctrunc");
    ep.bind(0, 53);
    h.builder.add(ep);
    h.publish();
    h.run_one(udp_to(kLocal, 53).ip_options({7, 9, 4, 0, 0, 0, 0, 0, 0}).build());
    const auto got = test::take(ep.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.ip_optlen, 12u);
    EXPECT_EQ(got[0].meta.ip_retoptlen, 0u);
    EXPECT_TRUE(got[0].meta.flags & INGRESS_F_RETOPTS_CTRUNC);
}

}  // namespace
}  // namespace ingress::demux
