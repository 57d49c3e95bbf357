/*
 * sched.c - see sched.h.
 */
#include "sched/sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "auth/auth.h"
#include "base/errors.h"
#include "base/json.h"
#include "base/log.h"
#include "engine/banned.h"
#include "runs/policy.h"
#include "runs/runs.h"
#include "sched/cron.h"
#include "sched/tz.h"
#include "store/sql.h"
#include "store/store.h"

/* The scheduler wakes at least this often, to see what no poke announces (a test deleted, a
 * schedule saved by another process on the same database never happens: one server per data
 * directory). */
#define SCHED_IDLE_MS 10000
/* Fire records a schedule answers with. */
#define SCHED_LAST_FIRES 10
/* Zones the scheduler thread keeps loaded. */
#define SCHED_ZONE_CACHE 64

enum {
    Q_INSERT,
    Q_GET,
    Q_LIST,
    Q_UPDATE,
    Q_DELETE,
    Q_COUNT_TEST,
    Q_COUNT_ALL,
    Q_TEST_LIVE,
    Q_FIRES,
    Q_ACTIVE,
    Q_HANDLED,
    Q_QUEUE_SET,
    Q_FIRE_INSERT,
    Q_FIRE_SET,
    Q_FIRE_PRUNE,
    Q_FIRE_QUEUED,
    Q_COUNT
};

#define SCHED_COLUMNS                                                                              \
    "s.id, s.test_id, t.name, s.owner, s.cron, s.timezone, s.overrides, s.if_running,"             \
    " s.on_missed, s.paused, s.created_at, s.updated_at, s.queued_at, s.handled_to"
#define SCHED_SPEC                                                                                 \
    "id:i test_id:i test_name:s owner:s cron:s timezone:s overrides:j if_running:s on_missed:s "   \
    "paused:b created_at:i updated_at:i queued_at:i handled_to:i"

static const char *const sql_text[Q_COUNT] = {
    [Q_INSERT] = "INSERT INTO schedules (test_id, owner, cron, timezone, overrides, if_running,"
                 " on_missed, paused, created_at, updated_at, handled_to)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
    [Q_GET] = "SELECT " SCHED_COLUMNS " FROM schedules s JOIN tests t ON t.id = s.test_id"
              " WHERE s.id = ?1",
    [Q_LIST] = "SELECT " SCHED_COLUMNS " FROM schedules s JOIN tests t ON t.id = s.test_id"
               " WHERE s.test_id = ?1 ORDER BY s.id",
    /* handled_to only moves forward: the scheduler thread may have moved it meanwhile. A
     * paused schedule waits for no run. */
    [Q_UPDATE] = "UPDATE schedules SET cron = ?2, timezone = ?3, overrides = ?4, if_running = ?5,"
                 " on_missed = ?6, paused = ?7, updated_at = ?8,"
                 " handled_to = max(handled_to, ?9),"
                 " queued_at = CASE WHEN ?7 OR ?5 = 'skip' THEN NULL ELSE queued_at END"
                 " WHERE id = ?1",
    [Q_DELETE] = "DELETE FROM schedules WHERE id = ?1",
    [Q_COUNT_TEST] = "SELECT count(*) FROM schedules WHERE test_id = ?1",
    [Q_COUNT_ALL] = "SELECT count(*) FROM schedules",
    [Q_TEST_LIVE] = "SELECT 1 FROM tests WHERE id = ?1 AND deleted_at IS NULL",
    [Q_FIRES] = "SELECT f.id, f.fire_at, f.at, f.outcome, f.run_id, r.status, f.detail"
                " FROM schedule_fires f LEFT JOIN runs r ON r.id = f.run_id"
                " WHERE f.schedule_id = ?1 ORDER BY f.id DESC LIMIT ?2",
    /* What the scheduler looks at: schedules not paused, of tests not deleted. */
    [Q_ACTIVE] = "SELECT s.id, s.test_id, s.owner, s.cron, s.timezone, s.overrides,"
                 " s.if_running, s.on_missed, s.handled_to, s.queued_at"
                 " FROM schedules s JOIN tests t ON t.id = s.test_id"
                 " WHERE s.paused = 0 AND t.deleted_at IS NULL ORDER BY s.id",
    [Q_HANDLED] = "UPDATE schedules SET handled_to = max(handled_to, ?2) WHERE id = ?1",
    [Q_QUEUE_SET] = "UPDATE schedules SET queued_at = ?2 WHERE id = ?1",
    [Q_FIRE_INSERT] = "INSERT INTO schedule_fires (schedule_id, fire_at, at, outcome, run_id,"
                      " detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_FIRE_SET] = "UPDATE schedule_fires SET outcome = ?2, run_id = ?3, detail = ?4 WHERE id = ?1",
    [Q_FIRE_PRUNE] = "DELETE FROM schedule_fires WHERE schedule_id = ?1 AND id <= (SELECT id FROM"
                     " schedule_fires WHERE schedule_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    [Q_FIRE_QUEUED] = "SELECT id FROM schedule_fires WHERE schedule_id = ?1 AND fire_at = ?2"
                      " AND outcome = 'queued' ORDER BY id DESC LIMIT 1",
};

struct sp_sched {
    char *db_path;
    struct sp_runs *runs;
    struct sp_auth *auth;
    int64_t offset_ms;

    pthread_mutex_t api_mu; /* the API's connection */
    sp_sql *api;

    pthread_mutex_t mu; /* the thread's wake-up */
    pthread_cond_t cond;
    int stop, poked, started;
    pthread_t thread;
    _Atomic uint64_t passes;
};

static int seterr(char *msg, size_t msglen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int seterr(char *msg, size_t msglen, int rc, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int open_sql(const char *path, sp_sql **out, char *err, size_t errlen)
{
    static const sp_sql_config cfg = {.texts = sql_text, .ntexts = Q_COUNT, .log_as = "sched"};
    char why[256] = "";
    if (sp_sql_open(out, path, SQLITE_OPEN_READWRITE, &cfg, why, sizeof why) != 0)
        return seterr(err, errlen, SP_ESYS, "sched: cannot open %s: %s", path, why);
    if (sp_sql_exec(sp_sql_db(*out), "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;") !=
        SQLITE_OK) {
        seterr(err, errlen, SP_EIO, "sched: %s", sqlite3_errmsg(sp_sql_db(*out)));
        sp_sql_close(*out);
        *out = NULL;
        return SP_EIO;
    }
    return 0;
}

int64_t sp_sched_now_ms(const sp_sched *s)
{
    return sp_wall_ms() + s->offset_ms;
}

uint64_t sp_sched_passes(sp_sched *s)
{
    return atomic_load(&s->passes);
}

/* ---- Fire times as JSON ---- */

/* "2026-03-29T03:00:00+02:00": instant t (seconds) on the zone's clock. */
static json_t *local_iso(const sp_tz *z, int64_t t)
{
    int32_t off = sp_tz_offset(z, t, NULL);
    int64_t local = t + off;
    int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    int64_t sod = local - days * 86400;
    int64_t y;
    unsigned m, d;
    sp_tz_civil_from_days(days, &y, &m, &d);
    int32_t a = off < 0 ? -off : off;
    char buf[64];
    snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d%c%02d:%02d", (long long)y, m, d,
             (int)(sod / 3600), (int)(sod % 3600 / 60), (int)(sod % 60), off < 0 ? '-' : '+',
             (int)(a / 3600), (int)(a % 3600 / 60));
    return json_string(buf);
}

/* The next count fire times after after_ms, as [{"at", "local"}...] (new reference). */
static json_t *next_fires(const sp_cron *c, const sp_tz *z, int64_t after_ms, int count)
{
    json_t *a = json_array();
    int64_t t = after_ms / 1000, next;
    for (int i = 0; i < count && sp_cron_next(c, z, t, &next) == 0; i++) {
        json_array_append_new(
            a, json_pack("{s:I, s:o}", "at", (json_int_t)next * 1000, "local", local_iso(z, next)));
        t = next;
    }
    return a;
}

/* Adds "follows_clock", "next_fires" and "last_fires" to a schedule row read by SCHED_SPEC, and
 * drops its internal fields. Caller holds the API mutex (q is the API's connection). */
static void decorate(sp_sched *s, sp_sql *q, json_t *o)
{
    sp_cron c;
    sp_cron_error ce;
    sp_tz *z = NULL;
    char err[160];
    const char *cron = json_string_value(json_object_get(o, "cron"));
    const char *zone = json_string_value(json_object_get(o, "timezone"));
    int64_t from = json_integer_value(json_object_get(o, "handled_to"));
    int64_t now = sp_sched_now_ms(s);
    if (from < now)
        from = now;
    json_object_del(o, "handled_to");
    if (sp_cron_parse(cron, &c, &ce) == 0 && sp_tz_load(zone, &z, err, sizeof err) == 0) {
        json_object_set_new(o, "follows_clock", json_boolean(sp_cron_every_hour(&c)));
        json_object_set_new(o, "next_fires", next_fires(&c, z, from, SP_SCHED_NEXT_SHOWN));
    } else {
        /* A zone the tz database no longer has (an upgrade of tzdata): shown, never fired. */
        json_object_set_new(o, "follows_clock", json_false());
        json_object_set_new(o, "next_fires", json_array());
    }
    sp_tz_free(z);
    json_t *fires = NULL;
    int64_t id = json_integer_value(json_object_get(o, "id"));
    if (sp_sql_rows(q, sp_sql_query(q, Q_FIRES, "li", id, SCHED_LAST_FIRES),
                    "id:i fire_at:i at:i outcome:s run_id:i run_status:s detail:s", &fires) != 0)
        fires = json_array();
    json_object_set_new(o, "last_fires", fires);
}

/* One schedule as the API answers it, on the API's connection (mutex held). */
static int get_locked(sp_sched *s, int64_t id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = sp_sql_query(s->api, Q_GET, "l", id);
    int rc = sp_sql_first(s->api, st);
    json_t *o = rc == 0 ? sp_sql_row(st, SCHED_SPEC) : NULL;
    sp_sql_done(st);
    if (rc)
        return rc;
    decorate(s, s->api, o);
    *out = o;
    return 0;
}

int sp_sched_get(sp_sched *s, int64_t id, json_t **out)
{
    pthread_mutex_lock(&s->api_mu);
    int rc = get_locked(s, id, out);
    pthread_mutex_unlock(&s->api_mu);
    return rc;
}

int sp_sched_list(sp_sched *s, int64_t test_id, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->api_mu);
    int64_t one;
    json_t *items = NULL;
    int rc = sp_sql_one_int(s->api, Q_TEST_LIVE, &one, "l", test_id);
    if (rc == 0)
        rc = sp_sql_rows(s->api, sp_sql_query(s->api, Q_LIST, "l", test_id), SCHED_SPEC, &items);
    if (rc == 0) {
        size_t i;
        json_t *o;
        json_array_foreach(items, i, o) decorate(s, s->api, o);
        *out = json_pack("{s:o}", "items", items); /* steals items */
    }
    pthread_mutex_unlock(&s->api_mu);
    return rc;
}

/* ---- Checking what a client sends ---- */

/* A body's fields; the strings are borrowed from the body. */
typedef struct fields {
    const char *cron, *zone, *if_running, *on_missed;
    const json_t *overrides; /* NULL: not given; json null: none */
    int paused;              /* -1: not given */
} fields;

/* Checks cron and zone together: errs gets "cron" or "timezone". Pure but for the zone file. */
static int check_timing(const char *cron, const char *zone, int64_t now_ms, sp_cron *c, sp_tz **z,
                        sp_errlist *errs)
{
    *z = NULL;
    sp_cron_error ce;
    int rc = 0;
    if (sp_cron_parse(cron, c, &ce) != 0) {
        if (ce.field[0])
            sp_errlist_add(errs, "cron", "%s: %s", ce.field, ce.msg);
        else
            sp_errlist_add(errs, "cron", "%s", ce.msg);
        rc = SP_EINVAL;
    }
    char err[200];
    if (sp_tz_load(zone, z, err, sizeof err) != 0) {
        sp_errlist_add(errs, "timezone", "%s", err);
        rc = SP_EINVAL;
    }
    int64_t next;
    if (rc == 0 && sp_cron_next(c, *z, now_ms / 1000, &next) != 0) {
        sp_errlist_add(errs, "cron",
                       "'%s' never fires: no day it names comes within ten years (such as "
                       "February 30)",
                       cron);
        rc = SP_EINVAL;
    }
    if (rc) {
        sp_tz_free(*z);
        *z = NULL;
    }
    return rc;
}

/* The overrides a schedule may carry: a run start's, and nothing else yet. */
static int check_overrides(const json_t *ov, sp_errlist *errs)
{
    if (!ov || json_is_null(ov))
        return 0;
    if (json_is_object(ov) && json_object_get(ov, "locations")) {
        sp_errlist_add(errs, "overrides.locations",
                       "not available yet: locations come with agents (docs/api-schedules.md)");
        return SP_EINVAL;
    }
    sp_overrides parsed;
    char *stages = NULL;
    int rc = sp_runs_overrides_parse(ov, &parsed, &stages, errs);
    free(stages);
    return rc;
}

static int parse_fields(const json_t *body, int create, fields *f, sp_errlist *errs)
{
    static const char *const known[] = {"cron",       "timezone",  "overrides",
                                        "if_running", "on_missed", "paused"};
    memset(f, 0, sizeof *f);
    f->paused = -1;
    if (!json_is_object(body)) {
        sp_errlist_add(errs, "",
                       "expected an object such as {\"cron\": \"0 2 * * 1-5\", "
                       "\"timezone\": \"Europe/Berlin\"}");
        return SP_EINVAL;
    }
    size_t before = errs->n + errs->dropped;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "cron") == 0) {
            if (!json_is_string(v))
                sp_errlist_add(errs, key, "must be a cron expression such as \"0 2 * * 1-5\"");
            else
                f->cron = json_string_value(v);
        } else if (strcmp(key, "timezone") == 0) {
            if (!json_is_string(v))
                sp_errlist_add(errs, key, "must be a time zone name such as \"Europe/Berlin\"");
            else
                f->zone = json_string_value(v);
        } else if (strcmp(key, "overrides") == 0) {
            if (!json_is_object(v) && !json_is_null(v))
                sp_errlist_add(errs, key, "must be an object of run overrides or null");
            else
                f->overrides = v;
        } else if (strcmp(key, "if_running") == 0) {
            const char *t = json_string_value(v);
            if (!t || (strcmp(t, "skip") != 0 && strcmp(t, "queue") != 0))
                sp_errlist_add(errs, key, "must be \"skip\" or \"queue\"");
            else
                f->if_running = t;
        } else if (strcmp(key, "on_missed") == 0) {
            const char *t = json_string_value(v);
            if (!t || (strcmp(t, "skip") != 0 && strcmp(t, "run_once") != 0))
                sp_errlist_add(errs, key, "must be \"skip\" or \"run_once\"");
            else
                f->on_missed = t;
        } else if (strcmp(key, "paused") == 0) {
            if (!json_is_boolean(v))
                sp_errlist_add(errs, key, "must be true or false");
            else
                f->paused = json_is_true(v);
        } else {
            const char *hint = sp_suggest(key, known, SP_ARRAY_LEN(known));
            sp_errlist_add(errs, key, "unknown field%s%s%s", hint ? " (did you mean '" : "",
                           hint ? hint : "", hint ? "'?)" : "");
        }
    }
    if (create && !f->cron && !errs->n)
        sp_errlist_add(errs, "cron", "is required: a cron expression such as \"0 2 * * 1-5\"");
    if (f->overrides)
        check_overrides(f->overrides, errs);
    return errs->n + errs->dropped > before ? SP_EINVAL : 0;
}

/* The owner's caps and the target allowlist against the test with ov: a schedule that could
 * never start is refused when it is saved, not at 2 am. */
static int check_start(sp_sched *s, int64_t test_id, const json_t *ov, const char *owner,
                       const char *role, sp_errlist *errs, char *msg, size_t msglen)
{
    sp_store *st = NULL;
    char err[256];
    int rc = sp_store_open(&st, s->db_path, err, sizeof err);
    if (rc)
        return seterr(msg, msglen, rc, "%s", err);
    sp_policy pol;
    rc = sp_policy_load(&pol, st, role);
    sp_store_close(st);
    if (rc)
        return seterr(msg, msglen, rc, "the settings cannot be read");
    sp_runs_start_args a = {.test_id = test_id,
                            .overrides = json_is_object(ov) ? ov : NULL,
                            .started_by = owner,
                            .rules = &pol.run};
    sp_runs_started out;
    rc = sp_runs_check(s->runs, &a, &out, errs);
    sp_policy_release(&pol);
    if (rc)
        seterr(msg, msglen, rc, "%s", out.msg);
    return rc;
}

/* The role whose caps apply to owner's runs. */
static int owner_role(sp_sched *s, const char *owner, const sp_sched_who *who, char *role,
                      size_t rolelen)
{
    if (who && who->user && strcmp(who->user, owner) == 0 && who->role) {
        snprintf(role, rolelen, "%s", who->role);
        return 0;
    }
    if (!s->auth) {
        snprintf(role, rolelen, "admin");
        return 0;
    }
    return sp_auth_user_role(s->auth, owner, role, rolelen);
}

/* ---- Changes ---- */

int sp_sched_create(sp_sched *s, int64_t test_id, const json_t *body, const sp_sched_who *who,
                    json_t **out, sp_errlist *errs, char *msg, size_t msglen)
{
    *out = NULL;
    msg[0] = '\0';
    fields f;
    sp_cron c;
    sp_tz *z = NULL;
    int rc = parse_fields(body, 1, &f, errs);
    if (rc)
        return seterr(msg, msglen, rc, "invalid schedule");
    const char *zone = f.zone ? f.zone : "UTC";
    int64_t now = sp_sched_now_ms(s);
    rc = check_timing(f.cron, zone, now, &c, &z, errs);
    sp_tz_free(z);
    if (rc)
        return seterr(msg, msglen, rc, "invalid schedule");
    /* Checked before the start check so that a missing test is 404, not a definition error. */
    pthread_mutex_lock(&s->api_mu);
    int64_t one = 0, n_test = 0, n_all = 0;
    rc = sp_sql_one_int(s->api, Q_TEST_LIVE, &one, "l", test_id);
    if (rc == 0)
        rc = sp_sql_one_int(s->api, Q_COUNT_TEST, &n_test, "l", test_id);
    if (rc == 0)
        rc = sp_sql_one_int(s->api, Q_COUNT_ALL, &n_all, "");
    pthread_mutex_unlock(&s->api_mu);
    if (rc == SP_ENOTFOUND)
        return seterr(msg, msglen, rc, "no test with id %lld", (long long)test_id);
    if (rc)
        return seterr(msg, msglen, rc, "the database failed");
    if (n_test >= SP_SCHED_PER_TEST || n_all >= SP_SCHED_MAX)
        return seterr(msg, msglen, SP_ELIMIT, "at most %d schedules per test and %d in all",
                      SP_SCHED_PER_TEST, SP_SCHED_MAX);
    rc = check_start(s, test_id, f.overrides, who->user, who->role ? who->role : "admin", errs, msg,
                     msglen);
    if (rc)
        return rc;

    pthread_mutex_lock(&s->api_mu);
    int64_t wall = sp_wall_ms();
    rc = sp_sql_run(s->api, Q_INSERT, "lsssjssill", test_id, who->user, f.cron, zone,
                    json_is_object(f.overrides) ? f.overrides : NULL,
                    f.if_running ? f.if_running : "skip", f.on_missed ? f.on_missed : "skip",
                    f.paused > 0 ? 1 : 0, wall, now);
    if (rc == 0)
        rc = get_locked(s, sp_sql_last_id(s->api), out);
    pthread_mutex_unlock(&s->api_mu);
    if (rc)
        return seterr(msg, msglen, rc, "the database failed");
    sp_sched_poke(s);
    return 0;
}

/* The owner and test of schedule id, checking that who may change it. */
static int may_change(sp_sched *s, int64_t id, const sp_sched_who *who, json_t **cur, char *msg,
                      size_t msglen)
{
    pthread_mutex_lock(&s->api_mu);
    sqlite3_stmt *st = sp_sql_query(s->api, Q_GET, "l", id);
    int rc = sp_sql_first(s->api, st);
    *cur = rc == 0 ? sp_sql_row(st, SCHED_SPEC) : NULL;
    sp_sql_done(st);
    pthread_mutex_unlock(&s->api_mu);
    if (rc == SP_ENOTFOUND)
        return seterr(msg, msglen, rc, "no schedule with id %lld", (long long)id);
    if (rc)
        return seterr(msg, msglen, rc, "the database failed");
    const char *owner = json_string_value(json_object_get(*cur, "owner"));
    if (!who->admin && (!who->user || !owner || strcmp(owner, who->user) != 0)) {
        /* The message quotes the owner, which lives in *cur: written before it goes. */
        seterr(msg, msglen, SP_EFORBIDDEN,
               "schedule %lld belongs to %s: only its owner or an admin may change it",
               (long long)id, owner ? owner : "?");
        json_decref(*cur);
        *cur = NULL;
        return SP_EFORBIDDEN;
    }
    return 0;
}

int sp_sched_update(sp_sched *s, int64_t id, const json_t *body, const sp_sched_who *who,
                    json_t **out, sp_errlist *errs, char *msg, size_t msglen)
{
    *out = NULL;
    msg[0] = '\0';
    json_t *cur = NULL;
    fields f;
    int rc = may_change(s, id, who, &cur, msg, msglen);
    if (rc)
        return rc;
    rc = parse_fields(body, 0, &f, errs);
    if (rc) {
        seterr(msg, msglen, rc, "invalid schedule");
        goto out;
    }
    const char *cron = f.cron ? f.cron : json_string_value(json_object_get(cur, "cron"));
    const char *zone = f.zone ? f.zone : json_string_value(json_object_get(cur, "timezone"));
    const json_t *ov = f.overrides ? f.overrides : json_object_get(cur, "overrides");
    int64_t test_id = json_integer_value(json_object_get(cur, "test_id"));
    const char *owner = json_string_value(json_object_get(cur, "owner"));
    int64_t now = sp_sched_now_ms(s);
    sp_cron c;
    sp_tz *z = NULL;
    rc = check_timing(cron, zone, now, &c, &z, errs);
    sp_tz_free(z);
    if (rc) {
        seterr(msg, msglen, rc, "invalid schedule");
        goto out;
    }
    if (f.overrides) {
        char role[16];
        rc = owner_role(s, owner, who, role, sizeof role);
        if (rc == SP_ENOTFOUND) {
            seterr(msg, msglen, SP_ESTATE, "the owner %s no longer exists: delete the schedule",
                   owner);
            rc = SP_ESTATE;
            goto out;
        }
        if (rc == 0)
            rc = check_start(s, test_id, ov, owner, role, errs, msg, msglen);
        if (rc)
            goto out;
    }
    int was_paused = json_is_true(json_object_get(cur, "paused"));
    int paused = f.paused >= 0 ? f.paused : was_paused;
    /* A new expression or zone, or a resumed schedule, starts from now: nothing in the past
     * fires because of a change. */
    int from_now = f.cron || f.zone || (was_paused && !paused);
    const char *if_running =
        f.if_running ? f.if_running : json_string_value(json_object_get(cur, "if_running"));
    const char *on_missed =
        f.on_missed ? f.on_missed : json_string_value(json_object_get(cur, "on_missed"));
    pthread_mutex_lock(&s->api_mu);
    rc = sp_sql_run(s->api, Q_UPDATE, "lssjssill", id, cron, zone, json_is_object(ov) ? ov : NULL,
                    if_running, on_missed, paused, sp_wall_ms(), from_now ? now : (int64_t)0);
    if (rc == 0)
        rc = get_locked(s, id, out);
    pthread_mutex_unlock(&s->api_mu);
    if (rc == SP_ENOTFOUND)
        seterr(msg, msglen, rc, "no schedule with id %lld", (long long)id);
    else if (rc)
        seterr(msg, msglen, rc, "the database failed");
    else
        sp_sched_poke(s);
out:
    json_decref(cur);
    return rc;
}

int sp_sched_set_paused(sp_sched *s, int64_t id, int paused, const sp_sched_who *who, json_t **out,
                        char *msg, size_t msglen)
{
    json_t *body = json_pack("{s:b}", "paused", paused);
    sp_errlist el;
    sp_errlist_init(&el);
    int rc = sp_sched_update(s, id, body, who, out, &el, msg, msglen);
    if (rc == SP_EINVAL && el.n)
        seterr(msg, msglen, rc, "%s: %s", el.v[0].path, el.v[0].msg);
    sp_errlist_release(&el);
    json_decref(body);
    return rc;
}

int sp_sched_delete(sp_sched *s, int64_t id, const sp_sched_who *who, int64_t *test_id_out,
                    char *msg, size_t msglen)
{
    json_t *cur = NULL;
    int rc = may_change(s, id, who, &cur, msg, msglen);
    if (rc)
        return rc;
    if (test_id_out)
        *test_id_out = json_integer_value(json_object_get(cur, "test_id"));
    json_decref(cur);
    pthread_mutex_lock(&s->api_mu);
    rc = sp_sql_run(s->api, Q_DELETE, "l", id);
    int changed = rc == 0 ? sp_sql_changes(s->api) : 0;
    pthread_mutex_unlock(&s->api_mu);
    if (rc)
        return seterr(msg, msglen, rc, "the database failed");
    if (!changed)
        return seterr(msg, msglen, SP_ENOTFOUND, "no schedule with id %lld", (long long)id);
    sp_sched_poke(s);
    return 0;
}

int sp_sched_preview(const sp_sched *s, const char *cron, const char *zone, int count,
                     int64_t from_ms, json_t **out, sp_errlist *errs)
{
    *out = NULL;
    if (count < 1 || count > SP_SCHED_NEXT_SHOWN * 4)
        count = SP_SCHED_NEXT_SHOWN;
    sp_cron c;
    sp_tz *z = NULL;
    int64_t now = from_ms > 0 ? from_ms : sp_sched_now_ms(s);
    if (!cron)
        sp_errlist_add(errs, "cron", "is required: a cron expression such as \"0 2 * * 1-5\"");
    if (!cron || check_timing(cron, zone ? zone : "UTC", now, &c, &z, errs) != 0)
        return SP_EINVAL;
    *out = json_pack("{s:s, s:s, s:b, s:o}", "cron", cron, "timezone", zone ? zone : "UTC",
                     "follows_clock", sp_cron_every_hour(&c), "next_fires",
                     next_fires(&c, z, now, count));
    sp_tz_free(z);
    return 0;
}

/* ---- The scheduler thread ---- */

/* What the thread works with: its connections and a cache of zones. */
typedef struct worker {
    sp_sched *s;
    sp_sql *q;
    sp_store *store; /* for the owners' settings (sp_policy_load) */
    int64_t started; /* the scheduler's clock when the thread started: earlier fire times passed
                        while the server was down */
    struct {
        char name[SP_TZ_MAX_NAME + 1];
        sp_tz *z;
    } zones[SCHED_ZONE_CACHE];
    size_t nzones;
} worker;

/* A zone, loaded once; a zone that cannot be read (tzdata lost it) is logged once and kept as
 * NULL, so its schedules wait without filling the log every pass. */
static const sp_tz *zone_of(worker *w, const char *name)
{
    for (size_t i = 0; i < w->nzones; i++)
        if (strcmp(w->zones[i].name, name) == 0)
            return w->zones[i].z;
    sp_tz *z = NULL;
    char err[200];
    if (sp_tz_load(name, &z, err, sizeof err) != 0)
        sp_log_kv(SP_LOG_WARN, "schedule zone cannot be read: its schedules do not fire", "zone",
                  name, "error", err, NULL);
    if (w->nzones == SCHED_ZONE_CACHE) {
        for (size_t i = 0; i < w->nzones; i++)
            sp_tz_free(w->zones[i].z);
        w->nzones = 0;
    }
    snprintf(w->zones[w->nzones].name, sizeof w->zones[0].name, "%s", name);
    w->zones[w->nzones++].z = z;
    return z;
}

/* One schedule as the thread reads it (Q_ACTIVE); strings owned. */
typedef struct due {
    int64_t id, test_id, handled_to, queued_at;
    char *owner, *cron, *zone, *if_running, *on_missed;
    json_t *overrides;
} due;

static void due_release(due *d)
{
    free(d->owner);
    free(d->cron);
    free(d->zone);
    free(d->if_running);
    free(d->on_missed);
    json_decref(d->overrides);
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return sp_strdup(t ? (const char *)t : "");
}

static int read_due(sqlite3_stmt *st, void *ctx)
{
    struct {
        due *v;
        size_t n, cap;
    } *list = ctx;
    sp_grow((void **)&list->v, &list->cap, list->n + 1, sizeof *list->v);
    due *d = &list->v[list->n++];
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(st, 0);
    d->test_id = sqlite3_column_int64(st, 1);
    d->owner = col_text(st, 2);
    d->cron = col_text(st, 3);
    d->zone = col_text(st, 4);
    json_t *ov = sp_sql_col(st, 5, 'j');
    d->overrides = json_is_object(ov) ? ov : NULL;
    if (!d->overrides)
        json_decref(ov);
    d->if_running = col_text(st, 6);
    d->on_missed = col_text(st, 7);
    d->handled_to = sqlite3_column_int64(st, 8);
    d->queued_at = sqlite3_column_type(st, 9) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 9);
    return 0;
}

/* Records what became of fire time fire_at and moves handled_to past it, in one transaction
 * (with queued_at set to fire_at for the outcome "queued"). *fire_id (may be NULL) gets the
 * record's id. */
static int record(worker *w, const due *d, int64_t fire_at, const char *outcome, int64_t run_id,
                  const char *detail, int64_t *fire_id)
{
    sp_sql *q = w->q;
    int rc = sp_sql_begin(q);
    if (rc == 0 && strcmp(outcome, "queued") == 0)
        rc = sp_sql_run(q, Q_QUEUE_SET, "ll", d->id, fire_at);
    /* A run id of 0 is no run: NULL. */
    if (rc == 0 && run_id)
        rc = sp_sql_run(q, Q_FIRE_INSERT, "lllsls", d->id, fire_at, sp_wall_ms(), outcome, run_id,
                        detail);
    else if (rc == 0)
        rc = sp_sql_run(q, Q_FIRE_INSERT, "llls-s", d->id, fire_at, sp_wall_ms(), outcome, detail);
    int64_t id = rc == 0 ? sp_sql_last_id(q) : 0;
    if (rc == 0)
        rc = sp_sql_run(q, Q_HANDLED, "ll", d->id, fire_at);
    if (rc == 0)
        rc = sp_sql_run(q, Q_FIRE_PRUNE, "li", d->id, SP_SCHED_FIRES_KEPT);
    rc = sp_sql_end(q, rc);
    if (rc) {
        /* A schedule deleted meanwhile takes its records with it: nothing to keep. */
        char sid[24];
        snprintf(sid, sizeof sid, "%lld", (long long)d->id);
        sp_log_kv(SP_LOG_WARN, "schedule fire not recorded", "schedule", sid, "error",
                  sp_sql_errmsg(q), NULL);
    }
    if (fire_id)
        *fire_id = id;
    return rc;
}

static void fire_set(worker *w, int64_t fire_id, const char *outcome, int64_t run_id,
                     const char *detail)
{
    if (fire_id && run_id)
        sp_sql_run(w->q, Q_FIRE_SET, "lsls", fire_id, outcome, run_id, detail);
    else if (fire_id)
        sp_sql_run(w->q, Q_FIRE_SET, "ls-s", fire_id, outcome, detail);
}

/* "2026-03-29 01:00:00Z" for messages and the audit log. */
static void utc_text(int64_t ms, char *buf, size_t len)
{
    int64_t t = ms / 1000;
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t sod = t - days * 86400, y;
    unsigned m, d;
    sp_tz_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, (int)(sod / 3600),
             (int)(sod % 3600 / 60), (int)(sod % 60));
}

/* Starts d's run for fire_at as its owner. 0 with *run_id, or a reason in why. */
static int start_run(worker *w, const due *d, int64_t fire_at, int missed, int64_t *run_id,
                     char *why, size_t whylen)
{
    sp_sched *s = w->s;
    char role[16] = "";
    int rc = s->auth ? sp_auth_user_role(s->auth, d->owner, role, sizeof role) : 0;
    if (!s->auth)
        snprintf(role, sizeof role, "admin");
    if (rc == SP_ENOTFOUND)
        return seterr(why, whylen, rc, "the owner %s no longer exists", d->owner);
    if (rc)
        return seterr(why, whylen, rc, "the owner's role cannot be read");
    if (!(sp_auth_role_perms(role) & SP_PERM_RUN))
        return seterr(why, whylen, SP_EFORBIDDEN, "the owner %s is now a %s and may not start runs",
                      d->owner, role);
    sp_policy pol;
    rc = sp_policy_load(&pol, w->store, role);
    if (rc)
        return seterr(why, whylen, rc, "the settings cannot be read");
    sp_store_run_origin origin = {.schedule_id = d->id, .fire_at = fire_at, .missed = missed};
    sp_runs_start_args a = {.test_id = d->test_id,
                            .overrides = d->overrides,
                            .started_by = d->owner,
                            .rules = &pol.run,
                            .origin = &origin};
    sp_runs_started out;
    sp_errlist el;
    sp_errlist_init(&el);
    rc = sp_runs_start(s->runs, &a, &out, &el);
    sp_policy_release(&pol);
    *run_id = out.run_id;
    if (out.run_id) {
        /* Started, or recorded as "error" when the engine could not start: audited as a user's
         * start is, in the owner's name. */
        char obj[40], detail[700], when[32];
        utc_text(fire_at, when, sizeof when);
        snprintf(obj, sizeof obj, "runs/%lld", (long long)out.run_id);
        snprintf(detail, sizeof detail, "test %lld, target %s, schedule %lld at %s%s",
                 (long long)d->test_id, out.base_url[0] ? out.base_url : "unknown",
                 (long long)d->id, when, missed ? " (missed while the server was down)" : "");
        if (s->auth)
            sp_auth_audit(s->auth, d->owner, NULL, "run.start", obj, detail);
        rc = 0;
    } else if (el.n) {
        seterr(why, whylen, rc, "%s%s%s: %s", out.msg, el.v[0].path[0] ? ": " : "", el.v[0].path,
               el.v[0].msg);
    } else {
        seterr(why, whylen, rc, "%s", out.msg[0] ? out.msg : sp_strerror(rc));
    }
    sp_errlist_release(&el);
    return rc;
}

/* Starts (or records) one fire time of d that is due now. */
static void fire(worker *w, due *d, int64_t fire_at, int missed, const char *note)
{
    sp_sched *s = w->s;
    char detail[768];
    if (sp_runs_test_active(s->runs, d->test_id)) {
        if (strcmp(d->if_running, "queue") == 0 && !d->queued_at) {
            snprintf(detail, sizeof detail,
                     "a run of the test is still going: this one starts when it ends%s", note);
            if (record(w, d, fire_at, "queued", 0, detail, NULL) == 0)
                d->queued_at = fire_at;
            return;
        }
        snprintf(detail, sizeof detail, "%s%s",
                 d->queued_at ? "a run of the test is still going and one is already waiting"
                              : "a run of the test is still going",
                 note);
        record(w, d, fire_at, "skipped", 0, detail, NULL);
        return;
    }
    /* Recorded first, as started, so that a crash in between can never start it twice. */
    int64_t fid = 0, run_id = 0;
    if (record(w, d, fire_at, "started", 0, note[0] ? note + 2 : NULL, &fid) != 0)
        return;
    char why[512] = "";
    if (start_run(w, d, fire_at, missed, &run_id, why, sizeof why) == 0) {
        fire_set(w, fid, "started", run_id, note[0] ? note + 2 : NULL);
    } else {
        char sid[24];
        snprintf(sid, sizeof sid, "%lld", (long long)d->id);
        sp_log_kv(SP_LOG_WARN, "scheduled run not started", "schedule", sid, "owner", d->owner,
                  "reason", why, NULL);
        fire_set(w, fid, "failed", 0, why);
    }
}

/* A fire time that waited for the test's previous run: starts it once the test is idle. */
static void start_queued(worker *w, due *d)
{
    if (!d->queued_at || sp_runs_test_active(w->s->runs, d->test_id))
        return;
    int64_t fire_at = d->queued_at, fid = 0, run_id = 0;
    sp_sql_one_int(w->q, Q_FIRE_QUEUED, &fid, "ll", d->id, fire_at);
    sp_sql_run(w->q, Q_QUEUE_SET, "l-", d->id);
    d->queued_at = 0;
    char why[512] = "";
    if (start_run(w, d, fire_at, 0, &run_id, why, sizeof why) == 0)
        fire_set(w, fid, "started", run_id, "waited for the test's previous run to end");
    else
        fire_set(w, fid, "failed", 0, why);
}

/* Handles every fire time of d up to now; returns the next one after now (INT64_MAX: none). */
static int64_t handle(worker *w, due *d, int64_t now)
{
    sp_cron c;
    sp_cron_error ce;
    const sp_tz *z = zone_of(w, d->zone);
    if (!z || sp_cron_parse(d->cron, &c, &ce) != 0)
        return INT64_MAX;
    start_queued(w, d);
    /* The fire times due, counted; beyond SP_SCHED_CATCHUP_MAX (a long stop of a frequent
     * schedule) the count stops and the search jumps to the last week. */
    int64_t t = d->handled_to / 1000, next, first = 0, last = 0, count = 0;
    while (sp_cron_next(&c, z, t, &next) == 0 && next * 1000 <= now) {
        if (!count)
            first = next * 1000;
        last = next * 1000;
        t = next;
        if (++count == SP_SCHED_CATCHUP_MAX && now / 1000 - 8 * 86400 > t)
            t = now / 1000 - 8 * 86400;
    }
    if (count) {
        char when_a[32], when_b[32], note[256] = "";
        utc_text(first, when_a, sizeof when_a);
        utc_text(last, when_b, sizeof when_b);
        if (last <= w->started) {
            /* Passed while the server was down (before this scheduler started). */
            if (count > 1)
                snprintf(note, sizeof note,
                         "%s%lld fire times from %s to %s passed while the "
                         "server was down",
                         count >= SP_SCHED_CATCHUP_MAX ? "more than " : "", (long long)count,
                         when_a, when_b);
            else
                snprintf(note, sizeof note, "the fire time passed while the server was down");
            if (strcmp(d->on_missed, "run_once") == 0) {
                char n2[300];
                snprintf(n2, sizeof n2, "; %s: run once at the start", note);
                fire(w, d, last, 1, n2);
            } else {
                char n2[300];
                snprintf(n2, sizeof n2, "%s: skipped (on_missed skip)", note);
                record(w, d, last, "missed", 0, n2, NULL);
            }
        } else {
            if (count > 1)
                snprintf(note, sizeof note,
                         "; %lld earlier fire times from %s came while the "
                         "scheduler was busy and are this one",
                         (long long)count - 1, when_a);
            fire(w, d, last, 0, note);
        }
        t = last / 1000;
    }
    return sp_cron_next(&c, z, t > now / 1000 ? t : now / 1000, &next) == 0 ? next * 1000
                                                                            : INT64_MAX;
}

static void *thread_main(void *arg)
{
    sp_sched *s = arg;
    worker *w = sp_calloc(1, sizeof *w);
    w->s = s;
    w->started = sp_sched_now_ms(s);
    char err[256];
    if (open_sql(s->db_path, &w->q, err, sizeof err) != 0 ||
        sp_store_open(&w->store, s->db_path, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "the scheduler cannot open the database", "error", err, NULL);
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int stop = s->stop;
        s->poked = 0;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        int64_t now = sp_sched_now_ms(s);
        struct {
            due *v;
            size_t n, cap;
        } list = {0};
        int rc = sp_sql_each(w->q, sp_sql_query(w->q, Q_ACTIVE, ""), read_due, &list);
        int64_t wake = now + SCHED_IDLE_MS;
        for (size_t i = 0; i < list.n; i++) {
            int64_t next = rc == 0 ? handle(w, &list.v[i], now) : INT64_MAX;
            if (next < wake)
                wake = next;
            due_release(&list.v[i]);
        }
        free(list.v);
        if (rc)
            sp_log_kv(SP_LOG_ERROR, "the scheduler cannot read the schedules", "error",
                      sp_sql_errmsg(w->q), NULL);
        atomic_fetch_add(&s->passes, 1);
        /* Sleep until the next fire time on the scheduler's clock (a few ms after it, so that
         * the clock has reached it on waking), or a poke. */
        int64_t ms = wake - sp_sched_now_ms(s) + 5;
        if (ms < 1)
            ms = 1;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->poked)
            if (pthread_cond_timedwait(&s->cond, &s->mu, &ts) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&s->mu);
    }
out:
    for (size_t i = 0; i < w->nzones; i++)
        sp_tz_free(w->zones[i].z);
    sp_store_close(w->store);
    sp_sql_close(w->q);
    free(w);
    return NULL;
}

/* ---- Life cycle ---- */

int sp_sched_new(const sp_sched_config *cfg, sp_sched **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->db_path || !cfg->runs)
        return seterr(err, errlen, SP_EINVAL, "sched: no database or run manager");
    sp_sched *s = sp_calloc(1, sizeof *s);
    s->db_path = sp_strdup(cfg->db_path);
    s->runs = cfg->runs;
    s->auth = cfg->auth;
    s->offset_ms = cfg->clock_offset_ms;
    pthread_mutex_init(&s->api_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->passes, 0);
    int rc = open_sql(s->db_path, &s->api, err, errlen);
    if (rc) {
        sp_sched_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int sp_sched_start(sp_sched *s)
{
    if (pthread_create(&s->thread, NULL, thread_main, s) != 0)
        return SP_ESYS;
    s->started = 1;
    return 0;
}

void sp_sched_poke(sp_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->poked = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void sp_sched_stop(sp_sched *s)
{
    if (!s || !s->started)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = 0;
}

void sp_sched_free(sp_sched *s)
{
    if (!s)
        return;
    sp_sched_stop(s);
    sp_sql_close(s->api);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->api_mu);
    free(s->db_path);
    free(s);
}
