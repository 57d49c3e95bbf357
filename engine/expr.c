/*
 * expr.c - see expr.h.
 *
 * A compiled expression is a node array (children by index) with a text pool for string
 * literals, field names and date formats; strings live in the pool as offsets, since the pool
 * moves while it grows. The parser is recursive descent, one function per precedence level, and
 * gives every node its static type (a mask of SP_TY_*) as it builds it, so that type errors are
 * reported where they are written.
 *
 * Evaluation walks the tree recursively; the tree's depth is bounded (SP_EXPR_MAX_DEPTH), so is
 * the recursion. Intermediate values are small structs on the C stack. A string the evaluation
 * builds (a concatenation, str(), a digest) is appended to the caller's arena and named by its
 * offset there, because the arena may move while it grows; it becomes a pointer only when it is
 * handed out. Arrays built by joining are the only heap objects an evaluation makes; it keeps
 * them in a short list and gives them back at its end, except the one it returns.
 */
#include "engine/expr.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/digest.h"

enum op {
    O_NULL,
    O_BOOL,
    O_INT,
    O_FLOAT,
    O_STR,    /* pool[off, len) */
    O_VAR,    /* a VU variable: slot */
    O_VU,     /* the VU's number */
    O_ITER,   /* its iteration */
    O_STATUS, /* its last status */
    O_ROW,    /* row.NAME: pool[off] NUL-terminated */
    O_SECRET, /* secret.NAME: j is the value (a JSON string of the scope) */
    O_AT,     /* '@' in a filter */
    O_DATA,   /* a data list as a value: j (only as random()'s or len()'s argument) */
    O_FIELD,  /* a.NAME: child a, pool[off] NUL-terminated */
    O_INDEX,  /* a[b] */
    O_NEG,
    O_NOT,
    O_ADD,
    O_SUB,
    O_MUL,
    O_DIV,
    O_MOD,
    O_EQ,
    O_NE,
    O_LT,
    O_LE,
    O_GT,
    O_GE,
    O_AND,
    O_OR,
    O_CALL, /* fn, arguments a, then each one's next */
};

enum fn {
    F_RANDOM,
    F_RANDINT,
    F_UUID,
    F_DATE,
    F_NOW,
    F_TIMESTAMP,
    F_URLENCODE,
    F_LEN,
    F_INT,
    F_FLOAT,
    F_STR,
    F_LOWER,
    F_UPPER,
    F_CONTAINS,
    F_SHA256,
    F_HMAC,
    F_BASE64,
    F_RANDSTR,
    F_COUNT
};

typedef struct fninfo {
    const char *name;
    int min, max;
    unsigned ret;
    unsigned args[2];       /* what each argument may be */
    const char *argname[2]; /* for messages: "a string" */
    int varies;             /* random or the clock: never folded into a constant */
} fninfo;

static const fninfo fns[F_COUNT] = {
    [F_RANDOM] =
        {"random", 1, 1, SP_TY_ANY, {SP_TY_ARRAY}, {"a list (a data list's name or an array)"}, 1},
    [F_RANDINT] = {"randint",
                   2,
                   2,
                   SP_TY_INT | SP_TY_NULL,
                   {SP_TY_INT, SP_TY_INT},
                   {"an integer", "an integer"},
                   1},
    [F_UUID] = {"uuid", 0, 0, SP_TY_STR, {0}, {NULL}, 1},
    [F_DATE] = {"date", 1, 2, SP_TY_STR, {0}, {NULL}, 1},
    [F_NOW] = {"now", 0, 0, SP_TY_STR, {0}, {NULL}, 1},
    [F_TIMESTAMP] = {"timestamp", 0, 0, SP_TY_INT, {0}, {NULL}, 1},
    [F_URLENCODE] = {"urlencode", 1, 1, SP_TY_STR, {SP_TY_ANY}, {"a value"}, 0},
    [F_LEN] = {"len",
               1,
               1,
               SP_TY_INT | SP_TY_NULL,
               {SP_TY_STR | SP_TY_ARRAY | SP_TY_OBJECT | SP_TY_NULL},
               {"a string, an array or an object"},
               0},
    [F_INT] = {"int", 1, 1, SP_TY_INT | SP_TY_NULL, {SP_TY_ANY}, {"a value"}, 0},
    [F_FLOAT] = {"float", 1, 1, SP_TY_FLOAT | SP_TY_NULL, {SP_TY_ANY}, {"a value"}, 0},
    [F_STR] = {"str", 1, 1, SP_TY_STR, {SP_TY_ANY}, {"a value"}, 0},
    [F_LOWER] = {"lower", 1, 1, SP_TY_STR | SP_TY_NULL, {SP_TY_STR | SP_TY_NULL}, {"a string"}, 0},
    [F_UPPER] = {"upper", 1, 1, SP_TY_STR | SP_TY_NULL, {SP_TY_STR | SP_TY_NULL}, {"a string"}, 0},
    [F_CONTAINS] = {"contains",
                    2,
                    2,
                    SP_TY_BOOL,
                    {SP_TY_STR | SP_TY_ARRAY | SP_TY_OBJECT | SP_TY_NULL, SP_TY_ANY},
                    {"a string, an array or an object", "a value"},
                    0},
    [F_SHA256] = {"sha256", 1, 1, SP_TY_STR, {SP_TY_ANY}, {"a value"}, 0},
    [F_HMAC] = {"hmac_sha256", 2, 2, SP_TY_STR, {SP_TY_ANY, SP_TY_ANY}, {"a value", "a value"}, 0},
    [F_BASE64] = {"base64", 1, 1, SP_TY_STR, {SP_TY_ANY}, {"a value"}, 0},
    [F_RANDSTR] = {"random_string", 1, 1, SP_TY_STR | SP_TY_NULL, {SP_TY_INT}, {"an integer"}, 1},
};

typedef struct node {
    uint8_t op;
    uint8_t fn;
    uint8_t nargs;
    uint16_t ty;    /* SP_TY_* mask */
    uint16_t depth; /* of the subtree */
    int32_t a, b, next;
    int32_t slot;
    uint32_t off, len;
    uint32_t col; /* 1-based, for messages */
    int64_t i;    /* O_INT, O_BOOL; F_DATE: the offset in seconds */
    double f;
    const json_t *j; /* O_DATA, O_SECRET */
} node;

struct sp_expr {
    node *nodes;
    size_t n, cap;
    char *pool;
    size_t plen, pcap;
    int root;
    int varies; /* reads the VU, the clock or the random generator */
};

/* date() offsets up to a century each way keep gmtime_r() far from its limits. */
#define DATE_OFFSET_MAX_S (36525LL * 86400)
#define DATE_FMT_MAX 64
#define DATE_OUT_MAX 256
#define NAME_MAX_BYTES 128

/* ---- building ---- */

void sp_expr_free(sp_expr *e)
{
    if (!e)
        return;
    free(e->nodes);
    free(e->pool);
    free(e);
}

static uint32_t pool_add(sp_expr *e, const char *s, size_t n)
{
    sp_grow((void **)&e->pool, &e->pcap, e->plen + n + 1, 1);
    uint32_t off = (uint32_t)e->plen;
    if (n)
        memcpy(e->pool + e->plen, s, n);
    e->plen += n;
    e->pool[e->plen++] = '\0';
    return off;
}

typedef struct parser {
    sp_expr *e;
    const sp_scope *scope;
    unsigned flags;
    const char *src;
    size_t n, pos;
    size_t col0;
    char *err;
    size_t errlen;
    int failed;
    int depth;
} parser;

static void fail_at(parser *ps, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are consequences of it. */
static void fail_at(parser *ps, size_t at, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    if (!ps->err || ps->errlen == 0)
        return;
    int k = snprintf(ps->err, ps->errlen, "column %zu: ", ps->col0 + at + 1);
    if (k < 0 || (size_t)k >= ps->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + k, ps->errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

static int new_node(parser *ps, int op, size_t at)
{
    sp_expr *e = ps->e;
    if (e->n >= SP_EXPR_MAX_NODES) {
        fail_at(ps, at, "the expression has more than %d parts", SP_EXPR_MAX_NODES);
        return -1;
    }
    sp_grow((void **)&e->nodes, &e->cap, e->n + 1, sizeof(node));
    node *nd = &e->nodes[e->n];
    memset(nd, 0, sizeof *nd);
    nd->op = (uint8_t)op;
    nd->a = nd->b = nd->next = -1;
    nd->slot = -1;
    nd->col = (uint32_t)(ps->col0 + at + 1);
    nd->depth = 1;
    return (int)e->n++;
}

static node *N(parser *ps, int i)
{
    return &ps->e->nodes[i];
}

/* Sets idx's depth from its children; fails past the cap. */
static int set_depth(parser *ps, int idx, int a, int b, size_t at)
{
    unsigned d = 0;
    if (a >= 0 && N(ps, a)->depth > d)
        d = N(ps, a)->depth;
    if (b >= 0 && N(ps, b)->depth > d)
        d = N(ps, b)->depth;
    if (d + 1 > SP_EXPR_MAX_DEPTH) {
        fail_at(ps, at, "the expression is nested more than %d deep", SP_EXPR_MAX_DEPTH);
        return -1;
    }
    N(ps, idx)->depth = (uint16_t)(d + 1);
    return 0;
}

/* ---- tokens ---- */

static void skip_ws(parser *ps)
{
    while (ps->pos < ps->n && (ps->src[ps->pos] == ' ' || ps->src[ps->pos] == '\t' ||
                               ps->src[ps->pos] == '\n' || ps->src[ps->pos] == '\r'))
        ps->pos++;
}

static int peek(const parser *ps)
{
    return ps->pos < ps->n ? (unsigned char)ps->src[ps->pos] : -1;
}

static int peek2(const parser *ps, char a, char b)
{
    return ps->pos + 1 < ps->n && ps->src[ps->pos] == a && ps->src[ps->pos + 1] == b;
}

static int is_ident_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_ident_char(int c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* At the end of what this expression may read: the input, or "}}" in a template hole. */
static int at_end(const parser *ps)
{
    return ps->pos >= ps->n || ((ps->flags & SP_EXPR_HOLE) && peek2(ps, '}', '}'));
}

static void fail_unexpected(parser *ps)
{
    if (at_end(ps))
        fail_at(ps, ps->pos, "the expression ends too early");
    else
        fail_at(ps, ps->pos, "unexpected '%c'", ps->src[ps->pos]);
}

/* An identifier into buf; 0 when there is none (nothing consumed) or it is too long. Field
 * names (after '.') may also hold '-' and start with a digit, as JSON keys and CSV headers do. */
static size_t read_name(parser *ps, char *buf, size_t len, int field)
{
    size_t start = ps->pos;
    if (ps->pos >= ps->n)
        return 0;
    int c = (unsigned char)ps->src[ps->pos];
    if (!(is_ident_start(c) || (field && c >= '0' && c <= '9')))
        return 0;
    while (ps->pos < ps->n) {
        c = (unsigned char)ps->src[ps->pos];
        if (is_ident_char(c) || (field && c == '-' && ps->pos + 1 < ps->n &&
                                 is_ident_char((unsigned char)ps->src[ps->pos + 1])))
            ps->pos++;
        else
            break;
    }
    size_t n = ps->pos - start;
    if (n >= len) {
        fail_at(ps, start, "name too long (at most %zu characters)", len - 1);
        return 0;
    }
    memcpy(buf, ps->src + start, n);
    buf[n] = '\0';
    return n;
}

/* A string literal in double or single quotes, with \\ \" \' \n \t \r escapes; the pool offset
 * in *off and its length in *len. */
static int read_string(parser *ps, uint32_t *off, uint32_t *len)
{
    size_t start = ps->pos;
    char q = ps->src[ps->pos++];
    sp_buf b;
    sp_buf_init(&b, SP_EXPR_MAX_LEN);
    int rc = -1;
    while (ps->pos < ps->n && ps->src[ps->pos] != q) {
        char c = ps->src[ps->pos++];
        if (c == '\\') {
            if (ps->pos >= ps->n)
                break;
            c = ps->src[ps->pos++];
            switch (c) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case '\\':
            case '"':
            case '\'':
                break;
            default:
                fail_at(ps, ps->pos - 2, "unknown escape '\\%c' in a string", c);
                goto out;
            }
        }
        (void)sp_buf_addc(&b, c);
    }
    if (ps->pos >= ps->n) {
        fail_at(ps, start, "unterminated string");
        goto out;
    }
    ps->pos++;
    *off = pool_add(ps->e, b.p, b.len);
    *len = (uint32_t)b.len;
    rc = 0;
out:
    sp_buf_release(&b);
    return rc;
}

/* A number: digits, an optional fraction and exponent. */
static int read_number(parser *ps)
{
    size_t start = ps->pos;
    int isfloat = 0;
    while (ps->pos < ps->n && ps->src[ps->pos] >= '0' && ps->src[ps->pos] <= '9')
        ps->pos++;
    if (ps->pos + 1 < ps->n && ps->src[ps->pos] == '.' && ps->src[ps->pos + 1] >= '0' &&
        ps->src[ps->pos + 1] <= '9') {
        isfloat = 1;
        ps->pos++;
        while (ps->pos < ps->n && ps->src[ps->pos] >= '0' && ps->src[ps->pos] <= '9')
            ps->pos++;
    }
    if (ps->pos < ps->n && (ps->src[ps->pos] == 'e' || ps->src[ps->pos] == 'E')) {
        size_t save = ps->pos++;
        if (ps->pos < ps->n && (ps->src[ps->pos] == '+' || ps->src[ps->pos] == '-'))
            ps->pos++;
        if (ps->pos < ps->n && ps->src[ps->pos] >= '0' && ps->src[ps->pos] <= '9') {
            isfloat = 1;
            while (ps->pos < ps->n && ps->src[ps->pos] >= '0' && ps->src[ps->pos] <= '9')
                ps->pos++;
        } else {
            ps->pos = save;
        }
    }
    if (ps->pos < ps->n && is_ident_char((unsigned char)ps->src[ps->pos])) {
        fail_at(ps, ps->pos, "unexpected '%c' after a number", ps->src[ps->pos]);
        return -1;
    }
    char tmp[64];
    size_t len = ps->pos - start;
    if (len >= sizeof tmp) {
        fail_at(ps, start, "number too long");
        return -1;
    }
    memcpy(tmp, ps->src + start, len);
    tmp[len] = '\0';
    int idx;
    if (!isfloat) {
        errno = 0;
        char *end;
        long long v = strtoll(tmp, &end, 10);
        if (errno == ERANGE) {
            fail_at(ps, start, "number too large (at most %lld)", (long long)INT64_MAX);
            return -1;
        }
        idx = new_node(ps, O_INT, start);
        if (idx >= 0) {
            N(ps, idx)->i = v;
            N(ps, idx)->ty = SP_TY_INT;
        }
    } else {
        double v = strtod(tmp, NULL);
        if (!isfinite(v)) {
            fail_at(ps, start, "number too large");
            return -1;
        }
        idx = new_node(ps, O_FLOAT, start);
        if (idx >= 0) {
            N(ps, idx)->f = v;
            N(ps, idx)->ty = SP_TY_FLOAT;
        }
    }
    return idx;
}

/* ---- types, for messages ---- */

static const char *ty_name(unsigned t)
{
    if (t == SP_TY_ANY || !t)
        return "a value";
    if (t == SP_TY_NULL)
        return "null";
    t &= ~(unsigned)SP_TY_NULL;
    if ((t & ~(unsigned)SP_TY_NUM) == 0)
        return "a number";
    if (t == SP_TY_STR)
        return "a string";
    if (t == SP_TY_BOOL)
        return "a boolean";
    if (t == SP_TY_ARRAY)
        return "an array";
    if (t == SP_TY_OBJECT)
        return "an object";
    return "a value";
}

/* ---- the grammar ---- */

static int parse_or(parser *ps);

static const char *const *data_names(const sp_scope *scope, size_t *n)
{
    *n = 0;
    if (!json_is_object(scope->data))
        return NULL;
    size_t cnt = json_object_size(scope->data);
    const char **names = sp_calloc(cnt ? cnt : 1, sizeof *names);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)scope->data, key, value)
    {
        SP_UNUSED(value);
        names[(*n)++] = key;
    }
    return names;
}

static void fail_unknown_name(parser *ps, const char *name, size_t at)
{
    const sp_scope *sc = ps->scope;
    if (json_object_get(sc->data, name)) {
        fail_at(ps, at, "'%s' is a data list, not a variable (use random(%s))", name, name);
        return;
    }
    size_t nd = 0;
    const char *const *dn = data_names(sc, &nd);
    size_t nc = sc->nvars + nd + 5;
    const char **cand = sp_calloc(nc, sizeof *cand);
    size_t k = 0;
    for (size_t i = 0; i < sc->nvars; i++)
        cand[k++] = sc->vars[i];
    for (size_t i = 0; i < nd; i++)
        cand[k++] = dn[i];
    cand[k++] = "vu";
    cand[k++] = "iteration";
    cand[k++] = "status";
    if (sc->nrow_fields)
        cand[k++] = "row";
    if (json_object_size(sc->secrets))
        cand[k++] = "secret";
    const char *best = sp_suggest(name, cand, k);
    if (best)
        fail_at(ps, at, "unknown variable '%s' (did you mean '%s'?)", name, best);
    else
        fail_at(ps, at,
                "unknown variable '%s': no let, extract or repeat index in this user "
                "class sets it",
                name);
    free(cand);
    free((void *)dn);
}

/* secret.NAME, after "secret". Messages name the secret, never its value. */
static int resolve_secret(parser *ps, size_t at)
{
    const sp_scope *sc = ps->scope;
    char field[NAME_MAX_BYTES];
    skip_ws(ps);
    if (peek(ps) != '.') {
        fail_at(ps, at, "'secret' needs a name (secret.NAME)");
        return -1;
    }
    ps->pos++;
    if (!read_name(ps, field, sizeof field, 1)) {
        fail_at(ps, ps->pos, "'secret' needs a name (secret.NAME)");
        return -1;
    }
    const json_t *sval = json_object_get(sc->secrets, field);
    if (!json_is_string(sval)) {
        size_t n = json_object_size(sc->secrets), k = 0;
        if (!n) {
            fail_at(ps, at, "no secrets in this test, so 'secret.%s' cannot be set", field);
            return -1;
        }
        const char **names = sp_calloc(n, sizeof *names);
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)sc->secrets, key, v) names[k++] = key;
        const char *best = sp_suggest(field, names, k);
        if (best)
            fail_at(ps, at, "unknown secret '%s' (did you mean '%s'?)", field, best);
        else
            fail_at(ps, at, "unknown secret '%s'", field);
        free(names);
        return -1;
    }
    int idx = new_node(ps, O_SECRET, at);
    if (idx >= 0) {
        N(ps, idx)->j = sval;
        N(ps, idx)->ty = SP_TY_STR;
    }
    return idx;
}

static int resolve_row(parser *ps, size_t at)
{
    const sp_scope *sc = ps->scope;
    char field[NAME_MAX_BYTES];
    skip_ws(ps);
    if (peek(ps) != '.') {
        fail_at(ps, at, "'row' needs a field name (row.NAME)");
        return -1;
    }
    ps->pos++;
    size_t fat = ps->pos;
    if (!read_name(ps, field, sizeof field, 1)) {
        fail_at(ps, ps->pos, "'row' needs a field name (row.NAME)");
        return -1;
    }
    size_t i = 0;
    for (; i < sc->nrow_fields; i++)
        if (strcmp(sc->row_fields[i], field) == 0)
            break;
    if (i == sc->nrow_fields) {
        const char *best =
            sc->nrow_fields ? sp_suggest(field, sc->row_fields, sc->nrow_fields) : NULL;
        if (!sc->nrow_fields)
            fail_at(ps, fat, "no CSV row fields in this test, so 'row.%s' cannot be set", field);
        else if (best)
            fail_at(ps, fat, "unknown row field '%s' (did you mean '%s'?)", field, best);
        else
            fail_at(ps, fat, "unknown row field '%s'", field);
        return -1;
    }
    int idx = new_node(ps, O_ROW, at);
    if (idx >= 0) {
        N(ps, idx)->off = pool_add(ps->e, field, strlen(field));
        N(ps, idx)->len = (uint32_t)strlen(field);
        N(ps, idx)->ty = SP_TY_STR | SP_TY_NULL;
    }
    return idx;
}

/* A name as a value: a variable first (a test that extracts "status" means its own value). */
static int resolve_name(parser *ps, const char *name, size_t at, int as_list)
{
    const sp_scope *sc = ps->scope;
    for (size_t i = 0; i < sc->nvars; i++) {
        if (strcmp(sc->vars[i], name) == 0) {
            int idx = new_node(ps, O_VAR, at);
            if (idx >= 0) {
                N(ps, idx)->slot = (int)i;
                N(ps, idx)->ty = SP_TY_ANY;
            }
            ps->e->varies = 1;
            return idx;
        }
    }
    if (as_list) {
        const json_t *list = json_object_get(sc->data, name);
        if (list) {
            if (!json_is_array(list)) {
                fail_at(ps, at, "data '%s' is not a list", name);
                return -1;
            }
            if (json_array_size(list) == 0) {
                fail_at(ps, at, "data list '%s' is empty", name);
                return -1;
            }
            int idx = new_node(ps, O_DATA, at);
            if (idx >= 0) {
                N(ps, idx)->j = list;
                N(ps, idx)->ty = SP_TY_ARRAY;
            }
            return idx;
        }
        if (strcmp(name, "vu") && strcmp(name, "iteration") && strcmp(name, "status") &&
            strcmp(name, "row") && strcmp(name, "secret") && strcmp(name, "true") &&
            strcmp(name, "false") && strcmp(name, "null")) {
            size_t nd = 0;
            const char *const *dn = data_names(sc, &nd);
            const char *best = sp_suggest(name, dn, nd);
            if (best)
                fail_at(ps, at, "no data list named '%s' (did you mean '%s'?)", name, best);
            else
                fail_at(ps, at, "no data list named '%s'", name);
            free((void *)dn);
            return -1;
        }
    }
    int op = -1;
    if (strcmp(name, "vu") == 0)
        op = O_VU;
    else if (strcmp(name, "iteration") == 0)
        op = O_ITER;
    else if (strcmp(name, "status") == 0)
        op = O_STATUS;
    if (op >= 0) {
        int idx = new_node(ps, op, at);
        if (idx >= 0)
            N(ps, idx)->ty = SP_TY_INT;
        ps->e->varies = 1;
        return idx;
    }
    if (strcmp(name, "row") == 0) {
        ps->e->varies = 1;
        return resolve_row(ps, at);
    }
    if (strcmp(name, "secret") == 0) {
        ps->e->varies = 1; /* never folded: its value stays out of literal text */
        return resolve_secret(ps, at);
    }
    fail_unknown_name(ps, name, at);
    return -1;
}

/* "-30d", "+2h", "-15m", "45s", "1w", "0" (a bare number counts days) -> seconds. */
static int offset_seconds(const char *s, int64_t *secs)
{
    const char *p = s;
    int neg = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (*p < '0' || *p > '9')
        return -1;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > DATE_OFFSET_MAX_S)
            return -1;
    }
    int64_t mul;
    switch (*p) {
    case '\0':
    case 'd':
        mul = 86400;
        break;
    case 's':
        mul = 1;
        break;
    case 'm':
        mul = 60;
        break;
    case 'h':
        mul = 3600;
        break;
    case 'w':
        mul = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (*p && p[1])
        return -1;
    if (v > DATE_OFFSET_MAX_S / mul)
        return -1;
    *secs = neg ? -v * mul : v * mul;
    return 0;
}

/* Formats seconds since the epoch with fmt into buf; 0 when it does not fit. */
static size_t format_time(char *buf, size_t cap, int64_t secs, const char *fmt)
{
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return 0;
        /* The format was checked when the expression was compiled; it is not a literal here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = strftime(buf, cap, fmt, &tm);
#pragma GCC diagnostic pop
    return n;
}

/* date(offset[, "fmt"]): the offset is a bare token (date(-30d)) or a string (date("-30d")),
 * read at compile time; the format a string literal. */
static int parse_date_args(parser *ps, int idx)
{
    char tok[40];
    skip_ws(ps);
    size_t at = ps->pos;
    int c = peek(ps);
    if (c == '"' || c == '\'') {
        uint32_t off, len;
        if (read_string(ps, &off, &len))
            return -1;
        snprintf(tok, sizeof tok, "%.*s", (int)(len < 39 ? len : 39), ps->e->pool + off);
        if (len >= 39)
            tok[0] = 'x'; /* too long to be an offset */
    } else if (c == '+' || c == '-' || (c >= '0' && c <= '9')) {
        size_t k = 0;
        if (c == '+' || c == '-')
            tok[k++] = ps->src[ps->pos++];
        while (ps->pos < ps->n && k + 1 < sizeof tok &&
               is_ident_char((unsigned char)ps->src[ps->pos]))
            tok[k++] = ps->src[ps->pos++];
        tok[k] = '\0';
    } else {
        fail_at(ps, at, "date() takes an offset such as -30d, +2h, -15m or 0");
        return -1;
    }
    int64_t secs;
    if (offset_seconds(tok, &secs)) {
        fail_at(ps, at,
                "bad date() offset '%s' (use a number with s, m, h, d or w, e.g. -30d; at most "
                "100 years)",
                tok);
        return -1;
    }
    N(ps, idx)->i = secs;
    skip_ws(ps);
    if (peek(ps) != ',')
        return 1;
    ps->pos++;
    skip_ws(ps);
    at = ps->pos;
    c = peek(ps);
    if (c != '"' && c != '\'') {
        fail_at(ps, at, "date() takes its format as a string, as in date(0, \"%%d/%%m/%%Y\")");
        return -1;
    }
    uint32_t off, len;
    if (read_string(ps, &off, &len))
        return -1;
    const char *fmt = ps->e->pool + off;
    /* Formats are bounded so that every expansion fits the evaluation's buffer: a format must
     * fit half of it at the epoch, and day and month names vary far less than twofold. */
    char probe[DATE_OUT_MAX];
    if (len == 0 || len > DATE_FMT_MAX || strlen(fmt) != len ||
        format_time(probe, DATE_OUT_MAX / 2, 0, fmt) == 0) {
        fail_at(ps, at, "bad date() format (a strftime format of 1 to %d bytes)", DATE_FMT_MAX);
        return -1;
    }
    N(ps, idx)->off = off;
    N(ps, idx)->len = len;
    skip_ws(ps);
    return 2;
}

static void fail_arity(parser *ps, size_t at, const fninfo *f, int got)
{
    if (f->max == 0)
        fail_at(ps, at, "%s() takes no arguments, got %d", f->name, got);
    else if (f->min == f->max)
        fail_at(ps, at, "%s() takes %d argument%s, got %d", f->name, f->min, f->min == 1 ? "" : "s",
                got);
    else if (got < f->min)
        fail_at(ps, at, "%s() takes %d or %d arguments, got %d", f->name, f->min, f->max, got);
    else
        fail_at(ps, at, "%s() takes at most %d arguments, got %d", f->name, f->max, got);
}

static int parse_call(parser *ps, const char *name, size_t at)
{
    int fi = 0;
    for (; fi < F_COUNT; fi++)
        if (strcmp(fns[fi].name, name) == 0)
            break;
    if (fi == F_COUNT) {
        const char *names[F_COUNT];
        for (int i = 0; i < F_COUNT; i++)
            names[i] = fns[i].name;
        const char *best = sp_suggest(name, names, F_COUNT);
        if (best)
            fail_at(ps, at, "unknown function '%s' (did you mean '%s'?)", name, best);
        else
            fail_at(ps, at,
                    "unknown function '%s' (known: random, randint, uuid, date, now, timestamp, "
                    "urlencode, len, int, float, str, lower, upper, contains, sha256, "
                    "hmac_sha256, base64, random_string)",
                    name);
        return -1;
    }
    const fninfo *f = &fns[fi];
    if (++ps->depth > SP_EXPR_MAX_DEPTH) {
        fail_at(ps, at, "the expression is nested more than %d deep", SP_EXPR_MAX_DEPTH);
        return -1;
    }
    int idx = new_node(ps, O_CALL, at);
    if (idx < 0)
        return -1;
    N(ps, idx)->fn = (uint8_t)fi;
    N(ps, idx)->ty = (uint16_t)f->ret;
    if (f->varies)
        ps->e->varies = 1;
    ps->pos++; /* '(' */
    skip_ws(ps);
    int nargs = 0;
    int last = -1;
    unsigned depth = 0;
    if (fi == F_DATE) {
        if (peek(ps) == ')') {
            fail_arity(ps, at, f, 0);
            return -1;
        }
        nargs = parse_date_args(ps, idx);
        if (nargs < 0)
            return -1;
        skip_ws(ps);
        if (peek(ps) == ',') {
            fail_arity(ps, at, f, 3);
            return -1;
        }
    } else if (peek(ps) != ')') {
        for (;;) {
            skip_ws(ps);
            size_t aat = ps->pos;
            int arg;
            if (nargs >= f->max) {
                /* One argument too many: say so before reading it. */
                fail_arity(ps, at, f, nargs + 1);
                return -1;
            }
            if ((fi == F_RANDOM || fi == F_LEN || fi == F_CONTAINS) && nargs == 0 &&
                is_ident_start(peek(ps))) {
                /* A bare name here may be a data list. */
                size_t save = ps->pos;
                char nm[NAME_MAX_BYTES];
                read_name(ps, nm, sizeof nm, 0);
                skip_ws(ps);
                int simple = !ps->failed && (peek(ps) == ')' || peek(ps) == ',');
                ps->pos = save;
                if (simple) {
                    read_name(ps, nm, sizeof nm, 0);
                    arg = resolve_name(ps, nm, aat,
                                       fi == F_RANDOM || json_object_get(ps->scope->data, nm));
                } else {
                    arg = parse_or(ps);
                }
            } else {
                arg = parse_or(ps);
            }
            if (arg < 0)
                return -1;
            if (nargs < 2) {
                unsigned want = f->args[nargs];
                unsigned got = N(ps, arg)->ty;
                if (want && !(got & want)) {
                    fail_at(ps, aat, "%s() takes %s, got %s", f->name, f->argname[nargs],
                            ty_name(got));
                    return -1;
                }
            }
            if (last < 0)
                N(ps, idx)->a = arg;
            else
                N(ps, last)->next = arg;
            last = arg;
            if (N(ps, arg)->depth > depth)
                depth = N(ps, arg)->depth;
            nargs++;
            skip_ws(ps);
            if (peek(ps) != ',')
                break;
            ps->pos++;
            if (nargs > 8) {
                fail_arity(ps, at, f, nargs + 1);
                return -1;
            }
        }
    }
    if (nargs < f->min || nargs > f->max) {
        fail_arity(ps, at, f, nargs);
        return -1;
    }
    skip_ws(ps);
    if (peek(ps) != ')') {
        fail_unexpected(ps);
        return -1;
    }
    ps->pos++;
    ps->depth--;
    if (depth + 1 > SP_EXPR_MAX_DEPTH) {
        fail_at(ps, at, "the expression is nested more than %d deep", SP_EXPR_MAX_DEPTH);
        return -1;
    }
    N(ps, idx)->depth = (uint16_t)(depth + 1);
    N(ps, idx)->nargs = (uint8_t)nargs;
    /* Checks that need the literal values. */
    if (fi == F_RANDINT) {
        const node *lo = N(ps, N(ps, idx)->a), *hi = N(ps, N(ps, N(ps, idx)->a)->next);
        if (lo->op == O_INT && hi->op == O_INT && lo->i > hi->i) {
            fail_at(ps, at, "randint(%lld, %lld): the low end is above the high end",
                    (long long)lo->i, (long long)hi->i);
            return -1;
        }
    } else if (fi == F_RANDSTR) {
        const node *n0 = N(ps, N(ps, idx)->a);
        if (n0->op == O_INT && (n0->i < 0 || n0->i > SP_EXPR_MAX_RANDOM_STRING)) {
            fail_at(ps, at, "random_string(%lld): the length must be 0 to %d", (long long)n0->i,
                    SP_EXPR_MAX_RANDOM_STRING);
            return -1;
        }
    }
    return idx;
}

/* primary := literal | name | name(args) | (expr) | @ | -unary ; then .field and [index] */
static int parse_unary(parser *ps);

static int parse_primary(parser *ps)
{
    skip_ws(ps);
    size_t at = ps->pos;
    int c = peek(ps);
    int idx = -1;
    if (at_end(ps)) {
        fail_unexpected(ps);
        return -1;
    }
    if (c == '"' || c == '\'') {
        uint32_t off, len;
        if (read_string(ps, &off, &len))
            return -1;
        idx = new_node(ps, O_STR, at);
        if (idx >= 0) {
            N(ps, idx)->off = off;
            N(ps, idx)->len = len;
            N(ps, idx)->ty = SP_TY_STR;
        }
    } else if (c >= '0' && c <= '9') {
        idx = read_number(ps);
    } else if (c == '(') {
        ps->pos++;
        if (++ps->depth > SP_EXPR_MAX_DEPTH) {
            fail_at(ps, at, "the expression is nested more than %d deep", SP_EXPR_MAX_DEPTH);
            return -1;
        }
        idx = parse_or(ps);
        ps->depth--;
        if (idx < 0)
            return -1;
        skip_ws(ps);
        if (peek(ps) != ')') {
            if (at_end(ps))
                fail_at(ps, at, "'(' is not closed");
            else
                fail_unexpected(ps);
            return -1;
        }
        ps->pos++;
    } else if (c == '@') {
        ps->pos++;
        if (!(ps->flags & SP_EXPR_FILTER)) {
            fail_at(ps, at, "'@' is the item a JSON path filter looks at; it means nothing here");
            return -1;
        }
        idx = new_node(ps, O_AT, at);
        if (idx >= 0)
            N(ps, idx)->ty = SP_TY_ANY;
        ps->e->varies = 1;
    } else if (is_ident_start(c)) {
        char name[NAME_MAX_BYTES];
        if (!read_name(ps, name, sizeof name, 0))
            return -1;
        size_t after = ps->pos;
        skip_ws(ps);
        if (peek(ps) == '(') {
            idx = parse_call(ps, name, at);
        } else {
            ps->pos = after;
            if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0) {
                idx = new_node(ps, O_BOOL, at);
                if (idx >= 0) {
                    N(ps, idx)->i = name[0] == 't';
                    N(ps, idx)->ty = SP_TY_BOOL;
                }
            } else if (strcmp(name, "null") == 0) {
                idx = new_node(ps, O_NULL, at);
                if (idx >= 0)
                    N(ps, idx)->ty = SP_TY_NULL;
            } else if (strcmp(name, "and") == 0 || strcmp(name, "or") == 0 ||
                       strcmp(name, "not") == 0) {
                fail_at(ps, at, "'%s' needs an operand before it", name);
                return -1;
            } else {
                idx = resolve_name(ps, name, at, 0);
            }
        }
    } else {
        fail_unexpected(ps);
        return -1;
    }
    /* Postfix: .field and [index]. */
    while (idx >= 0 && !ps->failed) {
        size_t save = ps->pos;
        skip_ws(ps);
        size_t pat = ps->pos;
        if (peek(ps) == '.') {
            ps->pos++;
            char field[NAME_MAX_BYTES];
            if (!read_name(ps, field, sizeof field, 1)) {
                if (!ps->failed)
                    fail_at(ps, ps->pos, "a field name must follow '.'");
                return -1;
            }
            unsigned ty = N(ps, idx)->ty;
            if (!(ty & SP_TY_OBJECT)) {
                fail_at(ps, pat, "'.%s' reads a field of an object, but this is %s", field,
                        ty_name(ty));
                return -1;
            }
            int f = new_node(ps, O_FIELD, pat);
            if (f < 0)
                return -1;
            N(ps, f)->a = idx;
            N(ps, f)->off = pool_add(ps->e, field, strlen(field));
            N(ps, f)->len = (uint32_t)strlen(field);
            N(ps, f)->ty = SP_TY_ANY;
            if (set_depth(ps, f, idx, -1, pat))
                return -1;
            idx = f;
        } else if (peek(ps) == '[') {
            ps->pos++;
            if (++ps->depth > SP_EXPR_MAX_DEPTH) {
                fail_at(ps, pat, "the expression is nested more than %d deep", SP_EXPR_MAX_DEPTH);
                return -1;
            }
            int ix = parse_or(ps);
            ps->depth--;
            if (ix < 0)
                return -1;
            skip_ws(ps);
            if (peek(ps) != ']') {
                fail_unexpected(ps);
                return -1;
            }
            ps->pos++;
            unsigned ty = N(ps, idx)->ty, ity = N(ps, ix)->ty;
            if (!(ty & (SP_TY_ARRAY | SP_TY_OBJECT))) {
                fail_at(ps, pat, "'[...]' reads an item of an array or an object, but this is %s",
                        ty_name(ty));
                return -1;
            }
            if (!(ity & (SP_TY_INT | SP_TY_STR))) {
                fail_at(ps, pat, "an index is an integer (or a key, a string), got %s",
                        ty_name(ity));
                return -1;
            }
            int f = new_node(ps, O_INDEX, pat);
            if (f < 0)
                return -1;
            N(ps, f)->a = idx;
            N(ps, f)->b = ix;
            N(ps, f)->ty = SP_TY_ANY;
            if (set_depth(ps, f, idx, ix, pat))
                return -1;
            idx = f;
        } else {
            ps->pos = save;
            break;
        }
    }
    return ps->failed ? -1 : idx;
}

static int parse_unary(parser *ps)
{
    skip_ws(ps);
    size_t at = ps->pos;
    if (peek(ps) == '-' || peek(ps) == '+') {
        int neg = peek(ps) == '-';
        ps->pos++;
        if (++ps->depth > SP_EXPR_MAX_DEPTH) {
            fail_at(ps, at, "the expression is nested more than %d deep", SP_EXPR_MAX_DEPTH);
            return -1;
        }
        int a = parse_unary(ps);
        ps->depth--;
        if (a < 0)
            return -1;
        node *an = N(ps, a);
        if (!(an->ty & SP_TY_NUM)) {
            fail_at(ps, at, "'%c' needs a number, got %s", neg ? '-' : '+', ty_name(an->ty));
            return -1;
        }
        if (!neg)
            return a;
        /* A negative literal stays a literal. */
        if (an->op == O_INT && an->i != INT64_MIN) {
            an->i = -an->i;
            an->col = (uint32_t)(ps->col0 + at + 1);
            return a;
        }
        if (an->op == O_FLOAT) {
            an->f = -an->f;
            return a;
        }
        int idx = new_node(ps, O_NEG, at);
        if (idx < 0)
            return -1;
        N(ps, idx)->a = a;
        N(ps, idx)->ty = (uint16_t)(N(ps, a)->ty & (SP_TY_NUM | SP_TY_NULL)) | SP_TY_NULL;
        if (set_depth(ps, idx, a, -1, at))
            return -1;
        return idx;
    }
    return parse_primary(ps);
}

static int binary(parser *ps, int op, int a, int b, size_t at, unsigned ty)
{
    int idx = new_node(ps, op, at);
    if (idx < 0)
        return -1;
    N(ps, idx)->a = a;
    N(ps, idx)->b = b;
    N(ps, idx)->ty = (uint16_t)ty;
    if (set_depth(ps, idx, a, b, at))
        return -1;
    return idx;
}

static int parse_product(parser *ps)
{
    int a = parse_unary(ps);
    while (a >= 0) {
        skip_ws(ps);
        size_t at = ps->pos;
        int c = peek(ps);
        int op = c == '*' ? O_MUL : c == '/' ? O_DIV : c == '%' ? O_MOD : -1;
        if (op < 0 || at_end(ps))
            break;
        ps->pos++;
        int b = parse_unary(ps);
        if (b < 0)
            return -1;
        unsigned ta = N(ps, a)->ty, tb = N(ps, b)->ty;
        if (!(ta & SP_TY_NUM) || !(tb & SP_TY_NUM)) {
            fail_at(ps, at, "'%c' needs numbers, got %s and %s", c, ty_name(ta), ty_name(tb));
            return -1;
        }
        unsigned ty = SP_TY_FLOAT | SP_TY_NULL;
        if ((ta & SP_TY_INT) && (tb & SP_TY_INT))
            ty |= SP_TY_INT;
        a = binary(ps, op, a, b, at, ty);
    }
    return a;
}

static int parse_sum(parser *ps)
{
    int a = parse_product(ps);
    while (a >= 0) {
        skip_ws(ps);
        size_t at = ps->pos;
        int c = peek(ps);
        if (c != '+' && c != '-')
            break;
        ps->pos++;
        int b = parse_product(ps);
        if (b < 0)
            return -1;
        unsigned ta = N(ps, a)->ty, tb = N(ps, b)->ty;
        unsigned ty = 0;
        if ((ta & SP_TY_NUM) && (tb & SP_TY_NUM))
            ty |= SP_TY_FLOAT | (((ta & SP_TY_INT) && (tb & SP_TY_INT)) ? SP_TY_INT : 0);
        if (c == '+') {
            /* + also joins text (either side a string) and arrays. */
            if ((ta & SP_TY_STR) || (tb & SP_TY_STR))
                ty |= SP_TY_STR;
            if ((ta & SP_TY_ARRAY) && (tb & SP_TY_ARRAY))
                ty |= SP_TY_ARRAY;
        }
        if (!ty) {
            if (c == '+')
                fail_at(ps, at,
                        "'+' adds numbers, joins text (a string on either side) or joins "
                        "arrays; got %s and %s",
                        ty_name(ta), ty_name(tb));
            else
                fail_at(ps, at, "'-' needs numbers, got %s and %s", ty_name(ta), ty_name(tb));
            return -1;
        }
        a = binary(ps, c == '+' ? O_ADD : O_SUB, a, b, at, ty | SP_TY_NULL);
    }
    return a;
}

/* The kind of value for == between statically known types: numbers are one kind. */
static unsigned kind_of(unsigned t)
{
    unsigned k = t & ~(unsigned)SP_TY_NULL;
    if (k & SP_TY_NUM)
        k = (k & ~(unsigned)SP_TY_NUM) | SP_TY_INT;
    return k;
}

static int parse_compare(parser *ps)
{
    int a = parse_sum(ps);
    if (a < 0)
        return -1;
    skip_ws(ps);
    size_t at = ps->pos;
    int op = -1;
    size_t len = 1;
    if (peek2(ps, '=', '=')) {
        op = O_EQ;
        len = 2;
    } else if (peek2(ps, '!', '=')) {
        op = O_NE;
        len = 2;
    } else if (peek2(ps, '<', '=')) {
        op = O_LE;
        len = 2;
    } else if (peek2(ps, '>', '=')) {
        op = O_GE;
        len = 2;
    } else if (peek(ps) == '<') {
        op = O_LT;
    } else if (peek(ps) == '>') {
        op = O_GT;
    } else if (peek(ps) == '=') {
        fail_at(ps, at, "'=' does not compare: write '=='");
        return -1;
    }
    if (op < 0)
        return a;
    ps->pos += len;
    int b = parse_sum(ps);
    if (b < 0)
        return -1;
    unsigned ta = N(ps, a)->ty, tb = N(ps, b)->ty;
    static const char *const opname[] = {
        [O_EQ] = "==", [O_NE] = "!=", [O_LT] = "<", [O_LE] = "<=", [O_GT] = ">", [O_GE] = ">="};
    if (op == O_EQ || op == O_NE) {
        unsigned ka = kind_of(ta), kb = kind_of(tb);
        if (ka && kb && !(ka & kb)) {
            fail_at(ps, at,
                    "'%s' compares %s with %s: they are never equal (convert one with int(), "
                    "float() or str())",
                    opname[op], ty_name(ta), ty_name(tb));
            return -1;
        }
    } else if (!(((ta & SP_TY_NUM) && (tb & SP_TY_NUM)) ||
                 ((ta & SP_TY_STR) && (tb & SP_TY_STR)))) {
        fail_at(ps, at, "'%s' orders two numbers or two strings, got %s and %s", opname[op],
                ty_name(ta), ty_name(tb));
        return -1;
    }
    int idx = binary(ps, op, a, b, at, SP_TY_BOOL);
    skip_ws(ps);
    if (idx >= 0 && !at_end(ps) &&
        (peek(ps) == '<' || peek(ps) == '>' || peek2(ps, '=', '=') || peek2(ps, '!', '='))) {
        fail_at(ps, ps->pos, "comparisons do not chain: write 'a < b and b < c'");
        return -1;
    }
    return idx;
}

/* A keyword operator at pos: "and", "or", "not" as a whole word. */
static int keyword(parser *ps, const char *kw)
{
    size_t n = strlen(kw);
    if (ps->pos + n > ps->n || memcmp(ps->src + ps->pos, kw, n) != 0)
        return 0;
    if (ps->pos + n < ps->n && is_ident_char((unsigned char)ps->src[ps->pos + n]))
        return 0;
    return 1;
}

static int parse_not(parser *ps)
{
    skip_ws(ps);
    size_t at = ps->pos;
    int bang = peek(ps) == '!' && !peek2(ps, '!', '=');
    if (bang || keyword(ps, "not")) {
        ps->pos += bang ? 1 : 3;
        if (++ps->depth > SP_EXPR_MAX_DEPTH) {
            fail_at(ps, at, "the expression is nested more than %d deep", SP_EXPR_MAX_DEPTH);
            return -1;
        }
        int a = parse_not(ps);
        ps->depth--;
        if (a < 0)
            return -1;
        int idx = new_node(ps, O_NOT, at);
        if (idx < 0)
            return -1;
        N(ps, idx)->a = a;
        N(ps, idx)->ty = SP_TY_BOOL;
        if (set_depth(ps, idx, a, -1, at))
            return -1;
        return idx;
    }
    return parse_compare(ps);
}

static int parse_and(parser *ps)
{
    int a = parse_not(ps);
    while (a >= 0) {
        skip_ws(ps);
        size_t at = ps->pos;
        int amp = peek2(ps, '&', '&');
        if (!amp && !keyword(ps, "and"))
            break;
        ps->pos += amp ? 2 : 3;
        int b = parse_not(ps);
        if (b < 0)
            return -1;
        a = binary(ps, O_AND, a, b, at, SP_TY_BOOL);
    }
    return a;
}

static int parse_or(parser *ps)
{
    int a = parse_and(ps);
    while (a >= 0) {
        skip_ws(ps);
        size_t at = ps->pos;
        int bar = peek2(ps, '|', '|');
        if (!bar && !keyword(ps, "or"))
            break;
        ps->pos += 2;
        int b = parse_and(ps);
        if (b < 0)
            return -1;
        a = binary(ps, O_OR, a, b, at, SP_TY_BOOL);
    }
    return a;
}

sp_expr *sp_expr_compile(const char *src, size_t n, const sp_scope *scope, unsigned flags,
                         size_t col0, size_t *used, char *err, size_t errlen)
{
    static const sp_scope empty_scope = {0};
    sp_expr *e = sp_calloc(1, sizeof(*e));
    parser ps = {.e = e,
                 .scope = scope ? scope : &empty_scope,
                 .flags = flags,
                 .src = src,
                 .n = n,
                 .col0 = col0,
                 .err = err,
                 .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!(flags & SP_EXPR_HOLE) && n > SP_EXPR_MAX_LEN) {
        fail_at(&ps, 0, "the expression is longer than %d bytes", SP_EXPR_MAX_LEN);
        goto fail;
    }
    skip_ws(&ps);
    if (at_end(&ps)) {
        fail_at(&ps, ps.pos, "the expression is empty");
        goto fail;
    }
    e->root = parse_or(&ps);
    if (e->root < 0 || ps.failed) {
        if (!ps.failed)
            fail_unexpected(&ps);
        goto fail;
    }
    skip_ws(&ps);
    if (ps.pos > SP_EXPR_MAX_LEN) {
        fail_at(&ps, 0, "the expression is longer than %d bytes", SP_EXPR_MAX_LEN);
        goto fail;
    }
    if (!(flags & SP_EXPR_HOLE) && ps.pos < n) {
        fail_unexpected(&ps);
        goto fail;
    }
    if (used)
        *used = ps.pos;
    return e;
fail:
    sp_expr_free(e);
    return NULL;
}

unsigned sp_expr_type(const sp_expr *e)
{
    return e->nodes[e->root].ty;
}

int sp_expr_literal_str(const sp_expr *e, const char **s, size_t *len)
{
    const node *nd = &e->nodes[e->root];
    if (nd->op != O_STR)
        return 0;
    *s = e->pool + nd->off;
    *len = nd->len;
    return 1;
}

int sp_expr_constant(const sp_expr *e)
{
    return !e->varies;
}

/* ---- evaluation ---- */

/* A value while evaluating: as sp_value, but a string built here is named by its offset in the
 * arena (which may move while it grows). */
typedef struct val {
    uint8_t t;
    uint8_t enc;
    uint8_t ref;
    uint8_t inarena;
    uint32_t len;
    union {
        int b;
        int64_t i;
        double f;
        const char *s;
        size_t off;
        const json_t *j;
    } u;
} val;

typedef struct ev {
    const sp_expr *e;
    const sp_vuctx *ctx;
    sp_buf *arena;
    size_t text0; /* the arena's length when the evaluation began */
    const json_t *at;
    uint32_t steps;
    int abort;
    json_t *owned[SP_EXPR_MAX_OWNED];
    int nowned;
} ev;

static const char *vs(const ev *c, const val *v)
{
    return v->inarena ? c->arena->p + v->u.off : v->u.s;
}

static void set_null(val *v)
{
    memset(v, 0, sizeof *v);
    v->t = SP_V_NULL;
}

static int step(ev *c, size_t units)
{
    if (c->abort)
        return -1;
    c->steps += (uint32_t)(units < SP_EXPR_MAX_STEPS ? units : SP_EXPR_MAX_STEPS);
    if (c->steps > SP_EXPR_MAX_STEPS) {
        c->abort = 1;
        return -1;
    }
    return 0;
}

static void from_json(val *v, const json_t *j, uint8_t ref)
{
    memset(v, 0, sizeof *v);
    switch (json_typeof(j)) {
    case JSON_STRING:
        v->t = SP_V_STR;
        v->u.s = json_string_value(j);
        v->len = (uint32_t)json_string_length(j);
        break;
    case JSON_INTEGER:
        v->t = SP_V_INT;
        v->u.i = json_integer_value(j);
        break;
    case JSON_REAL:
        v->t = SP_V_FLOAT;
        v->u.f = json_real_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v->t = SP_V_BOOL;
        v->u.b = json_is_true(j);
        break;
    case JSON_OBJECT:
    case JSON_ARRAY:
        v->t = SP_V_JSON;
        v->u.j = j;
        v->ref = ref;
        break;
    default:
        v->t = SP_V_NULL;
        break;
    }
}

void sp_value_from_json(sp_value *v, const json_t *j, uint8_t ref)
{
    memset(v, 0, sizeof *v);
    if (!j) {
        v->type = SP_V_UNSET;
        return;
    }
    val x;
    from_json(&x, j, ref);
    v->type = x.t;
    v->len = x.len;
    v->ref = x.ref;
    if (x.t == SP_V_STR)
        v->u.s = x.u.s;
    else if (x.t == SP_V_INT)
        v->u.i = x.u.i;
    else if (x.t == SP_V_FLOAT)
        v->u.f = x.u.f;
    else if (x.t == SP_V_BOOL)
        v->u.b = x.u.b;
    else if (x.t == SP_V_JSON)
        v->u.j = x.u.j;
}

static void from_value(val *v, const sp_value *s)
{
    memset(v, 0, sizeof *v);
    v->t = s->type == SP_V_UNSET ? SP_V_NULL : s->type;
    v->enc = s->enc;
    v->len = s->len;
    switch (s->type) {
    case SP_V_BOOL:
        v->u.b = s->u.b;
        break;
    case SP_V_INT:
        v->u.i = s->u.i;
        break;
    case SP_V_FLOAT:
        v->u.f = s->u.f;
        break;
    case SP_V_STR:
        v->u.s = s->u.s;
        break;
    case SP_V_JSON:
        v->u.j = s->u.j;
        v->ref = s->ref == SP_REF_DEF ? SP_REF_DEF : SP_REF_LOCAL;
        break;
    default:
        v->t = SP_V_NULL;
    }
}

/* Appends bytes to the arena within the evaluation's text budget. */
static int arena_add(ev *c, const char *s, size_t n)
{
    if (c->abort)
        return -1;
    if (c->arena->len - c->text0 + n > SP_EXPR_MAX_TEXT || sp_buf_add(c->arena, s, n) != 0) {
        c->abort = 1;
        return -1;
    }
    return 0;
}

static int arena_reserve(ev *c, size_t n)
{
    if (c->abort)
        return -1;
    if (c->arena->len - c->text0 + n > SP_EXPR_MAX_TEXT || sp_buf_reserve(c->arena, n) != 0) {
        c->abort = 1;
        return -1;
    }
    return 0;
}

static void arena_str(val *v, size_t off, size_t len)
{
    memset(v, 0, sizeof *v);
    v->t = SP_V_STR;
    v->inarena = 1;
    v->u.off = off;
    v->len = (uint32_t)len;
}

static const char hexdig[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* The shortest text of a float that reads back as the same number; whole numbers keep a ".0"
 * so that the text says it is a float. */
static size_t format_float(double f, char *buf, size_t cap)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, f);
        if (strtod(buf, NULL) == f)
            break;
    }
    if (n > 0 && (size_t)n + 2 < cap && !strpbrk(buf, ".eEn")) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = '\0';
    }
    return n > 0 ? (size_t)n : 0;
}

typedef struct dump_ctx {
    ev *c;
    sp_buf *out;
    int rc;
} dump_ctx;

static int dump_cb(const char *buffer, size_t size, void *data)
{
    dump_ctx *d = data;
    if (d->c)
        d->rc = arena_add(d->c, buffer, size);
    else
        d->rc = sp_buf_add(d->out, buffer, size);
    return d->rc ? -1 : 0;
}

/* Appends v's text to the arena, with its urlencode() layers applied. */
static int put_text(ev *c, const val *v)
{
    char num[64];
    size_t n;
    switch (v->t) {
    case SP_V_STR: {
        if (arena_reserve(c, v->len) != 0)
            return -1;
        const char *s = vs(c, v); /* stable: room was made above */
        if (v->enc == 0)
            return arena_add(c, s, v->len);
        /* Encoding k times maps a reserved byte to "%" + "25" x (k - 1) + its hex. */
        for (size_t i = 0; i < v->len; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (is_unreserved(ch)) {
                if (arena_add(c, (const char *)&ch, 1))
                    return -1;
                continue;
            }
            if (arena_reserve(c, 3 + 2 * (size_t)v->enc) != 0)
                return -1;
            s = vs(c, v);
            (void)arena_add(c, "%", 1);
            for (int k = 1; k < v->enc; k++)
                (void)arena_add(c, "25", 2);
            char e2[2] = {hexdig[ch >> 4], hexdig[ch & 15]};
            (void)arena_add(c, e2, 2);
        }
        return c->abort ? -1 : 0;
    }
    case SP_V_INT:
        n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->u.i);
        return arena_add(c, num, n);
    case SP_V_FLOAT:
        n = format_float(v->u.f, num, sizeof num);
        return arena_add(c, num, n);
    case SP_V_BOOL:
        return arena_add(c, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
    case SP_V_JSON: {
        dump_ctx d = {c, NULL, 0};
        if (step(c, 1 + json_array_size(v->u.j) + json_object_size(v->u.j)))
            return -1;
        if (json_dump_callback(v->u.j, dump_cb, &d,
                               JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) != 0) {
            c->abort = 1;
            return -1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

/* v as a plain string (urlencode() layers applied), in *v itself. */
static int as_text(ev *c, val *v)
{
    if (v->t == SP_V_STR && v->enc == 0)
        return 0;
    size_t start = c->arena->len;
    if (put_text(c, v) != 0)
        return -1;
    arena_str(v, start, c->arena->len - start);
    return 0;
}

static int truthy(const ev *c, const val *v)
{
    SP_UNUSED(c);
    switch (v->t) {
    case SP_V_BOOL:
        return v->u.b;
    case SP_V_INT:
        return v->u.i != 0;
    case SP_V_FLOAT:
        return v->u.f != 0 && !isnan(v->u.f);
    case SP_V_STR:
        return v->len > 0;
    case SP_V_JSON:
        return json_array_size(v->u.j) > 0 || json_object_size(v->u.j) > 0;
    default:
        return 0;
    }
}

static double num_of(const val *v)
{
    return v->t == SP_V_INT ? (double)v->u.i : v->u.f;
}

static int is_num(const val *v)
{
    return v->t == SP_V_INT || v->t == SP_V_FLOAT;
}

static void set_float(val *v, double f)
{
    memset(v, 0, sizeof *v);
    if (!isfinite(f)) {
        v->t = SP_V_NULL;
        return;
    }
    v->t = SP_V_FLOAT;
    v->u.f = f;
}

static void set_int(val *v, int64_t i)
{
    memset(v, 0, sizeof *v);
    v->t = SP_V_INT;
    v->u.i = i;
}

static void set_bool(val *v, int b)
{
    memset(v, 0, sizeof *v);
    v->t = SP_V_BOOL;
    v->u.b = b != 0;
}

static int equal(ev *c, val *a, val *b);

static int json_equal_val(ev *c, const json_t *j, val *b)
{
    val a;
    from_json(&a, j, SP_REF_LOCAL);
    return equal(c, &a, b);
}

static int equal(ev *c, val *a, val *b)
{
    if (is_num(a) && is_num(b)) {
        if (a->t == SP_V_INT && b->t == SP_V_INT)
            return a->u.i == b->u.i;
        return num_of(a) == num_of(b);
    }
    if (a->t != b->t)
        return 0;
    switch (a->t) {
    case SP_V_NULL:
        return 1;
    case SP_V_BOOL:
        return a->u.b == b->u.b;
    case SP_V_STR:
        if ((a->enc || b->enc) && (as_text(c, a) || as_text(c, b)))
            return 0;
        return a->len == b->len && memcmp(vs(c, a), vs(c, b), a->len) == 0;
    case SP_V_JSON:
        if (step(c, json_array_size(a->u.j) + json_object_size(a->u.j)))
            return 0;
        return json_equal((json_t *)a->u.j, (json_t *)b->u.j);
    default:
        return 0;
    }
}

static void eval(ev *c, int idx, val *out);

/* An array this evaluation made; kept in its list so that it is given back at the end. */
static json_t *own(ev *c, json_t *j)
{
    if (c->nowned >= SP_EXPR_MAX_OWNED) {
        json_decref(j);
        c->abort = 1;
        return NULL;
    }
    c->owned[c->nowned++] = j;
    return j;
}

/* Appends the items of v (an array) to dst: copies of the definition's data (which other
 * threads read, so its reference counts are never touched), shared items otherwise. */
static int join_items(ev *c, json_t *dst, const val *v)
{
    size_t i;
    json_t *item;
    json_array_foreach((json_t *)v->u.j, i, item)
    {
        if (step(c, 1))
            return -1;
        json_t *x = v->ref == SP_REF_DEF ? json_deep_copy(item) : json_incref(item);
        if (!x || json_array_append_new(dst, x) != 0) {
            c->abort = 1;
            return -1;
        }
    }
    return 0;
}

static void op_add(ev *c, val *a, val *b, val *out)
{
    if (a->t == SP_V_INT && b->t == SP_V_INT) {
        int64_t r;
        if (__builtin_add_overflow(a->u.i, b->u.i, &r))
            set_float(out, (double)a->u.i + (double)b->u.i);
        else
            set_int(out, r);
        return;
    }
    if (is_num(a) && is_num(b)) {
        set_float(out, num_of(a) + num_of(b));
        return;
    }
    if (a->t == SP_V_STR || b->t == SP_V_STR) {
        size_t start = c->arena->len;
        if (put_text(c, a) || put_text(c, b)) {
            set_null(out);
            return;
        }
        arena_str(out, start, c->arena->len - start);
        return;
    }
    if (a->t == SP_V_JSON && b->t == SP_V_JSON && json_is_array(a->u.j) && json_is_array(b->u.j)) {
        if (json_array_size(a->u.j) + json_array_size(b->u.j) > SP_EXPR_MAX_ARRAY) {
            set_null(out);
            return;
        }
        json_t *r = own(c, json_array());
        if (!r || join_items(c, r, a) || join_items(c, r, b)) {
            set_null(out);
            return;
        }
        memset(out, 0, sizeof *out);
        out->t = SP_V_JSON;
        out->u.j = r;
        out->ref = SP_REF_LOCAL;
        return;
    }
    set_null(out);
}

static void op_arith(int op, val *a, val *b, val *out)
{
    if (!is_num(a) || !is_num(b)) {
        set_null(out);
        return;
    }
    if (a->t == SP_V_INT && b->t == SP_V_INT) {
        int64_t x = a->u.i, y = b->u.i, r;
        switch (op) {
        case O_SUB:
            if (__builtin_sub_overflow(x, y, &r))
                set_float(out, (double)x - (double)y);
            else
                set_int(out, r);
            return;
        case O_MUL:
            if (__builtin_mul_overflow(x, y, &r))
                set_float(out, (double)x * (double)y);
            else
                set_int(out, r);
            return;
        case O_DIV:
            if (y == 0 || (x == INT64_MIN && y == -1))
                set_null(out);
            else if (x % y == 0)
                set_int(out, x / y);
            else
                set_float(out, (double)x / (double)y);
            return;
        case O_MOD:
            if (y == 0 || (x == INT64_MIN && y == -1))
                set_null(out);
            else
                set_int(out, x % y);
            return;
        }
    }
    double x = num_of(a), y = num_of(b);
    switch (op) {
    case O_SUB:
        set_float(out, x - y);
        return;
    case O_MUL:
        set_float(out, x * y);
        return;
    case O_DIV:
        if (y == 0)
            set_null(out);
        else
            set_float(out, x / y);
        return;
    case O_MOD:
        if (y == 0)
            set_null(out);
        else
            set_float(out, fmod(x, y));
        return;
    }
    set_null(out);
}

/* <, <=, >, >= on two numbers or two strings; anything else is false. */
static int order(ev *c, int op, val *a, val *b)
{
    int cmp;
    if (is_num(a) && is_num(b)) {
        if (a->t == SP_V_INT && b->t == SP_V_INT)
            cmp = a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
        else {
            double x = num_of(a), y = num_of(b);
            if (isnan(x) || isnan(y))
                return 0;
            cmp = x < y ? -1 : x > y;
        }
    } else if (a->t == SP_V_STR && b->t == SP_V_STR) {
        if ((a->enc || b->enc) && (as_text(c, a) || as_text(c, b)))
            return 0;
        size_t n = a->len < b->len ? a->len : b->len;
        cmp = memcmp(vs(c, a), vs(c, b), n);
        if (cmp == 0)
            cmp = a->len < b->len ? -1 : a->len > b->len;
    } else {
        return 0;
    }
    switch (op) {
    case O_LT:
        return cmp < 0;
    case O_LE:
        return cmp <= 0;
    case O_GT:
        return cmp > 0;
    default:
        return cmp >= 0;
    }
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t wall_ms(const sp_vuctx *ctx)
{
    return ctx->now_ms ? ctx->now_ms : sp_wall_ms();
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* Parses a whole string as an integer (optional sign, digits, spaces around); -1 if it is not. */
static int parse_int_text(const char *s, size_t n, int64_t *out)
{
    char buf[64];
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || end == buf)
        return -1;
    *out = v;
    return 0;
}

static int parse_float_text(const char *s, size_t n, double *out)
{
    char buf[128];
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* Only decimal numbers: strtod would also read hex, "inf" and "nan". */
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", buf[i]))
            return -1;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || end == buf || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Writes the hex of a digest to the arena. */
static void hex_result(ev *c, const uint8_t *d, size_t n, val *out)
{
    static const char lower[] = "0123456789abcdef";
    char h[2 * SP_SHA256_LEN];
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = lower[d[i] >> 4];
        h[2 * i + 1] = lower[d[i] & 15];
    }
    size_t start = c->arena->len;
    if (arena_add(c, h, 2 * n)) {
        set_null(out);
        return;
    }
    arena_str(out, start, 2 * n);
}

static void call(ev *c, const node *nd, val *out)
{
    const sp_vuctx *ctx = c->ctx;
    val a, b;
    int ai = nd->a, bi = ai >= 0 ? c->e->nodes[ai].next : -1;
    set_null(out);
    switch (nd->fn) {
    case F_RANDOM: {
        eval(c, ai, &a);
        if (a.t != SP_V_JSON || !json_is_array(a.u.j) || !json_array_size(a.u.j) || !ctx->rng)
            return;
        size_t n = json_array_size(a.u.j);
        size_t i = n > 1 ? (size_t)sp_rng_range(ctx->rng, 0, (int64_t)n - 1) : 0;
        from_json(out, json_array_get(a.u.j, i), a.ref);
        return;
    }
    case F_RANDINT: {
        eval(c, ai, &a);
        eval(c, bi, &b);
        if (a.t != SP_V_INT || b.t != SP_V_INT || a.u.i > b.u.i || !ctx->rng)
            return;
        /* sp_rng_range spans at most 2^63 - 1: a wider range is not something a test needs. */
        if ((a.u.i < 0 && b.u.i > INT64_MAX + a.u.i))
            return;
        set_int(out, sp_rng_range(ctx->rng, a.u.i, b.u.i));
        return;
    }
    case F_UUID: {
        if (!ctx->rng)
            return;
        uint64_t hi = sp_rng_next(ctx->rng), lo = sp_rng_next(ctx->rng);
        unsigned char by[16];
        for (int k = 0; k < 8; k++) {
            by[k] = (unsigned char)(hi >> (56 - 8 * k));
            by[8 + k] = (unsigned char)(lo >> (56 - 8 * k));
        }
        by[6] = (unsigned char)((by[6] & 0x0f) | 0x40); /* version 4 */
        by[8] = (unsigned char)((by[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        static const char lower[] = "0123456789abcdef";
        char u[36];
        size_t o = 0;
        for (int k = 0; k < 16; k++) {
            if (k == 4 || k == 6 || k == 8 || k == 10)
                u[o++] = '-';
            u[o++] = lower[by[k] >> 4];
            u[o++] = lower[by[k] & 15];
        }
        size_t start = c->arena->len;
        if (arena_add(c, u, o) == 0)
            arena_str(out, start, o);
        return;
    }
    case F_DATE:
    case F_NOW: {
        char buf[DATE_OUT_MAX];
        int64_t secs = floor_div(wall_ms(ctx), 1000);
        size_t n;
        if (nd->fn == F_DATE)
            n = format_time(buf, sizeof buf, secs + nd->i,
                            nd->len ? c->e->pool + nd->off : "%Y-%m-%d");
        else
            n = format_time(buf, sizeof buf, secs, "%Y-%m-%dT%H:%M:%SZ");
        size_t start = c->arena->len;
        if (arena_add(c, buf, n) == 0)
            arena_str(out, start, n);
        return;
    }
    case F_TIMESTAMP:
        set_int(out, floor_div(wall_ms(ctx), 1000));
        return;
    case F_URLENCODE:
        eval(c, ai, &a);
        if (a.t == SP_V_NULL)
            a.t = SP_V_STR, a.len = 0, a.u.s = "";
        if (a.t != SP_V_STR && as_text(c, &a))
            return;
        if (a.enc == UINT8_MAX)
            return;
        *out = a;
        out->enc++;
        return;
    case F_LEN:
        eval(c, ai, &a);
        if (a.t == SP_V_STR) {
            if (as_text(c, &a) || step(c, a.len / 16))
                return;
            set_int(out, (int64_t)utf8_chars(vs(c, &a), a.len));
        } else if (a.t == SP_V_JSON) {
            set_int(out, (int64_t)(json_is_array(a.u.j) ? json_array_size(a.u.j)
                                                        : json_object_size(a.u.j)));
        }
        return;
    case F_INT: {
        eval(c, ai, &a);
        int64_t i;
        double f;
        if (a.t == SP_V_INT)
            *out = a;
        else if (a.t == SP_V_FLOAT && a.u.f > -9.2e18 && a.u.f < 9.2e18)
            set_int(out, (int64_t)a.u.f);
        else if (a.t == SP_V_BOOL)
            set_int(out, a.u.b);
        else if (a.t == SP_V_STR && !as_text(c, &a) && parse_int_text(vs(c, &a), a.len, &i) == 0)
            set_int(out, i);
        else if (a.t == SP_V_STR && parse_float_text(vs(c, &a), a.len, &f) == 0 && f > -9.2e18 &&
                 f < 9.2e18)
            set_int(out, (int64_t)f);
        return;
    }
    case F_FLOAT: {
        eval(c, ai, &a);
        double f;
        if (is_num(&a))
            set_float(out, num_of(&a));
        else if (a.t == SP_V_BOOL)
            set_float(out, a.u.b);
        else if (a.t == SP_V_STR && !as_text(c, &a) && parse_float_text(vs(c, &a), a.len, &f) == 0)
            set_float(out, f);
        return;
    }
    case F_STR:
        eval(c, ai, &a);
        if (a.t == SP_V_NULL) {
            a.t = SP_V_STR;
            a.len = 0;
            a.u.s = "";
            a.inarena = 0;
        }
        if (as_text(c, &a) == 0)
            *out = a;
        return;
    case F_LOWER:
    case F_UPPER: {
        eval(c, ai, &a);
        if (a.t != SP_V_STR || as_text(c, &a) || step(c, a.len / 16))
            return;
        size_t start = c->arena->len;
        if (arena_reserve(c, a.len))
            return;
        const char *s = vs(c, &a);
        for (size_t i = 0; i < a.len; i++) {
            char ch = s[i];
            if (nd->fn == F_LOWER && ch >= 'A' && ch <= 'Z')
                ch = (char)(ch - 'A' + 'a');
            else if (nd->fn == F_UPPER && ch >= 'a' && ch <= 'z')
                ch = (char)(ch - 'a' + 'A');
            (void)arena_add(c, &ch, 1);
        }
        arena_str(out, start, a.len);
        return;
    }
    case F_CONTAINS: {
        eval(c, ai, &a);
        eval(c, bi, &b);
        set_bool(out, 0);
        if (a.t == SP_V_STR) {
            if (b.t != SP_V_STR || as_text(c, &a) || as_text(c, &b) || step(c, a.len / 16))
                return;
            const char *h = vs(c, &a), *nn = vs(c, &b);
            if (b.len == 0) {
                set_bool(out, 1);
                return;
            }
            for (size_t i = 0; i + b.len <= a.len; i++) {
                if (h[i] == nn[0] && memcmp(h + i, nn, b.len) == 0) {
                    set_bool(out, 1);
                    return;
                }
            }
        } else if (a.t == SP_V_JSON && json_is_array(a.u.j)) {
            size_t i;
            json_t *item;
            json_array_foreach((json_t *)a.u.j, i, item)
            {
                if (step(c, 1))
                    return;
                if (json_equal_val(c, item, &b)) {
                    set_bool(out, 1);
                    return;
                }
            }
        } else if (a.t == SP_V_JSON && b.t == SP_V_STR) {
            if (as_text(c, &b))
                return;
            set_bool(out, json_object_getn(a.u.j, vs(c, &b), b.len) != NULL);
        }
        return;
    }
    case F_SHA256:
    case F_BASE64: {
        eval(c, ai, &a);
        if (a.t == SP_V_NULL)
            a.t = SP_V_STR, a.len = 0, a.u.s = "", a.inarena = 0;
        if (as_text(c, &a) || step(c, a.len / 16))
            return;
        if (nd->fn == F_SHA256) {
            uint8_t d[SP_SHA256_LEN];
            sp_sha256_digest(vs(c, &a), a.len, d);
            hex_result(c, d, sizeof d, out);
            return;
        }
        size_t need = SP_BASE64_LEN((size_t)a.len);
        size_t start = c->arena->len;
        if (arena_reserve(c, need + 1))
            return;
        char *dst = c->arena->p + start;
        size_t n = sp_base64(vs(c, &a), a.len, dst);
        c->arena->len += n;
        c->arena->p[c->arena->len] = '\0';
        arena_str(out, start, n);
        return;
    }
    case F_HMAC: {
        eval(c, ai, &a);
        eval(c, bi, &b);
        if (a.t == SP_V_NULL)
            a.t = SP_V_STR, a.len = 0, a.u.s = "", a.inarena = 0;
        if (b.t == SP_V_NULL)
            b.t = SP_V_STR, b.len = 0, b.u.s = "", b.inarena = 0;
        if (as_text(c, &a) || as_text(c, &b) || step(c, (a.len + b.len) / 16))
            return;
        uint8_t d[SP_SHA256_LEN];
        sp_hmac_sha256(vs(c, &a), a.len, vs(c, &b), b.len, d);
        hex_result(c, d, sizeof d, out);
        return;
    }
    case F_RANDSTR: {
        eval(c, ai, &a);
        if (a.t != SP_V_INT || a.u.i < 0 || a.u.i > SP_EXPR_MAX_RANDOM_STRING || !ctx->rng ||
            step(c, (size_t)a.u.i / 16))
            return;
        static const char alnum[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        size_t start = c->arena->len;
        if (arena_reserve(c, (size_t)a.u.i))
            return;
        for (int64_t i = 0; i < a.u.i; i++) {
            char ch = alnum[sp_rng_next(ctx->rng) % 62];
            (void)arena_add(c, &ch, 1);
        }
        arena_str(out, start, (size_t)a.u.i);
        return;
    }
    }
}

static void eval(ev *c, int idx, val *out)
{
    const node *nd = &c->e->nodes[idx];
    const sp_vuctx *ctx = c->ctx;
    val a, b;
    if (step(c, 1)) {
        set_null(out);
        return;
    }
    switch (nd->op) {
    case O_NULL:
        set_null(out);
        return;
    case O_BOOL:
        set_bool(out, (int)nd->i);
        return;
    case O_INT:
        set_int(out, nd->i);
        return;
    case O_FLOAT:
        set_float(out, nd->f);
        return;
    case O_STR:
        memset(out, 0, sizeof *out);
        out->t = SP_V_STR;
        out->u.s = c->e->pool + nd->off;
        out->len = nd->len;
        return;
    case O_VAR:
        if (!ctx->vars || (size_t)nd->slot >= ctx->nvars)
            set_null(out);
        else
            from_value(out, &ctx->vars[nd->slot]);
        return;
    case O_VU:
        set_int(out, (int64_t)ctx->vu);
        return;
    case O_ITER:
        set_int(out, (int64_t)ctx->iteration);
        return;
    case O_STATUS:
        set_int(out, ctx->status);
        return;
    case O_ROW: {
        const json_t *f =
            json_is_object(ctx->row) ? json_object_get(ctx->row, c->e->pool + nd->off) : NULL;
        if (f)
            from_json(out, f, SP_REF_DEF);
        else
            set_null(out);
        return;
    }
    case O_SECRET:
        from_json(out, nd->j, SP_REF_DEF);
        return;
    case O_AT:
        if (c->at)
            from_json(out, c->at, SP_REF_LOCAL);
        else
            set_null(out);
        return;
    case O_DATA:
        memset(out, 0, sizeof *out);
        out->t = SP_V_JSON;
        out->u.j = nd->j;
        out->ref = SP_REF_DEF;
        return;
    case O_FIELD:
        eval(c, nd->a, &a);
        /* A field of anything but an object is null, not an error: a response's shape is
         * only known when the test runs. */
        if (a.t == SP_V_JSON && json_is_object(a.u.j)) {
            const json_t *f = json_object_get(a.u.j, c->e->pool + nd->off);
            if (f) {
                from_json(out, f, a.ref);
                return;
            }
        }
        set_null(out);
        return;
    case O_INDEX:
        eval(c, nd->a, &a);
        eval(c, nd->b, &b);
        set_null(out);
        if (a.t == SP_V_JSON && json_is_array(a.u.j) && b.t == SP_V_INT) {
            int64_t n = (int64_t)json_array_size(a.u.j), i = b.u.i;
            if (i < 0)
                i += n;
            if (i >= 0 && i < n)
                from_json(out, json_array_get(a.u.j, (size_t)i), a.ref);
        } else if (a.t == SP_V_JSON && json_is_object(a.u.j) && b.t == SP_V_STR) {
            if (as_text(c, &b))
                return;
            const json_t *f = json_object_getn(a.u.j, vs(c, &b), b.len);
            if (f)
                from_json(out, f, a.ref);
        }
        return;
    case O_NEG:
        eval(c, nd->a, &a);
        if (a.t == SP_V_INT && a.u.i != INT64_MIN)
            set_int(out, -a.u.i);
        else if (is_num(&a))
            set_float(out, -num_of(&a));
        else
            set_null(out);
        return;
    case O_NOT:
        eval(c, nd->a, &a);
        set_bool(out, !truthy(c, &a));
        return;
    case O_ADD:
        eval(c, nd->a, &a);
        eval(c, nd->b, &b);
        op_add(c, &a, &b, out);
        return;
    case O_SUB:
    case O_MUL:
    case O_DIV:
    case O_MOD:
        eval(c, nd->a, &a);
        eval(c, nd->b, &b);
        op_arith(nd->op, &a, &b, out);
        return;
    case O_EQ:
    case O_NE:
        eval(c, nd->a, &a);
        eval(c, nd->b, &b);
        set_bool(out, equal(c, &a, &b) == (nd->op == O_EQ));
        return;
    case O_LT:
    case O_LE:
    case O_GT:
    case O_GE:
        eval(c, nd->a, &a);
        eval(c, nd->b, &b);
        set_bool(out, order(c, nd->op, &a, &b));
        return;
    case O_AND:
        eval(c, nd->a, &a);
        if (!truthy(c, &a)) {
            set_bool(out, 0);
            return;
        }
        eval(c, nd->b, &b);
        set_bool(out, truthy(c, &b));
        return;
    case O_OR:
        eval(c, nd->a, &a);
        if (truthy(c, &a)) {
            set_bool(out, 1);
            return;
        }
        eval(c, nd->b, &b);
        set_bool(out, truthy(c, &b));
        return;
    case O_CALL:
        call(c, nd, out);
        return;
    }
    set_null(out);
}

void sp_expr_eval(const sp_expr *e, const sp_vuctx *ctx, const json_t *at, sp_value *out)
{
    sp_buf tmp;
    sp_buf_init(&tmp, SP_EXPR_MAX_TEXT);
    ev c = {.e = e, .ctx = ctx, .arena = ctx->arena ? ctx->arena : &tmp, .at = at};
    c.text0 = c.arena->len;
    val v;
    eval(&c, e->root, &v);
    memset(out, 0, sizeof *out);
    if (c.abort) {
        out->type = SP_V_NULL;
    } else {
        out->type = v.t;
        out->enc = v.enc;
        out->len = v.len;
        switch (v.t) {
        case SP_V_BOOL:
            out->u.b = v.u.b;
            break;
        case SP_V_INT:
            out->u.i = v.u.i;
            break;
        case SP_V_FLOAT:
            out->u.f = v.u.f;
            break;
        case SP_V_STR:
            if (v.inarena && c.arena == &tmp) {
                /* No arena to hand the text out in: see expr.h. */
                memset(out, 0, sizeof *out);
                out->type = SP_V_NULL;
            } else {
                out->u.s = vs(&c, &v);
            }
            break;
        case SP_V_JSON:
            out->u.j = v.u.j;
            out->ref = v.ref;
            /* An array made here goes to the caller with a reference of its own. */
            for (int i = 0; i < c.nowned; i++) {
                if (c.owned[i] == v.u.j) {
                    json_incref(c.owned[i]);
                    out->ref = SP_REF_OWNED;
                    break;
                }
            }
            break;
        default:
            break;
        }
    }
    for (int i = 0; i < c.nowned; i++)
        json_decref(c.owned[i]);
    sp_buf_release(&tmp);
}

/* ---- values ---- */

int sp_value_truthy(const sp_value *v)
{
    val x;
    from_value(&x, v);
    return truthy(NULL, &x);
}

void sp_value_drop(sp_value *v)
{
    if (v->type == SP_V_JSON && v->ref == SP_REF_OWNED)
        json_decref((json_t *)v->u.j);
    memset(v, 0, sizeof *v);
}

const char *sp_value_type_name(const sp_value *v)
{
    switch (v->type) {
    case SP_V_BOOL:
        return "a boolean";
    case SP_V_INT:
    case SP_V_FLOAT:
        return "a number";
    case SP_V_STR:
        return "a string";
    case SP_V_JSON:
        return json_is_array(v->u.j) ? "an array" : "an object";
    case SP_V_NULL:
        return "null";
    default:
        return "unset";
    }
}

/* ---- writing values out ---- */

static int esc_url(sp_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && is_unreserved((unsigned char)s[j]))
            j++;
        int rc = sp_buf_add(out, s + i, j - i);
        if (rc)
            return rc;
        if (j == n)
            break;
        unsigned char ch = (unsigned char)s[j];
        char e[3] = {'%', hexdig[ch >> 4], hexdig[ch & 15]};
        if ((rc = sp_buf_add(out, e, 3)))
            return rc;
        i = j + 1;
    }
    return 0;
}

static int esc_header(sp_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '\r' && s[j] != '\n' && s[j] != '\0')
            j++;
        int rc = sp_buf_add(out, s + i, j - i);
        if (rc)
            return rc;
        i = j + 1;
    }
    return 0;
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char ch = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (ch >= 0xC2 && ch <= 0xDF) {
        len = 2;
    } else if (ch >= 0xE0 && ch <= 0xEF) {
        len = 3;
        if (ch == 0xE0)
            lo = 0xA0;
        else if (ch == 0xED)
            hi = 0x9F;
    } else if (ch >= 0xF0 && ch <= 0xF4) {
        len = 4;
        if (ch == 0xF0)
            lo = 0x90;
        else if (ch == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Escapes for the inside of a JSON string. Values can come from a target's responses, which may
 * hold any bytes; invalid UTF-8 becomes U+FFFD so that the body stays valid JSON. */
static int esc_json(sp_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x80 && s[j] != '"' &&
               s[j] != '\\')
            j++;
        int rc = sp_buf_add(out, s + i, j - i);
        if (rc)
            return rc;
        if (j == n)
            break;
        unsigned char ch = (unsigned char)s[j];
        if (ch >= 0x80) {
            size_t len = utf8_seq((const unsigned char *)s + j, n - j);
            rc = len ? sp_buf_add(out, s + j, len) : sp_buf_add(out, "\\ufffd", 6);
            if (rc)
                return rc;
            i = j + (len ? len : 1);
            continue;
        }
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t en = 2;
        switch (ch) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hexdig[ch >> 4];
            e[5] = hexdig[ch & 15];
            en = 6;
        }
        if ((rc = sp_buf_add(out, e, en)))
            return rc;
        i = j + 1;
    }
    return 0;
}

static int esc_text(sp_buf *out, sp_esc esc, const char *s, size_t n)
{
    switch (esc) {
    case SP_ESC_URL:
        return esc_url(out, s, n);
    case SP_ESC_HEADER:
        return esc_header(out, s, n);
    case SP_ESC_JSON_STR:
    case SP_ESC_JSON_VALUE:
        return esc_json(out, s, n);
    case SP_ESC_NONE:
    default:
        return sp_buf_add(out, s, n);
    }
}

/*
 * Writes s percent-encoded nurl times, then escaped for esc. The encoded text is plain ASCII
 * without quotes, backslashes or control bytes, so the outer escaping leaves it alone; URL
 * escaping is skipped for it, as encoding an explicit urlencode() again would be a surprise.
 */
static int emit(sp_buf *out, sp_esc esc, int nurl, const char *s, size_t n)
{
    if (nurl == 0)
        return esc_text(out, esc, s, n);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && is_unreserved((unsigned char)s[j]))
            j++;
        int rc = sp_buf_add(out, s + i, j - i);
        if (rc)
            return rc;
        if (j == n)
            break;
        unsigned char ch = (unsigned char)s[j];
        if ((rc = sp_buf_addc(out, '%')))
            return rc;
        for (int k = 1; k < nurl; k++)
            if ((rc = sp_buf_add(out, "25", 2)))
                return rc;
        char e[2] = {hexdig[ch >> 4], hexdig[ch & 15]};
        if ((rc = sp_buf_add(out, e, 2)))
            return rc;
        i = j + 1;
    }
    return 0;
}

typedef struct emit_ctx {
    sp_buf *out;
    sp_esc esc;
    int rc;
} emit_ctx;

static int emit_cb(const char *buffer, size_t size, void *data)
{
    emit_ctx *ec = data;
    ec->rc = esc_text(ec->out, ec->esc, buffer, size);
    return ec->rc ? -1 : 0;
}

/* A JSON value's compact text through the escaper, without building a string. */
static int emit_json(sp_buf *out, sp_esc esc, const json_t *j)
{
    emit_ctx ec = {out, esc, 0};
    if (json_dump_callback(j, emit_cb, &ec,
                           JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) != 0)
        return ec.rc ? ec.rc : SP_ELIMIT;
    return 0;
}

static int write_text(const sp_value *v, sp_esc esc, sp_buf *out)
{
    char num[64];
    size_t n;
    switch (v->type) {
    case SP_V_STR:
        return emit(out, esc, v->enc, v->u.s, v->len);
    case SP_V_INT:
        n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->u.i);
        return esc_text(out, esc, num, n);
    case SP_V_FLOAT:
        n = format_float(v->u.f, num, sizeof num);
        return esc_text(out, esc, num, n);
    case SP_V_BOOL:
        return esc_text(out, esc, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
    case SP_V_JSON:
        return emit_json(out, esc, v->u.j);
    default:
        return 0;
    }
}

int sp_value_write(const sp_value *v, sp_esc esc, sp_buf *out)
{
    if (esc != SP_ESC_JSON_VALUE)
        return write_text(v, esc, out);
    switch (v->type) {
    case SP_V_UNSET:
    case SP_V_NULL:
        return sp_buf_add(out, "null", 4);
    case SP_V_STR: {
        int rc = sp_buf_addc(out, '"');
        if (!rc)
            rc = emit(out, SP_ESC_JSON_STR, v->enc, v->u.s, v->len);
        if (!rc)
            rc = sp_buf_addc(out, '"');
        return rc;
    }
    default:
        return write_text(v, SP_ESC_NONE, out);
    }
}

int sp_value_render(const sp_value *v, sp_buf *out)
{
    return sp_value_write(v, SP_ESC_NONE, out);
}

json_t *sp_value_to_json(const sp_value *v)
{
    switch (v->type) {
    case SP_V_BOOL:
        return json_boolean(v->u.b);
    case SP_V_INT:
        return json_integer(v->u.i);
    case SP_V_FLOAT:
        return json_real(v->u.f);
    case SP_V_STR: {
        if (v->enc) {
            sp_buf b;
            sp_buf_init(&b, SIZE_MAX);
            (void)emit(&b, SP_ESC_NONE, v->enc, v->u.s, v->len);
            json_t *j = json_stringn(b.p, b.len);
            sp_buf_release(&b);
            return j ? j : json_string("");
        }
        json_t *j = json_stringn(v->u.s, v->len);
        return j ? j : json_string("");
    }
    case SP_V_JSON:
        return json_deep_copy(v->u.j);
    default:
        return json_null();
    }
}

int sp_value_equal(const sp_value *a, const sp_value *b)
{
    sp_buf tmp;
    sp_buf_init(&tmp, SP_EXPR_MAX_TEXT);
    ev c = {.arena = &tmp};
    val x, y;
    from_value(&x, a);
    from_value(&y, b);
    int r = equal(&c, &x, &y);
    sp_buf_release(&tmp);
    return r;
}
