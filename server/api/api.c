/*
 * api.c - see api.h.
 */
#define _GNU_SOURCE /* O_CLOEXEC */
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

#include "api/api_auth.h"
#include "api/api_files.h"
#include "api/api_policy.h"
#include "api/api_agents.h"
#include "api/api_runs.h"
#include "api/api_schedules.h"
#include "api/api_tests.h"
#include "api/api_tools.h"
#include "api/api_web.h"
#include "api/api_webhooks.h"
#include "api/app.h"
#include "api/kit.h"
#include "api/openapi.h"
#include "api/pool.h"
#include "auth/auth.h"
#include "base/datadir.h"
#include "base/json.h"
#include "base/log.h"
#include "base/version.h"
#include "engine/definition.h"
#include "store/store.h"

/* ---- The API's state ---- */

/* dir/name in a new string, or NULL when it is longer than a path may be. */
static char *path_in(const char *dir, const char *name)
{
    sp_buf path;
    sp_buf_init(&path, PATH_MAX);
    if (sp_buf_addf(&path, "%s/%s", dir, name) != 0) {
        sp_buf_release(&path);
        return NULL;
    }
    return sp_buf_detach(&path, NULL);
}

/* Opens the database once (migrating it) and marks the runs a dead process left running as
 * aborted; the connection then waits in the pool for the first request. */
static int recover(sp_api *api, char *err, size_t errlen)
{
    sp_store *s = NULL;
    int rc = sp_store_open(&s, api->db_path, err, errlen);
    if (rc)
        return rc;
    int n = 0;
    rc = sp_store_runs_mark_aborted(s, &n);
    if (rc) {
        snprintf(err, errlen, "crash recovery failed: %s", sp_store_errmsg(s));
        sp_store_close(s);
        return rc;
    }
    if (n > 0) {
        char num[16];
        snprintf(num, sizeof num, "%d", n);
        sp_log_kv(SP_LOG_WARN, "runs left running by a previous process marked aborted", "count",
                  num, NULL);
    }
    sp_pool_give(api->pool, s);
    return 0;
}

int sp_api_new(sp_api **out, const sp_api_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    int rc = 0;
    sp_api *api = sp_calloc(1, sizeof(*api));
    api->data_dir = sp_strdup(cfg->data_dir);
    api->live_port = cfg->live_port;
    api->live_url = cfg->live_url ? sp_strdup(cfg->live_url) : NULL;
    api->db_path = path_in(cfg->data_dir, SP_DATADIR_DB_FILE);
    api->files_dir = path_in(cfg->data_dir, SP_API_FILES_DIR);
    if (!api->db_path || !api->files_dir) {
        snprintf(err, errlen, "data directory path too long");
        rc = SP_EINVAL;
        goto out;
    }
    api->pool = sp_pool_new(api->db_path);
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
    rc = recover(api, err, errlen);
    if (rc)
        goto out;
    *out = api;
    api = NULL;
out:
    sp_api_free(api);
    return rc;
}

void sp_api_free(sp_api *api)
{
    if (!api)
        return;
    sp_pool_free(api->pool);
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
    int rc = sp_pool_take(api->pool, &s, err, sizeof err);
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
        sp_log_kv(SP_LOG_WARN, "checkpoint held back by a reader", "wal_frames", a, "checkpointed",
                  b, NULL);
    }
    sp_pool_give(api->pool, s);
    return rc;
}

void sp_api_set_runs(sp_api *api, struct sp_runs *runs)
{
    api->runs = runs;
}

void sp_api_set_agents(sp_api *api, struct sp_agents *agents)
{
    api->agents = agents;
}

void sp_api_set_sched(sp_api *api, struct sp_sched *sched)
{
    api->sched = sched;
}

void sp_api_set_notify(sp_api *api, struct sp_notify *notify)
{
    api->notify = notify;
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

/* ---- The service routes ---- */

static const sp_api *app(sp_http_req *req)
{
    return sp_http_req_app(req);
}

/*
 * 200 {"status": "ok", "db": "ok", ...} when the database can be read and its disk has room;
 * 503 {"status": "degraded", "db": "full", "message"} when the disk is full (below
 * SP_STORE_FREE_MIN_BYTES: reads work, writes fail or soon will); 503 {"status":
 * "unavailable", "db": "error"} when the database cannot be read. Asking the filesystem costs
 * one statvfs, so a monitor may poll this often; nothing is written.
 */
static int h_health(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_store *s;
    if (sp_kit_store_take(req, &s) != 0)
        return sp_http_reply_json(req, 503,
                                  json_pack("{s:s, s:s}", "status", "unavailable", "db", "error"));
    int version = sp_store_schema_version(s);
    sp_kit_store_give(req, s);
    if (version <= 0)
        return sp_http_reply_json(req, 503,
                                  json_pack("{s:s, s:s}", "status", "unavailable", "db", "error"));
    uint64_t avail = 0;
    int rc = sp_store_space(app(req)->db_path, &avail, NULL, 0);
    json_t *body =
        json_pack("{s:s, s:s, s:i}", "status", "ok", "db", "ok", "schema_version", version);
    if (rc == 0 || rc == SP_EFULL)
        json_object_set_new(body, "disk_free_bytes", json_integer((json_int_t)avail));
    if (rc == SP_EFULL) {
        json_object_set_new(body, "status", json_string("degraded"));
        json_object_set_new(body, "db", json_string("full"));
        json_object_set_new(body, "message", json_string(sp_http_error_message(SP_EFULL)));
        return sp_http_reply_json(req, 503, body);
    }
    return sp_http_reply_json(req, 200, body);
}

/* live_url is null unless a proxy puts the stream elsewhere: the dashboard then opens
 * ws://<its own host>:live_port/ (docs/operations.md). */
static int h_config(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    const sp_api *api = app(req);
    /* "allowlist": whether a target allowlist is set; without one every target is allowed, and
     * the dashboard says so. A database that cannot be read says no. */
    sp_store *s = NULL;
    int allowlist = 0;
    if (sp_kit_store_take(req, &s) == 0) {
        json_t *entries = NULL;
        if (sp_store_allowlist_get(s, &entries) == 0)
            allowlist = json_array_size(entries) > 0;
        json_decref(entries);
        sp_kit_store_give(req, s);
    }
    return sp_http_reply_json(
        req, 200,
        json_pack("{s:s, s:i, s:o, s:s, s:b, s:b}", "version", sp_version_string(), "live_port",
                  (int)api->live_port, "live_url",
                  api->live_url ? json_string(api->live_url) : json_null(), "api", SP_API_PREFIX,
                  "auth", sp_auth_enabled(sp_http_req_auth(req)), "allowlist", allowlist));
}

static int h_openapi(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    size_t n;
    const sp_http_route *routes = sp_api_routes(&n);
    json_t *doc = sp_openapi_build(routes, n);
    if (!doc)
        return SP_ESYS;
    return sp_http_reply_json(req, 200, doc);
}

static const sp_api_route service_routes[] = {
    {"GET", SP_API_PREFIX "/health", h_health, SP_PERM_PUBLIC, 0, "Liveness and database health",
     200, NULL},
    {"GET", SP_API_PREFIX "/config", h_config, SP_PERM_PUBLIC, 0,
     "Version and where the live stream listens", 200, NULL},
    {"GET", SP_API_PREFIX "/openapi.json", h_openapi, SP_PERM_PUBLIC, 0,
     "This description of the API", 200, NULL},
};

/* ---- The route table ---- */

/* Every handler file's table, in the order the routes are served and described: the order
 * decides which route answers when two match equally (http.h) and the order of openapi.json. */
static const struct {
    const sp_api_route *routes;
    const size_t *n;
} parts[] = {
    {sp_api_web_routes, &sp_api_web_nroutes},
    {service_routes, NULL},
    {sp_api_tests_routes, &sp_api_tests_nroutes},
    {sp_api_runs_routes, &sp_api_runs_nroutes},
    {sp_api_agents_routes, &sp_api_agents_nroutes},
    {sp_api_schedules_routes, &sp_api_schedules_nroutes},
    {sp_api_policy_routes, &sp_api_policy_nroutes},
    {sp_api_webhooks_routes, &sp_api_webhooks_nroutes},
    {sp_api_auth_routes, &sp_api_auth_nroutes},
    {sp_api_tools_routes, &sp_api_tools_nroutes},
    {sp_api_files_routes, &sp_api_files_nroutes},
};

static sp_http_route *all_routes;
static size_t nall_routes;
static pthread_once_t all_routes_once = PTHREAD_ONCE_INIT;

static size_t part_len(size_t i)
{
    return parts[i].n ? *parts[i].n : SP_ARRAY_LEN(service_routes);
}

static void build_all_routes(void)
{
    size_t n = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(parts); i++)
        n += part_len(i);
    all_routes = sp_calloc(n, sizeof *all_routes);
    for (size_t i = 0; i < SP_ARRAY_LEN(parts); i++)
        for (size_t k = 0; k < part_len(i); k++)
            all_routes[nall_routes++] = sp_kit_http_route(&parts[i].routes[k]);
}

const sp_http_route *sp_api_routes(size_t *n)
{
    pthread_once(&all_routes_once, build_all_routes);
    *n = nall_routes;
    return all_routes;
}

/* ---- Seeding ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

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

/* Reads, points at shop_url, validates and stores one example. Returns 0 when stored. */
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
    rc = sp_api_tests_save(s, 0, def->name, doc, text, "seed", NULL, NULL, err, sizeof err);
    if (rc) {
        sp_log_kv(SP_LOG_WARN, "example not stored", "file", path, "error", err, NULL);
        goto out;
    }
    sp_log_kv(SP_LOG_INFO, "example test seeded", "name", def->name, "base_url", def->base_url,
              NULL);
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
    int rc = sp_pool_take(api->pool, &s, err, sizeof err);
    int stored = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        stored += seed_one(s, examples_dir, api->files_dir, names[i], shop_url) == 0;
    if (rc)
        sp_log_kv(SP_LOG_ERROR, "cannot open the database", "error", err, NULL);
    sp_pool_give(api->pool, s);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc ? rc : stored;
}
