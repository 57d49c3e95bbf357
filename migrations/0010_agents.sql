-- 0010_agents: runs across agents (server/agents/, docs/agents-protocol.md).
--
-- The run status 'degraded': an agent was lost during a run that went on with the others; the
-- run's summary names it (agents_lost: name, location, second). SQLite cannot change a CHECK
-- constraint, so runs is rebuilt as 0005 did (see there why defer_foreign_keys and why the
-- table is dropped before the new one is made), with every column added since.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE runs_0010 AS SELECT * FROM runs;

DROP TABLE runs;

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    test_id     INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'passed', 'failed',
                                                   'stopped', 'aborted', 'error', 'incomplete',
                                                   'degraded')),
    started_by  TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    ended_at    INTEGER,
    overrides   TEXT,  -- JSON object, as given at start
    verdicts    TEXT,  -- JSON array of threshold verdicts, set at the end
    summary     TEXT,  -- JSON object per request name, set at the end
    error       TEXT,  -- why a run ended in error, was aborted, or is incomplete
    baseline    TEXT,  -- 0006
    origin      TEXT    NOT NULL DEFAULT 'manual' CHECK (origin IN ('manual', 'scheduled')),
    schedule_id INTEGER,
    fire_at     INTEGER,
    fire_missed INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (test_id, revision) REFERENCES test_revisions (test_id, revision)
);

INSERT INTO runs (id, test_id, revision, status, started_by, created_at, started_at, ended_at,
                  overrides, verdicts, summary, error, baseline, origin, schedule_id, fire_at,
                  fire_missed)
    SELECT id, test_id, revision, status, started_by, created_at, started_at, ended_at,
           overrides, verdicts, summary, error, baseline, origin, schedule_id, fire_at,
           fire_missed
    FROM runs_0010 ORDER BY id;

DROP TABLE runs_0010;

CREATE INDEX runs_by_test ON runs (test_id, id);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX runs_by_status ON runs (status, id);

-- Agent tokens: their own kind, made by an admin. They let an agent register and take work,
-- nothing else: a REST call with one is refused (403). Stored hashed like API tokens (SHA-256
-- of 32 random bytes); revoked ones are kept so that their use is answered "revoked".
CREATE TABLE agent_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    created_by   TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
