// The SO_RCVBUF rules (demux/rcvbuf.h): sock_setsockopt's doubling and clamps, the skb
// truesize model, __udp_enqueue_schedule_skb's admission (6.18), and the byte accounting of
// the rings (shm::RingProducer) that the admission reads.
#include "demux/rcvbuf.h"

#include <gtest/gtest.h>

#include <climits>

#include "support/rings.h"

namespace ingress::demux {
namespace {

TEST(SoRcvbuf, DoublesClampsToRmemMaxAndRaisesToSockMinRcvbuf) {
    EXPECT_EQ(so_rcvbuf(2304, 4194304), 4608u) << "doubled";
    EXPECT_EQ(so_rcvbuf(2303, 4194304), 4606u);
    EXPECT_EQ(so_rcvbuf(0, 4194304), kSockMinRcvbuf) << "SO_RCVBUF 0";
    EXPECT_EQ(so_rcvbuf(1000, 4194304), kSockMinRcvbuf) << "2000 is below SOCK_MIN_RCVBUF";
    EXPECT_EQ(so_rcvbuf(1152, 4194304), kSockMinRcvbuf);
    EXPECT_EQ(so_rcvbuf(1153, 4194304), 2306u);
    EXPECT_EQ(so_rcvbuf(5'000'000, 4194304), 8388608u) << "clamped to rmem_max, then doubled";
    EXPECT_EQ(so_rcvbuf(4194304, 4194304), 8388608u) << "exactly rmem_max";
    EXPECT_EQ(so_rcvbuf(UINT32_MAX, UINT32_MAX), static_cast<uint32_t>(INT_MAX / 2) * 2)
        << "INT_MAX / 2 before doubling";
}

TEST(SkbTruesize, SmallHeadCacheThenKmallocPowersOfTwo) {
    // Frame length = 42 + UDP payload (Ethernet, IPv4 without options, UDP).
    EXPECT_EQ(skb_truesize(42 + 0), 832u);
    EXPECT_EQ(skb_truesize(42 + 198), 832u);
    EXPECT_EQ(skb_truesize(42 + 199), 1280u);
    EXPECT_EQ(skb_truesize(42 + 646), 1280u);
    EXPECT_EQ(skb_truesize(42 + 647), 2304u);
    EXPECT_EQ(skb_truesize(1514), 2304u);
    EXPECT_EQ(skb_truesize(1514 + 1700), 4096u + 256u) << "jumbo frames: kmalloc-4k";
    EXPECT_EQ(skb_truesize(9014), 16384u + 256u);
}

TEST(SkbTruesize, ReassembledDatagramSumsItsFragments) {
    EXPECT_EQ(reasm_truesize(14, 20, 1208, 1), skb_truesize(14 + 20 + 1208));
    // Two fragments of 608 (rounded to 8) bytes each: 2 x truesize(642).
    EXPECT_EQ(reasm_truesize(14, 20, 1208, 2), 2 * skb_truesize(14 + 20 + 608));
    EXPECT_EQ(reasm_truesize(14, 20, 1208, 2), 2 * 1280u);
}

TEST(RcvbufAdmits, KernelRuleOf618) {
    EXPECT_TRUE(rcvbuf_admits(0, 2304, 4608));
    EXPECT_TRUE(rcvbuf_admits(2304, 2304, 4608)) << "reaching the limit exactly fits";
    EXPECT_FALSE(rcvbuf_admits(2304, 2304, 4606)) << "passing it by 2 does not";
    EXPECT_TRUE(rcvbuf_admits(0, 2304, 2304));
    EXPECT_TRUE(rcvbuf_admits(0, 100000, 2304)) << "an empty queue takes any datagram";
    EXPECT_FALSE(rcvbuf_admits(1, 2304, 2304)) << "any queued byte ends that";
    constexpr uint32_t kHuge = INT_MAX / 2 + 1u;
    EXPECT_TRUE(rcvbuf_admits(0, kHuge + 1, kHuge - 1)) << "at most INT_MAX / 2: the exception";
    EXPECT_FALSE(rcvbuf_admits(0, kHuge + 1, kHuge))
        << "no empty-queue exception above INT_MAX / 2 (wraparound guard)";
}

// The rings' byte accounting: what the slots the app has not released were charged.
struct Accounting : ::testing::Test {
    std::shared_ptr<ShmRings> r = test::rings(8);
    shm::RingConsumer app{r->region(0).data()};
    RcvBudget b{1000, 2500};

    bool push() {
        return r->try_emplace([](shm::SlotMeta&) noexcept {}, {}, {}, nullptr, &b);
    }
    void read(uint32_t n) {
        uint32_t idx;
        ASSERT_EQ(app.peek(n, &idx), n);
        app.release(n);
    }
    shm::RingHeader& header() { return *static_cast<shm::RingHeader*>(r->region(0).data()); }
};

TEST_F(Accounting, ChargesUntilTheAppReleasesThenAdmitsAgain) {
    EXPECT_TRUE(push());
    EXPECT_TRUE(push());
    EXPECT_EQ(r->rmem(), 2000u);
    EXPECT_FALSE(push()) << "2000 + 1000 > 2500";
    EXPECT_EQ(r->dropped(), 1u) << "counted as the ring's drop (sk_drops)";
    EXPECT_EQ(r->used(), 2u);
    read(1);
    EXPECT_EQ(r->rmem(), 1000u) << "the read datagram's charge is released";
    EXPECT_TRUE(push());
    read(2);
    EXPECT_EQ(r->rmem(), 0u);
}

TEST_F(Accounting, LoneDatagramOverTheBudgetIsAcceptedOnAnEmptyQueue) {
    b.truesize = 5000;
    EXPECT_TRUE(push());
    EXPECT_FALSE(push());
    read(1);
    EXPECT_TRUE(push());
}

TEST_F(Accounting, AConsumerIndexTheAppMadeUpReleasesNothing) {
    EXPECT_TRUE(push());
    EXPECT_TRUE(push());
    // Ahead of prod: the producer ignores it, so the queue still holds 2000 bytes.
    header().cons.store(50, std::memory_order_release);
    EXPECT_FALSE(push());
    EXPECT_EQ(r->rmem(), 2000u) << "snapshot falls back to the producer's own view";
    // Back to a sane value: what it says is released, and no more.
    header().cons.store(1, std::memory_order_release);
    EXPECT_TRUE(push());
    EXPECT_EQ(r->rmem(), 2000u);
}

TEST_F(Accounting, SlotsAreAlsoALimitOfTheirOwn) {
    b = {1, 1u << 30};
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(push());
    EXPECT_FALSE(push()) << "the ring is full before the budget";
    EXPECT_EQ(r->rmem(), 8u);
}

TEST(AccountingWorkers, TheBudgetIsTheEndpointsAcrossWorkerRings) {
    auto r = test::rings(8, 64, 2);
    const RcvBudget b{1000, 2500};
    DeliveryCtx w0{0, nullptr}, w1{1, nullptr};
    auto push = [&](const DeliveryCtx& c) {
        return r->try_emplace([](shm::SlotMeta&) noexcept {}, {}, {}, &c, &b);
    };
    EXPECT_TRUE(push(w0));
    EXPECT_TRUE(push(w1));
    EXPECT_FALSE(push(w0)) << "worker 1's datagram counts against worker 0's delivery";
    EXPECT_FALSE(push(w1));
    // The app reads worker 1's ring while worker 1 is idle: worker 0 sees the room at once.
    shm::RingConsumer c1(r->region(1).data());
    uint32_t idx;
    ASSERT_EQ(c1.peek(1, &idx), 1u);
    c1.release(1);
    EXPECT_TRUE(push(w0));
    EXPECT_EQ(r->rmem(), 2000u);
}

}  // namespace
}  // namespace ingress::demux
