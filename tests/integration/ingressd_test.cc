// ingressd end to end: the real daemon on a veth pair in namespaces made for each test (XDP
// in native mode, AF_XDP), apps in other processes attached through libingress (this test
// process, and ingress-sink), frames injected at L2 from the peer namespace. Every test
// checks what the apps received AND ingressd's counters (read over the control socket,
// parsed back into a snapshot, every counter not named must be zero), which includes the
// conservation identity rx = delivered + held + passed + dropped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <ingress/client.h>
#include <linux/if_packet.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/afxdp/xsk_tx.h"
#include "support/counters.h"
#include "support/netns.h"
#include "wire/frame_builder.h"
#include "wire/ipv4.h"

namespace ingress::test {
namespace {

namespace fs = std::filesystem;
using wire::FrameBuilder;
using wire::ipv4;

constexpr wire::Ipv4Addr kLocal = ipv4(198, 18, 0, 1);
constexpr wire::Ipv4Addr kPeer = ipv4(198, 18, 0, 2);
constexpr wire::Ipv4Addr kPeer2 = ipv4(198, 18, 0, 4);
constexpr wire::Ipv4Addr kGroup = ipv4(239, 1, 1, 1);
constexpr wire::Ipv4Addr kSubnetBcast = ipv4(198, 18, 0, 255);
constexpr std::size_t kPayload = 18;
constexpr uint64_t kIpLen = 20 + 8 + kPayload;

std::string env_or(const char* name, const char* fallback) {
    const char* p = std::getenv(name);
    return p ? p : fallback;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool eventually(const std::function<bool()>& f, int ms = 5000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return f();
}

// A child process in a namespace (`ip netns exec` execs the command itself, so the pid is
// the command's); stdout and stderr go to files.
struct Child {
    pid_t pid = -1;
    std::string out, err;

    static Child spawn(const std::string& ns, const std::vector<std::string>& argv,
                       const std::string& base) {
        Child c;
        c.out = base + ".out";
        c.err = base + ".err";
        std::vector<std::string> full{"ip", "netns", "exec", ns};
        full.insert(full.end(), argv.begin(), argv.end());
        c.pid = fork();
        if (c.pid == 0) {
            int o = open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int e = open(c.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(o, 1);
            dup2(e, 2);
            std::vector<char*> a;
            for (auto& s : full) a.push_back(s.data());
            a.push_back(nullptr);
            execvp(a[0], a.data());
            _exit(127);
        }
        return c;
    }
    // Waits up to `ms` for the exit; -1 if it did not exit (then it is killed).
    int wait(int ms = 10000) {
        int status = 0;
        const bool done = eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; }, ms);
        if (!done) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            pid = -1;
            return -1;
        }
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    Child() = default;
    Child(Child&& o) noexcept
        : pid(std::exchange(o.pid, -1)), out(std::move(o.out)), err(std::move(o.err)) {}
    Child& operator=(Child&& o) noexcept {
        std::swap(pid, o.pid);
        out = std::move(o.out);
        err = std::move(o.err);
        return *this;
    }
    ~Child() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
};

// One ingressd on the veth pair's end a, with its own control socket, over the backend
// backend() names: "af_xdp" (the XDP program and AF_XDP sockets) or "dpdk-af_xdp" (driver:
// dpdk on DPDK's net_af_xdp vdev, with its TAP exception interface).
class IngressdBase : public ::testing::Test {
protected:
    virtual unsigned queues() const { return 1; }
    virtual std::string backend() const { return "af_xdp"; }
    void SetUp() override {
        veth_ = std::make_unique<VethPair>("ingd", queues());
        dir_ = fs::temp_directory_path() /
               ("ingressd-test-" + std::to_string(getpid()) + "-" + std::to_string(serial_));
        tap_ = ("ingt" + std::to_string(getpid()) + "x" + std::to_string(serial_++)).substr(0, 15);
        fs::create_directories(dir_);
        // The peer's address, so ICMP errors have a route back in its namespace; no IPv6
        // chatter from either kernel (router solicitations, MLD) in the way.
        sh("ip -n " + veth_->ns_b() + " addr add 198.18.0.2/24 dev " + veth_->if_b());
        for (const auto& ns : {veth_->ns_a(), veth_->ns_b()})
            sh("ip netns exec " + ns +
               " sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
               "net.ipv6.conf.default.disable_ipv6=1");
    }
    // How the interface is driven, as config lines. The workers sleep when idle
    // (poll_mode: interrupt): busy-polling workers would take the test machine's cores.
    std::string port_lines() const {
        if (backend() == "af_xdp") return "    driver: af_xdp\n    poll_mode: interrupt\n";
        return "    driver: dpdk\n    poll_mode: interrupt\n    device: net_af_xdp0,iface=" +
               veth_->if_a() + "\n    exception: " + tap_ + "\n";
    }
    // DPDK without hugepages or PCI, in memory, under a prefix of its own.
    std::string dpdk_lines() const {
        if (backend() == "af_xdp") return "";
        return "dpdk:\n  eal_args: [-l, \"0\", --no-huge, --no-pci, -m, \"256\", --no-shconf, "
               "--file-prefix, " +
               tap_ + ", --log-level, \"*:warning\"]\n";
    }
    // The kernel device whose multicast list mirrors the apps' joins: the interface itself
    // on AF_XDP, the exception TAP on DPDK (the kernel's side of the port).
    std::string kernel_dev() const { return backend() == "af_xdp" ? veth_->if_a() : tap_; }
    void TearDown() override {
        client_.reset();
        if (daemon_.pid > 0) stop();
        veth_.reset();
        fs::remove_all(dir_);
    }

    std::string cfg_path() const { return dir_ / "ingressd.yaml"; }
    std::string ctl_path() const { return dir_ / "ctl.sock"; }
    void write_cfg(const std::string& extra_iface = "", const std::string& extra = "",
                   const std::string& addresses = "[198.18.0.1/24]") {
        std::ofstream(cfg_path()) << "interfaces:\n  - name: " << veth_->if_a() << "\n"
                                  << port_lines() << "    queues: " << queues()
                                  << "\n    addresses: " << addresses << "\n"
                                  << extra_iface << extra << dpdk_lines()
                                  << "control:\n  socket: " << ctl_path() << "\n";
    }
    void start(const std::string& extra_iface = "", const std::string& extra = "") {
        write_cfg(extra_iface, extra);
        daemon_ = Child::spawn(veth_->ns_a(),
                               {env_or("INGRESSD", "src/ingressd"), "--config", cfg_path()},
                               dir_ / "ingressd");
        ASSERT_TRUE(eventually([&] {
            return slurp(daemon_.err).find("control socket") != std::string::npos;
        })) << slurp(daemon_.err);
        client_ = std::make_unique<Client>(Client::connect(ctl_path()));
    }
    // SIGINT; returns the final counters ingressd printed, and checks it exited 0 (which it
    // does only when the conservation identity holds).
    core::Snapshot stop() {
        client_.reset();
        kill(daemon_.pid, SIGINT);
        EXPECT_EQ(daemon_.wait(), 0) << slurp(daemon_.err);
        return parse_stats_text(slurp(daemon_.out));
    }
    core::Snapshot counters() { return parse_stats_text(client_->stats()); }
    // Waits until ingressd's workers have taken `n` frames (rx), then returns the counters.
    core::Snapshot counters_after(uint64_t n) {
        core::Snapshot s;
        eventually([&] { return (s = counters()).rx >= n; });
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // nothing more comes
        return counters();
    }
    void send(const std::vector<std::vector<uint8_t>>& frames) {
        veth_->enter_b();
        const int sent = send_frames(veth_->if_b(), frames);
        veth_->leave();
        ASSERT_EQ(sent, static_cast<int>(frames.size()));
    }
    FrameBuilder udp(wire::Ipv4Addr dst, uint16_t dport, wire::Ipv4Addr src = kPeer,
                     uint16_t sport = 4000) {
        wire::Mac l2 = veth_->mac_a();
        if (wire::ipv4_is_multicast(dst)) l2 = wire::Mac::for_ipv4_multicast(dst);
        if (dst == 0xffffffffu || dst == kSubnetBcast) l2 = wire::Mac::broadcast();
        return std::move(FrameBuilder()
                             .eth(veth_->mac_b(), l2)
                             .ipv4(src, dst)
                             .udp(sport, dport)
                             .payload_size(kPayload));
    }
    // Everything the endpoint has now (waits up to `ms` for the first).
    static std::vector<std::vector<uint8_t>> drain(Endpoint& ep, std::size_t want, int ms = 3000) {
        std::vector<std::vector<uint8_t>> got;
        Datagram d[64];
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (got.size() < want && std::chrono::steady_clock::now() < end) {
            std::size_t n = ep.recv(d, 64, 50);
            for (std::size_t i = 0; i < n; ++i) got.emplace_back(d[i].data, d[i].data + d[i].len);
        }
        std::size_t n;  // anything beyond what was expected is an error the caller sees
        while ((n = ep.recv(d, 64, 100)) > 0)
            for (std::size_t i = 0; i < n; ++i) got.emplace_back(d[i].data, d[i].data + d[i].len);
        return got;
    }
    std::string maddr() {
        FILE* f =
            popen(("ip -n " + veth_->ns_a() + " maddr show dev " + kernel_dev()).c_str(), "r");
        std::string s;
        char buf[256];
        while (f && fgets(buf, sizeof buf, f)) s += buf;
        if (f) pclose(f);
        return s;
    }

    static inline int serial_ = 0;
    std::unique_ptr<VethPair> veth_;
    fs::path dir_;
    std::string tap_;
    Child daemon_;
    std::unique_ptr<Client> client_;
};

// The same tests, the same expected deliveries and counters, on both backends.
class IngressdTest : public IngressdBase, public ::testing::WithParamInterface<const char*> {
protected:
    std::string backend() const override { return GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(Backends, IngressdTest, ::testing::Values("af_xdp", "dpdk-af_xdp"),
                         [](const auto& info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

Expected ip_local(uint64_t n, uint64_t ip_len = kIpLen) {
    return {{"rx", n},
            {"IpInReceives", n},
            {"IpExtInOctets", n * ip_len},
            {"IpExtInNoECTPkts", n},
            {"IpInDelivers", n}};
}
Expected plus(Expected base, const Expected& more) {
    for (const auto& [k, v] : more) base[k] += v;
    return base;
}

// udp_rcv -> __udp4_lib_lookup: a connected socket beats a bound one, a bound one beats the
// wildcard; a datagram no socket matches is UdpNoPorts (+ an ICMP port unreachable).
TEST_P(IngressdTest, UnicastBoundWildcardAndConnectedEndpoints) {
    start();
    UdpEndpoint bound = client_->open_udp({.addr = kLocal, .port = 5000});
    UdpEndpoint wild = client_->open_udp({.port = 5001});
    UdpEndpoint conn = client_->open_udp(
        {.addr = kLocal, .port = 5002, .remote_addr = kPeer, .remote_port = 7000});
    send({udp(kLocal, 5000).build(), udp(kLocal, 5000).build(), udp(kLocal, 5001).build(),
          udp(kLocal, 5002, kPeer, 7000).build(),
          udp(kLocal, 5002, kPeer, 7001).build(),  // not the connected peer: nobody
          udp(kLocal, 5003).build()});             // no socket
    EXPECT_EQ(drain(bound, 2).size(), 2u);
    EXPECT_EQ(drain(wild, 1).size(), 1u);
    auto c = drain(conn, 1);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].size(), kPayload);
    EXPECT_COUNTERS(counters_after(6), (plus(ip_local(6), {{"delivered", 4},
                                                           {"UdpInDatagrams", 4},
                                                           {"UdpNoPorts", 2},
                                                           {"NO_SOCKET", 2},
                                                           {"IcmpOutMsgs", 2},
                                                           {"IcmpOutDestUnreachs", 2},
                                                           {"IcmpMsgOutType3", 2}})));
}

// SO_TIMESTAMPNS: each datagram carries the time it was received, CLOCK_REALTIME as the
// kernel stamps it (io/rx_packet.h: once per burst), never 0, and never earlier than a
// datagram received before it.
TEST_P(IngressdTest, AppsSeeRealReceiveTimestamps) {
    start();
    UdpEndpoint ep = client_->open_udp({.port = 5000});
    auto realtime_ns = [] {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull +
               static_cast<uint64_t>(ts.tv_nsec);
    };
    const uint64_t t0 = realtime_ns();
    for (int round = 0; round < 3; ++round) {  // three bursts, 20 ms apart
        if (round) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        send({udp(kLocal, 5000).build(), udp(kLocal, 5000).build(), udp(kLocal, 5000).build()});
    }
    std::vector<uint64_t> stamps;
    Datagram d[64];
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (stamps.size() < 9 && std::chrono::steady_clock::now() < end) {
        const std::size_t n = ep.recv(d, 64, 50);
        for (std::size_t i = 0; i < n; ++i) stamps.push_back(d[i].meta->rx_ns);
    }
    const uint64_t t1 = realtime_ns();
    ASSERT_EQ(stamps.size(), 9u);
    for (std::size_t i = 0; i < stamps.size(); ++i) {
        EXPECT_GE(stamps[i], t0) << "datagram " << i << ": not a CLOCK_REALTIME receive time";
        EXPECT_LE(stamps[i], t1) << "datagram " << i;
        if (i > 0) {
            EXPECT_GE(stamps[i], stamps[i - 1])
                << "datagram " << i << " stamped before the one before it";
        }
    }
    // Three bursts sent at least 20 ms apart: the receive times show the gaps. They are when
    // the worker polled the frames, so the first burst may be stamped late by the sleeping
    // worker's wake-up (poll_mode interrupt: a micro-sleep of up to 1 ms without rx
    // interrupts, plus the scheduler on a loaded machine): allow 10 ms of that.
    EXPECT_GE(stamps.back() - stamps.front(), 30'000'000u) << "three bursts 20 ms apart";
    EXPECT_COUNTERS(counters_after(9),
                    (plus(ip_local(9), {{"delivered", 9}, {"UdpInDatagrams", 9}})));
}

// SO_REUSEPORT: the group's members split the flows by hash and none is lost.
TEST_P(IngressdTest, ReuseportGroupSplitsFlowsAndLosesNone) {
    start();
    UdpEndpoint a = client_->open_udp({.port = 6000, .reuseport = true});
    UdpEndpoint b = client_->open_udp({.port = 6000, .reuseport = true});
    std::vector<std::vector<uint8_t>> frames;
    for (uint16_t i = 0; i < 200; ++i)
        frames.push_back(udp(kLocal, 6000, kPeer, static_cast<uint16_t>(10000 + i)).build());
    send(frames);
    const std::size_t na = drain(a, 1, 2000).size(), nb = drain(b, 1, 2000).size();
    EXPECT_EQ(na + nb, 200u);
    EXPECT_GT(na, 20u);
    EXPECT_GT(nb, 20u);
    EXPECT_COUNTERS(counters_after(200),
                    (plus(ip_local(200), {{"delivered", 200}, {"UdpInDatagrams", 200}})));
}

// Multicast: IP_ADD_MEMBERSHIP vs IP_ADD_SOURCE_MEMBERSHIP (ip_mc_sf_allow), each socket
// gets its copy (__udp4_lib_mcast_deliver); the join is mirrored into the kernel (the
// interface's multicast list, so the NIC filter and IGMP cover it) and removed when the
// last member leaves.
TEST_P(IngressdTest, MulticastSourceFiltersAndTheKernelsMembership) {
    start();
    EXPECT_EQ(maddr().find("239.1.1.1"), std::string::npos);
    UdpEndpoint any = client_->open_udp({.port = 7000, .reuseaddr = true});
    UdpEndpoint only = client_->open_udp({.port = 7000, .reuseaddr = true});
    any.join(kGroup);
    const uint32_t src[] = {kPeer};
    only.join(kGroup, 0, src, true);
    ASSERT_TRUE(eventually([&] { return maddr().find("239.1.1.1") != std::string::npos; }))
        << maddr();
    send({udp(kGroup, 7000, kPeer).build(), udp(kGroup, 7000, kPeer2).build()});
    EXPECT_EQ(drain(any, 2).size(), 2u);
    EXPECT_EQ(drain(only, 1).size(), 1u);
    EXPECT_COUNTERS(counters_after(2),
                    // UdpInDatagrams per socket copy (udp_queue_rcv_one_skb): 2 + 1.
                    (plus(ip_local(2), {{"delivered", 2},
                                        {"UdpInDatagrams", 3},
                                        {"IpExtInMcastPkts", 2},
                                        {"IpExtInMcastOctets", 2 * kIpLen}})));
    any.close();
    only.close();
    EXPECT_TRUE(eventually([&] { return maddr().find("239.1.1.1") == std::string::npos; }))
        << maddr();
}

// Broadcast: limited (255.255.255.255) and the subnet's, to a wildcard socket (RTN_BROADCAST,
// InBcastPkts); a socket bound to the unicast address does not see them, and a broadcast
// no socket takes is UdpIgnoredMulti, not UdpNoPorts (__udp4_lib_mcast_deliver), with no
// ICMP error.
TEST_P(IngressdTest, BroadcastReachesTheWildcardSocket) {
    start();
    UdpEndpoint wild = client_->open_udp({.port = 67});
    UdpEndpoint bound = client_->open_udp({.addr = kLocal, .port = 68});
    send({udp(0xffffffffu, 67).build(), udp(kSubnetBcast, 67).build(),
          udp(kSubnetBcast, 68).build()});
    EXPECT_EQ(drain(wild, 2).size(), 2u);
    EXPECT_EQ(drain(bound, 0, 300).size(), 0u);
    EXPECT_COUNTERS(counters_after(3), (plus(ip_local(3), {{"delivered", 2},
                                                           {"UdpInDatagrams", 2},
                                                           {"UdpIgnoredMulti", 1},
                                                           {"NO_SOCKET", 1},
                                                           {"IpExtInBcastPkts", 3},
                                                           {"IpExtInBcastOctets", 3 * kIpLen}})));
}

// Raw endpoints (raw_v4_input): an unknown protocol goes to its raw endpoint; ICMP reaches
// the dataplane only while a raw ICMP endpoint is open (otherwise the XDP program leaves it
// to the kernel), and then goes on to the kernel's handler (passed).
TEST_P(IngressdTest, RawEndpointsAndTheProtocolsTheKernelKeeps) {
    start();
    auto proto = [&](uint8_t p) {
        return FrameBuilder()
            .eth(veth_->mac_b(), veth_->mac_a())
            .ipv4(kPeer, kLocal)
            .protocol(p)
            .payload_size(10)
            .build();
    };
    auto echo = FrameBuilder()
                    .eth(veth_->mac_b(), veth_->mac_a())
                    .ipv4(kPeer, kLocal)
                    .icmp(8, 0)
                    .payload_size(10)
                    .build();
    // TCP without a raw endpoint is the kernel's, ingressd never sees it; the echo is the
    // dataplane's (icmp_rcv answers it) with or without a raw ICMP endpoint.
    send({echo, proto(6)});
    // The first echo must be through the worker before the raw ICMP endpoint opens, or that
    // endpoint receives it too (as a raw socket opened in time would).
    ASSERT_EQ(counters_after(1).rx, 1u);
    RawEndpoint r253 = client_->open_raw({.protocol = 253});
    RawEndpoint icmp = client_->open_raw({.protocol = 1});
    // The program's protocol map follows the endpoint tables on the control thread's next step.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    send({proto(253), echo});
    auto got = drain(r253, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].size(), 30u);  // raw endpoints get the IP header too
    EXPECT_EQ(drain(icmp, 1).size(), 1u);
    EXPECT_COUNTERS(counters_after(3), (Expected{{"rx", 3},
                                                 {"IpInReceives", 3},
                                                 {"IpExtInOctets", 30 + 2 * 38},
                                                 {"IpExtInNoECTPkts", 3},
                                                 {"IpInDelivers", 3},
                                                 {"delivered", 3},
                                                 {"IcmpInMsgs", 2},
                                                 {"IcmpInEchos", 2},
                                                 {"IcmpMsgInType8", 2},
                                                 {"IcmpOutMsgs", 2},
                                                 {"IcmpOutEchoReps", 2},
                                                 {"IcmpMsgOutType0", 2}}));
}

// A packet tap (ETH_P_ALL) sees every frame the dataplane takes, before the IP layer's
// decision: the datagram for a closed port too; and the port unreachable the dataplane
// sends back, as PACKET_OUTGOING (dev_queue_xmit_nit). The filter keeps out what the
// kernel's side of the link says meanwhile (IPv6 neighbour discovery...), which the tap
// also sees on AF_XDP (the XDP program's copies).
TEST_P(IngressdTest, TapSeesEveryFrameTheDataplaneTakes) {
    start();
    PacketTap tap = client_->open_tap({.filter = "udp or icmp"});
    UdpEndpoint ep = client_->open_udp({.port = 5000});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    send({udp(kLocal, 5000).build(), udp(kLocal, 5009).build()});
    auto frames = drain(tap, 3);
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0].size(), 14 + kIpLen);
    EXPECT_EQ(frames[2][14 + 9], wire::kIpProtoIcmp) << "the error sent back";
    EXPECT_EQ(frames[2][14 + 20], 3);  // destination unreachable
    EXPECT_EQ(std::memcmp(frames[2].data() + 6, veth_->mac_a().b.data(), 6), 0) << "from us";
    EXPECT_EQ(drain(ep, 1).size(), 1u);
    EXPECT_COUNTERS(counters_after(2), (plus(ip_local(2), {{"delivered", 1},
                                                           {"UdpInDatagrams", 1},
                                                           {"UdpNoPorts", 1},
                                                           {"NO_SOCKET", 1},
                                                           {"IcmpOutMsgs", 1},
                                                           {"IcmpOutDestUnreachs", 1},
                                                           {"IcmpMsgOutType3", 1}})));
}

// The frames the kernel keeps reach the taps without being taken from it: on AF_XDP the XDP
// program copies what it passes into its tap ring buffer while a tap is open, on DPDK the
// backend copies what it steers to the exception TAP; so a tap sees an ARP request with
// capture_all off, as BROADCAST, and the kernel still answers it.
TEST_P(IngressdTest, TapSeesArpTheKernelKeeps) {
    start();
    PacketTap tap = client_->open_tap({.ethertype = wire::kEthPArp});
    // tap_copy follows the endpoint tables on the control thread's next step.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // who-has 198.18.0.1 tell 198.18.0.2
    std::vector<uint8_t> req{0, 1, 8, 0, 6, 4, 0, 1};
    req.insert(req.end(), veth_->mac_b().b.begin(), veth_->mac_b().b.end());
    for (uint8_t b : {198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 198, 18, 0, 1}) req.push_back(b);
    auto arp = FrameBuilder()
                   .eth(veth_->mac_b(), wire::Mac::broadcast())
                   .ethertype(wire::kEthPArp)
                   .payload(req)
                   .build();
    send({arp});
    Datagram d[8];
    std::size_t n = 0;
    for (int i = 0; i < 60 && n == 0; ++i) n = tap.recv(d, 8, 50);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(std::vector<uint8_t>(d[0].data, d[0].data + d[0].len), arp);
    EXPECT_EQ(d[0].meta->pkt_type, PACKET_BROADCAST);
    EXPECT_EQ(d[0].meta->ethertype, wire::kEthPArp);
    // Not the dataplane's: no frame entered a worker.
    EXPECT_EQ(counters().rx, 0u);
}

// ip_defrag: a datagram in three fragments, shuffled, is delivered once and whole
// (ReasmReqds per fragment, ReasmOKs per datagram, IpInDelivers once).
TEST_P(IngressdTest, ShuffledFragmentsAreReassembled) {
    start("", "rings:\n  slot_size: 4096\n");  // the whole datagram fits a slot
    UdpEndpoint ep = client_->open_udp({.port = 5000});
    FrameBuilder b = udp(kLocal, 5000);
    b.payload_size(3000 - 8).ip_id(77);
    auto frags = b.build_fragments(1024);
    ASSERT_EQ(frags.size(), 3u);
    std::swap(frags[0], frags[2]);
    send(frags);
    auto got = drain(ep, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].size(), 3000u - 8);
    const uint64_t frag_octets = 3 * 20 + 3000;
    EXPECT_COUNTERS(counters_after(3), (Expected{{"rx", 3},
                                                 {"IpInReceives", 3},
                                                 {"IpExtInOctets", frag_octets},
                                                 {"IpExtInNoECTPkts", 3},
                                                 {"IpReasmReqds", 3},
                                                 {"IpReasmOKs", 1},
                                                 {"IpInDelivers", 1},
                                                 {"UdpInDatagrams", 1},
                                                 {"delivered", 3}}));  // frames: docs/accounting.md
}

// ip_rcv_core's checks on the wire: each malformed frame is a counted drop with its reason
// and the app sees only the good one. InReceives/InOctets count every frame (at the top of
// ip_rcv_core), the ECN counters every frame past the version/ihl check.
TEST_P(IngressdTest, MalformedFramesAreCountedDrops) {
    start();
    UdpEndpoint ep = client_->open_udp({.port = 5000});
    send({udp(kLocal, 5000).build(), udp(kLocal, 5000).bad_ip_checksum().build(),
          udp(kLocal, 5000).ip_ihl(4).build(), udp(kLocal, 5000).ip_tot_len(200).build(),
          udp(kLocal, 5000).bad_udp_checksum().build()});
    EXPECT_EQ(drain(ep, 1).size(), 1u);
    EXPECT_COUNTERS(counters_after(5), (Expected{{"rx", 5},
                                                 {"IpInReceives", 5},
                                                 {"IpExtInOctets", 5 * kIpLen},
                                                 {"IpExtInNoECTPkts", 4},
                                                 {"IpInDelivers", 2},
                                                 {"UdpInDatagrams", 1},
                                                 {"IpInHdrErrors", 2},
                                                 {"IpExtInCsumErrors", 1},
                                                 {"IpExtInTruncatedPkts", 1},
                                                 {"UdpInErrors", 1},
                                                 {"UdpInCsumErrors", 1},
                                                 {"delivered", 1},
                                                 {"IP_CSUM", 1},
                                                 {"IP_INHDR", 1},
                                                 {"PKT_TOO_SMALL", 1},
                                                 {"UDP_CSUM", 1}}));
}

// The share of one CPU the worker thread `comm` of process `pid` used over `ms`
// (/proc/PID/task/TID/schedstat: ns on a CPU); -1 if there is no such thread.
double thread_cpu_share(pid_t pid, const std::string& comm, int ms) {
    fs::path task;
    for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        std::string c = slurp(t.path() / "comm");
        if (c.substr(0, c.find('\n')) == comm) task = t.path();
    }
    if (task.empty()) return -1;
    auto oncpu = [&] { return std::stod(slurp(task / "schedstat")); };
    const double a = oncpu();
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return (oncpu() - a) / (ms * 1e6);
}

// poll_mode: interrupt. An idle worker sleeps (it takes a small share of a CPU, where a
// busy-polling one takes all of it), and still runs the reassembly timers on time: ip_expire
// drops the lone first fragment after ipfrag_time (1 s here) with IpReasmTimeout,
// IpReasmFails and an ICMP fragment reassembly time exceeded, though no frame arrives to
// wake the worker.
TEST_P(IngressdTest, IdleWorkerSleepsAndStillExpiresReassemblyQueues) {
    start("", "ipv4:\n  ipfrag_time: 1\n");
    UdpEndpoint ep = client_->open_udp({.port = 5000});
    const double idle = thread_cpu_share(daemon_.pid, "ingress-w0", 1000);
    ASSERT_GE(idle, 0) << "no worker thread named ingress-w0";
    EXPECT_LT(idle, 0.2) << "an idle worker in interrupt mode does not spin";
    FrameBuilder b = udp(kLocal, 5000);
    b.payload_size(3000 - 8).ip_id(91);
    auto frags = b.build_fragments(1024);
    ASSERT_EQ(frags.size(), 3u);
    send({frags[0]});
    core::Snapshot s;
    EXPECT_TRUE(
        eventually([&] { return (s = counters()).mib_value(core::Mib::kIpReasmTimeout); }, 5000));
    EXPECT_COUNTERS(s, (Expected{{"rx", 1},
                                 {"IpInReceives", 1},
                                 {"IpExtInOctets", 20 + 1024},
                                 {"IpExtInNoECTPkts", 1},
                                 {"IpReasmReqds", 1},
                                 {"IpReasmFails", 1},
                                 {"IpReasmTimeout", 1},
                                 {"IcmpOutMsgs", 1},
                                 {"IcmpOutTimeExcds", 1},
                                 {"IcmpMsgOutType11", 1},
                                 {"FRAG_REASM_TIMEOUT", 1}}));
    // And a datagram after the sleep is delivered whole.
    send({udp(kLocal, 5000).build()});
    EXPECT_EQ(drain(ep, 1).size(), 1u);
}

// Reload under traffic: SIGHUP three times (a new address, a route, a knob) while the
// generator sends; the app receives every datagram and nothing is dropped.
TEST_P(IngressdTest, ReloadUnderTrafficLosesNothing) {
    start();
    constexpr int kN = 30000;
    Child sink = Child::spawn(veth_->ns_a(),
                              {env_or("INGRESS_SINK", "tools/ingress-sink"), "--socket", ctl_path(),
                               "--udp", "0.0.0.0:5000", "--packets", std::to_string(kN),
                               "--duration", "60", "--rcvbuf", "67108864", "--json"},
                              dir_ / "sink");
    ASSERT_TRUE(eventually([&] { return slurp(sink.err).find("open") != std::string::npos; }))
        << slurp(sink.err);
    Child gen =
        Child::spawn(veth_->ns_b(),
                     {env_or("INGRESS_PKTGEN", "tools/ingress-pktgen"), "--dev", veth_->if_b(),
                      "--src-mac", veth_->mac_b().str(), "--dst-mac", veth_->mac_a().str(), "--src",
                      "198.18.0.2", "--dst", "198.18.0.1", "--dport", "5000", "--sport",
                      "1000-1063", "--count", std::to_string(kN), "--rate", "15k"},
                     dir_ / "gen");
    const char* edits[][2] = {
        {"", "[198.18.0.1/24, 198.18.0.7/32]"},
        {"routes:\n  - {prefix: 198.19.0.0/16, dev: IF}\n", "[198.18.0.1/24, 198.18.0.7/32]"},
        {"all:\n  rp_filter: 2\n", "[198.18.0.1/24]"}};
    for (auto& e : edits) {
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        std::string extra = e[0];
        if (auto p = extra.find("IF"); p != std::string::npos) extra.replace(p, 2, veth_->if_a());
        const std::size_t before = slurp(daemon_.err).size();
        write_cfg("", extra, e[1]);
        kill(daemon_.pid, SIGHUP);
        ASSERT_TRUE(eventually([&] {
            return slurp(daemon_.err).find("reloaded", before) != std::string::npos;
        })) << slurp(daemon_.err);
    }
    EXPECT_EQ(gen.wait(30000), 0) << slurp(gen.err);
    EXPECT_EQ(sink.wait(30000), 0) << slurp(sink.err);
    const std::string json = slurp(sink.out);
    EXPECT_NE(json.find("\"received\":" + std::to_string(kN)), std::string::npos) << json;
    EXPECT_COUNTERS(stop(), (plus(ip_local(kN), {{"delivered", kN}, {"UdpInDatagrams", kN}})));
}

// Two RX queues, two workers: flows spread over both queues and the app's two rings, and
// the sum of the workers' counters is exact.
class IngressdTwoQueues : public IngressdBase {
    unsigned queues() const override { return 2; }
};

TEST_F(IngressdTwoQueues, BothWorkersDeliverToOneEndpoint) {
    start();
    // A burst of 4000: SO_RCVBUF as an app expecting bursts sets it (4 MiB, clamped to
    // rmem_max and doubled), so a reader briefly behind is not SOCKET_RCVBUFF.
    UdpEndpoint ep = client_->open_udp({.port = 5000, .rcvbuf = 4u << 20});
    ASSERT_EQ(ep.workers(), 2u);
    constexpr int kN = 4000;
    Child gen = Child::spawn(veth_->ns_b(),
                             {env_or("INGRESS_PKTGEN", "tools/ingress-pktgen"),
                              "--dev",
                              veth_->if_b(),
                              "--queues",
                              "2",
                              "--src-mac",
                              veth_->mac_b().str(),
                              "--dst-mac",
                              veth_->mac_a().str(),
                              "--src",
                              "198.18.0.2",
                              "--dst",
                              "198.18.0.1",
                              "--dport",
                              "5000",
                              "--sport",
                              "1000-1255",
                              "--count",
                              std::to_string(kN),
                              "--rate",
                              "20k"},
                             dir_ / "gen");
    std::vector<uint64_t> per_ring(2);
    Datagram d[64];
    uint64_t got = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got < kN && std::chrono::steady_clock::now() < end) {  // the app reads as it comes
        std::size_t n = ep.recv(d, 64, 50);
        for (std::size_t i = 0; i < n; ++i) ++per_ring[d[i].worker];
        got += n;
    }
    EXPECT_EQ(gen.wait(30000), 0) << slurp(gen.err);
    EXPECT_EQ(got, static_cast<uint64_t>(kN));
    EXPECT_GT(per_ring[0], 0u);
    EXPECT_GT(per_ring[1], 0u);
    EXPECT_COUNTERS(counters_after(kN),
                    (plus(ip_local(kN), {{"delivered", kN}, {"UdpInDatagrams", kN}})));
}

// ip_defrag across queues: each datagram's fragments arrive on both RX queues (first and
// last on queue 0, the middle one on queue 1); the two workers hand fragments to the
// datagram's owner (src/ipv4/defrag.md), every datagram is reassembled once and whole, and
// the buffers of one queue freed by the other worker's thread go home through the AF_XDP
// backend's return rings.
TEST_F(IngressdTwoQueues, FragmentsSplitAcrossQueuesMeetAtTheirOwner) {
    start("", "rings:\n  slot_size: 4096\n");
    // All 40 are queued before the app reads: each charges its three fragments' truesize
    // (about 6.9 KB), more than the default SO_RCVBUF (rmem_default 212992) holds, as a
    // kernel socket's would. SO_RCVBUF 4 MiB (clamped to rmem_max, doubled) holds them.
    UdpEndpoint ep = client_->open_udp({.port = 5000, .rcvbuf = 4u << 20});
    constexpr uint16_t kDatagrams = 40;
    std::vector<std::vector<uint8_t>> on_q0, on_q1;
    for (uint16_t id = 1; id <= kDatagrams; ++id) {
        FrameBuilder b = udp(kLocal, 5000);
        b.payload_size(3000 - 8).ip_id(id);
        auto f = b.build_fragments(1024);
        on_q0.push_back(f[0]);
        on_q1.push_back(f[1]);
        on_q0.push_back(f[2]);
    }
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        veth_->enter_b();
        io::afxdp::XskTx q0(veth_->if_b(), 0, on_q0), q1(veth_->if_b(), 1, on_q1);
        uint64_t sent = 0;
        while (sent < on_q0.size()) sent += q0.send(static_cast<uint32_t>(on_q0.size() - sent));
        sent = 0;
        while (sent < on_q1.size()) sent += q1.send(static_cast<uint32_t>(on_q1.size() - sent));
        _exit(q0.drain(2000) && q1.drain(2000) ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto got = drain(ep, kDatagrams);
    ASSERT_EQ(got.size(), kDatagrams);
    for (const auto& d : got) EXPECT_EQ(d.size(), 3000u - 8);
    const core::Snapshot s = counters_after(3 * kDatagrams);
    const uint64_t handed = s.mib_value(core::Mib::kIngressFragHandedOff);
    EXPECT_GT(handed, 0u);  // both directions are possible; at least one was used
    const uint64_t octets = kDatagrams * (3 * 20 + 3000);
    EXPECT_COUNTERS(s, (Expected{{"rx", 3 * kDatagrams},
                                 {"IpInReceives", 3 * kDatagrams},
                                 {"IpExtInOctets", octets},
                                 {"IpExtInNoECTPkts", 3 * kDatagrams},
                                 {"IpReasmReqds", 3 * kDatagrams},
                                 {"IpReasmOKs", kDatagrams},
                                 {"IpInDelivers", kDatagrams},
                                 {"UdpInDatagrams", kDatagrams},
                                 {"delivered", 3 * kDatagrams},
                                 {"IngressFragHandedOff", handed},
                                 {"IngressFragHandedIn", handed}}));
}

// Every broken configuration of tests/data/configs/bad/ is refused by ingressd itself with
// its message (file:line:column: key: what), exit status 1, and nothing touched: no program
// on the interface, no control socket.
TEST(IngressdConfig, EveryBrokenConfigIsRefusedAndNothingIsTouched) {
    VethPair v("ingc");
    // The broken files name veth0 and veth1: give the namespace both.
    ASSERT_EQ(sh("ip -n " + v.ns_a() + " link add veth0 type veth peer name veth1 && ip -n " +
                 v.ns_a() + " link set veth0 up"),
              0);
    const fs::path dir = env_or("INGRESS_TEST_DATA", "tests/data") + std::string("/configs/bad");
    const std::string tmp =
        fs::temp_directory_path() / ("ingressd-cfg-" + std::to_string(getpid()));
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string path = entry.path();
        SCOPED_TRACE(path);
        std::ifstream in(path);
        std::string first;
        std::getline(in, first);
        std::string expect = first.substr(std::string("# expect: ").size());
        // The core range names this machine's CPUs.
        if (auto p = expect.find("out of range 0..");
            p != std::string::npos && expect.find("cores") != std::string::npos)
            expect = expect.substr(0, p) + "out of range 0.." +
                     std::to_string(std::thread::hardware_concurrency() - 1);
        Child c =
            Child::spawn(v.ns_a(), {env_or("INGRESSD", "src/ingressd"), "--config", path}, tmp);
        EXPECT_EQ(c.wait(), 1);
        const std::string err = slurp(c.err);
        EXPECT_NE(err.find(path), std::string::npos) << err;
        EXPECT_NE(err.find(expect), std::string::npos) << err;
        ++checked;
    }
    EXPECT_GE(checked, 20);
    FILE* f = popen(("ip -n " + v.ns_a() + " link show veth0").c_str(), "r");
    char buf[512] = {};
    std::string link;
    while (f && fgets(buf, sizeof buf, f)) link += buf;
    if (f) pclose(f);
    EXPECT_EQ(link.find("xdp"), std::string::npos) << link;
    fs::remove(tmp + ".out");
    fs::remove(tmp + ".err");
}

}  // namespace
}  // namespace ingress::test
