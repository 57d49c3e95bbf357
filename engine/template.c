/*
 * template.c - see template.h.
 *
 * A compiled template is a flat array of parts: literal bytes (kept in one text pool) or holes.
 * A hole is the root of a small expression tree kept in a node array. The only operators that
 * evaluate an operand at render time are urlencode() and ".field", so an expression evaluates
 * as a chain, with one small stack buffer for the one leaf that formats text (uuid, date, now).
 * Strings live in the pool as offsets, not pointers, because the pool moves while it grows.
 *
 * Rendering never allocates: values are written straight into the caller's sp_buf through the
 * hole's escaper, data items through json_dump_callback().
 */
#include "engine/template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum node_kind {
    N_STR,     /* "text": pool[off, len) */
    N_INT,     /* an integer literal (only where a function takes one, or alone) */
    N_VAR,     /* a VU variable: slot */
    N_ROW,     /* row.NAME: pool[off] is the NUL-terminated field name */
    N_FIELD,   /* child.NAME: a field of a data item */
    N_RANDOM,  /* random(list): list */
    N_RANDINT, /* randint(a, b) */
    N_UUID,
    N_DATE, /* date(a seconds, fmt pool[off, len) or YYYY-MM-DD when len == 0) */
    N_NOW,
    N_TIMESTAMP,
    N_URLENCODE, /* urlencode(child) */
    N_VU,
    N_ITERATION,
    N_STATUS,
    N_SECRET, /* secret.NAME: the value, a JSON string borrowed from the scope (list) */
};

typedef struct node {
    int kind;
    int child;          /* N_FIELD, N_URLENCODE: the operand's node index */
    int slot;           /* N_VAR */
    uint32_t off, len;  /* N_STR, N_ROW, N_FIELD, N_DATE: text in the pool */
    const json_t *list; /* N_RANDOM: borrowed from the scope's data; N_SECRET: the value */
    int64_t a, b;       /* N_INT: a; N_RANDINT: [a, b]; N_DATE: offset seconds in a */
} node;

typedef struct part {
    int hole; /* 0: literal pool[off, len); 1: the expression rooted at node root */
    sp_esc esc;
    uint32_t off, len;
    int root;
} part;

struct sp_tmpl {
    part *parts;
    size_t nparts, partcap;
    node *nodes;
    size_t nnodes, nodecap;
    char *pool;
    size_t plen, pcap;
    size_t nholes; /* holes compiled, string literals folded into text included */
    size_t litsrc; /* literal source bytes compiled (to spot a template of one hole) */
};

/* Integer literals are kept well inside what sp_rng_range() can span without overflow. */
#define INT_LIT_MAX 1000000000000000LL
/* date() offsets up to a century each way keep gmtime_r() far from its limits. */
#define DATE_OFFSET_MAX_S (36525LL * 86400)
#define DATE_FMT_MAX 64
#define DATE_OUT_MAX 256
/* Room for the longest text a leaf formats: a date, a UUID or an ISO time. */
#define SCRATCH_MAX DATE_OUT_MAX

/* ---- building ---- */

sp_tmpl *sp_tmpl_new(void)
{
    return sp_calloc(1, sizeof(sp_tmpl));
}

void sp_tmpl_free(sp_tmpl *t)
{
    if (!t)
        return;
    free(t->parts);
    free(t->nodes);
    free(t->pool);
    free(t);
}

/* The pool always keeps a NUL after its last byte (not counted in plen), so the text of a
 * constant template, which ends the pool, is a C string. */
static uint32_t pool_add(sp_tmpl *t, const char *s, size_t n, int nul)
{
    size_t need = t->plen + n + (nul ? 1 : 0) + 1;
    sp_grow((void **)&t->pool, &t->pcap, need, 1);
    uint32_t off = (uint32_t)t->plen;
    if (n)
        memcpy(t->pool + t->plen, s, n);
    t->plen += n;
    if (nul)
        t->pool[t->plen++] = '\0';
    t->pool[t->plen] = '\0';
    return off;
}

static void add_literal_bytes(sp_tmpl *t, const char *s, size_t n)
{
    if (n == 0)
        return;
    part *last = t->nparts ? &t->parts[t->nparts - 1] : NULL;
    /* Adjacent literals merge when the last one ends the pool, so a constant template is one part.
     */
    if (last && !last->hole && last->off + last->len == t->plen) {
        pool_add(t, s, n, 0);
        last->len += (uint32_t)n;
        return;
    }
    sp_grow((void **)&t->parts, &t->partcap, t->nparts + 1, sizeof(part));
    part *p = &t->parts[t->nparts++];
    memset(p, 0, sizeof *p);
    p->off = pool_add(t, s, n, 0);
    p->len = (uint32_t)n;
}

static void join_constant(sp_tmpl *t);

void sp_tmpl_add_literal(sp_tmpl *t, const char *s, size_t n)
{
    add_literal_bytes(t, s, n);
    join_constant(t);
}

static int new_node(sp_tmpl *t, int kind)
{
    sp_grow((void **)&t->nodes, &t->nodecap, t->nnodes + 1, sizeof(node));
    node *nd = &t->nodes[t->nnodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->child = -1;
    nd->slot = -1;
    return (int)t->nnodes++;
}

/* ---- escaping and emitting ---- */

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static const char hexdig[] = "0123456789ABCDEF";

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
        unsigned char c = (unsigned char)s[j];
        char e[3] = {'%', hexdig[c >> 4], hexdig[c & 15]};
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
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
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

/*
 * Escapes for the inside of a JSON string. Values can come from a target's responses, which
 * may hold any bytes; invalid UTF-8 becomes U+FFFD so that the body stays valid JSON.
 */
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
        unsigned char c = (unsigned char)s[j];
        if (c >= 0x80) {
            size_t len = utf8_seq((const unsigned char *)s + j, n - j);
            rc = len ? sp_buf_add(out, s + j, len) : sp_buf_add(out, "\\ufffd", 6);
            if (rc)
                return rc;
            i = j + (len ? len : 1);
            continue;
        }
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t en = 2;
        switch (c) {
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
            e[4] = hexdig[c >> 4];
            e[5] = hexdig[c & 15];
            en = 6;
        }
        if ((rc = sp_buf_add(out, e, en)))
            return rc;
        i = j + 1;
    }
    return 0;
}

/* Escapes text for esc; JSON_VALUE callers add the quotes themselves. */
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
 * Writes s percent-encoded nurl times, then escaped for esc. Encoding k times maps a reserved
 * byte to "%" + "25" x (k - 1) + its hex, so no intermediate copy is needed. The encoded text
 * is plain ASCII without quotes, backslashes or control bytes, so the outer escaping leaves it
 * alone; URL escaping is skipped for it, as encoding an explicit urlencode() again would be a
 * surprise.
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
        unsigned char c = (unsigned char)s[j];
        if ((rc = sp_buf_addc(out, '%')))
            return rc;
        for (int k = 1; k < nurl; k++)
            if ((rc = sp_buf_add(out, "25", 2)))
                return rc;
        char e[2] = {hexdig[c >> 4], hexdig[c & 15]};
        if ((rc = sp_buf_add(out, e, 2)))
            return rc;
        i = j + 1;
    }
    return 0;
}

typedef struct emit_ctx {
    sp_buf *out;
    sp_esc esc;
    int nurl;
    int rc;
} emit_ctx;

static int emit_cb(const char *buffer, size_t size, void *data)
{
    emit_ctx *ec = data;
    ec->rc = emit(ec->out, ec->esc, ec->nurl, buffer, size);
    return ec->rc ? -1 : 0;
}

/* Writes a JSON value's compact text through the escaper, without building a string. */
/* Reals print with 15 significant digits, so 19.99 in a definition renders as 19.99. */
static int emit_json(sp_buf *out, sp_esc esc, int nurl, const json_t *j)
{
    emit_ctx ec = {out, esc, nurl, 0};
    if (json_dump_callback(j, emit_cb, &ec,
                           JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) != 0)
        return ec.rc ? ec.rc : SP_ELIMIT;
    return 0;
}

/* ---- evaluation ---- */

enum val_type { V_NONE, V_STR, V_INT, V_ITEM };

typedef struct val {
    int type;
    const char *s;
    size_t len;
    int64_t i;
    const json_t *item;
    int nurl; /* how many urlencode() calls wrap the value */
} val;

static void val_from_item(val *v, const json_t *item)
{
    if (!item) {
        v->type = V_NONE;
        return;
    }
    v->type = V_ITEM;
    v->item = item;
}

static int64_t wall_ms(const sp_vuctx *ctx)
{
    return ctx->now_ms ? ctx->now_ms : sp_wall_ms();
}

/* Formats seconds since the epoch with fmt into scratch; an empty result when it does not fit. */
static size_t format_time(char *scratch, size_t cap, int64_t secs, const char *fmt)
{
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return 0;
        /* The format was checked when the template was compiled; it is not a literal here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = strftime(scratch, cap, fmt, &tm);
#pragma GCC diagnostic pop
    return n;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void eval(const sp_tmpl *t, int idx, const sp_vuctx *ctx, char *scratch, val *v)
{
    const node *nd = &t->nodes[idx];
    switch (nd->kind) {
    case N_STR:
        v->type = V_STR;
        v->s = t->pool + nd->off;
        v->len = nd->len;
        return;
    case N_INT:
        v->type = V_INT;
        v->i = nd->a;
        return;
    case N_VAR:
        if ((size_t)nd->slot >= ctx->nvars || !ctx->vars) {
            v->type = V_NONE;
        } else if (ctx->vars[nd->slot].item) {
            val_from_item(v, ctx->vars[nd->slot].item);
        } else if (ctx->vars[nd->slot].s) {
            v->type = V_STR;
            v->s = ctx->vars[nd->slot].s;
            v->len = ctx->vars[nd->slot].len;
        } else {
            v->type = V_NONE;
        }
        return;
    case N_ROW:
        val_from_item(v, json_is_object(ctx->row) ? json_object_get(ctx->row, t->pool + nd->off)
                                                  : NULL);
        return;
    case N_FIELD:
        eval(t, nd->child, ctx, scratch, v);
        /* A field of anything but an object (or of an unset variable) is unset, not an error:
         * the item's shape is only known when the test runs. */
        if (v->type == V_ITEM && json_is_object(v->item))
            val_from_item(v, json_object_get(v->item, t->pool + nd->off));
        else
            v->type = V_NONE;
        return;
    case N_RANDOM: {
        size_t n = json_array_size(nd->list);
        size_t i = n > 1 ? (size_t)sp_rng_range(ctx->rng, 0, (int64_t)n - 1) : 0;
        val_from_item(v, json_array_get(nd->list, i));
        return;
    }
    case N_RANDINT:
        v->type = V_INT;
        v->i = sp_rng_range(ctx->rng, nd->a, nd->b);
        return;
    case N_UUID: {
        uint64_t hi = sp_rng_next(ctx->rng), lo = sp_rng_next(ctx->rng);
        unsigned char b[16];
        for (int k = 0; k < 8; k++) {
            b[k] = (unsigned char)(hi >> (56 - 8 * k));
            b[8 + k] = (unsigned char)(lo >> (56 - 8 * k));
        }
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        static const char lower[] = "0123456789abcdef";
        size_t o = 0;
        for (int k = 0; k < 16; k++) {
            if (k == 4 || k == 6 || k == 8 || k == 10)
                scratch[o++] = '-';
            scratch[o++] = lower[b[k] >> 4];
            scratch[o++] = lower[b[k] & 15];
        }
        v->type = V_STR;
        v->s = scratch;
        v->len = o;
        return;
    }
    case N_DATE: {
        int64_t secs = floor_div(wall_ms(ctx), 1000) + nd->a;
        v->type = V_STR;
        v->s = scratch;
        v->len = format_time(scratch, SCRATCH_MAX, secs, nd->len ? t->pool + nd->off : "%Y-%m-%d");
        return;
    }
    case N_NOW:
        v->type = V_STR;
        v->s = scratch;
        v->len =
            format_time(scratch, SCRATCH_MAX, floor_div(wall_ms(ctx), 1000), "%Y-%m-%dT%H:%M:%SZ");
        return;
    case N_TIMESTAMP:
        v->type = V_INT;
        v->i = floor_div(wall_ms(ctx), 1000);
        return;
    case N_URLENCODE:
        eval(t, nd->child, ctx, scratch, v);
        v->nurl++;
        return;
    case N_VU:
        v->type = V_INT;
        v->i = (int64_t)ctx->vu;
        return;
    case N_ITERATION:
        v->type = V_INT;
        v->i = (int64_t)ctx->iteration;
        return;
    case N_STATUS:
        v->type = V_INT;
        v->i = ctx->status;
        return;
    case N_SECRET:
        v->type = V_STR;
        v->s = json_string_value(nd->list);
        v->len = json_string_length(nd->list);
        return;
    default:
        v->type = V_NONE;
        return;
    }
}

/* Writes a value's text form (an item's string as its text, other items as JSON). */
static int emit_val_text(sp_buf *out, sp_esc esc, const val *v)
{
    switch (v->type) {
    case V_STR:
        return emit(out, esc, v->nurl, v->s, v->len);
    case V_INT: {
        char num[24];
        int n = snprintf(num, sizeof num, "%lld", (long long)v->i);
        return emit(out, esc, v->nurl, num, (size_t)n);
    }
    case V_ITEM:
        if (json_is_string(v->item))
            return emit(out, esc, v->nurl, json_string_value(v->item), json_string_length(v->item));
        return emit_json(out, esc, v->nurl, v->item);
    default:
        return 0;
    }
}

/* A JSON_VALUE hole: numbers bare, data items as their JSON, everything else a quoted string. */
static int emit_val_json(sp_buf *out, const val *v)
{
    if (v->nurl == 0 && v->type == V_INT)
        return emit_val_text(out, SP_ESC_NONE, v);
    if (v->nurl == 0 && v->type == V_ITEM)
        return emit_json(out, SP_ESC_NONE, 0, v->item);
    int rc = sp_buf_addc(out, '"');
    if (!rc)
        rc = emit_val_text(out, SP_ESC_JSON_STR, v);
    if (!rc)
        rc = sp_buf_addc(out, '"');
    return rc;
}

static int render_hole(const sp_tmpl *t, const part *p, const sp_vuctx *ctx, sp_buf *out)
{
    char scratch[SCRATCH_MAX];
    val v = {0};
    eval(t, p->root, ctx, scratch, &v);
    if (p->esc == SP_ESC_JSON_VALUE)
        return emit_val_json(out, &v);
    return emit_val_text(out, p->esc, &v);
}

int sp_tmpl_render(const sp_tmpl *t, const sp_vuctx *ctx, sp_buf *out)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const part *p = &t->parts[i];
        int rc = p->hole ? render_hole(t, p, ctx, out) : sp_buf_add(out, t->pool + p->off, p->len);
        if (rc)
            return rc;
    }
    return 0;
}

int sp_tmpl_eval(const sp_tmpl *t, const sp_vuctx *ctx, sp_value *out, sp_buf *scratch)
{
    out->s = NULL;
    out->len = 0;
    out->item = NULL;
    size_t start = scratch->len;
    int rc;
    if (t->nparts == 1 && t->parts[0].hole) {
        /* One hole: evaluate it once, so a random draw is not made twice. */
        char buf[SCRATCH_MAX];
        val v = {0};
        eval(t, t->parts[0].root, ctx, buf, &v);
        if (v.type == V_ITEM && v.nurl == 0) {
            out->item = v.item;
            return 0;
        }
        rc = t->parts[0].esc == SP_ESC_JSON_VALUE ? emit_val_json(scratch, &v)
                                                  : emit_val_text(scratch, t->parts[0].esc, &v);
    } else {
        rc = sp_tmpl_render(t, ctx, scratch);
    }
    if (rc)
        return rc;
    out->s = scratch->p + start;
    out->len = scratch->len - start;
    return 0;
}

int sp_value_render(const sp_value *v, sp_buf *out)
{
    if (v->item) {
        val x = {0};
        val_from_item(&x, v->item);
        return emit_val_text(out, SP_ESC_NONE, &x);
    }
    if (v->s)
        return sp_buf_add(out, v->s, v->len);
    return 0;
}

int sp_tmpl_is_constant(const sp_tmpl *t)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].hole)
            return 0;
    return 1;
}

const char *sp_tmpl_constant(const sp_tmpl *t, size_t *len)
{
    if (t->nparts == 1 && !t->parts[0].hole) {
        if (len)
            *len = t->parts[0].len;
        return t->pool + t->parts[0].off;
    }
    /* Every constant template has at most one part (literals merge); an empty one has none. */
    if (len)
        *len = 0;
    return "";
}

/* ---- compiling ---- */

typedef struct parser {
    sp_tmpl *t;
    const sp_scope *scope;
    const char *src; /* the whole source, for byte offsets */
    size_t n;
    size_t pos;
    size_t hole_start; /* offset of the current hole's "{{" */
    char *err;
    size_t errlen;
    int failed;
} parser;

static const char *const func_names[] = {"random", "randint",   "uuid",     "date",
                                         "now",    "timestamp", "urlencode"};

/* The current hole as written, shortened, for messages. */
static void hole_text(const parser *ps, char *buf, size_t len)
{
    const char *h = ps->src + ps->hole_start;
    size_t rest = ps->n - ps->hole_start, end = rest;
    for (size_t i = 2; i + 1 < rest; i++) {
        if (h[i] == '}' && h[i + 1] == '}') {
            end = i + 2;
            break;
        }
    }
    size_t max = 60;
    if (end > max)
        snprintf(buf, len, "%.*s...", (int)max, h);
    else
        snprintf(buf, len, "%.*s", (int)end, h);
}

static void fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error only: later ones are consequences of it. */
static void fail(parser *ps, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    if (!ps->err || ps->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, ps->errlen, fmt, ap);
    va_end(ap);
}

static void skip_ws(parser *ps)
{
    while (ps->pos < ps->n && (ps->src[ps->pos] == ' ' || ps->src[ps->pos] == '\t'))
        ps->pos++;
}

static int is_ident_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static int peek(const parser *ps)
{
    return ps->pos < ps->n ? (unsigned char)ps->src[ps->pos] : -1;
}

/* Reads an identifier into buf (NUL-terminated); 0 when there is none or it is too long. */
static size_t read_ident(parser *ps, char *buf, size_t len)
{
    size_t start = ps->pos;
    if (ps->pos >= ps->n || !is_ident_start(ps->src[ps->pos]))
        return 0;
    while (ps->pos < ps->n && is_ident_char(ps->src[ps->pos]))
        ps->pos++;
    size_t n = ps->pos - start;
    if (n >= len) {
        char h[80];
        hole_text(ps, h, sizeof h);
        fail(ps, "name too long in %s", h);
        return 0;
    }
    memcpy(buf, ps->src + start, n);
    buf[n] = '\0';
    return n;
}

static void fail_unexpected(parser *ps)
{
    char h[80];
    hole_text(ps, h, sizeof h);
    if (ps->pos >= ps->n || (ps->pos + 1 == ps->n && ps->src[ps->pos] == '}'))
        fail(ps, "unterminated '{{' at byte %zu", ps->hole_start);
    else
        fail(ps, "unexpected '%c' at byte %zu in %s", ps->src[ps->pos], ps->pos, h);
}

/* A string literal in double or single quotes, with \\, \", \', \n, \t and \r escapes. */
static int parse_string(parser *ps)
{
    char q = ps->src[ps->pos++];
    sp_buf b;
    sp_buf_init(&b, SP_TMPL_MAX_SOURCE);
    int idx = -1;
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
            default: {
                char h[80];
                hole_text(ps, h, sizeof h);
                fail(ps, "unknown escape '\\%c' in a string in %s", c, h);
                goto out;
            }
            }
        }
        sp_buf_addc(&b, c);
    }
    if (ps->pos >= ps->n) {
        fail(ps, "unterminated string in the '{{' at byte %zu", ps->hole_start);
        goto out;
    }
    ps->pos++; /* the closing quote */
    idx = new_node(ps->t, N_STR);
    ps->t->nodes[idx].off = pool_add(ps->t, b.p, b.len, 1);
    ps->t->nodes[idx].len = (uint32_t)b.len;
out:
    sp_buf_release(&b);
    return idx;
}

/*
 * A number token: [+-]digits, then letters (a unit, for date offsets). *unit gets the letters
 * (at most a few); returns 0 on success.
 */
static int parse_number(parser *ps, int64_t *value, char *unit, size_t unitlen)
{
    size_t start = ps->pos;
    int neg = 0;
    if (peek(ps) == '+' || peek(ps) == '-')
        neg = ps->src[ps->pos++] == '-';
    int64_t v = 0;
    size_t digits = 0;
    while (ps->pos < ps->n && ps->src[ps->pos] >= '0' && ps->src[ps->pos] <= '9') {
        v = v * 10 + (ps->src[ps->pos++] - '0');
        digits++;
        if (v > INT_LIT_MAX) {
            char h[80];
            hole_text(ps, h, sizeof h);
            fail(ps, "number too large at byte %zu in %s (at most %lld)", start, h, INT_LIT_MAX);
            return -1;
        }
    }
    if (digits == 0) {
        ps->pos = start;
        fail_unexpected(ps);
        return -1;
    }
    size_t u = 0;
    while (ps->pos < ps->n && is_ident_char(ps->src[ps->pos])) {
        if (u + 1 < unitlen)
            unit[u] = ps->src[ps->pos];
        u++;
        ps->pos++;
    }
    unit[u + 1 < unitlen ? u : unitlen - 1] = '\0';
    *value = neg ? -v : v;
    return 0;
}

static int parse_expr(parser *ps, int depth);

static const char *const *data_names(const sp_scope *scope, size_t *n)
{
    *n = 0;
    if (!json_is_object(scope->data))
        return NULL;
    size_t cnt = json_object_size(scope->data);
    const char **names = sp_calloc(cnt ? cnt : 1, sizeof *names);
    const char *key;
    json_t *value;
    /* json_object_foreach takes a non-const object; the loop only reads it. */
    json_object_foreach((json_t *)scope->data, key, value)
    {
        SP_UNUSED(value);
        names[(*n)++] = key;
    }
    return names;
}

static void fail_unknown_name(parser *ps, const char *name)
{
    const sp_scope *sc = ps->scope;
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
    char h[80];
    hole_text(ps, h, sizeof h);
    int is_data = json_object_get(sc->data, name) != NULL;
    if (is_data)
        fail(ps, "'%s' is a data list, not a variable, in %s (use random(%s))", name, h, name);
    else if (best)
        fail(ps, "unknown variable '%s' in %s (did you mean '%s'?)", name, h, best);
    else
        fail(ps, "unknown variable '%s' in %s", name, h);
    free(cand);
    free((void *)dn);
}

/* secret.NAME, after "secret". Messages name the secret, never its value. */
static int resolve_secret(parser *ps)
{
    const sp_scope *sc = ps->scope;
    char h[80], field[128];
    hole_text(ps, h, sizeof h);
    if (peek(ps) != '.') {
        fail(ps, "'secret' needs a name (secret.NAME) in %s", h);
        return -1;
    }
    ps->pos++;
    if (!read_ident(ps, field, sizeof field)) {
        fail(ps, "'secret' needs a name (secret.NAME) in %s", h);
        return -1;
    }
    const json_t *sval = json_object_get(sc->secrets, field);
    if (!json_is_string(sval)) {
        size_t n = json_object_size(sc->secrets), k = 0;
        if (!n) {
            fail(ps, "no secrets in this test, so 'secret.%s' in %s cannot be set", field, h);
            return -1;
        }
        const char **names = sp_calloc(n, sizeof *names);
        const char *key;
        const json_t *v;
        json_object_foreach ((json_t *)sc->secrets, key, v)
            names[k++] = key;
        const char *best = sp_suggest(field, names, k);
        if (best)
            fail(ps, "unknown secret '%s' in %s (did you mean '%s'?)", field, h, best);
        else
            fail(ps, "unknown secret '%s' in %s", field, h);
        free(names);
        return -1;
    }
    int idx = new_node(ps->t, N_SECRET);
    ps->t->nodes[idx].list = sval;
    return idx;
}

static int resolve_name(parser *ps, const char *name)
{
    const sp_scope *sc = ps->scope;
    /* VU variables first: a test that extracts a field called "status" means its own value. */
    for (size_t i = 0; i < sc->nvars; i++) {
        if (strcmp(sc->vars[i], name) == 0) {
            int idx = new_node(ps->t, N_VAR);
            ps->t->nodes[idx].slot = (int)i;
            return idx;
        }
    }
    if (strcmp(name, "vu") == 0)
        return new_node(ps->t, N_VU);
    if (strcmp(name, "iteration") == 0)
        return new_node(ps->t, N_ITERATION);
    if (strcmp(name, "status") == 0)
        return new_node(ps->t, N_STATUS);
    if (strcmp(name, "row") == 0) {
        char h[80];
        hole_text(ps, h, sizeof h);
        if (peek(ps) != '.') {
            fail(ps, "'row' needs a field name (row.NAME) in %s", h);
            return -1;
        }
        ps->pos++;
        char field[128];
        if (!read_ident(ps, field, sizeof field)) {
            fail(ps, "'row' needs a field name (row.NAME) in %s", h);
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
                fail(ps, "no CSV row fields in this test, so 'row.%s' in %s cannot be set", field,
                     h);
            else if (best)
                fail(ps, "unknown row field '%s' in %s (did you mean '%s'?)", field, h, best);
            else
                fail(ps, "unknown row field '%s' in %s", field, h);
            return -1;
        }
        int idx = new_node(ps->t, N_ROW);
        ps->t->nodes[idx].off = pool_add(ps->t, field, strlen(field), 1);
        ps->t->nodes[idx].len = (uint32_t)strlen(field);
        return idx;
    }
    if (strcmp(name, "secret") == 0)
        return resolve_secret(ps);
    fail_unknown_name(ps, name);
    return -1;
}

static int parse_random_arg(parser *ps, int *out)
{
    char h[80], name[128];
    hole_text(ps, h, sizeof h);
    skip_ws(ps);
    if (!read_ident(ps, name, sizeof name)) {
        fail(ps, "random() takes the name of a data list, as in random(product_ids), in %s", h);
        return -1;
    }
    const json_t *list = json_object_get(ps->scope->data, name);
    if (!list) {
        size_t nd = 0;
        const char *const *dn = data_names(ps->scope, &nd);
        const char *best = sp_suggest(name, dn, nd);
        if (best)
            fail(ps, "no data list named '%s' in %s (did you mean '%s'?)", name, h, best);
        else
            fail(ps, "no data list named '%s' in %s", name, h);
        free((void *)dn);
        return -1;
    }
    if (!json_is_array(list)) {
        fail(ps, "data '%s' is not a list in %s", name, h);
        return -1;
    }
    if (json_array_size(list) == 0) {
        fail(ps, "data list '%s' is empty in %s", name, h);
        return -1;
    }
    int idx = new_node(ps->t, N_RANDOM);
    ps->t->nodes[idx].list = list;
    *out = idx;
    return 0;
}

static int parse_int_arg(parser *ps, const char *fn, int64_t *v)
{
    char unit[8], h[80];
    skip_ws(ps);
    int c = peek(ps);
    if (c != '+' && c != '-' && !(c >= '0' && c <= '9')) {
        hole_text(ps, h, sizeof h);
        fail(ps, "%s() takes integer arguments, as in randint(1, 10), in %s", fn, h);
        return -1;
    }
    if (parse_number(ps, v, unit, sizeof unit))
        return -1;
    if (unit[0]) {
        hole_text(ps, h, sizeof h);
        fail(ps, "%s() takes integer arguments, as in randint(1, 10), in %s", fn, h);
        return -1;
    }
    return 0;
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

static int parse_date_args(parser *ps, int idx)
{
    char h[80], tok[40];
    hole_text(ps, h, sizeof h);
    skip_ws(ps);
    int c = peek(ps);
    /* The offset is a bare token (date(-30d)) or a string (date("-30d")). */
    if (c == '"' || c == '\'') {
        int s = parse_string(ps);
        if (s < 0)
            return -1;
        const node *sn = &ps->t->nodes[s];
        snprintf(tok, sizeof tok, "%.*s", (int)(sn->len < 39 ? sn->len : 39),
                 ps->t->pool + sn->off);
        if (sn->len >= 39)
            tok[0] = 'x'; /* too long to be an offset */
    } else if (c == '+' || c == '-' || (c >= '0' && c <= '9')) {
        int64_t v;
        char unit[8];
        if (parse_number(ps, &v, unit, sizeof unit))
            return -1;
        snprintf(tok, sizeof tok, "%lld%s", (long long)v, unit);
    } else {
        fail(ps, "date() takes an offset such as -30d, +2h, -15m or 0 in %s", h);
        return -1;
    }
    int64_t secs;
    if (offset_seconds(tok, &secs)) {
        fail(ps,
             "bad date() offset '%s' in %s (use a number with s, m, h, d or w, e.g. -30d; "
             "at most 100 years)",
             tok, h);
        return -1;
    }
    ps->t->nodes[idx].a = secs;
    skip_ws(ps);
    if (peek(ps) != ',')
        return 0;
    ps->pos++;
    skip_ws(ps);
    c = peek(ps);
    if (c != '"' && c != '\'') {
        fail(ps, "date() takes its format as a string, as in date(0, \"%%d/%%m/%%Y\"), in %s", h);
        return -1;
    }
    int s = parse_string(ps);
    if (s < 0)
        return -1;
    const node *sn = &ps->t->nodes[s];
    const char *fmt = ps->t->pool + sn->off;
    /* Formats are bounded so that every expansion fits the render's stack buffer: a format
     * must fit half of it at the epoch, and day and month names vary far less than twofold. */
    char probe[SCRATCH_MAX];
    if (sn->len == 0 || sn->len > DATE_FMT_MAX || strlen(fmt) != sn->len ||
        format_time(probe, SCRATCH_MAX / 2, 0, fmt) == 0) {
        fail(ps, "bad date() format in %s (a strftime format of 1 to %d bytes)", h, DATE_FMT_MAX);
        return -1;
    }
    ps->t->nodes[idx].off = sn->off;
    ps->t->nodes[idx].len = sn->len;
    return 0;
}

static int parse_call(parser *ps, const char *fn, int depth)
{
    char h[80];
    hole_text(ps, h, sizeof h);
    size_t fi = 0;
    for (; fi < SP_ARRAY_LEN(func_names); fi++)
        if (strcmp(func_names[fi], fn) == 0)
            break;
    if (fi == SP_ARRAY_LEN(func_names)) {
        const char *best = sp_suggest(fn, func_names, SP_ARRAY_LEN(func_names));
        if (best)
            fail(ps, "unknown function '%s' in %s (did you mean '%s'?)", fn, h, best);
        else
            fail(ps,
                 "unknown function '%s' in %s (known: random, randint, uuid, date, now, "
                 "timestamp, urlencode)",
                 fn, h);
        return -1;
    }
    if (depth >= SP_TMPL_MAX_EXPR_DEPTH) {
        fail(ps, "calls nested more than %d deep in %s", SP_TMPL_MAX_EXPR_DEPTH, h);
        return -1;
    }
    ps->pos++; /* '(' */
    skip_ws(ps);
    int empty = peek(ps) == ')';
    int idx = -1;
    int want = 0; /* arguments parsed */
    if (strcmp(fn, "random") == 0) {
        if (empty) {
            fail(ps, "random() takes 1 argument, the name of a data list, in %s", h);
            return -1;
        }
        if (parse_random_arg(ps, &idx))
            return -1;
        want = 1;
    } else if (strcmp(fn, "randint") == 0) {
        idx = new_node(ps->t, N_RANDINT);
        if (empty) {
            fail(ps, "randint() takes 2 arguments, got 0, in %s", h);
            return -1;
        }
        int64_t lo, hi;
        if (parse_int_arg(ps, fn, &lo))
            return -1;
        skip_ws(ps);
        if (peek(ps) != ',') {
            if (peek(ps) == ')')
                fail(ps, "randint() takes 2 arguments, got 1, in %s", h);
            else
                fail_unexpected(ps);
            return -1;
        }
        ps->pos++;
        if (parse_int_arg(ps, fn, &hi))
            return -1;
        if (lo > hi) {
            fail(ps, "randint(%lld, %lld): the low end is above the high end in %s", (long long)lo,
                 (long long)hi, h);
            return -1;
        }
        ps->t->nodes[idx].a = lo;
        ps->t->nodes[idx].b = hi;
        want = 2;
    } else if (strcmp(fn, "date") == 0) {
        if (empty) {
            fail(ps,
                 "date() takes 1 or 2 arguments (an offset such as -30d, and a format), "
                 "got 0, in %s",
                 h);
            return -1;
        }
        idx = new_node(ps->t, N_DATE);
        if (parse_date_args(ps, idx))
            return -1;
        want = 2;
    } else if (strcmp(fn, "urlencode") == 0) {
        if (empty) {
            fail(ps, "urlencode() takes 1 argument, got 0, in %s", h);
            return -1;
        }
        int child = parse_expr(ps, depth + 1);
        if (child < 0)
            return -1;
        idx = new_node(ps->t, N_URLENCODE);
        ps->t->nodes[idx].child = child;
        want = 1;
    } else {
        if (!empty) {
            fail(ps, "%s() takes no arguments in %s", fn, h);
            return -1;
        }
        idx = new_node(ps->t, strcmp(fn, "uuid") == 0  ? N_UUID
                              : strcmp(fn, "now") == 0 ? N_NOW
                                                       : N_TIMESTAMP);
    }
    skip_ws(ps);
    if (peek(ps) == ',') {
        fail(ps, "%s() takes %s in %s", fn,
             want == 2 ? (strcmp(fn, "date") == 0 ? "at most 2 arguments" : "2 arguments")
                       : "1 argument",
             h);
        return -1;
    }
    if (peek(ps) != ')') {
        fail_unexpected(ps);
        return -1;
    }
    ps->pos++;
    return idx;
}

/* expr := (string | integer | name | name '(' args ')') ('.' name)* */
static int parse_expr(parser *ps, int depth)
{
    skip_ws(ps);
    int c = peek(ps);
    int idx;
    if (c == '"' || c == '\'') {
        idx = parse_string(ps);
    } else if (c == '+' || c == '-' || (c >= '0' && c <= '9')) {
        int64_t v;
        char unit[8];
        size_t start = ps->pos;
        if (parse_number(ps, &v, unit, sizeof unit))
            return -1;
        if (unit[0]) {
            ps->pos = start;
            fail_unexpected(ps);
            return -1;
        }
        idx = new_node(ps->t, N_INT);
        ps->t->nodes[idx].a = v;
    } else if (c >= 0 && is_ident_start((char)c)) {
        char name[128];
        if (!read_ident(ps, name, sizeof name))
            return -1;
        skip_ws(ps);
        if (peek(ps) == '(')
            idx = parse_call(ps, name, depth);
        else
            idx = resolve_name(ps, name);
    } else {
        fail_unexpected(ps);
        return -1;
    }
    int nfields = 0;
    while (idx >= 0 && peek(ps) == '.') {
        /* Rendering recurses once per field, so a chain is bounded like nested calls are. */
        if (++nfields > SP_TMPL_MAX_EXPR_DEPTH) {
            char h[80];
            hole_text(ps, h, sizeof h);
            fail(ps, "more than %d '.field' steps in %s", SP_TMPL_MAX_EXPR_DEPTH, h);
            return -1;
        }
        ps->pos++;
        char field[128];
        if (!read_ident(ps, field, sizeof field)) {
            fail_unexpected(ps);
            return -1;
        }
        int f = new_node(ps->t, N_FIELD);
        ps->t->nodes[f].child = idx;
        ps->t->nodes[f].off = pool_add(ps->t, field, strlen(field), 1);
        ps->t->nodes[f].len = (uint32_t)strlen(field);
        idx = f;
    }
    return idx;
}

/* Appends a hole; a string literal is folded into literal text (escaped once, here). */
static void add_hole(sp_tmpl *t, int root, sp_esc esc)
{
    t->nholes++;
    const node *nd = &t->nodes[root];
    if (nd->kind == N_STR) {
        sp_buf b;
        sp_buf_init(&b, SIZE_MAX);
        val v = {.type = V_STR, .s = t->pool + nd->off, .len = nd->len};
        if (esc == SP_ESC_JSON_VALUE)
            emit_val_json(&b, &v);
        else
            emit_val_text(&b, esc, &v);
        add_literal_bytes(t, b.p, b.len);
        sp_buf_release(&b);
        return;
    }
    sp_grow((void **)&t->parts, &t->partcap, t->nparts + 1, sizeof(part));
    part *p = &t->parts[t->nparts++];
    memset(p, 0, sizeof *p);
    p->hole = 1;
    p->esc = esc;
    p->root = root;
}

/* Compiles src into t. Literal text is copied as is, or escaped for a JSON string when lit_json. */
static int parse_source(sp_tmpl *t, const char *src, size_t n, sp_esc esc, int lit_json,
                        const sp_scope *scope, char *err, size_t errlen)
{
    static const sp_scope empty_scope = {0};
    parser ps = {.t = t,
                 .scope = scope ? scope : &empty_scope,
                 .src = src,
                 .n = n,
                 .err = err,
                 .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (n > SP_TMPL_MAX_SOURCE) {
        fail(&ps, "template too long: %zu bytes (at most %u)", n, SP_TMPL_MAX_SOURCE);
        return SP_EINVAL;
    }
    while (ps.pos < n) {
        const char *open = NULL;
        for (size_t i = ps.pos; i + 1 < n; i++) {
            if (src[i] == '{' && src[i + 1] == '{') {
                open = src + i;
                break;
            }
        }
        size_t litend = open ? (size_t)(open - src) : n;
        if (litend > ps.pos) {
            if (lit_json) {
                sp_buf b;
                sp_buf_init(&b, SIZE_MAX);
                esc_json(&b, src + ps.pos, litend - ps.pos);
                add_literal_bytes(t, b.p, b.len);
                sp_buf_release(&b);
            } else {
                add_literal_bytes(t, src + ps.pos, litend - ps.pos);
            }
            t->litsrc += litend - ps.pos;
        }
        if (!open)
            break;
        if (t->nholes >= SP_TMPL_MAX_HOLES) {
            fail(&ps, "too many '{{' holes in one template (at most %d)", SP_TMPL_MAX_HOLES);
            return SP_EINVAL;
        }
        ps.hole_start = litend;
        ps.pos = litend + 2;
        /* Without any "}}" after it, the hole is unterminated whatever it holds; saying so
         * beats a complaint about the expression cut short. */
        int closed = 0;
        for (size_t i = ps.pos; i + 1 < n && !closed; i++)
            closed = src[i] == '}' && src[i + 1] == '}';
        if (!closed) {
            fail(&ps, "unterminated '{{' at byte %zu", ps.hole_start);
            return SP_EINVAL;
        }
        skip_ws(&ps);
        if (peek(&ps) == '}' && ps.pos + 1 < n && src[ps.pos + 1] == '}') {
            fail(&ps, "empty '{{}}' at byte %zu", ps.hole_start);
            return SP_EINVAL;
        }
        int root = parse_expr(&ps, 0);
        if (root < 0 || ps.failed) {
            if (!ps.failed)
                fail_unexpected(&ps);
            return SP_EINVAL;
        }
        skip_ws(&ps);
        if (ps.pos + 1 < n && src[ps.pos] == '}' && src[ps.pos + 1] == '}') {
            ps.pos += 2;
        } else {
            fail_unexpected(&ps);
            return SP_EINVAL;
        }
        add_hole(t, root, esc);
    }
    return 0;
}

/*
 * A folded string literal leaves its node's text in the pool between two literal parts, so they
 * cannot merge in place; a template without holes is joined here into one part that ends the
 * pool, so that sp_tmpl_constant() has one NUL-terminated span to return.
 */
static void join_constant(sp_tmpl *t)
{
    if (t->nparts == 0 || !sp_tmpl_is_constant(t))
        return;
    if (t->nparts == 1 && t->parts[0].off + t->parts[0].len == t->plen)
        return;
    size_t total = 0;
    for (size_t i = 0; i < t->nparts; i++)
        total += t->parts[i].len;
    sp_grow((void **)&t->pool, &t->pcap, t->plen + total + 1, 1);
    uint32_t off = (uint32_t)t->plen;
    for (size_t i = 0; i < t->nparts; i++) {
        memcpy(t->pool + t->plen, t->pool + t->parts[i].off, t->parts[i].len);
        t->plen += t->parts[i].len;
    }
    t->pool[t->plen] = '\0';
    t->parts[0].off = off;
    t->parts[0].len = (uint32_t)total;
    t->nparts = 1;
}

int sp_tmpl_add_source(sp_tmpl *t, const char *src, size_t n, sp_esc esc, const sp_scope *scope,
                       char *err, size_t errlen)
{
    int rc = parse_source(t, src, n, esc, 0, scope, err, errlen);
    join_constant(t);
    return rc;
}

int sp_tmpl_add_json_string(sp_tmpl *t, const char *src, size_t n, const sp_scope *scope, char *err,
                            size_t errlen)
{
    /* A trial compile tells whether src is exactly one hole; compiling is cheap and happens
     * once per definition, so the simple way wins over undoing a half-built quote. */
    sp_tmpl *probe = sp_tmpl_new();
    int rc = parse_source(probe, src, n, SP_ESC_JSON_VALUE, 1, scope, err, errlen);
    int single = rc == 0 && probe->nholes == 1 && probe->litsrc == 0;
    sp_tmpl_free(probe);
    if (rc)
        return rc;
    if (single) {
        rc = parse_source(t, src, n, SP_ESC_JSON_VALUE, 1, scope, err, errlen);
    } else {
        add_literal_bytes(t, "\"", 1);
        rc = parse_source(t, src, n, SP_ESC_JSON_STR, 1, scope, err, errlen);
        if (rc == 0)
            add_literal_bytes(t, "\"", 1);
    }
    join_constant(t);
    return rc;
}

sp_tmpl *sp_tmpl_compile(const char *src, size_t n, sp_esc esc, const sp_scope *scope, char *err,
                         size_t errlen)
{
    sp_tmpl *t = sp_tmpl_new();
    if (sp_tmpl_add_source(t, src, n, esc, scope, err, errlen) != 0) {
        sp_tmpl_free(t);
        return NULL;
    }
    return t;
}
