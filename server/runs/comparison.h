/*
 * comparison.h - runs compared with a baseline run, figure by figure, with the statistics of
 * compare.h: what GET /compare answers, what a run's history shows against its test's pinned
 * baseline, and what the CI gate (--fail-on-regression) fails a run for (docs/api-runs.md,
 * "Compare").
 *
 * For each request name (and the whole run, "total") and each figure of a later run against
 * the baseline (the first run):
 *   p50, p95, p99  the per-second values of the figure, from the seconds that finished enough
 *                  requests for it (2, 20, 100) and in which the load generator lagged at most
 *                  max_lag_ms, when both runs have min_seconds such seconds. When a run has too
 *                  few such seconds however little its generator lagged (a short run, a rare
 *                  name): every request, from the runs' merged histograms, when both have
 *                  min_requests; there the shift's absolute floor is at least the median of
 *                  the generator's per-second lag in either run, and the figure itself must
 *                  have moved beyond the floors too, at least the same percentile of the lag. Else
 * "not enough data" (and so when the generator's lag took the seconds away). Mann-Whitney U and the
 * Hodges-Lehmann shift (ms) with its interval. rps            the per-second request counts over
 * the seconds both runs have, less those in which the generator lagged, only between runs whose
 * load profiles are the same (one may be a shorter cut of the other); else "not compared".
 * Mann-Whitney U and the shift (requests/s). error_pct      failures over requests: a test of two
 * proportions (z or Fisher's exact), the difference in percentage points with Newcombe's interval.
 *   count          shown, never judged (it follows the duration).
 * A figure is a regression or an improvement only when significant at alpha and beyond both
 * floors (sp_cmp_judge): the absolute one of its unit, and the relative min_change_pct (p95 and
 * p99: min_change_tail_pct); the verdict names are compare.h's.
 *
 * Inputs: run objects as sp_store_run_get() gives them ("id", "test_id", "test_name",
 * "revision", "status", "started_at", "overrides", "names", "summary"), borrowed; their seconds
 * and histograms are read from the store by id. A run that is still ending may be passed with
 * the summary it is about to store (the run manager's gate does).
 *
 * Threads: no shared state; the store connection is the calling thread's (store.h).
 * Errors: 0 or a negative SP_E* code (the store's); SP_EINVAL for settings out of range, with
 * the setting's name in path and a reason in msg.
 */
#ifndef SP_RUNS_COMPARISON_H
#define SP_RUNS_COMPARISON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/store.h"

/* What a comparison counts as a change; defaults in brackets (docs/api-runs.md). */
typedef struct sp_cmp_settings {
    double alpha;                /* significance level of every test [0.01] */
    double min_change_pct;       /* relative floor: % of the baseline's figure [10] */
    double min_change_tail_pct;  /* relative floor of p95 and p99 [20] */
    double min_change_ms;        /* absolute floor of latencies, ms [1] */
    double min_change_error_pct; /* absolute floor of error %, percentage points [0.5] */
    double min_change_rps;       /* absolute floor of throughput, requests/s [1] */
    double min_seconds;          /* seconds each run needs for a per-second test [5] */
    double min_requests;         /* requests each run needs for a test on requests [10] */
    double max_lag_ms;           /* seconds whose load generator lagged more are left out [10] */
} sp_cmp_settings;

/* The defaults. */
void sp_comparison_defaults(sp_cmp_settings *s);
/*
 * Sets one setting by its name ("alpha", "min_change_pct", ...; "tolerance" is another name of
 * min_change_pct) to v after checking its range: alpha in (0, 0.5], the floors from 0 (pct at
 * most 1000, ms at most 60000, error points at most 100, rps at most 1e9), min_seconds from 3
 * to 86400 and min_requests from 2 to 1e9, each a whole number, max_lag_ms from 1 to 60000.
 * SP_EINVAL with msg otherwise, or for an unknown name.
 */
int sp_comparison_setting(sp_cmp_settings *s, const char *name, double v, char *msg, size_t msglen);
/* Applies every field of obj (an object of numbers; NULL: nothing) with
 * sp_comparison_setting(); on SP_EINVAL path gets the field's name. */
int sp_comparison_settings_apply(sp_cmp_settings *s, const json_t *obj, char *path, size_t pathlen,
                                 char *msg, size_t msglen);
/* The settings as a new object, with every field. */
json_t *sp_comparison_settings_json(const sp_cmp_settings *s);

/*
 * Compares runs[1..n) with runs[0] (2 <= n) as a new object in *out:
 *   {"baseline": ID, "tolerance_pct", "settings": {...},
 *    "differs": {"test", "revision", "profile", "duration"},
 *    "notes": [{"kind", "message", "runs": [ids]}...],     what differs, said at the top
 *    "runs": [{"id", "test_id", "test_name", "revision", "status", "started_at", "duration_s",
 *              "same_profile", and for later runs "regressions", "improvements",
 *              "not_enough_data"}...],
 *    "total": [ENTRY...], "names": [{"name", "runs": [ENTRY...]}...]}
 * The first ENTRY of a list is the baseline's {"run_id", "present": true, "count", "rps",
 * "error_pct", "p50", "p95", "p99"}. A later ENTRY holds per figure {"value", "change_pct",
 * "flag", "verdict", "change", "ci": [lo, hi] or null, "p_value", "basis", "samples": [base,
 * run], "reason"?}. A name the baseline lacks gives the later run's plain figures with
 * "mark": "new"; a name a later run lacks gives {"run_id", "present": null, "mark": "gone"}.
 * When every run went across locations, "locations": [{"location", "runs": [{"run_id",
 * "present": true, "requests", "failures", "error_pct", "p50", "p95", "p99", and for later runs
 * "p50_change_pct", "p95_change_pct", "p99_change_pct"} or {"run_id", "present": null}]}]:
 * from the summaries only, so shown and never judged.
 */
int sp_comparison_build(sp_store *s, json_t *const *runs, size_t n, const sp_cmp_settings *set,
                        json_t **out);

/* The regressions of runs[index] in a comparison as a new array of {"name" (null for the whole
 * run), "figure", "baseline", "value", "change", "ci", "p_value", "basis", "unit"}. */
json_t *sp_comparison_regressions(const json_t *cmp, size_t index);

/* One line per run against the baseline (new object): {"baseline": ID, "verdict":
 * "regression" | "improvement" | "no significant change" | "not enough data", "regressions",
 * "improvements"}. A regression anywhere makes the verdict a regression. */
json_t *sp_comparison_brief(const json_t *cmp, size_t index);

#endif
