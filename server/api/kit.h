/*
 * kit.h - what every REST handler of server/api needs, written once: the route type the
 * handler files register, the pooled store connection of a request, the one id parser, query
 * numbers, and the answers built the same way everywhere (a store failure, 422 with a list of
 * errors).
 *
 * Registration: each handler file (api_tests.c, api_runs.c, ...) exports a const table of
 * sp_api_route and its length (api_runs.h: sp_api_runs_routes, sp_api_runs_nroutes); api.c
 * assembles the tables, in a fixed order, into the sp_http_route table the server serves,
 * every entry dispatched by sp_kit_dispatch() with its sp_api_route as the route's ud. Handler
 * files include this header and their own, never api.h: the include graph goes api.c ->
 * api_*.c -> kit.c -> app.h, pool.h, without a cycle.
 *
 * A request, in order: the HTTP layer matches the route, checks access and the body
 * (server/http/http.h); sp_kit_dispatch() takes a store connection when the route has
 * SP_API_STORE (503 when the database cannot be opened, before the handler runs); the handler
 * runs with it; the connection goes back to the pool whatever the handler did.
 *
 * Handlers and the kit's answering functions: a handler answers with one sp_http_reply_* or
 * sp_kit_* call. A kit function that may answer returns 0 when the handler should go on, and
 * otherwise has answered: it returns SP_KIT_ANSWERED (or the negative code of a reply that
 * could not be queued), which the handler returns as it is. sp_kit_dispatch() turns
 * SP_KIT_ANSWERED into the 0 the HTTP layer expects.
 *
 * Threads: handlers run on libmicrohttpd's workers; every function here may be called from any
 * of them at once. The shared state behind the request (app.h) is read-only while serving.
 */
#ifndef SP_API_KIT_H
#define SP_API_KIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/common.h"
#include "http/http.h"
#include "store/store.h"

#define SP_API_PREFIX "/api/v1"

/* Route flags beside the HTTP layer's (SP_HTTP_JSON_BODY, SP_HTTP_PAGE), in the bits it
 * leaves to the application (SP_HTTP_APP_FLAGS). */
enum {
    SP_API_STORE = 1u << 16, /* the handler gets a pooled store connection for the request */
};

/* A kit function answered the request: the handler returns this (see the top comment). */
#define SP_KIT_ANSWERED 1

struct sp_runs;
struct sp_agents;
struct sp_sched;
struct sp_notify;

/*
 * A REST handler: s is the request's connection on SP_API_STORE routes (borrowed: the kit
 * gives it back after the handler returns), NULL on others. Answers and returns 0 or
 * SP_KIT_ANSWERED, or returns a negative SP_E* code without answering (http.h).
 */
typedef int (*sp_api_handler)(sp_http_req *req, sp_store *s);

/* One route of a handler file: sp_http_route's fields, with an sp_api_handler. */
typedef struct sp_api_route {
    const char *method;
    const char *pattern;
    sp_api_handler fn;
    sp_perm perm;
    unsigned flags; /* SP_HTTP_JSON_BODY, SP_HTTP_PAGE, SP_API_STORE */
    const char *summary;
    unsigned ok_status;
    const char *query;
} sp_api_route;

/* ---- Routes (for api.c) ---- */

/* The HTTP layer's route for r: the same fields, dispatched by sp_kit_dispatch() with r (which
 * must outlive the server: the handler files' tables are static) as its ud. */
sp_http_route sp_kit_http_route(const sp_api_route *r);
/* The sp_http_handler of every API route: runs the route's sp_api_handler as described above. */
int sp_kit_dispatch(sp_http_req *req);

/* ---- The shared state ---- */

/* The run manager (NULL when runs are not enabled). */
struct sp_runs *sp_kit_runs(sp_http_req *req);
/* The agents' registry; NULL when none is set. */
struct sp_agents *sp_kit_agents(sp_http_req *req);
/* The scheduler and the webhooks (NULL when the server runs without them). */
struct sp_sched *sp_kit_sched(sp_http_req *req);
struct sp_notify *sp_kit_notify(sp_http_req *req);
/* DATA_DIR/files: where definitions on this server read their CSV data files. */
const char *sp_kit_files_dir(sp_http_req *req);
/* --web-root (a real path), or NULL when the dashboard is served from the binary only. */
const char *sp_kit_web_root(sp_http_req *req);

/*
 * A pooled connection outside an SP_API_STORE route, for a handler that must not hold one for
 * its whole duration (a try runs for seconds) or answers a failure its own way (health).
 * sp_kit_store_take() fails as sp_pool_take() does, and logs why; sp_kit_store() answers 503
 * itself then ("disk_full" for SP_EFULL, else "unavailable") and returns SP_KIT_ANSWERED. Either
 * way *out is NULL on failure. Give the connection back with sp_kit_store_give() before the handler
 * returns (NULL is ignored).
 */
int sp_kit_store_take(sp_http_req *req, sp_store **out);
int sp_kit_store(sp_http_req *req, sp_store **out);
void sp_kit_store_give(sp_http_req *req, sp_store *s);

/* What a helper that has just answered returns, given the reply's result: SP_KIT_ANSWERED, or
 * the reply's own negative code when it could not be queued. For handler files' own helpers
 * that answer as the kit's do (`return sp_kit_answered(sp_http_reply_error(...));`). */
int sp_kit_answered(int reply_rc);

/* ---- Ids and numbers ---- */

/*
 * The one parser of whole numbers in paths and query strings: s must be decimal digits only
 * (no sign, no '+', no spaces, no other character; not empty) with a value in [min, max]
 * (min >= 0). Leading zeros are accepted ("007" is 7); overflow is refused, never wrapped.
 * Returns 0 with *out, or SP_EINVAL with *out untouched. Pure.
 */
int sp_kit_parse_uint(const char *s, int64_t min, int64_t max, int64_t *out);
/*
 * An id as it appears in a path: sp_kit_parse_uint() in [1, max], and written the one way an
 * id is written, without leading zeros ("01" is not an id: each resource has one URL).
 * Returns 0 with *out, or SP_EINVAL. Pure.
 */
int sp_kit_parse_id(const char *s, int64_t max, int64_t *out);
/* The largest id in a path: 18 digits, within int64 with room to spare. */
#define SP_KIT_ID_MAX INT64_C(999999999999999999)

/* The route's :param as an id in [1, SP_KIT_ID_MAX] (sp_kit_parse_id). Otherwise answers 404
 * {"path": param} "no <what> with id '<param>'" (what: "test", "run"). */
int sp_kit_id(sp_http_req *req, const char *param, const char *what, int64_t *out);

/*
 * An optional query parameter that is a whole number in [min, max] (sp_kit_parse_uint):
 * absent leaves *v untouched and returns 0; valid sets *v and returns 0; anything else answers
 * 400 {"path": name} "<name> must be <must>", or "<name> must be a whole number from <min> to
 * <max>" when must is NULL.
 */
int sp_kit_query_num(sp_http_req *req, const char *name, int64_t min, int64_t max, const char *must,
                     int64_t *v);

/* ---- Answers ---- */

/* Whether rc is a failure of the server's storage, which the client cannot help: SP_EFULL,
 * SP_EUNAVAILABLE, SP_EIO or SP_ESYS (base/errors.h). Pure. */
int sp_kit_storage_failure(int rc);
/*
 * A store call failed with rc in a way the client cannot help (a storage failure, or an
 * unexpected code): logs the store's message (s may be NULL) and answers rc's status, never
 * quoting SQLite to the client: SP_EFULL 503 "disk_full" and SP_EUNAVAILABLE 503 "unavailable"
 * with the table's message (http.h sp_http_error_message), anything else 500 "the database
 * failed (see the server log)". Every route that writes answers a full disk this way.
 */
int sp_kit_store_failed(sp_http_req *req, sp_store *s, int rc);
/*
 * A store call failed with rc and msg (the store's message or the err it filled): a storage
 * failure (sp_kit_storage_failure) as sp_kit_store_failed() (msg logged); any other code
 * (SP_ENOTFOUND, SP_ESTATE: a name in use, SP_EINVAL) is the client's, answered with its
 * status, path and msg (or the code's generic text when msg is empty).
 */
int sp_kit_store_error(sp_http_req *req, int rc, const char *path, const char *msg);

/*
 * Adds el's errors to the object into (NULL: a new one) as "errors": [{"path", "message"}...]
 * and, when some were dropped beyond SP_ERRLIST_MAX, "errors_dropped": N. Each path is
 * prefix + "." + the error's path (prefix "" or NULL: the path alone). Returns into (owned by
 * the caller), ready to pass as the extra of sp_http_reply_error().
 */
json_t *sp_kit_errors_json(const sp_errlist *el, const char *prefix, json_t *into);
/*
 * Answers 422 invalid_definition with every error of el (sp_kit_errors_json with prefix): the
 * first error's path is error.path and the message is "<what>: <path>: <message>" of that
 * first error (the path and its ": " left out when empty).
 */
int sp_kit_reply_errors(sp_http_req *req, const sp_errlist *el, const char *prefix,
                        const char *what);

#endif
