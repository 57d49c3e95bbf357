#!/usr/bin/env bash
# sleep-cost.sh - what one sleep and wake-up of a loop like the engine's costs on this machine.
#
# Runs tests/tools/sleep_cost (a loop that sleeps with epoll_pwait2 to evenly spaced deadlines
# and does nothing else) on CPU 1 at 1,000, 4,000 and 10,000 deadlines per second, once sleeping
# every wait and once polling the waits of 30 us or less (the engine's SPIN_NS), and prints the
# CPU each deadline cost and how late the deadlines were met. Where every wait sleeps, the CPU
# per deadline is the price of a sleep and its wake-up, which the engine's loop pays for each
# wait: on a virtual machine it is often as much as a whole request (docs/engine.md).
# Usage: tests/bench/sleep-cost.sh [SECONDS] (default 3).
set -euo pipefail
secs=${1:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SLEEP_COST:-$top/build/release/tests/sleep_cost}
[ -x "$bin" ] || { echo "build first: make build (looked for $bin)" >&2; exit 2; }
cpu=$(( $(nproc) > 1 ? 1 : 0 ))
for rate in 1000 4000 10000; do
  for spin in 0 30; do
    taskset -c "$cpu" "$bin" "$rate" "$secs" "$spin"
  done
done
