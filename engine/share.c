/*
 * share.c - see share.h.
 */
#include "engine/share.h"

#include <math.h>
#include <stdio.h>

#include "engine/common.h"
#include "engine/limits.h"

/* round(total * c), halves up, not thrown off by a product like 10 * 0.35 = 3.4999999999999996:
 * a cumulative weight is a sum of percents / 100 / agents, so a product within 1e-9 of a half
 * is that half. Rounding (not flooring) keeps a location's share the nearest whole number to
 * its percent: 6 VUs at 60/40 are 4 and 2, not 3 and 3. */
static double round_of(double total, double c)
{
    return floor(total * c + 0.5 + 1e-9);
}

uint32_t sp_share_vus(double total, double from, double to)
{
    if (!(total > 0) || !(to > from))
        return 0;
    double t = round(total);
    double n = round_of(t, to) - round_of(t, from);
    return n > 0 ? (uint32_t)n : 0;
}

int sp_share_plan(const sp_share_loc *locs, size_t nlocs, uint32_t peak, sp_share *out, char *err,
                  size_t errlen)
{
    if (!err)
        errlen = 0;
    unsigned sum = 0;
    size_t nagents = 0;
    if (nlocs == 0 || nlocs > SP_WIRE_MAX_LOCATIONS) {
        snprintf(err, errlen, "locations: give 1 to %d locations", SP_WIRE_MAX_LOCATIONS);
        return SP_EINVAL;
    }
    for (size_t i = 0; i < nlocs; i++) {
        if (locs[i].percent < 1 || locs[i].percent > 100) {
            snprintf(err, errlen, "locations.%s: %u is not a percent from 1 to 100", locs[i].name,
                     locs[i].percent);
            return SP_EINVAL;
        }
        if (locs[i].nagents == 0) {
            snprintf(err, errlen, "locations.%s: no connected idle agent in location '%s'",
                     locs[i].name, locs[i].name);
            return SP_EINVAL;
        }
        sum += locs[i].percent;
        nagents += locs[i].nagents;
    }
    if (sum != 100) {
        snprintf(err, errlen, "locations: the percents add up to %u, not 100", sum);
        return SP_EINVAL;
    }
    if (nagents > SP_WIRE_MAX_AGENTS) {
        snprintf(err, errlen, "locations: %zu agents, more than %d", nagents, SP_WIRE_MAX_AGENTS);
        return SP_EINVAL;
    }
    /* Cumulative weights from integer sums, so that equal splits give equal numbers. */
    double c = 0;
    unsigned before = 0; /* percent of the locations before this one */
    size_t k = 0;
    for (size_t i = 0; i < nlocs; i++) {
        for (size_t a = 0; a < locs[i].nagents; a++, k++) {
            out[k].location = i;
            out[k].from = c;
            c = (before + (double)locs[i].percent * (double)(a + 1) / (double)locs[i].nagents) /
                100.0;
            if (k + 1 == nagents)
                c = 1.0;
            out[k].to = c;
            out[k].vu_offset = (uint32_t)round_of(peak, out[k].from) + (uint32_t)k;
            out[k].csv_index = (uint32_t)k;
            out[k].csv_count = (uint32_t)nagents;
        }
        before += locs[i].percent;
    }
    return 0;
}

void sp_share_scale_load(sp_load *l, double from, double to)
{
    for (size_t i = 0; i < l->nstages; i++) {
        if (l->model == SP_LOAD_OPEN)
            l->stages[i].target *= to - from;
        else
            l->stages[i].target = sp_share_vus(l->stages[i].target, from, to);
    }
    if (l->model == SP_LOAD_OPEN) {
        uint32_t m = sp_share_vus(l->max_vus, from, to);
        l->max_vus = m ? m : 1;
    }
}
