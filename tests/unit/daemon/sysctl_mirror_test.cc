// host: kernel: the net.ipv4.conf knobs come from the kernel's sysctl tree
// (/proc/sys/net/ipv4/conf/{all,IFACE}/*) and combine as the kernel combines them
// (IN_DEV_RPFILTER is the max of all and the interface, IN_DEV_ACCEPT_LOCAL their OR, ...).
// The tests write a tree of their own in a temporary directory.
#include "daemon/sysctl_mirror.h"

#include <gtest/gtest.h>
#include <unistd.h>

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

}  // namespace
}  // namespace ingress::daemon
