/*
 * import_fuzz.h - what the importer fuzz targets (fuzz_har_import.c, fuzz_oas_import.c) share:
 * feeding each input both ways a REST body can carry a document, and the invariants every
 * importer keeps. Included by one fuzz target each; everything here is static.
 *
 * Invariants: an import either succeeds with no errors and a definition that the definition
 * loader accepts (every import must be a valid test), or fails with no definition, a known code
 * and at least one error.
 */
#ifndef SP_IMPORT_FUZZ_H
#define SP_IMPORT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/definition.h"
#include "engine/limits.h"
#include "base/json.h"
#include "import/importutil.h"

/* Runs one importer on doc (borrowed); size varies its options. */
typedef void (*import_fn)(const json_t *doc, size_t size);

/* Checks an importer's outcome and frees def and extra (both owned, NULL on failure). */
static void check_import(int rc, json_t *def, json_t *extra, sp_errlist *el)
{
    if (rc != 0) {
        if (def || extra || !el->n || (rc != SP_EINVAL && rc != SP_ELIMIT))
            __builtin_trap();
        return;
    }
    if (!def || !extra || el->n || !json_is_array(extra))
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
}

/*
 * Tries data as a REST body (parsed as the HTTP layer parses one, the document found under
 * key or as the body itself) and as the text of {"document": "..."} (importutil.h's own parse,
 * with its YAML refusal), handing each document found to fn.
 */
static void fuzz_documents(const uint8_t *data, size_t size, const char *key, import_fn fn)
{
    char msg[512];
    json_t *body = NULL;
    if (sp_json_parse((const char *)data, size, SP_HTTP_MAX_DEPTH, &body, msg, sizeof msg) == 0) {
        json_t *doc = NULL;
        const char *path;
        if (sp_import_document(body, key, &doc, &path, msg, sizeof msg) == 0) {
            fn(doc, size);
            json_decref(doc);
        }
        json_decref(body);
    }
    json_t *s = json_stringn((const char *)data, size);
    if (s) {
        json_t *wrap = json_pack("{s:o}", "document", s);
        json_t *doc = NULL;
        const char *path;
        int rc = sp_import_document(wrap, key, &doc, &path, msg, sizeof msg);
        if (rc == 0) {
            fn(doc, size);
            json_decref(doc);
        } else if (strcmp(path, "document") != 0 || !msg[0]) {
            __builtin_trap();
        }
        json_decref(wrap);
    }
}

#endif
