#include "pktgen/traffic.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "wire/checksum.h"
#include "wire/frame_builder.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

namespace ingress::gen {
namespace {

wire::Ipv4View ip_of(const Template& t, std::size_t l3 = 14) {
    return *wire::Ipv4View::try_view(std::span<const uint8_t>(t.bytes).subspan(l3));
}

TEST(Traffic, SizeCountsTheFcs) {
    TrafficSpec s;
    s.sizes = {64};
    auto t = build_templates(s);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].bytes.size(), 60u) << "64-byte frame = 60 bytes + 4 FCS";
    s.sizes = {1518};
    EXPECT_EQ(build_templates(s)[0].bytes.size(), 1514u);
    s.vlan = 7;
    EXPECT_EQ(build_templates(s)[0].bytes.size(), 1514u) << "the tag is inside the frame size";
}

TEST(Traffic, FlowsCoverTheRanges) {
    TrafficSpec s;
    s.dst_addr = *parse_addr_range("198.18.0.1-198.18.0.4");
    s.dst_port = *parse_port_range("5000-5002");
    auto t = build_templates(s);
    ASSERT_EQ(t.size(), 12u);
    std::set<std::pair<uint32_t, uint16_t>> seen;
    for (const auto& f : t) {
        auto ip = ip_of(f);
        auto udp = wire::UdpView::try_view(ip.bytes().subspan(20));
        seen.insert({ip.dst(), udp->dst_port()});
        EXPECT_EQ(wire::internet_checksum(ip.bytes().first(20)), 0);
    }
    EXPECT_EQ(seen.size(), 12u);
}

TEST(Traffic, FlowCapSpreadsOverTheSpace) {
    TrafficSpec s;
    s.src_port = *parse_port_range("1-60000");
    s.max_flows = 100;
    auto t = build_templates(s);
    ASSERT_EQ(t.size(), 100u);
    auto last = wire::UdpView::try_view(ip_of(t.back()).bytes().subspan(20))->src_port();
    EXPECT_GT(last, 59000);
}

TEST(Traffic, MulticastAndBroadcastGetTheirMacs) {
    TrafficSpec s;
    s.dst_addr = *parse_addr_range("239.1.2.3");
    EXPECT_EQ(wire::Mac({{1, 0, 0x5e, 1, 2, 3}}),
              wire::EthernetView::try_view(build_templates(s)[0].bytes)->dst());
    s.dst_addr = *parse_addr_range("255.255.255.255");
    EXPECT_TRUE(wire::EthernetView::try_view(build_templates(s)[0].bytes)->dst().is_broadcast());
}

TEST(Traffic, FragmentsReassembleToTheDatagram) {
    TrafficSpec s;
    s.sizes = {1518};
    s.fragments = 4;
    auto t = build_templates(s);
    ASSERT_EQ(t.size(), 4u);
    uint32_t covered = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        auto ip = ip_of(t[i]);
        EXPECT_TRUE(t[i].fragment);
        EXPECT_EQ(ip.frag_offset_bytes(), covered);
        EXPECT_EQ(ip.more_fragments(), i + 1 < t.size());
        covered += ip.tot_len() - 20u;
    }
    EXPECT_EQ(covered, 1518u - 4 - 14 - 20);
    s.frag_order = FragOrder::kOverlapping;
    EXPECT_EQ(build_templates(s).size(), 5u);
    s.sizes = {64};
    s.fragments = 40;
    EXPECT_THROW(build_templates(s), std::invalid_argument);
}

TEST(Traffic, MalformedShareIsExact) {
    TrafficSpec s;
    s.dst_port = *parse_port_range("1-1000");
    s.malformed_pct = 10;
    auto t = build_templates(s);
    int bad = 0;
    for (const auto& f : t) bad += f.malformed;
    EXPECT_EQ(bad, 100);
}

TEST(Traffic, MalformedShareHoldsWithFewFlows) {
    TrafficSpec s;
    s.dst_port = *parse_port_range("5000-5002");  // 3 flows
    s.malformed_pct = 5;
    auto t = build_templates(s);
    ASSERT_EQ(t.size(), 102u) << "3 flows repeated to at least 100 frames";
    int bad = 0;
    for (const auto& f : t) bad += f.malformed;
    EXPECT_EQ(bad, 5);
}

// --stamp (bench/idle.sh's latency): the send time lands in the UDP payload's first 8 bytes
// as the receiver reads it, and the datagram still passes __udp4_lib_rcv's checksum check
// (the pseudo-header sum over the datagram folds to 0); with and without a VLAN tag, many
// stamps in a row (the incremental update, RFC 1624, never drifts), and a zero checksum
// (none) stays zero.
const wire::Ipv4Addr kSrc = wire::ipv4(198, 18, 0, 2), kDst = wire::ipv4(198, 18, 0, 1);

TEST(Traffic, StampLandsInThePayloadAndKeepsTheUdpChecksumValid) {
    auto udp_ok = [](const std::vector<uint8_t>& f, std::size_t l3) {
        auto ip = *wire::Ipv4View::try_view(std::span<const uint8_t>(f).subspan(l3));
        auto d = std::span<const uint8_t>(f).subspan(l3 + 20);
        const uint16_t len = static_cast<uint16_t>(d[4] << 8 | d[5]);
        return wire::csum_fold(wire::csum_partial(
                   d.first(len), wire::pseudo_header_sum(ip.src(), ip.dst(), 17, len))) == 0;
    };
    for (bool vlan : {false, true}) {
        SCOPED_TRACE(vlan ? "802.1Q" : "untagged");
        TrafficSpec s;
        s.sizes = {64};
        if (vlan) s.vlan = 7;
        auto f = build_templates(s)[0].bytes;
        const std::size_t l3 = vlan ? 18 : 14;
        ASSERT_TRUE(udp_ok(f, l3)) << "the template's own checksum";
        auto at = stamp_spot(f);
        ASSERT_TRUE(at.has_value());
        EXPECT_EQ(at->payload, l3 + 28);
        EXPECT_EQ(at->checksum, l3 + 26);
        const uint16_t before = static_cast<uint16_t>(f[at->checksum] << 8 | f[at->checksum + 1]);
        for (uint64_t ns : {uint64_t{1'764'800'000'123'456'789}, uint64_t{0}, ~uint64_t{0},
                            uint64_t{0x00ff00ff00ff00ff}, uint64_t{1'764'800'000'987'654'321}}) {
            write_stamp(f.data(), *at, ns);
            uint64_t got;
            std::memcpy(&got, &f[at->payload], sizeof got);
            EXPECT_EQ(got, ns);
            EXPECT_TRUE(udp_ok(f, l3)) << "after stamping " << ns;
        }
        EXPECT_NE(static_cast<uint16_t>(f[at->checksum] << 8 | f[at->checksum + 1]), before);
    }
    auto none = wire::FrameBuilder()
                    .ipv4(kSrc, kDst)
                    .udp(40000, 5000)
                    .payload_size(18)
                    .zero_udp_checksum()
                    .build();
    auto at = stamp_spot(none);
    ASSERT_TRUE(at.has_value());
    write_stamp(none.data(), *at, 1'764'800'000'000'000'001);
    EXPECT_EQ(none[at->checksum], 0);
    EXPECT_EQ(none[at->checksum + 1], 0);
}

// Only a plain UDP datagram with room for 8 bytes has a spot: not a fragment, not a
// datagram with a shorter payload, not another protocol.
TEST(Traffic, StampSpotRefusesWhatCannotCarryAStamp) {
    TrafficSpec s;
    s.sizes = {1518};
    s.fragments = 3;
    for (const auto& t : build_templates(s)) EXPECT_FALSE(stamp_spot(t.bytes)) << "a fragment";
    EXPECT_FALSE(
        stamp_spot(wire::FrameBuilder().ipv4(kSrc, kDst).udp(1, 2).payload_size(7).build()));
    EXPECT_TRUE(
        stamp_spot(wire::FrameBuilder().ipv4(kSrc, kDst).udp(1, 2).payload_size(8).build()));
    EXPECT_FALSE(
        stamp_spot(wire::FrameBuilder().ipv4(kSrc, kDst).icmp(8, 0).payload_size(32).build()));
    EXPECT_FALSE(stamp_spot(std::vector<uint8_t>(10)));
}

TEST(Traffic, ParsersRefuseNonsense) {
    EXPECT_FALSE(parse_addr_range("198.18.0.9-198.18.0.1"));
    EXPECT_FALSE(parse_addr_range("nope"));
    EXPECT_FALSE(parse_port_range("70000"));
    EXPECT_FALSE(parse_port_range("5-"));
    EXPECT_FALSE(parse_sizes("63"));
    EXPECT_EQ(parse_sizes("imix")->size(), 12u);
    EXPECT_TRUE(is_benchmark_destination(wire::ipv4(198, 19, 255, 255)));
    EXPECT_FALSE(is_benchmark_destination(wire::ipv4(198, 20, 0, 1)));
    EXPECT_TRUE(is_benchmark_destination(wire::ipv4(239, 9, 9, 9)));
    EXPECT_FALSE(is_benchmark_destination(wire::ipv4(224, 0, 0, 1)));
}

}  // namespace
}  // namespace ingress::gen
