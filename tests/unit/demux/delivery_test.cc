// EndpointQueue: the bounded, preallocated per-endpoint queue (the interface the shm ring
// implements next): FIFO order, full = refused and counted, truncation flagged.
#include "demux/delivery.h"

#include <gtest/gtest.h>

#include "support/demux.h"

namespace ingress::demux {
namespace {

std::vector<uint8_t> bytes_of(const EndpointQueue::Entry& e) {
    return {e.bytes.begin(), e.bytes.end()};
}

TEST(Delivery, FifoWithMetadataAcrossWrapAround) {
    EndpointQueue q(6, 64);  // 10 pushes wrap the ring; at most 5 in flight
    for (uint8_t i = 0; i < 10; ++i) {
        RecvMeta m;
        m.src_port = i;
        m.rx_ns = 100 + i;
        std::vector<uint8_t> b(i + 1u, i);
        ASSERT_TRUE(q.try_push(m, b));
        if (i % 2) {  // keep one or two in flight
            auto e = q.front();
            EXPECT_EQ(e.meta.src_port, i / 2);
            q.pop();
        }
    }
    EXPECT_EQ(q.queued(), 10u);
    EXPECT_EQ(q.drops(), 0u);
    uint16_t expect = 5;
    while (!q.empty()) {
        auto e = q.front();
        EXPECT_EQ(e.meta.src_port, expect);
        EXPECT_EQ(e.meta.rx_ns, 100u + expect);
        EXPECT_EQ(bytes_of(e), std::vector<uint8_t>(expect + 1u, static_cast<uint8_t>(expect)));
        EXPECT_EQ(e.meta.orig_len, expect + 1u);
        q.pop();
        ++expect;
    }
    EXPECT_EQ(expect, 10);
}

TEST(Delivery, FullQueueRefusesAndCounts) {
    EndpointQueue q(2, 16);
    uint8_t b[4] = {1, 2, 3, 4};
    EXPECT_TRUE(q.try_push({}, b));
    EXPECT_TRUE(q.try_push({}, b));
    EXPECT_FALSE(q.try_push({}, b));
    EXPECT_FALSE(q.try_push({}, b));
    EXPECT_EQ(q.size(), 2u);
    EXPECT_EQ(q.queued(), 2u);
    EXPECT_EQ(q.drops(), 2u);
    q.pop();
    EXPECT_TRUE(q.try_push({}, b));
}

TEST(Delivery, LongerThanSlotIsTruncatedAndFlagged) {
    EndpointQueue q(1, 16);
    auto head = test::payload_bytes(10);
    std::vector<uint8_t> body(30, 0xee);
    ASSERT_TRUE(q.try_push({}, head, body));
    auto e = q.front();
    ASSERT_EQ(e.bytes.size(), 16u);
    EXPECT_TRUE(std::equal(head.begin(), head.end(), e.bytes.begin()));
    EXPECT_EQ(e.bytes[10], 0xee);
    EXPECT_EQ(e.meta.orig_len, 40u);
    EXPECT_NE(e.meta.flags & kRecvTruncated, 0);
}

TEST(Delivery, UdpDatagramLargerThanTheSlotArrivesTruncated) {
    test::DemuxHarness h;
    UdpEndpoint ep("small", 4, /*slot_bytes=*/8);
    ep.bind(0, 53);
    h.builder.add(ep);
    h.publish();
    h.run_one(test::udp_to(test::kLocal, 53).build());
    EXPECT_COUNTERS_EQ(h.snap(), test::plus(test::ip_local(1, 46),
                                            {{"delivered", 1}, {"UdpInDatagrams", 1}}));
    auto got = test::take(ep.queue());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, test::payload_bytes(8));
    EXPECT_EQ(got[0].meta.orig_len, 18u) << "MSG_TRUNC: recvmsg would return 18";
    EXPECT_NE(got[0].meta.flags & kRecvTruncated, 0);
}

}  // namespace
}  // namespace ingress::demux
