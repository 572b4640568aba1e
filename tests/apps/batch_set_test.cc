// Batch receive (ingress_recvmmsg) and endpoint sets (ingress_set_*) against a TestDaemon:
// real workers delivering into the rings and ringing doorbells, the app in this process.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ingress/client.h>
#include <ingress/ingress.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/demux.h"
#include "support/test_daemon.h"

namespace ingress::test {
namespace {

using Clock = std::chrono::steady_clock;

int elapsed_ms(Clock::time_point t0) {
    return static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

// A frame whose payload starts with `tag` (4 bytes, host order), `len` bytes in all.
std::vector<uint8_t> tagged(uint16_t dport, uint32_t tag, std::size_t len = 18,
                            wire::Ipv4Addr src = kPeer, uint16_t sport = 4000, uint8_t tos = 0,
                            uint8_t ttl = 64) {
    std::vector<uint8_t> p(len);
    for (std::size_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(i * 7 + tag);
    std::memcpy(p.data(), &tag, sizeof tag);
    return udp_to(kLocal, dport, src, sport, len).tos(tos).ttl(ttl).payload(p).build();
}

struct Conn {
    ingress_client* c = nullptr;
    explicit Conn(const TestDaemon& d) : c(ingress_client_connect(d.path().c_str())) {}
    ~Conn() { ingress_client_close(c); }
};

ingress_endpoint* open_udp(ingress_client* c, uint16_t port, uint32_t ring_slots = 0) {
    ingress_udp_opts o = INGRESS_UDP_OPTS_INIT;
    o.port = port;
    o.ring_slots = ring_slots;
    return ingress_udp_open(c, &o);
}

// N messages of L bytes each, ready for ingress_recvmmsg.
template <std::size_t N, std::size_t L>
struct Msgs {
    uint8_t buf[N][L];
    ingress_mmsg m[N];
    Msgs() {
        std::memset(m, 0xa5, sizeof m);  // nothing read is left over from before
        for (std::size_t i = 0; i < N; ++i) {
            m[i].buf = buf[i];
            m[i].buf_len = L;
        }
    }
    uint32_t tag(std::size_t i) const {
        uint32_t t;
        std::memcpy(&t, buf[i], sizeof t);
        return t;
    }
};

// One endpoint on a fresh test daemon.
class Recvmmsg : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(conn.c, nullptr) << ingress_last_error();
        ep = open_udp(conn.c, kPort);
        ASSERT_NE(ep, nullptr) << ingress_last_error();
    }
    void TearDown() override { ingress_endpoint_close(ep); }
    static constexpr uint16_t kPort = 5700;
    TestDaemon d;
    Conn conn{d};
    ingress_endpoint* ep = nullptr;
};

// recvmmsg fills each message as recvmsg would: the payload copied into the caller's buffer,
// msg_name (network order), and the same record ingress_recv's view points at, field for
// field, for the same frames. A partial batch returns what was there; then EAGAIN.
TEST_F(Recvmmsg, PartialBatchCarriesTheSameMetadataAsTheSingleReceive) {
    const std::vector<std::vector<uint8_t>> frames = {
        tagged(kPort, 1, 18, kPeer, 4001, 0x10, 64),
        tagged(kPort, 2, 100, kPeer2, 4002, 0xb8, 3),
        tagged(kPort, 3, 7, kPeer, 4003, 0x02, 255),
    };
    // The single receive's view of each frame.
    for (const auto& f : frames) d.inject(f);
    ASSERT_TRUE(d.wait_processed());
    ingress_datagram v[8];
    ASSERT_EQ(ingress_recv(ep, v, 8, 1000), 3);
    std::vector<ingress_meta> single;
    std::vector<std::vector<uint8_t>> single_payload;
    for (int i = 0; i < 3; ++i) {
        single.push_back(*v[i].meta);
        single_payload.emplace_back(v[i].data, v[i].data + v[i].len);
    }
    ASSERT_EQ(ingress_recv(ep, v, 8, 0), 0);

    for (const auto& f : frames) d.inject(f);
    ASSERT_TRUE(d.wait_processed());
    Msgs<8, 256> b;
    ingress_mmsg* m = b.m;
    ASSERT_EQ(ingress_recvmmsg(ep, m, 8, MSG_DONTWAIT, nullptr), 3) << ingress_last_error();
    for (int i = 0; i < 3; ++i) {
        SCOPED_TRACE(i);
        const ingress_meta& a = single[i];
        const ingress_meta& r = m[i].meta;
        EXPECT_EQ(m[i].len, a.len);
        EXPECT_EQ(m[i].msg_flags, 0u);
        EXPECT_EQ(std::vector<uint8_t>(b.buf[i], b.buf[i] + m[i].len), single_payload[i]);
        EXPECT_EQ(m[i].src.sin_family, AF_INET);
        EXPECT_EQ(m[i].src.sin_addr.s_addr, htonl(a.src_addr));
        EXPECT_EQ(m[i].src.sin_port, htons(a.src_port));
        // Every field but the receive time and the ring's drop count (the same: none).
        EXPECT_EQ(r.len, a.len);
        EXPECT_EQ(r.orig_len, a.orig_len);
        EXPECT_EQ(r.src_addr, a.src_addr);
        EXPECT_EQ(r.dst_addr, a.dst_addr);
        EXPECT_EQ(r.src_port, a.src_port);
        EXPECT_EQ(r.dst_port, a.dst_port);
        EXPECT_EQ(r.ifindex, a.ifindex);
        EXPECT_EQ(r.tos, a.tos);
        EXPECT_EQ(r.ttl, a.ttl);
        EXPECT_EQ(r.pkt_type, a.pkt_type);
        EXPECT_EQ(r.protocol, a.protocol);
        EXPECT_EQ(r.flags, a.flags);
        EXPECT_EQ(r.drops, a.drops);
        EXPECT_EQ(std::memcmp(r.src_mac, a.src_mac, sizeof a.src_mac), 0);
        EXPECT_GE(r.rx_ns, a.rx_ns) << "SO_TIMESTAMPNS: the later arrival (the memory "
                                       "backend gives 0)";
    }
    EXPECT_EQ(m[1].meta.tos, 0xb8);
    EXPECT_EQ(m[1].meta.ttl, 3);
    EXPECT_EQ(m[1].src.sin_addr.s_addr, htonl(kPeer2));
    EXPECT_EQ(m[2].len, 7u);
    // Nothing left: recvmmsg's EAGAIN.
    errno = 0;
    EXPECT_EQ(ingress_recvmmsg(ep, m, 8, MSG_DONTWAIT, nullptr), -EAGAIN);
    EXPECT_EQ(errno, EAGAIN);
    struct ingress_endpoint_stats st;
    ingress_endpoint_stats(ep, &st);
    EXPECT_EQ(st.delivered, 6u);
}

// udp_recvmsg: a buffer shorter than the datagram gets its first bytes and MSG_TRUNC in
// msg_flags; with MSG_TRUNC in the call's flags the length returned is the datagram's.
TEST_F(Recvmmsg, ShortBufferTruncatesWithMsgTruncAndMsgTruncFlagGivesTheRealLength) {
    for (uint32_t t = 1; t <= 3; ++t) d.inject(tagged(kPort, t, 40));
    ASSERT_TRUE(d.wait_processed());
    Msgs<3, 10> small;
    uint8_t big[64];
    ingress_mmsg* m = small.m;
    m[1].buf = big;
    m[1].buf_len = sizeof big;
    ASSERT_EQ(ingress_recvmmsg(ep, m, 2, MSG_DONTWAIT, nullptr), 2);
    EXPECT_EQ(m[0].len, 10u);
    EXPECT_EQ(m[0].msg_flags, static_cast<uint32_t>(MSG_TRUNC));
    EXPECT_EQ(small.tag(0), 1u);
    EXPECT_EQ(m[0].meta.orig_len, 40u);
    EXPECT_EQ(m[0].meta.flags & INGRESS_F_TRUNCATED, 0) << "the slot held all of it";
    EXPECT_EQ(m[1].len, 40u);
    EXPECT_EQ(m[1].msg_flags, 0u);
    ASSERT_EQ(ingress_recvmmsg(ep, &m[2], 1, MSG_DONTWAIT | MSG_TRUNC, nullptr), 1);
    EXPECT_EQ(m[2].len, 40u) << "MSG_TRUNC: the real length";
    EXPECT_EQ(m[2].msg_flags, static_cast<uint32_t>(MSG_TRUNC));
    EXPECT_EQ(small.tag(2), 3u);
}

// The timeout: do_recvmmsg checks it after each datagram only, so a blocking call that got
// some datagrams and then no more blocks past it (recvmmsg(2), BUGS). Ours bounds every wait:
// the call returns what it has when the time is up and writes back the time left (0).
TEST_F(Recvmmsg, TimeoutBoundsTheWaitReturnsWhatCameAndWritesBackTheTimeLeft) {
    Msgs<4, 64> b;
    ingress_mmsg* m = b.m;
    timespec to{};
    int ms = 0;
    // One call with a fresh timeout of `wait_ms`: its result; `ms` the time it took.
    auto call = [&](int flags, long wait_ms) {
        to = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
        const auto t0 = Clock::now();
        const int r = ingress_recvmmsg(ep, m, 4, flags, &to);
        ms = elapsed_ms(t0);
        return r;
    };
    // A blocking call that returns `want` at the deadline, not before, with no time left.
    auto expect_whole_wait = [&](long wait_ms, int want) {
        EXPECT_EQ(call(0, wait_ms), want);
        EXPECT_GE(ms, wait_ms);
        EXPECT_LT(ms, 2000);
        EXPECT_TRUE(to.tv_sec == 0 && to.tv_nsec == 0);
    };
    // Nothing at all: EAGAIN.
    expect_whole_wait(80, -EAGAIN);

    // Two of four: without MSG_WAITFORONE the call waits for more until the deadline (the
    // kernel would wait for ever here), then returns the two.
    d.inject(tagged(kPort, 1));
    d.inject(tagged(kPort, 2));
    ASSERT_TRUE(d.wait_processed());
    expect_whole_wait(120, 2);

    // MSG_WAITFORONE: the first is waited for, the rest are not.
    d.inject(tagged(kPort, 3));
    d.inject(tagged(kPort, 4));
    ASSERT_TRUE(d.wait_processed());
    EXPECT_EQ(call(MSG_WAITFORONE, 5000), 2);
    EXPECT_LT(ms, 1000);
    EXPECT_GT(to.tv_sec, 3) << "most of the time is left, and written back";
    EXPECT_EQ(b.tag(1), 4u);

    // A datagram that comes while the call waits is taken (the wakeup path).
    std::thread late([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        d.inject(tagged(kPort, 5));
    });
    EXPECT_EQ(call(MSG_WAITFORONE, 5000), 1);
    EXPECT_GE(ms, 40);
    EXPECT_LT(ms, 2000);
    late.join();

    // do_recvmmsg: EINVAL for a bad timeout, before anything is received.
    to = {0, 1000000000};
    EXPECT_EQ(ingress_recvmmsg(ep, m, 4, MSG_DONTWAIT, &to), -EINVAL);
}

// An endpoint set of 1,000 UDP endpoints behind one fd in one epoll instance, level- or
// edge-triggered: rounds of traffic to a random subset (over two workers), every datagram
// received exactly once, and epoll_wait returns only when there is something to do (none
// after a round is drained, at most one per round for EPOLLET and for a reader that drains).
class EndpointSetScale : public ::testing::TestWithParam<bool> {};

constexpr int kMembers = 1000;
constexpr uint16_t kBasePort = 20000;

TEST_P(EndpointSetScale, ThousandMembersOnOneEpollEveryDatagramOnceNoBusyWakeups) {
    const bool edge = GetParam();
    // Each endpoint holds a doorbell and a ring per worker in this process, on both sides.
    rlimit rl{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 16384) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 16384);
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur < 8 * kMembers) GTEST_SKIP() << "RLIMIT_NOFILE too low: " << rl.rlim_cur;
    TestDaemonOptions o;
    o.workers = 2;
    o.max_endpoints_per_owner = kMembers + 10;
    o.requests_per_sec = 1000000;
    o.request_burst = 1000000;
    o.limits = [](ctl::ServerConfig&, ctl::RegistryConfig& rc) {
        rc.max_endpoints_per_uid = kMembers + 10;
        rc.max_ring_bytes_per_uid = 1ull << 30;
    };
    TestDaemon d(o);
    Conn conn(d);
    ASSERT_NE(conn.c, nullptr) << ingress_last_error();
    std::vector<ingress_endpoint*> eps(kMembers);
    ingress_set* set = ingress_set_create();
    ASSERT_NE(set, nullptr);
    for (int i = 0; i < kMembers; ++i) {
        eps[i] = open_udp(conn.c, static_cast<uint16_t>(kBasePort + i), 8);
        ASSERT_NE(eps[i], nullptr) << i << ": " << ingress_last_error();
        ASSERT_EQ(ingress_set_add(set, eps[i], reinterpret_cast<void*>(uintptr_t(i))), 0);
    }
    EXPECT_EQ(ingress_set_add(set, eps[0], nullptr), -EEXIST);
    const int epfd = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | (edge ? EPOLLET : 0u);
    ASSERT_EQ(epoll_ctl(epfd, EPOLL_CTL_ADD, ingress_set_fd(set), &ev), 0);

    // The reader: drains everything the set lists (ingress_set_ready until 0).
    std::map<uint32_t, int> seen;  // tag -> times received
    uint64_t wrong_port = 0;
    auto drain = [&] {
        ingress_set_event evs[64];
        int n;
        while ((n = ingress_set_ready(set, evs, 64)) > 0) {
            for (int k = 0; k < n; ++k) {
                const auto i = static_cast<int>(reinterpret_cast<uintptr_t>(evs[k].data));
                EXPECT_EQ(evs[k].ep, eps[i]);
                ingress_datagram dg[8];
                int got;
                while ((got = ingress_recv(evs[k].ep, dg, 8, 0)) > 0)
                    for (int j = 0; j < got; ++j) {
                        uint32_t tag;
                        std::memcpy(&tag, dg[j].data, 4);
                        ++seen[tag];
                        wrong_port += dg[j].meta->dst_port != kBasePort + i;
                    }
                EXPECT_EQ(got, 0) << ingress_last_error();
            }
        }
        EXPECT_EQ(n, 0) << ingress_last_error();
    };
    // Members were listed once when added (they might have had data): drained and armed.
    drain();
    epoll_event out[4];
    EXPECT_EQ(epoll_wait(epfd, out, 4, 0), 0) << "armed and empty: not readable";

    std::mt19937 rng(1234);
    uint32_t next_tag = 1;
    std::set<uint32_t> sent;
    int wakeups = 0;
    const int kRounds = 20;
    for (int round = 0; round < kRounds; ++round) {
        std::vector<int> members(kMembers);
        for (int i = 0; i < kMembers; ++i) members[i] = i;
        std::shuffle(members.begin(), members.end(), rng);
        members.resize(1 + rng() % 150);
        for (int i : members) {
            const int count = 1 + static_cast<int>(rng() % 3);
            for (int c = 0; c < count; ++c) {
                sent.insert(next_tag);
                d.inject(tagged(static_cast<uint16_t>(kBasePort + i), next_tag++),
                         static_cast<uint16_t>(rng() % 2));
            }
        }
        ASSERT_TRUE(d.wait_processed());
        // One epoll_wait return for the round, then nothing until the next.
        int rc = epoll_wait(epfd, out, 4, 2000);
        ASSERT_EQ(rc, 1) << "round " << round;
        ++wakeups;
        drain();
        EXPECT_EQ(epoll_wait(epfd, out, 4, 0), 0) << "round " << round << ": drained, not readable";
    }
    EXPECT_EQ(wakeups, kRounds);
    EXPECT_EQ(epoll_wait(epfd, out, 4, 100), 0) << "no wakeup without traffic";
    EXPECT_EQ(wrong_port, 0u);
    EXPECT_EQ(seen.size(), sent.size());
    for (const auto& [tag, times] : seen) {
        EXPECT_EQ(times, 1) << "tag " << tag;
        EXPECT_TRUE(sent.count(tag)) << "tag " << tag;
    }

    // A reader that handles 8 members per wakeup and then returns to epoll_wait: level-
    // triggered keeps reporting the set until it is drained; edge-triggered reports it once
    // per change, so the rest is still there but announced by no further edge.
    std::vector<int> members(kMembers);
    for (int i = 0; i < kMembers; ++i) members[i] = i;
    std::shuffle(members.begin(), members.end(), rng);
    members.resize(40);
    for (int i : members) {
        sent.insert(next_tag);
        d.inject(tagged(static_cast<uint16_t>(kBasePort + i), next_tag++));
    }
    ASSERT_TRUE(d.wait_processed());
    int partial_wakeups = 0, handled = 0;
    while (epoll_wait(epfd, out, 4, 200) == 1) {
        ++partial_wakeups;
        ingress_set_event evs[8];
        const int n = ingress_set_ready(set, evs, 8);
        for (int k = 0; k < n; ++k) {
            ingress_datagram dg[8];
            const int got = ingress_recv(evs[k].ep, dg, 8, 0);
            for (int j = 0; j < got; ++j) {
                uint32_t tag;
                std::memcpy(&tag, dg[j].data, 4);
                ++seen[tag];
            }
            handled += got;
        }
        if (n == 0) break;
        ASSERT_LT(partial_wakeups, 100) << "busy: the set stays readable";
    }
    if (edge) {
        // The doorbells' edge, then the edge of the set turning readable after the first
        // ready(): two reports; what is left waits for the app to call ready() again.
        EXPECT_EQ(partial_wakeups, 2);
        EXPECT_EQ(handled, 16);
        drain();
    } else {
        // 40 members, 8 per wakeup: 5 wakeups with data and one that finds nothing left.
        EXPECT_EQ(partial_wakeups, 6);
        EXPECT_EQ(handled, 40);
    }
    EXPECT_EQ(epoll_wait(epfd, out, 4, 100), 0);
    EXPECT_EQ(seen.size(), sent.size());
    for (const auto& [tag, times] : seen) EXPECT_EQ(times, 1) << "tag " << tag;

    // Removing and closing members: a removed member's traffic wakes nobody; -ENOENT again.
    EXPECT_EQ(ingress_set_remove(set, eps[5]), 0);
    EXPECT_EQ(ingress_set_remove(set, eps[5]), -ENOENT);
    d.inject(tagged(kBasePort + 5, next_tag++));
    ASSERT_TRUE(d.wait_processed());
    EXPECT_EQ(epoll_wait(epfd, out, 4, 100), 0);
    ingress_endpoint_close(eps[6]);
    eps[6] = nullptr;
    d.inject(tagged(kBasePort + 7, next_tag++));
    ASSERT_TRUE(d.wait_processed());
    EXPECT_EQ(epoll_wait(epfd, out, 4, 1000), 1);
    ingress_set_event evs[4];
    ASSERT_EQ(ingress_set_ready(set, evs, 4), 1);
    EXPECT_EQ(evs[0].ep, eps[7]);

    close(epfd);
    ingress_set_close(set);
    for (ingress_endpoint* e : eps) ingress_endpoint_close(e);
}

// A member read by a blocking ingress_recv is listed again (its sleep took the arming), and
// the daemon's exit makes the set readable and lists every member, whose recv reports it.
TEST(EndpointSet, BlockingRecvKeepsAMemberCoveredAndTheDaemonsExitWakesTheSet) {
    TestDaemonOptions opts;
    opts.path = "/tmp/ingress-set-test-" + std::to_string(getpid()) + ".sock";
    auto d = std::make_unique<TestDaemon>(opts);
    Conn a(*d), b(*d), r(*d);  // three clients in one set; r reconnects
    ASSERT_NE(r.c, nullptr);
    ingress_endpoint* e3 = open_udp(r.c, 5802);
    ASSERT_NE(e3, nullptr);
    ASSERT_NE(a.c, nullptr);
    ASSERT_NE(b.c, nullptr);
    ingress_client_set_reconnect(a.c, 0);
    ingress_client_set_reconnect(b.c, 0);
    ingress_endpoint* e1 = open_udp(a.c, 5800);
    ingress_endpoint* e2 = open_udp(b.c, 5801);
    ASSERT_NE(e1, nullptr);
    ASSERT_NE(e2, nullptr);
    ingress_set* set = ingress_set_create();
    ASSERT_EQ(ingress_set_add(set, e1, nullptr), 0);
    ASSERT_EQ(ingress_set_add(set, e2, nullptr), 0);
    ASSERT_EQ(ingress_set_add(set, e3, nullptr), 0);
    ingress_set_event ev[4];
    ASSERT_EQ(ingress_set_ready(set, ev, 4), 0);
    pollfd p{ingress_set_fd(set), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0);

    std::thread late([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        d->inject(tagged(5800, 1));
        d->inject(tagged(5800, 2));
    });
    ingress_datagram dg[1];
    ASSERT_EQ(ingress_recv(e1, dg, 1, 2000), 1);  // slept on its own doorbell
    late.join();
    ASSERT_TRUE(d->wait_processed());
    ASSERT_EQ(ingress_set_ready(set, ev, 4), 1) << "the second datagram is announced";
    EXPECT_EQ(ev[0].ep, e1);
    ASSERT_EQ(ingress_recv(e1, dg, 1, 0), 1);
    EXPECT_EQ(ingress_set_ready(set, ev, 4), 0) << "found empty: armed, no longer listed";

    d.reset();  // the daemon exits: the control connections hang up
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    ASSERT_EQ(ingress_set_ready(set, ev, 4), 3);
    for (int k = 0; k < 3; ++k)
        EXPECT_EQ(ingress_recv(ev[k].ep, dg, 1, 0), ev[k].ep == e3 ? 0 : -ECONNRESET);
    ASSERT_EQ(ingress_set_remove(set, e1), 0);
    ASSERT_EQ(ingress_set_remove(set, e2), 0);
    // While no daemon runs, the set wakes every 100 ms (r's retry), not in a busy loop.
    EXPECT_EQ(ingress_set_ready(set, ev, 4), 0);
    int wakes = 0;
    const auto t0 = Clock::now();
    while (elapsed_ms(t0) < 500) {
        if (poll(&p, 1, 500 - elapsed_ms(t0)) <= 0) continue;
        ++wakes;
        while (ingress_set_ready(set, ev, 4) > 0) EXPECT_EQ(ingress_recv(e3, dg, 1, 0), 0);
    }
    EXPECT_GE(wakes, 2);
    EXPECT_LE(wakes, 7);
    // The daemon is back: the next retry reopens e3, whose traffic the set announces.
    d = std::make_unique<TestDaemon>(opts);
    bool reopened = false;
    for (int i = 0; i < 20 && !reopened; ++i) {
        if (poll(&p, 1, 200) <= 0) continue;
        while (ingress_set_ready(set, ev, 4) > 0) EXPECT_EQ(ingress_recv(e3, dg, 1, 0), 0);
        struct ingress_endpoint_stats st;
        ingress_endpoint_stats(e3, &st);
        reopened = st.reconnects == 1;
    }
    ASSERT_TRUE(reopened);
    d->inject(tagged(5802, 9));
    ASSERT_TRUE(d->wait_processed());
    ASSERT_EQ(poll(&p, 1, 2000), 1);
    ASSERT_EQ(ingress_set_ready(set, ev, 4), 1);
    EXPECT_EQ(ev[0].ep, e3);
    ASSERT_EQ(ingress_recv(e3, dg, 1, 0), 1);
    EXPECT_TRUE(dg[0].flags & INGRESS_D_AFTER_GAP);
    ingress_set_close(set);
    ingress_endpoint_close(e1);
    ingress_endpoint_close(e2);
    ingress_endpoint_close(e3);
}

INSTANTIATE_TEST_SUITE_P(Triggers, EndpointSetScale, ::testing::Values(false, true),
                         [](const auto& info) {
                             return info.param ? "EdgeTriggered" : "LevelTriggered";
                         });

}  // namespace
}  // namespace ingress::test
