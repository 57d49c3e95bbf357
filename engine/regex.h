/*
 * regex.h - regular expressions with bounded time and memory, over PCRE2.
 *
 * A test's regexes (an extract's "regex", and any added later) come from whoever may save or
 * merely validate a test, and run against whatever a target answers. glibc's POSIX regex
 * backtracks without bound: `(a|aa)*c` against 200 KB ran for minutes, `(a*)*\1b` took
 * gigabytes. Here every pattern and every match has a ceiling, all named in limits.h:
 *   - compiling: the pattern's length (SP_REGEX_MAX_LEN), its nesting of parentheses, the
 *     memory the compiler may take (SP_REGEX_MAX_COMPILE_BYTES, which also bounds the compiled
 *     code: `((a{1,100}){1,100}){1,100}` is refused at once as too large);
 *   - matching: PCRE2's match limit (SP_REGEX_MATCH_LIMIT, the number of times its internal
 *     match function is entered, so it bounds the time), its depth limit and its heap limit
 *     (SP_REGEX_HEAP_LIMIT_KB, the backtracking memory). A match that reaches one of them fails
 *     with SP_ELIMIT, never with a wrong answer.
 * Patterns are compiled once, when a definition is loaded; JIT-compiled where PCRE2 can (the
 * JIT honours the match limit too), interpreted otherwise.
 *
 * Syntax: Perl-compatible (PCRE2), UTF-8 off: a pattern and a subject are bytes. POSIX extended
 * patterns the engine used to take mean the same here, save for rare corners (documented in
 * docs/test-format.md).
 *
 * Threads: a compiled sp_regex is immutable and may be shared by every worker thread; each
 * thread matches with its own sp_regex_scratch (match data, limits, the JIT's stack).
 */
#ifndef SP_REGEX_H
#define SP_REGEX_H

#include <stddef.h>

typedef struct sp_regex sp_regex;
typedef struct sp_regex_scratch sp_regex_scratch;

/*
 * Compiles pattern (len bytes, need not be NUL-terminated) into *out. Returns 0; SP_EINVAL for
 * a syntax error; SP_ELIMIT for a pattern too long, too deeply nested or too costly to compile.
 * err gets the reason ("missing closing parenthesis at offset 4", "the pattern is too large
 * once compiled"). Any thread; the work is bounded by the caps above whatever the pattern.
 */
int sp_regex_compile(const char *pattern, size_t len, sp_regex **out, char *err, size_t errlen);
/* Frees re; NULL is ignored. */
void sp_regex_free(sp_regex *re);
/* The number of capture groups the pattern has. */
unsigned sp_regex_groups(const sp_regex *re);

/* A thread's match state. Never NULL (allocation aborts when memory runs out). */
sp_regex_scratch *sp_regex_scratch_new(void);
void sp_regex_scratch_free(sp_regex_scratch *s);

/*
 * Matches re against subject[0..len). On a match, *start and *mlen (either may be NULL) get
 * where capture group `group` (0: the whole match) begins and how long it is, and 1 is
 * returned. Returns 0 when there is no match or the group did not take part in it; SP_ELIMIT
 * when a limit was reached (the match was given up); SP_EINVAL for a group the pattern does not
 * have. Uses only s, which belongs to the calling thread.
 */
int sp_regex_match(const sp_regex *re, sp_regex_scratch *s, const char *subject, size_t len,
                   unsigned group, size_t *start, size_t *mlen);

#endif
