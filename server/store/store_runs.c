/*
 * store_runs.c - runs: create, name, start, finish, read, list, and crash recovery (store.h,
 * "Runs"). A run's per-second data is in store_series.c.
 */
#include <string.h>

#include "engine/definition.h"
#include "store/sql.h"
#include "store/store.h"
#include "store/store_private.h"

static const char *const status_names[SP_RUN_STATUS_COUNT] = {
    [SP_RUN_QUEUED] = "queued",     [SP_RUN_RUNNING] = "running",
    [SP_RUN_PASSED] = "passed",     [SP_RUN_FAILED] = "failed",
    [SP_RUN_STOPPED] = "stopped",   [SP_RUN_ABORTED] = "aborted",
    [SP_RUN_ERROR] = "error",       [SP_RUN_INCOMPLETE] = "incomplete", /* since migration 0005 */
    [SP_RUN_DEGRADED] = "degraded",                                     /* since migration 0010 */
};

/* The RUN_COLUMNS of store.c's run statements, from column 0. */
#define RUN_SPEC                                                                                   \
    "id:i test_id:i test_name:s revision:i status:s started_by:s created_at:i started_at:i "       \
    "ended_at:i overrides:j verdicts:j error:s origin:s schedule_id:i fire_at:i fire_missed:b "    \
    "baseline:j"

const char *sp_store_run_status_name(sp_run_status st)
{
    return (unsigned)st < SP_RUN_STATUS_COUNT ? status_names[st] : NULL;
}

int sp_store_run_status_parse(const char *name)
{
    for (int i = 0; name && i < SP_RUN_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

int sp_store_run_create(sp_store *s, int64_t test_id, int revision, const char *started_by,
                        const json_t *overrides, int64_t *run_id, int *revision_out, char *err,
                        size_t errlen)
{
    return sp_store_run_create_as(s, test_id, revision, started_by, overrides, NULL, run_id,
                                  revision_out, err, errlen);
}

int sp_store_run_create_as(sp_store *s, int64_t test_id, int revision, const char *started_by,
                           const json_t *overrides, const sp_store_run_origin *origin,
                           int64_t *run_id, int *revision_out, char *err, size_t errlen)
{
    if (store_forked(s))
        return SP_ESTATE;
    if (revision < 0)
        return SP_EINVAL;
    sp_sql *q = s->sql;
    int64_t id = 0, head = 0;
    int ret = sp_sql_begin(q);
    if (ret)
        return ret;
    ret = sp_sql_one_int(q, Q_TEST_HEAD, &head, "l", test_id);
    if (ret == SP_ENOTFOUND) {
        store_seterr(err, errlen, "no test with id %lld", (long long)test_id);
        goto out;
    }
    if (ret) {
        ret = store_dberr(s, ret, err, errlen);
        goto out;
    }
    if (revision == 0)
        revision = (int)head;
    if (revision > head) {
        store_seterr(err, errlen, "test %lld has no revision %d", (long long)test_id, revision);
        ret = SP_ENOTFOUND;
        goto out;
    }
    if (origin)
        ret = sp_sql_run(q, Q_RUN_INSERT_SCHEDULED, "lisljlli", test_id, revision, started_by,
                         sp_wall_ms(), overrides, origin->schedule_id, origin->fire_at,
                         origin->missed ? 1 : 0);
    else
        ret = sp_sql_run(q, Q_RUN_INSERT, "lislj", test_id, revision, started_by, sp_wall_ms(),
                         overrides);
    if (ret) {
        ret = store_dberr(s, ret, err, errlen);
        goto out;
    }
    id = sp_sql_last_id(q);
    ret = sp_sql_commit(q);
out:
    if (ret) {
        sp_sql_rollback(q);
        return ret;
    }
    if (run_id)
        *run_id = id;
    if (revision_out)
        *revision_out = revision;
    return 0;
}

int sp_store_run_names_set(sp_store *s, int64_t run_id, const char *const *names, size_t n)
{
    if (store_forked(s))
        return SP_ESTATE;
    if (n > SP_DEF_MAX_NAMES)
        return SP_ELIMIT;
    for (size_t i = 0; i < n; i++)
        if (!names[i])
            return SP_EINVAL;
    sp_sql *q = s->sql;
    int ret = sp_sql_begin(q);
    if (ret)
        return ret;
    for (size_t i = 0; i < n && !ret; i++) {
        ret = sp_sql_run(q, Q_RUN_NAME_INSERT, "lls", run_id, (int64_t)i, names[i]);
        ret = store_child_err(s, ret, SP_ENOTFOUND);
    }
    return sp_sql_end(q, ret);
}

int sp_store_run_name_kinds_set(sp_store *s, int64_t run_id, const uint8_t *kinds, size_t n)
{
    if (store_forked(s))
        return SP_ESTATE;
    if (n > SP_DEF_MAX_NAMES)
        return SP_ELIMIT;
    sp_sql *q = s->sql;
    int ret = sp_sql_begin(q);
    if (ret)
        return ret;
    for (size_t i = 0; i < n && !ret; i++)
        if (kinds[i] == SP_NAME_GROUP)
            ret = sp_sql_run(q, Q_RUN_NAME_GROUP, "ll", run_id, (int64_t)i);
    return sp_sql_end(q, ret);
}

/* After an UPDATE ... WHERE id = ? AND status ... changed nothing: was the run missing, or in
 * the wrong state? */
static int run_missing_or_state(sp_store *s, int64_t run_id)
{
    int e = store_row_exists(s, Q_RUN_EXISTS, run_id);
    if (e < 0)
        return e;
    sp_sql_setmsg(s->sql, "%s", e ? "the run is not in a state that allows this" : "no such run");
    return e ? SP_ESTATE : SP_ENOTFOUND;
}

int sp_store_run_set_status(sp_store *s, int64_t run_id, sp_run_status status)
{
    if (store_forked(s))
        return SP_ESTATE;
    if (status != SP_RUN_RUNNING)
        return SP_EINVAL;
    int ret = sp_sql_run(s->sql, Q_RUN_START, "ll", run_id, sp_wall_ms());
    if (ret)
        return ret;
    return sp_sql_changes(s->sql) ? 0 : run_missing_or_state(s, run_id);
}

int sp_store_run_finish(sp_store *s, int64_t run_id, sp_run_status status, const json_t *verdicts,
                        const json_t *summary, const char *error)
{
    if (store_forked(s))
        return SP_ESTATE;
    if (status < SP_RUN_PASSED || status >= SP_RUN_STATUS_COUNT)
        return SP_EINVAL;
    int ret = sp_sql_run(s->sql, Q_RUN_FINISH, "lsljjs", run_id, status_names[status], sp_wall_ms(),
                         verdicts, summary, error);
    if (ret)
        return ret;
    return sp_sql_changes(s->sql) ? 0 : run_missing_or_state(s, run_id);
}

int sp_store_run_get(sp_store *s, int64_t run_id, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    sp_sql *q = s->sql;
    sqlite3_stmt *st = sp_sql_query(q, Q_RUN_GET, "l", run_id);
    int ret = sp_sql_first(q, st);
    json_t *o = ret ? NULL : sp_sql_row(st, RUN_SPEC " summary:j");
    sp_sql_done(st);
    if (ret)
        return ret;
    json_t *names = json_array(), *groups = json_array();
    json_object_set_new(o, "names", names);
    /* Names that are groups (timed runs of steps), listed again apart. */
    json_object_set_new(o, "groups", groups);
    st = sp_sql_query(q, Q_RUN_NAMES, "ll", run_id, (int64_t)-1);
    if (!st) {
        ret = SP_EIO;
        goto out;
    }
    while ((ret = sp_sql_next(q, st)) > 0) {
        json_array_append_new(names, sp_sql_col(st, 1, 's'));
        const unsigned char *kind = sqlite3_column_text(st, 2);
        if (kind && strcmp((const char *)kind, "group") == 0)
            json_array_append_new(groups, sp_sql_col(st, 1, 's'));
    }
    sp_sql_done(st);
    if (ret)
        goto out;
    st = sp_sql_query(q, Q_RUN_LAST_SECOND, "l", run_id);
    ret = sp_sql_first(q, st);
    if (!ret)
        json_object_set_new(o, "last_second", sp_sql_col(st, 0, 'i'));
    sp_sql_done(st);
    if (!ret) {
        json_t *changes = NULL;
        ret = sp_sql_rows(q, sp_sql_query(q, Q_LOAD_READ, "l", run_id),
                          "at:i elapsed_ms:i target:n ramp_ms:i by:s", &changes);
        if (!ret)
            json_object_set_new(o, "load_changes", changes); /* steals changes */
    }
out:
    if (ret) {
        json_decref(o);
        return ret;
    }
    *out = o;
    return 0;
}

void sp_store_run_filter_init(sp_store_run_filter *f)
{
    memset(f, 0, sizeof *f);
    f->status = -1;
}

int sp_store_run_list(sp_store *s, const sp_store_run_filter *f, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    if (f->status >= SP_RUN_STATUS_COUNT || f->offset < 0)
        return SP_EINVAL;
    sp_sql *q = s->sql;
    /* ?1 to ?4 are the filter (store.c's RUN_FILTER), the same in both statements. */
    const char *status = f->status >= 0 ? status_names[f->status] : NULL;
    json_t *items = NULL;
    int ret =
        sp_sql_rows(q,
                    sp_sql_query(q, Q_RUN_LIST, "lsllsii", f->test_id, status, f->created_from,
                                 f->created_to, f->origin, store_clamp_limit(f->limit), f->offset),
                    RUN_SPEC " requests:i rps:n error_rate:n p95:n duration_s:n", &items);
    int64_t total = 0;
    if (!ret)
        ret = sp_sql_one_int(q, Q_RUN_COUNT, &total, "lslls", f->test_id, status, f->created_from,
                             f->created_to, f->origin);
    if (ret) {
        json_decref(items);
        return ret;
    }
    *out = json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total); /* steals items */
    return 0;
}

int sp_store_runs_mark_aborted(sp_store *s, int *n)
{
    if (n)
        *n = 0;
    if (store_forked(s))
        return SP_ESTATE;
    int ret = sp_sql_run(s->sql, Q_RUN_ABORT, "ls", sp_wall_ms(),
                         "the server stopped while the run was going");
    if (ret)
        return ret;
    if (n)
        *n = sp_sql_changes(s->sql);
    return 0;
}

int sp_store_run_last_passed(sp_store *s, int64_t test_id, int64_t before_run_id, int64_t *run_id)
{
    *run_id = 0;
    if (store_forked(s))
        return SP_ESTATE;
    return sp_sql_one_int(s->sql, Q_RUN_LAST_PASSED, run_id, "ll", test_id, before_run_id);
}

int sp_store_run_baseline_set(sp_store *s, int64_t run_id, const json_t *baseline)
{
    if (store_forked(s))
        return SP_ESTATE;
    int ret = sp_sql_run(s->sql, Q_RUN_BASELINE_SET, "lj", run_id, baseline);
    if (ret)
        return ret;
    return sp_sql_changes(s->sql) ? 0 : SP_ENOTFOUND;
}
