#!/usr/bin/env bash
# The live demo's body (tools/demo runs it; the integration suite runs it shorter):
#   demo-live.sh BUILD_DIR [SECONDS_PER_PHASE]
# Two namespaces made for the run, a veth pair between them, ingress-live on one end,
# ingress-pktgen on the other; everything is removed at the end, also on failure.
set -euo pipefail
build=$1
phase=${2:-4}
id=$$
ns_a=ingress-demo-a-$id ns_b=ingress-demo-b-$id
if_a=idemoa$id if_b=idemob$id
if_a=${if_a:0:15} if_b=${if_b:0:15}
mac_a=02:00:5e:00:de:01 mac_b=02:00:5e:00:de:02
cleanup() {
    [ -n "${live_pid:-}" ] && kill "$live_pid" 2>/dev/null && wait "$live_pid" 2>/dev/null
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$if_a" netns "$ns_a" address $mac_a type veth peer name "$if_b" netns "$ns_b" address $mac_b
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up
# The peer's own address, so the ICMP port unreachables ingress sends have somewhere to go.
ip -n "$ns_b" addr add 198.18.0.2/24 dev "$if_b"

echo "demo: $ns_a/$if_a ($mac_a, 198.18.0.1/24) <-> $ns_b/$if_b ($mac_b, 198.18.0.2/24)"
ip netns exec "$ns_a" "$build"/tools/ingress-live --dev "$if_a" --addr 198.18.0.1/24 \
    --udp 5000 --udp 5001 --join 239.1.1.1 &
live_pid=$!
sleep 2

gen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
            --src 198.18.0.2 "$@"; }
echo "demo: unicast to ports 5000-5002 (5002 is closed), 5% malformed, 50k pps for $phase s"
gen --dst-mac $mac_a --dst 198.18.0.1 --dport 5000-5002 --malformed 5 --rate 50k --duration "$phase"
echo "demo: multicast to 239.1.1.1:5001, 20k pps"
gen --dst 239.1.1.1 --dport 5001 --rate 20k --duration "$((phase / 2 > 0 ? phase / 2 : 1))"

sleep 1
# Traffic is over: stop the dataplane, which prints every counter on its way out.
kill -INT "$live_pid"
wait "$live_pid"
live_pid=
