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
// Pass:   (also) datagrams whose route depends on a rule the dataplane cannot evaluate
//         (IngressFibRuleUnsupported).
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

// What besides the addresses the input flow carries for policy rules (ip_route_input_slow()
// and fib4_rules_early_flow_dissect()): the header's DSCP and the transport ports (0 for a
// fragment or a protocol without ports). RouteTables::rules_need_ports() says whether the
// ports are read at all.
struct InputKeys {
    uint8_t dscp = 0;
    uint16_t sport = 0, dport = 0;
};

// The ports the flow dissector finds for `pkt` (proto_ports_offset(): TCP, UDP, UDP-Lite,
// DCCP, SCTP and ESP at offset 0, AH at 4; none for a fragment or a short header).
InputKeys input_keys(const core::Packet& pkt) noexcept;

// The flow ip_route_input_slow() builds (fl4) for a datagram arriving on `dev`.
Flow input_flow(const RouteTables& t, const IfState& dev, wire::Ipv4Addr daddr,
                wire::Ipv4Addr saddr, uint8_t proto, const InputKeys& k) noexcept;

// The result of ip_route_input_noref(): a drop reason, or a route.
struct RouteDecision {
    bool drop = false;
    core::DropReason reason = core::DropReason::kNotSpecified;
    RouteType type = RouteType::kUnspec;
    bool forward = false;  // dst.input = ip_forward
    // kUnsupported: a rule the dataplane cannot evaluate decides; the kernel routes it.
    RouteError error = RouteError::kNone;
    const Route* route = nullptr;  // the route found (null: none, or a rule's error)
};

// The batch trick of ip_list_rcv_finish()/ip_can_use_hint(): the previous packet's result,
// reused when the next one has the same destination (the FIB lookup of the destination) and
// also the same source (the whole decision, source validation included). Keyed by the table
// generation, so a published route change invalidates it. One per worker. Unused when the
// tables have custom rules (ip_extract_route_hint(): fib4_has_custom_rules()): the
// decision then depends on more than the addresses.
struct RouteHint {
    uint64_t generation = 0;  // 0: empty (snapshots start at 1)
    uint32_t ifindex = 0;
    wire::Ipv4Addr daddr = 0, saddr = 0;
    bool dst_valid = false;
    FibResult dst;  // the lookup of daddr
    RouteDecision decision;
    const IfState* dev = nullptr;  // route_input(): the interface state of `ifindex`
    void clear() noexcept { generation = 0; }
};

// ip_route_input_noref() for (daddr, saddr) arriving on `dev`; `proto` matters for
// multicast (IGMP) and for rules selecting by ipproto, `keys` for rules selecting by DSCP or
// ports. The hint may be null.
RouteDecision route_input_noref(const RouteTables& t, const IfState& dev, wire::Ipv4Addr daddr,
                                wire::Ipv4Addr saddr, uint8_t proto, RouteHint* hint,
                                const InputKeys& keys = {}) noexcept;

// The stage. `icmp` may be null (no ICMP errors are then built; tests of the pure decision).
core::Verdict route_input(core::Packet& pkt, const RouteTables& t, core::CounterBlock& c,
                          IcmpSender* icmp, uint64_t now_ns, RouteHint& hint) noexcept;

}  // namespace ingress::ipv4
