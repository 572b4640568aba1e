// The FIB: longest-prefix match against a plain linear scan, the route types, the local
// table fib_add_ifaddr() derives from addresses, and lock-free publication of changes.
#include "ipv4/fib.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "ipv4/route_tables.h"

namespace ingress::ipv4 {
namespace {

using wire::ipv4;
using wire::Ipv4Addr;

// The reference: the longest matching prefix by a linear scan (the last one wins a tie, as
// Fib's "later replaces").
Fib::Index naive_lookup(const std::vector<Route>& routes, const Fib& fib, Ipv4Addr a) {
    int best_len = -1;
    const Route* best = nullptr;
    for (const Route& r : routes) {
        const uint32_t mask = r.prefix_len ? ~uint32_t{0} << (32 - r.prefix_len) : 0;
        if ((a & mask) == r.prefix && r.prefix_len >= best_len) {
            best_len = r.prefix_len;
            best = &r;
        }
    }
    if (!best) return Fib::kNoRoute;
    for (Fib::Index i = 1; i <= fib.size(); ++i)
        if (fib.route(i).prefix == best->prefix && fib.route(i).prefix_len == best->prefix_len)
            return i;
    return Fib::kNoRoute;
}

TEST(FibLookup, LongestPrefixMatchAgreesWithLinearScan) {
    std::mt19937 rng(42);
    std::vector<Route> routes;
    // Nested prefixes around one /24 to exercise tbl8 groups inheriting their cover.
    routes.push_back({.prefix = ipv4(198, 18, 0, 0), .prefix_len = 16, .oif = 1});
    routes.push_back({.prefix = ipv4(198, 18, 7, 0), .prefix_len = 24, .oif = 2});
    routes.push_back({.prefix = ipv4(198, 18, 7, 128), .prefix_len = 25, .oif = 3});
    routes.push_back({.prefix = ipv4(198, 18, 7, 192), .prefix_len = 26, .oif = 4});
    routes.push_back({.prefix = ipv4(198, 18, 7, 200), .prefix_len = 32, .oif = 5});
    routes.push_back({.prefix = ipv4(198, 18, 9, 4), .prefix_len = 30, .oif = 6});
    for (int i = 0; i < 3000; ++i) {
        const uint8_t len = static_cast<uint8_t>(rng() % 33);
        const uint32_t mask = len ? ~uint32_t{0} << (32 - len) : 0;
        routes.push_back({.prefix = static_cast<Ipv4Addr>(rng()) & mask,
                          .prefix_len = len,
                          .oif = static_cast<uint32_t>(i)});
    }
    Fib fib(routes);
    std::vector<Ipv4Addr> probes;
    for (const Route& r : routes) {
        probes.push_back(r.prefix);
        probes.push_back(r.prefix | (r.prefix_len ? ~(~uint32_t{0} << (32 - r.prefix_len)) : ~0u));
    }
    for (int i = 0; i < 20000; ++i) probes.push_back(static_cast<Ipv4Addr>(rng()));
    for (Ipv4Addr a : probes) ASSERT_EQ(fib.lookup(a), naive_lookup(routes, fib, a)) << a;

    std::vector<Fib::Index> bulk(probes.size());
    fib.lookup_bulk(probes.data(), bulk.data(), probes.size());
    for (std::size_t i = 0; i < probes.size(); ++i) ASSERT_EQ(bulk[i], fib.lookup(probes[i]));
}

TEST(FibLookup, EmptyTableHasNoRouteAndDefaultRouteCoversAll) {
    Fib empty(std::span<const Route>{});
    EXPECT_EQ(empty.lookup(ipv4(1, 2, 3, 4)), Fib::kNoRoute);
    const Route dflt{.prefix = 0, .prefix_len = 0, .type = RouteType::kUnicast, .oif = 3};
    Fib fib(std::span<const Route>(&dflt, 1));
    EXPECT_EQ(fib.route(fib.lookup(0xffffffffu)).oif, 3u);
    EXPECT_EQ(fib.route(fib.lookup(0)).oif, 3u);
}

TEST(FibLookup, LocalTableWinsAtTheSamePrefixAndLaterReplaces) {
    const Route routes[] = {
        {.prefix = ipv4(198, 18, 0, 1),
         .prefix_len = 32,
         .type = RouteType::kLocal,
         .table = kTableLocal},
        {.prefix = ipv4(198, 18, 0, 1), .prefix_len = 32, .type = RouteType::kBlackhole},
        {.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .type = RouteType::kUnicast},
        {.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .type = RouteType::kProhibit},
    };
    Fib fib(routes);
    EXPECT_EQ(fib.size(), 2u);
    EXPECT_EQ(fib.route(fib.lookup(ipv4(198, 18, 0, 1))).type, RouteType::kLocal);
    EXPECT_EQ(fib.route(fib.lookup(ipv4(198, 19, 3, 3))).type, RouteType::kProhibit);
}

TEST(FibParse, PrefixAndTypeSpellings) {
    Ipv4Addr p = 0;
    uint8_t len = 0;
    EXPECT_TRUE(parse_prefix("198.18.0.0/15", p, len));
    EXPECT_EQ(p, ipv4(198, 18, 0, 0));
    EXPECT_EQ(len, 15);
    EXPECT_TRUE(parse_prefix("198.18.0.7", p, len));
    EXPECT_EQ(len, 32);
    EXPECT_FALSE(parse_prefix("198.18.0.1/24", p, len)) << "host bits set";
    EXPECT_FALSE(parse_prefix("198.18.0.0/33", p, len));
    EXPECT_FALSE(parse_prefix("198.18.0.0/", p, len));
    RouteType t{};
    EXPECT_TRUE(parse_route_type("blackhole", t));
    EXPECT_EQ(t, RouteType::kBlackhole);
    EXPECT_FALSE(parse_route_type("nat", t));
    EXPECT_EQ(route_type_name(RouteType::kProhibit), "prohibit");
}

struct Expect {
    Ipv4Addr prefix;
    uint8_t len;
    RouteType type;
};

void expect_routes(const RouteConfig& cfg, const std::vector<Expect>& want) {
    auto got = RouteTables::derive_routes(cfg);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].prefix, want[i].prefix) << i;
        EXPECT_EQ(got[i].prefix_len, want[i].len) << i;
        EXPECT_EQ(got[i].type, want[i].type) << i;
    }
}

RouteConfig one_addr(IfAddr a, bool loopback = false) {
    RouteConfig cfg;
    IfConfig i{.ifindex = 1, .name = "eth0", .loopback = loopback};
    i.addrs.push_back(a);
    cfg.ifaces.push_back(i);
    return cfg;
}

// `ip route show table local` / `table main` after `ip addr add`.
TEST(FibAddIfaddr, Slash24GivesLocalPrefixAndSubnetBroadcast) {
    expect_routes(one_addr({.addr = ipv4(198, 18, 0, 1), .prefix_len = 24}),
                  {{ipv4(198, 18, 0, 1), 32, RouteType::kLocal},
                   {ipv4(198, 18, 0, 0), 24, RouteType::kUnicast},
                   {ipv4(198, 18, 0, 255), 32, RouteType::kBroadcast}});
}

TEST(FibAddIfaddr, Slash31HasNoBroadcast) {
    expect_routes(one_addr({.addr = ipv4(198, 18, 0, 1), .prefix_len = 31}),
                  {{ipv4(198, 18, 0, 1), 32, RouteType::kLocal},
                   {ipv4(198, 18, 0, 0), 31, RouteType::kUnicast}});
}

TEST(FibAddIfaddr, Slash32IsOnlyLocal) {
    expect_routes(one_addr({.addr = ipv4(198, 18, 0, 1), .prefix_len = 32}),
                  {{ipv4(198, 18, 0, 1), 32, RouteType::kLocal}});
}

TEST(FibAddIfaddr, SecondaryAddressHasNoPrefixRoute) {
    expect_routes(one_addr({.addr = ipv4(198, 18, 0, 9), .prefix_len = 24, .secondary = true}),
                  {{ipv4(198, 18, 0, 9), 32, RouteType::kLocal}});
}

TEST(FibAddIfaddr, ExplicitBroadcastIsAdded) {
    expect_routes(
        one_addr({.addr = ipv4(198, 18, 0, 1), .prefix_len = 30, .broadcast = ipv4(198, 18, 0, 3)}),
        {{ipv4(198, 18, 0, 1), 32, RouteType::kLocal},
         {ipv4(198, 18, 0, 3), 32, RouteType::kBroadcast},
         {ipv4(198, 18, 0, 0), 30, RouteType::kUnicast},
         {ipv4(198, 18, 0, 3), 32, RouteType::kBroadcast}});
}

TEST(FibAddIfaddr, LoopbackPrefixRouteIsLocal) {
    RouteConfig cfg;
    cfg.ifaces.push_back(RouteConfig::loopback(1));
    expect_routes(cfg, {{ipv4(127, 0, 0, 1), 32, RouteType::kLocal},
                        {ipv4(127, 0, 0, 0), 8, RouteType::kLocal},
                        {ipv4(127, 255, 255, 255), 32, RouteType::kBroadcast}});
}

TEST(FibAddIfaddr, LimitedBroadcastIsNotInTheFib) {
    RouteTables t(one_addr({.addr = ipv4(198, 18, 0, 1), .prefix_len = 24}));
    EXPECT_EQ(t.fib().lookup(0xffffffffu), Fib::kNoRoute);
    EXPECT_TRUE(t.is_local_addr(ipv4(198, 18, 0, 1)));
    EXPECT_FALSE(t.is_local_addr(ipv4(198, 18, 0, 255)));
}

// A reader running concurrently with repeated route changes always sees a complete table:
// generation g has exactly two routes, both via ifindex g, and generations never go back.
TEST(RoutePublication, ReaderSeesOnlyCompleteTables) {
    auto config = [](uint32_t g) {
        RouteConfig cfg;
        cfg.routes.push_back({.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .oif = g});
        cfg.routes.push_back({.prefix = ipv4(198, 18, 128, 0), .prefix_len = 25, .oif = g});
        return cfg;
    };
    RoutePublisher pub(config(1));
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> reads{0}, bad{0};
    std::thread reader([&] {
        rcu_reader_register();
        uint64_t last = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            const RouteTables* t = pub.read();
            const uint64_t g = t->generation();
            const Route& a = t->fib().route(t->fib().lookup(ipv4(198, 19, 1, 1)));
            const Route& b = t->fib().route(t->fib().lookup(ipv4(198, 18, 128, 5)));
            if (a.oif != g || b.oif != g || g < last || t->fib().size() != 2) ++bad;
            last = g;
            ++reads;
            rcu_reader_quiescent();
        }
        rcu_reader_unregister();
    });
    for (uint32_t g = 2; g <= 60; ++g) pub.update(config(g));
    while (reads.load() < 1000) std::this_thread::yield();
    stop = true;
    reader.join();
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_EQ(pub.read()->generation(), 60u);
}

}  // namespace
}  // namespace ingress::ipv4
