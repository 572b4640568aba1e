// The kernel side of the bindings scenarios: a BPF sk_lookup program that implements
// ingressd's bindings (src/demux/sk_lookup.h) over a SOCKMAP, as tubular's does: the most
// specific binding covering (daddr, dport) of a UDP lookup wins (longest prefix, then the
// narrowest port range, then the first); a drop binding is SK_DROP; a label's socket (the
// SOCKMAP slot of the label's index) is assigned, with BPF_SK_LOOKUP_F_NO_REUSEPORT when the
// binding says so; no binding, or an empty slot, is SK_PASS with nothing assigned.
// The runner (sides.cc) fills `bindings` and `labels`, and attaches the program to the
// scenario's namespace.
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_BINDINGS 16

struct binding {
    __u32 prefix;  // host order, masked
    __u32 mask;    // host order
    __u16 port_lo, port_hi;
    __u32 label;  // SOCKMAP index
    __u8 used, prefix_len, drop, no_reuseport;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MAX_BINDINGS);
    __type(key, __u32);
    __type(value, struct binding);
} bindings SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SOCKMAP);
    __uint(max_entries, MAX_BINDINGS);
    __type(key, __u32);
    __type(value, __u64);
} labels SEC(".maps");

SEC("sk_lookup")
int bindings_lookup(struct bpf_sk_lookup* ctx) {
    if (ctx->protocol != IPPROTO_UDP || ctx->family != 2 /* AF_INET */) return SK_PASS;
    const __u32 daddr = bpf_ntohl(ctx->local_ip4);
    const __u32 dport = ctx->local_port;  // host order
    int best = -1;
    __u32 best_len = 0, best_width = 0;
    for (__u32 i = 0; i < MAX_BINDINGS; i++) {
        __u32 k = i;
        struct binding* b = bpf_map_lookup_elem(&bindings, &k);
        if (!b || !b->used) continue;
        if ((daddr & b->mask) != b->prefix || dport < b->port_lo || dport > b->port_hi) continue;
        const __u32 width = (__u32)b->port_hi - b->port_lo;
        if (best < 0 || b->prefix_len > best_len ||
            (b->prefix_len == best_len && width < best_width)) {
            best = (int)i;
            best_len = b->prefix_len;
            best_width = width;
        }
    }
    if (best < 0) return SK_PASS;
    __u32 k = (__u32)best;
    struct binding* b = bpf_map_lookup_elem(&bindings, &k);
    if (!b) return SK_PASS;
    if (b->drop) return SK_DROP;
    __u32 label = b->label;
    struct bpf_sock* sk = bpf_map_lookup_elem(&labels, &label);
    if (!sk) return SK_PASS;
    long err = bpf_sk_assign(ctx, sk, b->no_reuseport ? BPF_SK_LOOKUP_F_NO_REUSEPORT : 0);
    bpf_sk_release(sk);
    return err ? SK_DROP : SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
