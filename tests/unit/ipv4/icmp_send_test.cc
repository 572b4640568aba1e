// IcmpSender: the exact bytes of an ICMP error (addresses, TOS, TTL, quoted datagram,
// checksums, MACs, VLAN) and the kernel's rate limits (icmp_msgs_burst / icmp_msgs_per_sec,
// the per-host 6-burst then one per icmp_ratelimit, icmp_ratemask), driven by a FakeClock.
#include "ipv4/icmp_send.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "io/memory.h"
#include "io/tx_queue.h"
#include "ipv4/route_type.h"
#include "support/counters.h"
#include "support/fake_clock.h"
#include "support/packet.h"
#include "support/pipeline_harness.h"
#include "wire/checksum.h"
#include "wire/frame_builder.h"

namespace ingress::ipv4 {
namespace {

using wire::FrameBuilder;
using wire::ipv4;

constexpr wire::Ipv4Addr kLocal = ipv4(198, 18, 0, 1);
constexpr wire::Ipv4Addr kPeer = ipv4(198, 18, 0, 2);

std::vector<uint8_t> from_hex(const std::string& h) {
    std::vector<uint8_t> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoul(h.substr(i, 2), nullptr, 16)));
    return out;
}

// The offending datagram: 198.18.0.2:4000 -> 198.18.0.1:53, 18 payload bytes 0..17, UDP
// checksum 0, IP id 1, TTL 64 (its bytes are pinned below too).
FrameBuilder offending(wire::Ipv4Addr src = kPeer) {
    return FrameBuilder()
        .eth(test::kPeerMac, test::kPortMac)
        .ipv4(src, kLocal)
        .udp(4000, 53)
        .zero_udp_checksum()
        .payload_size(18);
}

core::Packet packet_of(std::vector<uint8_t>& bytes, RouteType rt = RouteType::kLocal) {
    core::Packet p;
    p.data = bytes.data();
    p.len = static_cast<uint32_t>(bytes.size());
    p.l3_off = 14;
    test::fill_l3_meta(p);
    p.ifindex = 1;
    p.pkt_type = core::PktType::kHost;
    p.route_type = static_cast<uint8_t>(rt);
    return p;
}

struct Fixture {
    explicit Fixture(IcmpConfig cfg = {}) : icmp(backend, txq, cfg) {}
    IcmpResult send(const core::Packet& p, uint8_t type = 3, uint8_t code = 3) {
        return icmp.send(p, type, code, 0, kLocal, clock.now_ns(), c);
    }
    std::vector<std::vector<uint8_t>> flush() {
        txq.flush(backend, 0);
        std::vector<std::vector<uint8_t>> out;
        for (const auto& f : backend.sent()) out.push_back(f.bytes);
        return out;
    }
    io::MemoryBackend backend{1};
    io::TxQueue txq;
    core::CounterBlock c;
    test::FakeClock clock;
    IcmpSender icmp;
};

const std::string kOffendingIp =
    "4500002e000100004011ee96c6120002c6120001"  // IPv4 header
    "0fa00035001a0000"                          // UDP header, checksum 0
    "000102030405060708090a0b0c0d0e0f1011";     // payload

TEST(IcmpSend, PortUnreachableExactBytes) {
    auto bytes = offending().build();
    ASSERT_EQ(std::vector<uint8_t>(bytes.begin() + 14, bytes.end()), from_hex(kOffendingIp));
    auto p = packet_of(bytes);
    Fixture fx;
    EXPECT_EQ(fx.send(p), IcmpResult::kQueued);
    auto sent = fx.flush();
    ASSERT_EQ(sent.size(), 1u);
    // Ethernet back to the sender from our MAC; IPv4 TOS 0xc0 (internetwork control), total
    // length 74, id 1, DF clear, TTL 64, protocol ICMP, checksum 0xedca, 198.18.0.1 ->
    // 198.18.0.2; ICMP type 3 code 3, checksum 0xa4bc, unused 0; then the whole offending
    // datagram (it is shorter than the 548 bytes the kernel may quote).
    auto want = from_hex(
        "020000000002"
        "020000000001"
        "0800"
        "45c0004a000100004001edcac6120001c6120002"
        "0303a4bc00000000" +
        kOffendingIp);
    EXPECT_EQ(sent[0], want);
    EXPECT_COUNTERS(fx.c.snapshot(),
                    ({{"IcmpOutMsgs", 1}, {"IcmpOutDestUnreachs", 1}, {"IcmpMsgOutType3", 1}}));
    EXPECT_EQ(fx.backend.pool().outstanding(), 0u);
}

TEST(IcmpSend, TosKeepsTosBitsAndSetsInternetControl) {
    // RT_TOS(iph->tos) | IPTOS_PREC_INTERNETCONTROL: 0xb9 -> (0xb9 & 0x1e) | 0xc0 = 0xd8.
    auto bytes = offending().tos(0xb9).build();
    auto p = packet_of(bytes);
    Fixture fx;
    ASSERT_EQ(fx.send(p), IcmpResult::kQueued);
    auto sent = fx.flush();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0][14 + 1], 0xd8);
    EXPECT_EQ(wire::internet_checksum({sent[0].data() + 14, 20}), 0) << "IP header checksum";
    EXPECT_EQ(wire::internet_checksum({sent[0].data() + 34, sent[0].size() - 34}), 0)
        << "ICMP checksum";
}

TEST(IcmpSend, QuotesUpTo576BytesNotJustHeaderPlus8) {
    // The kernel quotes as much as fits in a 576-byte error datagram (RFC 1812 4.3.2.3):
    // 576 - 20 (IP) - 8 (ICMP) = 548 bytes of the offending datagram, not RFC 792's 28.
    auto bytes = offending().payload_size(1000).build();
    auto p = packet_of(bytes);
    Fixture fx;
    ASSERT_EQ(fx.send(p), IcmpResult::kQueued);
    auto sent = fx.flush();
    ASSERT_EQ(sent.size(), 1u);
    ASSERT_EQ(sent[0].size(), 14u + 576u);
    EXPECT_EQ(wire::load_be16(sent[0].data() + 14 + 2), 576);
    EXPECT_TRUE(std::equal(sent[0].begin() + 42, sent[0].end(), bytes.begin() + 14))
        << "the first 548 bytes of the offending datagram";
    EXPECT_EQ(wire::internet_checksum({sent[0].data() + 34, sent[0].size() - 34}), 0);
}

TEST(IcmpSend, VlanTaggedRequestAnsweredOnSameVlanWithPcpZero) {
    auto bytes = FrameBuilder()
                     .eth(test::kPeerMac, test::kPortMac)
                     .vlan(10, 5)
                     .ipv4(kPeer, kLocal)
                     .udp(4000, 53)
                     .zero_udp_checksum()
                     .payload_size(18)
                     .build();
    auto p = packet_of(bytes);
    p.l3_off = 18;
    test::fill_l3_meta(p);
    p.flags = core::kFlagVlan;
    p.vlan_tci = (5 << 13) | 10;
    p.vlan_tpid = 0x8100;
    p.ifindex = 10;
    Fixture fx;
    ASSERT_EQ(fx.send(p), IcmpResult::kQueued);
    auto sent = fx.flush();
    ASSERT_EQ(sent.size(), 1u);
    auto want = from_hex(
        "020000000002"
        "020000000001"
        "8100"
        "000a"
        "0800"
        "45c0004a000100004001edcac6120001c6120002"
        "0303a4bc00000000" +
        kOffendingIp);
    EXPECT_EQ(sent[0], want);
}

TEST(IcmpSend, KernelNeverAnswers) {
    struct Case {
        const char* name;
        std::vector<uint8_t> bytes;
        core::PktType pkt_type;
        RouteType rt;
    };
    std::vector<Case> cases = {
        {"L2 broadcast frame", offending().build(), core::PktType::kBroadcast, RouteType::kLocal},
        {"L2 multicast frame", offending().build(), core::PktType::kMulticast, RouteType::kLocal},
        {"routed as broadcast", offending().build(), core::PktType::kHost, RouteType::kBroadcast},
        {"routed as multicast", offending().build(), core::PktType::kHost, RouteType::kMulticast},
        {"non-first fragment", offending().ip_frag(8, false).build(), core::PktType::kHost,
         RouteType::kLocal},
        {"ICMP error about an ICMP error",
         FrameBuilder().eth(test::kPeerMac, test::kPortMac).ipv4(kPeer, kLocal).icmp(11, 0).build(),
         core::PktType::kHost, RouteType::kLocal},
        {"ICMP error about an unknown ICMP type",
         FrameBuilder().eth(test::kPeerMac, test::kPortMac).ipv4(kPeer, kLocal).icmp(40, 0).build(),
         core::PktType::kHost, RouteType::kLocal},
    };
    for (auto& tc : cases) {
        SCOPED_TRACE(tc.name);
        auto p = packet_of(tc.bytes, tc.rt);
        p.pkt_type = tc.pkt_type;
        Fixture fx;
        EXPECT_EQ(fx.send(p), IcmpResult::kNotAllowed);
        EXPECT_TRUE(fx.flush().empty());
        EXPECT_COUNTERS(fx.c.snapshot(), ({}));
    }
}

TEST(IcmpSend, ErrorAboutEchoRequestIsAllowed) {
    auto bytes =
        FrameBuilder().eth(test::kPeerMac, test::kPortMac).ipv4(kPeer, kLocal).icmp(8, 0).build();
    auto p = packet_of(bytes);
    Fixture fx;
    EXPECT_EQ(fx.send(p, 3, 2), IcmpResult::kQueued);
}

TEST(IcmpSend, PerHostSixBurstThenOnePerRatelimit) {
    auto bytes = offending().build();
    auto p = packet_of(bytes);
    Fixture fx;  // icmp_ratelimit 1000 ms
    for (int i = 0; i < 6; ++i) EXPECT_EQ(fx.send(p), IcmpResult::kQueued) << i;
    EXPECT_EQ(fx.send(p), IcmpResult::kRateLimited);
    fx.clock.advance_ms(999);
    EXPECT_EQ(fx.send(p), IcmpResult::kRateLimited);
    fx.clock.advance_ms(1);
    EXPECT_EQ(fx.send(p), IcmpResult::kQueued);
    EXPECT_EQ(fx.send(p), IcmpResult::kRateLimited);
    // Tokens accumulate up to 6 * icmp_ratelimit, not more.
    fx.clock.advance_s(60);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(fx.send(p), IcmpResult::kQueued) << i;
    EXPECT_EQ(fx.send(p), IcmpResult::kRateLimited);
    EXPECT_COUNTERS(fx.c.snapshot(), ({{"IcmpOutMsgs", 13},
                                       {"IcmpOutDestUnreachs", 13},
                                       {"IcmpMsgOutType3", 13},
                                       {"IcmpOutRateLimitHost", 4}}));
    EXPECT_EQ(fx.flush().size(), 13u);
}

// ip_error() (net/ipv4/route.c) spends ip_rt_error_cost from the source's inet_peer before
// icmp_send(), whose icmpv4_xrlim_allow() spends icmp_ratelimit from the same rate_tokens: a
// fresh peer (60 s unseen: tokens capped at ip_rt_error_burst, 5 s) gets 4 s, 3 s after the
// first error, 2 s, 1 s after the second, then 0 at the third: ip_error() sends it, the
// per-host limit refuses it. A burst of six yields two errors, as the kernel's.
TEST(IcmpSend, IpErrorSharesThePeersBucketTwoOfABurst) {
    auto bytes = offending().build();
    auto p = packet_of(bytes);
    Fixture fx;  // icmp_ratelimit 1000 ms
    int sent = 0, refused_by_ip_error = 0;
    for (int i = 0; i < 6; ++i) {
        if (!fx.icmp.error_route_allow(p.saddr, fx.clock.now_ns())) {
            ++refused_by_ip_error;
            continue;
        }
        sent += fx.send(p, 3, 1) == IcmpResult::kQueued;
    }
    EXPECT_EQ(sent, 2);
    // Third: ip_error() had 1 s (sent on), icmpv4_xrlim_allow() had none; then 0 s each time.
    EXPECT_EQ(refused_by_ip_error, 3);
    EXPECT_COUNTERS(fx.c.snapshot(), ({{"IcmpOutMsgs", 2},
                                       {"IcmpOutDestUnreachs", 2},
                                       {"IcmpMsgOutType3", 2},
                                       {"IcmpOutRateLimitHost", 1}}));
    // Tokens return at 1 per second: 2 s later, ip_error() spends 1 and the limit 1.
    fx.clock.advance_ms(2000);
    EXPECT_TRUE(fx.icmp.error_route_allow(p.saddr, fx.clock.now_ns()));
    EXPECT_EQ(fx.send(p, 3, 1), IcmpResult::kQueued);
    // Another source has its own bucket.
    auto other_bytes = offending(ipv4(198, 18, 0, 77)).build();
    EXPECT_TRUE(fx.icmp.error_route_allow(packet_of(other_bytes).saddr, fx.clock.now_ns()));
}

TEST(IcmpSend, GlobalBurstThenMsgsPerSec) {
    IcmpConfig cfg;
    cfg.icmp_msgs_burst = 50;
    cfg.icmp_msgs_per_sec = 1000;
    Fixture fx(cfg);
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 80; ++i) frames.push_back(offending(ipv4(198, 19, 0, i + 1)).build());
    int queued = 0, limited = 0;
    for (int i = 0; i < 60; ++i) {
        auto p = packet_of(frames[i]);
        (fx.send(p) == IcmpResult::kQueued ? queued : limited)++;
        if (fx.txq.full()) fx.flush();
    }
    EXPECT_EQ(queued, 50);
    EXPECT_EQ(limited, 10);
    // 19 ms later: still nothing (refills happen in steps of at least HZ/50 = 20 ms).
    fx.clock.advance_ms(19);
    auto p60 = packet_of(frames[60]);
    EXPECT_EQ(fx.send(p60), IcmpResult::kRateLimited);
    // 20 ms after the last refill: 1000/s * 20 ms = 20 more.
    fx.clock.advance_ms(1);
    queued = limited = 0;
    for (int i = 60; i < 80; ++i) {
        auto p = packet_of(frames[i]);
        (fx.send(p) == IcmpResult::kQueued ? queued : limited)++;
        if (fx.txq.full()) fx.flush();
    }
    EXPECT_EQ(queued, 20);
    EXPECT_EQ(limited, 0);
    auto q = packet_of(frames[0]);
    EXPECT_EQ(fx.send(q), IcmpResult::kRateLimited);
    EXPECT_COUNTERS(fx.c.snapshot(), ({{"IcmpOutMsgs", 70},
                                       {"IcmpOutDestUnreachs", 70},
                                       {"IcmpMsgOutType3", 70},
                                       {"IcmpOutRateLimitGlobal", 12}}));
}

TEST(IcmpSend, HostLimitedMessageSpendsNoGlobalCredit) {
    IcmpConfig cfg;
    cfg.icmp_msgs_burst = 10;
    Fixture fx(cfg);
    auto a = offending(ipv4(198, 19, 0, 1)).build();
    auto pa = packet_of(a);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(fx.send(pa), IcmpResult::kQueued);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fx.send(pa), IcmpResult::kRateLimited);
    // Four credits are left for other hosts (icmp_global_consume runs only after
    // icmpv4_xrlim_allow said yes).
    for (int h = 2; h < 6; ++h) {
        auto b = offending(ipv4(198, 19, 0, h)).build();
        auto pb = packet_of(b);
        EXPECT_EQ(fx.send(pb), IcmpResult::kQueued) << h;
    }
    auto f = offending(ipv4(198, 19, 0, 9)).build();
    auto pf = packet_of(f);
    EXPECT_EQ(fx.send(pf), IcmpResult::kRateLimited);
    EXPECT_COUNTERS(fx.c.snapshot(), ({{"IcmpOutMsgs", 10},
                                       {"IcmpOutDestUnreachs", 10},
                                       {"IcmpMsgOutType3", 10},
                                       {"IcmpOutRateLimitHost", 4},
                                       {"IcmpOutRateLimitGlobal", 1}}));
}

TEST(IcmpSend, RatemaskAndFragNeededAreNotLimited) {
    auto bytes = offending().build();
    auto p = packet_of(bytes);
    {
        Fixture fx;  // frag needed (3/4) is never limited
        for (int i = 0; i < 10; ++i) EXPECT_EQ(fx.send(p, 3, 4), IcmpResult::kQueued) << i;
    }
    {
        IcmpConfig cfg;
        cfg.icmp_ratemask = 0;  // no type limited
        Fixture fx(cfg);
        for (int i = 0; i < 10; ++i) EXPECT_EQ(fx.send(p), IcmpResult::kQueued) << i;
        EXPECT_COUNTERS(
            fx.c.snapshot(),
            ({{"IcmpOutMsgs", 10}, {"IcmpOutDestUnreachs", 10}, {"IcmpMsgOutType3", 10}}));
    }
    {
        IcmpConfig cfg;
        cfg.icmp_ratelimit_ms = 0;  // per-host limit off; the global one still applies
        cfg.icmp_msgs_burst = 8;
        Fixture fx(cfg);
        int queued = 0;
        for (int i = 0; i < 10; ++i) queued += fx.send(p) == IcmpResult::kQueued;
        EXPECT_EQ(queued, 8);
    }
}

TEST(IcmpSend, NoRouteBackToTheSourceSendsAndCountsNothing) {
    // __icmp_send -> icmp_route_lookup(): no route to the offending datagram's source, or one
    // fib_lookup() fails on (blackhole, unreachable, prohibit, throw: fib_props[].error), and
    // the kernel gives up silently. (Found by tests/differential: icmp-no-route-back.)
    RouteConfig cfg = test::default_route_config();  // 198.18.0.0/24 on ifindex 1
    cfg.routes.push_back(
        {.prefix = ipv4(198, 19, 0, 0), .prefix_len = 16, .type = RouteType::kBlackhole});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 20, 0, 0), .prefix_len = 16, .type = RouteType::kUnreachable});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 21, 0, 0), .prefix_len = 16, .type = RouteType::kProhibit});
    cfg.routes.push_back(
        {.prefix = ipv4(198, 22, 0, 0), .prefix_len = 16, .type = RouteType::kThrow});
    RouteTables rt(cfg);
    Fixture fx;
    fx.icmp.set_routes(&rt);
    for (wire::Ipv4Addr src : {ipv4(203, 0, 113, 9), ipv4(198, 19, 5, 5), ipv4(198, 20, 5, 5),
                               ipv4(198, 21, 5, 5), ipv4(198, 22, 5, 5)}) {
        auto bytes = offending(src).build();
        EXPECT_EQ(fx.send(packet_of(bytes)), IcmpResult::kNotAllowed);
    }
    auto bytes = offending().build();
    EXPECT_EQ(fx.send(packet_of(bytes)), IcmpResult::kQueued) << "198.18.0.2 is on-link";
    EXPECT_EQ(fx.flush().size(), 1u);
    EXPECT_COUNTERS(fx.c.snapshot(),
                    ({{"IcmpOutMsgs", 1}, {"IcmpOutDestUnreachs", 1}, {"IcmpMsgOutType3", 1}}));
}

TEST(IcmpSend, ErrorToOurOwnAddressIsLoopedNotTransmitted) {
    // __icmp_send() about a datagram from our own address (accept_local): icmp_route_lookup()
    // finds the LOCAL route, whose output device is lo, and loopback_xmit() hands the error to
    // our own ip_rcv(). Nothing is transmitted; it is counted as sent; the per-host limit does
    // not apply on loopback (icmpv4_xrlim_allow), so all ten of a burst go where six would
    // leave for another host. (Found by tests/differential: icmp-to-own-address.)
    RouteTables rt(test::default_route_config());
    Fixture fx;
    fx.icmp.set_routes(&rt);
    auto bytes = offending(kLocal).build();
    for (int i = 0; i < 10; ++i) EXPECT_EQ(fx.send(packet_of(bytes)), IcmpResult::kQueued) << i;
    EXPECT_EQ(fx.txq.size(), 0u);
    ASSERT_EQ(fx.icmp.looped(), 10u);
    std::array<core::Packet, io::TxQueue::kCapacity> out;
    ASSERT_EQ(fx.icmp.take_looped(out.data()), 10u);
    EXPECT_EQ(fx.icmp.looped(), 0u);
    const core::Packet& p = out[0];
    EXPECT_EQ(p.ifindex, rt.loopback_ifindex());
    EXPECT_EQ(p.flags, 0);
    EXPECT_EQ(p.l3_off, 14);
    EXPECT_EQ(p.pkt_type, core::PktType::kHost);
    // lo's Ethernet header: zero MACs, IPv4; then our own address to itself, the error's TOS.
    const std::vector<uint8_t> frame(p.data, p.data + p.len);
    EXPECT_EQ(std::vector<uint8_t>(frame.begin(), frame.begin() + 14),
              from_hex("0000000000000000000000000800"));
    const auto ip = wire::Ipv4View::try_view(std::span<const uint8_t>(frame).subspan(14));
    ASSERT_TRUE(ip);
    EXPECT_EQ(ip->src(), kLocal);
    EXPECT_EQ(ip->dst(), kLocal);
    EXPECT_EQ(ip->tos(), 0xc0);
    EXPECT_EQ(frame[14 + 20], 3);  // destination unreachable
    EXPECT_EQ(std::vector<uint8_t>(frame.begin() + 14 + 28, frame.end()),
              std::vector<uint8_t>(bytes.begin() + 14, bytes.end()))
        << "the whole offending datagram quoted";
    for (std::size_t i = 0; i < 10; ++i) fx.backend.free_bulk(&out[i].buf, 1);
    EXPECT_TRUE(fx.flush().empty());
    EXPECT_COUNTERS(fx.c.snapshot(), ({{"IcmpOutMsgs", 10},
                                       {"IcmpOutDestUnreachs", 10},
                                       {"IcmpMsgOutType3", 10},
                                       {"IpOutRequests", 10},
                                       {"IpOutTransmits", 10},
                                       {"IpExtOutOctets", 10 * 74}}));
}

TEST(IcmpSend, EchoReplyToOurOwnAddressIsLoopedWhole) {
    // icmp_reply() to one of our addresses: out of lo, whose MTU (65536) never fragments it.
    RouteTables rt(test::default_route_config());
    IcmpConfig cfg;
    cfg.mtu = 100;
    Fixture fx(cfg);
    fx.icmp.set_routes(&rt);
    auto bytes = offending(kLocal).build();
    std::vector<uint8_t> body(200, 0xab);
    EXPECT_EQ(fx.icmp.reply(packet_of(bytes), 0, 0, 0x12340001, body, kLocal, 0, fx.c),
              IcmpResult::kQueued);
    ASSERT_EQ(fx.icmp.looped(), 1u);
    std::array<core::Packet, io::TxQueue::kCapacity> out;
    ASSERT_EQ(fx.icmp.take_looped(out.data()), 1u);
    EXPECT_EQ(out[0].len, 14u + 20 + 8 + 200) << "one datagram, not fragments";
    fx.backend.free_bulk(&out[0].buf, 1);
    EXPECT_TRUE(fx.flush().empty());
    EXPECT_COUNTERS(fx.c.snapshot(), ({{"IcmpOutMsgs", 1},
                                       {"IcmpOutEchoReps", 1},
                                       {"IcmpMsgOutType0", 1},
                                       {"IpOutRequests", 1},
                                       {"IpOutTransmits", 1},
                                       {"IpExtOutOctets", 228}}));
}

TEST(IcmpSend, NoBufferIsOutErrors) {
    auto bytes = offending().build();
    auto p = packet_of(bytes);
    io::MemoryBackend tiny(1, 1, 1, 2048);
    core::Packet hold;
    ASSERT_TRUE(tiny.try_alloc(hold, 64));  // the only buffer
    io::TxQueue txq;
    core::CounterBlock c;
    IcmpSender icmp(tiny, txq, {});
    EXPECT_EQ(icmp.send(p, 3, 3, 0, kLocal, 0, c), IcmpResult::kNoBuffer);
    EXPECT_COUNTERS(c.snapshot(), ({{"IcmpOutErrors", 1}}));
    tiny.free_bulk(&hold.buf, 1);
}

}  // namespace
}  // namespace ingress::ipv4
