#!/bin/sh
# The README shows the examples verbatim, and they build with nothing but
# `pkg-config --cflags --libs libingress` against an installed libingress.
# usage: check-pkgconfig-examples.sh SOURCE_ROOT BUILD_ROOT
set -eu
src=$1
build=$2
python3 - "$src" <<'PY'
import sys
root = sys.argv[1]
readme = open(root + '/README.md').read()
for f in ('examples/udp_receiver.cc', 'examples/udp_receiver.c'):
    if open(root + '/' + f).read() not in readme:
        sys.exit(f + ' is not shown verbatim in README.md')
PY
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
pc=$(dirname "$(find "$dest" -name libingress.pc | head -1)")
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$dest"
c++ -std=c++20 -Wall -Wextra -Werror "$src/examples/udp_receiver.cc" \
    $(pkg-config --cflags --libs libingress) -o "$dest/ex_cxx"
cc -Wall -Wextra -Werror "$src/examples/udp_receiver.c" \
    $(pkg-config --cflags --libs libingress) -o "$dest/ex_c"
lib=$(find "$dest" -name libingress.so | head -1)
# A sanitized libingress needs the sanitizer runtime loaded first: built is all we can check.
if readelf -d "$lib" | grep -q 'libasan'; then
    echo "ok (built; not run: sanitized library)"
    exit 0
fi
# Linked against the installed library: a missing daemon is a clear error, exit 2.
set +e
LD_LIBRARY_PATH="$(dirname "$lib")" "$dest/ex_c" "$dest/none.sock" 5000 1 2>/dev/null
rc=$?
set -e
[ "$rc" = 2 ] || { echo "C example exited $rc, expected 2 (no daemon)"; exit 1; }
echo ok
