/*
 * test_comparison.c - runs/comparison.c on runs written to a real store: which basis a figure
 * is judged on, what is flagged and what is not (floors, lagged seconds, profiles, new and gone
 * names, error rates), the regressions the gate reads, and the settings' ranges.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine/common.h"
#include "engine/histogram.h"
#include "runs/comparison.h"
#include "store/store.h"

static char tmpdir[256];
static sp_store *db;
static int64_t test_id;

/* What one request name does in a made-up run. */
typedef struct fake_name {
    const char *name;
    double p50, p95, p99; /* ms, each second, plus a small wobble */
    uint64_t per_second;  /* requests each second */
    uint64_t failures;    /* over the whole run */
} fake_name;

typedef struct fake_run {
    int seconds;
    const fake_name *names;
    size_t nnames;
    const uint64_t *lag_us; /* per second, NULL: none */
    double users;           /* the profile's VUs (a constant load) */
    int no_profile;         /* a summary from before profiles were kept */
} fake_run;

static double wobble(int second, int k)
{
    /* A fixed pattern of +-0.3 ms, different per name, so that seconds do not all tie. */
    static const double w[] = {0.0, 0.3, -0.2, 0.1, -0.3, 0.2, -0.1, 0.25, -0.25, 0.05};
    return w[(second * 3 + k * 7) % 10];
}

static json_t *lat_json(const fake_name *n)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f}", "min", n->p50 / 2, "avg", n->p50, "p50", n->p50,
                     "p95", n->p95, "p99", n->p99);
}

/* A run of test_id written as the run manager writes one; returns it as sp_store_run_get
 * gives it (new reference). */
static json_t *make_run(const fake_run *f)
{
    char err[256];
    int64_t id = 0;
    if (sp_store_run_create(db, test_id, 0, "t", NULL, &id, NULL, err, sizeof err))
        return NULL;
    const char *names[8];
    for (size_t i = 0; i < f->nnames; i++)
        names[i] = f->names[i].name;
    if (sp_store_run_names_set(db, id, names, f->nnames) ||
        sp_store_run_set_status(db, id, SP_RUN_RUNNING))
        return NULL;
    size_t nb = sp_hist_buckets();
    sp_hist *h[8];
    for (size_t i = 0; i < f->nnames; i++)
        h[i] = sp_hist_new();
    for (int sec = 0; sec < f->seconds; sec++) {
        sp_store_second rows[8];
        for (size_t i = 0; i < f->nnames; i++) {
            const fake_name *n = &f->names[i];
            double w = wobble(sec, (int)i);
            rows[i] = (sp_store_second){.name_id = (uint32_t)i,
                                        .count = n->per_second,
                                        .errors = 0,
                                        .p50_us = (uint64_t)((n->p50 + w) * 1000),
                                        .p95_us = (uint64_t)((n->p95 + w) * 1000),
                                        .p99_us = (uint64_t)((n->p99 + w) * 1000),
                                        .max_us = (uint64_t)((n->p99 + w) * 1000)};
            /* The second's requests: most at p50, the slowest 5% at p95. */
            uint64_t slow = n->per_second / 20;
            sp_hist_record_n(h[i], (uint64_t)((n->p50 + w) * 1000), n->per_second - slow);
            sp_hist_record_n(h[i], (uint64_t)((n->p95 + w) * 1000), slow);
        }
        sp_store_tick tick = {
            .active_vus = 5, .target_vus = 5, .lag_us_max = f->lag_us ? f->lag_us[sec] : 500};
        if (sp_store_run_second_add(db, id, sec, &tick, rows, f->nnames))
            return NULL;
    }
    uint64_t *dense = sp_calloc(nb * (f->nnames ? f->nnames : 1), sizeof *dense);
    sp_store_hist sh[8];
    for (size_t i = 0; i < f->nnames; i++) {
        for (size_t k = 0; k < nb; k++)
            dense[i * nb + k] = sp_hist_bucket_count(h[i], k);
        sh[i] = (sp_store_hist){(uint32_t)i, dense + i * nb, nb};
        sp_hist_free(h[i]);
    }
    int rc = sp_store_run_minute_hist_add(db, id, 0, sh, f->nnames);
    free(dense);
    if (rc)
        return NULL;
    json_t *jn = json_array();
    uint64_t all = 0, failed = 0;
    for (size_t i = 0; i < f->nnames; i++) {
        const fake_name *n = &f->names[i];
        uint64_t req = n->per_second * (uint64_t)f->seconds;
        all += req;
        failed += n->failures;
        json_array_append_new(
            jn, json_pack(
                    "{s:s, s:I, s:I, s:f, s:f, s:o}", "name", n->name, "requests", (json_int_t)req,
                    "failures", (json_int_t)n->failures, "rps", (double)n->per_second, "error_rate",
                    req ? (double)n->failures / (double)req : 0.0, "latency_ms", lat_json(n)));
    }
    json_t *summary = json_pack(
        "{s:f, s:o, s:{s:s, s:I, s:I, s:f, s:f, s:o}}", "duration_s", f->seconds + 0.02, "names",
        jn, "total", "name", "Total", "requests", (json_int_t)all, "failures", (json_int_t)failed,
        "rps", (double)all / f->seconds, "error_rate", all ? (double)failed / (double)all : 0.0,
        "latency_ms", f->nnames ? lat_json(&f->names[0]) : json_object());
    if (!f->no_profile)
        json_object_set_new(summary, "profile",
                            json_pack("{s:s, s:[{s:i, s:f}, {s:I, s:f}]}", "model", "closed",
                                      "stages", "duration_ms", 0, "target", f->users, "duration_ms",
                                      (json_int_t)f->seconds * 1000, "target", f->users));
    rc = sp_store_run_finish(db, id, SP_RUN_PASSED, NULL, summary, NULL);
    json_decref(summary);
    json_t *run = NULL;
    if (rc || sp_store_run_get(db, id, &run))
        return NULL;
    return run;
}

static json_t *compare2(json_t *a, json_t *b, const sp_cmp_settings *set)
{
    sp_cmp_settings def;
    sp_comparison_defaults(&def);
    json_t *runs[2] = {a, b}, *out = NULL;
    if (sp_comparison_build(db, runs, 2, set ? set : &def, &out) != 0)
        return NULL;
    return out;
}

/* The later run's cell of figure for name (NULL: the total), borrowed. */
static const json_t *cell(const json_t *cmp, const char *name, const char *figure)
{
    if (!name)
        return json_object_get(json_array_get(json_object_get(cmp, "total"), 1), figure);
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(cmp, "names"), i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "name")), name) == 0)
            return json_object_get(json_array_get(json_object_get(n, "runs"), 1), figure);
    }
    return NULL;
}

static const char *verdict(const json_t *cmp, const char *name, const char *figure)
{
    return json_string_value(json_object_get(cell(cmp, name, figure), "verdict"));
}

static const char *basis(const json_t *cmp, const char *name, const char *figure)
{
    return json_string_value(json_object_get(cell(cmp, name, figure), "basis"));
}

static const fake_name base_names[] = {
    {"GET /products", 20, 25, 28, 40, 0},
    {"GET /categories", 20, 25, 28, 40, 0},
};

/* ---- Settings ---- */

static void test_settings(void)
{
    sp_cmp_settings s;
    char msg[256], path[64];
    sp_comparison_defaults(&s);
    CHECK_NEAR(s.alpha, 0.01, 0);
    CHECK_NEAR(s.min_change_pct, 10, 0);
    CHECK_NEAR(s.min_change_tail_pct, 20, 0);
    CHECK_NEAR(s.min_change_ms, 1, 0);
    CHECK_NEAR(s.min_seconds, 5, 0);
    CHECK_NEAR(s.max_lag_ms, 10, 0);
    CHECK_NEAR(s.min_requests, 5, 0);
    CHECK_INT_EQ(sp_comparison_setting(&s, "alpha", 0, msg, sizeof msg), SP_EINVAL);
    CHECK_STR_CONTAINS(msg, "alpha must be a number above 0 to 0.5");
    CHECK_INT_EQ(sp_comparison_setting(&s, "alpha", 0.5, msg, sizeof msg), 0);
    CHECK_INT_EQ(sp_comparison_setting(&s, "min_seconds", 2, msg, sizeof msg), SP_EINVAL);
    CHECK_INT_EQ(sp_comparison_setting(&s, "min_seconds", 4.5, msg, sizeof msg), SP_EINVAL);
    CHECK_STR_CONTAINS(msg, "whole number");
    CHECK_INT_EQ(sp_comparison_setting(&s, "min_change_ms", -1, msg, sizeof msg), SP_EINVAL);
    CHECK_INT_EQ(sp_comparison_setting(&s, "min_change_ms", NAN, msg, sizeof msg), SP_EINVAL);
    CHECK_INT_EQ(sp_comparison_setting(&s, "tolerance", 20, msg, sizeof msg), 0);
    CHECK_NEAR(s.min_change_pct, 20, 0);
    CHECK_INT_EQ(sp_comparison_setting(&s, "tolerence", 20, msg, sizeof msg), SP_EINVAL);
    CHECK_STR_CONTAINS(msg, "unknown setting");
    json_t *o = json_pack("{s:f, s:s}", "alpha", 0.05, "min_seconds", "five");
    CHECK_INT_EQ(sp_comparison_settings_apply(&s, o, path, sizeof path, msg, sizeof msg),
                 SP_EINVAL);
    CHECK_STR_EQ(path, "min_seconds");
    CHECK_STR_CONTAINS(msg, "must be a number");
    json_decref(o);
    json_t *j = sp_comparison_settings_json(&s);
    CHECK(json_is_integer(json_object_get(j, "min_seconds")));
    CHECK_NEAR(json_number_value(json_object_get(j, "min_change_pct")), 20, 0);
    json_decref(j);
}

/* ---- Verdicts ---- */

/* Two runs of the same data: judged on their seconds, nothing flagged. */
static void test_unchanged(void)
{
    fake_run f = {6, base_names, 2, NULL, 5, 0};
    json_t *a = make_run(&f), *b = make_run(&f);
    json_t *cmp = compare2(a, b, NULL);
    CHECK(cmp != NULL);
    CHECK_STR_EQ(basis(cmp, "GET /products", "p50"), "seconds");
    CHECK_STR_EQ(basis(cmp, "GET /products", "rps"), "seconds");
    CHECK_STR_EQ(basis(cmp, NULL, "p50"), "requests"); /* no per-second total stored here */
    CHECK_STR_EQ(verdict(cmp, "GET /products", "p50"), "no significant change");
    CHECK_STR_EQ(verdict(cmp, "GET /products", "rps"), "no significant change");
    CHECK_STR_EQ(verdict(cmp, NULL, "p95"), "no significant change");
    CHECK(json_is_false(json_object_get(json_object_get(cmp, "differs"), "profile")));
    CHECK_INT_EQ(json_array_size(json_object_get(cmp, "notes")), 0);
    json_t *regs = sp_comparison_regressions(cmp, 1);
    CHECK_INT_EQ(json_array_size(regs), 0);
    json_t *brief = sp_comparison_brief(cmp, 1);
    CHECK_STR_EQ(json_string_value(json_object_get(brief, "verdict")), "no significant change");
    json_decref(brief);
    json_decref(regs);
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
}

/* One route 5 ms slower at p50 and 8 ms at p95: a regression with an interval around the shift; the
 * other route is unchanged. The other way round it is an improvement. */
static void test_slower_route(void)
{
    fake_name slow[2] = {base_names[0], base_names[1]};
    slow[1].p50 += 5;
    slow[1].p95 += 8; /* beyond the tails' 20% of 25 ms */
    fake_run fa = {6, base_names, 2, NULL, 5, 0}, fb = {6, slow, 2, NULL, 5, 0};
    json_t *a = make_run(&fa), *b = make_run(&fb);
    json_t *cmp = compare2(a, b, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "regression");
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p95"), "regression");
    CHECK_STR_EQ(json_string_value(json_object_get(cell(cmp, "GET /categories", "p50"), "flag")),
                 "regression");
    const json_t *ci = json_object_get(cell(cmp, "GET /categories", "p50"), "ci");
    CHECK(json_number_value(json_array_get(ci, 0)) <= 5 &&
          json_number_value(json_array_get(ci, 1)) >= 5);
    CHECK_NEAR(json_number_value(json_object_get(cell(cmp, "GET /categories", "p50"), "change")), 5,
               0.5);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p99"), "no significant change");
    CHECK_STR_EQ(verdict(cmp, "GET /products", "p50"), "no significant change");
    CHECK_STR_EQ(verdict(cmp, "GET /products", "p95"), "no significant change");
    /* The regressions, as the gate reads them: the route's two figures (the fake total here
     * has a summary that did not move). */
    json_t *regs = sp_comparison_regressions(cmp, 1);
    CHECK_INT_EQ(json_array_size(regs), 2);
    const json_t *r0 = json_array_get(regs, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(r0, "name")), "GET /categories");
    CHECK_STR_EQ(json_string_value(json_object_get(r0, "figure")), "p50");
    CHECK_STR_EQ(json_string_value(json_object_get(r0, "unit")), "ms");
    CHECK_STR_EQ(json_string_value(json_object_get(r0, "basis")), "seconds");
    CHECK_NEAR(json_number_value(json_object_get(r0, "baseline")), 20, 0);
    CHECK_NEAR(json_number_value(json_object_get(r0, "value")), 25, 0);
    json_t *brief = sp_comparison_brief(cmp, 1);
    CHECK_STR_EQ(json_string_value(json_object_get(brief, "verdict")), "regression");
    CHECK_INT_EQ(json_integer_value(json_object_get(brief, "regressions")), 2);
    json_decref(brief);
    json_decref(regs);
    json_decref(cmp);
    cmp = compare2(b, a, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "improvement");
    json_decref(cmp);
    /* At 0.001, 6 seconds against 6 can never be significant: not enough data, not "no
     * significant change". */
    sp_cmp_settings strict;
    sp_comparison_defaults(&strict);
    strict.alpha = 0.001;
    cmp = compare2(a, b, &strict);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "not enough data");
    CHECK_STR_CONTAINS(
        json_string_value(json_object_get(cell(cmp, "GET /categories", "p50"), "reason")),
        "6 against 6 seconds can never be significant at 0.001");
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
}

/* A shift the test is sure of but below a floor is no change: 0.5 ms (under 1 ms) and 1.5 ms
 * on 20 ms (under 10%); with lower floors the same shift is flagged. */
static void test_floors(void)
{
    fake_name small[2] = {base_names[0], base_names[1]};
    small[0].p50 += 0.5;
    small[1].p50 += 1.5;
    fake_run fa = {6, base_names, 2, NULL, 5, 0}, fb = {6, small, 2, NULL, 5, 0};
    json_t *a = make_run(&fa), *b = make_run(&fb);
    json_t *cmp = compare2(a, b, NULL);
    CHECK(json_number_value(json_object_get(cell(cmp, "GET /products", "p50"), "p_value")) < 0.01);
    CHECK_STR_EQ(verdict(cmp, "GET /products", "p50"), "no significant change");
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "no significant change");
    json_decref(cmp);
    sp_cmp_settings set;
    sp_comparison_defaults(&set);
    set.min_change_pct = 5;
    cmp = compare2(a, b, &set);
    CHECK_STR_EQ(verdict(cmp, "GET /products", "p50"), "no significant change"); /* 1 ms floor */
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "regression");
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
}

/* Seconds in which the generator lagged over 10 ms are left out: a run left with fewer than 5
 * says "not enough data" (never falling back on its requests, which hold the lag too), one
 * left with 5 is judged on them. */
static void test_lagged_seconds(void)
{
    const uint64_t two_lagged[6] = {500, 40000, 500, 25000, 500, 500};
    const uint64_t one_lagged[6] = {500, 500, 90000, 500, 500, 500};
    fake_name slow[2] = {base_names[0], base_names[1]};
    slow[1].p50 += 5;
    fake_run fa = {6, base_names, 2, NULL, 5, 0}, fb = {6, slow, 2, two_lagged, 5, 0},
             fc = {6, slow, 2, one_lagged, 5, 0};
    json_t *a = make_run(&fa), *b = make_run(&fb), *c = make_run(&fc);
    json_t *cmp = compare2(a, b, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "not enough data");
    CHECK_STR_CONTAINS(
        json_string_value(json_object_get(cell(cmp, "GET /categories", "p50"), "reason")),
        "lagged over 10 ms");
    CHECK_STR_EQ(verdict(cmp, "GET /products", "rps"), "not enough data");
    json_t *regs = sp_comparison_regressions(cmp, 1);
    CHECK_INT_EQ(json_array_size(regs), 0);
    json_decref(regs);
    json_decref(cmp);
    cmp = compare2(a, c, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "regression");
    CHECK_INT_EQ(json_integer_value(json_array_get(
                     json_object_get(cell(cmp, "GET /categories", "p50"), "samples"), 1)),
                 5);
    json_decref(cmp);
    /* A generous setting takes them back. */
    sp_cmp_settings set;
    sp_comparison_defaults(&set);
    set.max_lag_ms = 50;
    cmp = compare2(a, b, &set);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "regression");
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* Runs too short for seconds are judged on their requests (the merged histograms); a run with
 * too few of those says "not enough data". */
static void test_short_runs(void)
{
    fake_name slow[2] = {base_names[0], base_names[1]};
    slow[1].p50 += 8;
    slow[1].p95 += 8;
    fake_run fa = {2, base_names, 2, NULL, 5, 0}, fb = {2, slow, 2, NULL, 5, 0};
    json_t *a = make_run(&fa), *b = make_run(&fb);
    json_t *cmp = compare2(a, b, NULL);
    CHECK_STR_EQ(basis(cmp, "GET /categories", "p50"), "requests");
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "regression");
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p95"), "regression");
    /* The summaries' p99 did not move: on requests it is not flagged with the rest. */
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p99"), "no significant change");
    CHECK_STR_CONTAINS(
        json_string_value(json_object_get(cell(cmp, "GET /categories", "p99"), "reason")),
        "did not move with it");
    CHECK_STR_EQ(verdict(cmp, "GET /products", "rps"), "not enough data");
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
    /* 2 requests against 2: no arrangement of them could be significant. */
    fake_name rare[1] = {{"GET /products", 20, 25, 28, 1, 0}};
    fake_run fr = {2, rare, 1, NULL, 5, 0};
    a = make_run(&fr);
    b = make_run(&fr);
    cmp = compare2(a, b, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /products", "p50"), "not enough data");
    CHECK_STR_CONTAINS(
        json_string_value(json_object_get(cell(cmp, "GET /products", "p50"), "reason")),
        "needs 5 seconds");
    CHECK_STR_EQ(verdict(cmp, "GET /products", "error_pct"), "not enough data");
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
}

/* On requests the generator's lag sets the floor: a shift no larger than its typical lag is no
 * change; a figure must also move beyond the same percentile of the lag. */
static void test_short_runs_lag(void)
{
    const uint64_t busy[2] = {40000, 45000}, once[2] = {500, 40000};
    fake_name slow[2] = {base_names[0], base_names[1]}, slower[2] = {base_names[0], base_names[1]};
    slow[1].p50 += 8;
    slow[1].p95 += 8;
    slower[1].p50 += 30;
    slower[1].p95 += 30;
    fake_run fa = {2, base_names, 2, NULL, 5, 0}, fb = {2, slow, 2, busy, 5, 0},
             fc = {2, slower, 2, once, 5, 0};
    json_t *a = make_run(&fa), *b = make_run(&fb), *c = make_run(&fc);
    json_t *cmp = compare2(a, b, NULL);
    CHECK_STR_EQ(basis(cmp, "GET /categories", "p50"), "requests");
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "no significant change");
    json_decref(cmp);
    /* One lagged second of two: the median lag is small, the p95's is 40 ms. */
    cmp = compare2(a, c, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "regression");
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p95"), "no significant change");
    json_decref(cmp);
    slower[1].p50 += 30;
    slower[1].p95 += 30; /* now 60 ms slower: beyond 40 ms */
    json_t *d = make_run(&fc);
    cmp = compare2(a, d, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p50"), "regression");
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "p95"), "regression");
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

/* Throughput is judged only between runs of one load profile; a shorter cut of the same
 * profile is the same one, over the seconds both have. */
static void test_profiles(void)
{
    fake_name busy[2] = {base_names[0], base_names[1]};
    busy[0].per_second = 60;
    fake_run fa = {6, base_names, 2, NULL, 5, 0}, fb = {6, busy, 2, NULL, 10, 0},
             fl = {12, busy, 2, NULL, 5, 0}, fo = {6, busy, 2, NULL, 5, 1};
    json_t *a = make_run(&fa), *b = make_run(&fb), *l = make_run(&fl), *o = make_run(&fo);
    json_t *cmp = compare2(a, b, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /products", "rps"), "not compared");
    CHECK(json_is_null(json_object_get(cell(cmp, "GET /products", "rps"), "flag")));
    CHECK(json_is_true(json_object_get(json_object_get(cmp, "differs"), "profile")));
    json_decref(cmp);
    cmp = compare2(a, l, NULL);
    CHECK(json_is_false(json_object_get(json_object_get(cmp, "differs"), "profile")));
    CHECK(json_is_true(json_object_get(json_object_get(cmp, "differs"), "duration")));
    CHECK_STR_EQ(verdict(cmp, "GET /products", "rps"), "improvement"); /* 40/s to 60/s */
    CHECK_INT_EQ(json_integer_value(json_array_get(
                     json_object_get(cell(cmp, "GET /products", "rps"), "samples"), 1)),
                 6);
    json_decref(cmp);
    /* Without a stored profile: the same test, revision and load overrides count as the same. */
    cmp = compare2(a, o, NULL);
    CHECK(json_is_false(json_object_get(json_object_get(cmp, "differs"), "profile")));
    CHECK_STR_EQ(verdict(cmp, "GET /products", "rps"), "improvement");
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
    json_decref(l);
    json_decref(o);
}

/* A name only the later run has is new, with its own figures; one it lacks is gone. */
static void test_new_and_gone(void)
{
    const fake_name one[1] = {base_names[0]};
    const fake_name other[2] = {base_names[0], {"GET /search", 30, 35, 38, 20, 0}};
    fake_run fa = {6, base_names, 2, NULL, 5, 0}, fb = {6, one, 1, NULL, 5, 0},
             fc = {6, other, 2, NULL, 5, 0};
    json_t *a = make_run(&fa), *b = make_run(&fb), *c = make_run(&fc);
    json_t *runs[3] = {a, b, c}, *cmp = NULL;
    sp_cmp_settings set;
    sp_comparison_defaults(&set);
    CHECK_INT_EQ(sp_comparison_build(db, runs, 3, &set, &cmp), 0);
    const json_t *names = json_object_get(cmp, "names");
    CHECK_INT_EQ(json_array_size(names), 3);
    const json_t *cat = json_object_get(json_array_get(names, 1), "runs");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(names, 1), "name")),
                 "GET /categories");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(cat, 1), "mark")), "gone");
    CHECK(json_is_null(json_object_get(json_array_get(cat, 1), "present")));
    const json_t *search = json_object_get(json_array_get(names, 2), "runs");
    CHECK(json_is_null(json_object_get(json_array_get(search, 0), "present")));
    CHECK(json_is_null(json_object_get(json_array_get(search, 1), "present")));
    const json_t *fresh = json_array_get(search, 2);
    CHECK_STR_EQ(json_string_value(json_object_get(fresh, "mark")), "new");
    CHECK_NEAR(json_number_value(json_object_get(fresh, "p50")), 30, 0);
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* Error rates: 60 failures in 240 against none is a regression (and the reverse an
 * improvement); 1 in 240 is significant nowhere near, and under the 0.5-point floor. */
static void test_errors(void)
{
    fake_name bad[2] = {base_names[0], base_names[1]}, one[2] = {base_names[0], base_names[1]};
    bad[0].failures = 60;
    one[0].failures = 1;
    fake_run fa = {6, base_names, 2, NULL, 5, 0}, fb = {6, bad, 2, NULL, 5, 0},
             fc = {6, one, 2, NULL, 5, 0};
    json_t *a = make_run(&fa), *b = make_run(&fb), *c = make_run(&fc);
    json_t *cmp = compare2(a, b, NULL);
    const json_t *e = cell(cmp, "GET /products", "error_pct");
    CHECK_STR_EQ(verdict(cmp, "GET /products", "error_pct"), "regression");
    CHECK_NEAR(json_number_value(json_object_get(e, "change")), 25, 1e-9);
    CHECK(json_is_null(json_object_get(e, "change_pct"))); /* from 0% */
    CHECK_STR_EQ(verdict(cmp, "GET /categories", "error_pct"), "no significant change");
    json_decref(cmp);
    cmp = compare2(b, a, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /products", "error_pct"), "improvement");
    json_decref(cmp);
    cmp = compare2(a, c, NULL);
    CHECK_STR_EQ(verdict(cmp, "GET /products", "error_pct"), "no significant change");
    json_decref(cmp);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/stampede-cmp-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/c.db", tmpdir);
    if (sp_store_open(&db, path, err, sizeof err) ||
        sp_store_test_create(db, "t", "{\"name\":\"t\"}", "t", &test_id, err, sizeof err)) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    RUN(test_settings);
    RUN(test_unchanged);
    RUN(test_slower_route);
    RUN(test_floors);
    RUN(test_lagged_seconds);
    RUN(test_short_runs);
    RUN(test_short_runs_lag);
    RUN(test_profiles);
    RUN(test_new_and_gone);
    RUN(test_errors);
    sp_store_close(db);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
