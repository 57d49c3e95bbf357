/*
 * store.h - SQLite persistence for the control server: tests and their revisions, runs, and
 * each run's per-second series, per-minute histograms and failure messages.
 *
 * The database is one file in WAL mode with synchronous=FULL (a committed second survives a
 * power cut), foreign keys on and SQLITE_DBCONFIG_DEFENSIVE set. sp_store_open() applies the
 * migrations compiled into the binary (migrations/NNNN_description.sql), each in its own
 * transaction and recorded in schema_version; a database written by a newer Stampede is
 * refused with a message naming both versions.
 *
 * Calling sequence in the daemon:
 *   sp_store_open() on the main thread; sp_store_runs_mark_aborted() once, before any run starts
 *   (crash recovery); then one sp_store_open() per thread that touches the database (each HTTP
 *   worker, each run's aggregator, the housekeeping thread that calls sp_store_checkpoint());
 *   sp_store_close() on each at shut-down.
 *   A run: sp_store_run_create() (queued) -> sp_store_run_names_set() -> sp_store_run_set_status
 *   (running) -> once a second sp_store_run_second_add(), once a minute
 *   sp_store_run_minute_hist_add() (and for the last, partial minute at the end),
 *   sp_store_run_failures_add() -> sp_store_run_finish().
 *
 * Threads: an sp_store is one SQLite connection, opened without SQLite's own mutex: it must be
 * used by one thread at a time, and the server gives each thread its own (one connection per
 * thread; opening an up-to-date database costs a few statements). In WAL mode readers never
 * block the writer nor each other. Every write runs in a BEGIN IMMEDIATE transaction, so two
 * writers wait for each other through the busy timeout instead of failing with SQLITE_BUSY on
 * lock upgrade. No call returns with a statement left open, so an idle connection holds no
 * snapshot that would hold back a WAL checkpoint.
 *
 * fork(): a connection must never be used in a child process. Every call checks the process id
 * and fails with SP_ESTATE in a child; sp_store_close() in a child frees memory without closing
 * the SQLite connection, because a close there could checkpoint or delete the parent's WAL.
 *
 * Errors: 0 or a negative SP_E* code. SP_ENOTFOUND: no such test, revision or run;
 * SP_ESTATE: the call does not fit the row's state (a name already used by a live test,
 * finishing a finished run, a process that forked); SP_EINVAL: bad arguments; SP_EFULL: the
 * disk is full (a write failed; reads still work, and writes work again once space is freed,
 * on the same connection); SP_EUNAVAILABLE: another writer held the database past the busy
 * timeout; SP_EIO: SQLite failed otherwise (its message is kept, see sp_store_errmsg());
 * SP_ESYS: the file could not be opened. Functions taking err/errlen write a one-line reason
 * there for the user (errlen may be 0).
 *
 * Memory: strings passed in are borrowed (copied into the database). json_t results are new
 * references owned by the caller (json_decref() them). Times are milliseconds since the epoch.
 */
#ifndef SP_STORE_H
#define SP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/common.h"

typedef struct sp_store sp_store;

/* How long a connection waits for another writer before giving up with SP_EUNAVAILABLE. */
#define SP_STORE_BUSY_TIMEOUT_MS 10000
/* The WAL file is truncated back to this size after a checkpoint (PRAGMA journal_size_limit). */
#define SP_STORE_WAL_LIMIT_BYTES 67108864 /* 64 MiB; a plain number: it is pasted into a PRAGMA */
/* PRAGMA application_id of a Stampede database ("STMP"), set by the first migration. */
#define SP_STORE_APPLICATION_ID 1398033744
/* The largest histogram layout accepted by sp_store_run_minute_hist_add(). */
#define SP_STORE_HIST_MAX_BUCKETS 65536
/* The most error kinds a second may count (sp_store_second.nerror_kinds). */
#define SP_STORE_MAX_ERROR_KINDS 64
/* Page size caps for list calls. */
#define SP_STORE_PAGE_DEFAULT 50
#define SP_STORE_PAGE_MAX 1000
/* How many recent runs of each test the test list carries (the dashboard's sparkline). */
#define SP_STORE_RECENT_RUNS 20

/* One migration compiled into the binary (generated from migrations/ at build time). */
typedef struct sp_store_migration {
    int version;      /* NNNN of the file name, 1, 2, ... without gaps */
    const char *name; /* the file name without .sql, e.g. "0001_initial" */
    const char *sql;
} sp_store_migration;

/* The compiled-in migrations, in order; *n gets their number (the newest version known). */
const sp_store_migration *sp_store_migrations(size_t *n);

/*
 * Opens (creating if needed) the database at path and migrates it to the newest version.
 * On success *out is a new handle for the calling thread. On failure *out is NULL and err says
 * why, e.g. "database schema version 7 is newer than this stampede (knows 2): upgrade
 * stampede" (SP_ESTATE), a file that holds another program's tables (SP_ESTATE), a file that
 * is not SQLite (SP_EIO), or a migration's SQLite error (SP_EIO, nothing of it applied).
 * Concurrent opens of one file are safe: a migration re-checks the version inside its
 * transaction.
 */
int sp_store_open(sp_store **out, const char *path, char *err, size_t errlen);
/* As sp_store_open(), applying migrations only up to max_version: for tests that build an old
 * database and upgrade it. max_version 0 means all. */
int sp_store_open_upto(sp_store **out, const char *path, int max_version, char *err, size_t errlen);
/* Closes the connection and finalizes its statements. NULL is ignored. */
void sp_store_close(sp_store *s);

/* The database's schema version (the highest applied migration); 0 on failure. */
int sp_store_schema_version(sp_store *s);
/* SQLite's message for the last failure on this connection (valid until the next call). */
const char *sp_store_errmsg(sp_store *s);

/*
 * Checkpoints the WAL into the database file. A reader that stays open across commits holds
 * back the checkpoint, so the WAL could grow without bound; the server calls this periodically
 * (e.g. every 30 s) from a housekeeping thread with truncate=0, and with truncate=1 at
 * shut-down (waits for readers, then shrinks the WAL to zero bytes). *wal_frames and
 * *checkpointed (either may be NULL) receive the WAL size in frames and how many were copied;
 * fewer copied than present means a reader is holding the rest back. A passive checkpoint that
 * meets another connection's checkpoint returns 0 (the other one does the work).
 */
int sp_store_checkpoint(sp_store *s, int truncate, int *wal_frames, int *checkpointed);

/* PRAGMA integrity_check and foreign_key_check. 0 when both are clean; else SP_EIO and the first
 * problem in err. */
int sp_store_integrity_check(sp_store *s, char *err, size_t errlen);

/* The least free space the database's filesystem must have for the store to count as
 * writable: below it GET /api/v1/health says "full" and `stampede serve` does not start. A
 * second stores a few pages; a test definition up to SP_HTTP_MAX_BODY. */
#define SP_STORE_FREE_MIN_BYTES (8u << 20)

/*
 * The space left for the database at db_path (the file need not exist: its directory's
 * filesystem is asked). *avail (may be NULL) gets the bytes this process may still write there
 * (statvfs's f_bavail, or f_bfree for root, who may use the reserved blocks). 0 when at least
 * SP_STORE_FREE_MIN_BYTES are free; SP_EFULL when fewer are, with err saying so ("the disk
 * holding /var/lib/stampede is full: 12 KiB free, at least 8 MiB needed"); SP_ESYS when the
 * filesystem cannot be asked (err says why). Needs no connection; any thread.
 */
int sp_store_space(const char *db_path, uint64_t *avail, char *err, size_t errlen);

/* ---- Tests ---- */

/*
 * Creates a test with revision 1. name is the test's display name (unique among tests that are
 * not deleted: SP_ESTATE "a test named ... already exists"); definition is the JSON text as the
 * user saved it (validated by the caller; stored byte for byte); created_by may be NULL.
 * *id_out (may be NULL) gets the new test id.
 */
int sp_store_test_create(sp_store *s, const char *name, const char *definition,
                         const char *created_by, int64_t *id_out, char *err, size_t errlen);
/* Saves a new revision of a live test (name may change) and returns its number in *revision_out
 * (may be NULL). SP_ENOTFOUND for a missing or deleted test; SP_ESTATE for a name in use. */
int sp_store_test_update(sp_store *s, int64_t id, const char *name, const char *definition,
                         const char *updated_by, int *revision_out, char *err, size_t errlen);
/*
 * One test at a revision (0: the newest), as a new object:
 *   {"id", "name", "created_at", "updated_at", "deleted_at" (null while live), "revisions"
 *    (how many), "revision", "revision_name", "definition" (the stored JSON text, a string),
 *    "revision_created_at", "revision_created_by", "baseline_run_id" (the pinned baseline run,
 *    null when none)}
 * Deleted tests are found too (their runs still point at them). SP_ENOTFOUND otherwise.
 */
int sp_store_test_get(sp_store *s, int64_t id, int revision, json_t **out);

/* What a secret's value is stored and shown as in a definition (engine/definition.h's
 * SP_SECRET_MASK). */
#define SP_STORE_SECRET_MASK "********"

/*
 * Creates (id 0) or updates a test as sp_store_test_create/update do, and in the same
 * transaction replaces the test's secrets with secrets (an object name -> string, borrowed;
 * NULL or empty: none). A value equal to SP_STORE_SECRET_MASK keeps the value stored under that
 * name (SP_EINVAL, err naming the secret, when there is none: nothing is written). definition
 * should hold the mask in place of each value. *id_out and *revision_out may be NULL.
 */
int sp_store_test_save(sp_store *s, int64_t id, const char *name, const char *definition,
                       const json_t *secrets, const char *by, int64_t *id_out, int *revision_out,
                       char *err, size_t errlen);
/* A test's secrets as a new object name -> value (empty when none). */
int sp_store_test_secrets(sp_store *s, int64_t id, json_t **out);

/* ---- Policy ---- */

/* The target allowlist as a new array of entry strings, in order (empty: none set). */
int sp_store_allowlist_get(sp_store *s, json_t **out);
/* Replaces the allowlist with entries (an array of strings, validated by the caller). */
int sp_store_allowlist_set(sp_store *s, const json_t *entries);
/* Caps per role as a new object {"admin": {"max_vus", "max_rate", "max_duration_s",
 * "max_concurrent_runs"}, "tester": {...}, "viewer": {...}}; 0 means no cap. */
int sp_store_caps_get(sp_store *s, json_t **out);
/* Stores the roles present in caps (validated by the caller: known roles, all four fields). */
int sp_store_caps_set(sp_store *s, const json_t *caps);
/*
 * A page of live tests, newest first, optionally those whose name contains name_filter
 * (ASCII case-insensitive, taken literally: % and _ are not wildcards). limit 0 means
 * SP_STORE_PAGE_DEFAULT, capped at SP_STORE_PAGE_MAX. Result:
 *   {"items": [{"id", "name", "created_at", "updated_at", "revision", "last_run", "recent"}...],
 *    "total": N}
 * "last_run" is the newest run with a result, {"id", "status", "created_at", "p95" (ms, null
 * without a summary)}, or null; "recent" holds {"id", "status", "p95"} of the newest
 * SP_STORE_RECENT_RUNS such runs, oldest first.
 */
int sp_store_test_list(sp_store *s, const char *name_filter, int include_deleted, int limit,
                       int offset, json_t **out);
/* The id of the live test with exactly this name (for `remote run TEST` and seeding the
 * examples). SP_ENOTFOUND when there is none; *id is 0 then. */
int sp_store_test_find(sp_store *s, const char *name, int64_t *id);
/* Marks a test deleted: it leaves the list and its name is free again; its revisions and runs
 * stay. SP_ENOTFOUND when missing or already deleted. */
int sp_store_test_delete(sp_store *s, int64_t id);
/* Every revision of a test, newest first, without definitions:
 *   [{"revision", "name", "created_at", "created_by", "bytes"}...]. SP_ENOTFOUND when missing. */
int sp_store_test_revisions(sp_store *s, int64_t id, json_t **out);

/* ---- Runs ---- */

typedef enum sp_run_status {
    SP_RUN_QUEUED,
    SP_RUN_RUNNING,
    SP_RUN_PASSED,  /* every threshold held */
    SP_RUN_FAILED,  /* a threshold missed */
    SP_RUN_STOPPED, /* stopped by a user or SIGTERM */
    SP_RUN_ABORTED, /* the daemon died while it was queued or running */
    SP_RUN_ERROR,   /* the test could not start */
    /* The profile ended (or was stopped) but the store could not keep all of its results (the
     * disk was full): some seconds, minute histograms or failure messages are missing, and the
     * run's error names them. Never passed, whatever its thresholds said (migration 0005). */
    SP_RUN_INCOMPLETE,
    /* An agent was lost during a run across locations that went on with the others: its
     * summary names it (agents_lost). Never passed (migration 0010). */
    SP_RUN_DEGRADED,
    SP_RUN_STATUS_COUNT
} sp_run_status;

/* The stable lower-case name stored and shown ("queued", ...); NULL for an unknown value. */
const char *sp_store_run_status_name(sp_run_status st);
/* The status for a name, or -1. */
int sp_store_run_status_parse(const char *name);

/*
 * Creates a queued run of test_id at revision (0: the newest). started_by may be NULL;
 * overrides (borrowed, may be NULL) is kept as compact JSON. SP_ENOTFOUND for a missing or
 * deleted test or a missing revision. *run_id and *revision_out (either may be NULL) get the
 * new run's id and the revision it points at.
 */
int sp_store_run_create(sp_store *s, int64_t test_id, int revision, const char *started_by,
                        const json_t *overrides, int64_t *run_id, int *revision_out, char *err,
                        size_t errlen);

/* Where a scheduled run came from (server/sched/): the run's "origin" is "scheduled". */
typedef struct sp_store_run_origin {
    int64_t schedule_id; /* the schedule that started it */
    int64_t fire_at;     /* the fire time it was started for (ms) */
    int missed;          /* 1: a fire time that passed while the server was down, run at start */
} sp_store_run_origin;
/* sp_store_run_create() for a run started by a schedule (origin not NULL; NULL is "manual"),
 * in the same transaction. */
int sp_store_run_create_as(sp_store *s, int64_t test_id, int revision, const char *started_by,
                           const json_t *overrides, const sp_store_run_origin *origin,
                           int64_t *run_id, int *revision_out, char *err, size_t errlen);
/* Registers the run's request names; names[i] gets name id i, the index the engine's stats use
 * (the definition's name ids). Called once, before the first second: a second call is
 * SP_ESTATE, more than SP_DEF_MAX_NAMES names SP_ELIMIT, a missing run SP_ENOTFOUND. */
int sp_store_run_names_set(sp_store *s, int64_t run_id, const char *const *names, size_t n);
/* Marks the run's names whose kinds[i] is SP_NAME_GROUP (definition.h) as groups (after
 * sp_store_run_names_set, with the same n): they are listed under "groups" by
 * sp_store_run_get and carry "kind": "group" in series. */
int sp_store_run_name_kinds_set(sp_store *s, int64_t run_id, const uint8_t *kinds, size_t n);
/* Moves a queued run to running and sets started_at. SP_ESTATE when it is not queued. Other
 * statuses are reached through sp_store_run_finish(). */
int sp_store_run_set_status(sp_store *s, int64_t run_id, sp_run_status status);
/*
 * Ends a queued or running run: status is passed, failed, stopped, aborted, error or incomplete;
 * sets ended_at. verdicts and summary (borrowed, may be NULL) are stored as compact JSON; error
 * (may be NULL) says why for error, aborted and incomplete. SP_ESTATE when the run already ended,
 * SP_EINVAL for a status that does not end a run.
 */
int sp_store_run_finish(sp_store *s, int64_t run_id, sp_run_status status, const json_t *verdicts,
                        const json_t *summary, const char *error);
/*
 * One run as a new object: {"id", "test_id", "test_name", "revision", "status", "started_by",
 * "created_at", "started_at", "ended_at" (null until set), "overrides", "verdicts", "summary"
 * (parsed JSON or null), "error", "origin" ("manual" or "scheduled"), "schedule_id", "fire_at"
 * (the schedule and its fire time, null for a manual run), "fire_missed" (true: a fire time
 * missed while the server was down, run at the next start), "names" (array of request names by
 * name id), "last_second" (the highest second stored, null before the first), "load_changes" (as
 * sp_store_run_load_changes)}. SP_ENOTFOUND
 * when missing.
 */
int sp_store_run_get(sp_store *s, int64_t run_id, json_t **out);

typedef struct sp_store_run_filter {
    int64_t test_id;      /* 0: any test */
    int status;           /* an sp_run_status, or -1 for any */
    int64_t created_from; /* created_at >= this (ms); 0: no bound */
    int64_t created_to;   /* created_at < this (ms); 0: no bound */
    const char *origin;   /* "manual" or "scheduled" (borrowed); NULL: any */
    int limit;            /* 0: SP_STORE_PAGE_DEFAULT; capped at SP_STORE_PAGE_MAX */
    int offset;
} sp_store_run_filter;
/* Initialises a filter that matches every run. */
void sp_store_run_filter_init(sp_store_run_filter *f);
/* A page of runs, newest first: {"items": [run objects as sp_store_run_get() without "summary",
 * "names" and "last_second", with the summary's headline figures "requests", "rps",
 * "error_rate", "p95" (ms) and "duration_s" instead (null while there is no summary)],
 * "total": N}. */
int sp_store_run_list(sp_store *s, const sp_store_run_filter *f, json_t **out);
/*
 * Crash recovery, called once at start-up before any run starts: every run still queued or
 * running was owned by a process that is gone; it becomes aborted (ended_at = now, error says
 * so). Its stored seconds are kept. *n (may be NULL) gets how many runs changed.
 */
int sp_store_runs_mark_aborted(sp_store *s, int *n);

/* ---- Series ---- */

/* One request name in one second (plain numbers, so the store needs nothing from metrics.c). */
typedef struct sp_store_second {
    uint32_t name_id;
    uint64_t count;  /* finished requests */
    uint64_t errors; /* of which failed */
    uint64_t p50_us, p95_us, p99_us, max_us;
    uint64_t bytes_in, bytes_out;
    const uint64_t *status; /* counts by status code [0, nstatus); may be NULL */
    size_t nstatus;
    const uint64_t *error_kinds; /* counts by sp_errkind [0, nerror_kinds); may be NULL */
    size_t nerror_kinds;
} sp_store_second;

/* Run-level values of one second. */
typedef struct sp_store_tick {
    uint32_t active_vus, target_vus;
    uint64_t iterations, dropped, lag_us_max;
    /* The latency of every request of the second (merged over names), kept when requests > 0:
     * the chart of all requests, which per-name percentiles cannot be merged into later. */
    uint64_t requests;
    uint64_t p50_us, p95_us, p99_us, max_us;
    /* Open model only (open != 0): arrivals planned for the second (per second), and those that
     * started an iteration. */
    int open;
    double target_rate;
    uint64_t arrivals;
    /* Read back by sp_store_run_ticks_each: whether the second has its latency (p50/p95/p99
     * above); 0 for a second without requests and for seconds stored before migration 0006.
     * Not read when writing (requests > 0 says it). */
    int has_latency;
    /* A run across locations: the second by location, a JSON object as the live point's
     * "locations" (docs/live.md); NULL otherwise. Written only (not read back by
     * sp_store_run_ticks_each); sp_store_run_series answers it as ticks.locations. */
    const char *locations;
} sp_store_tick;

/*
 * Stores second `second` (0 = the run's first) of a run: tick (may be NULL) and names[0..n),
 * all in one transaction, with statements prepared once per connection. The aggregator calls it
 * once a second per running run. A second already stored is refused (SP_ESTATE, nothing of it
 * written); a name id not registered with sp_store_run_names_set() is SP_EINVAL.
 */
int sp_store_run_second_add(sp_store *s, int64_t run_id, int64_t second, const sp_store_tick *tick,
                            const sp_store_second *names, size_t n);

/* One request name's latency histogram over one minute: dense bucket counts in sp_hist's layout
 * (index i = sp_hist bucket i; nbuckets = sp_hist_buckets()). */
typedef struct sp_store_hist {
    uint32_t name_id;
    const uint64_t *buckets;
    size_t nbuckets;
} sp_store_hist;

/*
 * Stores the histograms of minute `minute` (seconds [60*minute, 60*minute+60)) of a run, sparse
 * (non-empty buckets only), in one transaction. A minute already stored for a name is replaced,
 * so the aggregator may write the last, partial minute again when the run ends.
 */
int sp_store_run_minute_hist_add(sp_store *s, int64_t run_id, int64_t minute,
                                 const sp_store_hist *hists, size_t n);

/*
 * Merges the stored minute histograms of [from_minute, to_minute) for one name (name_id >= 0)
 * or every name (name_id < 0) by adding their counts into buckets[0..nbuckets) (the caller
 * zeroes it first, or keeps adding). *total (may be NULL) gets the number of values added.
 * Rebuild an sp_hist with sp_hist_add_bucket() to read percentiles. A stored histogram with
 * another bucket layout, or a corrupt one, is SP_EIO.
 */
int sp_store_window_hist(sp_store *s, int64_t run_id, int64_t name_id, int64_t from_minute,
                         int64_t to_minute, uint64_t *buckets, size_t nbuckets, uint64_t *total);

/*
 * Reads back the per-second series of seconds [from_second, to_second) (to_second < 0: to the
 * end) for one name (name_id >= 0) or all, as a new object, in columns as the charts draw them:
 *   {"ticks": {"second": [...], "active_vus": [...], "target_vus": [...], "iterations": [...],
 *              "dropped": [...], "lag_us_max": [...], "p50": [...], "p95": [...], "p99": [...],
 *              "max": [...] (all requests of the second, us; null without requests or in a run
 *              recorded before schema version 7), "target_rate": [...], "arrivals": [...] (open
 *              model; null otherwise)},
 *    "names": [{"id", "name", "second": [...], "count": [...], "errors": [...], "p50": [...],
 *               "p95": [...], "p99": [...], "max": [...], "bytes_in": [...], "bytes_out": [...],
 *               "status": {"200": [...], "500": [...]},
 *               "error_kinds": {"0": [...], "5": [...]}}...]}
 * Every array of a name has one entry per second stored (in "second"); status and error_kinds
 * hold one such column per status code or sp_errkind value that occurs in the window (zeros
 * where a second had none). Error kinds are keyed by their sp_errkind number because the store
 * does not know their names; the server names them with sp_errkind_name(). Latencies are
 * microseconds.
 */
int sp_store_run_series(sp_store *s, int64_t run_id, int64_t name_id, int64_t from_second,
                        int64_t to_second, json_t **out);

/* A load change of a running run (POST /runs/:id/load). */
typedef struct sp_store_load_change {
    int64_t at_ms;      /* wall clock, ms since 1970 */
    int64_t elapsed_ms; /* since the run's start */
    double target;      /* VUs (closed model) or iterations/s (open) */
    int64_t ramp_ms;    /* reached linearly over this; 0: at once */
    const char *by;     /* who asked (borrowed); may be NULL */
} sp_store_load_change;
/* Records a load change. SP_ENOTFOUND for a missing run. */
int sp_store_run_load_change_add(sp_store *s, int64_t run_id, const sp_store_load_change *c);
/* A run's load changes, oldest first, as a new array:
 * [{"at", "elapsed_ms", "target", "ramp_ms", "by"}...]. SP_ENOTFOUND for a missing run. */
int sp_store_run_load_changes(sp_store *s, int64_t run_id, json_t **out);
/*
 * Calls fn(ctx, second, row) for every stored row of a run's seconds, ordered by second then
 * name id, with row's count, errors and percentiles (status, error_kinds and bytes are left
 * out: row->status is NULL). For comparisons, which need the numbers rather than JSON columns.
 * SP_ENOTFOUND for a missing run.
 */
typedef void (*sp_store_second_fn)(void *ctx, int64_t second, const sp_store_second *row);
int sp_store_run_seconds_each(sp_store *s, int64_t run_id, sp_store_second_fn fn, void *ctx);
/* Calls fn(ctx, second, tick) for every stored second of a run, in order, with the tick's
 * lag_us_max and latency (has_latency 0 for a second without requests, and for every second
 * stored before migration 0006); the other fields are 0. */
typedef void (*sp_store_tick_fn)(void *ctx, int64_t second, const sp_store_tick *tick);
int sp_store_run_ticks_each(sp_store *s, int64_t run_id, sp_store_tick_fn fn, void *ctx);

/* ---- Baselines ---- */

/*
 * A test's pinned baseline: *run_id (0: none pinned) and *settings, its comparison settings as
 * stored (a new object, or NULL when it has none). Deleted tests are found too. SP_ENOTFOUND for
 * a missing test. Either out pointer may be NULL.
 */
int sp_store_test_baseline_get(sp_store *s, int64_t test_id, int64_t *run_id, json_t **settings);
/* Pins run_id (0: unpins) as a live test's baseline and replaces its comparison settings
 * (borrowed, NULL: none). The caller checks that the run exists and has ended. SP_ENOTFOUND for
 * a missing or deleted test. */
int sp_store_test_baseline_set(sp_store *s, int64_t test_id, int64_t run_id,
                               const json_t *settings);
/* The newest run of a test with an id below before_run_id that passed and has a summary, in
 * *run_id; SP_ENOTFOUND (and 0) when there is none. */
int sp_store_run_last_passed(sp_store *s, int64_t test_id, int64_t before_run_id, int64_t *run_id);
/* Replaces a run's "baseline" object (borrowed; NULL clears it): what its start asked and, once
 * it has ended, what the comparison with that baseline found. SP_ENOTFOUND for a missing run. */
int sp_store_run_baseline_set(sp_store *s, int64_t run_id, const json_t *baseline);

/* Failure messages: adds count to (run, name, message), creating the row when new. */
typedef struct sp_store_failure {
    uint32_t name_id;
    const char *message; /* borrowed; cut to SP_FAIL_MSG_MAX bytes */
    uint64_t count;
} sp_store_failure;
int sp_store_run_failures_add(sp_store *s, int64_t run_id, const sp_store_failure *f, size_t n);
/* [{"name", "name_id", "message", "count"}...], most frequent first, as a new array. */
int sp_store_run_failures(sp_store *s, int64_t run_id, json_t **out);

#endif
