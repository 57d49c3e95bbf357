/*
 * api_webhooks.c - see api_webhooks.h.
 */
#include "api/api_webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "notify/notify.h"

static int notify_of(sp_http_req *req, sp_notify **out)
{
    *out = sp_kit_notify(req);
    if (*out)
        return 0;
    return sp_kit_answered(
        sp_http_reply_error(req, SP_ESTATE, "", NULL, "webhooks are not enabled on this server"));
}

static int failed(sp_http_req *req, int rc, const sp_errlist *el, const char *msg, const char *what)
{
    if (rc == SP_EINVAL && el && el->n)
        return sp_kit_reply_errors(req, el, "", msg[0] ? msg : "invalid webhook");
    if (rc == SP_ENOTFOUND)
        return sp_kit_answered(sp_http_reply_error(req, rc, "id", NULL, "no %s with id '%.64s'",
                                                   what, sp_http_param(req, "id")));
    if (rc == SP_ELIMIT)
        return sp_kit_answered(sp_http_reply_error(req, SP_ESTATE, "", NULL, "%s", msg));
    sp_log_kv(SP_LOG_ERROR, "webhook request failed", "error", msg[0] ? msg : sp_strerror(rc),
              NULL);
    return sp_kit_answered(sp_http_reply_error(req, rc, "", NULL,
                                               "the database failed (see the "
                                               "server log)"));
}

/* The audit detail of a webhook: its origin, events and format, never its path or secret. */
static void audit_hook(sp_http_req *req, const char *action, const json_t *hook, const char *more)
{
    char obj[40], origin[200], detail[600];
    snprintf(obj, sizeof obj, "webhooks/%lld",
             (long long)json_integer_value(json_object_get(hook, "id")));
    sp_notify_url_origin(json_string_value(json_object_get(hook, "url")) ?: "", origin,
                         sizeof origin);
    char *events = json_dumps(json_object_get(hook, "events"), JSON_COMPACT);
    snprintf(detail, sizeof detail, "%s %s, events %s, %s%s%s", origin,
             json_string_value(json_object_get(hook, "format")) ?: "", events ? events : "[]",
             json_is_true(json_object_get(hook, "enabled")) ? "enabled" : "disabled",
             more ? ", " : "", more ? more : "");
    free(events);
    sp_http_audit(req, action, obj, detail);
}

static int h_list(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int rc = notify_of(req, &n);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_notify_hook_list(n, &out);
    return rc ? failed(req, rc, NULL, "", "webhook") : sp_http_reply_json(req, 200, out);
}

static int h_create(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int rc = notify_of(req, &n);
    if (rc)
        return rc;
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[256] = "";
    json_t *out = NULL;
    rc = sp_notify_hook_create(n, sp_http_json(req), sp_http_req_principal(req)->name, &out, &el,
                               msg, sizeof msg);
    if (rc) {
        rc = failed(req, rc, &el, msg, "webhook");
    } else {
        char loc[64];
        snprintf(loc, sizeof loc, SP_API_PREFIX "/webhooks/%lld",
                 (long long)json_integer_value(json_object_get(out, "id")));
        sp_http_add_header(req, "Location", loc);
        audit_hook(req, "webhook.create", out, NULL);
        rc = sp_http_reply_json(req, 201, out);
    }
    sp_errlist_release(&el);
    return rc;
}

static int h_get(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int64_t id;
    int rc = sp_kit_id(req, "id", "webhook", &id);
    if (rc == 0)
        rc = notify_of(req, &n);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_notify_hook_get(n, id, &out);
    return rc ? failed(req, rc, NULL, "", "webhook") : sp_http_reply_json(req, 200, out);
}

static int h_update(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int64_t id;
    int rc = sp_kit_id(req, "id", "webhook", &id);
    if (rc == 0)
        rc = notify_of(req, &n);
    if (rc)
        return rc;
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[256] = "";
    json_t *out = NULL;
    rc = sp_notify_hook_update(n, id, sp_http_json(req), &out, &el, msg, sizeof msg);
    if (rc) {
        rc = failed(req, rc, &el, msg, "webhook");
    } else {
        audit_hook(req, "webhook.update", out,
                   json_object_get(out, "secret") ? "a new secret" : NULL);
        rc = sp_http_reply_json(req, 200, out);
    }
    sp_errlist_release(&el);
    return rc;
}

static int h_delete(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int64_t id;
    int rc = sp_kit_id(req, "id", "webhook", &id);
    if (rc == 0)
        rc = notify_of(req, &n);
    if (rc)
        return rc;
    json_t *gone = NULL;
    rc = sp_notify_hook_delete(n, id, &gone);
    if (rc)
        return failed(req, rc, NULL, "", "webhook");
    audit_hook(req, "webhook.delete", gone, NULL);
    json_decref(gone);
    return sp_http_reply_empty(req, 204);
}

static int h_ping(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int64_t id;
    int rc = sp_kit_id(req, "id", "webhook", &id);
    if (rc == 0)
        rc = notify_of(req, &n);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_notify_ping(n, id, &out);
    if (rc)
        return failed(req, rc, NULL, "", "webhook");
    char obj[40];
    snprintf(obj, sizeof obj, "webhooks/%lld", (long long)id);
    sp_http_audit(req, "webhook.ping", obj, NULL);
    return sp_http_reply_json(req, 202, out);
}

static int h_deliveries(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int64_t hook = 0, limit = 100;
    int rc = notify_of(req, &n);
    if (rc == 0)
        rc = sp_kit_query_num(req, "webhook_id", 1, SP_KIT_ID_MAX, "a webhook id", &hook);
    if (rc == 0)
        rc = sp_kit_query_num(req, "limit", 1, 1000, NULL, &limit);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_notify_deliveries(n, hook, (int)limit, &out);
    return rc ? failed(req, rc, NULL, "", "webhook") : sp_http_reply_json(req, 200, out);
}

static int h_delivery(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int64_t id;
    int rc = sp_kit_id(req, "id", "delivery", &id);
    if (rc == 0)
        rc = notify_of(req, &n);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_notify_delivery_get(n, id, &out);
    return rc ? failed(req, rc, NULL, "", "delivery") : sp_http_reply_json(req, 200, out);
}

static int h_resend(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int64_t id;
    int rc = sp_kit_id(req, "id", "delivery", &id);
    if (rc == 0)
        rc = notify_of(req, &n);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_notify_resend(n, id, &out);
    if (rc)
        return failed(req, rc, NULL, "", "delivery");
    char obj[48], detail[48];
    snprintf(obj, sizeof obj, "webhooks/deliveries/%lld", (long long)id);
    snprintf(detail, sizeof detail, "as delivery %lld",
             (long long)json_integer_value(json_object_get(out, "id")));
    sp_http_audit(req, "webhook.resend", obj, detail);
    return sp_http_reply_json(req, 202, out);
}

static int h_allow_get(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int rc = notify_of(req, &n);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_notify_allowlist_get(n, &out);
    return rc ? failed(req, rc, NULL, "", "webhook") : sp_http_reply_json(req, 200, out);
}

static int h_allow_put(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_notify *n;
    int rc = notify_of(req, &n);
    if (rc)
        return rc;
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[256] = "";
    const json_t *body = sp_http_json(req);
    rc = sp_notify_allowlist_set(n, body, &el, msg, sizeof msg);
    if (rc) {
        rc = failed(req, rc, &el, msg, "webhook");
    } else {
        char *text = json_dumps(json_object_get(body, "entries"), JSON_COMPACT);
        sp_http_audit(req, "settings.webhook_allowlist", "settings/webhook-allowlist", text);
        free(text);
        json_t *out = NULL;
        rc = sp_notify_allowlist_get(n, &out);
        rc = rc ? failed(req, rc, NULL, "", "webhook") : sp_http_reply_json(req, 200, out);
    }
    sp_errlist_release(&el);
    return rc;
}

const sp_api_route sp_api_webhooks_routes[] = {
    {"GET", SP_API_PREFIX "/webhooks", h_list, SP_PERM_ADMIN, 0, "The webhooks (no secrets)", 200,
     NULL},
    {"POST", SP_API_PREFIX "/webhooks", h_create, SP_PERM_ADMIN, SP_HTTP_JSON_BODY,
     "Create a webhook: {\"url\", \"events\", \"name\", \"format\", \"secret\", \"enabled\"}; "
     "the answer shows the secret once",
     201, NULL},
    {"GET", SP_API_PREFIX "/webhooks/deliveries", h_deliveries, SP_PERM_ADMIN, 0,
     "The delivery log, newest first: state, attempts, last status and error", 200,
     "webhook_id,limit"},
    {"GET", SP_API_PREFIX "/webhooks/deliveries/:id", h_delivery, SP_PERM_ADMIN, 0,
     "One delivery with the body it sends", 200, NULL},
    {"POST", SP_API_PREFIX "/webhooks/deliveries/:id/resend", h_resend, SP_PERM_ADMIN, 0,
     "Send a delivery again (a new delivery with the same body)", 202, NULL},
    {"GET", SP_API_PREFIX "/webhooks/:id", h_get, SP_PERM_ADMIN, 0, "A webhook (no secret)", 200,
     NULL},
    {"PUT", SP_API_PREFIX "/webhooks/:id", h_update, SP_PERM_ADMIN, SP_HTTP_JSON_BODY,
     "Change the fields given of a webhook; {\"rotate_secret\": true} makes a new secret", 200,
     NULL},
    {"DELETE", SP_API_PREFIX "/webhooks/:id", h_delete, SP_PERM_ADMIN, 0,
     "Delete a webhook and its delivery log", 204, NULL},
    {"POST", SP_API_PREFIX "/webhooks/:id/ping", h_ping, SP_PERM_ADMIN, 0,
     "Send a test delivery (event ping) now", 202, NULL},
    {"GET", SP_API_PREFIX "/settings/webhook-allowlist", h_allow_get, SP_PERM_ADMIN, 0,
     "The addresses webhooks may reach (no entries: every address)", 200, NULL},
    {"PUT", SP_API_PREFIX "/settings/webhook-allowlist", h_allow_put, SP_PERM_ADMIN,
     SP_HTTP_JSON_BODY, "Replace the webhook allowlist", 200, NULL},
};
const size_t sp_api_webhooks_nroutes = SP_ARRAY_LEN(sp_api_webhooks_routes);
