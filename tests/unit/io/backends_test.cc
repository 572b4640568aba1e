#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "io/buffer_pool.h"
#include "io/memory.h"
#include "io/pcap.h"
#include "wire/frame_builder.h"

namespace ingress::io {
namespace {

TEST(BufferPool, DoubleFreeIsCountedNotAccepted) {
    BufferPool p(2, 64);
    uint64_t a = p.try_get(), b = p.try_get();
    EXPECT_EQ(p.try_get(), BufferPool::kNone);
    EXPECT_EQ(p.outstanding(), 2u);
    p.put(a);
    p.put(a);
    p.put(99);
    EXPECT_EQ(p.double_frees(), 2u);
    p.put(b);
    EXPECT_EQ(p.outstanding(), 0u);
}

TEST(MemoryBackend, RxTxPassRoundTrip) {
    MemoryBackend m(7, 2, 8, 256);
    std::vector<uint8_t> f = {1, 2, 3, 4};
    ASSERT_TRUE(m.inject(f, 1, 42));
    core::Packet pkts[4];
    EXPECT_EQ(m.rx_burst(0, pkts, 4), 0);
    ASSERT_EQ(m.rx_burst(1, pkts, 4), 1);
    EXPECT_EQ(pkts[0].len, 4u);
    EXPECT_EQ(pkts[0].ifindex, 7u);
    EXPECT_EQ(pkts[0].queue, 1u);
    EXPECT_EQ(pkts[0].rx_ns, 42u);
    EXPECT_EQ(m.tx_burst(1, pkts, 1), 1);
    ASSERT_EQ(m.sent().size(), 1u);
    EXPECT_EQ(m.sent()[0].bytes, f);
    EXPECT_EQ(m.pool().outstanding(), 0u);
}

TEST(MemoryBackend, OversizeAndExhaustionAreCounted) {
    MemoryBackend m(1, 1, 1, 16);
    EXPECT_FALSE(m.inject(std::vector<uint8_t>(17, 0)));
    EXPECT_TRUE(m.inject(std::vector<uint8_t>(16, 0)));
    EXPECT_FALSE(m.inject(std::vector<uint8_t>(1, 0)));
    EXPECT_EQ(m.stats().rx_oversize, 1u);
    EXPECT_EQ(m.stats().alloc_fail, 1u);
}

// Regression (tests/fuzz/route_fuzz under UBSan): an empty frame with no storage at all is
// received as a zero-length frame, and its buffer comes back.
TEST(MemoryBackend, EmptyFrameWithNoStorage) {
    MemoryBackend m(1, 1, 1, 16);
    ASSERT_TRUE(m.inject(std::span<const uint8_t>{}));
    core::Packet p;
    ASSERT_EQ(m.rx_burst(0, &p, 1), 1);
    EXPECT_EQ(p.len, 0u);
    m.free_bulk(&p.buf, 1);
    EXPECT_EQ(m.pool().outstanding(), 0u);
}

TEST(PcapBackend, WriteThenReadBack) {
    auto dir = std::filesystem::temp_directory_path();
    std::string in = dir / ("ingress-io-test-" + std::to_string(::getpid()) + ".pcap");
    std::string out = in + ".tx";
    auto f1 = wire::FrameBuilder().ipv4(1, 2).udp(3, 4).payload_size(10).build();
    auto f2 = wire::FrameBuilder().ipv4(5, 6).udp(7, 8).payload_size(1400).build();
    {
        PcapWriter w(in);
        w.write(f1, 1'000'000'123);
        w.write(f2, 2'000'000'456);
    }
    {
        PcapBackend b({.rx_path = in, .ifindex = 3, .tx_path = out});
        core::Packet pkts[4];
        ASSERT_EQ(b.rx_burst(0, pkts, 4), 2);
        EXPECT_TRUE(b.eof());
        EXPECT_EQ(std::vector<uint8_t>(pkts[0].data, pkts[0].data + pkts[0].len), f1);
        EXPECT_EQ(pkts[0].rx_ns, 1'000'000'123u);
        EXPECT_EQ(pkts[1].len, f2.size());
        EXPECT_EQ(pkts[1].ifindex, 3u);
        EXPECT_EQ(b.tx_burst(0, pkts, 2), 2);
        EXPECT_EQ(b.pool().outstanding(), 0u);
    }
    {
        PcapBackend b({.rx_path = out});
        core::Packet pkts[4];
        ASSERT_EQ(b.rx_burst(0, pkts, 4), 2);
        EXPECT_EQ(std::vector<uint8_t>(pkts[1].data, pkts[1].data + pkts[1].len), f2);
        uint64_t bufs[2] = {pkts[0].buf, pkts[1].buf};
        b.free_bulk(bufs, 2);
    }
    std::filesystem::remove(in);
    std::filesystem::remove(out);
}

}  // namespace
}  // namespace ingress::io
