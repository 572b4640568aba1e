#include "ipv4/pmtu.h"

#include <algorithm>
#include <atomic>

namespace ingress::ipv4 {

namespace {

template <class T>
T load(const T& v) noexcept {
    return std::atomic_ref<T>(const_cast<T&>(v)).load(std::memory_order_relaxed);
}
template <class T>
void store(T& v, T x) noexcept {
    std::atomic_ref<T>(v).store(x, std::memory_order_relaxed);
}

}  // namespace

PmtuCache::Slot* PmtuCache::find(wire::Ipv4Addr daddr, uint64_t now_ns) noexcept {
    Slot* set = &slots_[set_of(daddr) * kWays];
    for (std::size_t w = 0; w < kWays; ++w)
        if (set[w].expires_ns != 0 && set[w].daddr == daddr && set[w].expires_ns > now_ns)
            return &set[w];
    return nullptr;
}

uint32_t PmtuCache::lookup(wire::Ipv4Addr daddr, uint64_t now_ns) const noexcept {
    const Slot* s = const_cast<PmtuCache*>(this)->find(daddr, now_ns);
    return s ? s->mtu : 0;
}

void PmtuCache::write(Slot& s, const PmtuEntry& e) noexcept {
    // A sequence count around the write (the worker is the only writer): a reader that sees
    // the same even count before and after its reads saw one whole entry.
    const uint32_t seq = s.seq;
    store(s.seq, seq + 1);
    std::atomic_thread_fence(std::memory_order_release);  // the odd count before the fields
    store(s.daddr, e.daddr);
    store(s.mtu, e.mtu);
    store(s.locked, uint32_t{e.locked});
    store(s.expires_ns, e.expires_ns);
    store(s.updated_ns, e.updated_ns);
    // Release: the fields before the even count.
    std::atomic_ref<uint32_t>(s.seq).store(seq + 2, std::memory_order_release);
}

uint32_t PmtuCache::update(wire::Ipv4Addr daddr, uint32_t mtu, uint32_t route_mtu,
                           uint64_t now_ns) noexcept {
    Slot* cur = find(daddr, now_ns);
    // ipv4_mtu(dst): a live exception's PMTU, else the route's.
    const uint32_t old_mtu = cur ? cur->mtu : route_mtu;
    if (old_mtu < mtu) return old_mtu;
    bool lock = false;
    if (mtu < cfg_.min_pmtu) {
        lock = true;
        mtu = std::min(old_mtu, cfg_.min_pmtu);
    }
    const uint64_t life_ns = uint64_t{cfg_.mtu_expires_s} * 1'000'000'000;
    // rt_pmtu == mtu && !lock && time_before(jiffies, expires - mtu_expires / 2): kept.
    if (cur && cur->mtu == mtu && !lock && now_ns < cur->expires_ns - life_ns / 2) return mtu;
    Slot* s = cur;
    if (!s) {  // a free or expired way, else the one expiring first
        Slot* set = &slots_[set_of(daddr) * kWays];
        s = &set[0];
        for (std::size_t w = 0; w < kWays; ++w) {
            if (set[w].expires_ns <= now_ns) {
                s = &set[w];
                break;
            }
            if (set[w].expires_ns < s->expires_ns) s = &set[w];
        }
    }
    write(*s, {daddr, mtu, lock, std::max<uint64_t>(now_ns + life_ns, 1), now_ns});
    return mtu;
}

void PmtuCache::snapshot(uint64_t now_ns, std::vector<PmtuEntry>& out) const {
    for (const Slot& s : slots_) {
        for (int tries = 0; tries < 4; ++tries) {
            // Acquire: pairs with the final release in write().
            const uint32_t a = std::atomic_ref<uint32_t>(const_cast<uint32_t&>(s.seq))
                                   .load(std::memory_order_acquire);
            if (a & 1) continue;
            PmtuEntry e{load(s.daddr), load(s.mtu), load(s.locked) != 0, load(s.expires_ns),
                        load(s.updated_ns)};
            std::atomic_thread_fence(std::memory_order_acquire);  // the fields before the recheck
            if (load(s.seq) != a) continue;
            if (e.expires_ns > now_ns) out.push_back(e);
            break;
        }
    }
}

std::vector<PmtuEntry> pmtu_merge(std::vector<PmtuEntry> all) {
    std::sort(all.begin(), all.end(), [](const PmtuEntry& a, const PmtuEntry& b) {
        return a.daddr != b.daddr ? a.daddr < b.daddr : a.updated_ns > b.updated_ns;
    });
    all.erase(
        std::unique(all.begin(), all.end(),
                    [](const PmtuEntry& a, const PmtuEntry& b) { return a.daddr == b.daddr; }),
        all.end());
    return all;
}

}  // namespace ingress::ipv4
