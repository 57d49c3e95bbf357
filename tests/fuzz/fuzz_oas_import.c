/*
 * fuzz_oas_import.c - the OpenAPI importer (sp_oas_import) on arbitrary bytes: servers and their
 * variables, path items and parameters, request bodies, example generation from schemas with local
 * $refs, allOf/oneOf, cycles and depth bounds. Inputs and invariants: import_fuzz.h.
 */
#include "import/oasimport.h"
#include "import_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void import_one(const json_t *doc, size_t size)
{
    sp_oas_opts o = {NULL, (size & 2) ? "http://127.0.0.1:8090" : NULL};
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *def = (json_t *)1, *extra = (json_t *)1;
    int rc = sp_oas_import(doc, &o, &def, &extra, &el);
    check_import(rc, def, extra, &el);
    sp_errlist_release(&el);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_documents(data, size, "openapi", import_one);
    return 0;
}
