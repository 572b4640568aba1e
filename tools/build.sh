# Sourced by tools/demo and tools/test: configure (once) and build a meson build directory.
#   build_dir DIR [meson setup options...] [-- ninja targets...]   (no targets: all)
build_dir() {
    local dir=$1
    shift
    local setup=() targets=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do setup+=("$1"); shift; done
    if [ $# -gt 0 ]; then shift; targets=("$@"); fi
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "${setup[@]}"
    fi
    ninja -C "$dir" "${targets[@]}"
}
