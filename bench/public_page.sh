#!/usr/bin/env bash
# The public lot page under load: wrk (Debian's package) on loopback against a release
# `ledger-node --demo`, in one run:
#   healthz    the HTTP floor (a 3-byte answer, no ledger work): the baseline;
#   one lot    the page of one school meal with a recalled ingredient, over and over;
#   all lots   every lot of the demo district in turn (the trace cache warm);
#   json       the same rotation, as JSON;
#   built      the same rotation with no page kept (--cached-pages 0): every page built
#              from the trace cache for its request (the node restarted on the same data).
# wrk and the node share the machine's cores. The per-address rate limit is off (every
# request comes from 127.0.0.1). Usage: bench/public_page.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-10}
CONNECTIONS=${2:-64}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p ledger-node -p foodtrace-cli
BIN=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d /tmp/foodtrace-page-bench.XXXXXX)
NODE=""
trap 'kill $NODE 2>/dev/null; wait $NODE 2>/dev/null; rm -rf "$WORK"' EXIT
start_node() { # extra ledger-node arguments...
    "$BIN/ledger-node" --data-dir "$WORK/data" --grpc-listen 127.0.0.1:0 \
        --http-listen 127.0.0.1:0 --public-rate-limit 0 "$@" >"$WORK/node.log" 2>&1 &
    NODE=$!
    until grep -q 'serving' "$WORK/node.log"; do
        kill -0 $NODE 2>/dev/null || { cat "$WORK/node.log"; exit 1; }
        sleep 0.2
    done
    BASE="http://$(grep -o 'http=[0-9.:]*' "$WORK/node.log" | head -1 | cut -d= -f2)"
}
start_node --demo
MEAL=$(grep -o '/l/[^ ]*' "$WORK/node.log" | sed -n 3p)

# Every lot in the ledger, through the inspector API.
TOKEN=$("$BIN/foodtrace" inspector add bench --data-dir "$WORK/data" | grep -o 'ft_[A-Za-z0-9_-]*')
: >"$WORK/lots"
CURSOR=""
while :; do
    PAGE=$(curl -sf -H "authorization: Bearer $TOKEN" "$BASE/v1/lots?limit=1000$CURSOR")
    echo "$PAGE" | python3 -c 'import json,sys; [print(l["lot_id"]) for l in json.load(sys.stdin)["lots"]]' >>"$WORK/lots"
    NEXT=$(echo "$PAGE" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("next_cursor") or "")')
    [ -n "$NEXT" ] || break
    CURSOR="&cursor=$NEXT"
done
N_LOTS=$(wc -l <"$WORK/lots")

cat >"$WORK/rotate.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/lots") do paths[#paths + 1] = "/l/" .. line end
local i = math.random(#paths)
local accept = os.getenv("ACCEPT") or "text/html"
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Accept"] = accept, ["Accept-Language"] = "zh-CN,zh;q=0.9" })
end
LUA

run() { # name, wrk arguments...
    local name=$1
    shift
    local out
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency "$@")
    local rps p50 p99 errors
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    printf '%-10s %12s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${errors:-0}"
    echo "$rps" >"$WORK/rps-$name"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "ledger: $(curl -s "$BASE/v1/status")  lots: $N_LOTS  connections: $CONNECTIONS  seconds: $SECONDS_EACH"
# Warm the trace cache, as a running node's would be.
ACCEPT=text/html wrk -t1 -c4 -d2s -s "$WORK/rotate.lua" "$BASE" >/dev/null
run healthz "$BASE/healthz"
run "one lot" -H 'Accept-Language: zh-CN' "$BASE$MEAL"
ACCEPT=text/html run "all lots" -s "$WORK/rotate.lua" "$BASE"
ACCEPT=application/json run json -s "$WORK/rotate.lua" "$BASE"
kill $NODE && wait $NODE || true
start_node --cached-pages 0
ACCEPT=text/html wrk -t1 -c4 -d2s -s "$WORK/rotate.lua" "$BASE" >/dev/null
ACCEPT=text/html run built -s "$WORK/rotate.lua" "$BASE"
python3 - "$WORK" <<'PY'
import sys
w = sys.argv[1]
rps = lambda n: float(open(f"{w}/rps-{n}").read())
base = rps("healthz")
for name in ["one lot", "all lots", "json", "built"]:
    print(f"{name:10} {rps(name) / base:.2f} of the /healthz rate")
print(f"kept pages: {rps('all lots') / rps('built'):.1f}x the rate of building every page")
PY
