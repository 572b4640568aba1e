#include "demux/endpoint_table.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace ingress::demux {

std::span<const UdpEntry> EndpointTable::udp_slot(wire::Ipv4Addr addr,
                                                  uint16_t port) const noexcept {
    const uint64_t key = slot_key(addr, port);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = slot_index(key);; i = (i + 1) & mask) {
        const Slot& s = slots_[i];
        if (s.key == key) return {udp_entries_.data() + s.first, s.count};
        if (s.key == 0) return {};
    }
}

std::unique_ptr<const EndpointTable> EndpointTable::Builder::build() const {
    std::unique_ptr<EndpointTable> t(new EndpointTable());
    t->hook_ = hook_;
    t->hook_ctx_ = hook_ctx_;
    t->seed_ = seed_;
    if (!bindings_.empty()) {
        // Only live endpoints (added to this table) can be assigned: a SOCKMAP holds only
        // sockets that exist.
        SkLookup::Builder sb = bindings_;
        const std::set<const UdpEndpoint*> live(udp_.begin(), udp_.end());
        for (const auto& [label, ep] : label_members_)
            if (live.count(ep)) sb.add_member(label, *ep);
        t->sk_lookup_ = sb.build();
    }
    t->has_sk_lookup_ = hook_ != nullptr || t->sk_lookup_ != nullptr;

    // Reuseport groups: reuseport endpoints bound to the same address, port and device,
    // in the order they were added (the order they joined sock_reuseport.socks[]).
    std::map<std::tuple<wire::Ipv4Addr, uint16_t, uint32_t>, std::vector<UdpEndpoint*>> groups;
    for (UdpEndpoint* ep : udp_) {
        if (!ep->reuseport()) continue;
        const InetAddressing& a = ep->addressing();
        groups[{a.rcv_saddr, a.num, a.bound_dev_if}].push_back(ep);
    }
    std::map<const UdpEndpoint*, uint16_t> group_of;
    for (const auto& [key, members] : groups) {
        const auto gi = static_cast<uint16_t>(t->reuse_groups_.size());
        bool conns = false;
        for (UdpEndpoint* ep : members) {
            group_of[ep] = gi;
            conns = conns || ep->connected();
        }
        t->reuse_groups_.push_back({static_cast<uint32_t>(t->reuse_members_.size()),
                                    static_cast<uint32_t>(members.size()), conns});
        t->reuse_members_.insert(t->reuse_members_.end(), members.begin(), members.end());
    }

    // hash2 slots: one run of entries per (address, port), newest first.
    std::map<uint64_t, std::vector<UdpEntry>> slots;
    for (auto it = udp_.rbegin(); it != udp_.rend(); ++it) {
        UdpEndpoint* ep = *it;
        const InetAddressing& a = ep->addressing();
        auto g = group_of.find(ep);
        slots[slot_key(a.rcv_saddr, a.num)].push_back(
            {a.rcv_saddr, a.daddr, a.bound_dev_if, a.dport,
             g == group_of.end() ? kNoReuseGroup : g->second, ep->connected(), ep});
    }
    std::size_t cap = 16;
    while (cap < slots.size() * 2) cap *= 2;
    t->slots_.assign(cap, Slot{});
    t->shift_ = 64;
    for (std::size_t c = cap; c > 1; c >>= 1) --t->shift_;
    for (const auto& [key, entries] : slots) {
        std::size_t i = t->slot_index(key);
        while (t->slots_[i].key != 0) i = (i + 1) & (cap - 1);
        t->slots_[i] = {key, static_cast<uint32_t>(t->udp_entries_.size()),
                        static_cast<uint32_t>(entries.size())};
        t->udp_entries_.insert(t->udp_entries_.end(), entries.begin(), entries.end());
    }

    // Raw endpoints by protocol (raw_v4_hashinfo hashes by protocol), add order kept.
    t->raw_ = raw_;
    std::stable_sort(
        t->raw_.begin(), t->raw_.end(),
        [](const RawEndpoint* a, const RawEndpoint* b) { return a->protocol() < b->protocol(); });
    for (const RawEndpoint* ep : t->raw_) ++t->raw_off_[ep->protocol() + 1u];
    for (std::size_t p = 1; p < t->raw_off_.size(); ++p) t->raw_off_[p] += t->raw_off_[p - 1];

    // Taps: a fanout group is one prot_hook shared by its members (same id, protocol and
    // binding); any other tap is its own group.
    std::vector<std::vector<TapEndpoint*>> tgroups;
    for (TapEndpoint* ep : taps_) {
        bool joined = false;
        if (ep->fanout_mode() != FanoutMode::kNone) {
            for (auto& g : tgroups) {
                const TapEndpoint* f = g.front();
                if (f->fanout_mode() != FanoutMode::kNone && f->fanout_id() == ep->fanout_id() &&
                    f->protocol() == ep->protocol() && f->ifindex() == ep->ifindex()) {
                    g.push_back(ep);
                    joined = true;
                    break;
                }
            }
        }
        if (!joined) tgroups.push_back({ep});
    }
    for (const auto& g : tgroups) {
        const TapEndpoint* f = g.front();
        t->tap_groups_.push_back({f->protocol(), f->ifindex(), f->fanout_mode(),
                                  static_cast<uint32_t>(t->tap_members_.size()),
                                  static_cast<uint32_t>(g.size()), f->ignore_outgoing()});
        t->tap_members_.insert(t->tap_members_.end(), g.begin(), g.end());
    }
    return t;
}

}  // namespace ingress::demux
