/*
 * test_http.c - the HTTP layer (server/http/http.c) as a client sees it: the real sp_http
 * server on a free loopback port with a tiny route table, talked to with libcurl. Routing (404,
 * 405 with Allow, the most literal pattern wins, :params, a final "*", HEAD), the JSON body
 * checks in their order (415, 413 announced or streamed, 400 naming the problem), the one
 * error body format, handlers that fail, the security headers, the Host check, and the table
 * from codes to statuses. Requests libcurl would not send (no Host, two of them, two
 * Content-Length headers, an unknown Transfer-Encoding, too many query arguments, a chunked
 * body that goes on past the cap) are written on raw sockets (raw.h), and each must be
 * answered at once, not after a timeout.
 */
#define _GNU_SOURCE /* strcasestr, in raw.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/client.h"
#include "http/http.h"
#include "http/raw.h"

static sp_http_server *srv;
static uint16_t port;

/* ---- The routes under test ---- */

/* {"route": ud, "id": :id, "rest": *, "q": ?q} of the request, the members it has. */
static int h_echo(sp_http_req *req)
{
    json_t *o = json_object();
    const char *ud = sp_http_req_route_ud(req);
    json_object_set_new(o, "route", json_string(ud ? ud : ""));
    if (sp_http_param(req, "id"))
        json_object_set_new(o, "id", json_string(sp_http_param(req, "id")));
    if (sp_http_param(req, "*"))
        json_object_set_new(o, "rest", json_string(sp_http_param(req, "*")));
    if (sp_http_query(req, "q"))
        json_object_set_new(o, "q", json_string(sp_http_query(req, "q")));
    return sp_http_reply_json(req, 200, o);
}

/* Sends the parsed body back: what the handler got. */
static int h_create(sp_http_req *req)
{
    json_t *body = sp_http_json(req); /* borrowed */
    json_incref(body);
    return sp_http_reply_json(req, 201, body);
}

/* Returns the code in the route's ud without answering. */
static int h_fail(sp_http_req *req)
{
    return *(const int *)sp_http_req_route_ud(req);
}

static const int not_found = SP_ENOTFOUND, io = SP_EIO, unauth = SP_EUNAUTH, nothing = 0;

static const sp_http_route routes[] = {
    {"GET", "/things", h_echo, SP_PERM_READ, 0, "list", 200, NULL, "list"},
    {"POST", "/things", h_create, SP_PERM_WRITE, SP_HTTP_JSON_BODY, "create", 201, NULL, NULL},
    {"GET", "/things/:id", h_echo, SP_PERM_READ, 0, "one", 200, NULL, "by id"},
    {"GET", "/things/special", h_echo, SP_PERM_READ, 0, "special", 200, NULL, "special"},
    {"GET", "/files/*", h_echo, SP_PERM_READ, 0, "a file", 200, NULL, "rest"},
    {"GET", "/page", h_echo, SP_PERM_PUBLIC, SP_HTTP_PAGE, "a page", 200, NULL, "page"},
    {"GET", "/fail/notfound", h_fail, SP_PERM_READ, 0, "", 200, NULL, &not_found},
    {"GET", "/fail/io", h_fail, SP_PERM_READ, 0, "", 200, NULL, &io},
    {"GET", "/fail/unauth", h_fail, SP_PERM_READ, 0, "", 200, NULL, &unauth},
    {"GET", "/fail/silent", h_fail, SP_PERM_READ, 0, "", 200, NULL, &nothing},
};

/* ---- Tests ---- */

static void test_unknown_path_is_404_in_the_error_format(void)
{
    http_resp r;
    CHECK_INT_EQ(http_get(port, NULL, "/nope", &r), 404);
    CHECK_STR_EQ(r.body,
                 "{\"error\":{\"code\":\"not_found\",\"message\":\"no such resource: /nope\","
                 "\"path\":\"\"}}\n");
    char v[256];
    CHECK_STR_EQ(http_header(&r, "Content-Type", v, sizeof v), "application/json");
}

static void test_other_method_is_405_with_allow(void)
{
    http_resp r;
    char v[256];
    CHECK_INT_EQ(http_get(port, "PUT", "/things", &r), 405);
    CHECK_STR_EQ(http_header(&r, "Allow", v, sizeof v), "GET, HEAD, POST");
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"PUT is not "
                         "allowed on /things (allowed: GET, HEAD, POST)\",\"path\":\"\"}}\n");
    /* The Allow of a :param path lists the methods of the patterns as specific as the match. */
    CHECK_INT_EQ(http_get(port, "DELETE", "/things/7", &r), 405);
    CHECK_STR_EQ(http_header(&r, "Allow", v, sizeof v), "GET, HEAD");
    /* GET routes answer HEAD, without a body. */
    CHECK_INT_EQ(http_get(port, "HEAD", "/things", &r), 200);
    CHECK_INT_EQ(r.len, 0);
}

static void test_params_and_the_most_literal_route(void)
{
    http_resp r;
    CHECK_INT_EQ(http_get(port, NULL, "/things/42", &r), 200);
    CHECK_STR_EQ(r.body, "{\"route\":\"by id\",\"id\":\"42\"}\n");
    /* "/things/special" has two literal segments; "/things/:id" one: the literal one wins
     * although it comes later in the table. */
    CHECK_INT_EQ(http_get(port, NULL, "/things/special", &r), 200);
    CHECK_STR_EQ(r.body, "{\"route\":\"special\"}\n");
    CHECK_INT_EQ(http_get(port, NULL, "/files/data/a%20b.csv?q=x%2Cy", &r), 200);
    CHECK_STR_EQ(r.body, "{\"route\":\"rest\",\"rest\":\"data/a b.csv\",\"q\":\"x,y\"}\n");
    /* "*" needs at least one character; an empty :param segment matches nothing. */
    CHECK_INT_EQ(http_get(port, NULL, "/files/", &r), 404);
    CHECK_INT_EQ(http_get(port, NULL, "/things//", &r), 404);
    /* A %00 stays encoded: it must not cut the path short. */
    CHECK_INT_EQ(http_get(port, NULL, "/things/1%00", &r), 200);
    CHECK_STR_EQ(r.body, "{\"route\":\"by id\",\"id\":\"1%00\"}\n");
}

static void test_json_body_needs_its_content_type(void)
{
    http_resp r;
    http_req q = {.method = "POST", .path = "/things", .ctype = "text/plain", .body = "{}"};
    CHECK_INT_EQ(http_send(port, &q, &r), 415);
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"unsupported_media_type\",\"message\":\"expected "
                         "Content-Type: application/json, got text/plain\",\"path\":\"\"}}\n");
    q.ctype = "application/json; charset=latin1";
    CHECK_INT_EQ(http_send(port, &q, &r), 415);
    q.ctype = "application/jsonx";
    CHECK_INT_EQ(http_send(port, &q, &r), 415);
    q.ctype = NULL; /* curl sends application/x-www-form-urlencoded on its own */
    CHECK_INT_EQ(http_send(port, &q, &r), 415);
    CHECK_STR_CONTAINS(r.body, "got application/x-www-form-urlencoded");
    q.ctype = "Application/JSON; charset=\"UTF-8\"";
    q.body = "{\"a\": [1, 2]}";
    CHECK_INT_EQ(http_send(port, &q, &r), 201);
    CHECK_STR_EQ(r.body, "{\"a\":[1,2]}\n");
}

/* The 400 for a body, its message as the server wrote it. */
static void check_bad_json(const char *body, const char *want)
{
    http_resp r;
    CHECK_INT_EQ(http_json(port, "POST", "/things", body, &r), 400);
    CHECK_STR_CONTAINS(r.body, "\"code\":\"invalid_json\"");
    CHECK_STR_CONTAINS(r.body, want);
}

static void test_bad_json_is_400_naming_the_problem(void)
{
    check_bad_json("{\"a\":1,\"a\":2}", "duplicate object key");
    check_bad_json("{\"a\":", "malformed JSON at line 1 column");
    check_bad_json("{} []", "malformed JSON at line 1");
    check_bad_json("5", "malformed JSON");
    check_bad_json("", "empty body");
    char deep[80];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 39);
    deep[79] = '\0';
    check_bad_json(deep, "nested deeper than 32 levels");
}

static void test_bodies_over_the_cap_are_413(void)
{
    char want[128];
    snprintf(want, sizeof want,
             "{\"error\":{\"code\":\"too_large\",\"message\":\"body is larger than the limit of %u "
             "bytes\",\"path\":\"\"}}\n",
             (unsigned)SP_HTTP_MAX_BODY);
    http_resp r;
    /* Announced: refused from Content-Length, before the body is read (curl waits for the
     * "100 Continue" such a body asks for, and gets the 413 instead, so it sends nothing). */
    http_req q = {.method = "POST",
                  .path = "/things",
                  .ctype = "application/json",
                  .announced_bytes = (size_t)SP_HTTP_MAX_BODY + 1};
    CHECK_INT_EQ(http_send(port, &q, &r), 413);
    CHECK_STR_EQ(r.body, want);
    CHECK(r.sent < SP_HTTP_MAX_BODY);
    /* Streamed without a length: refused once it passes the cap. */
    q.announced_bytes = 0;
    q.chunked_bytes = (size_t)SP_HTTP_MAX_BODY + 1;
    CHECK_INT_EQ(http_send(port, &q, &r), 413);
    CHECK_STR_EQ(r.body, want);
    /* At the cap the body is read and parsed (and is not JSON). */
    q.chunked_bytes = SP_HTTP_MAX_BODY;
    CHECK_INT_EQ(http_send(port, &q, &r), 400);
    CHECK_STR_CONTAINS(r.body, "invalid_json");
}

static void test_handlers_that_fail(void)
{
    http_resp r;
    char v[256];
    CHECK_INT_EQ(http_get(port, NULL, "/fail/notfound", &r), 404);
    char want[256];
    snprintf(want, sizeof want,
             "{\"error\":{\"code\":\"not_found\",\"message\":\"%s\",\"path\":\"\"}}\n",
             sp_strerror(SP_ENOTFOUND));
    CHECK_STR_EQ(r.body, want);
    /* The server's own faults are 500 "internal", never quoting the cause. */
    CHECK_INT_EQ(http_get(port, NULL, "/fail/io", &r), 500);
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"internal\",\"message\":\"internal error (see the "
                         "server log)\",\"path\":\"\"}}\n");
    CHECK_INT_EQ(http_get(port, NULL, "/fail/silent", &r), 500);
    CHECK_STR_CONTAINS(r.body, "\"code\":\"internal\"");
    CHECK_INT_EQ(http_get(port, NULL, "/fail/unauth", &r), 401);
    CHECK_STR_EQ(http_header(&r, "WWW-Authenticate", v, sizeof v), "Bearer realm=\"stampede\"");
}

static void test_security_headers(void)
{
    http_resp r;
    char v[1024];
    CHECK_INT_EQ(http_get(port, NULL, "/things", &r), 200);
    CHECK_STR_EQ(http_header(&r, "X-Content-Type-Options", v, sizeof v), "nosniff");
    CHECK_STR_EQ(http_header(&r, "X-Frame-Options", v, sizeof v), "DENY");
    CHECK_STR_EQ(http_header(&r, "Referrer-Policy", v, sizeof v), "no-referrer");
    CHECK_STR_EQ(http_header(&r, "Cache-Control", v, sizeof v), "no-store");
    CHECK_STR_EQ(http_header(&r, "Content-Security-Policy", v, sizeof v),
                 "default-src 'none'; frame-ancestors 'none'; sandbox");
    /* An error answer carries them too. */
    CHECK_INT_EQ(http_get(port, NULL, "/nope", &r), 404);
    CHECK_STR_EQ(http_header(&r, "X-Content-Type-Options", v, sizeof v), "nosniff");
    /* A dashboard page: revalidated, with the page CSP naming the live port. */
    CHECK_INT_EQ(http_get(port, NULL, "/page", &r), 200);
    CHECK_STR_EQ(http_header(&r, "Cache-Control", v, sizeof v), "no-cache");
    CHECK_STR_CONTAINS(http_header(&r, "Content-Security-Policy", v, sizeof v),
                       "default-src 'self'; script-src 'self'");
    CHECK_STR_CONTAINS(v, "ws://127.0.0.1:8485 ws://localhost:8485");
}

static void test_host_must_name_the_server(void)
{
    http_resp r;
    http_req q = {.path = "/things", .host = "evil.example"};
    CHECK_INT_EQ(http_send(port, &q, &r), 403);
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"forbidden\",\"message\":\"Host 'evil.example' is "
                         "not a name of this server\",\"path\":\"\"}}\n");
    char host[64];
    snprintf(host, sizeof host, "localhost:%u", (unsigned)port);
    q.host = host;
    CHECK_INT_EQ(http_send(port, &q, &r), 200);
}

/* ---- Requests only a raw socket sends: each answered at once ---- */

/* How long a test waits for an answer that should come at once. The connection timeout is
 * SP_HTTP_CONN_TIMEOUT_S (30 s): an answer after it would be no answer. */
#define AT_ONCE_MS 3000

/* Sends a request of head lines (each ending in CRLF, the blank line added here) and body. */
static int raw(const char *head, const char *body, raw_resp *r)
{
    static char req[32768];
    int n = snprintf(req, sizeof req, "%s\r\n%s", head, body ? body : "");
    if ((size_t)n >= sizeof req) {
        memset(r, 0, sizeof *r);
        return 0; /* the test's own request does not fit: no status */
    }
    return raw_send(port, req, (size_t)n, AT_ONCE_MS, r);
}

static void test_a_request_needs_exactly_one_host(void)
{
    raw_resp r;
    char good[64], head[512];
    snprintf(good, sizeof good, "Host: 127.0.0.1:%u\r\n", (unsigned)port);
    /* The control: one Host of ours. */
    snprintf(head, sizeof head, "GET /things HTTP/1.1\r\n%s", good);
    CHECK_INT_EQ(raw(head, NULL, &r), 200);
    /* None at all: the Host check cannot be made (RFC 9112 3.2: 400). */
    CHECK_INT_EQ(raw("GET /things HTTP/1.1\r\n", NULL, &r), 400);
    CHECK_STR_CONTAINS(raw_body(&r), "\"code\":\"bad_request\"");
    CHECK_STR_CONTAINS(raw_body(&r), "no Host header");
    CHECK_INT_EQ(raw("GET /things HTTP/1.0\r\n", NULL, &r), 400);
    /* Two: ours first must not let the second one through, nor the other way round. */
    snprintf(head, sizeof head, "GET /things HTTP/1.1\r\n%sHost: evil.example\r\n", good);
    CHECK_INT_EQ(raw(head, NULL, &r), 400);
    CHECK_STR_CONTAINS(raw_body(&r), "more than one Host header");
    snprintf(head, sizeof head, "GET /things HTTP/1.1\r\nHost: evil.example\r\n%s", good);
    CHECK_INT_EQ(raw(head, NULL, &r), 400);
    snprintf(head, sizeof head, "GET /things HTTP/1.1\r\n%s%s", good, good);
    CHECK_INT_EQ(raw(head, NULL, &r), 400);
    CHECK(!r.timed_out);
}

static void test_conflicting_body_lengths_are_400(void)
{
    raw_resp r;
    char head[512];
    /* The control: one length. */
    char base[256];
    snprintf(base, sizeof base,
             "POST /things HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
             "Content-Type: application/json\r\n",
             (unsigned)port);
    snprintf(head, sizeof head, "%sContent-Length: 2\r\n", base);
    CHECK_INT_EQ(raw(head, "{}", &r), 201);
    /* Two lengths: which one frames the body is what request smuggling plays on. */
    snprintf(head, sizeof head, "%sContent-Length: 2\r\nContent-Length: 13\r\n", base);
    CHECK_INT_EQ(raw(head, "{}{\"a\": true}", &r), 400);
    CHECK_STR_CONTAINS(raw_body(&r), "more than one Content-Length header");
    snprintf(head, sizeof head, "%sContent-Length: 2\r\nContent-Length: 2\r\n", base);
    CHECK_INT_EQ(raw(head, "{}", &r), 400);
    /* A length and a transfer coding. */
    snprintf(head, sizeof head, "%sContent-Length: 7\r\nTransfer-Encoding: chunked\r\n", base);
    CHECK_INT_EQ(raw(head, "2\r\n{}\r\n0\r\n\r\n", &r), 400);
    CHECK_STR_CONTAINS(raw_body(&r), "both Content-Length and Transfer-Encoding");
    CHECK(!r.timed_out);
}

static void test_unknown_transfer_codings_are_501_at_once(void)
{
    raw_resp r;
    char base[256], head[512];
    snprintf(base, sizeof base,
             "POST /things HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
             "Content-Type: application/json\r\n",
             (unsigned)port);
    /* The control: chunked, in any case. */
    snprintf(head, sizeof head, "%sTransfer-Encoding: Chunked\r\n", base);
    CHECK_INT_EQ(raw(head, "2\r\n{}\r\n0\r\n\r\n", &r), 201);
    /* libmicrohttpd reads any other coding as a body that ends when the connection does. */
    snprintf(head, sizeof head, "%sTransfer-Encoding: gzip, chunked\r\n", base);
    CHECK_INT_EQ(raw(head, "2\r\n{}\r\n0\r\n\r\n", &r), 501);
    CHECK_STR_CONTAINS(raw_body(&r), "\"code\":\"not_implemented\"");
    CHECK_STR_CONTAINS(raw_body(&r), "Transfer-Encoding 'gzip, chunked'");
    snprintf(head, sizeof head,
             "GET /things HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
             "Transfer-Encoding: identity\r\n",
             (unsigned)port);
    CHECK_INT_EQ(raw(head, NULL, &r), 501);
    snprintf(head, sizeof head, "%sTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
             base);
    CHECK_INT_EQ(raw(head, "2\r\n{}\r\n0\r\n\r\n", &r), 400);
    CHECK(!r.timed_out);
}

static void test_too_many_query_arguments_are_414_at_once(void)
{
    static char head[16384];
    raw_resp r;
    /* At the cap: served. */
    int n = snprintf(head, sizeof head, "GET /things?q=1");
    for (int i = 1; i < SP_HTTP_MAX_QUERY_ARGS; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "&a%d=%d", i, i);
    snprintf(head + n, sizeof head - (size_t)n, " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n",
             (unsigned)port);
    CHECK_INT_EQ(raw(head, NULL, &r), 200);
    CHECK_STR_EQ(raw_body(&r), "{\"route\":\"list\",\"q\":\"1\"}\n");
    /* Past the cap, and far past what fits in libmicrohttpd's connection memory (which used
     * to log a 431 and leave the connection hanging for 30 s without an answer). */
    static const int too_many[] = {SP_HTTP_MAX_QUERY_ARGS + 1, 1200};
    for (size_t k = 0; k < sizeof too_many / sizeof too_many[0]; k++) {
        int args = too_many[k];
        n = snprintf(head, sizeof head, "GET /things?q=1");
        for (int i = 1; i < args; i++)
            n += snprintf(head + n, sizeof head - (size_t)n, "&a%d", i);
        snprintf(head + n, sizeof head - (size_t)n, " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n",
                 (unsigned)port);
        CHECK_INT_EQ(raw(head, NULL, &r), 414);
        CHECK_STR_CONTAINS(raw_body(&r), "\"code\":\"uri_too_long\"");
        CHECK(!r.timed_out);
    }
}

static void test_a_chunked_body_past_the_cap_is_answered_at_once(void)
{
    raw_resp r;
    memset(&r, 0, sizeof r);
    int fd = raw_open(port);
    CHECK(fd >= 0);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST /things HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                     (unsigned)port);
    CHECK_INT_EQ(raw_write(fd, head, (size_t)n), 0);
    static char chunk[65536 + 16];
    int hl = snprintf(chunk, sizeof chunk, "10000\r\n");
    memset(chunk + hl, ' ', 65536);
    memcpy(chunk + hl + 65536, "\r\n", 2);
    /* A little past the cap, then the client stops (without the last chunk) and waits: the
     * 413 must come now, not once a body that may never end has ended. */
    size_t sent = 0;
    while (sent <= (size_t)SP_HTTP_MAX_BODY + 65536 &&
           raw_write(fd, chunk, (size_t)hl + 65536 + 2) == 0)
        sent += 65536;
    CHECK_INT_EQ(raw_read(fd, AT_ONCE_MS, &r), 413);
    CHECK_STR_CONTAINS(raw_body(&r), "\"code\":\"too_large\"");
    CHECK_STR_CONTAINS(r.text, "X-Content-Type-Options: nosniff");
    CHECK(!r.timed_out);
}

static void test_error_status_table(void)
{
    static const struct {
        int code;
        unsigned status;
        const char *name;
    } want[] = {
        {SP_EINVAL, 400, "bad_request"},
        {SP_EJSON, 400, "invalid_json"},
        {SP_EUNAUTH, 401, "unauthorized"},
        {SP_EFORBIDDEN, 403, "forbidden"},
        {SP_ENOTFOUND, 404, "not_found"},
        {SP_EMETHOD, 405, "method_not_allowed"},
        {SP_ESTATE, 409, "conflict"},
        {SP_ELIMIT, 413, "too_large"},
        {SP_EMEDIA, 415, "unsupported_media_type"},
        {SP_EDEFINITION, 422, "invalid_definition"},
        {SP_ETOOMANY, 429, "too_many_requests"},
        {SP_EURI, 414, "uri_too_long"},
        {SP_ENOTIMPL, 501, "not_implemented"},
        {SP_EUNAVAILABLE, 503, "unavailable"},
        {SP_EFULL, 503, "disk_full"},
        {SP_EIO, 500, "internal"},
        {SP_ESYS, 500, "internal"},
        {0, 500, "internal"},
        {-12345, 500, "internal"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *name = NULL;
        CHECK_UINT_EQ(sp_http_error_status(want[i].code, &name), want[i].status);
        CHECK_STR_EQ(name, want[i].name);
    }
    CHECK_UINT_EQ(sp_http_error_status(SP_ELIMIT, NULL), 413);
    /* The storage's 503s say what happened; the server's own faults say nothing of the cause. */
    CHECK_STR_CONTAINS(sp_http_error_message(SP_EFULL), "disk");
    CHECK_STR_CONTAINS(sp_http_error_message(SP_EFULL), "full");
    CHECK_STR_CONTAINS(sp_http_error_message(SP_EUNAVAILABLE), "unavailable");
    CHECK_STR_EQ(sp_http_error_message(SP_EIO), "internal error (see the server log)");
    CHECK_STR_EQ(sp_http_error_message(-12345), "internal error (see the server log)");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sp_http_config cfg = {.host = "127.0.0.1", .port = 0, .live_port = 8485, .threads = 2};
    char err[256];
    if (sp_http_server_new(&srv, &cfg, routes, sizeof routes / sizeof routes[0], NULL, err,
                           sizeof err) != 0) {
        fprintf(stderr, "cannot start the server: %s\n", err);
        return 1;
    }
    port = sp_http_server_port(srv);
    RUN(test_unknown_path_is_404_in_the_error_format);
    RUN(test_other_method_is_405_with_allow);
    RUN(test_params_and_the_most_literal_route);
    RUN(test_json_body_needs_its_content_type);
    RUN(test_bad_json_is_400_naming_the_problem);
    RUN(test_bodies_over_the_cap_are_413);
    RUN(test_handlers_that_fail);
    RUN(test_security_headers);
    RUN(test_host_must_name_the_server);
    RUN(test_a_request_needs_exactly_one_host);
    RUN(test_conflicting_body_lengths_are_400);
    RUN(test_unknown_transfer_codings_are_501_at_once);
    RUN(test_too_many_query_arguments_are_414_at_once);
    RUN(test_a_chunked_body_past_the_cap_is_answered_at_once);
    RUN(test_error_status_table);
    sp_http_server_free(srv);
    curl_global_cleanup();
    return check_summary();
}
