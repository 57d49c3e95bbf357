/*
 * export_html.c - the HTML report of a stored run (export.h): one file that opens offline, has
 * no script and fetches nothing, prints on paper, and shows what the run page shows with the
 * same meaning: every chart of the page as inline SVG (the view the live page drew first, the
 * others one click away through CSS-only tabs), load changes marked on every chart, and the
 * tables with the units the dashboard writes (format.js): "21.91%", "412 ms", "1,043.2/s".
 *
 * Everything from a test, a target or a user is HTML-escaped; the JSON data island escapes
 * '<', '>' and '&' so that no text can close it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runs/export.h"
#include "runs/export_private.h"
#include "runs/report.h"

/* Points drawn per series at most: a day-long run is averaged (rates) or maxed (latency) into
 * this many, so the file stays small and the lines stay readable. */
#define MAX_POINTS 1200
/* Request names that get a view of their own (the busiest first); the rest are in the tables. */
#define MAX_NAME_VIEWS 20

/* ---- Text ---- */

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

/* At most max bytes of s, escaped, with "…" when cut (not inside a UTF-8 sequence). */
static void html_cut(wbuf *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        html(b, s);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    char *c = sp_strndup(s, max);
    html(b, c);
    free(c);
    w_adds(b, "&hellip;");
}

/* ---- Numbers as the dashboard writes them (web/assets/js/format.js) ---- */

/* v with thousands separators and `decimals` digits after the point. */
static void grouped(char *buf, size_t len, double v, int decimals)
{
    char raw[64];
    snprintf(raw, sizeof raw, "%.*f", decimals, fabs(v));
    const char *dot = strchr(raw, '.');
    size_t intlen = dot ? (size_t)(dot - raw) : strlen(raw);
    size_t o = 0;
    if (v < 0 && o + 1 < len)
        buf[o++] = '-';
    for (size_t i = 0; i < intlen && o + 1 < len; i++) {
        if (i && (intlen - i) % 3 == 0 && o + 1 < len)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    for (const char *p = dot; p && *p && o + 1 < len; p++)
        buf[o++] = *p;
    buf[o] = '\0';
}

/* Up to two decimals, trailing zeros dropped (Intl's maximumFractionDigits: 2). */
static void num2(char *buf, size_t len, double v)
{
    grouped(buf, len, v, 2);
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    char *end = buf + strlen(buf) - 1;
    while (end > dot && *end == '0')
        *end-- = '\0';
    if (end == dot)
        *end = '\0';
}

static void fmt_ms(char *buf, size_t len, double ms)
{
    char n[48];
    if (!isfinite(ms)) {
        snprintf(buf, len, "–");
        return;
    }
    if (ms >= 10000) {
        grouped(n, sizeof n, ms / 1000.0, 1);
        snprintf(buf, len, "%s s", n);
    } else if (ms >= 100) {
        grouped(n, sizeof n, ms, 0);
        snprintf(buf, len, "%s ms", n);
    } else if (ms >= 1) {
        grouped(n, sizeof n, ms, 1);
        snprintf(buf, len, "%s ms", n);
    } else {
        num2(n, sizeof n, ms);
        snprintf(buf, len, "%s ms", n);
    }
}

static void fmt_pct(char *buf, size_t len, double ratio)
{
    double p = ratio * 100.0;
    char n[48];
    if (p == 0)
        snprintf(buf, len, "0%%");
    else if (p < 0.1)
        snprintf(buf, len, "<0.1%%");
    else {
        num2(n, sizeof n, p);
        snprintf(buf, len, "%s%%", n);
    }
}

static void fmt_int(char *buf, size_t len, double v)
{
    grouped(buf, len, v, 0);
}

static void fmt_rate(char *buf, size_t len, double v)
{
    grouped(buf, len, v, 1);
}

static void fmt_duration(char *buf, size_t len, double s)
{
    long t = s > 0 ? lround(s) : 0;
    long hh = t / 3600, mm = (t % 3600) / 60, ss = t % 60;
    if (hh)
        snprintf(buf, len, "%ldh %02ldm %02lds", hh, mm, ss);
    else if (mm)
        snprintf(buf, len, "%ldm %02lds", mm, ss);
    else
        snprintf(buf, len, "%lds", ss);
}

/* A moment of the run: tenths of a second in the first minute ("12.5s"), then as a duration. */
static void fmt_elapsed(char *buf, size_t len, double s)
{
    if (s < 60)
        snprintf(buf, len, "%.1fs", s < 0 ? 0 : s);
    else
        fmt_duration(buf, len, s);
}

/* A threshold's measured value in its metric's unit, as the dashboard shows it. */
static void fmt_measured(char *buf, size_t len, const char *metric, double v)
{
    if (!strcmp(metric, "error_rate") || !strcmp(metric, "dropped"))
        fmt_pct(buf, len, v);
    else if (!strcmp(metric, "rps") || !strcmp(metric, "achieved_rate")) {
        char n[48];
        fmt_rate(n, sizeof n, v);
        snprintf(buf, len, "%s/s", n);
    } else
        fmt_ms(buf, len, v);
}

/* A wall-clock time with its zone, in the dashboard's one style (format.js whenFull): the
 * server's local time and its offset from UTC, "2026-05-04 16:03:12 UTC+02:00". */
static void fmt_when(char *buf, size_t len, double ms)
{
    time_t t = (time_t)(ms / 1000.0);
    struct tm tm;
    if (ms <= 0 || !localtime_r(&t, &tm)) {
        snprintf(buf, len, "–");
        return;
    }
    char day[64];
    strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    long off = tm.tm_gmtoff;
    snprintf(buf, len, "%s UTC%c%02ld:%02ld", day, off < 0 ? '-' : '+', labs(off) / 3600,
             (labs(off) % 3600) / 60);
}

/* ---- Charts: inline SVG over elapsed seconds ---- */

enum { W = 760, H = 230, PAD_L = 58, PAD_R = 14, PAD_T = 14, PAD_B = 30 };

typedef struct line {
    const char *label;
    const char *color;
    int dashed;
    double *ys; /* [n], NAN: no value (a gap) */
} line;

typedef struct marker {
    double x;          /* elapsed seconds */
    const char *label; /* e.g. "8 users" */
} marker;

/* Rounds v up to 1, 2 or 5 times a power of ten. */
static double nice_ceil(double v)
{
    if (v <= 0 || !isfinite(v))
        return 1;
    double p = pow(10, floor(log10(v)));
    double f = v / p;
    double m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return m * p;
}

/* Averages (max_mode 0) or maxes (max_mode 1) ys[0..n) into groups of step; NANs are skipped,
 * a group of only NANs stays NAN. Returns the new length. */
static size_t reduce(double *ys, size_t n, size_t step, int max_mode)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += step) {
        double acc = max_mode ? -INFINITY : 0;
        size_t k = 0;
        for (size_t j = i; j < n && j < i + step; j++) {
            if (isnan(ys[j]))
                continue;
            acc = max_mode ? fmax(acc, ys[j]) : acc + ys[j];
            k++;
        }
        ys[o++] = k ? (max_mode ? acc : acc / (double)k) : NAN;
    }
    return o;
}

static void svg_yvalue(char *buf, size_t len, double v, const char *unit)
{
    char n[48];
    if (!strcmp(unit, "ms"))
        fmt_ms(n, sizeof n, v);
    else
        num2(n, sizeof n, v);
    snprintf(buf, len, "%s", n);
}

/*
 * A line chart of lines[0..nl) over n seconds: value i is second i, drawn at x = i + 1 (the
 * end of the second, as the dashboard's charts do), on a time axis from 0 to n. Load changes
 * are dashed vertical marks labelled with the new target.
 */
static void svg_lines(wbuf *b, const char *title, const char *unit, line *lines, size_t nl,
                      size_t n, int max_mode, const marker *marks, size_t nmarks)
{
    size_t step = n > MAX_POINTS ? (n + MAX_POINTS - 1) / MAX_POINTS : 1;
    size_t m = n;
    for (size_t l = 0; l < nl; l++)
        m = reduce(lines[l].ys, n, step, max_mode);
    double max = 0;
    for (size_t l = 0; l < nl; l++)
        for (size_t i = 0; i < m; i++)
            if (!isnan(lines[l].ys[i]) && lines[l].ys[i] > max)
                max = lines[l].ys[i];
    max = nice_ceil(max * 1.05);
    const double pw = W - PAD_L - PAD_R, ph = H - PAD_T - PAD_B;
    double span = n ? (double)n : 1;
#define XPOS(sec) (PAD_L + (sec) / span * pw)
#define YPOS(v) (PAD_T + ph - (v) / max * ph)

    w_addf(b,
           "<svg class=\"chart-svg\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
           "role=\"img\" aria-label=\"",
           W, H);
    html(b, title);
    w_adds(b, "\">");
    /* Grid and y labels: five lines from 0 to max. */
    for (int g = 0; g <= 4; g++) {
        double v = max * g / 4.0, y = YPOS(v);
        char lab[48];
        svg_yvalue(lab, sizeof lab, v, unit);
        w_addf(b,
               "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
               "<text x=\"%d\" y=\"%.1f\" class=\"ylab\">%s</text>",
               PAD_L, y, W - PAD_R, y, PAD_L - 6, y + 4, lab);
    }
    /* x ticks: at most eight, on whole seconds, minutes or hours. */
    static const double steps[] = {1,   2,   5,    10,   15,   30,    60,    120,   300,
                                   600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400};
    double xs = steps[SP_ARRAY_LEN(steps) - 1];
    for (size_t i = 0; i < SP_ARRAY_LEN(steps); i++)
        if (span / steps[i] <= 8) {
            xs = steps[i];
            break;
        }
    for (double t = 0; t <= span + 1e-9; t += xs) {
        char lab[32];
        fmt_duration(lab, sizeof lab, t);
        w_addf(b,
               "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"tick\"/>"
               "<text x=\"%.1f\" y=\"%d\" class=\"xlab\">%s</text>",
               XPOS(t), PAD_T + (int)ph, XPOS(t), PAD_T + (int)ph + 4, XPOS(t), H - 10, lab);
    }
    w_addf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>", PAD_L,
           PAD_T + (int)ph, W - PAD_R, PAD_T + (int)ph);
    /* The lines, broken where a second has no value. */
    for (size_t l = 0; l < nl; l++) {
        int open = 0;
        for (size_t i = 0; i < m; i++) {
            double v = lines[l].ys[i];
            if (isnan(v)) {
                if (open)
                    w_adds(b, "\"/>");
                open = 0;
                continue;
            }
            /* A reduced point stands for the end of its group. */
            double sec = (double)((i + 1) * step < n ? (i + 1) * step : n);
            if (!open) {
                w_addf(b, "<polyline class=\"series\" stroke=\"%s\"%s points=\"", lines[l].color,
                       lines[l].dashed ? " stroke-dasharray=\"6 4\"" : "");
                open = 1;
            } else {
                w_addc(b, ' ');
            }
            w_addf(b, "%.1f,%.1f", XPOS(sec), YPOS(v));
        }
        if (open)
            w_adds(b, "\"/>");
    }
    /* Load changes. */
    for (size_t k = 0; k < nmarks; k++) {
        double x = XPOS(marks[k].x < 0 ? 0 : marks[k].x > span ? span : marks[k].x);
        w_addf(b,
               "<g class=\"load-change\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
               "<text x=\"%.1f\" y=\"%d\">",
               x, PAD_T, x, PAD_T + (int)ph, x + 3, PAD_T + 10);
        html(b, marks[k].label);
        w_adds(b, "</text></g>");
    }
    w_adds(b, "</svg>");
    /* The legend, as text. */
    w_adds(b, "<p class=\"legend\">");
    for (size_t l = 0; l < nl; l++) {
        w_addf(b, "<span><i style=\"background:%s\"></i>", lines[l].color);
        html(b, lines[l].label);
        w_adds(b, "</span>");
    }
    if (nmarks)
        w_adds(b, "<span><i class=\"mark\"></i>load change</span>");
    w_adds(b, "</p>");
#undef XPOS
#undef YPOS
}

/* A bin edge for people: "500ms", "1s". */
static void edge_text(char *buf, size_t len, double ms)
{
    if (ms >= 1000)
        snprintf(buf, len, "%gs", ms / 1000);
    else
        snprintf(buf, len, "%gms", ms);
}

/* A bar chart of one distribution: the share of requests in each bin. */
static void svg_bars(wbuf *b, const char *title, const json_t *edges, const json_t *dist)
{
    const json_t *counts = json_object_get(dist, "counts");
    size_t nbins = json_array_size(counts);
    double total = num(dist, "count");
    if (!nbins || total <= 0)
        return;
    double max = 0;
    for (size_t i = 0; i < nbins; i++)
        max = fmax(max, json_number_value(json_array_get(counts, i)) / total);
    max = nice_ceil(max);
    const double pw = W - PAD_L - PAD_R, ph = H - PAD_T - PAD_B, bw = pw / (double)nbins;
    w_addf(b,
           "<svg class=\"chart-svg\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
           "role=\"img\" aria-label=\"",
           W, H);
    html(b, title);
    w_adds(b, "\">");
    for (int g = 0; g <= 4; g++) {
        double v = max * g / 4.0, y = PAD_T + ph - v / max * ph;
        char lab[32];
        fmt_pct(lab, sizeof lab, v);
        w_addf(b,
               "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
               "<text x=\"%d\" y=\"%.1f\" class=\"ylab\">%s</text>",
               PAD_L, y, W - PAD_R, y, PAD_L - 6, y + 4, lab);
    }
    for (size_t i = 0; i < nbins; i++) {
        double share = json_number_value(json_array_get(counts, i)) / total;
        double h = share / max * ph, x = PAD_L + (double)i * bw;
        char lo[24], hi[24], pct[32];
        edge_text(lo, sizeof lo, i ? json_number_value(json_array_get(edges, i - 1)) : 0);
        edge_text(hi, sizeof hi, json_number_value(json_array_get(edges, i)));
        fmt_pct(pct, sizeof pct, share);
        w_addf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"bar\">",
               x + 2, PAD_T + ph - h, bw - 4, h);
        if (!i)
            w_addf(b, "<title>under %s: %s</title></rect>", hi, pct);
        else if (i == nbins - 1)
            w_addf(b, "<title>%s and over: %s</title></rect>", lo, pct);
        else
            w_addf(b, "<title>%s to %s: %s</title></rect>", lo, hi, pct);
        /* The edges between bars. */
        if (i)
            w_addf(b, "<text x=\"%.1f\" y=\"%d\" class=\"xlab\">%s</text>", x, H - 10, lo);
    }
    w_addf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/></svg>", PAD_L,
           PAD_T + (int)ph, W - PAD_R, PAD_T + (int)ph);
}

/* ---- Views: CSS-only tabs, the first checked ---- */

static void tab(wbuf *b, const char *group, size_t i, const char *label, int checked)
{
    w_addf(b, "<input type=\"radio\" name=\"%s\" id=\"%s-%zu\"%s><label for=\"%s-%zu\">", group,
           group, i, checked ? " checked" : "", group, i);
    html_cut(b, label, 48);
    w_adds(b, "</label><div class=\"panel\">");
}

/* ---- The series as columns ---- */

typedef struct cols {
    size_t n;                                 /* seconds 0..n-1 */
    double *rps, *errors;                     /* over every name */
    double *p50, *p95, *p99;                  /* all requests (ticks); NAN when not stored */
    double *vus, *target_vus;                 /* gauges */
    double *target_rate, *arrivals, *dropped; /* open model */
    int have_total_latency;                   /* recorded since schema version 7 */
} cols;

static double *nans(size_t n)
{
    double *a = sp_malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = NAN;
    return a;
}

/* The value at k of a column of the store's series (null or missing: NAN). */
static double at(const json_t *o, const char *key, size_t k)
{
    const json_t *v = json_array_get(json_object_get(o, key), k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void cols_free(cols *c)
{
    double *all[] = {c->rps, c->errors,     c->p50,         c->p95,      c->p99,
                     c->vus, c->target_vus, c->target_rate, c->arrivals, c->dropped};
    for (size_t i = 0; i < SP_ARRAY_LEN(all); i++)
        free(all[i]);
    memset(c, 0, sizeof *c);
}

static void cols_of(const json_t *series, cols *c)
{
    memset(c, 0, sizeof *c);
    const json_t *ticks = json_object_get(series, "ticks");
    json_int_t last = -1;
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(ticks, "second"), i, v) if (json_integer_value(v) > last)
        last = json_integer_value(v);
    const json_t *nm;
    json_array_foreach(json_object_get(series, "names"), i, nm)
    {
        size_t k;
        json_array_foreach(json_object_get(nm, "second"), k, v) if (json_integer_value(v) > last)
            last = json_integer_value(v);
    }
    if (last < 0 || last > 7 * 86400)
        return;
    size_t n = c->n = (size_t)last + 1;
    c->rps = nans(n), c->errors = nans(n), c->p50 = nans(n), c->p95 = nans(n), c->p99 = nans(n);
    c->vus = nans(n), c->target_vus = nans(n), c->target_rate = nans(n), c->arrivals = nans(n);
    c->dropped = nans(n);
    json_array_foreach(json_object_get(ticks, "second"), i, v)
    {
        json_int_t s = json_integer_value(v);
        if (s < 0 || (size_t)s >= n)
            continue;
        c->vus[s] = at(ticks, "active_vus", i);
        c->target_vus[s] = at(ticks, "target_vus", i);
        c->dropped[s] = at(ticks, "dropped", i);
        c->target_rate[s] = at(ticks, "target_rate", i);
        c->arrivals[s] = at(ticks, "arrivals", i);
        c->p50[s] = at(ticks, "p50", i) / 1000.0;
        c->p95[s] = at(ticks, "p95", i) / 1000.0;
        c->p99[s] = at(ticks, "p99", i) / 1000.0;
        if (!isnan(c->p95[s]))
            c->have_total_latency = 1;
        c->rps[s] = 0;
        c->errors[s] = 0;
    }
    json_array_foreach(json_object_get(series, "names"), i, nm)
    {
        size_t k;
        json_array_foreach(json_object_get(nm, "second"), k, v)
        {
            json_int_t s = json_integer_value(v);
            if (s < 0 || (size_t)s >= n)
                continue;
            c->rps[s] = (isnan(c->rps[s]) ? 0 : c->rps[s]) + at(nm, "count", k);
            c->errors[s] = (isnan(c->errors[s]) ? 0 : c->errors[s]) + at(nm, "errors", k);
        }
    }
}

/* One name's p50/p95/p99 (ms) over n seconds; without one, per second the slowest name's (the
 * report of a run recorded before the stored total). */
static void name_latency(const json_t *series, const char *name, size_t n, double *p50, double *p95,
                         double *p99)
{
    size_t i;
    const json_t *nm, *v;
    json_array_foreach(json_object_get(series, "names"), i, nm)
    {
        if (name && strcmp(str(nm, "name"), name) != 0)
            continue;
        size_t k;
        json_array_foreach(json_object_get(nm, "second"), k, v)
        {
            json_int_t s = json_integer_value(v);
            if (s < 0 || (size_t)s >= n)
                continue;
            double a = at(nm, "p50", k) / 1000, b2 = at(nm, "p95", k) / 1000,
                   c = at(nm, "p99", k) / 1000;
            p50[s] = isnan(p50[s]) ? a : fmax(p50[s], a);
            p95[s] = isnan(p95[s]) ? b2 : fmax(p95[s], b2);
            p99[s] = isnan(p99[s]) ? c : fmax(p99[s], c);
        }
    }
}

static double *copy(const double *a, size_t n)
{
    double *c = sp_malloc((n ? n : 1) * sizeof *c);
    memcpy(c, a, n * sizeof *c);
    return c;
}

/* ---- Sections ---- */

static const char *const STYLE =
    "<style>"
    ":root{--text:#1f2933;--muted:#616e7c;--border:#e1e5ea;--good:#2f855a;--bad:#c53030;"
    "--warn:#a86a0b;--primary:#2f5fb3}"
    "*{box-sizing:border-box}"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:var(--text);margin:0 auto;padding:24px;max-width:1100px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px "
    "solid var(--border);padding-bottom:4px}h3{font-size:14px;margin:16px 0 4px}"
    ".verdict{font-size:15px;margin:4px 0 12px}"
    ".badge{display:inline-block;padding:1px 10px;border-radius:999px;font-weight:600;"
    "background:#eef0f3}.st-passed{background:#e6f4ec;color:var(--good)}"
    ".st-failed,.st-error,.st-incomplete{background:#fbeaea;color:var(--bad)}"
    ".st-stopped,.st-aborted,.st-degraded{background:#fdf3e1;color:var(--warn)}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}"
    "dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}"
    ".tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px;"
    "margin:16px 0}.tile{border:1px solid var(--border);border-radius:8px;padding:8px 12px}"
    ".tile strong{display:block;font-size:20px;font-variant-numeric:tabular-nums}"
    ".tile span{color:var(--muted);font-size:12px}"
    ".note{border:1px solid #f2d9a8;background:#fdf3e1;color:#6e4607;border-radius:6px;"
    "padding:8px 12px;margin:8px 0}.note.bad{border-color:#f3c5c5;background:#fbeaea;"
    "color:#7d1f1f}"
    "figure{margin:16px 0;break-inside:avoid}figcaption{font-weight:600;margin-bottom:4px}"
    ".chart-svg{width:100%;height:auto;display:block}"
    ".chart-svg .grid{stroke:#eef0f3}.chart-svg .axis,.chart-svg .tick{stroke:#cbd2d9}"
    ".chart-svg text{font-size:11px;fill:var(--muted)}.chart-svg .ylab{text-anchor:end}"
    ".chart-svg .xlab{text-anchor:middle}"
    ".chart-svg .series{fill:none;stroke-width:1.75;stroke-linejoin:round}"
    ".chart-svg .bar{fill:#2f6fde}"
    ".load-change line{stroke:#9b59b6;stroke-width:1.5;stroke-dasharray:4 3}"
    ".load-change text{fill:#6b3d80;font-weight:600}"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:4px 0 0;font-size:12px;"
    "color:var(--muted)}.legend i{display:inline-block;width:14px;height:3px;"
    "vertical-align:middle;margin-right:6px}.legend i.mark{background:none;border-top:2px "
    "dashed #9b59b6}"
    ".tabs{display:flex;flex-wrap:wrap;gap:4px}.tabs>input{position:absolute;opacity:0;"
    "width:1px;height:1px}.tabs>label{order:0;padding:3px 10px;border:1px solid "
    "var(--border);border-radius:999px;cursor:pointer;font-size:12px;max-width:100%;"
    "overflow-wrap:anywhere}.tabs>input:checked+label{background:#e8effb;color:var(--primary);"
    "border-color:#c5d5f0;font-weight:600}.tabs>input:focus-visible+label{outline:2px solid "
    "var(--primary);outline-offset:2px}.tabs>.panel{order:1;flex-basis:100%;display:none}"
    ".tabs>input:checked+label+.panel{display:block}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;margin:4px 0}td,th{border-bottom:1px solid "
    "var(--border);padding:5px 8px;text-align:right;font-variant-numeric:tabular-nums}"
    "td:first-child,th:first-child{text-align:left;overflow-wrap:anywhere}"
    "th{font-size:12px;color:var(--muted);font-weight:600}tr.total td{font-weight:600}"
    "td.msg{text-align:left;white-space:pre-wrap;overflow-wrap:anywhere;font-family:"
    "ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}"
    ".pass{color:var(--good);font-weight:600}.fail{color:var(--bad);font-weight:600}"
    ".muted{color:var(--muted)}"
    "@media (max-width:600px){body{padding:12px}dl.facts{grid-template-columns:1fr}"
    "dl.facts dd{margin-bottom:6px}}"
    "@media print{body{padding:0;max-width:none;font-size:11px}h2{break-after:avoid}"
    ".tabs>label{display:none}.tabs>input:checked+label{display:block;border:0;padding:0}"
    "table,figure,.note{break-inside:avoid}.scroll{overflow:visible}"
    "a{color:inherit;text-decoration:none}}"
    "</style>";

static const char *status_label(const char *st)
{
    static const char *const k[][2] = {
        {"queued", "Queued"}, {"running", "Running"},       {"passed", "Passed"},
        {"failed", "Failed"}, {"stopped", "Stopped"},       {"aborted", "Aborted"},
        {"error", "Error"},   {"incomplete", "Incomplete"}, {"degraded", "Degraded"}};
    for (size_t i = 0; i < SP_ARRAY_LEN(k); i++)
        if (!strcmp(st, k[i][0]))
            return k[i][1];
    return st;
}

/* The load profile in words: "closed model: 5 users for 10s, then to 20 users over 30s". */
static void load_text(wbuf *b, const json_t *load)
{
    const char *unit = str(load, "unit");
    int open = !strcmp(str(load, "model"), "open");
    w_adds(b, open ? "open model" : "closed model");
    if (open)
        w_addf(b, " (up to %.0f VUs)", num(load, "max_vus"));
    w_adds(b, ": ");
    double prev = 0;
    size_t i, parts = 0;
    const json_t *st;
    const json_t *stages = json_object_get(load, "stages");
    json_array_foreach(stages, i, st)
    {
        char d[32], t[48];
        fmt_duration(d, sizeof d, num(st, "duration_s"));
        num2(t, sizeof t, num(st, "target"));
        /* A jump that the next stage holds reads as the hold: "3 users for 6s". */
        const json_t *next = json_array_get(stages, i + 1);
        if (num(st, "duration_s") <= 0 && next && num(next, "target") == num(st, "target")) {
            prev = num(st, "target");
            continue;
        }
        if (parts++)
            w_adds(b, ", then ");
        if (num(st, "duration_s") <= 0)
            w_addf(b, "jump to %s %s", t, unit);
        else if (num(st, "target") == prev)
            w_addf(b, "%s %s for %s", t, unit, d);
        else
            w_addf(b, "to %s %s over %s", t, unit, d);
        prev = num(st, "target");
    }
    const json_t *sw = json_object_get(load, "stop_when");
    if (sw) {
        w_adds(b, "; stops when ");
        json_array_foreach(json_object_get(sw, "any"), i, st)
        {
            if (i)
                w_adds(b, " or ");
            html(b, json_string_value(st) ? json_string_value(st) : "");
        }
        w_addf(b, " over %.0fs", num(sw, "window_s"));
    }
}

static void overrides_text(wbuf *b, const json_t *o)
{
    if (!json_is_object(o) || !json_object_size(o))
        return;
    w_adds(b, " <span class=\"muted\">(started with ");
    const char *key;
    json_t *v;
    int first = 1;
    json_object_foreach((json_t *)o, key, v)
    {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        w_adds(b, first ? "" : ", ");
        html(b, key);
        w_adds(b, " ");
        html_cut(b, t ? t : "", 200);
        free(t);
        first = 0;
    }
    w_adds(b, ")</span>");
}

static void change_label(char *buf, size_t len, const json_t *c, const char *unit)
{
    char t[48];
    num2(t, sizeof t, num(c, "target"));
    snprintf(buf, len, "%s %s", t, unit);
}

static void facts(wbuf *b, const json_t *run, const json_t *summary)
{
    const json_t *load = json_object_get(summary, "load");
    const char *unit = load ? str(load, "unit") : "";
    char when[96], dur[32];
    w_adds(b, "<dl class=\"facts\"><dt>Test</dt><dd>");
    html(b, str(run, "test_name"));
    w_addf(b, ", revision %lld</dd>",
           (long long)json_integer_value(json_object_get(run, "revision")));
    if (json_string_value(json_object_get(summary, "base_url"))) {
        w_adds(b, "<dt>Base URL</dt><dd>");
        html(b, str(summary, "base_url"));
        w_adds(b, "</dd>");
    }
    w_adds(b, "<dt>Load</dt><dd>");
    if (load)
        load_text(b, load);
    else
        w_adds(b, "<span class=\"muted\">not recorded</span>");
    overrides_text(b, json_object_get(run, "overrides"));
    w_adds(b, "</dd>");
    const json_t *changes = json_object_get(run, "load_changes");
    if (json_array_size(changes)) {
        w_adds(b, "<dt>Load changes</dt><dd>");
        size_t i;
        const json_t *c;
        json_array_foreach(changes, i, c)
        {
            char lab[96], at_s[32];
            change_label(lab, sizeof lab, c, unit[0] ? unit : "");
            fmt_elapsed(at_s, sizeof at_s, num(c, "elapsed_ms") / 1000.0);
            w_addf(b, "%sat %s: %s", i ? "; " : "", at_s, lab);
            if (num(c, "ramp_ms") > 0) {
                fmt_duration(at_s, sizeof at_s, num(c, "ramp_ms") / 1000.0);
                w_addf(b, " over %s", at_s);
            }
            if (json_string_value(json_object_get(c, "by"))) {
                w_adds(b, " (by ");
                html(b, str(c, "by"));
                w_adds(b, ")");
            }
        }
        w_adds(b, "</dd>");
    }
    w_adds(b, "<dt>Started by</dt><dd>");
    html(b, json_string_value(json_object_get(run, "started_by")) ? str(run, "started_by") : "–");
    if (strcmp(str(run, "origin"), "scheduled") == 0) {
        char fire[40];
        sp_report_iso_utc(json_integer_value(json_object_get(run, "fire_at")), fire, sizeof fire);
        w_addf(b,
               " &middot; <span class=\"origin\">scheduled</span> (schedule %lld, fire time %s%s)",
               (long long)json_integer_value(json_object_get(run, "schedule_id")), fire,
               json_is_true(json_object_get(run, "fire_missed"))
                   ? ", missed while the server was down and run at its next start"
                   : "");
    }
    double started = num(run, "started_at") > 0 ? num(run, "started_at") : num(run, "created_at");
    fmt_when(when, sizeof when, started);
    w_addf(b, "</dd><dt>Started</dt><dd>%s</dd>", when);
    if (num(run, "ended_at") > 0) {
        fmt_when(when, sizeof when, num(run, "ended_at"));
        w_addf(b, "<dt>Ended</dt><dd>%s</dd>", when);
    }
    if (summary) {
        fmt_duration(dur, sizeof dur, num(summary, "duration_s"));
        w_addf(b, "<dt>Duration</dt><dd>%s</dd>", dur);
    }
    if (json_string_value(json_object_get(summary, "host"))) {
        w_adds(b, "<dt>Load generator</dt><dd>");
        html(b, str(summary, "host"));
        w_adds(b, "</dd>");
    }
    w_adds(b, "</dl>\n");
}

static void notes(wbuf *b, const json_t *run, const json_t *summary)
{
    if (json_string_value(json_object_get(run, "error"))) {
        w_adds(b, "<p class=\"note bad\"><strong>");
        const char *st = str(run, "status");
        /* A degraded run names the agents it lost, their location and second, here. */
        w_adds(b, !strcmp(st, "aborted")      ? "Aborted"
                  : !strcmp(st, "incomplete") ? "Incomplete results"
                  : !strcmp(st, "degraded")   ? "Degraded"
                                              : "Error");
        w_adds(b, ":</strong> ");
        html(b, str(run, "error"));
        w_adds(b, "</p>\n");
    }
    const json_t *gen = json_object_get(summary, "generator");
    json_int_t stalls = json_integer_value(json_object_get(gen, "stalled_seconds"));
    if (stalls > 0) {
        char lag[48];
        fmt_ms(lag, sizeof lag, num(gen, "lag_ms_max"));
        w_addf(b,
               "<p class=\"note stall\"><strong>Generator stall:</strong> the load generator "
               "stalled in %lld "
               "second(s) between second %lld and %lld (longest gap %s). Latencies and missing "
               "requests in those seconds are the generator's own, not the target's.</p>\n",
               (long long)stalls,
               (long long)json_integer_value(json_object_get(gen, "stall_first")),
               (long long)json_integer_value(json_object_get(gen, "stall_last")), lag);
    }
    const json_t *om = json_object_get(summary, "open_model");
    if (json_is_true(json_object_get(om, "generator_limited")))
        w_adds(b, "<p class=\"note\"><strong>The load generator, not the target, limited this "
                  "run:</strong> "
                  "its timers fired late, so the target saw less load than planned.</p>\n");
    else if (json_is_true(json_object_get(om, "target_saturated"))) {
        char pct[32];
        fmt_pct(pct, sizeof pct, num(om, "dropped_share"));
        w_addf(b,
               "<p class=\"note\"><strong>The target was saturated:</strong> all %.0f VUs were "
               "busy waiting "
               "on its responses, so %.0f arrivals (%s) were dropped while the generator kept its "
               "schedule.</p>\n",
               num(om, "max_vus"), num(om, "dropped"), pct);
    }
    const json_t *brk = json_object_get(summary, "broke");
    if (brk) {
        w_addf(b, "<p class=\"note\"><strong>Broke at %g %s in second %lld:</strong> ",
               num(brk, "load"), str(brk, "load_unit"),
               (long long)json_integer_value(json_object_get(brk, "second")));
        html(b, str(brk, "condition"));
        w_adds(b, " (measured ");
        html(b, str(brk, "measured_text"));
        w_adds(b, "); the run was stopped there.</p>\n");
    }
    json_int_t unaccepted = json_integer_value(json_object_get(summary, "failed_requests_fail"));
    if (unaccepted > 0)
        w_addf(b,
               "<p class=\"note bad\">%lld requests failed and the test has no thresholds: "
               "<code>stampede run</code> and <code>stampede remote run</code> exit 1 for it "
               "(unless <code>--allow-failures</code>).</p>\n",
               (long long)unaccepted);
    /* The run against its baseline, when its start asked for one (the CI gate,
     * runs/runs.c): the comparison's verdict and each significant regression. */
    const json_t *gate = json_object_get(run, "baseline");
    const char *verdict = json_string_value(json_object_get(gate, "verdict"));
    if (verdict) {
        w_adds(b, "<p class=\"note compare\"><strong>Against the baseline");
        if (json_is_integer(json_object_get(gate, "run_id")))
            w_addf(b, " (run %lld)",
                   (long long)json_integer_value(json_object_get(gate, "run_id")));
        w_adds(b, ":</strong> ");
        html(b, verdict);
        if (json_is_true(json_object_get(gate, "failed_run")))
            w_adds(b, " &middot; the run failed on it (fail_on_regression)");
        const json_t *regs = json_object_get(gate, "regressions");
        size_t i;
        const json_t *reg;
        json_array_foreach(regs, i, reg)
        {
            char text[512];
            sp_report_regression_line(reg, text, sizeof text);
            w_adds(b, "<br>regression: ");
            html(b, text);
        }
        w_adds(b, "</p>\n");
    }
}

static void tile(wbuf *b, const char *label, const char *value)
{
    w_addf(b, "<div class=\"tile\"><span>%s</span><strong>%s</strong></div>", label, value);
}

static void tiles(wbuf *b, const json_t *summary)
{
    const json_t *t = json_object_get(summary, "total");
    if (!t)
        return;
    const json_t *l = json_object_get(t, "latency_ms");
    char v[64], p[32], f[128];
    w_adds(b, "<div class=\"tiles\">");
    fmt_duration(v, sizeof v, num(summary, "duration_s"));
    tile(b, "Duration", v);
    fmt_int(v, sizeof v, num(t, "requests"));
    tile(b, "Requests", v);
    fmt_rate(v, sizeof v, num(t, "rps"));
    tile(b, "Requests/s", v);
    fmt_int(v, sizeof v, num(t, "failures"));
    fmt_pct(p, sizeof p, num(t, "error_rate"));
    snprintf(f, sizeof f, "%s (%s)", v, p);
    tile(b, "Failures", f);
    fmt_ms(v, sizeof v, num(l, "p95"));
    tile(b, "p95", v);
    fmt_ms(v, sizeof v, num(l, "p99"));
    tile(b, "p99", v);
    w_adds(b, "</div>\n");
}

/* Load changes as chart marks; labels point into lab (kept by the caller). */
static size_t marks_of(const json_t *run, const json_t *summary, marker *m, char (*lab)[64],
                       size_t max)
{
    const json_t *load = json_object_get(summary, "load");
    const char *unit = load ? str(load, "unit") : "";
    size_t n = 0, i;
    const json_t *c;
    json_array_foreach(json_object_get(run, "load_changes"), i, c)
    {
        if (n == max)
            break;
        change_label(lab[n], sizeof lab[n], c, unit);
        m[n].x = num(c, "elapsed_ms") / 1000.0;
        m[n].label = lab[n];
        n++;
    }
    return n;
}

static const char *const LAT_COLORS[] = {"#2f9e6b", "#2f6fde", "#e07b39"};

static void chart_latency(wbuf *b, const json_t *series, const cols *c, const marker *mk,
                          size_t nmk)
{
    w_adds(b, "<figure><figcaption>Response time (ms)</figcaption><div class=\"tabs\">");
    /* The first view is the live page's: p50, p95 and p99 of all requests, each second. */
    double *a = copy(c->p50, c->n), *p = copy(c->p95, c->n), *q = copy(c->p99, c->n);
    const char *first = "All requests";
    if (!c->have_total_latency) {
        /* A run recorded before the total was stored: the slowest name each second. */
        for (size_t i = 0; i < c->n; i++)
            a[i] = p[i] = q[i] = NAN;
        name_latency(series, NULL, c->n, a, p, q);
        first = "Slowest request name each second";
    }
    line ls[3] = {
        {"p50", LAT_COLORS[0], 0, a}, {"p95", LAT_COLORS[1], 0, p}, {"p99", LAT_COLORS[2], 0, q}};
    tab(b, "lat", 0, first, 1);
    svg_lines(b, first, "ms", ls, 3, c->n, 1, mk, nmk);
    w_adds(b, "</div>");
    free(a), free(p), free(q);
    /* Each request name, the busiest first. */
    size_t i, views = 0;
    const json_t *nm;
    json_array_foreach(json_object_get(series, "names"), i, nm)
    {
        if (views == MAX_NAME_VIEWS)
            break;
        if (!json_array_size(json_object_get(nm, "second")))
            continue;
        a = nans(c->n), p = nans(c->n), q = nans(c->n);
        name_latency(series, str(nm, "name"), c->n, a, p, q);
        line nl[3] = {{"p50", LAT_COLORS[0], 0, a},
                      {"p95", LAT_COLORS[1], 0, p},
                      {"p99", LAT_COLORS[2], 0, q}};
        tab(b, "lat", ++views, str(nm, "name"), 0);
        svg_lines(b, str(nm, "name"), "ms", nl, 3, c->n, 1, mk, nmk);
        w_adds(b, "</div>");
        free(a), free(p), free(q);
    }
    w_adds(b, "</div></figure>\n");
}

static void charts(wbuf *b, const json_t *run, const json_t *series, const json_t *summary,
                   const json_t *dist)
{
    cols c;
    cols_of(series, &c);
    if (!c.n)
        return;
    marker mk[32];
    char lab[32][64];
    size_t nmk = marks_of(run, summary, mk, lab, SP_ARRAY_LEN(mk));
    int open = json_object_get(summary, "open_model") != NULL ||
               !strcmp(str(json_object_get(summary, "load"), "model"), "open");
    w_adds(b, "<h2>Charts</h2>\n");

    double *y = copy(c.rps, c.n);
    line rps = {"Requests/s", "#2f6fde", 0, y};
    w_adds(b, "<figure><figcaption>Requests per second</figcaption>");
    svg_lines(b, "Requests per second", "/s", &rps, 1, c.n, 0, mk, nmk);
    w_adds(b, "</figure>\n");
    free(y);

    chart_latency(b, series, &c, mk, nmk);

    y = copy(c.errors, c.n);
    line err = {"Errors/s", "#d64545", 0, y};
    w_adds(b, "<figure><figcaption>Errors per second</figcaption>");
    svg_lines(b, "Errors per second", "/s", &err, 1, c.n, 0, mk, nmk);
    w_adds(b, "</figure>\n");
    free(y);

    if (open) {
        double *t = copy(c.target_rate, c.n), *a = copy(c.arrivals, c.n), *d = copy(c.dropped, c.n);
        line ls[3] = {{"Target rate", "#9b59b6", 1, t},
                      {"Achieved", "#2f6fde", 0, a},
                      {"Dropped", "#d64545", 0, d}};
        w_adds(b, "<figure><figcaption>Arrival rate (open model, per second)</figcaption>");
        svg_lines(b, "Arrival rate", "/s", ls, 3, c.n, 0, mk, nmk);
        w_adds(b, "</figure>\n");
        free(t), free(a), free(d);
        double *v = copy(c.vus, c.n);
        line busy = {"Busy VUs", "#5d6d7e", 0, v};
        w_adds(b, "<figure><figcaption>Busy virtual users</figcaption>");
        svg_lines(b, "Busy virtual users", "", &busy, 1, c.n, 0, mk, nmk);
        w_adds(b, "</figure>\n");
        free(v);
    } else {
        double *v = copy(c.vus, c.n), *t = copy(c.target_vus, c.n);
        line ls[2] = {{"Active VUs", "#5d6d7e", 0, v}, {"Target", "#9b59b6", 1, t}};
        w_adds(b, "<figure><figcaption>Virtual users</figcaption>");
        svg_lines(b, "Virtual users", "", ls, 2, c.n, 0, mk, nmk);
        w_adds(b, "</figure>\n");
        free(v), free(t);
    }

    const json_t *edges = json_object_get(dist, "bins_ms");
    if (json_is_object(json_object_get(dist, "total"))) {
        w_adds(b, "<figure><figcaption>Response-time distribution (share of requests)"
                  "</figcaption><div class=\"tabs\">");
        tab(b, "dist", 0, "All requests", 1);
        svg_bars(b, "All requests", edges, json_object_get(dist, "total"));
        w_adds(b, "</div>");
        size_t i;
        const json_t *d;
        json_array_foreach(json_object_get(dist, "names"), i, d)
        {
            if (i == MAX_NAME_VIEWS)
                break;
            tab(b, "dist", i + 1, str(d, "name"), 0);
            svg_bars(b, str(d, "name"), edges, d);
            w_adds(b, "</div>");
        }
        w_adds(b, "</div></figure>\n");
    }
    cols_free(&c);
}

static void name_row(wbuf *b, const json_t *n, int total)
{
    const json_t *l = json_object_get(n, "latency_ms");
    char r[48], rps[48], f[48], pc[32], p50[32], p95[32], p99[32], mx[32];
    fmt_int(r, sizeof r, num(n, "requests"));
    fmt_rate(rps, sizeof rps, num(n, "rps"));
    fmt_int(f, sizeof f, num(n, "failures"));
    fmt_pct(pc, sizeof pc, num(n, "error_rate"));
    fmt_ms(p50, sizeof p50, num(l, "p50"));
    fmt_ms(p95, sizeof p95, num(l, "p95"));
    fmt_ms(p99, sizeof p99, num(l, "p99"));
    fmt_ms(mx, sizeof mx, num(l, "max"));
    w_adds(b, total ? "<tr class=\"total\"><td>" : "<tr><td>");
    /* A group counts whole runs of its steps, beside the requests inside it. */
    if (!strcmp(str(n, "kind"), "group"))
        w_adds(b, "<i class=\"group\">group</i> ");
    html(b, str(n, "name"));
    w_addf(b,
           "</td><td>%s</td><td>%s</td><td>%s (%s)</td><td>%s</td><td>%s</td><td>%s</td>"
           "<td>%s</td></tr>\n",
           r, rps, f, pc, p50, p95, p99, mx);
}

static void counts_table(wbuf *b, const char *title, const char *key_head, const json_t *obj,
                         double total, int status)
{
    w_addf(b, "<h3>%s</h3>", title);
    if (!json_object_size(obj)) {
        w_adds(b, "<p class=\"muted\">None.</p>\n");
        return;
    }
    w_addf(b, "<table><tr><th>%s</th><th>Count</th><th>Share</th></tr>\n", key_head);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        char n[48], p[32];
        fmt_int(n, sizeof n, json_number_value(v));
        fmt_pct(p, sizeof p, total > 0 ? json_number_value(v) / total : 0);
        w_adds(b, "<tr><td>");
        if (status && !strcmp(key, "0"))
            w_adds(b, "no response");
        else
            html(b, key);
        w_addf(b, "</td><td>%s</td><td>%s</td></tr>\n", n, p);
    }
    w_adds(b, "</table>\n");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One row of the per-location table: a location (strong) or a request name within it. */
static void loc_row(wbuf *b, const char *label, const json_t *f, int location)
{
    char r[48], fl[48], p50[32], p95[32], p99[32];
    fmt_int(r, sizeof r, num(f, "requests"));
    fmt_int(fl, sizeof fl, num(f, "failures"));
    fmt_ms(p50, sizeof p50, num(f, "p50_ms"));
    fmt_ms(p95, sizeof p95, num(f, "p95_ms"));
    fmt_ms(p99, sizeof p99, num(f, "p99_ms"));
    w_adds(b, location ? "<tr class=\"loc\"><td><strong>" : "<tr class=\"loc-name\"><td>&emsp;");
    html(b, label);
    w_addf(b, "%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
           location ? "</strong>" : "", r, fl, p50, p95, p99);
}

/* A run across locations (docs/distributed.md): its figures per location and per request name
 * within each, and each agent's generator health with the bottleneck named. Nothing for a run
 * on the server's own engine. */
static void locations(wbuf *b, const json_t *summary)
{
    const json_t *locs = json_object_get(summary, "locations");
    if (!json_object_size(locs))
        return;
    w_adds(b, "<h2>Per location</h2>\n<div class=\"scroll\"><table class=\"locations\"><tr>"
              "<th>Location / request name</th><th>Requests</th><th>Failures</th><th>p50</th>"
              "<th>p95</th><th>p99</th></tr>\n");
    /* Jansson keeps insertion order; the table is sorted so two exports read alike. */
    const char **keys = sp_calloc(json_object_size(locs), sizeof *keys);
    size_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)locs, key, v) keys[n++] = key;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 0; i < n; i++) {
        const json_t *loc = json_object_get(locs, keys[i]);
        loc_row(b, keys[i], loc, 1);
        const json_t *names = json_object_get(loc, "names");
        const char **nk = sp_calloc(json_object_size(names) + 1, sizeof *nk);
        size_t m = 0;
        json_object_foreach((json_t *)names, key, v) nk[m++] = key;
        qsort(nk, m, sizeof *nk, cmp_str);
        for (size_t k = 0; k < m; k++)
            loc_row(b, nk[k], json_object_get(names, nk[k]), 0);
        free(nk);
    }
    free(keys);
    w_adds(b, "</table></div>\n");

    const json_t *agents = json_object_get(summary, "agents");
    if (!json_array_size(agents))
        return;
    w_adds(b, "<h3>Agents</h3>\n<div class=\"scroll\"><table class=\"agents\"><tr><th>Agent</th>"
              "<th>Location</th><th>CPU (peak)</th><th>Timer lag (max)</th><th>Dropped</th>"
              "<th>Bottleneck</th></tr>\n");
    size_t i;
    json_array_foreach(agents, i, v)
    {
        char cpu[32], lag[32], dr[48];
        /* cpu is in percent of one core, summed over the agent's threads. */
        snprintf(cpu, sizeof cpu, "%.0f%%", num(v, "cpu"));
        fmt_ms(lag, sizeof lag, num(v, "lag_ms_max"));
        fmt_int(dr, sizeof dr, num(v, "dropped"));
        w_adds(b, "<tr><td>");
        html(b, str(v, "name"));
        w_adds(b, "</td><td>");
        html(b, str(v, "location"));
        w_addf(b, "</td><td>%s</td><td>%s</td><td>%s</td><td>", cpu, lag, dr);
        const char *why = json_string_value(json_object_get(v, "bottleneck"));
        if (why) {
            w_adds(b, "<strong class=\"bad\">this agent (");
            html(b, why);
            w_adds(b, ")</strong>");
        } else {
            w_adds(b, "&ndash;");
        }
        w_adds(b, "</td></tr>\n");
    }
    w_adds(b, "</table></div>\n");
}

static void tables(wbuf *b, const json_t *run, const json_t *summary, const json_t *failures)
{
    size_t i;
    const json_t *v;
    w_adds(b, "<h2>Requests</h2>\n<div class=\"scroll\"><table><tr><th>Request name</th>"
              "<th>Requests</th><th>RPS</th><th>Failures</th><th>p50</th><th>p95</th>"
              "<th>p99</th><th>Max</th></tr>\n");
    json_array_foreach(json_object_get(summary, "names"), i, v) if (num(v, "requests") > 0)
        name_row(b, v, 0);
    if (json_object_get(summary, "total"))
        name_row(b, json_object_get(summary, "total"), 1);
    w_adds(b, "</table></div>\n");
    locations(b, summary);

    const json_t *verdicts = json_object_get(run, "verdicts");
    w_adds(b, "<h2>Thresholds</h2>\n");
    if (!json_array_size(verdicts)) {
        w_adds(b, "<p class=\"muted\">This test has no thresholds.</p>\n");
    } else {
        w_adds(b, "<div class=\"scroll\"><table><tr><th>Threshold</th><th>Result</th>"
                  "<th>Measured</th></tr>\n");
        json_array_foreach(verdicts, i, v)
        {
            int ok = json_is_true(json_object_get(v, "passed"));
            char m[48];
            fmt_measured(m, sizeof m, str(v, "metric"), num(v, "measured"));
            w_adds(b, "<tr><td>");
            html(b, str(v, "threshold"));
            w_addf(b, "</td><td class=\"%s\">%s</td><td>%s</td></tr>\n", ok ? "pass" : "fail",
                   ok ? "✓ holds" : "✗ missed", m);
        }
        w_adds(b, "</table></div>\n");
    }

    const json_t *t = json_object_get(summary, "total");
    w_adds(b, "<h2>Responses and failures</h2>\n");
    counts_table(b, "Status codes", "Status", json_object_get(t, "status"), num(t, "requests"), 1);
    counts_table(b, "Error kinds", "Kind", json_object_get(t, "errors"), num(t, "requests"), 0);
    w_adds(b, "<h3>Failure messages</h3>\n");
    if (!json_array_size(failures)) {
        w_adds(b, "<p class=\"muted\">No failures.</p>\n");
        return;
    }
    w_adds(b, "<div class=\"scroll\"><table><tr><th>Request name</th><th>Message</th>"
              "<th>Count</th></tr>\n");
    json_array_foreach(failures, i, v)
    {
        char n[48];
        fmt_int(n, sizeof n, num(v, "count"));
        w_adds(b, "<tr><td>");
        html(b, str(v, "name"));
        w_adds(b, "</td><td class=\"msg\">");
        html(b, str(v, "message"));
        w_addf(b, "</td><td>%s</td></tr>\n", n);
    }
    w_adds(b, "</table></div>\n");
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

int sp_export_html(const json_t *run, const json_t *series, const json_t *failures,
                   const json_t *dist, sp_buf *dst)
{
    wbuf w = {dst, 0}, *out = &w;
    const json_t *summary = json_object_get(run, "summary");
    long long id = (long long)json_integer_value(json_object_get(run, "id"));
    w_adds(out,
           "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    html(out, str(run, "test_name"));
    w_addf(out, " &mdash; run %lld</title>\n", id);
    w_adds(out, STYLE);
    w_adds(out, "</head>\n<body>\n<header><h1>");
    html(out, str(run, "test_name"));
    w_addf(out, " &mdash; run %lld</h1>\n<p class=\"verdict\"><span class=\"badge st-", id);
    html(out, str(run, "status"));
    w_adds(out, "\">");
    html(out, status_label(str(run, "status")));
    w_adds(out, "</span></p>\n");
    facts(out, run, summary);
    w_adds(out, "</header>\n");
    notes(out, run, summary);
    tiles(out, summary);
    charts(out, run, series, summary, dist);
    tables(out, run, summary, failures);
    /* The data the page was made from, for anyone who wants to reprocess it offline. */
    w_adds(out, "<script type=\"application/json\" id=\"run-data\">");
    json_t *data = json_pack("{s:O, s:O?, s:O?}", "run", run, "failures", failures, "distribution",
                             dist); /* "O": new refs */
    if (data)
        json_island(out, data);
    json_decref(data);
    w_adds(out, "</script>\n</body></html>\n");
    return w.failed ? SP_ELIMIT : 0;
}
