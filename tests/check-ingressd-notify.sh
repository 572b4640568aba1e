#!/bin/bash
# ingressd's readiness from the build tree, on a veth pair in namespaces made for the test:
#   before the daemon: `ingressctl wait-ready --timeout 1` fails (status 1) with a message;
#   start under a NOTIFY_SOCKET this test listens on: READY=1 with STATUS=, then the pid
#     file holds ingressd's pid and `ingressctl wait-ready` returns 0;
#   `ingressctl reload` (the control-socket path; SIGHUP's is in check-debian-packages.sh):
#     RELOADING=1 with MONOTONIC_USEC=, then READY=1 again;
#   a STATUS= line with rates within the 5 s period;
#   WATCHDOG_USEC set (WatchdogSec=): WATCHDOG=1 every half period while the workers beat;
#   SIGTERM: STOPPING=1, exit 0, the pid file removed.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
ctl=$build/tools/ingressctl
tmp=$(mktemp -d)
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    [ -n "${listener:-}" ] && kill "$listener" 2>/dev/null || true
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-ingressd-notify: $*" >&2; exit 1; }
veth_pair ingntf 02:00:5e:00:de:51 02:00:5e:00:de:52
ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock"

if "$ctl" --socket "$tmp/ctl.sock" wait-ready --timeout 1 2> "$tmp/err"; then fail "wait-ready without a daemon succeeded"; fi
grep -qF "ingressctl: $tmp/ctl.sock: ingressd not ready after 1s" "$tmp/err" || { cat "$tmp/err" >&2; fail "unclear wait-ready timeout"; }

python3 "$(dirname "$0")/notify-listener.py" "$tmp/notify.sock" "$tmp/notify.log" &
listener=$!
for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=400000 ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" \
    --pid-file "$tmp/pid" > "$tmp/out" 2> "$tmp/log" &
pid=$!
"$ctl" --socket "$tmp/ctl.sock" wait-ready --timeout 20 || { cat "$tmp/log" >&2; fail "wait-ready failed"; }
grep -q '^READY=1' "$tmp/notify.log" || fail "wait-ready returned before READY=1 was sent"
grep -q '^STATUS=1 worker(s) up' "$tmp/notify.log" || fail "no STATUS= with READY=1"
[ "$(cat "$tmp/pid")" = "$pid" ] || fail "the pid file does not hold ingressd's pid"
# WatchdogSec=400ms: WATCHDOG=1 every 200 ms while the (idle, sleeping) worker beats.
sleep 1.5
wd=$(grep -c '^WATCHDOG=1$' "$tmp/notify.log" || true)
[ "$wd" -ge 4 ] || { cat "$tmp/notify.log" >&2; fail "$wd WATCHDOG=1 in 1.5 s with WATCHDOG_USEC=400000"; }
grep -q 'watchdog:' "$tmp/log" && { cat "$tmp/log" >&2; fail "an idle worker was taken for stuck"; }

"$ctl" --socket "$tmp/ctl.sock" reload > "$tmp/reload" || { cat "$tmp/reload" >&2; fail "ingressctl reload failed"; }
grep -q '^RELOADING=1$' "$tmp/notify.log" || fail "no RELOADING=1 on ingressctl reload"
grep -q '^MONOTONIC_USEC=[0-9]*$' "$tmp/notify.log" || fail "RELOADING=1 without MONOTONIC_USEC="
[ "$(grep -c '^READY=1' "$tmp/notify.log")" -eq 2 ] || fail "not READY=1 once more after the reload"
for _ in $(seq 80); do grep -q '^STATUS=1 worker(s): rx [0-9]*/s' "$tmp/notify.log" && break; sleep 0.1; done
grep -q '^STATUS=1 worker(s): rx [0-9]*/s, delivered [0-9]*/s, dropped [0-9]*/s$' "$tmp/notify.log" \
    || { cat "$tmp/notify.log" >&2; fail "no STATUS= rates line within 8 s"; }

kill -TERM "$pid"
wait "$pid" || fail "ingressd exited with $?"
pid=
grep -q '^STOPPING=1' "$tmp/notify.log" || fail "no STOPPING=1 on SIGTERM"
[ ! -e "$tmp/pid" ] || fail "the pid file was left behind"
echo "notify: READY=1, STATUS=, WATCHDOG=1, RELOADING=1 + READY=1 on ingressctl reload, STOPPING=1; wait-ready; pid file"
