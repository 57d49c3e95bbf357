#!/usr/bin/env bash
# vu-memory.sh - marginal resident memory per idle VU.
#
# Two runs against a local nginx: BASE VUs, then BASE+N VUs (default N=5000), each VU waiting
# 5-10 s between requests on its open keep-alive connection. The RSS of stampede is sampled once
# the ramp is over and every VU has made its first request; (RSS_big - RSS_small) / N is the
# marginal memory per VU, libcurl's easy handles and connections included.
# Usage: tests/bench/vu-memory.sh [N] (default 5000). Target: <= 21 KB per VU.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
n=${1:-5000}
base=100
port=$(bench_free_port)
NGINX_CPU=0 bench_nginx_start "$port"
ulimit -n 20000

rss_of_run() {
  local vus=$1 def="$BENCH_TMP/mem-$1.json"
  cat >"$def" <<JSON
{ "name": "vu memory", "base_url": "http://127.0.0.1:$port",
  "users": [ { "name": "idle", "think": { "between_ms": [5000, 10000] },
    "tasks": [ { "steps": [ { "request": { "url": "/api/v1/products", "name": "GET /products" } } ] } ] } ],
  "load": { "stages": [ { "duration": "4s", "users": $vus }, { "duration": "14s", "users": $vus } ] } }
JSON
  "$STAMPEDE" run "$def" --quiet --json "$BENCH_TMP/mem-$vus.result.json" >/dev/null &
  local pid=$!
  sleep 12
  local rss conns
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  conns=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -c socket || true)
  wait "$pid" || true
  echo "$rss $conns"
}

# libcurl alone: N easy handles, each with its own connection-cache share as the engine's VUs
# have, holding their keep-alive connections (tests/tools/curl_floor.c): the floor under the
# engine's figure.
rss_of_floor() {
  local n=$1 fifo="$BENCH_TMP/floor.fifo"
  rm -f "$fifo"; mkfifo "$fifo"
  "$CURL_FLOOR" idle "http://127.0.0.1:$port/api/v1/products" "$n" 8 >"$fifo" &
  local pid=$! line
  read -r line <"$fifo"
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  wait "$pid" || true
  echo "$rss"
}

read -r rss_small conns_small < <(rss_of_run "$base")
read -r rss_big conns_big < <(rss_of_run $((base + n)))
awk -v a="$rss_small" -v b="$rss_big" -v n="$n" -v ca="$conns_small" -v cb="$conns_big" -v base="$base" 'BEGIN {
  printf "%6d VUs: RSS %8d KB, %6d sockets\n", base, a, ca;
  printf "%6d VUs: RSS %8d KB, %6d sockets\n", base + n, b, cb;
  printf "marginal memory per VU: %.1f KB (target <= 21 KB)\n", (b - a) / n;
}'
if [ -x "$CURL_FLOOR" ]; then
  fa=$(rss_of_floor "$base")
  fb=$(rss_of_floor $((base + n)))
  awk -v a="$fa" -v b="$fb" -v n="$n" 'BEGIN {
    printf "libcurl alone (easy handle + own connection share + connection): %.1f KB per handle\n", (b - a) / n;
  }'
fi
