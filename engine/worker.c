/*
 * worker.c - one worker thread: an epoll loop around libcurl multi handles, a timer heap, and
 * the VUs it owns. See run.h for how VUs are numbered and shared out, docs/engine.md for the
 * whole picture. What a VU does with one request (build it, judge the response, extract) is in
 * vu.c; this file starts its transfers and drives its steps.
 *
 * A VU is a small state machine driven by the loop:
 *     READY --(a step with a request)--> REQ --(curl says done)--> READY
 *     READY --(iteration over, think time)--> THINK --(timer)--> READY
 *     READY --(a class without tasks, after on_start)--> PARKED
 * vu_run() advances a READY VU through steps that need no network until it starts a request
 * or arms its timer. A VU asked to stop finishes the request in flight (graceful) and is freed.
 */
#define _GNU_SOURCE /* epoll_pwait2 */
#include "engine/worker.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "engine/allowlist.h"
#include "engine/common.h"
#include "engine/profile.h"
#include "engine/timerheap.h"
#include "engine/tracerec.h"
#include "engine/vu.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define TICK_NS (100 * NS_PER_MS)     /* how often a worker re-reads the target */
#define IDLE_YIELD_NS (1 * NS_PER_MS) /* pause after an iteration that sent no request */
#define EVENTS_MAX 64
/* VUs per multi handle. curl looks for an idle connection by walking every connection to the
 * host in its cache, so with hundreds of busy VUs on one multi handle that walk dominates each
 * request; shards of this size keep it short for a little memory per shard. */
#define SHARD_VUS 128
#define EV_WAKE UINT64_MAX /* epoll data of the eventfd */
/* Open model: an arrival due within this much of the loop's clock starts in this iteration
 * rather than after one more sleep. At 30,000 arrivals/s they are 33 us apart, and a sleep and
 * wake-up for each costs more CPU than the request it starts; starting the few due next with
 * the one due now shares one wake-up between them. Each keeps its own due time (on_arrival), and
 * its latency counts from that or from when it was sent if earlier, so starting early never
 * makes a latency look shorter. */
#define ARRIVAL_AHEAD_NS (100 * 1000ull)
/* Open model: an iteration that started a single arrival also starts the next one if it is due
 * within this much of the loop's clock. Between 2,000 and 10,000 arrivals/s the window above
 * holds one arrival, so each cost its own sleep and wake-up, most of the CPU of a request on a
 * loaded machine (issue 18: one wake-up per request against 0.16 for the closed model); pairs
 * halve them. Only one more, so the target sees at most two requests together where the plan
 * spaced them, never a burst, and 0.5 ms stays under the 1 ms that counts an arrival as late. */
#define ARRIVAL_PAIR_NS (500 * 1000ull)
/* Open model: at most this many arrivals start in one pass of the loop. A loop that fell behind
 * (a stall, a burst of connects) used to start every overdue arrival at once; with the warm VUs
 * still busy each took a cold one and opened a connection, 50-100 us each, so a burst of
 * hundreds kept the loop away long enough to fall further behind: the first second of a run at
 * 12,000/s opened all 1,300 VUs' connections and dropped 900-1,100 arrivals. Between batches the
 * loop reads the answers that came in, which gives warm VUs back to the pool. The overdue
 * arrivals keep their due times (on_arrival), so their wait is still charged to them. */
#define ARRIVAL_BATCH_MAX 32
/* The loop's sleeps end this close to their deadline. The kernel's default slack (50 us) is as
 * long as the gap between two arrivals at 20,000/s, and would make every arrival that long
 * late. */
#define TIMER_SLACK_NS 1000ul
/* A wait shorter than this polls instead of sleeping. On the 2-core virtual machine the project
 * is measured on, a sleep and its wake-up cost 35-40 us of CPU (a bare epoll_pwait2 loop waking
 * 4,000 times a second burns 0.14 of a core), as much as a request; in the open model near its
 * top rate the loop's gaps between arrivals and responses are mostly shorter than that, so
 * sleeping through them cost more than the work and made the arrivals late. Polling costs at
 * most this much per wait, less than the sleep it replaces, and never delays a deadline. */
#define SPIN_NS (30 * 1000ull)
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51 /* linux/in.h, Linux 6.3 */
#endif

/* One multi handle and the VUs [idx * SHARD_VUS, (idx + 1) * SHARD_VUS) of its worker. */
typedef struct sp_shard {
    sp_worker *w;
    uint32_t idx;
    CURLM *multi;
    uint64_t deadline_ns; /* curl's timer: UINT64_MAX none, 0 at once */
    long maxconns;
} sp_shard;

struct sp_worker {
    sp_run *r;
    unsigned id;
    int ep, evfd;
    sp_shard **shards;
    size_t nshards, capshards;
    sp_timerheap timers;
    sp_vu **vus;
    size_t nslots, capslots;
    uint32_t desired;
    uint32_t alive;
    uint32_t inflight;
    uint32_t in_stop; /* VUs going through on_stop: the end waits for them too */
    uint32_t retired; /* VUs done at the run's end, left to free_all_vus (begin_end) */
    int ending;
    uint64_t end_deadline_ns;
    uint64_t next_tick_ns;
    uint64_t plan_ns; /* when the loop meant to be back at its top (see note_gap) */
    sp_msg *cur;
    uint64_t cur_second;
    pthread_mutex_t free_mu;
    sp_msg *free_list;
    uint8_t *fds; /* FD_* by socket number */
    size_t nfds;
    /* Open model: this worker schedules arrivals n = id, id + N, id + 2N, ... of the run on
     * one timer, and hands each to a VU of its own idle pool. */
    int open;
    sp_timer arrival;
    uint64_t next_n;   /* the global number of the arrival the timer is armed for */
    int arrivals_over; /* no arrival left before the end */
    sp_ovr ovr;        /* the override the schedule follows */
    sp_vu **idle;      /* [nidle] idle VUs, a stack (the last freed is the warmest) */
    size_t nidle, capidle;
    sp_vu **spare; /* [nspare] by slot: made before the clock (build_pool), not yet started */
    uint32_t nspare;
    sp_vuenv env; /* what its VUs share with it (vu.h) */
};

static void vu_run(sp_vu *v);
static void trace_finish(sp_vu *v);
static void trace_skipped(sp_vu *v, const sp_step *st);
static int on_close(void *ud, curl_socket_t s);
static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a);
static void guard_setup(sp_vu *v);
static sp_shard *get_shard(sp_worker *w, uint32_t idx);

/* ---- stats messages ---- */

static sp_msg *msg_take(sp_worker *w)
{
    pthread_mutex_lock(&w->free_mu);
    sp_msg *m = w->free_list;
    if (m)
        w->free_list = m->next;
    pthread_mutex_unlock(&w->free_mu);
    if (!m) {
        m = sp_calloc(1, sizeof(*m));
        sp_stats_init(&m->stats, w->r->def->nnames);
    }
    m->next = NULL;
    return m;
}

void sp_worker_recycle(sp_worker *w, sp_msg *m)
{
    pthread_mutex_lock(&w->free_mu);
    m->next = w->free_list;
    w->free_list = m;
    pthread_mutex_unlock(&w->free_mu);
}

static void msg_push(sp_run *r, sp_msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->q_tail)
        r->q_tail->next = m;
    else
        r->q_head = m;
    r->q_tail = m;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Sends the current second's stats and starts second `sec`. */
static void flush_second(sp_worker *w, uint64_t sec, int last)
{
    sp_msg *m = w->cur;
    m->worker = w->id;
    m->second = w->cur_second;
    m->done_through = last ? UINT64_MAX : sec - 1;
    m->last = last;
    /* Open model: the busy VUs, since the whole pool is alive from the start. */
    m->stats.active_vus = w->open ? w->alive - (uint32_t)w->nidle : w->alive - w->retired;
    msg_push(w->r, m);
    w->cur = last ? NULL : msg_take(w);
    w->env.stats = w->cur ? &w->cur->stats : NULL;
    w->cur_second = sec;
}

static sp_stats *cur_stats(sp_worker *w)
{
    return &w->cur->stats;
}

/*
 * The generator's own lateness, one mechanism for every cause: the loop notes when it means to
 * be back at its top (the deadline it sleeps until, or at once when it does not sleep), and at
 * the top the time past that is a gap in which it could neither send, receive nor time anything:
 * a slow iteration, a descheduled thread, a frozen process (SIGSTOP). The gap is the lag of
 * every second it overlaps, so a second the worker spent away is sent with that lag instead of
 * as an innocent zero (the aggregator flags it as a stall: engine.h). Seconds are flushed one at
 * a time for that, which costs nothing when they come one by one.
 */
static void note_gap(sp_stats *st, uint64_t gap_ns)
{
    if (gap_ns / 1000 > st->lag_us_max)
        st->lag_us_max = gap_ns / 1000;
}

static void flush_seconds(sp_worker *w, uint64_t sec, uint64_t gap_from_ns, uint64_t gap_ns)
{
    uint64_t start_ns = w->r->start_ns;
    for (;;) {
        uint64_t s = w->cur_second;
        if (gap_ns && start_ns + (s + 1) * NS_PER_S > gap_from_ns)
            note_gap(cur_stats(w), gap_ns);
        if (s + 1 >= sec) {
            flush_second(w, sec, 0);
            return;
        }
        flush_second(w, s + 1, 0);
    }
}

/* ---- VU lifecycle ---- */

/* A VU of slot `slot`, with its curl handle and callbacks, not yet counted or started. */
static sp_vu *vu_build(sp_worker *w, uint32_t slot)
{
    sp_run *r = w->r;
    uint64_t k = (uint64_t)slot * r->nworkers + w->id;
    sp_shard *sh = get_shard(w, slot / SHARD_VUS);
    if (!sh)
        return NULL;
    sp_vu *v = sp_vu_new(&w->env, w, sh, slot, k);
    if (!v)
        return NULL;
    curl_easy_setopt(v->easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(v->easy, CURLOPT_OPENSOCKETDATA, w);
    curl_easy_setopt(v->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(v->easy, CURLOPT_CLOSESOCKETDATA, w);
    if (r->allowlist)
        guard_setup(v);
    if (r->trace)
        sp_tracerec_attach(r->trace, v->easy);
    return v;
}

/* The VU of slot `slot`: the one build_pool made for it, else a new one; counted alive. */
static sp_vu *vu_new(sp_worker *w, uint32_t slot)
{
    sp_vu *v = NULL;
    if (slot < w->nspare && w->spare[slot]) {
        v = w->spare[slot];
        w->spare[slot] = NULL;
    } else {
        v = vu_build(w, slot);
    }
    if (v)
        w->alive++;
    return v;
}

/* The spare VUs no start took (a run stopped at once, or one that never started). */
static void free_spares(sp_worker *w)
{
    for (uint32_t i = 0; i < w->nspare; i++)
        if (w->spare[i])
            sp_vu_free(w->spare[i]);
    free(w->spare);
    w->spare = NULL;
    w->nspare = 0;
}

static void vu_abort_request(sp_vu *v)
{
    if (v->state != SP_VU_REQ)
        return;
    curl_multi_remove_handle(v->sh->multi, v->easy);
    v->w->inflight--;
    v->state = SP_VU_READY;
}

static void vu_free(sp_vu *v)
{
    sp_worker *w = v->w;
    sp_timerheap_remove(&w->timers, &v->timer);
    vu_abort_request(v);
    if (v->phase == SP_VU_PH_STOP)
        w->in_stop--;
    if (v->slot < w->nslots && w->vus[v->slot] == v)
        w->vus[v->slot] = NULL;
    if (!v->exhausted)
        w->alive--;
    /* Closes the VU's connection too (through on_close, so the worker forgets the socket). */
    sp_vu_free(v);
}

static int wants_on_stop(const sp_vu *v);
static void begin_stop(sp_vu *v);

/* Asks v to stop: at once when it waits, after its request when one is in flight. A VU whose
 * class has on_stop steps goes through them first (a graceful stop; a hard one frees VUs
 * without asking). */
static void vu_stop(sp_vu *v)
{
    if (v->state == SP_VU_REQ) {
        v->stopping = 1;
    } else if (v->phase == SP_VU_PH_STOP) {
        v->stopping = 1; /* already on its way out */
    } else if (wants_on_stop(v)) {
        sp_timerheap_remove(&v->w->timers, &v->timer);
        begin_stop(v);
        vu_run(v);
    } else {
        vu_free(v);
    }
}

/* ---- requests ---- */

/* Starts p's request. 0 when it is in flight; otherwise it was recorded as failed. */
static int start_request(sp_vu *v, const sp_plan *p)
{
    if (sp_vu_prepare(v, p) != 0)
        return -1;
    if (curl_multi_add_handle(v->sh->multi, v->easy) != CURLM_OK) {
        sp_vu_fail(v, p, "could not start the request");
        return -1;
    }
    v->state = SP_VU_REQ;
    v->w->inflight++;
    v->iter_requests++;
    return 0;
}

/* A request of v finished (curl's handle is already removed from the multi): the VU goes on
 * with its next step. */
static void vu_done(sp_vu *v, CURLcode cc)
{
    sp_vu_finish(v, cc);
    v->state = SP_VU_READY;
    v->w->inflight--;
    sp_vu_top(v)->i++;
    vu_run(v);
}

/* ---- the VU state machine ---- */

static uint64_t think_ns(sp_vu *v, uint64_t now)
{
    const sp_think *t = &v->uc->think;
    uint64_t d = 0;
    switch (t->kind) {
    case SP_THINK_NONE:
        break;
    case SP_THINK_CONSTANT:
        d = (uint64_t)t->min_ms * NS_PER_MS;
        break;
    case SP_THINK_BETWEEN:
        d = (uint64_t)sp_rng_range(&v->rng, t->min_ms,
                                   t->max_ms >= t->min_ms ? t->max_ms : t->min_ms) *
            NS_PER_MS;
        break;
    case SP_THINK_PACING: {
        uint64_t next = v->iter_start_ns + (uint64_t)t->min_ms * NS_PER_MS;
        d = next > now ? next - now : 0;
        break;
    }
    }
    /* An iteration that sent nothing must still yield, or it would spin the worker. */
    if (d == 0 && v->iter_requests == 0)
        d = IDLE_YIELD_NS;
    return d;
}

static size_t pick_task(sp_vu *v)
{
    const sp_userclass *uc = v->uc;
    uint64_t total = uc->total_weight;
    if (uc->ntasks <= 1 || total == 0)
        return 0;
    uint64_t x = (uint64_t)sp_rng_range(&v->rng, 0, (int64_t)total - 1);
    for (size_t i = 0; i < uc->ntasks; i++) {
        if (x < uc->tasks[i].weight)
            return i;
        x -= uc->tasks[i].weight;
    }
    return uc->ntasks - 1;
}

/* Takes the VU's next CSV row; -1 when a unique feeder with on_exhausted stop ran out. */
static int vu_feed(sp_vu *v)
{
    const json_t *row = NULL;
    if (sp_feeder_next(v->feeder, &v->rng, &row) != 0)
        return -1;
    v->row = row;
    return 0;
}

/* A VU whose unique rows ran out stops for the rest of the run. It stays in its slot, parked,
 * so the population does not start a new VU in its place at the next tick; it no longer counts
 * as active. */
static void vu_exhaust(sp_vu *v)
{
    v->exhausted = 1;
    v->state = SP_VU_PARKED;
    v->row = NULL;
    v->w->alive--;
    if (v->w->r->trace)
        sp_tracerec_finish(v->w->r->trace); /* no row to go on with: the pass ends here */
}

/* Sets v's bottom frame to a block of the phase it enters. */
static void set_root(sp_vu *v, const sp_step *steps, size_t n)
{
    memset(&v->root, 0, sizeof v->root);
    v->root.steps = steps;
    v->root.n = (uint32_t)n;
    v->root.fail_kind = -1;
    v->nfr = 1;
}

/* Starts v's next iteration: picks its task and unsets the variables that live for one
 * iteration. now: the clock when the caller read it, else 0. */
static void vu_begin_iteration(sp_vu *v, uint64_t now)
{
    const sp_userclass *uc = v->uc;
    v->phase = SP_VU_PH_TASK;
    /* A single pass ("Try it") takes the tasks in order, one per iteration. */
    v->task = v->w->r->trace ? (size_t)v->iteration : pick_task(v);
    set_root(v, uc->tasks[v->task].steps, uc->tasks[v->task].nsteps);
    /* Variables assigned only by tasks live for one iteration (docs/test-format.md): the loader
     * numbers them after the on_start ones. */
    for (size_t i = uc->nstart_vars; i < uc->nvars; i++)
        sp_vu_unset(v, (int)i);
    if (uc->think.kind == SP_THINK_PACING) /* the only reader of the start time */
        v->iter_start_ns = now ? now : sp_now_ns();
    v->iter_requests = 0;
}

/* on_stop runs for a VU that went through on_start, once, when it is stopped gracefully. */
static int wants_on_stop(const sp_vu *v)
{
    return v->uc->non_stop && v->started && !v->exhausted && v->phase != SP_VU_PH_STOP;
}

/* The VU leaves whatever it was doing (an iteration, a loop, a group: none of it is recorded)
 * and goes through its on_stop steps. */
static void begin_stop(sp_vu *v)
{
    v->phase = SP_VU_PH_STOP;
    set_root(v, v->uc->on_stop, v->uc->non_stop);
    v->state = SP_VU_READY;
    v->w->in_stop++;
}

/* ---- control steps: repeat, choose, group ---- */

/* A trace record of where v is now, at step st, its location written into where (the
 * record points into where and passes, which must outlive it). */
static sp_tracerec_entry trace_entry(sp_vu *v, const sp_step *st, char *where, size_t wherelen,
                                     uint32_t *passes, size_t *np)
{
    sp_buf wb;
    sp_buf_init(&wb, wherelen - 1);
    sp_vu_where(v, &wb, passes, np);
    snprintf(where, wherelen, "%s", wb.p);
    sp_buf_release(&wb);
    return (sp_tracerec_entry){
        .uc = v->uc,
        .phase = v->phase == SP_VU_PH_START  ? 0
                 : v->phase == SP_VU_PH_STOP ? 2
                                             : 1,
        .task = v->task,
        .step = sp_vu_top(v)->i,
        .at = where,
        .passes = passes,
        .npasses = *np,
        .st = st,
        .kind = -1,
    };
}

/* A trace entry for where v is now (only with a trace). */
static void trace_at(sp_vu *v, const sp_step *st, const char *event, json_t *fields)
{
    char where[512];
    uint32_t passes[SP_DEF_MAX_NESTING];
    size_t np = SP_DEF_MAX_NESTING;
    sp_tracerec_entry rec = trace_entry(v, st, where, sizeof where, passes, &np);
    sp_tracerec_event(v->w->r->trace, &rec, event, fields);
}

static sp_frame *push_frame(sp_vu *v, const sp_step *owner, const sp_block *b)
{
    if (!v->more) /* once per VU, the first time it nests: never on the steady path */
        v->more = sp_calloc(v->uc->depth ? v->uc->depth : 1, sizeof(v->more[0]));
    sp_frame *f = &v->more[v->nfr - 1];
    memset(f, 0, sizeof *f);
    f->steps = b->steps;
    f->n = (uint32_t)b->nsteps;
    f->owner = owner;
    f->fail_kind = -1;
    v->nfr++;
    return f;
}

static int eval_truthy(sp_vu *v, const sp_expr *x)
{
    sp_vuctx ctx;
    sp_vu_ctx(v, &ctx);
    sp_value r;
    sp_expr_eval(x, &ctx, NULL, &r);
    int ok = sp_value_truthy(&r);
    sp_value_drop(&r);
    return ok;
}

static void set_index(sp_vu *v, const sp_step *st, uint32_t pass)
{
    if (st->index_slot < 0)
        return;
    sp_value iv = {.type = SP_V_INT, .u.i = pass};
    sp_vu_set(v, st->index_slot, &iv);
}

/* Enters a repeat: its passes are counted once (a count expression is read now), bounded by
 * max. 0 when it makes no pass. */
static int enter_repeat(sp_vu *v, const sp_step *st)
{
    uint64_t limit = st->max;
    if (st->count_lit >= 0) {
        limit = (uint64_t)st->count_lit < limit ? (uint64_t)st->count_lit : limit;
    } else if (st->count) {
        sp_vuctx ctx;
        sp_vu_ctx(v, &ctx);
        sp_value r;
        sp_expr_eval(st->count, &ctx, NULL, &r);
        double n = r.type == SP_V_INT ? (double)r.u.i : r.type == SP_V_FLOAT ? r.u.f : 0;
        sp_value_drop(&r);
        if (!(n > 0))
            n = 0;
        limit = n < (double)limit ? (uint64_t)n : limit;
    }
    int go = limit > 0 && (!st->while_ || eval_truthy(v, st->while_));
    if (!go) {
        if (v->w->r->trace)
            trace_at(v, st, "repeat_end",
                     json_pack("{s:i, s:b}", "passes", 0, "stopped_at_max", 0));
        return 0;
    }
    sp_frame *f = push_frame(v, st, &st->body);
    f->limit = (uint32_t)limit;
    set_index(v, st, 0);
    if (v->w->r->trace)
        trace_at(v, st, "repeat", json_pack("{s:i}", "pass", 0));
    return 1;
}

static void enter_choose(sp_vu *v, const sp_step *st)
{
    uint64_t x = st->total_weight > 1
                     ? (uint64_t)sp_rng_range(&v->rng, 0, (int64_t)st->total_weight - 1)
                     : 0;
    size_t b = 0;
    for (; b + 1 < st->nbranches; b++) {
        if (x < st->branches[b].weight)
            break;
        x -= st->branches[b].weight;
    }
    if (v->w->r->trace) {
        const char *nm = st->branches[b].name;
        trace_at(v, st, "choose", json_pack("{s:i, s:s?}", "branch", (int)b, "branch_name", nm));
    }
    sp_frame *f = push_frame(v, st, &st->branches[b].body);
    f->branch = (uint32_t)b;
}

/* The block at the top is done: a repeat makes its next pass or ends, a group records its time,
 * a branch ends. */
static void frame_end(sp_vu *v)
{
    sp_frame *f = sp_vu_top(v);
    const sp_step *st = f->owner;
    sp_run *r = v->w->r;
    if (st->kind == SP_STEP_REPEAT) {
        uint32_t next = f->pass + 1;
        int more = next < f->limit;
        if (more && st->while_)
            more = eval_truthy(v, st->while_);
        if (more) {
            f->pass = next;
            f->i = 0;
            set_index(v, st, next);
            if (r->trace)
                trace_at(v, st, "repeat", json_pack("{s:i}", "pass", (int)next));
            return;
        }
        if (r->trace) {
            /* A while still true at max: the bound ended the loop, not the condition. */
            int at_max = next >= f->limit && st->while_ && eval_truthy(v, st->while_);
            v->nfr--;
            trace_at(v, st, "repeat_end",
                     json_pack("{s:i, s:b}", "passes", (int)next, "stopped_at_max", at_max));
            v->nfr++;
        }
    } else if (st->kind == SP_STEP_GROUP) {
        uint64_t dur = sp_now_us() - f->start_us;
        const char *msg = NULL;
        sp_buf *mb = &v->env->msgbuf;
        if (f->fail_kind >= 0) {
            sp_buf_reset(mb);
            (void)sp_buf_addf(mb, "a request in the group failed: %s", r->def->names[f->fail_name]);
            msg = mb->p;
        }
        sp_name_stats_record_group(&v->env->stats->names[st->group_id], dur, f->fail_kind, msg);
        if (r->trace) {
            v->nfr--;
            trace_at(v, st, "group",
                     json_pack("{s:s, s:f, s:b}", "name", r->def->names[st->group_id], "time_ms",
                               (double)dur / 1000.0, "passed", f->fail_kind < 0));
            v->nfr++;
        }
        /* A failure inside a nested group counts for the groups around it too. */
        int kind = f->fail_kind, name = f->fail_name;
        v->nfr--;
        if (kind >= 0)
            sp_vu_fail_groups(v, kind, name);
        sp_vu_top(v)->i++;
        return;
    }
    v->nfr--;
    sp_vu_top(v)->i++;
}

static void vu_run(sp_vu *v)
{
    sp_worker *w = v->w;
    const sp_userclass *uc = v->uc;
    if (v->feeder && !v->fed) {
        /* The first row is taken before on_start, which may log in with it. */
        v->fed = 1;
        v->row_fresh = 1;
        if (vu_feed(v) != 0) {
            vu_exhaust(v);
            return;
        }
    }
    if (v->exhausted)
        return;
    if (v->nfr == 0)
        set_root(v, uc->on_start, uc->non_start);
    uint32_t local = 0;
    for (;;) {
        if (v->phase != SP_VU_PH_NEXT && v->nfr > 1 && sp_vu_top(v)->i >= sp_vu_top(v)->n) {
            frame_end(v);
            continue;
        }
        int block_done = v->phase == SP_VU_PH_NEXT || sp_vu_top(v)->i >= sp_vu_top(v)->n;
        uint64_t now = 0;
        if (v->phase == SP_VU_PH_TASK && block_done) {
            /* The iteration is over even when the VU stops right after it. */
            cur_stats(w)->iterations++;
            v->iteration++;
            v->phase = SP_VU_PH_NEXT;
            if (!v->stopping && !w->ending && !w->open && !w->r->trace) {
                now = sp_now_ns();
                uint64_t d = think_ns(v, now);
                if (d) {
                    v->state = SP_VU_THINK;
                    sp_timerheap_add(&w->timers, &v->timer, now + d);
                    return;
                }
            }
        }
        if (v->phase == SP_VU_PH_STOP) {
            if (block_done) {
                /* on_stop is over: the VU is done. */
                if (w->r->trace) {
                    trace_finish(v);
                    return;
                }
                vu_free(v);
                return;
            }
        } else if (v->stopping || w->ending) {
            if (wants_on_stop(v)) {
                begin_stop(v);
                continue;
            }
            vu_free(v);
            return;
        } else if (block_done) {
            if (v->phase == SP_VU_PH_START)
                v->started = 1;
            if (w->r->trace && v->iteration >= uc->ntasks) {
                /* on_start and every task done once; then on_stop, if any. */
                if (wants_on_stop(v)) {
                    begin_stop(v);
                    continue;
                }
                trace_finish(v);
                return;
            }
            if (w->open && (!v->go || uc->ntasks == 0)) {
                /* Back to the pool until an arrival takes it: no think time in the open model,
                 * the schedule decides when the next iteration starts. */
                v->go = 0;
                v->phase = SP_VU_PH_NEXT;
                v->state = SP_VU_IDLE;
                w->idle[w->nidle++] = v;
                return;
            }
            v->go = 0;
            if (uc->ntasks == 0) {
                v->state = SP_VU_PARKED;
                return;
            }
            if (v->feeder && sp_feeder_per(v->feeder) == SP_FEED_PER_ITERATION) {
                if (!v->row_fresh && vu_feed(v) != 0) {
                    vu_exhaust(v);
                    return;
                }
                v->row_fresh = 0;
            }
            vu_begin_iteration(v, now);
            continue;
        }
        /* Steps that send nothing (lets, loops of them) are bounded per turn: past the bound
         * the VU lets the worker serve the others and goes on at its next turn. */
        if (++local > SP_VU_MAX_LOCAL_STEPS) {
            v->state = SP_VU_THINK;
            sp_timerheap_add(&w->timers, &v->timer, sp_now_ns());
            return;
        }
        sp_frame *f = sp_vu_top(v);
        const sp_step *st = &f->steps[f->i];
        if (!sp_vu_cond(v, &st->cond)) {
            if (w->r->trace)
                trace_skipped(v, st);
            f->i++;
            continue;
        }
        switch (st->kind) {
        case SP_STEP_REPEAT:
            if (!enter_repeat(v, st))
                f->i++;
            continue;
        case SP_STEP_CHOOSE:
            enter_choose(v, st);
            continue;
        case SP_STEP_GROUP: {
            sp_frame *g = push_frame(v, st, &st->body);
            g->start_us = sp_now_us();
            continue;
        }
        case SP_STEP_PLAIN:
            break;
        }
        sp_vu_lets(v, st);
        if (st->req) {
            if (start_request(v, v->cp->plans[st->plan]) == 0)
                return;
            f->i++;
            continue;
        }
        sp_vu_set_headers(v, st);
        f->i++;
    }
}

static void vu_timer_fired(sp_vu *v)
{
    v->state = SP_VU_READY;
    vu_run(v);
}

/* ---- the VU population ---- */

static void set_maxconns(sp_shard *sh, uint32_t vus)
{
    /* curl closes the oldest idle connection whenever one is returned to a full cache, so a
     * cache sized to the VUs keeps one connection per VU while they grow and sheds the extra
     * ones as the remaining VUs finish requests after they shrink. A little slack covers VUs
     * that talk to two hosts. */
    long want = (long)vus + (long)(vus / 16) + 1;
    if (want != sh->maxconns) {
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, want);
        sh->maxconns = want;
    }
}

/* Sizes every shard's connection cache for `desired` VUs on the worker. */
static void set_all_maxconns(sp_worker *w, uint32_t desired)
{
    for (size_t i = 0; i < w->nshards; i++) {
        uint64_t lo = (uint64_t)i * SHARD_VUS;
        uint32_t n = desired > lo ? (uint32_t)(desired - lo) : 0;
        set_maxconns(w->shards[i], n > SHARD_VUS ? SHARD_VUS : n);
    }
}

/* Starts or stops VUs to have `desired`, at most max_new of them in this call; 1 when some were
 * left for a later call. */
static int set_population_upto(sp_worker *w, uint32_t desired, uint32_t max_new)
{
    uint32_t old = w->desired;
    uint32_t started = 0;
    int more = 0;
    /* Shards first, then grow the connection caches before VUs are added; shrink them after
     * VUs are asked to go. */
    if (desired > 0 && !get_shard(w, (desired - 1) / SHARD_VUS))
        return 0; /* curl could not allocate: retried at the next tick */
    if (desired > old)
        set_all_maxconns(w, desired);
    w->desired = desired;
    sp_grow((void **)&w->vus, &w->capslots, desired, sizeof(w->vus[0]));
    if (desired > w->nslots) {
        memset(&w->vus[w->nslots], 0, (desired - w->nslots) * sizeof(w->vus[0]));
        w->nslots = desired;
    }
    for (size_t j = 0; j < w->nslots; j++) {
        sp_vu *v = w->vus[j];
        if (j < desired) {
            if (!v) {
                if (started == max_new) {
                    more = 1;
                    continue;
                }
                started++;
                v = vu_new(w, (uint32_t)j);
                if (!v)
                    continue; /* curl could not allocate: retried at the next tick */
                w->vus[j] = v;
                vu_run(v);
            } else if (v->stopping) {
                v->stopping = 0; /* wanted again before its last request finished */
            }
        } else if (v && !v->stopping) {
            /* Freeing a VU (its connection, its curl handles) costs what starting one does. */
            if (started == max_new) {
                more = 1;
                continue;
            }
            started++;
            vu_stop(v);
        }
    }
    if (desired < old)
        set_all_maxconns(w, desired);
    return more;
}

static void set_population(sp_worker *w, uint32_t desired)
{
    (void)set_population_upto(w, desired, UINT32_MAX);
}

/* Arms the arrival timer for arrival next_n, or marks the schedule over. */
static void schedule_arrival(sp_worker *w)
{
    sp_run *r = w->r;
    double t_ms;
    if (w->ending || sp_profile_arrival_at(&r->def->load, &w->ovr, (double)w->next_n, &t_ms) != 0 ||
        t_ms * (double)NS_PER_MS >= (double)(r->end_ns - r->start_ns)) {
        sp_timerheap_remove(&w->timers, &w->arrival);
        w->arrivals_over = 1;
        return;
    }
    w->arrivals_over = 0;
    sp_timerheap_add(&w->timers, &w->arrival, r->start_ns + (uint64_t)llround(t_ms * NS_PER_MS));
}

/* Arrival next_n is due (its timer already taken out of the heap): a free VU runs one iteration,
 * else the arrival is dropped. now: the loop's clock, which may be up to ARRIVAL_PAIR_NS before
 * the due time (start_arrivals). */
static void on_arrival(sp_worker *w, uint64_t now)
{
    sp_stats *st = cur_stats(w);
    uint64_t due_ns = w->arrival.when_ns;
    uint64_t lag_us = now > due_ns ? (now - due_ns) / 1000 : 0;
    if (lag_us > st->lag_us_max)
        st->lag_us_max = lag_us;
    if (lag_us > SP_LAG_LATE_US)
        st->arrivals_late++;
    st->arrivals_lag_us += lag_us;
    w->next_n += w->r->nworkers;
    schedule_arrival(w);
    if (w->nidle == 0) {
        st->dropped++;
        return;
    }
    sp_vu *v = w->idle[--w->nidle];
    st->arrivals++;
    v->go = 1;
    /* The latency of the arrival's first request counts from its own due time, or from when it
     * is sent if that is earlier (sp_vu_prepare): never from the batch's clock, so an arrival
     * that waited is charged for the wait and one started early is not credited for it. */
    v->arrival_us = due_ns / 1000;
    v->state = SP_VU_READY;
    vu_run(v);
}

/* Starts the arrivals due by now + ARRIVAL_AHEAD_NS, the overdue ones of a late loop included,
 * up to ARRIVAL_BATCH_MAX in this iteration (the rest in the next ones, without a sleep between:
 * the arrival timer is then past due), and one more due by now + ARRIVAL_PAIR_NS when that made
 * only one. */
static void start_arrivals(sp_worker *w, uint64_t now)
{
    unsigned started = 0;
    while (w->arrival.idx != SP_TIMER_IDLE && started < ARRIVAL_BATCH_MAX &&
           (w->arrival.when_ns <= now + ARRIVAL_AHEAD_NS ||
            (started == 1 && w->arrival.when_ns <= now + ARRIVAL_PAIR_NS))) {
        sp_timerheap_remove(&w->timers, &w->arrival);
        on_arrival(w, now);
        started++;
    }
}

/* Open model: this worker's share of the pool (max_vus). */
static uint32_t pool_share(const sp_worker *w)
{
    uint32_t pool = w->r->def->load.max_vus;
    unsigned n = w->r->nworkers;
    return pool > w->id ? (pool - w->id + n - 1) / n : 0;
}

/*
 * Open model, before the run's clock starts (sp_engine_prepare): the pool's VUs are made, each
 * with its curl handle, options and buffers. Made after the start, 1,300 of them kept the loop
 * away for 30-100 ms while the first arrivals came due, and those then all started at once,
 * late, each needing a VU and a connection of its own: the first second reported latency and
 * dropped arrivals the generator caused. Made here, in the worker's own thread, so that their
 * memory comes from its malloc arena like everything else on its request path. They start
 * (on_start steps, then the pool) at the first tick, as any other.
 */
static void build_pool(sp_worker *w)
{
    uint32_t mine = pool_share(w);
    w->spare = sp_calloc(mine ? mine : 1, sizeof(w->spare[0]));
    w->nspare = mine;
    for (uint32_t j = 0; j < mine; j++)
        w->spare[j] = vu_build(w, j);
}

/* Open model: the pool (its max_vus share) is started once and kept; the tick only follows a
 * change of the target (sp_engine_set_target) by re-planning the next arrival. */
static void open_tick(sp_worker *w)
{
    sp_run *r = w->r;
    uint32_t mine = pool_share(w);
    if (w->capidle < mine) {
        /* Once, before any VU can become idle: the stack never grows on the request path. */
        sp_grow((void **)&w->idle, &w->capidle, mine, sizeof(w->idle[0]));
    }
    if (mine != w->desired || w->alive < mine)
        set_population(w, mine);
    sp_ovr o;
    sp_run_override(r, &o);
    if (o.ver != w->ovr.ver) {
        w->ovr = o;
        schedule_arrival(w);
    }
}

/* Follows the target; 1 when VUs are left to start at once, in the next pass of the loop. */
static int control_tick(sp_worker *w, uint64_t now)
{
    sp_run *r = w->r;
    if (w->open) {
        open_tick(w);
        return 0;
    }
    if (r->trace) {
        /* A single pass has one VU, started once; the load profile plays no part. */
        if (w->desired == 0)
            set_population(w, 1);
        return 0;
    }
    double t = sp_run_target(r, (now - r->start_ns) / NS_PER_MS);
    long total = lround(t);
    if (total < 0)
        total = 0;
    if (total > SP_DEF_MAX_VUS)
        total = SP_DEF_MAX_VUS;
    uint32_t mine = (uint64_t)total > w->id
                        ? (uint32_t)(((uint64_t)total - w->id + r->nworkers - 1) / r->nworkers)
                        : 0;
    /* A ramp adds a tick's share of VUs at once (150 for 1,500 VUs per second), each with its
     * socket, connect and first request: in one pass of the loop that kept every other VU's
     * response waiting behind them. Batches let the loop serve its sockets in between; the
     * same for a drop, where each VU freed closes its connection. VUs stopping after their
     * request keep alive above mine for a while: the walk then finds nothing to do. */
    if (mine != w->desired || w->alive != mine)
        return set_population_upto(w, mine, SP_VU_BATCH);
    return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/*
 * Open model, at the end. Arrivals due before the plan's end that have not fired yet (the loop
 * looks at the clock before the timers, or was behind its schedule) are started now when the
 * run ends by itself: they belong to the plan. When a stop ends it, those due before the stop
 * are dropped arrivals. Either way started + dropped equals what was planned up to the end,
 * so a low achieved rate is always explained.
 */
static void settle_arrivals(sp_worker *w, uint64_t now, int natural)
{
    sp_run *r = w->r;
    if (!w->open)
        return;
    uint64_t limit = min_u64(now, r->end_ns);
    for (uint64_t i = 0; natural && !w->arrivals_over && w->arrival.when_ns < limit; i++) {
        if (i == SP_OPEN_MAX_OVERDUE)
            break;
        sp_timerheap_remove(&w->timers, &w->arrival);
        on_arrival(w, now);
    }
    if (w->arrivals_over)
        return;
    double limit_ms = (double)(limit - r->start_ns) / (double)NS_PER_MS;
    sp_stats *st = cur_stats(w);
    double t_ms;
    for (uint64_t i = 0; i < SP_OPEN_MAX_OVERDUE; i++) {
        if (sp_profile_arrival_at(&r->def->load, &w->ovr, (double)w->next_n, &t_ms) != 0 ||
            t_ms >= limit_ms)
            break;
        st->dropped++;
        w->next_n += r->nworkers;
    }
}

static void begin_end(sp_worker *w, uint64_t deadline, uint64_t now, int natural)
{
    if (w->ending) {
        if (deadline < w->end_deadline_ns)
            w->end_deadline_ns = deadline;
        return;
    }
    settle_arrivals(w, now, natural);
    w->ending = 1;
    w->end_deadline_ns = deadline;
    /* The idle VUs are freed just below; no arrival may take one any more. */
    w->nidle = 0;
    sp_timerheap_remove(&w->timers, &w->arrival);
    w->arrivals_over = 1;
    for (size_t j = 0; j < w->nslots; j++) {
        sp_vu *v = w->vus[j];
        if (!v)
            continue;
        if (v->state == SP_VU_THINK && !wants_on_stop(v)) {
            /* Freeing a VU closes its connection and its curl handles: with 15,000 of them
             * that kept the loop away for a second, with the last requests in flight waiting
             * and the run's last seconds flagged as a stall. A thinking VU has nothing left to
             * do, so it waits, without its timer, to be freed once the loop is over. */
            sp_timerheap_remove(&w->timers, &v->timer);
            v->state = SP_VU_PARKED;
            w->retired++;
            continue;
        }
        vu_stop(v);
    }
}

static void free_all_vus(sp_worker *w)
{
    for (size_t j = 0; j < w->nslots; j++)
        if (w->vus[j])
            vu_free(w->vus[j]);
    w->retired = 0;
}

/* ---- "Try it" (trace.h): a single pass, recorded (tracerec.h) ---- */

/* A step whose condition did not hold, shown as skipped. */
static void trace_skipped(sp_vu *v, const sp_step *st)
{
    char where[512];
    uint32_t passes[SP_DEF_MAX_NESTING];
    size_t np = SP_DEF_MAX_NESTING;
    sp_tracerec_entry rec = trace_entry(v, st, where, sizeof where, passes, &np);
    rec.name = st->req ? v->w->r->def->names[st->req->name_id] : NULL;
    sp_tracerec_skipped(v->w->r->trace, &rec);
}

/* The pass's VU went through on_start, every task and on_stop: the run ends at once. */
static void trace_finish(sp_vu *v)
{
    sp_worker *w = v->w;
    sp_tracerec_finish(w->r->trace);
    w->ending = 1;
    w->end_deadline_ns = sp_now_ns();
    vu_free(v);
}

/* ---- the event loop ---- */

/* What a worker knows of a socket: the events registered with epoll, and whether curl still
 * watches it. */
#define FD_REG_IN 0x1u
#define FD_REG_OUT 0x2u
#define FD_REGISTERED 0x4u
#define FD_CURL 0x8u
#define FD_OURS 0x10u /* opened through on_open, so it is closed through on_close */

static void fd_ctl(sp_shard *sh, curl_socket_t s, unsigned want)
{
    sp_worker *w = sh->w;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((want & FD_REG_IN) ? EPOLLIN : 0u) | ((want & FD_REG_OUT) ? EPOLLOUT : 0u);
    /* A connection stays in its shard's cache for life, so its socket's shard never changes
     * while it is registered. */
    ev.data.u64 = ((uint64_t)sh->idx << 32) | (uint32_t)s;
    int op = (w->fds[s] & FD_REGISTERED) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(w->ep, op, s, &ev) != 0) {
        /* Only if a socket was closed behind curl's back: try the other operation. */
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        epoll_ctl(w->ep, op, s, &ev);
    }
    w->fds[s] = (uint8_t)((w->fds[s] & FD_OURS) | want | FD_REGISTERED | FD_CURL);
}

static void fd_grow(sp_worker *w, curl_socket_t s)
{
    if ((size_t)s >= w->nfds) {
        size_t old = w->nfds;
        sp_grow((void **)&w->fds, &w->nfds, (size_t)s + 1, 1);
        memset(w->fds + old, 0, w->nfds - old);
    }
}

/*
 * curl removes a keep-alive connection's socket each time its transfer ends and adds it back
 * when the next request reuses it: two epoll_ctl calls per request for nothing. So a removed
 * socket stays registered and is only marked as no longer curl's; if it signals an event
 * while parked (the server closed it), the loop drops it then. Only connection sockets are
 * parked: curl opens them through on_open and closes them through on_close, which forgets the
 * socket (closing it takes it out of epoll), so a number reused for a new socket is never
 * mistaken for a registered one. Other sockets (a resolver's) are removed for real.
 */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    sp_shard *sh = userp;
    sp_worker *w = sh->w;
    SP_UNUSED(e);
    SP_UNUSED(socketp);
    if (s < 0)
        return 0;
    fd_grow(w, s);
    if (what == CURL_POLL_REMOVE) {
        if (w->fds[s] & FD_OURS) {
            w->fds[s] &= (uint8_t)~FD_CURL;
        } else {
            if (w->fds[s] & FD_REGISTERED)
                epoll_ctl(w->ep, EPOLL_CTL_DEL, s, NULL);
            w->fds[s] = 0;
        }
        return 0;
    }
    unsigned want =
        ((what & CURL_POLL_IN) ? FD_REG_IN : 0u) | ((what & CURL_POLL_OUT) ? FD_REG_OUT : 0u);
    uint8_t st = w->fds[s];
    if ((st & FD_REGISTERED) && (st & (FD_REG_IN | FD_REG_OUT)) == want) {
        w->fds[s] = (uint8_t)(st | FD_CURL);
        return 0;
    }
    fd_ctl(sh, s, want);
    return 0;
}

/*
 * connect() picks the local port by scanning the ephemeral range from a hashed offset, and by
 * default it scans only the ports of one parity first (the other half is left to bind()). Once
 * a run holds connections to one address on every port of that half (14,116 with the default
 * range 32768-60999), each new connect scans all of them before trying the other half: about
 * 5 ms of kernel time per connect, in the worker's thread. The last VUs of a ramp to 15,000
 * froze the worker for seconds that way, with every request in flight reported as late. With
 * IP_LOCAL_PORT_RANGE set, recent kernels (since 6.6-6.8) scan the whole range in one pass; 1-65535
 * keeps the system's range (the kernel only narrows it to bounds inside that range). Older kernels
 * ignore the option or refuse it, which changes nothing.
 */
static void spread_ports(curl_socket_t s, int family)
{
    if (family != AF_INET && family != AF_INET6)
        return;
    uint32_t range = (65535u << 16) | 1u;
    (void)setsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range);
}

static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    sp_worker *w = ud;
    SP_UNUSED(purpose);
    curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (s < 0)
        return CURL_SOCKET_BAD;
    if (a->socktype == SOCK_STREAM)
        spread_ports(s, a->family);
    fd_grow(w, s);
    w->fds[s] = FD_OURS;
    return s;
}

/* ---- target allowlist: only installed when the run has one ---- */

/* Every new connection, after DNS resolution, with the address about to be connected: the
 * address is what counts, however the URL spelled it and wherever a redirect pointed. */
static curl_socket_t guard_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    sp_vu *v = ud;
    if (!sp_allowlist_allows_addr(v->w->r->allowlist, &a->addr, a->addrlen)) {
        sp_allow_format_addr(&a->addr, v->blocked, sizeof v->blocked);
        return CURL_SOCKET_BAD;
    }
    return on_open(v->w, purpose, a);
}

/* Every request, a reused connection's and a redirect's too, just before it is sent. */
static int guard_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    sp_vu *v = ud;
    SP_UNUSED(local_ip);
    SP_UNUSED(local_port);
    if (!sp_allowlist_allows_ip(v->w->r->allowlist, ip, (unsigned)port)) {
        snprintf(v->blocked, sizeof v->blocked, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
        return CURL_PREREQFUNC_ABORT;
    }
    /* A refused address that happy eyeballs then replaced by an allowed one is no failure. */
    v->blocked[0] = '\0';
    return CURL_PREREQFUNC_OK;
}

static void guard_setup(sp_vu *v)
{
    curl_easy_setopt(v->easy, CURLOPT_OPENSOCKETFUNCTION, guard_open);
    curl_easy_setopt(v->easy, CURLOPT_OPENSOCKETDATA, v);
    curl_easy_setopt(v->easy, CURLOPT_PREREQFUNCTION, guard_prereq);
    curl_easy_setopt(v->easy, CURLOPT_PREREQDATA, v);
}

static int on_close(void *ud, curl_socket_t s)
{
    sp_worker *w = ud;
    if (s >= 0 && (size_t)s < w->nfds)
        w->fds[s] = 0;
    return close(s);
}

/* An event on a socket curl no longer watches: stop watching it too. */
static int fd_parked(sp_worker *w, int fd)
{
    if ((size_t)fd >= w->nfds || (w->fds[fd] & FD_CURL))
        return 0;
    if (w->fds[fd] & FD_REGISTERED)
        epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
    w->fds[fd] &= (uint8_t)FD_OURS; /* still open: on_close will be called for it */
    return 1;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    sp_shard *sh = userp;
    SP_UNUSED(m);
    if (timeout_ms < 0)
        sh->deadline_ns = UINT64_MAX;
    else if (timeout_ms == 0)
        sh->deadline_ns = 0; /* due whatever "now" the loop compares it with */
    else
        sh->deadline_ns = sp_now_ns() + (uint64_t)timeout_ms * NS_PER_MS;
    return 0;
}

static void process_done(sp_shard *sh)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(sh->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode cc = m->data.result;
        /* m is invalid once the handle is removed: copy first. */
        curl_multi_remove_handle(sh->multi, e);
        char *pv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &pv);
        vu_done((sp_vu *)pv, cc);
    }
}

static void curl_timeout(sp_shard *sh)
{
    int running;
    sh->deadline_ns = UINT64_MAX;
    curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process_done(sh);
}

/* Runs curl's timeouts of every shard that is due; 1 when any ran. */
static int run_due(sp_worker *w, uint64_t now)
{
    int ran = 0;
    for (size_t i = 0; i < w->nshards; i++) {
        if (w->shards[i]->deadline_ns <= now) {
            curl_timeout(w->shards[i]);
            ran = 1;
        }
    }
    return ran;
}

static sp_shard *get_shard(sp_worker *w, uint32_t idx)
{
    while (w->nshards <= idx) {
        sp_shard *sh = sp_calloc(1, sizeof(*sh));
        sh->w = w;
        sh->idx = (uint32_t)w->nshards;
        sh->deadline_ns = UINT64_MAX;
        sh->multi = curl_multi_init();
        if (!sh->multi) {
            free(sh);
            return NULL;
        }
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
        set_maxconns(sh, 0);
        sp_grow((void **)&w->shards, &w->capshards, w->nshards + 1, sizeof(w->shards[0]));
        w->shards[w->nshards++] = sh;
    }
    return w->shards[idx];
}

void sp_worker_wake(sp_worker *w)
{
    uint64_t one = 1;
    ssize_t rc = write(w->evfd, &one, sizeof one);
    SP_UNUSED(rc); /* a full counter already means "wake up" */
}

/*
 * epoll_wait counts in whole milliseconds, so a timer due in 0.2 ms would fire up to 1 ms late:
 * too coarse for open-model arrivals, whose lateness is reported as the generator's lag.
 * epoll_pwait2 (Linux 5.11) takes nanoseconds; older kernels fall back to milliseconds,
 * rounded up so a timer never fires early.
 */
static int wait_events(int ep, struct epoll_event *evs, uint64_t ns)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    static atomic_int no_pwait2;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts = {(time_t)(ns / NS_PER_S), (long)(ns % NS_PER_S)};
        int n = epoll_pwait2(ep, evs, EVENTS_MAX, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        atomic_store_explicit(&no_pwait2, 1, memory_order_relaxed);
    }
#endif
    return epoll_wait(ep, evs, EVENTS_MAX, (int)((ns + NS_PER_MS - 1) / NS_PER_MS));
}

void *sp_worker_main(void *arg)
{
    sp_worker *w = arg;
    sp_run *r = w->r;
    /* A try's time cap is a hard stop: no grace after it. */
    const uint64_t graceful_ns = r->trace ? 0 : (uint64_t)r->def->opts.graceful_stop_ms * NS_PER_MS;
    struct epoll_event evs[EVENTS_MAX];

    /* Best effort: without it the loop only wakes a little later. */
    (void)prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
    if (w->open)
        build_pool(w);
    if (sp_run_ready_wait(r) < 0)
        return NULL; /* the run never started; sp_worker_free frees the pool */
    w->cur = msg_take(w);
    w->env.stats = &w->cur->stats;
    w->cur_second = 0;
    w->next_tick_ns = r->start_ns;
    if (w->open) {
        /* The pool first, so the first arrivals find their VUs (those with on_start steps are
         * busy with them until done), then the schedule from arrival `id`. */
        open_tick(w);
        schedule_arrival(w);
    }
    w->plan_ns = sp_now_ns();
    for (;;) {
        uint64_t now = sp_now_ns();
        uint64_t gap = now > w->plan_ns ? now - w->plan_ns : 0;
        /* A second that ended is sent first, so its gauges describe its end, not a stop
         * that comes after it. */
        uint64_t sec = (now - r->start_ns) / NS_PER_S;
        if (sec > w->cur_second)
            flush_seconds(w, sec, w->plan_ns, gap);
        else if (gap)
            note_gap(cur_stats(w), gap);
        w->plan_ns = now; /* an iteration that does not sleep means to be back at once */
        int mode = atomic_load(&r->stop_mode);
        if (mode == SP_STOP_NOW)
            break;
        if (mode == SP_STOP_GRACEFUL)
            begin_end(w, atomic_load(&r->stop_deadline_ns), now, 0);
        else if (now >= r->end_ns)
            begin_end(w, r->end_ns + graceful_ns, now, 1);
        if (w->ending && ((w->inflight == 0 && w->in_stop == 0) || now >= w->end_deadline_ns))
            break;
        if (!w->ending && now >= w->next_tick_ns)
            w->next_tick_ns = control_tick(w, now) ? now : now + TICK_NS;
        if (w->open)
            start_arrivals(w, now);
        sp_timer *t;
        while ((t = sp_timerheap_pop_due(&w->timers, now))) {
            if (t == &w->arrival) { /* not reached (start_arrivals took it), but never a VU's */
                on_arrival(w, now);
                start_arrivals(w, now);
                continue;
            }
            uint64_t lag = (now - t->when_ns) / 1000;
            if (lag > cur_stats(w)->lag_us_max)
                cur_stats(w)->lag_us_max = lag;
            vu_timer_fired((sp_vu *)((char *)t - offsetof(sp_vu, timer)));
        }
        /* Requests just added want curl's timeout at once: start them before sleeping. */
        if (run_due(w, now))
            continue;

        uint64_t deadline = r->start_ns + (w->cur_second + 1) * NS_PER_S;
        for (size_t i = 0; i < w->nshards; i++)
            deadline = min_u64(deadline, w->shards[i]->deadline_ns);
        if (w->ending)
            deadline = min_u64(deadline, w->end_deadline_ns);
        else
            deadline = min_u64(min_u64(deadline, w->next_tick_ns), r->end_ns);
        if ((t = sp_timerheap_peek(&w->timers)))
            deadline = min_u64(deadline, t->when_ns);
        uint64_t wait_ns = deadline > now ? deadline - now : 0;
        if (wait_ns <= SPIN_NS)
            wait_ns = 0; /* polls: back at the top until the deadline */
        int n = wait_events(w->ep, evs, wait_ns > NS_PER_S ? NS_PER_S : wait_ns);
        uint64_t woke = sp_now_ns();
        w->plan_ns = woke < deadline ? woke : deadline;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == EV_WAKE) {
                uint64_t val;
                ssize_t rc = read(w->evfd, &val, sizeof val);
                SP_UNUSED(rc);
                w->next_tick_ns = 0; /* a new target: follow it now, not at the next tick */
                continue;
            }
            int fd = (int)(uint32_t)evs[i].data.u64;
            uint32_t si = (uint32_t)(evs[i].data.u64 >> 32);
            if (fd_parked(w, fd) || si >= w->nshards)
                continue;
            int flags = 0;
            if (evs[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            int running;
            curl_multi_socket_action(w->shards[si]->multi, fd, flags, &running);
        }
        for (size_t i = 0; i < w->nshards; i++)
            process_done(w->shards[i]);
        run_due(w, sp_now_ns());
    }
    /* Whatever is still in flight is aborted and not recorded (see docs/engine.md). */
    free_all_vus(w);
    free_spares(w);
    uint64_t now = sp_now_ns();
    flush_second(w, (now - r->start_ns) / NS_PER_S, 1);
    return NULL;
}

sp_worker *sp_worker_new(sp_run *r, unsigned id, char *err, size_t errlen)
{
    sp_worker *w = sp_calloc(1, sizeof(*w));
    w->r = r;
    w->id = id;
    w->ep = -1;
    w->evfd = -1;
    sp_timerheap_init(&w->timers);
    sp_timer_init(&w->arrival);
    w->open = r->def->load.model == SP_LOAD_OPEN && !r->trace;
    w->next_n = id;
    pthread_mutex_init(&w->free_mu, NULL);
    sp_vu_env_init(&w->env, r);

    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->ep < 0 || w->evfd < 0) {
        snprintf(err, errlen, "worker %u: epoll/eventfd: %s", id, strerror(errno));
        goto fail;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = EV_WAKE;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &ev) != 0) {
        snprintf(err, errlen, "worker %u: epoll_ctl: %s", id, strerror(errno));
        goto fail;
    }
    /* The first shard now, so that a curl that cannot start fails the run at once. */
    if (!get_shard(w, 0)) {
        snprintf(err, errlen, "worker %u: curl_multi_init failed", id);
        goto fail;
    }
    /* Two stats objects per worker cover the steady state: one filling, one being merged. */
    sp_worker_recycle(w, msg_take(w));
    sp_worker_recycle(w, msg_take(w));
    return w;
fail:
    sp_worker_free(w);
    return NULL;
}

void sp_worker_free(sp_worker *w)
{
    if (!w)
        return;
    free_all_vus(w);
    free_spares(w);
    free(w->vus);
    free(w->idle);
    /* Closing the cached connections calls on_close, which uses the socket table. */
    for (size_t i = 0; i < w->nshards; i++) {
        curl_multi_cleanup(w->shards[i]->multi);
        free(w->shards[i]);
    }
    free(w->shards);
    free(w->fds);
    if (w->ep >= 0)
        close(w->ep);
    if (w->evfd >= 0)
        close(w->evfd);
    sp_timerheap_release(&w->timers);
    sp_msg *m = w->free_list;
    while (m) {
        sp_msg *next = m->next;
        sp_stats_release(&m->stats);
        free(m);
        m = next;
    }
    if (w->cur) {
        sp_stats_release(&w->cur->stats);
        free(w->cur);
    }
    pthread_mutex_destroy(&w->free_mu);
    sp_vu_env_release(&w->env);
    free(w);
}
