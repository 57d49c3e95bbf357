/*
 * test_store.c - the SQLite store on real database files in a temporary directory.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/errors.h"
#include "check.h"
#include "engine/common.h"
#include "engine/histogram.h"
#include "store/store.h"

static char tmpdir[256];

/* A fresh database path in the temporary directory (the file does not exist yet). */
static const char *db_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.db", tmpdir, name);
    return path;
}

static void remove_db(const char *path)
{
    char p[600];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static sp_store *open_db(const char *name)
{
    char err[256] = "";
    sp_store *s = NULL;
    const char *path = db_path(name);
    remove_db(path);
    if (sp_store_open(&s, path, err, sizeof err) != 0)
        fprintf(stderr, "  open %s: %s\n", path, err);
    return s;
}

static int64_t make_test(sp_store *s, const char *name)
{
    int64_t id = 0;
    char err[256];
    if (sp_store_test_create(s, name, "{\"name\":\"x\"}", "tester", &id, err, sizeof err))
        return 0;
    return id;
}

static int64_t make_run(sp_store *s, int64_t test_id, size_t nnames)
{
    int64_t run = 0;
    char err[256];
    if (sp_store_run_create(s, test_id, 0, "tester", NULL, &run, NULL, err, sizeof err))
        return 0;
    const char *names[] = {"GET /products", "POST /cart/items", "POST /orders", "GET /search"};
    if (nnames > SP_ARRAY_LEN(names) || sp_store_run_names_set(s, run, names, nnames) != 0)
        return 0;
    return run;
}

/* One second of plausible data for n names. */
static int add_second_ticked(sp_store *s, int64_t run, int64_t second, size_t n, int ticked);

static int add_second(sp_store *s, int64_t run, int64_t second, size_t n)
{
    return add_second_ticked(s, run, second, n, 1);
}

/* ticked 0: the names' rows only (a database of an older schema gets its ticks by hand). */
static int add_second_ticked(sp_store *s, int64_t run, int64_t second, size_t n, int ticked)
{
    uint64_t status[SP_STATUS_MAX] = {0};
    uint64_t kinds[9] = {0};
    sp_store_second rows[8];
    status[200] = 90 + (uint64_t)second;
    status[500] = 2;
    kinds[5] = 2;
    for (size_t i = 0; i < n && i < 8; i++) {
        rows[i] = (sp_store_second){.name_id = (uint32_t)i,
                                    .count = 92 + (uint64_t)second,
                                    .errors = 2,
                                    .p50_us = 20000 + i,
                                    .p95_us = 50000,
                                    .p99_us = 90000,
                                    .max_us = 120000,
                                    .bytes_in = 1000,
                                    .bytes_out = 500,
                                    .status = status,
                                    .nstatus = SP_STATUS_MAX,
                                    .error_kinds = kinds,
                                    .nerror_kinds = 9};
    }
    /* Every field its own value, so a column written from another field shows. */
    sp_store_tick tick = {.active_vus = 50,
                          .target_vus = 60,
                          .iterations = 40 + (uint64_t)second,
                          .dropped = 3,
                          .lag_us_max = 7000 + (uint64_t)second};
    return sp_store_run_second_add(s, run, second, ticked ? &tick : NULL, rows, n);
}

static void test_migrations_from_empty(void)
{
    size_t known;
    const sp_store_migration *m = sp_store_migrations(&known);
    CHECK(known >= 2);
    for (size_t i = 0; i < known; i++)
        CHECK_INT_EQ(m[i].version, (int)i + 1);
    CHECK_STR_EQ(m[0].name, "0001_initial");

    sp_store *s = open_db("empty");
    CHECK(s);
    CHECK_INT_EQ(sp_store_schema_version(s), (int)known);
    sp_store_close(s);

    /* A second open applies nothing and records nothing twice. */
    char err[256];
    CHECK_INT_EQ(sp_store_open(&s, db_path("empty"), err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_schema_version(s), (int)known);
    sp_store_close(s);

    sqlite3 *db;
    CHECK_INT_EQ(sqlite3_open(db_path("empty"), &db), SQLITE_OK);
    sqlite3_stmt *st;
    CHECK_INT_EQ(sqlite3_prepare_v2(db,
                                    "SELECT count(*), min(name), max(applied_at) > 0"
                                    " FROM schema_version",
                                    -1, &st, NULL),
                 SQLITE_OK);
    CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT_EQ(sqlite3_column_int(st, 0), (int)known);
    CHECK_STR_EQ((const char *)sqlite3_column_text(st, 1), "0001_initial");
    CHECK_INT_EQ(sqlite3_column_int(st, 2), 1);
    sqlite3_finalize(st);
    CHECK_INT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_STR_EQ((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    CHECK_INT_EQ(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT_EQ(sqlite3_column_int64(st, 0), SP_STORE_APPLICATION_ID);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_upgrade_from_version_1(void)
{
    const char *path = db_path("v1");
    remove_db(path);
    char err[256] = "";
    sp_store *s = NULL;
    CHECK_INT_EQ(sp_store_open_upto(&s, path, 1, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_schema_version(s), 1);
    int64_t t = make_test(s, "kept across the upgrade");
    CHECK(t > 0);
    int64_t run = make_run(s, t, 2);
    CHECK(run > 0);
    CHECK_INT_EQ(sp_store_run_set_status(s, run, SP_RUN_RUNNING), 0);
    for (int sec = 0; sec < 5; sec++)
        CHECK_INT_EQ(add_second_ticked(s, run, sec, 2, 0), 0);
    sp_store_close(s);

    /* The index that 0002 adds is not there yet. The ticks as version 1 wrote them. */
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    for (int sec = 0; sec < 5; sec++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO run_ticks (run_id, second, active_vus, target_vus, iterations,"
                 " dropped, lag_us_max) VALUES (%lld, %d, 50, 50, %d, 0, 0)",
                 (long long)run, sec, 40 + sec);
        CHECK_INT_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    CHECK_INT_EQ(sqlite3_prepare_v2(db,
                                    "SELECT count(*) FROM sqlite_schema"
                                    " WHERE name = 'runs_by_status'",
                                    -1, &st, NULL),
                 SQLITE_OK);
    CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT_EQ(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);

    CHECK_INT_EQ(sp_store_open(&s, path, err, sizeof err), 0);
    size_t known;
    sp_store_migrations(&known);
    CHECK_INT_EQ(sp_store_schema_version(s), (int)known);
    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_test_get(s, t, 0, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "name")), "kept across the upgrade");
    json_decref(o);
    CHECK_INT_EQ(sp_store_run_get(s, run, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "status")), "running");
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "last_second")), 4);
    CHECK_UINT_EQ(json_array_size(json_object_get(o, "load_changes")), 0);
    json_decref(o);
    /* Seconds recorded before 0007 read back with no latency of all requests (null). */
    CHECK_INT_EQ(sp_store_run_series(s, run, -1, 0, -1, &o), 0);
    json_t *ticks = json_object_get(o, "ticks");
    CHECK_UINT_EQ(json_array_size(json_object_get(ticks, "p95")), 5);
    CHECK(json_is_null(json_array_get(json_object_get(ticks, "p95"), 4)));
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "iterations"), 4)), 44);
    json_decref(o);
    /* The upgraded database is used like a new one: recovery uses the new index. */
    int n = 0;
    CHECK_INT_EQ(sp_store_runs_mark_aborted(s, &n), 0);
    CHECK_INT_EQ(n, 1);
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    sp_store_close(s);

    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_prepare_v2(db,
                                    "SELECT count(*) FROM sqlite_schema"
                                    " WHERE name = 'runs_by_status'",
                                    -1, &st, NULL),
                 SQLITE_OK);
    CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT_EQ(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* One integer from SQL on a bare connection to path, -1 when it fails. */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* 0005 rebuilds runs (a CHECK cannot be altered) under the children that refer to it: every
 * run, second, tick, histogram and failure message survives with its id, the indexes are back,
 * foreign keys still hold, and the new status is accepted where version 4 refused it. */
static void test_upgrade_to_incomplete(void)
{
    const char *path = db_path("v4");
    remove_db(path);
    char err[256] = "";
    sp_store *s = NULL;
    CHECK_INT_EQ(sp_store_open_upto(&s, path, 4, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_schema_version(s), 4);
    int64_t t = make_test(s, "rebuilt under its runs");
    CHECK(t > 0);
    int64_t runs[3];
    for (int i = 0; i < 3; i++) {
        runs[i] = make_run(s, t, 2);
        CHECK(runs[i] > 0);
        CHECK_INT_EQ(sp_store_run_set_status(s, runs[i], SP_RUN_RUNNING), 0);
        /* The names' rows through the store; the ticks as version 4 wrote them, below. */
        for (int sec = 0; sec < 4; sec++)
            CHECK_INT_EQ(add_second_ticked(s, runs[i], sec, 2, 0), 0);
    }
    uint64_t buckets[8] = {0, 3, 0, 5};
    sp_store_hist h = {.name_id = 1, .buckets = buckets, .nbuckets = 8};
    CHECK_INT_EQ(sp_store_run_minute_hist_add(s, runs[0], 0, &h, 1), 0);
    sp_store_failure fl = {.name_id = 0, .message = "HTTP 500", .count = 7};
    CHECK_INT_EQ(sp_store_run_failures_add(s, runs[0], &fl, 1), 0);
    json_t *summary = json_pack("{s:f}", "duration_s", 4.0);
    CHECK_INT_EQ(sp_store_run_finish(s, runs[0], SP_RUN_PASSED, NULL, summary, NULL), 0);
    CHECK_INT_EQ(sp_store_run_finish(s, runs[1], SP_RUN_STOPPED, NULL, NULL, NULL), 0);
    /* Version 4 knows no such status: the CHECK refuses it. */
    CHECK_INT_EQ(sp_store_run_finish(s, runs[2], SP_RUN_INCOMPLETE, NULL, NULL, "x"), SP_ESTATE);
    sp_store_close(s);
    json_decref(summary);
    sqlite3 *v4 = NULL;
    CHECK_INT_EQ(sqlite3_open(path, &v4), SQLITE_OK);
    for (int i = 0; i < 3; i++) {
        for (int sec = 0; sec < 4; sec++) {
            char sql[256];
            snprintf(sql, sizeof sql,
                     "INSERT INTO run_ticks (run_id, second, active_vus, target_vus, iterations,"
                     " dropped, lag_us_max) VALUES (%lld, %d, 50, 60, %d, 3, 7000)",
                     (long long)runs[i], sec, 40 + sec);
            CHECK_INT_EQ(sqlite3_exec(v4, sql, NULL, NULL, NULL), SQLITE_OK);
        }
    }
    sqlite3_close(v4);

    CHECK_INT_EQ(sp_store_open(&s, path, err, sizeof err), 0);
    size_t known;
    sp_store_migrations(&known);
    CHECK_INT_EQ(sp_store_schema_version(s), (int)known);
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    json_t *o = NULL;
    const char *want[] = {"passed", "stopped", "running"};
    for (int i = 0; i < 3; i++) {
        CHECK_INT_EQ(sp_store_run_get(s, runs[i], &o), 0);
        CHECK_STR_EQ(json_string_value(json_object_get(o, "status")), want[i]);
        CHECK_INT_EQ(json_integer_value(json_object_get(o, "last_second")), 3);
        CHECK_UINT_EQ(json_array_size(json_object_get(o, "names")), 2);
        json_decref(o);
    }
    CHECK_INT_EQ(sp_store_run_get(s, runs[0], &o), 0);
    CHECK_NEAR(json_real_value(json_object_get(json_object_get(o, "summary"), "duration_s")), 4.0,
               1e-9);
    json_decref(o);
    json_t *series = NULL;
    CHECK_INT_EQ(sp_store_run_series(s, runs[1], -1, 0, -1, &series), 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(json_object_get(series, "ticks"), "second")), 4);
    json_decref(series);
    uint64_t back[8] = {0}, total = 0;
    CHECK_INT_EQ(sp_store_window_hist(s, runs[0], 1, 0, 1, back, 8, &total), 0);
    CHECK_UINT_EQ(total, 8);
    json_t *fails = NULL;
    CHECK_INT_EQ(sp_store_run_failures(s, runs[0], &fails), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(fails, 0), "count")), 7);
    json_decref(fails);
    /* The new status is accepted now; a run that has ended still cannot end again. */
    CHECK_INT_EQ(sp_store_run_finish(s, runs[2], SP_RUN_INCOMPLETE, NULL, NULL, "1 of 4 seconds"),
                 0);
    CHECK_INT_EQ(sp_store_run_finish(s, runs[2], SP_RUN_PASSED, NULL, NULL, NULL), SP_ESTATE);
    /* New runs go on from the old ids, and the children still need their parent. */
    int64_t next = make_run(s, t, 1);
    CHECK(next > runs[2]);
    const char *names[] = {"orphan"};
    CHECK_INT_EQ(sp_store_run_names_set(s, runs[2] + 1000, names, 1), SP_ENOTFOUND);
    sp_store_close(s);

    CHECK_INT_EQ(sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND"
                               " name IN ('runs_by_test', 'runs_by_created', 'runs_by_status')"),
                 3);
    CHECK_INT_EQ(sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'runs_0005'"), 0);
    /* Still a CHECK: a status nobody knows is refused. */
    CHECK_INT_EQ(sql_int(path, "SELECT count(*) FROM runs WHERE status = 'incomplete'"), 1);
    sqlite3 *db = NULL;
    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, "UPDATE runs SET status = 'bogus'", NULL, NULL, NULL) & 0xff,
                 SQLITE_CONSTRAINT);
    sqlite3_close(db);
}

/* The free space health and `stampede serve` judge by: the directory's filesystem is asked
 * (the file need not exist), and a directory that does not exist cannot be asked. The full case
 * needs a full filesystem: tests/integration/disk_full.test.mjs fills a tmpfs. */
static void test_space(void)
{
    uint64_t avail = 0;
    char err[256] = "";
    int rc = sp_store_space(db_path("not-made-yet"), &avail, err, sizeof err);
    CHECK(rc == 0 || rc == SP_EFULL);
    CHECK(rc == SP_EFULL || avail >= SP_STORE_FREE_MIN_BYTES);
    if (rc == SP_EFULL)
        CHECK_STR_CONTAINS(err, "is full");
    CHECK_INT_EQ(sp_store_space("/no/such/dir/stampede.db", &avail, err, sizeof err), SP_ESYS);
    CHECK_STR_CONTAINS(err, "/no/such/dir");
    CHECK_UINT_EQ(avail, 0);
}

static void test_newer_database_refused(void)
{
    sp_store *s = open_db("newer");
    CHECK(s);
    sp_store_close(s);
    size_t known;
    sp_store_migrations(&known);
    /* One version beyond the newest this binary knows, whatever that is. */
    sqlite3 *db;
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%zu, 'future', 0)", known + 1);
    CHECK_INT_EQ(sqlite3_open(db_path("newer"), &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    char err[256] = "", want[256];
    snprintf(want, sizeof want,
             "database schema version %zu is newer than this stampede (knows %zu): upgrade "
             "stampede",
             known + 1, known);
    s = (sp_store *)1;
    CHECK_INT_EQ(sp_store_open(&s, db_path("newer"), err, sizeof err), SP_ESTATE);
    CHECK(s == NULL);
    CHECK_STR_EQ(err, want);
}

static void test_open_errors(void)
{
    char err[256] = "";
    sp_store *s = NULL;
    CHECK_INT_EQ(sp_store_open(&s, "/nonexistent-dir/x/y.db", err, sizeof err), SP_ESYS);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err, "cannot open database");
    CHECK_INT_EQ(sp_store_open(&s, "", err, sizeof err), SP_EINVAL);

    /* A file that is not SQLite at all. */
    const char *path = db_path("garbage");
    remove_db(path);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 512; i++)
        fputs("not a database ", f);
    fclose(f);
    CHECK_INT_EQ(sp_store_open(&s, path, err, sizeof err), SP_EIO);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err, "not a database");
    remove_db(path);

    /* Another program's SQLite database is left alone. */
    path = db_path("foreign");
    remove_db(path);
    sqlite3 *db;
    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT_EQ(sp_store_open(&s, path, err, sizeof err), SP_ESTATE);
    CHECK_STR_CONTAINS(err, "is not a stampede database");
    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    CHECK_INT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL),
                 SQLITE_OK);
    CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT_EQ(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove_db(path);
}

static void test_revisions(void)
{
    sp_store *s = open_db("revisions");
    CHECK(s);
    char err[256] = "";
    int64_t id = 0;
    CHECK_INT_EQ(sp_store_test_create(s, "Shopper", "{\"v\":1}", "ann", &id, err, sizeof err), 0);
    int rev = 0;
    CHECK_INT_EQ(sp_store_test_update(s, id, "Shopper", "{\"v\":2}", "bob", &rev, err, sizeof err),
                 0);
    CHECK_INT_EQ(rev, 2);
    CHECK_INT_EQ(
        sp_store_test_update(s, id, "Shopper v3", "{\"v\": 3}", NULL, &rev, err, sizeof err), 0);
    CHECK_INT_EQ(rev, 3);

    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_test_get(s, id, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "revision")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "revisions")), 3);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "name")), "Shopper v3");
    CHECK_STR_EQ(json_string_value(json_object_get(o, "definition")), "{\"v\": 3}");
    CHECK(json_is_null(json_object_get(o, "deleted_at")));
    CHECK(json_is_null(json_object_get(o, "revision_created_by")));
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_get(s, id, 1, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "definition")), "{\"v\":1}");
    CHECK_STR_EQ(json_string_value(json_object_get(o, "revision_name")), "Shopper");
    CHECK_STR_EQ(json_string_value(json_object_get(o, "revision_created_by")), "ann");
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_get(s, id, 4, &o), SP_ENOTFOUND);
    CHECK(o == NULL);
    CHECK_INT_EQ(sp_store_test_get(s, id + 100, 0, &o), SP_ENOTFOUND);

    CHECK_INT_EQ(sp_store_test_revisions(s, id, &o), 0);
    CHECK_UINT_EQ(json_array_size(o), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(o, 0), "revision")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(o, 2), "revision")), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(o, 1), "created_by")), "bob");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(o, 0), "bytes")), 8);
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_revisions(s, id + 100, &o), SP_ENOTFOUND);

    /* A run points at the exact revision it ran, even after later saves. */
    int64_t run = 0;
    int run_rev = 0;
    CHECK_INT_EQ(sp_store_run_create(s, id, 2, NULL, NULL, &run, &run_rev, err, sizeof err), 0);
    CHECK_INT_EQ(run_rev, 2);
    CHECK_INT_EQ(sp_store_run_create(s, id, 9, NULL, NULL, &run, &run_rev, err, sizeof err),
                 SP_ENOTFOUND);
    CHECK_INT_EQ(sp_store_run_create(s, id, 0, NULL, NULL, &run, &run_rev, err, sizeof err), 0);
    CHECK_INT_EQ(run_rev, 3);

    /* Names are unique among live tests. */
    int64_t other = 0;
    CHECK_INT_EQ(sp_store_test_create(s, "Shopper v3", "{}", NULL, &other, err, sizeof err),
                 SP_ESTATE);
    CHECK_STR_EQ(err, "a test named \"Shopper v3\" already exists");
    CHECK_INT_EQ(sp_store_test_create(s, "Browser", "{}", NULL, &other, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_test_update(s, other, "Shopper v3", "{}", NULL, &rev, err, sizeof err),
                 SP_ESTATE);
    /* The refused update left no revision behind. */
    CHECK_INT_EQ(sp_store_test_revisions(s, other, &o), 0);
    CHECK_UINT_EQ(json_array_size(o), 1);
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_update(s, 999, "x", "{}", NULL, &rev, err, sizeof err),
                 SP_ENOTFOUND);
    CHECK_INT_EQ(sp_store_test_create(s, "", "{}", NULL, &other, err, sizeof err), SP_EINVAL);
    sp_store_close(s);
}

static void test_list_and_filter(void)
{
    sp_store *s = open_db("list");
    CHECK(s);
    char name[64];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof name, "%s test %02d", i % 2 ? "Checkout" : "Browse", i);
        CHECK(make_test(s, name) > 0);
    }
    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_test_list(s, NULL, 0, 10, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 25);
    json_t *items = json_object_get(o, "items");
    CHECK_UINT_EQ(json_array_size(items), 10);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "name")),
                 "Browse test 24");
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_list(s, NULL, 0, 10, 20, &o), 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(o, "items")), 5);
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_list(s, "checkOUT", 0, 0, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 12);
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_list(s, NULL, 0, 0, -1, &o), SP_EINVAL);
    sp_store_close(s);
}

static void test_delete_keeps_history(void)
{
    sp_store *s = open_db("delete");
    CHECK(s);
    char err[256];
    int64_t t = make_test(s, "Doomed");
    CHECK(t > 0);
    int64_t run = make_run(s, t, 1);
    CHECK(run > 0);
    CHECK_INT_EQ(sp_store_run_finish(s, run, SP_RUN_PASSED, NULL, NULL, NULL), 0);
    CHECK_INT_EQ(sp_store_test_delete(s, t), 0);
    CHECK_INT_EQ(sp_store_test_delete(s, t), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_store_test_delete(s, t + 50), SP_ENOTFOUND);

    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_test_list(s, NULL, 0, 0, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 0);
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_list(s, NULL, 1, 0, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 1);
    CHECK(json_is_integer(
        json_object_get(json_array_get(json_object_get(o, "items"), 0), "deleted_at")));
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_get(s, t, 0, &o), 0);
    CHECK(json_is_integer(json_object_get(o, "deleted_at")));
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_revisions(s, t, &o), 0);
    CHECK_UINT_EQ(json_array_size(o), 1);
    json_decref(o);
    CHECK_INT_EQ(sp_store_run_get(s, run, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "test_name")), "Doomed");
    json_decref(o);

    int64_t found = -1;
    CHECK_INT_EQ(sp_store_test_find(s, "Doomed", &found), SP_ENOTFOUND);
    CHECK_INT_EQ(found, 0);

    /* A deleted test cannot be run or saved, and its name is free. */
    int rev;
    int64_t r2;
    CHECK_INT_EQ(sp_store_run_create(s, t, 0, NULL, NULL, &r2, NULL, err, sizeof err),
                 SP_ENOTFOUND);
    CHECK_INT_EQ(sp_store_test_update(s, t, "Doomed", "{}", NULL, &rev, err, sizeof err),
                 SP_ENOTFOUND);
    int64_t again = make_test(s, "Doomed");
    CHECK(again > 0 && again != t);
    CHECK_INT_EQ(sp_store_test_find(s, "Doomed", &found), 0);
    CHECK_INT_EQ(found, again);
    CHECK_INT_EQ(sp_store_test_find(s, "doomed", &found), SP_ENOTFOUND);
    sp_store_close(s);
}

static void test_run_lifecycle(void)
{
    sp_store *s = open_db("lifecycle");
    CHECK(s);
    char err[256];
    int64_t t = make_test(s, "Life"), t2 = make_test(s, "Other");
    CHECK(t > 0 && t2 > 0);
    json_t *ov = json_pack("{s:i}", "users", 10);
    int64_t run = 0;
    CHECK_INT_EQ(sp_store_run_create(s, t, 0, "carol", ov, &run, NULL, err, sizeof err), 0);
    json_decref(ov);

    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_run_get(s, run, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "status")), "queued");
    CHECK_STR_EQ(json_string_value(json_object_get(o, "started_by")), "carol");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(o, "overrides"), "users")), 10);
    CHECK(json_is_null(json_object_get(o, "started_at")));
    CHECK(json_is_null(json_object_get(o, "last_second")));
    json_decref(o);

    CHECK_INT_EQ(sp_store_run_set_status(s, run, SP_RUN_RUNNING), 0);
    CHECK_INT_EQ(sp_store_run_set_status(s, run, SP_RUN_RUNNING), SP_ESTATE);
    CHECK_INT_EQ(sp_store_run_set_status(s, run, SP_RUN_PASSED), SP_EINVAL);
    CHECK_INT_EQ(sp_store_run_set_status(s, run + 100, SP_RUN_RUNNING), SP_ENOTFOUND);

    json_t *verdicts = json_pack("[{s:s, s:b}]", "threshold", "p95 < 300ms", "ok", 0);
    json_t *summary = json_pack("{s:{s:i}}", "GET /products", "count", 1234);
    CHECK_INT_EQ(sp_store_run_finish(s, run, SP_RUN_RUNNING, verdicts, summary, NULL), SP_EINVAL);
    CHECK_INT_EQ(sp_store_run_finish(s, run, SP_RUN_FAILED, verdicts, summary, NULL), 0);
    CHECK_INT_EQ(sp_store_run_finish(s, run, SP_RUN_PASSED, NULL, NULL, NULL), SP_ESTATE);
    CHECK_INT_EQ(sp_store_run_finish(s, run + 100, SP_RUN_PASSED, NULL, NULL, NULL), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_store_run_get(s, run, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "status")), "failed");
    CHECK(json_equal(json_object_get(o, "verdicts"), verdicts));
    CHECK(json_equal(json_object_get(o, "summary"), summary));
    CHECK(json_is_integer(json_object_get(o, "started_at")));
    CHECK(json_integer_value(json_object_get(o, "ended_at")) >=
          json_integer_value(json_object_get(o, "started_at")));
    json_decref(o);
    json_decref(verdicts);
    json_decref(summary);

    /* An error run, and more runs for the list filters. */
    int64_t bad = 0;
    CHECK_INT_EQ(sp_store_run_create(s, t2, 0, NULL, NULL, &bad, NULL, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_run_finish(s, bad, SP_RUN_ERROR, NULL, NULL, "DNS lookup failed"), 0);
    CHECK_INT_EQ(sp_store_run_get(s, bad, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "error")), "DNS lookup failed");
    json_decref(o);
    int64_t before = sp_wall_ms();
    for (int i = 0; i < 6; i++)
        CHECK(make_run(s, i % 2 ? t : t2, 1) > 0);

    sp_store_run_filter f;
    sp_store_run_filter_init(&f);
    CHECK_INT_EQ(sp_store_run_list(s, &f, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 8);
    json_decref(o);
    f.test_id = t;
    CHECK_INT_EQ(sp_store_run_list(s, &f, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 4);
    json_decref(o);
    f.status = SP_RUN_FAILED;
    CHECK_INT_EQ(sp_store_run_list(s, &f, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 1);
    CHECK_INT_EQ(
        json_integer_value(json_object_get(json_array_get(json_object_get(o, "items"), 0), "id")),
        run);
    json_decref(o);
    sp_store_run_filter_init(&f);
    f.status = SP_RUN_QUEUED;
    f.limit = 4;
    f.offset = 4;
    CHECK_INT_EQ(sp_store_run_list(s, &f, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 6);
    CHECK_UINT_EQ(json_array_size(json_object_get(o, "items")), 2);
    json_decref(o);
    sp_store_run_filter_init(&f);
    f.created_from = before;
    CHECK_INT_EQ(sp_store_run_list(s, &f, &o), 0);
    CHECK(json_integer_value(json_object_get(o, "total")) >= 6);
    json_decref(o);
    f.created_from = 0;
    f.created_to = 1; /* before 1970-01-01T00:00:00.001Z: nothing */
    CHECK_INT_EQ(sp_store_run_list(s, &f, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 0);
    json_decref(o);

    /* incomplete ends a run like the others and is filtered on like them. */
    int64_t part = 0;
    CHECK_INT_EQ(sp_store_run_create(s, t2, 0, NULL, NULL, &part, NULL, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_run_finish(s, part, SP_RUN_INCOMPLETE, NULL, NULL,
                                     "3 of 10 seconds were not stored (the disk was full)"),
                 0);
    CHECK_INT_EQ(sp_store_run_finish(s, part, SP_RUN_PASSED, NULL, NULL, NULL), SP_ESTATE);
    sp_store_run_filter_init(&f);
    f.status = SP_RUN_INCOMPLETE;
    CHECK_INT_EQ(sp_store_run_list(s, &f, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 1);
    json_t *item = json_array_get(json_object_get(o, "items"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(item, "status")), "incomplete");
    CHECK_STR_CONTAINS(json_string_value(json_object_get(item, "error")), "3 of 10 seconds");
    json_decref(o);

    CHECK_STR_EQ(sp_store_run_status_name(SP_RUN_ABORTED), "aborted");
    CHECK_STR_EQ(sp_store_run_status_name(SP_RUN_INCOMPLETE), "incomplete");
    CHECK_INT_EQ(sp_store_run_status_parse("incomplete"), SP_RUN_INCOMPLETE);
    CHECK_INT_EQ(sp_store_run_status_parse("stopped"), SP_RUN_STOPPED);
    CHECK_INT_EQ(sp_store_run_status_parse("bogus"), -1);
    CHECK(sp_store_run_status_name(SP_RUN_STATUS_COUNT) == NULL);
    sp_store_close(s);
}

static void test_series_round_trip(void)
{
    sp_store *s = open_db("series");
    CHECK(s);
    int64_t run = make_run(s, make_test(s, "Series"), 3);
    CHECK(run > 0);
    const char *more[] = {"GET /other"};
    CHECK_INT_EQ(sp_store_run_names_set(s, run, more, 1), SP_ESTATE);
    CHECK_INT_EQ(sp_store_run_names_set(s, run + 9, more, 1), SP_ENOTFOUND);
    for (int sec = 0; sec < 10; sec++)
        CHECK_INT_EQ(add_second(s, run, sec, 3), 0);
    /* A second stored twice is refused and nothing of the second try is kept. */
    CHECK_INT_EQ(add_second(s, run, 5, 3), SP_ESTATE);
    /* A name that was never registered. */
    sp_store_second bad = {.name_id = 7, .count = 1};
    CHECK_INT_EQ(sp_store_run_second_add(s, run, 10, NULL, &bad, 1), SP_EINVAL);
    CHECK_INT_EQ(sp_store_run_second_add(s, run + 9, 0, NULL, &bad, 1), SP_EINVAL);
    sp_store_tick tick = {0};
    CHECK_INT_EQ(sp_store_run_second_add(s, run + 9, 0, &tick, NULL, 0), SP_ENOTFOUND);

    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_run_series(s, run, -1, 0, -1, &o), 0);
    json_t *ticks = json_object_get(o, "ticks");
    CHECK_UINT_EQ(json_array_size(json_object_get(ticks, "second")), 10);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "iterations"), 9)), 49);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "active_vus"), 0)), 50);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "target_vus"), 0)), 60);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "dropped"), 4)), 3);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "lag_us_max"), 4)), 7004);
    json_t *names = json_object_get(o, "names");
    CHECK_UINT_EQ(json_array_size(names), 3);
    json_t *n1 = json_array_get(names, 1);
    CHECK_STR_EQ(json_string_value(json_object_get(n1, "name")), "POST /cart/items");
    CHECK_UINT_EQ(json_array_size(json_object_get(n1, "count")), 10);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(n1, "count"), 3)), 95);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(n1, "p50"), 3)), 20001);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(n1, "max"), 3)), 120000);
    /* Every column of a stored second comes back as written. */
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(n1, "errors"), 3)), 2);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(n1, "p95"), 3)), 50000);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(n1, "p99"), 3)), 90000);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(n1, "bytes_in"), 3)), 1000);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(n1, "bytes_out"), 3)), 500);
    json_t *status = json_object_get(n1, "status");
    CHECK_UINT_EQ(json_object_size(status), 2);
    CHECK_UINT_EQ(json_array_size(json_object_get(status, "200")), 10);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(status, "200"), 3)), 93);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(status, "500"), 3)), 2);
    json_t *kinds = json_object_get(n1, "error_kinds");
    CHECK_UINT_EQ(json_object_size(kinds), 1);
    CHECK_UINT_EQ(json_array_size(json_object_get(kinds, "5")), 10);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(kinds, "5"), 3)), 2);
    json_decref(o);

    /* A status code seen in some seconds only: its column holds zeros for the others. */
    uint64_t codes[SP_STATUS_MAX] = {0};
    codes[404] = 3;
    sp_store_second odd = {.name_id = 0, .count = 3, .status = codes, .nstatus = SP_STATUS_MAX};
    CHECK_INT_EQ(sp_store_run_second_add(s, run, 10, NULL, &odd, 1), 0);
    codes[404] = 0;
    codes[204] = 1;
    CHECK_INT_EQ(sp_store_run_second_add(s, run, 11, NULL, &odd, 1), 0);
    CHECK_INT_EQ(sp_store_run_series(s, run, 0, 9, -1, &o), 0);
    json_t *n0 = json_array_get(json_object_get(o, "names"), 0);
    status = json_object_get(n0, "status");
    CHECK_UINT_EQ(json_object_size(status), 4);
    static const char *const keys[] = {"200", "500", "404", "204"};
    static const int64_t want[][3] = {{99, 0, 0}, {2, 0, 0}, {0, 3, 0}, {0, 0, 1}};
    for (size_t k = 0; k < SP_ARRAY_LEN(keys); k++) {
        json_t *col = json_object_get(status, keys[k]);
        CHECK_UINT_EQ(json_array_size(col), 3);
        for (size_t r = 0; r < 3; r++)
            CHECK_INT_EQ(json_integer_value(json_array_get(col, r)), want[k][r]);
    }
    CHECK_UINT_EQ(json_array_size(json_object_get(json_object_get(n0, "error_kinds"), "5")), 3);
    json_decref(o);

    /* One name, a window. */
    CHECK_INT_EQ(sp_store_run_series(s, run, 2, 4, 7, &o), 0);
    names = json_object_get(o, "names");
    CHECK_UINT_EQ(json_array_size(names), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(names, 0), "name")),
                 "POST /orders");
    CHECK_UINT_EQ(json_array_size(json_object_get(json_array_get(names, 0), "second")), 3);
    CHECK_INT_EQ(
        json_integer_value(json_array_get(json_object_get(json_array_get(names, 0), "second"), 0)),
        4);
    CHECK_UINT_EQ(json_array_size(json_object_get(json_object_get(o, "ticks"), "second")), 3);
    json_decref(o);
    CHECK_INT_EQ(sp_store_run_series(s, run + 50, -1, 0, -1, &o), SP_ENOTFOUND);

    /* Failure messages add up per (name, message). */
    sp_store_failure f[] = {
        {0, "HTTP 500 on /products", 3}, {1, "timeout", 1}, {0, "HTTP 500 on /products", 4}};
    CHECK_INT_EQ(sp_store_run_failures_add(s, run, f, 3), 0);
    sp_store_failure badf = {9, "x", 1};
    CHECK_INT_EQ(sp_store_run_failures_add(s, run, &badf, 1), SP_EINVAL);
    CHECK_INT_EQ(sp_store_run_failures(s, run, &o), 0);
    CHECK_UINT_EQ(json_array_size(o), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(o, 0), "count")), 7);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(o, 0), "name")), "GET /products");
    json_decref(o);
    sp_store_close(s);
}

/* A second's latency over every request and the open model's schedule are kept with its tick
 * (the charts of all requests and of arrivals, live and after the run alike), null where a
 * second had no requests or the model is closed; a run's load changes are kept in order. */
static void test_ticks_and_load_changes(void)
{
    sp_store *s = open_db("ticks");
    CHECK(s);
    int64_t run = make_run(s, make_test(s, "Ticks"), 1);
    sp_store_tick open = {.active_vus = 3,
                          .target_vus = 20,
                          .requests = 40,
                          .p50_us = 1500,
                          .p95_us = 9000,
                          .p99_us = 12000,
                          .max_us = 15000,
                          .open = 1,
                          .target_rate = 40.5,
                          .arrivals = 39};
    CHECK_INT_EQ(sp_store_run_second_add(s, run, 0, &open, NULL, 0), 0);
    sp_store_tick idle = {.active_vus = 3, .target_vus = 3};
    CHECK_INT_EQ(sp_store_run_second_add(s, run, 1, &idle, NULL, 0), 0);
    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_run_series(s, run, -1, 0, -1, &o), 0);
    json_t *ticks = json_object_get(o, "ticks");
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "p50"), 0)), 1500);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "p95"), 0)), 9000);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "p99"), 0)), 12000);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "max"), 0)), 15000);
    CHECK_NEAR(json_number_value(json_array_get(json_object_get(ticks, "target_rate"), 0)), 40.5,
               1e-9);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(ticks, "arrivals"), 0)), 39);
    CHECK(json_is_null(json_array_get(json_object_get(ticks, "p95"), 1)));
    CHECK(json_is_null(json_array_get(json_object_get(ticks, "target_rate"), 1)));
    CHECK(json_is_null(json_array_get(json_object_get(ticks, "arrivals"), 1)));
    json_decref(o);

    sp_store_load_change c1 = {.at_ms = 1000, .elapsed_ms = 12500, .target = 8, .by = "ann"};
    sp_store_load_change c2 = {.at_ms = 900, .elapsed_ms = 3000, .target = 4, .ramp_ms = 2000};
    CHECK_INT_EQ(sp_store_run_load_change_add(s, run, &c1), 0);
    CHECK_INT_EQ(sp_store_run_load_change_add(s, run, &c2), 0);
    CHECK_INT_EQ(sp_store_run_load_change_add(s, run + 9, &c2), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_store_run_load_changes(s, run, &o), 0);
    CHECK_UINT_EQ(json_array_size(o), 2);
    json_t *first = json_array_get(o, 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(first, "elapsed_ms")), 3000);
    CHECK_INT_EQ(json_integer_value(json_object_get(first, "ramp_ms")), 2000);
    CHECK(json_is_null(json_object_get(first, "by")));
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(o, 1), "by")), "ann");
    CHECK_NEAR(json_number_value(json_object_get(json_array_get(o, 1), "target")), 8.0, 0);
    json_decref(o);
    CHECK_INT_EQ(sp_store_run_load_changes(s, run + 9, &o), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_store_run_get(s, run, &o), 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(o, "load_changes")), 2);
    json_decref(o);
    sp_store_close(s);
}

/* Fills buckets[] with h's counts. */
static void hist_counts(const sp_hist *h, uint64_t *buckets)
{
    for (size_t i = 0; i < sp_hist_buckets(); i++)
        buckets[i] = sp_hist_bucket_count(h, i);
}

/* A latency around median_us, log-normally spread, as real response times are. */
static uint64_t lognormal(sp_rng *r, double median_us, double sigma)
{
    double u1 = sp_rng_double(r), u2 = sp_rng_double(r);
    if (u1 < 1e-12)
        u1 = 1e-12;
    double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
    return (uint64_t)(median_us * exp(sigma * z));
}

static void test_window_hist_merge(void)
{
    sp_store *s = open_db("window");
    CHECK(s);
    int64_t run = make_run(s, make_test(s, "Window"), 2);
    CHECK(run > 0);
    size_t nb = sp_hist_buckets();
    sp_rng r;
    sp_rng_seed(&r, 42);
    sp_hist *minute[2][5], *want = sp_hist_new(), *want_all = sp_hist_new();
    uint64_t *a = sp_calloc(nb, sizeof *a), *b = sp_calloc(nb, sizeof *b);
    for (int m = 0; m < 5; m++) {
        for (int n = 0; n < 2; n++) {
            minute[n][m] = sp_hist_new();
            for (int i = 0; i < 3000; i++)
                sp_hist_record(minute[n][m], lognormal(&r, 20000.0 * (n + 1) + 1000 * m, 0.6));
            /* A few outliers far out in the range. */
            sp_hist_record(minute[n][m], 45000000);
            sp_hist_record(minute[n][m], 3);
        }
        hist_counts(minute[0][m], a);
        hist_counts(minute[1][m], b);
        sp_store_hist h[2] = {{0, a, nb}, {1, b, nb}};
        CHECK_INT_EQ(sp_store_run_minute_hist_add(s, run, m, h, 2), 0);
        if (m >= 1 && m < 4) {
            sp_hist_merge(want, minute[0][m]);
            sp_hist_merge(want_all, minute[0][m]);
            sp_hist_merge(want_all, minute[1][m]);
        }
    }
    /* Replacing a minute (the partial last minute written again at the end) keeps one row. */
    hist_counts(minute[1][4], b);
    sp_store_hist again = {1, b, nb};
    CHECK_INT_EQ(sp_store_run_minute_hist_add(s, run, 4, &again, 1), 0);

    uint64_t total = 0;
    memset(a, 0, nb * sizeof *a);
    CHECK_INT_EQ(sp_store_window_hist(s, run, 0, 1, 4, a, nb, &total), 0);
    CHECK_UINT_EQ(total, sp_hist_count(want));
    for (size_t i = 0; i < nb; i++)
        if (a[i] != sp_hist_bucket_count(want, i))
            CHECK_UINT_EQ(a[i], sp_hist_bucket_count(want, i));
    /* Percentiles of the rebuilt histogram equal the merged inputs' (up to the exact min/max the
     * buckets cannot carry). */
    sp_hist *got = sp_hist_new();
    for (size_t i = 0; i < nb; i++)
        sp_hist_add_bucket(got, i, a[i]);
    CHECK_UINT_EQ(sp_hist_percentile(got, 50), sp_hist_percentile(want, 50));
    CHECK_UINT_EQ(sp_hist_percentile(got, 95), sp_hist_percentile(want, 95));
    CHECK_UINT_EQ(sp_hist_percentile(got, 99), sp_hist_percentile(want, 99));

    memset(a, 0, nb * sizeof *a);
    CHECK_INT_EQ(sp_store_window_hist(s, run, -1, 1, 4, a, nb, &total), 0);
    CHECK_UINT_EQ(total, sp_hist_count(want_all));
    for (size_t i = 0; i < nb; i++)
        if (a[i] != sp_hist_bucket_count(want_all, i))
            CHECK_UINT_EQ(a[i], sp_hist_bucket_count(want_all, i));
    /* All five minutes of name 1: the replaced minute counts once. */
    CHECK_INT_EQ(sp_store_window_hist(s, run, 1, 0, 5, b, nb, &total), 0);
    CHECK_UINT_EQ(total, 5 * 3002);
    /* A reader with another bucket layout is told, not given garbage. */
    CHECK_INT_EQ(sp_store_window_hist(s, run, 1, 0, 5, b, nb - 1, &total), SP_EIO);
    /* An empty window. */
    CHECK_INT_EQ(sp_store_window_hist(s, run, 1, 10, 20, b, nb, &total), 0);
    CHECK_UINT_EQ(total, 0);

    for (int m = 0; m < 5; m++) {
        sp_hist_free(minute[0][m]);
        sp_hist_free(minute[1][m]);
    }
    sp_hist_free(want);
    sp_hist_free(want_all);
    sp_hist_free(got);
    free(a);
    free(b);
    sp_store_close(s);
}

static void test_mark_aborted(void)
{
    sp_store *s = open_db("aborted");
    CHECK(s);
    int64_t t = make_test(s, "Crash");
    int64_t running = make_run(s, t, 2), queued = make_run(s, t, 1), done_run = make_run(s, t, 1);
    CHECK(running > 0 && queued > 0 && done_run > 0);
    CHECK_INT_EQ(sp_store_run_set_status(s, running, SP_RUN_RUNNING), 0);
    for (int sec = 0; sec < 7; sec++)
        CHECK_INT_EQ(add_second(s, running, sec, 2), 0);
    CHECK_INT_EQ(sp_store_run_finish(s, done_run, SP_RUN_STOPPED, NULL, NULL, NULL), 0);
    /* The daemon dies here: the handle is dropped without finishing the runs. */
    sp_store_close(s);

    char err[256];
    CHECK_INT_EQ(sp_store_open(&s, db_path("aborted"), err, sizeof err), 0);
    int n = 0;
    CHECK_INT_EQ(sp_store_runs_mark_aborted(s, &n), 0);
    CHECK_INT_EQ(n, 2);
    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_run_get(s, running, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "status")), "aborted");
    CHECK(json_is_integer(json_object_get(o, "ended_at")));
    CHECK_STR_CONTAINS(json_string_value(json_object_get(o, "error")), "server stopped");
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "last_second")), 6);
    json_decref(o);
    CHECK_INT_EQ(sp_store_run_get(s, queued, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "status")), "aborted");
    json_decref(o);
    CHECK_INT_EQ(sp_store_run_get(s, done_run, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "status")), "stopped");
    json_decref(o);
    CHECK_INT_EQ(sp_store_runs_mark_aborted(s, &n), 0);
    CHECK_INT_EQ(n, 0);
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    sp_store_close(s);
}

/* A writer process killed with SIGKILL mid-run: every committed second survives, the file is
 * intact, and recovery marks the run aborted. */
static void test_kill_9_keeps_seconds(void)
{
    const char *path = db_path("kill9");
    remove_db(path);
    int fds[2];
    CHECK_INT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child opens its own connection: nothing crosses the fork. */
        close(fds[0]);
        sp_store *c = NULL;
        char err[256];
        if (sp_store_open(&c, path, err, sizeof err))
            _exit(1);
        int64_t run = make_run(c, make_test(c, "Killed"), 4);
        if (run <= 0 || sp_store_run_set_status(c, run, SP_RUN_RUNNING))
            _exit(1);
        for (int64_t sec = 0;; sec++) {
            if (add_second(c, run, sec, 4))
                _exit(1);
            /* Report each committed second; the parent kills us at some point after. */
            if (write(fds[1], &sec, sizeof sec) != (ssize_t)sizeof sec)
                _exit(1);
        }
    }
    CHECK(pid > 0);
    close(fds[1]);
    int64_t last = -1, sec;
    while (last < 50 && read(fds[0], &sec, sizeof sec) == (ssize_t)sizeof sec)
        last = sec;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(last >= 50);

    sp_store *s = NULL;
    char err[256] = "";
    CHECK_INT_EQ(sp_store_open(&s, path, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    int n = 0;
    CHECK_INT_EQ(sp_store_runs_mark_aborted(s, &n), 0);
    CHECK_INT_EQ(n, 1);
    sp_store_run_filter f;
    sp_store_run_filter_init(&f);
    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_run_list(s, &f, &o), 0);
    int64_t run =
        json_integer_value(json_object_get(json_array_get(json_object_get(o, "items"), 0), "id"));
    json_decref(o);
    CHECK_INT_EQ(sp_store_run_get(s, run, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "status")), "aborted");
    /* Every second the child saw committed is there (perhaps one more, committed before the
     * report was written). */
    CHECK(json_integer_value(json_object_get(o, "last_second")) >= last);
    json_decref(o);
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    sp_store_close(s);
}

static void test_metacharacters_are_data(void)
{
    sp_store *s = open_db("meta");
    CHECK(s);
    static const char *const names[] = {
        "'; DROP TABLE tests; --",
        "Robert\"); DELETE FROM runs WHERE (\"1\"=\"1",
        "<script>alert(1)</script>",
        "100% _wild_ \\ card",
        "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x90\x98",
    };
    int64_t ids[SP_ARRAY_LEN(names)];
    char err[256];
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
        CHECK_INT_EQ(sp_store_test_create(s, names[i], "{\"x\":\"<b>'\\\"</b>\"}", names[i],
                                          &ids[i], err, sizeof err),
                     0);
    }
    json_t *o = NULL;
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
        CHECK_INT_EQ(sp_store_test_get(s, ids[i], 0, &o), 0);
        CHECK_STR_EQ(json_string_value(json_object_get(o, "name")), names[i]);
        CHECK_STR_EQ(json_string_value(json_object_get(o, "revision_created_by")), names[i]);
        int64_t found = 0;
        CHECK_INT_EQ(sp_store_test_find(s, names[i], &found), 0);
        CHECK_INT_EQ(found, ids[i]);
        CHECK_STR_EQ(json_string_value(json_object_get(o, "definition")),
                     "{\"x\":\"<b>'\\\"</b>\"}");
        json_decref(o);
    }
    /* The filter is literal: '%' and '_' match only themselves. */
    CHECK_INT_EQ(sp_store_test_list(s, "%", 0, 0, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_list(s, "_wild_", 0, 0, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_list(s, "'", 0, 0, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    CHECK_INT_EQ(sp_store_test_list(s, NULL, 0, 0, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), (int)SP_ARRAY_LEN(names));
    json_decref(o);

    /* Request names and failure messages (which come from the target) are data too, and bytes
     * that are not UTF-8 come back replaced, so the result still serialises. */
    int64_t run = 0;
    CHECK_INT_EQ(sp_store_run_create(s, ids[0], 0, names[2], NULL, &run, NULL, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_run_names_set(s, run, names, SP_ARRAY_LEN(names)), 0);
    sp_store_failure f[] = {{2, "<img src=x onerror=alert(1)> '\"--", 1},
                            {3, "bad \xff\xfe bytes \xc3", 2}};
    CHECK_INT_EQ(sp_store_run_failures_add(s, run, f, 2), 0);
    CHECK_INT_EQ(sp_store_run_failures(s, run, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(o, 0), "message")),
                 "bad \xef\xbf\xbd\xef\xbf\xbd bytes \xef\xbf\xbd");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(o, 0), "name")), names[3]);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(o, 1), "message")), f[0].message);
    char *dump = json_dumps(o, 0);
    CHECK(dump != NULL);
    free(dump);
    json_decref(o);
    CHECK_INT_EQ(sp_store_run_get(s, run, &o), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "started_by")), names[2]);
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(o, "names"), 0)), names[0]);
    CHECK_STR_EQ(json_string_value(json_object_get(o, "test_name")), names[0]);
    json_decref(o);

    /* A long failure message is cut at a character boundary. */
    char longmsg[SP_FAIL_MSG_MAX + 40];
    memset(longmsg, 'a', sizeof longmsg);
    memcpy(longmsg + SP_FAIL_MSG_MAX - 1, "\xe2\x9c\x93", 3);
    longmsg[sizeof longmsg - 1] = '\0';
    sp_store_failure lf = {4, longmsg, 1};
    CHECK_INT_EQ(sp_store_run_failures_add(s, run, &lf, 1), 0);
    CHECK_INT_EQ(sp_store_run_failures(s, run, &o), 0);
    CHECK_UINT_EQ(json_array_size(o), 3);
    CHECK_UINT_EQ(json_string_length(json_object_get(json_array_get(o, 2), "message")),
                  SP_FAIL_MSG_MAX - 1);
    json_decref(o);

    /* Every table is still there. */
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_test_list(s, NULL, 1, 0, 0, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "total")), (int)SP_ARRAY_LEN(names));
    json_decref(o);
    sp_store_close(s);
}

static void test_integrity_and_checkpoint(void)
{
    sp_store *s = open_db("integrity");
    CHECK(s);
    int64_t run = make_run(s, make_test(s, "Integrity"), 4);
    CHECK(run > 0);
    for (int sec = 0; sec < 30; sec++)
        CHECK_INT_EQ(add_second(s, run, sec, 4), 0);
    char err[256] = "";
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    int frames = -1, copied = -1;
    CHECK_INT_EQ(sp_store_checkpoint(s, 0, &frames, &copied), 0);
    CHECK(frames > 0);
    CHECK_INT_EQ(copied, frames);
    CHECK_INT_EQ(sp_store_checkpoint(s, 1, &frames, &copied), 0);
    CHECK_INT_EQ(frames, 0);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", db_path("integrity"));
    struct stat sb;
    CHECK_INT_EQ(stat(wal, &sb), 0);
    CHECK_INT_EQ(sb.st_size, 0);
    sp_store_close(s);
}

static void test_fork_refused(void)
{
    sp_store *s = open_db("fork");
    CHECK(s);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child must not touch the parent's connection; closing it only frees memory. */
        json_t *o = NULL;
        int ok = sp_store_test_list(s, NULL, 0, 0, 0, &o) == SP_ESTATE && o == NULL &&
                 sp_store_schema_version(s) == 0;
        sp_store_close(s);
        _exit(ok ? 0 : 1);
    }
    CHECK(pid > 0);
    int status = 0;
    CHECK_INT_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent's connection still works. */
    CHECK(make_test(s, "after fork") > 0);
    char err[256];
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    sp_store_close(s);
}

/* Concurrency: a writer adds seconds while a reader lists runs and reads series, each on its
 * own connection, as the aggregator and the HTTP threads do. */
struct conc {
    const char *path;
    int64_t run;
    int seconds;
    int writer_errors; /* written by the writer only */
    int reader_errors; /* written by the reader only */
    int reads;
    _Atomic int writer_done;
};

static void *writer_main(void *arg)
{
    struct conc *c = arg;
    sp_store *s = NULL;
    char err[256];
    if (sp_store_open(&s, c->path, err, sizeof err)) {
        c->writer_errors++;
        c->writer_done = 1;
        return NULL;
    }
    for (int sec = 0; sec < c->seconds; sec++) {
        int rc = add_second(s, c->run, sec, 4);
        if (rc) {
            fprintf(stderr, "  writer: second %d: %s (%s)\n", sec, sp_strerror(rc),
                    sp_store_errmsg(s));
            c->writer_errors++;
        }
    }
    sp_store_close(s);
    c->writer_done = 1;
    return NULL;
}

static void *reader_main(void *arg)
{
    struct conc *c = arg;
    sp_store *s = NULL;
    char err[256];
    if (sp_store_open(&s, c->path, err, sizeof err)) {
        c->reader_errors++;
        return NULL;
    }
    sp_store_run_filter f;
    sp_store_run_filter_init(&f);
    do { /* at least once, however quickly the writer finishes */
        json_t *o = NULL;
        int rc = sp_store_run_list(s, &f, &o);
        json_decref(o);
        if (!rc)
            rc = sp_store_run_get(s, c->run, &o), json_decref(o);
        if (!rc)
            rc = sp_store_run_series(s, c->run, -1, 0, -1, &o), json_decref(o);
        if (!rc && c->reads % 20 == 0)
            rc = sp_store_checkpoint(s, 0, NULL, NULL);
        if (rc) {
            fprintf(stderr, "  reader: %s (%s)\n", sp_strerror(rc), sp_store_errmsg(s));
            c->reader_errors++;
        }
        c->reads++;
    } while (!c->writer_done);
    sp_store_close(s);
    return NULL;
}

static void test_concurrent_writer_and_reader(void)
{
    sp_store *s = open_db("concurrent");
    CHECK(s);
    int64_t run = make_run(s, make_test(s, "Concurrent"), 4);
    CHECK(run > 0);
    /* A second writer on the main connection makes the two writers meet on the lock. */
    struct conc c = {.path = db_path("concurrent"), .run = run, .seconds = 300};
    pthread_t w, r;
    CHECK_INT_EQ(pthread_create(&w, NULL, writer_main, &c), 0);
    CHECK_INT_EQ(pthread_create(&r, NULL, reader_main, &c), 0);
    int other_errors = 0;
    for (int i = 0; i < 50; i++) {
        char name[32], err[256];
        snprintf(name, sizeof name, "while running %d", i);
        int64_t id;
        if (sp_store_test_create(s, name, "{}", NULL, &id, err, sizeof err))
            other_errors++;
    }
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    CHECK_INT_EQ(c.writer_errors, 0);
    CHECK_INT_EQ(c.reader_errors, 0);
    CHECK_INT_EQ(other_errors, 0);
    CHECK(c.reads > 0);
    json_t *o = NULL;
    CHECK_INT_EQ(sp_store_run_get(s, run, &o), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(o, "last_second")), c.seconds - 1);
    json_decref(o);
    sp_store_close(s);
}

/* Several threads (or processes) opening a new file at once: one migrates, the others wait
 * and find the work done; no migration is applied twice. */
static void *opener_main(void *arg)
{
    sp_store *s = NULL;
    char err[256] = "";
    intptr_t ok = sp_store_open(&s, arg, err, sizeof err) == 0;
    if (!ok)
        fprintf(stderr, "  opener: %s\n", err);
    sp_store_close(s);
    return (void *)ok;
}

static void test_concurrent_open(void)
{
    const char *path = db_path("opens");
    remove_db(path);
    pthread_t th[4];
    for (size_t i = 0; i < SP_ARRAY_LEN(th); i++)
        CHECK_INT_EQ(pthread_create(&th[i], NULL, opener_main, (void *)path), 0);
    int ok = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(th); i++) {
        void *r;
        pthread_join(th[i], &r);
        ok += r != NULL;
    }
    CHECK_INT_EQ(ok, (int)SP_ARRAY_LEN(th));
    size_t known;
    sp_store_migrations(&known);
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT_EQ(
        sqlite3_prepare_v2(db, "SELECT count(*), max(version) FROM schema_version", -1, &st, NULL),
        SQLITE_OK);
    CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT_EQ(sqlite3_column_int(st, 0), (int)known);
    CHECK_INT_EQ(sqlite3_column_int(st, 1), (int)known);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/*
 * Storage cost: one hour of a run with 50 request names, with realistic values (a few hundred
 * requests a second per name, log-normal latencies, a few status codes and error kinds), every
 * second and every minute histogram. Reports the database size; docs/storage.md quotes it.
 */
/* Prints the space each table and index takes (the dbstat table, when SQLite has it). */
static void print_space(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        goto out;
    if (sqlite3_prepare_v2(db,
                           "SELECT name, sum(pgsize), sum(ncell) FROM dbstat GROUP BY name"
                           " ORDER BY 2 DESC LIMIT 6",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            printf("  %-20s %10lld bytes %8lld cells\n", (const char *)sqlite3_column_text(st, 0),
                   (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
        sqlite3_finalize(st);
    }
out:
    sqlite3_close(db);
}

#define COST_NAMES 50
#define COST_SECONDS 3600

static void test_storage_cost_per_hour(void)
{
    /* The size does not depend on the medium; a RAM disk, when there is one, saves the fsyncs. */
    char path[512];
    struct stat sb;
    if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, sizeof path, "/dev/shm/stampede-cost-%d.db", (int)getpid());
    else
        snprintf(path, sizeof path, "%s", db_path("cost"));
    remove_db(path);
    sp_store *s = NULL;
    char err[256];
    CHECK_INT_EQ(sp_store_open(&s, path, err, sizeof err), 0);
    int64_t t = 0, run = 0;
    CHECK_INT_EQ(sp_store_test_create(s, "Cost", "{}", NULL, &t, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_run_create(s, t, 0, NULL, NULL, &run, NULL, err, sizeof err), 0);
    char namebuf[COST_NAMES][48];
    const char *names[COST_NAMES];
    for (int i = 0; i < COST_NAMES; i++) {
        snprintf(namebuf[i], sizeof namebuf[i], "GET /api/v1/resource-%02d/{id}", i);
        names[i] = namebuf[i];
    }
    CHECK_INT_EQ(sp_store_run_names_set(s, run, names, COST_NAMES), 0);

    sp_rng r;
    sp_rng_seed(&r, 7);
    size_t nb = sp_hist_buckets();
    sp_hist *minute[COST_NAMES];
    for (int i = 0; i < COST_NAMES; i++)
        minute[i] = sp_hist_new();
    uint64_t(*status)[SP_STATUS_MAX] = sp_calloc(COST_NAMES, sizeof *status);
    uint64_t kinds[COST_NAMES][9];
    sp_store_second rows[COST_NAMES];
    uint64_t *buckets = sp_calloc((size_t)COST_NAMES * nb, sizeof *buckets);
    sp_store_hist hists[COST_NAMES];
    uint64_t write_us = 0, max_write_us = 0;
    for (int sec = 0; sec < COST_SECONDS; sec++) {
        for (int i = 0; i < COST_NAMES; i++) {
            double median = 8000.0 + 4000.0 * i;
            uint64_t count = 100 + sp_rng_range(&r, 0, 400);
            uint64_t errors = sp_rng_range(&r, 0, 100) < 10 ? (uint64_t)sp_rng_range(&r, 1, 5) : 0;
            memset(status[i], 0, sizeof status[i]);
            memset(kinds[i], 0, sizeof kinds[i]);
            status[i][i % 3 ? 200 : 201] = count - errors;
            if (errors) {
                status[i][500] = errors / 2;
                status[i][0] = errors - errors / 2;
                kinds[i][0] = errors - errors / 2;
                kinds[i][5] = errors / 2;
            }
            /* Record a sample of the second's latencies into the minute's histogram (all of
             * them, as the engine would, would only fill the same buckets more). */
            for (uint64_t k = 0; k < count; k++)
                sp_hist_record(minute[i], lognormal(&r, median, 0.5));
            uint64_t p50 = (uint64_t)(median * (0.9 + 0.2 * sp_rng_double(&r)));
            rows[i] = (sp_store_second){.name_id = (uint32_t)i,
                                        .count = count,
                                        .errors = errors,
                                        .p50_us = p50,
                                        .p95_us = p50 * 23 / 10,
                                        .p99_us = p50 * 32 / 10,
                                        .max_us = p50 * 5 + (uint64_t)sp_rng_range(&r, 0, 99999),
                                        .bytes_in = count * (800 + (uint64_t)i * 40),
                                        .bytes_out = count * 220,
                                        .status = status[i],
                                        .nstatus = SP_STATUS_MAX,
                                        .error_kinds = kinds[i],
                                        .nerror_kinds = 9};
        }
        sp_store_tick tick = {.active_vus = 500,
                              .target_vus = 500,
                              .iterations = (uint64_t)sp_rng_range(&r, 2000, 3000)};
        uint64_t w0 = sp_now_us();
        int rc = sp_store_run_second_add(s, run, sec, &tick, rows, COST_NAMES);
        uint64_t took = sp_now_us() - w0;
        write_us += took;
        if (took > max_write_us)
            max_write_us = took;
        if (rc)
            CHECK_INT_EQ(rc, 0);
        if (sec % 60 == 59) {
            for (int i = 0; i < COST_NAMES; i++) {
                hist_counts(minute[i], buckets + (size_t)i * nb);
                hists[i] = (sp_store_hist){(uint32_t)i, buckets + (size_t)i * nb, nb};
                sp_hist_reset(minute[i]);
            }
            CHECK_INT_EQ(sp_store_run_minute_hist_add(s, run, sec / 60, hists, COST_NAMES), 0);
        }
    }
    CHECK_INT_EQ(sp_store_checkpoint(s, 1, NULL, NULL), 0);
    CHECK_INT_EQ(stat(path, &sb), 0);
    double mb = (double)sb.st_size / (1024.0 * 1024.0);
    printf("storage: 1 hour x %d names = %lld bytes (%.1f MiB); sp_store_run_second_add: "
           "%.0f us mean, %llu us max (%s)\n",
           COST_NAMES, (long long)sb.st_size, mb, (double)write_us / COST_SECONDS,
           (unsigned long long)max_write_us, strncmp(path, "/dev/shm", 8) ? "disk" : "RAM disk");
    CHECK(mb <= 20.0);
    print_space(path);

    /* The hour reads back: the whole-run window equals the sum of the seconds' counts. */
    uint64_t total = 0;
    memset(buckets, 0, nb * sizeof *buckets);
    CHECK_INT_EQ(sp_store_window_hist(s, run, 3, 0, 60, buckets, nb, &total), 0);
    CHECK(total > 100 * COST_SECONDS);
    /* Reading back, for the REST API's budget: one name's hour, every name's last minute, and
     * the whole hour (building the Jansson objects included, freeing them not). */
    json_t *o = NULL;
    uint64_t r0 = sp_now_us();
    CHECK_INT_EQ(sp_store_run_series(s, run, 7, 0, -1, &o), 0);
    double one_name_ms = (double)(sp_now_us() - r0) / 1000.0;
    CHECK_UINT_EQ(
        json_array_size(json_object_get(json_array_get(json_object_get(o, "names"), 0), "count")),
        COST_SECONDS);
    json_decref(o);
    r0 = sp_now_us();
    CHECK_INT_EQ(sp_store_run_series(s, run, -1, COST_SECONDS - 60, -1, &o), 0);
    double last_minute_ms = (double)(sp_now_us() - r0) / 1000.0;
    json_decref(o);
    r0 = sp_now_us();
    CHECK_INT_EQ(sp_store_run_series(s, run, -1, 0, -1, &o), 0);
    double hour_ms = (double)(sp_now_us() - r0) / 1000.0;
    json_decref(o);
    r0 = sp_now_us();
    memset(buckets, 0, nb * sizeof *buckets);
    CHECK_INT_EQ(sp_store_window_hist(s, run, -1, 0, 60, buckets, nb, &total), 0);
    double hist_ms = (double)(sp_now_us() - r0) / 1000.0;
    printf("read: 1 name x 1 hour %.1f ms; %d names x 1 minute %.1f ms; %d names x 1 hour %.0f ms;"
           " window histogram of %d names x 60 minutes %.1f ms\n",
           one_name_ms, COST_NAMES, last_minute_ms, COST_NAMES, hour_ms, COST_NAMES, hist_ms);
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);

    for (int i = 0; i < COST_NAMES; i++)
        sp_hist_free(minute[i]);
    free(status);
    free(buckets);
    sp_store_close(s);
    remove_db(path);
}

/* Secrets are saved with the test, in one transaction; the mask keeps a stored value. */
static void test_secrets_and_policy(void)
{
    sp_store *s = open_db("policy");
    CHECK(s);
    char err[256] = "";
    int64_t id = 0;
    int rev = 0;
    json_t *sec = json_pack("{s:s, s:s}", "a", "one", "b", "two");
    CHECK_INT_EQ(sp_store_test_save(s, 0, "Secretive", "{\"secrets\":{}}", sec, "ann", &id, &rev,
                                    err, sizeof err),
                 0);
    CHECK_INT_EQ(rev, 1);
    json_decref(sec);
    json_t *got = NULL;
    CHECK_INT_EQ(sp_store_test_secrets(s, id, &got), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(got, "a")), "one");
    json_decref(got);

    /* "a" keeps its value through the mask, "b" is replaced, "c" is new, nothing else stays. */
    sec = json_pack("{s:s, s:s}", "a", SP_STORE_SECRET_MASK, "c", "three");
    CHECK_INT_EQ(
        sp_store_test_save(s, id, "Secretive", "{}", sec, "ann", NULL, &rev, err, sizeof err), 0);
    CHECK_INT_EQ(rev, 2);
    json_decref(sec);
    CHECK_INT_EQ(sp_store_test_secrets(s, id, &got), 0);
    CHECK_INT_EQ(json_object_size(got), 2);
    CHECK_STR_EQ(json_string_value(json_object_get(got, "a")), "one");
    CHECK_STR_EQ(json_string_value(json_object_get(got, "c")), "three");
    json_decref(got);

    /* The mask with nothing stored is refused, and nothing of that save is written. */
    sec = json_pack("{s:s}", "zzz", SP_STORE_SECRET_MASK);
    CHECK_INT_EQ(
        sp_store_test_save(s, id, "Secretive", "{}", sec, "ann", NULL, &rev, err, sizeof err),
        SP_EINVAL);
    CHECK_STR_CONTAINS(err, "secret 'zzz'");
    json_decref(sec);
    json_t *t = NULL;
    CHECK_INT_EQ(sp_store_test_get(s, id, 0, &t), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(t, "revision")), 2);
    json_decref(t);
    CHECK_INT_EQ(sp_store_test_secrets(s, id, &got), 0);
    CHECK_INT_EQ(json_object_size(got), 2);
    json_decref(got);

    /* The allowlist keeps its order; caps default to 0 for every role. */
    json_t *entries = NULL;
    CHECK_INT_EQ(sp_store_allowlist_get(s, &entries), 0);
    CHECK_INT_EQ(json_array_size(entries), 0);
    json_decref(entries);
    json_t *want = json_pack("[s, s, s]", "10.0.0.0/8", "127.0.0.2", "[::1]:8090");
    CHECK_INT_EQ(sp_store_allowlist_set(s, want), 0);
    CHECK_INT_EQ(sp_store_allowlist_get(s, &entries), 0);
    CHECK(json_equal(entries, want));
    json_decref(entries);
    json_decref(want);
    json_t *caps = NULL;
    CHECK_INT_EQ(sp_store_caps_get(s, &caps), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(caps, "tester"), "max_vus")),
                 0);
    json_decref(caps);
    json_t *set = json_pack("{s:{s:i, s:f, s:i, s:i}}", "tester", "max_vus", 200, "max_rate", 50.5,
                            "max_duration_s", 600, "max_concurrent_runs", 2);
    CHECK_INT_EQ(sp_store_caps_set(s, set), 0);
    json_decref(set);
    CHECK_INT_EQ(sp_store_caps_get(s, &caps), 0);
    json_t *tc = json_object_get(caps, "tester");
    CHECK_INT_EQ(json_integer_value(json_object_get(tc, "max_vus")), 200);
    CHECK(json_real_value(json_object_get(tc, "max_rate")) == 50.5);
    CHECK_INT_EQ(json_integer_value(json_object_get(tc, "max_concurrent_runs")), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(caps, "admin"), "max_vus")), 0);
    json_decref(caps);
    sp_store_close(s);
}

/* A run started by a schedule says so, with the schedule and its fire time, and the list
 * filters on where runs came from (migration 0008). */
static void test_run_origin(void)
{
    sp_store *s = open_db("origin");
    CHECK(s);
    int64_t t = make_test(s, "scheduled test");
    int64_t manual = make_run(s, t, 1);
    CHECK(manual > 0);
    char err[256];
    int64_t sched = 0;
    sp_store_run_origin o = {.schedule_id = 7, .fire_at = 1774746000000LL, .missed = 1};
    CHECK_INT_EQ(sp_store_run_create_as(s, t, 0, "owner", NULL, &o, &sched, NULL, err, sizeof err),
                 0);
    json_t *r = NULL;
    CHECK_INT_EQ(sp_store_run_get(s, sched, &r), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(r, "origin")), "scheduled");
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "schedule_id")), 7);
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "fire_at")), 1774746000000LL);
    CHECK(json_is_true(json_object_get(r, "fire_missed")));
    json_decref(r);
    CHECK_INT_EQ(sp_store_run_get(s, manual, &r), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(r, "origin")), "manual");
    CHECK(json_is_null(json_object_get(r, "schedule_id")));
    CHECK(json_is_false(json_object_get(r, "fire_missed")));
    json_decref(r);
    sp_store_run_filter f;
    sp_store_run_filter_init(&f);
    const char *origins[] = {"scheduled", "manual", NULL};
    int64_t want[] = {sched, manual, 0};
    for (int i = 0; i < 3; i++) {
        f.origin = origins[i];
        json_t *list = NULL;
        CHECK_INT_EQ(sp_store_run_list(s, &f, &list), 0);
        json_t *items = json_object_get(list, "items");
        CHECK_INT_EQ(json_integer_value(json_object_get(list, "total")), i < 2 ? 1 : 2);
        if (i < 2) {
            CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(items, 0), "id")),
                         want[i]);
            CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "origin")),
                         origins[i]);
        }
        json_decref(list);
    }
    sp_store_close(s);
}

/* The ticks sp_store_run_ticks_each() gave, the first four. */
struct tick_seen {
    int n;
    sp_store_tick t[4];
    int64_t sec[4];
};

static void record_tick(void *ctx, int64_t second, const sp_store_tick *tick)
{
    struct tick_seen *seen = ctx;
    if (seen->n < 4) {
        seen->t[seen->n] = *tick;
        seen->sec[seen->n++] = second;
    }
}

/* Migration 0006: a test's pinned baseline and settings, a run's baseline object, the newest
 * passed run, and each second's latency over all names (NULL in seconds without requests, and
 * in a database written before 0006 and upgraded). */
static void test_baselines(void)
{
    const char *path = db_path("baseline");
    remove_db(path);
    char err[256] = "";
    sp_store *s = NULL;
    CHECK_INT_EQ(sp_store_open_upto(&s, path, 5, err, sizeof err), 0);
    int64_t t = make_test(s, "baselines");
    int64_t old = make_run(s, t, 1);
    CHECK_INT_EQ(sp_store_run_set_status(s, old, SP_RUN_RUNNING), 0);
    /* The names' rows through the store; the tick as version 5 wrote it, by hand. */
    CHECK_INT_EQ(add_second_ticked(s, old, 0, 1, 0), 0);
    CHECK_INT_EQ(sp_store_run_finish(s, old, SP_RUN_PASSED, NULL, NULL, NULL), 0);
    sp_store_close(s);
    sqlite3 *v5 = NULL;
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO run_ticks (run_id, second, active_vus, target_vus, iterations, dropped,"
             " lag_us_max) VALUES (%lld, 0, 1, 1, 1, 0, 0)",
             (long long)old);
    CHECK_INT_EQ(sqlite3_open(path, &v5), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(v5, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(v5);
    CHECK_INT_EQ(sp_store_open(&s, path, err, sizeof err), 0);
    CHECK(sp_store_schema_version(s) >= 6);

    int64_t pinned = -1;
    json_t *settings = (json_t *)1;
    CHECK_INT_EQ(sp_store_test_baseline_get(s, t, &pinned, &settings), 0);
    CHECK_INT_EQ(pinned, 0);
    CHECK(settings == NULL);
    CHECK_INT_EQ(sp_store_test_baseline_get(s, t + 100, &pinned, NULL), SP_ENOTFOUND);

    /* Runs: a failed one, a passed one without a summary, a passed one with. */
    json_t *summary = json_pack("{s:f}", "duration_s", 1.0);
    int64_t r1 = make_run(s, t, 1), r2 = make_run(s, t, 1), r3 = make_run(s, t, 1);
    CHECK_INT_EQ(sp_store_run_finish(s, r1, SP_RUN_FAILED, NULL, summary, NULL), 0);
    CHECK_INT_EQ(sp_store_run_finish(s, r2, SP_RUN_PASSED, NULL, summary, NULL), 0);
    CHECK_INT_EQ(sp_store_run_finish(s, r3, SP_RUN_FAILED, NULL, summary, NULL), 0);
    json_decref(summary);
    int64_t last = 0;
    CHECK_INT_EQ(sp_store_run_last_passed(s, t, INT64_MAX, &last), 0);
    CHECK_INT_EQ(last, r2);
    CHECK_INT_EQ(sp_store_run_last_passed(s, t, r2, &last), SP_ENOTFOUND); /* old has none */
    CHECK_INT_EQ(last, 0);

    json_t *want = json_pack("{s:f, s:i}", "alpha", 0.05, "min_seconds", 8);
    CHECK_INT_EQ(sp_store_test_baseline_set(s, t, r2, want), 0);
    CHECK_INT_EQ(sp_store_test_baseline_get(s, t, &pinned, &settings), 0);
    CHECK_INT_EQ(pinned, r2);
    CHECK(json_equal(settings, want));
    json_decref(settings);
    json_t *test = NULL;
    CHECK_INT_EQ(sp_store_test_get(s, t, 0, &test), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(test, "baseline_run_id")), r2);
    json_decref(test);
    /* A run that does not exist cannot be pinned (foreign key); unpinning clears both. */
    CHECK_INT_EQ(sp_store_test_baseline_set(s, t, 999999, NULL), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_store_test_baseline_set(s, t, 0, NULL), 0);
    CHECK_INT_EQ(sp_store_test_baseline_get(s, t, &pinned, &settings), 0);
    CHECK_INT_EQ(pinned, 0);
    CHECK(settings == NULL);
    CHECK_INT_EQ(sp_store_test_baseline_set(s, t + 100, 0, NULL), SP_ENOTFOUND);
    json_decref(want);

    /* A run's baseline object round-trips and is listed with it. */
    json_t *b = json_pack("{s:s, s:I, s:b}", "asked", "pinned", "run_id", (json_int_t)r2,
                          "fail_on_regression", 1);
    CHECK_INT_EQ(sp_store_run_baseline_set(s, r3, b), 0);
    CHECK_INT_EQ(sp_store_run_baseline_set(s, 999999, b), SP_ENOTFOUND);
    json_t *run = NULL;
    CHECK_INT_EQ(sp_store_run_get(s, r3, &run), 0);
    CHECK(json_equal(json_object_get(run, "baseline"), b));
    json_decref(run);
    CHECK_INT_EQ(sp_store_run_get(s, r2, &run), 0);
    CHECK(json_is_null(json_object_get(run, "baseline")));
    json_decref(run);
    json_decref(b);

    /* Ticks: lag and latency, NULL latency read back as none. */
    int64_t r4 = make_run(s, t, 1);
    CHECK_INT_EQ(sp_store_run_set_status(s, r4, SP_RUN_RUNNING), 0);
    sp_store_tick t0 = {
        .lag_us_max = 700, .requests = 3, .p50_us = 100, .p95_us = 200, .p99_us = 300};
    sp_store_tick t1 = {.lag_us_max = 25000};
    CHECK_INT_EQ(sp_store_run_second_add(s, r4, 0, &t0, NULL, 0), 0);
    CHECK_INT_EQ(sp_store_run_second_add(s, r4, 1, &t1, NULL, 0), 0);
    struct tick_seen seen = {0};
    CHECK_INT_EQ(sp_store_run_ticks_each(s, r4, record_tick, &seen), 0);
    CHECK_INT_EQ(seen.n, 2);
    CHECK_INT_EQ(seen.sec[1], 1);
    CHECK_UINT_EQ(seen.t[0].p95_us, 200);
    CHECK_INT_EQ(seen.t[0].has_latency, 1);
    CHECK_INT_EQ(seen.t[1].has_latency, 0);
    CHECK_UINT_EQ(seen.t[1].lag_us_max, 25000);
    /* The second written before the upgrade has no latency either. */
    seen.n = 0;
    CHECK_INT_EQ(sp_store_run_ticks_each(s, old, record_tick, &seen), 0);
    CHECK_INT_EQ(seen.n, 1);
    CHECK_INT_EQ(seen.t[0].has_latency, 0);
    sp_store_close(s);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/stampede-store-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_migrations_from_empty);
    RUN(test_upgrade_from_version_1);
    RUN(test_upgrade_to_incomplete);
    RUN(test_space);
    RUN(test_newer_database_refused);
    RUN(test_open_errors);
    RUN(test_revisions);
    RUN(test_list_and_filter);
    RUN(test_delete_keeps_history);
    RUN(test_run_lifecycle);
    RUN(test_series_round_trip);
    RUN(test_ticks_and_load_changes);
    RUN(test_window_hist_merge);
    RUN(test_mark_aborted);
    RUN(test_kill_9_keeps_seconds);
    RUN(test_metacharacters_are_data);
    RUN(test_integrity_and_checkpoint);
    RUN(test_fork_refused);
    RUN(test_concurrent_writer_and_reader);
    RUN(test_concurrent_open);
    RUN(test_storage_cost_per_hour);
    RUN(test_secrets_and_policy);
    RUN(test_run_origin);
    RUN(test_baselines);

    const char *names[] = {"empty",  "v1",        "newer",  "revisions",  "list",
                           "delete", "lifecycle", "series", "window",     "aborted",
                           "meta",   "integrity", "fork",   "concurrent", "opens",
                           "cost",   "policy",    "kill9",  "v4",         "baseline"};
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++)
        remove_db(db_path(names[i]));
    rmdir(tmpdir);
    return check_summary();
}
