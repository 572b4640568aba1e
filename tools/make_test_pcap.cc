// make-test-pcap: writes the capture shipped as tests/data/rcv_core.pcap — valid and malformed
// frames for the L2 and ip_rcv_core stages, built with the project's FrameBuilder. The output
// is byte-for-byte deterministic (fixed timestamps), and a test regenerates it and compares
// it with the shipped file, so the two cannot drift apart.
//
//   make-test-pcap [--route|--defrag] OUT.pcap   write the capture (--route:
//                                  tests/data/route.pcap; --defrag: tests/data/defrag.pcap,
//                                  fragments with timestamps that make queues expire)
//   make-test-pcap [--route|--defrag] --list     print the frame list
//
// The receiving port is 02:00:00:00:00:01, address 198.18.0.1/24; the peer 02:00:00:00:00:02,
// 198.18.0.2. tests/unit/worker/replay_test.cc holds the expected fate of every frame and
// the expected counters, written by hand from the kernel's rules.
//
// The routing capture (--route) assumes the topology of src/ipv4/route.md "The routing
// capture": the port (ifindex 1, 198.18.0.1/24, forwarding 0, rp_filter 0) and VLAN 10
// (ifindex 10, 198.18.10.1/24, forwarding 1, rp_filter 1) with 198.19.0.0/16 behind it,
// 198.19.66.0/24 blackholed, and 239.1.1.1 joined on the port.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "io/pcap.h"
#include "wire/frame_builder.h"
#include "wire/icmp.h"

using namespace ingress::wire;

namespace {

const Mac kPort{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
const Mac kPeer{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const Mac kStranger{{0x02, 0x00, 0x00, 0x00, 0x00, 0x99}};
const Ipv4Addr kUs = ipv4(198, 18, 0, 1);
const Ipv4Addr kThem = ipv4(198, 18, 0, 2);

FrameBuilder udp_to_us() {
    return FrameBuilder().eth(kPeer, kPort).ipv4(kThem, kUs).udp(40000, 5000).payload_size(18);
}

struct Entry {
    const char* what;
    FrameBuilder::Bytes bytes;
    uint64_t at_ms = 0;  // offset from the capture's start (defrag capture only)
};

std::vector<Entry> frames() {
    std::vector<Entry> v;
    v.push_back({"valid UDP unicast to us", udp_to_us().build()});
    v.push_back({"valid UDP, 4 bytes of link padding (trimmed)",
                 udp_to_us().payload_size(2).pad_to(64).build()});
    v.push_back({"valid UDP to the subnet broadcast, L2 broadcast",
                 udp_to_us().eth_dst(Mac::broadcast()).ipv4(kThem, ipv4(198, 18, 0, 255)).build()});
    v.push_back({"valid UDP to 239.1.1.1, L2 multicast",
                 udp_to_us()
                     .eth_dst(Mac::for_ipv4_multicast(ipv4(239, 1, 1, 1)))
                     .ipv4(kThem, ipv4(239, 1, 1, 1))
                     .build()});
    v.push_back({"UDP for another host's MAC (OTHERHOST)", udp_to_us().eth_dst(kStranger).build()});
    {
        FrameBuilder::Bytes arp(42, 0);
        FrameBuilder::Bytes eth =
            FrameBuilder().eth(kPeer, Mac::broadcast()).ethertype(kEthPArp).build();
        std::memcpy(arp.data(), eth.data(), 14);
        // htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request) — content is not inspected.
        const uint8_t hdr[] = {0, 1, 8, 0, 6, 4, 0, 1};
        std::memcpy(arp.data() + 14, hdr, sizeof hdr);
        v.push_back({"ARP request (not IPv4: passed)", arp});
    }
    v.push_back({"IPv6 ethertype (passed)",
                 FrameBuilder().eth(kPeer, kPort).ethertype(kEthPIpv6).payload_size(40).build()});
    v.push_back({"bad IPv4 header checksum", udp_to_us().bad_ip_checksum().build()});
    v.push_back({"version 6 in an IPv4 ethertype frame", udp_to_us().ip_version(6).build()});
    v.push_back({"ihl 4 (< 5)", udp_to_us().ip_ihl(4).build()});
    v.push_back({"tot_len 100 beyond the 46 bytes that arrived (truncated)",
                 udp_to_us().ip_tot_len(100).build()});
    v.push_back({"tot_len 16 inside the 20-byte header", udp_to_us().ip_tot_len(16).build()});
    v.push_back({"only 10 bytes of IPv4 header", udp_to_us().truncate(24).build()});
    v.push_back({"ECN CE, valid", udp_to_us().ecn(3).build()});
    v.push_back({"ECN ECT(0), valid", udp_to_us().ecn(2).build()});
    v.push_back({"ECN ECT(1), valid", udp_to_us().ecn(1).build()});
    v.push_back({"802.1Q priority tag (VID 0), valid", udp_to_us().vlan(0, 5).build()});
    v.push_back({"802.1Q VID 10, no such sub-interface (OTHERHOST)", udp_to_us().vlan(10).build()});
    v.push_back({"10-byte runt", udp_to_us().truncate(10).build()});
    v.push_back(
        {"IP options (4 NOPs, ihl 6), valid", udp_to_us().ip_options({1, 1, 1, 1}).build()});
    v.push_back({"ihl 15 but only a 20-byte header arrived", udp_to_us().ip_ihl(15).build()});
    v.push_back({"ECN ECT(0) with a bad checksum (ECN counted first)",
                 udp_to_us().ecn(2).bad_ip_checksum().build()});
    v.push_back({"802.3 length field, LLC (passed)",
                 FrameBuilder().eth(kPeer, kPort).ethertype(0x0026).payload_size(38).build()});
    v.push_back({"ICMP echo request, valid", FrameBuilder()
                                                 .eth(kPeer, kPort)
                                                 .ipv4(kThem, kUs)
                                                 .icmp(kIcmpEcho, 0, 0x00010001)
                                                 .payload_size(8)
                                                 .build()});
    v.push_back({"VLAN tag cut short (16 bytes)", udp_to_us().vlan(7).truncate(16).build()});
    return v;
}

// tests/data/defrag.pcap: tests/unit/worker/replay_test.cc holds its expected counters.
std::vector<Entry> defrag_frames() {
    auto dgram = [](uint16_t id) {
        return FrameBuilder()
            .eth(kPeer, kPort)
            .ipv4(kThem, kUs)
            .ip_id(id)
            .udp(40000, 5000)
            .payload_size(3000);  // 3008 transport bytes: 1480 + 1480 + 48
    };
    std::vector<Entry> v;
    auto add = [&](const char* what, uint16_t id, uint32_t off, uint32_t len, bool more,
                   uint64_t at_ms) {
        v.push_back({what, dgram(id).build_fragment(off, len, more), at_ms});
    };
    add("A 1/3 (id 1, offset 0)", 1, 0, 1480, true, 0);
    add("A 2/3 (offset 1480)", 1, 1480, 1480, true, 1);
    add("A 2/3 again (exact duplicate)", 1, 1480, 1480, true, 2);
    add("A 3/3 (offset 2960, last): A complete", 1, 2960, 48, false, 3);
    add("B 1/3 (id 2, offset 0)", 2, 0, 1480, true, 4);
    add("B at offset 8, 1488 bytes: overlap, B discarded", 2, 8, 1488, true, 5);
    add("C 1/3 (id 3, offset 0), never completed", 3, 0, 1480, true, 6);
    add("D 3/3 only (id 4, last), never completed", 4, 2960, 48, false, 7);
    v.push_back({"valid UDP, not a fragment", udp_to_us().build(), 8});
    add("E 1/3 (id 5) at 31 s: C and D expire first", 5, 0, 1480, true, 31'000);
    return v;
}

// The routing capture: one frame per branch of the input route.
std::vector<Entry> route_frames() {
    const Ipv4Addr kVlanUs = ipv4(198, 18, 10, 1), kVlanPeer = ipv4(198, 18, 10, 2);
    const Ipv4Addr kFar = ipv4(198, 19, 5, 5), kNoRoute = ipv4(198, 18, 50, 1);
    auto udp = [](Ipv4Addr src, Ipv4Addr dst) {
        return FrameBuilder().eth(kPeer, kPort).ipv4(src, dst).udp(40000, 5000).payload_size(18);
    };
    auto vlan10 = [&](Ipv4Addr src, Ipv4Addr dst) { return udp(src, dst).vlan(10); };
    const Mac bcast = Mac::broadcast();
    std::vector<Entry> v;
    v.push_back({"UDP to our address: LOCAL", udp(kThem, kUs).build()});
    v.push_back({"UDP to the subnet broadcast: BROADCAST",
                 udp(kThem, ipv4(198, 18, 0, 255)).eth_dst(bcast).build()});
    v.push_back(
        {"UDP to 255.255.255.255: BROADCAST", udp(kThem, 0xffffffffu).eth_dst(bcast).build()});
    v.push_back({"DHCP discover 0.0.0.0 -> 255.255.255.255: BROADCAST", FrameBuilder()
                                                                            .eth(kPeer, bcast)
                                                                            .ipv4(0, 0xffffffffu)
                                                                            .udp(68, 67)
                                                                            .payload_size(18)
                                                                            .build()});
    v.push_back({"UDP to 239.1.1.1, joined: MULTICAST",
                 udp(kThem, ipv4(239, 1, 1, 1))
                     .eth_dst(Mac::for_ipv4_multicast(ipv4(239, 1, 1, 1)))
                     .build()});
    v.push_back(
        {"UDP to 239.2.2.2, not joined", udp(kThem, ipv4(239, 2, 2, 2))
                                             .eth_dst(Mac::for_ipv4_multicast(ipv4(239, 2, 2, 2)))
                                             .build()});
    v.push_back({"IGMP to 224.0.0.1 (all-hosts, always joined): MULTICAST",
                 FrameBuilder()
                     .eth(kPeer, Mac::for_ipv4_multicast(ipv4(224, 0, 0, 1)))
                     .ipv4(kThem, ipv4(224, 0, 0, 1))
                     .protocol(kIpProtoIgmp)
                     .payload_size(8)
                     .build()});
    v.push_back(
        {"multicast source 224.0.0.9: martian source", udp(ipv4(224, 0, 0, 9), kUs).build()});
    v.push_back({"source 0.0.0.0 to a unicast address: martian source", udp(0, kUs).build()});
    v.push_back({"loopback source 127.0.0.1: localnet", udp(ipv4(127, 0, 0, 1), kUs).build()});
    v.push_back(
        {"loopback destination 127.0.0.1: localnet", udp(kThem, ipv4(127, 0, 0, 1)).build()});
    v.push_back({"destination 0.0.0.7: martian destination", udp(kThem, ipv4(0, 0, 0, 7)).build()});
    v.push_back({"our own address as source: local source", udp(kUs, kUs).build()});
    v.push_back({"not ours, forwarding off on the port", udp(kThem, kFar).build()});
    v.push_back({"no route, forwarding off on the port", udp(kThem, kNoRoute).build()});
    v.push_back({"VLAN 10: not ours, forwarding on: forwarded", vlan10(kVlanPeer, kFar).build()});
    v.push_back(
        {"VLAN 10: no route, forwarding on: net unreachable", vlan10(kVlanPeer, kNoRoute).build()});
    v.push_back({"VLAN 10: blackhole route", vlan10(kVlanPeer, ipv4(198, 19, 66, 9)).build()});
    v.push_back({"VLAN 10: source routed back via the port, strict rp_filter",
                 vlan10(kThem, kVlanUs).build()});
    v.push_back({"port: asymmetric source, rp_filter off: LOCAL", udp(kFar, kUs).build()});
    v.push_back({"malformed option (record route, length 1)",
                 udp(kThem, kUs).ip_options({7, 1, 0, 0}).build()});
    v.push_back({"loose source route, accept_source_route off",
                 udp(kThem, kUs).ip_options({131, 7, 4, 198, 19, 5, 5, 0}).build()});
    v.push_back(
        {"unicast in an L2 broadcast frame: LOCAL", udp(kThem, kUs).eth_dst(bcast).build()});
    v.push_back(
        {"class E destination 240.0.0.1: no route", udp(kThem, ipv4(240, 0, 0, 1)).build()});
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    const bool route = argc >= 2 && std::strcmp(argv[1], "--route") == 0;
    const bool defrag = argc >= 2 && std::strcmp(argv[1], "--defrag") == 0;
    if (route || defrag) {
        --argc;
        ++argv;
    }
    const std::vector<Entry> entries = defrag ? defrag_frames() : route ? route_frames() : frames();
    if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
        int i = 0;
        for (const Entry& e : entries) std::printf("%2d  %s\n", ++i, e.what);
        return 0;
    }
    if (argc != 2) {
        std::fprintf(
            stderr,
            "usage: make-test-pcap [--route|--defrag] OUT.pcap | [--route|--defrag] --list\n");
        return 1;
    }
    try {
        ingress::io::PcapWriter w(argv[1], 65535);
        const uint64_t t0 = 1'700'000'000ull * 1'000'000'000ull;
        uint64_t ts = t0;
        for (const Entry& e : entries) {
            if (defrag) ts = t0 + e.at_ms * 1'000'000;
            w.write(e.bytes, ts);
            ts += 1'000'000;  // 1 ms apart
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make-test-pcap: %s\n", e.what());
        return 2;
    }
    return 0;
}
