#include "ipv4/route_tables.h"

#include <urcu-qsbr.h>

#include <algorithm>

namespace ingress::ipv4 {

IfConfig* RouteConfig::iface(uint32_t ifindex) noexcept {
    for (IfConfig& i : ifaces)
        if (i.ifindex == ifindex) return &i;
    return nullptr;
}

IfConfig RouteConfig::loopback(uint32_t ifindex) {
    IfConfig lo;
    lo.ifindex = ifindex;
    lo.name = "lo";
    lo.loopback = true;
    lo.addrs.push_back({.addr = wire::ipv4(127, 0, 0, 1), .prefix_len = 8});
    return lo;
}

std::vector<Route> RouteTables::derive_routes(const RouteConfig& cfg) {
    std::vector<Route> v;
    for (const IfConfig& i : cfg.ifaces) {
        for (const IfAddr& a : i.addrs) {
            const uint32_t mask = a.prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - a.prefix_len);
            const wire::Ipv4Addr prefix = a.addr & mask;
            // fib_add_ifaddr(): the address itself, LOCAL, in the local table.
            v.push_back({.prefix = a.addr,
                         .prefix_len = 32,
                         .type = RouteType::kLocal,
                         .scope = RouteScope::kHost,
                         .oif = i.ifindex,
                         .local_table = true});
            // An explicitly assigned broadcast address (never 255.255.255.255).
            if (a.broadcast && a.broadcast != 0xffffffffu)
                v.push_back({.prefix = a.broadcast,
                             .prefix_len = 32,
                             .type = RouteType::kBroadcast,
                             .scope = RouteScope::kLink,
                             .oif = i.ifindex,
                             .local_table = true});
            if (wire::ipv4_is_zeronet(prefix) || a.secondary ||
                (prefix == a.addr && a.prefix_len >= 32))
                continue;
            // The prefix route: UNICAST scope link in main, or LOCAL on a loopback device.
            v.push_back({.prefix = prefix,
                         .prefix_len = a.prefix_len,
                         .type = i.loopback ? RouteType::kLocal : RouteType::kUnicast,
                         .scope = i.loopback ? RouteScope::kHost : RouteScope::kLink,
                         .oif = i.ifindex,
                         .local_table = i.loopback});
            // The subnet broadcast, "when it makes sense" (prefix shorter than /31).
            if (a.prefix_len < 31)
                v.push_back({.prefix = prefix | ~mask,
                             .prefix_len = 32,
                             .type = RouteType::kBroadcast,
                             .scope = RouteScope::kLink,
                             .oif = i.ifindex,
                             .local_table = true});
        }
    }
    for (const StaticRoute& s : cfg.routes) {
        const bool local = s.type == RouteType::kLocal;
        v.push_back({.prefix = s.prefix,
                     .prefix_len = s.prefix_len,
                     .type = s.type,
                     .scope = local           ? RouteScope::kHost
                              : s.via_gateway ? RouteScope::kUniverse
                                              : RouteScope::kLink,
                     .nh_scope = s.via_gateway ? RouteScope::kLink : RouteScope::kHost,
                     .oif = s.oif,
                     .local_table = local});
    }
    return v;
}

RouteTables::RouteTables(const RouteConfig& cfg, uint64_t generation)
    : mc_(cfg.mc), generation_(generation ? generation : 1) {
    std::vector<Route> routes = derive_routes(cfg);
    fib_ = std::make_unique<Fib>(routes);
    for (const IfConfig& i : cfg.ifaces) {
        IfState s{.ifindex = i.ifindex,
                  .loopback = i.loopback,
                  .conf = EffectiveConf::of(cfg.all, i.conf)};
        for (const IfAddr& a : i.addrs) {
            s.no_addr = false;
            if (!s.primary && !a.secondary) s.primary = a.addr;
            local_addrs_.push_back(a.addr);
        }
        ifaces_.push_back(s);
        mc_.add_interface(i.ifindex);
    }
    std::sort(local_addrs_.begin(), local_addrs_.end());
    for (const Route& r : routes)
        if (r.local_table) local_table_.push_back(r);
    for (const StaticRoute& s : cfg.routes)
        if (s.type == RouteType::kLocal) custom_local_routes_ = true;
}

bool RouteTables::is_local_addr(wire::Ipv4Addr a) const noexcept {
    return std::binary_search(local_addrs_.begin(), local_addrs_.end(), a);
}

RouteType RouteTables::inet_addr_type(std::span<const Route> local, wire::Ipv4Addr a) noexcept {
    // __inet_dev_addr_type() with no device, over RT_TABLE_LOCAL.
    if (wire::ipv4_is_zeronet(a) || wire::ipv4_is_lbcast(a)) return RouteType::kBroadcast;
    if (wire::ipv4_is_multicast(a)) return RouteType::kMulticast;
    const Route* best = nullptr;
    for (const Route& r : local) {
        const uint32_t mask = r.prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - r.prefix_len);
        if ((a & mask) == r.prefix && (!best || r.prefix_len >= best->prefix_len)) best = &r;
    }
    // No match in the local table: RTN_UNICAST.
    return best ? best->type : RouteType::kUnicast;
}

std::vector<LocalDst> RouteTables::local_dsts(uint32_t ifindex) const {
    std::vector<LocalDst> v;
    if (!iface(ifindex)) return v;
    // ip_route_input_slow(): the limited broadcast is brd_input on any interface with an
    // in_device; fib_lookup() finds the local table's LOCAL and BROADCAST routes whatever
    // the arrival interface; ip_check_mc_rcu() asks the arrival interface's groups.
    v.push_back({.addr = 0xffffffffu, .type = RouteType::kBroadcast});
    for (const Route& r : local_table_)
        if (r.type == RouteType::kLocal || r.type == RouteType::kBroadcast)
            v.push_back({.addr = r.prefix, .type = r.type, .prefix_len = r.prefix_len});
    for (wire::Ipv4Addr g : mc_.groups_on(ifindex))
        v.push_back({.addr = g, .type = RouteType::kMulticast});
    sort_local_dsts(v);
    return v;
}

void sort_local_dsts(std::vector<LocalDst>& v) {
    // One entry per (address, prefix length), the first one listed winning: two interfaces
    // may hold the same address, or an explicit brd equal another's address.
    std::stable_sort(v.begin(), v.end(), [](const LocalDst& a, const LocalDst& b) {
        return a.addr != b.addr ? a.addr < b.addr : a.prefix_len < b.prefix_len;
    });
    v.erase(std::unique(v.begin(), v.end(),
                        [](const LocalDst& a, const LocalDst& b) {
                            return a.addr == b.addr && a.prefix_len == b.prefix_len;
                        }),
            v.end());
}

RoutePublisher::RoutePublisher(RouteConfig cfg) : cfg_(std::move(cfg)) {
    cur_.store(new RouteTables(cfg_, ++generation_), std::memory_order_release);
}

RoutePublisher::~RoutePublisher() {
    synchronize_rcu();
    delete cur_.load(std::memory_order_relaxed);
}

void RoutePublisher::update(RouteConfig cfg) {
    // Build first (may throw: nothing has changed yet), then publish with release so a
    // reader that loads the new pointer sees a fully built table.
    auto next = std::make_unique<RouteTables>(cfg, generation_ + 1);
    cfg_ = std::move(cfg);
    ++generation_;
    const RouteTables* old = cur_.exchange(next.release(), std::memory_order_acq_rel);
    // Wait until every registered reader has been quiescent once: none can still hold `old`.
    synchronize_rcu();
    delete old;
}

void rcu_reader_register() noexcept {
    rcu_register_thread();
}
void rcu_reader_unregister() noexcept {
    rcu_unregister_thread();
}
void rcu_reader_quiescent() noexcept {
    rcu_quiescent_state();
}
void rcu_reader_offline() noexcept {
    rcu_thread_offline();
}
void rcu_reader_online() noexcept {
    rcu_thread_online();
}
void rcu_wait_grace_period() noexcept {
    synchronize_rcu();
}

}  // namespace ingress::ipv4
