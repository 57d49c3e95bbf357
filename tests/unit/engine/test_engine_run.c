/*
 * test_engine_run.c - runs real definitions against a real local server (testserver.h) for a
 * few seconds: counts match what the server served, on_second comes once a second, extract and
 * VU headers carry a token, the target can be changed during the run, and tasks are picked by
 * weight, the last one too.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "testserver.h"

static testserver srv;

/* A local answer's median latency, in us, with room for sanitizers that slow both sides. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define FAST_LOCAL_US 3000
#else
#define FAST_LOCAL_US 900
#endif

typedef struct seconds {
    int calls;
    uint64_t last_second;
    int in_order;
    uint64_t requests;
    uint32_t active[16];
    uint32_t target[16];
    uint64_t reqs[16];
    uint64_t t0_us;       /* just before sp_engine_start */
    uint64_t late_ms_max; /* the latest a full second was sent after it ended */
} seconds;

static void on_second(void *ud, uint64_t second, const sp_stats *s)
{
    seconds *sc = ud;
    if (sc->calls > 0 && second != sc->last_second + 1)
        sc->in_order = 0;
    sc->last_second = second;
    sc->calls++;
    uint64_t at_ms = (sp_now_us() - sc->t0_us) / 1000, end_ms = (second + 1) * 1000;
    if (at_ms > end_ms && at_ms - end_ms > sc->late_ms_max && at_ms < 2000 /* full seconds */)
        sc->late_ms_max = at_ms - end_ms;
    uint64_t n = 0;
    for (size_t i = 0; i < s->nnames; i++)
        n += s->names[i].requests;
    sc->requests += n;
    if (second < 16) {
        sc->active[second] = s->active_vus;
        sc->target[second] = s->target_vus;
        sc->reqs[second] = n;
    }
}

/* Loads a definition pointed at the test server (its base_url is replaced). */
static sp_def *load(const char *text)
{
    return ts_load_def_at(text, srv.port);
}

static uint64_t total_requests(const sp_stats *s, uint64_t *failures)
{
    uint64_t n = 0, f = 0;
    for (size_t i = 0; i < s->nnames; i++) {
        n += s->names[i].requests;
        f += s->names[i].failures;
    }
    if (failures)
        *failures = f;
    return n;
}

static void test_counts_match_server(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"users\":4,\"duration\":\"2s\"}}");
    CHECK(d != NULL);
    atomic_store(&srv.ok, 0);
    seconds sc = {.in_order = 1};
    sp_engine_opts o = {.threads = 2, .seed = 1, .on_second = on_second, .ud = &sc};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    sc.t0_us = sp_now_us();
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_start(e), SP_ESTATE);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    uint64_t failures = 0;
    uint64_t n = total_requests(t, &failures);
    fprintf(stderr, "    %llu requests in %llu ms, %d seconds reported\n", (unsigned long long)n,
            (unsigned long long)sp_engine_elapsed_ms(e), sc.calls);
    CHECK(n > 100);
    CHECK_UINT_EQ(n, atomic_load(&srv.ok));
    CHECK_UINT_EQ(failures, 0);
    CHECK_UINT_EQ(t->names[0].status[200], n);
    CHECK_UINT_EQ(sp_hist_count(t->names[0].hist), n);
    CHECK(t->names[0].bytes_in > n * 40);
    CHECK(t->names[0].bytes_out > n * 10);
    CHECK_UINT_EQ(t->iterations, n);
    /* Two seconds, in order, adding up to the totals: the requests that finished after the
     * profile's end count in its last second, not in a short third one. */
    CHECK_INT_EQ(sc.calls, 2);
    CHECK(sc.in_order);
    /* A second is sent soon after it ends (the live view's budget is 1.5 s). */
    fprintf(stderr, "    seconds sent at most %llu ms after they ended\n",
            (unsigned long long)sc.late_ms_max);
    CHECK(sc.late_ms_max < 300);
    CHECK_UINT_EQ(sc.requests, n);
    CHECK(sc.reqs[0] > 0 && sc.reqs[1] > 0);
    CHECK_UINT_EQ(sc.active[0], 4);
    CHECK_UINT_EQ(sc.target[0], 4);
    CHECK_UINT_EQ(sc.active[1], 4);
    CHECK(!sp_engine_was_stopped(e));
    CHECK(sp_engine_elapsed_ms(e) >= 2000 && sp_engine_elapsed_ms(e) < 3000);
    sp_engine_free(e);
    sp_def_free(d);
}

/* A run's tail (requests in flight at the planned end, or at a stop, finishing gracefully)
 * counts in the run's last second: no extra, nearly empty second is sent after it, which every
 * chart would draw as a cliff to zero and the elapsed time would read as one more second. */
static void run_tail(const char *duration, int stop_at_ms, int want_calls)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"name\":\"t\",\"base_url\":\"http://placeholder\","
             "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/slow\"}}]}],"
             "\"load\":{\"users\":3,\"duration\":\"%s\"},"
             "\"options\":{\"graceful_stop\":\"5s\"}}",
             duration);
    sp_def *d = load(text);
    CHECK(d != NULL);
    atomic_store(&srv.slow_ms, 700);
    seconds sc = {.in_order = 1};
    sp_engine_opts o = {.threads = 2, .seed = 11, .on_second = on_second, .ud = &sc};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    if (stop_at_ms) {
        usleep((useconds_t)stop_at_ms * 1000);
        sp_engine_stop(e, 1);
    }
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    uint64_t n = total_requests(sp_engine_totals(e), NULL);
    fprintf(stderr, "    %llu requests in %llu ms, %d seconds reported\n", (unsigned long long)n,
            (unsigned long long)sp_engine_elapsed_ms(e), sc.calls);
    CHECK_INT_EQ(sc.calls, want_calls);
    CHECK(sc.in_order);
    CHECK_UINT_EQ(sc.requests, n);
    /* The requests in flight at the end finished after it and are in the last second. */
    CHECK(sc.reqs[want_calls - 1] >= 3);
    atomic_store(&srv.slow_ms, 0);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_tail_counts_in_the_last_second(void)
{
    /* A 1 s profile of 700 ms requests: three in flight at 1 s, done at about 1.4 s. */
    run_tail("1s", 0, 1);
    /* A 10 s profile stopped gracefully at 1.8 s: three in flight, done at about 2.1 s, in
     * second 1. */
    run_tail("10s", 1800, 2);
}

static void test_extract_and_vu_headers(void)
{
    sp_def *d =
        load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
             "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":20},"
             "\"on_start\":[{\"request\":{\"method\":\"POST\",\"url\":\"/ok\",\"name\":\"login\","
             "\"json\":{\"user\":\"vu{{vu}}\"}},"
             "\"expect\":{\"status\":200,\"json\":[{\"path\":\"access_token\",\"exists\":true}]},"
             "\"extract\":{\"token\":{\"json\":\"access_token\"}},"
             "\"set_headers\":{\"Authorization\":\"Bearer {{token}}\"}},"
             /* header and regex extracts; the regex result replaces the VU header */
             "{\"request\":{\"url\":\"/ok\",\"name\":\"hdr\"},"
             "\"extract\":{\"ct\":{\"header\":\"content-type\"},"
             "\"tok2\":{\"regex\":\"\\\"access_token\\\":\\\"([a-z0-9]+)\\\"\",\"group\":1}},"
             "\"set_headers\":{\"Authorization\":\"Bearer {{tok2}}\"}}],"
             "\"tasks\":[{\"steps\":["
             "{\"if\":{\"var\":\"ct\",\"equals\":\"application/json\"},"
             "\"request\":{\"url\":\"/auth\",\"name\":\"me\"},"
             "\"expect\":{\"status\":200,\"body_contains\":\"Bearer tok123\"}},"
             "{\"unless\":{\"var\":\"ct\",\"equals\":\"application/json\"},"
             "\"request\":{\"url\":\"/500\",\"name\":\"never\"}}]}]}],"
             "\"load\":{\"users\":3,\"duration\":\"1s\"}}");
    CHECK(d != NULL);
    atomic_store(&srv.auth, 0);
    atomic_store(&srv.body_bytes, 0);
    sp_engine_opts o = {.threads = 1, .seed = 2};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    CHECK_UINT_EQ(d->nnames, 4);
    CHECK_UINT_EQ(t->names[0].requests, 3); /* one login per VU */
    CHECK_UINT_EQ(t->names[0].failures, 0);
    CHECK_UINT_EQ(t->names[1].requests, 3);
    CHECK(atomic_load(&srv.body_bytes) >= 3 * 14);
    CHECK(t->names[2].requests > 20);
    CHECK_UINT_EQ(t->names[2].failures, 0);
    CHECK_UINT_EQ(t->names[2].requests, atomic_load(&srv.auth));
    CHECK_UINT_EQ(t->names[3].requests, 0);
    /* Requests started by a think-time timer go out at once: a local answer takes well under
     * a millisecond, so the median must not carry a timer tick. */
    fprintf(stderr, "    after think time: p50 %llu us\n",
            (unsigned long long)sp_hist_percentile(t->names[2].hist, 50));
    CHECK(sp_hist_percentile(t->names[2].hist, 50) < FAST_LOCAL_US);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_set_target(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":50},"
                     "\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"users\":2,\"duration\":\"3s\"}}");
    CHECK(d != NULL);
    seconds sc = {.in_order = 1};
    sp_engine_opts o = {.threads = 2, .seed = 3, .on_second = on_second, .ud = &sc};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_set_target(e, 5, 0), SP_ESTATE);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    usleep(1200 * 1000);
    CHECK_INT_EQ(sp_engine_set_target(e, -1, 0), SP_EINVAL);
    CHECK_INT_EQ(sp_engine_set_target(e, 7, 0), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    CHECK_UINT_EQ(sc.active[0], 2);
    CHECK_UINT_EQ(sc.target[0], 2);
    CHECK_UINT_EQ(sc.active[2], 7);
    CHECK_UINT_EQ(sc.target[2], 7);
    CHECK(!sp_engine_was_stopped(e));
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_ramp_and_classes(void)
{
    /* 0 -> 8 VUs over 1 s, then hold; two classes 3:1. */
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"a\",\"weight\":3,\"think\":{\"constant_ms\":20},"
                     "\"tasks\":[{\"request\":{\"url\":\"/ok\",\"name\":\"a\"}}]},"
                     "{\"name\":\"b\",\"weight\":1,\"think\":{\"constant_ms\":20},"
                     "\"tasks\":[{\"request\":{\"url\":\"/ok\",\"name\":\"b\"}}]}],"
                     "\"load\":{\"stages\":[{\"duration\":\"1s\",\"users\":8},"
                     "{\"duration\":\"1s\",\"users\":8}]}}");
    CHECK(d != NULL);
    seconds sc = {.in_order = 1};
    sp_engine_opts o = {.threads = 2, .seed = 4, .on_second = on_second, .ud = &sc};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    CHECK_UINT_EQ(sc.active[1], 8);
    /* Six VUs of class a, two of class b: a's requests about three times b's. */
    double ratio = (double)t->names[0].requests / (double)(t->names[1].requests + 1);
    fprintf(stderr, "    a %llu, b %llu\n", (unsigned long long)t->names[0].requests,
            (unsigned long long)t->names[1].requests);
    CHECK(ratio > 2.0 && ratio < 4.5);
    sp_engine_free(e);
    sp_def_free(d);
}

/*
 * A jump to 100 VUs on one worker, then a drop to 10: the worker starts and stops them 16 per
 * pass of its loop (SP_VU_BATCH), and comes back for the rest at once, so both changes are
 * complete within their second. A worker that left the rest to the next change of the target
 * would end the first second short of 100, or hold more than 10 after the drop.
 */
static void test_batched_population(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":200},"
                     "\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"stages\":[{\"duration\":0,\"users\":100},"
                     "{\"duration\":\"1s\",\"users\":100},{\"duration\":0,\"users\":10},"
                     "{\"duration\":\"1500ms\",\"users\":10}]}}");
    CHECK(d != NULL);
    seconds sc = {.in_order = 1};
    sp_engine_opts o = {.threads = 1, .seed = 5, .on_second = on_second, .ud = &sc};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    CHECK_UINT_EQ(sc.active[0], 100);
    CHECK_UINT_EQ(sc.active[1], 10);
    /* Every VU of the first second sent its first request in it. */
    CHECK(sc.reqs[0] >= 100);
    sp_engine_free(e);
    sp_def_free(d);
}

/*
 * Three tasks weighted 1:2:1, each asking its own path, over exactly 1000 iterations (the open
 * model at 1000/s for 1 s). What the server received per path is what the engine counted per
 * task, and the shares follow the weights: 25%, 50%, 25%, within 6 points (over 4 standard
 * deviations at this size); a pick that never lands on the last task gives it none.
 */
static void test_weighted_tasks(void)
{
    sp_def *d =
        load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
             "\"options\":{\"follow_redirects\":false},\"users\":[{\"name\":\"u\",\"tasks\":["
             "{\"weight\":1,\"request\":{\"url\":\"/ok\",\"name\":\"first\"}},"
             "{\"weight\":2,\"request\":{\"url\":\"/ctype\",\"name\":\"middle\"}},"
             "{\"weight\":1,\"request\":{\"url\":\"/redirect\",\"name\":\"last\"}}]}],"
             "\"load\":{\"model\":\"open\",\"max_vus\":50,\"rate\":1000,"
             "\"duration\":\"1s\"}}");
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok), ct0 = atomic_load(&srv.ctype),
                  rd0 = atomic_load(&srv.redirects);
    sp_engine_opts o = {.threads = 2, .seed = 8};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    uint64_t got[3] = {atomic_load(&srv.ok) - ok0, atomic_load(&srv.ctype) - ct0,
                       atomic_load(&srv.redirects) - rd0};
    fprintf(stderr, "    %llu iterations: %llu %llu %llu\n", (unsigned long long)t->iterations,
            (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2]);
    CHECK_UINT_EQ(t->arrivals + t->dropped, 1000);
    CHECK_UINT_EQ(t->iterations, t->arrivals);
    CHECK(t->arrivals >= 900);
    CHECK_UINT_EQ(got[0] + got[1] + got[2], t->iterations);
    static const double share[3] = {0.25, 0.5, 0.25};
    for (size_t i = 0; i < 3; i++) {
        CHECK_UINT_EQ(t->names[i].requests, got[i]);
        CHECK_UINT_EQ(t->names[i].failures, 0);
        CHECK(got[i] > 0);
        CHECK_NEAR((double)got[i] / (double)t->iterations, share[i], 0.06);
    }
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_think_pacing_and_multipart(void)
{
    /* Class a: pacing 200 ms, one multipart upload then a form post per iteration; class b:
     * a constant 100 ms think time. One VU each, for one second. */
    sp_def *d = load(
        "{\"name\":\"t\",\"base_url\":\"http://placeholder\","
        "\"users\":[{\"name\":\"a\",\"think\":{\"pacing\":\"200ms\"},"
        "\"tasks\":[{\"steps\":[{\"request\":{\"method\":\"POST\",\"url\":\"/ok\",\"name\":\"up\","
        "\"multipart\":[{\"name\":\"file\",\"filename\":\"a.csv\",\"content_type\":\"text/csv\","
        "\"content\":\"a,b\\n1,2\\n\"},{\"name\":\"kind\",\"value\":\"vu{{vu}}\"}]}},"
        "{\"request\":{\"method\":\"PUT\",\"url\":\"/ok\",\"name\":\"form\","
        "\"form\":{\"x\":\"{{iteration}}\"}}}]}]},"
        "{\"name\":\"b\",\"think\":{\"constant\":\"100ms\"},"
        "\"tasks\":[{\"request\":{\"url\":\"/ok\",\"name\":\"get\"}}]}],"
        "\"load\":{\"users\":2,\"duration\":\"1s\"}}");
    CHECK(d != NULL);
    atomic_store(&srv.body_bytes, 0);
    sp_engine_opts o = {.threads = 1, .seed = 7};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    fprintf(stderr, "    up %llu, form %llu, get %llu, %lu body bytes\n",
            (unsigned long long)t->names[0].requests, (unsigned long long)t->names[1].requests,
            (unsigned long long)t->names[2].requests, (unsigned long)atomic_load(&srv.body_bytes));
    /* Pacing: iterations start every 200 ms: 5 in one second. */
    CHECK(t->names[0].requests >= 4 && t->names[0].requests <= 6);
    CHECK_UINT_EQ(t->names[1].requests, t->names[0].requests);
    CHECK_UINT_EQ(t->names[0].failures + t->names[1].failures, 0);
    CHECK(atomic_load(&srv.body_bytes) > t->names[0].requests * 100);
    /* A constant 100 ms think time: about 10 requests in one second. */
    CHECK(t->names[2].requests >= 7 && t->names[2].requests <= 11);
    CHECK(t->names[0].bytes_out > t->names[2].bytes_out / t->names[2].requests * 4);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_server_closes_connections(void)
{
    /* Every answer closes its connection: each request opens a new one, often on the socket
     * number just closed, while other VUs keep theirs. */
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"steps\":["
                     "{\"request\":{\"url\":\"/close\",\"name\":\"close\"}},"
                     "{\"request\":{\"url\":\"/ok\",\"name\":\"ok\"}}]}]}],"
                     "\"load\":{\"users\":4,\"duration\":\"700ms\"}}");
    CHECK(d != NULL);
    atomic_store(&srv.closed, 0);
    atomic_store(&srv.ok, 0);
    sp_engine_opts o = {.threads = 2, .seed = 8};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    fprintf(stderr, "    %llu requests on closed connections\n",
            (unsigned long long)t->names[0].requests);
    CHECK(t->names[0].requests > 50);
    CHECK_UINT_EQ(t->names[0].failures + t->names[1].failures, 0);
    CHECK_UINT_EQ(t->names[0].requests, atomic_load(&srv.closed));
    CHECK_UINT_EQ(t->names[1].requests, atomic_load(&srv.ok));
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_header_precedence_and_iteration_vars(void)
{
    /* The VU sets a Content-Type; a JSON body's own type still wins. A variable assigned only
     * by a task is unset when the next iteration starts, so the "leak" step never runs. */
    sp_def *d =
        load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
             "\"headers\":{\"Content-Type\":\"text/csv\"},"
             "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":30},"
             "\"on_start\":[{\"set_headers\":{\"Content-Type\":\"text/plain\",\"X-A\":\"1\"}}],"
             "\"tasks\":[{\"steps\":["
             "{\"if\":{\"var\":\"x\"},\"request\":{\"url\":\"/500\",\"name\":\"leak\"}},"
             "{\"request\":{\"method\":\"POST\",\"url\":\"/ctype\",\"name\":\"json\","
             "\"json\":{\"a\":1}},\"expect\":{\"body_contains\":\"application/json\"}},"
             "{\"request\":{\"method\":\"POST\",\"url\":\"/ctype\",\"name\":\"raw\","
             "\"body\":\"x\"},\"expect\":{\"body_contains\":\"text/plain\"}},"
             "{\"request\":{\"url\":\"/ok\",\"name\":\"extract\"},"
             "\"extract\":{\"x\":{\"json\":\"n\"}}}]}]}],"
             "\"load\":{\"users\":2,\"duration\":\"500ms\"}}");
    CHECK(d != NULL);
    sp_engine_opts o = {.threads = 1, .seed = 9};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    CHECK_UINT_EQ(t->names[0].requests, 0);
    CHECK(t->names[1].requests >= 4);
    CHECK_UINT_EQ(t->names[1].failures, 0);
    CHECK_UINT_EQ(t->names[2].failures, 0);
    CHECK(t->names[3].requests >= 4);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_many_vus_on_one_worker(void)
{
    /* 300 VUs on one worker span three multi handles; then the target drops to 100. */
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://placeholder\","
                     "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":200},"
                     "\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"stages\":[{\"duration\":\"0s\",\"users\":300},"
                     "{\"duration\":\"1s\",\"users\":300},{\"duration\":\"0s\",\"users\":100},"
                     "{\"duration\":\"1s\",\"users\":100}]}}");
    CHECK(d != NULL);
    atomic_store(&srv.ok, 0);
    seconds sc = {.in_order = 1};
    sp_engine_opts o = {.threads = 1, .seed = 10, .on_second = on_second, .ud = &sc};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    fprintf(stderr, "    %llu requests, active %u then %u\n",
            (unsigned long long)t->names[0].requests, sc.active[0], sc.active[1]);
    CHECK_UINT_EQ(sc.active[0], 300);
    CHECK_UINT_EQ(sc.active[1], 100);
    CHECK(t->names[0].requests > 900);
    CHECK_UINT_EQ(t->names[0].failures, 0);
    CHECK_UINT_EQ(t->names[0].requests, atomic_load(&srv.ok));
    sp_engine_free(e);
    sp_def_free(d);
}

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "could not start the test server\n");
        return 1;
    }
    RUN(test_counts_match_server);
    RUN(test_tail_counts_in_the_last_second);
    RUN(test_extract_and_vu_headers);
    RUN(test_set_target);
    RUN(test_ramp_and_classes);
    RUN(test_batched_population);
    RUN(test_weighted_tasks);
    RUN(test_think_pacing_and_multipart);
    RUN(test_server_closes_connections);
    RUN(test_header_precedence_and_iteration_vars);
    RUN(test_many_vus_on_one_worker);
    testserver_stop(&srv);
    return check_summary();
}
