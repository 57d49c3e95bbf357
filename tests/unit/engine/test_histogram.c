/*
 * test_histogram.c - the histogram's layout, merging and percentile accuracy: exact ranks on
 * small sets whose percentile falls between two values (the rank rounds up), and a merge that
 * keeps every bucket, the last one too.
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

/*
 * The rank of percentile p over n values is ceil(p / 100 * n): the smallest value with at least
 * p% of the values at or below it. With 1..100 every tested rank is whole, so a rank that
 * rounded down would go unnoticed there; these sets put the ranks between two values.
 */
static void test_fractional_ranks(void)
{
    sp_hist *h = sp_hist_new();
    for (uint64_t v = 1; v <= 3; v++)
        sp_hist_record(h, v);
    CHECK_UINT_EQ(sp_hist_percentile(h, 50), 2);  /* rank 1.5 -> 2 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 34), 2);  /* rank 1.02 -> 2 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 33), 1);  /* rank 0.99 -> 1 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 67), 3);  /* rank 2.01 -> 3 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 99), 3);  /* rank 2.97 -> 3 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 0.1), 1); /* rank 0.003 -> 1 */
    sp_hist_reset(h);
    for (uint64_t v = 1; v <= 10; v++)
        sp_hist_record(h, v);
    CHECK_UINT_EQ(sp_hist_percentile(h, 95), 10); /* rank 9.5 -> 10 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 25), 3);  /* rank 2.5 -> 3 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 99), 10); /* rank 9.9 -> 10 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 50), 5);  /* rank 5, whole */
    CHECK_UINT_EQ(sp_hist_percentile(h, 51), 6);  /* rank 5.1 -> 6 */
    CHECK_UINT_EQ(sp_hist_percentile(h, 90), 9);  /* rank 9, whole */
    CHECK_UINT_EQ(sp_hist_percentile(h, 5), 1);   /* rank 0.5 -> 1 */
    /* The same ranks in the log-linear range: 10 values 10 ms apart, each in its own bucket,
     * each reported within 0.4%. */
    sp_hist_reset(h);
    for (uint64_t k = 1; k <= 10; k++)
        sp_hist_record(h, k * 10000);
    CHECK_NEAR(sp_hist_percentile(h, 95), 100000, 100000 * 0.004);
    CHECK_NEAR(sp_hist_percentile(h, 25), 30000, 30000 * 0.004);
    CHECK_NEAR(sp_hist_percentile(h, 51), 60000, 60000 * 0.004);
    sp_hist_free(h);
}

/* A value in the last bucket (2^36 - 1 us and beyond) survives a merge, as every other does. */
static void test_merge_keeps_last_bucket(void)
{
    size_t last = sp_hist_buckets() - 1;
    uint64_t top = (UINT64_C(1) << 36) - 1;
    sp_hist *src = sp_hist_new(), *dst = sp_hist_new();
    sp_hist_record(src, 1000);
    sp_hist_record(src, top);
    sp_hist_record(src, UINT64_C(1) << 40);
    sp_hist_record(dst, 5);
    CHECK_UINT_EQ(sp_hist_bucket_of(top), last);
    CHECK_UINT_EQ(sp_hist_bucket_count(src, last), 2);
    sp_hist_merge(dst, src);
    CHECK_UINT_EQ(sp_hist_count(dst), 4);
    CHECK_UINT_EQ(sp_hist_bucket_count(dst, last), 2);
    CHECK_UINT_EQ(sp_hist_bucket_count(dst, 5), 1);
    /* The buckets add up to the count, so a rebuild from storage sees the same values. */
    uint64_t sum = 0;
    for (size_t i = 0; i < sp_hist_buckets(); i++)
        sum += sp_hist_bucket_count(dst, i);
    CHECK_UINT_EQ(sum, sp_hist_count(dst));
    sp_hist *rebuilt = sp_hist_new();
    for (size_t i = 0; i < sp_hist_buckets(); i++)
        sp_hist_add_bucket(rebuilt, i, sp_hist_bucket_count(dst, i));
    CHECK_UINT_EQ(sp_hist_count(rebuilt), 4);
    CHECK(sp_hist_max(rebuilt) >= top);
    /* p75 is the third of four values: in the last bucket. */
    CHECK(sp_hist_percentile(rebuilt, 75) >= sp_hist_bucket_low(last));
    CHECK_UINT_EQ(sp_hist_max(dst), UINT64_C(1) << 40);
    sp_hist_free(rebuilt);
    sp_hist_free(src);
    sp_hist_free(dst);
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
    RUN(test_fractional_ranks);
    RUN(test_merge_keeps_last_bucket);
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
