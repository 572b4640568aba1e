// The config loader: the shipped configs load; every broken config in
// tests/data/configs/bad/ is refused with the message its first line expects (file, line,
// column, key path, what), and nothing else.
#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ingress::config {
namespace {

std::string source_root() {
    const char* d = std::getenv("INGRESS_TEST_DATA");
    return std::filesystem::path(d ? d : "tests/data").parent_path().parent_path();
}

LoadOptions opts() {
    LoadOptions o;
    o.interface_exists = [](const std::string& n) { return n != "nosuch0"; };
    o.cpus = 2;
    return o;
}

TEST(Config, ShippedConfigsLoad) {
    for (const char* f : {"config/default.yaml", "config/examples/afxdp-nic.yaml",
                          "config/examples/host-config.yaml", "config/examples/multicast-feed.yaml",
                          "config/examples/dns-reuseport.yaml", "config/examples/dpdk-nic.yaml"}) {
        SCOPED_TRACE(f);
        LoadOptions o = opts();
        o.cpus = 8;
        EXPECT_NO_THROW(load(source_root() + "/" + f, o));
    }
}

TEST(Config, DefaultValuesAreTheKernels) {
    Config c = parse("interfaces:\n  - name: veth0\n", "t.yaml", opts());
    ASSERT_EQ(c.interfaces.size(), 1u);
    EXPECT_EQ(c.interfaces[0].queues, std::vector<uint16_t>{0});
    EXPECT_EQ(c.defrag.ipfrag_time, 30u);
    EXPECT_EQ(c.defrag.ipfrag_high_thresh, 4u * 1024 * 1024);
    EXPECT_EQ(c.icmp.icmp_ratelimit_ms, 1000u);
    EXPECT_EQ(c.icmp.icmp_ratemask, 0x1818u);
    EXPECT_EQ(c.policy.ip_unprivileged_port_start, 1024);
    EXPECT_FALSE(c.all.accept_source_route) << "conf/all starts at 0";
    EXPECT_TRUE(c.interfaces[0].conf.accept_source_route) << "conf/default starts at 1";
    EXPECT_EQ(c.control_socket, "/run/ingressd/ctl.sock");
    EXPECT_TRUE(c.host_kernel) << "the host as `ip` and `sysctl` configured it";
    EXPECT_EQ(c.host_implied, "");
}

// A file that writes addresses, routes or knobs without `host:` keeps its meaning: host:
// config, implied, naming the first such key; `host: kernel` said refuses them.
TEST(Config, HostConfigImpliedByTheFilesAddressesRoutesOrKnobs) {
    for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
             {"interfaces:\n  - {name: veth0, addresses: [198.18.0.1/24]}\n",
              "interfaces[0].addresses"},
             {"interfaces:\n  - {name: veth0, conf: {rp_filter: 1}}\n", "interfaces[0].conf"},
             {"interfaces:\n  - name: veth0\nall: {rp_filter: 2}\n", "all"},
             {"interfaces:\n  - name: veth0\nloopback: {addresses: [198.18.99.1/32]}\n",
              "loopback"},
             {"interfaces:\n  - name: veth0\nroutes:\n  - {prefix: 198.18.100.0/24, type: "
              "local, dev: lo}\n",
              "routes"},
             {"interfaces:\n  - name: veth0\nipv4: {icmp_ratelimit: 0}\n", "ipv4"}}) {
        SCOPED_TRACE(text);
        Config c = parse(text, "t.yaml", opts());
        EXPECT_FALSE(c.host_kernel);
        EXPECT_EQ(c.host_implied, key);
        EXPECT_THROW(parse(text + "host: kernel\n", "t.yaml", opts()), Error);
        Config said = parse(text + "host: config\n", "t.yaml", opts());
        EXPECT_FALSE(said.host_kernel);
        EXPECT_EQ(said.host_implied, "") << "said, not implied";
    }
}

TEST(Config, EverythingIsRead) {
    Config c = load(source_root() + "/config/examples/host-config.yaml", [] {
        LoadOptions o = opts();
        o.cpus = 8;
        return o;
    }());
    const InterfaceConfig& i = c.interfaces.at(0);
    EXPECT_EQ(i.name, "enp1s0f0");
    EXPECT_EQ(i.queues, (std::vector<uint16_t>{0, 1, 2, 3}));
    EXPECT_TRUE(i.busy_poll);
    EXPECT_EQ(i.conf.rp_filter, 2);
    ASSERT_EQ(i.vlans.size(), 1u);
    EXPECT_EQ(i.vlans[0].id, 100);
    EXPECT_EQ(i.vlans[0].conf.rp_filter, 1);
    EXPECT_EQ(i.addresses.at(0).addr, wire::ipv4(198, 18, 1, 10));
    EXPECT_EQ(i.addresses.at(0).prefix_len, 24);
    ASSERT_EQ(c.routes.size(), 1u);
    EXPECT_TRUE(c.routes[0].via_gateway);
    EXPECT_EQ(c.worker_cores, (std::vector<unsigned>{2, 3, 4, 5}));
    EXPECT_EQ(c.control_core, 1);
    EXPECT_EQ(c.control_mode, 0660u);
    EXPECT_EQ(c.metrics_addr, 0x7f000001u) << "metrics.listen 127.0.0.1:9464";
    EXPECT_EQ(c.metrics_port, 9464);
    EXPECT_EQ(c.control_group, "ingress");
    EXPECT_EQ(c.control_max_connections_per_uid, 32u);
    EXPECT_EQ(c.control_max_ring_bytes_per_uid, 128u << 20);
    EXPECT_EQ(c.control_frame_timeout_ms, 2000u);
    EXPECT_EQ(c.control_max_connections, 256u) << "the default";
    EXPECT_EQ(c.workers(), 4u);
    EXPECT_FALSE(c.host_kernel);
}

// lo is not a port, but its addresses and an AnyIP route on it are the host's.
TEST(Config, LoopbackAddressesAndAnAnyIpRouteOnLo) {
    Config c = parse(
        "interfaces:\n  - name: veth0\nloopback:\n  addresses: [198.18.99.1/32]\n"
        "routes:\n  - {prefix: 198.18.100.0/24, type: local, dev: lo}\n",
        "t.yaml", opts());
    ASSERT_EQ(c.loopback_addresses.size(), 1u);
    EXPECT_EQ(c.loopback_addresses[0].addr, wire::ipv4(198, 18, 99, 1));
    EXPECT_EQ(c.loopback_addresses[0].prefix_len, 32);
    ASSERT_EQ(c.routes.size(), 1u);
    EXPECT_EQ(c.routes[0].dev, "lo");
    EXPECT_EQ(c.routes[0].type, ipv4::RouteType::kLocal);
}

// rules: added to the default three as `ip rule add` does; routes in any table.
TEST(Config, RulesAndRouteTables) {
    Config c = parse(
        "interfaces:\n  - name: veth0\n"
        "routes:\n  - {prefix: 198.19.0.0/16, dev: veth0, table: 100}\n"
        "rules:\n"
        "  - {from: 198.18.0.0/24, table: 100}\n"
        "  - {priority: 10, not: true, iif: veth0, tos: 0x10, fwmark: 0x1/0xff, ipproto: udp,\n"
        "     sport: 1000-2000, dport: 53, action: prohibit}\n"
        "  - {priority: 20, goto: 30}\n"
        "  - {priority: 30, table: main, suppress_prefixlength: 0}\n",
        "t.yaml", opts());
    ASSERT_EQ(c.routes.size(), 1u);
    EXPECT_EQ(c.routes[0].table, 100u);
    ASSERT_EQ(c.rules.size(), 7u);
    EXPECT_EQ(ipv4::format_rule(c.rules[0]), "0:\tfrom all lookup local");
    EXPECT_EQ(ipv4::format_rule(c.rules[1]),
              "10:\tnot from all tos 0x10 fwmark 0x1/0xff iif veth0 [detached] ipproto 17 "
              "sport 1000-2000 dport 53 prohibit");
    EXPECT_EQ(ipv4::format_rule(c.rules[2]), "20:\tfrom all goto 30");
    EXPECT_EQ(ipv4::format_rule(c.rules[3]), "30:\tfrom all lookup main suppress_prefixlength 0");
    EXPECT_EQ(ipv4::format_rule(c.rules[4]), "32765:\tfrom 198.18.0.0/24 lookup 100");
}

TEST(Config, DpdkPortIsRead) {
    LoadOptions o = opts();
    o.cpus = 8;
    o.interface_exists = [](const std::string&) { return false; };  // bound to vfio-pci: gone
    Config c = load(source_root() + "/config/examples/dpdk-nic.yaml", o);
    const InterfaceConfig& i = c.interfaces.at(0);
    EXPECT_EQ(i.driver, Driver::kDpdk);
    EXPECT_EQ(i.device, "0000:01:00.0");
    EXPECT_EQ(i.exception, "enp1s0f0-x");
    EXPECT_EQ(i.rss, Rss::kIpUdp);
    EXPECT_EQ(i.queues, (std::vector<uint16_t>{0, 1, 2, 3}));
    EXPECT_EQ(c.dpdk.eal_args,
              (std::vector<std::string>{"-l", "1", "-n", "4", "--file-prefix", "ingressd"}));
    EXPECT_EQ(c.dpdk.mbufs, 32767u);
    EXPECT_EQ(c.dpdk.mbuf_cache, 256u);
    EXPECT_EQ(c.dpdk.rx_descriptors, 1024);
    EXPECT_EQ(c.dpdk.exception_poll, 16u);
}

TEST(Config, DpdkDefaults) {
    Config c =
        parse("interfaces:\n  - {name: p0, driver: dpdk, device: 'net_af_packet0,iface=veth0'}\n",
              "t.yaml", opts());
    const InterfaceConfig& i = c.interfaces.at(0);
    EXPECT_EQ(i.exception, "p0-x") << "the TAP is named after the port";
    EXPECT_EQ(i.rss, Rss::kIpUdp);
    EXPECT_EQ(c.dpdk.mbufs, 16383u);
    EXPECT_TRUE(c.dpdk.eal_args.empty());
}

// hw_timestamps is per AF_XDP interface, auto unless the file says off (the device-bound XDP
// program tried first, src/io/afxdp/hw_timestamps.md); a DPDK port has no XDP program.
TEST(Config, HwTimestampsPerAfXdpInterfaceDefaultAuto) {
    Config c = parse(
        "interfaces:\n"
        "  - {name: a0}\n"
        "  - {name: a1, hw_timestamps: off}\n"
        "  - {name: a2, hw_timestamps: auto}\n",
        "t.yaml", opts());
    EXPECT_EQ(c.interfaces.at(0).hw_timestamps, HwTimestamps::kAuto);
    EXPECT_EQ(c.interfaces.at(1).hw_timestamps, HwTimestamps::kOff);
    EXPECT_EQ(c.interfaces.at(2).hw_timestamps, HwTimestamps::kAuto);
    EXPECT_THROW(parse("interfaces:\n  - {name: a0, hw_timestamps: on}\n", "t.yaml", opts()), Error)
        << "auto or off";
    EXPECT_THROW(parse("interfaces:\n  - {name: p0, driver: dpdk, device: 'net_null0', "
                       "hw_timestamps: off}\n",
                       "t.yaml", opts()),
                 Error)
        << "applies to driver af_xdp only";
}

// poll_mode is per interface; an interface without it is adaptive, so no worker takes a core
// while its queue is idle unless the file says busy.
TEST(Config, PollModePerInterfaceDefaultAdaptive) {
    Config c = parse(
        "interfaces:\n"
        "  - {name: a0, poll_mode: busy}\n"
        "  - {name: a1, poll_mode: interrupt}\n"
        "  - {name: a2, poll_mode: adaptive}\n"
        "  - {name: a3}\n"
        "  - {name: p0, driver: dpdk, device: 'net_af_packet0,iface=a4', poll_mode: interrupt}\n",
        "t.yaml", opts());
    ASSERT_EQ(c.interfaces.size(), 5u);
    EXPECT_EQ(c.interfaces[0].poll_mode, PollMode::kBusy);
    EXPECT_EQ(c.interfaces[1].poll_mode, PollMode::kInterrupt);
    EXPECT_EQ(c.interfaces[2].poll_mode, PollMode::kAdaptive);
    EXPECT_EQ(c.interfaces[3].poll_mode, PollMode::kAdaptive) << "the default";
    EXPECT_EQ(c.interfaces[4].poll_mode, PollMode::kInterrupt) << "dpdk ports take it too";
    EXPECT_TRUE(c.runtime_profile) << "on unless the file turns it off";
    EXPECT_FALSE(
        parse("interfaces:\n  - {name: a0}\nworkers:\n  runtime_profile: off\n", "t.yaml", opts())
            .runtime_profile);
}

// interfaces[].idle: unsaid, the worker's defaults (50 us spin; 1 ms cap, 5 ms after 1 s);
// said, in us and ms, kept in ns; the deep cap is at least the cap when only the cap is said.
TEST(Config, IdleTimesPerInterfaceDefaultTheWorkers) {
    Config c = parse(
        "interfaces:\n"
        "  - {name: a0}\n"
        "  - {name: a1, idle: {spin_us: 200}}\n"
        "  - {name: p0, driver: dpdk, device: 'net_af_packet0,iface=a2', poll_mode: interrupt,\n"
        "     idle: {backoff_max_us: 250, deep_after_ms: 30000, deep_backoff_max_us: 10000}}\n"
        "  - {name: p1, driver: dpdk, device: 'net_af_packet1,iface=a3',\n"
        "     idle: {spin_us: 1, backoff_max_us: 8000}}\n",
        "t.yaml", opts());
    ASSERT_EQ(c.interfaces.size(), 4u);
    const worker::IdleTimes dflt;
    EXPECT_EQ(dflt.spin_ns, 50'000u);
    EXPECT_EQ(dflt.backoff_max_ns, 1'000'000u);
    EXPECT_EQ(dflt.deep_idle_ns, 1'000'000'000u);
    EXPECT_EQ(dflt.deep_backoff_max_ns, 5'000'000u);
    EXPECT_EQ(c.interfaces[0].idle, dflt) << "the default";
    EXPECT_EQ(c.interfaces[1].idle, (worker::IdleTimes{.spin_ns = 200'000}));
    EXPECT_EQ(c.interfaces[2].idle, (worker::IdleTimes{.backoff_max_ns = 250'000,
                                                       .deep_idle_ns = 30'000'000'000,
                                                       .deep_backoff_max_ns = 10'000'000}));
    EXPECT_EQ(c.interfaces[3].idle,
              (worker::IdleTimes{
                  .spin_ns = 1'000, .backoff_max_ns = 8'000'000, .deep_backoff_max_ns = 8'000'000}))
        << "the deep cap follows a cap above its default";
    EXPECT_EQ(worker::micro_sleep_text(c.interfaces[0].idle),
              "10 us doubling to 1 ms; to 5 ms after 1 s without a frame");
    EXPECT_EQ(worker::micro_sleep_text(c.interfaces[2].idle),
              "10 us doubling to 250 us; to 10 ms after 30 s without a frame");
    EXPECT_EQ(worker::micro_sleep_text(c.interfaces[3].idle), "10 us doubling to 8 ms")
        << "no deep idle when its cap is the cap";
}

// Each idle key's range and where it applies: the error names the file, line, column and
// key, as every other (the micro-sleep never outlasts the 10 ms timer tick).
TEST(Config, IdleTimesOutOfRangeOrModeNameTheirKey) {
    const std::string dpdk = "  - {name: p0, driver: dpdk, device: net_null0, ";
    const struct {
        std::string iface, want;
    } cases[] = {
        {"  - {name: a0, idle: {spin_us: 0}}\n",
         "t.yaml:2:32: interfaces[0].idle.spin_us: 0 is out of range 1..1000000"},
        {"  - {name: a0, idle: {spin_us: 1000001}}\n",
         "t.yaml:2:32: interfaces[0].idle.spin_us: 1000001 is out of range 1..1000000"},
        {"  - {name: a0, idle: {spin_ms: 10}}\n",
         "t.yaml:2:23: interfaces[0].idle.spin_ms: unknown key (did you mean 'spin_us'?)"},
        {"  - {name: a0, idle: 50}\n",
         "t.yaml:2:22: interfaces[0].idle: expected a mapping of keys"},
        {"  - {name: a0, poll_mode: busy, idle: {spin_us: 10}}\n",
         "t.yaml:2:39: interfaces[0].idle: applies to poll_mode adaptive or interrupt only (busy "
         "never sleeps)"},
        {"  - {name: a0, poll_mode: interrupt, idle: {spin_us: 10}}\n",
         "t.yaml:2:54: interfaces[0].idle.spin_us: applies to poll_mode adaptive only"},
        {"  - {name: a0, idle: {backoff_max_us: 100}}\n",
         "t.yaml:2:39: interfaces[0].idle.backoff_max_us: applies to driver dpdk only (an af_xdp "
         "worker sleeps in poll() on its socket, no micro-sleep)"},
        {dpdk + "idle: {backoff_max_us: 9}}\n",
         "t.yaml:2:72: interfaces[0].idle.backoff_max_us: 9 is out of range 10..10000"},
        {dpdk + "idle: {backoff_max_us: 10001}}\n",
         "t.yaml:2:72: interfaces[0].idle.backoff_max_us: 10001 is out of range 10..10000"},
        {dpdk + "idle: {deep_after_ms: 0}}\n",
         "t.yaml:2:71: interfaces[0].idle.deep_after_ms: 0 is out of range 1..3600000"},
        {dpdk + "idle: {deep_backoff_max_us: 20000}}\n",
         "t.yaml:2:77: interfaces[0].idle.deep_backoff_max_us: 20000 is out of range 10..10000"},
        {dpdk + "idle: {backoff_max_us: 2000, deep_backoff_max_us: 1000}}\n",
         "t.yaml:2:99: interfaces[0].idle.deep_backoff_max_us: 1000 is below backoff_max_us "
         "(2000): deep idle sleeps at least as long"},
    };
    for (const auto& tc : cases) {
        SCOPED_TRACE(tc.iface);
        try {
            parse("interfaces:\n" + tc.iface, "t.yaml", opts());
            ADD_FAILURE() << "accepted";
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()), tc.want);
        }
    }
}

// privileges: absent, the daemon stays root and unfiltered (as before the key existed).
TEST(Config, PrivilegesDefaultToNoneAndAreRead) {
    Config none = parse("interfaces:\n  - {name: a0}\n", "t.yaml", opts());
    EXPECT_TRUE(none.privileges_user.empty());
    EXPECT_TRUE(none.privileges_group.empty());
    EXPECT_EQ(none.seccomp, Seccomp::kOff);
    Config c = parse(
        "interfaces:\n  - {name: a0}\n"
        "privileges: {user: ingressd, group: adm, seccomp: on}\n",
        "t.yaml", opts());
    EXPECT_EQ(c.privileges_user, "ingressd");
    EXPECT_EQ(c.privileges_group, "adm");
    EXPECT_EQ(c.seccomp, Seccomp::kOn);
    EXPECT_EQ(parse("interfaces:\n  - {name: a0}\nprivileges: {seccomp: log}\n", "t.yaml", opts())
                  .seccomp,
              Seccomp::kLog)
        << "seccomp without a user: root, filtered";
}

TEST(Config, UnreadableFileNamesIt) {
    try {
        load("/nonexistent/ingressd.yaml");
        FAIL();
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "/nonexistent/ingressd.yaml: cannot read the file");
    }
}

TEST(Config, BindingsAndTheirPolicy) {
    const Config c = parse(
        "interfaces:\n  - name: veth0\n"
        "policy:\n  bindings: {gids: [50]}\n  register: {uids: [1000]}\n"
        "bindings:\n"
        "  - {protocol: udp, prefix: 198.18.100.0/24, ports: 1-65535, label: dns}\n"
        "  - {prefix: 198.18.100.7, ports: 53, label: web, no_reuseport: true}\n"
        "  - {prefix: 198.18.100.9, action: drop}\n",
        "t.yaml", opts());
    ASSERT_EQ(c.bindings.size(), 3u);
    const demux::Binding& a = c.bindings[0].binding;
    EXPECT_EQ(a.prefix, wire::ipv4(198, 18, 100, 0));
    EXPECT_EQ(a.prefix_len, 24);
    EXPECT_EQ(a.port_lo, 1);
    EXPECT_EQ(a.port_hi, 65535);
    EXPECT_EQ(a.label, "dns");
    EXPECT_FALSE(a.drop || a.no_reuseport);
    const demux::Binding& b = c.bindings[1].binding;
    EXPECT_EQ(b.prefix_len, 32) << "an address alone is a /32";
    EXPECT_EQ(b.port_lo, 53);
    EXPECT_EQ(b.port_hi, 53);
    EXPECT_TRUE(b.no_reuseport);
    const demux::Binding& d = c.bindings[2].binding;
    EXPECT_TRUE(d.drop);
    EXPECT_EQ(d.port_lo, 0) << "no ports: every port";
    EXPECT_EQ(d.port_hi, 65535);
    EXPECT_EQ(c.bindings[2].line, 9);
    EXPECT_EQ(c.bindings[2].key, "bindings[2]");
    EXPECT_EQ(c.policy.bindings.gids, std::vector<gid_t>{50});
    EXPECT_EQ(c.policy.register_label.uids, std::vector<uid_t>{1000});
}

// One file per error class; the first line says what the user must see.
TEST(Config, EveryBrokenConfigGetsItsMessage) {
    std::filesystem::path dir = source_root() + "/tests/data/configs/bad";
    int checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string path = entry.path();
        SCOPED_TRACE(path);
        std::ifstream in(path);
        std::string first;
        std::getline(in, first);
        const std::string tag = "# expect: ";
        ASSERT_EQ(first.rfind(tag, 0), 0u) << "first line must be '# expect: ...'";
        std::string expect = first.substr(tag.size());
        try {
            load(path, opts());
            ADD_FAILURE() << "accepted";
        } catch (const Error& e) {
            // "PATH:LINE:COL: KEY: WHAT", or "PATH: WHAT" when there is no position.
            std::string want = path + (expect.find(':') != std::string::npos &&
                                               std::isdigit(static_cast<unsigned char>(expect[0]))
                                           ? ":" + expect
                                           : ": " + expect);
            EXPECT_EQ(std::string(e.what()), want);
        }
        ++checked;
    }
    EXPECT_GE(checked, 20);
}

}  // namespace
}  // namespace ingress::config
