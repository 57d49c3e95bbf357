/*
 * test_engine_remote.c - an engine whose workers are remote (agents): the seconds of three
 * agents, sent through the wire encoding, merge into exactly the figures one engine records
 * from the same samples (every percentile, mean, max and count, per name and per second); a
 * second sent twice counts once; a lost agent's end lets the run finish with the others.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "engine/histogram.h"
#include "engine/wire.h"

#define NAGENTS 3
#define NSECONDS 3

static const char *def_text =
    "{\"name\":\"t\",\"base_url\":\"http://127.0.0.1:9\","
    "\"users\":[{\"name\":\"u\",\"tasks\":[{\"steps\":["
    "{\"request\":{\"url\":\"/a\",\"name\":\"a\"}},{\"request\":{\"url\":\"/"
    "b\",\"name\":\"b\"}}]}]}],"
    "\"load\":{\"users\":3,\"duration\":\"3s\"}}";

static sp_def *ts_load_def(const char *text, const char *base_url)
{
    sp_overrides ov = SP_OVERRIDES_NONE;
    ov.base_url = base_url;
    sp_def *d = NULL;
    sp_errlist el;
    sp_errlist_init(&el);
    if (sp_def_load(text, strlen(text), &ov, NULL, &d, &el) != 0) {
        sp_buf b;
        sp_buf_init(&b, 1 << 16);
        sp_errlist_format(&el, &b);
        fprintf(stderr, "definition errors:\n%s", b.p);
        sp_buf_release(&b);
    }
    sp_errlist_release(&el);
    return d;
}

typedef struct seen {
    uint64_t requests[NSECONDS + 1];
    uint64_t seconds;
} seen;

static void on_second(void *ud, uint64_t second, const sp_stats *s)
{
    seen *sn = ud;
    if (second <= NSECONDS)
        for (size_t i = 0; i < s->nnames; i++)
            sn->requests[second] += s->names[i].requests;
    sn->seconds++;
}

/* What an agent would send: its stats through encode and decode. */
static int through_wire(const sp_stats *s, sp_stats *out)
{
    sp_wire_msg m, d;
    sp_wire_msg_init(&m, SP_WIRE_SECOND);
    size_t len;
    char *text = sp_wire_encode(&m, s, &len);
    char err[256];
    int rc = sp_wire_decode(text, len, &d, err, sizeof err);
    /* d.body is borrowed from text. */
    if (!rc)
        rc = sp_wire_stats_decode(d.body, d.body_len, s->nnames, out, err, sizeof err);
    free(text);
    if (rc)
        fprintf(stderr, "    wire: %s\n", err);
    sp_wire_msg_release(&d);
    return rc;
}

static sp_engine *remote_engine(const sp_def *d, unsigned n, seen *sn)
{
    sp_engine_opts o = {.remote_workers = n, .on_second = on_second, .ud = sn};
    sp_engine *e = NULL;
    char err[256];
    if (sp_engine_new(d, &o, &e, err, sizeof err) != 0) {
        fprintf(stderr, "    %s\n", err);
        return NULL;
    }
    if (sp_engine_start(e) != 0) {
        sp_engine_free(e);
        return NULL;
    }
    return e;
}

static void test_exact_merge(void)
{
    sp_def *d = ts_load_def(def_text, NULL);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->nnames, 2);
    seen sn = {{0}, 0};
    sp_engine *e = remote_engine(d, NAGENTS, &sn);
    CHECK(e != NULL);
    sp_stats one, part, back;
    sp_stats_init(&one, d->nnames); /* what a single engine would have recorded */
    sp_stats_init(&part, d->nnames);
    sp_stats_init(&back, d->nnames);
    srand(42);
    uint64_t per_second[NSECONDS] = {0};
    for (uint64_t sec = 0; sec < NSECONDS; sec++) {
        for (unsigned a = 0; a < NAGENTS; a++) {
            sp_stats_reset(&part);
            /* Each agent sees its own latencies: agent 2 is "far" (+20 ms). */
            int n = 200 + rand() % 300;
            for (int i = 0; i < n; i++) {
                uint64_t us = 1000 + (uint64_t)(rand() % 50000) + (a == 2 ? 20000 : 0);
                int fail = rand() % 20 == 0;
                for (sp_stats *s = &part; s; s = s == &part ? &one : NULL)
                    sp_name_stats_record(&s->names[i % 2], us, fail ? 503 : 200,
                                         fail ? SP_ERRK_HTTP_STATUS : -1, fail ? "503" : NULL, 10,
                                         5);
            }
            per_second[sec] += (uint64_t)n;
            CHECK_INT_EQ(through_wire(&part, &back), 0);
            /* Half the agents hand their stats over, half have them copied. */
            if (a % 2)
                CHECK_INT_EQ(sp_engine_feed_second_take(e, a, sec, &back), 0);
            else
                CHECK_INT_EQ(sp_engine_feed_second(e, a, sec, &back), 0);
        }
    }
    for (unsigned a = 0; a < NAGENTS; a++)
        CHECK_INT_EQ(sp_engine_feed_end(e, a), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    for (size_t i = 0; i < d->nnames; i++) {
        const sp_hist *got = t->names[i].hist, *want = one.names[i].hist;
        CHECK_UINT_EQ(t->names[i].requests, one.names[i].requests);
        CHECK_UINT_EQ(t->names[i].failures, one.names[i].failures);
        CHECK_UINT_EQ(t->names[i].status[503], one.names[i].status[503]);
        CHECK_UINT_EQ(t->names[i].bytes_in, one.names[i].bytes_in);
        CHECK_UINT_EQ(sp_hist_max(got), sp_hist_max(want));
        CHECK_UINT_EQ(sp_hist_min(got), sp_hist_min(want));
        CHECK(sp_hist_mean(got) == sp_hist_mean(want));
        for (double p = 0.1; p <= 100; p += 0.1)
            CHECK_UINT_EQ(sp_hist_percentile(got, p), sp_hist_percentile(want, p));
    }
    /* Each second holds exactly the agents' samples of that second. */
    for (uint64_t sec = 0; sec < NSECONDS; sec++)
        CHECK_UINT_EQ(sn.requests[sec], per_second[sec]);
    CHECK_UINT_EQ(sn.seconds, NSECONDS);
    sp_engine_free(e);
    sp_stats_release(&one);
    sp_stats_release(&part);
    sp_stats_release(&back);
    sp_def_free(d);
}

static void test_second_twice_counts_once(void)
{
    sp_def *d = ts_load_def(def_text, NULL);
    CHECK(d != NULL);
    seen sn = {{0}, 0};
    sp_engine *e = remote_engine(d, 2, &sn);
    CHECK(e != NULL);
    sp_stats s;
    sp_stats_init(&s, d->nnames);
    sp_name_stats_record(&s.names[0], 500, 200, -1, NULL, 0, 0);
    CHECK_INT_EQ(sp_engine_feed_second(e, 0, 0, &s), 0);
    /* An agent that reconnected sends second 0 again: ignored. */
    CHECK_INT_EQ(sp_engine_feed_second(e, 0, 0, &s), SP_ESTATE);
    CHECK_INT_EQ(sp_engine_feed_second(e, 0, 1, &s), 0);
    CHECK_INT_EQ(sp_engine_feed_second(e, 2, 1, &s), SP_EINVAL); /* no such worker */
    sp_stats other;
    sp_stats_init(&other, d->nnames + 1);
    CHECK_INT_EQ(sp_engine_feed_second(e, 1, 0, &other), SP_EINVAL); /* another shape */
    sp_stats_release(&other);
    /* Agent 1 is lost without a word: its end lets the run finish. */
    CHECK_INT_EQ(sp_engine_feed_end(e, 1), 0);
    CHECK_INT_EQ(sp_engine_feed_end(e, 1), 0);
    CHECK_INT_EQ(sp_engine_feed_end(e, 0), 0);
    CHECK_INT_EQ(sp_engine_feed_second(e, 0, 2, &s), SP_ESTATE); /* after its end */
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    CHECK_UINT_EQ(sp_engine_totals(e)->names[0].requests, 2);
    sp_engine_free(e);
    sp_stats_release(&s);
    sp_def_free(d);
}

/* Freeing a running remote engine whose agents never ended does not hang. */
static void test_free_while_running(void)
{
    sp_def *d = ts_load_def(def_text, NULL);
    CHECK(d != NULL);
    seen sn = {{0}, 0};
    sp_engine *e = remote_engine(d, 2, &sn);
    CHECK(e != NULL);
    sp_engine_stop(e, 1);
    sp_engine_free(e);
    sp_def_free(d);
}

int main(void)
{
    RUN(test_exact_merge);
    RUN(test_second_twice_counts_once);
    RUN(test_free_while_running);
    return check_summary();
}
