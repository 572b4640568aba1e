#!/bin/bash
# Frames lost before ingressd saw them, live: ingressd is stopped (SIGSTOP: its worker does
# not poll) while the peer sends a bounded, paced burst larger than the AF_XDP socket's RX
# ring; the kernel fills the ring and drops the rest, counting them in the socket's
# XDP_STATISTICS (rx_ring_full: the fill ring, twice the RX ring, still has buffers). Once
# resumed, before ingressd exits, `ingressctl stats` (text, --json, --openmetrics) must show
#   xdp_statistics rx_ring_full > 0, and the backend's rx_missed = rx_dropped + rx_ring_full;
#   sent = received (IngressRx) + missed, and the XDP program redirected every frame sent;
#   the `#arrived` line adds the halves: arrived = rx + missed = sent;
# and ingressd's exit line the same rx_missed, its final counters the same `#arrived` line.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
ctl=$build/tools/ingressctl
mac_a=02:00:5e:00:df:01 mac_b=02:00:5e:00:df:02
sent=6000
tmp=$(mktemp -d)
cleanup() {
    [ -n "${pid:-}" ] && { kill -CONT "$pid"; kill -9 "$pid"; } 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-rx-missed: $*" >&2; exit 1; }
veth_pair rxmiss $mac_a $mac_b
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock"
ingressd_up "$build"

# The counters are there (zero) before anything is lost.
"$ctl" --socket "$tmp/ctl.sock" stats -a > "$tmp/stats0"
grep -qE "^#xdp_statistics $if_a queue 0 \(af_xdp\)$" "$tmp/stats0" || { cat "$tmp/stats0"; fail "no xdp_statistics section"; }
grep -qE "^rx_ring_full +0$" "$tmp/stats0" || fail "rx_ring_full not 0 at start"

kill -STOP "$pid"
ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b --dst-mac $mac_a \
    --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 --rate 20k --count $sent > "$tmp/gen" 2>&1 \
    || { cat "$tmp/gen" >&2; fail "ingress-pktgen"; }
sleep 0.2
kill -CONT "$pid"
# The worker drains what the ring held; wait until IngressRx stops moving.
prev=-1
for _ in $(seq 50); do
    rx=$("$ctl" --socket "$tmp/ctl.sock" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["fates"]["rx"])')
    [ "$rx" = "$prev" ] && break
    prev=$rx
    sleep 0.1
done

"$ctl" --socket "$tmp/ctl.sock" stats | tee "$tmp/stats"
"$ctl" --socket "$tmp/ctl.sock" stats --json > "$tmp/json"
"$ctl" --socket "$tmp/ctl.sock" stats --openmetrics > "$tmp/om"
/usr/bin/python3 - "$tmp/json" "$tmp/om" "$tmp/stats" "$sent" "$if_a" <<'EOP'
import json, re, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
j = json.load(open(sys.argv[1]))
om, text, sent, dev = open(sys.argv[2]).read(), open(sys.argv[3]).read(), int(sys.argv[4]), sys.argv[5]
groups = {(g["source"], g["queue"]): g for g in j["backends"] if g["device"] == dev}
xsk = groups[("xdp_statistics", 0)]["counters"]
backend = groups[("backend", None)]["counters"]
prog = groups[("xdp_program", None)]["counters"]
rx = j["total"]["fates"]["rx"]
missed = xsk["rx_dropped"] + xsk["rx_ring_full"]
print("sent %d, received %d, rx_dropped %d, rx_ring_full %d, rx_fill_ring_empty_descs %d, "
      "rx_missed %d, xdp redirect %d" % (sent, rx, xsk["rx_dropped"], xsk["rx_ring_full"],
      xsk["rx_fill_ring_empty_descs"], backend["rx_missed"], prog["redirect"]))
assert xsk["rx_ring_full"] > 0, "the RX ring never overflowed"
assert backend["rx_missed"] == missed, "rx_missed is not rx_dropped + rx_ring_full"
assert prog["redirect"] == sent, "the XDP program did not redirect every frame sent"
assert sent == rx + missed, "sent %d != received %d + missed %d" % (sent, rx, missed)
assert backend["rx"] == rx and j["total"]["conserved"]
# The text form shows the same numbers under the kernel's names.
assert re.search(r"^rx_ring_full +%d$" % xsk["rx_ring_full"], text, re.M), "text: rx_ring_full"
assert re.search(r"^rx_missed +%d$" % missed, text, re.M), "text: rx_missed"
arrived = "#arrived %d = rx %d + missed before ingressd %d (backend rx_missed) + " \
          "passed by the orphaned program 0" % (sent, rx, missed)
assert arrived in text, "text: no line '%s'" % arrived
# OpenMetrics: the families, labelled by device (and queue), parse and agree.
got = {}
for fam in text_string_to_metric_families(om):
    for s in fam.samples:
        if s.labels.get("device") == dev:
            got[(s.name, s.labels.get("queue"))] = s.value
assert got[("ingress_xdp_statistics_rx_ring_full_total", "0")] == xsk["rx_ring_full"]
assert got[("ingress_backend_rx_missed_total", None)] == missed
print("check-rx-missed: live counters agree (text, json, openmetrics)")
EOP

kill -INT "$pid"
wait "$pid" || fail "ingressd exit status $?"
pid=
missed=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sum(g["counters"]["rx_missed"] for g in j["backends"] if g["source"]=="backend"))' "$tmp/json")
grep -qE "ingressd: backend $if_a \(af_xdp\):.* rx_missed $missed " "$tmp/log" \
    || { cat "$tmp/log" >&2; fail "the exit line does not say rx_missed $missed"; }
grep -qE "^#arrived $sent = rx [0-9]+ \+ missed before ingressd $missed " "$tmp/out" \
    || { cat "$tmp/out" >&2; fail "the final counters do not add up to $sent arrived"; }
echo "check-rx-missed: ok"
