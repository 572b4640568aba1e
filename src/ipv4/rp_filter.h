// Source address validation: reverse-path filtering and the "our own address as source" rule.
//
// Kernel-equivalent: net/ipv4/fib_frontend.c fib_validate_source() and
// __fib_validate_source(), with fib_validate_source_reason()'s mapping of the result
// (-EXDEV -> IP_RPFILTER, any other error -> IP_LOCAL_SOURCE).
//   rp_filter = max(conf/all, conf/IFACE): 0 off, 1 strict (the route back to the source
//   must leave through the receiving interface), 2 loose (there must be a route back).
//   With rp_filter 0 and no custom local routes the kernel takes a fast path: accept,
//   unless the source is one of our addresses and accept_local is off.
// Reads:  the FIB (a lookup of the source), the interface's effective knobs and addresses.
// The lookup is fib_lookup() through the rules, with the reverse flow the kernel builds:
//   daddr/saddr swapped, iif = the route's output device or loopback for local input,
//   oif 0, the ports swapped, mark 0. With custom rules the fast path is off.
// Deliberately not here: src_valid_mark (no skb->mark in this dataplane: the lookup is the
//   one with mark 0), the IPsec secpath exemption (no xfrm), tclassid (no realms), and the
//   second, oif-bound lookup of loose mode, which decides only RTCF_DIRECTSRC, never the
//   verdict.
#pragma once

#include <cstdint>

#include "ipv4/route_tables.h"
#include "wire/ipv4.h"

namespace ingress::ipv4 {

enum class SourceVerdict : uint8_t {
    kAccept,       // 0 or a positive return
    kRpFilter,     // -EXDEV: drop IP_RPFILTER, TcpExtIPReversePathFilter
    kLocalSource,  // -EINVAL: drop IP_LOCAL_SOURCE
    kUnsupported,  // (ingress) the reverse lookup reached a rule the dataplane cannot evaluate
};

// The flow __fib_validate_source() looks up the route back with (the iif/oif swap): to the
// source, from the destination, "arriving" on `oif` (loopback for local input).
Flow reverse_flow(const RouteTables& t, const Flow& in, uint32_t oif) noexcept;

// `dev`: the receiving interface; `in`: the input flow (in.saddr is the source validated;
// iif, oif and mark are not read); `oif`: the output interface of the route being built
// (0 for local input, broadcast and multicast).
SourceVerdict fib_validate_source(const RouteTables& t, const IfState& dev, const Flow& in,
                                  uint32_t oif) noexcept;

}  // namespace ingress::ipv4
