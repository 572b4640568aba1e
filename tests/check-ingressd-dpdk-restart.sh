#!/bin/bash
# DPDK restarts on a memif link (issue 24, item 6). ingressd serves a net_memif port (role
# server, a socket file); SIGKILLed, it leaves the socket file behind, which made the next
# start fail ("cannot attach the vdev net_memif0: Operation not permitted"). The next start
# must remove it, saying so and naming the file, and then receive from an ingress-pktgen
# memif client; a second ingressd on the same socket file while the first lives is refused,
# naming the file, and touches nothing; a clean stop leaves no /var/run/dpdk/PREFIX behind.
set -euo pipefail
build=$1
tmp=$(mktemp -d)
ns=ingmr$$
prefix=ingmr$$
mac=02:00:5e:00:d6:01
pid=
sink=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    [ -n "$sink" ] && kill -9 "$sink" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp" "/var/run/dpdk/$prefix" "/var/run/dpdk/${prefix}b" "/var/run/dpdk/${prefix}g"
}
trap cleanup EXIT
ip netns add "$ns"
memif=$tmp/memif.sock
cfg() {  # cfg FILE PREFIX CTL
    cat > "$1" <<EOC
interfaces:
  - name: memif0
    driver: dpdk
    device: "net_memif0,role=server,socket=$memif,socket-abstract=no,mac=$mac"
    addresses: [198.18.0.1/24]
dpdk:
  eal_args: [-l, "0", --no-huge, --no-pci, -m, "256", --file-prefix, $2, --log-level, "*:warning"]
control:
  socket: $3
EOC
}
cfg "$tmp/a.yaml" "$prefix" "$tmp/ctl.sock"
cfg "$tmp/b.yaml" "${prefix}b" "$tmp/ctl-b.sock"
up() {  # up LOG
    for _ in $(seq 150); do grep -q "worker(s) up" "$1" && return 0; sleep 0.1; done
    cat "$1" >&2; return 1
}
start() {  # start N
    ip netns exec "$ns" "$build"/src/ingressd --config "$tmp/a.yaml" > "$tmp/d$1.out" 2> "$tmp/d$1.log" &
    pid=$!
    up "$tmp/d$1.log"
}

start 1
[ -S "$memif" ] || { echo "no memif socket file $memif" >&2; exit 1; }
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
[ -S "$memif" ] || { echo "the SIGKILLed daemon left no socket file: nothing to test" >&2; exit 1; }

# The restart removes the stale file, naming it, and serves the link.
start 2
grep -q "removed the stale memif socket $memif" "$tmp/d2.log" || { cat "$tmp/d2.log" >&2; echo "the stale socket was not reported" >&2; exit 1; }
echo "restart after SIGKILL: $(grep 'stale memif' "$tmp/d2.log")"

# A second daemon on the same memif socket: refused, naming the file; the first keeps it.
if ip netns exec "$ns" timeout 30 "$build"/src/ingressd --config "$tmp/b.yaml" > /dev/null 2> "$tmp/b.log"; then
    echo "a second ingressd took the live memif socket" >&2; exit 1
fi
grep -q "memif socket $memif is in use" "$tmp/b.log" || { cat "$tmp/b.log" >&2; echo "the refusal does not name the socket" >&2; exit 1; }
[ -S "$memif" ] || { echo "the refused daemon removed the live socket" >&2; exit 1; }
[ ! -e "/var/run/dpdk/${prefix}b" ] || { echo "the refused daemon left /var/run/dpdk/${prefix}b" >&2; exit 1; }
echo "second daemon: $(grep -o 'the memif socket.*' "$tmp/b.log")"

# Traffic through the restarted daemon: a memif client sends, an app receives it all.
"$build"/tools/ingress-sink --rcvbuf 67108864 --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 --packets 1000 \
    --duration 30 --json > "$tmp/sink" 2> "$tmp/sink.err" &
sink=$!
for _ in $(seq 100); do grep -q "endpoint .* open" "$tmp/sink.err" 2>/dev/null && break; sleep 0.1; done
ip netns exec "$ns" timeout 60 "$build"/tools/ingress-pktgen \
    --dpdk "-l 0 --no-huge --no-pci -m 512 --file-prefix ${prefix}g --log-level=warning --vdev net_memif0,role=client,socket=$memif,socket-abstract=no" \
    --src-mac 02:00:5e:00:d6:02 --dst-mac $mac --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 \
    --count 1000 --rate 20k --json > "$tmp/gen" 2> "$tmp/gen.err" || { cat "$tmp/gen.err" >&2; exit 1; }
wait "$sink" || { cat "$tmp/sink.err" "$tmp/gen" >&2; echo "the app did not receive its 1000 datagrams" >&2; exit 1; }
sink=
grep -q '"received":1000' "$tmp/sink" || { cat "$tmp/sink" >&2; exit 1; }
echo "after the restart: $(cat "$tmp/gen") -> $(cat "$tmp/sink")"

# A clean stop removes the EAL's runtime directory (and its own memif socket).
[ -d "/var/run/dpdk/$prefix" ] || { echo "no runtime directory /var/run/dpdk/$prefix while running?" >&2; exit 1; }
kill -TERM "$pid"; wait "$pid" || { cat "$tmp/d2.log" >&2; echo "ingressd exited non-zero" >&2; exit 1; }
pid=
[ ! -e "/var/run/dpdk/$prefix" ] || { ls -la "/var/run/dpdk/$prefix" >&2; echo "the clean stop left /var/run/dpdk/$prefix" >&2; exit 1; }
echo "clean stop: /var/run/dpdk/$prefix removed"
exit 0
