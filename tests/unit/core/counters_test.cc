#include "core/counters.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "core/stats_format.h"

namespace ingress::core {
namespace {

TEST(CounterTable, NamesAreTheKernelSpellings) {
    EXPECT_EQ(drop_reason_name(DropReason::kIpCsum), "IP_CSUM");
    EXPECT_EQ(drop_reason_name(DropReason::kOtherhost), "OTHERHOST");
    EXPECT_EQ(mib_name(Mib::kIpInReceives), "IpInReceives");
    EXPECT_EQ(mib_name(Mib::kIpExtInTruncatedPkts), "IpExtInTruncatedPkts");
    EXPECT_EQ(mib_group(Mib::kTcpExtIPReversePathFilter), "TcpExt");
    EXPECT_EQ(mib_field(Mib::kUdpRcvbufErrors), "RcvbufErrors");
}

TEST(CounterTable, NamesAreUniqueAndRoundTrip) {
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < kDropReasonCount; ++i) {
        auto r = static_cast<DropReason>(i);
        EXPECT_TRUE(seen.insert(drop_reason_name(r)).second) << drop_reason_name(r);
        EXPECT_EQ(drop_reason_from_name(drop_reason_name(r)), r);
        EXPECT_FALSE(drop_reason_help(r).empty());
    }
    for (std::size_t i = 0; i < kMibCount; ++i) {
        auto m = static_cast<Mib>(i);
        EXPECT_TRUE(seen.insert(mib_name(m)).second) << mib_name(m);
        EXPECT_EQ(mib_from_name(mib_name(m)), m);
        EXPECT_EQ(std::string(mib_group(m)) + std::string(mib_field(m)), mib_name(m));
    }
    EXPECT_FALSE(drop_reason_from_name("NO_SUCH_REASON"));
    EXPECT_FALSE(mib_from_name("IpNoSuchCounter"));
}

TEST(Conservation, FragmentHeldThenMovedToDelivered) {
    // Three fragments: each counted once, as held; the completed datagram moves all three
    // to delivered in one burst.
    CounterBlock c;
    c.begin_burst();
    c.rx(3);
    c.held(3);
    c.end_burst();
    Snapshot s = c.snapshot();
    EXPECT_TRUE(s.conserved());
    EXPECT_EQ(s.held, 3u);
    c.begin_burst();
    c.unheld(3);
    c.delivered(3);
    c.end_burst();
    s = c.snapshot();
    EXPECT_TRUE(s.conserved());
    EXPECT_EQ(s.held, 0u);
    EXPECT_EQ(s.delivered, 3u);
}

TEST(Conservation, DropsCountTowardsTheIdentity) {
    CounterBlock c;
    c.begin_burst();
    c.rx(4);
    c.dropped(DropReason::kIpCsum);
    c.dropped(DropReason::kOtherhost, 2);
    c.end_burst();
    EXPECT_FALSE(c.snapshot().conserved());  // one frame has no fate yet
    c.begin_burst();
    c.passed();
    c.end_burst();
    EXPECT_TRUE(c.snapshot().conserved());
}

// The identity must hold in every snapshot a reader takes while the worker is counting.
TEST(Conservation, SnapshotFromAnotherThreadIsAlwaysConsistent) {
    CounterBlock c;
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        uint64_t i = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            c.begin_burst();
            c.rx(3);
            c.passed();
            c.dropped(DropReason::kIpInhdr);
            c.held(1);
            if (++i % 2 == 0) {
                c.unheld(2);
                c.delivered(2);
            }
            c.end_burst();
        }
    });
    int checked = 0;
    for (; checked < 20000; ++checked) {
        Snapshot s = c.snapshot();
        ASSERT_TRUE(s.conserved()) << "rx " << s.rx << " delivered " << s.delivered << " held "
                                   << s.held << " passed " << s.passed;
    }
    stop = true;
    writer.join();
    EXPECT_TRUE(c.snapshot().conserved());
}

TEST(StatsFormat, PrintsNonZeroInNstatFormAndTheIdentity) {
    CounterBlock c;
    c.begin_burst();
    c.rx(2);
    c.mib(Mib::kIpInReceives);
    c.dropped(DropReason::kIpCsum);
    c.passed();
    c.end_burst();
    std::string out = format_stats(c.snapshot());
    EXPECT_NE(out.find("IpInReceives                    1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("IP_CSUM                         1\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("IpInHdrErrors"), std::string::npos) << "zero counters are hidden";
    EXPECT_NE(out.find("#conservation rx 2 = delivered 0 + held 0 + passed 1 + dropped 1: ok"),
              std::string::npos)
        << out;
    std::string zeros = format_stats(c.snapshot(), {.zeros = true});
    EXPECT_NE(zeros.find("IpInHdrErrors                   0\n"), std::string::npos);
    std::string json = format_stats(c.snapshot(), {.json = true});
    EXPECT_NE(json.find("\"IpInReceives\":1"), std::string::npos) << json;
    EXPECT_NE(json.find("\"IP_CSUM\":1"), std::string::npos) << json;
    EXPECT_NE(json.find("\"conserved\":true"), std::string::npos) << json;
}

}  // namespace
}  // namespace ingress::core
