// What an endpoint receives, and where it arrives: the endpoint's shared-memory rings.
//
// Kernel-equivalent: the socket receive queue (sk_receive_queue) plus what recvmsg() hands
// the application with it: the datagram bytes, the source address (msg_name), IP_PKTINFO
// (ingress ifindex, destination address), SO_TIMESTAMPNS, PACKET_AUXDATA (vlan, status) and
// MSG_TRUNC. An endpoint delivers into its ShmRings: one shm::RingProducer per worker in a
// sealed memfd the app maps (src/shm/ring.h), plus the wakeup doorbell. The stage writes the
// slot's record (shm::SlotMeta, src/shm/record.h) in place, and the app reads that same
// record: there is no other shape of a datagram's metadata.
//
// Hot-path discipline: every slot is preallocated when the rings are created; try_emplace
// copies into a slot and never allocates, blocks or throws. A full ring refuses the
// datagram (the caller counts SOCKET_RCVBUFF / RcvbufErrors): the worker never stalls on a
// slow app. One ring per worker, each with its single producer; the ring has the
// acquire/release pairs.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "core/counters.h"
#include "core/packet.h"
#include "demux/rcvbuf.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "wire/ethernet.h"

namespace ingress::demux {

// The VLAN tag the frame carried, when there was one (PACKET_AUXDATA's tp_vlan_tci /
// tp_vlan_tpid for taps; the same facts for UDP and raw endpoints).
inline void set_vlan(shm::SlotMeta& m, const core::Packet& pkt) noexcept {
    if (!(pkt.flags & core::kFlagVlan)) return;
    m.vlan_tci = pkt.vlan_tci;
    m.vlan_tpid = pkt.vlan_tpid;
    m.flags |= INGRESS_F_VLAN | INGRESS_F_VLAN_TPID;
}

// SO_TIMESTAMPNS (rx_ns, the backend's clock) and SO_TIMESTAMPING's hardware stamp when the
// backend left one (core::kFlagHwTstamp: the driver gave it, as skb_hwtstamps() is set).
// After the record's flags are set (it adds INGRESS_F_HW_TSTAMP).
inline void set_timestamps(shm::SlotMeta& m, const core::Packet& pkt) noexcept {
    m.rx_ns = pkt.rx_ns;
    if (!(pkt.flags & core::kFlagHwTstamp)) [[likely]]
        return;
    m.hw_ns = pkt.hw_tstamp();
    m.flags |= INGRESS_F_HW_TSTAMP;
}

// sll_addr: the frame's Ethernet source (packet_rcv() -> dev_parse_header()).
inline void set_src_mac(shm::SlotMeta& m, const core::Packet& pkt) noexcept {
    if (pkt.l3_off < wire::EthernetView::kHeaderLen) return;
    std::memcpy(m.src_mac, pkt.data + wire::EthernetView::kSrcOff, sizeof m.src_mac);
}

class ShmRings;

// Endpoints whose ring got a datagram during the burst, so the worker checks each one's
// needs-wakeup flag once at burst end (one doorbell send per sleeping app per burst, no
// syscall at all when no app sleeps). Fixed capacity: an endpoint that does not fit is
// checked at once instead.
class WakeupList {
public:
    static constexpr std::size_t kCapacity = 512;
    void note(ShmRings& r, uint16_t worker) noexcept;
    // Checks and signals every noted endpoint; empties the list.
    void flush(uint16_t worker) noexcept;
    std::size_t size() const noexcept { return n_; }

private:
    std::array<ShmRings*, kCapacity> list_{};
    std::size_t n_ = 0;
};

// A datagram's charge against its endpoint's receive budget (SO_RCVBUF, demux/rcvbuf.h).
struct RcvBudget {
    uint32_t truesize = 0;  // what the datagram costs (the modelled skb truesize)
    uint32_t rcvbuf = 0;    // the endpoint's sk_rcvbuf
};

// Which worker is delivering, and where it collects wakeups (nullptr: check at once).
struct DeliveryCtx {
    uint16_t worker = 0;
    WakeupList* wakeups = nullptr;
};

// The receive budgets a new endpoint's rings start from (its sk_rcvbuf; 0: no budget, every
// slot active). Each ring's active slots follow them (rcv_queue_slots(), err_queue_slots():
// the most datagrams or entries the budget can hold at once), and grow on the first push
// that brings a larger budget (RcvBudget) while the ring allows it (shm::RingProducer::
// try_grow).
struct RingBudgets {
    uint32_t data = 0;  // the data rings': UDP endpoints
    uint32_t err = 0;   // the error queues': UDP and raw endpoints
};

// An endpoint's shared-memory side: one sealed memfd ring per worker and one doorbell,
// created by the control plane (allocates, may throw); the worker only pushes.
class ShmRings {
public:
    // `err_slots`: each worker's error queue (err_queue_slots() of the largest receive budget
    // the endpoint is expected to have). `budgets`: what the active slots start from.
    ShmRings(uint32_t endpoint_id, uint16_t workers, const shm::RingGeometry& g,
             uint32_t err_slots = kDefaultErrSlots, RingBudgets budgets = {});
    // Room for SO_RCVBUF at the compiled-in rmem_max (511 entries of the smallest charge).
    static constexpr uint32_t kDefaultErrSlots = err_queue_slots(so_rcvbuf(kRmemMax, kRmemMax));
    ShmRings(const ShmRings&) = delete;
    ShmRings& operator=(const ShmRings&) = delete;

    // One datagram into the delivering worker's ring (`ctx`; nullptr: worker 0): copies
    // head ++ body (a gather of two pieces: a tap's rebuilt link header and the rest; cut to
    // the slot, INGRESS_F_TRUNCATED, counted in the header's `truncated`) and lets
    // `fill(shm::SlotMeta&)` write the zeroed record in place. False, with `dropped_full`
    // counted, when the ring is full, or when `budget` is given and the endpoint's queued
    // bytes (every worker's ring) leave no room for it (rcvbuf_admits()).
    template <class Fill>
    [[nodiscard]] bool try_emplace(Fill&& fill, std::span<const uint8_t> head,
                                   std::span<const uint8_t> body = {},
                                   const DeliveryCtx* ctx = nullptr,
                                   const RcvBudget* budget = nullptr,
                                   std::span<const uint8_t> tail = {}) noexcept {
        const uint16_t worker = ctx ? ctx->worker : 0;
        // A worker index beyond the endpoint's rings is a configuration error (the
        // registry's worker count must match the daemon's): refuse rather than write out of
        // bounds.
        if (worker >= w_.size()) [[unlikely]]
            return false;
        PerWorker& w = w_[worker];
        if (budget) {
            if (wants_grow(w.prod, g_.slot_count, budget->rcvbuf, false)) [[unlikely]]
                grow(worker, budget->rcvbuf, false);
            if (!admit(worker, *budget, false)) {
                w.prod.count_drop();
                return false;
            }
        }
        if (!w.prod.try_push_with(fill, head, body, budget ? budget->truesize : 0, tail)) {
            // dropped_full: the app sees it in the ring header. The budget admitted it: a
            // grow the queued slots still hold back (grow_dropped()).
            if (budget && wants_grow(w.prod, g_.slot_count, budget->rcvbuf, false)) [[unlikely]]
                count_grow_drop(w.grow_drops);
            return false;
        }
        if (ctx && ctx->wakeups)
            ctx->wakeups->note(*this, worker);
        else
            wake(worker);
        return true;
    }
    // Errors (ICMP errors to endpoints, demux/sock_err.h). report_error(): sk->sk_err = err
    // and sk_error_report(): the delivering worker's ring's pending-error word (the app's
    // next receive fails with it once), then the app is woken (POLLERR).
    void report_error(uint32_t err, const DeliveryCtx* ctx = nullptr) noexcept;
    // sock_queue_err_skb(): one entry on the delivering worker's error queue (IP_RECVERR):
    // the record `fill` writes, then head ++ body, cut to the slot. With `budget`, the entry
    // is charged its truesize against the endpoint's receive budget, the same bytes as its
    // datagrams (sk_rmem_alloc), until the app reads it, and refused when the endpoint's
    // queued bytes, datagrams and entries of every worker, leave no room
    // (err_queue_admits()). False, counted in err_dropped(), when refused or when the queue
    // is full (its slot count is sized so that the budget comes first, up to
    // kErrQueueMaxSlots).
    template <class Fill>
    [[nodiscard]] bool try_queue_error(Fill&& fill, std::span<const uint8_t> head,
                                       std::span<const uint8_t> body,
                                       const DeliveryCtx* ctx = nullptr,
                                       const RcvBudget* budget = nullptr) noexcept {
        const uint16_t worker = ctx ? ctx->worker : 0;
        if (worker >= w_.size()) [[unlikely]]
            return false;
        shm::RingProducer& q = w_[worker].errq;
        if (!w_[worker].has_errq) [[unlikely]]
            return false;
        if (budget) {
            if (wants_grow(q, eg_slots_, budget->rcvbuf, true)) [[unlikely]]
                grow(worker, budget->rcvbuf, true);
            if (!admit(worker, *budget, true)) {
                q.count_drop();
                return false;
            }
        }
        if (!q.try_push_with(fill, head, body, budget ? budget->truesize : 0)) {
            if (budget && wants_grow(q, eg_slots_, budget->rcvbuf, true)) [[unlikely]]
                count_grow_drop(w_[worker].err_grow_drops);
            return false;
        }
        if (ctx && ctx->wakeups)
            ctx->wakeups->note(*this, worker);
        else
            wake(worker);
        return true;
    }
    // Error-queue entries queued and dropped (queue full), summed over the workers.
    uint64_t err_queued() const noexcept;
    uint64_t err_dropped() const noexcept;

    // The needs-wakeup check for one worker's ring: rings the doorbell if the app sleeps.
    void wake(uint16_t worker) noexcept;
    // wake() after the caller's full fence (WakeupList::flush: one for the whole burst).
    void wake_fenced(uint16_t worker) noexcept;
    // The burst-ahead walk's hints (demux::udp_prefetch): the worker's producer state, then
    // what its next push writes. Reads only the daemon's own memory.
    void prefetch_producer(uint16_t worker) const noexcept {
        if (worker >= w_.size()) return;
        // Every line of it, wherever the allocation placed it: the push reads and writes the
        // producer (the middle lines), the budget check the error queue's published bytes
        // and the wakeup list the pending flag (the last one).
        const auto* p = reinterpret_cast<const char*>(&w_[worker]);
        for (std::size_t off = 0; off < sizeof(PerWorker); off += shm::kCacheLine)
            __builtin_prefetch(p + off);
        __builtin_prefetch(p + sizeof(PerWorker) - 1);
    }
    void prefetch_next_slot(uint16_t worker) const noexcept {
        if (worker < w_.size()) w_[worker].prod.prefetch_next();
    }
    // Closes the daemon's fds (every ring's memfd, both doorbell ends) and keeps the
    // mappings: delivery goes on, nothing can be handed to an app and no wakeup is sent.
    // For in-process benchmarks whose endpoints would need more than RLIMIT_NOFILE (three
    // fds per endpoint with one worker).
    void close_fds() noexcept {
        for (PerWorker& w : w_) w.region.close_fd();
        bell_ = shm::Doorbell{};
    }

    uint16_t workers() const noexcept { return static_cast<uint16_t>(w_.size()); }
    uint32_t endpoint_id() const noexcept { return endpoint_id_; }
    // The producer index of one worker's ring: the next slot it fills (a trace reads it
    // after a delivery: the slot was this minus one).
    uint32_t prod_index(uint16_t worker) const noexcept;
    const shm::Region& region(uint16_t worker) const noexcept { return w_[worker].region; }
    const shm::Doorbell& doorbell() const noexcept { return bell_; }
    const shm::RingGeometry& geometry() const noexcept { return g_; }
    // Sums over the workers' producers: the daemon's own counts, which the app cannot write
    // (the ring headers carry copies for the app).
    uint64_t delivered() const noexcept;
    uint64_t dropped() const noexcept;
    uint64_t truncated() const noexcept;
    // Slots filled and not yet released by the app, summed over the rings (a consumer index
    // that makes no sense counts as a full ring, as the producer treats it).
    uint64_t used() const noexcept;
    // The active slots, summed over the data rings (each at most geometry().slot_count), and
    // one worker's data ring's and error queue's.
    uint64_t active_slots() const noexcept;
    uint32_t active_slots(uint16_t worker) const noexcept;
    uint32_t err_active_slots(uint16_t worker) const noexcept;
    // Datagrams (and error-queue entries) dropped as ring full although the budget admitted
    // them: the budget was raised while the ring held slots that keep it from growing yet
    // (counted in dropped() / err_dropped() too, as SOCKET_RCVBUFF; the kernel would have
    // queued them). Summed over the workers, from any thread.
    uint64_t grow_dropped() const noexcept;
    uint64_t err_grow_dropped() const noexcept;
    // Bytes charged for them and for the error queues' entries (sk_rmem_alloc,
    // /proc/net/udp rx_queue), from any thread.
    uint64_t rmem() const noexcept;
    // What the app's reads counted (the ring headers' csum_errors and csum_ok: udp_recvmsg's
    // read-time checksum), of one worker's ring or summed over them. The app writes them, so
    // each ring's are bounded by what the daemon delivered on it: an app can inflate its own
    // counts by no more than its datagrams. From any thread.
    struct ReadCounts {
        uint64_t csum_errors = 0;  // UdpInCsumErrors, UdpInErrors, the endpoint's drops
        uint64_t csum_ok = 0;      // UdpInDatagrams of datagrams verified at read
        ReadCounts& operator+=(const ReadCounts& o) noexcept {
            csum_errors += o.csum_errors;
            csum_ok += o.csum_ok;
            return *this;
        }
        // Into a worker's counters, as udp_recvmsg counts them.
        void add_to(core::Snapshot& s) const noexcept;
    };
    ReadCounts read_counts(uint16_t worker) const noexcept;
    ReadCounts read_counts() const noexcept;

private:
    // The budget check for one datagram (`error`: one error-queue entry, err_queue_admits();
    // else rcvbuf_admits()) delivered by `worker`, against what the data rings and the error
    // queues hold: first from upper bounds of what each ring holds (no shared cache line
    // read), then, only when that refuses, from the consumer indices the app wrote.
    bool admit(uint16_t worker, const RcvBudget& b, bool error) noexcept;
    // Does a budget of `rcvbuf` want more active slots than ring `p` (of `slots`) has: for
    // the data ring rcv_queue_slots(rcvbuf) > active, i.e. rcvbuf / 832 > active; for an
    // error queue err_queue_slots(): (rcvbuf - 1) / 832 > active. Reads only the producer's
    // own mask (on the line the push uses anyway).
    static bool wants_grow(const shm::RingProducer& p, uint32_t slots, uint32_t rcvbuf,
                           bool error) noexcept {
        const uint32_t active = p.active_slots();
        const uint64_t more = uint64_t{active + 1} * skb_truesize(0);  // a budget for active + 1
        return active < slots && (error ? rcvbuf > more : rcvbuf >= more);
    }
    // A budget above what the active slots of the data ring (`error`: the error queue) were
    // sized for: raises them if the ring allows it now (else the next push tries again).
    void grow(uint16_t worker, uint32_t rcvbuf, bool error) noexcept;
    static void count_grow_drop(uint64_t& n) noexcept {
        std::atomic_ref<uint64_t>(n).store(n + 1, std::memory_order_relaxed);
    }
    friend class WakeupList;
    struct PerWorker {
        shm::Region region;
        shm::RingProducer prod;
        shm::RingProducer errq;  // the error queue (err_ring_geometry()) in the same region
        alignas(8) uint64_t grow_drops = 0;  // grow_dropped(), err_grow_dropped()
        alignas(8) uint64_t err_grow_drops = 0;
        bool has_errq = false;
        bool pending = false;  // in this worker's WakeupList for the current burst
    };
    std::vector<PerWorker> w_;
    uint32_t endpoint_id_ = 0;
    shm::Doorbell bell_;
    shm::RingGeometry g_;
    uint32_t eg_slots_ = 0;  // the error queues' slot_count
};

}  // namespace ingress::demux
