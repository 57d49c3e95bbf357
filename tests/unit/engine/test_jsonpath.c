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

int main(void)
{
    RUN(test_keys_and_indexes);
    RUN(test_dollar_prefix);
    RUN(test_quoted_keys);
    RUN(test_missing);
    RUN(test_bad_paths);
    return check_summary();
}
