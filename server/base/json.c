/*
 * json.c - see json.h.
 */
#include "base/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *sp_json_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = sp_strdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

int sp_json_parse(const char *text, size_t len, size_t max_depth, json_t **out, char *msg,
                  size_t msglen)
{
    *out = NULL;
    if (len > SP_HTTP_MAX_BODY) {
        snprintf(msg, msglen, "body of %zu bytes is larger than the limit of %u bytes", len,
                 (unsigned)SP_HTTP_MAX_BODY);
        return SP_ELIMIT;
    }
    if (len == 0) {
        snprintf(msg, msglen, "empty body: expected a JSON object");
        return SP_EJSON;
    }
    /* Jansson recurses once per nesting level up to its own limit of 2048; the scan refuses
     * deep documents before any tree is built, and gives handlers (and the definition loader's
     * recursive walk) a bound they can rely on. */
    size_t at = sp_json_too_deep(text, len, max_depth);
    if (at != SIZE_MAX) {
        snprintf(msg, msglen, "JSON nested deeper than %zu levels (at byte %zu)", max_depth, at);
        return SP_EJSON;
    }
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        snprintf(msg, msglen, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return SP_EJSON;
    }
    *out = v;
    return 0;
}
