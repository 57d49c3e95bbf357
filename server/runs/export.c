/*
 * export.c - see export.h.
 */
#define _GNU_SOURCE /* open_memstream */
#include "runs/export.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/definition.h"
#include "engine/metrics.h"
#include "engine/histogram.h"
#include "runs/export_private.h"
#include "runs/report.h"
#include "runs/runs.h"
#include "store/store.h"

/* ---- CSV ---- */

/* A CSV field: quoted when it holds a separator, quote or line break. A leading = + - @ or
 * tab is prefixed with ' so that a spreadsheet does not run a name from a target as a formula. */
static void csv_field(wbuf *b, const char *s)
{
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    int formula = strchr("=+-@\t", s[0]) != NULL && s[0];
    if (quote)
        w_addc(b, '"');
    if (formula)
        w_addc(b, '\'');
    for (; *s; s++) {
        if (*s == '"')
            w_addc(b, '"');
        w_addc(b, *s);
    }
    if (quote)
        w_addc(b, '"');
}

/* A name of the summary or the series that is a group's (a run of steps timed as a whole). */
static int is_group(const json_t *n)
{
    const char *k = json_string_value(json_object_get(n, "kind"));
    return k && strcmp(k, "group") == 0;
}

static void csv_row(wbuf *b, const json_t *n)
{
    const json_t *l = json_object_get(n, "latency_ms");
    csv_field(b, str(n, "name"));
    w_addf(b, ",%.0f,%.0f,%.3f,%.6f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.0f,%.0f,",
           num(n, "requests"), num(n, "failures"), num(n, "rps"), num(n, "error_rate"),
           num(l, "min"), num(l, "avg"), num(l, "p50"), num(l, "p90"), num(l, "p95"), num(l, "p99"),
           num(l, "max"), num(n, "bytes_in"), num(n, "bytes_out"));
    /* The kind last, so that columns read by position stay where they were. */
    w_adds(b, is_group(n) ? "group\r\n" : "request\r\n");
}

int sp_export_csv(const json_t *run, sp_buf *dst)
{
    wbuf w = {dst, 0}, *out = &w;
    const json_t *summary = json_object_get(run, "summary");
    w_adds(out, "name,requests,failures,rps,error_rate,min_ms,avg_ms,p50_ms,p90_ms,p95_ms,"
                "p99_ms,max_ms,bytes_in,bytes_out,kind\r\n");
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(summary, "names"), i, n) csv_row(out, n);
    if (json_object_get(summary, "total"))
        csv_row(out, json_object_get(summary, "total"));
    return w.failed ? SP_ELIMIT : 0;
}

/* ---- JUnit ---- */

int sp_export_junit(const json_t *run, const char *definition, const char *files_dir, sp_buf *out,
                    char *err, size_t errlen)
{
    int rc = 0;
    sp_def *def = NULL;
    char *stages = NULL;
    char *text = NULL;
    size_t len = 0;
    sp_verdict *verdicts = NULL;
    /* The stored run has no stats, only its summary: its totals as one name, for the counts
     * JUnit writes (requests, failed requests). */
    sp_stats none;
    sp_stats_init(&none, 1);
    sp_errlist el;
    sp_errlist_init(&el);
    sp_overrides ov;
    /* The thresholds are those of the definition as the run used it, overrides applied. */
    rc = sp_runs_overrides_parse(json_object_get(run, "overrides"), &ov, &stages, &el);
    if (rc == 0)
        rc = sp_def_load_confined(definition, strlen(definition), &ov, files_dir, &def, &el);
    if (rc) {
        snprintf(err, errlen, "the run's definition cannot be loaded again: %s%s%s",
                 el.n ? el.v[0].path : "", el.n && el.v[0].path[0] ? ": " : "",
                 el.n ? el.v[0].msg : "unknown error");
        rc = SP_EINVAL;
        goto out;
    }
    verdicts = sp_calloc(def->nthresholds + 1, sizeof *verdicts);
    const json_t *stored = json_object_get(run, "verdicts");
    for (size_t i = 0; i < def->nthresholds; i++) {
        const json_t *v = json_array_get(stored, i);
        verdicts[i].passed = json_is_true(json_object_get(v, "passed"));
        verdicts[i].measured = num(v, "measured");
        verdicts[i].skipped = json_is_true(json_object_get(v, "skipped"));
        verdicts[i].limit = json_is_number(json_object_get(v, "limit")) ? num(v, "limit")
                                                                        : def->thresholds[i].value;
    }
    const json_t *summary = json_object_get(run, "summary");
    const json_t *total = json_object_get(summary, "total");
    none.names[0].requests = (uint64_t)num(total, "requests");
    none.names[0].failures = (uint64_t)num(total, "failures");
    const char *host = json_string_value(json_object_get(summary, "host"));
    sp_run_result r = {.def = def,
                       .totals = &none,
                       .duration_s = num(summary, "duration_s"),
                       .verdicts = verdicts,
                       .status = str(run, "status"),
                       .error = json_string_value(json_object_get(run, "error")),
                       .started_ms = (int64_t)(num(run, "started_at") > 0 ? num(run, "started_at")
                                                                          : num(run, "created_at")),
                       .host = host,
                       .baseline = json_object_get(run, "baseline")};
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        rc = SP_ESYS;
        goto out;
    }
    rc = sp_report_junit(&r, f);
    if (fclose(f) != 0 && rc == 0)
        rc = SP_EIO;
    /* A scheduled run says so in the suite's properties (the first ones), so that a CI system
     * can tell it from a start by hand. */
    const char *suite = text ? strstr(text, "<testsuite ") : NULL;
    const char *props = suite ? strstr(suite, "<properties>\n") : NULL;
    const char *origin = str(run, "origin");
    if (rc == 0 && props && strcmp(origin, "scheduled") == 0) {
        size_t head = (size_t)(props + strlen("<properties>\n") - text);
        char when[40];
        sp_report_iso_utc(json_integer_value(json_object_get(run, "fire_at")), when, sizeof when);
        if (sp_buf_add(out, text, head) != 0 ||
            sp_buf_addf(out,
                        "      <property name=\"origin\" value=\"scheduled\"/>\n"
                        "      <property name=\"schedule_id\" value=\"%lld\"/>\n"
                        "      <property name=\"fire_at\" value=\"%s\"/>\n"
                        "      <property name=\"fire_missed\" value=\"%s\"/>\n",
                        (long long)json_integer_value(json_object_get(run, "schedule_id")), when,
                        json_is_true(json_object_get(run, "fire_missed")) ? "true" : "false") !=
                0 ||
            sp_buf_add(out, text + head, len - head) != 0)
            rc = SP_ELIMIT;
    } else if (rc == 0 && sp_buf_add(out, text, len) != 0) {
        rc = SP_ELIMIT;
    }
out:
    free(text);
    free(verdicts);
    free(stages);
    sp_def_free(def);
    sp_stats_release(&none);
    sp_errlist_release(&el);
    return rc;
}

/* ---- Distributions ---- */

/* Upper edges of the distribution's bins, in ms; the last bin is open. Log-spaced 1-2-5, as
 * response times spread over orders of magnitude. */
static const double bin_edges_ms[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
#define NBINS (SP_ARRAY_LEN(bin_edges_ms) + 1)

static size_t bin_of(uint64_t us)
{
    double ms = (double)us / 1000.0;
    for (size_t i = 0; i < SP_ARRAY_LEN(bin_edges_ms); i++)
        if (ms < bin_edges_ms[i])
            return i;
    return NBINS - 1;
}

/* One histogram's counts by bin, with its percentiles (new reference). */
static json_t *dist_json(const char *name, const sp_hist *h)
{
    uint64_t counts[NBINS] = {0};
    for (size_t k = 0; k < sp_hist_buckets(); k++) {
        uint64_t c = sp_hist_bucket_count(h, k);
        if (c)
            counts[bin_of(sp_hist_bucket_low(k))] += c;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < NBINS; i++)
        json_array_append_new(arr, json_integer((json_int_t)counts[i]));
    return json_pack("{s:s, s:I, s:o, s:f, s:f, s:f, s:f}", "name", name, "count",
                     (json_int_t)sp_hist_count(h), "counts", arr, "p50",
                     (double)sp_hist_percentile(h, 50) / 1000.0, "p90",
                     (double)sp_hist_percentile(h, 90) / 1000.0, "p95",
                     (double)sp_hist_percentile(h, 95) / 1000.0, "p99",
                     (double)sp_hist_percentile(h, 99) / 1000.0);
}

int sp_export_distribution(sp_store *s, const json_t *run, json_t **out)
{
    *out = NULL;
    int64_t id = json_integer_value(json_object_get(run, "id"));
    size_t nb = sp_hist_buckets();
    uint64_t *buckets = sp_calloc(nb, sizeof *buckets);
    sp_hist *h = sp_hist_new(), *all = sp_hist_new();
    json_t *names = json_array();
    int rc = 0;
    size_t i;
    const json_t *nm;
    json_array_foreach(json_object_get(run, "names"), i, nm)
    {
        memset(buckets, 0, nb * sizeof *buckets);
        uint64_t total = 0;
        rc = sp_store_window_hist(s, id, (int64_t)i, 0, INT64_MAX, buckets, nb, &total);
        if (rc)
            break;
        if (!total)
            continue;
        sp_hist_reset(h);
        for (size_t k = 0; k < nb; k++)
            if (buckets[k])
                sp_hist_add_bucket(h, k, buckets[k]);
        sp_hist_merge(all, h);
        json_array_append_new(names,
                              dist_json(json_string_value(nm) ? json_string_value(nm) : "", h));
    }
    if (rc == 0) {
        json_t *edges = json_array();
        for (size_t k = 0; k < SP_ARRAY_LEN(bin_edges_ms); k++)
            json_array_append_new(edges, json_real(bin_edges_ms[k]));
        *out = json_pack("{s:o, s:o, s:o}", "bins_ms", edges, "total", dist_json("Total", all),
                         "names", names);
        names = NULL;
    }
    json_decref(names);
    sp_hist_free(h);
    sp_hist_free(all);
    free(buckets);
    return rc;
}
