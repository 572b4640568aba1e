#!/bin/bash
# ingressctl against a real ingressd on a veth pair in two namespaces made for the test:
# no daemon is a clear error; an app (ingress-sink) attaches and bounded traffic flows; then
#   stats        total = sum of the worker columns on every row, conservation holds, the
#                counts are the traffic sent;
#   --json / --openmetrics   the same numbers (the OpenMetrics text is parsed back: TYPE and
#                HELP before samples, _total names, worker and reason labels, # EOF last);
#   --watch      redraws with per-second rates, stops on SIGINT;
#   runtime      the workers' profile: frames per stage = what stats counted (text, --json,
#                --openmetrics);
#   drops        NO_SOCKET for the closed port;
#   endpoints    the sink's pid, comm, port, membership with its source filter, deliveries;
#   routes       the local and main table entries of the configured address;
#   pmtu         the empty PMTU table (its header);
#   reload       an edited config adds a route live; a broken one is refused with
#                file:line:column and the daemon keeps running; an unprivileged peer may
#                read but not reload.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
ctl=$build/tools/ingressctl
mac_a=02:00:5e:00:de:01 mac_b=02:00:5e:00:de:02
tmp=$(mktemp -d)
chmod 755 "$tmp"  # the unprivileged peer below must reach the socket
cleanup() {
    [ -n "${sink:-}" ] && kill -9 "$sink" 2>/dev/null || true
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-ingressctl: $*" >&2; exit 1; }
veth_pair ingctl $mac_a $mac_b

# No daemon: a clear error, exit 1.
if "$ctl" --socket "$tmp/ctl.sock" stats 2> "$tmp/err"; then fail "stats without a daemon succeeded"; fi
grep -qF "ingressctl: cannot connect to $tmp/ctl.sock: No such file or directory (is ingressd running?)" "$tmp/err" \
    || { cat "$tmp/err" >&2; fail "unclear error without a daemon"; }

write_cfg() {  # extra lines for the file's end
    ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "mode: 0666" "$1"
}
write_cfg ""
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > "$tmp/out" 2> "$tmp/log" &
pid=$!
for _ in $(seq 50); do grep -q "worker(s) up" "$tmp/log" && break; sleep 0.1; done
grep -q "worker(s) up" "$tmp/log" || { cat "$tmp/log" >&2; fail "ingressd did not come up"; }

# SO_RCVBUF as an app that takes bursts sets it: the count below expects no drop, and a
# default socket's budget (rmem_default: 256 small datagrams) is less than the ring holds.
"$build"/tools/ingress-sink --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 --join 239.1.2.3,198.18.0.2 \
    --rcvbuf 67108864 --packets 2100 --duration 30 --json > "$tmp/sink" 2> "$tmp/sink.err" &
sink=$!
for _ in $(seq 100); do grep -q "endpoint .* open" "$tmp/sink.err" 2>/dev/null && break; sleep 0.1; done
grep -q "endpoint .* open" "$tmp/sink.err" || { cat "$tmp/sink.err" >&2; fail "the app did not attach"; }

gen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
            --dst-mac $mac_a --src 198.18.0.2 --rate 20k "$@" > "$tmp/gen" 2>&1 \
            || { cat "$tmp/gen" >&2; fail "ingress-pktgen $*"; }; }
gen --dst 198.18.0.1 --dport 5000 --count 2000
gen --dst 198.18.0.1 --dport 5001 --count 100       # no endpoint: NO_SOCKET
sleep 0.3

# endpoints: like ss -uapn, with the sink's pid, comm and port, its membership, deliveries.
"$ctl" --socket "$tmp/ctl.sock" endpoints | tee "$tmp/endpoints"
grep -E "^udp .* 0\.0\.0\.0:5000 .* 2000 +0  users:\(\(\"ingress-sink\",pid=$sink,uid=0\)\)" "$tmp/endpoints" \
    || fail "endpoints does not show the sink (pid $sink, port 5000, 2000 delivered)"
grep -qE "group 239\.1\.2\.3 dev .* include 198\.18\.0\.2" "$tmp/endpoints" || fail "membership missing"

# stats: every row's total is the sum of its worker columns; the counts are what was sent.
"$ctl" --socket "$tmp/ctl.sock" stats | tee "$tmp/stats"
awk '/^[A-Z]/ { s = 0; for (i = 3; i <= NF; i++) s += $i; if (s != $2) { print "row " $1 ": " $2 " != " s; bad = 1 } }
     END { exit bad }' "$tmp/stats" || fail "a total is not the sum of its workers"
for want in "UdpInDatagrams +2000 " "UdpNoPorts +100 " "NO_SOCKET +100 " "IngressRx +2100 " \
            "#conservation rx 2100 = delivered 2000 \+ held 0 \+ passed 0 \+ dropped 100: ok"; do
    grep -qE "^$want" "$tmp/stats" || fail "stats: missing $want"
done

# --json and --openmetrics carry the same numbers; the exposition is well formed.
"$ctl" --socket "$tmp/ctl.sock" stats --json > "$tmp/json"
"$ctl" --socket "$tmp/ctl.sock" stats --openmetrics > "$tmp/om"
# The reference OpenMetrics parser (python3-prometheus-client, Debian's python3) is strict:
# TYPE/HELP, _total on counters, escaping, # EOF last.
/usr/bin/python3 - "$tmp/json" "$tmp/om" <<'EOP'
import json, re, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
j = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1, "# EOF once, last"
sums, types, samples = {}, {}, 0
for fam in text_string_to_metric_families(text):
    assert fam.documentation, "no HELP: " + fam.name
    types[fam.name] = fam.type
    for s in fam.samples:
        assert s.name == fam.name + ("_total" if fam.type == "counter" else ""), s.name
        # The workers' counters by worker; the backends' (backend, xdp_statistics,
        # xdp_program) by interface, as node_exporter labels it.
        assert "worker" in s.labels or "device" in s.labels, "no worker or device label: %s" % (s,)
        key = fam.name + ("/" + s.labels["reason"] if "reason" in s.labels else "")
        sums[key] = sums.get(key, 0) + s.value
        samples += 1
t = j["total"]
for nstat, v in t["mib"].items():
    g = re.match(r"(IpExt|Ip|IcmpMsg|Icmp|Udp|TcpExt|Ingress)(.*)", nstat)
    fam = "ingress_netstat_%s_%s" % g.groups()
    assert types[fam] == "counter" and sums[fam] == v, nstat
for reason, v in t["drops"].items():
    assert sums["ingress_drops/" + reason] == v, reason
assert types["ingress_held_frames"] == "gauge"
assert sums["ingress_rx_frames"] == t["fates"]["rx"] == 2100
assert sums["ingress_delivered_frames"] == t["fates"]["delivered"] == 2000
assert sum(w["counters"]["mib"]["UdpInDatagrams"] for w in j["workers"]) == t["mib"]["UdpInDatagrams"] == 2000
assert t["conserved"] is True
# Frames the kernel kept from the socket, live: none here, but the socket's counters are there.
xsk = [g for g in j["backends"] if g["source"] == "xdp_statistics"]
assert len(xsk) == 1 and xsk[0]["queue"] == 0 and xsk[0]["counters"]["rx_ring_full"] == 0, xsk
assert types["ingress_xdp_statistics_rx_ring_full"] == "counter"
print("openmetrics: %d families, %d samples, valid, same as --json" % (len(types), samples))
EOP

# runtime: the workers' profile. Frames received and the frames that entered each stage are
# what stats counted (2100: every frame reached the pipeline's end); text, --json and
# --openmetrics agree.
"$ctl" --socket "$tmp/ctl.sock" runtime | tee "$tmp/runtime"
grep -qE "^  polls [0-9]+  empty [0-9]+ .* frames 2100 " "$tmp/runtime" || fail "runtime: no frames 2100"
for stage in rx timers l2 rcv_core route defrag demux tx; do
    grep -qE "^  $stage +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+" "$tmp/runtime" || fail "runtime: stage $stage"
done
"$ctl" --socket "$tmp/ctl.sock" runtime --json > "$tmp/rjson"
"$ctl" --socket "$tmp/ctl.sock" runtime --openmetrics > "$tmp/rom"
/usr/bin/python3 - "$tmp/rjson" "$tmp/rom" "$tmp/json" <<'EOP'
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
r, stats = json.load(open(sys.argv[1])), json.load(open(sys.argv[3]))
rx = stats["total"]["fates"]["rx"]
assert r["tsc_hz"] > 0
assert sum(w["frames"] for w in r["workers"]) == rx == 2100, "runtime frames != stats rx"
for stage in ("rx", "l2", "rcv_core", "route"):
    assert sum(w["stages"][stage]["frames"] for w in r["workers"]) == rx, stage
# 2000 to the endpoint and 100 to a closed port: all reach local delivery.
assert sum(w["stages"]["demux"]["frames"] for w in r["workers"]) == rx
for w in r["workers"]:
    assert w["polls"] > w["empty_polls"], "polls = bursts + empty polls"
    assert 0 <= w["idle_share"] <= 1 and w["busy_cycles"] > 0
    assert all(s["cycles"] > 0 for s in w["stages"].values())
sums = {}
for fam in text_string_to_metric_families(open(sys.argv[2]).read()):
    assert fam.documentation, fam.name
    for s in fam.samples:
        k = fam.name + ("/" + s.labels["stage"] if "stage" in s.labels else "")
        sums[k] = sums.get(k, 0) + s.value
assert sums["ingress_runtime_frames"] == rx
assert sums["ingress_runtime_stage_frames/rcv_core"] == rx
assert sums["ingress_runtime_polls"] >= sum(w["polls"] for w in r["workers"])
print("runtime: %d frames through every stage, --json and --openmetrics agree" % rx)
EOP

# --watch: two redraws with rates, then it stops by itself (--count).
"$ctl" --socket "$tmp/ctl.sock" stats --watch 0.2 --count 2 > "$tmp/watch"
[ "$(grep -c '^#ingressctl stats --watch' "$tmp/watch")" = 2 ] || { cat "$tmp/watch"; fail "--watch did not redraw twice"; }
grep -qE "^UdpInDatagrams +2000 +0\.0/s" "$tmp/watch" || { cat "$tmp/watch"; fail "--watch rates"; }
# ... and without --count it runs until SIGINT, then exits cleanly.
"$ctl" --socket "$tmp/ctl.sock" stats --watch 0.2 > "$tmp/watch2" &
watcher=$!
sleep 0.7
kill -INT $watcher
wait $watcher || fail "--watch exit status $? after SIGINT"
grep -q '^#ingressctl stats --watch' "$tmp/watch2" || fail "--watch drew nothing before SIGINT"

# drops: per reason, with its meaning.
"$ctl" --socket "$tmp/ctl.sock" drops | tee "$tmp/drops"
grep -qE "^NO_SOCKET +100 +100  no endpoint matched" "$tmp/drops" || fail "drops: NO_SOCKET 100"

# routes: the address's local route, its subnet broadcast, its prefix route.
"$ctl" --socket "$tmp/ctl.sock" routes | tee "$tmp/routes"
for want in "local +local +198\.18\.0\.1/32 +host +$if_a" "local +broadcast +198\.18\.0\.255/32 +link +$if_a" \
            "main +unicast +198\.18\.0\.0/24 +link +$if_a"; do
    grep -qE "^$want$" "$tmp/routes" || fail "routes: missing $want"
done

# pmtu: no "fragmentation needed" came, so the table is empty: its header only.
"$ctl" --socket "$tmp/ctl.sock" pmtu | tee "$tmp/pmtu"
grep -qE "^Destination +MTU +Expires +Locked$" "$tmp/pmtu" || fail "pmtu: header"
[ "$(wc -l < "$tmp/pmtu")" -eq 1 ] || fail "pmtu: entries nobody taught"

# An unprivileged peer reads but may not reload.
setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" --socket "$tmp/ctl.sock" routes > /dev/null \
    || fail "nobody could not read routes"
if setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" --socket "$tmp/ctl.sock" reload 2> "$tmp/err"; then
    fail "nobody reloaded the daemon"
fi
grep -q "reload: permission denied" "$tmp/err" || { cat "$tmp/err" >&2; fail "refusal not reported"; }

# reload: a new route, applied live.
write_cfg "routes:
  - prefix: 198.19.0.0/16
    type: blackhole"
"$ctl" --socket "$tmp/ctl.sock" reload | grep -q "reloaded: configuration applied" || fail "reload not applied"
"$ctl" --socket "$tmp/ctl.sock" routes | grep -qE "^main +blackhole +198\.19\.0\.0/16 +[a-z]+ +-$" \
    || { "$ctl" --socket "$tmp/ctl.sock" routes; fail "the reloaded route is not in the tables"; }

# A broken config: refused with file:line:column: key, nothing changes, the daemon runs on.
write_cfg "routes:
  - prefix: 198.19.0.0/16
    typo: blackhole"
if "$ctl" --socket "$tmp/ctl.sock" reload 2> "$tmp/err"; then fail "a broken config was applied"; fi
cat "$tmp/err"
grep -qE "reload refused, running configuration kept: .*ingressd.yaml:10:5: routes\[0\]\.typo" "$tmp/err" \
    || fail "the refusal does not name file:line:column: key"
kill -0 "$pid" || fail "ingressd died on a broken reload"
"$ctl" --socket "$tmp/ctl.sock" routes | grep -qE "^main +blackhole +198\.19\.0\.0/16" || fail "routes changed"

# A change that needs a restart: listed, nothing applied, exit 3. The idle timings first
# (as poll_mode: the workers hold them), then the queues.
sed -i "s/typo:/type:/" "$tmp/ingressd.yaml"
sed -i "s/queues: 1/queues: 1\n    idle: {spin_us: 20}/" "$tmp/ingressd.yaml"
set +e
"$ctl" --socket "$tmp/ctl.sock" reload > "$tmp/reload"; rc=$?
set -e
[ $rc = 3 ] && grep -q "poll_mode, idle," "$tmp/reload" || { cat "$tmp/reload"; fail "idle reload: rc $rc"; }
sed -i "/idle: {spin_us: 20}/d" "$tmp/ingressd.yaml"
sed -i "s/queues: 1/queues: 2/" "$tmp/ingressd.yaml"
set +e
"$ctl" --socket "$tmp/ctl.sock" reload > "$tmp/reload"; rc=$?
set -e
[ $rc = 3 ] && grep -q "need a restart" "$tmp/reload" || { cat "$tmp/reload"; fail "restart-needed reload: rc $rc"; }

gen --dst 198.18.0.1 --dport 5000 --count 100   # the sink's last 100: it exits
wait "$sink" || { cat "$tmp/sink.err" >&2; fail "ingress-sink failed"; }
sink=
kill -INT "$pid"
wait "$pid" || fail "ingressd exit status $?"
pid=
echo "check-ingressctl: ok"
