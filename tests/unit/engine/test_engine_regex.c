/*
 * test_engine_regex.c - a regex extract against real responses: a pattern that would backtrack
 * for minutes fails each request as "regex_limit", counted once per response the server sent,
 * with a message naming the request and the variable; the run ends on time; an ordinary regex
 * beside it still extracts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "engine/engine.h"
#include "engine/testserver.h"

static testserver srv;

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void test_regex_limit_fails_the_request(void)
{
    /* /big is 64 KB of 'x'; (x|xx)*[yz] backtracks exponentially on it. */
    sp_def *d = ts_load_def_at(
        "{\"name\":\"t\",\"base_url\":\"http://x\","
        "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":20},\"tasks\":[{\"steps\":["
        "{\"request\":{\"url\":\"/big\",\"name\":\"bomb\"},"
        "\"extract\":{\"tail\":{\"regex\":\"(x|xx)*[yz]\",\"group\":0}}},"
        "{\"request\":{\"url\":\"/ok\",\"name\":\"fine\"},"
        "\"extract\":{\"tok\":{\"regex\":\"\\\"access_token\\\":\\\"([a-z0-9]+)\\\"\"}}},"
        "{\"request\":{\"url\":\"/auth\",\"name\":\"uses\",\"headers\":"
        "{\"Authorization\":\"Bearer {{tok}}\"}},\"expect\":{\"body_contains\":\"tok123\"}}"
        "]}]}],\"load\":{\"users\":2,\"duration\":\"1s\"}}",
        srv.port);
    CHECK(d != NULL);
    unsigned long served0 = atomic_load(&srv.served);
    sp_engine_opts o = {.threads = 1, .seed = 3};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    uint64_t t0 = now_ms();
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    /* A second of load: glibc's regex took 139 s on one such response. */
    CHECK(now_ms() - t0 < 10000);
    const sp_stats *t = sp_engine_totals(e);
    CHECK_UINT_EQ(t->nnames, 3);
    const sp_name_stats *bomb = &t->names[0], *fine = &t->names[1], *uses = &t->names[2];
    unsigned long served = atomic_load(&srv.served) - served0;
    CHECK(bomb->requests > 0);
    /* Every response the server sent is counted once, and every /big one failed by the limit. */
    CHECK_UINT_EQ(bomb->requests + fine->requests + uses->requests, served);
    CHECK_UINT_EQ(bomb->errors[SP_ERRK_REGEX_LIMIT], bomb->requests);
    CHECK_UINT_EQ(bomb->failures, bomb->requests);
    CHECK(bomb->nmsgs == 1);
    CHECK_STR_CONTAINS(bomb->msgs[0].msg, "bomb");
    CHECK_STR_CONTAINS(bomb->msgs[0].msg, "'tail'");
    CHECK_STR_CONTAINS(bomb->msgs[0].msg, "match limit");
    CHECK_STR_EQ(sp_errkind_name(SP_ERRK_REGEX_LIMIT), "regex_limit");
    /* The ordinary regex extracted the token the next request sent. */
    CHECK_UINT_EQ(fine->failures, 0);
    CHECK(uses->requests > 0);
    CHECK_UINT_EQ(uses->failures, 0);
    sp_engine_free(e);
    sp_def_free(d);
}

/* A pattern too costly to compile is refused when the definition loads, with its path. */
static void test_costly_pattern_refused_at_load(void)
{
    sp_errlist errs;
    sp_errlist_init(&errs);
    sp_def *d = NULL;
    const char *text =
        "{\"name\":\"t\",\"base_url\":\"http://127.0.0.1:1\",\"users\":[{\"name\":\"u\","
        "\"tasks\":[{\"steps\":[{\"request\":{\"url\":\"/x\"},"
        "\"extract\":{\"v\":{\"regex\":\"((a{1,100}){1,100}){1,100}\"}}}]}]}],"
        "\"load\":{\"users\":1,\"duration\":\"1s\"}}";
    CHECK(sp_def_load(text, strlen(text), NULL, NULL, &d, &errs) != 0);
    CHECK(d == NULL);
    CHECK_UINT_EQ(errs.n, 1);
    CHECK_STR_EQ(errs.v[0].path, "users[0].tasks[0].steps[0].extract.v.regex");
    CHECK_STR_CONTAINS(errs.v[0].msg, "too costly");
    sp_errlist_release(&errs);
}

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "could not start the test server\n");
        return 1;
    }
    RUN(test_regex_limit_fails_the_request);
    RUN(test_costly_pattern_refused_at_load);
    testserver_stop(&srv);
    return check_summary();
}
