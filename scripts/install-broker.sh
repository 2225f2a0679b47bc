#!/usr/bin/env bash
# Installs the Kafka-protocol broker the integration tests run against, Nisshi (the renamed
# Tansu), at the pinned version, when `nisshi` (on PATH or in cargo's bin directory) is missing
# or another version. It builds from source with cargo: about 20 minutes on 2 cores, once per machine.
# `--ignore-rust-version`: its declared rust-version is newer than what it needs.
set -euo pipefail
VERSION=0.8.1
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
find_nisshi() {
    if [ -n "${NISSHI_BIN:-}" ] && [ -x "$NISSHI_BIN" ]; then echo "$NISSHI_BIN"; return; fi
    command -v nisshi 2>/dev/null && return
    if [ -x "$CARGO_BIN/nisshi" ]; then echo "$CARGO_BIN/nisshi"; fi
}
bin="$(find_nisshi || true)"
if [ -n "$bin" ] && "$bin" --version 2>/dev/null | grep -qF "$VERSION"; then
    exit 0
fi
echo "installing nisshi $VERSION (the test broker; about 20 minutes on 2 cores)" >&2
# cargo install builds in its own temporary directory, not in CARGO_TARGET_DIR.
env -u CARGO_TARGET_DIR cargo install nisshi --version "$VERSION" --locked --ignore-rust-version --quiet
