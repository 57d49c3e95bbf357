-- 0005_group_names: a run's names may be groups as well as requests.
--
-- A group (a "group" step of a test) is timed as a whole and stored like a request name: its
-- per-second rows, minute histograms and failure messages use the same name ids. What tells
-- the two apart is this kind, so that a run's totals never count a group's runs as requests.
ALTER TABLE run_names ADD COLUMN kind TEXT NOT NULL DEFAULT 'request'
    CHECK (kind IN ('request', 'group'));
