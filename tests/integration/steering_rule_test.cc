// The steering rule exists three times: the XDP program (xdp/ingress.bpf.c, AF_XDP mode),
// the DPDK backend's steering (io/dpdk/steer.h) and the pipeline's own checks
// (l2::ptype_dispatch, the route stage, local delivery's "protocols left to the kernel").
// This test holds them to one table: the same frames go to the XDP program (through
// BPF_PROG_TEST_RUN; needs CAP_BPF), to steer_to_dataplane() and to a pipeline over the
// memory backend, under the same configuration (198.18.0.1/16 + 198.18.0.3, kGroup joined,
// an AnyIP prefix on lo, the destinations RouteTables::local_dsts lists; UDP taken;
// optionally raw endpoints for protocols 253 and TCP; optionally capture_all).
//
// What must agree, frame by frame:
//   - the XDP program and the DPDK steering take exactly the same frames, in every mode;
//   - a frame they leave to the kernel is one the pipeline would not give to an app: it
//     passes it, or drops it exactly as the kernel does (`kernel_drops`: a group not joined,
//     another host's address with forwarding off, an unknown protocol with no raw socket, a
//     truncated header, a VLAN with no sub-interface);
//   - a frame they take, the pipeline consumes (delivers, holds or drops), except
//     (`taken_yet_passed`) a protocol the kernel handles that a raw endpoint asked for (TCP
//     here: the raw copy is delivered and the frame passed, demux/local_deliver.h) and a
//     frame still tagged after vlan_untag (QinQ: the steering looks through two tags, the
//     pipeline, like a kernel with no stacked VLAN device, passes it on with the inner
//     tag's ethertype). Passed, such a frame is freed on AF_XDP and given to the TAP on
//     DPDK, where the kernel drops the QinQ frame as well;
//   - the pipeline decides and counts the same whether or not the DPDK steering's parse
//     (kFlagL2Parsed) is in the Packet.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/dpdk/steer.h"
#include "support/demux.h"
#include "support/rings.h"
#include "support/xdp_test_run.h"

namespace ingress {
namespace {

using test::kGroup;
using test::kLocal;
using test::kLocal2;
using test::kPeer;
using test::kPortMac;
using test::proto_to;
using test::udp_to;
using wire::FrameBuilder;

// What the pipeline did with a frame.
enum class Fate { kPassed, kConsumed };

struct Case {
    const char* name;
    std::vector<uint8_t> frame;
    bool take;      // the steering sends it to the dataplane (no raw endpoints)
    Fate fate;      // what the pipeline does with it (no raw endpoints)
    bool take_raw;  // the same with raw endpoints for protocols 253 and TCP
    Fate fate_raw;
    bool kernel_drops;  // left to the kernel but dropped by the pipeline: the kernel drops it too
    bool taken_yet_passed = false;  // taken by the steering, passed by the pipeline (see above)
};

constexpr wire::Ipv4Addr kAnyIp = wire::ipv4(198, 18, 100, 7);  // in route_config()'s AnyIP

// The IP datagram of a frame (what an ICMP error quotes).
std::vector<uint8_t> ip_of(const FrameBuilder& b) {
    auto f = b.build();
    return {f.begin() + 14, f.end()};
}

std::vector<Case> cases() {
    const wire::Mac other_mac{{0x02, 0, 0, 0, 0, 0x99}};
    const wire::Ipv4Addr not_joined = wire::ipv4(239, 9, 9, 9);
    const wire::Ipv4Addr other_ip = wire::ipv4(198, 51, 100, 9);
    const auto P = Fate::kPassed;
    const auto C = Fate::kConsumed;
    return {
        {"udp_ours", udp_to(kLocal, 5000).build(), true, C, true, C, false},
        {"udp_secondary_address", udp_to(kLocal2, 5000).build(), true, C, true, C, false},
        {"arp",
         FrameBuilder()
             .eth(test::kPeerMac, wire::Mac::broadcast())
             .ethertype(0x0806)
             .payload_size(28)
             .build(),
         false, P, false, P, false},
        {"ipv6",
         FrameBuilder().eth(test::kPeerMac, kPortMac).ethertype(0x86dd).payload_size(48).build(),
         false, P, false, P, false},
        {"tcp_ours", proto_to(wire::kIpProtoTcp).build(), false, P, true, P, false, true},
        {"icmp_echo_ours",
         FrameBuilder()
             .eth(test::kPeerMac, kPortMac)
             .ipv4(kPeer, kLocal)
             .icmp(8, 0)
             .payload_size(8)
             .build(),
         true, C, true, C, false},
        // The ICMP the kernel's sockets use: an echo reply (ping sockets), an error about TCP.
        // With a raw TCP endpoint open TCP is taken, so the error is too, and passed on.
        {"icmp_echo_reply_ours",
         FrameBuilder()
             .eth(test::kPeerMac, kPortMac)
             .ipv4(kPeer, kLocal)
             .icmp(0, 0)
             .payload_size(8)
             .build(),
         false, P, false, P, false},
        {"icmp_unreach_about_tcp",
         FrameBuilder()
             .eth(test::kPeerMac, kPortMac)
             .ipv4(kPeer, kLocal)
             .icmp(3, 3)
             .payload(ip_of(proto_to(wire::kIpProtoTcp, kPeer, kLocal)))
             .build(),
         false, P, true, P, false, true},
        {"igmp_ours", proto_to(wire::kIpProtoIgmp).build(), false, P, false, P, false},
        {"igmp_all_hosts", proto_to(wire::kIpProtoIgmp, wire::ipv4(224, 0, 0, 1)).build(), false, P,
         false, P, false},
        {"udp_other_ip", udp_to(other_ip, 5000).build(), false, C, false, C,
         true},  // forwarding off
        {"udp_otherhost_mac", udp_to(kLocal, 5000).eth_dst(other_mac).build(), true, C, true, C,
         false},
        {"udp_subnet_broadcast", udp_to(test::kSubnetBcast, 5000).build(), true, C, true, C, false},
        {"udp_limited_broadcast", udp_to(wire::ipv4(255, 255, 255, 255), 5000).build(), true, C,
         true, C, false},
        {"udp_group_joined", udp_to(kGroup, 5000).build(), true, C, true, C, false},
        {"udp_group_not_joined", udp_to(not_joined, 5000).build(), false, C, false, C, true},
        {"udp_vlan10", udp_to(kLocal, 5000).vlan(10).build(), true, C, true, C, false},
        {"udp_priority_tag", udp_to(kLocal, 5000).vlan(0).build(), true, C, true, C, false},
        {"udp_qinq", udp_to(kLocal, 5000).vlan(10, 0, wire::kEthP8021AD).vlan(20).build(), true, P,
         true, P, false, true},
        {"tcp_vlan10_other_ip", proto_to(wire::kIpProtoTcp, other_ip).vlan(10).build(), false, C,
         false, C, true},
        {"udp_first_fragment", udp_to(kLocal, 5000).ip_frag(0, true).build(), true, C, true, C,
         false},
        {"udp_later_fragment", udp_to(kLocal, 5000).ip_frag(1480, false).build(), true, C, true, C,
         false},
        {"unknown_proto", proto_to(253).build(), false, C, true, C, true},
        {"ipv4_truncated",
         FrameBuilder()
             .eth(test::kPeerMac, kPortMac)
             .ethertype(wire::kEthPIp)
             .payload_size(10)
             .build(),
         false, C, false, C, true},
    };
}

// The route tables of these tests: demux_route_config() (the port's addresses, kGroup and
// kGroup2 joined on it) plus lo with an AnyIP prefix (`ip route add local 198.18.100.0/24
// dev lo`).
ipv4::RouteConfig route_config() {
    ipv4::RouteConfig cfg = test::demux_route_config();
    cfg.ifaces.push_back(ipv4::RouteConfig::loopback(7));
    cfg.routes.push_back({.prefix = wire::ipv4(198, 18, 100, 0),
                          .prefix_len = 24,
                          .type = ipv4::RouteType::kLocal,
                          .oif = 7});
    return cfg;
}

// What the daemon steers on the port: RouteTables::local_dsts, the one derivation (every
// local address and prefix of the host, the broadcasts, 224.0.0.1 and the joined groups),
// into the DPDK set and, when given, the XDP program's maps.
void fill(io::dpdk::DstSet& dsts, test::XdpTestRun* xdp) {
    for (const ipv4::LocalDst& d : ipv4::RouteTables(route_config()).local_dsts(1)) {
        if (d.prefix_len < 32) {
            EXPECT_TRUE(dsts.insert_prefix(d.addr, d.prefix_len));
            if (xdp) xdp->add_prefix(d.addr, d.prefix_len);
        } else {
            EXPECT_TRUE(dsts.insert(d.addr));
            if (xdp) xdp->add_dst(d.addr);
        }
    }
}

struct Mode {
    const char* name;
    bool raw;          // raw endpoints for 253 and TCP (the daemon then takes both protocols)
    bool capture_all;  // the steering takes every frame
};

class SteeringRule : public ::testing::TestWithParam<Mode> {};

// The pipeline's fate for `frame`, with the steering's parse in the Packet or not; its
// counters in `out`.
Fate pipeline_fate(const std::vector<uint8_t>& frame, bool raw, bool steered_parse,
                   core::Snapshot& out) {
    test::DemuxHarness h;
    h.routes.update(route_config());
    demux::UdpEndpoint udp(test::rings(), "udp");
    udp.bind(0, 5000).mc().join(kGroup, 1);
    demux::RawEndpoint raw253(test::rings(), 253, "raw253"),
        raw_tcp(test::rings(), wire::kIpProtoTcp, "raw_tcp");
    h.builder.add(udp);
    if (raw) h.builder.add(raw253).add(raw_tcp);
    h.publish();
    EXPECT_TRUE(h.backend.inject(frame));
    core::PacketBatch batch;
    batch.count = h.backend.rx_burst(0, batch.pkts.data(), core::kBurst);
    EXPECT_EQ(batch.count, 1);
    if (steered_parse) {
        io::dpdk::DstSet dsts;
        io::dpdk::ProtocolSet protocols{};
        fill(dsts, nullptr);
        protocols[wire::kIpProtoUdp] = protocols[wire::kIpProtoIcmp] = true;
        if (raw) protocols[253] = protocols[wire::kIpProtoTcp] = true;
        EXPECT_TRUE(io::dpdk::steer_to_dataplane(batch.pkts[0], dsts, protocols));
        EXPECT_TRUE(batch.pkts[0].flags & core::kFlagL2Parsed);
    }
    h.pipeline().process(batch, h.clock.now_ns());
    h.pipeline().shutdown();  // reassembly queues die: every buffer is back
    h.expect_buffers_conserved();
    out = h.snap();
    EXPECT_TRUE(out.conserved());
    return out.passed ? Fate::kPassed : Fate::kConsumed;
}

TEST_P(SteeringRule, XdpProgramDpdkSteeringAndPipelineAgree) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF_PROG_TEST_RUN)";
    const Mode mode = GetParam();
    test::XdpTestRun xdp;  // BPF_PROG_TEST_RUN
    ASSERT_TRUE(xdp.loaded()) << "loading the XDP object needs CAP_BPF";
    io::dpdk::DstSet dsts;
    io::dpdk::ProtocolSet protocols{};
    fill(dsts, &xdp);
    // What the daemon sets (sync_protocols): UDP and ICMP always, a raw endpoint's protocol
    // while open.
    std::vector<uint8_t> taken{wire::kIpProtoUdp, wire::kIpProtoIcmp};
    if (mode.raw) taken.insert(taken.end(), {253, wire::kIpProtoTcp});
    for (uint8_t p : taken) {
        xdp.set_protocol(p, true);
        protocols[p] = true;
    }
    xdp.set_capture_all(mode.capture_all);

    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        const bool want_take = mode.capture_all || (mode.raw ? c.take_raw : c.take);
        const Fate want_fate = mode.raw ? c.fate_raw : c.fate;

        EXPECT_EQ(xdp.takes(c.frame), want_take) << "XDP program";
        // DpdkBackend::rx_burst steers only without capture_all (capture_all: every frame).
        core::Packet pkt;
        std::vector<uint8_t> bytes = c.frame;
        pkt.data = bytes.data();
        pkt.len = static_cast<uint32_t>(bytes.size());
        const bool dpdk_takes =
            mode.capture_all || io::dpdk::steer_to_dataplane(pkt, dsts, protocols);
        EXPECT_EQ(dpdk_takes, want_take) << "DPDK steering";

        core::Snapshot plain;
        const Fate fate = pipeline_fate(c.frame, mode.raw, false, plain);
        EXPECT_EQ(fate, want_fate) << "pipeline";
        if (!mode.capture_all) {
            if (want_take && !c.taken_yet_passed) {
                EXPECT_EQ(fate, Fate::kConsumed) << "taken, so the pipeline consumes it";
            }
            if (!want_take) {
                EXPECT_TRUE(fate == Fate::kPassed || c.kernel_drops)
                    << "left to the kernel, so the pipeline would pass it";
            }
            EXPECT_EQ(plain.delivered != 0 && !want_take, false)
                << "a frame the steering leaves to the kernel never reaches an app";
        }
        // The steering's parse changes nothing the pipeline decides or counts.
        if (!mode.capture_all && want_take) {
            core::Snapshot parsed;
            EXPECT_EQ(pipeline_fate(c.frame, mode.raw, true, parsed), fate);
            EXPECT_EQ(core::counter_array(parsed), core::counter_array(plain))
                << "kFlagL2Parsed changed a counter";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Modes, SteeringRule,
                         ::testing::Values(Mode{"plain", false, false},
                                           Mode{"raw_endpoints", true, false},
                                           Mode{"capture_all", false, true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ingress
