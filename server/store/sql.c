/*
 * sql.c - see sql.h.
 */
#include "store/sql.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "base/json.h"
#include "base/log.h"
#include "engine/common.h"
#include "store/store.h"

/* The kit's own statements, kept after the caller's table in the same array. */
enum { K_BEGIN, K_COMMIT, K_ROLLBACK, K_COUNT };
static const char *const kit_text[K_COUNT] = {
    [K_BEGIN] = "BEGIN IMMEDIATE",
    [K_COMMIT] = "COMMIT",
    [K_ROLLBACK] = "ROLLBACK",
};

struct sp_sql {
    sqlite3 *db;
    sp_sql_config cfg;
    sqlite3_stmt **st; /* cfg.ntexts of the caller's table, then K_COUNT of the kit's */
    char msg[256];     /* the last failure, for sp_sql_errmsg() */
    int last_rc;       /* its SQLite result code */
    int last_code;     /* and its SP_E* code */
};

/* ---- Connections ---- */

int sp_sql_connect(sqlite3 **db, const char *path, int flags, char *why, size_t whylen)
{
    *db = NULL;
    int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) {
        if (why && whylen)
            snprintf(why, whylen, "%s", *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
        sqlite3_close(*db);
        *db = NULL;
        return SP_ESYS;
    }
    sqlite3_extended_result_codes(*db, 1);
    /* Defensive mode stops SQL from corrupting the file on purpose (writable_schema and co);
     * untrusted schema stops functions with side effects being run from views or triggers. A
     * file may come from anywhere (a restore), so nothing in it may run code. */
    sqlite3_db_config(*db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(*db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(*db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_busy_timeout(*db, SP_STORE_BUSY_TIMEOUT_MS);
    return 0;
}

int sp_sql_open(sp_sql **out, const char *path, int flags, const sp_sql_config *cfg, char *why,
                size_t whylen)
{
    *out = NULL;
    sqlite3 *db = NULL;
    int ret = sp_sql_connect(&db, path, flags, why, whylen);
    if (ret)
        return ret;
    sp_sql *q = sp_calloc(1, sizeof *q);
    q->db = db;
    q->cfg = *cfg;
    q->st = sp_calloc(cfg->ntexts + K_COUNT, sizeof *q->st);
    *out = q;
    return 0;
}

int sp_sql_close(sp_sql *q)
{
    if (!q)
        return 0;
    for (size_t i = 0; i < q->cfg.ntexts + K_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    int rc = sqlite3_close(q->db);
    free(q->st);
    free(q);
    return rc == SQLITE_OK ? 0 : SP_EIO;
}

void sp_sql_abandon(sp_sql *q)
{
    if (!q)
        return;
    free(q->st);
    free(q);
}

sqlite3 *sp_sql_db(sp_sql *q)
{
    return q->db;
}

/* ---- Errors ---- */

int sp_sql_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT:
        return SP_ESTATE;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SP_EUNAVAILABLE;
    case SQLITE_FULL:
        return SP_EFULL;
    default:
        return SP_EIO;
    }
}

int sp_sql_fail(sp_sql *q, int rc)
{
    snprintf(q->msg, sizeof q->msg, "%s", sqlite3_errmsg(q->db));
    q->last_rc = rc;
    int code = sp_sql_code(rc);
    /* SQLite turns ENOSPC into SQLITE_FULL only for a write(); an fsync, a truncate or a page
     * of the -shm file that meets a full disk (or a quota, EDQUOT) is an IOERR. The system
     * error is only read for an IOERR, when it belongs to this failure. */
    if ((rc & 0xff) == SQLITE_IOERR) {
        int e = sqlite3_system_errno(q->db);
        if (e == ENOSPC || e == EDQUOT)
            code = SP_EFULL;
    }
    q->last_code = code;
    return code;
}

void sp_sql_setmsg(sp_sql *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->msg, sizeof q->msg, fmt, ap);
    va_end(ap);
}

void sp_sql_clear(sp_sql *q)
{
    q->msg[0] = '\0';
    q->last_rc = 0;
    q->last_code = 0;
}

const char *sp_sql_errmsg(const sp_sql *q)
{
    return q->msg;
}

int sp_sql_errcode(const sp_sql *q)
{
    return q->last_rc;
}

int sp_sql_lastcode(const sp_sql *q)
{
    return q->last_code;
}

/* ---- Statements ---- */

/* Slot i of the statement array, prepared from text on first use. */
static sqlite3_stmt *prepared(sp_sql *q, size_t i, const char *text)
{
    if (q->st[i])
        return q->st[i];
    int rc = sqlite3_prepare_v3(q->db, text, -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL);
    if (rc != SQLITE_OK) {
        /* Static SQL that does not prepare is a bug or a schema the binary does not know. */
        sp_sql_fail(q, rc);
        q->st[i] = NULL;
        if (q->cfg.log_as) {
            char what[96];
            snprintf(what, sizeof what, "%s: cannot prepare a statement", q->cfg.log_as);
            sp_log_kv(SP_LOG_ERROR, what, "error", q->msg, NULL);
        }
    }
    return q->st[i];
}

sqlite3_stmt *sp_sql_stmt(sp_sql *q, int id)
{
    if (id < 0 || (size_t)id >= q->cfg.ntexts)
        return NULL;
    return prepared(q, (size_t)id, q->cfg.texts[id]);
}

static sqlite3_stmt *vquery(sp_sql *q, int id, const char *fmt, va_list ap)
{
    sqlite3_stmt *st = sp_sql_stmt(q, id);
    if (st && sp_sql_vbind(st, fmt, ap) != 0) {
        sp_sql_setmsg(q, "cannot bind the parameters of statement %d", id);
        sp_sql_done(st);
        st = NULL;
    }
    return st;
}

sqlite3_stmt *sp_sql_query(sp_sql *q, int id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = vquery(q, id, fmt, ap);
    va_end(ap);
    return st;
}

int sp_sql_next(sp_sql *q, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return sp_sql_fail(q, rc);
}

int sp_sql_first(sp_sql *q, sqlite3_stmt *st)
{
    if (!st)
        return SP_EIO;
    int rc = sp_sql_next(q, st);
    return rc > 0 ? 0 : rc == 0 ? SP_ENOTFOUND : rc;
}

int sp_sql_finish(sp_sql *q, sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    int ret = rc == SQLITE_DONE ? 0 : sp_sql_fail(q, rc);
    sp_sql_done(st);
    return ret;
}

void sp_sql_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

int sp_sql_run(sp_sql *q, int id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = vquery(q, id, fmt, ap);
    va_end(ap);
    return st ? sp_sql_finish(q, st) : SP_EIO;
}

int sp_sql_one_int(sp_sql *q, int id, int64_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = vquery(q, id, fmt, ap);
    va_end(ap);
    int ret = sp_sql_first(q, st);
    if (!ret)
        *out = sqlite3_column_int64(st, 0);
    sp_sql_done(st);
    return ret;
}

int sp_sql_changes(sp_sql *q)
{
    return sqlite3_changes(q->db);
}

int64_t sp_sql_last_id(sp_sql *q)
{
    return sqlite3_last_insert_rowid(q->db);
}

/* ---- Binding ---- */

int sp_sql_vbind(sqlite3_stmt *st, const char *fmt, va_list ap)
{
    /* A format that does not cover every parameter is a mistake at the call site; its values
     * cannot be read safely, so nothing is bound. */
    if (strlen(fmt) != (size_t)sqlite3_bind_parameter_count(st))
        return SP_EINVAL;
    int bad = 0;
    for (int i = 0; fmt[i]; i++) {
        int k = i + 1, rc;
        switch (fmt[i]) {
        case 'i':
            rc = sqlite3_bind_int(st, k, va_arg(ap, int));
            break;
        case 'l':
            rc = sqlite3_bind_int64(st, k, va_arg(ap, int64_t));
            break;
        case 'f':
            rc = sqlite3_bind_double(st, k, va_arg(ap, double));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, k, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, k);
            break;
        }
        case 'S': {
            const char *s = va_arg(ap, const char *);
            int n = va_arg(ap, int);
            rc = s ? sqlite3_bind_text(st, k, s, n, SQLITE_STATIC) : sqlite3_bind_null(st, k);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            int n = va_arg(ap, int);
            rc = p ? sqlite3_bind_blob(st, k, p, n, SQLITE_STATIC) : sqlite3_bind_null(st, k);
            break;
        }
        case 'j': {
            /* The text is handed to SQLite, which frees it. */
            const json_t *j = va_arg(ap, const json_t *);
            char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            rc = text ? sqlite3_bind_text(st, k, text, -1, free) : sqlite3_bind_null(st, k);
            break;
        }
        case '-':
            rc = sqlite3_bind_null(st, k);
            break;
        default:
            return SP_EINVAL; /* the rest of ap cannot be read without knowing this type */
        }
        bad |= rc != SQLITE_OK;
    }
    return bad ? SP_EINVAL : 0;
}

int sp_sql_bind(sqlite3_stmt *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sp_sql_vbind(st, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- Reading ---- */

/* A JSON string from database text, which may hold bytes that are not UTF-8 (text that came
 * from a target): invalid bytes become U+FFFD, so the result always serialises. */
static json_t *jstr(const char *p, size_t n)
{
    json_t *j = json_stringn(p, n);
    if (j)
        return j;
    sp_buf b;
    sp_buf_init(&b, n * 3 + 16);
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)p[i + k] >> 6) == 2;
        if (ok && len > 1) {
            json_t *probe = json_stringn(p + i, len); /* rejects overlongs and surrogates */
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) {
            (void)sp_buf_add(&b, p + i, len);
            i += len;
        } else {
            (void)sp_buf_add(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    j = json_stringn(b.p, b.len);
    sp_buf_release(&b);
    return j ? j : json_string("");
}

json_t *sp_sql_col(sqlite3_stmt *st, int i, char kind)
{
    int type = sqlite3_column_type(st, i);
    if (kind == 'n')
        return type == SQLITE_INTEGER || type == SQLITE_FLOAT
                   ? json_real(sqlite3_column_double(st, i))
                   : json_null();
    if (type == SQLITE_NULL)
        return json_null();
    switch (kind) {
    case 'i':
        return json_integer(sqlite3_column_int64(st, i));
    case 'b':
        return json_boolean(sqlite3_column_int64(st, i) != 0);
    case 'a': {
        const char *t = (const char *)sqlite3_column_text(st, i);
        return t ? sp_json_string(t) : json_null();
    }
    case 's':
    case 'j': {
        const char *p = (const char *)sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        json_t *j = kind == 'j'
                        ? json_loadb(p ? p : "", n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL)
                        : NULL;
        return j ? j : jstr(p ? p : "", n);
    }
    default:
        return json_null();
    }
}

void sp_sql_col_copy(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

void sp_sql_row_add(json_t *obj, sqlite3_stmt *st, int first, const char *spec)
{
    const char *p = spec;
    for (int col = first;; col++) {
        while (*p == ' ')
            p++;
        const char *colon = strchr(p, ':');
        if (!*p || !colon || !colon[1])
            return;
        char key[64];
        size_t n = (size_t)(colon - p);
        if (n >= sizeof key)
            n = sizeof key - 1;
        memcpy(key, p, n);
        key[n] = '\0';
        json_object_set_new(obj, key, sp_sql_col(st, col, colon[1])); /* steals the value */
        p = colon + 2;
    }
}

json_t *sp_sql_row(sqlite3_stmt *st, const char *spec)
{
    json_t *o = json_object();
    sp_sql_row_add(o, st, 0, spec);
    return o;
}

int sp_sql_each(sp_sql *q, sqlite3_stmt *st, int (*fn)(sqlite3_stmt *st, void *ctx), void *ctx)
{
    if (!st)
        return SP_EIO;
    int rc;
    while ((rc = sp_sql_next(q, st)) > 0 && (rc = fn(st, ctx)) == 0)
        ;
    sp_sql_done(st);
    return rc < 0 ? rc : 0;
}

struct rows_ctx {
    json_t *arr;
    const char *spec;
};

static int append_row(sqlite3_stmt *st, void *ctx)
{
    struct rows_ctx *r = ctx;
    json_array_append_new(r->arr, sp_sql_row(st, r->spec)); /* steals the row */
    return 0;
}

int sp_sql_rows(sp_sql *q, sqlite3_stmt *st, const char *spec, json_t **out)
{
    struct rows_ctx r = {json_array(), spec};
    int rc = sp_sql_each(q, st, append_row, &r);
    if (rc) {
        json_decref(r.arr);
        r.arr = NULL;
    }
    *out = r.arr;
    return rc;
}

/* ---- Transactions ---- */

static int kit_run(sp_sql *q, int k)
{
    sqlite3_stmt *st = prepared(q, q->cfg.ntexts + (size_t)k, kit_text[k]);
    return st ? sp_sql_finish(q, st) : SP_EIO;
}

int sp_sql_begin(sp_sql *q)
{
    return kit_run(q, K_BEGIN);
}

int sp_sql_commit(sp_sql *q)
{
    int ret = kit_run(q, K_COMMIT);
    if (ret)
        sp_sql_rollback(q);
    return ret;
}

int sp_sql_end(sp_sql *q, int ret)
{
    if (!ret)
        return sp_sql_commit(q);
    sp_sql_rollback(q);
    return ret;
}

void sp_sql_rollback(sp_sql *q)
{
    if (sqlite3_get_autocommit(q->db))
        return;
    char msg[sizeof q->msg];
    int rc = q->last_rc, code = q->last_code;
    memcpy(msg, q->msg, sizeof msg);
    (void)kit_run(q, K_ROLLBACK);
    memcpy(q->msg, msg, sizeof msg);
    q->last_rc = rc;
    q->last_code = code;
}

/* ---- One-off SQL ---- */

int sp_sql_exec(sqlite3 *db, const char *script)
{
    const char *tail = script;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK)
            return rc;
        if (!st) /* whitespace or a comment */
            continue;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

int sp_sql_exec_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int sp_sql_exec_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sp_sql_col_copy(st, 0, out, outlen);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}
