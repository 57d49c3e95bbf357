/*
 * auth.c - see auth.h.
 */
#include "auth/auth.h"

#include <ctype.h>
#include <stdarg.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <sqlite3.h>

#include "base/json.h"
#include "base/log.h"
#include "engine/banned.h"

#define SESSION_COOKIE "sp_session"
#define TOKEN_PREFIX "spt_"
/* A session id or token secret: 32 random bytes as 64 hex digits. */
#define SECRET_BYTES 32
#define SECRET_HEX (SECRET_BYTES * 2)
/* last_used_at of a token is written at most this often, so reads stay reads. */
#define LAST_USED_EVERY_MS 60000

enum {
    Q_USER_COUNT,
    Q_USER_INSERT,
    Q_USER_GET,
    Q_USER_LIST,
    Q_USER_SET_ROLE,
    Q_USER_SET_PASSWORD,
    Q_USER_DELETE,
    Q_ADMINS_OTHER,
    Q_GENERATED,
    Q_SESSION_INSERT,
    Q_SESSION_GET,
    Q_SESSION_DELETE,
    Q_SESSIONS_END,
    Q_SESSIONS_PURGE,
    Q_TOKEN_INSERT,
    Q_TOKEN_GET,
    Q_TOKEN_USED,
    Q_TOKEN_LIST,
    Q_TOKEN_REVOKE,
    Q_TOKEN_LIVE_COUNT,
    Q_AUDIT_INSERT,
    Q_AUDIT_LIST,
    Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_USER_COUNT] = "SELECT count(*) FROM users",
    [Q_USER_INSERT] = "INSERT INTO users (name, role, password_hash, password_generated,"
                      " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    [Q_USER_GET] = "SELECT id, role, password_hash FROM users WHERE name = ?1",
    [Q_USER_LIST] = "SELECT name, role, created_at, updated_at, password_generated FROM users"
                    " ORDER BY name",
    [Q_USER_SET_ROLE] = "UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1",
    [Q_USER_SET_PASSWORD] = "UPDATE users SET password_hash = ?2, password_generated = 0,"
                            " updated_at = ?3 WHERE id = ?1",
    [Q_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
    [Q_ADMINS_OTHER] = "SELECT count(*) FROM users WHERE role = 'admin' AND id <> ?1",
    [Q_GENERATED] = "SELECT count(*) FROM users WHERE password_generated <> 0",
    [Q_SESSION_INSERT] = "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at,"
                         " address) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_SESSION_GET] = "SELECT s.csrf, s.expires_at, u.name, u.role FROM sessions s"
                      " JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?1",
    [Q_SESSION_DELETE] = "DELETE FROM sessions WHERE id_hash = ?1",
    [Q_SESSIONS_END] = "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR id_hash <> ?2)",
    [Q_SESSIONS_PURGE] = "DELETE FROM sessions WHERE expires_at <= ?1",
    [Q_TOKEN_INSERT] = "INSERT INTO tokens (user_id, name, token_hash, prefix, created_at,"
                       " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_TOKEN_GET] = "SELECT t.id, t.expires_at, t.revoked_at, t.last_used_at, u.name, u.role"
                    " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1",
    [Q_TOKEN_USED] = "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
    [Q_TOKEN_LIST] = "SELECT t.id, t.name, u.name, t.prefix, t.created_at, t.expires_at,"
                     " t.last_used_at, t.revoked_at FROM tokens t JOIN users u ON u.id = t.user_id"
                     " WHERE ?1 IS NULL OR u.name = ?1 ORDER BY t.id DESC",
    [Q_TOKEN_REVOKE] = "UPDATE tokens SET revoked_at = ?3 WHERE id = ?1 AND revoked_at IS NULL"
                       " AND (?2 IS NULL OR user_id = (SELECT id FROM users WHERE name = ?2))"
                       " RETURNING name",
    [Q_TOKEN_LIVE_COUNT] = "SELECT count(*) FROM tokens WHERE user_id = ?1 AND revoked_at IS NULL"
                           " AND (expires_at IS NULL OR expires_at > ?2)",
    [Q_AUDIT_INSERT] = "INSERT INTO audit (at, user, address, action, object, detail)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* An action filter "run" matches "run" and "run.*"; the rest are exact or bounds. */
    [Q_AUDIT_LIST] =
        "SELECT id, at, user, address, action, object, detail FROM audit"
        " WHERE (?1 IS NULL OR user = ?1)"
        " AND (?2 IS NULL OR action = ?2 OR substr(action, 1, length(?2) + 1) = ?2 || '.')"
        " AND (?3 = 0 OR at >= ?3) AND (?4 = 0 OR at < ?4)"
        " ORDER BY id DESC LIMIT ?5",
};

typedef struct rl_slot {
    char key[80]; /* "a:" address or "u:" user name; "" when free */
    int64_t window_ms;
    unsigned failures;
    int64_t last_ms;
} rl_slot;

struct sp_auth {
    int enabled;
    unsigned session_ttl_s;
    char **names;
    size_t nnames;

    pthread_mutex_t mu; /* db and st */
    sqlite3 *db;
    sqlite3_stmt *st[Q_COUNT];

    sem_t hashing; /* SP_AUTH_HASH_CONCURRENCY Argon2id computations at once */
    char dummy_hash[crypto_pwhash_STRBYTES]; /* verified against for unknown users */

    pthread_mutex_t rl_mu;
    rl_slot *rl; /* SP_AUTH_RL_SLOTS */

    pthread_mutex_t denied_mu;
    double denied_tokens;
    int64_t denied_last_ms;
    uint64_t denied_dropped;
};

/* ---- Small helpers ---- */

static void setmsg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void setmsg(char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || !msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* Prepared once per connection; call with a->mu held. */
static sqlite3_stmt *stmt(sp_auth *a, int id)
{
    if (!a->st[id] && sqlite3_prepare_v3(a->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                                         &a->st[id], NULL) != SQLITE_OK) {
        sp_log_kv(SP_LOG_ERROR, "auth: cannot prepare a statement", "error", sqlite3_errmsg(a->db),
                    NULL);
        a->st[id] = NULL;
    }
    return a->st[id];
}

static void done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

static int dberr(sp_auth *a, char *msg, size_t msglen)
{
    sp_log_kv(SP_LOG_ERROR, "auth: database", "error", sqlite3_errmsg(a->db), NULL);
    setmsg(msg, msglen, "the database failed (see the server log)");
    return SP_EIO;
}

/* Runs a statement that returns no rows. Returns the SQLite code. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    done(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One integer from a statement whose ?1 is bound by the caller; -1 on failure. */
static int64_t one_int(sqlite3_stmt *st)
{
    int64_t v = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    done(st);
    return v;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static json_t *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? sp_json_string((const char *)t) : json_null();
}

static json_t *col_int_or_null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null()
                                                     : json_integer(sqlite3_column_int64(st, i));
}

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char buf[64];
    randombytes_buf(buf, bytes);
    sodium_bin2hex(out, bytes * 2 + 1, buf, bytes);
    sodium_memzero(buf, sizeof buf);
}

static void sha256(const char *s, unsigned char out[crypto_hash_sha256_BYTES])
{
    crypto_hash_sha256(out, (const unsigned char *)s, strlen(s));
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return s[n] == '\0';
}

int sp_auth_equal(const char *x, const char *y)
{
    size_t n = strlen(x);
    if (n != strlen(y))
        return 0;
    return sodium_memcmp(x, y, n) == 0;
}

unsigned sp_auth_role_perms(const char *role)
{
    if (!role)
        return 0;
    if (strcmp(role, "admin") == 0)
        return SP_PERM_READ | SP_PERM_WRITE | SP_PERM_RUN | SP_PERM_ADMIN;
    if (strcmp(role, "tester") == 0)
        return SP_PERM_READ | SP_PERM_WRITE | SP_PERM_RUN;
    if (strcmp(role, "viewer") == 0)
        return SP_PERM_READ;
    return 0;
}

static int check_user_name(const char *name, char *msg, size_t msglen)
{
    size_t n = name ? strlen(name) : 0;
    int ok = n >= 1 && n <= SP_AUTH_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-' || c == '@';
    }
    if (!ok)
        setmsg(msg, msglen, "name must be 1 to %d characters of letters, digits and . _ - @",
               SP_AUTH_NAME_MAX);
    return ok ? 0 : SP_EINVAL;
}

static int check_password(const char *field, const char *pw, char *msg, size_t msglen)
{
    size_t n = pw ? strlen(pw) : 0;
    if (n < SP_AUTH_PASSWORD_MIN || n > SP_AUTH_PASSWORD_MAX) {
        setmsg(msg, msglen, "%s must be %d to %d bytes long", field, SP_AUTH_PASSWORD_MIN,
               SP_AUTH_PASSWORD_MAX);
        return SP_EINVAL;
    }
    return 0;
}

/* Hashes a password (Argon2id, salted), at most SP_AUTH_HASH_CONCURRENCY at once. */
static int hash_password(sp_auth *a, const char *pw, char out[crypto_pwhash_STRBYTES])
{
    sem_wait(&a->hashing);
    int rc = crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                               SP_AUTH_PWHASH_MEM);
    sem_post(&a->hashing);
    return rc == 0 ? 0 : SP_ESYS;
}

static int verify_password(sp_auth *a, const char *hash, const char *pw)
{
    sem_wait(&a->hashing);
    int ok = crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
    sem_post(&a->hashing);
    return ok;
}

/* Looks a user up: id, role and password hash (any may be NULL). With a->mu held.
 * Returns 0, SP_ENOTFOUND or SP_EIO. */
static int user_get(sp_auth *a, const char *name, int64_t *id, char *role, size_t rolelen,
                    char *hash, size_t hashlen)
{
    sqlite3_stmt *st = stmt(a, Q_USER_GET);
    if (!st)
        return SP_EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SP_ENOTFOUND : SP_EIO;
    if (rc == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(st, 0);
        if (role)
            copy_col(st, 1, role, rolelen);
        if (hash)
            copy_col(st, 2, hash, hashlen);
    }
    done(st);
    return ret;
}

/* ---- Open ---- */

static int open_db(sp_auth *a, const char *path, char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "auth: cannot open %s: %s", path,
                 a->db ? sqlite3_errmsg(a->db) : sqlite3_errstr(rc));
        return SP_ESYS;
    }
    int on = 1, off = 0;
    sqlite3_extended_result_codes(a->db, 1);
    sqlite3_db_config(a->db, SQLITE_DBCONFIG_DEFENSIVE, on, NULL);
    sqlite3_db_config(a->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, off, NULL);
    sqlite3_db_config(a->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, off, NULL);
    sqlite3_busy_timeout(a->db, 10000);
    rc = sqlite3_exec(a->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", NULL, NULL,
                      NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "auth: %s", sqlite3_errmsg(a->db));
        return SP_EIO;
    }
    return 0;
}

static int create_first_admin(sp_auth *a, const char *given, char *generated, size_t genlen,
                              char *err, size_t errlen)
{
    char pw[64];
    int made = !given || !*given;
    if (made) {
        /* 18 random bytes: 144 bits, 24 characters to type. */
        unsigned char raw[18];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2base64(pw, sizeof pw, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    } else {
        if (check_password("STAMPEDE_ADMIN_PASSWORD", given, err, errlen) != 0)
            return SP_EINVAL;
    }
    char hash[crypto_pwhash_STRBYTES];
    int rc = hash_password(a, made ? pw : given, hash);
    if (rc) {
        snprintf(err, errlen, "auth: cannot hash the admin password (out of memory?)");
        goto out;
    }
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_USER_INSERT);
    if (st) {
        sqlite3_bind_text(st, 1, "admin", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, "admin", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, made);
        sqlite3_bind_int64(st, 5, sp_wall_ms());
    }
    rc = st ? step_done(st) : SQLITE_ERROR;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "auth: cannot create the admin user: %s", sqlite3_errmsg(a->db));
        rc = SP_EIO;
    }
    pthread_mutex_unlock(&a->mu);
    if (rc == 0 && made && generated && genlen > strlen(pw))
        snprintf(generated, genlen, "%s", pw);
    if (rc == 0)
        sp_auth_audit(a, "-", NULL, "user.create", "admin",
                      made ? "first start, generated password"
                           : "first start, password from "
                             "STAMPEDE_ADMIN_PASSWORD");
out:
    sodium_memzero(pw, sizeof pw);
    return rc;
}

int sp_auth_new(sp_auth **out, const sp_auth_config *cfg, char *generated, size_t genlen, char *err,
                size_t errlen)
{
    *out = NULL;
    if (generated && genlen)
        generated[0] = '\0';
    if (sodium_init() < 0) {
        snprintf(err, errlen, "auth: libsodium cannot start");
        return SP_ESYS;
    }
    if (cfg->n_server_names > SP_AUTH_MAX_SERVER_NAMES) {
        snprintf(err, errlen, "at most %d --server-name options", SP_AUTH_MAX_SERVER_NAMES);
        return SP_EINVAL;
    }
    int rc = 0;
    sp_auth *a = sp_calloc(1, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->rl_mu, NULL);
    pthread_mutex_init(&a->denied_mu, NULL);
    sem_init(&a->hashing, 0, SP_AUTH_HASH_CONCURRENCY);
    a->enabled = cfg->enabled;
    a->session_ttl_s = cfg->session_ttl_s ? cfg->session_ttl_s : SP_AUTH_SESSION_TTL_S;
    a->rl = sp_calloc(SP_AUTH_RL_SLOTS, sizeof(*a->rl));
    a->denied_tokens = SP_AUTH_AUDIT_DENIED_BURST;
    a->denied_last_ms = sp_wall_ms();
    a->names = sp_calloc(cfg->n_server_names + 1, sizeof(*a->names));
    for (size_t i = 0; i < cfg->n_server_names; i++)
        a->names[a->nnames++] = sp_strdup(cfg->server_names[i]);

    rc = open_db(a, cfg->db_path, err, errlen);
    if (rc)
        goto out;
    pthread_mutex_lock(&a->mu);
    int64_t users = one_int(stmt(a, Q_USER_COUNT));
    pthread_mutex_unlock(&a->mu);
    if (users < 0) {
        /* A database made by a development build whose migration 3 was still a placeholder
         * has schema version 3 or more but no access tables. */
        snprintf(err, errlen, "auth: cannot read the users: %s%s", sqlite3_errmsg(a->db),
                 strstr(sqlite3_errmsg(a->db), "no such table")
                     ? " (this database was made by a development build without the access "
                       "control tables: start with a new --data-dir)"
                     : "");
        rc = SP_EIO;
        goto out;
    }
    if (users == 0) {
        rc = create_first_admin(a, cfg->admin_password, generated, genlen, err, errlen);
        if (rc)
            goto out;
    }
    if (a->enabled) {
        /* Unknown users are checked against this hash too, so that a login takes as long
         * whether the name exists or not. */
        char pw[SECRET_HEX + 1];
        random_hex(pw, SECRET_BYTES);
        rc = hash_password(a, pw, a->dummy_hash);
        if (rc) {
            snprintf(err, errlen, "auth: cannot hash (out of memory?)");
            goto out;
        }
    }
    *out = a;
    a = NULL;
out:
    sp_auth_free(a);
    return rc;
}

void sp_auth_free(sp_auth *a)
{
    if (!a)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(a->st[i]);
    if (a->db)
        sqlite3_close(a->db);
    for (size_t i = 0; i < a->nnames; i++)
        free(a->names[i]);
    free(a->names);
    free(a->rl);
    sem_destroy(&a->hashing);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->rl_mu);
    pthread_mutex_destroy(&a->denied_mu);
    free(a);
}

int sp_auth_enabled(const sp_auth *a)
{
    return a && a->enabled;
}

int sp_auth_password_still_generated(sp_auth *a)
{
    pthread_mutex_lock(&a->mu);
    int64_t n = one_int(stmt(a, Q_GENERATED));
    pthread_mutex_unlock(&a->mu);
    return n < 0 ? SP_EIO : n > 0;
}

int sp_auth_is_server_name(const sp_auth *a, const char *name)
{
    for (size_t i = 0; a && i < a->nnames; i++)
        if (strcasecmp(a->names[i], name) == 0)
            return 1;
    return 0;
}

size_t sp_auth_server_names(const sp_auth *a, const char *const **names)
{
    *names = a ? (const char *const *)a->names : NULL;
    return a ? a->nnames : 0;
}

/* ---- Cookies ---- */

int sp_auth_cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (!header)
        return SP_ENOTFOUND;
    size_t hlen = strnlen(header, SP_AUTH_MAX_COOKIE + 1);
    if (hlen > SP_AUTH_MAX_COOKIE)
        return SP_ELIMIT;
    size_t nlen = strlen(name);
    const char *p = header, *end = header + hlen;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ';'))
            p++;
        const char *pair = p;
        while (p < end && *p != ';')
            p++;
        const char *pend = p; /* [pair, pend) is "name=value" */
        const char *eq = memchr(pair, '=', (size_t)(pend - pair));
        if (!eq)
            continue;
        const char *ne = eq;
        while (ne > pair && (ne[-1] == ' ' || ne[-1] == '\t'))
            ne--;
        if ((size_t)(ne - pair) != nlen || memcmp(pair, name, nlen) != 0)
            continue;
        const char *v = eq + 1, *ve = pend;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
            v++;
            ve--;
            /* Cookie values hold no blanks (RFC 6265 cookie-octet): none inside quotes either. */
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
        }
        size_t vlen = (size_t)(ve - v);
        if (vlen >= outlen)
            return SP_ELIMIT;
        memcpy(out, v, vlen);
        out[vlen] = '\0';
        return 0;
    }
    return SP_ENOTFOUND;
}

/* ---- Identification ---- */

static int identify_token(sp_auth *a, const char *token, sp_auth_who *who, char *msg, size_t msglen)
{
    if (strncmp(token, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1) != 0 ||
        !is_hex(token + sizeof TOKEN_PREFIX - 1, SECRET_HEX)) {
        setmsg(msg, msglen, "malformed API token");
        return SP_EUNAUTH;
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(token, h);
    int64_t now = sp_wall_ms();
    int rc = SP_EUNAUTH;
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_TOKEN_GET);
    if (!st) {
        rc = dberr(a, msg, msglen);
        goto out;
    }
    sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        done(st);
        if (src != SQLITE_DONE) {
            rc = dberr(a, msg, msglen);
            goto out;
        }
        setmsg(msg, msglen, "unknown API token");
        goto out;
    }
    int64_t id = sqlite3_column_int64(st, 0);
    int expired = sqlite3_column_type(st, 1) != SQLITE_NULL && sqlite3_column_int64(st, 1) <= now;
    int revoked = sqlite3_column_type(st, 2) != SQLITE_NULL;
    int64_t last = sqlite3_column_int64(st, 3);
    copy_col(st, 4, who->user, sizeof who->user);
    copy_col(st, 5, who->role, sizeof who->role);
    done(st);
    if (revoked) {
        setmsg(msg, msglen, "this API token was revoked");
        goto out;
    }
    if (expired) {
        setmsg(msg, msglen, "this API token has expired");
        goto out;
    }
    if (now - last >= LAST_USED_EVERY_MS) {
        st = stmt(a, Q_TOKEN_USED);
        if (st) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, now);
            step_done(st); /* a missed update of last_used_at costs nothing */
        }
    }
    who->perms = sp_auth_role_perms(who->role);
    who->by_session = 0;
    rc = 0;
out:
    pthread_mutex_unlock(&a->mu);
    if (rc) {
        who->user[0] = '\0';
        who->role[0] = '\0';
    }
    return rc;
}

static int identify_session(sp_auth *a, const char *sid, sp_auth_who *who, char *msg, size_t msglen)
{
    if (!is_hex(sid, SECRET_HEX)) {
        setmsg(msg, msglen, "malformed session cookie (log in again)");
        return SP_EUNAUTH;
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(sid, h);
    int64_t now = sp_wall_ms();
    int rc = SP_EUNAUTH;
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_SESSION_GET);
    if (!st) {
        rc = dberr(a, msg, msglen);
        goto out;
    }
    sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        done(st);
        if (src != SQLITE_DONE)
            rc = dberr(a, msg, msglen);
        else
            setmsg(msg, msglen, "the session has ended (log in again)");
        goto out;
    }
    copy_col(st, 0, who->csrf, sizeof who->csrf);
    int64_t expires = sqlite3_column_int64(st, 1);
    copy_col(st, 2, who->user, sizeof who->user);
    copy_col(st, 3, who->role, sizeof who->role);
    done(st);
    if (expires <= now) {
        st = stmt(a, Q_SESSION_DELETE);
        if (st) {
            sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
            step_done(st);
        }
        setmsg(msg, msglen, "the session has expired (log in again)");
        goto out;
    }
    who->perms = sp_auth_role_perms(who->role);
    who->by_session = 1;
    rc = 0;
out:
    pthread_mutex_unlock(&a->mu);
    if (rc)
        memset(who, 0, sizeof *who);
    return rc;
}

int sp_auth_identify(sp_auth *a, const char *authorization, const char *cookie, sp_auth_who *who,
                     char *msg, size_t msglen)
{
    memset(who, 0, sizeof *who);
    if (authorization) {
        const char *p = authorization;
        while (*p == ' ')
            p++;
        if (strncasecmp(p, "Bearer ", 7) != 0) {
            setmsg(msg, msglen, "the Authorization header must be \"Bearer <token>\"");
            return SP_EUNAUTH;
        }
        p += 7;
        while (*p == ' ')
            p++;
        char tok[128];
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n >= sizeof tok) {
            setmsg(msg, msglen, "malformed API token");
            return SP_EUNAUTH;
        }
        memcpy(tok, p, n);
        tok[n] = '\0';
        int rc = identify_token(a, tok, who, msg, msglen);
        sodium_memzero(tok, sizeof tok);
        return rc;
    }
    char sid[SECRET_HEX + 8];
    int rc = sp_auth_cookie_get(cookie, SESSION_COOKIE, sid, sizeof sid);
    if (rc == SP_ENOTFOUND || (rc == 0 && sid[0] == '\0')) {
        setmsg(msg, msglen, "authentication required");
        return SP_ENOTFOUND;
    }
    if (rc) {
        setmsg(msg, msglen, "malformed session cookie (log in again)");
        return SP_EUNAUTH;
    }
    rc = identify_session(a, sid, who, msg, msglen);
    sodium_memzero(sid, sizeof sid);
    return rc;
}

/* ---- Login rate limiting ---- */

/* With rl_mu held: the slot of key, or NULL. */
static rl_slot *rl_find(sp_auth *a, const char *key)
{
    for (size_t i = 0; i < SP_AUTH_RL_SLOTS; i++)
        if (a->rl[i].key[0] && strcmp(a->rl[i].key, key) == 0)
            return &a->rl[i];
    return NULL;
}

/* Seconds until key may try again, 0 when it may now. */
static unsigned rl_wait(sp_auth *a, const char *key, int64_t now)
{
    unsigned wait = 0;
    pthread_mutex_lock(&a->rl_mu);
    rl_slot *s = rl_find(a, key);
    int64_t end = s ? s->window_ms + SP_AUTH_RL_WINDOW_S * 1000LL : 0;
    if (s && s->failures >= SP_AUTH_RL_FAILURES && now < end)
        wait = (unsigned)((end - now + 999) / 1000);
    pthread_mutex_unlock(&a->rl_mu);
    return wait;
}

static void rl_fail(sp_auth *a, const char *key, int64_t now)
{
    pthread_mutex_lock(&a->rl_mu);
    rl_slot *s = rl_find(a, key);
    if (!s) {
        /* A free slot, else the one idle longest: the table stays bounded under a flood of
         * names or addresses, at the cost of forgetting the oldest counters. */
        s = &a->rl[0];
        for (size_t i = 0; i < SP_AUTH_RL_SLOTS; i++) {
            if (!a->rl[i].key[0]) {
                s = &a->rl[i];
                break;
            }
            if (a->rl[i].last_ms < s->last_ms)
                s = &a->rl[i];
        }
        snprintf(s->key, sizeof s->key, "%s", key);
        s->failures = 0;
        s->window_ms = now;
    }
    if (now >= s->window_ms + SP_AUTH_RL_WINDOW_S * 1000LL) {
        s->window_ms = now;
        s->failures = 0;
    }
    s->failures++;
    s->last_ms = now;
    pthread_mutex_unlock(&a->rl_mu);
}

static void rl_clear(sp_auth *a, const char *key)
{
    pthread_mutex_lock(&a->rl_mu);
    rl_slot *s = rl_find(a, key);
    if (s)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&a->rl_mu);
}

/* ---- Sessions ---- */

int sp_auth_login(sp_auth *a, const char *address, const char *user, const char *password,
                  sp_auth_session *out, unsigned *retry_after_s, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    *retry_after_s = 0;
    char akey[80], ukey[80];
    snprintf(akey, sizeof akey, "a:%s", address ? address : "-");
    snprintf(ukey, sizeof ukey, "u:%.72s", user);
    int64_t now = sp_wall_ms();
    unsigned wa = rl_wait(a, akey, now), wu = rl_wait(a, ukey, now);
    if (wa || wu) {
        *retry_after_s = wa > wu ? wa : wu;
        setmsg(msg, msglen, "too many failed logins; try again in %u s", *retry_after_s);
        return SP_ELIMIT;
    }
    char hash[crypto_pwhash_STRBYTES] = "";
    int64_t uid = 0;
    pthread_mutex_lock(&a->mu);
    int rc = strlen(user) <= SP_AUTH_NAME_MAX
                 ? user_get(a, user, &uid, out->role, sizeof out->role, hash, sizeof hash)
                 : SP_ENOTFOUND;
    pthread_mutex_unlock(&a->mu);
    if (rc == SP_EIO)
        return dberr(a, msg, msglen);
    size_t pwlen = strlen(password);
    int ok = verify_password(a, rc == 0 ? hash : a->dummy_hash,
                             pwlen <= SP_AUTH_PASSWORD_MAX ? password : "") &&
             rc == 0 && pwlen <= SP_AUTH_PASSWORD_MAX;
    sodium_memzero(hash, sizeof hash);
    if (!ok) {
        rl_fail(a, akey, now);
        rl_fail(a, ukey, now);
        setmsg(msg, msglen, "wrong user name or password");
        return SP_EUNAUTH;
    }
    rl_clear(a, ukey);

    random_hex(out->sid, SECRET_BYTES);
    random_hex(out->csrf, SECRET_BYTES);
    out->max_age_s = a->session_ttl_s;
    out->expires_at = now + (int64_t)a->session_ttl_s * 1000;
    snprintf(out->user, sizeof out->user, "%s", user);
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(out->sid, h);
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_SESSIONS_PURGE);
    if (st) {
        sqlite3_bind_int64(st, 1, now);
        step_done(st); /* expired sessions go at every login; a failure leaves them for later */
    }
    st = stmt(a, Q_SESSION_INSERT);
    rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, uid);
        sqlite3_bind_text(st, 3, out->csrf, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        sqlite3_bind_int64(st, 5, out->expires_at);
        bind_text_or_null(st, 6, address);
        rc = step_done(st);
    }
    int ret = rc == SQLITE_OK ? 0 : dberr(a, msg, msglen);
    pthread_mutex_unlock(&a->mu);
    if (ret)
        memset(out, 0, sizeof *out);
    return ret;
}

int sp_auth_logout(sp_auth *a, const char *sid)
{
    if (!sid || !*sid)
        return 0;
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(sid, h);
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_SESSION_DELETE);
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_blob(st, 1, h, sizeof h, SQLITE_TRANSIENT);
        rc = step_done(st);
    }
    int ret = rc == SQLITE_OK ? 0 : dberr(a, NULL, 0);
    pthread_mutex_unlock(&a->mu);
    return ret;
}

/* Sets a user's password and ends their sessions but keep_sid. With a->mu NOT held. */
static int set_password(sp_auth *a, int64_t uid, const char *pw, const char *keep_sid, char *msg,
                        size_t msglen)
{
    char hash[crypto_pwhash_STRBYTES];
    if (hash_password(a, pw, hash) != 0) {
        setmsg(msg, msglen, "cannot hash the password (out of memory?)");
        return SP_ESYS;
    }
    unsigned char keep[crypto_hash_sha256_BYTES];
    if (keep_sid)
        sha256(keep_sid, keep);
    pthread_mutex_lock(&a->mu);
    int rc = sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_stmt *st = rc == SQLITE_OK ? stmt(a, Q_USER_SET_PASSWORD) : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, sp_wall_ms());
        rc = step_done(st);
    } else {
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK) {
        st = stmt(a, Q_SESSIONS_END);
        rc = SQLITE_ERROR;
        if (st) {
            sqlite3_bind_int64(st, 1, uid);
            if (keep_sid)
                sqlite3_bind_blob(st, 2, keep, sizeof keep, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, 2);
            rc = step_done(st);
        }
    }
    int ret = 0;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        ret = dberr(a, msg, msglen);
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&a->mu);
    sodium_memzero(hash, sizeof hash);
    return ret;
}

int sp_auth_password_change(sp_auth *a, const char *user, const char *current, const char *next,
                            const char *keep_sid, char *msg, size_t msglen)
{
    int rc = check_password("new", next, msg, msglen);
    if (rc)
        return rc;
    char hash[crypto_pwhash_STRBYTES] = "";
    int64_t uid = 0;
    pthread_mutex_lock(&a->mu);
    rc = user_get(a, user, &uid, NULL, 0, hash, sizeof hash);
    pthread_mutex_unlock(&a->mu);
    if (rc == SP_ENOTFOUND) {
        setmsg(msg, msglen, "no user '%.64s'", user);
        return rc;
    }
    if (rc)
        return dberr(a, msg, msglen);
    int ok = strlen(current) <= SP_AUTH_PASSWORD_MAX && verify_password(a, hash, current);
    sodium_memzero(hash, sizeof hash);
    if (!ok) {
        setmsg(msg, msglen, "the current password is wrong");
        return SP_EUNAUTH;
    }
    return set_password(a, uid, next, keep_sid, msg, msglen);
}

/* ---- API tokens ---- */

static int check_token_name(const char *name, char *msg, size_t msglen)
{
    size_t n = name ? strlen(name) : 0;
    int ok = n >= 1 && n <= SP_AUTH_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)name[i] >= ' ' && name[i] != 0x7f;
    if (!ok)
        setmsg(msg, msglen, "name must be 1 to %d bytes without control characters",
               SP_AUTH_NAME_MAX);
    return ok ? 0 : SP_EINVAL;
}

int sp_auth_token_create(sp_auth *a, const char *user, const char *name, int64_t expires_in_s,
                         json_t **out, char *msg, size_t msglen)
{
    *out = NULL;
    int rc = check_token_name(name, msg, msglen);
    if (rc)
        return rc;
    if (expires_in_s < 0 || expires_in_s > SP_AUTH_TOKEN_MAX_TTL_S) {
        setmsg(msg, msglen, "expires_in_s must be from 1 to %lld seconds (or left out: never)",
               (long long)SP_AUTH_TOKEN_MAX_TTL_S);
        return SP_EINVAL;
    }
    char token[sizeof TOKEN_PREFIX + SECRET_HEX];
    char secret[SECRET_HEX + 1];
    random_hex(secret, SECRET_BYTES);
    snprintf(token, sizeof token, TOKEN_PREFIX "%s", secret);
    sodium_memzero(secret, sizeof secret);
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(token, h);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.12s", token);
    int64_t now = sp_wall_ms();
    int64_t expires = expires_in_s ? now + expires_in_s * 1000 : 0;

    pthread_mutex_lock(&a->mu);
    int64_t uid = 0;
    rc = user_get(a, user, &uid, NULL, 0, NULL, 0);
    if (rc) {
        if (rc == SP_ENOTFOUND)
            setmsg(msg, msglen, "no user '%.64s'", user);
        else
            rc = dberr(a, msg, msglen);
        goto out;
    }
    sqlite3_stmt *st = stmt(a, Q_TOKEN_LIVE_COUNT);
    if (st) {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_int64(st, 2, now);
    }
    int64_t live = one_int(st);
    if (live < 0) {
        rc = dberr(a, msg, msglen);
        goto out;
    }
    if (live >= SP_AUTH_TOKENS_PER_USER) {
        setmsg(msg, msglen, "'%.64s' already has %d live tokens: revoke some first", user,
               SP_AUTH_TOKENS_PER_USER);
        rc = SP_ESTATE;
        goto out;
    }
    st = stmt(a, Q_TOKEN_INSERT);
    int src = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, h, sizeof h, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, prefix, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, now);
        if (expires)
            sqlite3_bind_int64(st, 6, expires);
        else
            sqlite3_bind_null(st, 6);
        src = step_done(st);
    }
    if (src != SQLITE_OK) {
        rc = dberr(a, msg, msglen);
        goto out;
    }
    int64_t id = sqlite3_last_insert_rowid(a->db);
    *out = json_pack("{s:I, s:o, s:s, s:s, s:I, s:o}", "id", (json_int_t)id, "name",
                     sp_json_string(name), "token", token, "prefix", prefix, "created_at",
                     (json_int_t)now, "expires_at", expires ? json_integer(expires) : json_null());
    rc = 0;
out:
    pthread_mutex_unlock(&a->mu);
    sodium_memzero(token, sizeof token);
    return rc;
}

int sp_auth_token_list(sp_auth *a, const char *user, json_t **out)
{
    *out = NULL;
    int64_t now = sp_wall_ms();
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_TOKEN_LIST);
    int rc = 0;
    if (!st) {
        rc = SP_EIO;
        goto out;
    }
    bind_text_or_null(st, 1, user);
    json_t *items = json_array();
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int revoked = sqlite3_column_type(st, 7) != SQLITE_NULL;
        int expired =
            sqlite3_column_type(st, 5) != SQLITE_NULL && sqlite3_column_int64(st, 5) <= now;
        json_array_append_new(
            items, json_pack("{s:I, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:s}", "id",
                             (json_int_t)sqlite3_column_int64(st, 0), "name", col_text(st, 1),
                             "user", col_text(st, 2), "prefix", col_text(st, 3), "created_at",
                             (json_int_t)sqlite3_column_int64(st, 4), "expires_at",
                             col_int_or_null(st, 5), "last_used_at", col_int_or_null(st, 6),
                             "revoked_at", col_int_or_null(st, 7), "state",
                             revoked   ? "revoked"
                             : expired ? "expired"
                                       : "active"));
    }
    done(st);
    if (src != SQLITE_DONE) {
        json_decref(items);
        rc = dberr(a, NULL, 0);
        goto out;
    }
    *out = json_pack("{s:o}", "items", items); /* steals items */
out:
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int sp_auth_token_revoke(sp_auth *a, int64_t id, const char *user, char *name_out, char *msg,
                         size_t msglen)
{
    if (name_out)
        name_out[0] = '\0';
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_TOKEN_REVOKE);
    int rc = 0;
    if (!st) {
        rc = dberr(a, msg, msglen);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    bind_text_or_null(st, 2, user);
    sqlite3_bind_int64(st, 3, sp_wall_ms());
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && name_out)
        copy_col(st, 0, name_out, 64);
    done(st);
    if (src == SQLITE_DONE) {
        setmsg(msg, msglen, "no live token with id %lld%s", (long long)id, user ? " of yours" : "");
        rc = SP_ENOTFOUND;
    } else if (src != SQLITE_ROW) {
        rc = dberr(a, msg, msglen);
    }
out:
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ---- Users ---- */

int sp_auth_user_list(sp_auth *a, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_USER_LIST);
    int rc = 0;
    if (!st) {
        rc = SP_EIO;
        goto out;
    }
    json_t *items = json_array();
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(
            items, json_pack("{s:o, s:o, s:I, s:I, s:b}", "name", col_text(st, 0), "role",
                             col_text(st, 1), "created_at", (json_int_t)sqlite3_column_int64(st, 2),
                             "updated_at", (json_int_t)sqlite3_column_int64(st, 3),
                             "password_generated", sqlite3_column_int(st, 4)));
    done(st);
    if (src != SQLITE_DONE) {
        json_decref(items);
        rc = dberr(a, NULL, 0);
        goto out;
    }
    *out = json_pack("{s:o}", "items", items);
out:
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static int check_role(const char *role, char *msg, size_t msglen)
{
    if (sp_auth_role_perms(role))
        return 0;
    setmsg(msg, msglen, "role must be \"admin\", \"tester\" or \"viewer\"");
    return SP_EINVAL;
}

int sp_auth_user_create(sp_auth *a, const char *name, const char *password, const char *role,
                        char *msg, size_t msglen)
{
    int rc = check_user_name(name, msg, msglen);
    if (!rc)
        rc = check_role(role, msg, msglen);
    if (!rc)
        rc = check_password("password", password, msg, msglen);
    if (rc)
        return rc;
    char hash[crypto_pwhash_STRBYTES];
    if (hash_password(a, password, hash) != 0) {
        setmsg(msg, msglen, "cannot hash the password (out of memory?)");
        return SP_ESYS;
    }
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_USER_INSERT);
    int src = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, 0);
        sqlite3_bind_int64(st, 5, sp_wall_ms());
        src = step_done(st);
    }
    if ((src & 0xff) == SQLITE_CONSTRAINT) {
        setmsg(msg, msglen, "a user named '%s' already exists", name);
        rc = SP_ESTATE;
    } else if (src != SQLITE_OK) {
        rc = dberr(a, msg, msglen);
    }
    pthread_mutex_unlock(&a->mu);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

/* Whether user uid is the last admin. With a->mu held. -1 on failure. */
static int last_admin(sp_auth *a, int64_t uid)
{
    sqlite3_stmt *st = stmt(a, Q_ADMINS_OTHER);
    if (st)
        sqlite3_bind_int64(st, 1, uid);
    int64_t others = one_int(st);
    return others < 0 ? -1 : others == 0;
}

int sp_auth_user_update(sp_auth *a, const char *name, const char *role, const char *password,
                        char *msg, size_t msglen)
{
    int rc = 0;
    if (role && (rc = check_role(role, msg, msglen)) != 0)
        return rc;
    if (password && (rc = check_password("password", password, msg, msglen)) != 0)
        return rc;
    int64_t uid = 0;
    char cur[16] = "";
    pthread_mutex_lock(&a->mu);
    rc = user_get(a, name, &uid, cur, sizeof cur, NULL, 0);
    if (rc == SP_ENOTFOUND)
        setmsg(msg, msglen, "no user '%.64s'", name);
    else if (rc)
        rc = dberr(a, msg, msglen);
    if (!rc && role && strcmp(role, cur) != 0) {
        int last = strcmp(cur, "admin") == 0 ? last_admin(a, uid) : 0;
        if (last) {
            rc = last < 0 ? dberr(a, msg, msglen) : SP_ESTATE;
            if (last > 0)
                setmsg(msg, msglen, "'%s' is the last admin: make another admin first", name);
        } else {
            sqlite3_stmt *st = stmt(a, Q_USER_SET_ROLE);
            int src = SQLITE_ERROR;
            if (st) {
                sqlite3_bind_int64(st, 1, uid);
                sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(st, 3, sp_wall_ms());
                src = step_done(st);
            }
            if (src != SQLITE_OK)
                rc = dberr(a, msg, msglen);
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (!rc && password)
        rc = set_password(a, uid, password, NULL, msg, msglen);
    return rc;
}

int sp_auth_user_delete(sp_auth *a, const char *name, char *msg, size_t msglen)
{
    int64_t uid = 0;
    char role[16] = "";
    pthread_mutex_lock(&a->mu);
    int rc = user_get(a, name, &uid, role, sizeof role, NULL, 0);
    if (rc == SP_ENOTFOUND)
        setmsg(msg, msglen, "no user '%.64s'", name);
    else if (rc)
        rc = dberr(a, msg, msglen);
    if (!rc && strcmp(role, "admin") == 0) {
        int last = last_admin(a, uid);
        if (last) {
            rc = last < 0 ? dberr(a, msg, msglen) : SP_ESTATE;
            if (last > 0)
                setmsg(msg, msglen, "'%s' is the last admin and cannot be deleted", name);
        }
    }
    if (!rc) {
        sqlite3_stmt *st = stmt(a, Q_USER_DELETE);
        int src = SQLITE_ERROR;
        if (st) {
            sqlite3_bind_int64(st, 1, uid);
            src = step_done(st);
        }
        if (src != SQLITE_OK)
            rc = dberr(a, msg, msglen);
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ---- Audit ---- */

static void bind_cut(sqlite3_stmt *st, int i, const char *s)
{
    if (!s) {
        sqlite3_bind_null(st, i);
        return;
    }
    size_t n = strnlen(s, SP_AUTH_AUDIT_VALUE_MAX);
    /* Cut at a character boundary so the entry stays valid UTF-8 when it was. */
    while (n > 0 && n < strlen(s) && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    sqlite3_bind_text(st, i, s, (int)n, SQLITE_TRANSIENT);
}

int sp_auth_audit(sp_auth *a, const char *user, const char *address, const char *action,
                  const char *object, const char *detail)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_AUDIT_INSERT);
    int src = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, sp_wall_ms());
        bind_cut(st, 2, user && *user ? user : "-");
        bind_cut(st, 3, address);
        bind_cut(st, 4, action);
        bind_cut(st, 5, object);
        bind_cut(st, 6, detail);
        src = step_done(st);
    }
    int rc = 0;
    if (src != SQLITE_OK) {
        sp_log_kv(SP_LOG_ERROR, "audit entry not written", "action", action, "error",
                    sqlite3_errmsg(a->db), NULL);
        rc = SP_EIO;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}


void sp_auth_audit_denied(sp_auth *a, const char *user, const char *address, const char *object,
                          const char *detail)
{
    if (!a)
        return;
    int64_t now = sp_wall_ms();
    uint64_t dropped = 0;
    int write = 0;
    pthread_mutex_lock(&a->denied_mu);
    a->denied_tokens += (double)(now - a->denied_last_ms) * SP_AUTH_AUDIT_DENIED_PER_S / 1000.0;
    if (a->denied_tokens > SP_AUTH_AUDIT_DENIED_BURST)
        a->denied_tokens = SP_AUTH_AUDIT_DENIED_BURST;
    a->denied_last_ms = now;
    if (a->denied_tokens >= 1.0) {
        a->denied_tokens -= 1.0;
        write = 1;
        dropped = a->denied_dropped;
        a->denied_dropped = 0;
    } else {
        a->denied_dropped++;
    }
    pthread_mutex_unlock(&a->denied_mu);
    if (!write)
        return;
    if (dropped) {
        char d[SP_AUTH_AUDIT_VALUE_MAX];
        snprintf(d, sizeof d, "%s (and %llu refusals before this one not recorded: too many)",
                 detail ? detail : "", (unsigned long long)dropped);
        sp_auth_audit(a, user, address, "denied", object, d);
    } else {
        sp_auth_audit(a, user, address, "denied", object, detail);
    }
}

int sp_auth_audit_list(sp_auth *a, const sp_auth_audit_filter *f, json_t **out)
{
    *out = NULL;
    int limit = f->limit > 0 ? f->limit : 100;
    if (limit > SP_AUTH_AUDIT_PAGE_MAX)
        limit = SP_AUTH_AUDIT_PAGE_MAX;
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = stmt(a, Q_AUDIT_LIST);
    int rc = 0;
    if (!st) {
        rc = SP_EIO;
        goto out;
    }
    bind_text_or_null(st, 1, f->user);
    bind_text_or_null(st, 2, f->action);
    sqlite3_bind_int64(st, 3, f->since_ms);
    sqlite3_bind_int64(st, 4, f->until_ms);
    sqlite3_bind_int(st, 5, limit);
    json_t *items = json_array();
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(items, json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "id",
                                               (json_int_t)sqlite3_column_int64(st, 0), "at",
                                               (json_int_t)sqlite3_column_int64(st, 1), "user",
                                               col_text(st, 2), "address", col_text(st, 3),
                                               "action", col_text(st, 4), "object", col_text(st, 5),
                                               "detail", col_text(st, 6)));
    done(st);
    if (src != SQLITE_DONE) {
        json_decref(items);
        rc = dberr(a, NULL, 0);
        goto out;
    }
    *out = json_pack("{s:o}", "entries", items);
out:
    pthread_mutex_unlock(&a->mu);
    return rc;
}
