/*
 * api_tools.c - see api_tools.h.
 */
#include "api/api_tools.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine/allowlist.h"
#include "engine/definition.h"
#include "engine/limits.h"
#include "engine/trace.h"
#include "import/harimport.h"
#include "import/importutil.h"
#include "import/oasimport.h"
#include "runs/policy.h"

static atomic_int tries_running;

/* A string option from the query string, else from the body's wrapper object. Borrowed. */
static const char *option(sp_http_req *req, const char *name)
{
    const char *q = sp_http_query(req, name);
    if (q)
        return q;
    json_t *body = sp_http_json(req); /* borrowed */
    if (json_object_get(body, "document"))
        return json_string_value(json_object_get(body, name));
    return NULL;
}

/*
 * Checks an imported definition with the loader, as a saved test would be, and replies 200 with
 * {"definition": def, ...extra's members} (both stolen), or 422 naming the generated field that
 * failed.
 */
static int reply_imported(sp_http_req *req, json_t *def, json_t *extra)
{
    char *text = json_dumps(def, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *loaded = NULL;
    int rc = text ? sp_def_load(text, strlen(text), NULL, NULL, &loaded, &el) : SP_EINVAL;
    free(text);
    sp_def_free(loaded);
    if (rc) {
        rc = sp_kit_reply_errors(req, &el, "definition", "the imported test is not valid");
        json_decref(def);
        json_decref(extra);
    } else {
        json_t *body = json_pack("{s:o}", "definition", def);
        json_object_update(body, extra);
        json_decref(extra);
        rc = sp_http_reply_json(req, 200, body);
    }
    sp_errlist_release(&el);
    return rc;
}

static int h_import_har(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    json_t *doc = NULL;
    const char *path;
    char msg[512];
    int rc = sp_import_document(sp_http_json(req), "log", &doc, &path, msg, sizeof msg);
    if (rc)
        return sp_http_reply_error(req, rc, path, NULL, "%s%s%s", path, *path ? ": " : "", msg);
    const char *keep = option(req, "other_origins");
    if (keep && strcmp(keep, "keep") != 0 && strcmp(keep, "drop") != 0) {
        json_decref(doc);
        return sp_http_reply_error(req, SP_EINVAL, "other_origins", NULL,
                                   "other_origins must be \"keep\" or \"drop\"");
    }
    sp_har_opts o = {option(req, "name"), option(req, "base_url"), keep && !strcmp(keep, "keep")};
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *def = NULL, *skipped = NULL, *notes = NULL;
    rc = sp_har_import(doc, &o, &def, &skipped, &notes, &el);
    if (rc)
        rc = sp_kit_reply_errors(req, &el, "", "cannot import the HAR document");
    else
        rc = reply_imported(req, def, json_pack("{s:o, s:o}", "skipped", skipped, "notes", notes));
    sp_errlist_release(&el);
    json_decref(doc);
    return rc;
}

static int h_import_openapi(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    json_t *doc = NULL;
    const char *path;
    char msg[512];
    int rc = sp_import_document(sp_http_json(req), "openapi", &doc, &path, msg, sizeof msg);
    if (rc)
        return sp_http_reply_error(req, rc, path, NULL, "%s%s%s", path, *path ? ": " : "", msg);
    sp_oas_opts o = {option(req, "name"), option(req, "base_url")};
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *def = NULL, *notes = NULL;
    rc = sp_oas_import(doc, &o, &def, &notes, &el);
    if (rc)
        rc = sp_kit_reply_errors(req, &el, "", "cannot import the OpenAPI document");
    else
        rc = reply_imported(req, def, json_pack("{s:o}", "notes", notes));
    sp_errlist_release(&el);
    json_decref(doc);
    return rc;
}

/* ---- Try it ---- */

/*
 * The target allowlist as it is now, built and resolved for a try (a try sends requests, so the
 * allowlist applies as to a run; the role's caps do not: a try is one VU for a bounded time).
 * Returns 0 with *out (NULL when every target is allowed), or answers (see kit.h). The
 * connection is taken only for the read: a try runs for seconds.
 */
static int try_allowlist(sp_http_req *req, sp_allowlist **out)
{
    *out = NULL;
    sp_store *s = NULL;
    int rc = sp_kit_store(req, &s);
    if (rc)
        return rc;
    sp_policy pol;
    rc = sp_policy_load(&pol, s, sp_http_req_principal(req)->role);
    if (rc) {
        rc = sp_kit_store_failed(req, s, rc);
        sp_kit_store_give(req, s);
        return rc;
    }
    sp_kit_store_give(req, s);
    sp_errlist el;
    sp_errlist_init(&el);
    rc = sp_policy_allowlist(&pol.run, out, &el); /* blocking: host names are looked up */
    sp_errlist_release(&el);
    sp_policy_release(&pol);
    if (rc) {
        sp_log_kv(SP_LOG_ERROR, "the stored target allowlist is invalid", NULL);
        return sp_kit_answered(sp_http_reply_error(
            req, SP_ESYS, "", NULL, "the stored target allowlist is invalid (see the server log)"));
    }
    return 0;
}

/* Runs the try for def and replies with its report, extra's members added (stolen). object
 * names what was tried in the audit log ("tests/4", or "tests" for a definition sent). */
static int run_try(sp_http_req *req, const sp_def *def, json_t *extra, const char *object)
{
    if (atomic_fetch_add(&tries_running, 1) >= SP_TRY_MAX_CONCURRENT) {
        atomic_fetch_sub(&tries_running, 1);
        json_decref(extra);
        sp_http_add_header(req, "Retry-After", "5");
        return sp_http_reply_error(req, SP_EUNAVAILABLE, "", NULL,
                                   "%d tries are going; this server runs at most %d at once",
                                   SP_TRY_MAX_CONCURRENT, SP_TRY_MAX_CONCURRENT);
    }
    sp_allowlist *allow = NULL;
    int rc = try_allowlist(req, &allow);
    if (rc) {
        atomic_fetch_sub(&tries_running, 1);
        json_decref(extra);
        return rc;
    }
    /* A try sends requests: who aimed them where is audited as for a run. */
    char detail[600];
    snprintf(detail, sizeof detail, "target %s%s", def->base_url ? def->base_url : "unknown",
             json_is_true(json_object_get(extra, "secrets_withheld")) ? ", secrets withheld" : "");
    sp_http_audit(req, "test.try", object, detail);
    json_t *out = NULL;
    char err[256] = "";
    sp_trace_opts o = {.max_ms = 0, .body_max = 0, .allowlist = allow};
    rc = sp_trace_run(def, &o, &out, err, sizeof err);
    atomic_fetch_sub(&tries_running, 1);
    sp_allowlist_free(allow);
    if (rc) {
        json_decref(extra);
        sp_log_kv(SP_LOG_ERROR, "try failed", "error", err, NULL);
        return sp_http_reply_error(req, rc, "", NULL, "the try could not run: %s", err);
    }
    json_object_update(out, extra);
    json_decref(extra);
    sp_log_kv(SP_LOG_INFO, "test tried", "name", def->name, "who", sp_http_req_principal(req)->user,
              NULL);
    return sp_http_reply_json(req, 200, out);
}

/* POST /tests/try: the body is a definition, checked as /tests/validate would. */
static int h_try_definition(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    size_t len;
    const char *text = sp_http_body(req, &len);
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *def = NULL;
    int rc = sp_def_load_confined(text, len, NULL, sp_kit_files_dir(req), &def, &el);
    if (rc)
        rc = sp_kit_reply_errors(req, &el, "", "the definition is not valid");
    else
        rc = run_try(req, def, json_object(), "tests");
    sp_def_free(def);
    sp_errlist_release(&el);
    return rc;
}

/* The body of POST /tests/:id/try, {"revision"?, "base_url"?}: *rv and *bu (borrowed, NULL
 * when absent), or answers. */
static int try_body(sp_http_req *req, json_t **rv, json_t **bu)
{
    json_t *body = sp_http_json(req); /* borrowed */
    if (!json_is_object(body))
        return sp_kit_answered(
            sp_http_reply_error(req, SP_EINVAL, "", NULL,
                                "expected an object: {} or {\"revision\": N, \"base_url\": ...}"));
    const char *key;
    json_t *val; /* borrowed */
    json_object_foreach(body, key, val)
    {
        if (strcmp(key, "revision") != 0 && strcmp(key, "base_url") != 0)
            return sp_kit_answered(
                sp_http_reply_error(req, SP_EINVAL, key, NULL,
                                    "unknown field '%.64s' (known: revision, base_url)", key));
    }
    *rv = json_object_get(body, "revision");
    if (*rv && (!json_is_integer(*rv) || json_integer_value(*rv) < 1 ||
                json_integer_value(*rv) > INT32_MAX))
        return sp_kit_answered(sp_http_reply_error(req, SP_EINVAL, "revision", NULL,
                                                   "revision must be a whole number from 1"));
    *bu = json_object_get(body, "base_url");
    if (*bu && !json_is_string(*bu))
        return sp_kit_answered(
            sp_http_reply_error(req, SP_EINVAL, "base_url", NULL, "base_url must be a string"));
    return 0;
}

/* Reads test id at revision rv (NULL: the newest) with the secrets a try aimed at base_url
 * (NULL: the stored one) may carry: *t and *secrets, new references, and *withheld; or
 * answers. The connection is given back before the try runs. The stored text holds the mask
 * in place of each secret; the try needs the values (and masks them again in what it shows),
 * unless they are withheld from this principal and target (policy.h): then it sends the mask. */
static int try_test_load(sp_http_req *req, int64_t id, const json_t *rv, const char *base_url,
                         json_t **t, json_t **secrets, int *withheld)
{
    const sp_http_principal *who = sp_http_req_principal(req);
    sp_store *s = NULL;
    int rc = sp_kit_store(req, &s);
    if (rc)
        return rc;
    rc = sp_store_test_get(s, id, rv ? (int)json_integer_value(rv) : 0, t);
    if (rc == 0 && !json_is_null(json_object_get(*t, "deleted_at")))
        rc = SP_ENOTFOUND;
    if (rc == SP_ENOTFOUND)
        rc = sp_kit_answered(rv ? sp_http_reply_error(req, SP_ENOTFOUND, "revision", NULL,
                                                      "test %lld has no revision %lld",
                                                      (long long)id,
                                                      (long long)json_integer_value(rv))
                                : sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL,
                                                      "no test with id %lld", (long long)id));
    else if (rc == 0 && (rc = sp_policy_test_secrets(s, *t, base_url, who->user, who->role, secrets,
                                                     withheld)) != 0)
        rc = sp_kit_store_failed(req, s, rc);
    else if (rc)
        rc = sp_kit_store_failed(req, s, rc);
    sp_kit_store_give(req, s);
    return rc;
}

/* POST /tests/:id/try {"revision"?, "base_url"?}: a saved test, as a run would load it. */
static int h_try_test(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    int64_t id;
    json_t *rv = NULL, *bu = NULL, *t = NULL, *secrets = NULL;
    int withheld = 0;
    int rc = sp_kit_id(req, "id", "test", &id);
    if (rc == 0)
        rc = try_body(req, &rv, &bu);
    if (rc == 0)
        rc = try_test_load(req, id, rv, bu ? json_string_value(bu) : NULL, &t, &secrets, &withheld);
    if (rc)
        goto out;
    char *full_text = NULL;
    const char *text = json_string_value(json_object_get(t, "definition"));
    if (text)
        text = sp_policy_with_secrets(text, secrets, &full_text);
    sp_overrides ov = SP_OVERRIDES_NONE;
    ov.base_url = bu ? json_string_value(bu) : NULL;
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *def = NULL;
    rc = sp_def_load_confined(text ? text : "", text ? strlen(text) : 0, &ov, sp_kit_files_dir(req),
                              &def, &el);
    char object[48];
    snprintf(object, sizeof object, "tests/%lld", (long long)id);
    if (rc)
        rc = sp_kit_reply_errors(req, &el, "", "the stored definition is not valid");
    else {
        json_t *extra = json_pack("{s:{s:I, s:O}}", "test", "id", (json_int_t)id, "revision",
                                  json_object_get(t, "revision"));
        if (withheld)
            json_object_set_new(extra, "secrets_withheld", json_true());
        rc = run_try(req, def, extra, object);
    }
    sp_def_free(def);
    sp_errlist_release(&el);
    free(full_text);
out:
    json_decref(t);
    json_decref(secrets);
    return rc;
}

/* ---- Route table ---- */

const sp_api_route sp_api_tools_routes[] = {
    {"POST", SP_API_PREFIX "/tests/import/har", h_import_har, SP_PERM_WRITE, SP_HTTP_JSON_BODY,
     "Turn a HAR recording into a test definition (nothing is saved): the body is the HAR "
     "document or {\"document\": HAR or its text}",
     200, "name,base_url,other_origins"},
    {"POST", SP_API_PREFIX "/tests/import/openapi", h_import_openapi, SP_PERM_WRITE,
     SP_HTTP_JSON_BODY,
     "Turn an OpenAPI 3 document (JSON) into a test definition with one step per operation "
     "(nothing is saved)",
     200, "name,base_url"},
    {"POST", SP_API_PREFIX "/tests/try", h_try_definition, SP_PERM_RUN, SP_HTTP_JSON_BODY,
     "Run a definition's steps once with one VU and show every request and response", 200, NULL},
    {"POST", SP_API_PREFIX "/tests/:id/try", h_try_test, SP_PERM_RUN, SP_HTTP_JSON_BODY,
     "Run a saved test's steps once with one VU and show every request and response: "
     "{\"revision\", \"base_url\"} (both optional)",
     200, NULL},
};
const size_t sp_api_tools_nroutes = SP_ARRAY_LEN(sp_api_tools_routes);
