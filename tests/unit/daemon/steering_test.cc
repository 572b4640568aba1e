// What ingressd's ports steer to the dataplane: the route tables' local destinations for the
// port and its VLANs (every local address of the host, the weak host model, and the groups
// joined on the port or a VLAN), kept in step by changing only the difference.
#include "daemon/steering.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

namespace ingress::daemon {
namespace {

using ipv4::LocalDst;
using ipv4::RouteType;
using wire::ipv4;

constexpr uint32_t kPort = 4, kVlan = 0x40000000u | (kPort << 12) | 10;

// A backend's steering as a map, with a capacity (the DPDK set's is finite).
class FakeSteering final : public io::Steering {
public:
    bool add_dst(wire::Ipv4Addr a, uint8_t len, RouteType type) override {
        ++adds;
        if (dsts.size() >= capacity) return false;
        dsts[{a, len}] = type;
        return true;
    }
    void remove_dst(wire::Ipv4Addr a, uint8_t len) override {
        ++removes;
        dsts.erase({a, len});
    }
    void set_protocol(uint8_t p, bool take) override {
        if (take)
            protocols.insert(p);
        else
            protocols.erase(p);
    }
    void set_capture_all(bool) override {}

    std::map<std::pair<wire::Ipv4Addr, uint8_t>, RouteType> dsts;
    std::set<uint8_t> protocols{wire::kIpProtoUdp};
    std::size_t capacity = 64;
    int adds = 0, removes = 0;
};

ipv4::RouteConfig config() {
    ipv4::RouteConfig cfg;
    ipv4::IfConfig port{.ifindex = kPort, .name = "eth0"};
    port.addrs.push_back({.addr = ipv4(198, 18, 0, 1), .prefix_len = 24});
    port.addrs.push_back({.addr = ipv4(198, 18, 0, 9), .prefix_len = 24, .secondary = true});
    cfg.ifaces.push_back(port);
    ipv4::IfConfig vlan{.ifindex = kVlan, .name = "eth0.10"};
    vlan.addrs.push_back({.addr = ipv4(10, 10, 0, 1), .prefix_len = 30});
    cfg.ifaces.push_back(vlan);
    ipv4::IfConfig other{.ifindex = 5, .name = "eth1"};
    other.addrs.push_back({.addr = ipv4(203, 0, 113, 1), .prefix_len = 24});
    cfg.ifaces.push_back(other);
    return cfg;
}

l2::Port port() {
    l2::Port p;
    p.ifindex = kPort;
    p.vlans.push_back({10, kVlan, {}});
    return p;
}

TEST(PortDsts, EveryLocalDestinationOfTheHostAndTheGroupsOfThePortAndItsVlans) {
    ipv4::RouteConfig cfg = config();
    cfg.mc.join(kVlan, ipv4(239, 1, 1, 1), ipv4::McFilterMode::kExclude, {});
    cfg.mc.join(5, ipv4(239, 5, 5, 5), ipv4::McFilterMode::kExclude, {});  // eth1's alone
    const std::vector<LocalDst> want = {
        {ipv4(10, 10, 0, 1), RouteType::kLocal},
        {ipv4(10, 10, 0, 3), RouteType::kBroadcast},
        {ipv4(198, 18, 0, 1), RouteType::kLocal},
        {ipv4(198, 18, 0, 9), RouteType::kLocal},  // secondary: steered
        {ipv4(198, 18, 0, 255), RouteType::kBroadcast},
        {ipv4(203, 0, 113, 1), RouteType::kLocal},        // eth1's: weak host
        {ipv4(203, 0, 113, 255), RouteType::kBroadcast},  // eth1's subnet broadcast too
        {ipv4(224, 0, 0, 1), RouteType::kMulticast},
        {ipv4(239, 1, 1, 1), RouteType::kMulticast},  // joined on the VLAN
        {0xffffffffu, RouteType::kBroadcast},
    };
    EXPECT_EQ(port_dsts(ipv4::RouteTables(cfg), port()), want);
}

TEST(SteeringSync, ChangesOnlyTheDifference) {
    FakeSteering f;
    SteeringSync s(f, "eth0");
    ipv4::RouteConfig cfg = config();
    s.sync_dsts(port_dsts(ipv4::RouteTables(cfg), port()));
    EXPECT_EQ(f.dsts.size(), 9u);
    EXPECT_EQ(f.dsts.at({ipv4(198, 18, 0, 9), 32}), RouteType::kLocal);
    EXPECT_EQ(f.dsts.at({ipv4(198, 18, 0, 255), 32}), RouteType::kBroadcast);
    EXPECT_EQ(f.adds, 9);

    // A join adds one destination; dropping the secondary removes one; an AnyIP route
    // (`ip route add local 198.18.100.0/24 dev lo`) adds its prefix.
    cfg.mc.join(kPort, ipv4(239, 2, 2, 2), ipv4::McFilterMode::kExclude, {});
    cfg.ifaces[0].addrs.pop_back();
    cfg.routes.push_back(
        {.prefix = ipv4(198, 18, 100, 0), .prefix_len = 24, .type = RouteType::kLocal, .oif = 5});
    s.sync_dsts(port_dsts(ipv4::RouteTables(cfg), port()));
    EXPECT_EQ(f.adds, 11);
    EXPECT_EQ(f.removes, 1);
    EXPECT_EQ(f.dsts.count({ipv4(198, 18, 0, 9), 32}), 0u);
    EXPECT_EQ(f.dsts.at({ipv4(239, 2, 2, 2), 32}), RouteType::kMulticast);
    EXPECT_EQ(f.dsts.at({ipv4(198, 18, 100, 0), 24}), RouteType::kLocal);
}

TEST(SteeringSync, AFullBackendIsAnErrorNamingThePort) {
    FakeSteering f;
    f.capacity = 3;
    SteeringSync s(f, "eth0");
    try {
        s.sync_dsts(port_dsts(ipv4::RouteTables(config()), port()));
        FAIL() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "eth0: too many destinations to steer");
    }
    // What was steered is remembered: a later sync with room adds only the rest.
    f.capacity = 64;
    s.sync_dsts(port_dsts(ipv4::RouteTables(config()), port()));
    EXPECT_EQ(f.dsts.size(), 9u);
    EXPECT_EQ(f.adds, 4 + 6);
}

TEST(SteeringSync, UdpAlwaysOtherProtocolsWhileARawEndpointAsks) {
    FakeSteering f;
    SteeringSync s(f, "eth0");
    s.sync_protocols({wire::kIpProtoUdp, 1});
    EXPECT_EQ(f.protocols, (std::set<uint8_t>{1, wire::kIpProtoUdp}));
    s.sync_protocols({wire::kIpProtoUdp});
    EXPECT_EQ(f.protocols, (std::set<uint8_t>{wire::kIpProtoUdp}));
}

}  // namespace
}  // namespace ingress::daemon
