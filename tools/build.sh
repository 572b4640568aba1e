# Sourced by tools/demo and tools/test: configure (once) and build a meson build directory.
#   build_dir DIR [meson setup options...]
build_dir() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@"
    fi
    ninja -C "$dir"
}
