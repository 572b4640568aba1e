#include "ipv4/fib.h"

#include <sys/mman.h>

#include <algorithm>
#include <charconv>
#include <new>

namespace ingress::ipv4 {

namespace {

constexpr std::size_t kTbl24Bytes = (std::size_t{1} << 24) * sizeof(uint32_t);

struct TypeName {
    RouteType type;
    std::string_view name;
};
// iproute2's spellings.
constexpr TypeName kTypeNames[] = {
    {RouteType::kUnicast, "unicast"},       {RouteType::kLocal, "local"},
    {RouteType::kBroadcast, "broadcast"},   {RouteType::kAnycast, "anycast"},
    {RouteType::kMulticast, "multicast"},   {RouteType::kBlackhole, "blackhole"},
    {RouteType::kUnreachable, "unreachable"}, {RouteType::kProhibit, "prohibit"},
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

Fib::Fib(std::span<const Route> routes) {
    void* p = mmap(nullptr, kTbl24Bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, kTbl24Bytes, MADV_HUGEPAGE);  // best effort: THP may be off
    tbl24_ = static_cast<uint32_t*>(p);

    // Shorter prefixes first, so that longer ones overwrite them; at equal prefix and length
    // the local-table route last, so it wins; otherwise input order (the later replaces).
    std::vector<Route> sorted(routes.begin(), routes.end());
    std::stable_sort(sorted.begin(), sorted.end(), [](const Route& a, const Route& b) {
        if (a.prefix_len != b.prefix_len) return a.prefix_len < b.prefix_len;
        if (a.prefix != b.prefix) return a.prefix < b.prefix;
        return !a.local_table && b.local_table;
    });
    routes_.reserve(sorted.size() + 1);
    routes_.push_back(Route{});
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        const Route& r = sorted[i];
        const bool replaced = i + 1 < sorted.size() && sorted[i + 1].prefix == r.prefix &&
                              sorted[i + 1].prefix_len == r.prefix_len;
        if (replaced) continue;
        routes_.push_back(r);
        add(static_cast<Index>(routes_.size() - 1), r);
    }
}

Fib::~Fib() { munmap(tbl24_, kTbl24Bytes); }

void Fib::add(Index idx, const Route& r) {
    if (r.prefix_len <= 24) {
        const uint32_t first = r.prefix >> 8;
        const uint32_t count = uint32_t{1} << (24 - r.prefix_len);
        std::fill(tbl24_ + first, tbl24_ + first + count, idx);
        return;
    }
    uint32_t& e = tbl24_[r.prefix >> 8];
    if (!(e & kExt)) {
        const uint32_t group = static_cast<uint32_t>(tbl8_.size() / 256);
        tbl8_.resize(tbl8_.size() + 256, e);  // the group inherits the covering route
        e = kExt | group;
    }
    const std::size_t base = (std::size_t{e & ~kExt} << 8) | (r.prefix & 0xff);
    const uint32_t count = uint32_t{1} << (32 - r.prefix_len);
    std::fill(tbl8_.begin() + base, tbl8_.begin() + base + count, idx);
}

void Fib::lookup_bulk(const wire::Ipv4Addr* addrs, Index* out, std::size_t n) const noexcept {
    // Prefetch distance: enough tbl24 loads in flight to cover a DRAM miss.
    constexpr std::size_t kAhead = 16;
    const std::size_t warm = std::min(n, kAhead);
    for (std::size_t i = 0; i < warm; ++i) __builtin_prefetch(&tbl24_[addrs[i] >> 8]);
    for (std::size_t i = 0; i < n; ++i) {
        if (i + kAhead < n) __builtin_prefetch(&tbl24_[addrs[i + kAhead] >> 8]);
        out[i] = lookup(addrs[i]);
    }
}

}  // namespace ingress::ipv4
