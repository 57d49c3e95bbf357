/*
 * test_routes.c - the API's real route table (sp_api_routes) served with accounts on: every
 * route with an :id in its path answers an id not written as digits alone with 404, and
 * DELETE /api/v1/tokens/+N, which once revoked token N (strtoll read the '+'), leaves it live.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/auth.h"
#include "check.h"
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

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *base = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/stampede-routes-XXXXXX", base && *base ? base : "/tmp");
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
