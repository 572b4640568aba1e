// raw_local_deliver / raw_v4_input: which raw endpoints get a copy (header included), before
// the protocol handler; ICMP_FILTER; multicast source filters.
#include "demux/raw.h"

#include <gtest/gtest.h>

#include "support/demux.h"

namespace ingress::demux {
namespace {

using test::kGroup;
using test::kLocal;
using test::kLocal2;
using test::kPeer;
using test::kPeer2;
using test::proto_to;
using test::udp_to;
using wire::FrameBuilder;

// What a passed (kernel-handled) frame counts: no IpInDelivers, the kernel counts its own.
[[maybe_unused]] test::Expected passed(uint64_t n, uint64_t ip_len) {
    return {{"rx", n},
            {"passed", n},
            {"IpInReceives", n},
            {"IpExtInOctets", n * ip_len},
            {"IpExtInNoECTPkts", n}};
}

TEST(Raw, GetsCopyBeforeUdp) {
    test::DemuxHarness h;
    RawEndpoint raw(test::rings(), wire::kIpProtoUdp, "raw");
    UdpEndpoint udp(test::rings(), "udp");
    udp.bind(kLocal, 53);
    h.builder.add(raw).add(udp);
    h.publish();
    // ulen 18 of 26: udp_rcv trims the datagram, but the raw copy was taken before, with
    // the whole IP datagram (header included), as raw_local_deliver runs first.
    auto frame = udp_to(kLocal, 53).udp_length(18).zero_udp_checksum().build();
    h.run_one(frame);
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(test::ip_local(1, 46), {{"delivered", 1}, {"UdpInDatagrams", 1}}))
        << "raw copy + UDP delivery = one delivered frame";
    auto r = test::take(raw.rings());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].bytes, std::vector<uint8_t>(frame.begin() + 14, frame.end()));
    EXPECT_EQ(r[0].meta.src_addr, kPeer);
    EXPECT_EQ(r[0].meta.src_port, 0) << "raw_recvmsg: sin_port 0";
    EXPECT_EQ(r[0].meta.dst_addr, kLocal);
    EXPECT_EQ(r[0].meta.ttl, frame[14 + 8]) << "IP_RECVTTL";
    EXPECT_EQ(r[0].meta.tos, frame[14 + 1]) << "IP_RECVTOS";
    auto u = test::take(udp.rings());
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].bytes, test::payload_bytes(10));
}

TEST(Raw, CopyStillCountsWhenUdpHasNoPort) {
    // The kernel does both: the raw socket gets its copy, UDP counts NoPorts and answers port
    // unreachable. The frame reached an endpoint, so it is delivered.
    test::DemuxHarness h;
    RawEndpoint raw(test::rings(), wire::kIpProtoUdp);
    h.builder.add(raw);
    h.publish();
    h.run_one(udp_to(kLocal, 53).build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 46), {{"delivered", 1},
                                                                    {"UdpNoPorts", 1},
                                                                    {"IcmpOutMsgs", 1},
                                                                    {"IcmpOutDestUnreachs", 1},
                                                                    {"IcmpMsgOutType3", 1}}));
    EXPECT_EQ(raw.rings().used(), 1u);
    EXPECT_EQ(h.backend.sent().size(), 1u);
}

TEST(Raw, MatchesProtocolBoundAddressConnectedAddressAndDevice) {
    struct Case {
        const char* name;
        uint8_t proto;
        wire::Ipv4Addr bound, connected;
        uint32_t dev;
        bool gets;
    };
    const Case cases[] = {
        {"same protocol, unbound", 253, 0, 0, 0, true},
        {"other protocol", 254, 0, 0, 0, false},
        {"bound to the destination", 253, kLocal, 0, 0, true},
        {"bound to another local address", 253, kLocal2, 0, 0, false},
        {"connected to the source", 253, 0, kPeer, 0, true},
        {"connected to another host", 253, 0, kPeer2, 0, false},
        {"bound to the ingress device", 253, 0, 0, 1, true},
        {"bound to another device", 253, 0, 0, 2, false},
    };
    for (const Case& tc : cases) {
        SCOPED_TRACE(tc.name);
        test::DemuxHarness h;
        RawEndpoint raw(test::rings(), tc.proto);
        raw.bind(tc.bound).connect(tc.connected).bind_to_device(tc.dev);
        h.builder.add(raw);
        h.publish();
        h.run_one(proto_to(253, kLocal).build());
        if (tc.gets) {
            EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 30), {{"delivered", 1}}));
        } else {
            EXPECT_COUNTERS(h.snap(), ({{"rx", 1},
                                        {"IpInReceives", 1},
                                        {"IpExtInOctets", 30},
                                        {"IpExtInNoECTPkts", 1},
                                        {"IP_NOPROTO", 1},
                                        {"IpInUnknownProtos", 1},
                                        {"IcmpOutMsgs", 1},
                                        {"IcmpOutDestUnreachs", 1},
                                        {"IcmpMsgOutType3", 1}}));
        }
        EXPECT_EQ(raw.rings().used(), tc.gets ? 1u : 0u);
    }
}

TEST(Raw, IcmpFilterBlocksListedTypes) {
    test::DemuxHarness h;
    RawEndpoint filtered(test::rings(), wire::kIpProtoIcmp, "filtered"),
        open(test::rings(), wire::kIpProtoIcmp, "open");
    filtered.set_icmp_filter(1u << 8);  // no echo requests
    h.builder.add(filtered).add(open);
    h.publish();
    auto echo = FrameBuilder().eth(test::kPeerMac, test::kPortMac).ipv4(kPeer, kLocal).icmp(8, 0);
    auto unreach =
        FrameBuilder().eth(test::kPeerMac, test::kPortMac).ipv4(kPeer, kLocal).icmp(3, 1);
    auto big_type =
        FrameBuilder().eth(test::kPeerMac, test::kPortMac).ipv4(kPeer, kLocal).icmp(40, 0);
    h.run({echo.build(), unreach.build(), big_type.build()});
    // Raw copies first; then icmp_rcv: the echo is answered, the unreachable quotes nothing
    // (InErrors), type 40 is unknown (InErrors). Each frame reached a raw endpoint.
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(3, 28), {{"delivered", 3},
                                                                    {"IcmpInMsgs", 3},
                                                                    {"IcmpInErrors", 2},
                                                                    {"IcmpInEchos", 1},
                                                                    {"IcmpMsgInType8", 1},
                                                                    {"IcmpInDestUnreachs", 1},
                                                                    {"IcmpMsgInType3", 1},
                                                                    {"IcmpOutMsgs", 1},
                                                                    {"IcmpOutEchoReps", 1},
                                                                    {"IcmpMsgOutType0", 1},
                                                                    {"IpExtOutOctets", 28}}));
    auto f = test::take(filtered.rings());
    ASSERT_EQ(f.size(), 2u) << "types 3 and 40 (>= 32 is never blocked)";
    EXPECT_EQ(f[0].bytes[20], 3);
    EXPECT_EQ(f[1].bytes[20], 40);
    EXPECT_EQ(open.rings().used(), 3u);
    EXPECT_TRUE(h.backend.passed().empty());
    EXPECT_EQ(h.backend.sent().size(), 1u);
}

TEST(Raw, MulticastSourceFilterApplies) {
    test::DemuxHarness h;
    RawEndpoint include_peer(test::rings(), 253, "include_peer"), any(test::rings(), 253, "any");
    include_peer.mc().join_source(kGroup, 1, kPeer);
    h.builder.add(include_peer).add(any);
    h.publish();
    h.run({proto_to(253, kGroup, kPeer).build(), proto_to(253, kGroup, kPeer2).build()});
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::plus(test::ip_local(2, 30), test::mcast(2, 30)),
                                            {{"delivered", 2}}));
    auto got = test::take(include_peer.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.src_addr, kPeer);
    EXPECT_EQ(any.rings().used(), 2u);
}

TEST(Raw, FullQueueLosesOnlyThatCopy) {
    test::DemuxHarness h;
    RawEndpoint full(test::rings(2), 253, "full"), ok(test::rings(), 253, "ok");
    ASSERT_EQ(test::fill_up(full.rings()), 2u);
    h.builder.add(full).add(ok);
    h.publish();
    h.run_one(proto_to(253, kLocal).build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 30), {{"delivered", 1}}));
    EXPECT_EQ(full.rings().dropped(), 1u);
    EXPECT_EQ(ok.rings().used(), 1u);
}

}  // namespace
}  // namespace ingress::demux
