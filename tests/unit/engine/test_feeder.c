/*
 * test_feeder.c - feeder modes: sequential order and wrap, random uniformity, unique exactly
 * once across threads with stop and recycle, and the option names.
 */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "engine/common.h"
#include "engine/csv.h"
#include "engine/feeder.h"
#include "engine/template.h"

enum { THREADS = 4 };

/* A CSV with fields "i" (0..n-1) and "name". */
static sp_csv *make_csv(size_t n)
{
    sp_buf b;
    sp_buf_init(&b, 64 << 20);
    sp_buf_adds(&b, "i,name\n");
    for (size_t i = 0; i < n; i++)
        sp_buf_addf(&b, "%zu,user%zu\n", i, i);
    sp_csv *csv = NULL;
    if (sp_csv_parse(b.p, b.len, NULL, &csv, NULL) != 0)
        abort();
    sp_buf_release(&b);
    return csv;
}

static long row_index(const json_t *row)
{
    const char *s = json_string_value(json_object_get(row, "i")); /* borrowed */
    return s ? strtol(s, NULL, 10) : -1;
}

static void test_sequential_order_and_wrap(void)
{
    sp_csv *csv = make_csv(3);
    sp_feeder *f = sp_feeder_new(csv, NULL); /* defaults: sequential */
    CHECK(f != NULL);
    for (int k = 0; k < 10; k++) {
        const json_t *row = NULL;
        CHECK_INT_EQ(sp_feeder_next(f, NULL, &row), 0);
        CHECK_INT_EQ(row_index(row), k % 3);
        CHECK(row == sp_csv_row(csv, (size_t)k % 3));
    }
    CHECK_UINT_EQ(sp_feeder_taken(f), 10);
    CHECK_INT_EQ(sp_feeder_per(f), SP_FEED_PER_ITERATION);
    sp_feeder_free(f);
    sp_csv_free(csv);
}

static void test_random_roughly_uniform(void)
{
    enum { ROWS = 10, DRAWS = 10000 };
    sp_csv *csv = make_csv(ROWS);
    sp_feeder_opts o = {.mode = SP_FEED_RANDOM};
    sp_feeder *f = sp_feeder_new(csv, &o);
    sp_rng rng;
    sp_rng_seed(&rng, 42);
    long count[ROWS] = {0};
    for (int k = 0; k < DRAWS; k++) {
        const json_t *row;
        CHECK_INT_EQ(sp_feeder_next(f, &rng, &row), 0);
        long i = row_index(row);
        CHECK(i >= 0 && i < ROWS);
        count[i]++;
    }
    /* Expected 1000 each, standard deviation about 30: 150 is five of them. A chi-square over
     * 9 degrees of freedom above 30 has a probability below 0.1%. */
    double chi2 = 0;
    for (int i = 0; i < ROWS; i++) {
        CHECK_NEAR(count[i], DRAWS / ROWS, 150);
        chi2 += (count[i] - 1000.0) * (count[i] - 1000.0) / 1000.0;
    }
    CHECK(chi2 < 30);
    CHECK_UINT_EQ(sp_feeder_taken(f), 0);
    sp_feeder_free(f);
    sp_csv_free(csv);
}

static void test_unique_stop_single_thread(void)
{
    sp_csv *csv = make_csv(5);
    sp_feeder_opts o = {
        .mode = SP_FEED_UNIQUE, .on_exhausted = SP_FEED_STOP, .per = SP_FEED_PER_VU};
    sp_feeder *f = sp_feeder_new(csv, &o);
    const json_t *row;
    for (long k = 0; k < 5; k++) {
        CHECK_INT_EQ(sp_feeder_next(f, NULL, &row), 0);
        CHECK_INT_EQ(row_index(row), k);
    }
    for (int k = 0; k < 3; k++) {
        row = (const json_t *)1;
        CHECK_INT_EQ(sp_feeder_next(f, NULL, &row), SP_ENOTFOUND);
        CHECK(row == NULL);
    }
    CHECK_INT_EQ(sp_feeder_per(f), SP_FEED_PER_VU);
    sp_feeder_opts got = sp_feeder_get_opts(f);
    CHECK_INT_EQ(got.mode, SP_FEED_UNIQUE);
    CHECK_INT_EQ(got.on_exhausted, SP_FEED_STOP);
    sp_feeder_free(f);
    sp_csv_free(csv);
}

static void test_unique_recycle_single_thread(void)
{
    sp_csv *csv = make_csv(2);
    sp_feeder_opts o = {.mode = SP_FEED_UNIQUE, .on_exhausted = SP_FEED_RECYCLE};
    sp_feeder *f = sp_feeder_new(csv, &o);
    for (long k = 0; k < 7; k++) {
        const json_t *row;
        CHECK_INT_EQ(sp_feeder_next(f, NULL, &row), 0);
        CHECK_INT_EQ(row_index(row), k % 2);
    }
    sp_feeder_free(f);
    sp_csv_free(csv);
}

/* Threads draw `draws` rows each (stopping early at SP_ENOTFOUND) and count what they got. */
typedef struct worker {
    sp_feeder *f;
    long draws;
    long nrows;
    uint64_t seed;
    long *count; /* per row, this thread's own */
    long ok, notfound, bad;
} worker;

static void *draw(void *arg)
{
    worker *w = arg;
    sp_rng rng;
    sp_rng_seed(&rng, w->seed);
    for (long k = 0; k < w->draws; k++) {
        const json_t *row;
        int rc = sp_feeder_next(w->f, &rng, &row);
        if (rc == SP_ENOTFOUND) {
            w->notfound++;
            continue;
        }
        long i = row_index(row);
        if (rc != 0 || i < 0 || i >= w->nrows) {
            w->bad++;
            continue;
        }
        w->count[i]++;
        w->ok++;
    }
    return NULL;
}

/* Runs THREADS threads of `draws` each over nrows rows and sums their per-row counts. */
static void run_threads(const sp_feeder_opts *o, long nrows, long draws, long *total, long *ok,
                        long *notfound, long *bad)
{
    sp_csv *csv = make_csv((size_t)nrows);
    sp_feeder *f = sp_feeder_new(csv, o);
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){f, draws, nrows, (uint64_t)t + 1, sp_calloc((size_t)nrows, sizeof(long)),
                        0, 0,     0};
        if (pthread_create(&th[t], NULL, draw, &w[t]) != 0)
            abort();
    }
    *ok = *notfound = *bad = 0;
    memset(total, 0, (size_t)nrows * sizeof(long));
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        for (long i = 0; i < nrows; i++)
            total[i] += w[t].count[i];
        *ok += w[t].ok;
        *notfound += w[t].notfound;
        *bad += w[t].bad;
        free(w[t].count);
    }
    sp_feeder_free(f);
    sp_csv_free(csv);
}

static void test_unique_stop_threads_exactly_once(void)
{
    enum { ROWS = 10000, DRAWS = 4000 }; /* 16,000 draws for 10,000 rows */
    long *total = sp_calloc(ROWS, sizeof(long)), ok, notfound, bad;
    sp_feeder_opts o = {.mode = SP_FEED_UNIQUE, .on_exhausted = SP_FEED_STOP};
    run_threads(&o, ROWS, DRAWS, total, &ok, &notfound, &bad);
    long wrong = 0;
    for (long i = 0; i < ROWS; i++)
        wrong += total[i] != 1;
    free(total);
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(wrong, 0);
    CHECK_INT_EQ(ok, ROWS);
    CHECK_INT_EQ(notfound, THREADS * DRAWS - ROWS);
}

static void test_unique_recycle_threads_each_round_once(void)
{
    enum { ROWS = 1000, DRAWS = 2500 }; /* 10,000 draws: ten rounds */
    long *total = sp_calloc(ROWS, sizeof(long)), ok, notfound, bad;
    sp_feeder_opts o = {.mode = SP_FEED_UNIQUE, .on_exhausted = SP_FEED_RECYCLE};
    run_threads(&o, ROWS, DRAWS, total, &ok, &notfound, &bad);
    long wrong = 0;
    for (long i = 0; i < ROWS; i++)
        wrong += total[i] != 10;
    free(total);
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(notfound, 0);
    CHECK_INT_EQ(wrong, 0);
    CHECK_INT_EQ(ok, THREADS * DRAWS);
}

static void test_sequential_and_random_threads(void)
{
    enum { ROWS = 100, DRAWS = 5000 };
    long *total = sp_calloc(ROWS, sizeof(long)), ok, notfound, bad;
    sp_feeder_opts o = {.mode = SP_FEED_SEQUENTIAL, .on_exhausted = SP_FEED_STOP};
    run_threads(&o, ROWS, DRAWS, total, &ok, &notfound, &bad);
    long wrong = 0;
    for (long i = 0; i < ROWS; i++)
        wrong += total[i] != THREADS * DRAWS / ROWS;
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(notfound, 0); /* on_exhausted only applies to unique */
    CHECK_INT_EQ(wrong, 0);
    o.mode = SP_FEED_RANDOM;
    run_threads(&o, ROWS, DRAWS, total, &ok, &notfound, &bad);
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(ok, THREADS * DRAWS);
    free(total);
}

static void test_names_and_bad_options(void)
{
    sp_feed_mode m;
    sp_feed_exhausted e;
    sp_feed_per p;
    CHECK_INT_EQ(sp_feed_mode_from_name("sequential", &m), 0);
    CHECK_INT_EQ(m, SP_FEED_SEQUENTIAL);
    CHECK_INT_EQ(sp_feed_mode_from_name("random", &m), 0);
    CHECK_INT_EQ(m, SP_FEED_RANDOM);
    CHECK_INT_EQ(sp_feed_mode_from_name("unique", &m), 0);
    CHECK_INT_EQ(m, SP_FEED_UNIQUE);
    CHECK_INT_EQ(sp_feed_mode_from_name("Unique", &m), SP_EINVAL);
    CHECK_INT_EQ(sp_feed_exhausted_from_name("stop", &e), 0);
    CHECK_INT_EQ(e, SP_FEED_STOP);
    CHECK_INT_EQ(sp_feed_exhausted_from_name("recycle", &e), 0);
    CHECK_INT_EQ(e, SP_FEED_RECYCLE);
    CHECK_INT_EQ(sp_feed_exhausted_from_name("wrap", &e), SP_EINVAL);
    CHECK_INT_EQ(sp_feed_per_from_name("iteration", &p), 0);
    CHECK_INT_EQ(p, SP_FEED_PER_ITERATION);
    CHECK_INT_EQ(sp_feed_per_from_name("vu", &p), 0);
    CHECK_INT_EQ(p, SP_FEED_PER_VU);
    CHECK_INT_EQ(sp_feed_per_from_name("", &p), SP_EINVAL);
    CHECK_STR_EQ(sp_feed_mode_name(SP_FEED_RANDOM), "random");
    CHECK_STR_EQ(sp_feed_mode_name((sp_feed_mode)7), "unknown");

    sp_csv *csv = make_csv(1);
    sp_feeder_opts o = {.mode = (sp_feed_mode)3};
    CHECK(sp_feeder_new(csv, &o) == NULL);
    o = (sp_feeder_opts){.per = (sp_feed_per)2};
    CHECK(sp_feeder_new(csv, &o) == NULL);
    /* One row: every mode hands out that row. */
    o = (sp_feeder_opts){.mode = SP_FEED_RANDOM};
    sp_feeder *f = sp_feeder_new(csv, &o);
    sp_rng rng;
    sp_rng_seed(&rng, 1);
    const json_t *row;
    CHECK_INT_EQ(sp_feeder_next(f, &rng, &row), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(row, "name")), "user0");
    sp_feeder_free(f);
    sp_feeder_free(NULL);
    sp_csv_free(csv);
}

/* Rows from a feeder rendered through {{row.NAME}} by several threads at once: the path the
 * engine takes, run under the thread sanitizer by CI. */
typedef struct render_worker {
    sp_feeder *f;
    const sp_tmpl *t;
    long mismatches;
} render_worker;

static void *render_rows(void *arg)
{
    render_worker *w = arg;
    sp_rng rng;
    sp_rng_seed(&rng, 7);
    sp_buf out, want;
    sp_buf_init(&out, 1024);
    sp_buf_init(&want, 1024);
    for (int k = 0; k < 2000; k++) {
        const json_t *row;
        if (sp_feeder_next(w->f, &rng, &row) != 0) {
            w->mismatches++;
            continue;
        }
        sp_vuctx ctx = {.row = row, .rng = &rng, .vu = 1};
        sp_buf_reset(&out);
        sp_buf_reset(&want);
        sp_tmpl_render(w->t, &ctx, &out);
        long i = row_index(row);
        sp_buf_addf(&want, "/users/%ld?name=user%ld", i, i);
        if (strcmp(out.p, want.p) != 0)
            w->mismatches++;
    }
    sp_buf_release(&out);
    sp_buf_release(&want);
    return NULL;
}

static void test_rows_in_templates_across_threads(void)
{
    sp_csv *csv = make_csv(50);
    size_t nf;
    const char *const *fields = sp_csv_fields(csv, &nf);
    sp_scope scope = {.row_fields = fields, .nrow_fields = nf};
    char err[256];
    sp_tmpl *t = sp_tmpl_compile("/users/{{row.i}}?name={{row.name}}", 34, SP_ESC_NONE, &scope, err,
                                 sizeof err);
    CHECK(t != NULL);
    /* A field the file does not have is a load-time error, with a suggestion. */
    sp_tmpl *bad = sp_tmpl_compile("{{row.nme}}", 11, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK(bad == NULL);
    CHECK_STR_CONTAINS(err, "unknown row field 'nme'");
    CHECK_STR_CONTAINS(err, "did you mean 'name'");
    CHECK(!sp_csv_has_field(csv, "nme"));

    for (int mode = SP_FEED_SEQUENTIAL; mode <= SP_FEED_UNIQUE; mode++) {
        sp_feeder_opts o = {.mode = (sp_feed_mode)mode, .on_exhausted = SP_FEED_RECYCLE};
        sp_feeder *f = sp_feeder_new(csv, &o);
        render_worker w[THREADS];
        pthread_t th[THREADS];
        for (int k = 0; k < THREADS; k++) {
            w[k] = (render_worker){f, t, 0};
            if (pthread_create(&th[k], NULL, render_rows, &w[k]) != 0)
                abort();
        }
        long mismatches = 0;
        for (int k = 0; k < THREADS; k++) {
            pthread_join(th[k], NULL);
            mismatches += w[k].mismatches;
        }
        sp_feeder_free(f);
        CHECK_INT_EQ(mismatches, 0);
    }
    sp_tmpl_free(t);
    sp_csv_free(csv);
}

/* Agents' unique partitions (engine/share.h): three feeders over one file hand out every row
 * exactly once between them; a partition with no rows is exhausted at once, recycle or not. */
static void test_unique_partitions(void)
{
    sp_csv *csv = make_csv(10);
    int seen[10] = {0};
    for (uint32_t k = 0; k < 3; k++) {
        sp_feeder_opts o = {.mode = SP_FEED_UNIQUE, .part_index = k, .part_count = 3};
        sp_feeder *f = sp_feeder_new(csv, &o);
        CHECK(f != NULL);
        const json_t *row;
        while (sp_feeder_next(f, NULL, &row) == 0) {
            long i = row_index(row);
            CHECK(i >= 0 && i < 10);
            CHECK_INT_EQ(i % 3, k);
            seen[i]++;
        }
        sp_feeder_free(f);
    }
    for (int i = 0; i < 10; i++)
        CHECK_INT_EQ(seen[i], 1);
    sp_csv *small = make_csv(2);
    sp_feeder_opts o = {
        .mode = SP_FEED_UNIQUE, .on_exhausted = SP_FEED_RECYCLE, .part_index = 2, .part_count = 3};
    sp_feeder *f = sp_feeder_new(small, &o);
    const json_t *row;
    CHECK_INT_EQ(sp_feeder_next(f, NULL, &row), SP_ENOTFOUND);
    sp_feeder_free(f);
    o.part_index = 3;
    CHECK(sp_feeder_new(small, &o) == NULL);
    sp_csv_free(small);
    sp_csv_free(csv);
}

int main(void)
{
    RUN(test_unique_partitions);
    RUN(test_sequential_order_and_wrap);
    RUN(test_random_roughly_uniform);
    RUN(test_unique_stop_single_thread);
    RUN(test_unique_recycle_single_thread);
    RUN(test_unique_stop_threads_exactly_once);
    RUN(test_unique_recycle_threads_each_round_once);
    RUN(test_sequential_and_random_threads);
    RUN(test_names_and_bad_options);
    RUN(test_rows_in_templates_across_threads);
    return check_summary();
}
