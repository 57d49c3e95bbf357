/*
 * worker.h - the engine's inside: state shared by the controlling thread, the workers and the
 * aggregator (sp_run), and the worker threads themselves. Not a public API; engine.h is.
 *
 * A run has one sp_run, N workers and one aggregator. sp_run is written only before the threads
 * start, except for the fields marked below: the stop request (atomics), the target override
 * (under mu) and the stats queue (under mu, signalled with cv).
 *
 * VU numbering: VU k (0-based over the whole run) lives on worker k % N, as that worker's local
 * VU k / N. With a target of T VUs, VUs 0..T-1 are active, so each worker works out its own
 * share from the target without talking to the others, lowering the target stops the highest
 * numbers first, and the user class of a VU is a pure function of k (cls_of).
 *
 * Threads: sp_worker_* functions other than sp_worker_wake are called by the engine's
 * controlling thread before start and after join; sp_worker_main runs on the worker's thread;
 * sp_worker_wake may be called from any thread.
 */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/definition.h"
#include "engine/feeder.h"
#include "engine/metrics.h"

typedef struct sp_worker sp_worker;

enum { SP_STOP_NONE = 0, SP_STOP_GRACEFUL = 1, SP_STOP_NOW = 2 };

/* One stats message from a worker to the aggregator: the worker's stats for `second`, and the
 * promise that it has nothing more for any second up to done_through. */
typedef struct sp_msg {
    struct sp_msg *next;
    unsigned worker;
    uint64_t second;
    uint64_t done_through; /* every second <= this one is complete for this worker */
    int last;              /* the worker has exited its loop */
    sp_stats stats;        /* ownership moves with the message; the aggregator gives it back */
} sp_msg;

/* A header of a request plan: a precomputed "Name: value" line when the value is constant. */
typedef struct sp_planhdr {
    const char *name;
    const sp_tmpl *value; /* NULL when line is set */
    char *line;           /* owned; "Name: value" for constant values */
    int prio;             /* 0: definition, class or body type; 2: the request's own */
} sp_planhdr;

/* What the engine precomputes for one request of one user class (shared, read-only). */
typedef struct sp_plan {
    const sp_step *step;
    const sp_request *req;
    sp_planhdr *hdrs;
    size_t nhdrs;
    int hdrs_constant;        /* every header value is constant */
    struct curl_slist *slist; /* owned; the whole header list when hdrs_constant */
    int keep_body;            /* an expectation or extraction reads the body */
    int keep_headers;         /* an extraction reads a response header */
    int want_json;            /* parse the body as JSON once per response */
    uint32_t timeout_ms;
} sp_plan;

/* Plans of one user class: on_start[i] and tasks[t][i] parallel the class's steps (NULL for a
 * step without a request). */
typedef struct sp_classplan {
    sp_plan **on_start;
    sp_plan ***tasks;
} sp_classplan;

typedef struct sp_run {
    const sp_def *def;
    struct sp_trace *trace; /* "Try it" (trace.h): a single pass, recorded; NULL in load runs */
    unsigned nworkers;
    uint64_t seed;
    uint64_t start_ns;   /* monotonic start, set before the threads start */
    uint64_t end_ns;     /* start_ns + the profile's total */
    uint32_t max_resp;   /* response bytes kept */
    sp_classplan *plans; /* [def->nusers] */
    uint8_t *cls_table;  /* user class by k % ncls_table */
    sp_feeder **feeders; /* [def->nusers]: the class's CSV feeder, NULL when it has none */
    size_t ncls_table;
    const struct sp_allowlist *allowlist; /* NULL: every target allowed (no callbacks set) */

    atomic_int stop_mode;                  /* SP_STOP_*: raised only */
    atomic_uint_fast64_t stop_deadline_ns; /* when a graceful stop aborts what is left */
    atomic_int stopped_by_user;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu: the target override from sp_engine_set_target */
    int ov_active;
    uint64_t ov_t0_ms;
    double ov_v0, ov_v1;
    uint32_t ov_ramp_ms;
    uint64_t ov_ver; /* bumped by each override, so workers notice a new one */
    /* under mu: the stats queue, oldest first */
    sp_msg *q_head, *q_tail;
} sp_run;

/* A copy of the target override, taken under mu, for a thread to read without the lock. */
typedef struct sp_ovr {
    int active;
    uint64_t ver;
    uint64_t t0_ms;
    double v0, v1;
    uint32_t ramp_ms;
} sp_ovr;

/* Copies the current override into out. Takes mu. */
void sp_run_override(sp_run *r, sp_ovr *out);
/* Open model: the number of arrivals the profile (with override o) plans from the start to
 * t_ms, i.e. the integral of the rate (iterations/s) over [0, t_ms]. */
double sp_run_arrivals_by(const sp_run *r, const sp_ovr *o, double t_ms);
/* Open model: when arrival n (0-based over the run) is due, in ms after the start: the first t
 * at which sp_run_arrivals_by reaches n. -1 when the rate never gets there (it stays at 0). */
int sp_run_arrival_at(const sp_run *r, const sp_ovr *o, double n, double *t_ms);

/* The profile's target (with any override) at t_ms after the start. Takes mu. */
double sp_run_target(sp_run *r, uint64_t t_ms);
/* The same, for a caller that holds mu. */
double sp_run_target_locked(const sp_run *r, uint64_t t_ms);
/* The user class of VU k (0-based over the run). */
int sp_run_class_of(const sp_run *r, uint64_t k);

/* Creates worker id of r (epoll, eventfd, multi handle). NULL and err on failure. */
sp_worker *sp_worker_new(sp_run *r, unsigned id, char *err, size_t errlen);
void sp_worker_free(sp_worker *w);
/* The thread body; arg is the sp_worker. */
void *sp_worker_main(void *arg);
/* Wakes the worker's loop (after a stop or a target change). Any thread. */
void sp_worker_wake(sp_worker *w);
/* Hands a message (its stats reset) back to its worker for reuse. Any thread. */
void sp_worker_recycle(sp_worker *w, sp_msg *m);

#endif
