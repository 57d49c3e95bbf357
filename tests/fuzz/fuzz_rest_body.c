/*
 * fuzz_rest_body.c - the REST body parser (sp_json_parse) on arbitrary bytes: the size
 * cap, the bracket scan that bounds nesting before Jansson sees the text, and Jansson's own
 * checks (duplicate keys, trailing text, invalid UTF-8, NUL bytes).
 *
 * Invariants checked: a parse either succeeds with a value and no deeper nesting than asked,
 * or fails with no value, a known code and a message; a parsed value serialises again. The
 * first byte of the input picks a small depth limit for a second parse, so the scan's
 * boundary is exercised at every depth, not only at SP_HTTP_MAX_DEPTH.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Depth of a parsed value; recursion is safe because the parser bounded the nesting. */
static size_t depth_of(json_t *v)
{
    size_t d = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *child; /* borrowed */
        json_object_foreach(v, k, child)
        {
            size_t c = depth_of(child);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *child; /* borrowed */
        json_array_foreach(v, i, child)
        {
            size_t c = depth_of(child);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

static void parse_checked(const char *text, size_t len, size_t max_depth)
{
    json_t *v = (json_t *)1;
    char msg[512] = "";
    int rc = sp_json_parse(text, len, max_depth, &v, msg, sizeof msg);
    if (rc == 0) {
        if (!v || depth_of(v) > max_depth || !(json_is_object(v) || json_is_array(v)))
            __builtin_trap();
        size_t need = json_dumpb(v, NULL, 0, JSON_COMPACT);
        if (need == 0)
            __builtin_trap();
        char *out = malloc(need);
        if (json_dumpb(v, out, need, JSON_COMPACT) != need)
            __builtin_trap();
        free(out);
        json_decref(v);
    } else {
        if (v != NULL || msg[0] == '\0' || (rc != SP_EJSON && rc != SP_ELIMIT))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so that a read past the end is caught by the sanitizer. */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    parse_checked(text, size, SP_HTTP_MAX_DEPTH);
    if (size > 0)
        parse_checked(text + 1, size - 1, (size_t)(data[0] % 8));
    free(text);
    return 0;
}
