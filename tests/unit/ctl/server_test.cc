// The control server over a real UNIX socket: every request, its errors, the fds and their
// roles, and what happens to broken frames.
#include "ctl/server.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <ingress/client.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "ctl/cap_proof.h"
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
    std::optional<ctl::Message> ask(const std::vector<uint8_t>& req,
                                    std::span<const int> pass = {}) {
        EXPECT_EQ(ctl::send_with_fds(fd, req, pass), 0);
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

TEST(CtlServer, BindingsAddedRegisteredListedAndRemovedOverTheSocket) {
    // binding-change (21), register-label (22) and bindings (20): a binding for kLocal:53
    // steers to an endpoint bound elsewhere, as tubectl bind + register do.
    TestDaemon d;
    Client c = Client::connect(d.path());
    UdpEndpoint ep = c.open_udp({.addr = kLocal, .port = 5320});
    ctl::BindingChange add;
    add.binding = test::binding(kLocal, 32, "dns", 53, 53);
    // This process is root in the tests: the request carries its CAP_NET_ADMIN proof.
    EXPECT_EQ(err_of(ctl::parse(c.call(ctl::encode(c.next_seq(), add), false).bytes).msg), 0u);
    ep.register_label("dns");
    try {
        ep.register_label("dns");
        ADD_FAILURE() << "registered twice";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), EEXIST);
    }
    d.inject(udp_to(kLocal, 53).build(), 0);
    ASSERT_TRUE(d.wait_processed());
    Datagram dg[4];
    EXPECT_EQ(ep.recv(dg, 4, 1000), 1u) << "the binding beat the (absent) bound lookup";
    EXPECT_EQ(dg[0].meta->dst_port, 53);

    Raw r(d.path());
    int pages = 0;
    std::vector<std::vector<uint8_t>> keep;
    auto bs = list_all(r, MsgType::kBindings, Attr::kBinding, &pages, &keep);
    ASSERT_EQ(bs.size(), 1u);
    demux::Binding b;
    EXPECT_FALSE(ctl::decode_binding(bs[0], &b));
    EXPECT_EQ(b.prefix, kLocal);
    EXPECT_EQ(b.port_lo, 53);
    EXPECT_EQ(b.label, "dns");
    EXPECT_EQ(bs[0].all_u32(Attr::kEndpointId), std::vector<uint32_t>{ep.id()});
    EXPECT_EQ(bs[0].u8(Attr::kBindingConfig), 0);

    ep.unregister_label("dns");
    d.inject(udp_to(kLocal, 53).build(), 0);
    ASSERT_TRUE(d.wait_processed());
    EXPECT_EQ(ep.recv(dg, 4, 50), 0u) << "no live endpoint under the label: the normal lookup";
    ctl::BindingChange rm;
    rm.remove = true;
    rm.binding = add.binding;
    EXPECT_EQ(err_of(ctl::parse(c.call(ctl::encode(c.next_seq(), rm), false).bytes).msg), 0u);
    EXPECT_EQ(err_of(ctl::parse(c.call(ctl::encode(c.next_seq(), rm), false).bytes).msg),
              static_cast<uint32_t>(ENOENT));
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

// Privilege is judged for the request's sender, from what the kernel vouches for
// (ctl/policy.h): root's own request with a raw socket proving CAP_NET_RAW is granted; root
// without one is not (the kernel checks capabilities, not uid 0); and a child that gave up
// root and writes on the connection its root parent made (the fork-and-inherit trick),
// even with the parent's proof socket, is refused as a sender that is not the peer. The
// daemon used to read the connecting pid's CapEff in /proc at each request and granted it.
TEST(CtlServer, PrivilegeIsTheSendersWithAProofNeverTheConnectingPids) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    TestDaemon d;
    Raw r(d.path());
    auto open_raw = [](uint32_t seq, bool proof) {
        ctl::Builder b(ctl::encode(seq, ctl::RawOpen{.protocol = 17}));
        if (proof) b.u8(Attr::kProof, ctl::kCapNetRaw);
        return b.finish();
    };
    const int proof = ctl::make_proof(ctl::kCapNetRaw);
    ASSERT_GE(proof, 0);
    EXPECT_EQ(err_of(r.ask(open_raw(1, false))), static_cast<uint32_t>(EPERM)) << "no proof";
    EXPECT_EQ(err_of(r.ask(open_raw(2, true), std::span(&proof, 1))), 0u);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
        auto m = r.ask(open_raw(3, true), std::span(&proof, 1));
        if (err_of(m) != static_cast<uint32_t>(EPERM)) _exit(11);
        const std::string msg(m->str(Attr::kMessage).value_or(""));
        if (msg.find("is not the connection's peer (uid 0") == std::string::npos) _exit(12);
        // Unprivileged requests still work: the kernel lets anyone use an inherited socket.
        _exit(err_of(r.ask(Builder(MsgType::kRoutes, 4).finish())) == 0 ? 0 : 13);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid, 11 not EPERM, 12 message, 13 read refused";
    EXPECT_EQ(err_of(r.ask(open_raw(5, true), std::span(&proof, 1))), 0u) << "root again";
    close(proof);
}

// `endpoints` shows another user's pid and command only to root, the daemon's uid,
// CAP_NET_ADMIN or the control group, as `ss -p` needs privilege over other users'
// processes; the uid is shown to all, as /proc/net/udp shows it. The daemon used to show
// every app's pid and command to anyone who could connect.
TEST(CtlServer, OtherUsersPidsAndCommandsOnlyToThePrivileged) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    TestDaemon d;
    Raw root(d.path());
    ASSERT_EQ(err_of(root.ask(ctl::encode(1, ctl::UdpOpen{.port = 7001}))), 0u);
    auto listing = [](Raw& r, uint32_t seq) {
        std::map<uint32_t, std::pair<uint32_t, std::optional<uint32_t>>> out;  // port: uid, pid
        auto m = r.ask(Builder(MsgType::kEndpoints, seq).finish());
        if (!m) return out;
        for (const ctl::Attrs& e :
             m->all_nested(Attr::kEndpoint).value_or(std::vector<ctl::Attrs>{}))
            out[e.u16(Attr::kLocalPort).value_or(0)] = {e.u32(Attr::kUid).value_or(9999),
                                                        e.u32(Attr::kPid)};
        return out;
    };
    int listed[2], done[2];  // child -> parent: it listed; parent -> child: root listed
    ASSERT_EQ(pipe(listed), 0);
    ASSERT_EQ(pipe(done), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(done[1]);  // EOF on done[0] once the parent is gone
        if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
        Raw mine(d.path());
        if (err_of(mine.ask(ctl::encode(1, ctl::UdpOpen{.port = 7002}))) != 0) _exit(11);
        auto l = listing(mine, 2);
        if (l.size() != 2) _exit(12);
        if (l[7001].first != 0 || l[7001].second) _exit(13);  // root's: uid, no pid
        if (l[7002].first != 65534 || l[7002].second != static_cast<uint32_t>(getpid()))
            _exit(14);  // its own: uid and pid
        (void)!write(listed[1], "x", 1);
        char x;
        (void)!read(done[0], &x, 1);  // keep the endpoint open while root lists
        _exit(0);
    }
    char x;
    close(listed[1]);
    struct Release {  // the child waits for this on every path out of the test
        int fd;
        ~Release() { close(fd); }
    } release{done[1]};
    ASSERT_EQ(read(listed[0], &x, 1), 1) << "the child failed before listing";
    auto l = listing(root, 3);
    (void)!write(done[1], "x", 1);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid, 11 open, 12 count, 13 root's shown, 14 own";
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[7002].first, 65534u);
    EXPECT_EQ(l[7002].second, static_cast<uint32_t>(child)) << "root sees every app";
    for (int f : {listed[0], done[0]}) close(f);
}

// A frame announcing proofs that were not passed breaks the framing of fds: EPROTO, closed.
// Fds passed with no request claiming them are closed, not kept.
TEST(CtlServer, ProofAttributesWithoutDescriptorsCloseTheConnection) {
    TestDaemon d;
    Raw r(d.path());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    EXPECT_EQ(err_of(r.ask(Builder(MsgType::kRoutes, 1).finish(), std::span(sv, 1))), 0u)
        << "an unclaimed fd is closed, the request answered";
    auto m = r.ask(Builder(MsgType::kRoutes, 2).u8(Attr::kProof, ctl::kCapNetRaw).finish());
    EXPECT_EQ(err_of(m), static_cast<uint32_t>(EPROTO));
    EXPECT_FALSE(r.read_reply()) << "connection closed";
    // The daemon closed the unclaimed fd: its peer sees EOF.
    char x;
    timeval tv{2, 0};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    close(sv[0]);
    EXPECT_EQ(read(sv[1], &x, 1), 0);
    close(sv[1]);
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

// --- quotas, reserves and timeouts (issue 24, item 4) ---------------------------------------

// A child process as `uid` (root drops to it) that runs `fn`, reports its result through a
// pipe and then holds everything it opened until released.
struct AsUid {
    AsUid(uid_t uid, const std::function<int()>& fn) {
        int r[2], h[2];
        EXPECT_EQ(pipe2(r, O_CLOEXEC), 0);
        EXPECT_EQ(pipe2(h, O_CLOEXEC), 0);
        pid = fork();
        if (pid == 0) {
            close(r[0]);
            close(h[1]);
            uint8_t code = 10;
            if (setgroups(0, nullptr) == 0 && setgid(uid) == 0 && setuid(uid) == 0)
                code = static_cast<uint8_t>(fn());
            (void)!write(r[1], &code, 1);
            (void)!read(h[0], &code, 1);  // EOF: released
            _exit(0);
        }
        close(r[1]);
        close(h[0]);
        result_fd = r[0];
        hold_fd = h[1];
    }
    // The child's result (after its work is done; it still holds its connections).
    int result() {
        uint8_t code = 99;
        return read(result_fd, &code, 1) == 1 ? code : 98;
    }
    ~AsUid() {
        close(hold_fd);
        close(result_fd);
        int st = 0;
        waitpid(pid, &st, 0);
    }
    pid_t pid = -1;
    int result_fd = -1, hold_fd = -1;
};

// Opens `n` connections that each said hello, then asks for one more: 0 when that one got
// `want_err` with a message naming `want_text`, 1..n when connection k failed, 20 otherwise.
int hold_then_refused(const std::string& path, int n, uint32_t want_err, const char* want_text) {
    static std::vector<std::unique_ptr<Raw>> held;  // the child's: kept until it exits
    for (int i = 0; i < n; ++i) {
        held.push_back(std::make_unique<Raw>(path));
        if (err_of(held.back()->ask(Builder(MsgType::kHello, 1).finish())) != 0) return i + 1;
    }
    Raw extra(path);
    auto m = extra.read_reply();  // refused at once, unasked
    if (err_of(m) != want_err) return 20;
    return m->str(Attr::kMessage).value_or("").find(want_text) != std::string::npos ? 0 : 21;
}

// The kernel bounds what one user pins (RLIMIT_NOFILE per process, RLIMIT_MEMLOCK per user);
// here one uid holding its connection quota (EMFILE, like a process at its RLIMIT_NOFILE)
// locks out neither another uid nor an administrator (root: ingressctl), and the last
// connections of the global limit (ENFILE for the others) are kept for administrators.
TEST(CtlServer, OneUidAtItsConnectionQuotaLocksOutNeitherAnotherUidNorTheAdministrator) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to act as other uids";
    TestDaemonOptions o;
    o.limits = [](ctl::ServerConfig& s, ctl::RegistryConfig&) {
        s.max_connections = 8;
        s.max_connections_per_uid = 3;
        s.reserved_connections = 2;
    };
    TestDaemon d(o);
    AsUid a(65534, [&] {
        return hold_then_refused(d.path(), 3, EMFILE, "control.max_connections_per_uid 3");
    });
    ASSERT_EQ(a.result(), 0) << "1-3: a connection within the quota failed; 20/21: 4th not EMFILE";
    // Another uid still gets its 3; then only the administrators' reserve is left.
    AsUid b(65533, [&] { return hold_then_refused(d.path(), 3, ENFILE, "reserved"); });
    ASSERT_EQ(b.result(), 0) << "the other uid was locked out, or not refused at the reserve";
    // Root takes the reserve (an ingressctl query answers), and no more.
    Raw r1(d.path()), r2(d.path());
    EXPECT_EQ(err_of(r1.ask(Builder(MsgType::kRoutes, 1).finish())), 0u);
    EXPECT_EQ(err_of(r2.ask(Builder(MsgType::kHello, 2).finish())), 0u);
    Raw r3(d.path());
    EXPECT_EQ(err_of(r3.read_reply()), static_cast<uint32_t>(ENFILE));
    d.with_control([](ctl::Registry&, ctl::Server& s) {
        EXPECT_EQ(s.connections(), 8u);
        EXPECT_EQ(s.stats().refused_uid_quota, 1u);
        EXPECT_EQ(s.stats().refused_reserve, 2u);
        EXPECT_EQ(s.stats().refused_connections, 3u);
        for (const core::NamedCounter& c : s.counter_group().counters)
            EXPECT_TRUE(c.name != "refused" || c.value == 3u) << c.value;
    });
}

// A peer that begins a frame and never finishes it is told and dropped after
// frame_timeout_ms; one that sends whole frames is not. A connection without endpoints that
// stays silent longer than idle_timeout_ms is closed; one with an endpoint stays.
TEST(CtlServer, AHalfWrittenFrameAndAnIdleConnectionAreDroppedAfterTheirTimeouts) {
    TestDaemonOptions o;
    o.limits = [](ctl::ServerConfig& s, ctl::RegistryConfig&) {
        s.frame_timeout_ms = 300;
        s.idle_timeout_ms = 600;
    };
    TestDaemon d(o);
    Raw half(d.path()), idle(d.path()), busy(d.path());
    ASSERT_EQ(err_of(busy.ask(Builder(MsgType::kOpenUdp, 1).u16(Attr::kLocalPort, 5400).finish())),
              0u);
    const std::vector<uint8_t> hello = Builder(MsgType::kHello, 9).finish();
    ASSERT_EQ(ctl::send_with_fds(half.fd, std::span(hello).first(hello.size() - 2), {}), 0);
    auto m = half.read_reply();  // SO_RCVTIMEO 2 s: the timeout must come first
    EXPECT_EQ(err_of(m), static_cast<uint32_t>(ETIMEDOUT));
    EXPECT_NE(m ? m->str(Attr::kMessage).value_or("").find("half written") : 0, std::string::npos);
    EXPECT_FALSE(half.read_reply()) << "closed after the reply";
    auto i = idle.read_reply();
    EXPECT_EQ(err_of(i), static_cast<uint32_t>(ETIMEDOUT));
    EXPECT_FALSE(idle.read_reply());
    EXPECT_EQ(err_of(busy.ask(Builder(MsgType::kHello, 2).finish())), 0u) << "the app stays";
    d.with_control([](ctl::Registry& r, ctl::Server& s) {
        EXPECT_EQ(s.stats().frame_timeouts, 1u);
        EXPECT_EQ(s.stats().idle_timeouts, 1u);
        EXPECT_EQ(s.connections(), 1u);
        EXPECT_EQ(r.size(), 1u);
    });
}

// RLIMIT_MEMLOCK-style: the rings one uid holds, over all its connections, stay under
// max_ring_bytes_per_uid; the open that would pass it is refused with ENOBUFS and a message
// naming the quota, and a smaller ring still fits. max_endpoints_per_uid is EMFILE.
TEST(CtlServer, TheUidsRingBytesAndEndpointQuotasRefuseTheOpenThatWouldPassThem) {
    TestDaemonOptions o;
    o.workers = 2;
    const std::size_t region = shm::RingGeometry{1024, 2048}.region_size();
    o.limits = [&](ctl::ServerConfig&, ctl::RegistryConfig& r) {
        r.max_ring_bytes_per_uid = 2 * 2 * region + region;  // two endpoints and a half
        r.max_endpoints_per_uid = 4;
    };
    TestDaemon d(o);
    Raw c1(d.path()), c2(d.path());
    auto open = [](Raw& r, uint16_t port, uint32_t slots) {
        Builder b(MsgType::kOpenUdp, port);
        b.u16(Attr::kLocalPort, port);
        if (slots) b.u32(Attr::kRingSlots, slots);
        return r.ask(b.finish());
    };
    EXPECT_EQ(err_of(open(c1, 5501, 0)), 0u);
    EXPECT_EQ(err_of(open(c2, 5502, 0)), 0u);  // the same uid on another connection
    auto m = open(c1, 5503, 0);
    EXPECT_EQ(err_of(m), static_cast<uint32_t>(ENOBUFS));
    EXPECT_NE(m->str(Attr::kMessage).value_or("").find("control.max_ring_bytes_per_uid"),
              std::string::npos)
        << m->str(Attr::kMessage).value_or("");
    EXPECT_EQ(err_of(open(c1, 5503, 256)), 0u) << "a quarter of the rings fits";
    EXPECT_EQ(err_of(open(c2, 5504, 64)), 0u);
    m = open(c2, 5505, 64);
    EXPECT_EQ(err_of(m), static_cast<uint32_t>(EMFILE));
    EXPECT_NE(m->str(Attr::kMessage).value_or("").find("control.max_endpoints_per_uid 4"),
              std::string::npos);
    d.with_control([](ctl::Registry& r, ctl::Server&) {
        EXPECT_EQ(r.size(), 4u);
        EXPECT_EQ(r.quota_stats().ring_bytes, 1u);
        EXPECT_EQ(r.quota_stats().endpoints, 1u);
    });
}

// /proc/self/task/TID/stat of this process's thread named `name`, opened (-1: none).
int open_thread_stat(const std::string& name) {
    for (int tries = 0; tries < 200; ++tries) {  // the thread names itself when it starts
        for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
            std::ifstream comm(t.path() / "comm");
            std::string c;
            std::getline(comm, c);
            if (c == name) return open((t.path() / "stat").c_str(), O_RDONLY | O_CLOEXEC);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
}

// Its CPU time (utime + stime, clock ticks), read again with no new fd.
uint64_t thread_cpu_ticks(int stat_fd) {
    char buf[1024];
    const ssize_t n = pread(stat_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    const std::string s(buf, static_cast<std::size_t>(n));
    std::istringstream rest(s.substr(s.rfind(')') + 2));
    std::string f;
    uint64_t utime = 0, stime = 0;
    for (int i = 3; i <= 13; ++i) rest >> f;  // state .. cmajflt
    rest >> utime >> stime;                   // fields 14, 15
    return utime + stime;
}

// accept(2) fails with EMFILE while the peer stays queued: a level-triggered loop would wake
// for ever. The daemon answers each waiting peer (ENFILE, through its spare fd) and sleeps;
// its control thread's CPU time stays a fraction of the wall time, and it serves again once
// fds are free.
TEST(CtlServer, OutOfFdsTheControlThreadAnswersAndDoesNotSpin) {
    TestDaemon d;
    constexpr int kPeers = 4;
    const int stat_fd = open_thread_stat(TestDaemon::kControlThreadName);
    ASSERT_GE(stat_fd, 0);
    std::vector<int> peers;
    for (int i = 0; i < kPeers; ++i)
        peers.push_back(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    rlimit was{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &was), 0);
    int top = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
        top = std::max(top, std::atoi(e.path().filename().c_str()));
    rlimit low = was;
    low.rlim_cur = static_cast<rlim_t>(top + 32);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> filler;
    for (int f; (f = dup(0)) >= 0;) filler.push_back(f);
    EXPECT_EQ(errno, EMFILE);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, d.path().c_str(), sizeof a.sun_path - 1);
    const long hz = sysconf(_SC_CLK_TCK);
    const uint64_t t0 = thread_cpu_ticks(stat_fd);
    const auto w0 = std::chrono::steady_clock::now();
    for (int p : peers) EXPECT_EQ(connect(p, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    // Each peer is told, not left hanging.
    for (int p : peers) {
        timeval tv{2, 0};
        setsockopt(p, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        uint8_t buf[2048];
        const ssize_t n = recv(p, buf, sizeof buf, 0);
        if (n <= 0) {  // (no ASSERT: the fds and the limit must be given back below)
            ADD_FAILURE() << "no answer while out of fds";
            continue;
        }
        auto pr = ctl::parse(std::span<const uint8_t>(buf, static_cast<std::size_t>(n)));
        if (!pr.msg) {
            ADD_FAILURE() << "a broken answer";
            continue;
        }
        EXPECT_EQ(pr.msg->u32(Attr::kError), static_cast<uint32_t>(ENFILE));
        EXPECT_NE(pr.msg->str(Attr::kMessage).value_or("").find("out of file descriptors"),
                  std::string::npos);
    }
    // The fds stay exhausted for a second: the thread sleeps through it.
    EXPECT_LT(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 0) << "fds exhausted";
    std::this_thread::sleep_until(w0 + std::chrono::seconds(1));
    const uint64_t used = thread_cpu_ticks(stat_fd) - t0;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    EXPECT_LT(static_cast<double>(used) / static_cast<double>(hz), 0.25 * wall)
        << used << " ticks of " << hz << "/s in " << wall << " s: spinning";
    for (int f : filler) close(f);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &was), 0);
    // fds free again: served as before.
    Raw r(d.path());
    EXPECT_EQ(err_of(r.ask(Builder(MsgType::kHello, 1).finish())), 0u);
    d.with_control([](ctl::Registry&, ctl::Server& s) {
        EXPECT_EQ(s.stats().refused_fd_limit, static_cast<uint64_t>(kPeers));
    });
    for (int p : peers) close(p);
    close(stat_fd);
}

}  // namespace
}  // namespace ingress::test
