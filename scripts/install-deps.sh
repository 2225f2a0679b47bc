#!/usr/bin/env bash
# Installs the system packages the build needs when they are missing: libclang for
# librocksdb-sys' bindgen (Debian `libclang-dev`). librdkafka is built from the rdkafka
# crate's bundled sources, so no system librdkafka is used.
#
# "Present" means what bindgen itself loads at build time (clang-sys, runtime loading): a file
# named libclang.so, libclang.so.N or libclang-N.so* in the directories it searches, that loads
# and exports clang_createIndex. Debian's default libclang-cpp.so.N is another library and
# does not count.
set -euo pipefail

# Whether $1 is a loadable libclang.
is_libclang() {
    if command -v python3 >/dev/null; then
        python3 -c 'import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); lib.clang_createIndex; lib.clang_getClangVersion' "$1" 2>/dev/null
    else
        nm -D --defined-only "$1" 2>/dev/null | grep -q ' clang_createIndex$'
    fi
}

# Whether a libclang is in one of the directories given, or those bindgen searches.
have_libclang() {
    local dirs=("$@") d f
    if [ ${#dirs[@]} -eq 0 ]; then
        [ -n "${LIBCLANG_PATH:-}" ] && dirs+=("$LIBCLANG_PATH")
        command -v llvm-config >/dev/null && dirs+=("$(llvm-config --libdir)")
        dirs+=(/usr/lib/llvm-*/lib /usr/local/llvm*/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/lib /usr/lib)
    fi
    for d in "${dirs[@]}"; do
        for f in "$d"/libclang.so "$d"/libclang.so.* "$d"/libclang-[0-9]*.so*; do
            [ -f "$f" ] && is_libclang "$f" && return 0
        done
    done
    return 1
}

# `install-deps.sh --check DIR...`: only tell whether those directories hold a libclang.
if [ "${1:-}" = "--check" ]; then
    shift
    have_libclang "$@"
    exit
fi

if ! have_libclang; then
    echo "installing libclang-dev (bindgen needs libclang to build librocksdb-sys)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang-dev >/dev/null
    have_libclang || { echo "libclang-dev was installed but no loadable libclang was found" >&2; exit 1; }
fi
