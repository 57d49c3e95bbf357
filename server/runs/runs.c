/*
 * runs.c - see runs.h.
 */
#include "runs/runs.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/json.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/histogram.h"
#include "runs/comparison.h"
#include "runs/report.h"
#include "store/store.h"

typedef struct run run;

struct sp_runs {
    char *db_path;
    char *data_dir;
    sp_live *live;
    uint32_t max_vus;
    uint64_t max_duration_ms;
    double max_rate;
    unsigned max_runs;
    unsigned engine_threads;
    sp_runs_end_fn on_end;
    void *on_end_ud;
    sp_agents *agents;

    pthread_mutex_t mu;
    pthread_cond_t idle;  /* signalled when a run leaves the list */
    run *list;            /* active runs, under mu */
    size_t nactive;       /* runs in the list plus starts in progress (slots taken), under mu */
    unsigned starting[4]; /* starts in progress by role (role_index), under mu */
    int closing;          /* sp_runs_shutdown was called: no new starts */
};

struct run {
    sp_runs *mgr;
    int64_t id;
    sp_def *def;           /* owned; outlives the engine */
    sp_engine *engine;     /* owned */
    sp_agents_run *agents; /* owned: a run across agents (its engine's workers are remote) */
    json_t *allow_json;    /* owned: the allowlist entries the agents enforce, NULL: none */
    sp_allowlist *allow;   /* owned, NULL when every target is allowed; outlives the engine */
    char role[16];         /* the starter's role, for max_concurrent_runs (immutable) */
    uint32_t role_max_vus; /* the starter's role caps, for set_target; 0: none */
    double role_max_rate;
    sp_store *store; /* the run's connection: the starting thread, then the aggregator, then
                        the waiter thread, one after the other */
    int64_t started_ms;
    pthread_t waiter;
    run *next;

    /* What the start resolved, immutable: the run as stored, and its baseline. */
    int64_t test_id;
    int revision;
    json_t *overrides;      /* as given (owned), NULL: none */
    int64_t baseline_id;    /* the baseline of relative thresholds and the gate; 0: none */
    json_t *gate;           /* the run's "baseline" object as the start stored it (owned), NULL
                               when no baseline was asked: then nothing is compared at the end */
    int fail_on_regression; /* a regression fails the run */

    /* Aggregator thread only. */
    sp_hist **minute;   /* [def->nnames] histograms of the current minute */
    int64_t cur_minute; /* -1 before the first second */
    sp_name_stats scratch;
    int store_failed; /* one log line per run, not one per second */
    int start_rc;     /* sp_engine_start's result: a run that never started ends as error */

    /* What the store could not keep: written by the aggregator thread, read by the waiter once
     * the engine has ended (and by nobody else: the live view has its own count below). A run
     * that lost anything ends "incomplete" with this named in its error and summary. */
    struct {
        uint64_t seconds;                       /* seconds not stored */
        uint64_t seen;                          /* seconds the engine reported */
        int64_t ranges[SP_RUNS_LOST_RANGES][2]; /* first and last second of each run of them */
        size_t nranges;
        int ranges_more;                       /* more runs than SP_RUNS_LOST_RANGES */
        int64_t minutes[SP_RUNS_LOST_MINUTES]; /* minute histograms not stored */
        size_t nminutes, minutes_more;
        int failures; /* the failure messages were not stored */
        int code;     /* the last failure's code: SP_EFULL says the disk was full */
    } lost;

    /* Under mu: read by HTTP handlers and the live service thread. */
    pthread_mutex_t mu;
    sp_stats totals;
    int64_t last_second;   /* -1 before the first */
    uint64_t lost_seconds; /* lost.seconds, for the live view */
    int ending;            /* the engine has ended; the end waits for the store (the disk) */
    uint32_t vus, target_vus;
    json_t *last_point;      /* the last published point (owned) */
    sp_load_change *changes; /* load changes, oldest first; each by is owned */
    size_t nchanges, capchanges;
    char **backlog; /* published points as text, oldest first from back_start */
    size_t back_start, back_n, back_cap, back_bytes;
};

/* ---- Overrides ---- */

int sp_runs_overrides_parse(const json_t *obj, sp_overrides *ov, char **stages_text,
                            sp_errlist *errs)
{
    static const char *const known[] = {"users", "duration", "stages", "base_url"};
    sp_overrides none = SP_OVERRIDES_NONE;
    *ov = none;
    *stages_text = NULL;
    if (!obj || json_is_null(obj))
        return 0;
    size_t before = errs->n + errs->dropped;
    if (!json_is_object(obj)) {
        sp_errlist_add(errs, "overrides", "must be an object");
        return SP_EINVAL;
    }
    const char *key;
    json_t *v; /* borrowed from obj */
    json_object_foreach((json_t *)obj, key, v)
    {
        char path[96];
        snprintf(path, sizeof path, "overrides.%.60s", key);
        if (strcmp(key, "users") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > SP_DEF_MAX_VUS)
                sp_errlist_add(errs, path, "must be a whole number from 1 to %d", SP_DEF_MAX_VUS);
            else
                ov->users = json_integer_value(v);
        } else if (strcmp(key, "duration") == 0) {
            int64_t ms = 0;
            if (!json_is_string(v) || sp_parse_duration_ms(json_string_value(v), &ms) != 0 ||
                ms <= 0)
                sp_errlist_add(errs, path,
                               "must be a duration above zero such as \"30s\" or "
                               "\"2m\"");
            else
                ov->duration_ms = ms;
        } else if (strcmp(key, "stages") == 0) {
            if (!json_is_array(v) || json_array_size(v) == 0) {
                sp_errlist_add(errs, path, "must be a non-empty array of stages");
            } else {
                free(*stages_text);
                *stages_text = json_dumps(v, JSON_COMPACT); /* ours: free() */
                ov->stages = *stages_text;
            }
        } else if (strcmp(key, "base_url") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0)
                sp_errlist_add(errs, path, "must be a URL");
            else
                ov->base_url = json_string_value(v);
        } else {
            const char *hint = sp_suggest(key, known, SP_ARRAY_LEN(known));
            sp_errlist_add(errs, path, "unknown field%s%s%s", hint ? " (did you mean '" : "",
                           hint ? hint : "", hint ? "'?)" : "");
        }
    }
    if (ov->users > 0 && ov->duration_ms <= 0 && !errs->n)
        sp_errlist_add(errs, "overrides.users", "needs overrides.duration (how long to hold them)");
    if (errs->n + errs->dropped > before) {
        free(*stages_text);
        *stages_text = NULL;
        *ov = none;
        return SP_EINVAL;
    }
    return 0;
}

/* ---- Manager ---- */

int sp_runs_new(const sp_runs_config *cfg, sp_runs **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->db_path) {
        snprintf(err, errlen, "no database path");
        return SP_EINVAL;
    }
    sp_runs *r = sp_calloc(1, sizeof *r);
    r->db_path = sp_strdup(cfg->db_path);
    r->data_dir = cfg->data_dir ? sp_strdup(cfg->data_dir) : NULL;
    r->live = cfg->live;
    r->max_vus = cfg->max_vus ? cfg->max_vus : SP_RUNS_MAX_VUS;
    r->max_duration_ms =
        cfg->max_duration_ms ? cfg->max_duration_ms : (uint64_t)SP_RUNS_MAX_DURATION_S * 1000;
    r->max_rate = cfg->max_rate > 0 ? cfg->max_rate : SP_RUNS_MAX_RATE;
    r->max_runs = cfg->max_runs ? cfg->max_runs : SP_RUNS_MAX_CONCURRENT;
    r->engine_threads = cfg->engine_threads ? cfg->engine_threads : SP_RUNS_ENGINE_THREADS;
    r->on_end = cfg->on_end;
    r->on_end_ud = cfg->on_end_ud;
    r->agents = cfg->agents;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->idle, NULL);
    *out = r;
    return 0;
}

/* Waits until no run is active and no start is in progress. */
static void wait_idle(sp_runs *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->nactive > 0)
        pthread_cond_wait(&r->idle, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

void sp_runs_stop_all(sp_runs *r, int graceful)
{
    pthread_mutex_lock(&r->mu);
    r->closing = 1;
    for (run *x = r->list; x; x = x->next) {
        sp_engine_stop(x->engine, graceful);
        if (x->agents)
            sp_agents_run_stop(x->agents, graceful);
    }
    pthread_mutex_unlock(&r->mu);
}

void sp_runs_shutdown(sp_runs *r)
{
    if (!r)
        return;
    sp_runs_stop_all(r, 1);
    wait_idle(r);
}

void sp_runs_free(sp_runs *r)
{
    if (!r)
        return;
    sp_runs_stop_all(r, 0);
    wait_idle(r);
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->mu);
    free(r->db_path);
    free(r->data_dir);
    free(r);
}

size_t sp_runs_active(sp_runs *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = 0;
    for (run *x = r->list; x; x = x->next)
        n++;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* The active run with this id; call with r->mu held. */
static run *find(sp_runs *r, int64_t id)
{
    for (run *x = r->list; x; x = x->next)
        if (x->id == id)
            return x;
    return NULL;
}

/* ---- One run ---- */

static void run_free(run *x)
{
    if (!x)
        return;
    sp_engine_free(x->engine);
    sp_agents_run_free(x->agents);
    json_decref(x->allow_json);
    if (x->minute) {
        for (size_t i = 0; i < x->def->nnames; i++)
            sp_hist_free(x->minute[i]);
        free(x->minute);
    }
    sp_name_stats_release(&x->scratch);
    sp_stats_release(&x->totals);
    json_decref(x->last_point);
    for (size_t i = 0; i < x->nchanges; i++)
        free((char *)x->changes[i].by);
    free(x->changes);
    for (size_t i = x->back_start; i < x->back_start + x->back_n; i++)
        free(x->backlog[i]);
    free(x->backlog);
    sp_store_close(x->store);
    sp_def_free(x->def);
    sp_allowlist_free(x->allow);
    json_decref(x->overrides);
    json_decref(x->gate);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

static double ms_of(uint64_t us)
{
    return (double)us / 1000.0;
}

/* Logs a store failure once per run (a failing disk would otherwise fill the log each second)
 * and keeps its code for the run's end. */
static void store_failed(run *x, const char *what, int code)
{
    x->lost.code = code;
    if (x->store_failed++)
        return;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)x->id);
    sp_log_kv(SP_LOG_ERROR, what, "run", id, "error", sp_store_errmsg(x->store), NULL);
}

/* Logs a failure around the baseline (reading it, comparing, storing the result): no result
 * of the run itself is lost, so it does not make the run incomplete. Waiter thread. */
static void baseline_failed(run *x, const char *what)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)x->id);
    sp_log_kv(SP_LOG_ERROR, what, "run", id, "error", sp_store_errmsg(x->store), NULL);
}

/* Second `second` was not stored. Aggregator thread. */
static void lost_second(run *x, int64_t second)
{
    x->lost.seconds++;
    size_t n = x->lost.nranges;
    if (n && x->lost.ranges[n - 1][1] == second - 1)
        x->lost.ranges[n - 1][1] = second;
    else if (n < SP_RUNS_LOST_RANGES) {
        x->lost.ranges[n][0] = x->lost.ranges[n][1] = second;
        x->lost.nranges++;
    } else
        x->lost.ranges_more = 1;
    pthread_mutex_lock(&x->mu);
    x->lost_seconds = x->lost.seconds;
    pthread_mutex_unlock(&x->mu);
}

/* The histograms of minute `minute` were not stored. Aggregator or waiter. */
static void lost_minute(run *x, int64_t minute)
{
    if (x->lost.nminutes < SP_RUNS_LOST_MINUTES)
        x->lost.minutes[x->lost.nminutes++] = minute;
    else
        x->lost.minutes_more++;
}

static int lost_anything(const run *x)
{
    return x->lost.seconds || x->lost.nminutes || x->lost.minutes_more || x->lost.failures;
}

static const char *lost_cause(const run *x)
{
    return x->lost.code == SP_EFULL          ? "the disk was full"
           : x->lost.code == SP_EUNAVAILABLE ? "the database was busy"
                                             : "the database failed";
}

/* What was lost, for the run's error: "the store could not keep all of this run's results (the
 * disk was full): 18 of 31 seconds were not stored (seconds 12-29); ...". */
static void lost_text(const run *x, int stopped, sp_buf *b)
{
    sp_buf_addf(b, "the store could not keep all of this run's results (%s)", lost_cause(x));
    const char *sep = ": ";
    if (x->lost.seconds) {
        sp_buf_addf(b, "%s%llu of %llu seconds were not stored (second%s ", sep,
                    (unsigned long long)x->lost.seconds, (unsigned long long)x->lost.seen,
                    x->lost.seconds > 1 ? "s" : "");
        for (size_t i = 0; i < x->lost.nranges; i++) {
            const int64_t *r = x->lost.ranges[i];
            sp_buf_addf(b, i ? ", %lld" : "%lld", (long long)r[0]);
            if (r[1] != r[0])
                sp_buf_addf(b, "-%lld", (long long)r[1]);
        }
        sp_buf_adds(b, x->lost.ranges_more ? " and more)" : ")");
        sep = "; ";
    }
    if (x->lost.nminutes || x->lost.minutes_more) {
        sp_buf_addf(b, "%sthe latency histograms of minute%s ", sep,
                    x->lost.nminutes + x->lost.minutes_more > 1 ? "s" : "");
        for (size_t i = 0; i < x->lost.nminutes; i++)
            sp_buf_addf(b, i ? ", %lld" : "%lld", (long long)x->lost.minutes[i]);
        if (x->lost.minutes_more)
            sp_buf_addf(b, " and %zu more", x->lost.minutes_more);
        sp_buf_adds(b, " were not stored");
        sep = "; ";
    }
    if (x->lost.failures) {
        sp_buf_addf(b, "%sthe failure messages were not stored", sep);
        sep = "; ";
    }
    if (stopped)
        sp_buf_addf(b, "%sthe run was stopped before its end", sep);
}

/* The same as an object for the summary (new reference):
 * {"cause", "seconds", "of", "ranges": [[first, last]...], "ranges_more", "minutes": [...],
 *  "minutes_more", "failure_messages"}. */
static json_t *lost_json(const run *x)
{
    json_t *ranges = json_array(), *minutes = json_array();
    for (size_t i = 0; i < x->lost.nranges; i++)
        json_array_append_new(ranges, json_pack("[I, I]", (json_int_t)x->lost.ranges[i][0],
                                                (json_int_t)x->lost.ranges[i][1]));
    for (size_t i = 0; i < x->lost.nminutes; i++)
        json_array_append_new(minutes, json_integer((json_int_t)x->lost.minutes[i]));
    const char *cause = x->lost.code == SP_EFULL          ? "disk_full"
                        : x->lost.code == SP_EUNAVAILABLE ? "unavailable"
                                                          : "database";
    /* "o" steals ranges and minutes. */
    return json_pack("{s:s, s:I, s:I, s:o, s:b, s:o, s:I, s:b}", "cause", cause, "seconds",
                     (json_int_t)x->lost.seconds, "of", (json_int_t)x->lost.seen, "ranges", ranges,
                     "ranges_more", x->lost.ranges_more, "minutes", minutes, "minutes_more",
                     (json_int_t)x->lost.minutes_more, "failure_messages", x->lost.failures);
}

/* Writes the minute histograms of x->cur_minute: 0 or the store's code. The histograms are kept
 * (a failed write may be tried again). Aggregator or waiter. */
static int flush_minute(run *x)
{
    if (x->cur_minute < 0)
        return 0;
    size_t nb = sp_hist_buckets();
    size_t used = 0;
    for (size_t i = 0; i < x->def->nnames; i++)
        used += sp_hist_count(x->minute[i]) > 0;
    /* Dense copies only of the names seen this minute: a definition may have a thousand. */
    uint64_t *dense = sp_calloc((used ? used : 1) * nb, sizeof *dense);
    sp_store_hist *h = sp_calloc(used ? used : 1, sizeof *h);
    size_t n = 0;
    for (size_t i = 0; i < x->def->nnames; i++) {
        if (!sp_hist_count(x->minute[i]))
            continue;
        uint64_t *b = dense + n * nb;
        for (size_t k = 0; k < nb; k++)
            b[k] = sp_hist_bucket_count(x->minute[i], k);
        h[n].name_id = (uint32_t)i;
        h[n].buckets = b;
        h[n].nbuckets = nb;
        n++;
    }
    int rc = n ? sp_store_run_minute_hist_add(x->store, x->id, x->cur_minute, h, n) : 0;
    free(h);
    free(dense);
    return rc;
}

/* The compact point published for one second (new reference); x->scratch holds the second's
 * totals. */
static json_t *point_json(run *x, uint64_t second, const sp_stats *s)
{
    json_t *names = json_array();
    for (size_t i = 0; i < s->nnames; i++) {
        const sp_name_stats *n = &s->names[i];
        if (!n->requests)
            continue;
        json_t *pn =
            json_pack("{s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:f}", "name", x->def->names[i], "count",
                      (json_int_t)n->requests, "rps", (json_int_t)n->requests, "errors",
                      (json_int_t)n->failures, "p50", ms_of(sp_hist_percentile(n->hist, 50)), "p95",
                      ms_of(sp_hist_percentile(n->hist, 95)), "p99",
                      ms_of(sp_hist_percentile(n->hist, 99)), "max", ms_of(sp_hist_max(n->hist)));
        /* A group's count is runs of its steps; the second's totals leave it out. */
        if (x->def->name_kinds[i] == SP_NAME_GROUP)
            json_object_set_new(pn, "kind", json_string("group"));
        json_array_append_new(names, pn);
    }
    const sp_name_stats *t = &x->scratch; /* the second's totals, from on_second */
    /* "o" steals names. */
    json_t *p = json_pack(
        "{s:I, s:i, s:i, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:o}", "second",
        (json_int_t)second, "vus", (int)s->active_vus, "target_vus", (int)s->target_vus, "count",
        (json_int_t)t->requests, "rps", (json_int_t)t->requests, "errors", (json_int_t)t->failures,
        "p50", ms_of(sp_hist_percentile(t->hist, 50)), "p95",
        ms_of(sp_hist_percentile(t->hist, 95)), "p99", ms_of(sp_hist_percentile(t->hist, 99)),
        "max", ms_of(sp_hist_max(t->hist)), "iterations", (json_int_t)s->iterations, "dropped",
        (json_int_t)s->dropped, "names", names);
    json_object_set_new(p, "lag_ms", json_real(ms_of(s->lag_us_max)));
    /* Requests that opened a connection: their connect time is inside the latencies above. */
    json_object_set_new(p, "connects", json_integer((json_int_t)t->connects));
    if (s->stalled_seconds)
        json_object_set_new(p, "stall", json_true()); /* the generator's, not the target's */
    /* The open model's schedule: what was planned this second beside what started. */
    if (x->def->load.model == SP_LOAD_OPEN) {
        json_object_set_new(p, "target_rate", json_real(s->target_rate));
        json_object_set_new(p, "arrivals", json_integer((json_int_t)s->arrivals));
    }
    return p;
}

/* Appends a published point to the backlog, dropping the oldest beyond the live cap. */
static void backlog_add(run *x, char *text, size_t len)
{
    const size_t cap = SP_LIVE_BACKLOG_MAX_BYTES - 4096; /* room for the wrapper */
    if (x->back_start > 0 && x->back_start + x->back_n == x->back_cap) {
        memmove(x->backlog, x->backlog + x->back_start, x->back_n * sizeof *x->backlog);
        x->back_start = 0;
    }
    sp_grow((void **)&x->backlog, &x->back_cap, x->back_start + x->back_n + 1, sizeof *x->backlog);
    x->backlog[x->back_start + x->back_n++] = text; /* owned from here */
    x->back_bytes += len + 1;
    while (x->back_bytes > cap && x->back_n > 1) {
        char *old = x->backlog[x->back_start++];
        x->back_bytes -= strlen(old) + 1;
        x->back_n--;
        free(old);
    }
}

/* The engine's per-second callback, on the run's aggregator thread. */
/* A load.stop_when condition stopped a run across agents: they are told at once (the engine
 * cannot tell them itself). Aggregator thread. */
static void on_break(void *ud)
{
    run *x = ud;
    if (x->agents)
        sp_agents_run_stop(x->agents, 1);
}

static void on_second(void *ud, uint64_t second, const sp_stats *s)
{
    run *x = ud;

    /* The store: every name that finished a request in this second, and the run's gauges. */
    sp_store_second *rows = sp_calloc(s->nnames ? s->nnames : 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < s->nnames; i++) {
        const sp_name_stats *ns = &s->names[i];
        if (!ns->requests)
            continue;
        sp_store_second *row = &rows[n++];
        row->name_id = (uint32_t)i;
        row->count = ns->requests;
        row->errors = ns->failures;
        row->p50_us = sp_hist_percentile(ns->hist, 50);
        row->p95_us = sp_hist_percentile(ns->hist, 95);
        row->p99_us = sp_hist_percentile(ns->hist, 99);
        row->max_us = sp_hist_max(ns->hist);
        row->bytes_in = ns->bytes_in;
        row->bytes_out = ns->bytes_out;
        row->status = ns->status;
        row->nstatus = SP_STATUS_MAX;
        row->error_kinds = ns->errors;
        row->nerror_kinds = SP_ERRK_COUNT;
    }
    /* Every request of the second, for the chart of all requests (live and stored alike). */
    sp_name_stats_release(&x->scratch);
    sp_name_stats_init(&x->scratch);
    sp_stats_total(s, &x->scratch);
    const sp_name_stats *t = &x->scratch;
    sp_store_tick tick = {.active_vus = s->active_vus,
                          .target_vus = s->target_vus,
                          .iterations = s->iterations,
                          .dropped = s->dropped,
                          .lag_us_max = s->lag_us_max,
                          .requests = t->requests,
                          .p50_us = sp_hist_percentile(t->hist, 50),
                          .p95_us = sp_hist_percentile(t->hist, 95),
                          .p99_us = sp_hist_percentile(t->hist, 99),
                          .max_us = sp_hist_max(t->hist),
                          .open = x->def->load.model == SP_LOAD_OPEN,
                          .target_rate = s->target_rate,
                          .arrivals = s->arrivals};
    /* A run across locations: each location's figures of the second, stored and published. */
    json_t *locs = x->agents ? sp_agents_run_second(x->agents, second) : NULL;
    char *locs_text = locs ? json_dumps(locs, JSON_COMPACT) : NULL;
    tick.locations = locs_text;
    int rc = sp_store_run_second_add(x->store, x->id, (int64_t)second, &tick, rows, n);
    free(locs_text);
    free(rows);
    /* A second that cannot be stored (a full disk) is not waited for: the aggregator must keep
     * up with the engine. It is counted and named at the end, which makes the run incomplete. */
    if (second + 1 > x->lost.seen)
        x->lost.seen = second + 1;
    if (rc) {
        store_failed(x, "cannot store a second", rc);
        lost_second(x, (int64_t)second);
    }

    /* The minute histograms: a new minute flushes the previous one first. */
    int64_t minute = (int64_t)(second / 60);
    if (minute != x->cur_minute) {
        rc = flush_minute(x);
        if (rc) {
            store_failed(x, "cannot store a minute histogram", rc);
            lost_minute(x, x->cur_minute);
        }
        for (size_t i = 0; i < x->def->nnames; i++)
            sp_hist_reset(x->minute[i]);
        x->cur_minute = minute;
    }
    for (size_t i = 0; i < s->nnames && i < x->def->nnames; i++)
        if (s->names[i].requests)
            sp_hist_merge(x->minute[i], s->names[i].hist);

    json_t *point = point_json(x, second, s);
    if (locs)
        json_object_set_new(point, "locations", locs); /* docs/live.md */
    char *text = json_dumps(point, JSON_COMPACT);      /* ours: free() or given to the backlog */
    size_t len = text ? strlen(text) : 0;
    if (text && x->mgr->live)
        sp_live_publish(x->mgr->live, x->id, text, len);

    pthread_mutex_lock(&x->mu);
    sp_stats_merge(&x->totals, s, 0);
    x->last_second = (int64_t)second;
    x->vus = s->active_vus;
    x->target_vus = s->target_vus;
    json_decref(x->last_point);
    x->last_point = point; /* the reference moves here */
    if (text)
        backlog_add(x, text, len);
    pthread_mutex_unlock(&x->mu);
}

/* Whether the manager is shutting down: the end of a run no longer waits for the disk. */
static int closing(sp_runs *r)
{
    pthread_mutex_lock(&r->mu);
    int c = r->closing;
    pthread_mutex_unlock(&r->mu);
    return c;
}

/* One write of a run's end: 0 or the store's code. */
typedef int (*end_write_fn)(run *x, void *ctx);

/*
 * Runs one write of the run's end until it is stored. A full disk (or a busy database) is
 * waited for, once every SP_RUNS_END_RETRY_MS, so that space freed while the run ends saves
 * its histograms, failures and status; the run stays active (GET /runs/:id says "running",
 * with live totals) meanwhile. A shutdown stops the waiting (one last try): the run then stays
 * "running" in the store until the next start marks it aborted. Waiter thread.
 */
static int end_write(run *x, end_write_fn fn, void *ctx, const char *what)
{
    for (int tries = 0;; tries++) {
        int rc = fn(x, ctx);
        if (rc == 0)
            return 0;
        store_failed(x, what, rc);
        if ((rc != SP_EFULL && rc != SP_EUNAVAILABLE) || closing(x->mgr))
            return rc;
        if (tries == 0) {
            char id[24];
            snprintf(id, sizeof id, "%lld", (long long)x->id);
            sp_log_kv(SP_LOG_WARN, "the end of a run waits for the database", "run", id, "why",
                      rc == SP_EFULL ? "the disk is full" : "the database is busy", "what", what,
                      NULL);
            pthread_mutex_lock(&x->mu);
            x->ending = 1;
            pthread_mutex_unlock(&x->mu);
        }
        struct timespec pause = {SP_RUNS_END_RETRY_MS / 1000,
                                 (long)(SP_RUNS_END_RETRY_MS % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static int end_minute(run *x, void *ctx)
{
    SP_UNUSED(ctx);
    return flush_minute(x);
}

typedef struct end_failures {
    const sp_store_failure *f;
    size_t n;
} end_failures;

static int end_failures_add(run *x, void *ctx)
{
    const end_failures *ef = ctx;
    return sp_store_run_failures_add(x->store, x->id, ef->f, ef->n);
}

typedef struct end_status {
    sp_run_status st;
    const json_t *verdicts, *summary;
    const char *error;
} end_status;

static int end_finish(run *x, void *ctx)
{
    const end_status *e = ctx;
    return sp_store_run_finish(x->store, x->id, e->st, e->verdicts, e->summary, e->error);
}

/* The run as a comparison reads it (runs/comparison.h), with the summary it is about to store
 * (borrowed). New reference. */
static json_t *run_as_stored(run *x, json_t *summary)
{
    json_t *names = json_array();
    for (size_t i = 0; i < x->def->nnames; i++)
        json_array_append_new(names, json_string(x->def->names[i]));
    return json_pack("{s:I, s:I, s:s, s:i, s:s, s:I, s:O?, s:o, s:O}", "id", (json_int_t)x->id,
                     "test_id", (json_int_t)x->test_id, "test_name", x->def->name, "revision",
                     x->revision, "status", "ended", "started_at", (json_int_t)x->started_ms,
                     "overrides", x->overrides, "names", names, "summary", summary);
}

/*
 * Compares the ending run with its baseline (base, borrowed; NULL when there was none to find)
 * and stores the result in the run's "baseline" object. Returns 1 when the run must fail: a
 * significant regression with fail_on_regression. On the waiter thread.
 */
static int gate(run *x, const json_t *base, json_t *summary)
{
    json_t *g = json_deep_copy(x->gate);
    int fail = 0;
    sp_cmp_settings set;
    sp_comparison_defaults(&set);
    json_t *stored = NULL, *cmp = NULL, *self = NULL;
    char path[64], msg[256];
    if (sp_store_test_baseline_get(x->store, x->test_id, NULL, &stored) == 0)
        (void)sp_comparison_settings_apply(&set, stored, path, sizeof path, msg, sizeof msg);
    if (!base) {
        json_object_set_new(g, "verdict", json_string("not compared"));
        json_object_set_new(g, "reason", json_string("there was no baseline run to compare with"));
        json_object_set_new(g, "regressions", json_array());
        goto out;
    }
    self = run_as_stored(x, summary);
    json_t *pair[2] = {(json_t *)base, self};
    if (sp_comparison_build(x->store, pair, 2, &set, &cmp) != 0) {
        baseline_failed(x, "cannot compare the run with its baseline");
        json_object_set_new(g, "verdict", json_string("not compared"));
        json_object_set_new(g, "reason", json_string("the comparison failed (see the log)"));
        json_object_set_new(g, "regressions", json_array());
        goto out;
    }
    json_t *brief = sp_comparison_brief(cmp, 1);
    json_t *regs = sp_comparison_regressions(cmp, 1);
    fail = x->fail_on_regression && json_array_size(regs) > 0;
    json_object_set(g, "verdict", json_object_get(brief, "verdict"));
    json_object_set(g, "improvements", json_object_get(brief, "improvements"));
    json_object_set_new(g, "regressions", regs); /* steals regs */
    json_object_set(g, "notes", json_object_get(cmp, "notes"));
    json_object_set_new(g, "settings", sp_comparison_settings_json(&set));
    json_object_set_new(g, "failed_run", json_boolean(fail));
    json_decref(brief);
out:
    if (sp_store_run_baseline_set(x->store, x->id, g) != 0)
        baseline_failed(x, "cannot store the comparison with the baseline");
    json_decref(g);
    json_decref(cmp);
    json_decref(self);
    json_decref(stored);
    return fail;
}

/* Ends the run in the store, tells the live stream, frees it. On the waiter thread. */
static void finish(run *x)
{
    sp_runs *mgr = x->mgr;
    sp_runs_end_fn end_fn = mgr->on_end;
    void *end_ud = mgr->on_end_ud;
    if (end_write(x, end_minute, NULL, "cannot store a minute histogram") != 0 &&
        x->cur_minute >= 0)
        lost_minute(x, x->cur_minute);

    const sp_stats *totals = sp_engine_totals(x->engine);
    /* Failure messages, with their counts, and those that did not fit as one line. */
    sp_store_failure *f = NULL;
    size_t nf = 0, capf = 0;
    for (size_t i = 0; i < totals->nnames; i++) {
        const sp_name_stats *ns = &totals->names[i];
        for (size_t m = 0; m < ns->nmsgs; m++) {
            sp_grow((void **)&f, &capf, nf + 1, sizeof *f);
            f[nf++] = (sp_store_failure){(uint32_t)i, ns->msgs[m].msg, ns->msgs[m].count};
        }
        if (ns->msgs_dropped) {
            sp_grow((void **)&f, &capf, nf + 1, sizeof *f);
            f[nf++] = (sp_store_failure){(uint32_t)i, "(other failure messages)", ns->msgs_dropped};
        }
    }
    end_failures ef = {f, nf};
    if (nf && end_write(x, end_failures_add, &ef, "cannot store failure messages") != 0)
        x->lost.failures = 1;
    free(f);

    double duration_s = (double)sp_engine_elapsed_ms(x->engine) / 1000.0;
    json_t *base = NULL; /* the baseline run, for relative thresholds and the gate */
    if (x->baseline_id && sp_store_run_get(x->store, x->baseline_id, &base) != 0)
        baseline_failed(x, "cannot read the baseline run");
    sp_verdict *verdicts = sp_calloc(x->def->nthresholds + 1, sizeof *verdicts);
    size_t failed = sp_report_judge_against(x->def, totals, duration_s,
                                            json_object_get(base, "summary"), verdicts);
    /* "near: p95 < 300ms" is judged on that location's agents alone; on a run without that
     * location it is not judged (skipped, as a relative threshold without a baseline). */
    for (size_t i = 0; i < x->def->nthresholds; i++) {
        const sp_threshold *t = &x->def->thresholds[i];
        if (!t->location)
            continue;
        const sp_stats *ls =
            x->agents ? sp_agents_run_location_stats(x->agents, t->location) : NULL;
        int was = verdicts[i].passed;
        if (ls) {
            sp_threshold_eval_against(t, ls, duration_s, NAN, &verdicts[i]);
        } else {
            verdicts[i].passed = 1;
            verdicts[i].skipped = 1;
            verdicts[i].measured = NAN;
            verdicts[i].limit = NAN;
        }
        failed = failed - !was + !verdicts[i].passed;
    }
    /* A run whose results the store could not keep is never passed: what it measured in
     * memory may have held every threshold, but the record of it has holes. */
    int stopped = sp_engine_was_stopped(x->engine);
    /* An agent lost on the way: what the run measured is real but not the whole planned load,
     * so it is never passed. */
    int agent_lost = x->agents && sp_agents_run_lost(x->agents);
    sp_run_status st = x->start_rc        ? SP_RUN_ERROR
                       : lost_anything(x) ? SP_RUN_INCOMPLETE
                       : stopped          ? SP_RUN_STOPPED
                       : agent_lost       ? SP_RUN_DEGRADED
                       : failed           ? SP_RUN_FAILED
                                          : SP_RUN_PASSED;
    const char *status = sp_store_run_status_name(st);
    char host[256] = "";
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    sp_break brk;
    int broke = sp_engine_broke(x->engine, &brk);
    /* The changes are only written under x->mu while the engine runs; it has ended. */
    sp_run_result res = {.def = x->def,
                         .totals = totals,
                         .duration_s = duration_s,
                         .verdicts = verdicts,
                         .status = status,
                         .started_ms = x->started_ms,
                         .brk = broke ? &brk : NULL,
                         .changes = x->changes,
                         .nchanges = x->nchanges,
                         .host = host[0] ? host : NULL};
    json_t *summary = sp_report_json(&res, NULL);
    if (x->agents) {
        /* Beside the merged totals, which keep their shape: per location, per agent. */
        json_t *ag = sp_agents_run_summary(x->agents, x->def);
        json_object_update(summary, ag);
        json_decref(ag);
    }
    /* The gate: compared before the status is stored, so that whoever waits for the end (remote
     * run) never sees a status the comparison is about to change. */
    if (x->gate && (st == SP_RUN_PASSED || st == SP_RUN_FAILED) && gate(x, base, summary) &&
        st == SP_RUN_PASSED) {
        st = SP_RUN_FAILED;
        status = sp_store_run_status_name(st);
        json_object_set_new(summary, "status", json_string(status));
    }
    json_decref(base);
    json_t *th = json_object_get(summary, "thresholds"); /* borrowed */
    sp_buf why;
    sp_buf_init(&why, 2048);
    if (x->start_rc) {
        sp_buf_addf(&why, "the engine did not start: %s", sp_strerror(x->start_rc));
    } else if (st == SP_RUN_INCOMPLETE) {
        lost_text(x, stopped, &why);
        json_object_set_new(summary, "lost", lost_json(x)); /* steals the object */
    }
    if (agent_lost && !x->start_rc) {
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(summary, "agents_lost"), i, l)
        {
            sp_buf_addf(&why, "%sagent %s (%s) was lost at second %lld", why.len ? "; " : "",
                        json_string_value(json_object_get(l, "name")),
                        json_string_value(json_object_get(l, "location")),
                        (long long)json_integer_value(json_object_get(l, "second")));
        }
        sp_buf_adds(&why, x->def->load.abort_on_agent_loss
                              ? ": the run was stopped (load.on_agent_loss: abort)"
                              : ": the run went on without it");
    }
    end_status es = {st, th, summary, why.len ? why.p : NULL};
    if (end_write(x, end_finish, &es, "cannot store the end of a run") != 0) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)x->id);
        sp_log_kv(SP_LOG_ERROR,
                  "the end of a run was not stored: it stays running until the next start marks "
                  "it aborted",
                  "run", id, "status", status, NULL);
    }
    json_decref(summary);
    sp_buf_release(&why);
    free(verdicts);

    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)x->id);
    sp_log_kv(SP_LOG_INFO, "run ended", "run", id, "status", status, NULL);
    if (mgr->live) {
        json_t *end = json_pack("{s:s}", "status", status);
        char *text = json_dumps(end, JSON_COMPACT);
        if (text)
            sp_live_publish_end(mgr->live, x->id, text, strlen(text));
        free(text);
        json_decref(end);
    }

    pthread_mutex_lock(&mgr->mu);
    for (run **pp = &mgr->list; *pp; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    }
    pthread_mutex_unlock(&mgr->mu);
    sp_runs_end end = {.run_id = x->id, .test_id = x->test_id, .status = status};
    /* Nobody can reach x any more (lookups hold mgr->mu). */
    run_free(x);
    pthread_mutex_lock(&mgr->mu);
    mgr->nactive--;
    pthread_cond_broadcast(&mgr->idle);
    pthread_mutex_unlock(&mgr->mu);
    /* Last: the slot is free, so a run started from here (a schedule's queued fire) may take
     * it. The manager itself may be freed once nactive is 0, so its callback is read before. */
    if (end_fn)
        end_fn(end_ud, &end);
}

static void *waiter_main(void *arg)
{
    run *x = arg;
    sp_engine_wait(x->engine);
    finish(x);
    return NULL;
}

static int role_index(const char *role)
{
    static const char *const roles[] = {"admin", "tester", "viewer"};
    for (int i = 0; role && i < 3; i++)
        if (strcmp(role, roles[i]) == 0)
            return i;
    return 3;
}

/* Runs going that role started: those in the list and starts still in progress (a start takes
 * its slot under mu, then builds its engine without it). Caller holds r->mu. */
static size_t runs_of_role(const sp_runs *r, const char *role)
{
    size_t n = r->starting[role_index(role)];
    for (const run *x = r->list; x; x = x->next)
        if (role && strcmp(x->role, role) == 0)
            n++;
    return n;
}

/* Checks the loaded profile against the caps. */
static int check_caps(const sp_runs *r, const sp_def *def, const char **cap, char *msg,
                      size_t msglen)
{
    if (def->load.total_ms > r->max_duration_ms) {
        *cap = "max_duration";
        snprintf(msg, msglen,
                 "the run would last %.0fs; this server allows at most %.0fs "
                 "(max_duration)",
                 (double)def->load.total_ms / 1000.0, (double)r->max_duration_ms / 1000.0);
        return SP_ELIMIT;
    }
    int open = def->load.model == SP_LOAD_OPEN;
    if (open && def->load.max_vus > r->max_vus) {
        *cap = "max_vus";
        snprintf(msg, msglen,
                 "the run would use up to %u VUs; this server allows at most %u "
                 "(max_vus)",
                 def->load.max_vus, r->max_vus);
        return SP_ELIMIT;
    }
    for (size_t i = 0; i < def->load.nstages; i++) {
        double t = def->load.stages[i].target;
        if (!open && t > r->max_vus) {
            *cap = "max_vus";
            snprintf(msg, msglen,
                     "stage %zu asks for %.0f VUs; this server allows at most %u "
                     "(max_vus)",
                     i + 1, t, r->max_vus);
            return SP_ELIMIT;
        }
        if (open && t > r->max_rate) {
            *cap = "max_rate";
            snprintf(msg, msglen,
                     "stage %zu asks for %g iterations/s; this server allows at "
                     "most %g (max_rate)",
                     i + 1, t, r->max_rate);
            return SP_ELIMIT;
        }
    }
    return 0;
}

/* ---- Start ---- */

/* A start in progress: what its steps hand on, and what sp_runs_start undoes when one fails.
 * Each of s, def and allow moves to the run once it exists (and is NULL here from then on). */
typedef struct start {
    sp_store *s;           /* the start's connection; the run's once it goes */
    sp_def *def;           /* the definition with the overrides applied */
    sp_allowlist *allow;   /* NULL: every target is allowed */
    int slot;              /* holds one of r->nactive */
    int starting;          /* 1 + the role's index in r->starting; 0: none held */
    int ended;             /* the run was recorded as "error" without a waiter to tell its end */
    int64_t baseline_id;   /* the resolved baseline run (0: none) */
    json_t *gate;          /* the run's "baseline" object when one was asked (owned) */
    sp_agents_run *agents; /* the agents reserved for a run across locations (owned) */
} start;

/* Loads the test's definition at the asked revision with its secrets put back (when this
 * start may carry them) and the overrides applied; opens the start's connection on the way. */
static int start_load(sp_runs *r, const sp_runs_start_args *a, start *st, sp_runs_started *out,
                      sp_errlist *errs)
{
    sp_overrides ov;
    char *stages = NULL, *full_text = NULL;
    json_t *test = NULL, *secrets = NULL;
    int rc = sp_runs_overrides_parse(a->overrides, &ov, &stages, errs);
    if (rc) {
        snprintf(out->msg, sizeof out->msg, "invalid overrides");
        goto out;
    }
    rc = sp_store_open(&st->s, r->db_path, out->msg, sizeof out->msg);
    if (rc)
        goto out;
    rc = sp_store_test_get(st->s, a->test_id, a->revision, &test);
    if (rc == 0 && !json_is_null(json_object_get(test, "deleted_at")))
        rc = SP_ENOTFOUND;
    if (rc == SP_ENOTFOUND) {
        snprintf(out->msg, sizeof out->msg,
                 a->revision ? "test %lld has no revision %d" : "no test with id %lld",
                 (long long)a->test_id, a->revision);
        goto out;
    }
    /* The secrets go only where their owner aimed them (policy.h); without them the run sends
     * the mask in their place. */
    if (rc == 0)
        rc = sp_policy_test_secrets(st->s, test, ov.base_url, a->started_by,
                                    a->rules ? a->rules->role : NULL, &secrets,
                                    &out->secrets_withheld);
    if (rc) {
        snprintf(out->msg, sizeof out->msg, "%s", sp_store_errmsg(st->s));
        goto out;
    }
    out->revision = (int)json_integer_value(json_object_get(test, "revision"));
    const char *text = json_string_value(json_object_get(test, "definition"));
    if (text)
        text = sp_policy_with_secrets(text, secrets, &full_text);
    rc = sp_def_load_confined(text ? text : "", text ? strlen(text) : 0, &ov, r->data_dir, &st->def,
                              errs);
    if (rc) {
        rc = SP_EINVAL;
        snprintf(out->msg, sizeof out->msg,
                 "the stored definition with these overrides is invalid");
        goto out;
    }
    /* As written, not as the loader normalised it: the audit log shows what the user sent. */
    const char *bu = json_string_value(json_object_get(st->def->doc, "base_url"));
    snprintf(out->base_url, sizeof out->base_url, "%s", bu ? bu : "");
out:
    free(stages);
    free(full_text);
    json_decref(secrets);
    json_decref(test);
    return rc;
}

/* The manager's caps, the role's caps and the target allowlist. */
static int start_check(sp_runs *r, const sp_runs_start_args *a, start *st, sp_runs_started *out,
                       sp_errlist *errs)
{
    int rc = check_caps(r, st->def, &out->cap, out->msg, sizeof out->msg);
    if (rc == 0 && a->rules)
        rc = sp_policy_check_load(a->rules, st->def, &out->cap, out->msg, sizeof out->msg);
    if (rc)
        return rc;
    if (sp_policy_allowlist(a->rules, &st->allow, errs) != 0) {
        snprintf(out->msg, sizeof out->msg, "the stored target allowlist is invalid");
        return SP_EINVAL;
    }
    if (st->allow && sp_policy_check_targets(st->allow, st->def, errs) != 0) {
        snprintf(out->msg, sizeof out->msg, "a target is not in the target allowlist");
        return SP_EINVAL;
    }
    return 0;
}

int sp_runs_baseline_parse(const json_t *v, sp_runs_baseline *kind, int64_t *run_id, char *msg,
                           size_t msglen)
{
    *kind = SP_RUNS_BASELINE_NONE;
    *run_id = 0;
    if (!v || json_is_null(v))
        return 0;
    const char *sv = json_string_value(v);
    if (sv && strcmp(sv, "pinned") == 0) {
        *kind = SP_RUNS_BASELINE_PINNED;
        return 0;
    }
    if (sv && strcmp(sv, "last-passed") == 0) {
        *kind = SP_RUNS_BASELINE_LAST_PASSED;
        return 0;
    }
    int64_t id = 0;
    if (json_is_integer(v))
        id = json_integer_value(v);
    else if (sv && *sv && strlen(sv) <= 18 && strspn(sv, "0123456789") == strlen(sv) &&
             sv[0] != '0')
        id = strtoll(sv, NULL, 10);
    if (id < 1) {
        snprintf(msg, msglen, "baseline must be \"pinned\", \"last-passed\" or a run id");
        return SP_EINVAL;
    }
    *kind = SP_RUNS_BASELINE_RUN;
    *run_id = id;
    return 0;
}

/* Resolves the baseline a start asked for (or, for relative thresholds alone, the pinned one)
 * into st->baseline_id and st->gate. A missing pinned baseline or a run without results is
 * SP_EINVAL, reported at "baseline". */
static int start_baseline(const sp_runs_start_args *a, start *st, sp_runs_started *out,
                          sp_errlist *errs)
{
    static const char *const asked[] = {NULL, "pinned", "last-passed", "run"};
    sp_runs_baseline kind = a->baseline;
    if (kind == SP_RUNS_BASELINE_NONE && a->fail_on_regression)
        kind = SP_RUNS_BASELINE_PINNED;
    int64_t pinned = 0, id = 0;
    int rc = sp_store_test_baseline_get(st->s, a->test_id, &pinned, NULL);
    if (rc) {
        snprintf(out->msg, sizeof out->msg, "%s", sp_store_errmsg(st->s));
        return rc;
    }
    switch (kind) {
    case SP_RUNS_BASELINE_NONE:
        st->baseline_id = pinned; /* for relative thresholds only */
        return 0;
    case SP_RUNS_BASELINE_PINNED:
        if (!pinned) {
            sp_errlist_add(errs, "baseline",
                           "test %lld has no pinned baseline run (pin one with PUT "
                           "/api/v1/tests/%lld/baseline)",
                           (long long)a->test_id, (long long)a->test_id);
            snprintf(out->msg, sizeof out->msg, "no pinned baseline");
            return SP_EINVAL;
        }
        id = pinned;
        break;
    case SP_RUNS_BASELINE_LAST_PASSED:
        rc = sp_store_run_last_passed(st->s, a->test_id, INT64_MAX, &id);
        if (rc && rc != SP_ENOTFOUND) {
            snprintf(out->msg, sizeof out->msg, "%s", sp_store_errmsg(st->s));
            return rc;
        }
        break;
    case SP_RUNS_BASELINE_RUN: {
        json_t *b = NULL;
        rc = sp_store_run_get(st->s, a->baseline_run, &b);
        if (rc && rc != SP_ENOTFOUND) {
            snprintf(out->msg, sizeof out->msg, "%s", sp_store_errmsg(st->s));
            return rc;
        }
        int usable = rc == 0 && json_is_object(json_object_get(b, "summary"));
        json_decref(b);
        if (!usable) {
            sp_errlist_add(errs, "baseline", "%s %lld", rc ? "no run with id" : "no results in run",
                           (long long)a->baseline_run);
            snprintf(out->msg, sizeof out->msg, "the baseline run cannot be used");
            return SP_EINVAL;
        }
        id = a->baseline_run;
        break;
    }
    }
    st->baseline_id = id;
    st->gate = json_pack("{s:s, s:o, s:b}", "asked", asked[kind], "run_id",
                         id ? json_integer(id) : json_null(), "fail_on_regression",
                         a->fail_on_regression != 0);
    return 0;
}

/* Takes a slot before anything is stored, so that the caps on runs going at once hold under
 * concurrent starts. */
static int start_take_slot(sp_runs *r, const sp_runs_start_args *a, start *st, sp_runs_started *out)
{
    const sp_policy_rules *pol = a->rules;
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    if (r->closing) {
        rc = SP_ESTATE;
        snprintf(out->msg, sizeof out->msg, "the server is shutting down");
    } else if (r->nactive >= r->max_runs) {
        rc = SP_ELIMIT;
        out->cap = "max_runs";
        snprintf(out->msg, sizeof out->msg,
                 "%zu runs are going; this server allows at most %u at once "
                 "(max_runs)",
                 r->nactive, r->max_runs);
    } else if (pol && pol->max_concurrent_runs &&
               runs_of_role(r, pol->role) >= pol->max_concurrent_runs) {
        rc = SP_ELIMIT;
        out->cap = "max_concurrent_runs";
        snprintf(out->msg, sizeof out->msg,
                 "runs %zu going would exceed the %s cap max_concurrent_runs=%u",
                 runs_of_role(r, pol->role), pol->role ? pol->role : "?", pol->max_concurrent_runs);
    } else {
        r->nactive++;
        st->slot = 1;
        if (pol) {
            st->starting = role_index(pol->role) + 1;
            r->starting[st->starting - 1]++;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Gives back what start_take_slot took and the run did not take over. */
static void start_release(sp_runs *r, start *st)
{
    if (st->starting || st->slot) {
        pthread_mutex_lock(&r->mu);
        if (st->starting)
            r->starting[st->starting - 1]--;
        if (st->slot) {
            r->nactive--;
            pthread_cond_broadcast(&r->idle);
        }
        pthread_mutex_unlock(&r->mu);
    }
    sp_def_free(st->def);
    sp_allowlist_free(st->allow);
    sp_store_close(st->s);
    json_decref(st->gate);
    sp_agents_run_free(st->agents);
    memset(st, 0, sizeof *st);
}

/* The definition's data files, {"path": "content"}, to travel with it to the agents (the
 * loader has already checked that each is below data_dir); NULL when it has none. A file that
 * cannot be read now is left out, and the agent says which is missing. */
static json_t *data_files(sp_runs *r, const sp_def *def)
{
    json_t *files = NULL;
    size_t total = 0;
    const json_t *users = json_object_get(def->doc, "users"); /* borrowed */
    for (size_t i = 0; i < json_array_size(users) && r->data_dir; i++) {
        const char *path = json_string_value(
            json_object_get(json_object_get(json_array_get(users, i), "data_file"), "csv"));
        if (!path || !sp_def_file_path_ok(path) || json_object_get(files, path))
            continue;
        sp_buf full, body;
        sp_buf_init(&full, 4096);
        sp_buf_init(&body, SP_WIRE_MAX_BYTES / 2);
        FILE *f = sp_buf_addf(&full, "%s/%s", r->data_dir, path) == 0 ? fopen(full.p, "rb") : NULL;
        char chunk[65536];
        size_t n;
        int ok = f != NULL;
        while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
            ok = sp_buf_add(&body, chunk, n) == 0;
        if (f)
            fclose(f);
        if (ok && total + body.len < SP_WIRE_MAX_BYTES / 2) {
            if (!files)
                files = json_object();
            json_object_set_new(files, path, json_stringn(body.p ? body.p : "", body.len));
            total += body.len;
        }
        sp_buf_release(&full);
        sp_buf_release(&body);
    }
    return files;
}

/* A run across locations: reserves the connected idle agents of every location named. */
static int start_agents(sp_runs *r, const sp_runs_start_args *a, start *st, sp_runs_started *out,
                        sp_errlist *errs)
{
    const sp_load *l = &st->def->load;
    double peak = l->model == SP_LOAD_OPEN ? (double)l->max_vus : 0;
    for (size_t i = 0; l->model != SP_LOAD_OPEN && i < l->nstages; i++)
        if (l->stages[i].target > peak)
            peak = l->stages[i].target;
    char msg[256] = "";
    /* The start's own locations win over the definition's load.locations. */
    const json_t *locs = a->locations ? a->locations : st->def->load.locations;
    int rc = r->agents ? sp_agents_reserve(r->agents, locs, (uint32_t)ceil(peak), &st->agents, msg,
                                           sizeof msg)
                       : SP_EINVAL;
    if (!r->agents)
        snprintf(msg, sizeof msg, "this server takes no agents");
    if (rc) {
        sp_errlist_add(errs, "locations", "%s", msg);
        snprintf(out->msg, sizeof out->msg, "%s", msg);
        return SP_EINVAL;
    }
    return 0;
}

/* A new run for run_id, taking the definition and the allowlist over from st. */
static run *run_new(sp_runs *r, const sp_runs_start_args *a, start *st, int64_t run_id)
{
    run *x = sp_calloc(1, sizeof *x);
    x->mgr = r;
    x->id = run_id;
    x->def = st->def;
    st->def = NULL;
    x->allow = st->allow;
    st->allow = NULL;
    x->agents = st->agents;
    st->agents = NULL;
    if (x->agents && a->rules && a->rules->nallow) {
        x->allow_json = json_array();
        for (size_t i = 0; i < a->rules->nallow; i++)
            json_array_append_new(x->allow_json, json_string(a->rules->allow[i]));
    }
    if (a->rules) {
        snprintf(x->role, sizeof x->role, "%s", a->rules->role ? a->rules->role : "");
        x->role_max_vus = a->rules->max_vus;
        x->role_max_rate = a->rules->max_rate;
    }
    x->test_id = a->test_id;
    x->overrides = a->overrides ? json_deep_copy(a->overrides) : NULL;
    x->baseline_id = st->baseline_id;
    x->gate = st->gate;
    st->gate = NULL;
    x->fail_on_regression = a->fail_on_regression;
    x->cur_minute = -1;
    x->last_second = -1;
    pthread_mutex_init(&x->mu, NULL);
    sp_stats_init(&x->totals, x->def->nnames);
    sp_name_stats_init(&x->scratch);
    x->minute = sp_calloc(x->def->nnames ? x->def->nnames : 1, sizeof *x->minute);
    for (size_t i = 0; i < x->def->nnames; i++)
        x->minute[i] = sp_hist_new();
    return x;
}

/*
 * Builds x's engine, lists x and starts it with its waiter thread. On an engine that cannot be
 * built the run is recorded as "error", x is freed and SP_ESYS returned with st keeping its
 * connection. Otherwise the connection and the slot move to the run (the waiter gives the slot
 * back), and an engine that did not start is SP_ESYS too, recorded by the waiter.
 */
static int start_launch(sp_runs *r, run *x, start *st, sp_runs_started *out)
{
    sp_engine_opts eo = {.threads = r->engine_threads,
                         .seed = 0,
                         .on_second = on_second,
                         .ud = x,
                         .allowlist = x->allow};
    if (x->agents) {
        /* The load is the agents': this engine only merges their seconds. */
        eo.remote_workers = sp_agents_run_count(x->agents);
        eo.on_break = on_break;
        eo.allowlist = NULL;
    }
    char eerr[256] = "";
    int rc = sp_engine_new(x->def, &eo, &x->engine, eerr, sizeof eerr);
    int stored = 0;
    if (rc == 0) {
        rc = sp_store_run_set_status(st->s, x->id, SP_RUN_RUNNING);
        stored = rc;
    }
    if (rc) {
        snprintf(out->msg, sizeof out->msg, "the run could not start: %s",
                 stored    ? sp_store_errmsg(st->s)
                 : eerr[0] ? eerr
                           : sp_strerror(rc));
        sp_store_run_finish(st->s, x->id, SP_RUN_ERROR, NULL, NULL, out->msg);
        run_free(x);
        st->ended = 1;
        /* The store's failure as it is (a full disk is answered 503 like every write). */
        return stored ? stored : SP_ESYS;
    }
    x->started_ms = sp_wall_ms();
    /* The connection moves to the run: the aggregator uses it from the first second on. */
    x->store = st->s;
    st->s = NULL;

    pthread_mutex_lock(&r->mu);
    x->next = r->list;
    r->list = x;
    if (st->starting)
        r->starting[st->starting - 1]--;
    st->starting = 0;
    pthread_mutex_unlock(&r->mu);

    if (x->agents) {
        /* Every agent starts at the same instant, a little ahead so that each has its assign
         * by then, correcting for its clock offset; this engine's seconds start with theirs. */
        int64_t start_ns = sp_wall_ms() * 1000000 + SP_RUNS_AGENT_LEAD_MS * 1000000;
        json_t *files = data_files(r, x->def);
        sp_agents_run_begin(x->agents, x->id, x->engine, x->def, x->allow_json, files, start_ns);
        json_decref(files);
        int64_t wait_ms = start_ns / 1000000 - sp_wall_ms();
        if (wait_ms > 0)
            usleep((useconds_t)wait_ms * 1000);
    }
    rc = sp_engine_start(x->engine);
    x->start_rc = rc;
    /* A shutdown that began while this run was being set up may have walked the list before
     * the engine ran: stop it here so that the shutdown does not wait for its whole profile. */
    pthread_mutex_lock(&r->mu);
    if (r->closing && rc == 0)
        sp_engine_stop(x->engine, 1);
    pthread_mutex_unlock(&r->mu);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* With the engine not started, sp_engine_wait returns at once and the waiter records the
     * end all the same; a thread that cannot be created leaves the engine unwaited, so stop
     * it and finish here. */
    if (pthread_create(&x->waiter, &attr, waiter_main, x) != 0) {
        sp_engine_stop(x->engine, 0);
        sp_engine_wait(x->engine);
        finish(x);
    }
    pthread_attr_destroy(&attr);
    st->slot = 0; /* the waiter gives it back */
    if (rc) {
        snprintf(out->msg, sizeof out->msg, "the engine did not start: %s", sp_strerror(rc));
        return SP_ESYS;
    }
    return 0;
}

int sp_runs_start(sp_runs *r, const sp_runs_start_args *a, sp_runs_started *out, sp_errlist *errs)
{
    memset(out, 0, sizeof *out);
    start st = {0};
    int rc = start_load(r, a, &st, out, errs);
    if (rc == 0)
        rc = start_check(r, a, &st, out, errs);
    if (rc == 0)
        rc = start_baseline(a, &st, out, errs);
    if (rc == 0)
        rc = start_take_slot(r, a, &st, out);
    if (rc == 0 && (a->locations || st.def->load.locations))
        rc = start_agents(r, a, &st, out, errs);
    if (rc == 0)
        rc = sp_store_run_create_as(st.s, a->test_id, out->revision, a->started_by, a->overrides,
                                    a->origin, &out->run_id, NULL, out->msg, sizeof out->msg);
    if (rc == 0) {
        rc = sp_store_run_names_set(st.s, out->run_id, (const char *const *)st.def->names,
                                    st.def->nnames);
        if (rc == 0)
            rc = sp_store_run_name_kinds_set(st.s, out->run_id, st.def->name_kinds, st.def->nnames);
        if (rc == 0 && st.gate)
            rc = sp_store_run_baseline_set(st.s, out->run_id, st.gate);
        if (rc) {
            snprintf(out->msg, sizeof out->msg, "%s", sp_store_errmsg(st.s));
            /* Not left queued when it can be helped (a full disk usually cannot). */
            sp_store_run_finish(st.s, out->run_id, SP_RUN_ERROR, NULL, NULL, out->msg);
        }
    }
    if (rc == 0) {
        run *x = run_new(r, a, &st, out->run_id);
        x->revision = out->revision;
        rc = start_launch(r, x, &st, out);
    }
    if (rc == 0) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)out->run_id);
        sp_log_kv(SP_LOG_INFO, "run started", "run", id, "who", a->started_by, NULL);
    }
    int ended = st.ended;
    start_release(r, &st);
    if (ended && r->on_end) {
        sp_runs_end end = {.run_id = out->run_id, .test_id = a->test_id, .status = "error"};
        r->on_end(r->on_end_ud, &end);
    }
    return rc;
}

int sp_runs_check(sp_runs *r, const sp_runs_start_args *a, sp_runs_started *out, sp_errlist *errs)
{
    memset(out, 0, sizeof *out);
    start st = {0};
    int rc = start_load(r, a, &st, out, errs);
    if (rc == 0)
        rc = start_check(r, a, &st, out, errs);
    start_release(r, &st);
    return rc;
}

int sp_runs_test_active(sp_runs *r, int64_t test_id)
{
    pthread_mutex_lock(&r->mu);
    int n = 0;
    for (run *x = r->list; x && !n; x = x->next)
        n = x->test_id == test_id;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int sp_runs_stop(sp_runs *r, int64_t run_id, int graceful)
{
    pthread_mutex_lock(&r->mu);
    run *x = find(r, run_id);
    if (x) {
        sp_engine_stop(x->engine, graceful);
        if (x->agents)
            sp_agents_run_stop(x->agents, graceful);
    }
    pthread_mutex_unlock(&r->mu);
    return x ? 0 : SP_ENOTFOUND;
}

/* Writes a load change to the store on a connection of the calling thread (the run's own is
 * the aggregator's). A failure is logged: the change itself was made. */
static void record_change(sp_runs *r, int64_t run_id, const sp_load_change *c)
{
    sp_store *s = NULL;
    char err[256] = "";
    sp_store_load_change sc = {.at_ms = c->at_ms,
                               .elapsed_ms = c->elapsed_ms,
                               .target = c->target,
                               .ramp_ms = c->ramp_ms,
                               .by = c->by};
    int rc = sp_store_open(&s, r->db_path, err, sizeof err);
    if (rc == 0)
        rc = sp_store_run_load_change_add(s, run_id, &sc);
    if (rc) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)run_id);
        sp_log_kv(SP_LOG_ERROR, "cannot store a load change", "run", id, "error",
                  s ? sp_store_errmsg(s) : err, NULL);
    }
    sp_store_close(s);
}

int sp_runs_set_target(sp_runs *r, int64_t run_id, double target, uint32_t ramp_ms, const char *by,
                       const char **cap, char *msg, size_t msglen)
{
    sp_load_change change = {0};
    *cap = NULL;
    msg[0] = '\0';
    if (!isfinite(target) || target < 0) {
        snprintf(msg, msglen, "target must be a number of 0 or more");
        return SP_EINVAL;
    }
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    run *x = find(r, run_id);
    if (!x) {
        rc = SP_ENOTFOUND;
        snprintf(msg, msglen, "run %lld is not running", (long long)run_id);
        goto out;
    }
    int open = x->def->load.model == SP_LOAD_OPEN;
    if (!open && x->role_max_vus && target > x->role_max_vus) {
        *cap = "max_vus";
        snprintf(msg, msglen, "users %.0f exceeds the %s cap max_vus=%u", target, x->role,
                 x->role_max_vus);
        rc = SP_ELIMIT;
        goto out;
    }
    if (open && x->role_max_rate > 0 && target > x->role_max_rate) {
        *cap = "max_rate";
        snprintf(msg, msglen, "rate %g/s exceeds the %s cap max_rate=%g", target, x->role,
                 x->role_max_rate);
        rc = SP_ELIMIT;
        goto out;
    }
    if (!open && target > r->max_vus) {
        *cap = "max_vus";
        snprintf(msg, msglen, "%.0f VUs asked; this server allows at most %u (max_vus)", target,
                 r->max_vus);
        rc = SP_ELIMIT;
        goto out;
    }
    if (open && target > r->max_rate) {
        *cap = "max_rate";
        snprintf(msg, msglen, "%g iterations/s asked; this server allows at most %g (max_rate)",
                 target, r->max_rate);
        rc = SP_ELIMIT;
        goto out;
    }
    rc = sp_engine_set_target(x->engine, target, ramp_ms);
    if (rc == 0 && x->agents)
        sp_agents_run_set_target(x->agents, target, ramp_ms);
    if (rc) {
        snprintf(msg, msglen, "run %lld is ending", (long long)run_id);
        goto out;
    }
    change = (sp_load_change){.at_ms = sp_wall_ms(),
                              .elapsed_ms = (int64_t)sp_engine_elapsed_ms(x->engine),
                              .target = target,
                              .ramp_ms = ramp_ms,
                              .by = by ? sp_strdup(by) : NULL};
    pthread_mutex_lock(&x->mu);
    sp_grow((void **)&x->changes, &x->capchanges, x->nchanges + 1, sizeof *x->changes);
    x->changes[x->nchanges++] = change; /* by is the run's from here */
    pthread_mutex_unlock(&x->mu);
out:
    pthread_mutex_unlock(&r->mu);
    /* The store is written outside the locks: nothing here waits on SQLite under them. */
    if (rc == 0)
        record_change(r, run_id, &change);
    return rc;
}

/* Totals of one set of requests, in the units of the live view (new reference). */
static json_t *totals_json(const char *name, const sp_name_stats *n, double secs)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "requests", (json_int_t)n->requests, "failures",
        (json_int_t)n->failures, "rps", secs > 0 ? (double)n->requests / secs : 0.0, "error_rate",
        n->requests ? (double)n->failures / (double)n->requests : 0.0, "p50",
        ms_of(sp_hist_percentile(n->hist, 50)), "p95", ms_of(sp_hist_percentile(n->hist, 95)),
        "p99", ms_of(sp_hist_percentile(n->hist, 99)), "max", ms_of(sp_hist_max(n->hist)));
    if (name)
        json_object_set_new(o, "name", json_string(name));
    return o;
}

int sp_runs_live(sp_runs *r, int64_t run_id, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    run *x = find(r, run_id);
    if (!x) {
        pthread_mutex_unlock(&r->mu);
        return SP_ENOTFOUND;
    }
    double secs = (double)sp_engine_elapsed_ms(x->engine) / 1000.0;
    sp_name_stats all;
    sp_name_stats_init(&all);
    pthread_mutex_lock(&x->mu);
    sp_stats_total(&x->totals, &all);
    json_t *o = totals_json(NULL, &all, secs);
    json_t *names = json_array();
    for (size_t i = 0; i < x->totals.nnames; i++)
        if (x->totals.names[i].requests) {
            json_t *tn = totals_json(x->def->names[i], &x->totals.names[i], secs);
            if (x->def->name_kinds[i] == SP_NAME_GROUP)
                json_object_set_new(tn, "kind", json_string("group"));
            json_array_append_new(names, tn);
        }
    json_object_set_new(o, "names", names);
    json_object_set_new(o, "elapsed_s", json_real(secs));
    json_object_set_new(o, "planned_s", json_real((double)x->def->load.total_ms / 1000.0));
    json_object_set_new(o, "model",
                        json_string(x->def->load.model == SP_LOAD_OPEN ? "open" : "closed"));
    json_object_set_new(o, "second",
                        x->last_second < 0 ? json_null() : json_integer(x->last_second));
    json_object_set_new(o, "vus", json_integer(x->vus));
    json_object_set_new(o, "target_vus", json_integer(x->target_vus));
    json_object_set_new(o, "iterations", json_integer((json_int_t)x->totals.iterations));
    json_object_set_new(o, "dropped", json_integer((json_int_t)x->totals.dropped));
    /* Seconds the store could not keep so far (a full disk): the run will end incomplete. */
    json_object_set_new(o, "lost_seconds", json_integer((json_int_t)x->lost_seconds));
    json_object_set_new(o, "ending", json_boolean(x->ending));
    json_object_set_new(o, "last", x->last_point ? json_deep_copy(x->last_point) : json_null());
    json_t *changes = json_array();
    for (size_t i = 0; i < x->nchanges; i++) {
        const sp_load_change *c = &x->changes[i];
        json_array_append_new(changes,
                              json_pack("{s:I, s:I, s:f, s:I, s:s?}", "at", (json_int_t)c->at_ms,
                                        "elapsed_ms", (json_int_t)c->elapsed_ms, "target",
                                        c->target, "ramp_ms", (json_int_t)c->ramp_ms, "by", c->by));
    }
    json_object_set_new(o, "load_changes", changes);
    /* What the dashboard shows beside the table while the run goes: responses by status code,
     * failures by kind and the distinct failure messages seen so far (the store gets the
     * messages only at the end). */
    json_t *status = json_object();
    for (size_t c = 0; c < SP_STATUS_MAX; c++)
        if (all.status[c]) {
            char key[16];
            snprintf(key, sizeof key, "%zu", c);
            json_object_set_new(status, key, json_integer((json_int_t)all.status[c]));
        }
    json_object_set_new(o, "status", status);
    json_t *kinds = json_object();
    for (int k = 0; k < SP_ERRK_COUNT; k++)
        if (all.errors[k])
            json_object_set_new(kinds, sp_errkind_name((sp_errkind)k),
                                json_integer((json_int_t)all.errors[k]));
    json_object_set_new(o, "error_kinds", kinds);
    json_t *msgs = json_array();
    for (size_t i = 0; i < x->totals.nnames; i++)
        for (size_t m = 0; m < x->totals.names[i].nmsgs; m++)
            json_array_append_new(msgs,
                                  json_pack("{s:s, s:o, s:I}", "name", x->def->names[i], "message",
                                            sp_json_string(x->totals.names[i].msgs[m].msg), "count",
                                            (json_int_t)x->totals.names[i].msgs[m].count));
    json_object_set_new(o, "failure_messages", msgs);
    pthread_mutex_unlock(&x->mu);
    pthread_mutex_unlock(&r->mu);
    sp_name_stats_release(&all);
    *out = o;
    return 0;
}

char *sp_runs_backlog(void *ud, int64_t run_id, size_t *len)
{
    sp_runs *r = ud;
    *len = 0;
    sp_buf b;
    sp_buf_init(&b, SP_LIVE_BACKLOG_MAX_BYTES);
    pthread_mutex_lock(&r->mu);
    run *x = find(r, run_id);
    if (x) {
        pthread_mutex_lock(&x->mu);
        sp_buf_addf(&b, "{\"run_id\":%lld,\"status\":\"running\",\"seconds\":[", (long long)run_id);
        for (size_t i = 0; i < x->back_n; i++) {
            if (i)
                sp_buf_addc(&b, ',');
            sp_buf_adds(&b, x->backlog[x->back_start + i]);
        }
        int rc = sp_buf_adds(&b, "]}");
        pthread_mutex_unlock(&x->mu);
        if (rc != 0) /* cannot happen: the backlog is kept under the cap */
            sp_buf_release(&b);
    }
    pthread_mutex_unlock(&r->mu);
    if (!b.len && !x) {
        /* Not active: a run that has ended (or is ending) is told so with its status, so that a
         * late subscriber does not wait for points that will never come; its seconds are in
         * the store, for GET /runs/:id/series. */
        sp_store *s = NULL;
        json_t *row = NULL;
        char err[128];
        if (sp_store_open(&s, r->db_path, err, sizeof err) == 0 &&
            sp_store_run_get(s, run_id, &row) == 0) {
            const char *st = json_string_value(json_object_get(row, "status"));
            json_t *o = json_pack("{s:I, s:s, s:[]}", "run_id", (json_int_t)run_id, "status",
                                  st ? st : "", "seconds");
            char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (text)
                sp_buf_adds(&b, text);
            free(text);
            json_decref(o);
        }
        json_decref(row);
        sp_store_close(s);
    }
    if (!b.len) {
        sp_buf_release(&b);
        return NULL;
    }
    return sp_buf_detach(&b, len);
}
