/*
 * test_engine_open.c - the open (arrival-rate) model: the schedule's arithmetic (ramps, jumps,
 * overrides), and real runs against a local server (testserver.h): the achieved count of
 * arrivals equals the plan, a full pool drops arrivals and counts them, latency counts from the
 * intended start, and sp_engine_set_target changes the rate.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "engine/profile.h"
#include "testserver.h"

static testserver srv;

typedef struct seconds {
    int calls;
    double target[16];
    uint64_t arrivals[16];
    uint64_t dropped[16];
} seconds;

static void on_second(void *ud, uint64_t second, const sp_stats *s)
{
    seconds *sc = ud;
    sc->calls++;
    if (second < 16) {
        sc->target[second] = s->target_rate;
        sc->arrivals[second] = s->arrivals;
        sc->dropped[second] = s->dropped;
    }
}

static sp_def *load(const char *text)
{
    return ts_load_def_at(text, srv.port);
}

#define NEAR(a, b, eps) (fabs((a) - (b)) <= (eps))

/* The schedule alone: a ramp 0 -> 100/s over 2 s, a jump to 10/s held 1 s, then an override. */
static void test_schedule_math(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":5,\"stages\":["
                     "{\"duration\":\"2s\",\"rate\":100},{\"duration\":\"0s\",\"rate\":10},"
                     "{\"duration\":\"1s\",\"rate\":10}]}}");
    CHECK(d != NULL);
    sp_ovr o;
    memset(&o, 0, sizeof o);
    /* rate(t) = t / 20 per s for t in ms, so arrivals by t = t^2 / 40000. */
    CHECK(NEAR(sp_profile_arrivals_by(&d->load, &o, 1000), 25, 1e-9));
    CHECK(NEAR(sp_profile_arrivals_by(&d->load, &o, 2000), 100, 1e-9));
    CHECK(NEAR(sp_profile_arrivals_by(&d->load, &o, 2500), 105, 1e-9));
    double t = 0;
    CHECK_INT_EQ(sp_profile_arrival_at(&d->load, &o, 0, &t), 0);
    CHECK(NEAR(t, 0, 1e-9));
    CHECK_INT_EQ(sp_profile_arrival_at(&d->load, &o, 25, &t), 0);
    CHECK(NEAR(t, 1000, 1e-6));
    CHECK_INT_EQ(sp_profile_arrival_at(&d->load, &o, 49, &t), 0);
    CHECK(NEAR(t, sqrt(49.0 * 40000), 1e-6));
    /* After the jump: one arrival every 100 ms. */
    CHECK_INT_EQ(sp_profile_arrival_at(&d->load, &o, 101, &t), 0);
    CHECK(NEAR(t, 2100, 1e-6));
    /* The last target holds after the stages. */
    CHECK_INT_EQ(sp_profile_arrival_at(&d->load, &o, 120, &t), 0);
    CHECK(NEAR(t, 4000, 1e-6));
    /* An override at 2.5 s: from 10/s to 30/s over 1 s, then 30/s. */
    o.active = 1;
    o.t0_ms = 2500;
    o.v0 = 10;
    o.v1 = 30;
    o.ramp_ms = 1000;
    CHECK(NEAR(sp_profile_arrivals_by(&d->load, &o, 3500), 105 + 20, 1e-9));
    CHECK_INT_EQ(sp_profile_arrival_at(&d->load, &o, 125 + 30, &t), 0);
    CHECK(NEAR(t, 4500, 1e-6));
    /* A rate that falls to 0 and stays: no arrival beyond what it planned. */
    o.v1 = 0;
    o.ramp_ms = 0;
    CHECK(sp_profile_arrival_at(&d->load, &o, 106, &t) != 0);
    sp_def_free(d);
}

static void test_constant_rate_matches_plan(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":20,\"rate\":150,"
                     "\"duration\":\"2s\"}}");
    CHECK(d != NULL);
    atomic_store(&srv.ok, 0);
    seconds sc = {0};
    sp_engine_opts o = {.threads = 2, .seed = 1, .on_second = on_second, .ud = &sc};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    fprintf(stderr, "    %llu arrivals, %llu dropped, lag max %llu us\n",
            (unsigned long long)t->arrivals, (unsigned long long)t->dropped,
            (unsigned long long)t->lag_us_max);
    /* Arrivals 0..299 are due at 0, 6.67, ... 1993.3 ms: exactly 300 in 2 s. */
    CHECK_UINT_EQ(t->arrivals, 300);
    CHECK_UINT_EQ(t->dropped, 0);
    CHECK_UINT_EQ(t->iterations, 300);
    CHECK_UINT_EQ(t->names[0].requests, 300);
    CHECK_UINT_EQ(atomic_load(&srv.ok), 300);
    CHECK(NEAR(sc.target[0], 150, 1e-6) && NEAR(sc.target[1], 150, 1e-6));
    CHECK(sc.arrivals[0] >= 148 && sc.arrivals[0] <= 152);
    CHECK_UINT_EQ(t->target_vus, 20);
    sp_engine_free(e);
    sp_def_free(d);
}

/*
 * Two VUs, each arrival's request takes 200 ms, 20 arrivals/s for 1 s: at most two requests are
 * in flight, so most arrivals find no free VU and are dropped; every planned arrival is either
 * started or dropped.
 */
static void test_full_pool_drops(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/slow\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":2,\"rate\":20,"
                     "\"duration\":\"1s\"}}");
    CHECK(d != NULL);
    atomic_store(&srv.slow_ms, 200);
    sp_engine_opts o = {.threads = 1, .seed = 2};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    fprintf(stderr, "    %llu arrivals, %llu dropped\n", (unsigned long long)t->arrivals,
            (unsigned long long)t->dropped);
    CHECK_UINT_EQ(t->arrivals + t->dropped, 20);
    CHECK(t->arrivals >= 6 && t->arrivals <= 12);
    CHECK(t->dropped >= 8);
    CHECK(sp_hist_percentile(t->names[0].hist, 50) >= 200000);
    atomic_store(&srv.slow_ms, 0);
    sp_engine_free(e);
    sp_def_free(d);
}

/* sp_engine_set_target moves the rate: 20/s for the first second, then 100/s at once. */
static void test_set_rate(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":20,\"rate\":20,"
                     "\"duration\":\"3s\"}}");
    CHECK(d != NULL);
    seconds sc = {0};
    sp_engine_opts o = {.threads = 2, .seed = 3, .on_second = on_second, .ud = &sc};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    CHECK_INT_EQ(sp_engine_set_target(e, 100, 0), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    fprintf(stderr, "    per second: %llu %llu %llu (targets %.1f %.1f %.1f)\n",
            (unsigned long long)sc.arrivals[0], (unsigned long long)sc.arrivals[1],
            (unsigned long long)sc.arrivals[2], sc.target[0], sc.target[1], sc.target[2]);
    CHECK(sc.arrivals[0] >= 19 && sc.arrivals[0] <= 22);
    CHECK(sc.arrivals[2] >= 97 && sc.arrivals[2] <= 103);
    CHECK(NEAR(sc.target[2], 100, 1e-6));
    /* About 20 + 200, give or take the moment the change landed. */
    CHECK(t->arrivals >= 200 && t->arrivals <= 225);
    CHECK_UINT_EQ(t->dropped, 0);
    sp_engine_free(e);
    sp_def_free(d);
}

/* on_start runs once per pooled VU, before it takes arrivals; tasks run once per arrival. */
static void test_on_start_once_per_vu(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\","
                     "\"on_start\":[{\"request\":{\"url\":\"/ok\",\"name\":\"login\"}}],"
                     "\"tasks\":[{\"request\":{\"url\":\"/ok\",\"name\":\"work\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":6,\"rate\":50,"
                     "\"duration\":\"1s\"}}");
    CHECK(d != NULL);
    sp_engine_opts o = {.threads = 2, .seed = 4};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    CHECK_UINT_EQ(t->names[0].requests, 6);
    CHECK_UINT_EQ(t->arrivals + t->dropped, 50);
    CHECK(t->arrivals >= 48);
    CHECK_UINT_EQ(t->names[1].requests, t->arrivals);
    sp_engine_free(e);
    sp_def_free(d);
}

/* stop_when: every answer is a 500, so the error rate over a 1 s window trips at once. */
static void test_stop_when(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":20},"
                     "\"tasks\":[{\"request\":{\"url\":\"/500\"}}]}],"
                     "\"load\":{\"users\":3,\"duration\":\"10s\","
                     "\"stop_when\":{\"any\":[\"p95 > 5s\",\"error_rate > 50%\"],"
                     "\"window\":\"1s\"}}}");
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->load.nstop_when, 2);
    CHECK_UINT_EQ(d->load.stop_window_s, 1);
    sp_engine_opts o = {.threads = 2, .seed = 5};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    sp_break b;
    CHECK_INT_EQ(sp_engine_broke(e, &b), 1);
    CHECK_UINT_EQ(b.condition, 1);
    CHECK(b.measured > 0.99);
    CHECK_UINT_EQ(b.second, 0);
    CHECK(NEAR(b.target, 3, 1e-9));
    CHECK(!sp_engine_was_stopped(e));
    CHECK(sp_engine_elapsed_ms(e) < 3000);
    sp_engine_free(e);
    sp_def_free(d);
}

/* CSV rows reach the requests: unique rows with stop, one per iteration, each sent once. */
static void test_csv_rows(void)
{
    char dir[] = "/tmp/sp-open-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/rows.csv", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("p,unused\nok,1\nok,2\nauth,3\n", f);
    fclose(f);
    const char *text = "{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                       "\"users\":[{\"name\":\"u\",\"data_file\":{\"csv\":\"rows.csv\","
                       "\"mode\":\"unique\",\"on_exhausted\":\"stop\"},"
                       "\"tasks\":[{\"request\":{\"url\":\"/{{row.p}}\"},"
                       "\"expect\":{\"status\":[200,401]}}]}],"
                       "\"load\":{\"users\":2,\"duration\":\"1s\"}}";
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)srv.port);
    sp_overrides ov = SP_OVERRIDES_NONE;
    ov.base_url = base;
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    int rc = sp_def_load(text, strlen(text), &ov, dir, &d, &el);
    sp_errlist_release(&el);
    CHECK_INT_EQ(rc, 0);
    atomic_store(&srv.ok, 0);
    sp_engine_opts o = {.threads = 2, .seed = 6};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    CHECK_UINT_EQ(t->names[0].requests, 3);
    CHECK_UINT_EQ(t->names[0].failures, 0);
    CHECK_UINT_EQ(atomic_load(&srv.ok), 2);
    CHECK_UINT_EQ(t->names[0].status[401], 1);
    sp_engine_free(e);
    sp_def_free(d);
    unlink(path);
    rmdir(dir);
    /* Without a directory (a definition from the network) no file may be read. */
    sp_errlist_init(&el);
    CHECK(sp_def_load(text, strlen(text), &ov, NULL, &d, &el) != 0);
    sp_errlist_release(&el);
}

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "could not start the test server\n");
        return 1;
    }
    RUN(test_schedule_math);
    RUN(test_constant_rate_matches_plan);
    RUN(test_full_pool_drops);
    RUN(test_set_rate);
    RUN(test_on_start_once_per_vu);
    RUN(test_stop_when);
    RUN(test_csv_rows);
    testserver_stop(&srv);
    return check_summary();
}
