#!/bin/sh
# Runs every libFuzzer target for SECONDS (default 45) on a scratch copy of its seed corpus:
# the files kept in tests/fuzz/corpus/NAME plus the FrameBuilder seeds fuzz_make_seeds
# writes, so new inputs never land in the tree. Fails on the first crash, leak, timeout or
# sanitizer report (UBSan halts too); the reproducer is kept and named.
#   run-all.sh BUILD_FUZZ_DIR [SECONDS]     (CI: 45 s each; a long run: 3600)
# Reproduce a finding: BUILD_FUZZ_DIR/tests/fuzz/fuzz_NAME REPRODUCER
set -eu
build=$(cd "$1" && pwd)
secs=${2:-45}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$build/tests/fuzz/fuzz_make_seeds" "$scratch"
for t in wire_views rcv_core route defrag demux pipeline ctl_protocol ctl_server config; do
    mkdir -p "$scratch/$t"
    if [ -d "$here/corpus/$t" ]; then cp "$here/corpus/$t"/* "$scratch/$t/"; fi
    if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
            -artifact_prefix="$scratch/$t-" "$scratch/$t" > "$scratch/$t.log" 2>&1; then
        tail -40 "$scratch/$t.log" >&2
        echo "fuzz: $t FAILED; reproducer and log in $scratch" >&2
        exit 1
    fi
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$scratch/$t.log" | awk '{print $2}') inputs in ${secs}s, no finding"
done
rm -rf "$scratch"
