/*
 * api.c - see api.h.
 */
#define _GNU_SOURCE /* O_CLOEXEC, O_NOFOLLOW */
#include "api/api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"
#include "engine/definition.h"
#include "base/datadir.h"
#include "base/version.h"
#include "auth/auth.h"
#include "import/curlimport.h"
#include "runs/policy.h"
#include "store/store.h"
#include "api/web.h"

#define API_PREFIX "/api/v1"
#define DB_FILE SP_DATADIR_DB_FILE

struct sp_api {
    char *db_path;
    char *data_dir;
    char *files_dir; /* data_dir/files: the only place definitions may read CSV files from */
    char *web_root;  /* realpath, NULL when none */
    uint16_t live_port;
    char *live_url; /* NULL: none */
    int first_start;
    /* Idle SQLite connections. A request takes one and gives it back; the pool grows to the
     * number of requests handled at once (the HTTP thread pool's size). */
    struct sp_runs *runs; /* the run manager (api_runs.c), set before serving */
    pthread_mutex_t mu;
    sp_store **idle;
    size_t nidle;
    size_t cap;
};

/* ---- Connection pool ---- */

static int conn_get(sp_api *api, sp_store **out, char *err, size_t errlen)
{
    *out = NULL;
    pthread_mutex_lock(&api->mu);
    if (api->nidle)
        *out = api->idle[--api->nidle];
    pthread_mutex_unlock(&api->mu);
    if (*out)
        return 0;
    return sp_store_open(out, api->db_path, err, errlen);
}

static void conn_put(sp_api *api, sp_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&api->mu);
    sp_grow((void **)&api->idle, &api->cap, api->nidle + 1, sizeof(*api->idle));
    api->idle[api->nidle++] = s;
    pthread_mutex_unlock(&api->mu);
}

int sp_api_new(sp_api **out, const sp_api_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    int rc = 0;
    sp_api *api = sp_calloc(1, sizeof(*api));
    pthread_mutex_init(&api->mu, NULL);
    api->data_dir = sp_strdup(cfg->data_dir);
    api->live_port = cfg->live_port;
    api->live_url = cfg->live_url ? sp_strdup(cfg->live_url) : NULL;
    sp_buf path;
    sp_buf_init(&path, PATH_MAX);
    if (sp_buf_addf(&path, "%s/%s", cfg->data_dir, DB_FILE) != 0) {
        snprintf(err, errlen, "data directory path too long");
        rc = SP_EINVAL;
        goto out;
    }
    api->db_path = sp_buf_detach(&path, NULL);
    sp_buf_init(&path, PATH_MAX);
    if (sp_buf_addf(&path, "%s/%s", cfg->data_dir, SP_API_FILES_DIR) != 0) {
        snprintf(err, errlen, "data directory path too long");
        rc = SP_EINVAL;
        goto out;
    }
    api->files_dir = sp_buf_detach(&path, NULL);
    if (mkdir(api->files_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create '%s': %s", api->files_dir, strerror(errno));
        rc = SP_ESYS;
        goto out;
    }
    if (cfg->web_root) {
        api->web_root = realpath(cfg->web_root, NULL);
        if (!api->web_root) {
            snprintf(err, errlen, "--web-root '%s': %s", cfg->web_root, strerror(errno));
            rc = SP_EINVAL;
            goto out;
        }
    }
    struct stat st;
    api->first_start = stat(api->db_path, &st) != 0;

    sp_store *s = NULL;
    rc = sp_store_open(&s, api->db_path, err, errlen);
    if (rc)
        goto out;
    int n = 0;
    rc = sp_store_runs_mark_aborted(s, &n);
    if (rc) {
        snprintf(err, errlen, "crash recovery failed: %s", sp_store_errmsg(s));
        sp_store_close(s);
        goto out;
    }
    if (n > 0) {
        char num[16];
        snprintf(num, sizeof num, "%d", n);
        sp_log_kv(SP_LOG_WARN, "runs left running by a previous process marked aborted", "count", num,
                    NULL);
    }
    conn_put(api, s);
    *out = api;
    api = NULL;
out:
    sp_buf_release(&path);
    sp_api_free(api);
    return rc;
}

void sp_api_free(sp_api *api)
{
    if (!api)
        return;
    for (size_t i = 0; i < api->nidle; i++)
        sp_store_close(api->idle[i]);
    free(api->idle);
    pthread_mutex_destroy(&api->mu);
    free(api->db_path);
    free(api->data_dir);
    free(api->files_dir);
    free(api->web_root);
    free(api->live_url);
    free(api);
}

int sp_api_is_first_start(const sp_api *api)
{
    return api->first_start;
}

int sp_api_checkpoint(sp_api *api, int truncate)
{
    sp_store *s;
    char err[256] = "";
    int rc = conn_get(api, &s, err, sizeof err);
    if (rc) {
        sp_log_kv(SP_LOG_ERROR, "checkpoint: cannot open the database", "error", err, NULL);
        return rc;
    }
    int frames = 0, done = 0;
    rc = sp_store_checkpoint(s, truncate, &frames, &done);
    if (rc) {
        sp_log_kv(SP_LOG_WARN, "checkpoint failed", "error", sp_store_errmsg(s), NULL);
    } else if (done < frames) {
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", frames);
        snprintf(b, sizeof b, "%d", done);
        sp_log_kv(SP_LOG_WARN, "checkpoint held back by a reader", "wal_frames", a, "checkpointed", b,
                    NULL);
    }
    conn_put(api, s);
    return rc;
}

/* ---- Helpers ---- */

static sp_api *app(sp_http_req *req)
{
    return sp_http_req_app(req);
}

/* Answers a store failure: the store's codes are already the SP_E* codes the error table
 * knows; its message names the conflict for SP_ESTATE. */
static int store_error(sp_http_req *req, int rc, const char *path, const char *msg)
{
    if (rc == SP_EIO || rc == SP_ESYS) {
        sp_log_kv(SP_LOG_ERROR, "store", "path", sp_http_req_path(req), "error", msg, NULL);
        return sp_http_reply_error(req, rc, "", NULL, "the database failed (see the server log)");
    }
    return sp_http_reply_error(req, rc, path, NULL, "%s", msg && *msg ? msg : sp_strerror(rc));
}

/* Takes a connection for this request or answers 503. */
static int take_store(sp_http_req *req, sp_store **s)
{
    char err[256] = "";
    int rc = conn_get(app(req), s, err, sizeof err);
    if (rc) {
        sp_log_kv(SP_LOG_ERROR, "cannot open the database", "error", err, NULL);
        return sp_http_reply_error(req, SP_EUNAVAILABLE, "", NULL,
                                   "the database cannot be opened (see the server log)");
    }
    return 0;
}

/* A positive decimal id no longer than int64; 0 when it is not one. */
static int64_t parse_id(const char *s)
{
    if (!s || !*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s) || s[0] == '0')
        return 0;
    return strtoll(s, NULL, 10);
}

/* Reads an optional positive integer query parameter; 0 when absent, -1 when bad. */
static long query_int(sp_http_req *req, const char *name, long max)
{
    const char *v = sp_http_query(req, name);
    if (!v)
        return 0;
    if (!*v || strlen(v) > 9 || strspn(v, "0123456789") != strlen(v))
        return -1;
    long n = strtol(v, NULL, 10);
    return n >= 1 && n <= max ? n : -1;
}

/*
 * Checks the request's body as a test definition. On success returns 0 with *def (owned by
 * the caller). Otherwise answers 422 with every error, {"errors": [{"path", "message"}...]},
 * and returns the reply's result with *def NULL.
 */
static int load_definition(sp_http_req *req, sp_def **def, int *replied)
{
    *replied = 0;
    size_t len;
    const char *text = sp_http_body(req, &len);
    sp_errlist el;
    sp_errlist_init(&el);
    sp_overrides none = SP_OVERRIDES_NONE;
    int rc = sp_def_load_confined(text, len, &none, app(req)->files_dir, def, &el);
    if (rc == 0)
        goto out;
    *replied = 1;
    json_t *list = json_array();
    for (size_t i = 0; i < el.n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "path", sp_json_string(el.v[i].path));
        json_object_set_new(e, "message", sp_json_string(el.v[i].msg));
        json_array_append_new(list, e); /* steals e */
    }
    json_t *extra = json_object();
    json_object_set_new(extra, "valid", json_false());
    json_object_set_new(extra, "errors", list); /* steals list */
    if (el.dropped)
        json_object_set_new(extra, "errors_dropped", json_integer((json_int_t)el.dropped));
    size_t total = el.n + el.dropped;
    const char *first_path = el.n ? el.v[0].path : "";
    const char *first_msg = el.n ? el.v[0].msg : "invalid definition";
    rc = sp_http_reply_error(req, SP_EDEFINITION, first_path, extra,
                             "the definition has %zu error%s; the first: %s%s%s", total,
                             total == 1 ? "" : "s", first_path, *first_path ? ": " : "", first_msg);
out:
    sp_errlist_release(&el);
    return rc;
}

/* ---- Handlers: service ---- */

static int h_health(sp_http_req *req)
{
    sp_store *s;
    char err[256] = "";
    if (conn_get(app(req), &s, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "health: cannot open the database", "error", err, NULL);
        return sp_http_reply_json(req, 503,
                                  json_pack("{s:s, s:s}", "status", "unavailable", "db", "error"));
    }
    int version = sp_store_schema_version(s);
    conn_put(app(req), s);
    if (version <= 0)
        return sp_http_reply_json(req, 503,
                                  json_pack("{s:s, s:s}", "status", "unavailable", "db", "error"));
    return sp_http_reply_json(
        req, 200,
        json_pack("{s:s, s:s, s:i}", "status", "ok", "db", "ok", "schema_version", version));
}

/* live_url is null unless a proxy puts the stream elsewhere: the dashboard then opens
 * ws://<its own host>:live_port/ (docs/operations.md). */
static int h_config(sp_http_req *req)
{
    const sp_api *api = app(req);
    /* "allowlist": whether a target allowlist is set; without one every target is allowed, and
     * the dashboard says so. */
    sp_store *s = NULL;
    char err[256] = "";
    int allowlist = 0;
    if (conn_get(app(req), &s, err, sizeof err) == 0) {
        json_t *entries = NULL;
        if (sp_store_allowlist_get(s, &entries) == 0)
            allowlist = json_array_size(entries) > 0;
        json_decref(entries);
        conn_put(app(req), s);
    }
    return sp_http_reply_json(
        req, 200,
        json_pack("{s:s, s:i, s:o, s:s, s:b, s:b}", "version", sp_version_string(), "live_port",
                  (int)api->live_port, "live_url",
                  api->live_url ? json_string(api->live_url) : json_null(), "api", API_PREFIX,
                  "auth", sp_auth_enabled(sp_http_req_auth(req)), "allowlist", allowlist));
}

static int h_openapi(sp_http_req *req);

/* ---- Handlers: tests ---- */

static int h_validate(sp_http_req *req)
{
    sp_def *def = NULL;
    int replied;
    int rc = load_definition(req, &def, &replied);
    if (replied)
        return rc;
    json_t *names = json_array();
    for (size_t i = 0; i < def->nnames; i++)
        json_array_append_new(names, sp_json_string(def->names[i]));
    json_t *body = json_object();
    json_object_set_new(body, "valid", json_true());
    json_object_set_new(body, "name", json_string(def->name ? def->name : ""));
    json_object_set_new(body, "names", names);
    sp_def_free(def);
    return sp_http_reply_json(req, 200, body);
}

/* A curl command line to a step; nothing is stored, so reading is enough to ask. */
static int h_import_curl(sp_http_req *req)
{
    json_t *body = sp_http_json(req);               /* borrowed */
    json_t *cmd = json_object_get(body, "command"); /* borrowed */
    if (!json_is_string(cmd))
        return sp_http_reply_error(req, SP_EINVAL, "command", NULL,
                                   "the body must be {\"command\": \"curl ...\"}");
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *step = NULL;
    int rc = sp_curl_import(json_string_value(cmd), json_string_length(cmd), &step, &el);
    if (rc == 0) {
        rc = sp_http_reply_json(req, 200, json_pack("{s:o}", "step", step)); /* steals step */
        goto out;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < el.n; i++)
        json_array_append_new(list,
                              json_pack("{s:o, s:o}", "path", sp_json_string(el.v[i].path),
                                        "message", sp_json_string(el.v[i].msg)));
    json_t *extra = json_pack("{s:o}", "errors", list); /* steals list */
    rc = sp_http_reply_error(req, SP_EDEFINITION, "command", extra,
                             "cannot import the command: %s", el.n ? el.v[0].msg : "invalid");
out:
    sp_errlist_release(&el);
    return rc;
}

static int h_tests_list(sp_http_req *req)
{
    long page = query_int(req, "page", 1000000);
    if (page < 0)
        return sp_http_reply_error(req, SP_EINVAL, "page", NULL,
                                   "page must be a whole number from 1 to 1000000");
    long per_page = query_int(req, "per_page", SP_API_PER_PAGE_MAX);
    if (per_page < 0)
        return sp_http_reply_error(req, SP_EINVAL, "per_page", NULL,
                                   "per_page must be a whole number from 1 to %d",
                                   SP_API_PER_PAGE_MAX);
    const char *q = sp_http_query(req, "q");
    if (q && strlen(q) > SP_API_MAX_QUERY)
        return sp_http_reply_error(req, SP_EINVAL, "q", NULL, "q is longer than %d bytes",
                                   SP_API_MAX_QUERY);
    if (!page)
        page = 1;
    if (!per_page)
        per_page = SP_STORE_PAGE_DEFAULT;
    sp_store *s;
    int rc = take_store(req, &s);
    if (rc || !s)
        return rc;
    json_t *list = NULL;
    rc = sp_store_test_list(s, q && *q ? q : NULL, 0, (int)per_page, (int)((page - 1) * per_page),
                            &list);
    if (rc) {
        rc = store_error(req, rc, "", sp_store_errmsg(s));
        goto out;
    }
    json_object_set_new(list, "page", json_integer(page));
    json_object_set_new(list, "per_page", json_integer(per_page));
    rc = sp_http_reply_json(req, 200, list); /* steals list */
out:
    conn_put(app(req), s);
    return rc;
}

/*
 * Saves a definition as a new test (id 0) or a new revision of test id. doc is the definition
 * as sent (borrowed) and text its JSON text. Secrets go to their own table and the revision
 * keeps the mask in their place; a secret sent back as the mask keeps its stored value.
 * Returns and fills *new_id, *revision and err as sp_store_test_save() does.
 */
static int save_test(sp_store *s, int64_t id, const char *name, const json_t *doc, const char *text,
                     const char *by, int64_t *new_id, int *revision, char *err, size_t errlen)
{
    char *masked = NULL;
    json_t *secrets = NULL;
    sp_policy_split_secrets(doc, &masked, &secrets);
    int rc = sp_store_test_save(s, id, name, masked ? masked : text, secrets, by, new_id, revision,
                                err, errlen);
    free(masked);
    json_decref(secrets); /* NULL when there are none */
    return rc;
}

static int h_tests_create(sp_http_req *req)
{
    sp_def *def = NULL;
    int replied;
    int rc = load_definition(req, &def, &replied);
    if (replied)
        return rc;
    sp_store *s = NULL;
    rc = take_store(req, &s);
    if (rc || !s)
        goto out;
    size_t len;
    const char *text = sp_http_body(req, &len);
    int64_t id = 0;
    char err[256] = "";
    rc = save_test(s, 0, def->name, sp_http_json(req), text, sp_http_req_principal(req)->name, &id,
                   NULL, err, sizeof err);
    if (rc) {
        rc = store_error(req, rc, rc == SP_EINVAL ? "secrets" : "name",
                         err[0] ? err : sp_store_errmsg(s));
        goto out;
    }
    char loc[64];
    snprintf(loc, sizeof loc, API_PREFIX "/tests/%lld", (long long)id);
    sp_http_add_header(req, "Location", loc);
    sp_log_kv(SP_LOG_INFO, "test created", "id", loc + sizeof(API_PREFIX "/tests/") - 1, "who",
                sp_http_req_principal(req)->name, NULL);
    sp_http_audit(req, "test.create", loc + sizeof(API_PREFIX "/") - 1, def->name);
    rc = sp_http_reply_json(
        req, 201,
        json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "name", def->name, "revision", 1));
out:
    conn_put(app(req), s);
    sp_def_free(def);
    return rc;
}

/* Gets a live test (404 for a deleted one: its history is kept for its runs, not shown as a
 * test). On success *out is a new reference; otherwise the error was answered. */
static int get_live_test(sp_http_req *req, sp_store *s, int64_t id, int revision, json_t **out,
                         int *replied)
{
    *out = NULL;
    *replied = 1;
    json_t *t = NULL;
    int rc = sp_store_test_get(s, id, revision, &t);
    if (rc == SP_ENOTFOUND || (rc == 0 && !json_is_null(json_object_get(t, "deleted_at")))) {
        if (t)
            json_decref(t);
        if (revision)
            return sp_http_reply_error(req, SP_ENOTFOUND, "revision", NULL,
                                       "test %lld has no revision %d", (long long)id, revision);
        return sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no test with id %lld",
                                   (long long)id);
    }
    if (rc)
        return store_error(req, rc, "", sp_store_errmsg(s));
    *replied = 0;
    *out = t;
    return 0;
}

static int no_such_test(sp_http_req *req)
{
    return sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no test with id '%.64s'",
                               sp_http_param(req, "id"));
}

static int h_test_get(sp_http_req *req)
{
    int64_t id = parse_id(sp_http_param(req, "id"));
    if (!id)
        return no_such_test(req);
    long rev = 0;
    const char *rev_param = sp_http_param(req, "rev");
    if (rev_param) {
        rev = (long)parse_id(rev_param);
        if (rev <= 0 || rev > INT32_MAX)
            return sp_http_reply_error(req, SP_ENOTFOUND, "revision", NULL, "no revision '%.64s'",
                                       rev_param);
    } else {
        rev = query_int(req, "revision", INT32_MAX);
        if (rev < 0)
            return sp_http_reply_error(req, SP_EINVAL, "revision", NULL,
                                       "revision must be a whole number from 1");
    }
    sp_store *s;
    int rc = take_store(req, &s);
    if (rc || !s)
        return rc;
    json_t *t;
    int replied;
    rc = get_live_test(req, s, id, (int)rev, &t, &replied);
    if (replied)
        goto out;
    /* The definition is stored as the text the user sent; it is returned as JSON so that
     * clients need not parse a string inside a document. It was valid JSON when stored. */
    const char *text = json_string_value(json_object_get(t, "definition"));
    json_error_t je;
    json_t *doc = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (doc)
        json_object_set_new(t, "definition", doc); /* steals doc */
    rc = sp_http_reply_json(req, 200, t);
out:
    conn_put(app(req), s);
    return rc;
}

static int h_test_update(sp_http_req *req)
{
    int64_t id = parse_id(sp_http_param(req, "id"));
    if (!id)
        return no_such_test(req);
    sp_def *def = NULL;
    int replied;
    int rc = load_definition(req, &def, &replied);
    if (replied)
        return rc;
    sp_store *s = NULL;
    rc = take_store(req, &s);
    if (rc || !s)
        goto out;
    size_t len;
    const char *text = sp_http_body(req, &len);
    int revision = 0;
    char err[256] = "";
    rc = save_test(s, id, def->name, sp_http_json(req), text, sp_http_req_principal(req)->name,
                   NULL, &revision, err, sizeof err);
    if (rc == SP_ENOTFOUND) {
        rc = sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no test with id %lld",
                                 (long long)id);
        goto out;
    }
    if (rc) {
        rc = store_error(req, rc, rc == SP_EINVAL ? "secrets" : "name",
                         err[0] ? err : sp_store_errmsg(s));
        goto out;
    }
    char revtext[16];
    snprintf(revtext, sizeof revtext, "%d", revision);
    sp_log_kv(SP_LOG_INFO, "test updated", "id", sp_http_param(req, "id"), "revision", revtext, "who",
                sp_http_req_principal(req)->name, NULL);
    char obj[64];
    snprintf(obj, sizeof obj, "tests/%lld", (long long)id);
    char detail[SP_AUTH_NAME_MAX * 4];
    snprintf(detail, sizeof detail, "revision %d: %.200s", revision, def->name);
    sp_http_audit(req, "test.update", obj, detail);
    rc = sp_http_reply_json(req, 200,
                            json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "name", def->name,
                                      "revision", revision));
out:
    conn_put(app(req), s);
    sp_def_free(def);
    return rc;
}

static int h_test_delete(sp_http_req *req)
{
    int64_t id = parse_id(sp_http_param(req, "id"));
    if (!id)
        return no_such_test(req);
    sp_store *s;
    int rc = take_store(req, &s);
    if (rc || !s)
        return rc;
    rc = sp_store_test_delete(s, id);
    if (rc == SP_ENOTFOUND)
        rc = sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no test with id %lld",
                                 (long long)id);
    else if (rc)
        rc = store_error(req, rc, "", sp_store_errmsg(s));
    else {
        sp_log_kv(SP_LOG_INFO, "test deleted", "id", sp_http_param(req, "id"), "who",
                    sp_http_req_principal(req)->name, NULL);
        char obj[64];
        snprintf(obj, sizeof obj, "tests/%lld", (long long)id);
        sp_http_audit(req, "test.delete", obj, NULL);
        rc = sp_http_reply_empty(req, 204);
    }
    conn_put(app(req), s);
    return rc;
}

static int h_test_revisions(sp_http_req *req)
{
    int64_t id = parse_id(sp_http_param(req, "id"));
    if (!id)
        return no_such_test(req);
    sp_store *s;
    int rc = take_store(req, &s);
    if (rc || !s)
        return rc;
    json_t *t = NULL, *revs = NULL;
    int replied;
    rc = get_live_test(req, s, id, 0, &t, &replied);
    if (replied)
        goto out;
    rc = sp_store_test_revisions(s, id, &revs);
    if (rc) {
        rc = store_error(req, rc, "id", sp_store_errmsg(s));
        goto out;
    }
    rc = sp_http_reply_json(
        req, 200,
        json_pack("{s:I, s:o}", "id", (json_int_t)id, "items", revs)); /* "o" steals revs */
out:
    if (t)
        json_decref(t);
    conn_put(app(req), s);
    return rc;
}

/* ---- Static files ---- */

static const char *content_type_for(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < SP_ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* Whether a relative path under the web root is safe to open: segments of [A-Za-z0-9._-],
 * none empty, none starting with '.' (no "..", no hidden files). */
static int safe_relpath(const char *rel)
{
    if (!*rel || strlen(rel) > 512)
        return 0;
    int seg_start = 1;
    for (const char *p = rel; *p; p++) {
        char c = *p;
        if (c == '/') {
            if (seg_start)
                return 0;
            seg_start = 1;
            continue;
        }
        if (seg_start && c == '.')
            return 0;
        seg_start = 0;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return !seg_start;
}

/* Whether a file of the web root (safe_relpath checked) can be served: open, regular, inside
 * the root. Returns the open descriptor and its size, or -1. */
static int open_in_root(const sp_api *api, const char *rel, uint64_t *size)
{
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", api->web_root, rel) >= sizeof full)
        return -1;
    /* The path is checked by its characters, and the file it resolves to (through any
     * symbolic link in the tree) must still lie under the root. */
    char *real = realpath(full, NULL);
    size_t rootlen = strlen(api->web_root);
    int inside = real && strncmp(real, api->web_root, rootlen) == 0 && real[rootlen] == '/';
    free(real);
    if (!inside)
        return -1;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

const sp_web_file *sp_web_find(const char *path)
{
    size_t n;
    const sp_web_file *f = sp_web_files(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].path, path) == 0)
            return &f[i];
    return NULL;
}

/* Sends rel from the web root when one is given and holds it, else the embedded copy (so a
 * development root need not hold the npm files), else 404. Embedded files carry an ETag and
 * answer a matching If-None-Match with 304: pages are sent with Cache-Control: no-cache, so
 * the browser revalidates each load and an unchanged file costs one small round trip. */
static int send_file(sp_http_req *req, const char *rel)
{
    const sp_api *api = app(req);
    if (!safe_relpath(rel))
        return sp_http_reply_error(req, SP_ENOTFOUND, "", NULL, "no such file");
    if (api->web_root) {
        uint64_t size = 0;
        int fd = open_in_root(api, rel, &size);
        if (fd >= 0)
            return sp_http_reply_fd(req, fd, size, content_type_for(rel)); /* owns fd */
    }
    const sp_web_file *f = sp_web_find(rel);
    if (!f)
        return sp_http_reply_error(req, SP_ENOTFOUND, "", NULL, "no such file");
    sp_http_add_header(req, "ETag", f->etag);
    const char *inm = sp_http_header(req, "If-None-Match");
    if (inm && strstr(inm, f->etag))
        return sp_http_reply_static(req, 304, f->content_type, "", 0);
    return sp_http_reply_static(req, 200, f->content_type, f->data, f->len);
}

static int h_index(sp_http_req *req)
{
    return send_file(req, "index.html");
}

static int h_asset(sp_http_req *req)
{
    char rel[600];
    if ((size_t)snprintf(rel, sizeof rel, "assets/%s", sp_http_param(req, "*")) >= sizeof rel)
        return sp_http_reply_error(req, SP_ENOTFOUND, "", NULL, "no such file");
    return send_file(req, rel);
}

/* ---- Route table ---- */

static const sp_http_route routes[] = {
    {"GET", "/", h_index, SP_PERM_PUBLIC, SP_HTTP_PAGE, "The dashboard", 200, NULL},
    {"GET", "/assets/*", h_asset, SP_PERM_PUBLIC, SP_HTTP_PAGE, "The dashboard's files", 200, NULL},
    {"GET", API_PREFIX "/health", h_health, SP_PERM_PUBLIC, 0, "Liveness and database health", 200,
     NULL},
    {"GET", API_PREFIX "/config", h_config, SP_PERM_PUBLIC, 0,
     "Version and where the live stream listens", 200, NULL},
    {"GET", API_PREFIX "/openapi.json", h_openapi, SP_PERM_PUBLIC, 0, "This description of the API",
     200, NULL},
    {"POST", API_PREFIX "/tests/validate", h_validate, SP_PERM_READ, SP_HTTP_JSON_BODY,
     "Check a test definition without saving it", 200, NULL},
    {"POST", API_PREFIX "/tests/import/curl", h_import_curl, SP_PERM_READ, SP_HTTP_JSON_BODY,
     "Turn a curl command line into a step (nothing is saved)", 200, NULL},
    {"GET", API_PREFIX "/tests", h_tests_list, SP_PERM_READ, 0,
     "List tests, newest first, optionally filtered by name", 200, "page,per_page,q"},
    {"POST", API_PREFIX "/tests", h_tests_create, SP_PERM_WRITE, SP_HTTP_JSON_BODY,
     "Create a test from a definition (revision 1)", 201, NULL},
    {"GET", API_PREFIX "/tests/:id", h_test_get, SP_PERM_READ, 0,
     "A test with its newest (or a given) revision's definition", 200, "revision"},
    {"PUT", API_PREFIX "/tests/:id", h_test_update, SP_PERM_WRITE, SP_HTTP_JSON_BODY,
     "Save a new revision of a test", 200, NULL},
    {"DELETE", API_PREFIX "/tests/:id", h_test_delete, SP_PERM_WRITE, 0,
     "Delete a test (its revisions and runs are kept)", 204, NULL},
    {"GET", API_PREFIX "/tests/:id/revisions", h_test_revisions, SP_PERM_READ, 0,
     "Every revision of a test, newest first", 200, NULL},
    {"GET", API_PREFIX "/tests/:id/revisions/:rev", h_test_get, SP_PERM_READ, 0,
     "A test at one revision", 200, NULL},
};

/* The tests routes and the run routes in one table, built once. */
static sp_http_route *all_routes;
static size_t nall_routes;
static pthread_once_t all_routes_once = PTHREAD_ONCE_INIT;

static void build_all_routes(void)
{
    size_t nrun, npol, nauth, ntool, nfile;
    const sp_http_route *run = sp_api_run_routes(&nrun);
    const sp_http_route *pol = sp_api_policy_routes(&npol);
    const sp_http_route *auth = sp_api_auth_routes(&nauth);
    const sp_http_route *tool = sp_api_tool_routes(&ntool);
    const sp_http_route *file = sp_api_file_routes(&nfile);
    nall_routes = SP_ARRAY_LEN(routes) + nrun + npol + nauth + ntool + nfile;
    all_routes = sp_calloc(nall_routes, sizeof *all_routes);
    memcpy(all_routes, routes, sizeof routes);
    memcpy(all_routes + SP_ARRAY_LEN(routes), run, nrun * sizeof *run);
    memcpy(all_routes + SP_ARRAY_LEN(routes) + nrun, pol, npol * sizeof *pol);
    memcpy(all_routes + SP_ARRAY_LEN(routes) + nrun + npol, auth, nauth * sizeof *auth);
    memcpy(all_routes + SP_ARRAY_LEN(routes) + nrun + npol + nauth, tool, ntool * sizeof *tool);
    memcpy(all_routes + SP_ARRAY_LEN(routes) + nrun + npol + nauth + ntool, file,
           nfile * sizeof *file);
}

const sp_http_route *sp_api_routes(size_t *n)
{
    pthread_once(&all_routes_once, build_all_routes);
    *n = nall_routes;
    return all_routes;
}

/* ---- For the run routes ---- */

void sp_api_set_runs(sp_api *api, struct sp_runs *runs)
{
    api->runs = runs;
}

struct sp_runs *sp_api_runs(const sp_api *api)
{
    return api->runs;
}

const char *sp_api_db_path(const sp_api *api)
{
    return api->db_path;
}

const char *sp_api_data_dir(const sp_api *api)
{
    return api->data_dir;
}

const char *sp_api_files_dir(const sp_api *api)
{
    return api->files_dir;
}

int sp_api_store_take(sp_api *api, sp_store **out, char *err, size_t errlen)
{
    return conn_get(api, out, err, errlen);
}

void sp_api_store_give(sp_api *api, sp_store *s)
{
    conn_put(api, s);
}

/* ---- OpenAPI, built from the route table so that it cannot miss a route ---- */

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

static json_t *build_openapi(void)
{
    json_t *paths = json_object();
    size_t nroutes;
    const sp_http_route *table = sp_api_routes(&nroutes);
    for (size_t i = 0; i < nroutes; i++) {
        const sp_http_route *r = &table[i];
        /* "/tests/:id" becomes "/tests/{id}", a final "*" becomes "{path}". */
        sp_buf p;
        sp_buf_init(&p, 1024);
        json_t *params = json_array();
        for (const char *s = r->pattern; *s;) {
            if (*s == ':' || (*s == '*' && s[1] == '\0')) {
                const char *end = *s == '*' ? s + 1 : strchrnul(s, '/');
                char name[32];
                snprintf(name, sizeof name, "%.*s", *s == '*' ? 4 : (int)(end - s - 1),
                         *s == '*' ? "path" : s + 1);
                sp_buf_addf(&p, "{%s}", name);
                json_array_append_new(params,
                                      json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in",
                                                "path", "required", 1, "schema", "type", "string"));
                s = end;
            } else {
                sp_buf_addc(&p, *s++);
            }
        }
        if (r->query) {
            char *q = sp_strdup(r->query);
            char *save = NULL;
            for (char *tok = strtok_r(q, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                json_array_append_new(
                    params,
                    json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", tok, "in", "query", "required", 0,
                              "schema", "type",
                              strcmp(tok, "q") == 0 || strcmp(tok, "status") == 0 ||
                                      strcmp(tok, "name") == 0 || strcmp(tok, "runs") == 0 ||
                                      strcmp(tok, "user") == 0 || strcmp(tok, "action") == 0 ||
                                      strcmp(tok, "base_url") == 0 ||
                                      strcmp(tok, "other_origins") == 0
                                  ? "string"
                                  : "integer"));
            free(q);
        }
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
        char status[8];
        snprintf(status, sizeof status, "%u", r->ok_status);
        json_t *responses = json_object();
        json_object_set_new(responses, status,
                            json_pack("{s:s}", "description",
                                      r->ok_status == 204 ? "Done, no content" : "Success"));
        json_object_set_new(responses, "default", error_response("An error"));
        char opid[128];
        snprintf(opid, sizeof opid, "%s%s", method, r->pattern);
        for (char *c = opid; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
                *c = '_';
        /* "o" steals params and responses. */
        json_t *op = json_pack("{s:s, s:s, s:o, s:o, s:s}", "summary", r->summary, "operationId",
                               opid, "parameters", params, "responses", responses, "x-permission",
                               perm_name(r->perm));
        /* Bodies sent to /tests are definitions; the run routes take small option objects. */
        int takes_def =
            strncmp(r->pattern, API_PREFIX "/tests", sizeof(API_PREFIX "/tests") - 1) == 0 &&
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
        json_object_set_new(item, method, op);
        sp_buf_release(&p);
    }
    json_t *error_schema =
        json_pack("{s:s, s:[s], s:{s:{s:s, s:[s,s,s], s:{s:{s:s}, s:{s:s}, s:{s:s}}}}}", "type",
                  "object", "required", "error", "properties", "error", "type", "object",
                  "required", "code", "message", "path", "properties", "code", "type", "string",
                  "message", "type", "string", "path", "type", "string");
    json_t *def_schema = json_pack("{s:s, s:s}", "type", "object", "description",
                                   "A test definition: see docs/test-format.md");
    json_t *schemes =
        json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:s}}", "bearer", "type", "http", "scheme", "bearer",
                  "session", "type", "apiKey", "in", "cookie", "name", "sp_session");
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{s:{s:o, s:o}, s:o}}", "openapi",
                     "3.0.3", "info", "title", "Stampede REST API", "version", sp_version(),
                     "description",
                     "Errors are {\"error\": {\"code\", \"message\", \"path\"}}. x-permission "
                     "names what a caller needs: an API token (Authorization: Bearer) or a session "
                     "cookie, with X-CSRF-Token on changes (docs/security.md).",
                     "servers", "url", "/", "paths", paths, "components", "schemas", "Error",
                     error_schema, "TestDefinition", def_schema, "securitySchemes", schemes);
}

static int h_openapi(sp_http_req *req)
{
    json_t *doc = build_openapi();
    if (!doc)
        return SP_ESYS;
    return sp_http_reply_json(req, 200, doc);
}

/* ---- Seeding ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads, points at shop_url, validates and stores one example. Returns 0 when stored. */
/*
 * Copies the example's data file rel (a confined relative path) from the examples directory to
 * the same place under files_dir, unless one is there already: seeded tests read their CSV files
 * from the server's data files directory like any other test.
 */
static int seed_data_file(const char *examples_dir, const char *files_dir, const char *rel)
{
    char src[PATH_MAX], dst[PATH_MAX];
    if (rel[0] == '/' || strstr(rel, "..") ||
        (size_t)snprintf(src, sizeof src, "%s/%s", examples_dir, rel) >= sizeof src ||
        (size_t)snprintf(dst, sizeof dst, "%s/%s", files_dir, rel) >= sizeof dst)
        return SP_EINVAL;
    /* The directories on the way, below files_dir. */
    for (char *p = dst + strlen(files_dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        int made = mkdir(dst, 0700) == 0 || errno == EEXIST;
        *p = '/';
        if (!made)
            return SP_ESYS;
    }
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return SP_ENOTFOUND;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = 0;
    if (out < 0) {
        rc = errno == EEXIST ? 0 : SP_ESYS;
        goto done;
    }
    char buf[8192];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            rc = SP_ESYS;
            break;
        }
    }
    if (n < 0)
        rc = SP_ESYS;
    if (close(out) != 0)
        rc = SP_ESYS;
    if (rc)
        unlink(dst);
done:
    close(in);
    return rc;
}

static int seed_one(sp_store *s, const char *dir, const char *files_dir, const char *file,
                    const char *shop_url)
{
    int rc = 0;
    char path[PATH_MAX];
    char *text = NULL;
    sp_def *def = NULL;
    json_t *doc = NULL;
    sp_errlist el;
    sp_errlist_init(&el);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t je;
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc || !json_is_object(doc)) {
        sp_log_kv(SP_LOG_WARN, "example skipped", "file", path, "error",
                    doc ? "not a JSON object" : je.text, NULL);
        rc = SP_EINVAL;
        goto out;
    }
    if (shop_url)
        json_object_set_new(doc, "base_url", json_string(shop_url));
    text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER); /* ours: free() */
    rc = text ? sp_def_load(text, strlen(text), NULL, dir, &def, &el) : SP_EINVAL;
    if (rc) {
        sp_buf msg;
        sp_buf_init(&msg, 4096);
        sp_errlist_format(&el, &msg);
        sp_log_kv(SP_LOG_WARN, "example skipped", "file", path, "error", msg.p, NULL);
        sp_buf_release(&msg);
        goto out;
    }
    size_t ui;
    json_t *u;
    json_array_foreach(json_object_get(doc, "users"), ui, u)
    {
        const char *csv =
            json_string_value(json_object_get(json_object_get(u, "data_file"), "csv"));
        if (csv && seed_data_file(dir, files_dir, csv) != 0)
            sp_log_kv(SP_LOG_WARN, "example data file not copied", "file", csv, NULL);
    }
    char err[256] = "";
    rc = save_test(s, 0, def->name, doc, text, "seed", NULL, NULL, err, sizeof err);
    if (rc) {
        sp_log_kv(SP_LOG_WARN, "example not stored", "file", path, "error", err, NULL);
        goto out;
    }
    sp_log_kv(SP_LOG_INFO, "example test seeded", "name", def->name, "base_url", def->base_url, NULL);
out:
    sp_errlist_release(&el);
    sp_def_free(def);
    free(text);
    if (doc)
        json_decref(doc);
    return rc;
}

int sp_api_seed_examples(sp_api *api, const char *examples_dir, const char *shop_url)
{
    DIR *d = opendir(examples_dir);
    if (!d) {
        sp_log_kv(SP_LOG_WARN, "no example tests", "dir", examples_dir, "error", strerror(errno),
                    NULL);
        return SP_ENOTFOUND;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && e->d_name[0] != '.' && strcmp(e->d_name + len - 5, ".json") == 0) {
            sp_grow((void **)&names, &cap, n + 1, sizeof(*names));
            names[n++] = sp_strdup(e->d_name);
        }
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    sp_store *s = NULL;
    char err[256] = "";
    int rc = conn_get(api, &s, err, sizeof err);
    int stored = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        stored += seed_one(s, examples_dir, api->files_dir, names[i], shop_url) == 0;
    if (rc)
        sp_log_kv(SP_LOG_ERROR, "cannot open the database", "error", err, NULL);
    conn_put(api, s);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc ? rc : stored;
}
