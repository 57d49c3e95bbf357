/*
 * fuzz_template.c - the template compiler and renderer on arbitrary source text.
 *
 * The input is a template's source. It is compiled against a fixed scope (data lists of
 * strings, numbers and objects, a few VU variables, CSV row fields) in every escaping mode and
 * as a JSON string value; whatever compiles is rendered and evaluated, then freed. The output
 * buffer has a small cap so that the SP_ELIMIT paths run too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Built per input and freed after it, so the leak checker sees a clean slate each time. */
static json_t *make_data(void)
{
    json_error_t je;
    return json_loads("{\"product_ids\": [201, 202, 203],"
                      " \"search_terms\": [\"laptop\", \"red shoes\", \"a&b=c\"],"
                      " \"prices\": [19.99, -1e300],"
                      " \"credentials\": [{\"email\": \"a@example.com\", \"password\": "
                      "\"p\\\"w\\n\", \"n\": 1}, {\"email\": \"b@example.com\"}],"
                      " \"mixed\": [null, true, [1, {\"x\": \"\\u0000\"}], \"\"],"
                      " \"empty\": [], \"config\": {\"a\": 1}}",
                      0, &je);
}

static void render_all(const sp_tmpl *t, sp_vuctx *ctx)
{
    sp_buf out;
    sp_buf_init(&out, 4096);
    sp_tmpl_render(t, ctx, &out);
    sp_buf_reset(&out);
    sp_value v;
    if (sp_tmpl_eval(t, ctx, &v, &out) == 0) {
        sp_buf text;
        sp_buf_init(&text, 4096);
        sp_value_render(&v, &text);
        sp_buf_release(&text);
        sp_value_drop(&v);
    }
    size_t len;
    if (sp_tmpl_is_constant(t))
        (void)sp_tmpl_constant(t, &len);
    sp_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const vars[] = {"token", "cred", "order_id", "status"};
    static const char *const fields[] = {"email", "password"};
    json_t *scope_data = make_data();
    json_t *row = json_pack("{s:s, s:s}", "email", "row@example.com", "password", "x\r\ny");
    json_t *secrets = json_pack("{s:s}", "api_key", "k\"e\r\ny");
    sp_scope scope = {scope_data, vars, SP_ARRAY_LEN(vars), fields, SP_ARRAY_LEN(fields), secrets};
    sp_value slots[SP_ARRAY_LEN(vars)];
    memset(slots, 0, sizeof slots);
    slots[0].type = SP_V_STR;
    slots[0].u.s = "tok\"en\r\n";
    slots[0].len = 8;
    sp_value_from_json(&slots[1], json_array_get(json_object_get(scope_data, "credentials"), 0),
                       SP_REF_DEF);
    sp_value_from_json(&slots[3], json_array_get(json_object_get(scope_data, "mixed"), 2),
                       SP_REF_DEF);
    sp_rng rng;
    sp_rng_seed(&rng, size);
    /* A fixed clock keeps runs reproducible; one far from the epoch exercises big offsets. */
    sp_vuctx ctx = {slots, SP_ARRAY_LEN(slots), row, &rng, 1, 0, 200, INT64_C(4102444800000), NULL};

    const char *src = (const char *)data;
    char err[256];
    static const sp_esc modes[] = {SP_ESC_NONE, SP_ESC_URL, SP_ESC_HEADER, SP_ESC_JSON_STR,
                                   SP_ESC_JSON_VALUE};
    for (size_t i = 0; i < SP_ARRAY_LEN(modes); i++) {
        sp_tmpl *t = sp_tmpl_compile(src, size, modes[i], &scope, err, sizeof err);
        if (t) {
            render_all(t, &ctx);
            sp_tmpl_free(t);
        } else if (strlen(err) == 0) {
            abort(); /* every failure must say why */
        }
    }
    sp_tmpl *t = sp_tmpl_new();
    sp_tmpl_add_literal(t, "[", 1);
    if (sp_tmpl_add_json_string(t, src, size, &scope, err, sizeof err) == 0) {
        sp_tmpl_add_literal(t, "]", 1);
        sp_buf out;
        sp_buf_init(&out, 1 << 16);
        /* What a JSON string value renders to must be valid JSON. */
        if (sp_tmpl_render(t, &ctx, &out) == 0) {
            json_error_t je;
            json_t *j = json_loadb(out.p, out.len, JSON_ALLOW_NUL, &je);
            if (!j)
                abort();
            json_decref(j);
        }
        sp_buf_release(&out);
    }
    sp_tmpl_free(t);
    json_decref(row);
    json_decref(scope_data);
    json_decref(secrets);
    return 0;
}
