/*
 * test_expr.c - the expression language (engine/expr.h): every operator, precedence, types and
 * conversions, each function, values read from variables, rows, data and '@', what is null at
 * run time, the bounds, evaluation without allocation in steady state, and one test per compile
 * error, each naming its column.
 */
#include <stdlib.h>

#include "check.h"
#include "engine/common.h"
#include "engine/expr.h"

/* 2026-03-15T12:34:56Z */
#define NOW_MS INT64_C(1773578096000)

static json_t *data, *row, *secrets, *resp;
static const char *const vars[] = {"n", "f", "s", "b", "o", "arr", "unset", "big", "page", "enc"};
static const char *const rowf[] = {"email"};
static sp_scope scope;
static sp_value slots[10];
static sp_rng rng;
static sp_vuctx ctx;
static sp_buf arena;

static void setup(void)
{
    json_error_t je;
    json_decref(data);
    data = json_loads("{\"ids\": [201, 202], \"creds\": [{\"email\": \"a@x.io\"}], \"one\": [7]}",
                      0, &je);
    json_decref(row);
    row = json_pack("{s:s}", "email", "Row@Example.com");
    json_decref(secrets);
    secrets = json_pack("{s:s}", "key", "k3y");
    json_decref(resp);
    resp = json_loads("{\"total\": 59.98, \"items\": [{\"id\": 1, \"tags\": [\"a\"]}, "
                      "{\"id\": 2}], \"name\": \"cart\", \"zero\": 0, \"nothing\": null}",
                      0, &je);
    scope = (sp_scope){data, vars, SP_ARRAY_LEN(vars), rowf, SP_ARRAY_LEN(rowf), secrets};
    memset(slots, 0, sizeof slots);
    slots[0] = (sp_value){.type = SP_V_INT, .u.i = 7};
    slots[1] = (sp_value){.type = SP_V_FLOAT, .u.f = 2.5};
    slots[2] = (sp_value){.type = SP_V_STR, .len = 5, .u.s = "Hello"};
    slots[3] = (sp_value){.type = SP_V_BOOL, .u.b = 1};
    sp_value_from_json(&slots[4], resp, SP_REF_LOCAL);
    sp_value_from_json(&slots[5], json_object_get(resp, "items"), SP_REF_LOCAL);
    slots[7] = (sp_value){.type = SP_V_INT, .u.i = INT64_MAX};
    slots[8] = (sp_value){.type = SP_V_INT, .u.i = 0};
    slots[9] = (sp_value){.type = SP_V_STR, .enc = 1, .len = 3, .u.s = "a b"};
    sp_rng_seed(&rng, 3);
    sp_buf_release(&arena);
    sp_buf_init(&arena, 1 << 22);
    ctx = (sp_vuctx){slots, SP_ARRAY_LEN(slots), row, &rng, 4, 9, 201, NOW_MS, &arena};
}

/* Compiles and evaluates src; returns the value as compact JSON (static), "ERR: message" when
 * it does not compile. at: the item of '@' (then src compiles as a filter). */
static const char *ev_at(const char *src, const json_t *at)
{
    static char out[4096];
    char err[256];
    sp_expr *x = sp_expr_compile(src, strlen(src), &scope, at ? SP_EXPR_FILTER : 0, 0, NULL, err,
                                 sizeof err);
    if (!x) {
        snprintf(out, sizeof out, "ERR: %s", err);
        return out;
    }
    sp_value v;
    sp_buf_reset(&arena);
    sp_expr_eval(x, &ctx, at, &v);
    json_t *j = sp_value_to_json(&v);
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    snprintf(out, sizeof out, "%s", text ? text : "?");
    free(text);
    json_decref(j);
    sp_value_drop(&v);
    sp_expr_free(x);
    return out;
}

static const char *ev(const char *src)
{
    return ev_at(src, NULL);
}

static const char *err_of(const char *src)
{
    const char *r = ev(src);
    return strncmp(r, "ERR: ", 5) == 0 ? r + 5 : "(compiled)";
}

static void test_literals(void)
{
    setup();
    CHECK_STR_EQ(ev("42"), "42");
    CHECK_STR_EQ(ev("-7"), "-7");
    CHECK_STR_EQ(ev("1.5"), "1.5");
    CHECK_STR_EQ(ev("2e3"), "2000.0");
    CHECK_STR_EQ(ev("\"a\\\"b\\n\""), "\"a\\\"b\\n\"");
    CHECK_STR_EQ(ev("true"), "true");
    CHECK_STR_EQ(ev("false"), "false");
    CHECK_STR_EQ(ev("null"), "null");
}

static void test_arithmetic_and_precedence(void)
{
    setup();
    CHECK_STR_EQ(ev("1 + 2 * 3"), "7");
    CHECK_STR_EQ(ev("(1 + 2) * 3"), "9");
    CHECK_STR_EQ(ev("10 - 4 - 3"), "3"); /* left to right */
    CHECK_STR_EQ(ev("7 / 2"), "3.5");
    CHECK_STR_EQ(ev("8 / 2"), "4"); /* exact: stays an integer */
    CHECK_STR_EQ(ev("7 % 3"), "1");
    CHECK_STR_EQ(ev("-7 % 3"), "-1");
    CHECK_STR_EQ(ev("7.5 % 2"), "1.5");
    CHECK_STR_EQ(ev("-(2 + 3)"), "-5");
    CHECK_STR_EQ(ev("2 * -3"), "-6");
    CHECK_STR_EQ(ev("n + 1"), "8");
    CHECK_STR_EQ(ev("page + 1"), "1");
    CHECK_STR_EQ(ev("n * f"), "17.5");
    CHECK_STR_EQ(ev("o.total * 2"), "119.96");
    CHECK_STR_EQ(ev("1 / 0"), "null"); /* what cannot be computed is null */
    CHECK_STR_EQ(ev("1 % 0"), "null");
    CHECK_STR_CONTAINS(ev("big + 1"), "e18"); /* past 64 bits: a float */
    CHECK_STR_EQ(ev("s - 1"), "null");        /* known only when it runs */
    CHECK_STR_EQ(ev("unset + 1"), "null");
}

static void test_text_and_arrays(void)
{
    setup();
    CHECK_STR_EQ(ev("'order-' + n"), "\"order-7\"");
    CHECK_STR_EQ(ev("s + ' ' + b"), "\"Hello true\"");
    CHECK_STR_EQ(ev("'x' + unset"), "\"x\"");
    CHECK_STR_EQ(ev("'f=' + f"), "\"f=2.5\"");
    CHECK_STR_EQ(ev("'o=' + o.items[1]"), "\"o={\\\"id\\\":2}\"");
    CHECK_STR_EQ(ev("arr + arr"), "[{\"id\":1,\"tags\":[\"a\"]},{\"id\":2},{\"id\":1,\"tags\":"
                                  "[\"a\"]},{\"id\":2}]");
    CHECK_STR_EQ(ev("len(arr + arr)"), "4");
    CHECK_STR_EQ(ev("enc + '!'"), "\"a%20b!\""); /* urlencode()'s layers apply when joined */
}

static void test_comparisons(void)
{
    setup();
    CHECK_STR_EQ(ev("1 < 2"), "true");
    CHECK_STR_EQ(ev("2 <= 2"), "true");
    CHECK_STR_EQ(ev("3 > 4"), "false");
    CHECK_STR_EQ(ev("4 >= 5"), "false");
    CHECK_STR_EQ(ev("1 == 1.0"), "true");
    CHECK_STR_EQ(ev("n != 7"), "false");
    CHECK_STR_EQ(ev("'a' < 'b'"), "true");
    CHECK_STR_EQ(ev("'ab' < 'a'"), "false");
    CHECK_STR_EQ(ev("s == 'Hello'"), "true");
    CHECK_STR_EQ(ev("unset == null"), "true");
    CHECK_STR_EQ(ev("o.nothing == null"), "true");
    CHECK_STR_EQ(ev("o.missing == null"), "true");
    CHECK_STR_EQ(ev("o.total > 0"), "true");
    CHECK_STR_EQ(ev("s == 7"), "false"); /* different types are never equal */
    CHECK_STR_EQ(ev("s < 7"), "false");
    CHECK_STR_EQ(ev("arr == arr"), "true");
    CHECK_STR_EQ(ev("1 + 1 == 2"), "true"); /* arithmetic binds tighter */
}

static void test_logic(void)
{
    setup();
    CHECK_STR_EQ(ev("true and false"), "false");
    CHECK_STR_EQ(ev("true or false"), "true");
    CHECK_STR_EQ(ev("not true"), "false");
    CHECK_STR_EQ(ev("!false && true"), "true");
    CHECK_STR_EQ(ev("false || 1 < 2"), "true");
    CHECK_STR_EQ(ev("true or false and false"), "true"); /* and binds tighter than or */
    CHECK_STR_EQ(ev("not 1 == 2"), "true");              /* not takes the comparison */
    /* Truthiness: null, false, 0, "", [] and {} are false. */
    CHECK_STR_EQ(ev("not unset"), "true");
    CHECK_STR_EQ(ev("not o.zero"), "true");
    CHECK_STR_EQ(ev("not ''"), "true");
    CHECK_STR_EQ(ev("not (arr + arr)"), "false");
    CHECK_STR_EQ(ev("s and n"), "true");
    /* Short-circuit: the right side is not evaluated (its division would be null anyway). */
    CHECK_STR_EQ(ev("false and 1 / 0 == 1"), "false");
}

static void test_fields_and_indexes(void)
{
    setup();
    CHECK_STR_EQ(ev("o.items[0].id"), "1");
    CHECK_STR_EQ(ev("o.items[-1].id"), "2");
    CHECK_STR_EQ(ev("o.items[5]"), "null");
    CHECK_STR_EQ(ev("o['name']"), "\"cart\"");
    CHECK_STR_EQ(ev("o.items[0].tags[0]"), "\"a\"");
    CHECK_STR_EQ(ev("arr[page + 1].id"), "2");
    CHECK_STR_EQ(ev("s.x"), "null");
    CHECK_STR_EQ(ev("row.email"), "\"Row@Example.com\"");
    CHECK_STR_EQ(ev("secret.key"), "\"k3y\"");
    CHECK_STR_EQ(ev("random(creds).email"), "\"a@x.io\"");
    CHECK_STR_EQ(ev("vu + iteration + status"), "214");
}

static void test_functions(void)
{
    setup();
    CHECK_STR_EQ(ev("len('héllo')"), "5");
    CHECK_STR_EQ(ev("len(arr)"), "2");
    CHECK_STR_EQ(ev("len(o)"), "5");
    CHECK_STR_EQ(ev("len(ids)"), "2");
    CHECK_STR_EQ(ev("len(unset)"), "null");
    CHECK_STR_EQ(ev("int('42')"), "42");
    CHECK_STR_EQ(ev("int(' -3 ')"), "-3");
    CHECK_STR_EQ(ev("int('2.9')"), "2");
    CHECK_STR_EQ(ev("int(2.9)"), "2");
    CHECK_STR_EQ(ev("int(true)"), "1");
    CHECK_STR_EQ(ev("int('abc')"), "null");
    CHECK_STR_EQ(ev("int('0x10')"), "null");
    CHECK_STR_EQ(ev("float('1.25')"), "1.25");
    CHECK_STR_EQ(ev("float(3)"), "3.0");
    CHECK_STR_EQ(ev("float('nan')"), "null");
    CHECK_STR_EQ(ev("str(12)"), "\"12\"");
    CHECK_STR_EQ(ev("str(unset)"), "\"\"");
    CHECK_STR_EQ(ev("str(o.items[1])"), "\"{\\\"id\\\":2}\"");
    CHECK_STR_EQ(ev("lower(row.email)"), "\"row@example.com\"");
    CHECK_STR_EQ(ev("upper('abc-é')"), "\"ABC-é\"");
    CHECK_STR_EQ(ev("contains('wireless mouse', 'less')"), "true");
    CHECK_STR_EQ(ev("contains('abc', 'x')"), "false");
    CHECK_STR_EQ(ev("contains(ids, 202)"), "true");
    CHECK_STR_EQ(ev("contains(ids, 202.0)"), "true");
    CHECK_STR_EQ(ev("contains(ids, '202')"), "false");
    CHECK_STR_EQ(ev("contains(o, 'total')"), "true");
    CHECK_STR_EQ(ev("sha256('abc')"),
                 "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"");
    CHECK_STR_EQ(ev("sha256('')"),
                 "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"");
    /* RFC 4231, test case 2. */
    CHECK_STR_EQ(ev("hmac_sha256('Jefe', 'what do ya want for nothing?')"),
                 "\"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843\"");
    CHECK_STR_EQ(ev("base64('f')"), "\"Zg==\"");
    CHECK_STR_EQ(ev("base64('fo')"), "\"Zm8=\"");
    CHECK_STR_EQ(ev("base64('foobar')"), "\"Zm9vYmFy\"");
    CHECK_STR_EQ(ev("base64('user:' + secret.key)"), "\"dXNlcjprM3k=\"");
    const char *r = ev("random_string(12)");
    CHECK_UINT_EQ(strlen(r), 14);
    for (int i = 1; i < 13; i++)
        CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", r[i]));
    CHECK_STR_EQ(ev("random_string(0)"), "\"\"");
    CHECK_STR_EQ(ev("random_string(n - 100)"), "null");
    CHECK_STR_EQ(ev("urlencode('a b/c')"), "\"a%20b%2Fc\"");
    CHECK_STR_EQ(ev("urlencode(urlencode(' '))"), "\"%2520\"");
    CHECK_STR_EQ(ev("randint(page, page)"), "0");
    CHECK_STR_EQ(ev("randint(3, 1 + 0)"), "null"); /* low above high, known when it runs */
    CHECK_STR_EQ(ev("date(-1) + 'T'"), "\"2026-03-14T\"");
    CHECK_STR_EQ(ev("timestamp() - 1773578096"), "0");
    CHECK_STR_EQ(ev("len(uuid())"), "36");
    CHECK_STR_EQ(ev("random(arr).id > 0"), "true");
    CHECK_STR_EQ(ev("random(one)"), "7");
}

static void test_filter_item(void)
{
    setup();
    json_error_t je;
    json_t *item = json_loads("{\"stock\": 3, \"name\": \"Lamp\"}", 0, &je);
    CHECK_STR_EQ(ev_at("@.stock > 0", item), "true");
    CHECK_STR_EQ(ev_at("@.stock > n", item), "false");
    CHECK_STR_EQ(ev_at("lower(@.name) == 'lamp'", item), "true");
    CHECK_STR_EQ(ev_at("@", item), "{\"stock\":3,\"name\":\"Lamp\"}");
    json_decref(item);
    CHECK_STR_CONTAINS(err_of("@.x"), "'@' is the item a JSON path filter looks at");
}

static void test_static_types(void)
{
    setup();
    CHECK_STR_EQ(err_of("'a' * 2"), "column 5: '*' needs numbers, got a string and a number");
    CHECK_STR_EQ(err_of("1 - 'a'"), "column 3: '-' needs numbers, got a number and a string");
    CHECK_STR_EQ(err_of("true + 1"),
                 "column 6: '+' adds numbers, joins text (a string on either side) or joins arrays;"
                 " got a boolean and a number");
    CHECK_STR_EQ(err_of("status == '200'"),
                 "column 8: '==' compares a number with a string: they are never equal (convert "
                 "one with int(), float() or str())");
    CHECK_STR_EQ(err_of("'a' < 1"), "column 5: '<' orders two numbers or two strings, got a string "
                                    "and a number");
    CHECK_STR_EQ(err_of("-'a'"), "column 1: '-' needs a number, got a string");
    CHECK_STR_EQ(err_of("lower(3)"), "column 7: lower() takes a string, got a number");
    CHECK_STR_EQ(err_of("len(5)"), "column 5: len() takes a string, an array or an object, got a "
                                   "number");
    CHECK_STR_EQ(err_of("randint('1', 2)"), "column 9: randint() takes an integer, got a string");
    CHECK_STR_EQ(err_of("random(vu)"),
                 "column 8: random() takes a list (a data list's name or an array), got a number");
    CHECK_STR_EQ(err_of("vu.x"), "column 3: '.x' reads a field of an object, but this is a number");
    CHECK_STR_EQ(err_of("row.email.x"),
                 "column 10: '.x' reads a field of an object, but this is a string");
    CHECK_STR_EQ(err_of("vu[0]"),
                 "column 3: '[...]' reads an item of an array or an object, but this is a number");
    CHECK_STR_EQ(err_of("arr[true]"),
                 "column 4: an index is an integer (or a key, a string), got a boolean");
    /* null compares with anything; unknown types (variables) are checked when they run. */
    CHECK_STR_EQ(err_of("s == null"), "(compiled)");
    CHECK_STR_EQ(err_of("n == 'x'"), "(compiled)");
}

static void test_errors_with_column(void)
{
    setup();
    CHECK_STR_EQ(err_of("tokn"),
                 "column 1: unknown variable 'tokn': no let, extract or repeat index in this user "
                 "class sets it");
    CHECK_STR_EQ(err_of("n + pag"), "column 5: unknown variable 'pag' (did you mean 'page'?)");
    CHECK_STR_EQ(err_of("ids"), "column 1: 'ids' is a data list, not a variable (use random(ids))");
    CHECK_STR_EQ(err_of("uper(s)"), "column 1: unknown function 'uper' (did you mean 'upper'?)");
    CHECK_STR_CONTAINS(err_of("frobnicate(s)"), "unknown function 'frobnicate' (known: random,");
    CHECK_STR_EQ(err_of("len()"), "column 1: len() takes 1 argument, got 0");
    CHECK_STR_EQ(err_of("hmac_sha256('k')"), "column 1: hmac_sha256() takes 2 arguments, got 1");
    CHECK_STR_EQ(err_of("uuid(1)"), "column 1: uuid() takes no arguments, got 1");
    CHECK_STR_EQ(err_of("date(0, '%Y', 1)"), "column 1: date() takes at most 2 arguments, got 3");
    CHECK_STR_EQ(err_of("random_string(5000)"),
                 "column 1: random_string(5000): the length must be 0 to 4096");
    CHECK_STR_EQ(err_of("1 +"), "column 4: the expression ends too early");
    CHECK_STR_EQ(err_of("(1 + 2"), "column 1: '(' is not closed");
    CHECK_STR_EQ(err_of("1 2"), "column 3: unexpected '2'");
    CHECK_STR_EQ(err_of("n = 1"), "column 3: '=' does not compare: write '=='");
    CHECK_STR_EQ(err_of("1 < 2 < 3"),
                 "column 7: comparisons do not chain: write 'a < b and b < c'");
    CHECK_STR_EQ(err_of("'abc"), "column 1: unterminated string");
    CHECK_STR_EQ(err_of("'a\\qb'"), "column 3: unknown escape '\\q' in a string");
    CHECK_STR_EQ(err_of("5x"), "column 2: unexpected 'x' after a number");
    CHECK_STR_EQ(err_of("99999999999999999999"), "column 1: number too large (at most "
                                                 "9223372036854775807)");
    CHECK_STR_EQ(err_of(""), "column 1: the expression is empty");
    CHECK_STR_EQ(err_of("and 1"), "column 1: 'and' needs an operand before it");
    CHECK_STR_EQ(err_of("row.emal"), "column 5: unknown row field 'emal' (did you mean 'email'?)");
    CHECK_STR_EQ(err_of("secret.kee"), "column 1: unknown secret 'kee' (did you mean 'key'?)");
    CHECK_STR_EQ(err_of("o."), "column 3: a field name must follow '.'");
    /* col0 shifts columns: an expression inside a longer field says where in the field. */
    char err[256];
    CHECK(sp_expr_compile("x + 1", 5, &scope, 0, 10, NULL, err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "column 11: unknown variable 'x' (did you mean 'n'?)");
}

static void test_bounds(void)
{
    setup();
    char err[256];
    /* Length. */
    size_t n = SP_EXPR_MAX_LEN + 2;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '1';
    big[n] = '\0';
    CHECK(sp_expr_compile(big, n, &scope, 0, 0, NULL, err, sizeof err) == NULL);
    CHECK_STR_CONTAINS(err, "longer than 4096 bytes");
    free(big);
    /* Parts: 1+1+...+1 with more than SP_EXPR_MAX_NODES of them (depth would stop it too, so
     * they are grouped in parentheses of eight). */
    sp_buf b;
    sp_buf_init(&b, 1 << 16);
    for (int i = 0; i < SP_EXPR_MAX_NODES / 2; i++)
        sp_buf_adds(&b, i ? "+(1+1)" : "(1+1)");
    CHECK(sp_expr_compile(b.p, b.len, &scope, 0, 0, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "more than 512 parts") || strstr(err, "nested more than"));
    sp_buf_release(&b);
    /* Steps: a long chain of work gives null, not a hang. Text: a string past the budget is
     * null. */
    setup();
    const char *s16 = "s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s";
    CHECK_STR_EQ(ev("len(s + s)"), "10");
    sp_value bigv = {.type = SP_V_STR, .len = SP_EXPR_MAX_TEXT / 4};
    char *mem = malloc(bigv.len);
    memset(mem, 'x', bigv.len);
    bigv.u.s = mem;
    slots[2] = bigv;
    CHECK_STR_EQ(ev("len(s + s)"), "524288");
    CHECK_STR_EQ(ev(s16), "null"); /* 16 quarters of the budget */
    free(mem);
    /* A JSON path filter's expression has the same bounds per item. */
    SP_UNUSED(s16);
}

static void test_no_allocation_in_steady_state(void)
{
    setup();
    char err[256];
    const char *src = "lower(s) + '-' + str(n * 2) + sha256(s) + base64(s)";
    sp_expr *x = sp_expr_compile(src, strlen(src), &scope, 0, 0, NULL, err, sizeof err);
    CHECK(x != NULL);
    sp_value v;
    sp_buf_reset(&arena);
    sp_expr_eval(x, &ctx, NULL, &v);
    size_t cap = arena.cap;
    char *p = arena.p;
    uint64_t jallocs = sp_json_allocs();
    for (int i = 0; i < 1000; i++) {
        sp_buf_reset(&arena);
        sp_expr_eval(x, &ctx, NULL, &v);
    }
    CHECK_UINT_EQ(arena.cap, cap);
    CHECK(arena.p == p);
    CHECK_UINT_EQ(sp_json_allocs(), jallocs);
    CHECK_UINT_EQ(v.len, strlen("hello-14") + 64 + 8);
    sp_expr_free(x);
}

static void test_constant_and_literal(void)
{
    setup();
    char err[256];
    sp_expr *x = sp_expr_compile("1 + 2", 5, &scope, 0, 0, NULL, err, sizeof err);
    CHECK(sp_expr_constant(x));
    CHECK(sp_expr_type(x) & SP_TY_INT);
    sp_expr_free(x);
    x = sp_expr_compile("'abc'", 5, &scope, 0, 0, NULL, err, sizeof err);
    const char *s;
    size_t len;
    CHECK(sp_expr_literal_str(x, &s, &len));
    CHECK_UINT_EQ(len, 3);
    sp_expr_free(x);
    x = sp_expr_compile("n + 2", 5, &scope, 0, 0, NULL, err, sizeof err);
    CHECK(!sp_expr_constant(x));
    sp_expr_free(x);
    x = sp_expr_compile("uuid()", 6, &scope, 0, 0, NULL, err, sizeof err);
    CHECK(!sp_expr_constant(x));
    sp_expr_free(x);
}

int main(void)
{
    RUN(test_literals);
    RUN(test_arithmetic_and_precedence);
    RUN(test_text_and_arrays);
    RUN(test_comparisons);
    RUN(test_logic);
    RUN(test_fields_and_indexes);
    RUN(test_functions);
    RUN(test_filter_item);
    RUN(test_static_types);
    RUN(test_errors_with_column);
    RUN(test_bounds);
    RUN(test_no_allocation_in_steady_state);
    RUN(test_constant_and_literal);
    json_decref(data);
    json_decref(row);
    json_decref(secrets);
    json_decref(resp);
    sp_buf_release(&arena);
    return check_summary();
}
