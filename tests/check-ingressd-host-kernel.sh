#!/bin/bash
# host: kernel on AF_XDP: ingressd takes its addresses from the kernel (netlink) and follows
# `ip addr add` / `ip addr del` live, with no reload, while traffic flows. The receiving
# namespace is configured only with `ip`; the file holds no address. Checks, in order:
#   1. 198.18.0.1/24 (added before the start) is delivered to the app;
#   2. `ip addr add 198.18.0.9/32`: the next datagrams to .9 reach the app (steered and local);
#   3. `ip addr del 198.18.0.9/32`: the next ones are the kernel's again (not steered: the
#      dataplane's counters do not move, the kernel's own UdpNoPorts does);
#   4. a burst of 1,000 `ip addr add` (overflowing the subscription socket, ENOBUFS, on a
#      2-core VM: the resync by full dump) ends with the kernel's state: the last address
#      added is steered;
#   5. knobs from sysctl, no reload: `sysctl -w ...rp_filter=1` (an RTM_NEWNETCONF
#      notification) makes the next datagram from a source with no route back an IP_RPFILTER
#      drop, as in the kernel, and rp_filter=0 undoes it; `...accept_local=1` (no
#      notification: the one-second re-read) turns a datagram with our own source address
#      from a martian (IP_LOCAL_SOURCE) into a local one (UdpNoPorts); a global knob,
#      `sysctl -w net.ipv4.icmp_ratelimit=0`, lifts the per-host limit on port unreachables;
#   6. conservation holds; the convergence time (change -> first datagram the dataplane
#      handles for the new address) is printed.
# The file also holds a binding (198.18.0.1/32 port 7000 -> label svc): on AF_XDP the address
# is the kernel's before the start and the binding is taken silently; on DPDK the TAP is
# configured after the start, so the start keeps the binding and says it is not yet the
# host's (a refusal there would make a binding to a DPDK port's address impossible).
# The second argument names the backend: af_xdp (default), or dpdk-af_xdp (the port's kernel
# side is then its exception TAP: the addresses are added there, as an operator would).
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1 backend=${2:-af_xdp}
mac_a=02:00:5e:00:df:01 mac_b=02:00:5e:00:df:02
tmp=$(mktemp -d)
cleanup() {
    [ -n "${passed_all:-}" ] || tail -20 "$tmp/log" >&2 2>/dev/null || true
    [ -n "${sink:-}" ] && kill "$sink" 2>/dev/null || true
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair inghk $mac_a $mac_b
ip -n "$ns_a" link set lo up
ip -n "$ns_b" addr add 198.18.0.2/24 dev "$if_b"
tap=inghk$$
tap=${tap:0:15}
case $backend in
af_xdp)
    kdev=$if_a port="    driver: af_xdp" eal=""
    ip -n "$ns_a" addr add 198.18.0.1/24 dev "$kdev"
    ;;
dpdk-af_xdp)
    kdev=$tap port="    driver: dpdk
    device: net_af_xdp0,iface=$if_a
    exception: $tap"
    eal="dpdk:
  eal_args: [-l, \"0\", --no-huge, --no-pci, -m, \"256\", --no-shconf, --file-prefix, inghk$$, --log-level, \"*:warning\"]"
    ;;
*) echo "unknown backend $backend" >&2; exit 2 ;;
esac
cat > "$tmp/ingressd.yaml" <<EOC
host: kernel
interfaces:
  - name: $if_a
$port
    queues: 1
$eal
bindings:
  - {protocol: udp, prefix: 198.18.0.1/32, ports: 7000, label: svc}
control:
  socket: $tmp/ctl.sock
EOC
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > "$tmp/out" 2> "$tmp/log" &
pid=$!
for _ in $(seq 100); do grep -q "worker(s) up" "$tmp/log" && break; sleep 0.1; done
grep -q "worker(s) up" "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
# DPDK: the TAP exists now; the operator configures the port on it.
[ "$backend" = af_xdp ] || ip -n "$ns_a" addr add 198.18.0.1/24 dev "$kdev"
kept="bindings\[0\]\.prefix: kept, not yet the host's"
if [ "$backend" = af_xdp ]; then
    grep -q "$kept" "$tmp/log" && { echo "AF_XDP: the binding to a configured address was said not to be the host's" >&2; exit 1; }
else
    grep -q "$kept" "$tmp/log" || { cat "$tmp/log" >&2; echo "DPDK: the start did not say it kept the binding" >&2; exit 1; }
fi
"$build"/tools/ingressctl --socket "$tmp/ctl.sock" bindings | grep -qE "^198\.18\.0\.1/32 +7000 +svc +config" \
    || { "$build"/tools/ingressctl --socket "$tmp/ctl.sock" bindings >&2; echo "the file's binding is not listed" >&2; exit 1; }

"$build"/tools/ingress-sink --rcvbuf 67108864 --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 --packets 300 \
    --duration 30 --json > "$tmp/sink" 2> "$tmp/sink.err" &
sink=$!
for _ in $(seq 100); do grep -q "endpoint .* open" "$tmp/sink.err" 2>/dev/null && break; sleep 0.1; done
grep -q "endpoint .* open" "$tmp/sink.err" || { cat "$tmp/sink.err" >&2; exit 1; }

gen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
            --dst-mac $mac_a --src "${src:-198.18.0.2}" --rate 20k "$@" > /dev/null 2>&1; }
stat() { "$build"/tools/ingressctl --socket "$tmp/ctl.sock" stats | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
drop() { "$build"/tools/ingressctl --socket "$tmp/ctl.sock" drops | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
kernel_noports() { ip netns exec "$ns_a" awk '/^Udp:/ && !h {h = 1; for (i = 1; i <= NF; i++) c[$i] = i; next}
                                             /^Udp:/ {print $c["NoPorts"]; exit}' /proc/net/snmp; }

# 1. The kernel's address, read at start.
gen --dst 198.18.0.1 --dport 5000 --count 100
# 2. Added live: the next datagrams follow. Convergence: a stream to .9 (port 5001, no
# endpoint) runs while the address is added. Until the dataplane has .9 the kernel drops
# those datagrams silently (not local, forwarding off); from then on ingressd answers each
# with a port unreachable, and the first one to reach the peer marks the new state. The time
# from `ip addr add` to it is the convergence time (within one frame interval: 50 us).
ip netns exec "$ns_b" python3 -c '
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(6)
print("ready", flush=True)
while True:
    b = s.recv(2048)
    ihl = (b[0] & 15) * 4
    if b[ihl] == 3 and b[ihl + 1] == 3 and b[ihl + 8 + 16:ihl + 8 + 20] == socket.inet_aton("198.18.0.9"):
        print(time.time_ns(), flush=True)
        break
' > "$tmp/icmp" &
listener=$!
for _ in $(seq 50); do grep -q ready "$tmp/icmp" && break; sleep 0.1; done
gen --dst 198.18.0.9 --dport 5001 --duration 3 &
stream=$!
sleep 1
[ "$(stat UdpNoPorts)" = 0 ] || { echo "198.18.0.9 steered before it was added" >&2; exit 1; }
t0=$(date +%s%N)
ip -n "$ns_a" addr add 198.18.0.9/32 dev "$kdev"
wait "$stream"
wait "$listener" || { cat "$tmp/log" >&2; echo "no port unreachable from 198.18.0.9: never steered" >&2; exit 1; }
t1=$(tail -1 "$tmp/icmp")
[ "$(stat UdpNoPorts)" -ge 1 ] || { echo "198.18.0.9: no UdpNoPorts in the dataplane" >&2; exit 1; }
grep "host: kernel:" "$tmp/log" | tail -1
echo "convergence (ip addr add -> first datagram answered by the dataplane): $(( (t1 - t0) / 1000 )) us"
gen --dst 198.18.0.9 --dport 5000 --count 200
wait "$sink" || { cat "$tmp/sink.err" >&2; exit 1; }
sink=
grep -q '"received":300' "$tmp/sink" || { cat "$tmp/sink"; echo "the app did not receive its 300 datagrams" >&2; exit 1; }

# 3. Removed live: the kernel's again; the dataplane's counters stay, the kernel counts.
ip -n "$ns_a" addr del 198.18.0.9/32 dev "$kdev"
sleep 0.5
rx=$(stat IngressRx) k0=$(kernel_noports)
gen --dst 198.18.0.9 --dport 5000 --count 50
sleep 0.3
[ "$(stat IngressRx)" = "$rx" ] || { echo "removed address still steered" >&2; exit 1; }
# The kernel no longer has .9 either: it drops them as not local (no UdpNoPorts); what
# matters is that ingressd saw none.
echo "after ip addr del: dataplane IngressRx stayed at $rx; kernel NoPorts $k0 -> $(kernel_noports)"

# 4. A burst of 1,000 address changes in one `ip -batch`: they may overflow the
# subscription socket (ENOBUFS: answered with a full dump) or not; either way the state
# that follows is the kernel's: the last address added is steered.
for i in $(seq 0 999); do echo "addr add 198.18.$((10 + i / 250)).$((1 + i % 250))/32 dev $kdev"; done > "$tmp/batch"
ip -n "$ns_a" -batch "$tmp/batch"
noports=$(stat UdpNoPorts)
for _ in $(seq 50); do
    gen --dst 198.18.13.250 --dport 5001 --count 1
    [ "$(stat UdpNoPorts)" -gt "$noports" ] && break
done
[ "$(stat UdpNoPorts)" -gt "$noports" ] || { tail -3 "$tmp/log" >&2; echo "the burst's last address is not steered" >&2; exit 1; }
grep "host: kernel:" "$tmp/log" | tail -1

# 5. Knobs from sysctl. 198.18.50.2 has no route back in namespace a: rp_filter=1 (strict)
# rejects it, rp_filter=0 lets it through to the closed port.
sysctl_a() { ip netns exec "$ns_a" sysctl -qw "$1"; }
# Until .2 is delivered to the closed port, or rejected, within 5 s of the change.
until_moves() {  # COUNTER-KIND NAME
    local before i; before=$($1 "$2")
    for i in $(seq 50); do
        src=$src3 gen --dst 198.18.0.1 --dport 5001 --count 1
        [ "$($1 "$2")" -gt "$before" ] && return 0
        sleep 0.1
    done
    return 1
}
src3=198.18.50.2
until_moves stat UdpNoPorts || { echo "rp_filter=0: 198.18.50.2 not delivered" >&2; exit 1; }
sysctl_a "net.ipv4.conf.$kdev.rp_filter=1"
until_moves drop IP_RPFILTER || { echo "sysctl rp_filter=1 not followed" >&2; exit 1; }
sysctl_a "net.ipv4.conf.$kdev.rp_filter=0"
until_moves stat UdpNoPorts || { echo "sysctl rp_filter=0 not followed" >&2; exit 1; }
# Our own address as the source: a martian unless accept_local (no netconf event for it).
src3=198.18.0.1
until_moves drop IP_LOCAL_SOURCE || { echo "a local source was not a martian" >&2; exit 1; }
sysctl_a "net.ipv4.conf.$kdev.accept_local=1"
until_moves stat UdpNoPorts || { echo "sysctl accept_local=1 not followed" >&2; exit 1; }
sysctl_a "net.ipv4.conf.$kdev.accept_local=0"
grep -c "net.ipv4.conf knobs changed" "$tmp/log" | sed 's/^/knob re-reads that found a change: /'
# The global knobs (net.ipv4.*, no notification: the one-second re-read, then each worker's
# next burst): 20 datagrams to a closed port meet icmpv4_xrlim_allow()'s per-host bucket
# (icmp_ratelimit 1000 ms: a burst of 6) and some port unreachables are rate limited; with
# `sysctl -w net.ipv4.icmp_ratelimit=0` every one is answered, as by the kernel.
knob_is() {
    for _ in $(seq 50); do
        "$build"/tools/ingressctl --socket "$tmp/ctl.sock" host | grep -q "^knob  *net.ipv4.$1$" && return 0
        sleep 0.1
    done
    return 1
}
closed_burst() {  # 20 to the closed port; sets sent= limited= (the ICMP counters' moves)
    local s0 l0 n0; s0=$(stat IcmpOutDestUnreachs) l0=$(stat IcmpOutRateLimitHost) n0=$(stat UdpNoPorts)
    sleep 0.1  # the global bucket (icmp_msgs_per_sec 1000, burst 50) refills
    src=198.18.0.2 gen --dst 198.18.0.1 --dport 5001 --count 20 --rate 1k
    for _ in $(seq 50); do [ "$(stat UdpNoPorts)" -ge $((n0 + 20)) ] && break; sleep 0.1; done
    sent=$(($(stat IcmpOutDestUnreachs) - s0)) limited=$(($(stat IcmpOutRateLimitHost) - l0))
}
knob_is "icmp_ratelimit 1000" || { echo "ingressctl host: icmp_ratelimit 1000 not shown" >&2; exit 1; }
closed_burst
[ "$limited" -gt 0 ] && [ $((sent + limited)) = 20 ] \
    || { echo "icmp_ratelimit 1000: $sent sent, $limited limited of 20" >&2; exit 1; }
sysctl_a net.ipv4.icmp_ratelimit=0
knob_is "icmp_ratelimit 0" || { echo "sysctl icmp_ratelimit=0 not followed" >&2; exit 1; }
closed_burst
[ "$sent" = 20 ] && [ "$limited" = 0 ] \
    || { echo "icmp_ratelimit 0: $sent sent, $limited limited of 20" >&2; exit 1; }
sysctl_a net.ipv4.icmp_ratelimit=1000
grep -q "net.ipv4.icmp_ratelimit 0 (was 1000)" "$tmp/log" || { echo "the change was not logged" >&2; exit 1; }
echo "sysctl net.ipv4.icmp_ratelimit: followed live"
# 5. Policy routing followed live: a rule and a route in table 100 appear in `ingressctl
# routes` (ip rule / table shapes) with no reload, and leave with `ip rule del`.
routes() { "$build"/tools/ingressctl --socket "$tmp/ctl.sock" routes; }
ip -n "$ns_a" route add blackhole 198.19.66.0/24 table 100
ip -n "$ns_a" rule add pref 100 to 198.19.0.0/16 lookup 100
for _ in $(seq 50); do routes | grep -qP '^100:\tfrom all to 198.19.0.0/16 lookup 100$' && break; sleep 0.1; done
routes | grep -qP '^100:\tfrom all to 198.19.0.0/16 lookup 100$' || { routes; echo "ip rule add not mirrored" >&2; exit 1; }
routes | grep -qE '^100 +blackhole +198\.19\.66\.0/24 ' || { routes; echo "table 100 not mirrored" >&2; exit 1; }
routes | grep -qP '^32766:\tfrom all lookup main$' || { routes; echo "default rules missing" >&2; exit 1; }
ip -n "$ns_a" rule del pref 100
for _ in $(seq 50); do routes | grep -q '^100:' || break; sleep 0.1; done
! routes | grep -q '^100:' || { routes; echo "ip rule del not mirrored" >&2; exit 1; }
echo "ip rule add/del and a route in table 100: mirrored live"
# ingressctl host: the mirror's source, counts and activity.
"$build"/tools/ingressctl --socket "$tmp/ctl.sock" host | tee "$tmp/host"
grep -qE '^source +kernel$' "$tmp/host" || { echo "host: not the kernel's" >&2; exit 1; }
grep -qE '^rules +3$' "$tmp/host" || { echo "host: not the three default rules" >&2; exit 1; }
grep -qE '^tables +3$' "$tmp/host" || { echo "host: local, main and 100 expected" >&2; exit 1; }
[ "$(awk '$1 == "notifications" {print $2}' "$tmp/host")" -gt 0 ] || { echo "host: no notifications" >&2; exit 1; }

kill -USR1 "$pid"
for _ in $(seq 50); do grep -q "^#conservation" "$tmp/out" && break; sleep 0.1; done
grep "^#conservation" "$tmp/out" | tail -1 | grep -q ": ok" || { cat "$tmp/out" >&2; exit 1; }
grep "^#conservation" "$tmp/out" | tail -1
kill -INT "$pid"; wait "$pid"; pid=
passed_all=1
echo "ingressd host: kernel ($backend): ok"
