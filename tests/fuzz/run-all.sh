#!/bin/sh
# Runs every libFuzzer target for SECONDS (default 20) on a scratch copy of its seed corpus
# (tests/fuzz/corpus/NAME), so new inputs never land in the tree. Fails on the first crash,
# leak, timeout or sanitizer report; the reproducer is kept and named.
#   run-all.sh BUILD_FUZZ_DIR [SECONDS]
set -eu
build=$(cd "$1" && pwd)
secs=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
for t in pipeline ctl_protocol config; do
    mkdir -p "$scratch/$t"
    cp "$here/corpus/$t"/* "$scratch/$t/"
    if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
            -artifact_prefix="$scratch/$t-" "$scratch/$t" > "$scratch/$t.log" 2>&1; then
        tail -40 "$scratch/$t.log" >&2
        echo "fuzz: $t FAILED; reproducer and log in $scratch" >&2
        exit 1
    fi
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$scratch/$t.log" | awk '{print $2}') inputs in ${secs}s, no finding"
done
rm -rf "$scratch"
