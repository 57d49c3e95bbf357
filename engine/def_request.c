/*
 * def_request.c - the definition walk's steps (def_walk.h): conditions, lets, the request
 * (method, URL with query, name, headers, body), expectations and extractions.
 */
#include "engine/def_walk.h"

#include <stdlib.h>
#include <string.h>

/* ---- names and variables ---- */

/* The id of name among the definition's names, interned as kind. A request and a group cannot
 * share a name: every table, chart and threshold tells them apart by it. */
static int intern_name(sp_dw *c, const char *name, sp_name_kind kind)
{
    sp_def *d = c->def;
    for (size_t i = 0; i < d->nnames; i++) {
        if (strcmp(d->names[i], name) == 0) {
            if (d->name_kinds[i] != kind) {
                sp_dw_err(c,
                          kind == SP_NAME_GROUP
                              ? "'%.100s' is already a request name: give the group another name"
                              : "'%.100s' is already a group's name: give the request another "
                                "name",
                          name);
                return -1;
            }
            return (int)i;
        }
    }
    if (d->nnames >= SP_DEF_MAX_NAMES) {
        sp_dw_err(c, "more than %d distinct request and group names", SP_DEF_MAX_NAMES);
        return -1;
    }
    d->names = sp_realloc(d->names, (d->nnames + 1) * sizeof(d->names[0]));
    d->name_kinds = sp_realloc(d->name_kinds, (d->nnames + 1) * sizeof(d->name_kinds[0]));
    d->names[d->nnames] = sp_strdup(name);
    d->name_kinds[d->nnames] = (uint8_t)kind;
    return (int)d->nnames++;
}

/* Validates a variable name at the current path; 0 or -1 after reporting. */
static int check_var_name(sp_dw *c, const char *name)
{
    if (sp_dw_is_reserved(name)) {
        sp_dw_err(c, "'%s' is a reserved name in templates; choose another variable name", name);
        return -1;
    }
    if (!sp_dw_is_ident(name)) {
        sp_dw_err(
            c,
            "invalid variable name '%.100s': use letters, digits and '_' (not first a digit), "
            "at most 64 characters",
            name);
        return -1;
    }
    return 0;
}

/* Looks up a variable that a condition reads; reports an unknown one with a suggestion. */
static int lookup_var(sp_dw *c, const sp_userclass *uc, const char *name)
{
    int slot = sp_dw_var_slot(uc, name);
    if (slot >= 0)
        return slot;
    const char *near = sp_suggest(name, (const char *const *)uc->vars, uc->nvars);
    if (near)
        sp_dw_err(c, "unknown variable '%.100s' (did you mean '%s'?)", name, near);
    else
        sp_dw_err(c, "unknown variable '%.100s': no let or extract in this user class sets it",
                  name);
    return -1;
}

/* ---- status lists and conditions ---- */

/* An int or an array of ints in 100..599, at the current path. 0 or -1 after reporting. */
static int status_list(sp_dw *c, const json_t *v, uint16_t **out, size_t *n)
{
    if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s < 100 || s > 599) {
            sp_dw_err(c, "a status must be between 100 and 599 (got %lld)", (long long)s);
            return -1;
        }
        *out = sp_malloc(sizeof(**out));
        (*out)[0] = (uint16_t)s;
        *n = 1;
        return 0;
    }
    if (!json_is_array(v)) {
        sp_dw_err_type(c, "a status code or an array of status codes", v);
        return -1;
    }
    if (json_array_size(v) == 0 || json_array_size(v) > 500) {
        sp_dw_err(c, "give between 1 and 500 status codes");
        return -1;
    }
    int rc = 0;
    *out = sp_calloc(json_array_size(v), sizeof(**out));
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        size_t m = sp_dw_path_index(c, i);
        if (!json_is_integer(s)) {
            sp_dw_err_type(c, "a status code (a whole number)", s);
            rc = -1;
        } else if (json_integer_value(s) < 100 || json_integer_value(s) > 599) {
            sp_dw_err(c, "a status must be between 100 and 599 (got %lld)",
                      (long long)json_integer_value(s));
            rc = -1;
        } else {
            (*out)[(*n)++] = (uint16_t)json_integer_value(s);
        }
        sp_dw_path_pop(c, m);
    }
    return rc;
}

static void compile_cond(sp_dw *c, const sp_userclass *uc, const json_t *v, sp_cond *cond)
{
    static const char *const fields[] = {"var", "equals", "status"};
    if (json_is_string(v)) {
        const char *src = json_string_value(v);
        if (strstr(src, "{{")) {
            sp_dw_err(c, "a condition is an expression, not a template: write "
                         "\"cart.total > 0\", not \"{{cart.total}} > 0\"");
            return;
        }
        cond->expr = sp_dw_expr(c, src, json_string_length(v));
        if (cond->expr)
            cond->kind = SP_COND_EXPR;
        return;
    }
    if (!json_is_object(v)) {
        sp_dw_err_type(c,
                       "an expression such as \"cart.total > 0\", or an object ({\"var\": ...} "
                       "or {\"status\": [...]})",
                       v);
        return;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const json_t *var = json_object_get(v, "var");
    const json_t *eq = json_object_get(v, "equals");
    const json_t *st = json_object_get(v, "status");
    if (var && st) {
        sp_dw_err(c, "give either 'var' or 'status', not both");
        return;
    }
    if (st) {
        size_t m = sp_dw_path_key(c, "status");
        if (status_list(c, st, &cond->status, &cond->nstatus) == 0)
            cond->kind = SP_COND_STATUS;
        sp_dw_path_pop(c, m);
        if (eq)
            sp_dw_err_key(c, "equals", "'equals' goes with 'var', not with 'status'");
        return;
    }
    if (!var) {
        sp_dw_err(c, "a condition needs 'var' or 'status'");
        return;
    }
    const char *name = sp_dw_get_str(c, v, "var", 1);
    if (!name)
        return;
    if (sp_dw_no_tmpl(c, name, "var", "name the variable as written: {\"var\": \"token\"}"))
        return;
    size_t m = sp_dw_path_key(c, "var");
    cond->slot = lookup_var(c, uc, name);
    sp_dw_path_pop(c, m);
    cond->kind = SP_COND_VAR_SET;
    if (eq) {
        m = sp_dw_path_key(c, "equals");
        cond->equals = sp_dw_scalar_text(c, eq);
        sp_dw_path_pop(c, m);
        if (cond->equals && strstr(cond->equals, "{{")) {
            sp_dw_no_tmpl(c, cond->equals, "equals",
                          "to compare with another value, write the condition as an expression: "
                          "\"if\": \"role == wanted_role\"");
        }
        cond->kind = SP_COND_VAR_EQUALS;
    }
}

/* ---- requests ---- */

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

/* "METHOD /path" from the URL as written: scheme and host dropped, query and fragment cut. */
static char *default_name(const char *method, const char *url)
{
    size_t sl = sp_dw_url_scheme_len(url);
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
static void json_body(sp_dw *c, const json_t *v, sp_tmpl *t)
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
            size_t m = sp_dw_path_key(c, key);
            json_body(c, child, t);
            sp_dw_path_pop(c, m);
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
            size_t m = sp_dw_path_index(c, i);
            json_body(c, child, t);
            sp_dw_path_pop(c, m);
        }
        sp_tmpl_add_literal(t, "]", 1);
    } else if (json_is_string(v)) {
        e[0] = '\0';
        if (sp_tmpl_add_json_string(t, json_string_value(v), json_string_length(v), &c->scope, e,
                                    sizeof e) != 0)
            sp_dw_err(c, "%s", e[0] ? e : "invalid template");
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
static void add_pairs(sp_dw *c, const json_t *obj, sp_tmpl *t, char first_sep)
{
    const char *key;
    json_t *val;
    char sep = first_sep;
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t m = sp_dw_path_key(c, key);
        sp_buf k;
        sp_buf_init(&k, SP_TMPL_MAX_SOURCE);
        if (sep)
            (void)sp_buf_addc(&k, sep);
        pct_encode(&k, key);
        (void)sp_buf_addc(&k, '=');
        sp_tmpl_add_literal(t, k.p, k.len);
        sp_buf_release(&k);
        sep = '&';
        char *text = sp_dw_scalar_text(c, val);
        char *src = text ? encode_literals(text) : NULL;
        char e[ERRLEN] = "";
        if (src && sp_tmpl_add_source(t, src, strlen(src), SP_ESC_URL, &c->scope, e, sizeof e) != 0)
            sp_dw_err(c, "%s", e[0] ? e : "invalid template");
        free(text);
        free(src);
        sp_dw_path_pop(c, m);
    }
}

/* Appends s with '"', CR and LF written as %22, %0D and %0A: what the HTML standard asks of a
 * form's field names and file names, and what libcurl's mime API does for a form. */
static void add_escaped(sp_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"')
            (void)sp_buf_add(b, "%22", 3);
        else if (*s == '\r')
            (void)sp_buf_add(b, "%0D", 3);
        else if (*s == '\n')
            (void)sp_buf_add(b, "%0A", 3);
        else
            (void)sp_buf_addc(b, *s);
    }
}

/* The part's headers are the same on every request, so they are written once here and the
 * engine only copies them (vu.c builds the body around them): the headers libcurl's mime API
 * writes for a form part, a Content-Type only when the part has a type (a file part always has
 * one, application/octet-stream by default). */
static void part_head(sp_part *part)
{
    sp_buf b;
    sp_buf_init(&b, SIZE_MAX);
    (void)sp_buf_adds(&b, "Content-Disposition: form-data; name=\"");
    add_escaped(&b, part->name);
    (void)sp_buf_addc(&b, '"');
    if (part->filename) {
        (void)sp_buf_adds(&b, "; filename=\"");
        add_escaped(&b, part->filename);
        (void)sp_buf_addc(&b, '"');
    }
    (void)sp_buf_adds(&b, "\r\n");
    const char *ctype = part->content_type ? part->content_type
                        : part->filename   ? "application/octet-stream"
                                           : NULL;
    if (ctype)
        (void)sp_buf_addf(&b, "Content-Type: %s\r\n", ctype);
    (void)sp_buf_adds(&b, "\r\n");
    part->head = sp_buf_detach(&b, &part->head_len);
}

static void compile_multipart(sp_dw *c, const json_t *v, sp_request *r)
{
    static const char *const fields[] = {"name", "value", "filename", "content_type", "content"};
    if (!json_is_array(v)) {
        sp_dw_err_type(c, "an array of parts", v);
        return;
    }
    size_t n = json_array_size(v);
    if (n == 0 || n > MULTIPART_MAX) {
        sp_dw_err(c, "give between 1 and %d parts", MULTIPART_MAX);
        return;
    }
    r->parts = sp_calloc(n, sizeof(r->parts[0]));
    size_t i;
    json_t *p;
    json_array_foreach(v, i, p)
    {
        size_t m = sp_dw_path_index(c, i);
        if (!json_is_object(p)) {
            sp_dw_err_type(c,
                           "an object ({\"name\", \"value\"} or {\"name\", \"filename\", "
                           "\"content\"})",
                           p);
            sp_dw_path_pop(c, m);
            continue;
        }
        sp_dw_check_fields(c, p, fields, SP_ARRAY_LEN(fields));
        sp_part *part = &r->parts[r->nparts++];
        static const char hint[] = "only a part's 'value' and 'content' are templates";
        const char *name = sp_dw_get_str(c, p, "name", 1);
        if (name && !sp_dw_no_tmpl(c, name, "name", hint))
            part->name = sp_strdup(name);
        const char *filename = sp_dw_get_str(c, p, "filename", 0);
        const char *ctype = sp_dw_get_str(c, p, "content_type", 0);
        if (filename && sp_dw_no_tmpl(c, filename, "filename", hint))
            filename = NULL;
        if (ctype && sp_dw_no_tmpl(c, ctype, "content_type", hint))
            ctype = NULL;
        int has_value = json_object_get(p, "value") != NULL;
        int has_content = json_object_get(p, "content") != NULL;
        if (filename) {
            part->filename = sp_strdup(filename);
            if (has_value)
                sp_dw_err_key(c, "value", "a file part holds 'content', not 'value'");
            else if (!has_content)
                sp_dw_err_missing(c, "content");
            else
                part->value = sp_dw_get_tmpl(c, p, "content", SP_ESC_NONE);
        } else {
            if (has_content)
                sp_dw_err_key(c, "content",
                              "'content' needs 'filename' (a field part holds 'value')");
            else if (!has_value)
                sp_dw_err_missing(c, "value");
            else
                part->value = sp_dw_get_tmpl(c, p, "value", SP_ESC_NONE);
        }
        if (ctype) {
            if (!ctype[0] || strpbrk(ctype, "\r\n"))
                sp_dw_err_key(c, "content_type", "invalid content type");
            else
                part->content_type = sp_strdup(ctype);
        }
        if (part->name)
            part_head(part);
        sp_dw_path_pop(c, m);
    }
}

/* The request's URL from url as written (NULL when it is missing): base_url joined, the
 * request's query appended. A URL that starts with a hole ("{{next}}") may render an absolute
 * URL, so it is joined when it renders (r->join_at_run). NULL after reporting. */
static sp_tmpl *compile_url(sp_dw *c, const json_t *v, const char *url, sp_request *r)
{
    sp_tmpl *t = NULL;
    if (url) {
        size_t m = sp_dw_path_key(c, "url");
        size_t sl = sp_dw_url_scheme_len(url);
        if (!sp_dw_url_chars_ok(url)) {
            sp_dw_err(c, "a URL cannot contain spaces or control characters: put values in 'query' "
                         "or use urlencode()");
        } else if (sl && !sp_dw_is_http_scheme(url, sl)) {
            sp_dw_err(c, "unsupported URL scheme '%.*s': only http:// and https:// URLs", (int)sl,
                      url);
        } else if (sl && strchr("/?#", url[sl + 3])) {
            sp_dw_err(c, "the URL has no host");
        } else {
            char e[ERRLEN] = "";
            t = sp_tmpl_new();
            if (!sl && url[0] == '{' && url[1] == '{') {
                r->join_at_run = 1;
                r->join_base = c->base;
            } else if (!sl && c->base) {
                sp_tmpl_add_literal(t, c->base, strlen(c->base));
                if (url[0] != '/')
                    sp_tmpl_add_literal(t, "/", 1);
            }
            if (sp_tmpl_add_source(t, url, strlen(url), SP_ESC_NONE, &c->scope, e, sizeof e)) {
                sp_dw_err(c, "%s", e[0] ? e : "invalid template");
                sp_tmpl_free(t);
                t = NULL;
            }
        }
        sp_dw_path_pop(c, m);
    }
    const json_t *q = json_object_get(v, "query");
    if (q) {
        size_t m = sp_dw_path_key(c, "query");
        if (!json_is_object(q)) {
            sp_dw_err_type(c, "an object of query parameters", q);
        } else {
            /* Without a usable URL the pairs still compile, into a scratch template, so that
             * their own mistakes are reported in the same pass. */
            sp_tmpl *qt = t ? t : sp_tmpl_new();
            add_pairs(c, q, qt, url && strchr(url, '?') ? '&' : '?');
            if (qt != t)
                sp_tmpl_free(qt);
        }
        sp_dw_path_pop(c, m);
    }
    return t;
}

/* The request's body, of at most one kind; its Content-Type unless has_ctype (the request's
 * headers set one). */
static void compile_body(sp_dw *c, const json_t *v, sp_request *r, int has_ctype)
{
    static const char *const kinds[] = {"json", "form", "body", "multipart"};
    const char *found[SP_ARRAY_LEN(kinds)];
    size_t nfound = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(kinds); i++)
        if (json_object_get(v, kinds[i]))
            found[nfound++] = kinds[i];
    if (nfound > 1) {
        sp_dw_err(c, "give only one of json, form, body and multipart (found '%s' and '%s')",
                  found[0], found[1]);
    } else if (nfound == 1) {
        const json_t *b = json_object_get(v, found[0]);
        size_t m = sp_dw_path_key(c, found[0]);
        const char *ctype = NULL;
        if (strcmp(found[0], "json") == 0) {
            r->body_kind = SP_BODY_JSON;
            r->body = sp_tmpl_new();
            json_body(c, b, r->body);
            ctype = "application/json";
        } else if (strcmp(found[0], "form") == 0) {
            r->body_kind = SP_BODY_FORM;
            if (!json_is_object(b)) {
                sp_dw_err_type(c, "an object of form fields", b);
            } else {
                r->body = sp_tmpl_new();
                add_pairs(c, b, r->body, 0);
            }
            ctype = "application/x-www-form-urlencoded";
        } else if (strcmp(found[0], "body") == 0) {
            r->body_kind = SP_BODY_RAW;
            if (!json_is_string(b))
                sp_dw_err_type(c, "a string (use 'json' for a JSON body)", b);
            else
                r->body = sp_dw_tmpl(c, json_string_value(b), SP_ESC_NONE);
            ctype = "text/plain; charset=utf-8";
        } else {
            r->body_kind = SP_BODY_MULTIPART;
            compile_multipart(c, b, r);
        }
        sp_dw_path_pop(c, m);
        if (ctype && !has_ctype)
            r->content_type = sp_strdup(ctype);
    }
}

static sp_request *compile_request(sp_dw *c, const json_t *v)
{
    static const char *const fields[] = {"method", "url",  "name", "headers",   "query",
                                         "json",   "form", "body", "multipart", "timeout"};
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object", v);
        return NULL;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    sp_request *r = sp_calloc(1, sizeof(*r));
    r->name_id = -1;
    r->timeout_ms = c->def->opts.timeout_ms;

    /* method */
    const char *method = sp_dw_get_str(c, v, "method", 0);
    if (!method)
        method = "GET";
    if (!sp_dw_is_token(method, METHOD_MAX_LEN)) {
        sp_dw_err_key(c, "method", "invalid method '%.64s': use an HTTP method such as GET or POST",
                      method);
        method = "GET";
    }
    r->method = sp_strdup(method);
    for (char *p = r->method; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');

    /* url */
    const char *url = sp_dw_get_str(c, v, "url", 1);
    r->url = compile_url(c, v, url, r);

    /* name: given, or derived from the URL as written, so it groups by path, not by values */
    const char *name = sp_dw_get_str(c, v, "name", 0);
    if (name && (!name[0] || strlen(name) > NAME_MAX_LEN)) {
        sp_dw_err_key(c, "name", "a request name must have 1 to %d characters", NAME_MAX_LEN);
    } else if (name) {
        size_t m = sp_dw_path_key(c, "name");
        if (!sp_dw_no_tmpl(c, name, NULL,
                           "a request name groups its requests in every report, so it is not a "
                           "template: name it like 'GET /products/:id' and put the values in "
                           "'url'"))
            r->name_id = intern_name(c, name, SP_NAME_REQUEST);
        sp_dw_path_pop(c, m);
    } else if (url) {
        char *dn = default_name(r->method, url);
        r->name_id = intern_name(c, dn, SP_NAME_REQUEST);
        free(dn);
    }

    /* headers */
    int has_ctype = 0;
    const json_t *h = json_object_get(v, "headers");
    if (h) {
        size_t m = sp_dw_path_key(c, "headers");
        sp_dw_headers(c, h, &r->headers, &r->nheaders, &has_ctype);
        sp_dw_path_pop(c, m);
    }

    /* body: at most one kind */
    compile_body(c, v, r, has_ctype);

    uint32_t to;
    if (sp_dw_get_duration(c, v, "timeout", &to, 0) == 1)
        r->timeout_ms = to;
    return r;
}

static void free_request(sp_request *r)
{
    if (!r)
        return;
    free(r->method);
    sp_dw_tfree(r->url);
    sp_dw_headers_free(r->headers, r->nheaders);
    sp_dw_tfree(r->body);
    free(r->content_type);
    for (size_t i = 0; i < r->nparts; i++) {
        free(r->parts[i].name);
        sp_dw_tfree(r->parts[i].value);
        free(r->parts[i].filename);
        free(r->parts[i].content_type);
        free(r->parts[i].head);
    }
    free(r->parts);
    free(r);
}

/* ---- expect and extract ---- */

static const char jpath_hint[] =
    "a JSON path is not a template; a filter compares with a variable: "
    "items[?(@.id == product_id)]";

/* A JSON path member at key, compiled against the class's scope (filters may read
 * variables). NULL after reporting. */
static sp_jpath *compile_path(sp_dw *c, const char *key, const char *src)
{
    if (sp_dw_no_tmpl(c, src, key, jpath_hint))
        return NULL;
    char e[ERRLEN] = "";
    sp_jpath *p = sp_jpath_compile(src, &c->scope, e, sizeof e);
    if (!p)
        sp_dw_err_key(c, key, "invalid JSON path '%.100s': %s", src, e);
    return p;
}

static void compile_jchecks(sp_dw *c, const json_t *v, sp_expect *x)
{
    static const char *const fields[] = {"path", "exists", "equals"};
    if (!json_is_array(v)) {
        sp_dw_err_type(c,
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
        size_t m = sp_dw_path_index(c, i);
        if (!json_is_object(chk)) {
            sp_dw_err_type(c, "an object", chk);
            sp_dw_path_pop(c, m);
            continue;
        }
        sp_dw_check_fields(c, chk, fields, SP_ARRAY_LEN(fields));
        sp_jcheck *j = &x->json[x->njson++];
        const char *path = sp_dw_get_str(c, chk, "path", 1);
        if (path) {
            j->path_src = sp_strdup(path);
            j->path = compile_path(c, "path", path);
        }
        const json_t *eq = json_object_get(chk, "equals");
        int exists = sp_dw_get_bool(c, chk, "exists", -2);
        if (eq && exists != -2) {
            sp_dw_err(c, "give either 'exists' or 'equals', not both");
        } else if (eq && json_is_string(eq)) {
            /* A string is a template: "{{order_id}}" compares with the variable's value and
             * type, other text with a JSON string of that text. */
            j->kind = SP_JCHECK_EQUALS;
            j->equals_t = sp_dw_get_tmpl(c, chk, "equals", SP_ESC_NONE);
        } else if (eq) {
            j->kind = SP_JCHECK_EQUALS;
            j->equals = json_incref((json_t *)eq); /* new reference, owned by the check */
            if (sp_dw_json_has_hole(eq))
                sp_dw_err_key(c, "equals",
                              "only an 'equals' that is a string is a template; inside an object "
                              "or an array, text is compared as written");
        } else if (exists == -2) {
            sp_dw_err(c, "give 'exists' (true or false) or 'equals' (a value)");
        } else if (exists >= 0) {
            j->kind = exists ? SP_JCHECK_EXISTS : SP_JCHECK_MISSING;
        }
        sp_dw_path_pop(c, m);
    }
}

static void compile_expect(sp_dw *c, const json_t *v, sp_expect *x)
{
    static const char *const fields[] = {"status", "json", "body_contains", "max_latency",
                                         "message"};
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object", v);
        return;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const json_t *st = json_object_get(v, "status");
    if (st) {
        size_t m = sp_dw_path_key(c, "status");
        status_list(c, st, &x->status, &x->nstatus);
        sp_dw_path_pop(c, m);
    }
    const json_t *j = json_object_get(v, "json");
    if (j) {
        size_t m = sp_dw_path_key(c, "json");
        compile_jchecks(c, j, x);
        sp_dw_path_pop(c, m);
    }
    const json_t *bc = json_object_get(v, "body_contains");
    if (bc && json_is_string(bc) && json_string_length(bc) == 0)
        sp_dw_err_key(c, "body_contains", "cannot be empty");
    else
        x->body_contains = sp_dw_get_tmpl(c, v, "body_contains", SP_ESC_NONE);
    sp_dw_get_duration(c, v, "max_latency", &x->max_latency_ms, 0);
    x->message = sp_dw_get_tmpl(c, v, "message", SP_ESC_NONE);
}

static void free_expect(sp_expect *x)
{
    free(x->status);
    for (size_t i = 0; i < x->njson; i++) {
        free(x->json[i].path_src);
        sp_jpath_free(x->json[i].path);
        if (x->json[i].equals)
            json_decref(x->json[i].equals);
        sp_dw_tfree(x->json[i].equals_t);
    }
    free(x->json);
    sp_dw_tfree(x->body_contains);
    sp_dw_tfree(x->message);
}

static void compile_extracts(sp_dw *c, const sp_userclass *uc, const json_t *v, sp_step *st)
{
    static const char *const fields[] = {"json", "take", "header", "regex", "group"};
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object of variable names and sources", v);
        return;
    }
    st->extracts = sp_calloc(json_object_size(v), sizeof(st->extracts[0]));
    const char *var;
    json_t *spec;
    json_object_foreach((json_t *)v, var, spec)
    {
        size_t m = sp_dw_path_key(c, var);
        if (check_var_name(c, var) != 0) {
            sp_dw_path_pop(c, m);
            continue;
        }
        if (!json_is_object(spec)) {
            sp_dw_err_type(c,
                           "an object ({\"json\": \"path\"}, {\"header\": \"Name\"} or {\"regex\": "
                           "\"...\"})",
                           spec);
            sp_dw_path_pop(c, m);
            continue;
        }
        sp_dw_check_fields(c, spec, fields, SP_ARRAY_LEN(fields));
        sp_extract *x = &st->extracts[st->nextracts++];
        x->slot = sp_dw_var_slot(uc, var);
        int kinds = (json_object_get(spec, "json") != NULL) +
                    (json_object_get(spec, "header") != NULL) +
                    (json_object_get(spec, "regex") != NULL);
        if (kinds != 1) {
            sp_dw_err(c, "give exactly one of 'json', 'header' and 'regex'");
            sp_dw_path_pop(c, m);
            continue;
        }
        if (json_object_get(spec, "group") && !json_object_get(spec, "regex"))
            sp_dw_err_key(c, "group", "'group' goes with 'regex'");
        if (json_object_get(spec, "take") && !json_object_get(spec, "json"))
            sp_dw_err_key(c, "take", "'take' goes with 'json' (which of a path's matches)");
        const char *s;
        char e[ERRLEN] = "";
        if ((s = sp_dw_get_str(c, spec, "json", 0)) != NULL) {
            x->kind = SP_EXTRACT_JSON;
            x->path = compile_path(c, "json", s);
            const char *take = sp_dw_get_str(c, spec, "take", 0);
            if (take) {
                int t = sp_take_from_name(take);
                if (t < 0)
                    sp_dw_err_key(c, "take",
                                  "unknown value '%.40s': use first, last, random, all or count",
                                  take);
                else
                    x->take = (sp_take)t;
            }
        } else if ((s = sp_dw_get_str(c, spec, "header", 0)) != NULL) {
            x->kind = SP_EXTRACT_HEADER;
            if (sp_dw_no_tmpl(c, s, "header", "a header's name is not a template"))
                ;
            else if (!sp_dw_is_token(s, HEADER_NAME_MAX))
                sp_dw_err_key(c, "header", "invalid header name '%.100s'", s);
            else
                x->header = sp_strdup(s);
        } else if ((s = sp_dw_get_str(c, spec, "regex", 0)) != NULL) {
            x->kind = SP_EXTRACT_REGEX;
            if (sp_dw_no_tmpl(c, s, "regex",
                              "a regex is not a template (write a literal brace as \\{)")) {
                sp_dw_path_pop(c, m);
                continue;
            }
            size_t mr = sp_dw_path_key(c, "regex");
            /* Compiling is bounded whatever the pattern (engine/regex.h): validating a test
             * costs little even for a viewer who sends a hostile one. */
            int rc = sp_regex_compile(s, strlen(s), &x->re, e, sizeof e);
            if (rc == SP_ELIMIT)
                sp_dw_err(c, "the regex is too costly: %s", e);
            else if (rc != 0)
                sp_dw_err(c, "invalid regex: %s", e);
            sp_dw_path_pop(c, mr);
            if (x->re) {
                /* Default: the first group when there is one, else the whole match. */
                unsigned groups = sp_regex_groups(x->re);
                int64_t g = groups > 0 ? 1 : 0;
                int got = sp_dw_get_int(c, spec, "group", 0, 1000, &g);
                if (got == 1 && (uint64_t)g > groups)
                    sp_dw_err_key(c, "group", "group %lld, but the regex has %u group(s)",
                                  (long long)g, groups);
                else if (got == 1 && g > SP_REGEX_MAX_GROUPS)
                    sp_dw_err_key(c, "group", "group %lld: an extract takes group %d at most",
                                  (long long)g, SP_REGEX_MAX_GROUPS);
                x->group = (int)g;
            }
        }
        sp_dw_path_pop(c, m);
    }
}

static void free_extracts(sp_extract *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sp_jpath_free(x[i].path);
        free(x[i].header);
        sp_regex_free(x[i].re);
    }
    free(x);
}

/* ---- lets ---- */

static void compile_lets(sp_dw *c, const sp_userclass *uc, const json_t *let, sp_step *st)
{
    if (!json_is_object(let)) {
        sp_dw_err_type(c, "an object of variable names and values", let);
        return;
    }
    st->lets = sp_calloc(json_object_size(let), sizeof(st->lets[0]));
    const char *var;
    json_t *val;
    json_object_foreach((json_t *)let, var, val)
    {
        size_t mv = sp_dw_path_key(c, var);
        if (check_var_name(c, var) == 0) {
            sp_let *l = &st->lets[st->nlets];
            l->slot = sp_dw_var_slot(uc, var);
            if (json_is_string(val)) {
                l->value = sp_dw_tmpl(c, json_string_value(val), SP_ESC_NONE);
                if (l->value)
                    st->nlets++;
            } else if (sp_dw_json_has_hole(val)) {
                sp_dw_err(c, "only a let value that is a string is a template; inside an object "
                             "or an array, text is taken as written");
            } else {
                /* A number, a boolean, null, an object or an array: that value, as written. */
                l->lit = val; /* borrowed from the document */
                st->nlets++;
            }
        }
        sp_dw_path_pop(c, mv);
    }
}

/* ---- control steps ---- */

static void compile_repeat(sp_dw *c, sp_userclass *uc, const json_t *v, sp_step *st)
{
    static const char *const fields[] = {"count", "while", "max", "index", "steps"};
    st->kind = SP_STEP_REPEAT;
    if (!json_is_object(v)) {
        sp_dw_err_type(c,
                       "an object such as {\"count\": 3, \"steps\": [...]} or {\"while\": "
                       "\"next != null\", \"max\": 50, \"steps\": [...]}",
                       v);
        return;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const json_t *count = json_object_get(v, "count");
    const json_t *wh = json_object_get(v, "while");
    if (count && wh) {
        sp_dw_err(c, "give 'count' or 'while', not both");
    } else if (!count && !wh) {
        sp_dw_err(c, "give 'count' (a number or an expression) or 'while' (an expression), with "
                     "'steps'");
    } else if (count) {
        size_t m = sp_dw_path_key(c, "count");
        if (json_is_integer(count)) {
            json_int_t n = json_integer_value(count);
            if (n < 0 || n > SP_DEF_MAX_REPEAT)
                sp_dw_err(c, "a count from 0 to %d", SP_DEF_MAX_REPEAT);
            else
                st->count_lit = n;
        } else if (json_is_string(count)) {
            const char *src = json_string_value(count);
            if (strstr(src, "{{")) {
                sp_dw_err(c, "a count is an expression, not a template: write \"pages - 1\", not "
                             "\"{{pages}} - 1\"");
            } else {
                st->count = sp_dw_expr(c, src, json_string_length(count));
                if (st->count && !(sp_expr_type(st->count) & SP_TY_NUM)) {
                    sp_dw_err(c, "a count is a number, but this expression gives %s",
                              sp_expr_type(st->count) & SP_TY_STR ? "a string" : "no number");
                }
            }
        } else {
            sp_dw_err_type(c, "a whole number or an expression", count);
        }
        sp_dw_path_pop(c, m);
    } else {
        size_t m = sp_dw_path_key(c, "while");
        if (!json_is_string(wh))
            sp_dw_err_type(c, "an expression such as \"next != null\"", wh);
        else if (strstr(json_string_value(wh), "{{"))
            sp_dw_err(c, "'while' is an expression, not a template: write \"next != null\", not "
                         "\"{{next}} != null\"");
        else
            st->while_ = sp_dw_expr(c, json_string_value(wh), json_string_length(wh));
        sp_dw_path_pop(c, m);
    }
    int64_t max = 0;
    int got = sp_dw_get_int(c, v, "max", 1, SP_DEF_MAX_REPEAT, &max);
    if (got == 1) {
        st->max = (uint32_t)max;
    } else if (got == 0 && st->count_lit >= 0) {
        st->max = (uint32_t)st->count_lit; /* a literal count bounds itself */
    } else if (got == 0 && (wh || count)) {
        sp_dw_err(c,
                  "a repeat %s needs 'max', the most passes it may make (1 to %d), so that it "
                  "always ends",
                  wh ? "with 'while'" : "whose count is an expression", SP_DEF_MAX_REPEAT);
    }
    const char *index = sp_dw_get_str(c, v, "index", 0);
    if (index) {
        size_t m = sp_dw_path_key(c, "index");
        if (check_var_name(c, index) == 0)
            st->index_slot = sp_dw_var_slot(uc, index);
        sp_dw_path_pop(c, m);
    }
    const json_t *steps = json_object_get(v, "steps");
    if (!steps) {
        sp_dw_err_missing(c, "steps");
        return;
    }
    size_t m = sp_dw_path_key(c, "steps");
    sp_dw_block(c, uc, steps, &st->body);
    sp_dw_path_pop(c, m);
}

static void compile_choose(sp_dw *c, sp_userclass *uc, const json_t *v, sp_step *st)
{
    static const char *const fields[] = {"name", "weight", "steps"};
    st->kind = SP_STEP_CHOOSE;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > SP_DEF_MAX_BRANCHES) {
        sp_dw_err(c,
                  "expected an array of 1 to %d branches such as [{\"weight\": 3, \"steps\": "
                  "[...]}, {\"weight\": 1, \"steps\": [...]}]",
                  SP_DEF_MAX_BRANCHES);
        return;
    }
    st->branches = sp_calloc(json_array_size(v), sizeof(st->branches[0]));
    size_t i;
    json_t *b;
    json_array_foreach(v, i, b)
    {
        size_t m = sp_dw_path_index(c, i);
        sp_branch *br = &st->branches[st->nbranches++];
        br->weight = 1;
        if (!json_is_object(b)) {
            sp_dw_err_type(c, "an object ({\"weight\": 3, \"steps\": [...]})", b);
            sp_dw_path_pop(c, m);
            continue;
        }
        sp_dw_check_fields(c, b, fields, SP_ARRAY_LEN(fields));
        const char *name = sp_dw_get_str(c, b, "name", 0);
        if (name && (!name[0] || strlen(name) > NAME_MAX_LEN))
            sp_dw_err_key(c, "name", "a branch name must have 1 to %d characters", NAME_MAX_LEN);
        else if (name && !sp_dw_no_tmpl(c, name, "name", "a branch's name is shown as written"))
            br->name = sp_strdup(name);
        int64_t w = 1;
        sp_dw_get_int(c, b, "weight", 1, WEIGHT_MAX, &w);
        br->weight = (uint32_t)w;
        st->total_weight += br->weight;
        const json_t *steps = json_object_get(b, "steps");
        if (!steps) {
            sp_dw_err_missing(c, "steps");
        } else {
            size_t ms = sp_dw_path_key(c, "steps");
            sp_dw_block(c, uc, steps, &br->body);
            sp_dw_path_pop(c, ms);
        }
        sp_dw_path_pop(c, m);
    }
}

static void compile_group(sp_dw *c, sp_userclass *uc, const json_t *v, sp_step *st)
{
    static const char *const fields[] = {"name", "steps"};
    st->kind = SP_STEP_GROUP;
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object such as {\"name\": \"checkout flow\", \"steps\": [...]}", v);
        return;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const char *name = sp_dw_get_str(c, v, "name", 1);
    if (name && (!name[0] || strlen(name) > NAME_MAX_LEN)) {
        sp_dw_err_key(c, "name", "a group name must have 1 to %d characters", NAME_MAX_LEN);
    } else if (name && !sp_dw_no_tmpl(c, name, "name",
                                      "a group's name labels it in every report, as written")) {
        size_t m = sp_dw_path_key(c, "name");
        st->group_id = intern_name(c, name, SP_NAME_GROUP);
        sp_dw_path_pop(c, m);
    }
    const json_t *steps = json_object_get(v, "steps");
    if (!steps) {
        sp_dw_err_missing(c, "steps");
        return;
    }
    size_t m = sp_dw_path_key(c, "steps");
    sp_dw_block(c, uc, steps, &st->body);
    sp_dw_path_pop(c, m);
}

/* ---- steps ---- */

static const char *const step_fields[] = {"if",      "unless",      "let",    "request", "expect",
                                          "extract", "set_headers", "repeat", "choose",  "group"};

static const char *const plain_fields[] = {"let", "request", "expect", "extract", "set_headers"};

void sp_dw_step(sp_dw *c, sp_userclass *uc, const json_t *v, sp_step *st, int shorthand)
{
    st->plan = -1;
    st->index_slot = -1;
    st->count_lit = -1;
    st->group_id = -1;
    st->cond.slot = -1;
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object (a step)", v);
        return;
    }
    if (!shorthand)
        sp_dw_check_fields(c, v, step_fields, SP_ARRAY_LEN(step_fields));
    if (++c->class_steps == SP_DEF_MAX_CLASS_STEPS + 1)
        sp_dw_err(c, "more than %d steps in this user class, nested ones included",
                  SP_DEF_MAX_CLASS_STEPS);

    const json_t *cif = json_object_get(v, "if");
    const json_t *cunless = json_object_get(v, "unless");
    if (cif && cunless) {
        sp_dw_err(c, "give either 'if' or 'unless', not both");
    } else if (cif || cunless) {
        const char *k = cif ? "if" : "unless";
        size_t m = sp_dw_path_key(c, k);
        compile_cond(c, uc, cif ? cif : cunless, &st->cond);
        st->cond.negate = cunless != NULL;
        sp_dw_path_pop(c, m);
    }

    /* A control step: repeat, choose or group, holding steps of its own. */
    static const char *const ctl[] = {"repeat", "choose", "group"};
    const char *kind = NULL;
    size_t nctl = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(ctl); i++) {
        if (json_object_get(v, ctl[i])) {
            if (nctl++ == 0)
                kind = ctl[i];
        }
    }
    if (nctl > 1) {
        sp_dw_err(c, "give only one of 'repeat', 'choose' and 'group' in a step");
        return;
    }
    if (kind) {
        for (size_t i = 0; i < SP_ARRAY_LEN(plain_fields); i++)
            if (json_object_get(v, plain_fields[i]))
                sp_dw_err_key(c, plain_fields[i],
                              "'%s' cannot sit beside '%s' in one step: put it in a step of "
                              "its own, inside the %s's steps or before them",
                              plain_fields[i], kind, kind);
        if (c->nest >= SP_DEF_MAX_NESTING) {
            sp_dw_err(c,
                      "steps nested more than %d deep (repeat, choose and group inside one "
                      "another)",
                      SP_DEF_MAX_NESTING);
            return;
        }
        c->nest++;
        if (c->nest > uc->depth)
            uc->depth = (uint32_t)c->nest;
        size_t m = sp_dw_path_key(c, kind);
        const json_t *body = json_object_get(v, kind);
        if (kind[0] == 'r')
            compile_repeat(c, uc, body, st);
        else if (kind[0] == 'c')
            compile_choose(c, uc, body, st);
        else
            compile_group(c, uc, body, st);
        sp_dw_path_pop(c, m);
        c->nest--;
        return;
    }

    const json_t *let = json_object_get(v, "let");
    if (let) {
        size_t m = sp_dw_path_key(c, "let");
        compile_lets(c, uc, let, st);
        sp_dw_path_pop(c, m);
    }

    const json_t *req = json_object_get(v, "request");
    if (req) {
        size_t m = sp_dw_path_key(c, "request");
        st->req = compile_request(c, req);
        if (st->req)
            st->plan = (int)uc->nplans++;
        sp_dw_path_pop(c, m);
    }
    const json_t *exp = json_object_get(v, "expect");
    if (exp) {
        size_t m = sp_dw_path_key(c, "expect");
        if (!req)
            sp_dw_err(c, "'expect' needs a 'request' in the same step");
        else
            compile_expect(c, exp, &st->expect);
        sp_dw_path_pop(c, m);
    }
    const json_t *ext = json_object_get(v, "extract");
    if (ext) {
        size_t m = sp_dw_path_key(c, "extract");
        if (!req)
            sp_dw_err(c, "'extract' needs a 'request' in the same step");
        else
            compile_extracts(c, uc, ext, st);
        sp_dw_path_pop(c, m);
    }
    const json_t *sh = json_object_get(v, "set_headers");
    if (sh) {
        size_t m = sp_dw_path_key(c, "set_headers");
        sp_dw_headers(c, sh, &st->set_headers, &st->nset_headers, NULL);
        sp_dw_path_pop(c, m);
    }
    if (!req && !let && !sh)
        sp_dw_err(c, "a step needs at least one of 'request', 'let', 'set_headers', 'repeat', "
                     "'choose' and 'group'");
}

static void free_block(sp_block *b)
{
    for (size_t i = 0; i < b->nsteps; i++)
        sp_dw_step_free(&b->steps[i]);
    free(b->steps);
}

void sp_dw_step_free(sp_step *st)
{
    free(st->cond.equals);
    free(st->cond.status);
    sp_expr_free(st->cond.expr);
    sp_expr_free(st->count);
    sp_expr_free(st->while_);
    free_block(&st->body);
    for (size_t i = 0; i < st->nbranches; i++) {
        free(st->branches[i].name);
        free_block(&st->branches[i].body);
    }
    free(st->branches);
    for (size_t i = 0; i < st->nlets; i++)
        sp_dw_tfree(st->lets[i].value);
    free(st->lets);
    free_request(st->req);
    free_expect(&st->expect);
    free_extracts(st->extracts, st->nextracts);
    sp_dw_headers_free(st->set_headers, st->nset_headers);
}

/* Compiles an array of steps (on_start or a task's steps). */
void sp_dw_steps(sp_dw *c, sp_userclass *uc, const json_t *v, sp_step **out, size_t *n,
                 int allow_empty)
{
    if (!json_is_array(v)) {
        sp_dw_err_type(c, "an array of steps", v);
        return;
    }
    size_t cnt = json_array_size(v);
    if (cnt > SP_DEF_MAX_STEPS) {
        sp_dw_err(c, "more than %d steps", SP_DEF_MAX_STEPS);
        return;
    }
    if (cnt == 0 && !allow_empty) {
        sp_dw_err(c, "give at least one step");
        return;
    }
    *out = sp_calloc(cnt ? cnt : 1, sizeof(**out));
    for (size_t i = 0; i < cnt; i++) {
        size_t m = sp_dw_path_index(c, i);
        sp_dw_step(c, uc, json_array_get(v, i), &(*out)[i], 0); /* borrowed */
        (*n)++;
        sp_dw_path_pop(c, m);
    }
}

void sp_dw_block(sp_dw *c, sp_userclass *uc, const json_t *v, sp_block *b)
{
    sp_dw_steps(c, uc, v, &b->steps, &b->nsteps, 0);
}
