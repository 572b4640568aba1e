#!/bin/bash
# ingressd's life cycle on AF_XDP, what check-ingressd-backends.sh (traffic, an app,
# counters, SIGHUP, SIGUSR1, a clean SIGINT stop, on every backend) does not cover: a broken
# configuration is refused with file:line:column and nothing is attached; --check; the XDP
# program is gone after a clean stop; a SIGKILLed instance's leftover program is removed by
# the next start; started as a background job (SIGINT ignored, as a shell starts one), it
# still stops on SIGINT.
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
xdp_attached() { ip -n "$ns_a" link show "$if_a" | grep -q xdp; }
# Starts ingressd in the background, logging to $1; waits until its workers are up.
start() {
    ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > /dev/null 2> "$1" &
    pid=$!
    for _ in $(seq 50); do grep -q "worker(s) up" "$1" && break; sleep 0.1; done
    grep -q "worker(s) up" "$1" || { cat "$1" >&2; echo "ingressd did not come up" >&2; exit 1; }
}

# A broken configuration: refused, named precisely, nothing attached.
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock"
sed -i '4a\    conf: {rp_filtr: 1}' "$tmp/ingressd.yaml"  # line 5, under the interface
if ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" 2> "$tmp/err"; then
    echo "broken config accepted" >&2; exit 1
fi
grep -q "ingressd.yaml:5:12: interfaces\[0\].conf.rp_filtr: unknown key (did you mean 'rp_filter'?)" "$tmp/err" \
    || { cat "$tmp/err" >&2; exit 1; }
xdp_attached && { echo "XDP attached by a refused config" >&2; exit 1; }

ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock"
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" --check
xdp_attached && { echo "XDP attached by --check" >&2; exit 1; }

# A clean stop removes the program.
start "$tmp/log"
xdp_attached || { echo "XDP not attached" >&2; exit 1; }
kill -INT "$pid"; wait "$pid"; pid=
xdp_attached && { echo "XDP left attached" >&2; exit 1; }

# A killed instance leaves its program behind; the next start removes it and comes up.
start "$tmp/log2"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
xdp_attached || { echo "expected a leftover program after SIGKILL" >&2; exit 1; }
start "$tmp/log3"
cat "$tmp/log3"
grep -q "removed a leftover ingress_xdp program of a previous instance" "$tmp/log3" \
    || { echo "leftover not reported" >&2; exit 1; }
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
echo "ingressd life cycle: ok"
exit 0
