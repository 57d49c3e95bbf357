/*
 * def_walk.c - see def_walk.h: the helpers every part of the definition walk uses: paths and
 * errors, small validators, durations, typed members, templates, variables and headers.
 */
#include "engine/def_walk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- paths and errors ---- */

size_t sp_dw_path_key(sp_dw *c, const char *key)
{
    size_t mark = c->path.len;
    /* Over-long keys are cut in paths only; the message still names the whole key. */
    (void)sp_buf_addf(&c->path, "%s%.100s", mark ? "." : "", key);
    return mark;
}

size_t sp_dw_path_index(sp_dw *c, size_t i)
{
    size_t mark = c->path.len;
    (void)sp_buf_addf(&c->path, "[%zu]", i);
    return mark;
}

void sp_dw_path_pop(sp_dw *c, size_t mark)
{
    c->path.len = mark;
    if (c->path.cap)
        c->path.p[mark] = '\0';
}

void sp_dw_err(sp_dw *c, const char *fmt, ...)
{
    /* Formatted here first so that an over-long message is cut, not dropped by the list. */
    char msg[ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sp_errlist_add(c->errs, c->path.p, "%s", msg);
}

void sp_dw_err_key(sp_dw *c, const char *key, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t m = sp_dw_path_key(c, key);
    sp_errlist_add(c->errs, c->path.p, "%s", msg);
    sp_dw_path_pop(c, m);
}

const char *sp_dw_type_name(const json_t *v)
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

void sp_dw_err_type(sp_dw *c, const char *want, const json_t *got)
{
    sp_dw_err(c, "expected %s, got %s", want, sp_dw_type_name(got));
}

void sp_dw_err_missing(sp_dw *c, const char *key)
{
    sp_dw_err(c, "missing required field '%s'", key);
}

/* Reports every member of obj not in allowed[0..n), with a suggestion when one is near. */
void sp_dw_check_fields(sp_dw *c, const json_t *obj, const char *const *allowed, size_t n)
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
            sp_dw_err_key(c, key, "unknown field '%.100s' (did you mean '%s'?)", key, near);
        else
            sp_dw_err_key(c, key, "unknown field '%.100s'", key);
    }
}

/* ---- small validators ---- */

int sp_dw_is_ident(const char *s)
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
int sp_dw_is_reserved(const char *s)
{
    static const char *const words[] = {"vu",    "iteration", "status", "row", "secret", "true",
                                        "false", "null",      "and",    "or",  "not"};
    for (size_t i = 0; i < SP_ARRAY_LEN(words); i++)
        if (strcmp(s, words[i]) == 0)
            return 1;
    return 0;
}

/* RFC 9110 token characters, for methods and header names. */
int sp_dw_is_token(const char *s, size_t max)
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

/* Rejects spaces and control characters outside {{holes}}: they are never valid in a URL. */
int sp_dw_url_chars_ok(const char *s)
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
size_t sp_dw_url_scheme_len(const char *s)
{
    size_t i = 0;
    while (s[i] && s[i] != '/' && s[i] != '?' && s[i] != '{' && s[i] != ':')
        i++;
    if (i > 0 && strncmp(s + i, "://", 3) == 0)
        return i;
    return 0;
}

int sp_dw_is_http_scheme(const char *s, size_t n)
{
    return (n == 4 && strncasecmp(s, "http", 4) == 0) ||
           (n == 5 && strncasecmp(s, "https", 5) == 0);
}

void sp_dw_tfree(sp_tmpl *t)
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
int sp_dw_duration(sp_dw *c, const json_t *v, int64_t *ms)
{
    const double max = (double)SP_DEF_MAX_DURATION_S * 1000.0;
    if (json_is_integer(v) || json_is_real(v)) {
        double d = json_number_value(v);
        if (d < 0) {
            sp_dw_err(c, "a duration cannot be negative");
            return -1;
        }
        if (!(d <= max)) {
            sp_dw_err(c, "a duration cannot be longer than %d days", SP_DEF_MAX_DURATION_S / 86400);
            return -1;
        }
        *ms = (int64_t)llround(d);
        return 0;
    }
    if (!json_is_string(v)) {
        sp_dw_err_type(c, "a duration (\"30s\", \"1m30s\", or a number of milliseconds)", v);
        return -1;
    }
    const char *s = json_string_value(v);
    if (s[0] == '-') {
        sp_dw_err(c, "a duration cannot be negative");
        return -1;
    }
    if (sp_parse_duration_ms(s, ms) != 0) {
        sp_dw_err(c,
                  "invalid duration '%.64s': use a number with a unit (ms, s, m, h, d) such as "
                  "\"500ms\", \"30s\" or \"1h30m\", at most %d days",
                  s, SP_DEF_MAX_DURATION_S / 86400);
        return -1;
    }
    return 0;
}

/* An optional duration member. Returns 1 when present and valid, 0 when absent, -1 on error. */
int sp_dw_get_duration(sp_dw *c, const json_t *obj, const char *key, uint32_t *out, int allow_zero)
{
    const json_t *v = json_object_get(obj, key); /* borrowed */
    if (!v)
        return 0;
    size_t m = sp_dw_path_key(c, key);
    int64_t ms;
    int rc = sp_dw_duration(c, v, &ms);
    if (rc == 0 && ms == 0 && !allow_zero) {
        sp_dw_err(c, "must be longer than 0");
        rc = -1;
    }
    sp_dw_path_pop(c, m);
    if (rc)
        return -1;
    *out = (uint32_t)ms;
    return 1;
}

/* ---- typed member getters (all references borrowed from the document) ---- */

/* An optional or required string member; NULL when absent or of the wrong type (reported). */
const char *sp_dw_get_str(sp_dw *c, const json_t *obj, const char *key, int required)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            sp_dw_err_missing(c, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        size_t m = sp_dw_path_key(c, key);
        sp_dw_err_type(c, "a string", v);
        sp_dw_path_pop(c, m);
        return NULL;
    }
    return json_string_value(v);
}

/* An optional boolean member; returns def when absent, -1 after reporting a wrong type. */
int sp_dw_get_bool(sp_dw *c, const json_t *obj, const char *key, int def)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return def;
    if (!json_is_boolean(v)) {
        size_t m = sp_dw_path_key(c, key);
        sp_dw_err_type(c, "a boolean (true or false)", v);
        sp_dw_path_pop(c, m);
        return -1;
    }
    return json_is_true(v);
}

/* An optional integer member in [lo, hi]; 1 when present and valid, 0 absent, -1 reported. */
int sp_dw_get_int(sp_dw *c, const json_t *obj, const char *key, int64_t lo, int64_t hi,
                  int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    size_t m = sp_dw_path_key(c, key);
    int rc = -1;
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e15) {
        /* 10.0 is accepted as 10: browsers' JSON editors sometimes write whole numbers so. */
        *out = (int64_t)json_real_value(v);
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        sp_dw_err_type(c, "a whole number", v);
        goto out;
    }
    if (*out < lo || *out > hi) {
        if (*out < 0 && lo >= 0)
            sp_dw_err(c, "cannot be negative (got %lld)", (long long)*out);
        else
            sp_dw_err(c, "must be between %lld and %lld (got %lld)", (long long)lo, (long long)hi,
                      (long long)*out);
        goto out;
    }
    rc = 1;
out:
    sp_dw_path_pop(c, m);
    return rc;
}

/*
 * The text of a scalar used as a template source (header, query, form, let values): strings as
 * written, numbers and booleans as JSON writes them. Returns a malloc'd string or NULL after
 * reporting another type at the current path.
 */
char *sp_dw_scalar_text(sp_dw *c, const json_t *v)
{
    if (json_is_string(v))
        return sp_strndup(json_string_value(v), json_string_length(v));
    if (json_is_number(v) || json_is_boolean(v)) {
        char *s = json_dumps(v, JSON_ENCODE_ANY); /* new string, owned here */
        char *r = sp_strdup(s ? s : "");
        free(s);
        return r;
    }
    sp_dw_err_type(c, "a string", v);
    return NULL;
}

/* Compiles src with esc against the current scope; reports at the current path. */
sp_tmpl *sp_dw_tmpl(sp_dw *c, const char *src, sp_esc esc)
{
    char e[ERRLEN] = "";
    sp_tmpl *t = sp_tmpl_compile(src, strlen(src), esc, &c->scope, e, sizeof e);
    if (!t)
        sp_dw_err(c, "%s", e[0] ? e : "invalid template");
    return t;
}

sp_expr *sp_dw_expr(sp_dw *c, const char *src, size_t n)
{
    char e[ERRLEN] = "";
    sp_expr *x = sp_expr_compile(src, n, &c->scope, 0, 0, NULL, e, sizeof e);
    if (!x)
        sp_dw_err(c, "%s", e[0] ? e : "invalid expression");
    return x;
}

int sp_dw_no_tmpl(sp_dw *c, const char *s, const char *key, const char *hint)
{
    if (!s || !strstr(s, "{{"))
        return 0;
    size_t m = key ? sp_dw_path_key(c, key) : c->path.len;
    sp_dw_err(c, "this field is not a template, so '{{' would be taken as written: %s", hint);
    if (key)
        sp_dw_path_pop(c, m);
    return 1;
}

int sp_dw_json_has_hole(const json_t *v)
{
    if (json_is_string(v))
        return strstr(json_string_value(v), "{{") != NULL;
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (sp_dw_json_has_hole(x)) return 1;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k,
                            x) if (strstr(k, "{{") || sp_dw_json_has_hole(x)) return 1;
    }
    return 0;
}

/* A template member given as a string (or number/boolean). NULL when absent or invalid. */
sp_tmpl *sp_dw_get_tmpl(sp_dw *c, const json_t *obj, const char *key, sp_esc esc)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return NULL;
    size_t m = sp_dw_path_key(c, key);
    sp_tmpl *t = NULL;
    char *src = sp_dw_scalar_text(c, v);
    if (src)
        t = sp_dw_tmpl(c, src, esc);
    free(src);
    sp_dw_path_pop(c, m);
    return t;
}

/* ---- variables and headers ---- */

int sp_dw_var_slot(const sp_userclass *uc, const char *name)
{
    for (size_t i = 0; i < uc->nvars; i++)
        if (strcmp(uc->vars[i], name) == 0)
            return (int)i;
    return -1;
}

/*
 * Compiles {name: template} into *out. allow_empty: set_headers uses an empty value to remove a
 * header. *has_ctype is set when a Content-Type is among them.
 */
void sp_dw_headers(sp_dw *c, const json_t *v, sp_hdr **out, size_t *n, int *has_ctype)
{
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object of header names and values", v);
        return;
    }
    *out = sp_calloc(json_object_size(v), sizeof(**out));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        size_t m = sp_dw_path_key(c, key);
        if (!sp_dw_is_token(key, HEADER_NAME_MAX)) {
            sp_dw_err(c, "invalid header name '%.100s': use letters, digits and -", key);
        } else {
            char *src = sp_dw_scalar_text(c, val);
            sp_tmpl *t = src ? sp_dw_tmpl(c, src, SP_ESC_HEADER) : NULL;
            free(src);
            if (t) {
                (*out)[*n].name = sp_strdup(key);
                (*out)[*n].value = t;
                (*n)++;
            }
            if (has_ctype && strcasecmp(key, "Content-Type") == 0)
                *has_ctype = 1;
        }
        sp_dw_path_pop(c, m);
    }
}

void sp_dw_headers_free(sp_hdr *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        sp_dw_tfree(h[i].value);
    }
    free(h);
}
