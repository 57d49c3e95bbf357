-- 0001_initial: tests with revisions, runs, per-second series, minute histograms, failures.
--
-- Times are milliseconds since the Unix epoch (UTC); latencies are microseconds. The
-- schema_version table is not created here: server/store.c owns it, because it must exist
-- before the first migration can be recorded.

-- Marks the file as Stampede's, so that a store never migrates another program's database
-- ("STMP"; SP_STORE_APPLICATION_ID in server/store.h).
PRAGMA application_id = 1398033744;

CREATE TABLE tests (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER,
    head_revision INTEGER NOT NULL
);
-- A name belongs to one live test at a time; deleting a test frees the name and keeps history.
CREATE UNIQUE INDEX tests_live_name ON tests (name) WHERE deleted_at IS NULL;

-- Every save is a new revision; a revision is never changed or removed, because runs point at it.
CREATE TABLE test_revisions (
    test_id    INTEGER NOT NULL REFERENCES tests (id),
    revision   INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    definition TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    PRIMARY KEY (test_id, revision)
);

CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    test_id    INTEGER NOT NULL,
    revision   INTEGER NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'passed', 'failed',
                                                  'stopped', 'aborted', 'error')),
    started_by TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER,
    overrides  TEXT,  -- JSON object, as given at start
    verdicts   TEXT,  -- JSON array of threshold verdicts, set at the end
    summary    TEXT,  -- JSON object per request name, set at the end
    error      TEXT,  -- why a run ended in error or was aborted
    FOREIGN KEY (test_id, revision) REFERENCES test_revisions (test_id, revision)
);
CREATE INDEX runs_by_test ON runs (test_id, id);
CREATE INDEX runs_by_created ON runs (created_at);

-- The request names of a run, numbered as the definition numbers them, so the per-second rows
-- carry a small integer instead of repeating the name 50 times a second.
CREATE TABLE run_names (
    run_id  INTEGER NOT NULL REFERENCES runs (id),
    name_id INTEGER NOT NULL,
    name    TEXT    NOT NULL,
    PRIMARY KEY (run_id, name_id)
) WITHOUT ROWID;

-- One row per run, second and request name. The key starts with (run_id, second) so that the
-- rows of one second are appended together at the end of the run's range: a second's
-- transaction touches one or two pages, not one page per name.
-- status and error_kinds are sparse arrays encoded as varint pairs (see docs/storage.md).
CREATE TABLE run_seconds (
    run_id      INTEGER NOT NULL,
    second      INTEGER NOT NULL,
    name_id     INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    p50         INTEGER NOT NULL,
    p95         INTEGER NOT NULL,
    p99         INTEGER NOT NULL,
    max         INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    status      BLOB,
    error_kinds BLOB,
    PRIMARY KEY (run_id, second, name_id),
    FOREIGN KEY (run_id, name_id) REFERENCES run_names (run_id, name_id)
) WITHOUT ROWID;

-- Run-level gauges and counters per second (the VU line of the charts).
CREATE TABLE run_ticks (
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    second     INTEGER NOT NULL,
    active_vus INTEGER NOT NULL,
    target_vus INTEGER NOT NULL,
    iterations INTEGER NOT NULL,
    dropped    INTEGER NOT NULL,
    lag_us_max INTEGER NOT NULL,
    PRIMARY KEY (run_id, second)
) WITHOUT ROWID;

-- Full-resolution latency histograms per run, minute and request name: the non-empty buckets
-- as varint pairs. Rows are a few kilobytes, too large for a WITHOUT ROWID table.
CREATE TABLE run_minute_hists (
    run_id  INTEGER NOT NULL,
    minute  INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    buckets BLOB    NOT NULL,
    UNIQUE (run_id, minute, name_id),
    FOREIGN KEY (run_id, name_id) REFERENCES run_names (run_id, name_id)
);

-- Distinct failure messages per run and request name, with how often each was seen.
CREATE TABLE run_failures (
    run_id  INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    message TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    UNIQUE (run_id, name_id, message),
    FOREIGN KEY (run_id, name_id) REFERENCES run_names (run_id, name_id)
);
