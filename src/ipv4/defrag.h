// IPv4 reassembly: the kernel's ip_defrag() for IP_DEFRAG_LOCAL_DELIVER.
//
// Kernel-equivalent: net/ipv4/ip_fragment.c ip_defrag(), ip_find(), ip_frag_queue(),
//         ip_frag_too_far()/ip_frag_reinit(), ip_frag_reasm(), ip_expire(); and
//         net/ipv4/inet_fragment.c inet_frag_find() (memory limit), inet_frag_queue_insert()
//         (runs, duplicates, RFC 5722 overlaps), inet_frag_kill()/inet_frag_destroy().
// Reads:  pkt.l3_off, pkt.l4_off, pkt.len (trimmed by rcv_core), pkt.saddr, pkt.daddr,
//         pkt.ip_id, pkt.ip_proto, pkt.frag_off, pkt.tos.
// Writes: on kComplete, pkt becomes the reassembled datagram: data/buf point into the
//         defrag-owned buffer pool, its header and pkt.frag_off carry no fragment bits
//         (at most DF), pkt.tos the folded ECN, len the whole datagram,
//         flags |= kFlagReassembled, frames = N fragments; the first fragment's L2 view
//         (ifindex, pkt_type, VLAN) and the completing fragment's rx_ns, queue and route
//         (ip_frag_reasm(), defrag.md "Which interface").
// Next:   local delivery (ip_local_deliver_finish), with the reassembled datagram.
// Drops:  DUP_FRAG, FRAG_TOO_FAR, FRAG_REASM_TIMEOUT, PKT_TOO_BIG, NOMEM, and the (ingress)
//         FRAG_OVERLAP, FRAG_INVALID, FRAG_MEM_LIMIT (see counters.def for the kernel's own
//         spelling of each).
// Counts: IpReasmReqds, IpReasmOKs, IpReasmFails, IpReasmTimeout, IpExtReasmOverlaps.
//
// Ownership, limits, the truesize model and eviction order: src/ipv4/defrag.md.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/counters.h"
#include "core/packet.h"
#include "core/verdict.h"
#include "io/buffer_pool.h"
#include "ipv4/icmp_send.h"

namespace ingress::ipv4 {

struct DefragConfig {
    uint64_t ipfrag_high_thresh = 4 * 1024 * 1024;  // net.ipv4.ipfrag_high_thresh (bytes)
    uint64_t ipfrag_low_thresh = 3 * 1024 * 1024;   // net.ipv4.ipfrag_low_thresh (obsolete
                                                    // since 4.17: bounds high only)
    uint32_t ipfrag_time = 30;                      // net.ipv4.ipfrag_time (seconds)
    uint32_t ipfrag_max_dist = 64;                  // net.ipv4.ipfrag_max_dist (0: off)
    // The truesize model: each held fragment is charged rx_buffer_size + kSkbOverhead.
    uint32_t rx_buffer_size = 2048;
    // Preallocated pools (no allocation after construction).
    uint32_t max_queues = 1024;   // reassembly queues (struct ipq)
    uint32_t max_frags = 2048;    // held fragment descriptors
    uint32_t reasm_buffers = 64;  // 64 KiB buffers for reassembled datagrams
    friend bool operator==(const DefragConfig&, const DefragConfig&) = default;
};

enum class DefragStatus : uint8_t {
    kComplete,  // pkt is now the reassembled datagram; it continues
    kHeld,      // the fragment waits in its queue
    kDropped,   // the fragment is dropped with `reason`
};

struct DefragResult {
    DefragStatus status;
    core::DropReason reason = core::DropReason::kNotSpecified;
};

// The owning worker of a fragment's datagram: a function of (saddr, daddr, id, protocol)
// only, identical on every worker. pkt must have passed rcv_core.
uint16_t defrag_owner(const core::Packet& pkt, uint16_t n_workers) noexcept;

// The per-worker reassembly state (the kernel's fqdir plus its inet_peer rids).
class Defrag {
public:
    // Kernel SKB_TRUESIZE(0) on x86-64: SKB_DATA_ALIGN(sizeof(struct sk_buff)) +
    // SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) = 256 + 320.
    static constexpr uint32_t kSkbOverhead = 576;
    // Charged per queue (the kernel charges f->qsize = sizeof(struct ipq)).
    static constexpr uint32_t kQueueSize = 192;
    // A reassembled datagram: up to 65535 bytes of IPv4 after up to 64 bytes of L2 header.
    static constexpr uint32_t kReasmBufSize = 65535 + 64 + 1;

    explicit Defrag(const DefragConfig& cfg = {});

    // ip_defrag(): queues one fragment (pkt.is_fragment() must hold). `home`: the handoff
    // mesh's index of the worker that received it (where its buffer goes back; reap() hands
    // it to the sink), 0 without a mesh.
    DefragResult queue(core::Packet& pkt, uint64_t now_ns, core::CounterBlock& c,
                       uint16_t home = 0) noexcept;

    // ip_expire() for every queue whose ipfrag_time has run out, oldest first (the check
    // stops at the first queue that has not): IpReasmFails, IpReasmTimeout, and an ICMP time
    // exceeded (fragment reassembly) when the first fragment had arrived. Returns how many
    // queues expired. Their frames go to the sink at the next reap().
    uint32_t expire(uint64_t now_ns, IcmpSender& icmp, core::CounterBlock& c) noexcept;

    // Kills every queue (worker shutdown): frames dropped as FRAG_REASM_TIMEOUT at the next
    // reap(), no MIB counted and no ICMP sent (the kernel's fqdir_exit()).
    void flush_all() noexcept;

    // Hands the frames of dead queues to the sink: dropped frames leave the held gauge and
    // are settled with their reason; the fragments of a completed datagram leave the gauge
    // (their fate is the reassembled packet's) and their buffers are released. Sink needs
    // settle(Packet&, Verdict), release(uint64_t buf) and counters(); one with
    // home()/set_home(uint16_t) (worker::FateSink) is told whose buffers it settles: each
    // fragment's `home`.
    template <class Sink>
    void reap(Sink& sink) noexcept {
        constexpr bool kHomes = requires(Sink & s) {
            s.set_home(s.home());
        };
        if (dead_ == kNil) return;
        uint16_t home = 0;
        if constexpr (kHomes) home = sink.home();
        while (dead_ != kNil) {
            Frag& f = frags_[dead_];
            const uint32_t next = f.next;
            if constexpr (kHomes) sink.set_home(f.home);
            if (f.held) sink.counters().unheld(1);
            if (f.consumed) {
                sink.release(f.pkt.buf);
            } else if (f.held) {
                sink.settle(f.pkt, core::Verdict::drop(f.reason));
            }
            free_frag(dead_);
            dead_ = next;
        }
        if constexpr (kHomes) sink.set_home(home);
    }

    io::BufferPool& buffers() noexcept { return reasm_pool_; }
    const io::BufferPool& buffers() const noexcept { return reasm_pool_; }
    uint64_t mem() const noexcept { return mem_; }  // frag_mem_limit()
    uint32_t queues() const noexcept { return nqueues_; }
    const DefragConfig& config() const noexcept { return cfg_; }
    // The ipfrag_* knobs changed (ipv4/knobs.h): the next fragment reads them; a queue keeps
    // the timeout it was armed with. The pool sizes stay what they were at construction.
    void set_knobs(const DefragConfig& k) noexcept {
        cfg_.ipfrag_high_thresh = k.ipfrag_high_thresh;
        cfg_.ipfrag_low_thresh = k.ipfrag_low_thresh;
        cfg_.ipfrag_time = k.ipfrag_time;
        cfg_.ipfrag_max_dist = k.ipfrag_max_dist;
    }

private:
    static constexpr uint32_t kNil = UINT32_MAX;
    static constexpr uint32_t kPeers = 4096;

    struct Key {
        uint32_t saddr, daddr;
        uint16_t id;
        uint8_t protocol;
        friend bool operator==(const Key&, const Key&) = default;
    };
    struct Frag {
        core::Packet pkt;
        uint32_t next = kNil;  // next fragment by offset, or next in the dead list
        uint32_t offset = 0, end = 0;
        uint32_t run = 0;       // index of the head of this fragment's run
        uint32_t run_end = 0;   // valid on a run head: end of its run of adjacent fragments
        bool held = false;      // counted as held (every fragment but the completing one)
        bool consumed = false;  // part of a completed datagram (buffer released, no drop)
        uint16_t home = 0;      // the worker that received it (queue()'s `home`)
        core::DropReason reason = core::DropReason::kNotSpecified;
    };
    // INET_FRAG_FIRST_IN / INET_FRAG_LAST_IN.
    static constexpr uint8_t kFirstIn = 1, kLastIn = 2;
    struct Queue {
        Key key{};
        bool used = false;
        uint8_t flags = 0;
        uint8_t ecn = 0;
        uint32_t len = 0, meat = 0;
        uint32_t max_size = 0, max_df_size = 0;
        uint32_t head = kNil, tail = kNil;  // fragments sorted by offset
        uint32_t nfrags = 0;
        uint64_t truesize = 0;
        uint64_t expires_ns = 0;
        uint32_t hnext = kNil;                     // hash chain
        uint32_t bucket = 0;                       // its hash bucket
        uint32_t tprev = kNil, tnext = kNil;       // timer list, by expiry
        uint32_t peer = 0, peer_gen = 0, rid = 0;  // inet_peer slot and rid (max_dist)
    };
    struct Peer {
        uint32_t addr = 0, rid = 0, gen = 0;
        bool used = false;
    };

    // Where a fragment goes in its queue (inet_frag_queue_insert()): after `prev` (kNil:
    // at the head), appended to the tail's run, or refused as a duplicate / an overlap.
    struct Slot {
        uint32_t prev = kNil;
        bool extend_tail = false;
        bool duplicate = false;
        bool overlap = false;
    };

    uint32_t find_or_create(const Key& k, uint64_t now_ns) noexcept;
    core::DropReason set_end(Queue& q, const core::Packet& pkt, uint32_t offset,
                             uint32_t& end) noexcept;
    Slot find_slot(const Queue& q, uint32_t offset, uint32_t end) const noexcept;
    void link(Queue& q, uint32_t fi, const Slot& s) noexcept;
    void unlink_last(Queue& q, uint32_t fi) noexcept;
    bool too_far(Queue& q, core::CounterBlock& c) noexcept;
    void reinit(Queue& q, uint64_t now_ns) noexcept;
    // inet_frag_kill + inet_frag_destroy: unhash, stop the timer, frames to the dead list.
    void kill(uint32_t qi, core::DropReason reason, bool consumed) noexcept;
    void purge_frags(Queue& q, core::DropReason reason, bool consumed) noexcept;
    DefragResult reasm(uint32_t qi, core::Packet& pkt, core::CounterBlock& c) noexcept;
    void timer_unlink(uint32_t qi) noexcept;
    void timer_append(uint32_t qi) noexcept;
    uint32_t bucket(const Key& k) const noexcept;
    uint32_t alloc_frag() noexcept;
    void free_frag(uint32_t i) noexcept {
        frags_[i].next = free_frag_;
        free_frag_ = i;
    }
    uint64_t frag_truesize() const noexcept { return cfg_.rx_buffer_size + kSkbOverhead; }

    DefragConfig cfg_;
    std::vector<Queue> queues_;
    std::vector<uint32_t> buckets_;
    uint32_t bucket_mask_ = 0;
    uint32_t free_queue_ = kNil;  // free list through Queue::hnext
    uint32_t last_ = kNil;        // the queue of the previous fragment (may be dead since)
    uint32_t nqueues_ = 0;
    uint32_t timer_head_ = kNil, timer_tail_ = kNil;
    std::vector<Frag> frags_;
    uint32_t free_frag_ = kNil;  // free list through Frag::next
    uint32_t dead_ = kNil;       // frames of dead queues, waiting for reap()
    std::vector<Peer> peers_;
    uint64_t mem_ = 0;
    io::BufferPool reasm_pool_;
};

// The stage: non-fragments continue untouched; fragments go to `d` (`home` as in queue()).
core::Verdict defrag(core::Packet& pkt, Defrag& d, uint64_t now_ns, core::CounterBlock& c,
                     uint16_t home = 0) noexcept;

}  // namespace ingress::ipv4
