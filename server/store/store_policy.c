/*
 * store_policy.c - the policy rows: the target allowlist and the caps per role (store.h,
 * "Policy"; docs/security.md). Each setter replaces what it covers in one transaction.
 */
#include "store/sql.h"
#include "store/store.h"
#include "store/store_private.h"

/* The columns of Q_CAPS_LIST after the role. */
#define CAPS_SPEC "max_vus:i max_rate:n max_duration_s:i max_concurrent_runs:i"

/* The rows of statement id through fn into container (stolen): *out on success. */
static int read_into(sp_store *s, int id, int (*fn)(sqlite3_stmt *st, void *container),
                     json_t *container, json_t **out)
{
    *out = NULL;
    int rc = store_forked(s) ? SP_ESTATE
                             : sp_sql_each(s->sql, sp_sql_query(s->sql, id, ""), fn, container);
    if (rc) {
        json_decref(container);
        return rc;
    }
    *out = container;
    return 0;
}

static int add_entry(sqlite3_stmt *st, void *list)
{
    json_array_append_new(list, sp_sql_col(st, 0, 's')); /* steals the string */
    return 0;
}

int sp_store_allowlist_get(sp_store *s, json_t **out)
{
    return read_into(s, Q_ALLOW_LIST, add_entry, json_array(), out);
}

int sp_store_allowlist_set(sp_store *s, const json_t *entries)
{
    sp_sql *q = s->sql;
    int ret = store_begin(s);
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
    return sp_sql_end(q, ret);
}

static json_t *caps_zero(void)
{
    return json_pack("{s:i, s:f, s:i, s:i}", "max_vus", 0, "max_rate", 0.0, "max_duration_s", 0,
                     "max_concurrent_runs", 0);
}

static int add_caps(sqlite3_stmt *st, void *caps)
{
    const char *role = (const char *)sqlite3_column_text(st, 0);
    json_t *c = json_object();
    sp_sql_row_add(c, st, 1, CAPS_SPEC);
    json_object_set_new(caps, role ? role : "?", c); /* steals c */
    return 0;
}

int sp_store_caps_get(sp_store *s, json_t **out)
{
    json_t *o = json_pack("{s:o, s:o, s:o}", "admin", caps_zero(), "tester", caps_zero(), "viewer",
                          caps_zero());
    return read_into(s, Q_CAPS_LIST, add_caps, o, out);
}

int sp_store_caps_set(sp_store *s, const json_t *caps)
{
    sp_sql *q = s->sql;
    int ret = store_begin(s);
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
    return sp_sql_end(q, ret);
}
