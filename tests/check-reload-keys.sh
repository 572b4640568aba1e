#!/bin/bash
# `ingressctl reload` applies every key it says it applied, or lists it as needing a restart
# (exit 3, nothing applied) — each key the reload used to accept and ignore:
#   control.mode           chmod of the socket file: a peer the new mode excludes cannot
#                          connect; one connected before keeps its connection and endpoint
#                          (the kernel checks a socket file's permission at connect());
#   control.group          chown of the socket file, and its members may reload;
#   policy (grants)        from the next request: a revoked uid grant refuses the next open,
#                          the endpoint opened before stays (the kernel never closes a socket
#                          whose privilege was revoked); an added gid grant allows;
#   ipv4.ip_unprivileged_port_start   from the next bind (lowered to 80: nobody binds 80);
#   ipv4.ip_nonlocal_bind  from the next bind (a non-local address accepted);
#   workers.control_core   the control thread is pinned (and logged), at start and live;
#   control.max_connections_per_uid   from the next connect: lowered to 1, the uid that
#                          holds one connection is refused the next (EMFILE), its open one stays;
#   ipv4.icmp_ratelimit, ipv4.ipfrag_time   live: the workers take them at their next burst,
#                          ingressctl host shows the values in use.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
ctl=$build/tools/ingressctl
trick=$build/tests/ctl-trick
mac_a=02:00:5e:00:de:21 mac_b=02:00:5e:00:de:22
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
    [ -n "${held:-}" ] && kill -9 "$held" 2>/dev/null || true
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-reload-keys: $*" >&2; exit 1; }
veth_pair ingrld $mac_a $mac_b
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
# cfg MODE GROUP_LINE IPV4_LINES POLICY_LINES CONTROL_CORE
cfg() {
    ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "mode: $1" "$2
ipv4:
$3
policy:
$4
workers:
  control_core: $5"
}
reload() { "$ctl" --socket "$tmp/ctl.sock" reload; }
granted() {  # granted UID REQUEST: whether UID's REQUEST (ctl-trick self) is granted
    as "$1" "$trick" self "$tmp/ctl.sock" > "$tmp/t" 2>&1 || true
    grep -q "^$2 granted" "$tmp/t"
}

last=$(($(nproc) - 1))  # the control thread starts on the last core, is moved to core 0
cfg 0666 "" "  ip_unprivileged_port_start: 1024" "  net_raw:
    uids: [4242]" $last
ingressd_up "$build"
grep -q "control thread pinned to core $last" "$tmp/log" || { cat "$tmp/log" >&2; fail "control_core not applied at start"; }
grep -q "^Cpus_allowed_list:[[:space:]]*$last$" /proc/$pid/task/$pid/status || fail "control thread not on core $last"
[ "$(stat -c %a "$tmp/ctl.sock")" = 666 ] || fail "mode at start"
granted 4242 open-raw || fail "the uid grant at start"
! granted 4242 open-udp-80 || fail "port 80 without a grant"
granted 65534 open-udp-80 && fail "nobody on port 80 before the reload"
# uid 4242 holds a raw endpoint across the reload.
as 4242 "$build"/tools/ingress-sink --socket "$tmp/ctl.sock" --raw 253 --duration 60 \
    > /dev/null 2> "$tmp/held.err" &
held=$!
for _ in $(seq 100); do grep -q "endpoint .* open" "$tmp/held.err" 2>/dev/null && break; sleep 0.1; done
grep -q "endpoint .* open" "$tmp/held.err" || { cat "$tmp/held.err" >&2; fail "uid 4242's raw endpoint"; }

# Revoke the uid grant, grant port 80 to group 4343, lower the port start to 80, allow
# non-local binds, the group `users` (100) as control group, mode 0660, core 0.
cfg 0660 "  group: users" "  ip_unprivileged_port_start: 80
  ip_nonlocal_bind: 1" "  net_bind_service:
    gids: [4343]" 0
reload | grep -q "reloaded: configuration applied" || fail "reload not applied"
[ "$(stat -c %a "$tmp/ctl.sock")" = 660 ] || fail "control.mode not applied: $(stat -c %a "$tmp/ctl.sock")"
[ "$(stat -c %g "$tmp/ctl.sock")" = 100 ] || fail "control.group not applied: $(stat -c %g "$tmp/ctl.sock")"
if as 65534 "$ctl" --socket "$tmp/ctl.sock" routes 2> "$tmp/err"; then fail "nobody still connects after mode 0660"; fi
grep -q "Permission denied" "$tmp/err" || { cat "$tmp/err" >&2; fail "not the kernel's EACCES at connect"; }
"$ctl" --socket "$tmp/ctl.sock" endpoints | grep -qE "^raw .*uid=4242" \
    || { "$ctl" --socket "$tmp/ctl.sock" endpoints; fail "the endpoint opened before the revocation is gone"; }
setpriv --reuid=4242 --regid=4242 --groups=100 "$trick" self "$tmp/ctl.sock" > "$tmp/t" 2>&1 || true
cat "$tmp/t"
grep -q "^open-raw refused" "$tmp/t" || fail "the revoked uid grant still grants"
grep -q "^open-udp-80 granted" "$tmp/t" || fail "ip_unprivileged_port_start 80 not applied"
grep -q "^reload granted" "$tmp/t" || fail "control.group's member may not reload"
setpriv --reuid=4444 --regid=4444 --groups=100,4343 "$build"/tools/ingress-sink --socket "$tmp/ctl.sock" \
    --udp 198.19.9.9:79 --duration 0.2 > /dev/null 2> "$tmp/nl" \
    || { cat "$tmp/nl" >&2; fail "ip_nonlocal_bind 1 or the gid grant not applied"; }
[ $last = 0 ] || grep -q "control thread pinned to core 0" "$tmp/log" || fail "control_core not applied live"
grep -q "^Cpus_allowed_list:[[:space:]]*0$" /proc/$pid/task/$pid/status || fail "control thread not on core 0"
[ $last = 0 ] || ! grep -q "^Cpus_allowed_list:[[:space:]]*0$" \
    /proc/$pid/task/$(ls /proc/$pid/task | sort -n | sed -n 2p)/status || fail "a worker followed the control thread"

# The connection quota: from the next connect; the uid's open connection stays (mode 0666
# again: a member of control.group is an administrator, whom quotas do not bind).
cfg 0666 "  group: users
  max_connections_per_uid: 1" "  ip_unprivileged_port_start: 80
  ip_nonlocal_bind: 1" "  net_bind_service:
    gids: [4343]" 0
reload | grep -q "reloaded: configuration applied" || fail "reload with max_connections_per_uid not applied"
if as 4242 "$ctl" --socket "$tmp/ctl.sock" routes > /dev/null 2> "$tmp/err"; then
    fail "control.max_connections_per_uid 1 not applied: uid 4242's second connection admitted"
fi
grep -q "max_connections_per_uid" "$tmp/err" || { cat "$tmp/err" >&2; fail "the refusal does not name control.max_connections_per_uid"; }
"$ctl" --socket "$tmp/ctl.sock" endpoints | grep -qE "^raw .*uid=4242" || fail "the quota closed an open connection"
"$ctl" --socket "$tmp/ctl.sock" stats | grep -qE "refused_uid_quota +[1-9]" \
    || { "$ctl" --socket "$tmp/ctl.sock" stats | grep -A14 "^control" >&2; fail "refused_uid_quota not counted"; }

# Keys the workers read (net.ipv4.*): live, from each worker's next burst, shown by
# ingressctl host; the port start of the same reload is applied with them.
sed -i "s/^ipv4:$/ipv4:\n  icmp_ratelimit: 250\n  ipfrag_time: 10/" "$tmp/ingressd.yaml"
sed -i "s/ip_unprivileged_port_start: 80/ip_unprivileged_port_start: 1024/" "$tmp/ingressd.yaml"
reload | grep -q "reloaded: configuration applied" || fail "icmp_ratelimit, ipfrag_time: not applied"
"$ctl" --socket "$tmp/ctl.sock" host > "$tmp/host"
for want in "net.ipv4.icmp_ratelimit 250" "net.ipv4.ipfrag_time 10" "net.ipv4.ip_unprivileged_port_start 1024"; do
    grep -q "^knob  *$want$" "$tmp/host" || { cat "$tmp/host" >&2; fail "ingressctl host: no $want"; }
done
setpriv --reuid=4444 --regid=4444 --groups=100 "$trick" self "$tmp/ctl.sock" > "$tmp/t" 2>&1 || true
grep -q "^open-udp-80 refused" "$tmp/t" || { cat "$tmp/t" >&2; fail "the port start of the same reload not applied"; }

kill "$held"; wait "$held" 2>/dev/null || true; held=
kill -INT "$pid"
wait "$pid" || fail "ingressd exit status $?"
pid=
echo "check-reload-keys: ok"
