/*
 * fuzz_oas_import.c - the OpenAPI importer (sp_oas_import) on arbitrary bytes: servers and their
 * variables, path items and parameters, request bodies, example generation from schemas with local
 * $refs, allOf/oneOf, cycles and depth bounds. Each input is tried as a REST body (parsed as the
 * HTTP layer parses one) and as the text of
 * {"document": "..."} (importutil.h's own parse, with its YAML refusal).
 *
 * Invariants checked: an import either succeeds with no errors and a definition that the
 * definition loader accepts (every import must be a valid test), or fails with no definition,
 * a known code and at least one error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/definition.h"
#include "engine/limits.h"
#include "server/http.h"
#include "server/importutil.h"
#include "server/oasimport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void import_one(const json_t *doc, size_t size)
{
    sp_oas_opts o = {NULL, (size & 2) ? "http://127.0.0.1:8090" : NULL};
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *def = (json_t *)1, *extra = (json_t *)1;
    int rc = sp_oas_import(doc, &o, &def, &extra, &el);
    if (rc == 0) {
        if (!def || !extra || el.n || !json_is_array(extra))
            __builtin_trap();
        char *text = json_dumps(def, JSON_COMPACT);
        if (!text)
            __builtin_trap();
        sp_errlist dl;
        sp_errlist_init(&dl);
        sp_def *d = NULL;
        if (sp_def_load(text, strlen(text), NULL, NULL, &d, &dl) != 0) {
            /* An import that does not validate: say why before stopping. */
            sp_buf b;
            sp_buf_init(&b, 1 << 16);
            sp_errlist_format(&dl, &b);
            fprintf(stderr, "%s\n%s\n", b.p ? b.p : "", text);
            __builtin_trap();
        }
        sp_def_free(d);
        sp_errlist_release(&dl);
        free(text);
        json_decref(def);
        json_decref(extra);
    } else {
        if (def || extra || !el.n || (rc != SP_EINVAL && rc != SP_ELIMIT))
            __builtin_trap();
    }
    sp_errlist_release(&el);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[512];
    json_t *body = NULL;
    if (sp_http_json_parse((const char *)data, size, SP_HTTP_MAX_DEPTH, &body, msg, sizeof msg) ==
        0) {
        json_t *doc = NULL;
        const char *path;
        if (sp_import_document(body, "openapi", &doc, &path, msg, sizeof msg) == 0) {
            import_one(doc, size);
            json_decref(doc);
        }
        json_decref(body);
    }
    json_t *s = json_stringn((const char *)data, size);
    if (s) {
        json_t *wrap = json_pack("{s:o}", "document", s);
        json_t *doc = NULL;
        const char *path;
        int rc = sp_import_document(wrap, "openapi", &doc, &path, msg, sizeof msg);
        if (rc == 0) {
            import_one(doc, size);
            json_decref(doc);
        } else if (strcmp(path, "document") != 0 || !msg[0]) {
            __builtin_trap();
        }
        json_decref(wrap);
    }
    return 0;
}
