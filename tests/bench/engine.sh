#!/usr/bin/env bash
# engine.sh - CPU time per request of `stampede run` against wrk's, in the same run.
#
# Both load the same local nginx (one worker pinned to CPU 0) with 50 connections and no think
# time, each pinned to CPU 1, one after the other. Stampede runs with a request name, a status
# expectation and histograms on, as a real test would. Prints both CPU us/request and the ratio.
# When tests/tools/curl_floor is built, a third run shows what libcurl alone costs with the
# engine's transfer options and nothing else (the floor under the engine's figure).
# Usage: tests/bench/engine.sh [SECONDS] (default 10). Target: ratio <= 1.5, never above 2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-10}
port=$(bench_free_port)
bench_nginx_start "$port"
url="http://127.0.0.1:$port/api/v1/products"

cat >"$BENCH_TMP/engine.json" <<JSON
{ "name": "engine bench", "base_url": "http://127.0.0.1:$port",
  "users": [ { "name": "u", "tasks": [ { "steps": [
      { "request": { "method": "GET", "url": "/api/v1/products", "name": "GET /products" },
        "expect": { "status": 200 } } ] } ] } ],
  "load": { "stages": [ { "duration": 0, "users": 50 }, { "duration": "${secs}s", "users": 50 } ] } }
JSON

# Warm nginx up so both tools meet the same state.
taskset -c 1 wrk -t1 -c50 -d1s "$url" >/dev/null

bench_timed "$BENCH_TMP/wrk.time" taskset -c 1 wrk -t1 -c50 -d"${secs}s" "$url" >"$BENCH_TMP/wrk.out"
wrk_req=$(awk '/requests in/ {print $1}' "$BENCH_TMP/wrk.out")
read -r wu ws <"$BENCH_TMP/wrk.time"

bench_timed "$BENCH_TMP/sp.time" taskset -c 1 "$STAMPEDE" run "$BENCH_TMP/engine.json" --threads 1 \
  --quiet --json "$BENCH_TMP/sp.json" >"$BENCH_TMP/sp.out"
sp_req=$(grep -o '"requests": [0-9]*' "$BENCH_TMP/sp.json" | head -1 | awk '{print $2}')
sp_fail=$(grep -o '"failures": [0-9]*' "$BENCH_TMP/sp.json" | head -1 | awk '{print $2}')
read -r su ss <"$BENCH_TMP/sp.time"

fl_req=0 fu=0 fs=0
if [ -x "$CURL_FLOOR" ]; then
  bench_timed "$BENCH_TMP/fl.time" taskset -c 1 "$CURL_FLOOR" loop "$url" 50 "$secs" >"$BENCH_TMP/fl.out"
  fl_req=$(awk '/^requests/ {print $2}' "$BENCH_TMP/fl.out")
  read -r fu fs <"$BENCH_TMP/fl.time"
fi

awk -v wr="$wrk_req" -v wu="$wu" -v ws="$ws" -v sr="$sp_req" -v su="$su" -v ss="$ss" -v sf="$sp_fail" \
    -v fr="$fl_req" -v fu="$fu" -v fs="$fs" 'BEGIN {
  w = (wu + ws) * 1e6 / wr; s = (su + ss) * 1e6 / sr;
  printf "wrk:      %9d requests  %6.2f s CPU  %6.2f us/request\n", wr, wu + ws, w;
  printf "stampede: %9d requests  %6.2f s CPU  %6.2f us/request  (%d failed)\n", sr, su + ss, s, sf;
  if (fr > 0) {
    f = (fu + fs) * 1e6 / fr;
    printf "libcurl:  %9d requests  %6.2f s CPU  %6.2f us/request  (bare multi loop, same options)\n", fr, fu + fs, f;
    printf "ratio libcurl/wrk: %.2f; stampede/libcurl: %.2f\n", f / w, s / f;
  }
  printf "ratio stampede/wrk: %.2f (target <= 1.5)\n", s / w;
}'
