// host: kernel: the net.ipv4.conf knobs come from the kernel's sysctl tree
// (/proc/sys/net/ipv4/conf/{all,IFACE}/*) and combine as the kernel combines them
// (IN_DEV_RPFILTER is the max of all and the interface, IN_DEV_ACCEPT_LOCAL their OR, ...).
// The tests write a tree of their own in a temporary directory.
#include "daemon/sysctl_mirror.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace ingress::daemon {
namespace {

namespace fs = std::filesystem;

class SysctlMirror : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("ingress-sysctl-" + std::to_string(getpid()));
        fs::remove_all(root_);
        // Every knob at the kernel's defaults for all and eth0 (ipv4_devconf: all has
        // accept_source_route 0, an interface inherits ipv4_devconf_dflt's 1).
        for (const char* dir : {"all", "eth0", "lo"})
            for (const char* knob : ipv4::kDevConfKnobs)
                put(dir, knob,
                    std::string(knob) == "accept_source_route" ? (dir[0] == 'a' ? 0 : 1)
                    : std::string(knob) == "send_redirects"    ? 1
                                                               : 0);
    }
    void TearDown() override { fs::remove_all(root_); }
    void put(const std::string& dir, const std::string& knob, unsigned v) {
        fs::create_directories(root_ / "conf" / dir);
        std::ofstream(root_ / "conf" / dir / knob) << v << "\n";
    }
    static ipv4::RouteConfig two_ifaces() {
        ipv4::RouteConfig rc;
        rc.ifaces.push_back({.ifindex = 2, .name = "eth0"});
        rc.ifaces.push_back({.ifindex = 1, .name = "lo", .loopback = true});
        return rc;
    }
    fs::path root_;
};

TEST_F(SysctlMirror, ReadsAllAndEachInterfaceByName) {
    put("all", "rp_filter", 2);      // sysctl -w net.ipv4.conf.all.rp_filter=2
    put("eth0", "rp_filter", 1);     // ... conf.eth0.rp_filter=1
    put("eth0", "accept_local", 1);  // ... conf.eth0.accept_local=1
    put("lo", "route_localnet", 1);
    const KernelConf k = read_kernel_conf({"eth0", "lo"}, root_.string());
    EXPECT_EQ(k.unreadable, 0u);
    EXPECT_EQ(k.all.rp_filter, 2);
    EXPECT_FALSE(k.all.accept_source_route);
    ASSERT_EQ(k.ifaces.size(), 2u);
    EXPECT_EQ(k.ifaces[0].first, "eth0");
    EXPECT_EQ(k.ifaces[0].second.rp_filter, 1);
    EXPECT_TRUE(k.ifaces[0].second.accept_local);
    EXPECT_TRUE(k.ifaces[0].second.accept_source_route);
    EXPECT_TRUE(k.ifaces[1].second.route_localnet);

    // Through the route stage: rp_filter is max(all, dev) = 2 (loose) on eth0, as
    // IN_DEV_RPFILTER; accept_local is all || dev.
    ipv4::RouteConfig rc = two_ifaces();
    overlay_kernel_conf(rc, k);
    const ipv4::RouteTables t(rc);
    ASSERT_NE(t.iface(2), nullptr);
    EXPECT_EQ(t.iface(2)->conf.rp_filter, 2);
    EXPECT_TRUE(t.iface(2)->conf.accept_local);
    EXPECT_FALSE(t.iface(2)->conf.source_route);  // all's 0 wins: IN_DEV_SOURCE_ROUTE is AND
    EXPECT_FALSE(t.iface(1)->conf.accept_local);
    EXPECT_TRUE(t.iface(1)->conf.route_localnet);
}

// A change is a different read: what the control thread's one-second timer compares.
TEST_F(SysctlMirror, AChangedKnobMakesADifferentRead) {
    const KernelConf before = read_kernel_conf({"eth0"}, root_.string());
    EXPECT_EQ(read_kernel_conf({"eth0"}, root_.string()), before);
    put("eth0", "drop_unicast_in_l2_multicast", 1);  // no RTM_NEWNETCONF for this one
    const KernelConf after = read_kernel_conf({"eth0"}, root_.string());
    EXPECT_NE(after, before);
    EXPECT_TRUE(after.ifaces[0].second.drop_unicast_in_l2_multicast);
}

// An interface with no directory (a VLAN the kernel has no device for) keeps the
// kernel's defaults, and the unreadable files are counted; a value out of range
// (rp_filter=3) is refused like a bad config value and counted, leaving the default.
TEST_F(SysctlMirror, MissingOrBadFilesKeepDefaultsAndAreCounted) {
    put("eth0", "rp_filter", 3);
    const KernelConf k = read_kernel_conf({"eth0", "eth0.7"}, root_.string());
    EXPECT_EQ(k.unreadable, 1u + std::size(ipv4::kDevConfKnobs));
    EXPECT_EQ(k.ifaces[0].second.rp_filter, 0);
    EXPECT_EQ(k.ifaces[1].second, ipv4::DevConf{});
}

// What the overlay leaves alone: interfaces the read did not name keep their conf.
TEST_F(SysctlMirror, OverlayByNameOnly) {
    put("eth0", "forwarding", 1);
    ipv4::RouteConfig rc = two_ifaces();
    rc.ifaces[1].conf.route_localnet = true;
    overlay_kernel_conf(rc, read_kernel_conf({"eth0"}, root_.string()));
    EXPECT_TRUE(rc.ifaces[0].conf.forwarding);
    EXPECT_TRUE(rc.ifaces[1].conf.route_localnet);
    EXPECT_EQ(conf_names(rc), (std::vector<std::string>{"eth0", "lo"}));
}

// The global net.ipv4.* knobs (/proc/sys/net/ipv4/NAME): each file read into its field; a
// missing or out-of-range one (the kernel's proc handlers refuse ip_default_ttl 0) keeps
// the value it had and is counted; what was read lands in the configuration the workers and
// the bind checks are built from, leaving the fields that are not knobs (the MTU, the
// reassembly pools) alone.
TEST_F(SysctlMirror, GlobalKnobsAreReadIntoTheConfiguration) {
    auto put_global = [&](const std::string& knob, uint64_t v) {
        fs::create_directories((root_ / knob).parent_path());
        std::ofstream(root_ / knob) << v << "\n";
    };
    const std::vector<std::pair<std::string, uint64_t>> values = {
        {"icmp_ratelimit", 0},
        {"icmp_ratemask", 0x1819},
        {"icmp_msgs_per_sec", 20},
        {"icmp_msgs_burst", 5},
        {"icmp_echo_ignore_all", 1},
        {"icmp_echo_ignore_broadcasts", 0},
        {"icmp_ignore_bogus_error_responses", 0},
        {"ip_default_ttl", 0},  // out of range: refused, counted
        {"ipfrag_high_thresh", 8u << 20},
        {"ipfrag_low_thresh", 6u << 20},
        {"ipfrag_time", 7},
        {"ipfrag_max_dist", 0},
        {"ip_early_demux", 0},
        {"udp_early_demux", 1},
        {"route/min_pmtu", 1280},
        {"route/mtu_expires", 60},
        {"ip_unprivileged_port_start", 80},
        // ip_nonlocal_bind: no file, counted
    };
    for (const auto& [k, v] : values) put_global(k, v);
    KernelGlobals base;
    base.knobs.icmp.ip_default_ttl = 99;
    const KernelGlobals g = read_kernel_globals(base, root_.string());
    EXPECT_EQ(g.unreadable, 2u);
    EXPECT_EQ(g.knobs.icmp.icmp_ratelimit_ms, 0u);
    EXPECT_EQ(g.knobs.icmp.icmp_ratemask, 0x1819u);
    EXPECT_EQ(g.knobs.icmp.icmp_msgs_per_sec, 20u);
    EXPECT_EQ(g.knobs.icmp.icmp_msgs_burst, 5u);
    EXPECT_TRUE(g.knobs.icmp.icmp_echo_ignore_all);
    EXPECT_FALSE(g.knobs.icmp.icmp_echo_ignore_broadcasts);
    EXPECT_FALSE(g.knobs.icmp.icmp_ignore_bogus_error_responses);
    EXPECT_EQ(g.knobs.icmp.ip_default_ttl, 99) << "unreadable: the base's value stays";
    EXPECT_EQ(g.knobs.defrag.ipfrag_high_thresh, 8u << 20);
    EXPECT_EQ(g.knobs.defrag.ipfrag_low_thresh, 6u << 20);
    EXPECT_EQ(g.knobs.defrag.ipfrag_time, 7u);
    EXPECT_EQ(g.knobs.defrag.ipfrag_max_dist, 0u);
    EXPECT_FALSE(g.knobs.ip_early_demux);
    EXPECT_TRUE(g.knobs.udp_early_demux);
    EXPECT_EQ(g.knobs.pmtu.min_pmtu, 1280u);
    EXPECT_EQ(g.knobs.pmtu.mtu_expires_s, 60u);
    EXPECT_EQ(g.ip_unprivileged_port_start, 80);
    EXPECT_FALSE(g.ip_nonlocal_bind);

    config::Config c;
    c.icmp.mtu = 9000;
    c.defrag.max_queues = 7;
    overlay_kernel_globals(c, g);
    EXPECT_EQ(c.icmp.icmp_msgs_burst, 5u);
    EXPECT_EQ(c.icmp.mtu, 9000) << "not a knob: the configuration's";
    EXPECT_EQ(c.defrag.ipfrag_time, 7u);
    EXPECT_EQ(c.defrag.max_queues, 7u) << "not a knob: the configuration's";
    EXPECT_EQ(c.policy.ip_unprivileged_port_start, 80);
    EXPECT_FALSE(c.ip_early_demux);
    EXPECT_EQ(describe_globals(globals_of(c)), describe_globals(g));

    // A change is a different read; `ingressctl host` names every knob with its value.
    put_global("ip_nonlocal_bind", 1);
    const KernelGlobals after = read_kernel_globals(g, root_.string());
    EXPECT_NE(after, g);
    EXPECT_TRUE(after.ip_nonlocal_bind);
    const std::vector<std::string> d = describe_globals(after);
    EXPECT_EQ(d.size(), 18u);
    EXPECT_NE(std::find(d.begin(), d.end(), "net.ipv4.route.min_pmtu 1280"), d.end());
    EXPECT_NE(std::find(d.begin(), d.end(), "net.ipv4.ip_nonlocal_bind 1"), d.end());
    EXPECT_NE(std::find(d.begin(), d.end(), "net.ipv4.icmp_ratemask 6169"), d.end());
}

}  // namespace
}  // namespace ingress::daemon
