// The endpoint registry: the kernel's bind() rules, privileges, ownership, memberships, and
// publication of every change.
#include "ctl/registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <set>

#include "ctl/cap_proof.h"
#include "demux/raw.h"
#include "demux/udp.h"
#include "support/demux.h"

namespace ingress::ctl {
namespace {

using test::kGroup;
using test::kLocal;

constexpr pid_t kRootPid = 1;
constexpr pid_t kUserPid = 2;
constexpr uid_t kUser = 1000, kOther = 1001;

class RegistryTest : public ::testing::Test {
protected:
    void SetUp() override { cfg.geometry = {8, 128}; }
    Registry& reg() {
        if (!reg_) reg_ = std::make_unique<Registry>(cfg, pub, &routes);
        return *reg_;
    }
    // root proved every capability with its request (ctl/cap_proof.h); a user proved none.
    static PeerCred root() {
        PeerCred p{kRootPid, 0, 0};
        p.proven = ~uint64_t{0};
        return p;
    }
    static PeerCred user(uid_t uid = kUser) { return {kUserPid, uid, uid}; }
    int udp(uint64_t owner, PeerCred who, UdpOpen o) { return reg().open_udp(owner, who, o).err; }

    RegistryConfig cfg;
    demux::EndpointPublisher pub;
    // The test port (ifindex 1) and a second interface (2) for SO_BINDTODEVICE.
    static ipv4::RouteConfig two_interfaces() {
        ipv4::RouteConfig c = test::default_route_config();
        c.ifaces.push_back({.ifindex = 2, .name = "test1"});
        return c;
    }
    ipv4::RoutePublisher routes{two_interfaces()};
    std::unique_ptr<Registry> reg_;
};

// --- SO_RCVBUF, SO_RCVBUFFORCE and the net.core.rmem_* sysctls --------------------------

uint32_t sk_rcvbuf_of(Registry& r, uint32_t id) {
    for (const EndpointView& v : r.endpoints(id))
        if (v.id == id) return v.rcvbuf;
    return 0;
}

TEST_F(RegistryTest, RcvbufForceIgnoresRmemMaxWithCapNetAdminAndIsEpermWithout) {
    // sk_setsockopt(SO_RCVBUFFORCE): sockopt_ns_capable(CAP_NET_ADMIN) or -EPERM, then
    // __sock_set_rcvbuf() without the rmem_max clamp; SO_RCVBUF is clamped.
    cfg.rmem_max = 100000;
    const uint32_t id = reg().open_udp(1, user(), {.port = 5000}).id;
    const uint32_t before = sk_rcvbuf_of(reg(), id);
    EXPECT_EQ(reg().set_rcvbuf_force(1, user(), id, 1000000).err, EPERM);
    EXPECT_EQ(sk_rcvbuf_of(reg(), id), before) << "refused: unchanged";
    PeerCred admin = user();
    admin.proven = uint64_t{1} << kCapNetAdmin;
    EXPECT_EQ(reg().set_rcvbuf_force(1, admin, id, 1000000).err, 0);
    EXPECT_EQ(sk_rcvbuf_of(reg(), id), 2000000u);
    EXPECT_EQ(reg().set_option(1, id, Attr::kRcvbuf, 1000000).err, 0);
    EXPECT_EQ(sk_rcvbuf_of(reg(), id), 200000u) << "SO_RCVBUF: clamped to rmem_max, doubled";
    EXPECT_EQ(reg().set_rcvbuf_force(1, admin, id, UINT32_MAX).err, 0);
    EXPECT_EQ(sk_rcvbuf_of(reg(), id), static_cast<uint32_t>(INT_MAX / 2) * 2);
    PeerCred raw_only = user();
    raw_only.proven = uint64_t{1} << kCapNetRaw;
    EXPECT_EQ(reg().set_rcvbuf_force(1, raw_only, id, 1000).err, EPERM);
    PeerCred mismatch = admin;
    mismatch.sender_mismatch = true;
    EXPECT_EQ(reg().set_rcvbuf_force(1, mismatch, id, 1000).err, EPERM);
    const uint32_t raw = reg().open_raw(1, root(), {.protocol = 17}).id;
    EXPECT_EQ(reg().set_rcvbuf_force(1, root(), raw, 1000).err, ENOPROTOOPT);
}

TEST_F(RegistryTest, RmemDefaultAppliesAtOpenAndRmemMaxAtSetsockoptOnly) {
    // sock_init_data() copies rmem_default into a new socket; __sock_set_rcvbuf() reads
    // rmem_max at setsockopt; neither changes an open socket afterwards.
    cfg.rmem_default = 100000;
    cfg.rmem_max = 100000;
    const uint32_t fresh = reg().open_udp(1, user(), {.port = 5000}).id;
    const uint32_t set = reg().open_udp(1, user(), {.port = 5001, .rcvbuf = 500000}).id;
    EXPECT_EQ(sk_rcvbuf_of(reg(), fresh), 100000u);
    EXPECT_EQ(sk_rcvbuf_of(reg(), set), 200000u);
    reg().set_rmem(300000, 400000);
    EXPECT_EQ(sk_rcvbuf_of(reg(), fresh), 100000u) << "open endpoints keep theirs";
    EXPECT_EQ(sk_rcvbuf_of(reg(), set), 200000u);
    EXPECT_EQ(sk_rcvbuf_of(reg(), reg().open_udp(1, user(), {.port = 5002}).id), 300000u);
    EXPECT_EQ(reg().set_option(1, set, Attr::kRcvbuf, 500000).err, 0);
    EXPECT_EQ(sk_rcvbuf_of(reg(), set), 800000u) << "the next SO_RCVBUF: rmem_max now";
    // The published endpoint charges against the same value.
    reg().set_rmem(100000, 100000);
    EXPECT_EQ(reg().set_option(1, set, Attr::kMulticastAll, 0).err, 0);  // a rebuild
    EXPECT_EQ(sk_rcvbuf_of(reg(), set), 800000u);
}

TEST_F(RegistryTest, WildcardAndSpecificBindOnOnePortConflictAsInUdpLibLportInuse) {
    EXPECT_EQ(udp(1, user(), {.port = 5000}), 0);
    EXPECT_EQ(udp(2, user(), {.addr = kLocal, .port = 5000}), EADDRINUSE);
    EXPECT_EQ(udp(2, user(), {.port = 5000}), EADDRINUSE);
    EXPECT_EQ(udp(2, user(), {.port = 5001}), 0);
    EXPECT_EQ(reg().size(), 2u);
}

TEST_F(RegistryTest, DifferentDevicesOrBothReuseaddrDoNotConflict) {
    EXPECT_EQ(udp(1, user(), {.port = 5000, .ifindex = 1}), 0);
    EXPECT_EQ(udp(1, user(), {.port = 5000, .ifindex = 2}), 0);
    EXPECT_EQ(udp(1, user(), {.port = 5000}), EADDRINUSE);  // unbound overlaps both
    EXPECT_EQ(udp(1, user(), {.port = 6000, .reuseaddr = true}), 0);
    EXPECT_EQ(udp(2, user(), {.port = 6000, .reuseaddr = true}), 0);
    EXPECT_EQ(udp(2, user(), {.port = 6000}), EADDRINUSE);
}

// SO_BINDTODEVICE (sock_bindtoindex) and a packet socket's bind() to an index no interface
// has: ENODEV, before the address is looked at.
TEST_F(RegistryTest, UnknownInterfaceIsEnodev) {
    EXPECT_EQ(udp(1, user(), {.port = 5000, .ifindex = 999999}), ENODEV);
    EXPECT_EQ(udp(1, user(), {.addr = wire::ipv4(198, 19, 9, 9), .port = 5000, .ifindex = 999999}),
              ENODEV);
    EXPECT_EQ(reg().open_raw(1, root(), {.protocol = 17, .ifindex = 999999}).err, ENODEV);
    EXPECT_EQ(reg().open_tap(1, root(), {.ifindex = 999999}).err, ENODEV);
    EXPECT_EQ(udp(1, user(), {.port = 5000, .ifindex = 2}), 0);
    EXPECT_EQ(reg().size(), 1u);
}

TEST_F(RegistryTest, ReuseportGroupNeedsTheSameUid) {
    EXPECT_EQ(udp(1, user(kUser), {.port = 7000, .reuseport = true}), 0);
    EXPECT_EQ(udp(2, user(kUser), {.port = 7000, .reuseport = true}), 0);
    EXPECT_EQ(udp(3, user(kOther), {.port = 7000, .reuseport = true}), EADDRINUSE);
    EXPECT_EQ(udp(3, user(kUser), {.port = 7000}), EADDRINUSE);
}

TEST_F(RegistryTest, ConnectOnAWildcardSocketBindsTheRoutesSourceAsIp4DatagramConnect) {
    // 198.18.0.0/24 is 198.18.0.1's prefix route: a wildcard socket connected to a peer on it
    // is hashed under 198.18.0.1 from then on, so it no longer matches a broadcast.
    ASSERT_EQ(udp(1, user(), {.port = 5000, .remote_addr = test::kPeer, .remote_port = 4000}), 0);
    EXPECT_EQ(pub.read()->udp_slot(kLocal, 5000).size(), 1u);
    EXPECT_TRUE(pub.read()->udp_slot(0, 5000).empty());
    // No route to the peer: the local address stays the wildcard.
    ASSERT_EQ(
        udp(1, user(), {.port = 5001, .remote_addr = wire::ipv4(203, 0, 113, 9), .remote_port = 1}),
        0);
    EXPECT_EQ(pub.read()->udp_slot(0, 5001).size(), 1u);
}

TEST_F(RegistryTest, NonLocalAddressIsRefusedUnlessIpNonlocalBind) {
    const wire::Ipv4Addr far = wire::ipv4(203, 0, 113, 9);
    EXPECT_EQ(udp(1, user(), {.addr = far, .port = 5000}), EADDRNOTAVAIL);
    EXPECT_EQ(udp(1, user(), {.addr = kGroup, .port = 5000}), 0);  // multicast: allowed
    EXPECT_EQ(udp(1, user(), {.addr = wire::ipv4(198, 18, 0, 255), .port = 5000}), 0);  // bcast
    reg_.reset();
    cfg.ip_nonlocal_bind = true;
    EXPECT_EQ(udp(1, user(), {.addr = far, .port = 5000}), 0);
}

// inet_bind() accepts what inet_addr_type() calls LOCAL, BROADCAST or MULTICAST, asked of
// the route tables: a secondary address, a static local route, 0.0.0.0/8 (BROADCAST to the
// kernel); not a neighbour on the link.
TEST_F(RegistryTest, BindAcceptsWhatInetAddrTypeCallsOurs) {
    ipv4::RouteConfig rc = test::default_route_config();
    rc.ifaces[0].addrs.push_back(
        {.addr = wire::ipv4(198, 18, 0, 9), .prefix_len = 24, .secondary = true});
    rc.routes.push_back({.prefix = wire::ipv4(192, 0, 2, 9),
                         .prefix_len = 32,
                         .type = ipv4::RouteType::kLocal,
                         .oif = 1});
    routes.update(rc);
    EXPECT_EQ(udp(1, user(), {.addr = wire::ipv4(198, 18, 0, 9), .port = 5000}), 0);
    EXPECT_EQ(udp(1, user(), {.addr = wire::ipv4(192, 0, 2, 9), .port = 5000}), 0);
    EXPECT_EQ(udp(1, user(), {.addr = wire::ipv4(0, 1, 2, 3), .port = 5000}), 0);
    EXPECT_EQ(udp(1, user(), {.addr = wire::ipv4(198, 18, 0, 2), .port = 5000}), EADDRNOTAVAIL);
    EXPECT_EQ(reg().open_raw(1, root(), {.protocol = 1, .addr = wire::ipv4(198, 18, 0, 2)}).err,
              EADDRNOTAVAIL);
    EXPECT_EQ(reg().open_raw(1, root(), {.protocol = 1, .addr = wire::ipv4(198, 18, 0, 9)}).err, 0);
}

// An AnyIP route (`ip route add local 198.18.100.0/24 dev lo`) makes every address of the
// prefix LOCAL to inet_addr_type(): bind accepts them; outside it, the refusal names the
// cause (no address or local route), not ip_nonlocal_bind.
TEST_F(RegistryTest, BindAcceptsAnAnyIpPrefixAndARefusalNamesTheCause) {
    ipv4::RouteConfig rc = test::default_route_config();
    rc.ifaces.push_back(ipv4::RouteConfig::loopback(7));
    rc.routes.push_back({.prefix = wire::ipv4(198, 18, 100, 0),
                         .prefix_len = 24,
                         .type = ipv4::RouteType::kLocal,
                         .oif = 7});
    routes.update(rc);
    EXPECT_EQ(udp(1, user(), {.addr = wire::ipv4(198, 18, 100, 7), .port = 5000}), 0);
    EXPECT_EQ(
        reg().open_raw(1, root(), {.protocol = 253, .addr = wire::ipv4(198, 18, 100, 200)}).err, 0);
    const Result r = reg().open_udp(1, user(), {.addr = wire::ipv4(198, 18, 101, 7), .port = 5000});
    EXPECT_EQ(r.err, EADDRNOTAVAIL);
    EXPECT_EQ(r.message,
              "cannot bind to 198.18.101.7: not an address of this host (no interface address "
              "or local route covers it; net.ipv4.ip_nonlocal_bind=1 would allow it)");
    EXPECT_EQ(
        reg().open_raw(1, root(), {.protocol = 253, .addr = wire::ipv4(198, 18, 101, 7)}).message,
        r.message);
}

TEST_F(RegistryTest, PortZeroGetsTheFirstFreeEphemeralPort) {
    EXPECT_EQ(udp(1, user(), {.port = 32768}), 0);
    Result r = reg().open_udp(1, user(), {});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(udp(2, user(), {.port = 32769}), EADDRINUSE);
}

TEST_F(RegistryTest, PrivilegedPortsRawAndTapsNeedTheKernelsCapabilities) {
    Result r = reg().open_udp(1, user(), {.port = 80});
    EXPECT_EQ(r.err, EACCES);
    EXPECT_NE(r.message.find("CAP_NET_BIND_SERVICE"), std::string::npos);
    EXPECT_EQ(reg().open_raw(1, user(), {.protocol = 1}).err, EPERM);
    EXPECT_EQ(reg().open_tap(1, user(), {}).err, EPERM);
    EXPECT_EQ(udp(1, user(), {.port = 1024}), 0);  // ip_unprivileged_port_start itself
    EXPECT_EQ(udp(1, root(), {.port = 80}), 0);
    EXPECT_EQ(reg().open_raw(1, root(), {.protocol = 1}).err, 0);
    EXPECT_EQ(reg().open_tap(1, root(), {}).err, 0);
    EXPECT_EQ(reg().open_raw(1, root(), {.protocol = 0}).err, EPROTONOSUPPORT);
    EXPECT_EQ(reg().open_tap(1, root(), {.filter = "this is not pcap"}).err, EINVAL);
}

TEST_F(RegistryTest, GrantsFromThePolicyStandInForCapabilities) {
    cfg.policy.bind_service.uids.push_back(kUser);
    cfg.policy.net_raw.gids.push_back(kUser);
    EXPECT_EQ(udp(1, user(), {.port = 53}), 0);
    EXPECT_EQ(reg().open_raw(1, user(), {.protocol = 17}).err, 0);
    EXPECT_EQ(udp(1, user(kOther), {.port = 54}), EACCES);
}

TEST_F(RegistryTest, OnlyTheOwnerMayCloseJoinOrChangeAnEndpoint) {
    Result r = reg().open_udp(1, user(), {.port = 5000});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(reg().close(2, r.id).err, EPERM);
    EXPECT_EQ(reg().join(2, r.id, kGroup, 1, demux::McFilterMode::kExclude, {}).err, EPERM);
    EXPECT_EQ(reg().set_option(2, r.id, Attr::kMulticastAll, 0).err, EPERM);
    EXPECT_EQ(reg().rings(2, r.id), nullptr);
    EXPECT_NE(reg().rings(1, r.id), nullptr);
    EXPECT_EQ(reg().close(1, r.id + 1).err, ENOENT);
    EXPECT_EQ(reg().close(1, r.id).err, 0);
    EXPECT_EQ(reg().size(), 0u);
}

TEST_F(RegistryTest, EveryChangeIsPublishedAndAConnectionsEndRemovesAllItsEndpoints) {
    const uint64_t g0 = pub.generation();
    ASSERT_EQ(udp(1, user(), {.port = 5000}), 0);
    ASSERT_EQ(udp(1, user(), {.port = 5001}), 0);
    ASSERT_EQ(udp(2, user(), {.port = 5002}), 0);
    EXPECT_EQ(pub.generation(), g0 + 3);
    EXPECT_EQ(pub.read()->udp_count(), 3u);
    EXPECT_EQ(reg().close_owner(1), 2u);
    EXPECT_EQ(pub.generation(), g0 + 4);  // one publication for the whole connection
    EXPECT_EQ(pub.read()->udp_count(), 1u);
    EXPECT_EQ(reg().count(2), 1u);
}

TEST_F(RegistryTest, EndpointLimitPerConnectionAndRingSizeLimit) {
    cfg.max_endpoints_per_owner = 2;
    cfg.max_ring_slots = 128;
    EXPECT_EQ(udp(1, user(), {.port = 5000}), 0);
    Result r = reg().open_udp(1, user(), {.port = 5001, .ring_slots = 100});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(reg().rings(1, r.id)->geometry().slot_count, 128u);  // a power of two
    EXPECT_EQ(udp(1, user(), {.port = 5002}), EMFILE);
    EXPECT_EQ(udp(2, user(), {.port = 5003, .ring_slots = 129}), EINVAL);
}

TEST_F(RegistryTest, JoinsAndLeavesFollowIpMcJoinGroupErrorsAndUpdateTheInterface) {
    Result r = reg().open_udp(1, user(), {.port = 5000});
    ASSERT_TRUE(r.ok());
    const std::size_t base = routes.config().mc.size();
    EXPECT_EQ(reg().join(1, r.id, kLocal, 1, demux::McFilterMode::kExclude, {}).err, EINVAL);
    EXPECT_EQ(reg().join(1, r.id, kGroup, 1, demux::McFilterMode::kExclude, {}).err, 0);
    EXPECT_EQ(routes.config().mc.size(), base + 1);
    EXPECT_TRUE(routes.read()->mc().check(1, kGroup, test::kPeer, 17));
    EXPECT_EQ(reg().join(1, r.id, kGroup, 1, demux::McFilterMode::kExclude, {}).err, EADDRINUSE);
    // Blocking a source on an EXCLUDE membership, then asking for INCLUDE: EINVAL.
    const std::vector<wire::Ipv4Addr> src{test::kPeer};
    EXPECT_EQ(reg().join(1, r.id, kGroup, 1, demux::McFilterMode::kExclude, src).err, 0);
    EXPECT_FALSE(routes.read()->mc().check(1, kGroup, test::kPeer, 17));
    EXPECT_EQ(reg().join(1, r.id, kGroup, 1, demux::McFilterMode::kInclude, src).err, EINVAL);
    EXPECT_EQ(reg().leave(1, r.id, kGroup, 1, {test::kPeer2}).err, EADDRNOTAVAIL);
    EXPECT_EQ(reg().leave(1, r.id, kGroup, 1, {}).err, 0);
    EXPECT_EQ(reg().leave(1, r.id, kGroup, 1, {}).err, EADDRNOTAVAIL);
    EXPECT_EQ(routes.config().mc.size(), base);
    // A closed endpoint's memberships leave the interface too.
    ASSERT_EQ(reg().join(1, r.id, kGroup, 1, demux::McFilterMode::kExclude, {}).err, 0);
    EXPECT_EQ(reg().close_owner(1), 1u);
    EXPECT_EQ(routes.config().mc.size(), base);
}

// ip_mc_find_dev(): a join with imr_ifindex 0 records the interface the kernel picked, so
// the socket's source filter (ip_mc_sf_allow, matched on the arriving interface) applies;
// a leave with ifindex 0 finds it again.
TEST_F(RegistryTest, AJoinOnIfindexZeroRecordsTheInterfaceSoItsSourceFilterApplies) {
    Result r = reg().open_udp(1, user(), {.port = 7000});
    ASSERT_TRUE(r.ok());
    const std::vector<wire::Ipv4Addr> src{test::kPeer};
    ASSERT_EQ(reg().join(1, r.id, kGroup, 0, demux::McFilterMode::kInclude, src).err, 0);
    auto slot = pub.read()->udp_slot(0, 7000);
    ASSERT_EQ(slot.size(), 1u);
    const demux::McSocketState& mc = slot[0].ep->mc();
    ASSERT_EQ(mc.list.size(), 1u);
    EXPECT_EQ(mc.list[0].ifindex, 1u);  // the route config's first interface
    EXPECT_TRUE(mc.sf_allow(kGroup, test::kPeer, 1));
    EXPECT_FALSE(mc.sf_allow(kGroup, test::kPeer2, 1));
    EXPECT_EQ(reg().leave(1, r.id, kGroup, 0, {}).err, 0);
    EXPECT_TRUE(pub.read()->udp_slot(0, 7000)[0].ep->mc().list.empty());
}

TEST_F(RegistryTest, SetOptionRebuildsTheEndpointOnTheSameRings) {
    Result r = reg().open_raw(1, root(), {.protocol = 1});
    ASSERT_TRUE(r.ok());
    const demux::ShmRings* before = reg().rings(1, r.id);
    EXPECT_EQ(reg().set_option(1, r.id, Attr::kIcmpFilter, 1u << 8).err, 0);
    EXPECT_EQ(reg().rings(1, r.id), before);
    auto raws = pub.read()->raw(1);
    ASSERT_EQ(raws.size(), 1u);
    EXPECT_EQ(raws[0]->icmp_filter(), 1u << 8);
    EXPECT_EQ(&raws[0]->rings(), before);
    EXPECT_EQ(reg().set_option(1, r.id, Attr::kReuseport, 1).err, ENOPROTOOPT);
    Result u = reg().open_udp(1, user(), {.port = 5000});
    EXPECT_EQ(reg().set_option(1, u.id, Attr::kIcmpFilter, 1).err, EOPNOTSUPP);
}

TEST_F(RegistryTest, IgnoreOutgoingIsATapOptionAtOpenAndAfter) {
    // PACKET_IGNORE_OUTGOING: a packet-socket option (ENOPROTOOPT elsewhere), settable on an
    // open tap; the published tap group carries it.
    Result t = reg().open_tap(1, root(), {.ignore_outgoing = true});
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(pub.read()->tap_groups().size(), 1u);
    EXPECT_TRUE(pub.read()->tap_groups()[0].ignore_outgoing);
    EXPECT_EQ(reg().set_option(1, t.id, Attr::kIgnoreOutgoing, 0).err, 0);
    EXPECT_FALSE(pub.read()->tap_groups()[0].ignore_outgoing);
    Result u = reg().open_udp(1, user(), {.port = 5000});
    EXPECT_EQ(reg().set_option(1, u.id, Attr::kIgnoreOutgoing, 1).err, ENOPROTOOPT);
}

// connect() on a raw socket (ip4_datagram_connect): inet_daddr narrows what raw_v4_match()
// takes to the peer's datagrams, and an unbound socket's inet_rcv_saddr becomes the route's
// source, once (a second connect keeps it); connect(AF_UNSPEC) (__udp_disconnect) clears
// the peer and the address connect chose, never one bind() set.
TEST_F(RegistryTest, RawConnectNarrowsRemoteAndLocalAsIp4DatagramConnect) {
    Result r = reg().open_raw(1, root(), {.protocol = 253});
    ASSERT_TRUE(r.ok());
    auto matches = [&](wire::Ipv4Addr src, wire::Ipv4Addr dst) {
        auto bytes = test::proto_to(253, dst, src).build();
        core::Packet p = test::ip_packet(bytes, ipv4::RouteType::kLocal);
        return demux::raw_local_deliver(p, *pub.read()).matched;
    };
    EXPECT_TRUE(matches(test::kPeer2, kLocal)) << "unconnected: every peer";
    ASSERT_EQ(reg().set_option(1, r.id, Attr::kRemoteAddr, test::kPeer).err, 0);
    const demux::InetAddressing& a = pub.read()->raw(253)[0]->addressing();
    EXPECT_EQ(a.daddr, test::kPeer);
    EXPECT_EQ(a.rcv_saddr, kLocal) << "the route to the peer picks 198.18.0.1";
    EXPECT_TRUE(matches(test::kPeer, kLocal));
    EXPECT_FALSE(matches(test::kPeer2, kLocal)) << "another peer: raw_v4_match refuses";
    EXPECT_FALSE(matches(test::kPeer, test::kLocal2)) << "another local address";

    ASSERT_EQ(reg().set_option(1, r.id, Attr::kRemoteAddr, test::kPeer2).err, 0);
    EXPECT_EQ(pub.read()->raw(253)[0]->addressing().daddr, test::kPeer2);
    EXPECT_EQ(pub.read()->raw(253)[0]->addressing().rcv_saddr, kLocal);

    ASSERT_EQ(reg().set_option(1, r.id, Attr::kRemoteAddr, 0).err, 0);
    EXPECT_EQ(pub.read()->raw(253)[0]->addressing().daddr, 0u);
    EXPECT_EQ(pub.read()->raw(253)[0]->addressing().rcv_saddr, 0u) << "connect's choice undone";
    EXPECT_TRUE(matches(test::kPeer2, test::kLocal2));

    Result bound = reg().open_raw(1, root(), {.protocol = 254, .addr = kLocal});
    ASSERT_TRUE(bound.ok());
    ASSERT_EQ(reg().set_option(1, bound.id, Attr::kRemoteAddr, test::kPeer).err, 0);
    ASSERT_EQ(reg().set_option(1, bound.id, Attr::kRemoteAddr, 0).err, 0);
    EXPECT_EQ(pub.read()->raw(254)[0]->addressing().rcv_saddr, kLocal) << "bind()'s stays";

    Result u = reg().open_udp(1, user(), {.port = 5000});
    EXPECT_EQ(reg().set_option(1, u.id, Attr::kRemoteAddr, test::kPeer).err, EOPNOTSUPP);
}

// --- bindings (demux/sk_lookup.h) ------------------------------------------------------------

using test::binding;

class RegistryBindingsTest : public RegistryTest {
protected:
    // 198.18.100.0/24 is an AnyIP prefix on lo (ip route add local 198.18.100.0/24 dev lo).
    void SetUp() override {
        RegistryTest::SetUp();
        ipv4::RouteConfig rc = two_interfaces();
        rc.ifaces.push_back(ipv4::RouteConfig::loopback(7));
        rc.routes.push_back(
            {.prefix = kAnyIp, .prefix_len = 24, .type = ipv4::RouteType::kLocal, .oif = 7});
        routes.update(rc);
    }
    demux::UdpEndpoint* lookup(wire::Ipv4Addr daddr, uint16_t dport, uint16_t sport = 4000) {
        return demux::udp4_lib_lookup(*pub.read(), test::kPeer, sport, daddr, dport, 1);
    }
    static constexpr wire::Ipv4Addr kAnyIp = wire::ipv4(198, 18, 100, 0);
};

TEST_F(RegistryBindingsTest, ALabelMayOnlyCaptureTheHostsAddresses) {
    // Every address of the prefix must be LOCAL, as inet_bind() asks of one address.
    EXPECT_EQ(reg().add_binding(root(), binding(kAnyIp, 24, "dns")).err, 0);
    EXPECT_EQ(reg().add_binding(root(), binding(kAnyIp | 42, 32, "dns")).err, 0);
    EXPECT_EQ(reg().add_binding(root(), binding(kLocal, 32, "dns")).err, 0) << "an address";
    const Result half = reg().add_binding(root(), binding(kAnyIp, 23, "dns"));
    EXPECT_EQ(half.err, EADDRNOTAVAIL) << "198.18.101.0/24 is not the host's";
    EXPECT_NE(half.message.find("198.18.101.0 is not an address of this host"), std::string::npos)
        << half.message;
    EXPECT_EQ(reg().add_binding(root(), binding(0, 0, "all")).err, EADDRNOTAVAIL);
    EXPECT_EQ(reg().add_binding(root(), binding(0, 0, "")).err, 0)
        << "a drop binding captures nothing";
    // net.ipv4.ip_nonlocal_bind=1 lets any prefix through, as it does bind().
    reg().set_policy(cfg.policy, true);
    EXPECT_EQ(reg().add_binding(root(), binding(kAnyIp, 23, "dns")).err, 0);
}

TEST_F(RegistryBindingsTest, AddingBindingsAndRegisteringNeedCapNetAdminOrAGrant) {
    Result r = reg().add_binding(user(), binding(kAnyIp, 24, "dns"));
    EXPECT_EQ(r.err, EPERM);
    EXPECT_NE(r.message.find("CAP_NET_ADMIN"), std::string::npos);
    Result ep = reg().open_udp(1, user(), {.addr = kAnyIp | 1, .port = 5353});
    ASSERT_TRUE(ep.ok()) << ep.message;
    EXPECT_EQ(reg().register_label(1, user(), ep.id, "dns").err, EPERM);
    EXPECT_EQ(reg().register_label(2, root(), ep.id, "dns").err, EPERM) << "not its owner";

    cfg.policy.bindings.uids.push_back(kUser);
    cfg.policy.register_label.gids.push_back(kUser);
    reg().set_policy(cfg.policy, false);
    EXPECT_EQ(reg().add_binding(user(), binding(kAnyIp, 24, "dns")).err, 0);
    EXPECT_EQ(reg().register_label(1, user(), ep.id, "dns").err, 0);
    EXPECT_EQ(reg().register_label(1, user(), ep.id, "dns").err, EEXIST);
    EXPECT_EQ(reg().add_binding(user(kOther), binding(kAnyIp, 24, "x")).err, EPERM);
    EXPECT_EQ(reg().remove_binding(user(kOther), binding(kAnyIp, 24, "dns")).err, EPERM);
    Result raw = reg().open_raw(1, root(), {.protocol = 253});
    EXPECT_EQ(reg().register_label(1, root(), raw.id, "dns").err, EPROTOTYPE)
        << "raw endpoints are not looked up through sk_lookup";
}

TEST_F(RegistryBindingsTest, BindingsAndLabelsArePublishedAndAClosedEndpointLeavesItsLabel) {
    Result a = reg().open_udp(1, root(), {.addr = kLocal, .port = 5353});
    Result b = reg().open_udp(1, root(), {.addr = kLocal, .port = 5354});
    ASSERT_TRUE(a.ok() && b.ok());
    const uint64_t gen = pub.generation();
    ASSERT_EQ(reg().add_binding(root(), binding(kAnyIp, 24, "dns", 53, 53)).err, 0);
    EXPECT_GT(pub.generation(), gen);
    EXPECT_EQ(lookup(kAnyIp | 9, 53), nullptr) << "no live endpoint: the normal lookup";
    ASSERT_EQ(reg().register_label(1, root(), a.id, "dns").err, 0);
    ASSERT_EQ(reg().register_label(1, root(), b.id, "dns").err, 0);
    std::set<demux::UdpEndpoint*> seen;
    for (uint16_t sport = 1000; sport < 1040; ++sport) seen.insert(lookup(kAnyIp | 9, 53, sport));
    EXPECT_EQ(seen.size(), 2u) << "two endpoints under one label share its flows";
    EXPECT_EQ(lookup(kAnyIp | 9, 54), nullptr) << "outside the binding's ports";
    auto views = reg().bindings();
    ASSERT_EQ(views.size(), 1u);
    EXPECT_EQ(views[0].endpoints, (std::vector<uint32_t>{a.id, b.id}));
    EXPECT_FALSE(views[0].from_config);

    ASSERT_EQ(reg().close(1, a.id).err, 0);
    EXPECT_EQ(reg().bindings()[0].endpoints, (std::vector<uint32_t>{b.id}));
    for (uint16_t sport = 1000; sport < 1010; ++sport)
        EXPECT_NE(lookup(kAnyIp | 9, 53, sport), nullptr);
    ASSERT_EQ(reg().unregister_label(1, b.id, "dns").err, 0);
    EXPECT_EQ(lookup(kAnyIp | 9, 53), nullptr);
    EXPECT_EQ(reg().remove_binding(root(), binding(kAnyIp, 24, "dns", 53, 53)).err, 0);
    EXPECT_EQ(reg().remove_binding(root(), binding(kAnyIp, 24, "dns", 53, 53)).err, ENOENT);
    EXPECT_FALSE(pub.read()->has_sk_lookup()) << "no bindings: the lookup's one branch";
}

TEST_F(RegistryBindingsTest, TheFilesBindingsReplaceTheFilesAndKeepTheControlSockets) {
    ASSERT_EQ(reg().add_binding(root(), binding(kAnyIp, 24, "ctl", 80, 80)).err, 0);
    std::size_t bad = 99;
    ASSERT_EQ(reg().set_config_bindings({binding(kAnyIp, 24, "a", 53, 53)}, nullptr, &bad).err, 0);
    ASSERT_EQ(reg().set_config_bindings({binding(kAnyIp, 24, "b", 54, 54)}, nullptr, &bad).err, 0);
    auto v = reg().bindings();
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0].binding.label, "b");
    EXPECT_TRUE(v[0].from_config);
    EXPECT_EQ(v[1].binding.label, "ctl");
    // A refused entry changes nothing and is named by its index.
    Result r = reg().set_config_bindings(
        {binding(kAnyIp, 24, "c", 55, 55), binding(wire::ipv4(198, 18, 101, 0), 24, "d")}, nullptr,
        &bad);
    EXPECT_EQ(r.err, EADDRNOTAVAIL);
    EXPECT_EQ(bad, 1u);
    EXPECT_EQ(reg().bindings()[0].binding.label, "b");
}

}  // namespace
}  // namespace ingress::ctl
