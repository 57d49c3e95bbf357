/*
 * test_routes.c - the API's real route table (sp_api_routes) served with accounts on: every
 * route with an :id in its path answers an id not written as digits alone with 404, and
 * DELETE /api/v1/tokens/+N, which once revoked token N (strtoll read the '+'), leaves it live.
 * On a full disk (tests/unit/fullvfs.h) the store's routes and the accounts' answer alike:
 * 503 disk_full, where POST /tests once said 500 and POST /tokens 503 unavailable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/openapi.h"
#include "auth/auth.h"
#include "base/errors.h"
#include "check.h"
#include "fullvfs.h"
#include "http/client.h"

static sp_http_server *srv;
static uint16_t port;
static char bearer[300];
static int64_t token2;

/* method path (with a JSON body "{}" when jsonbody), as the admin. */
static long call(const char *method, const char *path, int jsonbody, http_resp *r)
{
    http_req q = {.method = method, .path = path, .header = bearer};
    if (jsonbody) {
        q.ctype = "application/json";
        q.body = "{}";
    }
    return http_send(port, &q, r);
}

/* Whether the live tokens listed include id. */
static int token_live(int64_t id)
{
    http_resp r;
    if (call("GET", "/api/v1/tokens", 0, &r) != 200)
        return -1;
    json_t *list = json_loads(r.body, 0, NULL);
    size_t i;
    json_t *t;
    int live = 0;
    json_array_foreach(json_object_get(list, "items"), i, t)
    {
        if (json_integer_value(json_object_get(t, "id")) == id)
            live = json_is_null(json_object_get(t, "revoked_at"));
    }
    json_decref(list);
    return live;
}

static void test_token_plus_id_is_404_and_revokes_nothing(void)
{
    http_resp r;
    char path[64], want[160];
    CHECK_INT_EQ(token_live(token2), 1);
    /* The id with a sign, a leading zero or a space (before or after). */
    static const char *const before[] = {"+", "0", "%20", "", "-"};
    static const char *const after[] = {"", "", "", "%20", ""};
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        snprintf(path, sizeof path, "/api/v1/tokens/%s%lld%s", before[i], (long long)token2,
                 after[i]);
        CHECK_INT_EQ(call("DELETE", path, 0, &r), 404);
        CHECK_STR_CONTAINS(r.body, "\"code\":\"not_found\"");
        CHECK_STR_CONTAINS(r.body, "\"path\":\"id\"");
        CHECK_INT_EQ(token_live(token2), 1);
    }
    snprintf(path, sizeof path, "/api/v1/tokens/+%lld", (long long)token2);
    CHECK_INT_EQ(call("DELETE", path, 0, &r), 404);
    snprintf(want, sizeof want,
             "{\"error\":{\"code\":\"not_found\",\"message\":\"no token '+%lld'\","
             "\"path\":\"id\"}}\n",
             (long long)token2);
    CHECK_STR_EQ(r.body, want);
    /* Written as digits alone it is the token. */
    snprintf(path, sizeof path, "/api/v1/tokens/%lld", (long long)token2);
    CHECK_INT_EQ(call("DELETE", path, 0, &r), 204);
    CHECK_INT_EQ(token_live(token2), 0);
}

static void test_every_id_route_uses_the_one_parser(void)
{
    /* A test 1 exists, so that a lenient parser reading "+1" or "01" as 1 would find it. */
    http_resp r;
    http_req q = {.method = "POST",
                  .path = "/api/v1/tests",
                  .ctype = "application/json",
                  .header = bearer,
                  .body = "{\"name\":\"one\",\"base_url\":\"http://127.0.0.1:9\",\"users\":[{"
                          "\"name\":\"u\",\"tasks\":[{\"request\":{\"url\":\"/\"}}]}],\"load\":{"
                          "\"users\":1,\"duration\":\"1s\"}}"};
    CHECK_INT_EQ(http_send(port, &q, &r), 201);
    CHECK_STR_CONTAINS(r.body, "\"id\":1,");
    CHECK_INT_EQ(call("GET", "/api/v1/tests/1", 0, &r), 200);

    size_t n = 0, checked = 0;
    const sp_http_route *routes = sp_api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        const char *at = strstr(routes[i].pattern, ":id");
        if (!at)
            continue;
        static const char *const bad[] = {"+1", "01", "%201", "1%20", "-1", "0", "1e0"};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            char path[256];
            /* The pattern with :id replaced, and any later :param given "1". */
            snprintf(path, sizeof path, "%.*s%s%s", (int)(at - routes[i].pattern),
                     routes[i].pattern, bad[k], at + 3);
            char *rev = strstr(path, ":rev");
            if (rev)
                memmove(rev, "1", 2);
            long st = call(routes[i].method, path, (routes[i].flags & SP_HTTP_JSON_BODY) != 0, &r);
            if (st != 404 || !strstr(r.body, "\"path\":\"id\""))
                fprintf(stderr, "  %s %s -> %ld %.200s\n", routes[i].method, path, st, r.body);
            CHECK_INT_EQ(st, 404);
            CHECK_STR_CONTAINS(r.body, "\"path\":\"id\"");
        }
        checked++;
    }
    /* tests/:id (3 methods), its revisions (2), runs and try (2), runs/:id (11), tokens/:id */
    CHECK(checked >= 19);
    /* A revision in a path is an id too. */
    CHECK_INT_EQ(call("GET", "/api/v1/tests/1/revisions/+1", 0, &r), 404);
    CHECK_STR_CONTAINS(r.body, "\"path\":\"revision\"");
    CHECK_INT_EQ(call("GET", "/api/v1/tests/1/revisions/1", 0, &r), 200);
}

/* A call with a JSON body, as the admin. */
static long send_json(const char *method, const char *path, const char *body, http_resp *r)
{
    http_req q = {.method = method,
                  .path = path,
                  .header = bearer,
                  .ctype = "application/json",
                  .body = body};
    return http_send(port, &q, r);
}

static void test_full_disk_is_503_disk_full(void)
{
    static const char def[] = "{\"name\":\"full\",\"base_url\":\"http://127.0.0.1:9\","
                              "\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":"
                              "{\"url\":\"/\"}}]}],\"load\":{\"users\":1,\"duration\":\"1s\"}}";
    http_resp rt, rk, rl, r;
    fullvfs_set(1);
    long st_test = send_json("POST", "/api/v1/tests", def, &rt);
    long st_token = send_json("POST", "/api/v1/tokens", "{\"name\":\"full\"}", &rk);
    long st_list = call("GET", "/api/v1/tests", 0, &rl);
    fullvfs_set(0);
    CHECK_INT_EQ(st_test, 503);
    CHECK_STR_CONTAINS(rt.body, "\"code\":\"disk_full\"");
    CHECK(strstr(rt.body, "database or disk is full") == NULL); /* SQLite's words: the log's */
    CHECK_INT_EQ(st_token, 503);
    CHECK_STR_CONTAINS(rk.body, "\"code\":\"disk_full\"");
    /* One message for both, from the one table. */
    CHECK_STR_CONTAINS(rt.body, sp_http_error_message(SP_EFULL));
    CHECK_STR_CONTAINS(rk.body, sp_http_error_message(SP_EFULL));
    CHECK_INT_EQ(st_list, 200); /* reads go on */
    /* Space again: the same connections write, no restart. */
    CHECK_INT_EQ(send_json("POST", "/api/v1/tests", def, &r), 201);
    CHECK_INT_EQ(send_json("POST", "/api/v1/tokens", "{\"name\":\"after\"}", &r), 201);
}

/* The new status is listed, filtered on, and described in openapi.json. */
static void test_incomplete_status_in_the_api(void)
{
    http_resp r;
    CHECK_INT_EQ(call("GET", "/api/v1/runs?status=incomplete", 0, &r), 200);
    CHECK_INT_EQ(call("GET", "/api/v1/runs?status=bogus", 0, &r), 400);
    CHECK_STR_CONTAINS(r.body, "stopped, aborted, error, incomplete");
    /* openapi.json is larger than a test response keeps: built here from the same table. */
    size_t n = 0;
    const sp_http_route *routes = sp_api_routes(&n);
    json_t *doc = sp_openapi_build(routes, n);
    CHECK(doc != NULL);
    json_t *st = json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                                 "RunStatus");
    json_t *e = json_object_get(st, "enum");
    int found = 0;
    size_t i;
    json_t *v;
    json_array_foreach(e, i, v) found |= strcmp(json_string_value(v), "incomplete") == 0;
    CHECK(found);
    json_t *post =
        json_object_get(json_object_get(json_object_get(doc, "paths"), "/api/v1/tests"), "post");
    CHECK(json_object_get(json_object_get(post, "responses"), "503") != NULL);
    json_decref(doc);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *base = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/stampede-routes-XXXXXX", base && *base ? base : "/tmp");
    if (fullvfs_install() != SQLITE_OK) {
        fprintf(stderr, "cannot install the full-disk VFS\n");
        return 1;
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    sp_api_config acfg = {.data_dir = dir};
    sp_api *api = NULL;
    sp_auth *auth = NULL;
    char err[256], generated[128];
    sp_auth_config ac = {.db_path = NULL, .enabled = 1, .admin_password = "unit-admin-pw"};
    if (sp_api_new(&api, &acfg, err, sizeof err) != 0) {
        fprintf(stderr, "sp_api_new: %s\n", err);
        return 1;
    }
    ac.db_path = sp_api_db_path(api);
    json_t *t1 = NULL, *t2 = NULL;
    if (sp_auth_new(&auth, &ac, generated, sizeof generated, err, sizeof err) != 0 ||
        sp_auth_token_create(auth, "admin", "unit", 0, &t1, err, sizeof err) != 0 ||
        sp_auth_token_create(auth, "admin", "victim", 0, &t2, err, sizeof err) != 0) {
        fprintf(stderr, "auth: %s\n", err);
        return 1;
    }
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s",
             json_string_value(json_object_get(t1, "token")));
    token2 = json_integer_value(json_object_get(t2, "id"));
    json_decref(t1);
    json_decref(t2);
    size_t n = 0;
    const sp_http_route *routes = sp_api_routes(&n);
    sp_http_config cfg = {
        .host = "127.0.0.1", .port = 0, .live_port = 1, .threads = 2, .auth = auth};
    if (sp_http_server_new(&srv, &cfg, routes, n, api, err, sizeof err) != 0) {
        fprintf(stderr, "cannot start the server: %s\n", err);
        return 1;
    }
    port = sp_http_server_port(srv);
    RUN(test_token_plus_id_is_404_and_revokes_nothing);
    RUN(test_every_id_route_uses_the_one_parser);
    RUN(test_full_disk_is_503_disk_full);
    RUN(test_incomplete_status_in_the_api);
    sp_http_server_free(srv);
    sp_auth_free(auth);
    sp_api_free(api);
    curl_global_cleanup();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
