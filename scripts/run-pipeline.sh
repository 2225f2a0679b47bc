#!/usr/bin/env bash
# The README's main command: the windowed temperature-average pipeline. With no arguments it
# runs on an embedded Kafka-protocol cluster inside the process (simulator, application,
# viewer); pass --bootstrap-servers HOST:PORT to run against a real cluster. Other flags:
# scripts/run-pipeline.sh --help. The example needs the facade's `sink` (--db) and `http`
# (--metrics-addr) features.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
scripts/install-deps.sh
exec cargo run --quiet --features sink,http --example temperature_averages -- "$@"
