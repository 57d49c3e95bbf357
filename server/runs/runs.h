/*
 * runs.h - the run manager of `stampede serve`: starts stored tests as engine runs, records
 * every second of them in the store, streams them to the live WebSocket, and ends them with a
 * verdict.
 *
 * One run is one sp_engine with its own worker threads and aggregator thread, plus one waiter
 * thread owned by the manager. The engine's on_second callback, on the aggregator thread,
 * writes the second to the store through the run's own SQLite connection (store.h: one
 * connection per thread), folds it into live totals kept in memory for GET /runs/:id, keeps a
 * per-name histogram of the current minute (flushed at minute boundaries and at the end), and
 * publishes a compact JSON point to sp_live. The waiter thread blocks in sp_engine_wait(), then
 * flushes the last minute, stores failure messages, judges thresholds, stores the summary and
 * the final status (passed, failed, stopped, error, incomplete) and publishes the end to
 * sp_live. A run leaves the manager when its waiter thread ends; after that it is only in the
 * store.
 *
 * A full disk: a second (or a minute's histograms) that cannot be stored is not waited for, the
 * aggregator keeps up with the engine; it is counted, and the run ends "incomplete" (never
 * passed, whatever its thresholds said) with the lost seconds named in its error ("18 of 31
 * seconds were not stored (seconds 12-29)") and in its summary's "lost" object. The end's own
 * writes (the last minute, the failure messages, the status) wait for space instead, retried
 * every SP_RUNS_END_RETRY_MS while the disk is full, with the run still active ("ending" in its
 * live totals); sp_runs_stop_all() stops the waiting, and a run whose end could not be stored
 * stays "running" in the store until the next start marks it aborted.
 *
 * Calling sequence (serve.c):
 *     sp_runs_new(&cfg, &runs, err, sizeof err);    after the store was migrated and recovered
 *     ... sp_runs_start / _stop / _set_target / _live from HTTP handlers ...
 *     sp_runs_shutdown(runs);                       SIGTERM: graceful stop of every run, waits
 *     sp_runs_free(runs);                           after the HTTP server and before sp_live_free
 *
 * Threads: every function except sp_runs_new and sp_runs_free may be called from any thread
 * at once (HTTP workers, the live service thread through sp_runs_backlog). The manager keeps
 * one mutex for its list of active runs and one per run for its live totals and backlog; lock
 * order is manager, then run. Nothing here blocks on the network or on a client.
 *
 * Errors: 0 or a negative SP_E* code. SP_ENOTFOUND: no such test, or no such active run;
 * SP_EINVAL: invalid overrides or definition (errs lists each problem with its path);
 * SP_ELIMIT: a cap would be passed (sp_runs_started.cap, or sp_runs_set_target's *cap, gets its
 * name: "max_vus", "max_duration", "max_rate", "max_runs", or a role's "max_duration_s",
 * "max_concurrent_runs"; the message says more); SP_ESTATE: the manager is shutting down, or the
 * run is not running; SP_EFULL/SP_EUNAVAILABLE/SP_EIO: the store failed (store.h; SP_EFULL: the
 * disk is full); SP_ESYS: the engine failed (the message says why).
 */
#ifndef SP_RUNS_H
#define SP_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/common.h"
#include "engine/definition.h"
#include "agents/agents.h"
#include "live/live.h"
#include "runs/policy.h"

typedef struct sp_runs sp_runs;

/* A run that has ended, as the manager tells it (sp_runs_config.on_end). */
typedef struct sp_runs_end {
    int64_t run_id;
    int64_t test_id;
    const char *status; /* "passed", "failed", "stopped", "error" (static) */
} sp_runs_end;

/*
 * Called once per run, on its waiter thread, after its end is stored and its slot given back
 * (so a start made from here counts the run as gone). It must not block: the daemon registers
 * a function that hands the end to the webhook deliveries and wakes the scheduler
 * (server/cli/cmd_serve.c), so that the manager knows neither.
 */
typedef void (*sp_runs_end_fn)(void *ud, const sp_runs_end *e);

typedef struct sp_runs_config {
    const char *db_path;      /* the database every run's connection opens */
    const char *data_dir;     /* the only directory definitions read CSV files from (confined) */
    sp_live *live;            /* borrowed, may be NULL (no live stream) */
    uint32_t max_vus;         /* VUs of any stage or target; 0: SP_RUNS_MAX_VUS */
    uint64_t max_duration_ms; /* a run's planned duration; 0: SP_RUNS_MAX_DURATION_S */
    double max_rate;          /* open model: iterations/s; 0: SP_RUNS_MAX_RATE */
    unsigned max_runs;        /* runs going at once; 0: SP_RUNS_MAX_CONCURRENT */
    unsigned engine_threads;  /* worker threads per run; 0: SP_RUNS_ENGINE_THREADS */
    sp_runs_end_fn on_end;    /* may be NULL */
    void *on_end_ud;
    sp_agents *agents; /* borrowed, may be NULL: runs with locations are refused */
} sp_runs_config;

/* Creates the manager. cfg's strings are copied; live is borrowed and must outlive it. */
int sp_runs_new(const sp_runs_config *cfg, sp_runs **out, char *err, size_t errlen);
/* Stops every run at once (immediate), waits for their waiter threads, frees. NULL ignored.
 * Call after the HTTP server is stopped (no handler may still use runs). */
void sp_runs_free(sp_runs *r);

/*
 * Turns the REST overrides object {"users": N, "duration": "30s", "stages": [...],
 * "base_url": "..."} (borrowed, may be NULL or empty) into sp_overrides. stages_text gets the
 * stages as JSON text (free() it; NULL when none), which ov->stages points at. Unknown fields
 * and wrong types are added to errs with paths "overrides.FIELD"; returns SP_EINVAL then.
 * ov->base_url points into obj: obj must outlive ov.
 */
int sp_runs_overrides_parse(const json_t *obj, sp_overrides *ov, char **stages_text,
                            sp_errlist *errs);

/* Which run a start compares itself with when it ends (docs/api-runs.md, "CI gate"). */
typedef enum sp_runs_baseline {
    SP_RUNS_BASELINE_NONE,        /* none asked: relative thresholds use the pinned one, if any */
    SP_RUNS_BASELINE_PINNED,      /* the test's pinned baseline; refused when none is pinned */
    SP_RUNS_BASELINE_LAST_PASSED, /* the test's newest passed run (none: nothing compared) */
    SP_RUNS_BASELINE_RUN,         /* baseline_run, which must have ended with results */
} sp_runs_baseline;

/* "pinned", "last-passed", a run id (as a JSON integer or a string of digits), or NULL/null:
 * into *kind and *run_id. SP_EINVAL with msg otherwise. */
int sp_runs_baseline_parse(const json_t *v, sp_runs_baseline *kind, int64_t *run_id, char *msg,
                           size_t msglen);

/* What to start: a stored test, with the REST overrides and the starter's rules. */
typedef struct sp_runs_start_args {
    int64_t test_id;
    int revision;                      /* 0: the newest */
    const json_t *overrides;           /* {"users", "duration", "stages", "base_url"} (see
                                          sp_runs_overrides_parse); borrowed, NULL: none */
    const char *started_by;            /* recorded with the run; may be NULL */
    const sp_policy_rules *rules;      /* the starter's caps and the target allowlist
                                          (server/runs/policy.h); borrowed, NULL: none, and an
                                          in-process starter trusted with every secret */
    const sp_store_run_origin *origin; /* the schedule that starts it (borrowed); NULL: a
                                          user's start ("manual") */
    sp_runs_baseline baseline;         /* compare the run with a baseline when it ends */
    int64_t baseline_run;              /* SP_RUNS_BASELINE_RUN: the run */
    int fail_on_regression;            /* a significant regression fails the run (with no baseline
                                          asked: the pinned one) */
    const json_t *locations;           /* {"near": 60, "far": 40}: a run across agents
                                          (agents.h); borrowed, NULL: the server's own engine */
} sp_runs_start_args;

/* What a start resolved, and why it failed. */
typedef struct sp_runs_started {
    int64_t run_id;       /* the new run; also set when the engine could not start (SP_ESYS) */
    int revision;         /* the revision loaded (the newest when the args asked for 0) */
    char base_url[512];   /* the base_url the run sends load to, as written: the override, else
                             the definition's; cut at 511 bytes, "" when none (for the audit log) */
    int secrets_withheld; /* 1: the test has secrets this start may not carry (a base_url
                             override or a revision by another user, started by neither the
                             owner nor an admin: sp_policy_test_secrets); the run sends the
                             mask in their place */
    const char *cap;      /* SP_ELIMIT: the cap's name (static), else NULL */
    char msg[512];        /* a one-line reason for any failure */
} sp_runs_started;

/*
 * Starts a run of a->test_id at a->revision with a->overrides. A baseline asked for is resolved
 * first (a->baseline): a pinned one that is not there, or a run that does not exist or has no
 * results, is SP_EINVAL with the error's path "baseline"; the run's "baseline" object records
 * what was asked. When the run ends it is compared with that baseline (runs/comparison.h), the
 * result stored in its "baseline" object, and with a->fail_on_regression a significant
 * regression turns "passed" into "failed". Thresholds relative to a baseline are judged against
 * the asked baseline, else the test's pinned one. The test's secrets are put back
 * into the stored definition (which holds the mask in their place) before it is loaded with
 * the overrides, when the starter (a->started_by, a->rules->role) may take them there
 * (sp_policy_test_secrets; out->secrets_withheld says when not); then the profile is checked
 * against the manager's caps and a->rules (the role's caps, the target allowlist:
 * server/runs/policy.h), a slot is taken (max_runs, the role's max_concurrent_runs), and the run is
 * recorded and started. On success out->run_id is the new run, already running. Whatever happens,
 * *out says what was resolved so far and out->msg why a start failed. On SP_EINVAL errs (the
 * caller's, initialised) holds every problem (nothing was stored), a target outside the allowlist
 * among them (with the path of its URL); on SP_ELIMIT out->cap names the cap. An engine that cannot
 * start leaves a run with status "error" and returns SP_ESYS with its id in out->run_id.
 * A store that cannot record the run returns its code (SP_EFULL on a full disk), out->run_id
 * set when the run's row was made before it failed (it is then marked "error" when the store
 * allows).
 * Blocking: with an allowlist, host names are resolved (DNS) before the start.
 */
int sp_runs_start(sp_runs *r, const sp_runs_start_args *a, sp_runs_started *out, sp_errlist *errs);

/*
 * What sp_runs_start() checks before it takes a slot, without storing or starting anything:
 * the test and revision exist, the overrides apply and the definition with them is valid, and
 * it is within the manager's caps, a->rules' caps and the target allowlist. For a schedule
 * being saved (server/sched/). Returns and fills *out and errs as sp_runs_start() does (never
 * a run id). Blocking: with an allowlist, host names are resolved.
 */
int sp_runs_check(sp_runs *r, const sp_runs_start_args *a, sp_runs_started *out, sp_errlist *errs);

/* Whether a run of test_id is active (started and not yet ended). */
int sp_runs_test_active(sp_runs *r, int64_t test_id);

/* Stops an active run: graceful lets requests in flight finish (bounded by the definition's
 * graceful_stop), immediate aborts them. Returns at once; the run becomes "stopped" when its
 * threads have ended. SP_ENOTFOUND when the run is not active. */
int sp_runs_stop(sp_runs *r, int64_t run_id, int graceful);

/* Changes an active run's target (VUs, or iterations/s for the open model) over ramp_ms, and
 * records the change (when, the target, the ramp, by whom: by may be NULL) in the store, on a
 * short-lived connection of the calling thread, and in the run's live totals, so that the
 * charts and the report mark it. SP_ELIMIT (cap set) beyond max_vus or max_rate, SP_ENOTFOUND
 * when not active, SP_ESTATE when the engine is no longer running, SP_EINVAL for a negative or
 * non-finite target. A change the store could not record is still made (and logged). */
int sp_runs_set_target(sp_runs *r, int64_t run_id, double target, uint32_t ramp_ms, const char *by,
                       const char **cap, char *msg, size_t msglen);

/*
 * The live totals of an active run as a new object: {"elapsed_s", "second" (the last one
 * seen, null before the first), "vus", "target_vus", "requests", "failures", "rps",
 * "error_rate", "p50", "p95", "p99", "max" (ms), "iterations", "dropped", "names": [{"name",
 * "requests", "failures", "rps", "error_rate", "p50", "p95", "p99", "max"}...],
 * "last": the last published point, "lost_seconds": seconds the store could not keep so far,
 * "ending": true while the engine has ended and the end waits for the disk, "load_changes":
 * [{"at", "elapsed_ms", "target", "ramp_ms", "by"}...]}. SP_ENOTFOUND when the run is not
 * active.
 */
int sp_runs_live(sp_runs *r, int64_t run_id, json_t **out);

/* How many runs are active now. */
size_t sp_runs_active(sp_runs *r);

/*
 * sp_live's backlog function (sp_live_set_backlog_fn(live, sp_runs_backlog, runs)): the run so
 * far from memory while it is active, {"run_id", "status": "running", "seconds": [points...]},
 * at most SP_LIVE_BACKLOG_MAX_BYTES (the oldest seconds are dropped first); for a run that is
 * not active, {"run_id", "status", "seconds": []} from the store (one short-lived connection
 * of the calling thread); NULL when there is no such run.
 */
char *sp_runs_backlog(void *runs, int64_t run_id, size_t *len);

/* Refuses new starts from now on (SP_ESTATE) and stops every active run (graceful or
 * immediate; an immediate stop upgrades an earlier graceful one). Returns at once; runs leave
 * the manager (sp_runs_active) once they have recorded "stopped". */
void sp_runs_stop_all(sp_runs *r, int graceful);
/* sp_runs_stop_all(r, 1), then waits until every run has recorded its status. */
void sp_runs_shutdown(sp_runs *r);

#endif
