// The input route decision and the rest of ip_rcv_finish_core.
//
// Kernel-equivalent: net/ipv4/ip_input.c ip_rcv_finish_core() from the route lookup on:
//   ip_route_input_noref() -> ip_route_input_rcu() -> ip_route_input_mc() (multicast) or
//   ip_route_input_slow() (everything else), with fib_validate_source() (rp_filter.h);
//   then ip_rcv_options() (ip_options.h), InMcastPkts/InBcastPkts, and
//   drop_unicast_in_l2_multicast; then what dst_input() would do with the route: local
//   input, ip_forward, or ip_error. route.md has the order, the knobs and the
//   reason/counter of every branch.
// Reads:  pkt.saddr, pkt.daddr, pkt.ifindex, pkt.pkt_type, pkt.ip_proto, the IPv4 options
//         (frame bytes, when ihl > 5), the tables.
// Writes: pkt.route_type (RouteType).
// Next:   defrag / local delivery for LOCAL, BROADCAST and MULTICAST routes.
// Pass:   datagrams the kernel would forward (UNICAST with forwarding on, broadcast with
//         bc_forwarding): the kernel's ip_forward decides the rest.
// Drops:  IP_INVALID_SOURCE, IP_INVALID_DEST, IP_LOCALNET, IP_RPFILTER, IP_LOCAL_SOURCE,
//         IP_INADDRERRORS, IP_INNOROUTES, IP_INHDR (options), UNICAST_IN_L2_MULTICAST,
//         NOT_SPECIFIED (multicast group not joined, blackhole/unreachable/prohibit routes
//         when forwarding, rejected source routes, no IPv4 on the interface).
// Counts: TcpExtIPReversePathFilter, IpInAddrErrors, IpExtInNoRoutes, IpInHdrErrors,
//         IpExtIn{Mcast,Bcast}{Pkts,Octets}; ICMP errors through the IcmpSender.
#pragma once

#include <cstdint>

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "ipv4/icmp_send.h"
#include "ipv4/route_tables.h"

namespace ingress::ipv4 {

// Why a route that is not an input route exists (the dst.error ip_error() reads).
enum class RouteError : uint8_t {
    kNone,
    kHostUnreach,  // EHOSTUNREACH: unreachable route, or anything not local with forwarding off
    kNetUnreach,   // ENETUNREACH: no route at all
    kInval,        // EINVAL: blackhole
    kAccess,       // EACCES: prohibit
};

// fib_lookup() fails on a missing route and on the types whose fib_props[type].error is set
// (blackhole, unreachable, prohibit, throw): the error it returns, kNone when it found a
// usable route. Written once: the input route and icmp_route_lookup() (icmp_send.cc) use it.
RouteError fib_lookup_error(Fib::Index idx, RouteType type) noexcept;

// The result of ip_route_input_noref(): a drop reason, or a route.
struct RouteDecision {
    bool drop = false;
    core::DropReason reason = core::DropReason::kNotSpecified;
    RouteType type = RouteType::kUnspec;
    bool forward = false;  // dst.input = ip_forward
    RouteError error = RouteError::kNone;
    Fib::Index idx = Fib::kNoRoute;
};

// The batch trick of ip_list_rcv_finish()/ip_can_use_hint(): the previous packet's result,
// reused when the next one has the same destination (the FIB lookup of the destination) and
// also the same source (the whole decision, source validation included). Keyed by the table
// generation, so a published route change invalidates it. One per worker.
struct RouteHint {
    uint64_t generation = 0;  // 0: empty (snapshots start at 1)
    uint32_t ifindex = 0;
    wire::Ipv4Addr daddr = 0, saddr = 0;
    Fib::Index dst_idx = Fib::kNoRoute;
    RouteDecision decision;
    const IfState* dev = nullptr;  // route_input(): the interface state of `ifindex`
    void clear() noexcept { generation = 0; }
};

// ip_route_input_noref() for (daddr, saddr) arriving on `dev`; `proto` matters only for
// multicast (IGMP). The hint may be null.
RouteDecision route_input_noref(const RouteTables& t, const IfState& dev, wire::Ipv4Addr daddr,
                                wire::Ipv4Addr saddr, uint8_t proto, RouteHint* hint) noexcept;

// The stage. `icmp` may be null (no ICMP errors are then built; tests of the pure decision).
core::Verdict route_input(core::Packet& pkt, const RouteTables& t, core::CounterBlock& c,
                          IcmpSender* icmp, uint64_t now_ns, RouteHint& hint) noexcept;

}  // namespace ingress::ipv4
