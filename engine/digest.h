/*
 * digest.h - SHA-256 (FIPS 180-4), HMAC-SHA-256 (RFC 2104) and base64 (RFC 4648), for the
 * expression language's sha256(), hmac_sha256() and base64(). Small and self-contained, so the
 * engine needs no crypto library for them; not meant for secrets at rest.
 *
 * Threads: no state; any thread.
 */
#ifndef SP_DIGEST_H
#define SP_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SP_SHA256_LEN 32

typedef struct sp_sha256 {
    uint32_t h[8];
    uint64_t total;
    uint8_t buf[64];
    size_t nbuf;
} sp_sha256;

void sp_sha256_init(sp_sha256 *c);
void sp_sha256_update(sp_sha256 *c, const void *data, size_t n);
void sp_sha256_final(sp_sha256 *c, uint8_t out[SP_SHA256_LEN]);
/* One call: the digest of data[0..n). */
void sp_sha256_digest(const void *data, size_t n, uint8_t out[SP_SHA256_LEN]);
/* HMAC-SHA-256 of text with key. */
void sp_hmac_sha256(const void *key, size_t klen, const void *text, size_t n,
                    uint8_t out[SP_SHA256_LEN]);
/* Writes base64 (with '=' padding) of in[0..n) to out, which holds at least
 * SP_BASE64_LEN(n) bytes; returns the length written (no NUL). */
#define SP_BASE64_LEN(n) ((((n) + 2) / 3) * 4)
size_t sp_base64(const void *in, size_t n, char *out);

#endif
