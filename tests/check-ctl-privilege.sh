#!/bin/bash
# Privilege on the control socket is decided as the kernel decides it for a socket call: for
# the request's sender at the time of the call, from what the kernel vouches for (a socket
# only a capability holder could make, passed with the request; SO_PEERCRED/SO_PEERGROUPS at
# connect; SCM_CREDENTIALS per request), never from /proc of a pid (ctl/policy.h,
# ctl/cap_proof.h). Against a real ingressd:
#   exec-setuid  nobody connects, then execs a setuid-root program in the connecting process
#                (here a setuid copy of sleep; `su` at its password prompt in the report);
#                the forked child's open-raw, open-tap, port 80 and reload are refused (the
#                daemon used to read the connecting pid's CapEff from /proc: all granted);
#   inherit      root connects and makes its proof sockets; its child gives up root and sends
#                on the inherited connection with them: refused, a sender that is not the peer;
#   genuine      root is granted all four; nobody running a copy of the same program with file
#                capabilities (cap_net_raw, cap_net_bind_service, cap_net_admin) too; plain
#                nobody none;
#   grants       policy.net_raw.uids and policy.net_bind_service.gids (a supplementary group)
#                still grant what they name, and nothing else.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
trick=$build/tests/ctl-trick
mac_a=02:00:5e:00:de:11 mac_b=02:00:5e:00:de:12
tmp=$(mktemp -d)
chmod 755 "$tmp"  # the unprivileged peers below must reach the socket and the programs
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-ctl-privilege: $*" >&2; exit 1; }
veth_pair ingpriv $mac_a $mac_b
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "mode: 0666" "policy:
  net_raw:
    uids: [4242]
  net_bind_service:
    gids: [4343]"
ingressd_up "$build"
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
# expect FILE granted|refused REQUEST...: each REQUEST's line in FILE says so.
expect() {
    local file=$1 want=$2; shift 2
    for r in "$@"; do
        grep -q "^$r $want" "$file" || { cat "$file" >&2; fail "$file: $r not $want"; }
    done
}
all="open-raw open-tap open-udp-80 reload"

# exec-setuid: the connecting process runs a setuid-root program, its child sends.
install -m 4755 -o root -g root /bin/sleep "$tmp/sleep-setuid"
as 65534 "$trick" exec-setuid "$tmp/ctl.sock" "$tmp/sleep-setuid" 30 > "$tmp/exec" 2>&1 || true
cat "$tmp/exec"
grep -qE "^connecting pid [0-9]+ now has euid 0$" "$tmp/exec" || fail "the setuid exec did not happen"
expect "$tmp/exec" refused $all

# inherit: root's connection and proofs, sent by a child that gave up root.
"$trick" inherit "$tmp/ctl.sock" > "$tmp/inherit" 2>&1 || true
cat "$tmp/inherit"
expect "$tmp/inherit" "refused: Operation not permitted .*is not the connection's peer (uid 0" \
    open-raw open-tap reload
expect "$tmp/inherit" "refused: Permission denied .*is not the connection's peer (uid 0" open-udp-80

# genuine: root, and nobody with file capabilities, are granted; plain nobody is not.
"$trick" self "$tmp/ctl.sock" > "$tmp/root" 2>&1 || true
cat "$tmp/root"
expect "$tmp/root" granted $all
install -m 0755 "$trick" "$tmp/trick-caps"
setcap cap_net_raw,cap_net_bind_service,cap_net_admin+ep "$tmp/trick-caps"
as 65534 "$tmp/trick-caps" self "$tmp/ctl.sock" > "$tmp/caps" 2>&1 || true
cat "$tmp/caps"
expect "$tmp/caps" granted $all
as 65534 "$trick" self "$tmp/ctl.sock" > "$tmp/nobody" 2>&1 || true
expect "$tmp/nobody" refused $all

# grants: uid 4242 may open raw endpoints and taps; group 4343 (supplementary) port 80.
as 4242 "$trick" self "$tmp/ctl.sock" > "$tmp/g1" 2>&1 || true
cat "$tmp/g1"
expect "$tmp/g1" granted open-raw open-tap
expect "$tmp/g1" refused open-udp-80 reload
setpriv --reuid=4444 --regid=4444 --groups=4343 "$trick" self "$tmp/ctl.sock" > "$tmp/g2" 2>&1 || true
cat "$tmp/g2"
expect "$tmp/g2" granted open-udp-80
expect "$tmp/g2" refused open-raw open-tap reload

grep -q "refused open-raw from pid [0-9]* uid 65534" "$tmp/log" || { cat "$tmp/log" >&2; fail "refusals not logged"; }
kill -0 "$pid" || fail "ingressd died"
kill -INT "$pid"
wait "$pid" || fail "ingressd exit status $?"
pid=
echo "check-ctl-privilege: ok"
