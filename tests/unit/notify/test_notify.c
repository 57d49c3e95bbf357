/*
 * test_notify.c - webhooks against a real store and a real HTTP receiver: bad settings are
 * refused by field and store nothing; a made secret is whsec_ and 64 hex digits and is never
 * read back; only a URL's origin is ever written to a log; a run's end becomes one delivery
 * per webhook and event, told twice or not; a receiver that answers 500 is retried until the
 * retry window is over and the log says so; the webhook allowlist refuses after DNS; a
 * delivery is resent with its body. Built under -DSP_SANITIZE=address|thread too.
 */
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine/common.h"
#include "engine/testserver.h"
#include "notify/notify.h"
#include "store/store.h"

static testserver srv;
static char tmpdir[256];
static char dbpath[320];
static int64_t run_id;

static sp_notify *new_notify(void)
{
    sp_notify_config c = {.db_path = dbpath,
                          .server_url = "http://stampede.test",
                          .backoff_ms = 50,
                          .retry_for_ms = 260};
    sp_notify *n = NULL;
    char err[256];
    if (sp_notify_new(&c, &n, err, sizeof err) != 0) {
        fprintf(stderr, "notify: %s\n", err);
        abort();
    }
    return n;
}

static json_t *body(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *body(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *b = json_loads(text, 0, NULL);
    if (!b)
        abort();
    return b;
}

static void test_settings(void)
{
    sp_notify *n = new_notify();
    static const struct {
        const char *body, *path, *msg;
    } cases[] = {
        {"{\"url\": \"gopher://x/\", \"events\": [\"run.ended\"]}", "url", "http or https"},
        {"{\"url\": \"http://x/\", \"events\": [\"run.endd\"]}", "events[0]", "did you mean"},
        {"{\"url\": \"http://x/\", \"events\": [\"run.ended\", \"run.ended\"]}", "events[1]",
         "listed twice"},
        {"{\"url\": \"http://x/\", \"events\": [\"run.ended\"], \"secret\": \"with space "
         "1234567\"}",
         "secret", "printable"},
        {"{\"url\": \"http://x/\", \"events\": [\"run.ended\"], \"rotate_secret\": true}",
         "rotate_secret", "unknown field"},
        {"{\"events\": [\"run.ended\"]}", "url", "required"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        json_t *b = body("%s", cases[i].body), *out = NULL;
        sp_errlist el;
        sp_errlist_init(&el);
        char msg[256];
        int rc = sp_notify_hook_create(n, b, "admin", &out, &el, msg, sizeof msg);
        if (rc != SP_EINVAL || !el.n || strcmp(el.v[0].path, cases[i].path) != 0 ||
            !strstr(el.v[0].msg, cases[i].msg)) {
            fprintf(stderr, "  %s: %d %s: %s\n", cases[i].body, rc, el.n ? el.v[0].path : "-",
                    el.n ? el.v[0].msg : "-");
            CHECK(0);
        }
        sp_errlist_release(&el);
        json_decref(b);
    }
    json_t *list = NULL;
    CHECK_INT_EQ(sp_notify_hook_list(n, &list), 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);

    json_t *b = body("{\"url\": \"https://hooks.slack.com/services/T0/B0/SECRETPATH\", \"events\":"
                     " [\"run.failed\"], \"format\": \"slack\"}");
    json_t *out = NULL;
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[256];
    CHECK_INT_EQ(sp_notify_hook_create(n, b, "admin", &out, &el, msg, sizeof msg), 0);
    regex_t re;
    regcomp(&re, "^whsec_[0-9a-f]{64}$", REG_EXTENDED | REG_NOSUB);
    CHECK(regexec(&re, json_string_value(json_object_get(out, "secret")), 0, NULL, 0) == 0);
    regfree(&re);
    CHECK_STR_EQ(json_string_value(json_object_get(out, "name")), "hooks.slack.com");
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    CHECK_INT_EQ(sp_notify_hook_get(n, id, &out), 0);
    CHECK(json_object_get(out, "secret") == NULL);
    json_decref(out);
    json_decref(b);
    json_t *gone = NULL;
    CHECK_INT_EQ(sp_notify_hook_delete(n, id, &gone), 0);
    json_decref(gone);
    CHECK_INT_EQ(sp_notify_hook_delete(n, id, &gone), SP_ENOTFOUND);

    char origin[200];
    sp_notify_url_origin("https://hooks.slack.com/services/T0/B0/SECRETPATH?x=1", origin,
                         sizeof origin);
    CHECK_STR_EQ(origin, "https://hooks.slack.com");
    sp_notify_url_origin("http://127.0.0.1:9000/a/b", origin, sizeof origin);
    CHECK_STR_EQ(origin, "http://127.0.0.1:9000");

    b = body("{\"entries\": [\"10.0.0.0/33\"]}");
    CHECK_INT_EQ(sp_notify_allowlist_set(n, b, &el, msg, sizeof msg), SP_EINVAL);
    CHECK_STR_EQ(el.v[0].path, "entries[0]");
    json_decref(b);
    CHECK_INT_EQ(sp_notify_allowlist_get(n, &out), 0);
    CHECK_UINT_EQ(json_array_size(json_object_get(out, "entries")), 0);
    json_decref(out);
    sp_errlist_release(&el);
    sp_notify_free(n);
}

/* The deliveries of webhook hook, newest first, once none is pending (or after ~3 s). */
static json_t *settled(sp_notify *n, int64_t hook, size_t want)
{
    json_t *out = NULL;
    for (int i = 0; i < 150; i++) {
        json_decref(out);
        out = NULL;
        sp_notify_deliveries(n, hook, 100, &out);
        json_t *items = json_object_get(out, "items");
        int pending = json_array_size(items) < want;
        size_t k;
        json_t *d;
        json_array_foreach(items, k, d) pending |=
            strcmp(json_string_value(json_object_get(d, "state")), "pending") == 0;
        if (!pending)
            break;
        usleep(20 * 1000);
    }
    return out;
}

static int64_t make_hook(sp_notify *n, const char *path, const char *events)
{
    json_t *b = body("{\"url\": \"http://127.0.0.1:%u%s\", \"events\": %s}", (unsigned)srv.port,
                     path, events);
    json_t *out = NULL;
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[256];
    int64_t id = 0;
    if (sp_notify_hook_create(n, b, "admin", &out, &el, msg, sizeof msg) == 0)
        id = json_integer_value(json_object_get(out, "id"));
    sp_errlist_release(&el);
    json_decref(out);
    json_decref(b);
    return id;
}

static void test_deliveries(void)
{
    sp_notify *n = new_notify();
    int64_t ok = make_hook(n, "/ok", "[\"run.ended\", \"run.failed\", \"run.regressed\"]");
    int64_t bad = make_hook(n, "/500", "[\"run.ended\"]");
    CHECK(ok > 0 && bad > 0);
    CHECK_INT_EQ(sp_notify_start(n), 0);
    unsigned long served = atomic_load(&srv.ok);
    /* Told twice (as around a restart): one delivery per webhook and event. */
    sp_notify_run_ended(n, run_id);
    sp_notify_run_ended(n, run_id);
    json_t *d = settled(n, ok, 3);
    json_t *items = json_object_get(d, "items");
    CHECK_UINT_EQ(json_array_size(items), 3);
    int regressed = 0;
    size_t i;
    json_t *x;
    json_array_foreach(items, i, x)
    {
        CHECK_STR_EQ(json_string_value(json_object_get(x, "state")), "delivered");
        CHECK_INT_EQ(json_integer_value(json_object_get(x, "last_status")), 200);
        CHECK_INT_EQ(json_integer_value(json_object_get(x, "run_id")), run_id);
        regressed += strcmp(json_string_value(json_object_get(x, "event")), "run.regressed") == 0;
    }
    /* The run's gate found a regression against its baseline: told once. */
    CHECK_INT_EQ(regressed, 1);
    CHECK_UINT_EQ(atomic_load(&srv.ok) - served, 3);
    json_decref(d);
    /* 500 every time: attempts at 0, 50, 150 ms; the next would start after 260 ms. */
    d = settled(n, bad, 1);
    x = json_array_get(json_object_get(d, "items"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(x, "state")), "failed");
    CHECK_INT_EQ(json_integer_value(json_object_get(x, "attempts")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(x, "last_status")), 500);
    CHECK_STR_EQ(json_string_value(json_object_get(x, "last_error")),
                 "the receiver answered HTTP 500");
    int64_t failed_id = json_integer_value(json_object_get(x, "id"));
    json_decref(d);

    /* Resent: a new delivery with the same body. */
    json_t *again = NULL, *a = NULL, *b = NULL;
    CHECK_INT_EQ(sp_notify_resend(n, failed_id, &again), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(again, "redelivery_of")), failed_id);
    CHECK_INT_EQ(sp_notify_delivery_get(n, failed_id, &a), 0);
    CHECK_INT_EQ(sp_notify_delivery_get(n, json_integer_value(json_object_get(again, "id")), &b),
                 0);
    CHECK_STR_EQ(json_string_value(json_object_get(a, "body")),
                 json_string_value(json_object_get(b, "body")));
    CHECK_STR_CONTAINS(json_string_value(json_object_get(a, "body")), "\"event\":\"run.ended\"");
    json_decref(a);
    json_decref(b);
    json_decref(again);
    CHECK_INT_EQ(sp_notify_resend(n, 999999, &again), SP_ENOTFOUND);

    /* The webhook allowlist refuses the receiver's address when connecting. */
    json_t *al = body("{\"entries\": [\"10.0.0.0/8\"]}");
    sp_errlist el;
    sp_errlist_init(&el);
    char msg[256];
    CHECK_INT_EQ(sp_notify_allowlist_set(n, al, &el, msg, sizeof msg), 0);
    json_t *ping = NULL;
    served = atomic_load(&srv.ok);
    CHECK_INT_EQ(sp_notify_ping(n, ok, &ping), 0);
    int64_t ping_id = json_integer_value(json_object_get(ping, "id"));
    json_t *p = NULL;
    for (int k = 0; k < 150; k++) {
        json_decref(p);
        sp_notify_delivery_get(n, ping_id, &p);
        if (json_integer_value(json_object_get(p, "attempts")) >= 1 &&
            json_is_string(json_object_get(p, "last_error")))
            break;
        usleep(20 * 1000);
    }
    char want[96];
    snprintf(want, sizeof want, "127.0.0.1:%u is not in the webhook allowlist", (unsigned)srv.port);
    CHECK_STR_EQ(json_string_value(json_object_get(p, "last_error")), want);
    CHECK_UINT_EQ(atomic_load(&srv.ok), served);
    json_decref(p);
    json_decref(ping);
    json_decref(al);
    sp_errlist_release(&el);
    sp_notify_free(n);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/stampede-notify-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dbpath, sizeof dbpath, "%s/stampede.db", tmpdir);
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "cannot start the test server\n");
        return 1;
    }
    sp_store *s = NULL;
    char err[256];
    int64_t test_id = 0;
    json_t *verdicts = json_loads("[{\"threshold\": \"p95 < 1ms\", \"passed\": false}]", 0, NULL);
    json_t *gate = json_loads("{\"asked\": \"pinned\", \"run_id\": 1, \"verdict\": \"regression\","
                              " \"regressions\": [{\"name\": \"GET /x\", \"figure\": \"p95\"}]}",
                              0, NULL);
    if (sp_store_open(&s, dbpath, err, sizeof err) != 0 ||
        sp_store_test_create(s, "unit", "{\"name\":\"unit\"}", "unit", &test_id, err, sizeof err) ||
        sp_store_run_create(s, test_id, 0, "unit", NULL, &run_id, NULL, err, sizeof err) ||
        sp_store_run_finish(s, run_id, SP_RUN_FAILED, verdicts, NULL, NULL) ||
        sp_store_run_baseline_set(s, run_id, gate)) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    json_decref(verdicts);
    json_decref(gate);
    sp_store_close(s);
    RUN(test_settings);
    RUN(test_deliveries);
    testserver_stop(&srv);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
