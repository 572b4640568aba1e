#include "shm/ring.h"

#include <algorithm>
#include <new>

#include "wire/checksum.h"

namespace ingress::shm {

void ring_init(void* region, const RingGeometry& g, uint32_t endpoint_id, uint32_t worker) {
    auto* h = new (region) RingHeader{};
    h->magic = kRingMagic;
    h->version = kRingVersion;
    h->header_size = static_cast<uint16_t>(RingGeometry::header_size());
    h->slot_size = g.slot_size;
    h->slot_count = g.slot_count;
    h->endpoint_id = endpoint_id;
    h->worker = worker;
    h->region_size = g.region_size();
    h->meta_size = sizeof(SlotMeta);
    h->slot_mask.store(g.slot_count - 1, std::memory_order_relaxed);  // RingProducer may lower it
    h->prod.store(0, std::memory_order_relaxed);
    h->cons.store(0, std::memory_order_relaxed);
    h->needs_wakeup.store(0, std::memory_order_relaxed);
    h->csum_errors.store(0, std::memory_order_relaxed);
    h->csum_ok.store(0, std::memory_order_relaxed);
    // Release: the identity fields are visible before anyone can see the region's indices
    // (the region reaches the app only after this, through SCM_RIGHTS, which orders anyway).
    std::atomic_thread_fence(std::memory_order_release);
}

void ring_init_err_queue(void* region, std::size_t region_size, const RingGeometry& eg,
                         uint32_t endpoint_id, uint32_t worker) {
    auto* h = static_cast<RingHeader*>(region);
    const std::size_t off = static_cast<std::size_t>(h->region_size);
    if (off + eg.region_size() > region_size) return;
    ring_init(static_cast<uint8_t*>(region) + off, eg, endpoint_id, worker);
    h->err_ring_off = static_cast<uint32_t>(off);
}

void* err_queue_of(void* region, std::size_t mapped_size) noexcept {
    auto* h = static_cast<RingHeader*>(region);
    const std::size_t off = h->err_ring_off;
    // Only after the data ring, and a ring in its own right.
    if (off == 0 || off < h->region_size || off % kCacheLine != 0 || off >= mapped_size)
        return nullptr;
    void* e = static_cast<uint8_t*>(region) + off;
    return ring_check(e, mapped_size - off) == RingCheck::kOk ? e : nullptr;
}

RingCheck ring_check(const void* region, std::size_t mapped_size) noexcept {
    if (mapped_size < sizeof(RingHeader)) return RingCheck::kTooSmall;
    auto* h = static_cast<const RingHeader*>(region);
    if (h->magic != kRingMagic) return RingCheck::kBadMagic;
    if (h->version != kRingVersion) return RingCheck::kBadVersion;
    RingGeometry g{h->slot_count, h->slot_size};
    if (!g.valid() || h->header_size != RingGeometry::header_size() ||
        h->region_size != g.region_size())
        return RingCheck::kBadGeometry;
    // The record this client knows must be there; a newer daemon may append to it.
    if (h->meta_size < sizeof(SlotMeta) || h->meta_size % 8 != 0 || h->meta_size >= g.slot_size)
        return RingCheck::kBadGeometry;
    if (mapped_size < g.region_size()) return RingCheck::kTooSmall;
    return RingCheck::kOk;
}

const char* ring_check_str(RingCheck c) noexcept {
    switch (c) {
        case RingCheck::kOk:
            return "ok";
        case RingCheck::kTooSmall:
            return "region smaller than its header says";
        case RingCheck::kBadMagic:
            return "not an ingress ring (bad magic)";
        case RingCheck::kBadVersion:
            return "ring layout version not supported by this client";
        case RingCheck::kBadGeometry:
            return "ring geometry invalid";
    }
    return "?";
}

// --- producer ---------------------------------------------------------------------------

RingProducer::RingProducer(void* region, const RingGeometry& g, uint32_t active)
    : h_(static_cast<RingHeader*>(region)),
      base_(static_cast<uint8_t*>(region)),
      g_(g),
      mask_(g.slot_count - 1),
      charges_(static_cast<uint64_t*>(std::calloc(g.slot_count, sizeof(uint64_t)))) {
    if (!charges_) throw std::bad_alloc();
    prod_ = h_->prod.load(std::memory_order_relaxed);
    if (active != 0 && active < g.slot_count) mask_ = RingGeometry::round_slots(active) - 1;
    // No slot is queued yet and the app has not mapped the region (ring_init's fence and
    // SCM_RIGHTS order it before anything the app reads).
    h_->slot_mask.store(mask_, std::memory_order_relaxed);
    // Assume full until the first refresh validates what the consumer wrote: a cached index
    // is only ever one that passed the check in free_slots().
    cached_cons_ = prod_ - (mask_ + 1);
}

uint32_t RingProducer::free_slots(uint32_t want) noexcept {
    const uint32_t active = mask_ + 1;
    uint32_t used = prod_ + reserved_ - cached_cons_;
    uint32_t free = active - used;
    if (free >= want) return free;
    // Refresh the consumer index. Acquire: pairs with the consumer's release in release(),
    // so the consumer's reads of the slots it gave back happened before we overwrite them.
    uint32_t cons = h_->cons.load(std::memory_order_acquire);
    // An app can write anything here. A sane cons is at most the active slots behind prod
    // and never ahead of it; anything else is treated as "no free slot" (the app starves
    // itself).
    uint32_t behind = prod_ - cons;
    if (behind > active) return 0;
    cached_cons_ = cons;
    used = prod_ + reserved_ - cached_cons_;
    return used > active ? 0 : active - used;
}

bool RingProducer::try_grow(uint32_t slots) noexcept {
    if (slots > g_.slot_count) slots = g_.slot_count;
    if (slots <= mask_ + 1) return true;  // never shrinks
    const uint32_t mask = RingGeometry::round_slots(slots) - 1;
    // Acquire, as in free_slots(): the consumer's reads of what it released are done.
    const uint32_t cons = h_->cons.load(std::memory_order_acquire);
    const uint32_t head = prod_ + reserved_;
    // A cons the app made up: no grow (its ring stays as it is; the app starves itself).
    if (head - cons > mask_ + 1) return false;
    if (cons != head) {
        // Every queued index j must sit at the same place: j & mask == j & mask_, i.e. its
        // place in the new ring is among the old ring's slots. The queued indices are
        // consecutive: they qualify when the first and the last do and they do not wrap.
        const uint32_t first = cons & mask, last = (head - 1) & mask;
        if (first > last || last > mask_) return false;
    }
    cached_cons_ = cons;
    std::atomic_ref<uint32_t>(mask_).store(mask, std::memory_order_relaxed);
    // Relaxed: the next submit's release of prod orders it before the first slot placed by
    // it; a consumer that sees it earlier places the queued slots where they are anyway.
    h_->slot_mask.store(mask, std::memory_order_relaxed);
    return true;
}

uint32_t RingProducer::reserve_burst(uint32_t n, uint32_t* idx) noexcept {
    uint32_t free = free_slots(n);
    n = std::min(n, free);
    if (n == 0) return 0;
    *idx = prod_ + reserved_;
    reserved_ += n;
    return n;
}

void RingProducer::submit(uint32_t n) noexcept {
    n = std::min(n, reserved_);
    reserved_ -= n;
    prod_ += n;
    // Release: the slot contents written before this are visible to a consumer that
    // acquires the new prod (RingConsumer::peek).
    h_->prod.store(prod_, std::memory_order_release);
    count(counts_.delivered, h_->delivered, n);
}

uint32_t RingProducer::rmem() noexcept {
    // Acquire: pairs with the consumer's release in release() (as in free_slots()).
    const uint32_t cons = h_->cons.load(std::memory_order_acquire);
    // A cons the app made up (ahead of prod, or more than a ring behind) releases nothing.
    if (prod_ - cons <= mask_ + 1 && cons - cached_cons_ <= prod_ - cached_cons_)
        cached_cons_ = cons;
    return rmem_at(cached_cons_);
}

uint32_t RingProducer::rmem_snapshot() const noexcept {
    if (!charges_) return 0;
    for (int tries = 0; tries < 4; ++tries) {
        // Acquire on prod: the entries and the total written before the submit are visible.
        const uint32_t prod = h_->prod.load(std::memory_order_acquire);
        const uint32_t cons = h_->cons.load(std::memory_order_acquire);
        if (prod - cons > g_.slot_count) break;  // the app's nonsense: the producer's view
        if (cons == prod) return 0;
        // Either mask places the queued slots alike (try_grow); the entry's index says if it
        // is cons's.
        const uint32_t mask = active_slots() - 1;
        const uint64_t e = std::atomic_ref<uint64_t>(const_cast<uint64_t&>(charges_[cons & mask]))
                               .load(std::memory_order_relaxed);
        const uint32_t total = std::atomic_ref<uint32_t>(const_cast<uint32_t&>(total_shown_))
                                   .load(std::memory_order_relaxed);
        // The slot was reused meanwhile (the app released it and the producer refilled it):
        // look again.
        if (static_cast<uint32_t>(e >> 32) == cons) return total - static_cast<uint32_t>(e);
    }
    return rmem_published();
}

void RingProducer::count_drop() noexcept {
    count(counts_.dropped, h_->dropped_full);
}

bool RingProducer::take_wakeup() noexcept {
    // Full fence: orders our prod store (submit) before the needs_wakeup load. The consumer
    // does the mirror image in prepare_sleep() (needs_wakeup store, fence, prod load), so at
    // least one side sees the other: either we see the flag and wake it, or it sees the
    // data and does not sleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return take_wakeup_fenced();
}

// --- consumer ---------------------------------------------------------------------------

RingConsumer::RingConsumer(void* region) noexcept
    : h_(static_cast<RingHeader*>(region)),
      base_(static_cast<uint8_t*>(region)),
      g_{h_->slot_count, h_->slot_size},
      mask_(h_->slot_count - 1),
      meta_size_(h_->meta_size) {
    cons_ = h_->cons.load(std::memory_order_relaxed);
    cached_prod_ = h_->prod.load(std::memory_order_acquire);
    mask_ = load_mask();
}

uint32_t RingConsumer::peek(uint32_t n, uint32_t* idx) noexcept {
    uint32_t avail = cached_prod_ - cons_;
    if (avail < n) {
        // Acquire: pairs with the producer's release in submit(); the slots up to prod are
        // fully written.
        cached_prod_ = h_->prod.load(std::memory_order_acquire);
        // After the acquire: the mask in force for every slot up to cached_prod_ (a newer
        // one places those slots alike: RingProducer::try_grow).
        mask_ = load_mask();
        avail = cached_prod_ - cons_;
        if (avail > g_.slot_count) avail = 0;  // producer state we do not understand
    }
    n = std::min(n, avail);
    if (n) *idx = cons_;
    return n;
}

void RingConsumer::release(uint32_t n) noexcept {
    n = std::min(n, cached_prod_ - cons_);
    cons_ += n;
    // Release: our reads of the released slots complete before the producer may reuse them.
    h_->cons.store(cons_, std::memory_order_release);
}

bool RingConsumer::csum_ok(uint32_t idx) const noexcept {
    // The payload the slot holds, plus what the producer summed for the rest (record.h):
    // __skb_checksum_complete() over the whole datagram. The slot's payload starts at an
    // even offset of the datagram (after the 8-byte header), so the sums chain.
    const SlotMeta& m = meta(idx);
    const std::span<const uint8_t> p = payload(idx);
    const uint8_t rest[2] = {static_cast<uint8_t>(m.csum >> 8), static_cast<uint8_t>(m.csum)};
    return wire::csum_fold(wire::csum_partial(rest, 2, wire::csum_partial(p))) == 0;
}

uint32_t RingConsumer::peek_verified(uint32_t n, uint32_t* idx, bool read) noexcept {
    for (;;) {
        const uint32_t got = peek(n, idx);
        uint32_t good = 0, unverified = 0;
        for (; good < got; ++good) {
            if (!(meta(*idx + good).flags & INGRESS_F_CSUM_UNVERIFIED)) continue;
            if (!csum_ok(*idx + good)) break;
            ++unverified;
        }
        if (good > 0 || got == 0) {
            // Relaxed: counts for the daemon's reports; after a fork two readers may add.
            if (read && unverified) h_->csum_ok.fetch_add(unverified, std::memory_order_relaxed);
            return good;
        }
        // udp_recvmsg: csum_copy_err, then try_again with the next datagram.
        release(1);
        h_->csum_errors.fetch_add(1, std::memory_order_relaxed);
    }
}

bool RingConsumer::prepare_sleep(uint32_t held) noexcept {
    h_->needs_wakeup.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // see RingProducer::take_wakeup
    // A pending error is something to report too (sock_poll: POLLERR when sk_err is set).
    if (h_->prod.load(std::memory_order_acquire) != cons_ + held ||
        h_->sk_err.load(std::memory_order_relaxed) != 0) {
        cancel_sleep();
        return false;
    }
    return true;
}

void RingConsumer::cancel_sleep() noexcept {
    h_->needs_wakeup.store(0, std::memory_order_relaxed);
}

}  // namespace ingress::shm
