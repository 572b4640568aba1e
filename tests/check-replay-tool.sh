#!/bin/sh
# ingress-replay on the shipped capture: exits 0, prints nstat-style kernel counter names,
# drop reasons and a conservation line that holds.
set -eu
out=$("$1" "$2")
echo "$out"
for want in "IpInReceives                    18" "IpExtInCsumErrors               2" \
            "IP_INHDR                        5" "OTHERHOST                       2" \
            "IpExtInBcastPkts                1" "NOT_SPECIFIED                   1" \
            "#conservation rx 25 = delivered 1 + held 0 + passed 3 + dropped 21: ok"; do
    echo "$out" | grep -qF "$want" || { echo "missing: $want" >&2; exit 1; }
done
"$1" --json "$2" | grep -q '"conserved":true'
# The fragment capture next to it: reassembly counters, nothing left held at the end.
defrag="$(dirname "$2")/defrag.pcap"
out=$("$1" "$defrag")
for want in "IpReasmOKs                      1" "IpReasmTimeout                  3" \
            "#conservation rx 10 = delivered 0 + held 0 + passed 0 + dropped 10: ok"; do
    echo "$out" | grep -qF "$want" || { echo "defrag.pcap missing: $want" >&2; exit 1; }
done
# A bad argument is a clear error, not a crash.
if "$1" --mac nonsense "$2" 2>/dev/null; then echo "bad --mac accepted" >&2; exit 1; fi
"$1" --mac nonsense "$2" 2>&1 | grep -q "is not a MAC"
if "$1" --route 198.19.0.1/16 "$2" 2>/dev/null; then echo "bad --route accepted" >&2; exit 1; fi
"$1" --route 198.19.0.1/16 "$2" 2>&1 | grep -q "host bits must be zero"
"$1" --sysctl rp_filter=3 "$2" 2>&1 | grep -q "not a number in 0..2"
# A joined group is ours: frame 4 (239.1.1.1) becomes a counted multicast.
"$1" --join 239.1.1.1 "$2" | grep -qF "IpExtInMcastPkts                1"

# The routing capture with the topology of src/ipv4/route.md.
if [ $# -ge 3 ]; then
    out=$("$1" --vlan 10:10 --addr 198.18.0.1/24 --addr 198.18.10.1/24@10 \
        --route 198.19.0.0/16@10 --route 198.19.66.0/24,blackhole \
        --sysctl 10.forwarding=1 --sysctl 10.rp_filter=1 --join 239.1.1.1 "$3")
    echo "$out"
    for want in "IP_RPFILTER                     1" "IP_INADDRERRORS                 3" \
                "TcpExtIPReversePathFilter       1" \
                "#conservation rx 24 = delivered 0 + held 0 + passed 2 + dropped 22: ok"; do
        echo "$out" | grep -qF "$want" || { echo "missing: $want" >&2; exit 1; }
    done
fi
