// ShmRings::try_emplace: the one way a datagram reaches an endpoint. The stage's fill writes
// the slot's record in place; FIFO order, full = refused and counted, truncation flagged.
#include "demux/delivery.h"

#include <gtest/gtest.h>

#include <cstring>

#include "support/demux.h"

namespace ingress::demux {
namespace {

TEST(Delivery, FifoWithMetadataAcrossWrapAround) {
    auto r = test::rings(4, 64);  // 10 pushes wrap the ring; at most 5 in flight
    std::vector<test::Received> got;
    for (uint8_t i = 0; i < 10; ++i) {
        std::vector<uint8_t> b(i + 1u, i);
        ASSERT_TRUE(r->try_emplace(
            [i](shm::SlotMeta& m) noexcept {
                m.src_port = i;
                m.rx_ns = 100 + i;
            },
            b));
        if (i % 2)  // the app keeps one or two in flight
            for (auto& x : test::take(*r)) got.push_back(std::move(x));
    }
    EXPECT_EQ(r->delivered(), 10u);
    EXPECT_EQ(r->dropped(), 0u);
    ASSERT_EQ(got.size(), 10u);
    for (uint16_t i = 0; i < 10; ++i) {
        EXPECT_EQ(got[i].meta.src_port, i);
        EXPECT_EQ(got[i].meta.rx_ns, 100u + i);
        EXPECT_EQ(got[i].bytes, std::vector<uint8_t>(i + 1u, static_cast<uint8_t>(i)));
        EXPECT_EQ(got[i].meta.len, i + 1u);
        EXPECT_EQ(got[i].meta.orig_len, i + 1u);
    }
}

TEST(Delivery, ARecordStartsZeroedSoNothingLeaksFromTheSlotsLastDatagram) {
    auto r = test::rings(2, 64);
    uint8_t b[4] = {1, 2, 3, 4};
    for (int round = 0; round < 2; ++round) {  // the second round reuses both slots
        ASSERT_TRUE(r->try_emplace(
            [](shm::SlotMeta& m) noexcept {
                m.src_addr = 0x0a000001;
                m.vlan_tci = 10;
                m.flags = INGRESS_F_VLAN | INGRESS_F_CSUM_VERIFIED;
                m.tos = 0xee;
            },
            b));
        ASSERT_TRUE(r->try_emplace([](shm::SlotMeta& m) noexcept { m.dst_port = 53; }, b));
        auto got = test::take(*r);
        ASSERT_EQ(got.size(), 2u);
        shm::SlotMeta want{};
        want.len = want.orig_len = 4;
        want.dst_port = 53;
        EXPECT_EQ(std::memcmp(&got[1].meta, &want, sizeof want), 0) << "round " << round;
    }
}

TEST(Delivery, FullRingRefusesAndCounts) {
    auto r = test::rings(2, 64);
    uint8_t b[4] = {1, 2, 3, 4};
    auto none = [](shm::SlotMeta&) noexcept {};
    EXPECT_TRUE(r->try_emplace(none, b));
    EXPECT_TRUE(r->try_emplace(none, b));
    EXPECT_FALSE(r->try_emplace(none, b));
    EXPECT_FALSE(r->try_emplace(none, b));
    EXPECT_EQ(r->used(), 2u);
    EXPECT_EQ(r->delivered(), 2u);
    EXPECT_EQ(r->dropped(), 2u);
    EXPECT_EQ(test::take(*r).size(), 2u);
    EXPECT_TRUE(r->try_emplace(none, b));
}

TEST(Delivery, LongerThanSlotIsTruncatedAndFlagged) {
    auto r = test::rings(2, 56);  // 56 payload bytes per slot
    auto head = test::payload_bytes(10);
    std::vector<uint8_t> body(90, 0xee);
    ASSERT_TRUE(r->try_emplace([](shm::SlotMeta&) noexcept {}, head, body));
    auto got = test::take(*r);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].bytes.size(), 56u);
    EXPECT_TRUE(std::equal(head.begin(), head.end(), got[0].bytes.begin()));
    EXPECT_EQ(got[0].bytes[10], 0xee);
    EXPECT_EQ(got[0].meta.len, 56u);
    EXPECT_EQ(got[0].meta.orig_len, 100u);
    EXPECT_NE(got[0].meta.flags & INGRESS_F_TRUNCATED, 0);
    EXPECT_EQ(r->truncated(), 1u);
}

TEST(Delivery, UdpDatagramLargerThanTheSlotArrivesTruncated) {
    test::DemuxHarness h;
    UdpEndpoint ep(test::rings(4, 56), "small");
    ep.bind(0, 53);
    h.builder.add(ep);
    h.publish();
    h.run_one(test::udp_to(test::kLocal, 53, test::kPeer, 4000, 100).build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 128), {{"delivered", 1}}));
    auto got = test::take(ep.rings());
    ASSERT_EQ(got.size(), 1u);
    const auto sent = test::payload_bytes(100);
    EXPECT_EQ(got[0].bytes, std::vector<uint8_t>(sent.begin(), sent.begin() + 56));
    EXPECT_EQ(got[0].meta.orig_len, 100u) << "MSG_TRUNC: recvmsg would return 100";
    // Longer than CHECKSUM_BREAK: verified by the read (over all 100 bytes), which counts
    // InDatagrams.
    EXPECT_EQ(got[0].meta.flags, INGRESS_F_TRUNCATED | INGRESS_F_CSUM_UNVERIFIED);
    EXPECT_EQ(ep.rings().read_counts().csum_ok, 1u);
}

}  // namespace
}  // namespace ingress::demux
