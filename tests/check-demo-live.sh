#!/bin/sh
# The live demo, short: it must run from the build tree, keep the conservation identity,
# deliver to both apps (unicast and multicast) through ingressd's rings, count the malformed
# share under kernel drop reasons, and send the (rate-limited) ICMP port unreachables for the
# closed port.
set -eu
root=$1 build=$2
rc=0
out=$("$root"/tools/demo-live.sh "$build" 1 2>&1) || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "demo-live.sh exited with $rc" >&2; exit 1; }
echo "$out" | grep -q "#conservation .*: ok" || { echo "conservation line missing" >&2; exit 1; }
echo "$out" | grep -Eq "^demo: app on 5000: +received [1-9][0-9]* datagrams" || { echo "app on 5000 received nothing" >&2; exit 1; }
echo "$out" | grep -Eq "^demo: app on 5001.*received [1-9][0-9]* datagrams" || { echo "app on 5001 received nothing" >&2; exit 1; }
for want in "IP_CSUM" "IP_INHDR" "UDP_CSUM" "NO_SOCKET" "IcmpOutDestUnreachs" "IpExtInMcastPkts"; do
    echo "$out" | grep -q "^$want " || { echo "missing counter $want" >&2; exit 1; }
done
