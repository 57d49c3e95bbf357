/*
 * fuzz_regex.c - the bounded regex engine (engine/regex.h) on arbitrary patterns and subjects.
 *
 * The input is a pattern, a NUL byte, and a subject (no NUL: the whole input is the pattern and
 * the pattern is also matched against itself). Whatever compiles is matched for every group;
 * the answers must be 1, 0 or SP_ELIMIT, and a match must lie inside the subject.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/regex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t plen = nul ? (size_t)(nul - text) : size;
    const char *subject = nul ? nul + 1 : text;
    size_t slen = nul ? size - plen - 1 : size;
    char err[256];
    sp_regex *re = NULL;
    if (sp_regex_compile(text, plen, &re, err, sizeof err) != 0)
        return 0;
    sp_regex_scratch *s = sp_regex_scratch_new();
    unsigned groups = sp_regex_groups(re);
    for (unsigned g = 0; g <= groups && g <= SP_REGEX_MAX_GROUPS; g++) {
        size_t st = 0, len = 0;
        int rc = sp_regex_match(re, s, subject, slen, g, &st, &len);
        if (rc != 0 && rc != 1 && rc != SP_ELIMIT)
            abort();
        if (rc == 1 && (st > slen || len > slen - st))
            abort();
    }
    sp_regex_scratch_free(s);
    sp_regex_free(re);
    return 0;
}
