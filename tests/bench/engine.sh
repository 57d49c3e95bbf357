#!/usr/bin/env bash
# engine.sh - CPU time per request of `stampede run` against wrk's, in the same run.
#
# THREADS=1 (the default): both load the same local nginx (one worker pinned to CPU 0) with 50
# connections and no think time, each pinned to CPU 1, one after the other. Stampede runs with a
# request name, a status expectation and histograms on, as a real test would. Prints both CPU
# us/request and the ratio. When tests/tools/curl_floor is built, a third run shows what libcurl
# alone costs with the engine's transfer options and nothing else (the floor under the engine's
# figure).
# THREADS=N > 1: scaling. nginx gets N workers and everything shares CPUs 0..N-1 (nothing
# pinned apart); stampede runs with 1 and with N threads, wrk with -t1 and -tN, all with 50
# connections. Prints requests/s and CPU per request of each, and stampede's N-thread rate
# against its 1-thread rate and against wrk -tN's. With FUTEX=1 a last run of N threads under
# `strace -f -c` counts futex calls per request (a contended lock would make them).
# Usage: tests/bench/engine.sh [SECONDS] [THREADS] (default 10 1). Target (1 thread): ratio
# <= 1.5, never above 2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-10}
threads=${2:-1}
port=$(bench_free_port)
url="http://127.0.0.1:$port/api/v1/products"
if [ "$threads" = 1 ]; then
  client_cpus=1
  bench_nginx_start "$port"
else
  ncpu=$(nproc)
  client_cpus="0-$(((threads < ncpu ? threads : ncpu) - 1))"
  NGINX_CPU=$client_cpus bench_nginx_start "$port" "$threads"
fi

cat >"$BENCH_TMP/engine.json" <<JSON
{ "name": "engine bench", "base_url": "http://127.0.0.1:$port",
  "users": [ { "name": "u", "tasks": [ { "steps": [
      { "request": { "method": "GET", "url": "/api/v1/products", "name": "GET /products" },
        "expect": { "status": 200 } } ] } ] } ],
  "load": { "stages": [ { "duration": 0, "users": 50 }, { "duration": "${secs}s", "users": 50 } ] } }
JSON

# Warm nginx up so both tools meet the same state.
taskset -c "$client_cpus" wrk -t"$threads" -c50 -d1s "$url" >/dev/null

# CPU seconds used so far by nginx's workers (utime + stime from /proc), so that the scaling
# figures can say how much of the machine the client and the server took together.
nginx_cpu() {
  local t=0 pid
  for pid in $(pgrep -P "$(cat "$BENCH_TMP/nginx/nginx.pid")"); do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { print t / hz }'
}

# run_wrk T: prints "requests cpu_seconds"
run_wrk() {
  bench_timed "$BENCH_TMP/wrk.time" taskset -c "$client_cpus" wrk -t"$1" -c50 -d"${secs}s" "$url" \
    >"$BENCH_TMP/wrk.out"
  local u s
  read -r u s <"$BENCH_TMP/wrk.time"
  echo "$(awk '/requests in/ {print $1}' "$BENCH_TMP/wrk.out") $(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')"
}

# run_sp T: prints "requests cpu_seconds failures"
run_sp() {
  bench_timed "$BENCH_TMP/sp.time" taskset -c "$client_cpus" "$STAMPEDE" run "$BENCH_TMP/engine.json" \
    --threads "$1" --quiet --json "$BENCH_TMP/sp.json" >"$BENCH_TMP/sp.out"
  local u s req fail
  req=$(grep -o '"requests": [0-9]*' "$BENCH_TMP/sp.json" | head -1 | awk '{print $2}')
  fail=$(grep -o '"failures": [0-9]*' "$BENCH_TMP/sp.json" | head -1 | awk '{print $2}')
  read -r u s <"$BENCH_TMP/sp.time"
  echo "$req $(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }') $fail"
}

if [ "$threads" != 1 ]; then
  # Each line: client, threads, requests, client CPU s, nginx CPU s, failures.
  for run in "wrk 1" "stampede 1" "wrk $threads" "stampede $threads"; do
    set -- $run
    n0=$(nginx_cpu)
    if [ "$1" = wrk ]; then
      read -r req cpu < <(run_wrk "$2")
      fail=0
    else
      read -r req cpu fail < <(run_sp "$2")
    fi
    echo "$1 $2 $req $cpu $(awk -v a="$n0" -v b="$(nginx_cpu)" 'BEGIN { print b - a }') $fail"
  done >"$BENCH_TMP/scale"
  awk -v t="$threads" -v cpus="$client_cpus" -v d="$secs" -v ncpu="$(nproc)" '
    BEGIN { printf "nginx: %d workers; every process on CPUs %s; 50 connections; %d s each\n", t, cpus, d }
    { req[NR] = $3;
      printf "%-8s -t%-2d %8d requests/s  client %6.2f us CPU/request, nginx %5.2f; both: %.2f of %d cores  (%d failed)\n",
             $1, $2, $3 / d, $4 * 1e6 / $3, $5 * 1e6 / $3, ($4 + $5) / d, ncpu, $6 }
    END {
      printf "stampede %d threads / 1 thread: %.2f x requests/s (wrk -t%d / -t1: %.2f x)\n", t, req[4] / req[2], t, req[3] / req[1];
      printf "stampede %d threads / wrk -t%d: %.2f x requests/s\n", t, t, req[4] / req[3];
    }' "$BENCH_TMP/scale"
  if [ "${FUTEX:-0}" = 1 ]; then
    # A lock that threads contend for shows as futex calls; count them per request over a
    # whole run (strace slows the run, which does not change what is counted).
    command -v strace >/dev/null || { echo "missing strace: run packaging/deps.sh" >&2; exit 2; }
    strace -f -c -o "$BENCH_TMP/strace" taskset -c "$client_cpus" "$STAMPEDE" run \
      "$BENCH_TMP/engine.json" --threads "$threads" --quiet --json "$BENCH_TMP/sp.json" >/dev/null
    req=$(grep -o '"requests": [0-9]*' "$BENCH_TMP/sp.json" | head -1 | awk '{print $2}')
    awk -v r="$req" -v t="$threads" '$NF == "futex" { f = $4 } END {
      printf "under strace, %d threads: %d futex calls for %d requests (%.4f per request)\n", t, f, r, f / r }' \
      "$BENCH_TMP/strace"
  fi
  exit 0
fi

read -r wrk_req wc < <(run_wrk 1)
read -r sp_req sc sp_fail < <(run_sp 1)

fl_req=0 fc=0
if [ -x "$CURL_FLOOR" ]; then
  bench_timed "$BENCH_TMP/fl.time" taskset -c 1 "$CURL_FLOOR" loop "$url" 50 "$secs" >"$BENCH_TMP/fl.out"
  fl_req=$(awk '/^requests/ {print $2}' "$BENCH_TMP/fl.out")
  read -r fu fs <"$BENCH_TMP/fl.time"
  fc=$(awk -v u="$fu" -v s="$fs" 'BEGIN { print u + s }')
fi

awk -v wr="$wrk_req" -v wc="$wc" -v sr="$sp_req" -v sc="$sc" -v sf="$sp_fail" \
    -v fr="$fl_req" -v fc="$fc" 'BEGIN {
  w = wc * 1e6 / wr; s = sc * 1e6 / sr;
  printf "wrk:      %9d requests  %6.2f s CPU  %6.2f us/request\n", wr, wc, w;
  printf "stampede: %9d requests  %6.2f s CPU  %6.2f us/request  (%d failed)\n", sr, sc, s, sf;
  if (fr > 0) {
    f = fc * 1e6 / fr;
    printf "libcurl:  %9d requests  %6.2f s CPU  %6.2f us/request  (bare multi loop, same options)\n", fr, fc, f;
    printf "ratio libcurl/wrk: %.2f; stampede/libcurl: %.2f\n", f / w, s / f;
  }
  printf "ratio stampede/wrk: %.2f (target <= 1.5)\n", s / w;
}'
