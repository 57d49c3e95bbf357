/*
 * wire_merge.c - an offline merge of agents' recorded seconds (`stampede agent --record DIR`),
 * to check a run across locations against (tests/integration/agents_merge_offline.test.mjs).
 *
 * usage: wire_merge DEFINITION.json LOCATION=FILE [LOCATION=FILE ...]
 *
 * Each FILE is one agent's recording of one run: records of "<length>\n<frame>\n", each frame a
 * "second" exactly as the agent sent it (docs/distributed.md). Every frame is decoded with
 * engine/wire.c (sp_wire_decode, sp_wire_stats_decode) against the definition's request names,
 * and merged here, bucket by bucket, into per-name counts of the whole run and of each
 * location: its own sums of the buckets, counters and exact min, max and sum, turned into an
 * engine/histogram.c histogram only at the end (sp_hist_add_bucket, sp_hist_set_exact) to read
 * its percentiles. None of the server's merging is used (not sp_stats_merge, sp_hist_merge or
 * the engine's aggregator), so a bug there shows as a difference.
 *
 * Prints one JSON object on stdout:
 *   {"run": ID, "files": {FILE: SECONDS}, "total": FIGS, "locations": {LOCATION: FIGS}}
 *   FIGS = {"requests", "failures", "min_us", "max_us", "sum_us", "p50_us", "p90_us", "p95_us",
 *           "p99_us", "names": {NAME: the same without "names"}}
 * where a scope's own figures are over its request names (groups left out, as the server's
 * totals do) and "names" holds every name with a request. Exits 1 with a message naming the
 * file and the record on anything malformed, a frame of another run, or a second that does not
 * come after the one before it in its file (the recording of a run that resent a second cannot
 * be merged by simple addition, and a test that meets one should know).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/definition.h"
#include "engine/histogram.h"
#include "engine/metrics.h"
#include "engine/wire.h"

typedef struct acc {
    uint64_t *buckets; /* [sp_hist_buckets()] */
    uint64_t requests, failures, min, max, sum;
} acc;

/* A scope: the whole run, or one location; [nnames] per name and [nnames] itself for the sum of
 * its request names. */
typedef struct scope {
    char name[SP_WIRE_MAX_NAME + 1];
    acc *a;
} scope;

static void acc_add(acc *dst, const sp_name_stats *n)
{
    size_t nb = sp_hist_buckets();
    if (!n->requests)
        return;
    for (size_t b = 0; b < nb; b++)
        dst->buckets[b] += sp_hist_bucket_count(n->hist, b);
    uint64_t mn = sp_hist_min(n->hist), mx = sp_hist_max(n->hist);
    if (!dst->requests || mn < dst->min)
        dst->min = mn;
    if (mx > dst->max)
        dst->max = mx;
    dst->sum += sp_hist_sum(n->hist);
    dst->requests += n->requests;
    dst->failures += n->failures;
}

static json_t *figures(const acc *a)
{
    size_t nb = sp_hist_buckets(), first = nb, last = 0;
    sp_hist *h = sp_hist_new();
    for (size_t b = 0; b < nb; b++) {
        if (!a->buckets[b])
            continue;
        sp_hist_add_bucket(h, b, a->buckets[b]);
        if (first == nb)
            first = b;
        last = b;
    }
    if (first < nb && sp_hist_set_exact(h, a->min, a->max, a->sum, first, last) != 0) {
        fprintf(stderr, "wire_merge: the merged min, max and sum do not fit the buckets\n");
        exit(1);
    }
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests",
                          (json_int_t)a->requests, "failures", (json_int_t)a->failures, "min_us",
                          (json_int_t)a->min, "max_us", (json_int_t)a->max, "sum_us",
                          (json_int_t)a->sum, "p50_us", (json_int_t)sp_hist_percentile(h, 50),
                          "p90_us", (json_int_t)sp_hist_percentile(h, 90), "p95_us",
                          (json_int_t)sp_hist_percentile(h, 95), "p99_us",
                          (json_int_t)sp_hist_percentile(h, 99));
    sp_hist_free(h);
    return o;
}

static json_t *scope_json(const scope *sc, const sp_def *def)
{
    json_t *o = figures(&sc->a[def->nnames]);
    json_t *names = json_object();
    for (size_t i = 0; i < def->nnames; i++)
        if (sc->a[i].requests)
            json_object_set_new(names, def->names[i], figures(&sc->a[i]));
    json_object_set_new(o, "names", names);
    return o;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "wire_merge: cannot read %s\n", path);
        exit(1);
    }
    sp_buf b;
    sp_buf_init(&b, (size_t)1 << 31);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (sp_buf_add(&b, chunk, n) != 0) {
            fprintf(stderr, "wire_merge: %s is too large\n", path);
            exit(1);
        }
    fclose(f);
    *len = b.len;
    return b.p ? b.p : sp_strdup("");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: wire_merge DEFINITION.json LOCATION=FILE [LOCATION=FILE ...]\n");
        return 2;
    }
    size_t dlen;
    char *dtext = slurp(argv[1], &dlen);
    sp_overrides ov = SP_OVERRIDES_NONE;
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *def = NULL;
    if (sp_def_load(dtext, dlen, &ov, NULL, &def, &el) != 0) {
        sp_buf e;
        sp_buf_init(&e, 1 << 16);
        sp_errlist_format(&el, &e);
        fprintf(stderr, "wire_merge: %s: %s\n", argv[1], e.p ? e.p : "invalid");
        return 1;
    }
    size_t nb = sp_hist_buckets(), nscopes = 0;
    scope *scopes = sp_calloc((size_t)argc, sizeof *scopes); /* [0]: the whole run */
    json_t *files = json_object();
    long long run = -1;
    sp_stats sec;
    sp_stats_init(&sec, def->nnames);
    for (int f = 1; f < argc; f++) {
        /* argv[1] is the definition: scope 0 is the run's; then one scope per location. */
        size_t k = 0;
        const char *path = NULL;
        if (f > 1) {
            const char *eq = strchr(argv[f], '=');
            size_t ln = eq ? (size_t)(eq - argv[f]) : 0;
            if (!ln || ln > SP_WIRE_MAX_NAME) {
                fprintf(stderr, "wire_merge: '%s' is not LOCATION=FILE\n", argv[f]);
                return 2;
            }
            path = eq + 1;
            for (k = 1; k < nscopes; k++)
                if (strlen(scopes[k].name) == ln && memcmp(scopes[k].name, argv[f], ln) == 0)
                    break;
        }
        if (k == nscopes) {
            snprintf(scopes[k].name, sizeof scopes[k].name, "%.*s",
                     f > 1 ? (int)(path - 1 - argv[f]) : 0, argv[f]);
            scopes[k].a = sp_calloc(def->nnames + 1, sizeof(acc));
            for (size_t i = 0; i <= def->nnames; i++)
                scopes[k].a[i].buckets = sp_calloc(nb, sizeof(uint64_t));
            nscopes++;
        }
        if (f == 1)
            continue;
        size_t len;
        char *text = slurp(path, &len), *p = text, *end = text + len;
        long long last = -1, nrec = 0;
        while (p < end) {
            nrec++;
            char *nl = memchr(p, '\n', (size_t)(end - p));
            char *stop;
            unsigned long long flen = strtoull(p, &stop, 10);
            if (!nl || stop != nl || stop == p || flen > (size_t)(end - nl - 1) ||
                nl[1 + flen] != '\n') {
                fprintf(stderr, "wire_merge: %s, record %lld: not <length>\\n<frame>\\n\n", path,
                        nrec);
                return 1;
            }
            const char *frame = nl + 1;
            p = nl + 1 + flen + 1;
            sp_wire_msg m;
            char err[256] = "";
            int rc = sp_wire_decode(frame, flen, &m, err, sizeof err);
            if (rc == 0 && m.type != SP_WIRE_SECOND) {
                snprintf(err, sizeof err, "a %s, not a second", sp_wire_type_name(m.type));
                rc = SP_EINVAL;
            }
            if (rc == 0)
                rc = sp_wire_stats_decode(m.body, m.body_len, def->nnames, &sec, err, sizeof err);
            if (rc != 0) {
                fprintf(stderr, "wire_merge: %s, record %lld: %s\n", path, nrec, err);
                return 1;
            }
            if (run >= 0 && (long long)m.run_id != run) {
                fprintf(stderr, "wire_merge: %s, record %lld: run %llu, not %lld\n", path, nrec,
                        (unsigned long long)m.run_id, run);
                return 1;
            }
            run = (long long)m.run_id;
            if ((long long)m.second <= last) {
                fprintf(stderr, "wire_merge: %s, record %lld: second %llu after %lld\n", path, nrec,
                        (unsigned long long)m.second, last);
                return 1;
            }
            last = (long long)m.second;
            for (size_t i = 0; i < def->nnames; i++) {
                const sp_name_stats *n = &sec.names[i];
                size_t scs[2] = {0, k};
                for (size_t s = 0; s < 2; s++) {
                    acc_add(&scopes[scs[s]].a[i], n);
                    if (!n->group)
                        acc_add(&scopes[scs[s]].a[def->nnames], n);
                }
            }
            sp_wire_msg_release(&m);
        }
        json_object_set_new(files, path, json_integer(nrec));
        free(text);
    }
    json_t *locs = json_object();
    for (size_t k = 1; k < nscopes; k++)
        json_object_set_new(locs, scopes[k].name, scope_json(&scopes[k], def));
    json_t *out = json_pack("{s:I, s:o, s:o, s:o}", "run", (json_int_t)run, "files", files, "total",
                            scope_json(&scopes[0], def), "locations", locs);
    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
    fputc('\n', stdout);
    json_decref(out);
    for (size_t k = 0; k < nscopes; k++) {
        for (size_t i = 0; i <= def->nnames; i++)
            free(scopes[k].a[i].buckets);
        free(scopes[k].a);
    }
    free(scopes);
    sp_stats_release(&sec);
    sp_def_free(def);
    sp_errlist_release(&el);
    free(dtext);
    return 0;
}
