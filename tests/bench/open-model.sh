#!/usr/bin/env bash
# open-model.sh - the highest arrival rate this machine sustains in the open model.
#
# Runs `stampede run` in the open model (one GET per arrival, a status expectation) against a
# local nginx (one worker pinned to CPU 0; stampede on the other cores), for SECONDS per rate:
# doubling from START until a rate fails, then bisecting between the last good and the first
# bad rate. A rate is sustained when every arrival found a VU (no dropped arrivals), the achieved
# rate is within 1% of the target, and the engine's lag stays under 1 ms: the mean lateness of
# the arrivals' timers (`lag_ms_mean`). The share of arrivals over 1 ms late and the latest one
# are printed too; on a shared virtual machine a few percent of sleeps overshoot by 1-3 ms
# whatever the load (measured with a bare epoll_pwait2 loop), so those two are reported, not
# judged.
# The closed model is the peer: 50 VUs without think time on the same nginx, the same threads
# and CPUs, for SECONDS before the open rates are tried and again after them (a shared machine
# drifts; both runs are printed and their mean is the peer). The open model's target is
# ratio open/closed >= 0.8 with CPU per request within 1.2 x the closed model's (issue 18).
# The floor beside both: tests/tools/open_floor, the open model with bare sockets (no libcurl,
# one keep-alive connection per pool slot, the same stack of idle ones), at the highest rate the
# engine sustained and at 0.8 x the closed model's rate (the issue's target): what this machine
# charges any open-model client for its sleeps, wake-ups and loopback sends at those rates.
# Prints one line per rate tried (with its CPU us per request and its voluntary context switches
# per request, `sleeps/req`: the loop's sleeps, what a request costs most on a loaded machine;
# both models print it), the highest sustained rate and `ratio open/closed: X` beside it.
# Usage: tests/bench/open-model.sh [SECONDS] [START] [THREADS] (default 5, 1000, 1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-5}
start=${2:-1000}
threads=${3:-1}
port=$(bench_free_port)
bench_nginx_start "$port"

cpus=1-"$(( $(nproc) - 1 ))"

# closed -> prints "requests_per_s cpu_us_per_request sleeps_per_request"
closed() {
  cat >"$BENCH_TMP/closed.json" <<JSON
{ "name": "closed model peer", "base_url": "http://127.0.0.1:$port",
  "users": [ { "name": "u", "tasks": [ { "request": { "url": "/api/v1/products", "name": "GET /products" },
                                          "expect": { "status": 200 } } ] } ],
  "load": { "stages": [ { "duration": 0, "users": 50 }, { "duration": "${secs}s", "users": 50 } ] } }
JSON
  /usr/bin/time -f '%U %S %w' -o "$BENCH_TMP/closed.time" taskset -c "$cpus" "$STAMPEDE" run "$BENCH_TMP/closed.json" \
    --threads "$threads" --quiet --json "$BENCH_TMP/closed.result.json" >/dev/null || true
  python3 - "$BENCH_TMP/closed.result.json" "$BENCH_TMP/closed.time" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); u, s, cs = map(float, open(sys.argv[2]).read().split())
n = max(r["total"]["requests"], 1)
print("%.1f" % (n / r["duration_s"]), "%.2f" % ((u + s) * 1e6 / n), "%.3f" % (cs / n))
PY
}

# try RATE -> prints "ok|bad target achieved dropped lag_mean_ms late_% lag_max_ms cpu_us_per_request
# sleeps_per_request"
try() {
  local rate=$1 vus=$(( $1 / 10 + 100 ))
  cat >"$BENCH_TMP/open.json" <<JSON
{ "name": "open model bench", "base_url": "http://127.0.0.1:$port",
  "users": [ { "name": "u", "tasks": [ { "request": { "url": "/api/v1/products", "name": "GET /products" },
                                          "expect": { "status": 200 } } ] } ],
  "load": { "model": "open", "max_vus": $vus, "rate": $rate, "duration": "${secs}s" } }
JSON
  /usr/bin/time -f '%U %S %w' -o "$BENCH_TMP/open.time" taskset -c "$cpus" "$STAMPEDE" run "$BENCH_TMP/open.json" \
    --threads "$threads" --quiet --json "$BENCH_TMP/open.result.json" >/dev/null || true
  python3 - "$BENCH_TMP/open.result.json" "$rate" "$BENCH_TMP/open.time" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); rate = float(sys.argv[2])
u, s, cs = map(float, open(sys.argv[3]).read().split())
om = r["open_model"]
late = om["late_share"] * 100
ok = om["dropped"] == 0 and abs(om["achieved_rate"] - rate) <= rate * 0.01 \
     and om["lag_ms_mean"] < 1.0 \
     and r["total"]["failures"] == 0
print("ok" if ok else "bad", int(rate), "%.1f" % om["achieved_rate"], om["dropped"],
      "%.3f" % om["lag_ms_mean"], "%.2f" % late, "%.3f" % om["lag_ms_max"],
      "%.2f" % ((u + s) * 1e6 / max(r["total"]["requests"], 1)),
      "%.3f" % (cs / max(r["total"]["requests"], 1)))
PY
}

read -r c1_rps c1_cpu c1_cs < <(closed)
echo "closed model (50 VUs, no think): $c1_rps requests/s, $c1_cpu us CPU/request, $c1_cs sleeps/request"

fmt="%-5s %9s %10s %8s %12s %12s %12s %12s %11s\n"
printf "$fmt" "" "target/s" "achieved/s" "dropped" "lag mean ms" "late >1ms %" "lag max ms" "CPU us/req" "sleeps/req"
good=0 bad=0 rate=$start good_cpu=0
while :; do
  read -r verdict t a d l p m c z < <(try "$rate")
  printf "$fmt" "$verdict" "$t" "$a" "$d" "$l" "$p" "$m" "$c" "$z"
  if [ "$verdict" = ok ]; then good=$rate good_cpu=$c; rate=$(( rate * 2 )); else bad=$rate; break; fi
  [ "$rate" -gt 1000000 ] && break
done
# Bisect to within 5% of the rate.
while [ "$bad" -gt 0 ] && [ $(( bad - good )) -gt $(( bad / 20 )) ]; do
  rate=$(( (good + bad) / 2 ))
  read -r verdict t a d l p m c z < <(try "$rate")
  printf "$fmt" "$verdict" "$t" "$a" "$d" "$l" "$p" "$m" "$c" "$z"
  if [ "$verdict" = ok ]; then good=$rate good_cpu=$c; else bad=$rate; fi
done

read -r c2_rps c2_cpu c2_cs < <(closed)
FLOOR=${OPEN_FLOOR:-$(dirname "$STAMPEDE")/../tests/open_floor}
if [ -x "$FLOOR" ]; then
  target=$(awk -v r1="$c1_rps" -v r2="$c2_rps" 'BEGIN { printf "%d", 0.8 * (r1 + r2) / 2 }')
  for r in "$good" "$target"; do
    [ "$r" -gt 0 ] || continue
    echo "$(taskset -c "$cpus" "$FLOOR" "$port" "$r" "$secs" $(( r / 10 + 100 ))) (bare sockets)"
  done
else
  echo "open_floor not built (looked for $FLOOR): no floor printed"
fi
echo "closed model again: $c2_rps requests/s, $c2_cpu us CPU/request, $c2_cs sleeps/request"
awk -v g="$good" -v gc="$good_cpu" -v r1="$c1_rps" -v r2="$c2_rps" -v u1="$c1_cpu" -v u2="$c2_cpu" \
    -v th="$threads" 'BEGIN {
  cr = (r1 + r2) / 2; cu = (u1 + u2) / 2;
  printf "highest sustained rate: %d arrivals/s (achieved within 1%%, no drops, mean lag under 1 ms; %d engine thread(s)), %.2f us CPU/request\n", g, th, gc;
  printf "closed model: %.0f requests/s, %.2f us CPU/request (mean of the two runs)\n", cr, cu;
  printf "ratio open/closed: %.2f (rate; target >= 0.8), CPU per request %.2f (target <= 1.2)\n", g / cr, gc / cu;
}'
