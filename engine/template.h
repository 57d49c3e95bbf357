/*
 * template.h - the template language of test definitions: compiled once, rendered per request.
 *
 * A template is text with holes: "/api/v1/products/{{random(product_ids)}}". Text outside holes
 * is copied as is (single braces and a lone "}}" are text). A hole holds one expression, with
 * optional spaces or tabs around its tokens (names are [A-Za-z_][A-Za-z0-9_-]*, < 128 bytes):
 *   name                    a VU variable (set by extract or let); VU variables win over the
 *                           built-in names below. Unset, it renders as "".
 *   expr.field[.field...]   a field of a data item (an object), e.g. cred.email, or
 *                           random(credentials).email; anything else (a string, a missing field,
 *                           an unset variable) renders as ""
 *   row.NAME                a field of the VU's CSV row; NAME must be in scope->row_fields
 *   secret.NAME             the value of a secret of the definition (scope->secrets); a
 *                           string, escaped as any value is; messages name it, never show it
 *   random(list)            a random item of the named data list (a bare name, not a string);
 *                           the list must exist, be an array and not be empty
 *   randint(lo, hi)         a random integer in [lo, hi]; lo and hi are integer literals
 *                           (optional sign, |n| <= 10^15) and lo <= hi
 *   uuid()                  a random version-4 UUID, lower-case, from ctx->rng
 *   date(offset[, "fmt"])   now (UTC) moved by offset, as YYYY-MM-DD or strftime fmt (1..64
 *                           bytes). offset is [+-]N with unit s, m, h, d or w (no unit: days),
 *                           bare (-30d) or quoted ("-30d"), at most 100 years
 *   now(), timestamp()      the time as ISO 8601 UTC (2026-03-15T12:34:56Z), and as Unix seconds
 *   urlencode(expr)         expr percent-encoded (RFC 3986 unreserved kept); nests
 *   vu, iteration, status   the VU's number (1-based), its iteration number, the last status code
 *   "text" or 'text'        a string literal with \\ \" \' \n \t \r escapes (so "{{" can be
 *                           written as {{"{{"}}); folded into the text at compile time
 *   123, -7                 an integer literal
 * Calls nest at most SP_TMPL_MAX_EXPR_DEPTH deep. Values render as text: strings as they are,
 * numbers as JSON numbers, data items that are objects or arrays as compact JSON.
 * docs/test-format.md is the user's reference for the language.
 *
 * Compiling resolves every name against an sp_scope and fails with a message (naming the
 * expression and offering "did you mean" for near names) on unknown names, unknown functions,
 * wrong argument counts, unbalanced braces, or sources over the caps in limits.h. Rendering never
 * parses: it walks the compiled holes, so its cost is the output's size.
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

typedef struct sp_tmpl sp_tmpl;

/* How a hole's value is escaped into the output. Literal text is never escaped. */
typedef enum sp_esc {
    SP_ESC_NONE,       /* as is (URLs: use urlencode() where needed) */
    SP_ESC_URL,        /* percent-encoded (RFC 3986 unreserved kept), for query values; the
                          result of urlencode() is not encoded a second time */
    SP_ESC_HEADER,     /* CR, LF and NUL removed, so a value cannot inject a header */
    SP_ESC_JSON_STR,   /* escaped for the inside of a JSON string literal; invalid UTF-8
                          becomes \ufffd, so the result is always valid JSON */
    SP_ESC_JSON_VALUE, /* see sp_tmpl_add_json_string() */
} sp_esc;

/* The names a template may use, resolved at compile time. All pointers are borrowed. */
typedef struct sp_scope {
    const json_t *data;            /* object: data list name -> JSON array (borrowed) */
    const char *const *vars;       /* VU variable names; a name's index is its slot */
    size_t nvars;
    const char *const *row_fields; /* CSV field names usable as row.NAME (NULL: none) */
    size_t nrow_fields;
    const json_t *secrets;         /* object: secret name -> string value (borrowed), or NULL */
} sp_scope;

/*
 * A runtime value: a string (s, len) or a data item (item, borrowed from the definition's data).
 * An unset variable has s == NULL and item == NULL and renders as "".
 */
typedef struct sp_value {
    const char *s;
    size_t len;
    const json_t *item;
} sp_value;

/* What a render may read: the VU's state. Owned by the VU; passed by its worker thread. */
typedef struct sp_vuctx {
    const sp_value *vars;   /* slots, as numbered by the scope */
    size_t nvars;
    const json_t *row;      /* current CSV row (object field -> string), or NULL */
    sp_rng *rng;
    uint64_t vu;            /* 1-based VU number */
    uint64_t iteration;     /* 0-based iteration of this VU */
    int status;             /* status of the VU's last response, 0 before any */
    int64_t now_ms;         /* wall clock for date()/now(); 0 means read the clock */
} sp_vuctx;

sp_tmpl *sp_tmpl_new(void);
void sp_tmpl_free(sp_tmpl *t);

/* Appends literal text (copied). */
void sp_tmpl_add_literal(sp_tmpl *t, const char *s, size_t n);

/*
 * Parses src (text with {{holes}}) and appends it; holes are escaped with esc. On error returns
 * SP_EINVAL and writes a one-line reason to err (the template is then unusable: free it).
 */
int sp_tmpl_add_source(sp_tmpl *t, const char *src, size_t n, sp_esc esc, const sp_scope *scope,
                       char *err, size_t errlen);

/*
 * Appends a JSON string value from a definition's JSON body. When src is exactly one hole
 * ("{{randint(1,3)}}"), the value is written as a JSON value: numbers (from randint, vu,
 * iteration, numeric data items or strings that a data item held as a number) bare, data items
 * that are objects or arrays as JSON, everything else as a quoted, escaped JSON string. Otherwise
 * src is written as a quoted JSON string with its holes escaped for the inside of it.
 * As implemented: a one-hole value writes randint, vu, iteration, status, timestamp and integer
 * literals bare; any data item (random(list), a variable holding an item, item.field) as its
 * JSON (numbers and true/false/null bare, strings quoted, objects/arrays compact); an unset
 * variable as ""; anything else, including urlencode(...), as a quoted string.
 */
int sp_tmpl_add_json_string(sp_tmpl *t, const char *src, size_t n, const sp_scope *scope,
                            char *err, size_t errlen);

/* One-shot: a new template from src with esc. NULL and err filled on error. */
sp_tmpl *sp_tmpl_compile(const char *src, size_t n, sp_esc esc, const sp_scope *scope, char *err,
                         size_t errlen);

/* True when the template has no holes; its text is then available without rendering, as a
 * NUL-terminated string owned by the template (len excludes the NUL; "" for an empty one). */
int sp_tmpl_is_constant(const sp_tmpl *t);
const char *sp_tmpl_constant(const sp_tmpl *t, size_t *len);

/* Appends the rendered text to out. Fails only with SP_ELIMIT when out's cap is reached (out
 * then holds a partial render). Allocates nothing but out's growth. ctx->rng must be set when
 * the template uses random, randint or uuid. */
int sp_tmpl_render(const sp_tmpl *t, const sp_vuctx *ctx, sp_buf *out);

/*
 * Evaluates a template to a value, for `let`: when the template is a single hole that yields a
 * data item (random(list) of any items, a variable holding one, or item.field), out->item is set
 * (borrowed from the definition's data) and nothing is written; otherwise the rendered text is
 * appended to scratch and out->s/len point into it (valid until scratch next grows).
 */
int sp_tmpl_eval(const sp_tmpl *t, const sp_vuctx *ctx, sp_value *out, sp_buf *scratch);

/* Writes a value's text form (strings as is, numbers as JSON, items as compact JSON) to out. */
int sp_value_render(const sp_value *v, sp_buf *out);

#endif
