// The C API (ingress/ingress.h) against a TestDaemon, in process: the options initialisers
// hold a fresh socket's defaults, and every failure sets the errno the kernel's call would.
#include <gtest/gtest.h>
#include <ingress/client.h>
#include <ingress/ingress.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "support/counters.h"
#include "support/demux.h"
#include "support/test_daemon.h"

namespace ingress::test {
namespace {

// The macros and the functions agree with each other and with the C++ options' member
// initialisers: one set of defaults.
TEST(CApi, InitialisersHoldTheKernelsDefaultsForANewSocket) {
    ingress_udp_opts um = INGRESS_UDP_OPTS_INIT, uf;
    std::memset(&uf, 0xa5, sizeof uf);
    ingress_udp_opts_init(&uf);
    const UdpOptions ud;
    for (const ingress_udp_opts& o : {um, uf}) {
        EXPECT_EQ(o.addr, 0u);
        EXPECT_EQ(o.port, 0u);
        EXPECT_EQ(o.remote_addr, 0u);
        EXPECT_EQ(o.remote_port, 0u);
        EXPECT_EQ(o.ifindex, 0u);
        EXPECT_EQ(o.reuseport, 0);
        EXPECT_EQ(o.reuseaddr, 0);
        EXPECT_EQ(o.multicast_all, 1) << "IP_MULTICAST_ALL is on for a new socket";
        EXPECT_EQ(o.multicast_all, ud.multicast_all ? 1 : 0);
        EXPECT_EQ(o.ring_slots, 0u);
        EXPECT_EQ(o.rcvbuf, 0u) << "SO_RCVBUF never set: net.core.rmem_default";
        EXPECT_EQ(o.rcvbuf, ud.rcvbuf);
    }
    ingress_raw_opts rm = INGRESS_RAW_OPTS_INIT, rf;
    std::memset(&rf, 0xa5, sizeof rf);
    ingress_raw_opts_init(&rf);
    for (const ingress_raw_opts& o : {rm, rf}) {
        EXPECT_EQ(o.protocol, 0u);
        EXPECT_EQ(o.addr, 0u);
        EXPECT_EQ(o.remote_addr, 0u);
        EXPECT_EQ(o.ifindex, 0u);
        EXPECT_EQ(o.icmp_filter, 0u);
        EXPECT_EQ(o.multicast_all, 1);
        EXPECT_EQ(o.ring_slots, 0u);
    }
    ingress_tap_opts tm = INGRESS_TAP_OPTS_INIT, tf;
    std::memset(&tf, 0xa5, sizeof tf);
    ingress_tap_opts_init(&tf);
    for (const ingress_tap_opts& o : {tm, tf}) {
        EXPECT_EQ(o.ethertype, 0x0003u) << "ETH_P_ALL";
        EXPECT_EQ(o.ethertype, TapOptions{}.ethertype);
        EXPECT_EQ(o.ifindex, 0u);
        EXPECT_EQ(o.dgram, 0);
        EXPECT_EQ(o.filter, nullptr);
        EXPECT_EQ(o.ring_slots, 0u);
    }
}

// The default matters: with IP_MULTICAST_ALL on (the kernel's default), a socket bound to the
// wildcard address receives datagrams for a group that another socket joined on the
// interface (__udp_is_mcast_sock -> ip_mc_sf_allow returns inet->mc_all when the socket
// has no membership of its own); a zeroed struct turns it off and the same datagram finds
// no socket (UdpIgnoredMulti, as __udp4_lib_mcast_deliver counts it).
TEST(CApi, DefaultUdpEndpointReceivesGroupsOtherEndpointsJoinedAZeroedOneDoesNot) {
    TestDaemon d;
    ingress_client* c = ingress_client_connect(d.path().c_str());
    ASSERT_NE(c, nullptr) << ingress_last_error();
    ingress_udp_opts joiner = INGRESS_UDP_OPTS_INIT;
    joiner.port = 5610;
    ingress_endpoint* j = ingress_udp_open(c, &joiner);
    ASSERT_NE(j, nullptr) << ingress_last_error();
    ASSERT_EQ(ingress_join(j, kGroup, 1, nullptr, 0, 0), 0) << ingress_last_error();

    ingress_udp_opts dflt = INGRESS_UDP_OPTS_INIT;
    dflt.port = 5611;
    ingress_endpoint* a = ingress_udp_open(c, &dflt);
    ASSERT_NE(a, nullptr) << ingress_last_error();
    ingress_udp_opts zeroed{};
    zeroed.port = 5612;
    ingress_endpoint* z = ingress_udp_open(c, &zeroed);
    ASSERT_NE(z, nullptr) << ingress_last_error();

    d.inject(udp_to(kGroup, 5611).build());
    d.inject(udp_to(kGroup, 5612).build());
    ASSERT_TRUE(d.wait_processed());
    ingress_datagram got[4];
    ASSERT_EQ(ingress_recv(a, got, 4, 1000), 1);
    EXPECT_EQ(got[0].meta->dst_addr, kGroup);
    EXPECT_EQ(got[0].meta->dst_port, 5611u);
    EXPECT_EQ(ingress_recv(z, got, 4, 0), 0);
    EXPECT_EQ(ingress_recv(j, got, 4, 0), 0);
    const uint64_t ip_len = 20 + 8 + 18;
    EXPECT_COUNTERS_EQ(d.counters(), plus(ip_local(2, ip_len), {{"IpExtInMcastPkts", 2},
                                                                {"IpExtInMcastOctets", 2 * ip_len},
                                                                {"delivered", 1},
                                                                {"UdpInDatagrams", 1},
                                                                {"UdpIgnoredMulti", 1},
                                                                {"NO_SOCKET", 1}}));
    ingress_endpoint_close(z);
    ingress_endpoint_close(a);
    ingress_endpoint_close(j);
    ingress_client_close(c);
}

// Each failure: NULL or a negative errno, errno set to the kernel's value for the same
// socket call, and a message. Nothing reaches the data path (no counter moves).
// SO_RCVBUF in bytes: rcvbuf 1 (as SO_RCVBUF 0) is SOCK_MIN_RCVBUF, 2304, so two 60-byte
// frames (832 each) queue and the next two are RcvbufErrors; ingress_fionread is FIONREAD
// (the next datagram's payload length, past what the last recv still holds); setsockopt
// on the open endpoint (4096: 8192) lets nine in.
TEST(CApi, RcvbufIsABudgetInBytesAndFionreadTheNextDatagramsLength) {
    ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;
    o.port = 5620;
    o.rcvbuf = 1;  // SO_RCVBUF 0 (0 here means "never set")
    TestDaemon d;
    ingress_client* c = ingress_client_connect(d.path().c_str());
    ASSERT_NE(c, nullptr) << ingress_last_error();
    ingress_endpoint* ep = ingress_udp_open(c, &o);
    ASSERT_NE(ep, nullptr) << ingress_last_error();
    int n = -1;
    ASSERT_EQ(ingress_fionread(ep, &n), 0);
    EXPECT_EQ(n, 0) << "nothing queued";
    d.inject(udp_to(kLocal, 5620).payload_size(18).build());
    d.inject(udp_to(kLocal, 5620).payload_size(30).build());
    d.inject(udp_to(kLocal, 5620).payload_size(18).build());
    d.inject(udp_to(kLocal, 5620).payload_size(18).build());
    ASSERT_TRUE(d.wait_processed());
    const core::Snapshot s = d.counters();
    EXPECT_EQ(s.mib[static_cast<std::size_t>(core::Mib::kUdpRcvbufErrors)], 2u);
    ASSERT_EQ(ingress_fionread(ep, &n), 0);
    EXPECT_EQ(n, 18);
    // SO_MEMINFO's rmem_alloc: the two queued datagrams' truesizes, then what is unread.
    uint64_t rmem = 0;
    ASSERT_EQ(ingress_rmem_alloc(ep, &rmem), 0);
    EXPECT_EQ(rmem, 2u * 832);
    ingress_datagram got[16];
    ASSERT_EQ(ingress_recv(ep, got, 1, 0), 1);
    ASSERT_EQ(ingress_fionread(ep, &n), 0);
    EXPECT_EQ(n, 30) << "the datagram after the one the last recv returned";
    ASSERT_EQ(ingress_rmem_alloc(ep, &rmem), 0);
    EXPECT_EQ(rmem, 832u) << "a datagram recv returned is no longer charged";
    ASSERT_EQ(ingress_recv(ep, got, 16, 0), 1);
    ASSERT_EQ(ingress_recv(ep, got, 16, 0), 0);
    ASSERT_EQ(ingress_fionread(ep, &n), 0);
    EXPECT_EQ(n, 0);
    ASSERT_EQ(ingress_rmem_alloc(ep, &rmem), 0);
    EXPECT_EQ(rmem, 0u);

    ASSERT_EQ(ingress_set_rcvbuf(ep, 4096), 0) << ingress_last_error();
    for (int i = 0; i < 12; ++i) d.inject(udp_to(kLocal, 5620).payload_size(18).build());
    ASSERT_TRUE(d.wait_processed());
    EXPECT_EQ(ingress_recv(ep, got, 16, 0), 9) << "9 x 832 = 7488 <= 8192 < 10 x 832";
    ingress_endpoint_close(ep);
    ingress_client_close(c);
}

// setsockopt(SO_RCVBUFFORCE) needs CAP_NET_ADMIN (sk_setsockopt: -EPERM without): the C
// API gives the errno a kernel UDP socket's setsockopt gives this process, here with the
// capability and in a child that dropped it from its effective set.
int kernel_rcvbufforce(int bytes) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return -errno;
    const int r = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
    const int err = r == 0 ? 0 : -errno;
    close(fd);
    return err;
}

int drop_effective_cap_net_admin() {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    if (syscall(SYS_capget, &h, d) != 0) return -errno;
    d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
    return syscall(SYS_capset, &h, d) == 0 ? 0 : -errno;
}

// A client of `d` with a default UDP endpoint on `port` (nullptr on failure).
ingress_endpoint* udp_endpoint(const TestDaemon& d, uint16_t port, ingress_client** c) {
    *c = ingress_client_connect(d.path().c_str());
    ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;
    o.port = port;
    return *c ? ingress_udp_open(*c, &o) : nullptr;
}

TEST(CApi, RcvbufForceNeedsCapNetAdminAsTheKernelsSetsockopt) {
    TestDaemon d;
    ingress_client* c;
    ingress_endpoint* ep = udp_endpoint(d, 5640, &c);
    ASSERT_NE(ep, nullptr) << ingress_last_error();
    const int want = kernel_rcvbufforce(1 << 20);
    EXPECT_EQ(ingress_set_rcvbufforce(ep, 1 << 20), want) << ingress_last_error();
    if (want == 0) {
        // Without the capability (a child: the daemon's threads stay in this process).
        const pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int code = 10;
            if (drop_effective_cap_net_admin() == 0 && kernel_rcvbufforce(1 << 20) == -EPERM) {
                ingress_client* cc;
                ingress_endpoint* e = udp_endpoint(d, 5641, &cc);
                errno = 0;
                code = !e                                              ? 11
                       : ingress_set_rcvbufforce(e, 1 << 20) != -EPERM ? 12
                       : errno != EPERM                                ? 13
                       : ingress_set_rcvbuf(e, 1 << 20) != 0           ? 14
                                                                       : 0;
            }
            _exit(code);
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0)
            << "10: could not drop the capability, 11: open, 12: not -EPERM, 13: errno, "
               "14: SO_RCVBUF refused";
    }
    EXPECT_EQ(ingress_set_rcvbufforce(ep, 0), want) << "0 is SOCK_MIN_RCVBUF, as SO_RCVBUF 0";
    ingress_endpoint_close(ep);
    ingress_client_close(c);
}

// No cap per connection of the daemon's own: as for sockets, RLIMIT_NOFILE bounds an app's
// endpoints (each holds its doorbell and a ring per worker). An open whose fds the kernel
// cannot install (MSG_CTRUNC) fails with EMFILE, as socket() would; the daemon's endpoint
// is closed again, and the connection stays usable. A child lowers its limit (the daemon's
// threads stay in this process).
TEST(CApi, EndpointsAreBoundedByRlimitNofileWithEmfile) {
    TestDaemon d;
    int up[2], down[2];
    ASSERT_EQ(pipe(up), 0);
    ASSERT_EQ(pipe(down), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ingress_client* c = ingress_client_connect(d.path().c_str());
        const int probe = dup(0);
        close(probe);
        rlimit rl{};
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = static_cast<rlim_t>(probe) + 7;  // room for three endpoints, and one fd
        if (!c || setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(10);
        std::vector<ingress_endpoint*> eps;
        ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;
        errno = 0;
        for (uint16_t p = 5650; p < 5700; ++p) {
            o.port = p;
            ingress_endpoint* e = ingress_udp_open(c, &o);
            if (!e) break;
            eps.push_back(e);
        }
        const int err = errno;
        const char n = static_cast<char>(eps.size());
        if (write(up[1], &n, 1) != 1 || read(down[0], &o, 1) != 1) _exit(11);
        if (err != EMFILE) _exit(12);
        ingress_endpoint_close(eps.back());
        o.port = 5700;
        _exit(ingress_udp_open(c, &o) ? 0 : 13);
    }
    char n = 0;
    ASSERT_EQ(read(up[0], &n, 1), 1);
    EXPECT_EQ(n, 3) << "two fds each (one worker): three fit in the seven free";
    EXPECT_TRUE(d.wait_for([&](ctl::Registry& r, ctl::Server&) { return r.size() == 3u; }))
        << "the endpoint whose fds did not fit is closed again";
    ASSERT_EQ(write(down[1], "x", 1), 1);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "10: setup, 11: pipe, 12: not EMFILE, 13: the connection did not stay usable";
    for (int fd : {up[0], up[1], down[0], down[1]}) close(fd);
}

TEST(CApi, RegisterPutsAnEndpointUnderABindingsLabel) {
    // ingress_register: a binding for kLocal:53 -> "dns" steers to an endpoint bound to 5630
    // (sk_lookup before the bound and wildcard steps); unregistered, the normal lookup.
    TestDaemon d;
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) {
        ctl::PeerCred root{1, 0, 0};
        root.proven = ~uint64_t{0};
        return r.add_binding(root, binding(kLocal, 32, "dns", 53, 53)).ok();
    }));
    ingress_client* c = ingress_client_connect(d.path().c_str());
    ASSERT_NE(c, nullptr) << ingress_last_error();
    ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;
    o.addr = kLocal;
    o.port = 5630;
    ingress_endpoint* ep = ingress_udp_open(c, &o);
    ASSERT_NE(ep, nullptr) << ingress_last_error();
    ASSERT_EQ(ingress_register(ep, "dns"), 0) << ingress_last_error();
    EXPECT_EQ(ingress_register(ep, "dns"), -EEXIST);
    EXPECT_EQ(errno, EEXIST);
    d.inject(udp_to(kLocal, 53).build());
    ASSERT_TRUE(d.wait_processed());
    ingress_datagram got[4];
    EXPECT_EQ(ingress_recv(ep, got, 4, 1000), 1);
    EXPECT_EQ(got[0].meta->dst_port, 53);
    ASSERT_EQ(ingress_unregister(ep, "dns"), 0) << ingress_last_error();
    EXPECT_EQ(ingress_unregister(ep, "dns"), -ENOENT);
    d.inject(udp_to(kLocal, 53).build());
    ASSERT_TRUE(d.wait_processed());
    EXPECT_EQ(ingress_recv(ep, got, 4, 0), 0) << "no endpoint under the label: NoPorts";
    EXPECT_EQ(d.counters().mib_value(core::Mib::kUdpNoPorts), 1u);
    EXPECT_EQ(d.counters().mib_value(core::Mib::kUdpInDatagrams), 1u);
    ingress_endpoint_close(ep);
    ingress_client_close(c);
}

TEST(CApi, FailuresSetTheErrnoTheKernelsCallWould) {
    TestDaemon d;
    auto expect_errno = [](int want, const char* what) {
        EXPECT_EQ(errno, want) << what << ": " << std::strerror(errno) << " / "
                               << ingress_last_error();
        EXPECT_STRNE(ingress_last_error(), "") << what;
    };

    // connect(2) on an AF_UNIX path nobody created.
    errno = 0;
    EXPECT_EQ(ingress_client_connect("/run/ingressd/no-such-daemon.sock"), nullptr);
    expect_errno(ENOENT, "connect to a missing socket");

    ingress_client* c = ingress_client_connect(d.path().c_str());
    ASSERT_NE(c, nullptr) << ingress_last_error();
    ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;
    o.port = 5620;
    ingress_endpoint* first = ingress_udp_open(c, &o);
    ASSERT_NE(first, nullptr) << ingress_last_error();

    struct Case {
        const char* what;
        ingress_udp_opts o;
        int err;
    };
    ingress_udp_opts taken = o;  // udp_lib_lport_inuse(): same port, overlapping wildcard
    ingress_udp_opts nonlocal = INGRESS_UDP_OPTS_INIT;
    nonlocal.addr = wire::ipv4(198, 19, 9, 9);  // inet_bind(): not ours, ip_nonlocal_bind 0
    nonlocal.port = 5621;
    ingress_udp_opts nodev = INGRESS_UDP_OPTS_INIT;
    nodev.ifindex = 999999;  // SO_BINDTODEVICE to an index no interface has
    nodev.port = 5622;
    ingress_udp_opts big = INGRESS_UDP_OPTS_INIT;
    big.ring_slots = 1u << 30;  // above the daemon's limit
    big.port = 5623;
    for (const Case& k :
         {Case{"port in use", taken, EADDRINUSE},
          Case{"non-local address", nonlocal, EADDRNOTAVAIL},
          Case{"unknown interface", nodev, ENODEV}, Case{"ring too large", big, EINVAL}}) {
        errno = 0;
        EXPECT_EQ(ingress_udp_open(c, &k.o), nullptr) << k.what;
        expect_errno(k.err, k.what);
    }

    // socket(AF_INET, SOCK_RAW, 0).
    ingress_raw_opts r = INGRESS_RAW_OPTS_INIT;
    errno = 0;
    EXPECT_EQ(ingress_raw_open(c, &r), nullptr);
    expect_errno(EPROTONOSUPPORT, "raw protocol 0");
    // A packet socket bound to an unknown interface.
    ingress_tap_opts t = INGRESS_TAP_OPTS_INIT;
    t.ifindex = 999999;
    errno = 0;
    EXPECT_EQ(ingress_tap_open(c, &t), nullptr);
    expect_errno(ENODEV, "tap on an unknown interface");

    // IP_ADD_MEMBERSHIP of a unicast address; IP_DROP_MEMBERSHIP of a group not joined.
    errno = 0;
    EXPECT_EQ(ingress_join(first, kLocal, 1, nullptr, 0, 0), -EINVAL);
    expect_errno(EINVAL, "join a unicast address");
    errno = 0;
    EXPECT_EQ(ingress_leave(first, kGroup, 1, nullptr, 0), -EADDRNOTAVAIL);
    expect_errno(EADDRNOTAVAIL, "leave a group not joined");

    // Success leaves errno alone (as the kernel's calls do).
    errno = 12345;
    ASSERT_EQ(ingress_join(first, kGroup, 1, nullptr, 0, 0), 0);
    EXPECT_EQ(errno, 12345);

    EXPECT_COUNTERS(d.counters(), {});
    ingress_endpoint_close(first);
    ingress_client_close(c);
}

// When the daemon exits, an app sleeping in recv must not sleep forever (its rings will never
// be written again): what was delivered before is still read, then, with reconnection off,
// recv fails with ECONNRESET; the control fd reports the hangup for event loops.
TEST(CApi, WithoutReconnectRecvReportsTheDaemonsExitInsteadOfSleepingForever) {
    auto d = std::make_unique<TestDaemon>();
    ingress_client* c = ingress_client_connect(d->path().c_str());
    ASSERT_NE(c, nullptr) << ingress_last_error();
    ingress_client_set_reconnect(c, 0);
    ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;
    o.port = 5630;
    ingress_endpoint* ep = ingress_udp_open(c, &o);
    ASSERT_NE(ep, nullptr) << ingress_last_error();
    d->inject(udp_to(kLocal, 5630).build());
    ASSERT_TRUE(d->wait_processed());
    EXPECT_COUNTERS_EQ(d->counters(),
                       plus(ip_local(1, 20 + 8 + 18), {{"delivered", 1}, {"UdpInDatagrams", 1}}));
    d.reset();  // the daemon exits

    pollfd p{ingress_client_fd(c), 0, 0};
    ASSERT_EQ(poll(&p, 1, 2000), 1);
    EXPECT_TRUE(p.revents & POLLHUP);
    ingress_datagram got[4];
    ASSERT_EQ(ingress_recv(ep, got, 4, 0), 1) << "delivered before the exit: still readable";
    const auto t0 = std::chrono::steady_clock::now();
    errno = 0;
    EXPECT_EQ(ingress_recv(ep, got, 4, 10000), -ECONNRESET);
    EXPECT_EQ(errno, ECONNRESET);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5))
        << "noticed the hangup, not the timeout";
    ingress_endpoint_close(ep);
    ingress_client_close(c);
}

// The daemon restarts (crash, upgrade): three apps — a unicast endpoint, a reuseport pair and
// a multicast endpoint with a source filter — keep their endpoints without doing anything:
// the library reconnects, reopens each with its options and memberships, reads out what
// the old daemon delivered first, and marks the first datagram after the gap.
TEST(Reconnect, EndpointsComeBackWithTheirOptionsAndMembershipsAfterADaemonRestart) {
    const std::string path = "/tmp/ingress-reconnect-" + std::to_string(getpid());
    auto d = std::make_unique<TestDaemon>(TestDaemonOptions{.path = path});
    Client c = Client::connect(path);
    UdpEndpoint uni = c.open_udp({.port = 5640});
    UdpEndpoint rp1 = c.open_udp({.port = 5641, .reuseport = true});
    UdpEndpoint rp2 = c.open_udp({.port = 5641, .reuseport = true});
    UdpEndpoint mc = c.open_udp({.port = 5642});
    const uint32_t only[] = {kPeer};
    mc.join(kGroup, 1, only, true);
    d->inject(udp_to(kLocal, 5640).build());  // delivered by the old daemon, not yet read
    ASSERT_TRUE(d->wait_processed());
    d.reset();  // the daemon exits

    Datagram got[64];
    ASSERT_EQ(uni.recv(got, 64, 0), 1u) << "the old daemon's datagram is still there";
    EXPECT_EQ(got[0].flags, 0u);
    // Nobody answers yet: recv waits out its timeout (no hang, no error).
    EXPECT_EQ(uni.recv(got, 64, 50), 0u);

    d = std::make_unique<TestDaemon>(TestDaemonOptions{.path = path});
    // The first recv reconnects and reopens every endpoint of the client.
    EXPECT_EQ(uni.recv(got, 64, 500), 0u);
    ASSERT_TRUE(d->wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 4; }));
    d->inject(udp_to(kLocal, 5640).build());
    for (uint16_t sport = 1000; sport < 1032; ++sport)  // flows over the reuseport pair
        d->inject(udp_to(kLocal, 5641, kPeer, sport).build());
    d->inject(udp_to(kGroup, 5642, kPeer).build());
    d->inject(udp_to(kGroup, 5642, kPeer2).build());  // filtered by the replayed INCLUDE
    ASSERT_TRUE(d->wait_processed());

    ASSERT_EQ(uni.recv(got, 64, 1000), 1u);
    EXPECT_EQ(got[0].flags, INGRESS_D_AFTER_GAP);
    std::size_t pair = 0;
    for (UdpEndpoint* ep : {&rp1, &rp2}) {
        const std::size_t n = ep->recv(got, 64, 0);
        EXPECT_GT(n, 0u) << "both members of the reuseport group are back";
        if (n) {
            EXPECT_EQ(got[0].flags, INGRESS_D_AFTER_GAP);
        }
        for (std::size_t i = 1; i < n; ++i) EXPECT_EQ(got[i].flags, 0u);
        pair += n;
    }
    EXPECT_EQ(pair, 32u);
    ASSERT_EQ(mc.recv(got, 64, 1000), 1u);
    EXPECT_EQ(got[0].meta->src_addr, kPeer);
    for (UdpEndpoint* ep : {&uni, &rp1, &rp2, &mc}) EXPECT_EQ(ep->stats().reconnects, 1u);
    const core::Snapshot s = d->counters();
    EXPECT_EQ(s.rx, 35u);
    EXPECT_EQ(s.delivered, 34u);
    EXPECT_EQ(s.mib_value(core::Mib::kUdpInDatagrams), 34u);
    EXPECT_TRUE(s.conserved());
}

// A reopen the restarted daemon refuses (another app took the port meanwhile) is reported
// on the endpoint's next recv with bind()'s errno; the client's other endpoints carry on.
TEST(Reconnect, APortTakenMeanwhileIsReportedWithEaddrinuse) {
    const std::string path = "/tmp/ingress-reconnect-taken-" + std::to_string(getpid());
    auto d = std::make_unique<TestDaemon>(TestDaemonOptions{.path = path});
    Client c = Client::connect(path);
    UdpEndpoint lost = c.open_udp({.port = 5650});
    UdpEndpoint kept = c.open_udp({.port = 5651});
    d.reset();
    d = std::make_unique<TestDaemon>(TestDaemonOptions{.path = path});
    Client thief = Client::connect(path);
    UdpEndpoint taken = thief.open_udp({.port = 5650});
    Datagram got[4];
    try {
        lost.recv(got, 4, 2000);
        ADD_FAILURE() << "the refused reopen was not reported";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), EADDRINUSE) << e.what();
    }
    d->inject(udp_to(kLocal, 5651).build());
    ASSERT_TRUE(d->wait_processed());
    ASSERT_EQ(kept.recv(got, 4, 1000), 1u);
    EXPECT_EQ(got[0].flags, INGRESS_D_AFTER_GAP);
}

}  // namespace
}  // namespace ingress::test
