/*
 * template.c - see template.h.
 *
 * A compiled template is a flat array of parts: literal bytes (kept in one text pool, as
 * offsets, since the pool moves while it grows) or holes, each holding a compiled expression
 * (expr.h) and the escaping of the place it lands in. Rendering evaluates each hole and writes
 * its value through the escaper straight into the caller's buffer; text the expression built in
 * the arena is given back right after, so a render needs no more arena than its largest hole.
 */
#include "engine/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct part {
    int hole; /* 0: literal pool[off, len); 1: the expression x */
    sp_esc esc;
    uint32_t off, len;
    sp_expr *x;
} part;

struct sp_tmpl {
    part *parts;
    size_t nparts, partcap;
    char *pool;
    size_t plen, pcap;
    size_t nholes; /* holes compiled, constant ones folded into text included */
    size_t litsrc; /* literal source bytes compiled (to spot a template of one hole) */
    int starts_hole;
};

/* ---- building ---- */

sp_tmpl *sp_tmpl_new(void)
{
    return sp_calloc(1, sizeof(sp_tmpl));
}

void sp_tmpl_free(sp_tmpl *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nparts; i++)
        sp_expr_free(t->parts[i].x);
    free(t->parts);
    free(t->pool);
    free(t);
}

/* The pool always keeps a NUL after its last byte (not counted in plen), so the text of a
 * constant template, which ends the pool, is a C string. */
static uint32_t pool_add(sp_tmpl *t, const char *s, size_t n)
{
    sp_grow((void **)&t->pool, &t->pcap, t->plen + n + 1, 1);
    uint32_t off = (uint32_t)t->plen;
    if (n)
        memcpy(t->pool + t->plen, s, n);
    t->plen += n;
    t->pool[t->plen] = '\0';
    return off;
}

static void add_literal_bytes(sp_tmpl *t, const char *s, size_t n)
{
    if (n == 0)
        return;
    part *last = t->nparts ? &t->parts[t->nparts - 1] : NULL;
    /* Adjacent literals merge when the last one ends the pool, so a constant template is one
     * part. */
    if (last && !last->hole && last->off + last->len == t->plen) {
        pool_add(t, s, n);
        last->len += (uint32_t)n;
        return;
    }
    sp_grow((void **)&t->parts, &t->partcap, t->nparts + 1, sizeof(part));
    part *p = &t->parts[t->nparts++];
    memset(p, 0, sizeof *p);
    p->off = pool_add(t, s, n);
    p->len = (uint32_t)n;
}

static void join_constant(sp_tmpl *t);

void sp_tmpl_add_literal(sp_tmpl *t, const char *s, size_t n)
{
    add_literal_bytes(t, s, n);
    join_constant(t);
}

/* Appends a hole; a constant expression is evaluated now and folded into the text. */
static void add_hole(sp_tmpl *t, sp_expr *x, sp_esc esc)
{
    t->nholes++;
    if (sp_expr_constant(x)) {
        sp_buf arena, b;
        sp_buf_init(&arena, SP_EXPR_MAX_TEXT);
        sp_buf_init(&b, SIZE_MAX);
        sp_vuctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.arena = &arena;
        sp_value v;
        sp_expr_eval(x, &ctx, NULL, &v);
        (void)sp_value_write(&v, esc, &b);
        sp_value_drop(&v);
        add_literal_bytes(t, b.p, b.len);
        sp_buf_release(&b);
        sp_buf_release(&arena);
        sp_expr_free(x);
        return;
    }
    sp_grow((void **)&t->parts, &t->partcap, t->nparts + 1, sizeof(part));
    part *p = &t->parts[t->nparts++];
    memset(p, 0, sizeof *p);
    p->hole = 1;
    p->esc = esc;
    p->x = x;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen && !err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return SP_EINVAL;
}

/* Escapes literal text for the inside of a JSON string (lit_json). */
static void add_json_literal(sp_tmpl *t, const char *s, size_t n)
{
    sp_buf b;
    sp_buf_init(&b, SIZE_MAX);
    sp_value v;
    memset(&v, 0, sizeof v);
    v.type = SP_V_STR;
    v.u.s = s;
    v.len = (uint32_t)n;
    (void)sp_value_write(&v, SP_ESC_JSON_STR, &b);
    add_literal_bytes(t, b.p, b.len);
    sp_buf_release(&b);
}

/* Compiles src into t. Literal text is copied as is, or escaped for a JSON string when
 * lit_json. */
static int parse_source(sp_tmpl *t, const char *src, size_t n, sp_esc esc, int lit_json,
                        const sp_scope *scope, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (n > SP_TMPL_MAX_SOURCE)
        return fail(err, errlen, "template too long: %zu bytes (at most %u)", n,
                    SP_TMPL_MAX_SOURCE);
    size_t pos = 0;
    while (pos < n) {
        size_t open = n;
        for (size_t i = pos; i + 1 < n; i++) {
            if (src[i] == '{' && src[i + 1] == '{') {
                open = i;
                break;
            }
        }
        if (open > pos) {
            if (lit_json)
                add_json_literal(t, src + pos, open - pos);
            else
                add_literal_bytes(t, src + pos, open - pos);
            t->litsrc += open - pos;
        }
        if (open == n)
            break;
        if (t->nparts == 0 && t->litsrc == 0 && t->nholes == 0)
            t->starts_hole = 1;
        if (t->nholes >= SP_TMPL_MAX_HOLES)
            return fail(err, errlen, "too many '{{' holes in one template (at most %d)",
                        SP_TMPL_MAX_HOLES);
        /* Without any "}}" after it, the hole is unterminated whatever it holds; saying so
         * beats a complaint about the expression cut short. */
        int closed = 0;
        for (size_t i = open + 2; i + 1 < n && !closed; i++)
            closed = src[i] == '}' && src[i + 1] == '}';
        if (!closed)
            return fail(err, errlen, "column %zu: unterminated '{{'", open + 1);
        size_t p = open + 2;
        while (p < n && (src[p] == ' ' || src[p] == '\t'))
            p++;
        if (p + 1 < n && src[p] == '}' && src[p + 1] == '}')
            return fail(err, errlen, "column %zu: empty '{{}}'", open + 1);
        size_t used = 0;
        sp_expr *x = sp_expr_compile(src + open + 2, n - open - 2, scope, SP_EXPR_HOLE, open + 2,
                                     &used, err, errlen);
        if (!x)
            return fail(err, errlen, "column %zu: invalid expression", open + 3);
        p = open + 2 + used;
        while (p < n && (src[p] == ' ' || src[p] == '\t'))
            p++;
        if (!(p + 1 < n && src[p] == '}' && src[p + 1] == '}')) {
            sp_expr_free(x);
            if (p >= n || (p + 1 == n && src[p] == '}'))
                return fail(err, errlen, "column %zu: unterminated '{{'", open + 1);
            return fail(err, errlen, "column %zu: unexpected '%c'", p + 1, src[p]);
        }
        add_hole(t, x, esc);
        pos = p + 2;
    }
    return 0;
}

/*
 * A folded constant leaves its text in the pool between two literal parts, so they cannot
 * merge in place; a template without holes is joined here into one part that ends the pool, so
 * that sp_tmpl_constant() has one NUL-terminated span to return.
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

/* ---- rendering ---- */

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

const sp_expr *sp_tmpl_single(const sp_tmpl *t)
{
    return t->nparts == 1 && t->parts[0].hole && t->litsrc == 0 ? t->parts[0].x : NULL;
}

int sp_tmpl_starts_with_hole(const sp_tmpl *t)
{
    return t->starts_hole;
}

static int render(const sp_tmpl *t, const sp_vuctx *ctx, sp_buf *out)
{
    for (size_t i = 0; i < t->nparts; i++) {
        const part *p = &t->parts[i];
        int rc;
        if (!p->hole) {
            rc = sp_buf_add(out, t->pool + p->off, p->len);
        } else {
            size_t mark = ctx->arena->len;
            sp_value v;
            sp_expr_eval(p->x, ctx, NULL, &v);
            rc = sp_value_write(&v, p->esc, out);
            sp_value_drop(&v);
            /* The hole's text is in out now: its arena space is free again. */
            ctx->arena->len = mark;
            if (ctx->arena->cap)
                ctx->arena->p[mark] = '\0';
        }
        if (rc)
            return rc;
    }
    return 0;
}

int sp_tmpl_render(const sp_tmpl *t, const sp_vuctx *ctx, sp_buf *out)
{
    if (ctx->arena)
        return render(t, ctx, out);
    sp_buf arena;
    sp_buf_init(&arena, SP_EXPR_MAX_TEXT);
    sp_vuctx c = *ctx;
    c.arena = &arena;
    int rc = render(t, &c, out);
    sp_buf_release(&arena);
    return rc;
}

int sp_tmpl_eval(const sp_tmpl *t, const sp_vuctx *ctx, sp_value *out, sp_buf *scratch)
{
    memset(out, 0, sizeof *out);
    const sp_expr *x = sp_tmpl_single(t);
    if (x) {
        /* One hole: evaluated once, so a random draw is not made twice. */
        sp_vuctx c = *ctx;
        if (!c.arena)
            c.arena = scratch;
        sp_expr_eval(x, &c, NULL, out);
        return 0;
    }
    size_t start = scratch->len;
    int rc = sp_tmpl_render(t, ctx, scratch);
    if (rc)
        return rc;
    out->type = SP_V_STR;
    out->u.s = scratch->p + start;
    out->len = (uint32_t)(scratch->len - start);
    return 0;
}
