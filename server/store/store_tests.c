/*
 * store_tests.c - tests, their revisions and their secrets (store.h, "Tests").
 *
 * A save is one BEGIN IMMEDIATE transaction: the test row, a new revision and, through
 * sp_store_test_save(), the replaced secrets, so a failure leaves nothing half-written.
 */
#include <string.h>

#include "store/sql.h"
#include "store/store.h"
#include "store/store_private.h"

/* The columns of Q_TEST_GET, from column 0. */
#define TEST_GET_SPEC                                                                              \
    "id:i name:s created_at:i updated_at:i deleted_at:i revisions:i revision:i revision_name:s "   \
    "definition:s revision_created_at:i revision_created_by:s baseline_run_id:i"
/* The columns of Q_TEST_LIST, from column 0; "deleted_at" follows when deleted tests are
 * listed too. */
#define TEST_ITEM_SPEC "id:i name:s created_at:i updated_at:i revision:i"

/* A failed write of a test's name (code recorded on s): the unique index on live names makes a
 * duplicate SP_ESTATE with a message that names it. */
static int name_taken(sp_store *s, int code, const char *name, char *err, size_t errlen)
{
    if (code == SP_ESTATE && sp_sql_errcode(s->sql) == SQLITE_CONSTRAINT_UNIQUE) {
        sp_sql_setmsg(s->sql, "name in use");
        store_seterr(err, errlen, "a test named \"%s\" already exists", name);
        return SP_ESTATE;
    }
    return store_dberr(s, code, err, errlen);
}

static int save_secrets(sp_store *s, int64_t id, const json_t *secrets, char *err, size_t errlen);

/* Inside a save's transaction: revision `revision` of test id and, when secrets is not NULL,
 * the test's secrets. */
static int add_revision(sp_store *s, int64_t id, int revision, const char *name,
                        const char *definition, const json_t *secrets, const char *by, int64_t now,
                        char *err, size_t errlen)
{
    int ret = sp_sql_run(s->sql, Q_REV_INSERT, "lissls", id, revision, name, definition, now, by);
    if (!ret && secrets)
        ret = save_secrets(s, id, secrets, err, errlen);
    return ret;
}

/* Whether a save may start: SP_ESTATE in a forked child, SP_EINVAL without a name or a
 * definition. */
static int check_save(sp_store *s, const char *name, const char *definition, char *err,
                      size_t errlen)
{
    if (store_forked(s))
        return SP_ESTATE;
    if (!name || !*name || !definition) {
        store_seterr(err, errlen, "a test needs a name and a definition");
        return SP_EINVAL;
    }
    return 0;
}

static int test_create(sp_store *s, const char *name, const char *definition, const json_t *secrets,
                       const char *created_by, int64_t *id_out, char *err, size_t errlen)
{
    int ret = check_save(s, name, definition, err, errlen);
    if (ret)
        return ret;
    sp_sql *q = s->sql;
    int64_t now = sp_wall_ms(), id = 0;
    ret = sp_sql_begin(q);
    if (ret)
        return ret;
    ret = sp_sql_run(q, Q_TEST_INSERT, "sl", name, now);
    if (ret) {
        ret = name_taken(s, ret, name, err, errlen);
    } else {
        id = sp_sql_last_id(q);
        ret = add_revision(s, id, 1, name, definition, secrets, created_by, now, err, errlen);
    }
    ret = sp_sql_end(q, ret);
    if (!ret && id_out)
        *id_out = id;
    return ret;
}

int sp_store_test_create(sp_store *s, const char *name, const char *definition,
                         const char *created_by, int64_t *id_out, char *err, size_t errlen)
{
    return test_create(s, name, definition, NULL, created_by, id_out, err, errlen);
}

static int test_update(sp_store *s, int64_t id, const char *name, const char *definition,
                       const json_t *secrets, const char *updated_by, int *revision_out, char *err,
                       size_t errlen)
{
    int ret = check_save(s, name, definition, err, errlen);
    if (ret)
        return ret;
    sp_sql *q = s->sql;
    int64_t now = sp_wall_ms();
    int revision = 0;
    ret = sp_sql_begin(q);
    if (ret)
        return ret;
    /* The UPDATE ... RETURNING gives the new head revision; no row: no live test. */
    sqlite3_stmt *st = sp_sql_query(q, Q_TEST_BUMP, "lsl", id, name, now);
    int found = st ? sp_sql_next(q, st) : SP_EIO;
    if (found > 0)
        revision = sqlite3_column_int(st, 0);
    ret = found > 0 ? sp_sql_finish(q, st) : found;
    sp_sql_done(st);
    if (found == 0) {
        store_seterr(err, errlen, "no test with id %lld", (long long)id);
        ret = SP_ENOTFOUND;
    } else if (ret) {
        ret = name_taken(s, ret, name, err, errlen);
    } else {
        ret =
            add_revision(s, id, revision, name, definition, secrets, updated_by, now, err, errlen);
    }
    ret = sp_sql_end(q, ret);
    if (!ret && revision_out)
        *revision_out = revision;
    return ret;
}

int sp_store_test_update(sp_store *s, int64_t id, const char *name, const char *definition,
                         const char *updated_by, int *revision_out, char *err, size_t errlen)
{
    return test_update(s, id, name, definition, NULL, updated_by, revision_out, err, errlen);
}

int sp_store_test_save(sp_store *s, int64_t id, const char *name, const char *definition,
                       const json_t *secrets, const char *by, int64_t *id_out, int *revision_out,
                       char *err, size_t errlen)
{
    json_t *none = NULL;
    if (!secrets)
        secrets = none = json_object();
    int rc;
    if (id == 0) {
        rc = test_create(s, name, definition, secrets, by, id_out, err, errlen);
        if (rc == 0 && revision_out)
            *revision_out = 1;
    } else {
        rc = test_update(s, id, name, definition, secrets, by, revision_out, err, errlen);
        if (rc == 0 && id_out)
            *id_out = id;
    }
    json_decref(none);
    return rc;
}

static int add_secret(sqlite3_stmt *st, void *secrets)
{
    json_object_set_new(secrets, (const char *)sqlite3_column_text(st, 0), sp_sql_col(st, 1, 's'));
    return 0;
}

/* Reads a test's secrets into a new object name -> value. */
static int read_secrets(sp_store *s, int64_t id, json_t **out)
{
    *out = NULL;
    json_t *o = json_object();
    int rc = sp_sql_each(s->sql, sp_sql_query(s->sql, Q_SECRET_LIST, "l", id), add_secret, o);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* Inside a transaction: replaces the test's secrets with secrets; a value equal to the mask
 * keeps the value stored under that name. */
static int save_secrets(sp_store *s, int64_t id, const json_t *secrets, char *err, size_t errlen)
{
    json_t *old = NULL;
    int ret = read_secrets(s, id, &old);
    if (ret)
        return ret;
    ret = sp_sql_run(s->sql, Q_SECRET_CLEAR, "l", id);
    if (ret)
        goto out;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)secrets, name, v)
    {
        const char *value = json_string_value(v);
        if (!value) {
            store_seterr(err, errlen, "secret '%s' is not a string", name);
            ret = SP_EINVAL;
            goto out;
        }
        if (strcmp(value, SP_STORE_SECRET_MASK) == 0) {
            value = json_string_value(json_object_get(old, name));
            if (!value) {
                store_seterr(err, errlen,
                             "secret '%s' has no stored value to keep: send its value, not the "
                             "mask",
                             name);
                ret = SP_EINVAL;
                goto out;
            }
        }
        ret = sp_sql_run(s->sql, Q_SECRET_INSERT, "lss", id, name, value);
        if (ret)
            goto out;
    }
out:
    json_decref(old);
    return ret;
}

int sp_store_test_secrets(sp_store *s, int64_t id, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    return read_secrets(s, id, out);
}

int sp_store_test_get(sp_store *s, int64_t id, int revision, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = sp_sql_query(s->sql, Q_TEST_GET, "li", id, revision);
    int ret = sp_sql_first(s->sql, st);
    if (!ret)
        *out = sp_sql_row(st, TEST_GET_SPEC);
    sp_sql_done(st);
    return ret;
}

/* Adds "last_run" ({"id", "status", "created_at", "p95"} or null) and "recent" (the p95 and
 * status of the newest SP_STORE_RECENT_RUNS runs with a result, oldest first) to a test of
 * the list. */
static int add_recent_runs(sp_store *s, json_t *test)
{
    sqlite3_stmt *st = sp_sql_query(s->sql, Q_TEST_RECENT, "li",
                                    (int64_t)json_integer_value(json_object_get(test, "id")),
                                    SP_STORE_RECENT_RUNS);
    if (!st)
        return SP_EIO;
    json_t *recent = json_array();
    json_t *last = json_null();
    int rc;
    while ((rc = sp_sql_next(s->sql, st)) > 0) {
        json_t *r = sp_sql_row(st, "id:i status:s");
        sp_sql_row_add(r, st, 3, "p95:n");
        if (json_is_null(last)) {
            last = json_deep_copy(r);
            json_object_set_new(last, "created_at", sp_sql_col(st, 2, 'i'));
        }
        json_array_insert_new(recent, 0, r); /* steals r; oldest first */
    }
    sp_sql_done(st);
    json_object_set_new(test, "last_run", last); /* steals last */
    json_object_set_new(test, "recent", recent); /* steals recent */
    return rc < 0 ? rc : 0;
}

int sp_store_test_list(sp_store *s, const char *name_filter, int include_deleted, int limit,
                       int offset, json_t **out)
{
    *out = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    if (offset < 0)
        return SP_EINVAL;
    if (name_filter && !*name_filter)
        name_filter = NULL;
    sp_sql *q = s->sql;
    json_t *items = NULL;
    int all = include_deleted != 0;
    int ret = sp_sql_rows(
        q, sp_sql_query(q, Q_TEST_LIST, "isii", all, name_filter, store_clamp_limit(limit), offset),
        all ? TEST_ITEM_SPEC " deleted_at:i" : TEST_ITEM_SPEC, &items);
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o)
    {
        if (ret)
            break;
        ret = add_recent_runs(s, o);
    }
    int64_t total = 0;
    if (!ret)
        ret = sp_sql_one_int(q, Q_TEST_COUNT, &total, "is", all, name_filter);
    if (ret) {
        json_decref(items);
        return ret;
    }
    *out = json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)total); /* steals items */
    return 0;
}

int sp_store_test_delete(sp_store *s, int64_t id)
{
    if (store_forked(s))
        return SP_ESTATE;
    int ret = sp_sql_run(s->sql, Q_TEST_DELETE, "ll", id, sp_wall_ms());
    if (ret)
        return ret;
    return sp_sql_changes(s->sql) ? 0 : SP_ENOTFOUND;
}

int sp_store_test_find(sp_store *s, const char *name, int64_t *id)
{
    *id = 0;
    if (store_forked(s))
        return SP_ESTATE;
    if (!name)
        return SP_EINVAL;
    int64_t found = 0;
    int ret = sp_sql_one_int(s->sql, Q_TEST_FIND, &found, "s", name);
    if (!ret)
        *id = found;
    return ret;
}

int sp_store_test_revisions(sp_store *s, int64_t id, json_t **out)
{
    return store_rows_of(s, Q_TEST_EXISTS, id, Q_TEST_REVS,
                         "revision:i name:s created_at:i created_by:s bytes:i", out);
}

int sp_store_test_baseline_get(sp_store *s, int64_t test_id, int64_t *run_id, json_t **settings)
{
    if (run_id)
        *run_id = 0;
    if (settings)
        *settings = NULL;
    if (store_forked(s))
        return SP_ESTATE;
    sqlite3_stmt *st = sp_sql_query(s->sql, Q_TEST_BASELINE_GET, "l", test_id);
    int ret = sp_sql_first(s->sql, st);
    if (!ret) {
        if (run_id)
            *run_id = sqlite3_column_int64(st, 0);
        if (settings && sqlite3_column_type(st, 1) != SQLITE_NULL) {
            json_t *v = sp_sql_col(st, 1, 'j');
            if (json_is_object(v))
                *settings = v;
            else
                json_decref(v); /* not written by us: read as none */
        }
    }
    sp_sql_done(st);
    return ret;
}

int sp_store_test_baseline_set(sp_store *s, int64_t test_id, int64_t run_id, const json_t *settings)
{
    if (store_forked(s))
        return SP_ESTATE;
    int ret;
    /* A run id of 0 unpins: bound as NULL so the foreign key holds. */
    if (run_id > 0)
        ret = sp_sql_run(s->sql, Q_TEST_BASELINE_SET, "llj", test_id, run_id, settings);
    else
        ret = sp_sql_run(s->sql, Q_TEST_BASELINE_SET, "l-j", test_id, settings);
    if (ret)
        return store_child_err(s, ret, SP_ENOTFOUND);
    return sp_sql_changes(s->sql) ? 0 : SP_ENOTFOUND;
}
