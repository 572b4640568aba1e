#include "demux/delivery.h"

#include <algorithm>
#include <string>

namespace ingress::demux {

void to_slot_meta(const RecvMeta& m, bool tap, shm::SlotMeta* out) noexcept {
    out->src_addr = m.src_addr;
    out->dst_addr = m.dst_addr;
    out->src_port = m.src_port;
    out->dst_port = m.dst_port;
    out->ifindex = m.ifindex;
    out->rx_ns = m.rx_ns;
    out->vlan_tci = m.vlan_tci;
    out->vlan_tpid = m.vlan_tpid;
    out->pkt_type = static_cast<uint8_t>(m.pkt_type);
    out->protocol = tap ? 0 : static_cast<uint8_t>(m.protocol);
    out->ethertype = tap ? m.protocol : 0;
    out->l3_off = m.net_off;
    out->tp_status = m.tp_status;
    uint16_t f = 0;
    if (m.flags & kRecvTruncated) f |= shm::kSlotTruncated;
    if (m.flags & kRecvCsumValid) f |= shm::kSlotCsumOk;
    if (m.flags & kRecvVlanValid) f |= shm::kSlotVlan;
    if (m.flags & kRecvVlanTpidValid) f |= shm::kSlotVlanTpid;
    out->flags = f;
    std::fill(std::begin(out->reserved), std::end(out->reserved), 0u);
}

RecvMeta from_slot_meta(const shm::SlotMeta& s, bool tap) noexcept {
    RecvMeta m;
    m.rx_ns = s.rx_ns;
    m.src_addr = s.src_addr;
    m.dst_addr = s.dst_addr;
    m.src_port = s.src_port;
    m.dst_port = s.dst_port;
    m.ifindex = s.ifindex;
    m.orig_len = s.orig_len;
    m.vlan_tci = s.vlan_tci;
    m.vlan_tpid = s.vlan_tpid;
    m.protocol = tap ? s.ethertype : s.protocol;
    m.net_off = s.l3_off;
    m.pkt_type = static_cast<core::PktType>(s.pkt_type);
    m.tp_status = s.tp_status;
    if (s.flags & shm::kSlotTruncated) m.flags |= kRecvTruncated;
    if (s.flags & shm::kSlotCsumOk) m.flags |= kRecvCsumValid;
    if (s.flags & shm::kSlotVlan) m.flags |= kRecvVlanValid;
    if (s.flags & shm::kSlotVlanTpid) m.flags |= kRecvVlanTpidValid;
    return m;
}

// --- WakeupList ---------------------------------------------------------------------------

void WakeupList::note(ShmRings& r, uint16_t worker) noexcept {
    ShmRings::PerWorker& w = r.w_[worker];
    if (w.pending) return;
    if (n_ == kCapacity) {
        r.wake(worker);
        return;
    }
    w.pending = true;
    list_[n_++] = &r;
}

void WakeupList::flush(uint16_t worker) noexcept {
    for (std::size_t i = 0; i < n_; ++i) {
        list_[i]->w_[worker].pending = false;
        list_[i]->wake(worker);
    }
    n_ = 0;
}

// --- ShmRings -----------------------------------------------------------------------------

ShmRings::ShmRings(uint32_t endpoint_id, uint16_t workers, const shm::RingGeometry& g, bool tap)
    : bell_(shm::Doorbell::create()), g_(g), tap_(tap) {
    w_.reserve(workers);
    for (uint16_t i = 0; i < workers; ++i) {
        PerWorker pw;
        pw.region = shm::Region::create(
            "ingress-ep" + std::to_string(endpoint_id) + "-w" + std::to_string(i),
            g.region_size());
        shm::ring_init(pw.region.data(), g, endpoint_id, i);
        pw.prod = shm::RingProducer(pw.region.data(), g);
        w_.push_back(std::move(pw));
    }
}

bool ShmRings::push(const RecvMeta& m, std::span<const uint8_t> head,
                    std::span<const uint8_t> body, const DeliveryCtx* ctx) noexcept {
    const uint16_t worker = ctx ? ctx->worker : 0;
    // A worker index beyond the endpoint's rings is a configuration error (the registry's
    // worker count must match the daemon's): refuse rather than write out of bounds.
    if (worker >= w_.size()) [[unlikely]]
        return false;
    const bool tap = tap_;
    if (!w_[worker].prod.try_push_with(
            [&m, tap](shm::SlotMeta& out) noexcept { to_slot_meta(m, tap, &out); }, head, body,
            m.orig_len))
        return false;  // dropped_full: the app sees it in the ring header
    if (ctx && ctx->wakeups)
        ctx->wakeups->note(*this, worker);
    else
        wake(worker);
    return true;
}

void ShmRings::wake(uint16_t worker) noexcept {
    shm::RingProducer& p = w_[worker].prod;
    if (!p.take_wakeup()) return;
    // Counted before the ring: the woken app may read its stats at once.
    p.count_wakeup();
    bell_.ring();
}

uint64_t ShmRings::delivered() const noexcept {
    uint64_t n = 0;
    for (const PerWorker& w : w_)
        n += static_cast<const shm::RingHeader*>(w.region.data())
                 ->delivered.load(std::memory_order_relaxed);
    return n;
}

uint64_t ShmRings::dropped() const noexcept {
    uint64_t n = 0;
    for (const PerWorker& w : w_)
        n += static_cast<const shm::RingHeader*>(w.region.data())
                 ->dropped_full.load(std::memory_order_relaxed);
    return n;
}

uint64_t ShmRings::used() const noexcept {
    uint64_t n = 0;
    for (const PerWorker& w : w_) {
        const auto* h = static_cast<const shm::RingHeader*>(w.region.data());
        const uint32_t fill = h->prod.load(std::memory_order_relaxed) -
                              h->cons.load(std::memory_order_relaxed);
        n += fill < g_.slot_count ? fill : g_.slot_count;
    }
    return n;
}

uint64_t ShmRings::truncated() const noexcept {
    uint64_t n = 0;
    for (const PerWorker& w : w_)
        n += static_cast<const shm::RingHeader*>(w.region.data())
                 ->truncated.load(std::memory_order_relaxed);
    return n;
}

}  // namespace ingress::demux
