#include "ipv4/fib.h"

#include <sys/mman.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <new>

namespace ingress::ipv4 {

namespace {

constexpr std::size_t kTbl24Bytes = (std::size_t{1} << 24) * sizeof(uint32_t);

// Zeroed anonymous memory that asks for transparent huge pages (best effort: THP may be off).
uint32_t* map_huge(std::size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);
    return static_cast<uint32_t*>(p);
}

struct TypeName {
    RouteType type;
    std::string_view name;
};
// iproute2's spellings.
constexpr TypeName kTypeNames[] = {
    {RouteType::kUnicast, "unicast"},
    {RouteType::kLocal, "local"},
    {RouteType::kBroadcast, "broadcast"},
    {RouteType::kAnycast, "anycast"},
    {RouteType::kMulticast, "multicast"},
    {RouteType::kBlackhole, "blackhole"},
    {RouteType::kUnreachable, "unreachable"},
    {RouteType::kProhibit, "prohibit"},
    {RouteType::kThrow, "throw"},
};

}  // namespace

bool parse_prefix(std::string_view s, wire::Ipv4Addr& prefix, uint8_t& len) noexcept {
    auto slash = s.find('/');
    auto addr = wire::parse_ipv4(s.substr(0, slash));
    if (!addr) return false;
    unsigned l = 32;
    if (slash != std::string_view::npos) {
        auto rest = s.substr(slash + 1);
        auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), l);
        if (ec != std::errc() || p != rest.data() + rest.size() || rest.empty() || l > 32)
            return false;
    }
    const uint32_t mask = l == 0 ? 0 : ~uint32_t{0} << (32 - l);
    if (*addr & ~mask) return false;  // host bits set: `ip route` refuses it too
    prefix = *addr;
    len = static_cast<uint8_t>(l);
    return true;
}

bool parse_route_type(std::string_view s, RouteType& t) noexcept {
    for (const TypeName& n : kTypeNames)
        if (n.name == s) {
            t = n.type;
            return true;
        }
    return false;
}

std::string_view route_type_name(RouteType t) noexcept {
    for (const TypeName& n : kTypeNames)
        if (n.type == t) return n.name;
    return "unspec";
}

namespace {

// The winner among the candidates of one prefix: the last local-table one, else the last.
const Route& pick(const std::vector<Route>& c) noexcept {
    for (auto it = c.rbegin(); it != c.rend(); ++it)
        if (it->local_table()) return *it;
    return c.back();
}

uint32_t mask_of(uint8_t len) noexcept {
    return len == 0 ? 0 : ~uint32_t{0} << (32 - len);
}

// One entry, as a reader sees it: the new value or the old, never a mix (release: the
// route or tbl8 group it names is fully written first).
void publish(uint32_t* e, uint32_t v) noexcept {
    __atomic_store_n(e, v, __ATOMIC_RELEASE);
}

}  // namespace

Fib::Fib(std::span<const Route> routes) {
    tbl24_ = map_huge(kTbl24Bytes);

    // Shorter prefixes first, so that longer ones overwrite them; at equal prefix and length
    // the local-table route last, so it wins; otherwise input order (the later replaces).
    std::vector<Route> sorted(routes.begin(), routes.end());
    std::stable_sort(sorted.begin(), sorted.end(), [](const Route& a, const Route& b) {
        if (a.prefix_len != b.prefix_len) return a.prefix_len < b.prefix_len;
        if (a.prefix != b.prefix) return a.prefix < b.prefix;
        return !a.local_table() && b.local_table();
    });
    route_cap_ = 1 + sorted.size() + std::max<std::size_t>(sorted.size(), 65536);
    routes_ = reinterpret_cast<Route*>(map_huge(route_cap_ * sizeof(Route)));
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        const Route& r = sorted[i];
        const bool replaced = i + 1 < sorted.size() && sorted[i + 1].prefix == r.prefix &&
                              sorted[i + 1].prefix_len == r.prefix_len;
        if (replaced) {
            // A shadowed candidate: the whole run of this prefix is kept.
            cands_[key(r.prefix, r.prefix_len)].push_back(r);
            continue;
        }
        if (auto it = cands_.find(key(r.prefix, r.prefix_len)); it != cands_.end())
            it->second.push_back(r);
        const Index idx = static_cast<Index>(route_end_++);
        new (&routes_[idx]) Route(r);
        add(idx, r);
    }
    installed_ = route_end_ - 1;
    // The tbl8 groups move to huge-page memory too, once their number is known.
    tbl8_end_ = build8_.size() / 256;
    tbl8_cap_ = tbl8_end_ + std::max<std::size_t>(tbl8_end_, 4096);
    tbl8_ = map_huge(tbl8_cap_ * 256 * sizeof(uint32_t));
    std::copy(build8_.begin(), build8_.end(), tbl8_);
    build8_ = {};
}

Fib::~Fib() {
    munmap(tbl24_, kTbl24Bytes);
    munmap(tbl8_, tbl8_cap_ * 256 * sizeof(uint32_t));
    munmap(routes_, route_cap_ * sizeof(Route));
}
void Fib::add(Index idx, const Route& r) {
    if (r.prefix_len <= 24) {
        const uint32_t first = r.prefix >> 8;
        const uint32_t count = uint32_t{1} << (24 - r.prefix_len);
        std::fill(tbl24_ + first, tbl24_ + first + count, idx);
        return;
    }
    uint32_t& e = tbl24_[r.prefix >> 8];
    if (!(e & kExt)) {
        const uint32_t group = static_cast<uint32_t>(build8_.size() / 256);
        build8_.resize(build8_.size() + 256, e);  // the group inherits the covering route
        e = kExt | group;
    }
    const std::size_t base = (std::size_t{e & ~kExt} << 8) | (r.prefix & 0xff);
    const uint32_t count = uint32_t{1} << (32 - r.prefix_len);
    std::fill(build8_.begin() + base, build8_.begin() + base + count, idx);
}

std::vector<Route> Fib::candidates() const {
    std::vector<Route> v;
    v.reserve(installed_ + cands_.size());
    auto one = [&](Index i) {
        const Route& r = routes_[i];
        if (auto c = cands_.find(key(r.prefix, r.prefix_len)); c != cands_.end())
            v.insert(v.end(), c->second.begin(), c->second.end());
        else
            v.push_back(r);
    };
    if (indexed_)
        for (const auto& [k, i] : index_) one(i);
    else
        for (Index i = 1; i < route_end_; ++i) one(i);
    // Candidates of one prefix: each table's in their order, main's before local's (the
    // order of the two tables is not kept: it decides nothing).
    std::stable_sort(v.begin(), v.end(), [](const Route& a, const Route& b) {
        if (a.prefix_len != b.prefix_len) return a.prefix_len < b.prefix_len;
        if (a.prefix != b.prefix) return a.prefix < b.prefix;
        return !a.local_table() && b.local_table();
    });
    return v;
}

void Fib::ensure_index() {
    if (indexed_) return;
    // A fresh build's routes are 1..route_end_, one per prefix.
    index_.reserve(route_end_ * 2);
    for (Index i = 1; i < route_end_; ++i)
        index_.emplace(key(routes_[i].prefix, routes_[i].prefix_len), i);
    indexed_ = true;
}

Fib::Index Fib::alloc_route(const Route& r) {
    Index i;
    if (!free_routes_.empty()) {
        i = free_routes_.back();
        free_routes_.pop_back();
    } else if (route_end_ < route_cap_) {
        i = static_cast<Index>(route_end_++);
    } else {
        return kNoRoute;
    }
    routes_[i] = r;  // unreachable until an entry names it (publish(): release)
    return i;
}

Fib::Index Fib::covering(wire::Ipv4Addr prefix, uint8_t len) const {
    // The longest shorter prefix installed: what the entries of a removed prefix fall back to.
    for (int l = len - 1; l >= 0; --l) {
        const uint8_t ll = static_cast<uint8_t>(l);
        if (auto it = index_.find(key(prefix & mask_of(ll), ll)); it != index_.end())
            return it->second;
    }
    return kNoRoute;
}

void Fib::rewrite(const Route& r, Index from, bool shallower, Index to) {
    const int len = r.prefix_len;
    auto want = [&](uint32_t e) { return e == from || (shallower && depth(e) < len); };
    auto over_group = [&](uint32_t g, uint32_t first, uint32_t count) {
        uint32_t* e = tbl8_ + (std::size_t{g} << 8) + first;
        for (uint32_t i = 0; i < count; ++i)
            if (want(e[i])) publish(&e[i], to);
    };
    if (len <= 24) {
        const uint32_t first = r.prefix >> 8, count = uint32_t{1} << (24 - len);
        for (uint32_t s = first; s < first + count; ++s) {
            const uint32_t e = tbl24_[s];
            if (e & kExt)
                over_group(e & ~kExt, 0, 256);
            else if (want(e))
                publish(&tbl24_[s], to);
        }
        return;
    }
    uint32_t* slot = &tbl24_[r.prefix >> 8];
    const uint32_t first = r.prefix & 0xff, count = uint32_t{1} << (32 - len);
    if (*slot & kExt) {
        over_group(*slot & ~kExt, first, count);
        return;
    }
    // The first route longer than /24 in this /24: a group that inherits the covering
    // route, filled while no reader can reach it, then published in one store.
    uint32_t g;
    if (!free_groups_.empty()) {
        g = free_groups_.back();
        free_groups_.pop_back();
    } else {
        g = static_cast<uint32_t>(tbl8_end_++);
    }
    uint32_t* e = tbl8_ + (std::size_t{g} << 8);
    std::fill(e, e + 256, *slot);
    std::fill(e + first, e + first + count, to);
    publish(slot, kExt | g);
}

Fib::Change Fib::install_winner(const Route& r, Index& slot, const std::vector<Route>& c) {
    const Route& w = pick(c);
    if (w == routes_[slot]) return Change::kApplied;
    const Index idx = alloc_route(w);
    if (idx == kNoRoute) return Change::kNoRoom;
    rewrite(r, slot, false, idx);
    retired_routes_.push_back(slot);
    slot = idx;
    return Change::kApplied;
}

Fib::Change Fib::insert(const Route& r) {
    ensure_index();
    const uint64_t k = key(r.prefix, r.prefix_len);
    auto it = index_.find(k);
    if (it == index_.end()) {
        if (r.prefix_len > 24 && !(tbl24_[r.prefix >> 8] & kExt) && !group_available())
            return Change::kNoRoom;
        const Index idx = alloc_route(r);
        if (idx == kNoRoute) return Change::kNoRoom;
        rewrite(r, kNoRoute, true, idx);
        index_.emplace(k, idx);
        ++installed_;
        return Change::kApplied;
    }
    Index& slot = it->second;
    auto ci = cands_.find(k);
    if (ci == cands_.end()) {
        std::vector<Route> c{routes_[slot], r};
        const Change ch = install_winner(r, slot, c);
        if (ch == Change::kApplied) cands_.emplace(k, std::move(c));
        return ch;
    }
    ci->second.push_back(r);
    const Change ch = install_winner(r, slot, ci->second);
    if (ch != Change::kApplied) ci->second.pop_back();  // nothing changed
    return ch;
}

Fib::Change Fib::erase(const Route& r) {
    ensure_index();
    const uint64_t k = key(r.prefix, r.prefix_len);
    auto it = index_.find(k);
    if (it == index_.end()) return Change::kNotFound;
    const Index old = it->second;
    if (auto ci = cands_.find(k); ci != cands_.end()) {
        std::vector<Route>& c = ci->second;
        auto pos = std::find(c.rbegin(), c.rend(), r);
        if (pos == c.rend()) return Change::kNotFound;
        const auto at = c.erase(std::next(pos).base());
        const Change ch = install_winner(r, it->second, c);
        if (ch != Change::kApplied)
            c.insert(at, r);  // nothing changed
        else if (c.size() == 1)
            cands_.erase(ci);
        return ch;
    }
    if (routes_[old] != r) return Change::kNotFound;
    // The last candidate: the covering prefix takes the entries back.
    index_.erase(it);
    --installed_;
    rewrite(r, old, false, covering(r.prefix, r.prefix_len));
    retired_routes_.push_back(old);
    if (r.prefix_len > 24) {
        // No route longer than /24 left in this /24 (every entry is the one covering route):
        // the group goes, as rte_lpm's tbl8 recycling.
        uint32_t* slot = &tbl24_[r.prefix >> 8];
        const uint32_t g = *slot & ~kExt;
        const uint32_t* e = tbl8_ + (std::size_t{g} << 8);
        if (std::all_of(e, e + 256, [&](uint32_t x) { return depth(x) <= 24; })) {
            publish(slot, e[0]);
            retired_groups_.push_back(g);
        }
    }
    return Change::kApplied;
}

std::size_t Fib::count_in_table(const Route& r) {
    ensure_index();
    const uint64_t k = key(r.prefix, r.prefix_len);
    if (auto ci = cands_.find(k); ci != cands_.end())
        return static_cast<std::size_t>(
            std::count_if(ci->second.begin(), ci->second.end(),
                          [&](const Route& c) { return c.table == r.table; }));
    auto it = index_.find(k);
    return it != index_.end() && routes_[it->second].table == r.table ? 1 : 0;
}

void Fib::reclaim() {
    free_routes_.insert(free_routes_.end(), retired_routes_.begin(), retired_routes_.end());
    free_groups_.insert(free_groups_.end(), retired_groups_.begin(), retired_groups_.end());
    retired_routes_.clear();
    retired_groups_.clear();
}

}  // namespace ingress::ipv4
