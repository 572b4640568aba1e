#include "demux/sk_lookup.h"

#include <algorithm>
#include <map>

namespace ingress::demux {

const SkLookup::Rule* SkLookup::match(wire::Ipv4Addr daddr, uint16_t dport) const noexcept {
    // Longest prefix first: one probe per prefix length in use, from /32 down.
    const std::size_t cap_mask = buckets_.size() - 1;
    for (uint64_t lens = lens_; lens != 0;) {
        const unsigned len = 63u - static_cast<unsigned>(__builtin_clzll(lens));
        lens &= ~(uint64_t{1} << len);
        const uint64_t key = bucket_key(daddr & mask(len), len);
        for (std::size_t i = bucket_index(key);; i = (i + 1) & cap_mask) {
            const Bucket& b = buckets_[i];
            if (b.key == 0) break;
            if (b.key != key) continue;
            // Narrowest range first: the first that covers dport is the most specific.
            for (const Rule& r : std::span<const Rule>{rules_.data() + b.first, b.count})
                if (dport >= r.port_lo && dport <= r.port_hi) return &r;
            break;
        }
    }
    return nullptr;
}

std::unique_ptr<const SkLookup> SkLookup::Builder::build() const {
    std::unique_ptr<SkLookup> t(new SkLookup());
    // Labels in order of first use by a binding.
    std::map<std::string, uint32_t> label_of;
    std::vector<std::string> labels;
    for (const Binding& b : bindings_)
        if (!b.drop && label_of.emplace(b.label, static_cast<uint32_t>(labels.size())).second)
            labels.push_back(b.label);
    t->member_off_.assign(labels.size() + 1, 0);
    std::vector<std::vector<UdpEndpoint*>> per_label(labels.size());
    for (const auto& [label, ep] : members_) {
        auto it = label_of.find(label);
        if (it == label_of.end()) continue;  // no binding names it: it can receive nothing
        auto& v = per_label[it->second];
        if (std::find(v.begin(), v.end(), ep) == v.end()) v.push_back(ep);
    }
    for (std::size_t l = 0; l < labels.size(); ++l) {
        t->member_off_[l] = static_cast<uint32_t>(t->members_.size());
        t->members_.insert(t->members_.end(), per_label[l].begin(), per_label[l].end());
    }
    t->member_off_[labels.size()] = static_cast<uint32_t>(t->members_.size());

    // Rules grouped by (prefix length, masked prefix); in each, narrowest range first, ties
    // in add order (stable sort).
    std::map<uint64_t, std::vector<Rule>> groups;
    for (std::size_t i = 0; i < bindings_.size(); ++i) {
        const Binding& b = bindings_[i];
        const unsigned len = std::min<unsigned>(b.prefix_len, 32);
        t->lens_ |= uint64_t{1} << len;
        groups[bucket_key(b.prefix & mask(len), len)].push_back(
            {b.port_lo, b.port_hi, b.drop ? kDrop : label_of.at(b.label), static_cast<uint32_t>(i),
             b.no_reuseport});
    }
    std::size_t cap = 16;
    while (cap < groups.size() * 2) cap *= 2;
    t->buckets_.assign(cap, Bucket{});
    t->shift_ = 64;
    for (std::size_t c = cap; c > 1; c >>= 1) --t->shift_;
    for (auto& [key, rules] : groups) {
        std::stable_sort(rules.begin(), rules.end(), [](const Rule& a, const Rule& b) {
            return uint32_t{a.port_hi} - a.port_lo < uint32_t{b.port_hi} - b.port_lo;
        });
        std::size_t i = t->bucket_index(key);
        while (t->buckets_[i].key != 0) i = (i + 1) & (cap - 1);
        t->buckets_[i] = {key, static_cast<uint32_t>(t->rules_.size()),
                          static_cast<uint32_t>(rules.size())};
        t->rules_.insert(t->rules_.end(), rules.begin(), rules.end());
    }
    return t;
}

}  // namespace ingress::demux
