#!/bin/bash
# ingressd's own Prometheus endpoint (`metrics: {listen: ...}`), in a namespace made for the
# test, with an app attached and bounded traffic:
#   GET /metrics     200, application/openmetrics-text, parsed by the reference parser:
#                    the families `ingressctl stats --openmetrics` prints (same formatter),
#                    the backend counters by device, the app's endpoint figures;
#   POST, PUT        405 with Allow; any other path 404;
#   Prometheus       a real server (Debian's prometheus) scrapes it every second and answers
#                    `ingress_rx_frames_total > 0` through its HTTP API.
# Bounded in time (every wait has a limit); only the PIDs it started are killed.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
ctl=$build/tools/ingressctl
mac_a=02:00:5e:00:e0:01 mac_b=02:00:5e:00:e0:02
tmp=$(mktemp -d)
chmod 755 "$tmp"  # prometheus runs as whoever we are; its tsdb lives here
cleanup() {
    for p in ${prom:-} ${sink:-} ${pid:-}; do kill -9 "$p" 2>/dev/null || true; done
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-metrics: $*" >&2; exit 1; }
veth_pair metrics $mac_a $mac_b
ip -n "$ns_a" link set lo up  # the endpoint and Prometheus talk over the namespace's loopback
in_a() { ip netns exec "$ns_a" "$@"; }
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "mode: 0666" "metrics:
  listen: 127.0.0.1:9464"
ingressd_up "$build"

# The app stays attached (it waits for more than is sent) so its endpoint is scraped.
sink_up "$build" 1001
ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b --dst-mac $mac_a \
    --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 --rate 20k --count 1000 > "$tmp/gen" 2>&1 \
    || { cat "$tmp/gen" >&2; fail "ingress-pktgen"; }
sleep 0.5  # the frames are through; the control thread copies the figures every pass (<= 100 ms)

url=http://127.0.0.1:9464
status() { in_a curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' --max-time 5 "$@"; }
[ "$(status "$url/metrics")" = 200 ] || fail "GET /metrics: $(cat "$tmp/head")"
grep -qi "^content-type: application/openmetrics-text; version=1.0.0" "$tmp/head" \
    || fail "GET /metrics content type: $(cat "$tmp/head")"
cp "$tmp/body" "$tmp/scrape"
"$ctl" --socket "$tmp/ctl.sock" stats --openmetrics > "$tmp/om"
for m in POST PUT DELETE; do
    [ "$(status -X $m "$url/metrics")" = 405 ] || fail "$m /metrics was not refused with 405"
    grep -qi "^allow: GET, HEAD" "$tmp/head" || fail "$m /metrics: no Allow header"
done
for path in / /metric /metrics/x "/metrics?x=1/../x"; do
    code=$(status "$url$path")
    [ "$code" = 404 ] || [ "$path" = "/metrics?x=1/../x" -a "$code" = 200 ] || fail "GET $path: $code"
done

/usr/bin/python3 - "$tmp/scrape" "$tmp/om" "$if_a" <<'EOP'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
scrape, om, dev = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
fams = {f.name: f for f in text_string_to_metric_families(scrape)}
ctl = {f.name for f in text_string_to_metric_families(om)}
endpoint = {n for n in fams if n.startswith("ingress_endpoint_")}
assert ctl == set(fams) - endpoint, "the scrape and ingressctl --openmetrics differ: %s" % (ctl ^ (set(fams) - endpoint))
def value(name, **labels):
    return [s.value for s in fams[name].samples if all(s.labels.get(k) == v for k, v in labels.items())]
assert value("ingress_rx_frames", worker="0") == [1000], value("ingress_rx_frames")
assert value("ingress_backend_rx_missed", device=dev, backend="af_xdp") == [0]
assert value("ingress_xdp_statistics_rx_ring_full", device=dev, queue="0") == [0]
assert value("ingress_endpoint_delivered_datagrams", kind="udp", local="0.0.0.0:5000") == [1000], fams["ingress_endpoint_delivered_datagrams"].samples
assert fams["ingress_endpoint_ring_used"].type == "gauge"
print("check-metrics: /metrics: %d families, the same as ingressctl's plus %d per endpoint" % (len(fams), len(endpoint)))
EOP

# A real Prometheus scrapes it and answers a query over its HTTP API.
cat > "$tmp/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ingressd
    static_configs:
      - targets: ['127.0.0.1:9464']
EOC
ip netns exec "$ns_a" prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address=127.0.0.1:9090 > "$tmp/prom.log" 2>&1 &
prom=$!
query='ingress_rx_frames_total > 0'
for _ in $(seq 60); do
    in_a curl -s --max-time 2 -G --data-urlencode "query=$query" http://127.0.0.1:9090/api/v1/query \
        > "$tmp/answer" 2>/dev/null || true
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["data"]["result"]; sys.exit(0 if r else 1)' \
        "$tmp/answer" 2>/dev/null && break
    sleep 1
done
python3 - "$tmp/answer" <<'EOP' || { tail -20 "$tmp/prom.log" >&2; fail "Prometheus did not answer the query"; }
import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
assert r and r[0]["metric"]["job"] == "ingressd" and float(r[0]["value"][1]) == 1000, r
print("check-metrics: prometheus answers ingress_rx_frames_total > 0: %s" % r[0]["value"][1])
EOP
kill "$prom"; wait "$prom" 2>/dev/null || true
prom=

kill "$sink"; wait "$sink" 2>/dev/null || true
sink=
kill -INT "$pid"
wait "$pid" || fail "ingressd exit status $?"
pid=
echo "check-metrics: ok"
