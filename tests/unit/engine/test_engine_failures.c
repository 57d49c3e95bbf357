/*
 * test_engine_failures.c - failure kinds and messages against a real local server: connection
 * refused (a closed port), timeout (a server slower than the request's timeout), a status the
 * expectation did not allow, a JSON path, an HTTP error status, a response over the cap, and
 * requests that could not be sent at all (a URL, body, multipart field or header set rendered
 * over its cap).
 *
 * Counts are checked against what the server received, never only against the engine's own
 * figures (failures == requests holds just as well when both are wrong). Runs that count use the
 * open model with five arrivals, 100 ms apart, and an idle second after them: every iteration
 * runs whole, so each step's count is exactly five, and a request the server never saw sits
 * beside one it did in the same iteration.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

#include "check.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "testserver.h"

static testserver srv;

static sp_def *load_at(const char *text, unsigned port)
{
    return ts_load_def_at(text, port);
}

/* Runs d to its end on one thread and returns the engine (the caller frees it). */
static sp_engine *run(const sp_def *d)
{
    sp_engine_opts o = {.threads = 1, .seed = 5};
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

/* The load of the counting runs: arrivals at 0, 100, ... 400 ms, then none until 1.45 s. */
#define FIVE_ARRIVALS                                                                              \
    "\"load\":{\"model\":\"open\",\"max_vus\":5,\"stages\":[{\"duration\":\"0s\",\"rate\":10},"    \
    "{\"duration\":\"450ms\",\"rate\":10},{\"duration\":\"0s\",\"rate\":0},"                       \
    "{\"duration\":\"1s\",\"rate\":0}]}"

static const sp_failmsg *msg_of(const sp_name_stats *n)
{
    return n->nmsgs ? &n->msgs[0] : NULL;
}

/* A port with nothing listening: bound, then closed. */
static unsigned closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    getsockname(s, (struct sockaddr *)&sa, &len);
    close(s);
    return ntohs(sa.sin_port);
}

/* Each iteration: the closed port first (refused), then /ok on the server (received). */
static void test_connection_refused(void)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\":\"t\",\"base_url\":\"http://x\","
             "\"users\":[{\"name\":\"u\",\"tasks\":[{\"steps\":["
             "{\"request\":{\"url\":\"http://127.0.0.1:%u/ok\",\"name\":\"refused\"}},"
             "{\"request\":{\"url\":\"/ok\",\"name\":\"sent\"}}]}]}]," FIVE_ARRIVALS "}",
             closed_port());
    sp_def *d = load_at(text, srv.port);
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok), served0 = atomic_load(&srv.served);
    sp_engine *e = run(d);
    CHECK(e != NULL);
    const sp_stats *t = sp_engine_totals(e);
    const sp_name_stats *n = &t->names[0];
    uint64_t received = atomic_load(&srv.ok) - ok0;
    CHECK_UINT_EQ(t->arrivals, 5);
    CHECK_UINT_EQ(received, 5);
    CHECK_UINT_EQ(atomic_load(&srv.served) - served0, received);
    CHECK_UINT_EQ(t->names[1].requests, received);
    CHECK_UINT_EQ(n->requests, received);
    CHECK_UINT_EQ(n->failures, received);
    CHECK_UINT_EQ(n->errors[SP_ERRK_CONNREFUSED], received);
    CHECK_UINT_EQ(n->status[0], received);
    CHECK_UINT_EQ(n->nmsgs, 1);
    CHECK_STR_EQ(msg_of(n)->msg, "connection refused");
    CHECK_UINT_EQ(msg_of(n)->count, received);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_timeout(void)
{
    atomic_store(&srv.slow_ms, 600);
    sp_def *d = load_at("{\"name\":\"t\",\"base_url\":\"http://x\","
                        "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/slow\","
                        "\"timeout\":\"150ms\"}}]}]," FIVE_ARRIVALS "}",
                        srv.port);
    CHECK(d != NULL);
    unsigned long slow0 = atomic_load(&srv.slow);
    sp_engine *e = run(d);
    CHECK(e != NULL);
    const sp_name_stats *n = &sp_engine_totals(e)->names[0];
    /* The server counts /slow before it sleeps: every request reached it, and timed out. */
    uint64_t received = atomic_load(&srv.slow) - slow0;
    CHECK_UINT_EQ(received, 5);
    CHECK_UINT_EQ(n->requests, received);
    CHECK_UINT_EQ(n->failures, received);
    CHECK_UINT_EQ(n->errors[SP_ERRK_TIMEOUT], received);
    CHECK_STR_EQ(msg_of(n)->msg, "timeout after 150 ms");
    CHECK_UINT_EQ(msg_of(n)->count, received);
    /* Latency of a timed-out request is about its timeout. */
    CHECK(sp_hist_min(n->hist) >= 150000 && sp_hist_max(n->hist) < 400000);
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_expectations(void)
{
    sp_def *d = load_at(
        "{\"name\":\"t\",\"base_url\":\"http://x\","
        "\"options\":{\"max_response_bytes\":1000},"
        "\"users\":[{\"name\":\"u\",\"tasks\":[{\"steps\":["
        "{\"request\":{\"url\":\"/ok\",\"name\":\"status\"},\"expect\":{\"status\":[201,204]}},"
        "{\"request\":{\"url\":\"/ok\",\"name\":\"path\"},"
        "\"expect\":{\"json\":[{\"path\":\"data.id\",\"exists\":true}]}},"
        "{\"request\":{\"url\":\"/ok\",\"name\":\"equals\"},"
        "\"expect\":{\"json\":[{\"path\":\"n\",\"equals\":8}]}},"
        "{\"request\":{\"url\":\"/ok\",\"name\":\"message\"},"
        "\"expect\":{\"status\":201,\"message\":\"bad status {{status}}\"}},"
        "{\"request\":{\"url\":\"/500\",\"name\":\"http\"}},"
        "{\"request\":{\"url\":\"/big\",\"name\":\"big\"}},"
        "{\"request\":{\"url\":\"/ok\",\"name\":\"body\"},"
        "\"expect\":{\"body_contains\":\"nothing like this\"}},"
        "{\"request\":{\"url\":\"/ok\",\"name\":\"fine\"},"
        "\"expect\":{\"status\":200,\"json\":[{\"path\":\"n\",\"equals\":7},"
        "{\"path\":\"nope\",\"exists\":false}],\"body_contains\":\"tok123\"}}"
        "]}]}]," FIVE_ARRIVALS "}",
        srv.port);
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok), e5000 = atomic_load(&srv.e500),
                  big0 = atomic_load(&srv.big);
    sp_engine *e = run(d);
    CHECK(e != NULL);
    const sp_stats *t = sp_engine_totals(e);
    CHECK_UINT_EQ(t->nnames, 8);
    /* Six names ask /ok, once per iteration each; /500 and /big once each. */
    uint64_t ok = atomic_load(&srv.ok) - ok0, e500 = atomic_load(&srv.e500) - e5000,
             big = atomic_load(&srv.big) - big0;
    CHECK_UINT_EQ(t->arrivals, 5);
    CHECK_UINT_EQ(ok, 6 * 5);
    CHECK_UINT_EQ(e500, 5);
    CHECK_UINT_EQ(big, 5);
    static const size_t at_ok[] = {0, 1, 2, 3, 6, 7};
    for (size_t i = 0; i < SP_ARRAY_LEN(at_ok); i++)
        CHECK_UINT_EQ(t->names[at_ok[i]].requests, ok / 6);
    /* Each failed check counts once, with its message, for each request the server answered. */
    static const size_t failing[] = {0, 1, 2, 3, 6};
    for (size_t i = 0; i < SP_ARRAY_LEN(failing); i++) {
        const sp_name_stats *n = &t->names[failing[i]];
        CHECK_UINT_EQ(n->failures, ok / 6);
        CHECK_UINT_EQ(n->errors[SP_ERRK_ASSERTION], ok / 6);
        CHECK_UINT_EQ(n->nmsgs, 1);
        CHECK_UINT_EQ(msg_of(n)->count, ok / 6);
    }
    CHECK_STR_EQ(msg_of(&t->names[0])->msg, "expected status 201 or 204, got 200");
    CHECK_STR_EQ(msg_of(&t->names[1])->msg, "expected JSON path 'data.id' to exist");
    CHECK_STR_EQ(msg_of(&t->names[2])->msg, "expected JSON path 'n' to equal 8, got 7");
    CHECK_STR_EQ(msg_of(&t->names[3])->msg, "bad status 200");
    CHECK_UINT_EQ(t->names[4].requests, e500);
    CHECK_UINT_EQ(t->names[4].failures, e500);
    CHECK_UINT_EQ(t->names[4].errors[SP_ERRK_HTTP_STATUS], e500);
    CHECK_UINT_EQ(t->names[4].status[500], e500);
    CHECK_STR_EQ(msg_of(&t->names[4])->msg, "HTTP 500");
    CHECK_UINT_EQ(t->names[5].requests, big);
    CHECK_UINT_EQ(t->names[5].failures, big);
    CHECK_UINT_EQ(t->names[5].errors[SP_ERRK_TOO_LARGE], big);
    CHECK_STR_EQ(msg_of(&t->names[5])->msg, "response larger than 1000 bytes");
    CHECK_STR_EQ(msg_of(&t->names[6])->msg, "expected the body to contain 'nothing like this'");
    CHECK_UINT_EQ(t->names[7].failures, 0);
    CHECK_UINT_EQ(t->names[7].status[200], ok / 6);
    sp_engine_free(e);
    sp_def_free(d);
}

/*
 * Requests that cannot be sent: a URL over its 64 KB, a body and a multipart field over the
 * 8 MB render cap, request headers over their 256 KB. Each is counted once as a failure (kind
 * other, latency 0) with its message, and never reaches the server; the request after them in
 * the same iteration does, so the server's count says how many iterations ran.
 */
static void test_requests_over_a_cap(void)
{
    enum { ITEM = 17000 };
    sp_buf b;
    sp_buf_init(&b, 1u << 20);
    /* sp_buf_add* fail only past the buffer's cap; the errors are or-ed and checked once. */
    int rc = sp_buf_adds(&b, "{\"name\":\"t\",\"base_url\":\"http://x\",\"data\":{\"big\":[\"");
    for (int i = 0; i < ITEM; i++)
        rc |= sp_buf_addc(&b, 'x');
    const char *hole = "{{random(big)}}";
    rc |= sp_buf_adds(&b, "\"]},\"users\":[{\"name\":\"u\",\"tasks\":[{\"steps\":["
                          "{\"request\":{\"url\":\"/ok?q=");
    for (int i = 0; i < 4; i++) /* 68000 bytes > 64 KB */
        rc |= sp_buf_adds(&b, hole);
    rc |= sp_buf_adds(&b, "\",\"name\":\"url\"}},{\"request\":{\"method\":\"POST\","
                          "\"url\":\"/ok\",\"name\":\"body\",\"body\":\"");
    for (int i = 0; i < 500; i++) /* 8.5 MB > 8 MB */
        rc |= sp_buf_adds(&b, hole);
    rc |= sp_buf_adds(&b, "\"}},{\"request\":{\"method\":\"POST\",\"url\":\"/ok\","
                          "\"name\":\"multipart\",\"multipart\":[{\"name\":\"f\",\"value\":\"");
    for (int i = 0; i < 500; i++)
        rc |= sp_buf_adds(&b, hole);
    rc |= sp_buf_adds(&b, "\"}]}},{\"request\":{\"url\":\"/ok\",\"name\":\"headers\","
                          "\"headers\":{\"X-Big\":\"");
    for (int i = 0; i < 16; i++) /* 272000 bytes > 256 KB */
        rc |= sp_buf_adds(&b, hole);
    rc |= sp_buf_adds(&b, "\"}}},{\"request\":{\"url\":\"/ok\",\"name\":\"sent\"}}]}]}],");
    rc |= sp_buf_adds(&b, FIVE_ARRIVALS "}");
    CHECK_INT_EQ(rc, 0);
    sp_def *d = load_at(b.p, srv.port);
    sp_buf_release(&b);
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok), served0 = atomic_load(&srv.served),
                  bytes0 = atomic_load(&srv.body_bytes);
    sp_engine *e = run(d);
    CHECK(e != NULL);
    const sp_stats *t = sp_engine_totals(e);
    uint64_t received = atomic_load(&srv.ok) - ok0;
    CHECK_UINT_EQ(t->arrivals, 5);
    CHECK_UINT_EQ(received, 5);
    /* Only "sent" reached the server, with no body. */
    CHECK_UINT_EQ(atomic_load(&srv.served) - served0, received);
    CHECK_UINT_EQ(atomic_load(&srv.body_bytes) - bytes0, 0);
    CHECK_UINT_EQ(t->names[4].requests, received);
    CHECK_UINT_EQ(t->names[4].failures, 0);
    static const char *const why[] = {"URL longer than its cap", "request body larger than its cap",
                                      "multipart field larger than its cap",
                                      "request headers larger than their cap"};
    for (size_t i = 0; i < 4; i++) {
        const sp_name_stats *n = &t->names[i];
        CHECK_UINT_EQ(n->requests, received);
        CHECK_UINT_EQ(n->failures, received);
        CHECK_UINT_EQ(n->errors[SP_ERRK_OTHER], received);
        CHECK_UINT_EQ(n->status[0], received);
        CHECK_UINT_EQ(sp_hist_count(n->hist), received);
        CHECK_UINT_EQ(n->nmsgs, 1);
        CHECK_STR_EQ(msg_of(n)->msg, why[i]);
        CHECK_UINT_EQ(msg_of(n)->count, received);
    }
    sp_engine_free(e);
    sp_def_free(d);
}

static void test_latency_and_redirects(void)
{
    atomic_store(&srv.slow_ms, 120);
    sp_def *d = load_at(
        "{\"name\":\"t\",\"base_url\":\"http://x\",\"options\":{\"follow_redirects\":true},"
        "\"users\":[{\"name\":\"u\",\"tasks\":[{\"steps\":["
        "{\"request\":{\"url\":\"/slow\",\"name\":\"slow\"},\"expect\":{\"max_latency\":\"50ms\"}},"
        "{\"request\":{\"url\":\"/redirect\",\"name\":\"followed\"},"
        "\"expect\":{\"status\":200,\"json\":[{\"path\":\"ok\",\"equals\":true}]},"
        "\"extract\":{\"hop\":{\"header\":\"X-Hop\"}}},"
        "{\"if\":{\"var\":\"hop\"},\"request\":{\"url\":\"/500\",\"name\":\"hop_seen\"}}"
        "]}]}],\"load\":{\"users\":1,\"duration\":\"300ms\"}}",
        srv.port);
    sp_def *d2 = load_at("{\"name\":\"t\",\"base_url\":\"http://x\","
                         "\"options\":{\"follow_redirects\":false},"
                         "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":50},"
                         "\"tasks\":[{\"request\":{\"url\":\"/redirect\"}}]}],"
                         "\"load\":{\"users\":1,\"duration\":\"200ms\"}}",
                         srv.port);
    CHECK(d != NULL && d2 != NULL);
    /* Each path's count at the server, per run (a VU stopped between steps sends no more). */
    unsigned long slow0 = atomic_load(&srv.slow), hops0 = atomic_load(&srv.redirects),
                  ok0 = atomic_load(&srv.ok);
    sp_engine *e = run(d);
    unsigned long slow1 = atomic_load(&srv.slow), hops1 = atomic_load(&srv.redirects),
                  ok1 = atomic_load(&srv.ok);
    sp_engine *e2 = run(d2);
    CHECK(e != NULL && e2 != NULL);
    const sp_stats *t = sp_engine_totals(e);
    CHECK(t->names[0].requests >= 1);
    CHECK_UINT_EQ(t->names[0].requests, slow1 - slow0);
    CHECK_UINT_EQ(t->names[0].errors[SP_ERRK_ASSERTION], slow1 - slow0);
    CHECK_UINT_EQ(t->names[1].requests, hops1 - hops0);
    CHECK_UINT_EQ(ok1 - ok0, hops1 - hops0); /* each followed to /ok */
    CHECK_UINT_EQ(atomic_load(&srv.redirects) - hops1, sp_engine_totals(e2)->names[0].requests);
    CHECK_STR_CONTAINS(msg_of(&t->names[0])->msg, "expected latency under 50 ms, got 1");
    /* Followed to /ok: the final status and body are checked; the header of the first hop is
     * gone (only the last response's headers are kept), so the conditional step is skipped. */
    CHECK(t->names[1].requests >= 1);
    CHECK_UINT_EQ(t->names[1].failures, 0);
    CHECK_UINT_EQ(t->names[1].status[200], t->names[1].requests);
    CHECK_UINT_EQ(t->names[2].requests, 0);
    /* Not followed: the 302 itself is the answer, and below 400 it passes. */
    const sp_name_stats *n2 = &sp_engine_totals(e2)->names[0];
    CHECK(n2->requests >= 2);
    CHECK_UINT_EQ(n2->status[302], n2->requests);
    CHECK_UINT_EQ(n2->failures, 0);
    sp_engine_free(e);
    sp_engine_free(e2);
    sp_def_free(d);
    sp_def_free(d2);
}

/* A self-signed certificate for 127.0.0.1, for the TLS test only. */
static const char tls_key[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7OMKz5m2UDlsSbwP\n"
                              "8OKhideDyCkssTC2DmDMJU563DuhRANCAATwPkXvYZKmNTNdv/vH6fp449suaW1M\n"
                              "RmBLwTCCS60+NxC/yuvhjrFo871eHNtN2goDpiPOiRfC+vIA3oYt28e9\n"
                              "-----END PRIVATE KEY-----\n";
static const char tls_cert[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBkDCCATagAwIBAgIUXaOnUhcP9Q7z1Q1D7uYEkqG0bMEwCgYIKoZIzj0EAwIw\n"
                               "FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyODAyNDI0OVoYDzIxMjYxMTA0\n"
                               "MDI0MjQ5WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO\n"
                               "PQMBBwNCAATwPkXvYZKmNTNdv/vH6fp449suaW1MRmBLwTCCS60+NxC/yuvhjrFo\n"
                               "871eHNtN2goDpiPOiRfC+vIA3oYt28e9o2QwYjAdBgNVHQ4EFgQUTzCQQhDU/3ta\n"
                               "650y8mSTdhCJUpUwHwYDVR0jBBgwFoAUTzCQQhDU/3ta650y8mSTdhCJUpUwDwYD\n"
                               "VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC\n"
                               "IEJ4iHHUf4eVMnbBCHVFHrTj3gT3yxNn8tsNQScYfQ17AiEA/QzDB/t6XKeQBYWL\n"
                               "JKR8Z3c3jT0jDLTIWjkeXssj5Ps=\n"
                               "-----END CERTIFICATE-----\n";

static sp_def *load_url(const char *text, const char *base)
{
    return ts_load_def(text, base);
}

static void test_tls(void)
{
    testserver tls;
    if (testserver_start_tls(&tls, tls_key, tls_cert) != 0) {
        fprintf(stderr, "    (no TLS in this libmicrohttpd: skipped)\n");
        return;
    }
    char base[64];
    snprintf(base, sizeof base, "https://127.0.0.1:%u", (unsigned)tls.port);
    /* Verification is on by default: a self-signed certificate fails as tls. */
    sp_def *d = load_url("{\"name\":\"t\",\"base_url\":\"https://x\","
                         "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":100},"
                         "\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                         "\"load\":{\"users\":1,\"duration\":\"300ms\"}}",
                         base);
    /* With insecure, the same server answers. */
    sp_def *d2 =
        load_url("{\"name\":\"t\",\"base_url\":\"https://x\",\"options\":{\"insecure\":true},"
                 "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":100},"
                 "\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                 "\"load\":{\"users\":1,\"duration\":\"300ms\"}}",
                 base);
    sp_engine *e = d ? run(d) : NULL;
    sp_engine *e2 = d2 ? run(d2) : NULL;
    int ok = d && d2 && e && e2;
    uint64_t req = 0, tls_err = 0, req2 = 0, fail2 = 0, ok2 = 0;
    /* The verified run's requests never reach the server; the insecure run's all do. */
    uint64_t served = atomic_load(&tls.served), tls_ok = atomic_load(&tls.ok);
    if (ok) {
        const sp_name_stats *n = &sp_engine_totals(e)->names[0];
        const sp_name_stats *n2 = &sp_engine_totals(e2)->names[0];
        fprintf(stderr, "    verified: %s\n", n->nmsgs ? n->msgs[0].msg : "(no message)");
        req = n->requests;
        tls_err = n->errors[SP_ERRK_TLS];
        req2 = n2->requests;
        fail2 = n2->failures;
        ok2 = n2->status[200];
    }
    sp_engine_free(e);
    sp_engine_free(e2);
    sp_def_free(d);
    sp_def_free(d2);
    testserver_stop(&tls);
    CHECK(ok);
    CHECK(req >= 1);
    CHECK_UINT_EQ(tls_err, req);
    CHECK(req2 >= 2);
    CHECK_UINT_EQ(served, tls_ok);
    CHECK_UINT_EQ(tls_ok, req2);
    CHECK_UINT_EQ(fail2, 0);
    CHECK_UINT_EQ(ok2, req2);
}

static void test_host_name(void)
{
    /* A name goes through curl's resolver (its own sockets share the epoll set). */
    char base[64];
    snprintf(base, sizeof base, "http://localhost:%u", (unsigned)srv.port);
    sp_def *d = load_url("{\"name\":\"t\",\"base_url\":\"http://x\","
                         "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":20},"
                         "\"tasks\":[{\"request\":{\"url\":\"/ok\"}}]}],"
                         "\"load\":{\"users\":3,\"duration\":\"400ms\"}}",
                         base);
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok);
    sp_engine *e = run(d);
    CHECK(e != NULL);
    const sp_name_stats *n = &sp_engine_totals(e)->names[0];
    fprintf(stderr, "    %llu requests to localhost, %llu failed\n",
            (unsigned long long)n->requests, (unsigned long long)n->failures);
    CHECK(n->requests >= 10);
    CHECK_UINT_EQ(n->requests, atomic_load(&srv.ok) - ok0);
    CHECK_UINT_EQ(n->failures, 0);
    sp_engine_free(e);
    sp_def_free(d);
}

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "could not start the test server\n");
        return 1;
    }
    RUN(test_connection_refused);
    RUN(test_timeout);
    RUN(test_expectations);
    RUN(test_requests_over_a_cap);
    RUN(test_latency_and_redirects);
    RUN(test_tls);
    RUN(test_host_name);
    testserver_stop(&srv);
    return check_summary();
}
