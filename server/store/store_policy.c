/*
 * store_policy.c - the policy rows: the target allowlist and the caps per role (store.h,
 * "Policy"; docs/security.md). Each setter replaces what it covers in one transaction.
 */
#include "store/sql.h"
#include "store/store.h"
#include "store/store_private.h"

/* The columns of Q_CAPS_LIST after the role. */
#define CAPS_SPEC "max_vus:i max_rate:n max_duration_s:i max_concurrent_runs:i"

int sp_store_allowlist_get(sp_store *s, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = sp_sql_query(s->sql, Q_ALLOW_LIST, "");
    if (!st)
        return SP_EIO;
    json_t *a = json_array();
    int rc;
    while ((rc = sp_sql_next(s->sql, st)) > 0)
        json_array_append_new(a, sp_sql_col(st, 0, 's'));
    sp_sql_done(st);
    if (rc < 0) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

int sp_store_allowlist_set(sp_store *s, const json_t *entries)
{
    if (store_forked(s))
        return SP_ESTATE;
    sp_sql *q = s->sql;
    int ret = sp_sql_begin(q);
    if (ret)
        return ret;
    ret = sp_sql_run(q, Q_ALLOW_CLEAR, "");
    size_t i;
    json_t *v;
    json_array_foreach(entries, i, v)
    {
        if (ret)
            break;
        ret = json_is_string(v)
                  ? sp_sql_run(q, Q_ALLOW_INSERT, "ls", (int64_t)i, json_string_value(v))
                  : SP_EINVAL;
    }
    if (!ret)
        ret = sp_sql_commit(q);
    if (ret)
        sp_sql_rollback(q);
    return ret;
}

static json_t *caps_zero(void)
{
    return json_pack("{s:i, s:f, s:i, s:i}", "max_vus", 0, "max_rate", 0.0, "max_duration_s", 0,
                     "max_concurrent_runs", 0);
}

int sp_store_caps_get(sp_store *s, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = sp_sql_query(s->sql, Q_CAPS_LIST, "");
    if (!st)
        return SP_EIO;
    json_t *o = json_pack("{s:o, s:o, s:o}", "admin", caps_zero(), "tester", caps_zero(), "viewer",
                          caps_zero());
    int rc;
    while ((rc = sp_sql_next(s->sql, st)) > 0) {
        const char *role = (const char *)sqlite3_column_text(st, 0);
        json_t *c = json_object();
        sp_sql_row_add(c, st, 1, CAPS_SPEC);
        json_object_set_new(o, role ? role : "?", c); /* steals c */
    }
    sp_sql_done(st);
    if (rc < 0) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

int sp_store_caps_set(sp_store *s, const json_t *caps)
{
    if (store_forked(s))
        return SP_ESTATE;
    sp_sql *q = s->sql;
    int ret = sp_sql_begin(q);
    if (ret)
        return ret;
    const char *role;
    json_t *c;
    json_object_foreach((json_t *)caps, role, c)
    {
        ret = sp_sql_run(q, Q_CAPS_UPSERT, "slfll", role,
                         (int64_t)json_integer_value(json_object_get(c, "max_vus")),
                         json_number_value(json_object_get(c, "max_rate")),
                         (int64_t)json_integer_value(json_object_get(c, "max_duration_s")),
                         (int64_t)json_integer_value(json_object_get(c, "max_concurrent_runs")));
        if (ret)
            break;
    }
    if (!ret)
        ret = sp_sql_commit(q);
    if (ret)
        sp_sql_rollback(q);
    return ret;
}
