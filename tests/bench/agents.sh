#!/usr/bin/env bash
# agents.sh - a run across AGENTS `stampede agent` processes on this machine against one
# `stampede run` with the same total threads, the same definition (USERS VUs without think time
# on one request name) and the same duration, both against the same local nginx (issue 17).
#
# The agents (one engine thread each) connect to a `stampede serve --no-auth` daemon on loopback,
# which splits the run over them (location "bench", 100%) and merges their seconds; the single
# run gets --threads AGENTS. nginx has 2 workers and nothing is pinned: every process shares the
# machine's cores, as the agents would share a host. For each side it prints the requests it
# recorded, checked against what nginx counted (stub_status, before and after: recorded never
# exceeds served, and the gap is at most the requests in flight at the end, one per VU), the
# merged throughput, and the CPU per request: the load generators' (the agents', or the run's)
# and, for the agents, with the server's decode and merge added.
# Usage: tests/bench/agents.sh [SECONDS] [AGENTS] [USERS] [ROUNDS] (default 10 4 50 2): ROUNDS
# rounds, alternating which side goes first. With PROCS=1, each round also runs AGENTS plain
# `stampede run --threads 1` processes at once, the VUs split as the server splits them: the
# agents' process structure without the agents, which tells what costs the agents' own code
# from what costs being AGENTS processes rather than one.
# Targets: throughput of the agents >= 0.9 x the single run's; CPU per request within 10%.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-10}
nagents=${2:-4}
users=${3:-50}
rounds=${4:-2}
command -v jq >/dev/null || { echo "missing jq: run packaging/deps.sh" >&2; exit 2; }
port=$(bench_free_port)

# lib.sh's nginx, plus a stub_status location on its own port that the counts are read from.
NGINX_CPU=0-$(($(nproc) - 1)) bench_nginx_start "$port" 2
status_port=$(bench_free_port)
sed -i "s|^  server {|  server { listen 127.0.0.1:$status_port; location / { stub_status; } }\n  server {|" \
  "$BENCH_TMP/nginx/nginx.conf"
nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -e "$BENCH_TMP/nginx/logs/error.log" \
  -s reload
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$status_port/" >/dev/null && break
  sleep 0.1
done
# Requests nginx has served so far, less the stub_status reads themselves (one per call).
reads=0
served() {
  reads=$((reads + 1))
  echo $(($(curl -sf "http://127.0.0.1:$status_port/" | awk 'NR == 3 { print $3 }') - reads))
}

cat >"$BENCH_TMP/def.json" <<JSON
{ "name": "agents bench", "base_url": "http://127.0.0.1:$port",
  "users": [ { "name": "u", "tasks": [ { "steps": [
      { "request": { "method": "GET", "url": "/api/v1/products", "name": "GET /products" },
        "expect": { "status": 200 } } ] } ] } ],
  "load": { "stages": [ { "duration": 0, "users": $users }, { "duration": "${secs}s", "users": $users } ] } }
JSON

# CPU seconds (user + system) a live process has used so far.
cpu_of() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Warm nginx up.
wrk -t1 -c"$users" -d1s "http://127.0.0.1:$port/api/v1/products" >/dev/null

# The server and its agents, up for every round.
api=$(bench_free_port)
live=$(bench_free_port)
mkdir -p "$BENCH_TMP/data"
"$STAMPEDE" serve --listen "127.0.0.1:$api" --live-port "$live" --data-dir "$BENCH_TMP/data" \
  --no-auth >"$BENCH_TMP/serve.log" 2>&1 &
srv=$!
pids=("$srv")
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bench_nginx_stop
  rm -rf "$BENCH_TMP"
}
trap cleanup EXIT
base="http://127.0.0.1:$api"
for _ in $(seq 100); do
  curl -sf "$base/api/v1/config" >/dev/null && break
  sleep 0.1
done
for i in $(seq "$nagents"); do
  "$STAMPEDE" agent --server "$base" --location bench --name "a$i" --threads 1 \
    >"$BENCH_TMP/agent$i.log" 2>&1 &
  pids+=("$!")
done
for _ in $(seq 100); do
  idle=$(curl -sf "$base/api/v1/agents" | jq '[.agents[] | select(.state == "idle")] | length')
  [ "$idle" = "$nagents" ] && break
  sleep 0.1
done
[ "$idle" = "$nagents" ] || { echo "only $idle of $nagents agents came up" >&2; exit 1; }
test_id=$(curl -sf -X POST -H 'Content-Type: application/json' --data @"$BENCH_TMP/def.json" \
  "$base/api/v1/tests" | jq .id)

cpu_all() {
  for p in "$@"; do cpu_of "$p"; done | awk '{ t += $1 } END { printf "%.2f\n", t }'
}
agent_pids=("${pids[@]:1}")

# Each adds to its side's totals: requests recorded, failed, served by nginx, CPU s.
run_req=0 run_fail=0 run_served=0 run_cpu=0
ag_req=0 ag_fail=0 ag_served=0 ag_cpu=0 srv_cpu=0 bad=0
check() { # name recorded served
  if [ "$2" -gt "$3" ] || [ $(($3 - $2)) -gt "$users" ]; then
    echo "COUNT MISMATCH: $1 recorded $2 requests, nginx served $3" >&2
    bad=1
  fi
}
add() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
# One line per side and round, so that the spread of each side over the rounds (the machine's
# noise) can be read beside the totals.
round_line() { # side requests cpu_s
  awk -v r="$r" -v w="$1" -v n="$2" -v c="$3" -v d="$secs" \
    'BEGIN { printf "round %d %-6s %9.0f requests/s  %6.2f us CPU/request\n", r, w, n / d, c * 1e6 / n }'
}

one_run() {
  local n0 got req fail u s
  n0=$(served)
  bench_timed "$BENCH_TMP/run.time" "$STAMPEDE" run "$BENCH_TMP/def.json" --threads "$nagents" \
    --quiet --json "$BENCH_TMP/run.json" >"$BENCH_TMP/run.out" || true
  got=$(($(served) - n0))
  req=$(jq .total.requests "$BENCH_TMP/run.json")
  fail=$(jq .total.failures "$BENCH_TMP/run.json")
  check "stampede run" "$req" "$got"
  read -r u s <"$BENCH_TMP/run.time"
  run_req=$((run_req + req)) run_fail=$((run_fail + fail)) run_served=$((run_served + got))
  run_cpu=$(add "$run_cpu" "$(add "$u" "$s")")
  round_line run "$req" "$(add "$u" "$s")"
}

agents_run() {
  local a0 s0 n0 got id st req fail cpu
  a0=$(cpu_all "${agent_pids[@]}")
  s0=$(cpu_of "$srv")
  n0=$(served)
  id=$(curl -sf -X POST -H 'Content-Type: application/json' \
    --data '{"locations": {"bench": 100}}' "$base/api/v1/tests/$test_id/runs" | jq .id)
  # Asked nothing while the load lasts (it starts SP_RUNS_AGENT_LEAD_MS = 0.5 s after the POST):
  # one status poll costs some 40 ms of CPU here (curl, and jq 1.6 starting up), so polling
  # every 0.1 s would take a third of a core from the agents that the single run, waited for
  # by /usr/bin/time, keeps.
  sleep "$secs.5"
  for _ in $(seq 300); do
    st=$(curl -sf "$base/api/v1/runs/$id" | jq -r .status)
    case $st in passed | failed | stopped | degraded | aborted) break ;; esac
    sleep 0.1
  done
  got=$(($(served) - n0))
  cpu=$(add "$(cpu_all "${agent_pids[@]}")" "-$a0")
  ag_cpu=$(add "$ag_cpu" "$cpu")
  srv_cpu=$(add "$srv_cpu" "$(add "$(cpu_of "$srv")" "-$s0")")
  curl -sf "$base/api/v1/runs/$id/stats" >"$BENCH_TMP/ag.json"
  req=$(jq .total.requests "$BENCH_TMP/ag.json")
  fail=$(jq .total.failures "$BENCH_TMP/ag.json")
  check "agents (run $id)" "$req" "$got"
  [ "$st" = passed ] || { echo "the agents' run $id ended $st" >&2; bad=1; }
  ag_req=$((ag_req + req)) ag_fail=$((ag_fail + fail)) ag_served=$((ag_served + got))
  round_line agents "$req" "$cpu"
}

# PROCS=1: AGENTS `stampede run --threads 1` at once, process i with the VUs from
# USERS * (i - 1) / AGENTS to USERS * i / AGENTS.
pr_req=0 pr_served=0 pr_cpu=0
procs_run() {
  local n0 got i req=0 cpu=0 u s ps=()
  for i in $(seq "$nagents"); do
    jq ".load.stages |= map(.users = $((users * i / nagents - users * (i - 1) / nagents)))" \
      "$BENCH_TMP/def.json" >"$BENCH_TMP/def$i.json"
  done
  n0=$(served)
  for i in $(seq "$nagents"); do
    bench_timed "$BENCH_TMP/p$i.time" "$STAMPEDE" run "$BENCH_TMP/def$i.json" --threads 1 \
      --quiet --json "$BENCH_TMP/p$i.json" >/dev/null &
    ps+=("$!")
  done
  wait "${ps[@]}" || true
  got=$(($(served) - n0))
  for i in $(seq "$nagents"); do
    req=$((req + $(jq .total.requests "$BENCH_TMP/p$i.json")))
    read -r u s <"$BENCH_TMP/p$i.time"
    cpu=$(add "$cpu" "$(add "$u" "$s")")
  done
  check "$nagents x stampede run" "$req" "$got"
  pr_req=$((pr_req + req)) pr_served=$((pr_served + got)) pr_cpu=$(add "$pr_cpu" "$cpu")
  round_line procs "$req" "$cpu"
}

# ROUNDS rounds, the order alternating (run, agents, agents, run, ...), so that what the rest of
# a shared machine does weighs on both sides alike.
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    one_run
    agents_run
  else
    agents_run
    one_run
  fi
  [ "${PROCS:-0}" = 1 ] && procs_run
done

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); nginx: 2 workers;" \
  "$users VUs, no think time; $rounds rounds of ${secs} s each, totals:"
awk -v d="$((secs * rounds))" -v n="$nagents" -v rr="$run_req" -v rs="$run_served" \
    -v rc="$run_cpu" -v rf="$run_fail" -v ar="$ag_req" -v as="$ag_served" -v ac="$ag_cpu" \
    -v sc="$srv_cpu" -v af="$ag_fail" 'BEGIN {
  r = rc * 1e6 / rr; a = ac * 1e6 / ar; as_ = (ac + sc) * 1e6 / ar;
  printf "stampede run --threads %d: %9d requests (nginx served %d, %d failed)  %8.0f requests/s  %6.2f us CPU/request\n", n, rr, rs, rf, rr / d, r;
  printf "%d agents x 1 thread:      %9d requests (nginx served %d, %d failed)  %8.0f requests/s  %6.2f us CPU/request (agents), %6.2f with the server (%.1f%% of a core)\n", n, ar, as, af, ar / d, a, as_, sc * 100 / d;
  printf "throughput agents/run: %.2f (target >= 0.9); CPU per request agents/run: %.2f, with the server %.2f (target within 10%%)\n", ar / rr, a / r, as_ / r;
}'
if [ "${PROCS:-0}" = 1 ]; then
  awk -v d="$((secs * rounds))" -v n="$nagents" -v pr="$pr_req" -v ps="$pr_served" -v pc="$pr_cpu" \
      -v rr="$run_req" -v rc="$run_cpu" -v ar="$ag_req" -v ac="$ag_cpu" 'BEGIN {
    p = pc * 1e6 / pr;
    printf "%d x stampede run --threads 1: %9d requests (nginx served %d)  %8.0f requests/s  %6.2f us CPU/request\n", n, pr, ps, pr / d, p;
    printf "CPU per request processes/run: %.2f (being %d processes); agents/processes: %.2f (the agents own code)\n", p / (rc * 1e6 / rr), n, (ac * 1e6 / ar) / p;
  }'
fi
exit "$bad"
