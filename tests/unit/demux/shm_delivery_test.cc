// Delivery into shared-memory rings through the pipeline: one ring per worker, the record
// the app reads, backpressure, truncation, and burst-end wakeups.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include "demux/delivery.h"
#include "support/demux.h"

namespace ingress::test {
namespace {

constexpr std::size_t kPayload = 18;
constexpr uint64_t kIpLen = 20 + 8 + kPayload;

Expected udp_delivered(uint64_t n) {
    return plus(ip_local(n, kIpLen), {{"delivered", n}, {"UdpInDatagrams", n}});
}

struct ShmHarness : DemuxHarness {
    explicit ShmHarness(uint16_t workers = 2, shm::RingGeometry g = {8, 128})
        : rings(std::make_shared<demux::ShmRings>(7, workers, g)), ep(rings, "shm") {
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

}  // namespace
}  // namespace ingress::test
