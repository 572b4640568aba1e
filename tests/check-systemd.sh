#!/bin/bash
# ingressd.service under a real systemd: the unit this build installs (config/ingressd.service,
# the one the ingressd package ships), run by systemd as PID 1 of a container the test makes
# (systemd.io/CONTAINER_INTERFACE): new PID, mount, UTS and cgroup namespaces inside network
# namespace a of a veth pair, `container=hB-test`, its own cgroup2 subtree mounted at
# /sys/fs/cgroup (so systemd runs in unified mode and touches no v1 hierarchy of the host),
# tmpfs on /run, /tmp, /var/tmp and on every unit and generator directory, holding only the
# targets the unit needs, the unit and a drop-in (this build's ingressd, a config on the
# veth, WatchdogSec=2s, the output to a file). That systemd's own systemctl then checks:
#   Type=notify: ActiveState goes activating -> active only once systemd got READY=1 (its
#     log: the notification before `start -> running`), and ingressctl is answered then;
#     StatusText= is "1 worker(s) up", then the rates line;
#   `systemctl reload` (ExecReload= SIGHUP): RELOADING=1 (`running -> reload`) then
#     READY=1 (`reload -> running`), same MainPID;
#   the watchdog: worker ingress-w0 stopped (tests/stop-thread.py: ptrace, the other
#     threads run on) stops WATCHDOG=1; ingressd logs the worker (interface, queue) and the
#     stage its loop is in; systemd logs the watchdog timeout, kills it and restarts it:
#     NRestarts=1, a new MainPID, active; the new instance removed the dead one's program;
#   no libxdp/libbpf lines in the daemon's log (the unit grants no CAP_SYS_ADMIN);
#   `systemctl stop`: STOPPING=1, the daemon exits 0 (systemd's log).
# Exit 77 (skipped) with the reason when the host cannot run systemd so.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = --inner ]; then
    # PID 1 of the new namespaces, before systemd: $2 the test's directory (units, config),
    # $3 the build tree, $4 the console (the test's pty).
    dir=$2 build=$3 console=$4
    mount -t proc proc /proc
    mount -t cgroup2 cgroup2 /sys/fs/cgroup
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
    # The container interface: /proc/sys read-only but for the (own) network namespace's.
    mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
    mount --bind /proc/sys/net /proc/sys/net
    mount --bind "$console" /dev/console
    mount -t tmpfs -o mode=755 tmpfs /run
    mkdir -p /run/hB-sd/build
    cp "$dir"/ingressd.yaml /run/hB-sd/
    mount --bind "$build" /run/hB-sd/build
    for d in /etc/systemd/system /usr/lib/systemd/system /usr/local/lib/systemd/system \
        /etc/systemd/system-generators /usr/lib/systemd/system-generators \
        /usr/local/lib/systemd/system-generators /usr/lib/systemd/system-environment-generators \
        /etc/systemd/system-environment-generators; do
        [ -d "$d" ] && mount -t tmpfs -o mode=755 tmpfs "$d"
    done
    cp "$dir"/units/* /usr/lib/systemd/system/
    mkdir /etc/systemd/system/ingressd.service.d
    cp "$dir"/dropin.conf /etc/systemd/system/ingressd.service.d/hB-test.conf
    mount -t tmpfs tmpfs /tmp
    mount -t tmpfs tmpfs /var/tmp
    exec env -i container=hB-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        /lib/systemd/systemd --log-level=debug --log-target=console --show-status=no \
        --unit=multi-user.target
fi

skip() { echo "check-systemd: skipped: $*"; exit 77; }
fail() { echo "check-systemd: $*" >&2; exit 1; }
build=$(cd "$1" && pwd)
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, XDP)"
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd (apt install systemd)"
command -v script > /dev/null || skip "no script(1) (bsdutils)"
unshare --help | grep -q -- --cgroup || skip "unshare has no --cgroup"
cg2=$(findmnt -n -t cgroup2 -o TARGET | awk 'NR == 1')
[ -n "$cg2" ] || skip "no cgroup2 mounted: systemd in a namespace needs its own cgroup2 subtree"
[ -f "$build/config/ingressd.service" ] || fail "no $build/config/ingressd.service"

source "$here/../tools/veth-pair.sh"
tmp=$(mktemp -d)
cg=$cg2/hB-sd-$$
cleanup() {
    [ -n "${tracer:-}" ] && kill "$tracer" 2>/dev/null || true
    # SIGKILL to the namespace's PID 1 ends every process in it.
    [ -n "${sd:-}" ] && kill -9 "$sd" 2>/dev/null || true
    [ -n "${console_pid:-}" ] && { kill "$console_pid" 2>/dev/null || true; wait "$console_pid" 2>/dev/null || true; }
    if [ -d "$cg" ]; then
        # Whatever else of this test's tree is left (a systemd that never reported): by pid.
        for p in $(cat $(find "$cg" -name cgroup.procs) 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
        for _ in $(seq 50); do
            find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [ -d "$cg" ] || break
            sleep 0.1
        done
        [ -d "$cg" ] && echo "check-systemd: could not remove $cg" >&2
    fi
    veth_pair_remove
    rm -rf "$tmp"
}
trap cleanup EXIT

veth_pair hBsd 02:00:5e:00:de:61 02:00:5e:00:de:62
ingressd_cfg "$tmp/ingressd.yaml" /run/ingressd/ctl.sock
mkdir "$tmp/units"
for t in sysinit basic shutdown network-online multi-user; do
    printf '[Unit]\nDescription=%s (check-systemd)\n' "$t" > "$tmp/units/$t.target"
done
cp "$build/config/ingressd.service" "$tmp/units/"
cat > "$tmp/dropin.conf" << 'EOF'
[Service]
ExecStartPre=
ExecStartPre=/run/hB-sd/build/src/ingressd --config /run/hB-sd/ingressd.yaml --check
ExecStart=
ExecStart=/run/hB-sd/build/src/ingressd --config /run/hB-sd/ingressd.yaml
WatchdogSec=2s
StandardOutput=append:/run/hB-sd/ingressd.log
StandardError=append:/run/hB-sd/ingressd.log
EOF

# systemd's console is a pty of script(1), logged to $tmp/console.
mkdir "$cg"
(
    echo "$BASHPID" > "$cg/cgroup.procs"
    inner=$(printf '%q ' ip netns exec "$ns_a" unshare --cgroup --pid --fork --mount --uts \
        --propagation private "$here/check-systemd.sh" --inner "$tmp" "$build")
    exec script -qfec "$inner \$(tty)" "$tmp/console" > /dev/null 2>&1 < /dev/null
) &
console_pid=$!
for _ in $(seq 200); do
    grep -q 'Startup finished' "$tmp/console" 2>/dev/null && break
    kill -0 "$console_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q 'Startup finished' "$tmp/console" 2>/dev/null \
    || { tail -20 "$tmp/console" 2>/dev/null; skip "systemd did not start as PID 1 in a namespace (its console above)"; }
# systemd moves itself into init.scope: the one process there is PID 1 (its pid out here).
sd=$(cat "$cg/init.scope/cgroup.procs")
[ "$(cat /proc/"$sd"/comm)" = systemd ] || fail "init.scope holds $sd, not systemd"
root=/proc/$sd/root
sctl() { nsenter -t "$sd" -m -p systemctl "$@"; }
prop() { sctl show -P "$1" ingressd.service; }
ctl() { "$build"/tools/ingressctl --socket "$root/run/ingressd/ctl.sock" "$@"; }
dump() { grep -a 'ingressd.service: [A-Z]' "$tmp/console" | grep -v 'WATCHDOG=1)$' | tail -40 >&2; cat "$root/run/hB-sd/ingressd.log" >&2 2>/dev/null || true; }
die() { dump; fail "$*"; }
after() {  # PATTERN LINE: the first line of systemd's log after LINE matching PATTERN (an
    # ERE), waiting up to 10 s (awk reads the file itself: no pipe to break under pipefail)
    local n
    for _ in $(seq 100); do
        n=$(awk -v p="$1" -v from="$2" 'NR > from && $0 ~ p { print NR; exit }' "$tmp/console")
        [ -n "$n" ] && { echo "$n"; return 0; }
        sleep 0.1
    done
    return 1
}
wait_for() {  # PATTERN FILE SECONDS
    for _ in $(seq $(($3 * 10))); do grep -qE "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# --- Type=notify: active only after READY=1 ---
sctl start --no-block ingressd.service
states=
for _ in $(seq 300); do
    s=$(prop ActiveState)
    [ "${states##* }" = "$s" ] || states="$states $s"
    [ "$s" = active ] && break
    [ "$s" = failed ] && break
    sleep 0.05
done
[ "$s" = active ] || die "ingressd.service is $s, not active (states:$states)"
ctl wait-ready --timeout 1 > /dev/null || die "active but ingressctl is not answered"
states=${states# inactive}
case "$states" in " activating"*" active") ;; *) die "ActiveState went$states, not activating -> active" ;; esac
log=$tmp/console
ready=$(after 'ingressd.service: Got notification message from PID .*READY=1' 0) || die "systemd logged no READY=1"
running=$(after 'ingressd.service: Changed start -> running' 0) || die "systemd logged no start -> running"
[ "$ready" -lt "$running" ] || die "systemd had ingressd running before READY=1"
[ "$(prop StatusText)" = "1 worker(s) up" ] || die "StatusText is '$(prop StatusText)'"
[ "$(prop WatchdogUSec)" = 2s ] || die "WatchdogUSec is $(prop WatchdogUSec)"
pid=$(prop MainPID)
echo "notify: ActiveState$states after READY=1 (systemd's log), StatusText '1 worker(s) up'"

# --- STATUS= with the rates (every 5 s) ---
for _ in $(seq 80); do
    st=$(prop StatusText)
    [[ $st =~ ^1\ worker\(s\):\ rx\ [0-9]+/s,\ delivered\ [0-9]+/s,\ dropped\ [0-9]+/s$ ]] && break
    sleep 0.1
done
[[ $st =~ ^1\ worker\(s\):\ rx ]] || die "no StatusText with rates within 8 s: '$st'"
grep -q 'ingressd.service: Got notification message from PID .*WATCHDOG=1' "$log" \
    || die "systemd got no WATCHDOG=1"
echo "status: StatusText '$st'; WATCHDOG=1 received"

# --- systemctl reload: RELOADING=1, then READY=1 ---
# ExecReload= is `kill -HUP`: systemd 252 ends the reload job when kill exits, which may be
# before or after the daemon's RELOADING=1; either way the unit is in `reload` from
# RELOADING=1 until the daemon's READY=1, and only then back to `running`.
l0=$(wc -l < "$log")
sctl reload ingressd.service || die "systemctl reload failed"
after 'ingressd.service: Changed running -> reload' "$l0" > /dev/null || die "systemctl reload: no running -> reload"
rl=$(after 'ingressd.service: Got notification message from PID .*RELOADING=1' "$l0") || die "no RELOADING=1"
ready2=$(after 'ingressd.service: Got notification message from PID .*READY=1' "$rl") || die "no READY=1 after RELOADING=1"
back=$(after 'ingressd.service: Changed reload -> running' "$rl") || die "not back to running after the reload"
[ "$back" -gt "$ready2" ] || die "the unit left reload (line $back) before the daemon's READY=1 (line $ready2)"
[ "$(prop MainPID)" = "$pid" ] && [ "$(prop ActiveState)" = active ] || die "not the same active ingressd after the reload"
echo "reload: RELOADING=1 (running -> reload), READY=1 (reload -> running), MainPID $pid kept"

# --- the watchdog: a stalled worker, a restart ---
[ "$(prop NRestarts)" = 0 ] || die "NRestarts is $(prop NRestarts) before the stall"
# MainPID is the namespace's pid; the service's cgroup lists the pid out here.
hpid=$(cat "$cg/system.slice/ingressd.service/cgroup.procs")
w0=$(grep -lx ingress-w0 /proc/"$hpid"/task/*/comm | cut -d/ -f5 || true)
[ -n "$w0" ] || die "no thread ingress-w0 in ingressd $hpid (MainPID $pid)"
python3 "$here/stop-thread.py" "$w0" > "$tmp/tracer" 2>&1 &
tracer=$!
wait_for "^stopped $w0" "$tmp/tracer" 5 || { cat "$tmp/tracer" >&2; die "could not stop worker thread $w0"; }
wait_for 'ingressd.service: Watchdog timeout' "$log" 10 || die "no watchdog timeout within 10 s of the stall"
for _ in $(seq 200); do
    [ "$(prop NRestarts)" = 1 ] && [ "$(prop ActiveState)" = active ] && break
    sleep 0.1
done
[ "$(prop NRestarts)" = 1 ] && [ "$(prop ActiveState)" = active ] \
    || die "not restarted: NRestarts=$(prop NRestarts) ActiveState=$(prop ActiveState)"
wait "$tracer" || true
tracer=
npid=$(prop MainPID)
[ "$npid" != "$pid" ] || die "MainPID $pid kept across the restart"
# The stopped thread sleeps in its idle wait (no traffic) or, if caught between, elsewhere.
stall=$(grep -o "ingressd: watchdog: worker 0: $if_a queue 0 made no progress for 1000 ms, in stage [a-z]*" \
    "$root/run/hB-sd/ingressd.log") || die "ingressd did not log the stalled worker and its stage"
[ "$(grep -c 'ingressd: watchdog: worker' "$root/run/hB-sd/ingressd.log")" -eq 1 ] \
    || die "not exactly one stalled worker logged"
grep -q 'ingressd.service: Failed with result .watchdog.' "$log" || die "systemd did not fail it for the watchdog"
ctl wait-ready --timeout 5 > /dev/null || die "the restarted ingressd is not answered"
echo "watchdog: ingress-w0 (tid $w0) stopped: '${stall#ingressd: watchdog: }', systemd's Watchdog timeout," \
    "Result=watchdog, restarted: NRestarts=1, MainPID $pid -> $npid, active"

# A quiet start without CAP_SYS_ADMIN: libxdp's and libbpf's refusals to open the hook's
# program by id are not printed (ingressd reads the hook over netlink); one plain line says
# the program is attached alone; the restart removed the dead instance's program by its id.
dlog=$root/run/hB-sd/ingressd.log
if grep -a -E '^(libxdp|libbpf):|(libxdp|libbpf): ' "$dlog" >&2; then die "library noise in ingressd's log (above)"; fi
[ "$(grep -c "^$if_a: XDP program attached alone" "$dlog")" -eq 2 ] || die "no 'attached alone' line per start"
grep -q "^$if_a: removed a leftover ingress_xdp program of a previous instance (id [0-9]*;" "$dlog" \
    || die "the restart did not remove the dead instance's program"
echo "start: no library noise, attached alone, the killed instance's program removed by its id"

# --- systemctl stop: a clean exit ---
# (Once stopped the unit is unloaded (garbage-collected): systemd's log is the record.)
l0=$(wc -l < "$log")
sctl stop ingressd.service || die "systemctl stop failed"
[ "$(prop ActiveState)" = inactive ] || die "ActiveState $(prop ActiveState) after stop"
st=$(after 'ingressd.service: Changed running -> stop-sigterm' "$l0") || die "no running -> stop-sigterm"
for want in 'Got notification message from PID .*STOPPING=1' \
    'Main process exited, code=exited, status=0/SUCCESS' 'Deactivated successfully' \
    'Changed stop-sigterm -> dead'; do
    after "ingressd.service: $want" "$st" > /dev/null || die "no '$want' after systemctl stop"
done
echo "stop: STOPPING=1, Main process exited, code=exited, status=0/SUCCESS, Deactivated successfully"
