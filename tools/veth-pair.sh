# Sourced by the demo and the shell tests: two network namespaces made for this run and a
# veth pair between them, removed by veth_pair_remove.
#   veth_pair TAG MAC_A MAC_B   sets ns_a ns_b if_a if_b (unique to this process)
#   ingressd_cfg FILE SOCKET [CONTROL_LINE] [TAIL] [IFACE_LINES]
#                               writes the smallest ingressd config for $if_a (one queue,
#                               198.18.0.1/24 unless cfg_addresses says otherwise (empty:
#                               none, host: kernel), the control socket), with an extra line under
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
        printf 'interfaces:\n  - name: %s\n    queues: 1\n' "$if_a"
        # cfg_addresses= (empty): none in the file, so host: kernel (the default) reads the
        # kernel's (the caller runs `ip addr add`).
        if [ -n "${cfg_addresses-[198.18.0.1/24]}" ]; then
            printf '    addresses: %s\n' "${cfg_addresses-[198.18.0.1/24]}"
        fi
        if [ -n "${5:-}" ]; then printf '%s\n' "$5"; fi
        printf 'control:\n  socket: %s\n' "$2"
        if [ -n "${3:-}" ]; then printf '  %s\n' "$3"; fi
        if [ -n "${4:-}" ]; then printf '%s\n' "$4"; fi
    } > "$1"
}
# The tests' daemon and app, with $tmp, $ns_a and a fail() function of the caller's:
#   ingressd_up BUILD           ingressd on $tmp/ingressd.yaml in $ns_a ($pid; $tmp/out,
#                               $tmp/log), once it serves $tmp/ctl.sock
#   sink_up BUILD PACKETS [ARG...]
#                               ingress-sink on UDP 0.0.0.0:5000 ($sink), once attached;
#                               ARGs are more ingress-sink options
ingressd_up() {
    ip netns exec "$ns_a" "$1"/src/ingressd --config "$tmp/ingressd.yaml" > "$tmp/out" 2> "$tmp/log" &
    pid=$!
    "$1"/tools/ingressctl --socket "$tmp/ctl.sock" wait-ready --timeout 20 \
        || { cat "$tmp/log" >&2; fail "ingressd did not come up"; }
}
sink_up() {
    "$1"/tools/ingress-sink --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 --packets "$2" \
        --duration 60 "${@:3}" > "$tmp/sink" 2> "$tmp/sink.err" &
    sink=$!
    for _ in $(seq 100); do grep -q "endpoint .* open" "$tmp/sink.err" 2>/dev/null && break; sleep 0.1; done
    grep -q "endpoint .* open" "$tmp/sink.err" || { cat "$tmp/sink.err" >&2; fail "the app did not attach"; }
}
