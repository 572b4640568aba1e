#!/bin/bash
# The end-to-end benchmark: one veth pair, one generator (ingress-pktgen on AF_XDP), the same
# traffic, and four receivers measured one after the other:
#   (a) the Linux kernel into a UDP socket read with recvmmsg   (bench_udp_recvmmsg)
#   (b) a bare AF_XDP socket that only counts: the I/O ceiling   (bench_xsk_count)
#   (c) ingressd on AF_XDP delivering to an app                 (ingressd + ingress-sink)
#   (d) ingressd on DPDK (net_af_xdp vdev), when ingressd supports `driver: dpdk`
# plus the generator alone into a drop target, so a generator-bound figure is never read as
# a dataplane figure. Traffic profiles: 64-byte frames, 1518-byte frames (1500-byte IP
# packets) and 1518-byte datagrams cut into 3 shuffled fragments.
#
#   sudo bench/e2e.sh [BUILD_DIR]            (after: meson setup build && ninja -C build)
#   env: RUNS (default 3, the median is printed), DURATION (seconds per run, default 5),
#        PROFILES (default "64 1518 frag"), GEN_CPU (0), RX_CPU (1), HW_TIMESTAMPS (auto or
#        off: ingressd's AF_XDP port with its device-bound program or the plain one, default
#        auto; src/io/afxdp/hw_timestamps.md), E2E_TAG (the namespaces' prefix, default e2e)
#
# Placement: the generator runs on GEN_CPU; everything on the receive side runs on RX_CPU:
# the receiving veth's NAPI (threaded, its kthread pinned) or, for the kernel path without
# XDP, its backlog through RPS; the receiver process (ingressd's worker, the bare counter,
# the recvmmsg loop) and the app. Cost is measured on RX_CPU over the generator's sending
# window: cycles and instructions per received frame from `perf stat -C RX_CPU` where the
# machine has a PMU, otherwise cycles estimated from RX_CPU's busy time (/proc/stat) x its
# clock; for ingressd also its worker thread's own userspace cycles (utime x clock, or
# `perf stat -t TID -e cycles:u`). Busy-polling receivers ((b), (c)) keep RX_CPU busy even
# when idle, so their cycles per frame are meaningful at saturation, which is where they run.
#
# Mpps = frames whose datagram reached the receiver (for fragments: datagrams x 3) divided
# by the generator's sending time. "(c) at 90% of (b)" offers 90% of the bare receiver's
# median rate, paced, and reports what was lost.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
RUNS=${RUNS:-3} DURATION=${DURATION:-5} PROFILES=${PROFILES:-"64 1518 frag"}
GEN_CPU=${GEN_CPU:-0} RX_CPU=${RX_CPU:-1}
# Where the kernel's per-frame receive work (veth NAPI: the XDP program and the copy into the
# UMEM; or the backlog for the kernel path) runs: "rx" (on RX_CPU, beside the
# receiver, so RX_CPU's cost is the whole receive cost) or "sender" (left in the generator's
# softirq on GEN_CPU, the default: RX_CPU then runs only the receiver, as on a NIC whose interrupts are
# on other cores; with 2 CPUs this is the setting that shows the receivers' own ceiling).
KERNEL_WORK=${KERNEL_WORK:-sender}
[ "$(id -u)" -eq 0 ] || { echo "e2e.sh: needs root (namespaces, XDP)" >&2; exit 1; }
for t in tools/ingress-pktgen tools/ingress-sink src/ingressd bench/bench_udp_recvmmsg \
         bench/bench_xsk_count xdp/ingress.bpf.o; do
    [ -e "$build/$t" ] || { echo "e2e.sh: $build/$t missing; run: ninja -C $build" >&2; exit 1; }
done
source "$root/tools/veth-pair.sh"
mac_a=02:00:5e:00:e2:01 mac_b=02:00:5e:00:e2:02
tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair "${E2E_TAG:-e2e}" $mac_a $mac_b
mhz=$(awk '/^cpu MHz/ {print $4; exit}' /proc/cpuinfo)
rx_mask=$(printf '%x' $((1 << RX_CPU)))
ip -n "$ns_a" addr add 198.18.0.1/24 dev "$if_a"
ip -n "$ns_b" addr add 198.18.0.2/24 dev "$if_b"
ip -n "$ns_b" neigh replace 198.18.0.1 lladdr $mac_a dev "$if_b"
[ "$KERNEL_WORK" = rx ] && ip netns exec "$ns_a" sh -c "echo $rx_mask > /sys/class/net/$if_a/queues/rx-0/rps_cpus"
perf_ok=0
if command -v perf > /dev/null &&
    perf stat -x, -e cycles -C "$RX_CPU" -- sleep 0.1 2>&1 | grep -q '^[0-9]'; then perf_ok=1; fi

# veth has NAPI only while an XDP program is attached: then make it threaded and pin its
# kthread to RX_CPU, so the XDP program and the copy into the UMEM run there, not in the
# generator's softirq on GEN_CPU.
pin_napi() {
    [ "$KERNEL_WORK" = rx ] || return 0
    local p
    for _ in $(seq 20); do
        ip netns exec "$ns_a" sh -c "echo 1 > /sys/class/net/$if_a/threaded" 2> /dev/null && break
        sleep 0.1  # EIO while the NAPI instance is still being set up
    done
    sleep 0.2
    # The kthread is "napi/IF-ID"; /proc/PID/comm may cut it to 15 characters.
    local key="napi/$if_a-" c found=0
    for p in /proc/[0-9]*; do
        c=$(cat "$p/comm" 2> /dev/null) || continue
        [ "${c:0:5}" = napi/ ] || continue
        if [ "${key:0:${#c}}" = "$c" ] || [ "${c:0:${#key}}" = "$key" ]; then
            taskset -p -c "$RX_CPU" "${p#/proc/}" > /dev/null && found=1
        fi
    done
    [ $found = 1 ] || echo "e2e.sh: warning: no NAPI kthread for $if_a; its receive work stays on the sender's CPU" >&2
}
busy_jiffies() { awk -v c="cpu$RX_CPU" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
task_utime() { awk '{print $14}' "/proc/$1/task/$2/stat" 2>/dev/null || echo 0; }
wait_for() {  # FILE PATTERN: up to 10 s
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "e2e.sh: timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}
json_num() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" | head -1; }

profile_args() {
    case $1 in
    64) echo "--size 64" ;;
    1518) echo "--size 1518" ;;
    frag) echo "--size 1518 --frags 3 --frag-order shuffle" ;;
    esac
}
profile_frames_per_dgram() { [ "$1" = frag ] && echo 3 || echo 1; }

# One measured window: the generator sends for DURATION s (RATE: ingress-pktgen --rate, or
# empty for as fast as it can) while RX_CPU's busy time and perf counters are read around it.
# Sets: gen_frames gen_secs cyc ins (cyc/ins per window, from perf or estimated).
measure_window() {
    local profile=$1 rate=$2 worker_tid=${3:-}
    local b0 b1 u0 u1
    b0=$(busy_jiffies)
    [ -n "$worker_tid" ] && u0=$(task_utime "$rx_pid" "$worker_tid")
    if [ $perf_ok = 1 ]; then
        perf stat -x, -e cycles,instructions -C "$RX_CPU" -o "$tmp/perf" &
        perf_pid=$!
        if [ -n "$worker_tid" ]; then
            perf stat -x, -e cycles:u -t "$worker_tid" -o "$tmp/perf_t" &
            perf_t_pid=$!
        fi
    fi
    # shellcheck disable=SC2046
    taskset -c "$GEN_CPU" ip netns exec "$ns_b" "$build/tools/ingress-pktgen" --dev "$if_b" \
        --src-mac $mac_b --dst-mac $mac_a --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 \
        $(profile_args "$profile") --duration "$DURATION" ${rate:+--rate $rate} --json \
        > "$tmp/gen" 2> "$tmp/gen.err" || { cat "$tmp/gen.err" >&2; return 1; }
    if [ $perf_ok = 1 ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" || true
        [ -n "$worker_tid" ] && { kill -INT "$perf_t_pid"; wait "$perf_t_pid" || true; }
    fi
    b1=$(busy_jiffies)
    [ -n "$worker_tid" ] && u1=$(task_utime "$rx_pid" "$worker_tid")
    gen_frames=$(json_num "$tmp/gen" frames)
    gen_secs=$(json_num "$tmp/gen" seconds)
    local hz
    hz=$(getconf CLK_TCK)
    if [ $perf_ok = 1 ]; then
        cyc=$(awk -F, '$3 == "cycles" {print $1}' "$tmp/perf")
        ins=$(awk -F, '$3 == "instructions" {print $1}' "$tmp/perf")
    else
        cyc=$(awk -v j=$((b1 - b0)) -v hz="$hz" -v mhz="$mhz" 'BEGIN {printf "%.0f", j / hz * mhz * 1e6}')
        ins=
    fi
    wcyc=
    if [ -n "$worker_tid" ]; then
        if [ $perf_ok = 1 ]; then
            wcyc=$(awk -F, '$3 ~ /^cycles/ {print $1}' "$tmp/perf_t")
        else
            wcyc=$(awk -v j=$((u1 - u0)) -v hz="$hz" -v mhz="$mhz" 'BEGIN {printf "%.0f", j / hz * mhz * 1e6}')
        fi
    fi
}

# SIGTERM, not SIGINT: a shell without job control starts background commands with SIGINT
# ignored, and a process that inherits an ignored SIGINT (ingressd, which waits for it with
# sigtimedwait) never sees it.
stop_rx() {  # signal the receiver(s), wait, forget them
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

# Results: one line per run in $tmp/results: profile config mpps gen_mpps cyc_pkt ins_pkt wcyc_pkt loss
record() {  # profile config received_frames [loss]
    local per=$3
    awk -v p="$1" -v c="$2" -v r="$per" -v gf="$gen_frames" -v s="$gen_secs" -v cy="$cyc" \
        -v in_="${ins:-}" -v w="${wcyc:-}" -v loss="${4:-}" 'BEGIN {
        mp = r / s / 1e6; gm = gf / s / 1e6
        cp = r > 0 ? cy / r : 0; ip_ = (in_ != "" && r > 0) ? in_ / r : -1
        wp = (w != "" && r > 0) ? w / r : -1
        printf "%s %s %.4f %.4f %.0f %.0f %.0f %s\n", p, c, mp, gm, cp, ip_, wp, (loss == "" ? "-" : loss)
    }' >> "$tmp/results"
}

run_ceiling() {  # the generator alone: the kernel drops the frames on RX_CPU (no socket)
    measure_window "$1" ""
    record "$1" ceiling "$gen_frames"
}

run_kernel() {
    : > "$tmp/rx.err"
    ip netns exec "$ns_a" taskset -c "$RX_CPU" "$build/bench/bench_udp_recvmmsg" --port 5000 \
        > "$tmp/rx" 2> "$tmp/rx.err" &
    rx_pid=$!; pids=($rx_pid)
    wait_for "$tmp/rx.err" ready
    measure_window "$1" ""
    sleep 0.3
    stop_rx "$rx_pid"
    record "$1" a_kernel $(($(json_num "$tmp/rx" received) * $(profile_frames_per_dgram "$1")))
}

run_bare() {
    : > "$tmp/rx.err"
    ip netns exec "$ns_a" sh -c "mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf; \
        exec taskset -c $RX_CPU $build/bench/bench_xsk_count --dev $if_a --xdp-object $build/xdp/ingress.bpf.o" \
        > "$tmp/rx" 2> "$tmp/rx.err" &
    rx_pid=$!; pids=($rx_pid)
    wait_for "$tmp/rx.err" ready
    pin_napi
    measure_window "$1" ""
    sleep 0.3
    stop_rx "$rx_pid"
    record "$1" b_bare "$(json_num "$tmp/rx" received)"
}

# ingressd with DRIVER (af_xdp or dpdk) and ingress-sink on 0.0.0.0:5000. RATE empty: as
# fast as the generator can. Returns 3 when ingressd does not come up (reason in $tmp/d.log).
run_ingressd() {
    local profile=$1 driver=$2 config=$3 rate=${4:-} port="    hw_timestamps: ${HW_TIMESTAMPS:-auto}" dpdk=""
    if [ "$driver" = dpdk ]; then
        # DPDK's net_af_xdp vdev on the same veth end, its TAP exception interface beside it;
        # no hugepages, no PCI, in memory (the bench must not touch the host's DPDK state).
        port="    device: net_af_xdp0,iface=$if_a
    exception: e2ex$$"
        dpdk="dpdk:
  eal_args: [-l, \"$RX_CPU\", --no-huge, --no-pci, -m, \"512\", --no-shconf, --file-prefix, e2e$$, --log-level, \"*:warning\"]"
    fi
    cat > "$tmp/ingressd.yaml" <<EOC
interfaces:
  - name: $if_a
    driver: $driver
${port:+$port
}    queues: 1
    poll_mode: busy
    addresses: [198.18.0.1/24]
workers:
  cores: [$RX_CPU]
${dpdk:+$dpdk
}control:
  socket: $tmp/ctl.sock
EOC
    rm -f "$tmp/ctl.sock"
    # Emptied here: the background child opens its redirections later than we may read them.
    : > "$tmp/d.log"; : > "$tmp/d.out"; : > "$tmp/sink.err"
    ip netns exec "$ns_a" "$build/src/ingressd" --config "$tmp/ingressd.yaml" \
        --xdp-object "$build/xdp/ingress.bpf.o" > "$tmp/d.out" 2> "$tmp/d.log" &
    rx_pid=$!; pids=($rx_pid)
    for _ in $(seq 100); do
        grep -q "control socket" "$tmp/d.log" && break
        kill -0 "$rx_pid" 2>/dev/null || { wait "$rx_pid" 2>/dev/null || true; pids=(); return 3; }
        sleep 0.1
    done
    grep -q "control socket" "$tmp/d.log" || { stop_rx "$rx_pid"; return 3; }
    taskset -c "$RX_CPU" "$build/tools/ingress-sink" --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 \
        --json > "$tmp/sink" 2> "$tmp/sink.err" &
    local sink=$!; pids+=($sink)
    wait_for "$tmp/sink.err" "endpoint .* open" || { stop_rx "$sink" "$rx_pid"; return 1; }
    pin_napi
    # The worker: the thread of ingressd pinned to RX_CPU that used the most CPU so far.
    local tid best=0 t u
    for t in /proc/$rx_pid/task/*; do
        u=$(awk '{print $14 + $15}' "$t/stat")
        [ "$u" -ge "$best" ] && { best=$u; tid=${t##*/}; }
    done
    measure_window "$profile" "$rate" "$tid"
    sleep 0.3
    stop_rx "$sink"
    stop_rx "$rx_pid"
    grep "^#conservation" "$tmp/d.out" >&2 || true
    local got f rxd
    got=$(json_num "$tmp/sink" received)
    f=$(profile_frames_per_dgram "$profile")
    rxd=$((got * f))
    record "$profile" "$config" "$rxd" $((gen_frames > rxd ? gen_frames - rxd : 0))
}

median() {  # profile config column -> median over runs
    awk -v p="$1" -v c="$2" -v k="$3" '$1 == p && $2 == c {print $k}' "$tmp/results" | sort -g |
        awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

: > "$tmp/results"
d_reason=
for profile in $PROFILES; do
    for run in $(seq "$RUNS"); do
        echo "e2e: profile $profile, run $run/$RUNS" >&2
        run_ceiling "$profile"
        run_kernel "$profile"
        run_bare "$profile"
        run_ingressd "$profile" af_xdp c_ingressd ||
            { echo "e2e.sh: ingressd (af_xdp) run failed, sample left out:" >&2; cat "$tmp/d.log" >&2; }
        if [ -z "$d_reason" ]; then
            if ! run_ingressd "$profile" dpdk d_dpdk; then
                d_reason=$(grep -m1 -v '^EAL\|^TELEMETRY' "$tmp/d.log" || echo "ingressd exited")
                d_reason=${d_reason#ingressd: }
            fi
        fi
    done
    # Zero loss below the bare receiver's ceiling: ingressd offered 90% of (b)'s median.
    bare=$(median "$profile" b_bare 3)
    rate=$(awk -v m="$bare" 'BEGIN {printf "%.0f", m * 0.9 * 1e6}')
    run_ingressd "$profile" af_xdp c_at_90pct_of_b "$rate" ||
        { echo "e2e.sh: ingressd at 90% of (b) failed:" >&2; cat "$tmp/d.log" >&2; }
done

cpus=$(nproc)
echo "ingress end-to-end benchmark: $(date -u +%Y-%m-%d), $(uname -r), $cpus CPUs ($(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')), veth pair"
echo "generator on CPU $GEN_CPU, receive side on CPU $RX_CPU (kernel receive work: $KERNEL_WORK); median of $RUNS runs of ${DURATION}s; cost per received frame on CPU $RX_CPU"
if [ $perf_ok = 1 ]; then
    echo "cycles and instructions: perf stat (hardware counters)"
else
    echo "cycles: estimated as busy time x ${mhz} MHz (perf: no hardware counters on this machine); instructions: n/a"
fi
printf '%-8s %-34s %9s %9s %10s %10s %12s %10s\n' profile receiver "rx Mpps" "gen Mpps" "cyc/frame" "ins/frame" "worker u-cyc" "lost"
label() {
    case $1 in
    ceiling) echo "generator alone (kernel drops)" ;;
    a_kernel) echo "(a) kernel UDP + recvmmsg" ;;
    b_bare) echo "(b) bare AF_XDP (count only)" ;;
    c_ingressd) echo "(c) ingressd AF_XDP -> ingress-sink" ;;
    d_dpdk) echo "(d) ingressd DPDK -> ingress-sink" ;;
    c_at_90pct_of_b) echo "(c) offered 90% of (b)" ;;
    esac
}
for profile in $PROFILES; do
    ceil=$(median "$profile" ceiling 3)
    for c in ceiling a_kernel b_bare c_ingressd d_dpdk c_at_90pct_of_b; do
        m=$(median "$profile" $c 3)
        [ "$m" = "-" ] && continue
        # Within 10% of the generator's ceiling: the generator, not the receiver, set the pace.
        mark=$(awk -v m="$m" -v g="$ceil" -v c=$c 'BEGIN {print (c != "ceiling" && m >= 0.9 * g) ? "*" : ""}')
        printf '%-8s %-34s %9s %9s %10s %10s %12s %10s\n' "$profile" "$(label $c)" \
            "$m$mark" "$(median "$profile" $c 4)" "$(median "$profile" $c 5)" \
            "$(median "$profile" $c 6 | sed 's/^-1$/n\/a/')" "$(median "$profile" $c 7 | sed 's/^-1$/-/')" \
            "$(awk -v p="$profile" -v c=$c '$1 == p && $2 == c {print $8}' "$tmp/results" | tail -1)"
    done
    a=$(median "$profile" a_kernel 3) b=$(median "$profile" b_bare 3) c=$(median "$profile" c_ingressd 3)
    d=$(median "$profile" d_dpdk 3)
    awk -v p="$profile" -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {
        printf "%-8s ratios: c/a %.2f  c/b %.2f  d/b %s\n", p, c / a, c / b, (d == "-" ? "-" : sprintf("%.2f", d / b))
    }'
done
echo "* within 10% of the generator alone: generator-bound, not a receiver figure"
echo "lost: frames sent - frames whose datagram reached the app (last run)"
[ -n "$d_reason" ] && echo "(d) skipped: $d_reason"
exit 0
