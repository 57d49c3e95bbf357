/*
 * http.h - the HTTP layer of `stampede serve`: a libmicrohttpd daemon, a routing table, the
 * request context handed to route handlers, capped body accumulation, JSON body parsing,
 * JSON responses and the one error format.
 *
 * Calling sequence: the caller (server/api/api.c) owns a static table of sp_http_route and an
 * application pointer; sp_http_server_new() starts listening and serving at once;
 * sp_http_server_free() stops accepting, closes every connection, joins the threads and
 * frees. Handlers run only between those two calls.
 *
 * How a request is handled, in this order, all in http.c:
 *   0. a request that could be read two ways is refused before anything else: more than
 *      SP_HTTP_MAX_QUERY_ARGS query arguments (414), no Host header or two, two Content-Length
 *      or Transfer-Encoding headers, or both (400), a Transfer-Encoding other than chunked
 *      (501). libmicrohttpd answers lookups with the first header of a name, so duplicates
 *      would otherwise pass unseen;
 *   1. the path and method are matched against the table: no path matches -> 404, the path
 *      matches but not the method -> 405 with Allow;
 *   2. sp_http_authorize() -> sp_http_access_check() decides whether the client may use the
 *      route's permission (401/403 otherwise): every route goes through it, before any body
 *      byte is buffered;
 *   3. for routes flagged SP_HTTP_JSON_BODY: Content-Type must be application/json (415); on
 *      every route, Content-Length must not exceed SP_HTTP_MAX_BODY (413, decided before
 *      reading), and a body without a length is refused with 413 as soon as it passes the cap
 *      (written on the socket at once over plain HTTP, when the body ends over TLS: see
 *      answer_now() in http.c); a JSON body is accumulated up to the cap and parsed by
 *      sp_json_parse() (400 naming the problem);
 *   4. the handler runs once, with the whole request, and queues exactly one response.
 * Errors are {"error": {"code", "message", "path"}} with the status that sp_http_reply_error()
 * derives from an SP_E* or SP_HTTP_E* code through sp_http_error_status(), the one table
 * where codes become HTTP statuses. Every response carries X-Content-Type-Options: nosniff; API
 * responses carry Cache-Control: no-store; dashboard pages carry a strict Content-Security-Policy.
 *
 * Threads: libmicrohttpd runs SP_HTTP_THREADS worker threads (an internal epoll loop each);
 * a handler runs on one of them and must not block for long. A request context belongs to the
 * thread running its handler. Handlers of different requests run concurrently, so anything
 * they share through the application pointer must be thread-safe.
 */
#ifndef SP_HTTP_H
#define SP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "auth/auth.h"
#include "base/errors.h"
#include "engine/common.h"

/* Route flags. */
enum {
    SP_HTTP_JSON_BODY = 1 << 0, /* the request must carry a JSON body (415/413/400 checked) */
    SP_HTTP_PAGE = 1 << 1,      /* a dashboard resource: the page CSP, revalidated caching */
    /* A session probe (GET /auth/me: "am I signed in?"): refused for want of credentials, with
     * no Authorization header sent, the answer is "no", not an event for the audit log. A
     * token that is refused is still audited. */
    SP_HTTP_PROBE = 1 << 2,
};
/* The bits of a route's flags left to the application (server/api/kit.h); ignored here. */
#define SP_HTTP_APP_FLAGS 0xffff0000u

typedef struct sp_http_req sp_http_req;
typedef struct sp_http_server sp_http_server;

/*
 * A handler replies with one of the sp_http_reply_* functions and returns 0, or returns a
 * negative code without replying and the layer answers with that code's error (the table's
 * message, sp_http_error_message(); 500 for SP_EIO/SP_ESYS). Returning 0 without a reply is a
 * bug answered with 500.
 */
typedef int (*sp_http_handler)(sp_http_req *req);

typedef struct sp_http_route {
    const char *method;  /* "GET", "POST", "PUT", "DELETE"; GET routes also answer HEAD */
    const char *pattern; /* "/api/v1/tests/:id"; a last segment "*" matches the rest */
    sp_http_handler fn;
    sp_perm perm;
    unsigned flags;
    /* For the OpenAPI description (GET /api/v1/openapi.json), built from this table so that
     * it lists every route: */
    const char *summary; /* one line */
    unsigned ok_status;  /* the status of a successful answer */
    const char *query;   /* query parameters, comma-separated ("page,per_page,q"), or NULL */
    /* The application's own data for this route, handed to its handler through
     * sp_http_req_route_ud() (server/api/kit.c keeps the API handler there); may be NULL. */
    const void *ud;
} sp_http_route;

/* Who made a request, as decided by sp_http_access_check(). */
typedef struct sp_http_principal {
    /* "local" (--no-auth, a loopback client), "anonymous", or this struct's own user[]: valid
     * as long as the struct it points into is not copied (the request's stays in place). */
    const char *name;
    unsigned perms; /* sp_perm bits granted */
    char user[64];  /* the account ("" when none; "local" with --no-auth) */
    char role[16];  /* "admin", "tester", "viewer"; "" when not identified */
} sp_http_principal;

typedef struct sp_http_config {
    const char *host; /* numeric address to listen on (loopback only until issue 6) */
    uint16_t port;
    uint16_t live_port;   /* for the dashboard's CSP connect-src */
    unsigned threads;     /* 0: SP_HTTP_THREADS */
    struct sp_auth *auth; /* accounts and the audit log (server/auth/auth.h); NULL: loopback only */
    const char *tls_cert; /* PEM text of the certificate chain, or NULL: plain HTTP */
    const char *tls_key;  /* PEM text of its private key (with tls_cert) */
    /* Behind a reverse proxy: the public origin ("https://host[:port]", no path), accepted as
     * Host and Origin; and the live stream's public URL, allowed in the CSP. NULL: none. */
    const char *public_url;
    const char *live_url;
} sp_http_config;

/*
 * Starts the daemon: binds cfg->host:cfg->port and serves routes[0..nroutes) (borrowed; the
 * table and app must outlive the server). Routes are tried in order; among patterns that match
 * a path, those with more literal segments win, so "/tests/validate" beats "/tests/:id".
 * On failure returns SP_ESYS (err says why, e.g. the address is in use) or SP_EINVAL (a host
 * that is not a numeric address) and *out is NULL.
 * Call from the main thread.
 */
int sp_http_server_new(sp_http_server **out, const sp_http_config *cfg, const sp_http_route *routes,
                       size_t nroutes, void *app, char *err, size_t errlen);
/* Stops accepting, closes connections, waits for running handlers, frees. NULL is ignored. */
void sp_http_server_free(sp_http_server *srv);
/* The port actually bound (useful when cfg->port was 0). */
uint16_t sp_http_server_port(const sp_http_server *srv);

/*
 * Access control. sp_http_access_check() is the one place that decides who may do what; it
 * looks only at an sp_http_access (what any transport can fill in), so the REST dispatcher
 * (through sp_http_authorize) and the live stream's WebSocket upgrade (in libwebsockets'
 * FILTER_PROTOCOL_CONNECTION callback) take the same decision.
 */
typedef struct sp_http_access {
    const struct sockaddr *peer; /* the client's address; NULL when unknown */
    const char *method;          /* "GET", "POST", ...; "GET" for a WebSocket upgrade */
    const char *host;            /* the Host header, or NULL */
    const char *origin;          /* the Origin header, or NULL */
    const char *authorization;   /* the Authorization header, or NULL (issue 6: Bearer) */
    const char *cookie;          /* the Cookie header, or NULL (issue 6: session) */
    int websocket;               /* a WebSocket upgrade: Origin must be sent and be ours */
    const char *listen_host;     /* the server's own listen address, as configured */
    uint16_t port;               /* the port the client connected to */
    struct sp_auth *auth;        /* accounts (server/auth/auth.h); NULL: loopback clients only */
    const char *csrf;            /* the X-CSRF-Token header, or NULL */
    const char *path;            /* what is asked for, for the audit log; may be NULL */
    const char *address;         /* the client's numeric address, for the audit log */
    uint16_t origin_port;        /* the port Origin must name; 0: port (the live stream's
                                    Origin is the dashboard's, on the HTTP port) */
    const char *public_url;      /* the public origin behind a proxy (--public-url), or NULL */
    int tls;   /* the server speaks TLS on origin_port (or port): an Origin naming that port must
                  then be https://, else http:// */
    int probe; /* a SP_HTTP_PROBE route: see there */
} sp_http_access;

/*
 * Decides whether the client described by a may use a resource needing perm, and fills *who.
 * Returns 0 when allowed, SP_EINVAL (no Host), SP_EUNAUTH (no or bad credentials) or
 * SP_EFORBIDDEN (Host or Origin not ours; a permission the principal lacks), with the reason in
 * msg. In order: Host must be sent and name the server (its listen address, a loopback name or
 * a --server-name: DNS rebinding); a state-changing request's or WebSocket's Origin must be
 * ours, its scheme included (cross-site requests); then the client is identified by an
 * "Authorization: Bearer" token or the sp_session cookie (sp_auth_identify); a cookie-authenticated
 * state-changing request must carry the session's X-CSRF-Token; finally the principal's role must
 * grant perm. Without accounts (a->auth NULL or --no-auth) a loopback client is "local" with every
 * permission. Every refusal is written to the audit log (sp_auth_audit_denied), except a probe's
 * refusal for want of credentials (a->probe, no Authorization header). Thread-safe.
 */
int sp_http_access_check(const sp_http_access *a, sp_perm perm, sp_http_principal *who, char *msg,
                         size_t msglen);

/*
 * sp_http_access_check() for a REST request: called by the dispatcher for every request,
 * before the body is read, with the route's permission; fills the request's principal.
 */
int sp_http_authorize(sp_http_req *req, sp_perm perm, char *msg, size_t msglen);

/* ---- The request, for handlers ---- */

/* The application pointer given to sp_http_server_new(). */
void *sp_http_req_app(const sp_http_req *req);
/* The ud of the route the request matched (see sp_http_route), borrowed from the table. */
const void *sp_http_req_route_ud(const sp_http_req *req);
const char *sp_http_req_method(const sp_http_req *req);
/* The decoded path, without the query string. */
const char *sp_http_req_path(const sp_http_req *req);
/* A :param of the route pattern ("id"), or NULL. For a final "*" segment, the name is "*". */
const char *sp_http_param(const sp_http_req *req, const char *name);
/* A query-string argument (decoded), or NULL. Borrowed until the request ends. */
const char *sp_http_query(const sp_http_req *req, const char *name);
/* A request header (case-insensitive name), or NULL. Borrowed until the request ends. */
const char *sp_http_header(const sp_http_req *req, const char *name);
/* The raw body (NUL-terminated; len in *len) of a SP_HTTP_JSON_BODY route, borrowed. */
const char *sp_http_body(const sp_http_req *req, size_t *len);
/* The parsed body of a SP_HTTP_JSON_BODY route: borrowed, valid until the request ends. */
json_t *sp_http_json(const sp_http_req *req);
const sp_http_principal *sp_http_req_principal(const sp_http_req *req);
/* The client's numeric address ("127.0.0.1", "::1"), "" when unknown. */
const char *sp_http_req_address(const sp_http_req *req);
/* The accounts given in sp_http_config (may be NULL). */
struct sp_auth *sp_http_req_auth(const sp_http_req *req);
/* Whether the server itself serves TLS (--tls-cert): cookies are then marked Secure. */
int sp_http_req_tls(const sp_http_req *req);

/* ---- Replies: each request gets exactly one ---- */

/* Adds a header to the response about to be sent (name and value are copied). CR and LF in
 * the value are refused (SP_EINVAL). At most SP_HTTP_MAX_HEADERS. */
int sp_http_add_header(sp_http_req *req, const char *name, const char *value);
/* Sends body (a reference stolen: the reply owns it and drops it) as application/json. */
int sp_http_reply_json(sp_http_req *req, unsigned status, json_t *body);
/* Sends a status with no body (204). */
int sp_http_reply_empty(sp_http_req *req, unsigned status);
/* Sends static memory that outlives the daemon (MHD_RESPMEM_PERSISTENT: never copied or freed). */
int sp_http_reply_static(sp_http_req *req, unsigned status, const char *content_type,
                         const void *data, size_t len);
/* Sends the open file fd of size bytes; the response owns fd from here on (even on failure). */
int sp_http_reply_fd(sp_http_req *req, int fd, uint64_t size, const char *content_type);
/*
 * Sends {"error": {"code", "message", "path"}} with the status for code (an SP_E* or SP_HTTP_E*
 * code, mapped by sp_http_error_status()). Statuses of 500 and above are also logged. path names
 * the offending field or parameter ("" for the whole request). extra (stolen, may be NULL) is an
 * object whose members are added beside "error" (e.g. the list of definition errors).
 */
int sp_http_reply_error(sp_http_req *req, int code, const char *path, json_t *extra,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The one table from error codes to HTTP statuses: the status and the error body's "code"
 * (*code_name, static; may be NULL) for an SP_E* or SP_HTTP_E* code. Unknown codes, SP_EIO
 * and SP_ESYS are 500 "internal": a server fault, never the client's input. The storage's
 * SP_EFULL and SP_EUNAVAILABLE are 503 "disk_full" and "unavailable" (base/errors.h). */
unsigned sp_http_error_status(int code, const char **code_name);
/* The same table's message for a code when there is nothing more to say (static): what a
 * handler's returned code is answered with, and what a failure of the storage tells the client
 * while its cause goes to the log. */
const char *sp_http_error_message(int code);

/* ---- The audit log ---- */

/*
 * The same for a request: the principal and the client address come from req. NULL a or a
 * server without accounts is a no-op. For handlers of any module.
 */
void sp_http_audit(sp_http_req *req, const char *action, const char *object, const char *detail);

#endif
