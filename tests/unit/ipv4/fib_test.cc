// The FIB: longest-prefix match against a plain linear scan, the route types, the local
// table fib_add_ifaddr() derives from addresses, and lock-free publication of changes.
#include "ipv4/fib.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <optional>
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

// A reader running concurrently with repeated full rebuilds (a knob changes with the
// routes) always sees a complete table: generation g has exactly two routes, both via
// ifindex g, and generations never go back.
TEST(RoutePublication, ReaderSeesOnlyCompleteTables) {
    auto config = [](uint32_t g) {
        RouteConfig cfg;
        cfg.all.log_martians = g % 2;
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
    for (uint32_t g = 2; g <= 60; ++g) {
        pub.update(config(g));
        EXPECT_FALSE(pub.last_incremental());
    }
    while (reads.load() < 1000) std::this_thread::yield();
    stop = true;
    reader.join();
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_EQ(pub.read()->generation(), 60u);
}

// ---- Incremental changes (Fib::insert/erase, RoutePublisher's incremental path) ----

// The route a lookup finds, by value (indexes differ between an incremental and a built
// table).
std::optional<Route> found(const Fib& f, Ipv4Addr a) {
    const Fib::Index i = f.lookup(a);
    if (i == Fib::kNoRoute) return std::nullopt;
    return f.route(i);
}

// Random adds, deletes and replaces applied one at a time agree, on every probe, with a
// table built whole from the same candidate list: nested prefixes of every length in a
// small space (tbl8 groups appear and go), the same prefix in local and main (local wins),
// several candidates of one prefix in one table (the later wins, the earlier returns when
// it goes).
TEST(FibIncremental, RandomChangesAgreeWithAFullBuild) {
    std::mt19937 rng(7);
    auto random_route = [&] {
        const uint32_t r = rng() % 100;
        const uint8_t len = static_cast<uint8_t>(r < 2    ? rng() % 8         // /0../7
                                                 : r < 30 ? 8 + rng() % 17    // /8../24
                                                          : 25 + rng() % 8);  // /25../32
        const uint32_t mask = len ? ~uint32_t{0} << (32 - len) : 0;
        // Mostly inside 198.18.0.0/22, so that prefixes nest and collide.
        const Ipv4Addr a = (ipv4(198, 18, 0, 0) | (rng() & 0x3ff)) & mask;
        return Route{.prefix = a,
                     .prefix_len = len,
                     .type = rng() % 5 ? RouteType::kUnicast : RouteType::kBlackhole,
                     .oif = static_cast<uint32_t>(rng() % 4),
                     .table = rng() % 4 ? kTableMain : kTableLocal};
    };
    std::vector<Route> set;  // the candidates, in order
    for (int i = 0; i < 200; ++i) set.push_back(random_route());
    Fib inc(set);
    std::vector<Ipv4Addr> probes;
    for (uint32_t a = 0; a < 0x400; ++a) probes.push_back(ipv4(198, 18, 0, 0) | a);
    for (int i = 0; i < 2000; ++i) probes.push_back(static_cast<Ipv4Addr>(rng()));
    for (int step = 0; step < 3000; ++step) {
        const uint32_t op = rng() % 3;
        if (op == 0 || set.empty()) {
            const Route r = random_route();
            set.push_back(r);
            ASSERT_EQ(inc.insert(r), Fib::Change::kApplied);
        } else {
            // erase() takes the last of identical candidates (the kernel has none: EEXIST)
            const Route r = set[rng() % set.size()];
            set.erase(std::prev(std::find(set.rbegin(), set.rend(), r).base()));
            ASSERT_EQ(inc.erase(r), Fib::Change::kApplied);
            if (op == 2) {  // replace: the same prefix, something else about it
                Route n = r;
                n.oif = r.oif + 1;
                n.type = n.type == RouteType::kUnicast ? RouteType::kProhibit : RouteType::kUnicast;
                set.push_back(n);
                ASSERT_EQ(inc.insert(n), Fib::Change::kApplied);
            }
        }
        if (step % 7 == 0) inc.reclaim();
        if (step % 50 != 49) continue;
        const Fib full(set);
        for (Ipv4Addr a : probes) ASSERT_EQ(found(inc, a), found(full, a)) << step << " " << a;
        ASSERT_EQ(inc.size(), full.size());
        ASSERT_EQ(inc.tbl8_groups(), full.tbl8_groups()) << step;
        const std::vector<Route> ci = inc.candidates(), cf = full.candidates();
        ASSERT_EQ(ci.size(), cf.size()) << step;
        for (std::size_t i = 0; i < ci.size(); ++i)
            ASSERT_EQ(ci[i], cf[i])
                << step << " candidate " << i << ": " << ci[i].prefix << "/"
                << int{ci[i].prefix_len} << " table " << ci[i].table << " oif " << ci[i].oif
                << " vs " << cf[i].prefix << "/" << int{cf[i].prefix_len} << " table "
                << cf[i].table << " oif " << cf[i].oif;
    }
    EXPECT_EQ(inc.erase(Route{.prefix = ipv4(203, 0, 113, 0), .prefix_len = 24}),
              Fib::Change::kNotFound);
}

// The last route longer than /24 in a /24 takes its tbl8 group with it; the group is
// reused only after reclaim() (readers may still hold it until a grace period).
TEST(FibIncremental, Tbl8GroupsGoWithTheirLastLongRouteAndReturnAfterReclaim) {
    const Route cover{.prefix = ipv4(198, 18, 7, 0), .prefix_len = 24, .oif = 1};
    const Route r25{.prefix = ipv4(198, 18, 7, 128), .prefix_len = 25, .oif = 2};
    const Route r32{.prefix = ipv4(198, 18, 7, 200), .prefix_len = 32, .oif = 3};
    Fib f(std::span<const Route>(&cover, 1));
    EXPECT_EQ(f.tbl8_groups(), 0u);
    ASSERT_EQ(f.insert(r25), Fib::Change::kApplied);
    ASSERT_EQ(f.insert(r32), Fib::Change::kApplied);
    EXPECT_EQ(f.tbl8_groups(), 1u);
    EXPECT_EQ(f.route(f.lookup(ipv4(198, 18, 7, 200))).oif, 3u);
    EXPECT_EQ(f.route(f.lookup(ipv4(198, 18, 7, 201))).oif, 2u);
    EXPECT_EQ(f.route(f.lookup(ipv4(198, 18, 7, 1))).oif, 1u);
    ASSERT_EQ(f.erase(r25), Fib::Change::kApplied);
    EXPECT_EQ(f.route(f.lookup(ipv4(198, 18, 7, 201))).oif, 1u);
    EXPECT_EQ(f.tbl8_groups(), 1u);
    ASSERT_EQ(f.erase(r32), Fib::Change::kApplied);
    EXPECT_EQ(f.route(f.lookup(ipv4(198, 18, 7, 200))).oif, 1u);
    EXPECT_EQ(f.tbl8_groups(), 0u);
    EXPECT_EQ(f.size(), 1u);
    ASSERT_EQ(f.erase(cover), Fib::Change::kApplied);
    EXPECT_EQ(f.lookup(ipv4(198, 18, 7, 200)), Fib::kNoRoute);
    f.reclaim();
    ASSERT_EQ(f.insert(r32), Fib::Change::kApplied);
    EXPECT_EQ(f.route(f.lookup(ipv4(198, 18, 7, 200))).oif, 3u);
    EXPECT_EQ(f.lookup(ipv4(198, 18, 7, 201)), Fib::kNoRoute);
}

// A table with no room left refuses the change whole (the caller builds anew).
TEST(FibIncremental, NoRoomLeavesTheTableUnchanged) {
    Fib f(std::span<const Route>{});  // room for 4096 tbl8 groups
    for (uint32_t i = 0; i < 4096; ++i)
        ASSERT_EQ(f.insert({.prefix = ipv4(10, 0, 0, 1) + (i << 8), .prefix_len = 32, .oif = 1}),
                  Fib::Change::kApplied);
    const Route one_more{.prefix = ipv4(11, 0, 0, 1), .prefix_len = 32, .oif = 1};
    EXPECT_EQ(f.insert(one_more), Fib::Change::kNoRoom);
    EXPECT_EQ(f.lookup(one_more.prefix), Fib::kNoRoute);
    EXPECT_EQ(f.size(), 4096u);
}

RouteConfig publisher_config() {
    RouteConfig cfg;
    cfg.ifaces.push_back(RouteConfig::loopback(1));
    IfConfig eth{.ifindex = 2, .name = "eth0"};
    eth.addrs.push_back({.addr = ipv4(198, 18, 0, 1), .prefix_len = 24});
    cfg.ifaces.push_back(eth);
    cfg.routes.push_back({.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .oif = 2});
    cfg.routes.push_back({.prefix = ipv4(198, 19, 9, 0), .prefix_len = 24, .oif = 2});
    return cfg;
}

void expect_same_lookups(const RouteTables& a, const RouteTables& b) {
    std::vector<Ipv4Addr> probes = {ipv4(127, 0, 0, 1), ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 255)};
    for (uint32_t i = 0; i < 0x20000; i += 61) probes.push_back(ipv4(198, 18, 0, 0) + i);
    for (Ipv4Addr d : probes) {
        const Flow fl{.iif = 2, .saddr = ipv4(198, 18, 0, 5), .daddr = d};
        const FibResult x = a.fib_lookup(fl), y = b.fib_lookup(fl);
        ASSERT_EQ(x.error, y.error) << d;
        ASSERT_EQ(x.route ? std::optional(*x.route) : std::nullopt,
                  y.route ? std::optional(*y.route) : std::nullopt)
            << d;
    }
    EXPECT_EQ(a.all_routes(), b.all_routes());
    EXPECT_EQ(a.local_dsts(2), b.local_dsts(2));
}

// One `ip route add/del/replace` in main (or in a table the rules reach) is incremental: a
// new generation (route hints invalidate) with the lookups of a full build; a change of
// the local table, of the addresses or of the rules builds whole.
TEST(RoutePublication, SingleRouteChangesAreIncrementalAndAgreeWithAFullBuild) {
    RoutePublisher pub(publisher_config());
    RouteConfig cfg = publisher_config();
    auto step = [&](bool incremental) {
        const uint64_t g = pub.read()->generation();
        pub.update(cfg);
        EXPECT_EQ(pub.last_incremental(), incremental);
        EXPECT_EQ(pub.read()->generation(), g + 1);
        expect_same_lookups(*pub.read(), RouteTables(cfg));
    };
    // add, in the middle of the list (as a dump's order places it)
    cfg.routes.insert(cfg.routes.begin() + 1,
                      {.prefix = ipv4(198, 19, 7, 0), .prefix_len = 24, .oif = 2});
    step(true);
    // replace: the same prefix, now a blackhole
    cfg.routes[1].type = RouteType::kBlackhole;
    cfg.routes[1].oif = 0;
    step(true);
    // longer than /24, then its deletion
    cfg.routes.push_back({.prefix = ipv4(198, 19, 9, 128), .prefix_len = 25, .oif = 2});
    step(true);
    cfg.routes.pop_back();
    step(true);
    // delete
    cfg.routes.erase(cfg.routes.begin());
    step(true);
    // a second main route for the prefix of eth0's connected route: order decides, full
    cfg.routes.push_back(
        {.prefix = ipv4(198, 18, 0, 0), .prefix_len = 24, .type = RouteType::kProhibit});
    step(false);
    // AnyIP (a local route) changes the local addresses: full
    cfg.routes.push_back(
        {.prefix = ipv4(198, 18, 100, 0), .prefix_len = 24, .type = RouteType::kLocal, .oif = 1});
    step(false);
    // an address: full
    cfg.ifaces[1].addrs.push_back({.addr = ipv4(198, 18, 1, 1), .prefix_len = 24});
    step(false);
    // custom rules: every table its own Fib; a route of a table the rules reach is
    // incremental, one of a table with no Fib yet is not
    cfg.rules = default_fib_rules();
    cfg.rules.insert(
        cfg.rules.begin() + 1,
        FibRule{.priority = 100, .table = 100, .src = ipv4(198, 18, 0, 0), .src_len = 16});
    cfg.routes.push_back({.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .oif = 1, .table = 100});
    step(false);
    cfg.routes.push_back({.prefix = ipv4(198, 19, 3, 0),
                          .prefix_len = 24,
                          .type = RouteType::kUnreachable,
                          .table = 100});
    step(true);
    cfg.routes.push_back({.prefix = ipv4(198, 19, 4, 0), .prefix_len = 24, .oif = 2, .table = 101});
    step(false);
}

// An endpoint's IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP (the registry): set_mc() publishes
// the new memberships with a new generation (the ports steer the joined group, route hints
// invalidate), ip_check_mc_rcu() answers from the next snapshot, and everything else is the
// same tables: lookups, local destinations but the group, the route list (with apply()'s
// index kept: an edit after a join still finds its route).
TEST(RoutePublication, MembershipChangesPublishOnlyTheMemberships) {
    RoutePublisher pub(publisher_config());
    pub.prepare_edits();
    const Ipv4Addr group = ipv4(239, 1, 2, 3), src = ipv4(198, 18, 0, 5);
    EXPECT_FALSE(pub.read()->mc().check(2, group, src, wire::kIpProtoUdp));
    McGroups mc = pub.config().mc;
    mc.join(2, group, McFilterMode::kExclude);
    const uint64_t g = pub.read()->generation();
    pub.set_mc(mc);
    EXPECT_EQ(pub.read()->generation(), g + 1);
    EXPECT_TRUE(pub.last_incremental());
    EXPECT_TRUE(pub.read()->mc().check(2, group, src, wire::kIpProtoUdp));
    EXPECT_TRUE(pub.read()->mc().check(2, ipv4(224, 0, 0, 1), src, wire::kIpProtoUdp))
        << "ip_mc_up()'s all-hosts stays";
    RouteConfig want = publisher_config();
    want.mc = mc;
    const RouteTables full(want);
    expect_same_lookups(*pub.read(), full);
    EXPECT_EQ(pub.config().routes, want.routes);
    // apply() after the join: its index still names the routes.
    const StaticRoute del = want.routes[1];
    ASSERT_TRUE(pub.apply(std::vector<RouteEdit>{{.add = false, .route = del}}));
    EXPECT_TRUE(pub.read()->mc().check(2, group, src, wire::kIpProtoUdp));
    // Leaving: the group is no longer ours.
    ASSERT_TRUE(mc.leave(2, group, McFilterMode::kExclude));
    pub.set_mc(mc);
    EXPECT_FALSE(pub.read()->mc().check(2, group, src, wire::kIpProtoUdp));
}

// RoutePublisher::apply() (route notifications, `host: kernel`): the route list is edited
// in place (a deleted route's place taken by the last one unless either has a sibling of
// its table and prefix), so after any sequence of adds, replaces and deletes, several
// routes of one prefix among them, the tables agree with a full build of the list a dump
// would give (ordered erase, appends, a replace in the first sibling's place); a batch
// whose deletion finds nothing changes nothing.
TEST(RoutePublication, AppliedEditsAgreeWithAFullBuildOfTheSameRoutes) {
    RoutePublisher pub(publisher_config());
    RouteConfig ref = publisher_config();
    std::mt19937 rng(7);
    auto random_route = [&] {
        // Few prefixes, so that one prefix often has several routes.
        const uint8_t len = rng() % 2 ? 24 : 25;
        const Ipv4Addr p = ipv4(198, 19, rng() % 4, len == 25 ? (rng() % 2) * 128 : 0);
        StaticRoute r{.prefix = p, .prefix_len = len, .oif = 2};
        if (rng() % 3 == 0) r = {.prefix = p, .prefix_len = len, .type = RouteType::kBlackhole};
        return r;
    };
    auto same_key = [](const StaticRoute& a, const StaticRoute& b) {
        return a.table == b.table && a.prefix == b.prefix && a.prefix_len == b.prefix_len;
    };
    int incremental = 0;
    for (int i = 0; i < 300; ++i) {
        RouteEdit e;
        const unsigned op = rng() % 3;
        if (op == 0 && !ref.routes.empty()) {
            e = {.add = false, .route = ref.routes[rng() % ref.routes.size()]};
            ref.routes.erase(std::find(ref.routes.begin(), ref.routes.end(), e.route));
        } else {
            e = {.replace = op == 1, .route = random_route()};
            auto it = std::find_if(ref.routes.begin(), ref.routes.end(),
                                   [&](const StaticRoute& o) { return same_key(o, e.route); });
            if (e.replace && it != ref.routes.end())
                *it = e.route;
            else
                ref.routes.push_back(e.route);
        }
        const uint64_t g = pub.read()->generation();
        ASSERT_TRUE(pub.apply({&e, 1})) << i;
        EXPECT_EQ(pub.read()->generation(), g + 1);
        incremental += pub.last_incremental();
        ASSERT_NO_FATAL_FAILURE(expect_same_lookups(*pub.read(), RouteTables(ref))) << i;
        ASSERT_NO_FATAL_FAILURE(expect_same_lookups(RouteTables(pub.config()), RouteTables(ref)))
            << i;
    }
    EXPECT_GT(incremental, 0);  // a prefix with a single route goes in place
    // A batch whose second deletion finds nothing: the first is taken back, nothing published.
    const std::vector<StaticRoute> before = pub.config().routes;
    const uint64_t g = pub.read()->generation();
    const StaticRoute absent{.prefix = ipv4(198, 19, 200, 0), .prefix_len = 24, .oif = 2};
    const std::vector<RouteEdit> batch = {
        {.route = absent}, {.add = false, .route = absent}, {.add = false, .route = absent}};
    EXPECT_FALSE(pub.apply(batch));
    EXPECT_EQ(pub.config().routes, before);
    EXPECT_EQ(pub.read()->generation(), g);
}

// Readers during incremental changes: each lookup finds the route before or after a
// change, never a torn entry nor a missing covering route; generations never go back.
TEST(RoutePublication, ReadersDuringIncrementalChangesSeeOldOrNewRoutes) {
    RouteConfig cfg;
    cfg.routes.push_back({.prefix = ipv4(198, 18, 0, 0), .prefix_len = 15, .oif = 1});
    RoutePublisher pub(cfg);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> reads{0}, bad{0};
    std::thread reader([&] {
        rcu_reader_register();
        uint64_t last = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            const RouteTables* t = pub.read();
            for (uint32_t h = 0; h < 256; h += 5) {
                const Route& r = t->fib().route(t->fib().lookup(ipv4(198, 18, 7, 0) + h));
                // The /15 (oif 1), or one of the /24 or /25 the writer toggles (oif 2, 3).
                if (r.oif < 1 || r.oif > 3) ++bad;
            }
            if (t->generation() < last) ++bad;
            last = t->generation();
            ++reads;
            rcu_reader_quiescent();
        }
        rcu_reader_unregister();
    });
    for (int i = 0; i < 400; ++i) {
        RouteConfig c = cfg;
        if (i % 2) c.routes.push_back({.prefix = ipv4(198, 18, 7, 0), .prefix_len = 24, .oif = 2});
        if (i % 3)
            c.routes.push_back({.prefix = ipv4(198, 18, 7, 128), .prefix_len = 25, .oif = 3});
        pub.update(c);
        EXPECT_TRUE(pub.last_incremental());
    }
    while (reads.load() < 1000) std::this_thread::yield();
    stop = true;
    reader.join();
    EXPECT_EQ(bad.load(), 0u);
}

}  // namespace
}  // namespace ingress::ipv4
