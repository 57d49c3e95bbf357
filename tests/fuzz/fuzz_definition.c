/*
 * fuzz_definition.c - libFuzzer target for the definition loader: any input must either load
 * into a definition or produce errors, never crash, leak or read out of bounds. The input is
 * split once: when it holds a NUL byte, what follows is used as a stages override, so the
 * override path is fuzzed too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/definition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t len = size;
    char *stages = NULL;
    const uint8_t *nul = memchr(data, '\0', size);
    sp_overrides ov = SP_OVERRIDES_NONE;
    if (nul) {
        len = (size_t)(nul - data);
        stages = sp_strndup((const char *)nul + 1, size - len - 1);
        ov.stages = stages;
        /* Exercise the duration and users overrides on some inputs, driven by the input. */
        if (size - len > 1 && (nul[1] & 1))
            ov.duration_ms = 1 + (int64_t)(nul[1] * 997);
        if (size - len > 1 && (nul[1] & 2))
            ov.users = 1 + (nul[1] >> 4);
    }
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *def = NULL;
    int rc = sp_def_load(text, len, nul ? &ov : NULL, NULL, &def, &el);
    if (rc == 0) {
        if (!def || el.n != 0)
            __builtin_trap();
        sp_def_free(def);
    } else if (def || (el.n == 0 && el.dropped == 0)) {
        __builtin_trap();
    }
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    sp_errlist_format(&el, &b);
    sp_buf_release(&b);
    sp_errlist_release(&el);
    free(stages);
    return 0;
}
