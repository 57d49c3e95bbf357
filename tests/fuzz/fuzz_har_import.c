/*
 * fuzz_har_import.c - the HAR importer (sp_har_import) on arbitrary bytes: entries of every shape,
 * URLs, static asset detection, header filtering, body kinds (JSON, forms, multipart, raw), token
 * correlation across responses and template escaping. Inputs and invariants: import_fuzz.h; the
 * notes an import returns are an array too.
 */
#include "import/harimport.h"
#include "import_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void import_one(const json_t *doc, size_t size)
{
    sp_har_opts o = {NULL, (size & 2) ? "http://127.0.0.1:8090" : NULL, (int)(size & 1)};
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *def = (json_t *)1, *extra = (json_t *)1, *notes = (json_t *)1;
    int rc = sp_har_import(doc, &o, &def, &extra, &notes, &el);
    if (rc == 0 ? !json_is_array(notes) : notes != NULL)
        __builtin_trap();
    json_decref(notes);
    check_import(rc, def, extra, &el);
    sp_errlist_release(&el);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_documents(data, size, "log", import_one);
    return 0;
}
