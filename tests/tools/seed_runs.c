/*
 * seed_runs - fills a Stampede database with finished runs through server/store, for the
 * dashboard's load-time test: T tests, and R runs spread over them, each with a few stored
 * seconds, verdicts and a summary as a real run writes them.
 *
 * Usage: seed_runs DB_PATH TESTS RUNS BASE_URL
 * Prints {"tests": T, "runs": R, "ms": M} on stdout; exits 1 with a message on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "store/store.h"

static int fail(const char *what, sp_store *s)
{
    fprintf(stderr, "seed_runs: %s: %s\n", what, s ? sp_store_errmsg(s) : "");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: seed_runs DB_PATH TESTS RUNS BASE_URL\n");
        return 2;
    }
    int ntests = atoi(argv[2]), nruns = atoi(argv[3]);
    if (ntests < 1 || nruns < 0) {
        fprintf(stderr, "seed_runs: TESTS must be 1 or more, RUNS 0 or more\n");
        return 2;
    }
    char err[256] = "";
    sp_store *s = NULL;
    if (sp_store_open(&s, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "seed_runs: %s\n", err);
        return 1;
    }
    uint64_t t0 = sp_wall_ms();
    int64_t *ids = calloc((size_t)ntests, sizeof *ids);
    for (int i = 0; i < ntests; i++) {
        char def[1024];
        snprintf(
            def, sizeof def,
            "{\"name\": \"Seeded test %d\", \"base_url\": \"%s\", \"users\": [{\"name\": \"u\","
            " \"tasks\": [{\"steps\": [{\"request\": {\"url\": \"/api/v1/products\", \"name\":"
            " \"GET /products\"}}]}]}], \"load\": {\"users\": 1, \"duration\": \"3s\"},"
            " \"thresholds\": [\"p95 < 300ms\"]}",
            i + 1, argv[4]);
        char name[64];
        snprintf(name, sizeof name, "Seeded test %d", i + 1);
        if (sp_store_test_create(s, name, def, "seed", &ids[i], err, sizeof err) != 0)
            return fail(err, s);
    }
    const char *names[] = {"GET /products"};
    for (int r = 0; r < nruns; r++) {
        int64_t run = 0;
        if (sp_store_run_create(s, ids[r % ntests], 0, "seed", NULL, &run, NULL, err, sizeof err))
            return fail(err, s);
        if (sp_store_run_names_set(s, run, names, 1) ||
            sp_store_run_set_status(s, run, SP_RUN_RUNNING))
            return fail("start", s);
        double p95 = 20.0 + (r * 37 % 100);
        for (int sec = 0; sec < 3; sec++) {
            sp_store_tick tick = {.active_vus = 1, .target_vus = 1, .iterations = 10};
            sp_store_second row = {0,
                                   10,
                                   0,
                                   5000,
                                   (uint64_t)(p95 * 1000),
                                   (uint64_t)(p95 * 1200),
                                   (uint64_t)(p95 * 1500),
                                   1000,
                                   200,
                                   NULL,
                                   0,
                                   NULL,
                                   0};
            if (sp_store_run_second_add(s, run, sec, &tick, &row, 1))
                return fail("second", s);
        }
        int passed = p95 < 300 && r % 7 != 0;
        json_t *verdicts = json_pack("[{s:s, s:b, s:f, s:s, s:n}]", "threshold", "p95 < 300ms",
                                     "passed", passed, "measured", p95, "metric", "p95", "name");
        json_t *lat =
            json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "min", 1.0, "avg", 5.0, "p50", 5.0,
                      "p90", p95 * 0.9, "p95", p95, "p99", p95 * 1.2, "max", p95 * 1.5);
        json_t *total = json_pack("{s:s, s:i, s:i, s:f, s:f, s:O}", "name", "Total", "requests", 30,
                                  "failures", 0, "rps", 10.0, "error_rate", 0.0, "latency_ms", lat);
        json_t *summary =
            json_pack("{s:f, s:o, s:[{s:s, s:i, s:i, s:f, s:f, s:o}]}", "duration_s", 3.0, "total",
                      total, "names", "name", "GET /products", "requests", 30, "failures", 0, "rps",
                      10.0, "error_rate", 0.0, "latency_ms", lat); /* "o" steals total and lat */
        int rc = sp_store_run_finish(s, run, passed ? SP_RUN_PASSED : SP_RUN_FAILED, verdicts,
                                     summary, NULL);
        json_decref(verdicts);
        json_decref(summary);
        if (rc)
            return fail("finish", s);
    }
    printf("{\"tests\": %d, \"runs\": %d, \"ms\": %llu}\n", ntests, nruns,
           (unsigned long long)(sp_wall_ms() - t0));
    free(ids);
    sp_store_close(s);
    return 0;
}
