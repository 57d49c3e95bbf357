-- 0003_access: accounts, sessions, API tokens and the audit log (docs/security.md).
--
-- No secret is stored as given: passwords are Argon2id hashes (libsodium's crypto_pwhash_str,
-- salted), session ids and API tokens are SHA-256 hashes of 32 random bytes (high entropy, so
-- a fast hash is enough). Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id                 INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    role               TEXT    NOT NULL CHECK (role IN ('admin', 'tester', 'viewer')),
    password_hash      TEXT    NOT NULL,
    -- 1 while the password is the random one made at the first start: the server refuses to
    -- listen on a non-loopback address until it is changed.
    password_generated INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- A session lives from login to logout, password change or expiry; deleting the user ends it.
CREATE TABLE sessions (
    id_hash    BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL, -- the per-session X-CSRF-Token; useless without the cookie
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    address    TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Revoked tokens are kept (revoked_at set) so that their use is answered "revoked" and listed.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL, -- the first characters, to tell tokens apart in a list
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,          -- NULL: never
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX tokens_by_user ON tokens (user_id);

-- Who did what, when, from where. Append-only: the server has no statement that changes or
-- removes a row, and these triggers refuse one from anywhere else too.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    user    TEXT    NOT NULL,
    address TEXT,
    action  TEXT    NOT NULL,
    object  TEXT,
    detail  TEXT
);
CREATE INDEX audit_by_at ON audit (at);
CREATE INDEX audit_by_user ON audit (user, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
