#!/usr/bin/env bash
# Installs the system packages the build needs when they are missing: libclang for
# librocksdb-sys' bindgen (Debian `libclang-dev`). librdkafka is built from the rdkafka
# crate's bundled sources, so no system librdkafka is used.
set -euo pipefail
have_libclang() {
    ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ldconfig -p 2>/dev/null | grep -q 'libclang.*\.so'
}
if ! have_libclang; then
    echo "installing libclang-dev (needed by librocksdb-sys)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang-dev >/dev/null
fi
