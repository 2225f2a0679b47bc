#!/usr/bin/env bash
# The README's main command: the windowed temperature-average pipeline. With no arguments it
# runs on an embedded Kafka-protocol cluster inside the process (simulator, application,
# viewer); pass --bootstrap-servers HOST:PORT to run against a real cluster. Other flags:
# scripts/run-pipeline.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
scripts/install-deps.sh
exec cargo run --quiet --example temperature_averages -- "$@"
