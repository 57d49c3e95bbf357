-- 0007_run_events: what a run's charts need to mean the same live and afterwards, and the load
-- changes made while it ran.
--
-- run_ticks gains the latency of all requests of the second (the live chart's p50/p95/p99 and
-- max, in microseconds, merged from every request name's histogram: per-name percentiles cannot
-- be merged afterwards), and, for the open model, the arrivals the profile planned for the
-- second (per second) and those that started an iteration. Runs recorded before this migration
-- have NULL there; their charts fall back to what they had.
-- p50, p95 and p99 of all requests of the second come with 0006 (the compare's baseline).
ALTER TABLE run_ticks ADD COLUMN max INTEGER;
ALTER TABLE run_ticks ADD COLUMN target_rate REAL;
ALTER TABLE run_ticks ADD COLUMN arrivals INTEGER;

-- A running run's load changed (POST /runs/:id/load): when (ms since 1970, and ms since the
-- run's start), the new target (VUs, or iterations/s in the open model), over how long it is
-- reached, and who asked. Written when the engine took the change, so a run that dies keeps it.
CREATE TABLE run_load_changes (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    at         INTEGER NOT NULL,
    elapsed_ms INTEGER NOT NULL,
    target     REAL    NOT NULL,
    ramp_ms    INTEGER NOT NULL,
    by         TEXT
);
CREATE INDEX run_load_changes_by_run ON run_load_changes (run_id, elapsed_ms);
