#!/usr/bin/env bash
# Starts the demo shop API and `stampede serve` on 127.0.0.1, prints where to go, and stops both
# on Ctrl-C. Called by `make run` with the build directory as its argument.
# Ports: SHOP_PORT (default 8090), STAMPEDE_PORT (default 8484); data in ./var.
set -uo pipefail
build=${1:-build/release}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
shop_port=${SHOP_PORT:-8090}
sp_port=${STAMPEDE_PORT:-8484}
shop_bin=$build/examples/shop-api/shop-api
sp_bin=$build/server/stampede
mkdir -p var

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  echo "Stopped."
  exit 0
}
trap stop INT TERM EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_busy "$shop_port"; then
  echo "Port $shop_port is taken; set SHOP_PORT to another port." >&2; exit 1
fi
"$shop_bin" --port "$shop_port" >var/shop-api.log 2>&1 &
pids+=($!)
for _ in $(seq 50); do port_busy "$shop_port" && break; sleep 0.1; done
port_busy "$shop_port" || { echo "The demo shop API did not start; see var/shop-api.log" >&2; exit 1; }
echo "Demo shop API:  http://127.0.0.1:$shop_port/api/v1/products  (log: var/shop-api.log)"

"$sp_bin" serve --listen "127.0.0.1:$sp_port" --data-dir var --shop-url "http://127.0.0.1:$shop_port" \
  >var/stampede.log 2>&1 &
sp_pid=$!
sleep 1
if kill -0 "$sp_pid" 2>/dev/null; then
  pids+=("$sp_pid")
  api="http://127.0.0.1:$sp_port/api/v1"
  for _ in $(seq 50); do curl -fs "$api/health" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "Server:         http://127.0.0.1:$sp_port/  (REST API $api, log: var/stampede.log)"
  echo
  echo "Example tests on the server (pointed at the demo shop):"
  curl -fs "$api/tests?per_page=50" 2>/dev/null |
    grep -o '"id":[0-9]*,"name":"[^"]*"' | sed 's/"id":\([0-9]*\),"name":"\(.*\)"/  #\1  \2/'
  echo
  echo "Start one and follow it (the browser dashboard comes in a later release):"
  echo "  curl -X POST -H 'Content-Type: application/json' -d '{}' $api/tests/ID/runs"
  echo "  curl $api/runs/RUN_ID"
  echo "  $sp_bin remote run --server http://127.0.0.1:$sp_port 'Authenticated shopper'"
else
  echo "Stampede server: not started:"
  sed 's/^/  /' var/stampede.log
fi
echo
echo "Or run a test without the server:"
for f in examples/*.json; do
  [ -e "$f" ] || continue
  echo "  $sp_bin run $f --base-url http://127.0.0.1:$shop_port"
done
echo
echo "Press Ctrl-C to stop."
wait
