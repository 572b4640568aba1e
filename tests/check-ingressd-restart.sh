#!/bin/bash
# A daemon restart is a bounded, reported gap for every attached app (libingress reconnects,
# client.cc): ingressd is SIGKILLed under traffic with three apps attached — a unicast
# endpoint, a reuseport pair and a multicast endpoint with a source filter — and started
# again on the same socket. Without restarting, every app has its endpoints back within a
# second of the daemon's return, receives what is sent after it, and reports the gap
# (reconnects 1); the apps' fds are what they were before (no ring or doorbell leaked); the
# new daemon reports what the leftover XDP program passed to the kernel meanwhile.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
mac_a=02:00:5e:00:de:11 mac_b=02:00:5e:00:de:12
tmp=$(mktemp -d)
pids=()
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair ingrst $mac_a $mac_b
sock=$tmp/ctl.sock
ingressd_cfg "$tmp/d.yaml" "$sock"
up() {  # up LOG: waits for the workers
    for _ in $(seq 100); do grep -q "worker(s) up" "$1" && return 0; sleep 0.1; done
    cat "$1" >&2; return 1
}
start_daemon() {  # start_daemon N
    ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/d.yaml" > "$tmp/d$1.out" 2> "$tmp/d$1.log" &
    pid=$!
    up "$tmp/d$1.log"
}
endpoints() { "$build"/tools/ingressctl --socket "$sock" endpoints 2>/dev/null | grep -c '^udp' || true; }
wait_endpoints() {  # wait_endpoints N SECONDS
    local tries=$(($2 * 20))
    for _ in $(seq "$tries"); do [ "$(endpoints)" = "$1" ] && return 0; sleep 0.05; done
    echo "endpoints: $(endpoints), want $1 within $2 s" >&2; return 1
}
send() {  # send DST DPORT SRC COUNT [DST_MAC]
    ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
        --dst-mac "${5:-$mac_a}" --src "$3" --dst "$1" --sport 1000-1063 --dport "$2" \
        --rate 20k --count "$4" > /dev/null 2>&1
}
sink() {  # sink NAME ARGS...: an app in namespace a (where ingressd's socket is reachable)
    local name=$1; shift
    "$build"/tools/ingress-sink --rcvbuf 67108864 --socket "$sock" --json --quiet --duration 60 "$@" \
        > "$tmp/$name.json" 2> "$tmp/$name.err" &
    pids+=($!)
}
fds() { ls "/proc/$1/fd" | wc -l; }

start_daemon 1
sink uni --udp 0.0.0.0:5000
sink rp1 --udp 0.0.0.0:5001 --reuseport
sink rp2 --udp 0.0.0.0:5001 --reuseport
sink mc --udp 0.0.0.0:5002 --join 239.1.1.1,198.18.0.2
wait_endpoints 4 5
mcmac=01:00:5e:01:01:01
round() {
    send 198.18.0.1 5000 198.18.0.2 500
    send 198.18.0.1 5001 198.18.0.2 500
    send 239.1.1.1 5002 198.18.0.2 500 $mcmac
    send 239.1.1.1 5002 198.18.0.3 100 $mcmac  # not in the INCLUDE filter
}
round
sleep 0.3
declare -A before
for p in "${pids[@]}"; do before[$p]=$(fds "$p"); done

# The crash: no goodbye to anyone.
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
[ "$(endpoints)" = 0 ]
# While no daemon runs, the leftover XDP program passes the dataplane's traffic to the
# kernel (no socket on the queue); the next daemon reads that count before replacing it.
send 198.18.0.1 5000 198.18.0.2 200
sleep 0.3
start_daemon 2
grep -q "while no ingressd ran, it passed 200 frames meant for the dataplane to the kernel" "$tmp/d2.log" \
    || { cat "$tmp/d2.log" >&2; echo "the gap is not reported by the daemon" >&2; exit 1; }
# ... and counts it live: the xdp_leftover group, and the arrival line's second half.
"$build"/tools/ingressctl --socket "$sock" stats > "$tmp/stats2"
sed -n '/^#xdp_leftover/,/^#/p' "$tmp/stats2" | grep -qE "^no_xsk +200$" \
    || { cat "$tmp/stats2" >&2; echo "no xdp_leftover no_xsk 200 in ingressctl stats" >&2; exit 1; }
grep -qE "^#arrived 200 = rx 0 \+ missed before ingressd 0 .* \+ passed by the orphaned program 200 " "$tmp/stats2" \
    || { cat "$tmp/stats2" >&2; echo "the arrival line does not count the orphaned program's 200" >&2; exit 1; }
t0=$(date +%s%N)
wait_endpoints 4 1
t1=$(date +%s%N)
echo "check-ingressd-restart: apps back $(( (t1 - t0) / 1000000 )) ms after the daemon"
round
sleep 0.5
for p in "${pids[@]}"; do
    now=$(fds "$p")
    [ "$now" = "${before[$p]}" ] || { echo "app $p: $now fds, $((before[$p])) before the restart" >&2; exit 1; }
done
for p in "${pids[@]}"; do kill -INT "$p"; done
for p in "${pids[@]}"; do wait "$p"; done
pids=()
field() { grep -o "\"$2\":[0-9]*" "$tmp/$1.json" | cut -d: -f2; }
for n in uni rp1 rp2 mc; do
    echo "$n: $(cat "$tmp/$n.json")"
    [ "$(field $n reconnects)" = 1 ] || { echo "$n: the gap is not reported" >&2; exit 1; }
done
[ "$(field uni received)" = 1000 ] || { echo "unicast: $(field uni received) of 1000" >&2; exit 1; }
[ $(( $(field rp1 received) + $(field rp2 received) )) = 1000 ] \
    || { echo "reuseport pair: lost datagrams" >&2; exit 1; }
[ "$(field rp1 received)" -gt 0 ] && [ "$(field rp2 received)" -gt 0 ] \
    || { echo "reuseport pair: one member was not reopened" >&2; exit 1; }
[ "$(field mc received)" = 1000 ] || { echo "multicast: $(field mc received) of 1000 (filter lost?)" >&2; exit 1; }

# The second daemon counted its half: 1600 frames, 1500 delivered, the filtered 100 dropped
# by the interface-level source filter.
kill -INT "$pid"; wait "$pid"; pid=
for want in "IngressRx                       1600" "UdpInDatagrams                  1500"; do
    grep -qF "$want" "$tmp/d2.out" || { cat "$tmp/d2.out" >&2; echo "missing: $want" >&2; exit 1; }
done
echo "check-ingressd-restart: ok"
