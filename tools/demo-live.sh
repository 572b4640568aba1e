#!/usr/bin/env bash
# The live demo's body (tools/demo runs it; the integration suite runs it shorter):
#   demo-live.sh BUILD_DIR [SECONDS_PER_PHASE]
# Two namespaces made for the run and a veth pair between them; ingressd on one end (XDP
# program + AF_XDP + one worker, config written here), two apps attached through its control
# socket (ingress-sink: UDP 0.0.0.0:5000, and UDP 0.0.0.0:5001 joined to 239.1.1.1),
# ingress-pktgen on the other end; live counters, then each app's summary and every counter
# in nstat form. Everything is removed at the end, also on failure.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
phase=${2:-4}
mac_a=02:00:5e:00:de:01 mac_b=02:00:5e:00:de:02
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair idemo $mac_a $mac_b
# The peer's own address, so the ICMP port unreachables ingress sends have somewhere to go.
ip -n "$ns_b" addr add 198.18.0.2/24 dev "$if_b"

# The host is configured as an operator would, with ip: ingressd (host: kernel, the
# default) reads the address from the kernel; the file names only the port.
ip -n "$ns_a" addr add 198.18.0.1/24 dev "$if_a"
cfg_addresses= ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock"
echo "demo: $ns_a/$if_a ($mac_a, 198.18.0.1/24) <-> $ns_b/$if_b ($mac_b, 198.18.0.2/24)"
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" --live &
daemon=$!
pids+=("$daemon")
for _ in $(seq 100); do [ -S "$tmp/ctl.sock" ] && break; sleep 0.1; done
[ -S "$tmp/ctl.sock" ] || { echo "demo: ingressd did not come up" >&2; exit 1; }

echo "demo: apps: ingress-sink on 0.0.0.0:5000, ingress-sink on 0.0.0.0:5001 joined to 239.1.1.1"
"$build"/tools/ingress-sink --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 > "$tmp/app1" 2> "$tmp/app1.err" &
app1=$!
"$build"/tools/ingress-sink --socket "$tmp/ctl.sock" --udp 0.0.0.0:5001 --join 239.1.1.1 \
    > "$tmp/app2" 2> "$tmp/app2.err" &
app2=$!
pids+=("$app1" "$app2")
for _ in $(seq 100); do
    grep -q "open" "$tmp/app1.err" 2>/dev/null && grep -q "open" "$tmp/app2.err" 2>/dev/null && break
    sleep 0.1
done
grep -q "open" "$tmp/app1.err" && grep -q "open" "$tmp/app2.err" \
    || { cat "$tmp"/app*.err >&2; echo "demo: the apps did not attach" >&2; exit 1; }

gen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
            --src 198.18.0.2 "$@"; }
echo "demo: unicast to ports 5000-5002 (5002 is closed), 5% malformed, 50k pps for $phase s"
gen --dst-mac $mac_a --dst 198.18.0.1 --dport 5000-5002 --malformed 5 --rate 50k --duration "$phase"
echo "demo: multicast to 239.1.1.1:5001, 20k pps"
gen --dst 239.1.1.1 --dport 5001 --rate 20k --duration "$((phase / 2 > 0 ? phase / 2 : 1))"
sleep 1
echo "demo: ingressctl endpoints (the apps, as ss -uapn shows sockets)"
"$build"/tools/ingressctl --socket "$tmp/ctl.sock" endpoints
echo "demo: ingressctl drops"
"$build"/tools/ingressctl --socket "$tmp/ctl.sock" drops

# Traffic is over: the apps print what they received, then ingressd every counter.
kill -INT "$app1" "$app2"
wait "$app1" "$app2" || true
echo "demo: app on 5000:           $(cat "$tmp/app1")"
echo "demo: app on 5001 + 239.1.1.1: $(cat "$tmp/app2")"
kill -INT "$daemon"
wait "$daemon"
pids=()
