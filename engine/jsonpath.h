/*
 * jsonpath.h - compiled paths into JSON documents, for expect and extract.
 *
 * Syntax: dot-separated object keys and bracketed selectors: "access_token", "data.items[0].id",
 * "[2].name", "items[-1]" (the last item), "items[*].id" or "items.*" (every item),
 * "items[?(@.stock > 0)]" (the items for which a filter, an expression of expr.h with '@' for the
 * item, holds). A key with dots or brackets is written in quotes: "meta.\"x.y\"". A leading "$"
 * or "$." is accepted and ignored; "$" alone is the whole document. Compiled once at definition
 * load.
 *
 * A path with a wildcard or a filter may match many values, in document order; sp_jpath_take
 * says which one an extract takes (first, last, random), or takes them all (an array) or their
 * count. Lookups walk the document once, never allocate (except "all", which builds its array),
 * and are bounded by the document's size and, per item, by the filter's evaluation bounds.
 *
 * Threads: a compiled path is immutable; any thread may use it.
 */
#ifndef SP_JSONPATH_H
#define SP_JSONPATH_H

#include <jansson.h>
#include <stddef.h>

#include "engine/expr.h"

typedef struct sp_jpath sp_jpath;

typedef enum sp_take {
    SP_TAKE_FIRST,  /* the first match (the default) */
    SP_TAKE_LAST,   /* the last one */
    SP_TAKE_RANDOM, /* one at random, each with the same chance */
    SP_TAKE_ALL,    /* every match, as an array (empty when none) */
    SP_TAKE_COUNT,  /* how many matched, a number */
} sp_take;

/* NULL with a reason in err when src is not a valid path. Filters resolve names against scope
 * (may be NULL: then they may use only '@', literals and functions). */
sp_jpath *sp_jpath_compile(const char *src, const sp_scope *scope, char *err, size_t errlen);
void sp_jpath_free(sp_jpath *p);
/* 1 when the path has a wildcard or a filter, so that it may match more than one value. */
int sp_jpath_multi(const sp_jpath *p);
/* The first value at the path (borrowed from root), or NULL when nothing matches. ctx is what
 * filters read (NULL: no VU; variables are null). */
const json_t *sp_jpath_get(const sp_jpath *p, const json_t *root, const sp_vuctx *ctx);
/*
 * Takes from the matches: FIRST, LAST and RANDOM give *one (borrowed from root; NULL when none
 * matched), ALL gives *all (a new array, a new reference), COUNT gives *count. RANDOM draws from
 * ctx->rng. Returns the number of matches.
 */
size_t sp_jpath_take(const sp_jpath *p, const json_t *root, sp_take take, const sp_vuctx *ctx,
                     const json_t **one, json_t **all);
/* "first", "last", ... and back; -1 for an unknown name. */
const char *sp_take_name(sp_take t);
int sp_take_from_name(const char *s);

#endif
