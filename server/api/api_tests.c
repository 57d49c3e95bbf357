/*
 * api_tests.c - see api_tests.h.
 */
#include "api/api_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/json.h"
#include "base/log.h"
#include "engine/definition.h"
#include "import/curlimport.h"
#include "runs/comparison.h"
#include "runs/policy.h"

int sp_api_tests_save(sp_store *s, int64_t id, const char *name, const json_t *doc,
                      const char *text, const char *by, int64_t *new_id, int *revision, char *err,
                      size_t errlen)
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

/*
 * Checks the request's body as a test definition. On success returns 0 with *def (owned by
 * the caller). Otherwise answers 422 with every error, {"valid": false, "errors": [{"path",
 * "message"}...]}, with *def NULL.
 */
static int load_definition(sp_http_req *req, sp_def **def)
{
    size_t len;
    const char *text = sp_http_body(req, &len);
    sp_errlist el;
    sp_errlist_init(&el);
    sp_overrides none = SP_OVERRIDES_NONE;
    int rc = sp_def_load_confined(text, len, &none, sp_kit_files_dir(req), def, &el);
    if (rc == 0)
        goto out;
    json_t *extra = sp_kit_errors_json(&el, "", json_pack("{s:b}", "valid", 0));
    size_t total = el.n + el.dropped;
    const char *first_path = el.n ? el.v[0].path : "";
    const char *first_msg = el.n ? el.v[0].msg : "invalid definition";
    rc = sp_http_reply_error(req, SP_EDEFINITION, first_path, extra,
                             "the definition has %zu error%s; the first: %s%s%s", total,
                             total == 1 ? "" : "s", first_path, *first_path ? ": " : "", first_msg);
    rc = sp_kit_answered(rc);
out:
    sp_errlist_release(&el);
    return rc;
}

static int h_validate(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    sp_def *def = NULL;
    int rc = load_definition(req, &def);
    if (rc)
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
static int h_import_curl(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    json_t *body = sp_http_json(req);               /* borrowed */
    json_t *cmd = json_object_get(body, "command"); /* borrowed */
    if (!json_is_string(cmd))
        return sp_http_reply_error(req, SP_EINVAL, "command", NULL,
                                   "the body must be {\"command\": \"curl ...\"}");
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *step = NULL;
    int rc = sp_curl_import(json_string_value(cmd), json_string_length(cmd), &step, &el);
    if (rc == 0)
        rc = sp_http_reply_json(req, 200, json_pack("{s:o}", "step", step)); /* steals step */
    else
        rc = sp_http_reply_error(req, SP_EDEFINITION, "command", sp_kit_errors_json(&el, "", NULL),
                                 "cannot import the command: %s", el.n ? el.v[0].msg : "invalid");
    sp_errlist_release(&el);
    return rc;
}

static int h_tests_list(sp_http_req *req, sp_store *s)
{
    int64_t page = 1, per_page = SP_STORE_PAGE_DEFAULT;
    int rc = sp_kit_query_num(req, "page", 1, 1000000, NULL, &page);
    if (rc == 0)
        rc = sp_kit_query_num(req, "per_page", 1, SP_API_PER_PAGE_MAX, NULL, &per_page);
    if (rc)
        return rc;
    const char *q = sp_http_query(req, "q");
    if (q && strlen(q) > SP_API_MAX_QUERY)
        return sp_http_reply_error(req, SP_EINVAL, "q", NULL, "q is longer than %d bytes",
                                   SP_API_MAX_QUERY);
    json_t *list = NULL;
    rc = sp_store_test_list(s, q && *q ? q : NULL, 0, (int)per_page, (int)((page - 1) * per_page),
                            &list);
    if (rc)
        return sp_kit_store_error(req, rc, "", sp_store_errmsg(s));
    json_object_set_new(list, "page", json_integer(page));
    json_object_set_new(list, "per_page", json_integer(per_page));
    return sp_http_reply_json(req, 200, list); /* steals list */
}

static int h_tests_create(sp_http_req *req, sp_store *s)
{
    sp_def *def = NULL;
    int rc = load_definition(req, &def);
    if (rc)
        return rc;
    size_t len;
    const char *text = sp_http_body(req, &len);
    int64_t id = 0;
    char err[256] = "";
    rc = sp_api_tests_save(s, 0, def->name, sp_http_json(req), text,
                           sp_http_req_principal(req)->name, &id, NULL, err, sizeof err);
    if (rc) {
        rc = sp_kit_store_error(req, rc, rc == SP_EINVAL ? "secrets" : "name",
                                err[0] ? err : sp_store_errmsg(s));
        goto out;
    }
    char loc[64];
    snprintf(loc, sizeof loc, SP_API_PREFIX "/tests/%lld", (long long)id);
    sp_http_add_header(req, "Location", loc);
    sp_log_kv(SP_LOG_INFO, "test created", "id", loc + sizeof(SP_API_PREFIX "/tests/") - 1, "who",
              sp_http_req_principal(req)->name, NULL);
    sp_http_audit(req, "test.create", loc + sizeof(SP_API_PREFIX "/") - 1, def->name);
    rc = sp_http_reply_json(
        req, 201,
        json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "name", def->name, "revision", 1));
out:
    sp_def_free(def);
    return rc;
}

/* Gets a live test (404 for a deleted one: its history is kept for its runs, not shown as a
 * test). On success returns 0 and *out, a new reference; otherwise answers. */
static int get_live_test(sp_http_req *req, sp_store *s, int64_t id, int revision, json_t **out)
{
    *out = NULL;
    json_t *t = NULL;
    int rc = sp_store_test_get(s, id, revision, &t);
    if (rc == SP_ENOTFOUND || (rc == 0 && !json_is_null(json_object_get(t, "deleted_at")))) {
        json_decref(t);
        if (revision)
            rc = sp_http_reply_error(req, SP_ENOTFOUND, "revision", NULL,
                                     "test %lld has no revision %d", (long long)id, revision);
        else
            rc = sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no test with id %lld",
                                     (long long)id);
        return sp_kit_answered(rc);
    }
    if (rc)
        return sp_kit_store_error(req, rc, "", sp_store_errmsg(s));
    *out = t;
    return 0;
}

static int h_test_get(sp_http_req *req, sp_store *s)
{
    int64_t id, rev = 0;
    int rc = sp_kit_id(req, "id", "test", &id);
    if (rc)
        return rc;
    const char *rev_param = sp_http_param(req, "rev");
    if (rev_param && sp_kit_parse_id(rev_param, INT32_MAX, &rev) != 0)
        return sp_http_reply_error(req, SP_ENOTFOUND, "revision", NULL, "no revision '%.64s'",
                                   rev_param);
    if (!rev_param) {
        rc = sp_kit_query_num(req, "revision", 1, INT32_MAX, "a whole number from 1", &rev);
        if (rc)
            return rc;
    }
    json_t *t;
    rc = get_live_test(req, s, id, (int)rev, &t);
    if (rc)
        return rc;
    /* The definition is stored as the text the user sent; it is returned as JSON so that
     * clients need not parse a string inside a document. It was valid JSON when stored. */
    const char *text = json_string_value(json_object_get(t, "definition"));
    json_error_t je;
    json_t *doc = text ? json_loads(text, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (doc)
        json_object_set_new(t, "definition", doc); /* steals doc */
    return sp_http_reply_json(req, 200, t);
}

static int h_test_update(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "test", &id);
    if (rc)
        return rc;
    sp_def *def = NULL;
    rc = load_definition(req, &def);
    if (rc)
        return rc;
    size_t len;
    const char *text = sp_http_body(req, &len);
    int revision = 0;
    char err[256] = "";
    rc = sp_api_tests_save(s, id, def->name, sp_http_json(req), text,
                           sp_http_req_principal(req)->name, NULL, &revision, err, sizeof err);
    if (rc == SP_ENOTFOUND) {
        rc = sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no test with id %lld",
                                 (long long)id);
        goto out;
    }
    if (rc) {
        rc = sp_kit_store_error(req, rc, rc == SP_EINVAL ? "secrets" : "name",
                                err[0] ? err : sp_store_errmsg(s));
        goto out;
    }
    char revtext[16];
    snprintf(revtext, sizeof revtext, "%d", revision);
    sp_log_kv(SP_LOG_INFO, "test updated", "id", sp_http_param(req, "id"), "revision", revtext,
              "who", sp_http_req_principal(req)->name, NULL);
    char obj[64];
    snprintf(obj, sizeof obj, "tests/%lld", (long long)id);
    char detail[SP_AUTH_NAME_MAX * 4];
    snprintf(detail, sizeof detail, "revision %d: %.200s", revision, def->name);
    sp_http_audit(req, "test.update", obj, detail);
    rc = sp_http_reply_json(req, 200,
                            json_pack("{s:I, s:s, s:i}", "id", (json_int_t)id, "name", def->name,
                                      "revision", revision));
out:
    sp_def_free(def);
    return rc;
}

static int h_test_delete(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "test", &id);
    if (rc)
        return rc;
    rc = sp_store_test_delete(s, id);
    if (rc == SP_ENOTFOUND)
        return sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no test with id %lld",
                                   (long long)id);
    if (rc)
        return sp_kit_store_error(req, rc, "", sp_store_errmsg(s));
    sp_log_kv(SP_LOG_INFO, "test deleted", "id", sp_http_param(req, "id"), "who",
              sp_http_req_principal(req)->name, NULL);
    char obj[64];
    snprintf(obj, sizeof obj, "tests/%lld", (long long)id);
    sp_http_audit(req, "test.delete", obj, NULL);
    return sp_http_reply_empty(req, 204);
}

static int h_test_revisions(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "test", &id);
    if (rc)
        return rc;
    json_t *t = NULL, *revs = NULL;
    rc = get_live_test(req, s, id, 0, &t);
    if (rc)
        return rc;
    json_decref(t);
    rc = sp_store_test_revisions(s, id, &revs);
    if (rc)
        return sp_kit_store_error(req, rc, "id", sp_store_errmsg(s));
    return sp_http_reply_json(
        req, 200,
        json_pack("{s:I, s:o}", "id", (json_int_t)id, "items", revs)); /* "o" steals revs */
}

/* ---- Baseline ---- */

/* The answer of both baseline routes: {"test_id", "run_id" (null: none pinned), "stored" (the
 * test's own settings or null), "settings" (the defaults with those applied)}. */
static int reply_baseline(sp_http_req *req, sp_store *s, int64_t id)
{
    int64_t run_id = 0;
    json_t *stored = NULL;
    int rc = sp_store_test_baseline_get(s, id, &run_id, &stored);
    if (rc)
        return sp_kit_store_error(req, rc, "id", sp_store_errmsg(s));
    sp_cmp_settings set;
    char path[64], msg[256];
    sp_comparison_defaults(&set);
    (void)sp_comparison_settings_apply(&set, stored, path, sizeof path, msg, sizeof msg);
    return sp_http_reply_json(req, 200,
                              json_pack("{s:I, s:o, s:o, s:o}", "test_id", (json_int_t)id, "run_id",
                                        run_id ? json_integer(run_id) : json_null(), "stored",
                                        stored ? stored : json_null(), "settings",
                                        sp_comparison_settings_json(&set)));
}

static int h_baseline_get(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "test", &id);
    json_t *t = NULL;
    if (rc == 0)
        rc = get_live_test(req, s, id, 0, &t);
    json_decref(t);
    return rc ? rc : reply_baseline(req, s, id);
}

/* PUT {"run_id": N | null, "settings"?: {...} | null}: pins a run of this test that has ended
 * with results (null unpins) and replaces the test's comparison settings. */
static int h_baseline_put(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "test", &id);
    json_t *t = NULL, *run = NULL;
    if (rc == 0)
        rc = get_live_test(req, s, id, 0, &t);
    json_decref(t);
    if (rc)
        return rc;
    json_t *body = sp_http_json(req); /* borrowed */
    const char *key;
    json_t *v;
    if (!json_is_object(body))
        return sp_http_reply_error(req, SP_EINVAL, "", NULL,
                                   "expected {\"run_id\": N or null, \"settings\": {...}}");
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "run_id") != 0 && strcmp(key, "settings") != 0)
            return sp_http_reply_error(req, SP_EINVAL, key, NULL, "unknown field");
    }
    json_t *rid = json_object_get(body, "run_id");
    if (!rid || !(json_is_null(rid) || (json_is_integer(rid) && json_integer_value(rid) >= 1)))
        return sp_http_reply_error(req, SP_EINVAL, "run_id", NULL,
                                   "run_id must be a run id, or null to unpin");
    int64_t run_id = json_is_integer(rid) ? json_integer_value(rid) : 0;
    sp_cmp_settings set;
    char path[64] = "", msg[256] = "";
    sp_comparison_defaults(&set);
    json_t *settings = json_object_get(body, "settings");
    if (sp_comparison_settings_apply(&set, settings, path, sizeof path, msg, sizeof msg) != 0)
        return sp_http_reply_error(req, SP_EINVAL, "settings", NULL, "settings.%s: %s", path, msg);
    if (run_id) {
        rc = sp_store_run_get(s, run_id, &run);
        if (rc == SP_ENOTFOUND ||
            (rc == 0 && json_integer_value(json_object_get(run, "test_id")) != id)) {
            json_decref(run);
            return sp_http_reply_error(req, SP_EINVAL, "run_id", NULL,
                                       "test %lld has no run with id %lld", (long long)id,
                                       (long long)run_id);
        }
        if (rc)
            return sp_kit_store_error(req, rc, "run_id", sp_store_errmsg(s));
        int usable = json_is_object(json_object_get(run, "summary"));
        json_decref(run);
        if (!usable)
            return sp_http_reply_error(req, SP_ESTATE, "run_id", NULL,
                                       "run %lld has no results yet: pin a run that has ended",
                                       (long long)run_id);
    }
    rc = sp_store_test_baseline_set(
        s, id, run_id, json_is_object(settings) && json_object_size(settings) ? settings : NULL);
    if (rc)
        return sp_kit_store_error(req, rc, "id", sp_store_errmsg(s));
    char obj[64], detail[64];
    snprintf(obj, sizeof obj, "tests/%lld", (long long)id);
    if (run_id)
        snprintf(detail, sizeof detail, "baseline run %lld", (long long)run_id);
    else
        snprintf(detail, sizeof detail, "no baseline run");
    sp_http_audit(req, "test.baseline", obj, detail);
    return reply_baseline(req, s, id);
}

const sp_api_route sp_api_tests_routes[] = {
    {"POST", SP_API_PREFIX "/tests/validate", h_validate, SP_PERM_READ, SP_HTTP_JSON_BODY,
     "Check a test definition without saving it", 200, NULL},
    {"POST", SP_API_PREFIX "/tests/import/curl", h_import_curl, SP_PERM_READ, SP_HTTP_JSON_BODY,
     "Turn a curl command line into a step (nothing is saved)", 200, NULL},
    {"GET", SP_API_PREFIX "/tests", h_tests_list, SP_PERM_READ, SP_API_STORE,
     "List tests, newest first, optionally filtered by name", 200, "page,per_page,q"},
    {"POST", SP_API_PREFIX "/tests", h_tests_create, SP_PERM_WRITE,
     SP_HTTP_JSON_BODY | SP_API_STORE, "Create a test from a definition (revision 1)", 201, NULL},
    {"GET", SP_API_PREFIX "/tests/:id", h_test_get, SP_PERM_READ, SP_API_STORE,
     "A test with its newest (or a given) revision's definition", 200, "revision"},
    {"PUT", SP_API_PREFIX "/tests/:id", h_test_update, SP_PERM_WRITE,
     SP_HTTP_JSON_BODY | SP_API_STORE, "Save a new revision of a test", 200, NULL},
    {"DELETE", SP_API_PREFIX "/tests/:id", h_test_delete, SP_PERM_WRITE, SP_API_STORE,
     "Delete a test (its revisions and runs are kept)", 204, NULL},
    {"GET", SP_API_PREFIX "/tests/:id/revisions", h_test_revisions, SP_PERM_READ, SP_API_STORE,
     "Every revision of a test, newest first", 200, NULL},
    {"GET", SP_API_PREFIX "/tests/:id/revisions/:rev", h_test_get, SP_PERM_READ, SP_API_STORE,
     "A test at one revision", 200, NULL},
    {"GET", SP_API_PREFIX "/tests/:id/baseline", h_baseline_get, SP_PERM_READ, SP_API_STORE,
     "A test's pinned baseline run and its comparison settings", 200, NULL},
    {"PUT", SP_API_PREFIX "/tests/:id/baseline", h_baseline_put, SP_PERM_WRITE,
     SP_HTTP_JSON_BODY | SP_API_STORE,
     "Pin a run as the test's baseline (null unpins) and set its comparison settings: "
     "{\"run_id\", \"settings\"}",
     200, NULL},
};
const size_t sp_api_tests_nroutes = SP_ARRAY_LEN(sp_api_tests_routes);
