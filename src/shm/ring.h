// The app ring: a lock-free single-producer / single-consumer ring in shared memory, one per
// (endpoint, worker). The worker (in ingressd) produces datagrams; the app consumes them.
//
// Layout of a region (every offset pinned by static_assert below; the app and the daemon
// may be built from different versions, so a client checks magic/version/sizes first):
//
//   0     RingHeader   (4 cache lines: identity, producer index, consumer index + wakeup
//                       flag + the reader's counts, producer-side statistics)
//   256   slot 0       slot_size bytes: the record (SlotMeta, src/shm/record.h: header's
//                      meta_size bytes, 72 today) then payload
//   ...   slot n-1
//
// Indices are free-running 32-bit counters (slot = index & slot_mask): the ring is empty when
// prod == cons and full when prod - cons == slot_mask + 1, the *active* slots. The region has
// room for slot_count slots, but the daemon makes only as many active as the endpoint's
// receive budget can hold at once (demux/rcvbuf.h): a memfd page is allocated when first
// written, so slots past the active ones cost address space only. The active count only
// grows (the budget was raised), and only at a point where every queued slot sits at the
// same place under the old and the new mask (an empty ring always qualifies): the producer
// stores the new slot_mask before the prod that publishes the first slot written under it
// (release), and the consumer loads slot_mask after it acquires prod, so both agree on every
// slot between cons and prod (RingProducer::try_grow). Shared memory holds offsets and
// indices only, never pointers.
//
// Trust: the daemon never trusts what an app can write. The fields the app writes are
// `cons`, `needs_wakeup` and its read-time counts (`csum_errors`, `csum_ok`: the daemon
// bounds them by what it delivered on the ring, ShmRings::read_counts); the producer clamps a
// `cons` that makes no sense (ahead of prod, or more than the active slots behind) and treats
// the ring as full, counting the drop — a hostile app can starve itself, never the worker or
// another app.
//
// Protocol (as xsk.h): producer reserve -> fill slots -> submit; consumer peek -> read
// slots -> release. "burst" calls take as many as fit; "bulk" calls all or nothing.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "shm/record.h"

namespace ingress::shm {

inline constexpr uint32_t kRingMagic = 0x494e4752;  // "INGR"
// 2: tp_status; 3: one record, meta_size; 4: read-time checksums (INGRESS_F_CSUM_UNVERIFIED:
// a client that does not verify them must refuse the ring); 5: slot_mask, the active slots (a
// client that wraps over slot_count would read the wrong slots: it must refuse the ring).
inline constexpr uint16_t kRingVersion = 5;
inline constexpr std::size_t kCacheLine = 64;

// The slot's record (src/shm/record.h, C and C++): what recvmsg would give for one datagram.
using SlotMeta = ::ingress_meta;

struct alignas(kCacheLine) RingHeader {
    // Line 0: identity, written once by the daemon before the app maps the region.
    uint32_t magic;
    uint16_t version;
    uint16_t header_size;  // offset of slot 0
    uint32_t slot_size;    // bytes per slot, SlotMeta included
    uint32_t slot_count;   // a power of two
    uint32_t endpoint_id;
    uint32_t worker;
    uint64_t region_size;  // header_size + slot_count * slot_size
    uint32_t meta_size;    // bytes of SlotMeta at the start of each slot: the payload follows
    uint8_t pad0[kCacheLine - 36];
    // Line 1: written by the producer only.
    alignas(kCacheLine) std::atomic<uint32_t> prod;
    // The bytes charged to the endpoint's budget for every slot so far (a running total, mod
    // 2^32; stored before the prod it covers): with the oldest unread slot's rmem_before
    // (record.h), what this ring holds (RingConsumer::rmem(), no walk). For the app; the
    // daemon's own accounting is RingProducer::rmem(). Zero from older daemons.
    std::atomic<uint32_t> rmem_charged;
    // The active slots minus one (slot = index & slot_mask; a power of two minus one, below
    // slot_count): stored by the producer before the prod that publishes the first slot
    // written under it; a consumer loads it after acquiring prod. Version 5.
    std::atomic<uint32_t> slot_mask;
    // Line 2: written by the consumer only.
    alignas(kCacheLine) std::atomic<uint32_t> cons;
    std::atomic<uint32_t> needs_wakeup;  // consumer: "I am about to sleep on the doorbell"
    // --- Error reporting (ICMP errors to endpoints: __udp4_lib_err, raw_err) -----------------
    // In the consumer's line: the app reads it on every receive; the worker writes it only
    // when an ICMP error reaches the endpoint. Both fields were zero in older daemons.
    //   sk_err:       the pending error (sk->sk_err): the worker stores an errno, the app's
    //                 next receive exchanges it with 0 and fails with it once (sock_error()).
    //                 The app may write anything here; the daemon never reads it back.
    //   err_ring_off: written once at init: where this region's error queue starts, a ring
    //                 of its own (RingHeader + slots, err_ring_geometry()) holding
    //                 ingress_sock_err entries (record.h); 0 = no error queue.
    std::atomic<uint32_t> sk_err;
    uint32_t err_ring_off;
    // --- end of error reporting ----------------------------------------------------------
    // The reader's read-time checksum counts (RingConsumer::peek_verified): unverified
    // datagrams it found bad and dropped (UdpInCsumErrors, InErrors, the socket's drops),
    // and those it found intact and returned (UdpInDatagrams, counted at read as
    // udp_recvmsg does). Summed by the daemon when it reports (ShmRings::read_counts).
    std::atomic<uint64_t> csum_errors;
    std::atomic<uint64_t> csum_ok;
    // Line 3: producer-side statistics, readable by the app and by ingressctl.
    alignas(kCacheLine) std::atomic<uint64_t> delivered;  // datagrams submitted
    std::atomic<uint64_t> dropped_full;  // datagrams dropped: ring full (RcvbufErrors)
    std::atomic<uint64_t> truncated;     // datagrams cut to the slot (MSG_TRUNC)
    std::atomic<uint64_t> wakeups;       // doorbell rings sent
};
static_assert(sizeof(RingHeader) == 4 * kCacheLine);
static_assert(offsetof(RingHeader, magic) == 0);
static_assert(offsetof(RingHeader, version) == 4);
static_assert(offsetof(RingHeader, header_size) == 6);
static_assert(offsetof(RingHeader, slot_size) == 8);
static_assert(offsetof(RingHeader, slot_count) == 12);
static_assert(offsetof(RingHeader, endpoint_id) == 16);
static_assert(offsetof(RingHeader, worker) == 20);
static_assert(offsetof(RingHeader, region_size) == 24);
static_assert(offsetof(RingHeader, meta_size) == 32);
static_assert(offsetof(RingHeader, prod) == 64);
static_assert(offsetof(RingHeader, rmem_charged) == 68);
static_assert(offsetof(RingHeader, slot_mask) == 72);
static_assert(offsetof(RingHeader, cons) == 128);
static_assert(offsetof(RingHeader, needs_wakeup) == 132);
static_assert(offsetof(RingHeader, sk_err) == 136);
static_assert(offsetof(RingHeader, err_ring_off) == 140);
static_assert(offsetof(RingHeader, csum_errors) == 144);
static_assert(offsetof(RingHeader, csum_ok) == 152);
static_assert(offsetof(RingHeader, delivered) == 192);
static_assert(offsetof(RingHeader, dropped_full) == 200);
static_assert(offsetof(RingHeader, truncated) == 208);
static_assert(offsetof(RingHeader, wakeups) == 216);
static_assert(std::atomic<uint32_t>::is_always_lock_free &&
                  std::atomic<uint64_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free");

struct RingGeometry {
    uint32_t slot_count;  // power of two, kMinSlots..kMaxSlots
    uint32_t slot_size;   // multiple of 64, >= kMinSlotSize

    // The geometry rules, for everyone who checks a ring's shape (the daemon's config and
    // registry, ring_check() in the app).
    static constexpr uint32_t kMinSlots = 2;
    static constexpr uint32_t kMaxSlots = 1u << 24;
    static constexpr uint32_t kMinSlotSize = 128;  // SlotMeta + at least 56 payload bytes
    static constexpr bool slot_count_ok(uint32_t n) noexcept {
        return n >= kMinSlots && n <= kMaxSlots && (n & (n - 1)) == 0;
    }
    static constexpr bool slot_size_ok(uint32_t s) noexcept {
        return s >= kMinSlotSize && s % kCacheLine == 0;
    }
    // A requested slot count made valid: rounded up to a power of two, at least kMinSlots
    // (`n` at most kMaxSlots).
    static constexpr uint32_t round_slots(uint32_t n) noexcept {
        return n <= kMinSlots ? kMinSlots : std::bit_ceil(n);
    }

    static constexpr std::size_t header_size() noexcept { return sizeof(RingHeader); }
    std::size_t region_size() const noexcept {
        return header_size() + std::size_t{slot_count} * slot_size;
    }
    uint32_t max_payload() const noexcept { return slot_size - sizeof(SlotMeta); }
    bool valid() const noexcept { return slot_count_ok(slot_count) && slot_size_ok(slot_size); }
};

// The error queue's shape (sock_queue_err_skb's queue): each slot holds the record, an
// ingress_sock_err and up to 928 bytes of the quoted payload (an ICMP error quotes at most
// 576 bytes of the IP datagram from RFC 1812 routers). The slot count is the daemon's choice
// (demux::err_queue_slots(): as many entries as the endpoint's receive budget can hold, since
// each is charged to it); the app reads it from the queue's own header.
inline constexpr uint32_t kErrSlotSize = 1024;
constexpr RingGeometry err_ring_geometry(uint32_t slots) noexcept {
    return RingGeometry{slots, kErrSlotSize};
}

// Writes the header of a fresh region (the daemon, before handing the memfd to the app).
void ring_init(void* region, const RingGeometry& g, uint32_t endpoint_id, uint32_t worker);

// Places the error queue (`eg`) after the data ring of a region ring_init wrote
// (`region_size`: the whole mapping, at least the data ring's plus eg.region_size()) and
// records its offset in the data ring's header (err_ring_off).
void ring_init_err_queue(void* region, std::size_t region_size, const RingGeometry& eg,
                         uint32_t endpoint_id, uint32_t worker);
// The app's side: the error queue's ring in a mapped region whose data ring passed
// ring_check, or nullptr (an older daemon, or an offset that makes no sense).
void* err_queue_of(void* region, std::size_t mapped_size) noexcept;

// Why a mapped region is not usable, or kOk.
enum class RingCheck : uint8_t { kOk, kTooSmall, kBadMagic, kBadVersion, kBadGeometry };
RingCheck ring_check(const void* region, std::size_t mapped_size) noexcept;
const char* ring_check_str(RingCheck c) noexcept;

// The producer side (the worker). Not thread-safe: one producer per ring.
class RingProducer {
public:
    RingProducer() = default;
    // `region` was initialised by ring_init (the daemon's own mapping; geometry is taken
    // from the daemon's copy, never re-read from shared memory) and has no slot queued yet.
    // `active`: the slots in use at first (active_slots(); 0: all of them). Allocates the
    // charge entries (std::bad_alloc).
    RingProducer(void* region, const RingGeometry& g, uint32_t active = 0);

    // The active slots: the ring is full when this many are queued. Any thread (relaxed).
    uint32_t active_slots() const noexcept {
        return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(mask_))
                   .load(std::memory_order_relaxed) +
               1;
    }
    // Raises the active slots to `slots` (rounded up to a power of two, at most slot_count):
    // at once when every slot queued (cons to prod) sits at the same place under both masks
    // (an empty ring, or one whose queued indices all fall in the first old-ring-sized part
    // of a new-ring-sized block), else false: the caller tries again on a later push. Never
    // shrinks (true when already as large). Between submits only (nothing reserved).
    [[nodiscard]] bool try_grow(uint32_t slots) noexcept;

    // As many free slots as available, up to n; *idx gets the first index. 0 when full.
    uint32_t reserve_burst(uint32_t n, uint32_t* idx) noexcept;
    // Exactly n slots or none.
    uint32_t reserve_bulk(uint32_t n, uint32_t* idx) noexcept {
        return free_slots(n) >= n ? reserve_burst(n, idx) : 0;
    }
    SlotMeta& meta(uint32_t idx) noexcept { return *reinterpret_cast<SlotMeta*>(slot(idx)); }
    uint8_t* payload(uint32_t idx) noexcept { return slot(idx) + sizeof(SlotMeta); }
    uint32_t max_payload() const noexcept { return g_.max_payload(); }
    // Publishes the n slots reserved last.
    void submit(uint32_t n) noexcept;

    // One datagram, the one way a slot is filled: reserves a slot, copies head ++ body (cut
    // to max_payload and flagged INGRESS_F_TRUNCATED, as MSG_TRUNC does), zeroes the slot's
    // record and lets `fill(SlotMeta&)` write it in place (orig_len is the full length
    // unless fill set it; drops is the ring's dropped_full so far), publishes it, and counts
    // delivered / truncated / dropped_full in the header. `charge`: the bytes the slot holds
    // against the endpoint's receive budget until the app releases it (rmem()). `tail`:
    // bytes stored right after the payload (the IP options, record.h), never cut: the payload
    // gets max_payload - tail.size() bytes of room (callers pass a tail only when it fits
    // max_payload()). False when full.
    template <class Fill>
    [[nodiscard]] bool try_push_with(Fill&& fill, std::span<const uint8_t> head,
                                     std::span<const uint8_t> body = {}, uint32_t charge = 0,
                                     std::span<const uint8_t> tail = {}) noexcept {
        uint32_t idx;
        if (reserve_burst(1, &idx) == 0) {
            count_drop();
            return false;
        }
        const uint32_t before = total_;
        note_charge(idx, charge);
        const std::size_t total = head.size() + body.size();
        if (tail.size() > max_payload()) [[unlikely]]
            tail = {};
        const std::size_t room = max_payload() - tail.size();
        const std::size_t h = head.size() < room ? head.size() : room;
        const std::size_t b = body.size() < room - h ? body.size() : room - h;
        uint8_t* dst = payload(idx);
        if (h) std::memcpy(dst, head.data(), h);
        if (b) std::memcpy(dst + h, body.data(), b);
        if (!tail.empty()) [[unlikely]]
            std::memcpy(dst + h + b, tail.data(), tail.size());
        SlotMeta& out = meta(idx);
        out = SlotMeta{};
        fill(out);
        // SO_RXQ_OVFL: the drops so far (the daemon's count, not the header's copy).
        out.drops = static_cast<uint32_t>(counts_.dropped);
        out.len = static_cast<uint32_t>(h + b);
        if (out.orig_len == 0) out.orig_len = static_cast<uint32_t>(total);
        if (h + b < total) {
            out.flags = static_cast<uint16_t>(out.flags | INGRESS_F_TRUNCATED);
            count_truncated();
        }
        out.rmem_before = before;
        h_->rmem_charged.store(total_, std::memory_order_relaxed);  // ordered by submit's release
        submit(1);
        // The next push's slot lines, for write, while this ring is at hand: with many
        // endpoints the ring's next datagram comes many others later, and finds them in the
        // cache instead of memory (a hint: changes nothing; one endpoint has them anyway).
        prefetch_slot(prod_);
        return true;
    }
    // The same with ready-made metadata.
    [[nodiscard]] bool try_push(const SlotMeta& m, std::span<const uint8_t> payload) noexcept {
        return try_push_with([&m](SlotMeta& out) noexcept { out = m; }, payload);
    }
    // Counts a datagram the caller dropped because the ring was full.
    void count_drop() noexcept;
    // Counts a datagram the caller cut to the slot (after filling it, before submit).
    void count_truncated() noexcept { count(counts_.truncated, h_->truncated); }

    // After a burst of submits: true when the consumer asked to be woken; clears the flag
    // (the caller then calls count_wakeup() and rings the doorbell once).
    bool take_wakeup() noexcept;
    // take_wakeup() without its fence, for a caller that issued one full fence after its
    // last submit to any ring: one fence orders every earlier prod store before every later
    // needs_wakeup load, so a burst that touched many rings pays one fence, not one each.
    bool take_wakeup_fenced() noexcept {
        if (h_->needs_wakeup.load(std::memory_order_relaxed) == 0) return false;
        h_->needs_wakeup.store(0, std::memory_order_relaxed);
        return true;
    }
    // The needs_wakeup flag lives on the consumer's line: fetch it early when a burst first
    // touches the ring, so the check at the burst's end does not wait for it.
    void prefetch_wakeup() const noexcept { __builtin_prefetch(&h_->needs_wakeup); }
    void count_wakeup() noexcept { count(counts_.wakeups, h_->wakeups); }

    // The daemon's own counts. The header's delivered / dropped_full / truncated / wakeups
    // are copies for the app, which can write them: each count stores this value there
    // (overwriting whatever the app wrote, never adding to it), and the daemon reports these
    // (ingressctl endpoints). Another thread may read them (relaxed).
    uint64_t delivered() const noexcept { return read(counts_.delivered); }
    uint64_t dropped() const noexcept { return read(counts_.dropped); }
    uint64_t truncated() const noexcept { return read(counts_.truncated); }

    // Byte accounting (the endpoint's SO_RCVBUF budget, demux/rcvbuf.h): what the slots the
    // app has not released yet were charged, the kernel's sk_rmem_alloc. The charges live in
    // the daemon's memory, one entry per slot (its index and the running total before it),
    // never in the region: the app only moves `cons`, which releases exactly what those
    // slots were charged, so it cannot queue more than its budget by lying.
    //   rmem():          the producer, after reading `cons` (exact).
    //   rmem_cached():   the producer, from the last `cons` it read (never below rmem()).
    //   rmem_snapshot(): any thread (the control thread, another worker); a slot the
    //                    producer reuses meanwhile is detected by its index.
    //   rmem_published(): any thread; what the producer had queued after its last push
    //                    (never below what it has queued now, since only a push adds).
    uint32_t rmem() noexcept;
    uint32_t rmem_cached() const noexcept { return rmem_at(cached_cons_); }
    uint32_t rmem_snapshot() const noexcept;
    uint32_t rmem_published() const noexcept {
        return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(published_))
            .load(std::memory_order_relaxed);
    }

    RingHeader* header() noexcept { return h_; }

    // Asks the cache for what the next try_push_with() writes (the header's producer and
    // statistics lines, the next slot's record and payload lines, its charge entry) a burst
    // before it runs: the lines of many endpoints' rings then arrive in parallel
    // (demux::udp_prefetch). A hint: reads no shared memory, changes nothing.
    void prefetch_next() const noexcept {
        const uint32_t idx = prod_ + reserved_;
        __builtin_prefetch(&h_->prod, 1);
        __builtin_prefetch(&h_->delivered, 1);
        prefetch_slot(idx);
        if (charges_) {
            __builtin_prefetch(&charges_[idx & mask_], 1);
            __builtin_prefetch(&charges_[cached_cons_ & mask_]);
        }
    }

private:
    // Slot `idx`'s record and payload lines (the record spans two), for write.
    void prefetch_slot(uint32_t idx) const noexcept {
        const uint8_t* s = base_ + g_.header_size() + std::size_t{idx & mask_} * g_.slot_size;
        __builtin_prefetch(s, 1);
        __builtin_prefetch(s + kCacheLine, 1);
    }
    // Records slot `idx`'s charge (its entry: index << 32 | running total before it).
    void note_charge(uint32_t idx, uint32_t charge) noexcept {
        std::atomic_ref<uint64_t>(charges_[idx & mask_])
            .store(uint64_t{idx} << 32 | total_, std::memory_order_relaxed);
        total_ += charge;
        std::atomic_ref<uint32_t>(total_shown_).store(total_, std::memory_order_relaxed);
        std::atomic_ref<uint32_t>(published_)
            .store(rmem_at(cached_cons_), std::memory_order_relaxed);
    }
    // Bytes charged from slot `cons` up to the last one reserved (producer thread).
    uint32_t rmem_at(uint32_t cons) const noexcept {
        if (cons == prod_ + reserved_ || !charges_) return 0;
        return total_ - static_cast<uint32_t>(charges_[cons & mask_]);
    }
    uint32_t free_slots(uint32_t want) noexcept;
    uint8_t* slot(uint32_t idx) noexcept {
        return base_ + g_.header_size() + std::size_t{idx & mask_} * g_.slot_size;
    }
    // This producer is the only writer of `mine`; the header's `shown` gets its value.
    static void count(uint64_t& mine, std::atomic<uint64_t>& shown, uint64_t n = 1) noexcept {
        const uint64_t v = mine + n;
        std::atomic_ref<uint64_t>(mine).store(v, std::memory_order_relaxed);
        shown.store(v, std::memory_order_relaxed);
    }
    static uint64_t read(const uint64_t& c) noexcept {
        return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(c)).load(std::memory_order_relaxed);
    }

    struct Counts {
        alignas(8) uint64_t delivered = 0;
        alignas(8) uint64_t dropped = 0;
        alignas(8) uint64_t truncated = 0;
        alignas(8) uint64_t wakeups = 0;
    };
    Counts counts_;

    RingHeader* h_ = nullptr;
    uint8_t* base_ = nullptr;
    RingGeometry g_{};
    // The active slots minus one; the producer is its only writer (stored through atomic_ref
    // for active_slots() and rmem_snapshot() on other threads).
    alignas(4) uint32_t mask_ = 0;
    uint32_t prod_ = 0;         // private copy of prod (the producer is its only writer)
    uint32_t cached_cons_ = 0;  // last consumer index seen
    uint32_t reserved_ = 0;     // reserved but not yet submitted
    // Byte accounting: one entry per slot, the running total of charges (mod 2^32: what is
    // queued stays far below), its copy for other threads, and rmem after the last push.
    // calloc'ed: zero (a slot never written releases nothing: rmem_at() then counts every
    // charge), and a large array's pages stay unallocated until its slots are used (an
    // error queue sized for the budget is mostly never filled).
    struct Free {
        void operator()(uint64_t* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<uint64_t[], Free> charges_;
    uint32_t total_ = 0;
    alignas(8) uint32_t total_shown_ = 0;
    alignas(8) uint32_t published_ = 0;
};

// The consumer side (the app). Not thread-safe: one consumer per ring.
class RingConsumer {
public:
    RingConsumer() = default;
    // Call ring_check() first; geometry is read once here and kept privately.
    explicit RingConsumer(void* region) noexcept;

    // As many filled slots as available, up to n; *idx gets the first index. 0 when empty.
    uint32_t peek(uint32_t n, uint32_t* idx) noexcept;
    const SlotMeta& meta(uint32_t idx) const noexcept {
        return *reinterpret_cast<const SlotMeta*>(slot(idx));
    }
    // The payload starts meta_size bytes into the slot (a longer record from a newer daemon
    // is skipped); a len beyond the slot is bounded, never trusted.
    std::span<const uint8_t> payload(uint32_t idx) const noexcept {
        const SlotMeta& m = meta(idx);
        const uint32_t room = g_.slot_size - meta_size_;
        return {slot(idx) + meta_size_, m.len <= room ? m.len : room};
    }
    // Gives the n oldest peeked slots back to the producer.
    void release(uint32_t n) noexcept;
    // The bytes the slots not yet released were charged (sk_rmem_alloc of this ring, as
    // SO_MEMINFO's SK_MEMINFO_RMEM_ALLOC): the header's rmem_charged minus the oldest unread
    // slot's rmem_before; no walk. `held`: the oldest peeked slots the reader has already
    // handed out (not counted, as the kernel uncharges a datagram recvmsg returned). A
    // datagram the producer is filling may already be counted.
    uint32_t rmem(uint32_t held = 0) const noexcept {
        // Acquire: the slot after the held ones is fully written, and rmem_charged covers it.
        const uint32_t prod = h_->prod.load(std::memory_order_acquire);
        if (prod - cons_ <= held || prod - cons_ > g_.slot_count) return 0;
        // After the acquire: the mask that places every slot up to prod (ring.h, top).
        const uint32_t mask = load_mask();
        const auto& m = *reinterpret_cast<const SlotMeta*>(slot(cons_ + held, mask));
        return h_->rmem_charged.load(std::memory_order_relaxed) - m.rmem_before;
    }
    // The active slots, as the last peek() saw them.
    uint32_t active_slots() const noexcept { return mask_ + 1; }

    // peek() with udp_recvmsg()'s read-time checksum, for a reader that holds no peeked
    // slot: each INGRESS_F_CSUM_UNVERIFIED slot is verified (csum_ok); a bad one at the head
    // is released and counted in csum_errors, as csum_copy_err drops it from the queue
    // (MSG_PEEK too: __sk_queue_drop_skb unlinks a peeked skb and counts it), and the next
    // one is looked at; a bad one further on ends the burst before it (it is at the head
    // next time). `read`: the slots returned are being read (not peeked, not measured for
    // FIONREAD): the unverified ones among them count in csum_ok (UdpInDatagrams).
    uint32_t peek_verified(uint32_t n, uint32_t* idx, bool read) noexcept;

    // Sleep protocol: prepare_sleep() sets needs_wakeup and returns true if the ring is
    // still empty (then block on the doorbell); false means data arrived meanwhile. `held`:
    // slots peeked and not yet released, which are not new data.
    bool prepare_sleep(uint32_t held = 0) noexcept;
    void cancel_sleep() noexcept;

    const RingHeader* header() const noexcept { return h_; }
    const RingGeometry& geometry() const noexcept { return g_; }

    // The pending error (RingHeader::sk_err). take_sk_err(): sock_error(), reads and clears
    // it (0: none); set_sk_err(): what ip_recv_error leaves after dequeuing an entry.
    uint32_t sk_err() const noexcept { return h_->sk_err.load(std::memory_order_relaxed); }
    uint32_t take_sk_err() noexcept {
        if (h_->sk_err.load(std::memory_order_relaxed) == 0) return 0;
        return h_->sk_err.exchange(0, std::memory_order_acq_rel);
    }
    void set_sk_err(uint32_t err) noexcept { h_->sk_err.store(err, std::memory_order_relaxed); }

private:
    bool csum_ok(uint32_t idx) const noexcept;

    const uint8_t* slot(uint32_t idx, uint32_t mask) const noexcept {
        return base_ + g_.header_size() + std::size_t{idx & mask} * g_.slot_size;
    }
    const uint8_t* slot(uint32_t idx) const noexcept { return slot(idx, mask_); }
    // The header's slot_mask, bounded by the region (the daemon writes it; whatever it holds,
    // no slot outside the mapping is read). Call after an acquire of prod.
    uint32_t load_mask() const noexcept {
        return h_->slot_mask.load(std::memory_order_relaxed) & (g_.slot_count - 1);
    }

    RingHeader* h_ = nullptr;
    uint8_t* base_ = nullptr;
    RingGeometry g_{};
    uint32_t mask_ = 0;                      // slot_mask as loaded after the last acquire of prod
    uint32_t meta_size_ = sizeof(SlotMeta);  // the header's, checked by ring_check
    uint32_t cons_ = 0;                      // private copy of cons
    uint32_t cached_prod_ = 0;               // last producer index seen
};

}  // namespace ingress::shm
