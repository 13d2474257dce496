#!/usr/bin/env bash
# Runs the kill -9 / restore scenario of tests/kill_restore.rs many times.
#
#   scripts/kill-trials.sh [N] [TEST_NAME_FILTER]
#
# N (default 100) randomized trials per scenario (datagen and file source,
# 2 processes x 2 workers each). Every trial prints its seed; a failing trial
# prints how to replay it (TEST_SEED=<seed> KILL_TRIALS=1) and keeps its
# files. TEST_NAME_FILTER picks one scenario, e.g. `datagen` or `file_source`.
set -euo pipefail

N="${1:-100}"
FILTER="${2:-}"
if ! [[ "$N" =~ ^[0-9]+$ ]] || [ "$N" -lt 1 ]; then
    echo "usage: $0 [N>=1] [test-name-filter]" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
cargo build -p timely-connect-operators
started=$(date +%s)
set +e
KILL_TRIALS="$N" cargo test -p timely-connect-operators --test kill_restore -- --nocapture ${FILTER:+"$FILTER"} 2>&1 \
    | tee "${TMPDIR:-/tmp}/kill-trials-$$.log"
status=${PIPESTATUS[0]}
echo "kill-trials: N=$N per scenario, $(( $(date +%s) - started ))s, exit $status (log: ${TMPDIR:-/tmp}/kill-trials-$$.log)"
exit "$status"
