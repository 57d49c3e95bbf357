/*
 * notify.c - see notify.h.
 */
#include "notify/notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <sodium.h>
#include <sqlite3.h>

#include "base/errors.h"
#include "base/json.h"
#include "base/log.h"
#include "base/version.h"
#include "engine/allowlist.h"
#include "engine/banned.h"
#include "notify/payload.h"
#include "store/sql.h"
#include "store/store.h"

/* The secret made when an admin gives none: a prefix and 32 random bytes in hex. */
#define SECRET_PREFIX "whsec_"
#define SECRET_RANDOM_BYTES 32
/* Deliveries the thread looks at in one pass. */
#define DUE_BATCH 64
/* The longest the thread sleeps with nothing due (it is woken for new work anyway). */
#define IDLE_MS 30000
#define MAX_EVENTS 8

enum {
    Q_HOOK_INSERT,
    Q_HOOK_GET,
    Q_HOOK_SECRET,
    Q_HOOK_LIST,
    Q_HOOK_COUNT,
    Q_HOOK_UPDATE,
    Q_HOOK_DELETE,
    Q_HOOKS_ENABLED,
    Q_DELIVERY_INSERT,
    Q_DELIVERY_LIST,
    Q_DELIVERY_GET,
    Q_DELIVERY_RESEND,
    Q_DELIVERY_PRUNE,
    Q_DUE,
    Q_NEXT_DUE,
    Q_ATTEMPT_BEGIN,
    Q_ATTEMPT_END,
    Q_ABANDONED,
    Q_ABORTED_RUNS,
    Q_ALLOW_LIST,
    Q_ALLOW_CLEAR,
    Q_ALLOW_INSERT,
    Q_COUNT
};

#define HOOK_COLUMNS "id, name, url, events, format, enabled, created_at, updated_at, created_by"
#define HOOK_SPEC                                                                                  \
    "id:i name:s url:s events:j format:s enabled:b created_at:i updated_at:i created_by:s"
#define DELIVERY_COLUMNS                                                                           \
    "d.id, d.webhook_id, w.name, d.event, d.run_id, d.state, d.attempts, d.created_at,"            \
    " d.last_attempt_at, d.next_attempt_at, d.last_status, d.last_error, d.last_ms,"               \
    " d.redelivery_of"
#define DELIVERY_SPEC                                                                              \
    "id:i webhook_id:i webhook_name:s event:s run_id:i state:s attempts:i created_at:i "           \
    "last_attempt_at:i next_attempt_at:i last_status:i last_error:s last_ms:i redelivery_of:i"

static const char *const sql_text[Q_COUNT] = {
    [Q_HOOK_INSERT] = "INSERT INTO webhooks (name, url, events, format, secret, enabled,"
                      " created_at, updated_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
                      " ?7, ?8)",
    [Q_HOOK_GET] = "SELECT " HOOK_COLUMNS " FROM webhooks WHERE id = ?1",
    [Q_HOOK_SECRET] = "SELECT secret FROM webhooks WHERE id = ?1",
    [Q_HOOK_LIST] = "SELECT " HOOK_COLUMNS " FROM webhooks ORDER BY id",
    [Q_HOOK_COUNT] = "SELECT count(*) FROM webhooks",
    [Q_HOOK_UPDATE] = "UPDATE webhooks SET name = ?2, url = ?3, events = ?4, format = ?5,"
                      " secret = coalesce(?6, secret), enabled = ?7, updated_at = ?8 WHERE id = ?1",
    [Q_HOOK_DELETE] = "DELETE FROM webhooks WHERE id = ?1",
    [Q_HOOKS_ENABLED] = "SELECT id, events, format FROM webhooks WHERE enabled = 1 ORDER BY id",
    /* One delivery per webhook, event and run (the partial unique index): a run told twice
     * around a restart is delivered once. */
    [Q_DELIVERY_INSERT] = "INSERT OR IGNORE INTO webhook_deliveries (webhook_id, event, run_id,"
                          " body, state, attempts, created_at, next_attempt_at)"
                          " VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
    [Q_DELIVERY_LIST] = "SELECT " DELIVERY_COLUMNS " FROM webhook_deliveries d"
                        " JOIN webhooks w ON w.id = d.webhook_id"
                        " WHERE (?1 = 0 OR d.webhook_id = ?1) ORDER BY d.id DESC LIMIT ?2",
    [Q_DELIVERY_GET] = "SELECT " DELIVERY_COLUMNS ", d.body FROM webhook_deliveries d"
                       " JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?1",
    [Q_DELIVERY_RESEND] = "INSERT INTO webhook_deliveries (webhook_id, event, run_id, body, state,"
                          " attempts, created_at, next_attempt_at, redelivery_of)"
                          " SELECT webhook_id, event, run_id, body, 'pending', 0, ?2, ?2, id"
                          " FROM webhook_deliveries WHERE id = ?1",
    /* The log keeps the newest SP_NOTIFY_LOG_KEPT of a webhook, never a pending one. */
    [Q_DELIVERY_PRUNE] =
        "DELETE FROM webhook_deliveries WHERE webhook_id = ?1 AND state <> 'pending'"
        " AND id <= (SELECT id FROM webhook_deliveries WHERE webhook_id = ?1"
        " ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    [Q_DUE] = "SELECT d.id, d.webhook_id, d.event, d.body, d.attempts, d.created_at, w.url,"
              " w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
              " WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND w.enabled = 1"
              " ORDER BY d.next_attempt_at, d.id LIMIT ?2",
    [Q_NEXT_DUE] = "SELECT min(d.next_attempt_at) FROM webhook_deliveries d"
                   " JOIN webhooks w ON w.id = d.webhook_id"
                   " WHERE d.state = 'pending' AND w.enabled = 1",
    /* An attempt in flight has no next_attempt_at: it is not due again until it ends. */
    [Q_ATTEMPT_BEGIN] = "UPDATE webhook_deliveries SET attempts = attempts + 1,"
                        " last_attempt_at = ?2, next_attempt_at = NULL WHERE id = ?1",
    [Q_ATTEMPT_END] = "UPDATE webhook_deliveries SET state = ?2, next_attempt_at = ?3,"
                      " last_status = ?4, last_error = ?5, last_ms = ?6 WHERE id = ?1",
    /* Attempts in flight when the last process ended are made again. */
    [Q_ABANDONED] = "UPDATE webhook_deliveries SET next_attempt_at = ?1"
                    " WHERE state = 'pending' AND next_attempt_at IS NULL",
    [Q_ABORTED_RUNS] = "SELECT id FROM runs WHERE status = 'aborted' AND ended_at >= ?1"
                       " ORDER BY id",
    [Q_ALLOW_LIST] = "SELECT entry FROM webhook_allowlist ORDER BY position",
    [Q_ALLOW_CLEAR] = "DELETE FROM webhook_allowlist",
    [Q_ALLOW_INSERT] = "INSERT INTO webhook_allowlist (position, entry) VALUES (?1, ?2)",
};

/* An allowlist shared by the attempts that started under it; freed with its last user. */
typedef struct allow_ref {
    sp_allowlist *al; /* NULL: every address is allowed */
    int refs;
} allow_ref;

/* One attempt in flight: the delivery thread's only. */
typedef struct xfer {
    CURL *easy;
    int64_t delivery_id, webhook_id, created_at;
    int attempts;
    char *body;
    struct curl_slist *headers;
    size_t got;
    allow_ref *allow;
    char blocked[64];
    char errbuf[CURL_ERROR_SIZE];
    int64_t started_ms;
    char origin[160];
} xfer;

struct sp_notify {
    char *db_path;
    char *server;
    int64_t aborted_since, backoff_ms, retry_for_ms;

    pthread_mutex_t api_mu;
    sp_sql *api;

    pthread_mutex_t mu; /* the queue, stop, the allowlist */
    int64_t *queue;
    size_t nqueue;
    uint64_t dropped;
    int stop, started;
    allow_ref *allow;
    CURLM *multi; /* made here, driven by the thread; curl_multi_wakeup from any thread */
    pthread_t thread;
};

static int seterr(char *msg, size_t msglen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int seterr(char *msg, size_t msglen, int rc, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int open_sql(const char *path, sp_sql **out, char *err, size_t errlen)
{
    static const sp_sql_config cfg = {.texts = sql_text, .ntexts = Q_COUNT, .log_as = "notify"};
    char why[256] = "";
    if (sp_sql_open(out, path, SQLITE_OPEN_READWRITE, &cfg, why, sizeof why) != 0)
        return seterr(err, errlen, SP_ESYS, "notify: cannot open %s: %s", path, why);
    if (sp_sql_exec(sp_sql_db(*out), "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;") !=
        SQLITE_OK) {
        seterr(err, errlen, SP_EIO, "notify: %s", sqlite3_errmsg(sp_sql_db(*out)));
        sp_sql_close(*out);
        *out = NULL;
        return SP_EIO;
    }
    return 0;
}

static void wake(sp_notify *n)
{
    curl_multi_wakeup(n->multi);
}

void sp_notify_url_origin(const char *url, char *out, size_t outlen)
{
    out[0] = '\0';
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        snprintf(out, outlen, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* ---- The allowlist ---- */

static void allow_put(sp_notify *n, allow_ref *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&n->mu);
    int last = --r->refs == 0;
    pthread_mutex_unlock(&n->mu);
    if (last) {
        sp_allowlist_free(r->al);
        free(r);
    }
}

static allow_ref *allow_take(sp_notify *n)
{
    pthread_mutex_lock(&n->mu);
    allow_ref *r = n->allow;
    r->refs++;
    pthread_mutex_unlock(&n->mu);
    return r;
}

/* Parses and resolves entries (an array of strings); *out NULL when there are none. */
static int allow_build(const json_t *entries, sp_allowlist **out, sp_errlist *errs)
{
    *out = NULL;
    size_t n = json_array_size(entries);
    if (!n)
        return 0;
    const char **v = sp_calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_string_value(json_array_get(entries, i));
    int rc = sp_allowlist_new(v, n, out, errs);
    free(v);
    if (rc == 0)
        sp_allowlist_resolve(*out);
    return rc;
}

static void allow_install(sp_notify *n, sp_allowlist *al)
{
    allow_ref *r = sp_calloc(1, sizeof *r);
    r->al = al;
    r->refs = 1;
    pthread_mutex_lock(&n->mu);
    allow_ref *old = n->allow;
    n->allow = r;
    pthread_mutex_unlock(&n->mu);
    allow_put(n, old);
}

int sp_notify_allowlist_get(sp_notify *n, json_t **out)
{
    *out = NULL;
    json_t *rows = NULL;
    pthread_mutex_lock(&n->api_mu);
    int rc = sp_sql_rows(n->api, sp_sql_query(n->api, Q_ALLOW_LIST, ""), "entry:s", &rows);
    pthread_mutex_unlock(&n->api_mu);
    if (rc)
        return rc;
    json_t *entries = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) json_array_append(entries, json_object_get(r, "entry"));
    json_decref(rows);
    *out = json_pack("{s:o}", "entries", entries);
    return 0;
}

int sp_notify_allowlist_set(sp_notify *n, const json_t *body, sp_errlist *errs, char *msg,
                            size_t msglen)
{
    const json_t *entries = json_object_get(body, "entries");
    if (!json_is_object(body) || !json_is_array(entries) || json_object_size(body) != 1) {
        sp_errlist_add(errs, "entries",
                       "expected {\"entries\": [...]}: addresses, networks or "
                       "host names, each with an optional port");
        return seterr(msg, msglen, SP_EINVAL, "invalid webhook allowlist");
    }
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) if (!json_is_string(e))
        sp_errlist_add(errs, "", "entries[%zu] must be a string", i);
    if (errs->n)
        return seterr(msg, msglen, SP_EINVAL, "invalid webhook allowlist");
    sp_allowlist *al = NULL;
    /* Resolved before the lock: DNS may take a while, and nothing waits on it. */
    if (allow_build(entries, &al, errs) != 0)
        return seterr(msg, msglen, SP_EINVAL, "invalid webhook allowlist");
    pthread_mutex_lock(&n->api_mu);
    int rc = sp_sql_begin(n->api);
    if (rc == 0)
        rc = sp_sql_run(n->api, Q_ALLOW_CLEAR, "");
    json_array_foreach(entries, i, e) if (rc == 0) rc =
        sp_sql_run(n->api, Q_ALLOW_INSERT, "ls", (int64_t)i, json_string_value(e));
    rc = sp_sql_end(n->api, rc);
    pthread_mutex_unlock(&n->api_mu);
    if (rc) {
        sp_allowlist_free(al);
        return seterr(msg, msglen, rc, "the database failed");
    }
    allow_install(n, al);
    return 0;
}

/* ---- Webhooks ---- */

typedef struct hook_fields {
    const char *url, *name, *format, *secret;
    const json_t *events;
    int enabled; /* -1: not given */
    int rotate;
} hook_fields;

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

static void check_url(const char *url, sp_errlist *errs)
{
    size_t len = strlen(url);
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = len > 0 && len <= SP_NOTIFY_URL_MAX && u &&
             curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0];
    if (!ok)
        sp_errlist_add(errs, "url", "must be an absolute http or https URL of at most %d bytes",
                       SP_NOTIFY_URL_MAX);
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        sp_errlist_add(errs, "url", "the scheme must be http or https, not '%.16s'", scheme);
    else if (strpbrk(url, " \t\r\n"))
        sp_errlist_add(errs, "url", "must not contain spaces or line breaks");
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
}

static int parse_hook(const json_t *body, int create, hook_fields *f, sp_errlist *errs)
{
    static const char *const known[] = {"url",    "events",  "name",         "format",
                                        "secret", "enabled", "rotate_secret"};
    memset(f, 0, sizeof *f);
    f->enabled = -1;
    if (!json_is_object(body)) {
        sp_errlist_add(errs, "",
                       "expected an object such as {\"url\": \"https://...\", "
                       "\"events\": [\"run.failed\"]}");
        return SP_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "url") == 0) {
            if (!json_is_string(v))
                sp_errlist_add(errs, key, "must be an http or https URL");
            else
                check_url((f->url = json_string_value(v)), errs);
        } else if (strcmp(key, "events") == 0) {
            f->events = v;
            if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > MAX_EVENTS) {
                sp_errlist_add(errs, key,
                               "must list 1 to %d events of: run.ended, run.failed, "
                               "run.regressed, run.aborted, agent.lost",
                               MAX_EVENTS);
                continue;
            }
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                char path[32];
                snprintf(path, sizeof path, "events[%zu]", i);
                const char *name = json_string_value(e);
                if (!sp_payload_event_known(name)) {
                    const char *hint = name ? sp_suggest(name, sp_payload_events, 5) : NULL;
                    sp_errlist_add(errs, path, "unknown event%s%s%s",
                                   hint ? " (did you mean '" : "", hint ? hint : "",
                                   hint ? "'?)" : "");
                    continue;
                }
                for (size_t k = 0; k < i; k++)
                    if (json_equal(json_array_get(v, k), e))
                        sp_errlist_add(errs, path, "'%s' is listed twice", name);
            }
        } else if (strcmp(key, "name") == 0) {
            const char *s = json_string_value(v);
            if (!s || !*s || strlen(s) > SP_AUTH_NAME_MAX)
                sp_errlist_add(errs, key, "must be a name of 1 to %d bytes", SP_AUTH_NAME_MAX);
            else
                f->name = s;
        } else if (strcmp(key, "format") == 0) {
            const char *s = json_string_value(v);
            if (!s || (strcmp(s, "stampede") != 0 && strcmp(s, "slack") != 0))
                sp_errlist_add(errs, key, "must be \"stampede\" or \"slack\"");
            else
                f->format = s;
        } else if (strcmp(key, "secret") == 0) {
            const char *s = json_string_value(v);
            size_t len = s ? strlen(s) : 0;
            if (!s || len < SP_NOTIFY_SECRET_MIN || len > SP_NOTIFY_SECRET_MAX || !printable(s))
                sp_errlist_add(errs, key, "must be %d to %d printable characters without spaces",
                               SP_NOTIFY_SECRET_MIN, SP_NOTIFY_SECRET_MAX);
            else
                f->secret = s;
        } else if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v))
                sp_errlist_add(errs, key, "must be true or false");
            else
                f->enabled = json_is_true(v);
        } else if (strcmp(key, "rotate_secret") == 0 && !create) {
            if (!json_is_boolean(v))
                sp_errlist_add(errs, key, "must be true or false");
            else
                f->rotate = json_is_true(v);
        } else {
            const char *hint = sp_suggest(key, known, SP_ARRAY_LEN(known) - create);
            sp_errlist_add(errs, key, "unknown field%s%s%s", hint ? " (did you mean '" : "",
                           hint ? hint : "", hint ? "'?)" : "");
        }
    }
    if (create && !f->url && !errs->n)
        sp_errlist_add(errs, "url", "is required: the receiver's http or https URL");
    if (create && !f->events && !errs->n)
        sp_errlist_add(errs, "events", "is required, e.g. [\"run.ended\"]");
    if (f->secret && f->rotate)
        sp_errlist_add(errs, "rotate_secret", "give a secret or rotate it, not both");
    return errs->n ? SP_EINVAL : 0;
}

static void make_secret(char *out, size_t outlen)
{
    unsigned char raw[SECRET_RANDOM_BYTES];
    randombytes_buf(raw, sizeof raw);
    char hex[SECRET_RANDOM_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    snprintf(out, outlen, "%s%s", SECRET_PREFIX, hex);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(hex, sizeof hex);
}

static int hook_get_locked(sp_notify *n, int64_t id, json_t **out)
{
    sqlite3_stmt *st = sp_sql_query(n->api, Q_HOOK_GET, "l", id);
    int rc = sp_sql_first(n->api, st);
    *out = rc == 0 ? sp_sql_row(st, HOOK_SPEC) : NULL;
    sp_sql_done(st);
    return rc;
}

int sp_notify_hook_get(sp_notify *n, int64_t id, json_t **out)
{
    pthread_mutex_lock(&n->api_mu);
    int rc = hook_get_locked(n, id, out);
    pthread_mutex_unlock(&n->api_mu);
    return rc;
}

int sp_notify_hook_list(sp_notify *n, json_t **out)
{
    *out = NULL;
    json_t *items = NULL;
    pthread_mutex_lock(&n->api_mu);
    int rc = sp_sql_rows(n->api, sp_sql_query(n->api, Q_HOOK_LIST, ""), HOOK_SPEC, &items);
    pthread_mutex_unlock(&n->api_mu);
    if (rc == 0)
        *out = json_pack("{s:o}", "items", items);
    return rc;
}

int sp_notify_hook_create(sp_notify *n, const json_t *body, const char *by, json_t **out,
                          sp_errlist *errs, char *msg, size_t msglen)
{
    *out = NULL;
    hook_fields f;
    if (parse_hook(body, 1, &f, errs) != 0)
        return seterr(msg, msglen, SP_EINVAL, "invalid webhook");
    char secret[SP_NOTIFY_SECRET_MAX + 1], name[SP_AUTH_NAME_MAX + 1];
    if (f.secret)
        snprintf(secret, sizeof secret, "%s", f.secret);
    else
        make_secret(secret, sizeof secret);
    if (f.name) {
        snprintf(name, sizeof name, "%s", f.name);
    } else {
        char origin[200];
        sp_notify_url_origin(f.url, origin, sizeof origin);
        const char *host = strstr(origin, "://");
        snprintf(name, sizeof name, "%s", host ? host + 3 : "webhook");
    }
    pthread_mutex_lock(&n->api_mu);
    int64_t count = 0;
    int rc = sp_sql_one_int(n->api, Q_HOOK_COUNT, &count, "");
    if (rc == 0 && count >= SP_NOTIFY_MAX_HOOKS)
        rc = SP_ELIMIT;
    if (rc == 0)
        rc = sp_sql_run(n->api, Q_HOOK_INSERT, "ssjssils", name, f.url, f.events,
                        f.format ? f.format : "stampede", secret, f.enabled != 0, sp_wall_ms(), by);
    if (rc == 0)
        rc = hook_get_locked(n, sp_sql_last_id(n->api), out);
    pthread_mutex_unlock(&n->api_mu);
    if (rc == 0)
        json_object_set_new(*out, "secret", json_string(secret));
    sodium_memzero(secret, sizeof secret);
    if (rc == SP_ELIMIT)
        return seterr(msg, msglen, rc, "at most %d webhooks", SP_NOTIFY_MAX_HOOKS);
    return rc ? seterr(msg, msglen, rc, "the database failed") : 0;
}

int sp_notify_hook_update(sp_notify *n, int64_t id, const json_t *body, json_t **out,
                          sp_errlist *errs, char *msg, size_t msglen)
{
    *out = NULL;
    hook_fields f;
    if (parse_hook(body, 0, &f, errs) != 0)
        return seterr(msg, msglen, SP_EINVAL, "invalid webhook");
    char secret[SP_NOTIFY_SECRET_MAX + 1] = "";
    if (f.secret)
        snprintf(secret, sizeof secret, "%s", f.secret);
    else if (f.rotate)
        make_secret(secret, sizeof secret);
    json_t *cur = NULL;
    pthread_mutex_lock(&n->api_mu);
    int rc = hook_get_locked(n, id, &cur);
    if (rc == 0) {
        const json_t *events = f.events ? f.events : json_object_get(cur, "events");
        int enabled = f.enabled >= 0 ? f.enabled : json_is_true(json_object_get(cur, "enabled"));
        rc = sp_sql_run(n->api, Q_HOOK_UPDATE, "lssjssil", id,
                        f.name ? f.name : json_string_value(json_object_get(cur, "name")),
                        f.url ? f.url : json_string_value(json_object_get(cur, "url")), events,
                        f.format ? f.format : json_string_value(json_object_get(cur, "format")),
                        secret[0] ? secret : NULL, enabled, sp_wall_ms());
    }
    if (rc == 0)
        rc = hook_get_locked(n, id, out);
    pthread_mutex_unlock(&n->api_mu);
    json_decref(cur);
    if (rc == 0 && secret[0])
        json_object_set_new(*out, "secret", json_string(secret));
    sodium_memzero(secret, sizeof secret);
    if (rc == 0)
        wake(n); /* enabled again: its pending deliveries are due */
    if (rc == SP_ENOTFOUND)
        return seterr(msg, msglen, rc, "no webhook with id %lld", (long long)id);
    return rc ? seterr(msg, msglen, rc, "the database failed") : 0;
}

int sp_notify_hook_delete(sp_notify *n, int64_t id, json_t **deleted)
{
    *deleted = NULL;
    pthread_mutex_lock(&n->api_mu);
    int rc = hook_get_locked(n, id, deleted);
    if (rc == 0)
        rc = sp_sql_run(n->api, Q_HOOK_DELETE, "l", id);
    pthread_mutex_unlock(&n->api_mu);
    if (rc) {
        json_decref(*deleted);
        *deleted = NULL;
    }
    return rc;
}

static int delivery_get_locked(sp_notify *n, int64_t id, int with_body, json_t **out)
{
    sqlite3_stmt *st = sp_sql_query(n->api, Q_DELIVERY_GET, "l", id);
    int rc = sp_sql_first(n->api, st);
    *out = rc == 0 ? sp_sql_row(st, DELIVERY_SPEC) : NULL;
    if (rc == 0 && with_body)
        json_object_set_new(*out, "body", sp_sql_col(st, 14, 's'));
    sp_sql_done(st);
    return rc;
}

int sp_notify_ping(sp_notify *n, int64_t id, json_t **out)
{
    *out = NULL;
    json_t *hook = NULL;
    pthread_mutex_lock(&n->api_mu);
    int rc = hook_get_locked(n, id, &hook);
    size_t len = 0;
    char *body = NULL;
    if (rc == 0) {
        body = sp_payload_ping(id, json_string_value(json_object_get(hook, "name")),
                               json_string_value(json_object_get(hook, "format")), n->server,
                               sp_wall_ms(), &len);
        rc = body ? sp_sql_run(n->api, Q_DELIVERY_INSERT, "ls-sl", id, "ping", body, sp_wall_ms())
                  : SP_ESYS;
    }
    if (rc == 0)
        rc = delivery_get_locked(n, sp_sql_last_id(n->api), 0, out);
    pthread_mutex_unlock(&n->api_mu);
    free(body);
    json_decref(hook);
    if (rc == 0)
        wake(n);
    return rc;
}

int sp_notify_deliveries(sp_notify *n, int64_t hook_id, int limit, json_t **out)
{
    *out = NULL;
    if (limit < 1 || limit > 1000)
        limit = 100;
    json_t *items = NULL;
    pthread_mutex_lock(&n->api_mu);
    int rc = sp_sql_rows(n->api, sp_sql_query(n->api, Q_DELIVERY_LIST, "li", hook_id, limit),
                         DELIVERY_SPEC, &items);
    pthread_mutex_unlock(&n->api_mu);
    if (rc == 0)
        *out = json_pack("{s:o}", "items", items);
    return rc;
}

int sp_notify_delivery_get(sp_notify *n, int64_t id, json_t **out)
{
    pthread_mutex_lock(&n->api_mu);
    int rc = delivery_get_locked(n, id, 1, out);
    pthread_mutex_unlock(&n->api_mu);
    return rc;
}

int sp_notify_resend(sp_notify *n, int64_t id, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&n->api_mu);
    int rc = sp_sql_run(n->api, Q_DELIVERY_RESEND, "ll", id, sp_wall_ms());
    if (rc == 0 && !sp_sql_changes(n->api))
        rc = SP_ENOTFOUND;
    if (rc == 0)
        rc = delivery_get_locked(n, sp_sql_last_id(n->api), 0, out);
    pthread_mutex_unlock(&n->api_mu);
    if (rc == 0)
        wake(n);
    return rc;
}

/* ---- Run events ---- */

void sp_notify_run_ended(sp_notify *n, int64_t run_id)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    int dropped = 0;
    if (n->nqueue < SP_NOTIFY_QUEUE_MAX)
        n->queue[n->nqueue++] = run_id;
    else
        dropped = ++n->dropped > 0;
    pthread_mutex_unlock(&n->mu);
    if (dropped) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)run_id);
        sp_log_kv(SP_LOG_WARN, "webhook events dropped: too many runs waiting", "run", id, NULL);
        return;
    }
    wake(n);
}

/* The delivery thread's state. */
typedef struct worker {
    sp_notify *n;
    sp_sql *q;
    sp_store *store;
    xfer *inflight[SP_NOTIFY_INFLIGHT];
    size_t ninflight;
} worker;

/* Stores a pending delivery of each event of run that a webhook wants. */
static void make_deliveries(worker *w, int64_t run_id)
{
    json_t *run = NULL, *hooks = NULL;
    if (sp_store_run_get(w->store, run_id, &run) != 0)
        return;
    const char *status = json_string_value(json_object_get(run, "status"));
    if (!status)
        status = "";
    const char *events[4];
    size_t nev = 0;
    events[nev++] = "run.ended";
    /* "incomplete" (a run whose results the store could not all keep) is never a pass. */
    if (strcmp(status, "failed") == 0 || strcmp(status, "error") == 0 ||
        strcmp(status, "incomplete") == 0)
        events[nev++] = "run.failed";
    if (strcmp(status, "aborted") == 0)
        events[nev++] = "run.aborted";
    /* The CI gate's comparison with the baseline (runs/runs.c) found a significant regression,
     * whether or not it failed the run (fail_on_regression). */
    if (json_array_size(json_object_get(json_object_get(run, "baseline"), "regressions")) > 0)
        events[nev++] = "run.regressed";
    int rc = sp_sql_rows(w->q, sp_sql_query(w->q, Q_HOOKS_ENABLED, ""), "id:i events:j format:s",
                         &hooks);
    size_t i;
    json_t *h;
    json_array_foreach(hooks, i, h)
    {
        int64_t hook_id = json_integer_value(json_object_get(h, "id"));
        for (size_t e = 0; rc == 0 && e < nev; e++) {
            int wanted = 0;
            size_t k;
            json_t *name;
            json_array_foreach(json_object_get(h, "events"), k, name) wanted |=
                json_is_string(name) && strcmp(json_string_value(name), events[e]) == 0;
            if (!wanted)
                continue;
            size_t len;
            char *body =
                sp_payload_run(events[e], run, json_string_value(json_object_get(h, "format")),
                               w->n->server, sp_wall_ms(), &len);
            if (body) {
                sp_sql_run(w->q, Q_DELIVERY_INSERT, "lslsl", hook_id, events[e], run_id, body,
                           sp_wall_ms());
                sp_sql_run(w->q, Q_DELIVERY_PRUNE, "li", hook_id, SP_NOTIFY_LOG_KEPT);
            }
            free(body);
        }
    }
    json_decref(hooks);
    json_decref(run);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    SP_UNUSED(p);
    xfer *x = ud;
    x->got += size * nmemb;
    /* Only the status matters; a receiver that goes on talking is cut off. */
    return x->got > SP_NOTIFY_RESPONSE_MAX ? 0 : size * nmemb;
}

/* Every new connection, after DNS resolution, with the address about to be connected. */
static curl_socket_t guard_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    xfer *x = ud;
    SP_UNUSED(purpose);
    if (x->allow->al && !sp_allowlist_allows_addr(x->allow->al, &a->addr, a->addrlen)) {
        sp_allow_format_addr(&a->addr, x->blocked, sizeof x->blocked);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Every request, on a reused connection too, just before it is sent. */
static int guard_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    xfer *x = ud;
    SP_UNUSED(local_ip);
    SP_UNUSED(local_port);
    if (x->allow->al && !sp_allowlist_allows_ip(x->allow->al, ip, (unsigned)port)) {
        snprintf(x->blocked, sizeof x->blocked, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
        return CURL_PREREQFUNC_ABORT;
    }
    x->blocked[0] = '\0';
    return CURL_PREREQFUNC_OK;
}

static void xfer_free(xfer *x)
{
    if (!x)
        return;
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

static int hook_busy(const worker *w, int64_t hook_id)
{
    int n = 0;
    for (size_t i = 0; i < w->ninflight; i++)
        n += w->inflight[i]->webhook_id == hook_id;
    return n;
}

static int delivery_busy(const worker *w, int64_t id)
{
    for (size_t i = 0; i < w->ninflight; i++)
        if (w->inflight[i]->delivery_id == id)
            return 1;
    return 0;
}

/* The columns of Q_DUE. */
#define DUE_SPEC "id:i webhook_id:i event:s body:s attempts:i created_at:i url:s secret:s"

/* Starts one attempt of the delivery row (DUE_SPEC) under allowlist allow. */
static void attempt(worker *w, const json_t *row, allow_ref *allow)
{
    sp_notify *n = w->n;
    xfer *x = sp_calloc(1, sizeof *x);
    x->delivery_id = json_integer_value(json_object_get(row, "id"));
    x->webhook_id = json_integer_value(json_object_get(row, "webhook_id"));
    x->attempts = (int)json_integer_value(json_object_get(row, "attempts")) + 1;
    x->created_at = json_integer_value(json_object_get(row, "created_at"));
    const char *event = json_string_value(json_object_get(row, "event"));
    const char *body = json_string_value(json_object_get(row, "body"));
    const char *url = json_string_value(json_object_get(row, "url"));
    const char *secret = json_string_value(json_object_get(row, "secret"));
    x->body = sp_strdup(body ? body : "");
    pthread_mutex_lock(&n->mu);
    allow->refs++;
    pthread_mutex_unlock(&n->mu);
    x->allow = allow;
    sp_notify_url_origin(url ? url : "", x->origin, sizeof x->origin);

    char sig[SP_PAYLOAD_SIG_LEN], line[160];
    sp_payload_sign(secret ? secret : "", secret ? strlen(secret) : 0, x->body, strlen(x->body),
                    sig);
    x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
    x->headers = curl_slist_append(x->headers, "Expect:");
    snprintf(line, sizeof line, "User-Agent: Stampede-Webhooks/%s", sp_version());
    x->headers = curl_slist_append(x->headers, line);
    snprintf(line, sizeof line, "X-Stampede-Event: %s", event ? event : "");
    x->headers = curl_slist_append(x->headers, line);
    snprintf(line, sizeof line, "X-Stampede-Delivery: %lld", (long long)x->delivery_id);
    x->headers = curl_slist_append(x->headers, line);
    snprintf(line, sizeof line, "X-Stampede-Attempt: %d", x->attempts);
    x->headers = curl_slist_append(x->headers, line);
    snprintf(line, sizeof line, "X-Stampede-Signature-256: %s", sig);
    x->headers = curl_slist_append(x->headers, line);

    CURL *c = x->easy = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url ? url : "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)SP_NOTIFY_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)SP_NOTIFY_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, x->body); /* borrowed: x outlives the transfer */
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    if (allow->al) {
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, guard_open);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
        curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, guard_prereq);
        curl_easy_setopt(c, CURLOPT_PREREQDATA, x);
    }
    x->started_ms = sp_wall_ms();
    sp_sql_run(w->q, Q_ATTEMPT_BEGIN, "ll", x->delivery_id, x->started_ms);
    if (curl_multi_add_handle(n->multi, c) != CURLM_OK) {
        sp_sql_run(w->q, Q_ATTEMPT_END, "lsl-sl", x->delivery_id, "pending", sp_wall_ms() + 1000,
                   "the attempt could not be started", (int64_t)0);
        allow_put(n, x->allow);
        xfer_free(x);
        return;
    }
    w->inflight[w->ninflight++] = x;
}

/* Starts the attempts that are due, within the limits. */
static void start_due(worker *w)
{
    if (w->ninflight >= SP_NOTIFY_INFLIGHT)
        return;
    sp_notify *n = w->n;
    /* Read into memory first: each attempt writes to the table. */
    json_t *rows = NULL;
    if (sp_sql_rows(w->q, sp_sql_query(w->q, Q_DUE, "li", sp_wall_ms(), DUE_BATCH), DUE_SPEC,
                    &rows) != 0)
        return;
    allow_ref *allow = allow_take(n);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (w->ninflight >= SP_NOTIFY_INFLIGHT)
            break;
        int64_t id = json_integer_value(json_object_get(row, "id"));
        int64_t hook = json_integer_value(json_object_get(row, "webhook_id"));
        if (!delivery_busy(w, id) && hook_busy(w, hook) < SP_NOTIFY_INFLIGHT_PER_HOOK)
            attempt(w, row, allow);
    }
    allow_put(n, allow);
    json_decref(rows);
}

/* The wait before attempt number `attempts` + 1. */
static int64_t backoff(const sp_notify *n, int attempts)
{
    int64_t wait = n->backoff_ms;
    for (int i = 1; i < attempts && wait < SP_NOTIFY_BACKOFF_MAX_MS; i++)
        wait *= 2;
    return wait < SP_NOTIFY_BACKOFF_MAX_MS ? wait : SP_NOTIFY_BACKOFF_MAX_MS;
}

/* An attempt has ended with result cc: the delivery is delivered, due again, or failed. */
static void attempt_done(worker *w, xfer *x, CURLcode cc)
{
    sp_notify *n = w->n;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    int64_t now = sp_wall_ms();
    /* A body cut off at SP_NOTIFY_RESPONSE_MAX still had its status. */
    int answered = cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && status > 0);
    int ok = answered && status >= 200 && status < 300;
    char why[SP_NOTIFY_ERROR_MAX];
    if (ok)
        why[0] = '\0';
    else if (x->blocked[0])
        snprintf(why, sizeof why, "%s is not in the webhook allowlist", x->blocked);
    else if (!answered)
        snprintf(why, sizeof why, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
    else
        snprintf(why, sizeof why, "the receiver answered HTTP %ld", status);
    const char *state = ok ? "delivered" : "pending";
    int64_t next = 0;
    if (!ok) {
        next = now + backoff(n, x->attempts);
        if (x->attempts >= SP_NOTIFY_MAX_ATTEMPTS || next > x->created_at + n->retry_for_ms)
            state = "failed";
    }
    int64_t ms = now - x->started_ms;
    if (strcmp(state, "pending") == 0) {
        if (answered)
            sp_sql_run(w->q, Q_ATTEMPT_END, "lsllsl", x->delivery_id, state, next, (int64_t)status,
                       why, ms);
        else
            sp_sql_run(w->q, Q_ATTEMPT_END, "lsl-sl", x->delivery_id, state, next, why, ms);
    } else if (answered) {
        sp_sql_run(w->q, Q_ATTEMPT_END, "ls-lsl", x->delivery_id, state, (int64_t)status,
                   ok ? NULL : why, ms);
    } else {
        sp_sql_run(w->q, Q_ATTEMPT_END, "ls--sl", x->delivery_id, state, why, ms);
    }
    if (!ok) {
        char did[24], hid[24], att[16];
        snprintf(did, sizeof did, "%lld", (long long)x->delivery_id);
        snprintf(hid, sizeof hid, "%lld", (long long)x->webhook_id);
        snprintf(att, sizeof att, "%d", x->attempts);
        sp_log_kv(strcmp(state, "failed") == 0 ? SP_LOG_WARN : SP_LOG_INFO,
                  strcmp(state, "failed") == 0 ? "webhook delivery failed"
                                               : "webhook delivery will be retried",
                  "delivery", did, "webhook", hid, "receiver", x->origin, "attempt", att, "error",
                  why, NULL);
    }
}

static void collect(worker *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->n->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode cc = m->data.result;
        curl_multi_remove_handle(w->n->multi, m->easy_handle);
        if (!x)
            continue;
        attempt_done(w, x, cc);
        for (size_t i = 0; i < w->ninflight; i++)
            if (w->inflight[i] == x) {
                w->inflight[i] = w->inflight[--w->ninflight];
                break;
            }
        allow_put(w->n, x->allow);
        xfer_free(x);
    }
}

static void *thread_main(void *arg)
{
    sp_notify *n = arg;
    worker *w = sp_calloc(1, sizeof *w);
    w->n = n;
    char err[256];
    if (open_sql(n->db_path, &w->q, err, sizeof err) != 0 ||
        sp_store_open(&w->store, n->db_path, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "webhooks: cannot open the database", "error", err, NULL);
        goto out;
    }
    sp_sql_run(w->q, Q_ABANDONED, "l", sp_wall_ms());
    if (n->aborted_since) {
        json_t *rows = NULL;
        if (sp_sql_rows(w->q, sp_sql_query(w->q, Q_ABORTED_RUNS, "l", n->aborted_since), "id:i",
                        &rows) == 0) {
            size_t i;
            json_t *r;
            json_array_foreach(rows, i, r)
                make_deliveries(w, json_integer_value(json_object_get(r, "id")));
        }
        json_decref(rows);
    }
    int64_t *batch = sp_calloc(SP_NOTIFY_QUEUE_MAX, sizeof *batch);
    for (;;) {
        pthread_mutex_lock(&n->mu);
        int stop = n->stop;
        size_t nb = n->nqueue;
        memcpy(batch, n->queue, nb * sizeof *batch);
        n->nqueue = 0;
        pthread_mutex_unlock(&n->mu);
        /* Runs that ended during the shutdown are stored as deliveries even then: they are
         * sent at the next start. */
        for (size_t i = 0; i < nb; i++)
            make_deliveries(w, batch[i]);
        if (stop)
            break;
        start_due(w);
        int running = 0;
        curl_multi_perform(n->multi, &running);
        collect(w);
        /* Sleep until the next due delivery or curl's next timeout, or a wake-up. */
        int64_t next = 0, now = sp_wall_ms();
        long timeout = IDLE_MS;
        if (sp_sql_one_int(w->q, Q_NEXT_DUE, &next, "") == 0 && next > 0)
            timeout = next <= now ? 0 : (long)(next - now < IDLE_MS ? next - now : IDLE_MS);
        long ct = -1;
        curl_multi_timeout(n->multi, &ct);
        if (ct >= 0 && ct < timeout)
            timeout = ct;
        /* A delivery due now whose webhook is at its limit waits for an attempt to end. */
        if (timeout == 0 && w->ninflight)
            timeout = 50;
        curl_multi_poll(n->multi, NULL, 0, (int)timeout, NULL);
    }
    free(batch);
    /* Attempts in flight are abandoned: due again at the next start. */
    for (size_t i = 0; i < w->ninflight; i++) {
        xfer *x = w->inflight[i];
        curl_multi_remove_handle(n->multi, x->easy);
        sp_sql_run(w->q, Q_ATTEMPT_END, "lsl-sl", x->delivery_id, "pending", sp_wall_ms(),
                   "the server stopped during the attempt", (int64_t)0);
        allow_put(n, x->allow);
        xfer_free(x);
    }
out:
    sp_store_close(w->store);
    sp_sql_close(w->q);
    free(w);
    return NULL;
}

/* ---- Life cycle ---- */

int sp_notify_new(const sp_notify_config *cfg, sp_notify **out, char *err, size_t errlen)
{
    *out = NULL;
    if (sodium_init() < 0)
        return seterr(err, errlen, SP_ESYS, "notify: libsodium cannot start");
    sp_notify *n = sp_calloc(1, sizeof *n);
    n->db_path = sp_strdup(cfg->db_path);
    n->server = sp_strdup(cfg->server_url ? cfg->server_url : "");
    n->aborted_since = cfg->aborted_since_ms;
    n->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : SP_NOTIFY_BACKOFF_MS;
    n->retry_for_ms = cfg->retry_for_ms > 0 ? cfg->retry_for_ms : SP_NOTIFY_RETRY_FOR_MS;
    n->queue = sp_calloc(SP_NOTIFY_QUEUE_MAX, sizeof *n->queue);
    pthread_mutex_init(&n->api_mu, NULL);
    pthread_mutex_init(&n->mu, NULL);
    n->multi = curl_multi_init();
    n->allow = sp_calloc(1, sizeof *n->allow);
    n->allow->refs = 1;
    int rc = n->multi ? open_sql(n->db_path, &n->api, err, errlen) : SP_ESYS;
    json_t *entries = NULL;
    if (rc == 0)
        rc = sp_notify_allowlist_get(n, &entries);
    if (rc == 0) {
        sp_errlist el;
        sp_errlist_init(&el);
        sp_allowlist *al = NULL;
        if (allow_build(json_object_get(entries, "entries"), &al, &el) == 0)
            allow_install(n, al);
        else
            sp_log_kv(SP_LOG_ERROR, "the stored webhook allowlist is invalid: nothing is allowed",
                      NULL);
        if (el.n) {
            /* An entry this version cannot read: safer to allow nothing than everything. */
            sp_allowlist *none = NULL;
            sp_allowlist_new(NULL, 0, &none, &el);
            allow_install(n, none);
        }
        sp_errlist_release(&el);
    }
    json_decref(entries);
    if (rc) {
        sp_notify_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

int sp_notify_start(sp_notify *n)
{
    if (pthread_create(&n->thread, NULL, thread_main, n) != 0)
        return SP_ESYS;
    n->started = 1;
    return 0;
}

void sp_notify_free(sp_notify *n)
{
    if (!n)
        return;
    if (n->started) {
        pthread_mutex_lock(&n->mu);
        n->stop = 1;
        pthread_mutex_unlock(&n->mu);
        wake(n);
        pthread_join(n->thread, NULL);
    }
    if (n->multi)
        curl_multi_cleanup(n->multi);
    allow_put(n, n->allow);
    sp_sql_close(n->api);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->api_mu);
    free(n->queue);
    free(n->server);
    free(n->db_path);
    free(n);
}
