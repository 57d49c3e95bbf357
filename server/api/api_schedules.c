/*
 * api_schedules.c - see api_schedules.h.
 */
#include "api/api_schedules.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "sched/sched.h"

/* The scheduler, or a 409 when the server runs without one. */
static int sched_of(sp_http_req *req, sp_sched **out)
{
    *out = sp_kit_sched(req);
    if (*out)
        return 0;
    return sp_kit_answered(
        sp_http_reply_error(req, SP_ESTATE, "", NULL, "schedules are not enabled on this server"));
}

static sp_sched_who who_of(sp_http_req *req)
{
    const sp_http_principal *p = sp_http_req_principal(req);
    sp_sched_who who = {.user = p->user[0] ? p->user : p->name,
                        .role = p->role[0] ? p->role : "admin",
                        .admin = (p->perms & SP_PERM_ADMIN) != 0};
    return who;
}

/* Answers a failed call of the scheduler. */
static int sched_failed(sp_http_req *req, int rc, const sp_errlist *el, const char *msg)
{
    if (rc == SP_EINVAL && el && el->n)
        return sp_kit_reply_errors(req, el, "", msg[0] ? msg : "invalid schedule");
    if (rc == SP_EINVAL || rc == SP_ELIMIT)
        return sp_kit_answered(
            sp_http_reply_error(req, SP_EDEFINITION, "overrides", NULL, "%s", msg));
    if (rc == SP_ENOTFOUND || rc == SP_EFORBIDDEN || rc == SP_ESTATE)
        return sp_kit_answered(sp_http_reply_error(req, rc, "id", NULL, "%s", msg));
    sp_log_kv(SP_LOG_ERROR, "schedule request failed", "error", msg, NULL);
    return sp_kit_answered(sp_http_reply_error(
        req, rc, "", NULL, "the schedule could not be saved (see the server log)"));
}

/* "schedules/N" and a detail naming the test, the timing and the owner, for the audit log. */
static void audit(sp_http_req *req, const char *action, int64_t id, const json_t *sch)
{
    char obj[40], detail[512] = "";
    snprintf(obj, sizeof obj, "schedules/%lld", (long long)id);
    if (sch)
        snprintf(detail, sizeof detail, "test %lld: '%s' %s, owner %s%s",
                 (long long)json_integer_value(json_object_get(sch, "test_id")),
                 json_string_value(json_object_get(sch, "cron")),
                 json_string_value(json_object_get(sch, "timezone")),
                 json_string_value(json_object_get(sch, "owner")),
                 json_is_true(json_object_get(sch, "paused")) ? ", paused" : "");
    sp_http_audit(req, action, obj, detail[0] ? detail : NULL);
}

static int h_list(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_sched *s;
    int64_t test_id;
    int rc = sp_kit_id(req, "id", "test", &test_id);
    if (rc == 0)
        rc = sched_of(req, &s);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_sched_list(s, test_id, &out);
    if (rc == SP_ENOTFOUND)
        return sp_http_reply_error(req, rc, "id", NULL, "no test with id %lld", (long long)test_id);
    if (rc)
        return sched_failed(req, rc, NULL, "the database failed");
    return sp_http_reply_json(req, 200, out);
}

static int h_create(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_sched *s;
    int64_t test_id;
    int rc = sp_kit_id(req, "id", "test", &test_id);
    if (rc == 0)
        rc = sched_of(req, &s);
    if (rc)
        return rc;
    sp_sched_who who = who_of(req);
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[512] = "";
    json_t *out = NULL;
    rc = sp_sched_create(s, test_id, sp_http_json(req), &who, &out, &el, msg, sizeof msg);
    if (rc) {
        rc = sched_failed(req, rc, &el, msg);
    } else {
        int64_t id = json_integer_value(json_object_get(out, "id"));
        char loc[64];
        snprintf(loc, sizeof loc, SP_API_PREFIX "/schedules/%lld", (long long)id);
        sp_http_add_header(req, "Location", loc);
        audit(req, "schedule.create", id, out);
        rc = sp_http_reply_json(req, 201, out);
    }
    sp_errlist_release(&el);
    return rc;
}

static int h_get(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_sched *s;
    int64_t id;
    int rc = sp_kit_id(req, "id", "schedule", &id);
    if (rc == 0)
        rc = sched_of(req, &s);
    if (rc)
        return rc;
    json_t *out = NULL;
    rc = sp_sched_get(s, id, &out);
    if (rc == SP_ENOTFOUND)
        return sp_http_reply_error(req, rc, "id", NULL, "no schedule with id %lld", (long long)id);
    if (rc)
        return sched_failed(req, rc, NULL, "the database failed");
    return sp_http_reply_json(req, 200, out);
}

static int h_update(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_sched *s;
    int64_t id;
    int rc = sp_kit_id(req, "id", "schedule", &id);
    if (rc == 0)
        rc = sched_of(req, &s);
    if (rc)
        return rc;
    sp_sched_who who = who_of(req);
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[512] = "";
    json_t *out = NULL;
    rc = sp_sched_update(s, id, sp_http_json(req), &who, &out, &el, msg, sizeof msg);
    if (rc) {
        rc = sched_failed(req, rc, &el, msg);
    } else {
        audit(req, "schedule.update", id, out);
        rc = sp_http_reply_json(req, 200, out);
    }
    sp_errlist_release(&el);
    return rc;
}

static int set_paused(sp_http_req *req, int paused)
{
    sp_sched *s;
    int64_t id;
    int rc = sp_kit_id(req, "id", "schedule", &id);
    if (rc == 0)
        rc = sched_of(req, &s);
    if (rc)
        return rc;
    sp_sched_who who = who_of(req);
    char msg[512] = "";
    json_t *out = NULL;
    rc = sp_sched_set_paused(s, id, paused, &who, &out, msg, sizeof msg);
    if (rc)
        return sched_failed(req, rc, NULL, msg);
    audit(req, paused ? "schedule.pause" : "schedule.resume", id, out);
    return sp_http_reply_json(req, 200, out);
}

static int h_pause(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    return set_paused(req, 1);
}

static int h_resume(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    return set_paused(req, 0);
}

static int h_delete(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_sched *s;
    int64_t id;
    int rc = sp_kit_id(req, "id", "schedule", &id);
    if (rc == 0)
        rc = sched_of(req, &s);
    if (rc)
        return rc;
    sp_sched_who who = who_of(req);
    char msg[512] = "";
    int64_t test_id = 0;
    rc = sp_sched_delete(s, id, &who, &test_id, msg, sizeof msg);
    if (rc)
        return sched_failed(req, rc, NULL, msg);
    char obj[40], detail[40];
    snprintf(obj, sizeof obj, "schedules/%lld", (long long)id);
    snprintf(detail, sizeof detail, "test %lld", (long long)test_id);
    sp_http_audit(req, "schedule.delete", obj, detail);
    return sp_http_reply_empty(req, 204);
}

static int h_preview(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_sched *s;
    int rc = sched_of(req, &s);
    if (rc)
        return rc;
    const json_t *body = sp_http_json(req);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "cron") != 0 && strcmp(key, "timezone") != 0 && strcmp(key, "count") != 0 &&
            strcmp(key, "from") != 0)
            return sp_http_reply_error(req, SP_EINVAL, key, NULL,
                                       "unknown field (send cron, timezone, count and from)");
    }
    const json_t *count = json_object_get(body, "count");
    if (count && (!json_is_integer(count) || json_integer_value(count) < 1 ||
                  json_integer_value(count) > SP_SCHED_NEXT_SHOWN * 4))
        return sp_http_reply_error(req, SP_EINVAL, "count", NULL,
                                   "count must be a whole number from 1 to %d",
                                   SP_SCHED_NEXT_SHOWN * 4);
    const json_t *from = json_object_get(body, "from");
    if (from && (!json_is_integer(from) || json_integer_value(from) < 1 ||
                 json_integer_value(from) > INT64_C(253402300799000)))
        return sp_http_reply_error(req, SP_EINVAL, "from", NULL,
                                   "from must be a time in milliseconds since 1970");
    const json_t *tz = json_object_get(body, "timezone");
    if (tz && !json_is_string(tz))
        return sp_http_reply_error(req, SP_EINVAL, "timezone", NULL,
                                   "timezone must be a zone name such as \"Europe/Berlin\"");
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *out = NULL;
    rc =
        sp_sched_preview(s, json_string_value(json_object_get(body, "cron")), json_string_value(tz),
                         count ? (int)json_integer_value(count) : SP_SCHED_NEXT_SHOWN,
                         from ? json_integer_value(from) : 0, &out, &el);
    rc = rc ? sp_kit_reply_errors(req, &el, "", "invalid schedule")
            : sp_http_reply_json(req, 200, out);
    sp_errlist_release(&el);
    return rc;
}

const sp_api_route sp_api_schedules_routes[] = {
    {"GET", SP_API_PREFIX "/tests/:id/schedules", h_list, SP_PERM_READ, 0,
     "A test's schedules with their next fire times and last fires", 200, NULL},
    {"POST", SP_API_PREFIX "/tests/:id/schedules", h_create, SP_PERM_RUN, SP_HTTP_JSON_BODY,
     "Schedule a test: {\"cron\", \"timezone\", \"overrides\", \"if_running\", \"on_missed\", "
     "\"paused\"}; owned by the caller",
     201, NULL},
    {"POST", SP_API_PREFIX "/schedules/preview", h_preview, SP_PERM_READ, SP_HTTP_JSON_BODY,
     "The next fire times of {\"cron\", \"timezone\", \"count\", \"from\"}, or why it is "
     "refused",
     200, NULL},
    {"GET", SP_API_PREFIX "/schedules/:id", h_get, SP_PERM_READ, 0,
     "A schedule with its next fire times and last fires", 200, NULL},
    {"PUT", SP_API_PREFIX "/schedules/:id", h_update, SP_PERM_RUN, SP_HTTP_JSON_BODY,
     "Change the fields given of a schedule (its owner or an admin)", 200, NULL},
    {"POST", SP_API_PREFIX "/schedules/:id/pause", h_pause, SP_PERM_RUN, 0,
     "Pause a schedule (its owner or an admin)", 200, NULL},
    {"POST", SP_API_PREFIX "/schedules/:id/resume", h_resume, SP_PERM_RUN, 0,
     "Resume a schedule; fire times while it was paused never fire", 200, NULL},
    {"DELETE", SP_API_PREFIX "/schedules/:id", h_delete, SP_PERM_RUN, 0,
     "Delete a schedule and its history (its runs stay)", 204, NULL},
};
const size_t sp_api_schedules_nroutes = SP_ARRAY_LEN(sp_api_schedules_routes);
