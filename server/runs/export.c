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

#include "engine/definition.h"
#include "engine/metrics.h"
#include "runs/report.h"
#include "runs/runs.h"

/* Output with a sticky failure: an add refused by the cap is remembered, so that a document
 * cut short is reported as too large instead of being sent with a hole in it. */
typedef struct wbuf {
    sp_buf *b;
    int failed;
} wbuf;

static void w_adds(wbuf *w, const char *s)
{
    if (sp_buf_adds(w->b, s) != 0)
        w->failed = 1;
}

static void w_addc(wbuf *w, char c)
{
    if (sp_buf_addc(w->b, c) != 0)
        w->failed = 1;
}

__attribute__((format(printf, 2, 3))) static void w_addf(wbuf *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (sp_buf_vaddf(w->b, fmt, ap) != 0)
        w->failed = 1;
    va_end(ap);
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

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

static void csv_row(wbuf *b, const json_t *n)
{
    const json_t *l = json_object_get(n, "latency_ms");
    csv_field(b, str(n, "name"));
    w_addf(b, ",%.0f,%.0f,%.3f,%.6f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.0f,%.0f\r\n",
           num(n, "requests"), num(n, "failures"), num(n, "rps"), num(n, "error_rate"),
           num(l, "min"), num(l, "avg"), num(l, "p50"), num(l, "p90"), num(l, "p95"), num(l, "p99"),
           num(l, "max"), num(n, "bytes_in"), num(n, "bytes_out"));
}

int sp_export_csv(const json_t *run, sp_buf *dst)
{
    wbuf w = {dst, 0}, *out = &w;
    const json_t *summary = json_object_get(run, "summary");
    w_adds(out, "name,requests,failures,rps,error_rate,min_ms,avg_ms,p50_ms,p90_ms,p95_ms,"
                "p99_ms,max_ms,bytes_in,bytes_out\r\n");
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
    sp_stats none;
    sp_stats_init(&none, 0);
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
    sp_run_result r = {.def = def,
                       .totals = &none,
                       .duration_s = num(summary, "duration_s"),
                       .verdicts = verdicts,
                       .status = str(run, "status"),
                       .started_ms = 0,
                       .baseline = json_object_get(run, "baseline")};
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        rc = SP_ESYS;
        goto out;
    }
    rc = sp_report_junit(&r, f);
    if (fclose(f) != 0 && rc == 0)
        rc = SP_EIO;
    if (rc == 0 && sp_buf_add(out, text, len) != 0)
        rc = SP_ELIMIT;
out:
    free(text);
    free(verdicts);
    free(stages);
    sp_def_free(def);
    sp_stats_release(&none);
    sp_errlist_release(&el);
    return rc;
}

/* ---- HTML ---- */

static void html(wbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            w_adds(b, "&amp;");
            break;
        case '<':
            w_adds(b, "&lt;");
            break;
        case '>':
            w_adds(b, "&gt;");
            break;
        case '"':
            w_adds(b, "&quot;");
            break;
        case '\'':
            w_adds(b, "&#39;");
            break;
        default:
            w_addc(b, *s);
        }
    }
}

/* A line chart of ys[0..n) against the second, as inline SVG. */
static void svg_chart(wbuf *b, const char *title, const char *unit, const double *ys, size_t n)
{
    const double w = 760, h = 180, pad = 40;
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (ys[i] > max)
            max = ys[i];
    if (max <= 0)
        max = 1;
    w_adds(b, "<figure><figcaption>");
    html(b, title);
    w_addf(b,
           "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
           "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">",
           w, h, w, h);
    w_addf(b, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\"/>", pad,
           h - 20, w - 10, h - 20);
    w_addf(b, "<line x1=\"%.0f\" y1=\"10\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\"/>", pad, pad,
           h - 20);
    w_addf(b, "<text x=\"2\" y=\"16\" font-size=\"11\">%.4g %s</text>", max, unit);
    w_addf(b, "<text x=\"2\" y=\"%.0f\" font-size=\"11\">0</text>", h - 20);
    w_addf(b, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">%zus</text>", w - 40, h - 4, n);
    w_adds(b, "<polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.5\" points=\"");
    for (size_t i = 0; i < n; i++) {
        double x = pad + (n > 1 ? (double)i / (double)(n - 1) : 0) * (w - 10 - pad);
        double y = (h - 20) - ys[i] / max * (h - 30);
        w_addf(b, "%s%.1f,%.1f", i ? " " : "", x, y);
    }
    w_adds(b, "\"/></svg></figure>\n");
}

/* Per second over every name: requests, and the worst p95 of any name (ms). */
static void series_points(const json_t *series, double **rps, double **p95, size_t *n)
{
    *rps = *p95 = NULL;
    *n = 0;
    const json_t *ticks = json_object_get(json_object_get(series, "ticks"), "second");
    json_int_t last = -1;
    size_t i;
    const json_t *v;
    json_array_foreach(ticks, i, v) if (json_integer_value(v) > last) last = json_integer_value(v);
    const json_t *nm;
    json_array_foreach(json_object_get(series, "names"), i, nm)
    {
        const json_t *secs = json_object_get(nm, "second");
        size_t k;
        json_array_foreach(secs, k, v) if (json_integer_value(v) > last) last =
            json_integer_value(v);
    }
    if (last < 0 || last > 7 * 86400)
        return;
    *n = (size_t)last + 1;
    *rps = sp_calloc(*n, sizeof **rps);
    *p95 = sp_calloc(*n, sizeof **p95);
    json_array_foreach(json_object_get(series, "names"), i, nm)
    {
        const json_t *secs = json_object_get(nm, "second");
        const json_t *count = json_object_get(nm, "count");
        const json_t *p = json_object_get(nm, "p95");
        size_t k;
        json_array_foreach(secs, k, v)
        {
            json_int_t s = json_integer_value(v);
            if (s < 0 || (size_t)s >= *n)
                continue;
            (*rps)[s] += json_number_value(json_array_get(count, k));
            double ms = json_number_value(json_array_get(p, k)) / 1000.0;
            if (ms > (*p95)[s])
                (*p95)[s] = ms;
        }
    }
}

static void name_row(wbuf *b, const json_t *n, int bold)
{
    const json_t *l = json_object_get(n, "latency_ms");
    w_adds(b, bold ? "<tr class=\"total\"><td>" : "<tr><td>");
    html(b, str(n, "name"));
    w_addf(b,
           "</td><td>%.0f</td><td>%.0f</td><td>%.1f</td><td>%.2f%%</td><td>%.2f</td>"
           "<td>%.2f</td><td>%.2f</td><td>%.2f</td></tr>\n",
           num(n, "requests"), num(n, "failures"), num(n, "rps"), 100.0 * num(n, "error_rate"),
           num(l, "p50"), num(l, "p95"), num(l, "p99"), num(l, "max"));
}

/* JSON for a data island inside HTML: '<', '>' and '&' as \u escapes, so that no text from a
 * target can close the element or open a comment. */
static void json_island(wbuf *b, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text)
        return;
    for (const char *s = text; *s; s++) {
        if (*s == '<')
            w_adds(b, "\\u003c");
        else if (*s == '>')
            w_adds(b, "\\u003e");
        else if (*s == '&')
            w_adds(b, "\\u0026");
        else
            w_addc(b, *s);
    }
    free(text);
}

int sp_export_html(const json_t *run, const json_t *series, const json_t *failures, sp_buf *dst)
{
    wbuf w = {dst, 0}, *out = &w;
    const json_t *summary = json_object_get(run, "summary");
    w_adds(out, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
    html(out, str(run, "test_name"));
    w_addf(out, " - run %lld</title>\n", (long long)json_integer_value(json_object_get(run, "id")));
    w_adds(out, "<style>body{font:14px system-ui,sans-serif;margin:2em;color:#111}"
                "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
                "padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:"
                "left}tr.total{font-weight:bold}.passed{color:#15803d}.failed,.error,"
                ".aborted{color:#b91c1c}.stopped{color:#a16207}figure{margin:1em 0}"
                "</style></head>\n<body>\n<h1>");
    html(out, str(run, "test_name"));
    w_addf(out, " &mdash; run %lld</h1>\n<p>Status: <b class=\"",
           (long long)json_integer_value(json_object_get(run, "id")));
    html(out, str(run, "status"));
    w_adds(out, "\">");
    html(out, str(run, "status"));
    w_addf(out, "</b> &middot; revision %lld &middot; %.1f s &middot; started by ",
           (long long)json_integer_value(json_object_get(run, "revision")),
           num(summary, "duration_s"));
    html(out, str(run, "started_by"));
    if (json_string_value(json_object_get(run, "error"))) {
        w_adds(out, " &middot; ");
        html(out, str(run, "error"));
    }
    w_adds(out, "</p>\n");
    const json_t *gen = json_object_get(summary, "generator");
    json_int_t stalls = json_integer_value(json_object_get(gen, "stalled_seconds"));
    if (stalls > 0)
        w_addf(out,
               "<p class=\"stall\"><b>Generator stall:</b> the load generator stalled in %lld "
               "second(s) between second %lld and %lld (longest gap %.0f ms). Latencies and "
               "missing requests in those seconds are the generator's own, not the "
               "target's.</p>\n",
               (long long)stalls, (long long)json_integer_value(json_object_get(gen, "stall_first")),
               (long long)json_integer_value(json_object_get(gen, "stall_last")),
               num(gen, "lag_ms_max"));

    double *rps = NULL, *p95 = NULL;
    size_t n = 0;
    series_points(series, &rps, &p95, &n);
    if (n) {
        svg_chart(out, "Requests per second", "req/s", rps, n);
        svg_chart(out, "p95 latency (worst request name)", "ms", p95, n);
    }
    free(rps);
    free(p95);

    w_adds(out, "<h2>Requests</h2>\n<table><tr><th>Name</th><th>Requests</th><th>Failures"
                "</th><th>RPS</th><th>Errors</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms"
                "</th><th>max ms</th></tr>\n");
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(summary, "names"), i, v) name_row(out, v, 0);
    if (json_object_get(summary, "total"))
        name_row(out, json_object_get(summary, "total"), 1);
    w_adds(out, "</table>\n");

    const json_t *verdicts = json_object_get(run, "verdicts");
    if (json_array_size(verdicts)) {
        w_adds(out, "<h2>Thresholds</h2>\n<table><tr><th>Threshold</th><th>Result</th>"
                    "<th>Measured</th></tr>\n");
        json_array_foreach(verdicts, i, v)
        {
            int ok = json_is_true(json_object_get(v, "passed"));
            w_adds(out, "<tr><td>");
            html(out, str(v, "threshold"));
            w_addf(out, "</td><td class=\"%s\">%s</td><td>%.4g</td></tr>\n",
                   ok ? "passed" : "failed", ok ? "pass" : "FAIL", num(v, "measured"));
        }
        w_adds(out, "</table>\n");
    }
    if (json_array_size(failures)) {
        w_adds(out, "<h2>Failures</h2>\n<table><tr><th>Request</th><th>Message</th>"
                    "<th>Count</th></tr>\n");
        json_array_foreach(failures, i, v)
        {
            w_adds(out, "<tr><td>");
            html(out, str(v, "name"));
            w_adds(out, "</td><td style=\"text-align:left\">");
            html(out, str(v, "message"));
            w_addf(out, "</td><td>%.0f</td></tr>\n", num(v, "count"));
        }
        w_adds(out, "</table>\n");
    }
    /* The data the page was made from, for anyone who wants to reprocess it offline. */
    w_adds(out, "<script type=\"application/json\" id=\"run-data\">");
    json_t *data = json_pack("{s:O, s:O?}", "run", run, "failures", failures); /* "O": new refs */
    if (data)
        json_island(out, data);
    json_decref(data);
    w_adds(out, "</script>\n</body></html>\n");
    return w.failed ? SP_ELIMIT : 0;
}
