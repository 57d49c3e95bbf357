/*
 * definition.c - see definition.h; docs/test-format.md is the user's reference for the format.
 *
 * Loading is: bound the size, parse with Jansson, apply overrides to the parsed document, bound
 * the nesting depth, then one walk that validates and compiles at the same time. The walk never
 * stops at an error: it records it (path + reason) and goes on with the next field, so a user
 * sees every mistake at once. Whatever it built is kept in the sp_def as it goes, with counts
 * that always describe initialised entries, so that on any error sp_def_free() can tear the
 * partial definition down and the caller gets nothing.
 *
 * VU variables are resolved per user class in two passes: the first collects every name that a
 * let or extract assigns (on_start first, so those slots come first and persist), the second
 * compiles templates against a scope of those names and the data lists.
 *
 * This file holds loading and the top level of the walk; the rest of the walk is in def_*.c,
 * by the part of the document it reads (def_walk.h lists them, with the helpers they share).
 *
 * Jansson references: the document is owned by the sp_def from the moment it is parsed. Every
 * json_object_get / json_array_get / foreach in the walk returns a borrowed reference into it,
 * valid as long as the definition; the few places that create, steal or take references (the
 * overrides, JSON bodies, expect.json's equals) say so where they do it.
 */
#include "engine/definition.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/def_walk.h"

/* ---- data ---- */

static void check_data(sp_dw *c, const json_t *data)
{
    const char *key;
    json_t *list;
    json_object_foreach((json_t *)data, key, list)
    {
        size_t m = sp_dw_path_key(c, key);
        if (!sp_dw_is_ident(key) || sp_dw_is_reserved(key)) {
            sp_dw_err(c,
                      "invalid data list name '%.100s': use letters, digits and '_' (not first a "
                      "digit)",
                      key);
        } else if (!json_is_array(list)) {
            sp_dw_err_type(c, "an array (a list of items)", list);
        } else if (json_array_size(list) == 0) {
            sp_dw_err(c, "the list is empty: give at least one item");
        } else {
            size_t i;
            json_t *item;
            json_array_foreach(list, i, item)
            {
                size_t mi = sp_dw_path_index(c, i);
                if (!(json_is_string(item) || json_is_number(item) || json_is_object(item)))
                    sp_dw_err_type(c, "a string, a number or an object", item);
                else if (sp_dw_json_has_hole(item))
                    sp_dw_err(c, "data values are not templates, so '{{' would be sent as "
                                 "written: compute values with a step's let instead");
                sp_dw_path_pop(c, mi);
            }
        }
        sp_dw_path_pop(c, m);
    }
}

/* ---- options ---- */

/* "http_version": a string, so that 1.1 and 2 written as JSON numbers (1.10 == 1.1) are refused
 * with the allowed spellings rather than guessed at. */
static void compile_http_version(sp_dw *c, const json_t *v, sp_http_version *out)
{
    static const struct {
        const char *name;
        sp_http_version ver;
    } versions[] = {{"1.1", SP_HTTP_1_1}, {"2", SP_HTTP_2}, {"auto", SP_HTTP_AUTO}};
    if (!v)
        return;
    const char *s = json_string_value(v); /* borrowed; NULL when not a string */
    for (size_t i = 0; s && i < SP_ARRAY_LEN(versions); i++) {
        if (strcmp(s, versions[i].name) == 0) {
            *out = versions[i].ver;
            return;
        }
    }
    if (s)
        sp_dw_err_key(c, "http_version", "expected \"1.1\", \"2\" or \"auto\", got '%.64s'", s);
    else
        sp_dw_err_key(c, "http_version", "expected \"1.1\", \"2\" or \"auto\" (a string), got %s",
                      sp_dw_type_name(v));
}

static void compile_options(sp_dw *c, const json_t *v, sp_options *o)
{
    static const char *const fields[] = {
        "timeout",          "connect_timeout", "graceful_stop", "max_response_bytes",
        "follow_redirects", "insecure",        "cookies",       "http_version"};
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object", v);
        return;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    sp_dw_get_duration(c, v, "timeout", &o->timeout_ms, 0);
    sp_dw_get_duration(c, v, "connect_timeout", &o->connect_timeout_ms, 0);
    sp_dw_get_duration(c, v, "graceful_stop", &o->graceful_stop_ms, 1);
    int64_t mr;
    if (sp_dw_get_int(c, v, "max_response_bytes", 1, SP_RESP_ABSOLUTE_MAX, &mr) == 1)
        o->max_response_bytes = (uint32_t)mr;
    int b = sp_dw_get_bool(c, v, "follow_redirects", 1);
    if (b >= 0)
        o->follow_redirects = b;
    b = sp_dw_get_bool(c, v, "insecure", 0);
    if (b >= 0)
        o->insecure = b;
    b = sp_dw_get_bool(c, v, "cookies", 1);
    if (b >= 0)
        o->cookies = b;
    compile_http_version(c, json_object_get(v, "http_version"), &o->http_version);
}

/* ---- top level ---- */

/* Validates base_url; on success c->base points at the def's copy without trailing '/'. */
static void compile_base_url(sp_dw *c, const char *s)
{
    size_t m = sp_dw_path_key(c, "base_url");
    size_t sl = sp_dw_url_scheme_len(s);
    if (!sl || !sp_dw_is_http_scheme(s, sl)) {
        sp_dw_err(c, "expected an http:// or https:// URL, got '%.100s'", s);
    } else if (!sp_dw_url_chars_ok(s) || strstr(s, "{{")) {
        sp_dw_err(c, "base_url cannot contain spaces, control characters or templates");
    } else if (strchr("/?#:", s[sl + 3])) {
        sp_dw_err(c, "the URL has no host");
    } else if (strpbrk(s, "?#")) {
        sp_dw_err(c, "base_url cannot have a query or fragment: put them in each request");
    } else {
        size_t n = strlen(s);
        while (n > sl + 3 && s[n - 1] == '/')
            n--;
        c->def->base_url = sp_strndup(s, n);
        c->base = c->def->base_url;
    }
    sp_dw_path_pop(c, m);
}

/*
 * "secrets": {"NAME": "value"}: values templates read as {{secret.NAME}}. Messages here name
 * the secret and never show its value, because they go back to whoever sent the definition
 * and into logs.
 */
static void compile_secrets(sp_dw *c, const json_t *secrets)
{
    sp_def *d = c->def;
    if (!json_is_object(secrets)) {
        sp_dw_err_type(c, "an object of named secret values, such as {\"api_key\": \"...\"}",
                       secrets);
        return;
    }
    size_t n = json_object_size(secrets);
    if (n > SP_DEF_MAX_SECRETS) {
        sp_dw_err(c, "%zu secrets; at most %d are allowed", n, SP_DEF_MAX_SECRETS);
        return;
    }
    d->secrets = sp_calloc(n ? n : 1, sizeof(d->secrets[0]));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)secrets, key, v)
    {
        size_t m = sp_dw_path_key(c, key);
        if (!sp_dw_is_ident(key)) {
            sp_dw_err(
                c, "a secret's name uses letters, digits and '_' and does not start with a digit");
        } else if (!json_is_string(v)) {
            sp_dw_err(c, "a secret's value must be a string, got %s", sp_dw_type_name(v));
        } else if (json_string_length(v) == 0) {
            sp_dw_err(c, "a secret's value cannot be empty");
        } else if (json_string_length(v) > SP_DEF_MAX_SECRET_BYTES) {
            sp_dw_err(c, "a secret's value is longer than %d bytes", SP_DEF_MAX_SECRET_BYTES);
        } else if (memchr(json_string_value(v), '\0', json_string_length(v))) {
            sp_dw_err(c, "a secret's value cannot contain a NUL character");
        } else {
            d->secrets[d->nsecrets++] = json_string_value(v); /* borrowed from d->doc */
        }
        sp_dw_path_pop(c, m);
    }
    /* With a bad secret the load fails anyway; references are still checked against the names
     * given, so that each mistake is reported once, where it is. */
    c->scope.secrets = secrets;
}

static void compile_def(sp_dw *c, const json_t *doc)
{
    static const char *const fields[] = {"name", "description", "base_url", "headers",
                                         "data", "secrets",     "options",  "users",
                                         "load", "thresholds"};
    sp_def *d = c->def;
    sp_dw_check_fields(c, doc, fields, SP_ARRAY_LEN(fields));

    const json_t *secrets = json_object_get(doc, "secrets");
    if (secrets) {
        size_t m = sp_dw_path_key(c, "secrets");
        compile_secrets(c, secrets);
        sp_dw_path_pop(c, m);
    }

    const char *name = sp_dw_get_str(c, doc, "name", 1);
    if (name && !name[0])
        sp_dw_err_key(c, "name", "cannot be empty");
    else if (name)
        sp_dw_no_tmpl(c, name, "name", "the test's name is shown as written");
    d->name = sp_strdup(name ? name : "");
    sp_dw_get_str(c, doc, "description", 0);
    const char *base = sp_dw_get_str(c, doc, "base_url", 1);
    if (base)
        compile_base_url(c, base);

    const json_t *data = json_object_get(doc, "data");
    c->scope.data = c->empty;
    if (data) {
        size_t m = sp_dw_path_key(c, "data");
        if (!json_is_object(data)) {
            sp_dw_err_type(c, "an object of named lists", data);
        } else {
            check_data(c, data);
            c->scope.data = data;
        }
        sp_dw_path_pop(c, m);
    }

    const json_t *opts = json_object_get(doc, "options");
    if (opts) {
        size_t m = sp_dw_path_key(c, "options");
        compile_options(c, opts, &d->opts);
        sp_dw_path_pop(c, m);
    }

    /* Definition-wide headers are shared by every user class, so they may use data lists and
     * functions but no VU variable (set those with set_headers). */
    const json_t *h = json_object_get(doc, "headers");
    if (h) {
        size_t m = sp_dw_path_key(c, "headers");
        sp_dw_headers(c, h, &d->headers, &d->nheaders, NULL);
        sp_dw_path_pop(c, m);
    }

    const json_t *users = json_object_get(doc, "users");
    if (!users) {
        sp_dw_err_missing(c, "users");
    } else {
        size_t m = sp_dw_path_key(c, "users");
        sp_dw_users(c, users);
        sp_dw_path_pop(c, m);
    }

    const json_t *load = json_object_get(doc, "load");
    if (!load) {
        sp_dw_err_missing(c, "load");
    } else {
        size_t m = sp_dw_path_key(c, "load");
        sp_dw_load(c, load, &d->load);
        sp_dw_path_pop(c, m);
    }

    /* Last: a threshold may name any request of any user class. */
    const json_t *th = json_object_get(doc, "thresholds");
    if (th) {
        size_t m = sp_dw_path_key(c, "thresholds");
        sp_dw_thresholds(c, th);
        sp_dw_path_pop(c, m);
    }
    const json_t *sw = load ? json_object_get(load, "stop_when") : NULL;
    if (sw) {
        size_t m = sp_dw_path_key(c, "load");
        size_t m2 = sp_dw_path_key(c, "stop_when");
        sp_dw_stop_when(c, sw);
        sp_dw_path_pop(c, m2);
        sp_dw_path_pop(c, m);
    }
}

/* ---- overrides ---- */

/* Milliseconds of a stage's duration as written, or -1 when it is not a valid duration. */
static int64_t quiet_duration(const json_t *v)
{
    int64_t ms;
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 1e15)
        return (int64_t)llround(json_number_value(v));
    if (json_is_string(v) && sp_parse_duration_ms(json_string_value(v), &ms) == 0)
        return ms;
    return -1;
}

/* Total of the stages (or the shorthand's duration) in a load object; -1 when unknown. */
static int64_t load_total_ms(const json_t *load)
{
    if (!json_is_object(load))
        return -1;
    const json_t *stages = json_object_get(load, "stages");
    if (!stages)
        return quiet_duration(json_object_get(load, "duration"));
    if (!json_is_array(stages))
        return -1;
    int64_t total = 0;
    size_t i;
    json_t *st;
    json_array_foreach(stages, i, st)
    {
        int64_t ms = quiet_duration(json_is_object(st) ? json_object_get(st, "duration") : NULL);
        if (ms < 0)
            return -1;
        total += ms;
    }
    return total;
}

/*
 * Fits the stages to total_ms: a shorter total cuts the profile at that moment (a stage cut in
 * the middle ends at the level its ramp had reached then), a longer one adds a stage holding the
 * last target. Leaves invalid stages alone: validation reports them.
 */
static void fit_stages(json_t *load, int64_t total_ms)
{
    json_t *stages = json_object_get(load, "stages"); /* borrowed */
    int64_t have = load_total_ms(load);
    if (have < 0 || have == total_ms || json_array_size(stages) == 0)
        return;
    const char *key = json_object_get(json_array_get(stages, 0), "rate") ? "rate" : "users";
    if (total_ms > have) {
        json_t *last = json_array_get(stages, json_array_size(stages) - 1);
        json_t *target = json_object_get(last, key);
        if (!target)
            return;
        /* json_pack "O" takes a new reference to target; the array steals the new stage. */
        json_array_append_new(
            stages, json_pack("{s:I,s:O}", "duration", (json_int_t)(total_ms - have), key, target));
        return;
    }
    json_t *cut = json_array(); /* new reference: stolen by json_object_set_new below */
    int64_t at = 0;
    double prev = 0;
    size_t i;
    json_t *st;
    json_array_foreach(stages, i, st)
    {
        int64_t ms = quiet_duration(json_object_get(st, "duration"));
        json_t *tv = json_object_get(st, key);
        double target = json_is_number(tv) ? json_number_value(tv) : 0;
        if (at + ms <= total_ms) {
            json_array_append(cut, st); /* takes a new reference */
            at += ms;
            prev = target;
            if (at == total_ms)
                break;
            continue;
        }
        double reached = prev + (target - prev) * (double)(total_ms - at) / (double)ms;
        json_t *nt = strcmp(key, "users") == 0 ? json_integer((json_int_t)llround(reached))
                                               : json_real(reached);
        json_array_append_new(cut, json_pack("{s:I,s:o}", "duration", (json_int_t)(total_ms - at),
                                             key, nt)); /* "o" steals nt; the array steals all */
        break;
    }
    json_object_set_new(load, "stages", cut);
}

static void apply_overrides(sp_dw *c, json_t *doc, const sp_overrides *ov)
{
    if (!ov)
        return;
    if (ov->base_url) {
        json_t *s = json_string(ov->base_url); /* new reference, stolen by set_new */
        if (!s)
            sp_errlist_add(c->errs, "overrides.base_url", "not valid UTF-8");
        else
            json_object_set_new(doc, "base_url", s);
    }
    json_t *load = json_object_get(doc, "load"); /* borrowed; stays valid while doc holds it */
    if (ov->stages) {
        json_error_t je;
        json_t *st = json_loads(ov->stages, JSON_REJECT_DUPLICATES, &je); /* new reference */
        if (!st) {
            sp_errlist_add(c->errs, "overrides.stages", "invalid JSON at line %d, column %d: %s",
                           je.line, je.column, je.text);
        } else {
            if (!json_is_object(load)) {
                load = json_object();
                json_object_set_new(doc, "load", load); /* stolen; load stays borrowed */
            }
            json_object_del(load, "users");
            json_object_del(load, "rate");
            json_object_del(load, "duration");
            json_object_set_new(load, "stages", st); /* stolen */
        }
    }
    if (ov->users < 0)
        sp_errlist_add(c->errs, "overrides.users", "cannot be negative");
    if (ov->duration_ms < 0)
        sp_errlist_add(c->errs, "overrides.duration", "cannot be negative");
    if (ov->users > 0) {
        int64_t d = ov->duration_ms > 0 ? ov->duration_ms : load_total_ms(load);
        if (d <= 0) {
            sp_errlist_add(c->errs, "overrides.users",
                           "a users override needs a duration too (the test's own load has none "
                           "that could be kept)");
            return;
        }
        json_t *nl = json_pack("{s:s,s:[{s:i,s:I},{s:I,s:I}]}", "model", "closed", "stages",
                               "duration", 0, "users", (json_int_t)ov->users, "duration",
                               (json_int_t)d, "users", (json_int_t)ov->users);
        /* A breaking condition still applies to the users the override holds. json_object_set
         * takes its own reference to the borrowed value, before the old load goes. */
        const json_t *sw = json_is_object(load) ? json_object_get(load, "stop_when") : NULL;
        if (sw)
            json_object_set(nl, "stop_when", (json_t *)sw);
        json_object_set_new(doc, "load", nl); /* new reference, stolen */
    } else if (ov->duration_ms > 0) {
        if (!json_is_object(load)) {
            sp_errlist_add(c->errs, "overrides.duration",
                           "a duration override needs a load in the test, or a users override");
        } else if (json_object_get(load, "stages")) {
            fit_stages(load, ov->duration_ms);
        } else {
            json_object_set_new(load, "duration", json_integer(ov->duration_ms)); /* stolen */
        }
    }
}

/* ---- depth ---- */

/* Reports the first container nested deeper than SP_DEF_MAX_DEPTH; -1 when one is. */
static int check_depth(sp_dw *c, const json_t *v, int depth)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (depth > SP_DEF_MAX_DEPTH) {
        sp_dw_err(c, "nested deeper than %d levels", SP_DEF_MAX_DEPTH);
        return -1;
    }
    int rc = 0;
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child)
        {
            size_t m = sp_dw_path_key(c, key);
            rc = check_depth(c, child, depth + 1);
            sp_dw_path_pop(c, m);
            if (rc)
                break;
        }
    } else {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            size_t m = sp_dw_path_index(c, i);
            rc = check_depth(c, child, depth + 1);
            sp_dw_path_pop(c, m);
            if (rc)
                break;
        }
    }
    return rc;
}

/* ---- API ---- */

static int load(const char *text, size_t len, const sp_overrides *ov, const char *base_dir,
                int confined, sp_def **out, sp_errlist *errs)
{
    *out = NULL;
    size_t before = errs->n + errs->dropped;
    if (len > SP_DEF_MAX_BYTES) {
        sp_errlist_add(errs, "", "the definition is %zu bytes; the limit is %u bytes (%u MiB)", len,
                       SP_DEF_MAX_BYTES, SP_DEF_MAX_BYTES >> 20);
        return SP_ELIMIT;
    }
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je); /* new reference, ours */
    if (!doc) {
        sp_errlist_add(errs, "", "invalid JSON at line %d, column %d: %s", je.line, je.column,
                       je.text);
        return SP_EINVAL;
    }
    if (!json_is_object(doc)) {
        sp_errlist_add(errs, "", "expected an object (a test definition), got %s",
                       sp_dw_type_name(doc));
        json_decref(doc);
        return SP_EINVAL;
    }

    sp_dw c;
    memset(&c, 0, sizeof c);
    c.errs = errs;
    c.base_dir = base_dir;
    c.confined = confined;
    sp_buf_init(&c.path, PATH_MAX_BYTES);
    c.empty = json_object(); /* new reference, dropped at the end */
    sp_def *d = sp_calloc(1, sizeof(*d));
    d->doc = doc; /* the definition owns the document from here on */
    d->opts.timeout_ms = SP_REQ_DEFAULT_TIMEOUT_MS;
    d->opts.connect_timeout_ms = SP_REQ_CONNECT_TIMEOUT_MS;
    d->opts.max_response_bytes = SP_RESP_KEEP_MAX;
    d->opts.graceful_stop_ms = 10000;
    d->opts.follow_redirects = 1;
    d->opts.insecure = 0;
    d->opts.cookies = 1;
    d->opts.http_version = SP_HTTP_1_1;
    c.def = d;

    apply_overrides(&c, doc, ov);
    /* The walk below recurses with the document's nesting, so the depth is checked first. */
    if (check_depth(&c, doc, 1) == 0)
        compile_def(&c, doc);

    int rc = 0;
    if (errs->n + errs->dropped > before) {
        sp_def_free(d);
        rc = SP_EINVAL;
    } else {
        /* The forms of every secret are worked out once, here, for everything the engine shows. */
        d->mask = sp_mask_new(d->secrets, d->nsecrets);
        *out = d;
    }
    json_decref(c.empty);
    sp_buf_release(&c.path);
    return rc;
}

int sp_def_load(const char *text, size_t len, const sp_overrides *ov, const char *base_dir,
                sp_def **out, sp_errlist *errs)
{
    return load(text, len, ov, base_dir, 0, out, errs);
}

int sp_def_load_confined(const char *text, size_t len, const sp_overrides *ov,
                         const char *files_dir, sp_def **out, sp_errlist *errs)
{
    return load(text, len, ov, files_dir, 1, out, errs);
}

int sp_def_load_file(const char *path, const sp_overrides *ov, sp_def **out, sp_errlist *errs)
{
    *out = NULL;
    int rc = 0;
    char *text = NULL;
    char *dir = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        rc = errno == ENOENT ? SP_ENOTFOUND : SP_EIO;
        sp_errlist_add(errs, "", "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    /* Read one byte past the cap, so that an over-size file is told apart from a full one. */
    text = sp_malloc((size_t)SP_DEF_MAX_BYTES + 1);
    size_t n = fread(text, 1, (size_t)SP_DEF_MAX_BYTES + 1, f);
    if (ferror(f)) {
        rc = SP_EIO;
        sp_errlist_add(errs, "", "cannot read '%s': %s", path, strerror(errno));
        goto out;
    }
    if (n > SP_DEF_MAX_BYTES) {
        rc = SP_ELIMIT;
        sp_errlist_add(errs, "", "'%s' is larger than the limit of %u bytes (%u MiB)", path,
                       SP_DEF_MAX_BYTES, SP_DEF_MAX_BYTES >> 20);
        goto out;
    }
    const char *slash = strrchr(path, '/');
    dir = slash ? sp_strndup(path, (size_t)(slash - path) + (slash == path)) : sp_strdup(".");
    rc = sp_def_load(text, n, ov, dir, out, errs);
out:
    if (f)
        fclose(f);
    free(text);
    free(dir);
    return rc;
}

void sp_def_free(sp_def *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->base_url);
    sp_dw_headers_free(d->headers, d->nheaders);
    for (size_t i = 0; i < d->nusers; i++)
        sp_dw_user_free(&d->users[i]);
    free(d->users);
    free(d->load.stages);
    for (size_t i = 0; i < d->load.nstop_when; i++)
        sp_threshold_release(&d->load.stop_when[i]);
    free(d->load.stop_when);
    for (size_t i = 0; i < d->nthresholds; i++)
        sp_threshold_release(&d->thresholds[i]);
    free(d->thresholds);
    for (size_t i = 0; i < d->nnames; i++)
        free(d->names[i]);
    free(d->names);
    free(d->name_kinds);
    free(d->secrets);
    sp_mask_free(d->mask);
    if (d->doc)
        json_decref(d->doc);
    free(d);
}
