/*
 * api_policy.c - the admin routes of the target allowlist and the caps per role:
 *     GET/PUT /api/v1/settings/allowlist   {"entries": ["127.0.0.0/8", "localhost:8090"]}
 *     GET/PUT /api/v1/settings/caps        {"admin": {...}, "tester": {...}, "viewer": {...}}
 * A PUT replaces the whole setting; it is checked first (422 naming each bad entry or field)
 * and nothing is written when it fails. The settings are read again at every run start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "base/json.h"
#include "base/log.h"
#include "http/http.h"
#include "runs/policy.h"
#include "store/store.h"

#define API_PREFIX "/api/v1"

static sp_api *app(sp_http_req *req)
{
    return sp_http_req_app(req);
}

static int take_store(sp_http_req *req, sp_store **s)
{
    char err[256] = "";
    if (sp_api_store_take(app(req), s, err, sizeof err) != 0) {
        *s = NULL;
        sp_log_kv(SP_LOG_ERROR, "cannot open the database", "error", err, NULL);
        return sp_http_reply_error(req, SP_EUNAVAILABLE, "", NULL,
                                   "the database cannot be opened (see the server log)");
    }
    return 0;
}

static int db_failed(sp_http_req *req, sp_store *s)
{
    sp_log_kv(SP_LOG_ERROR, "store", "path", sp_http_req_path(req), "error", sp_store_errmsg(s), NULL);
    return sp_http_reply_error(req, SP_EIO, "", NULL, "the database failed (see the server log)");
}

/* 422 with every problem, {"errors": [{"path", "message"}]}. */
static int reply_errors(sp_http_req *req, const sp_errlist *el, const char *what)
{
    json_t *list = json_array();
    for (size_t i = 0; i < el->n; i++)
        json_array_append_new(list,
                              json_pack("{s:o, s:o}", "path", sp_json_string(el->v[i].path),
                                        "message", sp_json_string(el->v[i].msg)));
    const char *p = el->n ? el->v[0].path : "";
    return sp_http_reply_error(req, SP_EDEFINITION, p, json_pack("{s:o}", "errors", list),
                               "invalid %s: %s%s%s", what, p, *p ? ": " : "",
                               el->n ? el->v[0].msg : "invalid");
}

static int h_allowlist_get(sp_http_req *req)
{
    sp_store *s;
    int rc = take_store(req, &s);
    if (rc || !s)
        return rc;
    json_t *entries = NULL;
    rc = sp_store_allowlist_get(s, &entries);
    if (rc)
        rc = db_failed(req, s);
    else
        rc = sp_http_reply_json(req, 200, json_pack("{s:o}", "entries", entries)); /* steals */
    sp_api_store_give(app(req), s);
    return rc;
}

static int h_allowlist_put(sp_http_req *req)
{
    const json_t *body = sp_http_json(req); /* borrowed */
    sp_errlist el;
    sp_errlist_init(&el);
    int rc;
    if (sp_policy_check_allowlist(body, &el) != 0) {
        rc = reply_errors(req, &el, "allowlist");
        goto out;
    }
    sp_store *s;
    rc = take_store(req, &s);
    if (rc || !s)
        goto out;
    const json_t *entries = json_object_get(body, "entries");
    rc = sp_store_allowlist_set(s, entries);
    if (rc) {
        rc = db_failed(req, s);
    } else {
        char n[16];
        snprintf(n, sizeof n, "%zu", json_array_size(entries));
        sp_log_kv(SP_LOG_INFO, "target allowlist set", "entries", n, "who",
                    sp_http_req_principal(req)->user, NULL);
        /* The entries themselves: who allowed which targets is what the log is for. */
        char *text = json_dumps(entries, JSON_COMPACT); /* ours: free() */
        sp_http_audit(req, "settings.allowlist", "settings/allowlist", text);
        free(text);
        rc = sp_http_reply_json(req, 200, json_pack("{s:O}", "entries", entries));
    }
    sp_api_store_give(app(req), s);
out:
    sp_errlist_release(&el);
    return rc;
}

static int h_caps_get(sp_http_req *req)
{
    sp_store *s;
    int rc = take_store(req, &s);
    if (rc || !s)
        return rc;
    json_t *caps = NULL;
    rc = sp_store_caps_get(s, &caps);
    if (rc)
        rc = db_failed(req, s);
    else
        rc = sp_http_reply_json(req, 200, caps); /* steals */
    sp_api_store_give(app(req), s);
    return rc;
}

static int h_caps_put(sp_http_req *req)
{
    const json_t *body = sp_http_json(req); /* borrowed */
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *caps = NULL;
    int rc;
    if (sp_policy_check_caps(body, &caps, &el) != 0) {
        rc = reply_errors(req, &el, "caps");
        goto out;
    }
    sp_store *s;
    rc = take_store(req, &s);
    if (rc || !s)
        goto out;
    rc = sp_store_caps_set(s, caps);
    json_t *now = NULL;
    if (rc == 0)
        rc = sp_store_caps_get(s, &now);
    if (rc) {
        rc = db_failed(req, s);
    } else {
        sp_log_kv(SP_LOG_INFO, "caps set", "who", sp_http_req_principal(req)->user, NULL);
        char *text = json_dumps(now, JSON_COMPACT); /* ours: free() */
        sp_http_audit(req, "settings.caps", "settings/caps", text);
        free(text);
        rc = sp_http_reply_json(req, 200, now); /* steals */
    }
    sp_api_store_give(app(req), s);
out:
    json_decref(caps);
    sp_errlist_release(&el);
    return rc;
}

static const sp_http_route routes[] = {
    {"GET", API_PREFIX "/settings/allowlist", h_allowlist_get, SP_PERM_ADMIN, 0,
     "The target allowlist (no entries: every target is allowed)", 200, NULL},
    {"PUT", API_PREFIX "/settings/allowlist", h_allowlist_put, SP_PERM_ADMIN, SP_HTTP_JSON_BODY,
     "Replace the target allowlist", 200, NULL},
    {"GET", API_PREFIX "/settings/caps", h_caps_get, SP_PERM_ADMIN, 0,
     "Caps per role on VUs, rate, duration and concurrent runs (0: none)", 200, NULL},
    {"PUT", API_PREFIX "/settings/caps", h_caps_put, SP_PERM_ADMIN, SP_HTTP_JSON_BODY,
     "Set the caps of the roles given", 200, NULL},
};

const sp_http_route *sp_api_policy_routes(size_t *n)
{
    *n = SP_ARRAY_LEN(routes);
    return routes;
}
