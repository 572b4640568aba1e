// Packet taps (AF_PACKET): ETH_P_ALL and ethertype taps, OTHERHOST included, interface
// binding, SOCK_RAW / SOCK_DGRAM framing, VLAN tag in PACKET_AUXDATA, libpcap filters,
// fanout (hash, round robin). A tap copy never changes a frame's fate.
#include "demux/tap.h"

#include <gtest/gtest.h>
#include <linux/if_packet.h>

#include <cstring>
#include <set>

#include "support/demux.h"
#include "wire/bytes.h"
#include "wire/icmp.h"

namespace ingress::demux {
namespace {

using test::kLocal;
using test::kPeer;
using test::udp_to;
using wire::FrameBuilder;

std::vector<uint8_t> arp_frame() {
    return FrameBuilder()
        .eth(test::kPeerMac, wire::Mac::broadcast())
        .ethertype(0x0806)
        .payload_size(28)
        .build();
}

// For the tests of received frames: the port-unreachable errors their UDP frames to closed
// ports elicit would reach the ETH_P_ALL taps too, as PACKET_OUTGOING (the Tap.Outgoing*
// tests below); an empty global ICMP budget (icmp_msgs_burst 0) keeps them out.
void no_icmp_errors(test::DemuxHarness& h) {
    h.tables.icmp.icmp_msgs_burst = 0;
    h.tables.icmp.icmp_msgs_per_sec = 0;
}

TEST(Tap, SeesOtherHost) {
    test::DemuxHarness h;
    TapEndpoint tap(test::rings(), TapType::kRaw);
    h.builder.add(tap);
    h.publish();
    auto frame = udp_to(kLocal, 53).eth_dst(wire::Mac{{2, 0, 0, 0, 0, 9}}).build();
    h.run_one(frame);
    // The frame's fate is the kernel's: ip_rcv_core drops OTHERHOST after the taps saw it.
    EXPECT_COUNTERS(h.snap(), ({{"rx", 1}, {"OTHERHOST", 1}}));
    auto got = test::take(tap.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, frame);
    EXPECT_EQ(got[0].meta.pkt_type, static_cast<uint8_t>(core::PktType::kOtherhost));
    EXPECT_EQ(got[0].meta.ethertype, wire::kEthPIp);
    EXPECT_EQ(got[0].meta.ifindex, 1u);
    EXPECT_EQ(got[0].meta.l3_off, 14);
    h.expect_buffers_conserved();
}

// packet_recvmsg -> sock_recv_cmsgs: a tap's copy has the stamps a UDP socket's datagram
// has, SO_TIMESTAMPING's raw hardware stamp included (skb_hwtstamps of the same skb), and a
// raw endpoint's copy too (raw_recvmsg).
TEST(Tap, TapRawAndUdpRecordsCarryTheFramesHardwareStamp) {
    test::DemuxHarness h;
    TapEndpoint all(test::rings(), TapType::kRaw, kEthPAll, "all");
    RawEndpoint raw(test::rings(), wire::kIpProtoUdp);
    UdpEndpoint udp(test::rings());
    udp.bind(0, 53);
    h.builder.add(all).add(raw).add(udp);
    h.publish();
    const uint64_t kHw = 0x1234'5678'9abc'def0ull;
    const auto frame = udp_to(kLocal, 53).build();
    ASSERT_TRUE(h.backend.inject(frame, 0, 555, kHw));
    h.drain();
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(test::ip_local(1, 46), {{"delivered", 1}, {"UdpInDatagrams", 1}}));
    for (const ShmRings* r :
         std::initializer_list<const ShmRings*>{&all.rings(), &raw.rings(), &udp.rings()}) {
        auto got = test::take(*r);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].meta.rx_ns, 555u);
        EXPECT_EQ(got[0].meta.hw_ns, kHw);
        EXPECT_TRUE(got[0].meta.flags & INGRESS_F_HW_TSTAMP);
    }
    h.expect_buffers_conserved();
}

TEST(Tap, SeesLinkPaddingAndNonIpFramesWithoutChangingTheirFate) {
    test::DemuxHarness h;
    TapEndpoint all(test::rings(), TapType::kRaw, kEthPAll, "all"),
        arp(test::rings(), TapType::kRaw, 0x0806, "arp");
    UdpEndpoint udp(test::rings());
    udp.bind(0, 53);
    h.builder.add(all).add(arp).add(udp);
    h.publish();
    auto padded = udp_to(kLocal, 53).pad_to(60).build();
    h.run({padded, arp_frame()});
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 46), {{"rx", 1},  // the ARP frame
                                                                    {"delivered", 1},
                                                                    {"UdpInDatagrams", 1},
                                                                    {"passed", 1},
                                                                    {"IngressL2NonIpv4", 1}}));
    auto got = test::take(all.rings());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].bytes, padded) << "taps run before ip_rcv_core trims the padding";
    EXPECT_EQ(got[1].bytes, arp_frame());
    EXPECT_EQ(got[1].meta.pkt_type, static_cast<uint8_t>(core::PktType::kBroadcast));
    auto a = test::take(arp.rings());
    ASSERT_EQ(a.size(), 1u) << "an ethertype tap sees only its type";
    EXPECT_EQ(a[0].meta.ethertype, 0x0806);
    EXPECT_EQ(udp.rings().used(), 1u);
    EXPECT_EQ(h.backend.passed().size(), 1u);
}

TEST(Tap, DgramFramingStartsAtTheNetworkHeader) {
    test::DemuxHarness h;
    TapEndpoint tap(test::rings(), TapType::kDgram, wire::kEthPIp);
    h.builder.add(tap);
    h.publish();
    auto frame = udp_to(kLocal, 53).build();
    h.run_one(frame);
    auto got = test::take(tap.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, std::vector<uint8_t>(frame.begin() + 14, frame.end()));
    EXPECT_EQ(got[0].meta.l3_off, 0);
    EXPECT_EQ(got[0].meta.ethertype, wire::kEthPIp);
    // sll_addr: SOCK_DGRAM strips the header, packet_rcv() still names the source MAC.
    const uint8_t src[6] = {frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]};
    EXPECT_EQ(std::memcmp(got[0].meta.src_mac, src, 6), 0);
}

TEST(Tap, BindingToAnInterface) {
    test::DemuxHarness h;
    no_icmp_errors(h);
    TapEndpoint here(test::rings(), TapType::kRaw), elsewhere(test::rings(), TapType::kRaw),
        typed_elsewhere(test::rings(), TapType::kRaw, wire::kEthPIp);
    here.bind(1);
    elsewhere.bind(5);
    typed_elsewhere.bind(5);
    h.builder.add(here).add(elsewhere).add(typed_elsewhere);
    h.publish();
    h.run_one(udp_to(kLocal, 53).build());
    EXPECT_EQ(here.rings().used(), 1u);
    EXPECT_EQ(elsewhere.rings().used(), 0u);
    EXPECT_EQ(typed_elsewhere.rings().used(), 0u);
}

TEST(Tap, VlanTagMovedToAuxData) {
    test::DemuxHarness h;
    no_icmp_errors(h);
    h.port.vlans.push_back({10, 10, test::kPortMac});
    TapEndpoint any(test::rings(), TapType::kRaw, kEthPAll, "any"),
        on_port(test::rings(), TapType::kRaw, kEthPAll, "on_port"),
        on_vlan(test::rings(), TapType::kRaw, kEthPAll, "on_vlan"),
        no_aux(test::rings(), TapType::kRaw, kEthPAll, "no_aux"),
        ip_only(test::rings(), TapType::kRaw, wire::kEthPIp, "ip_only");
    any.set_auxdata();
    on_port.bind(1).set_auxdata();
    on_vlan.bind(10).set_auxdata();
    no_aux.bind(1);
    ip_only.set_auxdata();
    h.builder.add(any).add(on_port).add(on_vlan).add(no_aux).add(ip_only);
    h.publish();
    auto tagged = udp_to(kLocal, 53).vlan(10, 3).build();
    auto untagged = udp_to(kLocal, 53).build();
    h.run_one(tagged);

    const uint32_t aux_vlan = TP_STATUS_USER | TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID;
    // ETH_P_ALL on every interface: on the port with the tag in aux data, then again on the
    // VLAN interface without it (vlan_do_receive -> another_round), as tcpdump -i any shows.
    auto got = test::take(any.rings());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].bytes, untagged) << "the tag is not in the bytes";
    EXPECT_EQ(got[0].meta.ifindex, 1u);
    EXPECT_EQ(got[0].meta.vlan_tci, (3 << 13) | 10);
    EXPECT_EQ(got[0].meta.vlan_tpid, 0x8100);
    EXPECT_EQ(ingress_tp_status(&got[0].meta), aux_vlan);
    EXPECT_EQ(got[1].bytes, untagged);
    EXPECT_EQ(got[1].meta.ifindex, 10u);
    EXPECT_EQ(got[1].meta.vlan_tci, 0);
    EXPECT_EQ(ingress_tp_status(&got[1].meta), TP_STATUS_USER);

    got = test::take(on_port.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(ingress_tp_status(&got[0].meta), aux_vlan);
    got = test::take(on_vlan.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(ingress_tp_status(&got[0].meta), TP_STATUS_USER);
    got = test::take(no_aux.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.vlan_tci, 0) << "no PACKET_AUXDATA, no aux data";
    EXPECT_EQ(got[0].meta.flags & (INGRESS_F_VLAN | INGRESS_F_VLAN_TPID), 0);
    got = test::take(ip_only.rings());
    ASSERT_EQ(got.size(), 1u) << "ethertype taps see the frame once, on the final interface";
    EXPECT_EQ(got[0].meta.ifindex, 10u);
    EXPECT_EQ(ingress_tp_status(&got[0].meta), TP_STATUS_USER);
}

TEST(Tap, PortRoundSeesThePktTypeBeforeVlanDoReceive) {
    // __netif_receive_skb_core(): ptype_all on the port, then vlan_do_receive(), which marks
    // a frame of a VLAN with no sub-interface OTHERHOST; the final round's ethertype taps see
    // that. (Found by tests/differential: tap-vlan-no-subinterface.)
    test::DemuxHarness h;
    TapEndpoint all(test::rings(), TapType::kRaw, kEthPAll, "all"),
        ip(test::rings(), TapType::kRaw, wire::kEthPIp, "ip");
    h.builder.add(all).add(ip);
    h.publish();
    h.run_one(udp_to(kLocal, 53).vlan(20).build());
    EXPECT_COUNTERS(h.snap(), ({{"rx", 1}, {"IngressL2VlanTagged", 1}, {"OTHERHOST", 1}}));
    auto got = test::take(all.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.pkt_type, static_cast<uint8_t>(core::PktType::kHost));
    got = test::take(ip.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.pkt_type, static_cast<uint8_t>(core::PktType::kOtherhost));
}

TEST(Tap, FilterCompiledFromPcapExpression) {
    test::DemuxHarness h;
    no_icmp_errors(h);
    h.port.vlans.push_back({10, 10, test::kPortMac});
    std::string err;
    auto f = TapFilter::compile("udp dst port 53", /*link_header=*/true, &err);
    ASSERT_NE(f, nullptr) << err;
    auto fd = TapFilter::compile("udp dst port 53", /*link_header=*/false, &err);
    ASSERT_NE(fd, nullptr) << err;
    TapEndpoint raw(test::rings(), TapType::kRaw, kEthPAll, "raw"),
        dgram(test::rings(), TapType::kDgram, kEthPAll, "dgram");
    raw.bind(1).attach_filter(std::move(f));
    dgram.bind(1).attach_filter(std::move(fd));
    h.builder.add(raw).add(dgram);
    h.publish();
    // On the port: untagged to 53 (kept), untagged to 54 (rejected), ARP (rejected), and
    // tagged to 53: the filter sees the frame as the tap does, tag removed, so it matches.
    h.run({udp_to(kLocal, 53).build(), udp_to(kLocal, 54).build(), arp_frame(),
           udp_to(kLocal, 53).vlan(10).build()});
    EXPECT_EQ(raw.rings().used(), 2u);
    EXPECT_EQ(raw.filter_drops(), 2u) << "SOCKET_FILTER, counted per tap";
    EXPECT_EQ(dgram.rings().used(), 2u);
    EXPECT_EQ(dgram.filter_drops(), 2u);
    // Filters never change fates: the three UDP frames go to closed ports (NO_SOCKET), the
    // ARP frame is passed; no SOCKET_FILTER fate.
    core::Snapshot s = h.snap();
    EXPECT_EQ(s.rx, 4u);
    EXPECT_EQ(s.drop_value(core::DropReason::kNoSocket), 3u);
    EXPECT_EQ(s.passed, 1u);
    EXPECT_EQ(s.drop_value(core::DropReason::kSocketFilter), 0u);
}

TEST(Tap, BadFilterExpressionIsReported) {
    std::string err;
    EXPECT_EQ(TapFilter::compile("udp port banana", true, &err), nullptr);
    EXPECT_FALSE(err.empty());
}

TEST(Tap, FanoutHashKeepsBothDirectionsOfAFlowTogether) {
    test::DemuxHarness h;
    no_icmp_errors(h);
    TapEndpoint m[3] = {TapEndpoint(test::rings(), TapType::kRaw),
                        TapEndpoint(test::rings(), TapType::kRaw),
                        TapEndpoint(test::rings(), TapType::kRaw)};
    for (auto& t : m) h.builder.add(t.join_fanout(7, FanoutMode::kHash));
    h.builder.set_hash_seed(42);
    h.publish();
    std::vector<std::vector<uint8_t>> frames;
    for (uint16_t sport = 3000; sport < 3040; ++sport) {
        frames.push_back(udp_to(kLocal, 53, kPeer, sport).build());
        frames.push_back(udp_to(kPeer, sport, kLocal, 53).build());  // the reply direction
    }
    h.run(frames);
    uint32_t total = 0, used = 0;
    for (auto& t : m) {
        auto got = test::take(t.rings());
        total += static_cast<uint32_t>(got.size());
        used += !got.empty();
        std::map<uint16_t, int> per_flow;
        for (const auto& r : got) {
            uint16_t sp = wire::load_be16(r.bytes.data() + 34),
                     dp = wire::load_be16(r.bytes.data() + 36);
            ++per_flow[sp == 53 ? dp : sp];
        }
        for (const auto& [flow, n] : per_flow) EXPECT_EQ(n, 2) << "flow " << flow;
    }
    EXPECT_EQ(total, 80u) << "each frame to exactly one member";
    EXPECT_EQ(used, 3u);
}

TEST(Tap, FanoutRoundRobin) {
    test::DemuxHarness h;
    no_icmp_errors(h);
    TapEndpoint m[3] = {TapEndpoint(test::rings(), TapType::kRaw),
                        TapEndpoint(test::rings(), TapType::kRaw),
                        TapEndpoint(test::rings(), TapType::kRaw)};
    TapEndpoint other_group(test::rings(), TapType::kRaw);
    for (auto& t : m) h.builder.add(t.join_fanout(1, FanoutMode::kLoadBalance));
    h.builder.add(other_group.join_fanout(2, FanoutMode::kLoadBalance));
    h.publish();
    std::vector<std::vector<uint8_t>> frames;
    for (uint16_t i = 0; i < 7; ++i) frames.push_back(udp_to(kLocal, 53, kPeer, 5000 + i).build());
    h.run(frames);
    EXPECT_EQ(m[0].rings().used(), 3u);
    EXPECT_EQ(m[1].rings().used(), 2u);
    EXPECT_EQ(m[2].rings().used(), 2u);
    EXPECT_EQ(other_group.rings().used(), 7u) << "another group gets its own copy";
    auto got = test::take(m[1].rings());
    EXPECT_EQ(wire::load_be16(got[0].bytes.data() + 34), 5001);
    EXPECT_EQ(wire::load_be16(got[1].bytes.data() + 34), 5004);
}

TEST(Tap, FullTapQueueIsTheTapsOwnDrop) {
    test::DemuxHarness h;
    TapEndpoint tap(test::rings(2), TapType::kRaw, kEthPAll, "tap");
    h.builder.add(tap);
    h.publish();
    h.run({arp_frame(), arp_frame(), arp_frame()});
    EXPECT_COUNTERS(h.snap(), ({{"rx", 3}, {"passed", 3}, {"IngressL2NonIpv4", 3}}));
    EXPECT_EQ(tap.rings().used(), 2u);
    EXPECT_EQ(tap.rings().dropped(), 1u);
}

// Outgoing frames (net/core/dev.c dev_queue_xmit_nit): what the dataplane sends reaches the
// ptype_all taps as PACKET_OUTGOING.

std::vector<uint8_t> echo_request(uint16_t vid = 0) {
    auto b = FrameBuilder().eth(test::kPeerMac, test::kPortMac);
    if (vid) b.vlan(vid);
    return b.ipv4(kPeer, kLocal).icmp(wire::kIcmpEcho, 0, 0x12340007).payload_size(32).build();
}

TEST(Tap, OutgoingEchoReplySeenAsPacketOutgoing) {
    // A ping answered by the dataplane: an ETH_P_ALL socket sees the request (HOST) and the
    // reply (OUTGOING), as tcpdump shows both on the kernel's host.
    test::DemuxHarness h;
    TapEndpoint raw(test::rings(), TapType::kRaw, kEthPAll, "raw"),
        dgram(test::rings(), TapType::kDgram, kEthPAll, "dgram");
    raw.set_auxdata();
    h.builder.add(raw).add(dgram);
    h.publish();
    const auto req = echo_request();
    h.run_one(req);
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& reply = h.backend.sent()[0].bytes;
    auto got = test::take(raw.rings());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].bytes, req);
    EXPECT_EQ(got[0].meta.pkt_type, PACKET_HOST);
    EXPECT_EQ(got[1].bytes, reply);
    EXPECT_EQ(got[1].meta.pkt_type, PACKET_OUTGOING);
    EXPECT_EQ(got[1].meta.ifindex, 1u);
    EXPECT_EQ(got[1].meta.ethertype, wire::kEthPIp);
    EXPECT_EQ(got[1].meta.l3_off, 14);
    EXPECT_EQ(got[1].meta.orig_len, reply.size());
    EXPECT_NE(got[1].meta.rx_ns, 0u) << "net_timestamp_set";
    EXPECT_EQ(got[1].meta.flags & (INGRESS_F_CSUM_VERIFIED | INGRESS_F_VLAN), 0u);
    // sll_addr: eth_header_parse's h_source, our own MAC.
    EXPECT_EQ(std::memcmp(got[1].meta.src_mac, test::kPortMac.b.data(), 6), 0);
    // SOCK_DGRAM: from the network header, outgoing as incoming.
    auto d = test::take(dgram.rings());
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[1].bytes, std::vector<uint8_t>(reply.begin() + 14, reply.end()));
    EXPECT_EQ(d[1].meta.pkt_type, PACKET_OUTGOING);
    EXPECT_EQ(std::memcmp(d[1].meta.src_mac, test::kPortMac.b.data(), 6), 0);
    // A tap copy is not a fate: the request was delivered (consumed by icmp_rcv).
    EXPECT_EQ(h.snap().delivered, 1u);
    h.expect_buffers_conserved();
}

TEST(Tap, OutgoingNotSeenByEthertypeTap) {
    // dev_queue_xmit_nit walks ptype_all and dev->ptype_all only: an ETH_P_IP packet socket
    // (ptype_base) sees the incoming request but not the reply.
    test::DemuxHarness h;
    TapEndpoint ip(test::rings(), TapType::kRaw, wire::kEthPIp);
    h.builder.add(ip);
    h.publish();
    h.run_one(echo_request());
    EXPECT_EQ(h.backend.sent().size(), 1u);
    auto got = test::take(ip.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.pkt_type, PACKET_HOST);
}

TEST(Tap, IgnoreOutgoingSkipsSentFrames) {
    // PACKET_IGNORE_OUTGOING: the prot_hook's ignore_outgoing; incoming frames still arrive.
    // A fanout group has one prot_hook: its flag is the group's.
    test::DemuxHarness h;
    TapEndpoint plain(test::rings(), TapType::kRaw, kEthPAll, "plain"),
        ignoring(test::rings(), TapType::kRaw, kEthPAll, "ignoring"),
        group(test::rings(), TapType::kRaw, kEthPAll, "group");
    ignoring.set_ignore_outgoing();
    group.set_ignore_outgoing().join_fanout(3, FanoutMode::kLoadBalance);
    h.builder.add(plain).add(ignoring).add(group);
    h.publish();
    h.run_one(echo_request());
    ASSERT_EQ(h.backend.sent().size(), 1u);
    EXPECT_EQ(plain.rings().used(), 2u);
    auto got = test::take(ignoring.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.pkt_type, PACKET_HOST);
    EXPECT_EQ(group.rings().used(), 1u);
}

TEST(Tap, OutgoingIcmpErrorPassesTheFilterAsIncomingFramesDo) {
    // A UDP datagram to a closed port: the port-unreachable error reaches the tap as
    // OUTGOING; the filter runs on it as on any frame (0 = SOCKET_FILTER on the copy).
    test::DemuxHarness h;
    std::string err;
    auto f = TapFilter::compile("icmp[icmptype] == icmp-unreach", true, &err);
    ASSERT_NE(f, nullptr) << err;
    TapEndpoint errors(test::rings(), TapType::kRaw, kEthPAll, "errors");
    errors.attach_filter(std::move(f));
    h.builder.add(errors);
    h.publish();
    h.run_one(udp_to(kLocal, 9).build());
    ASSERT_EQ(h.backend.sent().size(), 1u);
    auto got = test::take(errors.rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.pkt_type, PACKET_OUTGOING);
    EXPECT_EQ(got[0].bytes, h.backend.sent()[0].bytes);
    EXPECT_EQ(got[0].bytes[14 + 20], 3) << "destination unreachable";
    EXPECT_EQ(errors.filter_drops(), 1u) << "the incoming datagram was rejected";
}

TEST(Tap, OutgoingOnVlanSubInterfaceSeenOnItAndOnThePort) {
    // The vlan device's dev_queue_xmit_nit (untagged), then the real device's (the tag in
    // aux data): a tap on all interfaces sees the reply twice, as the request.
    test::DemuxHarness h;
    h.port.vlans.push_back({10, 10, test::kPortMac});
    TapEndpoint any(test::rings(), TapType::kRaw, kEthPAll, "any"),
        on_port(test::rings(), TapType::kRaw, kEthPAll, "on_port"),
        on_vlan(test::rings(), TapType::kRaw, kEthPAll, "on_vlan");
    any.set_auxdata();
    on_port.bind(1).set_auxdata();
    on_vlan.bind(10).set_auxdata();
    h.builder.add(any).add(on_port).add(on_vlan);
    h.publish();
    h.run_one(echo_request(10));
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& reply = h.backend.sent()[0].bytes;
    ASSERT_EQ(wire::load_be16(&reply[12]), wire::kEthP8021Q) << "the reply leaves tagged";
    std::vector<uint8_t> untagged(reply.begin(), reply.begin() + 12);
    untagged.insert(untagged.end(), reply.begin() + 16, reply.end());
    auto a = test::take(any.rings());
    ASSERT_EQ(a.size(), 4u);
    EXPECT_EQ(a[2].meta.pkt_type, PACKET_OUTGOING);
    EXPECT_EQ(a[2].meta.ifindex, 10u);
    EXPECT_EQ(a[2].bytes, untagged);
    EXPECT_EQ(a[2].meta.flags & INGRESS_F_VLAN, 0u);
    EXPECT_EQ(a[3].meta.ifindex, 1u);
    EXPECT_EQ(a[3].bytes, untagged) << "the tag is in aux data, not in the bytes";
    EXPECT_NE(a[3].meta.flags & INGRESS_F_VLAN, 0u);
    EXPECT_EQ(a[3].meta.vlan_tci & 0x0fff, 10);
    auto p = test::take(on_port.rings());
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[1].meta.pkt_type, PACKET_OUTGOING);
    EXPECT_EQ(p[1].meta.ifindex, 1u);
    auto v = test::take(on_vlan.rings());
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[1].meta.pkt_type, PACKET_OUTGOING);
    EXPECT_EQ(v[1].meta.ifindex, 10u);
}

// The frames the kernel kept (AF_XDP: the XDP program's tap ring buffer), handed to the
// pipeline by an io::KernelFrames source: the taps see them as received frames with their
// own pkt_type, no fate is counted, and a copy cut at the snap length keeps its wire length.
class FakeKernelFrames final : public io::KernelFrames {
public:
    struct Copy {
        std::vector<uint8_t> bytes;
        uint32_t wire_len;
    };
    std::vector<Copy> q;
    uint32_t drain(Sink sink, void* ctx, uint32_t max) noexcept override {
        uint32_t n = 0;
        for (; n < max && n < q.size(); ++n) sink(ctx, q[n].bytes, q[n].wire_len);
        q.erase(q.begin(), q.begin() + n);
        return n;
    }
};

TEST(Tap, KernelKeptFramesSeenWithTheirPktTypeAndNoFate) {
    test::DemuxHarness h;
    FakeKernelFrames k;
    h.tables.kernel_frames = &k;
    TapEndpoint all(test::rings(), TapType::kRaw, kEthPAll, "all"),
        arp(test::rings(), TapType::kRaw, wire::kEthPArp, "arp");
    h.builder.add(all).add(arp);
    h.publish();
    const auto other = udp_to(kPeer, 53).eth_dst(wire::Mac{{2, 0, 0, 0, 0, 9}}).build();
    const auto big = udp_to(kLocal, 22).payload_size(300).build();
    k.q = {{arp_frame(), static_cast<uint32_t>(arp_frame().size())},
           {other, static_cast<uint32_t>(other.size())},
           {{big.begin(), big.begin() + 100}, static_cast<uint32_t>(big.size())}};
    h.tick();
    EXPECT_TRUE(k.q.empty());
    auto got = test::take(all.rings());
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].bytes, arp_frame());
    EXPECT_EQ(got[0].meta.pkt_type, PACKET_BROADCAST);
    EXPECT_EQ(got[1].meta.pkt_type, PACKET_OTHERHOST);
    EXPECT_EQ(got[2].meta.pkt_type, PACKET_HOST);
    EXPECT_EQ(got[2].bytes.size(), 100u);
    EXPECT_EQ(got[2].meta.orig_len, big.size()) << "the wire length, as tp_len";
    EXPECT_NE(got[2].meta.flags & INGRESS_F_TRUNCATED, 0u);
    EXPECT_EQ(test::take(arp.rings()).size(), 1u) << "ptype_base as for a received frame";
    core::Snapshot s = h.snap();
    EXPECT_EQ(s.rx, 0u) << "the kernel's frames: no fate, no counter here";
    EXPECT_EQ(s.mib_value(core::Mib::kIpInReceives), 0u);
}

TEST(Tap, KernelKeptFramesCopiedBeforeTheLastTapClosedAreDropped) {
    test::DemuxHarness h;
    FakeKernelFrames k;
    h.tables.kernel_frames = &k;
    h.publish();  // no tap
    k.q = {{arp_frame(), static_cast<uint32_t>(arp_frame().size())}};
    h.tick();
    EXPECT_TRUE(k.q.empty()) << "drained, so a tap opened later does not get them";
}

}  // namespace
}  // namespace ingress::demux
