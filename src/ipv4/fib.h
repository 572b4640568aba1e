// The FIB: longest-prefix match over IPv4 routes with the kernel's route types.
//
// Kernel-equivalent: net/ipv4/fib_trie.c fib_table_lookup() over the merged local + main
// tables (what fib_lookup() does when there are no policy rules). A DIR-24-8 table (Gupta,
// Lin, McKeown 1998; the layout of DPDK's rte_lpm / rte_fib DIR24_8) replaces the LC-trie:
//   tbl24[addr >> 8]  : a route index, or (bit 31) the number of a 256-entry tbl8 group;
//   tbl8[g * 256 + (addr & 0xff)] : a route index.
// Route index 0 means "no route". A lookup is one load for prefixes up to /24 and two beyond.
//
// A Fib is immutable once built: a route change builds a new one and publishes it
// (route_tables.h), so workers read without locks. tbl24 (64 MiB) and tbl8 are anonymous
// mappings: untouched ranges cost nothing, and they ask for transparent huge pages
// (MADV_HUGEPAGE), which keeps random lookups over a large table out of the TLB-miss regime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ipv4/route_type.h"
#include "wire/ipv4.h"

namespace ingress::ipv4 {

// The kernel's route scopes (include/uapi/linux/rtnetlink.h, RT_SCOPE_*).
enum class RouteScope : uint8_t { kUniverse = 0, kLink = 253, kHost = 254, kNowhere = 255 };

// One route: what fib_result carries back from a lookup (type, prefix, nexthop device and
// the nexthop's scope, which is RT_SCOPE_HOST for a directly connected route and LINK for a
// route via a gateway, as fib_check_nh() sets it).
struct Route {
    wire::Ipv4Addr prefix = 0;  // host order, host bits zero
    uint8_t prefix_len = 0;
    RouteType type = RouteType::kUnicast;
    RouteScope scope = RouteScope::kUniverse;  // the route's scope (rtm_scope)
    RouteScope nh_scope = RouteScope::kHost;   // the nexthop's scope (nhc_scope)
    uint32_t oif = 0;                          // nexthop device (0: none, e.g. blackhole)
    uint32_t table = 254;                      // RT_TABLE_MAIN; 255 (local) wins a tie
    bool local_table() const noexcept { return table == 255; }
};

// Why a lookup found no usable route: the error fib_lookup() returns, which becomes the
// dst.error ip_error() reads.
enum class RouteError : uint8_t {
    kNone,
    kHostUnreach,  // EHOSTUNREACH: unreachable route, or anything not local with forwarding off
    kNetUnreach,   // ENETUNREACH: no route at all, or an `unreachable` rule
    kInval,        // EINVAL: blackhole (route or rule)
    kAccess,       // EACCES: prohibit (route or rule)
    // (ingress) the lookup reached a rule the dataplane cannot evaluate: the kernel decides.
    kUnsupported,
};

// "198.18.0.0/24" -> prefix and length, host bits must be zero; "blackhole" etc.
bool parse_prefix(std::string_view s, wire::Ipv4Addr& prefix, uint8_t& len) noexcept;
bool parse_route_type(std::string_view s, RouteType& t) noexcept;
std::string_view route_type_name(RouteType t) noexcept;

class Fib {
public:
    using Index = uint32_t;
    static constexpr Index kNoRoute = 0;

    // Builds the table from `routes`. Two routes with the same prefix and length: the one
    // from the local table wins (the local table is consulted first by the default rules),
    // otherwise the later one replaces the earlier (`ip route replace`).
    explicit Fib(std::span<const Route> routes);
    ~Fib();
    Fib(const Fib&) = delete;
    Fib& operator=(const Fib&) = delete;

    Index lookup(wire::Ipv4Addr a) const noexcept {
        uint32_t e = tbl24_[a >> 8];
        if (e & kExt) e = tbl8_[((e & ~kExt) << 8) | (a & 0xff)];
        return e;
    }
    // The same lookup for n addresses (the bulk form rte_fib_lookup_bulk has). Inline and
    // branch-light on purpose: the loads of consecutive addresses are independent, so the
    // CPU keeps many tbl24 misses in flight by itself; explicit prefetching and 8-wide
    // lanes measured no better on random destinations and worse on repeated ones
    // (bench/fib_bench.cc).
    void lookup_bulk(const wire::Ipv4Addr* addrs, Index* out, std::size_t n) const noexcept {
        for (std::size_t i = 0; i < n; ++i) out[i] = lookup(addrs[i]);
    }

    const Route& route(Index i) const noexcept { return routes_[i]; }
    // Every route the table was built from (shortest prefix first), for `ingressctl routes`.
    std::span<const Route> routes() const noexcept {
        return {routes_.data() + 1, routes_.size() - 1};
    }
    std::size_t size() const noexcept { return routes_.size() - 1; }
    std::size_t tbl8_groups() const noexcept { return tbl8_groups_; }

private:
    static constexpr uint32_t kExt = 0x80000000u;
    void add(Index idx, const Route& r);

    uint32_t* tbl24_ = nullptr;  // 1 << 24 entries, anonymous mapping
    uint32_t* tbl8_ = nullptr;   // tbl8_groups_ * 256 entries, anonymous mapping
    std::size_t tbl8_groups_ = 0;
    std::vector<uint32_t> build8_;  // tbl8 while building
    std::vector<Route> routes_;     // [0] is the "no route" placeholder
};

}  // namespace ingress::ipv4
