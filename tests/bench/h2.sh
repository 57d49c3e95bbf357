#!/usr/bin/env bash
# h2.sh - CPU time per request of `stampede run` with HTTP/2 beside HTTP/1.1, in the same run.
#
# One local nginx (one worker pinned to CPU 0) listens four ways: plain HTTP/1.1, h2c (HTTP/2 by
# prior knowledge), and TLS offering h2 by ALPN (a throwaway self-signed certificate). Each
# client runs pinned to CPU 1, one after the other, with 50 connections and no think time:
#   wrk over http:// and https:// (the floor for HTTP/1.1; wrk has no HTTP/2),
#   stampede "1.1" and "2" over http:// (h2c), "1.1" and "2" over https://.
# Prints each one's CPU us/request and the ratios HTTP/2 / HTTP/1.1 (same transport) and
# stampede / wrk. Nothing is asserted about time; figures from a busy machine are noisy, which
# is why every figure is printed beside its peer from the same run.
# Usage: tests/bench/h2.sh [SECONDS] (default 5) [VUS] (default 50).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-5}
vus=${2:-50}
command -v openssl >/dev/null || { echo "missing openssl: run packaging/deps.sh" >&2; exit 2; }

plain=$(bench_free_port)
h2c=$(bench_free_port)
tls=$(bench_free_port)
[ "$plain" != "$h2c" ] && [ "$h2c" != "$tls" ] && [ "$plain" != "$tls" ] || { echo "port clash, run again" >&2; exit 2; }

mkdir -p "$BENCH_TMP/nginx/logs"
chmod 755 "$BENCH_TMP" "$BENCH_TMP/nginx"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout "$BENCH_TMP/nginx/key.pem" \
  -out "$BENCH_TMP/nginx/cert.pem" -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
# The same 120-byte JSON answer from memory as lib.sh's nginx, keep-alive without limits, and
# /proto answering $server_protocol, so that each run checks it spoke what it asked for.
cat >"$BENCH_TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/logs/error.log warn;
daemon on;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  ssl_certificate $BENCH_TMP/nginx/cert.pem;
  ssl_certificate_key $BENCH_TMP/nginx/key.pem;
  server {
    listen 127.0.0.1:$plain backlog=8192;
    listen 127.0.0.1:$h2c http2 backlog=8192;
    listen 127.0.0.1:$tls ssl http2 backlog=8192;
    location / {
      default_type application/json;
      return 200 '{"items":[{"id":101,"name":"Wireless Mouse","price":24.99}],"page":1,"total":1}';
    }
    location = /proto { return 200 \$server_protocol; }
  }
}
CONF
taskset -c "${NGINX_CPU:-0}" nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" \
  -e "$BENCH_TMP/nginx/logs/error.log"
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$tls") 2>/dev/null && break
  sleep 0.1
done

# def NAME BASE HTTP_VERSION: a test like engine.sh's (a name, a status expectation), with the
# version asked for; a second step asks nginx which protocol it heard, checked after the run.
def() {
  cat >"$BENCH_TMP/$1.json" <<JSON
{ "name": "h2 bench $1", "base_url": "$2", "options": { "http_version": "$3", "insecure": true },
  "users": [ { "name": "u", "on_start": [
      { "request": { "url": "/proto", "name": "proto" }, "expect": { "body_contains": "$4" } } ],
    "tasks": [ { "steps": [
      { "request": { "method": "GET", "url": "/api/v1/products", "name": "GET /products" },
        "expect": { "status": 200 } } ] } ] } ],
  "load": { "stages": [ { "duration": 0, "users": $vus }, { "duration": "${secs}s", "users": $vus } ] } }
JSON
}
def h11 "http://127.0.0.1:$plain" 1.1 HTTP/1.1
def h2c "http://127.0.0.1:$h2c" 2 HTTP/2.0
def tls11 "https://127.0.0.1:$tls" 1.1 HTTP/1.1
def tls2 "https://127.0.0.1:$tls" 2 HTTP/2.0

# Warm nginx (and its TLS session state) up so every client meets the same state.
taskset -c 1 wrk -t1 -c"$vus" -d1s "http://127.0.0.1:$plain/api/v1/products" >/dev/null
taskset -c 1 wrk -t1 -c"$vus" -d1s "https://127.0.0.1:$tls/api/v1/products" >/dev/null

# wrk_run TAG URL -> "requests cpu_s" in $BENCH_TMP/TAG.res
wrk_run() {
  bench_timed "$BENCH_TMP/$1.time" taskset -c 1 wrk -t1 -c"$vus" -d"${secs}s" "$2" >"$BENCH_TMP/$1.out"
  local req u s
  req=$(awk '/requests in/ {print $1}' "$BENCH_TMP/$1.out")
  read -r u s <"$BENCH_TMP/$1.time"
  echo "$req $(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}') 0" >"$BENCH_TMP/$1.res"
}
# sp_run TAG -> "requests cpu_s failures" in $BENCH_TMP/TAG.res (the measured name only)
sp_run() {
  bench_timed "$BENCH_TMP/$1.time" taskset -c 1 "$STAMPEDE" run "$BENCH_TMP/$1.json" --threads 1 \
    --quiet --allow-failures --json "$BENCH_TMP/$1.out.json" >/dev/null
  local u s
  read -r u s <"$BENCH_TMP/$1.time"
  local f="$BENCH_TMP/$1.out.json"
  if [ "$(jq '[.names[] | select(.name == "proto") | .failures] | add' "$f")" != 0 ]; then
    echo "$1: the protocol check failed: $(jq -c '.names[] | select(.name == "proto") | .failure_messages' "$f")" >&2
    exit 1
  fi
  jq -r --arg cpu "$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')" \
    '.names[] | select(.name == "GET /products") | "\(.requests) \($cpu) \(.failures)"' "$f" >"$BENCH_TMP/$1.res"
}
wrk_run wrk11 "http://127.0.0.1:$plain/api/v1/products"
wrk_run wrktls "https://127.0.0.1:$tls/api/v1/products"
sp_run h11
sp_run h2c
sp_run tls11
sp_run tls2

echo "HTTP/2 vs HTTP/1.1, $vus connections, ${secs}s each, one client thread on CPU 1, nginx on CPU ${NGINX_CPU:-0}"
awk '
  FNR == 1 { tag = FILENAME; sub(/.*\//, "", tag); sub(/\.res$/, "", tag);
             req[tag] = $1; cpu[tag] = $2; fail[tag] = $3; us[tag] = $2 * 1e6 / $1 }
  END {
    split("wrk11 wrktls h11 h2c tls11 tls2", order, " ");
    label["wrk11"] = "wrk http:// HTTP/1.1";  label["wrktls"] = "wrk https:// HTTP/1.1";
    label["h11"] = "stampede http:// 1.1";   label["h2c"] = "stampede http:// 2 (h2c)";
    label["tls11"] = "stampede https:// 1.1"; label["tls2"] = "stampede https:// 2 (h2)";
    for (i = 1; i <= 6; i++) { t = order[i];
      printf "%-26s %9d requests  %6.2f s CPU  %7.2f us/request  (%d failed)\n",
             label[t], req[t], cpu[t], us[t], fail[t] }
    printf "ratio h2c/1.1 (http://):  %.2f\n", us["h2c"] / us["h11"];
    printf "ratio h2/1.1 (https://):  %.2f\n", us["tls2"] / us["tls11"];
    printf "ratio stampede/wrk 1.1:   %.2f (http://), %.2f (https://)\n",
           us["h11"] / us["wrk11"], us["tls11"] / us["wrktls"];
  }' "$BENCH_TMP/wrk11.res" "$BENCH_TMP/wrktls.res" "$BENCH_TMP/h11.res" "$BENCH_TMP/h2c.res" \
     "$BENCH_TMP/tls11.res" "$BENCH_TMP/tls2.res"
