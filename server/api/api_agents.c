/*
 * api_agents.c - see api_agents.h.
 */
#include "api/api_agents.h"

#include <string.h>

#include "agents/agents.h"
#include "auth/auth.h"
#include "engine/common.h"

static int h_list(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_agents *a = sp_kit_agents(req);
    if (!a)
        return sp_http_reply_json(req, 200, json_pack("{s:[]}", "agents"));
    return sp_http_reply_json(req, 200, sp_agents_list(a));
}

/* Agent tokens need accounts: under --no-auth loopback agents need none. */
static int no_accounts(sp_http_req *req)
{
    if (sp_auth_enabled(sp_http_req_auth(req)))
        return 0;
    return sp_kit_answered(sp_http_reply_error(
        req, SP_ESTATE, "", NULL,
        "access control is off (--no-auth): loopback agents need no token, others none can have"));
}

static int token_error(sp_http_req *req, int code, const char *path, const char *msg)
{
    if (sp_kit_storage_failure(code))
        return sp_kit_store_error(req, code, "", msg);
    return sp_http_reply_error(req, code, path, NULL, "%s", msg);
}

static int h_tokens_create(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    json_t *body = sp_http_json(req); /* borrowed */
    if (!json_is_object(body))
        return sp_http_reply_error(req, SP_EINVAL, "", NULL, "expected {\"name\": \"...\"}");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "name") != 0)
            return sp_http_reply_error(req, SP_EINVAL, key, NULL, "unknown field '%.64s'", key);
    }
    json_t *name = json_object_get(body, "name"); /* borrowed */
    if (!json_is_string(name))
        return sp_http_reply_error(req, SP_EINVAL, "name", NULL, "name must be a string");
    char msg[256];
    json_t *tok = NULL;
    rc = sp_auth_agent_token_create(sp_http_req_auth(req), sp_http_req_principal(req)->name,
                                    json_string_value(name), &tok, msg, sizeof msg);
    if (rc)
        return token_error(req, rc, "name", msg);
    char detail[96];
    snprintf(detail, sizeof detail, "id %lld, prefix %s",
             (long long)json_integer_value(json_object_get(tok, "id")),
             json_string_value(json_object_get(tok, "prefix")));
    sp_http_audit(req, "agent_token.create", json_string_value(name), detail);
    return sp_http_reply_json(req, 201, tok);
}

static int h_tokens_list(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_auth_agent_token_list(sp_http_req_auth(req), &out);
    if (rc)
        return token_error(req, rc, "", "cannot list the agent tokens");
    return sp_http_reply_json(req, 200, out);
}

static int h_tokens_delete(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    const char *ids = sp_http_param(req, "id");
    int64_t id;
    if (sp_kit_parse_id(ids, SP_KIT_ID_MAX, &id) != 0)
        return sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no agent token '%.32s'", ids);
    char name[64], msg[256];
    rc = sp_auth_agent_token_revoke(sp_http_req_auth(req), id, name, msg, sizeof msg);
    if (rc)
        return token_error(req, rc, "id", msg);
    /* An agent connected with it goes at once, whatever it was doing. */
    sp_agents *a = sp_kit_agents(req);
    if (a)
        sp_agents_drop_token(a, id);
    char detail[64];
    snprintf(detail, sizeof detail, "id %lld", (long long)id);
    sp_http_audit(req, "agent_token.revoke", name, detail);
    return sp_http_reply_empty(req, 204);
}

const sp_api_route sp_api_agents_routes[] = {
    {"POST", SP_API_PREFIX "/agent-tokens", h_tokens_create, SP_PERM_ADMIN, SP_HTTP_JSON_BODY,
     "Create an agent token: {\"name\"}; the token is in the answer, and only there", 201, NULL},
    {"GET", SP_API_PREFIX "/agent-tokens", h_tokens_list, SP_PERM_ADMIN, 0,
     "The agent tokens (never the tokens themselves)", 200, NULL},
    {"DELETE", SP_API_PREFIX "/agent-tokens/:id", h_tokens_delete, SP_PERM_ADMIN, 0,
     "Revoke an agent token: an agent connected with it is dropped at once", 204, NULL},
    {"GET", SP_API_PREFIX "/agents", h_list, SP_PERM_READ, 0,
     "The agents connected to this server: location, state, version, capacity, last heartbeat, "
     "clock offset, and while running their CPU, timer lag and dropped arrivals",
     200, NULL},
};
const size_t sp_api_agents_nroutes = SP_ARRAY_LEN(sp_api_agents_routes);
