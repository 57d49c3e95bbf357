/*
 * oasimport.h - turns an OpenAPI 3.0 or 3.1 document (JSON) into a test definition: one task
 * per operation, each with one named step, so a run exercises every operation evenly and
 * "Try it" calls each once.
 *
 *   - the step's name is the operationId, or "METHOD /path/{param}" without one;
 *   - path parameters are filled from the parameter's example, examples, or its schema
 *     (example, default, enum[0], then a value of the schema's type), else a placeholder ("1"
 *     for ids and numbers); required query and header parameters the same way;
 *   - the request body is the media type's example, or one generated from its schema: example,
 *     examples[0], default, const, enum[0], then by type (objects with every property that is
 *     not readOnly, arrays of one item, strings by format). Local references
 *     ("#/components/schemas/...", any "#/..." pointer) are followed up to SP_OAS_REF_DEPTH
 *     levels, and a schema that refers back to itself ends in null rather than looping.
 *     JSON bodies become "json", forms "form", multipart bodies "multipart";
 *   - the base URL is servers[0].url with its variables' defaults; a relative one is resolved
 *     against opts->base_url, which, when given, also replaces an absolute one;
 *   - notes (a list of strings) say what could not be imported as such: operations that need
 *     authentication, external references, media types sent as plain text.
 *
 * YAML is refused by importutil.h's sp_import_document() with a message asking for JSON.
 * Threads: no global state; any thread may call it.
 */
#ifndef SP_OASIMPORT_H
#define SP_OASIMPORT_H

#include <jansson.h>

#include "engine/common.h"

typedef struct sp_oas_opts {
    const char *name;     /* the test's name; NULL: info.title */
    const char *base_url; /* NULL: servers[0].url, which must then be absolute */
} sp_oas_opts;

/*
 * Imports doc (borrowed). On success returns 0, *def (new reference) and *notes (new reference,
 * an array of strings, maybe empty). On failure returns SP_EINVAL or SP_ELIMIT (more than
 * SP_OAS_MAX_OPERATIONS operations), both outputs NULL, and errors in errs naming the field
 * ("paths./products/{id}.get.parameters[0]") and why.
 */
int sp_oas_import(const json_t *doc, const sp_oas_opts *opts, json_t **def, json_t **notes,
                  sp_errlist *errs);

#endif
