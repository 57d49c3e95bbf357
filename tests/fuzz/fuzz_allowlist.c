/*
 * fuzz_allowlist.c - the target allowlist's entry parser on arbitrary bytes, and the URL check
 * on them.
 *
 * A parse either fails with a non-empty reason or gives an entry that is self-consistent: a
 * prefix within its family's width, host bits cleared, a lower-case host name of allowed
 * characters. The input is also tried as a one-entry list and as a URL's authority against a
 * list of 127.0.0.2 when the resolver reads it as a number (so no DNS query is ever sent).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/allowlist.h"
#include "engine/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_allow_entry e;
    char err[160] = "";
    int rc = sp_allow_entry_parse((const char *)data, size, &e, err, sizeof err);
    if (rc != 0) {
        if (!err[0] || (rc != SP_EINVAL && rc != SP_ELIMIT))
            abort();
    } else if (e.kind == SP_ALLOW_V4) {
        if (e.prefix > 32)
            abort();
        for (unsigned b = e.prefix; b < 32; b++)
            if (e.addr[b / 8] & (0x80u >> (b % 8)))
                abort();
    } else if (e.kind == SP_ALLOW_V6) {
        if (e.prefix > 128)
            abort();
    } else {
        size_t n = strlen(e.name);
        if (n == 0 || n > 253)
            abort();
        for (size_t i = 0; i < n; i++)
            if (e.name[i] >= 'A' && e.name[i] <= 'Z')
                abort();
    }
    if (size > SP_ALLOW_MAX_ENTRY)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    const char *entries[1] = {text};
    sp_errlist el;
    sp_errlist_init(&el);
    sp_allowlist *al = NULL;
    int lrc = sp_allowlist_new(entries, 1, &al, &el);
    if ((lrc == 0) != (rc == 0 && !memchr(data, '\0', size)))
        abort();
    sp_allowlist_free(al);
    sp_errlist_release(&el);
    /* Only hosts the resolver reads as numbers, so that no DNS query is ever sent. */
    struct in_addr a4;
    unsigned char a6[16];
    if (size && (inet_aton(text, &a4) || inet_pton(AF_INET6, text, a6) == 1)) {
        const char *one[1] = {"127.0.0.2"};
        sp_allowlist_new(one, 1, &al, &el);
        char url[SP_ALLOW_MAX_ENTRY + 16], why[256];
        memcpy(url, "http://", 7);
        int v6 = strchr(text, ':') != NULL;
        size_t o = 7;
        if (v6)
            url[o++] = '[';
        memcpy(url + o, text, size);
        o += size;
        if (v6)
            url[o++] = ']';
        url[o] = '\0';
        (void)sp_allowlist_check_url(al, url, why, sizeof why);
        sp_allowlist_free(al);
        sp_errlist_release(&el);
    }
    free(text);
    return 0;
}
