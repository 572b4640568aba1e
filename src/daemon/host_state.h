// The host as the kernel describes it (links, IPv4 addresses, routes of every table, policy
// rules, read through netlink by daemon/netlink_mirror.h) and how it becomes the route
// stage's RouteConfig in `host: kernel` mode. Pure: no socket here, so the unit tests build a
// KernelHost by hand.
//
// What it keeps: every link (owned or not: lo, an interface the kernel keeps) with its
// addresses (secondaries, explicit brd) while it is up (fib_disable_ip() flushes a down
// link's local routes); from every table the routes an operator added (unicast through a
// device or a gateway, local (AnyIP), broadcast, blackhole, unreachable, prohibit, throw),
// with their table; the rules in the kernel's order, iif/oif resolved by name. The routes
// the kernel derives from addresses (protocol kernel: the local /32, the broadcasts, the
// prefix route) are left out, since RouteTables derives them again from the addresses
// (fib_add_ifaddr()). What it cannot represent is counted and left out, so the dataplane
// never misroutes with it: multipath routes, nexthop objects, routes with a TOS key, other
// route types; an l3mdev rule stays in the list marked unsupported (a lookup reaching it
// hands the datagram to the kernel).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ipv4/route_tables.h"
#include "ipv4/route_type.h"

namespace ingress::daemon {

struct KernelLink {
    uint32_t ifindex = 0;
    std::string name;
    bool loopback = false;  // IFF_LOOPBACK
    bool up = true;         // IFF_UP: a down link's addresses have no local routes
    uint32_t group = 0;     // IFLA_GROUP
};

struct KernelAddr {
    uint32_t ifindex = 0;
    ipv4::IfAddr addr;
};

struct KernelRoute {
    uint32_t table = 0;    // RTA_TABLE (or rtm_table): RT_TABLE_MAIN (254), LOCAL (255), ...
    uint8_t protocol = 0;  // RTPROT_KERNEL (2): derived from an address
    uint8_t type = 0;      // RTN_*
    wire::Ipv4Addr prefix = 0;
    uint8_t prefix_len = 0;
    uint32_t oif = 0;
    bool gateway = false;     // RTA_GATEWAY
    bool multipath = false;   // RTA_MULTIPATH
    bool nexthop_id = false;  // RTA_NH_ID
    uint8_t tos = 0;          // rtm_tos: a route only for that TOS
};

// A route notification (RTM_NEWROUTE / RTM_DELROUTE), its route as a dump would list it.
struct RouteEvent {
    bool add = true;       // RTM_NEWROUTE
    bool replace = false;  // NLM_F_REPLACE: `ip route replace` (or change)
    KernelRoute route;
};

struct KernelHost {
    std::vector<KernelLink> links;
    std::vector<KernelAddr> addrs;
    std::vector<KernelRoute> routes;
    std::vector<ipv4::FibRule> rules;  // RTM_GETRULE, list order; iif/oif by name only
};

// What the last translation left out (logged once per change, counted in `ingressctl host`).
struct HostSkipped {
    uint32_t multipath = 0, nexthop = 0, tos = 0, other_type = 0;
    uint32_t unsupported_rules = 0;  // kept, marked: their lookups go to the kernel
    friend bool operator==(const HostSkipped&, const HostSkipped&) = default;
    uint32_t total() const noexcept {
        return multipath + nexthop + tos + other_type + unsupported_rules;
    }
};

inline constexpr uint8_t kRtProtKernel = 2;
inline constexpr uint8_t kRtTableMain = 254;
inline constexpr uint8_t kRtTableLocal = 255;

// `base`'s knobs and memberships with the kernel's interfaces, addresses and routes: an
// interface of `base` (an owned port, by ifindex) keeps its conf; every other link is added
// with the default conf; `base`'s addresses and routes are replaced.
ipv4::RouteConfig overlay_kernel_host(ipv4::RouteConfig base, const KernelHost& k,
                                      HostSkipped* skipped);

// Route notifications as the edits RoutePublisher::apply() makes to what
// overlay_kernel_host() made of the last dump, as the next dump would change it, so that
// one `ip route add/del/replace` needs no dump (and is applied incrementally). False when
// one of them needs the dump: a route derived from an address (protocol kernel) or one the
// translation leaves out (a deletion of a route not there is apply()'s to find). A new
// route is appended (a dump lists it in the kernel's trie order: the order matters only
// between two routes of one prefix in one table); a replace takes the place of the first
// route of its table and prefix.
bool route_edits(std::span<const RouteEvent> events, std::vector<ipv4::RouteEdit>& out);

}  // namespace ingress::daemon
