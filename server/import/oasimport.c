/*
 * oasimport.c - see oasimport.h.
 */
#define _GNU_SOURCE /* strcasestr */
#include "import/oasimport.h"

#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"
#include "engine/limits.h"
#include "import/importutil.h"

#define GEN_NODES_MAX 2000 /* values in one generated example */

typedef struct oas {
    const json_t *doc;
    sp_errlist *errs;
    json_t *notes;
    const char *refs[SP_OAS_REF_DEPTH]; /* the $refs being expanded, for the cycle guard */
    size_t nrefs;
    size_t nodes; /* values generated for the current example */
} oas;

static void note(oas *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(oas *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* The same note for many operations is said once. */
    size_t i;
    json_t *v; /* borrowed */
    json_array_foreach(o->notes, i, v)
    {
        if (strcmp(json_string_value(v), buf) == 0)
            return;
    }
    if (json_array_size(o->notes) < 100)
        json_array_append_new(o->notes, sp_json_string(buf));
}

/* Follows a local JSON pointer ("#/components/schemas/Product"); NULL when it leads nowhere. */
static const json_t *resolve(oas *o, const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0) {
        if (strcmp(ref, "#") == 0)
            return o->doc;
        note(o, "the reference '%.200s' is not local to the document and was left out", ref);
        return NULL;
    }
    const json_t *cur = o->doc;
    const char *p = ref + 2;
    char seg[256];
    while (cur && *p) {
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~' && (*p == '0' || *p == '1'))
                c = *p++ == '0' ? '~' : '/';
            if (n + 1 < sizeof seg)
                seg[n++] = c;
        }
        seg[n] = '\0';
        if (*p == '/')
            p++;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *end;
            long idx = strtol(seg, &end, 10);
            cur = *seg && !*end && idx >= 0 ? json_array_get(cur, (size_t)idx) : NULL;
        } else {
            cur = NULL;
        }
    }
    return cur;
}

/* Follows $ref chains of an object (parameters, request bodies, schemas). */
static const json_t *deref(oas *o, const json_t *v)
{
    for (int i = 0; i < SP_OAS_REF_DEPTH && json_is_object(v); i++) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        if (!ref)
            return v;
        v = resolve(o, ref);
    }
    return json_is_object(v) ? v : NULL;
}

/* The first example of an "examples" member: a map of Example Objects (parameters, media
 * types) or, in a 3.1 schema, an array of values. A new reference or NULL. */
static json_t *first_example(oas *o, const json_t *examples)
{
    if (json_is_array(examples) && json_array_size(examples))
        return json_deep_copy(json_array_get(examples, 0));
    if (json_is_object(examples)) {
        const char *k;
        json_t *ex; /* borrowed */
        json_object_foreach((json_t *)examples, k, ex)
        {
            const json_t *e = deref(o, ex);
            const json_t *val = e ? json_object_get(e, "value") : NULL;
            if (val)
                return json_deep_copy(val);
        }
    }
    return NULL;
}

/* The schema's own type: "type" as a string, or the first that is not "null" of a 3.1 list. */
static const char *schema_type(const json_t *s)
{
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t))
        return json_string_value(t);
    size_t i;
    json_t *v; /* borrowed */
    json_array_foreach(t, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "null") != 0)
            return json_string_value(v);
    }
    if (json_object_get(s, "properties"))
        return "object";
    if (json_object_get(s, "items"))
        return "array";
    return NULL;
}

static json_t *gen(oas *o, const json_t *schema, size_t depth);

static json_t *gen_string(const json_t *s)
{
    const char *fmt = json_string_value(json_object_get(s, "format"));
    static const struct {
        const char *fmt, *val;
    } byfmt[] = {
        {"date", "2024-01-15"},
        {"date-time", "2024-01-15T10:00:00Z"},
        {"time", "10:00:00"},
        {"email", "user@example.com"},
        {"uuid", "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
        {"uri", "https://example.com/"},
        {"url", "https://example.com/"},
        {"hostname", "example.com"},
        {"ipv4", "192.0.2.1"},
        {"ipv6", "2001:db8::1"},
        {"password", "Secret123!"},
        {"byte", "ZXhhbXBsZQ=="},
        {"binary", "example"},
    };
    for (size_t i = 0; fmt && i < SP_ARRAY_LEN(byfmt); i++)
        if (strcmp(fmt, byfmt[i].fmt) == 0)
            return json_string(byfmt[i].val);
    json_int_t minlen = json_integer_value(json_object_get(s, "minLength"));
    char buf[64] = "string";
    if (minlen > 6) {
        size_t n = minlen < 63 ? (size_t)minlen : 63;
        memset(buf, 'x', n);
        buf[n] = '\0';
    }
    return json_string(buf);
}

static json_t *gen_number(const json_t *s, int integer)
{
    const json_t *min = json_object_get(s, "minimum");
    const json_t *max = json_object_get(s, "maximum");
    double v = 1;
    if (json_is_number(min) && json_number_value(min) > v)
        v = json_number_value(min);
    if (json_is_number(max) && json_number_value(max) < v)
        v = json_number_value(max);
    if (integer || v == (double)(json_int_t)v)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *gen_object(oas *o, const json_t *s, size_t depth)
{
    json_t *obj = json_object();
    const json_t *props = json_object_get(s, "properties");
    const char *k;
    json_t *ps; /* borrowed */
    json_object_foreach((json_t *)props, k, ps)
    {
        const json_t *p = deref(o, ps);
        if (!p || json_is_true(json_object_get(p, "readOnly")))
            continue;
        if (o->nodes >= GEN_NODES_MAX)
            break;
        json_object_set_new(obj, k, gen(o, ps, depth + 1));
    }
    return obj;
}

/* An example value for a schema (borrowed), as a new reference; null when nothing better. */
static json_t *gen(oas *o, const json_t *schema, size_t depth)
{
    o->nodes++;
    if (!json_is_object(schema) || depth > SP_OAS_REF_DEPTH || o->nodes > GEN_NODES_MAX)
        return json_null();
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    if (ref) {
        for (size_t i = 0; i < o->nrefs; i++)
            if (strcmp(o->refs[i], ref) == 0)
                return json_null(); /* a schema that contains itself: stop here */
        if (o->nrefs >= SP_OAS_REF_DEPTH)
            return json_null();
        const json_t *target = resolve(o, ref);
        if (!target)
            return json_null();
        o->refs[o->nrefs++] = ref;
        json_t *v = gen(o, target, depth + 1);
        o->nrefs--;
        return v;
    }
    const json_t *v;
    if ((v = json_object_get(schema, "example")))
        return json_deep_copy(v);
    json_t *ex = first_example(o, json_object_get(schema, "examples"));
    if (ex)
        return ex;
    if ((v = json_object_get(schema, "default")))
        return json_deep_copy(v);
    if ((v = json_object_get(schema, "const")))
        return json_deep_copy(v);
    v = json_object_get(schema, "enum");
    if (json_is_array(v) && json_array_size(v))
        return json_deep_copy(json_array_get(v, 0));
    const json_t *all = json_object_get(schema, "allOf");
    if (json_is_array(all) && json_array_size(all)) {
        json_t *merged = NULL;
        size_t i;
        json_t *part; /* borrowed */
        json_array_foreach(all, i, part)
        {
            json_t *g = gen(o, part, depth + 1);
            if (json_is_object(g) && (!merged || json_is_object(merged))) {
                if (!merged)
                    merged = json_object();
                json_object_update(merged, g);
                json_decref(g);
            } else if (!merged) {
                merged = g;
            } else {
                json_decref(g);
            }
        }
        if (json_is_object(merged) && json_object_get(schema, "properties")) {
            json_t *own = gen_object(o, schema, depth);
            json_object_update(merged, own);
            json_decref(own);
        }
        return merged ? merged : json_null();
    }
    static const char *const alts[] = {"oneOf", "anyOf"};
    for (size_t i = 0; i < SP_ARRAY_LEN(alts); i++) {
        v = json_object_get(schema, alts[i]);
        if (json_is_array(v) && json_array_size(v))
            return gen(o, json_array_get(v, 0), depth + 1);
    }
    const char *type = schema_type(schema);
    if (!type)
        return json_null();
    if (strcmp(type, "object") == 0)
        return gen_object(o, schema, depth);
    if (strcmp(type, "array") == 0) {
        json_t *arr = json_array();
        const json_t *items = json_object_get(schema, "items");
        if (items)
            json_array_append_new(arr, gen(o, items, depth + 1));
        return arr;
    }
    if (strcmp(type, "string") == 0)
        return gen_string(schema);
    if (strcmp(type, "integer") == 0)
        return gen_number(schema, 1);
    if (strcmp(type, "number") == 0)
        return gen_number(schema, 0);
    if (strcmp(type, "boolean") == 0)
        return json_true();
    return json_null();
}

static json_t *example_for(oas *o, const json_t *schema)
{
    o->nodes = 0;
    o->nrefs = 0;
    return gen(o, schema, 0);
}

/* A parameter's value: its example(s), then its schema's. New reference. */
static json_t *param_value(oas *o, const json_t *p, const char *name)
{
    const json_t *v = json_object_get(p, "example");
    if (v)
        return json_deep_copy(v);
    json_t *ex = first_example(o, json_object_get(p, "examples"));
    if (ex)
        return ex;
    const json_t *schema = json_object_get(p, "schema");
    if (schema) {
        json_t *g = example_for(o, schema);
        /* A bare "string" says nothing about an id: a placeholder that looks like one fits
         * more APIs. */
        const json_t *sch = deref(o, schema);
        int plain = json_is_string(g) && strcmp(json_string_value(g), "string") == 0 && sch &&
                    !json_object_get(sch, "format");
        if (!json_is_null(g) && !plain)
            return g;
        json_decref(g);
    }
    return json_string(strcasestr(name, "id") ? "1" : "example");
}

/* The text of a scalar value for a URL or a header; NULL for objects and arrays. */
static char *scalar_text(const json_t *v)
{
    if (json_is_string(v))
        return sp_strdup(json_string_value(v));
    if (json_is_array(v) && json_array_size(v))
        return scalar_text(json_array_get(v, 0));
    if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v))
        return json_dumps(v, JSON_ENCODE_ANY);
    return NULL;
}

static void pct_encode(sp_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            sp_buf_addc(b, (char)c);
        } else {
            sp_buf_addc(b, '%');
            sp_buf_addc(b, hex[c >> 4]);
            sp_buf_addc(b, hex[c & 15]);
        }
    }
}

/* The parameters of an operation: the path item's, replaced by the operation's of the same
 * name and place. Returns a new array of borrowed (dereferenced) parameter objects. */
static json_t *merged_params(oas *o, const json_t *item_params, const json_t *op_params,
                             const char *at, int *bad)
{
    json_t *out = json_array();
    const json_t *lists[2] = {item_params, op_params};
    for (int l = 0; l < 2; l++) {
        if (!lists[l])
            continue;
        if (!json_is_array(lists[l])) {
            sp_errlist_add(o->errs, at, "parameters: must be an array");
            *bad = 1;
            continue;
        }
        size_t i;
        json_t *raw; /* borrowed */
        json_array_foreach(lists[l], i, raw)
        {
            const json_t *p = deref(o, raw);
            const char *name = json_string_value(json_object_get(p, "name"));
            const char *in = json_string_value(json_object_get(p, "in"));
            if (!p || !name || !in) {
                sp_errlist_add(o->errs, at, "%sparameters[%zu]: needs a string \"name\" and \"in\"",
                               l ? "" : "(path item) ", i);
                *bad = 1;
                continue;
            }
            size_t j;
            json_t *q; /* borrowed */
            json_array_foreach(out, j, q)
            {
                if (strcmp(json_string_value(json_object_get(q, "name")), name) == 0 &&
                    strcmp(json_string_value(json_object_get(q, "in")), in) == 0) {
                    json_array_remove(out, j);
                    break;
                }
            }
            json_array_append_new(out, json_incref((json_t *)p));
        }
    }
    return out;
}

static int needs_auth(const json_t *doc, const json_t *op)
{
    const json_t *sec = json_object_get(op, "security");
    if (!sec)
        sec = json_object_get(doc, "security");
    if (!json_is_array(sec) || json_array_size(sec) == 0)
        return 0;
    size_t i;
    json_t *req; /* borrowed */
    json_array_foreach(sec, i, req)
    {
        if (json_is_object(req) && json_object_size(req) == 0)
            return 0; /* {} in the list: anonymous access is one of the options */
    }
    return 1;
}

/* Whether a media type (a content map's key) can be sent as a Content-Type value. */
static int media_type_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Sets the request's body from the operation's requestBody. */
static void set_body(oas *o, const json_t *rb_raw, json_t *req, const char *opname)
{
    const json_t *rb = deref(o, rb_raw);
    const json_t *content = json_object_get(rb, "content");
    if (!json_is_object(content) || json_object_size(content) == 0)
        return;
    const char *k, *chosen = NULL;
    json_t *mt; /* borrowed */
    const json_t *media = NULL;
    /* JSON first, then forms, then whatever comes first. */
    static const char *const prefs[] = {"application/json", "+json",
                                        "application/x-www-form-urlencoded", "multipart/form-data"};
    for (size_t p = 0; p < SP_ARRAY_LEN(prefs) && !chosen; p++) {
        json_object_foreach((json_t *)content, k, mt)
        {
            if ((prefs[p][0] == '+' && strstr(k, prefs[p])) ||
                strncasecmp(k, prefs[p], strlen(prefs[p])) == 0) {
                chosen = k;
                media = mt;
                break;
            }
        }
    }
    if (!chosen) {
        json_object_foreach((json_t *)content, k, mt)
        {
            chosen = k;
            media = mt;
            break;
        }
    }
    media = deref(o, media);
    json_t *value = NULL;
    const json_t *v = json_object_get(media, "example");
    if (v)
        value = json_deep_copy(v);
    if (!value)
        value = first_example(o, json_object_get(media, "examples"));
    if (!value && json_object_get(media, "schema"))
        value = example_for(o, json_object_get(media, "schema"));
    if (!value)
        value = json_null();
    size_t size = json_dumpb(value, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (size > SP_OAS_EXAMPLE_MAX) {
        note(o, "%s: the generated example body was larger than %u bytes and was left out", opname,
             (unsigned)SP_OAS_EXAMPLE_MAX);
        json_decref(value);
        return;
    }
    int is_json = strstr(chosen, "json") != NULL;
    if (is_json) {
        /* Escaped here; the other kinds escape the text they make from the value. */
        sp_import_escape_json(value);
        if (json_is_string(value)) {
            json_t *e = sp_import_tmpl_string(json_string_value(value), json_string_length(value));
            json_decref(value);
            value = e;
        }
        json_object_set_new(req, "json", value);
        if (strncasecmp(chosen, "application/json", 16) != 0 && media_type_ok(chosen))
            json_object_set_new(json_object_get(req, "headers"), "Content-Type",
                                sp_import_tmpl_string(chosen, strlen(chosen)));
        return;
    }
    int form = strncasecmp(chosen, "application/x-www-form-urlencoded", 33) == 0;
    int multi = strncasecmp(chosen, "multipart/form-data", 19) == 0;
    if ((form || multi) && json_is_object(value) && json_object_size(value) == 0) {
        json_decref(value); /* no field to send */
        return;
    }
    if ((form || multi) && json_is_object(value)) {
        json_t *fields = form ? json_object() : json_array();
        const char *fk;
        json_t *fv; /* borrowed */
        json_object_foreach(value, fk, fv)
        {
            if (!*fk)
                continue; /* a field needs a name */
            char *text = scalar_text(fv);
            if (!text)
                text = json_dumps(fv, JSON_COMPACT | JSON_ENCODE_ANY);
            json_t *t = sp_import_tmpl_string(text ? text : "", text ? strlen(text) : 0);
            free(text);
            if (form) {
                json_object_set_new(fields, fk, t);
                continue;
            }
            if (json_array_size(fields) >= 64) {
                json_decref(t);
                break;
            }
            /* A binary property is a file upload. */
            const json_t *ps =
                deref(o, json_object_get(json_object_get(deref(o, json_object_get(media, "schema")),
                                                         "properties"),
                                         fk));
            const char *fmt = json_string_value(json_object_get(ps, "format"));
            if (fmt && (strcmp(fmt, "binary") == 0 || strcmp(fmt, "base64") == 0))
                json_array_append_new(fields, json_pack("{s:s, s:s, s:o}", "name", fk, "filename",
                                                        "example.bin", "content", t));
            else
                json_array_append_new(fields, json_pack("{s:s, s:o}", "name", fk, "value", t));
        }
        json_object_set_new(req, form ? "form" : "multipart", fields);
        json_decref(value);
        return;
    }
    char *text = scalar_text(value);
    if (!text)
        text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    json_object_set_new(req, "body",
                        sp_import_tmpl_string(text ? text : "", text ? strlen(text) : 0));
    free(text);
    if (media_type_ok(chosen))
        json_object_set_new(json_object_get(req, "headers"), "Content-Type",
                            sp_import_tmpl_string(chosen, strlen(chosen)));
}

static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                      "options", "head", "patch", "trace"};

/* Letters, digits and '-': what a header parameter's name needs to be sent as one. */
static int header_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 256 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

/* One operation to one task. 0, or -1 after adding errors. */
static int op_task(oas *o, const char *path, const json_t *item, const char *method,
                   const json_t *op, json_t *tasks)
{
    char at[600];
    snprintf(at, sizeof at, "paths.%.400s.%s", path, method);
    if (!json_is_object(op)) {
        sp_errlist_add(o->errs, at, "must be an object (an Operation)");
        return -1;
    }
    char m[16];
    size_t ml = strlen(method);
    for (size_t i = 0; i <= ml; i++)
        m[i] = (char)(method[i] >= 'a' && method[i] <= 'z' ? method[i] - 32 : method[i]);
    const char *opid = json_string_value(json_object_get(op, "operationId"));
    sp_buf name, url;
    sp_buf_init(&name, SIZE_MAX);
    sp_buf_init(&url, SIZE_MAX);
    if (opid && *opid)
        sp_buf_adds(&name, opid);
    else
        sp_buf_addf(&name, "%s %s", m, path);
    int bad = 0;
    json_t *params = merged_params(o, json_object_get(item, "parameters"),
                                   json_object_get(op, "parameters"), at, &bad);
    json_t *query = json_object();
    json_t *headers = json_object();
    /* The path with each {param} replaced by its value, percent-encoded. */
    for (const char *p = path; *p;) {
        if (*p != '{') {
            unsigned char c = (unsigned char)*p++;
            if (c <= ' ' || c >= 0x7f || c == '}') /* a URL holds none of these as they are */
                sp_buf_addf(&url, "%%%02X", c);
            else
                sp_buf_addc(&url, (char)c);
            continue;
        }
        const char *close = strchr(p, '}');
        if (!close) {
            sp_errlist_add(o->errs, at, "the path has a '{' without its '}'");
            bad = 1;
            break;
        }
        char pname[128];
        snprintf(pname, sizeof pname, "%.*s", (int)(close - p - 1), p + 1);
        const json_t *param = NULL;
        size_t i;
        json_t *q; /* borrowed */
        json_array_foreach(params, i, q)
        {
            if (strcmp(json_string_value(json_object_get(q, "in")), "path") == 0 &&
                strcmp(json_string_value(json_object_get(q, "name")), pname) == 0)
                param = q;
        }
        json_t *val = param ? param_value(o, param, pname)
                            : json_string(strcasestr(pname, "id") ? "1" : "example");
        char *text = scalar_text(val);
        json_decref(val);
        pct_encode(&url, text && *text ? text : "1");
        free(text);
        p = close + 1;
    }
    size_t i;
    json_t *q; /* borrowed */
    json_array_foreach(params, i, q)
    {
        const char *in = json_string_value(json_object_get(q, "in"));
        const char *pname = json_string_value(json_object_get(q, "name"));
        int required = json_is_true(json_object_get(q, "required"));
        int has_example = json_object_get(q, "example") || json_object_get(q, "examples");
        if (strcmp(in, "query") == 0 && (required || has_example)) {
            json_t *val = param_value(o, q, pname);
            char *text = scalar_text(val);
            json_decref(val);
            json_object_set_new(query, pname,
                                sp_import_tmpl_string(text ? text : "", text ? strlen(text) : 0));
            free(text);
        } else if (strcmp(in, "header") == 0 && required && !header_name_ok(pname)) {
            note(o, "%s: the header parameter '%.100s' is not a valid header name and was left out",
                 name.p, pname);
        } else if (strcmp(in, "header") == 0 && required && strcasecmp(pname, "Accept") != 0 &&
                   strcasecmp(pname, "Content-Type") != 0 &&
                   strcasecmp(pname, "Authorization") != 0) {
            json_t *val = param_value(o, q, pname);
            char *text = scalar_text(val);
            json_decref(val);
            json_object_set_new(headers, pname,
                                sp_import_tmpl_string(text ? text : "", text ? strlen(text) : 0));
            free(text);
        } else if (strcmp(in, "cookie") == 0 && required) {
            note(o, "%s: the required cookie parameter '%.100s' was left out", name.p, pname);
        }
    }
    json_decref(params);
    if (bad) {
        json_decref(query);
        json_decref(headers);
        sp_buf_release(&name);
        sp_buf_release(&url);
        return -1;
    }
    json_t *req = json_pack("{s:s, s:o, s:o}", "method", m, "url",
                            sp_import_tmpl_string(url.p, url.len), "name", sp_import_name(name.p));
    json_object_set_new(req, "headers", headers);
    if (json_object_size(query))
        json_object_set_new(req, "query", query);
    else
        json_decref(query);
    if (json_object_get(op, "requestBody"))
        set_body(o, json_object_get(op, "requestBody"), req, name.p);
    if (json_object_size(json_object_get(req, "headers")) == 0)
        json_object_del(req, "headers");
    if (needs_auth(o->doc, op))
        note(o,
             "%s needs authentication: add a login step to on_start that extracts the token "
             "and sets the header (set_headers)",
             name.p);
    json_array_append_new(tasks, json_pack("{s:o, s:[{s:o}]}", "name", sp_import_name(name.p),
                                           "steps", "request", req));
    sp_buf_release(&name);
    sp_buf_release(&url);
    return 0;
}

/* The base URL: servers[0].url with its variables, resolved against opts->base_url. */
static int base_url(oas *o, const sp_oas_opts *opts, char *out, size_t outlen)
{
    const json_t *servers = json_object_get(o->doc, "servers");
    const json_t *s0 = json_array_get(servers, 0);
    const char *url = json_string_value(json_object_get(s0, "url"));
    if (servers && (!json_is_array(servers) || (json_array_size(servers) && !url))) {
        sp_errlist_add(o->errs, "servers", "must be an array of {\"url\": ...}");
        return -1;
    }
    sp_buf b;
    sp_buf_init(&b, 2048);
    const json_t *vars = json_object_get(s0, "variables");
    for (const char *p = url ? url : "/"; *p;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close) {
                char vname[128];
                snprintf(vname, sizeof vname, "%.*s", (int)(close - p - 1), p + 1);
                const char *def =
                    json_string_value(json_object_get(json_object_get(vars, vname), "default"));
                if (!def) {
                    sp_errlist_add(o->errs, "servers[0].variables",
                                   "the variable '%s' of the URL has no default", vname);
                    sp_buf_release(&b);
                    return -1;
                }
                sp_buf_adds(&b, def);
                p = close + 1;
                continue;
            }
        }
        sp_buf_addc(&b, *p++);
    }
    /* Any scheme makes it absolute; only http(s) passes the check below. */
    int absolute = b.p && strstr(b.p, "://") != NULL;
    const char *given = opts->base_url;
    int rc = 0;
    if (given) {
        if (absolute) {
            snprintf(out, outlen, "%s", given);
        } else {
            /* A relative server URL is a path under the given base. */
            size_t gl = strlen(given);
            while (gl && given[gl - 1] == '/')
                gl--;
            const char *rel = b.p ? b.p : "";
            while (*rel == '.')
                rel++;
            snprintf(out, outlen, "%.*s%s%s", (int)gl, given, *rel == '/' || !*rel ? "" : "/", rel);
        }
    } else if (absolute) {
        snprintf(out, outlen, "%s", b.p);
    } else {
        sp_errlist_add(
            o->errs, url ? "servers[0].url" : "servers",
            url ? "'%.200s' is relative: give base_url (a query parameter) to say where "
                  "the API is"
                : "%.0sno server is named: give base_url (a query parameter) to say where "
                  "the API is",
            url ? url : "");
        rc = -1;
    }
    sp_buf_release(&b);
    if (rc == 0) {
        size_t n = strlen(out);
        while (n > 0 && out[n - 1] == '/')
            out[--n] = '\0';
        if (strncasecmp(out, "http://", 7) != 0 && strncasecmp(out, "https://", 8) != 0) {
            sp_errlist_add(o->errs, given ? "base_url" : "servers[0].url",
                           "'%.200s' is not an http(s) URL", out);
            rc = -1;
        } else if (strchr("/?#:", out[strstr(out, "://") - out + 3]) ||
                   strspn(out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               ".-_~%:[]@/!$&'()*+,;=") != strlen(out)) {
            sp_errlist_add(o->errs, given ? "base_url" : "servers[0].url",
                           "'%.200s' has no host, or characters a URL cannot hold", out);
            rc = -1;
        } else if (strpbrk(out, "?# {}")) {
            sp_errlist_add(o->errs, given ? "base_url" : "servers[0].url",
                           "'%.200s' must not hold a query, a fragment, spaces or braces", out);
            rc = -1;
        }
    }
    return rc;
}

int sp_oas_import(const json_t *doc, const sp_oas_opts *opts, json_t **def, json_t **notes,
                  sp_errlist *errs)
{
    *def = NULL;
    *notes = NULL;
    sp_oas_opts none = {NULL, NULL};
    if (!opts)
        opts = &none;
    oas o;
    memset(&o, 0, sizeof o);
    o.doc = doc;
    o.errs = errs;
    o.notes = json_array();
    json_t *tasks = json_array();
    int rc = 0;

    const char *version = json_string_value(json_object_get(doc, "openapi"));
    if (!version) {
        sp_errlist_add(errs, "openapi",
                       json_object_get(doc, "swagger")
                           ? "this is a Swagger 2.0 document; convert it to OpenAPI 3 first"
                           : "missing: an OpenAPI 3 document starts with {\"openapi\": \"3.x\"}");
        rc = SP_EINVAL;
        goto out;
    }
    if (strncmp(version, "3.", 2) != 0) {
        sp_errlist_add(errs, "openapi", "version '%.32s' is not supported; 3.0 and 3.1 are",
                       version);
        rc = SP_EINVAL;
        goto out;
    }
    char base[1024];
    if (base_url(&o, opts, base, sizeof base) != 0) {
        rc = SP_EINVAL;
        goto out;
    }
    const json_t *paths = json_object_get(doc, "paths");
    if (!json_is_object(paths)) {
        sp_errlist_add(errs, "paths", "missing or not an object");
        rc = SP_EINVAL;
        goto out;
    }
    const char *path;
    json_t *item; /* borrowed */
    json_object_foreach((json_t *)paths, path, item)
    {
        char at[512];
        snprintf(at, sizeof at, "paths.%.400s", path);
        if (path[0] != '/') {
            sp_errlist_add(errs, at, "a path must start with '/'");
            continue;
        }
        const json_t *it = json_object_get(item, "$ref") ? deref(&o, item) : item;
        if (!json_is_object(it)) {
            sp_errlist_add(errs, at, "must be an object (a Path Item)");
            continue;
        }
        for (size_t m = 0; m < SP_ARRAY_LEN(methods); m++) {
            const json_t *op = json_object_get(it, methods[m]);
            if (!op)
                continue;
            if (json_array_size(tasks) >= SP_OAS_MAX_OPERATIONS) {
                sp_errlist_add(errs, "paths",
                               "more than %d operations; a test holds at most %d tasks",
                               SP_OAS_MAX_OPERATIONS, SP_OAS_MAX_OPERATIONS);
                rc = SP_ELIMIT;
                goto out;
            }
            op_task(&o, path, it, methods[m], op, tasks);
        }
    }
    if (errs->n) {
        rc = SP_EINVAL;
        goto out;
    }
    if (json_array_size(tasks) == 0) {
        sp_errlist_add(errs, "paths", "no operation to import");
        rc = SP_EINVAL;
        goto out;
    }
    const char *title = json_string_value(json_object_get(json_object_get(doc, "info"), "title"));
    const char *name = opts->name && *opts->name ? opts->name
                       : title && *title         ? title
                                                 : "OpenAPI import";
    char desc[300];
    snprintf(desc, sizeof desc, "Imported from an OpenAPI %.16s document: %zu operations.", version,
             json_array_size(tasks));
    *def = sp_import_definition(name, desc, base, "api", tasks);
    tasks = NULL; /* stolen */
    if (!*def) {
        sp_errlist_add(errs, "", "the document holds text that is not UTF-8");
        rc = SP_EINVAL;
        goto out;
    }
    *notes = o.notes;
    o.notes = NULL;
out:
    json_decref(tasks);
    json_decref(o.notes);
    return rc;
}
