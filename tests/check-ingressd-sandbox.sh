#!/bin/bash
# ingressd's least privilege (docs/security.md), on a veth pair in namespaces made for the
# test, with `privileges: {user: nobody, group: nogroup, seccomp: on}`:
#   after setup the daemon runs as nobody: /proc/PID/status shows Uid/Gid nobody/nogroup,
#     CapEff exactly what the log says it kept (AF_XDP: cap_net_admin; cap_sys_admin too
#     behind libxdp's dispatcher), the workers none,
#     CapBnd the same, NoNewPrivs 1 and Seccomp 2 (filter) on every thread;
#   it still works: ingress-sink receives what ingress-pktgen sends, the conservation line
#     holds in `ingressctl stats`, `ingressctl trace` shows a delivered datagram,
#     `ingressctl reload` applies, a reload that changes `privileges` is refused as needing
#     a restart (exit 3), and SIGTERM ends it with status 0 and the XDP program detached;
#   the same on DPDK (net_af_packet on the veth, its exception TAP): CapEff cap_net_admin
#     alone (for the TAP's addresses on reload), every thread (DPDK's interrupt, multi-process
#     and telemetry threads included) nobody with Seccomp 2, delivery, trace, stats, and a
#     reload that adds an address puts it onto the TAP;
#   INGRESSD_SECCOMP_SELFTEST=worker: worker 0 makes a call no allowlist has once its
#     filter is loaded: seccomp: on kills the process with SIGSYS (status 128+31); so does
#     =control on the control thread once ready; under seccomp: log the call is allowed
#     and logged and the daemon keeps serving.
set -euo pipefail
source "$(dirname "$0")/../tools/veth-pair.sh"
build=$1
ctl=$build/tools/ingressctl
mac_a=02:00:5e:00:e5:01 mac_b=02:00:5e:00:e5:02
tmp=$(mktemp -d)
cleanup() {
    for p in ${tr:-} ${sink:-} ${pid:-}; do kill -9 "$p" 2>/dev/null || true; done
    veth_pair_remove
    rm -rf "$tmp" "/var/run/dpdk/sbx$$"
}
trap cleanup EXIT
fail() { echo "check-ingressd-sandbox: $*" >&2; exit 1; }
getent passwd nobody > /dev/null && getent group nogroup > /dev/null || fail "no user nobody / group nogroup"
veth_pair ingsbx $mac_a $mac_b
chmod 755 "$tmp"
sandbox() {  # sandbox SECCOMP [TAIL] [IFACE_LINES]
    ingressd_cfg "$tmp/ingressd.yaml" "$tmp/ctl.sock" "mode: 0666" "privileges:
  user: nobody
  group: nogroup
  seccomp: $1${2:+
$2}" "${3:-}"
}
c() { "$ctl" --socket "$tmp/ctl.sock" "$@"; }
send() {  # send COUNT RATE
    ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" --src-mac $mac_b \
        --dst-mac $mac_a --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 --count "$1" \
        --rate "$2" > "$tmp/gen" 2>&1 || { cat "$tmp/gen" >&2; fail "ingress-pktgen"; }
}
field() { sed -n "s/^$1:[[:space:]]*//p" "$2"; }

# Every thread runs as nobody with the filter; the process holds exactly `want_caps`, the
# worker (ingress-w0) none.
check_threads() {  # check_threads WANT_CAPS
    local want_caps=$1 t st w
    threads=0
    for t in /proc/$pid/task/*; do
        st=$t/status
        [ "$(field Uid "$st" | awk '{print $1,$2,$3,$4}')" = "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" ] \
            || fail "$(cat $t/comm): Uid $(field Uid "$st")"
        [ "$(field Seccomp "$st")" = 2 ] || fail "$(cat $t/comm): Seccomp $(field Seccomp "$st"), not 2 (filter)"
        [ "$(field NoNewPrivs "$st")" = 1 ] || fail "$(cat $t/comm): NoNewPrivs $(field NoNewPrivs "$st")"
        threads=$((threads + 1))
    done
    st=/proc/$pid/status
    [ "$(field CapEff "$st")" = $want_caps ] || fail "CapEff $(field CapEff "$st"), want $want_caps"
    [ "$(field CapPrm "$st")" = $want_caps ] || fail "CapPrm $(field CapPrm "$st"), want $want_caps"
    [ "$(field CapBnd "$st")" = $want_caps ] || fail "CapBnd $(field CapBnd "$st"), want $want_caps"
    [ "$(field CapInh "$st")" = 0000000000000000 ] || fail "CapInh $(field CapInh "$st")"
    w=$(grep -l '^ingress-w0$' /proc/$pid/task/*/comm | head -1)
    [ -n "$w" ] || fail "no ingress-w0 thread"
    [ "$(field CapEff "${w%/comm}/status")" = 0000000000000000 ] || fail "worker CapEff $(field CapEff "${w%/comm}/status")"
}
# It still serves: an app receives 1000 datagrams, the trace shows one delivered, the
# conservation line holds, a reload applies. At 5k/s into the largest budget rmem_max allows,
# so that a sink the loaded machine stalls for a while does not see SOCKET_RCVBUFF drops.
check_serving() {  # check_serving DRIVER
    sink_up "$build" 1000 --rcvbuf 425984
    c trace --count 1 --filter 'udp dst port 5000' --timeout 10 > "$tmp/trace" 2> "$tmp/trace.err" &
    tr=$!
    for _ in $(seq 200); do grep -q "session started" "$tmp/trace.err" && break; sleep 0.05; done
    send 1000 5k
    wait "$tr" || { cat "$tmp/trace.err" >&2; fail "ingressctl trace failed"; }
    tr=
    grep -q "deliver" "$tmp/trace" || { cat "$tmp/trace" >&2; fail "no delivered datagram in the trace"; }
    wait "$sink" || { cat "$tmp/sink.err" >&2; fail "ingress-sink did not get its 1000 datagrams"; }
    sink=
    c stats > "$tmp/stats" || fail "ingressctl stats"
    grep -q '^#conservation rx 1000 = delivered 1000 .* ok' "$tmp/stats" || { cat "$tmp/stats" >&2; fail "conservation ($1)"; }
    c reload > "$tmp/reload" 2>&1 || { cat "$tmp/reload" >&2; fail "ingressctl reload failed under the sandbox"; }
}

sandbox on
ingressd_up "$build"
kept=$(sed -n "s/^ingressd: privileges: running as nobody:nogroup (uid $(id -u nobody), gid $(getent group nogroup | cut -d: -f3)), kept //p" "$tmp/log")
[ -n "$kept" ] || { cat "$tmp/log" >&2; fail "no one line saying who it runs as and what it kept"; }
grep -q "^ingressd: seccomp: on" "$tmp/log" || fail "no seccomp line"
# AF_XDP: CAP_NET_ADMIN (12) for the detach at exit; CAP_SYS_ADMIN (21) too when libxdp's
# dispatcher holds the program (it is refused on some kernels: then attached alone).
case $kept in
"cap_net_admin (XDP detach at exit)") want_caps=0000000000001000 ;;
"cap_net_admin (XDP detach at exit), cap_sys_admin (libxdp's dispatcher lookup by id at exit)")
    grep -q "attached alone" "$tmp/log" && fail "cap_sys_admin kept for a program attached alone"
    want_caps=0000000000201000 ;;
*) fail "kept $kept" ;;
esac
check_threads $want_caps
afxdp_threads=$threads
check_serving af_xdp
sandbox log
set +e
c reload > "$tmp/reload2" 2>&1
rc=$?
set -e
[ $rc = 3 ] || { cat "$tmp/reload2" >&2; fail "a privileges change reloaded with status $rc, want 3 (restart)"; }
grep -q privileges "$tmp/reload2" || { cat "$tmp/reload2" >&2; fail "the refused reload does not name privileges"; }
kill -TERM "$pid"
wait "$pid" || { cat "$tmp/log" >&2; fail "ingressd exited with $? under the sandbox"; }
pid=
ip -n "$ns_a" -d link show "$if_a" 2> /dev/null | grep -q "prog/xdp" && fail "the XDP program stayed attached after exit"

# DPDK: net_af_packet on the same veth, the port's exception TAP in namespace a.
tap=sbxt$$
dpdk_cfg() {
    sandbox on "dpdk:
  eal_args: [-l, \"0\", --no-huge, --no-pci, -m, \"256\", --file-prefix, sbx$$, --log-level, \"*:warning\"]" \
        "    driver: dpdk
    device: net_af_packet0,iface=$if_a
    exception: $tap"
}
dpdk_cfg
ingressd_up "$build"
grep -q "^ingressd: privileges: running as nobody:nogroup .*, kept cap_net_admin (addresses onto the DPDK exception TAP on reload)$" "$tmp/log" \
    || { cat "$tmp/log" >&2; fail "DPDK: not the one line saying it kept cap_net_admin alone"; }
check_threads 0000000000001000
dpdk_threads=$threads
grep -qx eal-intr-thread /proc/$pid/task/*/comm || fail "DPDK: no eal-intr-thread to check"
check_serving dpdk
# The reload that needs the kept capability: a new address goes onto the TAP (RTM_NEWADDR).
cfg_addresses="[198.18.0.1/24, 198.18.0.9/32]" dpdk_cfg
c reload > "$tmp/reload" 2>&1 || { cat "$tmp/reload" "$tmp/log" >&2; fail "DPDK: the reload adding an address failed"; }
ip -n "$ns_a" -4 addr show dev "$tap" | grep -q "inet 198.18.0.9/32" \
    || { ip -n "$ns_a" addr show dev "$tap" >&2; fail "DPDK: the reloaded address is not on the TAP"; }
kill -TERM "$pid"
wait "$pid" || { cat "$tmp/log" >&2; fail "ingressd (DPDK) exited with $? under the sandbox"; }
pid=
ip -n "$ns_a" link show "$tap" > /dev/null 2>&1 && fail "DPDK: the exception TAP stayed after exit"

# The self-test: seccomp: on kills the process with SIGSYS.
sandbox on
set +e
INGRESSD_SECCOMP_SELFTEST=worker ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" \
    > "$tmp/out" 2> "$tmp/log"
rc=$?
set -e
grep -q "INGRESSD_SECCOMP_SELFTEST: worker 0 calls personality" "$tmp/log" || { cat "$tmp/log" >&2; fail "the self-test did not run"; }
grep -q "personality returned" "$tmp/log" && fail "seccomp: on let the forbidden call return"
[ $rc = $((128 + 31)) ] || { cat "$tmp/log" >&2; fail "self-test: exit status $rc, want $((128 + 31)) (SIGSYS)"; }
# Killed: the program stays (the next start removes it, as after any SIGKILL).
ip -n "$ns_a" link set "$if_a" xdp off 2> /dev/null || true
# The control thread's allowlist likewise, once ready.
set +e
INGRESSD_SECCOMP_SELFTEST=control ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" \
    > "$tmp/out" 2> "$tmp/log"
rc=$?
set -e
grep -q "INGRESSD_SECCOMP_SELFTEST: the control thread calls personality" "$tmp/log" || { cat "$tmp/log" >&2; fail "the control self-test did not run"; }
[ $rc = $((128 + 31)) ] || { cat "$tmp/log" >&2; fail "control self-test: exit status $rc, want $((128 + 31)) (SIGSYS)"; }
ip -n "$ns_a" link set "$if_a" xdp off 2> /dev/null || true

# seccomp: log: the call is allowed (and logged by the kernel); the daemon serves on.
sandbox log
INGRESSD_SECCOMP_SELFTEST=worker ingressd_up "$build"
grep -q "personality returned" "$tmp/log" || { cat "$tmp/log" >&2; fail "seccomp: log refused the call"; }
c stats > /dev/null || fail "ingressctl stats under seccomp: log"
kill -TERM "$pid"
wait "$pid" || fail "ingressd (seccomp: log) exited with $?"
pid=
echo "sandbox: runs as nobody:nogroup with CapEff $want_caps (worker: none), Seccomp 2 on $afxdp_threads thread(s); DPDK: CapEff 0000000000001000, Seccomp 2 on $dpdk_threads thread(s), the reloaded address on the TAP; delivery, trace, stats, reload ok; privileges change needs a restart; self-test: SIGSYS (on: worker, control), allowed (log)"
