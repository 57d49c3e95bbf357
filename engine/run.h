/*
 * run.h - the state of one run that the engine's threads share: the controlling thread (engine.c),
 * the workers (worker.c) and the aggregator (engine.c). Private to the engine; engine.h is the
 * API.
 *
 * A run has one sp_run, N workers and one aggregator. engine.c fills sp_run in sp_engine_new,
 * before any thread starts, and frees it in sp_engine_free, after every thread has been joined.
 * In between it is read-only, except for the fields marked below: the stop request (atomics),
 * the target override (under mu) and the stats queue (under mu, signalled with cv).
 *
 * VU numbering: VU k (0-based over the whole run) lives on worker k % N, as that worker's local
 * VU k / N. With a target of T VUs, VUs 0..T-1 are active, so each worker works out its own
 * share from the target without talking to the others, lowering the target stops the highest
 * numbers first, and the user class of a VU is a pure function of k (sp_run_class_of).
 *
 * Threads: the functions below may be called from any thread while the run exists.
 */
#ifndef SP_RUN_H
#define SP_RUN_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/definition.h"
#include "engine/feeder.h"
#include "engine/metrics.h"
#include "engine/profile.h"

struct sp_allowlist;
struct sp_tracerec;

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

/* Plans of one user class, by plan index (sp_step.plan): one per plain step with a request,
 * wherever it sits (on_start, a task, on_stop, inside a repeat, a choose or a group). */
typedef struct sp_classplan {
    sp_plan **plans;
    size_t nplans;
} sp_classplan;

typedef struct sp_run {
    const sp_def *def;
    struct sp_tracerec *trace; /* "Try it" (trace.h): a single pass, recorded; NULL in load runs */
    unsigned nworkers;
    uint64_t seed;
    uint32_t vu_base;    /* added to every VU's number: an agent's first VU over the whole run */
    uint64_t start_ns;   /* monotonic start, set before the workers pass the gate */
    uint64_t end_ns;     /* start_ns + the profile's total */
    uint32_t max_resp;   /* response bytes kept */
    sp_classplan *plans; /* [def->nusers] */
    uint8_t *cls_table;  /* user class by k % ncls_table (sp_profile_classes) */
    sp_feeder **feeders; /* [def->nusers]: the class's CSV feeder, NULL when it has none */
    size_t ncls_table;
    const struct sp_allowlist *allowlist; /* NULL: every target allowed (no callbacks set) */

    atomic_int stop_mode;                  /* SP_STOP_*: raised only */
    atomic_uint_fast64_t stop_deadline_ns; /* when a graceful stop aborts what is left */
    atomic_uint_fast64_t stop_ns;          /* when the first stop came; UINT64_MAX: none */
    atomic_int stopped_by_user;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    sp_ovr ov; /* under mu: the target override from sp_engine_set_target */
    /* Under mu, signalled with gate: the workers that have made what they need before the
     * clock starts (sp_engine_prepare), and whether the clock has started. */
    pthread_cond_t gate;
    unsigned nready;
    int go; /* 0: waiting, 1: the clock started, -1: it never will */
    /* under mu: the stats queue, oldest first */
    sp_msg *q_head, *q_tail;
} sp_run;

/* Copies the current override into out, for a thread to read without the lock. Takes mu. */
void sp_run_override(sp_run *r, sp_ovr *out);
/* The profile's target (with any override) at t_ms after the start. Takes mu. */
double sp_run_target(sp_run *r, uint64_t t_ms);
/* A worker's half of the start: counts itself ready, then waits for the clock. Returns 1 when
 * it started (start_ns is set: sp_engine_start), -1 when the run never will (the engine was
 * freed or its start failed). Takes mu. */
int sp_run_ready_wait(sp_run *r);
/* The user class of VU k (0-based over the run). */
int sp_run_class_of(const sp_run *r, uint64_t k);

#endif
