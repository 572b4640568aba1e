# Sourced by the demo and the shell tests: two network namespaces made for this run and a
# veth pair between them, removed by veth_pair_remove.
#   veth_pair TAG MAC_A MAC_B   sets ns_a ns_b if_a if_b (unique to this process)
#   ingressd_cfg FILE SOCKET [CONTROL_LINE] [TAIL] [IFACE_LINES]
#                               writes the smallest ingressd config for $if_a (one queue,
#                               198.18.0.1/24, the control socket), with an extra line under
#                               `control:`, extra lines at the end, and extra lines (indented
#                               4) in the interface's entry
veth_pair() {
    local tag=$1 id=$$
    ns_a=$tag-a-$id ns_b=$tag-b-$id
    if_a=${tag:0:6}a$id if_b=${tag:0:6}b$id
    if_a=${if_a:0:15} if_b=${if_b:0:15}
    ip netns add "$ns_a"
    ip netns add "$ns_b"
    ip link add "$if_a" netns "$ns_a" address "$2" type veth peer name "$if_b" netns "$ns_b" address "$3"
    ip -n "$ns_a" link set "$if_a" up
    ip -n "$ns_b" link set "$if_b" up
}
veth_pair_remove() {
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
}
ingressd_cfg() {
    {
        printf 'interfaces:\n  - name: %s\n    queues: 1\n    addresses: [198.18.0.1/24]\n' "$if_a"
        if [ -n "${5:-}" ]; then printf '%s\n' "$5"; fi
        printf 'control:\n  socket: %s\n' "$2"
        if [ -n "${3:-}" ]; then printf '  %s\n' "$3"; fi
        if [ -n "${4:-}" ]; then printf '%s\n' "$4"; fi
    } > "$1"
}
