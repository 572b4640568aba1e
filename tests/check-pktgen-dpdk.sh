#!/bin/bash
# ingress-pktgen --dpdk: the same traffic builder through DPDK's TX path. On a veth pair made
# for the test, the generator drives the far end through a vdev (net_af_packet, then
# net_af_xdp) and the kernel's UDP socket on the near end (bench_udp_recvmmsg) must receive
# exactly the frames the generator says it sent; the summary names the DPDK port.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
mac_a=02:00:5e:00:dd:21 mac_b=02:00:5e:00:dd:22
tmp=$(mktemp -d)
rx=
cleanup() {
    [ -n "$rx" ] && kill -9 "$rx" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair pgdpdk $mac_a $mac_b
ip -n "$ns_a" addr add 198.18.0.1/24 dev "$if_a"

for vdev in "net_af_packet0,iface=$if_b" "net_af_xdp0,iface=$if_b"; do
    ip netns exec "$ns_a" "$build"/bench/bench_udp_recvmmsg --port 5000 > "$tmp/rx" 2> "$tmp/rx.err" &
    rx=$!
    for _ in $(seq 50); do grep -q ready "$tmp/rx.err" && break; sleep 0.1; done
    ip netns exec "$ns_b" sh -c "mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf; exec timeout 60 \
        $build/tools/ingress-pktgen --dpdk '--no-huge --no-pci -m 256 --log-level=warning --vdev $vdev' \
        --src-mac $mac_b --dst-mac $mac_a --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 \
        --count 5000 --rate 50k --json" > "$tmp/gen" 2> "$tmp/gen.err" || { cat "$tmp/gen.err" >&2; exit 1; }
    sleep 0.3
    kill -TERM "$rx"; wait "$rx"; rx=
    echo "$vdev: $(cat "$tmp/gen") -> $(cat "$tmp/rx")"
    grep -q '"frames":5000,' "$tmp/gen" || { echo "$vdev: the generator did not send 5000 frames" >&2; exit 1; }
    grep -q '"driver":"dpdk"' "$tmp/gen" || { echo "$vdev: not the DPDK path" >&2; exit 1; }
    grep -q '"received":5000,' "$tmp/rx" || { echo "$vdev: the kernel socket did not get 5000 datagrams" >&2; exit 1; }
done
# A bad EAL argument string is refused with the reason.
if ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dpdk "--vdev 'net_null0" --count 1 2> "$tmp/err"; then
    echo "an unterminated quote was accepted" >&2; exit 1
fi
grep -q "unterminated quote" "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
exit 0
