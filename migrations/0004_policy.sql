-- 0004_policy: the target allowlist, caps per role, and the secrets of test definitions.
--
-- Kept apart from the access-control tables (users, sessions, tokens): nothing here refers to
-- them, because a role is only a name ('admin', 'tester', 'viewer').

-- The target allowlist, in the order the admin wrote it. No rows: every target is allowed.
CREATE TABLE policy_allowlist (
    position INTEGER PRIMARY KEY,
    entry    TEXT    NOT NULL
);

-- Caps on what one start may ask for, per role; 0 means no cap (the server's --max-* options
-- still apply). A role without a row has no caps.
CREATE TABLE policy_caps (
    role                TEXT    PRIMARY KEY CHECK (role IN ('admin', 'tester', 'viewer')),
    max_vus             INTEGER NOT NULL DEFAULT 0,
    max_rate            REAL    NOT NULL DEFAULT 0,
    max_duration_s      INTEGER NOT NULL DEFAULT 0,
    max_concurrent_runs INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Secret values of a test's definition, by name. A stored revision holds the mask in their
-- place, so a definition can be shown, exported and logged as it is; a run puts the values
-- back. Per test, not per revision: changing a password changes it for every revision.
CREATE TABLE test_secrets (
    test_id INTEGER NOT NULL REFERENCES tests (id),
    name    TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (test_id, name)
) WITHOUT ROWID;
