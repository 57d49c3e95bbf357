-- 0005_runs_incomplete: the run status 'incomplete', for a run whose results could not all be
-- stored (the disk was full): the profile ran to its end, but some of its seconds, minute
-- histograms or failure messages are missing from the database, and its error names them.
--
-- SQLite cannot change a CHECK constraint, so runs is rebuilt, keeping every row and id. The
-- store runs a migration in a transaction with foreign keys on (they cannot be turned off
-- there), and run_names and run_ticks refer to runs: dropping runs would fail their foreign
-- keys at once. defer_foreign_keys (which ends with the transaction) lets the violations of
-- the DROP wait for the commit, and putting every row back into the new runs with the same id
-- clears each of them before it, so the commit still checks every reference. The table is
-- dropped before the new one is created, never renamed: renaming a parent rewrites its
-- children's REFERENCES to the new name.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE runs_0005 AS SELECT * FROM runs;

DROP TABLE runs;

CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    test_id    INTEGER NOT NULL,
    revision   INTEGER NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'passed', 'failed',
                                                  'stopped', 'aborted', 'error', 'incomplete')),
    started_by TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER,
    overrides  TEXT,  -- JSON object, as given at start
    verdicts   TEXT,  -- JSON array of threshold verdicts, set at the end
    summary    TEXT,  -- JSON object per request name, set at the end
    error      TEXT,  -- why a run ended in error, was aborted, or is incomplete
    FOREIGN KEY (test_id, revision) REFERENCES test_revisions (test_id, revision)
);

INSERT INTO runs (id, test_id, revision, status, started_by, created_at, started_at, ended_at,
                  overrides, verdicts, summary, error)
    SELECT id, test_id, revision, status, started_by, created_at, started_at, ended_at,
           overrides, verdicts, summary, error
    FROM runs_0005 ORDER BY id;

DROP TABLE runs_0005;

-- The indexes of 0001 and 0002 went with the old table.
CREATE INDEX runs_by_test ON runs (test_id, id);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX runs_by_status ON runs (status, id);
