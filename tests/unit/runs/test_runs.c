/*
 * test_runs.c - the run manager against a real HTTP target and a real store: a run goes from
 * start to passed with its seconds, minute histograms and summary stored and its live totals
 * readable while it goes; stop, load changes, caps and shutdown. Built under
 * -DSP_SANITIZE=thread too: HTTP handlers, the aggregator, the waiter and the live service
 * thread all touch a run.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"
#include "check.h"
#include "engine/common.h"
#include "fullvfs.h"
#include "engine/testserver.h"
#include "live/live.h"
#include "runs/runs.h"
#include "store/store.h"

static testserver srv;
static char tmpdir[256];
static char dbpath[320];
static int64_t test_id;

static sp_runs *new_runs(unsigned max_runs, uint32_t max_vus, sp_live *live)
{
    sp_runs_config c = {.db_path = dbpath,
                        .data_dir = tmpdir,
                        .live = live,
                        .max_vus = max_vus,
                        .max_runs = max_runs,
                        .engine_threads = 2};
    sp_runs *r = NULL;
    char err[256];
    if (sp_runs_new(&c, &r, err, sizeof err) != 0)
        abort();
    return r;
}

static int64_t start(sp_runs *r, const char *overrides, int *rc_out, const char **cap)
{
    json_t *ov = overrides ? json_loads(overrides, 0, NULL) : NULL;
    sp_errlist el;
    sp_errlist_init(&el);
    sp_runs_start_args a = {.test_id = test_id, .overrides = ov, .started_by = "unit"};
    sp_runs_started out;
    int rc = sp_runs_start(r, &a, &out, &el);
    if (rc_out)
        *rc_out = rc;
    if (cap)
        *cap = out.cap;
    if (rc && !rc_out)
        fprintf(stderr, "start: %s (%s)\n", out.msg, el.n ? el.v[0].msg : "");
    sp_errlist_release(&el);
    json_decref(ov);
    return out.run_id;
}

static void wait_idle(sp_runs *r, int max_ms)
{
    for (int i = 0; i < max_ms / 20 && sp_runs_active(r); i++)
        usleep(20 * 1000);
}

static const char *status_of(sp_store *s, int64_t id, json_t **keep)
{
    json_t *run = NULL;
    if (sp_store_run_get(s, id, &run) != 0)
        return "?";
    *keep = run;
    return json_string_value(json_object_get(run, "status"));
}

/*
 * The live backlog of a running run (what a late subscriber gets first): its points are the
 * seconds 0, 1, 2, ... in order with none missing. Returns how many there are, or -1 (after
 * printing why) when they are not that.
 */
static int backlog_seconds(sp_runs *r, int64_t id)
{
    size_t len = 0;
    char *text = sp_runs_backlog(r, id, &len);
    json_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    json_t *secs = json_object_get(doc, "seconds");
    int n = json_is_array(secs) ? (int)json_array_size(secs) : -1;
    for (int i = 0; i < n; i++) {
        json_int_t sec =
            json_integer_value(json_object_get(json_array_get(secs, (size_t)i), "second"));
        if (sec != i) {
            fprintf(stderr, "    backlog point %d is second %lld\n", i, (long long)sec);
            n = -1;
        }
    }
    if (json_integer_value(json_object_get(doc, "run_id")) != id)
        n = -1;
    json_decref(doc);
    return n;
}

static void test_run_passes_with_seconds(void)
{
    sp_live_opts lo;
    sp_live_opts_init(&lo);
    lo.port = 0;
    sp_live *live = NULL;
    char err[256];
    CHECK_INT_EQ(sp_live_new(&lo, &live, err, sizeof err), 0);
    sp_runs *r = new_runs(2, 100, live);
    sp_live_set_backlog_fn(live, sp_runs_backlog, r);
    atomic_store(&srv.ok, 0);
    int64_t id = start(r, "{\"users\":3,\"duration\":\"3s\"}", NULL, NULL);
    CHECK(id > 0);
    usleep(1300 * 1000);
    json_t *l = NULL;
    CHECK_INT_EQ(sp_runs_live(r, id, &l), 0);
    CHECK(json_integer_value(json_object_get(l, "requests")) > 0);
    json_decref(l);
    /* A subscriber after second 0, and one after second 1: each gets the run from second 0. */
    CHECK(backlog_seconds(r, id) >= 1);
    usleep(1000 * 1000);
    CHECK(backlog_seconds(r, id) >= 2);
    wait_idle(r, 10000);
    CHECK_INT_EQ((int)sp_runs_active(r), 0);
    CHECK_INT_EQ(sp_runs_live(r, id, &l), SP_ENOTFOUND);

    sp_store *s = NULL;
    CHECK_INT_EQ(sp_store_open(&s, dbpath, err, sizeof err), 0);
    json_t *run = NULL;
    CHECK_STR_EQ(status_of(s, id, &run), "passed");
    json_t *summary = json_object_get(run, "summary");
    json_int_t total =
        json_integer_value(json_object_get(json_object_get(summary, "total"), "requests"));
    CHECK(total > 0);
    CHECK_UINT_EQ((uint64_t)total, (uint64_t)atomic_load(&srv.ok));
    json_t *series = NULL;
    CHECK_INT_EQ(sp_store_run_series(s, id, -1, 0, -1, &series), 0);
    json_t *n0 = json_array_get(json_object_get(series, "names"), 0);
    json_int_t sum = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(n0, "count"), i, v) sum += json_integer_value(v);
    CHECK_INT_EQ((long long)sum, (long long)total);
    size_t nb = sp_hist_buckets();
    uint64_t *b = calloc(nb, sizeof *b);
    uint64_t in_hist = 0;
    CHECK_INT_EQ(sp_store_window_hist(s, id, -1, 0, 1, b, nb, &in_hist), 0);
    CHECK_UINT_EQ(in_hist, (uint64_t)total);
    free(b);
    json_decref(series);
    json_decref(run);
    sp_store_close(s);
    sp_runs_free(r);
    sp_live_free(live);
}

static void test_stop_and_caps(void)
{
    sp_runs *r = new_runs(1, 10, NULL);
    int rc;
    const char *cap = NULL;
    start(r, "{\"users\":11,\"duration\":\"2s\"}", &rc, &cap);
    CHECK_INT_EQ(rc, SP_ELIMIT);
    CHECK_STR_EQ(cap ? cap : "", "max_vus");
    start(r, "{\"users\":1,\"bogus\":1}", &rc, &cap);
    CHECK_INT_EQ(rc, SP_EINVAL);

    /* Exactly the cap is within it. */
    int64_t id = start(r, "{\"users\":10,\"duration\":\"30s\"}", NULL, NULL);
    CHECK(id > 0);
    start(r, "{\"users\":2,\"duration\":\"30s\"}", &rc, &cap);
    CHECK_INT_EQ(rc, SP_ELIMIT);
    CHECK_STR_EQ(cap ? cap : "", "max_runs");
    char msg[256];
    CHECK_INT_EQ(sp_runs_set_target(r, id, 20, 0, "ann", &cap, msg, sizeof msg), SP_ELIMIT);
    CHECK_INT_EQ(sp_runs_set_target(r, id, 11, 0, "ann", &cap, msg, sizeof msg), SP_ELIMIT);
    CHECK_INT_EQ(sp_runs_set_target(r, id, 10, 0, "ann", &cap, msg, sizeof msg), 0);
    CHECK_INT_EQ(sp_runs_set_target(r, id, 4, 0, "ann", &cap, msg, sizeof msg), 0);
    /* The changes are in the live totals at once, for the charts to mark them. */
    json_t *lv = NULL;
    CHECK_INT_EQ(sp_runs_live(r, id, &lv), 0);
    json_t *lc = json_array_get(json_object_get(lv, "load_changes"), 1);
    CHECK_UINT_EQ(json_array_size(json_object_get(lv, "load_changes")), 2);
    CHECK_STR_EQ(json_string_value(json_object_get(lc, "by")), "ann");
    CHECK_NEAR(json_number_value(json_object_get(lc, "target")), 4.0, 0);
    json_decref(lv);
    usleep(300 * 1000);
    uint64_t t0 = sp_now_us();
    CHECK_INT_EQ(sp_runs_stop(r, id, 0), 0);
    wait_idle(r, 5000);
    CHECK((sp_now_us() - t0) / 1000 < 2000);
    CHECK_INT_EQ(sp_runs_stop(r, id, 0), SP_ENOTFOUND);
    sp_store *s = NULL;
    char err[256];
    CHECK_INT_EQ(sp_store_open(&s, dbpath, err, sizeof err), 0);
    json_t *run = NULL;
    CHECK_STR_EQ(status_of(s, id, &run), "stopped");
    /* Stored when it was made, and in the summary: the report marks it. */
    json_t *stored = json_array_get(json_object_get(run, "load_changes"), 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(run, "load_changes")), 2);
    CHECK_STR_EQ(json_string_value(json_object_get(stored, "by")), "ann");
    CHECK(json_is_integer(json_object_get(stored, "elapsed_ms")));
    CHECK(json_integer_value(json_object_get(stored, "at")) > 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(json_object_get(run, "summary"), "load_changes")),
                  2);
    json_decref(run);

    /* Shutdown stops a running run gracefully and records it as stopped. */
    id = start(r, "{\"users\":2,\"duration\":\"30s\"}", NULL, NULL);
    CHECK(id > 0);
    usleep(200 * 1000);
    sp_runs_shutdown(r);
    run = NULL;
    CHECK_STR_EQ(status_of(s, id, &run), "stopped");
    json_decref(run);
    start(r, "{\"users\":1,\"duration\":\"1s\"}", &rc, &cap);
    CHECK_INT_EQ(rc, SP_ESTATE);
    sp_store_close(s);
    sp_runs_free(r);
}

/* The live totals' member of an active run, or -1. */
static long long live_num(sp_runs *r, int64_t id, const char *key)
{
    json_t *l = NULL;
    if (sp_runs_live(r, id, &l) != 0)
        return -1;
    json_t *v = json_object_get(l, key);
    long long n = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
    json_decref(l);
    return n;
}

/* The disk fills while a run goes: the seconds it meets are counted, not waited for; a start
 * cannot record its run (SP_EFULL); the run's end waits for space, and once space is back the
 * run ends incomplete with the lost seconds named, although every threshold held. */
static void test_full_disk_ends_incomplete(void)
{
    sp_runs *r = new_runs(2, 100, NULL);
    int64_t id = start(r, "{\"users\":2,\"duration\":\"3s\"}", NULL, NULL);
    CHECK(id > 0);
    usleep(1200 * 1000);
    fullvfs_set(1);
    usleep(1500 * 1000);
    long long lost = live_num(r, id, "lost_seconds");
    CHECK(lost >= 1);
    int rc;
    CHECK_INT_EQ(start(r, "{\"users\":1,\"duration\":\"1s\"}", &rc, NULL), 0);
    CHECK_INT_EQ(rc, SP_EFULL);
    /* Past its planned end: the run waits for the disk to store its end. */
    for (int i = 0; i < 100 && live_num(r, id, "ending") != 1; i++)
        usleep(50 * 1000);
    CHECK_INT_EQ(live_num(r, id, "ending"), 1);
    CHECK_INT_EQ((int)sp_runs_active(r), 1);
    fullvfs_set(0);
    wait_idle(r, 10000);
    CHECK_INT_EQ((int)sp_runs_active(r), 0);

    sp_store *s = NULL;
    char err[256];
    CHECK_INT_EQ(sp_store_open(&s, dbpath, err, sizeof err), 0);
    json_t *run = NULL;
    CHECK_STR_EQ(status_of(s, id, &run), "incomplete");
    const char *why = json_string_value(json_object_get(run, "error"));
    CHECK_STR_CONTAINS(why, "the disk was full");
    CHECK_STR_CONTAINS(why, "seconds were not stored (second");
    json_t *lj = json_object_get(json_object_get(run, "summary"), "lost");
    CHECK_STR_EQ(json_string_value(json_object_get(lj, "cause")), "disk_full");
    json_int_t nlost = json_integer_value(json_object_get(lj, "seconds"));
    json_int_t of = json_integer_value(json_object_get(lj, "of"));
    CHECK(nlost >= lost && nlost < of);
    /* The thresholds held (error_rate < 1%): incomplete all the same, never passed. */
    CHECK(json_is_true(
        json_object_get(json_array_get(json_object_get(run, "verdicts"), 0), "passed")));
    /* What was stored and what was lost add up to what the engine reported. */
    json_t *series = NULL;
    CHECK_INT_EQ(sp_store_run_series(s, id, -1, 0, -1, &series), 0);
    size_t stored = json_array_size(json_object_get(json_object_get(series, "ticks"), "second"));
    CHECK_INT_EQ((long long)stored + nlost, of);
    json_decref(series);
    json_decref(run);

    /* The next run, with space, passes as ever: nothing sticks to the connection or the pool. */
    int64_t next = start(r, "{\"users\":1,\"duration\":\"1s\"}", NULL, NULL);
    CHECK(next > 0);
    wait_idle(r, 10000);
    CHECK_STR_EQ(status_of(s, next, &run), "passed");
    json_decref(run);

    /* A shutdown does not wait for the disk: the run whose end cannot be stored is left
     * running in the store, for the next start to mark aborted. */
    id = start(r, "{\"users\":1,\"duration\":\"1s\"}", NULL, NULL);
    CHECK(id > 0);
    usleep(300 * 1000);
    fullvfs_set(1);
    for (int i = 0; i < 100 && live_num(r, id, "ending") != 1; i++)
        usleep(50 * 1000);
    CHECK_INT_EQ(live_num(r, id, "ending"), 1);
    uint64_t t0 = sp_now_us();
    sp_runs_free(r);
    CHECK((sp_now_us() - t0) / 1000 < 3000);
    fullvfs_set(0);
    CHECK_STR_EQ(status_of(s, id, &run), "running");
    json_decref(run);
    sp_store_close(s);
}

/* A start with explicit args: what it resolved comes back in out. */
static int start_with(sp_runs *r, int64_t tid, int revision, const char *overrides,
                      const sp_policy_rules *rules, sp_runs_started *out, sp_errlist *el)
{
    json_t *ov = overrides ? json_loads(overrides, 0, NULL) : NULL;
    sp_runs_start_args a = {.test_id = tid,
                            .revision = revision,
                            .overrides = ov,
                            .started_by = "unit",
                            .rules = rules};
    int rc = sp_runs_start(r, &a, out, el);
    json_decref(ov);
    return rc;
}

static void test_start_resolves(void)
{
    sp_runs *r = new_runs(4, 100, NULL);
    sp_errlist el;
    sp_errlist_init(&el);
    sp_runs_started out;
    char want[128];

    /* The target as the definition writes it, and the newest revision. */
    CHECK_INT_EQ(start_with(r, test_id, 0, "{\"users\":1,\"duration\":\"1s\"}", NULL, &out, &el),
                 0);
    CHECK(out.run_id > 0);
    CHECK_INT_EQ(out.revision, 1);
    snprintf(want, sizeof want, "http://127.0.0.1:%u", (unsigned)srv.port);
    CHECK_STR_EQ(out.base_url, want);
    CHECK(out.cap == NULL);

    /* An override wins, kept as written (the loader drops the trailing '/'). */
    char ov[256];
    snprintf(ov, sizeof ov,
             "{\"users\":1,\"duration\":\"1s\",\"base_url\":\"http://localhost:%u/\"}",
             (unsigned)srv.port);
    CHECK_INT_EQ(start_with(r, test_id, 1, ov, NULL, &out, &el), 0);
    snprintf(want, sizeof want, "http://localhost:%u/", (unsigned)srv.port);
    CHECK_STR_EQ(out.base_url, want);
    wait_idle(r, 10000);

    /* No such revision, no such test: nothing stored, the message says which. */
    CHECK_INT_EQ(start_with(r, test_id, 9, NULL, NULL, &out, &el), SP_ENOTFOUND);
    CHECK(out.run_id == 0);
    CHECK_STR_CONTAINS(out.msg, "has no revision 9");
    CHECK_INT_EQ(start_with(r, test_id + 1000, 0, NULL, NULL, &out, &el), SP_ENOTFOUND);
    CHECK_STR_CONTAINS(out.msg, "no test with id");

    /* The rules: the role's caps, then the allowlist (its refusal names the URL's field). */
    sp_policy_rules rules = {.role = "tester", .max_vus = 1};
    CHECK_INT_EQ(start_with(r, test_id, 0, "{\"users\":2,\"duration\":\"1s\"}", &rules, &out, &el),
                 SP_ELIMIT);
    CHECK_STR_EQ(out.cap ? out.cap : "", "max_vus");
    CHECK_STR_EQ(out.msg, "users 2 exceeds the tester cap max_vus=1");
    const char *allow[] = {"10.0.0.0/8"};
    sp_policy_rules fenced = {.role = "tester", .allow = allow, .nallow = 1};
    CHECK_INT_EQ(start_with(r, test_id, 0, "{\"users\":1,\"duration\":\"1s\"}", &fenced, &out, &el),
                 SP_EINVAL);
    CHECK(el.n == 1);
    CHECK_STR_EQ(el.v[0].path, "base_url");
    CHECK_STR_EQ(out.msg, "a target is not in the target allowlist");
    CHECK_INT_EQ((int)sp_runs_active(r), 0);
    sp_errlist_release(&el);
    sp_runs_free(r);
}

/* What the end callback saw (on the waiter thread; read after the run has left). */
static struct {
    pthread_mutex_t mu;
    int calls;
    int64_t run_id, test_id;
    char status[16];
    int active_then; /* sp_runs_active() from inside the callback */
    sp_runs *r;
} ended = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_end(void *ud, const sp_runs_end *e)
{
    SP_UNUSED(ud);
    pthread_mutex_lock(&ended.mu);
    ended.calls++;
    ended.run_id = e->run_id;
    ended.test_id = e->test_id;
    snprintf(ended.status, sizeof ended.status, "%s", e->status);
    ended.active_then = sp_runs_test_active(ended.r, e->test_id);
    pthread_mutex_unlock(&ended.mu);
}

/* The end callback is called once per run, after the run has left the manager (a start made
 * from it would find the slot free), and a scheduled start is recorded with its origin; a
 * check validates without storing anything. */
static void test_end_callback_and_origin(void)
{
    sp_runs_config c = {.db_path = dbpath,
                        .data_dir = tmpdir,
                        .max_runs = 1,
                        .engine_threads = 1,
                        .on_end = on_end,
                        .on_end_ud = NULL};
    sp_runs *r = NULL;
    char err[256];
    CHECK_INT_EQ(sp_runs_new(&c, &r, err, sizeof err), 0);
    ended.r = r;
    json_t *ov = json_loads("{\"users\":1,\"duration\":\"1s\"}", 0, NULL);
    sp_errlist el;
    sp_errlist_init(&el);
    sp_store_run_origin origin = {.schedule_id = 42, .fire_at = 1774746000000LL, .missed = 0};
    sp_runs_start_args a = {
        .test_id = test_id, .overrides = ov, .started_by = "owner", .origin = &origin};
    sp_runs_started out;
    CHECK_INT_EQ(sp_runs_check(r, &a, &out, &el), 0);
    CHECK_INT_EQ((int)out.run_id, 0);
    CHECK_INT_EQ(sp_runs_start(r, &a, &out, &el), 0);
    CHECK(sp_runs_test_active(r, test_id));
    CHECK(!sp_runs_test_active(r, test_id + 1000));
    wait_idle(r, 10000);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&ended.mu);
        int n = ended.calls;
        pthread_mutex_unlock(&ended.mu);
        if (n)
            break;
        usleep(20 * 1000);
    }
    pthread_mutex_lock(&ended.mu);
    CHECK_INT_EQ(ended.calls, 1);
    CHECK_INT_EQ(ended.run_id, out.run_id);
    CHECK_INT_EQ(ended.test_id, test_id);
    CHECK_STR_EQ(ended.status, "passed");
    CHECK_INT_EQ(ended.active_then, 0);
    pthread_mutex_unlock(&ended.mu);
    sp_store *s = NULL;
    json_t *run = NULL;
    CHECK_INT_EQ(sp_store_open(&s, dbpath, err, sizeof err), 0);
    CHECK_INT_EQ(sp_store_run_get(s, out.run_id, &run), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(run, "origin")), "scheduled");
    CHECK_INT_EQ(json_integer_value(json_object_get(run, "schedule_id")), 42);
    CHECK_STR_EQ(json_string_value(json_object_get(run, "started_by")), "owner");
    json_decref(run);
    sp_store_close(s);
    /* A check of an invalid override says why and stores nothing. */
    json_t *bad = json_loads("{\"userz\":1}", 0, NULL);
    a.overrides = bad;
    sp_errlist_release(&el);
    sp_errlist_init(&el);
    CHECK_INT_EQ(sp_runs_check(r, &a, &out, &el), SP_EINVAL);
    CHECK(el.n == 1 && strcmp(el.v[0].path, "overrides.userz") == 0);
    json_decref(bad);
    json_decref(ov);
    sp_errlist_release(&el);
    sp_runs_free(r);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/stampede-runs-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dbpath, sizeof dbpath, "%s/stampede.db", tmpdir);
    /* Before any connection: every store opened from here on can be made to meet a full disk. */
    if (fullvfs_install() != SQLITE_OK) {
        fprintf(stderr, "cannot install the full-disk VFS\n");
        return 1;
    }
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "cannot start the test server\n");
        return 1;
    }
    char def[512];
    snprintf(def, sizeof def,
             "{\"name\":\"unit\",\"base_url\":\"http://127.0.0.1:%u\","
             "\"users\":[{\"name\":\"u\",\"think\":{\"constant\":\"20ms\"},"
             "\"tasks\":[{\"request\":{\"url\":\"/ok\",\"name\":\"ok\"}}]}],"
             "\"load\":{\"users\":2,\"duration\":\"2s\"},\"thresholds\":[\"error_rate < 1%%\"]}",
             (unsigned)srv.port);
    sp_store *s = NULL;
    char err[256];
    if (sp_store_open(&s, dbpath, err, sizeof err) != 0 ||
        sp_store_test_create(s, "unit", def, "unit", &test_id, err, sizeof err) != 0) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    sp_store_close(s);
    RUN(test_run_passes_with_seconds);
    RUN(test_start_resolves);
    RUN(test_stop_and_caps);
    RUN(test_full_disk_ends_incomplete);
    RUN(test_end_callback_and_origin);
    testserver_stop(&srv);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
