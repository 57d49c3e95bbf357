-- 0008_schedules_webhooks: schedules of tests and where each run came from; webhooks, their
-- deliveries and the webhook allowlist (docs/api-schedules.md, docs/api-webhooks.md).
--
-- Times are milliseconds since the Unix epoch (UTC). The scheduler (server/sched/) owns the
-- schedule tables and the delivery thread (server/notify/) the webhook tables; both go through
-- the store's SQL kit.

-- Where a run came from: a user ('manual') or a schedule ('scheduled'). schedule_id has no
-- foreign key: a run keeps the number of a schedule deleted since.
ALTER TABLE runs ADD COLUMN origin TEXT NOT NULL DEFAULT 'manual'
    CHECK (origin IN ('manual', 'scheduled'));
ALTER TABLE runs ADD COLUMN schedule_id INTEGER;
-- The fire time the run was started for.
ALTER TABLE runs ADD COLUMN fire_at INTEGER;
-- 1: a fire time that passed while the server was down, run once at the next start
-- (on_missed = 'run_once').
ALTER TABLE runs ADD COLUMN fire_missed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE schedules (
    id         INTEGER PRIMARY KEY,
    test_id    INTEGER NOT NULL REFERENCES tests (id),
    -- The user whose runs these are: started with that user's name and role caps.
    owner      TEXT    NOT NULL,
    cron       TEXT    NOT NULL,
    timezone   TEXT    NOT NULL,
    overrides  TEXT,  -- JSON object of run overrides, as given
    -- When the fire time comes while a run of the test is still going.
    if_running TEXT    NOT NULL DEFAULT 'skip' CHECK (if_running IN ('skip', 'queue')),
    -- A fire time that passed while the server was down: skipped, or run once at the start.
    on_missed  TEXT    NOT NULL DEFAULT 'skip' CHECK (on_missed IN ('skip', 'run_once')),
    paused     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- Every fire time up to this instant has been handled (started, queued, skipped or
    -- recorded as missed); the scheduler's clock, which tests may set (docs/operations.md).
    handled_to INTEGER NOT NULL,
    -- A fire time waiting for the test's run to end (if_running = 'queue'), or NULL.
    queued_at  INTEGER
);
CREATE INDEX schedules_by_test ON schedules (test_id, id);

-- What became of each fire time: the schedule's history, newest last.
CREATE TABLE schedule_fires (
    id          INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_at     INTEGER NOT NULL,
    at          INTEGER NOT NULL, -- when it was handled
    outcome     TEXT    NOT NULL
        CHECK (outcome IN ('started', 'queued', 'skipped', 'missed', 'failed')),
    run_id      INTEGER,
    detail      TEXT
);
CREATE INDEX schedule_fires_by_schedule ON schedule_fires (schedule_id, id);

CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    events     TEXT    NOT NULL, -- JSON array of event names
    format     TEXT    NOT NULL CHECK (format IN ('stampede', 'slack')),
    -- The HMAC-SHA256 key of the signatures. Kept as given, since signing needs it; never
    -- shown after it is made, never in a body or a log (docs/security.md).
    secret     TEXT    NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    created_by TEXT
);

-- One delivery of one event to one webhook, with its attempts. The body is built once, so
-- every attempt sends the same bytes under the same signature.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event           TEXT    NOT NULL,
    run_id          INTEGER,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER, -- while pending
    last_attempt_at INTEGER,
    last_status     INTEGER, -- the receiver's HTTP status, NULL when none came
    last_error      TEXT,
    last_ms         INTEGER, -- how long the last attempt took
    redelivery_of   INTEGER  -- sent again by an admin: the delivery it repeats
);
-- One delivery per webhook, event and run, whatever happens around a restart.
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (webhook_id, event, run_id)
    WHERE run_id IS NOT NULL AND redelivery_of IS NULL;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id);

-- The addresses webhooks may reach, in the order the admin wrote them; the target allowlist
-- (policy_allowlist) does not apply to webhooks. No rows: every address is allowed.
CREATE TABLE webhook_allowlist (
    position INTEGER PRIMARY KEY,
    entry    TEXT    NOT NULL
);
