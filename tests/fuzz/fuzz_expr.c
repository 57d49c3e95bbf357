/*
 * fuzz_expr.c - the expression language (engine/expr.h) and JSON paths (engine/jsonpath.h) on
 * arbitrary text.
 *
 * The input is an expression, a NUL byte, and a JSON path (no NUL: the whole input is tried as
 * both). The expression is compiled against a fixed scope (variables of every type, a CSV row,
 * data lists, a secret) as a plain expression and as a filter, and whatever compiles is
 * evaluated, with '@' bound to an item, through an arena with a small cap so that its limit is
 * reached too; an evaluation must end (the step bound) and give a value of a known type. The
 * path is compiled against the same scope and every take is applied to a fixed document. Every
 * reference an evaluation hands back is dropped, so the leak checker sees each input alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/expr.h"
#include "engine/jsonpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char DOC[] =
    "{\"items\":[{\"id\":1,\"stock\":0,\"name\":\"A\",\"tags\":[\"x\",\"y\"]},"
    "{\"id\":2,\"stock\":5,\"name\":\"b\"},{\"id\":3.5,\"stock\":null}],"
    "\"next\":null,\"total\":59.98,\"o\":{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}},\"s\":\"\\u00e9\"}";

static void check_value(const sp_value *v)
{
    if (v->type > SP_V_JSON)
        abort();
    if (v->type == SP_V_STR && v->len && !v->u.s)
        abort();
    sp_buf out;
    sp_buf_init(&out, 4096);
    for (int esc = SP_ESC_NONE; esc <= SP_ESC_JSON_VALUE; esc++) {
        sp_buf_reset(&out);
        (void)sp_value_write(v, (sp_esc)esc, &out);
    }
    sp_buf_release(&out);
    json_t *j = sp_value_to_json(v);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const vars[] = {"n", "f", "s", "b", "o", "arr", "unset"};
    static const char *const fields[] = {"email"};
    json_error_t je;
    json_t *doc = json_loads(DOC, 0, &je);
    json_t *lists = json_loads("{\"ids\":[201,202],\"creds\":[{\"email\":\"a@b\"}]}", 0, &je);
    json_t *row = json_pack("{s:s}", "email", "r@e");
    json_t *secrets = json_pack("{s:s}", "key", "k\r\n\"");
    sp_scope scope = {lists, vars, SP_ARRAY_LEN(vars), fields, 1, secrets};
    sp_value slots[SP_ARRAY_LEN(vars)];
    memset(slots, 0, sizeof slots);
    slots[0] = (sp_value){.type = SP_V_INT, .u.i = INT64_MAX};
    slots[1] = (sp_value){.type = SP_V_FLOAT, .u.f = -0.5};
    slots[2] = (sp_value){.type = SP_V_STR, .enc = 2, .len = 4, .u.s = "a b/"};
    slots[3] = (sp_value){.type = SP_V_BOOL, .u.b = 1};
    sp_value_from_json(&slots[4], doc, SP_REF_LOCAL);
    sp_value_from_json(&slots[5], json_object_get(doc, "items"), SP_REF_LOCAL);
    sp_rng rng;
    sp_rng_seed(&rng, size);
    sp_buf arena;
    sp_buf_init(&arena, 64 << 10);
    sp_vuctx ctx = {slots, SP_ARRAY_LEN(slots),    row,   &rng, 1, 2,
                    200,   INT64_C(4102444800000), &arena};

    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t elen = nul ? (size_t)(nul - text) : size;
    const char *ptext = nul ? nul + 1 : text;
    size_t plen = nul ? size - elen - 1 : size;

    char err[256];
    for (unsigned flags = 0; flags <= SP_EXPR_FILTER; flags += SP_EXPR_FILTER) {
        sp_expr *x = sp_expr_compile(text, elen, &scope, flags, 0, NULL, err, sizeof err);
        if (!x) {
            if (!err[0])
                abort(); /* every refusal says why */
            continue;
        }
        const json_t *items = json_object_get(doc, "items");
        for (size_t i = 0; i < 3; i++) {
            sp_value v;
            sp_buf_reset(&arena);
            sp_expr_eval(x, &ctx, flags ? json_array_get(items, i) : NULL, &v);
            check_value(&v);
            (void)sp_value_truthy(&v);
            sp_value_drop(&v);
        }
        (void)sp_expr_type(x);
        (void)sp_expr_constant(x);
        sp_expr_free(x);
    }

    /* The path: a C string, so only up to a NUL. */
    char *path = malloc(plen + 1);
    memcpy(path, ptext, plen);
    path[plen] = '\0';
    sp_jpath *p = sp_jpath_compile(path, &scope, err, sizeof err);
    if (p) {
        for (int t = SP_TAKE_FIRST; t <= SP_TAKE_COUNT; t++) {
            const json_t *one = NULL;
            json_t *all = NULL;
            sp_buf_reset(&arena);
            size_t n = sp_jpath_take(p, doc, (sp_take)t, &ctx, &one, &all);
            if (t == SP_TAKE_ALL && json_array_size(all) != n)
                abort();
            if ((t == SP_TAKE_FIRST || t == SP_TAKE_LAST) && (n > 0) != (one != NULL))
                abort();
            json_decref(all);
        }
        sp_jpath_free(p);
    } else if (!err[0]) {
        abort();
    }
    free(path);
    sp_buf_release(&arena);
    json_decref(doc);
    json_decref(lists);
    json_decref(row);
    json_decref(secrets);
    return 0;
}
