#!/bin/bash
# ingressd end to end on a veth pair in two namespaces made for the test: the configuration
# is validated (a broken one is refused with file:line:column and nothing is touched), the
# dataplane comes up, an app (ingress-sink) attaches over the control socket and receives
# its datagrams through shared memory, traffic for a closed port is NO_SOCKET, traffic for
# other addresses is left to the kernel, SIGHUP adds an address live, SIGINT stops it
# cleanly with the conservation identity holding, and a SIGKILLed instance's leftover
# program is removed by the next start.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
mac_a=02:00:5e:00:dd:01 mac_b=02:00:5e:00:dd:02
tmp=$(mktemp -d)
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair ingrd $mac_a $mac_b

write_cfg() {
    cat > "$tmp/ingressd.yaml" <<EOC
interfaces:
  - name: $if_a
    queues: 1
    addresses: [$1]
control:
  socket: $tmp/ctl.sock
EOC
}

# A broken configuration: refused, named precisely, nothing attached.
cat > "$tmp/ingressd.yaml" <<EOC
interfaces:
  - name: $if_a
    queues: 1
    addresses: [198.18.0.1/24]
    conf: {rp_filtr: 1}
EOC
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

# An app: ingress-sink on 0.0.0.0:5000 through the control socket and its rings.
"$build"/tools/ingress-sink --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 --packets 2300 \
    --duration 30 --json > "$tmp/sink" 2> "$tmp/sink.err" &
sink=$!
for _ in $(seq 100); do grep -q "endpoint .* open" "$tmp/sink.err" 2>/dev/null && break; sleep 0.1; done
grep -q "endpoint .* open" "$tmp/sink.err" || { cat "$tmp/sink.err" >&2; echo "the app did not attach" >&2; exit 1; }

gen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
            --dst-mac $mac_a --src 198.18.0.2 --rate 20k "$@" > /dev/null 2>&1; }
gen --dst 198.18.0.1 --dport 5000 --count 2000
gen --dst 198.18.0.1 --dport 5001 --count 100       # no endpoint: NO_SOCKET
gen --dst 198.18.0.9 --dport 5000 --count 500       # not ours: the kernel's

# SIGHUP: a second address, applied live.
cat > "$tmp/ingressd.yaml" <<EOC
interfaces:
  - name: $if_a
    queues: 1
    addresses: [198.18.0.1/24, 198.18.0.7/32]
control:
  socket: $tmp/ctl.sock
EOC
kill -HUP "$pid"
for _ in $(seq 50); do grep -q "reloaded" "$tmp/log" && break; sleep 0.1; done
grep -q "reloaded" "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
gen --dst 198.18.0.7 --dport 5000 --count 300
wait "$sink" || { cat "$tmp/sink.err" >&2; echo "ingress-sink failed" >&2; exit 1; }
cat "$tmp/sink"
grep -q '"received":2300' "$tmp/sink" || { echo "the app did not receive its 2300 datagrams" >&2; exit 1; }
sleep 0.3
kill -INT "$pid"
wait "$pid"
pid=
cat "$tmp/log" "$tmp/out"
for want in "IngressRx                       2400" "IngressDelivered                2300" \
            "UdpInDatagrams                  2300" "NO_SOCKET                       100" \
            "UdpNoPorts                      100" "IpInDelivers                    2400" \
            "#conservation rx 2400 = delivered 2300 + held 0 + passed 0 + dropped 100: ok"; do
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

# Started with SIGINT ignored (as a shell starts background jobs), it still stops on SIGINT.
(trap '' INT; exec ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" \
    > /dev/null 2> "$tmp/log4") &
pid=$!
for _ in $(seq 50); do grep -q "worker(s) up" "$tmp/log4" && break; sleep 0.1; done
kill -INT "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && { echo "ingressd ignored SIGINT" >&2; exit 1; }
wait "$pid"; pid=
exit 0
