// Policy routing (fib_rules_lookup() with fib4_rule_match/action/suppress) through the input
// route stage: each selector and its `not`, each action, goto, priorities, throw,
// suppress_prefixlength/suppress_ifgroup, rules that leave out the local table, the merged
// tables' fallback to the default table, a rule the dataplane cannot evaluate, and
// fib_validate_source()'s reverse lookup through the rules (the iif/oif swap). Each case
// asserts the verdict, the counters and the ICMP error on the wire.
#include "ipv4/fib_rules.h"

#include <gtest/gtest.h>

#include <functional>

#include "ipv4/route.h"
#include "support/counters.h"
#include "support/route_run.h"
#include "wire/frame_builder.h"

namespace ingress::ipv4 {
namespace {

using core::DropReason;
using core::Verdict;
using test::Expected;
using wire::FrameBuilder;
using wire::ipv4;
using wire::Ipv4Addr;

// eth0 (1): 198.18.0.1/24, forwarding on; eth1 (2): 198.18.1.1/24, group 5; lo (100).
// Table 100: 198.19.0.0/16 via a gateway on eth1 and 198.19.66.0/24 `throw`; table 200:
// 198.19.0.0/16 on eth0. Main has 198.19.66.0/24 blackhole and nothing else for 198.19/16.
constexpr uint32_t kEth0 = 1, kEth1 = 2, kLo = 100;
const Ipv4Addr kUs = ipv4(198, 18, 0, 1);
const Ipv4Addr kPeer = ipv4(198, 18, 0, 2);
const Ipv4Addr kFar = ipv4(198, 19, 5, 5);
const Ipv4Addr kThrown = ipv4(198, 19, 66, 6);

RouteConfig base_config() {
    RouteConfig cfg;
    IfConfig eth0{.ifindex = kEth0, .name = "eth0"};
    eth0.addrs.push_back({.addr = kUs, .prefix_len = 24});
    EXPECT_TRUE(eth0.conf.set("forwarding", 1));
    IfConfig eth1{.ifindex = kEth1, .name = "eth1", .group = 5};
    eth1.addrs.push_back({.addr = ipv4(198, 18, 1, 1), .prefix_len = 24});
    cfg.ifaces = {eth0, eth1, RouteConfig::loopback(kLo)};
    cfg.routes.push_back({.prefix = ipv4(198, 19, 0, 0),
                          .prefix_len = 16,
                          .oif = kEth1,
                          .via_gateway = true,
                          .table = 100});
    cfg.routes.push_back({.prefix = ipv4(198, 19, 66, 0),
                          .prefix_len = 24,
                          .type = RouteType::kThrow,
                          .table = 100});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .oif = kEth0, .table = 200});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 19, 66, 0), .prefix_len = 24, .type = RouteType::kBlackhole});
    return cfg;
}

using Tweak = std::function<void(RouteConfig&)>;

// `ip rule add` with a priority.
Tweak rule(FibRule r) {
    return [r](RouteConfig& c) {
        if (c.rules.empty()) c.rules = default_fib_rules();
        fib_rule_insert(c.rules, r, true);
    };
}
Tweak rules(std::vector<Tweak> ts) {
    return [ts](RouteConfig& c) {
        for (const Tweak& t : ts) t(c);
    };
}
Tweak knob(uint32_t ifindex, const char* name, unsigned v) {
    return [=](RouteConfig& c) { ASSERT_TRUE(c.iface(ifindex)->conf.set(name, v)); };
}
FibRule to_far(RuleAction a, uint32_t prio = 100) {
    return {.priority = prio, .action = a, .dst = ipv4(198, 19, 0, 0), .dst_len = 16};
}
FibRule lookup(uint32_t table, uint32_t prio = 100) {
    return {.priority = prio, .table = table};
}

struct Case {
    const char* name;
    Tweak tweak;
    Verdict verdict;
    Expected counters;
    Ipv4Addr src = kPeer, dst = kFar;
    uint8_t proto = wire::kIpProtoUdp;
    uint8_t tos = 0;
    bool fragment = false;
    int icmp_type = -1, icmp_code = -1;
};

const Verdict kNext = Verdict::next();
const Verdict kPass = Verdict::pass();
Verdict dropped(DropReason r) {
    return Verdict::drop(r);
}
// ip_error() with ENETUNREACH and forwarding on: IpExtInNoRoutes, ICMP net unreachable.
const Expected kNoRoute = {
    {"IpExtInNoRoutes", 1}, {"IcmpOutMsgs", 1}, {"IcmpOutDestUnreachs", 1}, {"IcmpMsgOutType3", 1}};
const Expected kIcmpOnly = {{"IcmpOutMsgs", 1}, {"IcmpOutDestUnreachs", 1}, {"IcmpMsgOutType3", 1}};

template <class F>
FibRule with(FibRule r, F f) {
    f(r);
    return r;
}

const Case kCases[] = {
    // --- the default rules: local, main, default ---
    {"DefaultRulesFarHostHasNoRoute", [](RouteConfig&) {}, dropped(DropReason::kIpInnoroutes),
     kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"DefaultTableIsTriedWhenMainFails",
     [](RouteConfig& c) {
         c.routes.push_back({.prefix = 0, .prefix_len = 0, .oif = kEth1, .table = kTableDefault});
     },
     kPass,
     {}},
    {"DefaultTableAlsoReplacesAnErrorRouteOfMain",  // __fib_lookup(): `if (!err) goto out`
     [](RouteConfig& c) {
         c.routes.push_back({.prefix = 0, .prefix_len = 0, .oif = kEth1, .table = kTableDefault});
     },
     kPass,
     {},
     kPeer,
     kThrown},
    // --- selectors ---
    {"FromSelectsTable",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.src = ipv4(198, 18, 0, 0);
                   r.src_len = 24;
               })),
     kPass,
     {}},
    {"FromOtherSourceMisses",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.src = ipv4(198, 18, 0, 128);
                   r.src_len = 25;
               })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"NotFromOtherSourceMatches",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.src = ipv4(198, 18, 0, 128);
                   r.src_len = 25;
                   r.invert = true;
               })),
     kPass,
     {}},
    {"ToSelectsTable",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.dst = ipv4(198, 19, 0, 0);
                   r.dst_len = 16;
               })),
     kPass,
     {}},
    {"IifArrivalInterfaceMatches",
     rule(with(lookup(100), [](FibRule& r) { r.iif = kEth0; })),
     kPass,
     {}},
    {"IifOtherInterfaceMisses", rule(with(lookup(100), [](FibRule& r) { r.iif = kEth1; })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"IifDetachedMatchesNothing", rule(with(lookup(100), [](FibRule& r) { r.iif = kIfDetached; })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"OifNeverMatchesAnInputFlow", rule(with(lookup(100), [](FibRule& r) { r.oif = kEth1; })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"NotOifMatchesAnInputFlow",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.oif = kEth1;
                   r.invert = true;
               })),
     kPass,
     {}},
    {"TosMatchesTheLegacyTosBits",
     rule(with(lookup(100), [](FibRule& r) { r.dscp = 0x10 >> 2; })),
     kPass,
     {},
     kPeer,
     kFar,
     17,
     0x90},  // 0x90 & IPTOS_RT_MASK == 0x10
    {"TosOtherValueMisses", rule(with(lookup(100), [](FibRule& r) { r.dscp = 0x10 >> 2; })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0x08, false, 3, 0},
    {"DscpComparesTheWholeField",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.dscp = 4;
                   r.dscp_mask = 0x3f;
                   r.dscp_full = true;
               })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0x90, false, 3, 0},
    {"DscpExactValueMatches",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.dscp = 0x24;
                   r.dscp_mask = 0x3f;
                   r.dscp_full = true;
               })),
     kPass,
     {},
     kPeer,
     kFar,
     17,
     0x90},
    {"FwmarkNeverMatchesAnUnmarkedDatagram",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.fwmark = 1;
                   r.fwmask = UINT32_MAX;
               })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"FwmarkZeroUnderMaskMatches",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.fwmark = 0;
                   r.fwmask = 0xff;
               })),
     kPass,
     {}},
    {"IpprotoMatches", rule(with(lookup(100), [](FibRule& r) { r.ip_proto = 17; })), kPass, {}},
    {"IpprotoOtherMisses", rule(with(lookup(100), [](FibRule& r) { r.ip_proto = 6; })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"SportMatches",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.sport = {1000, 1000};
               })),
     kPass,
     {}},
    {"DportRangeMatches",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.dport = {1500, 2500};
               })),
     kPass,
     {}},
    {"DportOutsideRangeMisses",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.dport = {1, 100};
               })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"DportMaskMatches",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.dport = {0x0700, 0x0700};
                   r.dport_mask = 0xff00;
               })),
     kPass,
     {}},  // 2000 = 0x07d0
    {"FragmentHasNoPorts",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.dport = {2000, 2000};
               })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, true, 3, 0},
    {"UidRangeWithoutRootNeverMatches",
     rule(with(lookup(100),
               [](FibRule& r) {
                   r.uid_start = 1000;
                   r.uid_end = 2000;
               })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    // --- actions ---
    {"UnreachableRuleIsEnetunreach", rule(to_far(RuleAction::kUnreachable)),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"UnreachableRuleWithoutForwardingIsInAddrErrors",
     rules({rule(to_far(RuleAction::kUnreachable)), knob(kEth0, "forwarding", 0)}),
     dropped(DropReason::kIpInaddrerrors),
     {{"IpInAddrErrors", 1}}},
    {"ProhibitRuleIsPacketFiltered", rule(to_far(RuleAction::kProhibit)),
     dropped(DropReason::kNotSpecified), kIcmpOnly, kPeer, kFar, 17, 0, false, 3, 13},
    {"BlackholeRuleIsSilent",
     rule(to_far(RuleAction::kBlackhole)),
     dropped(DropReason::kNotSpecified),
     {}},
    {"NopContinues", rules({rule(to_far(RuleAction::kNop, 10)), rule(lookup(100, 20))}), kPass, {}},
    {"GotoSkipsTheRulesBetween",
     rules({rule(with(to_far(RuleAction::kGoto, 10), [](FibRule& r) { r.goto_priority = 30; })),
            rule(to_far(RuleAction::kProhibit, 20)), rule(lookup(100, 30))}),
     kPass,
     {}},
    {"GotoWithoutTargetIsSkipped",
     rules({rule(with(to_far(RuleAction::kGoto, 10), [](FibRule& r) { r.goto_priority = 25; })),
            rule(to_far(RuleAction::kProhibit, 20)), rule(lookup(100, 30))}),
     dropped(DropReason::kNotSpecified), kIcmpOnly, kPeer, kFar, 17, 0, false, 3, 13},
    {"LowerPriorityNumberWinsWhateverTheOrderAdded",
     rules({rule(lookup(200, 20)), rule(to_far(RuleAction::kBlackhole, 10))}),
     dropped(DropReason::kNotSpecified),
     {}},
    {"MissingTableContinues", rules({rule(lookup(300, 10)), rule(lookup(100, 20))}), kPass, {}},
    {"ThrowContinuesWithTheNextRule",
     rule(lookup(100)),
     dropped(DropReason::kNotSpecified),
     {},
     kPeer,
     kThrown},  // table 100 throws, main blackholes
    {"SuppressPrefixlengthZeroIgnoresTheDefaultRoute",
     rules(
         {[](RouteConfig& c) { c.routes.push_back({.prefix = 0, .prefix_len = 0, .oif = kEth1}); },
          rule(with(lookup(kTableMain, 10), [](FibRule& r) { r.suppress_prefixlen = 0; })),
          rule(to_far(RuleAction::kProhibit, 20))}),
     dropped(DropReason::kNotSpecified), kIcmpOnly, kPeer, kFar, 17, 0, false, 3, 13},
    {"SuppressPrefixlengthKeepsLongerRoutes",
     rules({rule(with(lookup(kTableMain, 10), [](FibRule& r) { r.suppress_prefixlen = 0; })),
            rule({.priority = 20, .action = RuleAction::kProhibit})}),
     kPass,
     {},
     kPeer,
     ipv4(198, 18, 1, 9)},
    {"SuppressIfgroupIgnoresRoutesThroughTheGroup",
     rule(with(lookup(100), [](FibRule& r) { r.suppress_ifgroup = 5; })),
     dropped(DropReason::kIpInnoroutes), kNoRoute, kPeer, kFar, 17, 0, false, 3, 0},
    {"RulesWithoutTheLocalTableDoNotDeliverLocally",
     [](RouteConfig& c) { c.rules = {{.priority = 32766, .table = kTableMain}}; },
     kPass,
     {},
     kPeer,
     kUs},  // main's 198.18.0.0/24: forwarded, not local
    {"UnsupportedRuleHandsToTheKernel",
     rule(with(lookup(100), [](FibRule& r) { r.unsupported = "l3mdev"; })),
     kPass,
     {{"IngressFibRuleUnsupported", 1}}},
    {"UnsupportedRuleAfterTheDecidingOneIsNotReached",
     rules({rule(lookup(100, 10)), rule(with(to_far(RuleAction::kToTable, 20),
                                             [](FibRule& r) {
                                                 r.table = 100;
                                                 r.unsupported = "l3mdev";
                                             }))}),
     kPass,
     {}},
    // The forwarded route's source check looks kPeer up through the rules: an
    // unsupported rule on that path hands the datagram to the kernel too.
    {"UnsupportedRuleOnTheReversePathHandsToTheKernel",
     rules({rule(lookup(100, 10)),
            rule(with(lookup(100, 20), [](FibRule& r) { r.unsupported = "l3mdev"; }))}),
     kPass,
     {{"IngressFibRuleUnsupported", 1}}},
    // --- fib_validate_source through the rules (local input to kUs from kFar) ---
    {"RpFilterStrictNoRouteBack",
     knob(kEth0, "rp_filter", 1),
     dropped(DropReason::kIpRpfilter),
     {{"TcpExtIPReversePathFilter", 1}},
     kFar,
     kUs},
    {"RpFilterStrictRouteBackThroughArrivalViaRule",
     rules({knob(kEth0, "rp_filter", 1), rule(with(lookup(200, 10),
                                                   [](FibRule& r) {
                                                       r.dst = ipv4(198, 19, 0, 0);
                                                       r.dst_len = 16;
                                                   }))}),
     kNext,
     {},
     kFar,
     kUs},
    {"RpFilterStrictRouteBackThroughOtherInterface",
     rules({knob(kEth0, "rp_filter", 1), rule(with(lookup(100, 10),
                                                   [](FibRule& r) {
                                                       r.dst = ipv4(198, 19, 0, 0);
                                                       r.dst_len = 16;
                                                   }))}),
     dropped(DropReason::kIpRpfilter),
     {{"TcpExtIPReversePathFilter", 1}},
     kFar,
     kUs},
    {"RpFilterLooseRouteBackThroughOtherInterface",
     rules({knob(kEth0, "rp_filter", 2), rule(with(lookup(100, 10),
                                                   [](FibRule& r) {
                                                       r.dst = ipv4(198, 19, 0, 0);
                                                       r.dst_len = 16;
                                                   }))}),
     kNext,
     {},
     kFar,
     kUs},
    {"RpFilterReverseFlowArrivesOnLoopbackForLocalInput",
     rules({knob(kEth0, "rp_filter", 1),
            rule(with(lookup(200, 10), [](FibRule& r) { r.iif = kLo; }))}),
     kNext,
     {},
     kFar,
     kUs},
    {"RpFilterReverseFlowIsFromTheDestination",
     rules({knob(kEth0, "rp_filter", 1), rule(with(lookup(200, 10),
                                                   [](FibRule& r) {
                                                       r.src = kUs;
                                                       r.src_len = 32;
                                                   }))}),
     kNext,
     {},
     kFar,
     kUs},
    {"RpFilterForwardDirectionRuleDoesNotApplyBackwards",
     rules({knob(kEth0, "rp_filter", 1), rule(with(lookup(200, 10),
                                                   [](FibRule& r) {
                                                       r.src = ipv4(198, 19, 0, 0);
                                                       r.src_len = 16;
                                                   }))}),
     dropped(DropReason::kIpRpfilter),
     {{"TcpExtIPReversePathFilter", 1}},
     kFar,
     kUs},
    {"RpFilterReverseFlowSwapsPorts",
     rules({knob(kEth0, "rp_filter", 1),
            rule(with(lookup(200, 10),
                      [](FibRule& r) {
                          r.sport = {2000, 2000};  // the datagram's dport
                      }))}),
     kNext,
     {},
     kFar,
     kUs},
};

class FibRules : public ::testing::TestWithParam<Case> {};

TEST_P(FibRules, VerdictCountersAndIcmp) {
    const Case& c = GetParam();
    RouteConfig cfg = base_config();
    c.tweak(cfg);
    RouteTables t(cfg, 1);
    FrameBuilder fb = FrameBuilder().ipv4(c.src, c.dst).tos(c.tos);
    fb.udp(1000, 2000).payload_size(18);
    if (c.fragment) fb.ip_frag(0, true);
    const test::RouteRun r = test::run_route_input(t, fb.build(), core::PktType::kHost, kEth0,
                                                   /*routes_for_icmp=*/true);
    EXPECT_EQ(r.verdict, c.verdict) << "kind " << int(r.verdict.kind()) << " reason "
                                    << core::drop_reason_name(r.verdict.reason());
    EXPECT_COUNTERS(r.counters, (c.counters));
    if (c.icmp_type < 0) {
        EXPECT_EQ(r.sent, 0u) << "no ICMP error expected";
        return;
    }
    ASSERT_EQ(r.sent, 1u);
    EXPECT_EQ(r.icmp_type, c.icmp_type);
    EXPECT_EQ(r.icmp_code, c.icmp_code);
}

INSTANTIATE_TEST_SUITE_P(Kernel, FibRules, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(FibRuleInsert, DefaultPriorityIsTheSecondRulesMinusOneAndEqualPrioritiesKeepOrder) {
    std::vector<FibRule> rs = default_fib_rules();
    fib_rule_insert(rs, {.table = 100}, false);
    fib_rule_insert(rs, {.table = 200}, false);
    ASSERT_EQ(rs.size(), 5u);
    // ip rule add ... (no pref): 32766 - 1, then the first added one's 32765 - 1.
    EXPECT_EQ(rs[1].priority, 32764u);
    EXPECT_EQ(rs[1].table, 200u);
    EXPECT_EQ(rs[2].priority, 32765u);
    EXPECT_EQ(rs[2].table, 100u);
    fib_rule_insert(rs, {.priority = 32765, .table = 300}, true);
    EXPECT_EQ(rs[3].table, 300u);  // after the last of its priority
}

TEST(FibRuleFormat, IpRuleShowShapes) {
    std::vector<FibRule> rs = default_fib_rules();
    EXPECT_EQ(format_rule(rs[0]), "0:\tfrom all lookup local");
    EXPECT_EQ(format_rule(rs[2]), "32767:\tfrom all lookup default");
    FibRule r{.priority = 10,
              .action = RuleAction::kToTable,
              .invert = true,
              .table = 100,
              .src = ipv4(198, 18, 0, 0),
              .src_len = 24,
              .iif = 3,
              .iifname = "veth0",
              .fwmark = 1,
              .fwmask = 0xff,
              .ip_proto = 17,
              .dport = {53, 53},
              .suppress_prefixlen = 0};
    EXPECT_EQ(format_rule(r),
              "10:\tnot from 198.18.0.0/24 fwmark 0x1/0xff iif veth0 ipproto 17 dport 53 lookup "
              "100 suppress_prefixlength 0");
    EXPECT_EQ(format_rule({.priority = 5, .action = RuleAction::kGoto, .goto_priority = 9}),
              "5:\tfrom all goto 9");
    EXPECT_EQ(format_rule({.priority = 6, .action = RuleAction::kProhibit}),
              "6:\tfrom all prohibit");
}

TEST(FibRuleTables, DefaultRulesKeepTheMergedTableAndTheHint) {
    RouteConfig cfg = base_config();
    RouteTables merged(cfg, 1);
    EXPECT_FALSE(merged.has_custom_rules());
    cfg.rules = default_fib_rules();
    EXPECT_FALSE(RouteTables(cfg, 1).has_custom_rules());
    fib_rule_insert(cfg.rules, {.priority = 10, .table = 100}, true);
    RouteTables custom(cfg, 2);
    EXPECT_TRUE(custom.has_custom_rules());
    EXPECT_FALSE(custom.rules_need_ports());
    EXPECT_EQ(custom.loopback_ifindex(), kLo);
    cfg.rules[1].ip_proto = 17;
    EXPECT_TRUE(RouteTables(cfg, 3).rules_need_ports());
    cfg.rules[1].iif = kLo;  // fib_rule_requires_fldissect(): not for iif lo
    EXPECT_FALSE(RouteTables(cfg, 4).rules_need_ports());
}

TEST(FibRuleTables, HintIsNotUsedWithCustomRules) {
    RouteConfig cfg = base_config();
    cfg.rules = default_fib_rules();
    fib_rule_insert(cfg.rules, {.priority = 10, .table = 100}, true);
    RouteTables t(cfg, 7);
    RouteHint hint;
    RouteDecision d = route_input_noref(t, *t.iface(kEth0), kFar, kPeer, 17, &hint);
    EXPECT_TRUE(d.forward);
    EXPECT_EQ(hint.generation, 0u);  // never filled
}

}  // namespace
}  // namespace ingress::ipv4
