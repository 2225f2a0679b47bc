#!/usr/bin/env bash
# The performance benchmark (docs/performance.md): installs Apache Kafka's jars if missing,
# builds the Kafka Streams program (benches/kafka-streams), then runs `cargo bench --bench perf`
# with the flags given here, e.g.
#
#   benches/perf.sh                          # W1 unkeyed and keyed (2 M readings), W2 (1 M sensors)
#   benches/perf.sh --quick                  # small workloads, a few minutes
#   benches/perf.sh --workloads W1-keyed --systems a,b,c --runs 3
#
# Without Maven or a JDK, Kafka Streams (d) is left out and said so.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/install-broker.sh >/dev/null
if command -v mvn >/dev/null && java -version >/dev/null 2>&1; then
    mvn -q -B -f benches/kafka-streams/pom.xml package dependency:copy-dependencies -DincludeScope=runtime
else
    echo "no Maven or JDK: Kafka Streams is left out" >&2
fi
exec cargo bench --bench perf -- "$@"
