#!/bin/bash
# One owner per interface (src/io/iface_lock.h): a second ingressd started on an interface
# that a live ingressd drives is refused before it touches anything, naming the owner; the
# first one keeps its XDP program and its traffic. After the owner is SIGKILLed, the next
# start removes the leftover program and comes up; also with only the packaged unit's
# capabilities (no CAP_SYS_ADMIN: libxdp cannot open the leftover by id), by the program id
# the dead owner recorded in its lock file.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
mac_a=02:00:5e:00:de:01 mac_b=02:00:5e:00:de:02
tmp=$(mktemp -d)
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair ingown $mac_a $mac_b
ingressd_cfg "$tmp/a.yaml" "$tmp/a.sock"
ingressd_cfg "$tmp/b.yaml" "$tmp/b.sock"
up() {  # up LOG: waits for the workers
    for _ in $(seq 100); do grep -q "worker(s) up" "$1" && return 0; sleep 0.1; done
    cat "$1" >&2; return 1
}

ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/a.yaml" > "$tmp/a.out" 2> "$tmp/a.log" &
pid=$!
up "$tmp/a.log"
prog_before=$(ip -n "$ns_a" -d link show "$if_a" | grep -o "prog/xdp id [0-9]*")

# The second instance: refused, exit 1, the owner named, nothing touched.
if ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/b.yaml" > /dev/null 2> "$tmp/b.log"; then
    echo "a second ingressd on the same interface came up" >&2; exit 1
fi
cat "$tmp/b.log"
grep -q "$if_a: already driven by another ingressd (pid $pid)" "$tmp/b.log" \
    || { echo "the refusal does not name the owner" >&2; exit 1; }
grep -q "leftover" "$tmp/b.log" && { echo "the second instance touched the owner's program" >&2; exit 1; }
prog_after=$(ip -n "$ns_a" -d link show "$if_a" | grep -o "prog/xdp id [0-9]*")
[ "$prog_before" = "$prog_after" ] || { echo "XDP program changed: $prog_before -> $prog_after" >&2; exit 1; }

# The owner still takes its traffic: 300 datagrams to a closed port are its NO_SOCKET.
ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b --dst-mac $mac_a \
    --src 198.18.0.2 --dst 198.18.0.1 --dport 5999 --rate 20k --count 300 > /dev/null 2>&1
sleep 0.3
kill -INT "$pid"; wait "$pid"; pid=
for want in "IngressRx                       300" "NO_SOCKET                       300"; do
    grep -qF "$want" "$tmp/a.out" || { cat "$tmp/a.out" >&2; echo "missing: $want" >&2; exit 1; }
done

# A SIGKILLed owner releases the lock with its death: the next start takes over.
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/a.yaml" > /dev/null 2> "$tmp/c.log" &
pid=$!
up "$tmp/c.log"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/b.yaml" > /dev/null 2> "$tmp/d.log" &
pid=$!
up "$tmp/d.log"
grep -q "removed a leftover ingress_xdp program of a previous instance" "$tmp/d.log" \
    || { cat "$tmp/d.log" >&2; echo "leftover of the killed owner not removed" >&2; exit 1; }
kill -INT "$pid"; wait "$pid"; pid=
ip -n "$ns_a" link show "$if_a" | grep -q xdp && { echo "XDP left attached" >&2; exit 1; }

# The same under the unit's bounding set (config/ingressd.service.in, without the set*id
# ones this run does not use): the killed owner's program id is in its lock file.
unit_caps() {
    ip netns exec "$ns_a" setpriv --bounding-set -all,+net_admin,+bpf,+perfmon,+net_raw,+ipc_lock \
        --inh-caps -all "$build"/src/ingressd --config "$tmp/a.yaml" > /dev/null 2> "$1" &
    pid=$!
    up "$1"
}
unit_caps "$tmp/e.log"
id=$(ip -n "$ns_a" -d link show "$if_a" | grep -o "prog/xdp id [0-9]*" | grep -o "[0-9]*$")
lock=/run/ingressd/locks/net$(stat -L -c %i /run/netns/"$ns_a")-if$(ip -n "$ns_a" -o link show "$if_a" | cut -d: -f1).lock
grep -qx "xdp_prog_id $id" "$lock" || { cat "$lock" >&2; echo "$lock does not record program $id" >&2; exit 1; }
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
unit_caps "$tmp/f.log"
grep -q "removed a leftover ingress_xdp program of a previous instance (id $id;" "$tmp/f.log" \
    || { cat "$tmp/f.log" >&2; echo "leftover not removed without CAP_SYS_ADMIN" >&2; exit 1; }
kill -INT "$pid"; wait "$pid"; pid=
ip -n "$ns_a" link show "$if_a" | grep -q xdp && { echo "XDP left attached" >&2; exit 1; }
echo "check-ingressd-owner: ok"
