// Bindings (tubular's model of BPF sk_lookup): where they sit in __udp4_lib_lookup's order
// (connected > sk_lookup > bound > wildcard), SK_DROP, labels with no live endpoint, the
// reuseport pick within a label, and which binding is the most specific.
#include "demux/sk_lookup.h"

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
using test::udp_to;

Binding bind_label(wire::Ipv4Addr prefix, uint8_t len, uint16_t lo, uint16_t hi, const char* label,
                   bool no_reuseport = false) {
    return test::binding(prefix, len, label, lo, hi, no_reuseport);
}
Binding bind_drop(wire::Ipv4Addr prefix, uint8_t len, uint16_t lo, uint16_t hi) {
    return test::binding(prefix, len, "", lo, hi);
}

// The counters of one 46-byte datagram delivered, or refused with NoPorts + port unreachable.
test::Expected delivered1() {
    return test::plus(test::ip_local(1, 46), {{"delivered", 1}, {"UdpInDatagrams", 1}});
}
test::Expected noports1() {
    return test::plus(test::ip_local(1, 46), {{"NO_SOCKET", 1},
                                              {"UdpNoPorts", 1},
                                              {"IcmpOutMsgs", 1},
                                              {"IcmpOutDestUnreachs", 1},
                                              {"IcmpMsgOutType3", 1}});
}

TEST(SkLookup, ConnectedBeatsABindingWhichBeatsBoundAndWildcard) {
    struct Case {
        const char* name;
        bool connected, binding, bound, wildcard;
        const char* winner;
    };
    const Case cases[] = {
        {"a connected 4-tuple is final before sk_lookup runs", true, true, true, true, "connected"},
        {"a binding beats an address-bound endpoint", false, true, true, true, "labelled"},
        {"a binding beats a wildcard endpoint", false, true, false, true, "labelled"},
        {"no binding: address-bound", false, false, true, true, "bound"},
        {"no binding: wildcard", false, false, false, true, "wildcard"},
    };
    for (const Case& tc : cases) {
        SCOPED_TRACE(tc.name);
        UdpEndpoint connected(test::rings(), "connected"), labelled(test::rings(), "labelled"),
            bound(test::rings(), "bound"), wildcard(test::rings(), "wildcard");
        connected.bind(kLocal, 53).connect(kPeer, 4000);
        labelled.bind(kLocal, 9999);  // bound elsewhere: only the binding leads to it
        bound.bind(kLocal, 53);
        wildcard.bind(0, 53);
        test::DemuxHarness h;
        h.builder.add(labelled).add_label_member("dns", labelled);
        if (tc.connected) h.builder.add(connected);
        if (tc.binding) h.builder.add_binding(bind_label(kLocal, 32, 53, 53, "dns"));
        if (tc.bound) h.builder.add(bound);
        if (tc.wildcard) h.builder.add(wildcard);
        h.publish();
        h.run_one(udp_to(kLocal, 53).build());
        EXPECT_COUNTERS_EQ(h.snap(), delivered1());
        for (UdpEndpoint* ep : {&connected, &labelled, &bound, &wildcard})
            EXPECT_EQ(ep->rings().used(), ep->name() == tc.winner ? 1u : 0u) << ep->name();
    }
}

TEST(SkLookup, DropBindingRefusesWithNoPortsAndPortUnreachable) {
    // SK_DROP: bpf_sk_lookup_run_v4() gives -ECONNREFUSED, __udp4_lib_lookup returns no
    // socket even though a bound and a wildcard endpoint exist.
    test::DemuxHarness h;
    UdpEndpoint bound(test::rings()), wildcard(test::rings());
    bound.bind(kLocal, 53);
    wildcard.bind(0, 53);
    h.builder.add(bound).add(wildcard).add_binding(bind_drop(kLocal, 32, 0, 65535));
    h.publish();
    h.run_one(udp_to(kLocal, 53).build());
    EXPECT_COUNTERS_EQ(h.snap(), noports1());
    EXPECT_EQ(bound.rings().used() + wildcard.rings().used(), 0u);
}

TEST(SkLookup, LabelWithNoLiveEndpointFallsThroughToTheNormalLookup) {
    // A program that finds no socket in its SOCKMAP assigns nothing and returns SK_PASS.
    struct Case {
        const char* name;
        bool register_closed;  // registered, but the endpoint is not in the table (closed)
    };
    for (const Case& tc : {Case{"label nobody registered", false},
                           Case{"registered endpoint no longer live", true}}) {
        SCOPED_TRACE(tc.name);
        test::DemuxHarness h;
        UdpEndpoint bound(test::rings(), "bound"), closed(test::rings(), "closed");
        bound.bind(kLocal, 53);
        closed.bind(kLocal, 5353);
        h.builder.add(bound).add_binding(bind_label(kLocal, 32, 53, 53, "dns"));
        if (tc.register_closed) h.builder.add_label_member("dns", closed);
        h.publish();
        h.run_one(udp_to(kLocal, 53).build());
        EXPECT_COUNTERS_EQ(h.snap(), delivered1());
        EXPECT_EQ(bound.rings().used(), 1u);
        EXPECT_EQ(closed.rings().used(), 0u);
    }
}

TEST(SkLookup, NoMatchingBindingIsThePlainLookup) {
    test::DemuxHarness h;
    UdpEndpoint labelled(test::rings()), wildcard(test::rings());
    labelled.bind(kLocal, 9999);
    wildcard.bind(0, 53);
    h.builder.add(labelled).add(wildcard).add_label_member("svc", labelled);
    h.builder.add_binding(bind_label(kLocal2, 32, 53, 53, "svc"));  // another address
    h.builder.add_binding(bind_label(kLocal, 32, 54, 60, "svc"));   // other ports
    h.publish();
    h.run_one(udp_to(kLocal, 53).build());
    EXPECT_COUNTERS_EQ(h.snap(), delivered1());
    EXPECT_EQ(wildcard.rings().used(), 1u);
    EXPECT_EQ(labelled.rings().used(), 0u);
    // No binding and no endpoint: NoPorts as always.
    h.run_one(udp_to(kLocal, 61).build());
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(delivered1(), test::plus(noports1(), test::ip_local(0, 0))));
}

TEST(SkLookup, MostSpecificBindingWins) {
    // Longest prefix first; for the same prefix, the narrowest port range; a shorter prefix
    // only when no longer one covers the port.
    UdpEndpoint a(test::rings(), "a"), b(test::rings(), "b"), c(test::rings(), "c"),
        d(test::rings(), "d");
    a.bind(kLocal, 1001);
    b.bind(kLocal, 1002);
    c.bind(kLocal, 1003);
    d.bind(kLocal, 1004);
    const wire::Ipv4Addr net = wire::ipv4(198, 18, 100, 0);
    auto t = EndpointTable::Builder()
                 .add(a)
                 .add(b)
                 .add(c)
                 .add(d)
                 .add_label_member("a", a)
                 .add_label_member("b", b)
                 .add_label_member("c", c)
                 .add_label_member("d", d)
                 .add_binding(bind_label(net, 24, 0, 65535, "a"))      // every port of the /24
                 .add_binding(bind_label(net, 24, 53, 53, "b"))        // port 53 of the /24
                 .add_binding(bind_label(net | 7, 32, 1, 65535, "c"))  // most ports of .7
                 .add_binding(bind_label(net, 24, 50, 60, "d"))
                 .add_binding(bind_drop(net | 9, 32, 53, 53))
                 .build();
    struct Case {
        wire::Ipv4Addr daddr;
        uint16_t dport;
        const UdpEndpoint* want;
    };
    const Case cases[] = {
        {net | 1, 80, &a},       // only the /24 all-ports binding
        {net | 1, 53, &b},       // same prefix: 53-53 narrower than 50-60 and 0-65535
        {net | 1, 55, &d},       // 50-60 narrower than 0-65535
        {net | 7, 53, &c},       // /32 beats /24 whatever the ranges
        {net | 7, 0, &a},        // the /32 does not cover port 0: back to the /24
        {net | 9, 53, nullptr},  // the /32 drop
        {net | 9, 54, &d},
        {wire::ipv4(198, 18, 101, 1), 53, nullptr},  // outside every prefix, no socket
    };
    for (const Case& tc : cases) {
        SCOPED_TRACE(wire::ipv4_str(tc.daddr) + ":" + std::to_string(tc.dport));
        EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, tc.daddr, tc.dport, 1), tc.want);
    }
    UdpLookupTrace tr;
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, net | 7, 53, 1, &tr), &c);
    EXPECT_EQ(tr.step, UdpLookupStep::kHook);
    EXPECT_EQ(tr.binding, 2) << "the third binding added";
}

TEST(SkLookup, EqualBindingsGoToTheFirstAdded) {
    UdpEndpoint a(test::rings()), b(test::rings());
    a.bind(kLocal, 1001);
    b.bind(kLocal, 1002);
    auto t = EndpointTable::Builder()
                 .add(a)
                 .add(b)
                 .add_label_member("a", a)
                 .add_label_member("b", b)
                 .add_binding(bind_label(kLocal, 32, 53, 53, "a"))
                 .add_binding(bind_label(kLocal, 32, 53, 53, "b"))
                 .build();
    EXPECT_EQ(udp4_lib_lookup(*t, kPeer, 4000, kLocal, 53, 1), &a);
}

TEST(SkLookup, SeveralEndpointsUnderALabelAreAReuseportGroup) {
    // Members in registration order, picked by reciprocal_scale(udp_ehashfn(4-tuple), n),
    // connected members skipped; stable per flow.
    UdpEndpoint m[3] = {UdpEndpoint(test::rings()), UdpEndpoint(test::rings()),
                        UdpEndpoint(test::rings())};
    EndpointTable::Builder b;
    for (uint16_t i = 0; i < 3; ++i) {
        m[i].bind(kLocal, static_cast<uint16_t>(7000 + i));
        b.add(m[i]).add_label_member("svc", m[i]);
    }
    b.add_binding(bind_label(kLocal, 32, 0, 65535, "svc")).set_hash_seed(0x1234);
    auto t = b.build();
    std::set<const UdpEndpoint*> used;
    for (uint16_t sport = 1000; sport < 1100; ++sport) {
        UdpEndpoint* got = udp4_lib_lookup(*t, kPeer, sport, kLocal, 443, 1);
        const uint32_t want = reciprocal_scale(udp_ehashfn(kLocal, 443, kPeer, sport, 0x1234), 3);
        EXPECT_EQ(got, &m[want]) << sport;
        EXPECT_EQ(udp4_lib_lookup(*t, kPeer, sport, kLocal, 443, 1), got) << "stable per flow";
        used.insert(got);
    }
    EXPECT_EQ(used.size(), 3u);

    // BPF_SK_LOOKUP_F_NO_REUSEPORT: the first registered member, every flow.
    EndpointTable::Builder nb;
    for (auto& ep : m) nb.add(ep).add_label_member("svc", ep);
    nb.add_binding(bind_label(kLocal, 32, 0, 65535, "svc", /*no_reuseport=*/true));
    auto nt = nb.build();
    for (uint16_t sport = 1000; sport < 1050; ++sport)
        EXPECT_EQ(udp4_lib_lookup(*nt, kPeer, sport, kLocal, 443, 1), &m[0]);
}

TEST(SkLookup, ConnectedMembersOfALabelAreSkipped) {
    UdpEndpoint open_ep(test::rings()), conn(test::rings());
    open_ep.bind(kLocal, 7000);
    conn.bind(kLocal, 7001).connect(wire::ipv4(198, 18, 9, 9), 1);
    auto t = EndpointTable::Builder()
                 .add(conn)
                 .add(open_ep)
                 .add_label_member("svc", conn)
                 .add_label_member("svc", open_ep)
                 .add_binding(bind_label(kLocal, 32, 443, 443, "svc"))
                 .build();
    for (uint16_t sport = 1000; sport < 1050; ++sport)
        EXPECT_EQ(udp4_lib_lookup(*t, kPeer, sport, kLocal, 443, 1), &open_ep);
}

TEST(SkLookup, OneEndpointInItsOwnReuseportGroupGoesThroughThatGroup) {
    // inet_lookup_reuseport(): the assigned socket's SO_REUSEPORT group picks, unless the
    // binding says no_reuseport.
    UdpEndpoint g[2] = {UdpEndpoint(test::rings()), UdpEndpoint(test::rings())};
    for (auto& ep : g) ep.bind(kLocal, 8000).set_reuseport();
    uint16_t sport = 1;
    while (reciprocal_scale(udp_ehashfn(kLocal, 53, kPeer, sport, 0), 2) != 1) ++sport;
    for (bool no_reuseport : {false, true}) {
        auto t = EndpointTable::Builder()
                     .add(g[0])
                     .add(g[1])
                     .add_label_member("svc", g[0])
                     .add_binding(bind_label(kLocal, 32, 53, 53, "svc", no_reuseport))
                     .build();
        EXPECT_EQ(udp4_lib_lookup(*t, kPeer, sport, kLocal, 53, 1), no_reuseport ? &g[0] : &g[1]);
    }
}

TEST(SkLookup, HookAndBindingsRunAsAProgramArray) {
    // BPF_PROG_SK_LOOKUP_RUN_ARRAY: the last program that assigned wins; SK_DROP from one
    // program counts only when no program assigned.
    UdpEndpoint hooked(test::rings()), labelled(test::rings()), bound(test::rings());
    hooked.bind(kLocal, 1);
    labelled.bind(kLocal, 2);
    bound.bind(kLocal, 53);
    struct Ctx {
        UdpLookupVerdict v;
    } ctx;
    auto prog = [](void* c, const UdpLookupKey&) noexcept { return static_cast<Ctx*>(c)->v; };
    auto build = [&](Binding bnd) {
        return EndpointTable::Builder()
            .add(hooked)
            .add(labelled)
            .add(bound)
            .add_label_member("l", labelled)
            .add_binding(bnd)
            .set_udp_lookup_hook(prog, &ctx)
            .build();
    };
    ctx.v.selected = &hooked;
    EXPECT_EQ(udp4_lib_lookup(*build(bind_label(kLocal, 32, 53, 53, "l")), kPeer, 4, kLocal, 53, 1),
              &labelled)
        << "the later program's assignment";
    EXPECT_EQ(udp4_lib_lookup(*build(bind_drop(kLocal, 32, 53, 53)), kPeer, 4, kLocal, 53, 1),
              &hooked)
        << "a drop after an assignment";
    ctx.v = {};
    ctx.v.action = UdpLookupVerdict::Action::kDrop;
    EXPECT_EQ(udp4_lib_lookup(*build(bind_label(kLocal, 32, 53, 53, "l")), kPeer, 4, kLocal, 53, 1),
              &labelled)
        << "an assignment after a drop";
    EXPECT_EQ(udp4_lib_lookup(*build(bind_label(kLocal, 32, 54, 54, "l")), kPeer, 4, kLocal, 53, 1),
              nullptr)
        << "a drop and no assignment";
}

TEST(SkLookup, MulticastAndBroadcastNeverSeeBindings) {
    // __udp4_lib_mcast_deliver does no sk_lookup: a binding over the group is not consulted.
    test::DemuxHarness h;
    UdpEndpoint member(test::rings(), "member"), labelled(test::rings(), "labelled");
    member.bind(0, 5000);
    labelled.bind(kLocal, 9);
    h.builder.add(member).add(labelled).add_label_member("l", labelled);
    h.builder.add_binding(bind_label(0, 0, 0, 65535, "l"));
    h.publish();
    h.run_one(udp_to(test::kGroup, 5000).build());
    EXPECT_EQ(member.rings().used(), 1u);
    EXPECT_EQ(labelled.rings().used(), 0u);
}

}  // namespace
}  // namespace ingress::demux
