/*
 * regex.c - see regex.h.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/regex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "engine/common.h"

/* What one pattern's compiler may still allocate; the compiled code is allocated from it too,
 * so it lives as long as the code (inside struct sp_regex). */
typedef struct budget {
    size_t used;
    size_t cap;
} budget;

struct sp_regex {
    pcre2_code *code;
    unsigned groups;
    int jit; /* the JIT compiled it */
    budget mem;
};

struct sp_regex_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js; /* NULL when the JIT is not available */
};

/* Each block carries its size in front, so that freeing gives the budget back. */
#define HDR 16

static void *budget_malloc(size_t n, void *ud)
{
    budget *b = ud;
    if (n > b->cap - b->used)
        return NULL; /* PCRE2 reports "failed to get memory": refused as too costly */
    unsigned char *p = malloc(n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    b->used += n;
    return p + HDR;
}

static void budget_free(void *q, void *ud)
{
    if (!q)
        return;
    budget *b = ud;
    unsigned char *p = (unsigned char *)q - HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    b->used -= n;
    free(p);
}

static int is_limit_error(int code)
{
    switch (code) {
    case PCRE2_ERROR_PATTERN_TOO_LARGE:
    case PCRE2_ERROR_HEAP_FAILED:
    case PCRE2_ERROR_PARENTHESES_NEST_TOO_DEEP:
    case PCRE2_ERROR_PATTERN_TOO_COMPLICATED:
    case PCRE2_ERROR_PATTERN_STRING_TOO_LONG:
    case PCRE2_ERROR_TOO_MANY_CAPTURES:
        return 1;
    default:
        return 0;
    }
}

int sp_regex_compile(const char *pattern, size_t len, sp_regex **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len > SP_REGEX_MAX_LEN) {
        snprintf(err, errlen, "the pattern is %zu bytes long; at most %d", len, SP_REGEX_MAX_LEN);
        return SP_ELIMIT;
    }
    sp_regex *re = sp_calloc(1, sizeof *re);
    re->mem.cap = SP_REGEX_MAX_COMPILE_BYTES;
    int ret = 0;
    pcre2_general_context *gc = pcre2_general_context_create(budget_malloc, budget_free, &re->mem);
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    if (!cc) {
        snprintf(err, errlen, "cannot set up the regex compiler");
        ret = SP_ESYS;
        goto out;
    }
    pcre2_set_max_pattern_length(cc, SP_REGEX_MAX_LEN);
    pcre2_set_parens_nest_limit(cc, SP_REGEX_MAX_NESTING);
    int code;
    PCRE2_SIZE at;
    /* \C could step into the middle of a character and is of no use over response bodies. */
    re->code = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_NEVER_BACKSLASH_C, &code, &at, cc);
    if (!re->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        if (code == PCRE2_ERROR_HEAP_FAILED)
            snprintf(err, errlen, "the pattern is too costly to compile (over %d KB)",
                     SP_REGEX_MAX_COMPILE_BYTES / 1024);
        else
            snprintf(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)at);
        ret = is_limit_error(code) ? SP_ELIMIT : SP_EINVAL;
        goto out;
    }
    uint32_t groups = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    re->groups = groups;
    /* The JIT is much faster on long bodies and honours the match limit; a pattern it cannot
     * take (or a build without it) is interpreted. */
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
out:
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(gc);
    if (ret) {
        sp_regex_free(re);
        return ret;
    }
    *out = re;
    return 0;
}

void sp_regex_free(sp_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code); /* gives its memory back to re->mem, still alive here */
    free(re);
}

unsigned sp_regex_groups(const sp_regex *re)
{
    return re->groups;
}

static void oom(void)
{
    fprintf(stderr, "stampede: out of memory setting up a regex matcher\n");
    abort();
}

sp_regex_scratch *sp_regex_scratch_new(void)
{
    sp_regex_scratch *s = sp_calloc(1, sizeof *s);
    s->md = pcre2_match_data_create(SP_REGEX_MAX_GROUPS + 1, NULL);
    s->mc = pcre2_match_context_create(NULL);
    if (!s->md || !s->mc)
        oom();
    pcre2_set_match_limit(s->mc, SP_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(s->mc, SP_REGEX_MATCH_LIMIT);
    pcre2_set_heap_limit(s->mc, SP_REGEX_HEAP_LIMIT_KB);
    s->js = pcre2_jit_stack_create(32 * 1024, SP_REGEX_JIT_STACK_BYTES, NULL);
    if (s->js)
        pcre2_jit_stack_assign(s->mc, NULL, s->js);
    return s;
}

void sp_regex_scratch_free(sp_regex_scratch *s)
{
    if (!s)
        return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mc);
    pcre2_jit_stack_free(s->js);
    free(s);
}

int sp_regex_match(const sp_regex *re, sp_regex_scratch *s, const char *subject, size_t len,
                   unsigned group, size_t *start, size_t *mlen)
{
    if (group > re->groups || group > SP_REGEX_MAX_GROUPS)
        return SP_EINVAL;
    /* Without a JIT stack of our own the JIT would use 32 KB of the thread's stack: interpret. */
    uint32_t opts = re->jit && s->js ? 0 : PCRE2_NO_JIT;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, opts, s->md, s->mc);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0) {
        switch (rc) {
        case PCRE2_ERROR_MATCHLIMIT:
        case PCRE2_ERROR_DEPTHLIMIT:
        case PCRE2_ERROR_HEAPLIMIT:
        case PCRE2_ERROR_JIT_STACKLIMIT:
        case PCRE2_ERROR_NOMEMORY:
            return SP_ELIMIT;
        default:
            return SP_EINVAL;
        }
    }
    /* rc == 0 would mean the match data has too few pairs: it has one per group we allow. */
    if (rc > 0 && group >= (unsigned)rc)
        return 0; /* the group did not take part in the match */
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
    if (ov[2 * group] == PCRE2_UNSET)
        return 0;
    if (start)
        *start = ov[2 * group];
    if (mlen)
        *mlen = ov[2 * group + 1] - ov[2 * group];
    return 1;
}
