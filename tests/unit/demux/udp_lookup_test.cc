// __udp4_lib_lookup precedence and scoring: connected 4-tuple, then the lookup hook (BPF
// sk_lookup), then address-bound, then wildcard; SO_BINDTODEVICE; SO_REUSEPORT groups.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "demux/hash.h"
#include "demux/udp.h"
#include "support/demux.h"

namespace ingress::demux {
namespace {

using test::kLocal;
using test::kLocal2;
using test::kPeer;
using test::kPeer2;
using test::udp_to;

// A hook that steers everything to one endpoint (or refuses, or passes).
struct HookCtx {
    UdpLookupVerdict verdict;
    int calls = 0;
    UdpLookupKey last;
};
UdpLookupVerdict steer(void* ctx, const UdpLookupKey& key) noexcept {
    auto* h = static_cast<HookCtx*>(ctx);
    ++h->calls;
    h->last = key;
    return h->verdict;
}

TEST(UdpLookup, ConnectedBeatsHookBeatsBoundBeatsWildcard) {
    struct Case {
        const char* name;
        bool connected, hook, bound, wildcard;
        const char* winner;
    };
    const Case cases[] = {
        {"connected 4-tuple first", true, true, true, true, "connected"},
        {"then the lookup hook", false, true, true, true, "hooked"},
        {"then address-bound", false, false, true, true, "bound"},
        {"then wildcard", false, false, false, true, "wildcard"},
    };
    for (const Case& tc : cases) {
        SCOPED_TRACE(tc.name);
        UdpEndpoint connected(test::rings(), "connected"), hooked(test::rings(), "hooked"),
            bound(test::rings(), "bound"), wildcard(test::rings(), "wildcard");
        connected.bind(kLocal, 53).connect(kPeer, 4000);
        hooked.bind(0, 9999);  // sk_lookup may steer to any port
        bound.bind(kLocal, 53);
        wildcard.bind(0, 53);
        HookCtx ctx;
        ctx.verdict.selected = &hooked;
        test::DemuxHarness h;
        if (tc.connected) h.builder.add(connected);
        if (tc.hook) h.builder.add(hooked).set_udp_lookup_hook(steer, &ctx);
        if (tc.bound) h.builder.add(bound);
        if (tc.wildcard) h.builder.add(wildcard);
        h.publish();
        h.run_one(udp_to(kLocal, 53).build());
        EXPECT_COUNTERS_EQ(
            h.snap(), test::plus(test::ip_local(1, 46), {{"delivered", 1}, {"UdpInDatagrams", 1}}));
        std::map<std::string, uint32_t> sizes;
        for (UdpEndpoint* ep : {&connected, &hooked, &bound, &wildcard})
            sizes[ep->name()] = ep->rings().used();
        for (const auto& [name, n] : sizes) EXPECT_EQ(n, name == tc.winner ? 1u : 0u) << name;
        if (tc.hook) {
            EXPECT_EQ(ctx.calls, tc.connected ? 0 : 1) << "a connected match ends the lookup";
        }
    }
}

TEST(UdpLookup, HookSeesTheFourTupleAndIfindex) {
    UdpEndpoint wildcard(test::rings());
    wildcard.bind(0, 53);
    HookCtx ctx;  // SK_PASS with nothing selected: the normal lookup goes on
    auto t = EndpointTable::Builder().add(wildcard).set_udp_lookup_hook(steer, &ctx).build();
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 53, 3), &wildcard);
    EXPECT_EQ(ctx.calls, 1);
    EXPECT_EQ(ctx.last.saddr, kPeer);
    EXPECT_EQ(ctx.last.sport, 4000);
    EXPECT_EQ(ctx.last.daddr, kLocal);
    EXPECT_EQ(ctx.last.dport, 53);
    EXPECT_EQ(ctx.last.ifindex, 3u);
}

TEST(UdpLookup, HookDropRefusesEvenWhenABoundEndpointExists) {
    test::DemuxHarness h;
    UdpEndpoint bound(test::rings());
    bound.bind(kLocal, 53);
    HookCtx ctx;
    ctx.verdict.action = UdpLookupVerdict::Action::kDrop;  // SK_DROP: ECONNREFUSED
    h.builder.add(bound).set_udp_lookup_hook(steer, &ctx);
    h.publish();
    h.run_one(udp_to(kLocal, 53).build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 46), {{"NO_SOCKET", 1},
                                                                    {"UdpNoPorts", 1},
                                                                    {"IcmpOutMsgs", 1},
                                                                    {"IcmpOutDestUnreachs", 1},
                                                                    {"IcmpMsgOutType3", 1}}));
    EXPECT_EQ(bound.rings().used(), 0u);
}

TEST(UdpLookup, ConnectedToAnotherPeerDoesNotMatch) {
    UdpEndpoint connected(test::rings()), other_port(test::rings()), wildcard(test::rings());
    connected.bind(kLocal, 53).connect(kPeer2, 4000);
    other_port.bind(kLocal, 53).connect(kPeer, 4001);
    wildcard.bind(0, 53);
    auto t = EndpointTable::Builder().add(connected).add(other_port).add(wildcard).build();
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 53, 1), &wildcard);
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer2, 4000, kLocal, 53, 1), &connected);
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4001, kLocal, 53, 1), &other_port);
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal2, 53, 1), &wildcard);
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 54, 1), nullptr);
}

TEST(UdpLookup, BindToDeviceScoresHigherAndExcludesOtherDevices) {
    UdpEndpoint any_dev(test::rings()), on_dev1(test::rings()), on_dev7(test::rings());
    any_dev.bind(kLocal, 53);
    on_dev1.bind(kLocal, 53).bind_to_device(1);
    on_dev7.bind(0, 54).bind_to_device(7);
    // any_dev added last: it is first in the slot, yet the device-bound one scores 6 > 2.
    auto t = EndpointTable::Builder().add(on_dev1).add(any_dev).add(on_dev7).build();
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 53, 1), &on_dev1);
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 53, 2), &any_dev);
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 54, 7), &on_dev7);
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 54, 1), nullptr)
        << "SO_BINDTODEVICE: other interfaces never match";
}

TEST(UdpLookup, EqualScoresGoToTheMostRecentlyBound) {
    // Without SO_REUSEPORT (two sockets with SO_REUSEADDR) the first in the hash2 chain wins,
    // and bind adds at the head.
    UdpEndpoint first(test::rings()), second(test::rings());
    first.bind(kLocal, 53);
    second.bind(kLocal, 53);
    auto t = EndpointTable::Builder().add(first).add(second).build();
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 53, 1), &second);
}

TEST(UdpLookup, ReuseportPicksOneMemberPerFlowStableWhileGroupUnchanged) {
    UdpEndpoint m[4] = {UdpEndpoint(test::rings()), UdpEndpoint(test::rings()),
                        UdpEndpoint(test::rings()), UdpEndpoint(test::rings())};
    EndpointTable::Builder b;
    for (auto& ep : m) b.add(ep.bind(kLocal, 53).set_reuseport());
    b.set_hash_seed(0x12345678);
    auto t = b.build();
    std::set<const UdpEndpoint*> used;
    for (uint16_t sport = 1000; sport < 1200; ++sport) {
        UdpEndpoint* a = udp4_lib_lookup(*t, kPeer, sport, kLocal, 53, 1);
        ASSERT_NE(a, nullptr);
        EXPECT_EQ(udp4_lib_lookup(*t, kPeer, sport, kLocal, 53, 1), a) << "stable per 4-tuple";
        // reciprocal_scale(udp_ehashfn(4-tuple, secret), 4) over socks[] in join order.
        uint32_t want = reciprocal_scale(udp_ehashfn(kLocal, 53, kPeer, sport, 0x12345678), 4);
        EXPECT_EQ(a, &m[want]);
        used.insert(a);
    }
    EXPECT_EQ(used.size(), 4u) << "200 flows spread over every member";

    // A different secret moves flows (the kernel draws it at random at boot).
    b.set_hash_seed(0x9abcdef0);
    auto t2 = b.build();
    int moved = 0;
    for (uint16_t sport = 1000; sport < 1200; ++sport)
        moved += udp4_lib_lookup(*t, kPeer, sport, kLocal, 53, 1) !=
                 udp4_lib_lookup(*t2, kPeer, sport, kLocal, 53, 1);
    EXPECT_GT(moved, 0);
}

TEST(UdpLookup, ReuseportGroupThroughThePipeline) {
    test::DemuxHarness h;
    UdpEndpoint m[3] = {UdpEndpoint(test::rings()), UdpEndpoint(test::rings()),
                        UdpEndpoint(test::rings())};
    for (auto& ep : m) h.builder.add(ep.bind(0, 53).set_reuseport());
    h.builder.set_hash_seed(7);
    h.publish();
    std::vector<std::vector<uint8_t>> frames;
    for (uint16_t sport = 2000; sport < 2030; ++sport)
        for (int rep = 0; rep < 2; ++rep)
            frames.push_back(udp_to(kLocal, 53, kPeer, sport).build());
    h.run(frames);
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(test::ip_local(60, 46), {{"delivered", 60}, {"UdpInDatagrams", 60}}));
    uint32_t total = 0;
    for (auto& ep : m) {
        auto got = test::take(ep.rings());
        total += static_cast<uint32_t>(got.size());
        // Both copies of a flow landed on the same member.
        std::map<uint16_t, int> per_flow;
        for (const auto& r : got) ++per_flow[r.meta.src_port];
        for (const auto& [sport, n] : per_flow) EXPECT_EQ(n, 2) << sport;
    }
    EXPECT_EQ(total, 60u);
}

TEST(UdpLookup, HookSelectionGoesThroughReuseportUnlessNoReuseport) {
    UdpEndpoint m[2] = {UdpEndpoint(test::rings()), UdpEndpoint(test::rings())};
    for (auto& ep : m) ep.bind(kLocal, 8000).set_reuseport();
    HookCtx ctx;
    ctx.verdict.selected = &m[0];
    auto table =
        EndpointTable::Builder().add(m[0]).add(m[1]).set_udp_lookup_hook(steer, &ctx).build();
    // Find a flow the group would send to m[1].
    uint16_t sport = 1;
    while (reciprocal_scale(udp_ehashfn(kLocal, 53, kPeer, sport, 0), 2) != 1) ++sport;
    EXPECT_EQ(udp4_lib_lookup(*table, kPeer, sport, kLocal, 53, 1), &m[1]);
    ctx.verdict.no_reuseport = true;  // BPF_SK_LOOKUP_F_NO_REUSEPORT
    EXPECT_EQ(udp4_lib_lookup(*table, kPeer, sport, kLocal, 53, 1), &m[0]);
}

}  // namespace
}  // namespace ingress::demux
