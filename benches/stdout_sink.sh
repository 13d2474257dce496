#!/usr/bin/env bash
# The CLI's stdout sink against its exactly-once file sink, same binary,
# same page-cached file of 100-byte lines, in the same run; optionally also
# another build of the CLI (e.g. an older commit) as a baseline.
#
#   benches/stdout_sink.sh [LINES] [REPS] [BASELINE_BINARY]
#
# Prints, per path, the median wall time of REPS runs and lines/s. The job
# stops with --until-idle 300ms; the 300 ms are subtracted.
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-5000000}
reps=${2:-5}
baseline=${3:-}
cargo build --release -q -p timely-connect-operators
bin=target/release/timely-connect
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -c "
line = 'x' * 99 + '\n'
with open('$work/in.txt', 'w') as f:
    for _ in range($lines): f.write(line)
"
printf 'name=bench\nconnector.class=FileStreamSource\nfile=%s\ntopic=t\n' "$work/in.txt" > "$work/bench.properties"
cat "$work/in.txt" > /dev/null

median_rate() { # label command...
    local label=$1
    shift
    local times=()
    for _ in $(seq "$reps"); do
        rm -rf "$work/snaps" "$work/out.txt"
        local start end
        start=$(date +%s.%N)
        "$@" > /dev/null 2>&1
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start - 0.3" | bc -l)")
    done
    local median
    median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (reps + 1) / 2 ))p")
    printf '%-34s median %6.3f s  %6.2f M lines/s\n' "$label" "$median" \
        "$(echo "$lines / $median / 1000000" | bc -l)"
}

run() { # binary output
    "$1" run "$work/bench.properties" --snapshot-dir "$work/snaps" --output "$2" --until-idle 300ms
}
median_rate "file sink (--output FILE)" run "$bin" "$work/out.txt"
median_rate "stdout sink (--output -)" run "$bin" -
if [ -n "$baseline" ]; then
    # Older builds have no `--output -`: their stdout path is no --output.
    median_rate "baseline: stdout (no --output)" \
        "$baseline" run "$work/bench.properties" --snapshot-dir "$work/snaps" --until-idle 300ms
    median_rate "baseline: file sink" run "$baseline" "$work/out.txt"
fi
