/*
 * test_live.c - sp_live lifecycle, options and the publisher side. The WebSocket side is
 * tested end to end by tests/integration/live.test.mjs.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "live/live.h"

static sp_live *start(int port, char *err, size_t errlen, int *rc)
{
    sp_live_opts o;
    sp_live *live = NULL;
    sp_live_opts_init(&o);
    o.port = port;
    *rc = sp_live_new(&o, &live, err, errlen);
    return live;
}

static void test_defaults(void)
{
    sp_live_opts o;
    sp_live_opts_init(&o);
    CHECK_INT_EQ(o.port, SP_LIVE_DEFAULT_PORT);
    CHECK(o.listen_addr == NULL);
    CHECK_UINT_EQ(o.queue_max_bytes, SP_LIVE_QUEUE_MAX_BYTES);
    CHECK_UINT_EQ(o.max_subscribers, SP_LIVE_MAX_SUBSCRIBERS);
    CHECK(o.auth == NULL);
    sp_live_free(NULL);
}

static void test_bad_options(void)
{
    sp_live_opts o;
    sp_live *live = (sp_live *)&o;
    char err[256] = "";
    sp_live_opts_init(&o);
    o.port = 70000;
    CHECK_INT_EQ(sp_live_new(&o, &live, err, sizeof err), SP_EINVAL);
    CHECK(live == NULL);
    CHECK_STR_CONTAINS(err, "invalid options");

    sp_live_opts_init(&o);
    o.port = 0;
    o.listen_addr = "localhost";
    CHECK_INT_EQ(sp_live_new(&o, &live, err, sizeof err), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "not a numeric IP address");

    sp_live_opts_init(&o);
    o.port = 0;
    o.n_origins = 2; /* and no array */
    CHECK_INT_EQ(sp_live_new(&o, &live, err, sizeof err), SP_EINVAL);
}

static void test_port_zero_and_port_taken(void)
{
    char err[256] = "";
    int rc;
    sp_live *a = start(0, err, sizeof err, &rc);
    CHECK_INT_EQ(rc, SP_OK);
    CHECK(a != NULL);
    int port = sp_live_port(a);
    CHECK(port > 0 && port < 65536);

    sp_live *b = start(port, err, sizeof err, &rc);
    CHECK_INT_EQ(rc, SP_ESYS);
    CHECK(b == NULL);
    CHECK_STR_CONTAINS(err, "cannot listen");
    sp_live_free(a);
}

/* An IPv6 address binds an IPv6 socket (skipped where the machine has no IPv6 loopback). */
static void test_ipv6_loopback(void)
{
    sp_live_opts o;
    sp_live *live = NULL;
    char err[256] = "";
    sp_live_opts_init(&o);
    o.port = 0;
    o.listen_addr = "::1";
    int rc = sp_live_new(&o, &live, err, sizeof err);
    if (rc == SP_ESYS) {
        fprintf(stderr, "  (no IPv6 loopback here: %s)\n", err);
        return;
    }
    CHECK_INT_EQ(rc, SP_OK);
    CHECK(sp_live_port(live) > 0);
    sp_live_free(live);
}

static void test_publish_errors(void)
{
    char err[256] = "";
    int rc;
    sp_live *live = start(0, err, sizeof err, &rc);
    CHECK_INT_EQ(rc, SP_OK);
    CHECK_INT_EQ(sp_live_publish(live, 0, "{}", 2), SP_EINVAL);
    CHECK_INT_EQ(sp_live_publish(live, -3, "{}", 2), SP_EINVAL);
    CHECK_INT_EQ(sp_live_publish(live, 1, "{}", 0), SP_EINVAL);
    CHECK_INT_EQ(sp_live_publish(live, 1, NULL, 2), SP_EINVAL);
    char *big = sp_malloc(SP_LIVE_MSG_MAX_BYTES + 1);
    memset(big, '1', SP_LIVE_MSG_MAX_BYTES + 1);
    CHECK_INT_EQ(sp_live_publish(live, 1, big, SP_LIVE_MSG_MAX_BYTES + 1), SP_EINVAL);
    CHECK_INT_EQ(sp_live_publish(live, 1, big, SP_LIVE_MSG_MAX_BYTES), SP_OK);
    free(big);
    CHECK_INT_EQ(sp_live_publish(live, 1, "{\"t\":1}", 7), SP_OK);
    CHECK_INT_EQ(sp_live_publish_end(live, 1, "\"passed\"", 8), SP_OK);
    sp_live_stats st;
    sp_live_stats_get(live, &st);
    CHECK_UINT_EQ(st.published, 3);
    CHECK_UINT_EQ(st.subscribers, 0);
    sp_live_free(live);
}

struct pub_arg {
    sp_live *live;
    int64_t run_id;
    int n, failed;
};

static void *publisher(void *p)
{
    struct pub_arg *a = p;
    char buf[64];
    for (int i = 0; i < a->n; i++) {
        int len = snprintf(buf, sizeof buf, "{\"seq\":%d}", i);
        if (sp_live_publish(a->live, a->run_id, buf, (size_t)len) != SP_OK)
            a->failed++;
    }
    return NULL;
}

/* Many threads publishing at once while the service thread drains: for ThreadSanitizer. */
static void test_concurrent_publishers(void)
{
    char err[256] = "";
    int rc;
    sp_live *live = start(0, err, sizeof err, &rc);
    CHECK_INT_EQ(rc, SP_OK);
    pthread_t th[4];
    struct pub_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct pub_arg){live, i + 1, 2000, 0};
        pthread_create(&th[i], NULL, publisher, &args[i]);
    }
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        failed += args[i].failed;
    }
    sp_live_stats st;
    sp_live_stats_get(live, &st);
    /* The inbox cap may refuse some when the service thread is starved; none may be lost. */
    CHECK_UINT_EQ(st.published + (uint64_t)failed, 8000);
    sp_live_free(live);
}

static char *no_backlog(void *ud, int64_t run_id, size_t *len)
{
    (void)ud;
    (void)run_id;
    *len = 0;
    return NULL;
}

/* Messages still in the inbox when sp_live_free runs are freed (ASan checks the leak). */
static void test_free_with_pending_messages(void)
{
    char err[256] = "";
    int rc;
    sp_live *live = start(0, err, sizeof err, &rc);
    CHECK_INT_EQ(rc, SP_OK);
    sp_live_set_backlog_fn(live, no_backlog, NULL);
    for (int i = 0; i < 100; i++)
        CHECK_INT_EQ(sp_live_publish(live, 7, "[1,2,3]", 7), SP_OK);
    sp_live_free(live);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_bad_options);
    RUN(test_port_zero_and_port_taken);
    RUN(test_ipv6_loopback);
    RUN(test_publish_errors);
    RUN(test_concurrent_publishers);
    RUN(test_free_with_pending_messages);
    return check_summary();
}
