#!/usr/bin/env bash
# soak.sh - memory over a long constant-rate run: RSS of `stampede run` every 30 s.
#
# An open-model run at RATE arrivals/s (one GET each, a status expectation) against a local
# nginx for MINUTES minutes. Prints the RSS at every sample and the growth after the first
# minute (the pool, the connections and the histograms have all been created by then), which
# should stay under 1 MB. No --json: the CLI keeps every second's row in memory for it, which
# grows with the run by design; the summary's numbers are read from the text instead. The pool
# is small (20 VUs) so that every VU has made its first request, and holds its connection and
# buffers, within the first minute.
# Usage: tests/bench/soak.sh [MINUTES] [RATE] (default 10, 500).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
mins=${1:-10}
rate=${2:-500}
port=$(bench_free_port)
bench_nginx_start "$port"

cat >"$BENCH_TMP/soak.json" <<JSON
{ "name": "soak", "base_url": "http://127.0.0.1:$port",
  "users": [ { "name": "u", "tasks": [ { "request": { "url": "/api/v1/products", "name": "GET /products" },
                                          "expect": { "status": 200 } } ] } ],
  "load": { "model": "open", "max_vus": 20, "rate": $rate, "duration": "${mins}m" } }
JSON
"$STAMPEDE" run "$BENCH_TMP/soak.json" --quiet >"$BENCH_TMP/soak.out" &
pid=$!
base=""
t=0
printf "%6s %10s %10s\n" "time" "RSS KB" "growth KB"
while kill -0 "$pid" 2>/dev/null; do
  sleep 30
  t=$(( t + 30 ))
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
  [ -n "$rss" ] || break
  [ "$t" -eq 60 ] && base=$rss
  if [ -n "$base" ]; then
    printf "%5ss %10s %10s\n" "$t" "$rss" "$(( rss - base ))"
    last=$rss
  else
    printf "%5ss %10s %10s\n" "$t" "$rss" "-"
  fi
done
wait "$pid" || true
grep -E '^(Total|Open model)' "$BENCH_TMP/soak.out"
if [ -n "$base" ] && [ -n "${last:-}" ]; then
  echo "RSS growth after the first minute: $(( last - base )) KB (target: under 1024 KB)"
fi
