/*
 * http.c - see http.h.
 */
#define _GNU_SOURCE /* strchrnul, strcasestr */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/json.h"
#include "auth/auth.h"
#include "base/log.h"

struct sp_http_server {
    struct MHD_Daemon *mhd;
    const sp_http_route *routes;
    size_t nroutes;
    void *app;
    uint16_t port;
    char host[64];        /* the configured listen address, as given */
    char public_url[256]; /* --public-url, "" when none */
    struct sp_auth *auth; /* borrowed; may be NULL */
    int tls;
    char *page_csp; /* Content-Security-Policy of dashboard pages (owned) */
    /* The last message libmicrohttpd logged from the thread that starts it, while starting:
     * why a bind failed. Worker threads (which may log during the start too) never touch it. */
    char start_err[256];
    pthread_t starter;
};

typedef struct hdr {
    char *name;
    char *value;
} hdr;

struct sp_http_req {
    sp_http_server *srv;
    struct MHD_Connection *conn;
    const sp_http_route *route;
    char *method;
    char *path;
    const char *pnames[SP_HTTP_MAX_PARAMS]; /* point into the route's pattern (static) */
    size_t pnlens[SP_HTTP_MAX_PARAMS];
    char *pvals[SP_HTTP_MAX_PARAMS]; /* owned copies */
    size_t nparams;
    sp_buf body;
    int too_large;
    int too_many_args;   /* the query had more than SP_HTTP_MAX_QUERY_ARGS arguments (on_uri) */
    int answered;        /* the 413 was written on the socket itself (answer_now) */
    uint64_t body_bytes; /* body bytes received so far, kept or not */
    uint64_t dropped;    /* body bytes read and dropped after the cap was passed */
    json_t *json;        /* owned */
    sp_http_principal principal;
    char address[64]; /* the client's numeric address */
    hdr headers[SP_HTTP_MAX_HEADERS];
    size_t nheaders;
    unsigned status; /* 0 until a response was queued */
    uint64_t t0_us;
};

/* Every sp_perm bit: what a loopback client gets with --no-auth, and the admin role. */
#define ALL_PERMS (SP_PERM_READ | SP_PERM_WRITE | SP_PERM_RUN | SP_PERM_ADMIN)

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    sp_http_server *srv = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (pthread_equal(pthread_self(), srv->starter))
        snprintf(srv->start_err, sizeof srv->start_err, "%.200s", line);
    sp_log_kv(SP_LOG_WARN, "libmicrohttpd", "detail", line, NULL);
}

/* ---- Errors: the one table from codes to statuses ---- */

/* The message is what a client is told when nobody said more: a handler that returned the code
 * without answering, or a failure of the storage whose cause (SQLite's words) stays in the log. */
static const struct {
    int code;
    unsigned status;
    const char *name;
    const char *message;
} error_table[] = {
    {SP_EINVAL, 400, "bad_request", "invalid input"},
    {SP_EJSON, 400, "invalid_json", "invalid JSON"},
    {SP_EUNAUTH, 401, "unauthorized", "authentication required"},
    {SP_EFORBIDDEN, 403, "forbidden", "forbidden"},
    {SP_ENOTFOUND, 404, "not_found", "not found"},
    {SP_EMETHOD, 405, "method_not_allowed", "method not allowed"},
    {SP_ESTATE, 409, "conflict", "wrong state"},
    {SP_ELIMIT, 413, "too_large", "limit reached"},
    {SP_EMEDIA, 415, "unsupported_media_type", "unsupported media type"},
    {SP_EDEFINITION, 422, "invalid_definition", "invalid definition"},
    {SP_ETOOMANY, 429, "too_many_requests", "too many requests"},
    {SP_EURI, 414, "uri_too_long", "too many query arguments"},
    {SP_ENOTIMPL, 501, "not_implemented", "not implemented"},
    {SP_EUNAVAILABLE, 503, "unavailable",
     "the database is unavailable (busy, or it cannot be opened): try again"},
    {SP_EFULL, 503, "disk_full",
     "the disk of the data directory is full: nothing can be saved until space is freed"},
};

/* SP_EIO, SP_ESYS and anything unknown: the server's fault, never the client's input. */
static const char internal_message[] = "internal error (see the server log)";

unsigned sp_http_error_status(int code, const char **code_name)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(error_table); i++) {
        if (error_table[i].code == code) {
            if (code_name)
                *code_name = error_table[i].name;
            return error_table[i].status;
        }
    }
    if (code_name)
        *code_name = "internal";
    return 500;
}

const char *sp_http_error_message(int code)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(error_table); i++)
        if (error_table[i].code == code)
            return error_table[i].message;
    return internal_message;
}

/* ---- Requests ---- */

void *sp_http_req_app(const sp_http_req *req)
{
    return req->srv->app;
}

const void *sp_http_req_route_ud(const sp_http_req *req)
{
    return req->route ? req->route->ud : NULL;
}

const char *sp_http_req_method(const sp_http_req *req)
{
    return req->method;
}

const char *sp_http_req_path(const sp_http_req *req)
{
    return req->path;
}

const char *sp_http_param(const sp_http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nparams; i++)
        if (req->pnlens[i] == n && memcmp(req->pnames[i], name, n) == 0)
            return req->pvals[i];
    return NULL;
}

const char *sp_http_query(const sp_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *sp_http_header(const sp_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *sp_http_body(const sp_http_req *req, size_t *len)
{
    *len = req->body.len;
    return req->body.p;
}

json_t *sp_http_json(const sp_http_req *req)
{
    return req->json;
}

const sp_http_principal *sp_http_req_principal(const sp_http_req *req)
{
    return &req->principal;
}

const char *sp_http_req_address(const sp_http_req *req)
{
    return req->address;
}

struct sp_auth *sp_http_req_auth(const sp_http_req *req)
{
    return req->srv->auth;
}

int sp_http_req_tls(const sp_http_req *req)
{
    return req->srv->tls;
}

static void req_free(sp_http_req *req)
{
    if (!req)
        return;
    free(req->method);
    free(req->path);
    for (size_t i = 0; i < req->nparams; i++)
        free(req->pvals[i]);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    sp_buf_release(&req->body);
    if (req->json)
        json_decref(req->json); /* the request held the parse's only reference */
    free(req);
}

/* ---- Replies ---- */

int sp_http_add_header(sp_http_req *req, const char *name, const char *value)
{
    if (req->nheaders == SP_HTTP_MAX_HEADERS)
        return SP_ELIMIT;
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return SP_EINVAL;
    req->headers[req->nheaders].name = sp_strdup(name);
    req->headers[req->nheaders].value = sp_strdup(value);
    req->nheaders++;
    return 0;
}

/* The headers of every response, and those of every API (not dashboard) response. */
static const char *const common_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
};
/* API answers are data, never documents: nothing may run or load from them. */
static const char *const api_headers[][2] = {
    {"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox"},
    {"Cache-Control", "no-store"},
};

/* Adds the security headers and the handler's headers, queues resp, and drops our reference
 * to it (libmicrohttpd keeps its own until the response is sent). */
static int queue(sp_http_req *req, unsigned status, struct MHD_Response *resp)
{
    int rc = 0;
    if (!resp) {
        rc = SP_ESYS;
        goto out;
    }
    if (req->status) {
        rc = SP_ESTATE; /* a second reply to one request */
        goto out;
    }
    int page = req->route && (req->route->flags & SP_HTTP_PAGE);
    for (size_t i = 0; i < SP_ARRAY_LEN(common_headers); i++)
        MHD_add_response_header(resp, common_headers[i][0], common_headers[i][1]);
    if (page) {
        MHD_add_response_header(resp, "Content-Security-Policy", req->srv->page_csp);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
    } else {
        for (size_t i = 0; i < SP_ARRAY_LEN(api_headers); i++)
            MHD_add_response_header(resp, api_headers[i][0], api_headers[i][1]);
    }
    for (size_t i = 0; i < req->nheaders; i++)
        MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
    if (MHD_queue_response(req->conn, status, resp) != MHD_YES) {
        rc = SP_ESYS;
        goto out;
    }
    req->status = status;
out:
    if (resp)
        MHD_destroy_response(resp);
    return rc;
}

int sp_http_reply_json(sp_http_req *req, unsigned status, json_t *body)
{
    /* body is stolen: dropped on every path below. */
    size_t need = body ? json_dumpb(body, NULL, 0, JSON_COMPACT) : 0;
    if (need == 0 || need > SP_HTTP_MAX_RESPONSE) {
        if (body)
            json_decref(body);
        sp_log_kv(SP_LOG_ERROR, "response not serialisable", "path", req->path, NULL);
        static const char msg[] = "{\"error\":{\"code\":\"internal\",\"message\":\"the "
                                  "response could not be built\",\"path\":\"\"}}\n";
        return sp_http_reply_static(req, 500, "application/json", msg, sizeof msg - 1);
    }
    char *p = sp_malloc(need + 1);
    json_dumpb(body, p, need, JSON_COMPACT);
    p[need] = '\n';
    json_decref(body);
    /* MUST_FREE: libmicrohttpd owns p from here and free()s it once sent; only when the
     * response cannot be created is it still ours to free. */
    struct MHD_Response *resp = MHD_create_response_from_buffer(need + 1, p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(p);
        return SP_ESYS;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return queue(req, status, resp);
}

int sp_http_reply_empty(sp_http_req *req, unsigned status)
{
    return queue(req, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

int sp_http_reply_static(sp_http_req *req, unsigned status, const char *content_type,
                         const void *data, size_t len)
{
    /* PERSISTENT: data is static, so libmicrohttpd neither copies nor frees it. */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (resp)
        MHD_add_response_header(resp, "Content-Type", content_type);
    return queue(req, status, resp);
}

int sp_http_reply_fd(sp_http_req *req, int fd, uint64_t size, const char *content_type)
{
    /* The response owns fd and closes it when sent; when it cannot be created, we close it. */
    struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
    if (!resp) {
        close(fd);
        return SP_ESYS;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    return queue(req, 200, resp);
}

/* The error body {"error": {"code", "message", "path"}} (a new reference) for code, beside the
 * members of extra (stolen; dropped when it is not an object). */
static json_t *error_body(int code, const char *path, json_t *extra, const char *msg)
{
    const char *name;
    sp_http_error_status(code, &name);
    json_t *err = json_object();
    json_object_set_new(err, "code", json_string(name));
    json_object_set_new(err, "message", sp_json_string(msg));
    json_object_set_new(err, "path", sp_json_string(path ? path : ""));
    json_t *body = extra;
    if (!json_is_object(body)) {
        if (body)
            json_decref(body);
        body = json_object();
    }
    json_object_set_new(body, "error", err); /* steals err */
    return body;
}

int sp_http_reply_error(sp_http_req *req, int code, const char *path, json_t *extra,
                        const char *fmt, ...)
{
    unsigned st = sp_http_error_status(code, NULL);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body = error_body(code, path, extra, msg); /* extra is stolen */
    /* 501 is a transfer coding the client chose, not a fault of ours. */
    if (st >= 500 && st != 501)
        sp_log_kv(SP_LOG_ERROR, "request failed", "method", req->method, "path", req->path, "error",
                  msg, NULL);
    if (code == SP_EUNAUTH)
        sp_http_add_header(req, "WWW-Authenticate", "Bearer realm=\"stampede\"");
    return sp_http_reply_json(req, st, body);
}

/* ---- Routing ---- */

/*
 * Matches path against pattern. *literal gets the number of literal segments (the route's
 * specificity). With req, the :params are captured into it. Returns 1 on a match.
 */
static int match(const char *pat, const char *path, int *literal, sp_http_req *req)
{
    *literal = 0;
    size_t np = 0;
    while (*pat == '/' && *path == '/') {
        pat++;
        path++;
        const char *pe = strchrnul(pat, '/');
        const char *se = strchrnul(path, '/');
        size_t pl = (size_t)(pe - pat), sl = (size_t)(se - path);
        if (pl == 1 && pat[0] == '*' && *pe == '\0') {
            if (*path == '\0')
                return 0;
            if (req && np < SP_HTTP_MAX_PARAMS) {
                req->pnames[np] = pat;
                req->pnlens[np] = 1;
                req->pvals[np++] = sp_strdup(path);
                req->nparams = np;
            }
            return 1;
        }
        if (pl > 0 && pat[0] == ':') {
            if (sl == 0 || np == SP_HTTP_MAX_PARAMS)
                return 0;
            if (req) {
                req->pnames[np] = pat + 1;
                req->pnlens[np] = pl - 1;
                req->pvals[np] = sp_strndup(path, sl);
                req->nparams = np + 1;
            }
            np++;
        } else {
            if (pl != sl || memcmp(pat, path, pl) != 0)
                return 0;
            (*literal)++;
        }
        pat = pe;
        path = se;
    }
    return *pat == '\0' && *path == '\0';
}

static int method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* Finds the route for (method, path). Returns it, or NULL with *path_known telling a 405
 * from a 404 and allow[] listing the methods the path has. */
static const sp_http_route *route_find(const sp_http_server *srv, const char *method,
                                       const char *path, int *path_known, sp_buf *allow)
{
    int best = -1;
    for (size_t i = 0; i < srv->nroutes; i++) {
        int lit;
        if (match(srv->routes[i].pattern, path, &lit, NULL) && lit > best)
            best = lit;
    }
    *path_known = best >= 0;
    const sp_http_route *found = NULL;
    for (size_t i = 0; i < srv->nroutes; i++) {
        const sp_http_route *r = &srv->routes[i];
        int lit;
        if (!match(r->pattern, path, &lit, NULL) || lit != best)
            continue;
        if (!found && method_matches(r->method, method))
            found = r;
        if (allow->len)
            sp_buf_adds(allow, ", ");
        sp_buf_adds(allow, r->method);
        if (strcmp(r->method, "GET") == 0)
            sp_buf_adds(allow, ", HEAD");
    }
    return found;
}

/* ---- Access control ---- */

static int is_loopback_peer(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

/*
 * Whether a Host header value (or an Origin's authority) names this server: one of its
 * loopback names or its listen address, with its port. A browser tricked by DNS rebinding
 * sends the attacker's name here, so only our own names pass.
 */
static int host_is_ours(const sp_http_access *a, const char *host, uint16_t want_port)
{
    char name[256];
    const char *port;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end || (size_t)(end - host - 1) >= sizeof name)
            return 0;
        memcpy(name, host + 1, (size_t)(end - host - 1));
        name[end - host - 1] = '\0';
        port = end + 1;
    } else {
        const char *colon = strrchr(host, ':');
        size_t n = colon ? (size_t)(colon - host) : strlen(host);
        if (n >= sizeof name)
            return 0;
        memcpy(name, host, n);
        name[n] = '\0';
        port = colon ? colon : "";
    }
    char want[16];
    snprintf(want, sizeof want, ":%u", (unsigned)want_port);
    /* No port: the scheme's default, which depends on whether TLS is in front of us. */
    if (strcmp(port, want) != 0 &&
        !((want_port == 80 || want_port == 443 || a->auth) && port[0] == '\0'))
        return 0;
    return strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 ||
           strcmp(name, "::1") == 0 || (a->listen_host && strcasecmp(name, a->listen_host) == 0) ||
           sp_auth_is_server_name(a->auth, name);
}

/* Whether host (a Host header) is the authority of the public URL, with or without a port:
 * a proxy may pass on the name users typed ($host drops the port, $http_host keeps it). */
static int host_is_public(const sp_http_access *a, const char *host)
{
    if (!a->public_url || !a->public_url[0])
        return 0;
    const char *auth = strstr(a->public_url, "://");
    if (!auth)
        return 0;
    auth += 3;
    size_t hn = strlen(host);
    const char *pend = auth[0] == '[' ? strchr(auth, ']') : strchr(auth, ':');
    size_t an = pend ? (size_t)(pend - auth) + (auth[0] == '[') : strlen(auth);
    if (strcasecmp(host, auth) == 0)
        return 1;
    /* The name alone, or the name with whatever port the proxy appended. */
    return hn >= an && strncasecmp(host, auth, an) == 0 && (host[an] == '\0' || host[an] == ':');
}

/*
 * Whether an Origin ("scheme://host[:port]") is a page of ours. Its scheme counts: on the port
 * the server listens on, a page is http:// when the server speaks plain HTTP there and
 * https:// when it speaks TLS, so "https://127.0.0.1:8484" is no page of a plain server on
 * 8484 (nor "http://..." of a TLS one). An origin on another port (the scheme's default, 80 or
 * 443, as a proxy in front publishes it) is ours by its name, as host_is_ours() says, or when
 * it is exactly the public URL.
 */
static int origin_is_ours(const sp_http_access *a, const char *origin)
{
    if (a->public_url && a->public_url[0] && strcasecmp(origin, a->public_url) == 0)
        return 1;
    uint16_t port = a->origin_port ? a->origin_port : a->port;
    int https;
    const char *authority;
    if (strncmp(origin, "http://", 7) == 0) {
        https = 0;
        authority = origin + 7;
    } else if (strncmp(origin, "https://", 8) == 0) {
        https = 1;
        authority = origin + 8;
    } else {
        return 0; /* "null" (sandboxed frames, file:) and anything else */
    }
    /* The port the page is on: the one it names, else its scheme's default. */
    const char *colon = authority[0] == '[' ? strstr(authority, "]:") : strrchr(authority, ':');
    if (colon && authority[0] == '[')
        colon++;
    unsigned long named = https ? 443 : 80;
    if (colon) {
        char *end;
        errno = 0;
        named = strtoul(colon + 1, &end, 10);
        if (errno || end == colon + 1 || *end || named > 65535)
            return 0;
    }
    if (named == port && https != (a->tls != 0))
        return 0;
    return host_is_ours(a, authority, port);
}

static void set_principal(sp_http_principal *who, const char *user, const char *role,
                          unsigned perms)
{
    snprintf(who->user, sizeof who->user, "%s", user);
    snprintf(who->role, sizeof who->role, "%s", role);
    who->perms = perms;
    who->name = who->user;
}

static const char *perm_word(sp_perm p)
{
    return p == SP_PERM_WRITE   ? "write"
           : p == SP_PERM_RUN   ? "run"
           : p == SP_PERM_ADMIN ? "admin"
                                : "read";
}

static int decide(const sp_http_access *a, sp_perm perm, sp_http_principal *who, char *msg,
                  size_t msglen)
{
    /* Without a Host nothing says which server the client meant (RFC 9112 3.2: 400). */
    if (!a->host) {
        snprintf(msg, msglen, "the request has no Host header");
        return SP_EINVAL;
    }
    if (!host_is_ours(a, a->host, a->port) && !host_is_public(a, a->host)) {
        snprintf(msg, msglen, "Host '%.200s' is not a name of this server", a->host);
        return SP_EFORBIDDEN;
    }
    /* Browsers send Origin on cross-site POSTs and on every WebSocket handshake; a page on
     * another site must not act through the user's browser. */
    int safe = strcmp(a->method, "GET") == 0 || strcmp(a->method, "HEAD") == 0;
    if ((!safe || a->websocket) && a->origin && !origin_is_ours(a, a->origin)) {
        snprintf(msg, msglen, "cross-origin request from '%.200s' refused", a->origin);
        return SP_EFORBIDDEN;
    }

    if (!sp_auth_enabled(a->auth)) {
        /* --no-auth (or no accounts at all): the server listens on loopback only, and every
         * loopback client may do everything. */
        if (is_loopback_peer(a->peer))
            set_principal(who, "local", "admin", ALL_PERMS);
    } else {
        sp_auth_who w;
        char why[256] = "";
        int rc = sp_auth_identify(a->auth, a->authorization, a->cookie, &w, why, sizeof why);
        /* Identifying only reads (what it writes may be missed), so a full disk does not stop
         * it; a database that cannot be read leaves nobody to trust. */
        if (rc == SP_EIO || rc == SP_EUNAVAILABLE || rc == SP_EFULL) {
            snprintf(msg, msglen, "%s", why);
            return SP_EUNAVAILABLE;
        }
        if (rc == SP_EUNAUTH && perm != SP_PERM_PUBLIC) {
            snprintf(msg, msglen, "%s", why);
            return SP_EUNAUTH;
        }
        /* An agent token is known but may do nothing here (auth.h). */
        if (rc == SP_EFORBIDDEN) {
            snprintf(msg, msglen, "%s", why);
            return SP_EFORBIDDEN;
        }
        /* On a public route, a stale cookie or token is no reason to refuse the login page. */
        if (rc == 0) {
            set_principal(who, w.user, w.role, w.perms);
            /* Browsers send Origin on every WebSocket handshake: a cookie without one did not
             * come from a page of ours. (A Bearer token is not sent by browsers on their own.) */
            if (w.by_session && a->websocket && !a->origin) {
                snprintf(msg, msglen, "a WebSocket upgrade with a session cookie must send Origin");
                return SP_EFORBIDDEN;
            }
            /* A cookie is sent by the browser whoever made the page that asks; only our
             * pages know the session's CSRF token. */
            if (w.by_session && !safe && !a->websocket &&
                (!a->csrf || !sp_auth_equal(a->csrf, w.csrf))) {
                snprintf(msg, msglen, "%s X-CSRF-Token header (the csrf_token of the login)",
                         a->csrf ? "wrong" : "missing");
                return SP_EFORBIDDEN;
            }
        }
    }

    if (perm == SP_PERM_PUBLIC)
        return 0;
    if (who->perms == 0) {
        snprintf(msg, msglen,
                 "authentication required: log in, or send Authorization: Bearer "
                 "<token>");
        return SP_EUNAUTH;
    }
    if ((who->perms & (unsigned)perm) != (unsigned)perm) {
        snprintf(msg, msglen, "'%s' (role %s) may not do this: it needs the %s permission",
                 who->name, who->role[0] ? who->role : "none", perm_word(perm));
        return SP_EFORBIDDEN;
    }
    return 0;
}

int sp_http_access_check(const sp_http_access *a, sp_perm perm, sp_http_principal *who, char *msg,
                         size_t msglen)
{
    memset(who, 0, sizeof *who);
    who->name = "anonymous";
    int rc = decide(a, perm, who, msg, msglen);
    /* The dashboard asks who it is on every load, the login page included: "not signed in"
     * there is an answer, and would otherwise write a row for every visit. */
    int quiet = rc == SP_EUNAUTH && a->probe && !a->authorization;
    if (rc && a->auth && rc != SP_EUNAVAILABLE && !quiet) {
        char object[320];
        snprintf(object, sizeof object, "%s %.300s", a->websocket ? "WEBSOCKET" : a->method,
                 a->path ? a->path : "");
        sp_auth_audit_denied(a->auth, who->user[0] ? who->user : "-", a->address, object, msg);
    }
    return rc;
}

int sp_http_authorize(sp_http_req *req, sp_perm perm, char *msg, size_t msglen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    /* The port the client connected to, from the socket itself: race-free even while the
     * server is starting on a port chosen by the kernel. */
    uint16_t port = 0;
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (fdi && getsockname(fdi->connect_fd, (struct sockaddr *)&local, &llen) == 0) {
        if (local.ss_family == AF_INET)
            port = ntohs(((const struct sockaddr_in *)(const void *)&local)->sin_port);
        else if (local.ss_family == AF_INET6)
            port = ntohs(((const struct sockaddr_in6 *)(const void *)&local)->sin6_port);
    }
    req->address[0] = '\0';
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                      req->address, sizeof req->address);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      req->address, sizeof req->address);
    }
    sp_http_access a = {
        .peer = ci ? ci->client_addr : NULL,
        .method = req->method,
        .host = sp_http_header(req, "Host"),
        .origin = sp_http_header(req, "Origin"),
        .authorization = sp_http_header(req, "Authorization"),
        .cookie = sp_http_header(req, "Cookie"),
        .websocket = 0,
        .listen_host = req->srv->host,
        .port = port,
        .public_url = req->srv->public_url,
        .tls = req->srv->tls,
        .auth = req->srv->auth,
        .csrf = sp_http_header(req, "X-CSRF-Token"),
        .path = req->path,
        .address = req->address,
        .probe = req->route && (req->route->flags & SP_HTTP_PROBE),
    };
    return sp_http_access_check(&a, perm, &req->principal, msg, msglen);
}

/* ---- Framing: what libmicrohttpd lets through and a request must not have ---- */

/* The mark on_uri() leaves as a request's context when its query had too many arguments;
 * on_request() then makes the real context and refuses the request (check_framing). */
static char too_many_args_mark;

/*
 * libmicrohttpd's URI log callback: it gets the request line's URI before the query is parsed.
 * libmicrohttpd 0.9.75 keeps every query argument in the connection's memory
 * (SP_HTTP_CONN_MEMORY); when they do not fit (about 470 short ones) it logs a 431, then loses
 * that answer as it goes on reading the headers, and the connection hangs without an answer
 * until it times out. So the arguments are counted here first. Past SP_HTTP_MAX_QUERY_ARGS the
 * query is emptied just after its '?': in 0.9.75 uri is the connection's own buffer, which it
 * parses after this call, so nothing overflows; the request is refused with 414 once its
 * headers are in. (In a libmicrohttpd that passes a copy, the cut changes nothing and the 414
 * still comes, as long as the arguments fit.)
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    SP_UNUSED(cls);
    SP_UNUSED(conn);
    char *q = uri ? strchr(uri, '?') : NULL;
    if (!q || !q[1])
        return NULL;
    size_t n = 1;
    for (const char *p = q + 1; *p; p++)
        n += *p == '&';
    if (n <= SP_HTTP_MAX_QUERY_ARGS)
        return NULL;
    q[1] = '\0';
    return &too_many_args_mark;
}

typedef struct framing {
    unsigned host, length, coding; /* how many Host, Content-Length, Transfer-Encoding lines */
    const char *coding_value;      /* the first Transfer-Encoding */
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    SP_UNUSED(kind);
    framing *f = cls;
    if (strcasecmp(key, "Host") == 0)
        f->host++;
    else if (strcasecmp(key, "Content-Length") == 0)
        f->length++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0 && f->coding++ == 0)
        f->coding_value = value;
    return MHD_YES;
}

/*
 * A request that could be read two ways is refused before anything else looks at it.
 * libmicrohttpd 0.9.75 keeps every header line, but answers lookups with the first of a name:
 * with two Host headers only the first would be checked (a proxy may have routed by the
 * other), with two Content-Length headers the first frames the body (request smuggling plays
 * on the difference), and a Transfer-Encoding other than chunked makes it read the body until
 * the connection closes. RFC 9112 sections 3.2, 6.1 and 6.3: no Host, two of them, two lengths,
 * or a length with a coding are 400; an unknown coding is 501. MHD_HEADER_KIND iterates every
 * line, duplicates included. Returns 0 or the code, with the reason in msg.
 */
static int check_framing(sp_http_req *req, char *msg, size_t msglen)
{
    if (req->too_many_args) {
        snprintf(msg, msglen, "more than %u query arguments", (unsigned)SP_HTTP_MAX_QUERY_ARGS);
        return SP_EURI;
    }
    framing f = {0, 0, 0, NULL};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_framing, &f);
    const char *what = f.host == 0            ? "the request has no Host header"
                       : f.host > 1           ? "more than one Host header"
                       : f.length > 1         ? "more than one Content-Length header"
                       : f.coding > 1         ? "more than one Transfer-Encoding header"
                       : f.coding && f.length ? "both Content-Length and Transfer-Encoding"
                                              : NULL;
    if (what) {
        snprintf(msg, msglen, "%s", what);
        return SP_EINVAL;
    }
    /* libmicrohttpd's own test: chunked, in any case, and nothing else. */
    if (f.coding && strcasecmp(f.coding_value, "chunked") != 0) {
        snprintf(msg, msglen,
                 "Transfer-Encoding '%.100s' is not supported: send the body chunked or with a "
                 "Content-Length",
                 f.coding_value);
        return SP_ENOTIMPL;
    }
    return 0;
}

/*
 * Writes the 413 of a body past the cap on the connection's socket, at once. libmicrohttpd
 * 0.9.75 takes a response before it reads a body or after the whole body is in, never in
 * between (MHD_queue_response refuses it), so a chunked body that passes the cap would be
 * answered only once it ends, and one that never ends never. The answer says
 * "Connection: close", the socket's sending side is shut after it, and what the client still
 * sends is read and dropped (up to 4 times the cap, then the connection is closed), so that
 * the client is not reset before it reads the answer. Plain HTTP only: over TLS the bytes must
 * go through libmicrohttpd's session, so there the 413 comes when the body ends
 * (docs/security.md; a proxy in front answers at once).
 */
static void answer_now(sp_http_req *req)
{
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (req->srv->tls || !fdi)
        return;
    char msg[128];
    snprintf(msg, sizeof msg, "body is larger than the limit of %u bytes",
             (unsigned)SP_HTTP_MAX_BODY);
    json_t *body = error_body(SP_ELIMIT, "", NULL, msg);
    char *text = json_dumps(body, JSON_COMPACT); /* ours to free */
    json_decref(body);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    unsigned status = sp_http_error_status(SP_ELIMIT, NULL);
    sp_buf out;
    sp_buf_init(&out, 4096);
    sp_buf_addf(&out,
                "HTTP/1.1 %u %s\r\nDate: %s\r\nConnection: close\r\n"
                "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                status, MHD_get_reason_phrase_for(status), date, strlen(text) + 1);
    for (size_t i = 0; i < SP_ARRAY_LEN(common_headers); i++)
        sp_buf_addf(&out, "%s: %s\r\n", common_headers[i][0], common_headers[i][1]);
    for (size_t i = 0; i < SP_ARRAY_LEN(api_headers); i++)
        sp_buf_addf(&out, "%s: %s\r\n", api_headers[i][0], api_headers[i][1]);
    sp_buf_addf(&out, "\r\n%s\n", text);
    free(text);
    /* The socket's buffer is empty (nothing else is sent while a body is read), so the whole
     * answer goes at once; should it not, the client gets what went, then the end. */
    for (size_t off = 0; off < out.len;) {
        ssize_t n = send(fdi->connect_fd, out.p + off, out.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    sp_buf_release(&out);
    shutdown(fdi->connect_fd, SHUT_WR);
    req->status = status;
    req->answered = 1;
}

/* ---- Dispatch ---- */

/* Whether a Content-Type value is application/json, with no charset or UTF-8. */
static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    static const char want[] = "application/json";
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return 0;
    const char *rest = ct + sizeof want - 1;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest == '\0')
        return 1;
    if (*rest != ';')
        return 0;
    const char *cs = strcasestr(rest, "charset=");
    if (!cs)
        return 1;
    cs += 8;
    if (*cs == '"')
        cs++;
    return strncasecmp(cs, "utf-8", 5) == 0;
}

/* The checks made as soon as the headers are in: route, access, body headers. Replies at once
 * when one fails; libmicrohttpd then skips the body and closes the connection. */
static void begin(sp_http_req *req)
{
    char msg[512];
    sp_buf allow;
    sp_buf_init(&allow, 256);
    int rc = check_framing(req, msg, sizeof msg);
    if (rc) {
        sp_http_reply_error(req, rc, "", NULL, "%s", msg);
        goto out;
    }
    int known;
    const sp_http_route *r = route_find(req->srv, req->method, req->path, &known, &allow);
    if (!r) {
        if (known) {
            sp_http_add_header(req, "Allow", allow.p);
            sp_http_reply_error(req, SP_EMETHOD, "", NULL,
                                "%.16s is not allowed on %.200s (allowed: %s)", req->method,
                                req->path, allow.p);
        } else {
            sp_http_reply_error(req, SP_ENOTFOUND, "", NULL, "no such resource: %.200s", req->path);
        }
        goto out;
    }
    int lit;
    match(r->pattern, req->path, &lit, req);
    req->route = r;

    rc = sp_http_authorize(req, r->perm, msg, sizeof msg);
    if (rc) {
        sp_http_reply_error(req, rc, "", NULL, "%s", msg);
        goto out;
    }
    if (r->flags & SP_HTTP_JSON_BODY) {
        const char *ct = sp_http_header(req, "Content-Type");
        if (!is_json_type(ct)) {
            sp_http_reply_error(req, SP_EMEDIA, "", NULL,
                                "expected Content-Type: application/json, got %.100s",
                                ct ? ct : "none");
            goto out;
        }
    }
    /* Any route: a body announced over the cap is refused before it is read. */
    const char *cl = sp_http_header(req, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > SP_HTTP_MAX_BODY) {
            sp_http_reply_error(req, SP_ELIMIT, "", NULL,
                                "body is larger than the limit of %u bytes",
                                (unsigned)SP_HTTP_MAX_BODY);
            goto out;
        }
    }
out:
    sp_buf_release(&allow);
}

/* Runs once the whole request is in. */
static void finish(sp_http_req *req)
{
    const sp_http_route *r = req->route;
    char msg[512];
    if (req->too_large) {
        sp_http_reply_error(req, SP_ELIMIT, "", NULL, "body is larger than the limit of %u bytes",
                            (unsigned)SP_HTTP_MAX_BODY);
        return;
    }
    if (r->flags & SP_HTTP_JSON_BODY) {
        int rc = sp_json_parse(req->body.p, req->body.len, SP_HTTP_MAX_DEPTH, &req->json, msg,
                               sizeof msg);
        if (rc) {
            sp_http_reply_error(req, rc, "", NULL, "%s", msg);
            return;
        }
    }
    int rc = r->fn(req);
    if (req->status)
        return;
    if (rc == 0) {
        sp_log_kv(SP_LOG_ERROR, "handler sent no response", "path", req->path, NULL);
        rc = SP_ESYS;
    }
    sp_http_reply_error(req, rc, "", NULL, "%s", sp_http_error_message(rc));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    SP_UNUSED(version);
    sp_http_server *srv = cls;
    sp_http_req *req = *con_cls;
    if (!req || req == (void *)&too_many_args_mark) {
        int too_many_args = req != NULL;
        req = sp_calloc(1, sizeof(*req));
        req->too_many_args = too_many_args;
        req->srv = srv;
        req->conn = conn;
        req->method = sp_strdup(method);
        req->path = sp_strdup(url);
        req->t0_us = sp_now_us();
        sp_buf_init(&req->body, SP_HTTP_MAX_BODY);
        *con_cls = req; /* freed in on_completed */
        begin(req);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        /* Bodies are kept only for routes that take one, and on any route only up to the cap;
         * past it the 413 is written at once (answer_now) and the rest is read and dropped. */
        req->body_bytes += n;
        if (!req->too_large && req->body_bytes > SP_HTTP_MAX_BODY) {
            req->too_large = 1;
            sp_buf_release(&req->body);
            answer_now(req);
        } else if (!req->too_large && req->route && (req->route->flags & SP_HTTP_JSON_BODY)) {
            sp_buf_add(&req->body, upload_data, n); /* within the cap: cannot fail */
        }
        if (req->too_large) {
            /* Dropping bytes is cheap, but not forever: a client that goes on sending far
             * past the cap loses its connection. */
            req->dropped += n;
            if (req->dropped > (uint64_t)SP_HTTP_MAX_BODY * 4)
                return MHD_NO;
        }
        return MHD_YES;
    }
    /* The whole body came after the 413 was written on the socket: nothing more to say. */
    if (req->answered)
        return MHD_NO;
    if (req->status)
        return MHD_YES;
    if (!req->route)
        return MHD_NO; /* begin() could not queue its answer */
    finish(req);
    return req->status ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    SP_UNUSED(cls);
    SP_UNUSED(conn);
    sp_http_req *req = *con_cls;
    *con_cls = NULL;
    /* The mark alone: the request ended before libmicrohttpd called on_request (it answered
     * a malformed request itself). */
    if (!req || req == (void *)&too_many_args_mark)
        return;
    char status[16], ms[32];
    snprintf(status, sizeof status, "%u", req->status);
    uint64_t us = sp_now_us() - req->t0_us;
    snprintf(ms, sizeof ms, "%.3f", (double)us / 1000.0);
    sp_log_kv(SP_LOG_INFO, "request", "method", req->method, "path", req->path, "status", status,
              "ms", ms, "who", req->principal.name, "end",
              toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted", NULL);
    req_free(req);
}

/* ---- Server ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decodes the path and query values in place. Unlike libmicrohttpd's own decoder, a
 * "%00" is left encoded: decoded, it would end the C string early and "/assets/app.js%00.png"
 * would be served as "/assets/app.js". Left as is, it matches no route and no file.
 */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    SP_UNUSED(cls);
    SP_UNUSED(conn);
    char *w = s;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* The listen address: cfg->host must be a numeric IPv4 or IPv6 address. Fills the storage
 * *sa points into and adds MHD_USE_IPv6 to *flags for an IPv6 one. */
static int listen_addr(const sp_http_config *cfg, struct sockaddr_storage *ss,
                       const struct sockaddr **sa, unsigned *flags, char *err, size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
    if (inet_pton(AF_INET, cfg->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(cfg->port);
    } else if (inet_pton(AF_INET6, cfg->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(cfg->port);
        *flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "'%s' is not a numeric IPv4 or IPv6 address", cfg->host);
        return SP_EINVAL;
    }
    *sa = (const struct sockaddr *)ss;
    return 0;
}

/* The Content-Security-Policy of dashboard pages (a new string): the dashboard may only load
 * its own files and talk to this server and its live stream. */
static char *page_csp(const sp_http_config *cfg)
{
    /* The live stream by every name of the server: the loopback names, the listen address
     * and each --server-name (also as wss:// without a port, as a TLS proxy serves it). */
    sp_buf csp;
    sp_buf_init(&csp, 16u << 10);
    unsigned lp = cfg->live_port;
    sp_buf_addf(&csp,
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self' ws://127.0.0.1:%u ws://localhost:%u",
                lp, lp);
    /* An IPv6 literal (ws://[::1]:port) is not valid CSP source syntax: browsers report it
     * on every page and ignore it, so IPv6 listen addresses are reached by a name. */
    if (strcmp(cfg->host, "127.0.0.1") != 0 && !strchr(cfg->host, ':'))
        sp_buf_addf(&csp, " ws://%s:%u", cfg->host, lp);
    const char *const *names = NULL;
    size_t nn = sp_auth_server_names(cfg->auth, &names);
    for (size_t i = 0; i < nn; i++)
        sp_buf_addf(&csp, " ws://%s:%u wss://%s:%u wss://%s", names[i], lp, names[i], lp, names[i]);
    /* Behind a reverse proxy: where it publishes the stream (--live-url). */
    if (cfg->live_url)
        sp_buf_addf(&csp, " %.400s", cfg->live_url);
    sp_buf_adds(&csp, "; object-src 'none'; base-uri 'none'; form-action 'self'; "
                      "frame-ancestors 'none'");
    return sp_buf_detach(&csp, NULL);
}

/* TLS, when asked for: libmicrohttpd does it with GnuTLS, when it was built with it. Fills
 * tls[0..1] and adds MHD_USE_TLS to *flags; leaves them alone for plain HTTP. */
static int tls_options(const sp_http_config *cfg, struct MHD_OptionItem tls[2], unsigned *flags,
                       char *err, size_t errlen)
{
    if (!cfg->tls_cert && !cfg->tls_key)
        return 0;
    if (!cfg->tls_cert || !cfg->tls_key) {
        snprintf(err, errlen, "TLS needs both a certificate and a key");
        return SP_EINVAL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen,
                 "this libmicrohttpd was built without TLS: put a reverse proxy "
                 "in front of stampede instead (docs/security.md)");
        return SP_EINVAL;
    }
    *flags |= MHD_USE_TLS;
    /* libmicrohttpd keeps the pointers: the caller's PEM text outlives the daemon. */
    tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert};
    tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key};
    return 0;
}

int sp_http_server_new(sp_http_server **out, const sp_http_config *cfg, const sp_http_route *routes,
                       size_t nroutes, void *app, char *err, size_t errlen)
{
    *out = NULL;
    sp_http_server *srv = sp_calloc(1, sizeof(*srv));
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->app = app;
    snprintf(srv->host, sizeof srv->host, "%s", cfg->host);
    snprintf(srv->public_url, sizeof srv->public_url, "%s", cfg->public_url ? cfg->public_url : "");
    srv->auth = cfg->auth;

    struct sockaddr_storage ss;
    const struct sockaddr *sa = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    int rc = listen_addr(cfg, &ss, &sa, &flags, err, errlen);
    if (rc)
        goto out;
    /* Set before the daemon starts: worker threads read it from their first request. */
    srv->page_csp = page_csp(cfg);
    struct MHD_OptionItem tls[3] = {
        {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    rc = tls_options(cfg, tls, &flags, err, errlen);
    if (rc)
        goto out;
    srv->tls = (flags & MHD_USE_TLS) != 0;
    srv->starter = pthread_self();
    srv->mhd = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, on_request, srv,
        /* First, so that every later message goes through it. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads ? cfg->threads : SP_HTTP_THREADS),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SP_HTTP_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)SP_HTTP_CONN_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)SP_HTTP_PER_IP_LIMIT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SP_HTTP_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (!srv->mhd) {
        snprintf(err, errlen, "cannot listen on %s port %u: %s", cfg->host, (unsigned)cfg->port,
                 srv->start_err[0] ? srv->start_err : "libmicrohttpd could not start");
        rc = SP_ESYS;
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    *out = srv;
    srv = NULL;
out:
    if (srv)
        sp_http_server_free(srv);
    return rc;
}

void sp_http_server_free(sp_http_server *srv)
{
    if (!srv)
        return;
    if (srv->mhd)
        MHD_stop_daemon(srv->mhd);
    free(srv->page_csp);
    free(srv);
}

uint16_t sp_http_server_port(const sp_http_server *srv)
{
    return srv->port;
}

/* ---- The audit log ---- */

void sp_http_audit(sp_http_req *req, const char *action, const char *object, const char *detail)
{
    sp_auth *a = sp_http_req_auth(req);
    if (!a)
        return;
    const sp_http_principal *p = sp_http_req_principal(req);
    sp_auth_audit(a, p->name, sp_http_req_address(req), action, object, detail);
}
