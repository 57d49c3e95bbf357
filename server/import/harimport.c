/*
 * harimport.c - see harimport.h.
 */
#define _GNU_SOURCE /* strcasestr */
#include "import/harimport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"
#include "engine/limits.h"
#include "import/importutil.h"

#define CORRELATE_TOTAL (SP_HAR_CORRELATE_LEAVES * 8) /* values remembered over the recording */
#define TOKEN_MIN 8        /* shorter values are too likely to match by chance */
#define JPATH_MAX 256      /* one JSON path of a remembered value */
#define MULTIPART_PARTS 64 /* the definition's cap on multipart parts */

/* A string an earlier response held, and where. */
typedef struct leaf {
    const char *val; /* borrowed from a parsed response in docs */
    size_t len;
    size_t step; /* the step whose response held it */
    char *path;  /* JSON path (owned) */
    char *key;   /* the last key on the path (owned), a hint for the variable's name */
} leaf;

typedef struct har {
    sp_errlist *errs;
    const sp_har_opts *opts;
    json_t *steps; /* the steps made so far */
    json_t *skipped;
    int cookies;    /* a kept request sent a Cookie header (dropped) */
    int stale_auth; /* a kept request sends a recorded Authorization no response explains */
    leaf *leaves;
    size_t nleaves, capleaves;
    json_t **docs; /* parsed responses the leaves point into */
    size_t ndocs, capdocs;
    char **vars; /* variable names given out so far, parallel to var_val */
    char **var_val;
    size_t nvars, capvars, capvals;
} har;

/* ---- URLs ---- */

typedef struct url_parts {
    size_t origin_len; /* "http://host:port" */
    size_t path_len;   /* from origin_len: the path, without query or fragment */
    size_t rest_len;   /* from origin_len: path and query, without the fragment */
} url_parts;

/* 0 for an http(s) URL with a host; 1 for a kind of URL that is left out (data:, ws:, ...);
 * -1 otherwise. */
static int split_url(const char *u, url_parts *p)
{
    static const char *const other[] = {
        "data:",          "blob:",  "ws:", "wss:", "about:", "chrome-extension:",
        "moz-extension:", "chrome:"};
    for (size_t i = 0; i < SP_ARRAY_LEN(other); i++)
        if (strncasecmp(u, other[i], strlen(other[i])) == 0)
            return 1;
    size_t skip;
    if (strncasecmp(u, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(u, "https://", 8) == 0)
        skip = 8;
    else
        return -1;
    size_t host = strcspn(u + skip, "/?#");
    /* The authority becomes the test's base_url: only what a host, a port and user
     * information are written with. */
    if (host == 0 || u[skip] == ':' ||
        strspn(u + skip,
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~%:[]@") < host)
        return -1;
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return -1;
    p->origin_len = skip + host;
    const char *rest = u + p->origin_len;
    p->rest_len = strcspn(rest, "#");
    p->path_len = strcspn(rest, "?#");
    return 0;
}

static int same_origin(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* ---- what is left out ---- */

static int ends_with_ext(const char *path, size_t len, const char *const *exts, size_t n)
{
    const char *dot = NULL;
    for (size_t i = len; i > 0; i--) {
        if (path[i - 1] == '/')
            break;
        if (path[i - 1] == '.') {
            dot = path + i;
            break;
        }
    }
    if (!dot)
        return 0;
    size_t elen = len - (size_t)(dot - path);
    for (size_t i = 0; i < n; i++)
        if (strlen(exts[i]) == elen && strncasecmp(dot, exts[i], elen) == 0)
            return 1;
    return 0;
}

/* A reason when the entry is a static asset, else NULL. */
static const char *static_reason(const json_t *entry, const char *path, size_t path_len)
{
    static const char *const exts[] = {"png", "jpg", "jpeg", "gif",  "webp",  "avif", "svg", "ico",
                                       "bmp", "tif", "tiff", "woff", "woff2", "ttf",  "otf", "eot",
                                       "css", "js",  "mjs",  "map",  "mp4",   "webm", "ogg", "mp3",
                                       "wav", "m4a", "aac",  "flac", "mov",   "m3u8", "ts"};
    static const char *const types[] = {"image", "stylesheet", "script", "font", "media"};
    const char *rt = json_string_value(json_object_get(entry, "_resourceType"));
    for (size_t i = 0; rt && i < SP_ARRAY_LEN(types); i++)
        if (strcasecmp(rt, types[i]) == 0)
            return "a static asset (the browser's resource type)";
    const json_t *content = json_object_get(json_object_get(entry, "response"), "content");
    const char *mime = json_string_value(json_object_get(content, "mimeType"));
    if (mime) {
        static const char *const prefixes[] = {"image/",
                                               "font/",
                                               "audio/",
                                               "video/",
                                               "text/css",
                                               "text/javascript",
                                               "application/javascript",
                                               "application/x-javascript",
                                               "application/ecmascript",
                                               "application/font-",
                                               "application/x-font-",
                                               "application/vnd.ms-fontobject"};
        for (size_t i = 0; i < SP_ARRAY_LEN(prefixes); i++)
            if (strncasecmp(mime, prefixes[i], strlen(prefixes[i])) == 0)
                return "a static asset (its MIME type)";
    }
    if (ends_with_ext(path, path_len, exts, SP_ARRAY_LEN(exts)))
        return "a static asset (its extension)";
    return NULL;
}

/* Headers that describe one browser's connection or session at one moment, not the request a
 * test should send again. */
static int volatile_header(const char *name)
{
    static const char *const names[] = {"cookie",
                                        "content-length",
                                        "host",
                                        "user-agent",
                                        "accept-encoding",
                                        "connection",
                                        "keep-alive",
                                        "proxy-connection",
                                        "transfer-encoding",
                                        "te",
                                        "upgrade",
                                        "expect",
                                        "if-none-match",
                                        "if-modified-since",
                                        "if-match",
                                        "if-unmodified-since",
                                        "if-range",
                                        "x-request-id",
                                        "x-correlation-id",
                                        "x-amzn-trace-id",
                                        "x-cloud-trace-context",
                                        "traceparent",
                                        "tracestate",
                                        "baggage",
                                        "sentry-trace",
                                        "request-id",
                                        "x-b3-traceid",
                                        "x-b3-spanid",
                                        "x-b3-parentspanid",
                                        "x-b3-sampled",
                                        "b3",
                                        "cache-control",
                                        "pragma",
                                        "upgrade-insecure-requests",
                                        "priority",
                                        "dnt",
                                        "referer",
                                        "purpose",
                                        "x-client-data",
                                        "x-forwarded-for",
                                        "x-forwarded-host",
                                        "x-forwarded-proto",
                                        "via",
                                        "content-encoding"};
    if (name[0] == ':' || strncasecmp(name, "sec-", 4) == 0 || strncasecmp(name, "proxy-", 6) == 0)
        return 1;
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

static int is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *s)
{
    if (!*s || strlen(s) > 256)
        return 0;
    for (; *s; s++)
        if (!is_token_char(*s))
            return 0;
    return 1;
}

/* ---- remembered response values (correlation) ---- */

static int key_ok(const char *k)
{
    if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
        return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '_' || *k == '-'))
            return 0;
    return 1;
}

static void remember(har *h, size_t step, const json_t *v, sp_buf *path, const char *key,
                     size_t depth, size_t *budget)
{
    if (*budget == 0 || depth > 8 || h->nleaves >= CORRELATE_TOTAL)
        return;
    size_t mark = path->len;
    if (json_is_string(v)) {
        (*budget)--;
        if (json_string_length(v) < TOKEN_MIN || !key)
            return;
        sp_grow((void **)&h->leaves, &h->capleaves, h->nleaves + 1, sizeof(*h->leaves));
        leaf *l = &h->leaves[h->nleaves++];
        l->val = json_string_value(v);
        l->len = json_string_length(v);
        l->step = step;
        l->path = sp_strdup(path->p ? path->p : "");
        l->key = sp_strdup(key);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *child; /* borrowed */
        json_object_foreach((json_t *)v, k, child)
        {
            if (!key_ok(k))
                continue;
            if (path->len)
                sp_buf_addc(path, '.');
            if (sp_buf_adds(path, k) == 0)
                remember(h, step, child, path, k, depth + 1, budget);
            path->len = mark;
            if (path->p)
                path->p[mark] = '\0';
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child; /* borrowed */
        json_array_foreach(v, i, child)
        {
            if (i >= 16)
                break; /* a token sits near the top of a response, not deep in a list */
            if (sp_buf_addf(path, "[%zu]", i) == 0)
                remember(h, step, child, path, key, depth + 1, budget);
            path->len = mark;
            if (path->p)
                path->p[mark] = '\0';
        }
    }
}

/* Remembers the string values of a kept entry's JSON response for later requests. */
static void remember_response(har *h, size_t step, const json_t *entry)
{
    const json_t *content = json_object_get(json_object_get(entry, "response"), "content");
    const char *mime = json_string_value(json_object_get(content, "mimeType"));
    const json_t *text = json_object_get(content, "text");
    const char *enc = json_string_value(json_object_get(content, "encoding"));
    if (!mime || !strcasestr(mime, "json") || !json_is_string(text) || (enc && *enc) ||
        json_string_length(text) > SP_HAR_CORRELATE_MAX)
        return;
    json_t *doc = NULL;
    char msg[128];
    if (sp_json_parse(json_string_value(text), json_string_length(text), SP_HTTP_MAX_DEPTH, &doc,
                      msg, sizeof msg) != 0)
        return;
    sp_grow((void **)&h->docs, &h->capdocs, h->ndocs + 1, sizeof(*h->docs));
    h->docs[h->ndocs++] = doc;
    sp_buf path;
    sp_buf_init(&path, JPATH_MAX);
    size_t budget = SP_HAR_CORRELATE_LEAVES;
    remember(h, step, doc, &path, NULL, 0, &budget);
    sp_buf_release(&path);
}

/* The variable holding l's value: an existing one, or a new one extracted by l's step. */
static const char *var_for(har *h, const leaf *l)
{
    for (size_t i = 0; i < h->nvars; i++)
        if (strlen(h->var_val[i]) == l->len && memcmp(h->var_val[i], l->val, l->len) == 0)
            return h->vars[i];
    char name[80];
    const char *base = sp_import_var_name_ok(l->key) ? l->key : "token";
    snprintf(name, sizeof name, "%s", base);
    for (int n = 2;; n++) {
        int used = 0;
        for (size_t i = 0; i < h->nvars; i++)
            used |= strcmp(h->vars[i], name) == 0;
        if (!used)
            break;
        snprintf(name, sizeof name, "%.60s%d", base, n);
    }
    sp_grow((void **)&h->vars, &h->capvars, h->nvars + 1, sizeof(*h->vars));
    sp_grow((void **)&h->var_val, &h->capvals, h->nvars + 1, sizeof(*h->var_val));
    h->vars[h->nvars] = sp_strdup(name);
    h->var_val[h->nvars] = sp_malloc(l->len + 1);
    memcpy(h->var_val[h->nvars], l->val, l->len);
    h->var_val[h->nvars][l->len] = '\0';
    json_t *step = json_array_get(h->steps, l->step); /* borrowed */
    json_t *ex = json_object_get(step, "extract");    /* borrowed */
    if (!ex) {
        ex = json_object();
        json_object_set_new(step, "extract", ex); /* steals ex; step keeps it alive */
    }
    json_object_set_new(ex, name, json_pack("{s:s}", "json", l->path));
    return h->vars[h->nvars++];
}

/*
 * A header value with a token an earlier response held replaced by its variable: the whole
 * value, or what follows a scheme word ("Bearer <token>"). NULL when nothing matches.
 */
static json_t *correlate(har *h, const char *val)
{
    size_t n = strlen(val);
    const char *sp = strchr(val, ' ');
    size_t off = sp && strchr(val, ' ') == strrchr(val, ' ') ? (size_t)(sp - val) + 1 : 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t o = pass == 0 ? 0 : off;
        if (pass == 1 && off == 0)
            break;
        size_t len = n - o;
        if (len < TOKEN_MIN)
            continue;
        /* The latest response that held it: a token refreshed midway is taken from the
         * refresh, not the first login. */
        for (size_t i = h->nleaves; i > 0; i--) {
            const leaf *l = &h->leaves[i - 1];
            if (l->len != len || memcmp(l->val, val + o, len) != 0)
                continue;
            const char *var = var_for(h, l);
            /* The scheme word before the token is recorded text: escaped like any other. */
            json_t *prefix = sp_import_tmpl_string(val, o);
            sp_buf b;
            sp_buf_init(&b, SIZE_MAX);
            sp_buf_add(&b, json_string_value(prefix), json_string_length(prefix));
            sp_buf_addf(&b, "{{%s}}", var);
            json_t *out = json_stringn(b.p, b.len);
            sp_buf_release(&b);
            json_decref(prefix);
            return out;
        }
    }
    return NULL;
}

/* ---- bodies ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes a form-encoded name or value ('+' is a space). NULL when not UTF-8. */
static json_t *form_decode(const char *s, size_t n)
{
    sp_buf b;
    sp_buf_init(&b, SIZE_MAX);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            sp_buf_addc(&b, ' ');
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            char c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            if (c == '\0') { /* no NUL in a definition: the body stays as recorded */
                sp_buf_release(&b);
                return NULL;
            }
            sp_buf_addc(&b, c);
            i += 2;
        } else {
            sp_buf_addc(&b, s[i]);
        }
    }
    json_t *v = json_stringn(b.p ? b.p : "", b.len);
    sp_buf_release(&b);
    return v;
}

/* A form body as an object of fields; NULL when it cannot be one (a repeated name, bad text). */
static json_t *form_fields(const char *text)
{
    json_t *form = json_object();
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "&");
        if (n) {
            const char *eq = memchr(p, '=', n);
            size_t kl = eq ? (size_t)(eq - p) : n;
            json_t *k = form_decode(p, kl);
            json_t *v = form_decode(eq ? eq + 1 : p + n, eq ? n - kl - 1 : 0);
            int ok =
                k && v && json_string_length(k) > 0 && !json_object_get(form, json_string_value(k));
            if (ok) {
                const char *vs = json_string_value(v);
                json_object_set_new(form, json_string_value(k),
                                    sp_import_tmpl_string(vs, json_string_length(v)));
            }
            json_decref(k);
            json_decref(v);
            if (!ok) {
                json_decref(form);
                return NULL;
            }
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return form;
}

static int mime_is(const char *mime, const char *want)
{
    size_t n = strlen(want);
    return mime && strncasecmp(mime, want, n) == 0 &&
           (mime[n] == '\0' || mime[n] == ';' || mime[n] == ' ');
}

/*
 * Sets the request's body from postData. *ct_implied says whether the recorded Content-Type is
 * what the chosen body kind sends anyway (then the header is dropped). 0, or -1 with an error.
 */
static int set_body(har *h, const char *at, const json_t *pd, const char *ct_header, json_t *req,
                    int *ct_implied)
{
    *ct_implied = 0;
    if (!pd || json_is_null(pd))
        return 0;
    if (!json_is_object(pd)) {
        sp_errlist_add(h->errs, at, "must be an object");
        return -1;
    }
    const char *mime = json_string_value(json_object_get(pd, "mimeType"));
    if (!mime || !*mime)
        mime = ct_header;
    const json_t *text = json_object_get(pd, "text");
    const json_t *params = json_object_get(pd, "params");
    if (text && !json_is_string(text)) {
        sp_errlist_add(h->errs, at, "text: must be a string");
        return -1;
    }
    const char *t = text ? json_string_value(text) : NULL;
    size_t tlen = text ? json_string_length(text) : 0;
    if (mime && strcasestr(mime, "json") && t) {
        json_error_t je;
        json_t *v = json_loadb(t, tlen, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (v) {
            sp_import_escape_json(v);
            if (json_is_string(v)) {
                json_t *e = sp_import_tmpl_string(json_string_value(v), json_string_length(v));
                json_decref(v);
                v = e;
            }
            json_object_set_new(req, "json", v);
            *ct_implied = mime_is(mime, "application/json");
            return 0;
        }
    }
    if (mime_is(mime, "application/x-www-form-urlencoded") && t) {
        json_t *form = form_fields(t);
        if (form) {
            json_object_set_new(req, "form", form);
            *ct_implied = 1;
            return 0;
        }
    }
    if (mime_is(mime, "multipart/form-data") && json_is_array(params) &&
        json_array_size(params) > 0) {
        if (json_array_size(params) > MULTIPART_PARTS) {
            sp_errlist_add(h->errs, at,
                           "params: %zu parts; a test's multipart body holds at most %d",
                           json_array_size(params), MULTIPART_PARTS);
            return -1;
        }
        json_t *parts = json_array();
        size_t i;
        json_t *pm; /* borrowed */
        json_array_foreach(params, i, pm)
        {
            const char *name = json_string_value(json_object_get(pm, "name"));
            const json_t *value = json_object_get(pm, "value");
            const char *file = json_string_value(json_object_get(pm, "fileName"));
            const char *ctype = json_string_value(json_object_get(pm, "contentType"));
            if (!name || !*name) {
                sp_errlist_add(h->errs, at, "params[%zu].name: must be a non-empty string", i);
                json_decref(parts);
                return -1;
            }
            const char *vs = json_string_value(value);
            json_t *vt = sp_import_tmpl_string(vs ? vs : "", vs ? json_string_length(value) : 0);
            json_t *part = json_pack("{s:s}", "name", name);
            if (file) {
                json_object_set_new(part, "filename", json_string(*file ? file : "file"));
                json_object_set_new(part, "content", vt);
                if (ctype && *ctype && !strpbrk(ctype, "\r\n"))
                    json_object_set_new(part, "content_type", json_string(ctype));
            } else {
                json_object_set_new(part, "value", vt);
            }
            json_array_append_new(parts, part);
        }
        json_object_set_new(req, "multipart", parts);
        *ct_implied = 1;
        return 0;
    }
    if (!t && mime_is(mime, "application/x-www-form-urlencoded") && json_is_array(params)) {
        json_t *form = json_object();
        size_t i;
        json_t *pm; /* borrowed */
        json_array_foreach(params, i, pm)
        {
            const char *name = json_string_value(json_object_get(pm, "name"));
            const json_t *value = json_object_get(pm, "value");
            if (!name || !*name || json_object_get(form, name)) {
                sp_errlist_add(h->errs, at, "params[%zu].name: missing, empty or repeated", i);
                json_decref(form);
                return -1;
            }
            const char *vs = json_string_value(value);
            json_object_set_new(
                form, name,
                sp_import_tmpl_string(vs ? vs : "", vs ? json_string_length(value) : 0));
        }
        json_object_set_new(req, "form", form);
        *ct_implied = 1;
        return 0;
    }
    if (t && tlen)
        json_object_set_new(req, "body", sp_import_tmpl_string(t, tlen));
    return 0;
}

/* ---- one entry ---- */

static int entry_step(har *h, size_t i, const json_t *entry, const char *url, const url_parts *u,
                      int relative)
{
    char at[96];
    const json_t *rq = json_object_get(entry, "request");
    const char *method = json_string_value(json_object_get(rq, "method"));
    json_t *req = json_object();
    int rc = 0;
    sp_buf name, b;
    sp_buf_init(&name, SIZE_MAX);
    sp_buf_init(&b, SIZE_MAX);

    char m[32];
    size_t ml = strlen(method);
    for (size_t k = 0; k <= ml && k < sizeof m; k++)
        m[k] = (char)(method[k] >= 'a' && method[k] <= 'z' ? method[k] - 32 : method[k]);
    m[sizeof m - 1] = '\0';
    json_object_set_new(req, "method", json_string(m));
    const char *rest = url + u->origin_len;
    if (relative) {
        if (u->rest_len == 0)
            sp_buf_addc(&b, '/');
        sp_buf_add(&b, rest, u->rest_len);
    } else {
        sp_buf_add(&b, url, u->origin_len + u->rest_len);
    }
    json_object_set_new(req, "url", sp_import_tmpl_string(b.p, b.len));
    sp_buf_addf(&name, "%s ", m);
    if (!relative)
        sp_buf_add(&name, url, u->origin_len);
    sp_import_path_pattern(rest, u->path_len, &name);
    json_object_set_new(req, "name", sp_import_name(name.p));

    /* Headers first, to know the Content-Type. */
    const json_t *hdrs = json_object_get(rq, "headers");
    if (hdrs && !json_is_array(hdrs)) {
        snprintf(at, sizeof at, "log.entries[%zu].request.headers", i);
        sp_errlist_add(h->errs, at, "must be an array of {\"name\", \"value\"}");
        rc = -1;
        goto out;
    }
    json_t *out = json_object();
    const char *ct = NULL;
    size_t j;
    json_t *hd; /* borrowed */
    json_array_foreach(hdrs, j, hd)
    {
        const char *hn = json_string_value(json_object_get(hd, "name"));
        const char *hv = json_string_value(json_object_get(hd, "value"));
        snprintf(at, sizeof at, "log.entries[%zu].request.headers[%zu]", i, j);
        if (!hn || !hv) {
            sp_errlist_add(h->errs, at, "must be an object with string \"name\" and \"value\"");
            rc = -1;
            break;
        }
        if (volatile_header(hn)) {
            h->cookies |= strcasecmp(hn, "cookie") == 0;
            continue;
        }
        if (!is_token(hn)) {
            sp_errlist_add(h->errs, at, "name: '%.64s' is not a valid header name", hn);
            rc = -1;
            break;
        }
        if (strpbrk(hv, "\r\n")) {
            sp_errlist_add(h->errs, at, "value: contains a line break");
            rc = -1;
            break;
        }
        if (strcasecmp(hn, "content-type") == 0)
            ct = hv;
        /* The first spelling of a name is kept; a repeated header is joined, as HTTP allows. */
        const char *k;
        json_t *prev = NULL; /* borrowed */
        json_t *pv;
        json_object_foreach(out, k, pv)
        {
            if (strcasecmp(k, hn) == 0)
                prev = pv;
        }
        json_t *val = correlate(h, hv);
        if (!val) {
            h->stale_auth |= strcasecmp(hn, "authorization") == 0;
            val = sp_import_tmpl_string(hv, strlen(hv));
        }
        if (prev) {
            sp_buf_reset(&b);
            sp_buf_addf(&b, "%s, %s", json_string_value(prev), json_string_value(val));
            json_string_setn(prev, b.p, b.len);
            json_decref(val);
        } else {
            json_object_set_new(out, hn, val);
        }
    }
    if (rc) {
        json_decref(out);
        goto out;
    }
    snprintf(at, sizeof at, "log.entries[%zu].request.postData", i);
    int implied = 0;
    if (set_body(h, at, json_object_get(rq, "postData"), ct, req, &implied) != 0) {
        json_decref(out);
        rc = -1;
        goto out;
    }
    if (implied) {
        const char *k;
        void *tmp;
        json_t *pv;
        json_object_foreach_safe(out, tmp, k, pv)
        {
            if (strcasecmp(k, "content-type") == 0)
                json_object_del(out, k);
        }
    }
    if (json_object_size(out))
        json_object_set_new(req, "headers", out);
    else
        json_decref(out);
    json_array_append_new(h->steps, json_pack("{s:O}", "request", req));
out:
    json_decref(req);
    sp_buf_release(&name);
    sp_buf_release(&b);
    return rc;
}

static void skip(har *h, size_t i, const char *method, const char *url, const char *reason)
{
    json_array_append_new(h->skipped,
                          json_pack("{s:I, s:o, s:o, s:s}", "entry", (json_int_t)i, "method",
                                    sp_json_string(method ? method : ""), "url",
                                    sp_json_string(url ? url : ""), "reason", reason));
}

/* Pass 1: checks every entry, leaves out what is not an API request (in h->skipped) and fills
 * kept[] with the indexes of the others and parts[] with their URLs' parts. Returns how many
 * were kept; errors go to h->errs. */
static size_t check_entries(har *h, const json_t *entries, size_t *kept, url_parts *parts)
{
    sp_errlist *errs = h->errs;
    char at[96];
    size_t nkept = 0;
    for (size_t i = 0; i < json_array_size(entries); i++) {
        const json_t *e = json_array_get(entries, i);
        const json_t *rq = json_object_get(e, "request");
        snprintf(at, sizeof at, "log.entries[%zu]", i);
        if (!json_is_object(e)) {
            sp_errlist_add(errs, at, "must be an object");
            continue;
        }
        snprintf(at, sizeof at, "log.entries[%zu].request", i);
        if (!json_is_object(rq)) {
            sp_errlist_add(errs, at, "missing or not an object");
            continue;
        }
        const char *method = json_string_value(json_object_get(rq, "method"));
        const char *url = json_string_value(json_object_get(rq, "url"));
        snprintf(at, sizeof at, "log.entries[%zu].request.method", i);
        if (!method || !is_token(method) || strlen(method) > 24) {
            sp_errlist_add(errs, at, "missing or not an HTTP method");
            continue;
        }
        snprintf(at, sizeof at, "log.entries[%zu].request.url", i);
        if (!url) {
            sp_errlist_add(errs, at, "missing or not a string");
            continue;
        }
        int kind = split_url(url, &parts[i]);
        if (kind < 0) {
            sp_errlist_add(errs, at, "not an absolute http(s) URL");
            continue;
        }
        if (kind > 0) {
            skip(h, i, method, url, "not an HTTP request");
            continue;
        }
        const char *why = static_reason(e, url + parts[i].origin_len, parts[i].path_len);
        if (why) {
            skip(h, i, method, url, why);
            continue;
        }
        kept[nkept++] = i;
    }
    return nkept;
}

static const char *entry_url(const json_t *entries, size_t i)
{
    return json_string_value(
        json_object_get(json_object_get(json_array_get(entries, i), "request"), "url"));
}

/* The base URL: the entry whose origin most kept requests went to (the first one on a tie). */
static size_t pick_base(const json_t *entries, const size_t *kept, size_t nkept,
                        const url_parts *parts)
{
    size_t best = kept[0], best_count = 0;
    for (size_t a = 0; a < nkept; a++) {
        const char *ua = entry_url(entries, kept[a]);
        size_t count = 0;
        for (size_t b = 0; b < nkept; b++)
            count += same_origin(ua, parts[kept[a]].origin_len, entry_url(entries, kept[b]),
                                 parts[kept[b]].origin_len);
        if (count > best_count) {
            best_count = count;
            best = kept[a];
        }
    }
    return best;
}

/* Pass 2: one step per kept request to the base origin (or any origin when asked). */
static int build_steps(har *h, const json_t *entries, const size_t *kept, size_t nkept,
                       const url_parts *parts, const char *base_url, size_t base_len)
{
    for (size_t a = 0; a < nkept; a++) {
        size_t i = kept[a];
        const json_t *e = json_array_get(entries, i);
        const json_t *rq = json_object_get(e, "request");
        const char *url = json_string_value(json_object_get(rq, "url"));
        int relative = same_origin(url, parts[i].origin_len, base_url, base_len);
        if (!relative && !h->opts->keep_other_origins) {
            skip(h, i, json_string_value(json_object_get(rq, "method")), url,
                 "another origin than the base URL's");
            continue;
        }
        if (json_array_size(h->steps) >= SP_DEF_MAX_STEPS) {
            sp_errlist_add(h->errs, "log.entries",
                           "more than %d requests remain after static assets are left out; a "
                           "task holds at most %d steps: record a shorter session",
                           SP_DEF_MAX_STEPS, SP_DEF_MAX_STEPS);
            return SP_ELIMIT;
        }
        if (entry_step(h, i, e, url, &parts[i], relative) != 0)
            continue;
        remember_response(h, json_array_size(h->steps) - 1, e);
    }
    return h->errs->n ? SP_EINVAL : 0;
}

/* What the user should know about the recording's credentials and variables. */
static json_t *import_notes(const har *h)
{
    json_t *notes = json_array();
    if (h->cookies)
        json_array_append_new(
            notes, json_string("the recording sent cookies, which were dropped: a test keeps no "
                               "cookies, so a session cookie must be set with set_headers (or the "
                               "session started with a login whose token is extracted)"));
    if (h->stale_auth)
        json_array_append_new(
            notes, json_string("some requests send an Authorization header recorded as it was, "
                               "which may have expired: extract a fresh token from a login step "
                               "and use it in its place"));
    if (h->nvars)
        json_array_append_new(notes,
                              json_string("tokens that responses of the recording gave and later "
                                          "requests sent are extracted into variables"));
    return notes;
}

static void har_release(har *h)
{
    json_decref(h->steps);
    json_decref(h->skipped);
    for (size_t i = 0; i < h->nleaves; i++) {
        free(h->leaves[i].path);
        free(h->leaves[i].key);
    }
    free(h->leaves);
    for (size_t i = 0; i < h->ndocs; i++)
        json_decref(h->docs[i]);
    free(h->docs);
    for (size_t i = 0; i < h->nvars; i++) {
        free(h->vars[i]);
        free(h->var_val[i]);
    }
    free(h->vars);
    free(h->var_val);
}

int sp_har_import(const json_t *doc, const sp_har_opts *opts, json_t **def, json_t **skipped,
                  json_t **notes, sp_errlist *errs)
{
    *def = NULL;
    *skipped = NULL;
    *notes = NULL;
    sp_har_opts none = {NULL, NULL, 0};
    if (!opts)
        opts = &none;
    har h;
    memset(&h, 0, sizeof h);
    h.errs = errs;
    h.opts = opts;
    h.steps = json_array();
    h.skipped = json_array();
    int rc = 0;
    size_t *kept = NULL;
    url_parts *parts = NULL;

    const json_t *log = json_is_object(doc) ? json_object_get(doc, "log") : NULL;
    if (!json_is_object(log)) {
        sp_errlist_add(errs, "log", "missing: a HAR document is {\"log\": {\"entries\": [...]}}");
        rc = SP_EINVAL;
        goto out;
    }
    const json_t *entries = json_object_get(log, "entries");
    if (!json_is_array(entries)) {
        sp_errlist_add(errs, "log.entries", "must be an array");
        rc = SP_EINVAL;
        goto out;
    }
    size_t n = json_array_size(entries);
    if (n > SP_HAR_MAX_ENTRIES) {
        sp_errlist_add(errs, "log.entries", "%zu entries; at most %d can be imported", n,
                       SP_HAR_MAX_ENTRIES);
        rc = SP_ELIMIT;
        goto out;
    }
    kept = sp_calloc(n ? n : 1, sizeof(*kept));
    parts = sp_calloc(n ? n : 1, sizeof(*parts));
    size_t nkept = check_entries(&h, entries, kept, parts);
    if (errs->n) {
        rc = SP_EINVAL;
        goto out;
    }
    if (nkept == 0) {
        sp_errlist_add(errs, "log.entries",
                       "no request left to import (%zu entries, all static assets or not HTTP)", n);
        rc = SP_EINVAL;
        goto out;
    }
    size_t best = pick_base(entries, kept, nkept, parts);
    const char *base_url = entry_url(entries, best);
    size_t base_len = parts[best].origin_len;
    if ((rc = build_steps(&h, entries, kept, nkept, parts, base_url, base_len)) != 0)
        goto out;
    char base[1024];
    if (opts->base_url)
        snprintf(base, sizeof base, "%s", opts->base_url);
    else
        snprintf(base, sizeof base, "%.*s", (int)(base_len < 1000 ? base_len : 1000), base_url);
    /* The recorded host names the test by default, wherever the test is pointed. */
    const char *host = strstr(base_url, "://") + 3;
    char name[300];
    if (opts->name && *opts->name)
        snprintf(name, sizeof name, "%s", opts->name);
    else
        snprintf(name, sizeof name, "Recorded: %.*s", (int)(base_len - (size_t)(host - base_url)),
                 host);
    char desc[200];
    snprintf(desc, sizeof desc, "Imported from a HAR recording: %zu requests, %zu left out.",
             json_array_size(h.steps), json_array_size(h.skipped));
    *def = sp_import_definition(name, desc, base, "recorded",
                                json_pack("[{s:s, s:o}]", "name", "recording", "steps", h.steps));
    h.steps = NULL; /* stolen */
    if (!*def) {
        sp_errlist_add(errs, "", "the recording holds text that is not UTF-8");
        rc = SP_EINVAL;
        goto out;
    }
    *skipped = h.skipped;
    h.skipped = NULL;
    *notes = import_notes(&h);
out:
    if (rc && *def) {
        json_decref(*def);
        *def = NULL;
    }
    har_release(&h);
    free(kept);
    free(parts);
    return rc;
}
