/*
 * api_policy.c - see api_policy.h.
 */
#include "api/api_policy.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "runs/policy.h"

static int h_allowlist_get(sp_http_req *req, sp_store *s)
{
    json_t *entries = NULL;
    int rc = sp_store_allowlist_get(s, &entries);
    if (rc != 0)
        return sp_kit_store_failed(req, s, rc);
    return sp_http_reply_json(req, 200, json_pack("{s:o}", "entries", entries)); /* steals */
}

static int h_allowlist_put(sp_http_req *req, sp_store *s)
{
    const json_t *body = sp_http_json(req); /* borrowed */
    sp_errlist el;
    sp_errlist_init(&el);
    int rc;
    if (sp_policy_check_allowlist(body, &el) != 0) {
        rc = sp_kit_reply_errors(req, &el, "", "invalid allowlist");
        goto out;
    }
    const json_t *entries = json_object_get(body, "entries");
    /* The store's code as it is: a full disk is 503 disk_full, as for every change. */
    rc = sp_store_allowlist_set(s, entries);
    if (rc != 0) {
        rc = sp_kit_store_failed(req, s, rc);
        goto out;
    }
    char n[16];
    snprintf(n, sizeof n, "%zu", json_array_size(entries));
    sp_log_kv(SP_LOG_INFO, "target allowlist set", "entries", n, "who",
              sp_http_req_principal(req)->user, NULL);
    /* The entries themselves: who allowed which targets is what the log is for. */
    char *text = json_dumps(entries, JSON_COMPACT); /* ours: free() */
    sp_http_audit(req, "settings.allowlist", "settings/allowlist", text);
    free(text);
    rc = sp_http_reply_json(req, 200, json_pack("{s:O}", "entries", entries));
out:
    sp_errlist_release(&el);
    return rc;
}

static int h_caps_get(sp_http_req *req, sp_store *s)
{
    json_t *caps = NULL;
    int rc = sp_store_caps_get(s, &caps);
    if (rc != 0)
        return sp_kit_store_failed(req, s, rc);
    return sp_http_reply_json(req, 200, caps); /* steals */
}

static int h_caps_put(sp_http_req *req, sp_store *s)
{
    const json_t *body = sp_http_json(req); /* borrowed */
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *caps = NULL, *now = NULL;
    int rc;
    if (sp_policy_check_caps(body, &caps, &el) != 0) {
        rc = sp_kit_reply_errors(req, &el, "", "invalid caps");
        goto out;
    }
    rc = sp_store_caps_set(s, caps);
    if (rc == 0)
        rc = sp_store_caps_get(s, &now);
    if (rc != 0) {
        rc = sp_kit_store_failed(req, s, rc);
        goto out;
    }
    sp_log_kv(SP_LOG_INFO, "caps set", "who", sp_http_req_principal(req)->user, NULL);
    char *text = json_dumps(now, JSON_COMPACT); /* ours: free() */
    sp_http_audit(req, "settings.caps", "settings/caps", text);
    free(text);
    rc = sp_http_reply_json(req, 200, now); /* steals */
out:
    json_decref(caps);
    sp_errlist_release(&el);
    return rc;
}

const sp_api_route sp_api_policy_routes[] = {
    {"GET", SP_API_PREFIX "/settings/allowlist", h_allowlist_get, SP_PERM_ADMIN, SP_API_STORE,
     "The target allowlist (no entries: every target is allowed)", 200, NULL},
    {"PUT", SP_API_PREFIX "/settings/allowlist", h_allowlist_put, SP_PERM_ADMIN,
     SP_HTTP_JSON_BODY | SP_API_STORE, "Replace the target allowlist", 200, NULL},
    {"GET", SP_API_PREFIX "/settings/caps", h_caps_get, SP_PERM_ADMIN, SP_API_STORE,
     "Caps per role on VUs, rate, duration and concurrent runs (0: none)", 200, NULL},
    {"PUT", SP_API_PREFIX "/settings/caps", h_caps_put, SP_PERM_ADMIN,
     SP_HTTP_JSON_BODY | SP_API_STORE, "Set the caps of the roles given", 200, NULL},
};
const size_t sp_api_policy_nroutes = SP_ARRAY_LEN(sp_api_policy_routes);
