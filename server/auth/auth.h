/*
 * auth.h - accounts, sessions, API tokens, login rate limiting and the audit log of
 * `stampede serve` (docs/security.md).
 *
 * What is stored, and how: users with a role (admin, tester, viewer) and an Argon2id password
 * hash (libsodium's crypto_pwhash_str, salted); sessions and API tokens as the SHA-256 of
 * 32 random bytes, never the value itself; the audit log as an append-only table (triggers
 * refuse UPDATE and DELETE). Passwords, session ids and tokens are never logged, and only the
 * calls that create them return them.
 *
 * Who decides: http/http.c sp_http_access_check() is the one place that decides who may do
 * what; it calls sp_auth_identify() here to turn a Bearer token or a session cookie into a
 * user and a role. The routes (server/api/api_auth.c) call the rest.
 *
 * Calling sequence: sp_auth_new() on the main thread after the store has migrated the database
 * (it creates the first admin when there is no user); then any thread may call everything;
 * sp_auth_free() after the HTTP server and the live stream have stopped.
 *
 * Threads: an sp_auth holds one SQLite connection of its own, used under a mutex (each call is
 * one or two indexed statements). Password hashing runs outside that mutex and at most
 * SP_AUTH_HASH_CONCURRENCY at a time, because each takes SP_AUTH_PWHASH_MEM bytes. The login
 * rate limiter is an in-memory table of SP_AUTH_RL_SLOTS counters (per address and user, per
 * address, per user) under its own mutex, which also reserves each password check before it
 * starts (sp_auth_login).
 *
 * Errors: 0 or a negative SP_E* code with a one-line reason in msg. SP_EINVAL: bad input (msg
 * names the field); SP_ENOTFOUND: no such user or token; SP_ESTATE: a conflict (a name in use,
 * the last admin); SP_EUNAUTH: bad, expired or revoked credentials; SP_ELIMIT: rate
 * limited; SP_EFULL: the disk is full (a write failed); SP_EUNAVAILABLE: the database was busy
 * past its busy timeout; SP_EIO: the database failed otherwise (store/sql.h's codes, as they
 * came: the client's msg names the first two, never SQLite's message).
 */
#ifndef SP_AUTH_H
#define SP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/common.h"
#include "base/errors.h"

typedef struct sp_auth sp_auth;

typedef struct sp_auth_config {
    const char *db_path; /* the migrated database (borrowed) */
    int enabled;         /* 0: --no-auth (loopback clients are "local" with role admin) */
    /* Extra names of this server for the Host and Origin checks (--server-name), borrowed:
     * copied. The listen address and the loopback names are always ours. */
    const char *const *server_names;
    size_t n_server_names;
    const char *admin_password; /* STAMPEDE_ADMIN_PASSWORD, or NULL: a random one */
    unsigned session_ttl_s;     /* 0: SP_AUTH_SESSION_TTL_S */
} sp_auth_config;

/*
 * Opens the database at cfg->db_path. When it has no user, creates "admin" with role admin
 * and cfg->admin_password, or a random password, which is then copied to generated (of
 * genlen bytes, at least 64; "" otherwise) for the caller to show once; the library prints
 * nothing. An admin password shorter than SP_AUTH_PASSWORD_MIN is refused (SP_EINVAL).
 */
int sp_auth_new(sp_auth **out, const sp_auth_config *cfg, char *generated, size_t genlen, char *err,
                size_t errlen);
/* Closes the connection. NULL is ignored. */
void sp_auth_free(sp_auth *a);

/* Whether access control is on (0 with --no-auth). */
int sp_auth_enabled(const sp_auth *a);
/* Whether some user still has the password generated at the first start (1), none (0), or
 * the database failed (negative). */
int sp_auth_password_still_generated(sp_auth *a);
/* Whether name (a host name without port, brackets removed) was given with --server-name. */
int sp_auth_is_server_name(const sp_auth *a, const char *name);
/* The --server-name names (borrowed, as long as a lives) in *names; returns how many. NULL a:
 * none. */
size_t sp_auth_server_names(const sp_auth *a, const char *const **names);

/*
 * Permissions a route requires. Roles (issue 6) map to sets of these: viewer = READ,
 * tester = READ|WRITE|RUN, admin = everything. PUBLIC routes (the dashboard's static files,
 * health) are served to anyone who passes the Host check.
 */
typedef enum sp_perm {
    SP_PERM_PUBLIC = 0,
    SP_PERM_READ = 1 << 0,  /* read tests, runs, results */
    SP_PERM_WRITE = 1 << 1, /* create, edit, delete tests */
    SP_PERM_RUN = 1 << 2,   /* start, stop, change a run's load */
    SP_PERM_ADMIN = 1 << 3, /* users, tokens, allowlist, audit log */
} sp_perm;

/* The sp_perm bits of a role name, 0 for an unknown role. */
unsigned sp_auth_role_perms(const char *role);

/* ---- Identification (called by sp_http_access_check) ---- */

typedef struct sp_auth_who {
    char user[64];
    char role[16];
    unsigned perms;
    int by_session; /* 1: the session cookie (csrf is set); 0: a Bearer token */
    char csrf[68];
} sp_auth_who;

/*
 * Finds the user of an Authorization header value ("Bearer T") or, when authorization is
 * NULL, of the sp_session cookie in a Cookie header value. Returns 0 with *who filled;
 * SP_ENOTFOUND when neither carries a credential; SP_EUNAUTH when the credential is
 * unknown, expired or revoked (msg says which). Thread-safe.
 */
int sp_auth_identify(sp_auth *a, const char *authorization, const char *cookie, sp_auth_who *who,
                     char *msg, size_t msglen);

/*
 * Finds the value of cookie name in a Cookie header value (RFC 6265 "a=b; c=d"): copies it
 * into out (outlen bytes) and returns 0; SP_ENOTFOUND when absent; SP_ELIMIT when the header
 * is longer than SP_AUTH_MAX_COOKIE or the value does not fit. A bounded parser of outside
 * input (tests/fuzz/fuzz_cookie.c).
 */
int sp_auth_cookie_get(const char *header, const char *name, char *out, size_t outlen);

/* Compares two NUL-terminated strings in time that depends only on their lengths. */
int sp_auth_equal(const char *a, const char *b);

/* ---- Sessions ---- */

typedef struct sp_auth_session {
    char sid[68];  /* the cookie value: shown to the client once, stored hashed */
    char csrf[68]; /* the X-CSRF-Token */
    int64_t expires_at;
    unsigned max_age_s;
    char user[64];
    char role[16];
} sp_auth_session;

/*
 * Checks a user name and password and starts a session. Refused before any hashing, with
 * SP_ELIMIT and *retry_after_s set, when within SP_AUTH_RL_WINDOW_S: this user from this
 * address has had SP_AUTH_RL_FAILURES failures, or this address SP_AUTH_RL_ADDR_FAILURES
 * (whatever the names), or this user SP_AUTH_RL_USER_FAILURES from anywhere and a check of it
 * began less than SP_AUTH_RL_USER_GAP_MS ago (a short spacing, never a lockout: an attacker
 * at other addresses cannot keep the user out). Checks under way count as failures until they
 * end, so concurrent logins never check more passwords than the limits allow. A success clears
 * the count of its address and user. Bad credentials: SP_EUNAUTH (the same message whether
 * the user exists or not). Thread-safe; takes about a tenth of a second (Argon2id).
 */
int sp_auth_login(sp_auth *a, const char *address, const char *user, const char *password,
                  sp_auth_session *out, unsigned *retry_after_s, char *msg, size_t msglen);
/* Ends the session of a cookie value (a no-op when unknown). */
int sp_auth_logout(sp_auth *a, const char *sid);
/*
 * Changes user's password after checking current, and ends every session of the user except
 * keep_sid (NULL: all). Clears the "generated" mark. SP_EUNAUTH when current is wrong.
 */
int sp_auth_password_change(sp_auth *a, const char *user, const char *current, const char *next,
                            const char *keep_sid, char *msg, size_t msglen);

/* ---- API tokens ---- */

/*
 * Creates a token for user: name (1..SP_AUTH_NAME_MAX bytes), expires_in_s (0: never).
 * *out gets {"id", "name", "token", "prefix", "created_at", "expires_at"} (new reference):
 * the only time the token itself is returned.
 */
int sp_auth_token_create(sp_auth *a, const char *user, const char *name, int64_t expires_in_s,
                         json_t **out, char *msg, size_t msglen);
/* {"items": [{"id", "name", "user", "prefix", "created_at", "expires_at", "last_used_at",
 * "revoked_at", "state"}...]} of user (NULL: everybody's), newest first. New reference. */
int sp_auth_token_list(sp_auth *a, const char *user, json_t **out);
/* Revokes token id, which must belong to user (NULL: anybody's). SP_ENOTFOUND otherwise.
 * *name_out (may be NULL, 64 bytes) gets the token's name for the audit log. */
int sp_auth_token_revoke(sp_auth *a, int64_t id, const char *user, char *name_out, char *msg,
                         size_t msglen);

/* ---- Agent tokens (server/agents: an agent's upgrade) ---- */

/*
 * Agent tokens are their own kind ("spa_" + 64 hex digits, stored as SHA-256 like API tokens):
 * they let an agent register and take work, nothing else; sp_auth_identify refuses one with
 * SP_EFORBIDDEN (403). Created by an admin (by: who, for the record; may be NULL): *out gets
 * {"id", "name", "token", "prefix"} (new reference), the only time the token is returned.
 */
int sp_auth_agent_token_create(sp_auth *a, const char *by, const char *name, json_t **out,
                               char *msg, size_t msglen);
/* {"items": [{"id", "name", "prefix", "created_by", "created_at", "last_used_at",
 * "revoked_at", "state"}...]}, newest first, never the token. New reference. */
int sp_auth_agent_token_list(sp_auth *a, json_t **out);
/* Revokes agent token id: SP_ENOTFOUND when there is no live one. *name_out (64 bytes, may be
 * NULL) gets its name. */
int sp_auth_agent_token_revoke(sp_auth *a, int64_t id, char *name_out, char *msg, size_t msglen);
/* 0 and *id when token is a live agent token; SP_EUNAUTH otherwise. Any thread. */
int sp_auth_agent_token_check(sp_auth *a, const char *token, int64_t *id);

/* ---- Users ---- */

/* The role of user name in role (rolelen bytes): 0, SP_ENOTFOUND for no such user, SP_EIO.
 * Without access control (--no-auth) every name is an admin. For work done later on a user's
 * behalf (a schedule's runs start with its owner's role as it is then). */
int sp_auth_user_role(sp_auth *a, const char *name, char *role, size_t rolelen);

/* {"items": [{"name", "role", "created_at", "updated_at", "password_generated"}...]}. */
int sp_auth_user_list(sp_auth *a, json_t **out);
int sp_auth_user_create(sp_auth *a, const char *name, const char *password, const char *role,
                        char *msg, size_t msglen);
/* Sets the role and/or the password (either may be NULL). A new password ends the user's
 * sessions. Demoting the last admin is SP_ESTATE. */
int sp_auth_user_update(sp_auth *a, const char *name, const char *role, const char *password,
                        char *msg, size_t msglen);
/* Deletes a user with their sessions and tokens. The last admin cannot go (SP_ESTATE). */
int sp_auth_user_delete(sp_auth *a, const char *name, char *msg, size_t msglen);

/* ---- Audit log ---- */

/*
 * Appends an entry: user (the acting principal, "-" when unknown), address (the client's
 * numeric address, may be NULL), action ("login", "test.create", "run.start", ...), object
 * (what it acted on, may be NULL) and detail (may be NULL). Values are cut to
 * SP_AUTH_AUDIT_VALUE_MAX bytes. Never fails the caller's request: a database failure is
 * logged and returned. Thread-safe.
 */
int sp_auth_audit(sp_auth *a, const char *user, const char *address, const char *action,
                  const char *object, const char *detail);

/*
 * A refused request's entry ("denied"), written at most SP_AUTH_AUDIT_DENIED_PER_S times a
 * second so that a flood of bad requests cannot grow the log without bound; the entries
 * left out are counted in the next one written.
 */
void sp_auth_audit_denied(sp_auth *a, const char *user, const char *address, const char *object,
                          const char *detail);

typedef struct sp_auth_audit_filter {
    const char *user;   /* NULL: any */
    const char *action; /* NULL: any; "run" matches "run.start", "run.stop", ... */
    int64_t since_ms;   /* 0: no bound */
    int64_t until_ms;   /* 0: no bound */
    int limit;          /* 0: 100; at most SP_AUTH_AUDIT_PAGE_MAX */
} sp_auth_audit_filter;
/* {"entries": [{"id", "at", "user", "address", "action", "object", "detail"}...]}, newest
 * first. New reference. */
int sp_auth_audit_list(sp_auth *a, const sp_auth_audit_filter *f, json_t **out);

#endif
