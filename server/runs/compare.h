/*
 * compare.h - the statistics behind a comparison of runs that knows noise: a rank test
 * (Mann-Whitney U) with the Hodges-Lehmann shift and its confidence interval, a test of two
 * proportions with an interval for their difference, and the rule that turns a test and an
 * estimate into a verdict.
 *
 * Samples are sorted values with weights: the per-second values of a figure (each weight 1),
 * or a merged latency histogram (each bucket's representative value, weighted by its count),
 * so the same functions serve seconds and requests. Every function is pure: no allocation
 * survives a call, nothing is shared, any thread may call any of them at once.
 *
 * Conventions: x is the baseline, y the run compared with it; a shift is y - x (positive: y
 * is higher). p-values are two-sided. Where a result cannot be computed (an empty sample) the
 * function says so with 0 in its ok field and leaves the numbers as NAN.
 *
 * Calling sequence, for one figure of one request name:
 *     sp_cmp_mwu(&x, &y, &u);                 is there a shift at all?
 *     sp_cmp_hl(&x, &y, alpha, &est);        how large, and how sure
 *     verdict = sp_cmp_judge(&rule, u.p, est.shift, baseline_value, higher_is_worse);
 * For error rates: sp_cmp_props(k1, n1, k2, n2, alpha, &pr) and sp_cmp_judge() on its
 * difference.
 */
#ifndef SP_RUNS_COMPARE_H
#define SP_RUNS_COMPARE_H

#include <stddef.h>
#include <stdint.h>

/* Total weight up to which the rank test's p-value is exact rather than the normal
 * approximation: without ties (the distribution of U), and with ties (the permutation
 * distribution of the rank sum given the ties, which costs more to count). */
#define SP_CMP_EXACT_MAX 50
#define SP_CMP_EXACT_TIES_MAX 20

/* A sample: n distinct values in ascending order, each with a weight (how many observations
 * hold it); w NULL means every weight is 1. Borrowed by every function here. */
typedef struct sp_cmp_sample {
    const double *v;
    const uint64_t *w;
    size_t n;
} sp_cmp_sample;

/* The total weight (number of observations) of a sample. */
double sp_cmp_weight(const sp_cmp_sample *s);

/* Mann-Whitney U of y against x. */
typedef struct sp_cmp_mwu_result {
    int ok;      /* 0 when either sample is empty */
    double u;    /* pairs with y > x, ties counting one half */
    double mean; /* of u under no shift: nx * ny / 2 */
    double sd;   /* of u under no shift, corrected for ties (0 when every value is equal) */
    double z;    /* (u - mean) / sd with a continuity correction of 0.5; 0 when sd is 0 */
    double p;    /* two-sided p-value */
    int exact;   /* 1: p is from the exact permutation distribution (total weight at most
                    SP_CMP_EXACT_MAX without ties, SP_CMP_EXACT_TIES_MAX with), 0: from the
                    normal approximation */
} sp_cmp_mwu_result;

/*
 * The rank test: u counts the pairs (x_i, y_j) with y_j > x_i plus half of the tied pairs. The
 * p-value is two-sided, 2 * min(P(U <= u), P(U >= u)) capped at 1, from the exact conditional
 * distribution when the samples hold at most SP_CMP_EXACT_MAX observations together without a
 * tie (that of U), or SP_CMP_EXACT_TIES_MAX with ties (that of the rank sum, the ties given as
 * they are, counting which observations belong to y), else from the normal approximation with
 * the tie-corrected variance and a continuity correction.
 */
void sp_cmp_mwu(const sp_cmp_sample *x, const sp_cmp_sample *y, sp_cmp_mwu_result *out);

/* The smallest two-sided p-value the rank test can give nx against ny observations, whatever
 * they are (all of y above all of x, no ties): 2 / C(nx + ny, nx), at most 1. When it is not
 * below alpha, no data of that size can be significant: that is "not enough data". */
double sp_cmp_min_p(double nx, double ny);

/* The Hodges-Lehmann shift of y against x and its confidence interval. */
typedef struct sp_cmp_shift {
    int ok;        /* 0 when either sample is empty */
    double shift;  /* the median of every difference y_j - x_i (weighted by pairs) */
    double lo, hi; /* the interval: order statistics of the differences; NAN when the samples
                      are too small for the level asked (then the interval is unbounded) */
    double level;  /* the confidence the interval has: 1 - alpha asked (the exact interval of
                      small samples reaches at least that) */
} sp_cmp_shift;

/*
 * The shift estimate and its 1 - alpha interval, from the differences y_j - x_i ordered:
 * [D(C), D(M + 1 - C)] with M the number of pairs and C the largest count such that
 * P(U < C) <= alpha / 2 (Hollander and Wolfe 4.3): from the exact null distribution of U
 * without ties for unweighted samples of at most SP_CMP_EXACT_MAX observations (ties there are
 * ignored for C), else from the normal approximation C = M/2 - z(1 - alpha/2) * sd (sd
 * corrected for ties), rounded down. Runs in
 * O((nx + ny) * 64) without forming the pairs, so a day of seconds or a histogram of millions of
 * requests costs the same.
 */
void sp_cmp_hl(const sp_cmp_sample *x, const sp_cmp_sample *y, double alpha, sp_cmp_shift *out);

/* Two proportions: k1 of n1 (the baseline) against k2 of n2. */
typedef struct sp_cmp_props_result {
    int ok;        /* 0 when n1 or n2 is 0, or k > n */
    double p1, p2; /* k1/n1, k2/n2 */
    double diff;   /* p2 - p1 */
    double lo, hi; /* Newcombe's hybrid score interval for diff (his method 10) */
    double p;      /* two-sided p-value */
    int exact;     /* 1: Fisher's exact test (an expected cell count under 5), 0: the pooled
                      z-test */
} sp_cmp_props_result;

/* Tests p2 = p1 and gives the 1 - alpha interval of p2 - p1. */
void sp_cmp_props(uint64_t k1, uint64_t n1, uint64_t k2, uint64_t n2, double alpha,
                  sp_cmp_props_result *out);

/* What a change is. */
typedef enum sp_cmp_verdict {
    SP_CMP_NO_CHANGE,   /* "no significant change" */
    SP_CMP_REGRESSION,  /* "regression" */
    SP_CMP_IMPROVEMENT, /* "improvement" */
    SP_CMP_NOT_ENOUGH,  /* "not enough data" (the caller decides; sp_cmp_judge never says it) */
} sp_cmp_verdict;

/* "no significant change", "regression", "improvement", "not enough data". */
const char *sp_cmp_verdict_name(sp_cmp_verdict v);

/* When a change counts. */
typedef struct sp_cmp_rule {
    double alpha;     /* significance level: p must be below it */
    double rel_floor; /* the change must reach this fraction of the baseline's value (0.05) */
    double abs_floor; /* ... and this much in the figure's unit (1 ms) */
} sp_cmp_rule;

/*
 * A change is flagged only when it is significant (p < alpha) and its estimate reaches both
 * floors: |change| >= abs_floor and |change| >= rel_floor * |base|. Its direction gives the
 * verdict: up is a regression when higher_is_worse, else an improvement. A NAN p or change is
 * never flagged.
 */
sp_cmp_verdict sp_cmp_judge(const sp_cmp_rule *r, double p, double change, double base,
                            int higher_is_worse);

/* The standard normal distribution: P(Z <= z), and its inverse for 0 < p < 1 (NAN outside). */
double sp_cmp_norm_cdf(double z);
double sp_cmp_norm_quantile(double p);

#endif
