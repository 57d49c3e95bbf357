/*
 * test_mask.c - the masking of secrets (engine/mask.c) in every form the engine gives a value:
 * as written, percent-encoded by the engine's own template escapers (query and form values,
 * urlencode() once and twice), with '+' for a space and lower-case hex as other encoders write
 * it, JSON-escaped once and twice, and base64 at each alignment (a Basic Authorization header
 * for users of every length); then overlapping secrets, a secret inside another, values too
 * short to mask, texts cut inside a value, and bytes that are not text.
 */
#include <ctype.h>
#include <stdlib.h>

#include "check.h"
#include "engine/common.h"
#include "engine/limits.h"
#include "engine/mask.h"
#include "engine/template.h"

/* Quotes, a backslash, a space, '@', '/', '!' and a '+': something to escape for every form. */
#define PW "p@ss w/rd!\"q\\z+1"

static json_t *secrets;
static sp_scope scope;
static sp_vuctx ctx;
static sp_rng rng;

/* src rendered by the engine's template code with esc (the forms a request really carries);
 * aborts when it does not render (the sources here are valid). */
static char *render(const char *src, sp_esc esc)
{
    char err[256];
    sp_tmpl *t = sp_tmpl_compile(src, strlen(src), esc, &scope, err, sizeof err);
    sp_buf b;
    sp_buf_init(&b, 1 << 16);
    if (!t || sp_tmpl_render(t, &ctx, &b) != 0) {
        fprintf(stderr, "cannot render %s: %s\n", src, t ? "render failed" : err);
        abort();
    }
    sp_tmpl_free(t);
    return sp_buf_detach(&b, NULL);
}

/* The text masked by m, as a new string; *hit gets sp_mask_apply's result. */
static char *masked(const sp_mask *m, const char *s, size_t n, unsigned flags, int *hit)
{
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    *hit = sp_mask_apply(m, s, n, flags, &b);
    return sp_buf_detach(&b, NULL);
}

/* Checks that masking s (a C string) with m gives want. */
#define EXPECT_MASK(m, s, flags, want)                                                             \
    do {                                                                                           \
        int hit_;                                                                                  \
        char *got_ = masked(m, s, strlen(s), flags, &hit_);                                        \
        CHECK_STR_EQ(got_, want);                                                                  \
        CHECK_INT_EQ(hit_, strcmp(s, want) != 0);                                                  \
        free(got_);                                                                                \
    } while (0)

/* A base64 encoder of its own, so that the test does not trust the one it checks. */
static char *base64(const char *s)
{
    static const char d[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    char *out = sp_calloc(n / 3 * 4 + 8, 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned char a = (unsigned char)s[i];
        unsigned char b = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        unsigned char c = i + 2 < n ? (unsigned char)s[i + 2] : 0;
        out[o++] = d[a >> 2];
        out[o++] = d[(a & 3) << 4 | b >> 4];
        out[o++] = i + 1 < n ? d[(b & 15) << 2 | c >> 6] : '=';
        out[o++] = i + 2 < n ? d[c & 63] : '=';
    }
    return out;
}

/* s with every "%20" written as '+' (form encoding as browsers write it). */
static char *plus_for_space(const char *s)
{
    sp_buf b;
    sp_buf_init(&b, 1 << 16);
    for (const char *p = s; *p;) {
        if (strncmp(p, "%20", 3) == 0) {
            sp_buf_addc(&b, '+');
            p += 3;
        } else {
            sp_buf_addc(&b, *p++);
        }
    }
    return sp_buf_detach(&b, NULL);
}

static char *lower_hex(const char *s)
{
    char *c = sp_strdup(s);
    for (char *p = c; *p; p++)
        if (*p == '%' && p[1] && p[2]) {
            p[1] = (char)tolower((unsigned char)p[1]);
            p[2] = (char)tolower((unsigned char)p[2]);
        }
    return c;
}

/* Checks that each text holds no trace of the value and reads prefix + mask + suffix. */
static void expect_hidden(const sp_mask *m, const char *form, const char *what)
{
    char text[1024];
    snprintf(text, sizeof text, "got \"/echo?k=%s\" (%s)", form, what);
    char want[1024];
    snprintf(want, sizeof want, "got \"/echo?k=%s\" (%s)", SP_SECRET_MASK, what);
    int hit;
    char *got = masked(m, text, strlen(text), 0, &hit);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  form %s: %s\n", what, form);
    CHECK_STR_EQ(got, want);
    CHECK_INT_EQ(hit, 1);
    free(got);
}

/* Every form the engine writes a value in, and those other encoders write. */
static void test_every_form(void)
{
    const char *const v[] = {PW};
    sp_mask *m = sp_mask_new(v, 1);
    CHECK(m != NULL);

    char *query = render("{{secret.pw}}", SP_ESC_URL); /* query and form values */
    CHECK_STR_EQ(query, "p%40ss%20w%2Frd%21%22q%5Cz%2B1");
    char *urlenc = render("{{urlencode(secret.pw)}}", SP_ESC_NONE);
    char *twice = render("{{urlencode(urlencode(secret.pw))}}", SP_ESC_NONE);
    CHECK_STR_EQ(twice, "p%2540ss%2520w%252Frd%2521%2522q%255Cz%252B1");
    char *json = render("{{secret.pw}}", SP_ESC_JSON_STR);
    CHECK_STR_EQ(json, "p@ss w/rd!\\\"q\\\\z+1");
    char *plus = plus_for_space(query);
    char *lower = lower_hex(query);
    /* A JSON document echoed inside a JSON string: the escaping escaped again. */
    json_t *inner = json_string(json);
    char *jj = json_dumps(inner, JSON_ENCODE_ANY);
    json_decref(inner);
    jj[strlen(jj) - 1] = '\0';

    expect_hidden(m, PW, "as written");
    expect_hidden(m, query, "query or form value");
    expect_hidden(m, urlenc, "urlencode()");
    expect_hidden(m, twice, "urlencode() twice");
    expect_hidden(m, plus, "'+' for a space");
    expect_hidden(m, lower, "lower-case hex");
    expect_hidden(m, json, "JSON-escaped");
    expect_hidden(m, jj + 1, "JSON-escaped twice");
    /* A form body as the engine writes it: every field but the secret's stays. */
    char form[512];
    snprintf(form, sizeof form, "user=ann&password=%s&remember=1", query);
    EXPECT_MASK(m, form, 0, "user=ann&password=********&remember=1");

    /* Basic authorization of user:value, for users of each length modulo 3: the value then
     * starts at each of the three alignments of the base64 text. The whole word goes. */
    const char *users[] = {"", "a", "ab", "ann", "bob@example.com"};
    for (size_t i = 0; i < SP_ARRAY_LEN(users); i++) {
        char cred[128];
        snprintf(cred, sizeof cred, "%s:%s", users[i], PW);
        char *b64 = base64(cred);
        char header[256];
        snprintf(header, sizeof header, "Authorization: Basic %s\r\n", b64);
        EXPECT_MASK(m, header, 0, "Authorization: Basic ********\r\n");
        /* And the value alone, as a target may echo it. */
        free(b64);
        snprintf(cred, sizeof cred, "%s%s", users[i], PW);
        b64 = base64(cred);
        snprintf(header, sizeof header, "{\"token\":\"%s\"}", b64);
        EXPECT_MASK(m, header, 0, "{\"token\":\"********\"}");
        free(b64);
    }

    free(query);
    free(urlenc);
    free(twice);
    free(json);
    free(plus);
    free(lower);
    free(jj);
    sp_mask_free(m);
}

/* Two secrets that overlap, one inside another, one next to another: no byte of any shows. */
static void test_overlaps(void)
{
    const char *const v[] = {"abcdef12", "ef12ghij", "token-1234", "token-1234-extra"};
    sp_mask *m = sp_mask_new(v, SP_ARRAY_LEN(v));
    EXPECT_MASK(m, "xx abcdef12ghij yy", 0, "xx ******** yy");
    EXPECT_MASK(m, "[token-1234-extra] [token-1234.] [token-1234-ext]", 0,
                "[********] [********.] [********-ext]");
    EXPECT_MASK(m, "abcdef12ef12ghij", 0, "********");
    EXPECT_MASK(m, "abcdef12 ef12ghij", 0, "******** ********");
    EXPECT_MASK(m, "nothing here: abcdef1, ef12ghi", 0, "nothing here: abcdef1, ef12ghi");
    sp_mask_free(m);
}

/* A value shorter than SP_MASK_MIN_BYTES is not masked: it would take every status code and
 * word with it. One of SP_MASK_MIN_BYTES is. */
static void test_short_values(void)
{
    const char *const tiny[] = {"401", "a", "ok"};
    CHECK(sp_mask_new(tiny, SP_ARRAY_LEN(tiny)) == NULL);
    int hit;
    char *got = masked(NULL, "expected status 200, got 401", 28, 0, &hit);
    CHECK_STR_EQ(got, "expected status 200, got 401");
    CHECK_INT_EQ(hit, 0);
    free(got);

    const char *const v[] = {"401", "4o1!"};
    CHECK_INT_EQ(SP_MASK_MIN_BYTES, 4);
    sp_mask *m = sp_mask_new(v, SP_ARRAY_LEN(v));
    CHECK(m != NULL);
    EXPECT_MASK(m, "got 401, sent 4o1! and 4o1%21", 0, "got 401, sent ******** and ********");
    sp_mask_free(m);
}

/* A text cut inside a value: at a "..." that marks the cut, or at the end of a text cut at a
 * cap (SP_MASK_CUT). At least SP_MASK_MIN_BYTES of the value must show to be recognised. */
static void test_cut(void)
{
    const char *const v[] = {"s3cr3t!pw-long-value"};
    sp_mask *m = sp_mask_new(v, 1);
    EXPECT_MASK(m, "expected the body to contain 'key s3cr3t!pw-l...'", 0,
                "expected the body to contain 'key ********...'");
    EXPECT_MASK(m, "got \"/echo?k=s3cr3t%21pw-lo...\", want 1", 0,
                "got \"/echo?k=********...\", want 1");
    EXPECT_MASK(m, "body: s3cr3t%21pw", SP_MASK_CUT, "body: ********");
    /* Not cut: the start of a value is just text. */
    EXPECT_MASK(m, "body: s3cr3t%21pw", 0, "body: s3cr3t%21pw");
    /* Fewer than SP_MASK_MIN_BYTES of it. */
    EXPECT_MASK(m, "the s3c...", 0, "the s3c...");
    EXPECT_MASK(m, "the s3cr...", 0, "the ********...");
    sp_mask_free(m);
}

/* Bytes that are not text (a NUL, invalid UTF-8), a value that itself holds "%25" and '+', and
 * percent signs that encode nothing. */
static void test_bytes(void)
{
    const char *const v[] = {"100%25off", "a+b c+d"};
    sp_mask *m = sp_mask_new(v, SP_ARRAY_LEN(v));
    EXPECT_MASK(m, "code 100%25off", 0, "code ********");
    EXPECT_MASK(m, "code 100%2525off", 0, "code ********");
    EXPECT_MASK(m, "q=a%2Bb+c%2Bd&", 0, "q=********&");
    EXPECT_MASK(m, "q=a+b c+d&", 0, "q=********&");
    EXPECT_MASK(m, "100% sure, %zz %4 %", 0, "100% sure, %zz %4 %");
    const char bin[] = "\x00\xff 100%25off \x00";
    int hit;
    char *got = masked(m, bin, sizeof bin - 1, 0, &hit);
    CHECK_INT_EQ(hit, 1);
    CHECK(memcmp(got, "\x00\xff ******** \x00", 13) == 0);
    free(got);
    sp_mask_free(m);
}

int main(void)
{
    secrets = json_pack("{s:s}", "pw", PW);
    scope = (sp_scope){NULL, NULL, 0, NULL, 0, secrets};
    sp_rng_seed(&rng, 1);
    ctx = (sp_vuctx){.rng = &rng, .vu = 1};
    RUN(test_every_form);
    RUN(test_overlaps);
    RUN(test_short_values);
    RUN(test_cut);
    RUN(test_bytes);
    json_decref(secrets);
    return check_summary();
}
