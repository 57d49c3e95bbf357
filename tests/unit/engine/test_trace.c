/*
 * test_trace.c - "Try it" (engine/trace.h) against a real local server: one pass of on_start and
 * each task in order with no think time, the token an on_start step extracts sent by later
 * requests, what curl sent and received (request line, headers, bodies, the last hop of a
 * redirect), bodies cut at the cap, a failed expectation, several user classes one after the
 * other, the time cap aborting a request in flight, and a secret masked in every form the
 * request carries it in (query, Basic authorization, a body cut inside it, headers, a response
 * that echoes it, a failure message).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "engine/definition.h"
#include "engine/trace.h"
#include "testserver.h"

static testserver srv;

static const char *hdr(const json_t *list, const char *name)
{
    size_t i;
    json_t *h;
    json_array_foreach(list, i, h)
    {
        if (strcasecmp(json_string_value(json_object_get(h, "name")), name) == 0)
            return json_string_value(json_object_get(h, "value"));
    }
    return NULL;
}

static json_t *req_at(json_t *out, size_t i)
{
    return json_array_get(json_object_get(out, "requests"), i);
}

static const char *str(json_t *obj, const char *path1, const char *path2)
{
    json_t *v = json_object_get(obj, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

static void test_one_pass(void)
{
    unsigned long served = atomic_load(&srv.served);
    sp_def *d = ts_load_def_at(
        "{\"name\":\"t\",\"base_url\":\"http://x\","
        "\"users\":[{\"name\":\"u\",\"think\":{\"constant\":\"5s\"},"
        "\"on_start\":[{\"request\":{\"url\":\"/ok\",\"name\":\"login\"},"
        "\"expect\":{\"json\":[{\"path\":\"ok\",\"equals\":true}]},"
        "\"extract\":{\"token\":{\"json\":\"access_token\"}},"
        "\"set_headers\":{\"Authorization\":\"Bearer {{token}}\"}}],"
        "\"tasks\":[{\"weight\":100,\"request\":{\"url\":\"/auth\",\"name\":\"auth\"}},"
        "{\"name\":\"hop\",\"request\":{\"url\":\"/redirect\",\"name\":\"redirect\"}},"
        "{\"request\":{\"url\":\"/big\",\"name\":\"big\"}},"
        "{\"request\":{\"method\":\"POST\",\"url\":\"/ok\",\"name\":\"post\","
        "\"body\":\"" /* 3000 bytes follow */
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "\"},\"expect\":{\"status\":201}}]}],"
        "\"load\":{\"users\":50,\"duration\":\"1m\"}}",
        srv.port);
    CHECK(d != NULL);
    sp_trace_opts o = {.max_ms = 10000, .body_max = 1000};
    json_t *out = NULL;
    char err[256] = "";
    uint64_t t0 = sp_now_ns();
    CHECK_INT_EQ(sp_trace_run(d, &o, &out, err, sizeof err), 0);
    uint64_t took_ms = (sp_now_ns() - t0) / 1000000;
    CHECK(out != NULL);
    CHECK(took_ms < 3000); /* neither the 5 s think time nor the 1 min profile */
    CHECK(json_is_true(json_object_get(out, "complete")));
    json_t *reqs = json_object_get(out, "requests");
    CHECK_UINT_EQ(json_array_size(reqs), 5);
    CHECK_UINT_EQ(atomic_load(&srv.served) - served, 6); /* the redirect is two responses */

    json_t *login = req_at(out, 0);
    CHECK_STR_EQ(str(login, "phase", NULL), "on_start");
    CHECK_STR_EQ(str(login, "name", NULL), "login");
    CHECK_STR_EQ(str(login, "extracted", "token"), "tok123");
    CHECK(json_is_true(json_object_get(login, "passed")));
    CHECK_STR_EQ(str(json_object_get(login, "request"), "line", NULL), "GET /ok HTTP/1.1");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(login, "response"), "status")),
                 200);
    CHECK_STR_CONTAINS(str(json_object_get(login, "response"), "body", "text"), "tok123");
    json_t *check = json_array_get(json_object_get(login, "expect"), 1);
    CHECK_STR_EQ(str(check, "check", NULL), "JSON ok equals true");
    CHECK(json_is_true(json_object_get(check, "passed")));

    /* Tasks in order, each once, whatever their weights. */
    json_t *auth = req_at(out, 1);
    CHECK_STR_EQ(str(auth, "name", NULL), "auth");
    CHECK_INT_EQ(json_integer_value(json_object_get(auth, "task")), 0);
    CHECK_STR_EQ(hdr(json_object_get(json_object_get(auth, "request"), "headers"), "Authorization"),
                 "Bearer tok123");
    CHECK_STR_EQ(str(json_object_get(auth, "response"), "body", "text"), "Bearer tok123");

    json_t *hop = req_at(out, 2);
    CHECK_STR_EQ(str(hop, "task_name", NULL), "hop");
    CHECK_STR_CONTAINS(str(hop, "url", NULL), "/ok"); /* the last hop's URL and exchange */
    CHECK_STR_EQ(str(json_object_get(hop, "request"), "line", NULL), "GET /ok HTTP/1.1");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(hop, "response"), "status")),
                 200);
    CHECK(hdr(json_object_get(json_object_get(hop, "response"), "headers"), "X-Hop") == NULL);

    json_t *big = json_object_get(json_object_get(req_at(out, 3), "response"), "body");
    CHECK(json_is_true(json_object_get(big, "truncated")));
    CHECK_INT_EQ(json_integer_value(json_object_get(big, "bytes")), 64 << 10);
    CHECK_UINT_EQ(strlen(json_string_value(json_object_get(big, "text"))), 1000);

    json_t *post = req_at(out, 4);
    json_t *sent = json_object_get(json_object_get(post, "request"), "body");
    CHECK(json_is_true(json_object_get(sent, "truncated")));
    CHECK_INT_EQ(json_integer_value(json_object_get(sent, "bytes")), 3000);
    CHECK_UINT_EQ(strlen(json_string_value(json_object_get(sent, "text"))), 1000);
    CHECK(json_is_false(json_object_get(post, "passed")));
    CHECK_STR_EQ(str(post, "error", "kind"), "assertion");
    CHECK_STR_EQ(str(post, "error", "message"), "expected status 201, got 200");
    CHECK_STR_EQ(
        hdr(json_object_get(json_object_get(post, "request"), "headers"), "Content-Length"),
        "3000");
    json_decref(out);
    sp_def_free(d);
}

static void test_classes_in_order(void)
{
    sp_def *d = ts_load_def_at("{\"name\":\"t\",\"base_url\":\"http://x\",\"users\":["
                               "{\"name\":\"first\",\"weight\":1,\"tasks\":[{\"request\":{\"url\":"
                               "\"/ok\",\"name\":\"a\"}}]},"
                               "{\"name\":\"second\",\"weight\":9,\"on_start\":[{\"request\":{"
                               "\"url\":\"/500\",\"name\":\"b\"}}],"
                               "\"tasks\":[{\"steps\":[{\"request\":{\"url\":\"/nope\","
                               "\"name\":\"c\"},\"expect\":{\"status\":404}},"
                               "{\"if\":{\"status\":201},\"request\":{\"url\":\"/ok\","
                               "\"name\":\"d\"}}]}]}],"
                               "\"load\":{\"model\":\"open\",\"max_vus\":5,\"stages\":[{"
                               "\"duration\":\"10s\",\"rate\":50}]}}",
                               srv.port);
    CHECK(d != NULL);
    json_t *out = NULL;
    char err[256] = "";
    CHECK_INT_EQ(sp_trace_run(d, NULL, &out, err, sizeof err), 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(out, "requests")), 4);
    CHECK(json_is_true(json_object_get(req_at(out, 3), "skipped")));
    CHECK_STR_EQ(str(req_at(out, 3), "name", NULL), "d");
    CHECK_INT_EQ(json_integer_value(json_object_get(req_at(out, 3), "step")), 1);
    CHECK_STR_EQ(str(req_at(out, 0), "user", NULL), "first");
    CHECK_STR_EQ(str(req_at(out, 1), "user", NULL), "second");
    CHECK_STR_EQ(str(req_at(out, 1), "error", "kind"), "http_status");
    CHECK_STR_EQ(str(req_at(out, 2), "name", NULL), "c");
    CHECK(json_is_true(json_object_get(req_at(out, 2), "passed")));
    json_decref(out);
    sp_def_free(d);
}

static void test_time_cap(void)
{
    atomic_store(&srv.slow_ms, 1500);
    sp_def *d =
        ts_load_def_at("{\"name\":\"t\",\"base_url\":\"http://x\",\"users\":[{\"name\":\"u\","
                       "\"tasks\":[{\"steps\":[{\"request\":{\"url\":\"/ok\"}},"
                       "{\"request\":{\"url\":\"/"
                       "slow\",\"timeout\":\"20s\"}},{\"request\":{\"url\":\"/ok\"}}]}]}],"
                       "\"load\":{\"users\":1,\"duration\":\"1m\"}}",
                       srv.port);
    CHECK(d != NULL);
    sp_trace_opts o = {.max_ms = 300};
    json_t *out = NULL;
    char err[256] = "";
    uint64_t t0 = sp_now_ns();
    CHECK_INT_EQ(sp_trace_run(d, &o, &out, err, sizeof err), 0);
    CHECK((sp_now_ns() - t0) / 1000000 < 1200);
    CHECK(json_is_false(json_object_get(out, "complete")));
    CHECK_UINT_EQ(json_array_size(json_object_get(out, "requests")), 2);
    json_t *cut = req_at(out, 1);
    CHECK_STR_EQ(str(cut, "phase", NULL), "aborted");
    CHECK_STR_EQ(str(cut, "name", NULL), "GET /slow");
    CHECK_STR_CONTAINS(str(cut, "url", NULL), "/slow");
    CHECK_STR_EQ(str(cut, "error", "kind"), "timeout");
    CHECK(json_is_null(json_object_get(cut, "response")));
    json_decref(out);
    sp_def_free(d);
}

/* A secret sent percent-encoded in the query, as the Basic authorization libcurl makes of a
 * URL's user:password (echoed back by /auth), and in a body the trace cuts inside the value:
 * each shows as the mask, and no byte of the value's own text is left. */
static void test_secret_in_every_form(void)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\":\"t\",\"base_url\":\"http://x\",\"secrets\":{\"k\":\"s3cr3t!pw-long\"},"
             "\"users\":[{\"name\":\"u\",\"tasks\":["
             "{\"request\":{\"url\":\"http://user:{{urlencode(secret.k)}}@127.0.0.1:%u/auth\","
             "\"name\":\"auth\",\"query\":{\"q\":\"{{secret.k}}\"}}},"
             "{\"request\":{\"method\":\"POST\",\"url\":\"/ok\",\"name\":\"post\","
             "\"body\":\"0123456789012345{{secret.k}}\"}}]}],"
             "\"load\":{\"users\":1,\"duration\":\"1s\"}}",
             srv.port);
    sp_def *d = ts_load_def_at(text, srv.port);
    CHECK(d != NULL);
    sp_trace_opts o = {.max_ms = 10000, .body_max = 20};
    json_t *out = NULL;
    char err[256] = "";
    CHECK_INT_EQ(sp_trace_run(d, &o, &out, err, sizeof err), 0);
    json_t *auth = req_at(out, 0);
    CHECK_STR_EQ(str(json_object_get(auth, "request"), "line", NULL),
                 "GET /auth?q=******** HTTP/1.1");
    CHECK_STR_EQ(hdr(json_object_get(json_object_get(auth, "request"), "headers"), "Authorization"),
                 "Basic ********");
    CHECK_STR_EQ(str(json_object_get(auth, "response"), "body", "text"), "Basic ********");
    json_t *post = json_object_get(json_object_get(req_at(out, 1), "request"), "body");
    CHECK(json_is_true(json_object_get(post, "truncated")));
    CHECK_STR_EQ(json_string_value(json_object_get(post, "text")), "0123456789012345********");
    char *all = json_dumps(out, JSON_COMPACT);
    CHECK(all && !strstr(all, "s3cr") && !strstr(all, "%21pw") && !strstr(all, "czNjcjN0"));
    free(all);
    json_decref(out);
    sp_def_free(d);
}

/* The secret is "tok123", which /ok answers in its body and /auth echoes from the header. */
static void test_secrets_masked(void)
{
    sp_def *d =
        ts_load_def_at("{\"name\":\"t\",\"base_url\":\"http://x\",\"secrets\":{\"k\":\"tok123\"},"
                       "\"users\":[{\"name\":\"u\",\"tasks\":[{\"steps\":["
                       "{\"request\":{\"url\":\"/ok?key={{secret.k}}\",\"name\":\"ok\","
                       "\"headers\":{\"X-Key\":\"{{secret.k}}\"}}},"
                       "{\"request\":{\"url\":\"/auth\",\"name\":\"auth\","
                       "\"headers\":{\"Authorization\":\"Bearer {{secret.k}}\"}},"
                       "\"expect\":{\"status\":201,\"message\":\"no {{secret.k}}\"}}]}]}],"
                       "\"load\":{\"users\":1,\"duration\":\"1s\"}}",
                       srv.port);
    CHECK(d != NULL);
    unsigned long auth0 = atomic_load(&srv.auth);
    json_t *out = NULL;
    char err[256] = "";
    CHECK_INT_EQ(sp_trace_run(d, NULL, &out, err, sizeof err), 0);
    /* The real value was sent (the server echoed it as the body)... */
    CHECK_UINT_EQ(atomic_load(&srv.auth) - auth0, 1);
    json_t *ok = req_at(out, 0), *auth = req_at(out, 1);
    CHECK_STR_EQ(hdr(json_object_get(json_object_get(ok, "request"), "headers"), "X-Key"),
                 "********");
    CHECK_STR_CONTAINS(str(ok, "url", NULL), "key=********");
    CHECK_STR_CONTAINS(str(json_object_get(ok, "response"), "body", "text"),
                       "\"access_token\":\"********\"");
    CHECK_STR_EQ(str(json_object_get(auth, "response"), "body", "text"), "Bearer ********");
    CHECK_STR_EQ(str(auth, "error", "message"), "no ********");
    /* ...and is nowhere in what the try reports. */
    char *all = json_dumps(out, JSON_COMPACT);
    CHECK(all != NULL && strstr(all, "tok123") == NULL);
    free(all);
    json_decref(out);
    sp_def_free(d);
}

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "could not start the test server\n");
        return 1;
    }
    RUN(test_one_pass);
    RUN(test_classes_in_order);
    RUN(test_time_cap);
    RUN(test_secret_in_every_form);
    RUN(test_secrets_masked);
    testserver_stop(&srv);
    return check_summary();
}
