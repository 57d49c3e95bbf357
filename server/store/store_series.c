/*
 * store_series.c - a run's series (store.h, "Series"): the per-second rows the aggregator
 * writes once a second, the per-minute histograms, the failure messages, and reading them back
 * in columns for the charts. Counts by status code and by error kind, and histogram buckets,
 * are stored as sparse varint blobs (docs/storage.md, "Encodings").
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sql.h"
#include "store/store.h"
#include "store/store_private.h"

/* ---- Sparse varint encoding (docs/storage.md) ---- */

static void put_varint(sp_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        unsigned char byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    (void)sp_buf_add(b, tmp, n);
}

static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        unsigned char byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/*
 * Encodes the non-zero entries of v[0..n) as (gap, count) varint pairs, where gap is the
 * distance from the entry after the previous non-zero one. Dense runs of buckets then cost one
 * byte of gap each. Returns the number of non-zero entries.
 */
static size_t encode_sparse(sp_buf *b, const uint64_t *v, size_t n)
{
    size_t next = 0, nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i])
            continue;
        put_varint(b, i - next);
        put_varint(b, v[i]);
        next = i + 1;
        nonzero++;
    }
    return nonzero;
}

/* Calls fn(ctx, index, count) for each pair of a sparse blob. -1 on a malformed blob or an
 * index at or past n. */
static int decode_sparse(const unsigned char *p, const unsigned char *end, size_t n,
                         void (*fn)(void *ctx, size_t index, uint64_t count), void *ctx)
{
    uint64_t next = 0;
    while (p < end) {
        uint64_t gap, count;
        if (get_varint(&p, end, &gap) || get_varint(&p, end, &count))
            return -1;
        if (gap >= n || next + gap >= n)
            return -1;
        fn(ctx, (size_t)(next + gap), count);
        next += gap + 1;
    }
    return 0;
}

/* Encodes v[0..n) into b (reset first): the blob's bytes, or NULL when every entry is zero or
 * there is no array, which is stored as NULL. */
static const void *sparse_blob(sp_buf *b, const uint64_t *v, size_t n)
{
    sp_buf_reset(b);
    return v && encode_sparse(b, v, n) ? b->p : NULL;
}

int sp_store_run_second_add(sp_store *s, int64_t run_id, int64_t second, const sp_store_tick *tick,
                            const sp_store_second *names, size_t n)
{
    if (store_forked(s))
        return SP_ESTATE;
    if (second < 0)
        return SP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (names[i].nstatus > SP_STATUS_MAX || names[i].nerror_kinds > SP_STORE_MAX_ERROR_KINDS)
            return SP_EINVAL;
    sp_sql *q = s->sql;
    int ret = sp_sql_begin(q);
    if (ret)
        return ret;
    if (tick) {
        int lat = tick->requests > 0;
        ret = sp_sql_run(q, Q_TICK_INSERT, "lllllllllllfls", run_id, second,
                         (int64_t)tick->active_vus, (int64_t)tick->target_vus,
                         store_i64(tick->iterations), store_i64(tick->dropped),
                         store_i64(tick->lag_us_max), lat ? store_i64(tick->p50_us) : -1,
                         lat ? store_i64(tick->p95_us) : -1, lat ? store_i64(tick->p99_us) : -1,
                         lat ? store_i64(tick->max_us) : -1,
                         tick->open && tick->target_rate >= 0 ? tick->target_rate : -1.0,
                         tick->open ? store_i64(tick->arrivals) : -1, tick->locations);
        ret = store_child_err(s, ret, SP_ENOTFOUND);
    }
    for (size_t i = 0; i < n && !ret; i++) {
        const sp_store_second *x = &names[i];
        const void *status = sparse_blob(&s->blob_a, x->status, x->nstatus);
        const void *kinds = sparse_blob(&s->blob_b, x->error_kinds, x->nerror_kinds);
        ret = sp_sql_run(q, Q_SECOND_INSERT, "lllllllllllbb", run_id, second, (int64_t)x->name_id,
                         store_i64(x->count), store_i64(x->errors), store_i64(x->p50_us),
                         store_i64(x->p95_us), store_i64(x->p99_us), store_i64(x->max_us),
                         store_i64(x->bytes_in), store_i64(x->bytes_out), status,
                         (int)s->blob_a.len, kinds, (int)s->blob_b.len);
        ret = store_child_err(s, ret, SP_EINVAL);
    }
    return sp_sql_end(q, ret);
}

int sp_store_run_minute_hist_add(sp_store *s, int64_t run_id, int64_t minute,
                                 const sp_store_hist *hists, size_t n)
{
    if (store_forked(s))
        return SP_ESTATE;
    if (minute < 0)
        return SP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (hists[i].nbuckets > SP_STORE_HIST_MAX_BUCKETS ||
            (hists[i].nbuckets && !hists[i].buckets))
            return SP_EINVAL;
    sp_sql *q = s->sql;
    sp_buf b;
    /* Two 10-byte varints per bucket at most, plus the layout varint. */
    sp_buf_init(&b, (size_t)SP_STORE_HIST_MAX_BUCKETS * 20 + 10);
    int ret = sp_sql_begin(q);
    for (size_t i = 0; i < n && !ret; i++) {
        const sp_store_hist *h = &hists[i];
        uint64_t total = 0;
        for (size_t k = 0; k < h->nbuckets; k++)
            total += h->buckets[k];
        /* The layout (bucket count) leads the blob, so a reader with another layout can tell. */
        sp_buf_reset(&b);
        put_varint(&b, h->nbuckets);
        encode_sparse(&b, h->buckets, h->nbuckets);
        ret = sp_sql_run(q, Q_HIST_UPSERT, "llllb", run_id, minute, (int64_t)h->name_id,
                         store_i64(total), b.p, (int)b.len);
        ret = store_child_err(s, ret, SP_EINVAL);
    }
    sp_buf_release(&b);
    return sp_sql_end(q, ret);
}

struct add_ctx {
    uint64_t *buckets;
    uint64_t total;
};

static void add_bucket(void *ctx, size_t index, uint64_t count)
{
    struct add_ctx *a = ctx;
    a->buckets[index] += count;
    a->total += count;
}

int sp_store_window_hist(sp_store *s, int64_t run_id, int64_t name_id, int64_t from_minute,
                         int64_t to_minute, uint64_t *buckets, size_t nbuckets, uint64_t *total)
{
    if (total)
        *total = 0;
    if (store_forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = sp_sql_query(s->sql, Q_HIST_WINDOW, "llll", run_id, from_minute, to_minute,
                                    name_id < 0 ? (int64_t)-1 : name_id);
    if (!st)
        return SP_EIO;
    struct add_ctx a = {buckets, 0};
    int ret = 0, rc;
    while ((rc = sp_sql_next(s->sql, st)) > 0) {
        const unsigned char *p = sqlite3_column_blob(st, 0);
        const unsigned char *end = p + sqlite3_column_bytes(st, 0);
        uint64_t layout;
        if (!p || get_varint(&p, end, &layout) || layout != nbuckets ||
            decode_sparse(p, end, nbuckets, add_bucket, &a)) {
            sp_sql_setmsg(s->sql, "a stored histogram is corrupt or has another bucket layout");
            ret = SP_EIO;
            break;
        }
    }
    if (!ret && rc < 0)
        ret = rc;
    sp_sql_done(st);
    if (total)
        *total = a.total;
    return ret;
}
/* The run_seconds columns read back, by position in Q_SECONDS_READ (NULL: not a series). */
static const char *const series_cols[] = {"second", NULL,  "count", "errors",   "p50",
                                          "p95",    "p99", "max",   "bytes_in", "bytes_out"};

/*
 * The series of one request name while it is being read back. Counts by status code and by
 * error kind are kept in columns too ({"200": [...], "500": [...]}), one array per code that
 * occurs, rather than one object per second: a second then costs a few array slots instead of a
 * hash table, and the charts draw one line per code anyway.
 */
struct name_series {
    json_t *obj;                             /* the name's object in "names" (borrowed) */
    json_t *cols[SP_ARRAY_LEN(series_cols)]; /* the arrays of series_cols (borrowed) */
    json_t *status, *kinds;                  /* objects of columns (borrowed) */
    size_t rows;                             /* seconds appended so far */
};

/* Appends count to the column key of obj for the current row, padding a new column (or one
 * that skipped seconds) with zeros so that every column has one entry per second. */
static void append_keyed(json_t *obj, size_t row, size_t index, uint64_t count)
{
    char key[24];
    snprintf(key, sizeof key, "%zu", index);
    json_t *arr = json_object_get(obj, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(obj, key, arr);
    }
    while (json_array_size(arr) < row)
        json_array_append_new(arr, json_integer(0));
    json_array_append_new(arr, json_integer(store_i64(count)));
}

static void status_pair(void *ctx, size_t index, uint64_t count)
{
    struct name_series *ns = ctx;
    append_keyed(ns->status, ns->rows, index, count);
}

static void kind_pair(void *ctx, size_t index, uint64_t count)
{
    struct name_series *ns = ctx;
    append_keyed(ns->kinds, ns->rows, index, count);
}

static void decode_col(sqlite3_stmt *st, int i, size_t n,
                       void (*fn)(void *ctx, size_t index, uint64_t count), void *ctx)
{
    const unsigned char *p = sqlite3_column_blob(st, i);
    if (p)
        (void)decode_sparse(p, p + sqlite3_column_bytes(st, i), n, fn, ctx);
}

/* Pads every column of obj to rows entries. */
static void pad_keyed(json_t *obj, size_t rows)
{
    const char *key;
    json_t *arr;
    json_object_foreach(obj, key, arr)
    {
        while (json_array_size(arr) < rows)
            json_array_append_new(arr, json_integer(0));
    }
}

static const char *const tick_cols[] = {"second",  "active_vus", "target_vus",  "iterations",
                                        "dropped", "lag_us_max", "p50",         "p95",
                                        "p99",     "max",        "target_rate", "arrivals"};
/* How each column of tick_cols is read ('n': a real). */
static const char tick_kinds[] = "iiiiiiiiiini";

int sp_store_run_series(sp_store *s, int64_t run_id, int64_t name_id, int64_t from_second,
                        int64_t to_second, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    int e = store_row_exists(s, Q_RUN_EXISTS, run_id);
    if (e <= 0)
        return e < 0 ? e : SP_ENOTFOUND;
    if (to_second < 0)
        to_second = INT64_MAX;
    if (name_id < 0)
        name_id = -1;
    sp_sql *q = s->sql;
    sqlite3_stmt *tk = sp_sql_query(q, Q_TICKS_READ, "lll", run_id, from_second, to_second),
                 *nm = sp_sql_query(q, Q_RUN_NAMES, "ll", run_id, name_id),
                 *sec = sp_sql_query(q, Q_SECONDS_READ, "llll", run_id, from_second, to_second,
                                     name_id);
    if (!tk || !nm || !sec) {
        sp_sql_done(tk);
        sp_sql_done(nm);
        sp_sql_done(sec);
        return SP_EIO;
    }
    int ret = 0, rc;
    json_t *res = json_object(), *ticks = json_object(), *names = json_array();
    json_object_set_new(res, "ticks", ticks);
    json_object_set_new(res, "names", names);
    struct name_series *by_id = NULL; /* indexed by name id; obj NULL for ids not read */
    size_t nby = 0, cap = 0;
    json_t *tcols[SP_ARRAY_LEN(tick_cols)];

    for (size_t c = 0; c < SP_ARRAY_LEN(tick_cols); c++) {
        tcols[c] = json_array();
        json_object_set_new(ticks, tick_cols[c], tcols[c]);
    }
    /* A run across locations: its seconds by location (a column only when it has some). */
    json_t *locs = json_array();
    int any_loc = 0;
    while ((rc = sp_sql_next(q, tk)) > 0) {
        for (size_t c = 0; c < SP_ARRAY_LEN(tick_cols); c++)
            json_array_append_new(tcols[c], sp_sql_col(tk, (int)c, tick_kinds[c]));
        json_t *l = sp_sql_col(tk, (int)SP_ARRAY_LEN(tick_cols), 'j');
        if (!json_is_object(l)) {
            json_decref(l);
            l = json_null();
        }
        any_loc |= !json_is_null(l);
        json_array_append_new(locs, l);
    }
    if (any_loc)
        json_object_set_new(ticks, "locations", locs);
    else
        json_decref(locs);
    if (rc < 0) {
        ret = rc;
        goto out;
    }

    while ((rc = sp_sql_next(q, nm)) > 0) {
        int64_t id = sqlite3_column_int64(nm, 0);
        if (id < 0 || id >= SP_DEF_MAX_NAMES)
            continue;
        sp_grow((void **)&by_id, &cap, (size_t)id + 1, sizeof *by_id);
        while (nby <= (size_t)id)
            memset(&by_id[nby++], 0, sizeof *by_id);
        struct name_series *ns = &by_id[id];
        ns->obj = json_object();
        json_object_set_new(ns->obj, "id", json_integer(id));
        json_object_set_new(ns->obj, "name", sp_sql_col(nm, 1, 's'));
        const unsigned char *kind = sqlite3_column_text(nm, 2);
        json_object_set_new(ns->obj, "kind", json_string(kind ? (const char *)kind : "request"));
        for (size_t c = 0; c < SP_ARRAY_LEN(series_cols); c++) {
            if (!series_cols[c])
                continue;
            ns->cols[c] = json_array();
            json_object_set_new(ns->obj, series_cols[c], ns->cols[c]);
        }
        ns->status = json_object();
        ns->kinds = json_object();
        json_object_set_new(ns->obj, "status", ns->status);
        json_object_set_new(ns->obj, "error_kinds", ns->kinds);
        json_array_append_new(names, ns->obj);
    }
    if (rc < 0) {
        ret = rc;
        goto out;
    }

    while ((rc = sp_sql_next(q, sec)) > 0) {
        int64_t id = sqlite3_column_int64(sec, 1);
        struct name_series *ns = id >= 0 && (size_t)id < nby ? &by_id[id] : NULL;
        if (!ns || !ns->obj)
            continue;
        for (size_t c = 0; c < SP_ARRAY_LEN(series_cols); c++)
            if (ns->cols[c])
                json_array_append_new(ns->cols[c], sp_sql_col(sec, (int)c, 'i'));
        decode_col(sec, 10, SP_STATUS_MAX, status_pair, ns);
        decode_col(sec, 11, SP_STORE_MAX_ERROR_KINDS, kind_pair, ns);
        ns->rows++;
    }
    if (rc < 0) {
        ret = rc;
        goto out;
    }
    for (size_t i = 0; i < nby; i++) {
        if (by_id[i].obj) {
            pad_keyed(by_id[i].status, by_id[i].rows);
            pad_keyed(by_id[i].kinds, by_id[i].rows);
        }
    }
out:
    sp_sql_done(tk);
    sp_sql_done(nm);
    sp_sql_done(sec);
    free(by_id);
    if (ret) {
        json_decref(res);
        return ret;
    }
    *out = res;
    return 0;
}

int sp_store_run_load_change_add(sp_store *s, int64_t run_id, const sp_store_load_change *c)
{
    if (store_forked(s))
        return SP_ESTATE;
    sp_sql *q = s->sql;
    int ret = sp_sql_begin(q);
    if (!ret) {
        ret = sp_sql_run(q, Q_LOAD_INSERT, "lllfls", run_id, c->at_ms, c->elapsed_ms, c->target,
                         c->ramp_ms, c->by);
        ret = store_child_err(s, ret, SP_ENOTFOUND);
    }
    return sp_sql_end(q, ret);
}

int sp_store_run_load_changes(sp_store *s, int64_t run_id, json_t **out)
{
    return store_rows_of(s, Q_RUN_EXISTS, run_id, Q_LOAD_READ,
                         "at:i elapsed_ms:i target:n ramp_ms:i by:s", out);
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
    int64_t v = sqlite3_column_int64(st, i);
    return v > 0 ? (uint64_t)v : 0;
}

int sp_store_run_seconds_each(sp_store *s, int64_t run_id, sp_store_second_fn fn, void *ctx)
{
    if (store_forked(s))
        return SP_ESTATE;
    int e = store_row_exists(s, Q_RUN_EXISTS, run_id);
    if (e <= 0)
        return e < 0 ? e : SP_ENOTFOUND;
    sqlite3_stmt *st =
        sp_sql_query(s->sql, Q_SECONDS_READ, "llll", run_id, (int64_t)0, INT64_MAX, (int64_t)-1);
    if (!st)
        return SP_EIO;
    int rc;
    while ((rc = sp_sql_next(s->sql, st)) > 0) {
        /* Q_SECONDS_READ: second, name_id, count, errors, p50, p95, p99, max, ... */
        sp_store_second row = {.name_id = (uint32_t)sqlite3_column_int64(st, 1),
                               .count = col_u64(st, 2),
                               .errors = col_u64(st, 3),
                               .p50_us = col_u64(st, 4),
                               .p95_us = col_u64(st, 5),
                               .p99_us = col_u64(st, 6),
                               .max_us = col_u64(st, 7)};
        fn(ctx, sqlite3_column_int64(st, 0), &row);
    }
    sp_sql_done(st);
    return rc < 0 ? rc : 0;
}

int sp_store_run_ticks_each(sp_store *s, int64_t run_id, sp_store_tick_fn fn, void *ctx)
{
    if (store_forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = sp_sql_query(s->sql, Q_TICKS_EACH, "l", run_id);
    if (!st)
        return SP_EIO;
    int rc;
    while ((rc = sp_sql_next(s->sql, st)) > 0) {
        sp_store_tick t = {.lag_us_max = col_u64(st, 1),
                           .has_latency = sqlite3_column_type(st, 2) != SQLITE_NULL,
                           .p50_us = col_u64(st, 2),
                           .p95_us = col_u64(st, 3),
                           .p99_us = col_u64(st, 4)};
        fn(ctx, sqlite3_column_int64(st, 0), &t);
    }
    sp_sql_done(st);
    return rc < 0 ? rc : 0;
}

/* The length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *str, size_t max)
{
    size_t n = strlen(str);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)str[n] & 0xc0) == 0x80)
        n--;
    return n;
}

int sp_store_run_failures_add(sp_store *s, int64_t run_id, const sp_store_failure *f, size_t n)
{
    if (store_forked(s))
        return SP_ESTATE;
    for (size_t i = 0; i < n; i++)
        if (!f[i].message)
            return SP_EINVAL;
    sp_sql *q = s->sql;
    int ret = sp_sql_begin(q);
    for (size_t i = 0; i < n && !ret; i++) {
        ret = sp_sql_run(q, Q_FAIL_UPSERT, "llSl", run_id, (int64_t)f[i].name_id, f[i].message,
                         (int)utf8_cut(f[i].message, SP_FAIL_MSG_MAX), store_i64(f[i].count));
        ret = store_child_err(s, ret, SP_EINVAL);
    }
    return sp_sql_end(q, ret);
}

int sp_store_run_failures(sp_store *s, int64_t run_id, json_t **out)
{
    return store_rows_of(s, Q_RUN_EXISTS, run_id, Q_FAIL_READ, "name:s name_id:i message:s count:i",
                         out);
}
