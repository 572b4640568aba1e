// The input route stage (ip_rcv_finish_core from ip_route_input_noref on): every branch of
// ip_route_input_slow / ip_route_input_mc in the kernel's order, the options, the multicast
// and broadcast counters, and what dst_input would do. Each case asserts the verdict, the
// route type and every counter; ICMP errors are checked on the wire.
#include "ipv4/route.h"

#include <gtest/gtest.h>

#include <functional>

#include "io/memory.h"
#include "io/tx_queue.h"
#include "support/counters.h"
#include "support/packet.h"
#include "support/route_run.h"
#include "wire/frame_builder.h"
#include "wire/icmp.h"

namespace ingress::ipv4 {
namespace {

using core::DropReason;
using core::PktType;
using core::Verdict;
using test::Expected;
using wire::FrameBuilder;
using wire::ipv4;
using wire::Ipv4Addr;

// eth0 (1): 198.18.0.1/24; eth1 (2): 198.18.1.1/24, with 198.19.0.0/16 behind a gateway on
// eth1 (the asymmetric-route topology of the kernel's rp_filter selftests: a source that
// routes back through eth1 arriving on eth0); lo (100): 127.0.0.1/8.
constexpr uint32_t kEth0 = 1, kEth1 = 2, kLo = 100;
const Ipv4Addr kUs = ipv4(198, 18, 0, 1);
const Ipv4Addr kPeer = ipv4(198, 18, 0, 2);
const Ipv4Addr kEth1Addr = ipv4(198, 18, 1, 1);
const Ipv4Addr kFarHost = ipv4(198, 19, 5, 5);        // routed via eth1
const Ipv4Addr kNoRouteHost = ipv4(198, 18, 200, 1);  // no route at all (no default)
const Ipv4Addr kGroup = ipv4(239, 1, 1, 1);

RouteConfig base_config() {
    RouteConfig cfg;
    IfConfig eth0{.ifindex = kEth0, .name = "eth0"};
    eth0.addrs.push_back({.addr = kUs, .prefix_len = 24});
    IfConfig eth1{.ifindex = kEth1, .name = "eth1"};
    eth1.addrs.push_back({.addr = kEth1Addr, .prefix_len = 24});
    cfg.ifaces = {eth0, eth1, RouteConfig::loopback(kLo)};
    cfg.routes.push_back({.prefix = ipv4(198, 19, 0, 0),
                          .prefix_len = 16,
                          .type = RouteType::kUnicast,
                          .oif = kEth1,
                          .via_gateway = true});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 19, 66, 0), .prefix_len = 24, .type = RouteType::kBlackhole});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 19, 77, 0), .prefix_len = 24, .type = RouteType::kUnreachable});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 19, 88, 0), .prefix_len = 24, .type = RouteType::kProhibit});
    return cfg;
}

using Tweak = std::function<void(RouteConfig&)>;
Tweak none() {
    return [](RouteConfig&) {};
}
Tweak eth0(const char* knob, unsigned v) {
    return [=](RouteConfig& c) { ASSERT_TRUE(c.iface(kEth0)->conf.set(knob, v)); };
}
Tweak all(const char* knob, unsigned v) {
    return [=](RouteConfig& c) { ASSERT_TRUE(c.all.set(knob, v)); };
}
Tweak both(Tweak a, Tweak b) {
    return [=](RouteConfig& c) {
        a(c);
        b(c);
    };
}
Tweak join(uint32_t ifindex, Ipv4Addr g, McFilterMode m = McFilterMode::kExclude,
           std::vector<Ipv4Addr> srcs = {}) {
    return [=](RouteConfig& c) { c.mc.join(ifindex, g, m, srcs); };
}

struct Case {
    const char* name;
    Ipv4Addr src, dst;
    Tweak tweak;
    Verdict verdict;
    RouteType type;  // checked when the verdict is not a drop
    Expected counters;
    PktType pkt_type = PktType::kHost;
    uint8_t proto = wire::kIpProtoUdp;
    std::vector<uint8_t> options = {};
    int icmp_type = -1, icmp_code = -1;  // the ICMP error expected on the wire, if any
    uint32_t icmp_info = 0;
};

class RouteInput : public ::testing::TestWithParam<Case> {};

TEST_P(RouteInput, VerdictRouteTypeAndCounters) {
    const Case& c = GetParam();
    RouteConfig cfg = base_config();
    c.tweak(cfg);
    RouteTables t(cfg, 1);
    FrameBuilder fb = FrameBuilder().ipv4(c.src, c.dst).ip_options(c.options);
    if (c.proto == wire::kIpProtoUdp)
        fb.udp(1000, 2000).payload_size(18);
    else
        fb.protocol(c.proto).payload_size(26);
    const test::RouteRun r = test::run_route_input(t, fb.build(), c.pkt_type, kEth0);
    EXPECT_EQ(r.verdict, c.verdict) << "kind " << int(r.verdict.kind()) << " reason "
                                    << core::drop_reason_name(r.verdict.reason());
    if (!r.verdict.is_drop()) {
        EXPECT_EQ(r.type, c.type);
    }
    EXPECT_COUNTERS(r.counters, (c.counters));
    if (c.icmp_type < 0) {
        EXPECT_EQ(r.sent, 0u) << "no ICMP error expected";
        return;
    }
    ASSERT_EQ(r.sent, 1u);
    EXPECT_EQ(r.icmp_type, c.icmp_type);
    EXPECT_EQ(r.icmp_code, c.icmp_code);
    EXPECT_EQ(r.icmp_info, c.icmp_info);
    EXPECT_EQ(r.icmp_dst, c.src);
}

const Verdict kNext = Verdict::next();
const Verdict kPass = Verdict::pass();
Verdict dropped(DropReason r) {
    return Verdict::drop(r);
}
const Expected kIcmpUnreach = {
    {"IcmpOutMsgs", 1}, {"IcmpOutDestUnreachs", 1}, {"IcmpMsgOutType3", 1}};
Expected plus(Expected a, const Expected& b) {
    for (const auto& [k, v] : b) a[k] += v;
    return a;
}

// An IPv4 datagram of 46 bytes (20 + 8 + 18) unless it carries options.
const Case kCases[] = {
    // --- local, broadcast, martians (ip_route_input_slow, in order) ---
    {"UnicastToOurAddressIsLocal", kPeer, kUs, none(), kNext, RouteType::kLocal, {}},
    {"MulticastSourceIsMartian",
     ipv4(224, 0, 0, 5),
     kUs,
     none(),
     dropped(DropReason::kIpInvalidSource),
     {},
     {}},
    {"LimitedBroadcastSourceIsMartian",
     0xffffffffu,
     kUs,
     none(),
     dropped(DropReason::kIpInvalidSource),
     {},
     {}},
    {"ZeroSourceToLimitedBroadcastAcceptedForDhcp",
     0,
     0xffffffffu,
     none(),
     kNext,
     RouteType::kBroadcast,
     {{"IpExtInBcastPkts", 1}, {"IpExtInBcastOctets", 46}},
     PktType::kBroadcast},
    {"ZeroSourceAndZeroDestinationIsBroadcastInput",
     0,
     0,
     none(),
     kNext,
     RouteType::kBroadcast,
     {{"IpExtInBcastPkts", 1}, {"IpExtInBcastOctets", 46}}},
    {"ZeroSourceToUnicastIsMartianSource",
     0,
     kUs,
     none(),
     dropped(DropReason::kIpInvalidSource),
     {},
     {}},
    {"ZeronetDestinationIsMartianDestination",
     kPeer,
     ipv4(0, 1, 2, 3),
     none(),
     dropped(DropReason::kIpInvalidDest),
     {},
     {}},
    {"LoopbackDestinationWithoutRouteLocalnetIsLocalnet",
     kPeer,
     ipv4(127, 0, 0, 1),
     none(),
     dropped(DropReason::kIpLocalnet),
     {},
     {}},
    {"LoopbackDestinationWithRouteLocalnetRoutesToLo",
     kPeer,
     ipv4(127, 0, 0, 1),
     eth0("route_localnet", 1),
     kNext,
     RouteType::kLocal,
     {}},
    {"RouteLocalnetIsAllOrDev",
     kPeer,
     ipv4(127, 0, 0, 5),
     all("route_localnet", 1),
     kNext,
     RouteType::kLocal,
     {}},
    {"LoopbackSourceWithoutRouteLocalnetIsLocalnet",
     ipv4(127, 0, 0, 1),
     kUs,
     none(),
     dropped(DropReason::kIpLocalnet),
     {},
     {}},
    {"LoopbackSourceWithRouteLocalnetIsOurOwnAddress",
     ipv4(127, 0, 0, 1),
     kUs,
     eth0("route_localnet", 1),
     dropped(DropReason::kIpLocalSource),
     {},
     {}},
    {"LimitedBroadcastIsBroadcastInput",
     kPeer,
     0xffffffffu,
     none(),
     kNext,
     RouteType::kBroadcast,
     {{"IpExtInBcastPkts", 1}, {"IpExtInBcastOctets", 46}},
     PktType::kBroadcast},
    {"SubnetBroadcastIsBroadcastRoute",
     kPeer,
     ipv4(198, 18, 0, 255),
     none(),
     kNext,
     RouteType::kBroadcast,
     {{"IpExtInBcastPkts", 1}, {"IpExtInBcastOctets", 46}},
     PktType::kBroadcast},
    {"OtherInterfacesAddressIsLocalToo", kPeer, kEth1Addr, none(), kNext, RouteType::kLocal, {}},
    {"ClassEDestinationHasNoRoute",
     kPeer,
     ipv4(240, 0, 0, 1),
     none(),
     dropped(DropReason::kIpInaddrerrors),
     {},
     {{"IpInAddrErrors", 1}}},
    {"ClassESourceIsNotAMartian", ipv4(240, 0, 0, 1), kUs, none(), kNext, RouteType::kLocal, {}},

    // --- not for us: forwarding off -> ip_error EHOSTUNREACH; on -> ip_forward ---
    {"NotOursForwardingOffIsInAddrErrors",
     kPeer,
     kFarHost,
     none(),
     dropped(DropReason::kIpInaddrerrors),
     {},
     {{"IpInAddrErrors", 1}}},
    {"NoRouteForwardingOffIsInAddrErrors",
     kPeer,
     kNoRouteHost,
     none(),
     dropped(DropReason::kIpInaddrerrors),
     {},
     {{"IpInAddrErrors", 1}}},
    {"ForwardingIsPerDeviceNotAll",
     kPeer,
     kFarHost,
     all("forwarding", 1),
     dropped(DropReason::kIpInaddrerrors),
     {},
     {{"IpInAddrErrors", 1}}},
    {"NotOursForwardingOnIsForwarded",
     kPeer,
     kFarHost,
     eth0("forwarding", 1),
     kPass,
     RouteType::kUnicast,
     {}},
    {"NoRouteForwardingOnIsInNoRoutesAndNetUnreachable",
     kPeer,
     kNoRouteHost,
     eth0("forwarding", 1),
     dropped(DropReason::kIpInnoroutes),
     {},
     plus(kIcmpUnreach, {{"IpExtInNoRoutes", 1}}),
     PktType::kHost,
     wire::kIpProtoUdp,
     {},
     wire::kIcmpDestUnreach,
     0},
    {"UnreachableRouteForwardingOnSendsHostUnreachable",
     kPeer,
     ipv4(198, 19, 77, 9),
     eth0("forwarding", 1),
     dropped(DropReason::kNotSpecified),
     {},
     kIcmpUnreach,
     PktType::kHost,
     wire::kIpProtoUdp,
     {},
     wire::kIcmpDestUnreach,
     1},
    {"ProhibitRouteForwardingOnSendsPktFiltered",
     kPeer,
     ipv4(198, 19, 88, 9),
     eth0("forwarding", 1),
     dropped(DropReason::kNotSpecified),
     {},
     kIcmpUnreach,
     PktType::kHost,
     wire::kIpProtoUdp,
     {},
     wire::kIcmpDestUnreach,
     13},
    {"BlackholeRouteForwardingOnIsSilent",
     kPeer,
     ipv4(198, 19, 66, 9),
     eth0("forwarding", 1),
     dropped(DropReason::kNotSpecified),
     {},
     {}},
    {"BlackholeRouteForwardingOffIsInAddrErrors",
     kPeer,
     ipv4(198, 19, 66, 9),
     none(),
     dropped(DropReason::kIpInaddrerrors),
     {},
     {{"IpInAddrErrors", 1}}},
    {"ForwardedSourceIsValidatedAgainstTheOutputRoute",
     ipv4(198, 18, 0, 255),
     kFarHost,
     both(eth0("forwarding", 1), eth0("rp_filter", 2)),
     dropped(DropReason::kIpLocalSource),
     {},
     {}},
    {"BroadcastForwardingNeedsAllAndDev",
     kPeer,
     ipv4(198, 18, 0, 255),
     eth0("bc_forwarding", 1),
     kNext,
     RouteType::kBroadcast,
     {{"IpExtInBcastPkts", 1}, {"IpExtInBcastOctets", 46}}},
    {"BroadcastForwardingOnIsForwarded",
     kPeer,
     ipv4(198, 18, 0, 255),
     both(eth0("bc_forwarding", 1), all("bc_forwarding", 1)),
     kPass,
     RouteType::kBroadcast,
     {{"IpExtInBcastPkts", 1}, {"IpExtInBcastOctets", 46}}},

    // --- fib_validate_source: asymmetric routes, as in the kernel's rp_filter selftests ---
    {"RpFilterOffAcceptsAsymmetricSource", kFarHost, kUs, none(), kNext, RouteType::kLocal, {}},
    {"RpFilterStrictDropsAsymmetricSource",
     kFarHost,
     kUs,
     eth0("rp_filter", 1),
     dropped(DropReason::kIpRpfilter),
     {},
     {{"TcpExtIPReversePathFilter", 1}}},
    {"RpFilterLooseAcceptsAsymmetricSource",
     kFarHost,
     kUs,
     eth0("rp_filter", 2),
     kNext,
     RouteType::kLocal,
     {}},
    {"RpFilterStrictAcceptsSymmetricSource",
     kPeer,
     kUs,
     eth0("rp_filter", 1),
     kNext,
     RouteType::kLocal,
     {}},
    {"RpFilterIsMaxOfAllAndDevStrictFromAll",
     kFarHost,
     kUs,
     all("rp_filter", 1),
     dropped(DropReason::kIpRpfilter),
     {},
     {{"TcpExtIPReversePathFilter", 1}}},
    {"RpFilterIsMaxOfAllAndDevLooseBeatsStrict",
     kFarHost,
     kUs,
     both(all("rp_filter", 2), eth0("rp_filter", 1)),
     kNext,
     RouteType::kLocal,
     {}},
    {"RpFilterIsMaxOfAllAndDevLooseFromDev",
     kFarHost,
     kUs,
     both(all("rp_filter", 1), eth0("rp_filter", 2)),
     kNext,
     RouteType::kLocal,
     {}},
    {"RpFilterLooseDropsSourceWithNoRouteBack",
     kNoRouteHost,
     kUs,
     eth0("rp_filter", 2),
     dropped(DropReason::kIpRpfilter),
     {},
     {{"TcpExtIPReversePathFilter", 1}}},
    {"RpFilterOffAcceptsSourceWithNoRouteBack",
     kNoRouteHost,
     kUs,
     none(),
     kNext,
     RouteType::kLocal,
     {}},
    {"RpFilterLooseDropsSourceRoutedToBlackhole",
     ipv4(198, 19, 66, 1),
     kUs,
     eth0("rp_filter", 2),
     dropped(DropReason::kIpRpfilter),
     {},
     {{"TcpExtIPReversePathFilter", 1}}},
    {"RpFilterOnDropsBroadcastSourceAsLocalSource",
     ipv4(198, 18, 0, 255),
     kUs,
     eth0("rp_filter", 2),
     dropped(DropReason::kIpLocalSource),
     {},
     {}},
    {"RpFilterStrictAppliesToLimitedBroadcast",
     kFarHost,
     0xffffffffu,
     eth0("rp_filter", 1),
     dropped(DropReason::kIpRpfilter),
     {},
     {{"TcpExtIPReversePathFilter", 1}}},
    {"OurOwnAddressAsSourceIsLocalSource",
     kUs,
     kUs,
     none(),
     dropped(DropReason::kIpLocalSource),
     {},
     {}},
    {"OtherInterfacesAddressAsSourceIsLocalSource",
     kEth1Addr,
     kUs,
     none(),
     dropped(DropReason::kIpLocalSource),
     {},
     {}},
    {"AcceptLocalAcceptsOurOwnAddress",
     kUs,
     kUs,
     eth0("accept_local", 1),
     kNext,
     RouteType::kLocal,
     {}},
    {"AcceptLocalIsAllOrDev", kUs, kUs, all("accept_local", 1), kNext, RouteType::kLocal, {}},
    {"AcceptLocalWithStrictRpFilterNeedsTheSameDevice",
     kEth1Addr,
     kUs,
     both(eth0("accept_local", 1), eth0("rp_filter", 1)),
     dropped(DropReason::kIpRpfilter),
     {},
     {{"TcpExtIPReversePathFilter", 1}}},
    {"AcceptLocalWithStrictRpFilterOwnDeviceAddress",
     kUs,
     kUs,
     both(eth0("accept_local", 1), eth0("rp_filter", 1)),
     kNext,
     RouteType::kLocal,
     {}},
    {"OwnAddressWithRpFilterIsLocalSource",
     kUs,
     kUs,
     eth0("rp_filter", 1),
     dropped(DropReason::kIpLocalSource),
     {},
     {}},

    // --- multicast (ip_route_input_mc, ip_check_mc_rcu, ip_mc_validate_source) ---
    {"MulticastNotJoinedIsDroppedUncounted",
     kPeer,
     kGroup,
     none(),
     dropped(DropReason::kNotSpecified),
     {},
     {},
     PktType::kMulticast},
    {"MulticastJoinedIsMulticastInput",
     kPeer,
     kGroup,
     join(kEth0, kGroup),
     kNext,
     RouteType::kMulticast,
     {{"IpExtInMcastPkts", 1}, {"IpExtInMcastOctets", 46}},
     PktType::kMulticast},
    {"MulticastJoinedOnAnotherInterfaceOnly",
     kPeer,
     kGroup,
     join(kEth1, kGroup),
     dropped(DropReason::kNotSpecified),
     {},
     {},
     PktType::kMulticast},
    {"AllHostsJoinedOnEveryInterface",
     kPeer,
     ipv4(224, 0, 0, 1),
     none(),
     kNext,
     RouteType::kMulticast,
     {{"IpExtInMcastPkts", 1}, {"IpExtInMcastOctets", 46}},
     PktType::kMulticast},
    {"IncludeModeOtherSourceRejected",
     kPeer,
     kGroup,
     join(kEth0, kGroup, McFilterMode::kInclude, {ipv4(198, 18, 0, 9)}),
     dropped(DropReason::kNotSpecified),
     {},
     {},
     PktType::kMulticast},
    {"IncludeModeListedSourceAccepted",
     ipv4(198, 18, 0, 9),
     kGroup,
     join(kEth0, kGroup, McFilterMode::kInclude, {ipv4(198, 18, 0, 9)}),
     kNext,
     RouteType::kMulticast,
     {{"IpExtInMcastPkts", 1}, {"IpExtInMcastOctets", 46}},
     PktType::kMulticast},
    {"IgmpToAJoinedGroupIgnoresSourceFilters",
     kPeer,
     kGroup,
     join(kEth0, kGroup, McFilterMode::kInclude, {ipv4(198, 18, 0, 9)}),
     kNext,
     RouteType::kMulticast,
     {{"IpExtInMcastPkts", 1}, {"IpExtInMcastOctets", 46}},
     PktType::kMulticast,
     wire::kIpProtoIgmp},
    {"ZeroSourceToLinkLocalGroupAccepted",
     0,
     ipv4(224, 0, 0, 1),
     none(),
     kNext,
     RouteType::kMulticast,
     {{"IpExtInMcastPkts", 1}, {"IpExtInMcastOctets", 46}},
     PktType::kMulticast},
    {"ZeroSourceToGlobalGroupIsMartian",
     0,
     kGroup,
     join(kEth0, kGroup),
     dropped(DropReason::kIpInvalidSource),
     {},
     {},
     PktType::kMulticast},
    {"ZeroSourceIgmpToGlobalGroupAccepted",
     0,
     kGroup,
     join(kEth0, kGroup),
     kNext,
     RouteType::kMulticast,
     {{"IpExtInMcastPkts", 1}, {"IpExtInMcastOctets", 46}},
     PktType::kMulticast,
     wire::kIpProtoIgmp},
    {"MulticastFromMulticastSourceIsMartian",
     ipv4(224, 0, 0, 9),
     ipv4(224, 0, 0, 1),
     none(),
     dropped(DropReason::kIpInvalidSource),
     {},
     {},
     PktType::kMulticast},
    {"MulticastFromLoopbackIsLocalnet",
     ipv4(127, 0, 0, 1),
     ipv4(224, 0, 0, 1),
     none(),
     dropped(DropReason::kIpLocalnet),
     {},
     {},
     PktType::kMulticast},
    {"MulticastFromOurAddressIsLocalSource",
     kUs,
     ipv4(224, 0, 0, 1),
     none(),
     dropped(DropReason::kIpLocalSource),
     {},
     {},
     PktType::kMulticast},
    {"MulticastRpFilterStrictDropsAsymmetricSource",
     kFarHost,
     ipv4(224, 0, 0, 1),
     eth0("rp_filter", 1),
     dropped(DropReason::kIpRpfilter),
     {},
     {{"TcpExtIPReversePathFilter", 1}},
     PktType::kMulticast},

    // --- the rest of ip_rcv_finish_core ---
    {"UnicastInL2BroadcastAcceptedByDefault",
     kPeer,
     kUs,
     none(),
     kNext,
     RouteType::kLocal,
     {},
     PktType::kBroadcast},
    {"UnicastInL2MulticastDroppedWhenAsked",
     kPeer,
     kUs,
     eth0("drop_unicast_in_l2_multicast", 1),
     dropped(DropReason::kUnicastInL2Multicast),
     {},
     {},
     PktType::kMulticast},
    {"UnicastInL2MulticastIsAllOrDev",
     kPeer,
     kUs,
     all("drop_unicast_in_l2_multicast", 1),
     dropped(DropReason::kUnicastInL2Multicast),
     {},
     {},
     PktType::kBroadcast},
    {"L2MulticastCheckRunsBeforeIpError",
     kPeer,
     kFarHost,
     eth0("drop_unicast_in_l2_multicast", 1),
     dropped(DropReason::kUnicastInL2Multicast),
     {},
     {},
     PktType::kMulticast},
    {"NopOptionsAreFine",
     kPeer,
     kUs,
     none(),
     kNext,
     RouteType::kLocal,
     {},
     PktType::kHost,
     wire::kIpProtoUdp,
     {1, 1, 1, 1}},
    {"MalformedOptionIsHeaderErrorWithParameterProblem",
     kPeer,
     kUs,
     none(),
     dropped(DropReason::kIpInhdr),
     {},
     {{"IpInHdrErrors", 1}, {"IcmpOutMsgs", 1}, {"IcmpOutParmProbs", 1}, {"IcmpMsgOutType12", 1}},
     PktType::kHost,
     wire::kIpProtoUdp,
     {7, 1, 0, 0},
     wire::kIcmpParameterProb,
     0,
     20u << 24},
    {"OptionsCheckedAfterTheRoute",
     ipv4(224, 0, 0, 9),
     kUs,
     none(),
     dropped(DropReason::kIpInvalidSource),
     {},
     {},
     PktType::kHost,
     wire::kIpProtoUdp,
     {7, 1, 0, 0}},
    {"SourceRouteDroppedByDefault",
     kPeer,
     kUs,
     none(),
     dropped(DropReason::kNotSpecified),
     {},
     {},
     PktType::kHost,
     wire::kIpProtoUdp,
     {131, 7, 4, 198, 19, 5, 5, 0}},
    {"SourceRouteNeedsAllAndDev",
     kPeer,
     kUs,
     eth0("accept_source_route", 1),
     dropped(DropReason::kNotSpecified),
     {},
     {},
     PktType::kHost,
     wire::kIpProtoUdp,
     {131, 7, 4, 198, 19, 5, 5, 0}},
    {"SourceRouteAcceptedToForwardedNextHop",
     kPeer,
     kUs,
     both(all("accept_source_route", 1), eth0("forwarding", 1)),
     kPass,
     RouteType::kUnicast,
     {},
     PktType::kHost,
     wire::kIpProtoUdp,
     {131, 7, 4, 198, 19, 5, 5, 0}},
    {"SourceRouteNextHopUnreachableWithoutForwarding",
     kPeer,
     kUs,
     all("accept_source_route", 1),
     dropped(DropReason::kNotSpecified),
     {},
     {},
     PktType::kHost,
     wire::kIpProtoUdp,
     {131, 7, 4, 198, 19, 5, 5, 0}},
    {"SourceRouteExhaustedIsLocal",
     kPeer,
     kUs,
     all("accept_source_route", 1),
     kNext,
     RouteType::kLocal,
     {},
     PktType::kHost,
     wire::kIpProtoUdp,
     {131, 7, 8, 198, 19, 5, 5, 0}},
    {"StrictSourceRouteThroughAForwardedHopIsParameterProblem",
     kPeer,
     kFarHost,
     both(all("accept_source_route", 1), eth0("forwarding", 1)),
     dropped(DropReason::kNotSpecified),
     {},
     {{"IcmpOutMsgs", 1}, {"IcmpOutParmProbs", 1}, {"IcmpMsgOutType12", 1}},
     PktType::kHost,
     wire::kIpProtoUdp,
     {137, 7, 4, 198, 18, 0, 1, 0},
     wire::kIcmpParameterProb,
     0,
     16u << 24},
};

INSTANTIATE_TEST_SUITE_P(IpRcvFinishCore, RouteInput, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// A UDP datagram from kPeer to us with `opts`, through route_input with an IcmpSender routed
// by the same tables: the verdict, the frames sent, the counters.
struct OptionsRun {
    Verdict verdict = Verdict::next();
    std::vector<std::vector<uint8_t>> sent;
    core::Snapshot counters;
};
OptionsRun run_with_options(const std::vector<uint8_t>& opts) {
    RouteTables t(base_config(), 1);
    auto bytes =
        FrameBuilder().ipv4(kPeer, kUs).ip_options(opts).udp(4000, 5001).payload_size(8).build();
    core::Packet pkt = test::packet_over(bytes, 14, PktType::kHost);
    pkt.ifindex = kEth0;
    test::fill_l3_meta(pkt);
    io::MemoryBackend backend(kEth0);
    io::TxQueue txq;
    IcmpSender icmp(backend, txq, IcmpConfig{});
    icmp.set_routes(&t);
    core::CounterBlock c;
    RouteHint hint;
    OptionsRun r;
    r.verdict = route_input(pkt, t, c, &icmp, 1'000'000'000, hint);
    txq.flush(backend, 0);
    for (const auto& f : backend.sent()) r.sent.push_back(f.bytes);
    r.counters = c.snapshot();
    return r;
}

// IpInHdrErrors and one parameter problem of `octets` IP bytes sent.
Expected hdr_error_with_param_problem(uint64_t octets) {
    return {{"IpInHdrErrors", 1},      {"IcmpOutMsgs", 1},   {"IcmpOutParmProbs", 1},
            {"IcmpMsgOutType12", 1},   {"IpOutRequests", 1}, {"IpOutTransmits", 1},
            {"IpExtOutOctets", octets}};
}

// ip_options_compile() fails on the second option: IPCB(skb)->opt holds the record route
// before it, compiled with the route set (our address written, the pointer moved), so
// __icmp_send() echoes it with room for one more hop, which the error's source fills; the
// quoted header shows the write. (Found by tests/differential:
// icmp-param-problem-echoes-record-route.)
TEST(RouteInputOptions, ParameterProblemEchoesTheOptionsBeforeTheBadOne) {
    // A record route with two free slots, then a timestamp whose length (3) is below 4.
    const OptionsRun r = run_with_options({7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 68, 3, 5, 0, 0});
    EXPECT_EQ(r.verdict, dropped(DropReason::kIpInhdr));
    ASSERT_EQ(r.sent.size(), 1u);
    const std::vector<uint8_t>& f = r.sent[0];
    ASSERT_GE(f.size(), 14u + 32 + 8 + 36);
    EXPECT_EQ(f[14], 0x48) << "ihl 8: 12 bytes of options";
    // The echo: the route with our hop (198.18.0.1) and the error's source in the slot grabbed
    // for it, pointer past both, padded with end-of-list.
    EXPECT_EQ(std::vector<uint8_t>(f.begin() + 34, f.begin() + 46),
              (std::vector<uint8_t>{7, 11, 12, 198, 18, 0, 1, 198, 18, 0, 1, 0}));
    const std::size_t icmp_at = 14 + 32;
    EXPECT_EQ(f[icmp_at], wire::kIcmpParameterProb);
    EXPECT_EQ(f[icmp_at + 4], 20 + 11 + 1) << "the pointer: the timestamp's length byte";
    // The quoted header's options as the compile wrote them.
    const std::size_t quoted_opts = icmp_at + 8 + 20;
    EXPECT_EQ(std::vector<uint8_t>(f.begin() + quoted_opts, f.begin() + quoted_opts + 16),
              (std::vector<uint8_t>{7, 11, 8, 198, 18, 0, 1, 0, 0, 0, 0, 68, 3, 5, 0, 0}));
    EXPECT_COUNTERS(r.counters, (hdr_error_with_param_problem(32 + 8 + 52)));
}

TEST(RouteInputOptions, ParameterProblemForABadFirstOptionEchoesNothing) {
    const OptionsRun r = run_with_options({68, 3, 5, 7, 7, 4, 0, 0, 0, 0, 0, 0});
    EXPECT_EQ(r.verdict, dropped(DropReason::kIpInhdr));
    ASSERT_EQ(r.sent.size(), 1u);
    EXPECT_EQ(r.sent[0][14], 0x45) << "nothing compiled before the bad option";
    EXPECT_EQ(r.sent[0][14 + 20 + 4], 21) << "the timestamp's length byte";
    EXPECT_COUNTERS(r.counters, (hdr_error_with_param_problem(20 + 8 + 48)));
}

// ip_options_rcv_srr(): a next hop that is ours is the "superfast loopback forward":
// iph->daddr becomes it (the header checksum left as it was) and the walk goes on; the list
// exhausted on our hops, the datagram is delivered to the last of them. (Found by
// tests/differential: lsrr-loopback-forward-delivers-to-last-hop.)
TEST(RouteInputOptions, SourceRouteThroughOurOwnHopsEndsAtTheLastOne) {
    RouteConfig cfg = base_config();
    cfg.iface(kLo)->addrs.push_back({.addr = ipv4(198, 18, 99, 1), .prefix_len = 32});
    ASSERT_TRUE(cfg.all.set("accept_source_route", 1));
    core::CounterBlock c;
    // A UDP datagram to us with the source route `srr`; returns the packet after route_input.
    auto run = [&](const RouteTables& t, std::vector<uint8_t>& bytes, Verdict want) {
        core::Packet pkt = test::packet_over(bytes, 14, PktType::kHost);
        pkt.ifindex = kEth0;
        test::fill_l3_meta(pkt);
        RouteHint hint;
        EXPECT_EQ(route_input(pkt, t, c, nullptr, 0, hint), want);
        return pkt;
    };
    auto datagram = [](std::vector<uint8_t> srr) {
        return FrameBuilder()
            .ipv4(kPeer, kUs)
            .ip_options(srr)
            .udp(4000, 5000)
            .payload_size(8)
            .build();
    };
    RouteTables t(cfg, 1);
    auto bytes = datagram({131, 7, 4, 198, 18, 99, 1, 0});
    const std::vector<uint8_t> before = bytes;
    const core::Packet pkt = run(t, bytes, Verdict::next());
    EXPECT_EQ(route_type_of(pkt.route_type), RouteType::kLocal);
    EXPECT_EQ(pkt.daddr, ipv4(198, 18, 99, 1));
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 30, bytes.begin() + 34),
              (std::vector<uint8_t>{198, 18, 99, 1}));
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 24, bytes.begin() + 26),
              std::vector<uint8_t>(before.begin() + 24, before.begin() + 26))
        << "the header checksum is not recomputed";

    // A hop elsewhere after ours, forwarding on: the kernel's to forward, passed as it arrived.
    ASSERT_TRUE(cfg.iface(kEth0)->conf.set("forwarding", 1));
    RouteTables tf(cfg, 1);
    auto fwd = datagram({131, 11, 4, 198, 18, 99, 1, 198, 18, 0, 5, 0});
    const std::vector<uint8_t> fwd_before = fwd;
    EXPECT_EQ(run(tf, fwd, Verdict::pass()).daddr, kUs);
    EXPECT_EQ(fwd, fwd_before);
    EXPECT_COUNTERS(c.snapshot(), ({})) << "the route stage counts neither";
}

// No in_device: the interface is not in the tables.
TEST(RouteInputDevice, InterfaceWithoutIpv4IsDropped) {
    RouteTables t(base_config(), 1);
    auto bytes = FrameBuilder().ipv4(kPeer, kUs).udp(1, 2).build();
    core::Packet pkt = test::packet_over(bytes);
    pkt.ifindex = 77;
    test::fill_l3_meta(pkt);
    core::CounterBlock c;
    RouteHint hint;
    EXPECT_EQ(route_input(pkt, t, c, nullptr, 0, hint), dropped(DropReason::kNotSpecified));
    EXPECT_COUNTERS(c.snapshot(), ({}));
}

// The route hint: the same destination reuses the FIB lookup, the same source too reuses
// the whole decision; a new table generation invalidates it. The results must be exactly
// those without the hint.
TEST(RouteHintReuse, SameResultsWithAndWithoutHint) {
    RouteConfig cfg = base_config();
    cfg.iface(kEth0)->conf.rp_filter = 1;
    RouteTables t(cfg, 7);
    const IfState& dev = *t.iface(kEth0);
    const Ipv4Addr srcs[] = {kPeer, kFarHost, kUs, 0, ipv4(127, 0, 0, 1), kPeer};
    const Ipv4Addr dsts[] = {kUs, kUs, ipv4(198, 18, 0, 255), kFarHost, kUs, 0xffffffffu};
    RouteHint hint;
    for (Ipv4Addr d : dsts)
        for (Ipv4Addr s : srcs)
            for (int rep = 0; rep < 2; ++rep) {
                RouteDecision with = route_input_noref(t, dev, d, s, 17, &hint);
                RouteDecision without = route_input_noref(t, dev, d, s, 17, nullptr);
                EXPECT_EQ(with.drop, without.drop);
                EXPECT_EQ(with.reason, without.reason);
                EXPECT_EQ(with.type, without.type);
                EXPECT_EQ(with.route, without.route);
            }
    EXPECT_EQ(hint.generation, 7u);
    EXPECT_EQ(hint.daddr, 0xffffffffu);
}

TEST(RouteHintReuse, NewGenerationInvalidatesTheHint) {
    RouteConfig cfg = base_config();
    RouteTables before(cfg, 1);
    RouteHint hint;
    EXPECT_EQ(route_input_noref(before, *before.iface(kEth0), kFarHost, kPeer, 17, &hint).type,
              RouteType::kUnreachable);
    cfg.iface(kEth0)->conf.forwarding = true;
    RouteTables after(cfg, 2);
    RouteDecision d = route_input_noref(after, *after.iface(kEth0), kFarHost, kPeer, 17, &hint);
    EXPECT_EQ(d.type, RouteType::kUnicast);
    EXPECT_TRUE(d.forward);
}

}  // namespace
}  // namespace ingress::ipv4
