-- 0011_location_ticks: a run across locations keeps each location's figures of every second
-- beside the run's (server/agents/, docs/live.md), so the finished run page draws the same
-- per-location lines as the live one. A JSON object per second, as the live point's
-- "locations": {"near": {"requests", "errors", "p50_ms", "p95_ms", "p99_ms"}, ...}; NULL for
-- runs on the server's own engine and for seconds stored before this migration.
ALTER TABLE run_ticks ADD COLUMN locations TEXT;
