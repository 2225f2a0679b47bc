#!/usr/bin/env bash
# Starts or stops a Nisshi broker on a free loopback port (never on all interfaces).
#
#   scripts/broker.sh start [--sqlite FILE]   prints BOOTSTRAP=127.0.0.1:PORT, PID=... and LOG=...
#                                             (in-memory storage unless --sqlite: data in FILE
#                                             survives a restart, and topics can be compacted)
#   scripts/broker.sh stop PID                stops the broker with that PID
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

find_nisshi() {
    if [ -n "${NISSHI_BIN:-}" ]; then echo "$NISSHI_BIN"; return; fi
    command -v nisshi 2>/dev/null && return
    echo "${CARGO_HOME:-$HOME/.cargo}/bin/nisshi"
}

# A port of 127.0.0.1 that is free now: asked from the kernel when python3 is there, else a
# random high port nothing listens on.
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

start() {
    local storage="memory://nisshi/" workdir="."
    while [ $# -gt 0 ]; do
        case "$1" in
            # Nisshi opens the file relative to its working directory: run it in the file's.
            --sqlite)
                [ $# -ge 2 ] || usage
                workdir="$(dirname "$(realpath -m "$2")")"
                storage="sqlite:///$(basename "$2")?maintenance_interval=2s"
                mkdir -p "$workdir"
                shift 2 ;;
            *) usage ;;
        esac
    done
    local bin; bin="$(find_nisshi)"
    [ -x "$bin" ] || { echo "nisshi not found; run scripts/install-broker.sh" >&2; exit 1; }
    bin="$(realpath "$bin")"
    local port; port="$(free_port)"
    local url="tcp://127.0.0.1:$port"
    local log; log="$(mktemp -t "nisshi-$port.XXXXXX.log")"
    (cd "$workdir" && exec nohup "$bin" broker --listener-url "$url" --advertised-listener-url "$url" \
        --storage-engine "$storage" --group-initial-rebalance-delay 0s >"$log" 2>&1 </dev/null) &
    local pid=$!
    for _ in $(seq 1 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "nisshi exited; its log ($log):" >&2; tail -n 20 "$log" >&2; exit 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "BOOTSTRAP=127.0.0.1:$port"
            echo "PID=$pid"
            echo "LOG=$log"
            return
        fi
        sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    echo "nisshi did not listen on 127.0.0.1:$port within 30 s; its log ($log):" >&2
    tail -n 20 "$log" >&2
    exit 1
}

stop() {
    [ $# -eq 1 ] || usage
    local pid="$1"
    case "$(ps -o comm= -p "$pid" 2>/dev/null || true)" in
        nisshi*) ;;
        "") echo "no process $pid" >&2; exit 1 ;;
        *) echo "process $pid is not nisshi" >&2; exit 1 ;;
    esac
    kill "$pid"
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) usage ;;
esac
