/*
 * api_auth.c - see api_auth.h.
 */
#include "api/api_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

#include "engine/banned.h"

/* Answers 409 when the server runs without accounts (--no-auth); 0 when it has them. */
static int no_accounts(sp_http_req *req)
{
    if (sp_auth_enabled(sp_http_req_auth(req)))
        return 0;
    return sp_kit_answered(sp_http_reply_error(
        req, SP_ESTATE, "", NULL, "access control is off (--no-auth): there are no accounts"));
}

/* A string member of the body: required, or optional (NULL when absent). Answers 400 naming
 * the field when it is missing or not a string. */
static int body_str(sp_http_req *req, const char *key, int required, const char **out)
{
    json_t *v = json_object_get(sp_http_json(req), key); /* borrowed */
    *out = NULL;
    if (!v && !required)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return sp_kit_answered(sp_http_reply_error(req, SP_EINVAL, key, NULL,
                                                   "%s must be a string%s", key,
                                                   required ? " and is required" : ""));
    *out = json_string_value(v);
    return 0;
}

/* The body must be an object with only these members; answers 400 otherwise. */
static int body_keys(sp_http_req *req, const char *const *keys, size_t n)
{
    json_t *body = sp_http_json(req);
    if (!json_is_object(body))
        return sp_kit_answered(
            sp_http_reply_error(req, SP_EINVAL, "", NULL, "the body must be a JSON object"));
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        int known = 0;
        for (size_t i = 0; i < n; i++)
            known |= strcmp(k, keys[i]) == 0;
        if (!known)
            return sp_kit_answered(
                sp_http_reply_error(req, SP_EINVAL, k, NULL, "unknown field '%.64s'", k));
    }
    return 0;
}

/* Maps an sp_auth failure to its answer: the database's failures as every route answers them
 * (kit.h: 503 disk_full for a full disk), the rest with the account module's message. */
static int auth_error(sp_http_req *req, int code, const char *path, const char *msg)
{
    if (sp_kit_storage_failure(code))
        return sp_kit_store_error(req, code, "", msg);
    return sp_http_reply_error(req, code, path, NULL, "%s", msg);
}

static json_t *user_json(const sp_http_principal *p)
{
    return json_pack("{s:s, s:s}", "name", p->name, "role", p->role[0] ? p->role : "admin");
}

/* ---- Sessions ---- */

static int h_login(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    static const char *const keys[] = {"username", "password"};
    const char *user, *pw;
    if ((rc = body_keys(req, keys, 2)) || (rc = body_str(req, "username", 1, &user)) ||
        (rc = body_str(req, "password", 1, &pw)))
        return rc;
    sp_auth *a = sp_http_req_auth(req);
    sp_auth_session s;
    unsigned retry = 0;
    char msg[256];
    rc = sp_auth_login(a, sp_http_req_address(req), user, pw, &s, &retry, msg, sizeof msg);
    if (rc == SP_ELIMIT) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry);
        sp_http_add_header(req, "Retry-After", ra);
        sp_auth_audit(a, user, sp_http_req_address(req), "login.limited", user, msg);
        return sp_http_reply_error(req, SP_ETOOMANY, "", NULL, "%s", msg);
    }
    if (rc == SP_EUNAUTH) {
        sp_auth_audit(a, user, sp_http_req_address(req), "login.failed", user, msg);
        return sp_http_reply_error(req, rc, "", NULL, "%s", msg);
    }
    if (rc)
        return auth_error(req, rc, "", msg);
    sp_auth_audit(a, s.user, sp_http_req_address(req), "login", s.user, "session started");
    char cookie[256];
    /* Secure when we serve TLS ourselves; behind a TLS proxy the proxy may add it. */
    snprintf(cookie, sizeof cookie,
             "sp_session=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%u%s", s.sid, s.max_age_s,
             sp_http_req_tls(req) ? "; Secure" : "");
    sp_http_add_header(req, "Set-Cookie", cookie);
    json_t *body = json_pack("{s:{s:s, s:s}, s:s, s:I}", "user", "name", s.user, "role", s.role,
                             "csrf_token", s.csrf, "expires_at", (json_int_t)s.expires_at);
    memset(&s, 0, sizeof s);
    memset(cookie, 0, sizeof cookie);
    return sp_http_reply_json(req, 200, body);
}

static int h_logout(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    sp_auth *a = sp_http_req_auth(req);
    char sid[80];
    if (sp_auth_enabled(a) &&
        sp_auth_cookie_get(sp_http_header(req, "Cookie"), "sp_session", sid, sizeof sid) == 0) {
        sp_auth_logout(a, sid);
        memset(sid, 0, sizeof sid);
        if (sp_http_req_principal(req)->user[0]) /* not for a cookie that had already ended */
            sp_http_audit(req, "logout", sp_http_req_principal(req)->name, "session ended");
    }
    sp_http_add_header(req, "Set-Cookie",
                       sp_http_req_tls(req)
                           ? "sp_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
                           : "sp_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    return sp_http_reply_empty(req, 204);
}

static int h_me(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    sp_auth *a = sp_http_req_auth(req);
    const sp_http_principal *p = sp_http_req_principal(req);
    json_t *csrf = json_null();
    sp_auth_who w;
    char msg[128];
    /* The CSRF token is the session's: the dashboard reads it here after a reload. */
    if (sp_auth_enabled(a) && !sp_http_header(req, "Authorization") &&
        sp_auth_identify(a, NULL, sp_http_header(req, "Cookie"), &w, msg, sizeof msg) == 0)
        csrf = json_string(w.csrf);
    memset(&w, 0, sizeof w);
    return sp_http_reply_json(req, 200,
                              json_pack("{s:b, s:o, s:o}", "auth", sp_auth_enabled(a), "user",
                                        user_json(p), "csrf_token", csrf));
}

static int h_password(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    static const char *const keys[] = {"current", "new"};
    const char *cur, *next;
    if ((rc = body_keys(req, keys, 2)) || (rc = body_str(req, "current", 1, &cur)) ||
        (rc = body_str(req, "new", 1, &next)))
        return rc;
    sp_auth *a = sp_http_req_auth(req);
    char sid[80] = "";
    int keep =
        !sp_http_header(req, "Authorization") &&
        sp_auth_cookie_get(sp_http_header(req, "Cookie"), "sp_session", sid, sizeof sid) == 0;
    char msg[256];
    const char *user = sp_http_req_principal(req)->name;
    rc = sp_auth_password_change(a, user, cur, next, keep ? sid : NULL, msg, sizeof msg);
    memset(sid, 0, sizeof sid);
    if (rc == SP_EUNAUTH) {
        /* A wrong current password is the client's input, not missing credentials: 403, so
         * that a dashboard does not take it for an ended session. */
        sp_http_audit(req, "password.failed", user, msg);
        return sp_http_reply_error(req, SP_EFORBIDDEN, "current", NULL, "%s", msg);
    }
    if (rc)
        return auth_error(req, rc, rc == SP_EINVAL ? "new" : "", msg);
    sp_http_audit(req, "password.change", user, "other sessions ended");
    return sp_http_reply_empty(req, 204);
}

/* ---- Tokens ---- */

static int is_admin(const sp_http_principal *p)
{
    return (p->perms & SP_PERM_ADMIN) != 0;
}

static int h_tokens_list(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    const sp_http_principal *p = sp_http_req_principal(req);
    json_t *list = NULL;
    rc = sp_auth_token_list(sp_http_req_auth(req), is_admin(p) ? NULL : p->name, &list);
    if (rc)
        return auth_error(req, rc, "", "the database failed (see the server log)");
    return sp_http_reply_json(req, 200, list);
}

static int h_tokens_create(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    static const char *const keys[] = {"name", "expires_in_s"};
    const char *name;
    if ((rc = body_keys(req, keys, 2)) || (rc = body_str(req, "name", 1, &name)))
        return rc;
    json_t *exp = json_object_get(sp_http_json(req), "expires_in_s"); /* borrowed */
    int64_t expires = 0;
    if (exp && !json_is_null(exp)) {
        if (!json_is_integer(exp) || json_integer_value(exp) < 1)
            return sp_http_reply_error(req, SP_EINVAL, "expires_in_s", NULL,
                                       "expires_in_s must be a whole number of seconds from 1");
        expires = json_integer_value(exp);
    }
    char msg[256];
    json_t *tok = NULL;
    const char *user = sp_http_req_principal(req)->name;
    rc = sp_auth_token_create(sp_http_req_auth(req), user, name, expires, &tok, msg, sizeof msg);
    if (rc)
        return auth_error(req, rc,
                          rc == SP_EINVAL && strstr(msg, "expires") ? "expires_in_s" : "name", msg);
    char detail[96];
    snprintf(detail, sizeof detail, "id %lld, prefix %s%s",
             (long long)json_integer_value(json_object_get(tok, "id")),
             json_string_value(json_object_get(tok, "prefix")), expires ? ", expires" : "");
    sp_http_audit(req, "token.create", name, detail);
    return sp_http_reply_json(req, 201, tok);
}

static int h_tokens_delete(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    /* The one id parser (kit.h): "+1", " 1" or "01" is no token, as it is no test or run. */
    const char *ids = sp_http_param(req, "id");
    int64_t id;
    if (sp_kit_parse_id(ids, SP_KIT_ID_MAX, &id) != 0)
        return sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no token '%.32s'", ids);
    const sp_http_principal *p = sp_http_req_principal(req);
    char name[64], msg[256];
    rc = sp_auth_token_revoke(sp_http_req_auth(req), id, is_admin(p) ? NULL : p->name, name, msg,
                              sizeof msg);
    if (rc)
        return auth_error(req, rc, "id", msg);
    char detail[64];
    snprintf(detail, sizeof detail, "id %lld", (long long)id);
    sp_http_audit(req, "token.revoke", name, detail);
    return sp_http_reply_empty(req, 204);
}

/* ---- Users ---- */

static int h_users_list(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    json_t *list = NULL;
    rc = sp_auth_user_list(sp_http_req_auth(req), &list);
    if (rc)
        return auth_error(req, rc, "", "the database failed (see the server log)");
    return sp_http_reply_json(req, 200, list);
}

static int h_users_create(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    static const char *const keys[] = {"name", "password", "role"};
    const char *name, *pw, *role;
    if ((rc = body_keys(req, keys, 3)) || (rc = body_str(req, "name", 1, &name)) ||
        (rc = body_str(req, "password", 1, &pw)) || (rc = body_str(req, "role", 1, &role)))
        return rc;
    char msg[256];
    rc = sp_auth_user_create(sp_http_req_auth(req), name, pw, role, msg, sizeof msg);
    if (rc)
        return auth_error(req, rc,
                          strstr(msg, "role")       ? "role"
                          : strstr(msg, "password") ? "password"
                                                    : "name",
                          msg);
    char detail[64];
    snprintf(detail, sizeof detail, "role %s", role);
    sp_http_audit(req, "user.create", name, detail);
    char loc[160];
    snprintf(loc, sizeof loc, SP_API_PREFIX "/users/%s", name);
    sp_http_add_header(req, "Location", loc);
    return sp_http_reply_json(req, 201, json_pack("{s:s, s:s}", "name", name, "role", role));
}

static int h_users_update(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    static const char *const keys[] = {"role", "password"};
    const char *role, *pw;
    if ((rc = body_keys(req, keys, 2)) || (rc = body_str(req, "role", 0, &role)) ||
        (rc = body_str(req, "password", 0, &pw)))
        return rc;
    const char *name = sp_http_param(req, "name");
    char msg[256];
    rc = sp_auth_user_update(sp_http_req_auth(req), name, role, pw, msg, sizeof msg);
    if (rc)
        return auth_error(req, rc,
                          rc == SP_ENOTFOUND        ? "name"
                          : strstr(msg, "password") ? "password"
                                                    : "role",
                          msg);
    char detail[96];
    snprintf(detail, sizeof detail, "%s%s%s%s", role ? "role " : "", role ? role : "",
             role && pw ? ", " : "", pw ? "password set" : "");
    sp_http_audit(req, "user.update", name, detail);
    return sp_http_reply_empty(req, 204);
}

static int h_users_delete(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = no_accounts(req);
    if (rc)
        return rc;
    const char *name = sp_http_param(req, "name");
    char msg[256];
    rc = sp_auth_user_delete(sp_http_req_auth(req), name, msg, sizeof msg);
    if (rc)
        return auth_error(req, rc, "name", msg);
    sp_http_audit(req, "user.delete", name, "with their sessions and tokens");
    return sp_http_reply_empty(req, 204);
}

/* ---- Audit ---- */

static int h_audit(sp_http_req *req, sp_store *store)
{
    SP_UNUSED(store);
    int rc = 0;
    sp_auth *a = sp_http_req_auth(req);
    if (!a)
        return sp_http_reply_error(req, SP_ESTATE, "", NULL, "no audit log on this server");
    sp_auth_audit_filter f = {0};
    int64_t limit = 0;
    if ((rc = sp_kit_query_num(req, "since", 0, INT64_MAX / 2, NULL, &f.since_ms)) ||
        (rc = sp_kit_query_num(req, "until", 0, INT64_MAX / 2, NULL, &f.until_ms)) ||
        (rc = sp_kit_query_num(req, "limit", 0, SP_AUTH_AUDIT_PAGE_MAX, NULL, &limit)))
        return rc;
    f.limit = (int)limit;
    f.user = sp_http_query(req, "user");
    f.action = sp_http_query(req, "action");
    if ((f.user && strlen(f.user) > 256) || (f.action && strlen(f.action) > 256))
        return sp_http_reply_error(req, SP_EINVAL,
                                   f.user && strlen(f.user) > 256 ? "user" : "action", NULL,
                                   "the filter is longer than 256 bytes");
    json_t *list = NULL;
    rc = sp_auth_audit_list(a, &f, &list);
    if (rc)
        return auth_error(req, rc, "", "the database failed (see the server log)");
    return sp_http_reply_json(req, 200, list);
}

/* ---- Routes ---- */

const sp_api_route sp_api_auth_routes[] = {
    {"POST", SP_API_PREFIX "/auth/login", h_login, SP_PERM_PUBLIC, SP_HTTP_JSON_BODY,
     "Log in: sets the sp_session cookie, returns the CSRF token", 200, NULL},
    /* Public, so that a browser holding an expired cookie can still clear it; a live session
     * still needs its CSRF token here (the access check asks for it on any cookie change). */
    {"POST", SP_API_PREFIX "/auth/logout", h_logout, SP_PERM_PUBLIC, 0,
     "Log out: ends the session and clears its cookie", 204, NULL},
    /* A probe: the dashboard asks on every load, the login page too (no audit row for "no"). */
    {"GET", SP_API_PREFIX "/auth/me", h_me, SP_PERM_READ, SP_HTTP_PROBE,
     "Who is calling: user, role and the session's CSRF token", 200, NULL},
    {"POST", SP_API_PREFIX "/auth/password", h_password, SP_PERM_READ, SP_HTTP_JSON_BODY,
     "Change one's own password (ends one's other sessions)", 204, NULL},
    {"GET", SP_API_PREFIX "/tokens", h_tokens_list, SP_PERM_READ, 0,
     "API tokens: one's own (an admin sees everybody's)", 200, NULL},
    {"POST", SP_API_PREFIX "/tokens", h_tokens_create, SP_PERM_READ, SP_HTTP_JSON_BODY,
     "Create an API token (shown once)", 201, NULL},
    {"DELETE", SP_API_PREFIX "/tokens/:id", h_tokens_delete, SP_PERM_READ, 0, "Revoke an API token",
     204, NULL},
    {"GET", SP_API_PREFIX "/users", h_users_list, SP_PERM_ADMIN, 0, "List users", 200, NULL},
    {"POST", SP_API_PREFIX "/users", h_users_create, SP_PERM_ADMIN, SP_HTTP_JSON_BODY,
     "Create a user with a role", 201, NULL},
    {"PUT", SP_API_PREFIX "/users/:name", h_users_update, SP_PERM_ADMIN, SP_HTTP_JSON_BODY,
     "Change a user's role or password", 204, NULL},
    {"DELETE", SP_API_PREFIX "/users/:name", h_users_delete, SP_PERM_ADMIN, 0,
     "Delete a user with their sessions and tokens", 204, NULL},
    {"GET", SP_API_PREFIX "/audit", h_audit, SP_PERM_ADMIN, 0,
     "The audit log, newest first (times in ms since the epoch)", 200,
     "user,action,since,until,limit"},
};

const size_t sp_api_auth_nroutes = SP_ARRAY_LEN(sp_api_auth_routes);
