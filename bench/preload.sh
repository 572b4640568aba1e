#!/bin/bash
# The shim's figures (README, "Running an existing app unmodified"): in one run, on one veth
# pair in namespaces made for it, the same UDP sink (bench_udp_recvmmsg: one socket,
# recvmmsg of 64 with MSG_WAITFORONE) on the kernel socket (no ingressd), then under
# LD_PRELOAD=libingress-preload.so (ingressd up), then ingress-sink written against
# libingress. ingress-pktgen sends for DURATION s at RATE (empty: as fast as it can).
# Prints datagrams/s sent and received per configuration, and the shim's cost per datagram
# against the native sink (CPU time of the receiving process / datagrams). Needs root.
#   bench/preload.sh [BUILD]   DURATION=3 RATE=
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$(cd "${1:-build}" && pwd)
DURATION=${DURATION:-3} RATE=${RATE:-}
tmp=$(mktemp -d)
ns_a= ns_b= pid= rx=
cleanup() {
    [ -n "$rx" ] && kill "$rx" 2>/dev/null || true
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "bench/preload: $*" >&2; exit 1; }
mac_a=02:00:5e:00:dc:11 mac_b=02:00:5e:00:dc:12
veth_pair ingpb $mac_a $mac_b
ip -n "$ns_a" link set lo up
ip -n "$ns_a" addr add 198.18.0.1/24 dev "$if_a"
ip -n "$ns_b" addr add 198.18.0.2/24 dev "$if_b"
ip -n "$ns_b" neigh add 198.18.0.1 lladdr $mac_a dev "$if_b"
cfg_addresses= ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "" "" "    driver: af_xdp"

# One window: the generator's datagrams/s (sets sent_rate, secs).
generate() {
    ip netns exec "$ns_b" "$build/tools/ingress-pktgen" --dev "$if_b" --src-mac $mac_b \
        --dst-mac $mac_a --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 --duration "$DURATION" \
        ${RATE:+--rate $RATE} --json > "$tmp/gen" 2> "$tmp/gen.err" || { cat "$tmp/gen.err" >&2; return 1; }
    secs=$(grep -o '"seconds":[0-9.]*' "$tmp/gen" | cut -d: -f2)
    sent=$(grep -o '"frames":[0-9]*' "$tmp/gen" | cut -d: -f2)
}
cpu_ns() {  # utime + stime of a process, ns
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1e9 / hz}' "/proc/$1/stat"
}
printf '%-8s %14s %14s %12s\n' config sent/s received/s cpu_ns/dgram > "$tmp/table"
row() {  # config received cpu_ns
    awk -v c="$1" -v r="$2" -v s="$sent" -v t="$secs" -v cpu="$3" 'BEGIN {
        printf "%-8s %14.0f %14.0f %12.0f\n", c, s / t, r / t, (r > 0 ? cpu / r : 0) }' >> "$tmp/table"
}
# sink CONFIG [PRELOAD]: bench_udp_recvmmsg through one window.
sink() {
    ip netns exec "$ns_a" env ${2:+LD_PRELOAD=$2} INGRESS_PRELOAD_SOCKET="$tmp/ctl.sock" \
        "$build/bench/bench_udp_recvmmsg" --port 5000 > "$tmp/rx" 2> "$tmp/rx.err" &
    rx=$!
    for _ in $(seq 50); do grep -q ready "$tmp/rx.err" 2>/dev/null && break; sleep 0.1; done
    sleep 0.2
    local c0 c1
    c0=$(cpu_ns "$rx")
    generate
    sleep 0.3
    c1=$(cpu_ns "$rx")
    kill -TERM "$rx"
    wait "$rx" || true
    rx=
    row "$1" "$(grep -o '"received":[0-9]*' "$tmp/rx" | cut -d: -f2)" "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')"
}

sink kernel
ingressd_up "$build"
sink shim "$build/src/libingress-preload.so"
grep -q "ingress-preload" "$tmp/rx.err" && fail "the shim fell back: $(cat "$tmp/rx.err")"
"$build/tools/ingress-sink" --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 \
    --duration $((DURATION + 2)) --json > "$tmp/native" 2> "$tmp/native.err" &
rx=$!
for _ in $(seq 50); do grep -q "endpoint .* open" "$tmp/native.err" 2>/dev/null && break; sleep 0.1; done
c0=$(cpu_ns "$rx")
generate
c1=$(cpu_ns "$rx")
wait "$rx" || true
rx=
row native "$(grep -o '"received":[0-9]*' "$tmp/native" | cut -d: -f2)" "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')"
echo "# $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); af_xdp on veth; ${RATE:-max} rate for $DURATION s"
cat "$tmp/table"
