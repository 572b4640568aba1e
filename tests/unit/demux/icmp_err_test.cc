// ICMP errors to the endpoints they concern (net/ipv4/udp.c __udp4_lib_err, net/ipv4/raw.c
// raw_icmp_error / raw_err, net/ipv4/ip_sockglue.c ip_icmp_error): which errno a connected,
// an unconnected and an IP_RECVERR endpoint are given for each type and code, what the error
// queue entry holds, what a full queue does, the PMTU "fragmentation needed" records, and the
// counters.
#include "demux/icmp_err.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "demux/icmp_rcv.h"
#include "support/demux.h"
#include "wire/bytes.h"
#include "wire/icmp.h"

namespace ingress::demux {
namespace {

using test::kLocal;
using test::kPeer;
using test::kPeer2;
using wire::FrameBuilder;

constexpr std::size_t kEth = 14, kIp = 20, kUdpHdr = 8;
constexpr uint16_t kOurPort = 4000, kTheirPort = 5000;
constexpr std::size_t kInnerPayload = 18;

// The datagram we sent (kLocal:4000 -> kPeer:5000), as the error quotes it.
std::vector<uint8_t> our_datagram() {
    auto f = test::udp_to(kPeer, kTheirPort, kLocal, kOurPort, kInnerPayload).build();
    return {f.begin() + kEth, f.end()};
}

// An ICMP error about it, from a router (kPeer2).
std::vector<uint8_t> error_frame(uint8_t type, uint8_t code, uint32_t rest = 0,
                                 std::vector<uint8_t> inner = our_datagram()) {
    return FrameBuilder()
        .eth(test::kPeerMac, test::kPortMac)
        .ipv4(kPeer2, kLocal)
        .icmp(type, code, rest)
        .payload(std::move(inner))
        .build();
}

uint32_t sk_err(const ShmRings& r) {
    shm::RingConsumer c(r.region(0).data());
    return c.sk_err();
}

struct ErrEntry {
    shm::SlotMeta meta;
    ingress_sock_err ee;
    std::vector<uint8_t> payload;
};
// What recvmsg(MSG_ERRQUEUE) would return, oldest first (released as an app would).
std::vector<ErrEntry> err_queue(const ShmRings& r) {
    std::vector<ErrEntry> out;
    const shm::Region& reg = r.region(0);
    void* q = shm::err_queue_of(reg.data(), reg.size());
    if (!q) {
        ADD_FAILURE() << "no error queue in the region";
        return out;
    }
    shm::RingConsumer c(q);
    uint32_t idx;
    const uint32_t n = c.peek(UINT32_MAX, &idx);
    for (uint32_t i = 0; i < n; ++i) {
        auto p = c.payload(idx + i);
        ErrEntry e{c.meta(idx + i), {}, {}};
        if (p.size() >= sizeof e.ee) {
            std::memcpy(&e.ee, p.data(), sizeof e.ee);
            e.payload.assign(p.begin() + sizeof e.ee, p.end());
        }
        out.push_back(std::move(e));
    }
    c.release(n);
    return out;
}

// --- the conversion tables ---------------------------------------------------------------

struct ErrCase {
    const char* name;
    uint8_t type, code;
    uint32_t err;  // what IP_RECVERR reports (0: nothing)
    bool hard;     // what a connected endpoint without IP_RECVERR is told
};
const ErrCase kCases[] = {
    {"NetUnreach", 3, 0, ENETUNREACH, false},
    {"HostUnreach", 3, 1, EHOSTUNREACH, false},
    {"ProtUnreach", 3, 2, ENOPROTOOPT, true},
    {"PortUnreach", 3, 3, ECONNREFUSED, true},
    {"FragNeeded", 3, 4, EMSGSIZE, true},
    {"SourceRouteFailed", 3, 5, EOPNOTSUPP, false},
    {"NetUnknown", 3, 6, ENETUNREACH, true},
    {"HostUnknown", 3, 7, EHOSTDOWN, true},
    {"HostIsolated", 3, 8, ENONET, true},
    {"NetProhibited", 3, 9, ENETUNREACH, true},
    {"HostProhibited", 3, 10, EHOSTUNREACH, true},
    {"NetUnreachTos", 3, 11, ENETUNREACH, false},
    {"HostUnreachTos", 3, 12, EHOSTUNREACH, false},
    {"PktFiltered", 3, 13, EHOSTUNREACH, true},
    {"PrecViolation", 3, 14, EHOSTUNREACH, true},
    {"PrecCutoff", 3, 15, EHOSTUNREACH, true},
    {"TtlExceeded", 11, 0, EHOSTUNREACH, false},
    {"ParameterProblem", 12, 0, EPROTO, true},
    {"SourceQuench", 4, 0, 0, false},
};

class UdpErr : public ::testing::TestWithParam<ErrCase> {};

// A connected endpoint without IP_RECVERR: hard errors only, once, as sk_err.
TEST_P(UdpErr, ConnectedEndpointIsToldHardErrorsOnly) {
    const ErrCase& k = GetParam();
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, kOurPort).connect(kPeer, kTheirPort);
    h.builder.add(ep);
    h.publish();
    h.run_one(error_frame(k.type, k.code, k.code == 4 ? 1400 : 0));
    EXPECT_EQ(sk_err(ep.rings()), k.hard ? k.err : 0u);
    EXPECT_EQ(ep.rings().err_queued(), 0u);
    EXPECT_EQ(h.snap().mib_value(core::Mib::kIcmpInErrors), 0u);  // the endpoint was found
    EXPECT_TRUE(test::take(ep.rings()).empty());                  // nothing in the data queue
}

// An unconnected endpoint without IP_RECVERR: nothing (the error "is useless").
TEST_P(UdpErr, UnconnectedEndpointIsToldNothing) {
    const ErrCase& k = GetParam();
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(0, kOurPort);
    h.builder.add(ep);
    h.publish();
    h.run_one(error_frame(k.type, k.code));
    EXPECT_EQ(sk_err(ep.rings()), 0u);
    EXPECT_EQ(ep.rings().err_queued(), 0u);
    EXPECT_EQ(h.snap().mib_value(core::Mib::kIcmpInErrors), 0u);
}

// IP_RECVERR: every error but source quench is queued and set as sk_err, connected or not.
TEST_P(UdpErr, RecverrEndpointQueuesEveryErrorWithItsFields) {
    const ErrCase& k = GetParam();
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(0, kOurPort).set_recverr(true);
    h.builder.add(ep);
    h.publish();
    const uint32_t rest = k.type == 12 ? 0x05000000u : k.code == 4 && k.type == 3 ? 1400u : 0u;
    h.run_one(error_frame(k.type, k.code, rest));
    EXPECT_EQ(sk_err(ep.rings()), k.err);
    const auto q = err_queue(ep.rings());
    if (k.err == 0) {
        EXPECT_TRUE(q.empty());
        return;
    }
    ASSERT_EQ(q.size(), 1u);
    const ErrEntry& e = q[0];
    EXPECT_EQ(e.ee.ee_errno, k.err);
    EXPECT_EQ(e.ee.ee_origin, INGRESS_SO_EE_ORIGIN_ICMP);
    EXPECT_EQ(e.ee.ee_type, k.type);
    EXPECT_EQ(e.ee.ee_code, k.code);
    // icmp_unreach()'s info: the MTU of frag needed, the pointer of a parameter problem.
    EXPECT_EQ(e.ee.ee_info, k.type == 12 ? 5u : k.type == 3 && k.code == 4 ? 1400u : 0u);
    EXPECT_EQ(e.ee.ee_data, 0u);
    EXPECT_EQ(e.ee.offender, kPeer2);  // SO_EE_OFFENDER: who sent the ICMP message
    // msg_name: the quoted destination and port; IP_PKTINFO of the ICMP message.
    EXPECT_EQ(e.meta.src_addr, kPeer);
    EXPECT_EQ(e.meta.src_port, kTheirPort);
    EXPECT_EQ(e.meta.dst_addr, kLocal);
    EXPECT_EQ(e.meta.protocol, wire::kIpProtoUdp);
    // The payload after the quoted UDP header.
    const auto inner = our_datagram();
    EXPECT_EQ(e.payload, std::vector<uint8_t>(inner.begin() + kIp + kUdpHdr, inner.end()));
    EXPECT_EQ(e.meta.len, sizeof(ingress_sock_err) + kInnerPayload);
}

INSTANTIATE_TEST_SUITE_P(EachTypeAndCode, UdpErr, ::testing::ValuesIn(kCases),
                         [](const auto& i) { return std::string(i.param.name); });

TEST(UdpErr, FragNeededWithPmtudiscDontIsNoErrorButTheMtuIsRecorded) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, kOurPort).connect(kPeer, kTheirPort).set_recverr(true);
    ep.set_pmtudisc(PmtuDisc::kDont);
    h.builder.add(ep);
    h.publish();
    h.run_one(error_frame(3, 4, 1280));
    EXPECT_EQ(sk_err(ep.rings()), 0u);
    EXPECT_TRUE(err_queue(ep.rings()).empty());
    EXPECT_EQ(h.pipeline().pmtu().lookup(kPeer, h.clock.now_ns()), 1280u);
}

TEST(UdpErr, FragNeededRecordsThePathMtuOfTheQuotedDestination) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(0, kOurPort);
    h.builder.add(ep);
    h.publish();
    h.run_one(error_frame(3, 4, 1400));
    EXPECT_EQ(h.pipeline().pmtu().lookup(kPeer, h.clock.now_ns()), 1400u);
    EXPECT_EQ(h.pipeline().pmtu().lookup(kPeer2, h.clock.now_ns()), 0u);
}

TEST(UdpErr, FragNeededNobodySentRecordsNothingAndIsAnInError) {
    // ipv4_sk_update_pmtu() runs only once __udp4_lib_err found the socket.
    test::DemuxHarness h;
    h.publish();
    h.run_one(error_frame(3, 4, 1400));
    EXPECT_EQ(h.pipeline().pmtu().lookup(kPeer, h.clock.now_ns()), 0u);
    EXPECT_EQ(h.snap().mib_value(core::Mib::kIcmpInErrors), 1u);
}

TEST(UdpErr, ErrorForAnotherPortReachesNobody) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, kOurPort + 1).connect(kPeer, kTheirPort);
    h.builder.add(ep);
    h.publish();
    h.run_one(error_frame(3, 3));
    EXPECT_EQ(sk_err(ep.rings()), 0u);
    EXPECT_EQ(h.snap().mib_value(core::Mib::kIcmpInErrors), 1u);
}

// --- the error queue's bound: sock_queue_err_skb() ------------------------------------------

// What one error_frame() entry is charged: the ICMP message's skb truesize (skb_clone keeps it).
const uint32_t kErrCharge = skb_truesize(static_cast<uint32_t>(error_frame(3, 3).size()));

// A UDP endpoint with IP_RECVERR and sk_rcvbuf `rcvbuf` (0: never set, rmem_default).
struct RecverrEndpoint {
    explicit RecverrEndpoint(uint32_t rcvbuf = 0, uint32_t err_slots = ShmRings::kDefaultErrSlots)
        : ep(std::make_shared<ShmRings>(900, 1, shm::RingGeometry{1024, 2048}, err_slots)) {
        ep.bind(0, kOurPort).set_recverr(true);
        if (rcvbuf) ep.set_rcvbuf(rcvbuf);
        h.builder.add(ep);
        h.publish();
    }
    void errors(int n) {
        for (int i = 0; i < n; ++i) h.run_one(error_frame(3, 3));
    }
    void datagrams(int n, std::size_t payload = 100) {
        for (int i = 0; i < n; ++i)
            h.run_one(test::udp_to(kLocal, kOurPort, kPeer, kTheirPort, payload).build());
    }
    // The error queue's entries queued and lost, and sk_err set regardless.
    void expect_errq(uint64_t queued, uint64_t lost) {
        EXPECT_EQ(ep.rings().err_queued(), queued);
        EXPECT_EQ(ep.rings().err_dropped(), lost);
        EXPECT_EQ(sk_err(ep.rings()), uint32_t{ECONNREFUSED});
    }
    uint64_t rcvbuf_errors() { return h.snap().mib_value(core::Mib::kUdpRcvbufErrors); }
    test::DemuxHarness h;
    UdpEndpoint ep;
};

TEST(UdpErrQueue, BoundedByTheReceiveBudgetWithEachEntryChargedItsTruesize) {
    // rmem_default (212992): rmem_alloc + 832 >= rcvbuf refuses the 256th entry, so 255 are
    // kept; each is charged, and the charge is what rmem (sk_rmem_alloc) shows.
    ASSERT_EQ(kErrCharge, 832u);
    RecverrEndpoint t;
    t.errors(300);
    const uint32_t fit = (kRmemDefault - 1) / kErrCharge;
    ASSERT_EQ(fit, 255u);
    t.expect_errq(fit, 300u - fit);
    EXPECT_EQ(t.ep.rings().rmem(), uint64_t{fit} * kErrCharge);
    EXPECT_EQ(t.h.snap().mib_value(core::Mib::kIcmpInErrors), 0u);  // no MIB for a refusal
    EXPECT_EQ(err_queue(t.ep.rings()).size(), fit);
    EXPECT_EQ(t.ep.rings().rmem(), 0u) << "reading an entry releases its charge (sock_rmem_free)";
    t.errors(1);
    EXPECT_EQ(t.ep.rings().err_queued(), fit + 1);
}

TEST(UdpErrQueue, RefusedWhenTheChargeReachesTheBudgetExactly) {
    // ">= sk_rcvbuf": two entries (1664) and a third reaching 2496 exactly is refused, where a
    // datagram reaching the budget exactly would fit; one byte more of budget takes it.
    for (const auto& [rcvbuf, kept] : {std::pair{3u * 832, 2u}, std::pair{3u * 832 + 1, 3u}}) {
        RecverrEndpoint t(rcvbuf);
        t.errors(5);
        EXPECT_EQ(t.ep.rings().err_queued(), kept) << "rcvbuf " << rcvbuf;
        EXPECT_EQ(t.ep.rings().err_dropped(), 5u - kept) << "rcvbuf " << rcvbuf;
    }
}

TEST(UdpErrQueue, LoneEntryLargerThanTheBudgetIsRefusedUnlikeADatagram) {
    // __udp_enqueue_schedule_skb() accepts a lone datagram over the budget; sock_queue_err_skb()
    // has no such exception. An error quoting 1400 bytes costs 2304, as much as SOCK_MIN_RCVBUF.
    RecverrEndpoint t(kSockMinRcvbuf);
    auto inner = test::udp_to(kPeer, kTheirPort, kLocal, kOurPort, 1400).build();
    const auto big = error_frame(3, 3, 0, {inner.begin() + kEth, inner.end()});
    ASSERT_EQ(skb_truesize(static_cast<uint32_t>(big.size())), kSockMinRcvbuf);
    t.h.run_one(big);
    t.expect_errq(0, 1);
    t.datagrams(1, 1400);
    EXPECT_EQ(test::take(t.ep.rings()).size(), 1u);
    EXPECT_EQ(t.rcvbuf_errors(), 0u);
}

TEST(UdpErrQueue, QueuedErrorsLeaveLessRoomForDatagrams) {
    // One sk_rmem_alloc for both queues: SO_RCVBUF 2304 (4608) holds five 832-byte datagrams
    // (4160); with two errors queued (1664) only three more fit (4160), the rest are
    // RcvbufErrors; once the app has read the errors their room is back.
    RecverrEndpoint t(so_rcvbuf(2304, kRmemMax));
    t.errors(2);
    t.datagrams(5);
    EXPECT_EQ(t.ep.rings().delivered(), 3u);
    EXPECT_EQ(t.rcvbuf_errors(), 2u);
    EXPECT_EQ(t.h.snap().drop_value(core::DropReason::kSocketRcvbuff), 2u);
    EXPECT_EQ(t.ep.rings().rmem(), 2u * kErrCharge + 3u * 832);
    EXPECT_EQ(err_queue(t.ep.rings()).size(), 2u);
    t.datagrams(3);
    EXPECT_EQ(t.ep.rings().delivered(), 5u);
    EXPECT_EQ(t.rcvbuf_errors(), 3u);
}

TEST(UdpErrQueue, DatagramsQueuedFirstLeaveRoomForFewerErrors) {
    // SO_RCVBUF 2304 (4608): four 832-byte datagrams (3328), then one error fits (4160 <
    // 4608) and the next would reach 4992: refused.
    RecverrEndpoint t(so_rcvbuf(2304, kRmemMax));
    t.datagrams(4);
    t.errors(3);
    t.expect_errq(1, 2);
    EXPECT_EQ(t.rcvbuf_errors(), 0u);
}

TEST(UdpErrQueue, SlotCapBelowTheBudgetLosesTheEntryButStillSetsSkErr) {
    // A queue sized below its budget (a budget beyond kErrQueueMaxSlots entries) is full
    // first: the entry is lost as a refused one is, and sk_err is set regardless.
    RecverrEndpoint t(0, 4);
    t.errors(5);
    t.expect_errq(4, 1);
    EXPECT_EQ(err_queue(t.ep.rings()).size(), 4u);
}

TEST(UdpErrQueue, SizedSoThatTheBudgetBoundsIt) {
    EXPECT_EQ(err_queue_slots(kRmemDefault), 256u);
    EXPECT_EQ(err_queue_slots(so_rcvbuf(kRmemMax, kRmemMax)), 512u);  // 511 entries
    EXPECT_EQ(err_queue_slots(so_rcvbuf(4194304, 4194304)), 16384u);  // 10082 entries
    EXPECT_EQ(err_queue_slots(INT_MAX), kErrQueueMaxSlots);
    EXPECT_EQ(err_queue_slots(kSockMinRcvbuf), 2u);
    EXPECT_EQ(test::rings()->region(0).size(),
              test::rings()->geometry().region_size() +
                  shm::err_ring_geometry(ShmRings::kDefaultErrSlots).region_size());
}

TEST(UdpErr, ErrorQueueRefusedWhenTheReceiveBudgetIsUsed) {
    // sock_queue_err_skb(): rmem_alloc + truesize >= rcvbuf -> -ENOMEM.
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(0, kOurPort).set_recverr(true).set_rcvbuf(kSockMinRcvbuf);
    h.builder.add(ep);
    h.publish();
    // Fill the budget with datagrams to the endpoint.
    for (int i = 0; i < 4; ++i)
        h.run_one(test::udp_to(kLocal, kOurPort, kPeer, kTheirPort, 1400).build());
    ASSERT_GE(ep.rings().rmem(), 1u);
    h.run_one(error_frame(3, 3));
    EXPECT_EQ(ep.rings().err_queued(), 0u);
    EXPECT_EQ(ep.rings().err_dropped(), 1u);
    EXPECT_EQ(sk_err(ep.rings()), uint32_t{ECONNREFUSED});
}

TEST(UdpErr, PendingErrorKeepsASleepingAppAwake) {
    // sk_error_report(): poll reports POLLERR; here prepare_sleep refuses to sleep.
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, kOurPort).connect(kPeer, kTheirPort);
    h.builder.add(ep);
    h.publish();
    shm::RingConsumer c(ep.rings().region(0).data());
    ASSERT_TRUE(c.prepare_sleep());
    h.run_one(error_frame(3, 3));
    EXPECT_EQ(c.header()->wakeups.load(), 1u);  // the doorbell rang
    EXPECT_FALSE(c.prepare_sleep());
    EXPECT_EQ(c.take_sk_err(), uint32_t{ECONNREFUSED});  // sock_error(): once
    EXPECT_EQ(c.take_sk_err(), 0u);
    EXPECT_TRUE(c.prepare_sleep());
}

// --- raw endpoints -------------------------------------------------------------------------

TEST(RawErr, ConnectedRawEndpointOfTheQuotedProtocolGetsHardErrors) {
    test::DemuxHarness h;
    RawEndpoint ep(test::rings(), wire::kIpProtoUdp);
    ep.connect(kPeer);
    RawEndpoint other(test::rings(), wire::kIpProtoUdp);
    other.connect(kPeer2);  // raw_v4_match: not the quoted destination
    h.builder.add(ep);
    h.builder.add(other);
    h.publish();
    h.run_one(error_frame(3, 3));
    EXPECT_EQ(sk_err(ep.rings()), uint32_t{ECONNREFUSED});
    EXPECT_EQ(sk_err(other.rings()), 0u);
    h.run_one(error_frame(11, 0));  // soft: not reported
    shm::RingConsumer c(ep.rings().region(0).data());
    EXPECT_EQ(c.take_sk_err(), uint32_t{ECONNREFUSED});
    h.run_one(error_frame(11, 0));
    EXPECT_EQ(c.take_sk_err(), 0u);
    // No UDP endpoint sent it: __udp4_lib_err still counts IcmpInErrors.
    EXPECT_EQ(h.snap().mib_value(core::Mib::kIcmpInErrors), 3u);
}

TEST(RawErr, UnconnectedRawEndpointWithoutRecverrIsToldNothing) {
    test::DemuxHarness h;
    RawEndpoint ep(test::rings(), wire::kIpProtoUdp);
    h.builder.add(ep);
    h.publish();
    h.run_one(error_frame(3, 3));
    EXPECT_EQ(sk_err(ep.rings()), 0u);
    EXPECT_EQ(ep.rings().err_queued(), 0u);
}

TEST(RawErr, RecverrRawEndpointQueuesThePayloadAfterTheIpHeader) {
    test::DemuxHarness h;
    RawEndpoint ep(test::rings(), wire::kIpProtoUdp);
    ep.set_recverr(true);
    h.builder.add(ep);
    h.publish();
    h.run_one(error_frame(11, 0));  // soft, but IP_RECVERR reports it
    EXPECT_EQ(sk_err(ep.rings()), uint32_t{EHOSTUNREACH});
    const auto q = err_queue(ep.rings());
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].ee.ee_errno, uint32_t{EHOSTUNREACH});
    EXPECT_EQ(q[0].ee.ee_type, 11);
    EXPECT_EQ(q[0].meta.src_addr, kPeer);
    EXPECT_EQ(q[0].meta.src_port, 0);  // raw: ip_icmp_error(.., port 0, ..)
    const auto inner = our_datagram();
    EXPECT_EQ(q[0].payload, std::vector<uint8_t>(inner.begin() + kIp, inner.end()));
}

TEST(RawErr, RawFragNeededWithPmtudiscDontIsASoftEmsgsize) {
    // raw_err(): harderr = pmtudisc != IP_PMTUDISC_DONT, err EMSGSIZE either way.
    EXPECT_EQ(raw_err_of(3, 4, PmtuDisc::kDont).err, uint32_t{EMSGSIZE});
    EXPECT_FALSE(raw_err_of(3, 4, PmtuDisc::kDont).harderr);
    EXPECT_TRUE(raw_err_of(3, 4, PmtuDisc::kWant).harderr);
    EXPECT_EQ(udp_err_of(3, 4, PmtuDisc::kDont).err, 0u);  // __udp4_lib_err: goto out
}

TEST(RawErr, RawIcmpEndpointGetsItsCopyAndTheUdpEndpointItsError) {
    // icmp_rcv: raw ICMP endpoints get the ICMP message first, then icmp_unreach runs.
    test::DemuxHarness h;
    RawEndpoint icmp_ep(test::rings(), wire::kIpProtoIcmp);
    UdpEndpoint ep(test::rings());
    ep.bind(kLocal, kOurPort).connect(kPeer, kTheirPort);
    h.builder.add(icmp_ep);
    h.builder.add(ep);
    h.publish();
    const auto f = error_frame(3, 3);
    h.run_one(f);
    const auto copies = test::take(icmp_ep.rings());
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0].bytes, std::vector<uint8_t>(f.begin() + kEth, f.end()));
    EXPECT_EQ(sk_err(ep.rings()), uint32_t{ECONNREFUSED});
    EXPECT_EQ(h.snap().mib_value(core::Mib::kIcmpInDestUnreachs), 1u);
}

}  // namespace
}  // namespace ingress::demux
