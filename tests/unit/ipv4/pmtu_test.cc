// __ip_rt_update_pmtu() (net/ipv4/route.c): what "fragmentation needed" leaves as the
// destination's MTU, the min_pmtu lock, the refresh rule and the expiry.
#include "ipv4/pmtu.h"

#include <gtest/gtest.h>

namespace ingress::ipv4 {
namespace {

constexpr wire::Ipv4Addr kDst = wire::ipv4(198, 18, 1, 2);
constexpr uint64_t kSec = 1'000'000'000;

TEST(Pmtu, ReportedMtuBelowTheRoutesIsRecordedFor600Seconds) {
    PmtuCache c;
    EXPECT_EQ(c.update(kDst, 1400, 1500, 10 * kSec), 1400u);
    EXPECT_EQ(c.lookup(kDst, 10 * kSec), 1400u);
    EXPECT_EQ(c.lookup(kDst, 609 * kSec), 1400u);
    EXPECT_EQ(c.lookup(kDst, 610 * kSec), 0u);  // mtu_expires
    std::vector<PmtuEntry> s;
    c.snapshot(10 * kSec, s);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].daddr, kDst);
    EXPECT_EQ(s[0].expires_ns, 610 * kSec);
    EXPECT_FALSE(s[0].locked);
}

TEST(Pmtu, LargerThanTheCurrentMtuChangesNothing) {
    PmtuCache c;
    EXPECT_EQ(c.update(kDst, 1600, 1500, kSec), 1500u);
    EXPECT_EQ(c.lookup(kDst, kSec), 0u);
    c.update(kDst, 1300, 1500, kSec);
    EXPECT_EQ(c.update(kDst, 1400, 1500, kSec), 1300u);  // old_mtu is the exception's
    EXPECT_EQ(c.lookup(kDst, kSec), 1300u);
}

TEST(Pmtu, BelowMinPmtuIsLockedAtMinPmtu) {
    PmtuCache c;
    EXPECT_EQ(c.update(kDst, 300, 1500, kSec), 552u);
    std::vector<PmtuEntry> s;
    c.snapshot(kSec, s);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_TRUE(s[0].locked);
    EXPECT_EQ(s[0].mtu, 552u);
    PmtuCache custom({.min_pmtu = 1000, .mtu_expires_s = 600});
    EXPECT_EQ(custom.update(kDst, 900, 1500, kSec), 1000u);
}

TEST(Pmtu, SameMtuRefreshesOnlyInTheSecondHalfOfItsLife) {
    PmtuCache c;
    c.update(kDst, 1400, 1500, 0);
    c.update(kDst, 1400, 1500, 299 * kSec);  // before expires - mtu_expires / 2: kept
    std::vector<PmtuEntry> s;
    c.snapshot(299 * kSec, s);
    EXPECT_EQ(s.at(0).expires_ns, 600 * kSec);
    c.update(kDst, 1400, 1500, 301 * kSec);
    s.clear();
    c.snapshot(301 * kSec, s);
    EXPECT_EQ(s.at(0).expires_ns, 901 * kSec);
}

TEST(Pmtu, MergeKeepsTheNewestEntryPerDestination) {
    std::vector<PmtuEntry> all{
        {kDst, 1400, false, 100, 1}, {kDst, 1300, false, 200, 2}, {kDst + 1, 1200, false, 50, 1}};
    auto m = pmtu_merge(all);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].mtu, 1300u);
    EXPECT_EQ(m[1].daddr, kDst + 1);
}

TEST(Pmtu, AFullSetGivesWayToTheNewDestination) {
    PmtuCache c;
    // More destinations than the table holds, one per second (each lives 600 s): the newest
    // always finds a way, the table holds at most kSets * kWays, and what is lost is old.
    for (uint32_t i = 0; i < 4096; ++i) {
        c.update(kDst + i, 1400, 1500, i * kSec);
        ASSERT_EQ(c.lookup(kDst + i, i * kSec), 1400u) << i;
    }
    std::vector<PmtuEntry> s;
    c.snapshot(4095 * kSec, s);
    EXPECT_LE(s.size(), PmtuCache::kSets * PmtuCache::kWays);
    EXPECT_GT(s.size(), 500u);  // the last 600 s, less what shared a set with newer ones
}

}  // namespace
}  // namespace ingress::ipv4
