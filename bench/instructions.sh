#!/bin/bash
# Instructions per datagram in the worker's pipeline, counted by valgrind's callgrind: the
# instructions executed inside Pipeline::process (collection toggled on for that function
# only, so the benchmark's own loop and the apps' reads are left out), divided by the
# datagrams it processed (its calls x 64). A count, not a time: the same on a quiet machine
# and a loaded one, and without a PMU, so two builds compare exactly where their timings on
# a shared VM are lost in the noise. It says nothing of cache misses or stalls: read it next
# to bench_pipeline's times (README "Pipeline").
#
#   bench/instructions.sh BENCH_PIPELINE [BENCH_PIPELINE ...]
#   env: ENDPOINTS (default "1 512"), CASE (default BM_PipelineUdpUnicast)
#
# For example, a build of the previous commit against this one:
#   bench/instructions.sh ../base/build/bench/bench_pipeline build/bench/bench_pipeline
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
command -v valgrind >/dev/null ||
    { echo "instructions.sh: needs valgrind (tools/install-deps installs it)" >&2; exit 1; }
ENDPOINTS=${ENDPOINTS:-"1 512"} CASE=${CASE:-BM_PipelineUdpUnicast}
out=$(mktemp -d /tmp/ingress-instr.XXXXXX)
trap 'rm -rf "$out"' EXIT

# Instructions collected and Pipeline::process's calls, from a callgrind output file.
per_datagram() {
    python3 - "$1" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().split('\n')
fid = None
for l in lines:
    m = re.match(r'c?fn=\((\d+)\) ingress::worker::Pipeline::process\(ingress::core::PacketBatch', l)
    if m:
        fid = m.group(1)
        break
calls = sum(int(lines[i + 1].split()[0][len('calls='):])
            for i, l in enumerate(lines)
            if fid and l.startswith('cfn=(%s)' % fid) and i + 1 < len(lines)
            and lines[i + 1].startswith('calls='))
total = next(int(l.split()[1]) for l in lines if l.startswith(('totals:', 'summary:')))
if calls == 0:
    sys.exit('no call of Pipeline::process was recorded')
print('%d %d %.1f' % (total, calls, total / (calls * 64)))
EOF
}

printf '%-10s %-48s %14s %8s %12s\n' endpoints binary instructions bursts per-datagram
for n in $ENDPOINTS; do
    for b in "$@"; do
        f="$out/cg.$n.$(echo "$b" | tr / _)"
        valgrind --tool=callgrind --callgrind-out-file="$f" \
            --toggle-collect='*Pipeline::process(*' "$b" \
            --benchmark_filter="^$CASE/endpoints:$n/" --benchmark_min_time=0.05 >/dev/null 2>&1 ||
            { echo "instructions.sh: $b failed under valgrind" >&2; exit 1; }
        read -r total calls per < <(per_datagram "$f")
        printf '%-10s %-48s %14s %8s %12s\n' "$n" "$b" "$total" "$calls" "$per"
    done
done
