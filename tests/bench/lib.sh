# lib.sh - shared by the benchmarks: a private nginx on a free loopback port, CPU accounting.
# Source it; it defines: bench_free_port, bench_nginx_start PORT [WORKERS], bench_nginx_stop,
# bench_cpu_us PID (user+system CPU of a finished child, from its rusage via /usr/bin/time).

bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_TMP=$(mktemp -d /tmp/stampede-bench.XXXXXX)
trap 'bench_nginx_stop; rm -rf "$BENCH_TMP"' EXIT

STAMPEDE=${STAMPEDE:-$bench_top/build/release/server/stampede}
if [ ! -x "$STAMPEDE" ]; then
  echo "build first: make build (looked for $STAMPEDE)" >&2
  exit 2
fi
# libcurl alone with the engine's transfer options (tests/tools/curl_floor.c), built beside it.
CURL_FLOOR=${CURL_FLOOR:-$(dirname "$STAMPEDE")/../tests/curl_floor}
for tool in wrk nginx taskset /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run packaging/deps.sh" >&2; exit 2; }
done

# Below the kernel's ephemeral range: a run with thousands of connections leaves as many
# TIME_WAIT sockets on ports from that range, and nginx could not bind a port among them.
bench_free_port() {
  local p lo
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
  for p in $(shuf -i 10000-$(( lo > 10050 ? lo - 1 : 40000 )) -n 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

# nginx with one worker (pinned to CPU 0 unless NGINX_CPU is set), serving a 120-byte JSON
# answer from memory, keep-alive without limits, so the peer is never the bottleneck.
bench_nginx_start() {
  local port=$1 workers=${2:-1}
  mkdir -p "$BENCH_TMP/nginx/logs"
  cat >"$BENCH_TMP/nginx/nginx.conf" <<CONF
worker_processes $workers;
worker_rlimit_nofile 20000;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/logs/error.log warn;
daemon on;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$port backlog=8192;
    location / {
      default_type application/json;
      return 200 '{"items":[{"id":101,"name":"Wireless Mouse","price":24.99}],"page":1,"total":1}';
    }
  }
}
CONF
  taskset -c "${NGINX_CPU:-0}" nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" \
    -e "$BENCH_TMP/nginx/logs/error.log"
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nginx did not start" >&2
  return 1
}

bench_nginx_stop() {
  [ -f "$BENCH_TMP/nginx/nginx.pid" ] && kill "$(cat "$BENCH_TMP/nginx/nginx.pid")" 2>/dev/null
  rm -f "$BENCH_TMP/nginx/nginx.pid"
  return 0
}

# bench_timed OUTFILE CMD...: runs CMD, writes "user_s sys_s" of it to OUTFILE.
bench_timed() {
  local out=$1; shift
  /usr/bin/time -f '%U %S' -o "$out" "$@"
}
