/*
 * store_private.h - what the files of the store share and nothing outside server/store/ may
 * use: the connection's struct, the ids of its statements, and a few helpers.
 *
 * The store is one module (store.h is its API) in several files: store.c (open, pragmas,
 * migrations, the statement table, checkpoints and checks), store_tests.c (tests, revisions,
 * secrets), store_policy.c (allowlist and caps), store_runs.c (runs) and store_series.c (a
 * run's seconds, minute histograms and failures). Every SQL text of the module stays in the one
 * table of store.c, so each statement is prepared at most once per connection and all of the
 * module's SQL reads in one place; the other files name statements by the ids below.
 *
 * Functions shared between the files are named store_<verb> (not exported by any header
 * outside this folder). Thread rule and errors: as store.h says.
 */
#ifndef SP_STORE_PRIVATE_H
#define SP_STORE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/common.h"
#include "store/sql.h"
#include "store/store.h"

/* The statements of store.c's table, by id. */
enum {
    Q_VERSION,
    Q_VERSION_INSERT,
    Q_OWNER,
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
    Q_RUN_INSERT_SCHEDULED,
    Q_RUN_NAME_INSERT,
    Q_RUN_NAME_GROUP,
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
    Q_LOAD_INSERT,
    Q_LOAD_READ,
    Q_TEST_BASELINE_GET,
    Q_TEST_BASELINE_SET,
    Q_RUN_LAST_PASSED,
    Q_RUN_BASELINE_SET,
    Q_TICKS_EACH,
    Q_COUNT
};

/* A sparse blob is at most two 10-byte varints per entry; the status table is the widest. */
#define STORE_BLOB_MAX (SP_STATUS_MAX * 20 + 16)

struct sp_store {
    sp_sql *sql;           /* the connection, its statements and its last failure */
    pid_t pid;             /* the process that opened the connection */
    sp_buf blob_a, blob_b; /* encoding scratch, reused every second */
};

/* Writes a one-line reason into err (errlen may be 0; err may be NULL). */
void store_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* In a forked child the connection belongs to the parent: 1 (and the reason recorded) when s
 * must not be touched. */
int store_forked(sp_store *s);

/* The start of a write: SP_ESTATE in a forked child, else sp_sql_begin() (end it with
 * sp_sql_end()). */
int store_begin(sp_store *s);

/* A failure the kit has recorded on s (code, from a sp_sql_* call): also written to err as
 * "database: <SQLite's message>". Returns code. */
int store_dberr(sp_store *s, int code, char *err, size_t errlen);

/* A constraint failure (code) on a run's child row: a missing parent (foreign key) is missing,
 * a duplicate stays SP_ESTATE. */
int store_child_err(sp_store *s, int code, int missing);

/* 1 when statement id with ?1 = a returns a row, 0 when not, negative on failure. */
int store_row_exists(sp_store *s, int id, int64_t a);

/* The rows of statement query (?1 = id) by spec (store/sql.h) as a new array in *out, or
 * SP_ENOTFOUND when statement parent (?1 = id) finds no row: a child list of a test or run. */
int store_rows_of(sp_store *s, int parent, int64_t id, int query, const char *spec, json_t **out);

/* SQLite integers are signed; counters never come near 2^63, but a wrapped value must not turn
 * negative in the database. */
static inline int64_t store_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* A list's page size: 0 or less is SP_STORE_PAGE_DEFAULT, at most SP_STORE_PAGE_MAX. */
static inline int store_clamp_limit(int limit)
{
    if (limit <= 0)
        return SP_STORE_PAGE_DEFAULT;
    return limit > SP_STORE_PAGE_MAX ? SP_STORE_PAGE_MAX : limit;
}

#endif
