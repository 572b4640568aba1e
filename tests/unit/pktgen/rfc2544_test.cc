#include "pktgen/rfc2544.h"

#include <gtest/gtest.h>

#include <cmath>

#include "pktgen/eal_args.h"

namespace ingress::gen {
namespace {

// A device that receives everything up to `capacity` frames per second and drops the excess.
struct FakeDevice {
    double capacity;
    std::vector<double> offered;
    TrialResult operator()(double fps) {
        offered.push_back(fps);
        TrialResult t;
        t.seconds = 1;
        t.sent = static_cast<uint64_t>(std::llround(fps));
        t.received = std::min<uint64_t>(t.sent, static_cast<uint64_t>(capacity));
        return t;
    }
};

TEST(Rfc2544, LineRateCountsPreambleAndGap) {
    EXPECT_NEAR(line_rate_fps(10e9, 64), 14880952.4, 0.1) << "RFC 2544 appendix: 10GbE, 64 B";
    EXPECT_NEAR(line_rate_fps(10e9, 1518), 812743.8, 0.1);
}

TEST(Rfc2544, SearchConvergesWithinTheResolution) {
    FakeDevice dev{3'000'000, {}};
    SearchOptions o{.max_fps = 14'880'952, .resolution_pct = 0.5, .max_trials = 30};
    auto r = throughput_search(o, [&](double f) { return dev(f); });
    EXPECT_LE(r.fps, 3'000'000) << "never reports a rate that lost frames";
    EXPECT_GE(r.fps, 3'000'000 - o.max_fps * 0.005) << "within 0.5% of the line rate";
    EXPECT_EQ(r.at_rate.lost(), 0u);
    ASSERT_TRUE(r.first_loss.has_value());
    EXPECT_GT(r.first_loss->lost(), 0u);
    EXPECT_EQ(r.trials, dev.offered.size());
    EXPECT_DOUBLE_EQ(dev.offered.front(), o.max_fps) << "the first trial is at the line rate";
    // Binary: log2(1 / 0.005) = 7.6, so 8 halvings after the first trial at most.
    EXPECT_LE(r.trials, 9u);
}

TEST(Rfc2544, FinerResolutionTakesMoreTrialsAndGetsCloser) {
    FakeDevice coarse{1'234'567, {}}, fine{1'234'567, {}};
    auto rc = throughput_search({.max_fps = 10e6, .resolution_pct = 5, .max_trials = 50},
                                [&](double f) { return coarse(f); });
    auto rf = throughput_search({.max_fps = 10e6, .resolution_pct = 0.01, .max_trials = 50},
                                [&](double f) { return fine(f); });
    EXPECT_LT(rc.trials, rf.trials);
    EXPECT_GE(rf.fps, 1'234'567 - 1000.0);
    EXPECT_LE(rf.fps, 1'234'567);
    EXPECT_GE(rc.fps, 1'234'567 - 500'000.0);
}

TEST(Rfc2544, OneLostFrameFailsATrial) {
    // Loses exactly one frame above 500k fps: the zero-loss criterion must see it.
    auto trial = [](double fps) {
        TrialResult t{static_cast<uint64_t>(fps), static_cast<uint64_t>(fps), 1};
        if (fps > 500'000) --t.received;
        return t;
    };
    auto r = throughput_search({.max_fps = 1e6, .resolution_pct = 0.1, .max_trials = 40}, trial);
    EXPECT_LE(r.fps, 500'000);
    EXPECT_GT(r.fps, 499'000);
    EXPECT_EQ(r.first_loss->lost(), 1u);
}

TEST(Rfc2544, LineRatePassingStopsAtOnce) {
    FakeDevice dev{1e9, {}};
    auto r = throughput_search({.max_fps = 812'743, .resolution_pct = 1, .max_trials = 20},
                               [&](double f) { return dev(f); });
    EXPECT_EQ(r.trials, 1u);
    EXPECT_DOUBLE_EQ(r.fps, 812'743);
    EXPECT_FALSE(r.first_loss.has_value());
}

TEST(Rfc2544, NothingPassesReportsZeroAndRespectsTheBudget) {
    auto trial = [](double fps) { return TrialResult{static_cast<uint64_t>(fps) + 1, 0, 1}; };
    auto r = throughput_search({.max_fps = 1e6, .resolution_pct = 0.0001, .max_trials = 6}, trial);
    EXPECT_EQ(r.fps, 0);
    EXPECT_EQ(r.trials, 6u) << "the trial budget bounds the search";
}

TEST(Rfc2544, AGeneratorThatFallsShortCountsAtWhatItSent) {
    // The generator tops out at 100k fps; the device would take anything. The line-rate
    // trial "passes" at 100k fps really sent: that, not the line rate, is the result.
    auto trial = [](double fps) {
        uint64_t sent = static_cast<uint64_t>(std::min(fps, 100'000.0));
        return TrialResult{sent, sent, 1};
    };
    auto r = throughput_search({.max_fps = 1e6, .resolution_pct = 1, .max_trials = 20}, trial);
    EXPECT_EQ(r.trials, 1u);
    EXPECT_DOUBLE_EQ(r.fps, 100'000);
    // And a failing trial bounds the search at what it really sent, not at what was asked.
    std::vector<double> offered;
    auto lossy = [&](double fps) {
        offered.push_back(fps);
        uint64_t sent = static_cast<uint64_t>(std::min(fps, 100'000.0));
        return TrialResult{sent, std::min<uint64_t>(sent, 60'000), 1};
    };
    auto l = throughput_search({.max_fps = 1e6, .resolution_pct = 0.1, .max_trials = 30}, lossy);
    ASSERT_GE(offered.size(), 2u);
    EXPECT_DOUBLE_EQ(offered[1], 50'000) << "halfway between 0 and the 100k really sent";
    EXPECT_LE(l.fps, 60'000);
    EXPECT_GE(l.fps, 59'000);
}

TEST(Rfc2544, ReadsNstatCounters) {
    const char* text =
        "#kernel\nIpInReceives                    10\nIpInDelivers                    7\n"
        "UdpInDatagrams                  5\n#fates\nIngressRx                       12\n";
    EXPECT_EQ(nstat_value(text, "IpInReceives"), 10u);
    EXPECT_EQ(nstat_value(text, "IngressRx"), 12u);
    EXPECT_EQ(nstat_value(text, "UdpInDatagrams"), 5u);
    EXPECT_FALSE(nstat_value(text, "IpIn").has_value()) << "a prefix is not a name";
    EXPECT_FALSE(nstat_value(text, "UdpRcvbufErrors").has_value()) << "zero counters are left out";
}

TEST(Rfc2544, TableHasOneRowPerSize) {
    ThroughputRow row{64, 10e9, 2, {}};
    row.result.fps = 1'488'095;
    row.result.trials = 8;
    auto t = format_throughput_table({row, ThroughputRow{1518, 10e9, 2, {}}});
    EXPECT_NE(t.find("64       1488095       10.00   761.9"), std::string::npos) << t;
    EXPECT_NE(t.find("1518     0"), std::string::npos) << t;
}

TEST(EalArgs, SplitsOnWhitespaceAndKeepsQuotedWords) {
    auto a = split_eal_args("ingress-pktgen",
                            "--no-huge  --no-pci -m 256 --vdev 'net_af_xdp0,iface=veth 0'");
    ASSERT_TRUE(a.has_value());
    std::vector<std::string> want{
        "ingress-pktgen",          "--no-huge", "--no-pci", "-m", "256", "--vdev",
        "net_af_xdp0,iface=veth 0"};
    EXPECT_EQ(*a, want);
    EXPECT_EQ(split_eal_args("p", "")->size(), 1u);
    EXPECT_EQ((*split_eal_args("p", "a \"\" b"))[2], "") << "an empty quoted word is a word";
    EXPECT_FALSE(split_eal_args("p", "--vdev 'net_null0").has_value()) << "unterminated quote";
}

}  // namespace
}  // namespace ingress::gen
