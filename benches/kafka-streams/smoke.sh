#!/usr/bin/env bash
# A short end-to-end check of TemperatureAverages on a running broker: creates fresh topics,
# writes 4 sensors x 24 readings (2 minutes of event time, 5 s apart) plus one closing reading
# per sensor, and checks what the output topic got. Stops the program by closing its stdin.
#
#   benches/kafka-streams/smoke.sh BOOTSTRAP [GUARANTEE [EMIT [KEYED [FLAGS...]]]]
#       GUARANTEE: at_least_once (default) or exactly_once_v2
#       EMIT: final (default; expects 8 windows, count 12 each) or update (runs with
#             --cache-bytes 0 and expects all 100 updates, the last of each window as above)
#       KEYED: false (default: unkeyed readings, as the seed) or true
#       FLAGS: more flags for TemperatureAverages, e.g. --threads 2
#
# Build first (from the repository root):
#   mvn -q -B -f benches/kafka-streams/pom.xml package dependency:copy-dependencies -DincludeScope=runtime
# Start a broker with scripts/broker.sh start, stop it with scripts/broker.sh stop PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bootstrap="$1"
guarantee="${2:-at_least_once}"
emit="${3:-final}"
keyed="${4:-false}"
shift $(($# < 4 ? $# : 4))
cp='benches/kafka-streams/target/classes:benches/kafka-streams/target/dependency/*'
jvm=(java -Xmx256m -XX:TieredStopAtLevel=1 -cp "$cp")
run="smoke-$guarantee-$emit-$keyed-$$-$(date +%s)"
work="$(mktemp -d -t kafka-streams-smoke.XXXXXX)"
input="$run-in"
output="$run-out"
extra=()
[ "$emit" = update ] && extra=(--cache-bytes 0)

mkfifo "$work/stdin"
"${jvm[@]}" dev.kstreams.bench.TemperatureAverages --bootstrap "$bootstrap" \
    --application-id "$run" --input "$input" --output "$output" --create-topics 3 \
    --guarantee "$guarantee" --emit "$emit" --commit-ms 500 --state-dir "$work/state" \
    "${extra[@]}" "$@" <"$work/stdin" >"$work/app.out" 2>"$work/app.err" &
app=$!
exec 3>"$work/stdin" # the program's stdin stays open until fd 3 closes
cleanup() {
    exec 3>&- 2>/dev/null || true
    if kill -0 "$app" 2>/dev/null; then kill "$app" 2>/dev/null || true; fi
}
trap cleanup EXIT

for _ in $(seq 1 600); do
    grep -q '^STATE RUNNING' "$work/app.out" && break
    kill -0 "$app" 2>/dev/null || { echo "the program exited early:" >&2; cat "$work/app.out" "$work/app.err" >&2; exit 1; }
    sleep 0.1
done
grep -q '^STATE RUNNING' "$work/app.out" || { echo "not RUNNING within 60 s" >&2; exit 1; }

"${jvm[@]}" dev.kstreams.bench.ProduceReadings --bootstrap "$bootstrap" --topic "$input" \
    --sensors 4 --readings 24 --keyed "$keyed" --closing-delay-ms 2000
if [ "$emit" = final ]; then want=8; else want=100; fi
"${jvm[@]}" dev.kstreams.bench.ConsumeOutput --bootstrap "$bootstrap" --topic "$output" \
    --max "$want" --idle-ms 20000 >"$work/output.tsv"
sleep 2 # anything beyond the expected records would show up in a second read
"${jvm[@]}" dev.kstreams.bench.ConsumeOutput --bootstrap "$bootstrap" --topic "$output" \
    --idle-ms 3000 >"$work/output.tsv"

exec 3>&- # EOF on the program's stdin: it closes and exits
rc=0
wait "$app" || rc=$?
trap - EXIT
cat "$work/app.out"
echo "exit code $rc"

python3 - "$work/output.tsv" "$emit" <<'EOF'
import json, sys
path, emit = sys.argv[1], sys.argv[2]
rows = [l.rstrip("\n").split("\t", 1) for l in open(path) if l.strip()]
print(f"{len(rows)} output records")
last = {}
for key, value in rows:
    w = json.loads(value)
    assert list(w) == ["sensor_id", "window_start", "window_end", "avg", "count", "min", "max"], w
    assert key == str(w["sensor_id"]), (key, w)
    assert w["window_end"] == w["window_start"] + 60000, w
    last[(w["sensor_id"], w["window_start"])] = w
start = 1764115200000
closing = start + 115000 + 600000  # the closing readings' window
bad = 0
for s in range(1, 5):
    for k in range(2):
        w = last.get((s, start + k * 60000))
        ok = (w is not None and w["count"] == 12 and w["avg"] == 22.75 + s
              and w["min"] == 20.0 + s and w["max"] == 25.5 + s)
        print(("ok  " if ok else "BAD ") + json.dumps(w))
        bad += not ok
want_windows = 8 if emit == "final" else 12
if emit == "update":
    for s in range(1, 5):
        w = last.get((s, closing - closing % 60000))
        ok = w is not None and w["count"] == 1 and w["avg"] == 20.0 + s
        print(("ok  " if ok else "BAD ") + json.dumps(w))
        bad += not ok
if len(last) != want_windows or len(rows) != (8 if emit == "final" else 100):
    print(f"BAD: {len(last)} windows in {len(rows)} records")
    bad += 1
print("PASS" if bad == 0 else "FAIL")
sys.exit(1 if bad else 0)
EOF
[ "$rc" -eq 0 ] || { echo "FAIL: exit code $rc" >&2; exit 1; }
grep -q '^STATE NOT_RUNNING' "$work/app.out" || { echo "FAIL: no STATE NOT_RUNNING" >&2; exit 1; }
rm -rf "$work"
