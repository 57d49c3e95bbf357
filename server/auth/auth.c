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
#include "store/sql.h"

#define SESSION_COOKIE "sp_session"
#define TOKEN_PREFIX "spt_"
/* Agent tokens (their own kind): they register an agent and nothing else. */
#define AGENT_TOKEN_PREFIX "spa_"
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
    Q_AGENT_TOKEN_INSERT,
    Q_AGENT_TOKEN_GET,
    Q_AGENT_TOKEN_USED,
    Q_AGENT_TOKEN_LIST,
    Q_AGENT_TOKEN_REVOKE,
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
    [Q_AGENT_TOKEN_INSERT] = "INSERT INTO agent_tokens (name, token_hash, prefix, created_by,"
                             " created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_AGENT_TOKEN_GET] = "SELECT id, revoked_at, last_used_at FROM agent_tokens"
                          " WHERE token_hash = ?1",
    [Q_AGENT_TOKEN_USED] = "UPDATE agent_tokens SET last_used_at = ?2 WHERE id = ?1",
    [Q_AGENT_TOKEN_LIST] = "SELECT id, name, prefix, created_by, created_at, last_used_at,"
                           " revoked_at FROM agent_tokens ORDER BY id DESC",
    [Q_AGENT_TOKEN_REVOKE] = "UPDATE agent_tokens SET revoked_at = ?2 WHERE id = ?1"
                             " AND revoked_at IS NULL RETURNING name",
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

/*
 * A login rate-limit counter. Each login attempt has three (enum rl_key): the pair of its
 * client address and user name, its address, and its user name. A password check is reserved
 * on all three before it starts (pending) and judged when it ends (a failure, or not), so
 * concurrent logins see each other's checks and the limits hold exactly.
 */
typedef struct rl_slot {
    char key[128];     /* "p:" address "/" user, "a:" address or "u:" user; "" when free */
    int64_t window_ms; /* when its window of SP_AUTH_RL_WINDOW_S began */
    unsigned failures; /* failed password checks in the window */
    unsigned pending;  /* password checks under way; a slot with any is never reused */
    int64_t begun_ms;  /* when the last password check began (the per-user spacing) */
    int64_t last_ms;   /* the last use: the one idle longest is reused when the table is full */
} rl_slot;

enum rl_key { RL_PAIR, RL_ADDR, RL_USER, RL_KEYS };
enum rl_outcome { RL_FAILED, RL_PASSED, RL_UNJUDGED };

struct sp_auth {
    int enabled;
    unsigned session_ttl_s;
    char **names;
    size_t nnames;

    pthread_mutex_t mu; /* sql */
    sp_sql *sql;        /* the connection and its statements (store/sql.h) */

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

/* The code of the failure the SQL kit recorded last: a full disk and a busy database keep
 * their own codes (auth.h), everything else is SP_EIO. */
static int dbcode(sp_auth *a)
{
    int code = sp_sql_lastcode(a->sql);
    return code == SP_EFULL || code == SP_EUNAVAILABLE ? code : SP_EIO;
}

/* A database failure the SQL kit has recorded: logged with SQLite's message, reported to the
 * client without it. */
static int dberr(sp_auth *a, char *msg, size_t msglen)
{
    sp_log_kv(SP_LOG_ERROR, "auth: database", "error", sp_sql_errmsg(a->sql), NULL);
    int code = dbcode(a);
    setmsg(msg, msglen, "%s",
           code == SP_EFULL          ? "the disk is full: nothing can be saved until space is freed"
           : code == SP_EUNAVAILABLE ? "the database is busy: try again"
                                     : "the database failed (see the server log)");
    return code;
}

/* With a->mu held: the rows of st (bound; NULL when it did not prepare) by spec, as a new
 * {key: [rows...]} in *out. */
static int list_locked(sp_auth *a, sqlite3_stmt *st, const char *key, const char *spec,
                       json_t **out)
{
    json_t *items = NULL;
    if (!st)
        return SP_EIO;
    if (sp_sql_rows(a->sql, st, spec, &items) != 0)
        return dberr(a, NULL, 0);
    *out = json_pack("{s:o}", key, items); /* steals items */
    return 0;
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
 * Returns 0, SP_ENOTFOUND or the database's failure (dbcode). */
static int user_get(sp_auth *a, const char *name, int64_t *id, char *role, size_t rolelen,
                    char *hash, size_t hashlen)
{
    sqlite3_stmt *st = sp_sql_query(a->sql, Q_USER_GET, "s", name);
    int ret = sp_sql_first(a->sql, st);
    if (ret == 0) {
        if (id)
            *id = sqlite3_column_int64(st, 0);
        if (role)
            sp_sql_col_copy(st, 1, role, rolelen);
        if (hash)
            sp_sql_col_copy(st, 2, hash, hashlen);
    }
    sp_sql_done(st);
    return ret == 0 || ret == SP_ENOTFOUND ? ret : dbcode(a);
}

/* ---- Open ---- */

static int open_db(sp_auth *a, const char *path, char *err, size_t errlen)
{
    static const sp_sql_config cfg = {
        .texts = sql_text,
        .ntexts = Q_COUNT,
        .log_as = "auth",
    };
    char why[256] = "";
    if (sp_sql_open(&a->sql, path, SQLITE_OPEN_READWRITE, &cfg, why, sizeof why) != 0) {
        snprintf(err, errlen, "auth: cannot open %s: %s", path, why);
        return SP_ESYS;
    }
    sqlite3 *db = sp_sql_db(a->sql);
    if (sp_sql_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;") != SQLITE_OK) {
        snprintf(err, errlen, "auth: %s", sqlite3_errmsg(db));
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
    rc = sp_sql_run(a->sql, Q_USER_INSERT, "sssil", "admin", "admin", hash, made, sp_wall_ms());
    if (rc) {
        snprintf(err, errlen, "auth: cannot create the admin user: %s", sp_sql_errmsg(a->sql));
        rc = dbcode(a);
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
    int64_t users = 0;
    pthread_mutex_lock(&a->mu);
    rc = sp_sql_one_int(a->sql, Q_USER_COUNT, &users, "");
    pthread_mutex_unlock(&a->mu);
    if (rc) {
        /* A database made by a development build whose migration 3 was still a placeholder
         * has schema version 3 or more but no access tables. */
        const char *why = sp_sql_errmsg(a->sql);
        snprintf(err, errlen, "auth: cannot read the users: %s%s", why,
                 strstr(why, "no such table")
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
    sp_sql_close(a->sql);
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
    int64_t n = 0;
    pthread_mutex_lock(&a->mu);
    int rc = sp_sql_one_int(a->sql, Q_GENERATED, &n, "");
    pthread_mutex_unlock(&a->mu);
    return rc ? SP_EIO : n > 0;
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

/* With a->mu held: the row of statement id whose ?1 is the hash h of a credential. 0 with *out
 * on the row (sp_sql_done() it); SP_EUNAUTH with unknown in msg when there is none; SP_EIO. */
static int find_by_hash(sp_auth *a, int id, const unsigned char h[crypto_hash_sha256_BYTES],
                        sqlite3_stmt **out, const char *unknown, char *msg, size_t msglen)
{
    sqlite3_stmt *st = sp_sql_query(a->sql, id, "b", h, (int)crypto_hash_sha256_BYTES);
    int rc = sp_sql_first(a->sql, st);
    if (rc == 0) {
        *out = st;
        return 0;
    }
    sp_sql_done(st);
    if (rc != SP_ENOTFOUND)
        return dberr(a, msg, msglen);
    setmsg(msg, msglen, "%s", unknown);
    return SP_EUNAUTH;
}

static int identify_token(sp_auth *a, const char *token, sp_auth_who *who, char *msg, size_t msglen)
{
    if (strncmp(token, AGENT_TOKEN_PREFIX, sizeof AGENT_TOKEN_PREFIX - 1) == 0) {
        setmsg(msg, msglen, "an agent token registers an agent; it cannot call the REST API");
        return SP_EFORBIDDEN;
    }
    if (strncmp(token, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1) != 0 ||
        !is_hex(token + sizeof TOKEN_PREFIX - 1, SECRET_HEX)) {
        setmsg(msg, msglen, "malformed API token");
        return SP_EUNAUTH;
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(token, h);
    int64_t now = sp_wall_ms();
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&a->mu);
    int rc = find_by_hash(a, Q_TOKEN_GET, h, &st, "unknown API token", msg, msglen);
    if (rc)
        goto out;
    rc = SP_EUNAUTH;
    int64_t id = sqlite3_column_int64(st, 0);
    int expired = sqlite3_column_type(st, 1) != SQLITE_NULL && sqlite3_column_int64(st, 1) <= now;
    int revoked = sqlite3_column_type(st, 2) != SQLITE_NULL;
    int64_t last = sqlite3_column_int64(st, 3);
    sp_sql_col_copy(st, 4, who->user, sizeof who->user);
    sp_sql_col_copy(st, 5, who->role, sizeof who->role);
    sp_sql_done(st);
    if (revoked) {
        setmsg(msg, msglen, "this API token was revoked");
        goto out;
    }
    if (expired) {
        setmsg(msg, msglen, "this API token has expired");
        goto out;
    }
    /* A missed update of last_used_at costs nothing. */
    if (now - last >= LAST_USED_EVERY_MS)
        (void)sp_sql_run(a->sql, Q_TOKEN_USED, "ll", id, now);
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
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&a->mu);
    int rc =
        find_by_hash(a, Q_SESSION_GET, h, &st, "the session has ended (log in again)", msg, msglen);
    if (rc)
        goto out;
    rc = SP_EUNAUTH;
    sp_sql_col_copy(st, 0, who->csrf, sizeof who->csrf);
    int64_t expires = sqlite3_column_int64(st, 1);
    sp_sql_col_copy(st, 2, who->user, sizeof who->user);
    sp_sql_col_copy(st, 3, who->role, sizeof who->role);
    sp_sql_done(st);
    if (expires <= now) {
        (void)sp_sql_run(a->sql, Q_SESSION_DELETE, "b", h, (int)sizeof h);
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

/* With rl_mu held: the slot of key; when it has none and create is set, a free slot, else the
 * one idle longest among those with no check under way (the table stays bounded under a flood
 * of names or addresses, at the cost of forgetting the oldest counters). NULL when none. */
static rl_slot *rl_find(sp_auth *a, const char *key, int64_t now, int create)
{
    rl_slot *free_slot = NULL, *idle = NULL;
    for (size_t i = 0; i < SP_AUTH_RL_SLOTS; i++) {
        rl_slot *s = &a->rl[i];
        if (!s->key[0]) {
            if (!free_slot)
                free_slot = s;
        } else if (strcmp(s->key, key) == 0) {
            return s;
        } else if (s->pending == 0 && (!idle || s->last_ms < idle->last_ms)) {
            idle = s;
        }
    }
    rl_slot *s = free_slot ? free_slot : idle;
    if (!create || !s)
        return NULL;
    memset(s, 0, sizeof *s);
    snprintf(s->key, sizeof s->key, "%s", key);
    s->window_ms = now;
    return s;
}

/* Starts a new window when the slot's has ended. */
static void rl_roll(rl_slot *s, int64_t now)
{
    if (now >= s->window_ms + SP_AUTH_RL_WINDOW_S * 1000LL) {
        s->window_ms = now;
        s->failures = 0;
    }
}

/* The counters' keys of a login by user from address. Addresses are numeric, so the first '/'
 * of a pair's key ends the address. */
static void rl_keys(char keys[RL_KEYS][128], const char *address, const char *user)
{
    const char *ad = address ? address : "-";
    snprintf(keys[RL_PAIR], 128, "p:%.60s/%.64s", ad, user);
    snprintf(keys[RL_ADDR], 128, "a:%.60s", ad);
    snprintf(keys[RL_USER], 128, "u:%.64s", user);
}

/*
 * Reserves a password check for a login, or says how long to wait: 0, or the seconds. A check
 * under way counts against the limits as if it had failed until rl_end() judges it:
 *   - the pair (address, user): SP_AUTH_RL_FAILURES failures in the window;
 *   - the address, whatever the names: SP_AUTH_RL_ADDR_FAILURES;
 *   - the user, from any address: past SP_AUTH_RL_USER_FAILURES failures one check at most
 *     every SP_AUTH_RL_USER_GAP_MS. A spacing, not a lockout, so that many addresses cannot
 *     guess quickly, while an attacker cannot keep the owner out for more than a moment.
 */
static unsigned rl_begin(sp_auth *a, char keys[RL_KEYS][128], int64_t now)
{
    static const unsigned limit[RL_KEYS] = {SP_AUTH_RL_FAILURES, SP_AUTH_RL_ADDR_FAILURES,
                                            SP_AUTH_RL_USER_FAILURES};
    unsigned wait = 0;
    rl_slot *s[RL_KEYS];
    pthread_mutex_lock(&a->rl_mu);
    for (int k = 0; k < RL_KEYS; k++) {
        s[k] = rl_find(a, keys[k], now, 1);
        if (!s[k]) {
            wait = 1; /* every slot has a check under way: a burst beyond any address's */
            goto out;
        }
        rl_roll(s[k], now);
        s[k]->last_ms = now;
    }
    /* Finding one key's slot may have reused another's found just before it (only when every
     * other slot has a check under way): then the table is too busy to count this one. */
    for (int k = 0; k < RL_KEYS; k++) {
        if (strcmp(s[k]->key, keys[k]) != 0) {
            wait = 1;
            goto out;
        }
    }
    for (int k = RL_PAIR; k <= RL_ADDR; k++) {
        if (s[k]->failures + s[k]->pending < limit[k])
            continue;
        /* Failed checks: until the window ends; checks under way: they end in a moment. */
        unsigned w =
            s[k]->failures >= limit[k]
                ? (unsigned)((s[k]->window_ms + SP_AUTH_RL_WINDOW_S * 1000LL - now + 999) / 1000)
                : 1;
        wait = w > wait ? w : wait;
    }
    rl_slot *u = s[RL_USER];
    if (u->failures + u->pending >= limit[RL_USER] && now < u->begun_ms + SP_AUTH_RL_USER_GAP_MS) {
        unsigned w = (unsigned)((u->begun_ms + SP_AUTH_RL_USER_GAP_MS - now + 999) / 1000);
        wait = w > wait ? w : wait;
    }
    if (!wait) {
        for (int k = 0; k < RL_KEYS; k++)
            s[k]->pending++;
        u->begun_ms = now;
    }
out:
    pthread_mutex_unlock(&a->rl_mu);
    return wait;
}

/* Judges a check reserved by rl_begin(): a failure counts on all three counters; a success
 * clears the pair's (not the address's, which a valid account must not reset, nor the user's,
 * which others' failures made). */
static void rl_end(sp_auth *a, char keys[RL_KEYS][128], enum rl_outcome outcome, int64_t now)
{
    pthread_mutex_lock(&a->rl_mu);
    for (int k = 0; k < RL_KEYS; k++) {
        rl_slot *s = rl_find(a, keys[k], now, 0); /* kept: it has a check under way */
        if (!s)
            continue;
        if (s->pending)
            s->pending--;
        s->last_ms = now;
        if (outcome == RL_FAILED) {
            rl_roll(s, now);
            s->failures++;
        } else if (outcome == RL_PASSED && k == RL_PAIR) {
            s->failures = 0;
        }
    }
    pthread_mutex_unlock(&a->rl_mu);
}

/* ---- Sessions ---- */

int sp_auth_login(sp_auth *a, const char *address, const char *user, const char *password,
                  sp_auth_session *out, unsigned *retry_after_s, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    *retry_after_s = 0;
    char keys[RL_KEYS][128];
    rl_keys(keys, address, user);
    int64_t now = sp_wall_ms();
    unsigned wait = rl_begin(a, keys, now);
    if (wait) {
        *retry_after_s = wait;
        setmsg(msg, msglen, "too many failed logins; try again in %u s", wait);
        return SP_ELIMIT;
    }
    char hash[crypto_pwhash_STRBYTES] = "";
    int64_t uid = 0;
    pthread_mutex_lock(&a->mu);
    int rc = strlen(user) <= SP_AUTH_NAME_MAX
                 ? user_get(a, user, &uid, out->role, sizeof out->role, hash, sizeof hash)
                 : SP_ENOTFOUND;
    pthread_mutex_unlock(&a->mu);
    if (rc && rc != SP_ENOTFOUND) {
        rl_end(a, keys, RL_UNJUDGED, sp_wall_ms());
        return dberr(a, msg, msglen);
    }
    size_t pwlen = strlen(password);
    int ok = verify_password(a, rc == 0 ? hash : a->dummy_hash,
                             pwlen <= SP_AUTH_PASSWORD_MAX ? password : "") &&
             rc == 0 && pwlen <= SP_AUTH_PASSWORD_MAX;
    sodium_memzero(hash, sizeof hash);
    rl_end(a, keys, ok ? RL_PASSED : RL_FAILED, sp_wall_ms());
    if (!ok) {
        setmsg(msg, msglen, "wrong user name or password");
        return SP_EUNAUTH;
    }

    random_hex(out->sid, SECRET_BYTES);
    random_hex(out->csrf, SECRET_BYTES);
    out->max_age_s = a->session_ttl_s;
    out->expires_at = now + (int64_t)a->session_ttl_s * 1000;
    snprintf(out->user, sizeof out->user, "%s", user);
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(out->sid, h);
    pthread_mutex_lock(&a->mu);
    /* Expired sessions go at every login; a failure leaves them for later. */
    (void)sp_sql_run(a->sql, Q_SESSIONS_PURGE, "l", now);
    rc = sp_sql_run(a->sql, Q_SESSION_INSERT, "blslls", h, (int)sizeof h, uid, out->csrf, now,
                    out->expires_at, address);
    int ret = rc ? dberr(a, msg, msglen) : 0;
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
    int ret = sp_sql_run(a->sql, Q_SESSION_DELETE, "b", h, (int)sizeof h) ? dberr(a, NULL, 0) : 0;
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
    sp_sql *q = a->sql;
    int rc = sp_sql_begin(q);
    if (!rc)
        rc = sp_sql_run(q, Q_USER_SET_PASSWORD, "lsl", uid, hash, sp_wall_ms());
    if (!rc)
        rc = sp_sql_run(q, Q_SESSIONS_END, "lb", uid, keep_sid ? keep : NULL, (int)sizeof keep);
    if (!rc)
        rc = sp_sql_commit(q);
    int ret = 0;
    if (rc) {
        ret = dberr(a, msg, msglen);
        sp_sql_rollback(q);
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
    int64_t live = 0;
    if (sp_sql_one_int(a->sql, Q_TOKEN_LIVE_COUNT, &live, "ll", uid, now) != 0) {
        rc = dberr(a, msg, msglen);
        goto out;
    }
    if (live >= SP_AUTH_TOKENS_PER_USER) {
        setmsg(msg, msglen, "'%.64s' already has %d live tokens: revoke some first", user,
               SP_AUTH_TOKENS_PER_USER);
        rc = SP_ESTATE;
        goto out;
    }
    /* '-' binds NULL (never expires) and leaves expires unread. */
    if (sp_sql_run(a->sql, Q_TOKEN_INSERT, expires ? "lsbsll" : "lsbsl-", uid, name, h,
                   (int)sizeof h, prefix, now, expires) != 0) {
        rc = dberr(a, msg, msglen);
        goto out;
    }
    int64_t id = sp_sql_last_id(a->sql);
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
    int rc = list_locked(a, sp_sql_query(a->sql, Q_TOKEN_LIST, "s", user), "items",
                         "id:i name:a user:a prefix:a created_at:i expires_at:i last_used_at:i "
                         "revoked_at:i",
                         out);
    pthread_mutex_unlock(&a->mu);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(*out, "items"), i, t)
    {
        json_t *expires = json_object_get(t, "expires_at");
        int revoked = !json_is_null(json_object_get(t, "revoked_at"));
        int expired = !json_is_null(expires) && json_integer_value(expires) <= now;
        json_object_set_new(t, "state",
                            json_string(revoked   ? "revoked"
                                        : expired ? "expired"
                                                  : "active"));
    }
    return rc;
}

int sp_auth_token_revoke(sp_auth *a, int64_t id, const char *user, char *name_out, char *msg,
                         size_t msglen)
{
    if (name_out)
        name_out[0] = '\0';
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = sp_sql_query(a->sql, Q_TOKEN_REVOKE, "lsl", id, user, sp_wall_ms());
    int rc = sp_sql_first(a->sql, st);
    if (rc == 0 && name_out)
        sp_sql_col_copy(st, 0, name_out, 64);
    sp_sql_done(st);
    if (rc == SP_ENOTFOUND)
        setmsg(msg, msglen, "no live token with id %lld%s", (long long)id, user ? " of yours" : "");
    else if (rc)
        rc = dberr(a, msg, msglen);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ---- Users ---- */

int sp_auth_user_role(sp_auth *a, const char *name, char *role, size_t rolelen)
{
    if (role && rolelen)
        role[0] = '\0';
    if (!a->enabled) {
        /* Without accounts every principal is "local", an administrator. */
        if (role && rolelen)
            snprintf(role, rolelen, "admin");
        return 0;
    }
    pthread_mutex_lock(&a->mu);
    int rc = user_get(a, name, NULL, role, rolelen, NULL, 0);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int sp_auth_user_list(sp_auth *a, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&a->mu);
    int rc = list_locked(a, sp_sql_query(a->sql, Q_USER_LIST, ""), "items",
                         "name:a role:a created_at:i updated_at:i password_generated:b", out);
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
    rc = sp_sql_run(a->sql, Q_USER_INSERT, "sssil", name, role, hash, 0, sp_wall_ms());
    if (rc == SP_ESTATE) /* a constraint: the unique name */
        setmsg(msg, msglen, "a user named '%s' already exists", name);
    else if (rc)
        rc = dberr(a, msg, msglen);
    pthread_mutex_unlock(&a->mu);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

/* Whether user uid is the last admin. With a->mu held. -1 on failure. */
static int last_admin(sp_auth *a, int64_t uid)
{
    int64_t others = 0;
    if (sp_sql_one_int(a->sql, Q_ADMINS_OTHER, &others, "l", uid) != 0)
        return -1;
    return others == 0;
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
        } else if (sp_sql_run(a->sql, Q_USER_SET_ROLE, "lsl", uid, role, sp_wall_ms()) != 0) {
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
    if (!rc && sp_sql_run(a->sql, Q_USER_DELETE, "l", uid) != 0)
        rc = dberr(a, msg, msglen);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ---- Audit ---- */

/* How much of s an audit entry keeps: at most SP_AUTH_AUDIT_VALUE_MAX bytes, cut at a character
 * boundary so the entry stays valid UTF-8 when it was. 0 for NULL. */
static int cut(const char *s)
{
    if (!s)
        return 0;
    size_t n = strnlen(s, SP_AUTH_AUDIT_VALUE_MAX);
    while (n > 0 && n < strlen(s) && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return (int)n;
}

int sp_auth_audit(sp_auth *a, const char *user, const char *address, const char *action,
                  const char *object, const char *detail)
{
    if (!a)
        return 0;
    const char *who = user && *user ? user : "-";
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    if (sp_sql_run(a->sql, Q_AUDIT_INSERT, "lSSSSS", sp_wall_ms(), who, cut(who), address,
                   cut(address), action, cut(action), object, cut(object), detail,
                   cut(detail)) != 0) {
        sp_log_kv(SP_LOG_ERROR, "audit entry not written", "action", action, "error",
                  sp_sql_errmsg(a->sql), NULL);
        rc = dbcode(a);
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
    int rc = list_locked(a,
                         sp_sql_query(a->sql, Q_AUDIT_LIST, "sslli", f->user, f->action,
                                      f->since_ms, f->until_ms, limit),
                         "entries", "id:i at:i user:a address:a action:a object:a detail:a", out);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int sp_auth_agent_token_create(sp_auth *a, const char *by, const char *name, json_t **out,
                               char *msg, size_t msglen)
{
    *out = NULL;
    int rc = check_token_name(name, msg, msglen);
    if (rc)
        return rc;
    char token[sizeof AGENT_TOKEN_PREFIX + SECRET_HEX];
    char secret[SECRET_HEX + 1];
    random_hex(secret, SECRET_BYTES);
    snprintf(token, sizeof token, AGENT_TOKEN_PREFIX "%s", secret);
    sodium_memzero(secret, sizeof secret);
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(token, h);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.12s", token);
    pthread_mutex_lock(&a->mu);
    if (sp_sql_run(a->sql, Q_AGENT_TOKEN_INSERT, by ? "sbssl" : "sbs-l", name, h, (int)sizeof h,
                   prefix, by, sp_wall_ms()) != 0) {
        rc = dberr(a, msg, msglen);
    } else {
        int64_t id = sp_sql_last_id(a->sql);
        *out = json_pack("{s:I, s:o, s:s, s:s}", "id", (json_int_t)id, "name", sp_json_string(name),
                         "token", token, "prefix", prefix);
    }
    pthread_mutex_unlock(&a->mu);
    sodium_memzero(token, sizeof token);
    return rc;
}

int sp_auth_agent_token_list(sp_auth *a, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&a->mu);
    int rc = list_locked(a, sp_sql_query(a->sql, Q_AGENT_TOKEN_LIST, ""), "items",
                         "id:i name:a prefix:a created_by:a created_at:i last_used_at:i "
                         "revoked_at:i",
                         out);
    pthread_mutex_unlock(&a->mu);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(*out, "items"), i, t) json_object_set_new(
        t, "state",
        json_string(json_is_null(json_object_get(t, "revoked_at")) ? "active" : "revoked"));
    return rc;
}

int sp_auth_agent_token_revoke(sp_auth *a, int64_t id, char *name_out, char *msg, size_t msglen)
{
    if (name_out)
        name_out[0] = '\0';
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = sp_sql_query(a->sql, Q_AGENT_TOKEN_REVOKE, "ll", id, sp_wall_ms());
    int rc = sp_sql_first(a->sql, st);
    if (rc == 0 && name_out)
        sp_sql_col_copy(st, 0, name_out, 64);
    sp_sql_done(st);
    if (rc == SP_ENOTFOUND)
        setmsg(msg, msglen, "no live agent token with id %lld", (long long)id);
    else if (rc)
        rc = dberr(a, msg, msglen);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int sp_auth_agent_token_check(sp_auth *a, const char *token, int64_t *id)
{
    *id = 0;
    if (strncmp(token, AGENT_TOKEN_PREFIX, sizeof AGENT_TOKEN_PREFIX - 1) != 0 ||
        !is_hex(token + sizeof AGENT_TOKEN_PREFIX - 1, SECRET_HEX) ||
        strlen(token) != sizeof AGENT_TOKEN_PREFIX - 1 + SECRET_HEX)
        return SP_EUNAUTH;
    unsigned char h[crypto_hash_sha256_BYTES];
    sha256(token, h);
    char msg[64];
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&a->mu);
    int rc = find_by_hash(a, Q_AGENT_TOKEN_GET, h, &st, "unknown agent token", msg, sizeof msg);
    if (rc == 0) {
        int64_t tid = sqlite3_column_int64(st, 0);
        int revoked = sqlite3_column_type(st, 1) != SQLITE_NULL;
        int64_t last = sqlite3_column_int64(st, 2);
        sp_sql_done(st);
        if (revoked) {
            rc = SP_EUNAUTH;
        } else {
            int64_t now = sp_wall_ms();
            if (now - last >= LAST_USED_EVERY_MS)
                (void)sp_sql_run(a->sql, Q_AGENT_TOKEN_USED, "ll", tid, now);
            *id = tid;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}
