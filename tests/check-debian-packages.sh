#!/bin/bash
# The Debian packages, end to end, as root on this machine:
#   build     dpkg-buildpackage -b -us -uc (nocheck: the unit suite runs in its own CI step)
#             on a copy of the source tree in WORK_DIR/src, so the .debs stay in WORK_DIR
#             and the compiler cache hits on the next run (same paths); lintian
#             --fail-on error on the result, overrides in debian/*.lintian-overrides;
#             or the .debs already in $INGRESS_DEBS (a directory) when set;
#   install   apt install ./ingressd_*.deb ./ingress-tools_*.deb ./libingress*.deb: the
#             system user ingressd exists, the unit is Type=notify;
#   run       the installed ingressd, started with the installed unit's ExecStartPre and
#             ExecStart lines (plus --pid-file) and the installed configuration adapted to a
#             veth in a namespace made for the test, under a NOTIFY_SOCKET this test listens
#             on (systemd need not be PID 1): READY=1 arrives, then `ingressctl wait-ready`
#             and the pid file agree; it runs as the user ingressd with CAP_NET_ADMIN alone
#             and seccomp filters (the packaged configuration's privileges); the installed ingress-sink receives every datagram the
#             installed ingress-pktgen sends; SIGHUP gives RELOADING=1 then READY=1; SIGTERM
#             gives STOPPING=1 and a clean exit;
#   purge     apt purge: not one of the packages' files, nor /etc/ingressd, /run/ingressd,
#             nor the user or group ingressd is left.
#   check-debian-packages.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
[[ $work == */debian-pkg ]] || { echo "check-debian-packages: WORK_DIR must end in /debian-pkg (it is removed first)" >&2; exit 2; }
source "$src/tools/veth-pair.sh"
mac_a=02:00:5e:00:de:21 mac_b=02:00:5e:00:de:22
pkgs=(ingressd ingress-tools libingress-dev libingress0)
fail() { echo "check-debian-packages: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (apt install, namespaces, XDP)"
for p in "${pkgs[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
        fail "$p is already installed: this test installs and purges it (apt purge ${pkgs[*]})"
    fi
done
getent passwd ingressd > /dev/null && fail "a user ingressd exists already: the purge check needs it absent"

tmp=$(mktemp -d /tmp/check-debian-packages.XXXXXX)
chmod 755 "$tmp"
cleanup() {
    [ -n "${sink:-}" ] && kill -9 "$sink" 2>/dev/null || true
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
    [ -n "${listener:-}" ] && kill "$listener" 2>/dev/null || true
    [ -n "${ns_a:-}" ] && veth_pair_remove
    if [ -n "${installed:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${pkgs[@]}" > /dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- build ---
if [ -n "${INGRESS_DEBS:-}" ]; then
    debs=$(cd "$INGRESS_DEBS" && pwd)
else
    rm -rf "$work"
    mkdir -p "$work/src"
    work=$(cd "$work" && pwd)
    # The tree without build directories or version control: what dpkg-source would take.
    tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude='./.git' \
        --exclude='./debian/tmp' --exclude='./debian/.debhelper' -cf - . | tar -C "$work/src" -xf -
    start=$(date +%s)
    (cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
        dpkg-buildpackage -b -us -uc -Pnocheck > "$work/build.log" 2>&1) \
        || { tail -50 "$work/build.log" >&2; fail "dpkg-buildpackage failed"; }
    echo "dpkg-buildpackage: $(( $(date +%s) - start )) s"
    debs=$work
    lintian --fail-on error "$debs"/ingress_*.changes > "$tmp/lintian" 2>&1 \
        || { cat "$tmp/lintian" >&2; fail "lintian found errors"; }
    echo "lintian: $(grep -c '^[EWIP]:' "$tmp/lintian" || true) finding(s), no error"
    sed 's/^/  /' "$tmp/lintian"
fi
for p in "${pkgs[@]}"; do
    ls "$debs/${p}"_*.deb > /dev/null 2>&1 || fail "no ${p}_*.deb in $debs"
done

# --- install ---
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$debs"/{ingressd,ingress-tools,libingress0,libingress-dev}_*.deb \
    > "$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; fail "apt install failed"; }
for p in "${pkgs[@]}"; do dpkg -L "$p"; done | sort -u > "$tmp/files"
getent passwd ingressd > /dev/null || fail "postinst did not create the system user ingressd"
getent group ingressd > /dev/null || fail "postinst did not create the group ingressd"
unit=/lib/systemd/system/ingressd.service
[ -f "$unit" ] || fail "no $unit"
grep -qx 'Type=notify' "$unit" || fail "$unit is not Type=notify"
for f in /usr/sbin/ingressd /usr/bin/ingressctl /usr/bin/ingress-sink /usr/bin/ingress-pktgen \
         /etc/ingressd/ingressd.yaml /usr/share/man/man8/ingressd.8.gz /usr/share/man/man5/ingressd.yaml.5.gz \
         /usr/share/man/man3/libingress.3.gz /usr/include/ingress/ingress.h; do
    [ -e "$f" ] || fail "$f is not installed"
done
ls /usr/lib/*/ingress/ingress.bpf.o > /dev/null || fail "the XDP object is not installed"
ls /usr/lib/*/ingress/ingress_hwts.bpf.o > /dev/null || fail "the device-bound XDP object is not installed"
pkg-config --exists libingress || fail "pkg-config does not find libingress"

# --- run: the unit's command lines, the installed configuration on a veth ---
veth_pair ingdeb $mac_a $mac_b
# The installed configuration follows the host (host: kernel): the address is configured as
# an operator would, with ip.
ip -n "$ns_a" addr add 198.18.0.1/24 dev "$if_a"
sed -e "s|^  - name: .*|  - name: $if_a|" -e "s|^  socket: .*|  socket: $tmp/ctl.sock|" \
    -e "s|^  mode: .*|  mode: 0666|" /etc/ingressd/ingressd.yaml > "$tmp/ingressd.yaml"
grep -q "name: $if_a" "$tmp/ingressd.yaml" || fail "could not adapt the installed configuration"
exec_line() {  # the unit's KEY= command line, with the configuration path replaced
    local l
    l=$(sed -n "s/^$1=//p" "$unit")
    [ -n "$l" ] || fail "no $1 in $unit"
    echo "${l//\/etc\/ingressd\/ingressd.yaml/$tmp/ingressd.yaml}"
}
read -ra pre <<< "$(exec_line ExecStartPre)"
read -ra start_cmd <<< "$(exec_line ExecStart)"
ip netns exec "$ns_a" "${pre[@]}" > "$tmp/check" 2>&1 || { cat "$tmp/check" >&2; fail "ExecStartPre failed"; }

# The service manager's side of sd_notify: a datagram socket that logs every message.
python3 "$src/tests/notify-listener.py" "$tmp/notify.sock" "$tmp/notify.log" &
listener=$!
for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
# As systemd's /run/systemd/notify: writable by the service after it drops to its user.
chmod 666 "$tmp/notify.sock"
mkdir -p /run/ingressd  # RuntimeDirectory=, which systemd would create
# The packaged configuration drops to the user ingressd after setup: the pid file goes where
# that user may remove it at exit.
install -d -o ingressd -g ingressd "$tmp/run"
NOTIFY_SOCKET=$tmp/notify.sock ip netns exec "$ns_a" "${start_cmd[@]}" --pid-file "$tmp/run/ingressd.pid" \
    > "$tmp/out" 2> "$tmp/log" &
pid=$!
wait_for() {  # PATTERN FILE WHAT
    for _ in $(seq 100); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
    cat "$tmp/log" >&2; fail "$3"
}
wait_for '^READY=1' "$tmp/notify.log" "no READY=1 on NOTIFY_SOCKET"
grep -q '^STATUS=1 worker(s) up' "$tmp/notify.log" || fail "no STATUS= with READY=1"
/usr/bin/ingressctl --socket "$tmp/ctl.sock" wait-ready --timeout 10 || fail "ingressctl wait-ready failed after READY=1"
[ "$(cat "$tmp/run/ingressd.pid")" = "$pid" ] || fail "the pid file does not hold ingressd's pid"
echo "ready: READY=1 on NOTIFY_SOCKET, ingressctl wait-ready, pid file"
# Least privilege (docs/security.md): the user ingressd, CAP_NET_ADMIN (and CAP_SYS_ADMIN
# when libxdp's dispatcher holds the program: this test runs without the unit's bounding
# set), seccomp filters.
[ "$(awk '/^Uid:/ {print $2}' /proc/$pid/status)" = "$(id -u ingressd)" ] || fail "ingressd does not run as the user ingressd"
case $(awk '/^CapEff:/ {print $2}' /proc/$pid/status) in
0000000000001000) ;;
0000000000201000) grep -q "attached alone" "$tmp/log" && fail "CAP_SYS_ADMIN kept with no dispatcher" ;;
*) fail "CapEff $(awk '/^CapEff:/ {print $2}' /proc/$pid/status), not CAP_NET_ADMIN" ;;
esac
[ "$(awk '/^Seccomp:/ {print $2}' /proc/$pid/status)" = 2 ] || fail "no seccomp filter"
grep -q "^ingressd: privileges: running as ingressd:ingressd" "$tmp/log" || fail "no privileges line"
echo "privileges: user ingressd, CapEff CAP_NET_ADMIN, Seccomp 2"

/usr/bin/ingress-sink --rcvbuf 67108864 --socket "$tmp/ctl.sock" --udp 0.0.0.0:5000 --packets 1000 --duration 30 --json \
    > "$tmp/sink" 2> "$tmp/sink.err" &
sink=$!
wait_for "endpoint .* open" "$tmp/sink.err" "the installed ingress-sink did not attach"
ip netns exec "$ns_b" /usr/bin/ingress-pktgen --dev "$if_b" --src-mac $mac_b --dst-mac $mac_a \
    --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 --count 1000 --rate 20k > "$tmp/gen" 2>&1 \
    || { cat "$tmp/gen" >&2; fail "the installed ingress-pktgen failed"; }
wait "$sink" || { cat "$tmp/sink.err" >&2; fail "ingress-sink failed"; }
sink=
grep -q '"received":1000,' "$tmp/sink" || { cat "$tmp/sink" "$tmp/log" >&2; fail "not every datagram was delivered"; }
echo "delivery: 1000 of 1000 datagrams to the installed ingress-sink"

kill -HUP "$pid"
wait_for '^RELOADING=1' "$tmp/notify.log" "no RELOADING=1 on SIGHUP"
wait_for "reloaded $tmp/ingressd.yaml" "$tmp/log" "SIGHUP did not reload"
[ "$(grep -c '^READY=1' "$tmp/notify.log")" -ge 2 ] || fail "no READY=1 after the reload"
awk '/^RELOADING=1/ {r = NR} /^READY=1/ && r {ok = 1} END {exit !ok}' "$tmp/notify.log" \
    || fail "READY=1 did not follow RELOADING=1"
kill -TERM "$pid"
wait "$pid" || { cat "$tmp/log" >&2; fail "ingressd exited with $?"; }
pid=
grep -q '^STOPPING=1' "$tmp/notify.log" || fail "no STOPPING=1 on SIGTERM"
[ ! -e "$tmp/run/ingressd.pid" ] || fail "the pid file was left behind"
echo "reload and stop: RELOADING=1, READY=1, STOPPING=1"

# --- purge: nothing left behind ---
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${pkgs[@]}" > "$tmp/purge.log" 2>&1 \
    || { cat "$tmp/purge.log" >&2; fail "apt purge failed"; }
installed=
left=0
while read -r f; do
    [ -d "$f" ] && continue  # shared directories (/usr/bin ...) stay
    if [ -e "$f" ] || [ -L "$f" ]; then echo "left behind: $f" >&2; left=1; fi
done < "$tmp/files"
for d in /etc/ingressd /run/ingressd /usr/include/ingress /usr/share/doc/ingressd $(ls -d /usr/lib/*/ingress 2>/dev/null); do
    if [ -e "$d" ]; then echo "left behind: $d" >&2; left=1; fi
done
getent passwd ingressd > /dev/null && { echo "left behind: user ingressd" >&2; left=1; }
getent group ingressd > /dev/null && { echo "left behind: group ingressd" >&2; left=1; }
[ "$left" -eq 0 ] || fail "purge left files or the user behind"
echo "purge: $(wc -l < "$tmp/files") packaged paths, the user and group gone"
