/*
 * test_payload.c - what a webhook receives: the signature against RFC 4231's HMAC-SHA256
 * vectors (a receiver's own HMAC library must agree), Stampede's body with exactly the
 * documented fields and nothing else of the run (no overrides, no failure messages, no secret),
 * the Slack body with &, < and > escaped so that a test's name cannot mention @channel or forge
 * a link, and the event names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "notify/payload.h"

static void test_signature_vectors(void)
{
    char sig[SP_PAYLOAD_SIG_LEN];
    /* RFC 4231 test case 2: key "Jefe". */
    const char *data = "what do ya want for nothing?";
    sp_payload_sign("Jefe", 4, data, strlen(data), sig);
    CHECK_STR_EQ(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 6: a key longer than the block (131 bytes of 0xaa) is hashed first. */
    char key[131];
    memset(key, 0xaa, sizeof key);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    sp_payload_sign(key, sizeof key, d6, strlen(d6), sig);
    CHECK_STR_EQ(sig, "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static json_t *sample_run(const char *test_name, const char *status)
{
    json_t *run = json_loads(
        "{\"id\": 12, \"test_id\": 3, \"revision\": 2, \"started_by\": \"alice\","
        " \"created_at\": 1774746000000, \"started_at\": 1774746000100,"
        " \"ended_at\": 1774746060100, \"origin\": \"scheduled\", \"schedule_id\": 4,"
        " \"fire_at\": 1774746000000, \"fire_missed\": false, \"error\": null,"
        " \"overrides\": {\"base_url\": \"http://user:hunter2-override@10.0.0.1\"},"
        " \"verdicts\": [{\"threshold\": \"p95 < 300ms\", \"passed\": false, \"measured\": 312.5,"
        "                 \"metric\": \"p95\", \"name\": null}],"
        " \"summary\": {\"duration_s\": 60.0, \"total\": {\"requests\": 1234, \"failures\": 6,"
        "   \"rps\": 20.5, \"error_rate\": 0.005, \"latency_ms\": {\"p50\": 80.1, \"p95\": 312.5,"
        "   \"p99\": 400.0, \"max\": 512.0},"
        "   \"failure_messages\": [{\"message\": \"token tok_SECRET_in_a_body\", \"count\": 6}]},"
        "   \"names\": []},"
        " \"names\": [\"GET /products\"], \"last_second\": 59}",
        0, NULL);
    json_object_set_new(run, "test_name", json_string(test_name));
    json_object_set_new(run, "status", json_string(status));
    return run;
}

static void test_stampede_body(void)
{
    json_t *run = sample_run("Shop checkout", "failed");
    size_t len = 0;
    char *body = sp_payload_run("run.failed", run, "stampede", "https://stampede.example.com",
                                1774746061000LL, &len);
    CHECK(body != NULL);
    CHECK_UINT_EQ(len, strlen(body));
    json_t *doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    CHECK(doc != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "event")), "run.failed");
    CHECK_INT_EQ(json_integer_value(json_object_get(doc, "created_at")), 1774746061000LL);
    json_t *r = json_object_get(doc, "run");
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "id")), 12);
    CHECK_STR_EQ(json_string_value(json_object_get(r, "test_name")), "Shop checkout");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "status")), "failed");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "origin")), "scheduled");
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "schedule_id")), 4);
    CHECK_NEAR(json_number_value(json_object_get(r, "duration_s")), 60.0, 1e-9);
    /* Exactly the documented keys, at every level. */
    CHECK_UINT_EQ(json_object_size(doc), 7);
    CHECK_UINT_EQ(json_object_size(r), 13);
    json_t *f = json_object_get(doc, "figures");
    CHECK_UINT_EQ(json_object_size(f), 8);
    CHECK_INT_EQ(json_integer_value(json_object_get(f, "requests")), 1234);
    CHECK_NEAR(json_number_value(json_object_get(f, "p95_ms")), 312.5, 1e-9);
    json_t *v = json_array_get(json_object_get(doc, "verdicts"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(v, "threshold")), "p95 < 300ms");
    CHECK(json_is_false(json_object_get(v, "passed")));
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(doc, "links"), "report")),
                 "https://stampede.example.com/api/v1/runs/12/export.html");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(doc, "links"), "run")),
                 "https://stampede.example.com/#/runs/12");
    /* Nothing else of the run: not its overrides, not what a target answered. */
    CHECK(strstr(body, "hunter2") == NULL);
    CHECK(strstr(body, "tok_SECRET") == NULL);
    CHECK(strstr(body, "overrides") == NULL);
    json_decref(doc);
    free(body);
    /* A run without a summary yet (an error at start) has null figures. */
    json_object_del(run, "summary");
    body = sp_payload_run("run.ended", run, "stampede", "", 1, &len);
    doc = json_loads(body, 0, NULL);
    CHECK(json_is_null(json_object_get(doc, "figures")));
    CHECK(json_is_null(json_object_get(json_object_get(doc, "run"), "duration_s")));
    json_decref(doc);
    free(body);
    json_decref(run);
}

static void test_slack_body(void)
{
    json_t *run = sample_run("<!channel> & <http://evil|click>", "failed");
    size_t len = 0;
    char *body = sp_payload_run("run.failed", run, "slack", "http://127.0.0.1:8484", 1, &len);
    CHECK(body != NULL);
    json_t *doc = json_loads(body, 0, NULL);
    const char *text = json_string_value(json_object_get(doc, "text"));
    CHECK(text != NULL);
    CHECK_STR_CONTAINS(text, "<http://127.0.0.1:8484/#/runs/12|Run #12> of *");
    CHECK_STR_CONTAINS(text, "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;");
    CHECK_STR_CONTAINS(text, "failed its thresholds (scheduled)");
    CHECK_STR_CONTAINS(text, "1234 requests");
    CHECK_STR_CONTAINS(text, "Thresholds: 0 of 1 held");
    CHECK(strstr(text, "<!channel>") == NULL);
    /* Every '<' is one of ours: a link to this server. */
    for (const char *p = strchr(text, '<'); p; p = strchr(p + 1, '<'))
        CHECK(strncmp(p, "<http://127.0.0.1:8484/", 23) == 0);
    json_t *blocks = json_object_get(doc, "blocks");
    CHECK_UINT_EQ(json_array_size(blocks), 2);
    CHECK(strstr(body, "hunter2") == NULL);
    json_decref(doc);
    free(body);
    json_decref(run);

    /* Whatever a run holds: a status is escaped too (found by fuzz_webhook_payload). */
    run = sample_run("x", "<!here>");
    body = sp_payload_run("run.ended", run, "slack", "http://s", 1, &len);
    doc = json_loads(body, 0, NULL);
    CHECK_STR_CONTAINS(json_string_value(json_object_get(doc, "text")), "ended: &lt;!here&gt;");
    json_decref(doc);
    free(body);
    json_decref(run);

    body = sp_payload_ping(3, "<team> alerts", "slack", "", 1, &len);
    doc = json_loads(body, 0, NULL);
    CHECK_STR_CONTAINS(json_string_value(json_object_get(doc, "text")), "*&lt;team&gt; alerts*");
    json_decref(doc);
    free(body);
    body = sp_payload_ping(3, "alerts", "stampede", "http://s", 5, &len);
    doc = json_loads(body, 0, NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "event")), "ping");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(doc, "webhook"), "id")), 3);
    json_decref(doc);
    free(body);
}

static void test_events(void)
{
    const char *known[] = {"run.ended", "run.failed", "run.regressed", "run.aborted", "agent.lost"};
    for (size_t i = 0; i < SP_ARRAY_LEN(known); i++)
        CHECK(sp_payload_event_known(known[i]));
    CHECK(!sp_payload_event_known("ping"));
    CHECK(!sp_payload_event_known("run.*"));
    CHECK(!sp_payload_event_known(NULL));
}

int main(void)
{
    RUN(test_signature_vectors);
    RUN(test_stampede_body);
    RUN(test_slack_body);
    RUN(test_events);
    return check_summary();
}
