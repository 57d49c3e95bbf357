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

/* An incomplete run is never green in CI: its JUnit counts an error that quotes what was lost,
 * with thresholds or without, and the HTML report shows the status and the lost seconds. */
static void test_incomplete(void)
{
    static const char lost[] = "the store could not keep all of this run's results (the disk was "
                               "full): 3 of 9 seconds were not stored (seconds 4-6)";
    json_t *run = stored_run();
    json_object_set_new(run, "status", json_string("incomplete"));
    json_object_set_new(run, "error", json_string(lost));
    json_object_set_new(json_array_get(json_object_get(run, "verdicts"), 0), "passed", json_true());
    static const char with[] =
        "{\"name\":\"x\",\"base_url\":\"http://127.0.0.1:9\",\"users\":[{\"name\":\"u\","
        "\"tasks\":[{\"request\":{\"url\":\"/\"}}]}],\"load\":{\"users\":1,\"duration\":"
        "\"1s\"},\"thresholds\":[\"p95 < 300ms\"]}";
    static const char without[] =
        "{\"name\":\"x\",\"base_url\":\"http://127.0.0.1:9\",\"users\":[{\"name\":\"u\","
        "\"tasks\":[{\"request\":{\"url\":\"/\"}}]}],\"load\":{\"users\":1,\"duration\":"
        "\"1s\"}}";
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    char err[256] = "";
    CHECK_INT_EQ(sp_export_junit(run, with, ".", &b, err, sizeof err), 0);
    CHECK_STR_CONTAINS(b.p, "tests=\"2\" failures=\"0\" errors=\"1\"");
    CHECK_STR_CONTAINS(b.p, "name=\"results stored\"");
    CHECK_STR_CONTAINS(b.p, "3 of 9 seconds were not stored (seconds 4-6)</error>");
    sp_buf_reset(&b);
    CHECK_INT_EQ(sp_export_junit(run, without, ".", &b, err, sizeof err), 0);
    CHECK_STR_CONTAINS(b.p, "tests=\"1\" failures=\"0\" errors=\"1\"");
    CHECK_STR_CONTAINS(b.p, "name=\"run\"");
    CHECK_STR_CONTAINS(b.p, "seconds 4-6)</error>");
    sp_buf_reset(&b);
    CHECK_INT_EQ(sp_export_html(run, NULL, NULL, &b), 0);
    CHECK_STR_CONTAINS(b.p, "<b class=\"incomplete\">incomplete</b>");
    CHECK_STR_CONTAINS(b.p, "3 of 9 seconds were not stored (seconds 4-6)");
    sp_buf_release(&b);
    json_decref(run);
}

int main(void)
{
    RUN(test_csv);
    RUN(test_html);
    RUN(test_cap);
    RUN(test_incomplete);
    return check_summary();
}
