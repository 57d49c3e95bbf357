#!/usr/bin/env bash
# accuracy.sh - are the reported percentiles the true ones?
#
# The demo shop delays every catalog request by a known distribution (uniform 20-60 ms by
# default). A no-delay run first measures the baseline (loopback, shop and engine overhead);
# then the delayed run's reported p50/p95/p99, minus the baseline's p50, are compared with the
# injected distribution's percentiles. Target: within 1% + 0.1 ms.
# Usage: tests/bench/accuracy.sh [LOW_MS HIGH_MS] (default 20 60).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lo=${1:-20}
hi=${2:-60}
SHOP=${SHOP:-$bench_top/build/release/examples/shop-api/shop-api}

run_against() { # $1: extra shop options; prints "p50 p95 p99" in ms
  local port pid
  port=$(bench_free_port)
  "$SHOP" --port "$port" --quiet $1 &
  pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  cat >"$BENCH_TMP/acc.json" <<JSON
{ "name": "accuracy", "base_url": "http://127.0.0.1:$port",
  "users": [ { "tasks": [ { "steps": [ { "request": { "url": "/api/v1/categories", "name": "cat" } } ] } ] } ],
  "load": { "stages": [ { "duration": 0, "users": 20 }, { "duration": "15s", "users": 20 } ] } }
JSON
  "$STAMPEDE" run "$BENCH_TMP/acc.json" --quiet --json "$BENCH_TMP/acc.out.json" >/dev/null || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const l = r.total.latency_ms;
    console.log(l.p50, l.p95, l.p99, r.total.requests);' "$BENCH_TMP/acc.out.json"
}

read -r b50 b95 b99 bn < <(run_against "")
read -r d50 d95 d99 dn < <(run_against "--latency-ms catalog=uniform:$lo-$hi")
awk -v lo="$lo" -v hi="$hi" -v b="$b50" -v d50="$d50" -v d95="$d95" -v d99="$d99" -v n="$dn" -v bn="$bn" 'BEGIN {
  printf "baseline (no delay): p50 %.3f ms over %d requests\n", b, bn;
  split("50 95 99", ps, " "); v[50] = d50; v[95] = d95; v[99] = d99; bad = 0;
  for (i = 1; i <= 3; i++) {
    p = ps[i]; want = lo + (hi - lo) * p / 100; got = v[p] - b; tol = want * 0.01 + 0.1;
    ok = (got - want <= tol && want - got <= tol);
    if (!ok) bad++;
    printf "p%-2d injected %7.3f ms  reported-baseline %7.3f ms  error %+6.3f ms  (tolerance %.3f) %s\n",
           p, want, got, got - want, tol, ok ? "ok" : "OUT";
  }
  printf "%d samples; %s\n", n, bad ? "some percentiles are outside 1% + 0.1 ms" : "all within 1% + 0.1 ms";
}'
