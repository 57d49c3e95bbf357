/*
 * test_jsonpath.c - compiled JSON paths: syntax, lookups, and refusals.
 */
#include "check.h"

#include <jansson.h>
#include <stdlib.h>

#include "engine/jsonpath.h"

static json_t *doc(void)
{
    json_error_t je;
    json_t *d = json_loads("{\"access_token\":\"abc\",\"data\":{\"items\":[{\"id\":1},{\"id\":2},"
                           "{\"id\":3}]},\"meta\":{\"x.y\":true,\"q\\\"k\":5},\"m\":[[1,2],[3,4]],"
                           "\"nul\":null}",
                           0, &je);
    return d;
}

/* Returns the value at src as compact JSON text (static buffer), or "MISSING" / "BADPATH". */
static const char *at(const json_t *root, const char *src)
{
    static char out[256];
    char err[128];
    sp_jpath *p = sp_jpath_compile(src, NULL, err, sizeof err);
    if (!p)
        return "BADPATH";
    const json_t *v = sp_jpath_get(p, root, NULL);
    if (!v) {
        sp_jpath_free(p);
        return "MISSING";
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, sizeof out, "%s", s);
    free(s);
    sp_jpath_free(p);
    return out;
}

static void test_keys_and_indexes(void)
{
    json_t *d = doc();
    CHECK(d != NULL);
    CHECK_STR_EQ(at(d, "access_token"), "\"abc\"");
    CHECK_STR_EQ(at(d, "data.items[0].id"), "1");
    CHECK_STR_EQ(at(d, "data.items[2].id"), "3");
    CHECK_STR_EQ(at(d, "data.items[-1].id"), "3");
    CHECK_STR_EQ(at(d, "m[1][0]"), "3");
    CHECK_STR_EQ(at(d, "nul"), "null");
    json_decref(d);
}

static void test_dollar_prefix(void)
{
    json_t *d = doc();
    CHECK_STR_EQ(at(d, "$.access_token"), "\"abc\"");
    CHECK_STR_EQ(at(d, "$.data.items[1].id"), "2");
    json_t *arr = json_loads("[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]", 0, NULL);
    CHECK_STR_EQ(at(arr, "[2].name"), "\"c\"");
    CHECK_STR_EQ(at(arr, "$[0].name"), "\"a\"");
    CHECK_STR_EQ(at(arr, "$"), "[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]");
    json_decref(arr);
    json_decref(d);
}

static void test_quoted_keys(void)
{
    json_t *d = doc();
    CHECK_STR_EQ(at(d, "meta.\"x.y\""), "true");
    CHECK_STR_EQ(at(d, "meta.\"q\\\"k\""), "5");
    json_decref(d);
}

static void test_missing(void)
{
    json_t *d = doc();
    CHECK_STR_EQ(at(d, "nope"), "MISSING");
    CHECK_STR_EQ(at(d, "data.items[3].id"), "MISSING");
    CHECK_STR_EQ(at(d, "data.items[-4]"), "MISSING");
    CHECK_STR_EQ(at(d, "access_token.x"), "MISSING"); /* key into a string */
    CHECK_STR_EQ(at(d, "data[0]"), "MISSING");        /* index into an object */
    CHECK_STR_EQ(at(d, "data.items.id"), "MISSING");  /* key into an array */
    json_t *s = json_string("x");
    CHECK_STR_EQ(at(s, "a"), "MISSING");
    json_decref(s);
    json_decref(d);
}

static void expect_bad(const char *src, const char *phrase)
{
    char err[128] = "";
    sp_jpath *p = sp_jpath_compile(src, NULL, err, sizeof err);
    if (p) {
        sp_jpath_free(p);
        fprintf(stderr, "  path '%s' compiled\n", src);
        check_current_failed = 1;
        return;
    }
    if (!strstr(err, phrase)) {
        fprintf(stderr, "  path '%s': error '%s' lacks '%s'\n", src, err, phrase);
        check_current_failed = 1;
    }
}

static void test_bad_paths(void)
{
    expect_bad("", "empty path");
    expect_bad("a.", "ends with '.'");
    expect_bad("a..b", "empty key");
    expect_bad("a[", "expected a number");
    expect_bad("a[x]", "expected a number");
    expect_bad("a[1", "expected ']'");
    expect_bad("a]", "unexpected ']'");
    expect_bad("\"abc", "unterminated");
    expect_bad("\"a\\n\"", "may be escaped");
    expect_bad("\"a\"b", "expected '.' or '['");
    expect_bad("$x", "after '$'");
    expect_bad("a[99999999999999999999]", "too large");
    char long_src[2000];
    memset(long_src, 'a', sizeof long_src - 1);
    long_src[sizeof long_src - 1] = '\0';
    expect_bad(long_src, "longer than");
    char many[400];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%s", i ? ".a" : "a");
    expect_bad(many, "more than");
}

/* ---- selectors: wildcards, filters, and which match an extract takes ---- */

static json_t *catalog(void)
{
    json_error_t je;
    return json_loads("{\"items\":[{\"id\":1,\"stock\":0,\"name\":\"A\"},"
                      "{\"id\":2,\"stock\":5,\"name\":\"b\"},"
                      "{\"id\":3,\"stock\":2,\"name\":\"C\"},"
                      "{\"id\":4,\"stock\":0}],\"next\":null,"
                      "\"groups\":{\"x\":{\"n\":1},\"y\":{\"n\":2}}}",
                      0, &je);
}

/* Takes from the matches of src; the result as compact JSON (static), "NONE" or "BADPATH". */
static const char *take(const json_t *root, const char *src, sp_take t, const sp_vuctx *ctx)
{
    static char out[512];
    char err[256];
    sp_jpath *p = sp_jpath_compile(src, NULL, err, sizeof err);
    if (!p) {
        snprintf(out, sizeof out, "BADPATH: %s", err);
        return out;
    }
    const json_t *one = NULL;
    json_t *all = NULL;
    size_t n = sp_jpath_take(p, root, t, ctx, &one, &all);
    char *s = NULL;
    if (t == SP_TAKE_COUNT)
        snprintf(out, sizeof out, "%zu", n);
    else if (t == SP_TAKE_ALL)
        s = json_dumps(all, JSON_COMPACT);
    else if (one)
        s = json_dumps(one, JSON_COMPACT | JSON_ENCODE_ANY);
    else
        snprintf(out, sizeof out, "NONE");
    if (s) {
        snprintf(out, sizeof out, "%s", s);
        free(s);
    }
    json_decref(all);
    sp_jpath_free(p);
    return out;
}

static void test_wildcards(void)
{
    json_t *d = catalog();
    CHECK_STR_EQ(take(d, "items[*].id", SP_TAKE_ALL, NULL), "[1,2,3,4]");
    CHECK_STR_EQ(take(d, "items.*.id", SP_TAKE_ALL, NULL), "[1,2,3,4]");
    CHECK_STR_EQ(take(d, "items[*].id", SP_TAKE_FIRST, NULL), "1");
    CHECK_STR_EQ(take(d, "items[*].id", SP_TAKE_LAST, NULL), "4");
    CHECK_STR_EQ(take(d, "items[*].id", SP_TAKE_COUNT, NULL), "4");
    CHECK_STR_EQ(take(d, "items[*].name", SP_TAKE_COUNT, NULL), "3"); /* missing keys skip */
    CHECK_STR_EQ(take(d, "groups.*.n", SP_TAKE_ALL, NULL), "[1,2]");  /* an object's values */
    CHECK_STR_EQ(take(d, "items[-1].id", SP_TAKE_FIRST, NULL), "4");
    CHECK_STR_EQ(take(d, "nothing[*]", SP_TAKE_ALL, NULL), "[]");
    CHECK_STR_EQ(take(d, "nothing[*]", SP_TAKE_FIRST, NULL), "NONE");
    CHECK_STR_EQ(take(d, "nothing[*]", SP_TAKE_COUNT, NULL), "0");
    char err[64];
    sp_jpath *m = sp_jpath_compile("a[*]", NULL, err, sizeof err),
             *o = sp_jpath_compile("a[0]", NULL, err, sizeof err);
    CHECK(sp_jpath_multi(m) && !sp_jpath_multi(o));
    sp_jpath_free(m);
    sp_jpath_free(o);
    json_decref(d);
}

static void test_filters(void)
{
    json_t *d = catalog();
    CHECK_STR_EQ(take(d, "items[?(@.stock > 0)].id", SP_TAKE_ALL, NULL), "[2,3]");
    CHECK_STR_EQ(take(d, "items[?(@.stock > 0)]", SP_TAKE_FIRST, NULL),
                 "{\"id\":2,\"stock\":5,\"name\":\"b\"}");
    CHECK_STR_EQ(take(d, "items[?(@.stock == 0 && @.id > 1)].id", SP_TAKE_ALL, NULL), "[4]");
    CHECK_STR_EQ(take(d, "items[?(lower(@.name) == 'c')].id", SP_TAKE_ALL, NULL), "[3]");
    CHECK_STR_EQ(take(d, "items[?(@.name)].id", SP_TAKE_COUNT, NULL), "3");
    CHECK_STR_EQ(take(d, "items[?(@.id == 9)]", SP_TAKE_FIRST, NULL), "NONE");
    CHECK_STR_EQ(take(d, "items[?(@.name == ')]')].id", SP_TAKE_ALL, NULL), "[]");
    CHECK_STR_EQ(take(d, "$.items[?(@.stock > 0)][0]", SP_TAKE_ALL, NULL),
                 "[]"); /* items are objects */
    /* A filter may read the VU's variables. */
    static const char *const vars[] = {"want"};
    sp_scope scope = {NULL, vars, 1, NULL, 0, NULL};
    sp_value slot = {.type = SP_V_INT, .u.i = 3};
    sp_vuctx ctx = {&slot, 1, NULL, NULL, 1, 0, 0, 0, NULL};
    char err[256];
    sp_jpath *p = sp_jpath_compile("items[?(@.id == want)].name", &scope, err, sizeof err);
    CHECK(p != NULL);
    const json_t *one = sp_jpath_get(p, d, &ctx);
    CHECK(one && strcmp(json_string_value(one), "C") == 0);
    sp_jpath_free(p);
    /* Without the scope, the name is unknown. */
    CHECK_STR_CONTAINS(take(d, "items[?(@.id == want)]", SP_TAKE_ALL, NULL),
                       "in the filter: column 17: unknown variable 'want'");
    json_decref(d);
}

static void test_take_random(void)
{
    json_t *d = catalog();
    char err[128];
    sp_jpath *p = sp_jpath_compile("items[*].id", NULL, err, sizeof err);
    sp_rng rng;
    sp_rng_seed(&rng, 9);
    sp_vuctx ctx = {NULL, 0, NULL, &rng, 1, 0, 0, 0, NULL};
    int seen[5] = {0};
    for (int i = 0; i < 4000; i++) {
        const json_t *one = NULL;
        CHECK_UINT_EQ(sp_jpath_take(p, d, SP_TAKE_RANDOM, &ctx, &one, NULL), 4);
        seen[json_integer_value(one)]++;
    }
    /* Each of the four with the same chance: 1000 +- 5 sigma. */
    for (int k = 1; k <= 4; k++)
        CHECK(seen[k] > 860 && seen[k] < 1140);
    sp_jpath_free(p);
    CHECK_STR_EQ(sp_take_name(SP_TAKE_ALL), "all");
    CHECK_INT_EQ(sp_take_from_name("count"), SP_TAKE_COUNT);
    CHECK_INT_EQ(sp_take_from_name("some"), -1);
    json_decref(d);
}

static void test_bad_selectors(void)
{
    expect_bad("a[?@.x]", "[?(expression)]");
    expect_bad("a[?(@.x > 1]", "not closed");
    expect_bad("a[?(@.x >)]", "in the filter");
    expect_bad("a[?(nope)]", "unknown variable 'nope'");
    expect_bad("a[*", "expected a number, '*' or '?('");
}

int main(void)
{
    RUN(test_wildcards);
    RUN(test_filters);
    RUN(test_take_random);
    RUN(test_bad_selectors);
    RUN(test_keys_and_indexes);
    RUN(test_dollar_prefix);
    RUN(test_quoted_keys);
    RUN(test_missing);
    RUN(test_bad_paths);
    return check_summary();
}
