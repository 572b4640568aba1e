#!/bin/bash
# Every long option that a program's --help prints appears in its man page's scdoc source as
# an option term (*--option*), and the page has an OPTIONS section.
#   check-man-options.sh PROGRAM PAGE.scd [PROGRAM PAGE.scd ...]
set -euo pipefail
status=0
while [ $# -ge 2 ]; do
    prog=$1 page=$2
    shift 2
    help=$("$prog" --help 2>&1) || { echo "$prog --help failed" >&2; status=1; continue; }
    opts=$(grep -oE -- '--[a-z][a-z0-9-]*' <<< "$help" | sort -u)
    [ -n "$opts" ] || { echo "$prog --help printed no long option" >&2; status=1; }
    grep -q '^# OPTIONS' "$page" || { echo "$page: no OPTIONS section" >&2; status=1; }
    missing=0
    for o in $opts; do
        grep -qF -- "*$o*" "$page" || { echo "$page: $o (from $(basename "$prog") --help) is not documented" >&2; missing=1; }
    done
    [ "$missing" -eq 0 ] && echo "$(basename "$page"): all $(wc -w <<< "$opts") long options of --help documented"
    [ "$missing" -eq 0 ] || status=1
done
exit $status
