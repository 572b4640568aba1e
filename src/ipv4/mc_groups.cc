#include "ipv4/mc_groups.h"

#include <algorithm>

namespace ingress::ipv4 {

namespace {

// The first group not less than (ifindex, group) in a vector sorted by that key.
template <class Groups>
auto lower(Groups& groups, uint32_t ifindex, wire::Ipv4Addr group) noexcept {
    return std::lower_bound(groups.begin(), groups.end(), 0, [&](const auto& g, int) {
        return g.ifindex != ifindex ? g.ifindex < ifindex : g.group < group;
    });
}

template <class Sources>
auto find_source(Sources& sources, wire::Ipv4Addr s) noexcept {
    return std::find_if(sources.begin(), sources.end(), [s](const auto& a) { return a.addr == s; });
}

}  // namespace

void McGroups::add_interface(uint32_t ifindex) {
    join(ifindex, kAllHostsGroup, McFilterMode::kExclude);
}

void McGroups::join(uint32_t ifindex, wire::Ipv4Addr group, McFilterMode mode,
                    std::span<const wire::Ipv4Addr> sources) {
    auto it = lower(groups_, ifindex, group);
    if (it == groups_.end() || it->ifindex != ifindex || it->group != group)
        it = groups_.insert(it, Group{.ifindex = ifindex, .group = group});
    const auto m = static_cast<std::size_t>(mode);
    ++it->sfcount[m];
    for (wire::Ipv4Addr s : sources) {
        auto sit = std::lower_bound(it->sources.begin(), it->sources.end(), s,
                                    [](const Source& a, wire::Ipv4Addr b) { return a.addr < b; });
        if (sit == it->sources.end() || sit->addr != s) sit = it->sources.insert(sit, {s, {0, 0}});
        ++sit->count[m];
    }
}

bool McGroups::leave(uint32_t ifindex, wire::Ipv4Addr group, McFilterMode mode,
                     std::span<const wire::Ipv4Addr> sources) {
    auto it = lower(groups_, ifindex, group);
    const auto m = static_cast<std::size_t>(mode);
    if (it == groups_.end() || it->ifindex != ifindex || it->group != group || !it->sfcount[m])
        return false;
    for (wire::Ipv4Addr s : sources) {
        auto sit = find_source(it->sources, s);
        if (sit == it->sources.end() || !sit->count[m]) return false;
    }
    --it->sfcount[m];
    for (wire::Ipv4Addr s : sources) {
        auto sit = find_source(it->sources, s);
        if (--sit->count[m] == 0 && sit->count[1 - m] == 0) it->sources.erase(sit);
    }
    if (!it->sfcount[0] && !it->sfcount[1]) groups_.erase(it);
    return true;
}

const McGroups::Group* McGroups::find(uint32_t ifindex, wire::Ipv4Addr group) const noexcept {
    auto it = lower(groups_, ifindex, group);
    if (it == groups_.end() || it->ifindex != ifindex || it->group != group) return nullptr;
    return &*it;
}

bool McGroups::check(uint32_t ifindex, wire::Ipv4Addr group, wire::Ipv4Addr src,
                     uint8_t proto) const noexcept {
    const Group* im = find(ifindex, group);
    if (!im) return false;
    if (proto == wire::kIpProtoIgmp) return true;
    if (src == 0) return true;  // "unspecified source; tentatively allow"
    for (const Source& s : im->sources)
        if (s.addr == src) return s.count[0] != 0 || s.count[1] != im->sfcount[1];
    return im->sfcount[1] != 0;
}

std::vector<wire::Ipv4Addr> McGroups::groups_on(uint32_t ifindex) const {
    std::vector<wire::Ipv4Addr> out;
    for (const Group& g : groups_)
        if (g.ifindex == ifindex) out.push_back(g.group);
    return out;
}

}  // namespace ingress::ipv4
