#!/usr/bin/env bash
# Installs Apache Kafka, the broker the integration tests and benchmarks run against, when the
# pinned version is missing: the jars of `org.apache.kafka:kafka_2.13` and their dependencies,
# from Maven Central through Maven (scripts/kafka/pom.xml), into
#   ${KSTREAMS_CACHE_DIR:-~/.cache/kstreams}/kafka-<version>/libs
# outside the clone. "Installed" means that directory's broker runs and reports the pinned
# version (`kafka.Kafka --version`), not that the directory exists. Measured on a new machine:
# 7 s (45 MB of jars, with an empty Maven repository), once per machine. Needs java and mvn
# (on the machine image).
# Prints the Kafka home directory.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

pom=scripts/kafka/pom.xml
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
[ -n "$version" ] || { echo "no <kafka.version> in $pom" >&2; exit 1; }
home="$KSTREAMS_CACHE_DIR/kafka-$version"

for tool in java mvn; do
    command -v "$tool" >/dev/null || { echo "$tool is needed to install Kafka and is not on PATH" >&2; exit 1; }
done

works() {
    [ -d "$1/libs" ] && [ "$(java -cp "$1/libs/*" kafka.Kafka --version 2>/dev/null | tail -n 1)" = "$version" ]
}

if ! works "$home"; then
    echo "installing Apache Kafka $version from Maven Central into $home" >&2
    started=$(date +%s)
    tmp="$home.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1 ||
        { echo "downloading Kafka's jars with Maven failed:" >&2; cat "$tmp/mvn.log" >&2; exit 1; }
    works "$tmp" || { echo "the downloaded Kafka $version does not start (java -cp '$tmp/libs/*' kafka.Kafka --version)" >&2; exit 1; }
    rm -rf "$home"
    mv "$tmp" "$home"
    trap - EXIT
    echo "installed Apache Kafka $version in $(( $(date +%s) - started )) s" >&2
fi
echo "$home"
