#!/bin/bash
# Runs every libFuzzer target for SECONDS (default 45) on a scratch copy of its seed corpus:
# the files kept in tests/fuzz/corpus/NAME plus the FrameBuilder seeds fuzz_make_seeds
# writes, so new inputs never land in the tree. JOBS targets run at once (default: one per
# core), each on one core. Fails on the first crash, leak, timeout or sanitizer report
# (UBSan halts too); the reproducer is kept and named.
#   run-all.sh BUILD_FUZZ_DIR [SECONDS]     (CI: 30 s each; a long run: 3600)
# Reproduce a finding: BUILD_FUZZ_DIR/tests/fuzz/fuzz_NAME REPRODUCER
set -eu
build=$(cd "$1" && pwd)
secs=${2:-45}
jobs=${JOBS:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$build/tests/fuzz/fuzz_make_seeds" "$scratch"

# One target: its verdict on stdout, its log's tail and the reproducer's place on stderr.
run_one() {
    local t=$1
    mkdir -p "$scratch/$t"
    if [ -d "$here/corpus/$t" ]; then cp "$here/corpus/$t"/* "$scratch/$t/"; fi
    if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
            -artifact_prefix="$scratch/$t-" "$scratch/$t" > "$scratch/$t.log" 2>&1; then
        tail -40 "$scratch/$t.log" >&2
        echo "fuzz: $t FAILED; reproducer and log in $scratch" >&2
        return 1
    fi
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$scratch/$t.log" | awk '{print $2}') inputs in ${secs}s, no finding"
}

failed=0
running=()
for t in wire_views rcv_core route defrag demux pipeline ctl_protocol ctl_server config; do
    run_one "$t" &
    running+=("$!")
    if [ "${#running[@]}" -ge "$jobs" ]; then
        wait "${running[0]}" || failed=1
        running=("${running[@]:1}")
    fi
done
for p in "${running[@]}"; do wait "$p" || failed=1; done
if [ "$failed" -ne 0 ]; then exit 1; fi
rm -rf "$scratch"
