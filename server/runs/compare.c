/*
 * compare.c - see compare.h.
 *
 * Nothing here forms the nx * ny pairs of two samples: the rank sum comes from one merge of the
 * sorted samples, and an order statistic of the pairwise differences from a bisection over the
 * difference with a counting merge at each step. The exact distribution of the rank sum is a
 * dynamic programme over the groups of tied values (how many of each group belong to y), so it
 * is exact with ties too; counts stay below 2^53 (C(50, 25) is about 1.3e14) and are exact in
 * doubles.
 */
#include "runs/compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

static double wt(const sp_cmp_sample *s, size_t i)
{
    return s->w ? (double)s->w[i] : 1.0;
}

double sp_cmp_weight(const sp_cmp_sample *s)
{
    double t = 0;
    for (size_t i = 0; i < s->n; i++)
        t += wt(s, i);
    return t;
}

/* ---- The normal distribution ---- */

double sp_cmp_norm_cdf(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}

/* Acklam's rational approximation (relative error 1.15e-9), refined by one Halley step on
 * erfc, which brings it to full double precision. */
double sp_cmp_norm_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (!(p > 0 && p < 1))
        return NAN;
    const double plow = 0.02425;
    double x;
    if (p < plow) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - plow) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        double q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double e = sp_cmp_norm_cdf(x) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

/* ---- Ranks ---- */

/* One group of tied values across both samples. */
typedef struct group {
    double a, b; /* weight of x and of y at this value */
} group;

/*
 * Walks both samples in ascending order, one group per distinct value; calls fn with the group
 * and the weight of x below it. Equal values may repeat inside a sample: they join one group.
 * Returns the number of groups.
 */
static size_t merge_groups(const sp_cmp_sample *x, const sp_cmp_sample *y,
                           void (*fn)(void *ctx, const group *g, double x_below), void *ctx)
{
    size_t i = 0, j = 0, ngroups = 0;
    double x_below = 0;
    while (i < x->n || j < y->n) {
        double v;
        if (j >= y->n || (i < x->n && x->v[i] <= y->v[j]))
            v = x->v[i];
        else
            v = y->v[j];
        group g = {0, 0};
        while (i < x->n && x->v[i] == v)
            g.a += wt(x, i++);
        while (j < y->n && y->v[j] == v)
            g.b += wt(y, j++);
        if (fn)
            fn(ctx, &g, x_below);
        x_below += g.a;
        ngroups++;
    }
    return ngroups;
}

struct rank_acc {
    double u, ties;
    group *groups; /* when collecting for the exact distribution */
    size_t n;
};

static void rank_step(void *ctx, const group *g, double x_below)
{
    struct rank_acc *r = ctx;
    r->u += g->b * (x_below + g->a / 2);
    double t = g->a + g->b;
    r->ties += t * t * t - t;
    if (r->groups)
        r->groups[r->n++] = *g;
}

/*
 * The exact distribution of twice the rank sum of y, given the groups of tied values: each
 * group g of t observations has the doubled mid-rank c = 2 * (observations below) + t + 1, and
 * choosing b of its observations for y adds b * c. ways[s] (s from 0 to *smax) gets the number
 * of ways to pick ny observations in all with doubled rank sum s. Returns the array (free()).
 */
static double *rank_sum_distribution(const group *g, size_t ngroups, size_t ny, size_t *smax)
{
    size_t total = 0;
    for (size_t k = 0; k < ngroups; k++)
        total += (size_t)(g[k].a + g[k].b);
    size_t S = ny * (2 * total + 1) + 1;
    /* ways[k * S + s]: k observations chosen so far with doubled rank sum s. */
    double *ways = sp_calloc((ny + 1) * S, sizeof *ways);
    double *next = sp_calloc((ny + 1) * S, sizeof *next);
    ways[0] = 1;
    size_t below = 0;
    for (size_t k = 0; k < ngroups; k++) {
        size_t t = (size_t)(g[k].a + g[k].b);
        size_t c = 2 * below + t + 1;
        memset(next, 0, (ny + 1) * S * sizeof *next);
        for (size_t have = 0; have <= ny; have++) {
            for (size_t s = 0; s < S; s++) {
                double w = ways[have * S + s];
                if (w == 0)
                    continue;
                double choose = 1; /* C(t, b) as b grows */
                for (size_t b = 0; b <= t && have + b <= ny; b++) {
                    if (b)
                        choose = choose * (double)(t - b + 1) / (double)b;
                    size_t s2 = s + b * c;
                    if (s2 < S)
                        next[(have + b) * S + s2] += w * choose;
                }
            }
        }
        double *tmp = ways;
        ways = next;
        next = tmp;
        below += t;
    }
    free(next);
    double *out = sp_calloc(S, sizeof *out);
    memcpy(out, ways + ny * S, S * sizeof *out);
    free(ways);
    *smax = S - 1;
    return out;
}

/*
 * The number of ways to split m + n distinct values into x (m) and y (n) with each U = u, for u
 * from 0 to m * n (new array): the coefficients of the Gaussian binomial
 * [m + n choose n]_q = prod_{i=1..n} (1 - q^(m+i)) / (1 - q^i), each factor applied in turn
 * (a multiplication and an exact division of polynomials with integer coefficients), so it
 * costs O(n * m * n) rather than a pass over every split.
 */
static double *u_distribution(size_t m, size_t n)
{
    size_t deg = m * n;
    double *c = sp_calloc(deg + 1, sizeof *c);
    c[0] = 1;
    for (size_t i = 1; i <= n; i++) {
        /* times (1 - q^(m+i)), from the top so each coefficient is read before it changes */
        for (size_t j = deg; j >= m + i; j--)
            c[j] -= c[j - (m + i)];
        /* divided by (1 - q^i): b[j] = a[j] + b[j - i] */
        for (size_t j = i; j <= deg; j++)
            c[j] += c[j - i];
    }
    return c;
}

/* Collects the groups of x and y (new array; free()). */
static group *groups_of(const sp_cmp_sample *x, const sp_cmp_sample *y, size_t *n)
{
    size_t ng = merge_groups(x, y, NULL, NULL);
    struct rank_acc acc = {0, 0, sp_calloc(ng ? ng : 1, sizeof(group)), 0};
    merge_groups(x, y, rank_step, &acc);
    *n = acc.n;
    return acc.groups;
}

void sp_cmp_mwu(const sp_cmp_sample *x, const sp_cmp_sample *y, sp_cmp_mwu_result *out)
{
    memset(out, 0, sizeof *out);
    out->u = out->mean = out->sd = out->z = out->p = NAN;
    double nx = sp_cmp_weight(x), ny = sp_cmp_weight(y);
    if (nx <= 0 || ny <= 0)
        return;
    struct rank_acc acc = {0, 0, NULL, 0};
    merge_groups(x, y, rank_step, &acc);
    double N = nx + ny;
    out->ok = 1;
    out->u = acc.u;
    out->mean = nx * ny / 2;
    double var = nx * ny / 12 * ((N + 1) - acc.ties / (N * (N - 1)));
    out->sd = var > 0 ? sqrt(var) : 0;
    if (out->sd > 0) {
        double d = out->u - out->mean;
        double cc = d > 0 ? 0.5 : d < 0 ? -0.5 : 0;
        out->z = (d - cc) / out->sd;
        out->p = erfc(fabs(out->z) / M_SQRT2);
    } else {
        out->z = 0;
        out->p = 1; /* every value is equal: nothing tells the samples apart */
    }
    if (N > SP_CMP_EXACT_MAX || out->sd <= 0)
        return;
    size_t ng = merge_groups(x, y, NULL, NULL);
    if (ng == (size_t)N) {
        /* No ties: the distribution of U itself, cheap at any size up to the cap. */
        size_t m = (size_t)nx, n = (size_t)ny;
        double *f = u_distribution(m, n);
        double all = 0, le = 0, ge = 0;
        for (size_t u = 0; u <= m * n; u++) {
            all += f[u];
            le += (double)u <= out->u + 1e-9 ? f[u] : 0;
            ge += (double)u >= out->u - 1e-9 ? f[u] : 0;
        }
        free(f);
        double p = 2 * (le < ge ? le : ge) / all;
        out->p = p < 1 ? p : 1;
        out->exact = 1;
    } else if (N <= SP_CMP_EXACT_TIES_MAX) {
        size_t smax;
        group *g = groups_of(x, y, &ng);
        double *ways = rank_sum_distribution(g, ng, (size_t)ny, &smax);
        /* The observed doubled rank sum: 2U + ny (ny + 1). */
        double obs = 2 * out->u + ny * (ny + 1);
        double all = 0, le = 0, ge = 0;
        for (size_t s = 0; s <= smax; s++) {
            all += ways[s];
            if ((double)s <= obs + 1e-9)
                le += ways[s];
            if ((double)s >= obs - 1e-9)
                ge += ways[s];
        }
        double p = 2 * (le < ge ? le : ge) / all;
        out->p = p < 1 ? p : 1;
        out->exact = 1;
        free(ways);
        free(g);
    }
}

double sp_cmp_min_p(double nx, double ny)
{
    if (nx < 1 || ny < 1)
        return 1;
    double log_c = lgamma(nx + ny + 1) - lgamma(nx + 1) - lgamma(ny + 1);
    double p = 2 * exp(-log_c);
    return p < 1 ? p : 1;
}

/* ---- Differences ---- */

/* How many pairs (weighted) have y_j - x_i <= d. */
static double pairs_at_most(const sp_cmp_sample *x, const sp_cmp_sample *y, double d)
{
    double total = 0, cum = 0;
    size_t j = 0;
    for (size_t i = 0; i < x->n; i++) {
        /* y_j - x_i <= d holds for more j as x_i grows. */
        while (j < y->n && y->v[j] - x->v[i] <= d)
            cum += wt(y, j++);
        total += wt(x, i) * cum;
    }
    return total;
}

/* The smallest difference y_j - x_i above d, or INFINITY. */
static double next_difference(const sp_cmp_sample *x, const sp_cmp_sample *y, double d)
{
    double best = INFINITY;
    size_t j = 0;
    for (size_t i = 0; i < x->n; i++) {
        while (j < y->n && !(y->v[j] - x->v[i] > d))
            j++;
        if (j == y->n)
            break;
        double diff = y->v[j] - x->v[i];
        if (diff < best)
            best = diff;
    }
    return best;
}

/* The k-th smallest of the weighted differences y_j - x_i (1 <= k <= pairs). */
static double kth_difference(const sp_cmp_sample *x, const sp_cmp_sample *y, double k)
{
    double lo = y->v[0] - x->v[x->n - 1], hi = y->v[y->n - 1] - x->v[0];
    if (pairs_at_most(x, y, lo) >= k)
        return lo;
    /* Invariant: fewer than k pairs are <= lo, at least k are <= hi. */
    for (int it = 0; it < 200; it++) {
        double mid = lo + (hi - lo) / 2;
        if (mid <= lo || mid >= hi)
            break;
        if (pairs_at_most(x, y, mid) >= k)
            hi = mid;
        else
            lo = mid;
    }
    /* The answer is an actual difference above lo: step over the few left between. */
    for (;;) {
        double cand = next_difference(x, y, lo);
        if (!isfinite(cand) || pairs_at_most(x, y, cand) >= k)
            return isfinite(cand) ? cand : hi;
        lo = cand;
    }
}

/* The largest C with P(U < C) <= alpha / 2 under no shift, exact for samples without ties. */
static double exact_c(size_t nx, size_t ny, double alpha)
{
    double *f = u_distribution(nx, ny);
    double all = 0;
    for (size_t u = 0; u <= nx * ny; u++)
        all += f[u];
    double cum = 0;
    size_t c = 0;
    /* P(U < c + 1) = P(U <= c): grow c while it stays within alpha / 2. */
    for (size_t u = 0; u <= nx * ny; u++) {
        cum += f[u];
        if (cum / all > alpha / 2)
            break;
        c = u + 1;
    }
    free(f);
    return (double)c;
}

void sp_cmp_hl(const sp_cmp_sample *x, const sp_cmp_sample *y, double alpha, sp_cmp_shift *out)
{
    memset(out, 0, sizeof *out);
    out->shift = out->lo = out->hi = NAN;
    out->level = 1 - alpha;
    double nx = sp_cmp_weight(x), ny = sp_cmp_weight(y);
    if (nx <= 0 || ny <= 0 || !(alpha > 0 && alpha < 1))
        return;
    out->ok = 1;
    double M = nx * ny;
    uint64_t wx = (uint64_t)nx, wy = (uint64_t)ny, m;
    int odd = !__builtin_mul_overflow(wx, wy, &m) && (m & 1);
    if (odd)
        out->shift = kth_difference(x, y, (M + 1) / 2);
    else
        out->shift = (kth_difference(x, y, M / 2) + kth_difference(x, y, M / 2 + 1)) / 2;

    /* Small samples take C from the exact distribution without ties, even when values tie
     * (R's wilcox.test would fall back to the normal approximation there, which for 5 against
     * 5 seconds at 99% leaves no interval at all); weighted samples (histograms) are large. */
    int exact = !x->w && !y->w && nx + ny <= SP_CMP_EXACT_MAX;
    double C;
    if (exact) {
        C = exact_c((size_t)nx, (size_t)ny, alpha);
    } else {
        struct rank_acc acc = {0, 0, NULL, 0};
        merge_groups(x, y, rank_step, &acc);
        double N = nx + ny;
        double var = nx * ny / 12 * ((N + 1) - acc.ties / (N * (N - 1)));
        C = floor(M / 2 - sp_cmp_norm_quantile(1 - alpha / 2) * sqrt(var > 0 ? var : 0));
    }
    if (C >= 1) {
        out->lo = kth_difference(x, y, C);
        out->hi = kth_difference(x, y, M + 1 - C);
    }
}

/* ---- Proportions ---- */

/* Wilson's score interval for k of n. */
static void wilson(double k, double n, double z, double *lo, double *hi)
{
    double p = k / n, z2 = z * z;
    double denom = 1 + z2 / n;
    double centre = (p + z2 / (2 * n)) / denom;
    double half = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom;
    *lo = centre - half < 0 ? 0 : centre - half;
    *hi = centre + half > 1 ? 1 : centre + half;
}

/* log C(n, k) */
static double log_choose(double n, double k)
{
    return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1);
}

/* Fisher's exact test, two-sided: the probability of every table with the margins of this one
 * that is no more likely than it. */
static double fisher(double k1, double n1, double k2, double n2)
{
    double N = n1 + n2, K = k1 + k2;
    double lo = n2 - (N - K) > 0 ? n2 - (N - K) : 0, hi = K < n2 ? K : n2;
    double base = log_choose(N, n2);
    double obs = log_choose(K, k2) + log_choose(N - K, n2 - k2) - base;
    double p = 0;
    for (double x = lo; x <= hi; x++) {
        double lp = log_choose(K, x) + log_choose(N - K, n2 - x) - base;
        if (lp <= obs + 1e-7)
            p += exp(lp);
    }
    return p < 1 ? p : 1;
}

void sp_cmp_props(uint64_t k1, uint64_t n1, uint64_t k2, uint64_t n2, double alpha,
                  sp_cmp_props_result *out)
{
    memset(out, 0, sizeof *out);
    out->p1 = out->p2 = out->diff = out->lo = out->hi = out->p = NAN;
    if (!n1 || !n2 || k1 > n1 || k2 > n2 || !(alpha > 0 && alpha < 1))
        return;
    out->ok = 1;
    double a = (double)k1, b = (double)k2, m = (double)n1, n = (double)n2;
    out->p1 = a / m;
    out->p2 = b / n;
    out->diff = out->p2 - out->p1;
    double z = sp_cmp_norm_quantile(1 - alpha / 2);
    double l1, u1, l2, u2;
    wilson(a, m, z, &l1, &u1);
    wilson(b, n, z, &l2, &u2);
    out->lo = out->diff - sqrt((out->p2 - l2) * (out->p2 - l2) + (u1 - out->p1) * (u1 - out->p1));
    out->hi = out->diff + sqrt((u2 - out->p2) * (u2 - out->p2) + (out->p1 - l1) * (out->p1 - l1));
    double P = (a + b) / (m + n);
    double least = fmin(fmin(m * P, m * (1 - P)), fmin(n * P, n * (1 - P)));
    if (least < 5) {
        out->exact = 1;
        out->p = fisher(a, m, b, n);
    } else {
        double se = sqrt(P * (1 - P) * (1 / m + 1 / n));
        out->p = se > 0 ? erfc(fabs(out->diff / se) / M_SQRT2) : 1;
    }
}

/* ---- Verdicts ---- */

const char *sp_cmp_verdict_name(sp_cmp_verdict v)
{
    switch (v) {
    case SP_CMP_REGRESSION:
        return "regression";
    case SP_CMP_IMPROVEMENT:
        return "improvement";
    case SP_CMP_NOT_ENOUGH:
        return "not enough data";
    default:
        return "no significant change";
    }
}

sp_cmp_verdict sp_cmp_judge(const sp_cmp_rule *r, double p, double change, double base,
                            int higher_is_worse)
{
    if (!isfinite(p) || !isfinite(change) || !(p < r->alpha))
        return SP_CMP_NO_CHANGE;
    double size = fabs(change);
    if (size == 0 || size < r->abs_floor || size < r->rel_floor * fabs(isfinite(base) ? base : 0))
        return SP_CMP_NO_CHANGE;
    return (change > 0) == (higher_is_worse != 0) ? SP_CMP_REGRESSION : SP_CMP_IMPROVEMENT;
}
