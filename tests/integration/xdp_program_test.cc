// The XDP program's decisions, frame by frame, with BPF_PROG_TEST_RUN: no interface, no
// traffic; needs CAP_BPF (the integration suite runs as root). The program redirects a frame
// only when its IPv4 destination is in ingress_dst AND its protocol is in ingress_proto;
// what the kernel keeps (TCP, ICMP echo, IGMP, ARP, other hosts' traffic) is XDP_PASS.
// With no AF_XDP socket in the XSK map a wanted frame also ends as XDP_PASS (the
// redirect's fallback), so the per-action counters say which branch each frame took.
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "io/afxdp/tap_ring.h"
#include "support/xdp_test_run.h"
#include "wire/frame_builder.h"
#include "wire/ipv4.h"

namespace {

using ingress::wire::FrameBuilder;

constexpr uint32_t kOurs = 0xc6120001;   // 198.18.0.1
constexpr uint32_t kPeer = 0xc6120002;   // 198.18.0.2
constexpr uint32_t kOther = 0xc6120009;  // 198.18.0.9: not ours

class XdpDecisions : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(prog_.loaded()) << "loading needs CAP_BPF";
        prog_.add_dst(kOurs);
        take(ingress::wire::kIpProtoUdp, true);  // what XdpProgram sets at attach
    }
    void take(uint8_t protocol, bool on) { prog_.set_protocol(protocol, on); }
    int run(std::vector<uint8_t> frame) { return prog_.run(std::move(frame)); }
    uint64_t stat(uint32_t k) { return prog_.stat(k); }
    static FrameBuilder to(uint32_t dst) { return std::move(FrameBuilder().ipv4(kPeer, dst)); }

    ingress::test::XdpTestRun prog_;
};

TEST_F(XdpDecisions, UdpForUsIsTakenTcpIcmpIgmpStayWithTheKernel) {
    // UDP (whole and a later fragment: the protocol is in every fragment's header) is
    // wanted: with no socket in the XSK map it falls back to XDP_PASS and counts NO_XSK.
    EXPECT_EQ(run(to(kOurs).udp(1000, 5000).payload_size(20).build()), XDP_PASS);
    EXPECT_EQ(run(to(kOurs)
                      .protocol(ingress::wire::kIpProtoUdp)
                      .ip_frag(1480, false)
                      .payload_size(8)
                      .build()),
              XDP_PASS);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_NO_XSK), 2u);
    // The kernel keeps TCP (its connections to this host), ICMP echo (ping), IGMP (its
    // membership reports and queries) and unknown protocols (it sends protocol unreachable).
    EXPECT_EQ(run(to(kOurs).protocol(6).payload_size(20).build()), XDP_PASS);
    EXPECT_EQ(run(to(kOurs).icmp(8, 0).payload_size(8).build()), XDP_PASS);
    EXPECT_EQ(run(to(kOurs).protocol(2).payload_size(8).build()), XDP_PASS);
    EXPECT_EQ(run(to(kOurs).protocol(253).payload_size(8).build()), XDP_PASS);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_KERNEL_PROTO), 4u);
    // Not ours, and not IPv4 at all: plain pass.
    EXPECT_EQ(run(to(kOther).udp(1000, 5000).payload_size(20).build()), XDP_PASS);
    EXPECT_EQ(run(FrameBuilder().ethertype(0x0806).payload_size(28).build()), XDP_PASS);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_PASS), 2u);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_SEEN), 8u);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_REDIRECT), 0u);
}

TEST_F(XdpDecisions, ARawEndpointsProtocolIsTakenUntilItCloses) {
    take(1, true);  // a raw ICMP endpoint opened
    EXPECT_EQ(run(to(kOurs).icmp(8, 0).payload_size(8).build()), XDP_PASS);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_NO_XSK), 1u);
    take(1, false);  // closed: ICMP back to the kernel
    EXPECT_EQ(run(to(kOurs).icmp(8, 0).payload_size(8).build()), XDP_PASS);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_KERNEL_PROTO), 1u);
}

// An AnyIP prefix (`ip route add local 198.18.100.0/24 dev lo`) in the LPM trie: every
// address inside it is taken, the next one out passes; the protocol rule still applies.
TEST_F(XdpDecisions, ALocalPrefixTakesEveryAddressInsideIt) {
    prog_.add_prefix(0xc6126400, 24);  // 198.18.100.0/24
    EXPECT_EQ(run(to(0xc6126400).udp(1000, 5000).payload_size(8).build()), XDP_PASS);
    EXPECT_EQ(run(to(0xc61264ff).udp(1000, 5000).payload_size(8).build()), XDP_PASS);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_NO_XSK), 2u);
    EXPECT_EQ(run(to(0xc6126500).udp(1000, 5000).payload_size(8).build()), XDP_PASS);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_PASS), 1u);
    EXPECT_EQ(run(to(0xc6126407).protocol(6).payload_size(20).build()), XDP_PASS);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_KERNEL_PROTO), 1u);
}

TEST_F(XdpDecisions, CaptureAllTakesEverything) {
    prog_.set_capture_all(true);
    run(to(kOurs).protocol(6).payload_size(20).build());
    run(to(kOther).udp(1, 2).payload_size(4).build());
    run(FrameBuilder().ethertype(0x0806).payload_size(28).build());
    EXPECT_EQ(stat(INGRESS_XDP_STAT_NO_XSK), 3u);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_KERNEL_PROTO), 0u);
}

// Frames left to the kernel are copied into ingress_tap_ring for the dataplane's taps, only
// while tap_copy is set (a tap is open), cut at INGRESS_XDP_TAP_SNAP. TapRing reads them
// back, at most `max` per drain.
TEST_F(XdpDecisions, PassedFramesAreCopiedForTapsWhileATapIsOpen) {
    struct Copy {
        std::vector<uint8_t> bytes;
        uint32_t wire_len;
    };
    std::vector<Copy> got;
    auto sink = [](void* ctx, std::span<const uint8_t> f, uint32_t wire_len) noexcept {
        static_cast<std::vector<Copy>*>(ctx)->push_back({{f.begin(), f.end()}, wire_len});
    };
    ingress::io::afxdp::TapRing ring(prog_.tap_ring_fd(), "test");
    const auto arp = FrameBuilder().ethertype(0x0806).payload_size(28).build();
    run(arp);
    EXPECT_EQ(ring.drain(sink, &got, 64), 0u) << "no tap: nothing copied";
    EXPECT_EQ(stat(INGRESS_XDP_STAT_TAP_COPIED), 0u);

    prog_.set_tap_copy(true);
    const auto tcp = to(kOurs).protocol(6).payload_size(20).build();   // kernel_proto
    const auto big = to(kOther).udp(1, 2).payload_size(1900).build();  // pass, over the snap
    run(arp);
    run(tcp);
    run(big);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_TAP_COPIED), 3u);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_TAP_LOST), 0u);
    EXPECT_EQ(ring.drain(sink, &got, 2), 2u) << "a drain stops at max";
    EXPECT_EQ(ring.drain(sink, &got, 64), 1u);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].bytes, arp);
    EXPECT_EQ(got[0].wire_len, arp.size());
    EXPECT_EQ(got[1].bytes, tcp);
    EXPECT_EQ(got[2].wire_len, big.size());
    ASSERT_EQ(got[2].bytes.size(), static_cast<std::size_t>(INGRESS_XDP_TAP_SNAP));
    EXPECT_TRUE(std::equal(got[2].bytes.begin(), got[2].bytes.end(), big.begin()));
    EXPECT_EQ(ring.drain(sink, &got, 64), 0u);
}

}  // namespace
