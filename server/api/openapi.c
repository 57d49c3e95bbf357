/*
 * openapi.c - see openapi.h.
 */
#define _GNU_SOURCE /* strchrnul */
#include "api/openapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/kit.h"
#include "base/version.h"
#include "engine/common.h"

#include "engine/banned.h"

static const char *perm_name(sp_perm p)
{
    switch (p) {
    case SP_PERM_PUBLIC:
        return "public";
    case SP_PERM_READ:
        return "read";
    case SP_PERM_WRITE:
        return "write";
    case SP_PERM_RUN:
        return "run";
    case SP_PERM_ADMIN:
        return "admin";
    }
    return "?";
}

static json_t *error_response(const char *description)
{
    return json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", description, "content",
                     "application/json", "schema", "$ref", "#/components/schemas/Error");
}

/* Query parameters that are text; every other one is a whole number. */
static int query_is_string(const char *name)
{
    static const char *const strings[] = {"q",      "status",   "name",          "runs",  "user",
                                          "action", "base_url", "other_origins", "origin"};
    for (size_t i = 0; i < SP_ARRAY_LEN(strings); i++)
        if (strcmp(name, strings[i]) == 0)
            return 1;
    return 0;
}

/* The route's OpenAPI path in p ("/tests/:id" becomes "/tests/{id}", a final "*" "{path}"),
 * and a new array of its path and query parameters. */
static json_t *route_params(const sp_http_route *r, sp_buf *p)
{
    json_t *params = json_array();
    for (const char *s = r->pattern; *s;) {
        if (*s == ':' || (*s == '*' && s[1] == '\0')) {
            const char *end = *s == '*' ? s + 1 : strchrnul(s, '/');
            char name[32];
            snprintf(name, sizeof name, "%.*s", *s == '*' ? 4 : (int)(end - s - 1),
                     *s == '*' ? "path" : s + 1);
            sp_buf_addf(p, "{%s}", name);
            json_array_append_new(params,
                                  json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in", "path",
                                            "required", 1, "schema", "type", "string"));
            s = end;
        } else {
            sp_buf_addc(p, *s++);
        }
    }
    if (r->query) {
        char *q = sp_strdup(r->query);
        char *save = NULL;
        for (char *tok = strtok_r(q, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            /* A run's status is one of the store's names (components.schemas.RunStatus). */
            json_t *schema =
                strcmp(tok, "status") == 0
                    ? json_pack("{s:s}", "$ref", "#/components/schemas/RunStatus")
                    : json_pack("{s:s}", "type", query_is_string(tok) ? "string" : "integer");
            json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:o}", "name", tok, "in",
                                                    "query", "required", 0, "schema", schema));
        }
        free(q);
    }
    return params;
}

/* The operation object of one route (new reference); params is stolen. */
static json_t *route_operation(const sp_http_route *r, const char *method, json_t *params)
{
    char status[8];
    snprintf(status, sizeof status, "%u", r->ok_status);
    json_t *responses = json_object();
    json_object_set_new(
        responses, status,
        json_pack("{s:s}", "description", r->ok_status == 204 ? "Done, no content" : "Success"));
    /* Whatever a change stores, a full disk or a busy database refuses it the same way. */
    if (strcmp(method, "get") != 0 && r->perm != SP_PERM_PUBLIC)
        json_object_set_new(responses, "503",
                            error_response("Nothing was saved: the data directory's disk is full "
                                           "(code disk_full) or the database is busy (code "
                                           "unavailable); try again once it is not"));
    json_object_set_new(responses, "default", error_response("An error"));
    char opid[128];
    snprintf(opid, sizeof opid, "%s%s", method, r->pattern);
    for (char *c = opid; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            *c = '_';
    /* "o" steals params and responses. */
    json_t *op =
        json_pack("{s:s, s:s, s:o, s:o, s:s}", "summary", r->summary, "operationId", opid,
                  "parameters", params, "responses", responses, "x-permission", perm_name(r->perm));
    /* Bodies sent to /tests are definitions; the run routes take small option objects. */
    int takes_def =
        strncmp(r->pattern, SP_API_PREFIX "/tests", sizeof(SP_API_PREFIX "/tests") - 1) == 0 &&
        !strstr(r->pattern, "/runs") && !strstr(r->pattern, "/import/") &&
        !strstr(r->pattern, "/:id/try");
    if ((r->flags & SP_HTTP_JSON_BODY) && takes_def)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                      "application/json", "schema", "$ref",
                                      "#/components/schemas/TestDefinition"));
    else if (r->flags & SP_HTTP_JSON_BODY)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                      "application/json", "schema", "type", "object"));
    /* Who may call it: an API token or a session (docs/security.md). */
    if (r->perm != SP_PERM_PUBLIC)
        json_object_set_new(op, "security", json_pack("[{s:[]}, {s:[]}]", "bearer", "session"));
    return op;
}

json_t *sp_openapi_build(const sp_http_route *routes, size_t n)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < n; i++) {
        const sp_http_route *r = &routes[i];
        sp_buf p;
        sp_buf_init(&p, 1024);
        json_t *params = route_params(r, &p);
        json_t *item = json_object_get(paths, p.p); /* borrowed */
        if (!item) {
            item = json_object();
            json_object_set_new(paths, p.p, item); /* steals item; paths keeps it alive */
        }
        char method[16];
        size_t ml = strlen(r->method);
        for (size_t k = 0; k < ml && k < sizeof method - 1; k++)
            method[k] = (char)(r->method[k] - 'A' + 'a');
        method[ml < sizeof method ? ml : sizeof method - 1] = '\0';
        json_object_set_new(item, method, route_operation(r, method, params));
        sp_buf_release(&p);
    }
    json_t *error_schema =
        json_pack("{s:s, s:[s], s:{s:{s:s, s:[s,s,s], s:{s:{s:s}, s:{s:s}, s:{s:s}}}}}", "type",
                  "object", "required", "error", "properties", "error", "type", "object",
                  "required", "code", "message", "path", "properties", "code", "type", "string",
                  "message", "type", "string", "path", "type", "string");
    json_t *def_schema = json_pack("{s:s, s:s}", "type", "object", "description",
                                   "A test definition: see docs/test-format.md");
    json_t *statuses = json_array();
    for (int i = 0; i < SP_RUN_STATUS_COUNT; i++)
        json_array_append_new(statuses, json_string(sp_store_run_status_name((sp_run_status)i)));
    json_t *status_schema = json_pack(
        "{s:s, s:o, s:s}", "type", "string", "enum", statuses, "description",
        "A run's status (docs/api-runs.md). incomplete: the profile ran, but the server could not "
        "store all of its results (its disk was full); the run's error names the lost seconds "
        "and summary.lost lists them. Only passed is a success.");
    json_t *schemes =
        json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:s}}", "bearer", "type", "http", "scheme", "bearer",
                  "session", "type", "apiKey", "in", "cookie", "name", "sp_session");
    return json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{s:{s:o, s:o, s:o}, s:o}}", "openapi", "3.0.3",
        "info", "title", "Stampede REST API", "version", sp_version(), "description",
        "Errors are {\"error\": {\"code\", \"message\", \"path\"}}. x-permission "
        "names what a caller needs: an API token (Authorization: Bearer) or a session "
        "cookie, with X-CSRF-Token on changes (docs/security.md). A change the "
        "server cannot store is 503: disk_full when its disk is full, unavailable "
        "when the database is busy; GET /api/v1/health says which.",
        "servers", "url", "/", "paths", paths, "components", "schemas", "Error", error_schema,
        "TestDefinition", def_schema, "RunStatus", status_schema, "securitySchemes", schemes);
}
