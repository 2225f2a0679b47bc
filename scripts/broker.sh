#!/usr/bin/env bash
# Starts or stops one Apache Kafka node (KRaft, broker and controller in one process) on free
# ports of one address (127.0.0.1 unless --host), the broker the tests and benchmarks use.
#
#   scripts/broker.sh start [--data DIR] [--heap SIZE] [--host ADDR]
#       formats DIR (default: a new temporary directory) unless it holds a node already, then
#       starts the node and waits until it listens; prints BOOTSTRAP=ADDR:PORT, PID=..., LOG=...
#       and DATA=DIR. Starting again on the same DIR keeps its topics and its ports.
#       --heap: JVM heap (default 512m). --host: the address to bind and advertise.
#   scripts/broker.sh stop PID
#       stops the node with that PID (SIGTERM, SIGKILL after 30 s).
#
# Installs Kafka first when it is missing (scripts/install-broker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# A port of $host that is free now, asked from the kernel.
free_port() {
    python3 -c 'import socket,sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1]); s.close()' "$1"
}

start() {
    local data="" heap="512m" host="127.0.0.1"
    while [ $# -gt 0 ]; do
        case "$1" in
            --data) [ $# -ge 2 ] || usage; data="$2"; shift 2 ;;
            --heap) [ $# -ge 2 ] || usage; heap="$2"; shift 2 ;;
            --host) [ $# -ge 2 ] || usage; host="$2"; shift 2 ;;
            *) usage ;;
        esac
    done
    local home; home="$(scripts/install-broker.sh)"
    [ -n "$data" ] || data="$(mktemp -d -t kstreams-kafka.XXXXXX)"
    mkdir -p "$data"
    data="$(realpath "$data")"
    local props="$data/server.properties"
    if [ ! -f "$props" ]; then
        local port cport
        port="$(free_port "$host")"
        cport="$(free_port "$host")"
        while [ "$cport" = "$port" ]; do cport="$(free_port "$host")"; done
        {
            cat scripts/kafka/server.properties
            echo "listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$cport"
            echo "advertised.listeners=PLAINTEXT://$host:$port"
            echo "controller.quorum.voters=1@$host:$cport"
            echo "log.dirs=$data/logs"
        } >"$props"
    fi
    local port; port="$(sed -n 's#^advertised.listeners=PLAINTEXT://.*:\([0-9]*\)$#\1#p' "$props")"
    host="$(sed -n 's#^advertised.listeners=PLAINTEXT://\(.*\):[0-9]*$#\1#p' "$props")"
    local cp="$home/libs/*"
    if [ ! -f "$data/logs/meta.properties" ]; then
        # A fixed cluster id: every node started here is a cluster of its own.
        java -Xshare:auto -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$PWD/scripts/kafka/log4j2.properties" \
            -Dkafka.logs.dir="$data" -cp "$cp" kafka.tools.StorageTool format \
            -t a3N0cmVhbXMtdGVzdC0wMQ -c "$props" >"$data/format.log" 2>&1 ||
            { echo "formatting $data failed:" >&2; cat "$data/format.log" >&2; exit 1; }
    fi
    local log="$data/server.log"
    nohup java "-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$PWD/scripts/kafka/log4j2.properties" -Dkafka.logs.dir="$data" \
        -cp "$cp" kafka.Kafka "$props" >"$data/stdout.log" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "kafka exited; its log ($log):" >&2; tail -n 30 "$log" "$data/stdout.log" >&2 || true; exit 1
        fi
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            echo "BOOTSTRAP=$host:$port"
            echo "PID=$pid"
            echo "LOG=$log"
            echo "DATA=$data"
            return
        fi
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "kafka did not listen on $host:$port within 30 s; its log ($log):" >&2
    tail -n 30 "$log" >&2 || true
    exit 1
}

stop() {
    [ $# -eq 1 ] || usage
    local pid="$1"
    [ -r "/proc/$pid/cmdline" ] || { echo "no process $pid" >&2; exit 1; }
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || { echo "process $pid is not a Kafka node" >&2; exit 1; }
    kill "$pid"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) usage ;;
esac
