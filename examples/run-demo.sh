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

# The first start prints the generated admin password once on stderr. It must reach the user,
# not the log file: a filter takes that line out of the log into var/admin-password (mode 0600),
# which is shown below and removed.
rm -f var/admin-password
: >var/stampede.log
(
  umask 077
  exec "$sp_bin" serve --listen "127.0.0.1:$sp_port" --data-dir var --shop-url "http://127.0.0.1:$shop_port" \
    >>var/stampede.log 2> >(while IFS= read -r line; do
      case $line in
        "admin password: "*) printf '%s\n' "${line#admin password: }" >var/admin-password ;;
        *) printf '%s\n' "$line" ;;
      esac
    done >>var/stampede.log)
) &
sp_pid=$!
sleep 1
# Creates an API token by logging in as admin with password $1; prints it (empty on failure).
mktoken() {
  local jar csrf
  jar=$(mktemp)
  csrf=$(curl -fs -c "$jar" -H 'Content-Type: application/json' \
    --data-binary "{\"username\":\"admin\",\"password\":\"$1\"}" "$api/auth/login" 2>/dev/null |
    sed -n 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/p')
  [ -n "$csrf" ] && curl -fs -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
    -d '{"name":"make run"}' "$api/tokens" 2>/dev/null | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
  rm -f "$jar"
}
if kill -0 "$sp_pid" 2>/dev/null; then
  pids+=("$sp_pid")
  api="http://127.0.0.1:$sp_port/api/v1"
  for _ in $(seq 50); do curl -fs "$api/health" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "Dashboard:      http://127.0.0.1:$sp_port/  (open it in a browser; REST API $api, log: var/stampede.log)"
  # The first start creates the user admin and prints its password once, into the log: show it
  # here, where it is seen, and use it once to make an API token for the hints below.
  password=$(cat var/admin-password 2>/dev/null)
  rm -f var/admin-password
  token=${STAMPEDE_TOKEN:-}
  echo
  if [ -n "$password" ]; then
    echo "First start: log in to the dashboard as  admin  with the password  $password"
    echo "(it is shown only this once; change it after logging in)"
    [ -z "$token" ] && token=$(mktoken "$password")
  else
    echo "Log in as admin with the password shown on the first start (or delete var/ to start afresh)."
  fi
  echo
  if [ -n "$token" ]; then
    echo "Example tests on the server (pointed at the demo shop):"
    curl -fs -H "Authorization: Bearer $token" "$api/tests?per_page=50" 2>/dev/null |
      grep -o '"id":[0-9]*,"name":"[^"]*"' | sed 's/"id":\([0-9]*\),"name":"\(.*\)"/  #\1  \2/'
    echo
  fi
  if [ -n "$token" ] && [ "$token" != "${STAMPEDE_TOKEN:-}" ]; then
    echo "For the REST API and the CLI in another shell:"
    echo "  export STAMPEDE_TOKEN=$token"
  else
    echo "The REST API needs an API token (Authorization: Bearer). To make one, log in and ask:"
    echo "  csrf=\$(curl -s -c var/cookies -H 'Content-Type: application/json' \\"
    echo "    -d '{\"username\":\"admin\",\"password\":\"PASSWORD\"}' $api/auth/login | sed -n 's/.*\"csrf_token\":\"\\([^\"]*\\)\".*/\\1/p')"
    echo "  curl -s -b var/cookies -H \"X-CSRF-Token: \$csrf\" -H 'Content-Type: application/json' -d '{\"name\":\"cli\"}' $api/tokens"
    echo "  export STAMPEDE_TOKEN=spt_...   # the \"token\" of the answer"
    echo "(or create one in the dashboard: Settings, API tokens)"
  fi
  echo
  echo "Start a test and follow it in the dashboard (Tests, then Start), or over REST:"
  echo "  curl -X POST -H \"Authorization: Bearer \$STAMPEDE_TOKEN\" -H 'Content-Type: application/json' -d '{}' $api/tests/ID/runs"
  echo "  curl -H \"Authorization: Bearer \$STAMPEDE_TOKEN\" $api/runs/RUN_ID"
  echo "  $sp_bin remote run --server http://127.0.0.1:$sp_port 'Authenticated shopper'   # uses \$STAMPEDE_TOKEN"
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
