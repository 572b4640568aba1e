// eth_type_trans (net/ethernet/eth.c): pkt_type against the device address, and the
// Ethernet II / 802.3 / 802.2 protocol decision.
#include "l2/eth_type_trans.h"

#include <gtest/gtest.h>

#include "support/packet.h"
#include "support/pipeline_harness.h"
#include "wire/frame_builder.h"

namespace ingress::l2 {
namespace {

using core::DropReason;
using core::PktType;
using core::Verdict;
using wire::FrameBuilder;
using wire::Mac;

Port port() {
    Port p;
    p.ifindex = 1;
    p.mac = test::kPortMac;
    return p;
}

struct TypeCase {
    const char* name;
    Mac dst;
    PktType want;
};

class PktTypeFromDst : public ::testing::TestWithParam<TypeCase> {};

TEST_P(PktTypeFromDst, DecidedAgainstDeviceAddress) {
    auto bytes = FrameBuilder().eth(test::kPeerMac, GetParam().dst).payload_size(46).build();
    core::Packet pkt = test::packet_over(bytes, 0);
    ASSERT_EQ(eth_type_trans(pkt, port()), Verdict::next());
    EXPECT_EQ(pkt.pkt_type, GetParam().want);
    EXPECT_EQ(pkt.l3_off, 14u);
}

INSTANTIATE_TEST_SUITE_P(
    EthTypeTrans, PktTypeFromDst,
    ::testing::Values(
        TypeCase{"OurAddressIsHost", test::kPortMac, PktType::kHost},
        TypeCase{"AllOnesIsBroadcast", Mac::broadcast(), PktType::kBroadcast},
        TypeCase{"Ipv4GroupMacIsMulticast", Mac::for_ipv4_multicast(wire::ipv4(239, 1, 2, 3)),
                 PktType::kMulticast},
        // The I/G bit alone decides: any group address is MULTICAST, joined or not.
        TypeCase{"AnyGroupBitIsMulticast", Mac{{0x03, 0, 0, 0, 0, 0x42}}, PktType::kMulticast},
        TypeCase{"OtherUnicastIsOtherhost", Mac{{0x02, 0, 0, 0, 0, 0x99}}, PktType::kOtherhost},
        // Locally administered bit set but group bit clear is still unicast.
        TypeCase{"NearBroadcastUnicastIsOtherhost", Mac{{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}},
                 PktType::kOtherhost}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(EthTypeTrans, EthernetIIProtocolTaken) {
    auto bytes = FrameBuilder()
                     .eth(test::kPeerMac, test::kPortMac)
                     .ethertype(0x0806)
                     .payload_size(28)
                     .build();
    core::Packet pkt = test::packet_over(bytes, 0);
    ASSERT_EQ(eth_type_trans(pkt, port()), Verdict::next());
    EXPECT_EQ(pkt.ethertype, 0x0806);
}

TEST(EthTypeTrans, LengthFieldWithFfffIsRaw8023) {
    auto bytes = FrameBuilder()
                     .eth(test::kPeerMac, test::kPortMac)
                     .ethertype(0x0030)
                     .payload({0xff, 0xff, 0, 0})
                     .build();
    core::Packet pkt = test::packet_over(bytes, 0);
    ASSERT_EQ(eth_type_trans(pkt, port()), Verdict::next());
    EXPECT_EQ(pkt.ethertype, wire::kEthP8023);
}

TEST(EthTypeTrans, LengthFieldOtherwiseIs8022Llc) {
    auto bytes = FrameBuilder()
                     .eth(test::kPeerMac, test::kPortMac)
                     .ethertype(0x05ff)
                     .payload({0xaa, 0xaa, 3})
                     .build();
    core::Packet pkt = test::packet_over(bytes, 0);
    ASSERT_EQ(eth_type_trans(pkt, port()), Verdict::next());
    EXPECT_EQ(pkt.ethertype, wire::kEthP8022);
}

TEST(EthTypeTrans, LengthFieldWithNothingAfterIs8022Llc) {
    auto bytes = FrameBuilder().eth(test::kPeerMac, test::kPortMac).ethertype(0x0000).build();
    core::Packet pkt = test::packet_over(bytes, 0);
    ASSERT_EQ(eth_type_trans(pkt, port()), Verdict::next());
    EXPECT_EQ(pkt.ethertype, wire::kEthP8022);
}

TEST(EthTypeTrans, TypeExactly0600IsEthernetII) {
    auto bytes = FrameBuilder()
                     .eth(test::kPeerMac, test::kPortMac)
                     .ethertype(0x0600)
                     .payload({0xff, 0xff})
                     .build();
    core::Packet pkt = test::packet_over(bytes, 0);
    ASSERT_EQ(eth_type_trans(pkt, port()), Verdict::next());
    EXPECT_EQ(pkt.ethertype, 0x0600);
}

TEST(EthTypeTrans, RuntShorterThanEthHlenDropped) {
    std::vector<uint8_t> bytes(13, 0);
    core::Packet pkt = test::packet_over(bytes, 0);
    EXPECT_EQ(eth_type_trans(pkt, port()), Verdict::drop(DropReason::kPktTooSmall));
}

}  // namespace
}  // namespace ingress::l2
