/*
 * test_sql.c - the SQL kit (server/store/sql.c): error mapping, binding by format, reading
 * columns into JSON, and transactions that roll back, on real database files.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "base/errors.h"
#include "engine/common.h"
#include "store/sql.h"

static char tmpdir[256];

enum { T_INSERT, T_GET, T_COUNT, T_ALL, T_CHILD, T_MISSING, T_NCOUNT };

static const char *const texts[T_NCOUNT] = {
    [T_INSERT] = "INSERT INTO t (id, name, n, data, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
    [T_GET] = "SELECT id, name, n, data, doc FROM t WHERE id = ?1",
    [T_COUNT] = "SELECT count(*) FROM t",
    [T_ALL] = "SELECT id, name FROM t ORDER BY id",
    [T_CHILD] = "INSERT INTO child (parent) VALUES (?1)",
    [T_MISSING] = "SELECT x FROM no_such_table",
};

static const char *path_of(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.db", tmpdir, name);
    return path;
}

/* A connection to a fresh file with the test tables. */
static sp_sql *open_test(const char *name)
{
    const char *path = path_of(name);
    unlink(path);
    sp_sql_config cfg = {.texts = texts, .ntexts = T_NCOUNT};
    sp_sql *q = NULL;
    char why[256] = "";
    if (sp_sql_open(&q, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &cfg, why, sizeof why)) {
        fprintf(stderr, "  open %s: %s\n", path, why);
        return NULL;
    }
    int rc = sp_sql_exec(sp_sql_db(q), "PRAGMA foreign_keys = ON;"
                                       "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY,"
                                       " name TEXT UNIQUE, n REAL, data BLOB, doc TEXT);"
                                       "CREATE TABLE IF NOT EXISTS p (id INTEGER PRIMARY KEY);"
                                       "CREATE TABLE IF NOT EXISTS child (parent INTEGER"
                                       " REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);");
    if (rc != SQLITE_OK) {
        fprintf(stderr, "  create tables: %s\n", sqlite3_errmsg(sp_sql_db(q)));
        sp_sql_close(q);
        return NULL;
    }
    return q;
}

static int64_t count_rows(sp_sql *q)
{
    int64_t n = -1;
    if (sp_sql_one_int(q, T_COUNT, &n, "") != 0)
        return -1;
    return n;
}

static void test_error_mapping(void)
{
    CHECK_INT_EQ(sp_sql_code(SQLITE_OK), 0);
    CHECK_INT_EQ(sp_sql_code(SQLITE_ROW), 0);
    CHECK_INT_EQ(sp_sql_code(SQLITE_DONE), 0);
    CHECK_INT_EQ(sp_sql_code(SQLITE_CONSTRAINT), SP_ESTATE);
    CHECK_INT_EQ(sp_sql_code(SQLITE_CONSTRAINT_UNIQUE), SP_ESTATE);
    CHECK_INT_EQ(sp_sql_code(SQLITE_CONSTRAINT_FOREIGNKEY), SP_ESTATE);
    CHECK_INT_EQ(sp_sql_code(SQLITE_BUSY), SP_EUNAVAILABLE);
    CHECK_INT_EQ(sp_sql_code(SQLITE_BUSY_SNAPSHOT), SP_EUNAVAILABLE);
    CHECK_INT_EQ(sp_sql_code(SQLITE_LOCKED), SP_EUNAVAILABLE);
    CHECK_INT_EQ(sp_sql_code(SQLITE_LOCKED_SHAREDCACHE), SP_EUNAVAILABLE);
    /* A full disk is a code of its own (503 disk_full up the stack); everything else that goes
     * wrong is one code. */
    CHECK_INT_EQ(sp_sql_code(SQLITE_FULL), SP_EFULL);
    CHECK_INT_EQ(sp_sql_code(SQLITE_IOERR), SP_EIO);
    CHECK_INT_EQ(sp_sql_code(SQLITE_IOERR_WRITE), SP_EIO);
    CHECK_INT_EQ(sp_sql_code(SQLITE_IOERR_FSYNC), SP_EIO);
    CHECK_INT_EQ(sp_sql_code(SQLITE_CORRUPT), SP_EIO);
    CHECK_INT_EQ(sp_sql_code(SQLITE_NOTADB), SP_EIO);
    CHECK_INT_EQ(sp_sql_code(SQLITE_CANTOPEN), SP_EIO);
    CHECK_INT_EQ(sp_sql_code(SQLITE_ERROR), SP_EIO);
    CHECK_INT_EQ(sp_sql_code(SQLITE_NOMEM), SP_EIO);
}

static void test_constraint_recorded(void)
{
    sp_sql *q = open_test("constraint");
    CHECK(q != NULL);
    CHECK_STR_EQ(sp_sql_errmsg(q), "");
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "ls---", (int64_t)1, "a"), 0);
    CHECK_INT_EQ(sp_sql_changes(q), 1);
    CHECK_INT_EQ(sp_sql_last_id(q), 1);
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "ls---", (int64_t)2, "a"), SP_ESTATE);
    CHECK_INT_EQ(sp_sql_errcode(q), SQLITE_CONSTRAINT_UNIQUE);
    CHECK_STR_CONTAINS(sp_sql_errmsg(q), "UNIQUE constraint failed: t.name");
    /* The statement was reset: it runs again at once. */
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "ls---", (int64_t)2, "b"), 0);
    CHECK_INT_EQ(count_rows(q), 2);
    sp_sql_clear(q);
    CHECK_INT_EQ(sp_sql_errcode(q), 0);
    CHECK_STR_EQ(sp_sql_errmsg(q), "");
    sp_sql_setmsg(q, "mine %d", 7);
    CHECK_STR_EQ(sp_sql_errmsg(q), "mine 7");
    CHECK_INT_EQ(sp_sql_close(q), 0);
}

static void test_busy_is_unavailable(void)
{
    sp_sql *a = open_test("busy");
    CHECK(a != NULL);
    sp_sql_config cfg = {.texts = texts, .ntexts = T_NCOUNT};
    sp_sql *b = NULL, *c = NULL;
    char why[256];
    CHECK_INT_EQ(sp_sql_open(&b, path_of("busy"), SQLITE_OPEN_READWRITE, &cfg, why, sizeof why), 0);
    CHECK_INT_EQ(sp_sql_open(&c, path_of("busy"), SQLITE_OPEN_READWRITE, &cfg, why, sizeof why), 0);
    /* Not ten seconds of the kit's busy timeout in a unit test. */
    sqlite3_busy_timeout(sp_sql_db(b), 0);
    sqlite3_busy_timeout(sp_sql_db(c), 0);

    CHECK_INT_EQ(sp_sql_begin(a), 0);
    CHECK_INT_EQ(sp_sql_run(a, T_INSERT, "ls---", (int64_t)1, "held"), 0);
    CHECK_INT_EQ(sp_sql_begin(b), SP_EUNAVAILABLE);
    CHECK_INT_EQ(sp_sql_errcode(b) & 0xff, SQLITE_BUSY);
    CHECK_STR_CONTAINS(sp_sql_errmsg(b), "locked");
    /* Every connection says busy the same way: no module turns it into a database failure. */
    CHECK_INT_EQ(sp_sql_begin(c), SP_EUNAVAILABLE);
    CHECK_INT_EQ(sp_sql_lastcode(c), SP_EUNAVAILABLE);
    CHECK_INT_EQ(sp_sql_end(a, 0), 0);
    CHECK_INT_EQ(sp_sql_begin(b), 0);
    CHECK_INT_EQ(sp_sql_end(b, 0), 0);
    CHECK_INT_EQ(count_rows(c), 1);
    sp_sql_close(a);
    sp_sql_close(b);
    sp_sql_close(c);
}

/* A database that may not grow (max_page_count) fails as a full disk does, with SQLITE_FULL: the
 * kit says SP_EFULL, keeps it through the rollback, and the same connection writes again once
 * there is room, with nothing of the failed write left behind. */
static void test_full_is_its_own_code(void)
{
    sp_sql *q = open_test("full");
    CHECK(q != NULL);
    sqlite3 *db = sp_sql_db(q);
    int64_t pages = 0;
    CHECK_INT_EQ(sp_sql_exec_int(db, "PRAGMA page_count", &pages), SQLITE_OK);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA max_page_count = %lld", (long long)pages);
    CHECK_INT_EQ(sp_sql_exec(db, pragma), SQLITE_OK);
    static char big[64 * 1024];
    memset(big, 'x', sizeof big);

    CHECK_INT_EQ(sp_sql_begin(q), 0);
    int rc = sp_sql_run(q, T_INSERT, "lsfb-", (int64_t)1, "big", 1.0, big, (int)sizeof big);
    CHECK_INT_EQ(rc, SP_EFULL);
    CHECK_INT_EQ(sp_sql_errcode(q) & 0xff, SQLITE_FULL);
    CHECK_STR_CONTAINS(sp_sql_errmsg(q), "full");
    CHECK_INT_EQ(sp_sql_end(q, rc), SP_EFULL);
    CHECK_INT_EQ(sp_sql_lastcode(q), SP_EFULL);
    CHECK_STR_CONTAINS(sp_sql_errmsg(q), "full");
    /* Reads go on while the disk is full. */
    CHECK_INT_EQ(count_rows(q), 0);

    CHECK_INT_EQ(sp_sql_exec(db, "PRAGMA max_page_count = 1000000"), SQLITE_OK);
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "lsfb-", (int64_t)1, "big", 1.0, big, (int)sizeof big), 0);
    CHECK_INT_EQ(count_rows(q), 1);
    sp_sql_clear(q);
    CHECK_INT_EQ(sp_sql_lastcode(q), 0);
    sp_sql_close(q);
}

static void test_rollback(void)
{
    sp_sql *q = open_test("rollback");
    CHECK(q != NULL);
    /* A failed statement in the middle: sp_sql_end() rolls the whole write back and keeps the
     * statement's failure for the caller. */
    int ret = sp_sql_begin(q);
    CHECK_INT_EQ(ret, 0);
    ret = sp_sql_run(q, T_INSERT, "ls---", (int64_t)1, "x");
    CHECK_INT_EQ(ret, 0);
    ret = sp_sql_run(q, T_INSERT, "ls---", (int64_t)2, "x");
    CHECK_INT_EQ(ret, SP_ESTATE);
    CHECK_INT_EQ(sp_sql_end(q, ret), SP_ESTATE);
    CHECK(sqlite3_get_autocommit(sp_sql_db(q)));
    CHECK_INT_EQ(count_rows(q), 0);
    CHECK_STR_CONTAINS(sp_sql_errmsg(q), "UNIQUE constraint failed");
    CHECK_INT_EQ(sp_sql_errcode(q), SQLITE_CONSTRAINT_UNIQUE);

    /* A failure of the caller's own (no SQL failed) rolls back the same way. */
    CHECK_INT_EQ(sp_sql_begin(q), 0);
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "ls---", (int64_t)3, "y"), 0);
    CHECK_INT_EQ(sp_sql_end(q, SP_EINVAL), SP_EINVAL);
    CHECK_INT_EQ(count_rows(q), 0);

    /* A COMMIT that fails (a deferred foreign key) is rolled back, and its failure returned. */
    CHECK_INT_EQ(sp_sql_begin(q), 0);
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "ls---", (int64_t)4, "z"), 0);
    CHECK_INT_EQ(sp_sql_run(q, T_CHILD, "l", (int64_t)99), 0);
    CHECK_INT_EQ(sp_sql_commit(q), SP_ESTATE);
    CHECK_INT_EQ(sp_sql_errcode(q), SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK(sqlite3_get_autocommit(sp_sql_db(q)));
    CHECK_INT_EQ(count_rows(q), 0);

    /* Committed when all went well; a rollback outside a transaction does nothing. */
    CHECK_INT_EQ(sp_sql_begin(q), 0);
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "ls---", (int64_t)5, "kept"), 0);
    CHECK_INT_EQ(sp_sql_end(q, 0), 0);
    sp_sql_rollback(q);
    CHECK_INT_EQ(count_rows(q), 1);
    sp_sql_close(q);
}

/* Row id of t read by spec, as compact JSON text in buf ("" when there is no such row). */
static const char *row_text(sp_sql *q, int64_t id, const char *spec, char *buf, size_t n)
{
    buf[0] = '\0';
    sqlite3_stmt *st = sp_sql_query(q, T_GET, "l", id);
    json_t *row = sp_sql_first(q, st) == 0 ? sp_sql_row(st, spec) : NULL;
    sp_sql_done(st);
    char *text = row ? json_dumps(row, JSON_COMPACT) : NULL;
    snprintf(buf, n, "%s", text ? text : "");
    free(text);
    json_decref(row);
    return buf;
}

static void test_bind_and_read(void)
{
    char buf[256];
    sp_sql *q = open_test("bind");
    CHECK(q != NULL);
    json_t *doc = json_pack("{s:i, s:[s]}", "a", 1, "b", "c");
    const unsigned char blob[3] = {0, 1, 2};
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "lsfbj", (int64_t)1, "one", 2.5, blob, 3, doc), 0);
    json_decref(doc);
    /* 'S' binds a prefix; NULL pointers bind NULL; a JSON column that does not parse. */
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "iSfbs", 2, "two-and-more", 3, 7.0, NULL, 0, "{oops"), 0);
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "lsf-j", (int64_t)3, NULL, 1.0, NULL), 0);
    /* Text that is not UTF-8 (it came from a target). */
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "ls---", (int64_t)4, "bad \xff byte"), 0);

    sqlite3_stmt *st = sp_sql_query(q, T_GET, "l", (int64_t)1);
    CHECK_INT_EQ(sp_sql_first(q, st), 0);
    json_t *row = sp_sql_row(st, "id:i name:s n:n");
    sp_sql_row_add(row, st, 4, "doc:j");
    char name[3];
    sp_sql_col_copy(st, 1, name, sizeof name);
    CHECK_INT_EQ(sqlite3_column_bytes(st, 3), 3);
    sp_sql_done(st);
    char *text = json_dumps(row, JSON_COMPACT);
    CHECK_STR_EQ(text, "{\"id\":1,\"name\":\"one\",\"n\":2.5,\"doc\":{\"a\":1,\"b\":[\"c\"]}}");
    free(text);
    json_decref(row);
    CHECK_STR_EQ(name, "on");

    CHECK_STR_EQ(row_text(q, 2, "id:i name:s n:n data:i doc:j", buf, sizeof buf),
                 "{\"id\":2,\"name\":\"two\",\"n\":7.0,\"data\":null,\"doc\":\"{oops\"}");
    CHECK_STR_EQ(row_text(q, 3, "id:b name:s n:i data:n doc:j", buf, sizeof buf),
                 "{\"id\":true,\"name\":null,\"n\":1,\"data\":null,\"doc\":null}");

    /* 's' keeps what is UTF-8 and replaces the rest with U+FFFD; 'a' makes it ASCII. */
    st = sp_sql_query(q, T_GET, "l", (int64_t)4);
    CHECK_INT_EQ(sp_sql_first(q, st), 0);
    json_t *s = sp_sql_col(st, 1, 's'), *a = sp_sql_col(st, 1, 'a');
    sp_sql_done(st);
    CHECK_STR_EQ(json_string_value(s), "bad \xef\xbf\xbd byte");
    CHECK_STR_EQ(json_string_value(a), "bad ? byte");
    json_decref(s);
    json_decref(a);

    /* Every row, and no row. */
    json_t *all = NULL;
    CHECK_INT_EQ(sp_sql_rows(q, sp_sql_query(q, T_ALL, ""), "id:i name:s", &all), 0);
    CHECK_INT_EQ(json_array_size(all), 4);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(all, 3), "id")), 4);
    json_decref(all);
    int64_t v = 42;
    CHECK_INT_EQ(sp_sql_one_int(q, T_GET, &v, "l", (int64_t)99), SP_ENOTFOUND);
    CHECK_INT_EQ(v, 42);
    st = sp_sql_query(q, T_GET, "l", (int64_t)99);
    CHECK_INT_EQ(sp_sql_first(q, st), SP_ENOTFOUND);
    sp_sql_done(st);
    sp_sql_close(q);
}

static int stop_at_two(sqlite3_stmt *st, void *ctx)
{
    int *seen = ctx;
    (*seen)++;
    return sqlite3_column_int64(st, 0) == 2 ? SP_ELIMIT : 0;
}

static void test_misuse_refused(void)
{
    sp_sql *q = open_test("misuse");
    CHECK(q != NULL);
    /* Fewer or more letters than parameters, or an unknown letter: nothing is bound or run. */
    CHECK(sp_sql_query(q, T_INSERT, "ls", (int64_t)1, "a") == NULL);
    CHECK_STR_CONTAINS(sp_sql_errmsg(q), "cannot bind");
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "ls----", (int64_t)1, "a"), SP_EIO);
    CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "lsx--", (int64_t)1, "a", 1), SP_EIO);
    CHECK_INT_EQ(count_rows(q), 0);
    /* A statement that does not prepare. */
    CHECK(sp_sql_stmt(q, T_MISSING) == NULL);
    CHECK_STR_CONTAINS(sp_sql_errmsg(q), "no such table");
    CHECK_INT_EQ(sp_sql_run(q, T_MISSING, ""), SP_EIO);
    json_t *rows = (json_t *)1;
    CHECK_INT_EQ(sp_sql_rows(q, sp_sql_query(q, T_MISSING, ""), "x:i", &rows), SP_EIO);
    CHECK(rows == NULL);
    CHECK(sp_sql_stmt(q, T_NCOUNT) == NULL);
    CHECK(sp_sql_stmt(q, -1) == NULL);

    /* sp_sql_each stops with the callback's code and leaves the statement ready. */
    for (int i = 1; i <= 3; i++)
        CHECK_INT_EQ(sp_sql_run(q, T_INSERT, "l----", (int64_t)i), 0);
    int seen = 0;
    CHECK_INT_EQ(sp_sql_each(q, sp_sql_query(q, T_ALL, ""), stop_at_two, &seen), SP_ELIMIT);
    CHECK_INT_EQ(seen, 2);
    CHECK_INT_EQ(count_rows(q), 3);
    sp_sql_close(q);
}

static void test_bare_connection(void)
{
    sqlite3 *db = NULL;
    char why[256] = "";
    CHECK_INT_EQ(
        sp_sql_connect(&db, "/nonexistent-dir/x.db", SQLITE_OPEN_READWRITE, why, sizeof why),
        SP_ESYS);
    CHECK(db == NULL);
    CHECK_STR_CONTAINS(why, "unable to open");
    CHECK_INT_EQ(sp_sql_connect(&db, path_of("bare"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                why, sizeof why),
                 0);
    /* Defensive: SQL cannot make the schema writable. */
    int on = -1;
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &on);
    CHECK_INT_EQ(on, 1);
    CHECK_INT_EQ(sp_sql_exec(db, "CREATE TABLE k (v); INSERT INTO k VALUES (7); -- done\n"),
                 SQLITE_OK);
    int64_t v = 0;
    CHECK_INT_EQ(sp_sql_exec_int(db, "SELECT v FROM k", &v), SQLITE_OK);
    CHECK_INT_EQ(v, 7);
    CHECK_INT_EQ(sp_sql_exec_int(db, "SELECT v FROM k WHERE v = 0", &v), SQLITE_DONE);
    char text[8];
    CHECK_INT_EQ(sp_sql_exec_text(db, "PRAGMA journal_mode", text, sizeof text), SQLITE_OK);
    CHECK_STR_EQ(text, "delete");
    CHECK(sp_sql_exec(db, "INSERT INTO nowhere VALUES (1)") != SQLITE_OK);
    CHECK_STR_CONTAINS(sqlite3_errmsg(db), "no such table");

    /* The binder on a statement of the caller's own. */
    sqlite3_stmt *st = NULL;
    CHECK_INT_EQ(sqlite3_prepare_v2(db, "SELECT ?1 + ?2, ?3 IS NULL", -1, &st, NULL), SQLITE_OK);
    CHECK_INT_EQ(sp_sql_bind(st, "il-", 40, (int64_t)2), 0);
    CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT_EQ(sqlite3_column_int64(st, 0), 42);
    CHECK_INT_EQ(sqlite3_column_int64(st, 1), 1);
    sqlite3_reset(st);
    CHECK_INT_EQ(sp_sql_bind(st, "il", 1, (int64_t)2), SP_EINVAL);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/stampede-sql-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_error_mapping);
    RUN(test_constraint_recorded);
    RUN(test_busy_is_unavailable);
    RUN(test_full_is_its_own_code);
    RUN(test_rollback);
    RUN(test_bind_and_read);
    RUN(test_misuse_refused);
    RUN(test_bare_connection);

    const char *names[] = {"constraint", "busy", "full", "rollback", "bind", "misuse", "bare"};
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
        char p[600];
        snprintf(p, sizeof p, "%s", path_of(names[i]));
        unlink(p);
        snprintf(p, sizeof p, "%s-journal", path_of(names[i]));
        unlink(p);
    }
    rmdir(tmpdir);
    return check_summary();
}
