/*
 * report.c - see report.h.
 */
#include "runs/report.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "engine/histogram.h"

void sp_fmt_us(uint64_t us, char *buf, size_t len)
{
    if (us < 1000)
        snprintf(buf, len, "%" PRIu64 "us", us);
    else if (us < 10000)
        snprintf(buf, len, "%.2fms", (double)us / 1000.0);
    else if (us < 1000000)
        snprintf(buf, len, "%.1fms", (double)us / 1000.0);
    else
        snprintf(buf, len, "%.2fs", (double)us / 1e6);
}

void sp_lat_of(const sp_hist *h, sp_lat *out)
{
    out->min = sp_hist_min(h);
    out->p50 = sp_hist_percentile(h, 50);
    out->p90 = sp_hist_percentile(h, 90);
    out->p95 = sp_hist_percentile(h, 95);
    out->p99 = sp_hist_percentile(h, 99);
    out->max = sp_hist_max(h);
    out->avg = sp_hist_mean(h);
}

size_t sp_report_judge(const sp_def *def, const sp_stats *totals, double duration_s,
                       sp_verdict *verdicts)
{
    return sp_report_judge_against(def, totals, duration_s, NULL, verdicts);
}

double sp_report_baseline_figure(const sp_def *def, const sp_threshold *t, const json_t *summary)
{
    const json_t *n = NULL;
    if (t->name_id < 0) {
        n = json_object_get(summary, "total");
    } else if ((size_t)t->name_id < def->nnames) {
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(summary, "names"), i, e)
        {
            const char *nm = json_string_value(json_object_get(e, "name"));
            if (nm && strcmp(nm, def->names[t->name_id]) == 0) {
                n = e;
                break;
            }
        }
    }
    const json_t *req = json_object_get(n, "requests");
    if (!json_is_number(req) || json_number_value(req) <= 0)
        return NAN;
    const json_t *v;
    if (t->metric == SP_TH_ERROR_RATE)
        v = json_object_get(n, "error_rate");
    else if (t->metric == SP_TH_RPS)
        v = json_object_get(n, "rps");
    else
        v = json_object_get(json_object_get(n, "latency_ms"), sp_th_metric_name(t->metric));
    return json_is_number(v) ? json_number_value(v) : NAN;
}

size_t sp_report_judge_against(const sp_def *def, const sp_stats *totals, double duration_s,
                               const json_t *baseline_summary, sp_verdict *verdicts)
{
    size_t failed = 0;
    for (size_t i = 0; i < def->nthresholds; i++) {
        const sp_threshold *t = &def->thresholds[i];
        double base = t->relative && baseline_summary
                          ? sp_report_baseline_figure(def, t, baseline_summary)
                          : NAN;
        sp_threshold_eval_against(t, totals, duration_s, base, &verdicts[i]);
        if (!verdicts[i].passed)
            failed++;
    }
    return failed;
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

/* Latency figures in milliseconds (new reference). */
static json_t *lat_json(const sp_hist *h)
{
    sp_lat l;
    sp_lat_of(h, &l);
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "min", ms(l.min), "avg",
                     l.avg / 1000.0, "p50", ms(l.p50), "p90", ms(l.p90), "p95", ms(l.p95), "p99",
                     ms(l.p99), "max", ms(l.max));
}

json_t *sp_report_second(const sp_def *def, uint64_t second, const sp_stats *s,
                         sp_name_stats *scratch)
{
    json_t *names = json_object();
    for (size_t i = 0; i < s->nnames; i++) {
        const sp_name_stats *n = &s->names[i];
        if (!n->requests)
            continue;
        /* json_object_set_new steals the packed object. */
        json_object_set_new(names, def->names[i],
                            json_pack("{s:I, s:I, s:f, s:f, s:f, s:f}", "requests",
                                      (json_int_t)n->requests, "failures",
                                      (json_int_t)n->failures, "p50",
                                      ms(sp_hist_percentile(n->hist, 50)), "p95",
                                      ms(sp_hist_percentile(n->hist, 95)), "p99",
                                      ms(sp_hist_percentile(n->hist, 99)), "max",
                                      ms(sp_hist_max(n->hist))));
    }
    sp_name_stats_release(scratch);
    sp_name_stats_init(scratch);
    sp_stats_total(s, scratch);
    /* "o" steals names. */
    json_t *row = json_pack(
        "{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:i, s:i, s:I, s:I, s:o}", "t", (json_int_t)second,
        "requests", (json_int_t)scratch->requests, "failures", (json_int_t)scratch->failures, "p50",
        ms(sp_hist_percentile(scratch->hist, 50)), "p95", ms(sp_hist_percentile(scratch->hist, 95)),
        "p99", ms(sp_hist_percentile(scratch->hist, 99)), "max", ms(sp_hist_max(scratch->hist)),
        "vus", (int)s->active_vus, "target_vus", (int)s->target_vus, "iterations",
        (json_int_t)s->iterations, "dropped", (json_int_t)s->dropped, "names", names);
    /* json_object_set_new steals the new values. */
    json_object_set_new(row, "lag_ms", json_real(ms(s->lag_us_max)));
    if (s->stalled_seconds)
        json_object_set_new(row, "stall", json_true());
    if (def->load.model == SP_LOAD_OPEN) {
        json_object_set_new(row, "target_rate", json_real(s->target_rate));
        json_object_set_new(row, "arrivals", json_integer((json_int_t)s->arrivals));
        json_object_set_new(row, "arrivals_late", json_integer((json_int_t)s->arrivals_late));
    }
    return row;
}

/* Open model: the time arrivals were scheduled over: the planned duration, not the tail in
 * which the last requests finished (or less, when the run was stopped early). */
static double open_seconds(const sp_run_result *r)
{
    double planned = (double)r->def->load.total_ms / 1000.0;
    return r->duration_s < planned ? r->duration_s : planned;
}

/* Open model: the generator, not the target, limited the run (late timers or no free VU). */
static int generator_limited(const sp_stats *t)
{
    return t->dropped > 0 || t->lag_us_max > SP_LAG_WARN_US;
}

/* The per-name (or total) section of the JSON result (new reference). */
static json_t *name_json(const char *name, const sp_name_stats *n, double duration_s)
{
    json_t *status = json_object();
    for (int c = 0; c < SP_STATUS_MAX; c++) {
        if (n->status[c]) {
            char key[8];
            snprintf(key, sizeof key, "%d", c);
            json_object_set_new(status, key, json_integer((json_int_t)n->status[c]));
        }
    }
    json_t *errors = json_object();
    for (int k = 0; k < SP_ERRK_COUNT; k++) {
        if (n->errors[k])
            json_object_set_new(errors, sp_errkind_name((sp_errkind)k),
                                json_integer((json_int_t)n->errors[k]));
    }
    json_t *msgs = json_array();
    for (size_t i = 0; i < n->nmsgs; i++)
        json_array_append_new(msgs, json_pack("{s:s, s:I}", "message", n->msgs[i].msg, "count",
                                              (json_int_t)n->msgs[i].count));
    double rps = duration_s > 0 ? (double)n->requests / duration_s : 0;
    double err = n->requests ? (double)n->failures / (double)n->requests : 0;
    return json_pack("{s:s, s:I, s:I, s:f, s:f, s:o, s:o, s:o, s:I, s:I, s:o, s:I}", "name", name,
                     "requests", (json_int_t)n->requests, "failures", (json_int_t)n->failures,
                     "rps", rps, "error_rate", err, "latency_ms", lat_json(n->hist), "status",
                     status, "errors", errors, "bytes_in", (json_int_t)n->bytes_in, "bytes_out",
                     (json_int_t)n->bytes_out, "failure_messages", msgs, "failure_messages_dropped",
                     (json_int_t)n->msgs_dropped);
}

json_t *sp_report_generator_json(const sp_stats *t)
{
    json_t *g = json_pack("{s:f, s:I}", "lag_ms_max", ms(t->lag_us_max), "stalled_seconds",
                          (json_int_t)t->stalled_seconds);
    if (t->stalled_seconds) {
        json_object_set_new(g, "stall_first", json_integer((json_int_t)t->stall_first));
        json_object_set_new(g, "stall_last", json_integer((json_int_t)t->stall_last));
    }
    return g;
}

void sp_report_stall_text(const sp_stats *t, FILE *out)
{
    if (!t->stalled_seconds)
        return;
    char lag[16];
    sp_fmt_us(t->lag_us_max, lag, sizeof lag);
    if (t->stall_first == t->stall_last)
        fprintf(out, "\nWARNING: the load generator stalled in second %" PRIu64, t->stall_first);
    else
        fprintf(out,
                "\nWARNING: the load generator stalled in %" PRIu64 " seconds between second %" PRIu64
                " and %" PRIu64,
                t->stalled_seconds, t->stall_first, t->stall_last);
    fprintf(out,
            " (longest gap %s): latencies and missing requests in those seconds are the "
            "generator's own, not the target's.\n",
            lag);
}

/* The load profile the run was given (new reference): what a comparison needs to tell whether
 * two runs' throughput can be compared. */
static json_t *profile_json(const sp_def *def)
{
    json_t *stages = json_array();
    for (size_t i = 0; i < def->load.nstages; i++)
        json_array_append_new(stages, json_pack("{s:I, s:f}", "duration_ms",
                                                (json_int_t)def->load.stages[i].duration_ms,
                                                "target", def->load.stages[i].target));
    json_t *p = json_pack("{s:s, s:o}", "model",
                          def->load.model == SP_LOAD_OPEN ? "open" : "closed", "stages", stages);
    if (def->load.model == SP_LOAD_OPEN)
        json_object_set_new(p, "max_vus", json_integer((json_int_t)def->load.max_vus));
    return p;
}

json_t *sp_report_json(const sp_run_result *r, json_t *seconds)
{
    const sp_def *def = r->def;
    json_t *names = json_array();
    for (size_t i = 0; i < r->totals->nnames; i++)
        json_array_append_new(names, name_json(def->names[i], &r->totals->names[i], r->duration_s));
    sp_name_stats total;
    sp_name_stats_init(&total);
    sp_stats_total(r->totals, &total);
    json_t *th = json_array();
    for (size_t i = 0; i < def->nthresholds; i++) {
        const sp_threshold *t = &def->thresholds[i];
        const sp_verdict *v = &r->verdicts[i];
        json_t *one = json_pack("{s:s, s:b, s:f, s:s, s:s?}", "threshold", t->src, "passed",
                                v->passed, "measured", isfinite(v->measured) ? v->measured : 0.0,
                                "metric", sp_th_metric_name(t->metric), "name",
                                t->name_id >= 0 ? def->names[t->name_id] : NULL);
        /* A relative threshold says what it was held against, or that it was not judged. */
        if (t->relative) {
            json_object_set_new(one, "limit",
                                isfinite(v->limit) ? json_real(v->limit) : json_null());
            json_object_set_new(one, "skipped", json_boolean(v->skipped));
        }
        json_array_append_new(th, one);
    }
    json_t *out = json_pack("{s:s, s:s, s:I, s:f, s:o, s:o, s:o, s:I}", "test", def->name,
                            "status", r->status, "started_ms", (json_int_t)r->started_ms,
                            "duration_s", r->duration_s, "total",
                            name_json("Total", &total, r->duration_s), "names", names,
                            "thresholds", th, "iterations", (json_int_t)r->totals->iterations);
    sp_name_stats_release(&total);
    json_object_set_new(out, "generator", sp_report_generator_json(r->totals));
    json_object_set_new(out, "profile", profile_json(def));
    if (def->load.model == SP_LOAD_OPEN) {
        const sp_stats *t = r->totals;
        double planned = (double)(t->arrivals + t->dropped);
        double secs = open_seconds(r);
        /* "o" steals nothing else: the values are new. */
        json_object_set_new(
            out, "open_model",
            json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:b}", "max_vus",
                      (json_int_t)def->load.max_vus, "arrivals", (json_int_t)t->arrivals, "dropped",
                      (json_int_t)t->dropped, "achieved_rate",
                      secs > 0 ? (double)t->arrivals / secs : 0.0, "dropped_share",
                      planned > 0 ? (double)t->dropped / planned : 0.0, "lag_ms_max",
                      ms(t->lag_us_max), "generator_limited", generator_limited(t)));
        json_t *o = json_object_get(out, "open_model"); /* borrowed */
        json_object_set_new(o, "late_share",
                            json_real(planned > 0 ? (double)t->arrivals_late / planned : 0.0));
        json_object_set_new(
            o, "lag_ms_mean",
            json_real(planned > 0 ? (double)t->arrivals_lag_us / planned / 1000.0 : 0.0));
    }
    if (r->brk) {
        const sp_threshold *c = &def->load.stop_when[r->brk->condition];
        char v[32];
        sp_threshold_format_value(c, r->brk->measured, v, sizeof v);
        /* The packed object is new; json_object_set_new steals it. */
        json_object_set_new(out, "broke",
                            json_pack("{s:s, s:f, s:s, s:I, s:f, s:s, s:i}", "condition", c->src,
                                      "measured", r->brk->measured, "measured_text", v, "second",
                                      (json_int_t)r->brk->second, "load", r->brk->target,
                                      "load_unit",
                                      def->load.model == SP_LOAD_OPEN ? "iterations/s" : "users",
                                      "active_vus", (int)r->brk->active_vus));
    }
    if (seconds)
        json_object_set(out, "seconds", seconds); /* borrowed: json_object_set takes its own ref */
    return out;
}

static void table_row(FILE *out, const char *name, const sp_name_stats *n, double duration_s)
{
    sp_lat l;
    sp_lat_of(n->hist, &l);
    char p50[16], p90[16], p95[16], p99[16], mx[16];
    sp_fmt_us(l.p50, p50, sizeof p50);
    sp_fmt_us(l.p90, p90, sizeof p90);
    sp_fmt_us(l.p95, p95, sizeof p95);
    sp_fmt_us(l.p99, p99, sizeof p99);
    sp_fmt_us(l.max, mx, sizeof mx);
    double rps = duration_s > 0 ? (double)n->requests / duration_s : 0;
    double fail = n->requests ? 100.0 * (double)n->failures / (double)n->requests : 0;
    fprintf(out, "%-28.28s %10" PRIu64 " %9.1f %7.2f%% %9s %9s %9s %9s %9s\n", name, n->requests,
            rps, fail, p50, p90, p95, p99, mx);
}

void sp_report_text(const sp_run_result *r, FILE *out)
{
    const sp_def *def = r->def;
    const sp_stats *t = r->totals;
    sp_name_stats total;
    sp_name_stats_init(&total);
    sp_stats_total(t, &total);

    fprintf(out, "\n%s: %s after %.1fs, %" PRIu64 " iterations\n\n", def->name, r->status,
            r->duration_s, t->iterations);
    fprintf(out, "%-28s %10s %9s %8s %9s %9s %9s %9s %9s\n", "Name", "Requests", "RPS", "Fail",
            "p50", "p90", "p95", "p99", "max");
    for (size_t i = 0; i < t->nnames; i++)
        if (t->names[i].requests)
            table_row(out, def->names[i], &t->names[i], r->duration_s);
    table_row(out, "Total", &total, r->duration_s);

    fprintf(out, "\n%-8s %10s %8s\n", "Status", "Responses", "Share");
    for (int c = 0; c < SP_STATUS_MAX; c++) {
        if (!total.status[c])
            continue;
        char code[16];
        if (c == 0)
            snprintf(code, sizeof code, "none");
        else
            snprintf(code, sizeof code, "%d", c);
        fprintf(out, "%-8s %10" PRIu64 " %7.2f%%\n", code, total.status[c],
                100.0 * (double)total.status[c] / (double)(total.requests ? total.requests : 1));
    }

    int any = 0;
    for (int k = 0; k < SP_ERRK_COUNT; k++) {
        if (!total.errors[k])
            continue;
        if (!any++)
            fprintf(out, "\n%-16s %10s\n", "Error kind", "Count");
        fprintf(out, "%-16s %10" PRIu64 "\n", sp_errkind_name((sp_errkind)k), total.errors[k]);
    }

    any = 0;
    for (size_t i = 0; i < t->nnames; i++) {
        const sp_name_stats *n = &t->names[i];
        for (size_t m = 0; m < n->nmsgs; m++) {
            if (!any++)
                fprintf(out, "\nFailures:\n");
            fprintf(out, "  %8" PRIu64 "x  %s: %s\n", n->msgs[m].count, def->names[i],
                    n->msgs[m].msg);
        }
        if (n->msgs_dropped)
            fprintf(out, "  %8" PRIu64 "x  %s: (other messages)\n", n->msgs_dropped,
                    def->names[i]);
    }

    sp_report_stall_text(t, out);
    if (def->load.model == SP_LOAD_OPEN) {
        char lag[16];
        sp_fmt_us(t->lag_us_max, lag, sizeof lag);
        fprintf(out,
                "\nOpen model: %" PRIu64 " arrivals started (%.1f/s), %" PRIu64
                " dropped (no free VU of %u), timers at most %s late\n",
                t->arrivals, open_seconds(r) > 0 ? (double)t->arrivals / open_seconds(r) : 0.0,
                t->dropped, (unsigned)def->load.max_vus, lag);
        if (generator_limited(t))
            fprintf(out,
                    "WARNING: the load generator, not the target, limited this run (%s). "
                    "The target saw less load than planned; raise max_vus, lower the rate "
                    "or give the engine more cores.\n",
                    t->dropped ? "arrivals were dropped" : "timers fired over 10ms late");
    }

    if (r->brk) {
        const sp_threshold *c = &def->load.stop_when[r->brk->condition];
        char v[32];
        sp_threshold_format_value(c, r->brk->measured, v, sizeof v);
        if (def->load.model == SP_LOAD_OPEN)
            fprintf(out,
                    "\nBroke at %.1f iterations/s (second %" PRIu64 "): %s over the last %us "
                    "(measured %s); the run was stopped there.\n",
                    r->brk->target, r->brk->second + 1, c->src, (unsigned)def->load.stop_window_s,
                    v);
        else
            fprintf(out,
                    "\nBroke at %.0f users (second %" PRIu64 "): %s over the last %us "
                    "(measured %s); the run was stopped there.\n",
                    r->brk->target, r->brk->second + 1, c->src, (unsigned)def->load.stop_window_s,
                    v);
    }

    if (def->nthresholds) {
        fprintf(out, "\nThresholds:\n");
        for (size_t i = 0; i < def->nthresholds; i++) {
            char v[32], lim[32];
            const sp_verdict *vd = &r->verdicts[i];
            sp_threshold_format_value(&def->thresholds[i], vd->measured, v, sizeof v);
            if (vd->skipped) {
                fprintf(out, "  SKIP  %-40s measured %s (no baseline run to hold it against)\n",
                        def->thresholds[i].src, v);
                continue;
            }
            fprintf(out, "  %s  %-40s measured %s", vd->passed ? "PASS" : "FAIL",
                    def->thresholds[i].src, v);
            if (def->thresholds[i].relative) {
                sp_threshold_format_value(&def->thresholds[i], vd->limit, lim, sizeof lim);
                fprintf(out, " (limit %s)", lim);
            }
            fprintf(out, "\n");
        }
    }
    fprintf(out, "\n");
    sp_name_stats_release(&total);
}

/* Writes s with XML's five special characters escaped, and control characters dropped. */
static void xml_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            if (c >= 0x20 || c == '\t' || c == '\n')
                fputc(c, out);
        }
    }
}

void sp_report_regression_line(const json_t *reg, char *buf, size_t len)
{
    const char *name = json_string_value(json_object_get(reg, "name"));
    const char *fig = json_string_value(json_object_get(reg, "figure"));
    const char *unit = json_string_value(json_object_get(reg, "unit"));
    const json_t *ci = json_object_get(reg, "ci");
    const json_t *ch = json_object_get(reg, "change"), *p = json_object_get(reg, "p_value");
    const char *u = unit && strcmp(unit, "ms") == 0       ? " ms"
                    : unit && strcmp(unit, "points") == 0 ? " points"
                                                          : "/s";
    char interval[64] = "";
    if (json_array_size(ci) == 2)
        snprintf(interval, sizeof interval, " [%+.3g, %+.3g]",
                 json_number_value(json_array_get(ci, 0)),
                 json_number_value(json_array_get(ci, 1)));
    snprintf(buf, len, "%s %s: %.4g -> %.4g, change %+.3g%s%s (p = %.2g, %s)",
             name ? name : "Total", fig ? fig : "?",
             json_number_value(json_object_get(reg, "baseline")),
             json_number_value(json_object_get(reg, "value")), json_number_value(ch), u, interval,
             json_number_value(p), json_string_value(json_object_get(reg, "basis")) ?: "?");
}

/* The baseline's test case: whether the run regressed against its baseline run. */
static void junit_baseline(FILE *out, const json_t *b, double duration_s)
{
    const json_t *regs = json_object_get(b, "regressions");
    int failing =
        json_array_size(regs) > 0 && json_is_true(json_object_get(b, "fail_on_regression"));
    const json_t *id = json_object_get(b, "run_id");
    fprintf(out, "    <testcase classname=\"stampede.baseline\" name=\"");
    if (json_is_integer(id))
        fprintf(out, "no regression against run %lld", (long long)json_integer_value(id));
    else
        fprintf(out, "no regression (no baseline run)");
    fprintf(out, "\" time=\"%.3f\">", duration_s);
    fprintf(out, failing ? "<failure message=\"%zu regressions\">" : "<system-out>",
            json_array_size(regs));
    const char *verdict = json_string_value(json_object_get(b, "verdict"));
    xml_escaped(out, verdict ? verdict : "not compared");
    size_t i;
    const json_t *reg;
    json_array_foreach(regs, i, reg)
    {
        char line[512];
        sp_report_regression_line(reg, line, sizeof line);
        fputc('\n', out);
        xml_escaped(out, line);
    }
    fprintf(out, failing ? "</failure>" : "</system-out>");
    fprintf(out, "</testcase>\n");
}

int sp_report_junit(const sp_run_result *r, FILE *out)
{
    const sp_def *def = r->def;
    size_t failures = 0;
    for (size_t i = 0; i < def->nthresholds; i++)
        failures += !r->verdicts[i].passed;
    int stopped = strcmp(r->status, "stopped") == 0;
    size_t cases = def->nthresholds ? def->nthresholds : 1;
    const json_t *gate =
        json_is_object(r->baseline) && json_object_get(r->baseline, "verdict") ? r->baseline : NULL;
    if (gate) {
        cases++;
        failures += json_array_size(json_object_get(gate, "regressions")) > 0 &&
                    json_is_true(json_object_get(gate, "fail_on_regression"));
    }

    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    fprintf(out, "  <testsuite name=\"");
    xml_escaped(out, def->name);
    fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\" time=\"%.3f\">\n", cases,
            failures, stopped, r->duration_s);
    if (!def->nthresholds) {
        fprintf(out, "    <testcase classname=\"stampede\" name=\"run\" time=\"%.3f\">%s</testcase>\n",
                r->duration_s, stopped ? "<error message=\"stopped before the end\"/>" : "");
    }
    for (size_t i = 0; i < def->nthresholds; i++) {
        char v[32];
        sp_threshold_format_value(&def->thresholds[i], r->verdicts[i].measured, v, sizeof v);
        fprintf(out, "    <testcase classname=\"stampede.thresholds\" name=\"");
        xml_escaped(out, def->thresholds[i].src);
        fprintf(out, "\" time=\"%.3f\">", r->duration_s);
        if (r->verdicts[i].skipped) {
            fprintf(out, "<skipped message=\"no baseline run to hold it against\"/>");
        } else if (!r->verdicts[i].passed) {
            fprintf(out, "<failure message=\"measured %s\">", v);
            xml_escaped(out, def->thresholds[i].src);
            fprintf(out, " failed: measured %s</failure>", v);
        } else {
            fprintf(out, "<system-out>measured %s</system-out>", v);
        }
        fprintf(out, "</testcase>\n");
    }
    if (gate)
        junit_baseline(out, gate, r->duration_s);
    fprintf(out, "  </testsuite>\n</testsuites>\n");
    return ferror(out) ? SP_EIO : 0;
}
