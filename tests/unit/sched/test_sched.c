/*
 * test_sched.c - the scheduler against a real store, run manager and HTTP target: what a save
 * refuses (the field and the reason) and stores nothing of; who may change a schedule (the
 * refusal names the owner, read before the row it lives in is freed); a fire time reached on
 * the moved clock starts one run as the owner, recorded once, and the thread's later passes
 * neither start it again nor lose it; pausing and resuming never make up the time paused; the
 * preview from a given instant. Built under -DSP_SANITIZE=address|thread too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"
#include "check.h"
#include "engine/common.h"
#include "engine/testserver.h"
#include "runs/runs.h"
#include "sched/sched.h"
#include "store/store.h"

static testserver srv;
static char tmpdir[256];
static char dbpath[320];
static int64_t test_id;

static sp_runs *new_runs(void)
{
    sp_runs_config c = {.db_path = dbpath, .data_dir = tmpdir, .max_runs = 2, .engine_threads = 1};
    sp_runs *r = NULL;
    char err[256];
    if (sp_runs_new(&c, &r, err, sizeof err) != 0)
        abort();
    return r;
}

static sp_sched *new_sched(sp_runs *r, int64_t offset_ms)
{
    sp_sched_config c = {.db_path = dbpath, .runs = r, .auth = NULL, .clock_offset_ms = offset_ms};
    sp_sched *s = NULL;
    char err[256];
    if (sp_sched_new(&c, &s, err, sizeof err) != 0) {
        fprintf(stderr, "sched: %s\n", err);
        abort();
    }
    return s;
}

static json_t *body(const char *text)
{
    json_t *b = json_loads(text, 0, NULL);
    if (!b)
        abort();
    return b;
}

static const sp_sched_who alice = {.user = "alice", .role = "tester", .admin = 0};
static const sp_sched_who bob = {.user = "bob", .role = "tester", .admin = 0};
static const sp_sched_who root = {.user = "root", .role = "admin", .admin = 1};

static void test_refusals_store_nothing(void)
{
    sp_runs *r = new_runs();
    sp_sched *s = new_sched(r, 0);
    static const struct {
        const char *body, *path, *msg;
    } cases[] = {
        {"{\"cron\": \"0 24 * * *\"}", "cron", "hour: '24' is out of range 0-23"},
        {"{\"cron\": \"0 2 * * *\", \"timezone\": \"Nowhere/Land\"}", "timezone",
         "unknown time zone"},
        {"{\"cron\": \"0 0 31 2 *\"}", "cron", "never fires"},
        {"{\"cron\": \"0 2 * * *\", \"overrides\": {\"users\": 0}}", "overrides.users",
         "whole number"},
        {"{\"cron\": \"0 2 * * *\", \"if_running\": true}", "if_running", "skip"},
        {"{\"crn\": \"0 2 * * *\"}", "crn", "did you mean 'cron'"},
        {"[]", "", "expected an object"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        json_t *b = body(cases[i].body);
        json_t *out = NULL;
        sp_errlist el;
        sp_errlist_init(&el);
        char msg[256];
        int rc = sp_sched_create(s, test_id, b, &alice, &out, &el, msg, sizeof msg);
        if (rc != SP_EINVAL || !el.n || strcmp(el.v[0].path, cases[i].path) != 0 ||
            !strstr(el.v[0].msg, cases[i].msg)) {
            fprintf(stderr, "  %s: rc %d, %s: %s\n", cases[i].body, rc, el.n ? el.v[0].path : "-",
                    el.n ? el.v[0].msg : "-");
            CHECK(0);
        }
        CHECK(out == NULL);
        sp_errlist_release(&el);
        json_decref(b);
    }
    json_t *list = NULL;
    CHECK_INT_EQ(sp_sched_list(s, test_id, &list), 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
    CHECK_INT_EQ(sp_sched_list(s, test_id + 100, &list), SP_ENOTFOUND);
    sp_sched_free(s);
    sp_runs_free(r);
}

static void test_owner_and_admin(void)
{
    sp_runs *r = new_runs();
    sp_sched *s = new_sched(r, 0);
    json_t *b = body("{\"cron\": \"0 2 * * 1-5\", \"timezone\": \"Europe/Berlin\"}");
    json_t *out = NULL;
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[256];
    CHECK_INT_EQ(sp_sched_create(s, test_id, b, &alice, &out, &el, msg, sizeof msg), 0);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    CHECK_STR_EQ(json_string_value(json_object_get(out, "owner")), "alice");
    CHECK_UINT_EQ(json_array_size(json_object_get(out, "next_fires")), SP_SCHED_NEXT_SHOWN);
    json_decref(out);
    json_decref(b);

    b = body("{\"cron\": \"5 * * * *\"}");
    CHECK_INT_EQ(sp_sched_update(s, id, b, &bob, &out, &el, msg, sizeof msg), SP_EFORBIDDEN);
    CHECK_STR_EQ(msg, "schedule 1 belongs to alice: only its owner or an admin may change it");
    CHECK_INT_EQ(sp_sched_set_paused(s, id, 1, &bob, &out, msg, sizeof msg), SP_EFORBIDDEN);
    CHECK_INT_EQ(sp_sched_delete(s, id, &bob, NULL, msg, sizeof msg), SP_EFORBIDDEN);
    CHECK_INT_EQ(sp_sched_update(s, id, b, &root, &out, &el, msg, sizeof msg), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(out, "cron")), "5 * * * *");
    CHECK_STR_EQ(json_string_value(json_object_get(out, "owner")), "alice");
    CHECK(json_is_true(json_object_get(out, "follows_clock")));
    json_decref(out);
    json_decref(b);
    int64_t tid = 0;
    CHECK_INT_EQ(sp_sched_delete(s, id, &alice, &tid, msg, sizeof msg), 0);
    CHECK_INT_EQ(tid, test_id);
    CHECK_INT_EQ(sp_sched_get(s, id, &out), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_sched_delete(s, id, &alice, NULL, msg, sizeof msg), SP_ENOTFOUND);
    sp_errlist_release(&el);
    sp_sched_free(s);
    sp_runs_free(r);
}

static void test_preview_from(void)
{
    sp_runs *r = new_runs();
    sp_sched *s = new_sched(r, 0);
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *out = NULL;
    /* From 2026-03-28 12:00 UTC: Berlin's 02:30 of the 29th does not exist. */
    CHECK_INT_EQ(sp_sched_preview(s, "30 2 * * *", "Europe/Berlin", 2, 1774699200000LL, &out, &el),
                 0);
    json_t *f = json_object_get(out, "next_fires");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(f, 0), "local")),
                 "2026-03-29T03:00:00+02:00");
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(f, 1), "local")),
                 "2026-03-30T02:30:00+02:00");
    json_decref(out);
    CHECK_INT_EQ(sp_sched_preview(s, NULL, NULL, 5, 0, &out, &el), SP_EINVAL);
    CHECK_STR_EQ(el.v[0].path, "cron");
    sp_errlist_release(&el);
    sp_sched_free(s);
    sp_runs_free(r);
}

/* The fire records of schedule id, newest first. */
static json_t *fires(sp_sched *s, int64_t id)
{
    json_t *o = NULL;
    if (sp_sched_get(s, id, &o) != 0)
        return json_array();
    json_t *f = json_incref(json_object_get(o, "last_fires"));
    json_decref(o);
    return f;
}

static void wait_passes(sp_sched *s, uint64_t n)
{
    uint64_t start = sp_sched_passes(s);
    for (int i = 0; i < 200 && sp_sched_passes(s) < start + n; i++) {
        sp_sched_poke(s);
        usleep(10 * 1000);
    }
}

static void test_fires_once_as_owner(void)
{
    sp_runs *r = new_runs();
    /* The scheduler's clock 1.5 s before a whole minute. */
    int64_t now = sp_wall_ms();
    int64_t minute = (now / 60000 + 1) * 60000;
    int64_t offset = minute - 1500 - now;
    sp_sched *s = new_sched(r, offset);
    CHECK_INT_EQ(sp_sched_start(s), 0);
    json_t *b = body("{\"cron\": \"* * * * *\", \"overrides\": {\"users\": 1, \"duration\": "
                     "\"1s\"}}");
    json_t *paused_b = body("{\"cron\": \"* * * * *\", \"paused\": true}");
    json_t *out = NULL;
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[256];
    CHECK_INT_EQ(sp_sched_create(s, test_id, b, &alice, &out, &el, msg, sizeof msg), 0);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_t *next = json_array_get(json_object_get(out, "next_fires"), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(next, "at")), minute);
    json_decref(out);
    CHECK_INT_EQ(sp_sched_create(s, test_id, paused_b, &alice, &out, &el, msg, sizeof msg), 0);
    int64_t paused = json_integer_value(json_object_get(out, "id"));
    json_decref(out);

    /* Past the minute, and a few passes more. */
    usleep(2500 * 1000);
    wait_passes(s, 3);
    json_t *f = fires(s, id);
    CHECK_UINT_EQ(json_array_size(f), 1);
    json_t *rec = json_array_get(f, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(rec, "outcome")), "started");
    CHECK_INT_EQ(json_integer_value(json_object_get(rec, "fire_at")), minute);
    int64_t run_id = json_integer_value(json_object_get(rec, "run_id"));
    CHECK(run_id > 0);
    /* Handled within 2 s of the minute, on the scheduler's clock. */
    CHECK(json_integer_value(json_object_get(rec, "at")) + offset - minute <= 2000);
    json_decref(f);
    f = fires(s, paused);
    CHECK_UINT_EQ(json_array_size(f), 0);
    json_decref(f);

    sp_store *st = NULL;
    char err[256];
    CHECK_INT_EQ(sp_store_open(&st, dbpath, err, sizeof err), 0);
    json_t *run = NULL;
    CHECK_INT_EQ(sp_store_run_get(st, run_id, &run), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(run, "started_by")), "alice");
    CHECK_STR_EQ(json_string_value(json_object_get(run, "origin")), "scheduled");
    CHECK_INT_EQ(json_integer_value(json_object_get(run, "schedule_id")), id);
    json_decref(run);
    sp_store_close(st);

    /* Resuming the paused one: the minute it slept through is not made up. */
    CHECK_INT_EQ(sp_sched_set_paused(s, paused, 0, &alice, &out, msg, sizeof msg), 0);
    CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(out, "next_fires"), 0),
                                             "at")) > minute);
    json_decref(out);
    wait_passes(s, 2);
    f = fires(s, paused);
    CHECK_UINT_EQ(json_array_size(f), 0);
    json_decref(f);

    for (int i = 0; i < 300 && sp_runs_active(r); i++)
        usleep(20 * 1000);
    sp_errlist_release(&el);
    json_decref(b);
    json_decref(paused_b);
    sp_sched_free(s);
    sp_runs_free(r);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/stampede-sched-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dbpath, sizeof dbpath, "%s/stampede.db", tmpdir);
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "cannot start the test server\n");
        return 1;
    }
    char def[512];
    snprintf(def, sizeof def,
             "{\"name\":\"unit\",\"base_url\":\"http://127.0.0.1:%u\","
             "\"users\":[{\"name\":\"u\",\"think\":{\"constant\":\"50ms\"},"
             "\"tasks\":[{\"request\":{\"url\":\"/ok\",\"name\":\"ok\"}}]}],"
             "\"load\":{\"users\":1,\"duration\":\"1s\"}}",
             (unsigned)srv.port);
    sp_store *s = NULL;
    char err[256];
    if (sp_store_open(&s, dbpath, err, sizeof err) != 0 ||
        sp_store_test_create(s, "unit", def, "unit", &test_id, err, sizeof err) != 0) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    sp_store_close(s);
    RUN(test_refusals_store_nothing);
    RUN(test_owner_and_admin);
    RUN(test_preview_from);
    RUN(test_fires_once_as_owner);
    testserver_stop(&srv);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
