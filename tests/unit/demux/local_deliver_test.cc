// ip_local_deliver_finish / ip_protocol_deliver_rcu: protocol dispatch after the raw copies,
// InDelivers / InUnknownProtos, ICMP protocol unreachable, what is left to the kernel.
#include "demux/local_deliver.h"

#include <gtest/gtest.h>

#include "support/demux.h"
#include "wire/icmp.h"

namespace ingress::demux {
namespace {

using test::kGroup;
using test::kLocal;
using test::kPeer;
using test::kPeer2;
using test::proto_to;
using wire::FrameBuilder;

test::Expected ip_in(uint64_t n, uint64_t ip_len) {
    return {{"rx", n}, {"IpInReceives", n}, {"IpExtInOctets", n * ip_len}, {"IpExtInNoECTPkts", n}};
}

TEST(LocalDeliver, UnknownProtocolIsProtocolUnreachable) {
    test::DemuxHarness h;
    h.publish();
    auto frame = proto_to(253).build();
    h.run_one(frame);
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(ip_in(1, 30), {{"IP_NOPROTO", 1},
                                                           {"IpInUnknownProtos", 1},
                                                           {"IcmpOutMsgs", 1},
                                                           {"IcmpOutDestUnreachs", 1},
                                                           {"IcmpMsgOutType3", 1}}));
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& icmp = h.backend.sent()[0].bytes;
    EXPECT_EQ(icmp[34], wire::kIcmpDestUnreach);
    EXPECT_EQ(icmp[35], wire::kIcmpProtUnreach);
    EXPECT_TRUE(std::equal(icmp.begin() + 42, icmp.end(), frame.begin() + 14));
    h.expect_buffers_conserved();
}

TEST(LocalDeliver, UnknownProtocolToMulticastGetsNoIcmp) {
    test::DemuxHarness h;
    h.publish();
    h.run_one(proto_to(253, kGroup).build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::plus(ip_in(1, 30), test::mcast(1, 30)),
                                            {{"IP_NOPROTO", 1}, {"IpInUnknownProtos", 1}}));
    EXPECT_TRUE(h.backend.sent().empty());
}

TEST(LocalDeliver, UnknownProtocolTakenByRawEndpoint) {
    test::DemuxHarness h;
    RawEndpoint raw(test::rings(), 253);
    h.builder.add(raw);
    h.publish();
    h.run_one(proto_to(253).build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(ip_in(1, 30), {{"delivered", 1}, {"IpInDelivers", 1}}));
    EXPECT_EQ(raw.rings().used(), 1u);
    EXPECT_TRUE(h.backend.sent().empty());
}

TEST(LocalDeliver, RawMatchFilteredOutStillSuppressesProtocolUnreachable) {
    // raw_v4_input() reports "delivered" for any matching socket, even one whose source
    // filter then refused the copy: no InUnknownProtos, no ICMP; the frame reached nobody.
    test::DemuxHarness h;
    RawEndpoint raw(test::rings(), 253);
    raw.mc().join_source(kGroup, 1, kPeer2);
    h.builder.add(raw);
    h.publish();
    h.run_one(proto_to(253, kGroup, kPeer).build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::plus(ip_in(1, 30), test::mcast(1, 30)),
                                            {{"NO_SOCKET", 1}, {"IpInDelivers", 1}}));
    EXPECT_EQ(raw.rings().used(), 0u);
    EXPECT_TRUE(h.backend.sent().empty());
}

TEST(LocalDeliver, KernelProtocolsArePassedAfterRawCopies) {
    // TCP, IGMP and the ICMP only the kernel's sockets use (an echo reply: ping_rcv).
    test::DemuxHarness h;
    RawEndpoint tcp_raw(test::rings(), wire::kIpProtoTcp);
    h.builder.add(tcp_raw);
    h.publish();
    h.run({proto_to(wire::kIpProtoTcp).build(), proto_to(wire::kIpProtoIgmp, kGroup).build(),
           FrameBuilder()
               .eth(test::kPeerMac, test::kPortMac)
               .ipv4(kPeer, kLocal)
               .icmp(0, 0)
               .build()});
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::plus(ip_in(2, 30), test::mcast(1, 30)),
                                            test::plus(ip_in(1, 28), {{"passed", 3}})));
    EXPECT_EQ(tcp_raw.rings().used(), 1u);
    EXPECT_EQ(h.backend.passed().size(), 3u);
}

TEST(LocalDeliver, ConfigurableKernelProtocols) {
    // A protocol not in kernel_handles and without a raw endpoint is unknown here.
    test::DemuxHarness h;
    h.publish();
    auto bytes = proto_to(wire::kIpProtoTcp).build();
    LocalDeliverConfig cfg;
    cfg.kernel_handles[wire::kIpProtoTcp] = false;
    core::Packet p = test::ip_packet(bytes, ipv4::RouteType::kLocal);
    core::CounterBlock c;
    DemuxEnv env{*h.snapshot, c, nullptr, 0};
    EXPECT_EQ(local_deliver_finish(p, env, cfg), core::Verdict::drop(core::DropReason::kIpNoproto));
    EXPECT_EQ(local_deliver_finish(p, env, LocalDeliverConfig{}), core::Verdict::pass());
    EXPECT_COUNTERS(c.snapshot(), ({{"IpInUnknownProtos", 1}}));
}

TEST(LocalDeliver, FragmentedDatagramDeliveredOnceReassembled) {
    // ip_local_deliver -> ip_defrag -> udp_rcv: four fragments, shuffled, one datagram whose
    // UDP checksum is checked over the reassembled payload (by the reader: it is longer than
    // CHECKSUM_BREAK, so InDatagrams counts at the read); the four frames end delivered.
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(0, 53);
    h.builder.add(ep);
    h.publish();
    auto b = test::udp_to(kLocal, 53, kPeer, 4000, 100);  // 108 transport bytes
    auto frags = b.build_fragments(32);                   // 32 + 32 + 32 + 12
    ASSERT_EQ(frags.size(), 4u);
    h.run({frags[2], frags[0], frags[3], frags[1]});
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(ip_in(4, 0), {{"IpExtInOctets", 3 * 52 + 32},
                                                          {"delivered", 4},
                                                          {"IpReasmReqds", 4},
                                                          {"IpReasmOKs", 1},
                                                          {"IpInDelivers", 1}}));
    auto got = test::take(ep.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, test::payload_bytes(100));
    EXPECT_EQ(ep.rings().read_counts().csum_ok, 1u) << "verified intact when read";
    h.expect_buffers_conserved();
}

// A datagram of a protocol the kernel handles (TCP here) that the dataplane reassembled:
// its fragments' buffers are gone, so it cannot be passed. Raw endpoints get their copy of
// the whole datagram; then it is dropped under its own reason, once per frame, and nothing
// is passed to the kernel.
TEST(LocalDeliver, ReassembledKernelProtocolIsDropped) {
    test::DemuxHarness h;
    RawEndpoint raw(test::rings(16), wire::kIpProtoTcp);
    h.builder.add(raw);
    h.publish();
    auto frags = proto_to(wire::kIpProtoTcp).payload_size(100).build_fragments(32);
    ASSERT_EQ(frags.size(), 4u);  // 32 + 32 + 32 + 4
    h.run(frags);
    uint64_t octets = 0;
    for (const auto& f : frags) octets += f.size() - 14;
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(ip_in(4, 0), {{"IpExtInOctets", octets},
                                                          {"REASM_KERNEL_PROTO", 4},
                                                          {"IpReasmReqds", 4},
                                                          {"IpReasmOKs", 1}}));
    EXPECT_TRUE(h.backend.passed().empty());
    auto got = test::take(raw.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes.size(), 20u + 100u);
    h.expect_buffers_conserved();
}

}  // namespace
}  // namespace ingress::demux
