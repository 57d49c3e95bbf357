/*
 * test_engine_open.c - the open (arrival-rate) model: the schedule's arithmetic (ramps, jumps,
 * overrides), and real runs against a local server (testserver.h): the achieved count of
 * arrivals equals the plan, a full pool drops arrivals and counts them, latency counts from the
 * intended start (a worker stalled on purpose past an arrival's due time records the stall in
 * that request's latency), arrivals a stalled worker missed before a stop count as dropped,
 * sp_engine_set_target changes the rate, and arrivals started together in one loop iteration
 * each keep their own due time and are each made once, and the pool reuses the VU freed last (the
 * target counts few connections at a low rate with a big pool), and arrivals a few hundred us
 * apart are started in pairs (the loop's waits are counted), and sp_engine_prepare builds the
 * pool without starting the clock.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

/*
 * A stall of the worker's event loop, on purpose. The worker sleeps in epoll_pwait2 (epoll_wait
 * on older kernels) until its next timer; this file defines both, so the engine linked into it
 * calls these, which pass through to the C library's. When a stall is armed, the first call
 * made between stall_from_ns and stall_until_ns (CLOCK_MONOTONIC, as sp_now_ns) sleeps until
 * stall_until_ns first, then polls without waiting: the loop was busy elsewhere, as a loaded
 * generator's is. Nothing else in this test process uses epoll (libmicrohttpd's thread per
 * connection mode polls with poll(), curl with the worker's callbacks).
 */
static _Atomic uint64_t stall_from_ns, stall_until_ns;
/* The loop's waits that may sleep (a zero timeout only polls) counted while CLOCK_MONOTONIC is
 * in [count_from_ns, count_until_ns). */
static _Atomic uint64_t count_from_ns, count_until_ns;
static atomic_uint waits_counted;

static void count_wait(int sleeps)
{
    uint64_t until = atomic_load(&count_until_ns);
    if (!until || !sleeps)
        return;
    uint64_t now = sp_now_ns();
    if (now >= atomic_load(&count_from_ns) && now < until)
        atomic_fetch_add(&waits_counted, 1);
}

static int stall_now(void)
{
    uint64_t until = atomic_load(&stall_until_ns);
    if (!until)
        return 0;
    uint64_t now = sp_now_ns();
    if (now < atomic_load(&stall_from_ns) || now >= until)
        return 0;
    if (!atomic_compare_exchange_strong(&stall_until_ns, &until, 0))
        return 0; /* another caller took it */
    struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
    return 1;
}

/* The C library's function of that name, looked up once (dlsym returns an object pointer;
 * the callers memcpy it to a function pointer). */
static void *libc_fn(_Atomic(void *) *cache, const char *name)
{
    void *p = atomic_load(cache);
    if (!p) {
        p = dlsym(RTLD_NEXT, name);
        atomic_store(cache, p);
    }
    return p;
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
int epoll_pwait2(int ep, struct epoll_event *evs, int max, const struct timespec *timeout,
                 const sigset_t *mask)
{
    static const struct timespec zero = {0, 0};
    int (*real)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
    static _Atomic(void *) cache;
    void *p = libc_fn(&cache, "epoll_pwait2");
    memcpy(&real, &p, sizeof real);
    count_wait(!timeout || timeout->tv_sec || timeout->tv_nsec);
    if (stall_now())
        timeout = &zero;
    return real(ep, evs, max, timeout, mask);
}
#endif

int epoll_wait(int ep, struct epoll_event *evs, int max, int timeout_ms)
{
    int (*real)(int, struct epoll_event *, int, int);
    static _Atomic(void *) cache;
    void *p = libc_fn(&cache, "epoll_wait");
    memcpy(&real, &p, sizeof real);
    count_wait(timeout_ms != 0);
    if (stall_now())
        timeout_ms = 0;
    return real(ep, evs, max, timeout_ms);
}

#define NS_PER_MS_TEST UINT64_C(1000000)
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

/*
 * No coordinated omission: one arrival, due at 1 s, whose worker is stalled from 0.3 s to 1.4 s
 * (stall_now), so its timer fires about 400 ms late. The request itself takes the server's
 * 200 ms. Its recorded latency counts from when the arrival was due: at least the server's
 * delay plus the lateness the engine reports in arrivals_lag_us, and more only by the request's
 * own overhead. Counted from when it was sent instead, it would be about 200 ms, the stall
 * hidden exactly as in a closed model.
 */
static void test_late_arrival_counts_its_wait(void)
{
    const uint64_t delay_ms = 200;
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/slow\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":2,\"stages\":["
                     "{\"duration\":\"1s\",\"rate\":0},{\"duration\":\"0s\",\"rate\":1},"
                     "{\"duration\":\"1s\",\"rate\":1}]}}");
    CHECK(d != NULL);
    atomic_store(&srv.slow_ms, (unsigned)delay_ms);
    unsigned long slow_before = atomic_load(&srv.slow);
    sp_engine_opts o = {.threads = 1, .seed = 7};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    uint64_t t0 = sp_now_ns();
    atomic_store(&stall_from_ns, t0 + 300 * NS_PER_MS_TEST);
    atomic_store(&stall_until_ns, t0 + 1400 * NS_PER_MS_TEST);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    int stalled = atomic_load(&stall_until_ns) == 0;
    atomic_store(&stall_until_ns, 0);
    atomic_store(&srv.slow_ms, 0);
    const sp_stats *t = sp_engine_totals(e);
    const sp_name_stats *n = &t->names[0];
    uint64_t lag = t->arrivals_lag_us, lat = sp_hist_max(n->hist);
    fprintf(stderr, "    arrival late by %llu us, latency %llu us, server delay %llu ms\n",
            (unsigned long long)lag, (unsigned long long)lat, (unsigned long long)delay_ms);
    CHECK(stalled);
    CHECK_UINT_EQ(t->arrivals, 1);
    CHECK_UINT_EQ(t->dropped, 0);
    CHECK_UINT_EQ(atomic_load(&srv.slow) - slow_before, 1);
    CHECK_UINT_EQ(n->requests, 1);
    CHECK_UINT_EQ(n->failures, 0);
    CHECK_UINT_EQ(sp_hist_count(n->hist), 1);
    /* The stall ended 400 ms after the arrival was due, give or take the start's microseconds. */
    CHECK(lag >= 350000);
    CHECK_UINT_EQ(t->arrivals_late, 1);
    CHECK(t->lag_us_max >= lag);
    /* One value: max is it, exactly. Above, a loaded machine may add a few hundred ms to the
     * server's sleep; a base a whole arrival (1 s) or more too early would still fail. */
    CHECK(lat >= delay_ms * 1000 + lag);
    CHECK(lat - delay_ms * 1000 - lag < 500 * 1000);
    sp_engine_free(e);
    sp_def_free(d);
}

/*
 * 100 arrivals/s; the worker is stalled from 0.3 s to 0.8 s and the run stopped (gracefully) at
 * 0.5 s, while the stall lasts. The arrivals due while it was stalled never started; they are
 * dropped, so started + dropped covers every arrival due before the worker saw the stop: at
 * least the 80 due before 0.8 s. Not counting them would leave 50 of them unexplained.
 */
static void test_stop_counts_missed_arrivals(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":20,\"rate\":100,"
                     "\"duration\":\"5s\"}}");
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok);
    sp_engine_opts o = {.threads = 1, .seed = 9};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    uint64_t t0 = sp_now_ns();
    atomic_store(&stall_from_ns, t0 + 300 * NS_PER_MS_TEST);
    atomic_store(&stall_until_ns, t0 + 800 * NS_PER_MS_TEST);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    struct timespec ts = {0, 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
    sp_engine_stop(e, 1);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    int stalled = atomic_load(&stall_until_ns) == 0;
    atomic_store(&stall_until_ns, 0);
    const sp_stats *t = sp_engine_totals(e);
    fprintf(stderr, "    %llu arrivals started, %llu dropped, stopped after %llu ms\n",
            (unsigned long long)t->arrivals, (unsigned long long)t->dropped,
            (unsigned long long)sp_engine_elapsed_ms(e));
    CHECK(stalled);
    CHECK(sp_engine_was_stopped(e));
    CHECK_UINT_EQ(atomic_load(&srv.ok) - ok0, t->names[0].requests);
    CHECK_UINT_EQ(t->names[0].requests, t->arrivals);
    CHECK(t->arrivals + t->dropped >= 80);
    CHECK(t->arrivals + t->dropped <= sp_engine_elapsed_ms(e) / 10 + 1);
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

/*
 * Arrivals batched in one loop iteration keep their own due times. 500 arrivals/s for 1 s from
 * 0.3 s (every VU of the pool connects in on_start meanwhile, so the target answers a burst on
 * open connections at once); the worker is stalled from 0.6 s to 0.8 s, so the hundred arrivals
 * due meanwhile all start right after the stall (32 to a pass of the loop, ARRIVAL_BATCH_MAX),
 * their lateness spread evenly from the stall's length L (the first) down to nothing (the last),
 * and the latencies are spread the same way: of 500 requests the hundred slowest run from L down,
 * p90 near L / 2 and p98 near 0.9 L. Charged from the batch's clock instead, all hundred would look
 * fast (p98 near 0); charged from the first one's due time, all hundred would be near L (p90 near
 * L). Every arrival is made once: the target counts exactly the arrivals, and started + dropped is
 * the plan.
 */
static void test_batched_arrivals_keep_due_times(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\","
                     "\"on_start\":[{\"request\":{\"url\":\"/ok\",\"name\":\"connect\"}}],"
                     "\"tasks\":[{\"request\":{\"url\":\"/ok\",\"name\":\"work\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":150,\"stages\":["
                     "{\"duration\":\"300ms\",\"rate\":0},{\"duration\":\"0s\",\"rate\":500},"
                     "{\"duration\":\"1s\",\"rate\":500}]}}");
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok);
    sp_engine_opts o = {.threads = 1, .seed = 10};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    uint64_t t0 = sp_now_ns();
    atomic_store(&stall_from_ns, t0 + 600 * NS_PER_MS_TEST);
    atomic_store(&stall_until_ns, t0 + 800 * NS_PER_MS_TEST);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    int stalled = atomic_load(&stall_until_ns) == 0;
    atomic_store(&stall_until_ns, 0);
    const sp_stats *t = sp_engine_totals(e);
    const sp_hist *h = t->names[1].hist;
    double lag = (double)t->lag_us_max, p90 = (double)sp_hist_percentile(h, 90),
           p98 = (double)sp_hist_percentile(h, 98);
    fprintf(stderr,
            "    %llu arrivals, %llu dropped, longest lag %.1f ms, p90 %.1f ms, p98 %.1f ms\n",
            (unsigned long long)t->arrivals, (unsigned long long)t->dropped, lag / 1000, p90 / 1000,
            p98 / 1000);
    CHECK(stalled);
    CHECK_UINT_EQ(t->names[0].requests, 150);
    CHECK_UINT_EQ(t->arrivals + t->dropped, 500);
    CHECK_UINT_EQ(t->dropped, 0);
    CHECK_UINT_EQ(t->names[1].requests, t->arrivals);
    CHECK_UINT_EQ(atomic_load(&srv.ok) - ok0, 150 + t->arrivals);
    CHECK(lag >= 180000);
    /* The bounds leave room for a loaded machine's own hiccups on either side. */
    CHECK(p98 >= 0.6 * lag);
    CHECK(p90 >= 0.2 * lag && p90 <= 0.75 * lag);
    sp_engine_free(e);
    sp_def_free(d);
}

/*
 * 10,000 arrivals/s, 100 us apart: two or more are due within the window the loop starts together
 * (worker.c, ARRIVAL_AHEAD_NS), some a little before their due time. The target here answers far
 * slower than nginx, so arrivals may be dropped; none may be lost or made twice. Each is made once
 * (the target's count is the arrivals', started + dropped is the plan), and one sent before its due
 * time and answered before it still has a sane latency (counted from when it was sent).
 */
static void test_fast_rate_every_arrival_once(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":200,\"rate\":10000,"
                     "\"duration\":\"200ms\"}}");
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok);
    sp_engine_opts o = {.threads = 1, .seed = 11};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    const sp_name_stats *n = &t->names[0];
    fprintf(stderr, "    %llu arrivals, %llu dropped, lag mean %.1f us, max latency %.1f ms\n",
            (unsigned long long)t->arrivals, (unsigned long long)t->dropped,
            t->arrivals ? (double)t->arrivals_lag_us / (double)t->arrivals : 0.0,
            (double)sp_hist_max(n->hist) / 1000);
    CHECK_UINT_EQ(t->arrivals + t->dropped, 2000);
    CHECK(t->arrivals > 0);
    CHECK_UINT_EQ(n->requests, t->arrivals);
    CHECK_UINT_EQ(n->failures, 0);
    CHECK_UINT_EQ(atomic_load(&srv.ok) - ok0, t->arrivals);
    CHECK_UINT_EQ(sp_hist_count(n->hist), t->arrivals);
    /* A latency counted from a due time after the answer would wrap around to years. */
    CHECK(sp_hist_max(n->hist) < 10u * 1000 * 1000);
    sp_engine_free(e);
    sp_def_free(d);
}

/*
 * The pool is a stack: an arrival takes the VU freed last, so at a rate the first VUs keep up
 * with, the rest of a big pool is never used and the target sees a few warm connections, not
 * one per VU. 100 arrivals at 50/s with 200 VUs, each answered in well under the 20 ms between
 * two arrivals: the target counts its own connections. Taking the VU idle the longest (a queue)
 * would open one connection per arrival, 100 of them; a host stall of the worker (100 ms at
 * most here, measured on the shared machine) starts the few arrivals due meanwhile together, on
 * as many VUs.
 */
static void test_pool_reuses_warm_vus(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":200,\"rate\":50,"
                     "\"duration\":\"2s\"}}");
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok), conns0 = atomic_load(&srv.connections);
    sp_engine_opts o = {.threads = 1, .seed = 12};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    unsigned long conns = atomic_load(&srv.connections) - conns0;
    fprintf(stderr, "    %llu arrivals, %llu dropped, %lu connections at the target\n",
            (unsigned long long)t->arrivals, (unsigned long long)t->dropped, conns);
    CHECK_UINT_EQ(t->arrivals, 100);
    CHECK_UINT_EQ(atomic_load(&srv.ok) - ok0, 100);
    CHECK(conns >= 1 && conns <= 10);
    sp_engine_free(e);
    sp_def_free(d);
}

/*
 * Arrivals 400 us apart (2,500/s) are started in pairs: the loop wakes once for two, not once
 * for each (worker.c, ARRIVAL_PAIR_NS). 250 arrivals in 100 ms from 0.3 s, after every VU of the
 * pool has connected in on_start; each request waits 300 ms at the target, so no answer comes
 * back while the arrivals are made, and the loop's waits (epoll_pwait2, counted here) over 80 ms
 * of them are the wake-ups the schedule costs: about 100 in pairs, 200 one by one. The second
 * of a pair is sent up to 0.5 ms early; its latency still counts from when it was sent, so none
 * is under the target's 300 ms. The target counts every arrival once.
 */
static void paired_pass(unsigned *out)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\","
                     "\"on_start\":[{\"request\":{\"url\":\"/ok\",\"name\":\"connect\"}}],"
                     "\"tasks\":[{\"request\":{\"url\":\"/slow\",\"name\":\"work\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":250,\"stages\":["
                     "{\"duration\":\"300ms\",\"rate\":0},{\"duration\":\"0s\",\"rate\":2500},"
                     "{\"duration\":\"100ms\",\"rate\":2500}]}}");
    CHECK(d != NULL);
    atomic_store(&srv.slow_ms, 300);
    unsigned long slow0 = atomic_load(&srv.slow);
    sp_engine_opts o = {.threads = 1, .seed = 13};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    uint64_t t0 = sp_now_ns();
    atomic_store(&waits_counted, 0);
    atomic_store(&count_from_ns, t0 + 310 * NS_PER_MS_TEST);
    atomic_store(&count_until_ns, t0 + 390 * NS_PER_MS_TEST);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    atomic_store(&count_until_ns, 0);
    atomic_store(&srv.slow_ms, 0);
    unsigned waits = atomic_load(&waits_counted);
    const sp_stats *t = sp_engine_totals(e);
    const sp_hist *h = t->names[1].hist;
    fprintf(stderr,
            "    %llu arrivals, %llu dropped, %u waits for 200 arrivals, min latency %.1f ms\n",
            (unsigned long long)t->arrivals, (unsigned long long)t->dropped, waits,
            (double)sp_hist_min(h) / 1000);
    CHECK_UINT_EQ(t->names[0].requests, 250);
    CHECK_UINT_EQ(t->arrivals + t->dropped, 250);
    CHECK_UINT_EQ(t->dropped, 0);
    CHECK_UINT_EQ(t->names[1].requests, t->arrivals);
    CHECK_UINT_EQ(atomic_load(&srv.slow) - slow0, t->arrivals);
    CHECK(sp_hist_min(h) >= 300000);
    sp_engine_free(e);
    sp_def_free(d);
    *out = waits;
}

static void test_arrivals_paired(void)
{
    /* One by one would be 200 or more; a loaded host's stall only makes fewer, and a stall over
     * the whole counted window none at all (seen once under AddressSanitizer): that pass proves
     * nothing about pairs, so it is made again, at most twice. */
    unsigned waits = 0;
    for (int pass = 0; pass < 3 && waits == 0; pass++)
        paired_pass(&waits);
    CHECK(waits > 0 && waits <= 140);
}

/*
 * sp_engine_prepare starts the threads and builds the pool (3,000 VUs) without starting the
 * clock: nothing is sent until sp_engine_start, the run's time 0 is the start, not the prepare
 * (arrivals due from 0 ms would otherwise be 600 ms late at once: the lag tells), and every
 * planned arrival is made. A prepared engine freed without a start sends its workers home
 * (ASan: nothing leaks; a worker left at the gate would hang the join).
 */
static void test_prepare_then_start(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"model\":\"open\",\"max_vus\":3000,\"rate\":100,"
                     "\"duration\":\"1s\"}}");
    CHECK(d != NULL);
    sp_engine_opts o = {.threads = 2, .seed = 5};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_prepare(e), 0);
    CHECK_INT_EQ(sp_engine_prepare(e), 0); /* again: nothing more */
    sp_engine_free(e);                     /* never started */

    atomic_store(&srv.ok, 0);
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_prepare(e), 0);
    CHECK(sp_engine_target(e) == 0);
    CHECK_UINT_EQ(sp_engine_elapsed_ms(e), 0);
    struct timespec gap = {0, 600 * 1000 * 1000};
    nanosleep(&gap, NULL);
    CHECK_UINT_EQ(atomic_load(&srv.ok), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_start(e), SP_ESTATE);
    CHECK_INT_EQ(sp_engine_prepare(e), SP_ESTATE);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    fprintf(stderr, "    %llu arrivals, %llu dropped, lag max %llu us\n",
            (unsigned long long)t->arrivals, (unsigned long long)t->dropped,
            (unsigned long long)t->lag_us_max);
    CHECK_UINT_EQ(t->arrivals, 100);
    CHECK_UINT_EQ(t->dropped, 0);
    CHECK_UINT_EQ(atomic_load(&srv.ok), 100);
    CHECK(t->lag_us_max < 400000);
    sp_engine_free(e);
    sp_def_free(d);
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
    RUN(test_late_arrival_counts_its_wait);
    RUN(test_stop_counts_missed_arrivals);
    RUN(test_batched_arrivals_keep_due_times);
    RUN(test_fast_rate_every_arrival_once);
    RUN(test_pool_reuses_warm_vus);
    RUN(test_arrivals_paired);
    RUN(test_set_rate);
    RUN(test_on_start_once_per_vu);
    RUN(test_stop_when);
    RUN(test_csv_rows);
    RUN(test_prepare_then_start);
    testserver_stop(&srv);
    return check_summary();
}
