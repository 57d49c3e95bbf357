/*
 * test_export.c - exports of a stored run: CSV quoting and the spreadsheet formula guard,
 * HTML escaping of every text that came from a test or a target, and the JSON data island
 * that no text can close.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    CHECK_INT_EQ(sp_export_html(run, series, failures, NULL, &b), 0);
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

/* A report people forward: what ran and when (with the zone), the charts of the run page with
 * the live page's view first and each name one click away, load changes marked, thresholds in
 * the units the dashboard shows. */
static void test_html_report(void)
{
    json_t *run = json_loads(
        "{\"id\": 4, \"test_name\": \"Shop\", \"status\": \"failed\", \"revision\": 3,"
        " \"started_by\": \"ann\", \"created_at\": 1700000000000, \"started_at\": 1700000000000,"
        " \"ended_at\": 1700000003000, \"overrides\": {\"users\": 2, \"duration\": \"3s\"},"
        " \"load_changes\": [{\"at\": 1700000001500, \"elapsed_ms\": 1500, \"target\": 4,"
        "   \"ramp_ms\": 0, \"by\": \"bob\"}],"
        " \"verdicts\": [{\"threshold\": \"error_rate < 1%\", \"passed\": false,"
        "   \"measured\": 0.2191, \"metric\": \"error_rate\"},"
        "  {\"threshold\": \"p95 < 300ms\", \"passed\": true, \"measured\": 12.34,"
        "   \"metric\": \"p95\"}],"
        " \"summary\": {\"duration_s\": 3.02, \"host\": \"gen-7\","
        "  \"base_url\": \"http://shop.test\","
        "  \"load\": {\"model\": \"closed\", \"unit\": \"users\", \"planned_s\": 3,"
        "   \"stages\": [{\"duration_s\": 3, \"target\": 2}]},"
        "  \"names\": [{\"name\": \"GET /a\", \"requests\": 1200, \"failures\": 263,"
        "   \"rps\": 400, \"error_rate\": 0.2191, \"latency_ms\": {\"p95\": 12.34}}],"
        "  \"total\": {\"name\": \"Total\", \"requests\": 1200, \"failures\": 263,"
        "   \"error_rate\": 0.2191, \"status\": {\"200\": 937, \"500\": 263},"
        "   \"errors\": {\"http_status\": 263}}}}",
        0, NULL);
    json_t *series = json_loads(
        "{\"ticks\": {\"second\": [0, 1, 2], \"active_vus\": [2, 4, 4], \"target_vus\": [2, 4, 4],"
        "  \"dropped\": [0, 0, 0], \"p50\": [1000, 1100, 1200], \"p95\": [5000, 6000, 7000],"
        "  \"p99\": [9000, 9000, 9000], \"target_rate\": [null, null, null],"
        "  \"arrivals\": [null, null, null]},"
        " \"names\": [{\"name\": \"GET /a\", \"second\": [0, 1, 2], \"count\": [300, 450, 450],"
        "  \"errors\": [60, 100, 103], \"p50\": [1000, 1000, 1000], \"p95\": [5000, 5000, 5000],"
        "  \"p99\": [9000, 9000, 9000]}]}",
        0, NULL);
    json_t *dist = json_loads("{\"bins_ms\": [1, 2, 5], \"total\": {\"name\": \"Total\","
                              " \"count\": 10, \"counts\": [5, 3, 1, 1]},"
                              " \"names\": [{\"name\": \"GET /a\", \"count\": 10,"
                              " \"counts\": [5, 3, 1, 1]}]}",
                              0, NULL);
    CHECK(run && series && dist);
    setenv("TZ", "UTC", 1);
    tzset();
    sp_buf b;
    sp_buf_init(&b, 1 << 22);
    CHECK_INT_EQ(sp_export_html(run, series, NULL, dist, &b), 0);
    /* What ran, where, by whom and when, with the zone. */
    CHECK_STR_CONTAINS(b.p, "<dt>Test</dt><dd>Shop, revision 3</dd>");
    CHECK_STR_CONTAINS(b.p, "<dt>Base URL</dt><dd>http://shop.test</dd>");
    CHECK_STR_CONTAINS(b.p, "closed model: to 2 users over 3s");
    CHECK_STR_CONTAINS(b.p, "<dt>Load changes</dt><dd>at 1.5s: 4 users (by bob)</dd>");
    CHECK_STR_CONTAINS(b.p, "<dt>Started</dt><dd>2023-11-14 22:13:20 UTC+00:00</dd>");
    CHECK_STR_CONTAINS(b.p, "<dt>Duration</dt><dd>3s</dd>");
    CHECK_STR_CONTAINS(b.p, "<dt>Load generator</dt><dd>gen-7</dd>");
    /* Thresholds in the dashboard's units: 21.91%, not 0.2191. */
    CHECK_STR_CONTAINS(b.p, "<td class=\"fail\">✗ missed</td><td>21.91%</td>");
    CHECK_STR_CONTAINS(b.p, "<td>12.3 ms</td>");
    CHECK(strstr(b.p, "0.2191<") == NULL);
    /* The live page's latency view first (all requests), each name a tab away. */
    CHECK_STR_CONTAINS(b.p, "id=\"lat-0\" checked><label for=\"lat-0\">All requests</label>");
    CHECK_STR_CONTAINS(b.p, "id=\"lat-1\"><label for=\"lat-1\">GET /a</label>");
    CHECK_STR_CONTAINS(b.p, "id=\"dist-0\" checked><label for=\"dist-0\">All requests</label>");
    /* Every chart: requests, latency, errors, VUs, distribution; the change marked on each of
     * the four time charts and on each latency view. */
    CHECK_STR_CONTAINS(b.p, "aria-label=\"Requests per second\"");
    CHECK_STR_CONTAINS(b.p, "aria-label=\"Errors per second\"");
    CHECK_STR_CONTAINS(b.p, "aria-label=\"Virtual users\"");
    size_t marks = 0;
    for (const char *p = b.p; (p = strstr(p, "class=\"load-change\"")); p++)
        marks++;
    CHECK_UINT_EQ(marks, 5);
    CHECK_STR_CONTAINS(b.p, "<text x=\"");
    CHECK_STR_CONTAINS(b.p, ">4 users</text></g>");
    /* Status codes and error kinds with their shares. */
    CHECK_STR_CONTAINS(b.p, "<tr><td>500</td><td>263</td><td>21.92%</td></tr>");
    CHECK_STR_CONTAINS(b.p, "<tr><td>http_status</td><td>263</td>");
    /* Offline and printable: nothing fetched, a print stylesheet. */
    CHECK(strstr(b.p, "src=") == NULL);
    CHECK(strstr(b.p, "href=") == NULL);
    CHECK_STR_CONTAINS(b.p, "@media print");
    /* The verdict against the baseline is there only when the start asked for a baseline: its
     * verdict, whether it failed the run, and each regression. */
    CHECK(strstr(b.p, "Against the baseline") == NULL);
    json_object_set_new(run, "baseline",
                        json_pack("{s:s, s:i, s:s, s:b, s:[{s:s, s:s, s:f, s:f, s:f, s:s, s:s}]}",
                                  "asked", "pinned", "run_id", 2, "verdict", "regression",
                                  "failed_run", 1, "regressions", "name", "GET /x", "figure", "p95",
                                  "baseline", 20.0, "value", 27.0, "change", 7.0, "unit", "ms",
                                  "basis", "seconds"));
    sp_buf_reset(&b);
    CHECK_INT_EQ(sp_export_html(run, series, NULL, dist, &b), 0);
    CHECK_STR_CONTAINS(b.p, "<strong>Against the baseline (run 2):</strong> regression");
    CHECK_STR_CONTAINS(b.p, "the run failed on it");
    CHECK_STR_CONTAINS(b.p, "regression: GET /x p95: 20 -&gt; 27");
    sp_buf_release(&b);
    json_decref(run);
    json_decref(series);
    json_decref(dist);
}

/* A run that never got a summary (aborted, or an engine that did not start) still exports. */
static void test_html_without_summary(void)
{
    json_t *run = json_loads("{\"id\": 5, \"test_name\": \"T\", \"status\": \"aborted\","
                             " \"revision\": 1, \"error\": \"the server died\", \"summary\": null}",
                             0, NULL);
    json_t *series = json_loads("{\"ticks\": {\"second\": []}, \"names\": []}", 0, NULL);
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    CHECK_INT_EQ(sp_export_html(run, series, NULL, NULL, &b), 0);
    CHECK_STR_CONTAINS(b.p, "<strong>Aborted:</strong> the server died");
    CHECK_STR_CONTAINS(b.p, "<span class=\"muted\">not recorded</span>");
    CHECK(strstr(b.p, "<h2>Charts</h2>") == NULL);
    sp_buf_release(&b);
    json_decref(run);
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
    CHECK_STR_CONTAINS(b.p, "<error type=\"incomplete\"");
    CHECK_STR_CONTAINS(b.p, "3 of 9 seconds were not stored (seconds 4-6)</error>");
    sp_buf_reset(&b);
    CHECK_INT_EQ(sp_export_junit(run, without, ".", &b, err, sizeof err), 0);
    CHECK_STR_CONTAINS(b.p, "tests=\"1\" failures=\"0\" errors=\"1\"");
    CHECK_STR_CONTAINS(b.p, "name=\"run\"");
    CHECK_STR_CONTAINS(b.p, "seconds 4-6)</error>");
    sp_buf_reset(&b);
    CHECK_INT_EQ(sp_export_html(run, NULL, NULL, NULL, &b), 0);
    CHECK_STR_CONTAINS(b.p, "<span class=\"badge st-incomplete\">Incomplete</span>");
    CHECK_STR_CONTAINS(b.p, "3 of 9 seconds were not stored (seconds 4-6)");
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
    CHECK_INT_EQ(sp_export_html(run, series, failures, NULL, &b), 0);
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
    CHECK(strstr(b.p, "name=\"origin\"") == NULL);
    sp_buf_release(&b);
    json_decref(series);
    json_decref(failures);
    json_decref(run);
}

int main(void)
{
    RUN(test_csv);
    RUN(test_html);
    RUN(test_html_report);
    RUN(test_html_without_summary);
    RUN(test_cap);
    RUN(test_incomplete);
    RUN(test_scheduled);
    return check_summary();
}
