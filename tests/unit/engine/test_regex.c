/*
 * test_regex.c - engine/regex.h: syntax, capture groups, and the bounds on compiling and
 * matching that keep a hostile pattern or body from hanging a worker or eating the memory.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "check.h"
#include "engine/common.h"
#include "engine/regex.h"

static int compile(const char *p, sp_regex **re, char *err, size_t errlen)
{
    return sp_regex_compile(p, strlen(p), re, err, errlen);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_groups_and_offsets(void)
{
    char err[200];
    sp_regex *re;
    CHECK_INT_EQ(compile("\"token\":\"([^\"]+)\"", &re, err, sizeof err), 0);
    CHECK_INT_EQ(sp_regex_groups(re), 1);
    sp_regex_scratch *s = sp_regex_scratch_new();
    const char *body = "{\"id\":7,\"token\":\"abc123\"}";
    size_t st = 99, len = 99;
    CHECK_INT_EQ(sp_regex_match(re, s, body, strlen(body), 1, &st, &len), 1);
    CHECK_INT_EQ(st, 17);
    CHECK_INT_EQ(len, 6);
    CHECK_INT_EQ(sp_regex_match(re, s, body, strlen(body), 0, &st, &len), 1);
    CHECK_INT_EQ(st, 8);
    CHECK_INT_EQ(len, 16);
    /* The subject is bytes with a length, not a C string: nothing past len is looked at. */
    CHECK_INT_EQ(sp_regex_match(re, s, body, 20, 1, &st, &len), 0);
    CHECK_INT_EQ(sp_regex_match(re, s, body, strlen(body), 2, &st, &len), SP_EINVAL);
    sp_regex_free(re);

    /* A group that did not take part in the match is no match for that group. */
    CHECK_INT_EQ(compile("a(x)?b|c(d)", &re, err, sizeof err), 0);
    CHECK_INT_EQ(sp_regex_match(re, s, "cd", 2, 2, &st, &len), 1);
    CHECK_INT_EQ(st, 1);
    CHECK_INT_EQ(sp_regex_match(re, s, "cd", 2, 1, &st, &len), 0);
    CHECK_INT_EQ(sp_regex_match(re, s, "ab", 2, 1, &st, &len), 0);
    CHECK_INT_EQ(sp_regex_match(re, s, "zz", 2, 0, &st, &len), 0);
    sp_regex_free(re);
    sp_regex_scratch_free(s);
}

/* What POSIX extended patterns in existing tests said still means the same. */
static void test_posix_classes(void)
{
    char err[200];
    sp_regex *re;
    CHECK_INT_EQ(compile("id=([[:digit:]]+)", &re, err, sizeof err), 0);
    sp_regex_scratch *s = sp_regex_scratch_new();
    size_t st, len;
    CHECK_INT_EQ(sp_regex_match(re, s, "x id=4711;", 10, 1, &st, &len), 1);
    CHECK_INT_EQ(st, 5);
    CHECK_INT_EQ(len, 4);
    sp_regex_free(re);
    sp_regex_scratch_free(s);
}

static void test_compile_errors(void)
{
    char err[200] = "";
    sp_regex *re = (sp_regex *)1;
    CHECK_INT_EQ(compile("a(b", &re, err, sizeof err), SP_EINVAL);
    CHECK(re == NULL);
    CHECK(strstr(err, "offset 3") != NULL);
    CHECK_INT_EQ(compile("[z-a]", &re, err, sizeof err), SP_EINVAL);

    char *big = malloc(SP_REGEX_MAX_LEN + 2);
    memset(big, 'a', SP_REGEX_MAX_LEN + 1);
    big[SP_REGEX_MAX_LEN + 1] = '\0';
    CHECK_INT_EQ(compile(big, &re, err, sizeof err), SP_ELIMIT);
    big[SP_REGEX_MAX_LEN] = '\0';
    CHECK_INT_EQ(compile(big, &re, err, sizeof err), 0);
    sp_regex_free(re);
    free(big);

    char deep[2 * (SP_REGEX_MAX_NESTING + 1) + 2];
    size_t n = 0;
    for (int i = 0; i <= SP_REGEX_MAX_NESTING; i++)
        deep[n++] = '(';
    deep[n++] = 'a';
    for (int i = 0; i <= SP_REGEX_MAX_NESTING; i++)
        deep[n++] = ')';
    deep[n] = '\0';
    CHECK_INT_EQ(compile(deep, &re, err, sizeof err), SP_ELIMIT);
}

/* The validation bomb: glibc took 4.3 s and 1.8 GB for it; here it is refused at once. */
static void test_costly_patterns_refused(void)
{
    char err[200] = "";
    sp_regex *re = NULL;
    long before = max_rss_kb();
    CHECK_INT_EQ(compile("((a{1,100}){1,100}){1,100}", &re, err, sizeof err), SP_ELIMIT);
    CHECK_INT_EQ(compile("(?:(?:(?:a{1,60}){1,60}){1,60}){1,60}", &re, err, sizeof err), SP_ELIMIT);
    /* Many alternatives that each compile small still stay under the compile budget. */
    sp_buf b;
    sp_buf_init(&b, 1 << 16);
    for (int i = 0; i < 900; i++)
        sp_buf_addf(&b, "%sx{1,99}", i ? "|" : "");
    int rc = compile(b.p, &re, err, sizeof err);
    CHECK(rc == 0 || rc == SP_ELIMIT);
    sp_regex_free(re);
    sp_buf_release(&b);
    CHECK(max_rss_kb() - before < 64 * 1024);
}

/* Backtracking bombs against a large body end with SP_ELIMIT, quickly and in little memory. */
static void test_match_limits(void)
{
    static const char *const bombs[] = {"(a|aa)*[bc]", "(a*)*\\1[bc]", "^(\\w+\\s?)*$",
                                        "(?:a+)+(?:b|c)", "(a|a?)+[bc]"};
    size_t n = 200 * 1024;
    char *body = malloc(n);
    memset(body, 'a', n);
    body[n - 1] = '!';
    sp_regex_scratch *s = sp_regex_scratch_new();
    long before = max_rss_kb();
    for (size_t i = 0; i < SP_ARRAY_LEN(bombs); i++) {
        char err[200];
        sp_regex *re;
        CHECK_INT_EQ(compile(bombs[i], &re, err, sizeof err), 0);
        int rc = sp_regex_match(re, s, body, n, 0, NULL, NULL);
        if (rc != SP_ELIMIT)
            fprintf(stderr, "  %s -> %d\n", bombs[i], rc);
        CHECK_INT_EQ(rc, SP_ELIMIT);
        sp_regex_free(re);
    }
    /* 4.4 GB with glibc; the heap limit is 8 MB a match, the JIT stack 512 KB a thread. */
    CHECK(max_rss_kb() - before < 64 * 1024);
    /* An ordinary pattern over the same body still matches. */
    char err[200];
    sp_regex *re;
    CHECK_INT_EQ(compile("a{3}(!)$", &re, err, sizeof err), 0);
    size_t st, len;
    CHECK_INT_EQ(sp_regex_match(re, s, body, n, 1, &st, &len), 1);
    CHECK_INT_EQ(st, n - 1);
    sp_regex_free(re);
    sp_regex_scratch_free(s);
    free(body);
}

int main(void)
{
    RUN(test_groups_and_offsets);
    RUN(test_posix_classes);
    RUN(test_compile_errors);
    RUN(test_costly_patterns_refused);
    RUN(test_match_limits);
    return check_summary();
}
