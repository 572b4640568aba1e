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
    for (const StaticRoute& s : cfg.routes) v.push_back(route_of(s));
    return v;
}

Route RouteTables::route_of(const StaticRoute& s) noexcept {
    const bool local = s.type == RouteType::kLocal;
    // iproute2 (iproute_modify()): without `table`, local, broadcast and anycast routes
    // go to the local table, the rest to main.
    const bool local_type =
        local || s.type == RouteType::kBroadcast || s.type == RouteType::kAnycast;
    return {.prefix = s.prefix,
            .prefix_len = s.prefix_len,
            .type = s.type,
            .scope = local           ? RouteScope::kHost
                     : s.via_gateway ? RouteScope::kUniverse
                                     : RouteScope::kLink,
            .nh_scope = s.via_gateway ? RouteScope::kLink : RouteScope::kHost,
            .oif = s.oif,
            .table = s.table      ? s.table
                     : local_type ? kTableLocal
                                  : kTableMain};
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
        merged_ = std::make_shared<Fib>(merged);
        fib_ = merged_.get();
        if (auto d = by_table.find(kTableDefault); d != by_table.end() && !d->second.empty())
            default_fib_ = std::make_shared<Fib>(d->second);
        for (const auto& [id, rs] : by_table)
            if (id != kTableLocal && id != kTableMain && id != kTableDefault)
                other_routes_.insert(other_routes_.end(), rs.begin(), rs.end());
    } else {
        for (auto& [id, rs] : by_table) {
            if (rs.empty()) continue;
            tables_.emplace_back(id, std::make_shared<Fib>(rs));
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
            merged_ = std::make_shared<Fib>(std::span<const Route>{});
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
}

RouteTables::RouteTables(const RouteTables& o)
    : merged_(o.merged_),
      fib_(o.fib_),
      default_fib_(o.default_fib_),
      tables_(o.tables_),
      rules_cfg_(o.rules_cfg_),
      rules_(o.rules_),
      other_routes_(o.other_routes_),
      custom_rules_(o.custom_rules_),
      require_fldissect_(o.require_fldissect_),
      loopback_ifindex_(o.loopback_ifindex_),
      mc_(o.mc_),
      ifaces_(o.ifaces_),
      local_addrs_(o.local_addrs_),
      local_table_(o.local_table_),
      custom_local_routes_(o.custom_local_routes_),
      generation_(o.generation_) {
    for (std::size_t i = 0; i < rules_.size(); ++i) rules_[i].rule = &rules_cfg_[i];
}

std::vector<Route> RouteTables::all_routes() const {
    std::vector<Route> v;
    auto add = [&](const Fib* f) {
        if (!f) return;
        std::vector<Route> c = f->candidates();
        v.insert(v.end(), c.begin(), c.end());
    };
    if (custom_rules_) {
        for (const auto& [id, f] : tables_) add(f.get());
    } else {
        add(merged_.get());
        add(default_fib_.get());
    }
    v.insert(v.end(), other_routes_.begin(), other_routes_.end());
    std::stable_sort(v.begin(), v.end(),
                     [](const Route& a, const Route& b) { return a.table < b.table; });
    return v;
}

Fib* RouteTables::fib_of(uint32_t table) const noexcept {
    if (custom_rules_) {
        for (const auto& [id, f] : tables_)
            if (id == table) return f.get();
        return nullptr;
    }
    if (table == kTableMain) return merged_.get();  // (local routes never come here)
    if (table == kTableDefault) return default_fib_.get();
    return nullptr;
}

std::unique_ptr<RouteTables> RouteTables::try_incremental(const RouteConfig& next,
                                                          std::span<const StaticRoute> removed,
                                                          std::span<const StaticRoute> added,
                                                          uint64_t generation) {
    // What may go incrementally, checked before anything changes.
    auto eligible = [&](const StaticRoute& s) {
        const Route r = route_of(s);
        return s.type != RouteType::kLocal && !r.local_table() && fib_of(r.table);
    };
    if (!std::all_of(removed.begin(), removed.end(), eligible) ||
        !std::all_of(added.begin(), added.end(), eligible))
        return nullptr;
    for (const StaticRoute& s : removed) {
        const Route r = route_of(s);
        Fib* f = fib_of(r.table);
        // Which of two candidates of one table goes depends on their order: full build.
        if (f->count_in_table(r) > 1) return nullptr;
        if (f->erase(r) != Fib::Change::kApplied) return nullptr;
        // An empty default table is not the same as none (merged_lookup()).
        if (f == default_fib_.get() && f->size() == 0) return nullptr;
    }
    for (const StaticRoute& s : added) {
        const Route r = route_of(s);
        Fib* f = fib_of(r.table);
        // Appended here, but the full build keeps configuration order among the candidates
        // of one table: only a prefix with none can go incrementally.
        if (f->count_in_table(r) > 0) return nullptr;
        if (f->insert(r) != Fib::Change::kApplied) return nullptr;
    }
    return with_mc(next, generation);
}

std::unique_ptr<RouteTables> RouteTables::with_mc(const RouteConfig& next,
                                                  uint64_t generation) const {
    std::unique_ptr<RouteTables> t(new RouteTables(*this));
    t->generation_ = generation ? generation : 1;
    t->mc_ = next.mc;
    for (const IfConfig& i : next.ifaces) t->mc_.add_interface(i.ifindex);
    return t;
}

void RouteTables::reclaim() {
    if (merged_) merged_->reclaim();
    if (default_fib_) default_fib_->reclaim();
    for (auto& [id, f] : tables_) f->reclaim();
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

namespace {

// `next` differs from `cur` only in the static routes, by at most `max` removed and `max`
// added (the routes between the common head and tail of the two lists: one `ip route`
// change, wherever it sits in a dump's order).
bool routes_only_diff(const RouteConfig& cur, const RouteConfig& next, std::size_t max,
                      std::span<const StaticRoute>& removed, std::span<const StaticRoute>& added) {
    if (!(cur.all == next.all) || cur.ifaces != next.ifaces || cur.rules != next.rules)
        return false;
    const std::vector<StaticRoute>&a = cur.routes, &b = next.routes;
    std::size_t head = 0;
    while (head < a.size() && head < b.size() && a[head] == b[head]) ++head;
    std::size_t tail = 0;
    while (tail < a.size() - head && tail < b.size() - head &&
           a[a.size() - 1 - tail] == b[b.size() - 1 - tail])
        ++tail;
    removed = std::span(a).subspan(head, a.size() - head - tail);
    added = std::span(b).subspan(head, b.size() - head - tail);
    return removed.size() <= max && added.size() <= max;
}

}  // namespace

RoutePublisher::RoutePublisher(RouteConfig cfg) : cfg_(std::move(cfg)) {
    own_ = new RouteTables(cfg_, ++generation_);
    cur_.store(own_, std::memory_order_release);
}

RoutePublisher::~RoutePublisher() {
    synchronize_rcu();
    delete cur_.load(std::memory_order_relaxed);
}

void RoutePublisher::update(RouteConfig cfg) {
    std::unique_ptr<RouteTables> next;
    std::span<const StaticRoute> removed, added;
    if (routes_only_diff(cfg_, cfg, kIncrementalRoutes, removed, added))
        next = own_->try_incremental(cfg, removed, added, generation_ + 1);
    last_incremental_ = next != nullptr;
    // Otherwise build first (may throw: nothing has changed yet, or only what an
    // incremental attempt already applied of this very change).
    if (!next) next = std::make_unique<RouteTables>(cfg, generation_ + 1);
    cfg_ = std::move(cfg);
    if (route_indexed_) index_routes();  // apply() is in use: keep its index ready
    ++generation_;
    publish(std::move(next));
}

RoutePublisher::RouteKey RoutePublisher::key_of(const StaticRoute& s) noexcept {
    const Route r = RouteTables::route_of(s);  // the table iproute2's default resolves to
    return {r.table, r.prefix, r.prefix_len};
}

void RoutePublisher::index_routes() {
    route_index_.clear();
    route_index_.reserve(cfg_.routes.size());
    for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
        RouteSlot& s = route_index_[key_of(cfg_.routes[i])];
        s.pos = static_cast<uint32_t>(i);
        ++s.count;
    }
    route_indexed_ = true;
}

bool RoutePublisher::apply(std::span<const RouteEdit> edits) {
    if (!route_indexed_) index_routes();
    std::vector<StaticRoute>& v = cfg_.routes;
    // How to take each edit back (in reverse order) if a later one fails or the build
    // throws: the list is restored exactly, then the index rebuilt.
    enum class Op : uint8_t { kAppend, kOverwrite, kSwapErase, kOrderedErase };
    struct Undo {
        Op op;
        std::size_t pos;
        StaticRoute old;
    };
    std::vector<Undo> undo;
    std::vector<StaticRoute> removed, added;
    auto roll_back = [&] {
        for (auto u = undo.rbegin(); u != undo.rend(); ++u) switch (u->op) {
                case Op::kAppend:
                    v.pop_back();
                    break;
                case Op::kOverwrite:
                    v[u->pos] = u->old;
                    break;
                case Op::kSwapErase:
                    v.push_back(u->old);
                    std::swap(v[u->pos], v.back());
                    break;
                case Op::kOrderedErase:
                    v.insert(v.begin() + static_cast<std::ptrdiff_t>(u->pos), u->old);
                    break;
            }
        index_routes();
    };
    // The first route of `k` equal to `want` (or any, with want null): its position, or npos.
    auto find = [&](const RouteKey& k, const StaticRoute* want) -> std::size_t {
        auto it = route_index_.find(k);
        if (it == route_index_.end()) return std::string::npos;
        if (it->second.count == 1)
            return !want || v[it->second.pos] == *want ? it->second.pos : std::string::npos;
        for (std::size_t i = 0; i < v.size(); ++i)
            if (key_of(v[i]) == k && (!want || v[i] == *want)) return i;
        return std::string::npos;
    };
    for (const RouteEdit& e : edits) {
        const RouteKey k = key_of(e.route);
        if (!e.add) {
            const std::size_t pos = find(k, &e.route);
            if (pos == std::string::npos) {
                roll_back();
                return false;
            }
            RouteSlot& s = route_index_[k];
            const RouteKey last = key_of(v.back());
            removed.push_back(v[pos]);
            if (s.count == 1 && (pos + 1 == v.size() || route_index_[last].count == 1)) {
                // No other route of either key: the order that matters is unchanged.
                undo.push_back({Op::kSwapErase, pos, v[pos]});
                v[pos] = v.back();
                v.pop_back();
                route_index_.erase(k);
                if (pos < v.size()) route_index_[last].pos = static_cast<uint32_t>(pos);
            } else {
                undo.push_back({Op::kOrderedErase, pos, v[pos]});
                v.erase(v.begin() + static_cast<std::ptrdiff_t>(pos));
                index_routes();  // positions moved (rare: a prefix with several routes)
            }
            continue;
        }
        if (const std::size_t pos = e.replace ? find(k, nullptr) : std::string::npos;
            pos != std::string::npos) {
            undo.push_back({Op::kOverwrite, pos, v[pos]});
            removed.push_back(v[pos]);
            v[pos] = e.route;
        } else {
            undo.push_back({Op::kAppend, v.size(), {}});
            v.push_back(e.route);
            RouteSlot& s = route_index_[k];
            s.pos = static_cast<uint32_t>(v.size() - 1);
            ++s.count;
        }
        added.push_back(e.route);
    }
    try {
        publish_change(removed, added);
    } catch (...) {
        roll_back();
        throw;
    }
    return true;
}

void RoutePublisher::publish_change(std::span<const StaticRoute> removed,
                                    std::span<const StaticRoute> added) {
    std::unique_ptr<RouteTables> next;
    if (removed.size() <= kIncrementalRoutes && added.size() <= kIncrementalRoutes)
        next = own_->try_incremental(cfg_, removed, added, generation_ + 1);
    last_incremental_ = next != nullptr;
    if (!next) next = std::make_unique<RouteTables>(cfg_, generation_ + 1);
    ++generation_;
    publish(std::move(next));
}

void RoutePublisher::set_mc(McGroups mc) {
    cfg_.mc = std::move(mc);
    last_incremental_ = true;
    std::unique_ptr<RouteTables> next = own_->with_mc(cfg_, generation_ + 1);
    ++generation_;
    publish(std::move(next));
}

void RoutePublisher::publish(std::unique_ptr<RouteTables> next) {
    // Release: a reader that loads the new pointer sees a fully built snapshot.
    RouteTables* old = own_;
    own_ = next.release();
    cur_.store(own_, std::memory_order_release);
    // Wait until every registered reader has been quiescent once: none can still hold `old`,
    // nor a route index or tbl8 group an in-place change retired.
    synchronize_rcu();
    delete old;
    own_->reclaim();
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
