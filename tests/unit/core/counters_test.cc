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

Snapshot sample(uint64_t k) {
    CounterBlock c;
    c.begin_burst();
    c.rx(3 * k);
    c.mib(Mib::kIpInReceives, 3 * k);
    c.mib(Mib::kUdpInDatagrams, k);
    c.delivered(k);
    c.dropped(DropReason::kNoSocket, 2 * k);
    c.end_burst();
    return c.snapshot();
}

TEST(CounterArray, RoundTripsInTableOrderAndRefusesAnotherLength) {
    Snapshot s = sample(5);
    auto v = counter_array(s);
    EXPECT_EQ(v[0], 15u);  // rx first, then delivered, held, passed
    EXPECT_EQ(v[1], 5u);
    EXPECT_EQ(v[4 + static_cast<std::size_t>(DropReason::kNoSocket)], 10u);
    EXPECT_EQ(v[4 + kDropReasonCount + static_cast<std::size_t>(Mib::kUdpInDatagrams)], 5u);
    auto back = snapshot_from_array(v.data(), v.size());
    ASSERT_TRUE(back);
    EXPECT_EQ(counter_array(*back), v);
    EXPECT_FALSE(snapshot_from_array(v.data(), v.size() - 1));
    EXPECT_EQ(counter_table_hash(), counter_table_hash());
    EXPECT_NE(counter_table_hash(), 2166136261u) << "the names went into it";
}

TEST(StatsFormat, TableHasTheTotalThenOneColumnPerWorker) {
    Snapshot a = sample(1), b = sample(2), total = a;
    total += b;
    std::string out = format_stats_table(total, {a, b});
    EXPECT_NE(out.find("#kernel                                total     worker0     worker1\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("IpInReceives                               9           3           6\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("NO_SOCKET                                  6           2           4\n"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("IpInHdrErrors"), std::string::npos) << "zero rows hidden without -a";
    EXPECT_NE(format_stats_table(total, {a, b}, {.zeros = true}).find("IpInHdrErrors"),
              std::string::npos);
    EXPECT_NE(out.find("#conservation rx 9 = delivered 3 + held 0 + passed 0 + dropped 6: ok"),
              std::string::npos)
        << out;
}

TEST(StatsFormat, RatesAreTheDeltaOverTheInterval) {
    std::string out = format_rates(sample(1), sample(3), 2.0);
    // IpInReceives 3 -> 9 over 2 s.
    EXPECT_NE(out.find("IpInReceives                                 9          3.0/s\n"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("IpInHdrErrors"), std::string::npos);
    EXPECT_NE(format_rates(sample(1), sample(3), 2.0, {.zeros = true}).find("IpInHdrErrors"),
              std::string::npos);
}

TEST(StatsFormat, JsonSnapshotHasEveryCounterSoKeysAreStable) {
    std::string j = json_snapshot(sample(1));
    EXPECT_NE(j.find("\"IpInHdrErrors\":0"), std::string::npos) << j;
    EXPECT_NE(j.find("\"NO_SOCKET\":2"), std::string::npos) << j;
    EXPECT_NE(j.find("\"fates\":{\"rx\":3,\"delivered\":1,\"held\":0,\"passed\":0,\"dropped\":2}"),
              std::string::npos)
        << j;
}

TEST(OpenMetrics, FamiliesWithTypeHelpTotalSuffixWorkerAndReasonLabelsEndingInEof) {
    std::string out = format_openmetrics({sample(1), sample(2)});
    auto has = [&](const std::string& s) { return out.find(s) != std::string::npos; };
    EXPECT_TRUE(
        has("# TYPE ingress_netstat_Ip_InReceives counter\n"
            "# HELP ingress_netstat_Ip_InReceives IPv4 datagrams received (after the "
            "OTHERHOST check)\n"
            "ingress_netstat_Ip_InReceives_total{worker=\"0\"} 3\n"
            "ingress_netstat_Ip_InReceives_total{worker=\"1\"} 6\n"))
        << out;
    EXPECT_TRUE(has("ingress_netstat_IpExt_InOctets_total{worker=\"0\"} 0\n"));
    EXPECT_TRUE(has("ingress_netstat_TcpExt_IPReversePathFilter_total{worker=\"1\"} 0\n"));
    EXPECT_TRUE(has("# TYPE ingress_drops counter\n"));
    EXPECT_TRUE(has("ingress_drops_total{worker=\"1\",reason=\"NO_SOCKET\"} 4\n")) << out;
    EXPECT_TRUE(has("ingress_rx_frames_total{worker=\"1\"} 6\n"));
    EXPECT_TRUE(has("# TYPE ingress_held_frames gauge\n"));
    EXPECT_TRUE(has("ingress_held_frames{worker=\"0\"} 0\n")) << "a gauge has no _total";
    ASSERT_GE(out.size(), 6u);
    EXPECT_EQ(out.substr(out.size() - 6), "# EOF\n");
    EXPECT_EQ(out.find("# EOF"), out.size() - 6) << "once, at the end";
    // One TYPE per family: as many as MIB counters + drops + four fates.
    std::size_t types = 0;
    for (std::size_t p = 0; (p = out.find("# TYPE ", p)) != std::string::npos; ++p) ++types;
    EXPECT_EQ(types, kMibCount + 1 + 4);
    // Every sample line ends in an integer and names a declared family.
    std::size_t samples = 0;
    for (std::size_t p = 0, e; p < out.size(); p = e + 1) {
        e = out.find('\n', p);
        std::string line = out.substr(p, e - p);
        if (line.empty() || line[0] == '#') continue;
        ++samples;
        const std::string fam = line.substr(0, line.find('{'));
        const std::string base =
            fam.size() > 6 && fam.ends_with("_total") ? fam.substr(0, fam.size() - 6) : fam;
        EXPECT_TRUE(has("# TYPE " + base + " ")) << line;
        EXPECT_NE(line.find_last_of("0123456789"), std::string::npos);
    }
    EXPECT_EQ(samples, 2 * (kMibCount + kDropReasonCount + 4));
}

// Two AF_XDP sockets of one interface: the kernel's XDP_STATISTICS per queue and the
// backend's own totals, as the daemon reads them.
std::vector<CounterGroup> xsk_groups() {
    return {{.device = "eth0",
             .backend = "af_xdp",
             .source = "backend",
             .queue = -1,
             .counters = {{"rx", "frames handed out", 100}, {"rx_missed", "lost", 7}}},
            {.device = "eth0",
             .backend = "af_xdp",
             .source = "xdp_statistics",
             .queue = 0,
             .counters = {{"rx_dropped", "no buffer", 0}, {"rx_ring_full", "ring full", 5}}},
            {.device = "eth0",
             .backend = "af_xdp",
             .source = "xdp_statistics",
             .queue = 1,
             .counters = {{"rx_dropped", "no buffer", 2}, {"rx_ring_full", "ring full", 0}}}};
}

TEST(OpenMetrics, BackendCountersAreFamiliesBySourceAndNameLabelledByDeviceAndQueue) {
    std::string out = format_openmetrics({sample(1)}, xsk_groups());
    auto has = [&](const std::string& s) { return out.find(s) != std::string::npos; };
    EXPECT_TRUE(
        has("# TYPE ingress_xdp_statistics_rx_ring_full counter\n"
            "# HELP ingress_xdp_statistics_rx_ring_full ring full\n"
            "ingress_xdp_statistics_rx_ring_full_total{device=\"eth0\",backend=\"af_xdp\","
            "queue=\"0\"} 5\n"
            "ingress_xdp_statistics_rx_ring_full_total{device=\"eth0\",backend=\"af_xdp\","
            "queue=\"1\"} 0\n"))
        << "one family, its samples together, one per socket: " << out;
    EXPECT_TRUE(has("ingress_backend_rx_missed_total{device=\"eth0\",backend=\"af_xdp\"} 7\n"))
        << "a whole-interface counter has no queue label";
    std::size_t types = 0;
    for (std::size_t p = 0; (p = out.find("# TYPE ", p)) != std::string::npos; ++p) ++types;
    EXPECT_EQ(types, kMibCount + 1 + 4 + 4) << "rx, rx_missed, rx_dropped, rx_ring_full";
    EXPECT_EQ(out.find("# EOF"), out.size() - 6) << "still once, at the end";
}

TEST(StatsFormat, BackendCounterGroupsKeepTheSourcesNamesInTextAndJson) {
    const std::string text = format_counter_groups(xsk_groups());
    EXPECT_EQ(text,
              "#backend eth0 (af_xdp)\n"
              "rx                              100\n"
              "rx_missed                       7\n"
              "#xdp_statistics eth0 queue 0 (af_xdp)\n"
              "rx_ring_full                    5\n"
              "#xdp_statistics eth0 queue 1 (af_xdp)\n"
              "rx_dropped                      2\n");
    EXPECT_NE(format_counter_groups(xsk_groups(), {.zeros = true})
                  .find("rx_ring_full      "
                        "              0\n"),
              std::string::npos)
        << "-a prints the zeros";
    const std::string j = json_counter_groups(xsk_groups());
    EXPECT_NE(j.find("{\"device\":\"eth0\",\"backend\":\"af_xdp\",\"source\":\"backend\","
                     "\"queue\":null,\"counters\":{\"rx\":100,\"rx_missed\":7}}"),
              std::string::npos)
        << j;
    EXPECT_NE(j.find("\"source\":\"xdp_statistics\",\"queue\":1,\"counters\":{\"rx_dropped\":2,"
                     "\"rx_ring_full\":0}"),
              std::string::npos)
        << "zeros included, so keys are stable: " << j;
    EXPECT_EQ(json_counter_groups({}), "[]");
}

TEST(OpenMetrics, EscapesBackslashNewlineAndQuotesInLabelValues) {
    EXPECT_EQ(openmetrics_escape("a\\b\nc\"d", false), "a\\\\b\\nc\"d") << "HELP keeps quotes";
    EXPECT_EQ(openmetrics_escape("a\\b\nc\"d", true), "a\\\\b\\nc\\\"d");
    EXPECT_EQ(openmetrics_escape("NO_SOCKET", true), "NO_SOCKET");
}

}  // namespace
}  // namespace ingress::core
