#!/usr/bin/env bash
# Durable ingest over gRPC, against the machine's raw bounds, in one run:
#   bounds   Ed25519 single and batch verification on one core and on all, and a synced
#            RocksDB write of a commit group's size, on the disk the node writes to;
#   max      a release `ledger-node` on a fresh data directory takes EVENTS events (ten-
#            event supply chains by 1,000 parties) from 8 concurrent gRPC streams as fast
#            as it acknowledges them;
#   0.8      the same at 80% of that rate, open loop (latency counted from when each event
#            was due);
# then the node's peak resident memory and its bytes on disk per event.
# The load generator signs every event before each phase, and shares the machine's cores
# with the node. Usage: bench/ingest.sh [EVENTS] [extra loadgen flags...]
# AT_FRACTION= (empty) skips the 80% phase; BOUNDS= (empty) skips the bounds; NODE_FLAGS
# adds ledger-node flags; extra flags go to the load generator (`--rate R`: one open-loop
# phase at R events a second instead of the maximum); FRESH=1 runs the 80% phase on a
# second node with a fresh data directory, so that it covers the same stretch of ledger
# (events 0 to EVENTS) as the maximum it is a fraction of, not the next one, where each
# event costs more (see BENCHMARKS.md), then the maximum once more on a third fresh node,
# and reports how far the host's speed drifted between the two maxima; AUDIT=1
# then stops the node and audits the whole ledger with `foodtrace audit` (RocksDB, same
# disk), reporting its rate against the bounds measured at the start.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-500000}
FRACTION=${AT_FRACTION-0.8}
BOUNDS=${BOUNDS-1}
shift || true

cargo build --release -q -p ledger-node -p foodtrace-cli
BIN=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/foodtrace-ingest-bench.XXXXXX")
NODE=""
trap 'kill $NODE 2>/dev/null || true; wait $NODE 2>/dev/null || true; rm -rf "$WORK"' EXIT

AUTHORITY=11210112MB00000017
"$BIN/foodtrace" keygen --out "$WORK/authority.key" >/dev/null
DATA="$WORK/data"
start_node() { # on a fresh data directory $DATA; sets NODE and GRPC
    "$BIN/ledger-node" --data-dir "$DATA" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
        --authority-key "$WORK/authority.key" --authority-id "$AUTHORITY" ${NODE_FLAGS:-} >"$DATA.log" 2>&1 &
    NODE=$!
    until grep -q 'serving' "$DATA.log"; do
        kill -0 $NODE 2>/dev/null || { cat "$DATA.log"; exit 1; }
        sleep 0.2
    done
    GRPC="http://$(grep -o 'grpc=[0-9.:]*' "$DATA.log" | head -1 | cut -d= -f2)"
}
start_node
max_rate() { # the durable events/s of the "max" phase in the load generator's output $1
    awk '$1 == "max" && /durable events/ { for (i = 1; i < NF; i++) if ($(i + 1) == "durable") print $i }' "$1"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
SAME_NODE_FRACTION=$FRACTION
if [ -n "${FRESH:-}" ]; then SAME_NODE_FRACTION=""; fi
"$BIN/foodtrace" loadgen --server "$GRPC" --key "$WORK/authority.key" --as "$AUTHORITY" \
    --events "$EVENTS" ${SAME_NODE_FRACTION:+--at-fraction $SAME_NODE_FRACTION} ${BOUNDS:+--bounds --bounds-dir "$WORK"} \
    --node-pid "$NODE" --node-data-dir "$DATA" "$@" | tee "$WORK/loadgen.log"

if [ -n "${FRESH:-}" ] && [ -n "$FRACTION" ]; then
    MAX=$(max_rate "$WORK/loadgen.log")
    RATE=$(awk -v m="$MAX" -v f="$FRACTION" 'BEGIN { printf "%d", m * f }')
    kill $NODE; wait $NODE 2>/dev/null || true
    DATA="$WORK/data-fresh"
    start_node
    echo "$FRACTION of max ($MAX events/s) on a fresh node: $RATE events/s"
    "$BIN/foodtrace" loadgen --server "$GRPC" --key "$WORK/authority.key" --as "$AUTHORITY" \
        --events "$EVENTS" --rate "$RATE" --node-pid "$NODE" --node-data-dir "$DATA" "$@" | tee -a "$WORK/loadgen.log"
    # The host's speed drifts (see BENCHMARKS.md): the maximum once more, after, on a
    # third fresh node, says whether "80% of the maximum" still held during that phase.
    kill $NODE; wait $NODE 2>/dev/null || true
    DATA="$WORK/data-after"
    start_node
    echo "the maximum again, on a fresh node:"
    "$BIN/foodtrace" loadgen --server "$GRPC" --key "$WORK/authority.key" --as "$AUTHORITY" \
        --events "$EVENTS" --node-pid "$NODE" --node-data-dir "$DATA" "$@" | tee "$WORK/after.log"
    AFTER=$(max_rate "$WORK/after.log")
    awk -v before="$MAX" -v after="$AFTER" -v rate="$RATE" 'BEGIN {
        drift = (after - before) / before * 100;
        printf "the host over the run: maximum %d events/s before, %d after (%+.1f%%); the open-loop phase ran at %.3f of their mean; %s\n",
            before, after, drift, rate / ((before + after) / 2),
            (drift < -5 || drift > 5) ? "the host drifted by more than 5%: not a measure at that fraction" : "steady (within 5%)"
    }'
fi

if [ -n "${AUDIT:-}" ]; then
    kill $NODE; wait $NODE 2>/dev/null || true; NODE=""
    START=$(date +%s.%N)
    RESULT=$("$BIN/foodtrace" audit --data-dir "$DATA" 2>"$WORK/audit.err" | tail -1) ||
        { cat "$WORK/audit.err"; exit 1; }
    END=$(date +%s.%N)
    echo "${RESULT%% root *}"
    bound() { grep -F "$1" "$WORK/loadgen.log" | head -1 | awk -F'|' '{gsub(/ /, "", $3); print $3}'; }
    RULE=$(bound "ledger rule, batches of 512, all cores")
    ISSUE=$(bound "(the issue's bound)")
    EVENTS_AUDITED=$(echo "$RESULT" | awk '{print $2}')
    awk -v n="$EVENTS_AUDITED" -v s="$START" -v e="$END" -v rule="$RULE" -v issue="$ISSUE" 'BEGIN {
        rate = n / (e - s);
        printf "audit over RocksDB: %d events in %.2f s: %.0f events/s; %.3f of the rule'"'"'s batch bound, %.3f of ed25519-dalek'"'"'s (the issue'"'"'s)\n", n, e - s, rate, rate / rule, rate / issue
    }'
fi
