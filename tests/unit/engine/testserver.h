/*
 * testserver.h - a small real HTTP server (libmicrohttpd) inside an engine test, on a free
 * 127.0.0.1 port, that counts what it served.
 *
 * Paths: /ok (200, {"ok":true,"access_token":"tok123","n":7}), /slow (sleeps slow_ms, then 200),
 * /500 (500), /auth (200 with the Authorization header as the body, 401 without one), /big
 * (200 with 64 KB), /close (200 with "Connection: close"), /redirect (302 to /ok), /away (302 to
 * the URL the test put in `away`, e.g. another test server), /ctype (200 with the request's
 * Content-Type as the body). Every other path is 404. POST bodies are read and counted in
 * bytes_in. Each path has its own counter, so a test can compare what the engine counted with
 * what the target received; `connections` counts TCP connections accepted (a connection that
 * sent nothing counts too). /typed (200 with a JSON object of every type),
 * /login302 (302 to /needcookie with two Set-Cookie headers), /needcookie (200 with the Cookie
 * header as the body when it holds the sid cookie, else 401).
 *
 * Threads: one thread per connection (so /slow only delays its own connection); the counters are
 * atomics read by the test thread; `away` is written before a run starts.
 */
#ifndef SP_TESTSERVER_H
#define SP_TESTSERVER_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/definition.h"

typedef struct testserver {
    struct MHD_Daemon *d;
    uint16_t port;
    atomic_uint slow_ms; /* set by the test while connection threads read it */
    atomic_ulong served; /* responses queued, any path */
    atomic_ulong ok;     /* /ok */
    atomic_ulong slow;   /* /slow, counted before the sleep */
    atomic_ulong auth;   /* /auth with a header */
    atomic_ulong body_bytes;
    atomic_ulong closed;      /* /close */
    atomic_ulong e500;        /* /500 */
    atomic_ulong big;         /* /big */
    atomic_ulong redirects;   /* /redirect and /away */
    atomic_ulong ctype;       /* /ctype */
    atomic_ulong notfound;    /* any other path */
    atomic_ulong connections; /* TCP connections accepted */
    char away[128];           /* where /away redirects to */
} testserver;

static char ts_big[64 << 10];

static enum MHD_Result ts_reply(struct MHD_Connection *c, unsigned status, const char *body,
                                size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ts_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    testserver *ts = cls;
    (void)method;
    (void)version;
    (void)upload_data;
    static int first_call_mark;
    if (*con_cls == NULL) {
        *con_cls = &first_call_mark;
        return MHD_YES;
    }
    if (*upload_data_size) {
        atomic_fetch_add(&ts->body_bytes, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&ts->served, 1);
    if (strcmp(url, "/ok") == 0) {
        atomic_fetch_add(&ts->ok, 1);
        static const char b[] = "{\"ok\":true,\"access_token\":\"tok123\",\"n\":7}";
        return ts_reply(c, 200, b, sizeof b - 1);
    }
    if (strcmp(url, "/slow") == 0) {
        atomic_fetch_add(&ts->slow, 1);
        usleep(atomic_load(&ts->slow_ms) * 1000u);
        return ts_reply(c, 200, "{}", 2);
    }
    if (strcmp(url, "/close") == 0) {
        atomic_fetch_add(&ts->closed, 1);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Connection", "close");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/redirect") == 0 || strcmp(url, "/away") == 0) {
        atomic_fetch_add(&ts->redirects, 1);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Location", strcmp(url, "/away") == 0 ? ts->away : "/ok");
        MHD_add_response_header(r, "X-Hop", "first");
        enum MHD_Result ret = MHD_queue_response(c, 302, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/ctype") == 0) {
        atomic_fetch_add(&ts->ctype, 1);
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        return ts_reply(c, 200, ct ? ct : "none", strlen(ct ? ct : "none"));
    }
    if (strcmp(url, "/login302") == 0) {
        /* Sets a cookie on a redirect: the next hop must already carry it. */
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Set-Cookie", "sid=s3cr3t; Path=/; HttpOnly");
        MHD_add_response_header(r, "Set-Cookie", "theme=dark");
        MHD_add_response_header(r, "Location", "/needcookie");
        enum MHD_Result ret = MHD_queue_response(c, 302, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/needcookie") == 0) {
        const char *ck = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
        if (!ck || !strstr(ck, "sid=s3cr3t"))
            return ts_reply(c, 401, "{}", 2);
        return ts_reply(c, 200, ck, strlen(ck));
    }
    if (strcmp(url, "/typed") == 0) {
        static const char b[] = "{\"n\":5,\"f\":1.5,\"b\":true,\"z\":null,\"o\":{\"a\":1},"
                                "\"arr\":[{\"id\":1,\"stock\":0},{\"id\":2,\"stock\":3},"
                                "{\"id\":3,\"stock\":7}],\"s\":\"x y\",\"next\":null}";
        return ts_reply(c, 200, b, sizeof b - 1);
    }
    if (strcmp(url, "/500") == 0) {
        atomic_fetch_add(&ts->e500, 1);
        return ts_reply(c, 500, "{\"error\":\"boom\"}", 16);
    }
    if (strcmp(url, "/big") == 0) {
        atomic_fetch_add(&ts->big, 1);
        memset(ts_big, 'x', sizeof ts_big);
        return ts_reply(c, 200, ts_big, sizeof ts_big);
    }
    if (strcmp(url, "/auth") == 0) {
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        if (!a)
            return ts_reply(c, 401, "no token", 8);
        atomic_fetch_add(&ts->auth, 1);
        return ts_reply(c, 200, a, strlen(a));
    }
    atomic_fetch_add(&ts->notfound, 1);
    return ts_reply(c, 404, "{}", 2);
}

static void ts_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    testserver *ts = cls;
    (void)c;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&ts->connections, 1);
}

/* Starts the server on a free port, with TLS when key and cert (PEM text) are given; 0 on
 * success. */
static int testserver_start_tls(testserver *ts, const char *key, const char *cert)
{
    memset(ts, 0, sizeof(*ts));
    atomic_store(&ts->slow_ms, 1000);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (key)
        ts->d = MHD_start_daemon(
            flags | MHD_USE_TLS, 0, NULL, NULL, ts_handler, ts, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)500, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert,
            MHD_OPTION_NOTIFY_CONNECTION, ts_notify, ts, MHD_OPTION_END);
    else
        ts->d = MHD_start_daemon(
            flags, 0, NULL, NULL, ts_handler, ts, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)500, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_CONNECTION, ts_notify, ts, MHD_OPTION_END);
    if (!ts->d)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(ts->d, MHD_DAEMON_INFO_BIND_PORT);
    ts->port = info ? info->port : 0;
    return ts->port ? 0 : -1;
}

/* Starts a plain HTTP server on a free port; 0 on success. */
static int testserver_start(testserver *ts)
{
    return testserver_start_tls(ts, NULL, NULL);
}

/* Loads a test definition with its base_url replaced by base_url (NULL keeps it). An invalid
 * one returns NULL and its errors are printed, so a failing test says why. */
static inline sp_def *ts_load_def(const char *text, const char *base_url)
{
    sp_overrides ov = SP_OVERRIDES_NONE;
    ov.base_url = base_url;
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    if (sp_def_load(text, strlen(text), &ov, NULL, &d, &el) != 0) {
        sp_buf b;
        sp_buf_init(&b, 1 << 16);
        sp_errlist_format(&el, &b);
        fprintf(stderr, "definition errors:\n%s", b.p);
        sp_buf_release(&b);
    }
    sp_errlist_release(&el);
    return d;
}

/* Loads a test definition pointed at the server on port. */
static inline sp_def *ts_load_def_at(const char *text, unsigned port)
{
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
    return ts_load_def(text, base);
}

static void testserver_stop(testserver *ts)
{
    if (ts->d)
        MHD_stop_daemon(ts->d);
    ts->d = NULL;
}

#endif
