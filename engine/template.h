/*
 * template.h - the template language of test definitions: compiled once, rendered per request.
 *
 * A template is text with holes: "/api/v1/products/{{random(product_ids)}}". Text outside holes
 * is copied as is (single braces and a lone "}}" are text). A hole holds one expression of the
 * expression language (expr.h): "{{cart.total * 2}}", "{{urlencode(row.email)}}",
 * "{{random(credentials).email}}". Values render as text: strings as they are, numbers as JSON
 * writes them, booleans as true/false, null (an unset variable, a missing field) as nothing,
 * objects and arrays as compact JSON. docs/test-format.md is the user's reference.
 *
 * Compiling resolves every name against an sp_scope and fails with a message that names the
 * column ("column 9: unknown variable 'tokn' (did you mean 'token'?)") on unknown names,
 * unknown functions, wrong arguments, type errors, unbalanced braces, or sources over the caps
 * in limits.h. Rendering never parses: it evaluates the compiled holes, so its cost is the
 * output's size. A hole whose expression is constant (a string literal, arithmetic on literals)
 * is folded into the text when the template compiles.
 *
 * Threads: a compiled template is immutable and may be rendered by any number of threads at once;
 * the sp_vuctx and output buffer passed to render belong to the calling thread.
 */
#ifndef SP_TEMPLATE_H
#define SP_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"
#include "engine/expr.h"

typedef struct sp_tmpl sp_tmpl;

sp_tmpl *sp_tmpl_new(void);
void sp_tmpl_free(sp_tmpl *t);

/* Appends literal text (copied). */
void sp_tmpl_add_literal(sp_tmpl *t, const char *s, size_t n);

/*
 * Parses src (text with {{holes}}) and appends it; holes are escaped with esc. On error returns
 * SP_EINVAL and writes a one-line reason to err (the template is then unusable: free it).
 * Columns in messages count from the start of src.
 */
int sp_tmpl_add_source(sp_tmpl *t, const char *src, size_t n, sp_esc esc, const sp_scope *scope,
                       char *err, size_t errlen);

/*
 * Appends a JSON string value from a definition's JSON body. When src is exactly one hole
 * ("{{randint(1,3)}}"), the value is written as a JSON value of its own type: numbers and
 * booleans bare, null (an unset variable, a missing field) as null, objects and arrays as JSON,
 * strings quoted. Otherwise src is written as a quoted JSON string with its holes escaped for
 * the inside of it (a template that builds text renders text).
 */
int sp_tmpl_add_json_string(sp_tmpl *t, const char *src, size_t n, const sp_scope *scope, char *err,
                            size_t errlen);

/* One-shot: a new template from src with esc. NULL and err filled on error. */
sp_tmpl *sp_tmpl_compile(const char *src, size_t n, sp_esc esc, const sp_scope *scope, char *err,
                         size_t errlen);

/* True when the template has no holes; its text is then available without rendering, as a
 * NUL-terminated string owned by the template (len excludes the NUL; "" for an empty one). */
int sp_tmpl_is_constant(const sp_tmpl *t);
const char *sp_tmpl_constant(const sp_tmpl *t, size_t *len);
/* The expression of a template that is exactly one hole and no text ("{{cart.total}}"), or
 * NULL. Owned by the template. */
const sp_expr *sp_tmpl_single(const sp_tmpl *t);
/* 1 when the template's text starts with a hole (its start is only known when it renders). */
int sp_tmpl_starts_with_hole(const sp_tmpl *t);

/* Appends the rendered text to out. Fails only with SP_ELIMIT when out's cap is reached (out
 * then holds a partial render). Allocates nothing but out's and the arena's growth (a hole's
 * text built in ctx->arena is given back once written). ctx->rng must be set when the template
 * uses random, randint, uuid or random_string. */
int sp_tmpl_render(const sp_tmpl *t, const sp_vuctx *ctx, sp_buf *out);

/*
 * Evaluates a template to a value, for `let` and comparisons: a template that is one hole gives
 * its expression's value with its type (an SP_REF_OWNED array must be sp_value_drop()ped by the
 * caller); any other is rendered as text into scratch and out points into it (valid until
 * scratch next grows). Strings a single hole builds go to ctx->arena, or to scratch when it is
 * NULL.
 */
int sp_tmpl_eval(const sp_tmpl *t, const sp_vuctx *ctx, sp_value *out, sp_buf *scratch);

#endif
