#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time, one after the other, from
# the seed corpus in fuzz/corpus/<target> (new inputs go to a scratch copy,
# so the repository's corpus stays small). Crashes land in
# fuzz/artifacts/<target>/; keep each as a regression test.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Needs the nightly toolchain and cargo-fuzz (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(properties snapshot_decode json_converter pgoutput)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
for target in "${targets[@]}"; do
    scratch=$(mktemp -d)
    cp -r "corpus/$target/." "$scratch/"
    echo "== $target: ${seconds}s"
    cargo +nightly fuzz run "$target" "$scratch" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 2>&1 |
        grep -E "^(#[0-9]+\s+DONE|==[0-9]+==|SUMMARY|Done [0-9]+ runs)" || true
    rm -rf "$scratch"
done
