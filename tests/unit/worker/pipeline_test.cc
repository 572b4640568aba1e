// The pipeline over the memory backend: every frame gets exactly one fate, buffers all come
// back, and frames passed to the kernel arrive there unchanged.
#include "worker/pipeline.h"

#include <gtest/gtest.h>

#include "support/counters.h"
#include "support/pipeline_harness.h"
#include "wire/frame_builder.h"

namespace ingress::worker {
namespace {

using wire::FrameBuilder;
using wire::ipv4;

FrameBuilder udp() {
    return FrameBuilder()
        .eth(test::kPeerMac, test::kPortMac)
        .ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1))
        .udp(1000, 2000)
        .payload_size(18);
}

// TCP to us: the kernel's (LocalDeliverConfig::kernel_handles), passed after local delivery.
FrameBuilder tcp() {
    return FrameBuilder()
        .eth(test::kPeerMac, test::kPortMac)
        .ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1))
        .protocol(wire::kIpProtoTcp)
        .payload_size(26);
}

TEST(Pipeline, ValidIpv4IsPassedTrimmedToTotLen) {
    test::PipelineHarness h;
    h.run_one(tcp().pad_to(60).build());
    EXPECT_COUNTERS(h.snap(), ({{"rx", 1},
                                {"passed", 1},
                                {"IpInReceives", 1},
                                {"IpExtInOctets", 46},
                                {"IpExtInNoECTPkts", 1}}));
    ASSERT_EQ(h.backend.passed().size(), 1u);
    EXPECT_EQ(h.backend.passed()[0].bytes, tcp().build()) << "link padding trimmed";
    h.expect_buffers_conserved();
}

TEST(Pipeline, NothingPassedWithoutAPathToTheKernel) {
    // AF_XDP (Backend::can_pass() false): a frame in the UMEM cannot re-enter the kernel's
    // receive path, so what the pipeline would pass (TCP to us, ARP) is dropped under its own
    // reason, never counted passed.
    test::PipelineHarness h;
    h.backend.set_can_pass(false);
    auto arp = FrameBuilder()
                   .eth(test::kPeerMac, wire::Mac::broadcast())
                   .ethertype(wire::kEthPArp)
                   .payload_size(28)
                   .build();
    h.run({tcp().build(), arp});
    core::Snapshot s = h.snap();
    EXPECT_EQ(s.rx, 2u);
    EXPECT_EQ(s.passed, 0u);
    EXPECT_EQ(s.drop_value(core::DropReason::kXdpUnpassable), 2u);
    EXPECT_TRUE(h.backend.passed().empty());
    EXPECT_EQ(s.mib_value(core::Mib::kIpInReceives), 1u) << "ip_rcv still counted the TCP one";
    h.expect_buffers_conserved();
}

TEST(Pipeline, MixedBurstEveryFrameOneFate) {
    test::PipelineHarness h;
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 10; ++i) frames.push_back(tcp().build());
    for (int i = 0; i < 5; ++i) frames.push_back(udp().bad_ip_checksum().build());
    for (int i = 0; i < 3; ++i)
        frames.push_back(udp().eth_dst(wire::Mac{{2, 0, 0, 0, 0, 9}}).build());
    for (int i = 0; i < 2; ++i)
        frames.push_back(FrameBuilder()
                             .eth(test::kPeerMac, test::kPortMac)
                             .ethertype(0x0806)
                             .payload_size(28)
                             .build());
    frames.push_back(std::vector<uint8_t>(6, 0));
    h.run(frames);
    EXPECT_COUNTERS(h.snap(), ({{"rx", 21},
                                {"passed", 12},
                                {"IP_CSUM", 5},
                                {"OTHERHOST", 3},
                                {"PKT_TOO_SMALL", 1},
                                {"IpInReceives", 15},
                                {"IpExtInOctets", 15 * 46},
                                {"IpExtInNoECTPkts", 15},
                                {"IpInHdrErrors", 5},
                                {"IpExtInCsumErrors", 5},
                                {"IngressL2NonIpv4", 2}}));
    h.expect_buffers_conserved();
}

TEST(Pipeline, MoreThanOneBurstStaysConserved) {
    test::PipelineHarness h;
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 3 * core::kBurst + 7; ++i)
        frames.push_back(i % 3 ? udp().build() : udp().ip_ihl(3).build());
    h.run(frames);
    core::Snapshot s = h.snap();
    EXPECT_EQ(s.rx, 3u * core::kBurst + 7);
    EXPECT_EQ(s.drop_value(core::DropReason::kIpInhdr), 67u);  // i = 0, 3, ..., 198
    EXPECT_TRUE(s.conserved());
    h.expect_buffers_conserved();
}

// The route stage runs after rcv_core: the harness port is 198.18.0.1/24, kernel defaults.
TEST(Pipeline, RouteStageDecidesAfterRcvCore) {
    test::PipelineHarness h;
    // No endpoints: what routes to us meets udp_rcv's no-socket path.
    h.run({udp().build(),  // LOCAL: NoPorts, port unreachable
           udp().ipv4(ipv4(198, 18, 0, 2), ipv4(198, 19, 0, 9)).build(),  // not ours, forwarding 0
           udp().ipv4(ipv4(127, 0, 0, 1), ipv4(198, 18, 0, 1)).build(),   // loopback source
           udp()
               .eth_dst(wire::Mac::broadcast())
               .ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 255))
               .build()});  // BROADCAST
    EXPECT_COUNTERS(h.snap(), ({{"rx", 4},
                                {"NO_SOCKET", 2},
                                {"IP_INADDRERRORS", 1},
                                {"IP_LOCALNET", 1},
                                {"IpInReceives", 4},
                                {"IpExtInOctets", 4 * 46},
                                {"IpExtInNoECTPkts", 4},
                                {"IpInAddrErrors", 1},
                                {"IpExtInBcastPkts", 1},
                                {"IpExtInBcastOctets", 46},
                                {"IpInDelivers", 2},
                                {"UdpNoPorts", 1},
                                {"UdpIgnoredMulti", 1},
                                {"IcmpOutMsgs", 1},
                                {"IcmpOutDestUnreachs", 1},
                                {"IcmpMsgOutType3", 1}}));
    h.expect_buffers_conserved();
}

// A route change published between bursts takes effect on the next burst.
TEST(Pipeline, PublishedRouteChangeAppliesToTheNextBurst) {
    test::PipelineHarness h;
    auto far = udp().ipv4(ipv4(198, 18, 0, 2), ipv4(198, 19, 0, 9)).build();
    h.run_one(far);
    ipv4::RouteConfig cfg = h.routes.config();
    cfg.iface(1)->conf.forwarding = true;
    cfg.routes.push_back(
        {.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .oif = 1, .via_gateway = true});
    h.routes.update(cfg);
    h.run_one(far);
    EXPECT_COUNTERS(h.snap(), ({{"rx", 2},
                                {"passed", 1},
                                {"IP_INADDRERRORS", 1},
                                {"IpInReceives", 2},
                                {"IpExtInOctets", 2 * 46},
                                {"IpExtInNoECTPkts", 2},
                                {"IpInAddrErrors", 1}}));
    h.expect_buffers_conserved();
}

TEST(Pipeline, EmptyBurstIsHarmless) {
    test::PipelineHarness h;
    h.drain();
    EXPECT_COUNTERS(h.snap(), ({}));
}

// fqdir_exit: at worker shutdown a datagram still missing fragments is dropped, its frames
// as FRAG_REASM_TIMEOUT, with no IpReasmFails / IpReasmTimeout and no ICMP time exceeded
// (found by the soak test: ingressd's final counters still showed them held).
TEST(Pipeline, ShutdownDropsHeldFragmentsWithoutMibOrIcmp) {
    test::PipelineHarness h;
    auto frags = udp().payload_size(100).build_fragments(64);
    ASSERT_EQ(frags.size(), 2u);
    h.run_one(frags[0]);
    EXPECT_EQ(h.snap().held, 1u);
    h.pipeline().shutdown();
    EXPECT_COUNTERS(h.snap(), ({{"rx", 1},
                                {"IpInReceives", 1},
                                {"IpExtInNoECTPkts", 1},
                                {"IpExtInOctets", 20 + 64},
                                {"IpReasmReqds", 1},
                                {"FRAG_REASM_TIMEOUT", 1}}));
    EXPECT_EQ(h.pipeline().defrag().queues(), 0u);
    EXPECT_EQ(h.pipeline().defrag().mem(), 0u);
    EXPECT_TRUE(h.backend.sent().empty());
    h.expect_buffers_conserved();
}

TEST(Pipeline, ErrorToOurOwnAddressComesBackInThroughLo) {
    // accept_local: a UDP datagram from our own address to a closed port. The kernel's port
    // unreachable is routed LOCAL, out of lo and into its own ip_rcv(): received again
    // (IpInReceives, InDelivers), icmp_rcv (IcmpInMsgs, InDestUnreachs), udp_err finding no
    // socket on the source port (IcmpInErrors); nothing transmitted. The looped frame is a
    // frame of the worker's own (IngressLoopbackRx) with its fate, and its buffer comes back.
    ipv4::RouteConfig cfg = test::default_route_config();
    cfg.ifaces[0].conf.accept_local = true;
    ipv4::RoutePublisher routes(cfg);
    test::PipelineHarness h;
    h.tables.routes = &routes;
    h.run_one(FrameBuilder()
                  .eth(test::kPeerMac, test::kPortMac)
                  .ipv4(ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 1))
                  .udp(4000, 5001)
                  .payload_size(8)
                  .build());
    EXPECT_TRUE(h.backend.sent().empty()) << "nothing on the wire";
    // The UDP datagram: no socket. The looped error: consumed by icmp_rcv (a delivery, as
    // any ICMP error it handles).
    EXPECT_COUNTERS(h.snap(), ({{"rx", 2},
                                {"NO_SOCKET", 1},
                                {"delivered", 1},
                                {"IngressLoopbackRx", 1},
                                {"IpInReceives", 2},
                                {"IpInDelivers", 2},
                                {"IpExtInOctets", 36 + 64},
                                {"IpExtInNoECTPkts", 2},
                                {"UdpNoPorts", 1},
                                {"IcmpOutMsgs", 1},
                                {"IcmpOutDestUnreachs", 1},
                                {"IcmpMsgOutType3", 1},
                                {"IpOutRequests", 1},
                                {"IpOutTransmits", 1},
                                {"IpExtOutOctets", 64},
                                {"IcmpInMsgs", 1},
                                {"IcmpInErrors", 1},
                                {"IcmpInDestUnreachs", 1},
                                {"IcmpMsgInType3", 1}}));
    h.expect_buffers_conserved();
}

}  // namespace
}  // namespace ingress::worker
