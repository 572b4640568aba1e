// host: kernel: the kernel's links, addresses and routes (as a netlink dump gives them)
// become the route stage's configuration: every link, up links' addresses, the operator's
// routes of the main and local tables (AnyIP included); the routes the kernel derives from
// addresses left out (RouteTables derives them again); what cannot be represented counted.
#include "daemon/host_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

namespace ingress::daemon {
namespace {

using ipv4::RouteType;
using wire::ipv4;

constexpr uint8_t kProtoBoot = 3;  // RTPROT_BOOT: `ip route add`

KernelHost host() {
    KernelHost k;
    k.links = {{1, "lo", true, true},
               {2, "eth0", false, true},
               {3, "eth1", false, true},
               {4, "down0", false, false}};
    k.addrs = {{1, {.addr = ipv4(127, 0, 0, 1), .prefix_len = 8}},
               {2, {.addr = ipv4(198, 18, 0, 1), .prefix_len = 24}},
               {2, {.addr = ipv4(198, 18, 0, 9), .prefix_len = 24, .secondary = true}},
               {3, {.addr = ipv4(203, 0, 113, 1), .prefix_len = 24}},
               {4, {.addr = ipv4(192, 0, 2, 1), .prefix_len = 24}}};
    k.routes = {
        // Derived from the addresses (protocol kernel): left out.
        {kRtTableLocal, kRtProtKernel, 2, ipv4(198, 18, 0, 1), 32, 2},
        {kRtTableMain, kRtProtKernel, 1, ipv4(198, 18, 0, 0), 24, 2},
        // The operator's: AnyIP on lo, a static route, a blackhole.
        {kRtTableLocal, kProtoBoot, 2, ipv4(198, 18, 100, 0), 24, 1},
        {kRtTableMain, kProtoBoot, 1, ipv4(198, 19, 0, 0), 16, 3, true},
        {kRtTableMain, kProtoBoot, 6, ipv4(198, 20, 0, 0), 16, 0},
        // Another table (policy routing): kept, with its table.
        {100, kProtoBoot, 1, ipv4(10, 2, 0, 0), 16, 2},
        // Not representable: multipath, a nexthop object, a NAT route, a TOS route.
        {kRtTableMain, kProtoBoot, 1, ipv4(10, 0, 0, 0), 8, 0, false, true},
        {kRtTableMain, kProtoBoot, 1, ipv4(10, 1, 0, 0), 16, 0, false, false, true},
        {kRtTableMain, kProtoBoot, 10, ipv4(10, 3, 0, 0), 16, 2},
        {kRtTableMain, kProtoBoot, 1, ipv4(10, 4, 0, 0), 16, 2, false, false, false, 0x10},
    };
    // The default rules as the kernel reports them (proto kernel), a rule by interface
    // name, one naming an interface that is gone, and an l3mdev rule.
    k.rules = ipv4::default_fib_rules();
    for (auto& r : k.rules) r.protocol = kRtProtKernel;
    ipv4::fib_rule_insert(k.rules, {.priority = 100, .table = 100, .iifname = "eth1"}, true);
    ipv4::fib_rule_insert(k.rules, {.priority = 200, .table = 100, .iifname = "gone0"}, true);
    ipv4::fib_rule_insert(k.rules, {.priority = 1000, .table = 100, .unsupported = "l3mdev"}, true);
    return k;
}

TEST(OverlayKernelHost, EveryLinkUpAddressesAndTheOperatorsRoutes) {
    ipv4::RouteConfig base;
    ipv4::IfConfig port{.ifindex = 2, .name = "eth0"};
    port.conf.rp_filter = 1;  // the file's knobs for an owned port
    port.addrs.push_back({.addr = ipv4(198, 51, 100, 1), .prefix_len = 24});  // replaced
    base.ifaces.push_back(port);
    base.ifaces.push_back({.ifindex = 0x40000000u | (2 << 12) | 10, .name = "eth0.10"});
    base.routes.push_back({.prefix = ipv4(8, 0, 0, 0), .prefix_len = 8, .oif = 2});  // replaced
    base.mc.join(2, ipv4(239, 1, 1, 1), ipv4::McFilterMode::kExclude, {});
    HostSkipped sk;
    const ipv4::RouteConfig rc = overlay_kernel_host(base, host(), &sk);

    ASSERT_EQ(rc.ifaces.size(), 5u);  // four links and the VLAN the kernel does not have
    const ipv4::IfConfig* eth0 = const_cast<ipv4::RouteConfig&>(rc).iface(2);
    ASSERT_NE(eth0, nullptr);
    EXPECT_EQ(eth0->conf.rp_filter, 1);
    ASSERT_EQ(eth0->addrs.size(), 2u);
    EXPECT_EQ(eth0->addrs[1].addr, ipv4(198, 18, 0, 9));
    EXPECT_TRUE(eth0->addrs[1].secondary);
    EXPECT_TRUE(const_cast<ipv4::RouteConfig&>(rc).iface(1)->loopback);
    EXPECT_TRUE(const_cast<ipv4::RouteConfig&>(rc).iface(4)->addrs.empty()) << "down link";
    EXPECT_EQ(rc.mc.groups_on(2), std::vector<wire::Ipv4Addr>{ipv4(239, 1, 1, 1)});

    ASSERT_EQ(rc.routes.size(), 4u);
    EXPECT_EQ(rc.routes[3].table, 100u);
    ASSERT_EQ(rc.rules.size(), 6u);
    EXPECT_EQ(rc.rules[1].iif, 3u);
    EXPECT_EQ(rc.rules[2].iif, ipv4::kIfDetached);
    EXPECT_EQ(rc.routes[0].type, RouteType::kLocal);
    EXPECT_EQ(rc.routes[0].prefix_len, 24);
    EXPECT_EQ(rc.routes[0].oif, 1u);
    EXPECT_TRUE(rc.routes[1].via_gateway);
    EXPECT_EQ(rc.routes[2].type, RouteType::kBlackhole);
    EXPECT_EQ(
        sk, (HostSkipped{
                .multipath = 1, .nexthop = 1, .tos = 1, .other_type = 1, .unsupported_rules = 1}));

    // What the route stage then sees: the kernel's addresses and the AnyIP prefix are
    // local; the file's replaced address is not; a down link's address is not.
    const ipv4::RouteTables t(rc);
    EXPECT_EQ(t.addr_type(ipv4(198, 18, 0, 9)), RouteType::kLocal);
    EXPECT_EQ(t.addr_type(ipv4(198, 18, 100, 42)), RouteType::kLocal);
    EXPECT_EQ(t.addr_type(ipv4(198, 51, 100, 1)), RouteType::kUnicast);
    EXPECT_EQ(t.addr_type(ipv4(192, 0, 2, 1)), RouteType::kUnicast);
}

// One `ip route add/replace/del` applied from its notification (route_edits() through
// RoutePublisher::apply()) gives the routes the next dump would (as a set: the list's order
// matters only between routes of one table and prefix); a notification the translation
// cannot take alone (a route derived from an address, one left out) asks for the dump, and
// so does a deletion of a route not there, with nothing changed.
TEST(RouteEdits, RouteNotificationsChangeTheRoutesAsADumpWould) {
    HostSkipped sk;
    KernelHost k = host();
    ipv4::RoutePublisher pub(overlay_kernel_host({}, k, &sk));
    auto sorted = [](std::vector<ipv4::StaticRoute> v) {
        std::sort(v.begin(), v.end(), [](const ipv4::StaticRoute& a, const ipv4::StaticRoute& b) {
            return std::tie(a.table, a.prefix, a.prefix_len, a.oif) <
                   std::tie(b.table, b.prefix, b.prefix_len, b.oif);
        });
        return v;
    };
    auto apply = [&](std::vector<RouteEvent> ev) {
        std::vector<ipv4::RouteEdit> edits;
        return route_edits(ev, edits) && pub.apply(edits);
    };
    auto dump_routes = [&] { return sorted(overlay_kernel_host({}, k, &sk).routes); };
    const KernelRoute added{kRtTableMain, kProtoBoot, 1, ipv4(198, 21, 7, 0), 24, 3};
    ASSERT_TRUE(apply({{.route = added}}));
    k.routes.push_back(added);
    EXPECT_EQ(sorted(pub.config().routes), dump_routes());
    EXPECT_TRUE(pub.last_incremental());

    // replace: the route of that prefix in that table, now a blackhole
    KernelRoute replaced = added;
    replaced.type = 6;
    replaced.oif = 0;
    ASSERT_TRUE(apply({{.replace = true, .route = replaced}}));
    k.routes.back() = replaced;
    EXPECT_EQ(sorted(pub.config().routes), dump_routes());

    // delete
    ASSERT_TRUE(apply({{.add = false, .route = replaced}}));
    k.routes.pop_back();
    EXPECT_EQ(sorted(pub.config().routes), dump_routes());

    // The dump is needed: a route derived from an address, a multipath route; a deletion of
    // a route the tables do not have takes back the edits before it in the batch.
    const std::vector<ipv4::StaticRoute> before = pub.config().routes;
    const uint64_t generation = pub.read()->generation();
    EXPECT_FALSE(apply({{.route = {kRtTableLocal, kRtProtKernel, 2, ipv4(198, 18, 0, 7), 32, 2}}}));
    EXPECT_FALSE(
        apply({{.route = {kRtTableMain, kProtoBoot, 1, ipv4(10, 9, 0, 0), 16, 0, false, true}}}));
    EXPECT_FALSE(
        apply({{.route = added}, {.add = false, .route = added}, {.add = false, .route = added}}));
    EXPECT_EQ(pub.config().routes, before);
    EXPECT_EQ(pub.read()->generation(), generation);
}

}  // namespace
}  // namespace ingress::daemon
