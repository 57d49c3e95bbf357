/*
 * threshold.h - pass/fail criteria of a run: "p95 < 300ms", "error_rate < 1%", "rps > 1000",
 * "POST /orders: p99 < 800ms".
 *
 * Grammar: [NAME ":"] METRIC OP (VALUE | "baseline" ["*" FACTOR]), where METRIC is
 * p50|p90|p95|p99|max|avg|min (latency, VALUE with a unit us|ms|s, ms when none), error_rate
 * (VALUE in % or as a fraction 0..1), or rps (requests per second over the run's duration); for
 * the open model also dropped (the share of planned arrivals that found no free VU, VALUE in % or
 * as a fraction) and achieved_rate (arrivals that started an iteration, per second); OP is
 * < <= > >=. A NAME must be one of the definition's request names (not with dropped or
 * achieved_rate: they are the run's). Parsing happens at
 * definition load; evaluation after the run (or on the totals so far, for a live view).
 *
 * "p95 < baseline * 1.10" is relative to a baseline run: the limit is FACTOR (a plain number,
 * 1 when left out) times the same figure of the baseline run. The engine has no baseline: it
 * parses such a threshold, and whoever judges the run supplies the baseline's figure
 * (sp_threshold_eval_against); without one the threshold is not judged (skipped, never failed).
 *
 * Threads: parsed thresholds are immutable.
 */
#ifndef SP_THRESHOLD_H
#define SP_THRESHOLD_H

#include <stddef.h>

#include "engine/metrics.h"

typedef enum sp_th_metric {
    SP_TH_P50,
    SP_TH_P90,
    SP_TH_P95,
    SP_TH_P99,
    SP_TH_MAX,
    SP_TH_AVG,
    SP_TH_MIN,
    SP_TH_ERROR_RATE,
    SP_TH_RPS,
    SP_TH_DROPPED,       /* open model: dropped / (arrivals + dropped), a fraction */
    SP_TH_ACHIEVED_RATE, /* open model: arrivals per second */
} sp_th_metric;

typedef enum sp_th_op { SP_TH_LT, SP_TH_LE, SP_TH_GT, SP_TH_GE } sp_th_op;

typedef struct sp_threshold {
    char *src;   /* the text as written, owned */
    int name_id; /* request name id, or -1 for the whole run */
    sp_th_metric metric;
    sp_th_op op;
    double value; /* latency in ms, error_rate and dropped as a fraction, rates per s; relative:
                     the factor */
    int relative; /* 1: "baseline * FACTOR", judged against a baseline run's figure */
    /* "near: p95 < 300ms": judged on the figures of the run's agents in that location (owned;
     * NULL: the whole run). Set by the definition loader for a key of load.locations; whoever
     * judges the run supplies that location's stats. */
    char *location;
} sp_threshold;

typedef struct sp_verdict {
    int passed;
    double measured; /* same unit as value */
    int skipped;     /* a relative threshold without a baseline figure: not judged (passed) */
    double limit;    /* what measured was held against (value, or factor * the baseline's
                        figure); NAN when skipped */
} sp_verdict;

/* Parses src; names[0..nnames) are the request names. SP_EINVAL and a reason in err on error. */
int sp_threshold_parse(const char *src, const char *const *names, size_t nnames, sp_threshold *out,
                       char *err, size_t errlen);
void sp_threshold_release(sp_threshold *t);
/* Judges t against run totals; duration_s is the run's elapsed time (for rps). A relative
 * threshold is skipped (out->skipped, passed): use sp_threshold_eval_against. */
void sp_threshold_eval(const sp_threshold *t, const sp_stats *totals, double duration_s,
                       sp_verdict *out);
/* 1 for the metrics that only the open model measures (dropped, achieved_rate). */
int sp_th_metric_open_only(sp_th_metric m);
/* As sp_threshold_eval; baseline is the baseline run's figure for t (its metric and name, in
 * t's unit: ms, a fraction, requests/s), or NAN when there is none. Only a relative threshold
 * reads it. */
void sp_threshold_eval_against(const sp_threshold *t, const sp_stats *totals, double duration_s,
                               double baseline, sp_verdict *out);
/* "p95", "error_rate", ...; and "<", "<=", ... */
const char *sp_th_metric_name(sp_th_metric m);
const char *sp_th_op_name(sp_th_op op);
/* Writes the measured value with its unit ("312.4ms", "0.8%", "1043.2/s") to buf. */
void sp_threshold_format_value(const sp_threshold *t, double v, char *buf, size_t len);

#endif
