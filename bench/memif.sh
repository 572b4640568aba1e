#!/bin/bash
# The memif benchmark: ingress-pktgen (a DPDK memif client) on GEN_CPU sends into ingressd
# (driver dpdk, a net_memif server, one busy-polling worker on WORKER_CPU): a kernel-free
# link, so the figures are the worker's own and the generator's, not veth's.
#
#   sudo bench/memif.sh [BUILD_DIR]
#   env: MODE       worker | generator | rfc2544 | all (default all)
#        DURATION   seconds per window (default 5)
#        PROFILES   "64 1518 frag" (worker mode: 64 B, 1518 B, 1518 B datagrams in 3
#                   shuffled fragments)
#        BURST      ingress-pktgen's --burst (default 256)
#        ZERO_COPY  yes | no: the generator as memif's zero-copy client (default no)
#        ROUNDS     generator mode: rounds of the generators, interleaved (default 3)
#        SIZES TRIAL MAX_TRIALS  rfc2544 mode (default 64,1518; 2 s; 8)
#        GEN_CPU WORKER_CPU  (default 0 and 1)
#        APP_CPU    where the apps run (default GEN_CPU: on two CPUs the worker's CPU then
#                   runs only the worker, so its cycles per frame are its own; "" leaves
#                   them to the scheduler)
#        CHECK=1    the CI variant: one short 64-byte worker window; exits non-zero unless
#                   ingressd's conservation identity holds and sent = rx + rx_missed + what
#                   was left in the memif ring (0..1024) when the client disconnected
#
# worker: per profile, a fresh ingressd with two apps: one busy-polling (ingress-sink
# --busy-poll) on UDP 5000, one that never reads (a stopped ingress-sink with a 64-slot
# ring) on 5001; the generator alternates the two ports, unpaced, for DURATION s. The
# worker's cycles per frame and idle share come from `ingressctl runtime --json` read twice
# inside the sending window (TSC cycles of the worker, wall time on its CPU: a worker
# preempted inside a stage charges that stage); drops by reason from ingressd's counters.
# A row is marked generator-bound when the worker still had idle polls (idle >= 5%) and
# nothing was missed at the memif ring (rx_missed 0): the worker waited for frames.
#
# generator: one receiver for every generator, `dpdk-testpmd --forward-mode=rxonly` as the
# memif server on WORKER_CPU (Debian's dpdk-dev), and ingress-pktgen or
# `dpdk-testpmd --forward-mode=txonly` as the memif client on GEN_CPU, 64-byte frames,
# ROUNDS rounds interleaved; the rate is the receiver's per-second count, the same measure
# for both. A generator's refused share (frames a full ring did not take) says when the
# receiver, not the generator, was the limit.
#
# rfc2544: `ingress-pktgen rfc2544` over memif against ingressd's IngressRx. memif has
# backpressure (a full ring refuses, nothing is lost on the link), so every trial passes
# and the search converges on the highest rate the pair sustains.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
MODE=${MODE:-all} DURATION=${DURATION:-5} PROFILES=${PROFILES:-"64 1518 frag"}
BURST=${BURST:-256} ZERO_COPY=${ZERO_COPY:-no} ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-64,1518} TRIAL=${TRIAL:-2} MAX_TRIALS=${MAX_TRIALS:-8}
GEN_CPU=${GEN_CPU:-0} WORKER_CPU=${WORKER_CPU:-1} CHECK=${CHECK:-}
APP_CPU=${APP_CPU-$GEN_CPU}
if [ -n "$CHECK" ]; then MODE=worker PROFILES=64 DURATION=${CHECK_DURATION:-2}; fi
[ "$(id -u)" -eq 0 ] || { echo "memif.sh: needs root (a namespace for ingressd's TAP)" >&2; exit 1; }
for t in src/ingressd tools/ingress-pktgen tools/ingressctl tools/ingress-sink; do
    [ -x "$build/$t" ] || { echo "memif.sh: $build/$t missing; run: ninja -C $build" >&2; exit 1; }
done
case $MODE in generator | all) command -v dpdk-testpmd > /dev/null ||
    { echo "memif.sh: dpdk-testpmd missing (Debian's dpdk-dev; tools/install-deps)" >&2; exit 1; } ;;
esac

tmp=$(mktemp -d)
ns=memif$$ mac=02:00:5e:00:4d:01 daemon="" apps=() gen="" rxp=""
cleanup() {
    for p in "${apps[@]}" $gen $rxp $daemon; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "memif.sh: kept $tmp" >&2 || rm -rf "$tmp"
    rm -rf "/var/run/dpdk/memifd$$" "/var/run/dpdk/memifg$$" "/var/run/dpdk/memift$$" "/var/run/dpdk/memifr$$"
}
trap cleanup EXIT
ip netns add "$ns"
ctl() { "$build/tools/ingressctl" --socket "$tmp/ctl.sock" "$@"; }
json_num() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" | head -1; }
sock=$tmp/memif.sock
client_vdev="net_memif0,role=client,socket=$sock,socket-abstract=no"

daemon_up() {
    cat > "$tmp/ingressd.yaml" <<EOF
interfaces:
  - name: memif0
    driver: dpdk
    device: "net_memif0,role=server,socket=$sock,socket-abstract=no,mac=$mac"
    queues: 1
    poll_mode: busy
    addresses: [198.18.0.1/24]
workers:
  cores: [$WORKER_CPU]
dpdk:
  eal_args: [-l, "$WORKER_CPU", --no-huge, --no-pci, -m, "256", --file-prefix, memifd$$, --log-level, "*:warning"]
  rx_descriptors: 4096
control:
  socket: $tmp/ctl.sock
EOF
    rm -f "$tmp/ctl.sock" "$sock"
    ip netns exec "$ns" "$build/src/ingressd" --config "$tmp/ingressd.yaml" > "$tmp/out" 2> "$tmp/log" &
    daemon=$!
    ctl wait-ready --timeout 20 > /dev/null || { cat "$tmp/log" >&2; echo "memif.sh: ingressd did not come up" >&2; exit 1; }
}
daemon_down() {
    kill -INT "$daemon"
    wait "$daemon" || { cat "$tmp/log" >&2; echo "memif.sh: ingressd failed" >&2; exit 1; }
    daemon=""
}
# ingress-pktgen as the memif client on GEN_CPU, in ingressd's namespace (the socket's).
pktgen() {
    local zc=""
    [ "$ZERO_COPY" = yes ] && zc=",zero-copy=yes"
    ip netns exec "$ns" "$build/tools/ingress-pktgen" --dpdk "-l $GEN_CPU --no-huge --no-pci -m 512 \
--single-file-segments --file-prefix memifg$$ --log-level=*:warning --vdev $client_vdev$zc" \
        --burst "$BURST" "$@"
}
testpmd_txonly() {  # SECONDS
    # testpmd forwards on lcores other than its main one: main (asleep between stats) on
    # WORKER_CPU, the txonly loop on GEN_CPU. 60 bytes + FCS = 64-byte frames, to its default
    # peer MAC 02:00:00:00:00:00 (not ingressd's).
    timeout -s INT "$1" ip netns exec "$ns" dpdk-testpmd -l "$WORKER_CPU,$GEN_CPU" --main-lcore "$WORKER_CPU" \
        --no-huge --no-pci -m 512 --file-prefix memift$$ --log-level='*:warning' --vdev "$client_vdev" \
        -- --forward-mode=txonly --txpkts=60 --burst=64 --total-num-mbufs=16384 --no-numa \
        --stats-period 1 > "$tmp/testpmd" 2>&1 || true
}
declare -A profile_args=([64]="--size 64" [1518]="--size 1518"
    [frag]="--size 1518 --frags 3 --frag-order shuffle")
# The worker's runtime profile, read twice once frames flow: sets w_frames w_secs w_cyc w_idle
# (frames, seconds, busy TSC cycles per frame and idle share of the window). Parsed with sed:
# nothing heavier than ingressctl runs inside the window, next to the two busy CPUs.
# Worker 0's KEY (frames: the worker's, the one followed by "sleeps", not a stage's).
rt_num() {
    if [ "$2" = frames ]; then sed -n 's/.*"frames":\([0-9]*\),"sleeps".*/\1/p' "$1" | head -1
    else json_num "$1" "$2"; fi
}
runtime_window() {  # SECONDS
    local got=0
    for _ in $(seq 100); do
        ctl runtime --json > "$tmp/rt0"
        got=$(rt_num "$tmp/rt0" frames)
        [ "${got:-0}" -gt 0 ] && break
        sleep 0.1
    done
    [ "${got:-0}" -gt 0 ] || { echo "memif.sh: the worker saw no frame" >&2; cat "$tmp/gen.err" >&2; exit 1; }
    ctl runtime --json > "$tmp/rt0"
    sleep "$1"
    ctl runtime --json > "$tmp/rt1"
    local hz f0 f1 b0 b1 i0 i1
    hz=$(json_num "$tmp/rt1" tsc_hz)
    f0=$(rt_num "$tmp/rt0" frames) f1=$(rt_num "$tmp/rt1" frames)
    b0=$(rt_num "$tmp/rt0" busy_cycles) b1=$(rt_num "$tmp/rt1" busy_cycles)
    i0=$(rt_num "$tmp/rt0" idle_cycles) i1=$(rt_num "$tmp/rt1" idle_cycles)
    read -r w_frames w_secs w_cyc w_idle < <(awk -v hz="$hz" -v f="$((f1 - f0))" \
        -v b="$((b1 - b0))" -v i="$((i1 - i0))" 'BEGIN {
        printf "%d %.6f %.1f %.4f\n", f, (b + i) / hz, (f > 0 ? b / f : 0), (b + i > 0 ? i / (b + i) : 0) }')
}
sink() {  # NAME ARGS...
    local name=$1; shift
    local pin=()
    [ -z "$APP_CPU" ] || pin=(taskset -c "$APP_CPU")
    "${pin[@]}" "$build/tools/ingress-sink" --socket "$tmp/ctl.sock" --json --quiet "$@" > "$tmp/$name.json" 2> "$tmp/$name.err" &
    apps+=($!)
}
mpps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.3f", (s > 0 ? n / s / 1e6 : 0) }'; }
cpu_desc="$(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo))"
echo "ingress memif benchmark: $(date -u +%F), $(uname -r), $cpu_desc, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "generator ingress-pktgen on CPU $GEN_CPU (--burst $BURST, zero-copy $ZERO_COPY), ingressd's worker on CPU $WORKER_CPU (poll busy), apps on CPU ${APP_CPU:-any}; window ${DURATION}s"
fail=0

worker_mode() {
    printf '%-7s %8s %8s %8s %9s %7s %9s  %s\n' profile "gen Mpps" "rx Mpps" "app Mpps" cyc/frame idle rx_missed "drops by reason"
    local profile
    for profile in $PROFILES; do
        daemon_up
        apps=()
        sink busy --udp 0.0.0.0:5000 --busy-poll 1000000
        sink stalled --udp 0.0.0.0:5001 --ring-slots 64
        for n in busy stalled; do
            for _ in $(seq 100); do [ "$(ctl endpoints | grep -c ':500[01]')" -ge 2 ] && break; sleep 0.1; done
        done
        kill -STOP "${apps[1]}"
        # shellcheck disable=SC2046
        pktgen --src-mac 02:00:5e:00:4d:02 --dst-mac $mac --src 198.18.0.2 --dst 198.18.0.1 \
            --dport 5000-5001 ${profile_args[$profile]} --duration "$DURATION" --json \
            > "$tmp/gen.json" 2> "$tmp/gen.err" &
        gen=$!
        runtime_window $((DURATION > 3 ? DURATION - 2 : 1))
        wait "$gen" || { cat "$tmp/gen.err" >&2; echo "memif.sh: ingress-pktgen failed" >&2; exit 1; }
        gen=""
        sleep 0.5
        kill -CONT "${apps[1]}"
        kill -INT "${apps[@]}"
        wait "${apps[@]}" || true
        apps=()
        daemon_down
        local sent secs got missed rx cons drops
        [ -z "${VERBOSE:-}" ] || cat "$tmp/gen.json" "$tmp/busy.json" "$tmp/stalled.json" "$tmp/rt0" "$tmp/rt1" >&2
        sent=$(json_num "$tmp/gen.json" frames) secs=$(json_num "$tmp/gen.json" seconds)
        got=$(json_num "$tmp/busy.json" received)
        rx=$(awk '$1 == "IngressRx" {print $2}' "$tmp/out")
        missed=$(sed -n 's/.*missed before ingressd \([0-9]*\) .*/\1/p' "$tmp/out")
        cons=$(grep "^#conservation" "$tmp/out")
        drops=$(awk '/^#drop reasons/ {on = 1; next} /^#/ {on = 0} on && NF == 2 {printf "%s%s %s", sep, $1, $2; sep = ", "}' "$tmp/out")
        local mark=""
        awk -v i="$w_idle" -v m="${missed:-0}" 'BEGIN { exit !(i >= 0.05 && m == 0) }' && mark=" gen-bound"
        printf '%-7s %8s %8s %8s %9s %6.1f%% %9s  %s\n' "$profile" "$(mpps "$sent" "$secs")" \
            "$(mpps "$w_frames" "$w_secs")" "$(mpps "${got:-0}" "$secs")" "$w_cyc" \
            "$(awk -v i="$w_idle" 'BEGIN { print i * 100 }')" "${missed:-?}" "${drops:-none}$mark"
        # Conservation: ingressd's identity at exit, and every frame the generator sent taken
        # by the worker, counted as missed at the ring, or still in the ring (at most its 1024
        # slots) when the client disconnected.
        local ring=$((sent - rx - ${missed:-0}))
        echo "#conservation $profile: sent $sent = rx $rx + rx_missed ${missed:-?} + left in the ring at disconnect $ring; ingressd: ${cons#\#conservation }"
        if ! grep -q ": ok$" <<< "$cons" || [ "$ring" -lt 0 ] || [ "$ring" -gt 1024 ]; then
            echo "memif.sh: conservation broken for $profile" >&2; cat "$tmp/out" >&2; fail=1
        fi
    done
    echo "gen Mpps: frames the generator sent / its seconds; rx Mpps: frames the worker took in the"
    echo "runtime window; app Mpps: datagrams the busy-polling app on :5000 received / generator"
    echo "seconds (half the datagrams go to the stopped app on :5001); cyc/frame: the worker's busy"
    echo "TSC cycles per frame in the window; idle: its idle share; gen-bound: the worker waited"
}

# testpmd rxonly as the memif server on WORKER_CPU (main lcore, asleep between its stats
# lines, on GEN_CPU): the one receiver of every generator in generator mode. Its per-second
# port statistics (cumulative RX-packets) go to $tmp/rx.
# (It ends on its own timeout: stopped by a signal, testpmd 22.11's rxonly sometimes crashes
# on the way out, and the subshell keeps that report out of the table.)
testpmd_rxonly() {  # SECONDS (sets rxp)
    rm -f "$sock"
    (
        timeout -s INT "$1" ip netns exec "$ns" dpdk-testpmd -l "$GEN_CPU,$WORKER_CPU" --main-lcore "$GEN_CPU" \
            --no-huge --no-pci -m 512 --file-prefix memifr$$ --log-level='*:warning' \
            --vdev "net_memif0,role=server,socket=$sock,socket-abstract=no" \
            -- --forward-mode=rxonly --total-num-mbufs=16384 --no-numa --stats-period 1 > "$tmp/rx" 2>&1
        true
    ) 2> /dev/null &
    rxp=$!
}
# The receiver's rate: testpmd's per-display Rx-pps (packets over TSC time since the last
# display, so a late display under load is still right); the median of the non-zero ones,
# the first and last (partial: the generator started or stopped inside them) left out when
# there are three or more.
rx_rate() {
    grep -a 'Rx-pps:' "$tmp/rx" | awk '$2 > 0 {print $2}' |
        awk '{ v[NR] = $1 } END { if (NR >= 3) for (i = 2; i < NR; i++) print v[i]; else for (i = 1; i <= NR; i++) print v[i] }' |
        sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'
}

generator_mode() {
    echo "generators into the same receiver (dpdk-testpmd rxonly, memif server on CPU $WORKER_CPU), 64-byte frames, ${DURATION}s each, $ROUNDS rounds"
    printf '%-5s %-40s %9s %9s\n' round generator "rx Mpps" refused
    local r g
    : > "$tmp/gen_rows"
    for r in $(seq "$ROUNDS"); do
        for g in pktgen testpmd; do
            local refused label
            testpmd_rxonly $((DURATION + 9))
            # A memif client that connects before the server's port started stays down.
            for _ in $(seq 100); do grep -aq "start packet forwarding" "$tmp/rx" && break; sleep 0.1; done
            sleep 1
            if [ $g = pktgen ]; then
                label="ingress-pktgen --burst $BURST zero-copy $ZERO_COPY"
                pktgen --dst-mac 02:00:00:00:00:00 --src 198.18.0.1 --dst 198.18.0.2 \
                    --duration "$DURATION" --json > "$tmp/gen.json" 2> "$tmp/gen.err" ||
                    { cat "$tmp/gen.err" >&2; echo "memif.sh: ingress-pktgen failed" >&2; exit 1; }
                local s f
                s=$(json_num "$tmp/gen.json" frames) f=$(json_num "$tmp/gen.json" refused)
                refused=$(awk -v s="$s" -v f="$f" 'BEGIN { printf "%.1f%%", (s + f > 0 ? 100 * f / (s + f) : 0) }')
            else
                label="dpdk-testpmd txonly --burst=64"
                testpmd_txonly $((DURATION + 3))
                refused=$(awk '/TX-dropped:/ {s = $2; d = $4} END { printf "%.1f%%", (s + d > 0 ? 100 * d / (s + d) : 0) }' "$tmp/testpmd")
            fi
            wait "$rxp" || true
            rxp=""
            local rate
            rate=$(rx_rate)
            printf '%-5s %-40s %9s %9s\n' "$r" "$label" "$(mpps "$rate" 1)" "$refused"
            echo "$g $rate" >> "$tmp/gen_rows"
        done
    done
    awk '{ s[$1] += $2; n[$1]++ } END {
        p = s["pktgen"] / n["pktgen"] / 1e6; t = s["testpmd"] / n["testpmd"] / 1e6
        printf "mean Mpps: ingress-pktgen %.3f, dpdk-testpmd txonly %.3f, ratio %.2f\n", p, t, (t > 0 ? p / t : 0) }' "$tmp/gen_rows"
    echo "rx Mpps: the receiver's median per-second rate (testpmd's Rx-pps); refused: share of the"
    echo "frames offered that a full memif ring did not take (ingress-pktgen retries them, testpmd"
    echo "counts them as TX-dropped): high, the receiver was the limit of that row"
}

rfc2544_mode() {
    daemon_up
    ip netns exec "$ns" timeout $((MAX_TRIALS * (TRIAL + 2) * 4 + 60)) "$build/tools/ingress-pktgen" rfc2544 \
        --dpdk "-l $GEN_CPU --no-huge --no-pci -m 512 --single-file-segments --file-prefix memifg$$ \
--log-level=*:warning --vdev $client_vdev$([ "$ZERO_COPY" = yes ] && echo ,zero-copy=yes)" --burst "$BURST" \
        --src-mac 02:00:5e:00:4d:02 --dst-mac $mac --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 \
        --socket "$tmp/ctl.sock" --sizes "$SIZES" --trial "$TRIAL" --max-trials "$MAX_TRIALS" \
        --settle 200 --link-speed 10G > "$tmp/rfc" 2> "$tmp/rfc.err" ||
        { cat "$tmp/rfc.err" >&2; echo "memif.sh: rfc2544 failed" >&2; exit 1; }
    daemon_down
    grep "^rfc2544:" "$tmp/rfc.err" || true
    cat "$tmp/rfc"
}

case $MODE in
worker) worker_mode ;;
generator) generator_mode ;;
rfc2544) rfc2544_mode ;;
all) worker_mode; generator_mode; rfc2544_mode ;;
*) echo "memif.sh: MODE is worker, generator, rfc2544 or all" >&2; exit 2 ;;
esac
exit $fail
