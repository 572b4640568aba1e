#!/bin/bash
# Bindings (README "Bindings"; tubular's model of BPF sk_lookup) against a real ingressd on
# a veth pair in two namespaces made for the test, the README's walkthrough:
#   many addresses   198.18.100.0/24 (an AnyIP prefix) port 53 -> label dns: one endpoint
#                    bound to 198.18.0.1:5353 answers every address of the /24;
#   every port       198.18.100.50/32 all ports -> label proxy (the /32 beats the /24);
#   one port, two services on disjoint addresses: 198.18.100.128/25 port 443 -> web-b
#                    beside 198.18.100.0/24 443 -> web-a (longest prefix wins);
#   drop             198.18.100.9/32 -> SK_DROP: NoPorts (ICMP port unreachable) although
#                    the dns binding covers it;
#   ingressctl bindings lists them with the endpoints each label resolves to; add and
#   remove at run time; a label's prefix outside the host's addresses is refused; the
#   file's bindings come back on reload.
# The second argument names the backend: af_xdp (default) or dpdk-af_xdp (the same port
# through DPDK's AF_XDP PMD, with its exception TAP).
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1 backend=${2:-af_xdp}
ctl=$build/tools/ingressctl
mac_a=02:00:5e:00:de:31 mac_b=02:00:5e:00:de:32
tmp=$(mktemp -d)
sinks=()
cleanup() {
    for s in "${sinks[@]}"; do kill -9 "$s" 2>/dev/null || true; done
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-bindings: $*" >&2; exit 1; }
veth_pair ingbnd $mac_a $mac_b

bindings="bindings:
  - {protocol: udp, prefix: 198.18.100.0/24, ports: 53, label: dns}
  - {prefix: 198.18.100.50, ports: all, label: proxy}
  - {prefix: 198.18.100.0/24, ports: 443, label: web-a}
  - {prefix: 198.18.100.128/25, ports: 443, label: web-b}
  - {prefix: 198.18.100.9, action: drop}"
routes="routes:
  - {prefix: 198.18.100.0/24, type: local, dev: lo}"
case $backend in
af_xdp) iface=$routes tail=$bindings ;;
dpdk-af_xdp)
    tap=ingbnd$$
    iface=$(printf '    driver: dpdk\n    device: net_af_xdp0,iface=%s\n    exception: %s\n%s' \
        "$if_a" "${tap:0:15}" "$routes")
    tail=$(printf '%s\ndpdk:\n  eal_args: [-l, "0", --no-huge, --no-pci, -m, "256", --no-shconf, --file-prefix, ingbnd%s, --log-level, "*:warning"]' \
        "$bindings" $$)
    ;;
*) fail "unknown backend $backend" ;;
esac
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "" "$tail" "$iface"
ingressd_up "$build"

sink() {  # ADDR:PORT LABEL
    "$build"/tools/ingress-sink --socket "$tmp/ctl.sock" --udp "$1" --label "$2" \
        --duration 60 > "$tmp/sink.$2" 2> "$tmp/sink.$2.err" &
    sinks+=($!)
    for _ in $(seq 100); do grep -q "endpoint .* open" "$tmp/sink.$2.err" 2>/dev/null && break; sleep 0.1; done
    grep -q "endpoint .* open" "$tmp/sink.$2.err" || { cat "$tmp/sink.$2.err" >&2; fail "sink $2"; }
}
sink 198.18.0.1:5353 dns
sink 198.18.0.1:7000 proxy
sink 198.18.0.1:8443 web-a
sink 198.18.0.1:8444 web-b

gen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
            --dst-mac $mac_a --src 198.18.0.2 --rate 20k --count 100 "$@" > "$tmp/gen" 2>&1 \
            || { cat "$tmp/gen" >&2; fail "ingress-pktgen $*"; }; }
gen --dst 198.18.100.7 --dport 53      # dns
gen --dst 198.18.100.200 --dport 53    # dns
gen --dst 198.18.100.50 --dport 53     # proxy: the /32 beats the /24
gen --dst 198.18.100.50 --dport 9999   # proxy
gen --dst 198.18.100.7 --dport 443     # web-a
gen --dst 198.18.100.130 --dport 443   # web-b
gen --dst 198.18.100.9 --dport 53      # drop
gen --dst 198.18.100.7 --dport 54      # no binding, no endpoint
sleep 0.5

"$ctl" --socket "$tmp/ctl.sock" endpoints | tee "$tmp/endpoints"
delivered() { awk -v a="$1" '$1 == "udp" && $5 == a { print $(NF-2) }' "$tmp/endpoints"; }
[ "$(delivered 198.18.0.1:5353)" = 200 ] || fail "dns: $(delivered 198.18.0.1:5353) delivered, want 200"
[ "$(delivered 198.18.0.1:7000)" = 200 ] || fail "proxy: want 200"
[ "$(delivered 198.18.0.1:8443)" = 100 ] || fail "web-a: want 100"
[ "$(delivered 198.18.0.1:8444)" = 100 ] || fail "web-b: want 100"
"$ctl" --socket "$tmp/ctl.sock" stats | tee "$tmp/stats"
for want in "UdpInDatagrams +600 " "UdpNoPorts +200 " "NO_SOCKET +200 "; do
    grep -qE "^$want" "$tmp/stats" || fail "stats: missing $want"
done

"$ctl" --socket "$tmp/ctl.sock" bindings | tee "$tmp/bindings"
grep -qE "^198\.18\.100\.0/24 +53 +dns +config +ep[0-9]+ 198\.18\.0\.1:5353 pid ${sinks[0]} \(ingress-sink\)" \
    "$tmp/bindings" || fail "bindings: dns -> the sink"
grep -qE "^198\.18\.100\.9/32 +all +\(drop\) +config +-" "$tmp/bindings" || fail "bindings: drop"

# Run time: remove the drop, then 198.18.100.9:53 is dns's; a prefix the host does not own.
"$ctl" --socket "$tmp/ctl.sock" bindings remove 198.18.100.9 all || fail "remove"
if "$ctl" --socket "$tmp/ctl.sock" bindings add 198.18.101.0/24 53 dns 2> "$tmp/err"; then
    fail "a binding for addresses the host does not own was accepted"; fi
grep -qF "198.18.101.0 is not an address of this host" "$tmp/err" || { cat "$tmp/err"; fail "refusal"; }
gen --dst 198.18.100.9 --dport 53
sleep 0.3
"$ctl" --socket "$tmp/ctl.sock" endpoints > "$tmp/endpoints"
[ "$(delivered 198.18.0.1:5353)" = 300 ] || fail "after remove: dns $(delivered 198.18.0.1:5353), want 300"
# Reload: the file's drop binding is back.
"$ctl" --socket "$tmp/ctl.sock" reload > /dev/null || fail "reload"
"$ctl" --socket "$tmp/ctl.sock" bindings | grep -qE "^198\.18\.100\.9/32 +all +\(drop\)" || fail "reload: drop back"
echo "check-bindings: ok"
