#!/bin/bash
# ingressctl trace and capture on a live ingressd (issue 22), traffic from ingress-pktgen on
# a veth pair in this test's namespaces:
#   - a delivered datagram's trace: every stage in the kernel's order, the local route, the
#     endpoint the lookup picked, fate delivered;
#   - a dropped one (no socket on the port): fate SKB_DROP_REASON_NO_SOCKET (the kernel's
#     __udp4_lib_rcv: NoPorts); the filter matches only its port; --drops-only keeps only
#     drops;
#   - capture --drops into pcapng, read back with the real tcpdump -r and tshark -r, and
#     tshark -V shows the drop reason comment;
#   - a capture whose ring overflows counts the lost copies, and the traffic's counters are
#     those of the frames sent (observation never drops traffic);
#   - who may watch: an unprivileged uid is refused (EPERM), as its tcpdump would be; the
#     same uid with CAP_NET_RAW (ambient, proven by a raw socket passed with the request) is
#     allowed.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
ctl=$build/tools/ingressctl
mac_a=02:00:5e:00:e2:01 mac_b=02:00:5e:00:e2:02
tmp=$(mktemp -d)
chmod 755 "$tmp"  # step 7 connects as another uid
cleanup() {
    for p in ${gen:-} ${tr:-} ${sink:-} ${pid:-}; do kill -9 "$p" 2>/dev/null || true; done
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-trace-capture: $*" >&2; exit 1; }
for t in tcpdump tshark; do command -v $t > /dev/null || fail "$t missing (tools/install-deps)"; done
veth_pair ingtrc $mac_a $mac_b
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "mode: 0666"
ingressd_up "$build"
sink_up "$build" 1000000
c() { "$ctl" --socket "$tmp/ctl.sock" "$@"; }
send() {  # send DPORTS COUNT RATE
    ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
        --dst-mac $mac_a --src 198.18.0.2 --dst 198.18.0.1 --dport "$1" --count "$2" \
        --rate "$3" > "$tmp/gen" 2>&1 || { cat "$tmp/gen" >&2; fail "ingress-pktgen"; }
}
# Runs `ingressctl ARGS` in the background while frames are sent, then waits for it.
observe() {  # observe OUT DPORTS COUNT RATE ARGS...
    local out=$1 ports=$2 n=$3 rate=$4
    shift 4
    c "$@" > "$out" 2> "$out.err" &
    tr=$!
    for _ in $(seq 200); do grep -q "session started" "$out.err" && break; sleep 0.05; done
    grep -q "session started" "$out.err" || { cat "$out.err" >&2; fail "ingressctl $* did not start"; }
    send "$ports" "$n" "$rate"
    wait "$tr" || { cat "$out.err" >&2; fail "ingressctl $* failed"; }
    tr=
}

# 1. A delivered datagram, stage by stage.
observe "$tmp/t1" 5000 3 100 trace --count 1 --filter 'udp dst port 5000' --timeout 10
cat "$tmp/t1"
for want in "eth_type_trans: pkt_type PACKET_HOST, ethertype 0x0800" \
    "__netif_receive_skb_core: protocol 0x0800" "ip_rcv_core: 198.18.0.2 > 198.18.0.1 proto 17" \
    "ip_route_input_noref: route local, table local, 198.18.0.1/32" \
    "fib_validate_source: rp_filter" "ip_local_deliver_finish: protocol 17" \
    "__udp4_lib_lookup: endpoint" "fate: delivered"; do
    grep -qF "$want" "$tmp/t1" || fail "delivered trace lacks: $want"
done
[ "$(grep -c '^frame ' "$tmp/t1")" = 1 ] || fail "--count 1 gave $(grep -c '^frame ' "$tmp/t1") frames"
# The stages come in the kernel's order.
stages=$(grep -o '^  [a-z_0-9]*' "$tmp/t1" | tr -d ' ' | tr '\n' ' ')
[ "$stages" = "eth_type_trans __netif_receive_skb_core ip_rcv_core ip_route_input_noref fib_validate_source ip_local_deliver_finish __udp4_lib_lookup fate " ] \
    || fail "stages out of order: $stages"

# 2. The filter: frames to 5000 (delivered) and 5001 (no socket) interleaved, only 5001 traced.
observe "$tmp/t2" 5000-5001 40 200 trace --count 5 --filter 'udp dst port 5001' --json --timeout 10
cat "$tmp/t2"
/usr/bin/python3 - "$tmp/t2" <<'EOP'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 5, len(recs)
for r in recs:
    assert r["fate"] == "drop" and r["reason"] == "SKB_DROP_REASON_NO_SOCKET", r
    udp = [s for s in r["steps"] if s["stage"] == "__udp4_lib_lookup"][0]
    assert udp["verdict"] == "drop" and udp["reason"] == "SKB_DROP_REASON_NO_SOCKET", udp
print("check-trace-capture: filter traced 5 of the port-5001 frames, none of 5000")
EOP

# 3. --drops-only with no filter: only the drops of the same mix.
observe "$tmp/t3" 5000-5001 40 200 trace --count 4 --drops-only --timeout 10
[ "$(grep -c '^frame ' "$tmp/t3")" = 4 ] || fail "--drops-only: not 4 frames"
[ "$(grep -c 'fate: dropped SKB_DROP_REASON_NO_SOCKET' "$tmp/t3")" = 4 ] \
    || { cat "$tmp/t3"; fail "--drops-only traced a frame that was not dropped"; }

# 4. Drop capture into pcapng, read by the real tools.
observe "$tmp/cap1" 5000-5001 40 200 capture --drops NO_SOCKET -w "$tmp/drops.pcapng" --count 6 --timeout 10
cat "$tmp/cap1.err"
grep -q "^capture: 6 frames written" "$tmp/cap1.err" || fail "capture summary: $(cat "$tmp/cap1.err")"
tcpdump -nn -r "$tmp/drops.pcapng" > "$tmp/td" 2> "$tmp/td.err" || { cat "$tmp/td.err"; fail "tcpdump -r"; }
cat "$tmp/td"
[ "$(wc -l < "$tmp/td")" = 6 ] || fail "tcpdump read $(wc -l < "$tmp/td") packets"
[ "$(grep -c '198.18.0.2.[0-9]* > 198.18.0.1.5001: UDP' "$tmp/td")" = 6 ] || fail "not the port-5001 frames"
[ "$(tshark -r "$tmp/drops.pcapng" 2>/dev/null | wc -l)" = 6 ] || fail "tshark -r"
tshark -r "$tmp/drops.pcapng" -V 2> /dev/null > "$tmp/tv"
[ "$(grep -c "^    drop reason SKB_DROP_REASON_NO_SOCKET, worker 0, queue 0, interface $if_a\$" "$tmp/tv")" = 6 ] \
    || { head -60 "$tmp/tv"; fail "tshark -V does not show the drop reason comment"; }
grep -q "Direction: Inbound" "$tmp/tv" || fail "epb_flags direction not shown"
grep -q "Interface name: $if_a" "$tmp/tv" || fail "interface description block name"

# 5. capture --iface: the interface's frames as received, delivered ones included.
observe "$tmp/cap3" 5000 5 100 capture --iface "$if_a" --filter 'udp dst port 5000' -w "$tmp/if.pcapng" --count 3 --timeout 10
grep -q "capture: 3 frames written" "$tmp/cap3.err" || fail "capture --iface: $(cat "$tmp/cap3.err")"
[ "$(tcpdump -nn -r "$tmp/if.pcapng" 2>/dev/null | grep -c '> 198.18.0.1.5000: UDP')" = 3 ] || fail "--iface file"
tshark -r "$tmp/if.pcapng" -V > "$tmp/ifv" 2> /dev/null  # to a file: grep -q would cut the pipe
grep -q "^    worker 0, queue 0, interface $if_a\$" "$tmp/ifv" || fail "--iface comment"

# 6. A ring of 2 copies per worker against 20000 drops at 20 k/s: copies are lost (counted),
# traffic is not: every frame the worker received in the window ended as NO_SOCKET (frames
# the kernel lost before ingressd saw them on this loaded machine are not the capture's),
# and every one of those drops was either written or counted lost.
rx() { c stats | sed -n 's/^#conservation rx \([0-9]*\) .*/\1/p'; }
nosock() { c stats | awk '$1 == "NO_SOCKET" {print $2}'; }
rx0=$(rx) ns0=$(nosock)
observe "$tmp/cap2" 5001 20000 20k capture --drops -w "$tmp/over.pcapng" --ring 2 --timeout 3
cat "$tmp/cap2.err"
rx1=$(rx) ns1=$(nosock)
lost=$(sed -n 's/.* \([0-9]*\) copies lost.*/\1/p' "$tmp/cap2.err")
written=$(sed -n 's/capture: \([0-9]*\) frames written.*/\1/p' "$tmp/cap2.err")
drops=$((ns1 - ns0))
[ "${lost:-0}" -gt 0 ] || fail "a 2-slot ring lost no copies"
[ "$drops" -gt 10000 ] || fail "only $drops of 20000 frames reached the worker"
[ $((rx1 - rx0)) = "$drops" ] || fail "received $((rx1 - rx0)) but NO_SOCKET grew by $drops"
[ $((written + lost)) = "$drops" ] || fail "written $written + lost $lost != $drops drops"
[ "$(tcpdump -r "$tmp/over.pcapng" 2>/dev/null | wc -l)" = "$written" ] || fail "overflow file"

# 7. Who may watch: CAP_NET_RAW, as for an AF_PACKET socket.
if setpriv --reuid=4261 --regid=4261 --clear-groups "$ctl" --socket "$tmp/ctl.sock" trace \
    --count 1 --timeout 1 > /dev/null 2> "$tmp/np"; then
    fail "an unprivileged uid may trace"
fi
grep -q "Operation not permitted.*CAP_NET_RAW" "$tmp/np" || { cat "$tmp/np" >&2; fail "not EPERM naming CAP_NET_RAW"; }
setpriv --reuid=4261 --regid=4261 --clear-groups --inh-caps=+net_raw --ambient-caps=+net_raw \
    "$ctl" --socket "$tmp/ctl.sock" trace --count 1 --timeout 1 > /dev/null 2> "$tmp/wr" \
    || { cat "$tmp/wr" >&2; fail "CAP_NET_RAW may not trace"; }
grep -q "session started" "$tmp/wr" || { cat "$tmp/wr" >&2; fail "CAP_NET_RAW's trace did not start"; }

kill "$sink"; wait "$sink" 2>/dev/null || true
sink=
kill -INT "$pid"
wait "$pid" || fail "ingressd exit status $?"
pid=
echo "check-trace-capture: ok (overflow: $drops drops, $written written, $lost lost)"
