#!/bin/bash
# The idle benchmark: for each poll_mode (busy, adaptive, interrupt), in one run, on one
# veth pair in namespaces made for it, ingressd on AF_XDP (one queue, one worker) and:
#   idle CPU   the worker thread's share of one CPU over IDLE seconds with no traffic
#              (/proc/PID/task/TID/schedstat: ns on CPU, finer than stat's utime+stime ticks)
#   latency    RATE datagrams per second for SECONDS from a kernel UDP socket in the peer
#              namespace to an app (bench_idle_latency): p50 / p99 / max in microseconds of
#              sent -> the worker's rx timestamp (rx_ns: wakeup and rx) and sent -> the app
#              (blocking recv: the app's own wakeup is in every mode alike)
#   loaded CPU the worker's CPU share while that traffic flows
#
# DRIVER=memif: ingressd on DPDK's net_memif (the server, worker on WORKER_CPU) and
# ingress-pktgen as its memif client on GEN_CPU, --stamp (each frame a copy carrying its
# CLOCK_REALTIME send time, UDP checksum kept valid), paced at each of RATES (default 10 kpps
# and 1 Mpps: more than veth carries here), 64-byte frames, burst 32: the sender is a
# spinning DPDK generator instead of a kernel socket, so the figures are the worker's
# wakeup and not veth's. memif has no rx interrupts in DPDK 22.11: adaptive and interrupt
# workers micro-sleep (README "Idle workers").
#
#   sudo bench/idle.sh [BUILD_DIR]
#   env: MODES (default "busy adaptive interrupt"), IDLE (3 s), RATE (10000), SECONDS_ (2),
#        DRIVER (af_xdp; "dpdk": DPDK's net_af_packet vdev on the same veth; "memif"),
#        RATES (memif: "10000 1000000"), GEN_CPU WORKER_CPU (memif: 0 and 1),
#        APP_POLL_US (the app's ring polling before it sleeps, default 0); TAG (the namespaces' prefix, idle);
#        SPIN_US (adaptive), BACKOFF_MAX_US, DEEP_AFTER_MS, DEEP_BACKOFF_MAX_US (dpdk, memif):
#        the interface's idle: keys (README "Idle workers"), each in the modes that use it
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
MODES=${MODES:-"busy adaptive interrupt"} IDLE=${IDLE:-3} RATE=${RATE:-10000} SECS=${SECONDS_:-2}
DRIVER=${DRIVER:-af_xdp} GEN_CPU=${GEN_CPU:-0} WORKER_CPU=${WORKER_CPU:-1}
RATES=${RATES:-$RATE}
[ "$DRIVER" = memif ] && RATES=${RATES_MEMIF:-${RATES_:-"10000 1000000"}}
[ "$(id -u)" -eq 0 ] || { echo "idle.sh: needs root (namespaces, XDP)" >&2; exit 1; }
for t in src/ingressd bench/bench_idle_latency xdp/ingress.bpf.o tools/ingress-pktgen; do
    [ -e "$build/$t" ] || { echo "idle.sh: $build/$t missing; run: ninja -C $build" >&2; exit 1; }
done
source "$root/tools/veth-pair.sh"
daemon="" app="" sender=""
# What this script started (by pid), the namespaces, the scratch directory.
trap 'kill -9 $daemon $app $sender 2>/dev/null || true; veth_pair_remove; rm -rf "$tmp" /var/run/dpdk/idle$$ /var/run/dpdk/idleg$$' EXIT
tmp=$(mktemp -d)
veth_pair "${TAG:-idle}" 02:00:5e:00:1d:01 02:00:5e:00:1d:02
mac_a=02:00:5e:00:1d:01
ip -n "$ns_b" addr add 198.18.0.2/24 dev "$if_b"
# ingressd answers no ARP on AF_XDP (the kernel of ns_a has no address): a static neighbour.
ip -n "$ns_b" neigh add 198.18.0.1 lladdr $mac_a dev "$if_b"
sock=$tmp/memif.sock

# ns the thread has been on a CPU (schedstat's first field).
oncpu() { awk '{print $1}' "/proc/$1/task/$2/schedstat"; }
share() {  # PID TID SECONDS -> percent of one CPU
    local a b
    a=$(oncpu "$1" "$2"); sleep "$3"; b=$(oncpu "$1" "$2")
    awk -v a="$a" -v b="$b" -v s="$3" 'BEGIN { printf "%.2f", (b - a) / (s * 1e7) }'
}

# One rate's window: the app, the sender, the worker's CPU share under load, one row.
measure() {  # MODE IDLE_SHARE RATE
    local rate=$3 count=$(($3 * SECS)) load
    "$build/bench/bench_idle_latency" recv "$tmp/ctl.sock" 5000 "$count" $((SECS + 10)) \
        > "$tmp/lat" 2> "$tmp/lat.err" &
    app=$!
    for _ in $(seq 100); do grep -q open "$tmp/lat.err" 2>/dev/null && break; sleep 0.05; done
    if [ "$DRIVER" = memif ]; then
        ip netns exec "$ns_a" "$build/tools/ingress-pktgen" --dpdk "-l $GEN_CPU --no-huge --no-pci \
-m 512 --single-file-segments --file-prefix idleg$$ --log-level=*:warning \
--vdev net_memif0,role=client,socket=$sock,socket-abstract=no" --src-mac 02:00:5e:00:1d:02 \
            --dst-mac $mac_a --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 --size 64 \
            --burst 32 --stamp --rate "$rate" --count "$count" > "$tmp/gen" 2> "$tmp/gen.err" &
    else
        ip netns exec "$ns_b" "$build/bench/bench_idle_latency" send 198.18.0.1 5000 "$rate" "$count" &
    fi
    sender=$!
    sleep 0.5
    load=$(share "$daemon" "$tid" 1)
    wait "$sender" || { cat "$tmp/gen.err" >&2 2>/dev/null; echo "idle.sh: the sender failed" >&2; }
    wait "$app" || true
    read -r _ got _ _ wp50 _ wp99 _ wmax _ _ ap50 _ ap99 _ amax < "$tmp/lat"
    # memif: the rate the generator reached (its summary), beside the one asked for.
    local gen=""
    [ "$DRIVER" = memif ] && gen=$(sed -n 's/.* s: \([0-9]*\) pps.*/  gen \1 pps/p' "$tmp/gen")
    printf '%-10s %8s %9s %10s | %8s / %8s / %8s (%s)  | %8s / %8s / %8s%s\n' "$1" "$rate" "$2" \
        "$load" "$wp50" "$wp99" "$wmax" "$got" "$ap50" "$ap99" "$amax" "$gen"
    app="" sender=""
}

# interfaces[].idle from the environment: each key where MODE and the driver use it.
idle_keys() {  # MODE
    local k=()
    if [ "$1" = adaptive ] && [ -n "${SPIN_US:-}" ]; then k+=("spin_us: $SPIN_US"); fi
    if [ "$1" != busy ] && [ "$DRIVER" != af_xdp ]; then
        if [ -n "${BACKOFF_MAX_US:-}" ]; then k+=("backoff_max_us: $BACKOFF_MAX_US"); fi
        if [ -n "${DEEP_AFTER_MS:-}" ]; then k+=("deep_after_ms: $DEEP_AFTER_MS"); fi
        if [ -n "${DEEP_BACKOFF_MAX_US:-}" ]; then k+=("deep_backoff_max_us: $DEEP_BACKOFF_MAX_US"); fi
    fi
    if [ ${#k[@]} -gt 0 ]; then printf '\n    idle: {%s}' "$(IFS=,; echo "${k[*]}")"; fi
}

idle_env=""
for v in SPIN_US BACKOFF_MAX_US DEEP_AFTER_MS DEEP_BACKOFF_MAX_US; do
    if [ -n "${!v:-}" ]; then idle_env+="${idle_env:+ }$v=${!v}"; fi
done

printf '%-10s %8s %9s %10s | %-44s | %-44s\n' mode rate "idle CPU%" "load CPU%" \
    "sent->worker us (p50 / p99 / max)" "sent->app us (p50 / p99 / max)"
for mode in $MODES; do
    iface="    poll_mode: $mode$(idle_keys "$mode")" tail=""
    if [ "$DRIVER" = memif ]; then
        iface+="
    driver: dpdk
    device: \"net_memif0,role=server,socket=$sock,socket-abstract=no,mac=$mac_a\""
        tail="workers:
  cores: [$WORKER_CPU]
dpdk:
  eal_args: [-l, \"$WORKER_CPU\", --no-huge, --no-pci, -m, \"256\", --file-prefix, idle$$, --log-level, \"*:warning\"]"
        rm -f "$sock"
    elif [ "$DRIVER" = dpdk ]; then
        iface+="
    driver: dpdk
    device: net_af_packet0,iface=$if_a
    exception: idlex$$"
        tail="dpdk:
  eal_args: [-l, \"0\", --no-huge, --no-pci, -m, \"256\", --no-shconf, --file-prefix, idle$$, --log-level, \"*:warning\"]"
    fi
    ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "" "$tail" "$iface"
    rm -f "$tmp/ctl.sock"
    ip netns exec "$ns_a" "$build/src/ingressd" --config "$tmp/ingressd.yaml" \
        > "$tmp/out" 2> "$tmp/err" &
    daemon=$!
    for _ in $(seq 100); do [ -S "$tmp/ctl.sock" ] && break; sleep 0.1; done
    [ -S "$tmp/ctl.sock" ] || { cat "$tmp/err" >&2; echo "idle.sh: ingressd did not come up" >&2; exit 1; }
    tid=""
    for t in /proc/$daemon/task/*; do
        [ "$(cat "$t/comm")" = ingress-w0 ] && tid=${t##*/}
    done
    [ -n "$tid" ] || { echo "idle.sh: no worker thread ingress-w0" >&2; exit 1; }
    sleep 0.5
    idle=$(share "$daemon" "$tid" "$IDLE")
    for rate in $RATES; do
        measure "$mode" "$idle" "$rate"
        # The next rate's worker starts from idle again (adaptive's spin, the backoff).
        sleep 0.5
    done
    { grep -h "rx interrupts" "$tmp/err" || true; } | sed 's/^/# /' | head -1
    kill -INT "$daemon"
    wait "$daemon" || true
    daemon=""
done
echo "# $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); driver $DRIVER; datagrams/s $RATES for $SECS s each; idle over $IDLE s; idle keys: ${idle_env:-the defaults}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
