// Receive-buffer budgets: SO_RCVBUF in bytes with the kernel's rules.
//
// Kernel-equivalent (6.18):
//   net/core/sock.c sk_setsockopt() SO_RCVBUF -> __sock_set_rcvbuf(): the value is clamped to
//   net.core.rmem_max (and INT_MAX / 2), doubled, and raised to SOCK_MIN_RCVBUF; a socket that
//   never set it has net.core.rmem_default (sock_init_data()), not doubled.
//   net/ipv4/udp.c __udp_enqueue_schedule_skb(): with rmem = sk_rmem_alloc and size =
//   skb->truesize, "if (rmem + size > rcvbuf)" the datagram is dropped (RcvbufErrors +
//   InErrors, SOCKET_RCVBUFF), unless the queue is empty (rmem == 0) and rcvbuf is at most
//   INT_MAX / 2: a lone datagram larger than the whole budget is still accepted. The charge
//   is released when the application reads the datagram.
//
// The charge is the skb's truesize, which the kernel takes from the allocation that holds
// the frame, so it depends on who allocated it (the NIC driver; on a veth, the sender).
// skb_truesize() models a linear skb whose head was kmalloc'ed for the frame, as a veth
// receives it from an AF_PACKET sender (measured on 6.18 x86-64 with /proc/net/udp
// rx_queue: payloads of 1..198 bytes cost 832, 199..646 cost 1280, 647..1472 cost 2304).
// docs/rcvbuf.md says where this differs from a NIC driver's allocation.
#pragma once

#include <bit>
#include <climits>
#include <cstdint>

namespace ingress::demux {

// SOCK_MIN_RCVBUF as the 6.18 x86-64 kernel reports it (getsockopt after SO_RCVBUF 0).
inline constexpr uint32_t kSockMinRcvbuf = 2304;
// net.core.rmem_default / rmem_max compiled-in defaults (SK_RMEM_MAX: 212992).
inline constexpr uint32_t kRmemDefault = 212992;
inline constexpr uint32_t kRmemMax = 212992;

// SO_RCVBUF: the sk_rcvbuf a setsockopt(SO_RCVBUF, requested) leaves.
constexpr uint32_t so_rcvbuf(uint32_t requested, uint32_t rmem_max) noexcept {
    uint32_t v = requested < rmem_max ? requested : rmem_max;
    if (v > INT_MAX / 2) v = INT_MAX / 2;
    return v * 2 > kSockMinRcvbuf ? v * 2 : kSockMinRcvbuf;
}

// The skb size model: SKB_TRUESIZE() of a kmalloc'ed linear head holding `frame_len` bytes
// after LL_RESERVED_SPACE (16 on Ethernet), with struct skb_shared_info at its end; heads of
// at most SKB_SMALL_HEAD_CACHE_SIZE come from that cache, larger ones from the kmalloc
// power-of-two caches.
inline constexpr uint32_t kSkbHeadroom = 16;     // LL_RESERVED_SPACE(dev), Ethernet
inline constexpr uint32_t kSkBuffSize = 256;     // SKB_DATA_ALIGN(sizeof(struct sk_buff))
inline constexpr uint32_t kSkbSharedInfo = 320;  // SKB_DATA_ALIGN(sizeof(skb_shared_info))
inline constexpr uint32_t kSkbSmallHead = 576;   // SKB_SMALL_HEAD_CACHE_SIZE
constexpr uint32_t skb_truesize(uint32_t frame_len) noexcept {
    const uint32_t data = (kSkbHeadroom + frame_len + 63u) & ~63u;  // SKB_DATA_ALIGN
    const uint32_t obj = data + kSkbSharedInfo;
    return (obj <= kSkbSmallHead ? kSkbSmallHead : std::bit_ceil(obj)) + kSkBuffSize;
}
static_assert(skb_truesize(14 + 20 + 8 + 1) == 832 && skb_truesize(14 + 20 + 8 + 198) == 832);
static_assert(skb_truesize(14 + 20 + 8 + 199) == 1280 && skb_truesize(14 + 20 + 8 + 646) == 1280);
static_assert(skb_truesize(14 + 20 + 8 + 647) == 2304 && skb_truesize(14 + 20 + 8 + 1472) == 2304);

// A datagram reassembled from `frames` fragments: ip_frag_reasm() sums the fragments'
// truesizes. The fragments' own lengths are gone by then; each is taken as an equal share
// of the datagram's IP payload (8-byte units) behind its own link and IP headers.
constexpr uint32_t reasm_truesize(uint32_t l3_off, uint32_t ip_hlen, uint32_t ip_payload,
                                  uint32_t frames) noexcept {
    if (frames <= 1) return skb_truesize(l3_off + ip_hlen + ip_payload);
    const uint32_t share = ((ip_payload + frames - 1) / frames + 7u) & ~7u;
    return frames * skb_truesize(l3_off + 20 + share);
}

// __udp_enqueue_schedule_skb()'s admission: may a datagram charged `size` join a queue
// holding `rmem` bytes under `rcvbuf`?
constexpr bool rcvbuf_admits(uint64_t rmem, uint32_t size, uint32_t rcvbuf) noexcept {
    if (rmem + size <= rcvbuf) return true;
    if (rcvbuf > INT_MAX / 2) return false;
    return rmem == 0;  // "Accept the packet if queue is empty."
}

// sock_queue_err_skb()'s admission (net/core/skbuff.c), for an error-queue entry (IP_RECVERR,
// ip_icmp_error()): the clone charged `size` (its truesize: skb_clone() keeps the ICMP
// message's) joins only while rmem + size stays below rcvbuf. The charge is the same
// sk_rmem_alloc the data queue's datagrams use, released when the app reads the entry
// (sock_rmem_free()); unlike the data queue, an empty queue gets no exception.
constexpr bool err_queue_admits(uint64_t rmem, uint32_t size, uint32_t rcvbuf) noexcept {
    return rmem + size < rcvbuf;
}

// The receive queue's active ring slots (shm/ring.h) for a budget of `rcvbuf` bytes: as many
// datagrams as rcvbuf_admits() lets a queue hold at once (each is charged at least
// skb_truesize(0) = 832 bytes, so at most rcvbuf / 832 of them; an empty queue takes one
// whatever the budget), rounded up to a power of two, at least 2, at most `cap` (the ring's
// slot_count). rmem_default: 256.
constexpr uint32_t rcv_queue_slots(uint32_t rcvbuf, uint32_t cap) noexcept {
    const uint32_t n = rcvbuf / skb_truesize(0);
    const uint32_t want = std::bit_ceil(n < 2 ? 2u : n);
    return want < cap ? want : cap;
}
static_assert(rcv_queue_slots(kRmemDefault, 1024) == 256 && 256 * 832 == kRmemDefault);
static_assert(rcv_queue_slots(kRmemDefault + 1, 1024) == 256);  // 256 fit, the 257th not
static_assert(rcv_queue_slots(kRmemDefault + 832, 1024) == 512);
static_assert(rcv_queue_slots(2 * kRmemMax, 1024) == 512 &&
              rcv_queue_slots(1u << 30, 1024) == 1024);
static_assert(rcv_queue_slots(kSockMinRcvbuf, 1024) == 2);

// The error queue's slots (one per entry, each charged at least skb_truesize(0) = 832 bytes)
// for a receive budget of `rcvbuf` bytes: enough that the budget, not the ring, bounds it
// (err_queue_admits() takes at most (rcvbuf - 1) / 832 entries), at most `cap` (a power of
// two).
inline constexpr uint32_t kErrQueueMaxSlots = 1u << 14;
constexpr uint32_t err_queue_slots(uint32_t rcvbuf, uint32_t cap = kErrQueueMaxSlots) noexcept {
    const uint32_t n = rcvbuf > 0 ? (rcvbuf - 1) / skb_truesize(0) : 0;
    return std::bit_ceil(n < 2 ? 2 : n < cap ? n : cap);
}
static_assert(skb_truesize(0) == 832);
// rmem_default: 255 entries; SO_RCVBUF at the compiled-in rmem_max (425984): 511.
static_assert(err_queue_slots(kRmemDefault) == 256 && err_queue_slots(2 * kRmemMax) == 512);

}  // namespace ingress::demux
