// __udp4_lib_mcast_deliver and ip_mc_sf_allow: fan-out to every matching endpoint, group
// membership per interface, INCLUDE / EXCLUDE source filters, IP_MULTICAST_ALL, broadcast.
#include <gtest/gtest.h>

#include "demux/udp.h"
#include "support/demux.h"

namespace ingress::demux {
namespace {

using test::kGroup;
using test::kGroup2;
using test::kLocal;
using test::kPeer;
using test::kPeer2;
using test::udp_to;

// `frames` 46-byte datagrams delivered as `copies` copies; multicast unless `route` says
// otherwise (the route stage counts InMcastPkts / InBcastPkts).
test::Expected delivered(uint64_t frames, uint64_t copies, test::Expected route = {}) {
    if (route.empty()) route = test::mcast(frames, 46);
    return test::plus(
        test::plus(test::ip_local(frames, 46), {{"delivered", frames}, {"UdpInDatagrams", copies}}),
        route);
}

// One 46-byte multicast datagram that reached udp_rcv and found no endpoint.
test::Expected ignored_multi() {
    return test::plus(test::plus(test::ip_local(1, 46), test::mcast(1, 46)),
                      {{"NO_SOCKET", 1}, {"UdpIgnoredMulti", 1}});
}

TEST(Multicast, EveryMatchingEndpointGetsACopy) {
    test::DemuxHarness h;
    UdpEndpoint a(test::rings(), "a"), b(test::rings(), "b"),
        group_bound(test::rings(), "group_bound"), other_port(test::rings(), "other_port");
    a.bind(0, 5000).mc().join(kGroup, 1);
    b.bind(0, 5000).mc().join(kGroup, 1);
    group_bound.bind(kGroup, 5000).mc().join(kGroup, 1);
    other_port.bind(0, 5001).mc().join(kGroup, 1);
    h.builder.add(a).add(b).add(group_bound).add(other_port);
    h.publish();
    h.run_one(udp_to(kGroup, 5000).build());
    EXPECT_COUNTERS_EQ(h.snap(), delivered(1, 3)) << "one delivered frame, three copies";
    for (UdpEndpoint* ep : {&a, &b, &group_bound}) {
        auto got = test::take(ep->rings());
        ASSERT_EQ(got.size(), 1u) << ep->name();
        EXPECT_EQ(got[0].bytes, test::payload_bytes(18));
        EXPECT_EQ(got[0].meta.dst_addr, kGroup);
        EXPECT_EQ(got[0].meta.pkt_type, static_cast<uint8_t>(core::PktType::kMulticast));
    }
    EXPECT_EQ(other_port.rings().used(), 0u);
    h.expect_buffers_conserved();
}

// The kernel's real behaviour, often a surprise: with IP_MULTICAST_ALL on (the default), an
// endpoint bound to 0.0.0.0:port that never joined anything receives a group's datagrams
// as soon as the interface has joined the group (here: because another endpoint did).
// ip_mc_sf_allow() finds no membership of its own and returns inet->mc_all.
TEST(Multicast, WildcardSocketGetsGroupJoinedByOther) {
    test::DemuxHarness h;
    UdpEndpoint joined(test::rings(), "joined"), never_joined(test::rings(), "never_joined");
    joined.bind(0, 5000).mc().join(kGroup, 1);
    never_joined.bind(0, 5000);
    h.builder.add(joined).add(never_joined);
    h.publish();
    h.run_one(udp_to(kGroup, 5000).build());
    EXPECT_COUNTERS_EQ(h.snap(), delivered(1, 2));
    EXPECT_EQ(joined.rings().used(), 1u);
    EXPECT_EQ(never_joined.rings().used(), 1u);
}

TEST(Multicast, MulticastAllOffStopsIt) {
    test::DemuxHarness h;
    UdpEndpoint joined(test::rings(), "joined"), never_joined(test::rings(), "never_joined");
    joined.bind(0, 5000).mc().join(kGroup, 1);
    never_joined.bind(0, 5000).set_multicast_all(false);
    h.builder.add(joined).add(never_joined);
    h.publish();
    h.run_one(udp_to(kGroup, 5000).build());
    EXPECT_COUNTERS_EQ(h.snap(), delivered(1, 1));
    EXPECT_EQ(joined.rings().used(), 1u);
    EXPECT_EQ(never_joined.rings().used(), 0u);
}

TEST(Multicast, MembershipIsPerInterface) {
    // Joined on ifindex 2, datagram on ifindex 1: that membership does not apply; with
    // IP_MULTICAST_ALL off nothing else lets it in, with it on it is let in anyway.
    for (bool mc_all : {false, true}) {
        SCOPED_TRACE(mc_all);
        test::DemuxHarness h;
        UdpEndpoint ep(test::rings());
        ep.bind(0, 5000).set_multicast_all(mc_all).mc().join(kGroup, 2);
        h.builder.add(ep);
        h.publish();
        h.run_one(udp_to(kGroup, 5000).build());
        if (mc_all) {
            EXPECT_COUNTERS_EQ(h.snap(), delivered(1, 1));
        } else {
            EXPECT_COUNTERS_EQ(h.snap(), ignored_multi());
        }
        EXPECT_EQ(ep.rings().used(), mc_all ? 1u : 0u);
    }
}

TEST(Multicast, SourceFilters) {
    struct Case {
        const char* name;
        McFilterMode mode;
        wire::Ipv4Addr from;
        bool gets;
    };
    const Case cases[] = {
        {"INCLUDE {peer}: from peer", McFilterMode::kInclude, kPeer, true},
        {"INCLUDE {peer}: from another source", McFilterMode::kInclude, kPeer2, false},
        {"EXCLUDE {peer}: from peer", McFilterMode::kExclude, kPeer, false},
        {"EXCLUDE {peer}: from another source", McFilterMode::kExclude, kPeer2, true},
    };
    for (const Case& tc : cases) {
        SCOPED_TRACE(tc.name);
        test::DemuxHarness h;
        UdpEndpoint ep(test::rings());
        ep.bind(0, 5000);
        if (tc.mode == McFilterMode::kInclude) {
            ep.mc().join_source(kGroup, 1, kPeer);  // IP_ADD_SOURCE_MEMBERSHIP
        } else {
            ep.mc().join(kGroup, 1);
            ASSERT_TRUE(ep.mc().block_source(kGroup, 1, kPeer));  // IP_BLOCK_SOURCE
        }
        h.builder.add(ep);
        h.publish();
        h.run_one(udp_to(kGroup, 5000, tc.from).build());
        if (tc.gets) {
            EXPECT_COUNTERS_EQ(h.snap(), delivered(1, 1));
        } else {
            EXPECT_COUNTERS_EQ(h.snap(), ignored_multi());
        }
        EXPECT_EQ(ep.rings().used(), tc.gets ? 1u : 0u);
        // The filter of another group does not apply to this one: mc_all decides there.
        EXPECT_TRUE(ep.mc().sf_allow(kGroup2, tc.from, 1));
    }
}

TEST(Multicast, NoEndpointIsIgnoredMultiWithoutIcmp) {
    test::DemuxHarness h;
    UdpEndpoint other(test::rings());
    other.bind(0, 5001);
    h.builder.add(other);
    h.publish();
    h.run({udp_to(kGroup, 5000).build(), udp_to(wire::ipv4(255, 255, 255, 255), 5000).build()});
    EXPECT_COUNTERS_EQ(
        h.snap(),
        test::plus(test::plus(test::ip_local(2, 46), test::mcast(1, 46)),
                   test::plus(test::bcast(1, 46), {{"NO_SOCKET", 2}, {"UdpIgnoredMulti", 2}})));
    EXPECT_TRUE(h.backend.sent().empty());
}

TEST(Multicast, WildcardEndpointGetsBothUnicastAndMulticast) {
    // The question in the seed: a socket bound to 0.0.0.0:port that joined a group receives
    // both the group's datagrams and unicast to any local address on that port.
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(0, 5000).mc().join(kGroup, 1);
    h.builder.add(ep);
    h.publish();
    h.run({udp_to(kGroup, 5000).build(), udp_to(kLocal, 5000).build()});
    EXPECT_COUNTERS_EQ(h.snap(), delivered(2, 2, test::mcast(1, 46)));
    auto got = test::take(ep.rings());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].meta.dst_addr, kGroup);
    EXPECT_EQ(got[1].meta.dst_addr, kLocal);
}

TEST(Broadcast, ReachesWildcardAndBroadcastBoundEndpointsNotAddressBound) {
    for (wire::Ipv4Addr dst : {wire::ipv4(255, 255, 255, 255), test::kSubnetBcast}) {
        SCOPED_TRACE(wire::ipv4_str(dst));
        test::DemuxHarness h;
        UdpEndpoint any(test::rings(), "any"), bound(test::rings(), "bound"),
            bcast_bound(test::rings(), "bcast_bound");
        any.bind(0, 67);
        bound.bind(kLocal, 67);
        bcast_bound.bind(dst, 67);
        h.builder.add(any).add(bound).add(bcast_bound);
        h.publish();
        h.run_one(udp_to(dst, 67).build());
        EXPECT_COUNTERS_EQ(h.snap(), delivered(1, 2, test::bcast(1, 46)));
        EXPECT_EQ(any.rings().used(), 1u);
        EXPECT_EQ(bcast_bound.rings().used(), 1u);
        EXPECT_EQ(bound.rings().used(), 0u);
    }
}

TEST(Multicast, ConnectedAndDeviceBoundEndpointsMustMatch) {
    test::DemuxHarness h;
    UdpEndpoint to_peer2(test::rings(), "to_peer2"), on_dev2(test::rings(), "on_dev2"),
        plain(test::rings(), "plain");
    to_peer2.bind(0, 5000).connect(kPeer2, 4000);
    on_dev2.bind(0, 5000).bind_to_device(2);
    plain.bind(0, 5000);
    h.builder.add(to_peer2).add(on_dev2).add(plain);
    h.publish();
    h.run_one(udp_to(kGroup, 5000, kPeer).build());
    EXPECT_COUNTERS_EQ(h.snap(), delivered(1, 1));
    EXPECT_EQ(plain.rings().used(), 1u);
    EXPECT_EQ(to_peer2.rings().used(), 0u);
    EXPECT_EQ(on_dev2.rings().used(), 0u);
}

TEST(Multicast, FullQueuesAreCountedPerCopy) {
    {
        // One of two queues full: delivered (to the other), one RcvbufErrors.
        test::DemuxHarness h;
        UdpEndpoint full(test::rings(2), "full"), ok(test::rings(), "ok");
        full.bind(0, 5000);
        ok.bind(0, 5000);
        ASSERT_EQ(test::fill_up(full.rings()), 2u);
        h.builder.add(full).add(ok);
        h.publish();
        h.run_one(udp_to(kGroup, 5000).build());
        EXPECT_COUNTERS_EQ(
            h.snap(), test::plus(delivered(1, 1), {{"UdpRcvbufErrors", 1}, {"UdpInErrors", 1}}));
        EXPECT_EQ(full.rings().dropped(), 1u);
    }
    {
        // Every matching queue full: the frame is a SOCKET_RCVBUFF drop.
        test::DemuxHarness h;
        UdpEndpoint full(test::rings(2), "full");
        full.bind(0, 5000);
        ASSERT_EQ(test::fill_up(full.rings()), 2u);
        h.builder.add(full);
        h.publish();
        h.run_one(udp_to(kGroup, 5000).build());
        EXPECT_COUNTERS_EQ(
            h.snap(),
            test::plus(test::plus(test::ip_local(1, 46), test::mcast(1, 46)),
                       {{"SOCKET_RCVBUFF", 1}, {"UdpRcvbufErrors", 1}, {"UdpInErrors", 1}}));
    }
}

TEST(Multicast, BadChecksumOfLongDatagramWithNoEndpointIsStillIgnoredMulti) {
    // Datagrams longer than CHECKSUM_BREAK (76) are verified only when queued; with no
    // endpoint the kernel never looks at the checksum.
    test::DemuxHarness h;
    h.publish();
    h.run({udp_to(kGroup, 5000, kPeer, 4000, 300).bad_udp_checksum().build(),
           udp_to(kGroup, 5000, kPeer, 4000, 18).bad_udp_checksum().build()});
    auto want =
        test::plus(test::plus(test::ip_local(1, 328), test::ip_local(1, 46)), test::mcast(2, 0));
    want["IpExtInMcastOctets"] = 328 + 46;
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(want, {{"NO_SOCKET", 1},
                                                   {"UdpIgnoredMulti", 1},
                                                   {"UDP_CSUM", 1},
                                                   {"UdpInCsumErrors", 1},
                                                   {"UdpInErrors", 1}}));
}

// A long corrupted multicast datagram goes to every member unverified (each socket gets its
// own skb_clone, and each udp_recvmsg verifies its clone): each read drops it and counts, so
// two readers count UdpInCsumErrors twice; a member that never reads counts nothing.
TEST(Multicast, BadChecksumOfLongDatagramCountsOncePerReadingMember) {
    test::DemuxHarness h;
    UdpEndpoint a(test::rings()), b(test::rings()), idle(test::rings());
    a.bind(0, 5000).mc().join(kGroup, 1);
    b.bind(0, 5000).mc().join(kGroup, 1);
    idle.bind(0, 5000).mc().join(kGroup, 1);
    h.builder.add(a).add(b).add(idle);
    h.publish();
    h.run_one(udp_to(kGroup, 5000, kPeer, 4000, 300).bad_udp_checksum().build());
    auto want = test::plus(test::ip_local(1, 328), test::mcast(1, 328));
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(want, {{"delivered", 1}}));
    EXPECT_TRUE(test::take(a.rings()).empty());
    EXPECT_TRUE(test::take(b.rings()).empty());
    EXPECT_EQ(idle.rings().used(), 1u);
    core::Snapshot s = h.snap();
    for (const UdpEndpoint* ep : {&a, &b, &idle}) ep->rings().read_counts().add_to(s);
    EXPECT_COUNTERS_EQ(
        s, test::plus(want, {{"delivered", 1}, {"UdpInCsumErrors", 2}, {"UdpInErrors", 2}}));
}

TEST(McSocketState, JoinLeaveAndBlockRules) {
    McSocketState s;
    s.join_source(kGroup, 1, kPeer);
    EXPECT_FALSE(s.block_source(kGroup, 1, kPeer2)) << "IP_BLOCK_SOURCE needs an EXCLUDE group";
    EXPECT_TRUE(s.sf_allow(kGroup, kPeer, 1));
    EXPECT_FALSE(s.sf_allow(kGroup, kPeer2, 1));
    EXPECT_TRUE(s.sf_allow(kLocal, kPeer2, 1)) << "not multicast: always allowed";
    EXPECT_TRUE(s.leave(kGroup, 1));
    EXPECT_FALSE(s.leave(kGroup, 1));
    EXPECT_TRUE(s.sf_allow(kGroup, kPeer2, 1)) << "left: mc_all decides";
}

}  // namespace
}  // namespace ingress::demux
