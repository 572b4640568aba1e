#include "ipv4/fib.h"

#include <sys/mman.h>

#include <algorithm>
#include <charconv>
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
    // The tbl8 groups move to huge-page memory too, once their number is known.
    tbl8_groups_ = build8_.size() / 256;
    if (tbl8_groups_) {
        tbl8_ = map_huge(build8_.size() * sizeof(uint32_t));
        std::copy(build8_.begin(), build8_.end(), tbl8_);
    }
    build8_ = {};
}

Fib::~Fib() {
    munmap(tbl24_, kTbl24Bytes);
    if (tbl8_) munmap(tbl8_, tbl8_groups_ * 256 * sizeof(uint32_t));
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

}  // namespace ingress::ipv4
