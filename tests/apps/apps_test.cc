// Process tests: real app processes (ingress-sink, the README examples) attached over the
// control socket and shared-memory rings to a TestDaemon (control server + worker
// pipelines over memory backends), with frames injected by the test.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <ingress/client.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ctl/protocol.h"
#include "ctl/unix_socket.h"
#include "support/counters.h"
#include "support/demux.h"
#include "support/test_daemon.h"

namespace ingress::test {
namespace {

std::string sink_path() {
    const char* p = std::getenv("INGRESS_SINK");
    return p ? p : "tools/ingress-sink";
}

struct Proc {
    pid_t pid = -1;
    int out = -1;  // the child's stdout
    int status = -1;

    // Runs argv; `uid` >= 0 drops to that uid (and gid) first.
    static Proc spawn(const std::vector<std::string>& argv, int uid = -1) {
        int p[2];
        EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
        // Everything the child needs is prepared before fork(): the daemon's threads may
        // hold the allocator's lock, so the child only makes system calls.
        std::vector<char*> a;
        for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        Proc r;
        r.pid = fork();
        if (r.pid == 0) {
            dup2(p[1], 1);
            if (uid >= 0 && (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0))
                _exit(126);
            execv(a[0], a.data());
            _exit(127);
        }
        close(p[1]);
        r.out = p[0];
        return r;
    }
    // Waits for exit (kills after timeout); returns stdout.
    std::string finish(int timeout_ms = 10000) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > end) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                ADD_FAILURE() << "process " << pid << " timed out";
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        std::string s;
        char buf[4096];
        ssize_t n;
        while ((n = read(out, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
        close(out);
        out = -1;
        return s;
    }
    int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
};

// A number from the sink's --json summary.
uint64_t json_field(const std::string& json, const std::string& key) {
    auto p = json.find("\"" + key + "\":");
    if (p == std::string::npos) {
        ADD_FAILURE() << "no " << key << " in: " << json;
        return UINT64_MAX;
    }
    return std::strtoull(json.c_str() + p + key.size() + 3, nullptr, 10);
}

std::vector<std::string> sink(const TestDaemon& d, std::vector<std::string> args) {
    std::vector<std::string> v{sink_path(), "--socket", d.path(), "--json", "--quiet"};
    v.insert(v.end(), args.begin(), args.end());
    return v;
}

constexpr std::size_t kPayload = 18;
constexpr uint64_t kIpLen = 20 + 8 + kPayload;

// What n UDP datagrams delivered to endpoints move.
Expected udp_delivered(uint64_t n) {
    return plus(ip_local(n, kIpLen), {{"delivered", n}, {"UdpInDatagrams", n}});
}

TEST(Apps, TwoAppsOnDifferentPortsEachReceiveOnlyTheirOwn) {
    TestDaemon d;
    constexpr uint64_t kN = 300;
    Proc a = Proc::spawn(sink(d, {"--udp", "0.0.0.0:5001", "--packets", std::to_string(kN)}));
    Proc b =
        Proc::spawn(sink(d, {"--udp", "198.18.0.1:5002", "--packets", std::to_string(2 * kN)}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 2; }));
    for (uint64_t i = 0; i < kN; ++i) {
        d.inject(udp_to(kLocal, 5001, kPeer, static_cast<uint16_t>(1000 + i)).build());
        d.inject(udp_to(kLocal, 5002, kPeer, static_cast<uint16_t>(1000 + i)).build());
        d.inject(udp_to(kLocal, 5002, kPeer2, static_cast<uint16_t>(1000 + i)).build());
    }
    ASSERT_TRUE(d.wait_processed());
    std::string ja = a.finish(), jb = b.finish();
    EXPECT_EQ(a.exit_code(), 0);
    EXPECT_EQ(b.exit_code(), 0);
    EXPECT_EQ(json_field(ja, "received"), kN);
    EXPECT_EQ(json_field(jb, "received"), 2 * kN);
    EXPECT_EQ(json_field(ja, "dropped_full"), 0u);
    EXPECT_EQ(json_field(jb, "bytes"), 2 * kN * kPayload);
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(3 * kN));
    // Both apps exited: their endpoints left the tables.
    EXPECT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 0; }));
}

TEST(Apps, ReuseportGroupOfTwoAppsSplitsFlowsAndLosesNone) {
    TestDaemon d;
    Proc a = Proc::spawn(sink(d, {"--udp", "0.0.0.0:6000", "--reuseport", "--duration", "30"}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 1; }));
    Proc b = Proc::spawn(sink(d, {"--udp", "0.0.0.0:6000", "--reuseport", "--duration", "30"}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 2; }));
    constexpr uint64_t kFlows = 400;
    for (uint64_t i = 0; i < kFlows; ++i)
        d.inject(udp_to(kLocal, 6000, kPeer, static_cast<uint16_t>(20000 + i)).build());
    ASSERT_TRUE(d.wait_processed());
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.all_drained(); }));
    kill(a.pid, SIGTERM);
    kill(b.pid, SIGTERM);
    std::string ja = a.finish(), jb = b.finish();
    const uint64_t ra = json_field(ja, "received"), rb = json_field(jb, "received");
    EXPECT_EQ(ra + rb, kFlows);
    EXPECT_GT(ra, kFlows / 5) << "the hash should spread 400 flows over both members";
    EXPECT_GT(rb, kFlows / 5);
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(kFlows));
}

TEST(Apps, SecondBindWithoutReuseportIsRefusedWithEaddrinuse) {
    TestDaemon d;
    Proc a = Proc::spawn(sink(d, {"--udp", "0.0.0.0:6100", "--duration", "30"}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 1; }));
    // Same port on a specific address overlaps the wildcard: refused as bind() would.
    Proc b = Proc::spawn(sink(d, {"--udp", "198.18.0.1:6100", "--packets", "1"}));
    b.finish();
    EXPECT_EQ(b.exit_code(), EADDRINUSE);
    // A non-local address: EADDRNOTAVAIL (ip_nonlocal_bind is off).
    Proc c = Proc::spawn(sink(d, {"--udp", "203.0.113.9:6101", "--packets", "1"}));
    c.finish();
    EXPECT_EQ(c.exit_code(), EADDRNOTAVAIL);
    kill(a.pid, SIGTERM);
    a.finish();
    EXPECT_EQ(a.exit_code(), 0);
    EXPECT_COUNTERS(d.counters(), {});
}

TEST(Apps, KilledAppLeavesTheTablesAndTheOtherKeepsReceivingWithoutLoss) {
    TestDaemon d;
    constexpr uint64_t kN = 500;
    Proc a = Proc::spawn(sink(d, {"--udp", "0.0.0.0:7001", "--duration", "30"}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 1; }));
    uint32_t id_a = 0;
    d.with_control([&](ctl::Registry& r, ctl::Server&) { id_a = r.ids().at(0); });
    EXPECT_EQ(TestDaemon::count_region_fds(id_a), 1);  // one worker: one ring memfd
    Proc b = Proc::spawn(sink(d, {"--udp", "0.0.0.0:7002", "--packets", std::to_string(2 * kN)}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 2; }));

    // Mid-stream: both are receiving when A is killed.
    for (uint64_t i = 0; i < kN; ++i) {
        d.inject(udp_to(kLocal, 7001).build());
        d.inject(udp_to(kLocal, 7002).build());
    }
    ASSERT_TRUE(d.wait_processed());
    kill(a.pid, SIGKILL);
    a.finish();
    EXPECT_TRUE(WIFSIGNALED(a.status));
    ASSERT_TRUE(d.wait_for([&](ctl::Registry& r, ctl::Server&) { return !r.exists(id_a); }));
    // Its rings are unmapped and their memfds closed in the daemon.
    EXPECT_EQ(TestDaemon::count_region_fds(id_a), 0);
    for (uint64_t i = 0; i < kN; ++i) d.inject(udp_to(kLocal, 7002).build());
    ASSERT_TRUE(d.wait_processed());
    std::string jb = b.finish();
    EXPECT_EQ(b.exit_code(), 0);
    EXPECT_EQ(json_field(jb, "received"), 2 * kN);
    EXPECT_EQ(json_field(jb, "dropped_full"), 0u);
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(3 * kN));
    EXPECT_TRUE(d.counters().conserved());
}

TEST(Apps, AnotherClientsEndpointCannotBeClosedJoinedOrChanged) {
    TestDaemon d;
    Client owner = Client::connect(d.path());
    UdpEndpoint ep = owner.open_udp({.port = 7100});
    Client thief = Client::connect(d.path());
    auto request = [&](ctl::MsgType t, uint32_t id) {
        ctl::Builder b(t, thief.next_seq());
        b.u32(ctl::Attr::kEndpointId, id).u32(ctl::Attr::kGroup, kGroup);
        b.u16(ctl::Attr::kOption, static_cast<uint16_t>(ctl::Attr::kMulticastAll));
        b.u8(ctl::Attr::kMulticastAll, 0);
        try {
            thief.call(b.finish());
        } catch (const Error& e) {
            return e.code();
        }
        return 0;
    };
    EXPECT_EQ(request(ctl::MsgType::kClose, ep.id()), EPERM);
    EXPECT_EQ(request(ctl::MsgType::kJoin, ep.id()), EPERM);
    EXPECT_EQ(request(ctl::MsgType::kSetOption, ep.id()), EPERM);
    EXPECT_EQ(request(ctl::MsgType::kClose, ep.id() + 100), ENOENT);
    // The owner's endpoint still works.
    for (int i = 0; i < 5; ++i) d.inject(udp_to(kLocal, 7100).build());
    ASSERT_TRUE(d.wait_processed());
    Datagram got[8];
    EXPECT_EQ(ep.recv(got, 8, 1000), 5u);
    EXPECT_EQ(got[0].len, kPayload);
    EXPECT_EQ(got[0].meta->src_addr, kPeer);
    EXPECT_EQ(got[0].meta->dst_port, 7100);
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(5));
}

TEST(Apps, UnprivilegedAppIsRefusedLowPortsRawAndTapsWithTheKernelsErrors) {
    TestDaemon d;
    constexpr int kNobody = 65534;
    Proc p = Proc::spawn(sink(d, {"--udp", "0.0.0.0:80", "--packets", "1"}), kNobody);
    p.finish();
    EXPECT_EQ(p.exit_code(), EACCES);
    Proc r = Proc::spawn(sink(d, {"--raw", "1", "--packets", "1"}), kNobody);
    r.finish();
    EXPECT_EQ(r.exit_code(), EPERM);
    Proc t = Proc::spawn(sink(d, {"--tap", "all", "--packets", "1"}), kNobody);
    t.finish();
    EXPECT_EQ(t.exit_code(), EPERM);
    // The same app may use an unprivileged port.
    Proc ok = Proc::spawn(sink(d, {"--udp", "0.0.0.0:8080", "--packets", "2"}), kNobody);
    ASSERT_TRUE(d.wait_for([](ctl::Registry& reg, ctl::Server&) { return reg.size() == 1; }));
    d.inject(udp_to(kLocal, 8080).build());
    d.inject(udp_to(kLocal, 8080).build());
    std::string j = ok.finish();
    EXPECT_EQ(ok.exit_code(), 0);
    EXPECT_EQ(json_field(j, "received"), 2u);
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(2));
}

TEST(Apps, PolicyGrantLetsAListedUidOpenRawEndpoints) {
    TestDaemonOptions o;
    o.policy.net_raw.uids.push_back(65534);
    TestDaemon d(o);
    Proc r = Proc::spawn(sink(d, {"--raw", "253", "--packets", "1"}), 65534);
    ASSERT_TRUE(d.wait_for([](ctl::Registry& reg, ctl::Server&) { return reg.size() == 1; }));
    d.inject(proto_to(253).build());
    std::string j = r.finish();
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(json_field(j, "received"), 1u);
    EXPECT_EQ(json_field(j, "bytes"), 30u);  // the whole IP packet, as a raw socket reads it
    // A raw copy with no protocol handler: delivered (the kernel's raw socket consumed it).
    EXPECT_COUNTERS_EQ(d.counters(), plus(ip_local(1, 30), {{"delivered", 1}}));
}

TEST(Apps, MalformedControlFloodDoesNotHurtTheDaemonOrOtherApps) {
    TestDaemonOptions o;
    TestDaemon d(o);
    constexpr uint64_t kN = 200;
    Proc a = Proc::spawn(sink(d, {"--udp", "0.0.0.0:9000", "--packets", std::to_string(kN)}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 1; }));
    std::mt19937 rng(42);
    auto send_raw = [&](const std::vector<uint8_t>& bytes, bool with_fd) {
        int fd = ctl::connect_unix(d.path());
        int extra = with_fd ? dup(0) : -1;
        std::vector<int> fds;
        if (with_fd) fds.push_back(extra);
        (void)ctl::send_with_fds(fd, bytes, fds);
        if (extra >= 0) close(extra);
        // Read until the daemon answers or hangs up (or give up quickly).
        timeval tv{0, 20000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        uint8_t buf[256];
        while (read(fd, buf, sizeof buf) > 0) {
        }
        close(fd);
    };
    for (int i = 0; i < 60; ++i) {
        std::vector<uint8_t> junk(1 + rng() % 300);
        for (auto& b : junk) b = static_cast<uint8_t>(rng());
        send_raw(junk, i % 7 == 0);
    }
    // Well-framed headers with hostile content: huge length, bad version, truncated payload,
    // attributes running past the end, unknown types.
    auto hello = ctl::Builder(ctl::MsgType::kOpenUdp, 1).u16(ctl::Attr::kLocalPort, 1).finish();
    auto huge = hello;
    huge[12] = huge[13] = huge[14] = huge[15] = 0xff;
    send_raw(huge, false);
    auto badver = hello;
    badver[4] = 9;
    send_raw(badver, false);
    auto truncated = hello;
    truncated.resize(truncated.size() - 3);
    send_raw(truncated, false);
    auto attr_past = hello;
    attr_past[16 + 2] = 0xf0;
    send_raw(attr_past, false);
    auto unknown = hello;
    unknown[6] = 77;
    send_raw(unknown, false);
    // Many requests on one connection: the rate limit answers EAGAIN, nothing breaks.
    {
        Client greedy = Client::connect(d.path());
        int refused = 0;
        for (int i = 0; i < 800; ++i) {
            try {
                greedy.call(ctl::Builder(ctl::MsgType::kClose, greedy.next_seq())
                                .u32(ctl::Attr::kEndpointId, 999999)
                                .finish());
            } catch (const Error& e) {
                refused += e.code() == EAGAIN;
            }
        }
        EXPECT_GT(refused, 0);
    }
    // The daemon survived and still serves: a new client opens an endpoint, the first app
    // received everything.
    Client fresh = Client::connect(d.path());
    UdpEndpoint ep = fresh.open_udp({.port = 9001});
    for (uint64_t i = 0; i < kN; ++i) {
        d.inject(udp_to(kLocal, 9000).build());
        if (i < 10) d.inject(udp_to(kLocal, 9001).build());
    }
    ASSERT_TRUE(d.wait_processed());
    Datagram got[16];
    EXPECT_EQ(ep.recv(got, 16, 1000), 10u);
    std::string j = a.finish();
    EXPECT_EQ(json_field(j, "received"), kN);
    d.with_control([](ctl::Registry&, ctl::Server& s) {
        EXPECT_GE(s.stats().protocol_errors, 40u);
        EXPECT_GT(s.stats().rate_limited, 0u);
        EXPECT_LE(s.connections(), 2u);  // every hostile connection was closed
    });
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(kN + 10));
}

// An endpoint whose ring headers the test can overwrite, as a hostile app can: the app maps
// its rings read-write (it must write `cons`), so every header byte is its to scribble on.
struct ScribblingEndpoint : UdpEndpoint {
    explicit ScribblingEndpoint(UdpEndpoint&& e) : UdpEndpoint(std::move(e)) {}
    void scribble(std::mt19937& rng) {
        for (Ring& r : rings_) {
            auto* h = static_cast<uint8_t*>(r.region.data());
            for (std::size_t i = 0; i < shm::RingGeometry::header_size(); ++i)
                h[i] = static_cast<uint8_t>(rng());
        }
    }
};

// ring.h's trust rule: the producer keeps its own geometry and index, clamps a `cons` that
// makes no sense and counts the datagram as a full-ring drop. Garbage over the whole header
// of one app's ring (magic, geometry, indices, statistics), rewritten while traffic flows,
// costs that app its datagrams and nothing else: no crash, no write outside its ring (the
// asan build runs this suite's unit twin), the other app gets every datagram, every frame
// has one fate.
TEST(Apps, GarbageInItsOwnRingHeaderHurtsOnlyThatApp) {
    TestDaemon d;
    constexpr uint64_t kN = 600;
    Proc a = Proc::spawn(sink(d, {"--udp", "0.0.0.0:9100", "--packets", std::to_string(kN)}));
    Client hostile_client = Client::connect(d.path());
    ScribblingEndpoint hostile(hostile_client.open_udp({.port = 9101}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 2; }));
    std::mt19937 rng(7);
    for (uint64_t i = 0; i < kN; ++i) {
        if (i % 50 == 0) hostile.scribble(rng);
        d.inject(udp_to(kLocal, 9100).build());
        d.inject(udp_to(kLocal, 9101).build());
    }
    ASSERT_TRUE(d.wait_processed());
    std::string j = a.finish();
    EXPECT_EQ(a.exit_code(), 0);
    EXPECT_EQ(json_field(j, "received"), kN);
    EXPECT_EQ(json_field(j, "dropped_full"), 0u);
    const core::Snapshot s = d.counters();
    EXPECT_TRUE(s.conserved());
    EXPECT_EQ(s.rx, 2 * kN);
    // The hostile app's datagrams were each delivered into its ring or dropped as a full one.
    EXPECT_EQ(
        s.delivered - kN + s.drops[static_cast<std::size_t>(core::DropReason::kSocketRcvbuff)], kN);
    EXPECT_EQ(s.dropped_total(),
              s.drops[static_cast<std::size_t>(core::DropReason::kSocketRcvbuff)]);
    // The daemon still serves: the hostile app can close its endpoint, a new app gets data.
    hostile.close();
    Client fresh = Client::connect(d.path());
    UdpEndpoint ep = fresh.open_udp({.port = 9102});
    for (int i = 0; i < 10; ++i) d.inject(udp_to(kLocal, 9102).build());
    ASSERT_TRUE(d.wait_processed());
    Datagram got[16];
    EXPECT_EQ(ep.recv(got, 16, 1000), 10u);
}

// An endpoint whose wakeup a hostile app abuses: it writes the needs-wakeup flag of its ring
// headers itself (shared memory it may write), so that every datagram rings, and never
// reads its rings or its doorbell.
struct NeverWakingEndpoint : UdpEndpoint {
    explicit NeverWakingEndpoint(UdpEndpoint&& e) : UdpEndpoint(std::move(e)) {}
    void arm() {
        for (Ring& r : rings_)
            static_cast<shm::RingHeader*>(r.region.data())
                ->needs_wakeup.store(1, std::memory_order_release);
    }
};

// The wakeup attack: the app makes the fd it was given for wakeups blocking, shrinks it,
// tries to saturate it (the eventfd trick: write 0xfffffffffffffffe) and arms a wakeup
// before every datagram without ever reading. With an eventfd (the daemon's own open file
// description) the worker's next write blocked and every app on that worker starved. The
// doorbell's sending end is the daemon's alone: the app's write to its end fails (EPIPE),
// each wakeup is one non-blocking send, and the other app loses nothing.
TEST(Apps, AppThatMakesItsWakeupFdBlockingCannotStallTheWorker) {
    TestDaemon d;  // 1024-slot rings: every hostile datagram fits, so each one wakes
    constexpr uint64_t kN = 500;
    Proc victim = Proc::spawn(sink(d, {"--udp", "0.0.0.0:9300", "--packets", std::to_string(kN)}));
    Client hostile_client = Client::connect(d.path());
    NeverWakingEndpoint hostile(hostile_client.open_udp({.port = 9301}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 2; }));
    const int fd = hostile.fd();
    ASSERT_EQ(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);
    const int tiny = 1;
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny), 0);
    // The eventfd attack verbatim: on an eventfd shared with the worker this write succeeds
    // and the worker's next wakeup write blocks forever.
    const uint64_t saturate = 0xfffffffffffffffeull;
    EXPECT_EQ(write(fd, &saturate, sizeof saturate), -1);
    EXPECT_EQ(errno, EPIPE) << "the daemon's end takes nothing from the app";
    for (uint64_t i = 0; i < kN; ++i) {
        hostile.arm();
        d.inject(udp_to(kLocal, 9301).build());
        d.inject(udp_to(kLocal, 9300).build());
        if (i % 64 == 63) {
            ASSERT_TRUE(d.wait_processed()) << "the worker is stuck at " << i;
        }
    }
    ASSERT_TRUE(d.wait_processed());
    std::string j = victim.finish();
    EXPECT_EQ(victim.exit_code(), 0);
    EXPECT_EQ(json_field(j, "received"), kN);
    EXPECT_EQ(json_field(j, "dropped_full"), 0u);
    EXPECT_GE(hostile.stats().wakeups, kN / 64) << "every burst with a hostile datagram rang";
    EXPECT_EQ(hostile.stats().delivered, kN);
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(2 * kN));
}

// An app that stops consuming (SIGSTOP: alive, endpoint open, never reading): its ring fills
// and the rest is dropped as SOCKET_RCVBUFF / UdpRcvbufErrors (sock_queue_rcv_skb's full
// receive queue), without slowing the worker or costing another app a datagram; when it
// resumes it finds exactly the ring's worth.
TEST(Apps, AppThatNeverConsumesOverflowsOnlyItsOwnRing) {
    TestDaemon d;  // 1024-slot rings: the other app's 500 datagrams fit in its ring
    constexpr uint64_t kN = 500;
    Proc stalled =
        Proc::spawn(sink(d, {"--udp", "0.0.0.0:9200", "--ring-slots", "64", "--packets", "64"}));
    Proc other = Proc::spawn(sink(d, {"--udp", "0.0.0.0:9201", "--packets", std::to_string(kN)}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 2; }));
    kill(stalled.pid, SIGSTOP);
    for (uint64_t i = 0; i < kN; ++i) {
        d.inject(udp_to(kLocal, 9200).build());
        d.inject(udp_to(kLocal, 9201).build());
    }
    ASSERT_TRUE(d.wait_processed());
    std::string jo = other.finish();
    EXPECT_EQ(json_field(jo, "received"), kN);
    kill(stalled.pid, SIGCONT);
    std::string js = stalled.finish();
    EXPECT_EQ(stalled.exit_code(), 0);
    EXPECT_EQ(json_field(js, "received"), 64u);
    EXPECT_EQ(json_field(js, "delivered"), 64u);
    EXPECT_EQ(json_field(js, "dropped_full"), kN - 64);
    const Expected want = plus(ip_local(2 * kN, kIpLen), {{"delivered", kN + 64},
                                                          {"UdpInDatagrams", kN + 64},
                                                          {"SOCKET_RCVBUFF", kN - 64},
                                                          {"UdpRcvbufErrors", kN - 64},
                                                          {"UdpInErrors", kN - 64}});
    EXPECT_COUNTERS_EQ(d.counters(), want);
}

TEST(Apps, MulticastJoinWithSourceFilterDeliversOnlyTheListedSource) {
    TestDaemon d;
    Client c = Client::connect(d.path());
    UdpEndpoint ep = c.open_udp({.port = 5400});
    const uint32_t src[] = {kPeer};
    ep.join(kGroup, 1, src, true);
    d.inject(udp_to(kGroup, 5400, kPeer).build());
    d.inject(udp_to(kGroup, 5400, kPeer2).build());  // not in the INCLUDE list
    ASSERT_TRUE(d.wait_processed());
    Datagram got[4];
    ASSERT_EQ(ep.recv(got, 4, 1000), 1u);
    EXPECT_EQ(got[0].meta->src_addr, kPeer);
    EXPECT_EQ(got[0].meta->dst_addr, kGroup);
    // The interface-level membership dropped kPeer2's datagram in the route stage
    // (ip_check_mc_rcu), before UDP.
    const core::Snapshot s = d.counters();
    EXPECT_EQ(s.rx, 2u);
    EXPECT_EQ(s.delivered, 1u);
    EXPECT_EQ(s.mib_value(core::Mib::kUdpInDatagrams), 1u);
    EXPECT_TRUE(s.conserved());
    // Leaving: the group is no longer wanted on the interface.
    ep.leave(kGroup, 1);
    d.inject(udp_to(kGroup, 5400, kPeer).build());
    ASSERT_TRUE(d.wait_processed());
    EXPECT_EQ(ep.recv(got, 4, 50), 0u);
    EXPECT_EQ(d.counters().delivered, 1u);
}

TEST(Apps, SleepingReceiverIsWokenByTheDoorbellNotByItsTimeout) {
    TestDaemon d;
    Client c = Client::connect(d.path());
    UdpEndpoint ep = c.open_udp({.port = 5600});
    // Inject only once the receiver has announced it sleeps (on a loaded machine it may get
    // there late; data that is already waiting needs no wakeup, which is not this test).
    std::thread later([&] {
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        while (ep.stats().sleeping == 0 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        d.inject(udp_to(kLocal, 5600).build());
    });
    Datagram got[4];
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t n = ep.recv(got, 4, 10000);
    const auto waited = std::chrono::steady_clock::now() - t0;
    later.join();
    EXPECT_EQ(n, 1u);
    EXPECT_LT(waited, std::chrono::seconds(5)) << "woken by the timeout, not the doorbell";
    EXPECT_EQ(ep.stats().wakeups, 1u);
    EXPECT_EQ(ep.stats().delivered, 1u);
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(1));
}

TEST(Apps, BusyPollingReceiverGetsDataWithoutAWakeup) {
    TestDaemon d;
    Client c = Client::connect(d.path());
    UdpEndpoint ep = c.open_udp({.port = 5650});
    ep.set_busy_poll_us(5'000'000);  // longer than the injection delay: never sleeps
    std::thread later([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        d.inject(udp_to(kLocal, 5650).build());
    });
    Datagram got[4];
    EXPECT_EQ(ep.recv(got, 4, 10000), 1u);
    later.join();
    EXPECT_EQ(ep.stats().wakeups, 0u) << "a polling app costs the worker no syscall";
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(1));
}

TEST(Apps, OneAppReceivesFromEveryWorkersRing) {
    TestDaemonOptions o;
    o.workers = 2;
    TestDaemon d(o);
    constexpr uint64_t kN = 150;
    Proc a = Proc::spawn(sink(d, {"--udp", "0.0.0.0:5700", "--packets", std::to_string(2 * kN)}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 1; }));
    for (uint64_t i = 0; i < kN; ++i) {
        d.inject(udp_to(kLocal, 5700).build(), 0);
        d.inject(udp_to(kLocal, 5700).build(), 1);
    }
    ASSERT_TRUE(d.wait_processed());
    std::string j = a.finish();
    EXPECT_EQ(a.exit_code(), 0);
    EXPECT_EQ(json_field(j, "received"), 2 * kN);
    EXPECT_EQ(json_field(j, "delivered"), 2 * kN);  // summed over both ring headers
    EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(2 * kN));
}

TEST(Apps, TapAppSeesFramesTheKernelGetsAndWritesThemToPcap) {
    TestDaemon d;
    const std::string pcap = "/tmp/ingress-apps-tap-" + std::to_string(getpid()) + ".pcap";
    Proc t = Proc::spawn(sink(d, {"--tap", "0x0806", "--packets", "3", "--pcap", pcap}));
    ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 1; }));
    for (int i = 0; i < 3; ++i)
        d.inject(wire::FrameBuilder()
                     .eth(kPeerMac, wire::Mac::broadcast())
                     .ethertype(0x0806)
                     .payload_size(28)
                     .build());
    d.inject(udp_to(kLocal, 9).build());  // IPv4: not the tap's ethertype
    std::string j = t.finish();
    EXPECT_EQ(t.exit_code(), 0);
    EXPECT_EQ(json_field(j, "received"), 3u);
    EXPECT_EQ(json_field(j, "bytes"), 3u * 42);  // SOCK_RAW: the whole frame
    // The capture reads back with libpcap: Ethernet, three 42-byte ARP frames.
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p =
        pcap_open_offline_with_tstamp_precision(pcap.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    ASSERT_NE(p, nullptr) << err;
    EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
    pcap_pkthdr* hdr;
    const u_char* bytes;
    int frames = 0;
    while (pcap_next_ex(p, &hdr, &bytes) == 1) {
        ++frames;
        EXPECT_EQ(hdr->caplen, 42u);
        EXPECT_EQ(bytes[12], 0x08);
        EXPECT_EQ(bytes[13], 0x06);
    }
    pcap_close(p);
    EXPECT_EQ(frames, 3);
    std::remove(pcap.c_str());
    // A tap copy never changes the fate: ARP is passed to the kernel.
    const core::Snapshot s = d.counters();
    EXPECT_EQ(s.drop_value(core::DropReason::kNoSocket), 1u);  // port 9: nobody
    EXPECT_EQ(s.passed, 3u);
    EXPECT_EQ(s.mib_value(core::Mib::kIngressL2NonIpv4), 3u);
    EXPECT_TRUE(s.conserved());
}

TEST(Apps, ReadmeExamplesReceiveDatagrams) {
    for (const char* env : {"INGRESS_EXAMPLE_CXX", "INGRESS_EXAMPLE_C"}) {
        const char* bin = std::getenv(env);
        ASSERT_NE(bin, nullptr) << env;
        TestDaemon d;
        Proc p = Proc::spawn({bin, d.path(), "5500", "3"});
        ASSERT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 1; }));
        for (int i = 0; i < 3; ++i) d.inject(udp_to(kLocal, 5500).build());
        std::string out = p.finish();
        EXPECT_EQ(p.exit_code(), 0) << env << ": " << out;
        EXPECT_NE(out.find("received 3"), std::string::npos) << out;
        EXPECT_COUNTERS_EQ(d.counters(), udp_delivered(3));
    }
}

}  // namespace
}  // namespace ingress::test
