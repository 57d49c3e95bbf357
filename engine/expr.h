/*
 * expr.h - the expression language of test definitions: template holes ("{{cart.total}}"),
 * conditions ("if": "cart.total > 0"), loop counts and bounds, and JSON path filters
 * ("items[?(@.stock > 0)]") all use it. Parsed and type-checked once when a definition loads,
 * evaluated per request without allocating (in steady state).
 *
 * Grammar, lowest precedence first:
 *     or        a or b, a || b           (short-circuit, a boolean)
 *     and       a and b, a && b
 *     not       not a, !a
 *     compare   == != < <= > >=          (not chained: a < b < c is refused)
 *     sum       + -                      (+ also joins strings and arrays)
 *     product   * / %
 *     unary     -a
 *     postfix   a.field  a[index]  a["key"]
 *     primary   42  1.5  "text"  'text'  true  false  null  name  f(args)  (expr)  @
 * Names: a VU variable, vu, iteration, status, row.FIELD, secret.NAME, @ (the item a JSON path
 * filter looks at). A data list's name is a value only as the list of random(), len() and
 * contains().
 * Functions: random(list), randint(lo, hi), uuid(), date(offset[, fmt]), now(), timestamp(),
 * urlencode(x), len(x), int(x), float(x), str(x), lower(s), upper(s), contains(x, y), sha256(x),
 * hmac_sha256(key, text), base64(x), random_string(n). docs/test-format.md is the user's
 * reference ("Expressions").
 *
 * Values are JSON values: null, booleans, integers (64-bit), floats, strings, arrays and objects.
 * An unset variable, a missing field and an index out of range are null. What cannot be computed
 * (int("abc"), 1 / 0, "a" - 1 on values only known at run time) is null as well; the loader
 * refuses what it can tell is wrong from the expression alone (a type mismatch between literals
 * or function results, an unknown name or function, a wrong argument count), naming the column.
 *
 * Bounds (limits.h): an expression's source (SP_EXPR_MAX_LEN), its nodes (SP_EXPR_MAX_NODES), its
 * nesting (SP_EXPR_MAX_DEPTH), the steps one evaluation may take (SP_EXPR_MAX_STEPS) and the
 * bytes of text it may build (SP_EXPR_MAX_TEXT): an evaluation that would pass a bound gives
 * null. Strings built while evaluating live in the caller's arena (sp_vuctx.arena), which only
 * grows; arrays built by joining (a + b) and by a JSON path's "all" are the only allocations.
 *
 * Threads: a compiled expression is immutable; any number of threads may evaluate it at once,
 * each with its own sp_vuctx.
 */
#ifndef SP_EXPR_H
#define SP_EXPR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"

typedef struct sp_expr sp_expr;

/* The names an expression may use, resolved at compile time. All pointers are borrowed. */
typedef struct sp_scope {
    const json_t *data;      /* object: data list name -> JSON array (borrowed) */
    const char *const *vars; /* VU variable names; a name's index is its slot */
    size_t nvars;
    const char *const *row_fields; /* CSV field names usable as row.NAME (NULL: none) */
    size_t nrow_fields;
    const json_t *secrets; /* object: secret name -> string value (borrowed), or NULL */
} sp_scope;

/* A runtime value. */
typedef enum sp_vtype {
    SP_V_UNSET = 0, /* an unset variable; behaves as null */
    SP_V_NULL,
    SP_V_BOOL,
    SP_V_INT,
    SP_V_FLOAT,
    SP_V_STR,
    SP_V_JSON, /* an object or an array */
} sp_vtype;

/* Who holds a JSON value's reference. */
enum {
    SP_REF_DEF = 0,   /* the definition's (its data lists, rows): immutable, shared by every
                         thread, never reference-counted */
    SP_REF_LOCAL = 1, /* the calling thread's (a response, a joined array), borrowed: take a
                         reference (json_incref) to keep it */
    SP_REF_OWNED = 2, /* the calling thread's, and this value holds one reference:
                         sp_value_drop() gives it back */
};

typedef struct sp_value {
    uint8_t type; /* sp_vtype */
    uint8_t enc;  /* SP_V_STR: how many urlencode() calls wrap it (applied when written out) */
    uint8_t ref;  /* SP_V_JSON: SP_REF_* */
    uint32_t len; /* SP_V_STR: bytes */
    union {
        int b;
        int64_t i;
        double f;
        const char *s;
        const json_t *j;
    } u;
} sp_value;

/* What an evaluation may read: the VU's state. Owned by the VU; used by its worker thread. */
typedef struct sp_vuctx {
    const sp_value *vars; /* slots, as numbered by the scope */
    size_t nvars;
    const json_t *row; /* current CSV row (object field -> string), or NULL */
    sp_rng *rng;
    uint64_t vu;        /* 1-based VU number */
    uint64_t iteration; /* 0-based iteration of this VU */
    int status;         /* status of the VU's last response, 0 before any */
    int64_t now_ms;     /* wall clock for date()/now(); 0 means read the clock */
    sp_buf *arena;      /* strings built while evaluating; NULL: a temporary one per call */
} sp_vuctx;

/* Static types: what an expression may evaluate to, as a mask. */
enum {
    SP_TY_NULL = 1,
    SP_TY_BOOL = 2,
    SP_TY_INT = 4,
    SP_TY_FLOAT = 8,
    SP_TY_STR = 16,
    SP_TY_ARRAY = 32,
    SP_TY_OBJECT = 64,
    SP_TY_NUM = SP_TY_INT | SP_TY_FLOAT,
    SP_TY_ANY = 127,
};

/* Compile flags. */
#define SP_EXPR_HOLE 1u   /* inside a template's {{ }}: parsing stops before "}}" */
#define SP_EXPR_FILTER 2u /* a JSON path filter: '@' is the item looked at */

/*
 * Compiles the expression at src[0..n). col0 is the 0-based offset of src in the text the user
 * wrote (the field), for messages: "column 12: ...". With SP_EXPR_HOLE the expression may end
 * before n (at "}}"); *used gets the bytes parsed (without trailing spaces). Otherwise all of
 * src must be one expression. NULL and a one-line reason in err on error.
 */
sp_expr *sp_expr_compile(const char *src, size_t n, const sp_scope *scope, unsigned flags,
                         size_t col0, size_t *used, char *err, size_t errlen);
void sp_expr_free(sp_expr *e);
/* SP_TY_* mask of what e may evaluate to. */
unsigned sp_expr_type(const sp_expr *e);
/* 1 when e is a string literal ("text"): its bytes in *s (owned by e) and *len. */
int sp_expr_literal_str(const sp_expr *e, const char **s, size_t *len);
/* 1 when e reads nothing random, no clock and no VU state: then its value is the same every
 * time (a literal, or arithmetic on literals). */
int sp_expr_constant(const sp_expr *e);

/*
 * Evaluates e. Always succeeds: anything that cannot be computed is null (see above). *out may
 * point into ctx->arena (valid until the arena next grows or is reset) or into a VU variable;
 * when out->ref is SP_REF_OWNED the caller holds a reference and must sp_value_drop() it. at is
 * the item '@' names (filters); NULL elsewhere.
 */
void sp_expr_eval(const sp_expr *e, const sp_vuctx *ctx, const json_t *at, sp_value *out);
/* Whether a value counts as true in a condition: not null, false, 0, "", [] or {}. */
int sp_value_truthy(const sp_value *v);
/* Gives back the reference an SP_REF_OWNED value holds; leaves *v unset. */
void sp_value_drop(sp_value *v);
/* A value from a JSON value (strings point into it; objects and arrays keep it, with ref). */
void sp_value_from_json(sp_value *v, const json_t *j, uint8_t ref);

/* How a value is written out. */
typedef enum sp_esc {
    SP_ESC_NONE,       /* as is (URLs: use urlencode() where needed) */
    SP_ESC_URL,        /* percent-encoded (RFC 3986 unreserved kept), for query values; the
                          result of urlencode() is not encoded a second time */
    SP_ESC_HEADER,     /* CR, LF and NUL removed, so a value cannot inject a header */
    SP_ESC_JSON_STR,   /* escaped for the inside of a JSON string literal; invalid UTF-8
                          becomes \ufffd, so the result is always valid JSON */
    SP_ESC_JSON_VALUE, /* a JSON value of the value's own type (template.h) */
} sp_esc;

/* Appends v's text (strings as they are, numbers as JSON writes them, booleans as true/false,
 * null as nothing, objects and arrays as compact JSON), escaped for esc; SP_ESC_JSON_VALUE
 * writes v as a JSON value instead (strings quoted, null as null). Fails only with SP_ELIMIT
 * when out's cap is reached. */
int sp_value_write(const sp_value *v, sp_esc esc, sp_buf *out);
/* sp_value_write with SP_ESC_NONE. */
int sp_value_render(const sp_value *v, sp_buf *out);
/* A new JSON value for v (a new reference); unset and null give json_null(). */
json_t *sp_value_to_json(const sp_value *v);
/* Exact equality of two values as the language's == sees it (1 and 1.0 are equal numbers). */
int sp_value_equal(const sp_value *a, const sp_value *b);
/* The type of a value for messages: "a string", "a number", ... */
const char *sp_value_type_name(const sp_value *v);

#endif
