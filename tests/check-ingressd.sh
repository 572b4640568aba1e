#!/bin/bash
# ingressd end to end on a veth pair in two namespaces made for the test: the configuration
# is validated (a broken one is refused with file:line:column and nothing is touched), the
# dataplane comes up, traffic for it is counted to the frame, traffic for other addresses is
# left to the kernel, SIGHUP adds an address live, SIGINT stops it cleanly with the
# conservation identity holding.
set -euo pipefail
build=$1
id=$$
ns_a=ingress-d-a-$id ns_b=ingress-d-b-$id
if_a=ida$id if_b=idb$id
if_a=${if_a:0:15} if_b=${if_b:0:15}
mac_a=02:00:5e:00:dd:01 mac_b=02:00:5e:00:dd:02
tmp=$(mktemp -d)
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$if_a" netns "$ns_a" address $mac_a type veth peer name "$if_b" netns "$ns_b" address $mac_b
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up

write_cfg() {
    cat > "$tmp/ingressd.yaml" <<EOC
interfaces:
  - name: $if_a
    queues: 1
    addresses: [$1]
EOC
}

# A broken configuration: refused, named precisely, nothing attached.
write_cfg 198.18.0.1/24
echo "    conf: {rp_filtr: 1}" >> "$tmp/ingressd.yaml"
if ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" 2> "$tmp/err"; then
    echo "broken config accepted" >&2; exit 1
fi
grep -q "ingressd.yaml:5:12: interfaces\[0\].conf.rp_filtr: unknown key (did you mean 'rp_filter'?)" "$tmp/err" \
    || { cat "$tmp/err" >&2; exit 1; }
ip -n "$ns_a" link show "$if_a" | grep -q xdp && { echo "XDP attached by a refused config" >&2; exit 1; }

write_cfg 198.18.0.1/24
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" --check
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > "$tmp/out" 2> "$tmp/log" &
pid=$!
for _ in $(seq 50); do grep -q "worker(s) up" "$tmp/log" && break; sleep 0.1; done
grep -q "worker(s) up" "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }

gen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
            --dst-mac $mac_a --src 198.18.0.2 --rate 20k "$@" > /dev/null 2>&1; }
gen --dst 198.18.0.1 --dport 5000 --count 2000
gen --dst 198.18.0.9 --dport 5000 --count 500       # not ours: the kernel's

# SIGHUP: a second address, applied live.
cat > "$tmp/ingressd.yaml" <<EOC
interfaces:
  - name: $if_a
    queues: 1
    addresses: [198.18.0.1/24, 198.18.0.7/32]
EOC
kill -HUP "$pid"
for _ in $(seq 50); do grep -q "reloaded" "$tmp/log" && break; sleep 0.1; done
grep -q "reloaded" "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
gen --dst 198.18.0.7 --dport 5000 --count 300
sleep 0.5
kill -INT "$pid"
wait "$pid"
pid=
cat "$tmp/log" "$tmp/out"
for want in "IngressRx                       2300" "NO_SOCKET                       2300" \
            "UdpNoPorts                      2300" "IpInDelivers                    2300" \
            "#conservation rx 2300 = delivered 0 + held 0 + passed 0 + dropped 2300: ok"; do
    grep -qF "$want" "$tmp/out" || { echo "missing: $want" >&2; exit 1; }
done
# The program is gone after a clean stop.
ip -n "$ns_a" link show "$if_a" | grep -q xdp && { echo "XDP left attached" >&2; exit 1; }

# A killed instance leaves its program behind; the next start removes it and comes up.
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > /dev/null 2> "$tmp/log2" &
pid=$!
for _ in $(seq 50); do grep -q "worker(s) up" "$tmp/log2" && break; sleep 0.1; done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
ip -n "$ns_a" link show "$if_a" | grep -q xdp || { echo "expected a leftover program after SIGKILL" >&2; exit 1; }
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > /dev/null 2> "$tmp/log3" &
pid=$!
for _ in $(seq 50); do grep -q "worker(s) up" "$tmp/log3" && break; sleep 0.1; done
cat "$tmp/log3"
grep -q "removed a leftover ingress_xdp program of a previous instance" "$tmp/log3" \
    || { echo "leftover not reported" >&2; exit 1; }
grep -q "worker(s) up" "$tmp/log3" || { echo "restart after a crash failed" >&2; exit 1; }
kill -INT "$pid"; wait "$pid"; pid=
exit 0
