/*
 * test_share.c - splitting a run over locations and agents (engine/share.h): VU shares add up
 * to the total for every total, each within one of its weight, VU numbers never collide, rates
 * split by weight, CSV partitions cover every row once, and bad location lists are refused
 * naming the location.
 */
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "engine/share.h"

static void test_sixty_forty(void)
{
    sp_share_loc locs[] = {{"near", 60, 2}, {"far", 40, 1}};
    sp_share sh[3];
    char err[128];
    CHECK_INT_EQ(sp_share_plan(locs, 2, 100, sh, err, sizeof err), 0);
    CHECK_UINT_EQ(sp_share_vus(100, sh[0].from, sh[0].to), 30);
    CHECK_UINT_EQ(sp_share_vus(100, sh[1].from, sh[1].to), 30);
    CHECK_UINT_EQ(sp_share_vus(100, sh[2].from, sh[2].to), 40);
    CHECK_UINT_EQ(sh[0].location, 0);
    CHECK_UINT_EQ(sh[2].location, 1);
    CHECK(sh[2].to == 1.0);
    CHECK_UINT_EQ(sh[2].csv_index, 2);
    CHECK_UINT_EQ(sh[0].csv_count, 3);
}

/* For every total up to the peak: the shares add up to it, each is within one of total*w, and
 * the VU numbers [offset, offset + share) of the agents never overlap. */
/* The nearest whole numbers to the percents: 6 VUs at 60/40 over 2 + 1 agents are 2 + 2 and 2. */
static void test_rounds_to_nearest(void)
{
    sp_share_loc locs[] = {{"near", 60, 2}, {"far", 40, 1}};
    sp_share sh[3];
    CHECK_INT_EQ(sp_share_plan(locs, 2, 6, sh, NULL, 0), 0);
    CHECK_UINT_EQ(sp_share_vus(6, sh[0].from, sh[0].to), 2);
    CHECK_UINT_EQ(sp_share_vus(6, sh[1].from, sh[1].to), 2);
    CHECK_UINT_EQ(sp_share_vus(6, sh[2].from, sh[2].to), 2);
}

static void test_every_total(void)
{
    sp_share_loc locs[] = {{"a", 33, 3}, {"b", 33, 2}, {"c", 34, 7}};
    enum { N = 12, PEAK = 1000 };
    sp_share sh[N];
    CHECK_INT_EQ(sp_share_plan(locs, 3, PEAK, sh, NULL, 0), 0);
    for (uint32_t t = 0; t <= PEAK; t++) {
        uint32_t sum = 0;
        for (size_t k = 0; k < N; k++) {
            uint32_t v = sp_share_vus(t, sh[k].from, sh[k].to);
            double want = t * (sh[k].to - sh[k].from);
            CHECK(v + 1 > want && v < want + 1);
            if (k + 1 < N)
                CHECK(sh[k].vu_offset + v <= sh[k + 1].vu_offset);
            sum += v;
        }
        CHECK_UINT_EQ(sum, t);
    }
}

static void test_scale_load(void)
{
    sp_stage st[] = {{1000, 10}, {1000, 7}};
    sp_load l = {.model = SP_LOAD_CLOSED, .stages = st, .nstages = 2};
    sp_share_loc locs[] = {{"near", 60, 1}, {"far", 40, 1}};
    sp_share sh[2];
    CHECK_INT_EQ(sp_share_plan(locs, 2, 10, sh, NULL, 0), 0);
    sp_share_scale_load(&l, sh[1].from, sh[1].to);
    CHECK(st[0].target == 4);
    CHECK(st[1].target == 3); /* 7: 4 + 3 */

    sp_stage os[] = {{1000, 50}};
    sp_load o = {.model = SP_LOAD_OPEN, .stages = os, .nstages = 1, .max_vus = 3};
    sp_share_scale_load(&o, sh[0].from, sh[0].to);
    CHECK_NEAR(os[0].target, 30, 1e-9);
    CHECK_UINT_EQ(o.max_vus, 2); /* round(1.8) */
    sp_load o2 = {.model = SP_LOAD_OPEN, .stages = NULL, .nstages = 0, .max_vus = 1};
    sp_share_scale_load(&o2, sh[1].from, sh[1].to);
    CHECK_UINT_EQ(o2.max_vus, 1); /* never 0 */
}

static void test_refusals(void)
{
    sp_share sh[8];
    char err[128];
    sp_share_loc none[] = {{"near", 60, 1}, {"far", 40, 0}};
    CHECK_INT_EQ(sp_share_plan(none, 2, 10, sh, err, sizeof err), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "no connected idle agent in location 'far'");
    sp_share_loc sum[] = {{"near", 60, 1}, {"far", 30, 1}};
    CHECK_INT_EQ(sp_share_plan(sum, 2, 10, sh, err, sizeof err), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "add up to 90, not 100");
    sp_share_loc zero[] = {{"near", 100, 1}, {"far", 0, 1}};
    CHECK_INT_EQ(sp_share_plan(zero, 2, 10, sh, err, sizeof err), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "locations.far: 0 is not a percent");
    CHECK_INT_EQ(sp_share_plan(zero, 0, 10, sh, err, sizeof err), SP_EINVAL);
}

int main(void)
{
    RUN(test_sixty_forty);
    RUN(test_rounds_to_nearest);
    RUN(test_every_total);
    RUN(test_scale_load);
    RUN(test_refusals);
    return check_summary();
}
