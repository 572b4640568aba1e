// The control server over a real UNIX socket: every request, its errors, the fds and their
// roles, and what happens to broken frames.
#include "ctl/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <ingress/client.h>

#include "ctl/protocol.h"
#include "ctl/unix_socket.h"
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
    d.with_control([](ctl::Registry&, ctl::Server& s) {
        EXPECT_EQ(s.stats().protocol_errors, 3u);
    });
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
    for (std::size_t p = 0; (p = log.find("ingressd: refused message from pid " + std::to_string(getpid()), p)) != std::string::npos; ++p)
        ++lines;
    EXPECT_GE(lines, 1u) << log;
    EXPECT_LE(lines, 20u) << log;  // 10 a second; the 50 connections may straddle a second
    EXPECT_NE(log.find("uid 0: not an ingress control message (bad magic)"), std::string::npos) << log;
    d.with_control([](ctl::Registry&, ctl::Server& s) { EXPECT_EQ(s.stats().protocol_errors, 50u); });
}

}  // namespace
}  // namespace ingress::test
