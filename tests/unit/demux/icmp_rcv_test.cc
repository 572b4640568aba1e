// icmp_rcv (net/ipv4/icmp.c) for the destinations the dataplane owns: checksum, the input
// counters, echo and timestamp replies with the sysctls that silence them, what is left to
// the kernel, and the output counters of every reply.
#include "demux/icmp_rcv.h"

#include <gtest/gtest.h>

#include "demux/raw.h"
#include "support/demux.h"
#include "support/option_bytes.h"
#include "wire/bytes.h"
#include "wire/checksum.h"
#include "wire/icmp.h"

namespace ingress::demux {
namespace {

using test::kLocal;
using test::kPeer;
using test::kSubnetBcast;
using wire::FrameBuilder;

constexpr std::size_t kEth = 14, kIp = 20;

FrameBuilder icmp_to(uint8_t type, wire::Ipv4Addr dst = kLocal, std::size_t payload = 32,
                     uint8_t code = 0) {
    const wire::Mac l2 = dst == kSubnetBcast ? wire::Mac::broadcast() : test::kPortMac;
    return FrameBuilder()
        .eth(test::kPeerMac, l2)
        .ipv4(kPeer, dst)
        .icmp(type, code, 0x12340007)
        .payload_size(payload);
}

// What every ICMP datagram of `ip_len` bytes to us moves before icmp_rcv decides.
test::Expected icmp_in(uint64_t n, uint64_t ip_len, uint8_t type) {
    return test::plus(test::ip_local(n, ip_len),
                      {{"IcmpInMsgs", n}, {"IcmpMsgInType" + std::to_string(type), n}});
}

// One reply of `ip_len` bytes sent in one frame (`type` 0: every reply counts as type 0).
test::Expected out(uint8_t type, uint64_t ip_len) {
    test::Expected e{{"IcmpOutMsgs", 1},
                     {"IcmpMsgOutType" + std::to_string(type), 1},
                     {"IpOutRequests", 1},
                     {"IpOutTransmits", 1},
                     {"IpExtOutOctets", ip_len}};
    e["IcmpOutEchoReps"] = 1;
    return e;
}

// The IP datagram of a frame (what an ICMP error quotes).
std::vector<uint8_t> ip_only(const FrameBuilder& b) {
    auto f = b.build();
    return {f.begin() + kEth, f.end()};
}

uint32_t fake_wall_ms() noexcept {
    return 45'296'789;  // 12:34:56.789 UT
}

TEST(IcmpRcv, EchoIsAnsweredFromTheDestinationWithTheRequestsData) {
    test::DemuxHarness h;
    h.publish();
    const auto req = icmp_to(wire::kIcmpEcho).tos(0x10).build();
    h.run_one(req);
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(icmp_in(1, 60, 8), test::plus(out(0, 60), {
                                                                                {"delivered", 1},
                                                                                {"IcmpInEchos", 1},
                                                                            })));
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& r = h.backend.sent()[0].bytes;
    ASSERT_EQ(r.size(), req.size());
    // Back to the sender's MAC, from ours; the request's TOS; from the address it was sent to.
    EXPECT_TRUE(std::equal(r.begin(), r.begin() + 6, req.begin() + 6));
    EXPECT_EQ(r[kEth + 1], 0x10);
    EXPECT_EQ(wire::load_be32(&r[kEth + 12]), kLocal);
    EXPECT_EQ(wire::load_be32(&r[kEth + 16]), kPeer);
    EXPECT_EQ(wire::internet_checksum({r.data() + kEth, kIp}), 0);
    // Type 0, the same identifier, sequence and data, a valid checksum.
    EXPECT_EQ(r[kEth + kIp], wire::kIcmpEchoReply);
    EXPECT_EQ(wire::load_be32(&r[kEth + kIp + 4]), 0x12340007u);
    EXPECT_TRUE(std::equal(r.begin() + kEth + kIp + 8, r.end(), req.begin() + kEth + kIp + 8));
    EXPECT_EQ(wire::internet_checksum({r.data() + kEth + kIp, r.size() - kEth - kIp}), 0);
    h.expect_buffers_conserved();
}

TEST(IcmpRcv, EchoIgnoreAllAnswersNothingButCounts) {
    // icmp_echo(): "should there be an ICMP stat for ignored echos?" -- no; consumed.
    test::DemuxHarness h;
    h.tables.icmp.icmp_echo_ignore_all = true;
    h.publish();
    h.run_one(icmp_to(wire::kIcmpEcho).build());
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(icmp_in(1, 60, 8), {{"delivered", 1}, {"IcmpInEchos", 1}}));
    EXPECT_TRUE(h.backend.sent().empty());
}

// `sysctl -w net.ipv4.icmp_echo_ignore_all=1` (or ip_default_ttl) while the worker runs:
// the kernel reads the sysctl at each echo; the worker takes the published knobs at its next
// burst (ipv4/knobs.h), with no restart.
TEST(IcmpRcv, KnobsPublishedWhileRunningApplyFromTheNextBurst) {
    test::DemuxHarness h;
    ipv4::NetKnobs k{h.tables.icmp, h.tables.defrag};
    ipv4::KnobPublisher knobs(k);
    h.tables.knobs = &knobs;
    h.publish();
    h.run_one(icmp_to(wire::kIcmpEcho).build());
    ASSERT_EQ(h.backend.sent().size(), 1u);
    EXPECT_EQ(h.backend.sent()[0].bytes[kEth + 8], 64) << "ip_default_ttl";
    k.icmp.icmp_echo_ignore_all = true;
    EXPECT_TRUE(knobs.publish(k));
    EXPECT_FALSE(knobs.publish(k)) << "the same values: nothing published";
    h.run_one(icmp_to(wire::kIcmpEcho).build());
    EXPECT_EQ(h.backend.sent().size(), 1u) << "ignored";
    k.icmp.icmp_echo_ignore_all = false;
    k.icmp.ip_default_ttl = 7;
    EXPECT_TRUE(knobs.publish(k));
    h.run_one(icmp_to(wire::kIcmpEcho).build());
    ASSERT_EQ(h.backend.sent().size(), 2u);
    EXPECT_EQ(h.backend.sent()[1].bytes[kEth + 8], 7) << "the new ip_default_ttl";
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(test::plus(icmp_in(3, 60, 8), test::plus(out(0, 60), out(0, 60))),
                                  {{"delivered", 3}, {"IcmpInEchos", 3}}));
}

TEST(IcmpRcv, BroadcastEchoIgnoredCountsAnInError) {
    // icmp_rcv(): RTCF_BROADCAST and icmp_echo_ignore_broadcasts -> INVALID_PROTO, "error".
    test::DemuxHarness h;
    h.publish();
    h.run_one(icmp_to(wire::kIcmpEcho, kSubnetBcast).build());
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(test::plus(icmp_in(1, 60, 8), test::bcast(1, 60)),
                                  {{"INVALID_PROTO", 1}, {"IcmpInEchos", 1}, {"IcmpInErrors", 1}}));
    EXPECT_TRUE(h.backend.sent().empty());
}

TEST(IcmpRcv, BroadcastEchoAnsweredFromTheInterfaceAddressWhenAllowed) {
    // fib_compute_spec_dst(): not RTCF_LOCAL, so the address of the interface toward the
    // sender, never the broadcast address.
    test::DemuxHarness h;
    h.tables.icmp.icmp_echo_ignore_broadcasts = false;
    h.publish();
    h.run_one(icmp_to(wire::kIcmpEcho, kSubnetBcast).build());
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(test::plus(icmp_in(1, 60, 8), test::bcast(1, 60)),
                                  test::plus(out(0, 60), {{"delivered", 1}, {"IcmpInEchos", 1}})));
    ASSERT_EQ(h.backend.sent().size(), 1u);
    EXPECT_EQ(wire::load_be32(&h.backend.sent()[0].bytes[kEth + 12]), kLocal);
}

TEST(IcmpRcv, BadChecksumIsACsumErrorAndAnInError) {
    test::DemuxHarness h;
    h.publish();
    h.run_one(icmp_to(wire::kIcmpEcho).bad_icmp_checksum().build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 60), {{"ICMP_CSUM", 1},
                                                                    {"IcmpInMsgs", 1},
                                                                    {"IcmpInCsumErrors", 1},
                                                                    {"IcmpInErrors", 1}}));
    EXPECT_TRUE(h.backend.sent().empty());
}

TEST(IcmpRcv, TimestampIsAnsweredWithTheTimeOfDay) {
    test::DemuxHarness h;
    h.tables.icmp.wall_ms = &fake_wall_ms;
    h.publish();
    auto req = icmp_to(wire::kIcmpTimestamp, kLocal, 12).build();
    wire::store_be32(&req[kEth + kIp + 8], 1000);  // originate
    wire::store_be16(&req[kEth + kIp + 2], 0);
    wire::store_be16(&req[kEth + kIp + 2], wire::internet_checksum({req.data() + kEth + kIp, 20}));
    h.run_one(req);
    // Counted as type 0: the kernel's icmp_reply() leaves fl4_icmp_type 0 for every reply.
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(icmp_in(1, 40, 13), test::plus(out(0, 40), {
                                                                            {"delivered", 1},
                                                                            {"IcmpInTimestamps", 1},
                                                                        })));
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& r = h.backend.sent()[0].bytes;
    ASSERT_EQ(r.size(), kEth + kIp + 20);
    EXPECT_EQ(r[kEth + kIp], wire::kIcmpTimestampReply);
    EXPECT_EQ(wire::load_be32(&r[kEth + kIp + 8]), 1000u);
    EXPECT_EQ(wire::load_be32(&r[kEth + kIp + 12]), 45'296'789u);
    EXPECT_EQ(wire::load_be32(&r[kEth + kIp + 16]), 45'296'789u);
    EXPECT_EQ(wire::internet_checksum({r.data() + kEth + kIp, 20}), 0);
}

TEST(IcmpRcv, ShortTimestampIsAnInError) {
    // icmp_timestamp(): skb->len < 4 after the header.
    test::DemuxHarness h;
    h.publish();
    h.run_one(icmp_to(wire::kIcmpTimestamp, kLocal, 2).build());
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(icmp_in(1, 30, 13),
                             {{"PKT_TOO_SMALL", 1}, {"IcmpInTimestamps", 1}, {"IcmpInErrors", 1}}));
    EXPECT_TRUE(h.backend.sent().empty());
}

TEST(IcmpRcv, UnknownTypeIsDiscardedAsAnError) {
    test::DemuxHarness h;
    h.publish();
    h.run_one(icmp_to(30, kLocal, 4).build());
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(test::ip_local(1, 32),
                             {{"UNHANDLED_PROTO", 1}, {"IcmpInMsgs", 1}, {"IcmpInErrors", 1}}));
}

TEST(IcmpRcv, RawIcmpEndpointGetsItsCopyAndThePingIsStillAnswered) {
    // ip_local_deliver_finish: raw_local_deliver, then icmp_rcv.
    test::DemuxHarness h;
    RawEndpoint raw(test::rings(), wire::kIpProtoIcmp);
    h.builder.add(raw);
    h.publish();
    h.run_one(icmp_to(wire::kIcmpEcho).build());
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(icmp_in(1, 60, 8), test::plus(out(0, 60), {
                                                                                {"delivered", 1},
                                                                                {"IcmpInEchos", 1},
                                                                            })));
    EXPECT_EQ(raw.rings().used(), 1u);
    EXPECT_EQ(h.backend.sent().size(), 1u);
}

TEST(IcmpRcv, ReassembledEchoIsAnsweredInFragments) {
    // A 3000-byte ping: reassembled, answered, the reply cut at the MTU (ip_fragment).
    test::DemuxHarness h;
    h.publish();
    auto frags = icmp_to(wire::kIcmpEcho, kLocal, 2992).build_fragments(1480);
    ASSERT_EQ(frags.size(), 3u);  // 1480 + 1480 + 40 transport bytes
    h.run(frags);
    const auto& sent = h.backend.sent();
    ASSERT_EQ(sent.size(), 3u);
    EXPECT_EQ(sent[0].bytes.size(), kEth + kIp + 1480);
    EXPECT_EQ(sent[2].bytes.size(), kEth + kIp + 40);
    EXPECT_EQ(wire::load_be16(&sent[0].bytes[kEth + 6]), 0x2000);    // MF, offset 0
    EXPECT_EQ(wire::load_be16(&sent[2].bytes[kEth + 6]), 2960 / 8);  // last, offset 2960
    auto snap = h.snap();
    EXPECT_EQ(snap.mib_value(core::Mib::kIcmpOutEchoReps), 1u);
    EXPECT_EQ(snap.mib_value(core::Mib::kIpOutRequests), 1u);
    EXPECT_EQ(snap.mib_value(core::Mib::kIpOutTransmits), 3u);
    EXPECT_EQ(snap.mib_value(core::Mib::kIpExtOutOctets), 3u * kIp + 3000u);
    EXPECT_EQ(snap.mib_value(core::Mib::kIcmpInEchos), 1u);
    EXPECT_EQ(snap.delivered, 3u);
    h.expect_buffers_conserved();
}

TEST(IcmpRcv, EchoRepliesAreRateLimitedOnlyWhenTheRatemaskSaysSo) {
    // icmpv4_mask_allow(): type 0 is not in the default mask, so a burst of 8 gets 8 replies;
    // with bit 0 set, the per-host limit lets 6 through back to back.
    for (const uint32_t mask : {0x1818u, 0x1819u}) {
        test::DemuxHarness h;
        h.tables.icmp.icmp_ratemask = mask;
        h.publish();
        std::vector<std::vector<uint8_t>> burst(8, icmp_to(wire::kIcmpEcho).build());
        h.run(burst);
        const bool limited = mask & 1;
        EXPECT_EQ(h.backend.sent().size(), limited ? 6u : 8u) << mask;
        EXPECT_EQ(h.snap().mib_value(core::Mib::kIcmpOutRateLimitHost), limited ? 2u : 0u) << mask;
    }
}

TEST(IcmpRcv, ErrorsAboutKernelProtocolsAndEchoRepliesStayWithTheKernel) {
    LocalDeliverConfig cfg;
    auto reply = icmp_to(wire::kIcmpEchoReply).build();
    auto about_tcp = FrameBuilder()
                         .eth(test::kPeerMac, test::kPortMac)
                         .ipv4(kPeer, kLocal)
                         .icmp(wire::kIcmpDestUnreach, wire::kIcmpPortUnreach)
                         .payload(ip_only(test::proto_to(wire::kIpProtoTcp, kPeer, kLocal)))
                         .build();
    auto about_udp = FrameBuilder()
                         .eth(test::kPeerMac, test::kPortMac)
                         .ipv4(kPeer, kLocal)
                         .icmp(wire::kIcmpDestUnreach, wire::kIcmpPortUnreach)
                         .payload(ip_only(test::udp_to(kPeer, 5000, kLocal)))
                         .build();
    auto echo = icmp_to(wire::kIcmpEcho).build();
    auto p = [](std::vector<uint8_t>& b) { return test::ip_packet(b, ipv4::RouteType::kLocal); };
    EXPECT_TRUE(icmp_kernel_keeps(p(reply), cfg));
    EXPECT_TRUE(icmp_kernel_keeps(p(about_tcp), cfg));
    EXPECT_FALSE(icmp_kernel_keeps(p(about_udp), cfg));
    EXPECT_FALSE(icmp_kernel_keeps(p(echo), cfg));
}

TEST(IcmpRcv, DestUnreachAboutUdpIsConsumedAndCounted) {
    // __udp4_lib_err() finds the endpoint that sent the quoted datagram: no InErrors.
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(0, 4000);  // the quoted datagram's source port
    h.builder.add(ep);
    h.publish();
    const auto inner = ip_only(test::udp_to(kPeer, 5000, kLocal));
    h.run_one(FrameBuilder()
                  .eth(test::kPeerMac, test::kPortMac)
                  .ipv4(kPeer, kLocal)
                  .icmp(wire::kIcmpDestUnreach, wire::kIcmpPortUnreach)
                  .payload(inner)
                  .build());
    const uint64_t len = kIp + 8 + inner.size();
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(icmp_in(1, len, 3), {{"delivered", 1}, {"IcmpInDestUnreachs", 1}}));
}

TEST(IcmpRcv, ErrorAboutAUdpDatagramNoEndpointSentIsAnInError) {
    // __udp4_lib_err(): no socket for the quoted 4-tuple -> ICMP_MIB_INERRORS.
    test::DemuxHarness h;
    h.publish();
    const auto inner = ip_only(test::udp_to(kPeer, 4000, kLocal, 5000));
    h.run_one(FrameBuilder()
                  .eth(test::kPeerMac, test::kPortMac)
                  .ipv4(kPeer, kLocal)
                  .icmp(wire::kIcmpDestUnreach, wire::kIcmpPortUnreach)
                  .payload(inner)
                  .build());
    const uint64_t len = kIp + 8 + inner.size();
    EXPECT_COUNTERS_EQ(
        h.snap(), test::plus(icmp_in(1, len, 3),
                             {{"delivered", 1}, {"IcmpInDestUnreachs", 1}, {"IcmpInErrors", 1}}));
}

// IP options on local delivery (ip_rcv_options() writes, __ip_options_echo() answers).
namespace opts {

using test::be32_bytes;
using test::cat;
std::vector<uint8_t> options_of(const std::vector<uint8_t>& f) {
    const std::size_t ihl = (f[kEth] & 0xf) * 4u;
    return {f.begin() + kEth + kIp, f.begin() + kEth + ihl};
}

}  // namespace opts

TEST(IcmpRcvOptions, EchoWithRecordRouteRecordsUsOnReceiveAndAgainAsTheReplysSource) {
    // ping -R: ip_rcv_options() writes spec_dst; the reply's echo grabs the next slot, which
    // ip_options_build() fills with the reply's source. Both are our address.
    test::DemuxHarness h;
    h.publish();
    const auto req =
        icmp_to(wire::kIcmpEcho).ip_options({7, 15, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).build();
    h.run_one(req);
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& r = h.backend.sent()[0].bytes;
    EXPECT_EQ(r[kEth] & 0xf, 9) << "ihl: 20 + 16 bytes of options";
    EXPECT_EQ(r.size(), req.size());
    EXPECT_EQ(opts::options_of(r), opts::cat({{7, 15, 12},
                                              opts::be32_bytes(kLocal),
                                              opts::be32_bytes(kLocal),
                                              opts::be32_bytes(0),
                                              {0}}));
    EXPECT_EQ(wire::internet_checksum({r.data() + kEth, 36}), 0) << "over the options too";
    EXPECT_EQ(wire::load_be16(&r[kEth + 2]), r.size() - kEth);
    EXPECT_EQ(r[kEth + 36], wire::kIcmpEchoReply);
    EXPECT_COUNTERS_EQ(h.snap(),
                       test::plus(icmp_in(1, 76, 8), test::plus(out(0, 76), {
                                                                                {"delivered", 1},
                                                                                {"IcmpInEchos", 1},
                                                                            })));
}

TEST(IcmpRcvOptions, RawEndpointSeesTheWrittenHeaderWithItsArrivalChecksum) {
    // The raw copy is taken after ip_rcv_options(): the recorded address is there, and
    // iph->check is the one the datagram arrived with (not recomputed for local delivery).
    test::DemuxHarness h;
    RawEndpoint raw(test::rings(), wire::kIpProtoIcmp);
    h.builder.add(raw);
    h.publish();
    const auto req = icmp_to(wire::kIcmpEcho).ip_options({7, 7, 4, 0, 0, 0, 0}).build();
    h.run_one(req);
    const auto got = test::take(raw.rings());
    ASSERT_EQ(got.size(), 1u);
    const auto& d = got[0].bytes;
    ASSERT_GE(d.size(), 28u);
    EXPECT_EQ(std::vector<uint8_t>(d.begin() + 20, d.begin() + 28),
              opts::cat({{7, 7, 8}, opts::be32_bytes(kLocal), {0}}));
    EXPECT_EQ(wire::load_be16(&d[10]), wire::load_be16(&req[kEth + 10]));
    EXPECT_NE(wire::internet_checksum({d.data(), 28}), 0);
}

TEST(IcmpRcvOptions, TimestampRequestWithTimestampOptionGetsOurTimesInBoth) {
    test::DemuxHarness h;
    h.tables.icmp.wall_ms = &fake_wall_ms;
    h.publish();
    auto req = icmp_to(wire::kIcmpTimestamp, kLocal, 12)
                   .ip_options({68, 20, 5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
                   .build();
    const std::size_t l4 = kEth + 40;
    wire::store_be32(&req[l4 + 8], 1000);
    wire::store_be16(&req[l4 + 2], 0);
    wire::store_be16(&req[l4 + 2], wire::internet_checksum({req.data() + l4, 20}));
    h.run_one(req);
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& r = h.backend.sent()[0].bytes;
    EXPECT_EQ(opts::options_of(r), opts::cat({{68, 20, 21, 0x01},
                                              opts::be32_bytes(kLocal),
                                              opts::be32_bytes(45'296'789),
                                              opts::be32_bytes(kLocal),
                                              opts::be32_bytes(45'296'789)}));
    EXPECT_EQ(r[kEth + 40], wire::kIcmpTimestampReply);
}

TEST(IcmpRcvOptions, FullTimestampOptionCountsAnOverflowAndIsEchoedSo) {
    test::DemuxHarness h;
    h.publish();
    h.run_one(icmp_to(wire::kIcmpEcho).ip_options({68, 8, 9, 0x00, 1, 2, 3, 4}).build());
    ASSERT_EQ(h.backend.sent().size(), 1u);
    EXPECT_EQ(opts::options_of(h.backend.sent()[0].bytes),
              std::vector<uint8_t>({68, 8, 9, 0x10, 1, 2, 3, 4}));
}

TEST(IcmpRcvOptions, EchoWithLooseSourceRouteGoesBackToTheLastHopReversed) {
    // Sent by kPeer through 198.18.1.1 and 198.18.1.2 (accept_source_route on): the reply's
    // destination is the route's first hop back (faddr), the route ends with kPeer.
    test::DemuxHarness h;
    h.routes.update([] {
        auto cfg = test::demux_route_config();
        cfg.all.accept_source_route = true;
        return cfg;
    }());
    h.publish();
    const wire::Ipv4Addr h1 = wire::ipv4(198, 18, 1, 1), h2 = wire::ipv4(198, 18, 1, 2);
    h.run_one(
        icmp_to(wire::kIcmpEcho)
            .ip_options(opts::cat({{131, 11, 12}, opts::be32_bytes(h1), opts::be32_bytes(h2)}))
            .build());
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& r = h.backend.sent()[0].bytes;
    EXPECT_EQ(wire::load_be32(&r[kEth + 16]), h2);
    EXPECT_EQ(opts::options_of(r),
              opts::cat({{131, 11, 4}, opts::be32_bytes(h1), opts::be32_bytes(kPeer), {0}}));
}

TEST(IcmpRcvOptions, PortUnreachableCarriesTheEchoAndQuotesTheWrittenHeader) {
    test::DemuxHarness h;
    h.publish();
    const auto req = test::udp_to(kLocal, 9).ip_options({7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0}).build();
    h.run_one(req);
    ASSERT_EQ(h.backend.sent().size(), 1u);
    const auto& r = h.backend.sent()[0].bytes;
    EXPECT_EQ(r[kEth] & 0xf, 8);
    EXPECT_EQ(opts::options_of(r),
              opts::cat({{7, 11, 12}, opts::be32_bytes(kLocal), opts::be32_bytes(kLocal), {0}}));
    const std::size_t icmp = kEth + 32;
    EXPECT_EQ(r[icmp], wire::kIcmpDestUnreach);
    // The quoted header is the one ip_rcv_options() left: pointer 8, our address recorded.
    EXPECT_EQ(std::vector<uint8_t>(r.begin() + icmp + 8 + 20, r.begin() + icmp + 8 + 27),
              opts::cat({{7, 11, 8}, opts::be32_bytes(kLocal)}));
    EXPECT_EQ(wire::internet_checksum({r.data() + kEth, 32}), 0);
}

TEST(IcmpRcvOptions, DatagramPassedToTheKernelKeepsTheHeaderItArrivedWith) {
    // TCP is the kernel's: it runs ip_rcv_options() itself, so it must see the bytes unwritten.
    test::DemuxHarness h;
    h.publish();
    const auto req = test::proto_to(wire::kIpProtoTcp).ip_options({7, 7, 4, 0, 0, 0, 0}).build();
    h.run_one(req);
    ASSERT_EQ(h.backend.passed().size(), 1u);
    EXPECT_EQ(h.backend.passed()[0].bytes, req);
}

}  // namespace
}  // namespace ingress::demux
