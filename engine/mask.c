/*
 * mask.c - see mask.h.
 *
 * A mask is a list of forms: for each value, the value itself and its JSON escapings (matched
 * leniently: each byte as written or percent-encoded), and the stable parts of its base64
 * encoding at the three alignments (matched as written, then widened to their base64 word).
 * Forms that come out the same (most values need no escaping) are kept once.
 */
#include "engine/mask.h"

#include <stdlib.h>
#include <string.h>

#include "engine/limits.h"

typedef struct form {
    char *p;
    size_t len;
    int b64; /* a stable part of a base64 encoding: matched as written, widened to its word */
} form;

struct sp_mask {
    form *v; /* sorted by their first byte once all are in */
    size_t n, cap;
    size_t at[257];  /* the forms that begin with byte c: v[at[c]] up to v[at[c + 1]] */
    size_t *lenient; /* indexes of the forms that may be percent-encoded: tried at a '%' */
    size_t nlenient;
};

static const char b64dig[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hexdig[] = "0123456789ABCDEF";

static void add_form(sp_mask *m, const char *p, size_t len, int b64)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].b64 == b64 && m->v[i].len == len && memcmp(m->v[i].p, p, len) == 0)
            return;
    sp_grow((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v);
    form *f = &m->v[m->n++];
    f->p = sp_malloc(len + 1);
    memcpy(f->p, p, len);
    f->p[len] = '\0';
    f->len = len;
    f->b64 = b64;
}

static int by_first_byte(const void *a, const void *b)
{
    return (int)(unsigned char)((const form *)a)->p[0] -
           (int)(unsigned char)((const form *)b)->p[0];
}

/* Sorts the forms by their first byte and indexes them, so that a byte of the text is tried
 * only against the forms that can begin there. */
static void index_forms(sp_mask *m)
{
    qsort(m->v, m->n, sizeof *m->v, by_first_byte);
    m->lenient = sp_calloc(m->n, sizeof *m->lenient);
    size_t k = 0;
    for (unsigned c = 0; c < 256; c++) {
        m->at[c] = k;
        while (k < m->n && (unsigned char)m->v[k].p[0] == c) {
            if (!m->v[k].b64)
                m->lenient[m->nlenient++] = k;
            k++;
        }
    }
    m->at[256] = m->n;
}

/* s escaped for the inside of a JSON string as Jansson and the engine's templates write it:
 * '"', '\' and control bytes escaped, everything else (UTF-8 included) as it is. */
static void json_escape(sp_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *e = c == '"'    ? "\\\""
                        : c == '\\' ? "\\\\"
                        : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t"
                        : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f"
                                    : NULL;
        if (e) {
            (void)sp_buf_adds(out, e);
        } else if (c < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
            (void)sp_buf_add(out, u, sizeof u);
        } else {
            (void)sp_buf_addc(out, (char)c);
        }
    }
}

/*
 * The parts of the base64 encoding of s that are the same whatever surrounds it: s is placed
 * after 0, 1 and 2 bytes (its three alignments in a longer encoded text), and only the digits
 * whose six bits all come from s are kept. Values of SP_MASK_MIN_BYTES or more keep at least
 * four digits at every alignment.
 */
static void add_base64(sp_mask *m, const char *s, size_t n)
{
    unsigned char *in = sp_malloc(n + 5);
    char *enc = sp_malloc((n + 5) / 3 * 4 + 4);
    for (size_t k = 0; k < 3; k++) {
        size_t total = k + n;
        memset(in, 0, k);
        memcpy(in + k, s, n);
        memset(in + total, 0, 3);
        size_t e = 0;
        for (size_t i = 0; i < total; i += 3) {
            unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
            enc[e++] = b64dig[v >> 18 & 63];
            enc[e++] = b64dig[v >> 12 & 63];
            enc[e++] = b64dig[v >> 6 & 63];
            enc[e++] = b64dig[v & 63];
        }
        size_t first = (8 * k + 5) / 6; /* the first digit with no bit of the bytes before */
        size_t end = 8 * total / 6;     /* digits from here on take bits of the bytes after */
        if (end > first)
            add_form(m, enc + first, end - first, 1);
    }
    free(enc);
    free(in);
}

sp_mask *sp_mask_new(const char *const *values, size_t n)
{
    sp_mask *m = sp_calloc(1, sizeof *m);
    sp_buf once, twice;
    sp_buf_init(&once, SIZE_MAX);
    sp_buf_init(&twice, SIZE_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t len = values[i] ? strlen(values[i]) : 0;
        if (len < SP_MASK_MIN_BYTES)
            continue;
        add_form(m, values[i], len, 0);
        sp_buf_reset(&once);
        json_escape(&once, values[i], len);
        add_form(m, once.p, once.len, 0);
        sp_buf_reset(&twice);
        json_escape(&twice, once.p, once.len);
        add_form(m, twice.p, twice.len, 0);
        add_base64(m, values[i], len);
    }
    sp_buf_release(&once);
    sp_buf_release(&twice);
    if (!m->n) {
        sp_mask_free(m);
        return NULL;
    }
    index_forms(m);
    return m;
}

void sp_mask_free(sp_mask *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].p);
    free(m->v);
    free(m->lenient);
    free(m);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The length of want percent-encoded once or more ("%40", "%2540") at t[p] (a '%'), or 0. */
static size_t pct_len(const char *t, size_t n, size_t p, unsigned char want)
{
    for (size_t q = p + 1; q + 2 <= n; q += 2) {
        int hi = hexval((unsigned char)t[q]), lo = hexval((unsigned char)t[q + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        int c = hi << 4 | lo;
        if (c == want)
            return q + 2 - p;
        if (c != '%') /* "%25" is one more level of encoding */
            return 0;
    }
    return 0;
}

/*
 * Where an occurrence of f that begins at t[i] ends, or 0. A lenient form's bytes may each be
 * written as they are or percent-encoded (a space also as '+'); a base64 form's are as they are.
 * An occurrence cut short, before "..." or at the end of a cut text, counts when at least
 * SP_MASK_MIN_BYTES of f show.
 */
static size_t match_at(const form *f, const char *t, size_t n, size_t i, int cut)
{
    if (n - i >= f->len && memcmp(t + i, f->p, f->len) == 0)
        return i + f->len; /* as written: also a value that holds "%25" itself */
    size_t p = i, j = 0;
    while (j < f->len && p < n) {
        unsigned char want = (unsigned char)f->p[j];
        size_t k = 0;
        if (!f->b64 && t[p] == '%')
            k = pct_len(t, n, p, want);
        else if (!f->b64 && t[p] == '+' && want == ' ')
            k = 1;
        if (!k && (unsigned char)t[p] == want)
            k = 1;
        if (!k)
            break;
        p += k;
        j++;
    }
    if (j == f->len)
        return p;
    int at_cut = (p == n && cut) || (n - p >= 3 && memcmp(t + p, "...", 3) == 0);
    return at_cut && j >= SP_MASK_MIN_BYTES ? p : 0;
}

static int is_b64(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Marks in *cover the occurrence of form k that begins at s[i], if there is one. */
static void try_form(const sp_mask *m, size_t k, const char *s, size_t n, size_t i, int cut,
                     unsigned char **cover)
{
    const form *f = &m->v[k];
    size_t end = match_at(f, s, n, i, cut);
    if (!end)
        return;
    size_t a = i;
    if (f->b64) {
        while (a > 0 && is_b64((unsigned char)s[a - 1]))
            a--;
        while (end < n && is_b64((unsigned char)s[end]))
            end++;
        while (end < n && s[end] == '=')
            end++;
    }
    if (!*cover)
        *cover = sp_calloc(n, 1);
    memset(*cover + a, 1, end - a);
}

int sp_mask_apply(const sp_mask *m, const char *s, size_t n, unsigned flags, sp_buf *out)
{
    unsigned char *cover = NULL; /* cover[i]: s[i] belongs to an occurrence */
    int cut = (flags & SP_MASK_CUT) != 0;
    for (size_t i = 0; m && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') { /* any lenient form may begin percent-encoded (those that begin with '%'
                           included); no base64 form begins with it */
            for (size_t k = 0; k < m->nlenient; k++)
                try_form(m, m->lenient[k], s, n, i, cut, &cover);
            continue;
        }
        for (size_t k = m->at[c]; k < m->at[c + 1]; k++)
            try_form(m, k, s, n, i, cut, &cover);
        if (c == '+') /* a space written as '+' (no base64 form begins with a space) */
            for (size_t k = m->at[' ']; k < m->at[' ' + 1]; k++)
                try_form(m, k, s, n, i, cut, &cover);
    }
    if (!cover) {
        (void)sp_buf_add(out, s, n);
        return 0;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && cover[j] == cover[i])
            j++;
        if (cover[i])
            (void)sp_buf_adds(out, SP_SECRET_MASK);
        else
            (void)sp_buf_add(out, s + i, j - i);
        i = j;
    }
    free(cover);
    return 1;
}
