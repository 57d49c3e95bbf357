/*
 * test_histogram.c - the histogram's layout, merging and percentile accuracy.
 */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "engine/common.h"
#include "engine/histogram.h"

#define NVALUES 100000
#define MAX_US 60000000.0 /* 60 s */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t clamp_us(double v)
{
    if (v < 1.0)
        return 1;
    if (v > MAX_US)
        return (uint64_t)MAX_US;
    return (uint64_t)v;
}

/* Records the values, then checks every interesting percentile against the exact sort. */
static int check_percentiles(uint64_t *v, size_t n)
{
    static const double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
    sp_hist *h = sp_hist_new();
    for (size_t i = 0; i < n; i++)
        sp_hist_record(h, v[i]);
    qsort(v, n, sizeof *v, cmp_u64);
    int bad = 0;
    for (size_t k = 0; k < SP_ARRAY_LEN(ps); k++) {
        size_t rank = (size_t)ceil(ps[k] / 100.0 * (double)n);
        if (rank < 1)
            rank = 1;
        double exact = (double)v[rank - 1];
        double got = (double)sp_hist_percentile(h, ps[k]);
        if (fabs(got - exact) > exact * 0.01 + 1.0) {
            fprintf(stderr, "    p%g: got %.0f, exact %.0f\n", ps[k], got, exact);
            bad++;
        }
    }
    if (sp_hist_min(h) != v[0] || sp_hist_max(h) != v[n - 1])
        bad++;
    sp_hist_free(h);
    return bad;
}

static void test_empty(void)
{
    sp_hist *h = sp_hist_new();
    CHECK_UINT_EQ(sp_hist_count(h), 0);
    CHECK_UINT_EQ(sp_hist_min(h), 0);
    CHECK_UINT_EQ(sp_hist_max(h), 0);
    CHECK_NEAR(sp_hist_mean(h), 0.0, 0.0);
    CHECK_UINT_EQ(sp_hist_percentile(h, 50), 0);
    CHECK_UINT_EQ(sp_hist_percentile(h, 100), 0);
    sp_hist *o = sp_hist_new();
    sp_hist_merge(o, h);
    CHECK_UINT_EQ(sp_hist_count(o), 0);
    CHECK_UINT_EQ(sp_hist_min(o), 0);
    sp_hist_free(o);
    sp_hist_free(h);
}

static void test_exact_small_values(void)
{
    for (uint64_t v = 0; v < 256; v++) {
        size_t i = sp_hist_bucket_of(v);
        CHECK_UINT_EQ(sp_hist_bucket_low(i), v);
        CHECK_UINT_EQ(sp_hist_bucket_high(i), v);
    }
    sp_hist *h = sp_hist_new();
    for (uint64_t v = 1; v <= 100; v++)
        sp_hist_record(h, v);
    CHECK_UINT_EQ(sp_hist_percentile(h, 50), 50);
    CHECK_UINT_EQ(sp_hist_percentile(h, 99), 99);
    CHECK_UINT_EQ(sp_hist_percentile(h, 1), 1);
    CHECK_UINT_EQ(sp_hist_percentile(h, 100), 100);
    CHECK_NEAR(sp_hist_mean(h), 50.5, 1e-9);
    sp_hist_free(h);
}

static void test_bucket_round_trip(void)
{
    size_t n = sp_hist_buckets();
    CHECK(n > 0);
    CHECK_UINT_EQ(sp_hist_bucket_low(0), 0);
    for (size_t i = 0; i < n; i++) {
        uint64_t lo = sp_hist_bucket_low(i), hi = sp_hist_bucket_high(i);
        CHECK(lo <= hi);
        CHECK_UINT_EQ(sp_hist_bucket_of(lo), i);
        CHECK_UINT_EQ(sp_hist_bucket_of(hi), i);
        CHECK_UINT_EQ(sp_hist_bucket_of(lo + (hi - lo) / 2), i);
        if (i + 1 < n)
            CHECK_UINT_EQ(sp_hist_bucket_low(i + 1), hi + 1);
        /* A bucket's width is at most 1/128 of its low end: the 0.4% promise. */
        if (lo >= 128)
            CHECK((hi - lo + 1) * 128 <= lo);
    }
    CHECK_UINT_EQ(sp_hist_bucket_high(n - 1), (UINT64_C(1) << 36) - 1);
}

static void test_beyond_range(void)
{
    sp_hist *h = sp_hist_new();
    uint64_t huge = UINT64_C(1) << 40;
    size_t last = sp_hist_buckets() - 1;
    CHECK_UINT_EQ(sp_hist_bucket_of(huge), last);
    CHECK_UINT_EQ(sp_hist_bucket_of(UINT64_MAX), last);
    sp_hist_record(h, 1000);
    sp_hist_record(h, huge);
    CHECK_UINT_EQ(sp_hist_count(h), 2);
    CHECK_UINT_EQ(sp_hist_max(h), huge);
    CHECK_UINT_EQ(sp_hist_min(h), 1000);
    CHECK_UINT_EQ(sp_hist_bucket_count(h, last), 1);
    CHECK_UINT_EQ(sp_hist_percentile(h, 100), huge);
    /* The 50th percentile is the 1000 us value, reported within its bucket. */
    CHECK_NEAR(sp_hist_percentile(h, 50), 1000, 10);
    CHECK_UINT_EQ(sp_hist_bucket_count(h, sp_hist_buckets() + 5), 0);
    sp_hist_free(h);
}

static void test_record_n_and_reset(void)
{
    sp_hist *h = sp_hist_new();
    sp_hist_record_n(h, 5000, 10);
    sp_hist_record_n(h, 7, 0);
    CHECK_UINT_EQ(sp_hist_count(h), 10);
    CHECK_NEAR(sp_hist_mean(h), 5000.0, 1e-9);
    CHECK_UINT_EQ(sp_hist_min(h), 5000);
    CHECK_NEAR(sp_hist_percentile(h, 50), 5000, 5000 * 0.004);
    sp_hist_reset(h);
    CHECK_UINT_EQ(sp_hist_count(h), 0);
    CHECK_UINT_EQ(sp_hist_max(h), 0);
    sp_hist_record(h, 3);
    CHECK_UINT_EQ(sp_hist_min(h), 3);
    CHECK_UINT_EQ(sp_hist_max(h), 3);
    sp_hist_free(h);
}

static void test_merge_equals_single(void)
{
    enum { NH = 16, PER = 5000 };
    sp_rng rng;
    sp_rng_seed(&rng, 42);
    sp_hist *all = sp_hist_new(), *parts[NH], *merged = sp_hist_new();
    for (int k = 0; k < NH; k++) {
        parts[k] = sp_hist_new();
        for (int i = 0; i < PER; i++) {
            uint64_t v = (uint64_t)sp_rng_range(&rng, 0, 60000000);
            if (i % 7 == 0)
                v = (uint64_t)sp_rng_range(&rng, 0, 300);
            sp_hist_record(parts[k], v);
            sp_hist_record(all, v);
        }
    }
    for (int k = 0; k < NH; k++) {
        sp_hist_merge(merged, parts[k]);
        sp_hist_free(parts[k]);
    }
    CHECK_UINT_EQ(sp_hist_count(merged), sp_hist_count(all));
    CHECK_UINT_EQ(sp_hist_min(merged), sp_hist_min(all));
    CHECK_UINT_EQ(sp_hist_max(merged), sp_hist_max(all));
    CHECK_NEAR(sp_hist_mean(merged), sp_hist_mean(all), 0.0);
    for (size_t i = 0; i < sp_hist_buckets(); i++)
        CHECK_UINT_EQ(sp_hist_bucket_count(merged, i), sp_hist_bucket_count(all, i));
    for (double p = 1; p <= 100; p += 1)
        CHECK_UINT_EQ(sp_hist_percentile(merged, p), sp_hist_percentile(all, p));
    sp_hist_free(merged);
    sp_hist_free(all);
}

static void test_rebuild_from_buckets(void)
{
    sp_hist *h = sp_hist_new(), *r = sp_hist_new();
    for (uint64_t v = 100; v < 100000; v += 37)
        sp_hist_record(h, v);
    for (size_t i = 0; i < sp_hist_buckets(); i++)
        sp_hist_add_bucket(r, i, sp_hist_bucket_count(h, i));
    CHECK_UINT_EQ(sp_hist_count(r), sp_hist_count(h));
    CHECK(sp_hist_min(r) <= sp_hist_min(h));
    CHECK(sp_hist_max(r) >= sp_hist_max(h));
    CHECK_NEAR(sp_hist_mean(r), sp_hist_mean(h), sp_hist_mean(h) * 0.004);
    for (double p = 5; p < 100; p += 5)
        CHECK_UINT_EQ(sp_hist_percentile(r, p), sp_hist_percentile(h, p));
    sp_hist_free(r);
    sp_hist_free(h);
}

static void test_uniform_accuracy(void)
{
    uint64_t *v = sp_malloc(NVALUES * sizeof *v);
    sp_rng rng;
    sp_rng_seed(&rng, 1);
    for (size_t i = 0; i < NVALUES; i++)
        v[i] = (uint64_t)sp_rng_range(&rng, 1, (int64_t)MAX_US);
    int bad = check_percentiles(v, NVALUES);
    free(v);
    CHECK_INT_EQ(bad, 0);
}

static void test_exponential_accuracy(void)
{
    uint64_t *v = sp_malloc(NVALUES * sizeof *v);
    sp_rng rng;
    sp_rng_seed(&rng, 2);
    for (size_t i = 0; i < NVALUES; i++)
        v[i] = clamp_us(-log(1.0 - sp_rng_double(&rng)) * 50000.0); /* mean 50 ms */
    int bad = check_percentiles(v, NVALUES);
    free(v);
    CHECK_INT_EQ(bad, 0);
}

static void test_lognormal_accuracy(void)
{
    uint64_t *v = sp_malloc(NVALUES * sizeof *v);
    sp_rng rng;
    sp_rng_seed(&rng, 3);
    for (size_t i = 0; i < NVALUES; i++) {
        /* Box-Muller; median e^9 us (about 8 ms), a wide spread from microseconds to seconds. */
        double u1 = 1.0 - sp_rng_double(&rng), u2 = sp_rng_double(&rng);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        v[i] = clamp_us(exp(9.0 + 2.5 * z));
    }
    int bad = check_percentiles(v, NVALUES);
    free(v);
    CHECK_INT_EQ(bad, 0);
}

int main(void)
{
    RUN(test_empty);
    RUN(test_exact_small_values);
    RUN(test_bucket_round_trip);
    RUN(test_beyond_range);
    RUN(test_record_n_and_reset);
    RUN(test_merge_equals_single);
    RUN(test_rebuild_from_buckets);
    RUN(test_uniform_accuracy);
    RUN(test_exponential_accuracy);
    RUN(test_lognormal_accuracy);
    return check_summary();
}
