/*
 * remote.c - `stampede remote run`: starts a run of a stored test on a `stampede serve` over its
 * REST API, prints one live line per second by polling the run, then the summary, and exits
 * like `stampede run`: 0 passed, 1 failed (a threshold, or with no thresholds a failed request
 * unless --allow-failures; or ended otherwise), 2 invalid or could not start,
 * 130 after Ctrl-C (the server is asked to stop the run first, and its summary is printed).
 *
 * Signals: SIGINT and SIGTERM are blocked and taken with sigtimedwait() in the polling loop,
 * which is also its one-second clock; nothing runs in a signal handler. The first Ctrl-C asks
 * for a graceful stop, the second for an immediate one.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "engine/common.h"
#include "engine/definition.h"
#include "engine/wire.h"
#include "cli/cli.h"
#include "runs/report.h"

#define REMOTE_MAX_RESPONSE (16u << 20) /* one API answer (a run with its summary) */
#define REMOTE_TIMEOUT_MS 10000         /* one API call */

typedef struct remote {
    CURL *curl;
    const char *server; /* without a trailing slash */
    const char *token;  /* NULL: none */
    char err[CURL_ERROR_SIZE];
} remote;

static void usage(FILE *f)
{
    fprintf(
        f, "usage: stampede remote run --server URL [--token T] TEST [options]\n"
           "\n"
           "Starts a run of the stored test TEST (its id or its exact name) on a Stampede server,\n"
           "prints one line per second while it runs, then the summary.\n"
           "\n"
           "options:\n"
           "  -s, --server URL      the server, e.g. http://127.0.0.1:8484\n"
           "      --token T         an API token, sent as Authorization: Bearer T (default:\n"
           "                        $STAMPEDE_TOKEN); needed unless the server runs --no-auth\n"
           "  -u, --users N         hold N virtual users (with --duration) instead of the stages\n"
           "  -d, --duration D      total duration, e.g. 30s, 2m\n"
           "      --stages JSON     replace the load stages\n"
           "  -b, --base-url URL    replace the test's base_url\n"
           "  -r, --revision N      run this revision instead of the newest\n"
           "      --baseline B      compare the run with a baseline when it ends: pinned (the\n"
           "                        test's pinned run), last-passed, or a run id\n"
           "      --fail-on-regression\n"
           "                        a significant regression against the baseline fails the\n"
           "                        run (exit 1); without --baseline, the pinned one\n"
           "      --locations L     run across agents: near=60,far=40 (percents of the load,\n"
           "                        adding up to 100; each location needs a connected agent)\n"
           "  -q, --quiet           no live lines, only the summary\n"
           "      --allow-failures  a run without thresholds passes even when requests failed\n"
           "  -h, --help            this help\n"
           "\n"
           "exit codes: 0 passed, 1 a threshold failed, a regression was found with\n"
           "--fail-on-regression, or with no thresholds a request failed and --allow-failures was\n"
           "not given (or the run was stopped, aborted, degraded (an agent was lost) or is "
           "incomplete\n"
           "on the server: its disk was full), 2 invalid or could not start, 130 interrupted (the "
           "run is stopped first)\n");
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sp_buf *b = ud;
    /* A failed add (over the cap) makes curl stop with CURLE_WRITE_ERROR. */
    return sp_buf_add(b, p, size * n) == 0 ? size * n : 0;
}

/*
 * One API call: method path (below /api/v1), an optional JSON body (borrowed). Returns the HTTP
 * status (0 when the server could not be reached: rm->err says why) and *out, the parsed answer
 * (new reference) or NULL when it was not JSON.
 */
static long call(remote *rm, const char *method, const char *path, const json_t *body, json_t **out)
{
    *out = NULL;
    long status = 0;
    char url[2048];
    snprintf(url, sizeof url, "%s/api/v1%s", rm->server, path);
    sp_buf resp;
    sp_buf_init(&resp, REMOTE_MAX_RESPONSE);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL; /* ours: free() */
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (text)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (rm->token) {
        sp_buf a;
        sp_buf_init(&a, 4096);
        sp_buf_addf(&a, "Authorization: Bearer %s", rm->token);
        h = curl_slist_append(h, a.p);
        sp_buf_release(&a);
    }
    CURL *c = rm->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)REMOTE_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)REMOTE_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rm->err);
    if (text)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    rm->err[0] = '\0';
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (!rm->err[0])
            snprintf(rm->err, sizeof rm->err, "%s", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_error_t je;
    *out = json_loadb(resp.p ? resp.p : "", resp.len, JSON_REJECT_DUPLICATES, &je);
out:
    curl_slist_free_all(h);
    free(text);
    sp_buf_release(&resp);
    return status;
}

/* Prints an API error answer ({"error": {...}, "errors": [...]}) to stderr. */
static void print_error(const char *what, long status, const json_t *ans)
{
    const json_t *e = json_object_get(ans, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    fprintf(stderr, "stampede remote: %s: %s (HTTP %ld)\n", what, msg ? msg : "no details", status);
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(ans, "errors"), i, x)
    {
        const char *p = json_string_value(json_object_get(x, "path"));
        fprintf(stderr, "  %s%s%s\n", p && *p ? p : "", p && *p ? ": " : "",
                json_string_value(json_object_get(x, "message")) ?: "");
    }
    if (status == 401)
        fprintf(stderr, "  give an API token with --token T or $STAMPEDE_TOKEN (create one in the "
                        "dashboard, or POST /api/v1/tokens after logging in)\n");
}

/* The test id for TEST: digits are an id; anything else is looked up by exact name. 0 when it
 * cannot be found (the reason is printed). */
static long long find_test(remote *rm, const char *test)
{
    if (*test && strspn(test, "0123456789") == strlen(test) && strlen(test) < 18)
        return strtoll(test, NULL, 10);
    char *q = curl_easy_escape(rm->curl, test, 0);
    char path[1024];
    snprintf(path, sizeof path, "/tests?per_page=200&q=%s", q ? q : "");
    curl_free(q);
    json_t *ans = NULL;
    long st = call(rm, "GET", path, NULL, &ans);
    long long id = 0;
    if (st != 200) {
        if (st == 0)
            fprintf(stderr, "stampede remote: cannot reach %s: %s\n", rm->server, rm->err);
        else
            print_error("cannot list tests", st, ans);
        goto out;
    }
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(ans, "items"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        if (name && strcmp(name, test) == 0) {
            id = json_integer_value(json_object_get(t, "id"));
            break;
        }
    }
    if (!id)
        fprintf(stderr, "stampede remote: no test named '%s' on %s\n", test, rm->server);
out:
    json_decref(ans);
    return id;
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static void live_line(const json_t *run)
{
    const json_t *live = json_object_get(run, "live");
    const json_t *last = json_object_get(live, "last");
    if (!json_is_object(last))
        return;
    char p95[16];
    sp_fmt_us((uint64_t)(num(last, "p95") * 1000.0), p95, sizeof p95);
    double count = num(last, "count"), errors = num(last, "errors");
    fprintf(stderr, "[%5.0fs] vus %5.0f/%-5.0f  rps %8.0f  p95 %9s  errors %.0f (%.2f%%)\n",
            num(last, "second") + 1, num(last, "vus"), num(last, "target_vus"), count, p95, errors,
            count > 0 ? 100.0 * errors / count : 0.0);
}

static void summary_row(const json_t *n)
{
    const json_t *l = json_object_get(n, "latency_ms");
    char p50[16], p95[16], p99[16], mx[16];
    sp_fmt_us((uint64_t)(num(l, "p50") * 1000.0), p50, sizeof p50);
    sp_fmt_us((uint64_t)(num(l, "p95") * 1000.0), p95, sizeof p95);
    sp_fmt_us((uint64_t)(num(l, "p99") * 1000.0), p99, sizeof p99);
    sp_fmt_us((uint64_t)(num(l, "max") * 1000.0), mx, sizeof mx);
    printf("%-28.28s %10.0f %9.1f %7.2f%% %9s %9s %9s %9s\n",
           json_string_value(json_object_get(n, "name")) ?: "", num(n, "requests"), num(n, "rps"),
           100.0 * num(n, "error_rate"), p50, p95, p99, mx);
}

/* The run against its baseline, when one was asked: the verdict and each regression. */
static void print_baseline(const json_t *b)
{
    const char *verdict = json_string_value(json_object_get(b, "verdict"));
    if (!verdict)
        return;
    const json_t *id = json_object_get(b, "run_id");
    const json_t *regs = json_object_get(b, "regressions");
    if (json_is_integer(id))
        printf("\nAgainst baseline run %lld (%s): %s", (long long)json_integer_value(id),
               json_string_value(json_object_get(b, "asked")) ?: "?", verdict);
    else
        printf("\nAgainst a baseline: %s", verdict);
    if (json_string_value(json_object_get(b, "reason")))
        printf(" (%s)", json_string_value(json_object_get(b, "reason")));
    printf("\n");
    size_t i;
    const json_t *reg;
    json_array_foreach(regs, i, reg)
    {
        char line[512];
        sp_report_regression_line(reg, line, sizeof line);
        printf("  REGRESSION  %s\n", line);
    }
    if (json_array_size(regs) && json_is_true(json_object_get(b, "fail_on_regression")))
        printf("The run failed: %zu regression%s against the baseline (--fail-on-regression).\n",
               json_array_size(regs), json_array_size(regs) == 1 ? "" : "s");
}

static void print_summary(const json_t *run)
{
    const json_t *s = json_object_get(run, "summary");
    printf("\n%s: %s after %.1fs (run %lld)\n",
           json_string_value(json_object_get(run, "test_name")) ?: "",
           json_string_value(json_object_get(run, "status")) ?: "?", num(s, "duration_s"),
           (long long)json_integer_value(json_object_get(run, "id")));
    if (json_string_value(json_object_get(run, "error")))
        printf("error: %s\n", json_string_value(json_object_get(run, "error")));
    if (json_is_object(s)) {
        printf("\n%-28s %10s %9s %8s %9s %9s %9s %9s\n", "Name", "Requests", "RPS", "Fail", "p50",
               "p95", "p99", "max");
        size_t i;
        const json_t *n;
        json_array_foreach(json_object_get(s, "names"), i, n) if (num(n, "requests") > 0)
            summary_row(n);
        summary_row(json_object_get(s, "total"));
        sp_report_locations_text(s, stdout);
    }
    print_baseline(json_object_get(run, "baseline"));
    const json_t *v = json_object_get(run, "verdicts");
    if (json_array_size(v)) {
        printf("\nThresholds:\n");
        size_t i;
        const json_t *t;
        json_array_foreach(v, i, t)
        {
            /* Stored in the threshold's own unit: ms for latencies, a fraction for errors. */
            const char *metric = json_string_value(json_object_get(t, "metric")) ?: "";
            char m[32];
            if (strcmp(metric, "error_rate") == 0)
                snprintf(m, sizeof m, "%.2f%%", 100.0 * num(t, "measured"));
            else if (strcmp(metric, "rps") == 0)
                snprintf(m, sizeof m, "%.1f/s", num(t, "measured"));
            else
                sp_fmt_us((uint64_t)(num(t, "measured") * 1000.0), m, sizeof m);
            printf("  %s  %-40s measured %s\n",
                   json_is_true(json_object_get(t, "skipped"))  ? "SKIP"
                   : json_is_true(json_object_get(t, "passed")) ? "PASS"
                                                                : "FAIL",
                   json_string_value(json_object_get(t, "threshold")) ?: "", m);
        }
    }
    printf("\n");
    fflush(stdout);
}

/* The failed requests that fail the run by themselves, as `stampede run` counts them
 * (sp_report_unaccepted_failures): with no thresholds and without --allow-failures, every
 * failed request; 0 otherwise. Printed when there are any. */
static double unaccepted_failures(const json_t *run, int allow)
{
    const json_t *total = json_object_get(json_object_get(run, "summary"), "total");
    double failed = num(total, "failures");
    if (allow || json_array_size(json_object_get(run, "verdicts")) || failed <= 0)
        return 0;
    printf("FAIL: %.0f of %.0f requests failed and the test has no thresholds "
           "(--allow-failures accepts them)\n\n",
           failed, num(total, "requests"));
    fflush(stdout);
    return failed;
}

/* What the command line asked for: the server, the body of the start request, the test. */
typedef struct remote_args {
    char *server; /* owned, without trailing '/' */
    json_t *body; /* owned: the run's overrides */
    const char *test;
    int quiet;
    int allow_failures;
} remote_args;

/* --locations near=60,far=40 into the start's "locations" object; the server checks the rest
 * (the sum, the agents). Returns 0, or 2 with the reason printed. */
static int take_locations(remote_args *ra)
{
    json_t *locs = json_object();
    const char *p = optarg;
    while (*p) {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        if (!comma)
            comma = p + strlen(p);
        char *end;
        long pct = eq && eq < comma ? strtol(eq + 1, &end, 10) : 0;
        if (!eq || eq > comma || eq == p || end != comma || pct < 1 || pct > 100 ||
            eq - p > SP_WIRE_MAX_NAME) {
            fprintf(stderr,
                    "stampede remote: --locations expects NAME=PERCENT,... such as "
                    "near=60,far=40, not '%s'\n",
                    optarg);
            json_decref(locs);
            return 2;
        }
        char name[SP_WIRE_MAX_NAME + 1];
        snprintf(name, sizeof name, "%.*s", (int)(eq - p), p);
        json_object_set_new(locs, name, json_integer(pct));
        p = *comma ? comma + 1 : comma;
    }
    json_object_set_new(ra->body, "locations", locs); /* steals locs */
    return 0;
}

/* One option of `remote run` into ra (the start request's body) or rm (the token). Returns 0,
 * or 2 with the reason printed. */
static int take_option(int ch, remote *rm, remote_args *ra)
{
    switch (ch) {
    case 's':
        free(ra->server);
        ra->server = sp_strdup(optarg);
        return 0;
    case 'T':
        rm->token = optarg;
        return 0;
    case 'u': {
        char *end;
        errno = 0;
        long long n = strtoll(optarg, &end, 10);
        if (errno || *end || end == optarg || n < 1 || n > SP_DEF_MAX_VUS) {
            fprintf(stderr, "stampede remote: --users expects a whole number from 1, not '%s'\n",
                    optarg);
            return 2;
        }
        json_object_set_new(ra->body, "users", json_integer(n));
        return 0;
    }
    case 'd': {
        int64_t ms;
        if (sp_parse_duration_ms(optarg, &ms) != 0 || ms <= 0) {
            fprintf(stderr,
                    "stampede remote: --duration expects a duration such as 30s, not '%s'\n",
                    optarg);
            return 2;
        }
        json_object_set_new(ra->body, "duration", json_string(optarg));
        return 0;
    }
    case 'S': {
        json_error_t je;
        json_t *st = json_loads(optarg, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_array(st)) {
            fprintf(stderr, "stampede remote: --stages expects a JSON array of stages\n");
            json_decref(st);
            return 2;
        }
        json_object_set_new(ra->body, "stages", st); /* steals st */
        return 0;
    }
    case 'b':
        json_object_set_new(ra->body, "base_url", json_string(optarg));
        return 0;
    case 'r': {
        char *end;
        long n = strtol(optarg, &end, 10);
        if (*end || end == optarg || n < 1 || n > 1000000000) {
            fprintf(stderr, "stampede remote: --revision expects a revision number\n");
            return 2;
        }
        json_object_set_new(ra->body, "revision", json_integer(n));
        return 0;
    }
    case 'B': {
        /* "pinned", "last-passed" or a run id: the server says which it cannot use. */
        char *end;
        long long id = strtoll(optarg, &end, 10);
        if (strcmp(optarg, "pinned") == 0 || strcmp(optarg, "last-passed") == 0)
            json_object_set_new(ra->body, "baseline", json_string(optarg));
        else if (*optarg >= '1' && *optarg <= '9' && !*end && id > 0)
            json_object_set_new(ra->body, "baseline", json_integer(id));
        else {
            fprintf(stderr,
                    "stampede remote: --baseline expects pinned, last-passed or a run id, not "
                    "'%s'\n",
                    optarg);
            return 2;
        }
        return 0;
    }
    case 'F':
        json_object_set_new(ra->body, "fail_on_regression", json_true());
        return 0;
    case 'L':
        return take_locations(ra);
    case 'q':
        ra->quiet = 1;
        return 0;
    case 'A':
        ra->allow_failures = 1;
        return 0;
    default:
        usage(stderr);
        return 2;
    }
}

/* The command line into rm and ra. Returns -1 to go on, else the exit code (0 for --help). */
static int parse_args(int argc, char **argv, remote *rm, remote_args *ra)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"token", required_argument, NULL, 'T'},
        {"users", required_argument, NULL, 'u'},
        {"duration", required_argument, NULL, 'd'},
        {"stages", required_argument, NULL, 'S'},
        {"base-url", required_argument, NULL, 'b'},
        {"revision", required_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},
        {"allow-failures", no_argument, NULL, 'A'},
        {"baseline", required_argument, NULL, 'B'},
        {"fail-on-regression", no_argument, NULL, 'F'},
        {"locations", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "run") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    rm->token = getenv("STAMPEDE_TOKEN");
    if (rm->token && !*rm->token)
        rm->token = NULL;
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "s:u:d:b:r:qh", opts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return 0;
        }
        if (take_option(ch, rm, ra) != 0)
            return 2;
    }
    if (!ra->server || optind != argc - 1) {
        fprintf(stderr, !ra->server ? "stampede remote: --server URL is needed\n"
                                    : "stampede remote: give one TEST (an id or a name)\n");
        usage(stderr);
        return 2;
    }
    ra->test = argv[optind];
    size_t sl = strlen(ra->server);
    while (sl > 0 && ra->server[sl - 1] == '/')
        ra->server[--sl] = '\0';
    if (strncmp(ra->server, "http://", 7) != 0 && strncmp(ra->server, "https://", 8) != 0) {
        fprintf(stderr, "stampede remote: --server expects an http:// or https:// URL\n");
        return 2;
    }
    /* The token goes into a header line: a control character could start another header. */
    for (const char *t = rm->token; t && *t; t++) {
        if ((unsigned char)*t < 0x20 || *t == 0x7f) {
            fprintf(stderr, "stampede remote: the token holds a control character\n");
            return 2;
        }
    }
    rm->server = ra->server;
    return -1;
}

/* Follows run_id until it has ended, printing a live line a second unless quiet; *ans (owned)
 * is replaced by each newer state. Ctrl-C (blocked in set by the caller) stops the run on the
 * server rather than this process: gracefully, then at once. Returns how many times it was
 * interrupted, or -1 when the server was lost. */
static int follow_run(remote *rm, long long run_id, json_t **ans, int quiet, const sigset_t *set)
{
    char path[128];
    int interrupted = 0;
    int64_t last_second = -1;
    int failures = 0;
    for (;;) {
        const char *status = json_string_value(json_object_get(*ans, "status"));
        if (!status || (strcmp(status, "running") != 0 && strcmp(status, "queued") != 0))
            return interrupted;
        const json_t *last = json_object_get(json_object_get(*ans, "live"), "last");
        if (!quiet && json_is_object(last) && num(last, "second") > (double)last_second) {
            last_second = (int64_t)num(last, "second");
            /* The last, partial second after every VU has stopped carries nothing. */
            if (num(last, "vus") > 0 || num(last, "count") > 0)
                live_line(*ans);
        }
        /* Four polls a second, so that a second's line is rarely skipped. */
        struct timespec wait = {0, 250 * 1000 * 1000};
        int sig = sigtimedwait(set, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM) {
            interrupted++;
            fprintf(stderr, interrupted == 1 ? "stopping the run gracefully (Ctrl-C again to "
                                               "stop at once)\n"
                                             : "stopping the run now\n");
            snprintf(path, sizeof path, "/runs/%lld/stop", run_id);
            json_t *mode = json_pack("{s:s}", "mode", interrupted == 1 ? "graceful" : "immediate");
            json_t *r2 = NULL;
            call(rm, "POST", path, mode, &r2);
            json_decref(r2);
            json_decref(mode);
        }
        snprintf(path, sizeof path, "/runs/%lld", run_id);
        json_t *next = NULL;
        long st = call(rm, "GET", path, NULL, &next);
        if (st != 200) {
            json_decref(next);
            /* A server restarting or a network blip: keep trying for a while. */
            if (++failures > 20) {
                fprintf(stderr, "stampede remote: lost the server: %s\n",
                        st ? "unexpected answer" : rm->err);
                return -1;
            }
            continue;
        }
        failures = 0;
        json_decref(*ans);
        *ans = next;
    }
}

int sp_cmd_remote(int argc, char **argv)
{
    remote rm = {0};
    remote_args ra = {.body = json_object()};
    json_t *ans = NULL;
    int blocked = 0;
    sigset_t set, old;

    int code = parse_args(argc, argv, &rm, &ra);
    if (code >= 0)
        goto out;
    code = 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(rm.curl = curl_easy_init())) {
        fprintf(stderr, "stampede remote: cannot initialise libcurl\n");
        goto out;
    }
    long long test_id = find_test(&rm, ra.test);
    if (!test_id)
        goto out;

    char path[128];
    snprintf(path, sizeof path, "/tests/%lld/runs", test_id);
    long st = call(&rm, "POST", path, ra.body, &ans);
    if (st != 201) {
        if (st == 0)
            fprintf(stderr, "stampede remote: cannot reach %s: %s\n", rm.server, rm.err);
        else
            print_error("the run could not start", st, ans);
        goto out;
    }
    long long run_id = json_integer_value(json_object_get(ans, "id"));
    if (!ra.quiet)
        fprintf(stderr, "run %lld of %s started on %s\n", run_id,
                json_string_value(json_object_get(ans, "test_name")) ?: "?", rm.server);

    /* From here on Ctrl-C stops the run on the server rather than this process. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    blocked = 1;
    int interrupted = follow_run(&rm, run_id, &ans, ra.quiet, &set);
    if (interrupted < 0)
        goto out;
    print_summary(ans);
    const char *status = json_string_value(json_object_get(ans, "status"));
    /* Only passed is a success: failed, stopped, aborted, incomplete (the server could not store
     * all of the run's results) and any status this client does not know are 1. */
    double failed = unaccepted_failures(ans, ra.allow_failures);
    if (interrupted)
        code = 130;
    else if (status && strcmp(status, "passed") == 0 && failed > 0)
        code = 1;
    else if (status && strcmp(status, "passed") == 0)
        code = 0;
    else if (status && strcmp(status, "error") == 0)
        code = 2;
    else
        code = 1;
out:
    if (blocked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rm.curl)
        curl_easy_cleanup(rm.curl);
    json_decref(ans);
    json_decref(ra.body);
    free(ra.server);
    return code;
}
