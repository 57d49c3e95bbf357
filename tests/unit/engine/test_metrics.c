/*
 * test_metrics.c - recording, merging and resetting per-name and per-run stats.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/metrics.h"

static void test_record_counts(void)
{
    sp_name_stats n;
    sp_name_stats_init(&n);
    sp_name_stats_record(&n, 1000, 200, -1, NULL, 300, 100);
    sp_name_stats_record(&n, 2000, 500, SP_ERRK_HTTP_STATUS, "HTTP 500", 50, 100);
    sp_name_stats_record(&n, 3000, 0, SP_ERRK_TIMEOUT, "timeout", 0, 100);
    sp_name_stats_record(&n, 4000, 700, SP_ERRK_OTHER, NULL, 0, 0); /* status out of range */
    CHECK_UINT_EQ(n.requests, 4);
    CHECK_UINT_EQ(n.failures, 3);
    CHECK_UINT_EQ(n.status[200], 1);
    CHECK_UINT_EQ(n.status[500], 1);
    CHECK_UINT_EQ(n.status[0], 2);
    CHECK_UINT_EQ(n.errors[SP_ERRK_HTTP_STATUS], 1);
    CHECK_UINT_EQ(n.errors[SP_ERRK_TIMEOUT], 1);
    CHECK_UINT_EQ(n.bytes_in, 350);
    CHECK_UINT_EQ(n.bytes_out, 300);
    CHECK_UINT_EQ(sp_hist_count(n.hist), 4);
    CHECK_UINT_EQ(sp_hist_max(n.hist), 4000);
    CHECK_UINT_EQ(n.nmsgs, 2);
    CHECK_STR_EQ(n.msgs[0].msg, "HTTP 500");
    sp_name_stats_release(&n);
}

static void test_messages_bounded(void)
{
    sp_name_stats n;
    sp_name_stats_init(&n);
    char msg[64];
    for (int i = 0; i < SP_FAIL_MSGS_PER_NAME + 5; i++) {
        snprintf(msg, sizeof msg, "failure %d", i);
        sp_name_stats_record(&n, 10, 500, SP_ERRK_ASSERTION, msg, 0, 0);
        sp_name_stats_record(&n, 10, 500, SP_ERRK_ASSERTION, msg, 0, 0);
    }
    CHECK_UINT_EQ(n.nmsgs, SP_FAIL_MSGS_PER_NAME);
    CHECK_UINT_EQ(n.msgs[3].count, 2);
    CHECK_UINT_EQ(n.msgs_dropped, 10);
    /* A long message is cut to the cap, and the cut copies count as one. */
    sp_name_stats long_n;
    sp_name_stats_init(&long_n);
    char big[SP_FAIL_MSG_MAX * 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sp_name_stats_record(&long_n, 10, 0, SP_ERRK_OTHER, big, 0, 0);
    big[sizeof big - 2] = 'y';
    sp_name_stats_record(&long_n, 10, 0, SP_ERRK_OTHER, big, 0, 0);
    CHECK_UINT_EQ(long_n.nmsgs, 1);
    CHECK_UINT_EQ(strlen(long_n.msgs[0].msg), SP_FAIL_MSG_MAX);
    CHECK_UINT_EQ(long_n.msgs[0].count, 2);
    sp_name_stats_release(&long_n);
    sp_name_stats_release(&n);
}

static void test_stats_merge(void)
{
    sp_stats a, b, sum;
    sp_stats_init(&a, 3);
    sp_stats_init(&b, 3);
    sp_stats_init(&sum, 3);
    for (int i = 1; i <= 100; i++)
        sp_name_stats_record(&a.names[0], (uint64_t)i * 100, 200, -1, NULL, 10, 1);
    for (int i = 101; i <= 200; i++)
        sp_name_stats_record(&b.names[0], (uint64_t)i * 100, 200, -1, NULL, 10, 1);
    sp_name_stats_record(&b.names[2], 5, 404, SP_ERRK_HTTP_STATUS, "HTTP 404", 1, 1);
    sp_name_stats_record(&a.names[2], 5, 404, SP_ERRK_HTTP_STATUS, "HTTP 404", 1, 1);
    a.iterations = 7;
    b.iterations = 5;
    a.active_vus = 3;
    b.active_vus = 4;
    a.lag_us_max = 90;
    b.lag_us_max = 40;

    sp_stats_merge(&sum, &a, 1);
    sp_stats_merge(&sum, &b, 1);
    CHECK_UINT_EQ(sum.names[0].requests, 200);
    CHECK_UINT_EQ(sum.names[0].bytes_in, 2000);
    CHECK_UINT_EQ(sum.names[1].requests, 0);
    CHECK_UINT_EQ(sum.names[2].status[404], 2);
    CHECK_UINT_EQ(sum.names[2].nmsgs, 1);
    CHECK_UINT_EQ(sum.names[2].msgs[0].count, 2);
    CHECK_UINT_EQ(sum.iterations, 12);
    CHECK_UINT_EQ(sum.active_vus, 7);
    CHECK_UINT_EQ(sum.lag_us_max, 90);
    /* The merged histogram is the histogram of all values: p50 near 10 ms, max exact. */
    CHECK_UINT_EQ(sp_hist_count(sum.names[0].hist), 200);
    CHECK_UINT_EQ(sp_hist_max(sum.names[0].hist), 20000);
    CHECK_NEAR(sp_hist_percentile(sum.names[0].hist, 50), 10000, 100);

    /* Across time, gauges take the later value. */
    sp_stats_merge(&a, &b, 0);
    CHECK_UINT_EQ(a.active_vus, 4);
    CHECK_UINT_EQ(a.iterations, 12);

    sp_name_stats all;
    sp_name_stats_init(&all);
    sp_stats_total(&sum, &all);
    CHECK_UINT_EQ(all.requests, 202);
    CHECK_UINT_EQ(all.failures, 2);

    sp_stats_reset(&sum);
    CHECK_UINT_EQ(sum.names[0].requests, 0);
    CHECK_UINT_EQ(sp_hist_count(sum.names[0].hist), 0);
    CHECK_UINT_EQ(sum.names[2].nmsgs, 0);
    CHECK_UINT_EQ(sum.iterations, 0);
    sp_name_stats_record(&sum.names[2], 5, 200, -1, NULL, 0, 0);
    CHECK_UINT_EQ(sum.names[2].requests, 1);

    sp_name_stats_release(&all);
    sp_stats_release(&a);
    sp_stats_release(&b);
    sp_stats_release(&sum);
}

/* Connects merge across workers and seconds, and a reset stats object (a worker's, reused each
 * second) starts again from none while keeping its histogram. */
static void test_connects(void)
{
    sp_stats a, b, sum;
    sp_stats_init(&a, 2);
    sp_stats_init(&b, 2);
    sp_stats_init(&sum, 2);
    sp_name_stats_record(&a.names[0], 900, 200, -1, NULL, 0, 0);
    sp_name_stats_record_connect(&a.names[0], 300);
    sp_name_stats_record(&a.names[0], 100, 200, -1, NULL, 0, 0); /* reused its connection */
    sp_name_stats_record(&b.names[0], 2000, 200, -1, NULL, 0, 0);
    sp_name_stats_record_connect(&b.names[0], 1500);
    sp_name_stats_record(&b.names[1], 100, 200, -1, NULL, 0, 0);
    CHECK(a.names[1].connect_hist == NULL); /* no connect: no histogram */
    sp_stats_merge(&sum, &a, 1);
    sp_stats_merge(&sum, &b, 1);
    CHECK_UINT_EQ(sum.names[0].connects, 2);
    CHECK_UINT_EQ(sp_hist_count(sum.names[0].connect_hist), 2);
    CHECK_UINT_EQ(sp_hist_max(sum.names[0].connect_hist), 1500);
    CHECK_UINT_EQ(sp_hist_min(sum.names[0].connect_hist), 300);
    CHECK_UINT_EQ(sum.names[1].connects, 0);
    sp_name_stats total;
    sp_name_stats_init(&total);
    sp_stats_total(&sum, &total);
    CHECK_UINT_EQ(total.connects, 2);
    CHECK_UINT_EQ(total.requests, 4);
    sp_name_stats_release(&total);

    sp_hist *kept = a.names[0].connect_hist;
    sp_stats_reset(&a);
    CHECK(a.names[0].connect_hist == kept);
    CHECK_UINT_EQ(a.names[0].connects, 0);
    CHECK_UINT_EQ(sp_hist_count(kept), 0);
    sp_stats_release(&a);
    sp_stats_release(&b);
    sp_stats_release(&sum);
}

static void test_errkind_names(void)
{
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_TIMEOUT), "timeout");
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_CONNREFUSED), "connect_refused");
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_TOO_LARGE), "too_large");
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_OTHER), "other");
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_BLOCKED), "blocked");
    /* Stored by number and shown by name: the HTTP/2 kinds came last and keep their places. */
    CHECK_INT_EQ(SP_ERRK_H2_RESET, SP_ERRK_REGEX_LIMIT + 1);
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_H2_RESET), "stream_reset");
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_H2), "http2");
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_NOT_H2), "not_http2");
    /* Every kind has its own name: a new kind without a case would read "other". */
    for (int i = 0; i < SP_ERRK_COUNT; i++)
        for (int j = i + 1; j < SP_ERRK_COUNT; j++)
            CHECK(strcmp(sp_errkind_name((sp_errkind)i), sp_errkind_name((sp_errkind)j)) != 0);
}

int main(void)
{
    RUN(test_record_counts);
    RUN(test_messages_bounded);
    RUN(test_stats_merge);
    RUN(test_connects);
    RUN(test_errkind_names);
    return check_summary();
}
