/* The one header shared by the XDP program (xdp/ingress.bpf.c) and userspace (the AF_XDP
 * backend): map names, sizes and the layout of every value. C, so both sides include it. */
#ifndef INGRESS_XDP_H
#define INGRESS_XDP_H

#define INGRESS_XDP_PROG_NAME "ingress_xdp"
#define INGRESS_XDP_STATS_MAP "ingress_stats"

/* Index of each per-action counter in the per-CPU stats array. */
enum ingress_xdp_stat {
    INGRESS_XDP_STAT_SEEN = 0,     /* frames the program looked at */
    INGRESS_XDP_STAT_PASS = 1,     /* frames left to the kernel (XDP_PASS) */
    INGRESS_XDP_STAT_REDIRECT = 2, /* frames redirected to the queue's AF_XDP socket */
    INGRESS_XDP_STAT_ABORTED = 3,  /* redirect failed (no socket bound to the queue) */
    INGRESS_XDP_STAT_MAX = 4,
};

#endif
