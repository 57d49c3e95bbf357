/*
 * jsonpath.c - see jsonpath.h.
 *
 * A path compiles to an array of segments, each an object key (NUL-terminated, so it can be
 * handed to json_object_get as is) or an array index. Negative indexes count from the end
 * ("items[-1]" is the last item), which saves users a length lookup they cannot write.
 */
#include "engine/jsonpath.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "engine/common.h"

/* A path longer than this is certainly a mistake; it also bounds the compile-time work. */
#define JPATH_MAX_SOURCE 1024
#define JPATH_MAX_SEGMENTS 64

typedef struct seg {
    char *key;  /* NULL for an index */
    long index; /* index segments only */
} seg;

struct sp_jpath {
    seg *v;
    size_t n;
};

void sp_jpath_free(sp_jpath *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].key);
    free(p->v);
    free(p);
}

static int add_seg(sp_jpath *p, char *key, long index, char *err, size_t errlen)
{
    if (p->n >= JPATH_MAX_SEGMENTS) {
        free(key);
        snprintf(err, errlen, "more than %d parts", JPATH_MAX_SEGMENTS);
        return SP_ELIMIT;
    }
    p->v = sp_realloc(p->v, (p->n + 1) * sizeof(p->v[0]));
    p->v[p->n].key = key;
    p->v[p->n].index = index;
    p->n++;
    return 0;
}

/* Parses "[N]" at s[*i] (s[*i] == '['). */
static int parse_index(const char *s, size_t *i, long *out, char *err, size_t errlen)
{
    size_t j = *i + 1;
    int neg = 0;
    if (s[j] == '-') {
        neg = 1;
        j++;
    }
    if (s[j] < '0' || s[j] > '9') {
        snprintf(err, errlen, "expected a number after '[' at offset %zu", *i);
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
    *out = neg ? -v : v;
    *i = j + 1;
    return 0;
}

/* Parses a quoted key at s[*i] (s[*i] == '"'); \" and \\ are the only escapes. */
static int parse_quoted(const char *s, size_t *i, char **out, char *err, size_t errlen)
{
    sp_buf b;
    sp_buf_init(&b, JPATH_MAX_SOURCE);
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

sp_jpath *sp_jpath_compile(const char *src, char *err, size_t errlen)
{
    sp_jpath *p = sp_calloc(1, sizeof(*p));
    size_t len = strlen(src);
    size_t i = 0;
    int rc = 0;

    if (len == 0) {
        snprintf(err, errlen, "empty path");
        goto fail;
    }
    if (len > JPATH_MAX_SOURCE) {
        snprintf(err, errlen, "path longer than %d characters", JPATH_MAX_SOURCE);
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
        /* One segment: a key, a quoted key, or an index; then '.', '[' or the end. */
        if (src[i] == '[') {
            long idx;
            if ((rc = parse_index(src, &i, &idx, err, errlen)) != 0)
                goto fail;
            if ((rc = add_seg(p, NULL, idx, err, errlen)) != 0)
                goto fail;
        } else if (src[i] == '"') {
            char *key;
            if ((rc = parse_quoted(src, &i, &key, err, errlen)) != 0)
                goto fail;
            if ((rc = add_seg(p, key, 0, err, errlen)) != 0)
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
            if ((rc = add_seg(p, sp_strndup(src + start, i - start), 0, err, errlen)) != 0)
                goto fail;
        }
        /* Indexes chain without a dot ("a[0][1]"); keys need one. */
        while (src[i] == '[') {
            long idx;
            if ((rc = parse_index(src, &i, &idx, err, errlen)) != 0)
                goto fail;
            if ((rc = add_seg(p, NULL, idx, err, errlen)) != 0)
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

const json_t *sp_jpath_get(const sp_jpath *p, const json_t *root)
{
    const json_t *cur = root;
    for (size_t i = 0; cur && i < p->n; i++) {
        const seg *s = &p->v[i];
        if (s->key) {
            /* Borrowed reference; NULL when cur is not an object or has no such key. */
            cur = json_is_object(cur) ? json_object_get(cur, s->key) : NULL;
        } else {
            if (!json_is_array(cur))
                return NULL;
            size_t n = json_array_size(cur);
            long idx = s->index;
            if (idx < 0)
                idx += (long)n;
            if (idx < 0 || (size_t)idx >= n)
                return NULL;
            cur = json_array_get(cur, (size_t)idx); /* borrowed */
        }
    }
    return cur;
}
