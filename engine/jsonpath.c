/*
 * jsonpath.c - see jsonpath.h.
 *
 * A path compiles to an array of segments: an object key (NUL-terminated, so it can be handed
 * to json_object_get as is), an array index (negative ones count from the end), a wildcard or a
 * filter (a compiled expression). Matching walks the segments depth first and hands each match,
 * in document order, to a visitor that keeps what the take needs: the first, the last, a
 * reservoir sample for random, the array for all, or a count. The walk's recursion is bounded
 * by the number of segments (SP_JPATH_MAX_SEGMENTS).
 */
#include "engine/jsonpath.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "engine/common.h"

enum seg_kind { SEG_KEY, SEG_INDEX, SEG_WILD, SEG_FILTER };

typedef struct seg {
    int kind;
    char *key;       /* SEG_KEY */
    long index;      /* SEG_INDEX */
    sp_expr *filter; /* SEG_FILTER */
} seg;

struct sp_jpath {
    seg *v;
    size_t n;
    int multi;
};

void sp_jpath_free(sp_jpath *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        sp_expr_free(p->v[i].filter);
    }
    free(p->v);
    free(p);
}

int sp_jpath_multi(const sp_jpath *p)
{
    return p->multi;
}

static int add_seg(sp_jpath *p, int kind, char *key, long index, sp_expr *f, char *err,
                   size_t errlen)
{
    if (p->n >= SP_JPATH_MAX_SEGMENTS) {
        free(key);
        sp_expr_free(f);
        snprintf(err, errlen, "more than %d parts", SP_JPATH_MAX_SEGMENTS);
        return SP_ELIMIT;
    }
    p->v = sp_realloc(p->v, (p->n + 1) * sizeof(p->v[0]));
    p->v[p->n] = (seg){kind, key, index, f};
    p->n++;
    if (kind == SEG_WILD || kind == SEG_FILTER)
        p->multi = 1;
    return 0;
}

/* Parses "[N]", "[*]" or "[?(expr)]" at s[*i] (s[*i] == '['). */
static int parse_bracket(sp_jpath *p, const char *s, size_t *i, const sp_scope *scope, char *err,
                         size_t errlen)
{
    size_t j = *i + 1;
    if (s[j] == '*' && s[j + 1] == ']') {
        *i = j + 2;
        return add_seg(p, SEG_WILD, NULL, 0, NULL, err, errlen);
    }
    if (s[j] == '?') {
        if (s[j + 1] != '(') {
            snprintf(err, errlen, "a filter is written [?(expression)], at offset %zu", *i);
            return SP_EINVAL;
        }
        /* The expression ends at the ')' that closes '(' outside strings. */
        size_t start = j + 2, k = start;
        int depth = 1;
        while (s[k] && depth > 0) {
            if (s[k] == '"' || s[k] == '\'') {
                char q = s[k++];
                while (s[k] && s[k] != q)
                    k += (s[k] == '\\' && s[k + 1]) ? 2 : 1;
                if (s[k])
                    k++;
                continue;
            }
            if (s[k] == '(')
                depth++;
            else if (s[k] == ')')
                depth--;
            if (depth > 0)
                k++;
        }
        if (depth != 0 || s[k + 1] != ']') {
            snprintf(err, errlen, "the filter at offset %zu is not closed with ')]'", *i);
            return SP_EINVAL;
        }
        char e[256] = "";
        sp_expr *f =
            sp_expr_compile(s + start, k - start, scope, SP_EXPR_FILTER, start, NULL, e, sizeof e);
        if (!f) {
            snprintf(err, errlen, "in the filter: %s", e);
            return SP_EINVAL;
        }
        *i = k + 2;
        return add_seg(p, SEG_FILTER, NULL, 0, f, err, errlen);
    }
    int neg = 0;
    if (s[j] == '-') {
        neg = 1;
        j++;
    }
    if (s[j] < '0' || s[j] > '9') {
        snprintf(err, errlen, "expected a number, '*' or '?(' after '[' at offset %zu", *i);
        return SP_EINVAL;
    }
    long v = 0;
    while (s[j] >= '0' && s[j] <= '9') {
        if (v > (LONG_MAX - 9) / 10 || v > 100000000L) {
            snprintf(err, errlen, "array index too large at offset %zu", *i);
            return SP_EINVAL;
        }
        v = v * 10 + (s[j] - '0');
        j++;
    }
    if (s[j] != ']') {
        snprintf(err, errlen, "expected ']' at offset %zu", j);
        return SP_EINVAL;
    }
    *i = j + 1;
    return add_seg(p, SEG_INDEX, NULL, neg ? -v : v, NULL, err, errlen);
}

/* Parses a quoted key at s[*i] (s[*i] == '"'); \" and \\ are the only escapes. */
static int parse_quoted(const char *s, size_t *i, char **out, char *err, size_t errlen)
{
    sp_buf b;
    sp_buf_init(&b, SP_JPATH_MAX_LEN);
    size_t j = *i + 1;
    for (;;) {
        char c = s[j];
        if (c == '\0') {
            snprintf(err, errlen, "unterminated quoted key starting at offset %zu", *i);
            sp_buf_release(&b);
            return SP_EINVAL;
        }
        if (c == '"')
            break;
        if (c == '\\') {
            char e = s[j + 1];
            if (e != '"' && e != '\\') {
                snprintf(err, errlen,
                         "only \\\" and \\\\ may be escaped in a quoted key (offset %zu)", j);
                sp_buf_release(&b);
                return SP_EINVAL;
            }
            c = e;
            j++;
        }
        (void)sp_buf_addc(&b, c);
        j++;
    }
    *i = j + 1;
    *out = sp_buf_detach(&b, NULL);
    return 0;
}

sp_jpath *sp_jpath_compile(const char *src, const sp_scope *scope, char *err, size_t errlen)
{
    sp_jpath *p = sp_calloc(1, sizeof(*p));
    size_t len = strlen(src);
    size_t i = 0;
    int rc = 0;

    if (len == 0) {
        snprintf(err, errlen, "empty path");
        goto fail;
    }
    if (len > SP_JPATH_MAX_LEN) {
        snprintf(err, errlen, "path longer than %d characters", SP_JPATH_MAX_LEN);
        goto fail;
    }
    /* "$", "$.a" and "$[0]" are accepted because people who know JSONPath write them; "$" alone
     * is the whole document. */
    if (src[0] == '$') {
        i = 1;
        if (src[i] == '\0')
            return p;
        if (src[i] == '.')
            i++;
        else if (src[i] != '[') {
            snprintf(err, errlen, "expected '.' or '[' after '$'");
            goto fail;
        }
    }
    for (;;) {
        /* One segment: a key, a quoted key, '*' or a bracket; then '.', '[' or the end. */
        if (src[i] == '[') {
            if ((rc = parse_bracket(p, src, &i, scope, err, errlen)) != 0)
                goto fail;
        } else if (src[i] == '"') {
            char *key;
            if ((rc = parse_quoted(src, &i, &key, err, errlen)) != 0)
                goto fail;
            if ((rc = add_seg(p, SEG_KEY, key, 0, NULL, err, errlen)) != 0)
                goto fail;
        } else if (src[i] == '*' &&
                   (src[i + 1] == '\0' || src[i + 1] == '.' || src[i + 1] == '[')) {
            i++;
            if ((rc = add_seg(p, SEG_WILD, NULL, 0, NULL, err, errlen)) != 0)
                goto fail;
        } else {
            size_t start = i;
            while (src[i] && src[i] != '.' && src[i] != '[' && src[i] != ']' && src[i] != '"')
                i++;
            if (i == start) {
                if (src[i] == '\0')
                    snprintf(err, errlen, "path ends with '.'");
                else
                    snprintf(err, errlen, "empty key at offset %zu", start);
                goto fail;
            }
            if (src[i] == ']' || src[i] == '"') {
                snprintf(err, errlen, "unexpected '%c' at offset %zu", src[i], i);
                goto fail;
            }
            if ((rc = add_seg(p, SEG_KEY, sp_strndup(src + start, i - start), 0, NULL, err,
                              errlen)) != 0)
                goto fail;
        }
        /* Brackets chain without a dot ("a[0][1]", "a[*][?(@ > 1)]"); keys need one. */
        while (src[i] == '[') {
            if ((rc = parse_bracket(p, src, &i, scope, err, errlen)) != 0)
                goto fail;
        }
        if (src[i] == '\0')
            break;
        if (src[i] != '.') {
            snprintf(err, errlen, "expected '.' or '[' at offset %zu", i);
            goto fail;
        }
        i++;
        if (src[i] == '\0') {
            snprintf(err, errlen, "path ends with '.'");
            goto fail;
        }
    }
    return p;
fail:
    sp_jpath_free(p);
    return NULL;
}

/* ---- matching ---- */

typedef struct visit {
    sp_take take;
    const sp_vuctx *ctx;
    size_t count;
    const json_t *one;
    json_t *all;
    int stop; /* the first match is enough */
} visit;

static void found(visit *v, const json_t *m)
{
    v->count++;
    switch (v->take) {
    case SP_TAKE_FIRST:
        v->one = m;
        v->stop = 1;
        break;
    case SP_TAKE_LAST:
        v->one = m;
        break;
    case SP_TAKE_RANDOM:
        /* Reservoir sampling: the k-th match replaces the pick with chance 1/k, so each of n
         * matches ends up picked with chance 1/n, without keeping them. */
        if (v->count == 1 ||
            (v->ctx && v->ctx->rng && sp_rng_range(v->ctx->rng, 0, (int64_t)v->count - 1) == 0))
            v->one = m;
        break;
    case SP_TAKE_ALL:
        /* A match is part of a response, which this thread alone holds: sharing it is safe. */
        json_array_append(v->all, (json_t *)m);
        break;
    case SP_TAKE_COUNT:
        break;
    }
}

static int filter_holds(const seg *s, const json_t *item, visit *v)
{
    static const sp_vuctx none = {0};
    sp_value r;
    const sp_vuctx *ctx = v->ctx ? v->ctx : &none;
    sp_expr_eval(s->filter, ctx, item, &r);
    int ok = sp_value_truthy(&r);
    sp_value_drop(&r);
    return ok;
}

static void walk(const sp_jpath *p, size_t i, const json_t *cur, visit *v)
{
    if (v->stop || !cur)
        return;
    if (i == p->n) {
        found(v, cur);
        return;
    }
    const seg *s = &p->v[i];
    switch (s->kind) {
    case SEG_KEY:
        if (json_is_object(cur))
            walk(p, i + 1, json_object_get(cur, s->key), v); /* borrowed */
        return;
    case SEG_INDEX: {
        if (!json_is_array(cur))
            return;
        size_t n = json_array_size(cur);
        long idx = s->index;
        if (idx < 0)
            idx += (long)n;
        if (idx >= 0 && (size_t)idx < n)
            walk(p, i + 1, json_array_get(cur, (size_t)idx), v);
        return;
    }
    case SEG_WILD:
    case SEG_FILTER:
        if (json_is_array(cur)) {
            size_t k;
            json_t *item;
            json_array_foreach(cur, k, item)
            {
                if (v->stop)
                    return;
                if (s->kind == SEG_WILD || filter_holds(s, item, v))
                    walk(p, i + 1, item, v);
            }
        } else if (json_is_object(cur)) {
            const char *key;
            json_t *item;
            json_object_foreach((json_t *)cur, key, item)
            {
                if (v->stop)
                    return;
                if (s->kind == SEG_WILD || filter_holds(s, item, v))
                    walk(p, i + 1, item, v);
            }
        }
        return;
    }
}

size_t sp_jpath_take(const sp_jpath *p, const json_t *root, sp_take take, const sp_vuctx *ctx,
                     const json_t **one, json_t **all)
{
    visit v = {.take = take, .ctx = ctx};
    if (take == SP_TAKE_ALL)
        v.all = json_array();
    walk(p, 0, root, &v);
    if (one)
        *one = v.one;
    if (all)
        *all = v.all;
    else if (v.all)
        json_decref(v.all);
    return v.count;
}

const json_t *sp_jpath_get(const sp_jpath *p, const json_t *root, const sp_vuctx *ctx)
{
    const json_t *one = NULL;
    sp_jpath_take(p, root, SP_TAKE_FIRST, ctx, &one, NULL);
    return one;
}

static const char *const take_names[] = {"first", "last", "random", "all", "count"};

const char *sp_take_name(sp_take t)
{
    return (unsigned)t < SP_ARRAY_LEN(take_names) ? take_names[t] : "?";
}

int sp_take_from_name(const char *s)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(take_names); i++)
        if (strcmp(s, take_names[i]) == 0)
            return (int)i;
    return -1;
}
