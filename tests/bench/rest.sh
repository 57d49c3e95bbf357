#!/usr/bin/env bash
# rest.sh - REST API read latency while a run is going, against a static nginx file.
#
# Starts the demo shop API and `stampede serve` (access control on, a temporary data dir with
# the example tests), starts the browsing example against the shop with USERS VUs, then reads
# three routes (the tests list, the runs list, the running run) with an API token, and a static
# file of nginx as the peer, two ways:
#   - paced: 100 clients sending RATE requests/s in all (an open-model `stampede run`, as 100
#     dashboards and scripts polling would), p50/p99 of each route;
#   - saturated: wrk -t2 -c100 as fast as it can, for the throughput and the queueing it causes.
# Usage: tests/bench/rest.sh [SECONDS] [USERS] [RATE] (default 10 s per route, 20 VUs, 1000/s).
# Target (DESIGN.md): p99 under 10 ms for reads with 100 concurrent clients during a run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-10}
users=${2:-20}
rate=${3:-1000}
shop_bin=$(dirname "$STAMPEDE")/../examples/shop-api/shop-api
[ -x "$shop_bin" ] || { echo "build first: make build (looked for $shop_bin)" >&2; exit 2; }

shop_port=$(bench_free_port)
sp_port=$(bench_free_port)
live_port=$(bench_free_port)
nginx_port=$(bench_free_port)
bench_nginx_start "$nginx_port"

pids=()
cleanup_procs() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap 'cleanup_procs; bench_nginx_stop; rm -rf "$BENCH_TMP"' EXIT

"$shop_bin" --port "$shop_port" >/dev/null 2>&1 &
pids+=($!)
password="bench-$RANDOM-$RANDOM"
STAMPEDE_ADMIN_PASSWORD=$password "$STAMPEDE" serve --listen "127.0.0.1:$sp_port" \
  --live-port "$live_port" --data-dir "$BENCH_TMP/data" \
  --shop-url "http://127.0.0.1:$shop_port" >"$BENCH_TMP/serve.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$sp_port/api/v1"
for _ in $(seq 100); do curl -fs "$api/health" >/dev/null 2>&1 && break; sleep 0.1; done

jar="$BENCH_TMP/cookies"
csrf=$(curl -fs -c "$jar" -H 'Content-Type: application/json' \
  --data-binary "{\"username\":\"admin\",\"password\":\"$password\"}" "$api/auth/login" |
  sed -n 's/.*"csrf_token" *: *"\([^"]*\)".*/\1/p')
token=$(curl -fs -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
  -d '{"name":"bench"}' "$api/tokens" | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "rest.sh: could not make an API token:" >&2; cat "$BENCH_TMP/serve.log" >&2; exit 1; }
auth=(-H "Authorization: Bearer $token")

test_id=$(curl -fs "${auth[@]}" "$api/tests?q=Anonymous" | grep -o '"id" *: *[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
[ -n "$test_id" ] || { echo "rest.sh: the example test 'Anonymous browsing' is missing" >&2; exit 1; }
run_secs=$((secs * 8 + 20))
run_id=$(curl -fs "${auth[@]}" -H 'Content-Type: application/json' \
  -d "{\"users\": $users, \"duration\": \"${run_secs}s\"}" "$api/tests/$test_id/runs" |
  grep -o '"id" *: *[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
[ -n "$run_id" ] || { echo "rest.sh: could not start a run" >&2; exit 1; }
sleep 3

# wrk's --latency block: "99%  1.23ms"; prints the value in ms.
pct_ms() {
  awk -v p="$1" '$1 == p"%" {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }' "$2"
}

outname() { printf '%s.out' "$1" | tr -c 'a-zA-Z0-9.\n' '_'; }

measure() { # NAME URL [wrk args...]
  local name=$1 url=$2; shift 2
  local out
  out="$BENCH_TMP/$(outname "$name")"
  wrk -t2 -c100 -d"${secs}s" --latency "$@" "$url" >"$out"
  local rps non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  printf "%-22s p50 %7s ms  p99 %7s ms  %9s req/s%s\n" "$name" \
    "$(pct_ms 50 "$out")" "$(pct_ms 99 "$out")" "$rps" "${non2xx:+  ($non2xx not 2xx)}"
}

# paced NAME URL: 100 clients at $rate requests/s in all for $secs s; prints p50/p99 (ms).
paced() {
  local name=$1 url=$2 def out
  def="$BENCH_TMP/$(outname "$name").json"
  out="$BENCH_TMP/$(outname "$name").result.json"
  local base=${url%%/api/*} path=/api/${url#*/api/}
  [ "$base" = "$url" ] && { base=${url%/*}; path=/${url##*/}; }
  cat >"$def" <<JSON
{ "name": "rest bench", "base_url": "$base",
  "headers": { "Authorization": "Bearer $token" },
  "users": [ { "name": "client", "tasks": [ { "steps": [
    { "request": { "method": "GET", "url": "$path", "name": "read" }, "expect": { "status": 200 } } ] } ] } ],
  "load": { "model": "open", "rate": $rate, "duration": "${secs}s", "max_vus": 100 } }
JSON
  "$STAMPEDE" run "$def" --quiet --json "$out" >/dev/null 2>&1 || true
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const n = (r.names || r.requests || []).find((x) => x.name === "read") || r.totals || {};
    const l = n.latency_ms || {};
    console.log(`${(l.p50 ?? NaN).toFixed(2)} ${(l.p99 ?? NaN).toFixed(2)} ${n.requests ?? 0} ${n.failures ?? 0}`);
  ' "$out"
}

echo "run $run_id going with $users VUs against the shop API"
echo "paced: 100 clients, $rate requests/s in all, ${secs} s each"
printf "%-22s %9s %9s %9s %9s\n" route "p50 ms" "p99 ms" requests failed
worst=0
for pair in "nginx-static|http://127.0.0.1:$nginx_port/api/v1/products" "GET /tests|$api/tests" \
            "GET /runs|$api/runs" "GET /runs/$run_id|$api/runs/$run_id"; do
  name=${pair%%|*} url=${pair#*|}
  read -r p50 p99 nreq nfail < <(paced "$name" "$url")
  printf "%-22s %9s %9s %9s %9s\n" "$name" "$p50" "$p99" "$nreq" "$nfail"
  if [ "$name" = nginx-static ]; then ng=$p99; else
    worst=$(awk -v a="$worst" -v b="$p99" 'BEGIN { print (b > a) ? b : a }'); fi
done
awk -v w="$worst" -v n="$ng" 'BEGIN {
  printf "worst REST p99: %.2f ms (target < 10 ms); nginx static p99 %.2f ms; ratio %.1f\n", w, n, w / n }'

echo "saturated: wrk -t2 -c100, ${secs} s each"
measure nginx-static "http://127.0.0.1:$nginx_port/api/v1/products"
measure "GET /tests" "$api/tests" "${auth[@]}"
measure "GET /runs" "$api/runs" "${auth[@]}"
measure "GET /runs/$run_id" "$api/runs/$run_id" "${auth[@]}"
status=$(curl -fs "${auth[@]}" "$api/runs/$run_id" | grep -o '"status" *: *"[a-z]*"' | head -1)
echo "run $run_id at the end of the measurement: $status"
curl -fs "${auth[@]}" -X POST -H 'Content-Type: application/json' -d '{}' "$api/runs/$run_id/stop" >/dev/null || true
