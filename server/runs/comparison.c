/*
 * comparison.c - see comparison.h.
 *
 * Each run is read once: its per-second rows (one pass over run_seconds, name by name kept in
 * memory as numbers), the per-second latency of all its names together (run_ticks), and, only
 * when a figure needs them, its merged histograms. Everything here is then plain arithmetic on
 * those arrays with compare.c.
 */
#include "runs/comparison.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/histogram.h"
#include "runs/compare.h"

/* ---- Settings ---- */

void sp_comparison_defaults(sp_cmp_settings *s)
{
    s->alpha = 0.01;
    s->min_change_pct = 10;
    s->min_change_tail_pct = 20;
    s->min_change_ms = 1;
    s->min_change_error_pct = 0.5;
    s->min_change_rps = 1;
    s->min_seconds = 5;
    s->min_requests = 5;
    s->max_lag_ms = SP_LAG_WARN_US / 1000.0;
}

static const struct setting {
    const char *name;
    size_t off;
    double min, max;
    int whole;
    int open_min; /* min itself is refused */
} settings[] = {
    {"alpha", offsetof(sp_cmp_settings, alpha), 0, 0.5, 0, 1},
    {"min_change_pct", offsetof(sp_cmp_settings, min_change_pct), 0, 1000, 0, 0},
    {"min_change_tail_pct", offsetof(sp_cmp_settings, min_change_tail_pct), 0, 1000, 0, 0},
    {"min_change_ms", offsetof(sp_cmp_settings, min_change_ms), 0, 60000, 0, 0},
    {"min_change_error_pct", offsetof(sp_cmp_settings, min_change_error_pct), 0, 100, 0, 0},
    {"min_change_rps", offsetof(sp_cmp_settings, min_change_rps), 0, 1e9, 0, 0},
    {"min_seconds", offsetof(sp_cmp_settings, min_seconds), 3, 86400, 1, 0},
    {"min_requests", offsetof(sp_cmp_settings, min_requests), 2, 1e9, 1, 0},
    {"max_lag_ms", offsetof(sp_cmp_settings, max_lag_ms), 1, 60000, 0, 0},
};

int sp_comparison_setting(sp_cmp_settings *s, const char *name, double v, char *msg, size_t msglen)
{
    if (strcmp(name, "tolerance") == 0)
        name = "min_change_pct";
    for (size_t i = 0; i < SP_ARRAY_LEN(settings); i++) {
        const struct setting *d = &settings[i];
        if (strcmp(d->name, name) != 0)
            continue;
        int ok = isfinite(v) && v <= d->max && (d->open_min ? v > d->min : v >= d->min) &&
                 (!d->whole || v == floor(v));
        if (!ok) {
            snprintf(msg, msglen, "%s must be %s%s %s %g to %g", name, d->whole ? "a whole " : "a ",
                     "number", d->open_min ? "above" : "from", d->min, d->max);
            return SP_EINVAL;
        }
        *(double *)((char *)s + d->off) = v;
        return 0;
    }
    snprintf(msg, msglen,
             "unknown setting (known: alpha, min_change_pct, min_change_tail_pct, min_change_ms, "
             "min_change_error_pct, min_change_rps, min_seconds, min_requests, "
             "max_lag_ms)");
    return SP_EINVAL;
}

int sp_comparison_settings_apply(sp_cmp_settings *s, const json_t *obj, char *path, size_t pathlen,
                                 char *msg, size_t msglen)
{
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj)) {
        snprintf(path, pathlen, "%s", "");
        snprintf(msg, msglen, "expected an object of settings, e.g. {\"alpha\": 0.01}");
        return SP_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        int rc = json_is_number(v)
                     ? sp_comparison_setting(s, key, json_number_value(v), msg, msglen)
                     : SP_EINVAL;
        if (rc) {
            if (!json_is_number(v))
                snprintf(msg, msglen, "%s must be a number", key);
            snprintf(path, pathlen, "%s", key);
            return rc;
        }
    }
    return 0;
}

json_t *sp_comparison_settings_json(const sp_cmp_settings *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < SP_ARRAY_LEN(settings); i++) {
        double v = *(const double *)((const char *)s + settings[i].off);
        json_object_set_new(o, settings[i].name,
                            settings[i].whole ? json_integer((json_int_t)v) : json_real(v));
    }
    return o;
}

/* ---- A run's data ---- */

enum { F_P50, F_P95, F_P99, NLAT };
static const char *const lat_names[NLAT] = {"p50", "p95", "p99"};
/* A second is a sample of a percentile only when it finished enough requests for that
 * percentile to be more than its slowest request: 1 / (1 - q). Below that the per-second
 * figure depends on how many requests the second had, which differs between load profiles. */
static const uint64_t lat_min_count[NLAT] = {2, 20, 100};
static const double lat_q[NLAT] = {0.5, 0.95, 0.99};

typedef struct pt {
    int64_t second;
    uint64_t count, errors;
    double ms[NLAT]; /* NAN: unknown (the total of a run stored before migration 0006) */
} pt;

/* One request name, or the total, in one run. */
typedef struct side {
    int present;       /* in the summary with requests */
    const json_t *sum; /* the summary's entry (borrowed) */
    int64_t name_id;   /* -1: the total */
    pt *pts;           /* the seconds with requests, ascending */
    size_t npts, cap;
    double *hv; /* the merged histogram: bucket values (ms) and counts; hist 0: not read yet */
    uint64_t *hw;
    size_t hn;
    int hist; /* 0 not read, 1 read, < 0 failed */
} side;

typedef struct rdata {
    const json_t *run, *summary;
    int64_t id;
    int64_t full;     /* whole seconds: [0, full) are complete */
    uint64_t *lag_us; /* the load generator's lag by second, [0, nlag) */
    int64_t nlag;
    double *lag_sorted; /* the per-second lags (ms), ascending, for their percentiles */
    side *names;        /* by name id */
    size_t nnames;
    side total;
} rdata;

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* The summary entry named name (borrowed), or NULL. */
static const json_t *summary_name(const json_t *summary, const char *name)
{
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(summary, "names"), i, n)
    {
        const char *nm = json_string_value(json_object_get(n, "name"));
        if (nm && strcmp(nm, name) == 0)
            return n;
    }
    return NULL;
}

static pt *add_pt(side *sd, int64_t second)
{
    sp_grow((void **)&sd->pts, &sd->cap, sd->npts + 1, sizeof *sd->pts);
    pt *p = &sd->pts[sd->npts++];
    memset(p, 0, sizeof *p);
    p->second = second;
    for (int f = 0; f < NLAT; f++)
        p->ms[f] = NAN;
    return p;
}

static void on_row(void *ctx, int64_t second, const sp_store_second *row)
{
    rdata *d = ctx;
    if (second < 0)
        return;
    if (row->name_id < d->nnames) {
        pt *p = add_pt(&d->names[row->name_id], second);
        p->count = row->count;
        p->errors = row->errors;
        p->ms[F_P50] = (double)row->p50_us / 1000.0;
        p->ms[F_P95] = (double)row->p95_us / 1000.0;
        p->ms[F_P99] = (double)row->p99_us / 1000.0;
    }
    /* Rows come by second, so the total's points are appended in order too. */
    side *t = &d->total;
    pt *p =
        t->npts && t->pts[t->npts - 1].second == second ? &t->pts[t->npts - 1] : add_pt(t, second);
    p->count += row->count;
    p->errors += row->errors;
}

struct tick_ctx {
    rdata *d;
    size_t at;
};

static void on_tick(void *ctx, int64_t second, const sp_store_tick *tick)
{
    struct tick_ctx *c = ctx;
    rdata *d = c->d;
    if (second < 0 || second > 7 * 86400)
        return;
    if (second >= d->nlag) {
        size_t cap = (size_t)d->nlag;
        sp_grow((void **)&d->lag_us, &cap, (size_t)second + 1, sizeof *d->lag_us);
        memset(d->lag_us + d->nlag, 0, ((size_t)second + 1 - (size_t)d->nlag) * sizeof *d->lag_us);
        d->nlag = second + 1;
    }
    d->lag_us[second] = tick->lag_us_max;
    side *t = &d->total;
    while (c->at < t->npts && t->pts[c->at].second < second)
        c->at++;
    if (tick->has_latency && c->at < t->npts && t->pts[c->at].second == second) {
        t->pts[c->at].ms[F_P50] = (double)tick->p50_us / 1000.0;
        t->pts[c->at].ms[F_P95] = (double)tick->p95_us / 1000.0;
        t->pts[c->at].ms[F_P99] = (double)tick->p99_us / 1000.0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of the run's per-second generator lag, in ms; 0 without any. */
static double lag_quantile(rdata *d, double q)
{
    if (d->nlag <= 0)
        return 0;
    if (!d->lag_sorted) {
        d->lag_sorted = sp_calloc((size_t)d->nlag, sizeof *d->lag_sorted);
        for (int64_t i = 0; i < d->nlag; i++)
            d->lag_sorted[i] = (double)d->lag_us[i] / 1000.0;
        qsort(d->lag_sorted, (size_t)d->nlag, sizeof *d->lag_sorted, cmp_double);
    }
    size_t k = (size_t)ceil(q * (double)d->nlag);
    return d->lag_sorted[k > 0 ? k - 1 : 0];
}

/* 1 when the load generator lagged more than max_us in this second: its latencies are partly
 * the generator's own, and so is a closed model's throughput. */
static int lagged(const rdata *d, int64_t second, double max_us)
{
    return second >= 0 && second < d->nlag && (double)d->lag_us[second] > max_us;
}

static void side_release(side *sd)
{
    free(sd->pts);
    free(sd->hv);
    free(sd->hw);
}

static void rdata_release(rdata *d)
{
    for (size_t i = 0; i < d->nnames; i++)
        side_release(&d->names[i]);
    free(d->names);
    side_release(&d->total);
    free(d->lag_us);
    free(d->lag_sorted);
    memset(d, 0, sizeof *d);
}

static int rdata_load(sp_store *s, const json_t *run, rdata *d)
{
    memset(d, 0, sizeof *d);
    d->run = run;
    d->summary = json_object_get(run, "summary");
    d->id = json_integer_value(json_object_get(run, "id"));
    double dur = num(d->summary, "duration_s");
    d->full = dur > 0 ? (int64_t)floor(dur + 1e-9) : 0;
    const json_t *names = json_object_get(run, "names");
    d->nnames = json_array_size(names);
    d->names = sp_calloc(d->nnames ? d->nnames : 1, sizeof *d->names);
    for (size_t i = 0; i < d->nnames; i++) {
        side *sd = &d->names[i];
        sd->name_id = (int64_t)i;
        const char *nm = json_string_value(json_array_get(names, i));
        sd->sum = nm ? summary_name(d->summary, nm) : NULL;
        sd->present = sd->sum && num(sd->sum, "requests") > 0;
    }
    d->total.name_id = -1;
    d->total.sum = json_object_get(d->summary, "total");
    d->total.present = json_is_object(d->total.sum);
    int rc = sp_store_run_seconds_each(s, d->id, on_row, d);
    if (rc == 0) {
        struct tick_ctx tc = {d, 0};
        rc = sp_store_run_ticks_each(s, d->id, on_tick, &tc);
    }
    return rc;
}

/* The merged histogram of a side, read on first use: 0, or the store's error. */
static int side_hist(sp_store *s, int64_t run_id, side *sd)
{
    if (sd->hist)
        return sd->hist < 0 ? sd->hist : 0;
    size_t nb = sp_hist_buckets();
    uint64_t *b = sp_calloc(nb, sizeof *b);
    uint64_t total = 0;
    int rc = sp_store_window_hist(s, run_id, sd->name_id, 0, INT64_MAX, b, nb, &total);
    if (rc == 0) {
        size_t used = 0;
        for (size_t k = 0; k < nb; k++)
            used += b[k] != 0;
        sd->hv = sp_calloc(used ? used : 1, sizeof *sd->hv);
        sd->hw = sp_calloc(used ? used : 1, sizeof *sd->hw);
        for (size_t k = 0; k < nb; k++) {
            if (!b[k])
                continue;
            /* A bucket stands for its midpoint, as the histogram's percentiles do. */
            double lo = (double)sp_hist_bucket_low(k), hi = (double)sp_hist_bucket_high(k);
            sd->hv[sd->hn] = (lo + hi) / 2 / 1000.0;
            sd->hw[sd->hn++] = b[k];
        }
    }
    free(b);
    sd->hist = rc ? rc : 1;
    return rc;
}

/* ---- Load profiles ---- */

typedef struct stage {
    double ms, target;
} stage;

/* The stages of a profile object cut at total_ms as the definition loader cuts them: a stage
 * cut in its middle ends at the level its ramp had reached. Returns how many (at most cap). */
static size_t cut_stages(const json_t *prof, double total_ms, stage *out, size_t cap)
{
    size_t n = 0, i;
    double at = 0, prev = 0;
    const json_t *st;
    json_array_foreach(json_object_get(prof, "stages"), i, st)
    {
        if (n == cap || at >= total_ms)
            break;
        double ms = num(st, "duration_ms"), t = num(st, "target");
        if (at + ms <= total_ms) {
            out[n++] = (stage){ms, t};
        } else {
            double part = total_ms - at;
            out[n++] = (stage){part, prev + (t - prev) * part / (ms > 0 ? ms : 1)};
        }
        at += ms;
        prev = t;
    }
    return n;
}

static double profile_ms(const json_t *prof)
{
    double total = 0;
    size_t i;
    const json_t *st;
    json_array_foreach(json_object_get(prof, "stages"), i, st) total += num(st, "duration_ms");
    return total;
}

/* The overrides of a run without its base_url (which does not change the load). New. */
static json_t *load_overrides(const json_t *run)
{
    const json_t *ov = json_object_get(run, "overrides");
    json_t *c = json_is_object(ov) ? json_copy((json_t *)ov) : json_object();
    json_object_del(c, "base_url");
    return c;
}

/* 1 when b and r ran the same load profile, one perhaps a shorter cut of the other. */
static int same_profile(const rdata *b, const rdata *r)
{
    const json_t *pb = json_object_get(b->summary, "profile"),
                 *pr = json_object_get(r->summary, "profile");
    if (!json_is_object(pb) || !json_is_object(pr)) {
        /* A run stored before profiles were: the same revision with the same load overrides. */
        if (json_integer_value(json_object_get(b->run, "test_id")) !=
                json_integer_value(json_object_get(r->run, "test_id")) ||
            json_integer_value(json_object_get(b->run, "revision")) !=
                json_integer_value(json_object_get(r->run, "revision")))
            return 0;
        json_t *ob = load_overrides(b->run), *orr = load_overrides(r->run);
        int same = json_equal(ob, orr);
        json_decref(ob);
        json_decref(orr);
        return same;
    }
    if (!json_equal(json_object_get(pb, "model"), json_object_get(pr, "model")) ||
        num(pb, "max_vus") != num(pr, "max_vus"))
        return 0;
    double T = fmin(profile_ms(pb), profile_ms(pr));
    stage sb[SP_DEF_MAX_STAGES + 1], sr[SP_DEF_MAX_STAGES + 1];
    size_t nb = cut_stages(pb, T, sb, SP_ARRAY_LEN(sb)),
           nr = cut_stages(pr, T, sr, SP_ARRAY_LEN(sr));
    if (nb != nr)
        return 0;
    for (size_t i = 0; i < nb; i++)
        if (fabs(sb[i].ms - sr[i].ms) > 0.5 || fabs(sb[i].target - sr[i].target) > 1e-6)
            return 0;
    return 1;
}

/* ---- Cells ---- */

/* A number, or null for what is not one (json_real refuses NAN and infinities). */
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

typedef struct cell {
    double value, base; /* the figure of the run and of the baseline (their summaries) */
    int judged;         /* 0: count, or not compared */
    int not_compared;   /* throughput between different profiles */
    sp_cmp_verdict verdict;
    const char *basis;     /* "seconds", "requests", NULL */
    char reason[160];      /* why "not enough data" or "not compared" */
    double change, lo, hi; /* the estimate and its interval, in the figure's unit */
    double p;
    double n_base, n_run; /* samples on each side */
} cell;

static void cell_init(cell *c, double base, double value)
{
    memset(c, 0, sizeof *c);
    c->base = base;
    c->value = value;
    c->change = c->lo = c->hi = c->p = NAN;
}

static json_t *cell_json(const cell *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "value", jnum(c->value));
    int known = c->base != 0 || c->value == 0; /* from 0 to something: no percentage */
    double pct = c->base != 0 ? (c->value - c->base) / fabs(c->base) * 100.0 : 0;
    json_object_set_new(o, "change_pct", known ? jnum(pct) : json_null());
    const char *flag =
        c->judged && (c->verdict == SP_CMP_REGRESSION || c->verdict == SP_CMP_IMPROVEMENT)
            ? sp_cmp_verdict_name(c->verdict)
            : NULL;
    json_object_set_new(o, "flag", flag ? json_string(flag) : json_null());
    if (!c->judged && !c->not_compared)
        return o; /* count: a figure, not a verdict */
    json_object_set_new(
        o, "verdict",
        json_string(c->not_compared ? "not compared" : sp_cmp_verdict_name(c->verdict)));
    json_object_set_new(o, "change", jnum(c->change));
    json_object_set_new(o, "ci",
                        isfinite(c->lo) && isfinite(c->hi) ? json_pack("[f, f]", c->lo, c->hi)
                                                           : json_null());
    json_object_set_new(o, "p_value", jnum(c->p));
    json_object_set_new(o, "basis", c->basis ? json_string(c->basis) : json_null());
    json_object_set_new(o, "samples",
                        c->basis ? json_pack("[I, I]", (json_int_t)c->n_base, (json_int_t)c->n_run)
                                 : json_null());
    if (c->reason[0])
        json_object_set_new(o, "reason", json_string(c->reason));
    return o;
}

/* The rank test and the shift of two samples into c, judged by rule. */
static void test_samples(cell *c, const sp_cmp_sample *x, const sp_cmp_sample *y,
                         const sp_cmp_rule *rule, int higher_is_worse)
{
    c->n_base = sp_cmp_weight(x);
    c->n_run = sp_cmp_weight(y);
    c->judged = 1;
    /* Samples too small for any arrangement of them to be significant at alpha tell nothing:
     * "not enough data", not "no significant change". */
    if (!(sp_cmp_min_p(c->n_base, c->n_run) < rule->alpha)) {
        c->verdict = SP_CMP_NOT_ENOUGH;
        snprintf(c->reason, sizeof c->reason, "%g against %g %s can never be significant at %g",
                 c->n_base, c->n_run, c->basis ? c->basis : "values", rule->alpha);
        return;
    }
    sp_cmp_mwu_result u;
    sp_cmp_shift sh;
    sp_cmp_mwu(x, y, &u);
    sp_cmp_hl(x, y, rule->alpha, &sh);
    c->p = u.p;
    c->change = sh.shift;
    c->lo = sh.lo;
    c->hi = sh.hi;
    c->verdict = sp_cmp_judge(rule, c->p, c->change, c->base, higher_is_worse);
}

/* Per-second values of latency figure f of a side of run d, from seconds [0, limit) (limit < 0:
 * every second) that finished enough requests for it and whose generator lagged at most
 * max_us, sorted, into a new array. *any gets how many seconds had the requests, lag or not. */
static double *lat_seconds(const rdata *d, const side *sd, int f, int64_t limit, double max_us,
                           size_t *n, size_t *any)
{
    double *v = sp_calloc(sd->npts ? sd->npts : 1, sizeof *v);
    *n = *any = 0;
    for (size_t i = 0; i < sd->npts; i++) {
        const pt *p = &sd->pts[i];
        if ((limit >= 0 && p->second >= limit) || p->count < lat_min_count[f] ||
            !isfinite(p->ms[f]))
            continue;
        (*any)++;
        if (!lagged(d, p->second, max_us))
            v[(*n)++] = p->ms[f];
    }
    qsort(v, *n, sizeof *v, cmp_double);
    return v;
}

typedef struct pair {
    sp_store *s;
    rdata *b, *r;
    const sp_cmp_settings *set;
    int same_profile;
    int64_t limit; /* the seconds both runs had of one profile; -1: every second of each */
} pair;

static void latency_cell(pair *pr, side *b, side *r, int f, cell *c)
{
    const json_t *lb = json_object_get(b->sum, "latency_ms"),
                 *lr = json_object_get(r->sum, "latency_ms");
    cell_init(c, num(lb, lat_names[f]), num(lr, lat_names[f]));
    const sp_cmp_settings *set = pr->set;
    /* Tails move more from run to run than medians (fewer requests make them, and a busy host
     * delays a few answers long before it delays most): they have a floor of their own. */
    double rel = (f == F_P50 ? set->min_change_pct : set->min_change_tail_pct) / 100;
    sp_cmp_rule rule = {set->alpha, rel, set->min_change_ms};
    double max_us = set->max_lag_ms * 1000;
    size_t nb, nr, anyb, anyr;
    double *vb = lat_seconds(pr->b, b, f, pr->limit, max_us, &nb, &anyb),
           *vr = lat_seconds(pr->r, r, f, pr->limit, max_us, &nr, &anyr);
    /* Requests stand in for seconds only where a run has too few seconds of its own (a short
     * run, a rare name), never where the generator's lag took them away: the merged
     * histograms hold the lagged requests too. */
    int short_of_seconds = (double)anyb < set->min_seconds || (double)anyr < set->min_seconds;
    if ((double)nb >= set->min_seconds && (double)nr >= set->min_seconds) {
        sp_cmp_sample x = {vb, NULL, nb}, y = {vr, NULL, nr};
        c->basis = "seconds";
        test_samples(c, &x, &y, &rule, 1);
    } else if (short_of_seconds && side_hist(pr->s, pr->b->id, b) == 0 &&
               side_hist(pr->s, pr->r->id, r) == 0 && b->hn && r->hn) {
        sp_cmp_sample x = {b->hv, b->hw, b->hn}, y = {r->hv, r->hw, r->hn};
        if (sp_cmp_weight(&x) >= set->min_requests && sp_cmp_weight(&y) >= set->min_requests) {
            /* The histograms hold every request, those the generator noticed late too: a shift
             * of the whole distribution must be larger than its typical (median) lag per
             * second in either run, and the figure's own move larger than the same percentile
             * of those lags (a p99 can be made by the worst lag alone). */
            sp_cmp_rule fig = rule;
            double typical = fmax(lag_quantile(pr->b, 0.5), lag_quantile(pr->r, 0.5));
            double at_q = fmax(lag_quantile(pr->b, lat_q[f]), lag_quantile(pr->r, lat_q[f]));
            rule.abs_floor = fmax(rule.abs_floor, typical);
            fig.abs_floor = fmax(fig.abs_floor, at_q);
            c->basis = "requests";
            test_samples(c, &x, &y, &rule, 1);
            /* On requests the test and the shift are of the whole distribution, the same for
             * p50, p95 and p99: a figure is flagged only when it moved that way too, beyond
             * the floors (a p99 made by a few slow requests may not follow its median). */
            if ((c->verdict == SP_CMP_REGRESSION || c->verdict == SP_CMP_IMPROVEMENT) &&
                sp_cmp_judge(&fig, c->p, c->value - c->base, c->base, 1) != c->verdict) {
                c->verdict = SP_CMP_NO_CHANGE;
                snprintf(c->reason, sizeof c->reason,
                         "the requests' latency moved, but this figure did not move with it "
                         "beyond the floors");
            }
        }
    }
    if (!c->basis) {
        c->judged = 1;
        c->verdict = SP_CMP_NOT_ENOUGH;
        if (short_of_seconds)
            snprintf(c->reason, sizeof c->reason,
                     "needs %g seconds with %llu or more requests, or %g requests, in each run",
                     set->min_seconds, (unsigned long long)lat_min_count[f], set->min_requests);
        else
            snprintf(c->reason, sizeof c->reason,
                     "the load generator lagged over %g ms in too many seconds (%zu of %zu left "
                     "in the baseline, %zu of %zu in this run; %g needed)",
                     set->max_lag_ms, nb, anyb, nr, anyr, set->min_seconds);
    }
    free(vb);
    free(vr);
}

/* Requests per second of a side of run d over seconds [0, limit) in which the generator lagged
 * at most max_us, zeros included, sorted; *n gets how many. */
static double *rps_seconds(const rdata *d, const side *sd, int64_t limit, double max_us, size_t *n)
{
    double *v = sp_calloc(limit > 0 ? (size_t)limit : 1, sizeof *v);
    for (size_t i = 0; i < sd->npts; i++)
        if (sd->pts[i].second < limit)
            v[sd->pts[i].second] = (double)sd->pts[i].count;
    *n = 0;
    for (int64_t k = 0; k < limit; k++)
        if (!lagged(d, k, max_us))
            v[(*n)++] = v[k];
    qsort(v, *n, sizeof *v, cmp_double);
    return v;
}

static void rps_cell(pair *pr, side *b, side *r, cell *c)
{
    cell_init(c, num(b->sum, "rps"), num(r->sum, "rps"));
    const sp_cmp_settings *set = pr->set;
    if (!pr->same_profile) {
        c->not_compared = 1;
        snprintf(c->reason, sizeof c->reason,
                 "the runs had different load profiles: their throughput is not comparable");
        return;
    }
    int64_t common = pr->b->full < pr->r->full ? pr->b->full : pr->r->full;
    double max_us = set->max_lag_ms * 1000;
    size_t nb = 0, nr = 0;
    double *vb = rps_seconds(pr->b, b, common, max_us, &nb),
           *vr = rps_seconds(pr->r, r, common, max_us, &nr);
    c->judged = 1;
    if ((double)nb < set->min_seconds || (double)nr < set->min_seconds) {
        c->verdict = SP_CMP_NOT_ENOUGH;
        if ((double)common < set->min_seconds)
            snprintf(c->reason, sizeof c->reason, "needs %g whole seconds in each run (has %lld)",
                     set->min_seconds, (long long)common);
        else
            snprintf(c->reason, sizeof c->reason,
                     "the load generator lagged over %g ms in too many seconds (%zu and %zu of "
                     "%lld left; %g needed)",
                     set->max_lag_ms, nb, nr, (long long)common, set->min_seconds);
    } else {
        sp_cmp_sample x = {vb, NULL, nb}, y = {vr, NULL, nr};
        sp_cmp_rule rule = {set->alpha, set->min_change_pct / 100, set->min_change_rps};
        c->basis = "seconds";
        test_samples(c, &x, &y, &rule, 0);
    }
    free(vb);
    free(vr);
}

static void error_cell(pair *pr, side *b, side *r, cell *c)
{
    cell_init(c, 100.0 * num(b->sum, "error_rate"), 100.0 * num(r->sum, "error_rate"));
    const sp_cmp_settings *set = pr->set;
    double nb = num(b->sum, "requests"), nr = num(r->sum, "requests");
    c->judged = 1;
    if (nb < set->min_requests || nr < set->min_requests) {
        c->verdict = SP_CMP_NOT_ENOUGH;
        snprintf(c->reason, sizeof c->reason, "needs %g requests in each run", set->min_requests);
        return;
    }
    sp_cmp_props_result pp;
    sp_cmp_props((uint64_t)num(b->sum, "failures"), (uint64_t)nb, (uint64_t)num(r->sum, "failures"),
                 (uint64_t)nr, set->alpha, &pp);
    if (!pp.ok) {
        c->verdict = SP_CMP_NOT_ENOUGH;
        snprintf(c->reason, sizeof c->reason, "the runs' counts of failures are not usable");
        return;
    }
    sp_cmp_rule rule = {set->alpha, set->min_change_pct / 100, set->min_change_error_pct};
    c->basis = "requests";
    c->p = pp.p;
    c->change = 100 * pp.diff;
    c->lo = 100 * pp.lo;
    c->hi = 100 * pp.hi;
    c->n_base = nb;
    c->n_run = nr;
    c->verdict = sp_cmp_judge(&rule, c->p, c->change, c->base, 1);
}

/* Tallies of a later run's verdicts. */
typedef struct tally {
    int regressions, improvements, not_enough;
} tally;

static void count_cell(tally *t, const cell *c)
{
    if (!c->judged)
        return;
    t->regressions += c->verdict == SP_CMP_REGRESSION;
    t->improvements += c->verdict == SP_CMP_IMPROVEMENT;
    t->not_enough += c->verdict == SP_CMP_NOT_ENOUGH;
}

/* A side's plain figures: the baseline's entry, or a new name's. */
static json_t *plain_entry(int64_t run_id, const side *sd)
{
    const json_t *l = json_object_get(sd->sum, "latency_ms");
    return json_pack("{s:I, s:b, s:f, s:f, s:f, s:f, s:f, s:f}", "run_id", (json_int_t)run_id,
                     "present", 1, "count", num(sd->sum, "requests"), "rps", num(sd->sum, "rps"),
                     "error_pct", 100.0 * num(sd->sum, "error_rate"), "p50", num(l, "p50"), "p95",
                     num(l, "p95"), "p99", num(l, "p99"));
}

/* The entry of a later run r for one side against the baseline's. */
static json_t *compare_entry(pair *pr, side *b, side *r, tally *t)
{
    int64_t run_id = pr->r->id;
    if (!r || !r->present)
        return json_pack("{s:I, s:n, s:s}", "run_id", (json_int_t)run_id, "present", "mark",
                         "gone");
    if (!b || !b->present) {
        json_t *e = plain_entry(run_id, r);
        json_object_set_new(e, "mark", json_string("new"));
        return e;
    }
    json_t *e = json_pack("{s:I, s:b}", "run_id", (json_int_t)run_id, "present", 1);
    cell c;
    cell_init(&c, num(b->sum, "requests"), num(r->sum, "requests"));
    json_object_set_new(e, "count", cell_json(&c));
    rps_cell(pr, b, r, &c);
    count_cell(t, &c);
    json_object_set_new(e, "rps", cell_json(&c));
    error_cell(pr, b, r, &c);
    count_cell(t, &c);
    json_object_set_new(e, "error_pct", cell_json(&c));
    for (int f = 0; f < NLAT; f++) {
        latency_cell(pr, b, r, f, &c);
        count_cell(t, &c);
        json_object_set_new(e, lat_names[f], cell_json(&c));
    }
    return e;
}

/* The side of run d for a request name, or NULL. */
static side *side_of(rdata *d, const char *name)
{
    const json_t *names = json_object_get(d->run, "names");
    for (size_t i = 0; i < d->nnames; i++) {
        const char *nm = json_string_value(json_array_get(names, i));
        if (nm && strcmp(nm, name) == 0)
            return &d->names[i];
    }
    return NULL;
}

/* ---- Notes ---- */

static void note(json_t *notes, const char *kind, int64_t run_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds run_id to the note of this kind, creating it with the message when new. */
static void note(json_t *notes, const char *kind, int64_t run_id, const char *fmt, ...)
{
    size_t i;
    json_t *n;
    json_array_foreach(notes, i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "kind")), kind) == 0) {
            json_array_append_new(json_object_get(n, "runs"), json_integer(run_id));
            return;
        }
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(notes, json_pack("{s:s, s:s, s:[I]}", "kind", kind, "message", msg,
                                           "runs", (json_int_t)run_id));
}

/* ---- The comparison ---- */

static json_t *run_meta(const rdata *d, int same, const tally *t)
{
    const json_t *r = d->run;
    json_t *m = json_pack("{s:I, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:b}", "id", (json_int_t)d->id,
                          "test_id", json_object_get(r, "test_id"), "test_name",
                          json_object_get(r, "test_name"), "revision",
                          json_object_get(r, "revision"), "status", json_object_get(r, "status"),
                          "started_at", json_object_get(r, "started_at"), "duration_s",
                          json_object_get(d->summary, "duration_s"), "same_profile", same);
    if (t) {
        json_object_set_new(m, "regressions", json_integer(t->regressions));
        json_object_set_new(m, "improvements", json_integer(t->improvements));
        json_object_set_new(m, "not_enough_data", json_integer(t->not_enough));
    }
    return m;
}

/* Whether the array of objects already has one whose string `key` is val. */
static int listed(const json_t *arr, const char *key, const char *val)
{
    size_t j;
    const json_t *e;
    json_array_foreach(arr, j, e)
    {
        const char *v = json_string_value(json_object_get(e, key));
        if (v && strcmp(v, val) == 0)
            return 1;
    }
    return 0;
}

/* Per location, when every run went across locations (docs/distributed.md): each run's
 * figures from its summary with the change against the baseline's. Only the summaries keep
 * per-location figures (no seconds, no histograms), so these rows are shown, never judged.
 * NULL when a run has none. */
static json_t *locations_json(const rdata *d, size_t n)
{
    for (size_t r = 0; r < n; r++)
        if (!json_object_size(json_object_get(d[r].summary, "locations")))
            return NULL;
    json_t *out = json_array();
    for (size_t r = 0; r < n; r++) {
        const char *loc;
        json_t *v;
        json_object_foreach(json_object_get(d[r].summary, "locations"), loc, v)
        {
            if (listed(out, "location", loc))
                continue;
            const json_t *base = json_object_get(json_object_get(d[0].summary, "locations"), loc);
            json_t *entries = json_array();
            for (size_t k = 0; k < n; k++) {
                const json_t *f = json_object_get(json_object_get(d[k].summary, "locations"), loc);
                if (!f) {
                    json_array_append_new(
                        entries, json_pack("{s:I, s:n}", "run_id", (json_int_t)d[k].id, "present"));
                    continue;
                }
                double req = num(f, "requests"), fail = num(f, "failures");
                json_t *en =
                    json_pack("{s:I, s:b, s:f, s:f, s:o, s:f, s:f, s:f}", "run_id",
                              (json_int_t)d[k].id, "present", 1, "requests", req, "failures", fail,
                              "error_pct", req > 0 ? jnum(100.0 * fail / req) : json_null(), "p50",
                              num(f, "p50_ms"), "p95", num(f, "p95_ms"), "p99", num(f, "p99_ms"));
                /* {figure in the entry, in the summary, its change} */
                static const char *const figs[][3] = {{"p50", "p50_ms", "p50_change_pct"},
                                                      {"p95", "p95_ms", "p95_change_pct"},
                                                      {"p99", "p99_ms", "p99_change_pct"}};
                for (size_t i = 0; k > 0 && base && i < SP_ARRAY_LEN(figs); i++) {
                    double b = num(base, figs[i][1]);
                    json_object_set_new(en, figs[i][2],
                                        b > 0 ? jnum(100.0 * (num(f, figs[i][1]) - b) / b)
                                              : json_null());
                }
                json_array_append_new(entries, en);
            }
            json_array_append_new(out, json_pack("{s:s, s:o}", "location", loc, "runs", entries));
        }
    }
    return out;
}

int sp_comparison_build(sp_store *s, json_t *const *runs, size_t n, const sp_cmp_settings *set,
                        json_t **out)
{
    *out = NULL;
    if (n < 2)
        return SP_EINVAL;
    rdata *d = sp_calloc(n, sizeof *d);
    tally *t = sp_calloc(n, sizeof *t);
    int *same = sp_calloc(n, sizeof *same);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = rdata_load(s, runs[i], &d[i]);
    if (rc)
        goto out;

    json_t *notes = json_array();
    int diff_test = 0, diff_rev = 0, diff_prof = 0, diff_dur = 0;
    same[0] = 1;
    for (size_t i = 1; i < n; i++) {
        const json_t *b = d[0].run, *r = d[i].run;
        same[i] = same_profile(&d[0], &d[i]);
        json_int_t tb = json_integer_value(json_object_get(b, "test_id")),
                   tr = json_integer_value(json_object_get(r, "test_id"));
        json_int_t vb = json_integer_value(json_object_get(b, "revision")),
                   vr = json_integer_value(json_object_get(r, "revision"));
        double db = num(d[0].summary, "duration_s"), dr = num(d[i].summary, "duration_s");
        if (tb != tr) {
            diff_test = 1;
            note(notes, "test", d[i].id,
                 "These runs are of different tests: the baseline ran \"%.80s\".",
                 json_string_value(json_object_get(b, "test_name")) ?: "?");
        } else if (vb != vr) {
            diff_rev = 1;
            note(notes, "revision", d[i].id,
                 "These runs are of different revisions of the test: the baseline ran revision "
                 "%lld.",
                 (long long)vb);
        }
        if (!same[i]) {
            diff_prof = 1;
            note(notes, "profile", d[i].id,
                 "These runs had different load profiles: their throughput is not compared.");
        }
        if (llround(db) != llround(dr)) {
            diff_dur = 1;
            note(notes, "duration", d[i].id,
                 "These runs lasted differently: the baseline %.0f s; figures over seconds use "
                 "the seconds both have.",
                 db);
        }
    }

    /* Names in order of first appearance, the baseline's first. */
    json_t *names = json_array();
    for (size_t i = 0; i < n; i++) {
        const json_t *rn = json_object_get(d[i].run, "names");
        for (size_t k = 0; k < d[i].nnames; k++) {
            const char *name = json_string_value(json_array_get(rn, k));
            if (!name || !d[i].names[k].present)
                continue;
            if (listed(names, "name", name))
                continue;
            side *b = side_of(&d[0], name);
            json_t *entries = json_array();
            for (size_t r = 0; r < n; r++) {
                side *sr = side_of(&d[r], name);
                if (r == 0) {
                    json_array_append_new(entries, b && b->present
                                                       ? plain_entry(d[0].id, b)
                                                       : json_pack("{s:I, s:n}", "run_id",
                                                                   (json_int_t)d[0].id, "present"));
                    continue;
                }
                pair pr = {s,       &d[0],
                           &d[r],   set,
                           same[r], same[r] ? (d[0].full < d[r].full ? d[0].full : d[r].full) : -1};
                json_array_append_new(entries, compare_entry(&pr, b, sr, &t[r]));
            }
            json_array_append_new(names, json_pack("{s:s, s:o}", "name", name, "runs", entries));
        }
    }
    json_t *total = json_array();
    for (size_t r = 0; r < n; r++) {
        if (r == 0) {
            json_array_append_new(total, plain_entry(d[0].id, &d[0].total));
            continue;
        }
        pair pr = {s,   &d[0],   &d[r],
                   set, same[r], same[r] ? (d[0].full < d[r].full ? d[0].full : d[r].full) : -1};
        json_array_append_new(total, compare_entry(&pr, &d[0].total, &d[r].total, &t[r]));
    }
    /* A histogram that could not be read is the store's failure, not a lack of data. */
    for (size_t r = 0; r < n && !rc; r++) {
        rc = d[r].total.hist < 0 ? d[r].total.hist : 0;
        for (size_t k = 0; k < d[r].nnames && !rc; k++)
            rc = d[r].names[k].hist < 0 ? d[r].names[k].hist : 0;
    }
    json_t *meta = json_array();
    for (size_t r = 0; r < n; r++)
        json_array_append_new(meta, run_meta(&d[r], same[r], r ? &t[r] : NULL));
    json_t *o = json_pack("{s:I, s:f, s:o, s:{s:b, s:b, s:b, s:b}, s:o, s:o, s:o, s:o}", "baseline",
                          (json_int_t)d[0].id, "tolerance_pct", set->min_change_pct, "settings",
                          sp_comparison_settings_json(set), "differs", "test", diff_test,
                          "revision", diff_rev, "profile", diff_prof, "duration", diff_dur, "notes",
                          notes, "runs", meta, "total", total, "names", names);
    json_t *locs = locations_json(d, n);
    if (locs)
        json_object_set_new(o, "locations", locs); /* steals locs */
    if (rc)
        json_decref(o);
    else
        *out = o;
out:
    for (size_t i = 0; i < n; i++)
        rdata_release(&d[i]);
    free(d);
    free(t);
    free(same);
    return rc;
}

/* ---- Reading a comparison ---- */

static const char *const all_figures[] = {"rps", "error_pct", "p50", "p95", "p99"};

static const char *unit_of(const char *figure)
{
    return strcmp(figure, "rps") == 0         ? "requests/s"
           : strcmp(figure, "error_pct") == 0 ? "points"
                                              : "ms";
}

static void add_regressions(json_t *list, const char *name, const json_t *base, const json_t *entry)
{
    for (size_t f = 0; f < SP_ARRAY_LEN(all_figures); f++) {
        const json_t *c = json_object_get(entry, all_figures[f]);
        const char *v = json_string_value(json_object_get(c, "verdict"));
        if (!v || strcmp(v, "regression") != 0)
            continue;
        json_array_append_new(
            list,
            json_pack("{s:s?, s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:s}", "name", name,
                      "figure", all_figures[f], "baseline", json_object_get(base, all_figures[f]),
                      "value", json_object_get(c, "value"), "change", json_object_get(c, "change"),
                      "ci", json_object_get(c, "ci"), "p_value", json_object_get(c, "p_value"),
                      "basis", json_object_get(c, "basis"), "unit", unit_of(all_figures[f])));
    }
}

json_t *sp_comparison_regressions(const json_t *cmp, size_t index)
{
    json_t *list = json_array();
    const json_t *total = json_object_get(cmp, "total");
    add_regressions(list, NULL, json_array_get(total, 0), json_array_get(total, index));
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(cmp, "names"), i, n)
    {
        const json_t *runs = json_object_get(n, "runs");
        add_regressions(list, json_string_value(json_object_get(n, "name")),
                        json_array_get(runs, 0), json_array_get(runs, index));
    }
    return list;
}

json_t *sp_comparison_brief(const json_t *cmp, size_t index)
{
    const json_t *m = json_array_get(json_object_get(cmp, "runs"), index);
    json_int_t reg = json_integer_value(json_object_get(m, "regressions")),
               imp = json_integer_value(json_object_get(m, "improvements"));
    /* Judged cells: every later entry's verdicts that are not "not enough data". */
    int judged = 0;
    const json_t *total = json_array_get(json_object_get(cmp, "total"), index);
    for (size_t f = 0; f < SP_ARRAY_LEN(all_figures); f++) {
        const char *v =
            json_string_value(json_object_get(json_object_get(total, all_figures[f]), "verdict"));
        judged |= v && strcmp(v, "not enough data") != 0 && strcmp(v, "not compared") != 0;
    }
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(cmp, "names"), i, n)
    {
        const json_t *e = json_array_get(json_object_get(n, "runs"), index);
        for (size_t f = 0; f < SP_ARRAY_LEN(all_figures); f++) {
            const char *v =
                json_string_value(json_object_get(json_object_get(e, all_figures[f]), "verdict"));
            judged |= v && strcmp(v, "not enough data") != 0 && strcmp(v, "not compared") != 0;
        }
    }
    const char *verdict = reg      ? "regression"
                          : imp    ? "improvement"
                          : judged ? "no significant change"
                                   : "not enough data";
    return json_pack("{s:O?, s:s, s:I, s:I}", "baseline", json_object_get(cmp, "baseline"),
                     "verdict", verdict, "regressions", reg, "improvements", imp);
}
