/*
 * fuzz_curl_import.c - the curl command importer (sp_curl_import) on arbitrary bytes: the word
 * splitter (quotes, $'...' escapes, continuations), the option reader (short clusters, options
 * missing their value) and the step builder (form decoding, JSON detection, template escaping).
 *
 * Invariants checked: an import either succeeds with a step whose request has string method,
 * url and name and at most one body kind, and no errors; or fails with no step, a known code
 * and at least one error on the path "command".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import/curlimport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_step(json_t *step)
{
    json_t *req = json_object_get(step, "request"); /* borrowed */
    if (!json_is_object(req) || !json_is_string(json_object_get(req, "method")) ||
        !json_is_string(json_object_get(req, "url")) ||
        !json_is_string(json_object_get(req, "name")))
        __builtin_trap();
    static const char *const kinds[] = {"json", "form", "body", "multipart"};
    int n = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(kinds); i++)
        n += json_object_get(req, kinds[i]) != NULL;
    if (n > 1)
        __builtin_trap();
    json_t *headers = json_object_get(req, "headers"); /* borrowed */
    if (headers && !json_is_object(headers))
        __builtin_trap();
    char *text = json_dumps(step, JSON_COMPACT);
    if (!text)
        __builtin_trap();
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so that a read past the end is caught by the sanitizer. */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *step = (json_t *)1;
    int rc = sp_curl_import(text, size, &step, &el);
    if (rc == 0) {
        if (!step || el.n)
            __builtin_trap();
        check_step(step);
        json_decref(step);
    } else {
        if (step || !el.n || strcmp(el.v[0].path, "command") ||
            (rc != SP_EINVAL && rc != SP_ELIMIT))
            __builtin_trap();
    }
    sp_errlist_release(&el);
    free(text);
    return 0;
}
