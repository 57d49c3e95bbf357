/*
 * fuzz_cookie.c - the Cookie header parser (sp_auth_cookie_get) on arbitrary bytes: the
 * header cap, pairs split on ';', names matched exactly, values trimmed and unquoted.
 *
 * Invariants checked: a value found is NUL-terminated, fits the buffer, holds no ';' and does
 * not start or end with a blank; a header longer than SP_AUTH_MAX_COOKIE is refused whatever
 * it holds; the same header asked twice gives the same answer. The first byte of the input
 * picks the output buffer's size, so the "does not fit" boundary is exercised too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *header, size_t outlen)
{
    char *out = malloc(outlen);
    char again[SP_AUTH_MAX_COOKIE + 1];
    int rc = sp_auth_cookie_get(header, "sp_session", out, outlen);
    if (rc == 0) {
        size_t n = strnlen(out, outlen);
        if (n == outlen || strchr(out, ';'))
            __builtin_trap();
        if (n > 0 && (out[0] == ' ' || out[n - 1] == ' ' || out[0] == '\t' || out[n - 1] == '\t'))
            __builtin_trap();
        if (strlen(header) > SP_AUTH_MAX_COOKIE)
            __builtin_trap();
        if (sp_auth_cookie_get(header, "sp_session", again, sizeof again) != 0 ||
            strcmp(again, out) != 0)
            __builtin_trap();
    } else if (rc != SP_ENOTFOUND && rc != SP_ELIMIT) {
        __builtin_trap();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A NUL-terminated copy: a header value from libmicrohttpd is a C string. */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    check(text, 80);
    if (size > 0)
        check(text + 1, (size_t)data[0] % 96 + 1);
    free(text);
    return 0;
}
