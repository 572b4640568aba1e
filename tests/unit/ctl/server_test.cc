// The control server over a real UNIX socket: every request, its errors, the fds and their
// roles, and what happens to broken frames.
#include "ctl/server.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <ingress/client.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "ctl/observe_codec.h"
#include "ctl/protocol.h"
#include "ctl/unix_socket.h"
#include "support/demux.h"
#include "support/test_daemon.h"

namespace ingress::test {
namespace {

using ctl::Attr;
using ctl::Builder;
using ctl::MsgType;

// Sends raw bytes, returns the parsed reply (or nullopt at EOF) and any fds.
struct Raw {
    explicit Raw(const std::string& path) : fd(ctl::connect_unix(path)) {
        timeval tv{2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~Raw() {
        for (int f : fds) close(f);
        close(fd);
    }
    std::optional<ctl::Message> ask(const std::vector<uint8_t>& req) {
        EXPECT_EQ(ctl::send_with_fds(fd, req, {}), 0);
        return read_reply();
    }
    std::optional<ctl::Message> read_reply() {
        for (;;) {
            auto need = ctl::message_size(in);
            if (need && in.size() >= *need) {
                bytes.assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(*need));
                in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(*need));
                auto pr = ctl::parse(bytes);
                return pr.msg;
            }
            uint8_t buf[8192];
            ssize_t n = ctl::recv_with_fds(fd, buf, sizeof buf, &fds);
            if (n <= 0) return std::nullopt;
            in.insert(in.end(), buf, buf + n);
        }
    }
    int fd;
    std::vector<uint8_t> in, bytes;
    std::vector<int> fds;
};

uint32_t err_of(const std::optional<ctl::Message>& m) {
    return m ? m->u32(Attr::kError).value_or(9999) : 8888;
}

// trace: the first reply accepts, records follow with the request's seq as frames arrive,
// the last reply ends the session at the count; a second session meanwhile is EBUSY, and a
// client that hangs up ends its session.
TEST(CtlServer, TraceStreamsRecordsUntilTheCountAndOneSessionAtATime) {
    TestDaemon d;
    Raw r(d.path());
    ctl::ObserveRequest req;
    req.spec.count = 2;
    req.spec.filter = worker::compile_filter("udp dst port 9").value();
    auto first = r.ask(ctl::encode(5, req));
    ASSERT_EQ(err_of(first), 0u);
    EXPECT_EQ(first->seq, 5u);
    {
        Raw other(d.path());
        EXPECT_EQ(err_of(other.ask(ctl::encode(1, req))), static_cast<uint32_t>(EBUSY));
    }
    for (uint16_t port : {8, 9, 9, 9}) d.inject(udp_to(kLocal, port).build());
    std::vector<worker::TraceRecord> got;
    std::optional<ctl::ObserveEnd> end;
    while (!end) {
        auto m = r.read_reply();
        ASSERT_TRUE(m);
        EXPECT_EQ(m->seq, 5u);
        ASSERT_EQ(err_of(m), 0u);
        if ((end = ctl::decode_end(*m))) break;
        auto items = m->all_nested(Attr::kTraceRecord);
        ASSERT_TRUE(items);
        for (const ctl::Attrs& a : *items) {
            std::string name;
            got.push_back(ctl::decode_trace_record(a, &name).value());
        }
    }
    ASSERT_EQ(got.size(), 2u);
    for (const auto& t : got) EXPECT_EQ(t.reason, core::DropReason::kNoSocket);
    EXPECT_EQ(end->records, 2u);
    EXPECT_EQ(end->why, "count reached");

    // A session whose client hangs up ends; the next one starts.
    {
        Raw gone(d.path());
        req.spec.count = 0;
        ASSERT_EQ(err_of(gone.ask(ctl::encode(1, req))), 0u);
    }
    Raw next(d.path());
    bool started = false;
    for (int i = 0; i < 100 && !started; ++i) {
        Raw tryit(d.path());
        started = err_of(tryit.ask(ctl::encode(1, req))) == 0;
        if (!started) usleep(10000);
    }
    EXPECT_TRUE(started);
}

TEST(CtlServer, HelloReportsVersionWorkersAndRingGeometry) {
    TestDaemonOptions o;
    o.workers = 2;
    o.ring_slots = 256;
    TestDaemon d(o);
    Raw r(d.path());
    auto m = r.ask(Builder(MsgType::kHello, 7).u16(Attr::kVersion, ctl::kVersion).finish());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->seq, 7u);
    EXPECT_EQ(err_of(m), 0u);
    EXPECT_EQ(m->u16(Attr::kVersion), ctl::kVersion);
    EXPECT_EQ(m->u32(Attr::kWorkers), 2u);
    EXPECT_EQ(m->u32(Attr::kRingSlots), 256u);
    EXPECT_EQ(m->u32(Attr::kSlotSize), 2048u);
}

TEST(CtlServer, OpenReplyPassesOneRingPerWorkerThenTheEventfdWithTheirRoles) {
    TestDaemonOptions o;
    o.workers = 2;
    TestDaemon d(o);
    Raw r(d.path());
    auto m = r.ask(Builder(MsgType::kOpenUdp, 1).u16(Attr::kLocalPort, 5000).finish());
    ASSERT_TRUE(m);
    ASSERT_EQ(err_of(m), 0u);
    const uint32_t id = m->u32(Attr::kEndpointId).value_or(0);
    EXPECT_NE(id, 0u);
    std::vector<uint8_t> roles;
    for (const auto& a : m->attrs)
        if (a.type == Attr::kFdRole) roles.push_back(a.value[0]);
    EXPECT_EQ(roles, (std::vector<uint8_t>{0, 0, 1}));
    ASSERT_EQ(r.fds.size(), 3u);
    for (uint32_t w = 0; w < 2; ++w) {
        shm::Region reg = shm::Region::map(dup(r.fds[w]));
        ASSERT_EQ(shm::ring_check(reg.data(), reg.size()), shm::RingCheck::kOk);
        auto* h = static_cast<const shm::RingHeader*>(reg.data());
        EXPECT_EQ(h->worker, w);
        EXPECT_EQ(h->endpoint_id, id);
    }
}

TEST(CtlServer, EveryRequestWithoutItsRequiredAttributesIsEinvalWithAMessage) {
    TestDaemon d;
    Raw r(d.path());
    const std::vector<std::pair<const char*, std::vector<uint8_t>>> cases = {
        {"open-udp without port", Builder(MsgType::kOpenUdp, 1).finish()},
        {"open-raw without protocol", Builder(MsgType::kOpenRaw, 2).finish()},
        {"open-tap without ethertype", Builder(MsgType::kOpenTap, 3).finish()},
        {"join without group", Builder(MsgType::kJoin, 4).u32(Attr::kEndpointId, 1).finish()},
        {"join without id", Builder(MsgType::kJoin, 5).u32(Attr::kGroup, 0xef010101).finish()},
        {"include join without sources", Builder(MsgType::kJoin, 6)
                                             .u32(Attr::kEndpointId, 1)
                                             .u32(Attr::kGroup, 0xef010101)
                                             .u8(Attr::kFilterMode, 1)
                                             .finish()},
        {"leave without group", Builder(MsgType::kLeave, 7).u32(Attr::kEndpointId, 1).finish()},
        {"set-option without option",
         Builder(MsgType::kSetOption, 8).u32(Attr::kEndpointId, 1).finish()},
        {"set-option without value", Builder(MsgType::kSetOption, 9)
                                         .u32(Attr::kEndpointId, 1)
                                         .u16(Attr::kOption, static_cast<uint16_t>(Attr::kIfindex))
                                         .finish()},
        {"close without id", Builder(MsgType::kClose, 10).finish()},
        {"a reply sent as a request", Builder(MsgType::kReply, 11).finish()},
    };
    for (const auto& [what, req] : cases) {
        auto m = r.ask(req);
        ASSERT_TRUE(m) << what;
        EXPECT_EQ(err_of(m), static_cast<uint32_t>(EINVAL)) << what;
        EXPECT_FALSE(m->str(Attr::kMessage).value_or("").empty()) << what;
    }
    auto m = r.ask(Builder(MsgType::kSetOption, 12)
                       .u32(Attr::kEndpointId, 1)
                       .u16(Attr::kOption, static_cast<uint16_t>(Attr::kReuseport))
                       .u8(Attr::kReuseport, 1)
                       .finish());
    EXPECT_EQ(err_of(m), static_cast<uint32_t>(ENOPROTOOPT));
    m = r.ask(Builder(MsgType::kClose, 13).u32(Attr::kEndpointId, 12345).finish());
    EXPECT_EQ(err_of(m), static_cast<uint32_t>(ENOENT));
    // The connection survived all of it.
    EXPECT_EQ(err_of(r.ask(Builder(MsgType::kHello, 14).finish())), 0u);
}

TEST(CtlServer, JoinLeaveSetOptionCloseAndStatsOnAnOwnEndpoint) {
    TestDaemon d;
    Client c = Client::connect(d.path());
    UdpEndpoint ep = c.open_udp({.port = 5300});
    const uint32_t g = 0xef010101;
    ep.join(g, 1);
    try {
        ep.join(g, 1);
        ADD_FAILURE() << "second join accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), EADDRINUSE);
    }
    ep.leave(g, 1);
    try {
        ep.leave(g, 1);
        ADD_FAILURE() << "leave of a group not joined accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), EADDRNOTAVAIL);
    }
    ep.set_multicast_all(false);
    ep.bind_to_device(1);
    const std::string s = c.stats();
    EXPECT_NE(s.find("#endpoints"), std::string::npos) << s;
    EXPECT_NE(s.find("ep1 "), std::string::npos) << s;
    ep.close();
    EXPECT_TRUE(d.wait_for([](ctl::Registry& r, ctl::Server&) { return r.size() == 0; }));
}

TEST(CtlServer, UntrustworthyFramingGetsEprotoAndTheConnectionIsClosed) {
    TestDaemon d;
    auto good = Builder(MsgType::kHello, 3).finish();
    {
        Raw r(d.path());
        auto bad = good;
        bad[0] ^= 0xff;  // magic
        auto m = r.ask(bad);
        EXPECT_EQ(err_of(m), static_cast<uint32_t>(EPROTO));
        EXPECT_FALSE(r.read_reply()) << "connection should be closed";
    }
    {
        Raw r(d.path());
        auto huge = good;
        huge[14] = 0x10;  // payload length 1 MiB
        EXPECT_EQ(err_of(r.ask(huge)), static_cast<uint32_t>(EPROTO));
        EXPECT_FALSE(r.read_reply());
    }
    {
        // A well-framed message with a bad attribute: EPROTO, the connection stays.
        Raw r(d.path());
        auto m = r.ask(Builder(MsgType::kOpenUdp, 4).u32(Attr::kLocalPort, 5000).finish());
        EXPECT_EQ(err_of(m), static_cast<uint32_t>(EPROTO));
        EXPECT_EQ(err_of(r.ask(good)), 0u);
    }
    EXPECT_TRUE(d.wait_for([](ctl::Registry&, ctl::Server& s) { return s.connections() == 0; }));
    d.with_control(
        [](ctl::Registry&, ctl::Server& s) { EXPECT_EQ(s.stats().protocol_errors, 3u); });
}

// --- the operator's requests (ingressctl) ---------------------------------------------------

// Every item of a paged list request, following kCursor; `pages` counts the replies.
std::vector<ctl::Attrs> list_all(Raw& r, MsgType type, Attr item, int* pages,
                                 std::vector<std::vector<uint8_t>>* keep) {
    std::vector<ctl::Attrs> out;
    uint32_t cursor = 0;
    for (*pages = 0;; ++*pages) {
        auto m = r.ask(Builder(type, 40).u32(Attr::kCursor, cursor).finish());
        EXPECT_TRUE(m && err_of(m) == 0u);
        if (!m) return out;
        keep->push_back(r.bytes);  // the items point into the reply's bytes
        auto page = ctl::parse(keep->back()).msg->all_nested(item);
        EXPECT_TRUE(page) << "malformed item";
        out.insert(out.end(), page->begin(), page->end());
        auto next = m->u32(Attr::kCursor);
        if (!next) {
            ++*pages;
            return out;
        }
        EXPECT_GT(*next, cursor);
        cursor = *next;
    }
}

TEST(CtlServer, StatsQueryGivesEachWorkersCountersInTableOrderWithTheTableIdentity) {
    TestDaemonOptions o;
    o.workers = 2;
    TestDaemon d(o);
    d.inject(udp_to(kLocal, 9).build(), 1);  // worker 1: no endpoint, NO_SOCKET
    d.inject(udp_to(kLocal, 9).build(), 1);
    d.inject(udp_to(kLocal, 9).build(), 0);
    ASSERT_TRUE(d.wait_processed());
    Raw r(d.path());
    auto m = r.ask(Builder(MsgType::kStatsQuery, 3).finish());
    ASSERT_TRUE(m);
    EXPECT_EQ(err_of(m), 0u);
    EXPECT_EQ(m->u32(Attr::kCounterHash), core::counter_table_hash());
    EXPECT_EQ(m->u32(Attr::kMibCount), core::kMibCount);
    EXPECT_EQ(m->u32(Attr::kDropCount), core::kDropReasonCount);
    EXPECT_EQ(m->u32(Attr::kWorkers), 2u);
    EXPECT_FALSE(m->u32(Attr::kCursor)) << "two workers fit in one reply";
    auto ws = m->all_nested(Attr::kWorkerCounters);
    ASSERT_TRUE(ws);
    ASSERT_EQ(ws->size(), 2u);
    const uint64_t want_no_socket[] = {1, 2};
    for (uint32_t w = 0; w < 2; ++w) {
        const ctl::Attrs& a = (*ws)[w];
        EXPECT_EQ(a.u32(Attr::kWorker), w);
        EXPECT_NE(a.str(Attr::kWorkerDesc).value_or("").find("worker " + std::to_string(w)),
                  std::string::npos);
        std::vector<uint64_t> v = a.u64_array(Attr::kCounters);
        auto s = core::snapshot_from_array(v.data(), v.size());
        ASSERT_TRUE(s);
        EXPECT_EQ(s->rx, want_no_socket[w]);
        EXPECT_EQ(s->drop_value(core::DropReason::kNoSocket), want_no_socket[w]);
        EXPECT_EQ(s->mib_value(core::Mib::kUdpNoPorts), want_no_socket[w]);
        EXPECT_TRUE(s->conserved());
    }
}

TEST(CtlServer, BackendStatsListsTheDaemonsCounterGroupsPagedAndEachOnce) {
    {
        TestDaemon d;  // no hook: a daemon without backends says so
        Raw r(d.path());
        EXPECT_EQ(err_of(r.ask(Builder(MsgType::kBackendStats, 1).finish())),
                  static_cast<uint32_t>(EOPNOTSUPP));
    }
    // 64 sockets' XDP_STATISTICS, more than one reply holds.
    TestDaemonOptions o;
    o.counter_groups = [] {
        std::vector<core::CounterGroup> v;
        for (int32_t q = 0; q < 64; ++q) {
            core::CounterGroup g{.device = "eth0",
                                 .backend = "af_xdp",
                                 .source = "xdp_statistics",
                                 .queue = q,
                                 .counters = {}};
            for (const char* n : {"rx_dropped", "rx_ring_full", "rx_fill_ring_empty_descs",
                                  "rx_invalid_descs", "tx_invalid_descs", "tx_ring_empty_descs"})
                g.counters.push_back({n, "a counter of the kernel's struct xdp_statistics",
                                      static_cast<uint64_t>(q)});
            v.push_back(std::move(g));
        }
        return v;
    };
    TestDaemon d(o);
    Raw r(d.path());
    int pages = 0;
    std::vector<std::vector<uint8_t>> keep;
    auto all = list_all(r, MsgType::kBackendStats, Attr::kCounterGroup, &pages, &keep);
    EXPECT_GT(pages, 1);
    ASSERT_EQ(all.size(), 64u);
    for (std::size_t i = 0; i < all.size(); ++i) {
        auto g = ctl::decode_counter_group(all[i]);
        ASSERT_TRUE(g);
        EXPECT_EQ(g->queue, static_cast<int32_t>(i)) << "each group once, in order";
        ASSERT_EQ(g->counters.size(), 6u);
        EXPECT_EQ(g->counters[1].name, "rx_ring_full");
        EXPECT_EQ(g->counters[1].value, i);
    }
    for (const auto& f : keep) EXPECT_LE(f.size(), ctl::kHeaderLen + ctl::kMaxPayload);
}

TEST(CtlServer, EndpointsShowOwnerPidCommBindingMembershipsAndRingFill) {
    TestDaemonOptions o;
    o.workers = 2;
    o.ring_slots = 256;
    TestDaemon d(o);
    Client c = Client::connect(d.path());
    UdpEndpoint ep = c.open_udp({.port = 5310, .reuseport = true});
    const uint32_t src[] = {kPeer};
    ep.join(kGroup, 1, src, true);
    d.inject(udp_to(kLocal, 5310).build(), 0);
    d.inject(udp_to(kLocal, 5310).build(), 1);
    ASSERT_TRUE(d.wait_processed());
    Raw r(d.path());
    int pages = 0;
    std::vector<std::vector<uint8_t>> keep;
    auto eps = list_all(r, MsgType::kEndpoints, Attr::kEndpoint, &pages, &keep);
    ASSERT_EQ(eps.size(), 1u);
    const ctl::Attrs& e = eps[0];
    std::string comm;
    std::getline(std::ifstream("/proc/self/comm"), comm);
    EXPECT_EQ(e.u32(Attr::kPid), static_cast<uint32_t>(getpid()));
    EXPECT_EQ(e.u32(Attr::kUid), static_cast<uint32_t>(geteuid()));
    EXPECT_EQ(e.str(Attr::kComm), comm);
    EXPECT_EQ(e.u8(Attr::kKind), 0);
    EXPECT_EQ(e.u16(Attr::kLocalPort), 5310);
    EXPECT_EQ(e.u32(Attr::kLocalAddr), 0u);
    EXPECT_EQ(e.u8(Attr::kReuseport), 1);
    EXPECT_EQ(e.u32(Attr::kRingUsed), 2u) << "one datagram in each worker's ring, unread";
    EXPECT_EQ(e.u32(Attr::kRingCapacity), 2u * 256);
    EXPECT_EQ(e.u64(Attr::kDelivered), 2u);
    EXPECT_EQ(e.u64(Attr::kDropped), 0u);
    auto groups = e.all_nested(Attr::kMembership);
    ASSERT_TRUE(groups);
    ASSERT_EQ(groups->size(), 1u);
    EXPECT_EQ((*groups)[0].u32(Attr::kGroup), kGroup);
    EXPECT_EQ((*groups)[0].u8(Attr::kFilterMode), 1) << "MCAST_INCLUDE";
    EXPECT_EQ((*groups)[0].all_u32(Attr::kSource), std::vector<uint32_t>{kPeer});
    EXPECT_EQ((*groups)[0].str(Attr::kIfname), "test0");
}

TEST(CtlServer, ListRepliesArePagedWithACursorAndNeverExceedTheMaximumPayload) {
    TestDaemon d;
    Client a = Client::connect(d.path()), b = Client::connect(d.path());
    std::vector<UdpEndpoint> eps;
    const uint32_t srcs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // igmp_max_msf sources each
    for (uint16_t i = 0; i < 120; ++i) {
        eps.push_back((i % 2 ? a : b).open_udp({.port = static_cast<uint16_t>(6000 + i)}));
        eps.back().join(kGroup, 1, srcs, true);
    }
    Raw r(d.path());
    int pages = 0;
    std::vector<std::vector<uint8_t>> keep;
    auto all = list_all(r, MsgType::kEndpoints, Attr::kEndpoint, &pages, &keep);
    EXPECT_GT(pages, 1);
    ASSERT_EQ(all.size(), 120u);
    for (std::size_t i = 0; i < all.size(); ++i)
        EXPECT_EQ(all[i].u16(Attr::kLocalPort), 6000 + i) << "each endpoint once, in id order";
    for (const auto& f : keep) EXPECT_LE(f.size(), ctl::kHeaderLen + ctl::kMaxPayload);
}

TEST(CtlServer, RoutesListTheLocalAndMainTableEntriesTheWorkersUse) {
    TestDaemon d;
    Raw r(d.path());
    int pages = 0;
    std::vector<std::vector<uint8_t>> keep;
    auto routes = list_all(r, MsgType::kRoutes, Attr::kRoute, &pages, &keep);
    // fib_add_ifaddr() for 198.18.0.1/24 on test0: LOCAL /32 and the subnet broadcast in the
    // local table, the prefix route (scope link) in main.
    struct Want {
        uint32_t prefix;
        uint8_t len, type, scope, table;
    };
    const Want want[] = {
        {kLocal, 32, 2, 254, 255},
        {wire::ipv4(198, 18, 0, 255), 32, 3, 253, 255},
        {wire::ipv4(198, 18, 0, 0), 24, 1, 253, 254},
    };
    for (const Want& w : want) {
        bool found = false;
        for (const ctl::Attrs& a : routes)
            found |= a.u32(Attr::kPrefix) == w.prefix && a.u8(Attr::kPrefixLen) == w.len &&
                     a.u8(Attr::kRouteType) == w.type && a.u8(Attr::kScope) == w.scope &&
                     a.u8(Attr::kTable) == w.table && a.str(Attr::kIfname) == "test0";
        EXPECT_TRUE(found) << "route " << std::hex << w.prefix << "/" << std::dec << int(w.len);
    }
}

TEST(CtlServer, ReloadRunsTheDaemonsHookAndReportsAppliedRestartOrTheConfigError) {
    std::vector<ctl::ReloadOutcome> outcomes = {
        {},
        {0, "", {"workers.cores", "rings"}},
        {EINVAL, "/etc/ingressd.yaml:11:5: routes[0].typo: unknown key", {}},
    };
    std::size_t calls = 0;
    TestDaemonOptions o;
    o.reload = [&] { return outcomes[calls++]; };
    TestDaemon d(o);
    Raw r(d.path());
    auto m = r.ask(Builder(MsgType::kReload, 1).finish());
    EXPECT_EQ(err_of(m), 0u);
    EXPECT_EQ(m->u8(Attr::kApplied), 1);
    m = r.ask(Builder(MsgType::kReload, 2).finish());
    EXPECT_EQ(err_of(m), 0u);
    EXPECT_EQ(m->u8(Attr::kApplied), 0);
    EXPECT_EQ(m->all_str(Attr::kRestart),
              (std::vector<std::string_view>{"workers.cores", "rings"}));
    m = r.ask(Builder(MsgType::kReload, 3).finish());
    EXPECT_EQ(err_of(m), static_cast<uint32_t>(EINVAL));
    EXPECT_EQ(m->str(Attr::kMessage), "/etc/ingressd.yaml:11:5: routes[0].typo: unknown key");
    EXPECT_EQ(calls, 3u);
    TestDaemon no_hook;
    Raw r2(no_hook.path());
    EXPECT_EQ(err_of(r2.ask(Builder(MsgType::kReload, 4).finish())),
              static_cast<uint32_t>(EOPNOTSUPP));
}

// The reload rule (ctl::may_administer) on a real peer: an unprivileged uid that is neither
// the socket's owner nor in the control group may read but not reload.
TEST(CtlServer, AnUnprivilegedPeerReadsButMayNotReload) {
    std::size_t calls = 0;
    TestDaemonOptions o;
    o.reload = [&] {
        ++calls;
        return ctl::ReloadOutcome{};
    };
    if (geteuid() != 0) o.owner_uid = static_cast<int>(geteuid()) + 1;  // we are not the owner
    TestDaemon d(o);
    // As root, the peer is a child that gave up root (and with it every capability).
    auto peer = [&]() -> int {
        if (geteuid() == 0 &&
            (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            return 10;
        Raw r(d.path());
        if (err_of(r.ask(Builder(MsgType::kRoutes, 1).finish())) != 0) return 11;
        auto m = r.ask(Builder(MsgType::kReload, 2).finish());
        if (err_of(m) != static_cast<uint32_t>(EPERM)) return 12;
        return m->str(Attr::kMessage).value_or("").find("control group") != std::string::npos ? 0
                                                                                              : 13;
    };
    if (geteuid() == 0) {
        pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) _exit(peer());
        int status = 0;
        ASSERT_EQ(waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0)
            << "10 setuid, 11 read refused, 12 reload not EPERM, 13 message";
    } else {
        EXPECT_EQ(peer(), 0) << "11 read refused, 12 reload not EPERM, 13 message";
    }
    EXPECT_EQ(calls, 0u) << "the hook never ran";
}

// A hostile app's refusals are logged clearly (what, from which pid and uid, why) but at most
// 10 a second, so a flood of broken frames cannot flood the daemon's log.
TEST(CtlServer, RefusalsAreLoggedWithTheirCauseAndRateLimited) {
    TestDaemonOptions o;
    o.log_refusals = true;
    TestDaemon d(o);
    auto bad = Builder(MsgType::kHello, 3).finish();
    bad[0] ^= 0xff;  // magic
    ::testing::internal::CaptureStderr();
    for (int i = 0; i < 50; ++i) {
        Raw r(d.path());
        EXPECT_EQ(err_of(r.ask(bad)), static_cast<uint32_t>(EPROTO));
    }
    EXPECT_TRUE(d.wait_for([](ctl::Registry&, ctl::Server& s) { return s.connections() == 0; }));
    const std::string log = ::testing::internal::GetCapturedStderr();
    std::size_t lines = 0;
    for (std::size_t p = 0;
         (p = log.find("ingressd: refused message from pid " + std::to_string(getpid()), p)) !=
         std::string::npos;
         ++p)
        ++lines;
    EXPECT_GE(lines, 1u) << log;
    EXPECT_LE(lines, 20u) << log;  // 10 a second; the 50 connections may straddle a second
    EXPECT_NE(log.find("uid 0: not an ingress control message (bad magic)"), std::string::npos)
        << log;
    d.with_control(
        [](ctl::Registry&, ctl::Server& s) { EXPECT_EQ(s.stats().protocol_errors, 50u); });
}

}  // namespace
}  // namespace ingress::test
