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
 * not. */
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

static __always_inline int redirect(struct xdp_md *ctx)
{
    /* XDP_PASS as the fallback action: no socket bound on this queue -> the kernel. */
    int rc = bpf_redirect_map(&ingress_xsks, ctx->rx_queue_index, XDP_PASS);
    count(rc == XDP_REDIRECT ? INGRESS_XDP_STAT_REDIRECT : INGRESS_XDP_STAT_NO_XSK);
    return rc;
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
        return redirect(ctx);

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
        return redirect(ctx);
    }
kernel_proto:
    count(INGRESS_XDP_STAT_KERNEL_PROTO);
    return XDP_PASS;
pass:
    count(INGRESS_XDP_STAT_PASS);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
