// Checked views: one constructor establishes the bounds; accessors never read past them.
#include <gtest/gtest.h>

#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/frame_builder.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

namespace ingress::wire {
namespace {

TEST(Mac, ParseAndPrint) {
    auto m = Mac::parse("02:00:5E:0a:ff:01");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->str(), "02:00:5e:0a:ff:01");
    EXPECT_FALSE(Mac::parse("02:00:5e:0a:ff"));
    EXPECT_FALSE(Mac::parse("02-00-5e-0a-ff-01"));
    EXPECT_FALSE(Mac::parse("02:00:5e:0a:ff:0g"));
    EXPECT_TRUE(Mac::broadcast().is_multicast());
    EXPECT_EQ(Mac::for_ipv4_multicast(ipv4(239, 129, 2, 3)).str(), "01:00:5e:01:02:03");
}

TEST(Ipv4Addr, ParseAndPrint) {
    EXPECT_EQ(parse_ipv4("198.18.0.1"), ipv4(198, 18, 0, 1));
    EXPECT_EQ(ipv4_str(ipv4(239, 1, 2, 3)), "239.1.2.3");
    for (const char* bad :
         {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.4 ", "a.b.c.d", "0001.2.3.4"})
        EXPECT_FALSE(parse_ipv4(bad)) << bad;
}

TEST(Ipv4Addr, KernelAddressClasses) {
    EXPECT_TRUE(ipv4_is_multicast(ipv4(224, 0, 0, 1)));
    EXPECT_TRUE(ipv4_is_multicast(ipv4(239, 255, 255, 255)));
    EXPECT_FALSE(ipv4_is_multicast(ipv4(240, 0, 0, 0)));
    EXPECT_TRUE(ipv4_is_lbcast(ipv4(255, 255, 255, 255)));
    EXPECT_TRUE(ipv4_is_zeronet(ipv4(0, 1, 2, 3)));
    EXPECT_TRUE(ipv4_is_loopback(ipv4(127, 0, 0, 2)));
    EXPECT_TRUE(ipv4_is_local_multicast(ipv4(224, 0, 0, 251)));
    EXPECT_FALSE(ipv4_is_local_multicast(ipv4(224, 0, 1, 1)));
}

TEST(Views, RefuseShortBuffers) {
    std::vector<uint8_t> b(64, 0);
    EXPECT_FALSE(EthernetView::try_view({b.data(), 13}));
    EXPECT_TRUE(EthernetView::try_view({b.data(), 14}));
    EXPECT_FALSE(VlanView::try_view({b.data(), 3}));
    EXPECT_FALSE(Ipv4View::try_view({b.data(), 19}));
    EXPECT_TRUE(Ipv4View::try_view({b.data(), 20}));
    EXPECT_FALSE(UdpView::try_view({b.data(), 7}));
    EXPECT_FALSE(IcmpView::try_view({b.data(), 7}));
}

TEST(Views, OptionsClampedWhenIhlLies) {
    std::vector<uint8_t> b(24, 0);
    b[0] = 0x4f;  // ihl 15: 60 bytes claimed, 24 present
    auto ip = Ipv4View::try_view(b);
    ASSERT_TRUE(ip);
    EXPECT_EQ(ip->header_len(), 60u);
    EXPECT_EQ(ip->options().size(), 4u);
    b[0] = 0x43;  // ihl 3: no options, no underflow
    EXPECT_EQ(Ipv4View::try_view(b)->options().size(), 0u);
}

TEST(FrameBuilder, BuildsValidUdpDatagram) {
    auto f = FrameBuilder()
                 .ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1))
                 .udp(1234, 53)
                 .payload_size(10)
                 .build();
    ASSERT_EQ(f.size(), 14u + 20 + 8 + 10);
    auto eth = EthernetView::try_view(f);
    EXPECT_EQ(eth->ethertype(), kEthPIp);
    auto ip = Ipv4View::try_view(std::span<const uint8_t>(f).subspan(14));
    EXPECT_EQ(ip->version(), 4);
    EXPECT_EQ(ip->tot_len(), 38);
    EXPECT_EQ(internet_checksum(ip->bytes().first(20)), 0);
    auto udp = UdpView::try_view(std::span<const uint8_t>(f).subspan(34));
    EXPECT_EQ(udp->dst_port(), 53);
    EXPECT_EQ(udp->length(), 18);
    EXPECT_EQ(
        csum_fold(csum_partial(udp->bytes(), pseudo_header_sum(ip->src(), ip->dst(), 17, 18))), 0);
}

TEST(FrameBuilder, FragmentsCoverTheDatagram) {
    auto b =
        FrameBuilder().ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1)).udp(1, 2).payload_size(100);
    auto frags = b.build_fragments(32);  // 108 bytes of UDP -> 32 + 32 + 32 + 12
    ASSERT_EQ(frags.size(), 4u);
    std::vector<uint8_t> joined;
    for (std::size_t i = 0; i < frags.size(); ++i) {
        auto ip = Ipv4View::try_view(std::span<const uint8_t>(frags[i]).subspan(14));
        EXPECT_EQ(ip->frag_offset_bytes(), i * 32);
        EXPECT_EQ(ip->more_fragments(), i + 1 < frags.size());
        EXPECT_EQ(internet_checksum(ip->bytes().first(20)), 0);
        joined.insert(joined.end(), frags[i].begin() + 34, frags[i].end());
    }
    EXPECT_EQ(joined, b.l4_bytes());
}

TEST(FrameBuilder, VlanTagsInOrder) {
    auto f = FrameBuilder().vlan(5, 0, kEthP8021AD).vlan(6).ipv4(1, 2).build();
    EXPECT_EQ(load_be16(&f[12]), kEthP8021AD);
    EXPECT_EQ(load_be16(&f[14]), 5);
    EXPECT_EQ(load_be16(&f[16]), kEthP8021Q);
    EXPECT_EQ(load_be16(&f[18]), 6);
    EXPECT_EQ(load_be16(&f[20]), kEthPIp);
}

TEST(FrameBuilder, CorruptionsChangeOneField) {
    auto base = FrameBuilder().ipv4(ipv4(198, 18, 0, 2), ipv4(198, 18, 0, 1)).udp(1, 2);
    auto good = base.build();
    auto bad = FrameBuilder(base).bad_ip_checksum().build();
    ASSERT_EQ(good.size(), bad.size());
    int diff = 0;
    for (std::size_t i = 0; i < good.size(); ++i) diff += good[i] != bad[i];
    EXPECT_GE(diff, 1);
    EXPECT_EQ(good[24] != bad[24] || good[25] != bad[25], true);
    auto zero = FrameBuilder(base).zero_udp_checksum().build();
    EXPECT_EQ(load_be16(&zero[40]), 0);
}

}  // namespace
}  // namespace ingress::wire
