/*
 * threshold.c - see threshold.h.
 *
 * Parsing splits a request name from the criterion at the last colon: a criterion (metric,
 * operator, number, unit) never holds one, while names may ("GET http://host:8080/x").
 */
#include "engine/threshold.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/histogram.h"

static const char *const metric_names[] = {"p50", "p90",     "p95",          "p99",
                                           "max", "avg",     "min",          "error_rate",
                                           "rps", "dropped", "achieved_rate"};
static const char *const op_names[] = {"<", "<=", ">", ">="};

const char *sp_th_metric_name(sp_th_metric m)
{
    return (size_t)m < SP_ARRAY_LEN(metric_names) ? metric_names[m] : "?";
}

const char *sp_th_op_name(sp_th_op op)
{
    return (size_t)op < SP_ARRAY_LEN(op_names) ? op_names[op] : "?";
}

static int is_latency(sp_th_metric m)
{
    return m <= SP_TH_MIN;
}

/* A share: error_rate, dropped (written in % or as a fraction from 0 to 1). */
static int is_share(sp_th_metric m)
{
    return m == SP_TH_ERROR_RATE || m == SP_TH_DROPPED;
}

int sp_th_metric_open_only(sp_th_metric m)
{
    return m == SP_TH_DROPPED || m == SP_TH_ACHIEVED_RATE;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && is_space(*p))
        p++;
    return p;
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Resolves the request name [p, end) (already trimmed) to an id. */
static int find_name(const char *p, size_t n, const char *const *names, size_t nnames, int *id,
                     char *err, size_t errlen)
{
    if (n == 0) {
        set_err(err, errlen, "empty request name before ':'");
        return SP_EINVAL;
    }
    for (size_t i = 0; i < nnames; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0) {
            *id = (int)i;
            return 0;
        }
    }
    char *name = sp_strndup(p, n);
    const char *best = sp_suggest(name, names, nnames);
    if (best)
        set_err(err, errlen, "unknown request name '%s' (did you mean '%s'?)", name, best);
    else
        set_err(err, errlen, "unknown request name '%s'", name);
    free(name);
    return SP_EINVAL;
}

/* METRIC at *pp: sets t->metric and moves *pp past it. */
static int parse_metric(const char **pp, const char *end, sp_threshold *t, char *err, size_t errlen)
{
    const char *p = *pp;
    const char *m = p;
    while (p < end && is_word_char(*p))
        p++;
    size_t mlen = (size_t)(p - m);
    if (mlen == 0) {
        set_err(err, errlen,
                "expected a metric (p50, p90, p95, p99, max, avg, min, error_rate, rps, "
                "dropped or achieved_rate) at '%.20s'",
                m);
        return SP_EINVAL;
    }
    size_t mi = 0;
    for (; mi < SP_ARRAY_LEN(metric_names); mi++)
        if (strlen(metric_names[mi]) == mlen && memcmp(metric_names[mi], m, mlen) == 0)
            break;
    if (mi == SP_ARRAY_LEN(metric_names)) {
        char word[64];
        snprintf(word, sizeof word, "%.*s", (int)(mlen < 63 ? mlen : 63), m);
        const char *best = sp_suggest(word, metric_names, SP_ARRAY_LEN(metric_names));
        if (best)
            set_err(err, errlen, "unknown metric '%s' (did you mean '%s'?)", word, best);
        else
            set_err(err, errlen,
                    "unknown metric '%s' (known: p50, p90, p95, p99, max, avg, min, "
                    "error_rate, rps, dropped, achieved_rate)",
                    word);
        return SP_EINVAL;
    }
    t->metric = (sp_th_metric)mi;
    *pp = p;
    return 0;
}

/* OP after spaces at *pp: sets t->op and moves *pp past it. */
static int parse_op(const char **pp, const char *end, sp_threshold *t, char *err, size_t errlen)
{
    const char *p = skip_ws(*pp, end);
    const char *o = p;
    while (p < end && strchr("<>=!", *p))
        p++;
    size_t olen = (size_t)(p - o);
    if (olen == 1 && *o == '<')
        t->op = SP_TH_LT;
    else if (olen == 1 && *o == '>')
        t->op = SP_TH_GT;
    else if (olen == 2 && o[0] == '<' && o[1] == '=')
        t->op = SP_TH_LE;
    else if (olen == 2 && o[0] == '>' && o[1] == '=')
        t->op = SP_TH_GE;
    else if (olen == 0) {
        set_err(err, errlen, "expected an operator (<, <=, >, >=) after '%s'",
                metric_names[t->metric]);
        return SP_EINVAL;
    } else {
        set_err(err, errlen, "unknown operator '%.*s' (use <, <=, > or >=)", (int)olen, o);
        return SP_EINVAL;
    }
    *pp = p;
    return 0;
}

/* Sets t->value from value (written as num) and its unit u[0..ulen), in the metric's unit:
 * latency in ms, error_rate as a fraction, rps as is. */
static int set_value(sp_threshold *t, double value, const char *num, const char *u, size_t ulen,
                     char *err, size_t errlen)
{
#define UNIT_IS(s) (ulen == strlen(s) && memcmp(u, s, ulen) == 0)
    if (is_latency(t->metric)) {
        if (ulen == 0 || UNIT_IS("ms"))
            t->value = value;
        else if (UNIT_IS("us"))
            t->value = value / 1000.0;
        else if (UNIT_IS("s"))
            t->value = value * 1000.0;
        else {
            set_err(err, errlen, "unknown unit '%.*s' for %s (use us, ms or s)", (int)ulen, u,
                    metric_names[t->metric]);
            return SP_EINVAL;
        }
    } else if (is_share(t->metric)) {
        const char *mn = metric_names[t->metric];
        if (UNIT_IS("%")) {
            if (value > 100.0) {
                set_err(err, errlen, "%s above 100%%", mn);
                return SP_EINVAL;
            }
            t->value = value / 100.0;
        } else if (ulen == 0) {
            if (value > 1.0) {
                set_err(err, errlen,
                        "%s %s is above 1: write a percentage as '%s%%' or a "
                        "fraction from 0 to 1",
                        mn, num, num);
                return SP_EINVAL;
            }
            t->value = value;
        } else {
            set_err(err, errlen, "unknown unit '%.*s' for %s (use %% or a fraction)", (int)ulen, u,
                    mn);
            return SP_EINVAL;
        }
    } else if (t->metric == SP_TH_ACHIEVED_RATE) {
        if (ulen == 0 || UNIT_IS("/s"))
            t->value = value;
        else {
            set_err(err, errlen,
                    "unknown unit '%.*s' for achieved_rate (arrivals per second: no unit or /s)",
                    (int)ulen, u);
            return SP_EINVAL;
        }
    } else {
        if (ulen == 0 || UNIT_IS("/s") || UNIT_IS("rps"))
            t->value = value;
        else {
            set_err(err, errlen, "unknown unit '%.*s' for rps (requests per second: no unit)",
                    (int)ulen, u);
            return SP_EINVAL;
        }
    }
#undef UNIT_IS
    return 0;
}

/* A plain number at p (digits with at most one point, at most 32 characters): its end, or
 * NULL. Signs, exponents, hex and "inf" are refused, so strtod only ever sees a plain decimal. */
static const char *plain_number(const char *p, const char *end, double *out)
{
    const char *v = p;
    int dots = 0, digits = 0;
    while (p < end && ((*p >= '0' && *p <= '9') || *p == '.')) {
        if (*p == '.')
            dots++;
        else
            digits++;
        p++;
    }
    if (digits == 0 || dots > 1 || (size_t)(p - v) > 32)
        return NULL;
    char num[40];
    snprintf(num, sizeof num, "%.*s", (int)(p - v), v);
    *out = strtod(num, NULL);
    return p;
}

/* "baseline" ["*" FACTOR] after spaces at *pp (the word already seen): sets t->relative and
 * t->value (the factor) and moves *pp past them. */
static int parse_relative(const char **pp, const char *end, sp_threshold *t, char *err,
                          size_t errlen)
{
    const char *p = skip_ws(*pp, end) + 8; /* "baseline" */
    t->relative = 1;
    t->value = 1.0;
    p = skip_ws(p, end);
    if (p < end && *p == '*') {
        const char *f = skip_ws(p + 1, end);
        const char *after = plain_number(f, end, &t->value);
        if (!after || t->value <= 0) {
            size_t shown = 0;
            while (f + shown < end && !is_space(f[shown]) && shown < 20)
                shown++;
            set_err(err, errlen,
                    "bad factor '%.*s' after 'baseline *' (a number above 0, e.g. "
                    "\"baseline * 1.10\")",
                    (int)shown, f);
            return SP_EINVAL;
        }
        p = after;
    }
    if (p < end && !is_space(*p)) {
        set_err(err, errlen,
                "'baseline' takes a factor and no unit, e.g. \"%s %s baseline * 1.10\"",
                metric_names[t->metric], op_names[t->op]);
        return SP_EINVAL;
    }
    *pp = p;
    return 0;
}

/* VALUE and its UNIT after spaces at *pp: sets t->value and moves *pp past them. */
static int parse_value(const char **pp, const char *end, sp_threshold *t, char *err, size_t errlen)
{
    const char *w = skip_ws(*pp, end);
    if (end - w >= 8 && memcmp(w, "baseline", 8) == 0 && (end - w == 8 || !is_word_char(w[8])))
        return parse_relative(pp, end, t, err, errlen);
    const char *v = w;
    double value;
    const char *p = plain_number(v, end, &value);
    if (!p) {
        size_t shown = 0;
        while (v + shown < end && !is_space(v[shown]) && shown < 20)
            shown++;
        set_err(err, errlen, "bad number '%.*s' after '%s'", (int)shown, v, op_names[t->op]);
        return SP_EINVAL;
    }
    char num[40];
    snprintf(num, sizeof num, "%.*s", (int)(p - v), v);

    /* UNIT: right after the number or after spaces. */
    p = skip_ws(p, end);
    const char *u = p;
    while (p < end && !is_space(*p))
        p++;
    if (set_value(t, value, num, u, (size_t)(p - u), err, errlen))
        return SP_EINVAL;
    *pp = p;
    return 0;
}

int sp_threshold_parse(const char *src, const char *const *names, size_t nnames, sp_threshold *out,
                       char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->name_id = -1;
    if (err && errlen)
        err[0] = '\0';
    const char *end = src + strlen(src);
    const char *p = skip_ws(src, end);
    if (p == end) {
        set_err(err, errlen, "empty threshold (expected e.g. \"p95 < 300ms\")");
        return SP_EINVAL;
    }
    sp_threshold t = {NULL, -1, SP_TH_P50, SP_TH_LT, 0, 0, NULL};

    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == ':')
            colon = q;
    if (colon) {
        const char *ne = colon;
        while (ne > p && is_space(ne[-1]))
            ne--;
        if (find_name(p, (size_t)(ne - p), names, nnames, &t.name_id, err, errlen))
            return SP_EINVAL;
        p = skip_ws(colon + 1, end);
    }
    if (parse_metric(&p, end, &t, err, errlen))
        return SP_EINVAL;
    if (t.name_id >= 0 && sp_th_metric_open_only(t.metric)) {
        set_err(err, errlen, "%s is the run's, not a request name's: write it without a name",
                metric_names[t.metric]);
        return SP_EINVAL;
    }
    if (parse_op(&p, end, &t, err, errlen) || parse_value(&p, end, &t, err, errlen))
        return SP_EINVAL;
    p = skip_ws(p, end);
    if (p < end) {
        set_err(err, errlen, "unexpected '%.20s' after the value", p);
        return SP_EINVAL;
    }
    t.src = sp_strdup(src);
    *out = t;
    return 0;
}

void sp_threshold_release(sp_threshold *t)
{
    free(t->src);
    t->src = NULL;
    free(t->location);
    t->location = NULL;
}

static double latency_ms(const sp_hist *h, sp_th_metric m)
{
    switch (m) {
    case SP_TH_P50:
        return (double)sp_hist_percentile(h, 50) / 1000.0;
    case SP_TH_P90:
        return (double)sp_hist_percentile(h, 90) / 1000.0;
    case SP_TH_P95:
        return (double)sp_hist_percentile(h, 95) / 1000.0;
    case SP_TH_P99:
        return (double)sp_hist_percentile(h, 99) / 1000.0;
    case SP_TH_MAX:
        return (double)sp_hist_max(h) / 1000.0;
    case SP_TH_MIN:
        return (double)sp_hist_min(h) / 1000.0;
    case SP_TH_AVG:
        return sp_hist_mean(h) / 1000.0;
    default:
        return 0.0;
    }
}

void sp_threshold_eval(const sp_threshold *t, const sp_stats *totals, double duration_s,
                       sp_verdict *out)
{
    sp_threshold_eval_against(t, totals, duration_s, NAN, out);
}

void sp_threshold_eval_against(const sp_threshold *t, const sp_stats *totals, double duration_s,
                               double baseline, sp_verdict *out)
{
    uint64_t requests = 0, failures = 0;
    double measured = 0.0;
    /* Only the struct's fields and the histogram API are used, so that a whole-run threshold
     * merges exactly the same way whatever the metrics module does with its own totals. */
    size_t first = 0, last = totals->nnames;
    if (t->name_id >= 0) {
        first = (size_t)t->name_id;
        last = first < totals->nnames ? first + 1 : first;
    }
    for (size_t i = first; i < last; i++) {
        requests += totals->names[i].requests;
        failures += totals->names[i].failures;
    }
    if (is_latency(t->metric)) {
        if (last == first + 1 && totals->names[first].hist) {
            measured = latency_ms(totals->names[first].hist, t->metric);
        } else if (last > first) {
            sp_hist *all = sp_hist_new();
            for (size_t i = first; i < last; i++)
                if (totals->names[i].hist)
                    sp_hist_merge(all, totals->names[i].hist);
            measured = latency_ms(all, t->metric);
            sp_hist_free(all);
        }
    } else if (t->metric == SP_TH_ERROR_RATE) {
        measured = requests ? (double)failures / (double)requests : 0.0;
    } else if (t->metric == SP_TH_DROPPED) {
        uint64_t planned = totals->arrivals + totals->dropped;
        measured = planned ? (double)totals->dropped / (double)planned : 0.0;
    } else if (t->metric == SP_TH_ACHIEVED_RATE) {
        measured = duration_s > 0 ? (double)totals->arrivals / duration_s : 0.0;
    } else {
        measured = duration_s > 0 ? (double)requests / duration_s : 0.0;
    }
    out->measured = measured;
    out->skipped = 0;
    out->limit = t->relative ? t->value * baseline : t->value;
    if (t->relative && !isfinite(out->limit)) {
        /* No baseline figure: nothing to hold the run against, and no reason to fail it. */
        out->skipped = 1;
        out->passed = 1;
        out->limit = NAN;
        return;
    }
    double limit = out->limit;
    int passed;
    switch (t->op) {
    case SP_TH_LT:
        passed = measured < limit;
        break;
    case SP_TH_LE:
        passed = measured <= limit;
        break;
    case SP_TH_GT:
        passed = measured > limit;
        break;
    case SP_TH_GE:
        passed = measured >= limit;
        break;
    default:
        passed = 0;
        break;
    }
    out->passed = passed;
}

void sp_threshold_format_value(const sp_threshold *t, double v, char *buf, size_t len)
{
    if (is_latency(t->metric))
        snprintf(buf, len, v < 10.0 ? "%.2fms" : "%.1fms", v);
    else if (is_share(t->metric))
        snprintf(buf, len, "%.3g%%", v * 100.0);
    else
        snprintf(buf, len, "%.1f/s", v);
}
