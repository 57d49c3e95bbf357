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
  echo "Dashboard:      http://127.0.0.1:$sp_port/  (log: var/stampede.log)"
else
  echo "Stampede server: not started:"
  sed 's/^/  /' var/stampede.log
fi
echo
echo "Example tests (run one from the command line against the demo shop):"
for f in examples/*.json; do
  [ -e "$f" ] || continue
  echo "  $sp_bin run $f --base-url http://127.0.0.1:$shop_port"
done
echo
echo "Press Ctrl-C to stop."
wait
