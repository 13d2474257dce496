#!/usr/bin/env bash
# Peers on the same file, in the same run: our CLI against Bytewax (its
# FileSource -> FileSink with SQLite recovery on, snapshots every second)
# and Debezium's embedded engine running Kafka's FileStreamSourceConnector
# (offsets in memory, flushed every second; records handed to a handler
# that marks them processed, as Debezium Server does). All three read a
# page-cached file of LINES 100-byte lines; ours and Bytewax write every
# line to an output file, which is checked.
#
#   benches/peers/run.sh [LINES] [REPS]     (defaults: 5000000 5)
#
# Each run is a whole process, timed from spawn to exit. Ours stops with
# `--until-idle 200ms`; those 200 ms are subtracted (Bytewax's FileSource
# ends at the end of the file; the engine's handler exits the JVM at the
# last line). The order of the three rotates from rep to rep, and a
# `sync` before each run keeps one run's writeback out of the next. Prints each
# peer's lines/s (min / median / max) and ours as a multiple of each, per
# rep (min / median / max). Makes a venv with Bytewax in target/peers-venv
# and uses the jars and JDK of scripts/install-java-plugins.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
lines=${1:-5000000}
reps=${2:-5}
idle_ms=200
bytewax_version=0.21.1

cargo build --release -q -p timely-connect-operators
bin=$PWD/target/release/timely-connect
java_dir=${TIMELY_CONNECT_JAVA_DIR:-$HOME/.local/share/timely-connect/java}
[ -d "$java_dir/engine" ] || scripts/install-java-plugins.sh
venv=$PWD/target/peers-venv
if ! "$venv/bin/python" -c "import bytewax" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "bytewax==$bytewax_version"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/in.txt" "$lines" <<'EOF'
import sys
line = b"x" * 99 + b"\n"
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2]) // 10000):
        f.write(line * 10000)
    f.write(line * (int(sys.argv[2]) % 10000))
EOF
cat "$work/in.txt" > /dev/null
printf 'name=peers\nconnector.class=FileStreamSource\nfile=%s\ntopic=t\n' "$work/in.txt" > "$work/ours.properties"
javac -nowarn -d "$work/classes" -cp "$java_dir/engine/*" benches/java/EngineFileBench.java

now() { date +%s.%N; }

# Each prints the seconds the run took and checks what it produced.
run_ours() {
    rm -rf "$work/snaps" "$work/out.txt"
    local s e
    s=$(now)
    "$bin" run "$work/ours.properties" --snapshot-dir "$work/snaps" --output "$work/out.txt" \
        --snapshot-interval 1s --until-idle "${idle_ms}ms" 2> "$work/err.txt" > /dev/null
    e=$(now)
    check "$work/out.txt" ours
    echo "$e - $s - $idle_ms / 1000" | bc -l
}
run_bytewax() {
    rm -rf "$work/bw-db" "$work/out.txt"
    mkdir "$work/bw-db"
    "$venv/bin/python" -m bytewax.recovery "$work/bw-db" 1 > /dev/null
    local s e
    s=$(now)
    PEERS_IN="$work/in.txt" PEERS_OUT="$work/out.txt" "$venv/bin/python" -m bytewax.run \
        benches/peers/bytewax_flow.py:flow -r "$work/bw-db" -s 1 -b 0 2> "$work/err.txt" > /dev/null
    e=$(now)
    check "$work/out.txt" bytewax
    echo "$e - $s" | bc -l
}
run_engine() {
    local s e
    s=$(now)
    java -Xmx1g -cp "$java_dir/engine/*:$work/classes" EngineFileBench "$work/in.txt" "$lines" \
        > "$work/engine.txt" 2> "$work/err.txt"
    e=$(now)
    [ -s "$work/engine.txt" ] || { echo "engine failed:" >&2; tail "$work/err.txt" >&2; exit 1; }
    echo "$e - $s" | bc -l
}
check() {
    local got
    got=$(wc -l < "$1")
    if [ "$got" != "$lines" ]; then
        echo "$2 wrote $got lines, not $lines:" >&2
        tail "$work/err.txt" >&2
        exit 1
    fi
}

peers=(ours bytewax engine)
declare -A secs
for rep in $(seq "$reps"); do
    # Rotate the order: each peer goes first, second and last in turn.
    for i in 0 1 2; do
        p=${peers[$(( (i + rep) % 3 ))]}
        # What the last run wrote goes to disk now, not during this run.
        sync
        t=$("run_$p")
        secs[$p]+="$t "
        printf 'rep %d %-8s %6.3f s  %6.2f M lines/s\n' "$rep" "$p" "$t" "$(echo "$lines / $t / 1000000" | bc -l)" >&2
    done
done

python3 - "$lines" "${secs[ours]}" "${secs[bytewax]}" "${secs[engine]}" <<'EOF'
import statistics, sys
lines = int(sys.argv[1])
runs = {p: [float(x) for x in s.split()] for p, s in zip(("ours", "bytewax", "engine"), sys.argv[2:])}
rate = {p: [lines / t for t in ts] for p, ts in runs.items()}
def mmm(xs, f):
    return " / ".join(f(x) for x in (min(xs), statistics.median(xs), max(xs)))
print(f"\n{lines} lines of 100 B, {len(runs['ours'])} runs each, order rotated")
print("| peer | lines/s min / median / max | ours / peer, per run: min / median / max |")
print("|---|---:|---:|")
labels = {
    "ours": "timely-connect CLI, file -> exactly-once file, 1 worker, snapshots 1 s",
    "bytewax": "Bytewax FileSource -> FileSink, SQLite recovery, snapshots 1 s",
    "engine": "Debezium embedded engine, FileStreamSourceConnector",
}
for p in ("ours", "bytewax", "engine"):
    ratios = [t_peer / t_ours for t_peer, t_ours in zip(runs[p], runs["ours"])]
    print(f"| {labels[p]} | {mmm(rate[p], lambda v: f'{v / 1e6:.2f} M')} | {mmm(ratios, lambda v: f'{v:.2f}x')} |")
EOF
