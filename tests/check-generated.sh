#!/bin/sh
# A generated file in the tree is exactly what its generator prints today.
#   check-generated.sh GENERATOR FILE
set -eu
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$1" > "$tmp"
if ! cmp -s "$tmp" "$2"; then
    echo "$2 is out of date: regenerate it with: $1 > $2" >&2
    diff -u "$2" "$tmp" >&2 || true
    exit 1
fi
