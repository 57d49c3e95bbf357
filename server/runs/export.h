/*
 * export.h - a stored run as a file to download: CSV (one row per request name), JUnit XML
 * (one test case per threshold, written by server/runs/report.c) and a self-contained HTML report
 * (inline data, inline SVG charts, no script and nothing fetched, so it opens offline).
 *
 * Inputs are the store's JSON objects (sp_store_run_get, sp_store_run_series,
 * sp_store_run_failures), borrowed. Everything that came from a test or a target (names,
 * failure messages, thresholds) is escaped for the format it lands in.
 *
 * Threads: no shared state; any thread.
 * Errors: 0, SP_ELIMIT when the document would pass SP_RUNS_EXPORT_MAX_BYTES, SP_EINVAL when
 * the stored definition cannot be loaded again (JUnit; err says why).
 */
#ifndef SP_EXPORT_H
#define SP_EXPORT_H

#include <jansson.h>

#include "engine/common.h"

/* Appends the CSV to out: a header, one row per request name, then "Total". */
int sp_export_csv(const json_t *run, sp_buf *out);

/* Appends the JUnit XML to out. definition is the stored text of the revision the run used
 * (loaded again with the run's overrides, for the thresholds); its data files are read below
 * files_dir only (sp_def_load_confined). */
int sp_export_junit(const json_t *run, const char *definition, const char *files_dir, sp_buf *out,
                    char *err, size_t errlen);

/* Appends the HTML report to out. series and failures may be NULL. */
int sp_export_html(const json_t *run, const json_t *series, const json_t *failures, sp_buf *out);

#endif
