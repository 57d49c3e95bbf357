/*
 * test_template.c - the template language: every function, every escaping mode, JSON typing,
 * and one test per compile error.
 */
#include <stdlib.h>

#include "check.h"
#include "engine/common.h"
#include "engine/template.h"

/* 2026-03-15T12:34:56Z */
#define NOW_MS INT64_C(1773578096000)

static json_t *data;
static json_t *secrets;
static const char *const vars[] = {"token", "cred", "order_id", "status", "item"};
static const char *const rowf[] = {"email", "password"};
static sp_scope scope;
static sp_value slots[5];
static sp_rng rng;
static sp_vuctx ctx;
static json_t *row;

static void set_str(int slot, const char *str, size_t len)
{
    memset(&slots[slot], 0, sizeof slots[slot]);
    slots[slot].type = SP_V_STR;
    slots[slot].u.s = str;
    slots[slot].len = (uint32_t)len;
}

static void setup(void)
{
    json_error_t je;
    json_decref(data);
    data = json_loads("{\"search_terms\": [\"red shoes\"],"
                      " \"product_ids\": [201],"
                      " \"prices\": [19.99],"
                      " \"credentials\": [{\"email\": \"sarah.chen@example.com\","
                      "                    \"password\": \"TestPass123!\", \"n\": 7}],"
                      " \"flags\": [true],"
                      " \"nested\": [[1, 2]],"
                      " \"many\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],"
                      " \"empty\": [],"
                      " \"config\": {\"a\": 1}}",
                      0, &je);
    json_decref(row);
    row = json_pack("{s:s, s:s}", "email", "row@example.com", "password", "p w");
    json_decref(secrets);
    secrets = json_pack("{s:s, s:s}", "api_key", "k3y\"v\r\nal", "client_secret", "cs-42");
    scope = (sp_scope){data, vars, SP_ARRAY_LEN(vars), rowf, SP_ARRAY_LEN(rowf), secrets};
    memset(slots, 0, sizeof slots);
    set_str(0, "abc123", 6);
    sp_value_from_json(&slots[1], json_array_get(json_object_get(data, "credentials"), 0),
                       SP_REF_DEF);
    set_str(3, "shipped", 7);
    sp_rng_seed(&rng, 7);
    ctx = (sp_vuctx){slots, SP_ARRAY_LEN(slots), row, &rng, 3, 41, 201, NOW_MS, NULL};
}

/* Compiles src with esc and renders it once; returns the text (static) or "ERR: message". */
static const char *render(const char *src, sp_esc esc)
{
    static char result[4096];
    char err[256];
    sp_tmpl *t = sp_tmpl_compile(src, strlen(src), esc, &scope, err, sizeof err);
    if (!t) {
        snprintf(result, sizeof result, "ERR: %s", err);
        return result;
    }
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    int rc = sp_tmpl_render(t, &ctx, &b);
    snprintf(result, sizeof result, "%s", rc ? "RENDER FAILED" : b.p);
    sp_buf_release(&b);
    sp_tmpl_free(t);
    return result;
}

static const char *render_json(const char *src)
{
    static char result[4096];
    char err[256];
    sp_tmpl *t = sp_tmpl_new();
    if (sp_tmpl_add_json_string(t, src, strlen(src), &scope, err, sizeof err) != 0) {
        snprintf(result, sizeof result, "ERR: %s", err);
        sp_tmpl_free(t);
        return result;
    }
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    int rc = sp_tmpl_render(t, &ctx, &b);
    snprintf(result, sizeof result, "%s", rc ? "RENDER FAILED" : b.p);
    sp_buf_release(&b);
    sp_tmpl_free(t);
    return result;
}

static const char *compile_error(const char *src)
{
    static char err[256];
    sp_tmpl *t = sp_tmpl_compile(src, strlen(src), SP_ESC_NONE, &scope, err, sizeof err);
    if (t) {
        sp_tmpl_free(t);
        return "(compiled)";
    }
    return err;
}

static void test_literal_only(void)
{
    setup();
    char err[128];
    sp_tmpl *t = sp_tmpl_compile("/api/v1/products", 16, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK(t != NULL);
    CHECK(sp_tmpl_is_constant(t));
    size_t len = 0;
    CHECK_STR_EQ(sp_tmpl_constant(t, &len), "/api/v1/products");
    CHECK_UINT_EQ(len, 16);
    sp_tmpl_free(t);
    /* A string literal hole folds into the text: the template stays constant. */
    t = sp_tmpl_compile("a{{\"{{\"}}b{{'}}'}}c", 19, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK(t != NULL);
    CHECK(sp_tmpl_is_constant(t));
    CHECK_STR_EQ(sp_tmpl_constant(t, &len), "a{{b}}c");
    CHECK_UINT_EQ(len, 7);
    sp_tmpl_free(t);
    t = sp_tmpl_compile("", 0, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK(t != NULL);
    CHECK(sp_tmpl_is_constant(t));
    CHECK_STR_EQ(sp_tmpl_constant(t, &len), "");
    sp_tmpl_free(t);
    /* Single braces and a lone "}}" are text (JSON bodies are full of them). */
    CHECK_STR_EQ(render("{\"a\":{\"b\":1}}", SP_ESC_NONE), "{\"a\":{\"b\":1}}");
}

static void test_add_literal_and_source(void)
{
    setup();
    char err[128];
    sp_tmpl *t = sp_tmpl_new();
    sp_tmpl_add_literal(t, "Bearer ", 7);
    CHECK_INT_EQ(sp_tmpl_add_source(t, "{{token}}", 9, SP_ESC_HEADER, &scope, err, sizeof err), 0);
    sp_tmpl_add_literal(t, "!", 1);
    CHECK(!sp_tmpl_is_constant(t));
    sp_buf b;
    sp_buf_init(&b, 1024);
    CHECK_INT_EQ(sp_tmpl_render(t, &ctx, &b), 0);
    CHECK_STR_EQ(b.p, "Bearer abc123!");
    sp_buf_release(&b);
    sp_tmpl_free(t);
}

static void test_variables(void)
{
    setup();
    CHECK_STR_EQ(render("Bearer {{token}}", SP_ESC_HEADER), "Bearer abc123");
    CHECK_STR_EQ(render("{{ token }}", SP_ESC_NONE), "abc123");
    CHECK_STR_EQ(render("[{{order_id}}]", SP_ESC_NONE), "[]"); /* unset */
    CHECK_STR_EQ(render("{{cred.email}}", SP_ESC_NONE), "sarah.chen@example.com");
    CHECK_STR_EQ(render("{{cred.n}}", SP_ESC_NONE), "7");
    CHECK_STR_EQ(render("[{{cred.missing}}]", SP_ESC_NONE), "[]");
    CHECK_STR_EQ(render("[{{token.field}}]", SP_ESC_NONE), "[]"); /* a string has no fields */
    CHECK_STR_EQ(render("{{cred}}", SP_ESC_NONE),
                 "{\"email\":\"sarah.chen@example.com\",\"password\":\"TestPass123!\",\"n\":7}");
    CHECK_STR_EQ(render("{{row.email}} {{row.password}}", SP_ESC_NONE), "row@example.com p w");
    /* A VU variable named like a built-in wins over it. */
    CHECK_STR_EQ(render("{{status}}", SP_ESC_NONE), "shipped");
}

static void test_builtins(void)
{
    setup();
    const char *vars2[] = {"token"};
    scope.vars = vars2;
    scope.nvars = 1;
    CHECK_STR_EQ(render("vu={{vu}} it={{iteration}} st={{status}}", SP_ESC_NONE),
                 "vu=3 it=41 st=201");
    CHECK_STR_EQ(render("{{42}}", SP_ESC_NONE), "42");
    CHECK_STR_EQ(render("{{-7}}", SP_ESC_NONE), "-7");
}

static void test_random(void)
{
    setup();
    CHECK_STR_EQ(render("/api/v1/products/{{random(product_ids)}}", SP_ESC_NONE),
                 "/api/v1/products/201");
    CHECK_STR_EQ(render("{{random(search_terms)}}", SP_ESC_NONE), "red shoes");
    CHECK_STR_EQ(render("{{random(prices)}}", SP_ESC_NONE), "19.99");
    CHECK_STR_EQ(render("{{random(flags)}}", SP_ESC_NONE), "true");
    CHECK_STR_EQ(render("{{random(nested)}}", SP_ESC_NONE), "[1,2]");
    CHECK_STR_EQ(render("{{random(credentials).password}}", SP_ESC_NONE), "TestPass123!");
    /* Every item comes up, and nothing else. */
    char err[128];
    sp_tmpl *t = sp_tmpl_compile("{{random(many)}}", 16, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK(t != NULL);
    int seen[11] = {0};
    sp_buf b;
    sp_buf_init(&b, 64);
    for (int i = 0; i < 1000; i++) {
        sp_buf_reset(&b);
        CHECK_INT_EQ(sp_tmpl_render(t, &ctx, &b), 0);
        int v = atoi(b.p);
        CHECK(v >= 1 && v <= 10);
        seen[v]++;
    }
    for (int v = 1; v <= 10; v++)
        CHECK(seen[v] > 0);
    sp_buf_release(&b);
    sp_tmpl_free(t);
}

static void test_randint(void)
{
    setup();
    char err[128];
    sp_tmpl *t = sp_tmpl_compile("{{randint(1, 3)}}", 17, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK(t != NULL);
    int seen[4] = {0};
    sp_buf b;
    sp_buf_init(&b, 64);
    for (int i = 0; i < 300; i++) {
        sp_buf_reset(&b);
        CHECK_INT_EQ(sp_tmpl_render(t, &ctx, &b), 0);
        int v = atoi(b.p);
        CHECK(v >= 1 && v <= 3);
        seen[v]++;
    }
    CHECK(seen[1] && seen[2] && seen[3]);
    sp_buf_release(&b);
    sp_tmpl_free(t);
    CHECK_STR_EQ(render("{{randint(-5,-5)}}", SP_ESC_NONE), "-5");
    CHECK_STR_EQ(render("{{randint(+9, 9)}}", SP_ESC_NONE), "9");
}

static void test_uuid(void)
{
    setup();
    const char *u = render("{{uuid()}}", SP_ESC_NONE);
    CHECK_UINT_EQ(strlen(u), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            CHECK(u[i] == '-');
        else
            CHECK(strchr("0123456789abcdef", u[i]) != NULL);
    }
    CHECK(u[14] == '4');
    CHECK(strchr("89ab", u[19]) != NULL);
    char first[40];
    snprintf(first, sizeof first, "%s", u);
    CHECK(strcmp(first, render("{{uuid()}}", SP_ESC_NONE)) != 0);
}

static void test_dates(void)
{
    setup();
    CHECK_STR_EQ(render("{{date(0)}}", SP_ESC_NONE), "2026-03-15");
    CHECK_STR_EQ(render("{{date(-30d)}}", SP_ESC_NONE), "2026-02-13");
    CHECK_STR_EQ(render("{{date(\"-30d\")}}", SP_ESC_NONE), "2026-02-13");
    CHECK_STR_EQ(render("{{date('-30d')}}", SP_ESC_NONE), "2026-02-13");
    CHECK_STR_EQ(render("{{date(-1)}}", SP_ESC_NONE), "2026-03-14");
    CHECK_STR_EQ(render("{{date(+2h, \"%H:%M\")}}", SP_ESC_NONE), "14:34");
    CHECK_STR_EQ(render("{{date(-15m, '%H:%M:%S')}}", SP_ESC_NONE), "12:19:56");
    CHECK_STR_EQ(render("{{date(+1w)}}", SP_ESC_NONE), "2026-03-22");
    CHECK_STR_EQ(render("{{date(45s, \"%S\")}}", SP_ESC_NONE), "41");
    CHECK_STR_EQ(render("{{now()}}", SP_ESC_NONE), "2026-03-15T12:34:56Z");
    CHECK_STR_EQ(render("{{timestamp()}}", SP_ESC_NONE), "1773578096");
    /* The guide's report window: 30 days back to today. */
    CHECK_STR_EQ(render("/api/v1/reports/orders?start_date={{date(-30d)}}&end_date={{date(0)}}",
                        SP_ESC_NONE),
                 "/api/v1/reports/orders?start_date=2026-02-13&end_date=2026-03-15");
    /* now_ms == 0 reads the clock: the year is plausible. */
    ctx.now_ms = 0;
    const char *d = render("{{date(0, '%Y')}}", SP_ESC_NONE);
    CHECK(atoi(d) >= 2024);
}

static void test_urlencode(void)
{
    setup();
    CHECK_STR_EQ(
        render("/api/v1/search?q={{urlencode(random(search_terms))}}&limit=10", SP_ESC_NONE),
        "/api/v1/search?q=red%20shoes&limit=10");
    CHECK_STR_EQ(render("{{urlencode(\"a/b?c=d&e f~_.-\")}}", SP_ESC_NONE),
                 "a%2Fb%3Fc%3Dd%26e%20f~_.-");
    CHECK_STR_EQ(render("{{urlencode(urlencode(' '))}}", SP_ESC_NONE), "%2520");
    CHECK_STR_EQ(render("{{urlencode(cred.email)}}", SP_ESC_NONE), "sarah.chen%40example.com");
    CHECK_STR_EQ(render("{{urlencode(random(nested))}}", SP_ESC_NONE), "%5B1%2C2%5D");
    /* In a query-value context the explicit encoding is not applied twice. */
    CHECK_STR_EQ(render("{{urlencode(' ')}}", SP_ESC_URL), "%20");
    CHECK_STR_EQ(render("{{urlencode(vu)}}", SP_ESC_NONE), "3");
}

static void test_escaping_modes(void)
{
    setup();
    set_str(2, "a b\r\n\"q\"\\/\x01\t&=", strlen("a b\r\n\"q\"\\/\x01\t&="));
    CHECK_STR_EQ(render("<{{order_id}}>", SP_ESC_NONE), "<a b\r\n\"q\"\\/\x01\t&=>");
    CHECK_STR_EQ(render("<{{order_id}}>", SP_ESC_URL), "<a%20b%0D%0A%22q%22%5C%2F%01%09%26%3D>");
    CHECK_STR_EQ(render("<{{order_id}}>", SP_ESC_HEADER), "<a b\"q\"\\/\x01\t&=>");
    CHECK_STR_EQ(render("<{{order_id}}>", SP_ESC_JSON_STR),
                 "<a b\\r\\n\\\"q\\\"\\\\/\\u0001\\t&=>");
    CHECK_STR_EQ(render("<{{order_id}}>", SP_ESC_JSON_VALUE),
                 "<\"a b\\r\\n\\\"q\\\"\\\\/\\u0001\\t&=\">");
    /* A NUL inside a value cannot reach a header. */
    set_str(2, "x\0y", 3);
    CHECK_STR_EQ(render("{{order_id}}", SP_ESC_HEADER), "xy");
    /* Literal text is never escaped. */
    CHECK_STR_EQ(render("a b&{{vu}}", SP_ESC_URL), "a b&3");
    /* Items go through the escaper too. */
    CHECK_STR_EQ(render("{{cred.email}}", SP_ESC_URL), "sarah.chen%40example.com");
    CHECK_STR_EQ(render("{{random(nested)}}", SP_ESC_JSON_STR), "[1,2]");
    CHECK_STR_EQ(render("{{cred}}", SP_ESC_JSON_STR),
                 "{\\\"email\\\":\\\"sarah.chen@example.com\\\",\\\"password\\\":"
                 "\\\"TestPass123!\\\",\\\"n\\\":7}");
    CHECK_STR_EQ(render("{{'a\"b'}}", SP_ESC_JSON_STR), "a\\\"b");
    /* Invalid UTF-8 from a response cannot break a JSON body; valid UTF-8 passes as is. */
    set_str(2, "\xc3\xa9|\xbc\xcb|\xed\xa0\x80|\xf0\x9f\x98\x80|\xe2\x82",
            strlen("\xc3\xa9|\xbc\xcb|\xed\xa0\x80|\xf0\x9f\x98\x80|\xe2\x82"));
    CHECK_STR_EQ(render("{{order_id}}", SP_ESC_JSON_STR),
                 "\xc3\xa9|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\xf0\x9f\x98\x80|\\ufffd\\ufffd");
    CHECK_STR_EQ(render("{{\"a\\\\b\\n\\\"\"}}", SP_ESC_NONE), "a\\b\n\"");
}

static void test_json_string_typing(void)
{
    setup();
    CHECK_STR_EQ(render_json("{{randint(1,1)}}"), "1");
    CHECK_STR_EQ(render_json("{{vu}}"), "3");
    CHECK_STR_EQ(render_json("{{iteration}}"), "41");
    CHECK_STR_EQ(render_json("{{timestamp()}}"), "1773578096");
    CHECK_STR_EQ(render_json("{{random(product_ids)}}"), "201");
    CHECK_STR_EQ(render_json("{{random(prices)}}"), "19.99");
    CHECK_STR_EQ(render_json("{{random(flags)}}"), "true");
    CHECK_STR_EQ(render_json("{{cred.n}}"), "7");
    CHECK_STR_EQ(render_json("{{random(nested)}}"), "[1,2]");
    CHECK_STR_EQ(render_json("{{cred}}"),
                 "{\"email\":\"sarah.chen@example.com\",\"password\":\"TestPass123!\",\"n\":7}");
    CHECK_STR_EQ(render_json("{{cred.email}}"), "\"sarah.chen@example.com\"");
    CHECK_STR_EQ(render_json("{{random(search_terms)}}"), "\"red shoes\"");
    CHECK_STR_EQ(render_json("{{token}}"), "\"abc123\"");
    CHECK_STR_EQ(render_json("{{order_id}}"), "null"); /* unset: a JSON null */
    CHECK_STR_EQ(render_json("{{uuid()}}")[0] == '"' ? "q" : "no", "q");
    CHECK_STR_EQ(render_json("{{date(0)}}"), "\"2026-03-15\"");
    CHECK_STR_EQ(render_json("{{urlencode(vu)}}"), "\"3\"");
    CHECK_STR_EQ(render_json("{{'x\"'}}"), "\"x\\\"\"");
    /* More than one hole, or any text: a quoted string with holes escaped inside. */
    CHECK_STR_EQ(render_json("n{{vu}}"), "\"n3\"");
    CHECK_STR_EQ(render_json(" {{vu}}"), "\" 3\"");
    CHECK_STR_EQ(render_json("{{vu}}{{iteration}}"), "\"341\"");
    CHECK_STR_EQ(render_json("addr_7845"), "\"addr_7845\"");
    CHECK_STR_EQ(render_json(""), "\"\"");
    CHECK_STR_EQ(render_json("say \"hi\"\n{{cred.password}}"), "\"say \\\"hi\\\"\\nTestPass123!\"");
    CHECK_STR_EQ(render_json("Unexpected order creation failure: {{status}}"),
                 "\"Unexpected order creation failure: shipped\"");
}

static void test_json_body(void)
{
    setup();
    /* How the definition loader builds the guide's cart body. */
    char err[128];
    sp_tmpl *t = sp_tmpl_new();
    sp_tmpl_add_literal(t, "{\"product_id\":", 14);
    const char *a = "{{random(product_ids)}}", *q = "{{randint(1,1)}}";
    CHECK_INT_EQ(sp_tmpl_add_json_string(t, a, strlen(a), &scope, err, sizeof err), 0);
    sp_tmpl_add_literal(t, ",\"quantity\":", 12);
    CHECK_INT_EQ(sp_tmpl_add_json_string(t, q, strlen(q), &scope, err, sizeof err), 0);
    sp_tmpl_add_literal(t, ",\"note\":", 8);
    CHECK_INT_EQ(sp_tmpl_add_json_string(t, "gift", 4, &scope, err, sizeof err), 0);
    sp_tmpl_add_literal(t, "}", 1);
    sp_buf b;
    sp_buf_init(&b, 1024);
    CHECK_INT_EQ(sp_tmpl_render(t, &ctx, &b), 0);
    CHECK_STR_EQ(b.p, "{\"product_id\":201,\"quantity\":1,\"note\":\"gift\"}");
    json_error_t je;
    json_t *parsed = json_loads(b.p, 0, &je);
    CHECK(parsed != NULL);
    json_decref(parsed);
    sp_buf_release(&b);
    sp_tmpl_free(t);
}

static void test_eval(void)
{
    setup();
    char err[128];
    sp_buf scratch;
    sp_buf_init(&scratch, 1024);
    sp_value v;
    sp_tmpl *t =
        sp_tmpl_compile("{{random(credentials)}}", 23, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK(t != NULL);
    CHECK_INT_EQ(sp_tmpl_eval(t, &ctx, &v, &scratch), 0);
    CHECK(v.type == SP_V_JSON);
    CHECK(v.u.j == json_array_get(json_object_get(data, "credentials"), 0));
    CHECK(v.ref == SP_REF_DEF);
    CHECK_UINT_EQ(scratch.len, 0);
    sp_tmpl_free(t);
    /* A string item is a string value; its text is what renders. */
    t = sp_tmpl_compile("{{random(search_terms)}}", 24, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK_INT_EQ(sp_tmpl_eval(t, &ctx, &v, &scratch), 0);
    CHECK(v.type == SP_V_STR);
    sp_buf out;
    sp_buf_init(&out, 1024);
    CHECK_INT_EQ(sp_value_render(&v, &out), 0);
    CHECK_STR_EQ(out.p, "red shoes");
    sp_tmpl_free(t);
    /* Numbers keep their type (let n = {{randint(5,5)}} is the number 5). */
    t = sp_tmpl_compile("{{randint(5,5)}}", 16, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK_INT_EQ(sp_tmpl_eval(t, &ctx, &v, &scratch), 0);
    CHECK(v.type == SP_V_INT);
    CHECK_INT_EQ(v.u.i, 5);
    sp_tmpl_free(t);
    /* Text lands in scratch. */
    t = sp_tmpl_compile("Bearer {{token}}", 16, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK_INT_EQ(sp_tmpl_eval(t, &ctx, &v, &scratch), 0);
    CHECK(v.type == SP_V_STR);
    CHECK_UINT_EQ(v.len, 13);
    CHECK(memcmp(v.u.s, "Bearer abc123", 13) == 0);
    sp_tmpl_free(t);
    /* A variable holding an item passes the item on (let cred2 = {{cred}}). */
    t = sp_tmpl_compile("{{cred}}", 8, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK_INT_EQ(sp_tmpl_eval(t, &ctx, &v, &scratch), 0);
    CHECK(v.u.j == slots[1].u.j);
    sp_tmpl_free(t);
    /* sp_value_render of each kind. */
    sp_buf_reset(&out);
    v = slots[1];
    CHECK_INT_EQ(sp_value_render(&v, &out), 0);
    CHECK_STR_EQ(out.p, "{\"email\":\"sarah.chen@example.com\",\"password\":\"TestPass123!\","
                        "\"n\":7}");
    sp_buf_reset(&out);
    sp_value_from_json(&v, json_array_get(json_object_get(data, "prices"), 0), SP_REF_DEF);
    CHECK_INT_EQ(sp_value_render(&v, &out), 0);
    CHECK_STR_EQ(out.p, "19.99");
    sp_buf_reset(&out);
    memset(&v, 0, sizeof v);
    v.type = SP_V_STR;
    v.u.s = "xy";
    v.len = 2;
    CHECK_INT_EQ(sp_value_render(&v, &out), 0);
    CHECK_STR_EQ(out.p, "xy");
    sp_buf_reset(&out);
    memset(&v, 0, sizeof v);
    CHECK_INT_EQ(sp_value_render(&v, &out), 0);
    CHECK_STR_EQ(out.p, "");
    sp_buf_release(&out);
    sp_buf_release(&scratch);
}

static void test_render_cap(void)
{
    setup();
    char err[128];
    sp_tmpl *t = sp_tmpl_compile("0123456789{{token}}", 19, SP_ESC_NONE, &scope, err, sizeof err);
    sp_buf b;
    sp_buf_init(&b, 12);
    CHECK_INT_EQ(sp_tmpl_render(t, &ctx, &b), SP_ELIMIT);
    sp_buf_release(&b);
    sp_buf_init(&b, 16);
    CHECK_INT_EQ(sp_tmpl_render(t, &ctx, &b), 0);
    CHECK_STR_EQ(b.p, "0123456789abc123");
    sp_buf_release(&b);
    sp_buf_init(&b, 5);
    sp_tmpl_free(t);
    /* Items are streamed through the cap as well. */
    t = sp_tmpl_compile("{{cred}}", 8, SP_ESC_JSON_STR, &scope, err, sizeof err);
    CHECK_INT_EQ(sp_tmpl_render(t, &ctx, &b), SP_ELIMIT);
    sp_buf_release(&b);
    sp_tmpl_free(t);
}

/* ---- compile errors, one per path ---- */

static void test_err_unknown_variable(void)
{
    setup();
    CHECK_STR_EQ(compile_error("Bearer {{tokn}}"),
                 "column 10: unknown variable 'tokn' (did you mean 'token'?)");
    CHECK_STR_EQ(compile_error("{{zzzzzzzz}}"),
                 "column 3: unknown variable 'zzzzzzzz': no let, extract or repeat index in this "
                 "user class sets it");
    /* Data list names are candidates too. */
    CHECK_STR_CONTAINS(compile_error("{{product_idz}}"), "did you mean 'product_ids'?");
}

static void test_err_data_list_as_variable(void)
{
    setup();
    CHECK_STR_CONTAINS(compile_error("{{product_ids}}"), "'product_ids' is a data list");
    CHECK_STR_CONTAINS(compile_error("{{product_ids}}"), "random(product_ids)");
}

static void test_err_unknown_function(void)
{
    setup();
    CHECK_STR_EQ(compile_error("{{randon(product_ids)}}"),
                 "column 3: unknown function 'randon' (did you mean 'random'?)");
    CHECK_STR_CONTAINS(compile_error("{{frobnicate()}}"), "unknown function 'frobnicate'");
}

static void test_err_random_not_a_list(void)
{
    setup();
    CHECK_STR_EQ(compile_error("{{random(colors)}}"), "column 10: no data list named 'colors'");
    CHECK_STR_CONTAINS(compile_error("{{random(product_id)}}"), "did you mean 'product_ids'?");
    CHECK_STR_CONTAINS(compile_error("{{random(config)}}"), "data 'config' is not a list");
    CHECK_STR_CONTAINS(compile_error("{{random(empty)}}"), "data list 'empty' is empty");
    CHECK_STR_CONTAINS(compile_error("{{random('x')}}"),
                       "random() takes a list (a data list's name or an array), got a string");
    CHECK_STR_CONTAINS(compile_error("{{random()}}"), "random() takes 1 argument");
    CHECK_STR_CONTAINS(compile_error("{{random(many, many)}}"), "random() takes 1 argument");
}

static void test_err_randint_args(void)
{
    setup();
    CHECK_STR_CONTAINS(compile_error("{{randint()}}"), "randint() takes 2 arguments, got 0");
    CHECK_STR_CONTAINS(compile_error("{{randint(1)}}"), "randint() takes 2 arguments, got 1");
    CHECK_STR_CONTAINS(compile_error("{{randint(1,2,3)}}"), "randint() takes 2 arguments");
    CHECK_STR_CONTAINS(compile_error("{{randint('a',2)}}"),
                       "randint() takes an integer, got a string");
    CHECK_STR_CONTAINS(compile_error("{{randint(1,2x)}}"), "unexpected 'x' after a number");
    CHECK_STR_CONTAINS(compile_error("{{randint(1, 2.5)}}"), "randint() takes an integer");
    CHECK_STR_CONTAINS(compile_error("{{randint(1,99999999999999999999)}}"), "number too large");
}

static void test_err_randint_low_above_high(void)
{
    setup();
    CHECK_STR_EQ(compile_error("{{randint(5, 1)}}"),
                 "column 3: randint(5, 1): the low end is above the high end");
}

static void test_err_zero_arg_functions(void)
{
    setup();
    CHECK_STR_CONTAINS(compile_error("{{uuid(1)}}"), "uuid() takes no arguments");
    CHECK_STR_CONTAINS(compile_error("{{now(vu)}}"), "now() takes no arguments");
    CHECK_STR_CONTAINS(compile_error("{{timestamp(0)}}"), "timestamp() takes no arguments");
}

static void test_err_date_args(void)
{
    setup();
    CHECK_STR_CONTAINS(compile_error("{{date()}}"), "date() takes 1 or 2 arguments");
    CHECK_STR_CONTAINS(compile_error("{{date(-30x)}}"), "bad date() offset '-30x'");
    CHECK_STR_CONTAINS(compile_error("{{date('soon')}}"), "bad date() offset 'soon'");
    CHECK_STR_CONTAINS(compile_error("{{date(-99999999d)}}"), "bad date() offset");
    CHECK_STR_CONTAINS(compile_error("{{date(token)}}"), "date() takes an offset");
    CHECK_STR_CONTAINS(compile_error("{{date(0, token)}}"), "date() takes its format as a string");
    CHECK_STR_CONTAINS(compile_error("{{date(0, '')}}"), "bad date() format");
    CHECK_STR_CONTAINS(compile_error("{{date(0, '%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c')}}"),
                       "bad date() format");
    CHECK_STR_CONTAINS(compile_error("{{date(0, '%Y', 1)}}"), "date() takes at most 2 arguments");
}

static void test_err_urlencode_args(void)
{
    setup();
    CHECK_STR_CONTAINS(compile_error("{{urlencode()}}"), "urlencode() takes 1 argument, got 0");
    CHECK_STR_CONTAINS(compile_error("{{urlencode(vu, vu)}}"), "urlencode() takes 1 argument");
    CHECK_STR_CONTAINS(compile_error("{{urlencode(tokn)}}"), "did you mean 'token'?");
}

static void test_err_row_fields(void)
{
    setup();
    CHECK_STR_CONTAINS(compile_error("{{row.emal}}"), "unknown row field 'emal'");
    CHECK_STR_CONTAINS(compile_error("{{row.emal}}"), "did you mean 'email'?");
    CHECK_STR_EQ(compile_error("{{row.zzzzzzzz}}"), "column 7: unknown row field 'zzzzzzzz'");
    CHECK_STR_CONTAINS(compile_error("{{row}}"), "'row' needs a field name");
    scope.row_fields = NULL;
    scope.nrow_fields = 0;
    CHECK_STR_CONTAINS(compile_error("{{row.email}}"), "no CSV row fields");
}

static void test_err_unterminated(void)
{
    setup();
    CHECK_STR_EQ(compile_error("/api/{{token"), "column 6: unterminated '{{'");
    CHECK_STR_EQ(compile_error("/api/{{token}"), "column 6: unterminated '{{'");
    CHECK_STR_EQ(compile_error("ab{{"), "column 3: unterminated '{{'");
    CHECK_STR_EQ(compile_error("{{ "), "column 1: unterminated '{{'");
    CHECK_STR_EQ(compile_error("x{{randint(1,"), "column 2: unterminated '{{'");
    CHECK_STR_CONTAINS(compile_error("{{'abc}}"), "column 3: unterminated string");
}

static void test_err_unexpected(void)
{
    setup();
    CHECK_STR_EQ(compile_error("{{token token}}"), "column 9: unexpected 't'");
    CHECK_STR_CONTAINS(compile_error("{{}}"), "column 1: empty '{{}}'");
    CHECK_STR_CONTAINS(compile_error("{{ $x }}"), "unexpected '$'");
    CHECK_STR_CONTAINS(compile_error("{{cred.}}"), "a field name must follow '.'");
    CHECK_STR_CONTAINS(compile_error("{{5d}}"), "unexpected 'd' after a number");
    CHECK_STR_CONTAINS(compile_error("{{'a\\q'}}"), "unknown escape");
    CHECK_STR_CONTAINS(compile_error("{{randint(1,2}}"), "the expression ends too early");
}

static void test_err_depth(void)
{
    setup();
    CHECK_STR_EQ(render("{{urlencode(urlencode(urlencode(urlencode(urlencode(urlencode(urlencode("
                        "urlencode('/'))))))))}}",
                        SP_ESC_NONE),
                 "%252525252525252F");
    /* Nesting is bounded: parentheses, calls and field chains alike. */
    char src[1024];
    size_t k = 0;
    k += (size_t)snprintf(src + k, sizeof src - k, "{{");
    for (int i = 0; i < SP_EXPR_MAX_DEPTH + 1; i++)
        src[k++] = '(';
    src[k++] = '1';
    for (int i = 0; i < SP_EXPR_MAX_DEPTH + 1; i++)
        src[k++] = ')';
    snprintf(src + k, sizeof src - k, "}}");
    CHECK_STR_CONTAINS(compile_error(src), "nested more than 64 deep");
    k = (size_t)snprintf(src, sizeof src, "{{cred");
    for (int i = 0; i < SP_EXPR_MAX_DEPTH + 1; i++)
        k += (size_t)snprintf(src + k, sizeof src - k, ".f");
    snprintf(src + k, sizeof src - k, "}}");
    CHECK_STR_CONTAINS(compile_error(src), "nested more than 64 deep");
    CHECK_STR_EQ(render("[{{cred.a.b.c.d.e.f.g.h}}]", SP_ESC_NONE), "[]");
}

static void test_err_limits(void)
{
    setup();
    size_t n = SP_TMPL_MAX_SOURCE + 1;
    char *big = sp_malloc(n);
    memset(big, 'a', n);
    char err[128];
    CHECK(sp_tmpl_compile(big, n, SP_ESC_NONE, &scope, err, sizeof err) == NULL);
    CHECK_STR_CONTAINS(err, "template too long");
    /* One more hole than allowed. */
    size_t holes = SP_TMPL_MAX_HOLES + 1;
    sp_buf b;
    sp_buf_init(&b, SIZE_MAX);
    for (size_t i = 0; i < holes; i++)
        sp_buf_adds(&b, "{{vu}}");
    CHECK(sp_tmpl_compile(b.p, b.len, SP_ESC_NONE, &scope, err, sizeof err) == NULL);
    CHECK_STR_CONTAINS(err, "too many '{{' holes");
    /* Exactly the cap compiles. */
    sp_tmpl *t = sp_tmpl_compile(b.p, b.len - 6, SP_ESC_NONE, &scope, err, sizeof err);
    CHECK(t != NULL);
    sp_tmpl_free(t);
    sp_buf_release(&b);
    free(big);
    /* A name too long to be one. */
    char longname[300];
    memset(longname, 'x', sizeof longname);
    memcpy(longname, "{{", 2);
    memcpy(longname + sizeof longname - 3, "}}", 3);
    CHECK_STR_CONTAINS(compile_error(longname), "name too long");
}

static void test_err_json_string(void)
{
    setup();
    char err[128];
    sp_tmpl *t = sp_tmpl_new();
    CHECK_INT_EQ(sp_tmpl_add_json_string(t, "{{tokn}}", 8, &scope, err, sizeof err), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "did you mean 'token'?");
    sp_tmpl_free(t);
}

static void test_no_scope(void)
{
    char err[128];
    sp_tmpl *t = sp_tmpl_compile("{{vu}}-{{randint(1,2)}}", 23, SP_ESC_NONE, NULL, err, sizeof err);
    CHECK(t != NULL);
    sp_tmpl_free(t);
    CHECK(sp_tmpl_compile("{{random(x)}}", 13, SP_ESC_NONE, NULL, err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "column 10: no data list named 'x'");
}

static void test_secrets(void)
{
    setup();
    CHECK_STR_EQ(render("{{secret.client_secret}}", SP_ESC_NONE), "cs-42");
    CHECK_STR_EQ(render("Bearer {{ secret.api_key }}", SP_ESC_HEADER), "Bearer k3y\"val");
    CHECK_STR_EQ(render("{{secret.api_key}}", SP_ESC_URL), "k3y%22v%0D%0Aal");
    CHECK_STR_EQ(render_json("{{secret.client_secret}}"), "\"cs-42\"");
    CHECK_STR_EQ(render_json("x{{secret.api_key}}"), "\"xk3y\\\"v\\r\\nal\"");
    /* Errors name the secret, never its value. */
    const char *e = render("{{secret.client_secrt}}", SP_ESC_NONE);
    CHECK_STR_CONTAINS(e, "unknown secret 'client_secrt'");
    CHECK_STR_CONTAINS(e, "did you mean 'client_secret'");
    CHECK(!strstr(e, "cs-42"));
    CHECK_STR_CONTAINS(render("{{secret}}", SP_ESC_NONE), "'secret' needs a name");
    scope.secrets = NULL;
    CHECK_STR_CONTAINS(render("{{secret.api_key}}", SP_ESC_NONE), "no secrets in this test");
    setup();
}

int main(void)
{
    RUN(test_literal_only);
    RUN(test_secrets);
    RUN(test_add_literal_and_source);
    RUN(test_variables);
    RUN(test_builtins);
    RUN(test_random);
    RUN(test_randint);
    RUN(test_uuid);
    RUN(test_dates);
    RUN(test_urlencode);
    RUN(test_escaping_modes);
    RUN(test_json_string_typing);
    RUN(test_json_body);
    RUN(test_eval);
    RUN(test_render_cap);
    RUN(test_err_unknown_variable);
    RUN(test_err_data_list_as_variable);
    RUN(test_err_unknown_function);
    RUN(test_err_random_not_a_list);
    RUN(test_err_randint_args);
    RUN(test_err_randint_low_above_high);
    RUN(test_err_zero_arg_functions);
    RUN(test_err_date_args);
    RUN(test_err_urlencode_args);
    RUN(test_err_row_fields);
    RUN(test_err_unterminated);
    RUN(test_err_unexpected);
    RUN(test_err_depth);
    RUN(test_err_limits);
    RUN(test_err_json_string);
    RUN(test_no_scope);
    json_decref(data);
    json_decref(row);
    return check_summary();
}
