// ip_rcv_core (net/ipv4/ip_input.c): every branch, in the kernel's order, with the verdict
// and every counter it moves.
#include "ipv4/rcv_core.h"

#include <gtest/gtest.h>

#include "support/counters.h"
#include "support/packet.h"
#include "wire/frame_builder.h"

namespace ingress::ipv4 {
namespace {

using core::DropReason;
using core::PktType;
using core::Verdict;
using test::Expected;
using wire::FrameBuilder;
using wire::ipv4;

FrameBuilder udp() {
    return FrameBuilder()
        .ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1))
        .udp(40000, 5000)
        .payload_size(18);  // IP datagram: 20 + 8 + 18 = 46 bytes
}

struct Case {
    const char* name;
    FrameBuilder frame;
    PktType pkt_type;
    Verdict verdict;
    Expected counters;  // besides rx/fates, which rcv_core does not touch
};

class RcvCore : public ::testing::TestWithParam<Case> {};

TEST_P(RcvCore, VerdictAndCounters) {
    const Case& c = GetParam();
    auto bytes = c.frame.build();
    core::Packet pkt = test::packet_over(bytes, 14, c.pkt_type);
    core::CounterBlock counters;
    EXPECT_EQ(rcv_core(pkt, counters), c.verdict);
    EXPECT_COUNTERS(counters.snapshot(), (c.counters));
}

const Case kCases[] = {
    {"ValidDatagramContinues",
     udp(),
     PktType::kHost,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInNoECTPkts", 1}}},
    {"OtherhostDroppedBeforeAnyIpCounter",
     udp(),
     PktType::kOtherhost,
     Verdict::drop(DropReason::kOtherhost),
     {}},
    {"BroadcastFrameIsNotOtherhost",
     udp(),
     PktType::kBroadcast,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInNoECTPkts", 1}}},
    {"MulticastFrameIsNotOtherhost",
     udp(),
     PktType::kMulticast,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInNoECTPkts", 1}}},
    {"ShorterThanMinimalHeaderIsInhdr",
     udp().truncate(14 + 19),
     PktType::kHost,
     Verdict::drop(DropReason::kIpInhdr),
     {{"IpInReceives", 1}, {"IpExtInOctets", 19}, {"IpInHdrErrors", 1}}},
    {"EmptyL3IsInhdr",
     udp().truncate(14),
     PktType::kHost,
     Verdict::drop(DropReason::kIpInhdr),
     {{"IpInReceives", 1}, {"IpInHdrErrors", 1}}},
    {"Version6IsInhdrBeforeEcnCount",
     udp().ip_version(6),
     PktType::kHost,
     Verdict::drop(DropReason::kIpInhdr),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpInHdrErrors", 1}}},
    {"IhlBelow5IsInhdr",
     udp().ip_ihl(4),
     PktType::kHost,
     Verdict::drop(DropReason::kIpInhdr),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpInHdrErrors", 1}}},
    {"IhlBeyondFrameIsInhdrAfterEcnCount",
     udp().ip_ihl(15).truncate(14 + 40),
     PktType::kHost,
     Verdict::drop(DropReason::kIpInhdr),
     {{"IpInReceives", 1}, {"IpExtInOctets", 40}, {"IpExtInNoECTPkts", 1}, {"IpInHdrErrors", 1}}},
    {"BadChecksumCountsCsumAndHdrErrors",
     udp().bad_ip_checksum(),
     PktType::kHost,
     Verdict::drop(DropReason::kIpCsum),
     {{"IpInReceives", 1},
      {"IpExtInOctets", 46},
      {"IpExtInNoECTPkts", 1},
      {"IpInHdrErrors", 1},
      {"IpExtInCsumErrors", 1}}},
    {"ChecksumCoversOptions",
     udp().ip_options({1, 1, 1, 1}).bad_ip_checksum(),
     PktType::kHost,
     Verdict::drop(DropReason::kIpCsum),
     {{"IpInReceives", 1},
      {"IpExtInOctets", 50},
      {"IpExtInNoECTPkts", 1},
      {"IpInHdrErrors", 1},
      {"IpExtInCsumErrors", 1}}},
    {"ValidOptionsContinue",
     udp().ip_options({1, 1, 1, 1}),
     PktType::kHost,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 50}, {"IpExtInNoECTPkts", 1}}},
    {"TotLenBeyondFrameIsTruncated",
     udp().ip_tot_len(47),
     PktType::kHost,
     Verdict::drop(DropReason::kPktTooSmall),
     {{"IpInReceives", 1},
      {"IpExtInOctets", 46},
      {"IpExtInNoECTPkts", 1},
      {"IpExtInTruncatedPkts", 1}}},
    {"TotLenInsideHeaderIsInhdr",
     udp().ip_tot_len(19),
     PktType::kHost,
     Verdict::drop(DropReason::kIpInhdr),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInNoECTPkts", 1}, {"IpInHdrErrors", 1}}},
    {"TotLenZeroIsInhdr",
     udp().ip_tot_len(0),
     PktType::kHost,
     Verdict::drop(DropReason::kIpInhdr),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInNoECTPkts", 1}, {"IpInHdrErrors", 1}}},
    {"TotLenEqualToHeaderIsValid",
     udp().ip_tot_len(20),
     PktType::kHost,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInNoECTPkts", 1}}},
    {"EcnCeCounted",
     udp().ecn(3),
     PktType::kHost,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInCEPkts", 1}}},
    {"EcnEct0Counted",
     udp().ecn(2),
     PktType::kHost,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInECT0Pkts", 1}}},
    {"EcnEct1Counted",
     udp().ecn(1),
     PktType::kHost,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInECT1Pkts", 1}}},
    {"PaddingCountsInOctets",
     udp().pad_to(14 + 64),
     PktType::kHost,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 64}, {"IpExtInNoECTPkts", 1}}},
    // ip_rcv_core does not look at the TTL (forwarding does, in ip_forward).
    {"TtlZeroNotChecked",
     udp().ttl(0),
     PktType::kHost,
     Verdict::next(),
     {{"IpInReceives", 1}, {"IpExtInOctets", 46}, {"IpExtInNoECTPkts", 1}}},
};

INSTANTIATE_TEST_SUITE_P(IpRcvCore, RcvCore, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RcvCoreTrim, PaddingTrimmedToTotLenAndTransportHeaderSet) {
    auto bytes = udp().ip_options({1, 1, 1, 1}).pad_to(100).build();
    core::Packet pkt = test::packet_over(bytes);
    core::CounterBlock c;
    ASSERT_EQ(rcv_core(pkt, c), Verdict::next());
    EXPECT_EQ(pkt.len, 14u + 50u);
    EXPECT_EQ(pkt.l4_off, 14u + 24u);
    EXPECT_EQ(pkt.ip_proto, wire::kIpProtoUdp);
    EXPECT_COUNTERS(c.snapshot(),
                    ({{"IpInReceives", 1}, {"IpExtInOctets", 86}, {"IpExtInNoECTPkts", 1}}));
}

TEST(RcvCoreTrim, VlanOffsetRespected) {
    auto bytes = udp().vlan(5).build();
    core::Packet pkt = test::packet_over(bytes, 18);
    core::CounterBlock c;
    ASSERT_EQ(rcv_core(pkt, c), Verdict::next());
    EXPECT_EQ(pkt.len, 18u + 46u);
    EXPECT_EQ(pkt.l4_off, 18u + 20u);
}

}  // namespace
}  // namespace ingress::ipv4
