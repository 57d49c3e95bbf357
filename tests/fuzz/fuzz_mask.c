/*
 * fuzz_mask.c - the masking of secrets (engine/mask.c) on arbitrary values and text.
 *
 * The input is up to four values, each ended by a newline, then a NUL byte, then the text
 * (without the NUL, all of it is text and the values are fixed ones). The text is masked with
 * and without SP_MASK_CUT, into a buffer with a cap too small for some inputs. What must hold:
 * masking never reads or writes out of bounds (the sanitizers see to it), an output without a
 * hit is the text itself, and no value of SP_MASK_MIN_BYTES or more without a '*' (the mask
 * next to text could spell one that has) appears in the output as written.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/limits.h"
#include "engine/mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *values[4];
    size_t nv = 0;
    const char *text = (const char *)data;
    size_t n = size;
    const uint8_t *nul = memchr(data, 0, size);
    if (nul) {
        const uint8_t *p = data;
        while (p < nul && nv < 4) {
            const uint8_t *eol = memchr(p, '\n', (size_t)(nul - p));
            const uint8_t *end = eol ? eol : nul;
            values[nv++] = sp_strndup((const char *)p, (size_t)(end - p));
            p = eol ? eol + 1 : nul;
        }
        text = (const char *)nul + 1;
        n = size - (size_t)(nul + 1 - data);
    } else {
        values[nv++] = sp_strdup("p@ss w/rd!\"q\\z+1");
        values[nv++] = sp_strdup("100%25off");
    }
    sp_mask *m = sp_mask_new((const char *const *)values, nv);
    for (unsigned flags = 0; flags <= SP_MASK_CUT; flags += SP_MASK_CUT) {
        sp_buf out;
        sp_buf_init(&out, 4096);
        int hit = sp_mask_apply(m, text, n, flags, &out);
        if (!hit && n <= 4096 && (out.len != n || (n && memcmp(out.p, text, n) != 0)))
            abort();
        for (size_t i = 0; i < nv; i++) {
            size_t len = strlen(values[i]);
            if (len >= SP_MASK_MIN_BYTES && !strchr(values[i], '*') && out.len &&
                memmem(out.p, out.len, values[i], len))
                abort();
        }
        sp_buf_release(&out);
    }
    sp_mask_free(m);
    for (size_t i = 0; i < nv; i++)
        free(values[i]);
    return 0;
}
