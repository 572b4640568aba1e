// fib_validate_source() / __fib_validate_source() directly: the fast path and when the
// kernel leaves it (custom local routes, a route back out of the receiving interface with
// send_redirects), interfaces without addresses, and the loopback device.
#include "ipv4/rp_filter.h"

#include <gtest/gtest.h>

namespace ingress::ipv4 {
namespace {

using wire::ipv4;
using wire::Ipv4Addr;

constexpr uint32_t kEth0 = 1, kEth1 = 2, kBare = 3, kLo = 100;
const Ipv4Addr kBcastSrc = ipv4(198, 18, 0, 255);
const Ipv4Addr kFar = ipv4(198, 19, 5, 5);

RouteConfig config() {
    RouteConfig cfg;
    IfConfig eth0{.ifindex = kEth0, .name = "eth0"};
    eth0.addrs.push_back({.addr = ipv4(198, 18, 0, 1), .prefix_len = 24});
    IfConfig eth1{.ifindex = kEth1, .name = "eth1"};
    eth1.addrs.push_back({.addr = ipv4(198, 18, 1, 1), .prefix_len = 24});
    cfg.ifaces = {eth0, eth1, IfConfig{.ifindex = kBare, .name = "bare0"},
                  RouteConfig::loopback(kLo)};
    cfg.routes.push_back({.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .oif = kEth1});
    return cfg;
}

SourceVerdict validate(const RouteConfig& cfg, uint32_t dev, Ipv4Addr src, uint32_t oif = 0) {
    RouteTables t(cfg);
    return fib_validate_source(t, *t.iface(dev), Flow{.saddr = src}, oif);
}

TEST(FibValidateSource, FastPathOnlyRejectsOurOwnAddresses) {
    RouteConfig cfg = config();
    EXPECT_EQ(validate(cfg, kEth0, kBcastSrc), SourceVerdict::kAccept);
    EXPECT_EQ(validate(cfg, kEth0, ipv4(198, 18, 1, 1)), SourceVerdict::kLocalSource);
    EXPECT_EQ(validate(cfg, kEth0, ipv4(127, 0, 0, 1)), SourceVerdict::kLocalSource);
}

TEST(FibValidateSource, CustomLocalRoutesForceTheFullCheck) {
    RouteConfig cfg = config();
    cfg.routes.push_back({.prefix = ipv4(198, 19, 200, 0),
                          .prefix_len = 24,
                          .type = RouteType::kLocal,
                          .oif = kEth0});
    EXPECT_EQ(validate(cfg, kEth0, kBcastSrc), SourceVerdict::kLocalSource)
        << "a broadcast source is no unicast host once the full check runs";
    EXPECT_EQ(validate(cfg, kEth0, ipv4(198, 19, 200, 7)), SourceVerdict::kLocalSource);
    EXPECT_EQ(validate(cfg, kEth0, ipv4(198, 18, 50, 1)), SourceVerdict::kAccept)
        << "no route back, rp_filter off: the last resort accepts";
}

TEST(FibValidateSource, RouteBackOutOfTheSameInterfaceWithRedirectsIsFullyChecked) {
    RouteConfig cfg = config();
    EXPECT_EQ(validate(cfg, kEth0, kBcastSrc, kEth0), SourceVerdict::kLocalSource);
    EXPECT_EQ(validate(cfg, kEth0, kBcastSrc, kEth1), SourceVerdict::kAccept);
    cfg.iface(kEth0)->conf.send_redirects = false;
    EXPECT_EQ(validate(cfg, kEth0, kBcastSrc, kEth0), SourceVerdict::kLocalSource)
        << "send_redirects is all || dev: all is still 1";
    cfg.all.send_redirects = false;
    EXPECT_EQ(validate(cfg, kEth0, kBcastSrc, kEth0), SourceVerdict::kAccept);
}

TEST(FibValidateSource, InterfaceWithoutAddressesFallsToTheLastResort) {
    RouteConfig cfg = config();
    cfg.iface(kBare)->conf.rp_filter = 2;
    EXPECT_EQ(validate(cfg, kBare, kFar), SourceVerdict::kRpFilter);
    cfg.iface(kBare)->conf.rp_filter = 0;
    EXPECT_EQ(validate(cfg, kBare, kFar), SourceVerdict::kAccept);
}

TEST(FibValidateSource, LoopbackDeviceMatchesLocalRoutes) {
    RouteConfig cfg = config();
    cfg.iface(kLo)->conf.rp_filter = 1;
    cfg.iface(kLo)->conf.accept_local = true;
    EXPECT_EQ(validate(cfg, kLo, ipv4(198, 18, 1, 1)), SourceVerdict::kAccept);
    cfg.iface(kLo)->conf.accept_local = false;
    EXPECT_EQ(validate(cfg, kLo, ipv4(198, 18, 1, 1)), SourceVerdict::kLocalSource);
}

TEST(FibValidateSource, StrictAcceptsTheRouteBackThroughTheReceivingInterface) {
    RouteConfig cfg = config();
    cfg.iface(kEth1)->conf.rp_filter = 1;
    EXPECT_EQ(validate(cfg, kEth1, kFar), SourceVerdict::kAccept);
    cfg.iface(kEth0)->conf.rp_filter = 1;
    EXPECT_EQ(validate(cfg, kEth0, kFar), SourceVerdict::kRpFilter);
}

}  // namespace
}  // namespace ingress::ipv4
