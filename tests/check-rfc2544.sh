#!/bin/bash
# ingress-pktgen rfc2544 against ingressd on a veth pair made for the test: a 2-size search
# with 1-second trials reads ingressd's counters over the control socket (kStats) before and
# after every trial and prints the RFC 2544 table. Bounded: at most 4 trials per size.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
mac_a=02:00:5e:00:dd:31 mac_b=02:00:5e:00:dd:32
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair rfc2544 $mac_a $mac_b
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock"
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > "$tmp/out" 2> "$tmp/log" &
pid=$!
for _ in $(seq 50); do grep -q "control socket" "$tmp/log" && break; sleep 0.1; done
grep -q "control socket" "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }

# The line rate is set low (50 Mbit/s) so the search has a chance to pass on a busy machine.
ip netns exec "$ns_b" timeout 50 "$build"/tools/ingress-pktgen rfc2544 --dev "$if_b" \
    --src-mac $mac_b --dst-mac $mac_a --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 \
    --socket "$tmp/ctl.sock" --sizes 64,1518 --trial 1 --resolution 10 --max-trials 4 \
    --settle 200 --link-speed 50M > "$tmp/table" 2> "$tmp/trials"
cat "$tmp/trials" "$tmp/table"
kill -TERM "$pid"; wait "$pid"; pid=

grep -q "^frame B  rate fps" "$tmp/table" || { echo "no table header" >&2; exit 1; }
for size in 64 1518; do
    row=$(grep "^$size " "$tmp/table") || { echo "no row for $size" >&2; exit 1; }
    trials=$(awk '{print $7}' <<< "$row")
    n=$(grep -c "^rfc2544: $size B offered" "$tmp/trials")
    [ "$n" -ge 1 ] && [ "$n" -le 4 ] && [ "$trials" = "$n" ] ||
        { echo "$size: $n trial lines, table says $trials" >&2; exit 1; }
done
# The counts come from ingressd: every trial's received is at most what was sent, and what
# ingressd received over the whole search (its IngressRx at exit) is the trials' sum.
awk '/^rfc2544:/ {s = $8; r = $12; sub(/,/, "", r); if (r + 0 > s + 0) bad = 1; tot += r}
     END {print tot > "/dev/stderr"; exit bad}' "$tmp/trials" 2> "$tmp/sum" ||
    { echo "a trial received more than it sent" >&2; exit 1; }
rx=$(awk '$1 == "IngressRx" {print $2}' "$tmp/out")
[ "${rx:-0}" -gt 0 ] || { echo "ingressd received nothing" >&2; exit 1; }
[ "$rx" = "$(cat "$tmp/sum")" ] || { echo "ingressd IngressRx $rx != trials' received $(cat "$tmp/sum")" >&2; exit 1; }
exit 0
