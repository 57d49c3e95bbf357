/*
 * store.c - see store.h: the connection (open, pragmas, migrations, close), checkpoints and
 * checks, and the table of every statement of the module.
 *
 * Every statement is static SQL with ? parameters, prepared on first use with
 * SQLITE_PREPARE_PERSISTENT and kept for the life of the connection (store/sql.h), so the
 * per-second path never parses SQL. A statement is reset (and its bindings cleared) by the
 * function that used it before that function returns, so the next caller finds it ready. The
 * rest of the module is in store_tests.c, store_policy.c, store_runs.c and store_series.c
 * (store_private.h).
 */
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/errors.h"
#include "store/sql.h"
#include "store/store_private.h"

/* The statements, by id (store_private.h). Kept in one table so that every SQL text of the
 * module is in one place and each is prepared at most once per connection. */
#define RUN_COLUMNS                                                                                \
    "r.id, r.test_id, t.name, r.revision, r.status, r.started_by, r.created_at, r.started_at, "    \
    "r.ended_at, r.overrides, r.verdicts, r.error, r.origin, r.schedule_id, r.fire_at, "           \
    "r.fire_missed, r.baseline"

/* The run list's filter; every bound is optional so one statement serves every combination. */
#define RUN_FILTER                                                                                 \
    " WHERE (?1 = 0 OR r.test_id = ?1) AND (?2 IS NULL OR r.status = ?2)"                          \
    " AND (?3 = 0 OR r.created_at >= ?3) AND (?4 = 0 OR r.created_at < ?4)"                        \
    " AND (?5 IS NULL OR r.origin = ?5)"

static const char *const sql_text[Q_COUNT] = {
    [Q_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_version",
    [Q_VERSION_INSERT] = "INSERT INTO schema_version (version, name, applied_at)"
                         " VALUES (?1, ?2, ?3)",
    /* A file some other program made has tables but neither Stampede's application_id nor a
     * schema_version table (check_owner). */
    [Q_OWNER] = "SELECT (SELECT application_id FROM pragma_application_id),"
                " (SELECT count(*) FROM sqlite_schema),"
                " (SELECT count(*) FROM sqlite_schema"
                "  WHERE type = 'table' AND name = 'schema_version')",
    [Q_TEST_INSERT] = "INSERT INTO tests (name, created_at, updated_at, head_revision)"
                      " VALUES (?1, ?2, ?2, 1)",
    [Q_REV_INSERT] = "INSERT INTO test_revisions"
                     " (test_id, revision, name, definition, created_at, created_by)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_TEST_BUMP] = "UPDATE tests SET name = ?2, updated_at = ?3, head_revision = head_revision + 1"
                    " WHERE id = ?1 AND deleted_at IS NULL RETURNING head_revision",
    [Q_TEST_GET] = "SELECT t.id, t.name, t.created_at, t.updated_at, t.deleted_at, t.head_revision,"
                   " r.revision, r.name, r.definition, r.created_at, r.created_by,"
                   " t.baseline_run_id"
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
    [Q_RUN_INSERT_SCHEDULED] =
        "INSERT INTO runs (test_id, revision, status, started_by, created_at, overrides, origin,"
        " schedule_id, fire_at, fire_missed)"
        " VALUES (?1, ?2, 'queued', ?3, ?4, ?5, 'scheduled', ?6, ?7, ?8)",
    [Q_RUN_NAME_INSERT] = "INSERT INTO run_names (run_id, name_id, name) VALUES (?1, ?2, ?3)",
    [Q_RUN_NAME_GROUP] = "UPDATE run_names SET kind = 'group' WHERE run_id = ?1 AND name_id = ?2",
    [Q_RUN_START] = "UPDATE runs SET status = 'running', started_at = ?2"
                    " WHERE id = ?1 AND status = 'queued'",
    [Q_RUN_FINISH] = "UPDATE runs SET status = ?2, ended_at = ?3, verdicts = ?4, summary = ?5,"
                     " error = ?6 WHERE id = ?1 AND status IN ('queued', 'running')",
    [Q_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id = ?1",
    [Q_RUN_GET] = "SELECT " RUN_COLUMNS ", r.summary FROM runs r JOIN tests t ON t.id = r.test_id"
                  " WHERE r.id = ?1",
    [Q_RUN_NAMES] = "SELECT name_id, name, kind FROM run_names WHERE run_id = ?1"
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
                   " ORDER BY r.id DESC LIMIT ?6 OFFSET ?7",
    [Q_RUN_COUNT] = "SELECT count(*) FROM runs r" RUN_FILTER,
    [Q_RUN_ABORT] = "UPDATE runs SET status = 'aborted', ended_at = ?1, error = coalesce(error, ?2)"
                    " WHERE status IN ('queued', 'running')",
    /* -1 stands for "none" in the optional columns (store_series.c binds it). */
    [Q_TICK_INSERT] = "INSERT INTO run_ticks (run_id, second, active_vus, target_vus, iterations,"
                      " dropped, lag_us_max, p50, p95, p99, max, target_rate, arrivals, locations)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, nullif(?8, -1), nullif(?9, -1),"
                      " nullif(?10, -1), nullif(?11, -1), nullif(?12, -1.0), nullif(?13, -1), ?14)",
    [Q_SECOND_INSERT] = "INSERT INTO run_seconds (run_id, second, name_id, count, errors, p50, p95,"
                        " p99, max, bytes_in, bytes_out, status, error_kinds)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [Q_HIST_UPSERT] = "INSERT INTO run_minute_hists (run_id, minute, name_id, count, buckets)"
                      " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (run_id, minute, name_id)"
                      " DO UPDATE SET count = excluded.count, buckets = excluded.buckets",
    [Q_HIST_WINDOW] = "SELECT buckets FROM run_minute_hists WHERE run_id = ?1 AND minute >= ?2"
                      " AND minute < ?3 AND (?4 < 0 OR name_id = ?4)",
    [Q_TICKS_READ] =
        "SELECT second, active_vus, target_vus, iterations, dropped, lag_us_max,"
        " p50, p95, p99, max, target_rate, arrivals, locations FROM run_ticks WHERE run_id = ?1 "
        "AND second >= ?2 AND second < ?3"
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
    [Q_LOAD_INSERT] = "INSERT INTO run_load_changes (run_id, at, elapsed_ms, target, ramp_ms, by)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_LOAD_READ] = "SELECT at, elapsed_ms, target, ramp_ms, by FROM run_load_changes"
                    " WHERE run_id = ?1 ORDER BY elapsed_ms, id",
    [Q_TEST_BASELINE_GET] = "SELECT baseline_run_id, compare_settings FROM tests WHERE id = ?1",
    [Q_TEST_BASELINE_SET] = "UPDATE tests SET baseline_run_id = ?2, compare_settings = ?3"
                            " WHERE id = ?1 AND deleted_at IS NULL",
    /* runs_by_test walks the test's runs newest first from before_id down. */
    [Q_RUN_LAST_PASSED] = "SELECT id FROM runs WHERE test_id = ?1 AND id < ?2"
                          " AND status = 'passed' AND summary IS NOT NULL"
                          " ORDER BY id DESC LIMIT 1",
    [Q_RUN_BASELINE_SET] = "UPDATE runs SET baseline = ?2 WHERE id = ?1",
    [Q_TICKS_EACH] = "SELECT second, lag_us_max, p50, p95, p99 FROM run_ticks"
                     " WHERE run_id = ?1 ORDER BY second",
};

/* ---- Helpers the files of the store share (store_private.h) ---- */

void store_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int store_forked(sp_store *s)
{
    if (s->pid == getpid())
        return 0;
    sp_sql_setmsg(s->sql, "database connection used after fork()");
    return 1;
}

int store_dberr(sp_store *s, int code, char *err, size_t errlen)
{
    store_seterr(err, errlen, "database: %s", sp_sql_errmsg(s->sql));
    return code;
}

int store_child_err(sp_store *s, int code, int missing)
{
    if (code == SP_ESTATE && sp_sql_errcode(s->sql) == SQLITE_CONSTRAINT_FOREIGNKEY)
        return missing;
    return code;
}

int store_begin(sp_store *s)
{
    return store_forked(s) ? SP_ESTATE : sp_sql_begin(s->sql);
}

int store_row_exists(sp_store *s, int id, int64_t a)
{
    int64_t one;
    int ret = sp_sql_one_int(s->sql, id, &one, "l", a);
    return ret == 0 ? 1 : ret == SP_ENOTFOUND ? 0 : ret;
}

int store_rows_of(sp_store *s, int parent, int64_t id, int query, const char *spec, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    int ret = store_row_exists(s, parent, id);
    if (ret <= 0)
        return ret < 0 ? ret : SP_ENOTFOUND;
    return sp_sql_rows(s->sql, sp_sql_query(s->sql, query, "l", id), spec, out);
}

/* A failure rc of SQL the kit ran on the bare connection (scripts, pragmas): recorded, and
 * written to err as store_dberr() does. */
static int raw_fail(sp_store *s, int rc, char *err, size_t errlen)
{
    return store_dberr(s, sp_sql_fail(s->sql, rc), err, errlen);
}

/* ---- Open, migrate, close ---- */

static int current_version(sp_store *s, int *version)
{
    int64_t v = 0;
    int ret = sp_sql_one_int(s->sql, Q_VERSION, &v, "");
    *version = (int)v;
    return ret;
}

static int apply_migration(sp_store *s, const sp_store_migration *m, char *err, size_t errlen)
{
    sp_sql *q = s->sql;
    int ret = sp_sql_begin(q);
    if (ret) {
        store_seterr(err, errlen, "cannot start migration %s: %s", m->name, sp_sql_errmsg(q));
        return ret;
    }
    /* Another process or thread may have applied it between our check and our lock. */
    int version = 0;
    ret = current_version(s, &version);
    if (!ret && version >= m->version) {
        sp_sql_rollback(q);
        return 0;
    }
    if (!ret) {
        int rc = sp_sql_exec(sp_sql_db(q), m->sql);
        ret = rc == SQLITE_OK ? 0 : sp_sql_fail(q, rc);
    }
    if (!ret)
        ret = sp_sql_run(q, Q_VERSION_INSERT, "isl", m->version, m->name, sp_wall_ms());
    if (ret) {
        store_seterr(err, errlen, "migration %s failed: %s", m->name, sp_sql_errmsg(q));
        sp_sql_rollback(q);
        /* A full disk stays SP_EFULL, so that a start on one says so. */
        return ret == SP_EFULL ? ret : SP_EIO;
    }
    ret = sp_sql_commit(q);
    if (ret)
        store_seterr(err, errlen, "migration %s failed to commit: %s", m->name, sp_sql_errmsg(q));
    return ret;
}

/*
 * Refuses a file that some other program made: a database that has tables but neither
 * Stampede's application_id (set by the first migration) nor a schema_version table, so that a
 * mistaken --data-dir never gets Stampede's tables added to somebody else's data.
 */
static int check_owner(sp_store *s, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = sp_sql_query(s->sql, Q_OWNER, "");
    int ret = st ? sp_sql_next(s->sql, st) : SP_EIO;
    if (ret <= 0) {
        sp_sql_done(st);
        return store_dberr(s, ret ? ret : SP_EIO, err, errlen);
    }
    int64_t app = sqlite3_column_int64(st, 0);
    int64_t objects = sqlite3_column_int64(st, 1), ours = sqlite3_column_int64(st, 2);
    sp_sql_done(st);
    if (app == SP_STORE_APPLICATION_ID || (app == 0 && (objects == 0 || ours)))
        return 0;
    store_seterr(err, errlen,
                 "%s is not a stampede database (application_id %lld, %lld schema objects)", path,
                 (long long)app, (long long)objects);
    return SP_ESTATE;
}

static int migrate(sp_store *s, int max_version, char *err, size_t errlen)
{
    size_t known;
    const sp_store_migration *m = sp_store_migrations(&known);
    int rc = sp_sql_exec(sp_sql_db(s->sql), "CREATE TABLE IF NOT EXISTS schema_version ("
                                            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                                            " applied_at INTEGER NOT NULL)");
    if (rc != SQLITE_OK)
        return raw_fail(s, rc, err, errlen);
    int version = 0;
    int ret = current_version(s, &version);
    if (ret)
        return store_dberr(s, ret, err, errlen);
    if (version > (int)known) {
        store_seterr(err, errlen,
                     "database schema version %d is newer than this stampede (knows %zu): upgrade "
                     "stampede",
                     version, known);
        return SP_ESTATE;
    }
    int target = (int)known;
    if (max_version > 0 && max_version < target)
        target = max_version;
    for (int v = version + 1; v <= target; v++) {
        ret = apply_migration(s, &m[v - 1], err, errlen);
        if (ret)
            return ret;
    }
    return 0;
}

/* The answer of a pragma (its first row's first column) into out: 0, or the failure recorded
 * and written to err. */
static int pragma_text(sp_store *s, const char *sql, char *out, size_t outlen, char *err,
                       size_t errlen)
{
    int rc = sp_sql_exec_text(sp_sql_db(s->sql), sql, out, outlen);
    return rc == SQLITE_OK ? 0 : raw_fail(s, rc, err, errlen);
}

/* Per-connection settings (the kit's sp_sql_connect() has made the connection defensive and
 * set the busy timeout). journal_mode=WAL is persistent in the file; the others are not. */
static int configure(sp_store *s, char *err, size_t errlen)
{
    char mode[32];
    int ret = pragma_text(s, "PRAGMA journal_mode = WAL", mode, sizeof mode, err, errlen);
    if (ret)
        return ret;
    if (strcmp(mode, "wal") != 0) {
        store_seterr(err, errlen, "database: cannot use WAL mode (journal mode is %s)",
                     *mode ? mode : "unknown");
        return SP_EIO;
    }
#define STR_(x) #x
#define STR(x) STR_(x)
    int rc = sp_sql_exec(sp_sql_db(s->sql),
                         "PRAGMA synchronous = FULL;"
                         "PRAGMA foreign_keys = ON;"
                         "PRAGMA journal_size_limit = " STR(SP_STORE_WAL_LIMIT_BYTES) ";");
#undef STR
#undef STR_
    if (rc != SQLITE_OK)
        return raw_fail(s, rc, err, errlen);
    return 0;
}

int sp_store_open_upto(sp_store **out, const char *path, int max_version, char *err, size_t errlen)
{
    static const sp_sql_config cfg = {
        .texts = sql_text,
        .ntexts = Q_COUNT,
    };
    *out = NULL;
    if (!path || !*path) {
        store_seterr(err, errlen, "database: no path given");
        return SP_EINVAL;
    }
    sp_store *s = sp_calloc(1, sizeof *s);
    s->pid = getpid();
    sp_buf_init(&s->blob_a, STORE_BLOB_MAX);
    sp_buf_init(&s->blob_b, STORE_BLOB_MAX);
    char why[256] = "";
    int ret = sp_sql_open(&s->sql, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &cfg, why,
                          sizeof why);
    if (ret) {
        store_seterr(err, errlen, "cannot open database %s: %s", path, why);
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
        sp_sql_clear(s->sql);
        ret = configure(s, err, errlen);
        if (!ret)
            ret = check_owner(s, path, err, errlen);
        if (!ret)
            ret = migrate(s, max_version, err, errlen);
        int last = sp_sql_errcode(s->sql) & 0xff;
        int busy = last == SQLITE_BUSY || last == SQLITE_LOCKED;
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
    if (s->pid == getpid())
        sp_sql_close(s->sql);
    else
        sp_sql_abandon(s->sql);
    sp_buf_release(&s->blob_a);
    sp_buf_release(&s->blob_b);
    free(s);
}

int sp_store_schema_version(sp_store *s)
{
    int version = 0;
    if (store_forked(s) || current_version(s, &version) != 0)
        return 0;
    return version;
}

const char *sp_store_errmsg(sp_store *s)
{
    return sp_sql_errmsg(s->sql);
}

int sp_store_checkpoint(sp_store *s, int truncate, int *wal_frames, int *checkpointed)
{
    if (store_forked(s))
        return SP_ESTATE;
    int log = 0, ckpt = 0;
    int rc = sqlite3_wal_checkpoint_v2(
        sp_sql_db(s->sql), NULL, truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE,
        &log, &ckpt);
    if (wal_frames)
        *wal_frames = log;
    if (checkpointed)
        *checkpointed = ckpt;
    /* A passive checkpoint never waits: SQLITE_BUSY means another connection (a writer's
     * automatic checkpoint) is checkpointing right now, which does the same job. */
    if (!truncate && (rc & 0xff) == SQLITE_BUSY)
        return 0;
    return rc == SQLITE_OK ? 0 : sp_sql_fail(s->sql, rc);
}

int sp_store_integrity_check(sp_store *s, char *err, size_t errlen)
{
    if (store_forked(s))
        return SP_ESTATE;
    char res[1024];
    int ret = pragma_text(s, "PRAGMA integrity_check", res, sizeof res, err, errlen);
    if (ret)
        return ret;
    if (strcmp(res, "ok") != 0) {
        store_seterr(err, errlen, "integrity_check: %s", *res ? res : "no result");
        return SP_EIO;
    }
    /* The first row names the table, the row and the parent table it misses. */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(sp_sql_db(s->sql), "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(st, 0);
        const char *parent = (const char *)sqlite3_column_text(st, 2);
        store_seterr(err, errlen, "foreign_key_check: table %s row %lld has no parent in %s",
                     table ? table : "?", (long long)sqlite3_column_int64(st, 1),
                     parent ? parent : "?");
        ret = SP_EIO;
    } else if (rc != SQLITE_DONE) {
        ret = raw_fail(s, rc, err, errlen);
    }
    sqlite3_finalize(st);
    return ret;
}

/* Bytes for people: "12 KiB", "3.4 MiB". */
static void human_bytes(uint64_t n, char *out, size_t outlen)
{
    if (n < 1024)
        snprintf(out, outlen, "%llu bytes", (unsigned long long)n);
    else if (n < (1u << 20))
        snprintf(out, outlen, "%llu KiB", (unsigned long long)(n >> 10));
    else if (n < (1u << 30))
        snprintf(out, outlen, "%.1f MiB", (double)n / (1u << 20));
    else
        snprintf(out, outlen, "%.1f GiB", (double)n / (1u << 30));
}

int sp_store_space(const char *db_path, uint64_t *avail, char *err, size_t errlen)
{
    if (avail)
        *avail = 0;
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s", db_path) >= sizeof dir) {
        store_seterr(err, errlen, "database path too long");
        return SP_EINVAL;
    }
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct statvfs fs;
    if (statvfs(dir, &fs) != 0) {
        store_seterr(err, errlen, "cannot ask the filesystem of %s how much space is free: %s", dir,
                     strerror(errno));
        return SP_ESYS;
    }
    /* root may write the blocks a filesystem keeps in reserve; the service's user may not. */
    uint64_t blocks = geteuid() == 0 ? fs.f_bfree : fs.f_bavail;
    uint64_t bytes = blocks * (uint64_t)(fs.f_frsize ? fs.f_frsize : fs.f_bsize);
    if (avail)
        *avail = bytes;
    if (bytes >= SP_STORE_FREE_MIN_BYTES)
        return 0;
    char have[32], need[32];
    human_bytes(bytes, have, sizeof have);
    human_bytes(SP_STORE_FREE_MIN_BYTES, need, sizeof need);
    store_seterr(err, errlen, "the disk holding %s is full: %s free, at least %s needed", dir, have,
                 need);
    return SP_EFULL;
}
