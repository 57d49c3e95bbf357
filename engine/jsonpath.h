/*
 * jsonpath.h - compiled paths into JSON documents, for expect and extract.
 *
 * Syntax: dot-separated object keys and [N] array indexes: "access_token", "data.items[0].id",
 * "[2].name". A key with dots or brackets is written in quotes: "meta.\"x.y\"". Compiled once at
 * definition load; lookups never allocate.
 *
 * Threads: a compiled path is immutable; any thread may use it.
 */
#ifndef SP_JSONPATH_H
#define SP_JSONPATH_H

#include <jansson.h>
#include <stddef.h>

typedef struct sp_jpath sp_jpath;

/* NULL with a reason in err when src is not a valid path. */
sp_jpath *sp_jpath_compile(const char *src, char *err, size_t errlen);
void sp_jpath_free(sp_jpath *p);
/* The value at the path (borrowed from root), or NULL when any part is missing. */
const json_t *sp_jpath_get(const sp_jpath *p, const json_t *root);

#endif
