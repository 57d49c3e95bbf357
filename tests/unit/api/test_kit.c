/*
 * test_kit.c - the REST handlers' kit (server/api/kit.c): the one id parser and the whole
 * numbers of query strings (pure, then through a real server), the 422 error list, store
 * failures, and the SP_API_STORE route flag: the handler gets a pooled connection and it goes
 * back to the pool whatever the handler did.
 *
 * Decided here (kit.h): an id is decimal digits without a sign, spaces or leading zeros ("01"
 * is not an id, so every resource has one URL) and at most SP_KIT_ID_MAX; query numbers take
 * leading zeros ("page=01" is page 1) but no sign or space either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/kit.h"
#include "check.h"
#include "http/client.h"

static sp_http_server *srv;
static uint16_t port;

/* ---- Pure ---- */

static void test_parse_uint(void)
{
    int64_t v = -7;
    CHECK_INT_EQ(sp_kit_parse_uint("0", 0, 10, &v), 0);
    CHECK_INT_EQ(v, 0);
    CHECK_INT_EQ(sp_kit_parse_uint("7", 0, 10, &v), 0);
    CHECK_INT_EQ(v, 7);
    CHECK_INT_EQ(sp_kit_parse_uint("007", 0, 10, &v), 0);
    CHECK_INT_EQ(v, 7);
    CHECK_INT_EQ(sp_kit_parse_uint("200", 1, 200, &v), 0);
    CHECK_INT_EQ(v, 200);
    CHECK_INT_EQ(sp_kit_parse_uint("9223372036854775807", 0, INT64_MAX, &v), 0);
    CHECK(v == INT64_MAX);
    v = -7;
    static const char *const bad[] = {"",    "+1",  "-1",  " 1",  "1 ",  "1a",
                                      "0x1", "1e2", "1.0", "1,2", "\t1", "１"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT_EQ(sp_kit_parse_uint(bad[i], 0, 100, &v), SP_EINVAL);
        CHECK_INT_EQ(v, -7); /* untouched */
    }
    CHECK_INT_EQ(sp_kit_parse_uint(NULL, 0, 100, &v), SP_EINVAL);
    /* The bounds, both ways, and overflow refused rather than wrapped. */
    CHECK_INT_EQ(sp_kit_parse_uint("201", 1, 200, &v), SP_EINVAL);
    CHECK_INT_EQ(sp_kit_parse_uint("0", 1, 200, &v), SP_EINVAL);
    CHECK_INT_EQ(sp_kit_parse_uint("7", 0, 5, &v), SP_EINVAL);
    CHECK_INT_EQ(sp_kit_parse_uint("5", 0, 5, &v), 0);
    CHECK_INT_EQ(v, 5);
    v = -7;
    CHECK_INT_EQ(sp_kit_parse_uint("9223372036854775808", 0, INT64_MAX, &v), SP_EINVAL);
    CHECK_INT_EQ(sp_kit_parse_uint("99999999999999999999", 0, INT64_MAX, &v), SP_EINVAL);
    CHECK_INT_EQ(sp_kit_parse_uint("18446744073709551617", 0, INT64_MAX, &v), SP_EINVAL);
    CHECK_INT_EQ(v, -7);
}

static void test_parse_id(void)
{
    int64_t id = 0;
    CHECK_INT_EQ(sp_kit_parse_id("1", SP_KIT_ID_MAX, &id), 0);
    CHECK_INT_EQ(id, 1);
    CHECK_INT_EQ(sp_kit_parse_id("42", SP_KIT_ID_MAX, &id), 0);
    CHECK_INT_EQ(id, 42);
    CHECK_INT_EQ(sp_kit_parse_id("999999999999999999", SP_KIT_ID_MAX, &id), 0);
    CHECK(id == SP_KIT_ID_MAX);
    id = 5;
    /* "+1" once revoked token 1 while /tests/+1 was 404: one parser, one answer. */
    static const char *const bad[] = {"+1",
                                      "-1",
                                      " 1",
                                      "1 ",
                                      "01",
                                      "0",
                                      "00",
                                      "",
                                      "1.0",
                                      "1e3",
                                      "0x10",
                                      "99999999999999999999",
                                      "1000000000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT_EQ(sp_kit_parse_id(bad[i], SP_KIT_ID_MAX, &id), SP_EINVAL);
        CHECK_INT_EQ(id, 5);
    }
    CHECK_INT_EQ(sp_kit_parse_id(NULL, SP_KIT_ID_MAX, &id), SP_EINVAL);
    CHECK_INT_EQ(sp_kit_parse_id("2147483647", INT32_MAX, &id), 0);
    CHECK_INT_EQ(sp_kit_parse_id("2147483648", INT32_MAX, &id), SP_EINVAL);
}

static void test_errors_json(void)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_errlist_add(&el, "users[0].name", "must be a string");
    sp_errlist_add(&el, "", "missing required field 'load'");
    json_t *o = sp_kit_errors_json(&el, "definition", json_pack("{s:b}", "valid", 0));
    char *text = json_dumps(o, JSON_COMPACT);
    CHECK_STR_EQ(text, "{\"valid\":false,\"errors\":[{\"path\":\"definition.users[0].name\","
                       "\"message\":\"must be a string\"},{\"path\":\"definition\",\"message\":"
                       "\"missing required field 'load'\"}]}");
    free(text);
    json_decref(o);
    /* Without a prefix the paths are the errors' own; dropped errors are counted. */
    el.dropped = 3;
    o = sp_kit_errors_json(&el, "", NULL);
    text = json_dumps(o, JSON_COMPACT);
    CHECK_STR_EQ(text, "{\"errors\":[{\"path\":\"users[0].name\",\"message\":\"must be a "
                       "string\"},{\"path\":\"\",\"message\":\"missing required field 'load'\"}],"
                       "\"errors_dropped\":3}");
    free(text);
    json_decref(o);
    sp_errlist_release(&el);
}

/* ---- Through a server ---- */

static int h_item(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    int64_t id;
    int rc = sp_kit_id(req, "id", "item", &id);
    if (rc)
        return rc;
    return sp_http_reply_json(req, 200, json_pack("{s:I}", "id", (json_int_t)id));
}

static int h_items(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    int64_t page = 1, from = -1;
    int rc = sp_kit_query_num(req, "page", 1, 1000, NULL, &page);
    if (rc == 0)
        rc = sp_kit_query_num(req, "from", 0, 60, "a second of the run", &from);
    if (rc)
        return rc;
    return sp_http_reply_json(
        req, 200, json_pack("{s:I, s:I}", "page", (json_int_t)page, "from", (json_int_t)from));
}

static int h_errors(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    sp_errlist el;
    sp_errlist_init(&el);
    if (sp_http_query(req, "some"))
        sp_errlist_add(&el, "entries[1]", "bad entry");
    int rc = sp_kit_reply_errors(req, &el, sp_http_query(req, "prefix"), "invalid thing");
    sp_errlist_release(&el);
    return rc;
}

static int h_store_error(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    const char *c = sp_http_query(req, "code");
    if (strcmp(c, "io") == 0)
        return sp_kit_store_error(req, SP_EIO, "name", "disk I/O error in table tests");
    if (strcmp(c, "full") == 0)
        return sp_kit_store_error(req, SP_EFULL, "name", "database or disk is full");
    if (strcmp(c, "busy") == 0)
        return sp_kit_store_error(req, SP_EUNAVAILABLE, "name", "database is locked");
    return sp_kit_store_error(req, SP_ESTATE, "name", "a test named 'x' already exists");
}

/* The connections the store routes were given, in order. */
static sp_store *given[8];
static size_t ngiven;

static int h_store(sp_http_req *req, sp_store *s)
{
    if (ngiven < 8)
        given[ngiven++] = s;
    if (!s)
        return SP_ESYS;
    if (sp_http_query(req, "fail"))
        return SP_EINVAL; /* no answer: the kit's dispatcher must give s back all the same */
    return sp_http_reply_json(req, 200, json_pack("{s:i}", "schema", sp_store_schema_version(s)));
}

static const sp_api_route routes[] = {
    {"GET", "/items/:id", h_item, SP_PERM_READ, 0, "", 200, NULL},
    {"GET", "/items", h_items, SP_PERM_READ, 0, "", 200, "page,from"},
    {"GET", "/errors", h_errors, SP_PERM_READ, 0, "", 200, NULL},
    {"GET", "/store-error", h_store_error, SP_PERM_READ, 0, "", 200, NULL},
    {"GET", "/store", h_store, SP_PERM_READ, SP_API_STORE, "", 200, NULL},
    {"GET", "/no-store", h_store, SP_PERM_READ, 0, "", 200, NULL},
};

/* The 404 of a path id, as every :id route answers it. */
static void check_no_item(const char *path, const char *shown)
{
    http_resp r;
    CHECK_INT_EQ(http_get(port, NULL, path, &r), 404);
    char want[256];
    snprintf(want, sizeof want,
             "{\"error\":{\"code\":\"not_found\",\"message\":\"no item with id '%s'\",\"path\":"
             "\"id\"}}\n",
             shown);
    CHECK_STR_EQ(r.body, want);
}

static void test_path_ids(void)
{
    http_resp r;
    CHECK_INT_EQ(http_get(port, NULL, "/items/1", &r), 200);
    CHECK_STR_EQ(r.body, "{\"id\":1}\n");
    check_no_item("/items/+1", "+1");
    check_no_item("/items/-1", "-1");
    check_no_item("/items/%201", " 1");
    check_no_item("/items/1%20", "1 ");
    check_no_item("/items/01", "01");
    check_no_item("/items/0", "0");
    check_no_item("/items/99999999999999999999", "99999999999999999999");
}

static void test_query_numbers(void)
{
    http_resp r;
    CHECK_INT_EQ(http_get(port, NULL, "/items", &r), 200);
    CHECK_STR_EQ(r.body, "{\"page\":1,\"from\":-1}\n"); /* absent: the handler's defaults */
    CHECK_INT_EQ(http_get(port, NULL, "/items?page=01&from=0", &r), 200);
    CHECK_STR_EQ(r.body, "{\"page\":1,\"from\":0}\n");
    CHECK_INT_EQ(http_get(port, NULL, "/items?page=1000&from=60", &r), 200);
    CHECK_STR_EQ(r.body, "{\"page\":1000,\"from\":60}\n");
    static const char *const bad_page[] = {
        "/items?page=0",    "/items?page=1001", "/items?page=+1", "/items?page=-1",
        "/items?page=%201", "/items?page=",     "/items?page=1e3"};
    for (size_t i = 0; i < sizeof bad_page / sizeof bad_page[0]; i++) {
        CHECK_INT_EQ(http_get(port, NULL, bad_page[i], &r), 400);
        CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"bad_request\",\"message\":\"page must be a "
                             "whole number from 1 to 1000\",\"path\":\"page\"}}\n");
    }
    /* The parameter named in the message and the path is the one that is wrong. */
    CHECK_INT_EQ(http_get(port, NULL, "/items?page=2&from=61", &r), 400);
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"bad_request\",\"message\":\"from must be a "
                         "second of the run\",\"path\":\"from\"}}\n");
}

static void test_reply_errors(void)
{
    http_resp r;
    CHECK_INT_EQ(http_get(port, NULL, "/errors?some=1&prefix=settings", &r), 422);
    CHECK_STR_EQ(r.body, "{\"errors\":[{\"path\":\"settings.entries[1]\",\"message\":\"bad "
                         "entry\"}],\"error\":{\"code\":\"invalid_definition\",\"message\":"
                         "\"invalid thing: settings.entries[1]: bad entry\",\"path\":"
                         "\"settings.entries[1]\"}}\n");
    /* No error listed (a caller's bug, or a loader that failed without saying why): still a
     * 422 with an empty list, never a prefix passed off as a path. */
    CHECK_INT_EQ(http_get(port, NULL, "/errors?prefix=settings", &r), 422);
    CHECK_STR_EQ(r.body, "{\"errors\":[],\"error\":{\"code\":\"invalid_definition\",\"message\":"
                         "\"invalid thing: invalid\",\"path\":\"\"}}\n");
}

static void test_store_errors(void)
{
    http_resp r;
    /* SQLite's words stay in the log. */
    CHECK_INT_EQ(http_get(port, NULL, "/store-error?code=io", &r), 500);
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"internal\",\"message\":\"the database failed "
                         "(see the server log)\",\"path\":\"\"}}\n");
    /* A full disk and a busy database are 503, each with its own code and the table's words;
     * SQLite's stay in the log here too. */
    CHECK_INT_EQ(http_get(port, NULL, "/store-error?code=full", &r), 503);
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"disk_full\",\"message\":\"the disk of the "
                         "data directory is full: nothing can be saved until space is freed\","
                         "\"path\":\"\"}}\n");
    CHECK_INT_EQ(http_get(port, NULL, "/store-error?code=busy", &r), 503);
    CHECK_STR_CONTAINS(r.body, "\"code\":\"unavailable\"");
    CHECK(strstr(r.body, "locked") == NULL);
    CHECK(sp_kit_storage_failure(SP_EFULL) && sp_kit_storage_failure(SP_EUNAVAILABLE) &&
          sp_kit_storage_failure(SP_EIO) && sp_kit_storage_failure(SP_ESYS));
    CHECK(!sp_kit_storage_failure(SP_ESTATE) && !sp_kit_storage_failure(SP_ENOTFOUND) &&
          !sp_kit_storage_failure(0));
    /* A conflict is the client's: its message and path. */
    CHECK_INT_EQ(http_get(port, NULL, "/store-error?code=state", &r), 409);
    CHECK_STR_EQ(r.body, "{\"error\":{\"code\":\"conflict\",\"message\":\"a test named 'x' "
                         "already exists\",\"path\":\"name\"}}\n");
}

static void test_store_flag_gives_the_connection_back(void)
{
    http_resp r;
    ngiven = 0;
    CHECK_INT_EQ(http_get(port, NULL, "/store", &r), 200);
    CHECK_STR_CONTAINS(r.body, "\"schema\":");
    /* The handler fails without answering: the layer answers, and the kit still gives the
     * connection back, so the next request is handed the same one from the pool. */
    CHECK_INT_EQ(http_get(port, NULL, "/store?fail=1", &r), 400);
    CHECK_INT_EQ(http_get(port, NULL, "/store", &r), 200);
    CHECK_INT_EQ(ngiven, 3);
    CHECK(given[0] != NULL);
    CHECK(given[1] == given[0]);
    CHECK(given[2] == given[0]);
    /* A route without the flag gets none. */
    CHECK_INT_EQ(http_get(port, NULL, "/no-store", &r), 500);
    CHECK_INT_EQ(ngiven, 4);
    CHECK(given[3] == NULL);
}

static void test_api_routes_are_all_dispatched_by_the_kit(void)
{
    size_t n = 0;
    const sp_http_route *all = sp_api_routes(&n);
    CHECK(n > 50);
    for (size_t i = 0; i < n; i++) {
        const sp_api_route *r = all[i].ud;
        CHECK(all[i].fn == sp_kit_dispatch);
        CHECK(r != NULL && r->fn != NULL);
        CHECK_STR_EQ(all[i].pattern, r->pattern);
        CHECK_STR_EQ(all[i].method, r->method);
        CHECK_UINT_EQ(all[i].flags, r->flags);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *base = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/stampede-kit-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    sp_api_config acfg = {.data_dir = dir};
    sp_api *api = NULL;
    char err[256];
    if (sp_api_new(&api, &acfg, err, sizeof err) != 0) {
        fprintf(stderr, "sp_api_new: %s\n", err);
        return 1;
    }
    sp_http_route table[sizeof routes / sizeof routes[0]];
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        table[i] = sp_kit_http_route(&routes[i]);
    sp_http_config cfg = {.host = "127.0.0.1", .port = 0, .live_port = 1, .threads = 2};
    if (sp_http_server_new(&srv, &cfg, table, sizeof table / sizeof table[0], api, err,
                           sizeof err) != 0) {
        fprintf(stderr, "cannot start the server: %s\n", err);
        return 1;
    }
    port = sp_http_server_port(srv);
    RUN(test_parse_uint);
    RUN(test_parse_id);
    RUN(test_errors_json);
    RUN(test_path_ids);
    RUN(test_query_numbers);
    RUN(test_reply_errors);
    RUN(test_store_errors);
    RUN(test_store_flag_gives_the_connection_back);
    RUN(test_api_routes_are_all_dispatched_by_the_kit);
    sp_http_server_free(srv);
    sp_api_free(api);
    curl_global_cleanup();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
