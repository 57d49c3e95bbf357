/*
 * curlimport.c - a curl command line to a step (see curlimport.h).
 */
#define _GNU_SOURCE /* memmem */
#include "import/curlimport.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PATH "command"

/* Every buffer below holds text made from the command: percent-encoding at most triples it and
 * the {{ escape makes two bytes nine, so buffers this large are never the limit; the command's
 * own cap (SP_CURL_IMPORT_MAX) is. */
#define WORK_MAX (SP_CURL_IMPORT_MAX * 16)

/* ---- Words ---- */

typedef struct words {
    char **v;
    size_t n;
    size_t cap;
} words;

static void words_release(words *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i]);
    free(w->v);
    w->v = NULL;
    w->n = w->cap = 0;
}

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

static void add_utf8(sp_buf *b, unsigned long cp)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        sp_buf_addc(b, (char)cp);
    } else if (cp < 0x800) {
        sp_buf_addc(b, (char)(0xC0 | (cp >> 6)));
        sp_buf_addc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sp_buf_addc(b, (char)(0xE0 | (cp >> 12)));
        sp_buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sp_buf_addc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        sp_buf_addc(b, (char)(0xF0 | (cp >> 18)));
        sp_buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        sp_buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sp_buf_addc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* Reads the escape after a backslash inside $'...' at s[*i] (end e), appending its bytes. */
static void ansi_escape(const char *s, size_t e, size_t *i, sp_buf *b)
{
    char c = s[*i];
    (*i)++;
    switch (c) {
    case 'n':
        sp_buf_addc(b, '\n');
        return;
    case 't':
        sp_buf_addc(b, '\t');
        return;
    case 'r':
        sp_buf_addc(b, '\r');
        return;
    case 'a':
        sp_buf_addc(b, '\a');
        return;
    case 'b':
        sp_buf_addc(b, '\b');
        return;
    case 'e':
    case 'E':
        sp_buf_addc(b, 0x1b);
        return;
    case 'f':
        sp_buf_addc(b, '\f');
        return;
    case 'v':
        sp_buf_addc(b, '\v');
        return;
    case '\\':
    case '\'':
    case '"':
    case '?':
        sp_buf_addc(b, c);
        return;
    case 'x':
    case 'u':
    case 'U': {
        size_t maxd = c == 'x' ? 2 : c == 'u' ? 4 : 8, nd = 0;
        unsigned long v = 0;
        while (nd < maxd && *i < e && hexval(s[*i]) >= 0) {
            v = v * 16 + (unsigned long)hexval(s[*i]);
            (*i)++;
            nd++;
        }
        if (!nd) {
            sp_buf_addc(b, '\\');
            sp_buf_addc(b, c);
        } else if (c == 'x') {
            sp_buf_addc(b, (char)v);
        } else {
            add_utf8(b, v);
        }
        return;
    }
    default:
        break;
    }
    if (c >= '0' && c <= '7') {
        unsigned v = (unsigned)(c - '0');
        for (int k = 0; k < 2 && *i < e && s[*i] >= '0' && s[*i] <= '7'; k++, (*i)++)
            v = v * 8 + (unsigned)(s[*i] - '0');
        sp_buf_addc(b, (char)(v & 0xFF));
        return;
    }
    /* bash keeps an unknown escape as written. */
    sp_buf_addc(b, '\\');
    sp_buf_addc(b, c);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits s into words as bash would for the quoting browsers use; no expansion. */
static int split_words(const char *s, size_t len, words *out, sp_errlist *errs)
{
    sp_buf cur;
    sp_buf_init(&cur, SP_CURL_IMPORT_MAX);
    int rc = 0, in_word = 0;
    size_t i = 0;
    while (i <= len) {
        char c = i < len ? s[i] : '\0';
        if (i == len || is_space(c)) {
            if (in_word) {
                if (out->n >= SP_CURL_IMPORT_MAX_TOKENS) {
                    sp_errlist_add(errs, PATH, "the command has more than %d words",
                                   SP_CURL_IMPORT_MAX_TOKENS);
                    rc = SP_ELIMIT;
                    goto out;
                }
                sp_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v);
                out->v[out->n++] = sp_buf_detach(&cur, NULL);
                in_word = 0;
            }
            i++;
            continue;
        }
        if (c == '\\') {
            /* A continuation (backslash-newline, or backslash-CR-LF from a Windows clipboard)
             * disappears; any other escaped character is itself. */
            if (i + 1 < len && s[i + 1] == '\n') {
                i += 2;
                continue;
            }
            if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
                i += 3;
                continue;
            }
            if (i + 1 >= len) {
                i++;
                continue;
            }
            sp_buf_addc(&cur, s[i + 1]);
            in_word = 1;
            i += 2;
            continue;
        }
        if (c == '\'') {
            size_t start = i;
            const char *end = memchr(s + i + 1, '\'', len - i - 1);
            if (!end) {
                sp_errlist_add(errs, PATH, "unterminated single quote at byte %zu", start);
                rc = SP_EINVAL;
                goto out;
            }
            sp_buf_add(&cur, s + i + 1, (size_t)(end - (s + i + 1)));
            i = (size_t)(end - s) + 1;
            in_word = 1;
            continue;
        }
        if (c == '$' && i + 1 < len && s[i + 1] == '\'') {
            size_t start = i;
            i += 2;
            for (;;) {
                if (i >= len) {
                    sp_errlist_add(errs, PATH, "unterminated $'...' quote at byte %zu", start);
                    rc = SP_EINVAL;
                    goto out;
                }
                if (s[i] == '\'') {
                    i++;
                    break;
                }
                if (s[i] == '\\' && i + 1 < len) {
                    i++;
                    ansi_escape(s, len, &i, &cur);
                    continue;
                }
                sp_buf_addc(&cur, s[i++]);
            }
            in_word = 1;
            continue;
        }
        if (c == '"') {
            size_t start = i;
            i++;
            for (;;) {
                if (i >= len) {
                    sp_errlist_add(errs, PATH, "unterminated double quote at byte %zu", start);
                    rc = SP_EINVAL;
                    goto out;
                }
                if (s[i] == '"') {
                    i++;
                    break;
                }
                if (s[i] == '\\' && i + 1 < len) {
                    char n = s[i + 1];
                    if (n == '\n') {
                        i += 2;
                        continue;
                    }
                    /* Inside double quotes a backslash escapes only these; elsewhere it stays. */
                    if (n == '"' || n == '\\' || n == '$' || n == '`') {
                        sp_buf_addc(&cur, n);
                        i += 2;
                        continue;
                    }
                }
                sp_buf_addc(&cur, s[i++]);
            }
            in_word = 1;
            continue;
        }
        sp_buf_addc(&cur, c);
        in_word = 1;
        i++;
    }
out:
    sp_buf_release(&cur);
    return rc;
}

/* ---- Small text helpers ---- */

static void base64(sp_buf *b, const char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = ((unsigned)(unsigned char)s[i] << 16) |
                     ((unsigned)(unsigned char)s[i + 1] << 8) | (unsigned char)s[i + 2];
        sp_buf_addc(b, tab[(v >> 18) & 63]);
        sp_buf_addc(b, tab[(v >> 12) & 63]);
        sp_buf_addc(b, tab[(v >> 6) & 63]);
        sp_buf_addc(b, tab[v & 63]);
    }
    if (i < n) {
        unsigned v = (unsigned)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)s[i + 1] << 8;
        sp_buf_addc(b, tab[(v >> 18) & 63]);
        sp_buf_addc(b, tab[(v >> 12) & 63]);
        sp_buf_addc(b, i + 1 < n ? tab[(v >> 6) & 63] : '=');
        sp_buf_addc(b, '=');
    }
}

/* curl's --data-urlencode: everything but the unreserved characters as %XX. */
static void url_encode(sp_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            sp_buf_addc(b, (char)c);
        } else {
            sp_buf_addc(b, '%');
            sp_buf_addc(b, hex[c >> 4]);
            sp_buf_addc(b, hex[c & 15]);
        }
    }
}

/* Form decoding: '+' is a space, %XX a byte; a malformed % stays as written. */
static void url_decode(sp_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            sp_buf_addc(b, ' ');
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            sp_buf_addc(b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else {
            sp_buf_addc(b, s[i]);
        }
    }
}

/*
 * A JSON string for a template field: "{{" is written as {{"{{"}} so the engine sends the text
 * as it was in the command. NULL when the bytes are not UTF-8. Returns a new reference.
 */
static json_t *tmpl_string(const char *s, size_t n)
{
    if (!memmem(s, n, "{{", 2))
        return json_stringn(s, n);
    sp_buf b;
    sp_buf_init(&b, WORK_MAX * 5);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '{' && i + 1 < n && s[i + 1] == '{') {
            sp_buf_adds(&b, "{{\"{{\"}}");
            i++;
        } else {
            sp_buf_addc(&b, s[i]);
        }
    }
    json_t *v = json_stringn(b.p, b.len);
    sp_buf_release(&b);
    return v;
}

/* Escapes template holes in every string of a parsed JSON body, in place. */
static void tmpl_escape_json(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *child; /* borrowed */
        json_object_foreach(v, k, child)
        {
            if (json_is_string(child))
                json_object_set_new(
                    v, k, tmpl_string(json_string_value(child), json_string_length(child)));
            else
                tmpl_escape_json(child);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child; /* borrowed */
        json_array_foreach(v, i, child)
        {
            if (json_is_string(child))
                json_array_set_new(
                    v, i, tmpl_string(json_string_value(child), json_string_length(child)));
            else
                tmpl_escape_json(child);
        }
    }
}

/* The media type of a Content-Type value, lower-cased, without parameters. */
static void media_type(const char *ct, char *out, size_t size)
{
    size_t n = 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    for (; *ct && *ct != ';' && *ct != ' ' && n + 1 < size; ct++)
        out[n++] = (char)((*ct >= 'A' && *ct <= 'Z') ? *ct + 32 : *ct);
    out[n] = '\0';
}

/* ---- Options ---- */

enum opt_kind {
    O_URL,
    O_REQUEST,
    O_HEADER,
    O_DATA,     /* -d, --data, --data-ascii, --data-binary: @file is a file */
    O_DATA_RAW, /* --data-raw: taken as written */
    O_DATA_URLENCODE,
    O_JSON,
    O_FORM,
    O_FORM_STRING,
    O_USER,
    O_COOKIE,
    O_AGENT,
    O_REFERER,
    O_GET,
    O_HEAD,
    O_IGNORE,     /* no argument, no effect on the request */
    O_IGNORE_ARG, /* one argument, no effect on the request */
};

typedef struct opt {
    char shortname; /* 0: long only */
    const char *longname;
    enum opt_kind kind;
} opt;

static const opt opts[] = {
    {0, "url", O_URL},
    {'X', "request", O_REQUEST},
    {'H', "header", O_HEADER},
    {'d', "data", O_DATA},
    {0, "data-ascii", O_DATA},
    {0, "data-binary", O_DATA},
    {0, "data-raw", O_DATA_RAW},
    {0, "data-urlencode", O_DATA_URLENCODE},
    {0, "json", O_JSON},
    {'F', "form", O_FORM},
    {0, "form-string", O_FORM_STRING},
    {'u', "user", O_USER},
    {'b', "cookie", O_COOKIE},
    {'A', "user-agent", O_AGENT},
    {'e', "referer", O_REFERER},
    {'G', "get", O_GET},
    {'I', "head", O_HEAD},
    {0, "compressed", O_IGNORE},
    {'s', "silent", O_IGNORE},
    {'S', "show-error", O_IGNORE},
    {'k', "insecure", O_IGNORE},
    {'L', "location", O_IGNORE},
    {'i', "include", O_IGNORE},
    {'v', "verbose", O_IGNORE},
    {'g', "globoff", O_IGNORE},
    {0, "http1.1", O_IGNORE},
    {0, "http2", O_IGNORE},
    {0, "http2-prior-knowledge", O_IGNORE},
    {'m', "max-time", O_IGNORE_ARG},
    {0, "connect-timeout", O_IGNORE_ARG},
};

static int takes_arg(enum opt_kind k)
{
    return k != O_GET && k != O_HEAD && k != O_IGNORE;
}

/* What the options said, before it becomes a step. */
typedef struct req {
    const char *url;    /* borrowed from the words */
    const char *method; /* borrowed */
    json_t *headers;    /* owned: name -> string, in the order given */
    sp_buf data;        /* -d and friends, joined with & */
    int has_data;
    int json_opt;  /* --json was used */
    int get;       /* -G */
    int head;      /* -I */
    json_t *parts; /* owned: multipart parts */
    sp_buf cookie;
    const char *user, *agent, *referer; /* borrowed */
} req;

/* The key of a header in r->headers equal to name without case, or NULL (borrowed). */
static const char *header_key(json_t *headers, const char *name)
{
    const char *k;
    json_t *v; /* borrowed */
    json_object_foreach(headers, k, v)
    {
        if (!strcasecmp(k, name))
            return k;
    }
    return NULL;
}

static void header_set(json_t *headers, const char *name, const char *value)
{
    const char *old = header_key(headers, name);
    if (old)
        json_object_del(headers, old);
    json_object_set_new(headers, name, json_string(value));
}

static int add_header(req *r, const char *arg, sp_errlist *errs)
{
    if (arg[0] == '@') {
        sp_errlist_add(errs, PATH, "-H '%s': reading headers from a file is not supported", arg);
        return SP_EINVAL;
    }
    size_t nl = strcspn(arg, ":;");
    if (!nl) {
        sp_errlist_add(errs, PATH, "-H '%s': a header needs a name before ':'", arg);
        return SP_EINVAL;
    }
    if (!arg[nl]) {
        sp_errlist_add(errs, PATH, "-H '%s': a header is written 'Name: value'", arg);
        return SP_EINVAL;
    }
    char *name = sp_strndup(arg, nl);
    while (nl && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
        name[--nl] = '\0';
    const char *v = arg + strcspn(arg, ":;") + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    int rc = 0;
    json_t *check = json_string(v); /* NULL when v is not UTF-8 */
    json_t *check_name = json_string(name);
    int bad = !check || !check_name || strchr(name, ' ');
    json_decref(check);
    json_decref(check_name);
    if (bad) {
        sp_errlist_add(errs, PATH, "-H '%.100s': not a valid header", arg);
        rc = SP_EINVAL;
        goto out;
    }
    if (arg[strcspn(arg, ":;")] == ':' && !*v) {
        /* "Name:" removes one of curl's own headers; there is nothing to send. */
        const char *old = header_key(r->headers, name);
        if (old)
            json_object_del(r->headers, old);
        goto out;
    }
    header_set(r->headers, name, v);
out:
    free(name);
    return rc;
}

static int add_data(req *r, const opt *o, const char *optname, const char *arg, sp_errlist *errs)
{
    if (o->kind != O_DATA_RAW && o->kind != O_DATA_URLENCODE && arg[0] == '@') {
        sp_errlist_add(errs, PATH,
                       "%s '%.100s': reading data from a file is not supported; paste the data "
                       "itself (--data-raw)",
                       optname, arg);
        return SP_EINVAL;
    }
    /* --json pieces are concatenated; every other kind is joined to the last with '&'. */
    if (r->has_data && o->kind != O_JSON)
        sp_buf_addc(&r->data, '&');
    r->has_data = 1;
    int rc = 0;
    if (o->kind == O_DATA_URLENCODE) {
        const char *eq = strchr(arg, '=');
        const char *at = strchr(arg, '@');
        if (!eq && at) {
            sp_errlist_add(errs, PATH, "%s '%.100s': reading data from a file is not supported",
                           optname, arg);
            return SP_EINVAL;
        }
        if (eq) {
            sp_buf_add(&r->data, arg, (size_t)(eq - arg));
            if (eq != arg)
                sp_buf_addc(&r->data, '=');
            url_encode(&r->data, eq + 1, strlen(eq + 1));
        } else {
            url_encode(&r->data, arg, strlen(arg));
        }
    } else {
        rc = sp_buf_adds(&r->data, arg);
    }
    if (rc || r->data.len >= r->data.max) {
        sp_errlist_add(errs, PATH, "the data is longer than %u bytes", SP_CURL_IMPORT_MAX);
        return SP_ELIMIT;
    }
    return 0;
}

static int add_part(req *r, int literal, const char *optname, const char *arg, sp_errlist *errs)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        sp_errlist_add(errs, PATH, "%s '%.100s': a form part is written name=value", optname, arg);
        return SP_EINVAL;
    }
    const char *value = eq + 1;
    if (!literal && (value[0] == '@' || value[0] == '<')) {
        sp_errlist_add(errs, PATH,
                       "%s '%.100s': reading a file is not supported; add the file's content to "
                       "the step's multipart part by hand",
                       optname, arg);
        return SP_EINVAL;
    }
    /* curl reads ";type=" and the like as part options; taking them as text would send a
     * different value than curl does, so they are refused. --form-string keeps them literal. */
    if (!literal && (strstr(value, ";type=") || strstr(value, ";filename=") ||
                     strstr(value, ";headers=") || strstr(value, ";encoder="))) {
        sp_errlist_add(errs, PATH,
                       "%s '%.100s': part options (;type=, ;filename=, ;headers=) are not "
                       "supported; use --form-string for a value that contains them",
                       optname, arg);
        return SP_EINVAL;
    }
    json_t *name = json_stringn(arg, (size_t)(eq - arg));
    json_t *v = tmpl_string(value, strlen(value));
    if (!name || !v) {
        json_decref(name);
        json_decref(v);
        sp_errlist_add(errs, PATH, "%s '%.100s': not UTF-8 text", optname, arg);
        return SP_EINVAL;
    }
    /* Both references are stolen by the part, which the list steals. */
    json_array_append_new(r->parts, json_pack("{s:o, s:o}", "name", name, "value", v));
    return 0;
}

/* Reads the options in w[1..]; fills r. */
static int read_options(words *w, req *r, sp_errlist *errs)
{
    int rc = 0, no_more_options = 0;
    for (size_t i = 1; i < w->n; i++) {
        const char *word = w->v[i];
        if (no_more_options || word[0] != '-' || !word[1]) {
            if (r->url) {
                sp_errlist_add(errs, PATH,
                               "a second URL '%.100s': one command imports as one request", word);
                return SP_EINVAL;
            }
            r->url = word;
            continue;
        }
        if (!strcmp(word, "--")) {
            no_more_options = 1;
            continue;
        }
        /* A cluster of short options ("-sSL", "-XPOST") is read one letter at a time; a letter
         * that takes an argument takes the rest of the word or, when empty, the next word. */
        size_t pos = 1;
        int is_long = word[1] == '-';
        do {
            const opt *o = NULL;
            char optname[80];
            if (is_long) {
                for (size_t k = 0; k < SP_ARRAY_LEN(opts); k++)
                    if (!strcmp(opts[k].longname, word + 2))
                        o = &opts[k];
                snprintf(optname, sizeof optname, "%.70s", word);
            } else {
                for (size_t k = 0; k < SP_ARRAY_LEN(opts); k++)
                    if (opts[k].shortname && opts[k].shortname == word[pos])
                        o = &opts[k];
                snprintf(optname, sizeof optname, "-%c", word[pos]);
                pos++;
            }
            if (!o) {
                const char *names[SP_ARRAY_LEN(opts)];
                for (size_t k = 0; k < SP_ARRAY_LEN(opts); k++)
                    names[k] = opts[k].longname;
                const char *near = is_long ? sp_suggest(word + 2, names, SP_ARRAY_LEN(opts)) : NULL;
                if (near)
                    sp_errlist_add(errs, PATH,
                                   "unknown or unsupported option '%s' (did you mean '--%s'?)",
                                   optname, near);
                else
                    sp_errlist_add(errs, PATH, "unknown or unsupported option '%s'", optname);
                return SP_EINVAL;
            }
            const char *arg = NULL;
            if (takes_arg(o->kind)) {
                if (!is_long && word[pos]) {
                    arg = word + pos;
                    pos = strlen(word);
                } else if (i + 1 < w->n) {
                    arg = w->v[++i];
                } else {
                    sp_errlist_add(errs, PATH, "option '%s' needs a value", optname);
                    return SP_EINVAL;
                }
            }
            switch (o->kind) {
            case O_URL:
                if (r->url) {
                    sp_errlist_add(errs, PATH,
                                   "a second URL '%.100s': one command imports as one request",
                                   arg);
                    return SP_EINVAL;
                }
                r->url = arg;
                break;
            case O_REQUEST:
                if (!*arg || strcspn(arg, " \t\r\n") != strlen(arg)) {
                    sp_errlist_add(errs, PATH, "%s '%.100s': not a method", optname, arg);
                    return SP_EINVAL;
                }
                r->method = arg;
                break;
            case O_HEADER:
                rc = add_header(r, arg, errs);
                break;
            case O_DATA:
            case O_DATA_RAW:
            case O_DATA_URLENCODE:
                rc = add_data(r, o, optname, arg, errs);
                break;
            case O_JSON:
                rc = add_data(r, o, optname, arg, errs);
                r->json_opt = 1;
                break;
            case O_FORM:
                rc = add_part(r, 0, optname, arg, errs);
                break;
            case O_FORM_STRING:
                rc = add_part(r, 1, optname, arg, errs);
                break;
            case O_USER:
                r->user = arg;
                break;
            case O_COOKIE:
                if (!strchr(arg, '=')) {
                    sp_errlist_add(errs, PATH,
                                   "%s '%.100s': reading cookies from a file is not supported; "
                                   "give them as 'name=value'",
                                   optname, arg);
                    return SP_EINVAL;
                }
                if (r->cookie.len)
                    sp_buf_adds(&r->cookie, "; ");
                sp_buf_adds(&r->cookie, arg);
                break;
            case O_AGENT:
                r->agent = arg;
                break;
            case O_REFERER:
                r->referer = arg;
                break;
            case O_GET:
                r->get = 1;
                break;
            case O_HEAD:
                r->head = 1;
                break;
            case O_IGNORE:
            case O_IGNORE_ARG:
                break;
            }
            if (rc)
                return rc;
        } while (!is_long && word[pos]);
    }
    return 0;
}

/* Splits URL-encoded data into a decoded object; NULL when it cannot round-trip (a repeated
 * name, a field without '=', bytes that are not UTF-8). Returns a new reference. */
static json_t *form_fields(const char *data, size_t len)
{
    json_t *form = json_object();
    sp_buf name, value;
    sp_buf_init(&name, WORK_MAX);
    sp_buf_init(&value, WORK_MAX);
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && data[end] != '&')
            end++;
        const char *eq = memchr(data + i, '=', end - i);
        if (!eq)
            goto fail;
        sp_buf_reset(&name);
        sp_buf_reset(&value);
        url_decode(&name, data + i, (size_t)(eq - (data + i)));
        url_decode(&value, eq + 1, (size_t)(data + end - eq - 1));
        if (!name.len || strlen(name.p) != name.len || json_object_get(form, name.p))
            goto fail;
        json_t *v = tmpl_string(value.p, value.len);
        json_t *check = json_string(name.p); /* NULL when the name is not UTF-8 */
        int bad = !v || !check;
        json_decref(check);
        if (bad)
            goto fail_v;
        json_object_set_new(form, name.p, v); /* steals v */
        i = end + 1;
        continue;
    fail_v:
        json_decref(v);
        goto fail;
    }
    goto out;
fail:
    json_decref(form);
    form = NULL;
out:
    sp_buf_release(&name);
    sp_buf_release(&value);
    return form;
}

/* Builds the step from r; *step a new reference. */
/* The request's URL into url: a URL without a scheme is http:// as curl takes it, a fragment
 * is never sent, -G appends the data as the query. Returns 0 or SP_EINVAL (in errs). */
static int step_url(const req *r, sp_buf *url, sp_errlist *errs)
{
    if (!r->url || !*r->url) {
        sp_errlist_add(errs, PATH, "no URL in the command");
        return SP_EINVAL;
    }
    if (r->has_data && json_array_size(r->parts)) {
        sp_errlist_add(errs, PATH, "-F cannot be mixed with -d/--data options (nor can curl)");
        return SP_EINVAL;
    }
    const char *u = r->url;
    const char *sep = strstr(u, "://");
    if (!sep)
        sp_buf_adds(url, "http://");
    else if (!(sep - u == 4 && !strncasecmp(u, "http", 4)) &&
             !(sep - u == 5 && !strncasecmp(u, "https", 5))) {
        sp_errlist_add(errs, PATH, "URL '%.100s': only http:// and https:// can be imported", u);
        return SP_EINVAL;
    }
    sp_buf_add(url, u, strcspn(u, "#"));
    if (strcspn(url->p, " \t\r\n") != url->len) {
        sp_errlist_add(errs, PATH, "URL '%.100s': contains a space or a control character", u);
        return SP_EINVAL;
    }
    if (r->get && r->has_data) {
        sp_buf_addc(url, strchr(url->p, '?') ? '&' : '?');
        sp_buf_add(url, r->data.p, r->data.len);
    }
    return 0;
}

/* Headers curl derives from options, unless -H gave them. */
static void add_derived_headers(req *r)
{
    if (r->user && !header_key(r->headers, "Authorization")) {
        sp_buf auth;
        sp_buf_init(&auth, WORK_MAX);
        sp_buf_adds(&auth, "Basic ");
        /* Without ":password" curl would ask for one; an empty one is what it sends unasked. */
        sp_buf cred;
        sp_buf_init(&cred, WORK_MAX);
        sp_buf_adds(&cred, r->user);
        if (!strchr(r->user, ':'))
            sp_buf_addc(&cred, ':');
        base64(&auth, cred.p, cred.len);
        header_set(r->headers, "Authorization", auth.p);
        sp_buf_release(&cred);
        sp_buf_release(&auth);
    }
    if (r->cookie.len && !header_key(r->headers, "Cookie"))
        header_set(r->headers, "Cookie", r->cookie.p);
    if (r->agent && !header_key(r->headers, "User-Agent"))
        header_set(r->headers, "User-Agent", r->agent);
    if (r->referer && !header_key(r->headers, "Referer")) {
        char *ref = sp_strndup(r->referer, strcspn(r->referer, ";"));
        header_set(r->headers, "Referer", ref);
        free(ref);
    }
    if (r->json_opt) {
        if (!header_key(r->headers, "Content-Type"))
            header_set(r->headers, "Content-Type", "application/json");
        if (!header_key(r->headers, "Accept"))
            header_set(r->headers, "Accept", "application/json");
    }
}

/* The step's body: *body (a new reference, or NULL for none) of *kind ("multipart", "json",
 * "form" or "body"). Drops the Content-Type the engine sets by itself for that kind, and any
 * Content-Length: the engine measures the body it sends; a copied length would be wrong once it
 * differs. Returns 0 or SP_EINVAL (in errs). */
static int step_body(req *r, int body_data, json_t **body, const char **kind, sp_errlist *errs)
{
    char mt[128] = "";
    const char *ctkey = header_key(r->headers, "Content-Type");
    if (ctkey)
        media_type(json_string_value(json_object_get(r->headers, ctkey)), mt, sizeof mt);
    *body = NULL;
    *kind = NULL;
    int drop_ct = 0;
    if (json_array_size(r->parts)) {
        *kind = "multipart";
        *body = json_incref(r->parts);
        drop_ct = !strcmp(mt, "multipart/form-data");
    } else if (body_data) {
        size_t mtl = strlen(mt);
        int json_ct =
            !strcmp(mt, "application/json") || (mtl > 5 && !strcmp(mt + mtl - 5, "+json"));
        if (json_ct) {
            *body = json_loadb(r->data.p, r->data.len,
                               JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
            if (*body) {
                *kind = "json";
                tmpl_escape_json(*body);
                if (json_is_string(*body)) {
                    json_t *s = tmpl_string(json_string_value(*body), json_string_length(*body));
                    json_decref(*body);
                    *body = s;
                }
                drop_ct = !strcmp(mt, "application/json");
            }
        } else if (!ctkey || !strcmp(mt, "application/x-www-form-urlencoded")) {
            *body = form_fields(r->data.p, r->data.len);
            if (*body) {
                *kind = "form";
                drop_ct = 1;
            } else if (!ctkey) {
                /* Sent as a plain body, it keeps the type curl would have given it. */
                header_set(r->headers, "Content-Type", "application/x-www-form-urlencoded");
            }
        }
        if (!*body) {
            *kind = "body";
            *body = tmpl_string(r->data.p, r->data.len);
            if (!*body) {
                sp_errlist_add(errs, PATH,
                               "the data is not UTF-8 text, which a step's body must be");
                return SP_EINVAL;
            }
        }
    }
    const char *clkey = header_key(r->headers, "Content-Length");
    if (clkey)
        json_object_del(r->headers, clkey);
    if (drop_ct && (ctkey = header_key(r->headers, "Content-Type")))
        json_object_del(r->headers, ctkey);
    return 0;
}

static int build_step(req *r, json_t **step, sp_errlist *errs)
{
    int rc = 0;
    json_t *request = json_object();
    json_t *body = NULL; /* new reference, stolen by request */
    const char *kind = NULL;
    sp_buf url, name;
    sp_buf_init(&url, WORK_MAX);
    sp_buf_init(&name, WORK_MAX);

    if ((rc = step_url(r, &url, errs)) != 0)
        goto out;
    int body_data = r->has_data && !r->get;
    const char *method = r->method                                  ? r->method
                         : r->head                                  ? "HEAD"
                         : (body_data || json_array_size(r->parts)) ? "POST"
                                                                    : "GET";
    add_derived_headers(r);
    if ((rc = step_body(r, body_data, &body, &kind, errs)) != 0)
        goto out;

    /* The name is the method and the path, as the engine would name the request itself. */
    const char *host = strstr(url.p, "://") + 3;
    const char *path = host + strcspn(host, "/?");
    sp_buf_adds(&name, method);
    sp_buf_addc(&name, ' ');
    if (*path == '/')
        sp_buf_add(&name, path, strcspn(path, "?"));
    else
        sp_buf_addc(&name, '/');

    json_t *jurl = tmpl_string(url.p, url.len);
    json_t *jname = json_string(name.p);
    json_t *jmethod = json_string(method);
    if (!jurl || !jname || !jmethod) {
        json_decref(jurl);
        json_decref(jname);
        json_decref(jmethod);
        sp_errlist_add(errs, PATH, "the URL or the method is not UTF-8 text");
        rc = SP_EINVAL;
        goto out;
    }
    json_object_set_new(request, "method", jmethod); /* steals */
    json_object_set_new(request, "url", jurl);       /* steals */
    json_object_set_new(request, "name", jname);     /* steals */
    if (json_object_size(r->headers)) {
        /* Header values are templates too. */
        json_t *h = json_object();
        const char *k;
        json_t *v; /* borrowed */
        json_object_foreach(r->headers, k, v)
            json_object_set_new(h, k, tmpl_string(json_string_value(v), json_string_length(v)));
        json_object_set_new(request, "headers", h); /* steals h */
    }
    if (body)
        json_object_set_new(request, kind, body); /* steals body */
    body = NULL;
    *step = json_pack("{s:o}", "request", request); /* steals request */
    request = NULL;
out:
    json_decref(body);
    json_decref(request);
    sp_buf_release(&url);
    sp_buf_release(&name);
    return rc;
}

int sp_curl_import(const char *cmd, size_t len, json_t **step, sp_errlist *errs)
{
    *step = NULL;
    words w = {0};
    req r;
    memset(&r, 0, sizeof r);
    r.headers = json_object();
    r.parts = json_array();
    sp_buf_init(&r.data, WORK_MAX);
    sp_buf_init(&r.cookie, WORK_MAX);
    int rc;
    if (len > SP_CURL_IMPORT_MAX) {
        sp_errlist_add(errs, PATH, "the command is longer than %u bytes", SP_CURL_IMPORT_MAX);
        rc = SP_ELIMIT;
        goto out;
    }
    if (memchr(cmd, '\0', len)) {
        sp_errlist_add(errs, PATH, "the command contains a NUL byte");
        rc = SP_EINVAL;
        goto out;
    }
    rc = split_words(cmd, len, &w, errs);
    if (rc)
        goto out;
    if (!w.n || strcmp(w.v[0], "curl")) {
        sp_errlist_add(errs, PATH, "not a curl command: the first word is '%.60s', not 'curl'",
                       w.n ? w.v[0] : "");
        rc = SP_EINVAL;
        goto out;
    }
    rc = read_options(&w, &r, errs);
    if (rc)
        goto out;
    rc = build_step(&r, step, errs);
out:
    if (rc && !errs->n && !errs->dropped)
        sp_errlist_add(errs, PATH, "%s", sp_strerror(rc));
    json_decref(r.headers);
    json_decref(r.parts);
    sp_buf_release(&r.data);
    sp_buf_release(&r.cookie);
    words_release(&w);
    return rc;
}
