#!/bin/bash
# ingressctl top in a plain terminal (a detached tmux session, read with capture-pane) on a
# live ingressd with an app and traffic flowing: rates per worker, drop reason, counter,
# endpoint and backend counter, the busiest first, one screen redrawn in place.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
ctl=$build/tools/ingressctl
mac_a=02:00:5e:00:e1:01 mac_b=02:00:5e:00:e1:02
tmp=$(mktemp -d)
session=ingress-top-$$
cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    for p in ${gen:-} ${sink:-} ${pid:-}; do kill -9 "$p" 2>/dev/null || true; done
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-ingressctl-top: $*" >&2; exit 1; }
veth_pair ingtop $mac_a $mac_b
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "mode: 0666"
ingressd_up "$build"
sink_up "$build" 1000000

# Bounded traffic for about 8 s: 3 k/s to the app's port, then 1 k/s to a closed one
# (NO_SOCKET), in turn, with 10% malformed frames (IP_CSUM, IP_INHDR, ...).
ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b --dst-mac $mac_a \
    --src 198.18.0.2 --dst 198.18.0.1 --dport 5000-5001 --malformed 10 --rate 4k --duration 8 \
    > "$tmp/gen" 2>&1 &
gen=$!
sleep 1
tmux new-session -d -s "$session" -x 160 -y 60 "$ctl --socket $tmp/ctl.sock top --interval 0.5 --rows 8"
sleep 3
tmux capture-pane -p -t "$session" > "$tmp/screen"
cat "$tmp/screen"
[ "$(grep -c '^ingressctl top:' "$tmp/screen")" = 1 ] || fail "not one screen redrawn in place"
/usr/bin/python3 - "$tmp/screen" <<'EOP'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
sections, cur = {}, None
for l in lines:
    if l.startswith("#"):
        cur = l.split("  ")[0].strip(); sections[cur] = []
    elif cur and l.strip():
        m = re.match(r"(.{56}) +([0-9.]+) +([0-9]+)", l)
        assert m, "row: " + l
        sections[cur].append((m.group(1).strip(), float(m.group(2)), int(m.group(3))))
for s in ("#workers", "#drop reasons", "#counters", "#endpoints (delivered)", "#backends"):
    assert s in sections, "section %s missing: %s" % (s, list(sections))
for s, rows in sections.items():
    rates = [r[1] for r in rows]
    assert rates == sorted(rates, reverse=True), "%s not busiest first: %s" % (s, rows)
    assert len(rows) <= 8, "%s: --rows 8" % s
drops = dict((r[0], r[1]) for r in sections["#drop reasons"])
assert drops.get("NO_SOCKET", 0) > 0, drops
assert sections["#workers"][0][0] == "worker0 rx" and sections["#workers"][0][1] > 0
ep = sections["#endpoints (delivered)"][0]
assert ep[0].startswith("endpoint ") and "udp 0.0.0.0:5000" in ep[0] and ep[1] > 0, ep
assert any(r[0].endswith("xdp_program redirect") and r[1] > 0 for r in sections["#backends"])
print("check-ingressctl-top: sections sorted, rates live (rx %.0f/s, NO_SOCKET %.0f/s)"
      % (sections["#workers"][0][1], drops["NO_SOCKET"]))
EOP
wait "$gen" || { cat "$tmp/gen" >&2; fail "ingress-pktgen"; }
gen=
tmux kill-session -t "$session"
kill "$sink"; wait "$sink" 2>/dev/null || true
sink=
kill -INT "$pid"
wait "$pid" || fail "ingressd exit status $?"
pid=
echo "check-ingressctl-top: ok"
