#!/bin/sh
# Regenerates the test capture and compares it, byte for byte, with the shipped one.
# If this fails after a change to tools/make_test_pcap.cc, refresh the shipped file with
#   build/tools/make-test-pcap tests/data/rcv_core.pcap
#   build/tools/make-test-pcap --route tests/data/route.pcap
# and update the hand-written expectations in tests/unit/worker/replay_test.cc.
#   build/tools/make-test-pcap --defrag tests/data/defrag.pcap
# Usage: check-test-pcap.sh GENERATOR SHIPPED [GENERATOR OPTIONS...]
set -eu
gen=$1 shipped=$2
shift 2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$gen" "$@" "$tmp"
if ! cmp -s "$tmp" "$shipped"; then
    echo "$shipped is out of date with tools/make_test_pcap.cc" >&2
    exit 1
fi
