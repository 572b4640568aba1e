// What an endpoint receives, and the bounded per-endpoint queue it arrives in.
//
// Kernel-equivalent: the socket receive queue (sk_receive_queue) plus what recvmsg() hands
// the application with it: the datagram bytes, the source address (msg_name), IP_PKTINFO
// (ingress ifindex, destination address), SO_TIMESTAMPNS, PACKET_AUXDATA (vlan, status) and
// MSG_TRUNC. An EndpointQueue has two backings behind one try_push/try_emplace:
//   - in memory (the default): a bounded ring the stage tests read with front()/pop();
//   - shared memory (attach_shm): the endpoint's ShmRings, one shm::RingProducer per
//     worker in a sealed memfd the app maps (src/shm/ring.h), plus the wakeup doorbell. The
//     worker pushing is named by the DeliveryCtx it passes; the app consumes (libingress).
//
// Hot-path discipline: every slot is preallocated when the queue is created; try_push copies
// into a slot and never allocates, blocks or throws. A full queue refuses the datagram
// (the caller counts SOCKET_RCVBUFF / RcvbufErrors): the worker never stalls on a slow app.
// In memory: single producer, single consumer, same thread (tests). In shared memory: one
// ring per worker, each with its single producer; the ring has the acquire/release pairs.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "core/packet.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "wire/ipv4.h"

namespace ingress::demux {

// RecvMeta::flags bits.
inline constexpr uint16_t kRecvTruncated = 1u << 0;   // MSG_TRUNC: slot or snaplen cut it
inline constexpr uint16_t kRecvVlanValid = 1u << 1;   // TP_STATUS_VLAN_VALID
inline constexpr uint16_t kRecvVlanTpidValid = 1u << 2;  // TP_STATUS_VLAN_TPID_VALID
inline constexpr uint16_t kRecvCsumValid = 1u << 3;   // TP_STATUS_CSUM_VALID / csum verified

// tpacket_auxdata.tp_status bits (include/uapi/linux/if_packet.h), for taps.
inline constexpr uint32_t kTpStatusUser = 1u << 0;
inline constexpr uint32_t kTpStatusVlanValid = 1u << 4;
inline constexpr uint32_t kTpStatusVlanTpidValid = 1u << 6;
inline constexpr uint32_t kTpStatusCsumValid = 1u << 7;

struct RecvMeta {
    uint64_t rx_ns = 0;             // SO_TIMESTAMPNS: the backend's receive time
    wire::Ipv4Addr src_addr = 0;    // msg_name sin_addr (UDP, raw)
    wire::Ipv4Addr dst_addr = 0;    // IP_PKTINFO ipi_addr (UDP, raw)
    uint16_t src_port = 0;          // msg_name sin_port (UDP; 0 for raw)
    uint16_t dst_port = 0;
    uint32_t ifindex = 0;           // IP_PKTINFO ipi_ifindex / sll_ifindex
    uint32_t orig_len = 0;          // the datagram's full length (tp_len); > stored when cut
    uint16_t vlan_tci = 0;          // tp_vlan_tci (taps)
    uint16_t vlan_tpid = 0;         // tp_vlan_tpid (taps)
    uint16_t protocol = 0;          // sll_protocol (taps: ethertype, host order); IP proto
    uint16_t net_off = 0;           // tp_net: network header offset in the stored bytes
    uint16_t flags = 0;             // kRecv*
    core::PktType pkt_type = core::PktType::kHost;  // sll_pkttype
    uint8_t reserved = 0;
    uint32_t tp_status = 0;         // tpacket_auxdata.tp_status (taps with PACKET_AUXDATA)
};

// The VLAN tag the frame carried (UDP / raw: what IP_PKTINFO's sub-interface and
// PACKET_AUXDATA-like consumers want), when there was one.
inline void recv_meta_set_vlan(RecvMeta& m, const core::Packet& pkt) noexcept {
    if (!(pkt.flags & core::kFlagVlan)) return;
    m.vlan_tci = pkt.vlan_tci;
    m.vlan_tpid = pkt.vlan_tpid;
    m.flags |= kRecvVlanValid | kRecvVlanTpidValid;
}

// RecvMeta -> the ring's SlotMeta (what the app reads). `tap`: protocol is an ethertype.
void to_slot_meta(const RecvMeta& m, bool tap, shm::SlotMeta* out) noexcept;
// SlotMeta -> RecvMeta (the client library and tests).
RecvMeta from_slot_meta(const shm::SlotMeta& s, bool tap) noexcept;

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

// Which worker is delivering, and where it collects wakeups (nullptr: check at once).
struct DeliveryCtx {
    uint16_t worker = 0;
    WakeupList* wakeups = nullptr;
};

// An endpoint's shared-memory side: one sealed memfd ring per worker and one doorbell,
// created by the control plane (allocates, may throw); the worker only pushes.
class ShmRings {
public:
    ShmRings(uint32_t endpoint_id, uint16_t workers, const shm::RingGeometry& g, bool tap);
    ShmRings(const ShmRings&) = delete;
    ShmRings& operator=(const ShmRings&) = delete;

    // Copies head ++ body into the worker's ring (cut to the slot, kSlotTruncated, counted
    // in the header's `truncated`); false and `dropped_full` counted when the ring is full.
    [[nodiscard]] bool push(const RecvMeta& m, std::span<const uint8_t> head,
                            std::span<const uint8_t> body, const DeliveryCtx* ctx) noexcept;
    // The needs-wakeup check for one worker's ring: rings the doorbell if the app sleeps.
    void wake(uint16_t worker) noexcept;

    uint16_t workers() const noexcept { return static_cast<uint16_t>(w_.size()); }
    const shm::Region& region(uint16_t worker) const noexcept { return w_[worker].region; }
    const shm::Doorbell& doorbell() const noexcept { return bell_; }
    const shm::RingGeometry& geometry() const noexcept { return g_; }
    // Sums over the workers' ring headers (what the app also sees).
    uint64_t delivered() const noexcept;
    uint64_t dropped() const noexcept;
    uint64_t truncated() const noexcept;
    // Slots filled and not yet released by the app, summed over the rings (a consumer index
    // that makes no sense counts as a full ring, as the producer treats it).
    uint64_t used() const noexcept;

private:
    friend class WakeupList;
    struct PerWorker {
        shm::Region region;
        shm::RingProducer prod;
        bool pending = false;  // in this worker's WakeupList for the current burst
    };
    std::vector<PerWorker> w_;
    shm::Doorbell bell_;
    shm::RingGeometry g_;
    bool tap_;
};

// A bounded ring of fixed-size slots, allocated once.
// One cache line of state (aligned), so an enqueue touches it, the slot, and nothing else.
class alignas(64) EndpointQueue {
public:
    struct Entry {
        RecvMeta meta;
        std::span<const uint8_t> bytes;  // valid until pop()
    };

    // `capacity` entries are accepted; storage is rounded up to a power of two so a slot
    // index is a mask, not a division.
    explicit EndpointQueue(uint32_t capacity = 256, uint32_t slot_bytes = 2048)
        : cap_(capacity ? capacity : 1),
          mask_(std::bit_ceil(cap_) - 1),
          slot_bytes_(slot_bytes),
          metas_(std::make_unique<RecvMeta[]>(mask_ + 1)),
          lens_(std::make_unique<uint32_t[]>(mask_ + 1)),
          data_(std::make_unique<uint8_t[]>(std::size_t{mask_ + 1} * slot_bytes_)) {}

    // Copies head ++ body (a gather of two pieces: a tap's rebuilt link header and the rest)
    // into the next slot. Bytes beyond the slot are cut and the entry is marked
    // kRecvTruncated (orig_len keeps the full length). False when the queue is full.
    // `ctx`: the delivering worker (shared-memory backing); nullptr means worker 0.
    [[nodiscard]] bool try_push(const RecvMeta& meta, std::span<const uint8_t> head,
                                std::span<const uint8_t> body = {},
                                const DeliveryCtx* ctx = nullptr) noexcept {
        return try_emplace([&meta](RecvMeta& m) noexcept { m = meta; }, head, body, ctx);
    }

    // The same, with the metadata written in place by `fill(RecvMeta&)` (the slot's entry is
    // value-initialised first). The hot path uses this: building a RecvMeta on the stack and
    // copying it costs a store-forwarding stall per datagram.
    template <class Fill>
    [[nodiscard]] bool try_emplace(Fill&& fill, std::span<const uint8_t> head,
                                   std::span<const uint8_t> body = {},
                                   const DeliveryCtx* ctx = nullptr) noexcept {
        if (shm_) {
            RecvMeta m;
            fill(m);
            return shm_->push(m, head, body, ctx);
        }
        if (tail_ - head_ == cap_) {
            ++drops_;
            return false;
        }
        const uint32_t i = tail_ & mask_;
        uint8_t* dst = data_.get() + std::size_t{i} * slot_bytes_;
        const std::size_t total = head.size() + body.size();
        const std::size_t h = head.size() < slot_bytes_ ? head.size() : slot_bytes_;
        const std::size_t b = body.size() < slot_bytes_ - h ? body.size() : slot_bytes_ - h;
        if (h) std::memcpy(dst, head.data(), h);
        if (b) std::memcpy(dst + h, body.data(), b);
        RecvMeta& m = metas_[i];
        m = RecvMeta{};
        fill(m);
        if (m.orig_len == 0) m.orig_len = static_cast<uint32_t>(total);
        if (h + b < total) m.flags |= kRecvTruncated;
        lens_[i] = static_cast<uint32_t>(h + b);
        ++tail_;
        ++queued_;
        return true;
    }

    bool empty() const noexcept { return head_ == tail_; }
    uint32_t size() const noexcept { return tail_ - head_; }
    uint32_t capacity() const noexcept { return cap_; }
    uint32_t slot_bytes() const noexcept { return slot_bytes_; }
    // Switches to the shared-memory backing (control plane, before the endpoint is
    // published). front()/pop()/size() are the in-memory backing's: with shm the app reads.
    // Shared: when an option changes, the control plane builds a new endpoint object on the
    // same rings, and both may be named by snapshots until the grace period ends (a worker
    // reads one snapshot per burst, so never pushes through both at once).
    void attach_shm(std::shared_ptr<ShmRings> rings) noexcept { shm_ = std::move(rings); }
    ShmRings* shm() const noexcept { return shm_.get(); }

    // The oldest entry; only when !empty().
    Entry front() const noexcept {
        const uint32_t i = head_ & mask_;
        return {metas_[i], {data_.get() + std::size_t{i} * slot_bytes_, lens_[i]}};
    }
    void pop() noexcept { ++head_; }
    void clear() noexcept { head_ = tail_; }

    // Per-endpoint counts (the socket's own: datagrams queued, sk_drops for a full queue).
    uint64_t queued() const noexcept { return shm_ ? shm_->delivered() : queued_; }
    uint64_t drops() const noexcept { return shm_ ? shm_->dropped() : drops_; }

private:
    std::shared_ptr<ShmRings> shm_;  // first: the hot path's branch reads it
    uint32_t cap_, mask_, slot_bytes_;
    std::unique_ptr<RecvMeta[]> metas_;
    std::unique_ptr<uint32_t[]> lens_;
    std::unique_ptr<uint8_t[]> data_;
    uint32_t head_ = 0, tail_ = 0;  // free-running; index = value & mask_
    uint64_t queued_ = 0, drops_ = 0;
};

}  // namespace ingress::demux
