// SPDX-License-Identifier: GPL-2.0
/* The ingress XDP program. For now it only counts and passes every frame to the kernel; the
 * daemon issue adds the redirect of the dataplane's own traffic to the queue's AF_XDP socket.
 * It has no policy of its own: what to redirect will come from maps userspace fills. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ingress_xdp.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, INGRESS_XDP_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} ingress_stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
    __u64 *v = bpf_map_lookup_elem(&ingress_stats, &stat);
    if (v)
        *v += 1;
}

SEC("xdp")
int ingress_xdp(struct xdp_md *ctx)
{
    (void)ctx;
    count(INGRESS_XDP_STAT_SEEN);
    count(INGRESS_XDP_STAT_PASS);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
