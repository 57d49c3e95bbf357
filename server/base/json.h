/*
 * json.h - JSON helpers that several layers share: the capped parse of outside documents
 * (REST bodies, imported HAR and OpenAPI files) and strings built from text that may not be
 * UTF-8. Jansson references: what a function returns is a new reference the caller owns.
 */
#ifndef SP_BASE_JSON_H
#define SP_BASE_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "base/errors.h"

/*
 * Parses a JSON body of len bytes (need not be NUL-terminated) into *out (a new reference).
 * Refuses, before Jansson sees it: more than SP_HTTP_MAX_BODY bytes (SP_ELIMIT) and nesting
 * deeper than max_depth (SP_EJSON, "nested deeper than 32 levels at byte 812"); then
 * parses with json_loadb(JSON_REJECT_DUPLICATES): a top-level array or object only, no
 * trailing text, no duplicate keys (SP_EJSON, with line and column). msg gets the reason.
 * Thread-safe; the fuzz target fuzz_rest_body drives it.
 */
int sp_json_parse(const char *text, size_t len, size_t max_depth, json_t **out, char *msg,
                  size_t msglen);

/* A new JSON string for text that may not be valid UTF-8 (a client's path, a message quoting
 * input, a message cut in the middle of a character): when it is not, every byte above 0x7f
 * becomes '?'. Never NULL. */
json_t *sp_json_string(const char *s);

#endif
