/*
 * report.c - see report.h.
 */
#include "runs/report.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "engine/histogram.h"

void sp_fmt_us(uint64_t us, char *buf, size_t len)
{
    if (us < 1000)
        snprintf(buf, len, "%" PRIu64 "us", us);
    else if (us < 10000)
        snprintf(buf, len, "%.2fms", (double)us / 1000.0);
    else if (us < 1000000)
        snprintf(buf, len, "%.1fms", (double)us / 1000.0);
    else
        snprintf(buf, len, "%.2fs", (double)us / 1e6);
}

void sp_lat_of(const sp_hist *h, sp_lat *out)
{
    out->min = sp_hist_min(h);
    out->p50 = sp_hist_percentile(h, 50);
    out->p90 = sp_hist_percentile(h, 90);
    out->p95 = sp_hist_percentile(h, 95);
    out->p99 = sp_hist_percentile(h, 99);
    out->max = sp_hist_max(h);
    out->avg = sp_hist_mean(h);
}

size_t sp_report_judge(const sp_def *def, const sp_stats *totals, double duration_s,
                       sp_verdict *verdicts)
{
    return sp_report_judge_against(def, totals, duration_s, NULL, verdicts);
}

double sp_report_baseline_figure(const sp_def *def, const sp_threshold *t, const json_t *summary)
{
    const json_t *n = NULL;
    if (t->name_id < 0) {
        n = json_object_get(summary, "total");
    } else if ((size_t)t->name_id < def->nnames) {
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(summary, "names"), i, e)
        {
            const char *nm = json_string_value(json_object_get(e, "name"));
            if (nm && strcmp(nm, def->names[t->name_id]) == 0) {
                n = e;
                break;
            }
        }
    }
    const json_t *req = json_object_get(n, "requests");
    if (!json_is_number(req) || json_number_value(req) <= 0)
        return NAN;
    const json_t *v;
    if (t->metric == SP_TH_ERROR_RATE)
        v = json_object_get(n, "error_rate");
    else if (t->metric == SP_TH_RPS)
        v = json_object_get(n, "rps");
    else
        v = json_object_get(json_object_get(n, "latency_ms"), sp_th_metric_name(t->metric));
    return json_is_number(v) ? json_number_value(v) : NAN;
}

size_t sp_report_judge_against(const sp_def *def, const sp_stats *totals, double duration_s,
                               const json_t *baseline_summary, sp_verdict *verdicts)
{
    size_t failed = 0;
    for (size_t i = 0; i < def->nthresholds; i++) {
        const sp_threshold *t = &def->thresholds[i];
        double base = t->relative && baseline_summary
                          ? sp_report_baseline_figure(def, t, baseline_summary)
                          : NAN;
        sp_threshold_eval_against(t, totals, duration_s, base, &verdicts[i]);
        if (!verdicts[i].passed)
            failed++;
    }
    return failed;
}

/* Whether name i of def is a group's (a run of steps timed as a whole), not a request's. */
static int is_group(const sp_def *def, size_t i)
{
    return def->name_kinds && i < def->nnames && def->name_kinds[i] == SP_NAME_GROUP;
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

/* Latency figures in milliseconds (new reference). */
static json_t *lat_json(const sp_hist *h)
{
    sp_lat l;
    sp_lat_of(h, &l);
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "min", ms(l.min), "avg", l.avg / 1000.0,
                     "p50", ms(l.p50), "p90", ms(l.p90), "p95", ms(l.p95), "p99", ms(l.p99), "max",
                     ms(l.max));
}

/* New connections of n and the time they took (new reference): {"count", "avg", "p50", "p95",
 * "max"} in ms, or null when n opened none. */
static json_t *connect_json(const sp_name_stats *n)
{
    if (!n->connects || !n->connect_hist)
        return json_null();
    const sp_hist *h = n->connect_hist;
    return json_pack("{s:I, s:f, s:f, s:f, s:f}", "count", (json_int_t)n->connects, "avg",
                     sp_hist_mean(h) / 1000.0, "p50", ms(sp_hist_percentile(h, 50)), "p95",
                     ms(sp_hist_percentile(h, 95)), "max", ms(sp_hist_max(h)));
}

json_t *sp_report_second(const sp_def *def, uint64_t second, const sp_stats *s,
                         sp_name_stats *scratch)
{
    json_t *names = json_object();
    for (size_t i = 0; i < s->nnames; i++) {
        const sp_name_stats *n = &s->names[i];
        if (!n->requests)
            continue;
        /* json_object_set_new steals the packed object. */
        json_object_set_new(names, def->names[i],
                            json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f}", "kind",
                                      is_group(def, i) ? "group" : "request", "requests",
                                      (json_int_t)n->requests, "failures", (json_int_t)n->failures,
                                      "p50", ms(sp_hist_percentile(n->hist, 50)), "p95",
                                      ms(sp_hist_percentile(n->hist, 95)), "p99",
                                      ms(sp_hist_percentile(n->hist, 99)), "max",
                                      ms(sp_hist_max(n->hist))));
        if (n->connects) {
            json_t *nj = json_object_get(names, def->names[i]); /* borrowed */
            json_object_set_new(nj, "connects", json_integer((json_int_t)n->connects));
            json_object_set_new(nj, "connect_ms", connect_json(n));
        }
    }
    sp_name_stats_release(scratch);
    sp_name_stats_init(scratch);
    sp_stats_total(s, scratch);
    /* "o" steals names. */
    json_t *row = json_pack(
        "{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:i, s:i, s:I, s:I, s:o}", "t", (json_int_t)second,
        "requests", (json_int_t)scratch->requests, "failures", (json_int_t)scratch->failures, "p50",
        ms(sp_hist_percentile(scratch->hist, 50)), "p95", ms(sp_hist_percentile(scratch->hist, 95)),
        "p99", ms(sp_hist_percentile(scratch->hist, 99)), "max", ms(sp_hist_max(scratch->hist)),
        "vus", (int)s->active_vus, "target_vus", (int)s->target_vus, "iterations",
        (json_int_t)s->iterations, "dropped", (json_int_t)s->dropped, "names", names);
    /* json_object_set_new steals the new values. */
    json_object_set_new(row, "lag_ms", json_real(ms(s->lag_us_max)));
    json_object_set_new(row, "connects", json_integer((json_int_t)scratch->connects));
    if (scratch->connects)
        json_object_set_new(row, "connect_ms", connect_json(scratch));
    if (s->stalled_seconds)
        json_object_set_new(row, "stall", json_true());
    if (def->load.model == SP_LOAD_OPEN) {
        json_object_set_new(row, "target_rate", json_real(s->target_rate));
        json_object_set_new(row, "arrivals", json_integer((json_int_t)s->arrivals));
        json_object_set_new(row, "arrivals_late", json_integer((json_int_t)s->arrivals_late));
    }
    return row;
}

/* Open model: the time arrivals were scheduled over: the planned duration, not the tail in
 * which the last requests finished (or less, when the run was stopped early). */
static double open_seconds(const sp_run_result *r)
{
    double planned = (double)r->def->load.total_ms / 1000.0;
    return r->duration_s < planned ? r->duration_s : planned;
}

/* Open model: arrivals are dropped when no VU is free. That is the target's doing when the VUs
 * were busy waiting on its responses while the generator kept its schedule; it is the
 * generator's when the generator itself fell behind: a stalled second, or timers that fired
 * late on average (a busy CPU shows there). A single late timer is not a limit. */
int sp_report_generator_limited(const sp_stats *t)
{
    uint64_t planned = t->arrivals + t->dropped;
    double mean_lag_us = planned ? (double)t->arrivals_lag_us / (double)planned : 0.0;
    return t->stalled_seconds > 0 || mean_lag_us > (double)SP_LAG_WARN_US;
}

int sp_report_target_saturated(const sp_stats *t)
{
    return t->dropped > 0 && !sp_report_generator_limited(t);
}

uint64_t sp_report_unaccepted_failures(const sp_run_result *r)
{
    if (r->allow_failures || r->def->nthresholds)
        return 0;
    uint64_t failed = 0;
    for (size_t i = 0; i < r->totals->nnames; i++)
        if (!r->totals->names[i].group) /* a failed group is a failed request inside it */
            failed += r->totals->names[i].failures;
    return failed;
}

static uint64_t requests_of(const sp_stats *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->nnames; i++)
        if (!t->names[i].group) /* a group's runs are not requests */
            n += t->names[i].requests;
    return n;
}

/* The load profile as it ran (overrides applied), for reports (new reference). */
static json_t *load_json(const sp_def *def)
{
    const sp_load *l = &def->load;
    int open = l->model == SP_LOAD_OPEN;
    json_t *stages = json_array();
    for (size_t i = 0; i < l->nstages; i++)
        json_array_append_new(stages, json_pack("{s:f, s:f}", "duration_s",
                                                (double)l->stages[i].duration_ms / 1000.0, "target",
                                                l->stages[i].target));
    json_t *o = json_pack("{s:s, s:s, s:f, s:o}", "model", open ? "open" : "closed", "unit",
                          open ? "iterations/s" : "users", "planned_s",
                          (double)l->total_ms / 1000.0, "stages", stages);
    if (open)
        json_object_set_new(o, "max_vus", json_integer(l->max_vus));
    if (l->nstop_when) {
        json_t *any = json_array();
        for (size_t i = 0; i < l->nstop_when; i++)
            json_array_append_new(any, json_string(l->stop_when[i].src));
        json_object_set_new(
            o, "stop_when",
            json_pack("{s:o, s:I}", "any", any, "window_s", (json_int_t)l->stop_window_s));
    }
    return o;
}

/* The base URL as reports show it: a secret's value masked, and no password of a user:pass@
 * in it (new reference; null when the test has none). */
static json_t *base_url_json(const sp_def *def)
{
    if (!def->base_url)
        return json_null();
    sp_buf b;
    sp_buf_init(&b, 4096);
    const char *u = def->base_url;
    if (sp_mask_apply(def->mask, u, strlen(u), 0, &b) && b.p)
        u = b.p;
    /* scheme://user:pass@host: keep the user, drop the password. */
    const char *scheme = strstr(u, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    json_t *out;
    if (at && (!slash || at < slash) && colon && colon < at) {
        char *cut = NULL;
        sp_buf o;
        sp_buf_init(&o, 4096);
        (void)sp_buf_add(&o, u, (size_t)(colon - u));
        (void)sp_buf_adds(&o, ":" SP_SECRET_MASK);
        (void)sp_buf_adds(&o, at);
        cut = sp_buf_detach(&o, NULL);
        out = sp_json_string(cut);
        free(cut);
    } else {
        out = sp_json_string(u);
    }
    sp_buf_release(&b);
    return out;
}

static json_t *changes_json(const sp_run_result *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nchanges; i++) {
        const sp_load_change *c = &r->changes[i];
        json_array_append_new(a,
                              json_pack("{s:I, s:I, s:f, s:I, s:s?}", "at", (json_int_t)c->at_ms,
                                        "elapsed_ms", (json_int_t)c->elapsed_ms, "target",
                                        c->target, "ramp_ms", (json_int_t)c->ramp_ms, "by", c->by));
    }
    return a;
}

/* The per-name (or total) section of the JSON result (new reference). */
static json_t *name_json(const char *name, const sp_name_stats *n, double duration_s)
{
    json_t *status = json_object();
    for (int c = 0; c < SP_STATUS_MAX; c++) {
        if (n->status[c]) {
            char key[8];
            snprintf(key, sizeof key, "%d", c);
            json_object_set_new(status, key, json_integer((json_int_t)n->status[c]));
        }
    }
    json_t *errors = json_object();
    for (int k = 0; k < SP_ERRK_COUNT; k++) {
        if (n->errors[k])
            json_object_set_new(errors, sp_errkind_name((sp_errkind)k),
                                json_integer((json_int_t)n->errors[k]));
    }
    json_t *msgs = json_array();
    for (size_t i = 0; i < n->nmsgs; i++)
        json_array_append_new(msgs, json_pack("{s:s, s:I}", "message", n->msgs[i].msg, "count",
                                              (json_int_t)n->msgs[i].count));
    double rps = duration_s > 0 ? (double)n->requests / duration_s : 0;
    double err = n->requests ? (double)n->failures / (double)n->requests : 0;
    json_t *o = json_pack(
        "{s:s, s:I, s:I, s:f, s:f, s:o, s:o, s:o, s:I, s:I, s:o, s:I}", "name", name, "requests",
        (json_int_t)n->requests, "failures", (json_int_t)n->failures, "rps", rps, "error_rate", err,
        "latency_ms", lat_json(n->hist), "status", status, "errors", errors, "bytes_in",
        (json_int_t)n->bytes_in, "bytes_out", (json_int_t)n->bytes_out, "failure_messages", msgs,
        "failure_messages_dropped", (json_int_t)n->msgs_dropped);
    /* Part of latency_ms, reported apart: see connect_json. */
    json_object_set_new(o, "connects", json_integer((json_int_t)n->connects));
    json_object_set_new(o, "connect_ms", connect_json(n));
    return o;
}

json_t *sp_report_generator_json(const sp_stats *t)
{
    json_t *g = json_pack("{s:f, s:I}", "lag_ms_max", ms(t->lag_us_max), "stalled_seconds",
                          (json_int_t)t->stalled_seconds);
    if (t->stalled_seconds) {
        json_object_set_new(g, "stall_first", json_integer((json_int_t)t->stall_first));
        json_object_set_new(g, "stall_last", json_integer((json_int_t)t->stall_last));
    }
    return g;
}

void sp_report_stall_text(const sp_stats *t, FILE *out)
{
    if (!t->stalled_seconds)
        return;
    char lag[16];
    sp_fmt_us(t->lag_us_max, lag, sizeof lag);
    if (t->stall_first == t->stall_last)
        fprintf(out, "\nWARNING: the load generator stalled in second %" PRIu64, t->stall_first);
    else
        fprintf(out,
                "\nWARNING: the load generator stalled in %" PRIu64
                " seconds between second %" PRIu64 " and %" PRIu64,
                t->stalled_seconds, t->stall_first, t->stall_last);
    fprintf(out,
            " (longest gap %s): latencies and missing requests in those seconds are the "
            "generator's own, not the target's.\n",
            lag);
}

/* The load profile the run was given (new reference): what a comparison needs to tell whether
 * two runs' throughput can be compared. */
static json_t *profile_json(const sp_def *def)
{
    json_t *stages = json_array();
    for (size_t i = 0; i < def->load.nstages; i++)
        json_array_append_new(stages, json_pack("{s:I, s:f}", "duration_ms",
                                                (json_int_t)def->load.stages[i].duration_ms,
                                                "target", def->load.stages[i].target));
    json_t *p = json_pack("{s:s, s:o}", "model",
                          def->load.model == SP_LOAD_OPEN ? "open" : "closed", "stages", stages);
    if (def->load.model == SP_LOAD_OPEN)
        json_object_set_new(p, "max_vus", json_integer((json_int_t)def->load.max_vus));
    return p;
}

json_t *sp_report_json(const sp_run_result *r, json_t *seconds)
{
    const sp_def *def = r->def;
    json_t *names = json_array();
    for (size_t i = 0; i < r->totals->nnames; i++) {
        json_t *nj = name_json(def->names[i], &r->totals->names[i], r->duration_s);
        /* A group's entry counts whole runs of its steps: "requests" are those runs. */
        json_object_set_new(nj, "kind", json_string(is_group(def, i) ? "group" : "request"));
        json_array_append_new(names, nj);
    }
    sp_name_stats total;
    sp_name_stats_init(&total);
    sp_stats_total(r->totals, &total);
    json_t *th = json_array();
    for (size_t i = 0; i < def->nthresholds; i++) {
        const sp_threshold *t = &def->thresholds[i];
        const sp_verdict *v = &r->verdicts[i];
        json_t *one = json_pack("{s:s, s:b, s:f, s:s, s:s?}", "threshold", t->src, "passed",
                                v->passed, "measured", isfinite(v->measured) ? v->measured : 0.0,
                                "metric", sp_th_metric_name(t->metric), "name",
                                t->name_id >= 0 ? def->names[t->name_id] : NULL);
        /* A relative threshold says what it was held against, or that it was not judged. */
        if (t->relative) {
            json_object_set_new(one, "limit",
                                isfinite(v->limit) ? json_real(v->limit) : json_null());
            json_object_set_new(one, "skipped", json_boolean(v->skipped));
        }
        json_array_append_new(th, one);
    }
    json_t *out =
        json_pack("{s:s, s:s, s:I, s:f, s:o, s:o, s:o, s:I}", "test", def->name, "status",
                  r->status, "started_ms", (json_int_t)r->started_ms, "duration_s", r->duration_s,
                  "total", name_json("Total", &total, r->duration_s), "names", names, "thresholds",
                  th, "iterations", (json_int_t)r->totals->iterations);
    sp_name_stats_release(&total);
    json_object_set_new(out, "generator", sp_report_generator_json(r->totals));
    /* What a forwarded report needs to say what ran, where and from where. */
    json_object_set_new(out, "base_url", base_url_json(def));
    json_object_set_new(out, "load", load_json(def));
    json_object_set_new(out, "load_changes", changes_json(r));
    if (r->host)
        json_object_set_new(out, "host", sp_json_string(r->host));
    uint64_t unaccepted = sp_report_unaccepted_failures(r);
    if (unaccepted)
        json_object_set_new(out, "failed_requests_fail", json_integer((json_int_t)unaccepted));
    json_object_set_new(out, "profile", profile_json(def));
    if (def->load.model == SP_LOAD_OPEN) {
        const sp_stats *t = r->totals;
        double planned = (double)(t->arrivals + t->dropped);
        double secs = open_seconds(r);
        /* "o" steals nothing else: the values are new. */
        json_object_set_new(
            out, "open_model",
            json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:b}", "max_vus",
                      (json_int_t)def->load.max_vus, "arrivals", (json_int_t)t->arrivals, "dropped",
                      (json_int_t)t->dropped, "achieved_rate",
                      secs > 0 ? (double)t->arrivals / secs : 0.0, "dropped_share",
                      planned > 0 ? (double)t->dropped / planned : 0.0, "lag_ms_max",
                      ms(t->lag_us_max), "generator_limited", sp_report_generator_limited(t)));
        json_t *o = json_object_get(out, "open_model"); /* borrowed */
        json_object_set_new(o, "target_saturated", json_boolean(sp_report_target_saturated(t)));
        json_object_set_new(o, "late_share",
                            json_real(planned > 0 ? (double)t->arrivals_late / planned : 0.0));
        json_object_set_new(
            o, "lag_ms_mean",
            json_real(planned > 0 ? (double)t->arrivals_lag_us / planned / 1000.0 : 0.0));
    }
    if (r->brk) {
        const sp_threshold *c = &def->load.stop_when[r->brk->condition];
        char v[32];
        sp_threshold_format_value(c, r->brk->measured, v, sizeof v);
        /* The packed object is new; json_object_set_new steals it. */
        json_object_set_new(out, "broke",
                            json_pack("{s:s, s:f, s:s, s:I, s:f, s:s, s:i}", "condition", c->src,
                                      "measured", r->brk->measured, "measured_text", v, "second",
                                      (json_int_t)r->brk->second, "load", r->brk->target,
                                      "load_unit",
                                      def->load.model == SP_LOAD_OPEN ? "iterations/s" : "users",
                                      "active_vus", (int)r->brk->active_vus));
    }
    if (seconds)
        json_object_set(out, "seconds", seconds); /* borrowed: json_object_set takes its own ref */
    return out;
}

static void table_row(FILE *out, const char *name, const sp_name_stats *n, double duration_s)
{
    sp_lat l;
    sp_lat_of(n->hist, &l);
    char p50[16], p90[16], p95[16], p99[16], mx[16];
    sp_fmt_us(l.p50, p50, sizeof p50);
    sp_fmt_us(l.p90, p90, sizeof p90);
    sp_fmt_us(l.p95, p95, sizeof p95);
    sp_fmt_us(l.p99, p99, sizeof p99);
    sp_fmt_us(l.max, mx, sizeof mx);
    double rps = duration_s > 0 ? (double)n->requests / duration_s : 0;
    double fail = n->requests ? 100.0 * (double)n->failures / (double)n->requests : 0;
    fprintf(out, "%-28.28s %10" PRIu64 " %9.1f %7.2f%% %9s %9s %9s %9s %9s\n", name, n->requests,
            rps, fail, p50, p90, p95, p99, mx);
}

static void connect_row(FILE *out, const char *name, const sp_name_stats *n)
{
    const sp_hist *h = n->connect_hist;
    char avg[16], p50[16], p95[16], mx[16];
    sp_fmt_us((uint64_t)llround(sp_hist_mean(h)), avg, sizeof avg);
    sp_fmt_us(sp_hist_percentile(h, 50), p50, sizeof p50);
    sp_fmt_us(sp_hist_percentile(h, 95), p95, sizeof p95);
    sp_fmt_us(sp_hist_max(h), mx, sizeof mx);
    fprintf(out, "%-28.28s %10" PRIu64 " %9s %9s %9s %9s\n", name, n->connects, avg, p50, p95, mx);
}

static double fig(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void location_row(FILE *out, const char *indent, const char *name, const json_t *f)
{
    char p50[16], p95[16], p99[16];
    sp_fmt_us((uint64_t)llround(fig(f, "p50_ms") * 1000.0), p50, sizeof p50);
    sp_fmt_us((uint64_t)llround(fig(f, "p95_ms") * 1000.0), p95, sizeof p95);
    sp_fmt_us((uint64_t)llround(fig(f, "p99_ms") * 1000.0), p99, sizeof p99);
    fprintf(out, "%s%-*.*s %10.0f %8.0f %9s %9s %9s\n", indent, 28 - (int)strlen(indent),
            28 - (int)strlen(indent), name, fig(f, "requests"), fig(f, "failures"), p50, p95, p99);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a JSON object, sorted (a new array of borrowed strings, *n of them). */
static const char **sorted_keys(const json_t *o, size_t *n)
{
    const char **k = sp_calloc(json_object_size(o) + 1, sizeof *k);
    const char *key;
    json_t *v;
    *n = 0;
    json_object_foreach((json_t *)o, key, v) k[(*n)++] = key;
    qsort(k, *n, sizeof *k, cmp_key);
    return k;
}

void sp_report_locations_text(const json_t *summary, FILE *out)
{
    const json_t *locs = json_object_get(summary, "locations");
    if (!json_object_size(locs))
        return;
    fprintf(out, "\nPer location:\n%-28s %10s %8s %9s %9s %9s\n", "Location / name", "Requests",
            "Fail", "p50", "p95", "p99");
    size_t n;
    const char **keys = sorted_keys(locs, &n);
    for (size_t i = 0; i < n; i++) {
        const json_t *loc = json_object_get(locs, keys[i]);
        location_row(out, "", keys[i], loc);
        size_t m;
        const char **names = sorted_keys(json_object_get(loc, "names"), &m);
        for (size_t k = 0; k < m; k++)
            location_row(out, "  ", names[k],
                         json_object_get(json_object_get(loc, "names"), names[k]));
        free(names);
    }
    free(keys);
    const json_t *agents = json_object_get(summary, "agents");
    if (!json_array_size(agents))
        return;
    fprintf(out, "\nAgents:\n%-28s %-12s %9s %9s %8s  %s\n", "Agent", "Location", "CPU peak",
            "Lag max", "Dropped", "Bottleneck");
    size_t i;
    const json_t *a;
    json_array_foreach(agents, i, a)
    {
        char lag[16];
        sp_fmt_us((uint64_t)llround(fig(a, "lag_ms_max") * 1000.0), lag, sizeof lag);
        const char *why = json_string_value(json_object_get(a, "bottleneck"));
        /* cpu is in percent of one core, summed over the agent's threads. */
        fprintf(out, "%-28.28s %-12.12s %8.0f%% %9s %8.0f  %s\n",
                json_string_value(json_object_get(a, "name")) ?: "",
                json_string_value(json_object_get(a, "location")) ?: "", fig(a, "cpu"), lag,
                fig(a, "dropped"), why ? why : "-");
    }
}

void sp_report_text(const sp_run_result *r, FILE *out)
{
    const sp_def *def = r->def;
    const sp_stats *t = r->totals;
    sp_name_stats total;
    sp_name_stats_init(&total);
    sp_stats_total(t, &total);

    fprintf(out, "\n%s: %s after %.1fs, %" PRIu64 " iterations\n\n", def->name, r->status,
            r->duration_s, t->iterations);
    fprintf(out, "%-28s %10s %9s %8s %9s %9s %9s %9s %9s\n", "Name", "Requests", "RPS", "Fail",
            "p50", "p90", "p95", "p99", "max");
    for (size_t i = 0; i < t->nnames; i++) {
        if (!t->names[i].requests)
            continue;
        char label[300];
        /* A group's row counts whole runs of its steps, beside the requests inside it. */
        snprintf(label, sizeof label, "%s%s", is_group(def, i) ? "group: " : "", def->names[i]);
        table_row(out, label, &t->names[i], r->duration_s);
    }
    table_row(out, "Total", &total, r->duration_s);
    if (total.connects) {
        /* Apart, so that a ramp's first requests (each one connects) are not read as a slow
         * target: the latencies above include these times. */
        fprintf(out, "\n%-28s %10s %9s %9s %9s %9s\n", "New connections", "Connects", "avg", "p50",
                "p95", "max");
        for (size_t i = 0; i < t->nnames; i++)
            if (t->names[i].connects && !is_group(def, i))
                connect_row(out, def->names[i], &t->names[i]);
        connect_row(out, "Total", &total);
        fprintf(out, "(connect time: TCP connect plus TLS handshake, part of each such request's "
                     "latency above)\n");
    }

    fprintf(out, "\n%-8s %10s %8s\n", "Status", "Responses", "Share");
    for (int c = 0; c < SP_STATUS_MAX; c++) {
        if (!total.status[c])
            continue;
        char code[16];
        if (c == 0)
            snprintf(code, sizeof code, "none");
        else
            snprintf(code, sizeof code, "%d", c);
        fprintf(out, "%-8s %10" PRIu64 " %7.2f%%\n", code, total.status[c],
                100.0 * (double)total.status[c] / (double)(total.requests ? total.requests : 1));
    }

    int any = 0;
    for (int k = 0; k < SP_ERRK_COUNT; k++) {
        if (!total.errors[k])
            continue;
        if (!any++)
            fprintf(out, "\n%-16s %10s\n", "Error kind", "Count");
        fprintf(out, "%-16s %10" PRIu64 "\n", sp_errkind_name((sp_errkind)k), total.errors[k]);
    }

    any = 0;
    for (size_t i = 0; i < t->nnames; i++) {
        const sp_name_stats *n = &t->names[i];
        for (size_t m = 0; m < n->nmsgs; m++) {
            if (!any++)
                fprintf(out, "\nFailures:\n");
            fprintf(out, "  %8" PRIu64 "x  %s: %s\n", n->msgs[m].count, def->names[i],
                    n->msgs[m].msg);
        }
        if (n->msgs_dropped)
            fprintf(out, "  %8" PRIu64 "x  %s: (other messages)\n", n->msgs_dropped, def->names[i]);
    }

    sp_report_stall_text(t, out);
    if (def->load.model == SP_LOAD_OPEN) {
        char lag[16];
        sp_fmt_us(t->lag_us_max, lag, sizeof lag);
        fprintf(out,
                "\nOpen model: %" PRIu64 " arrivals started (%.1f/s), %" PRIu64
                " dropped (no free VU of %u), timers at most %s late\n",
                t->arrivals, open_seconds(r) > 0 ? (double)t->arrivals / open_seconds(r) : 0.0,
                t->dropped, (unsigned)def->load.max_vus, lag);
        uint64_t planned = t->arrivals + t->dropped;
        if (sp_report_generator_limited(t)) {
            char mean[16];
            sp_fmt_us(planned ? t->arrivals_lag_us / planned : 0, mean, sizeof mean);
            fprintf(out,
                    "WARNING: the load generator, not the target, limited this run (%s). "
                    "The target saw less load than planned; give the engine more cores or "
                    "lower the rate.\n",
                    t->stalled_seconds ? "it stalled" : "its timers fired late");
            fprintf(out, "         Arrivals were %s late on average.\n", mean);
        } else if (sp_report_target_saturated(t)) {
            fprintf(out,
                    "WARNING: the target was saturated: all %u VUs were busy waiting on its "
                    "responses, so %" PRIu64 " arrivals (%.1f%%) found no free VU and were "
                    "dropped, while the generator kept its schedule. Raise max_vus to keep "
                    "offering the planned rate, or read this rate as the target's limit.\n",
                    (unsigned)def->load.max_vus, t->dropped,
                    planned ? 100.0 * (double)t->dropped / (double)planned : 0.0);
        }
    }

    if (r->brk) {
        const sp_threshold *c = &def->load.stop_when[r->brk->condition];
        char v[32];
        sp_threshold_format_value(c, r->brk->measured, v, sizeof v);
        /* "second" counts from 0, as in the JSON result and the per-second rows. */
        if (def->load.model == SP_LOAD_OPEN)
            fprintf(out,
                    "\nBroke at %.1f iterations/s in second %" PRIu64 ": %s over the last %us "
                    "(measured %s); the run was stopped there.\n",
                    r->brk->target, r->brk->second, c->src, (unsigned)def->load.stop_window_s, v);
        else
            fprintf(out,
                    "\nBroke at %.0f users in second %" PRIu64 ": %s over the last %us "
                    "(measured %s); the run was stopped there.\n",
                    r->brk->target, r->brk->second, c->src, (unsigned)def->load.stop_window_s, v);
    }

    for (size_t i = 0; i < r->nchanges; i++) {
        const sp_load_change *c = &r->changes[i];
        if (!i)
            fprintf(out, "\nLoad changes:\n");
        fprintf(out, "  at %.1fs: %g %s", (double)c->elapsed_ms / 1000.0, c->target,
                def->load.model == SP_LOAD_OPEN ? "iterations/s" : "users");
        if (c->ramp_ms)
            fprintf(out, " over %.1fs", (double)c->ramp_ms / 1000.0);
        if (c->by)
            fprintf(out, " (by %s)", c->by);
        fputc('\n', out);
    }

    if (def->nthresholds) {
        fprintf(out, "\nThresholds:\n");
        for (size_t i = 0; i < def->nthresholds; i++) {
            char v[32], lim[32];
            const sp_verdict *vd = &r->verdicts[i];
            sp_threshold_format_value(&def->thresholds[i], vd->measured, v, sizeof v);
            if (vd->skipped) {
                fprintf(out, "  SKIP  %-40s measured %s (no baseline run to hold it against)\n",
                        def->thresholds[i].src, v);
                continue;
            }
            fprintf(out, "  %s  %-40s measured %s", vd->passed ? "PASS" : "FAIL",
                    def->thresholds[i].src, v);
            if (def->thresholds[i].relative) {
                sp_threshold_format_value(&def->thresholds[i], vd->limit, lim, sizeof lim);
                fprintf(out, " (limit %s)", lim);
            }
            fprintf(out, "\n");
        }
    }
    uint64_t unaccepted = sp_report_unaccepted_failures(r);
    if (unaccepted)
        fprintf(out,
                "\nFAIL: %" PRIu64 " of %" PRIu64 " requests failed and the test has no "
                "thresholds (--allow-failures accepts them)\n",
                unaccepted, requests_of(t));
    fprintf(out, "\n");
    sp_name_stats_release(&total);
}

/* Writes s with XML's five special characters escaped, and control characters dropped. */
static void xml_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            if (c >= 0x20 || c == '\t' || c == '\n')
                fputc(c, out);
        }
    }
}

/* The start as JUnit's timestamp: ISO 8601 in UTC. */
void sp_report_iso_utc(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, len, "1970-01-01T00:00:00Z");
}

void sp_report_regression_line(const json_t *reg, char *buf, size_t len)
{
    const char *name = json_string_value(json_object_get(reg, "name"));
    const char *fig = json_string_value(json_object_get(reg, "figure"));
    const char *unit = json_string_value(json_object_get(reg, "unit"));
    const json_t *ci = json_object_get(reg, "ci");
    const json_t *ch = json_object_get(reg, "change"), *p = json_object_get(reg, "p_value");
    const char *u = unit && strcmp(unit, "ms") == 0       ? " ms"
                    : unit && strcmp(unit, "points") == 0 ? " points"
                                                          : "/s";
    char interval[64] = "";
    if (json_array_size(ci) == 2)
        snprintf(interval, sizeof interval, " [%+.3g, %+.3g]",
                 json_number_value(json_array_get(ci, 0)),
                 json_number_value(json_array_get(ci, 1)));
    snprintf(buf, len, "%s %s: %.4g -> %.4g, change %+.3g%s%s (p = %.2g, %s)",
             name ? name : "Total", fig ? fig : "?",
             json_number_value(json_object_get(reg, "baseline")),
             json_number_value(json_object_get(reg, "value")), json_number_value(ch), u, interval,
             json_number_value(p), json_string_value(json_object_get(reg, "basis")) ?: "?");
}

/* The baseline's test case: whether the run regressed against its baseline run. */
static void junit_baseline(FILE *out, const json_t *b, double duration_s)
{
    const json_t *regs = json_object_get(b, "regressions");
    int failing =
        json_array_size(regs) > 0 && json_is_true(json_object_get(b, "fail_on_regression"));
    const json_t *id = json_object_get(b, "run_id");
    fprintf(out, "    <testcase classname=\"stampede.baseline\" name=\"");
    if (json_is_integer(id))
        fprintf(out, "no regression against run %lld", (long long)json_integer_value(id));
    else
        fprintf(out, "no regression (no baseline run)");
    fprintf(out, "\" time=\"%.3f\">", duration_s);
    fprintf(out,
            failing ? "<failure type=\"regression\" message=\"%zu regressions\">" : "<system-out>",
            json_array_size(regs));
    const char *verdict = json_string_value(json_object_get(b, "verdict"));
    xml_escaped(out, verdict ? verdict : "not compared");
    size_t i;
    const json_t *reg;
    json_array_foreach(regs, i, reg)
    {
        char line[512];
        sp_report_regression_line(reg, line, sizeof line);
        fputc('\n', out);
        xml_escaped(out, line);
    }
    fprintf(out, failing ? "</failure>" : "</system-out>");
    fprintf(out, "</testcase>\n");
}

int sp_report_junit(const sp_run_result *r, FILE *out)
{
    const sp_def *def = r->def;
    size_t failures = 0;
    for (size_t i = 0; i < def->nthresholds; i++)
        failures += !r->verdicts[i].passed;
    /* A run that did not end by itself is an error of the "run" case; failed requests that the
     * run does not accept (no thresholds) are its failure. */
    int ended_badly = strcmp(r->status, "passed") != 0 && strcmp(r->status, "failed") != 0;
    uint64_t unaccepted = sp_report_unaccepted_failures(r);
    int run_case = !def->nthresholds || ended_badly;
    int run_failed = run_case && !ended_badly && unaccepted > 0;
    failures += (size_t)run_failed;
    size_t cases = def->nthresholds + (size_t)run_case;
    char ts[32];
    sp_report_iso_utc(r->started_ms, ts, sizeof ts);
    const char *host = r->host && r->host[0] ? r->host : "localhost";
    const json_t *gate =
        json_is_object(r->baseline) && json_object_get(r->baseline, "verdict") ? r->baseline : NULL;
    if (gate) {
        cases++;
        failures += json_array_size(json_object_get(gate, "regressions")) > 0 &&
                    json_is_true(json_object_get(gate, "fail_on_regression"));
    }

    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(out, "<testsuites tests=\"%zu\" failures=\"%zu\" errors=\"%d\" time=\"%.3f\">\n", cases,
            failures, ended_badly, r->duration_s);
    fprintf(out, "  <testsuite name=\"");
    xml_escaped(out, def->name);
    fprintf(out,
            "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\" skipped=\"0\" time=\"%.3f\" "
            "timestamp=\"%s\" hostname=\"",
            cases, failures, ended_badly, r->duration_s, ts);
    xml_escaped(out, host);
    fprintf(out, "\">\n    <properties>\n      <property name=\"status\" value=\"");
    xml_escaped(out, r->status);
    fprintf(out, "\"/>\n      <property name=\"requests\" value=\"%" PRIu64 "\"/>\n",
            requests_of(r->totals));
    uint64_t failed_requests = 0;
    for (size_t i = 0; i < r->totals->nnames; i++)
        if (!r->totals->names[i].group)
            failed_requests += r->totals->names[i].failures;
    fprintf(out, "      <property name=\"failed_requests\" value=\"%" PRIu64 "\"/>\n",
            failed_requests);
    fprintf(out, "    </properties>\n");
    if (run_case) {
        fprintf(out, "    <testcase classname=\"stampede\" name=\"run\" time=\"%.3f\">",
                r->duration_s);
        if (ended_badly) {
            int incomplete = strcmp(r->status, "incomplete") == 0;
            const char *why = strcmp(r->status, "stopped") == 0   ? "stopped before the end"
                              : strcmp(r->status, "aborted") == 0 ? "the server died during the run"
                              : incomplete ? "the results are incomplete: the server could not "
                                             "store them all"
                                           : "the run could not start";
            fprintf(out, "<error type=\"");
            xml_escaped(out, r->status);
            fprintf(out, "\" message=\"%s\">%s after %.1fs", why, why, r->duration_s);
            if (incomplete && r->error) {
                fputs(": ", out);
                xml_escaped(out, r->error);
            }
            fputs("</error>", out);
        } else if (run_failed) {
            fprintf(out,
                    "<failure type=\"failed_requests\" message=\"%" PRIu64 " of %" PRIu64
                    " requests failed\">%" PRIu64 " of %" PRIu64
                    " requests failed and the test has no thresholds</failure>",
                    unaccepted, requests_of(r->totals), unaccepted, requests_of(r->totals));
        }
        fprintf(out, "</testcase>\n");
    }
    for (size_t i = 0; i < def->nthresholds; i++) {
        char v[32];
        sp_threshold_format_value(&def->thresholds[i], r->verdicts[i].measured, v, sizeof v);
        fprintf(out, "    <testcase classname=\"stampede.thresholds\" name=\"");
        xml_escaped(out, def->thresholds[i].src);
        fprintf(out, "\" time=\"%.3f\">", r->duration_s);
        if (r->verdicts[i].skipped) {
            fprintf(out, "<skipped message=\"no baseline run to hold it against\"/>");
        } else if (!r->verdicts[i].passed) {
            fprintf(out, "<failure type=\"threshold\" message=\"measured %s\">", v);
            xml_escaped(out, def->thresholds[i].src);
            fprintf(out, " failed: measured %s</failure>", v);
        } else {
            fprintf(out, "<system-out>measured %s</system-out>", v);
        }
        fprintf(out, "</testcase>\n");
    }
    if (gate)
        junit_baseline(out, gate, r->duration_s);
    fprintf(out, "  </testsuite>\n</testsuites>\n");
    return ferror(out) ? SP_EIO : 0;
}
