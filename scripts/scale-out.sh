#!/usr/bin/env bash
# Starts N instances of temperature_averages with one application id against a cluster, so
# they split the input partitions between them through the consumer group.
#
#   scripts/scale-out.sh N --bootstrap-servers HOST:PORT [script flags] [application flags]
#
# Script flags:
#   --state-root DIR         instance i keeps its state in DIR/instance-i and logs to
#                            DIR/instance-i.log (default: ./scale-out)
#   --metrics-port-base P    instance i serves /metrics and queries on 127.0.0.1:(P+i-1)
#                            (and announces that address to the others, for redirects)
# Every other flag goes to each instance unchanged (--application-id, --threads,
# --processing-guarantee, --input-topic, --db, ...; see `temperature_averages --help`);
# --state-dir, --metrics-addr and --application-server are set per instance by this script.
#
# It prints each instance's PID and log file, then waits; Ctrl-C (or SIGTERM) stops the
# instances it started, by PID, with SIGTERM (each closes cleanly: final commit, checkpoints,
# leaving the group) and waits for them to close. (Started with `&` from a script, bash
# ignores SIGINT in it: stop it with `kill -TERM`.) When an instance exits on its own the
# others keep running (the group gives them its partitions).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

[[ $# -ge 1 ]] || usage
[[ $1 == -h || $1 == --help ]] && usage 0
N=$1
shift
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "scale-out: N must be a positive integer, got '$N'" >&2; exit 2; }

STATE_ROOT=./scale-out
PORT_BASE=
APP_ARGS=()
HAVE_SERVERS=
while [[ $# -gt 0 ]]; do
    case $1 in
        --state-root) STATE_ROOT=${2:?--state-root needs a directory}; shift 2 ;;
        --state-root=*) STATE_ROOT=${1#*=}; shift ;;
        --metrics-port-base) PORT_BASE=${2:?--metrics-port-base needs a port}; shift 2 ;;
        --metrics-port-base=*) PORT_BASE=${1#*=}; shift ;;
        --state-dir|--state-dir=*|--metrics-addr|--metrics-addr=*|--application-server|--application-server=*)
            echo "scale-out: $1 is set per instance; use --state-root / --metrics-port-base" >&2
            exit 2 ;;
        --bootstrap-servers|--bootstrap-servers=*) HAVE_SERVERS=1; APP_ARGS+=("$1"); shift ;;
        -h|--help) usage 0 ;;
        *) APP_ARGS+=("$1"); shift ;;
    esac
done
[[ -n $HAVE_SERVERS ]] || {
    echo "scale-out: --bootstrap-servers is required (without it each instance would run its own embedded cluster)" >&2
    exit 2
}
if [[ -n $PORT_BASE ]] && ! [[ $PORT_BASE =~ ^[0-9]+$ && $((PORT_BASE + N - 1)) -le 65535 ]]; then
    echo "scale-out: --metrics-port-base must be a port such that P+N-1 <= 65535" >&2
    exit 2
fi

# shellcheck source=scripts/env.sh
source scripts/env.sh
scripts/install-deps.sh
cargo build --quiet --features sink,http --example temperature_averages
BIN="$CARGO_TARGET_DIR/debug/examples/temperature_averages"
mkdir -p "$STATE_ROOT"

PIDS=()
stop_all() {
    trap - INT TERM
    echo "stopping ${#PIDS[@]} instances: ${PIDS[*]}"
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    echo "all instances stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

for i in $(seq 1 "$N"); do
    extra=(--state-dir "$STATE_ROOT/instance-$i")
    [[ -n $PORT_BASE ]] && extra+=(--metrics-addr "127.0.0.1:$((PORT_BASE + i - 1))")
    log="$STATE_ROOT/instance-$i.log"
    # setsid: a Ctrl-C in this terminal reaches the script only; it stops the instances itself.
    setsid "$BIN" "${APP_ARGS[@]}" "${extra[@]}" >"$log" 2>&1 &
    PIDS+=($!)
    echo "instance $i: PID $! log $log${PORT_BASE:+ metrics http://127.0.0.1:$((PORT_BASE + i - 1))/metrics}"
done
echo "PIDS=${PIDS[*]}"
echo "Ctrl-C stops them."

# Wait until every instance has exited (or a signal arrives).
for pid in "${PIDS[@]}"; do
    wait "$pid" || echo "instance PID $pid exited with status $?" >&2
done
echo "every instance has exited"
