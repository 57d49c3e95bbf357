/*
 * store.c - see store.h.
 *
 * Every statement is static SQL with ? parameters, prepared on first use with
 * SQLITE_PREPARE_PERSISTENT and kept for the life of the connection, so the per-second path
 * never parses SQL. A statement is reset (and its bindings cleared) by the function that used
 * it before that function returns, so the next caller finds it ready.
 */
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

/* The statements, by id. Kept in one table so that every SQL text of the module is in one
 * place and each is prepared at most once per connection. */
enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_VERSION,
    Q_TEST_INSERT,
    Q_REV_INSERT,
    Q_TEST_BUMP,
    Q_TEST_GET,
    Q_TEST_LIST,
    Q_TEST_COUNT,
    Q_TEST_RECENT,
    Q_TEST_DELETE,
    Q_TEST_EXISTS,
    Q_TEST_FIND,
    Q_TEST_REVS,
    Q_TEST_HEAD,
    Q_SECRET_LIST,
    Q_SECRET_CLEAR,
    Q_SECRET_INSERT,
    Q_ALLOW_LIST,
    Q_ALLOW_CLEAR,
    Q_ALLOW_INSERT,
    Q_CAPS_LIST,
    Q_CAPS_UPSERT,
    Q_RUN_INSERT,
    Q_RUN_NAME_INSERT,
    Q_RUN_START,
    Q_RUN_FINISH,
    Q_RUN_EXISTS,
    Q_RUN_GET,
    Q_RUN_NAMES,
    Q_RUN_LAST_SECOND,
    Q_RUN_LIST,
    Q_RUN_COUNT,
    Q_RUN_ABORT,
    Q_TICK_INSERT,
    Q_SECOND_INSERT,
    Q_HIST_UPSERT,
    Q_HIST_WINDOW,
    Q_TICKS_READ,
    Q_SECONDS_READ,
    Q_FAIL_UPSERT,
    Q_FAIL_READ,
    Q_COUNT
};

#define RUN_COLUMNS                                                                                \
    "r.id, r.test_id, t.name, r.revision, r.status, r.started_by, r.created_at, r.started_at, "    \
    "r.ended_at, r.overrides, r.verdicts, r.error"

/* The run list's filter; every bound is optional so one statement serves every combination. */
#define RUN_FILTER                                                                                 \
    " WHERE (?1 = 0 OR r.test_id = ?1) AND (?2 IS NULL OR r.status = ?2)"                          \
    " AND (?3 = 0 OR r.created_at >= ?3) AND (?4 = 0 OR r.created_at < ?4)"

static const char *const sql_text[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_version",
    [Q_TEST_INSERT] = "INSERT INTO tests (name, created_at, updated_at, head_revision)"
                      " VALUES (?1, ?2, ?2, 1)",
    [Q_REV_INSERT] = "INSERT INTO test_revisions"
                     " (test_id, revision, name, definition, created_at, created_by)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_TEST_BUMP] = "UPDATE tests SET name = ?2, updated_at = ?3, head_revision = head_revision + 1"
                    " WHERE id = ?1 AND deleted_at IS NULL RETURNING head_revision",
    [Q_TEST_GET] = "SELECT t.id, t.name, t.created_at, t.updated_at, t.deleted_at, t.head_revision,"
                   " r.revision, r.name, r.definition, r.created_at, r.created_by"
                   " FROM tests t JOIN test_revisions r ON r.test_id = t.id"
                   " WHERE t.id = ?1"
                   " AND r.revision = CASE WHEN ?2 > 0 THEN ?2 ELSE t.head_revision END",
    /* instr() rather than LIKE: a filter is taken literally, so % and _ in it match themselves. */
    [Q_TEST_LIST] = "SELECT id, name, created_at, updated_at, head_revision, deleted_at FROM tests"
                    " WHERE (?1 OR deleted_at IS NULL)"
                    " AND (?2 IS NULL OR instr(lower(name), lower(?2)) > 0)"
                    " ORDER BY id DESC LIMIT ?3 OFFSET ?4",
    [Q_TEST_COUNT] = "SELECT count(*) FROM tests WHERE (?1 OR deleted_at IS NULL)"
                     " AND (?2 IS NULL OR instr(lower(name), lower(?2)) > 0)",
    /* The newest runs of one test that have a result, for the list's verdict and sparkline;
     * runs_by_test walks them newest first and stops at the limit. */
    [Q_TEST_RECENT] = "SELECT id, status, created_at,"
                      " json_extract(summary, '$.total.latency_ms.p95')"
                      " FROM runs WHERE test_id = ?1 AND status NOT IN ('queued', 'running')"
                      " ORDER BY id DESC LIMIT ?2",
    [Q_TEST_DELETE] = "UPDATE tests SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
    [Q_TEST_EXISTS] = "SELECT 1 FROM tests WHERE id = ?1",
    [Q_TEST_FIND] = "SELECT id FROM tests WHERE name = ?1 AND deleted_at IS NULL",
    [Q_TEST_REVS] = "SELECT revision, name, created_at, created_by,"
                    " length(CAST(definition AS BLOB))"
                    " FROM test_revisions WHERE test_id = ?1 ORDER BY revision DESC",
    [Q_TEST_HEAD] = "SELECT head_revision FROM tests WHERE id = ?1 AND deleted_at IS NULL",
    [Q_SECRET_LIST] = "SELECT name, value FROM test_secrets WHERE test_id = ?1 ORDER BY name",
    [Q_SECRET_CLEAR] = "DELETE FROM test_secrets WHERE test_id = ?1",
    [Q_SECRET_INSERT] = "INSERT INTO test_secrets (test_id, name, value) VALUES (?1, ?2, ?3)",
    [Q_ALLOW_LIST] = "SELECT entry FROM policy_allowlist ORDER BY position",
    [Q_ALLOW_CLEAR] = "DELETE FROM policy_allowlist",
    [Q_ALLOW_INSERT] = "INSERT INTO policy_allowlist (position, entry) VALUES (?1, ?2)",
    [Q_CAPS_LIST] = "SELECT role, max_vus, max_rate, max_duration_s, max_concurrent_runs"
                    " FROM policy_caps",
    [Q_CAPS_UPSERT] = "INSERT INTO policy_caps (role, max_vus, max_rate, max_duration_s,"
                      " max_concurrent_runs) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (role)"
                      " DO UPDATE SET max_vus = excluded.max_vus, max_rate = excluded.max_rate,"
                      " max_duration_s = excluded.max_duration_s,"
                      " max_concurrent_runs = excluded.max_concurrent_runs",
    [Q_RUN_INSERT] =
        "INSERT INTO runs (test_id, revision, status, started_by, created_at, overrides)"
        " VALUES (?1, ?2, 'queued', ?3, ?4, ?5)",
    [Q_RUN_NAME_INSERT] = "INSERT INTO run_names (run_id, name_id, name) VALUES (?1, ?2, ?3)",
    [Q_RUN_START] = "UPDATE runs SET status = 'running', started_at = ?2"
                    " WHERE id = ?1 AND status = 'queued'",
    [Q_RUN_FINISH] = "UPDATE runs SET status = ?2, ended_at = ?3, verdicts = ?4, summary = ?5,"
                     " error = ?6 WHERE id = ?1 AND status IN ('queued', 'running')",
    [Q_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id = ?1",
    [Q_RUN_GET] = "SELECT " RUN_COLUMNS ", r.summary FROM runs r JOIN tests t ON t.id = r.test_id"
                  " WHERE r.id = ?1",
    [Q_RUN_NAMES] = "SELECT name_id, name FROM run_names WHERE run_id = ?1"
                    " AND (?2 < 0 OR name_id = ?2) ORDER BY name_id",
    [Q_RUN_LAST_SECOND] = "SELECT max(second) FROM run_seconds WHERE run_id = ?1",
    /* The list carries the headline figures of each summary, so a history page needs no
     * request per run; json_extract reads them without sending the whole summary. */
    [Q_RUN_LIST] = "SELECT " RUN_COLUMNS ", json_extract(r.summary, '$.total.requests'),"
                   " json_extract(r.summary, '$.total.rps'),"
                   " json_extract(r.summary, '$.total.error_rate'),"
                   " json_extract(r.summary, '$.total.latency_ms.p95'),"
                   " json_extract(r.summary, '$.duration_s')"
                   " FROM runs r JOIN tests t ON t.id = r.test_id" RUN_FILTER
                   " ORDER BY r.id DESC LIMIT ?5 OFFSET ?6",
    [Q_RUN_COUNT] = "SELECT count(*) FROM runs r" RUN_FILTER,
    [Q_RUN_ABORT] = "UPDATE runs SET status = 'aborted', ended_at = ?1, error = coalesce(error, ?2)"
                    " WHERE status IN ('queued', 'running')",
    [Q_TICK_INSERT] = "INSERT INTO run_ticks (run_id, second, active_vus, target_vus, iterations,"
                      " dropped, lag_us_max) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_SECOND_INSERT] = "INSERT INTO run_seconds (run_id, second, name_id, count, errors, p50, p95,"
                        " p99, max, bytes_in, bytes_out, status, error_kinds)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [Q_HIST_UPSERT] = "INSERT INTO run_minute_hists (run_id, minute, name_id, count, buckets)"
                      " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (run_id, minute, name_id)"
                      " DO UPDATE SET count = excluded.count, buckets = excluded.buckets",
    [Q_HIST_WINDOW] = "SELECT buckets FROM run_minute_hists WHERE run_id = ?1 AND minute >= ?2"
                      " AND minute < ?3 AND (?4 < 0 OR name_id = ?4)",
    [Q_TICKS_READ] = "SELECT second, active_vus, target_vus, iterations, dropped, lag_us_max"
                     " FROM run_ticks WHERE run_id = ?1 AND second >= ?2 AND second < ?3"
                     " ORDER BY second",
    [Q_SECONDS_READ] = "SELECT second, name_id, count, errors, p50, p95, p99, max, bytes_in,"
                       " bytes_out, status, error_kinds FROM run_seconds"
                       " WHERE run_id = ?1 AND second >= ?2 AND second < ?3"
                       " AND (?4 < 0 OR name_id = ?4) ORDER BY second, name_id",
    [Q_FAIL_UPSERT] = "INSERT INTO run_failures (run_id, name_id, message, count)"
                      " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run_id, name_id, message)"
                      " DO UPDATE SET count = count + excluded.count",
    [Q_FAIL_READ] = "SELECT n.name, f.name_id, f.message, f.count FROM run_failures f"
                    " JOIN run_names n ON n.run_id = f.run_id AND n.name_id = f.name_id"
                    " WHERE f.run_id = ?1 ORDER BY f.count DESC, f.rowid",
};

static const char *const status_names[SP_RUN_STATUS_COUNT] = {
    [SP_RUN_QUEUED] = "queued", [SP_RUN_RUNNING] = "running", [SP_RUN_PASSED] = "passed",
    [SP_RUN_FAILED] = "failed", [SP_RUN_STOPPED] = "stopped", [SP_RUN_ABORTED] = "aborted",
    [SP_RUN_ERROR] = "error",
};

/* A sparse blob is at most two 10-byte varints per entry; the status table is the widest. */
#define BLOB_MAX (SP_STATUS_MAX * 20 + 16)

struct sp_store {
    sqlite3 *db;
    pid_t pid; /* the process that opened the connection */
    sqlite3_stmt *st[Q_COUNT];
    char msg[256];         /* the last failure, for sp_store_errmsg() */
    int last_rc;           /* the SQLite code of the last failure */
    sp_buf blob_a, blob_b; /* encoding scratch, reused every second */
};

/* ---- Small helpers ---- */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Records SQLite's message for the failure rc and maps rc to an SP_E* code: constraint
 * failures are the caller's doing (the row's state), everything else is an I/O failure. */
static int dberr(sp_store *s, int rc, char *err, size_t errlen)
{
    snprintf(s->msg, sizeof s->msg, "%s", sqlite3_errmsg(s->db));
    s->last_rc = rc;
    seterr(err, errlen, "database: %s", s->msg);
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return SP_ESTATE;
    default:
        return SP_EIO;
    }
}

/* In a forked child the connection belongs to the parent: refuse to touch it. */
static int forked(sp_store *s)
{
    if (s->pid == getpid())
        return 0;
    snprintf(s->msg, sizeof s->msg, "database connection used after fork()");
    return 1;
}

static sqlite3_stmt *stmt(sp_store *s, int id)
{
    if (!s->st[id]) {
        int rc = sqlite3_prepare_v3(s->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id],
                                    NULL);
        if (rc != SQLITE_OK) {
            /* Static SQL that does not prepare is a bug or a schema the binary does not know. */
            snprintf(s->msg, sizeof s->msg, "%s", sqlite3_errmsg(s->db));
            s->st[id] = NULL;
        }
    }
    return s->st[id];
}

static void done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Steps a statement whose rows are not needed; returns SQLITE_DONE on success. */
static int step_done(sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    return rc;
}

static int exec_id(sp_store *s, int id)
{
    sqlite3_stmt *st = stmt(s, id);
    if (!st)
        return SQLITE_ERROR;
    int rc = step_done(st);
    done(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int begin(sp_store *s)
{
    int rc = exec_id(s, Q_BEGIN);
    return rc == SQLITE_OK ? 0 : dberr(s, rc, NULL, 0);
}

static int commit(sp_store *s)
{
    int rc = exec_id(s, Q_COMMIT);
    if (rc == SQLITE_OK)
        return 0;
    int ret = dberr(s, rc, NULL, 0);
    if (!sqlite3_get_autocommit(s->db))
        exec_id(s, Q_ROLLBACK);
    return ret;
}

static void rollback(sp_store *s)
{
    /* A failed statement may already have rolled the transaction back. */
    if (!sqlite3_get_autocommit(s->db))
        exec_id(s, Q_ROLLBACK);
}

/*
 * Runs a script of statements (a migration or the connection's pragmas). Each statement is
 * prepared and stepped in turn; there is nothing to bind, the text is compiled into the binary.
 */
static int exec_script(sp_store *s, const char *sql)
{
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK)
            return rc;
        if (!st) /* whitespace or a comment */
            continue;
        rc = step_done(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Binds j as compact JSON text, or NULL. The text is handed to SQLite to free. */
static void bind_json(sqlite3_stmt *st, int i, const json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (text)
        sqlite3_bind_text(st, i, text, -1, free);
    else
        sqlite3_bind_null(st, i);
}

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

static json_t *col_str(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    const char *p = (const char *)sqlite3_column_text(st, i);
    return jstr(p ? p : "", (size_t)sqlite3_column_bytes(st, i));
}

static json_t *col_int(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_integer(sqlite3_column_int64(st, i));
}

/* A column holding JSON the store wrote itself; text that does not parse comes back as a
 * string rather than being lost. */
static json_t *col_json(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    const char *p = (const char *)sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    json_t *j = json_loadb(p ? p : "", n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    return j ? j : jstr(p ? p : "", n);
}

/* A number column (integer or real) as a JSON real, or null. */
static json_t *col_num(sqlite3_stmt *st, int i)
{
    int t = sqlite3_column_type(st, i);
    if (t != SQLITE_INTEGER && t != SQLITE_FLOAT)
        return json_null();
    return json_real(sqlite3_column_double(st, i));
}

static int clamp_limit(int limit)
{
    if (limit <= 0)
        return SP_STORE_PAGE_DEFAULT;
    return limit > SP_STORE_PAGE_MAX ? SP_STORE_PAGE_MAX : limit;
}

/* ---- Sparse varint encoding (docs/storage.md) ---- */

static void put_varint(sp_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        unsigned char byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    (void)sp_buf_add(b, tmp, n);
}

static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        unsigned char byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/*
 * Encodes the non-zero entries of v[0..n) as (gap, count) varint pairs, where gap is the
 * distance from the entry after the previous non-zero one. Dense runs of buckets then cost one
 * byte of gap each. Returns the number of non-zero entries.
 */
static size_t encode_sparse(sp_buf *b, const uint64_t *v, size_t n)
{
    size_t next = 0, nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i])
            continue;
        put_varint(b, i - next);
        put_varint(b, v[i]);
        next = i + 1;
        nonzero++;
    }
    return nonzero;
}

/* Calls fn(ctx, index, count) for each pair of a sparse blob. -1 on a malformed blob or an
 * index at or past n. */
static int decode_sparse(const unsigned char *p, const unsigned char *end, size_t n,
                         void (*fn)(void *ctx, size_t index, uint64_t count), void *ctx)
{
    uint64_t next = 0;
    while (p < end) {
        uint64_t gap, count;
        if (get_varint(&p, end, &gap) || get_varint(&p, end, &count))
            return -1;
        if (gap >= n || next + gap >= n)
            return -1;
        fn(ctx, (size_t)(next + gap), count);
        next += gap + 1;
    }
    return 0;
}

/* ---- Open, migrate, close ---- */

static int current_version(sp_store *s, int *version)
{
    sqlite3_stmt *st = stmt(s, Q_VERSION);
    if (!st)
        return SQLITE_ERROR;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    done(st);
    return rc;
}

static int apply_migration(sp_store *s, const sp_store_migration *m, char *err, size_t errlen)
{
    int rc = begin(s);
    if (rc) {
        seterr(err, errlen, "cannot start migration %s: %s", m->name, s->msg);
        return rc;
    }
    /* Another process or thread may have applied it between our check and our lock. */
    int version = 0;
    int src = current_version(s, &version);
    if (src == SQLITE_OK && version >= m->version) {
        rollback(s);
        return 0;
    }
    if (src == SQLITE_OK)
        src = exec_script(s, m->sql);
    if (src == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        src = sqlite3_prepare_v2(s->db,
                                 "INSERT INTO schema_version (version, name, applied_at)"
                                 " VALUES (?1, ?2, ?3)",
                                 -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_int(st, 1, m->version);
            sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, sp_wall_ms());
            src = step_done(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
        }
        sqlite3_finalize(st);
    }
    if (src != SQLITE_OK) {
        snprintf(s->msg, sizeof s->msg, "%s", sqlite3_errmsg(s->db));
        s->last_rc = src;
        seterr(err, errlen, "migration %s failed: %s", m->name, s->msg);
        rollback(s);
        return SP_EIO;
    }
    rc = commit(s);
    if (rc)
        seterr(err, errlen, "migration %s failed to commit: %s", m->name, s->msg);
    return rc;
}

/*
 * Refuses a file that some other program made: a database that has tables but neither
 * Stampede's application_id (set by the first migration) nor a schema_version table, so that a
 * mistaken --data-dir never gets Stampede's tables added to somebody else's data.
 */
static int check_owner(sp_store *s, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT (SELECT application_id FROM pragma_application_id),"
                                " (SELECT count(*) FROM sqlite_schema),"
                                " (SELECT count(*) FROM sqlite_schema"
                                "  WHERE type = 'table' AND name = 'schema_version')",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int ret = dberr(s, rc, err, errlen);
        sqlite3_finalize(st);
        return ret;
    }
    int64_t app = sqlite3_column_int64(st, 0);
    int64_t objects = sqlite3_column_int64(st, 1), ours = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    if (app == SP_STORE_APPLICATION_ID || (app == 0 && (objects == 0 || ours)))
        return 0;
    seterr(err, errlen, "%s is not a stampede database (application_id %lld, %lld schema objects)",
           path, (long long)app, (long long)objects);
    return SP_ESTATE;
}

static int migrate(sp_store *s, int max_version, char *err, size_t errlen)
{
    size_t known;
    const sp_store_migration *m = sp_store_migrations(&known);
    int rc = exec_script(s, "CREATE TABLE IF NOT EXISTS schema_version ("
                            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                            " applied_at INTEGER NOT NULL)");
    if (rc != SQLITE_OK)
        return dberr(s, rc, err, errlen);
    int version = 0;
    rc = current_version(s, &version);
    if (rc != SQLITE_OK)
        return dberr(s, rc, err, errlen);
    if (version > (int)known) {
        seterr(err, errlen,
               "database schema version %d is newer than this stampede (knows %zu): upgrade "
               "stampede",
               version, known);
        return SP_ESTATE;
    }
    int target = (int)known;
    if (max_version > 0 && max_version < target)
        target = max_version;
    for (int v = version + 1; v <= target; v++) {
        rc = apply_migration(s, &m[v - 1], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* Per-connection settings. journal_mode=WAL is persistent in the file; the others are not. */
static int configure(sp_store *s, char *err, size_t errlen)
{
    int on = 1, off = 0;
    sqlite3_extended_result_codes(s->db, 1);
    /* Defensive mode stops SQL from corrupting the file on purpose (writable_schema and co);
     * untrusted schema stops functions with side effects being run from views or triggers. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, on, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, off, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, off, NULL);
    sqlite3_busy_timeout(s->db, SP_STORE_BUSY_TIMEOUT_MS);

    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
            if (rc != SQLITE_OK)
                seterr(err, errlen, "database: cannot use WAL mode (journal mode is %s)",
                       mode ? mode : "unknown");
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_CANTOPEN)
        return SP_EIO;
    if (rc != SQLITE_OK)
        return dberr(s, rc, err, errlen);
#define STR_(x) #x
#define STR(x) STR_(x)
    rc = exec_script(s, "PRAGMA synchronous = FULL;"
                        "PRAGMA foreign_keys = ON;"
                        "PRAGMA journal_size_limit = " STR(SP_STORE_WAL_LIMIT_BYTES) ";");
#undef STR
#undef STR_
    if (rc != SQLITE_OK)
        return dberr(s, rc, err, errlen);
    return 0;
}

int sp_store_open_upto(sp_store **out, const char *path, int max_version, char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path) {
        seterr(err, errlen, "database: no path given");
        return SP_EINVAL;
    }
    sp_store *s = sp_calloc(1, sizeof *s);
    s->pid = getpid();
    sp_buf_init(&s->blob_a, BLOB_MAX);
    sp_buf_init(&s->blob_b, BLOB_MAX);
    int ret;
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK) {
        seterr(err, errlen, "cannot open database %s: %s", path,
               s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        ret = SP_ESYS;
        goto out;
    }
    /*
     * While a new file is being set up, SQLite reports some lock conflicts at once instead of
     * calling the busy handler (switching to WAL, or a read that must become a write, would
     * deadlock otherwise). Both steps can be repeated safely, so they are, until the busy
     * timeout has passed.
     */
    uint64_t give_up = sp_now_us() + (uint64_t)SP_STORE_BUSY_TIMEOUT_MS * 1000u;
    for (;;) {
        s->last_rc = 0;
        ret = configure(s, err, errlen);
        if (!ret)
            ret = check_owner(s, path, err, errlen);
        if (!ret)
            ret = migrate(s, max_version, err, errlen);
        int busy = (s->last_rc & 0xff) == SQLITE_BUSY || (s->last_rc & 0xff) == SQLITE_LOCKED;
        if (!ret || !busy || sp_now_us() >= give_up)
            break;
        sqlite3_sleep(10);
    }
out:
    if (ret) {
        sp_store_close(s);
        return ret;
    }
    *out = s;
    return 0;
}

int sp_store_open(sp_store **out, const char *path, char *err, size_t errlen)
{
    return sp_store_open_upto(out, path, 0, err, errlen);
}

void sp_store_close(sp_store *s)
{
    if (!s)
        return;
    /* In a child of fork() the SQLite objects are the parent's: closing them here could
     * checkpoint or remove the WAL under the parent, so they are left alone (and leaked). */
    if (s->pid == getpid()) {
        for (int i = 0; i < Q_COUNT; i++)
            sqlite3_finalize(s->st[i]);
        sqlite3_close(s->db);
    }
    sp_buf_release(&s->blob_a);
    sp_buf_release(&s->blob_b);
    free(s);
}

int sp_store_schema_version(sp_store *s)
{
    int version = 0;
    if (forked(s) || current_version(s, &version) != SQLITE_OK)
        return 0;
    return version;
}

const char *sp_store_errmsg(sp_store *s)
{
    return s->msg;
}

int sp_store_checkpoint(sp_store *s, int truncate, int *wal_frames, int *checkpointed)
{
    if (forked(s))
        return SP_ESTATE;
    int log = 0, ckpt = 0;
    int rc = sqlite3_wal_checkpoint_v2(
        s->db, NULL, truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE, &log,
        &ckpt);
    if (wal_frames)
        *wal_frames = log;
    if (checkpointed)
        *checkpointed = ckpt;
    /* A passive checkpoint never waits: SQLITE_BUSY means another connection (a writer's
     * automatic checkpoint) is checkpointing right now, which does the same job. */
    if (!truncate && (rc & 0xff) == SQLITE_BUSY)
        return 0;
    return rc == SQLITE_OK ? 0 : dberr(s, rc, NULL, 0);
}

int sp_store_integrity_check(sp_store *s, char *err, size_t errlen)
{
    if (forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = NULL;
    int ret = 0;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = dberr(s, rc, err, errlen);
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        ret = dberr(s, rc, err, errlen);
        goto out;
    }
    const char *res = (const char *)sqlite3_column_text(st, 0);
    if (!res || strcmp(res, "ok") != 0) {
        seterr(err, errlen, "integrity_check: %s", res ? res : "no result");
        ret = SP_EIO;
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = dberr(s, rc, err, errlen);
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(st, 0);
        const char *parent = (const char *)sqlite3_column_text(st, 2);
        seterr(err, errlen, "foreign_key_check: table %s row %lld has no parent in %s",
               table ? table : "?", (long long)sqlite3_column_int64(st, 1), parent ? parent : "?");
        ret = SP_EIO;
    } else if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, err, errlen);
    }
out:
    sqlite3_finalize(st);
    return ret;
}

/* ---- Tests ---- */

static int insert_revision(sp_store *s, int64_t id, int revision, const char *name,
                           const char *definition, const char *by, int64_t now)
{
    sqlite3_stmt *st = stmt(s, Q_REV_INSERT);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, revision);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, definition, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    bind_text_or_null(st, 6, by);
    int rc = step_done(st);
    done(st);
    return rc == SQLITE_DONE ? 0 : dberr(s, rc, NULL, 0);
}

static int name_taken(sp_store *s, int rc, const char *name, char *err, size_t errlen)
{
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        snprintf(s->msg, sizeof s->msg, "name in use");
        seterr(err, errlen, "a test named \"%s\" already exists", name);
        return SP_ESTATE;
    }
    return dberr(s, rc, err, errlen);
}

static int save_secrets(sp_store *s, int64_t id, const json_t *secrets, char *err,
                        size_t errlen);

static int test_create(sp_store *s, const char *name, const char *definition,
                       const json_t *secrets, const char *created_by, int64_t *id_out, char *err,
                       size_t errlen)
{
    if (forked(s))
        return SP_ESTATE;
    if (!name || !*name || !definition) {
        seterr(err, errlen, "a test needs a name and a definition");
        return SP_EINVAL;
    }
    int64_t now = sp_wall_ms(), id = 0;
    int ret = begin(s);
    if (ret)
        return ret;
    sqlite3_stmt *st = stmt(s, Q_TEST_INSERT);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int rc = step_done(st);
    done(st);
    if (rc != SQLITE_DONE) {
        ret = name_taken(s, rc, name, err, errlen);
        goto out;
    }
    id = sqlite3_last_insert_rowid(s->db);
    ret = insert_revision(s, id, 1, name, definition, created_by, now);
    if (ret)
        goto out;
    if (secrets && (ret = save_secrets(s, id, secrets, err, errlen)) != 0)
        goto out;
    ret = commit(s);
out:
    if (ret)
        rollback(s);
    else if (id_out)
        *id_out = id;
    return ret;
}

int sp_store_test_create(sp_store *s, const char *name, const char *definition,
                         const char *created_by, int64_t *id_out, char *err, size_t errlen)
{
    return test_create(s, name, definition, NULL, created_by, id_out, err, errlen);
}

static int test_update(sp_store *s, int64_t id, const char *name, const char *definition,
                       const json_t *secrets, const char *updated_by, int *revision_out,
                       char *err, size_t errlen)
{
    if (forked(s))
        return SP_ESTATE;
    if (!name || !*name || !definition) {
        seterr(err, errlen, "a test needs a name and a definition");
        return SP_EINVAL;
    }
    int64_t now = sp_wall_ms();
    int revision = 0;
    int ret = begin(s);
    if (ret)
        return ret;
    sqlite3_stmt *st = stmt(s, Q_TEST_BUMP);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        revision = sqlite3_column_int(st, 0);
    int rc2 = rc == SQLITE_ROW ? step_done(st) : rc;
    done(st);
    if (rc == SQLITE_DONE) {
        seterr(err, errlen, "no test with id %lld", (long long)id);
        ret = SP_ENOTFOUND;
        goto out;
    }
    if (rc2 != SQLITE_DONE) {
        ret = name_taken(s, rc2, name, err, errlen);
        goto out;
    }
    ret = insert_revision(s, id, revision, name, definition, updated_by, now);
    if (ret)
        goto out;
    if (secrets && (ret = save_secrets(s, id, secrets, err, errlen)) != 0)
        goto out;
    ret = commit(s);
out:
    if (ret)
        rollback(s);
    else if (revision_out)
        *revision_out = revision;
    return ret;
}

int sp_store_test_update(sp_store *s, int64_t id, const char *name, const char *definition,
                         const char *updated_by, int *revision_out, char *err, size_t errlen)
{
    return test_update(s, id, name, definition, NULL, updated_by, revision_out, err, errlen);
}

int sp_store_test_save(sp_store *s, int64_t id, const char *name, const char *definition,
                       const json_t *secrets, const char *by, int64_t *id_out, int *revision_out,
                       char *err, size_t errlen)
{
    json_t *none = NULL;
    if (!secrets)
        secrets = none = json_object();
    int rc;
    if (id == 0) {
        rc = test_create(s, name, definition, secrets, by, id_out, err, errlen);
        if (rc == 0 && revision_out)
            *revision_out = 1;
    } else {
        rc = test_update(s, id, name, definition, secrets, by, revision_out, err, errlen);
        if (rc == 0 && id_out)
            *id_out = id;
    }
    json_decref(none);
    return rc;
}

/* Reads a test's secrets into a new object name -> value. */
static int read_secrets(sp_store *s, int64_t id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = stmt(s, Q_SECRET_LIST);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, id);
    json_t *o = json_object();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(o, (const char *)sqlite3_column_text(st, 0), col_str(st, 1));
    done(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return dberr(s, rc, NULL, 0);
    }
    *out = o;
    return 0;
}

/* Inside a transaction: replaces the test's secrets with secrets; a value equal to the mask
 * keeps the value stored under that name. */
static int save_secrets(sp_store *s, int64_t id, const json_t *secrets, char *err, size_t errlen)
{
    json_t *old = NULL;
    int ret = read_secrets(s, id, &old);
    if (ret)
        return ret;
    sqlite3_stmt *clr = stmt(s, Q_SECRET_CLEAR);
    if (!clr) {
        ret = SP_EIO;
        goto out;
    }
    sqlite3_bind_int64(clr, 1, id);
    int rc = step_done(clr);
    done(clr);
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    const char *name;
    json_t *v;
    json_object_foreach ((json_t *)secrets, name, v) {
        const char *value = json_string_value(v);
        if (!value) {
            seterr(err, errlen, "secret '%s' is not a string", name);
            ret = SP_EINVAL;
            goto out;
        }
        if (strcmp(value, SP_STORE_SECRET_MASK) == 0) {
            value = json_string_value(json_object_get(old, name));
            if (!value) {
                seterr(err, errlen,
                       "secret '%s' has no stored value to keep: send its value, not the mask",
                       name);
                ret = SP_EINVAL;
                goto out;
            }
        }
        sqlite3_stmt *ins = stmt(s, Q_SECRET_INSERT);
        if (!ins) {
            ret = SP_EIO;
            goto out;
        }
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_text(ins, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, value, -1, SQLITE_TRANSIENT);
        rc = step_done(ins);
        done(ins);
        if (rc != SQLITE_DONE) {
            ret = dberr(s, rc, NULL, 0);
            goto out;
        }
    }
out:
    json_decref(old);
    return ret;
}

int sp_store_test_secrets(sp_store *s, int64_t id, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    return read_secrets(s, id, out);
}

/* ---- Policy: the target allowlist and caps per role ---- */

int sp_store_allowlist_get(sp_store *s, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = stmt(s, Q_ALLOW_LIST);
    if (!st)
        return SP_EIO;
    json_t *a = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(a, col_str(st, 0));
    done(st);
    if (rc != SQLITE_DONE) {
        json_decref(a);
        return dberr(s, rc, NULL, 0);
    }
    *out = a;
    return 0;
}

int sp_store_allowlist_set(sp_store *s, const json_t *entries)
{
    if (forked(s))
        return SP_ESTATE;
    int ret = begin(s);
    if (ret)
        return ret;
    sqlite3_stmt *clr = stmt(s, Q_ALLOW_CLEAR);
    if (!clr) {
        ret = SP_EIO;
        goto out;
    }
    int rc = step_done(clr);
    done(clr);
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach (entries, i, v) {
        sqlite3_stmt *ins = stmt(s, Q_ALLOW_INSERT);
        if (!ins || !json_is_string(v)) {
            ret = ins ? SP_EINVAL : SP_EIO;
            goto out;
        }
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)i);
        sqlite3_bind_text(ins, 2, json_string_value(v), -1, SQLITE_STATIC);
        rc = step_done(ins);
        done(ins);
        if (rc != SQLITE_DONE) {
            ret = dberr(s, rc, NULL, 0);
            goto out;
        }
    }
    ret = commit(s);
out:
    if (ret)
        rollback(s);
    return ret;
}

static json_t *caps_zero(void)
{
    return json_pack("{s:i, s:f, s:i, s:i}", "max_vus", 0, "max_rate", 0.0, "max_duration_s", 0,
                     "max_concurrent_runs", 0);
}

int sp_store_caps_get(sp_store *s, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = stmt(s, Q_CAPS_LIST);
    if (!st)
        return SP_EIO;
    json_t *o = json_pack("{s:o, s:o, s:o}", "admin", caps_zero(), "tester", caps_zero(), "viewer",
                          caps_zero());
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *role = (const char *)sqlite3_column_text(st, 0);
        json_object_set_new(
            o, role ? role : "?",
            json_pack("{s:I, s:f, s:I, s:I}", "max_vus", (json_int_t)sqlite3_column_int64(st, 1),
                      "max_rate", sqlite3_column_double(st, 2), "max_duration_s",
                      (json_int_t)sqlite3_column_int64(st, 3), "max_concurrent_runs",
                      (json_int_t)sqlite3_column_int64(st, 4)));
    }
    done(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return dberr(s, rc, NULL, 0);
    }
    *out = o;
    return 0;
}

int sp_store_caps_set(sp_store *s, const json_t *caps)
{
    if (forked(s))
        return SP_ESTATE;
    int ret = begin(s);
    if (ret)
        return ret;
    const char *role;
    json_t *c;
    json_object_foreach ((json_t *)caps, role, c) {
        sqlite3_stmt *st = stmt(s, Q_CAPS_UPSERT);
        if (!st) {
            ret = SP_EIO;
            goto out;
        }
        sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, json_integer_value(json_object_get(c, "max_vus")));
        sqlite3_bind_double(st, 3, json_number_value(json_object_get(c, "max_rate")));
        sqlite3_bind_int64(st, 4, json_integer_value(json_object_get(c, "max_duration_s")));
        sqlite3_bind_int64(st, 5, json_integer_value(json_object_get(c, "max_concurrent_runs")));
        int rc = step_done(st);
        done(st);
        if (rc != SQLITE_DONE) {
            ret = dberr(s, rc, NULL, 0);
            goto out;
        }
    }
    ret = commit(s);
out:
    if (ret)
        rollback(s);
    return ret;
}

int sp_store_test_get(sp_store *s, int64_t id, int revision, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = stmt(s, Q_TEST_GET);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, revision);
    int ret = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "id", col_int(st, 0));
        json_object_set_new(o, "name", col_str(st, 1));
        json_object_set_new(o, "created_at", col_int(st, 2));
        json_object_set_new(o, "updated_at", col_int(st, 3));
        json_object_set_new(o, "deleted_at", col_int(st, 4));
        json_object_set_new(o, "revisions", col_int(st, 5));
        json_object_set_new(o, "revision", col_int(st, 6));
        json_object_set_new(o, "revision_name", col_str(st, 7));
        json_object_set_new(o, "definition", col_str(st, 8));
        json_object_set_new(o, "revision_created_at", col_int(st, 9));
        json_object_set_new(o, "revision_created_by", col_str(st, 10));
        *out = o;
    } else if (rc == SQLITE_DONE) {
        ret = SP_ENOTFOUND;
    } else {
        ret = dberr(s, rc, NULL, 0);
    }
    done(st);
    return ret;
}

/* Adds "last_run" ({"id", "status", "created_at", "p95"} or null) and "recent" (the p95 and
 * status of the newest SP_STORE_RECENT_RUNS runs with a result, oldest first) to a test of
 * the list. */
static int add_recent_runs(sp_store *s, json_t *test)
{
    sqlite3_stmt *st = stmt(s, Q_TEST_RECENT);
    if (!st)
        return SP_EIO;
    json_t *recent = json_array();
    json_t *last = json_null();
    int rc;
    sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(test, "id")));
    sqlite3_bind_int(st, 2, SP_STORE_RECENT_RUNS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *r = json_pack("{s:o, s:o, s:o}", "id", col_int(st, 0), "status", col_str(st, 1),
                              "p95", col_num(st, 3));
        if (json_is_null(last)) {
            last = json_deep_copy(r);
            json_object_set_new(last, "created_at", col_int(st, 2));
        }
        json_array_insert_new(recent, 0, r); /* steals r; oldest first */
    }
    done(st);
    json_object_set_new(test, "last_run", last); /* steals last */
    json_object_set_new(test, "recent", recent); /* steals recent */
    return rc == SQLITE_DONE ? 0 : dberr(s, rc, NULL, 0);
}

int sp_store_test_list(sp_store *s, const char *name_filter, int include_deleted, int limit,
                       int offset, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    if (offset < 0)
        return SP_EINVAL;
    if (name_filter && !*name_filter)
        name_filter = NULL;
    sqlite3_stmt *st = stmt(s, Q_TEST_LIST), *cnt = stmt(s, Q_TEST_COUNT);
    if (!st || !cnt)
        return SP_EIO;
    json_t *items = json_array();
    int ret = 0, rc;
    sqlite3_bind_int(st, 1, include_deleted != 0);
    bind_text_or_null(st, 2, name_filter);
    sqlite3_bind_int(st, 3, clamp_limit(limit));
    sqlite3_bind_int(st, 4, offset);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "id", col_int(st, 0));
        json_object_set_new(o, "name", col_str(st, 1));
        json_object_set_new(o, "created_at", col_int(st, 2));
        json_object_set_new(o, "updated_at", col_int(st, 3));
        json_object_set_new(o, "revision", col_int(st, 4));
        if (include_deleted)
            json_object_set_new(o, "deleted_at", col_int(st, 5));
        json_array_append_new(items, o);
    }
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    done(st);
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o)
    {
        ret = add_recent_runs(s, o);
        if (ret)
            goto out;
    }
    sqlite3_bind_int(cnt, 1, include_deleted != 0);
    bind_text_or_null(cnt, 2, name_filter);
    rc = sqlite3_step(cnt);
    if (rc != SQLITE_ROW) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    *out =
        json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)sqlite3_column_int64(cnt, 0));
    items = NULL; /* stolen by json_pack's "o" */
out:
    done(st);
    done(cnt);
    json_decref(items);
    return ret;
}

int sp_store_test_delete(sp_store *s, int64_t id)
{
    if (forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = stmt(s, Q_TEST_DELETE);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, sp_wall_ms());
    int rc = step_done(st);
    done(st);
    if (rc != SQLITE_DONE)
        return dberr(s, rc, NULL, 0);
    return sqlite3_changes(s->db) ? 0 : SP_ENOTFOUND;
}

int sp_store_test_find(sp_store *s, const char *name, int64_t *id)
{
    *id = 0;
    if (forked(s))
        return SP_ESTATE;
    if (!name)
        return SP_EINVAL;
    sqlite3_stmt *st = stmt(s, Q_TEST_FIND);
    if (!st)
        return SP_EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else
        ret = rc == SQLITE_DONE ? SP_ENOTFOUND : dberr(s, rc, NULL, 0);
    done(st);
    return ret;
}

/* 1 when the statement id with ?1 = a returns a row, 0 when not, negative on failure. */
static int row_exists(sp_store *s, int id, int64_t a)
{
    sqlite3_stmt *st = stmt(s, id);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, a);
    int rc = sqlite3_step(st);
    done(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : dberr(s, rc, NULL, 0);
}

/*
 * Steps st (bound by the caller) to its end and returns its rows as a new JSON array of
 * objects: column i is names[i], an integer when kinds[i] is 'i', text when it is 's'. On a
 * database error nothing is returned and the error is recorded on s.
 */
static int rows_to_array(sp_store *s, sqlite3_stmt *st, const char *const *names,
                         const char *kinds, json_t **out)
{
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; kinds[i]; i++) /* set_new steals the column's value */
            json_object_set_new(o, names[i], kinds[i] == 'i' ? col_int(st, i) : col_str(st, i));
        json_array_append_new(arr, o);
    }
    done(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return dberr(s, rc, NULL, 0);
    }
    *out = arr;
    return 0;
}

int sp_store_test_revisions(sp_store *s, int64_t id, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    int ret = row_exists(s, Q_TEST_EXISTS, id);
    if (ret <= 0)
        return ret < 0 ? ret : SP_ENOTFOUND;
    sqlite3_stmt *st = stmt(s, Q_TEST_REVS);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, id);
    static const char *const cols[] = {"revision", "name", "created_at", "created_by", "bytes"};
    return rows_to_array(s, st, cols, "isisi", out);
}

/* ---- Runs ---- */

const char *sp_store_run_status_name(sp_run_status st)
{
    return (unsigned)st < SP_RUN_STATUS_COUNT ? status_names[st] : NULL;
}

int sp_store_run_status_parse(const char *name)
{
    for (int i = 0; name && i < SP_RUN_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

int sp_store_run_create(sp_store *s, int64_t test_id, int revision, const char *started_by,
                        const json_t *overrides, int64_t *run_id, int *revision_out, char *err,
                        size_t errlen)
{
    if (forked(s))
        return SP_ESTATE;
    if (revision < 0)
        return SP_EINVAL;
    int64_t id = 0;
    int ret = begin(s);
    if (ret)
        return ret;
    sqlite3_stmt *st = stmt(s, Q_TEST_HEAD);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, test_id);
    int rc = sqlite3_step(st);
    int head = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    done(st);
    if (rc == SQLITE_DONE) {
        seterr(err, errlen, "no test with id %lld", (long long)test_id);
        ret = SP_ENOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = dberr(s, rc, err, errlen);
        goto out;
    }
    if (revision == 0)
        revision = head;
    if (revision > head) {
        seterr(err, errlen, "test %lld has no revision %d", (long long)test_id, revision);
        ret = SP_ENOTFOUND;
        goto out;
    }
    st = stmt(s, Q_RUN_INSERT);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, test_id);
    sqlite3_bind_int(st, 2, revision);
    bind_text_or_null(st, 3, started_by);
    sqlite3_bind_int64(st, 4, sp_wall_ms());
    bind_json(st, 5, overrides);
    rc = step_done(st);
    done(st);
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, err, errlen);
        goto out;
    }
    id = sqlite3_last_insert_rowid(s->db);
    ret = commit(s);
out:
    if (ret) {
        rollback(s);
        return ret;
    }
    if (run_id)
        *run_id = id;
    if (revision_out)
        *revision_out = revision;
    return 0;
}

/* Maps a constraint failure on a run's child row: a missing parent (foreign key) is
 * SP_ENOTFOUND / SP_EINVAL, a duplicate is SP_ESTATE. */
static int child_err(sp_store *s, int rc, int missing)
{
    int ret = dberr(s, rc, NULL, 0);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return missing;
    return ret;
}

int sp_store_run_names_set(sp_store *s, int64_t run_id, const char *const *names, size_t n)
{
    if (forked(s))
        return SP_ESTATE;
    if (n > SP_DEF_MAX_NAMES)
        return SP_ELIMIT;
    for (size_t i = 0; i < n; i++)
        if (!names[i])
            return SP_EINVAL;
    int ret = begin(s);
    if (ret)
        return ret;
    sqlite3_stmt *st = stmt(s, Q_RUN_NAME_INSERT);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_text(st, 3, names[i], -1, SQLITE_STATIC);
        int rc = step_done(st);
        done(st);
        if (rc != SQLITE_DONE) {
            ret = child_err(s, rc, SP_ENOTFOUND);
            goto out;
        }
    }
    ret = commit(s);
out:
    if (ret)
        rollback(s);
    return ret;
}

/* After an UPDATE ... WHERE id = ? AND status ... changed nothing: was the run missing, or in
 * the wrong state? */
static int run_missing_or_state(sp_store *s, int64_t run_id)
{
    int e = row_exists(s, Q_RUN_EXISTS, run_id);
    if (e < 0)
        return e;
    snprintf(s->msg, sizeof s->msg,
             e ? "the run is not in a state that allows this" : "no such run");
    return e ? SP_ESTATE : SP_ENOTFOUND;
}

int sp_store_run_set_status(sp_store *s, int64_t run_id, sp_run_status status)
{
    if (forked(s))
        return SP_ESTATE;
    if (status != SP_RUN_RUNNING)
        return SP_EINVAL;
    sqlite3_stmt *st = stmt(s, Q_RUN_START);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, sp_wall_ms());
    int rc = step_done(st);
    done(st);
    if (rc != SQLITE_DONE)
        return dberr(s, rc, NULL, 0);
    return sqlite3_changes(s->db) ? 0 : run_missing_or_state(s, run_id);
}

int sp_store_run_finish(sp_store *s, int64_t run_id, sp_run_status status, const json_t *verdicts,
                        const json_t *summary, const char *error)
{
    if (forked(s))
        return SP_ESTATE;
    if (status < SP_RUN_PASSED || status >= SP_RUN_STATUS_COUNT)
        return SP_EINVAL;
    sqlite3_stmt *st = stmt(s, Q_RUN_FINISH);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, status_names[status], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, sp_wall_ms());
    bind_json(st, 4, verdicts);
    bind_json(st, 5, summary);
    bind_text_or_null(st, 6, error);
    int rc = step_done(st);
    done(st);
    if (rc != SQLITE_DONE)
        return dberr(s, rc, NULL, 0);
    return sqlite3_changes(s->db) ? 0 : run_missing_or_state(s, run_id);
}

/* The columns of RUN_COLUMNS, from column 0, as a new object. */
static json_t *run_object(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", col_int(st, 0));
    json_object_set_new(o, "test_id", col_int(st, 1));
    json_object_set_new(o, "test_name", col_str(st, 2));
    json_object_set_new(o, "revision", col_int(st, 3));
    json_object_set_new(o, "status", col_str(st, 4));
    json_object_set_new(o, "started_by", col_str(st, 5));
    json_object_set_new(o, "created_at", col_int(st, 6));
    json_object_set_new(o, "started_at", col_int(st, 7));
    json_object_set_new(o, "ended_at", col_int(st, 8));
    json_object_set_new(o, "overrides", col_json(st, 9));
    json_object_set_new(o, "verdicts", col_json(st, 10));
    json_object_set_new(o, "error", col_str(st, 11));
    return o;
}

int sp_store_run_get(sp_store *s, int64_t run_id, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = stmt(s, Q_RUN_GET), *nm = stmt(s, Q_RUN_NAMES),
                 *last = stmt(s, Q_RUN_LAST_SECOND);
    if (!st || !nm || !last)
        return SP_EIO;
    json_t *o = NULL;
    int ret = 0;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        ret = rc == SQLITE_DONE ? SP_ENOTFOUND : dberr(s, rc, NULL, 0);
        goto out;
    }
    o = run_object(st);
    json_object_set_new(o, "summary", col_json(st, 12));
    json_t *names = json_array();
    json_object_set_new(o, "names", names);
    sqlite3_bind_int64(nm, 1, run_id);
    sqlite3_bind_int64(nm, 2, -1);
    while ((rc = sqlite3_step(nm)) == SQLITE_ROW)
        json_array_append_new(names, col_str(nm, 1));
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    sqlite3_bind_int64(last, 1, run_id);
    rc = sqlite3_step(last);
    if (rc != SQLITE_ROW) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    json_object_set_new(o, "last_second", col_int(last, 0));
out:
    done(st);
    done(nm);
    done(last);
    if (ret) {
        json_decref(o);
        return ret;
    }
    *out = o;
    return 0;
}

void sp_store_run_filter_init(sp_store_run_filter *f)
{
    memset(f, 0, sizeof *f);
    f->status = -1;
}

static void bind_filter(sqlite3_stmt *st, const sp_store_run_filter *f)
{
    sqlite3_bind_int64(st, 1, f->test_id);
    if (f->status >= 0)
        sqlite3_bind_text(st, 2, status_names[f->status], -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, f->created_from);
    sqlite3_bind_int64(st, 4, f->created_to);
}

int sp_store_run_list(sp_store *s, const sp_store_run_filter *f, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    if (f->status >= SP_RUN_STATUS_COUNT || f->offset < 0)
        return SP_EINVAL;
    sqlite3_stmt *st = stmt(s, Q_RUN_LIST), *cnt = stmt(s, Q_RUN_COUNT);
    if (!st || !cnt)
        return SP_EIO;
    json_t *items = json_array();
    int ret = 0, rc;
    bind_filter(st, f);
    sqlite3_bind_int(st, 5, clamp_limit(f->limit));
    sqlite3_bind_int(st, 6, f->offset);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = run_object(st);
        json_object_set_new(o, "requests", col_int(st, 12));
        json_object_set_new(o, "rps", col_num(st, 13));
        json_object_set_new(o, "error_rate", col_num(st, 14));
        json_object_set_new(o, "p95", col_num(st, 15));
        json_object_set_new(o, "duration_s", col_num(st, 16));
        json_array_append_new(items, o);
    }
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    bind_filter(cnt, f);
    rc = sqlite3_step(cnt);
    if (rc != SQLITE_ROW) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    *out =
        json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)sqlite3_column_int64(cnt, 0));
    items = NULL; /* stolen by json_pack's "o" */
out:
    done(st);
    done(cnt);
    json_decref(items);
    return ret;
}

int sp_store_runs_mark_aborted(sp_store *s, int *n)
{
    if (n)
        *n = 0;
    if (forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = stmt(s, Q_RUN_ABORT);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, sp_wall_ms());
    sqlite3_bind_text(st, 2, "the server stopped while the run was going", -1, SQLITE_STATIC);
    int rc = step_done(st);
    done(st);
    if (rc != SQLITE_DONE)
        return dberr(s, rc, NULL, 0);
    if (n)
        *n = sqlite3_changes(s->db);
    return 0;
}

/* ---- Series ---- */

/* SQLite integers are signed; counters never come near 2^63, but a wrapped value must not turn
 * negative in the database. */
static int64_t i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void bind_sparse(sqlite3_stmt *st, int i, sp_buf *b, const uint64_t *v, size_t n)
{
    sp_buf_reset(b);
    if (v && encode_sparse(b, v, n))
        sqlite3_bind_blob(st, i, b->p, (int)b->len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int sp_store_run_second_add(sp_store *s, int64_t run_id, int64_t second, const sp_store_tick *tick,
                            const sp_store_second *names, size_t n)
{
    if (forked(s))
        return SP_ESTATE;
    if (second < 0)
        return SP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (names[i].nstatus > SP_STATUS_MAX || names[i].nerror_kinds > SP_STORE_MAX_ERROR_KINDS)
            return SP_EINVAL;
    int ret = begin(s);
    if (ret)
        return ret;
    int rc;
    if (tick) {
        sqlite3_stmt *st = stmt(s, Q_TICK_INSERT);
        if (!st) {
            ret = SP_EIO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, second);
        sqlite3_bind_int64(st, 3, tick->active_vus);
        sqlite3_bind_int64(st, 4, tick->target_vus);
        sqlite3_bind_int64(st, 5, i64(tick->iterations));
        sqlite3_bind_int64(st, 6, i64(tick->dropped));
        sqlite3_bind_int64(st, 7, i64(tick->lag_us_max));
        rc = step_done(st);
        done(st);
        if (rc != SQLITE_DONE) {
            ret = child_err(s, rc, SP_ENOTFOUND);
            goto out;
        }
    }
    sqlite3_stmt *st = stmt(s, Q_SECOND_INSERT);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const sp_store_second *x = &names[i];
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, second);
        sqlite3_bind_int64(st, 3, x->name_id);
        sqlite3_bind_int64(st, 4, i64(x->count));
        sqlite3_bind_int64(st, 5, i64(x->errors));
        sqlite3_bind_int64(st, 6, i64(x->p50_us));
        sqlite3_bind_int64(st, 7, i64(x->p95_us));
        sqlite3_bind_int64(st, 8, i64(x->p99_us));
        sqlite3_bind_int64(st, 9, i64(x->max_us));
        sqlite3_bind_int64(st, 10, i64(x->bytes_in));
        sqlite3_bind_int64(st, 11, i64(x->bytes_out));
        bind_sparse(st, 12, &s->blob_a, x->status, x->nstatus);
        bind_sparse(st, 13, &s->blob_b, x->error_kinds, x->nerror_kinds);
        rc = step_done(st);
        done(st);
        if (rc != SQLITE_DONE) {
            ret = child_err(s, rc, SP_EINVAL);
            goto out;
        }
    }
    ret = commit(s);
out:
    if (ret)
        rollback(s);
    return ret;
}

int sp_store_run_minute_hist_add(sp_store *s, int64_t run_id, int64_t minute,
                                 const sp_store_hist *hists, size_t n)
{
    if (forked(s))
        return SP_ESTATE;
    if (minute < 0)
        return SP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (hists[i].nbuckets > SP_STORE_HIST_MAX_BUCKETS ||
            (hists[i].nbuckets && !hists[i].buckets))
            return SP_EINVAL;
    sp_buf b;
    /* Two 10-byte varints per bucket at most, plus the layout varint. */
    sp_buf_init(&b, (size_t)SP_STORE_HIST_MAX_BUCKETS * 20 + 10);
    int ret = begin(s);
    if (ret)
        return ret;
    sqlite3_stmt *st = stmt(s, Q_HIST_UPSERT);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const sp_store_hist *h = &hists[i];
        uint64_t total = 0;
        for (size_t k = 0; k < h->nbuckets; k++)
            total += h->buckets[k];
        /* The layout (bucket count) leads the blob, so a reader with another layout can tell. */
        sp_buf_reset(&b);
        put_varint(&b, h->nbuckets);
        encode_sparse(&b, h->buckets, h->nbuckets);
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, minute);
        sqlite3_bind_int64(st, 3, h->name_id);
        sqlite3_bind_int64(st, 4, i64(total));
        sqlite3_bind_blob(st, 5, b.p, (int)b.len, SQLITE_STATIC);
        int rc = step_done(st);
        done(st);
        if (rc != SQLITE_DONE) {
            ret = child_err(s, rc, SP_EINVAL);
            goto out;
        }
    }
    ret = commit(s);
out:
    if (ret)
        rollback(s);
    sp_buf_release(&b);
    return ret;
}

struct add_ctx {
    uint64_t *buckets;
    uint64_t total;
};

static void add_bucket(void *ctx, size_t index, uint64_t count)
{
    struct add_ctx *a = ctx;
    a->buckets[index] += count;
    a->total += count;
}

int sp_store_window_hist(sp_store *s, int64_t run_id, int64_t name_id, int64_t from_minute,
                         int64_t to_minute, uint64_t *buckets, size_t nbuckets, uint64_t *total)
{
    if (total)
        *total = 0;
    if (forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = stmt(s, Q_HIST_WINDOW);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, from_minute);
    sqlite3_bind_int64(st, 3, to_minute);
    sqlite3_bind_int64(st, 4, name_id < 0 ? -1 : name_id);
    struct add_ctx a = {buckets, 0};
    int ret = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(st, 0);
        const unsigned char *end = p + sqlite3_column_bytes(st, 0);
        uint64_t layout;
        if (!p || get_varint(&p, end, &layout) || layout != nbuckets ||
            decode_sparse(p, end, nbuckets, add_bucket, &a)) {
            snprintf(s->msg, sizeof s->msg,
                     "a stored histogram is corrupt or has another bucket layout");
            ret = SP_EIO;
            break;
        }
    }
    if (!ret && rc != SQLITE_DONE)
        ret = dberr(s, rc, NULL, 0);
    done(st);
    if (total)
        *total = a.total;
    return ret;
}

/* The run_seconds columns read back, by position in Q_SECONDS_READ (NULL: not a series). */
static const char *const series_cols[] = {"second", NULL,  "count", "errors",   "p50",
                                          "p95",    "p99", "max",   "bytes_in", "bytes_out"};

/*
 * The series of one request name while it is being read back. Counts by status code and by
 * error kind are kept in columns too ({"200": [...], "500": [...]}), one array per code that
 * occurs, rather than one object per second: a second then costs a few array slots instead of a
 * hash table, and the charts draw one line per code anyway.
 */
struct name_series {
    json_t *obj;                             /* the name's object in "names" (borrowed) */
    json_t *cols[SP_ARRAY_LEN(series_cols)]; /* the arrays of series_cols (borrowed) */
    json_t *status, *kinds;                  /* objects of columns (borrowed) */
    size_t rows;                             /* seconds appended so far */
};

/* Appends count to the column key of obj for the current row, padding a new column (or one
 * that skipped seconds) with zeros so that every column has one entry per second. */
static void append_keyed(json_t *obj, size_t row, size_t index, uint64_t count)
{
    char key[24];
    snprintf(key, sizeof key, "%zu", index);
    json_t *arr = json_object_get(obj, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(obj, key, arr);
    }
    while (json_array_size(arr) < row)
        json_array_append_new(arr, json_integer(0));
    json_array_append_new(arr, json_integer(i64(count)));
}

static void status_pair(void *ctx, size_t index, uint64_t count)
{
    struct name_series *ns = ctx;
    append_keyed(ns->status, ns->rows, index, count);
}

static void kind_pair(void *ctx, size_t index, uint64_t count)
{
    struct name_series *ns = ctx;
    append_keyed(ns->kinds, ns->rows, index, count);
}

static void decode_col(sqlite3_stmt *st, int i, size_t n,
                       void (*fn)(void *ctx, size_t index, uint64_t count), void *ctx)
{
    const unsigned char *p = sqlite3_column_blob(st, i);
    if (p)
        (void)decode_sparse(p, p + sqlite3_column_bytes(st, i), n, fn, ctx);
}

/* Pads every column of obj to rows entries. */
static void pad_keyed(json_t *obj, size_t rows)
{
    const char *key;
    json_t *arr;
    json_object_foreach(obj, key, arr)
    {
        while (json_array_size(arr) < rows)
            json_array_append_new(arr, json_integer(0));
    }
}

static const char *const tick_cols[] = {"second",     "active_vus", "target_vus",
                                        "iterations", "dropped",    "lag_us_max"};

int sp_store_run_series(sp_store *s, int64_t run_id, int64_t name_id, int64_t from_second,
                        int64_t to_second, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    int e = row_exists(s, Q_RUN_EXISTS, run_id);
    if (e <= 0)
        return e < 0 ? e : SP_ENOTFOUND;
    if (to_second < 0)
        to_second = INT64_MAX;
    if (name_id < 0)
        name_id = -1;
    sqlite3_stmt *tk = stmt(s, Q_TICKS_READ), *nm = stmt(s, Q_RUN_NAMES),
                 *sec = stmt(s, Q_SECONDS_READ);
    if (!tk || !nm || !sec)
        return SP_EIO;
    int ret = 0, rc;
    json_t *res = json_object(), *ticks = json_object(), *names = json_array();
    json_object_set_new(res, "ticks", ticks);
    json_object_set_new(res, "names", names);
    struct name_series *by_id = NULL; /* indexed by name id; obj NULL for ids not read */
    size_t nby = 0, cap = 0;
    json_t *tcols[SP_ARRAY_LEN(tick_cols)];

    for (size_t c = 0; c < SP_ARRAY_LEN(tick_cols); c++) {
        tcols[c] = json_array();
        json_object_set_new(ticks, tick_cols[c], tcols[c]);
    }
    sqlite3_bind_int64(tk, 1, run_id);
    sqlite3_bind_int64(tk, 2, from_second);
    sqlite3_bind_int64(tk, 3, to_second);
    while ((rc = sqlite3_step(tk)) == SQLITE_ROW)
        for (size_t c = 0; c < SP_ARRAY_LEN(tick_cols); c++)
            json_array_append_new(tcols[c], col_int(tk, (int)c));
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }

    sqlite3_bind_int64(nm, 1, run_id);
    sqlite3_bind_int64(nm, 2, name_id);
    while ((rc = sqlite3_step(nm)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(nm, 0);
        if (id < 0 || id >= SP_DEF_MAX_NAMES)
            continue;
        sp_grow((void **)&by_id, &cap, (size_t)id + 1, sizeof *by_id);
        while (nby <= (size_t)id)
            memset(&by_id[nby++], 0, sizeof *by_id);
        struct name_series *ns = &by_id[id];
        ns->obj = json_object();
        json_object_set_new(ns->obj, "id", json_integer(id));
        json_object_set_new(ns->obj, "name", col_str(nm, 1));
        for (size_t c = 0; c < SP_ARRAY_LEN(series_cols); c++) {
            if (!series_cols[c])
                continue;
            ns->cols[c] = json_array();
            json_object_set_new(ns->obj, series_cols[c], ns->cols[c]);
        }
        ns->status = json_object();
        ns->kinds = json_object();
        json_object_set_new(ns->obj, "status", ns->status);
        json_object_set_new(ns->obj, "error_kinds", ns->kinds);
        json_array_append_new(names, ns->obj);
    }
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }

    sqlite3_bind_int64(sec, 1, run_id);
    sqlite3_bind_int64(sec, 2, from_second);
    sqlite3_bind_int64(sec, 3, to_second);
    sqlite3_bind_int64(sec, 4, name_id);
    while ((rc = sqlite3_step(sec)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(sec, 1);
        struct name_series *ns = id >= 0 && (size_t)id < nby ? &by_id[id] : NULL;
        if (!ns || !ns->obj)
            continue;
        for (size_t c = 0; c < SP_ARRAY_LEN(series_cols); c++)
            if (ns->cols[c])
                json_array_append_new(ns->cols[c], col_int(sec, (int)c));
        decode_col(sec, 10, SP_STATUS_MAX, status_pair, ns);
        decode_col(sec, 11, SP_STORE_MAX_ERROR_KINDS, kind_pair, ns);
        ns->rows++;
    }
    if (rc != SQLITE_DONE) {
        ret = dberr(s, rc, NULL, 0);
        goto out;
    }
    for (size_t i = 0; i < nby; i++) {
        if (by_id[i].obj) {
            pad_keyed(by_id[i].status, by_id[i].rows);
            pad_keyed(by_id[i].kinds, by_id[i].rows);
        }
    }
out:
    done(tk);
    done(nm);
    done(sec);
    free(by_id);
    if (ret) {
        json_decref(res);
        return ret;
    }
    *out = res;
    return 0;
}

/* The length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *str, size_t max)
{
    size_t n = strlen(str);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)str[n] & 0xc0) == 0x80)
        n--;
    return n;
}

int sp_store_run_failures_add(sp_store *s, int64_t run_id, const sp_store_failure *f, size_t n)
{
    if (forked(s))
        return SP_ESTATE;
    for (size_t i = 0; i < n; i++)
        if (!f[i].message)
            return SP_EINVAL;
    int ret = begin(s);
    if (ret)
        return ret;
    sqlite3_stmt *st = stmt(s, Q_FAIL_UPSERT);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, f[i].name_id);
        sqlite3_bind_text(st, 3, f[i].message, (int)utf8_cut(f[i].message, SP_FAIL_MSG_MAX),
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, i64(f[i].count));
        int rc = step_done(st);
        done(st);
        if (rc != SQLITE_DONE) {
            ret = child_err(s, rc, SP_EINVAL);
            goto out;
        }
    }
    ret = commit(s);
out:
    if (ret)
        rollback(s);
    return ret;
}

int sp_store_run_failures(sp_store *s, int64_t run_id, json_t **out)
{
    *out = NULL;
    if (forked(s))
        return SP_ESTATE;
    int e = row_exists(s, Q_RUN_EXISTS, run_id);
    if (e <= 0)
        return e < 0 ? e : SP_ENOTFOUND;
    sqlite3_stmt *st = stmt(s, Q_FAIL_READ);
    if (!st)
        return SP_EIO;
    sqlite3_bind_int64(st, 1, run_id);
    static const char *const cols[] = {"name", "name_id", "message", "count"};
    return rows_to_array(s, st, cols, "sisi", out);
}
