// The XDP program's decisions, frame by frame, with BPF_PROG_TEST_RUN: no interface, no
// traffic; needs CAP_BPF (the integration suite runs as root). The program redirects a frame
// only when its IPv4 destination is in ingress_dst AND its protocol is in ingress_proto;
// what the kernel keeps (TCP, ICMP echo, IGMP, ARP, other hosts' traffic) is XDP_PASS.
// With no AF_XDP socket in the XSK map a wanted frame also ends as XDP_PASS (the
// redirect's fallback), so the per-action counters say which branch each frame took.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "ingress_xdp.h"
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
        const char* p = std::getenv("INGRESS_XDP_OBJECT");
        obj_ = bpf_object__open_file(p ? p : "xdp/ingress.bpf.o", nullptr);
        ASSERT_NE(obj_, nullptr);
        ASSERT_EQ(bpf_object__load(obj_), 0) << "loading needs CAP_BPF";
        prog_fd_ = bpf_program__fd(bpf_object__find_program_by_name(obj_, INGRESS_XDP_PROG_NAME));
        dst_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_DST_MAP);
        proto_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_PROTO_MAP);
        stats_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_STATS_MAP);
        ASSERT_GE(prog_fd_, 0);
        ASSERT_GE(proto_fd_, 0);
        uint32_t key = htonl(kOurs), kind = INGRESS_XDP_DST_LOCAL;
        ASSERT_EQ(bpf_map_update_elem(dst_fd_, &key, &kind, BPF_ANY), 0);
        take(ingress::wire::kIpProtoUdp, true);  // what XdpProgram sets at attach
    }
    void TearDown() override { bpf_object__close(obj_); }

    void take(uint8_t protocol, bool on) {
        uint32_t k = protocol, v = on;
        ASSERT_EQ(bpf_map_update_elem(proto_fd_, &k, &v, BPF_ANY), 0);
    }
    int run(std::vector<uint8_t> frame) {
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(),
                    .data_size_in = static_cast<uint32_t>(frame.size()), .repeat = 1);
        EXPECT_EQ(bpf_prog_test_run_opts(prog_fd_, &o), 0);
        return static_cast<int>(o.retval);
    }
    uint64_t stat(uint32_t k) {
        std::vector<uint64_t> v(static_cast<std::size_t>(libbpf_num_possible_cpus()));
        EXPECT_EQ(bpf_map_lookup_elem(stats_fd_, &k, v.data()), 0);
        uint64_t s = 0;
        for (uint64_t x : v) s += x;
        return s;
    }
    static FrameBuilder to(uint32_t dst) { return std::move(FrameBuilder().ipv4(kPeer, dst)); }

    bpf_object* obj_ = nullptr;
    int prog_fd_ = -1, dst_fd_ = -1, proto_fd_ = -1, stats_fd_ = -1;
};

TEST_F(XdpDecisions, UdpForUsIsTakenTcpIcmpIgmpStayWithTheKernel) {
    // UDP (whole and a later fragment: the protocol is in every fragment's header) is
    // wanted: with no socket in the XSK map it falls back to XDP_PASS and counts NO_XSK.
    EXPECT_EQ(run(to(kOurs).udp(1000, 5000).payload_size(20).build()), XDP_PASS);
    EXPECT_EQ(run(to(kOurs).protocol(ingress::wire::kIpProtoUdp).ip_frag(1480, false).payload_size(8).build()),
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

TEST_F(XdpDecisions, CaptureAllTakesEverything) {
    uint32_t zero = 0;
    ingress_xdp_config c{1};
    ASSERT_EQ(bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_CONFIG_MAP), &zero, &c,
                                  BPF_ANY),
              0);
    run(to(kOurs).protocol(6).payload_size(20).build());
    run(to(kOther).udp(1, 2).payload_size(4).build());
    run(FrameBuilder().ethertype(0x0806).payload_size(28).build());
    EXPECT_EQ(stat(INGRESS_XDP_STAT_NO_XSK), 3u);
    EXPECT_EQ(stat(INGRESS_XDP_STAT_KERNEL_PROTO), 0u);
}

}  // namespace
