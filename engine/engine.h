/*
 * engine.h - runs a loaded test definition: virtual users on worker threads.
 *
 * Calling sequence (one controlling thread):
 *     sp_engine_new(def, &opts, &e, err, sizeof err);
 *     sp_engine_prepare(e);              // optional: the threads and the open model's pool
 *     sp_engine_start(e);
 *     ... sp_engine_stop(e, graceful) / sp_engine_set_target(e, ...) from any thread ...
 *     sp_engine_wait(e);                 // returns when the profile ends or a stop completes
 *     totals = sp_engine_totals(e);      // whole-run stats, valid until sp_engine_free
 *     sp_engine_free(e);
 *
 * Inside: N worker threads (default one per core), each owning one libcurl multi handle driven
 * by curl_multi_socket_action and epoll, a timer heap for think times, and its share of the VUs.
 * Each VU keeps its own easy handle, so its keep-alive connection is reused across its requests.
 * Once a second each worker sends its stats for that second to the aggregator thread through a
 * queue; the aggregator merges them, adds them to the totals, and calls on_second.
 *
 * Threads: sp_engine_stop, sp_engine_set_target and the read-only getters may be called from any
 * thread; on_second runs on the aggregator thread and must not block for long (it delays the
 * next second, never the workers). No function here may be called from a signal handler.
 */
#ifndef SP_ENGINE_H
#define SP_ENGINE_H

#include <stdint.h>

#include "engine/definition.h"
#include "engine/metrics.h"

typedef struct sp_engine sp_engine;

/* Called once per second of the run, the last one (in which the profile ended or the run was
 * stopped) with the requests that finished after it in the graceful tail, with that
 * second's merged stats (borrowed for the call). second is 0-based from the start. */
typedef void (*sp_second_fn)(void *ud, uint64_t second, const sp_stats *s);

struct sp_tracerec;

typedef struct sp_engine_opts {
    unsigned threads;       /* worker threads; 0: one per online core */
    uint64_t seed;          /* random seed; 0: from the clock */
    sp_second_fn on_second; /* may be NULL */
    void *ud;
    /* Target allowlist (borrowed, already resolved; must outlive the engine). NULL: every
     * target is allowed and no callback is installed. Otherwise every new connection is
     * checked after DNS resolution (CURLOPT_OPENSOCKETFUNCTION) and every request, on a reused
     * connection or after a redirect too, against its connected address (CURLOPT_PREREQFUNCTION);
     * a refused one fails with the error kind "blocked". */
    const struct sp_allowlist *allowlist;
    /* NULL for a load run. Set only by sp_trace_run (trace.h) to its recorder (tracerec.h): one
     * worker and one VU of the pass's class go once through on_start and each task, then the
     * run ends. */
    struct sp_tracerec *trace;
    /* A run across agents (server side): N > 0 makes an engine with no threads of its own
     * whose N workers are remote, fed with sp_engine_feed_second and sp_engine_feed_end. Its
     * aggregator merges them as it merges local workers (grace for late ones, totals,
     * stop_when), so the run's figures are the ones one engine would give for the same
     * samples. At most SP_WIRE_MAX_AGENTS. */
    unsigned remote_workers;
    /* Called once (aggregator thread, ud) when a load.stop_when condition stops the run: a
     * run of remote workers forwards the stop to them. May be NULL. */
    void (*on_break)(void *ud);
    /* An agent's share of a run across agents (engine/share.h): added to every VU number, so
     * {{vu}} stays unique over the run, and its partition of every unique CSV file. */
    uint32_t vu_base;
    uint32_t csv_part_index, csv_part_count;
} sp_engine_opts;

/* def is borrowed and must outlive the engine. Fails with a reason in err (e.g. curl init). */
int sp_engine_new(const sp_def *def, const sp_engine_opts *opts, sp_engine **out, char *err,
                  size_t errlen);
/* Starts the worker threads, which make what they need before the run's clock starts (the
 * open model's VU pool: its curl handles), and returns when they are ready to go. Optional:
 * sp_engine_start prepares when this was not called; call it ahead when the start must fall on
 * an instant (an agent's). SP_ESTATE once started. */
int sp_engine_prepare(sp_engine *e);
/* Starts the run's clock (preparing first when sp_engine_prepare was not called): the
 * profile's time 0 is now. SP_ESTATE if already started. */
int sp_engine_start(sp_engine *e);
/* Stops the run: graceful lets requests in flight finish (bounded by the definition's
 * graceful_stop_ms) and starts no new ones; immediate aborts requests in flight. Idempotent; a
 * later immediate stop upgrades an earlier graceful one. Returns at once. */
void sp_engine_stop(sp_engine *e, int graceful);
/* Changes the target (VUs for the closed model, iterations/s for the open one) from now on,
 * reached linearly over ramp_ms (0: at once); the rest of the profile's stages are dropped and
 * the run goes on until its planned end. SP_ESTATE when not running. */
int sp_engine_set_target(sp_engine *e, double target, uint32_t ramp_ms);
/* The target now (VUs for the closed model, iterations/s for the open one), with any change
 * from sp_engine_set_target; 0 before the start. Any thread. */
double sp_engine_target(sp_engine *e);
/* Blocks until the run has ended and every thread has exited. Returns 0, or SP_ESTATE when not
 * started. */
int sp_engine_wait(sp_engine *e);
/* Whole-run totals; complete after sp_engine_wait, owned by the engine. */
const sp_stats *sp_engine_totals(const sp_engine *e);
/* Milliseconds since start (frozen at the end after wait). */
uint64_t sp_engine_elapsed_ms(const sp_engine *e);
/* 1 when the run was ended by sp_engine_stop rather than by its profile. */
int sp_engine_was_stopped(const sp_engine *e);
/* The load at which a run broke: filled when a load.stop_when condition stopped it. */
typedef struct sp_break {
    uint64_t second;     /* 0-based second whose end met the condition */
    double target;       /* the profile's target then: VUs (closed) or arrivals/s (open) */
    uint32_t active_vus; /* VUs running (closed) or busy (open) at that second's end */
    size_t condition;    /* index into def->load.stop_when */
    double measured;     /* the condition's value over the window, in its unit */
} sp_break;
/* 1 and *out when a stop_when condition ended the run, else 0. Complete after sp_engine_wait;
 * any thread. */
int sp_engine_broke(const sp_engine *e, sp_break *out);
/* A remote worker's stats for one second (copied; s has the definition's names). Seconds of a
 * worker must come in increasing order: one it already sent (an agent that reconnected and
 * sends again) is ignored with SP_ESTATE, so nothing counts twice. SP_EINVAL: not a remote
 * engine, worker out of range or s of another shape; SP_ESTATE also when not running or the
 * worker has ended. Any thread. */
int sp_engine_feed_second(sp_engine *e, unsigned worker, uint64_t second, const sp_stats *s);
/* The same, without the copy: s's contents move into the run and s gets other stats of the
 * same shape back, stale (reset them before the next use; sp_wire_stats_decode does). On
 * failure s is left as it was. */
int sp_engine_feed_second_take(sp_engine *e, unsigned worker, uint64_t second, sp_stats *s);
/* The remote worker has sent its last second (or was lost): the run ends once every worker
 * has. Idempotent. Any thread. */
int sp_engine_feed_end(sp_engine *e, unsigned worker);
void sp_engine_free(sp_engine *e);

#endif
