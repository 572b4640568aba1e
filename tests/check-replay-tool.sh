#!/bin/sh
# ingress-replay on the shipped capture: exits 0, prints nstat-style kernel counter names,
# drop reasons and a conservation line that holds.
set -eu
out=$("$1" "$2")
echo "$out"
for want in "IpInReceives                    18" "IpExtInCsumErrors               2" \
            "IP_INHDR                        5" "OTHERHOST                       2" \
            "#conservation rx 25 = delivered 0 + held 0 + passed 13 + dropped 12: ok"; do
    echo "$out" | grep -qF "$want" || { echo "missing: $want" >&2; exit 1; }
done
"$1" --json "$2" | grep -q '"conserved":true'
# The fragment capture next to it: reassembly counters, nothing left held at the end.
defrag="$(dirname "$2")/defrag.pcap"
out=$("$1" "$defrag")
for want in "IpReasmOKs                      1" "IpReasmTimeout                  3" \
            "#conservation rx 10 = delivered 0 + held 0 + passed 4 + dropped 6: ok"; do
    echo "$out" | grep -qF "$want" || { echo "defrag.pcap missing: $want" >&2; exit 1; }
done
# A bad argument is a clear error, not a crash.
if "$1" --mac nonsense "$2" 2>/dev/null; then echo "bad --mac accepted" >&2; exit 1; fi
"$1" --mac nonsense "$2" 2>&1 | grep -q "is not a MAC"
