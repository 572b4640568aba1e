// skb_vlan_untag + vlan_do_receive (net/core/dev.c, net/8021q/vlan_core.c).
#include "l2/vlan.h"

#include <gtest/gtest.h>

#include "l2/eth_type_trans.h"
#include "support/counters.h"
#include "support/packet.h"
#include "support/pipeline_harness.h"
#include "wire/frame_builder.h"

namespace ingress::l2 {
namespace {

using core::DropReason;
using core::PktType;
using core::Verdict;
using wire::FrameBuilder;

class VlanUntag : public ::testing::Test {
protected:
    VlanUntag() {
        port.ifindex = 1;
        port.mac = test::kPortMac;
        port.vlans.push_back({10, 110, test::kPortMac});
        port.vlans.push_back({20, 120, wire::Mac{{0x02, 0, 0, 0, 0, 0x20}}});
    }
    // eth_type_trans, vlan_untag then vlan_do_receive, as the pipeline runs them (the taps'
    // port round, between the last two, does not change the packet).
    Verdict run(std::vector<uint8_t>& bytes, core::Packet& pkt) {
        pkt = test::packet_over(bytes, 0);
        Verdict v = eth_type_trans(pkt, port);
        if (!v.is_next()) return v;
        v = vlan_untag(pkt, counters);
        if (!v.is_next()) return v;
        return vlan_do_receive(pkt, port);
    }
    FrameBuilder udp() {
        return FrameBuilder()
            .eth(test::kPeerMac, test::kPortMac)
            .ipv4(wire::ipv4(198, 18, 0, 2), wire::ipv4(198, 18, 0, 1))
            .udp(1, 2);
    }
    Port port;
    core::CounterBlock counters;
};

TEST_F(VlanUntag, UntaggedFrameUntouched) {
    auto bytes = udp().build();
    core::Packet pkt;
    ASSERT_EQ(run(bytes, pkt), Verdict::next());
    EXPECT_EQ(pkt.flags & core::kFlagVlan, 0);
    EXPECT_EQ(pkt.l3_off, 14u);
    EXPECT_EQ(pkt.ifindex, 1u);
    EXPECT_COUNTERS(counters.snapshot(), ({}));
}

TEST_F(VlanUntag, TagMovedToMetadataAndFrameGoesToSubInterface) {
    auto bytes = udp().vlan(10, 3).build();
    core::Packet pkt;
    ASSERT_EQ(run(bytes, pkt), Verdict::next());
    EXPECT_TRUE(pkt.flags & core::kFlagVlan);
    EXPECT_EQ(pkt.vlan_tci, (3u << 13) | 10u);
    EXPECT_EQ(pkt.vlan_tpid, wire::kEthP8021Q);
    EXPECT_EQ(pkt.ethertype, wire::kEthPIp);
    EXPECT_EQ(pkt.l3_off, 18u);
    EXPECT_EQ(pkt.ifindex, 110u);
    EXPECT_EQ(pkt.pkt_type, PktType::kHost);
    EXPECT_COUNTERS(counters.snapshot(), ({{"IngressL2VlanTagged", 1}}));
}

TEST_F(VlanUntag, UnknownNonZeroVidBecomesOtherhost) {
    auto bytes = udp().vlan(30).build();
    core::Packet pkt;
    ASSERT_EQ(run(bytes, pkt), Verdict::next());
    EXPECT_EQ(pkt.pkt_type, PktType::kOtherhost);
    EXPECT_EQ(pkt.ifindex, 1u);
}

TEST_F(VlanUntag, PriorityTagVidZeroIsUntagged) {
    auto bytes = udp().vlan(0, 6).build();
    core::Packet pkt;
    ASSERT_EQ(run(bytes, pkt), Verdict::next());
    EXPECT_EQ(pkt.pkt_type, PktType::kHost);
    EXPECT_EQ(pkt.ifindex, 1u);
    EXPECT_EQ(pkt.l3_off, 18u);
    EXPECT_EQ(pkt.ethertype, wire::kEthPIp);
}

TEST_F(VlanUntag, PriorityTagOverQinQUntagsInnerTag) {
    auto bytes = udp().vlan(0, 0, wire::kEthP8021AD).vlan(10).build();
    core::Packet pkt;
    ASSERT_EQ(run(bytes, pkt), Verdict::next());
    EXPECT_EQ(pkt.l3_off, 22u);
    EXPECT_EQ(pkt.ifindex, 110u);
    EXPECT_EQ(pkt.vlan_tci & 0x0fff, 10u);
    EXPECT_EQ(pkt.ethertype, wire::kEthPIp);
}

TEST_F(VlanUntag, QinQOuterNonZeroVidWithoutDeviceIsOtherhost) {
    auto bytes = udp().vlan(30, 0, wire::kEthP8021AD).vlan(10).build();
    core::Packet pkt;
    ASSERT_EQ(run(bytes, pkt), Verdict::next());
    EXPECT_EQ(pkt.pkt_type, PktType::kOtherhost);
    EXPECT_EQ(pkt.vlan_tpid, wire::kEthP8021AD);
}

TEST_F(VlanUntag, OtherhostToSubInterfaceMacBecomesHost) {
    auto bytes = udp().eth_dst(wire::Mac{{0x02, 0, 0, 0, 0, 0x20}}).vlan(20).build();
    core::Packet pkt;
    ASSERT_EQ(run(bytes, pkt), Verdict::next());
    EXPECT_EQ(pkt.pkt_type, PktType::kHost);
    EXPECT_EQ(pkt.ifindex, 120u);
}

// skb_vlan_untag() only moves the tag: the sub-interface and the OTHERHOST decision are
// vlan_do_receive()'s, after the taps' ptype_all round on the port has seen the frame.
TEST_F(VlanUntag, UntagAloneLeavesDeviceAndPktTypeToVlanDoReceive) {
    auto bytes = udp().vlan(30).build();
    core::Packet pkt = test::packet_over(bytes, 0);
    ASSERT_EQ(eth_type_trans(pkt, port), Verdict::next());
    ASSERT_EQ(vlan_untag(pkt, counters), Verdict::next());
    EXPECT_TRUE(pkt.flags & core::kFlagVlan);
    EXPECT_EQ(pkt.l3_off, 18u);
    EXPECT_EQ(pkt.pkt_type, PktType::kHost);
    EXPECT_EQ(pkt.ifindex, 1u);
    ASSERT_EQ(vlan_do_receive(pkt, port), Verdict::next());
    EXPECT_EQ(pkt.pkt_type, PktType::kOtherhost);
}

TEST_F(VlanUntag, TruncatedInnerTagAfterPriorityTagDropped) {
    auto bytes = udp().vlan(0, 0, wire::kEthP8021AD).vlan(10).truncate(20).build();
    core::Packet pkt;
    EXPECT_EQ(run(bytes, pkt), Verdict::drop(DropReason::kPktTooSmall));
    EXPECT_COUNTERS(counters.snapshot(), ({{"IngressL2VlanTagged", 1}}));
}

TEST_F(VlanUntag, TruncatedTagDropped) {
    auto bytes = udp().vlan(10).truncate(16).build();
    core::Packet pkt;
    EXPECT_EQ(run(bytes, pkt), Verdict::drop(DropReason::kPktTooSmall));
    EXPECT_COUNTERS(counters.snapshot(), ({{"IngressL2VlanTagged", 1}}));
}

}  // namespace
}  // namespace ingress::l2
