/*
 * common.c - see common.h.
 */
#include "engine/common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *sp_strerror(int code)
{
    switch (code) {
    case SP_OK:
        return "success";
    case SP_EINVAL:
        return "invalid input";
    case SP_ELIMIT:
        return "limit reached";
    case SP_ENOTFOUND:
        return "not found";
    case SP_EIO:
        return "input/output error";
    case SP_ESTATE:
        return "wrong state";
    case SP_ESYS:
        return "system error";
    default:
        return "unknown error";
    }
}

size_t sp_json_too_deep(const char *text, size_t len, size_t max_depth)
{
    size_t depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return i;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return SIZE_MAX;
}

static void oom(size_t n)
{
    fprintf(stderr, "stampede: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sp_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *sp_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *sp_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *sp_strdup(const char *s)
{
    return sp_strndup(s, strlen(s));
}

char *sp_strndup(const char *s, size_t n)
{
    char *p = sp_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sp_grow(void **arr, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap)
        return;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    *arr = sp_realloc(*arr, ncap * elem_size);
    *cap = ncap;
}

/*
 * Jansson's allocator. Out of memory must end the process in one place (oom() above), the same
 * way wherever it happens: left to malloc, Jansson would return NULL from json_object(),
 * json_dumps() and the rest, which the code using them does not check (and need not). The
 * allocator is set by a constructor, before main(), so that every program linking the engine
 * gets it (the server, the command line, the tests, the fuzz targets and the tools) without each
 * main() having to remember, and before any JSON value exists; engine/CMakeLists.txt makes
 * every such program link this file. Jansson frees with free(), which matches sp_malloc.
 *
 * The count is per thread, so that workers parsing responses at the same time never share a
 * cache line for it; it is only read by tests.
 */
static _Thread_local uint64_t json_allocs;

static void *json_malloc(size_t n)
{
    json_allocs++;
    return sp_malloc(n);
}

uint64_t sp_json_allocs(void)
{
    return json_allocs;
}

__attribute__((constructor)) static void json_alloc_init(void)
{
    json_set_alloc_funcs(json_malloc, free);
}

/* sp_buf */

static char empty_buf[1];

void sp_buf_init(sp_buf *b, size_t max)
{
    b->p = empty_buf;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sp_buf_release(sp_buf *b)
{
    if (b->cap)
        free(b->p);
    sp_buf_init(b, b->max);
}

void sp_buf_reset(sp_buf *b)
{
    b->len = 0;
    if (b->cap)
        b->p[0] = '\0';
}

static int buf_reserve(sp_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return SP_ELIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap *= 2;
    if (b->cap) {
        b->p = sp_realloc(b->p, ncap);
    } else {
        b->p = sp_malloc(ncap);
        b->p[0] = '\0';
    }
    b->cap = ncap;
    return 0;
}

int sp_buf_reserve(sp_buf *b, size_t extra)
{
    return buf_reserve(b, extra);
}

int sp_buf_add(sp_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int sp_buf_adds(sp_buf *b, const char *s)
{
    return sp_buf_add(b, s, strlen(s));
}

int sp_buf_addc(sp_buf *b, char c)
{
    return sp_buf_add(b, &c, 1);
}

int sp_buf_vaddf(sp_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return SP_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sp_buf_addf(sp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sp_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *sp_buf_detach(sp_buf *b, size_t *len)
{
    char *p;
    if (len)
        *len = b->len;
    if (b->cap) {
        p = b->p;
    } else {
        p = sp_malloc(1);
        p[0] = '\0';
    }
    sp_buf_init(b, b->max);
    return p;
}

/* sp_errlist */

void sp_errlist_init(sp_errlist *el)
{
    memset(el, 0, sizeof(*el));
}

void sp_errlist_release(sp_errlist *el)
{
    for (size_t i = 0; i < el->n; i++) {
        free(el->v[i].path);
        free(el->v[i].msg);
    }
    free(el->v);
    sp_errlist_init(el);
}

void sp_errlist_add(sp_errlist *el, const char *path, const char *fmt, ...)
{
    if (el->n >= SP_ERRLIST_MAX) {
        el->dropped++;
        return;
    }
    sp_buf b;
    sp_buf_init(&b, SP_FAIL_MSG_MAX * 4);
    va_list ap;
    va_start(ap, fmt);
    (void)sp_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    sp_grow((void **)&el->v, &el->cap, el->n + 1, sizeof(el->v[0]));
    el->v[el->n].path = sp_strdup(path ? path : "");
    el->v[el->n].msg = sp_buf_detach(&b, NULL);
    el->n++;
}

void sp_errlist_format(const sp_errlist *el, sp_buf *out)
{
    for (size_t i = 0; i < el->n; i++) {
        if (el->v[i].path[0])
            (void)sp_buf_addf(out, "%s: %s\n", el->v[i].path, el->v[i].msg);
        else
            (void)sp_buf_addf(out, "%s\n", el->v[i].msg);
    }
    if (el->dropped)
        (void)sp_buf_addf(out, "(%zu more errors not shown)\n", el->dropped);
}

/* Clocks */

uint64_t sp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sp_now_us(void)
{
    return sp_now_ns() / 1000u;
}

int64_t sp_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Suggestions */

size_t sp_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            cur[j] = v;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb] > cap ? cap + 1 : prev[lb];
}

const char *sp_suggest(const char *word, const char *const *candidates, size_t n)
{
    /* Near enough: a third of the word's length, at least 1, at most 3 edits. */
    size_t cap = strlen(word) / 3;
    if (cap < 1)
        cap = 1;
    if (cap > 3)
        cap = 3;
    const char *best = NULL;
    size_t best_d = cap + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = sp_edit_distance(word, candidates[i], cap);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}

/* xoshiro256** */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sp_rng_seed(sp_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sp_rng_next(sp_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

int64_t sp_rng_range(sp_rng *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    if (span == 0) /* the whole 64-bit range */
        return (int64_t)sp_rng_next(r);
    /* Lemire's debiased multiply-shift would be faster; modulo bias is < 2^-40 for our spans. */
    return lo + (int64_t)(sp_rng_next(r) % span);
}

double sp_rng_double(sp_rng *r)
{
    return (double)(sp_rng_next(r) >> 11) * 0x1.0p-53;
}
