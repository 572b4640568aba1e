#include "ipv4/route_tables.h"

#include <urcu-qsbr.h>

#include <algorithm>
#include <map>

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
                         .table = kTableLocal});
            // An explicitly assigned broadcast address (never 255.255.255.255).
            if (a.broadcast && a.broadcast != 0xffffffffu)
                v.push_back({.prefix = a.broadcast,
                             .prefix_len = 32,
                             .type = RouteType::kBroadcast,
                             .scope = RouteScope::kLink,
                             .oif = i.ifindex,
                             .table = kTableLocal});
            if (wire::ipv4_is_zeronet(prefix) || a.secondary ||
                (prefix == a.addr && a.prefix_len >= 32))
                continue;
            // The prefix route: UNICAST scope link in main, or LOCAL on a loopback device.
            v.push_back({.prefix = prefix,
                         .prefix_len = a.prefix_len,
                         .type = i.loopback ? RouteType::kLocal : RouteType::kUnicast,
                         .scope = i.loopback ? RouteScope::kHost : RouteScope::kLink,
                         .oif = i.ifindex,
                         .table = i.loopback ? kTableLocal : kTableMain});
            // The subnet broadcast, "when it makes sense" (prefix shorter than /31).
            if (a.prefix_len < 31)
                v.push_back({.prefix = prefix | ~mask,
                             .prefix_len = 32,
                             .type = RouteType::kBroadcast,
                             .scope = RouteScope::kLink,
                             .oif = i.ifindex,
                             .table = kTableLocal});
        }
    }
    for (const StaticRoute& s : cfg.routes) {
        const bool local = s.type == RouteType::kLocal;
        // iproute2 (iproute_modify()): without `table`, local, broadcast and anycast routes
        // go to the local table, the rest to main.
        const bool local_type =
            local || s.type == RouteType::kBroadcast || s.type == RouteType::kAnycast;
        v.push_back({.prefix = s.prefix,
                     .prefix_len = s.prefix_len,
                     .type = s.type,
                     .scope = local           ? RouteScope::kHost
                              : s.via_gateway ? RouteScope::kUniverse
                                              : RouteScope::kLink,
                     .nh_scope = s.via_gateway ? RouteScope::kLink : RouteScope::kHost,
                     .oif = s.oif,
                     .table = s.table      ? s.table
                              : local_type ? kTableLocal
                                           : kTableMain});
    }
    return v;
}

RouteTables::RouteTables(const RouteConfig& cfg, uint64_t generation)
    : mc_(cfg.mc), generation_(generation ? generation : 1) {
    std::vector<Route> routes = derive_routes(cfg);
    build_fibs(cfg, routes);
    for (const IfConfig& i : cfg.ifaces) {
        IfState s{.ifindex = i.ifindex,
                  .loopback = i.loopback,
                  .group = i.group,
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
        if (r.local_table()) local_table_.push_back(r);
    for (const StaticRoute& s : cfg.routes)
        if (s.type == RouteType::kLocal) custom_local_routes_ = true;
}

void RouteTables::build_fibs(const RouteConfig& cfg, const std::vector<Route>& routes) {
    for (const IfConfig& i : cfg.ifaces)
        if (i.loopback) {
            loopback_ifindex_ = i.ifindex;
            break;
        }
    rules_cfg_ = cfg.rules.empty() ? default_fib_rules() : cfg.rules;
    custom_rules_ = !is_default_rule_set(rules_cfg_);
    // Every table, each in ascending id, built from its routes in configuration order.
    std::map<uint32_t, std::vector<Route>> by_table;
    for (const Route& r : routes) by_table[r.table].push_back(r);
    if (!custom_rules_) {
        // The kernel's merged trie: local and main in one table (the local route wins at
        // an equal prefix), other tables unreachable except default.
        std::vector<Route> merged = by_table[kTableLocal];
        const std::vector<Route>& main = by_table[kTableMain];
        merged.insert(merged.end(), main.begin(), main.end());
        merged_ = std::make_unique<Fib>(merged);
        fib_ = merged_.get();
        if (auto d = by_table.find(kTableDefault); d != by_table.end() && !d->second.empty())
            default_fib_ = std::make_unique<Fib>(d->second);
    } else {
        for (auto& [id, rs] : by_table) {
            if (rs.empty()) continue;
            tables_.emplace_back(id, std::make_unique<Fib>(rs));
        }
        auto find = [&](uint32_t id) -> const Fib* {
            for (const auto& [tid, f] : tables_)
                if (tid == id) return f.get();
            return nullptr;
        };
        // fib() of a configuration with custom rules: the main table (an empty one if main
        // has no routes).
        fib_ = find(kTableMain);
        if (!fib_) {
            merged_ = std::make_unique<Fib>(std::span<const Route>{});
            fib_ = merged_.get();
        }
        for (std::size_t i = 0; i < rules_cfg_.size(); ++i) {
            const FibRule& r = rules_cfg_[i];
            CompiledRule c{.rule = &r};
            if (r.action == RuleAction::kToTable) c.fib = find(r.table);
            if (r.action == RuleAction::kGoto) {
                // rule->ctarget: the first rule with the target priority (gotos only go
                // forward: fib_nl2rule() refuses the rest).
                c.goto_idx = kNoTarget;
                for (std::size_t j = i + 1; j < rules_cfg_.size(); ++j)
                    if (rules_cfg_[j].priority == r.goto_priority) {
                        c.goto_idx = static_cast<uint32_t>(j);
                        break;
                    }
            }
            if (fib_rule_requires_fldissect(r, loopback_ifindex_)) require_fldissect_ = true;
            rules_.push_back(c);
        }
    }
    for (const auto& [id, rs] : by_table)
        all_routes_.insert(all_routes_.end(), rs.begin(), rs.end());
}

FibResult RouteTables::default_lookup(wire::Ipv4Addr daddr) const noexcept {
    const Fib::Index i = default_fib_->lookup(daddr);
    if (i == Fib::kNoRoute) return {};
    const Route& r = default_fib_->route(i);
    bool again = false;
    const RouteError e = route_type_error(r.type, again);
    return {&r, e};
}

bool RouteTables::suppressed(const FibRule& r, const Route& route) const noexcept {
    // fib4_rule_suppress(): "do not accept result if the route does not meet the required
    // prefix length", or "if the route uses a device belonging to a forbidden interface
    // group".
    if (int32_t{route.prefix_len} <= r.suppress_prefixlen) return true;
    if (r.suppress_ifgroup != -1 && route.oif) {
        const IfState* dev = iface(route.oif);
        if (dev && dev->group == r.suppress_ifgroup) return true;
    }
    return false;
}

FibResult RouteTables::rules_lookup(const Flow& fl) const noexcept {
    // fib_rules_lookup(): the first matching rule whose action does not answer -EAGAIN.
    const std::size_t n = rules_.size();
    std::size_t i = 0;
    while (i < n) {
        const CompiledRule& c = rules_[i];
        const FibRule& r = *c.rule;
        if (!fib_rule_match(r, fl)) {
            ++i;
            continue;
        }
        if (!r.unsupported.empty()) return {.error = RouteError::kUnsupported};
        switch (r.action) {
            case RuleAction::kGoto:
                // An unresolved goto is skipped; a resolved one continues at its target.
                i = c.goto_idx == kNoTarget ? i + 1 : c.goto_idx;
                continue;
            case RuleAction::kNop:
                ++i;
                continue;
            case RuleAction::kUnreachable:  // fib4_rule_action()
                return {.error = RouteError::kNetUnreach};
            case RuleAction::kProhibit:
                return {.error = RouteError::kAccess};
            case RuleAction::kBlackhole:
                return {.error = RouteError::kInval};
            case RuleAction::kToTable:
                break;
        }
        ++i;
        if (!c.fib) continue;  // no such table: -EAGAIN
        const Fib::Index idx = c.fib->lookup(fl.daddr);
        if (idx == Fib::kNoRoute) continue;  // -EAGAIN
        const Route& route = c.fib->route(idx);
        bool again = false;
        const RouteError e = route_type_error(route.type, again);
        if (again) continue;  // throw
        if (e == RouteError::kNone && suppressed(r, route)) continue;
        return {&route, e};
    }
    return {};  // -ESRCH: fib_lookup() answers -ENETUNREACH
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
