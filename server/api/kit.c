/*
 * kit.c - see kit.h.
 */
#include "api/kit.h"

#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "base/json.h"
#include "base/log.h"

static struct sp_api *app(sp_http_req *req)
{
    return sp_http_req_app(req);
}

/* ---- Routes ---- */

/* The HTTP layer passes the application's flag bits through and never reads them. */
_Static_assert((SP_API_STORE & SP_HTTP_APP_FLAGS) == SP_API_STORE,
               "SP_API_STORE must lie in the bits the HTTP layer leaves to the application");

sp_http_route sp_kit_http_route(const sp_api_route *r)
{
    return (sp_http_route){.method = r->method,
                           .pattern = r->pattern,
                           .fn = sp_kit_dispatch,
                           .perm = r->perm,
                           .flags = r->flags,
                           .summary = r->summary,
                           .ok_status = r->ok_status,
                           .query = r->query,
                           .ud = r};
}

int sp_kit_dispatch(sp_http_req *req)
{
    const sp_api_route *r = sp_http_req_route_ud(req);
    if (!r)
        return SP_ESYS; /* a route not built by sp_kit_http_route: a bug, answered 500 */
    sp_store *s = NULL;
    int rc = 0;
    if (r->flags & SP_API_STORE) {
        rc = sp_kit_store(req, &s);
        if (rc)
            return rc > 0 ? 0 : rc;
    }
    rc = r->fn(req, s);
    sp_kit_store_give(req, s);
    return rc > 0 ? 0 : rc;
}

/* ---- The shared state ---- */

struct sp_runs *sp_kit_runs(sp_http_req *req)
{
    return app(req)->runs;
}

struct sp_agents *sp_kit_agents(sp_http_req *req)
{
    return app(req)->agents;
}

struct sp_sched *sp_kit_sched(sp_http_req *req)
{
    return app(req)->sched;
}

struct sp_notify *sp_kit_notify(sp_http_req *req)
{
    return app(req)->notify;
}

const char *sp_kit_files_dir(sp_http_req *req)
{
    return app(req)->files_dir;
}

const char *sp_kit_web_root(sp_http_req *req)
{
    return app(req)->web_root;
}

int sp_kit_store_take(sp_http_req *req, sp_store **out)
{
    char err[256] = "";
    int rc = sp_pool_take(app(req)->pool, out, err, sizeof err);
    if (rc) {
        *out = NULL;
        sp_log_kv(SP_LOG_ERROR, "cannot open the database", "error", err, NULL);
    }
    return rc;
}

int sp_kit_store(sp_http_req *req, sp_store **out)
{
    int rc = sp_kit_store_take(req, out);
    if (rc == 0)
        return 0;
    if (rc == SP_EFULL)
        return sp_kit_answered(
            sp_http_reply_error(req, rc, "", NULL, "%s", sp_http_error_message(rc)));
    return sp_kit_answered(sp_http_reply_error(
        req, SP_EUNAVAILABLE, "", NULL, "the database cannot be opened (see the server log)"));
}

void sp_kit_store_give(sp_http_req *req, sp_store *s)
{
    sp_pool_give(app(req)->pool, s);
}

int sp_kit_answered(int reply_rc)
{
    return reply_rc ? reply_rc : SP_KIT_ANSWERED;
}

/* ---- Ids and numbers ---- */

int sp_kit_parse_uint(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s || min < 0 || min > max)
        return SP_EINVAL;
    int64_t n = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return SP_EINVAL;
        int d = *p - '0';
        if (n > (max - d) / 10)
            return SP_EINVAL; /* beyond max, checked before n * 10 + d could overflow */
        n = n * 10 + d;
    }
    if (n < min || n > max) /* (max - d) / 10 rounds towards 0 when max < d */
        return SP_EINVAL;
    *out = n;
    return 0;
}

int sp_kit_parse_id(const char *s, int64_t max, int64_t *out)
{
    if (!s || s[0] == '0')
        return SP_EINVAL;
    return sp_kit_parse_uint(s, 1, max, out);
}

int sp_kit_id(sp_http_req *req, const char *param, const char *what, int64_t *out)
{
    const char *s = sp_http_param(req, param);
    if (sp_kit_parse_id(s, SP_KIT_ID_MAX, out) == 0)
        return 0;
    return sp_kit_answered(sp_http_reply_error(req, SP_ENOTFOUND, param, NULL,
                                               "no %s with id '%.64s'", what, s ? s : ""));
}

int sp_kit_query_num(sp_http_req *req, const char *name, int64_t min, int64_t max, const char *must,
                     int64_t *v)
{
    const char *s = sp_http_query(req, name);
    if (!s || sp_kit_parse_uint(s, min, max, v) == 0)
        return 0;
    if (must)
        return sp_kit_answered(
            sp_http_reply_error(req, SP_EINVAL, name, NULL, "%s must be %s", name, must));
    return sp_kit_answered(sp_http_reply_error(req, SP_EINVAL, name, NULL,
                                               "%s must be a whole number from %lld to %lld", name,
                                               (long long)min, (long long)max));
}

/* ---- Answers ---- */

int sp_kit_storage_failure(int rc)
{
    return rc == SP_EIO || rc == SP_ESYS || rc == SP_EFULL || rc == SP_EUNAVAILABLE;
}

/* The one answer to a failure of the storage: the cause (SQLite's or the system's words) goes
 * to the log, the client gets the code's status and the table's message (http.h): 503
 * disk_full, 503 unavailable, else 500. */
static int database_failed(sp_http_req *req, int rc, const char *msg)
{
    sp_log_kv(SP_LOG_ERROR, "store", "path", sp_http_req_path(req), "error", msg, NULL);
    if (rc == SP_EFULL || rc == SP_EUNAVAILABLE)
        return sp_kit_answered(
            sp_http_reply_error(req, rc, "", NULL, "%s", sp_http_error_message(rc)));
    return sp_kit_answered(
        sp_http_reply_error(req, rc, "", NULL, "the database failed (see the server log)"));
}

int sp_kit_store_failed(sp_http_req *req, sp_store *s, int rc)
{
    return database_failed(req, rc, s ? sp_store_errmsg(s) : "");
}

int sp_kit_store_error(sp_http_req *req, int rc, const char *path, const char *msg)
{
    if (sp_kit_storage_failure(rc))
        return database_failed(req, rc, msg);
    return sp_kit_answered(
        sp_http_reply_error(req, rc, path, NULL, "%s", msg && *msg ? msg : sp_strerror(rc)));
}

/* prefix + "." + path, or either alone when the other is empty. */
static void joined_path(sp_buf *b, const char *prefix, const char *path)
{
    sp_buf_reset(b);
    sp_buf_addf(b, "%s%s%s", prefix, *prefix && *path ? "." : "", path);
}

json_t *sp_kit_errors_json(const sp_errlist *el, const char *prefix, json_t *into)
{
    if (!prefix)
        prefix = "";
    if (!into)
        into = json_object();
    json_t *list = json_array();
    sp_buf path;
    sp_buf_init(&path, 4096);
    for (size_t i = 0; i < el->n; i++) {
        joined_path(&path, prefix, el->v[i].path);
        json_array_append_new(list, json_pack("{s:o, s:o}", "path", sp_json_string(path.p),
                                              "message", sp_json_string(el->v[i].msg)));
    }
    sp_buf_release(&path);
    json_object_set_new(into, "errors", list); /* steals list */
    if (el->dropped)
        json_object_set_new(into, "errors_dropped", json_integer((json_int_t)el->dropped));
    return into;
}

int sp_kit_reply_errors(sp_http_req *req, const sp_errlist *el, const char *prefix,
                        const char *what)
{
    sp_buf first;
    sp_buf_init(&first, 4096);
    if (el->n)
        joined_path(&first, prefix ? prefix : "", el->v[0].path);
    const char *p = first.p;
    int rc = sp_http_reply_error(req, SP_EDEFINITION, p, sp_kit_errors_json(el, prefix, NULL),
                                 "%s: %s%s%s", what, p, *p ? ": " : "",
                                 el->n ? el->v[0].msg : "invalid");
    sp_buf_release(&first);
    return sp_kit_answered(rc);
}
