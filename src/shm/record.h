/* The one record: what recvmsg would give for one datagram (UDP, raw) or one frame (taps),
 * as it lies at the start of every ring slot in shared memory.
 *
 * There is one shape. The daemon's stages (demux/udp.cc, raw.cc, tap.cc) write it in place
 * into the reserved slot; the app reads the same bytes through libingress (C++:
 * ingress::Datagram::meta, shm::SlotMeta; C: ingress_datagram.meta). No stage builds a
 * copy of its own and no library converts it. The flags below are the only flag vocabulary
 * for a datagram's metadata, from the stage that sets them to the app that tests them.
 *
 * This header is C and C++ (ingress.h includes it) and is installed as
 * <ingress/shm/record.h>. Every offset is pinned below; the ring header says which layout
 * a ring holds (src/shm/ring.h: kRingVersion, and meta_size: where the payload starts).
 *
 * What recvmsg's control messages map to:
 *   IP_PKTINFO      ipi_ifindex = ifindex, ipi_addr = dst_addr, and ipi_spec_dst = dst_addr
 *                   too: fib_compute_spec_dst() returns the header's destination for every
 *                   route that delivers locally (RTCF_LOCAL, _BROADCAST, _MULTICAST), and
 *                   only those reach an endpoint;
 *   IP_RECVORIGDSTADDR  dst_addr:dst_port (the header's destination, before any redirect);
 *   IP_RECVTOS, IP_RECVTTL  tos, ttl;  SO_TIMESTAMPNS  rx_ns;
 *   SO_TIMESTAMPING scm_timestamping ts[0] = rx_ns (software: SOF_TIMESTAMPING_SOFTWARE),
 *                   ts[2] = hw_ns when INGRESS_F_HW_TSTAMP is set (the NIC's raw hardware
 *                   stamp: SOF_TIMESTAMPING_RAW_HARDWARE); without the flag the kernel
 *                   would have no skb_hwtstamps() either, and ts[2] stays zero;
 *   SO_RXQ_OVFL     drops: the kernel gives the socket's sk_drops when the datagram was
 *                   queued; here it is the drops of the ring the datagram came through (one
 *                   ring per daemon worker: with one worker, the same number);
 *   sockaddr_ll (taps)  sll_ifindex = ifindex, sll_pkttype = pkt_type, sll_protocol =
 *                   ethertype, sll_addr = src_mac (sll_halen 6), sll_hatype ARPHRD_ETHER;
 *   PACKET_AUXDATA  ingress_tp_status(), vlan_tci, vlan_tpid, tp_net = l3_off.
 *   IP_RECVOPTS     ip_optlen bytes in the slot right after the payload (at payload + len):
 *                   the datagram's IP options as the host's ip_rcv_options() left them
 *                   (record route and timestamp entries written, the whole ihl * 4 - 20
 *                   bytes); ip_optlen 0: the datagram had none (no cmsg, as the kernel's);
 *   IP_RETOPTS      ip_retoptlen bytes after those: the options an answer would carry,
 *                   reversed as ip_cmsg_recv_retopts() gives them (__ip_options_echo() then
 *                   ip_options_undo()); INGRESS_F_RETOPTS_CTRUNC when the echo failed (the
 *                   kernel sets MSG_CTRUNC and gives no IP_RETOPTS). UDP endpoints only.
 *
 * Growing the record (IP options, more timestamps, ...):
 *   - fixed-size fields are appended (the last reserved bytes went to rmem_before): the
 *     record grows by multiples of 8 bytes and the ring header's meta_size with it, so a
 *     client built for a shorter record still finds the payload and reads the fields it
 *     knows;
 *   - variable-size items (IP options) go in the slot after the payload, named by a length
 *     in the record (the payload gives up that much room: the options are never cut);
 *   - a field's meaning never changes and no field moves without a kRingVersion bump.
 * All multi-byte fields are host byte order. */
#ifndef INGRESS_SHM_RECORD_H
#define INGRESS_SHM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ingress_meta.flags. */
enum {
    INGRESS_F_TRUNCATED = 1u << 0,     /* MSG_TRUNC: orig_len > len (slot or tap snap length) */
    INGRESS_F_CSUM_VERIFIED = 1u << 1, /* L4 checksum verified (TP_STATUS_CSUM_VALID) */
    INGRESS_F_VLAN = 1u << 2,          /* vlan_tci valid (TP_STATUS_VLAN_VALID) */
    INGRESS_F_VLAN_TPID = 1u << 3,     /* vlan_tpid valid (TP_STATUS_VLAN_TPID_VALID) */
    /* UDP checksum not verified yet: `csum` holds what the reader adds to the payload in
     * the slot (udp_recvmsg -> __udp_lib_checksum_complete verifies at read time what
     * udp4_csum_init left for later; libingress does, and skips and counts a bad one). */
    INGRESS_F_CSUM_UNVERIFIED = 1u << 4,
    /* IP_RETOPTS: __ip_options_echo() failed for this datagram's options (a record route or
     * timestamp with room for less than a whole entry): recvmsg sets MSG_CTRUNC and gives no
     * IP_RETOPTS, as ip_cmsg_recv_retopts() does. */
    INGRESS_F_RETOPTS_CTRUNC = 1u << 5,
    /* hw_ns holds the NIC's hardware receive stamp (SO_TIMESTAMPING's ts[2]: the driver gave
     * one, as skb_hwtstamps() would be set): DPDK's RTE_ETH_RX_OFFLOAD_TIMESTAMP
     * (docs/dpdk.md), AF_XDP's XDP RX metadata (src/io/afxdp/hw_timestamps.md). Clear: no
     * hardware stamp, hw_ns is 0. */
    INGRESS_F_HW_TSTAMP = 1u << 6,
};

struct ingress_meta {
    uint32_t len;         /* payload bytes stored in this slot */
    uint32_t orig_len;    /* bytes the datagram / frame had (> len: INGRESS_F_TRUNCATED) */
    uint32_t src_addr;    /* msg_name sin_addr (UDP, raw) */
    uint32_t dst_addr;    /* IP_PKTINFO ipi_addr (UDP, raw) */
    uint16_t src_port;    /* msg_name sin_port (UDP) */
    uint16_t dst_port;    /* the datagram's destination port (UDP) */
    uint32_t ifindex;     /* IP_PKTINFO ipi_ifindex / sll_ifindex */
    uint64_t rx_ns;       /* SO_TIMESTAMPNS: the receiving backend's clock */
    uint16_t vlan_tci;    /* PACKET_AUXDATA tp_vlan_tci (INGRESS_F_VLAN) */
    uint16_t vlan_tpid;   /* PACKET_AUXDATA tp_vlan_tpid (INGRESS_F_VLAN_TPID) */
    uint8_t pkt_type;     /* sll_pkttype: PACKET_HOST, _BROADCAST, _MULTICAST, _OTHERHOST */
    uint8_t protocol;     /* IP protocol (UDP, raw); 0 for taps */
    uint16_t flags;       /* INGRESS_F_* */
    uint16_t ethertype;   /* taps: sll_protocol; 0 otherwise */
    uint16_t l3_off;      /* taps: where the network header starts in the payload (tp_net) */
    uint32_t drops;       /* SO_RXQ_OVFL: datagrams this ring had dropped when this one came */
    uint8_t tos;          /* IP_RECVTOS: the IP header's TOS byte (UDP, raw) */
    uint8_t ttl;          /* IP_RECVTTL: the IP header's TTL (UDP, raw) */
    uint8_t src_mac[6];   /* sll_addr (taps, SOCK_RAW and SOCK_DGRAM): the Ethernet source */
    uint16_t csum;        /* INGRESS_F_CSUM_UNVERIFIED: the one's-complement sum (RFC 1071,
                           * folded, not complemented, as a big-endian word's value) of the
                           * pseudo-header, the UDP header and the payload bytes the slot
                           * does not hold; with the payload in the slot added, an intact
                           * datagram sums to 0xffff (src/shm/ring.h, csum_ok) */
    uint8_t ip_optlen;    /* IP_RECVOPTS: bytes of IP options after the payload (0-40) */
    uint8_t ip_retoptlen; /* IP_RETOPTS: bytes of answer options after those (0-40) */
    uint32_t rmem_before; /* the ring's charged bytes before this slot (a running total, mod
                           * 2^32): what is queued (sk_rmem_alloc) is the ring header's
                           * rmem_charged minus the oldest unread slot's rmem_before (0 from
                           * daemons before it) */
    /* 64: appended (a ring whose header's meta_size is 64 has none). */
    uint64_t hw_ns; /* SO_TIMESTAMPING scm_timestamping.ts[2] (SOF_TIMESTAMPING_RAW_HARDWARE):
                     * the NIC's receive stamp in its own clock (nanoseconds; the PHC's,
                     * often TAI or free-running, not rx_ns's), valid with
                     * INGRESS_F_HW_TSTAMP, 0 otherwise */
};

/* The error-queue entry: what recvmsg(MSG_ERRQUEUE) gives for one ICMP error on an endpoint
 * with IP_RECVERR (net/ipv4/ip_sockglue.c ip_icmp_error() queues it, ip_recv_error() hands
 * it out). An error-queue slot holds an ingress_meta, then this struct, then the original
 * datagram's payload as the ICMP message quoted it (UDP: after the quoted UDP header; raw:
 * after the quoted IP header), cut to the slot (INGRESS_F_TRUNCATED, MSG_TRUNC).
 * The slot's ingress_meta: src_addr:src_port = msg_name (the quoted datagram's destination
 * address and port: serr->addr_offset, serr->port; port 0 for raw endpoints), dst_addr,
 * ifindex, tos, ttl, rx_ns, hw_ns = the ICMP message's IP_PKTINFO, IP_RECVTOS, IP_RECVTTL and
 * timestamps (hw_ns with INGRESS_F_HW_TSTAMP); len = bytes after the ingress_meta
 * (this struct included).
 * The fields below are struct sock_extended_err's (linux/errqueue.h), then SO_EE_OFFENDER's
 * sin_addr. */
struct ingress_sock_err {
    uint32_t ee_errno;    /* ECONNREFUSED, EHOSTUNREACH, EMSGSIZE, EPROTO, ... */
    uint8_t ee_origin;    /* SO_EE_ORIGIN_ICMP (2) */
    uint8_t ee_type;      /* the ICMP type */
    uint8_t ee_code;      /* the ICMP code */
    uint8_t ee_pad;       /* zero */
    uint32_t ee_info;     /* frag needed: the next-hop MTU; parameter problem: the pointer */
    uint32_t ee_data;     /* zero */
    uint32_t offender;    /* SO_EE_OFFENDER: the ICMP message's source address */
    uint32_t reserved[3]; /* zero */
};
#define INGRESS_SO_EE_ORIGIN_ICMP 2

#ifdef __cplusplus
#define INGRESS_RECORD_ASSERT(c) static_assert(c, #c)
#else
#define INGRESS_RECORD_ASSERT(c) _Static_assert(c, #c)
#endif
INGRESS_RECORD_ASSERT(sizeof(struct ingress_meta) == 72);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, len) == 0);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, orig_len) == 4);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, src_addr) == 8);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, dst_addr) == 12);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, src_port) == 16);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, dst_port) == 18);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, ifindex) == 20);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, rx_ns) == 24);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, vlan_tci) == 32);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, vlan_tpid) == 34);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, pkt_type) == 36);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, protocol) == 37);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, flags) == 38);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, ethertype) == 40);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, l3_off) == 42);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, drops) == 44);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, tos) == 48);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, ttl) == 49);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, src_mac) == 50);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, csum) == 56);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, ip_optlen) == 58);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, ip_retoptlen) == 59);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, rmem_before) == 60);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_meta, hw_ns) == 64);
INGRESS_RECORD_ASSERT(sizeof(struct ingress_sock_err) == 32);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_sock_err, ee_info) == 8);
INGRESS_RECORD_ASSERT(offsetof(struct ingress_sock_err, offender) == 16);
#undef INGRESS_RECORD_ASSERT

/* What PACKET_AUXDATA's tpacket_auxdata.tp_status would hold for a tap's frame
 * (include/uapi/linux/if_packet.h: TP_STATUS_USER 1, _VLAN_VALID 16, _VLAN_TPID_VALID 64,
 * _CSUM_VALID 128). */
static inline uint32_t ingress_tp_status(const struct ingress_meta* m) {
    return 1u | ((m->flags & INGRESS_F_VLAN) ? 16u : 0u) |
           ((m->flags & INGRESS_F_VLAN_TPID) ? 64u : 0u) |
           ((m->flags & INGRESS_F_CSUM_VERIFIED) ? 128u : 0u);
}

#ifdef __cplusplus
}
#endif

#endif /* INGRESS_SHM_RECORD_H */
