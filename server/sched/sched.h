/*
 * sched.h - schedules of tests and the scheduler of `stampede serve` (docs/api-schedules.md).
 *
 * A schedule is a cron expression in a time zone (cron.h, tz.h) with optional run overrides,
 * a policy for a fire time that comes while a run of the test is still going (if_running:
 * "skip", or "queue": start it when that run ends, at most one waiting) and one for fire times
 * that passed while the server was down (on_missed: "skip", or "run_once" at the next start).
 * It belongs to the user who made it (its owner): its runs start as that user, with that
 * user's role and caps as they are at the fire time, and are recorded with origin
 * "scheduled", the schedule and the fire time (store.h). Every fire time is recorded with what
 * became of it (schedule_fires: started, queued, skipped, missed, failed).
 *
 * The scheduler is one thread. It keeps no schedule in memory: each time it wakes it reads the
 * schedules that are not paused, handles every fire time up to now (each schedule's
 * handled_to moves past it in the same transaction as its record), and sleeps until the
 * earliest next fire time, at most SCHED_IDLE_S, or until sp_sched_poke(). So a schedule saved
 * through the API, a restart, or a run that ended are all seen the same way, and a fire time
 * is handled at most once whatever happens around a restart.
 *
 * The clock: fire times are compared with the wall clock plus cfg->clock_offset_ms, a test hook
 * (STAMPEDE_TEST_CLOCK, docs/operations.md) that makes the scheduler believe it is another
 * time, so that tests reach a fire time or a daylight-saving change in seconds. Everything else
 * (runs, logs) keeps the real time.
 *
 * Calling sequence (server/cli/cmd_serve.c): sp_sched_new() after the run manager and the
 * accounts; sp_sched_start() before the HTTP server (the first pass handles the fire times
 * missed while the server was down); the API's calls while serving; sp_sched_free() after the
 * HTTP server stops and before the run manager is freed.
 *
 * Threads: every function but sp_sched_new and sp_sched_free may be called from any thread.
 * The API's calls share one SQLite connection under a mutex (each call is a few indexed
 * statements, plus sp_runs_check's own work when overrides are saved); the scheduler thread
 * has its own connections. Lock order: the API's mutex, then the run manager's.
 *
 * Errors: 0 or a negative SP_E* code with the reason in msg or errs: SP_EINVAL (errs names
 * each field: "cron", "timezone", "overrides.users"), SP_ENOTFOUND (no such test or schedule),
 * SP_EFORBIDDEN (another user's schedule, and the caller is no admin), SP_ELIMIT (too many
 * schedules, or an override beyond a cap: msg names it), SP_EIO (the database).
 */
#ifndef SP_SCHED_H
#define SP_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/common.h"

struct sp_runs;
struct sp_auth;

typedef struct sp_sched sp_sched;

typedef struct sp_sched_config {
    const char *db_path;     /* the migrated database (copied) */
    struct sp_runs *runs;    /* starts the runs (borrowed; outlives the scheduler) */
    struct sp_auth *auth;    /* owners' roles, the audit log (borrowed); NULL: every owner is
                                an admin and nothing is audited */
    int64_t clock_offset_ms; /* test hook: the scheduler's clock is the wall clock plus this */
} sp_sched_config;

int sp_sched_new(const sp_sched_config *cfg, sp_sched **out, char *err, size_t errlen);
/* Starts the scheduler thread. SP_ESYS when it cannot. */
int sp_sched_start(sp_sched *s);
/* Stops the thread (a start in progress finishes first); pokes are still harmless after it.
 * The daemon stops the scheduler before the run manager, and frees it after. */
void sp_sched_stop(sp_sched *s);
/* sp_sched_stop(), then frees. NULL is ignored. */
void sp_sched_free(sp_sched *s);
/* Something a schedule waits for may have changed (a run ended): the thread looks now. Never
 * blocks; any thread, the run manager's waiter threads included. */
void sp_sched_poke(sp_sched *s);
/* The scheduler's clock, in ms since the epoch. */
int64_t sp_sched_now_ms(const sp_sched *s);
/* Passes of the scheduler thread so far (tests wait for one after a poke). */
uint64_t sp_sched_passes(sp_sched *s);

/* Who asks: schedules are changed by their owner or an admin. */
typedef struct sp_sched_who {
    const char *user; /* the principal's user name ("local" without access control) */
    const char *role; /* its role, for the overrides' caps */
    int admin;        /* may change any schedule */
} sp_sched_who;

/*
 * A schedule, as every call below answers it (a new object):
 *   {"id", "test_id", "test_name", "owner", "cron", "timezone", "overrides" (object or null),
 *    "if_running", "on_missed", "paused", "created_at", "updated_at", "queued_at" (a fire time
 *    waiting for the test's run to end, or null), "follows_clock" (the hour field covers every
 *    hour: cron.h's daylight-saving rule), "next_fires": [{"at" (ms), "local" (ISO 8601 with
 *    the zone's offset)}...] (SP_SCHED_NEXT_SHOWN, from now), "last_fires": [{"id", "fire_at",
 *    "at", "outcome", "run_id", "run_status", "detail"}...] (the newest 10, newest first)}
 */

/*
 * Creates a schedule of test test_id owned by who->user from body {"cron", "timezone"
 * (default "UTC"), "overrides", "if_running", "on_missed", "paused"}. The overrides are checked
 * against the test as sp_runs_check() does, with who's caps. Fire times before now never fire.
 */
int sp_sched_create(sp_sched *s, int64_t test_id, const json_t *body, const sp_sched_who *who,
                    json_t **out, sp_errlist *errs, char *msg, size_t msglen);
/* Changes the fields body gives (the same fields; each optional). A new cron expression or
 * zone never fires for times already past. */
int sp_sched_update(sp_sched *s, int64_t id, const json_t *body, const sp_sched_who *who,
                    json_t **out, sp_errlist *errs, char *msg, size_t msglen);
/* Pauses or resumes. Fire times while paused never fire, not even when it resumes. */
int sp_sched_set_paused(sp_sched *s, int64_t id, int paused, const sp_sched_who *who, json_t **out,
                        char *msg, size_t msglen);
/* Deletes a schedule and its history (its runs keep its number). *test_id_out (may be NULL)
 * gets its test. */
int sp_sched_delete(sp_sched *s, int64_t id, const sp_sched_who *who, int64_t *test_id_out,
                    char *msg, size_t msglen);
int sp_sched_get(sp_sched *s, int64_t id, json_t **out);
/* {"items": [schedule...]} of test test_id, oldest first; SP_ENOTFOUND for no such test. */
int sp_sched_list(sp_sched *s, int64_t test_id, json_t **out);

/*
 * The next `count` fire times (at most SP_SCHED_NEXT_SHOWN * 4) of cron in zone after from_ms
 * (0: the scheduler's now): {"cron", "timezone", "follows_clock", "next_fires": [...]}, or
 * SP_EINVAL with errs naming "cron" or "timezone" (an expression that never fires is refused too).
 * For the dashboard as the user types. Pure but for reading the zone file.
 */
int sp_sched_preview(const sp_sched *s, const char *cron, const char *zone, int count,
                     int64_t from_ms, json_t **out, sp_errlist *errs);

#endif
