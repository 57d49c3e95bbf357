-- 0006_baseline: what comparing runs against a baseline needs (docs/api-runs.md, "Compare").
--
-- A test may pin one of its runs (or any run) as its baseline, and keep the settings its
-- comparisons use (significance level, floors, minimum samples); a run started with a baseline
-- (the CI gate) keeps what it asked and what the comparison found; and each second of a run
-- keeps the latency percentiles of all its requests together, which the per-name rows cannot
-- give (percentiles do not add up), so that the whole run can be compared second by second
-- too. Rows written before this migration have NULL there and are compared on their merged
-- histograms instead.

ALTER TABLE tests ADD COLUMN baseline_run_id INTEGER REFERENCES runs (id);
ALTER TABLE tests ADD COLUMN compare_settings TEXT; -- JSON object; NULL: the defaults

-- {"asked", "run_id", "fail_on_regression", then at the end "verdict", "regressions", ...}
ALTER TABLE runs ADD COLUMN baseline TEXT;

-- Microseconds, over every request name of the second; NULL when the second had no request.
ALTER TABLE run_ticks ADD COLUMN p50 INTEGER;
ALTER TABLE run_ticks ADD COLUMN p95 INTEGER;
ALTER TABLE run_ticks ADD COLUMN p99 INTEGER;
