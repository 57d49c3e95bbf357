/*
 * report.h - a run's results as JSON, as a text summary, and as JUnit XML.
 *
 * The CLI uses these at the end of `stampede run`; the server uses the same functions for its
 * exports, so a run reads the same wherever it is looked at. Inputs are borrowed; every
 * function returns new objects or writes to the given stream.
 *
 * Threads: no shared state; call from any one thread at a time per input.
 */
#ifndef SP_REPORT_H
#define SP_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "engine/definition.h"
#include "engine/engine.h"
#include "engine/metrics.h"
#include "engine/threshold.h"

/* Latency figures of one set of requests, in microseconds. */
typedef struct sp_lat {
    uint64_t min, p50, p90, p95, p99, max;
    double avg;
} sp_lat;

void sp_lat_of(const sp_hist *h, sp_lat *out);

/* A change of a running run's load: the CLI's '+' and '-', POST /runs/:id/load. */
typedef struct sp_load_change {
    int64_t at_ms;      /* wall clock, ms since 1970 */
    int64_t elapsed_ms; /* since the run's start */
    double target;      /* VUs (closed model) or iterations/s (open) */
    int64_t ramp_ms;    /* reached linearly over this; 0: at once */
    const char *by;     /* who asked, or NULL */
} sp_load_change;

/* The run as a whole, for the summary and exports. */
typedef struct sp_run_result {
    const sp_def *def;
    const sp_stats *totals;
    double duration_s;
    const sp_verdict *verdicts; /* [def->nthresholds] */
    const char *status;         /* "passed", "failed", "stopped", "incomplete", ... */
    const char *error;          /* why the run is incomplete (its stored error), or NULL */
    int64_t started_ms;         /* wall clock */
    const sp_break *brk;        /* the load at which a stop_when condition ended the run, or NULL */
    const sp_load_change *changes; /* [nchanges], oldest first; may be NULL */
    size_t nchanges;
    const char *host;       /* the load generator's host name, or NULL */
    int allow_failures;     /* failed requests do not fail a run that has no thresholds */
    const json_t *baseline; /* the run against its baseline (a run's "baseline" object,
                               docs/api-runs.md), or NULL; JUnit gets a test case for it */
} sp_run_result;

/*
 * The failed requests that fail the run by themselves: a run without thresholds fails when a
 * request failed (as Locust's --exit-code-on-error), unless r->allow_failures. Returns their
 * number, 0 when they do not count (thresholds decide, or failures are allowed).
 */
uint64_t sp_report_unaccepted_failures(const sp_run_result *r);

/* The open model's reading of what limited a run, from its totals: the generator (its own lag:
 * a stalled second, or arrivals fired over SP_LAG_WARN_US late on average), or the target
 * (arrivals dropped because every VU was busy waiting on responses, with the generator on
 * time). At most one is 1. */
int sp_report_generator_limited(const sp_stats *t);
int sp_report_target_saturated(const sp_stats *t);

/* Judges every threshold of r->def; verdicts must hold def->nthresholds entries.
 * Returns the number that failed. Thresholds relative to a baseline are skipped. */
size_t sp_report_judge(const sp_def *def, const sp_stats *totals, double duration_s,
                       sp_verdict *verdicts);
/* As sp_report_judge, with the baseline run's summary (as sp_report_json writes it, "names" and
 * "total"; borrowed, may be NULL) for thresholds relative to it ("p95 < baseline * 1.10"): the
 * same figure of the same name there. A name the baseline lacks (or without requests) gives no
 * figure, and the threshold is skipped. */
size_t sp_report_judge_against(const sp_def *def, const sp_stats *totals, double duration_s,
                               const json_t *baseline_summary, sp_verdict *verdicts);
/* The figure of summary (as above) that threshold t of def is judged on, in t's unit; NAN when
 * the summary has none. */
double sp_report_baseline_figure(const sp_def *def, const sp_threshold *t, const json_t *summary);

/* A compact JSON object for one second of a run (new reference). scratch is a caller-owned,
 * initialised sp_name_stats reused across calls to avoid allocating a histogram each second. */
json_t *sp_report_second(const sp_def *def, uint64_t second, const sp_stats *s,
                         sp_name_stats *scratch);

/* The generator's health over a run (new reference): {"lag_ms_max", "stalled_seconds", and
 * when there were stalls "stall_first", "stall_last"}: seconds in which a worker was away over
 * SP_STALL_US (engine/metrics.h), whose latencies and missing requests are not the target's. */
json_t *sp_report_generator_json(const sp_stats *totals);
/* Writes the stall warning for people when the run had stalled seconds; nothing otherwise. */
void sp_report_stall_text(const sp_stats *totals, FILE *out);

/* The whole result as JSON (new reference). seconds (an array, may be NULL) is borrowed and
 * included as "seconds". */
json_t *sp_report_json(const sp_run_result *r, json_t *seconds);

/* The end-of-run summary for people: per-name table, status codes, error kinds, failure
 * messages, thresholds. */
void sp_report_text(const sp_run_result *r, FILE *out);

/* For a run across locations (summary.locations, docs/distributed.md): its figures per location
 * and per request name within each, then each agent's health with the bottleneck named, for
 * people. summary is borrowed; writes nothing for a run without locations. */
void sp_report_locations_text(const json_t *summary, FILE *out);

/* JUnit XML: one test suite with a timestamp (the start, UTC) and the host name, one test case
 * per threshold (a miss is a <failure type="threshold">), and a "run" case when there are no
 * thresholds (failed requests not accepted are a <failure type="failed_requests">) or the run
 * did not end by itself (an <error type="stopped|aborted|incomplete|error">; an incomplete one
 * quotes r->error, so that CI never reads a run with holes in its record as green). Returns 0 or
 * SP_EIO when writing failed. */
int sp_report_junit(const sp_run_result *r, FILE *out);

/* One regression of a comparison (an element of sp_comparison_regressions(), or of a run's
 * "baseline.regressions") as a line for people: "GET /products p95: 20.1 -> 26.3, change +6.2 ms
 * [+5.8, +6.6] (p = 0.002, seconds)". */
void sp_report_regression_line(const json_t *reg, char *buf, size_t len);

/* Formats microseconds for people: "850us", "12.3ms", "1.24s". */
void sp_fmt_us(uint64_t us, char *buf, size_t len);

/* "2026-03-29T01:00:00Z" of ms since the epoch (1970-01-01T00:00:00Z for 0 or less). */
void sp_report_iso_utc(int64_t ms, char *buf, size_t len);

#endif
