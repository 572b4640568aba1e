#include "ipv4/defrag.h"

#include <cstring>
#include <stdexcept>

#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace ingress::ipv4 {

using core::DropReason;
using core::Mib;
using core::Packet;
using wire::Ipv4View;

namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;
constexpr uint32_t kIpMaxLen = 65535;

// include/net/inet_ecn.h / inet_fragment.c: ip4_frag_ecn() maps the ECN field to one bit,
// ip_frag_ecn_table[] folds the bits seen over a datagram into the ECN to OR into the
// reassembled header, or 0xff for a combination that must not be reassembled (Not-ECT
// mixed with ECT/CE, RFC 3168 §5.3).
constexpr uint8_t kEcnNotEct = 1, kEcnEct1 = 2, kEcnEct0 = 4, kEcnCe = 8;
constexpr uint8_t kEcnInvalid = 0xff;
constexpr uint8_t frag_ecn(uint8_t tos) noexcept {
    return uint8_t(1u << (tos & 3u));
}
constexpr std::array<uint8_t, 16> make_ecn_table() {
    std::array<uint8_t, 16> t{};
    t[kEcnCe | kEcnEct0] = t[kEcnCe | kEcnEct1] = t[kEcnCe | kEcnEct0 | kEcnEct1] = 3;
    for (uint8_t others = 1; others < 8; ++others) {  // any of ECT1, ECT0, CE with Not-ECT
        t[kEcnNotEct | (others << 1)] = kEcnInvalid;
    }
    return t;
}
constexpr std::array<uint8_t, 16> kEcnTable = make_ecn_table();

uint32_t mix32(uint32_t h) noexcept {
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}

// One multiply per half and a fold: every key bit reaches the high bits that the bucket
// index and the worker choice use.
uint32_t key_hash(uint32_t saddr, uint32_t daddr, uint16_t id, uint8_t proto) noexcept {
    uint64_t h = ((uint64_t{saddr} << 32) | daddr) * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t{id} << 8) | proto) * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    return static_cast<uint32_t>(h >> 32) ^ static_cast<uint32_t>(h);
}

}  // namespace

uint16_t defrag_owner(const Packet& pkt, uint16_t n_workers) noexcept {
    if (n_workers <= 1) return 0;
    const uint32_t v = key_hash(pkt.saddr, pkt.daddr, pkt.ip_id, pkt.ip_proto);
    return static_cast<uint16_t>(v % n_workers);
}

Defrag::Defrag(const DefragConfig& cfg)
    : cfg_(cfg),
      queues_(cfg.max_queues),
      frags_(cfg.max_frags),
      peers_(kPeers),
      reasm_pool_(cfg.reasm_buffers, kReasmBufSize) {
    if (cfg.max_queues == 0 || cfg.max_frags == 0)
        throw std::invalid_argument("DefragConfig: empty pools");
    // The kernel refuses a low_thresh above high_thresh (proc_doulongvec_minmax bounds).
    if (cfg.ipfrag_low_thresh > cfg.ipfrag_high_thresh)
        throw std::invalid_argument("DefragConfig: ipfrag_low_thresh > ipfrag_high_thresh");
    uint32_t nb = 1;
    while (nb < 2 * cfg.max_queues) nb <<= 1;
    buckets_.assign(nb, kNil);
    bucket_mask_ = nb - 1;
    for (uint32_t i = cfg.max_queues; i-- > 0;) {
        queues_[i].hnext = free_queue_;
        free_queue_ = i;
    }
    for (uint32_t i = cfg.max_frags; i-- > 0;) {
        frags_[i].next = free_frag_;
        free_frag_ = i;
    }
}

inline uint32_t Defrag::bucket(const Key& k) const noexcept {
    return key_hash(k.saddr, k.daddr, k.id, k.protocol) & bucket_mask_;
}

inline uint32_t Defrag::alloc_frag() noexcept {
    uint32_t i = free_frag_;
    if (i != kNil) free_frag_ = frags_[i].next;
    return i;
}

inline void Defrag::timer_unlink(uint32_t qi) noexcept {
    Queue& q = queues_[qi];
    (q.tprev != kNil ? queues_[q.tprev].tnext : timer_head_) = q.tnext;
    (q.tnext != kNil ? queues_[q.tnext].tprev : timer_tail_) = q.tprev;
    q.tprev = q.tnext = kNil;
}

inline void Defrag::timer_append(uint32_t qi) noexcept {
    Queue& q = queues_[qi];
    q.tprev = timer_tail_;
    q.tnext = kNil;
    (timer_tail_ != kNil ? queues_[timer_tail_].tnext : timer_head_) = qi;
    timer_tail_ = qi;
}

// ip_find() -> inet_frag_find() -> inet_frag_create() -> ip4_frag_init().
uint32_t Defrag::find_or_create(const Key& k, uint64_t now_ns) noexcept {
    const uint32_t b = bucket(k);
    for (uint32_t i = buckets_[b]; i != kNil; i = queues_[i].hnext)
        if (queues_[i].key == k) return i;
    if (free_queue_ == kNil) return kNil;  // the kernel's kzalloc failure
    const uint32_t qi = free_queue_;
    Queue& q = queues_[qi];
    free_queue_ = q.hnext;
    // Field by field: a whole-struct assignment goes through a stack temporary.
    q.key = k;
    q.used = true;
    q.flags = q.ecn = 0;
    q.len = q.meat = q.max_size = q.max_df_size = 0;
    q.head = q.tail = kNil;
    q.nfrags = 0;
    q.truesize = 0;
    q.peer = q.peer_gen = q.rid = 0;
    q.hnext = buckets_[b];
    q.bucket = b;
    buckets_[b] = qi;
    // The timer starts when the queue is created and is not pushed back by later fragments.
    q.expires_ns = now_ns + uint64_t{cfg_.ipfrag_time} * kNsPerSec;
    timer_append(qi);
    ++nqueues_;
    mem_ += kQueueSize;
    // ip4_frag_init(): the source's inet_peer and its current rid, when max_dist is on.
    if (cfg_.ipfrag_max_dist) {
        q.peer = mix32(k.saddr) & (kPeers - 1);
        Peer& p = peers_[q.peer];
        if (!p.used || p.addr != k.saddr) p = Peer{k.saddr, 0, p.gen + 1, true};
        q.peer_gen = p.gen;
        q.rid = p.rid;
    }
    return qi;
}

// ip_frag_too_far(): more than ipfrag_max_dist fragments from this source reached
// reassembly (any datagram) since this queue's previous fragment.
inline bool Defrag::too_far(Queue& q, core::CounterBlock& c) noexcept {
    if (!cfg_.ipfrag_max_dist) return false;
    Peer& p = peers_[q.peer];
    if (p.gen != q.peer_gen || !p.used || p.addr != q.key.saddr) {
        // Our slot was taken by a colliding source: start counting afresh (defrag.md).
        p = Peer{q.key.saddr, 0, p.gen + 1, true};
        q.peer_gen = p.gen;
        q.rid = 0;
    }
    const uint32_t start = q.rid;
    const uint32_t end = ++p.rid;
    q.rid = end;
    const bool rc = q.tail != kNil && end - start > cfg_.ipfrag_max_dist;
    if (rc) c.mib(Mib::kIpReasmFails);
    return rc;
}

void Defrag::purge_frags(Queue& q, DropReason reason, bool consumed) noexcept {
    for (uint32_t i = q.head; i != kNil;) {
        Frag& f = frags_[i];
        const uint32_t next = f.next;
        f.reason = reason;
        f.consumed = consumed;
        f.next = dead_;
        dead_ = i;
        i = next;
    }
    mem_ -= q.truesize;
    q.truesize = 0;
    q.head = q.tail = kNil;
    q.nfrags = 0;
}

// ip_frag_reinit(): the queue's fragments are dropped (FRAG_TOO_FAR), its state cleared and
// its timer restarted; the fragment that found it too far then starts it afresh.
void Defrag::reinit(Queue& q, uint64_t now_ns) noexcept {
    purge_frags(q, DropReason::kFragTooFar, false);
    q.flags = 0;
    q.len = q.meat = 0;
    q.max_size = q.max_df_size = 0;
    q.ecn = 0;
    const uint32_t qi = static_cast<uint32_t>(&q - queues_.data());
    timer_unlink(qi);
    q.expires_ns = now_ns + uint64_t{cfg_.ipfrag_time} * kNsPerSec;
    timer_append(qi);
}

void Defrag::kill(uint32_t qi, DropReason reason, bool consumed) noexcept {
    Queue& q = queues_[qi];
    purge_frags(q, reason, consumed);
    uint32_t* link = &buckets_[q.bucket];
    while (*link != qi) link = &queues_[*link].hnext;
    *link = q.hnext;
    timer_unlink(qi);
    q.used = false;
    q.hnext = free_queue_;
    free_queue_ = qi;
    --nqueues_;
    mem_ -= kQueueSize;
}

// ip_frag_queue(), the end of the fragment: the queue's length grows with it, and a last
// fragment fixes it. kNotSpecified when the fragment fits, else why the datagram is corrupt.
inline DropReason Defrag::set_end(Queue& q, const Packet& pkt, uint32_t offset,
                                  uint32_t& end) noexcept {
    end = offset + (pkt.len - pkt.l4_off);
    if (!pkt.more_fragments()) {
        // The last fragment: data already beyond its end, or a second last fragment that
        // disagrees, means the datagram is corrupt.
        if (end < q.len || ((q.flags & kLastIn) && end != q.len)) return DropReason::kFragInvalid;
        q.flags |= kLastIn;
        q.len = end;
    } else {
        // A non-last fragment carries a multiple of 8 bytes; the excess is trimmed.
        end &= ~7u;
        if (end > q.len) {
            if (q.flags & kLastIn) return DropReason::kFragInvalid;
            q.len = end;
        }
    }
    if (end == offset) return DropReason::kFragInvalid;
    return DropReason::kNotSpecified;
}

// inet_frag_queue_insert(): fragments form runs of adjacent fragments appended at the
// tail. A fragment inside one run is a duplicate (dropped, the queue lives on); any other
// overlap discards the whole datagram (RFC 5722 §4, errata 3089).
inline Defrag::Slot Defrag::find_slot(const Queue& q, uint32_t offset,
                                      uint32_t end) const noexcept {
    if (q.tail == kNil) return {};
    if (frags_[q.tail].end < end) {
        // The common case: the fragment goes after the tail.
        const Frag& last = frags_[q.tail];
        if (offset < last.end) return {.overlap = true};
        return {.prev = q.tail, .extend_tail = offset == last.end};
    }
    // Search the runs in offset order (the kernel walks its rbtree of run heads; with
    // disjoint runs both find the same intersecting run, or none).
    Slot s;
    for (uint32_t i = q.head; i != kNil;) {
        const Frag& r = frags_[i];  // a run head
        if (end <= r.offset) break;
        if (offset >= r.run_end) {
            uint32_t j = i;
            while (frags_[j].next != kNil && frags_[frags_[j].next].run == i) j = frags_[j].next;
            s.prev = j;
            i = frags_[j].next;
            continue;
        }
        if (offset >= r.offset && end <= r.run_end) return {.duplicate = true};
        return {.overlap = true};
    }
    return s;
}

// Links fragment `fi` into `q` at `s` (fragrun_create() / fragrun_append_to_last()).
inline void Defrag::link(Queue& q, uint32_t fi, const Slot& s) noexcept {
    Frag& f = frags_[fi];
    if (s.extend_tail) {
        f.run = frags_[q.tail].run;
        frags_[f.run].run_end = f.end;
    } else {
        f.run = fi;  // a run of its own
        f.run_end = f.end;
    }
    if (s.prev == kNil) {
        f.next = q.head;
        q.head = fi;
    } else {
        f.next = frags_[s.prev].next;
        frags_[s.prev].next = fi;
    }
    if (f.next == kNil) q.tail = fi;
    ++q.nfrags;
}

// The completing fragment of a datagram ip_frag_reasm() refused: the caller drops it, so
// it leaves the queue before the queue dies (not settled twice).
void Defrag::unlink_last(Queue& q, uint32_t fi) noexcept {
    uint32_t* link = &q.head;
    while (*link != fi) link = &frags_[*link].next;
    *link = frags_[fi].next;
    --q.nfrags;
    q.truesize -= frag_truesize();
    mem_ -= frag_truesize();
    free_frag(fi);
}

DefragResult Defrag::queue(Packet& pkt, uint64_t now_ns, core::CounterBlock& c,
                           uint16_t home) noexcept {
    c.mib(Mib::kIpReasmReqds);
    const Key key{pkt.saddr, pkt.daddr, pkt.ip_id, pkt.ip_proto};

    // inet_frag_find(): over ipfrag_high_thresh no fragment is accepted, not even for a
    // queue that exists; queues leave only by completing or expiring (defrag.md).
    uint32_t qi = kNil;
    DropReason refused = DropReason::kFragMemLimit;
    if (cfg_.ipfrag_high_thresh && mem_ <= cfg_.ipfrag_high_thresh) [[likely]] {
        // The queue of the previous fragment first (DPDK's tbl->last): a datagram's
        // fragments mostly arrive back to back. A dead or reused queue fails the check.
        qi = last_ < queues_.size() && queues_[last_].used && queues_[last_].key == key
                 ? last_
                 : find_or_create(key, now_ns);
        last_ = qi;
        refused = DropReason::kNomem;
    }
    if (qi == kNil) {
        c.mib(Mib::kIpReasmFails);
        return {DefragStatus::kDropped, refused};
    }
    Queue& q = queues_[qi];

    // ip_frag_queue().
    if (too_far(q, c)) reinit(q, now_ns);
    auto discard_qp = [&](DropReason r) {
        kill(qi, r, false);
        c.mib(Mib::kIpReasmFails);
        return DefragResult{DefragStatus::kDropped, r};
    };
    const uint32_t offset = pkt.frag_offset_bytes();
    uint32_t end = 0;
    if (DropReason r = set_end(q, pkt, offset, end); r != DropReason::kNotSpecified)
        return discard_qp(r);
    const Slot slot = find_slot(q, offset, end);
    if (slot.duplicate) return {DefragStatus::kDropped, DropReason::kDupFrag};
    if (slot.overlap) {
        c.mib(Mib::kIpExtReasmOverlaps);
        return discard_qp(DropReason::kFragOverlap);
    }
    const uint32_t fi = alloc_frag();
    if (fi == kNil) return discard_qp(DropReason::kNomem);
    Frag& f = frags_[fi];
    f.pkt = pkt;
    f.offset = offset;
    f.end = end;
    f.held = f.consumed = false;
    f.home = home;
    f.reason = DropReason::kNotSpecified;
    link(q, fi, slot);

    q.meat += end - offset;
    q.ecn |= frag_ecn(pkt.tos);
    q.truesize += frag_truesize();
    mem_ += frag_truesize();
    if (offset == 0) q.flags |= kFirstIn;
    const uint32_t fragsize = (end - offset) + pkt.ip_hlen();
    if (fragsize > q.max_size) q.max_size = fragsize;
    if (pkt.dont_fragment() && fragsize > q.max_df_size) q.max_df_size = fragsize;

    if (q.flags == (kFirstIn | kLastIn) && q.meat == q.len) {
        DefragResult r = reasm(qi, pkt, c);
        if (r.status == DefragStatus::kDropped) {
            unlink_last(q, fi);
            kill(qi, r.reason, false);
        }
        return r;
    }
    f.held = true;
    return {DefragStatus::kHeld};
}

// ip_frag_reasm(): one contiguous copy into a defrag-owned buffer (defrag.md: cost).
DefragResult Defrag::reasm(uint32_t qi, Packet& pkt, core::CounterBlock& c) noexcept {
    Queue& q = queues_[qi];
    const Frag& head = frags_[q.head];
    const uint8_t ecn = kEcnTable[q.ecn & 0xf];
    if (ecn == kEcnInvalid) {
        c.mib(Mib::kIpReasmFails);
        return {DefragStatus::kDropped, DropReason::kFragInvalid};
    }
    const uint32_t ihl = head.pkt.ip_hlen();
    if (ihl + q.len > kIpMaxLen) {  // "Oversized IP packet"
        c.mib(Mib::kIpReasmFails);
        return {DefragStatus::kDropped, DropReason::kPktTooBig};
    }
    const uint32_t hdr = head.pkt.l4_off;
    if (hdr + q.len > kReasmBufSize) {
        c.mib(Mib::kIpReasmFails);
        return {DefragStatus::kDropped, DropReason::kNomem};
    }
    const uint64_t b = reasm_pool_.try_get();
    if (b == io::BufferPool::kNone) {  // out_nomem
        c.mib(Mib::kIpReasmFails);
        return {DefragStatus::kDropped, DropReason::kNomem};
    }
    uint8_t* dst = reasm_pool_.data(b);
    std::memcpy(dst, head.pkt.data, hdr);
    for (uint32_t i = q.head; i != kNil; i = frags_[i].next) {
        const Frag& f = frags_[i];
        std::memcpy(dst + hdr + f.offset, f.pkt.data + f.pkt.l4_off, f.end - f.offset);
    }
    // The first fragment's header, for the whole datagram: its length, no fragment bits
    // (IP_DF survives when the largest fragment carried it: IPSKB_FRAG_PMTU), the folded
    // ECN, a new checksum. The Packet's fields say the same.
    // inet_frag_reasm_prepare() makes the completing skb the head with skb_morph(), which
    // copies the first fragment's skb_iif, cb (IPCB's iif: IP_PKTINFO), pkt_type and VLAN
    // tag: the datagram arrived where its first fragment did (ifindex, whatever interface
    // the others came on). ip_frag_queue() keeps the completing skb's route (orefdst) and
    // inet_frag_reasm_finish() its time (q->stamp): route_type, rx_ns and queue are the
    // completing fragment's.
    // Written in place (the first fragment's descriptor is in frags_, not pkt).
    const uint64_t rx_ns = pkt.rx_ns;
    const uint8_t route_type = pkt.route_type;
    const uint16_t rx_queue = pkt.queue;
    Packet& out = pkt;
    out = head.pkt;
    out.rx_ns = rx_ns;
    out.route_type = route_type;
    out.frag_off = q.max_df_size == q.max_size ? wire::kIpFlagDf : uint16_t{0};
    out.tos = static_cast<uint8_t>(out.tos | ecn);
    // The checksum updated for the three words that change (RFC 1624 eqn. 3, the kernel's
    // csum_replace2()) from the first fragment's, which rcv_core verified: the same value as
    // computing it afresh, without reading back the bytes just stored.
    const uint8_t* h0 = head.pkt.data + head.pkt.l3_off;
    uint8_t* h = dst + head.pkt.l3_off;
    const uint16_t w0 = static_cast<uint16_t>(h0[Ipv4View::kVerIhlOff] << 8 | out.tos);
    const uint16_t w1 = static_cast<uint16_t>(ihl + q.len);
    uint32_t sum = ~wire::load_be16(h0 + Ipv4View::kCsumOff) & 0xffffu;
    sum += (~wire::load_be16(h0) & 0xffffu) + w0;
    sum += (~wire::load_be16(h0 + Ipv4View::kTotLenOff) & 0xffffu) + w1;
    sum += (~wire::load_be16(h0 + Ipv4View::kFragOff) & 0xffffu) + out.frag_off;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    wire::store_be16(h, w0);
    wire::store_be16(h + Ipv4View::kTotLenOff, w1);
    wire::store_be16(h + Ipv4View::kFragOff, out.frag_off);
    wire::store_be16(h + Ipv4View::kCsumOff, static_cast<uint16_t>(~sum));

    out.data = dst;
    out.buf = b;
    out.len = hdr + q.len;
    // The first fragment's hardware stamp stayed in its buffer (core::kFlagHwTstamp): the
    // datagram has none (the kernel's keeps the head skb's skb_hwtstamps(): a difference).
    out.flags = static_cast<uint8_t>((out.flags & ~core::kFlagHwTstamp) | core::kFlagReassembled);
    out.frames = static_cast<uint16_t>(q.nfrags);
    out.queue = rx_queue;
    c.mib(Mib::kIpReasmOKs);
    kill(qi, DropReason::kNotSpecified, true);
    return {DefragStatus::kComplete};
}

uint32_t Defrag::expire(uint64_t now_ns, IcmpSender& icmp, core::CounterBlock& c) noexcept {
    uint32_t n = 0;
    while (timer_head_ != kNil && queues_[timer_head_].expires_ns <= now_ns) {
        const uint32_t qi = timer_head_;
        Queue& q = queues_[qi];
        c.mib(Mib::kIpReasmFails);
        c.mib(Mib::kIpReasmTimeout);
        // ip_expire(): only when the first fragment arrived; icmp_send() then applies its
        // own rules (PACKET_HOST only, not for broadcast/multicast routes, rate limits).
        // The error echoes the first fragment's options as ip_rcv_options() compiled them
        // before ip_defrag() (IPCB(head)->opt survives in FRAG_CB), and quotes its header with
        // the receive-side writes made, which this dataplane makes only at local delivery: here,
        // on the way to the drop.
        if ((q.flags & kFirstIn) && q.head != kNil) {
            Packet& head = frags_[q.head].pkt;
            IpOptions opt;
            if (head.ip_hlen() > wire::Ipv4View::kMinHeaderLen)
                opt = ip_options_rcv_write(head.l3().first(head.ip_hlen()), icmp.options_env(head));
            (void)icmp.send(head, wire::kIcmpTimeExceeded, wire::kIcmpExcFragtime, 0, head.daddr,
                            now_ns, c, opt.optlen ? &opt : nullptr);
        }
        kill(qi, DropReason::kFragReasmTimeout, false);
        ++n;
    }
    return n;
}

void Defrag::flush_all() noexcept {
    // fqdir_exit(): the kernel destroys the queues without counting a MIB; the frames still
    // need a fate here, and FRAG_REASM_TIMEOUT is the nearest.
    while (timer_head_ != kNil) kill(timer_head_, DropReason::kFragReasmTimeout, false);
}

core::Verdict defrag(Packet& pkt, Defrag& d, uint64_t now_ns, core::CounterBlock& c,
                     uint16_t home) noexcept {
    if (!pkt.is_fragment()) return core::Verdict::next();
    const DefragResult r = d.queue(pkt, now_ns, c, home);
    switch (r.status) {
        case DefragStatus::kComplete:
            return core::Verdict::next();
        case DefragStatus::kHeld:
            return core::Verdict::held();
        case DefragStatus::kDropped:
            break;
    }
    return core::Verdict::drop(r.reason);
}

}  // namespace ingress::ipv4
