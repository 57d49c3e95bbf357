/*
 * importutil.h - what the HAR and OpenAPI importers (harimport.h, oasimport.h) share: reading
 * the document out of a REST body, escaping text that would read as a template, naming
 * requests by their path pattern, and the skeleton of the test definition they return.
 *
 * Threads: no global state; any thread may call these.
 */
#ifndef SP_IMPORTUTIL_H
#define SP_IMPORTUTIL_H

#include <jansson.h>
#include <stddef.h>

#include "engine/common.h"

/*
 * The document of an import request. body (borrowed) is either the document itself (an object
 * holding `key`, "log" for HAR or "openapi" for OpenAPI) or {"document": <object or string>}; a
 * string is parsed here, bounded by SP_IMPORT_MAX_BYTES and SP_IMPORT_MAX_DEPTH, and text that
 * looks like YAML is refused with a message saying JSON is needed. On success returns 0 and
 * *doc (a new reference). On failure returns SP_EINVAL or SP_ELIMIT with *doc NULL, the field
 * in *path (static: "", "document") and the reason in msg.
 */
int sp_import_document(json_t *body, const char *key, json_t **doc, const char **path, char *msg,
                       size_t msglen);

/* A JSON string of n bytes in which "{{" is written as {{"{{"}}, so the engine sends the text
 * as it was recorded rather than reading a template hole. NULL when not UTF-8. New reference. */
json_t *sp_import_tmpl_string(const char *s, size_t n);
/* The same for every string inside a JSON value, in place (keys are not templates). */
void sp_import_escape_json(json_t *v);

/*
 * Appends path (len bytes, no query) to out with each segment that looks like an identifier
 * written as ":id": all digits, a UUID, a hex string of 16 or more, or a token of 24 or more
 * letters and digits mixing both. "/api/v1/products/201" -> "/api/v1/products/:id".
 */
void sp_import_path_pattern(const char *path, size_t len, sp_buf *out);

/* A request or task name: s cut to the definition's 256 bytes (at a character boundary), never
 * empty ("request" instead). New reference. */
json_t *sp_import_name(const char *s);

/* Whether s can name a VU variable (a letter or '_', then letters, digits, '_'; at most 64;
 * not a name the templates reserve). */
int sp_import_var_name_ok(const char *s);

/*
 * A test definition around tasks (stolen): {"name", "description", "base_url", "users": [{
 * "name": user, "tasks": tasks}], "load": one VU for 30 s}. Returns a new reference, or NULL
 * when a string is not UTF-8.
 */
json_t *sp_import_definition(const char *name, const char *description, const char *base_url,
                             const char *user, json_t *tasks);

#endif
