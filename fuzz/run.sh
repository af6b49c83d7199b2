#!/usr/bin/env bash
# Fuzzes event decoding and admission with libFuzzer (cargo-fuzz, nightly), each target
# for a bounded time, starting from seeds made of a generated district's events.
# Usage: fuzz/run.sh [SECONDS per target, default 60]. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes this exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo run -q -p fuzz-checks --example fuzz_seeds -- fuzz/corpus/decode_event fuzz/corpus/admit_event
for target in decode_event admit_event; do
    echo "== $target, $SECONDS_EACH s"
    status=0
    cargo +nightly fuzz run "$target" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
        >"fuzz/$target.log" 2>&1 || status=$?
    grep -E "^#[0-9]+ +(INITED|DONE)|^Done|SUMMARY|panicked" "fuzz/$target.log" | tail -4 || true
    if [ "$status" -ne 0 ]; then
        echo "$target failed (exit $status): see fuzz/$target.log and fuzz/artifacts/$target/"
        exit 1
    fi
done
