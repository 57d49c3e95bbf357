/*
 * profile.c - see profile.h: the load profile over time (closed and open models, with an
 * override) and the user class of each VU number.
 */
#include "engine/profile.h"

#include <math.h>
#include <stdlib.h>

#include "engine/common.h"

#define CLS_TABLE_MAX 4096

static double profile_at(const sp_load *l, uint64_t t_ms)
{
    double prev = 0;
    uint64_t t0 = 0;
    for (size_t i = 0; i < l->nstages; i++) {
        const sp_stage *s = &l->stages[i];
        if (t_ms < t0 + s->duration_ms)
            return prev + (s->target - prev) * (double)(t_ms - t0) / (double)s->duration_ms;
        t0 += s->duration_ms;
        prev = s->target;
    }
    return prev;
}

double sp_profile_target(const sp_load *l, const sp_ovr *o, uint64_t t_ms)
{
    if (!o->active || t_ms < o->t0_ms)
        return profile_at(l, t_ms);
    uint64_t dt = t_ms - o->t0_ms;
    if (dt >= o->ramp_ms)
        return o->v1;
    return o->v0 + (o->v1 - o->v0) * (double)dt / (double)o->ramp_ms;
}

/*
 * The open model's schedule. The rate is piecewise linear in time, so the number of arrivals
 * planned by t (its integral) is piecewise quadratic, and the time of arrival n is found
 * exactly by solving one quadratic in the segment where the count reaches n. Arrival times
 * come from the count alone, never from the previous arrival's time, so rounding never
 * accumulates into drift.
 *
 * A walk over the segments either integrates up to t (solve = 0) or finds where the integral
 * reaches n (solve = 1). Times in ms, rates per second.
 */
typedef struct ratewalk {
    int solve;
    double q;   /* t_ms to integrate to, or n to reach */
    double acc; /* arrivals before the current segment */
    double out;
    int done;
} ratewalk;

static void walk_seg(ratewalk *w, double ta, double tb, double ra, double rb)
{
    if (w->done || tb <= ta)
        return;
    int hold = isinf(tb);
    double slope = hold ? 0 : (rb - ra) / (tb - ta); /* rate per ms */
    if (!w->solve) {
        double x = (w->q < tb ? w->q : tb) - ta;
        if (x < 0)
            x = 0;
        double area = (ra * x + slope * x * x / 2) / 1000.0;
        if (w->q <= tb) {
            w->out = w->acc + area;
            w->done = 1;
        } else {
            w->acc += area;
        }
        return;
    }
    double area = hold ? (ra > 0 ? INFINITY : 0) : (ra + rb) / 2 * (tb - ta) / 1000.0;
    double k = w->q - w->acc;
    if (area > 0 && k <= area) {
        if (k <= 0) {
            w->out = ta;
        } else {
            /* ra x + slope x^2 / 2 = 1000 k, in the form that stays exact when slope is 0. */
            double kk = 1000.0 * k;
            double den = ra + sqrt(ra * ra + 2 * slope * kk);
            double x = den > 0 ? 2 * kk / den : 0;
            if (!hold && x > tb - ta)
                x = tb - ta;
            w->out = ta + x;
        }
        w->done = 1;
        return;
    }
    w->acc += area;
}

static void walk_rate(const sp_load *l, const sp_ovr *o, ratewalk *w)
{
    double cut = o->active ? (double)o->t0_ms : INFINITY;
    double t0 = 0, prev = 0;
    for (size_t i = 0; i < l->nstages && !w->done; i++) {
        const sp_stage *s = &l->stages[i];
        double d = s->duration_ms;
        if (t0 >= cut)
            break;
        if (d > 0) {
            double tb = t0 + d < cut ? t0 + d : cut;
            double rb = prev + (s->target - prev) * (tb - t0) / d;
            walk_seg(w, t0, tb, prev, rb);
        }
        t0 += d;
        prev = s->target;
    }
    if (t0 < cut)
        walk_seg(w, t0, cut, prev, prev); /* the last target holds */
    if (o->active) {
        double re = cut + o->ramp_ms;
        walk_seg(w, cut, re, o->v0, o->v1);
        walk_seg(w, re, INFINITY, o->v1, o->v1);
    }
}

double sp_profile_arrivals_by(const sp_load *l, const sp_ovr *o, double t_ms)
{
    ratewalk w = {0, t_ms, 0, 0, 0};
    walk_rate(l, o, &w);
    return w.done ? w.out : w.acc;
}

int sp_profile_arrival_at(const sp_load *l, const sp_ovr *o, double n, double *t_ms)
{
    ratewalk w = {1, n, 0, 0, 0};
    walk_rate(l, o, &w);
    if (!w.done)
        return -1;
    *t_ms = w.out;
    return 0;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/*
 * User classes by VU number: smooth weighted round-robin over one period of the (reduced)
 * weights, so any prefix of VUs 0..T-1 is split as close to the weights as integers allow, and
 * the same VU number always gets the same class.
 */
uint8_t *sp_profile_classes(const sp_def *d, size_t *ntable)
{
    size_t n = d->nusers;
    uint64_t g = 0, sum = 0;
    uint64_t *wt = sp_calloc(n, sizeof(*wt));
    int64_t *cur = sp_calloc(n, sizeof(*cur));
    for (size_t i = 0; i < n; i++)
        g = gcd_u64(g, d->users[i].weight ? d->users[i].weight : 1);
    for (size_t i = 0; i < n; i++) {
        wt[i] = (d->users[i].weight ? d->users[i].weight : 1) / g;
        sum += wt[i];
    }
    if (sum > CLS_TABLE_MAX) {
        uint64_t s2 = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = (uint64_t)llround((double)wt[i] * CLS_TABLE_MAX / (double)sum);
            wt[i] = x ? x : 1;
            s2 += wt[i];
        }
        sum = s2;
    }
    uint8_t *table = sp_malloc((size_t)sum);
    for (size_t k = 0; k < (size_t)sum; k++) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            cur[i] += (int64_t)wt[i];
            if (cur[i] > cur[best])
                best = i;
        }
        cur[best] -= (int64_t)sum;
        table[k] = (uint8_t)best;
    }
    free(wt);
    free(cur);
    *ntable = (size_t)sum;
    return table;
}
