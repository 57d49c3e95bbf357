/*
 * check.h - a small typed-assert header for unit tests.
 *
 * A test file defines functions `static void test_something(void)` and a main() that calls
 * RUN(test_something) for each, then `return check_summary();`. A failed check prints the
 * file, line, the expression and both values, marks the test failed and returns from it.
 * The summary prints "N passed, N failed" and the exit code is non-zero on any failure.
 *
 * SP_CHECK_ONLY=test_a,test_b in the environment runs only the tests of those names (the others
 * are skipped, and counted as such): the mutation check (tests/mutation/) uses it to run the
 * one test that should catch a mutation, not its neighbours in the same file.
 */
#ifndef SP_CHECK_H
#define SP_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_tests_passed, check_tests_failed, check_tests_skipped, check_current_failed;
static const char *check_current_name;

#define CHECK_FAIL_(fmt, ...)                                                                      \
    do {                                                                                           \
        fprintf(stderr, "  FAIL %s (%s:%d): " fmt "\n", check_current_name, __FILE__, __LINE__,    \
                __VA_ARGS__);                                                                      \
        check_current_failed = 1;                                                                  \
        return;                                                                                    \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            CHECK_FAIL_("%s", #cond);                                                              \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            CHECK_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                                 \
    } while (0)

#define CHECK_UINT_EQ(a, b)                                                                        \
    do {                                                                                           \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);             \
        if (a_ != b_)                                                                              \
            CHECK_FAIL_("%s == %s: %llu != %llu", #a, #b, a_, b_);                                 \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            CHECK_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                  \
                        b_ ? b_ : "(null)");                                                       \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            CHECK_FAIL_("%s contains \"%s\": \"%s\"", #hay, n_, h_ ? h_ : "(null)");               \
    } while (0)

/* |a - b| <= tol */
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                             \
        if (!(fabs(a_ - b_) <= t_))                                                                \
            CHECK_FAIL_("%s ~ %s: %g vs %g (tolerance %g)", #a, #b, a_, b_, t_);                   \
    } while (0)

/* Whether SP_CHECK_ONLY (a comma-separated list of names) is unset or names this test. */
static inline int check_selected(const char *name)
{
    const char *only = getenv("SP_CHECK_ONLY");
    if (!only || !*only)
        return 1;
    size_t n = strlen(name);
    for (const char *p = strstr(only, name); p; p = strstr(p + 1, name))
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        if (!check_selected(#fn)) {                                                                \
            check_tests_skipped++;                                                                 \
            break;                                                                                 \
        }                                                                                          \
        check_current_name = #fn;                                                                  \
        check_current_failed = 0;                                                                  \
        fn();                                                                                      \
        if (check_current_failed) {                                                                \
            check_tests_failed++;                                                                  \
        } else {                                                                                   \
            check_tests_passed++;                                                                  \
            fprintf(stderr, "  ok   %s\n", #fn);                                                   \
        }                                                                                          \
    } while (0)

static inline int check_summary(void)
{
    if (check_tests_skipped)
        printf("%d passed, %d failed, %d skipped (SP_CHECK_ONLY)\n", check_tests_passed,
               check_tests_failed, check_tests_skipped);
    else
        printf("%d passed, %d failed\n", check_tests_passed, check_tests_failed);
    return check_tests_failed ? 1 : 0;
}

#endif
