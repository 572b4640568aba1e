// The FIB: longest-prefix match over IPv4 routes with the kernel's route types.
//
// Kernel-equivalent: net/ipv4/fib_trie.c fib_table_lookup() over the merged local + main
// tables (what fib_lookup() does when there are no policy rules). A DIR-24-8 table (Gupta,
// Lin, McKeown 1998; the layout of DPDK's rte_lpm / rte_fib DIR24_8) replaces the LC-trie:
//   tbl24[addr >> 8]  : a route index, or (bit 31) the number of a 256-entry tbl8 group;
//   tbl8[g * 256 + (addr & 0xff)] : a route index.
// Route index 0 means "no route". A lookup is one load for prefixes up to /24 and two beyond.
//
// Built whole from a route list, then changed in place one route at a time (insert(),
// erase(): what `ip route add/del/replace` does to fib_trie), the way rte_lpm updates: the
// control thread is the only writer, every tbl24/tbl8 entry changes with one atomic store, so
// a lock-free reader sees the old or the new entry, never a torn one. What a reader may
// still hold after a change (a route index, a tbl8 group) is retired, and reused only after
// reclaim(), which the caller calls once every reader has passed a quiescent state
// (RoutePublisher: liburcu QSBR, route_tables.h). A /24 change writes one tbl24 entry; a
// full build rewrites 64 MiB. The design and its figures: src/ipv4/route.md, README.
//
// tbl24 (64 MiB), tbl8 and the route array are anonymous mappings: untouched ranges cost
// nothing, and they ask for transparent huge pages (MADV_HUGEPAGE), which keeps random
// lookups over a large table out of the TLB-miss regime. tbl8 and the route array are
// mapped with room to grow (twice what the build needed, at least 4096 groups and 65536
// routes) and never move, so a lookup is the same two loads as before; when a change finds
// no room it fails with kNoRoom and the caller builds a new, larger Fib.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
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
    friend bool operator==(const Route&, const Route&) = default;
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
    // otherwise the later one replaces the earlier (`ip route replace`). The losers are
    // kept as candidates, so that erasing the winner installs the next one. A freshly built
    // table numbers its installed routes 1..size().
    explicit Fib(std::span<const Route> routes);
    ~Fib();
    Fib(const Fib&) = delete;
    Fib& operator=(const Fib&) = delete;

    // Readers: relaxed atomic loads (plain loads on every target; the route index they
    // return is data-dependent, so route() sees the route the writer stored before
    // publishing the entry with release).
    Index lookup(wire::Ipv4Addr a) const noexcept {
        uint32_t e = __atomic_load_n(&tbl24_[a >> 8], __ATOMIC_RELAXED);
        if (e & kExt)
            e = __atomic_load_n(&tbl8_[((e & ~kExt) << 8) | (a & 0xff)], __ATOMIC_RELAXED);
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
    // Every route the table holds, the shadowed candidates too, shortest prefix first (then
    // by prefix; candidates of one prefix in their order, main's before local's), for
    // `ingressctl routes`.
    std::vector<Route> candidates() const;
    std::size_t size() const noexcept { return installed_; }  // installed prefixes
    std::size_t tbl8_groups() const noexcept {
        return tbl8_end_ - free_groups_.size() - retired_groups_.size();
    }

    // In-place changes (control thread only; readers keep reading).
    enum class Change : uint8_t {
        kApplied,
        kNotFound,  // erase(): no such route
        kNoRoom,    // no free route index or tbl8 group: build a new Fib (nothing changed)
    };
    // Adds `r` as a candidate for its prefix (appended: it replaces an earlier one of the
    // same class, as in the constructor) and installs the winner.
    [[nodiscard]] Change insert(const Route& r);
    // Removes the last candidate equal to `r`; the next candidate, or the covering prefix,
    // takes its entries.
    [[nodiscard]] Change erase(const Route& r);
    // The candidates of `r`'s prefix from `r`'s table (more than one: their order decides).
    std::size_t count_in_table(const Route& r);
    // Makes what the changes since the last call retired reusable. Call only when every
    // reader has passed a quiescent state since those changes.
    void reclaim();

private:
    static constexpr uint32_t kExt = 0x80000000u;
    static uint64_t key(wire::Ipv4Addr prefix, uint8_t len) noexcept {
        return uint64_t{len} << 32 | prefix;
    }
    void add(Index idx, const Route& r);  // build only
    void ensure_index();
    int depth(uint32_t e) const noexcept { return e ? routes_[e].prefix_len : -1; }
    // Writes `to` into the entries of `r`'s range that hold `from`, or (shallower) that
    // hold a shorter prefix or none; allocates r's tbl8 group if `r` is longer than /24.
    void rewrite(const Route& r, Index from, bool shallower, Index to);
    Index covering(wire::Ipv4Addr prefix, uint8_t len) const;
    // After a change to the candidates `c` of r's prefix: installs their winner in place of
    // the route at `slot` when it differs (kNoRoom: nothing changed).
    Change install_winner(const Route& r, Index& slot, const std::vector<Route>& c);
    Index alloc_route(const Route& r);  // kNoRoute when full
    bool group_available() const noexcept { return !free_groups_.empty() || tbl8_end_ < tbl8_cap_; }

    uint32_t* tbl24_ = nullptr;  // 1 << 24 entries, anonymous mapping
    uint32_t* tbl8_ = nullptr;   // tbl8_cap_ * 256 entries, anonymous mapping
    std::size_t tbl8_cap_ = 0, tbl8_end_ = 0;
    std::vector<uint32_t> build8_;  // tbl8 while building
    Route* routes_ = nullptr;       // route_cap_ entries; [0] is the "no route" placeholder
    std::size_t route_cap_ = 0, route_end_ = 1, installed_ = 0;
    std::vector<Index> free_routes_, retired_routes_;
    std::vector<uint32_t> free_groups_, retired_groups_;
    // Control plane: the installed route of each (prefix, length) (built at the first
    // change), and every candidate of the prefixes that have more than one.
    std::unordered_map<uint64_t, Index> index_;
    bool indexed_ = false;
    std::unordered_map<uint64_t, std::vector<Route>> cands_;
};

}  // namespace ingress::ipv4
