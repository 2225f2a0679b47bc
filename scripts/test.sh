#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): installs what a fresh machine
# lacks (libclang for the RocksDB build; Apache Kafka's jars from Maven Central, for the broker
# the integration tests start, see scripts/install-broker.sh), then checks formatting, lints
# and runs every test (unit, integration, doc) with every feature of the facade on (`sink`,
# `http`), so the tests that need them run too.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
scripts/install-deps.sh
scripts/install-broker.sh >/dev/null

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo test --workspace --all-features --no-fail-fast
