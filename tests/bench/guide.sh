#!/usr/bin/env bash
# guide.sh - CPU per request of the guide's four scenarios at a realistic rate, against wrk's.
#
# The demo shop (one thread, pinned to CPU 0) answers every request after a fixed injected
# latency (LATENCY_MS, default 18 ms), so 50 connections hold it near 2,500 requests/s: the rate
# of a real API behind a network, where each request pays its own wake-up. Then, each pinned to
# CPU 1, one after the other: wrk -t1 -c50 against one of the shop's routes, and stampede (one
# thread, 50 VUs) running examples/{browse,shopper,reporting,upload}.json with their think time
# removed (jq). CPU per request is user+sys of the client process over the requests the shop
# counted (its /__stats), never the client's own count. Prints each scenario's figure and its
# ratio to wrk's; target: every ratio <= 1.3.
# With PROFILE=NAME (one of the four, or "worst") that scenario also runs once under `perf record -g` and
# the top entries of its profile are printed (perf must be installed: packaging/deps.sh).
# When tests/tools/curl_floor is built, libcurl alone (a bare multi loop with the engine's
# transfer options, 50 handles) loads the same route too: the floor under every figure, since
# libcurl is the engine's HTTP client; each scenario's ratio to it is printed beside wrk's.
# Usage: tests/bench/guide.sh [SECONDS] (default 8; the whole script takes about 7 x SECONDS).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-8}
latency=${LATENCY_MS:-18}
vus=50
SHOP=${SHOP:-$(dirname "$STAMPEDE")/../examples/shop-api/shop-api}
[ -x "$SHOP" ] || { echo "build the shop first (looked for $SHOP)" >&2; exit 2; }
command -v jq >/dev/null || { echo "missing jq: run packaging/deps.sh" >&2; exit 2; }
port=$(bench_free_port)
base="http://127.0.0.1:$port"
taskset -c 0 "$SHOP" --port "$port" --threads 1 --quiet --latency-ms "all=fixed:$latency" &
shop_pid=$!
trap 'kill $shop_pid 2>/dev/null; rm -rf "$BENCH_TMP"' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

shop_reset() { curl -sf -X POST "$base/__reset?state=1" >/dev/null; }
shop_total() { curl -sf "$base/__stats" | jq .total; }

# The first route the guide's browse scenario weighs most: the anonymous product list.
wrk_url="$base/api/v1/products?page=1&limit=20&sort=popularity_desc"
taskset -c 1 wrk -t1 -c"$vus" -d1s "$wrk_url" >/dev/null # warm up the shop
shop_reset
bench_timed "$BENCH_TMP/wrk.time" taskset -c 1 wrk -t1 -c"$vus" -d"${secs}s" "$wrk_url" \
  >"$BENCH_TMP/wrk.out"
wrk_req=$(shop_total)
read -r wu ws <"$BENCH_TMP/wrk.time"
wrk_us=$(awk -v r="$wrk_req" -v u="$wu" -v s="$ws" 'BEGIN { printf "%.2f", (u + s) * 1e6 / r }')
printf "%-10s %8d requests %6.0f/s  %6.2f s CPU  %6.2f us/request\n" wrk "$wrk_req" \
  "$(awk -v r="$wrk_req" -v t="$secs" 'BEGIN { print r / t }')" \
  "$(awk -v u="$wu" -v s="$ws" 'BEGIN { print u + s }')" "$wrk_us"

fl_us=0
if [ -x "$CURL_FLOOR" ]; then
  shop_reset
  bench_timed "$BENCH_TMP/fl.time" taskset -c 1 "$CURL_FLOOR" loop "$wrk_url" "$vus" "$secs" \
    >"$BENCH_TMP/fl.out"
  fl_req=$(shop_total)
  read -r fu fs <"$BENCH_TMP/fl.time"
  fl_us=$(awk -v r="$fl_req" -v u="$fu" -v s="$fs" 'BEGIN { printf "%.2f", (u + s) * 1e6 / r }')
  printf "%-10s %8d requests %6.0f/s  %6.2f s CPU  %6.2f us/request  ratio to wrk %.2f  (bare multi loop, same route)\n" \
    libcurl "$fl_req" "$(awk -v r="$fl_req" -v t="$secs" 'BEGIN { print r / t }')" \
    "$(awk -v u="$fu" -v s="$fs" 'BEGIN { print u + s }')" "$fl_us" \
    "$(awk -v f="$fl_us" -v w="$wrk_us" 'BEGIN { print f / w }')"
fi

# The example as written, minus think time and thresholds, at 50 VUs for the whole run.
for ex in browse shopper reporting upload; do
  jq --arg base "$base" --arg dur "${secs}s" --argjson vus "$vus" '
    .base_url = $base | .users |= map(del(.think)) | .thresholds = [] |
    .load = { model: "closed", stages: [ { duration: 0, users: $vus },
                                         { duration: $dur, users: $vus } ] }' \
    "$bench_top/examples/$ex.json" >"$BENCH_TMP/$ex.json"
done

worst=0 worst_ex="" verdict=ok
for ex in browse shopper reporting upload; do
  shop_reset
  bench_timed "$BENCH_TMP/$ex.time" taskset -c 1 "$STAMPEDE" run "$BENCH_TMP/$ex.json" \
    --threads 1 --quiet --json "$BENCH_TMP/$ex.result.json" >/dev/null || true
  req=$(shop_total)
  fail=$(jq '.total.failures' "$BENCH_TMP/$ex.result.json")
  read -r u s <"$BENCH_TMP/$ex.time"
  ratio=$(awk -v r="$req" -v u="$u" -v s="$s" -v w="$wrk_us" 'BEGIN { printf "%.2f", (u + s) * 1e6 / r / w }')
  awk -v r="$req" -v u="$u" -v s="$s" -v t="$secs" -v w="$wrk_us" -v fl="$fl_us" -v f="$fail" -v n="$ex" \
    'BEGIN { us = (u + s) * 1e6 / r;
             printf "%-10s %8d requests %6.0f/s  %6.2f s CPU  %6.2f us/request  ratio to wrk %.2f", n, r, r / t, u + s, us, us / w;
             if (fl > 0) printf ", to libcurl %.2f", us / fl;
             printf "  (%d failed)\n", f }'
  awk -v r="$ratio" 'BEGIN { exit !(r > 1.3) }' && verdict="over 1.3"
  awk -v r="$ratio" -v m="$worst" 'BEGIN { exit !(r > m) }' && worst=$ratio worst_ex=$ex
done
echo "worst ratio to wrk: $worst ($worst_ex; target <= 1.3: $verdict)"

if [ -n "${PROFILE:-}" ]; then
  [ "$PROFILE" = worst ] && PROFILE=$worst_ex
  [ -f "$BENCH_TMP/$PROFILE.json" ] || { echo "PROFILE: one of browse shopper reporting upload" >&2; exit 2; }
  command -v perf >/dev/null || { echo "missing perf: run packaging/deps.sh" >&2; exit 2; }
  shop_reset
  taskset -c 1 perf record -q -g -o "$BENCH_TMP/perf.data" "$STAMPEDE" run "$BENCH_TMP/$PROFILE.json" \
    --threads 1 --quiet >/dev/null 2>&1 || true
  echo "profile of $PROFILE, self time by library:"
  perf report -i "$BENCH_TMP/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -8
  echo "and by function (top 25):"
  perf report -i "$BENCH_TMP/perf.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | sed 's/ *- *- *$//' | head -25
fi
