/*
 * test_export.c - exports of a stored run: CSV quoting and the spreadsheet formula guard,
 * HTML escaping of every text that came from a test or a target, and the JSON data island
 * that no text can close.
 */
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "runs/export.h"

static json_t *stored_run(void)
{
    const char *text =
        "{\"id\": 9, \"test_name\": \"<img src=x onerror=alert(1)>\", \"status\": \"failed\","
        " \"revision\": 2, \"started_by\": \"a&b\", \"error\": null,"
        " \"verdicts\": [{\"threshold\": \"p95 < 300ms\", \"passed\": false, \"measured\": 412.5}],"
        " \"summary\": {\"duration_s\": 3.0,"
        "  \"names\": [{\"name\": \"=HYPERLINK(\\\"http://x\\\")\", \"requests\": 10, "
        "\"failures\": 1,"
        "              \"rps\": 3.3, \"error_rate\": 0.1, \"latency_ms\": {\"p50\": 1.5}},"
        "             {\"name\": \"a,b \\\"c\\\"\", \"requests\": 2}],"
        "  \"total\": {\"name\": \"Total\", \"requests\": 12, \"failures\": 1}}}";
    return json_loads(text, 0, NULL);
}

static void test_csv(void)
{
    json_t *run = stored_run();
    CHECK(run != NULL);
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    CHECK_INT_EQ(sp_export_csv(run, &b), 0);
    CHECK(strncmp(b.p, "name,requests,failures,rps,error_rate,", 38) == 0);
    CHECK_STR_CONTAINS(b.p, "\r\n\"'=HYPERLINK(\"\"http://x\"\")\",10,1,3.300,0.100000,");
    CHECK_STR_CONTAINS(b.p, "\r\n\"a,b \"\"c\"\"\",2,0,");
    CHECK_STR_CONTAINS(b.p, "\r\nTotal,12,1,");
    sp_buf_release(&b);
    json_decref(run);
}

static void test_html(void)
{
    json_t *run = stored_run();
    json_t *failures = json_loads("[{\"name\": \"GET /x\", \"message\": \"</script><script>alert(1)"
                                  "</script><!--\", \"count\": 3}]",
                                  0, NULL);
    json_t *series =
        json_loads("{\"ticks\": {\"second\": [0, 1, 2]}, \"names\": [{\"second\": [0, 1, 2],"
                   " \"count\": [3, 4, 5], \"p95\": [1000, 2000, 1500]}]}",
                   0, NULL);
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    CHECK_INT_EQ(sp_export_html(run, series, failures, &b), 0);
    CHECK_STR_CONTAINS(b.p, "<h1>&lt;img src=x onerror=alert(1)&gt; &mdash; run 9</h1>");
    CHECK_STR_CONTAINS(b.p, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;!--");
    CHECK_STR_CONTAINS(b.p, "a&amp;b");
    CHECK_STR_CONTAINS(b.p, "<polyline ");
    CHECK(strstr(b.p, "<img") == NULL);
    CHECK(strstr(b.p, "<script>") == NULL);
    CHECK(strstr(b.p, "<!--") == NULL);
    /* The data island is the one script element, and it is closed only once. */
    const char *island = strstr(b.p, "<script type=\"application/json\"");
    CHECK(island != NULL);
    const char *close = strstr(b.p, "</script>");
    CHECK(close != NULL && close > island && strstr(close + 1, "</script>") == NULL);
    sp_buf_release(&b);
    json_decref(run);
    json_decref(failures);
    json_decref(series);
}

static void test_cap(void)
{
    json_t *run = stored_run();
    sp_buf b;
    sp_buf_init(&b, 64);
    CHECK_INT_EQ(sp_export_csv(run, &b), SP_ELIMIT);
    sp_buf_release(&b);
    json_decref(run);
}

/* A scheduled run says so in the HTML report and in the JUnit suite's properties; a run
 * started by hand does not. */
static void test_scheduled(void)
{
    json_t *run = stored_run();
    json_object_set_new(run, "origin", json_string("scheduled"));
    json_object_set_new(run, "schedule_id", json_integer(4));
    json_object_set_new(run, "fire_at", json_integer(1774746000000LL));
    json_object_set_new(run, "fire_missed", json_true());
    json_object_set_new(run, "overrides", json_null());
    json_t *series = json_loads("{\"ticks\": {\"second\": []}, \"names\": []}", 0, NULL);
    json_t *failures = json_array();
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    CHECK_INT_EQ(sp_export_html(run, series, failures, &b), 0);
    CHECK_STR_CONTAINS(b.p, "<span class=\"origin\">scheduled</span> (schedule 4, fire time "
                            "2026-03-29T01:00:00Z, missed while the server was down");
    sp_buf_release(&b);
    const char *def = "{\"name\": \"t\", \"base_url\": \"http://127.0.0.1:1\", \"users\": [{"
                      "\"name\": \"u\", \"tasks\": [{\"request\": {\"url\": \"/\"}}]}],"
                      " \"load\": {\"users\": 1, \"duration\": \"1s\"},"
                      " \"thresholds\": [\"p95 < 300ms\"]}";
    char err[256] = "";
    sp_buf_init(&b, 1 << 20);
    CHECK_INT_EQ(sp_export_junit(run, def, "/nonexistent", &b, err, sizeof err), 0);
    const char *props = strstr(b.p, "<properties>");
    CHECK(props != NULL);
    CHECK(props > strstr(b.p, "<testsuite ") && props < strstr(b.p, "<testcase "));
    CHECK_STR_CONTAINS(b.p, "<property name=\"origin\" value=\"scheduled\"/>");
    CHECK_STR_CONTAINS(b.p, "<property name=\"fire_at\" value=\"2026-03-29T01:00:00Z\"/>");
    sp_buf_release(&b);
    json_object_set_new(run, "origin", json_string("manual"));
    sp_buf_init(&b, 1 << 20);
    CHECK_INT_EQ(sp_export_junit(run, def, "/nonexistent", &b, err, sizeof err), 0);
    CHECK(strstr(b.p, "<properties>") == NULL);
    sp_buf_release(&b);
    json_decref(series);
    json_decref(failures);
    json_decref(run);
}

int main(void)
{
    RUN(test_csv);
    RUN(test_html);
    RUN(test_cap);
    RUN(test_scheduled);
    return check_summary();
}
