/*
 * api_runs.c - see api_runs.h.
 */
#define _GNU_SOURCE /* memfd_create */
#include "api/api_runs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"
#include "engine/definition.h"
#include "engine/metrics.h"
#include "runs/comparison.h"
#include "runs/export.h"
#include "runs/policy.h"
#include "runs/runs.h"

/* The 404 of a run route whose :id names no run. */
static int no_such_run(sp_http_req *req)
{
    const char *id = sp_http_param(req, "id");
    return sp_kit_answered(
        sp_http_reply_error(req, SP_ENOTFOUND, "id", NULL, "no run with id '%.64s'", id ? id : ""));
}

/* A store failure of a run route: a missing run is 404 naming the route's id, anything else
 * the database's fault. */
static int run_store_error(sp_http_req *req, sp_store *s, int rc)
{
    return rc == SP_ENOTFOUND ? no_such_run(req) : sp_kit_store_failed(req, s, rc);
}

/* Error kinds in a series are keyed by number in the store; clients get their names. */
static void name_error_kinds(json_t *series)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(series, "names"), i, n)
    {
        json_t *ek = json_object_get(n, "error_kinds"); /* borrowed */
        if (!json_is_object(ek))
            continue;
        json_t *named = json_object();
        const char *key;
        json_t *col;
        json_object_foreach(ek, key, col)
        {
            long k = strtol(key, NULL, 10);
            const char *nm = k >= 0 && k < SP_ERRK_COUNT ? sp_errkind_name((sp_errkind)k) : key;
            json_object_set(named, nm, col); /* takes its own reference */
        }
        json_object_set_new(n, "error_kinds", named); /* steals named */
    }
}

/* The run as stored, with "live" (the totals so far) while it is active. New reference. */
static int run_with_live(sp_http_req *req, sp_store *s, int64_t id, json_t **out)
{
    int rc = sp_store_run_get(s, id, out);
    if (rc)
        return rc;
    /* A run across agents names the agents it lost beside its status (degraded). */
    json_t *lost = json_object_get(json_object_get(*out, "summary"), "agents_lost"); /* borrowed */
    if (json_array_size(lost))
        json_object_set(*out, "agents_lost", lost);
    json_t *live = NULL;
    sp_runs *runs = sp_kit_runs(req);
    if (runs && sp_runs_live(runs, id, &live) == 0)
        json_object_set_new(*out, "live", live); /* steals live */
    else
        json_object_set_new(*out, "live", json_null());
    return 0;
}

/* Sends a run (new reference stolen) with status. */
static int reply_run(sp_http_req *req, sp_store *s, int64_t id, unsigned status)
{
    json_t *run = NULL;
    int rc = run_with_live(req, s, id, &run);
    if (rc)
        return run_store_error(req, s, rc);
    return sp_http_reply_json(req, status, run);
}

/* ---- Start ---- */

/* The start's body: {"revision"?, "baseline"?, "fail_on_regression"?, overrides...}. On
 * success returns 0 with *revision (0: the newest), the baseline asked in args, and *ov, a new
 * object of the overrides alone (NULL when there are none). */
static int start_body(sp_http_req *req, int *revision, sp_runs_start_args *args, json_t **ov)
{
    *revision = 0;
    *ov = NULL;
    json_t *body = sp_http_json(req); /* borrowed */
    if (!json_is_object(body))
        return sp_kit_answered(
            sp_http_reply_error(req, SP_EINVAL, "", NULL,
                                "expected an object of overrides, e.g. {\"users\": 5, "
                                "\"duration\": \"30s\"}"));
    json_t *rv = json_object_get(body, "revision");
    if (rv &&
        (!json_is_integer(rv) || json_integer_value(rv) < 1 || json_integer_value(rv) > INT32_MAX))
        return sp_kit_answered(sp_http_reply_error(req, SP_EINVAL, "revision", NULL,
                                                   "revision must be a whole number from 1"));
    if (rv)
        *revision = (int)json_integer_value(rv);
    char msg[160];
    if (sp_runs_baseline_parse(json_object_get(body, "baseline"), &args->baseline,
                               &args->baseline_run, msg, sizeof msg) != 0)
        return sp_kit_answered(sp_http_reply_error(req, SP_EINVAL, "baseline", NULL, "%s", msg));
    json_t *fr = json_object_get(body, "fail_on_regression");
    if (fr && !json_is_boolean(fr))
        return sp_kit_answered(sp_http_reply_error(req, SP_EINVAL, "fail_on_regression", NULL,
                                                   "fail_on_regression must be true or false"));
    args->fail_on_regression = json_is_true(fr);
    /* A run across agents: checked by the run manager against the agents connected now. */
    args->locations = json_object_get(body, "locations"); /* borrowed from the body */
    /* A new reference: a shallow copy without the fields that are not overrides. */
    *ov = json_copy(body);
    json_object_del(*ov, "revision");
    json_object_del(*ov, "baseline");
    json_object_del(*ov, "fail_on_regression");
    json_object_del(*ov, "locations");
    if (!json_object_size(*ov)) {
        json_decref(*ov);
        *ov = NULL;
    }
    return 0;
}

/* Answers a start that did not make a run (rc, el and st as sp_runs_start left them). */
static int start_failed(sp_http_req *req, int rc, int revision, const sp_errlist *el,
                        const sp_runs_started *st)
{
    if (rc == SP_EINVAL)
        return sp_kit_reply_errors(req, el, "", st->msg);
    if (rc == SP_ELIMIT)
        return sp_http_reply_error(req, SP_EDEFINITION, st->cap ? st->cap : "",
                                   json_pack("{s:s}", "cap", st->cap ? st->cap : ""), "%s",
                                   st->msg);
    if (rc == SP_ENOTFOUND || rc == SP_ESTATE)
        return sp_http_reply_error(req, rc, rc == SP_ENOTFOUND && revision ? "revision" : "id",
                                   NULL, "%s", st->msg);
    /* The store could not record the run: answered as every write is (503 on a full disk). */
    if (rc == SP_EFULL || rc == SP_EUNAVAILABLE || rc == SP_EIO)
        return sp_kit_store_error(req, rc, "", st->msg);
    sp_log_kv(SP_LOG_ERROR, "run start failed", "error", st->msg, NULL);
    return sp_http_reply_error(req, rc, "", NULL, "%s", st->msg);
}

static int h_start(sp_http_req *req, sp_store *s)
{
    int64_t test_id;
    int revision;
    json_t *ov;
    sp_runs_start_args args = {0};
    int rc = sp_kit_id(req, "id", "test", &test_id);
    if (rc == 0)
        rc = start_body(req, &revision, &args, &ov);
    if (rc)
        return rc;
    sp_runs *runs = sp_kit_runs(req);
    if (!runs) {
        json_decref(ov);
        return sp_http_reply_error(req, SP_ESTATE, "", NULL, "runs are not enabled");
    }
    /* The allowlist and the caps of the starter's role, as they are now. */
    sp_policy pol;
    rc = sp_policy_load(&pol, s, sp_http_req_principal(req)->role);
    if (rc) {
        json_decref(ov);
        return run_store_error(req, s, rc);
    }
    sp_errlist el;
    sp_errlist_init(&el);
    args.test_id = test_id;
    args.revision = revision;
    args.overrides = ov;
    args.started_by = sp_http_req_principal(req)->user;
    args.rules = &pol.run;
    sp_runs_started st;
    rc = sp_runs_start(runs, &args, &st, &el);
    sp_policy_release(&pol);
    json_decref(ov);
    if (rc && (!st.run_id || rc != SP_ESYS)) {
        rc = start_failed(req, rc, revision, &el, &st);
    } else {
        /* Started, or recorded with status "error" when the engine could not start. */
        char loc[64], detail[600];
        snprintf(loc, sizeof loc, SP_API_PREFIX "/runs/%lld", (long long)st.run_id);
        sp_http_add_header(req, "Location", loc);
        snprintf(detail, sizeof detail, "test %lld, target %s%s", (long long)test_id,
                 st.base_url[0] ? st.base_url : "unknown",
                 st.secrets_withheld ? ", secrets withheld" : "");
        sp_http_audit(req, "run.start", loc + sizeof(SP_API_PREFIX "/") - 1, detail);
        json_t *run = NULL;
        rc = run_with_live(req, s, st.run_id, &run);
        if (rc) {
            rc = run_store_error(req, s, rc);
        } else {
            /* The starter learns that the run goes without the test's secrets (policy.h). */
            if (st.secrets_withheld)
                json_object_set_new(run, "secrets_withheld", json_true());
            rc = sp_http_reply_json(req, 201, run); /* steals run */
        }
    }
    sp_errlist_release(&el);
    return rc;
}

/* ---- List and get ---- */

/* "queued, running, ..." from the store's names, so that a new status is listed where it is
 * accepted. */
static void status_list(char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < SP_RUN_STATUS_COUNT && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? ", " : "",
                                 sp_store_run_status_name((sp_run_status)i));
}

/*
 * ?against=baseline on the run list: each ended run of the page gets "against", its brief
 * against its test's pinned baseline ({"baseline", "verdict", "regressions", "improvements"},
 * or {"baseline", "is_baseline": true} for the baseline itself), or null when its test has
 * none pinned. A run that cannot be compared gets null too.
 */
static int add_against(sp_store *s, json_t *list)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        json_object_set_new(item, "against", json_null());
        const char *st = json_string_value(json_object_get(item, "status"));
        if (!st || strcmp(st, "running") == 0 || strcmp(st, "queued") == 0 ||
            strcmp(st, "error") == 0)
            continue;
        int64_t id = json_integer_value(json_object_get(item, "id")), pinned = 0;
        json_t *stored = NULL;
        int rc = sp_store_test_baseline_get(s, json_integer_value(json_object_get(item, "test_id")),
                                            &pinned, &stored);
        if (rc && rc != SP_ENOTFOUND) {
            json_decref(stored);
            return rc;
        }
        if (!pinned || pinned == id) {
            if (pinned)
                json_object_set_new(
                    item, "against",
                    json_pack("{s:I, s:b}", "baseline", (json_int_t)pinned, "is_baseline", 1));
            json_decref(stored);
            continue;
        }
        sp_cmp_settings set;
        char path[64], msg[256];
        sp_comparison_defaults(&set);
        (void)sp_comparison_settings_apply(&set, stored, path, sizeof path, msg, sizeof msg);
        json_decref(stored);
        json_t *pair[2] = {NULL, NULL}, *cmp = NULL;
        rc = sp_store_run_get(s, pinned, &pair[0]);
        if (rc == 0)
            rc = sp_store_run_get(s, id, &pair[1]);
        if (rc == 0 && json_is_object(json_object_get(pair[0], "summary")) &&
            json_is_object(json_object_get(pair[1], "summary")))
            rc = sp_comparison_build(s, pair, 2, &set, &cmp);
        if (cmp)
            json_object_set_new(item, "against", sp_comparison_brief(cmp, 1));
        json_decref(cmp);
        json_decref(pair[0]);
        json_decref(pair[1]);
        if (rc && rc != SP_ENOTFOUND)
            return rc;
    }
    return 0;
}

static int h_list(sp_http_req *req, sp_store *s)
{
    sp_store_run_filter f;
    sp_store_run_filter_init(&f);
    int64_t page = 1, per_page = SP_STORE_PAGE_DEFAULT;
    const char *ms = "a time in milliseconds since 1970";
    int rc = sp_kit_query_num(req, "page", 1, 1000000, NULL, &page);
    if (rc == 0)
        rc = sp_kit_query_num(req, "per_page", 1, SP_API_PER_PAGE_MAX, NULL, &per_page);
    if (rc == 0)
        rc = sp_kit_query_num(req, "test_id", 1, INT64_MAX / 2, "a test id", &f.test_id);
    if (rc == 0)
        rc = sp_kit_query_num(req, "from", 0, INT64_MAX / 2, ms, &f.created_from);
    if (rc == 0)
        rc = sp_kit_query_num(req, "to", 0, INT64_MAX / 2, ms, &f.created_to);
    if (rc)
        return rc;
    const char *st = sp_http_query(req, "status");
    if (st && *st) {
        f.status = sp_store_run_status_parse(st);
        char names[256];
        status_list(names, sizeof names);
        if (f.status < 0)
            return sp_http_reply_error(req, SP_EINVAL, "status", NULL, "status must be one of %s",
                                       names);
    }
    const char *origin = sp_http_query(req, "origin");
    if (origin && *origin) {
        if (strcmp(origin, "manual") != 0 && strcmp(origin, "scheduled") != 0)
            return sp_http_reply_error(req, SP_EINVAL, "origin", NULL,
                                       "origin must be manual or scheduled");
        f.origin = origin;
    }
    f.limit = (int)per_page;
    f.offset = (int)((page - 1) * per_page);
    const char *against = sp_http_query(req, "against");
    if (against && strcmp(against, "baseline") != 0)
        return sp_http_reply_error(req, SP_EINVAL, "against", NULL, "against must be \"baseline\"");
    json_t *list = NULL;
    rc = sp_store_run_list(s, &f, &list);
    if (rc == 0 && against)
        rc = add_against(s, list);
    if (rc) {
        json_decref(list);
        return run_store_error(req, s, rc);
    }
    json_object_set_new(list, "page", json_integer(page));
    json_object_set_new(list, "per_page", json_integer(per_page));
    return sp_http_reply_json(req, 200, list);
}

static int h_get(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "run", &id);
    return rc ? rc : reply_run(req, s, id, 200);
}

/* ---- Stop and load ---- */

/* Answers for a run that is not active: 404 when it does not exist, else 409 with its status. */
static int not_active(sp_http_req *req, sp_store *s, int64_t id)
{
    json_t *run = NULL;
    int rc = sp_store_run_get(s, id, &run);
    if (rc)
        rc = run_store_error(req, s, rc);
    else
        rc = sp_http_reply_error(req, SP_ESTATE, "id", NULL, "run %lld is not running (%s)",
                                 (long long)id, json_string_value(json_object_get(run, "status")));
    json_decref(run);
    return rc;
}

static int h_stop(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "run", &id);
    if (rc)
        return rc;
    json_t *body = sp_http_json(req); /* borrowed */
    if (!json_is_object(body))
        return sp_http_reply_error(req, SP_EINVAL, "", NULL,
                                   "expected an object, e.g. {\"mode\": \"immediate\"}");
    json_t *mode = json_object_get(body, "mode");
    int graceful = 1;
    if (mode && json_is_string(mode) && strcmp(json_string_value(mode), "immediate") == 0)
        graceful = 0;
    else if (mode && !(json_is_string(mode) && strcmp(json_string_value(mode), "graceful") == 0))
        return sp_http_reply_error(req, SP_EINVAL, "mode", NULL,
                                   "mode must be \"graceful\" or \"immediate\"");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "mode") != 0)
            return sp_http_reply_error(req, SP_EINVAL, key, NULL, "unknown field");
    }
    sp_runs *runs = sp_kit_runs(req);
    if (!runs || sp_runs_stop(runs, id, graceful) != 0)
        return not_active(req, s, id);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    sp_log_kv(SP_LOG_INFO, "run stop asked", "run", ids, "mode",
              graceful ? "graceful" : "immediate", "who", sp_http_req_principal(req)->name, NULL);
    char obj[40];
    snprintf(obj, sizeof obj, "runs/%lld", (long long)id);
    sp_http_audit(req, "run.stop", obj, graceful ? "graceful" : "immediate");
    return reply_run(req, s, id, 202);
}

/* The load change's body, {"target": N, "ramp"?: "10s"}: *target and *ramp_ms, or answers. */
static int load_body(sp_http_req *req, double *target, int64_t *ramp_ms)
{
    json_t *body = sp_http_json(req); /* borrowed */
    json_t *t = json_object_get(body, "target");
    if (!json_is_number(t) || json_number_value(t) < 0 || !isfinite(json_number_value(t)))
        return sp_kit_answered(
            sp_http_reply_error(req, SP_EINVAL, "target", NULL,
                                "target must be a number of 0 or more (VUs, or iterations/s "
                                "for an open model)"));
    *target = json_number_value(t);
    *ramp_ms = 0;
    json_t *ramp = json_object_get(body, "ramp");
    if (ramp &&
        (!json_is_string(ramp) || sp_parse_duration_ms(json_string_value(ramp), ramp_ms) != 0 ||
         *ramp_ms > 86400 * 1000LL))
        return sp_kit_answered(
            sp_http_reply_error(req, SP_EINVAL, "ramp", NULL,
                                "ramp must be a duration such as \"10s\" (at most a day)"));
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "target") != 0 && strcmp(key, "ramp") != 0)
            return sp_kit_answered(sp_http_reply_error(req, SP_EINVAL, key, NULL, "unknown field"));
    }
    return 0;
}

static int h_load(sp_http_req *req, sp_store *s)
{
    int64_t id, ramp_ms;
    double target;
    int rc = sp_kit_id(req, "id", "run", &id);
    if (rc == 0)
        rc = load_body(req, &target, &ramp_ms);
    if (rc)
        return rc;
    sp_runs *runs = sp_kit_runs(req);
    if (!runs)
        return not_active(req, s, id);
    const char *cap = NULL;
    char msg[256];
    rc = sp_runs_set_target(runs, id, target, (uint32_t)ramp_ms, sp_http_req_principal(req)->name,
                            &cap, msg, sizeof msg);
    if (rc == SP_ENOTFOUND)
        return not_active(req, s, id);
    if (rc == SP_ELIMIT)
        return sp_http_reply_error(req, SP_EDEFINITION, cap ? cap : "target",
                                   json_pack("{s:s}", "cap", cap ? cap : ""), "%s", msg);
    if (rc)
        return sp_http_reply_error(req, rc == SP_EINVAL ? SP_EINVAL : SP_ESTATE, "target", NULL,
                                   "%s", msg);
    char obj[40], detail[80];
    snprintf(obj, sizeof obj, "runs/%lld", (long long)id);
    snprintf(detail, sizeof detail, "target %g, ramp %lld ms", target, (long long)ramp_ms);
    sp_http_audit(req, "run.load", obj, detail);
    return sp_http_reply_json(req, 200,
                              json_pack("{s:I, s:f, s:I}", "id", (json_int_t)id, "target", target,
                                        "ramp_ms", (json_int_t)ramp_ms));
}

/* ---- Results ---- */

static int h_stats(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "run", &id);
    if (rc)
        return rc;
    json_t *run = NULL;
    rc = run_with_live(req, s, id, &run);
    if (rc)
        return run_store_error(req, s, rc);
    json_t *out;
    json_t *live = json_object_get(run, "live");
    json_t *summary = json_object_get(run, "summary");
    /* While a run goes its figures come from memory; once ended, from its stored summary. */
    if (json_is_object(live))
        out = json_pack("{s:I, s:O, s:s, s:O, s:O}", "id", (json_int_t)id, "status",
                        json_object_get(run, "status"), "source", "live", "total", live, "names",
                        json_object_get(live, "names"));
    else if (json_is_object(summary))
        out =
            json_pack("{s:I, s:O, s:s, s:O, s:O, s:O?}", "id", (json_int_t)id, "status",
                      json_object_get(run, "status"), "source", "summary", "total",
                      json_object_get(summary, "total"), "names", json_object_get(summary, "names"),
                      "duration_s", json_object_get(summary, "duration_s"));
    else
        out = json_pack("{s:I, s:O, s:s, s:n, s:[]}", "id", (json_int_t)id, "status",
                        json_object_get(run, "status"), "source", "none", "total", "names");
    json_decref(run);
    return sp_http_reply_json(req, 200, out);
}

/* The name id of a request name in a run's "names", or -1. */
static int64_t name_id_of(const json_t *run, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(run, "names"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return (int64_t)i;
    }
    return -1;
}

static int h_series(sp_http_req *req, sp_store *s)
{
    int64_t id, from = 0, to = -1;
    int rc = sp_kit_id(req, "id", "run", &id);
    if (rc == 0)
        rc = sp_kit_query_num(req, "from", 0, 7 * 86400, "a second of the run (0 = the first)",
                              &from);
    if (rc == 0)
        rc = sp_kit_query_num(req, "to", 0, 7 * 86400 + 1, "a second of the run (exclusive)", &to);
    if (rc)
        return rc;
    json_t *run = NULL, *series = NULL;
    rc = sp_store_run_get(s, id, &run);
    if (rc) {
        rc = run_store_error(req, s, rc);
        goto out;
    }
    int64_t name_id = -1;
    const char *name = sp_http_query(req, "name");
    if (name) {
        name_id = name_id_of(run, name);
        if (name_id < 0) {
            rc = sp_http_reply_error(req, SP_ENOTFOUND, "name", NULL,
                                     "run %lld has no request named '%.200s'", (long long)id, name);
            goto out;
        }
    }
    rc = sp_store_run_series(s, id, name_id, from, to, &series);
    if (rc) {
        rc = run_store_error(req, s, rc);
        goto out;
    }
    name_error_kinds(series);
    json_object_set_new(series, "id", json_integer(id));
    rc = sp_http_reply_json(req, 200, series);
    series = NULL;
out:
    json_decref(run);
    json_decref(series);
    return rc;
}

/*
 * The live points of a running run from second `from` on, as the live stream sent them: a
 * dashboard that lost its WebSocket fills the gap with this before it subscribes again. For a
 * run that has ended, "seconds" is empty (its seconds are at /series).
 */
static int h_points(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    int64_t id, from = 0;
    int rc = sp_kit_id(req, "id", "run", &id);
    if (rc == 0)
        rc = sp_kit_query_num(req, "from", 0, 7 * 86400, "a second of the run (0 = the first)",
                              &from);
    if (rc)
        return rc;
    sp_runs *runs = sp_kit_runs(req);
    size_t len = 0;
    char *text = runs ? sp_runs_backlog(runs, id, &len) : NULL; /* ours: free() */
    if (!text)
        return no_such_run(req);
    json_t *doc = json_loadb(text, len, 0, NULL);
    free(text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return SP_EIO;
    }
    json_t *kept = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "seconds"), i, p)
    {
        if (json_integer_value(json_object_get(p, "second")) >= from)
            json_array_append(kept, p); /* takes its own reference */
    }
    json_object_set_new(doc, "seconds", kept); /* steals kept */
    return sp_http_reply_json(req, 200, doc);  /* steals doc */
}

static int h_failures(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "run", &id);
    if (rc)
        return rc;
    json_t *run = NULL, *f = NULL;
    rc = sp_store_run_get(s, id, &run);
    if (rc == 0)
        rc = sp_store_run_failures(s, id, &f);
    json_decref(run);
    if (rc)
        return run_store_error(req, s, rc);
    return sp_http_reply_json(req, 200, json_pack("{s:I, s:o}", "id", (json_int_t)id, "items", f));
}

/* ---- Compare ---- */

/* The runs of ?runs=1,2,...: 2 to SP_RUNS_COMPARE_MAX ids, each a valid id, in ids[]. */
static int compare_ids(sp_http_req *req, int64_t *ids, size_t *n)
{
    const char *list = sp_http_query(req, "runs");
    *n = 0;
    int ok = list && strlen(list) <= 256;
    for (const char *p = list; ok && *p;) {
        size_t len = strcspn(p, ",");
        char one[24];
        int64_t id = 0;
        if (len < sizeof one) {
            memcpy(one, p, len);
            one[len] = '\0';
            if (sp_kit_parse_id(one, SP_KIT_ID_MAX, &id) != 0)
                id = 0;
        }
        ok = id && *n < SP_RUNS_COMPARE_MAX;
        if (ok)
            ids[(*n)++] = id;
        p += len;
        if (*p == ',')
            p++;
    }
    if (ok && *n >= 2)
        return 0;
    return sp_kit_answered(sp_http_reply_error(req, SP_EINVAL, "runs", NULL,
                                               "runs must list 2 to %d run ids, e.g. runs=1,2",
                                               SP_RUNS_COMPARE_MAX));
}

/* Reads the runs to compare; each must exist and have a summary. */
static int compare_load(sp_http_req *req, sp_store *s, const int64_t *ids, size_t n, json_t **runs)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sp_store_run_get(s, ids[i], &runs[i]);
        if (rc == SP_ENOTFOUND)
            return sp_kit_answered(sp_http_reply_error(req, rc, "runs", NULL, "no run with id %lld",
                                                       (long long)ids[i]));
        if (rc)
            return run_store_error(req, s, rc);
        if (!json_is_object(json_object_get(runs[i], "summary")))
            return sp_kit_answered(sp_http_reply_error(
                req, SP_ESTATE, "runs", NULL, "run %lld has no results yet (%s)", (long long)ids[i],
                json_string_value(json_object_get(runs[i], "status"))));
    }
    return 0;
}

/* The query parameters that set a comparison (beside "runs"). */
static const char *const compare_params[] = {"tolerance",      "alpha",
                                             "min_change_pct", "min_change_tail_pct",
                                             "min_change_ms",  "min_change_error_pct",
                                             "min_change_rps", "min_seconds",
                                             "min_requests",   "max_lag_ms"};

/*
 * The settings of a comparison whose baseline is run base (borrowed): the defaults, then its
 * test's stored settings, then the query's. Answers 400 naming the parameter for a bad one.
 */
static int compare_settings(sp_http_req *req, sp_store *s, const json_t *base, sp_cmp_settings *set)
{
    sp_comparison_defaults(set);
    json_t *stored = NULL;
    char path[64], msg[256];
    int rc = sp_store_test_baseline_get(s, json_integer_value(json_object_get(base, "test_id")),
                                        NULL, &stored);
    if (rc && rc != SP_ENOTFOUND)
        return sp_kit_store_failed(req, s, rc);
    (void)sp_comparison_settings_apply(set, stored, path, sizeof path, msg, sizeof msg);
    json_decref(stored);
    for (size_t i = 0; i < SP_ARRAY_LEN(compare_params); i++) {
        const char *t = sp_http_query(req, compare_params[i]);
        if (!t)
            continue;
        char *end;
        errno = 0;
        double v = strtod(t, &end);
        if (!*t || *end || errno || !isfinite(v)) {
            snprintf(msg, sizeof msg, "%s must be a number", compare_params[i]);
            rc = SP_EINVAL;
        } else {
            rc = sp_comparison_setting(set, compare_params[i], v, msg, sizeof msg);
        }
        if (rc)
            return sp_kit_answered(
                sp_http_reply_error(req, SP_EINVAL, compare_params[i], NULL, "%s", msg));
    }
    return 0;
}

static int h_compare(sp_http_req *req, sp_store *s)
{
    int64_t ids[SP_RUNS_COMPARE_MAX];
    size_t n;
    int rc = compare_ids(req, ids, &n);
    if (rc)
        return rc;
    json_t *runs[SP_RUNS_COMPARE_MAX] = {0};
    json_t *cmp = NULL;
    sp_cmp_settings set;
    rc = compare_load(req, s, ids, n, runs);
    if (rc == 0)
        rc = compare_settings(req, s, runs[0], &set);
    if (rc)
        goto out;
    rc = sp_comparison_build(s, runs, n, &set, &cmp);
    if (rc) {
        rc = run_store_error(req, s, rc);
        goto out;
    }
    rc = sp_http_reply_json(req, 200, cmp); /* steals cmp */
out:
    for (size_t i = 0; i < n; i++)
        json_decref(runs[i]);
    return rc;
}

/* ---- Exports ---- */

/* Sends text as a download: the bytes go to an anonymous file whose descriptor the response
 * owns, because libmicrohttpd's buffer modes would otherwise need our memory to outlive us. */
static int reply_download(sp_http_req *req, const char *content_type, const char *filename,
                          const sp_buf *b)
{
    int fd = memfd_create("stampede-export", MFD_CLOEXEC);
    if (fd < 0)
        return SP_ESYS;
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->p + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return SP_EIO;
        }
        off += (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return SP_EIO;
    }
    char disp[128];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", filename);
    sp_http_add_header(req, "Content-Disposition", disp);
    return sp_http_reply_fd(req, fd, b->len, content_type); /* owns fd */
}

typedef enum export_kind { EXPORT_JSON, EXPORT_CSV, EXPORT_JUNIT, EXPORT_HTML } export_kind;

static int do_export(sp_http_req *req, sp_store *s, export_kind kind)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "run", &id);
    if (rc)
        return rc;
    json_t *run = NULL, *series = NULL, *failures = NULL, *test = NULL, *dist = NULL;
    sp_buf b;
    sp_buf_init(&b, SP_RUNS_EXPORT_MAX_BYTES);
    rc = sp_store_run_get(s, id, &run);
    if (rc) {
        rc = run_store_error(req, s, rc);
        goto out;
    }
    const char *status = json_string_value(json_object_get(run, "status"));
    if (status && (strcmp(status, "running") == 0 || strcmp(status, "queued") == 0)) {
        rc = sp_http_reply_error(req, SP_ESTATE, "id", NULL,
                                 "run %lld is still %s: export it when it has ended", (long long)id,
                                 status);
        goto out;
    }
    if (kind != EXPORT_CSV && kind != EXPORT_JUNIT) {
        rc = sp_store_run_series(s, id, -1, 0, -1, &series);
        if (rc == 0)
            rc = sp_store_run_failures(s, id, &failures);
        if (rc == 0 && kind == EXPORT_HTML)
            rc = sp_export_distribution(s, run, &dist);
        if (rc) {
            rc = run_store_error(req, s, rc);
            goto out;
        }
        name_error_kinds(series);
    }
    char fname[64];
    switch (kind) {
    case EXPORT_JSON: {
        /* Written out here rather than by sp_http_reply_json: a long run's series passes the
         * cap of an ordinary API answer, and an export has a cap of its own. */
        json_t *doc = json_pack("{s:O, s:O, s:O}", "run", run, "series", series, "failures",
                                failures); /* "O": new references */
        size_t need = doc ? json_dumpb(doc, NULL, 0, JSON_COMPACT) : 0;
        if (!need) {
            rc = SP_ESYS;
        } else if (need >= b.max) {
            rc = SP_ELIMIT;
        } else {
            char *text = sp_malloc(need);
            json_dumpb(doc, text, need, JSON_COMPACT);
            sp_buf_add(&b, text, need);
            free(text);
            snprintf(fname, sizeof fname, "run-%lld.json", (long long)id);
            rc = reply_download(req, "application/json", fname, &b);
        }
        json_decref(doc);
        break;
    }
    case EXPORT_CSV:
        rc = sp_export_csv(run, &b);
        snprintf(fname, sizeof fname, "run-%lld.csv", (long long)id);
        if (rc == 0)
            rc = reply_download(req, "text/csv; charset=utf-8", fname, &b);
        break;
    case EXPORT_JUNIT: {
        rc = sp_store_test_get(s, json_integer_value(json_object_get(run, "test_id")),
                               (int)json_integer_value(json_object_get(run, "revision")), &test);
        if (rc) {
            rc = run_store_error(req, s, rc);
            goto out;
        }
        char err[512] = "";
        const char *def = json_string_value(json_object_get(test, "definition"));
        rc = sp_export_junit(run, def ? def : "", sp_kit_files_dir(req), &b, err, sizeof err);
        if (rc == SP_EINVAL) {
            rc = sp_http_reply_error(req, SP_ESTATE, "", NULL, "%s", err);
            goto out;
        }
        snprintf(fname, sizeof fname, "run-%lld.junit.xml", (long long)id);
        if (rc == 0)
            rc = reply_download(req, "application/xml; charset=utf-8", fname, &b);
        break;
    }
    case EXPORT_HTML:
        rc = sp_export_html(run, series, failures, dist, &b);
        snprintf(fname, sizeof fname, "run-%lld.html", (long long)id);
        if (rc == 0)
            rc = reply_download(req, "text/html; charset=utf-8", fname, &b);
        break;
    }
    if (rc == SP_ELIMIT)
        rc = sp_http_reply_error(req, SP_ELIMIT, "", NULL, "the export is larger than %u bytes",
                                 SP_RUNS_EXPORT_MAX_BYTES);
out:
    sp_buf_release(&b);
    json_decref(run);
    json_decref(series);
    json_decref(failures);
    json_decref(test);
    json_decref(dist);
    return rc;
}

/* The response-time distribution per request name of a run (from its minute histograms: the
 * minutes stored so far while it runs). */
static int h_distribution(sp_http_req *req, sp_store *s)
{
    int64_t id;
    int rc = sp_kit_id(req, "id", "run", &id);
    if (rc)
        return rc;
    json_t *run = NULL, *dist = NULL;
    rc = sp_store_run_get(s, id, &run);
    if (rc == 0)
        rc = sp_export_distribution(s, run, &dist);
    json_decref(run);
    if (rc)
        return run_store_error(req, s, rc);
    json_object_set_new(dist, "id", json_integer(id));
    return sp_http_reply_json(req, 200, dist); /* steals dist */
}

static int h_export_json(sp_http_req *req, sp_store *s)
{
    return do_export(req, s, EXPORT_JSON);
}

static int h_export_csv(sp_http_req *req, sp_store *s)
{
    return do_export(req, s, EXPORT_CSV);
}

static int h_export_junit(sp_http_req *req, sp_store *s)
{
    return do_export(req, s, EXPORT_JUNIT);
}

static int h_export_html(sp_http_req *req, sp_store *s)
{
    return do_export(req, s, EXPORT_HTML);
}

/* ---- Route table ---- */

const sp_api_route sp_api_runs_routes[] = {
    {"POST", SP_API_PREFIX "/tests/:id/runs", h_start, SP_PERM_RUN,
     SP_HTTP_JSON_BODY | SP_API_STORE,
     "Start a run of a test: {\"revision\", \"users\", \"duration\", \"stages\", \"base_url\", "
     "\"baseline\", \"fail_on_regression\"} (all optional)",
     201, NULL},
    {"GET", SP_API_PREFIX "/runs", h_list, SP_PERM_READ, SP_API_STORE,
     "List runs, newest first, by test, status, origin (manual, scheduled) and creation time "
     "(ms); against=baseline adds each run's verdict against its test's pinned baseline",
     200, "test_id,status,origin,from,to,page,per_page,against"},
    {"GET", SP_API_PREFIX "/runs/:id", h_get, SP_PERM_READ, SP_API_STORE,
     "A run: status, live totals while it runs, summary and verdicts", 200, NULL},
    {"POST", SP_API_PREFIX "/runs/:id/stop", h_stop, SP_PERM_RUN, SP_HTTP_JSON_BODY | SP_API_STORE,
     "Stop a run: {\"mode\": \"graceful\" | \"immediate\"}", 202, NULL},
    {"POST", SP_API_PREFIX "/runs/:id/load", h_load, SP_PERM_RUN, SP_HTTP_JSON_BODY | SP_API_STORE,
     "Change a running run's target: {\"target\": N, \"ramp\": \"10s\"}", 200, NULL},
    {"GET", SP_API_PREFIX "/runs/:id/stats", h_stats, SP_PERM_READ, SP_API_STORE,
     "Per request name figures of a run (live while it runs)", 200, NULL},
    {"GET", SP_API_PREFIX "/runs/:id/series", h_series, SP_PERM_READ, SP_API_STORE,
     "Per-second series of a run, by request name", 200, "name,from,to"},
    {"GET", SP_API_PREFIX "/runs/:id/failures", h_failures, SP_PERM_READ, SP_API_STORE,
     "Failure messages of a run, most frequent first", 200, NULL},
    {"GET", SP_API_PREFIX "/runs/:id/distribution", h_distribution, SP_PERM_READ, SP_API_STORE,
     "Response-time distribution of a run per request name (share of requests by latency bin)", 200,
     NULL},
    {"GET", SP_API_PREFIX "/runs/:id/export.json", h_export_json, SP_PERM_READ, SP_API_STORE,
     "A run with its series and failures as one JSON document", 200, NULL},
    {"GET", SP_API_PREFIX "/runs/:id/export.csv", h_export_csv, SP_PERM_READ, SP_API_STORE,
     "A run's per request name figures as CSV", 200, NULL},
    {"GET", SP_API_PREFIX "/runs/:id/export.junit.xml", h_export_junit, SP_PERM_READ, SP_API_STORE,
     "A run's thresholds as JUnit XML, one test case each", 200, NULL},
    {"GET", SP_API_PREFIX "/runs/:id/export.html", h_export_html, SP_PERM_READ, SP_API_STORE,
     "A self-contained HTML report of a run (opens offline)", 200, NULL},
    {"GET", SP_API_PREFIX "/compare", h_compare, SP_PERM_READ, SP_API_STORE,
     "Compare 2 to 10 runs against the first: per name and figure a rank test, the change with "
     "its interval, and a verdict (regression, improvement, no significant change, not enough "
     "data)",
     200,
     "runs,tolerance,alpha,min_change_pct,min_change_tail_pct,min_change_ms,min_change_error_pct,"
     "min_change_rps,"
     "min_seconds,min_requests,max_lag_ms"},
    {"GET", SP_API_PREFIX "/runs/:id/points", h_points, SP_PERM_READ, 0,
     "A running run's live points from a second on (to fill a gap in the live stream)", 200,
     "from"},
};
const size_t sp_api_runs_nroutes = SP_ARRAY_LEN(sp_api_runs_routes);
