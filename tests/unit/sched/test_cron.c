/*
 * test_cron.c - cron expressions: what is accepted and what is refused (with the field and the
 * reason), fire times in UTC, the day-of-month/day-of-week rule, expressions that never fire,
 * and the daylight-saving rule of cron.h computed for real changes: Berlin in spring and
 * autumn (fixed times and times that follow the clock), New York, Lord Howe's half hour and
 * Sydney's southern summer. A brute-force walk over every minute of both Berlin change days
 * checks sp_cron_next() against the rule stated independently here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sched/cron.h"
#include "sched/tz.h"

static int64_t utc(int y, unsigned mo, unsigned d, unsigned h, unsigned mi)
{
    return sp_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static sp_tz *zone(const char *name)
{
    sp_tz *z = NULL;
    char err[200];
    if (sp_tz_load(name, &z, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return z;
}

/* The fire times of expr in zone after `after`, n of them, into out. */
static int fires(const char *expr, const char *zname, int64_t after, int64_t *out, int n)
{
    sp_cron c;
    sp_cron_error e;
    if (sp_cron_parse(expr, &c, &e) != 0) {
        fprintf(stderr, "parse %s: %s: %s\n", expr, e.field, e.msg);
        return -1;
    }
    sp_tz *z = zone(zname);
    int i;
    for (i = 0; i < n; i++) {
        if (sp_cron_next(&c, z, after, &out[i]) != 0)
            break;
        after = out[i];
    }
    sp_tz_free(z);
    return i;
}

static void test_parse_refusals_name_the_field(void)
{
    static const struct {
        const char *expr, *field, *msg;
    } cases[] = {
        {"", "", "empty"},
        {"* * * *", "", "expected 5 fields"},
        {"0 * * * * *", "", "seconds and years are not supported"},
        {"60 * * * *", "minute", "'60' is out of range 0-59"},
        {"0 24 * * *", "hour", "'24' is out of range 0-23"},
        {"0 0 0 * *", "day of month", "'0' is out of range 1-31"},
        {"0 0 * 13 *", "month", "'13' is out of range 1-12"},
        {"0 0 * * 8", "day of week", "'8' is out of range 0-7"},
        {"0 0 * FOO *", "month", "unknown name 'FOO'"},
        {"0 0 * * FUN", "day of week", "unknown name 'FUN'"},
        {"*/0 * * * *", "minute", "step 0 is out of range"},
        {"*/61 * * * *", "minute", "step 61 is out of range"},
        {"5-2 * * * *", "minute", "the range 5-2 goes backwards"},
        {"1,,2 * * * *", "minute", "an empty item"},
        {"0 0 L * *", "day of month", "'L' is not a number"},
        {"0 0 ? * *", "day of month", "'?' is not allowed"},
        {"0 0 * * 1#2", "day of week", "'#' is not allowed"},
        {"a * * * *", "minute", "not a number"},
        {"1- * * * *", "minute", "a value is missing"},
        {"@reboot", "", "unknown macro '@reboot'"},
        {"@daily 1", "", "unknown macro"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        sp_cron c;
        sp_cron_error e;
        int rc = sp_cron_parse(cases[i].expr, &c, &e);
        if (rc != SP_EINVAL || strcmp(e.field, cases[i].field) != 0 ||
            !strstr(e.msg, cases[i].msg)) {
            fprintf(stderr, "  '%s': rc %d field '%s' msg '%s'\n", cases[i].expr, rc, e.field,
                    e.msg);
            CHECK(0);
        }
    }
    char long_expr[SP_SCHED_CRON_MAX + 10];
    memset(long_expr, ' ', sizeof long_expr - 1);
    long_expr[sizeof long_expr - 1] = '\0';
    sp_cron c;
    sp_cron_error e;
    CHECK_INT_EQ(sp_cron_parse(long_expr, &c, &e), SP_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "longer than");
}

static void test_parse_accepts(void)
{
    sp_cron c;
    sp_cron_error e;
    CHECK_INT_EQ(sp_cron_parse("0 2 * * 1-5", &c, &e), 0);
    CHECK_UINT_EQ(c.minutes, 1);
    CHECK_UINT_EQ(c.hours, 1u << 2);
    CHECK_UINT_EQ(c.wdays, 0x3e);
    CHECK(c.dom_any && !c.dow_any);
    CHECK_INT_EQ(sp_cron_parse("  */15\t0-23/6 1,15 jan-Mar,DEC sun,7 ", &c, &e), 0);
    CHECK_UINT_EQ(c.minutes, (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
    CHECK_UINT_EQ(c.hours, (1u << 0) | (1u << 6) | (1u << 12) | (1u << 18));
    CHECK_UINT_EQ(c.mdays, (1u << 1) | (1u << 15));
    CHECK_UINT_EQ(c.months, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));
    CHECK_UINT_EQ(c.wdays, 1);
    CHECK_INT_EQ(sp_cron_parse("5/20 * * * 5-7", &c, &e), 0);
    CHECK_UINT_EQ(c.minutes, (1ull << 5) | (1ull << 25) | (1ull << 45));
    CHECK_UINT_EQ(c.wdays, (1u << 5) | (1u << 6) | 1u);
    CHECK_INT_EQ(sp_cron_parse("@WEEKLY", &c, &e), 0);
    CHECK_UINT_EQ(c.wdays, 1);
    CHECK(sp_cron_every_hour(&c) == 0);
    CHECK_INT_EQ(sp_cron_parse("@hourly", &c, &e), 0);
    CHECK(sp_cron_every_hour(&c));
}

static void test_fires_in_utc(void)
{
    int64_t f[5];
    /* From Friday 2026-01-02 10:07 UTC: weekdays at 02:00. */
    CHECK_INT_EQ(fires("0 2 * * 1-5", "UTC", utc(2026, 1, 2, 10, 7), f, 3), 3);
    CHECK_INT_EQ(f[0], utc(2026, 1, 5, 2, 0));
    CHECK_INT_EQ(f[1], utc(2026, 1, 6, 2, 0));
    CHECK_INT_EQ(f[2], utc(2026, 1, 7, 2, 0));
    /* Every minute: the next whole minute, strictly after. */
    CHECK_INT_EQ(fires("* * * * *", "UTC", utc(2026, 1, 1, 0, 0), f, 2), 2);
    CHECK_INT_EQ(f[0], utc(2026, 1, 1, 0, 1));
    CHECK_INT_EQ(f[1], utc(2026, 1, 1, 0, 2));
    CHECK_INT_EQ(fires("* * * * *", "UTC", utc(2026, 1, 1, 0, 0) + 59, f, 1), 1);
    CHECK_INT_EQ(f[0], utc(2026, 1, 1, 0, 1));
    /* Both day fields restricted: either matches (the 13th, and every Friday). */
    CHECK_INT_EQ(fires("0 0 13 * FRI", "UTC", utc(2026, 2, 1, 0, 0), f, 4), 4);
    CHECK_INT_EQ(f[0], utc(2026, 2, 6, 0, 0));
    CHECK_INT_EQ(f[1], utc(2026, 2, 13, 0, 0));
    CHECK_INT_EQ(f[2], utc(2026, 2, 20, 0, 0));
    CHECK_INT_EQ(f[3], utc(2026, 2, 27, 0, 0));
    /* One of them starting with '*': both must match (Fridays that are the 13th). */
    CHECK_INT_EQ(fires("0 0 13 * */5", "UTC", utc(2026, 1, 1, 0, 0), f, 1), 1);
    CHECK_INT_EQ(f[0], utc(2026, 2, 13, 0, 0));
    /* The 29th of February, next in 2028; the 30th never. */
    CHECK_INT_EQ(fires("0 0 29 2 *", "UTC", utc(2026, 3, 1, 0, 0), f, 2), 2);
    CHECK_INT_EQ(f[0], utc(2028, 2, 29, 0, 0));
    CHECK_INT_EQ(f[1], utc(2032, 2, 29, 0, 0));
    CHECK_INT_EQ(fires("0 0 30 2 *", "UTC", utc(2026, 3, 1, 0, 0), f, 1), 0);
    CHECK_INT_EQ(fires("0 0 31 4,6,9,11 *", "UTC", 0, f, 1), 0);
}

static void test_berlin_spring_forward(void)
{
    int64_t f[5];
    /* 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC. A fixed time inside the skipped
     * hour fires once at its end, the day before and after as usual. */
    CHECK_INT_EQ(fires("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 0, 0), f, 3), 3);
    CHECK_INT_EQ(f[0], utc(2026, 3, 28, 1, 30));
    CHECK_INT_EQ(f[1], utc(2026, 3, 29, 1, 0));
    CHECK_INT_EQ(f[2], utc(2026, 3, 30, 0, 30));
    /* Several fire times in the gap and one at its end are one fire, not four. */
    CHECK_INT_EQ(fires("0,30 2-3 * * *", "Europe/Berlin", utc(2026, 3, 29, 0, 0), f, 3), 3);
    CHECK_INT_EQ(f[0], utc(2026, 3, 29, 1, 0));
    CHECK_INT_EQ(f[1], utc(2026, 3, 29, 1, 30));
    CHECK_INT_EQ(f[2], utc(2026, 3, 30, 0, 0));
    /* Following the clock: every half hour of real time, nothing extra for the gap. */
    CHECK_INT_EQ(fires("0,30 * * * *", "Europe/Berlin", utc(2026, 3, 29, 0, 15), f, 4), 4);
    CHECK_INT_EQ(f[0], utc(2026, 3, 29, 0, 30));
    CHECK_INT_EQ(f[1], utc(2026, 3, 29, 1, 0));
    CHECK_INT_EQ(f[2], utc(2026, 3, 29, 1, 30));
    CHECK_INT_EQ(f[3], utc(2026, 3, 29, 2, 0));
}

static void test_berlin_fall_back(void)
{
    int64_t f[6];
    /* 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC. A fixed time in the repeated
     * hour fires once, at its first occurrence. */
    CHECK_INT_EQ(fires("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12, 0), f, 2), 2);
    CHECK_INT_EQ(f[0], utc(2026, 10, 25, 0, 30));
    CHECK_INT_EQ(f[1], utc(2026, 10, 26, 1, 30));
    /* Following the clock: both passes, every half hour of real time. */
    CHECK_INT_EQ(fires("0,30 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 45), f, 6), 6);
    for (int i = 0; i < 6; i++)
        CHECK_INT_EQ(f[i], utc(2026, 10, 25, 0, 0) + i * 1800);
    /* Started between the two passes: 02:30 already fired in the first, not again. */
    CHECK_INT_EQ(fires("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 1, 10), f, 1), 1);
    CHECK_INT_EQ(f[0], utc(2026, 10, 26, 1, 30));
}

/*
 * The rule of cron.h stated once more, directly, for "M H * * *" (one fixed time a day) or an
 * every-hour expression, by walking every UTC minute of a day: an instant fires when its local
 * minute matches and either it is the first time that local minute is shown (fixed) or the
 * expression follows the clock; a fixed local minute that is never shown fires at the gap's
 * end.
 */
static void test_brute_force_change_days(void)
{
    static const char *const exprs[] = {"30 2 * * *",   "0 2 * * *",     "0 3 * * *",
                                        "*/20 2 * * *", "15 * * * *",    "*/10 * * * *",
                                        "59 1 * * *",   "0,30 1-3 * * *"};
    const int64_t days[] = {utc(2026, 3, 29, 0, 0), utc(2026, 10, 25, 0, 0)};
    sp_tz *z = zone("Europe/Berlin");
    for (size_t ei = 0; ei < SP_ARRAY_LEN(exprs); ei++) {
        sp_cron c;
        sp_cron_error e;
        CHECK_INT_EQ(sp_cron_parse(exprs[ei], &c, &e), 0);
        for (size_t di = 0; di < 2; di++) {
            /* The expected set, from the rule. */
            int64_t want[200];
            int nw = 0;
            int64_t from = days[di] - 3 * 3600, to = days[di] + 6 * 3600;
            int64_t gap_fire = -1;
            for (int64_t t = from; t < to; t += 60) {
                int64_t local = t + sp_tz_offset(z, t, NULL);
                int64_t sod = ((local % 86400) + 86400) % 86400;
                int h = (int)(sod / 3600), m = (int)(sod % 3600 / 60);
                int match = ((c.hours >> h) & 1) && ((c.minutes >> m) & 1);
                int64_t at[2];
                int n = sp_tz_resolve(z, local, at, NULL);
                int first = n >= 1 && at[0] == t;
                if (match && (first || sp_cron_every_hour(&c)))
                    want[nw++] = t;
                /* Local minutes this instant jumped over (the clock went forward). */
                int64_t next_local = t + 60 + sp_tz_offset(z, t + 60, NULL);
                if (!sp_cron_every_hour(&c))
                    for (int64_t l = local + 60; l < next_local; l += 60) {
                        int64_t s2 = ((l % 86400) + 86400) % 86400;
                        if (((c.hours >> (s2 / 3600)) & 1) && ((c.minutes >> (s2 % 3600 / 60)) & 1))
                            gap_fire = t + 60;
                    }
                if (gap_fire == t + 60 && (nw == 0 || want[nw - 1] != t + 60)) {
                    /* The end of the gap fires once, whether or not it matches itself. */
                    int64_t l2 = t + 60 + sp_tz_offset(z, t + 60, NULL);
                    int64_t s3 = ((l2 % 86400) + 86400) % 86400;
                    int self =
                        ((c.hours >> (s3 / 3600)) & 1) && ((c.minutes >> (s3 % 3600 / 60)) & 1);
                    if (!self)
                        want[nw++] = t + 60;
                    gap_fire = -2;
                }
            }
            /* What sp_cron_next gives over the same window. */
            int64_t got[200];
            int ng = 0;
            int64_t after = from - 1;
            while (ng < 200 && sp_cron_next(&c, z, after, &got[ng]) == 0 && got[ng] < to)
                after = got[ng++];
            int same = ng == nw;
            for (int i = 0; same && i < ng; i++)
                same = got[i] == want[i];
            if (!same) {
                fprintf(stderr, "  %s on day %zu: got %d fires, want %d\n", exprs[ei], di, ng, nw);
                for (int i = 0; i < ng || i < nw; i++)
                    fprintf(stderr, "    %lld %lld\n", i < ng ? (long long)got[i] : -1LL,
                            i < nw ? (long long)want[i] : -1LL);
                CHECK(0);
            }
        }
    }
    sp_tz_free(z);
}

static void test_other_zones(void)
{
    int64_t f[3];
    /* New York, 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC. */
    CHECK_INT_EQ(fires("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12, 0), f, 2), 2);
    CHECK_INT_EQ(f[0], utc(2026, 3, 8, 7, 0));
    CHECK_INT_EQ(f[1], utc(2026, 3, 9, 6, 30));
    /* Lord Howe, 2026-10-04: 02:00 +10:30 becomes 02:30 +11 (15:30 UTC the day before). */
    CHECK_INT_EQ(fires("15 2 * * *", "Australia/Lord_Howe", utc(2026, 10, 3, 0, 0), f, 2), 2);
    CHECK_INT_EQ(f[0], utc(2026, 10, 3, 15, 30));
    CHECK_INT_EQ(f[1], utc(2026, 10, 4, 15, 15));
    /* Sydney's clock goes back on 2026-04-05 (03:00 AEDT -> 02:00 AEST at 16:00 UTC the day
     * before): 02:30 fires once, in summer time. */
    CHECK_INT_EQ(fires("30 2 * * *", "Australia/Sydney", utc(2026, 4, 4, 0, 0), f, 2), 2);
    CHECK_INT_EQ(f[0], utc(2026, 4, 4, 15, 30));
    CHECK_INT_EQ(f[1], utc(2026, 4, 5, 16, 30));
    /* Beyond 2037 the zone's rule holds: Berlin's change of 2090 (March 26). */
    CHECK_INT_EQ(fires("30 2 * * *", "Europe/Berlin", utc(2090, 3, 25, 12, 0), f, 1), 1);
    CHECK_INT_EQ(f[0], utc(2090, 3, 26, 1, 0));
}

int main(void)
{
    RUN(test_parse_refusals_name_the_field);
    RUN(test_parse_accepts);
    RUN(test_fires_in_utc);
    RUN(test_berlin_spring_forward);
    RUN(test_berlin_fall_back);
    RUN(test_brute_force_change_days);
    RUN(test_other_zones);
    return check_summary();
}
