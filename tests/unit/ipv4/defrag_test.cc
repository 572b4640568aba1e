// ip_defrag: the kernel's reassembly policies, each in a test named after it, asserting the
// outcome, every counter (EXPECT_COUNTERS: the ones not named must be zero) and that every
// buffer came back exactly once (backend pool and reassembly pool).
#include "ipv4/defrag.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "demux/endpoint.h"
#include "io/memory.h"
#include "io/tx_queue.h"
#include "support/counters.h"
#include "support/fake_clock.h"
#include "support/packet.h"
#include "support/pipeline_harness.h"
#include "support/rings.h"
#include "wire/checksum.h"
#include "wire/frame_builder.h"
#include "wire/icmp.h"
#include "worker/fate_sink.h"

namespace ingress::ipv4 {
namespace {

using Bytes = std::vector<uint8_t>;
using wire::FrameBuilder;
using wire::ipv4;

constexpr uint64_t kSec = 1'000'000'000;
const wire::Ipv4Addr kSrc = ipv4(198, 18, 0, 2);
const wire::Ipv4Addr kDst = ipv4(198, 18, 0, 1);

FrameBuilder datagram(uint16_t id, std::size_t payload, wire::Ipv4Addr src = kSrc) {
    return FrameBuilder()
        .eth(test::kPeerMac, test::kPortMac)
        .ipv4(src, kDst)
        .ip_id(id)
        .udp(1000, 2000)
        .payload_size(payload);
}

// The defrag stage alone over the memory backend: each frame is received, given the offsets
// rcv_core would set, run through ipv4::defrag(), and its verdict settled in a FateSink, as
// the pipeline does. A completed datagram is recorded and settled as delivered.
class Rig {
public:
    explicit Rig(DefragConfig cfg = {}) : d(cfg) { sink.set_reasm_pool(&d.buffers()); }

    core::Verdict feed(const Bytes& frame) {
        EXPECT_TRUE(backend.inject(frame));
        core::Packet p;
        EXPECT_EQ(backend.rx_burst(0, &p, 1), 1);
        c.begin_burst();
        c.rx();
        p.l3_off = 14;
        test::fill_l3_meta(p);
        core::Verdict v = defrag(p, d, clock.now_ns(), c);
        if (v.is_next()) {
            if (p.flags & core::kFlagReassembled) {
                completed.emplace_back(p.data + p.l3_off, p.data + p.len);
                frames.push_back(p.frames);
            }
            sink.settle(p, core::Verdict::delivered());
        } else {
            sink.settle(p, v);
        }
        d.reap(sink);
        sink.flush();
        c.end_burst();
        return v;
    }
    void feed_all(const std::vector<Bytes>& fs) {
        for (const auto& f : fs) feed(f);
    }
    // The timers at clock's time; ICMP errors leave through the backend's tx.
    uint32_t expire() {
        c.begin_burst();
        uint32_t n = d.expire(clock.now_ns(), icmp, c);
        d.reap(sink);
        sink.flush();
        txq.flush(backend, 0);
        c.end_burst();
        return n;
    }
    void expect_buffers_conserved() const {
        EXPECT_EQ(backend.pool().outstanding(), 0u) << "backend buffers leaked";
        EXPECT_EQ(backend.pool().double_frees(), 0u) << "backend buffers freed twice";
        EXPECT_EQ(d.buffers().outstanding(), 0u) << "reassembly buffers leaked";
        EXPECT_EQ(d.buffers().double_frees(), 0u) << "reassembly buffers freed twice";
        EXPECT_EQ(d.queues(), 0u) << "queues left";
        EXPECT_EQ(d.mem(), 0u) << "memory accounting not back to zero";
    }
    core::Snapshot snap() const { return c.snapshot(); }

    io::MemoryBackend backend{1, 1, 8192, 2048};
    core::CounterBlock c;
    worker::FateSink sink{backend, c};
    io::TxQueue txq;
    IcmpSender icmp{backend, txq, IcmpConfig{}};
    test::FakeClock clock;
    Defrag d;
    std::vector<Bytes> completed;
    std::vector<uint16_t> frames;
};

// The IP datagram the fragments were cut from, as reassembly must rebuild it.
Bytes whole_l3(const FrameBuilder& b) {
    Bytes f = b.build();
    return Bytes(f.begin() + 14, f.end());
}

// After n fragments: exactly one datagram, byte for byte b's, every frame delivered, and
// every buffer back.
void expect_one_intact(const Rig& r, const FrameBuilder& b, uint64_t n) {
    ASSERT_EQ(r.completed.size(), 1u);
    EXPECT_EQ(r.completed[0], whole_l3(b));
    EXPECT_EQ(r.frames[0], n);
    EXPECT_COUNTERS(r.snap(),
                    ({{"rx", n}, {"delivered", n}, {"IpReasmReqds", n}, {"IpReasmOKs", 1}}));
    r.expect_buffers_conserved();
}

// ---- order ---------------------------------------------------------------------------------

struct OrderCase {
    const char* name;
    std::size_t payload;
    uint32_t frag_size;
    int order;  // 0 in order, 1 reverse, 2 shuffled
};

class DefragOrder : public ::testing::TestWithParam<OrderCase> {};

TEST_P(DefragOrder, ReassemblesToTheOriginalDatagram) {
    const OrderCase& tc = GetParam();
    Rig r;
    FrameBuilder b = datagram(7, tc.payload);
    std::vector<Bytes> fs = b.build_fragments(tc.frag_size);
    if (tc.order == 1) std::reverse(fs.begin(), fs.end());
    if (tc.order == 2) std::shuffle(fs.begin(), fs.end(), std::mt19937(42));
    const uint64_t n = fs.size();
    for (uint64_t i = 0; i < n; ++i) {
        core::Verdict v = r.feed(fs[i]);
        EXPECT_EQ(v.is_next(), i + 1 == n) << "fragment " << i;
    }
    expect_one_intact(r, b, n);
}

INSTANTIATE_TEST_SUITE_P(Orders, DefragOrder,
                         ::testing::Values(OrderCase{"TwoInOrder", 1000, 1000, 0},
                                           OrderCase{"TwoReverse", 1000, 1000, 1},
                                           OrderCase{"FourInOrder", 4000, 1024, 0},
                                           OrderCase{"FourReverse", 4000, 1024, 1},
                                           OrderCase{"FourShuffled", 4000, 1024, 2},
                                           OrderCase{"FortyFourInOrder", 44 * 1480 - 8, 1480, 0},
                                           OrderCase{"FortyFourReverse", 44 * 1480 - 8, 1480, 1},
                                           OrderCase{"FortyFourShuffled", 44 * 1480 - 8, 1480, 2},
                                           OrderCase{"TinyEightByteFragments", 200, 8, 2}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- duplicates and overlaps (inet_frag_queue_insert) ---------------------------------------

// A datagram of 64 transport bytes cut in 16-byte pieces: [0,16) [16,32) [32,48) [48,64).
FrameBuilder d64() {
    return datagram(9, 56);
}
Bytes piece(uint32_t off, uint32_t len, bool more) {
    return d64().build_fragment(off, len, more);
}

// A duplicate is dropped alone (DUP_FRAG) and the datagram still completes.
struct DupCase {
    const char* name;
    std::vector<std::array<uint32_t, 3>> before;  // offset, len, more
    std::array<uint32_t, 3> dup;
    std::vector<std::array<uint32_t, 3>> after;
};

class DefragDuplicate : public ::testing::TestWithParam<DupCase> {};

TEST_P(DefragDuplicate, IsDroppedAndTheDatagramStillCompletes) {
    const DupCase& tc = GetParam();
    Rig r;
    for (auto [o, l, m] : tc.before) r.feed(piece(o, l, m));
    auto [o, l, m] = tc.dup;
    EXPECT_EQ(r.feed(piece(o, l, m)), core::Verdict::drop(core::DropReason::kDupFrag));
    for (auto [o2, l2, m2] : tc.after) r.feed(piece(o2, l2, m2));
    ASSERT_EQ(r.completed.size(), 1u);
    EXPECT_EQ(r.completed[0], whole_l3(d64()));
    const uint64_t n = tc.before.size() + tc.after.size();
    EXPECT_COUNTERS(r.snap(), ({{"rx", n + 1},
                                {"delivered", n},
                                {"DUP_FRAG", 1},
                                {"IpReasmReqds", n + 1},
                                {"IpReasmOKs", 1}}));
    r.expect_buffers_conserved();
}

INSTANTIATE_TEST_SUITE_P(
    Duplicates, DefragDuplicate,
    ::testing::Values(
        DupCase{"Exact", {{0, 16, 1}}, {0, 16, 1}, {{16, 16, 1}, {32, 16, 1}, {48, 16, 0}}},
        // [0,16) then [16,32) in order form one run [0,32); [8,24) lies inside the run, so
        // the kernel drops it as a duplicate though it matches no single fragment.
        DupCase{"InsideARunNotAnOverlap",
                {{0, 16, 1}, {16, 16, 1}},
                {8, 16, 1},
                {{32, 16, 1}, {48, 16, 0}}},
        DupCase{"SameLastFragmentTwice", {{48, 16, 0}}, {48, 16, 0}, {{0, 48, 1}}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Defrag, SpanningTwoRunsIsAnOverlapEvenWhenTheDataIsCovered) {
    // [32,48) first, then [0,16) and [16,32) go in by search: three runs of one fragment.
    // [8,24) now crosses two runs: an overlap, which kills the datagram.
    Rig r;
    r.feed(piece(32, 16, true));
    r.feed(piece(0, 16, true));
    r.feed(piece(16, 16, true));
    EXPECT_EQ(r.feed(piece(8, 16, true)), core::Verdict::drop(core::DropReason::kFragOverlap));
    EXPECT_COUNTERS(r.snap(), ({{"rx", 4},
                                {"FRAG_OVERLAP", 4},
                                {"IpReasmReqds", 4},
                                {"IpReasmFails", 1},
                                {"IpExtReasmOverlaps", 1}}));
    r.expect_buffers_conserved();
}

// A fragment that does not fit the datagram kills it: every held frame and the offender are
// dropped with one reason. Overlaps (RFC 5722) also count IpExtReasmOverlaps.
struct KillCase {
    const char* name;
    std::vector<std::array<uint32_t, 3>> held;  // offset, len, more
    std::array<uint32_t, 3> offender;
    core::DropReason reason = core::DropReason::kFragOverlap;
};

class DefragKill : public ::testing::TestWithParam<KillCase> {};

TEST_P(DefragKill, KillsTheWholeDatagram) {
    const KillCase& tc = GetParam();
    Rig r;
    for (auto [o, l, m] : tc.held) EXPECT_EQ(r.feed(piece(o, l, m)), core::Verdict::held());
    auto [o, l, m] = tc.offender;
    EXPECT_EQ(r.feed(piece(o, l, m)), core::Verdict::drop(tc.reason));
    const uint64_t n = tc.held.size() + 1;
    const bool overlap = tc.reason == core::DropReason::kFragOverlap;
    EXPECT_COUNTERS(r.snap(), ({{"rx", n},
                                {std::string(core::drop_reason_name(tc.reason)), n},
                                {"IpReasmReqds", n},
                                {"IpReasmFails", 1},
                                {"IpExtReasmOverlaps", overlap ? 1 : 0}}));
    EXPECT_EQ(r.d.queues(), 0u);
    // A later fragment of the datagram starts a new queue, which can only time out.
    r.feed(piece(0, 16, true));
    r.clock.advance_s(30);
    EXPECT_EQ(r.expire(), 1u);
    r.expect_buffers_conserved();
}

constexpr auto kInvalid = core::DropReason::kFragInvalid;

INSTANTIATE_TEST_SUITE_P(
    Policies, DefragKill,
    ::testing::Values(
        // ip_frag_queue(): a non-last fragment shorter than 8 is empty once trimmed.
        KillCase{"NonLastShorterThan8IsEmpty", {{16, 16, 1}}, {0, 7, 1}, kInvalid},
        // A last fragment ending below data already held.
        KillCase{"LastEndingBeforeHeldData", {{0, 16, 1}, {16, 16, 1}}, {16, 8, 0}, kInvalid},
        // A second last fragment with a different end.
        KillCase{"SecondLastThatDisagrees", {{16, 16, 0}}, {32, 16, 0}, kInvalid},
        // A fragment reaching past the end a last fragment set.
        KillCase{"BeyondTheLastFragmentsEnd", {{16, 16, 0}}, {32, 16, 1}, kInvalid},
        // inet_frag_queue_insert(), RFC 5722:
        // Starts before a held fragment and ends inside it.
        KillCase{"OverlapHead", {{16, 16, 1}}, {8, 16, 1}},
        // Starts inside the tail run and ends after it (the tail fast path).
        KillCase{"OverlapTail", {{0, 16, 1}, {16, 16, 1}}, {24, 16, 1}},
        // Covers a held fragment entirely.
        KillCase{"OverlapCovering", {{16, 16, 1}}, {8, 32, 1}},
        // Ends inside a run that is not the tail (the search path).
        KillCase{"OverlapEndingInsideANonTailRun", {{16, 16, 1}, {48, 16, 0}}, {8, 16, 1}},
        // A last fragment that overlaps the held tail.
        KillCase{"OverlapByALastFragment", {{32, 16, 1}}, {40, 24, 0}}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- lengths and the last fragment (ip_frag_queue) ------------------------------------------

TEST(Defrag, NonLastFragmentIsTrimmedToAMultipleOf8) {
    // 13 bytes with MF: the kernel keeps 8 (end &= ~7); the next fragment starts at 8.
    Rig r;
    FrameBuilder b = d64();
    EXPECT_EQ(r.feed(b.build_fragment(0, 13, true)), core::Verdict::held());
    EXPECT_TRUE(r.feed(b.build_fragment(8, 56, false)).is_next());
    ASSERT_EQ(r.completed.size(), 1u);
    EXPECT_EQ(r.completed[0], whole_l3(b));
    EXPECT_COUNTERS(r.snap(),
                    ({{"rx", 2}, {"delivered", 2}, {"IpReasmReqds", 2}, {"IpReasmOKs", 1}}));
    r.expect_buffers_conserved();
}

TEST(Defrag, DatagramBeyond65535BytesFailsAtReassembly) {
    // The kernel accepts every piece (offset + len may pass 65535) and refuses the datagram
    // only when it is complete ("Oversized IP packet"): ReasmFails, all frames dropped.
    Rig r;
    const uint32_t l4 = 65536;  // 20 + 65536 > 65535
    FrameBuilder b = FrameBuilder()
                         .eth(test::kPeerMac, test::kPortMac)
                         .ipv4(kSrc, kDst)
                         .protocol(17)
                         .ip_id(3)
                         .payload_size(l4);
    std::vector<Bytes> fs = b.build_fragments(1480);
    const uint64_t n = fs.size();
    for (uint64_t i = 0; i + 1 < n; ++i) EXPECT_EQ(r.feed(fs[i]), core::Verdict::held());
    EXPECT_EQ(r.feed(fs.back()), core::Verdict::drop(core::DropReason::kPktTooBig));
    EXPECT_COUNTERS(r.snap(),
                    ({{"rx", n}, {"PKT_TOO_BIG", n}, {"IpReasmReqds", n}, {"IpReasmFails", 1}}));
    r.expect_buffers_conserved();
}

TEST(Defrag, LargestDatagramReassembles) {
    Rig r;
    FrameBuilder b = datagram(4, 65535 - 20 - 8);
    std::vector<Bytes> fs = b.build_fragments(1480);
    std::shuffle(fs.begin(), fs.end(), std::mt19937(1));
    r.feed_all(fs);
    expect_one_intact(r, b, fs.size());
}

// ---- the reassembled header ------------------------------------------------------------------

TEST(Defrag, ReassembledHeaderHasTotLenNoFragmentBitsAndAValidChecksum) {
    Rig r;
    FrameBuilder b = datagram(11, 3000).ttl(17);
    for (const auto& f : b.build_fragments(1480)) r.feed(f);
    ASSERT_EQ(r.completed.size(), 1u);
    auto v = *wire::Ipv4View::try_view(r.completed[0]);
    EXPECT_EQ(v.tot_len(), r.completed[0].size());
    EXPECT_FALSE(v.is_fragment());
    EXPECT_FALSE(v.dont_fragment());
    EXPECT_EQ(v.ttl(), 17);
    EXPECT_EQ(wire::internet_checksum(std::span<const uint8_t>(r.completed[0]).first(20)), 0);
    r.expect_buffers_conserved();
}

TEST(Defrag, DontFragmentSurvivesWhenTheLargestFragmentCarriedIt) {
    Rig r;
    FrameBuilder b = datagram(12, 3000).df();
    for (const auto& f : b.build_fragments(1480)) r.feed(f);
    ASSERT_EQ(r.completed.size(), 1u);
    EXPECT_TRUE(wire::Ipv4View::try_view(r.completed[0])->dont_fragment());
    // The checksum, updated for the kept DF (not recomputed), is the recomputed one.
    EXPECT_EQ(wire::internet_checksum(std::span<const uint8_t>(r.completed[0]).first(20)), 0);
    r.expect_buffers_conserved();
}

TEST(Defrag, CeWithEctBecomesCe) {
    Rig r;
    FrameBuilder b = datagram(13, 64);
    r.feed(FrameBuilder(b).ecn(2).build_fragment(0, 40, true));
    r.feed(FrameBuilder(b).ecn(3).build_fragment(40, 32, false));
    ASSERT_EQ(r.completed.size(), 1u);
    EXPECT_EQ(wire::Ipv4View::try_view(r.completed[0])->ecn(), 3);
    // The first fragment's tos changed (ECT to CE): the checksum followed it.
    EXPECT_EQ(wire::internet_checksum(std::span<const uint8_t>(r.completed[0]).first(20)), 0);
    r.expect_buffers_conserved();
}

// ip_frag_reasm() keeps the first fragment's options and ip_send_check() sums the whole
// header: every word that changes (tos with the ECN fold, tot_len, the fragment field with
// DF kept) is in the checksum, options included.
TEST(Defrag, ReassembledHeaderWithOptionsHasAValidChecksum) {
    Rig r;
    FrameBuilder b = datagram(15, 64).df().ip_options({1, 1, 1, 0});
    r.feed(FrameBuilder(b).ecn(2).build_fragment(0, 40, true));
    r.feed(FrameBuilder(b).ecn(3).build_fragment(40, 32, false));
    ASSERT_EQ(r.completed.size(), 1u);
    auto v = *wire::Ipv4View::try_view(r.completed[0]);
    EXPECT_EQ(v.header_len(), 24u);
    EXPECT_EQ(v.ecn(), 3);
    EXPECT_TRUE(v.dont_fragment());
    EXPECT_EQ(v.tot_len(), 24u + 72u);
    EXPECT_EQ(wire::internet_checksum(std::span<const uint8_t>(r.completed[0]).first(24)), 0);
    EXPECT_COUNTERS(r.snap(),
                    ({{"rx", 2}, {"delivered", 2}, {"IpReasmReqds", 2}, {"IpReasmOKs", 1}}));
    r.expect_buffers_conserved();
}

TEST(Defrag, NotEctMixedWithCeFailsReassembly) {
    Rig r;
    FrameBuilder b = datagram(14, 64);
    r.feed(FrameBuilder(b).ecn(0).build_fragment(0, 40, true));
    EXPECT_EQ(r.feed(FrameBuilder(b).ecn(3).build_fragment(40, 32, false)),
              core::Verdict::drop(core::DropReason::kFragInvalid));
    EXPECT_COUNTERS(r.snap(),
                    ({{"rx", 2}, {"FRAG_INVALID", 2}, {"IpReasmReqds", 2}, {"IpReasmFails", 1}}));
    r.expect_buffers_conserved();
}

// ---- checksums only checkable after reassembly ---------------------------------------------

bool udp_checksum_ok(const Bytes& l3) {
    auto ip = *wire::Ipv4View::try_view(l3);
    std::span<const uint8_t> l4 = std::span<const uint8_t>(l3).subspan(ip.header_len());
    uint64_t acc = wire::pseudo_header_sum(ip.src(), ip.dst(), ip.protocol(),
                                           static_cast<uint16_t>(l4.size()));
    return wire::csum_fold(wire::csum_partial(l4, acc)) == 0;
}

TEST(Defrag, UdpChecksumIsCheckableOnlyAfterReassembly) {
    Rig r;
    FrameBuilder good = datagram(21, 3000);
    std::vector<Bytes> fs = good.build_fragments(1480);
    std::shuffle(fs.begin(), fs.end(), std::mt19937(5));
    r.feed_all(fs);
    // A corrupted byte in the middle fragment: no fragment can tell, the datagram can.
    std::vector<Bytes> bad = datagram(22, 3000).build_fragments(1480);
    bad[1][14 + 20 + 100] ^= 0x40;
    r.feed_all(bad);
    ASSERT_EQ(r.completed.size(), 2u);
    EXPECT_TRUE(udp_checksum_ok(r.completed[0]));
    EXPECT_FALSE(udp_checksum_ok(r.completed[1]));
    r.expect_buffers_conserved();
}

// ---- timeout (ip_expire) ---------------------------------------------------------------------

TEST(Defrag, MissingLastFragmentTimesOutWithIcmpFragmentReassemblyTimeExceeded) {
    Rig r;
    r.feed(piece(0, 16, true));
    r.feed(piece(16, 16, true));
    r.clock.advance_ns(30 * kSec - 1);
    EXPECT_EQ(r.expire(), 0u) << "ipfrag_time is 30 s";
    r.clock.advance_ns(1);
    EXPECT_EQ(r.expire(), 1u);
    EXPECT_COUNTERS(r.snap(), ({{"rx", 2},
                                {"FRAG_REASM_TIMEOUT", 2},
                                {"IpReasmReqds", 2},
                                {"IpReasmFails", 1},
                                {"IpReasmTimeout", 1},
                                {"IcmpOutMsgs", 1},
                                {"IcmpOutTimeExcds", 1},
                                {"IcmpMsgOutType11", 1}}));
    ASSERT_EQ(r.backend.sent().size(), 1u);
    const Bytes& icmp = r.backend.sent()[0].bytes;
    auto ip = *wire::Ipv4View::try_view(std::span<const uint8_t>(icmp).subspan(14));
    EXPECT_EQ(ip.dst(), kSrc);
    EXPECT_EQ(ip.src(), kDst);
    EXPECT_EQ(icmp[14 + 20], wire::kIcmpTimeExceeded);
    EXPECT_EQ(icmp[14 + 20 + 1], wire::kIcmpExcFragtime);
    r.expect_buffers_conserved();
}

TEST(Defrag, TimeoutWithoutTheFirstFragmentSendsNoIcmp) {
    Rig r;
    r.feed(piece(16, 16, true));
    r.feed(piece(48, 16, false));
    r.clock.advance_s(30);
    EXPECT_EQ(r.expire(), 1u);
    EXPECT_COUNTERS(r.snap(), ({{"rx", 2},
                                {"FRAG_REASM_TIMEOUT", 2},
                                {"IpReasmReqds", 2},
                                {"IpReasmFails", 1},
                                {"IpReasmTimeout", 1}}));
    EXPECT_TRUE(r.backend.sent().empty());
    r.expect_buffers_conserved();
}

TEST(Defrag, QueuesExpireOldestFirstAndOnlyWhenDue) {
    Rig r;
    r.feed(datagram(1, 64).build_fragment(0, 16, true));
    r.clock.advance_s(10);
    r.feed(datagram(2, 64).build_fragment(0, 16, true));
    r.clock.advance_s(20);
    EXPECT_EQ(r.expire(), 1u);
    EXPECT_EQ(r.d.queues(), 1u);
    r.clock.advance_s(10);
    EXPECT_EQ(r.expire(), 1u);
    r.expect_buffers_conserved();
}

TEST(Defrag, IpfragTimeIsAKnob) {
    DefragConfig cfg;
    cfg.ipfrag_time = 5;
    Rig r(cfg);
    r.feed(piece(0, 16, true));
    r.clock.advance_s(5);
    EXPECT_EQ(r.expire(), 1u);
    r.expect_buffers_conserved();
}

TEST(Defrag, FlushAllAtShutdownGivesEveryHeldFrameAFate) {
    Rig r;
    r.feed(datagram(1, 64).build_fragment(0, 16, true));
    r.feed(datagram(2, 64).build_fragment(16, 16, true));
    r.d.flush_all();
    r.d.reap(r.sink);
    r.sink.flush();
    EXPECT_COUNTERS(r.snap(), ({{"rx", 2}, {"FRAG_REASM_TIMEOUT", 2}, {"IpReasmReqds", 2}}));
    r.expect_buffers_conserved();
}

// ---- many datagrams ------------------------------------------------------------------------

// 200 datagrams, 800 fragments shuffled together. From one source, the same traffic would
// trip ipfrag_max_dist (64), exactly as in the kernel; from 200 sources it does not.
TEST(Defrag, ManyInterleavedDatagrams) {
    Rig r;
    constexpr int kN = 200;
    std::vector<std::vector<Bytes>> per(kN);
    for (int i = 0; i < kN; ++i)
        per[i] =
            datagram(uint16_t(1000 + i), 4000, ipv4(198, 18, 1, uint8_t(i))).build_fragments(1024);
    std::vector<Bytes> all;
    for (std::size_t k = 0; k < per[0].size(); ++k)
        for (int i = 0; i < kN; ++i) all.push_back(per[i][k]);
    std::shuffle(all.begin(), all.end(), std::mt19937(7));
    r.feed_all(all);
    EXPECT_EQ(r.completed.size(), std::size_t{kN});
    const uint64_t n = all.size();
    EXPECT_COUNTERS(r.snap(),
                    ({{"rx", n}, {"delivered", n}, {"IpReasmReqds", n}, {"IpReasmOKs", kN}}));
    r.expect_buffers_conserved();
}

TEST(Defrag, SameIdFromDifferentSourcesAreDifferentDatagrams) {
    Rig r;
    FrameBuilder a = datagram(5, 100, ipv4(198, 18, 0, 2));
    FrameBuilder b = datagram(5, 100, ipv4(198, 18, 0, 3));
    r.feed(a.build_fragment(0, 64, true));
    r.feed(b.build_fragment(0, 64, true));
    r.feed(a.build_fragment(64, 44, false));
    r.feed(b.build_fragment(64, 44, false));
    ASSERT_EQ(r.completed.size(), 2u);
    EXPECT_EQ(r.completed[0], whole_l3(a));
    EXPECT_EQ(r.completed[1], whole_l3(b));
    r.expect_buffers_conserved();
}

TEST(Defrag, ManyInterleavedDatagramsFromOneSourceTripMaxDist) {
    Rig r;
    constexpr int kN = 100;
    std::vector<Bytes> all;
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < kN; ++i)
            all.push_back(datagram(uint16_t(1000 + i), 4000).build_fragments(1024)[k]);
    r.feed_all(all);
    // Each datagram's fragments are 100 rids apart (> 64): every queue is restarted by each
    // of its later fragments and none completes.
    EXPECT_TRUE(r.completed.empty());
    EXPECT_EQ(r.snap().drop_value(core::DropReason::kFragTooFar), 3u * kN);
    r.clock.advance_s(30);
    r.expire();
    r.expect_buffers_conserved();
}

// Random pieces of 8 datagrams (random offsets, lengths, MF, duplicates, overlaps, time
// passing): whatever happens, every frame gets one fate, every buffer comes back once, and
// every datagram that completes is byte for byte a prefix of the one it was cut from.
TEST(Defrag, RandomFragmentsKeepEveryInvariant) {
    Rig r;
    std::mt19937 rng(2024);
    std::vector<FrameBuilder> src;
    for (uint16_t id = 0; id < 8; ++id) src.push_back(datagram(id, 2040));
    const Bytes l4 = src[0].l4_bytes();
    uint64_t not_fragments = 0;  // offset 0 without MF: a whole datagram, not for defrag
    uint64_t clean = 0;
    for (int i = 0; i < 20000; ++i) {
        const uint16_t id = static_cast<uint16_t>(rng() % 8);
        const uint32_t off = (rng() % 256) * 8;
        const uint32_t len = 1 + rng() % 300;
        const bool more = rng() % 4 != 0;
        not_fragments += off == 0 && !more;
        r.feed(src[id].build_fragment(off, len, more));
        if (rng() % 500 == 0) {
            r.clock.advance_s(rng() % 40);
            r.expire();
        }
        if (i % 100 == 0) {  // now and then a clean datagram, shuffled, among the noise
            std::vector<Bytes> fs = datagram(uint16_t(1000 + i), 2040).build_fragments(512);
            std::shuffle(fs.begin(), fs.end(), rng);
            r.feed_all(fs);
            clean += fs.size();
        }
        ASSERT_TRUE(r.snap().conserved()) << "after piece " << i;
    }
    r.clock.advance_s(30);
    r.expire();
    for (const Bytes& d : r.completed) {
        ASSERT_GE(d.size(), 20u);
        const std::size_t n = d.size() - 20;
        // The UDP header differs per id only in the checksum; compare the payload.
        ASSERT_LE(n, l4.size());
        EXPECT_TRUE(std::equal(d.begin() + 20 + 8, d.end(), l4.begin() + 8));
    }
    const core::Snapshot s = r.snap();
    EXPECT_EQ(s.held, 0u);
    EXPECT_EQ(s.rx, 20000u + clean);
    EXPECT_EQ(s.mib_value(core::Mib::kIpReasmReqds), 20000u + clean - not_fragments);
    EXPECT_GE(s.mib_value(core::Mib::kIpReasmOKs), 200u) << "every clean datagram completes";
    EXPECT_GT(s.mib_value(core::Mib::kIpExtReasmOverlaps), 0u);
    EXPECT_GT(s.drop_value(core::DropReason::kDupFrag), 0u);
    r.expect_buffers_conserved();
}

// ---- memory limit (inet_frag_find) ---------------------------------------------------------

TEST(Defrag, OverHighThreshEveryFragmentIsRefusedUntilQueuesExpire) {
    DefragConfig cfg;
    const uint64_t per_queue = Defrag::kQueueSize + cfg.rx_buffer_size + Defrag::kSkbOverhead;
    cfg.ipfrag_high_thresh = 3 * per_queue;  // the check is "> high": a 4th queue still fits
    cfg.ipfrag_low_thresh = cfg.ipfrag_high_thresh;
    Rig r(cfg);
    for (uint16_t id = 1; id <= 4; ++id)
        EXPECT_EQ(r.feed(datagram(id, 64).build_fragment(0, 16, true)), core::Verdict::held());
    EXPECT_GT(r.d.mem(), cfg.ipfrag_high_thresh);
    // A new datagram, and the rest of a queued one, are both refused.
    EXPECT_EQ(r.feed(datagram(5, 64).build_fragment(0, 16, true)),
              core::Verdict::drop(core::DropReason::kFragMemLimit));
    EXPECT_EQ(r.feed(datagram(1, 64).build_fragment(16, 56, false)),
              core::Verdict::drop(core::DropReason::kFragMemLimit));
    EXPECT_EQ(r.d.queues(), 4u) << "no eviction since Linux 4.17";
    r.clock.advance_s(30);
    EXPECT_EQ(r.expire(), 4u);
    EXPECT_EQ(r.feed(datagram(6, 64).build_fragment(0, 16, true)), core::Verdict::held());
    r.clock.advance_s(30);
    r.expire();
    EXPECT_COUNTERS(r.snap(), ({{"rx", 7},
                                {"FRAG_MEM_LIMIT", 2},
                                {"FRAG_REASM_TIMEOUT", 5},
                                {"IpReasmReqds", 7},
                                {"IpReasmFails", 2 + 5},
                                {"IpReasmTimeout", 5},
                                {"IcmpOutMsgs", 5},
                                {"IcmpOutTimeExcds", 5},
                                {"IcmpMsgOutType11", 5}}));
    r.expect_buffers_conserved();
}

TEST(Defrag, HighThreshZeroDisablesReassembly) {
    DefragConfig cfg;
    cfg.ipfrag_high_thresh = 0;
    cfg.ipfrag_low_thresh = 0;
    Rig r(cfg);
    EXPECT_EQ(r.feed(piece(0, 16, true)), core::Verdict::drop(core::DropReason::kFragMemLimit));
    r.expect_buffers_conserved();
}

TEST(Defrag, DescriptorPoolExhaustionKillsTheQueueAsNomem) {
    DefragConfig cfg;
    cfg.max_frags = 2;
    Rig r(cfg);
    r.feed(piece(0, 16, true));
    r.feed(piece(16, 16, true));
    EXPECT_EQ(r.feed(piece(32, 16, true)), core::Verdict::drop(core::DropReason::kNomem));
    EXPECT_COUNTERS(r.snap(),
                    ({{"rx", 3}, {"NOMEM", 3}, {"IpReasmReqds", 3}, {"IpReasmFails", 1}}));
    r.expect_buffers_conserved();
}

TEST(Defrag, QueuePoolExhaustionRefusesNewDatagrams) {
    DefragConfig cfg;
    cfg.max_queues = 1;
    Rig r(cfg);
    r.feed(datagram(1, 64).build_fragment(0, 16, true));
    EXPECT_EQ(r.feed(datagram(2, 64).build_fragment(0, 16, true)),
              core::Verdict::drop(core::DropReason::kNomem));
    r.clock.advance_s(30);
    r.expire();
    r.expect_buffers_conserved();
}

// ---- ipfrag_max_dist (ip_frag_too_far) -----------------------------------------------------

// A slow datagram's first piece, then `n` first pieces of other datagrams from `src`.
class DefragMaxDist : public ::testing::Test {
protected:
    static DefragConfig max_dist(uint32_t n) {
        DefragConfig cfg;
        cfg.ipfrag_max_dist = n;
        return cfg;
    }
    void slow_then_others(uint16_t n, wire::Ipv4Addr src = kSrc) {
        r.feed(slow.build_fragment(0, 16, true));
        for (uint16_t id = 1; id <= n; ++id)
            r.feed(datagram(id, 64, src).build_fragment(0, 16, true));
    }
    Rig r{max_dist(4)};
    FrameBuilder slow = datagram(100, 56);
};

TEST_F(DefragMaxDist, ReinitialisesAQueueThatFellTooFarBehind) {
    // Four fragments of other datagrams from the same source: 5 rids later > max_dist 4.
    slow_then_others(4);
    EXPECT_EQ(r.feed(slow.build_fragment(16, 16, true)), core::Verdict::held());
    // The queue restarted with only the new fragment: [0,16) must come again.
    r.feed(slow.build_fragment(32, 32, false));
    EXPECT_TRUE(r.completed.empty());
    EXPECT_TRUE(r.feed(slow.build_fragment(0, 16, true)).is_next());
    EXPECT_EQ(r.completed.size(), 1u);
    r.clock.advance_s(30);
    r.expire();
    EXPECT_COUNTERS(r.snap(), ({{"rx", 8},
                                {"delivered", 3},
                                {"FRAG_TOO_FAR", 1},
                                {"FRAG_REASM_TIMEOUT", 4},
                                {"IpReasmReqds", 8},
                                {"IpReasmOKs", 1},
                                {"IpReasmFails", 1 + 4},
                                {"IpReasmTimeout", 4},
                                {"IcmpOutMsgs", 4},
                                {"IcmpOutTimeExcds", 4},
                                {"IcmpMsgOutType11", 4}}));
    r.expect_buffers_conserved();
}

TEST_F(DefragMaxDist, CountsOnlyTheSameSourceAndAllowsExactlyMaxDist) {
    slow_then_others(3);
    for (uint16_t id = 1; id <= 8; ++id)
        r.feed(datagram(id, 64, ipv4(198, 18, 0, 9)).build_fragment(0, 16, true));
    r.feed(slow.build_fragment(16, 48, false));
    EXPECT_EQ(r.completed.size(), 1u) << "3 in between from this source: distance 4, allowed";
    r.clock.advance_s(30);
    r.expire();
    EXPECT_EQ(r.snap().drop_value(core::DropReason::kFragTooFar), 0u);
    r.expect_buffers_conserved();
}

TEST(Defrag, MaxDistZeroDisablesTheCheck) {
    DefragConfig cfg;
    cfg.ipfrag_max_dist = 0;
    Rig r(cfg);
    FrameBuilder slow = datagram(100, 56);
    r.feed(slow.build_fragment(0, 16, true));
    for (uint16_t id = 1; id <= 100; ++id) r.feed(datagram(id, 64).build_fragment(0, 16, true));
    r.feed(slow.build_fragment(16, 48, false));
    EXPECT_EQ(r.completed.size(), 1u);
    r.clock.advance_s(30);
    r.expire();
    r.expect_buffers_conserved();
}

// ---- tools/testing/selftests/net/ip_defrag.c -----------------------------------------------
// The selftest sends UDP datagrams of many sizes as raw fragments of max_frag_len: odd
// fragments first, then (with -o) one extra fragment at offset 8 overlapping the first odd
// one, then the even fragments; sometimes all in order instead. Without overlap every
// datagram must arrive intact; with it none may.

struct SelftestCase {
    std::size_t payload;
    uint32_t max_frag_len;
};

class IpDefragSelftest : public ::testing::TestWithParam<SelftestCase> {
protected:
    static std::vector<Bytes> odd_then_even(const FrameBuilder& b, uint32_t flen) {
        std::vector<Bytes> fs = b.build_fragments(flen);
        std::vector<Bytes> out;
        for (std::size_t i = 1; i < fs.size(); i += 2) out.push_back(fs[i]);
        for (std::size_t i = 0; i < fs.size(); i += 2) out.push_back(fs[i]);
        return out;
    }
};

// Odd fragments first then even ones, as the selftest sends them; and now and then (15%)
// all in order, as one run.
TEST_P(IpDefragSelftest, OddThenEvenOrInOrderArrivesIntact) {
    const auto [payload, flen] = GetParam();
    for (bool in_order : {false, true}) {
        SCOPED_TRACE(in_order ? "in order" : "odd then even");
        Rig r;
        FrameBuilder b = datagram(77, payload);
        std::vector<Bytes> fs = in_order ? b.build_fragments(flen) : odd_then_even(b, flen);
        r.feed_all(fs);
        expect_one_intact(r, b, fs.size());
    }
}

TEST_P(IpDefragSelftest, OverlapAtOffset8DropsTheDatagram) {
    const auto [payload, flen] = GetParam();
    Rig r;
    FrameBuilder b = datagram(79, payload);
    std::vector<Bytes> fs = b.build_fragments(flen);
    ASSERT_GE(fs.size(), 2u);
    std::size_t odd = 0;
    for (std::size_t i = 1; i < fs.size(); i += 2, ++odd) r.feed(fs[i]);
    // The extra fragment: offset 8, one max_frag_len plus 8 bytes, MF.
    EXPECT_EQ(r.feed(b.build_fragment(8, flen + 8, true)),
              core::Verdict::drop(core::DropReason::kFragOverlap));
    for (std::size_t i = 0; i < fs.size(); i += 2) r.feed(fs[i]);
    EXPECT_TRUE(r.completed.empty());
    r.clock.advance_s(30);
    r.expire();
    const uint64_t n = fs.size() + 1, even = fs.size() - odd;
    EXPECT_COUNTERS(r.snap(), ({{"rx", n},
                                {"FRAG_OVERLAP", odd + 1},
                                {"FRAG_REASM_TIMEOUT", even},
                                {"IpReasmReqds", n},
                                {"IpReasmFails", 2},
                                {"IpExtReasmOverlaps", 1},
                                {"IpReasmTimeout", 1},
                                {"IcmpOutMsgs", 1},
                                {"IcmpOutTimeExcds", 1},
                                {"IcmpMsgOutType11", 1}}));
    r.expect_buffers_conserved();
}

INSTANTIATE_TEST_SUITE_P(Sizes, IpDefragSelftest,
                         ::testing::Values(SelftestCase{100, 16}, SelftestCase{1000, 64},
                                           SelftestCase{1499, 1000}, SelftestCase{4000, 1000},
                                           SelftestCase{9000, 1480}, SelftestCase{30000, 1480},
                                           SelftestCase{65000, 1480}));

// ---- owner -----------------------------------------------------------------------------------

TEST(DefragOwner, DependsOnlyOnAddressesIdAndProtocol) {
    io::MemoryBackend be{1, 1, 16, 2048};
    auto owner_of = [&](const Bytes& f) {
        EXPECT_TRUE(be.inject(f));
        core::Packet p;
        EXPECT_EQ(be.rx_burst(0, &p, 1), 1);
        p.l3_off = 14;
        test::fill_l3_meta(p);
        uint16_t o = defrag_owner(p, 4);
        uint64_t buf = p.buf;
        be.free_bulk(&buf, 1);
        return o;
    };
    FrameBuilder b = datagram(321, 3000);
    std::vector<Bytes> fs = b.build_fragments(1480);
    const uint16_t o = owner_of(fs[0]);
    for (const auto& f : fs) EXPECT_EQ(owner_of(f), o);
    EXPECT_EQ(owner_of(FrameBuilder(b).ttl(3).build_fragment(0, 8, true)), o);
    int spread[4] = {};
    for (uint16_t id = 0; id < 400; ++id)
        ++spread[owner_of(datagram(id, 64).build_fragment(0, 8, true))];
    for (int w : spread) EXPECT_GT(w, 50) << "owners spread over the workers";
}

// ---- in the pipeline -------------------------------------------------------------------------

TEST(DefragPipeline, ReassembledDatagramIsNFramesWithOneFateEach) {
    test::PipelineHarness h;
    FrameBuilder b = datagram(31, 3000);
    std::vector<Bytes> fs = b.build_fragments(1480);
    h.run(fs);
    uint64_t octets = 0;
    for (const auto& f : fs) octets += f.size() - 14;
    // No endpoint: the datagram's fate (NO_SOCKET) is counted once per frame.
    EXPECT_COUNTERS(h.snap(), ({{"rx", 3},
                                {"NO_SOCKET", 3},
                                {"IpInReceives", 3},
                                {"IpExtInOctets", octets},
                                {"IpExtInNoECTPkts", 3},
                                {"IpReasmReqds", 3},
                                {"IpReasmOKs", 1},
                                {"IpInDelivers", 1},
                                {"UdpNoPorts", 1},
                                {"IcmpOutMsgs", 1},
                                {"IcmpOutDestUnreachs", 1},
                                {"IcmpMsgOutType3", 1}}));
    EXPECT_TRUE(h.backend.passed().empty()) << "a reassembled datagram is not given to the kernel";
    h.expect_buffers_conserved();
    EXPECT_EQ(h.pipeline().defrag().buffers().outstanding(), 0u);
}

TEST(DefragPipeline, HeldFragmentsAreAGaugeThatTheTimerEmpties) {
    test::PipelineHarness h;
    std::vector<Bytes> fs = datagram(32, 3000).build_fragments(1480);
    h.run({fs[0], fs[1]});
    EXPECT_EQ(h.snap().held, 2u);
    EXPECT_TRUE(h.snap().conserved());
    h.clock.advance_s(30);
    h.tick();
    uint64_t octets = fs[0].size() + fs[1].size() - 28;
    EXPECT_COUNTERS(h.snap(), ({{"rx", 2},
                                {"FRAG_REASM_TIMEOUT", 2},
                                {"IpInReceives", 2},
                                {"IpExtInOctets", octets},
                                {"IpExtInNoECTPkts", 2},
                                {"IpReasmReqds", 2},
                                {"IpReasmFails", 1},
                                {"IpReasmTimeout", 1},
                                {"IcmpOutMsgs", 1},
                                {"IcmpOutTimeExcds", 1},
                                {"IcmpMsgOutType11", 1}}));
    ASSERT_EQ(h.backend.sent().size(), 1u);
    h.expect_buffers_conserved();
}

TEST(DefragPipeline, NoTimeExceededForAFragmentReceivedAsL2Broadcast) {
    // icmp_send() never answers a frame that was not PACKET_HOST.
    test::PipelineHarness h;
    FrameBuilder b = datagram(33, 3000).eth_dst(wire::Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}});
    h.run_one(b.build_fragment(0, 1480, true));
    h.clock.advance_s(30);
    h.tick();
    EXPECT_TRUE(h.backend.sent().empty());
    EXPECT_EQ(h.snap().mib_value(core::Mib::kIpReasmTimeout), 1u);
    h.expect_buffers_conserved();
}

// Two workers in one thread: fragments of a datagram owned by worker 1 arrive on both
// queues; worker 0 hands its share over the SPSC ring.
struct TwoWorkers {
    explicit TwoWorkers(uint32_t ring = 64) : mesh(2, ring) {
        port.ifindex = 1;
        port.name = "test0";
        port.mac = test::kPortMac;
        for (uint16_t w = 0; w < 2; ++w) {
            worker::PipelineTables t;
            t.port = &port;
            t.routes = &routes;
            t.endpoints = endpoints.get();
            t.handoff = &mesh;
            t.worker = w;
            t.mesh_worker = w;
            pipes.push_back(std::make_unique<worker::Pipeline>(backend, counters[w], t));
        }
    }
    void run(uint16_t w) {
        core::PacketBatch batch;
        batch.count = backend.rx_burst(w, batch.pkts.data(), core::kBurst);
        pipes[w]->process(batch, clock.now_ns());
    }
    l2::Port port;
    ipv4::RoutePublisher routes{test::default_route_config()};
    std::unique_ptr<const demux::EndpointTable> endpoints = demux::EndpointTable::Builder().build();
    io::MemoryBackend backend{1, 2, 1024, 2048};
    worker::HandoffMesh mesh;
    core::CounterBlock counters[2];
    std::vector<std::unique_ptr<worker::Pipeline>> pipes;
    test::FakeClock clock;
};

uint16_t id_owned_by(uint16_t worker) {
    io::MemoryBackend be{1, 1, 4, 2048};
    for (uint16_t id = 1;; ++id) {
        EXPECT_TRUE(be.inject(datagram(id, 3000).build_fragment(0, 8, true)));
        core::Packet p;
        EXPECT_EQ(be.rx_burst(0, &p, 1), 1);
        p.l3_off = 14;
        test::fill_l3_meta(p);
        const uint16_t o = defrag_owner(p, 2);
        uint64_t buf = p.buf;
        be.free_bulk(&buf, 1);
        if (o == worker) return id;
    }
}

TEST(DefragHandoff, FragmentsOnTwoQueuesReassembleOnTheOwner) {
    TwoWorkers tw;
    FrameBuilder b = datagram(id_owned_by(1), 4000);
    std::vector<Bytes> fs = b.build_fragments(1024);  // 4 fragments
    ASSERT_EQ(fs.size(), 4u);
    tw.backend.inject(fs[0], 0);
    tw.backend.inject(fs[2], 0);
    tw.backend.inject(fs[1], 1);
    tw.backend.inject(fs[3], 1);
    tw.run(0);  // hands 2 fragments to worker 1
    tw.run(1);  // its own 2, then the 2 handed in: complete
    uint64_t oct0 = fs[0].size() + fs[2].size() - 28, oct1 = fs[1].size() + fs[3].size() - 28;
    EXPECT_COUNTERS(tw.counters[0].snapshot(), ({{"IpInReceives", 2},
                                                 {"IpExtInOctets", oct0},
                                                 {"IpExtInNoECTPkts", 2},
                                                 {"IngressFragHandedOff", 2}}));
    EXPECT_COUNTERS(tw.counters[1].snapshot(), ({{"rx", 4},
                                                 {"NO_SOCKET", 4},
                                                 {"IpInReceives", 2},
                                                 {"IpExtInOctets", oct1},
                                                 {"IpExtInNoECTPkts", 2},
                                                 {"IngressFragHandedIn", 2},
                                                 {"IpReasmReqds", 4},
                                                 {"IpReasmOKs", 1},
                                                 {"IpInDelivers", 1},
                                                 {"UdpNoPorts", 1},
                                                 {"IcmpOutMsgs", 1},
                                                 {"IcmpOutDestUnreachs", 1},
                                                 {"IcmpMsgOutType3", 1}}));
    EXPECT_EQ(tw.backend.pool().outstanding(), 0u);
    EXPECT_EQ(tw.backend.pool().double_frees(), 0u);
}

TEST(DefragHandoff, NonFragmentsAndOwnFragmentsStayLocal) {
    TwoWorkers tw;
    std::vector<Bytes> fs = datagram(id_owned_by(0), 3000).build_fragments(1480);
    for (const auto& f : fs) tw.backend.inject(f, 0);
    tw.backend.inject(datagram(1, 100).build(), 0);
    tw.run(0);
    const core::Snapshot s = tw.counters[0].snapshot();
    EXPECT_EQ(s.rx, fs.size() + 1);
    EXPECT_EQ(s.drop_value(core::DropReason::kNoSocket), fs.size() + 1);  // no endpoints
    EXPECT_EQ(s.mib_value(core::Mib::kIngressFragHandedOff), 0u);
    EXPECT_EQ(s.mib_value(core::Mib::kIpReasmOKs), 1u);
    EXPECT_EQ(tw.backend.pool().outstanding(), 0u);
}

TEST(DefragHandoff, FullRingIsACountedDropNeverAStall) {
    TwoWorkers tw(1);
    std::vector<Bytes> fs = datagram(id_owned_by(1), 4000).build_fragments(1024);
    for (const auto& f : fs) tw.backend.inject(f, 0);
    tw.run(0);
    const core::Snapshot s0 = tw.counters[0].snapshot();
    EXPECT_EQ(s0.mib_value(core::Mib::kIngressFragHandedOff), 1u);
    EXPECT_EQ(s0.drop_value(core::DropReason::kFragHandoffFull), 3u);
    EXPECT_EQ(s0.rx, 3u);
    EXPECT_TRUE(s0.conserved());
    tw.run(1);  // takes the one fragment in; it waits for the rest
    EXPECT_EQ(tw.counters[1].snapshot().held, 1u);
    tw.clock.advance_s(30);
    tw.run(1);
    const core::Snapshot s1 = tw.counters[1].snapshot();
    EXPECT_EQ(s1.drop_value(core::DropReason::kFragReasmTimeout), 1u);
    EXPECT_TRUE(s1.conserved());
    EXPECT_EQ(tw.backend.pool().outstanding(), 0u);
    EXPECT_EQ(tw.backend.pool().double_frees(), 0u);
}

// Two interfaces, one worker each, one mesh: the kernel's queue key has no interface
// (ip_find(): saddr, daddr, id, protocol, user, vif = the l3mdev master, 0 without VRF), so
// fragments of one datagram arriving on different interfaces meet. Each interface has its
// own backend: a fragment's buffer goes home on the mesh's return ring. Two UDP endpoints
// on the port, bound to one interface each (SO_BINDTODEVICE), show which interface the
// datagram arrived on.
struct TwoInterfaces {
    TwoInterfaces() : mesh(2, 64, {0, 1}, 64 + DefragConfig{}.max_frags + 2 * core::kBurst) {
        ipv4::RouteConfig rc = test::default_route_config();
        ipv4::IfConfig second;
        second.ifindex = 2;
        second.name = "test1";
        second.addrs.push_back({.addr = ipv4(198, 20, 0, 1), .prefix_len = 24});
        rc.ifaces.push_back(second);
        routes = std::make_unique<ipv4::RoutePublisher>(rc);
        for (uint16_t w = 0; w < 2; ++w) {
            ports[w].ifindex = w + 1u;
            ports[w].name = w ? "test1" : "test0";
            ports[w].mac = test::kPortMac;
            on[w].bind(0, 2000).bind_to_device(w + 1u);
        }
        endpoints = demux::EndpointTable::Builder().add(on[0]).add(on[1]).build();
        for (uint16_t w = 0; w < 2; ++w) {
            worker::PipelineTables t;
            t.port = &ports[w];
            t.routes = routes.get();
            t.endpoints = endpoints.get();
            t.handoff = &mesh;
            t.worker = w;
            t.mesh_worker = w;
            pipes.push_back(std::make_unique<worker::Pipeline>(*backends[w], counters[w], t));
        }
    }
    void run(uint16_t w) {
        core::PacketBatch batch;
        batch.count = backends[w]->rx_burst(0, batch.pkts.data(), core::kBurst);
        pipes[w]->process(batch, clock.now_ns());
    }
    l2::Port ports[2];
    std::unique_ptr<ipv4::RoutePublisher> routes;
    demux::UdpEndpoint on[2] = {demux::UdpEndpoint(test::rings(16, 2048, 2)),
                                demux::UdpEndpoint(test::rings(16, 2048, 2))};
    std::unique_ptr<const demux::EndpointTable> endpoints;
    std::unique_ptr<io::MemoryBackend> backends[2] = {
        std::make_unique<io::MemoryBackend>(1, 1, 64, 2048),
        std::make_unique<io::MemoryBackend>(2, 1, 64, 2048)};
    worker::HandoffMesh mesh;
    core::CounterBlock counters[2];
    std::vector<std::unique_ptr<worker::Pipeline>> pipes;
    test::FakeClock clock;
};

struct SplitCase {
    uint16_t first_on;  // the interface (worker) the offset-0 fragment arrives on
    uint16_t owner;     // the worker that owns the datagram
};

class DefragAcrossInterfaces : public ::testing::TestWithParam<SplitCase> {};

// The datagram is delivered once, as arrived on the first fragment's interface (skb_morph()
// copies the head's skb_iif and IPCB: SO_BINDTODEVICE and IP_PKTINFO's ipi_ifindex), with
// the completing fragment's time (inet_frag_reasm_finish(): q->stamp); every buffer goes
// back to the backend that received it.
TEST_P(DefragAcrossInterfaces, FragmentsMeetAtTheOwnerAsTheFirstFragmentsInterface) {
    const SplitCase sc = GetParam();
    TwoInterfaces ti;
    std::vector<Bytes> fs = datagram(id_owned_by(sc.owner), 1000).build_fragments(512);
    ASSERT_EQ(fs.size(), 2u);
    const uint16_t other = 1 - sc.first_on;
    ASSERT_TRUE(ti.backends[sc.first_on]->inject(fs[0], 0, 100));
    ASSERT_TRUE(ti.backends[other]->inject(fs[1], 0, 200));
    // The first fragment's worker runs first: the owner then completes the datagram with
    // whichever fragment it queues second.
    for (int round = 0; round < 2; ++round) {
        ti.run(sc.first_on);
        ti.run(other);
    }
    const std::vector<test::Received> got = test::take(ti.on[sc.first_on].rings());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].meta.len, 1000u);
    EXPECT_EQ(got[0].meta.ifindex, sc.first_on + 1u);
    // The owner queues its own fragment first, the handed-in one second.
    EXPECT_EQ(got[0].meta.rx_ns, sc.owner == sc.first_on ? 200u : 100u);
    EXPECT_TRUE(test::take(ti.on[other].rings()).empty());

    const core::Snapshot so = ti.counters[sc.owner].snapshot();
    const core::Snapshot sn = ti.counters[1 - sc.owner].snapshot();
    EXPECT_EQ(so.mib_value(core::Mib::kIpReasmReqds), 2u);
    EXPECT_EQ(so.mib_value(core::Mib::kIpReasmOKs), 1u);
    // Longer than CHECKSUM_BREAK: queued unverified, UdpInDatagrams counted when the app
    // reads it (udp_recvmsg), not by the worker.
    EXPECT_TRUE(got[0].meta.flags & INGRESS_F_CSUM_UNVERIFIED);
    EXPECT_EQ(so.mib_value(core::Mib::kUdpInDatagrams), 0u);
    EXPECT_EQ(so.mib_value(core::Mib::kIngressFragHandedIn), 1u);
    EXPECT_EQ(so.delivered, 2u);
    EXPECT_EQ(sn.mib_value(core::Mib::kIngressFragHandedOff), 1u);
    EXPECT_EQ(sn.mib_value(core::Mib::kIpReasmReqds), 0u);
    EXPECT_TRUE(so.conserved());
    EXPECT_TRUE(sn.conserved());
    for (const auto& b : ti.backends) {
        EXPECT_EQ(b->pool().outstanding(), 0u);
        EXPECT_EQ(b->pool().double_frees(), 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(Split, DefragAcrossInterfaces,
                         ::testing::Values(SplitCase{0, 0}, SplitCase{0, 1}, SplitCase{1, 0},
                                           SplitCase{1, 1}),
                         [](const auto& i) {
                             return "FirstOn" + std::to_string(i.param.first_on) + "Owner" +
                                    std::to_string(i.param.owner);
                         });

// A held fragment of another interface that times out goes home too (the reaper settles
// each fragment as its receiver's).
TEST(DefragHandoff, TimedOutFragmentOfAnotherInterfaceGoesHome) {
    TwoInterfaces ti;
    std::vector<Bytes> fs = datagram(id_owned_by(1), 1000).build_fragments(512);
    ASSERT_TRUE(ti.backends[0]->inject(fs[1], 0, 100));
    ti.run(0);
    ti.run(1);
    EXPECT_EQ(ti.counters[1].snapshot().held, 1u);
    EXPECT_EQ(ti.backends[0]->pool().outstanding(), 1u);
    ti.clock.advance_s(30);
    ti.run(1);
    const core::Snapshot s1 = ti.counters[1].snapshot();
    EXPECT_EQ(s1.drop_value(core::DropReason::kFragReasmTimeout), 1u);
    EXPECT_EQ(s1.mib_value(core::Mib::kIpReasmTimeout), 1u);
    EXPECT_TRUE(s1.conserved());
    EXPECT_EQ(ti.backends[1]->pool().double_frees(), 0u);
    EXPECT_EQ(ti.backends[0]->pool().outstanding(), 1u);  // on the return ring
    ti.run(0);
    EXPECT_EQ(ti.backends[0]->pool().outstanding(), 0u);
    EXPECT_EQ(ti.backends[0]->pool().double_frees(), 0u);
    EXPECT_EQ(ti.backends[1]->pool().outstanding(), 0u);
}

}  // namespace
}  // namespace ingress::ipv4
