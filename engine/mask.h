/*
 * mask.h - hides the values of a definition's secrets in text that leaves the engine: failure
 * messages (engine.c masks them before the aggregator hands a second on, so the live stream,
 * the store, REST answers, exports, reports and logs only ever see the mask) and the Try-it
 * trace (tracerec.c, in everything it records).
 *
 * A value reaches such text as written, or in a form the engine gave it on its way to a target
 * and the target echoed back. sp_mask_new works these forms out once (the loader makes one mask
 * per loaded definition: one per run or try), and sp_mask_apply finds them all in one pass:
 *   - percent-encoded, as query and form values and urlencode() write it ("p%40ss%20w%2Frd"),
 *     also with '+' for a space (form encoding as browsers write it), hex digits in either case,
 *     encoded more than once ("%2540"), or with only some of its bytes encoded;
 *   - JSON-escaped, as a json body's strings and the JSON values a message quotes write it
 *     (\" \\ \n \u0001), once or twice (a JSON document echoed inside a JSON string), each also
 *     percent-encoded as above;
 *   - base64, as in the Basic Authorization header libcurl makes of a URL's user:password: the
 *     value may start at any byte of the encoded text, so the parts of its encoding that do not
 *     depend on its neighbours are looked for at each of the three alignments, and the whole
 *     base64 word that holds one is masked (it holds the value, and whatever was encoded with it).
 *
 * Every byte of an occurrence is covered; overlapping and adjacent occurrences (two secrets, one
 * a part of another) become one SP_SECRET_MASK. A text cut in the middle of a value, before a
 * "..." that marks a cut or at the end of a text cut at a cap (SP_MASK_CUT), is masked from where
 * the value begins when at least SP_MASK_MIN_BYTES of it show; fewer may stay visible.
 *
 * Values shorter than SP_MASK_MIN_BYTES are not masked at all: masking "1" or "ok" would turn
 * every status code and most words of a message into the mask, and a value that short is no
 * secret (docs/test-format.md says so).
 *
 * Threads: a mask does not change after sp_mask_new; any number of threads may apply it at once.
 */
#ifndef SP_MASK_H
#define SP_MASK_H

#include <stddef.h>

#include "engine/common.h"

typedef struct sp_mask sp_mask;

/* What a secret's value is replaced with wherever it would be shown. */
#define SP_SECRET_MASK "********"

/* sp_mask_apply's flags. */
enum {
    SP_MASK_CUT = 1 /* the text was cut at its end: a value it ends inside is masked */
};

/*
 * A mask for the n values (copied; each a string of at most SP_DEF_MAX_SECRET_BYTES). Returns
 * NULL when none is at least SP_MASK_MIN_BYTES long: there is nothing to mask. Never fails
 * otherwise (allocation aborts).
 */
sp_mask *sp_mask_new(const char *const *values, size_t n);
void sp_mask_free(sp_mask *m);

/*
 * Appends the n bytes of s (any bytes, NUL included) to out with every occurrence of a value in
 * any of its forms replaced by SP_SECRET_MASK. Returns 1 when something was masked, else 0 (out
 * then got s as it is). m NULL masks nothing. When out reaches its cap, the rest is left out.
 * Time: linear in n for text that holds no value, times the number of forms that may start at
 * a byte; one call allocates n bytes at most, and only when it finds something.
 */
int sp_mask_apply(const sp_mask *m, const char *s, size_t n, unsigned flags, sp_buf *out);

#endif
