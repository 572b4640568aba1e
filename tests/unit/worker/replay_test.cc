// The shipped capture tests/data/rcv_core.pcap (written by tools/make_test_pcap.cc) replayed
// through the pipeline. The expected fate of every frame and every counter total below were
// written by hand from the kernel's rules (eth_type_trans, skb_vlan_untag/vlan_do_receive,
// the ptype dispatch, ip_rcv_core and ip_rcv_finish_core's input route), not taken from a run.
// The port is 198.18.0.1/24 with the kernel's default knobs and no multicast membership but
// 224.0.0.1 (what `ingress-replay` configures by default).
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/pcap.h"
#include "support/counters.h"
#include "support/pipeline_harness.h"
#include "worker/pipeline.h"

namespace ingress::worker {
namespace {

std::string data_path(const char* name) {
    const char* dir = std::getenv("INGRESS_TEST_DATA");
    return std::string(dir ? dir : "tests/data") + "/" + name;
}

// Fate of frame i+1, as `ingress-replay --per-frame` spells it.
const char* const kExpectedFates[] = {
    // A host without endpoints: UDP to us meets udp_rcv's no-socket path (NoPorts and a
    // port unreachable for unicast, IgnoredMulti for broadcast).
    "dropped NO_SOCKET",  //  1 valid UDP unicast to us: LOCAL
    "dropped NO_SOCKET",  //  2 valid UDP + link padding, trimmed: LOCAL
    "dropped NO_SOCKET",  //  3 198.18.0.255: BROADCAST (fib_add_ifaddr's subnet broadcast)
    // ip_route_input_rcu(): 239.1.1.1 is not a group ip_check_mc_rcu() knows on this
    // interface and there is no multicast routing: dropped, reason unspecified.
    "dropped NOT_SPECIFIED",  //  4 239.1.1.1, L2 multicast
    "dropped OTHERHOST",      //  5 another host's MAC: ip_rcv_core's first check
    "passed",                 //  6 ARP: not ETH_P_IP
    "passed",                 //  7 IPv6 ethertype
    "dropped IP_CSUM",        //  8 bad header checksum
    "dropped IP_INHDR",       //  9 version 6
    "dropped IP_INHDR",       // 10 ihl 4
    "dropped PKT_TOO_SMALL",  // 11 tot_len beyond the frame: InTruncatedPkts
    "dropped IP_INHDR",       // 12 tot_len inside the header
    "dropped IP_INHDR",       // 13 10 bytes of IP header: pskb_may_pull(20) fails
    "dropped NO_SOCKET",      // 14 ECN CE
    "dropped NO_SOCKET",      // 15 ECN ECT(0)
    "dropped NO_SOCKET",      // 16 ECN ECT(1)
    "dropped NO_SOCKET",      // 17 priority tag, VID 0: untagged
    "dropped OTHERHOST",      // 18 VID 10 and no such sub-interface: OTHERHOST
    "dropped PKT_TOO_SMALL",  // 19 runt, shorter than ETH_HLEN
    "dropped NO_SOCKET",      // 20 IP options, ihl 6
    "dropped IP_INHDR",       // 21 ihl 15 > the 46 bytes present
    "dropped IP_CSUM",        // 22 ECT(0) + bad checksum
    "passed",                 // 23 802.3 length + LLC
    "delivered",              // 24 ICMP echo request: icmp_rcv answers it
    "dropped PKT_TOO_SMALL",  // 25 VLAN tag cut short
};

std::string fate_of(const core::Snapshot& d) {
    if (d.delivered) return "delivered";
    if (d.held) return "held";
    if (d.passed) return "passed";
    for (std::size_t i = 0; i < core::kDropReasonCount; ++i)
        if (d.drops[i])
            return "dropped " +
                   std::string(core::drop_reason_name(static_cast<core::DropReason>(i)));
    return "none";
}

class Replay : public ::testing::Test {
protected:
    Replay() {
        port.ifindex = 1;
        port.mac = test::kPortMac;
    }
    l2::Port port;
    ipv4::RoutePublisher routes{test::default_route_config()};
    std::unique_ptr<const demux::EndpointTable> no_endpoints =
        demux::EndpointTable::Builder().build();
};

TEST_F(Replay, EveryFrameMeetsTheKernelsFate) {
    io::PcapBackend backend({.rx_path = data_path("rcv_core.pcap")});
    core::CounterBlock counters;
    Pipeline pipeline(backend, counters,
                      {.port = &port, .routes = &routes, .endpoints = no_endpoints.get()});
    core::PacketBatch batch;
    std::size_t i = 0;
    while ((batch.count = backend.rx_burst(0, batch.pkts.data(), 1)) > 0) {
        core::Snapshot before = counters.snapshot();
        pipeline.process(batch);
        core::Snapshot d = test::delta(counters.snapshot(), before);
        ASSERT_LT(i, std::size(kExpectedFates)) << "more frames than expected";
        EXPECT_EQ(fate_of(d), kExpectedFates[i]) << "frame " << i + 1;
        EXPECT_TRUE(counters.snapshot().conserved()) << "after frame " << i + 1;
        ++i;
    }
    EXPECT_EQ(i, std::size(kExpectedFates));
    EXPECT_EQ(backend.pool().outstanding(), 0u);
    EXPECT_EQ(backend.pool().double_frees(), 0u);
}

TEST_F(Replay, CountersMatchTheHandWrittenTotals) {
    io::PcapBackend backend({.rx_path = data_path("rcv_core.pcap")});
    core::CounterBlock counters;
    Pipeline pipeline(backend, counters,
                      {.port = &port, .routes = &routes, .endpoints = no_endpoints.get()});
    core::PacketBatch batch;
    while ((batch.count = backend.rx_burst(0, batch.pkts.data(), core::kBurst)) > 0)
        pipeline.process(batch);
    EXPECT_COUNTERS(counters.snapshot(),
                    ({{"rx", 25},
                      // 13 frames reached the end before the route stage; frame 4 (a group
                      // we did not join) is dropped there, the other 12 route LOCAL or
                      // BROADCAST: 8 UDP find no endpoint, the ICMP echo is answered
                      // (icmp_rcv); the 3 non-IPv4 frames are passed to the kernel.
                      {"delivered", 1},
                      {"passed", 3},
                      {"NO_SOCKET", 8},
                      {"NOT_SPECIFIED", 1},
                      {"OTHERHOST", 2},
                      {"IP_CSUM", 2},
                      {"IP_INHDR", 5},
                      {"PKT_TOO_SMALL", 3},
                      // 18 IPv4 frames reach ip_rcv_core past the OTHERHOST check.
                      {"IpInReceives", 18},
                      // 14 x 46 + 2 x 50 (padding, options) + 10 (short header) + 36 (ICMP).
                      {"IpExtInOctets", 790},
                      {"IpInHdrErrors", 7},  // 5 IP_INHDR + 2 IP_CSUM
                      {"IpExtInCsumErrors", 2},
                      {"IpExtInTruncatedPkts", 1},
                      // ECN is counted once version and ihl pass: 18 - 3.
                      {"IpExtInNoECTPkts", 11},
                      {"IpExtInECT0Pkts", 2},
                      {"IpExtInECT1Pkts", 1},
                      {"IpExtInCEPkts", 1},
                      // Frame 3, the subnet broadcast: InBcastPkts and its 46 octets.
                      {"IpExtInBcastPkts", 1},
                      {"IpExtInBcastOctets", 46},
                      // The 8 UDP datagrams: 7 unicast (NoPorts), 1 broadcast (IgnoredMulti);
                      // and the echo request.
                      {"IpInDelivers", 9},
                      {"UdpNoPorts", 7},
                      {"UdpIgnoredMulti", 1},
                      // Port unreachable to one source: 6 back to back, the 7th over the
                      // per-host limit (XRLIM_BURST_FACTOR); the echo reply (type 0 is not
                      // in icmp_ratemask).
                      {"IcmpOutMsgs", 7},
                      {"IcmpOutDestUnreachs", 6},
                      {"IcmpMsgOutType3", 6},
                      {"IcmpOutRateLimitHost", 1},
                      {"IcmpInMsgs", 1},
                      {"IcmpInEchos", 1},
                      {"IcmpMsgInType8", 1},
                      {"IcmpOutEchoReps", 1},
                      {"IcmpMsgOutType0", 1},
                      {"IngressL2NonIpv4", 3},
                      {"IngressL2VlanTagged", 3}}));
    EXPECT_EQ(backend.stats().passed, 3u);
}

// The routing capture tests/data/route.pcap (make-test-pcap --route), replayed with the
// topology of src/ipv4/route.md "The routing capture", the same as
//   ingress-replay --vlan 10:10 --addr 198.18.0.1/24 --addr 198.18.10.1/24@10
//     --route 198.19.0.0/16@10 --route 198.19.66.0/24,blackhole
//     --sysctl 10.forwarding=1 --sysctl 10.rp_filter=1 --join 239.1.1.1
// Every fate below is derived by hand from ip_route_input_slow / ip_route_input_mc /
// fib_validate_source / ip_rcv_options / ip_error, and documented in route.md.
const char* const kExpectedRouteFates[] = {
    // UDP that routes LOCAL / BROADCAST / MULTICAST finds no endpoint: NO_SOCKET.
    "dropped NO_SOCKET",          //  1 LOCAL
    "dropped NO_SOCKET",          //  2 subnet broadcast: BROADCAST
    "dropped NO_SOCKET",          //  3 255.255.255.255: brd_input
    "dropped NO_SOCKET",          //  4 0.0.0.0 -> 255.255.255.255: brd_input skips validation
    "dropped NO_SOCKET",          //  5 239.1.1.1 joined: MULTICAST
    "dropped NOT_SPECIFIED",      //  6 239.2.2.2: ip_check_mc_rcu() says no
    "passed",                     //  7 IGMP to 224.0.0.1 (joined by ip_mc_up): igmp_rcv
    "dropped IP_INVALID_SOURCE",  //  8 multicast source
    "dropped IP_INVALID_SOURCE",  //  9 zero source, not to limited broadcast
    "dropped IP_LOCALNET",        // 10 loopback source, route_localnet 0
    "dropped IP_LOCALNET",        // 11 loopback destination, route_localnet 0
    "dropped IP_INVALID_DEST",    // 12 zeronet destination
    "dropped IP_LOCAL_SOURCE",    // 13 our address as source: fib_validate_source -EINVAL
    "dropped IP_INADDRERRORS",    // 14 not ours, port forwarding 0: ip_error EHOSTUNREACH
    "dropped IP_INADDRERRORS",    // 15 no route, port forwarding 0: same
    "passed",                     // 16 VLAN 10 forwarding 1: ip_forward is the kernel's
    "dropped IP_INNOROUTES",      // 17 VLAN 10, no route: ENETUNREACH, ICMP net unreachable
    "dropped NOT_SPECIFIED",      // 18 VLAN 10, blackhole: EINVAL, silent
    "dropped IP_RPFILTER",        // 19 VLAN 10 strict, the source routes via the port
    "dropped NO_SOCKET",          // 20 asymmetric source on the port, rp_filter 0: LOCAL
    "dropped IP_INHDR",           // 21 malformed option: parameter problem, pointer 20
    "dropped NOT_SPECIFIED",      // 22 source route, accept_source_route 0 (all && dev)
    "dropped NO_SOCKET",          // 23 unicast in L2 broadcast, knob off: LOCAL
    "dropped IP_INADDRERRORS",    // 24 class E 240.0.0.1: no route, forwarding 0
};

class RouteReplay : public ::testing::Test {
protected:
    RouteReplay() {
        port.ifindex = 1;
        port.mac = test::kPortMac;
        port.vlans.push_back({.vid = 10, .ifindex = 10, .mac = test::kPortMac});
        ipv4::RouteConfig cfg = test::default_route_config();
        ipv4::IfConfig vlan{.ifindex = 10, .name = "test0.10"};
        vlan.addrs.push_back({.addr = wire::ipv4(198, 18, 10, 1), .prefix_len = 24});
        vlan.conf.forwarding = true;
        vlan.conf.rp_filter = 1;
        cfg.ifaces.push_back(vlan);
        cfg.routes.push_back({.prefix = wire::ipv4(198, 19, 0, 0), .prefix_len = 16, .oif = 10});
        cfg.routes.push_back({.prefix = wire::ipv4(198, 19, 66, 0),
                              .prefix_len = 24,
                              .type = ipv4::RouteType::kBlackhole,
                              .oif = 1});
        cfg.mc.join(1, wire::ipv4(239, 1, 1, 1), ipv4::McFilterMode::kExclude);
        routes = std::make_unique<ipv4::RoutePublisher>(cfg);
    }
    void replay(core::CounterBlock& counters, io::PcapBackend& backend, uint16_t burst,
                const std::function<void(std::size_t, const core::Snapshot&)>& each = {}) {
        Pipeline pipeline(backend, counters,
                          {.port = &port, .routes = routes.get(), .endpoints = no_endpoints.get()});
        core::PacketBatch batch;
        std::size_t i = 0;
        while ((batch.count = backend.rx_burst(0, batch.pkts.data(), burst)) > 0) {
            core::Snapshot before = counters.snapshot();
            pipeline.process(batch, batch.pkts[0].rx_ns);
            if (each) each(i++, test::delta(counters.snapshot(), before));
        }
    }
    l2::Port port;
    std::unique_ptr<ipv4::RoutePublisher> routes;
    std::unique_ptr<const demux::EndpointTable> no_endpoints =
        demux::EndpointTable::Builder().build();
};

TEST_F(RouteReplay, EveryFrameIsClassifiedAsTheKernelWould) {
    io::PcapBackend backend({.rx_path = data_path("route.pcap")});
    core::CounterBlock counters;
    std::size_t n = 0;
    replay(counters, backend, 1, [&](std::size_t i, const core::Snapshot& d) {
        ASSERT_LT(i, std::size(kExpectedRouteFates)) << "more frames than expected";
        EXPECT_EQ(fate_of(d), kExpectedRouteFates[i]) << "frame " << i + 1;
        n = i + 1;
    });
    EXPECT_EQ(n, std::size(kExpectedRouteFates));
    EXPECT_EQ(backend.pool().outstanding(), 0u);
}

TEST_F(RouteReplay, CountersMatchTheHandWrittenTotals) {
    io::PcapBackend backend({.rx_path = data_path("route.pcap")});
    core::CounterBlock counters;
    replay(counters, backend, core::kBurst);
    EXPECT_COUNTERS(counters.snapshot(),
                    ({{"rx", 24},
                      {"passed", 2},         // frames 7 (IGMP), 16 (forwarded)
                      {"NO_SOCKET", 7},      // 1-5, 20, 23
                      {"NOT_SPECIFIED", 3},  // 6, 18, 22
                      {"IP_INVALID_SOURCE", 2},
                      {"IP_LOCALNET", 2},
                      {"IP_INVALID_DEST", 1},
                      {"IP_LOCAL_SOURCE", 1},
                      {"IP_INADDRERRORS", 3},  // 14, 15, 24
                      {"IP_INNOROUTES", 1},
                      {"IP_RPFILTER", 1},
                      {"IP_INHDR", 1},
                      {"IpInReceives", 24},
                      // 21 UDP datagrams of 46 bytes, IGMP 28, options 50 and 54.
                      {"IpExtInOctets", 21 * 46 + 28 + 50 + 54},
                      {"IpExtInNoECTPkts", 24},
                      {"IpExtInBcastPkts", 3},  // 2, 3, 4
                      {"IpExtInBcastOctets", 3 * 46},
                      {"IpExtInMcastPkts", 2},  // 5, 7
                      {"IpExtInMcastOctets", 46 + 28},
                      {"IpInAddrErrors", 3},
                      {"IpExtInNoRoutes", 1},
                      {"IpInHdrErrors", 1},
                      {"TcpExtIPReversePathFilter", 1},
                      {"IpInDelivers", 7},
                      {"UdpNoPorts", 3},       // 1, 20, 23
                      {"UdpIgnoredMulti", 4},  // 2-5
                      // Frame 17's net unreachable, frame 21's parameter problem, port
                      // unreachable for 1 and 20 (23 came in an L2 broadcast: no reply).
                      {"IcmpOutMsgs", 4},
                      {"IcmpOutDestUnreachs", 3},
                      {"IcmpMsgOutType3", 3},
                      {"IcmpOutParmProbs", 1},
                      {"IcmpMsgOutType12", 1},
                      {"IngressL2VlanTagged", 4}}));
}

// tests/data/defrag.pcap (make-test-pcap --defrag), replayed as ingress-replay does: each
// burst at its frames' capture time, then the timers once more ipfrag_time after the end.
// Expected, from ip_defrag's rules (frame numbers as in `make-test-pcap --defrag --list`):
//   A (1, 2, 4) completes: IpReasmOKs; its UDP datagram finds no endpoint: 3 frames
//   NO_SOCKET, UdpNoPorts, a port unreachable. 3 is an exact duplicate: DUP_FRAG.
//   B: 6 overlaps 5: both FRAG_OVERLAP, IpExtReasmOverlaps, IpReasmFails.
//   C (7, first fragment) and D (8, last only) expire at 30 s, in the burst of frame 10
//   (31 s): FRAG_REASM_TIMEOUT x2, an ICMP time exceeded for C only (D's first never came).
//   9 is not a fragment, UDP: NO_SOCKET, a port unreachable. E (10) expires after the
//   capture: FRAG_REASM_TIMEOUT, ICMP.
TEST_F(Replay, DefragCaptureCountersMatchTheHandWrittenTotals) {
    io::PcapBackend backend({.rx_path = data_path("defrag.pcap")});
    core::CounterBlock counters;
    Pipeline pipeline(backend, counters,
                      {.port = &port, .routes = &routes, .endpoints = no_endpoints.get()});
    core::PacketBatch batch;
    uint64_t now = 0;
    std::vector<uint64_t> held_after;
    while ((batch.count = backend.rx_burst(0, batch.pkts.data(), 1)) > 0) {
        now = batch.pkts[0].rx_ns;
        pipeline.process(batch, now);
        held_after.push_back(counters.snapshot().held);
    }
    EXPECT_EQ(held_after, (std::vector<uint64_t>{1, 2, 2, 0, 1, 0, 1, 2, 2, 1}));
    batch.count = 0;
    pipeline.process(batch, now + 30'000'000'000ull);
    EXPECT_COUNTERS(counters.snapshot(),
                    ({{"rx", 10},
                      {"NO_SOCKET", 4},  // A's 3 frames, 9
                      {"DUP_FRAG", 1},
                      {"FRAG_OVERLAP", 2},
                      {"FRAG_REASM_TIMEOUT", 3},
                      {"IpInReceives", 10},
                      // six 1500-byte fragments, B's 1508-byte overlap, two 68-byte last
                      // fragments, one 46-byte datagram.
                      {"IpExtInOctets", 6 * 1500 + 1508 + 2 * 68 + 46},
                      {"IpExtInNoECTPkts", 10},
                      {"IpReasmReqds", 9},
                      {"IpReasmOKs", 1},
                      {"IpReasmFails", 4},  // B, C, D, E
                      {"IpReasmTimeout", 3},
                      {"IpExtReasmOverlaps", 1},
                      {"IpInDelivers", 2},  // A, 9
                      {"UdpNoPorts", 2},
                      // Port unreachable for A and 9; time exceeded for C and E.
                      {"IcmpOutMsgs", 4},
                      {"IcmpOutDestUnreachs", 2},
                      {"IcmpMsgOutType3", 2},
                      {"IcmpOutTimeExcds", 2},
                      {"IcmpMsgOutType11", 2}}));
    EXPECT_EQ(backend.stats().tx, 4u);
    EXPECT_EQ(backend.pool().outstanding(), 0u);
    EXPECT_EQ(backend.pool().double_frees(), 0u);
}

TEST(PcapBackend, MissingFileNamesTheFile) {
    try {
        io::PcapBackend backend({.rx_path = "/nonexistent/capture.pcap"});
        FAIL() << "expected an exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/capture.pcap"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace ingress::worker
