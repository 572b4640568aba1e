// The worker-to-worker SPSC ring: burst vs bulk semantics, wrap-around, and one real
// producer/consumer pair on two threads.
#include "core/spsc_ring.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/packet.h"

namespace ingress::core {
namespace {

TEST(SpscRing, CapacityRoundsUpToAPowerOfTwo) {
    EXPECT_EQ(SpscRing<uint64_t>(1).capacity(), 1u);
    EXPECT_EQ(SpscRing<uint64_t>(5).capacity(), 8u);
    EXPECT_EQ(SpscRing<uint64_t>(64).capacity(), 64u);
}

TEST(SpscRing, BurstTakesWhatFitsBulkAllOrNothing) {
    SpscRing<uint64_t> r(8);
    uint64_t in[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    EXPECT_EQ(r.try_enqueue_bulk(in, 10), 0u) << "bulk: all or nothing";
    EXPECT_EQ(r.size(), 0u);
    EXPECT_EQ(r.try_enqueue_burst(in, 10), 8u) << "burst: as many as fit";
    EXPECT_FALSE(r.try_push(in[9]));
    uint64_t out[10] = {};
    EXPECT_EQ(r.try_dequeue_bulk(out, 9), 0u);
    EXPECT_EQ(r.try_dequeue_burst(out, 10), 8u);
    for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(out[i], i);
    EXPECT_EQ(r.try_dequeue_burst(out, 1), 0u);
}

TEST(SpscRing, WrapsAroundKeepingOrder) {
    SpscRing<uint32_t> r(4);
    uint32_t next_in = 0, next_out = 0;
    for (int round = 0; round < 1000; ++round) {
        uint32_t in[3] = {next_in, next_in + 1, next_in + 2};
        uint32_t n = r.try_enqueue_burst(in, 3);
        next_in += n;
        uint32_t out[2];
        uint32_t m = r.try_dequeue_burst(out, 2);
        for (uint32_t i = 0; i < m; ++i) EXPECT_EQ(out[i], next_out++);
    }
    EXPECT_EQ(next_in - next_out, r.size());
}

TEST(SpscRing, CarriesPacketsByValue) {
    SpscRing<Packet> r(4);
    Packet p;
    p.buf = 42;
    p.frames = 3;
    ASSERT_TRUE(r.try_push(p));
    Packet q;
    ASSERT_EQ(r.try_dequeue_burst(&q, 1), 1u);
    EXPECT_EQ(q.buf, 42u);
    EXPECT_EQ(q.frames, 3);
}

TEST(SpscRing, TwoThreadsSeeEveryValueOnceInOrder) {
    constexpr uint64_t kN = 2'000'000;
    SpscRing<uint64_t> r(256);
    std::thread producer([&] {
        uint64_t v[16];
        uint64_t next = 0;
        while (next < kN) {
            uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(16, kN - next));
            for (uint32_t i = 0; i < want; ++i) v[i] = next + i;
            next += r.try_enqueue_burst(v, want);
        }
    });
    uint64_t expect = 0, bad = 0;
    uint64_t out[32];
    while (expect < kN) {
        uint32_t n = r.try_dequeue_burst(out, 32);
        for (uint32_t i = 0; i < n; ++i) bad += out[i] != expect++;
    }
    producer.join();
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(r.size(), 0u);
}

}  // namespace
}  // namespace ingress::core
