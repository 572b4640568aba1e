// RouteTables as the one answer to "which addresses are ours": inet_addr_type() for the bind
// checks and local_dsts() for what the backends steer, both derived from the same routes
// fib_add_ifaddr() installs.
#include "ipv4/route_tables.h"

#include <gtest/gtest.h>

namespace ingress::ipv4 {
namespace {

using wire::ipv4;

constexpr uint32_t kEth0 = 2, kEth1 = 3, kLo = 1;

// eth0: 198.18.0.1/24 primary, 198.18.0.7/24 secondary, 10.1.0.1/16 with an explicit
// broadcast; eth1: 203.0.113.1/24; lo: 127.0.0.1/8; a static local route on eth1 and an
// AnyIP prefix on lo (`ip route add local 198.18.100.0/24 dev lo`).
RouteConfig config() {
    RouteConfig cfg;
    cfg.ifaces.push_back(RouteConfig::loopback(kLo));
    IfConfig eth0{.ifindex = kEth0, .name = "eth0"};
    eth0.addrs.push_back({.addr = ipv4(198, 18, 0, 1), .prefix_len = 24});
    eth0.addrs.push_back({.addr = ipv4(198, 18, 0, 7), .prefix_len = 24, .secondary = true});
    eth0.addrs.push_back(
        {.addr = ipv4(10, 1, 0, 1), .prefix_len = 16, .broadcast = ipv4(10, 1, 0, 0)});
    cfg.ifaces.push_back(eth0);
    IfConfig eth1{.ifindex = kEth1, .name = "eth1"};
    eth1.addrs.push_back({.addr = ipv4(203, 0, 113, 1), .prefix_len = 24});
    cfg.ifaces.push_back(eth1);
    cfg.routes.push_back(
        {.prefix = ipv4(192, 0, 2, 9), .prefix_len = 32, .type = RouteType::kLocal, .oif = kEth1});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 18, 100, 0), .prefix_len = 24, .type = RouteType::kLocal, .oif = kLo});
    cfg.mc.join(kEth0, ipv4(239, 1, 1, 1), McFilterMode::kExclude, {});
    return cfg;
}

struct AddrTypeCase {
    const char* name;
    wire::Ipv4Addr addr;
    RouteType type;
};

class InetAddrType : public ::testing::TestWithParam<AddrTypeCase> {};

// __inet_dev_addr_type(net, NULL, addr, RT_TABLE_LOCAL).
TEST_P(InetAddrType, IsTheLocalTablesRouteType) {
    RouteTables t(config());
    EXPECT_EQ(t.addr_type(GetParam().addr), GetParam().type);
}

const AddrTypeCase kAddrTypes[] = {
    {"PrimaryAddressIsLocal", ipv4(198, 18, 0, 1), RouteType::kLocal},
    {"SecondaryAddressIsLocal", ipv4(198, 18, 0, 7), RouteType::kLocal},
    {"OtherInterfacesAddressIsLocal", ipv4(203, 0, 113, 1), RouteType::kLocal},
    {"SubnetBroadcastOfThePrimaryIsBroadcast", ipv4(198, 18, 0, 255), RouteType::kBroadcast},
    {"ExplicitBrdIsBroadcast", ipv4(10, 1, 0, 0), RouteType::kBroadcast},
    {"LoopbackPrefixIsLocalThroughout", ipv4(127, 0, 0, 9), RouteType::kLocal},
    {"StaticLocalRouteIsLocal", ipv4(192, 0, 2, 9), RouteType::kLocal},
    {"AnyIpPrefixIsLocalThroughout", ipv4(198, 18, 100, 77), RouteType::kLocal},
    {"JustOutsideTheAnyIpPrefixIsUnicast", ipv4(198, 18, 101, 1), RouteType::kUnicast},
    {"ZeronetIsBroadcast", ipv4(0, 1, 2, 3), RouteType::kBroadcast},
    {"LimitedBroadcastIsBroadcast", 0xffffffffu, RouteType::kBroadcast},
    {"ClassDIsMulticast", ipv4(239, 9, 9, 9), RouteType::kMulticast},
    {"OnLinkNeighbourIsUnicast", ipv4(198, 18, 0, 2), RouteType::kUnicast},
    {"NoRouteIsUnicast", ipv4(8, 8, 8, 8), RouteType::kUnicast},
};
INSTANTIATE_TEST_SUITE_P(RouteTables, InetAddrType, ::testing::ValuesIn(kAddrTypes),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(InetAddrTypeWithoutTables, OnlyTheAddressClassesAnswer) {
    EXPECT_EQ(RouteTables::inet_addr_type({}, 0), RouteType::kBroadcast);
    EXPECT_EQ(RouteTables::inet_addr_type({}, ipv4(224, 0, 0, 1)), RouteType::kMulticast);
    EXPECT_EQ(RouteTables::inet_addr_type({}, ipv4(198, 18, 0, 1)), RouteType::kUnicast);
}

// Every interface's local destinations, whatever the arrival interface (weak host model:
// ip_route_input_slow() finds the LOCAL route in the local table for any iif), and the
// groups joined on the arrival interface alone (ip_check_mc_rcu()).
std::vector<LocalDst> host_dsts(std::vector<LocalDst> groups) {
    std::vector<LocalDst> v = {
        {ipv4(10, 1, 0, 0), RouteType::kBroadcast},  // eth0's explicit brd
        {ipv4(10, 1, 0, 1), RouteType::kLocal},
        {ipv4(10, 1, 255, 255), RouteType::kBroadcast},  // its subnet broadcast too
        {ipv4(127, 0, 0, 0), RouteType::kLocal, 8},      // lo's prefix route is LOCAL
        {ipv4(127, 0, 0, 1), RouteType::kLocal},
        {ipv4(127, 255, 255, 255), RouteType::kBroadcast},
        {ipv4(192, 0, 2, 9), RouteType::kLocal},  // the static local /32 on eth1
        {ipv4(198, 18, 0, 1), RouteType::kLocal},
        {ipv4(198, 18, 0, 7), RouteType::kLocal},  // the secondary: no broadcast of its own
        {ipv4(198, 18, 0, 255), RouteType::kBroadcast},
        {ipv4(198, 18, 100, 0), RouteType::kLocal, 24},  // AnyIP on lo
        {ipv4(203, 0, 113, 1), RouteType::kLocal},       // eth1's
        {ipv4(203, 0, 113, 255), RouteType::kBroadcast},
        {0xffffffffu, RouteType::kBroadcast},
    };
    v.insert(v.end(), groups.begin(), groups.end());
    sort_local_dsts(v);
    return v;
}

TEST(LocalDsts, WeakHostEveryInterfacesAddressesBroadcastsAndPrefixesPlusItsOwnGroups) {
    RouteTables t(config());
    EXPECT_EQ(t.local_dsts(kEth0), host_dsts({{ipv4(224, 0, 0, 1), RouteType::kMulticast},
                                              {ipv4(239, 1, 1, 1), RouteType::kMulticast}}));
    // eth1 has not joined 239.1.1.1; 224.0.0.1 is joined everywhere (ip_mc_up()).
    EXPECT_EQ(t.local_dsts(kEth1), host_dsts({{ipv4(224, 0, 0, 1), RouteType::kMulticast}}));
    EXPECT_TRUE(t.local_dsts(99).empty());  // no in_device
}

TEST(SortLocalDsts, ByAddressThenLengthFirstOfEachKept) {
    std::vector<LocalDst> v = {{ipv4(10, 0, 0, 1), RouteType::kBroadcast},
                               {ipv4(10, 0, 0, 0), RouteType::kLocal, 8},
                               {ipv4(10, 0, 0, 1), RouteType::kLocal},
                               {ipv4(10, 0, 0, 0), RouteType::kLocal}};
    sort_local_dsts(v);
    const std::vector<LocalDst> want = {{ipv4(10, 0, 0, 0), RouteType::kLocal, 8},
                                        {ipv4(10, 0, 0, 0), RouteType::kLocal},
                                        {ipv4(10, 0, 0, 1), RouteType::kBroadcast}};
    EXPECT_EQ(v, want);
}

}  // namespace
}  // namespace ingress::ipv4
