/* The one header shared by the XDP program (xdp/ingress.bpf.c) and userspace (the AF_XDP
 * backend, src/io/afxdp/): program and map names, sizes and the layout of every value. C,
 * so both sides include it. */
#ifndef INGRESS_XDP_H
#define INGRESS_XDP_H

#define INGRESS_XDP_PROG_NAME "ingress_xdp"
#define INGRESS_XDP_STATS_MAP "ingress_stats"
#define INGRESS_XDP_XSKS_MAP "ingress_xsks"
#define INGRESS_XDP_DST_MAP "ingress_dst"
#define INGRESS_XDP_CONFIG_MAP "ingress_config"
#define INGRESS_XDP_PROTO_MAP "ingress_proto"
#define INGRESS_XDP_PREFIX_MAP "ingress_prefix"
#define INGRESS_XDP_TAP_RING "ingress_tap_ring"

#define INGRESS_XDP_MAX_QUEUES 64
#define INGRESS_XDP_MAX_DST 4096
#define INGRESS_XDP_MAX_PREFIX 256

/* Index of each per-action counter in the per-CPU stats array. */
enum ingress_xdp_stat {
    INGRESS_XDP_STAT_SEEN = 0,         /* frames the program looked at */
    INGRESS_XDP_STAT_PASS = 1,         /* frames left to the kernel (XDP_PASS) */
    INGRESS_XDP_STAT_REDIRECT = 2,     /* frames redirected to the queue's AF_XDP socket */
    INGRESS_XDP_STAT_NO_XSK = 3,       /* wanted, but no socket on that queue: passed instead */
    INGRESS_XDP_STAT_KERNEL_PROTO = 4, /* for us, but an IP protocol the kernel keeps (TCP...) */
    INGRESS_XDP_STAT_TAP_COPIED = 5,   /* passed frames copied into ingress_tap_ring */
    INGRESS_XDP_STAT_TAP_LOST = 6,     /* passed frames not copied: ingress_tap_ring was full */
    INGRESS_XDP_STAT_MAX = 7,
};

/* The device-bound variant (ingress_hwts.bpf.o, built from the same source with
 * INGRESS_XDP_HW_TSTAMP) puts this XDP metadata in front of every frame it redirects to a
 * socket: it ends where the frame starts, so hw_ns sits in the 8 bytes right before the
 * frame, where the dataplane keeps a hardware stamp (core::kFlagHwTstamp). The UMEM reuses
 * its frames, so the bytes before a frame hold whatever was there before unless the program
 * wrote them: magic and len (the frame's length) say they were written for this frame. hw_ns
 * is bpf_xdp_metadata_rx_timestamp()'s stamp (the NIC's clock, ns), 0 when the driver gave
 * none. The AF_XDP backend reads it only from the device-bound variant and clears the magic
 * as it reads it. */
#define INGRESS_XDP_META_MAGIC 0x1d5e7a6bu
struct ingress_xdp_meta {
    unsigned int magic;       /* INGRESS_XDP_META_MAGIC */
    unsigned int len;         /* data_end - data when written */
    unsigned long long hw_ns; /* 0: no stamp */
};

/* ingress_config[0]. */
struct ingress_xdp_config {
    unsigned int capture_all; /* 1: redirect every frame (full capture); 0: only ours */
    unsigned int tap_copy;    /* 1: copy every frame left to the kernel into ingress_tap_ring
                                 (the daemon sets it while a packet tap is open) */
};

/* ingress_tap_ring (BPF_MAP_TYPE_RINGBUF): one record per frame the program left to the
 * kernel (XDP_PASS) while tap_copy is set, its first INGRESS_XDP_TAP_SNAP bytes, for the
 * dataplane's packet taps (as xdpdump copies frames into a perf buffer). Fixed-size records
 * (bpf_ringbuf_reserve takes a constant): INGRESS_XDP_TAP_RING_BYTES holds about 2700. */
#define INGRESS_XDP_TAP_SNAP 1536
#define INGRESS_XDP_TAP_RING_BYTES (4u << 20)
struct ingress_xdp_tap_rec {
    unsigned int len;     /* the frame's length on the wire */
    unsigned int caplen;  /* bytes in data: min(len, INGRESS_XDP_TAP_SNAP) */
    unsigned int ifindex; /* the interface it arrived on */
    unsigned int queue;   /* its RX queue */
    unsigned char data[INGRESS_XDP_TAP_SNAP];
};

/* ingress_dst: key = IPv4 destination address in network byte order; value = one of: */
enum ingress_xdp_dst_kind {
    INGRESS_XDP_DST_LOCAL = 1,     /* one of our addresses */
    INGRESS_XDP_DST_BROADCAST = 2, /* a broadcast address we accept */
    INGRESS_XDP_DST_GROUP = 3,     /* a multicast group an app joined */
};

/* ingress_prefix (an LPM trie): the local prefixes wider than one address, an AnyIP route such
 * as `ip route add local 198.18.100.0/24 dev lo` or lo's 127.0.0.0/8; looked up when
 * ingress_dst has no entry for the destination. Value: an ingress_xdp_dst_kind. */
struct ingress_xdp_prefix_key {
    unsigned int prefixlen; /* 0..32, as BPF_MAP_TYPE_LPM_TRIE wants it: first */
    unsigned int addr;      /* network byte order */
};

/* ingress_proto: key = IPv4 protocol number (0..255); value 1 = the dataplane takes datagrams
 * of that protocol for the destinations above, 0 = the kernel keeps them. Userspace sets UDP,
 * ICMP (the dataplane answers pings and timestamps and takes the errors about its datagrams)
 * and the protocols its raw endpoints ask for; TCP, IGMP and the rest stay with the kernel, so
 * the host keeps its TCP connections and its IGMP state. ICMP echo replies, redirects and
 * errors quoting a protocol not taken stay with the kernel too (kernel_keeps_icmp()). */
#define INGRESS_XDP_PROTOCOLS 256

#endif
