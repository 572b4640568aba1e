// SPDX-License-Identifier: GPL-2.0
/* The ingress XDP program. No policy of its own: userspace fills ingress_dst with the IPv4
 * destinations the dataplane handles (the host's addresses, broadcast addresses, joined
 * groups), ingress_prefix with its local prefixes (AnyIP routes) and ingress_config with the
 * capture mode. A frame whose IPv4 destination is listed goes to the
 * AF_XDP socket of the queue it arrived on when its IP protocol is one ingress_proto lists
 * (UDP, ICMP, and what raw endpoints asked for; see kernel_keeps_icmp() for the ICMP messages
 * left to the kernel); everything else (ARP, IPv6, TCP, IGMP, traffic for other hosts ...)
 * stays with the kernel. Fragments carry the datagram's
 * destination and protocol, so every fragment of a datagram for us is redirected, first or
 * not.
 *
 * Built twice from this one source (xdp/meson.build): ingress.bpf.o, and with
 * INGRESS_XDP_HW_TSTAMP ingress_hwts.bpf.o, the device-bound variant that also hands the NIC's
 * receive stamp of every frame it redirects to the socket as XDP metadata (struct
 * ingress_xdp_meta, read by the AF_XDP backend). Every decision is the same in both. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ingress_xdp.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, INGRESS_XDP_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} ingress_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, INGRESS_XDP_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} ingress_xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, INGRESS_XDP_MAX_DST);
    __type(key, __u32);
    __type(value, __u32);
} ingress_dst SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, INGRESS_XDP_MAX_PREFIX);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct ingress_xdp_prefix_key);
    __type(value, __u32);
} ingress_prefix SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ingress_xdp_config);
} ingress_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, INGRESS_XDP_PROTOCOLS);
    __type(key, __u32);
    __type(value, __u32);
} ingress_proto SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, INGRESS_XDP_TAP_RING_BYTES);
} ingress_tap_ring SEC(".maps");

struct vlan_tag {
    __be16 tci;
    __be16 inner;
};

static __always_inline void count(__u32 stat)
{
    __u64 *v = bpf_map_lookup_elem(&ingress_stats, &stat);
    if (v)
        *v += 1;
}

/* A frame left to the kernel: its first INGRESS_XDP_TAP_SNAP bytes into ingress_tap_ring for
 * the dataplane's packet taps, while one is open (cfg->tap_copy). The frame itself is not
 * touched. A full ring loses the copy (INGRESS_XDP_STAT_TAP_LOST), never the frame. */
static __always_inline int pass_to_kernel(struct xdp_md *ctx, struct ingress_xdp_config *cfg)
{
    if (!cfg || !cfg->tap_copy)
        return XDP_PASS;
    __u64 len = ctx->data_end - ctx->data;
    __u64 cap = len;
    if (cap > INGRESS_XDP_TAP_SNAP)
        cap = INGRESS_XDP_TAP_SNAP;
    /* Hide cap's origin from clang so that the range the verifier needs (1..SNAP, for
     * bpf_xdp_load_bytes' length) is checked on the register passed. */
    asm volatile("" : "+r"(cap));
    if (cap == 0 || cap > INGRESS_XDP_TAP_SNAP)
        return XDP_PASS;
    struct ingress_xdp_tap_rec *r = bpf_ringbuf_reserve(&ingress_tap_ring, sizeof(*r), 0);
    if (!r) {
        count(INGRESS_XDP_STAT_TAP_LOST);
        return XDP_PASS;
    }
    r->len = (__u32)len;
    r->caplen = (__u32)cap;
    r->ifindex = ctx->ingress_ifindex;
    r->queue = ctx->rx_queue_index;
    if (bpf_xdp_load_bytes(ctx, 0, r->data, cap) != 0) {
        bpf_ringbuf_discard(r, 0);
        count(INGRESS_XDP_STAT_TAP_LOST);
        return XDP_PASS;
    }
    bpf_ringbuf_submit(r, 0);
    count(INGRESS_XDP_STAT_TAP_COPIED);
    return XDP_PASS;
}

#ifdef INGRESS_XDP_HW_TSTAMP
/* The XDP RX metadata kfunc (net/core/xdp.c, Documentation/networking/xdp-rx-metadata.rst):
 * the driver's hardware receive stamp of this frame; -EOPNOTSUPP/-ENODATA when it has none.
 * Callable only from a device-bound program (BPF_F_XDP_DEV_BOUND_ONLY and the ifindex). */
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;

/* struct ingress_xdp_meta in front of the frame, for every frame redirected: the magic and
 * length say it was written for this frame, a zero stamp that the driver gave none. A driver
 * without metadata room refuses bpf_xdp_adjust_meta: the frame goes without, and the backend
 * finds no magic. */
static __always_inline void put_hw_tstamp(struct xdp_md *ctx)
{
    __u64 ts = 0;
    if (bpf_xdp_metadata_rx_timestamp(ctx, &ts) != 0)
        ts = 0;
    if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct ingress_xdp_meta)) != 0)
        return;
    void *data = (void *)(long)ctx->data;
    struct ingress_xdp_meta *m = (void *)(long)ctx->data_meta;
    if ((void *)(m + 1) > data)
        return;
    m->magic = INGRESS_XDP_META_MAGIC;
    m->len = (__u32)(ctx->data_end - ctx->data);
    m->hw_ns = ts;
}
#endif

static __always_inline int redirect(struct xdp_md *ctx, struct ingress_xdp_config *cfg)
{
#ifdef INGRESS_XDP_HW_TSTAMP
    put_hw_tstamp(ctx);
#endif
    /* XDP_PASS as the fallback action: no socket bound on this queue -> the kernel. */
    int rc = bpf_redirect_map(&ingress_xsks, ctx->rx_queue_index, XDP_PASS);
    count(rc == XDP_REDIRECT ? INGRESS_XDP_STAT_REDIRECT : INGRESS_XDP_STAT_NO_XSK);
    return rc == XDP_PASS ? pass_to_kernel(ctx, cfg) : rc;
}

/* ICMP the dataplane takes, except what only the kernel's sockets can use (the same rule as
 * demux::icmp_kernel_keeps() in the pipeline and steer_to_dataplane() on DPDK): an echo reply
 * (the host's ping sockets), a redirect (the kernel's routes), an error quoting a datagram of a
 * protocol the dataplane does not take (TCP, IGMP). Only a first fragment shows the type. */
static __always_inline int kernel_keeps_icmp(struct iphdr *ip, void *end)
{
    if (ip->frag_off & bpf_htons(0x1fff))
        return 0;
    __u32 ihl = (ip->ihl & 0x0f) * 4;
    if (ihl < sizeof(*ip))
        return 0;
    __u8 *icmp = (__u8 *)ip + ihl;
    if ((void *)(icmp + 1) > end)
        return 0;
    __u8 type = icmp[0];
    if (type == 0 || type == 5)
        return 1;
    if (type != 3 && type != 4 && type != 11 && type != 12)
        return 0;
    if ((void *)(icmp + 8 + 10) > end) /* the quoted header's protocol byte */
        return 0;
    __u32 inner = icmp[8 + 9];
    __u32 *take = bpf_map_lookup_elem(&ingress_proto, &inner);
    return !(take && *take);
}

SEC("xdp")
int ingress_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    __u32 zero = 0;

    count(INGRESS_XDP_STAT_SEEN);
    struct ingress_xdp_config *cfg = bpf_map_lookup_elem(&ingress_config, &zero);
    if (cfg && cfg->capture_all)
        return redirect(ctx, cfg);

    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        goto pass;
    __be16 proto = eth->h_proto;
    void *l3 = eth + 1;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        struct vlan_tag *tag = l3;
        if ((void *)(tag + 1) > end)
            goto pass;
        proto = tag->inner;
        l3 = tag + 1;
    }
    if (proto != bpf_htons(ETH_P_IP))
        goto pass;
    struct iphdr *ip = l3;
    if ((void *)(ip + 1) > end)
        goto pass; /* too short to be ours; the kernel counts it as it likes */
    __u32 dst = ip->daddr;
    if (!bpf_map_lookup_elem(&ingress_dst, &dst)) {
        struct ingress_xdp_prefix_key key = {32, dst};
        if (!bpf_map_lookup_elem(&ingress_prefix, &key))
            goto pass;
    }
    __u32 protocol = ip->protocol;
    __u32 *take = bpf_map_lookup_elem(&ingress_proto, &protocol);
    if (take && *take) {
        if (protocol == IPPROTO_ICMP && kernel_keeps_icmp(ip, end))
            goto kernel_proto;
        return redirect(ctx, cfg);
    }
kernel_proto:
    count(INGRESS_XDP_STAT_KERNEL_PROTO);
    return pass_to_kernel(ctx, cfg);
pass:
    count(INGRESS_XDP_STAT_PASS);
    return pass_to_kernel(ctx, cfg);
}

char _license[] SEC("license") = "GPL";
