#!/usr/bin/env bash
# shopper.sh - CPU per request of a realistic scenario: the guide's authenticated shopper.
#
# examples/shopper.json (login in on_start, a token in set_headers, templated URLs and JSON
# bodies with typed holes, status expectations, four weighted tasks) runs against the demo shop
# without its think time, with 50 VUs on one engine thread pinned to CPU 1; the shop runs on
# one thread pinned to CPU 0. It prints the engine's CPU time per request (user + system) and,
# when perf may count them, its user-space instructions per request, which the machine's noise
# barely moves. With BASE=path/to/another/stampede it measures that binary too, alternating
# ROUNDS times, and prints the ratio of medians (new / base): how a change moved the cost.
# Usage: tests/bench/shopper.sh [SECONDS] (default 8). Target: within 5% of the previous build.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-8}
rounds=${ROUNDS:-3}
SHOP=${SHOP:-$(dirname "$STAMPEDE")/../examples/shop-api/shop-api}
[ -x "$SHOP" ] || { echo "build the shop first (looked for $SHOP)" >&2; exit 2; }
port=$(bench_free_port)
taskset -c 0 "$SHOP" --port "$port" --threads 1 --quiet &
shop_pid=$!
trap 'kill $shop_pid 2>/dev/null; bench_nginx_stop; rm -rf "$BENCH_TMP"' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# The shopper as written, without think time, holding 50 VUs for the whole run.
node -e '
  const fs = require("fs");
  const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  for (const u of d.users) delete u.think;
  d.base_url = process.argv[2];
  d.load = { stages: [ { duration: 0, users: 50 }, { duration: process.argv[3] + "s", users: 50 } ] };
  d.thresholds = [];
  fs.writeFileSync(process.argv[4], JSON.stringify(d));
' "$bench_top/examples/shopper.json" "http://127.0.0.1:$port" "$secs" "$BENCH_TMP/shopper.json"

perf_ok=0
# Hardware counters are often missing in virtual machines ("<not supported>"): then CPU time only.
if command -v perf >/dev/null && perf stat -e instructions:u -x, true 2>&1 | grep -q '^[0-9]'; then
  perf_ok=1
fi

# measure BIN: prints "us_per_request instructions_per_request requests failures"
measure() {
  local bin=$1
  curl -s -X POST "http://127.0.0.1:$port/__reset?state=1" >/dev/null
  local cmd=(taskset -c 1 "$bin" run "$BENCH_TMP/shopper.json" --threads 1 --quiet --json "$BENCH_TMP/r.json")
  if [ "$perf_ok" = 1 ]; then
    bench_timed "$BENCH_TMP/t" perf stat -e instructions:u -x, -o "$BENCH_TMP/perf" "${cmd[@]}" >/dev/null
  else
    bench_timed "$BENCH_TMP/t" "${cmd[@]}" >/dev/null
  fi
  local req fail u s ins=0
  req=$(grep -o '"requests": [0-9]*' "$BENCH_TMP/r.json" | head -1 | awk '{print $2}')
  fail=$(grep -o '"failures": [0-9]*' "$BENCH_TMP/r.json" | head -1 | awk '{print $2}')
  read -r u s <"$BENCH_TMP/t"
  [ "$perf_ok" = 1 ] && ins=$(awk -F, '/instructions/ {print $1}' "$BENCH_TMP/perf")
  awk -v r="$req" -v u="$u" -v s="$s" -v i="$ins" -v f="$fail" \
    'BEGIN { printf "%.2f %.0f %d %d\n", (u + s) * 1e6 / r, i / r, r, f }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: >"$BENCH_TMP/new"
: >"$BENCH_TMP/base"
for i in $(seq "$rounds"); do
  read -r us ins req fail < <(measure "$STAMPEDE")
  printf "stampede:  %6.2f us/request  %8s instructions/request  (%d requests, %d failed)\n" "$us" "${ins/#0/-}" "$req" "$fail"
  echo "$us $ins" >>"$BENCH_TMP/new"
  if [ -n "${BASE:-}" ]; then
    read -r us ins req fail < <(measure "$BASE")
    printf "base:      %6.2f us/request  %8s instructions/request  (%d requests, %d failed)\n" "$us" "${ins/#0/-}" "$req" "$fail"
    echo "$us $ins" >>"$BENCH_TMP/base"
  fi
done
if [ -n "${BASE:-}" ]; then
  nu=$(awk '{print $1}' "$BENCH_TMP/new" | median); bu=$(awk '{print $1}' "$BENCH_TMP/base" | median)
  ni=$(awk '{print $2}' "$BENCH_TMP/new" | median); bi=$(awk '{print $2}' "$BENCH_TMP/base" | median)
  awk -v nu="$nu" -v bu="$bu" -v ni="$ni" -v bi="$bi" 'BEGIN {
    printf "medians: stampede %.2f us, base %.2f us: ratio %.3f\n", nu, bu, nu / bu;
    if (bi > 0) printf "medians: stampede %.0f, base %.0f instructions/request: ratio %.3f (target <= 1.05)\n", ni, bi, ni / bi;
  }'
fi
