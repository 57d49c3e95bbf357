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
#include <sys/stat.h>
#include <strings.h>

/* Small structural caps of the format itself. They keep error messages and request names
 * readable; the document's size cap bounds everything else. */
#define NAME_MAX_LEN 256 /* a request, task or user class name */
#define METHOD_MAX_LEN 32
#define HEADER_NAME_MAX 256
#define MULTIPART_MAX 64 /* parts of one multipart body */
#define REGEX_MAX_LEN 4096
#define RATE_MAX 1000000.0 /* arrivals per second in an open-model stage */
#define WEIGHT_MAX 1000000
#define PATH_MAX_BYTES 1024 /* an error's path */
#define ERRLEN 512

typedef struct ld {
    sp_errlist *errs;
    sp_buf path; /* "users[0].tasks[2]" for the value being looked at */
    sp_def *def;
    json_t *empty;        /* an empty object standing in for a missing data section (owned) */
    sp_scope scope;       /* what templates may name right now */
    const char *base;     /* validated base_url without trailing '/', or NULL */
    const char *base_dir; /* where data files are found; NULL: none may be read */
    int confined;         /* data files only below base_dir, named by relative paths */
} ld;

/* ---- paths and errors ---- */

static size_t path_key(ld *c, const char *key)
{
    size_t mark = c->path.len;
    /* Over-long keys are cut in paths only; the message still names the whole key. */
    (void)sp_buf_addf(&c->path, "%s%.100s", mark ? "." : "", key);
    return mark;
}

static size_t path_index(ld *c, size_t i)
{
    size_t mark = c->path.len;
    (void)sp_buf_addf(&c->path, "[%zu]", i);
    return mark;
}

static void path_pop(ld *c, size_t mark)
{
    c->path.len = mark;
    if (c->path.cap)
        c->path.p[mark] = '\0';
}

static void err(ld *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err(ld *c, const char *fmt, ...)
{
    /* Formatted here first so that an over-long message is cut, not dropped by the list. */
    char msg[ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sp_errlist_add(c->errs, c->path.p, "%s", msg);
}

static void err_key(ld *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_key(ld *c, const char *key, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t m = path_key(c, key);
    sp_errlist_add(c->errs, c->path.p, "%s", msg);
    path_pop(c, m);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

static void err_type(ld *c, const char *want, const json_t *got)
{
    err(c, "expected %s, got %s", want, type_name(got));
}

static void err_missing(ld *c, const char *key)
{
    err(c, "missing required field '%s'", key);
}

/* Reports every member of obj not in allowed[0..n), with a suggestion when one is near. */
static void check_fields(ld *c, const json_t *obj, const char *const *allowed, size_t n)
{
    const char *key;
    json_t *v;
    /* json_object_foreach needs a non-const object; nothing is modified. Keys are borrowed. */
    json_object_foreach((json_t *)obj, key, v)
    {
        int known = 0;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (known)
            continue;
        const char *near = sp_suggest(key, allowed, n);
        if (near)
            err_key(c, key, "unknown field '%.100s' (did you mean '%s'?)", key, near);
        else
            err_key(c, key, "unknown field '%.100s'", key);
    }
}

/* ---- small validators ---- */

static int is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    size_t n = 0;
    for (; *s; s++, n++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    }
    return n <= 64;
}

/* Names the template language gives a meaning of its own. */
static int is_reserved(const char *s)
{
    static const char *const words[] = {"vu", "iteration", "status", "row", "secret"};
    for (size_t i = 0; i < SP_ARRAY_LEN(words); i++)
        if (strcmp(s, words[i]) == 0)
            return 1;
    return 0;
}

/* RFC 9110 token characters, for methods and header names. */
static int is_token(const char *s, size_t max)
{
    size_t n = 0;
    for (; *s; s++, n++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
            continue;
        if (!strchr("!#$%&'*+-.^_`|~", ch) || ch == '\0')
            return 0;
    }
    return n > 0 && n <= max;
}

/* Percent-encodes s (RFC 3986 unreserved characters kept) onto b. */
static void pct_encode(sp_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            (void)sp_buf_addc(b, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            (void)sp_buf_add(b, e, 3);
        }
    }
}

static void tfree(sp_tmpl *t)
{
    if (t)
        sp_tmpl_free(t);
}

/* ---- durations ---- */

int sp_parse_duration_ms(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        double factor;
    } units[] = {{"d", 86400000.0}, {"h", 3600000.0}, {"m", 60000.0}, {"s", 1000.0}, {"ms", 1.0}};
    const double max = (double)SP_DEF_MAX_DURATION_S * 1000.0;
    if (!s || !*s)
        return SP_EINVAL;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    double total = 0;
    size_t next_unit = 0; /* units must come in decreasing order, each at most once */
    const char *p = s;
    while (*p) {
        double v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            if (++digits > 15)
                return SP_EINVAL;
        }
        if (*p == '.') {
            double scale = 0.1;
            p++;
            while (*p >= '0' && *p <= '9') {
                v += (*p++ - '0') * scale;
                scale /= 10;
                if (++digits > 30)
                    return SP_EINVAL;
            }
        }
        if (digits == 0)
            return SP_EINVAL;
        size_t u;
        if (p[0] == 'm' && p[1] == 's')
            u = 4;
        else if (*p == 'd')
            u = 0;
        else if (*p == 'h')
            u = 1;
        else if (*p == 'm')
            u = 2;
        else if (*p == 's')
            u = 3;
        else
            return SP_EINVAL;
        if (u < next_unit)
            return SP_EINVAL;
        next_unit = u + 1;
        p += strlen(units[u].unit);
        total += v * units[u].factor;
        if (total > max)
            return SP_EINVAL;
    }
    *ms = (int64_t)llround(total);
    return 0;
}

/*
 * Reads a duration value (a string with units, or a number of milliseconds) at the current path.
 * Returns 0 and *ms, or -1 after reporting.
 */
static int value_duration(ld *c, const json_t *v, int64_t *ms)
{
    const double max = (double)SP_DEF_MAX_DURATION_S * 1000.0;
    if (json_is_integer(v) || json_is_real(v)) {
        double d = json_number_value(v);
        if (d < 0) {
            err(c, "a duration cannot be negative");
            return -1;
        }
        if (!(d <= max)) {
            err(c, "a duration cannot be longer than %d days", SP_DEF_MAX_DURATION_S / 86400);
            return -1;
        }
        *ms = (int64_t)llround(d);
        return 0;
    }
    if (!json_is_string(v)) {
        err_type(c, "a duration (\"30s\", \"1m30s\", or a number of milliseconds)", v);
        return -1;
    }
    const char *s = json_string_value(v);
    if (s[0] == '-') {
        err(c, "a duration cannot be negative");
        return -1;
    }
    if (sp_parse_duration_ms(s, ms) != 0) {
        err(c,
            "invalid duration '%.64s': use a number with a unit (ms, s, m, h, d) such as "
            "\"500ms\", \"30s\" or \"1h30m\", at most %d days",
            s, SP_DEF_MAX_DURATION_S / 86400);
        return -1;
    }
    return 0;
}

/* An optional duration member. Returns 1 when present and valid, 0 when absent, -1 on error. */
static int get_duration(ld *c, const json_t *obj, const char *key, uint32_t *out, int allow_zero)
{
    const json_t *v = json_object_get(obj, key); /* borrowed */
    if (!v)
        return 0;
    size_t m = path_key(c, key);
    int64_t ms;
    int rc = value_duration(c, v, &ms);
    if (rc == 0 && ms == 0 && !allow_zero) {
        err(c, "must be longer than 0");
        rc = -1;
    }
    path_pop(c, m);
    if (rc)
        return -1;
    *out = (uint32_t)ms;
    return 1;
}

/* ---- typed member getters (all references borrowed from the document) ---- */

/* An optional or required string member; NULL when absent or of the wrong type (reported). */
static const char *get_str(ld *c, const json_t *obj, const char *key, int required)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            err_missing(c, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        size_t m = path_key(c, key);
        err_type(c, "a string", v);
        path_pop(c, m);
        return NULL;
    }
    return json_string_value(v);
}

/* An optional boolean member; returns def when absent, -1 after reporting a wrong type. */
static int get_bool(ld *c, const json_t *obj, const char *key, int def)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return def;
    if (!json_is_boolean(v)) {
        size_t m = path_key(c, key);
        err_type(c, "a boolean (true or false)", v);
        path_pop(c, m);
        return -1;
    }
    return json_is_true(v);
}

/* An optional integer member in [lo, hi]; 1 when present and valid, 0 absent, -1 reported. */
static int get_int(ld *c, const json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    size_t m = path_key(c, key);
    int rc = -1;
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e15) {
        /* 10.0 is accepted as 10: browsers' JSON editors sometimes write whole numbers so. */
        *out = (int64_t)json_real_value(v);
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        err_type(c, "a whole number", v);
        goto out;
    }
    if (*out < lo || *out > hi) {
        if (*out < 0 && lo >= 0)
            err(c, "cannot be negative (got %lld)", (long long)*out);
        else
            err(c, "must be between %lld and %lld (got %lld)", (long long)lo, (long long)hi,
                (long long)*out);
        goto out;
    }
    rc = 1;
out:
    path_pop(c, m);
    return rc;
}

/*
 * The text of a scalar used as a template source (header, query, form, let values): strings as
 * written, numbers and booleans as JSON writes them. Returns a malloc'd string or NULL after
 * reporting another type at the current path.
 */
static char *scalar_text(ld *c, const json_t *v)
{
    if (json_is_string(v))
        return sp_strndup(json_string_value(v), json_string_length(v));
    if (json_is_number(v) || json_is_boolean(v)) {
        char *s = json_dumps(v, JSON_ENCODE_ANY); /* new string, owned here */
        char *r = sp_strdup(s ? s : "");
        free(s);
        return r;
    }
    err_type(c, "a string", v);
    return NULL;
}

/* Compiles src with esc against the current scope; reports at the current path. */
static sp_tmpl *compile_tmpl(ld *c, const char *src, sp_esc esc)
{
    char e[ERRLEN] = "";
    sp_tmpl *t = sp_tmpl_compile(src, strlen(src), esc, &c->scope, e, sizeof e);
    if (!t)
        err(c, "%s", e[0] ? e : "invalid template");
    return t;
}

/* A template member given as a string (or number/boolean). NULL when absent or invalid. */
static sp_tmpl *get_tmpl(ld *c, const json_t *obj, const char *key, sp_esc esc)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return NULL;
    size_t m = path_key(c, key);
    sp_tmpl *t = NULL;
    char *src = scalar_text(c, v);
    if (src)
        t = compile_tmpl(c, src, esc);
    free(src);
    path_pop(c, m);
    return t;
}

/* ---- names and variables ---- */

static int intern_name(ld *c, const char *name)
{
    sp_def *d = c->def;
    for (size_t i = 0; i < d->nnames; i++)
        if (strcmp(d->names[i], name) == 0)
            return (int)i;
    if (d->nnames >= SP_DEF_MAX_NAMES) {
        err(c, "more than %d distinct request names", SP_DEF_MAX_NAMES);
        return -1;
    }
    d->names = sp_realloc(d->names, (d->nnames + 1) * sizeof(d->names[0]));
    d->names[d->nnames] = sp_strdup(name);
    return (int)d->nnames++;
}

static int var_slot(const sp_userclass *uc, const char *name)
{
    for (size_t i = 0; i < uc->nvars; i++)
        if (strcmp(uc->vars[i], name) == 0)
            return (int)i;
    return -1;
}

/* Validates a variable name at the current path; 0 or -1 after reporting. */
static int check_var_name(ld *c, const char *name)
{
    if (is_reserved(name)) {
        err(c, "'%s' is a reserved name in templates; choose another variable name", name);
        return -1;
    }
    if (!is_ident(name)) {
        err(c,
            "invalid variable name '%.100s': use letters, digits and '_' (not first a digit), "
            "at most 64 characters",
            name);
        return -1;
    }
    return 0;
}

/* Looks up a variable that a condition reads; reports an unknown one with a suggestion. */
static int lookup_var(ld *c, const sp_userclass *uc, const char *name)
{
    int slot = var_slot(uc, name);
    if (slot >= 0)
        return slot;
    const char *near = sp_suggest(name, (const char *const *)uc->vars, uc->nvars);
    if (near)
        err(c, "unknown variable '%.100s' (did you mean '%s'?)", name, near);
    else
        err(c, "unknown variable '%.100s': no let or extract in this user class sets it", name);
    return -1;
}

/* ---- headers ---- */

/*
 * Compiles {name: template} into *out. allow_empty: set_headers uses an empty value to remove a
 * header. *has_ctype is set when a Content-Type is among them.
 */
static void compile_headers(ld *c, const json_t *v, sp_hdr **out, size_t *n, int *has_ctype)
{
    if (!json_is_object(v)) {
        err_type(c, "an object of header names and values", v);
        return;
    }
    *out = sp_calloc(json_object_size(v), sizeof(**out));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        size_t m = path_key(c, key);
        if (!is_token(key, HEADER_NAME_MAX)) {
            err(c, "invalid header name '%.100s': use letters, digits and -", key);
        } else {
            char *src = scalar_text(c, val);
            sp_tmpl *t = src ? compile_tmpl(c, src, SP_ESC_HEADER) : NULL;
            free(src);
            if (t) {
                (*out)[*n].name = sp_strdup(key);
                (*out)[*n].value = t;
                (*n)++;
            }
            if (has_ctype && strcasecmp(key, "Content-Type") == 0)
                *has_ctype = 1;
        }
        path_pop(c, m);
    }
}

static void free_headers(sp_hdr *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        tfree(h[i].value);
    }
    free(h);
}

/* ---- data ---- */

static void check_data(ld *c, const json_t *data)
{
    const char *key;
    json_t *list;
    json_object_foreach((json_t *)data, key, list)
    {
        size_t m = path_key(c, key);
        if (!is_ident(key) || is_reserved(key)) {
            err(c,
                "invalid data list name '%.100s': use letters, digits and '_' (not first a "
                "digit)",
                key);
        } else if (!json_is_array(list)) {
            err_type(c, "an array (a list of items)", list);
        } else if (json_array_size(list) == 0) {
            err(c, "the list is empty: give at least one item");
        } else {
            size_t i;
            json_t *item;
            json_array_foreach(list, i, item)
            {
                if (json_is_string(item) || json_is_number(item) || json_is_object(item))
                    continue;
                size_t mi = path_index(c, i);
                err_type(c, "a string, a number or an object", item);
                path_pop(c, mi);
            }
        }
        path_pop(c, m);
    }
}

/* ---- status lists and conditions ---- */

/* An int or an array of ints in 100..599, at the current path. 0 or -1 after reporting. */
static int status_list(ld *c, const json_t *v, uint16_t **out, size_t *n)
{
    if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s < 100 || s > 599) {
            err(c, "a status must be between 100 and 599 (got %lld)", (long long)s);
            return -1;
        }
        *out = sp_malloc(sizeof(**out));
        (*out)[0] = (uint16_t)s;
        *n = 1;
        return 0;
    }
    if (!json_is_array(v)) {
        err_type(c, "a status code or an array of status codes", v);
        return -1;
    }
    if (json_array_size(v) == 0 || json_array_size(v) > 500) {
        err(c, "give between 1 and 500 status codes");
        return -1;
    }
    int rc = 0;
    *out = sp_calloc(json_array_size(v), sizeof(**out));
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        size_t m = path_index(c, i);
        if (!json_is_integer(s)) {
            err_type(c, "a status code (a whole number)", s);
            rc = -1;
        } else if (json_integer_value(s) < 100 || json_integer_value(s) > 599) {
            err(c, "a status must be between 100 and 599 (got %lld)",
                (long long)json_integer_value(s));
            rc = -1;
        } else {
            (*out)[(*n)++] = (uint16_t)json_integer_value(s);
        }
        path_pop(c, m);
    }
    return rc;
}

static void compile_cond(ld *c, const sp_userclass *uc, const json_t *v, sp_cond *cond)
{
    static const char *const fields[] = {"var", "equals", "status"};
    if (!json_is_object(v)) {
        err_type(c, "an object ({\"var\": ...} or {\"status\": [...]})", v);
        return;
    }
    check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const json_t *var = json_object_get(v, "var");
    const json_t *eq = json_object_get(v, "equals");
    const json_t *st = json_object_get(v, "status");
    if (var && st) {
        err(c, "give either 'var' or 'status', not both");
        return;
    }
    if (st) {
        size_t m = path_key(c, "status");
        if (status_list(c, st, &cond->status, &cond->nstatus) == 0)
            cond->kind = SP_COND_STATUS;
        path_pop(c, m);
        if (eq)
            err_key(c, "equals", "'equals' goes with 'var', not with 'status'");
        return;
    }
    if (!var) {
        err(c, "a condition needs 'var' or 'status'");
        return;
    }
    const char *name = get_str(c, v, "var", 1);
    if (!name)
        return;
    size_t m = path_key(c, "var");
    cond->slot = lookup_var(c, uc, name);
    path_pop(c, m);
    cond->kind = SP_COND_VAR_SET;
    if (eq) {
        m = path_key(c, "equals");
        cond->equals = scalar_text(c, eq);
        path_pop(c, m);
        cond->kind = SP_COND_VAR_EQUALS;
    }
}

/* ---- requests ---- */

/* Rejects spaces and control characters outside {{holes}}: they are never valid in a URL. */
static int url_chars_ok(const char *s)
{
    int in_hole = 0;
    for (; *s; s++) {
        if (!in_hole && s[0] == '{' && s[1] == '{') {
            in_hole = 1;
            s++;
        } else if (in_hole && s[0] == '}' && s[1] == '}') {
            in_hole = 0;
            s++;
        } else if (!in_hole && ((unsigned char)*s <= 0x20 || *s == 0x7f)) {
            return 0;
        }
    }
    return 1;
}

/* Length of the scheme when s starts with "scheme://" (before any '/', '?', '{'), else 0. */
static size_t url_scheme_len(const char *s)
{
    size_t i = 0;
    while (s[i] && s[i] != '/' && s[i] != '?' && s[i] != '{' && s[i] != ':')
        i++;
    if (i > 0 && strncmp(s + i, "://", 3) == 0)
        return i;
    return 0;
}

static int is_http_scheme(const char *s, size_t n)
{
    return (n == 4 && strncasecmp(s, "http", 4) == 0) ||
           (n == 5 && strncasecmp(s, "https", 5) == 0);
}

/* "METHOD /path" from the URL as written: scheme and host dropped, query and fragment cut. */
static char *default_name(const char *method, const char *url)
{
    size_t sl = url_scheme_len(url);
    if (sl) {
        url += sl + 3;
        while (*url && *url != '/' && *url != '?' && *url != '#')
            url++;
    }
    size_t n = strcspn(url, "?#");
    sp_buf b;
    sp_buf_init(&b, NAME_MAX_LEN * 4);
    (void)sp_buf_addf(&b, "%s %s%.*s", method, url[0] == '/' ? "" : "/", (int)n, url);
    if (b.len > NAME_MAX_LEN) {
        b.len = NAME_MAX_LEN;
        b.p[b.len] = '\0';
    }
    return sp_buf_detach(&b, NULL);
}

/* Writes a JSON value into t: strings become templates, everything else literal JSON. */
static void json_body(ld *c, const json_t *v, sp_tmpl *t)
{
    char e[ERRLEN];
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        int first = 1;
        sp_tmpl_add_literal(t, "{", 1);
        json_object_foreach((json_t *)v, key, child)
        {
            if (!first)
                sp_tmpl_add_literal(t, ",", 1);
            first = 0;
            json_t *k = json_string(key);              /* new reference, dropped below */
            char *ks = json_dumps(k, JSON_ENCODE_ANY); /* new string, freed below */
            json_decref(k);
            sp_tmpl_add_literal(t, ks, strlen(ks));
            free(ks);
            sp_tmpl_add_literal(t, ":", 1);
            size_t m = path_key(c, key);
            json_body(c, child, t);
            path_pop(c, m);
        }
        sp_tmpl_add_literal(t, "}", 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        sp_tmpl_add_literal(t, "[", 1);
        json_array_foreach(v, i, child)
        {
            if (i)
                sp_tmpl_add_literal(t, ",", 1);
            size_t m = path_index(c, i);
            json_body(c, child, t);
            path_pop(c, m);
        }
        sp_tmpl_add_literal(t, "]", 1);
    } else if (json_is_string(v)) {
        e[0] = '\0';
        if (sp_tmpl_add_json_string(t, json_string_value(v), json_string_length(v), &c->scope, e,
                                    sizeof e) != 0)
            err(c, "%s", e[0] ? e : "invalid template");
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); /* new string, freed below */
        sp_tmpl_add_literal(t, s, strlen(s));
        free(s);
    }
}

/*
 * Percent-encodes the literal text of a template source and keeps its {{holes}} as written, so
 * that "d e {{x}}" becomes "d%20e%20{{x}}": the template escapes only what holes produce, and a
 * query or form value must be encoded as a whole. An unterminated hole is copied as is for the
 * template compiler to report.
 */
static char *encode_literals(const char *src)
{
    sp_buf out, lit;
    sp_buf_init(&out, SP_TMPL_MAX_SOURCE * 3 + 16);
    sp_buf_init(&lit, SP_TMPL_MAX_SOURCE * 3 + 16);
    const char *p = src;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            (void)sp_buf_adds(&lit, p);
            break;
        }
        (void)sp_buf_add(&lit, p, (size_t)(open - p));
        /* The hole ends at the first "}}" outside a string literal ("..." or '...'). */
        const char *q = open + 2;
        while (*q && !(q[0] == '}' && q[1] == '}')) {
            if (*q == '"' || *q == '\'') {
                char quote = *q++;
                while (*q && *q != quote)
                    q += (q[0] == '\\' && q[1]) ? 2 : 1;
                if (*q)
                    q++;
            } else {
                q++;
            }
        }
        pct_encode(&out, lit.p);
        sp_buf_reset(&lit);
        if (!*q) {
            (void)sp_buf_adds(&out, open);
            p = q;
            break;
        }
        (void)sp_buf_add(&out, open, (size_t)(q + 2 - open));
        p = q + 2;
    }
    pct_encode(&out, lit.p);
    sp_buf_release(&lit);
    return sp_buf_detach(&out, NULL);
}

/* Appends key=value pairs (keys encoded now, values at render) for query and form. */
static void add_pairs(ld *c, const json_t *obj, sp_tmpl *t, char first_sep)
{
    const char *key;
    json_t *val;
    char sep = first_sep;
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t m = path_key(c, key);
        sp_buf k;
        sp_buf_init(&k, SP_TMPL_MAX_SOURCE);
        if (sep)
            (void)sp_buf_addc(&k, sep);
        pct_encode(&k, key);
        (void)sp_buf_addc(&k, '=');
        sp_tmpl_add_literal(t, k.p, k.len);
        sp_buf_release(&k);
        sep = '&';
        char *text = scalar_text(c, val);
        char *src = text ? encode_literals(text) : NULL;
        char e[ERRLEN] = "";
        if (src && sp_tmpl_add_source(t, src, strlen(src), SP_ESC_URL, &c->scope, e, sizeof e) != 0)
            err(c, "%s", e[0] ? e : "invalid template");
        free(text);
        free(src);
        path_pop(c, m);
    }
}

static void compile_multipart(ld *c, const json_t *v, sp_request *r)
{
    static const char *const fields[] = {"name", "value", "filename", "content_type", "content"};
    if (!json_is_array(v)) {
        err_type(c, "an array of parts", v);
        return;
    }
    size_t n = json_array_size(v);
    if (n == 0 || n > MULTIPART_MAX) {
        err(c, "give between 1 and %d parts", MULTIPART_MAX);
        return;
    }
    r->parts = sp_calloc(n, sizeof(r->parts[0]));
    size_t i;
    json_t *p;
    json_array_foreach(v, i, p)
    {
        size_t m = path_index(c, i);
        if (!json_is_object(p)) {
            err_type(c,
                     "an object ({\"name\", \"value\"} or {\"name\", \"filename\", "
                     "\"content\"})",
                     p);
            path_pop(c, m);
            continue;
        }
        check_fields(c, p, fields, SP_ARRAY_LEN(fields));
        sp_part *part = &r->parts[r->nparts++];
        const char *name = get_str(c, p, "name", 1);
        if (name)
            part->name = sp_strdup(name);
        const char *filename = get_str(c, p, "filename", 0);
        const char *ctype = get_str(c, p, "content_type", 0);
        int has_value = json_object_get(p, "value") != NULL;
        int has_content = json_object_get(p, "content") != NULL;
        if (filename) {
            part->filename = sp_strdup(filename);
            if (has_value)
                err_key(c, "value", "a file part holds 'content', not 'value'");
            else if (!has_content)
                err_missing(c, "content");
            else
                part->value = get_tmpl(c, p, "content", SP_ESC_NONE);
        } else {
            if (has_content)
                err_key(c, "content", "'content' needs 'filename' (a field part holds 'value')");
            else if (!has_value)
                err_missing(c, "value");
            else
                part->value = get_tmpl(c, p, "value", SP_ESC_NONE);
        }
        if (ctype) {
            if (!ctype[0] || strpbrk(ctype, "\r\n"))
                err_key(c, "content_type", "invalid content type");
            else
                part->content_type = sp_strdup(ctype);
        }
        path_pop(c, m);
    }
}

static sp_request *compile_request(ld *c, const json_t *v)
{
    static const char *const fields[] = {"method", "url",  "name", "headers",   "query",
                                         "json",   "form", "body", "multipart", "timeout"};
    static const char *const kinds[] = {"json", "form", "body", "multipart"};
    if (!json_is_object(v)) {
        err_type(c, "an object", v);
        return NULL;
    }
    check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    sp_request *r = sp_calloc(1, sizeof(*r));
    r->name_id = -1;
    r->timeout_ms = c->def->opts.timeout_ms;

    /* method */
    const char *method = get_str(c, v, "method", 0);
    if (!method)
        method = "GET";
    if (!is_token(method, METHOD_MAX_LEN)) {
        err_key(c, "method", "invalid method '%.64s': use an HTTP method such as GET or POST",
                method);
        method = "GET";
    }
    r->method = sp_strdup(method);
    for (char *p = r->method; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');

    /* url */
    const char *url = get_str(c, v, "url", 1);
    sp_tmpl *t = NULL;
    if (url) {
        size_t m = path_key(c, "url");
        size_t sl = url_scheme_len(url);
        if (!url_chars_ok(url)) {
            err(c, "a URL cannot contain spaces or control characters: put values in 'query' "
                   "or use urlencode()");
        } else if (sl && !is_http_scheme(url, sl)) {
            err(c, "unsupported URL scheme '%.*s': only http:// and https:// URLs", (int)sl, url);
        } else if (sl && strchr("/?#", url[sl + 3])) {
            err(c, "the URL has no host");
        } else {
            char e[ERRLEN] = "";
            t = sp_tmpl_new();
            if (!sl && c->base) {
                sp_tmpl_add_literal(t, c->base, strlen(c->base));
                if (url[0] != '/')
                    sp_tmpl_add_literal(t, "/", 1);
            }
            if (sp_tmpl_add_source(t, url, strlen(url), SP_ESC_NONE, &c->scope, e, sizeof e)) {
                err(c, "%s", e[0] ? e : "invalid template");
                sp_tmpl_free(t);
                t = NULL;
            }
        }
        path_pop(c, m);
    }
    const json_t *q = json_object_get(v, "query");
    if (q) {
        size_t m = path_key(c, "query");
        if (!json_is_object(q)) {
            err_type(c, "an object of query parameters", q);
        } else {
            /* Without a usable URL the pairs still compile, into a scratch template, so that
             * their own mistakes are reported in the same pass. */
            sp_tmpl *qt = t ? t : sp_tmpl_new();
            add_pairs(c, q, qt, url && strchr(url, '?') ? '&' : '?');
            if (qt != t)
                sp_tmpl_free(qt);
        }
        path_pop(c, m);
    }
    r->url = t;

    /* name: given, or derived from the URL as written, so it groups by path, not by values */
    const char *name = get_str(c, v, "name", 0);
    if (name && (!name[0] || strlen(name) > NAME_MAX_LEN)) {
        err_key(c, "name", "a request name must have 1 to %d characters", NAME_MAX_LEN);
    } else if (name) {
        size_t m = path_key(c, "name");
        r->name_id = intern_name(c, name);
        path_pop(c, m);
    } else if (url) {
        char *dn = default_name(r->method, url);
        r->name_id = intern_name(c, dn);
        free(dn);
    }

    /* headers */
    int has_ctype = 0;
    const json_t *h = json_object_get(v, "headers");
    if (h) {
        size_t m = path_key(c, "headers");
        compile_headers(c, h, &r->headers, &r->nheaders, &has_ctype);
        path_pop(c, m);
    }

    /* body: at most one kind */
    const char *found[SP_ARRAY_LEN(kinds)];
    size_t nfound = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(kinds); i++)
        if (json_object_get(v, kinds[i]))
            found[nfound++] = kinds[i];
    if (nfound > 1) {
        err(c, "give only one of json, form, body and multipart (found '%s' and '%s')", found[0],
            found[1]);
    } else if (nfound == 1) {
        const json_t *b = json_object_get(v, found[0]);
        size_t m = path_key(c, found[0]);
        const char *ctype = NULL;
        if (strcmp(found[0], "json") == 0) {
            r->body_kind = SP_BODY_JSON;
            r->body = sp_tmpl_new();
            json_body(c, b, r->body);
            ctype = "application/json";
        } else if (strcmp(found[0], "form") == 0) {
            r->body_kind = SP_BODY_FORM;
            if (!json_is_object(b)) {
                err_type(c, "an object of form fields", b);
            } else {
                r->body = sp_tmpl_new();
                add_pairs(c, b, r->body, 0);
            }
            ctype = "application/x-www-form-urlencoded";
        } else if (strcmp(found[0], "body") == 0) {
            r->body_kind = SP_BODY_RAW;
            if (!json_is_string(b))
                err_type(c, "a string (use 'json' for a JSON body)", b);
            else
                r->body = compile_tmpl(c, json_string_value(b), SP_ESC_NONE);
            ctype = "text/plain; charset=utf-8";
        } else {
            r->body_kind = SP_BODY_MULTIPART;
            compile_multipart(c, b, r);
        }
        path_pop(c, m);
        if (ctype && !has_ctype)
            r->content_type = sp_strdup(ctype);
    }

    uint32_t to;
    if (get_duration(c, v, "timeout", &to, 0) == 1)
        r->timeout_ms = to;
    return r;
}

static void free_request(sp_request *r)
{
    if (!r)
        return;
    free(r->method);
    tfree(r->url);
    free_headers(r->headers, r->nheaders);
    tfree(r->body);
    free(r->content_type);
    for (size_t i = 0; i < r->nparts; i++) {
        free(r->parts[i].name);
        tfree(r->parts[i].value);
        free(r->parts[i].filename);
        free(r->parts[i].content_type);
    }
    free(r->parts);
    free(r);
}

/* ---- expect and extract ---- */

static void compile_jchecks(ld *c, const json_t *v, sp_expect *x)
{
    static const char *const fields[] = {"path", "exists", "equals"};
    if (!json_is_array(v)) {
        err_type(c,
                 "an array of checks ({\"path\": ..., \"exists\": true} or {\"path\": ..., "
                 "\"equals\": ...})",
                 v);
        return;
    }
    x->json = sp_calloc(json_array_size(v), sizeof(x->json[0]));
    size_t i;
    json_t *chk;
    json_array_foreach(v, i, chk)
    {
        size_t m = path_index(c, i);
        if (!json_is_object(chk)) {
            err_type(c, "an object", chk);
            path_pop(c, m);
            continue;
        }
        check_fields(c, chk, fields, SP_ARRAY_LEN(fields));
        sp_jcheck *j = &x->json[x->njson++];
        const char *path = get_str(c, chk, "path", 1);
        if (path) {
            char e[ERRLEN] = "";
            j->path_src = sp_strdup(path);
            j->path = sp_jpath_compile(path, e, sizeof e);
            if (!j->path)
                err_key(c, "path", "invalid JSON path '%.100s': %s", path, e);
        }
        const json_t *eq = json_object_get(chk, "equals");
        int exists = get_bool(c, chk, "exists", -2);
        if (eq && exists != -2) {
            err(c, "give either 'exists' or 'equals', not both");
        } else if (eq) {
            j->kind = SP_JCHECK_EQUALS;
            j->equals = json_incref((json_t *)eq); /* new reference, owned by the check */
        } else if (exists == -2) {
            err(c, "give 'exists' (true or false) or 'equals' (a value)");
        } else if (exists >= 0) {
            j->kind = exists ? SP_JCHECK_EXISTS : SP_JCHECK_MISSING;
        }
        path_pop(c, m);
    }
}

static void compile_expect(ld *c, const json_t *v, sp_expect *x)
{
    static const char *const fields[] = {"status", "json", "body_contains", "max_latency",
                                         "message"};
    if (!json_is_object(v)) {
        err_type(c, "an object", v);
        return;
    }
    check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const json_t *st = json_object_get(v, "status");
    if (st) {
        size_t m = path_key(c, "status");
        status_list(c, st, &x->status, &x->nstatus);
        path_pop(c, m);
    }
    const json_t *j = json_object_get(v, "json");
    if (j) {
        size_t m = path_key(c, "json");
        compile_jchecks(c, j, x);
        path_pop(c, m);
    }
    const json_t *bc = json_object_get(v, "body_contains");
    if (bc && json_is_string(bc) && json_string_length(bc) == 0)
        err_key(c, "body_contains", "cannot be empty");
    else
        x->body_contains = get_tmpl(c, v, "body_contains", SP_ESC_NONE);
    get_duration(c, v, "max_latency", &x->max_latency_ms, 0);
    x->message = get_tmpl(c, v, "message", SP_ESC_NONE);
}

static void free_expect(sp_expect *x)
{
    free(x->status);
    for (size_t i = 0; i < x->njson; i++) {
        free(x->json[i].path_src);
        sp_jpath_free(x->json[i].path);
        if (x->json[i].equals)
            json_decref(x->json[i].equals);
    }
    free(x->json);
    tfree(x->body_contains);
    tfree(x->message);
}

static void compile_extracts(ld *c, const sp_userclass *uc, const json_t *v, sp_step *st)
{
    static const char *const fields[] = {"json", "header", "regex", "group"};
    if (!json_is_object(v)) {
        err_type(c, "an object of variable names and sources", v);
        return;
    }
    st->extracts = sp_calloc(json_object_size(v), sizeof(st->extracts[0]));
    const char *var;
    json_t *spec;
    json_object_foreach((json_t *)v, var, spec)
    {
        size_t m = path_key(c, var);
        if (check_var_name(c, var) != 0) {
            path_pop(c, m);
            continue;
        }
        if (!json_is_object(spec)) {
            err_type(c,
                     "an object ({\"json\": \"path\"}, {\"header\": \"Name\"} or {\"regex\": "
                     "\"...\"})",
                     spec);
            path_pop(c, m);
            continue;
        }
        check_fields(c, spec, fields, SP_ARRAY_LEN(fields));
        sp_extract *x = &st->extracts[st->nextracts++];
        x->slot = var_slot(uc, var);
        int kinds = (json_object_get(spec, "json") != NULL) +
                    (json_object_get(spec, "header") != NULL) +
                    (json_object_get(spec, "regex") != NULL);
        if (kinds != 1) {
            err(c, "give exactly one of 'json', 'header' and 'regex'");
            path_pop(c, m);
            continue;
        }
        if (json_object_get(spec, "group") && !json_object_get(spec, "regex"))
            err_key(c, "group", "'group' goes with 'regex'");
        const char *s;
        char e[ERRLEN] = "";
        if ((s = get_str(c, spec, "json", 0)) != NULL) {
            x->kind = SP_EXTRACT_JSON;
            x->path = sp_jpath_compile(s, e, sizeof e);
            if (!x->path)
                err_key(c, "json", "invalid JSON path '%.100s': %s", s, e);
        } else if ((s = get_str(c, spec, "header", 0)) != NULL) {
            x->kind = SP_EXTRACT_HEADER;
            if (!is_token(s, HEADER_NAME_MAX))
                err_key(c, "header", "invalid header name '%.100s'", s);
            else
                x->header = sp_strdup(s);
        } else if ((s = get_str(c, spec, "regex", 0)) != NULL) {
            x->kind = SP_EXTRACT_REGEX;
            size_t mr = path_key(c, "regex");
            regex_t *re = sp_malloc(sizeof(*re));
            int rc = strlen(s) > REGEX_MAX_LEN ? -1 : regcomp(re, s, REG_EXTENDED);
            if (rc > 0) {
                regerror(rc, re, e, sizeof e);
                err(c, "invalid regex: %s", e);
                free(re);
            } else if (rc < 0) {
                err(c, "the regex is longer than %d characters", REGEX_MAX_LEN);
                free(re);
            } else {
                x->re = re;
            }
            path_pop(c, mr);
            if (x->re) {
                /* Default: the first group when there is one, else the whole match. */
                int64_t g = x->re->re_nsub > 0 ? 1 : 0;
                int got = get_int(c, spec, "group", 0, 1000, &g);
                if (got == 1 && (size_t)g > x->re->re_nsub)
                    err_key(c, "group", "group %lld, but the regex has %zu group(s)", (long long)g,
                            (size_t)x->re->re_nsub);
                x->group = (int)g;
            }
        }
        path_pop(c, m);
    }
}

static void free_extracts(sp_extract *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sp_jpath_free(x[i].path);
        free(x[i].header);
        if (x[i].re) {
            regfree(x[i].re);
            free(x[i].re);
        }
    }
    free(x);
}

/* ---- steps ---- */

static const char *const step_fields[] = {"if",     "unless",  "let",        "request",
                                          "expect", "extract", "set_headers"};
/* A task written as a single step also takes the task's own fields. */
static const char *const short_task_fields[] = {
    "if", "unless", "let", "request", "expect", "extract", "set_headers", "name", "weight"};

static void compile_step(ld *c, const sp_userclass *uc, const json_t *v, sp_step *st, int shorthand)
{
    if (!json_is_object(v)) {
        err_type(c, "an object (a step)", v);
        return;
    }
    if (!shorthand)
        check_fields(c, v, step_fields, SP_ARRAY_LEN(step_fields));

    const json_t *cif = json_object_get(v, "if");
    const json_t *cunless = json_object_get(v, "unless");
    if (cif && cunless) {
        err(c, "give either 'if' or 'unless', not both");
    } else if (cif || cunless) {
        const char *k = cif ? "if" : "unless";
        size_t m = path_key(c, k);
        compile_cond(c, uc, cif ? cif : cunless, &st->cond);
        st->cond.negate = cunless != NULL;
        path_pop(c, m);
    }

    const json_t *let = json_object_get(v, "let");
    if (let) {
        size_t m = path_key(c, "let");
        if (!json_is_object(let)) {
            err_type(c, "an object of variable names and values", let);
        } else {
            st->lets = sp_calloc(json_object_size(let), sizeof(st->lets[0]));
            const char *var;
            json_t *val;
            json_object_foreach((json_t *)let, var, val)
            {
                size_t mv = path_key(c, var);
                if (check_var_name(c, var) == 0) {
                    char *src = scalar_text(c, val);
                    sp_tmpl *t = src ? compile_tmpl(c, src, SP_ESC_NONE) : NULL;
                    free(src);
                    if (t) {
                        st->lets[st->nlets].slot = var_slot(uc, var);
                        st->lets[st->nlets].value = t;
                        st->nlets++;
                    }
                }
                path_pop(c, mv);
            }
        }
        path_pop(c, m);
    }

    const json_t *req = json_object_get(v, "request");
    if (req) {
        size_t m = path_key(c, "request");
        st->req = compile_request(c, req);
        path_pop(c, m);
    }
    const json_t *exp = json_object_get(v, "expect");
    if (exp) {
        size_t m = path_key(c, "expect");
        if (!req)
            err(c, "'expect' needs a 'request' in the same step");
        else
            compile_expect(c, exp, &st->expect);
        path_pop(c, m);
    }
    const json_t *ext = json_object_get(v, "extract");
    if (ext) {
        size_t m = path_key(c, "extract");
        if (!req)
            err(c, "'extract' needs a 'request' in the same step");
        else
            compile_extracts(c, uc, ext, st);
        path_pop(c, m);
    }
    const json_t *sh = json_object_get(v, "set_headers");
    if (sh) {
        size_t m = path_key(c, "set_headers");
        compile_headers(c, sh, &st->set_headers, &st->nset_headers, NULL);
        path_pop(c, m);
    }
    if (!req && !let && !sh)
        err(c, "a step needs at least one of 'request', 'let' and 'set_headers'");
}

static void free_step(sp_step *st)
{
    free(st->cond.equals);
    free(st->cond.status);
    for (size_t i = 0; i < st->nlets; i++)
        tfree(st->lets[i].value);
    free(st->lets);
    free_request(st->req);
    free_expect(&st->expect);
    free_extracts(st->extracts, st->nextracts);
    free_headers(st->set_headers, st->nset_headers);
}

/* Compiles an array of steps (on_start or a task's steps). */
static void compile_steps(ld *c, const sp_userclass *uc, const json_t *v, sp_step **out, size_t *n,
                          int allow_empty)
{
    if (!json_is_array(v)) {
        err_type(c, "an array of steps", v);
        return;
    }
    size_t cnt = json_array_size(v);
    if (cnt > SP_DEF_MAX_STEPS) {
        err(c, "more than %d steps", SP_DEF_MAX_STEPS);
        return;
    }
    if (cnt == 0 && !allow_empty) {
        err(c, "give at least one step");
        return;
    }
    *out = sp_calloc(cnt, sizeof(**out));
    for (size_t i = 0; i < cnt; i++) {
        size_t m = path_index(c, i);
        compile_step(c, uc, json_array_get(v, i), &(*out)[i], 0); /* borrowed */
        (*n)++;
        path_pop(c, m);
    }
}

/* ---- user classes ---- */

static void add_var(ld *c, sp_userclass *uc, const char *name, int *overflow)
{
    if (!is_ident(name) || is_reserved(name) || var_slot(uc, name) >= 0)
        return; /* bad names are reported where they are written, in the second pass */
    if (uc->nvars >= SP_DEF_MAX_VARS) {
        if (!*overflow)
            err(c, "more than %d distinct variables in one user class", SP_DEF_MAX_VARS);
        *overflow = 1;
        return;
    }
    uc->vars = sp_realloc(uc->vars, (uc->nvars + 1) * sizeof(uc->vars[0]));
    uc->vars[uc->nvars++] = sp_strdup(name);
}

/* First pass over one step: every variable its let and extract assign. */
static void collect_step_vars(ld *c, sp_userclass *uc, const json_t *step, int *overflow)
{
    static const char *const keys[] = {"let", "extract"};
    if (!json_is_object(step))
        return;
    for (size_t k = 0; k < SP_ARRAY_LEN(keys); k++) {
        const json_t *o = json_object_get(step, keys[k]);
        const char *name;
        json_t *val;
        if (json_is_object(o))
            json_object_foreach((json_t *)o, name, val) add_var(c, uc, name, overflow);
    }
}

static void collect_vars(ld *c, sp_userclass *uc, const json_t *u)
{
    int overflow = 0;
    size_t i;
    json_t *s, *t;
    const json_t *on_start = json_object_get(u, "on_start");
    if (json_is_array(on_start))
        json_array_foreach(on_start, i, s) collect_step_vars(c, uc, s, &overflow);
    uc->nstart_vars = uc->nvars;
    const json_t *tasks = json_object_get(u, "tasks");
    if (json_is_array(tasks)) {
        json_array_foreach(tasks, i, t)
        {
            const json_t *steps = json_is_object(t) ? json_object_get(t, "steps") : NULL;
            size_t j;
            if (json_is_array(steps))
                json_array_foreach(steps, j, s) collect_step_vars(c, uc, s, &overflow);
            else
                collect_step_vars(c, uc, t, &overflow);
        }
    }
}

static int get_weight(ld *c, const json_t *obj, uint32_t *out)
{
    int64_t w = 1;
    int rc = get_int(c, obj, "weight", 1, WEIGHT_MAX, &w);
    *out = (uint32_t)w;
    return rc;
}

static void compile_task(ld *c, const sp_userclass *uc, const json_t *v, sp_task *task)
{
    static const char *const fields[] = {"name", "weight", "steps"};
    task->weight = 1;
    if (!json_is_object(v)) {
        err_type(c, "an object (a task)", v);
        return;
    }
    const json_t *steps = json_object_get(v, "steps");
    int shorthand = steps == NULL;
    if (shorthand)
        check_fields(c, v, short_task_fields, SP_ARRAY_LEN(short_task_fields));
    else
        check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const char *name = get_str(c, v, "name", 0);
    if (name) {
        if (!name[0] || strlen(name) > NAME_MAX_LEN)
            err_key(c, "name", "a task name must have 1 to %d characters", NAME_MAX_LEN);
        else
            task->name = sp_strdup(name);
    }
    get_weight(c, v, &task->weight);
    if (shorthand) {
        task->steps = sp_calloc(1, sizeof(task->steps[0]));
        task->nsteps = 1;
        compile_step(c, uc, v, &task->steps[0], 1);
    } else {
        size_t m = path_key(c, "steps");
        compile_steps(c, uc, steps, &task->steps, &task->nsteps, 0);
        path_pop(c, m);
    }
}

static int compile_think(ld *c, const json_t *v, sp_think *th)
{
    static const char *const fields[] = {"constant_ms", "between_ms", "pacing_ms",
                                         "constant",    "between",    "pacing"};
    if (!json_is_object(v)) {
        err_type(c,
                 "an object ({\"between\": [\"1s\", \"3s\"]}, {\"constant\": \"2s\"} or "
                 "{\"pacing\": \"5s\"})",
                 v);
        return -1;
    }
    check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const char *key = NULL;
    const json_t *val = NULL;
    size_t found = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(fields); i++) {
        const json_t *x = json_object_get(v, fields[i]);
        if (x) {
            found++;
            if (!key) {
                key = fields[i];
                val = x;
            }
        }
    }
    if (found != 1) {
        err(c, "give exactly one of constant, between and pacing (or their _ms spellings)");
        return -1;
    }
    int ms_only = strstr(key, "_ms") != NULL;
    size_t m = path_key(c, key);
    int rc = -1;
    int64_t a = 0, b = 0;
    if (strncmp(key, "between", 7) == 0) {
        if (!json_is_array(val) || json_array_size(val) != 2) {
            err(c, "expected an array of two durations [min, max]");
            goto out;
        }
        for (size_t i = 0; i < 2; i++) {
            const json_t *x = json_array_get(val, i); /* borrowed */
            size_t mi = path_index(c, i);
            int r;
            if (ms_only && !json_is_number(x)) {
                err_type(c, "a number of milliseconds", x);
                r = -1;
            } else {
                r = value_duration(c, x, i ? &b : &a);
            }
            path_pop(c, mi);
            if (r)
                goto out;
        }
        if (a > b) {
            err(c, "the minimum is larger than the maximum");
            goto out;
        }
        th->kind = SP_THINK_BETWEEN;
    } else {
        if (ms_only && !json_is_number(val)) {
            err_type(c, "a number of milliseconds", val);
            goto out;
        }
        if (value_duration(c, val, &a))
            goto out;
        b = a;
        th->kind = key[0] == 'c' ? SP_THINK_CONSTANT : SP_THINK_PACING;
    }
    th->min_ms = (uint32_t)a;
    th->max_ms = (uint32_t)b;
    rc = 0;
out:
    path_pop(c, m);
    return rc;
}

int sp_def_file_path_ok(const char *file)
{
    if (file[0] == '/' || strlen(file) > SP_DEF_MAX_FILE_PATH)
        return 0;
    const char *p = file;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e)
            return 1;
        p = e + 1;
    }
}

int sp_def_file_below(const char *path, const char *dir)
{
    char *rp = realpath(path, NULL);
    char *rd = realpath(dir, NULL);
    size_t n = rd ? strlen(rd) : 0;
    struct stat st;
    int ok = rp && rd && strncmp(rp, rd, n) == 0 && rp[n] == '/' && stat(rp, &st) == 0 &&
             S_ISREG(st.st_mode);
    free(rp);
    free(rd);
    return ok;
}

/*
 * A class's data file: {"csv": PATH, "mode": "sequential"|"random"|"unique", "on_exhausted":
 * "stop"|"recycle", "per": "iteration"|"vu", "delimiter": ","|";"|"tab"}. PATH is relative to
 * the definition's directory. Files are read only for definitions loaded with a directory (the
 * CLI's sp_def_load_file): a definition sent to the server must not read the server's files.
 */
static void compile_data_file(ld *c, const json_t *v, sp_userclass *uc)
{
    static const char *const fields[] = {"csv", "mode", "on_exhausted", "per", "delimiter"};
    char *full = NULL;
    if (!json_is_object(v)) {
        err_type(c, "an object such as {\"csv\": \"data/users.csv\"}", v);
        return;
    }
    check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const char *file = get_str(c, v, "csv", 1);
    const char *mode = get_str(c, v, "mode", 0);
    const char *exh = get_str(c, v, "on_exhausted", 0);
    const char *per = get_str(c, v, "per", 0);
    const char *delim = get_str(c, v, "delimiter", 0);
    sp_csv_opts co;
    memset(&co, 0, sizeof co);
    memset(&uc->feed, 0, sizeof uc->feed);
    if (mode && sp_feed_mode_from_name(mode, &uc->feed.mode) != 0)
        err_key(c, "mode", "unknown mode '%.100s': use sequential, random or unique", mode);
    if (exh && sp_feed_exhausted_from_name(exh, &uc->feed.on_exhausted) != 0)
        err_key(c, "on_exhausted", "unknown value '%.100s': use stop or recycle", exh);
    if (per && sp_feed_per_from_name(per, &uc->feed.per) != 0)
        err_key(c, "per", "unknown value '%.100s': use iteration or vu", per);
    if (delim && !(co.delimiter = sp_csv_delimiter_from_name(delim)))
        err_key(c, "delimiter", "unknown delimiter '%.20s': use \",\", \";\" or \"tab\"", delim);
    if (!file)
        return;
    if (!file[0]) {
        err_key(c, "csv", "give the path of a CSV file");
        return;
    }
    if (!c->base_dir) {
        err_key(c, "csv",
                "CSV data files are read only for definitions run from a file "
                "(stampede run FILE)");
        return;
    }
    if (c->confined && !sp_def_file_path_ok(file)) {
        err_key(c, "csv",
                "'%.200s': name a file in the server's data files directory by a relative path "
                "without '..' (such as data/customers.csv)",
                file);
        return;
    }
    if (file[0] == '/') {
        full = sp_strdup(file);
    } else {
        sp_buf b;
        sp_buf_init(&b, 4096);
        if (sp_buf_addf(&b, "%s/%s", c->base_dir, file) != 0) {
            sp_buf_release(&b);
            err_key(c, "csv", "the path is too long");
            return;
        }
        full = sp_buf_detach(&b, NULL);
    }
    if (c->confined && !sp_def_file_below(full, c->base_dir)) {
        /* A symbolic link out of the directory, or a file that is not there: either way the
         * message names only what the definition said, not the server's paths. */
        err_key(c, "csv", "'%.200s': no such file among the server's data files", file);
        free(full);
        return;
    }
    size_t m = path_key(c, "csv");
    co.errpath = c->path.p;
    co.name = c->confined ? file : full;
    if (sp_csv_load(full, &co, &uc->csv, c->errs) != 0)
        uc->csv = NULL; /* the error is in c->errs, with this path */
    path_pop(c, m);
    free(full);
}

static void compile_user(ld *c, const json_t *u, size_t idx, sp_userclass *uc)
{
    static const char *const fields[] = {"name",     "weight", "think",    "headers",
                                         "on_start", "tasks",  "data_file"};
    uc->weight = 1;
    if (!json_is_object(u)) {
        err_type(c, "an object (a user class)", u);
        return;
    }
    check_fields(c, u, fields, SP_ARRAY_LEN(fields));
    const char *name = get_str(c, u, "name", 0);
    char dflt[32];
    if (!name) {
        snprintf(dflt, sizeof dflt, "user%zu", idx + 1);
        name = dflt;
    } else if (!name[0] || strlen(name) > NAME_MAX_LEN) {
        err_key(c, "name", "a user class name must have 1 to %d characters", NAME_MAX_LEN);
    }
    for (size_t i = 0; i < idx; i++)
        if (c->def->users[i].name && strcmp(c->def->users[i].name, name) == 0)
            err_key(c, "name", "users[%zu] already has the name '%.100s'", i, name);
    uc->name = sp_strdup(name);
    get_weight(c, u, &uc->weight);
    const json_t *th = json_object_get(u, "think");
    if (th) {
        size_t m = path_key(c, "think");
        compile_think(c, th, &uc->think);
        path_pop(c, m);
    }

    const json_t *df = json_object_get(u, "data_file");
    if (df) {
        size_t m = path_key(c, "data_file");
        compile_data_file(c, df, uc);
        path_pop(c, m);
    }
    if (uc->csv)
        c->scope.row_fields = sp_csv_fields(uc->csv, &c->scope.nrow_fields);

    collect_vars(c, uc, u);
    c->scope.vars = (const char *const *)uc->vars;
    c->scope.nvars = uc->nvars;

    const json_t *h = json_object_get(u, "headers");
    if (h) {
        size_t m = path_key(c, "headers");
        compile_headers(c, h, &uc->headers, &uc->nheaders, NULL);
        path_pop(c, m);
    }
    const json_t *os = json_object_get(u, "on_start");
    if (os) {
        size_t m = path_key(c, "on_start");
        compile_steps(c, uc, os, &uc->on_start, &uc->non_start, 1);
        path_pop(c, m);
    }
    const json_t *tasks = json_object_get(u, "tasks");
    if (!tasks) {
        err_missing(c, "tasks");
    } else {
        size_t m = path_key(c, "tasks");
        size_t n = json_is_array(tasks) ? json_array_size(tasks) : 0;
        if (!json_is_array(tasks)) {
            err_type(c, "an array of tasks", tasks);
        } else if (n == 0 || n > SP_DEF_MAX_TASKS) {
            err(c, "give between 1 and %d tasks", SP_DEF_MAX_TASKS);
        } else {
            uc->tasks = sp_calloc(n, sizeof(uc->tasks[0]));
            for (size_t i = 0; i < n; i++) {
                size_t mi = path_index(c, i);
                compile_task(c, uc, json_array_get(tasks, i), &uc->tasks[i]); /* borrowed */
                uc->ntasks++;
                uc->total_weight += uc->tasks[i].weight;
                path_pop(c, mi);
            }
        }
        path_pop(c, m);
    }
    c->scope.vars = NULL;
    c->scope.nvars = 0;
    c->scope.row_fields = NULL;
    c->scope.nrow_fields = 0;
}

static void free_user(sp_userclass *uc)
{
    free(uc->name);
    free_headers(uc->headers, uc->nheaders);
    for (size_t i = 0; i < uc->non_start; i++)
        free_step(&uc->on_start[i]);
    free(uc->on_start);
    for (size_t i = 0; i < uc->ntasks; i++) {
        free(uc->tasks[i].name);
        for (size_t j = 0; j < uc->tasks[i].nsteps; j++)
            free_step(&uc->tasks[i].steps[j]);
        free(uc->tasks[i].steps);
    }
    free(uc->tasks);
    for (size_t i = 0; i < uc->nvars; i++)
        free(uc->vars[i]);
    free(uc->vars);
    sp_csv_free(uc->csv);
}

/* ---- load profile ---- */

/* A stage's target: VUs (a whole number) for the closed model, a rate for the open one. */
static int stage_target(ld *c, const json_t *st, int open, double *out)
{
    const char *key = open ? "rate" : "users";
    const json_t *v = json_object_get(st, key);
    if (!v) {
        err_missing(c, key);
        return -1;
    }
    if (!open) {
        int64_t u;
        if (get_int(c, st, "users", 0, SP_DEF_MAX_VUS, &u) != 1)
            return -1;
        *out = (double)u;
        return 0;
    }
    size_t m = path_key(c, "rate");
    int rc = -1;
    if (!json_is_number(v))
        err_type(c, "a number (iterations per second)", v);
    else if (json_number_value(v) < 0)
        err(c, "cannot be negative");
    else if (json_number_value(v) > RATE_MAX)
        err(c, "at most %.0f per second", RATE_MAX);
    else {
        *out = json_number_value(v);
        rc = 0;
    }
    path_pop(c, m);
    return rc;
}

static void compile_load(ld *c, const json_t *v, sp_load *L)
{
    static const char *const fields[] = {"model", "stages",   "max_vus",  "users",
                                         "rate",  "duration", "stop_when"};
    if (!json_is_object(v)) {
        err_type(c, "an object", v);
        return;
    }
    check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const char *model = get_str(c, v, "model", 0);
    int open = 0;
    if (model && strcmp(model, "open") == 0) {
        open = 1;
    } else if (model && strcmp(model, "closed") != 0) {
        err_key(c, "model",
                "expected \"closed\" (a number of users) or \"open\" (a rate of "
                "arrivals), got '%.64s'",
                model);
        return;
    }
    L->model = open ? SP_LOAD_OPEN : SP_LOAD_CLOSED;
    const char *tkey = open ? "rate" : "users";
    const char *other = open ? "users" : "rate";
    if (json_object_get(v, other))
        err_key(c, other, "'%s' belongs to the %s model; the %s model uses '%s'", other,
                open ? "closed" : "open", open ? "open" : "closed", tkey);

    int ok = 1;
    const json_t *stages = json_object_get(v, "stages");
    if (stages) {
        if (json_object_get(v, tkey) || json_object_get(v, "duration")) {
            err(c, "give either 'stages' or '%s' with 'duration', not both", tkey);
            return;
        }
        size_t m = path_key(c, "stages");
        size_t n = json_is_array(stages) ? json_array_size(stages) : 0;
        if (!json_is_array(stages)) {
            err_type(c, "an array of stages", stages);
            ok = 0;
        } else if (n == 0) {
            err(c, "the load has no stages");
            ok = 0;
        } else if (n > SP_DEF_MAX_STAGES) {
            err(c, "more than %d stages", SP_DEF_MAX_STAGES);
            ok = 0;
        } else {
            static const char *const sfields[] = {"duration", "users", "rate"};
            L->stages = sp_calloc(n, sizeof(L->stages[0]));
            for (size_t i = 0; i < n; i++) {
                const json_t *st = json_array_get(stages, i); /* borrowed */
                size_t mi = path_index(c, i);
                if (!json_is_object(st)) {
                    err_type(c, "an object ({\"duration\": ..., \"users\": ...})", st);
                    ok = 0;
                    path_pop(c, mi);
                    continue;
                }
                check_fields(c, st, sfields, SP_ARRAY_LEN(sfields));
                if (json_object_get(st, other)) {
                    err_key(c, other, "%s-model stages set '%s', not '%s'",
                            open ? "open" : "closed", tkey, other);
                    ok = 0;
                }
                const json_t *d = json_object_get(st, "duration");
                int64_t ms = 0;
                if (!d) {
                    err_missing(c, "duration");
                    ok = 0;
                } else {
                    size_t md = path_key(c, "duration");
                    if (value_duration(c, d, &ms))
                        ok = 0;
                    path_pop(c, md);
                }
                double target = 0;
                if (stage_target(c, st, open, &target))
                    ok = 0;
                L->stages[L->nstages].duration_ms = (uint32_t)ms;
                L->stages[L->nstages].target = target;
                L->nstages++;
                L->total_ms += (uint64_t)ms;
                path_pop(c, mi);
            }
        }
        path_pop(c, m);
    } else {
        /* Shorthand: jump to the target at once, then hold it for the duration. */
        double target = 0;
        int64_t ms = 0;
        const json_t *d = json_object_get(v, "duration");
        if (!json_object_get(v, tkey) && !d) {
            err(c, "give 'stages', or '%s' and 'duration'", tkey);
            return;
        }
        if (stage_target(c, v, open, &target))
            ok = 0;
        if (!d) {
            err_missing(c, "duration");
            ok = 0;
        } else {
            size_t md = path_key(c, "duration");
            if (value_duration(c, d, &ms))
                ok = 0;
            path_pop(c, md);
        }
        L->stages = sp_calloc(2, sizeof(L->stages[0]));
        L->stages[0].duration_ms = 0;
        L->stages[0].target = target;
        L->stages[1].duration_ms = (uint32_t)ms;
        L->stages[1].target = target;
        L->nstages = 2;
        L->total_ms = (uint64_t)ms;
    }

    if (ok) {
        double peak = 0;
        for (size_t i = 0; i < L->nstages; i++)
            if (L->stages[i].target > peak)
                peak = L->stages[i].target;
        if (L->total_ms == 0)
            err(c, "the load's total duration is 0: give at least one stage a duration");
        else if (L->total_ms > (uint64_t)SP_DEF_MAX_DURATION_S * 1000)
            err(c, "the load lasts longer than %d days in total", SP_DEF_MAX_DURATION_S / 86400);
        if (peak <= 0)
            err(c, open ? "every stage has a rate of 0: nothing would run"
                        : "every stage has 0 users: nothing would run");
    }

    int64_t mv = 0;
    int got = get_int(c, v, "max_vus", 1, SP_DEF_MAX_VUS, &mv);
    if (open) {
        if (got == 0)
            err(c, "the open model needs 'max_vus' (the most VUs it may start, 1 to %d)",
                SP_DEF_MAX_VUS);
        else if (got == 1)
            L->max_vus = (uint32_t)mv;
    } else if (got != 0) {
        err_key(c, "max_vus",
                "'max_vus' belongs to the open model; the closed model's stages "
                "set the number of users");
    }
}

/* ---- options ---- */

static void compile_options(ld *c, const json_t *v, sp_options *o)
{
    static const char *const fields[] = {"timeout",          "connect_timeout",
                                         "graceful_stop",    "max_response_bytes",
                                         "follow_redirects", "insecure"};
    if (!json_is_object(v)) {
        err_type(c, "an object", v);
        return;
    }
    check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    get_duration(c, v, "timeout", &o->timeout_ms, 0);
    get_duration(c, v, "connect_timeout", &o->connect_timeout_ms, 0);
    get_duration(c, v, "graceful_stop", &o->graceful_stop_ms, 1);
    int64_t mr;
    if (get_int(c, v, "max_response_bytes", 1, SP_RESP_ABSOLUTE_MAX, &mr) == 1)
        o->max_response_bytes = (uint32_t)mr;
    int b = get_bool(c, v, "follow_redirects", 1);
    if (b >= 0)
        o->follow_redirects = b;
    b = get_bool(c, v, "insecure", 0);
    if (b >= 0)
        o->insecure = b;
}

/* ---- top level ---- */

/* Validates base_url; on success c->base points at the def's copy without trailing '/'. */
static void compile_base_url(ld *c, const char *s)
{
    size_t m = path_key(c, "base_url");
    size_t sl = url_scheme_len(s);
    if (!sl || !is_http_scheme(s, sl)) {
        err(c, "expected an http:// or https:// URL, got '%.100s'", s);
    } else if (!url_chars_ok(s) || strstr(s, "{{")) {
        err(c, "base_url cannot contain spaces, control characters or templates");
    } else if (strchr("/?#:", s[sl + 3])) {
        err(c, "the URL has no host");
    } else if (strpbrk(s, "?#")) {
        err(c, "base_url cannot have a query or fragment: put them in each request");
    } else {
        size_t n = strlen(s);
        while (n > sl + 3 && s[n - 1] == '/')
            n--;
        c->def->base_url = sp_strndup(s, n);
        c->base = c->def->base_url;
    }
    path_pop(c, m);
}

static void compile_thresholds(ld *c, const json_t *v)
{
    sp_def *d = c->def;
    if (!json_is_array(v)) {
        err_type(c, "an array of strings such as \"p95 < 300ms\"", v);
        return;
    }
    if (json_array_size(v) > SP_DEF_MAX_THRESHOLDS) {
        err(c, "more than %d thresholds", SP_DEF_MAX_THRESHOLDS);
        return;
    }
    d->thresholds = sp_calloc(json_array_size(v), sizeof(d->thresholds[0]));
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t)
    {
        size_t m = path_index(c, i);
        if (!json_is_string(t)) {
            err_type(c, "a string such as \"p95 < 300ms\"", t);
        } else {
            char e[ERRLEN] = "";
            sp_threshold th;
            memset(&th, 0, sizeof th);
            if (sp_threshold_parse(json_string_value(t), (const char *const *)d->names, d->nnames,
                                   &th, e, sizeof e) == 0)
                d->thresholds[d->nthresholds++] = th;
            else
                err(c, "%s", e[0] ? e : "invalid threshold");
        }
        path_pop(c, m);
    }
}

/*
 * load.stop_when: {"any": ["error_rate > 5%", "p95 > 2s"], "window": "10s"}. The conditions use
 * the threshold grammar, but say when to stop (the run breaks when one holds), judged over the
 * last `window` seconds (default 10 s, 1 s to 1 h).
 */
static void compile_stop_when(ld *c, const json_t *v)
{
    static const char *const fields[] = {"any", "window"};
    sp_load *l = &c->def->load;
    if (!json_is_object(v)) {
        err_type(c, "an object such as {\"any\": [\"error_rate > 5%\"], \"window\": \"10s\"}", v);
        return;
    }
    check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    l->stop_window_s = 10;
    const json_t *w = json_object_get(v, "window");
    if (w) {
        size_t m = path_key(c, "window");
        int64_t ms = 0;
        if (!json_is_string(w) || sp_parse_duration_ms(json_string_value(w), &ms) != 0 ||
            ms < 1000 || ms > 3600 * 1000 || ms % 1000)
            err(c, "a whole number of seconds from 1s to 1h, such as \"10s\"");
        else
            l->stop_window_s = (uint32_t)(ms / 1000);
        path_pop(c, m);
    }
    const json_t *any = json_object_get(v, "any");
    if (!any) {
        err_missing(c, "any");
        return;
    }
    size_t m = path_key(c, "any");
    if (!json_is_array(any) || json_array_size(any) == 0 ||
        json_array_size(any) > SP_DEF_MAX_THRESHOLDS) {
        err(c, "an array of 1 to %d conditions such as \"error_rate > 5%%\"",
            SP_DEF_MAX_THRESHOLDS);
        path_pop(c, m);
        return;
    }
    l->stop_when = sp_calloc(json_array_size(any), sizeof(l->stop_when[0]));
    size_t i;
    json_t *t;
    json_array_foreach(any, i, t)
    {
        size_t mi = path_index(c, i);
        char e[ERRLEN] = "";
        sp_threshold th;
        memset(&th, 0, sizeof th);
        if (!json_is_string(t))
            err_type(c, "a string such as \"p95 > 2s\"", t);
        else if (sp_threshold_parse(json_string_value(t), (const char *const *)c->def->names,
                                    c->def->nnames, &th, e, sizeof e) == 0)
            l->stop_when[l->nstop_when++] = th;
        else
            err(c, "%s", e[0] ? e : "invalid condition");
        path_pop(c, mi);
    }
    path_pop(c, m);
}

/*
 * "secrets": {"NAME": "value"}: values templates read as {{secret.NAME}}. Messages here name
 * the secret and never show its value, because they go back to whoever sent the definition
 * and into logs.
 */
static void compile_secrets(ld *c, const json_t *secrets)
{
    sp_def *d = c->def;
    if (!json_is_object(secrets)) {
        err_type(c, "an object of named secret values, such as {\"api_key\": \"...\"}", secrets);
        return;
    }
    size_t n = json_object_size(secrets);
    if (n > SP_DEF_MAX_SECRETS) {
        err(c, "%zu secrets; at most %d are allowed", n, SP_DEF_MAX_SECRETS);
        return;
    }
    d->secrets = sp_calloc(n ? n : 1, sizeof(d->secrets[0]));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)secrets, key, v)
    {
        size_t m = path_key(c, key);
        if (!is_ident(key)) {
            err(c, "a secret's name uses letters, digits and '_' and does not start with a digit");
        } else if (!json_is_string(v)) {
            err(c, "a secret's value must be a string, got %s", type_name(v));
        } else if (json_string_length(v) == 0) {
            err(c, "a secret's value cannot be empty");
        } else if (json_string_length(v) > SP_DEF_MAX_SECRET_BYTES) {
            err(c, "a secret's value is longer than %d bytes", SP_DEF_MAX_SECRET_BYTES);
        } else if (memchr(json_string_value(v), '\0', json_string_length(v))) {
            err(c, "a secret's value cannot contain a NUL character");
        } else {
            d->secrets[d->nsecrets++] = json_string_value(v); /* borrowed from d->doc */
        }
        path_pop(c, m);
    }
    /* With a bad secret the load fails anyway; references are still checked against the names
     * given, so that each mistake is reported once, where it is. */
    c->scope.secrets = secrets;
}

static void compile_def(ld *c, const json_t *doc)
{
    static const char *const fields[] = {"name", "description", "base_url", "headers",
                                         "data", "secrets",     "options",  "users",
                                         "load", "thresholds"};
    sp_def *d = c->def;
    check_fields(c, doc, fields, SP_ARRAY_LEN(fields));

    const json_t *secrets = json_object_get(doc, "secrets");
    if (secrets) {
        size_t m = path_key(c, "secrets");
        compile_secrets(c, secrets);
        path_pop(c, m);
    }

    const char *name = get_str(c, doc, "name", 1);
    if (name && !name[0])
        err_key(c, "name", "cannot be empty");
    d->name = sp_strdup(name ? name : "");
    get_str(c, doc, "description", 0);
    const char *base = get_str(c, doc, "base_url", 1);
    if (base)
        compile_base_url(c, base);

    const json_t *data = json_object_get(doc, "data");
    c->scope.data = c->empty;
    if (data) {
        size_t m = path_key(c, "data");
        if (!json_is_object(data)) {
            err_type(c, "an object of named lists", data);
        } else {
            check_data(c, data);
            c->scope.data = data;
        }
        path_pop(c, m);
    }

    const json_t *opts = json_object_get(doc, "options");
    if (opts) {
        size_t m = path_key(c, "options");
        compile_options(c, opts, &d->opts);
        path_pop(c, m);
    }

    /* Definition-wide headers are shared by every user class, so they may use data lists and
     * functions but no VU variable (set those with set_headers). */
    const json_t *h = json_object_get(doc, "headers");
    if (h) {
        size_t m = path_key(c, "headers");
        compile_headers(c, h, &d->headers, &d->nheaders, NULL);
        path_pop(c, m);
    }

    const json_t *users = json_object_get(doc, "users");
    if (!users) {
        err_missing(c, "users");
    } else {
        size_t m = path_key(c, "users");
        size_t n = json_is_array(users) ? json_array_size(users) : 0;
        if (!json_is_array(users)) {
            err_type(c, "an array of user classes", users);
        } else if (n == 0 || n > SP_DEF_MAX_USERS) {
            err(c, "give between 1 and %d user classes", SP_DEF_MAX_USERS);
        } else {
            d->users = sp_calloc(n, sizeof(d->users[0]));
            for (size_t i = 0; i < n; i++) {
                size_t mi = path_index(c, i);
                compile_user(c, json_array_get(users, i), i, &d->users[i]); /* borrowed */
                d->nusers++;
                d->total_weight += d->users[i].weight;
                path_pop(c, mi);
            }
        }
        path_pop(c, m);
    }

    const json_t *load = json_object_get(doc, "load");
    if (!load) {
        err_missing(c, "load");
    } else {
        size_t m = path_key(c, "load");
        compile_load(c, load, &d->load);
        path_pop(c, m);
    }

    /* Last: a threshold may name any request of any user class. */
    const json_t *th = json_object_get(doc, "thresholds");
    if (th) {
        size_t m = path_key(c, "thresholds");
        compile_thresholds(c, th);
        path_pop(c, m);
    }
    const json_t *sw = load ? json_object_get(load, "stop_when") : NULL;
    if (sw) {
        size_t m = path_key(c, "load");
        size_t m2 = path_key(c, "stop_when");
        compile_stop_when(c, sw);
        path_pop(c, m2);
        path_pop(c, m);
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

static void apply_overrides(ld *c, json_t *doc, const sp_overrides *ov)
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
static int check_depth(ld *c, const json_t *v, int depth)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (depth > SP_DEF_MAX_DEPTH) {
        err(c, "nested deeper than %d levels", SP_DEF_MAX_DEPTH);
        return -1;
    }
    int rc = 0;
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child)
        {
            size_t m = path_key(c, key);
            rc = check_depth(c, child, depth + 1);
            path_pop(c, m);
            if (rc)
                break;
        }
    } else {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            size_t m = path_index(c, i);
            rc = check_depth(c, child, depth + 1);
            path_pop(c, m);
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
        sp_errlist_add(errs, "", "expected an object (a test definition), got %s", type_name(doc));
        json_decref(doc);
        return SP_EINVAL;
    }

    ld c;
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
    free_headers(d->headers, d->nheaders);
    for (size_t i = 0; i < d->nusers; i++)
        free_user(&d->users[i]);
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
    free(d->secrets);
    if (d->doc)
        json_decref(d->doc);
    free(d);
}

/* The length of the longest prefix of secret (at least min bytes long) that s ends with when
 * followed only by "..." or "'" and "...": a message cut in the middle of a secret. */
static size_t cut_tail(const char *s, size_t n, const char *secret, size_t slen)
{
    size_t min = slen < 4 ? slen : 4;
    for (size_t k = slen - 1; k >= min && k > 0; k--) {
        if (k <= n && memcmp(s + n - k, secret, k) == 0)
            return k;
    }
    return 0;
}

int sp_def_mask_secrets(const sp_def *d, const char *msg, sp_buf *out)
{
    if (!d->nsecrets || !msg)
        return 0;
    size_t n = strlen(msg);
    int masked = 0;
    size_t i = 0;
    while (i < n) {
        size_t best = 0;
        for (size_t k = 0; k < d->nsecrets; k++) {
            size_t slen = strlen(d->secrets[k]);
            if (slen > best && slen <= n - i && memcmp(msg + i, d->secrets[k], slen) == 0)
                best = slen;
        }
        if (best) {
            (void)sp_buf_adds(out, SP_SECRET_MASK);
            i += best;
            masked = 1;
            continue;
        }
        (void)sp_buf_addc(out, msg[i]);
        i++;
    }
    /* Messages cut at a length ("expected the body to contain 'abc...'") may end inside a
     * secret: mask a tail that begins one, before the "..." that marks the cut. */
    size_t len = out->len;
    const char *p = out->p;
    size_t body = len;
    if (body >= 4 && memcmp(p + body - 4, "...'", 4) == 0)
        body -= 4;
    else if (body >= 3 && memcmp(p + body - 3, "...", 3) == 0)
        body -= 3;
    if (body < len) {
        for (size_t k = 0; k < d->nsecrets; k++) {
            size_t cut = cut_tail(p, body, d->secrets[k], strlen(d->secrets[k]));
            if (cut) {
                char tail[8];
                size_t tl = len - body;
                memcpy(tail, p + body, tl);
                out->len = body - cut;
                (void)sp_buf_adds(out, SP_SECRET_MASK);
                (void)sp_buf_add(out, tail, tl);
                masked = 1;
                break;
            }
        }
    }
    return masked;
}
