/*
 * test_tz.c - the zoneinfo reader against the C library's own: for zones with and without
 * daylight saving time, northern and southern, with half-hour changes and with a "negative"
 * daylight saving time (Dublin), every offset this module computes from 1970 to 2100 equals
 * localtime_r()'s under TZ=zone (this test is one thread, so setenv("TZ") is safe here), and
 * every change it announces is where the offset really changes. Also: resolving wall-clock
 * times in gaps and repeated hours, names that would leave the zone directory, and files that
 * are not zones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "sched/tz.h"

static const char *const zones[] = {
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Africa/Casablanca",
    "America/St_Johns",
    "Asia/Tehran",
};

static long libc_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return tm.tm_gmtoff;
}

static int64_t utc(int y, unsigned mo, unsigned d, unsigned h, unsigned mi)
{
    return sp_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static void test_offsets_match_the_c_library(void)
{
    for (size_t zi = 0; zi < SP_ARRAY_LEN(zones); zi++) {
        sp_tz *z = NULL;
        char err[200];
        CHECK_INT_EQ(sp_tz_load(zones[zi], &z, err, sizeof err), 0);
        char tzenv[80];
        snprintf(tzenv, sizeof tzenv, ":%s", zones[zi]);
        setenv("TZ", tzenv, 1);
        tzset();
        /* Every 9 hours and 7 minutes from 1970 to 2090: every change of every year is passed
         * within hours, at varying times of day, and each one found is checked exactly. */
        int64_t last = utc(2090, 1, 1, 0, 0);
        for (int64_t t = 0; t < last; t += 9 * 3600 + 7 * 60) {
            int64_t until;
            int32_t off = sp_tz_offset(z, t, &until);
            if (off != libc_offset(t)) {
                fprintf(stderr, "  %s at %lld: %d, libc %ld\n", zones[zi], (long long)t, off,
                        libc_offset(t));
                CHECK(0);
            }
            CHECK(until > t);
            if (until != INT64_MAX && until < last) {
                /* The offset holds to just before until and changes there. */
                CHECK_INT_EQ(sp_tz_offset(z, until - 1, NULL), off);
                CHECK(sp_tz_offset(z, until, NULL) != off);
                CHECK_INT_EQ(sp_tz_offset(z, until, NULL), libc_offset(until));
                CHECK_INT_EQ(libc_offset(until - 1), off);
            }
        }
        sp_tz_free(z);
    }
    unsetenv("TZ");
    tzset();
}

static void test_resolve_gap_and_repeat(void)
{
    sp_tz *z = NULL;
    char err[200];
    CHECK_INT_EQ(sp_tz_load("Europe/Berlin", &z, err, sizeof err), 0);
    int64_t at[2], gap = 0;
    /* 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC. */
    CHECK_INT_EQ(sp_tz_resolve(z, utc(2026, 3, 29, 2, 30), at, &gap), 0);
    CHECK_INT_EQ(gap, utc(2026, 3, 29, 1, 0));
    CHECK_INT_EQ(sp_tz_resolve(z, utc(2026, 3, 29, 3, 0), at, &gap), 1);
    CHECK_INT_EQ(at[0], utc(2026, 3, 29, 1, 0));
    CHECK_INT_EQ(sp_tz_resolve(z, utc(2026, 3, 29, 1, 59), at, &gap), 1);
    CHECK_INT_EQ(at[0], utc(2026, 3, 29, 0, 59));
    /* 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC: 02:30 happens twice. */
    CHECK_INT_EQ(sp_tz_resolve(z, utc(2026, 10, 25, 2, 30), at, &gap), 2);
    CHECK_INT_EQ(at[0], utc(2026, 10, 25, 0, 30));
    CHECK_INT_EQ(at[1], utc(2026, 10, 25, 1, 30));
    CHECK_INT_EQ(sp_tz_resolve(z, utc(2026, 10, 25, 3, 0), at, &gap), 1);
    CHECK_INT_EQ(at[0], utc(2026, 10, 25, 2, 0));
    /* Beyond the file's table (2037), the footer's rule. */
    CHECK_INT_EQ(sp_tz_resolve(z, utc(2090, 3, 26, 2, 30), at, &gap), 0);
    CHECK_INT_EQ(gap, utc(2090, 3, 26, 1, 0));
    sp_tz_free(z);

    /* Lord Howe moves by half an hour: 02:00 becomes 02:30 (+10:30 -> +11). */
    CHECK_INT_EQ(sp_tz_load("Australia/Lord_Howe", &z, err, sizeof err), 0);
    CHECK_INT_EQ(sp_tz_resolve(z, utc(2026, 10, 4, 2, 15), at, &gap), 0);
    CHECK_INT_EQ(gap, utc(2026, 10, 3, 15, 30));
    sp_tz_free(z);
}

static void test_rules_alone(void)
{
    sp_tz *z = NULL;
    char err[200];
    /* Southern hemisphere with names in brackets and a half-hour offset. */
    CHECK_INT_EQ(sp_tz_from_rule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", &z, err, sizeof err), 0);
    CHECK_INT_EQ(sp_tz_offset(z, utc(2030, 1, 15, 0, 0), NULL), 11 * 3600);
    CHECK_INT_EQ(sp_tz_offset(z, utc(2030, 7, 15, 0, 0), NULL), 10 * 3600 + 1800);
    sp_tz_free(z);
    /* Daylight saving time all year (the tz database's way of writing it). */
    CHECK_INT_EQ(sp_tz_from_rule("EST5EDT,0/0,J365/25", &z, err, sizeof err), 0);
    int64_t until;
    CHECK_INT_EQ(sp_tz_offset(z, utc(2030, 1, 1, 12, 0), &until), -4 * 3600);
    CHECK_INT_EQ(sp_tz_offset(z, utc(2030, 12, 31, 23, 0), NULL), -4 * 3600);
    CHECK(until == INT64_MAX);
    sp_tz_free(z);
    /* No daylight saving time. */
    CHECK_INT_EQ(sp_tz_from_rule("<-03>3", &z, err, sizeof err), 0);
    CHECK_INT_EQ(sp_tz_offset(z, 0, &until), -3 * 3600);
    CHECK(until == INT64_MAX);
    sp_tz_free(z);
    const char *bad[] = {"",
                         "C",
                         "CET",
                         "CET-1CEST",
                         "CET-1CEST,M3.5.0",
                         "CET-1CEST,M13.5.0,M10.5.0",
                         "CET-1CEST,M3.6.0,M10.5.0",
                         "<+10",
                         "CET-25",
                         "CET-1CEST,J0,J100",
                         "CET-1CEST,M3.5.0,M10.5.0/168",
                         "CET-1CEST,M3.5.0,M10.5.0x"};
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        z = (sp_tz *)1;
        CHECK_INT_EQ(sp_tz_from_rule(bad[i], &z, err, sizeof err), SP_EINVAL);
        CHECK(z == NULL);
    }
}

static void test_names(void)
{
    char err[200];
    const char *good[] = {"UTC", "Europe/Berlin", "America/Argentina/Salta", "Etc/GMT+5",
                          "Etc/GMT-14"};
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++)
        CHECK_INT_EQ(sp_tz_name_check(good[i], err, sizeof err), 0);
    const char *bad[] = {"",
                         "/etc/passwd",
                         "../../etc/passwd",
                         "Europe/../../../etc/passwd",
                         "Europe//Berlin",
                         "Europe/",
                         "right/Europe/Berlin",
                         "Europe/Berlin ",
                         "Europe\\Berlin",
                         "a b",
                         "Europe/./Berlin",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        CHECK_INT_EQ(sp_tz_name_check(bad[i], err, sizeof err), SP_EINVAL);
        sp_tz *z = NULL;
        CHECK(sp_tz_load(bad[i], &z, err, sizeof err) != 0);
        CHECK(z == NULL);
    }
    sp_tz *z = NULL;
    CHECK_INT_EQ(sp_tz_load("Mars/Olympus_Mons", &z, err, sizeof err), SP_ENOTFOUND);
    CHECK_STR_CONTAINS(err, "unknown time zone 'Mars/Olympus_Mons'");
    /* A file in the directory that is not a zone. */
    CHECK(sp_tz_load("zone.tab", &z, err, sizeof err) != 0);
    CHECK(z == NULL);
}

static void test_bad_files(void)
{
    char err[200];
    sp_tz *z = NULL;
    /* A real file cut at every length is refused, never read past its end. */
    FILE *f = fopen(SP_TZ_DIR "/Europe/Berlin", "rb");
    CHECK(f != NULL);
    unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(n > 100);
    for (size_t cut = 0; cut < n - 1; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        int rc = sp_tz_parse("cut", copy, cut, &z, err, sizeof err);
        free(copy);
        CHECK_INT_EQ(rc, SP_EINVAL);
        CHECK(z == NULL);
    }
    CHECK_INT_EQ(sp_tz_parse("whole", buf, n, &z, err, sizeof err), 0);
    CHECK_INT_EQ(sp_tz_offset(z, utc(2026, 7, 1, 0, 0), NULL), 7200);
    sp_tz_free(z);
}

static void test_calendar(void)
{
    for (int64_t d = -800000; d < 800000; d += 37) {
        int64_t y;
        unsigned m, dd;
        sp_tz_civil_from_days(d, &y, &m, &dd);
        CHECK_INT_EQ(sp_tz_days_from_civil(y, m, dd), d);
        CHECK(dd >= 1 && dd <= sp_tz_month_days(y, m));
    }
    CHECK_INT_EQ(sp_tz_days_from_civil(2000, 3, 1), 11017);
    CHECK_INT_EQ(sp_tz_month_days(2100, 2), 28);
    CHECK_INT_EQ(sp_tz_month_days(2000, 2), 29);
}

int main(void)
{
    RUN(test_offsets_match_the_c_library);
    RUN(test_resolve_gap_and_repeat);
    RUN(test_rules_alone);
    RUN(test_names);
    RUN(test_bad_files);
    RUN(test_calendar);
    return check_summary();
}
