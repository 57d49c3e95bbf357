/*
 * test_threshold.c - parsing every form and error of a threshold, and judging it against
 * hand-built run totals.
 */
#include <stdlib.h>

#include "check.h"
#include "engine/common.h"
#include "engine/threshold.h"

static const char *const names[] = {"GET /products", "POST /orders", "GET http://h:8080/a: b",
                                    "POST /auth/login"};

static sp_threshold th;
static char err[256];

static int parse(const char *src)
{
    sp_threshold_release(&th);
    err[0] = '\0';
    return sp_threshold_parse(src, names, SP_ARRAY_LEN(names), &th, err, sizeof err);
}

static const char *parse_error(const char *src)
{
    if (parse(src) == 0)
        return "(parsed)";
    return err;
}

static void test_parse_whole_run(void)
{
    CHECK_INT_EQ(parse("p95 < 300ms"), 0);
    CHECK_INT_EQ(th.name_id, -1);
    CHECK_INT_EQ(th.metric, SP_TH_P95);
    CHECK_INT_EQ(th.op, SP_TH_LT);
    CHECK_NEAR(th.value, 300.0, 1e-9);
    CHECK_STR_EQ(th.src, "p95 < 300ms");
    CHECK_INT_EQ(parse("error_rate < 1%"), 0);
    CHECK_INT_EQ(th.metric, SP_TH_ERROR_RATE);
    CHECK_NEAR(th.value, 0.01, 1e-12);
    CHECK_INT_EQ(parse("rps > 1000"), 0);
    CHECK_INT_EQ(th.metric, SP_TH_RPS);
    CHECK_INT_EQ(th.op, SP_TH_GT);
    CHECK_NEAR(th.value, 1000.0, 1e-9);
}

static void test_parse_forms(void)
{
    CHECK_INT_EQ(parse("p50<=250"), 0); /* no spaces, default unit ms */
    CHECK_INT_EQ(th.metric, SP_TH_P50);
    CHECK_INT_EQ(th.op, SP_TH_LE);
    CHECK_NEAR(th.value, 250.0, 1e-9);
    CHECK_INT_EQ(parse("  p90 >= 1.5s  "), 0);
    CHECK_INT_EQ(th.op, SP_TH_GE);
    CHECK_NEAR(th.value, 1500.0, 1e-9);
    CHECK_INT_EQ(parse("p99 < 800 us"), 0);
    CHECK_NEAR(th.value, 0.8, 1e-12);
    CHECK_INT_EQ(parse("max < 2s"), 0);
    CHECK_INT_EQ(th.metric, SP_TH_MAX);
    CHECK_INT_EQ(parse("min > 1ms"), 0);
    CHECK_INT_EQ(th.metric, SP_TH_MIN);
    CHECK_INT_EQ(parse("avg < .5"), 0);
    CHECK_INT_EQ(th.metric, SP_TH_AVG);
    CHECK_NEAR(th.value, 0.5, 1e-12);
    CHECK_INT_EQ(parse("error_rate <= 0.05"), 0);
    CHECK_NEAR(th.value, 0.05, 1e-12);
    CHECK_INT_EQ(parse("error_rate < 0.5 %"), 0);
    CHECK_NEAR(th.value, 0.005, 1e-12);
    CHECK_INT_EQ(parse("rps >= 50/s"), 0);
    CHECK_NEAR(th.value, 50.0, 1e-12);
}

static void test_parse_named(void)
{
    CHECK_INT_EQ(parse("POST /orders: p99 < 800ms"), 0);
    CHECK_INT_EQ(th.name_id, 1);
    CHECK_INT_EQ(th.metric, SP_TH_P99);
    CHECK_NEAR(th.value, 800.0, 1e-9);
    CHECK_INT_EQ(parse("GET /products:error_rate<2%"), 0);
    CHECK_INT_EQ(th.name_id, 0);
    /* A name with colons and ": " in it splits at the last colon. */
    CHECK_INT_EQ(parse("GET http://h:8080/a: b: rps > 3"), 0);
    CHECK_INT_EQ(th.name_id, 2);
    CHECK_INT_EQ(parse("  POST /auth/login  :  p95 < 1s"), 0);
    CHECK_INT_EQ(th.name_id, 3);
}

/* ---- parse errors, one per path ---- */

static void test_err_empty(void)
{
    CHECK_STR_CONTAINS(parse_error(""), "empty threshold");
    CHECK_STR_CONTAINS(parse_error("   "), "empty threshold");
    CHECK(th.src == NULL);
}

static void test_err_unknown_metric(void)
{
    CHECK_STR_EQ(parse_error("p96 < 300ms"), "unknown metric 'p96' (did you mean 'p90'?)");
    CHECK_STR_EQ(parse_error("eror_rate < 1%"),
                 "unknown metric 'eror_rate' (did you mean 'error_rate'?)");
    CHECK_STR_CONTAINS(parse_error("latency < 3"), "unknown metric 'latency' (known: p50");
    CHECK_STR_CONTAINS(parse_error("< 3"), "expected a metric");
}

static void test_err_unknown_op(void)
{
    CHECK_STR_EQ(parse_error("p95 = 300ms"), "unknown operator '=' (use <, <=, > or >=)");
    CHECK_STR_CONTAINS(parse_error("p95 == 300ms"), "unknown operator '=='");
    CHECK_STR_CONTAINS(parse_error("p95 =< 300ms"), "unknown operator '=<'");
    CHECK_STR_CONTAINS(parse_error("p95 300ms"), "expected an operator (<, <=, >, >=) after 'p95'");
}

static void test_err_bad_number(void)
{
    CHECK_STR_EQ(parse_error("p95 < fast"), "bad number 'fast' after '<'");
    CHECK_STR_CONTAINS(parse_error("p95 < -3ms"), "bad number '-3ms'");
    CHECK_STR_CONTAINS(parse_error("p95 < 1.2.3ms"), "bad number");
    CHECK_STR_CONTAINS(parse_error("p95 <"), "bad number");
    CHECK_STR_CONTAINS(parse_error("p95 < ."), "bad number");
    CHECK_STR_CONTAINS(parse_error("rps > 0x10"), "unknown unit 'x10'");
}

static void test_err_bad_unit(void)
{
    CHECK_STR_EQ(parse_error("p95 < 3min"), "unknown unit 'min' for p95 (use us, ms or s)");
    CHECK_STR_CONTAINS(parse_error("error_rate < 1ms"), "unknown unit 'ms' for error_rate");
    CHECK_STR_CONTAINS(parse_error("rps > 5%"), "unknown unit '%' for rps");
    CHECK_STR_CONTAINS(parse_error("error_rate < 5"), "error_rate 5 is above 1");
    CHECK_STR_CONTAINS(parse_error("error_rate < 101%"), "error_rate above 100%");
}

static void test_err_unknown_name(void)
{
    CHECK_STR_EQ(parse_error("POST /order: p99 < 800ms"),
                 "unknown request name 'POST /order' (did you mean 'POST /orders'?)");
    CHECK_STR_EQ(parse_error("DELETE /everything: p99 < 800ms"),
                 "unknown request name 'DELETE /everything'");
    CHECK_STR_CONTAINS(parse_error(": p99 < 800ms"), "empty request name");
}

static void test_err_trailing_junk(void)
{
    CHECK_STR_EQ(parse_error("p95 < 300ms please"), "unexpected 'please' after the value");
    CHECK_STR_CONTAINS(parse_error("p95 < 300 ms ms"), "unexpected 'ms'");
}

/* ---- evaluation ---- */

static sp_stats stats;

static void stats_build(void)
{
    stats.nnames = SP_ARRAY_LEN(names);
    stats.names = sp_calloc(stats.nnames, sizeof *stats.names);
    for (size_t i = 0; i < stats.nnames; i++)
        stats.names[i].hist = sp_hist_new();
    /* GET /products: 1..100 ms, 100 requests, 1 failure. */
    for (uint64_t ms = 1; ms <= 100; ms++)
        sp_hist_record(stats.names[0].hist, ms * 1000);
    stats.names[0].requests = 100;
    stats.names[0].failures = 1;
    /* POST /orders: 900 requests at 200 ms, 100 at 1 s, 50 failures. */
    sp_hist_record_n(stats.names[1].hist, 200000, 900);
    sp_hist_record_n(stats.names[1].hist, 1000000, 100);
    stats.names[1].requests = 1000;
    stats.names[1].failures = 50;
}

static void stats_free(void)
{
    for (size_t i = 0; i < stats.nnames; i++)
        sp_hist_free(stats.names[i].hist);
    free(stats.names);
    memset(&stats, 0, sizeof stats);
}

static sp_verdict judge(const char *src, double duration_s)
{
    sp_verdict v = {-1, -1, -1, -1};
    if (parse(src) != 0)
        return v;
    sp_threshold_eval(&th, &stats, duration_s, &v);
    return v;
}

static void test_eval_named(void)
{
    stats_build();
    sp_verdict v = judge("GET /products: p50 < 51ms", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 50.0, 0.5);
    v = judge("GET /products: p99 < 99ms", 10);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_NEAR(v.measured, 99.0, 99 * 0.004);
    v = judge("GET /products: max <= 100ms", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 100.0, 1e-9);
    v = judge("GET /products: min >= 1ms", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 1.0, 1e-9);
    v = judge("GET /products: avg < 50ms", 10);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_NEAR(v.measured, 50.5, 1e-9);
    v = judge("GET /products: error_rate < 1%", 10);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_NEAR(v.measured, 0.01, 1e-12);
    v = judge("GET /products: error_rate <= 1%", 10);
    CHECK_INT_EQ(v.passed, 1);
    v = judge("GET /products: rps > 9.9", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 10.0, 1e-9);
    v = judge("POST /orders: p99 < 800ms", 10);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_NEAR(v.measured, 1000.0, 4.0);
    v = judge("POST /orders: p90 < 800ms", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 200.0, 1.0);
    /* A name with no traffic measures 0. */
    v = judge("POST /auth/login: p95 < 300ms", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 0.0, 0.0);
    v = judge("POST /auth/login: rps > 0", 10);
    CHECK_INT_EQ(v.passed, 0);
    stats_free();
}

static void test_eval_whole_run(void)
{
    stats_build();
    /* 1100 requests merged: 100 spread 1..100 ms, 900 at 200 ms, 100 at 1 s. */
    sp_verdict v = judge("p50 < 300ms", 100);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 200.0, 1.0);
    v = judge("p95 < 300ms", 100);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_NEAR(v.measured, 1000.0, 4.0);
    v = judge("p90 < 300ms", 100); /* rank 990: still 200 ms */
    CHECK_INT_EQ(v.passed, 1);
    v = judge("max < 1001ms", 100);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 1000.0, 1e-9);
    v = judge("min < 2ms", 100);
    CHECK_NEAR(v.measured, 1.0, 1e-9);
    v = judge("avg < 300ms", 100);
    CHECK_NEAR(v.measured, (5050.0 + 900 * 200.0 + 100 * 1000.0) / 1100.0, 1e-6);
    v = judge("error_rate < 5%", 100);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 51.0 / 1100.0, 1e-12);
    v = judge("rps >= 11", 100);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 11.0, 1e-9);
    v = judge("rps > 11", 100);
    CHECK_INT_EQ(v.passed, 0);
    /* No elapsed time: no rate. */
    v = judge("rps > 0", 0);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_NEAR(v.measured, 0.0, 0.0);
    stats_free();
}

static void test_eval_empty_run(void)
{
    stats.nnames = 0;
    stats.names = NULL;
    sp_verdict v = judge("p95 < 300ms", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 0.0, 0.0);
    v = judge("error_rate < 1%", 10);
    CHECK_INT_EQ(v.passed, 1);
}

/* The open model's own metrics: the share of planned arrivals dropped and the rate achieved,
 * for stop_when ("dropped > 1%", "achieved_rate < 450") and thresholds alike. */
static void test_open_model_metrics(void)
{
    CHECK_INT_EQ(parse("dropped > 1%"), 0);
    CHECK_INT_EQ(th.metric, SP_TH_DROPPED);
    CHECK_NEAR(th.value, 0.01, 1e-12);
    CHECK_INT_EQ(parse("dropped >= 0.05"), 0);
    CHECK_NEAR(th.value, 0.05, 1e-12);
    CHECK_INT_EQ(parse("achieved_rate < 450/s"), 0);
    CHECK_INT_EQ(th.metric, SP_TH_ACHIEVED_RATE);
    CHECK_NEAR(th.value, 450.0, 1e-9);
    CHECK_INT_EQ(parse("achieved_rate < 450"), 0);
    CHECK(sp_th_metric_open_only(SP_TH_DROPPED) && sp_th_metric_open_only(SP_TH_ACHIEVED_RATE));
    CHECK(!sp_th_metric_open_only(SP_TH_ERROR_RATE));
    CHECK_STR_EQ(parse_error("dropped > 2"),
                 "dropped 2 is above 1: write a percentage as '2%' or a fraction from 0 to 1");
    CHECK_STR_EQ(parse_error("dropped > 150%"), "dropped above 100%");
    CHECK_STR_CONTAINS(parse_error("achieved_rate < 3ms"), "unknown unit 'ms' for achieved_rate");
    CHECK_STR_EQ(parse_error("GET /products: dropped > 1%"),
                 "dropped is the run's, not a request name's: write it without a name");
    CHECK_STR_EQ(parse_error("dropepd > 1%"), "unknown metric 'dropepd' (did you mean 'dropped'?)");

    stats_build();
    stats.arrivals = 900;
    stats.dropped = 100;
    sp_verdict v = judge("dropped > 5%", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 0.1, 1e-12);
    v = judge("dropped > 10%", 10);
    CHECK_INT_EQ(v.passed, 0);
    v = judge("achieved_rate < 95", 10);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 90.0, 1e-9);
    v = judge("achieved_rate < 90", 10);
    CHECK_INT_EQ(v.passed, 0);
    char buf[32];
    CHECK_INT_EQ(parse("dropped > 1%"), 0);
    sp_threshold_format_value(&th, 0.1, buf, sizeof buf);
    CHECK_STR_EQ(buf, "10%");
    CHECK_INT_EQ(parse("achieved_rate < 1"), 0);
    sp_threshold_format_value(&th, 90, buf, sizeof buf);
    CHECK_STR_EQ(buf, "90.0/s");
    /* Nothing planned: nothing dropped, no rate. */
    stats.arrivals = stats.dropped = 0;
    v = judge("dropped > 0%", 10);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_NEAR(v.measured, 0.0, 0.0);
    stats_free();
}

/* ---- relative to a baseline ---- */

static void test_parse_relative(void)
{
    CHECK_INT_EQ(parse("p95 < baseline * 1.10"), 0);
    CHECK_INT_EQ(th.relative, 1);
    CHECK_INT_EQ(th.metric, SP_TH_P95);
    CHECK_INT_EQ(th.op, SP_TH_LT);
    CHECK_NEAR(th.value, 1.10, 1e-12);
    CHECK_INT_EQ(parse("GET /products: error_rate <= baseline*2"), 0);
    CHECK_INT_EQ(th.name_id, 0);
    CHECK_INT_EQ(th.relative, 1);
    CHECK_NEAR(th.value, 2.0, 1e-12);
    CHECK_INT_EQ(parse("rps >= baseline"), 0); /* no factor: the baseline itself */
    CHECK_NEAR(th.value, 1.0, 1e-12);
    CHECK_INT_EQ(parse("rps > baseline * .9  "), 0);
    CHECK_NEAR(th.value, 0.9, 1e-12);
    /* A plain threshold stays absolute. */
    CHECK_INT_EQ(parse("p95 < 300ms"), 0);
    CHECK_INT_EQ(th.relative, 0);
}

static void test_err_relative(void)
{
    CHECK_STR_CONTAINS(parse_error("p95 < baseline * 0"), "bad factor '0' after 'baseline *'");
    CHECK_STR_CONTAINS(parse_error("p95 < baseline * -1"), "bad factor '-1'");
    CHECK_STR_CONTAINS(parse_error("p95 < baseline *"), "bad factor");
    CHECK_STR_CONTAINS(parse_error("p95 < baseline * 1.1ms"), "takes a factor and no unit");
    CHECK_STR_CONTAINS(parse_error("p95 < baseline ms"), "takes a factor and no unit");
    CHECK_STR_CONTAINS(parse_error("p95 < baseline * 1.1 ms"), "unexpected 'ms' after the value");
    CHECK_STR_EQ(parse_error("p95 < baselines"), "bad number 'baselines' after '<'");
    CHECK_STR_CONTAINS(parse_error("p95 < 1.1 * baseline"), "unknown unit '*'");
}

static sp_verdict judge_against(const char *src, double baseline)
{
    sp_verdict v = {-1, -1, -1, -1};
    if (parse(src) != 0)
        return v;
    sp_threshold_eval_against(&th, &stats, 10, baseline, &v);
    return v;
}

static void test_eval_relative(void)
{
    stats_build();
    /* GET /products' p50 is 50 ms: within 10% of a 46 ms baseline, not of a 45 ms one. */
    sp_verdict v = judge_against("GET /products: p50 < baseline * 1.10", 46);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_INT_EQ(v.skipped, 0);
    CHECK_NEAR(v.limit, 50.6, 1e-9);
    CHECK_NEAR(v.measured, 50.0, 0.5);
    v = judge_against("GET /products: p50 < baseline * 1.10", 45);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_NEAR(v.limit, 49.5, 1e-9);
    /* Error rate 1%: at most twice a baseline of 0.5%. */
    v = judge_against("GET /products: error_rate <= baseline * 2", 0.005);
    CHECK_INT_EQ(v.passed, 1);
    v = judge_against("GET /products: error_rate <= baseline * 2", 0.004);
    CHECK_INT_EQ(v.passed, 0);
    /* Throughput (1100 requests in 10 s) must stay above 90% of the baseline's. */
    v = judge_against("rps > baseline * 0.9", 120);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_NEAR(v.measured, 110, 1e-9);
    v = judge_against("rps > baseline * 0.9", 125);
    CHECK_INT_EQ(v.passed, 0);
    /* Without a baseline figure: not judged, never failed. */
    v = judge_against("GET /products: p50 < baseline * 1.10", NAN);
    CHECK_INT_EQ(v.passed, 1);
    CHECK_INT_EQ(v.skipped, 1);
    CHECK(isnan(v.limit));
    v = judge("GET /products: p50 < baseline", 10);
    CHECK_INT_EQ(v.skipped, 1);
    CHECK_INT_EQ(v.passed, 1);
    /* An absolute threshold ignores a baseline and says what it held the run against. */
    v = judge_against("GET /products: p50 < 40ms", 1000);
    CHECK_INT_EQ(v.passed, 0);
    CHECK_INT_EQ(v.skipped, 0);
    CHECK_NEAR(v.limit, 40, 0);
    stats_free();
}

static void test_names_and_format(void)
{
    CHECK_STR_EQ(sp_th_metric_name(SP_TH_P95), "p95");
    CHECK_STR_EQ(sp_th_metric_name(SP_TH_ERROR_RATE), "error_rate");
    CHECK_STR_EQ(sp_th_metric_name(SP_TH_RPS), "rps");
    CHECK_STR_EQ(sp_th_op_name(SP_TH_LE), "<=");
    CHECK_STR_EQ(sp_th_op_name(SP_TH_GT), ">");
    char buf[64];
    CHECK_INT_EQ(parse("p95 < 300ms"), 0);
    sp_threshold_format_value(&th, 312.44, buf, sizeof buf);
    CHECK_STR_EQ(buf, "312.4ms");
    sp_threshold_format_value(&th, 0.25, buf, sizeof buf);
    CHECK_STR_EQ(buf, "0.25ms");
    CHECK_INT_EQ(parse("error_rate < 1%"), 0);
    sp_threshold_format_value(&th, 0.008, buf, sizeof buf);
    CHECK_STR_EQ(buf, "0.8%");
    CHECK_INT_EQ(parse("rps > 1"), 0);
    sp_threshold_format_value(&th, 1043.21, buf, sizeof buf);
    CHECK_STR_EQ(buf, "1043.2/s");
}

int main(void)
{
    RUN(test_parse_whole_run);
    RUN(test_parse_forms);
    RUN(test_parse_named);
    RUN(test_err_empty);
    RUN(test_err_unknown_metric);
    RUN(test_err_unknown_op);
    RUN(test_err_bad_number);
    RUN(test_err_bad_unit);
    RUN(test_err_unknown_name);
    RUN(test_err_trailing_junk);
    RUN(test_eval_named);
    RUN(test_eval_whole_run);
    RUN(test_eval_empty_run);
    RUN(test_open_model_metrics);
    RUN(test_parse_relative);
    RUN(test_err_relative);
    RUN(test_eval_relative);
    RUN(test_names_and_format);
    sp_threshold_release(&th);
    return check_summary();
}
