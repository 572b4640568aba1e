// What the route stage reads, and how the control plane publishes it.
//
// RouteConfig is the control plane's description (interfaces with their addresses and
// knobs, static routes in any table, policy rules, multicast memberships). RouteTables is an
// immutable snapshot built from it: the FIB (local table derived from the addresses exactly
// as fib_add_ifaddr() does, plus the connected and static routes), the rules compiled
// against the tables (fib_rules.h), the per-interface effective knobs, the set of local
// addresses (inet_lookup_ifaddr_rcu) and the multicast memberships.
//
// fib_lookup() is the kernel's: with the default rules (none configured, or exactly the
// three a namespace starts with) the local and main tables are one merged FIB (the kernel
// merges them too until a rule is added: fib_unmerge()), with the default table consulted
// when it fails; with custom rules every table is its own FIB and the rules choose
// (fib_rules_lookup()).
//
// It is also the one answer to "which addresses are ours" outside the route stage: the bind
// checks of the control plane ask addr_type() (inet_addr_type) and the backends steer the
// destinations local_dsts() lists for their interfaces to the dataplane.
//
// RoutePublisher owns the current snapshot. Workers read it through read() inside a
// read-side section (one burst) and announce a quiescent state between bursts; a change
// builds a new snapshot, swaps the pointer (release) and frees the old one after a grace
// period (liburcu, QSBR flavour: a reader's cost is one load per burst and one store per
// quiescent state). Traffic never stops for a route change.
//
// A change of a few routes outside the local table, with the same interfaces, addresses,
// knobs and rules, is applied incrementally: the tables' Fibs change in place (fib.h:
// one atomic store per entry) and are shared by a new snapshot with a new generation (so
// the workers' route hints invalidate); what the change retired is reused after the grace
// period. Anything else builds the snapshot whole (src/ipv4/route.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ipv4/devconf.h"
#include "ipv4/fib.h"
#include "ipv4/fib_rules.h"
#include "ipv4/mc_groups.h"
#include "wire/ipv4.h"

namespace ingress::ipv4 {

struct IfAddr {
    wire::Ipv4Addr addr = 0;
    uint8_t prefix_len = 32;
    wire::Ipv4Addr broadcast = 0;  // explicit `brd`, 0 if none (IFA_BROADCAST)
    bool secondary = false;        // IFA_F_SECONDARY: no prefix route, no subnet broadcast
    friend bool operator==(const IfAddr&, const IfAddr&) = default;
};

struct IfConfig {
    uint32_t ifindex = 0;
    std::string name;
    bool loopback = false;  // IFF_LOOPBACK: the prefix route is LOCAL, not UNICAST
    uint32_t group = 0;     // IFLA_GROUP (`ip link set ... group N`): suppress_ifgroup
    std::vector<IfAddr> addrs;
    DevConf conf;
    friend bool operator==(const IfConfig&, const IfConfig&) = default;
};

struct StaticRoute {
    wire::Ipv4Addr prefix = 0;
    uint8_t prefix_len = 0;
    RouteType type = RouteType::kUnicast;
    uint32_t oif = 0;
    bool via_gateway = false;  // nexthop scope LINK instead of HOST
    // 0: iproute2's default, local for local/broadcast/anycast routes, else main.
    uint32_t table = 0;
    friend bool operator==(const StaticRoute&, const StaticRoute&) = default;
};

// A destination this host accepts on an interface, with the type its input route has
// (kLocal, kBroadcast or kMulticast): one address, or a prefix of them (`prefix_len` < 32:
// an AnyIP route such as `ip route add local 198.18.100.0/24 dev lo`, or lo's 127.0.0.0/8).
struct LocalDst {
    wire::Ipv4Addr addr = 0;
    RouteType type = RouteType::kLocal;
    uint8_t prefix_len = 32;
    friend bool operator==(const LocalDst&, const LocalDst&) = default;
};

// Sorts by address, then prefix length, and keeps the first of each (address, length).
void sort_local_dsts(std::vector<LocalDst>& v);

// One route notification as the publisher applies it (RTM_NEWROUTE / RTM_DELROUTE).
struct RouteEdit {
    bool add = true;       // false: delete the route equal to `route` (the last one listed)
    bool replace = false;  // NLM_F_REPLACE: takes the place of the first route of its table
                           // and prefix, if there is one
    StaticRoute route;
};

struct RouteConfig {
    DevConf all = DevConf::all_defaults();
    std::vector<IfConfig> ifaces;
    std::vector<StaticRoute> routes;
    // The policy rules in the kernel's list order (priority, then insertion); empty: the
    // default three (default_fib_rules()).
    std::vector<FibRule> rules;
    McGroups mc;  // ip_mc_up() memberships are added by RouteTables for every interface

    IfConfig* iface(uint32_t ifindex) noexcept;
    // The kernel's `lo`: 127.0.0.1/8, so that route_localnet has something to route to.
    static IfConfig loopback(uint32_t ifindex);
};

// One interface as the route stage sees it.
struct IfState {
    uint32_t ifindex = 0;
    bool loopback = false;
    bool no_addr = true;         // in_dev->ifa_list == NULL
    uint32_t group = 0;          // IFLA_GROUP
    wire::Ipv4Addr primary = 0;  // first primary address (ICMP error source)
    EffectiveConf conf;
};

// What fib_lookup() returns: the route it found (an error route too), and the error (kNone:
// a usable route; kNetUnreach with no route: nothing matched).
struct FibResult {
    const Route* route = nullptr;
    RouteError error = RouteError::kNetUnreach;
};

// fib_props[type].error of a route a table lookup found; `again` (-EAGAIN: try the next
// rule) for a throw route.
inline RouteError route_type_error(RouteType t, bool& again) noexcept {
    again = false;
    switch (t) {
        case RouteType::kBlackhole:
            return RouteError::kInval;
        case RouteType::kUnreachable:
            return RouteError::kHostUnreach;
        case RouteType::kProhibit:
            return RouteError::kAccess;
        case RouteType::kThrow:
            again = true;
            return RouteError::kNetUnreach;
        default:
            return RouteError::kNone;
    }
}

class RouteTables {
public:
    // `generation` identifies the snapshot (the route hint is keyed by it); 0 is reserved
    // for "no snapshot" and replaced by 1.
    explicit RouteTables(const RouteConfig& cfg, uint64_t generation = 1);

    // The merged local + main FIB (default rules), or the main table's (custom rules).
    const Fib& fib() const noexcept { return *fib_; }
    // fib_lookup() (include/net/ip_fib.h) for a flow. Per packet: no allocation.
    FibResult fib_lookup(const Flow& fl) const noexcept {
        return custom_rules_ ? rules_lookup(fl) : merged_lookup(fl.daddr);
    }
    // net->ipv4.fib_has_custom_rules: rules other than the default three. The route hint
    // is off then (ip_extract_route_hint()), and fib_validate_source() always does the full
    // check.
    bool has_custom_rules() const noexcept { return custom_rules_; }
    // fib4_rules_early_flow_dissect(): an input flow carries ipproto and ports only when a
    // rule selects by them.
    bool rules_need_ports() const noexcept { return require_fldissect_; }
    // The iif of fib_validate_source()'s reverse lookup for local input.
    uint32_t loopback_ifindex() const noexcept { return loopback_ifindex_; }
    // The rules in effect, in list order (the default three when none are configured).
    std::span<const FibRule> rules() const noexcept { return rules_cfg_; }
    // Every route of every table (by table id; each table shortest prefix first), for
    // `ingressctl routes`. Control plane: built on each call.
    std::vector<Route> all_routes() const;
    const McGroups& mc() const noexcept { return mc_; }
    const IfState* iface(uint32_t ifindex) const noexcept {
        for (const IfState& i : ifaces_)
            if (i.ifindex == ifindex) return &i;
        return nullptr;
    }
    // inet_lookup_ifaddr_rcu(): is `a` configured on any interface of the namespace?
    bool is_local_addr(wire::Ipv4Addr a) const noexcept;
    // inet_addr_type(): the type of `a` in the local table (kLocal for an address of this
    // host, kBroadcast for a broadcast route, 0.0.0.0/8 and 255.255.255.255, kMulticast for
    // a class D address), kUnicast for anything else. Control plane only: a linear scan.
    RouteType addr_type(wire::Ipv4Addr a) const noexcept { return inet_addr_type(local_table_, a); }
    // inet_addr_type() over the routes of a local table (`local`: no table at all).
    static RouteType inet_addr_type(std::span<const Route> local, wire::Ipv4Addr a) noexcept;
    // The destinations the route stage accepts as this host's when they arrive on
    // `ifindex`, which is what a backend steers to the dataplane for that interface. The
    // weak host model: ip_route_input_slow() looks the destination up in the local table
    // whatever the arrival interface, so every LOCAL and BROADCAST route of the local table
    // is listed, of every interface (owned or not: lo, an interface the kernel keeps): the
    // addresses, secondaries included, explicit and subnet broadcasts, static `local` routes
    // and the AnyIP prefixes (prefix_len < 32). Then the limited broadcast (brd_input on any
    // interface with an in_device) and the groups joined on `ifindex` itself
    // (ip_check_mc_rcu() asks the arrival interface; 224.0.0.1 included: ip_mc_up() joins it
    // on every interface). Sorted by address, then prefix length. Nothing for an interface
    // the tables do not know (no in_device).
    std::vector<LocalDst> local_dsts(uint32_t ifindex) const;
    // net->ipv4.fib_has_custom_local_routes: a configured route of type LOCAL.
    bool has_custom_local_routes() const noexcept { return custom_local_routes_; }
    uint64_t generation() const noexcept { return generation_; }

    // The routes fib_add_ifaddr() would install for the configured addresses, then the
    // static routes (exposed for tests and `ingress-replay --show-routes`).
    static std::vector<Route> derive_routes(const RouteConfig& cfg);
    // One static route as the tables hold it (iproute2's default table and scopes).
    static Route route_of(const StaticRoute& s) noexcept;

private:
    friend class RoutePublisher;
    // A copy sharing the Fibs (the incremental path's next snapshot).
    RouteTables(const RouteTables& o);
    RouteTables& operator=(const RouteTables&) = delete;
    // The snapshot after `removed` then `added` (static routes; `next` is the whole new
    // configuration, equal to this one's but for them): this snapshot's Fibs changed in
    // place, shared with the returned one. Null when the change needs a full build: a route
    // of the local table or of type local (they change the local addresses and steering),
    // a table without a Fib, a prefix with another candidate in the same table (their
    // order decides), a table left empty where emptiness changes lookups, no room in a Fib.
    // Changes applied before a null return stay (they are part of the wanted state; the
    // caller then publishes a full build of `next`).
    std::unique_ptr<RouteTables> try_incremental(const RouteConfig& next,
                                                 std::span<const StaticRoute> removed,
                                                 std::span<const StaticRoute> added,
                                                 uint64_t generation);
    // This snapshot with the memberships of `next` (and ip_mc_up()'s on each of its
    // interfaces), sharing everything else: the next snapshot of a change that left the
    // routes, addresses and rules alone.
    std::unique_ptr<RouteTables> with_mc(const RouteConfig& next, uint64_t generation) const;
    // After a grace period that followed the last change: what it retired is reusable.
    void reclaim();
    Fib* fib_of(uint32_t table) const noexcept;

    struct CompiledRule {
        const FibRule* rule = nullptr;
        const Fib* fib = nullptr;  // kToTable: the table (null: no such table, -EAGAIN)
        uint32_t goto_idx = 0;     // kGoto: the target's index (kNoTarget: unresolved)
    };
    static constexpr uint32_t kNoTarget = UINT32_MAX;

    FibResult merged_lookup(wire::Ipv4Addr daddr) const noexcept {
        const Fib::Index i = fib_->lookup(daddr);
        const Route& r = fib_->route(i);
        bool again = false;
        const RouteError e =
            i == Fib::kNoRoute ? RouteError::kNetUnreach : route_type_error(r.type, again);
        if (e == RouteError::kNone) return {&r, e};
        // __fib_lookup() without custom rules: any failure of main tries the default table.
        if (default_fib_) return default_lookup(daddr);
        return {i == Fib::kNoRoute ? nullptr : &r, e};
    }
    FibResult default_lookup(wire::Ipv4Addr daddr) const noexcept;
    FibResult rules_lookup(const Flow& fl) const noexcept;
    bool suppressed(const FibRule& r, const Route& route) const noexcept;

    void build_fibs(const RouteConfig& cfg, const std::vector<Route>& routes);

    // Shared with the snapshots that follow by incremental changes (each owned by the
    // control thread, which alone changes them).
    std::shared_ptr<Fib> merged_;       // default rules: local + main; custom: empty, if no main
    const Fib* fib_ = nullptr;          // merged_, or main's table in tables_
    std::shared_ptr<Fib> default_fib_;  // default rules: table 253, if it has routes
    std::vector<std::pair<uint32_t, std::shared_ptr<Fib>>> tables_;  // custom rules
    std::vector<FibRule> rules_cfg_;
    std::vector<CompiledRule> rules_;
    std::vector<Route> other_routes_;  // default rules: the tables no lookup reaches
    bool custom_rules_ = false;
    bool require_fldissect_ = false;
    uint32_t loopback_ifindex_ = kLoopbackIfindex;
    McGroups mc_;
    std::vector<IfState> ifaces_;
    std::vector<wire::Ipv4Addr> local_addrs_;  // sorted
    std::vector<Route> local_table_;           // the routes with local_table set
    bool custom_local_routes_ = false;
    uint64_t generation_ = 0;
};

class RoutePublisher {
public:
    explicit RoutePublisher(RouteConfig cfg);
    ~RoutePublisher();
    RoutePublisher(const RoutePublisher&) = delete;
    RoutePublisher& operator=(const RoutePublisher&) = delete;

    // Workers: the current snapshot, valid until the calling thread's next quiescent state.
    const RouteTables* read() const noexcept { return cur_.load(std::memory_order_acquire); }

    // Control plane (one thread): change the configuration and publish a new snapshot; the
    // old one is freed after every registered reader has passed a quiescent state. Must not
    // be called from a registered, online reader thread. When `cfg` differs from the
    // current configuration by at most kIncrementalRoutes static routes and nothing else,
    // the change is incremental (RouteTables::try_incremental()).
    void update(RouteConfig cfg);
    // Route notifications applied to the current configuration in place, then published
    // as update() would (incrementally when they allow it): no copy and no comparison of
    // the whole route list, so one change costs the same with 10 routes or 1M. False, with
    // nothing changed or published, when a deletion names a route the configuration does
    // not have (the caller resynchronises with a full dump). The order of the route list
    // is kept where it matters (between the routes of one table and prefix); a deleted
    // route's place is taken by the last route of the list otherwise.
    bool apply(std::span<const RouteEdit> edits);
    // The interface-level multicast memberships changed (an endpoint joined or left a
    // group): published with the rest of the snapshot shared, so a join costs the same with
    // 10 routes or 1M (no copy or comparison of the route list, no FIB build, apply()'s
    // index kept).
    void set_mc(McGroups mc);
    // Builds the index apply() finds routes with (linear in the routes; otherwise the first
    // apply() pays it), and keeps it across update(): for a caller that will apply edits.
    void prepare_edits() {
        if (!route_indexed_) index_routes();
    }
    const RouteConfig& config() const noexcept { return cfg_; }
    // How the last update() applied: incrementally, or by a full build.
    bool last_incremental() const noexcept { return last_incremental_; }

    static constexpr std::size_t kIncrementalRoutes = 256;

private:
    void publish(std::unique_ptr<RouteTables> next);
    void publish_change(std::span<const StaticRoute> removed, std::span<const StaticRoute> added);

    // Where each (table, prefix, length) of cfg_.routes is: the position of its route when
    // it has one, and how many it has. Built at the first apply(), dropped by update().
    struct RouteKey {
        uint32_t table = 0;
        wire::Ipv4Addr prefix = 0;
        uint8_t prefix_len = 0;
        friend bool operator==(const RouteKey&, const RouteKey&) = default;
    };
    struct RouteKeyHash {
        std::size_t operator()(const RouteKey& k) const noexcept {
            return std::hash<uint64_t>{}((uint64_t{k.table} << 40) ^
                                         (uint64_t{k.prefix_len} << 32) ^ k.prefix);
        }
    };
    struct RouteSlot {
        uint32_t pos = 0;    // meaningful when count == 1
        uint32_t count = 0;  // routes of this key in cfg_.routes
    };
    static RouteKey key_of(const StaticRoute& s) noexcept;
    void index_routes();
    std::unordered_map<RouteKey, RouteSlot, RouteKeyHash> route_index_;
    bool route_indexed_ = false;

    RouteConfig cfg_;
    std::atomic<const RouteTables*> cur_{nullptr};
    RouteTables* own_ = nullptr;  // cur_, for the control thread's in-place changes
    uint64_t generation_ = 0;
    bool last_incremental_ = false;
};

// Reader-thread registration and quiescent states (liburcu QSBR), for the worker loop.
void rcu_reader_register() noexcept;
void rcu_reader_unregister() noexcept;
void rcu_reader_quiescent() noexcept;
// Around a sleep: an offline reader holds up no grace period and must not read the tables.
void rcu_reader_offline() noexcept;
void rcu_reader_online() noexcept;
// Control plane (not a registered reader): returns once every reader has been quiescent,
// after which none still holds what was unpublished before the call (worker/observe.h).
void rcu_wait_grace_period() noexcept;

}  // namespace ingress::ipv4
