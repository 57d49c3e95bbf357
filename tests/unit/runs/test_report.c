/*
 * test_report.c - a run's results as the CLI and the server write them (report.c), from
 * hand-built totals: failed requests fail a run without thresholds unless allowed, JUnit names
 * its time, host and failure types and carries an <error> for a stopped run, stop_when's
 * second is counted the same in text and JSON, the open model tells a saturated target from a
 * generator that fell behind, load changes and the profile are in the result, and a password in
 * the base URL is not.
 */
#define _GNU_SOURCE /* open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "engine/definition.h"
#include "runs/report.h"

static sp_def *load(const char *text)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_overrides ov = SP_OVERRIDES_NONE;
    sp_def *d = NULL;
    if (sp_def_load(text, strlen(text), &ov, ".", &d, &el) != 0)
        fprintf(stderr, "load: %s: %s\n", el.n ? el.v[0].path : "", el.n ? el.v[0].msg : "");
    sp_errlist_release(&el);
    return d;
}

#define CLOSED(extra)                                                                              \
    "{\"name\":\"Shop\",\"base_url\":\"http://ann:s3cret@127.0.0.1:9/api\","                       \
    "\"users\":[{\"tasks\":[{\"request\":{\"url\":\"/x\",\"name\":\"GET /x\"}}]}],"                \
    "\"load\":{\"users\":5,\"duration\":\"60s\"}" extra "}"

/* Totals of one name: requests and failures. */
static void fill(sp_stats *t, uint64_t requests, uint64_t failures)
{
    t->names[0].requests = requests;
    t->names[0].failures = failures;
    t->names[0].status[200] = requests - failures;
    t->names[0].status[500] = failures;
    for (uint64_t i = 0; i < requests; i++)
        sp_hist_record(t->names[0].hist, 1000 + i);
}

static char *text_of(const sp_run_result *r, int junit)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = 0;
    if (junit)
        rc = sp_report_junit(r, f);
    else
        sp_report_text(r, f);
    fclose(f);
    if (rc) {
        free(buf);
        return strdup("(junit failed)");
    }
    return buf;
}

static void test_failed_requests_without_thresholds(void)
{
    sp_def *d = load(CLOSED(""));
    CHECK(d != NULL);
    sp_stats t;
    sp_stats_init(&t, d->nnames);
    fill(&t, 10, 3);
    sp_load_change ch = {.at_ms = 1700000000000, .elapsed_ms = 12500, .target = 8, .by = "ann"};
    sp_run_result r = {.def = d,
                       .totals = &t,
                       .duration_s = 60.0,
                       .verdicts = NULL,
                       .status = "passed",
                       .started_ms = 1700000000000,
                       .changes = &ch,
                       .nchanges = 1,
                       .host = "gen-1"};
    CHECK_UINT_EQ(sp_report_unaccepted_failures(&r), 3);
    char *txt = text_of(&r, 0);
    CHECK_STR_CONTAINS(txt, "FAIL: 3 of 10 requests failed and the test has no thresholds "
                            "(--allow-failures accepts them)");
    CHECK_STR_CONTAINS(txt, "Load changes:\n  at 12.5s: 8 users (by ann)");
    free(txt);

    char *x = text_of(&r, 1);
    CHECK_STR_CONTAINS(x, "timestamp=\"2023-11-14T22:13:20Z\" hostname=\"gen-1\"");
    CHECK_STR_CONTAINS(x, "tests=\"1\" failures=\"1\" errors=\"0\"");
    CHECK_STR_CONTAINS(x, "<failure type=\"failed_requests\" message=\"3 of 10 requests failed\">");
    CHECK_STR_CONTAINS(x, "<property name=\"failed_requests\" value=\"3\"/>");
    free(x);

    json_t *j = sp_report_json(&r, NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "failed_requests_fail")), 3);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "host")), "gen-1");
    /* The user stays, the password does not. */
    CHECK_STR_EQ(json_string_value(json_object_get(j, "base_url")),
                 "http://ann:********@127.0.0.1:9/api");
    json_t *l = json_object_get(j, "load");
    CHECK_STR_EQ(json_string_value(json_object_get(l, "unit")), "users");
    CHECK_NEAR(json_number_value(json_object_get(l, "planned_s")), 60.0, 0);
    CHECK_NEAR(json_number_value(
                   json_object_get(json_array_get(json_object_get(l, "stages"), 0), "target")),
               5.0, 0);
    json_t *c = json_array_get(json_object_get(j, "load_changes"), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(c, "elapsed_ms")), 12500);
    CHECK_STR_EQ(json_string_value(json_object_get(c, "by")), "ann");
    json_decref(j);

    /* --allow-failures: the run passes, and JUnit's run case with it. */
    r.allow_failures = 1;
    CHECK_UINT_EQ(sp_report_unaccepted_failures(&r), 0);
    x = text_of(&r, 1);
    CHECK_STR_CONTAINS(x, "tests=\"1\" failures=\"0\" errors=\"0\"");
    CHECK(strstr(x, "<failure") == NULL);
    free(x);

    /* Stopped: the run case is an error, as JUnit readers count a run that did not finish. */
    r.allow_failures = 0;
    r.status = "stopped";
    x = text_of(&r, 1);
    CHECK_STR_CONTAINS(x, "errors=\"1\"");
    CHECK_STR_CONTAINS(x, "<error type=\"stopped\" message=\"stopped before the end\">");
    free(x);
    sp_stats_release(&t);
    sp_def_free(d);
}

static void test_thresholds_decide(void)
{
    sp_def *d = load(CLOSED(",\"thresholds\":[\"error_rate < 1%\", \"p95 < 1s\"]"));
    CHECK(d != NULL);
    sp_stats t;
    sp_stats_init(&t, d->nnames);
    fill(&t, 10, 3);
    sp_verdict v[2];
    CHECK_UINT_EQ(sp_report_judge(d, &t, 60.0, v), 1);
    sp_run_result r = {.def = d,
                       .totals = &t,
                       .duration_s = 60.0,
                       .verdicts = v,
                       .status = "stopped",
                       .started_ms = 1700000000000};
    CHECK_UINT_EQ(sp_report_unaccepted_failures(&r), 0);
    char *x = text_of(&r, 1);
    /* Two thresholds and, for the stop, the run case with its error. */
    CHECK_STR_CONTAINS(x, "tests=\"3\" failures=\"1\" errors=\"1\"");
    CHECK_STR_CONTAINS(x, "<failure type=\"threshold\" message=\"measured 30%\">");
    CHECK_STR_CONTAINS(x, "<error type=\"stopped\"");
    CHECK_STR_CONTAINS(x, "hostname=\"localhost\"");
    free(x);
    sp_stats_release(&t);
    sp_def_free(d);
}

#define OPEN_DEF                                                                                   \
    "{\"name\":\"Open\",\"base_url\":\"http://127.0.0.1:9\","                                      \
    "\"users\":[{\"tasks\":[{\"request\":{\"url\":\"/x\"}}]}],"                                    \
    "\"load\":{\"model\":\"open\",\"max_vus\":5,\"rate\":100,\"duration\":\"60s\","                \
    "\"stop_when\":{\"any\":[\"dropped > 5%\"],\"window\":\"2s\"}}}"

static void test_open_model_limits(void)
{
    sp_def *d = load(OPEN_DEF);
    CHECK(d != NULL);
    sp_stats t;
    sp_stats_init(&t, d->nnames);
    fill(&t, 900, 0);
    /* Slow responses: every VU busy, arrivals dropped, timers on time (50 us late on average). */
    t.arrivals = 900;
    t.dropped = 100;
    t.arrivals_lag_us = 50 * 1000;
    t.lag_us_max = 30000; /* one late timer is not a limit */
    sp_break brk = {.second = 37, .target = 100, .active_vus = 5, .condition = 0, .measured = 0.1};
    sp_run_result r = {.def = d,
                       .totals = &t,
                       .duration_s = 38.0,
                       .verdicts = NULL,
                       .status = "passed",
                       .brk = &brk};
    CHECK(sp_report_target_saturated(&t));
    CHECK(!sp_report_generator_limited(&t));
    char *txt = text_of(&r, 0);
    CHECK_STR_CONTAINS(txt, "WARNING: the target was saturated: all 5 VUs were busy");
    CHECK(strstr(txt, "the load generator, not the target") == NULL);
    /* stop_when's second: the same number as the JSON's. */
    CHECK_STR_CONTAINS(txt, "Broke at 100.0 iterations/s in second 37: dropped > 5%");
    free(txt);
    json_t *j = sp_report_json(&r, NULL);
    json_t *om = json_object_get(j, "open_model");
    CHECK(json_is_true(json_object_get(om, "target_saturated")));
    CHECK(json_is_false(json_object_get(om, "generator_limited")));
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(j, "broke"), "second")), 37);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(j, "load"), "unit")),
                 "iterations/s");
    json_decref(j);

    /* The generator fell behind: its timers 15 ms late on average. */
    t.arrivals_lag_us = 15000 * 1000;
    CHECK(sp_report_generator_limited(&t));
    CHECK(!sp_report_target_saturated(&t));
    txt = text_of(&r, 0);
    CHECK_STR_CONTAINS(txt, "WARNING: the load generator, not the target, limited this run");
    CHECK(strstr(txt, "saturated") == NULL);
    free(txt);
    /* A stall is the generator's too, dropped arrivals or not. */
    t.arrivals_lag_us = 0;
    t.dropped = 0;
    t.stalled_seconds = 1;
    CHECK(sp_report_generator_limited(&t));
    /* Nothing dropped, nothing late: no warning at all. */
    t.stalled_seconds = 0;
    txt = text_of(&r, 0);
    CHECK(strstr(txt, "WARNING") == NULL);
    free(txt);
    sp_stats_release(&t);
    sp_def_free(d);
}

int main(void)
{
    RUN(test_failed_requests_without_thresholds);
    RUN(test_thresholds_decide);
    RUN(test_open_model_limits);
    return check_summary();
}
