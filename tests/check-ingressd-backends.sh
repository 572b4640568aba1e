#!/bin/bash
# ingressd end to end over the backend named by the second argument (with the number of
# queues, one worker each, in the third: 1 by default), with the same traffic and the same
# expected deliveries and counters whatever the backend:
#   af_xdp          the XDP program and AF_XDP sockets
#   dpdk-af_xdp     driver: dpdk on the net_af_xdp vdev (--no-huge --no-pci)
#   dpdk-af_packet  driver: dpdk on the net_af_packet vdev
#   dpdk-pcap       driver: dpdk on the net_pcap vdev (libpcap on the interface; by hand,
#                   not in the suite: see below)
# An app (ingress-sink) gets its datagrams; a closed port is NO_SOCKET, and the pipeline's
# ICMP port unreachable (icmp_send, rate-limited as the kernel's) reaches the peer through
# the port's TX queue; datagrams for another address are the kernel's, never the pipeline's;
# SIGHUP adds an address live.
# DPDK only, after that: the exception TAP carries the kernel's side of the host. A peer
# with no static neighbour entry resolves our address by ARP and gets the kernel's TCP
# reset, both answered by the kernel on the TAP and sent out of the port; the backend's
# counters show that nothing was lost on the way.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1 backend=$2 queues=${3:-1}
mac_a=02:00:5e:00:dc:01 mac_b=02:00:5e:00:dc:02
tmp=$(mktemp -d)
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    [ -n "${passed_all:-}" ] || cat "$tmp/log" >&2 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
veth_pair ingbk $mac_a $mac_b
tap=ingx$$
tap=${tap:0:15}
# Only the frames the test sends: no IPv6 router solicitations or MLD reports.
for ns in "$ns_a" "$ns_b"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
# The peer owns the address the ICMP errors go to. A veth hands frames its kernel built
# with the checksum left to an offload nobody does on the way: the peer computes them.
ip -n "$ns_b" addr add 198.18.0.2/24 dev "$if_b"
ip netns exec "$ns_b" ethtool -K "$if_b" tx off > /dev/null

case $backend in
af_xdp) port="    driver: af_xdp" ;;
dpdk-af_xdp | dpdk-af_packet | dpdk-pcap)
    vdev=net_${backend#dpdk-}0,iface=$if_a
    # AF_PACKET's ring (512 frames by default) overflows, uncounted, whenever the worker is
    # descheduled for 25 ms at this rate: give it more than the test sends.
    [ "$backend" = dpdk-af_packet ] && vdev+=,framecnt=8192,qpairs=$queues
    # net_pcap makes up a MAC unless told to take the interface's. It reads one frame per
    # libpcap call, and libpcap's buffer overflows on a busy machine even at a quarter of
    # the others' rate (counted: rx_missed), so it is not in the meson suite.
    [ "$backend" = dpdk-pcap ] && vdev+=,phy_mac=1 rate=5k
    port="    driver: dpdk
    device: $vdev
    exception: $tap"
    if [ "$backend" != dpdk-af_xdp ]; then
        # AF_PACKET (and libpcap over it) copies frames and leaves them to the kernel's stack on the veth too.
        # Strict rp_filter (the peer's subnet is routed via the TAP, not the veth) and
        # arp_ignore 8 make that stack ignore them, as for a NIC bound to DPDK.
        ip netns exec "$ns_a" sysctl -qw "net.ipv4.conf.$if_a.rp_filter=1" "net.ipv4.conf.$if_a.arp_ignore=8"
    fi
    ;;
*) echo "unknown backend $backend" >&2; exit 2 ;;
esac
write_cfg() {
    cat > "$tmp/ingressd.yaml" <<EOC
interfaces:
  - name: $if_a
$port
    queues: $queues
    addresses: [$1]
dpdk:
  eal_args: [-l, "0", --no-huge, --no-pci, -m, "256", --no-shconf, --file-prefix, ingbk$$, --log-level, "*:warning"]
  mbufs: $((16383 * queues))
  rx_descriptors: 4096
# Room for every datagram of the test at each step (the NIC-side ring above, the app's ring
# here), so a worker or app descheduled on a busy machine delays the test but loses nothing.
rings:
  slots: 4096
control:
  socket: $tmp/ctl.sock
EOC
}
write_cfg 198.18.0.1/24

ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > "$tmp/out" 2> "$tmp/log" &
pid=$!
for _ in $(seq 100); do grep -q "worker(s) up" "$tmp/log" && break; sleep 0.1; done
grep -q "worker(s) up" "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }

"$build"/tools/ingress-sink --rcvbuf 67108864 --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 --packets 2300 \
    --duration 30 --json > "$tmp/sink" 2> "$tmp/sink.err" &
sink=$!
for _ in $(seq 100); do grep -q "endpoint .* open" "$tmp/sink.err" 2>/dev/null && break; sleep 0.1; done
grep -q "endpoint .* open" "$tmp/sink.err" || { cat "$tmp/sink.err" >&2; echo "the app did not attach" >&2; exit 1; }

gen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
            --dst-mac $mac_a --src 198.18.0.2 --rate "${rate:-20k}" "$@" > /dev/null 2>&1; }
gen --dst 198.18.0.1 --dport 5000 --count 2000
gen --dst 198.18.0.1 --dport 5001 --count 100       # no endpoint: NO_SOCKET + ICMP
gen --dst 198.18.0.9 --dport 5000 --count 500       # not ours: the kernel's
# SIGHUP: a second address, live (the XDP program's list, or the DPDK steering and the TAP).
write_cfg "198.18.0.1/24, 198.18.0.7/32"
kill -HUP "$pid"
for _ in $(seq 50); do grep -q "reloaded" "$tmp/log" && break; sleep 0.1; done
grep -q "reloaded" "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
gen --dst 198.18.0.7 --dport 5000 --count 300
wait "$sink" || { cat "$tmp/sink.err" >&2; echo "ingress-sink failed" >&2; exit 1; }
grep -q '"received":2300' "$tmp/sink" || { cat "$tmp/sink"; echo "the app did not receive its 2300 datagrams" >&2; exit 1; }
sleep 0.3

# The counters every backend must show (SIGUSR1: one dump, the daemon runs on).
kill -USR1 "$pid"
for _ in $(seq 50); do grep -q "^#conservation" "$tmp/out" && break; sleep 0.1; done
cp "$tmp/out" "$tmp/common"
cat "$tmp/common"
for want in "IngressRx                       2400" "IngressDelivered                2300" \
            "UdpInDatagrams                  2300" "NO_SOCKET                       100" \
            "UdpNoPorts                      100" "IpInDelivers                    2400" \
            "#conservation rx 2400 = delivered 2300 + held 0 + passed 0 + dropped 100: ok"; do
    grep -qF "$want" "$tmp/common" || { echo "$backend: missing: $want" >&2; exit 1; }
done
# Every ICMP error the pipeline sent reached the peer's stack through the port.
icmp_out=$(awk '$1 == "IcmpOutDestUnreachs" {print $2}' "$tmp/common")
peer_in=$(ip netns exec "$ns_b" awk '/^Icmp:/ && !h {h = 1; for (i = 1; i <= NF; i++) c[$i] = i; next}
                                     /^Icmp:/ {print $c["InDestUnreachs"]; exit}' /proc/net/snmp)
echo "ICMP port unreachable: sent $icmp_out, received by the peer $peer_in"
[ "${icmp_out:-0}" -ge 1 ] && [ "$icmp_out" = "$peer_in" ] \
    || { echo "$backend: ICMP errors sent ${icmp_out:-0}, the peer received $peer_in" >&2; exit 1; }

if [ "$backend" != af_xdp ]; then
    # No neighbour entry yet: the peer must ARP, and the kernel answers on the TAP.
    ip -n "$ns_b" neigh show 198.18.0.1 | grep -q lladdr && { echo "unexpected neighbour entry" >&2; exit 1; }
    if ip netns exec "$ns_b" timeout 5 bash -c 'exec 3<>/dev/tcp/198.18.0.1/22' 2> "$tmp/tcp"; then
        echo "connected to port 22?" >&2; exit 1
    fi
    grep -q "Connection refused" "$tmp/tcp" || { cat "$tmp/tcp" >&2; echo "no TCP reset from the kernel" >&2; exit 1; }
    ip -n "$ns_b" neigh show 198.18.0.1 | grep -q "lladdr $mac_a" \
        || { ip -n "$ns_b" neigh >&2; echo "ARP not answered through the TAP" >&2; exit 1; }
    ip -n "$ns_a" addr show "$tap" | grep -q "inet 198.18.0.7/32" \
        || { ip -n "$ns_a" addr show "$tap" >&2; echo "the reloaded address is not on the TAP" >&2; exit 1; }
fi
kill -INT "$pid"
wait "$pid"
pid=
cat "$tmp/log"
sed -n '/^#conservation/,$p' "$tmp/out" | tail -n +2 > "$tmp/final"
cat "$tmp/final"
# TCP is the kernel's (steered like ARP, as the XDP program leaves it to the kernel): the
# pipeline's counters are still those every backend shows.
grep -qF "#conservation rx 2400 = delivered 2300 + held 0 + passed 0 + dropped 100: ok" "$tmp/final" \
    || { echo "$backend: final conservation line wrong" >&2; exit 1; }
if [ "$backend" != af_xdp ]; then
    line=$(grep "ingressd: backend $if_a (dpdk):" "$tmp/log")
    field() { echo "$line" | awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }
    # rx: what the pipeline saw; steered: the 500 for another address, the ARP request and
    # the SYN (at least), given to the kernel at once; tx: the ICMP errors; from_kernel: the
    # ARP reply and the reset (at least); nothing refused anywhere.
    [ "$(field rx)" = 2400 ] && [ "$(field passed)" = 0 ] && [ "$(field tx)" = "$icmp_out" ] \
        && [ "$(field steered)" -ge 502 ] && [ "$(field from_kernel)" -ge 2 ] \
        && [ "$(field pass_dropped)" = 0 ] && [ "$(field from_kernel_dropped)" = 0 ] \
        && [ "$(field rx_oversize)" = 0 ] && [ "$(field rx_missed)" = 0 ] \
        || { echo "$backend: backend counters wrong: $line" >&2; exit 1; }
fi
passed_all=1
echo "$backend: ok"
