#!/usr/bin/env bash
# ramp.sh - the generator's own lateness while a large closed-model ramp completes.
#
# One engine thread ramps to VUS (15,000) VUs over RAMP seconds, then holds them for HOLD
# seconds; each VU thinks 1-3 s between GETs to a local nginx (one worker, access log off, on a
# free loopback port) that answers in well under a millisecond. Any latency the run reports
# beyond that is the generator's, and the engine says so itself: every second carries the
# worker loop's longest gap (`lag_ms`, the JSON's per-second lag_ms_max). Prints, per second,
# the VUs, requests, the loop lag, the target's p50 and max latency and the new connections
# with their mean connect time, then the verdict line `max loop lag X ms`. It asserts nothing
# about time: the figures depend on the machine (target: under 20 ms in every second on a quiet
# one). The run is bounded: RAMP + HOLD seconds plus a 5 s graceful stop, and `timeout` kills it
# past twice that.
# Usage: tests/bench/ramp.sh [VUS] [RAMP] [HOLD] (default 15000 10 8).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
vus=${1:-15000}
ramp=${2:-10}
hold=${3:-8}
hard=$(ulimit -Hn)
want=$((vus + 5000))
[ "$hard" != unlimited ] && [ "$hard" -lt "$want" ] && want=$hard
ulimit -n "$want"
port=$(bench_free_port)
bench_nginx_start "$port"

cat >"$BENCH_TMP/ramp.json" <<JSON
{ "name": "ramp bench", "base_url": "http://127.0.0.1:$port",
  "options": { "graceful_stop": "5s" },
  "users": [ { "name": "u", "think": { "between_ms": [1000, 3000] },
    "tasks": [ { "request": { "url": "/api/v1/products", "name": "GET /products" },
                 "expect": { "status": 200 } } ] } ],
  "load": { "stages": [ { "duration": "${ramp}s", "users": $vus },
                        { "duration": "${hold}s", "users": $vus } ] } }
JSON
limit=$(( (ramp + hold + 5) * 2 + 10 ))
taskset -c 1 timeout "$limit" "$STAMPEDE" run "$BENCH_TMP/ramp.json" --threads 1 --quiet \
  --allow-failures --json "$BENCH_TMP/ramp.result.json" >/dev/null || true
python3 - "$BENCH_TMP/ramp.result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("%4s %6s %8s %9s %9s %9s %8s %11s %s" % ("sec", "vus", "requests", "lag ms", "p50 ms",
      "max ms", "connects", "connect ms", ""))
worst = 0.0
for s in r["seconds"]:
    c = s.get("connects", 0)
    cm = s.get("connect_ms", {}).get("avg", 0.0) if c else 0.0
    worst = max(worst, s["lag_ms"])
    print("%4d %6d %8d %9.2f %9.2f %9.2f %8d %11.2f %s" % (s["t"] + 1, s["vus"], s["requests"],
          s["lag_ms"], s["p50"], s["max"], c, cm, "stall" if s.get("stall") else ""))
t = r["total"]
print("requests %d, failures %d, p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (t["requests"],
      t["failures"], t["latency_ms"]["p50"], t["latency_ms"]["p99"], t["latency_ms"]["max"]))
print("max loop lag %.1f ms" % worst)
PY
