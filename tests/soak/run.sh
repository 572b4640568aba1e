#!/bin/bash
# The soak test: ingressd on a veth pair under mixed traffic while its apps come and go.
#   tests/soak/run.sh [--build DIR] [--seconds N | --minutes N] [--memif [--scale K]] [--sandbox]
#   (default: build, 150 s, a veth pair with AF_XDP)
# --sandbox: ingressd runs with privileges: {user: nobody, group: nogroup, seccomp: on}
# (docs/security.md): everything below happens after it dropped root, under its filters.
# --memif: the link is DPDK memif instead: ingressd serves a net_memif port (driver dpdk, in
# a namespace of its own for its exception TAP) and ingress-pktgen drives it as the memif
# client through DPDK; the rates are K times the veth ones (default 20), each round lasts
# 5 s (a DPDK generator starts its EAL per round).
# For the whole run, in parallel:
#   - traffic from ingress-pktgen, cycling every 2 s through: valid UDP to five ports with 10 %
#     malformed frames, shuffled 3-fragment datagrams, multicast to 239.1.1.1 and 239.1.1.2
#     (and to ports nobody listens on);
#   - two steady apps (ingress-sink: UDP 0.0.0.0:5000, and 0.0.0.0:5010 joined to 239.1.1.1)
#     that live to the end;
#   - an app on :5001 that is SIGKILLed and restarted every 1-3 s;
#   - apps that open an endpoint on :5002 (or join and leave 239.1.1.2 on :5011) for one
#     second and close it;
#   - an app on :5003 with a 64-slot ring that is SIGSTOPped: it never consumes, its ring
#     overflows (dropped_full), and it is resumed only at the end;
#   - a hostile app every 1-3 s: a privileged port, a raw socket or a tap as nobody, or the
#     steady app's port (refused: EACCES, EPERM, EADDRINUSE, and logged);
#   - a configuration reload (SIGHUP) every 10 s, alternating an added address and knobs.
# At the end (traffic stopped, the survivors drained and closed):
#   - every surviving app received exactly the datagrams its ring's counters say ingressd
#     delivered to it (ingress-sink --json: received == delivered);
#   - ingressd's open fds are exactly back to the baseline taken after the warm-up, and its
#     RSS within 4 MiB of it (allocator caches may keep a few pages);
#   - ingressd's final counters satisfy the conservation identity to the packet
#     (rx = delivered + held + passed + dropped, nothing held).
# Prints a summary line (frames, apps killed, endpoint churn, reloads, leaks) that the
# README's Reliability section quotes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../../build
secs=150
memif=
sandbox=
scale=20
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --seconds) secs=$2; shift 2 ;;
        --minutes) secs=$(($2 * 60)); shift 2 ;;
        --memif) memif=1; shift ;;
        --scale) scale=$2; shift 2 ;;
        --sandbox) sandbox=1; shift ;;
        *) echo "usage: run.sh [--build DIR] [--seconds N | --minutes N] [--memif [--scale K]] [--sandbox]" >&2; exit 2 ;;
    esac
done
build=$(cd "$build" && pwd)
source "$here/../../tools/veth-pair.sh"
mac_a=02:00:5e:00:5a:01 mac_b=02:00:5e:00:5a:02
tmp=$(mktemp -d)
chmod 0711 "$tmp"  # the unprivileged hostile app reaches the control socket
pids=()
cleanup() {
    touch "$tmp/stop"
    for p in "${pids[@]}" ${daemon:-}; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$memif" ]; then
        ip netns del "$ns_a" 2>/dev/null || true
        rm -rf "/var/run/dpdk/soakd$$" "/var/run/dpdk/soakg$$"
    else
        veth_pair_remove
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
if [ -n "$memif" ]; then
    ns_a=soakm$$ if_a=memif0 round=5
    ip netns add "$ns_a"
    msock=$tmp/memif.sock
    port_lines="    driver: dpdk
    device: \"net_memif0,role=server,socket=$msock,socket-abstract=no,mac=$mac_a\""
    dpdk_section="dpdk:
  eal_args: [-l, \"0\", --no-huge, --no-pci, -m, \"256\", --file-prefix, soakd$$, --log-level, \"*:warning\"]
  rx_descriptors: 4096"
    # The generator: ingress-pktgen as the memif client, in ingressd's namespace.
    pktgen() {
        ip netns exec "$ns_a" "$build"/tools/ingress-pktgen --dpdk "-l 0 --no-huge --no-pci -m 512 \
--file-prefix soakg$$ --log-level=warning --vdev net_memif0,role=client,socket=$msock,socket-abstract=no" "$@"
    }
else
    veth_pair soak $mac_a $mac_b
    port_lines= dpdk_section= scale=1 round=2
    pktgen() { ip netns exec "$ns_b" "$build"/tools/ingress-pktgen --dev "$if_b" "$@"; }
fi
rate() { echo "$(($1 * scale))"; }

write_cfg() {  # ADDRESSES RP_FILTER
    {
        echo "interfaces:"
        echo "  - name: $if_a"
        [ -z "$port_lines" ] || echo "$port_lines"
        cat <<EOC
    queues: 1
    addresses: [$1]
    conf: {rp_filter: $2}
$dpdk_section
control:
  socket: $tmp/ctl.sock
  mode: 0666
EOC
        [ -z "$sandbox" ] || printf 'privileges:\n  user: nobody\n  group: nogroup\n  seccomp: on\n'
    } > "$tmp/ingressd.yaml.new"
    mv "$tmp/ingressd.yaml.new" "$tmp/ingressd.yaml"
}
write_cfg 198.18.0.1/24 0
ip netns exec "$ns_a" "$build"/src/ingressd --config "$tmp/ingressd.yaml" > "$tmp/out" 2> "$tmp/log" &
daemon=$!
for _ in $(seq 100); do grep -q "worker(s) up" "$tmp/log" && break; sleep 0.1; done
grep -q "worker(s) up" "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
if [ -n "$sandbox" ]; then
    for t in /proc/$daemon/task/*; do
        [ "$(awk '/^Seccomp:/ {print $2}' "$t/status")" = 2 ] && [ "$(awk '/^Uid:/ {print $2}' "$t/status")" = "$(id -u nobody)" ] \
            || { cat "$tmp/log" >&2; echo "soak: --sandbox: thread $(cat "$t/comm") not nobody under seccomp" >&2; exit 1; }
    done
    echo "soak: sandbox: $(grep '^ingressd: privileges:' "$tmp/log" | cut -d' ' -f3-), Seccomp 2 on $(ls /proc/$daemon/task | wc -l) thread(s)"
fi

sink() {  # NAME ARGS...: an ingress-sink in the background, its JSON in $tmp/NAME.json
    local name=$1; shift
    "$build"/tools/ingress-sink --socket "$tmp/ctl.sock" --json --quiet "$@" \
        > "$tmp/$name.json" 2>> "$tmp/sinks.err" &
}
fds() { ls /proc/"$daemon"/fd | wc -l; }
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/"$daemon"/status; }
# The generator, in 2-second rounds cycling through the mixes until the stop file appears
# (one at a time: the peer's single queue takes one AF_XDP socket).
gen_loop() {
    local mixes=(
        "--dst-mac $mac_a --dst 198.18.0.1 --dport 5000-5004 --malformed 10 --rate $(rate 8000)"
        "--dst-mac $mac_a --dst 198.18.0.1 --dport 5000-5001 --size 1400 --frags 3 --frag-order shuffle --rate $(rate 2000)"
        "--dst-mac 01:00:5e:01:01:01 --dst 239.1.1.1 --dport 5010-5011 --rate $(rate 4000)"
        "--dst-mac 01:00:5e:01:01:02 --dst 239.1.1.2 --dport 5011 --rate $(rate 2000)")
    local i=0
    while [ ! -e "$tmp/stop" ]; do
        # The previous round's AF_XDP socket is released asynchronously: retry while busy.
        local try
        for try in $(seq 50); do
            # shellcheck disable=SC2086
            pktgen --src-mac $mac_b --src 198.18.0.2-198.18.0.9 --duration $round --json ${mixes[i % 4]} \
                >> "$tmp/gen.json" 2> "$tmp/gen.err" && break
            grep -q "Device or resource busy" "$tmp/gen.err" || try=fail
            [ "$try" = fail ] || [ "$try" -eq 50 ] && { echo "soak: ingress-pktgen failed" >&2; cat "$tmp/gen.err" >&2; exit 1; }
            sleep 0.1
        done
        i=$((i + 1))
    done
}

# Warm-up: traffic with an app, then no app; the baseline is taken after it, when every
# lazily allocated structure (rings of the first endpoints, control buffers) has existed once.
sink warm --udp 0.0.0.0:5000 --duration 3
pktgen --src-mac $mac_b --dst-mac $mac_a \
    --src 198.18.0.2 --dst 198.18.0.1 --dport 5000 --rate 5k --count 5000 --json >> "$tmp/gen.json" 2>> "$tmp/gen.err"
wait $!
sleep 2
base_fds=$(fds) base_rss=$(rss_kb)

gen_loop &
gen=$!
pids+=($gen)
sink steady --udp 0.0.0.0:5000; steady=$!
sink mcast --udp 0.0.0.0:5010 --join 239.1.1.1; mcast=$!
sink stalled --udp 0.0.0.0:5003 --ring-slots 64; stalled=$!
pids+=($steady $mcast $stalled)
sleep 1
kill -STOP $stalled

kills=0 churn=0 reloads=0 refused=0 victim=
end=$((SECONDS + secs)) next_reload=$((SECONDS + 10))
while [ $SECONDS -lt $end ]; do
    if [ -n "$victim" ]; then kill -9 "$victim" 2>/dev/null && kills=$((kills + 1)); wait "$victim" 2>/dev/null || true; fi
    sink victim --udp 0.0.0.0:5001; victim=$!
    if [ $((churn % 2)) -eq 0 ]; then sink churn --udp 0.0.0.0:5002 --duration 1
    else sink churn --udp 0.0.0.0:5011 --join 239.1.1.2 --duration 1; fi
    churn=$((churn + 1))
    # A hostile app: a privileged port, a raw socket or a tap as nobody, or the steady app's
    # port without SO_REUSEPORT; each must be refused with the kernel's errno.
    case $((churn % 4)) in
        0) want=13 hostile=(--udp 0.0.0.0:80) ;;   # EACCES
        1) want=1 hostile=(--raw 17) ;;            # EPERM
        2) want=1 hostile=(--tap all) ;;           # EPERM
        3) want=98 hostile=(--udp 0.0.0.0:5000) ;; # EADDRINUSE
    esac
    rc=0
    if [ $want -eq 98 ]; then
        "$build"/tools/ingress-sink --socket "$tmp/ctl.sock" --quiet --duration 1 "${hostile[@]}" 2>/dev/null || rc=$?
    else
        setpriv --reuid=65534 --regid=65534 --clear-groups "$build"/tools/ingress-sink \
            --socket "$tmp/ctl.sock" --quiet --duration 1 "${hostile[@]}" 2>/dev/null || rc=$?
    fi
    [ $rc -eq $want ] || { echo "soak: hostile app ${hostile[*]}: exit $rc, expected $want" >&2; exit 1; }
    refused=$((refused + 1))
    if [ $SECONDS -ge $next_reload ]; then
        if [ $((reloads % 2)) -eq 0 ]; then write_cfg "198.18.0.1/24, 198.18.0.7/32" 2
        else write_cfg 198.18.0.1/24 0; fi
        kill -HUP $daemon
        reloads=$((reloads + 1)) next_reload=$((SECONDS + 10))
    fi
    sleep $((1 + RANDOM % 3))
done
kill -9 "$victim" && kills=$((kills + 1)); wait "$victim" 2>/dev/null || true

# Stop the traffic, let the survivors drain their rings, then close them.
touch "$tmp/stop"
wait $gen || { echo "soak: the generator failed" >&2; exit 1; }
kill -CONT $stalled
sleep 2
kill -INT $steady $mcast $stalled
wait $steady $mcast $stalled
fail=0
for s in steady mcast stalled; do
    j=$(cat "$tmp/$s.json")
    rcv=$(sed -n 's/.*"received":\([0-9]*\).*/\1/p' <<< "$j")
    del=$(sed -n 's/.*"delivered":\([0-9]*\).*/\1/p' <<< "$j")
    full=$(sed -n 's/.*"dropped_full":\([0-9]*\).*/\1/p' <<< "$j")
    echo "soak: app $s received $rcv, ingressd delivered $del, dropped (ring full) $full"
    if [ -z "$rcv" ] || [ "$rcv" != "$del" ] || [ "$rcv" -eq 0 ]; then echo "soak: app $s: received != delivered" >&2; fail=1; fi
done
[ "$(sed -n 's/.*"dropped_full":\([0-9]*\).*/\1/p' "$tmp/stalled.json")" -gt 0 ] \
    || { echo "soak: the stalled app's ring never overflowed" >&2; fail=1; }

# Leaks: endpoint memory is reclaimed after the RCU grace period; give it a moment.
sleep 2
end_fds=$(fds) end_rss=$(rss_kb)
echo "soak: ingressd fds $base_fds -> $end_fds, RSS ${base_rss} kB -> ${end_rss} kB"
leaks=none
[ "$end_fds" -eq "$base_fds" ] || { echo "soak: fd leak" >&2; ls -l /proc/$daemon/fd >&2; leaks=FOUND; }
[ $((end_rss - base_rss)) -le 4096 ] || { echo "soak: RSS grew by more than 4 MiB" >&2; leaks=FOUND; }
[ $leaks = none ] || fail=1
# Every refusal was logged with its cause, at most 10 a second.
logged=$(grep -c "^ingressd: refused " "$tmp/log" || true)
[ "$logged" -ge 1 ] && [ "$logged" -le "$refused" ] || { echo "soak: $logged refusals logged for $refused" >&2; fail=1; }
grep -c reloaded "$tmp/log" | grep -qx "$reloads" || { echo "soak: not every reload applied" >&2; cat "$tmp/log" >&2; fail=1; }

kill -INT $daemon
wait $daemon
daemon=
cons=$(grep "^#conservation" "$tmp/out")
echo "soak: $cons"
echo "soak: $(grep "^#arrived" "$tmp/out")"
grep "^ingressd: backend " "$tmp/log" | sed 's/^/soak: /' || true
conservation=holds
grep -q ": ok$" <<< "$cons" && grep -q "held 0 " <<< "$cons" || { echo "soak: conservation broken" >&2; cat "$tmp/out" >&2; conservation=BROKEN fail=1; }
rx=$(sed -n 's/^#conservation rx \([0-9]*\) .*/\1/p' <<< "$cons")
sent=$(sed -n 's/.*"frames":\([0-9]*\).*/\1/p' "$tmp/gen.json" | awk '{s += $1} END {print s + 0}')
# sent - rx: frames the XDP program left to the kernel (malformed ones too short to show
# their destination, 239.1.1.2 while no app has joined it) or that found the AF_XDP rx ring
# full; ingressd never saw those. On memif: those that found the memif ring full (rx_missed
# in the #arrived line) or were lost as a generator round disconnected.
echo "soak summary: ${secs} s, $sent frames sent, $rx received by ingressd (conservation $conservation, nothing held), $kills apps SIGKILLed and restarted, $churn short-lived endpoints (half joining and leaving a group), $reloads reloads, $refused hostile requests refused, 1 app never consuming, leaks: $leaks (fds $base_fds -> $end_fds, RSS $((base_rss / 1024)) -> $((end_rss / 1024)) MiB)"
exit $fail
