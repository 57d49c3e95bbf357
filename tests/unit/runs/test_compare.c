/*
 * test_compare.c - the statistics of runs/compare.c against textbook values and against
 * brute force written here independently: U counted pair by pair, exact p-values by
 * enumerating every way to split the observations, Hodges-Lehmann estimates and intervals
 * from every difference sorted, Fisher's test by summing tables.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "runs/compare.h"

/* ---- Brute force ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* U of y against x: pairs with y > x, ties one half. */
static double brute_u(const double *x, size_t nx, const double *y, size_t ny)
{
    double u = 0;
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++)
            u += y[j] > x[i] ? 1 : y[j] == x[i] ? 0.5 : 0;
    return u;
}

/*
 * The exact two-sided p-value by enumeration: every subset of ny of the pooled observations is
 * y once; p = 2 * min(P(U <= u), P(U >= u)), capped at 1. Also the exact distribution's
 * C = the largest c with P(U < c) <= alpha / 2 (for data without ties).
 */
static double brute_exact_p(const double *x, size_t nx, const double *y, size_t ny, double alpha,
                            double *c_out)
{
    size_t N = nx + ny;
    double pool[32];
    memcpy(pool, x, nx * sizeof *x);
    memcpy(pool + nx, y, ny * sizeof *y);
    double uobs = brute_u(x, nx, y, ny);
    double le = 0, ge = 0, all = 0;
    double *us = malloc(sizeof(double) << N);
    size_t nus = 0;
    for (unsigned mask = 0; mask < (1u << N); mask++) {
        if ((size_t)__builtin_popcount(mask) != ny)
            continue;
        double xs[32], ys[32];
        size_t a = 0, b = 0;
        for (size_t k = 0; k < N; k++) {
            if (mask & (1u << k))
                ys[b++] = pool[k];
            else
                xs[a++] = pool[k];
        }
        double u = brute_u(xs, a, ys, b);
        us[nus++] = u;
        all++;
        le += u <= uobs + 1e-9;
        ge += u >= uobs - 1e-9;
    }
    if (c_out) {
        double c = 0;
        for (double cand = 1; cand <= (double)(nx * ny); cand++) {
            double below = 0;
            for (size_t k = 0; k < nus; k++)
                below += us[k] < cand - 1e-9;
            if (below / all <= alpha / 2)
                c = cand;
            else
                break;
        }
        *c_out = c;
    }
    free(us);
    double p = 2 * (le < ge ? le : ge) / all;
    return p < 1 ? p : 1;
}

/* Every difference y - x, sorted (new array of nx * ny). */
static double *brute_diffs(const double *x, size_t nx, const double *y, size_t ny)
{
    double *d = malloc(nx * ny * sizeof *d);
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++)
            d[i * ny + j] = y[j] - x[i];
    qsort(d, nx * ny, sizeof *d, cmp_double);
    return d;
}

static double brute_median(const double *d, size_t m)
{
    return m % 2 ? d[m / 2] : (d[m / 2 - 1] + d[m / 2]) / 2;
}

/* A sample over sorted copies of v (static storage per slot: two samples at a time). */
static sp_cmp_sample sample_of(int slot, const double *v, size_t n)
{
    static double store[2][4096];
    memcpy(store[slot], v, n * sizeof *v);
    qsort(store[slot], n, sizeof *v, cmp_double);
    return (sp_cmp_sample){store[slot], NULL, n};
}

/* A small deterministic generator, so failures reproduce. */
static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- The normal distribution ---- */

static void test_normal_quantiles(void)
{
    CHECK_NEAR(sp_cmp_norm_quantile(0.975), 1.959963984540054, 1e-12);
    CHECK_NEAR(sp_cmp_norm_quantile(0.995), 2.575829303548901, 1e-12);
    CHECK_NEAR(sp_cmp_norm_quantile(0.5), 0.0, 1e-15);
    CHECK_NEAR(sp_cmp_norm_quantile(0.01), -2.326347874040841, 1e-12);
    CHECK_NEAR(sp_cmp_norm_quantile(1e-10), -6.361340902404056, 1e-9);
    CHECK_NEAR(sp_cmp_norm_cdf(1.959963984540054), 0.975, 1e-14);
    CHECK(isnan(sp_cmp_norm_quantile(0)));
    CHECK(isnan(sp_cmp_norm_quantile(1)));
    /* The quantile inverts the distribution everywhere in between. */
    for (double p = 0.0005; p < 1; p += 0.0123)
        CHECK_NEAR(sp_cmp_norm_cdf(sp_cmp_norm_quantile(p)), p, 1e-13);
}

/* ---- Mann-Whitney ---- */

/* Hollander and Wolfe (1973, p. 69), the example of R's wilcox.test: W = 35 for x over y, and
 * the one-sided exact p-value 0.1272, so two-sided 0.2544. */
static void test_mwu_textbook(void)
{
    const double x[] = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
    const double y[] = {1.15, 0.88, 0.90, 0.74, 1.21};
    sp_cmp_sample sx = sample_of(0, x, 10), sy = sample_of(1, y, 5);
    sp_cmp_mwu_result r;
    sp_cmp_mwu(&sx, &sy, &r);
    CHECK(r.ok);
    CHECK(r.exact);
    CHECK_NEAR(r.u, 50 - 35, 1e-12); /* pairs with y above x: 50 pairs less R's W */
    CHECK_NEAR(r.p, 0.2544, 5e-5);
    /* The other way round is the same test. */
    sp_cmp_mwu(&sy, &sx, &r);
    CHECK_NEAR(r.u, 35, 1e-12);
    CHECK_NEAR(r.p, 0.2544, 5e-5);
}

/* Small samples with and without ties: u and the exact p-value equal the brute force. */
static void test_mwu_exact_matches_enumeration(void)
{
    for (int round = 0; round < 300; round++) {
        size_t nx = 1 + next_rand() % 6, ny = 1 + next_rand() % 6;
        int span = round % 3 == 0 ? 4 : 1000; /* a span of 4 values makes many ties */
        double x[16], y[16];
        for (size_t i = 0; i < nx; i++)
            x[i] = (double)(next_rand() % span);
        for (size_t j = 0; j < ny; j++)
            y[j] = (double)(next_rand() % span) + (round % 5 == 0 ? 2 : 0);
        sp_cmp_sample sx = sample_of(0, x, nx), sy = sample_of(1, y, ny);
        sp_cmp_mwu_result r;
        sp_cmp_mwu(&sx, &sy, &r);
        CHECK(r.ok);
        CHECK_NEAR(r.u, brute_u(x, nx, y, ny), 1e-9);
        double p = brute_exact_p(x, nx, y, ny, 0.05, NULL);
        if (r.sd > 0) {
            CHECK(r.exact);
            CHECK_NEAR(r.p, p, 1e-12);
        } else {
            CHECK_NEAR(r.p, 1, 0); /* every value equal */
        }
    }
}

/* Weights stand for repeated values: a histogram gives what its expanded values give. */
static void test_mwu_weights_equal_repeats(void)
{
    const double vx[] = {1, 2, 3, 5}, vy[] = {2, 3, 4, 6};
    const uint64_t wx[] = {3, 1, 2, 1}, wy[] = {1, 2, 3, 2};
    sp_cmp_sample hx = {vx, wx, 4}, hy = {vy, wy, 4};
    double ex[16], ey[16];
    size_t nx = 0, ny = 0;
    for (int i = 0; i < 4; i++) {
        for (uint64_t k = 0; k < wx[i]; k++)
            ex[nx++] = vx[i];
        for (uint64_t k = 0; k < wy[i]; k++)
            ey[ny++] = vy[i];
    }
    sp_cmp_sample sx = {ex, NULL, nx}, sy = {ey, NULL, ny};
    sp_cmp_mwu_result a, b;
    sp_cmp_mwu(&hx, &hy, &a);
    sp_cmp_mwu(&sx, &sy, &b);
    CHECK_NEAR(a.u, b.u, 1e-12);
    CHECK_NEAR(a.sd, b.sd, 1e-12);
    CHECK_NEAR(a.p, b.p, 1e-12);
    CHECK_NEAR(a.p, brute_exact_p(ex, nx, ey, ny, 0.05, NULL), 1e-12);
    CHECK_NEAR(sp_cmp_weight(&hx), 7, 0);
}

/* Beyond SP_CMP_EXACT_MAX observations: the normal approximation with the tie-corrected
 * variance and the continuity correction, computed here from its textbook formula. */
static void test_mwu_normal_approximation(void)
{
    double x[40], y[30];
    for (int i = 0; i < 40; i++)
        x[i] = (double)(next_rand() % 20);
    for (int j = 0; j < 30; j++)
        y[j] = (double)(next_rand() % 20) + 8;
    sp_cmp_sample sx = sample_of(0, x, 40), sy = sample_of(1, y, 30);
    sp_cmp_mwu_result r;
    sp_cmp_mwu(&sx, &sy, &r);
    CHECK(!r.exact);
    double u = brute_u(x, 40, y, 30);
    /* Ties: count each value's multiplicity in the pool. */
    double ties = 0;
    for (int v = 0; v < 40; v++) {
        double t = 0;
        for (int i = 0; i < 40; i++)
            t += x[i] == v;
        for (int j = 0; j < 30; j++)
            t += y[j] == v;
        ties += t * t * t - t;
    }
    double N = 70, var = 40.0 * 30 / 12 * ((N + 1) - ties / (N * (N - 1)));
    double z = (u - 600 - (u > 600 ? 0.5 : -0.5)) / sqrt(var);
    CHECK_NEAR(r.u, u, 1e-9);
    CHECK_NEAR(r.sd, sqrt(var), 1e-9);
    CHECK_NEAR(r.z, z, 1e-9);
    CHECK_NEAR(r.p, 2 * (1 - sp_cmp_norm_cdf(fabs(z))), 1e-12);
    CHECK(r.p < 0.001); /* a shift of 8 in 20 over 70 observations is plain */
}

/* The smallest p-value a size allows: 2 / C(N, n). 5 against 5 can reach 0.01, 4 against 5
 * cannot; one request against a hundred never can. */
static void test_min_p(void)
{
    CHECK_NEAR(sp_cmp_min_p(5, 5), 2.0 / 252, 1e-12);
    CHECK(sp_cmp_min_p(5, 5) < 0.01);
    CHECK(sp_cmp_min_p(4, 5) > 0.01);
    CHECK_NEAR(sp_cmp_min_p(1, 100), 2.0 / 101, 1e-12);
    CHECK_NEAR(sp_cmp_min_p(0, 10), 1, 0);
    CHECK_NEAR(sp_cmp_min_p(1, 1), 1, 0);
    CHECK(sp_cmp_min_p(1000, 1000) < 1e-300 || sp_cmp_min_p(1000, 1000) == 0);
    /* It is what the exact test gives for samples apart. */
    const double x[] = {1, 2, 3, 4}, y[] = {10, 11, 12, 13, 14};
    sp_cmp_sample sx = {x, NULL, 4}, sy = {y, NULL, 5};
    sp_cmp_mwu_result r;
    sp_cmp_mwu(&sx, &sy, &r);
    CHECK_NEAR(r.p, sp_cmp_min_p(4, 5), 1e-12);
}

static void test_mwu_degenerate(void)
{
    const double v[] = {5, 5, 5};
    sp_cmp_sample a = {v, NULL, 3}, b = {v, NULL, 2}, none = {v, NULL, 0};
    sp_cmp_mwu_result r;
    sp_cmp_mwu(&a, &b, &r);
    CHECK(r.ok);
    CHECK_NEAR(r.p, 1, 0);
    CHECK_NEAR(r.sd, 0, 0);
    sp_cmp_mwu(&a, &none, &r);
    CHECK(!r.ok);
    CHECK(isnan(r.p));
}

/* ---- Hodges-Lehmann ---- */

static void test_hl_matches_sorted_differences(void)
{
    for (int round = 0; round < 200; round++) {
        size_t nx = 1 + next_rand() % 9, ny = 1 + next_rand() % 9;
        double x[16], y[16];
        /* Distinct values (no ties: x's thousandths are even, y's odd), so the exact interval
         * applies. */
        for (size_t i = 0; i < nx; i++)
            x[i] = (double)(i * 37 % 101) + (double)(next_rand() % 500 * 2) / 1000.0;
        for (size_t j = 0; j < ny; j++)
            y[j] = (double)(j * 53 % 97) + 10.5 + (double)(next_rand() % 500 * 2 + 1) / 1000.0;
        sp_cmp_sample sx = sample_of(0, x, nx), sy = sample_of(1, y, ny);
        sp_cmp_shift s;
        sp_cmp_hl(&sx, &sy, 0.05, &s);
        CHECK(s.ok);
        double *d = brute_diffs(x, nx, y, ny);
        size_t m = nx * ny;
        CHECK_NEAR(s.shift, brute_median(d, m), 1e-9);
        double c;
        brute_exact_p(x, nx, y, ny, 0.05, &c);
        if (c >= 1) {
            CHECK_NEAR(s.lo, d[(size_t)c - 1], 1e-9);
            CHECK_NEAR(s.hi, d[m - (size_t)c], 1e-9);
        } else {
            CHECK(isnan(s.lo) && isnan(s.hi)); /* too few for a 95% interval */
        }
        free(d);
    }
}

/* A known small case: x = 1..5, y = x + 10. Every difference is 6..14, the median 10; the
 * exact 95% interval for 5 and 5 is [D(3), D(23)] = [7, 13] (P(U <= 2) = 4/252 <= 0.025 <
 * P(U <= 3) = 7/252). */
static void test_hl_known_interval(void)
{
    const double x[] = {1, 2, 3, 4, 5}, y[] = {11, 12, 13, 14, 15};
    sp_cmp_sample sx = {x, NULL, 5}, sy = {y, NULL, 5};
    sp_cmp_shift s;
    sp_cmp_hl(&sx, &sy, 0.05, &s);
    CHECK_NEAR(s.shift, 10, 1e-12);
    double *d = brute_diffs(x, 5, y, 5);
    CHECK_NEAR(s.lo, d[2], 1e-12);
    CHECK_NEAR(s.hi, d[22], 1e-12);
    CHECK_NEAR(s.lo, 7, 1e-12);
    CHECK_NEAR(s.hi, 13, 1e-12);
    free(d);
}

/* The exact interval of larger samples without ties, against the tables' critical values of U
 * at 5% two-sided: 23 for 10 and 10, 127 for 20 and 20 (so C = 24 and 128). */
static void test_hl_table_values(void)
{
    const size_t sizes[][3] = {{10, 10, 24}, {20, 20, 128}};
    for (size_t k = 0; k < SP_ARRAY_LEN(sizes); k++) {
        size_t n = sizes[k][0];
        double x[32], y[32];
        for (size_t i = 0; i < n; i++) {
            x[i] = (double)i * 1.01;
            y[i] = 1000 + (double)i;
        }
        sp_cmp_sample sx = {x, NULL, n}, sy = {y, NULL, n};
        sp_cmp_shift s;
        sp_cmp_hl(&sx, &sy, 0.05, &s);
        double *d = brute_diffs(x, n, y, n);
        CHECK_NEAR(s.lo, d[sizes[k][2] - 1], 1e-9);
        CHECK_NEAR(s.hi, d[n * n - sizes[k][2]], 1e-9);
        free(d);
        /* And the test itself: U at the critical value is significant, one above it is not. */
        sp_cmp_mwu_result r;
        sp_cmp_mwu(&sx, &sy, &r);
        CHECK(r.exact);
    }
}

/* Seconds that tie (percentiles are bucket values) still get the exact interval of small
 * samples: 5 against 5 at 99% is [D(1), D(25)], the extreme differences. */
static void test_hl_small_ties(void)
{
    const double x[] = {20.1, 20.1, 20.5, 20.5, 21.0}, y[] = {24.0, 24.0, 25.0, 25.5, 26.0};
    sp_cmp_sample sx = {x, NULL, 5}, sy = {y, NULL, 5};
    sp_cmp_shift s;
    sp_cmp_hl(&sx, &sy, 0.01, &s);
    CHECK_NEAR(s.lo, 24.0 - 21.0, 1e-12);
    CHECK_NEAR(s.hi, 26.0 - 20.1, 1e-12);
    /* 4 against 4 at 99% cannot have one: P(U = 0) = 1/70 is above 0.005. */
    sx.n = sy.n = 4;
    sp_cmp_hl(&sx, &sy, 0.01, &s);
    CHECK(s.ok);
    CHECK(isnan(s.lo) && isnan(s.hi));
}

/* Histograms of many requests: weighted differences give what expanding them gives, and the
 * large-sample interval is the normal-approximation order statistics of the expansion. */
static void test_hl_weighted_histograms(void)
{
    double vx[40], vy[40];
    uint64_t wx[40], wy[40];
    double ex[4096], ey[4096];
    size_t nx = 0, ny = 0;
    for (int i = 0; i < 40; i++) {
        vx[i] = 10 + i * 0.25;
        vy[i] = 11 + i * 0.25;
        wx[i] = 1 + next_rand() % 6;
        wy[i] = 1 + next_rand() % 6;
        for (uint64_t k = 0; k < wx[i]; k++)
            ex[nx++] = vx[i];
        for (uint64_t k = 0; k < wy[i]; k++)
            ey[ny++] = vy[i];
    }
    sp_cmp_sample hx = {vx, wx, 40}, hy = {vy, wy, 40};
    sp_cmp_shift s;
    sp_cmp_hl(&hx, &hy, 0.05, &s);
    double *d = brute_diffs(ex, nx, ey, ny);
    size_t m = nx * ny;
    CHECK_NEAR(s.shift, brute_median(d, m), 1e-9);
    /* C from the normal approximation with the tie-corrected variance. */
    sp_cmp_mwu_result r;
    sp_cmp_mwu(&hx, &hy, &r);
    double C = floor((double)m / 2 - 1.959963984540054 * r.sd);
    CHECK_NEAR(s.lo, d[(size_t)C - 1], 1e-9);
    CHECK_NEAR(s.hi, d[m - (size_t)C], 1e-9);
    CHECK(s.lo <= s.shift && s.shift <= s.hi);
    CHECK(s.lo < 1 && s.hi > 1); /* around the true shift of 1 */
    CHECK(s.hi - s.lo < 3);
    free(d);
}

/* Large samples of seconds cost no more than a few passes: a day against a day. */
static void test_hl_large(void)
{
    static double x[86400], y[86400];
    for (int i = 0; i < 86400; i++) {
        x[i] = 20 + (double)(next_rand() % 1000) / 100.0;
        y[i] = 21 + (double)(next_rand() % 1000) / 100.0;
    }
    qsort(x, 86400, sizeof *x, cmp_double);
    qsort(y, 86400, sizeof *y, cmp_double);
    sp_cmp_sample sx = {x, NULL, 86400}, sy = {y, NULL, 86400};
    sp_cmp_shift s;
    sp_cmp_hl(&sx, &sy, 0.01, &s);
    CHECK_NEAR(s.shift, 1.0, 0.05);
    CHECK(s.lo < s.shift && s.shift < s.hi && s.hi - s.lo < 0.2);
    sp_cmp_mwu_result r;
    sp_cmp_mwu(&sx, &sy, &r);
    CHECK(r.p < 1e-10);
}

/* ---- Proportions ---- */

/* Fisher's tea-tasting table (3 1 / 1 3): two-sided p = 34/70 = 0.4857. */
static void test_props_fisher(void)
{
    sp_cmp_props_result r;
    sp_cmp_props(1, 4, 3, 4, 0.05, &r);
    CHECK(r.ok);
    CHECK(r.exact);
    CHECK_NEAR(r.p, 34.0 / 70.0, 1e-12);
    CHECK_NEAR(r.diff, 0.5, 1e-12);
    /* Brute force over the tables with these margins, for a lopsided one. */
    uint64_t k1 = 0, n1 = 12, k2 = 7, n2 = 9;
    double N = 21, K = 7, obs = 0, p = 0;
    double probs[10] = {0};
    for (int x = 0; x <= 7; x++) {
        /* P(X = x) for x of the K successes in the n2 draws. */
        double lp = lgamma(K + 1) - lgamma(x + 1) - lgamma(K - x + 1) + lgamma(N - K + 1) -
                    lgamma(n2 - x + 1) - lgamma(N - K - (n2 - x) + 1) -
                    (lgamma(N + 1) - lgamma(n2 + 1) - lgamma(N - n2 + 1));
        probs[x] = exp(lp);
    }
    obs = probs[k2];
    for (int x = 0; x <= 7; x++)
        p += probs[x] <= obs * (1 + 1e-7) ? probs[x] : 0;
    sp_cmp_props(k1, n1, k2, n2, 0.05, &r);
    CHECK(r.exact);
    CHECK_NEAR(r.p, p, 1e-12);
    CHECK(r.p < 0.001);
}

/* The pooled z-test: 20/100 against 35/100 gives z = 0.15 / sqrt(.275 * .725 * .02). */
static void test_props_z(void)
{
    sp_cmp_props_result r;
    sp_cmp_props(20, 100, 35, 100, 0.05, &r);
    CHECK(!r.exact);
    double z = 0.15 / sqrt(0.275 * 0.725 * 0.02);
    CHECK_NEAR(r.p, 2 * (1 - sp_cmp_norm_cdf(z)), 1e-12);
    CHECK_NEAR(r.p, 0.01753, 5e-5);
}

/* Newcombe (1998), Table II: 56/70 - 48/80 = 0.2 with the hybrid score interval
 * [0.0524, 0.3339]; 9/10 - 3/10 = 0.6 with [0.1705, 0.8090]. */
static void test_props_newcombe(void)
{
    sp_cmp_props_result r;
    sp_cmp_props(48, 80, 56, 70, 0.05, &r);
    CHECK_NEAR(r.diff, 0.2, 1e-12);
    CHECK_NEAR(r.lo, 0.0524, 5e-5);
    CHECK_NEAR(r.hi, 0.3339, 5e-5);
    sp_cmp_props(3, 10, 9, 10, 0.05, &r);
    CHECK_NEAR(r.diff, 0.6, 1e-12);
    CHECK_NEAR(r.lo, 0.1705, 5e-5);
    CHECK_NEAR(r.hi, 0.8090, 5e-5);
    /* No errors in either: nothing to tell apart. */
    sp_cmp_props(0, 500, 0, 400, 0.05, &r);
    CHECK(r.ok);
    CHECK_NEAR(r.p, 1, 1e-12);
    CHECK(r.lo < 0 && r.hi > 0);
    sp_cmp_props(0, 0, 1, 3, 0.05, &r);
    CHECK(!r.ok);
    sp_cmp_props(4, 3, 1, 3, 0.05, &r);
    CHECK(!r.ok);
}

/* ---- Verdicts ---- */

static void test_judge(void)
{
    sp_cmp_rule r = {.alpha = 0.01, .rel_floor = 0.05, .abs_floor = 1.0};
    /* Significant, beyond both floors, up: a regression for latency. */
    CHECK_INT_EQ(sp_cmp_judge(&r, 0.001, 6, 20, 1), SP_CMP_REGRESSION);
    CHECK_INT_EQ(sp_cmp_judge(&r, 0.001, -6, 20, 1), SP_CMP_IMPROVEMENT);
    /* Higher is better (throughput). */
    CHECK_INT_EQ(sp_cmp_judge(&r, 0.001, 6, 20, 0), SP_CMP_IMPROVEMENT);
    CHECK_INT_EQ(sp_cmp_judge(&r, 0.001, -6, 20, 0), SP_CMP_REGRESSION);
    /* Not significant at the level. */
    CHECK_INT_EQ(sp_cmp_judge(&r, 0.01, 6, 20, 1), SP_CMP_NO_CHANGE);
    /* Below the absolute floor (0.9 ms on 5 ms is 18%). */
    CHECK_INT_EQ(sp_cmp_judge(&r, 1e-9, 0.9, 5, 1), SP_CMP_NO_CHANGE);
    /* Below the relative floor (4 ms on 100 ms). */
    CHECK_INT_EQ(sp_cmp_judge(&r, 1e-9, 4, 100, 1), SP_CMP_NO_CHANGE);
    CHECK_INT_EQ(sp_cmp_judge(&r, 1e-9, 5, 100, 1), SP_CMP_REGRESSION); /* at it */
    /* Nothing computed is nothing flagged. */
    CHECK_INT_EQ(sp_cmp_judge(&r, NAN, 6, 20, 1), SP_CMP_NO_CHANGE);
    CHECK_INT_EQ(sp_cmp_judge(&r, 0.001, NAN, 20, 1), SP_CMP_NO_CHANGE);
    /* From a baseline of 0 only the absolute floor counts. */
    CHECK_INT_EQ(sp_cmp_judge(&r, 0.001, 1, 0, 1), SP_CMP_REGRESSION);
    CHECK_STR_EQ(sp_cmp_verdict_name(SP_CMP_NO_CHANGE), "no significant change");
    CHECK_STR_EQ(sp_cmp_verdict_name(SP_CMP_NOT_ENOUGH), "not enough data");
}

int main(void)
{
    RUN(test_normal_quantiles);
    RUN(test_mwu_textbook);
    RUN(test_mwu_exact_matches_enumeration);
    RUN(test_mwu_weights_equal_repeats);
    RUN(test_mwu_normal_approximation);
    RUN(test_min_p);
    RUN(test_mwu_degenerate);
    RUN(test_hl_matches_sorted_differences);
    RUN(test_hl_known_interval);
    RUN(test_hl_small_ties);
    RUN(test_hl_table_values);
    RUN(test_hl_weighted_histograms);
    RUN(test_hl_large);
    RUN(test_props_fisher);
    RUN(test_props_z);
    RUN(test_props_newcombe);
    RUN(test_judge);
    return check_summary();
}
