// Delivery into shared-memory rings through the pipeline: one ring per worker, the record
// the app reads, backpressure, truncation, and burst-end wakeups.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demux/delivery.h"
#include "support/demux.h"
#include "support/rings.h"

namespace ingress::test {
namespace {

constexpr std::size_t kPayload = 18;
constexpr uint64_t kIpLen = 20 + 8 + kPayload;

Expected udp_delivered(uint64_t n) {
    return plus(ip_local(n, kIpLen), {{"delivered", n}, {"UdpInDatagrams", n}});
}

struct ShmHarness : DemuxHarness {
    explicit ShmHarness(uint16_t workers = 2, shm::RingGeometry g = {8, 128},
                        demux::RingBudgets budgets = {})
        : rings(std::make_shared<demux::ShmRings>(7, workers, g, demux::ShmRings::kDefaultErrSlots,
                                                  budgets)),
          ep(rings, "shm") {
        ep.bind(0, 5000);
        builder.add(ep);
        publish();
        for (uint16_t w = 0; w < workers; ++w) cons.emplace_back(rings->region(w).data());
    }
    std::shared_ptr<demux::ShmRings> rings;
    demux::UdpEndpoint ep;
    std::vector<shm::RingConsumer> cons;
    const shm::RingHeader& header(uint16_t w) { return *cons[w].header(); }
};

TEST(ShmDelivery, DatagramLandsInTheDeliveringWorkersRingWithRecvmsgMetadata) {
    ShmHarness h;
    h.tables.worker = 1;
    ASSERT_TRUE(h.backend.inject(udp_to(kLocal, 5000, kPeer, 4321).build(), 0, 777));
    h.drain();
    uint32_t idx;
    EXPECT_EQ(h.cons[0].peek(8, &idx), 0u) << "worker 0 delivered nothing";
    ASSERT_EQ(h.cons[1].peek(8, &idx), 1u);
    const shm::SlotMeta& m = h.cons[1].meta(idx);
    EXPECT_EQ(m.len, kPayload);
    EXPECT_EQ(m.orig_len, kPayload);
    EXPECT_EQ(m.src_addr, kPeer);
    EXPECT_EQ(m.dst_addr, kLocal);
    EXPECT_EQ(m.src_port, 4321);
    EXPECT_EQ(m.dst_port, 5000);
    EXPECT_EQ(m.ifindex, 1u);
    EXPECT_EQ(m.rx_ns, 777u);  // the backend's receive time
    EXPECT_EQ(m.protocol, wire::kIpProtoUdp);
    EXPECT_EQ(m.flags, INGRESS_F_CSUM_VERIFIED);
    EXPECT_EQ(h.cons[1].payload(idx)[5], 5);  // payload_size() writes 0, 1, 2, ...
    EXPECT_EQ(h.header(1).delivered.load(), 1u);
    EXPECT_EQ(h.ep.rings().delivered(), 1u);
    EXPECT_COUNTERS_EQ(h.snap(), udp_delivered(1));
}

// SO_TIMESTAMPING: the NIC's raw stamp (skb_hwtstamps, ts[2]) comes with the datagram when
// the backend had one, next to the software stamp; without one, hw_ns is 0 and the flag clear
// (the kernel's ts[2] is zero then).
TEST(ShmDelivery, HardwareStampReachesTheRecordOnlyWhenTheBackendHadOne) {
    ShmHarness h(1);
    const uint64_t kHw = 1'700'000'000'123'456'789ull;
    ASSERT_TRUE(h.backend.inject(udp_to(kLocal, 5000).build(), 0, 777, kHw));
    ASSERT_TRUE(h.backend.inject(udp_to(kLocal, 5000).build(), 0, 778));
    h.drain();
    uint32_t idx;
    ASSERT_EQ(h.cons[0].peek(8, &idx), 2u);
    const shm::SlotMeta& a = h.cons[0].meta(idx);
    EXPECT_EQ(a.rx_ns, 777u);
    EXPECT_EQ(a.hw_ns, kHw);
    EXPECT_EQ(a.flags, INGRESS_F_CSUM_VERIFIED | INGRESS_F_HW_TSTAMP);
    EXPECT_EQ(h.cons[0].payload(idx)[5], 5) << "the frame after the stamp, intact";
    const shm::SlotMeta& b = h.cons[0].meta(idx + 1);
    EXPECT_EQ(b.rx_ns, 778u);
    EXPECT_EQ(b.hw_ns, 0u);
    EXPECT_EQ(b.flags, INGRESS_F_CSUM_VERIFIED);
    EXPECT_EQ(h.header(0).meta_size, sizeof(shm::SlotMeta));
    EXPECT_EQ(sizeof(shm::SlotMeta), 72u) << "hw_ns appended after rmem_before";
    EXPECT_COUNTERS_EQ(h.snap(), udp_delivered(2));
}

// A datagram defrag rebuilds lies in a new buffer: the fragments' stamps stay behind, the
// record has none (the kernel would keep the head skb's: a difference, record.h).
TEST(ShmDelivery, ReassembledDatagramCarriesNoHardwareStamp) {
    ShmHarness h(1, {8, 256});
    auto frags = udp_to(kLocal, 5000).payload_size(64).build_fragments(40);
    ASSERT_GE(frags.size(), 2u);
    for (const auto& f : frags) ASSERT_TRUE(h.backend.inject(f, 0, 900, 42));
    h.drain();
    uint32_t idx;
    ASSERT_EQ(h.cons[0].peek(8, &idx), 1u);
    const shm::SlotMeta& m = h.cons[0].meta(idx);
    EXPECT_EQ(m.len, 64u);
    EXPECT_EQ(m.rx_ns, 900u);
    EXPECT_EQ(m.hw_ns, 0u);
    EXPECT_EQ(m.flags & INGRESS_F_HW_TSTAMP, 0);
    EXPECT_EQ(h.header(0).delivered.load(), 1u);
}

TEST(ShmDelivery, FullRingDropsCountsRcvbufErrorsAndTheHeadersDroppedFull) {
    ShmHarness h(1);
    std::vector<std::vector<uint8_t>> frames(11, udp_to(kLocal, 5000).build());
    h.run(frames);
    EXPECT_EQ(h.header(0).delivered.load(), 8u);
    EXPECT_EQ(h.header(0).dropped_full.load(), 3u);
    EXPECT_EQ(h.ep.rings().dropped(), 3u);
    EXPECT_COUNTERS_EQ(h.snap(), plus(ip_local(11, kIpLen), {{"delivered", 8},
                                                             {"UdpInDatagrams", 8},
                                                             {"UdpRcvbufErrors", 3},
                                                             {"UdpInErrors", 3},
                                                             {"SOCKET_RCVBUFF", 3}}));
    // The app consumes: room again.
    uint32_t idx;
    ASSERT_EQ(h.cons[0].peek(8, &idx), 8u);
    h.cons[0].release(8);
    h.run_one(udp_to(kLocal, 5000).build());
    EXPECT_EQ(h.header(0).delivered.load(), 9u);
}

TEST(ShmDelivery, DatagramLongerThanTheSlotIsCutAndFlaggedAsMsgTrunc) {
    ShmHarness h(1, {8, 128});  // 56 payload bytes per slot (128 less the 72-byte record)
    h.run_one(udp_to(kLocal, 5000, kPeer, 4000, 100).build());
    uint32_t idx;
    ASSERT_EQ(h.cons[0].peek(1, &idx), 1u);
    const shm::SlotMeta& m = h.cons[0].meta(idx);
    EXPECT_EQ(m.len, 56u);
    EXPECT_EQ(m.orig_len, 100u);
    EXPECT_TRUE(m.flags & INGRESS_F_TRUNCATED);
    EXPECT_EQ(h.header(0).truncated.load(), 1u);
    // Longer than CHECKSUM_BREAK: left for the reader, who counts InDatagrams.
    EXPECT_TRUE(m.flags & INGRESS_F_CSUM_UNVERIFIED);
    EXPECT_COUNTERS_EQ(h.snap(), plus(ip_local(1, 128), {{"delivered", 1}}));
}

TEST(ShmDelivery, SleepingAppIsWokenOnceAtBurstEndAndABusyOneNever) {
    ShmHarness h(1, {64, 128});
    std::vector<std::vector<uint8_t>> burst(5, udp_to(kLocal, 5000).build());
    h.run(burst);  // the app is polling: no wakeup, no syscall
    EXPECT_EQ(h.header(0).wakeups.load(), 0u);
    uint32_t idx;
    ASSERT_EQ(h.cons[0].peek(64, &idx), 5u);
    h.cons[0].release(5);
    ASSERT_TRUE(h.cons[0].prepare_sleep());
    h.run(burst);
    EXPECT_EQ(h.header(0).wakeups.load(), 1u) << "one signal for the whole burst";
    shm::Doorbell app(::dup(h.rings->doorbell().app_fd()));
    pollfd p{app.fd(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_TRUE(app.wait(0));
    EXPECT_EQ(h.header(0).needs_wakeup.load(), 0u);
    EXPECT_COUNTERS_EQ(h.snap(), udp_delivered(10));
}

// --- The rings' memory follows the endpoint's budget (shm/ring.h: active slots) --------------

// The default rings (ring_slots 1024 x 2048 B) of an endpoint opened with rmem_default.
constexpr shm::RingGeometry kDefaultRing{1024, 2048};
constexpr demux::RingBudgets kDefaultBudgets{demux::kRmemDefault, demux::kRmemDefault};
// SO_RCVBUF 425984 under an rmem_max that allows it: sk_rcvbuf 851968, 1024 datagrams of 832.
constexpr uint32_t kRaised = demux::so_rcvbuf(425984, 425984);
constexpr uint32_t kCharge = demux::skb_truesize(14 + kIpLen);  // 832: the smallest

// Bytes of the region's memfd that are allocated (written at least once).
uint64_t touched(const demux::ShmRings& r, uint16_t w = 0) {
    struct stat st {};
    EXPECT_EQ(fstat(r.region(w).fd(), &st), 0);
    return uint64_t(st.st_blocks) * 512;
}
// The pages the header and the first `slots` slots' writes (each slot's record and kPayload
// bytes) fall in, and the error queue's header page.
uint64_t pages_for(uint32_t slots) {
    const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
    const uint64_t end = kDefaultRing.header_size() + uint64_t{slots - 1} * kDefaultRing.slot_size +
                         sizeof(shm::SlotMeta) + kPayload;
    return ((end + page - 1) / page + 1) * page;
}

// Sends n datagrams to the endpoint, a few bursts at a time (the harness's buffers), unread.
void send(ShmHarness& h, uint32_t n) {
    for (uint32_t sent = 0; sent < n; sent += 200)
        h.run(std::vector<std::vector<uint8_t>>(std::min(200u, n - sent),
                                                udp_to(kLocal, 5000).build()));
}

// Sends n datagrams to the endpoint in bursts of `burst`, the app reading after each.
uint64_t send_and_read(ShmHarness& h, uint32_t n, uint32_t burst) {
    uint64_t got = 0;
    for (uint32_t sent = 0; sent < n; sent += burst) {
        h.run(std::vector<std::vector<uint8_t>>(std::min(burst, n - sent),
                                                udp_to(kLocal, 5000).build()));
        got += take(*h.rings).size();
    }
    return got;
}

TEST(ShmDelivery, DefaultBudgetEndpointTouchesOnlyTheSlotsItsBudgetCanFill) {
    // rmem_default holds 256 datagrams of the smallest charge (__udp_enqueue_schedule_skb
    // refuses the 257th): 256 active slots, so 10,000 datagrams write 512 KiB of the ring,
    // not its 2 MiB; the error queue is sized for rmem_max, active for rmem_default.
    ShmHarness h(1, kDefaultRing, kDefaultBudgets);
    EXPECT_EQ(h.rings->active_slots(0), 256u);
    EXPECT_EQ(h.rings->err_active_slots(0), 256u);
    EXPECT_EQ(h.rings->region(0).size(),
              kDefaultRing.region_size() + shm::err_ring_geometry(512).region_size())
        << "the region keeps its size: the slots past the active ones are address space";
    EXPECT_EQ(send_and_read(h, 10'000, 200), 10'000u);
    EXPECT_EQ(touched(*h.rings), pages_for(256))
        << "the header, slots 0..255, the error queue's header";
    EXPECT_COUNTERS_EQ(h.snap(), udp_delivered(10'000));

    // SO_RCVBUF raised (the ring is empty): the next datagram grows the ring, and the
    // endpoint then queues as many as the kernel's budget takes, 1024, the 1025th refused.
    h.ep.set_rcvbuf(kRaised);
    send(h, 1100);
    EXPECT_EQ(h.rings->active_slots(0), 1024u);
    EXPECT_EQ(h.rings->used(), kRaised / kCharge);
    EXPECT_EQ(h.rings->rmem(), uint64_t{kRaised});
    EXPECT_EQ(h.rings->grow_dropped(), 0u);
    EXPECT_EQ(touched(*h.rings), pages_for(1024));
    EXPECT_COUNTERS_EQ(h.snap(), plus(ip_local(11'100, kIpLen), {{"delivered", 11'024},
                                                                 {"UdpInDatagrams", 11'024},
                                                                 {"UdpRcvbufErrors", 76},
                                                                 {"UdpInErrors", 76},
                                                                 {"SOCKET_RCVBUFF", 76}}));
}

TEST(ShmDelivery, BudgetRaisedWhileDatagramsAreQueuedGrowsTheRingOnceTheyAreRead) {
    // A grow moves a queued slot unless it sits where both masks place it: with index 10000
    // queued (slot 16 of 256, 784 of 1024) the ring stays at 256 until the app reads. What
    // the raised budget admits but the 256 slots cannot hold meanwhile is dropped as ring
    // full (SOCKET_RCVBUFF; the kernel would have queued it) and counted in grow_dropped().
    ShmHarness h(1, kDefaultRing, kDefaultBudgets);
    ASSERT_EQ(send_and_read(h, 10'000, 200), 10'000u);
    h.run_one(udp_to(kLocal, 5000).build());
    h.ep.set_rcvbuf(kRaised);
    send(h, 300);
    EXPECT_EQ(h.rings->active_slots(0), 256u);
    EXPECT_EQ(h.rings->used(), 256u);
    EXPECT_EQ(h.rings->dropped(), 45u);
    EXPECT_EQ(h.rings->grow_dropped(), 45u) << "each one within the raised budget";
    EXPECT_EQ(take(*h.rings).size(), 256u);
    send(h, 1100);
    EXPECT_EQ(h.rings->active_slots(0), 1024u) << "drained: the next datagram grew it";
    EXPECT_EQ(h.rings->used(), 1024u);
    EXPECT_EQ(h.rings->grow_dropped(), 45u) << "the 76 refused now are the budget's";
    EXPECT_EQ(h.rings->dropped(), 45u + 76u);
    EXPECT_COUNTERS_EQ(h.snap(), plus(ip_local(11'401, kIpLen), {{"delivered", 11'280},
                                                                 {"UdpInDatagrams", 11'280},
                                                                 {"UdpRcvbufErrors", 121},
                                                                 {"UdpInErrors", 121},
                                                                 {"SOCKET_RCVBUFF", 121}}));
}

TEST(ShmDelivery, ErrorQueueActiveSlotsFollowTheBudgetToo) {
    // sock_queue_err_skb() admits entries while rmem + truesize < rcvbuf: 255 of 832 under
    // rmem_default, so 256 of the queue's 512 slots are active; SO_RCVBUF at rmem_max (425984
    // bytes: 511 entries) makes the next entry grow it to 512. A data ring with no budget
    // (a raw endpoint's) keeps every slot.
    auto r =
        std::make_shared<demux::ShmRings>(9, 1, kDefaultRing, demux::ShmRings::kDefaultErrSlots,
                                          demux::RingBudgets{0, demux::kRmemDefault});
    EXPECT_EQ(r->active_slots(0), 1024u);
    EXPECT_EQ(r->err_active_slots(0), 256u);
    const uint8_t quote[8] = {};
    auto queue = [&](uint32_t rcvbuf) {
        const demux::RcvBudget b{832, rcvbuf};
        return r->try_queue_error([](shm::SlotMeta&) noexcept {}, quote, {}, nullptr, &b);
    };
    for (int i = 0; i < 255; ++i) ASSERT_TRUE(queue(demux::kRmemDefault)) << i;
    EXPECT_FALSE(queue(demux::kRmemDefault)) << "the budget refuses the 256th";
    shm::RingConsumer app(shm::err_queue_of(r->region(0).data(), r->region(0).size()));
    uint32_t idx;
    ASSERT_EQ(app.peek(UINT32_MAX, &idx), 255u);
    app.release(255);
    const uint32_t raised = demux::so_rcvbuf(demux::kRmemMax, demux::kRmemMax);
    for (int i = 0; i < 511; ++i) ASSERT_TRUE(queue(raised)) << i;
    EXPECT_FALSE(queue(raised)) << "the raised budget refuses the 512th";
    EXPECT_EQ(r->err_active_slots(0), 512u);
    EXPECT_EQ(r->err_queued(), 255u + 511u);
    EXPECT_EQ(r->err_dropped(), 2u);
    EXPECT_EQ(r->err_grow_dropped(), 0u);
    ASSERT_EQ(app.peek(UINT32_MAX, &idx), 511u);
    EXPECT_EQ(app.active_slots(), 512u);
}

}  // namespace
}  // namespace ingress::test
