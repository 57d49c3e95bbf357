/*
 * test_engine_allowlist.c - the engine against a real local server with a target allowlist:
 * a target outside it gets no connection at all (counted by the server: not even a TCP connect;
 * error kind "blocked", the address in the message), one inside it runs as without a list, a
 * redirect inside it is followed, and a redirect from an allowed target to an outside one
 * reaches nothing outside; and failure messages that would show a secret's value show the mask.
 */
#include <stdio.h>

#include "check.h"
#include "engine/allowlist.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "testserver.h"

static testserver srv, outside;

static sp_allowlist *allow(const char *entry)
{
    const char *e[1] = {entry};
    sp_errlist el;
    sp_errlist_init(&el);
    sp_allowlist *al = NULL;
    if (sp_allowlist_new(e, 1, &al, &el) != 0)
        al = NULL;
    sp_errlist_release(&el);
    if (al)
        sp_allowlist_resolve(al);
    return al;
}

static sp_engine *run(const sp_def *d, const sp_allowlist *al)
{
    sp_engine_opts o = {.threads = 1, .seed = 5, .allowlist = al};
    sp_engine *e = NULL;
    char err[256];
    if (sp_engine_new(d, &o, &e, err, sizeof err) != 0)
        return NULL;
    if (sp_engine_start(e) != 0 || sp_engine_wait(e) != 0) {
        sp_engine_free(e);
        return NULL;
    }
    return e;
}

static const char *const DEF = "{\"name\":\"t\",\"base_url\":\"http://x\","
                               "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":50},"
                               "\"tasks\":[{\"steps\":[{\"request\":{\"url\":\"/ok\"}},"
                               "{\"request\":{\"url\":\"/redirect\"}}]}]}],"
                               "\"load\":{\"users\":2,\"duration\":\"400ms\"}}";

static void test_outside_is_blocked(void)
{
    sp_def *d = ts_load_def_at(DEF, srv.port);
    sp_allowlist *al = allow("127.0.0.2");
    CHECK(d && al);
    unsigned long before = atomic_load(&srv.served), conns = atomic_load(&srv.connections);
    sp_engine *e = run(d, al);
    CHECK(e != NULL);
    const sp_name_stats *n = &sp_engine_totals(e)->names[0];
    CHECK(n->requests >= 2);
    CHECK_UINT_EQ(n->errors[SP_ERRK_BLOCKED], n->requests);
    CHECK_UINT_EQ(n->failures, n->requests);
    char want[64];
    snprintf(want, sizeof want, "target not in allowlist: 127.0.0.1:%u", srv.port);
    CHECK(n->nmsgs >= 1);
    CHECK_STR_EQ(n->msgs[0].msg, want);
    CHECK_UINT_EQ(atomic_load(&srv.served), before);
    CHECK_UINT_EQ(atomic_load(&srv.connections), conns);
    sp_engine_free(e);
    sp_allowlist_free(al);
    sp_def_free(d);
}

/*
 * Blocked requests are counted once each: five arrivals (the open model, all finished long
 * before the end), each first asking the outside server (blocked: it sees nothing) and then
 * the allowed one (received). The blocked count is what the allowed server received.
 */
static void test_blocked_counted_once_each(void)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\":\"t\",\"base_url\":\"http://x\","
             "\"users\":[{\"name\":\"u\",\"tasks\":[{\"steps\":["
             "{\"request\":{\"url\":\"http://127.0.0.1:%u/ok\",\"name\":\"outside\"}},"
             "{\"request\":{\"url\":\"/ok\",\"name\":\"inside\"}}]}]}],"
             "\"load\":{\"model\":\"open\",\"max_vus\":5,\"stages\":["
             "{\"duration\":\"0s\",\"rate\":10},{\"duration\":\"450ms\",\"rate\":10},"
             "{\"duration\":\"0s\",\"rate\":0},{\"duration\":\"1s\",\"rate\":0}]}}",
             (unsigned)outside.port);
    sp_def *d = ts_load_def_at(text, srv.port);
    char entry[32];
    snprintf(entry, sizeof entry, "127.0.0.1:%u", srv.port);
    sp_allowlist *al = allow(entry);
    CHECK(d && al);
    unsigned long ok0 = atomic_load(&srv.ok), conns0 = atomic_load(&outside.connections);
    sp_engine *e = run(d, al);
    CHECK(e != NULL);
    const sp_stats *t = sp_engine_totals(e);
    const sp_name_stats *n = &t->names[0];
    uint64_t received = atomic_load(&srv.ok) - ok0;
    CHECK_UINT_EQ(t->arrivals, 5);
    CHECK_UINT_EQ(received, 5);
    CHECK_UINT_EQ(t->names[1].requests, received);
    CHECK_UINT_EQ(t->names[1].failures, 0);
    CHECK_UINT_EQ(n->requests, received);
    CHECK_UINT_EQ(n->failures, received);
    CHECK_UINT_EQ(n->errors[SP_ERRK_BLOCKED], received);
    CHECK_UINT_EQ(n->nmsgs, 1);
    CHECK_UINT_EQ(n->msgs[0].count, received);
    CHECK_UINT_EQ(atomic_load(&outside.connections), conns0);
    sp_engine_free(e);
    sp_allowlist_free(al);
    sp_def_free(d);
}

static void test_inside_runs(void)
{
    sp_def *d = ts_load_def_at(DEF, srv.port);
    char entry[32];
    snprintf(entry, sizeof entry, "127.0.0.1:%u", srv.port);
    sp_allowlist *al = allow(entry);
    CHECK(d && al);
    sp_engine *e = run(d, al);
    CHECK(e != NULL);
    const sp_stats *t = sp_engine_totals(e);
    for (size_t i = 0; i < t->nnames; i++) {
        CHECK(t->names[i].requests >= 2);
        CHECK_UINT_EQ(t->names[i].failures, 0);
    }
    sp_engine_free(e);
    sp_allowlist_free(al);
    sp_def_free(d);
    /* The same port on another address, or another port, is outside. */
    snprintf(entry, sizeof entry, "127.0.0.1:%u", srv.port == 65535 ? 1 : srv.port + 1);
    al = allow(entry);
    d = ts_load_def_at(DEF, srv.port);
    e = run(d, al);
    CHECK(e != NULL);
    CHECK_UINT_EQ(sp_engine_totals(e)->names[0].errors[SP_ERRK_BLOCKED],
                  sp_engine_totals(e)->names[0].requests);
    sp_engine_free(e);
    sp_allowlist_free(al);
    sp_def_free(d);
}

#define PAD50 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define PAD252 PAD50 PAD50 PAD50 PAD50 PAD50 "xx"
/*
 * The allowed server answers /away with a redirect to another server, outside the list. The
 * first hop is received (and counted) by the allowed server; the second is refused before any
 * connection: the outside server sees no connection and no request, and each request fails as
 * blocked with the outside address, once per first hop the allowed server answered.
 */
static void test_redirect_out_is_blocked(void)
{
    snprintf(srv.away, sizeof srv.away, "http://127.0.0.1:%u/ok", (unsigned)outside.port);
    sp_def *d = ts_load_def_at("{\"name\":\"t\",\"base_url\":\"http://x\","
                               "\"options\":{\"follow_redirects\":true},"
                               "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":50},"
                               "\"tasks\":[{\"request\":{\"url\":\"/away\"}}]}],"
                               "\"load\":{\"users\":2,\"duration\":\"400ms\"}}",
                               srv.port);
    char entry[32];
    snprintf(entry, sizeof entry, "127.0.0.1:%u", srv.port);
    sp_allowlist *al = allow(entry);
    CHECK(d && al);
    unsigned long hops0 = atomic_load(&srv.redirects);
    unsigned long conns0 = atomic_load(&outside.connections),
                  served0 = atomic_load(&outside.served);
    sp_engine *e = run(d, al);
    CHECK(e != NULL);
    const sp_name_stats *n = &sp_engine_totals(e)->names[0];
    uint64_t hops = atomic_load(&srv.redirects) - hops0;
    CHECK(hops >= 2);
    CHECK_UINT_EQ(atomic_load(&outside.connections), conns0);
    CHECK_UINT_EQ(atomic_load(&outside.served), served0);
    CHECK_UINT_EQ(n->requests, hops);
    CHECK_UINT_EQ(n->errors[SP_ERRK_BLOCKED], hops);
    CHECK_UINT_EQ(n->failures, hops);
    char want[64];
    snprintf(want, sizeof want, "target not in allowlist: 127.0.0.1:%u", outside.port);
    CHECK(n->nmsgs >= 1);
    CHECK_STR_EQ(n->msgs[0].msg, want);
    sp_engine_free(e);
    /* Without the list the same redirect reaches the outside server: the test can fail. */
    unsigned long ok0 = atomic_load(&outside.ok);
    e = run(d, NULL);
    CHECK(e != NULL);
    n = &sp_engine_totals(e)->names[0];
    CHECK(n->requests >= 2);
    CHECK_UINT_EQ(n->failures, 0);
    CHECK_UINT_EQ(atomic_load(&outside.ok) - ok0, n->requests);
    sp_engine_free(e);
    sp_allowlist_free(al);
    sp_def_free(d);
}

static void test_secret_masked_in_messages(void)
{
    sp_def *d = ts_load_def_at(
        "{\"name\":\"t\",\"base_url\":\"http://x\",\"secrets\":{\"k\":\"tok123\"},"
        "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":50},\"tasks\":[{\"steps\":["
        "{\"request\":{\"url\":\"/ok\",\"name\":\"echoed\",\"headers\":{\"X-K\":\"{{secret.k}}\"}},"
        "\"expect\":{\"json\":[{\"path\":\"access_token\",\"equals\":\"other\"}]}},"
        "{\"request\":{\"url\":\"/500\",\"name\":\"msg\"},"
        "\"expect\":{\"message\":\"key {{secret.k}} got {{status}}\"}},"
        /* A message the worker cuts at SP_FAIL_MSG_MAX (256) 4 bytes into the value. */
        "{\"request\":{\"url\":\"/500\",\"name\":\"long\"},"
        "\"expect\":{\"message\":\"{{'" PAD252 "'}}{{urlencode(secret.k)}}\"}}]}]}],"
        "\"load\":{\"users\":1,\"duration\":\"300ms\"}}",
        srv.port);
    CHECK(d != NULL);
    sp_engine *e = run(d, NULL);
    CHECK(e != NULL);
    const sp_stats *t = sp_engine_totals(e);
    CHECK(t->names[0].nmsgs >= 1 && t->names[1].nmsgs >= 1);
    /* /ok answers "access_token":"tok123", the secret's value: the check quotes it. */
    CHECK_STR_EQ(t->names[0].msgs[0].msg,
                 "expected JSON path 'access_token' to equal \"other\", got \"********\"");
    CHECK_STR_EQ(t->names[1].msgs[0].msg, "key ******** got 500");
    CHECK(t->names[2].nmsgs >= 1);
    CHECK_UINT_EQ(strlen(t->names[2].msgs[0].msg), SP_FAIL_MSG_MAX);
    CHECK(strncmp(t->names[2].msgs[0].msg, PAD252 "****", SP_FAIL_MSG_MAX) == 0);
    sp_engine_free(e);
    sp_def_free(d);
}

int main(void)
{
    if (testserver_start(&srv) != 0 || testserver_start(&outside) != 0) {
        fprintf(stderr, "could not start the test servers\n");
        return 1;
    }
    RUN(test_outside_is_blocked);
    RUN(test_inside_runs);
    RUN(test_blocked_counted_once_each);
    RUN(test_redirect_out_is_blocked);
    RUN(test_secret_masked_in_messages);
    testserver_stop(&srv);
    testserver_stop(&outside);
    return check_summary();
}
