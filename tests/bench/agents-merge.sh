#!/usr/bin/env bash
# agents-merge.sh - the server's cost of a run across many agents: AGENTS agents x NAMES request
# names each send a second every second (as the wire carries it, 200 requests per name over
# ~40 histogram buckets); tests/tools/agents_merge replays SECONDS of them at real-time pace
# through the server's decode and the remote engine's exact merge, and prints the CPU it took
# (% of one core) and how late each merged second came out after its end.
# Usage: tests/bench/agents-merge.sh [AGENTS] [NAMES] [SECONDS] (default 200 50 10).
# Target (issue 17): < 20% of one core, each second out <= 1.5 s after its end.
set -euo pipefail
bin=${AGENTS_MERGE_BIN:-build/release/tests/agents_merge}
[ -x "$bin" ] || { echo "build it first: make build (or set AGENTS_MERGE_BIN)" >&2; exit 2; }
exec "$bin" "${1:-200}" "${2:-50}" "${3:-10}"
