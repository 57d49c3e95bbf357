/*
 * export.h - a stored run as a file to download: CSV (one row per request name), JUnit XML
 * (one test case per threshold, written by server/runs/report.c) and a self-contained HTML report
 * (export_html.c: inline data, inline SVG charts, no script and nothing fetched, so it opens
 * offline and prints), and a run's response-time distribution per request name.
 *
 * Inputs are the store's JSON objects (sp_store_run_get, sp_store_run_series,
 * sp_store_run_failures, sp_export_distribution), borrowed. Everything that came from a test or
 * a target (names, failure messages, thresholds) is escaped for the format it lands in.
 *
 * Threads: no shared state; any thread (sp_export_distribution: the thread owning s).
 * Errors: 0, SP_ELIMIT when the document would pass SP_RUNS_EXPORT_MAX_BYTES, SP_EINVAL when
 * the stored definition cannot be loaded again (JUnit; err says why), the store's codes for
 * sp_export_distribution.
 */
#ifndef SP_EXPORT_H
#define SP_EXPORT_H

#include <jansson.h>

#include "engine/common.h"
#include "store/store.h"

/* Appends the CSV to out: a header, one row per request name, then "Total". */
int sp_export_csv(const json_t *run, sp_buf *out);

/* Appends the JUnit XML to out. definition is the stored text of the revision the run used
 * (loaded again with the run's overrides, for the thresholds); its data files are read below
 * files_dir only (sp_def_load_confined). */
int sp_export_junit(const json_t *run, const char *definition, const char *files_dir, sp_buf *out,
                    char *err, size_t errlen);

/*
 * A run's response-time distribution per request name, merged from its stored minute
 * histograms (the whole run, exact), as a new object:
 *   {"bins_ms": [1, 2, 5, ..., 10000] (upper edges; the last bin is open),
 *    "total": BIN, "names": [BIN...]}, BIN = {"name", "count", "counts": [per bin], "p50",
 *    "p90", "p95", "p99" (ms)}; names without requests are left out.
 * run is the store's run object (its "id" and "names").
 */
int sp_export_distribution(sp_store *s, const json_t *run, json_t **out);

/*
 * Appends the HTML report to out: what ran (test, revision, base URL, load profile and its
 * changes, who, when with the time zone, how long, from which host), the verdict and notes
 * (errors, stalls, the breaking point, the open model's limit, the compare verdict when the
 * summary has one), the charts of the run page with the same meaning (requests/s; p50/p95/p99 of
 * all requests, each request name one click away; errors/s; VUs or arrivals; the distribution
 * per name), load changes marked on each, and the tables. series, failures and dist may be NULL.
 */
int sp_export_html(const json_t *run, const json_t *series, const json_t *failures,
                   const json_t *dist, sp_buf *out);

#endif
