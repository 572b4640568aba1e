#include "demux/delivery.h"

#include <algorithm>
#include <string>

namespace ingress::demux {

// --- WakeupList ---------------------------------------------------------------------------

void WakeupList::note(ShmRings& r, uint16_t worker) noexcept {
    ShmRings::PerWorker& w = r.w_[worker];
    if (w.pending) return;
    if (n_ == kCapacity) {
        r.wake(worker);
        return;
    }
    w.pending = true;
    w.prod.prefetch_wakeup();
    list_[n_++] = &r;
}

void WakeupList::flush(uint16_t worker) noexcept {
    if (n_ == 0) return;
    // One full fence for the whole burst (RingProducer::take_wakeup_fenced): every submit of
    // the burst is before it, every needs_wakeup load after it.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (std::size_t i = 0; i < n_; ++i) {
        list_[i]->w_[worker].pending = false;
        list_[i]->wake_fenced(worker);
    }
    n_ = 0;
}

// --- ShmRings -----------------------------------------------------------------------------

namespace {
// The active slots for a budget (0: no budget, all of them).
uint32_t active_for(uint32_t rcvbuf, uint32_t slots, bool error) noexcept {
    if (rcvbuf == 0) return slots;
    return error ? std::min(err_queue_slots(rcvbuf), slots) : rcv_queue_slots(rcvbuf, slots);
}
}  // namespace

ShmRings::ShmRings(uint32_t endpoint_id, uint16_t workers, const shm::RingGeometry& g,
                   uint32_t err_slots, RingBudgets budgets)
    : endpoint_id_(endpoint_id), bell_(shm::Doorbell::create()), g_(g) {
    const shm::RingGeometry eg = shm::err_ring_geometry(shm::RingGeometry::round_slots(
        err_slots < kErrQueueMaxSlots ? err_slots : kErrQueueMaxSlots));
    const uint32_t active = active_for(budgets.data, g.slot_count, false);
    const uint32_t err_active = active_for(budgets.err, eg.slot_count, true);
    eg_slots_ = eg.slot_count;
    w_.reserve(workers);
    for (uint16_t i = 0; i < workers; ++i) {
        PerWorker pw;
        // The data ring, then the error queue (ring.h: err_ring_off). A memfd's pages are
        // allocated when first written: an error queue nobody fills costs its header page.
        const std::size_t size = g.region_size() + eg.region_size();
        pw.region = shm::Region::create(
            "ingress-ep" + std::to_string(endpoint_id) + "-w" + std::to_string(i), size);
        shm::ring_init(pw.region.data(), g, endpoint_id, i);
        pw.prod = shm::RingProducer(pw.region.data(), g, active);
        shm::ring_init_err_queue(pw.region.data(), size, eg, endpoint_id, i);
        if (void* e = shm::err_queue_of(pw.region.data(), size)) {
            pw.errq = shm::RingProducer(e, eg, err_active);
            pw.has_errq = true;
        }
        w_.push_back(std::move(pw));
    }
}

void ShmRings::grow(uint16_t worker, uint32_t rcvbuf, bool error) noexcept {
    PerWorker& w = w_[worker];
    shm::RingProducer& p = error ? w.errq : w.prod;
    const uint32_t slots = error ? eg_slots_ : g_.slot_count;
    // Never shrinks: a lower budget only refuses earlier (admit()), as the kernel's does.
    // False: slots queued where the new mask would move them; the next push tries again.
    (void)p.try_grow(active_for(rcvbuf, slots, error));
}

void ShmRings::wake(uint16_t worker) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // see RingProducer::take_wakeup
    wake_fenced(worker);
}

void ShmRings::wake_fenced(uint16_t worker) noexcept {
    shm::RingProducer& p = w_[worker].prod;
    if (!p.take_wakeup_fenced()) return;
    // Counted before the ring: the woken app may read its stats at once.
    p.count_wakeup();
    bell_.ring();
}

void ShmRings::report_error(uint32_t err, const DeliveryCtx* ctx) noexcept {
    const uint16_t worker = ctx ? ctx->worker : 0;
    if (worker >= w_.size()) [[unlikely]]
        return;
    // Relaxed: take_wakeup()'s full fence orders it before the needs-wakeup load, as it
    // orders a submit's prod store (RingConsumer::prepare_sleep reads it after its fence).
    w_[worker].prod.header()->sk_err.store(err, std::memory_order_relaxed);
    if (ctx && ctx->wakeups)
        ctx->wakeups->note(*this, worker);
    else
        wake(worker);
}

namespace {
// One figure summed over the per-worker rings.
template <class Rings, class F>
uint64_t sum_over(const Rings& rings, F f) noexcept {
    uint64_t n = 0;
    for (const auto& w : rings) n += f(w);
    return n;
}
}  // namespace

uint64_t ShmRings::err_queued() const noexcept {
    return sum_over(w_, [](const auto& w) { return w.errq.delivered(); });
}

uint64_t ShmRings::err_dropped() const noexcept {
    return sum_over(w_, [](const auto& w) { return w.errq.dropped(); });
}

uint64_t ShmRings::delivered() const noexcept {
    return sum_over(w_, [](const auto& w) { return w.prod.delivered(); });
}

uint32_t ShmRings::prod_index(uint16_t worker) const noexcept {
    if (worker >= w_.size()) return 0;
    return static_cast<const shm::RingHeader*>(w_[worker].region.data())
        ->prod.load(std::memory_order_relaxed);
}

uint64_t ShmRings::dropped() const noexcept {
    return sum_over(w_, [](const auto& w) { return w.prod.dropped(); });
}

uint64_t ShmRings::used() const noexcept {
    uint64_t n = 0;
    for (const PerWorker& w : w_) {
        const auto* h = static_cast<const shm::RingHeader*>(w.region.data());
        const uint32_t fill =
            h->prod.load(std::memory_order_relaxed) - h->cons.load(std::memory_order_relaxed);
        n += fill < g_.slot_count ? fill : g_.slot_count;
    }
    return n;
}

uint64_t ShmRings::active_slots() const noexcept {
    return sum_over(w_, [](const auto& w) { return w.prod.active_slots(); });
}

uint32_t ShmRings::active_slots(uint16_t worker) const noexcept {
    return worker < w_.size() ? w_[worker].prod.active_slots() : 0;
}

uint32_t ShmRings::err_active_slots(uint16_t worker) const noexcept {
    return worker < w_.size() && w_[worker].has_errq ? w_[worker].errq.active_slots() : 0;
}

uint64_t ShmRings::grow_dropped() const noexcept {
    return sum_over(w_, [](const auto& w) {
        return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(w.grow_drops))
            .load(std::memory_order_relaxed);
    });
}

uint64_t ShmRings::err_grow_dropped() const noexcept {
    return sum_over(w_, [](const auto& w) {
        return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(w.err_grow_drops))
            .load(std::memory_order_relaxed);
    });
}

uint64_t ShmRings::rmem() const noexcept {
    return sum_over(w_,
                    [](const auto& w) { return w.prod.rmem_snapshot() + w.errq.rmem_snapshot(); });
}

bool ShmRings::admit(uint16_t worker, const RcvBudget& b, bool error) noexcept {
    auto fits = [&b, error](uint64_t rmem) noexcept {
        return error ? err_queue_admits(rmem, b.truesize, b.rcvbuf)
                     : rcvbuf_admits(rmem, b.truesize, b.rcvbuf);
    };
    // Upper bounds first: the producer's last view of its own ring, what the others held
    // after their last push, and each error queue's after its last entry (a default
    // producer, with no error queue, holds 0).
    uint64_t rmem = w_[worker].prod.rmem_cached();
    for (std::size_t i = 0; i < w_.size(); ++i) {
        if (i != worker) rmem += w_[i].prod.rmem_published();
        rmem += w_[i].errq.rmem_published();
    }
    if (fits(rmem)) return true;
    rmem = w_[worker].prod.rmem();
    if (w_[worker].has_errq) rmem += w_[worker].errq.rmem();
    for (std::size_t i = 0; i < w_.size(); ++i)
        if (i != worker) rmem += w_[i].prod.rmem_snapshot() + w_[i].errq.rmem_snapshot();
    return fits(rmem);
}

ShmRings::ReadCounts ShmRings::read_counts(uint16_t worker) const noexcept {
    ReadCounts n;
    if (worker >= w_.size()) return n;
    const PerWorker& w = w_[worker];
    const auto* h = static_cast<const shm::RingHeader*>(w.region.data());
    const uint64_t delivered = w.prod.delivered();
    n.csum_errors = std::min(h->csum_errors.load(std::memory_order_relaxed), delivered);
    n.csum_ok = std::min(h->csum_ok.load(std::memory_order_relaxed), delivered - n.csum_errors);
    return n;
}

ShmRings::ReadCounts ShmRings::read_counts() const noexcept {
    ReadCounts n;
    for (uint16_t w = 0; w < workers(); ++w) n += read_counts(w);
    return n;
}

void ShmRings::ReadCounts::add_to(core::Snapshot& s) const noexcept {
    // udp_recvmsg(): InDatagrams for a datagram read; csum_copy_err: CsumErrors + InErrors.
    s.mib[static_cast<std::size_t>(core::Mib::kUdpInDatagrams)] += csum_ok;
    s.mib[static_cast<std::size_t>(core::Mib::kUdpInCsumErrors)] += csum_errors;
    s.mib[static_cast<std::size_t>(core::Mib::kUdpInErrors)] += csum_errors;
}

uint64_t ShmRings::truncated() const noexcept {
    return sum_over(w_, [](const auto& w) { return w.prod.truncated(); });
}

}  // namespace ingress::demux
