// The shipped capture tests/data/rcv_core.pcap (written by tools/make_test_pcap.cc) replayed
// through the pipeline. The expected fate of every frame and every counter total below were
// written by hand from the kernel's rules (eth_type_trans, skb_vlan_untag/vlan_do_receive,
// the ptype dispatch, ip_rcv_core and ip_rcv_finish_core's input route), not taken from a run.
// The port is 198.18.0.1/24 with the kernel's default knobs and no multicast membership but
// 224.0.0.1 (what `ingress-replay` configures by default).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

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
    // LOCAL routes end "passed" at the end of the implemented path (no local delivery yet).
    "passed",                 //  1 valid UDP unicast to us: LOCAL
    "passed",                 //  2 valid UDP + link padding, trimmed: LOCAL
    "passed",                 //  3 198.18.0.255: BROADCAST (fib_add_ifaddr's subnet broadcast)
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
    "passed",                 // 14 ECN CE
    "passed",                 // 15 ECN ECT(0)
    "passed",                 // 16 ECN ECT(1)
    "passed",                 // 17 priority tag, VID 0: untagged
    "dropped OTHERHOST",      // 18 VID 10 and no such sub-interface: OTHERHOST
    "dropped PKT_TOO_SMALL",  // 19 runt, shorter than ETH_HLEN
    "passed",                 // 20 IP options, ihl 6
    "dropped IP_INHDR",       // 21 ihl 15 > the 46 bytes present
    "dropped IP_CSUM",        // 22 ECT(0) + bad checksum
    "passed",                 // 23 802.3 length + LLC
    "passed",                 // 24 ICMP echo request
    "dropped PKT_TOO_SMALL",  // 25 VLAN tag cut short
};

std::string fate_of(const core::Snapshot& d) {
    if (d.delivered) return "delivered";
    if (d.held) return "held";
    if (d.passed) return "passed";
    for (std::size_t i = 0; i < core::kDropReasonCount; ++i)
        if (d.drops[i])
            return "dropped " + std::string(core::drop_reason_name(static_cast<core::DropReason>(i)));
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
};

TEST_F(Replay, EveryFrameMeetsTheKernelsFate) {
    io::PcapBackend backend({.rx_path = data_path("rcv_core.pcap")});
    core::CounterBlock counters;
    Pipeline pipeline(backend, counters, {.port = &port, .routes = &routes});
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
    Pipeline pipeline(backend, counters, {.port = &port, .routes = &routes});
    core::PacketBatch batch;
    while ((batch.count = backend.rx_burst(0, batch.pkts.data(), core::kBurst)) > 0)
        pipeline.process(batch);
    EXPECT_COUNTERS(counters.snapshot(),
                    ({{"rx", 25},
                      // 13 frames reached the end before the route stage; frame 4 (a group
                      // we did not join) is dropped there, the other 12 route LOCAL or
                      // BROADCAST and are passed at the end of the implemented path.
                      {"passed", 12},
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
                      {"IngressL2NonIpv4", 3},
                      {"IngressL2VlanTagged", 3}}));
    EXPECT_EQ(backend.stats().passed, 12u);
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
