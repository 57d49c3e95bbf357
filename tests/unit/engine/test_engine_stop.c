/*
 * test_engine_stop.c - stopping a run: graceful stops let requests in flight finish (bounded by
 * graceful_stop) and start nothing new; immediate stops abort at once and record nothing for the
 * aborted requests; both make sp_engine_wait return promptly.
 */
#include <stdio.h>

#include "check.h"
#include "engine/common.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "testserver.h"

static testserver srv;

static sp_def *load(const char *text)
{
    return ts_load_def_at(text, srv.port);
}

static sp_engine *start(const sp_def *d, unsigned threads)
{
    sp_engine_opts o = {.threads = threads, .seed = 6};
    sp_engine *e = NULL;
    char err[256];
    if (sp_engine_new(d, &o, &e, err, sizeof err) != 0)
        return NULL;
    if (sp_engine_start(e) != 0) {
        sp_engine_free(e);
        return NULL;
    }
    return e;
}

static uint64_t ms_since(uint64_t t0_us)
{
    return (sp_now_us() - t0_us) / 1000;
}

static void test_graceful_stop_fast_requests(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://x\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"users\":4,\"duration\":\"60s\"}}");
    CHECK(d != NULL);
    atomic_store(&srv.ok, 0);
    sp_engine *e = start(d, 2);
    CHECK(e != NULL);
    usleep(300 * 1000);
    uint64_t t0 = sp_now_us();
    sp_engine_stop(e, 1);
    sp_engine_stop(e, 1); /* idempotent */
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    uint64_t took = ms_since(t0);
    fprintf(stderr, "    graceful stop took %llu ms\n", (unsigned long long)took);
    CHECK(took < 300);
    CHECK(sp_engine_was_stopped(e));
    CHECK_INT_EQ(sp_engine_set_target(e, 3, 0), SP_ESTATE);
    /* Every request the server answered was recorded: none was cut off. */
    CHECK_UINT_EQ(sp_engine_totals(e)->names[0].requests, atomic_load(&srv.ok));
    CHECK(sp_engine_elapsed_ms(e) < 1000);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_graceful_stop_waits_for_slow_requests(void)
{
    atomic_store(&srv.slow_ms, 500);
    sp_def *d =
        load("{\"name\":\"t\",\"base_url\":\"http://x\",\"options\":{\"graceful_stop\":\"5s\"},"
             "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/slow\"}}]}],"
             "\"load\":{\"users\":3,\"duration\":\"60s\"}}");
    CHECK(d != NULL);
    atomic_store(&srv.slow, 0);
    sp_engine *e = start(d, 1);
    CHECK(e != NULL);
    usleep(200 * 1000);
    uint64_t t0 = sp_now_us();
    sp_engine_stop(e, 1);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    uint64_t took = ms_since(t0);
    fprintf(stderr, "    graceful stop with slow requests took %llu ms\n",
            (unsigned long long)took);
    CHECK(took >= 200 && took < 600);
    const sp_name_stats *n = &sp_engine_totals(e)->names[0];
    CHECK_UINT_EQ(n->requests, 3);
    CHECK_UINT_EQ(n->failures, 0);
    CHECK_UINT_EQ(atomic_load(&srv.slow), 3);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_graceful_stop_is_bounded(void)
{
    atomic_store(&srv.slow_ms, 1500);
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://x\","
                     "\"options\":{\"graceful_stop\":\"200ms\"},"
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/slow\"}}]}],"
                     "\"load\":{\"users\":2,\"duration\":\"60s\"}}");
    CHECK(d != NULL);
    sp_engine *e = start(d, 1);
    CHECK(e != NULL);
    usleep(100 * 1000);
    uint64_t t0 = sp_now_us();
    sp_engine_stop(e, 1);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    uint64_t took = ms_since(t0);
    fprintf(stderr, "    bounded graceful stop took %llu ms\n", (unsigned long long)took);
    CHECK(took >= 180 && took < 400);
    /* The requests cut off by the bound are not recorded. */
    CHECK_UINT_EQ(sp_engine_totals(e)->names[0].requests, 0);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_immediate_stop(void)
{
    atomic_store(&srv.slow_ms, 1500);
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://x\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/slow\"}}]}],"
                     "\"load\":{\"users\":4,\"duration\":\"60s\"}}");
    CHECK(d != NULL);
    sp_engine *e = start(d, 2);
    CHECK(e != NULL);
    usleep(150 * 1000);
    sp_engine_stop(e, 1);
    uint64_t t0 = sp_now_us();
    sp_engine_stop(e, 0); /* upgrades the graceful stop */
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    uint64_t took = ms_since(t0);
    fprintf(stderr, "    immediate stop took %llu ms\n", (unsigned long long)took);
    CHECK(took < 100);
    CHECK(sp_engine_was_stopped(e));
    CHECK_UINT_EQ(sp_engine_totals(e)->names[0].requests, 0);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_free_while_running(void)
{
    sp_def *d = load("{\"name\":\"t\",\"base_url\":\"http://x\","
                     "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                     "\"load\":{\"users\":2,\"duration\":\"60s\"}}");
    CHECK(d != NULL);
    sp_engine *e = start(d, 2);
    CHECK(e != NULL);
    usleep(50 * 1000);
    sp_engine_free(e); /* stops and joins */
    sp_engine_opts o = {.threads = 1};
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_wait(e), SP_ESTATE); /* never started */
    sp_engine_free(e);
    sp_def_free(d);
}

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "could not start the test server\n");
        return 1;
    }
    RUN(test_graceful_stop_fast_requests);
    RUN(test_graceful_stop_waits_for_slow_requests);
    RUN(test_graceful_stop_is_bounded);
    RUN(test_immediate_stop);
    RUN(test_free_while_running);
    testserver_stop(&srv);
    return check_summary();
}
