/*
 * engine.c - see engine.h: the run's lifecycle, the request plans shared by the workers, and
 * the aggregator thread that turns the workers' per-second stats into one snapshot per second
 * and the run's totals. The load profile is in profile.c, the workers in worker.c;
 * docs/engine.md has the whole picture.
 */
#include "engine/engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "engine/profile.h"
#include "engine/run.h"
#include "engine/tracerec.h"
#include "engine/worker.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define MAX_THREADS 256
/* How long the aggregator waits for a late worker after a second ends before it sends the
 * second without it (the late stats then count in the next second). Within the live view's
 * budget of 1.5 s from a second's end to the browser. */
#define AGG_GRACE_NS (900 * NS_PER_MS)
/* How far past its deadline a wait must end for the aggregator to count itself frozen. */
#define AGG_LATE_NS (200 * NS_PER_MS)

/* ST_READY: the workers are up and waiting for the clock (sp_engine_prepare). */
enum { ST_NEW, ST_READY, ST_RUNNING, ST_DONE };

struct sp_engine {
    sp_run run;
    sp_engine_opts opts;
    sp_worker **workers;
    pthread_t *threads;
    unsigned nthreads_started;
    pthread_t agg;
    int agg_started;
    atomic_int state;    /* ST_*: read by any thread, written by the controlling one */
    atomic_int finished; /* the aggregator has sent the last second */
    uint64_t elapsed_ms; /* frozen by sp_engine_wait */
    sp_stats totals;
    atomic_int broke; /* a stop_when condition stopped the run; brk is set before */
    sp_break brk;
    /* Remote workers (opts.remote_workers): under run.mu, the next second each may send and
     * whether it has ended. */
    int remote;
    uint64_t *remote_next;
    uint8_t *remote_ended;
    /* Under run.mu: messages the aggregator gave back, reused by the next feeds, so that a
     * second of many agents does not allocate (and fault in) every histogram anew. */
    sp_msg *remote_free;
};

static void stop_run(sp_engine *e, int graceful, int by_user);

/* ---- request plans ---- */

static void plan_add_hdr(sp_plan *p, size_t *cap, const char *name, const sp_tmpl *value,
                         const char *cvalue, int prio)
{
    /* A later header of the same name and priority replaces an earlier one; a request header
     * hides a lower one of the same name. */
    for (size_t i = 0; i < p->nhdrs; i++) {
        if (strcasecmp(p->hdrs[i].name, name) == 0 && p->hdrs[i].prio <= prio) {
            free(p->hdrs[i].line);
            memmove(&p->hdrs[i], &p->hdrs[i + 1], (p->nhdrs - i - 1) * sizeof(p->hdrs[0]));
            p->nhdrs--;
            i--;
        }
    }
    sp_grow((void **)&p->hdrs, cap, p->nhdrs + 1, sizeof(p->hdrs[0]));
    sp_planhdr *h = &p->hdrs[p->nhdrs++];
    h->name = name;
    h->value = value;
    h->line = NULL;
    h->prio = prio;
    const char *text = cvalue;
    size_t len = cvalue ? strlen(cvalue) : 0;
    if (!text && value && sp_tmpl_is_constant(value))
        text = sp_tmpl_constant(value, &len);
    if (text) {
        sp_buf b;
        sp_buf_init(&b, SIZE_MAX);
        /* "Name:" with nothing after it tells curl to send no such header at all. */
        (void)sp_buf_addf(&b, len ? "%s: " : "%s:", name);
        (void)sp_buf_add(&b, text, len);
        h->line = sp_buf_detach(&b, NULL);
        h->value = NULL;
    }
}

static int hdr_listed(const sp_hdr *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return 1;
    return 0;
}

static sp_plan *plan_new(const sp_def *d, const sp_userclass *uc, const sp_step *st)
{
    const sp_request *rq = st->req;
    if (!rq)
        return NULL;
    sp_plan *p = sp_calloc(1, sizeof(*p));
    size_t cap = 0;
    p->step = st;
    p->req = rq;
    if (rq->body_kind != SP_BODY_NONE && !hdr_listed(d->headers, d->nheaders, "Expect") &&
        !hdr_listed(uc->headers, uc->nheaders, "Expect") &&
        !hdr_listed(rq->headers, rq->nheaders, "Expect"))
        plan_add_hdr(p, &cap, "Expect", NULL, "", 0); /* no 100-continue round trip */
    for (size_t i = 0; i < d->nheaders; i++)
        plan_add_hdr(p, &cap, d->headers[i].name, d->headers[i].value, NULL, 0);
    for (size_t i = 0; i < uc->nheaders; i++)
        plan_add_hdr(p, &cap, uc->headers[i].name, uc->headers[i].value, NULL, 0);
    /* The body's type counts as the request's own header: it wins over the test's, the
     * class's and the VU's (docs/test-format.md), unless the request sets one itself. */
    if (rq->content_type && rq->body_kind != SP_BODY_MULTIPART &&
        !hdr_listed(rq->headers, rq->nheaders, "Content-Type"))
        plan_add_hdr(p, &cap, "Content-Type", NULL, rq->content_type, 2);
    for (size_t i = 0; i < rq->nheaders; i++)
        plan_add_hdr(p, &cap, rq->headers[i].name, rq->headers[i].value, NULL, 2);

    p->hdrs_constant = 1;
    for (size_t i = 0; i < p->nhdrs; i++)
        if (!p->hdrs[i].line)
            p->hdrs_constant = 0;
    if (p->hdrs_constant) {
        /* Request headers last, as the VU path orders them. */
        for (int prio = 0; prio <= 2; prio += 2)
            for (size_t i = 0; i < p->nhdrs; i++)
                if (p->hdrs[i].prio == prio)
                    p->slist = curl_slist_append(p->slist, p->hdrs[i].line);
    }

    const sp_expect *x = &st->expect;
    p->want_json = x->njson > 0;
    p->keep_body = x->njson > 0 || x->body_contains != NULL;
    for (size_t i = 0; i < st->nextracts; i++) {
        switch (st->extracts[i].kind) {
        case SP_EXTRACT_JSON:
            p->want_json = 1;
            p->keep_body = 1;
            break;
        case SP_EXTRACT_REGEX:
            p->keep_body = 1;
            break;
        case SP_EXTRACT_HEADER:
            p->keep_headers = 1;
            break;
        }
    }
    p->timeout_ms = rq->timeout_ms       ? rq->timeout_ms
                    : d->opts.timeout_ms ? d->opts.timeout_ms
                                         : SP_REQ_DEFAULT_TIMEOUT_MS;
    return p;
}

static void plan_free(sp_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nhdrs; i++)
        free(p->hdrs[i].line);
    free(p->hdrs);
    curl_slist_free_all(p->slist);
    free(p);
}

/* Makes the plan of every plain step with a request in steps, nested ones included, at its
 * plan index (the nesting is bounded by SP_DEF_MAX_NESTING). */
static void plans_in(const sp_def *d, const sp_userclass *uc, const sp_step *steps, size_t n,
                     sp_classplan *cp)
{
    for (size_t i = 0; i < n; i++) {
        const sp_step *st = &steps[i];
        if (st->plan >= 0 && (size_t)st->plan < cp->nplans)
            cp->plans[st->plan] = plan_new(d, uc, st);
        plans_in(d, uc, st->body.steps, st->body.nsteps, cp);
        for (size_t b = 0; b < st->nbranches; b++)
            plans_in(d, uc, st->branches[b].body.steps, st->branches[b].body.nsteps, cp);
    }
}

static void build_plans(sp_run *r)
{
    const sp_def *d = r->def;
    r->plans = sp_calloc(d->nusers, sizeof(r->plans[0]));
    for (size_t c = 0; c < d->nusers; c++) {
        const sp_userclass *uc = &d->users[c];
        sp_classplan *cp = &r->plans[c];
        cp->nplans = uc->nplans;
        cp->plans = sp_calloc(uc->nplans ? uc->nplans : 1, sizeof(cp->plans[0]));
        plans_in(d, uc, uc->on_start, uc->non_start, cp);
        for (size_t t = 0; t < uc->ntasks; t++)
            plans_in(d, uc, uc->tasks[t].steps, uc->tasks[t].nsteps, cp);
        plans_in(d, uc, uc->on_stop, uc->non_stop, cp);
    }
}

static void free_plans(sp_run *r)
{
    const sp_def *d = r->def;
    if (!r->plans)
        return;
    for (size_t c = 0; c < d->nusers; c++) {
        sp_classplan *cp = &r->plans[c];
        for (size_t i = 0; i < cp->nplans; i++)
            plan_free(cp->plans[i]);
        free(cp->plans);
    }
    free(r->plans);
    r->plans = NULL;
}

/* ---- the aggregator ---- */

/* A second waiting for workers: its merged stats, and each worker's gauge for its end. */
typedef struct pslot {
    sp_stats st;
    uint32_t *active; /* [nworkers]; NO_GAUGE until the worker's message for this second */
} pslot;

#define NO_GAUGE UINT32_MAX

typedef struct agg {
    sp_engine *e;
    unsigned nworkers;
    uint64_t next; /* the next second to send */
    pslot *pend;   /* seconds next, next+1, ... waiting for workers */
    size_t npend, cappend;
    uint64_t *wk_next;   /* per worker: every second below this one is complete */
    uint32_t *wk_active; /* per worker: the gauge last sent for it, for seconds it missed */
    unsigned nlast;
    uint64_t max_second; /* the latest second any message was for */
    /* When the aggregator came back from a wait far later than it planned (the process was
     * frozen, or starved): the workers, frozen with it, get a fresh grace from then to send the
     * seconds they owe, so those are not emitted empty and their figures merged into a later
     * second. 0: never. */
    uint64_t back_ns;
    /* stop_when: the last stop_window_s seconds, oldest overwritten, and their merge */
    sp_stats *ring;
    size_t nring, filled;
    sp_stats win;
} agg;

/* Feeds the second just sent into the stop_when window and stops the run gracefully when a
 * condition holds over a full window. */
static void agg_stop_when(agg *a, uint64_t second, const sp_stats *s)
{
    sp_engine *e = a->e;
    sp_run *r = &e->run;
    const sp_load *l = &r->def->load;
    /* A single pass ("Try it") is not a load: its failures are what it shows, not a reason to
     * stop it. */
    if (!a->nring || r->trace || atomic_load(&e->broke) ||
        atomic_load(&r->stop_mode) != SP_STOP_NONE)
        return;
    sp_stats *slot = &a->ring[second % a->nring];
    sp_stats_reset(slot);
    sp_stats_merge(slot, s, 0);
    if (++a->filled < a->nring)
        return; /* judge full windows only: the first seconds of a ramp are too few */
    sp_stats_reset(&a->win);
    for (size_t i = 0; i < a->nring; i++)
        sp_stats_merge(&a->win, &a->ring[i], 0);
    for (size_t i = 0; i < l->nstop_when; i++) {
        sp_verdict v;
        sp_threshold_eval(&l->stop_when[i], &a->win, (double)a->nring, &v);
        if (!v.passed) /* the condition does not hold */
            continue;
        e->brk.second = second;
        e->brk.target = l->model == SP_LOAD_OPEN ? s->target_rate : (double)s->target_vus;
        e->brk.active_vus = s->active_vus;
        e->brk.condition = i;
        e->brk.measured = v.measured;
        atomic_store(&e->broke, 1);
        stop_run(e, 1, 0);
        if (e->opts.on_break)
            e->opts.on_break(e->opts.ud);
        return;
    }
}

static pslot *agg_slot(agg *a, uint64_t second)
{
    size_t i = (size_t)(second - a->next);
    while (a->npend <= i) {
        sp_grow((void **)&a->pend, &a->cappend, a->npend + 1, sizeof(a->pend[0]));
        pslot *p = &a->pend[a->npend];
        sp_stats_init(&p->st, a->e->run.def->nnames);
        p->active = sp_malloc(a->nworkers * sizeof(p->active[0]));
        for (unsigned w = 0; w < a->nworkers; w++)
            p->active[w] = NO_GAUGE;
        a->npend++;
    }
    return &a->pend[i];
}

static void agg_emit(agg *a)
{
    sp_engine *e = a->e;
    sp_run *r = &e->run;
    pslot *p = agg_slot(a, a->next);
    sp_stats *s = &p->st;
    uint64_t end_ms = (a->next + 1) * 1000;
    uint64_t now_ms = (sp_now_ns() - r->start_ns) / NS_PER_MS;
    double t = sp_run_target(r, end_ms < now_ms ? end_ms : now_ms);
    s->target_vus = (uint32_t)lround(t < 0 ? 0 : t);
    if (r->def->load.model == SP_LOAD_OPEN) {
        /* The open model's target is a rate: the arrivals planned inside this second. The
         * gauge of VUs is the pool's size. */
        sp_ovr o;
        sp_run_override(r, &o);
        double s0 = (double)a->next * 1000.0;
        s->target_rate = sp_profile_arrivals_by(&r->def->load, &o, s0 + 1000.0) -
                         sp_profile_arrivals_by(&r->def->load, &o, s0);
        s->target_vus = r->def->load.max_vus;
    }
    /* Each worker's own gauge for this second; a worker that is late for it counts with its
     * previous one (its stats, when they come, count in a later second). */
    s->active_vus = 0;
    for (unsigned w = 0; w < a->nworkers; w++) {
        if (p->active[w] != NO_GAUGE)
            a->wk_active[w] = p->active[w];
        s->active_vus += a->wk_active[w];
        p->active[w] = NO_GAUGE;
    }
    /* A second in which a worker was away longer than SP_STALL_US is the generator's own
     * stall: its latencies and its missing requests are not the target's. */
    if (s->lag_us_max > SP_STALL_US) {
        s->stalled_seconds = 1;
        s->stall_first = s->stall_last = a->next;
    }
    sp_stats_merge(&e->totals, s, 0);
    if (e->opts.on_second)
        e->opts.on_second(e->opts.ud, a->next, s);
    agg_stop_when(a, a->next, s);
    /* Rotate the sent slot to the back for reuse. */
    pslot done = a->pend[0];
    memmove(&a->pend[0], &a->pend[1], (a->npend - 1) * sizeof(a->pend[0]));
    sp_stats_reset(&done.st);
    a->pend[a->npend - 1] = done;
    a->next++;
}

/*
 * Failure messages can hold a secret's value, as written or encoded: a check's message template
 * may name one, and a target may echo one back (from a query, a JSON body, a Basic
 * Authorization header) into a value that a message quotes. They are masked here, before any of
 * them leaves the engine (on_second, the totals), on the aggregator thread, so the workers pay
 * nothing for it, and everything made of them later (the live stream, the store, REST answers,
 * exports, reports) holds the mask only. Two messages that differ only in a secret become one.
 * A message the worker cut at SP_FAIL_MSG_MAX (a UTF-8 sequence is never split, so it may be
 * up to 3 bytes shorter) may end inside a value.
 */
static void mask_secrets(const sp_mask *mask, sp_stats *s)
{
    sp_buf b;
    sp_buf_init(&b, SP_FAIL_MSG_MAX * 4);
    for (size_t i = 0; i < s->nnames; i++) {
        sp_name_stats *n = &s->names[i];
        for (size_t k = 0; k < n->nmsgs; k++) {
            size_t len = strlen(n->msgs[k].msg);
            unsigned cut = len + 3 >= SP_FAIL_MSG_MAX ? SP_MASK_CUT : 0;
            sp_buf_reset(&b);
            if (sp_mask_apply(mask, n->msgs[k].msg, len, cut, &b) && b.p) {
                free(n->msgs[k].msg);
                n->msgs[k].msg = sp_strndup(b.p, b.len < SP_FAIL_MSG_MAX ? b.len : SP_FAIL_MSG_MAX);
            }
        }
    }
    sp_buf_release(&b);
}

/*
 * The run's last second: the one in which its profile ends, or the one in which it was
 * stopped. Requests that finish after it, in a graceful stop's tail, count in it: a second of
 * their own would be a short, nearly empty one, drawn as a cliff to zero at the end of every
 * chart and read as one more second of the run. The aggregator holds this second back until
 * every worker has ended, so that the tail is in it when it is sent.
 */
static uint64_t agg_last_second(const agg *a)
{
    const sp_run *r = &a->e->run;
    uint64_t end = r->end_ns > r->start_ns ? r->end_ns - r->start_ns : 1;
    uint64_t last = (end - 1) / NS_PER_S;
    uint64_t stop = atomic_load(&r->stop_ns);
    if (stop != UINT64_MAX && stop > r->start_ns && (stop - r->start_ns) / NS_PER_S < last)
        last = (stop - r->start_ns) / NS_PER_S;
    return last;
}

static void agg_take(agg *a, sp_msg *m)
{
    sp_engine *e = a->e;
    if (e->run.def->mask)
        mask_secrets(e->run.def->mask, &m->stats);
    uint64_t last = agg_last_second(a);
    int tail = m->second > last;
    uint64_t sec = tail ? last : m->second;
    int late = sec < a->next;
    if (late)
        sec = a->next;
    pslot *p = agg_slot(a, sec);
    sp_stats_merge(&p->st, &m->stats, 1);
    /* A tail's gauge is taken after the worker let its VUs go: the second keeps the one it
     * had at its end. */
    if (!late && !tail)
        p->active[m->worker] = m->stats.active_vus;
    if (sec > a->max_second)
        a->max_second = sec;
    a->wk_next[m->worker] = m->done_through == UINT64_MAX ? UINT64_MAX : m->done_through + 1;
    if (m->last)
        a->nlast++;
    if (e->remote) {
        pthread_mutex_lock(&e->run.mu);
        m->next = e->remote_free;
        e->remote_free = m;
        pthread_mutex_unlock(&e->run.mu);
        return;
    }
    sp_stats_reset(&m->stats);
    sp_worker_recycle(e->workers[m->worker], m);
}

static void *agg_main(void *arg)
{
    sp_engine *e = arg;
    sp_run *r = &e->run;
    agg a;
    memset(&a, 0, sizeof a);
    a.e = e;
    a.nworkers = r->nworkers;
    a.wk_next = sp_calloc(r->nworkers, sizeof(a.wk_next[0]));
    a.wk_active = sp_calloc(r->nworkers, sizeof(a.wk_active[0]));
    if (r->def->load.nstop_when) {
        a.nring = r->def->load.stop_window_s ? r->def->load.stop_window_s : 1;
        a.ring = sp_calloc(a.nring, sizeof(a.ring[0]));
        for (size_t i = 0; i < a.nring; i++)
            sp_stats_init(&a.ring[i], r->def->nnames);
        sp_stats_init(&a.win, r->def->nnames);
    }

    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->q_head) {
            sp_msg *m = r->q_head;
            r->q_head = m->next;
            if (!r->q_head)
                r->q_tail = NULL;
            pthread_mutex_unlock(&r->mu);
            agg_take(&a, m);
            pthread_mutex_lock(&r->mu);
        }
        pthread_mutex_unlock(&r->mu);

        uint64_t complete = UINT64_MAX;
        for (unsigned i = 0; i < r->nworkers; i++)
            if (a.wk_next[i] < complete)
                complete = a.wk_next[i];
        if (a.nlast == r->nworkers) {
            while (a.next <= a.max_second)
                agg_emit(&a);
            break;
        }
        /* The last second waits for every worker's end (agg_last_second). */
        uint64_t hold = agg_last_second(&a);
        uint64_t now = sp_now_ns();
        while (a.next < hold) {
            uint64_t grace_end = r->start_ns + (a.next + 1) * NS_PER_S + AGG_GRACE_NS;
            if (a.back_ns && a.back_ns + AGG_GRACE_NS > grace_end)
                grace_end = a.back_ns + AGG_GRACE_NS;
            if (a.next < complete) {
                agg_emit(&a);
            } else if (now >= grace_end) {
                /* A worker owes this second: its loop, which sends a second as soon as it is
                 * back at its top after the second's end, has been away at least since then.
                 * That is the second's lag, so the second is flagged as a stall now instead of
                 * sent as an innocent empty one (the figures, when they come, count later). */
                uint64_t away_us = (now - (r->start_ns + (a.next + 1) * NS_PER_S)) / 1000;
                sp_stats *st = &agg_slot(&a, a.next)->st;
                if (away_us > st->lag_us_max)
                    st->lag_us_max = away_us;
                agg_emit(&a);
            } else {
                break;
            }
        }

        pthread_mutex_lock(&r->mu);
        if (!r->q_head) {
            if (a.next >= hold) {
                /* Only messages can move on from here: the workers' last ones. */
                pthread_cond_wait(&r->cv, &r->mu);
            } else {
                uint64_t wake = r->start_ns + (a.next + 1) * NS_PER_S + AGG_GRACE_NS;
                if (a.back_ns && a.back_ns + AGG_GRACE_NS > wake)
                    wake = a.back_ns + AGG_GRACE_NS;
                struct timespec ts = {(time_t)(wake / NS_PER_S), (long)(wake % NS_PER_S)};
                pthread_cond_timedwait(&r->cv, &r->mu, &ts);
                /* A wait that ends well past its deadline was frozen (a wait ends on time, or
                 * earlier for a message): the workers were frozen with it and owe seconds. */
                uint64_t woke = sp_now_ns();
                if (woke > wake + AGG_LATE_NS)
                    a.back_ns = woke;
            }
        }
    }
    for (size_t i = 0; i < a.npend; i++) {
        sp_stats_release(&a.pend[i].st);
        free(a.pend[i].active);
    }
    free(a.pend);
    for (size_t i = 0; i < a.nring; i++)
        sp_stats_release(&a.ring[i]);
    free(a.ring);
    if (a.nring)
        sp_stats_release(&a.win);
    free(a.wk_next);
    free(a.wk_active);
    atomic_store(&e->finished, 1);
    return NULL;
}

/* ---- the API ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int sp_engine_new(const sp_def *def, const sp_engine_opts *opts, sp_engine **out, char *err,
                  size_t errlen)
{
    int rc = 0;
    *out = NULL;
    if (!err)
        errlen = 0; /* snprintf(NULL, 0, ...) below then writes nothing */
    if (errlen)
        err[0] = '\0';
    if (!def || def->nusers == 0) {
        snprintf(err, errlen, "the definition has no user classes");
        return SP_EINVAL;
    }
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
        return SP_ESYS;
    }

    sp_engine *e = sp_calloc(1, sizeof(*e));
    sp_run *r = &e->run;
    if (opts)
        e->opts = *opts;
    unsigned n = e->opts.threads;
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (unsigned)cores : 1;
    }
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    if (e->opts.trace)
        n = 1; /* a single pass runs one VU: one worker */
    if (e->opts.remote_workers) {
        if (e->opts.remote_workers > SP_WIRE_MAX_AGENTS || e->opts.trace) {
            snprintf(err, errlen, "remote_workers: at most %d, and not with a trace",
                     SP_WIRE_MAX_AGENTS);
            free(e);
            return SP_EINVAL;
        }
        n = e->opts.remote_workers;
        e->remote = 1;
        e->remote_next = sp_calloc(n, sizeof(e->remote_next[0]));
        e->remote_ended = sp_calloc(n, 1);
    }
    r->def = def;
    r->trace = e->opts.trace;
    r->allowlist = e->opts.allowlist;
    r->nworkers = n;
    r->vu_base = e->opts.vu_base;
    r->seed = e->opts.seed ? e->opts.seed : sp_now_ns() ^ ((uint64_t)getpid() << 32);
    r->max_resp = def->opts.max_response_bytes ? def->opts.max_response_bytes : SP_RESP_KEEP_MAX;
    if (r->max_resp > SP_RESP_ABSOLUTE_MAX)
        r->max_resp = SP_RESP_ABSOLUTE_MAX;
    atomic_init(&r->stop_mode, SP_STOP_NONE);
    atomic_init(&r->stop_deadline_ns, UINT64_MAX);
    atomic_init(&r->stop_ns, UINT64_MAX);
    atomic_init(&r->stopped_by_user, 0);
    atomic_init(&e->finished, 0);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&r->gate, NULL);
    r->cls_table = sp_profile_classes(def, &r->ncls_table);
    if (r->trace) {
        /* The pass's one VU (number 0) is of the class being tried. */
        r->ncls_table = 1;
        r->cls_table[0] = (uint8_t)sp_tracerec_class(r->trace);
    }
    build_plans(r);
    /* Feeders hold the run's position in each CSV file, so each run starts at the first row. */
    r->feeders = sp_calloc(def->nusers, sizeof(r->feeders[0]));
    for (size_t i = 0; i < def->nusers; i++)
        if (def->users[i].csv) {
            sp_feeder_opts fo = def->users[i].feed;
            fo.part_index = e->opts.csv_part_index;
            fo.part_count = e->opts.csv_part_count;
            r->feeders[i] = sp_feeder_new(def->users[i].csv, &fo);
        }
    sp_stats_init(&e->totals, def->nnames);

    e->workers = sp_calloc(n, sizeof(e->workers[0]));
    e->threads = sp_calloc(n, sizeof(e->threads[0]));
    for (unsigned i = 0; !e->remote && i < n; i++) {
        e->workers[i] = sp_worker_new(r, i, err, errlen);
        if (!e->workers[i]) {
            rc = SP_ESYS;
            goto out;
        }
    }
out:
    if (rc) {
        sp_engine_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* Opens the workers' gate: go 1 starts the clock (start_ns is set), -1 sends them home. */
static void open_gate(sp_run *r, int go)
{
    pthread_mutex_lock(&r->mu);
    r->go = go;
    pthread_cond_broadcast(&r->gate);
    pthread_mutex_unlock(&r->mu);
}

/* A start that did not happen: the workers waiting at the gate are sent home and joined. */
static void abandon(sp_engine *e)
{
    open_gate(&e->run, -1);
    for (unsigned i = 0; i < e->nthreads_started; i++)
        pthread_join(e->threads[i], NULL);
    e->nthreads_started = 0;
}

int sp_engine_prepare(sp_engine *e)
{
    sp_run *r = &e->run;
    if (e->state == ST_READY)
        return 0;
    if (e->state != ST_NEW)
        return SP_ESTATE;
    for (unsigned i = 0; !e->remote && i < r->nworkers; i++) {
        if (pthread_create(&e->threads[i], NULL, sp_worker_main, e->workers[i]) != 0) {
            abandon(e);
            return SP_ESYS;
        }
        e->nthreads_started++;
    }
    pthread_mutex_lock(&r->mu);
    while (r->nready < e->nthreads_started)
        pthread_cond_wait(&r->gate, &r->mu);
    pthread_mutex_unlock(&r->mu);
    e->state = ST_READY;
    return 0;
}

int sp_engine_start(sp_engine *e)
{
    sp_run *r = &e->run;
    int rc = sp_engine_prepare(e);
    if (rc != 0)
        return rc;
    /* Under mu with go: the workers read start_ns once past the gate. */
    pthread_mutex_lock(&r->mu);
    r->start_ns = sp_now_ns();
    r->end_ns = r->start_ns +
                (r->trace ? sp_tracerec_budget_ns(r->trace) : r->def->load.total_ms * NS_PER_MS);
    pthread_mutex_unlock(&r->mu);
    e->state = ST_RUNNING;
    open_gate(r, 1);
    if (pthread_create(&e->agg, NULL, agg_main, e) != 0)
        goto fail;
    e->agg_started = 1;
    return 0;
fail:
    /* Threads already running stop at once; wait() joins them. The aggregator is needed to
     * drain their last messages, so without it they are joined here. */
    sp_engine_stop(e, 0);
    if (!e->agg_started) {
        for (unsigned i = 0; i < e->nthreads_started; i++)
            pthread_join(e->threads[i], NULL);
        e->nthreads_started = 0;
        e->state = ST_DONE;
    }
    return SP_ESYS;
}

void sp_engine_stop(sp_engine *e, int graceful)
{
    stop_run(e, graceful, 1);
}

/* by_user: a stop from the API (the run is "stopped") rather than from stop_when. */
static void stop_run(sp_engine *e, int graceful, int by_user)
{
    sp_run *r = &e->run;
    int want = graceful ? SP_STOP_GRACEFUL : SP_STOP_NOW;
    pthread_mutex_lock(&r->mu);
    int cur = atomic_load(&r->stop_mode);
    if (want > cur) {
        uint64_t now = sp_now_ns();
        if (want == SP_STOP_GRACEFUL)
            atomic_store(&r->stop_deadline_ns,
                         now + (uint64_t)r->def->opts.graceful_stop_ms * NS_PER_MS);
        /* A stop after the planned end (while the last requests finish) does not make the run
         * "stopped": the profile ended it. */
        if (by_user && (e->state != ST_RUNNING || now < r->end_ns))
            atomic_store(&r->stopped_by_user, 1);
        if (cur == SP_STOP_NONE)
            atomic_store(&r->stop_ns, now);
        atomic_store(&r->stop_mode, want);
    }
    pthread_mutex_unlock(&r->mu);
    if (e->state == ST_RUNNING && !e->remote)
        for (unsigned i = 0; i < r->nworkers; i++)
            sp_worker_wake(e->workers[i]);
    else if (e->remote)
        pthread_cond_signal(&r->cv); /* the aggregator's last second may end earlier now */
}

int sp_engine_set_target(sp_engine *e, double target, uint32_t ramp_ms)
{
    sp_run *r = &e->run;
    if (e->state != ST_RUNNING || atomic_load(&e->finished) ||
        atomic_load(&r->stop_mode) != SP_STOP_NONE)
        return SP_ESTATE;
    if (!isfinite(target) || target < 0 || target > SP_DEF_MAX_VUS)
        return SP_EINVAL;
    pthread_mutex_lock(&r->mu);
    uint64_t t = (sp_now_ns() - r->start_ns) / NS_PER_MS;
    r->ov.v0 = sp_profile_target(&r->def->load, &r->ov, t);
    r->ov.v1 = target;
    r->ov.t0_ms = t;
    r->ov.ramp_ms = ramp_ms;
    r->ov.active = 1;
    r->ov.ver++;
    pthread_mutex_unlock(&r->mu);
    for (unsigned i = 0; !e->remote && i < r->nworkers; i++)
        sp_worker_wake(e->workers[i]);
    return 0;
}

/* Queues a remote worker's message for the aggregator; under r->mu. */
static void remote_push(sp_run *r, sp_msg *m)
{
    if (r->q_tail)
        r->q_tail->next = m;
    else
        r->q_head = m;
    r->q_tail = m;
    pthread_cond_signal(&r->cv);
}

/* Queues a remote worker's second: copied from s, or with take its contents moved in and s
 * given a message's old stats back (stale: the caller resets them before use). */
static int feed(sp_engine *e, unsigned worker, uint64_t second, sp_stats *s, int take)
{
    sp_run *r = &e->run;
    if (!e->remote || worker >= r->nworkers || s->nnames != r->def->nnames)
        return SP_EINVAL;
    if (e->state != ST_RUNNING)
        return SP_ESTATE;
    pthread_mutex_lock(&r->mu);
    if (e->remote_ended[worker] || second < e->remote_next[worker]) {
        pthread_mutex_unlock(&r->mu);
        return SP_ESTATE;
    }
    sp_msg *m = e->remote_free;
    if (m)
        e->remote_free = m->next;
    pthread_mutex_unlock(&r->mu);
    if (!m) {
        m = sp_calloc(1, sizeof(*m));
        sp_stats_init(&m->stats, r->def->nnames);
    }
    if (take) {
        sp_stats t = m->stats;
        m->stats = *s;
        *s = t;
    } else {
        sp_stats_reset(&m->stats);
        sp_stats_merge(&m->stats, s, 1);
    }
    m->next = NULL;
    m->worker = worker;
    m->second = second;
    m->done_through = second;
    m->last = 0;
    pthread_mutex_lock(&r->mu);
    /* Checked again: another thread may have fed this worker meanwhile. */
    if (e->remote_ended[worker] || second < e->remote_next[worker]) {
        if (take) {
            sp_stats t = m->stats;
            m->stats = *s;
            *s = t;
        }
        m->next = e->remote_free;
        e->remote_free = m;
        pthread_mutex_unlock(&r->mu);
        return SP_ESTATE;
    }
    e->remote_next[worker] = second + 1;
    remote_push(r, m);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int sp_engine_feed_second(sp_engine *e, unsigned worker, uint64_t second, const sp_stats *s)
{
    return feed(e, worker, second, (sp_stats *)s, 0);
}

int sp_engine_feed_second_take(sp_engine *e, unsigned worker, uint64_t second, sp_stats *s)
{
    return feed(e, worker, second, s, 1);
}

int sp_engine_feed_end(sp_engine *e, unsigned worker)
{
    sp_run *r = &e->run;
    if (!e->remote || worker >= r->nworkers)
        return SP_EINVAL;
    if (e->state != ST_RUNNING)
        return SP_ESTATE;
    pthread_mutex_lock(&r->mu);
    if (!e->remote_ended[worker]) {
        e->remote_ended[worker] = 1;
        sp_msg *m = sp_calloc(1, sizeof(*m));
        m->worker = worker;
        /* An empty message for the second it would send next: it adds nothing. */
        m->second = e->remote_next[worker];
        m->done_through = UINT64_MAX;
        m->last = 1;
        sp_stats_init(&m->stats, r->def->nnames);
        remote_push(r, m);
    }
    pthread_mutex_unlock(&r->mu);
    return 0;
}

double sp_engine_target(sp_engine *e)
{
    if (e->state < ST_RUNNING)
        return 0;
    return sp_run_target(&e->run, (sp_now_ns() - e->run.start_ns) / NS_PER_MS);
}

int sp_engine_wait(sp_engine *e)
{
    if (e->state < ST_RUNNING)
        return SP_ESTATE;
    if (e->state == ST_DONE)
        return 0;
    for (unsigned i = 0; i < e->nthreads_started; i++)
        pthread_join(e->threads[i], NULL);
    e->nthreads_started = 0;
    if (e->agg_started) {
        pthread_join(e->agg, NULL);
        e->agg_started = 0;
    }
    e->elapsed_ms = (sp_now_ns() - e->run.start_ns) / NS_PER_MS;
    e->state = ST_DONE;
    return 0;
}

const sp_stats *sp_engine_totals(const sp_engine *e)
{
    return &e->totals;
}

uint64_t sp_engine_elapsed_ms(const sp_engine *e)
{
    if (e->state < ST_RUNNING)
        return 0;
    if (e->state == ST_DONE)
        return e->elapsed_ms;
    return (sp_now_ns() - e->run.start_ns) / NS_PER_MS;
}

int sp_engine_broke(const sp_engine *e, sp_break *out)
{
    if (!atomic_load(&e->broke))
        return 0;
    *out = e->brk;
    return 1;
}

int sp_engine_was_stopped(const sp_engine *e)
{
    return atomic_load(&e->run.stopped_by_user);
}

void sp_engine_free(sp_engine *e)
{
    if (!e)
        return;
    if (e->state == ST_RUNNING) {
        sp_engine_stop(e, 0);
        /* Remote workers that never said their end will not now. */
        for (unsigned i = 0; e->remote && i < e->run.nworkers; i++)
            sp_engine_feed_end(e, i);
        sp_engine_wait(e);
    } else if (e->state == ST_READY) {
        abandon(e);
    }
    sp_run *r = &e->run;
    for (unsigned i = 0; e->workers && i < r->nworkers; i++)
        sp_worker_free(e->workers[i]);
    free(e->workers);
    free(e->threads);
    /* Messages never taken by an aggregator (a failed start) */
    sp_msg *m = r->q_head;
    while (m) {
        sp_msg *next = m->next;
        sp_stats_release(&m->stats);
        free(m);
        m = next;
    }
    free_plans(r);
    for (size_t i = 0; r->feeders && i < r->def->nusers; i++)
        sp_feeder_free(r->feeders[i]);
    free(r->feeders);
    free(r->cls_table);
    free(e->remote_next);
    free(e->remote_ended);
    for (sp_msg *f = e->remote_free, *next; f; f = next) {
        next = f->next;
        sp_stats_release(&f->stats);
        free(f);
    }
    sp_stats_release(&e->totals);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->gate);
    free(e);
}
