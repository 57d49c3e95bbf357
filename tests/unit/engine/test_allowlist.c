/*
 * test_allowlist.c - the target allowlist: entry parsing, address matching (IPv4-mapped IPv6
 * compared as IPv4), ports, host names, and the check made before a run on URLs whose host is
 * spelled as a decimal, hex or octal number.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "engine/allowlist.h"
#include "engine/limits.h"

static sp_allowlist *make(const char *const *entries, size_t n)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_allowlist *al = NULL;
    if (sp_allowlist_new(entries, n, &al, &el) != 0)
        al = NULL;
    sp_errlist_release(&el);
    if (al)
        sp_allowlist_resolve(al);
    return al;
}

static int parse_ok(const char *s)
{
    sp_allow_entry e;
    char err[160];
    return sp_allow_entry_parse(s, strlen(s), &e, err, sizeof err) == 0;
}

static void test_parse_good(void)
{
    sp_allow_entry e;
    char err[160];
    CHECK_INT_EQ(sp_allow_entry_parse("127.0.0.0/8", 11, &e, err, sizeof err), 0);
    CHECK_INT_EQ(e.kind, SP_ALLOW_V4);
    CHECK_UINT_EQ(e.prefix, 8);
    CHECK_UINT_EQ(e.port, 0);
    CHECK_INT_EQ(sp_allow_entry_parse("10.1.2.3:8090", 13, &e, err, sizeof err), 0);
    CHECK_UINT_EQ(e.port, 8090);
    CHECK_UINT_EQ(e.prefix, 32);
    CHECK_INT_EQ(sp_allow_entry_parse("[::1]:8090", 10, &e, err, sizeof err), 0);
    CHECK_INT_EQ(e.kind, SP_ALLOW_V6);
    CHECK_UINT_EQ(e.port, 8090);
    CHECK_INT_EQ(sp_allow_entry_parse("LocalHost:8090", 14, &e, err, sizeof err), 0);
    CHECK_INT_EQ(e.kind, SP_ALLOW_NAME);
    CHECK_STR_EQ(e.name, "localhost");
    CHECK_INT_EQ(sp_allow_entry_parse("[::ffff:10.0.0.0/104]", 21, &e, err, sizeof err), 0);
    CHECK_INT_EQ(e.kind, SP_ALLOW_V4); /* a mapped network is an IPv4 one */
    CHECK_UINT_EQ(e.prefix, 8);
    CHECK(parse_ok("fe80::/10"));
    CHECK(parse_ok("::1"));
    CHECK(parse_ok("example.com."));
    CHECK(parse_ok("shop-1.internal:443"));
}

static void test_parse_bad(void)
{
    static const char *bad[] = {"",         "2130706433",   "0x7f000001",  "0177.0.0.1",
                                "127.1",    "127.0.0.1/33", "127.0.0.1:0", "127.0.0.1:65536",
                                "[::1",     "[127.0.0.1]",  "::1:8090x",   "host:abc",
                                "a..b",     "-:80",         "1.2.3.4/",    "[::1]8090",
                                "exa mple", "10.0.0.0/8/8", ":80",         "host_name"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_ok(bad[i]))
            CHECK_FAIL_("accepted '%s'", bad[i]);
    }
    char big[SP_ALLOW_MAX_ENTRY + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sp_allow_entry e;
    char err[160];
    CHECK_INT_EQ(sp_allow_entry_parse(big, strlen(big), &e, err, sizeof err), SP_ELIMIT);
}

static void test_new_names_the_entry(void)
{
    const char *entries[] = {"127.0.0.1", "10.0.0.0/99"};
    sp_errlist el;
    sp_errlist_init(&el);
    sp_allowlist *al = NULL;
    CHECK_INT_EQ(sp_allowlist_new(entries, 2, &al, &el), SP_EINVAL);
    CHECK(al == NULL);
    CHECK_INT_EQ(el.n, 1);
    CHECK_STR_EQ(el.v[0].path, "entries[1]");
    CHECK_STR_CONTAINS(el.v[0].msg, "10.0.0.0/99");
    CHECK_STR_CONTAINS(el.v[0].msg, "prefix");
    sp_errlist_release(&el);
}

static void sin4(struct sockaddr_in *a, const char *ip, unsigned port)
{
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a->sin_addr);
}

static void sin6(struct sockaddr_in6 *a, const char *ip, unsigned port)
{
    memset(a, 0, sizeof *a);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
}

static void test_match_addresses(void)
{
    const char *entries[] = {"127.0.0.2", "10.0.0.0/8:443", "[::1]:8090"};
    sp_allowlist *al = make(entries, 3);
    CHECK(al != NULL);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    sin4(&a4, "127.0.0.2", 1234);
    CHECK(sp_allowlist_allows_addr(al, (struct sockaddr *)&a4, sizeof a4));
    sin4(&a4, "127.0.0.1", 1234);
    CHECK(!sp_allowlist_allows_addr(al, (struct sockaddr *)&a4, sizeof a4));
    sin4(&a4, "10.200.1.1", 443);
    CHECK(sp_allowlist_allows_addr(al, (struct sockaddr *)&a4, sizeof a4));
    sin4(&a4, "10.200.1.1", 80);
    CHECK(!sp_allowlist_allows_addr(al, (struct sockaddr *)&a4, sizeof a4));
    sin4(&a4, "11.0.0.1", 443);
    CHECK(!sp_allowlist_allows_addr(al, (struct sockaddr *)&a4, sizeof a4));
    /* IPv4-mapped IPv6 is compared as IPv4, both ways. */
    sin6(&a6, "::ffff:127.0.0.1", 1234);
    CHECK(!sp_allowlist_allows_addr(al, (struct sockaddr *)&a6, sizeof a6));
    sin6(&a6, "::ffff:127.0.0.2", 1234);
    CHECK(sp_allowlist_allows_addr(al, (struct sockaddr *)&a6, sizeof a6));
    sin6(&a6, "::1", 8090);
    CHECK(sp_allowlist_allows_addr(al, (struct sockaddr *)&a6, sizeof a6));
    sin6(&a6, "::1", 8091);
    CHECK(!sp_allowlist_allows_addr(al, (struct sockaddr *)&a6, sizeof a6));
    CHECK(sp_allowlist_allows_ip(al, "::ffff:127.0.0.2", 5));
    CHECK(!sp_allowlist_allows_ip(al, "::ffff:127.0.0.1", 5));
    CHECK(!sp_allowlist_allows_ip(al, "2130706433", 5)); /* not numeric text: refused */
    CHECK(!sp_allowlist_allows_ip(al, "127.0.0.1", 5));
    sp_allowlist_free(al);
}

static void test_names(void)
{
    const char *entries[] = {"localhost:8090"};
    sp_allowlist *al = make(entries, 1);
    CHECK(al != NULL);
    /* The name stands for what it resolved to. */
    CHECK(sp_allowlist_allows_ip(al, "127.0.0.1", 8090));
    CHECK(!sp_allowlist_allows_ip(al, "127.0.0.1", 8091));
    CHECK(!sp_allowlist_allows_ip(al, "127.0.0.2", 8090));
    char why[256];
    CHECK_INT_EQ(sp_allowlist_check_url(al, "http://LOCALHOST:8090/x", why, sizeof why), 0);
    CHECK_INT_EQ(sp_allowlist_check_url(al, "http://localhost/x", why, sizeof why), SP_EINVAL);
    sp_allowlist_free(al);
}

static void test_check_url_spellings(void)
{
    const char *entries[] = {"127.0.0.2"};
    sp_allowlist *al = make(entries, 1);
    CHECK(al != NULL);
    char why[256];
    CHECK_INT_EQ(sp_allowlist_check_url(al, "http://127.0.0.2:9/", why, sizeof why), 0);
    CHECK_INT_EQ(sp_allowlist_check_url(al, "https://user:pw@127.0.0.2/", why, sizeof why), 0);
    static const char *refused[] = {
        "http://127.0.0.1:9/",           "http://2130706433:9/",
        "http://0x7f000001:9/",          "http://017700000001:9/",
        "http://0177.0.0.1:9/",          "http://127.1:9/",
        "http://[::ffff:127.0.0.1]:9/",  "http://[::1]:9/",
        "http://127.0.0.2@127.0.0.1:9/", "ftp://127.0.0.2/",
        "http://127.0.0.2:0/",           "http://[::1/",
        "http://a@127.0.0.1@127.0.0.2/", "http://127.0.0.1\\@127.0.0.2/",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        why[0] = '\0';
        if (sp_allowlist_check_url(al, refused[i], why, sizeof why) != SP_EINVAL)
            CHECK_FAIL_("allowed %s", refused[i]);
        CHECK(why[0] != '\0');
    }
    CHECK_INT_EQ(sp_allowlist_check_url(al, "http://2130706433:9/", why, sizeof why), SP_EINVAL);
    CHECK_STR_CONTAINS(why, "2130706433:9 (127.0.0.1:9) is not in the target allowlist");
    CHECK_INT_EQ(sp_allowlist_check_url(al, "http://127.0.0.1:9/", why, sizeof why), SP_EINVAL);
    CHECK_STR_EQ(why, "127.0.0.1:9 is not in the target allowlist");
    sp_allowlist_free(al);
}

static void test_too_many(void)
{
    static const char *e[SP_ALLOW_MAX_ENTRIES + 1];
    for (size_t i = 0; i <= SP_ALLOW_MAX_ENTRIES; i++)
        e[i] = "127.0.0.1";
    sp_errlist el;
    sp_errlist_init(&el);
    sp_allowlist *al = NULL;
    CHECK_INT_EQ(sp_allowlist_new(e, SP_ALLOW_MAX_ENTRIES + 1, &al, &el), SP_EINVAL);
    CHECK_STR_EQ(el.v[0].path, "entries");
    sp_errlist_release(&el);
    CHECK_INT_EQ(sp_allowlist_new(e, SP_ALLOW_MAX_ENTRIES, &al, &el), 0);
    CHECK_UINT_EQ(sp_allowlist_count(al), SP_ALLOW_MAX_ENTRIES);
    sp_allowlist_free(al);
    sp_errlist_release(&el);
}

int main(void)
{
    RUN(test_parse_good);
    RUN(test_parse_bad);
    RUN(test_new_names_the_entry);
    RUN(test_match_addresses);
    RUN(test_names);
    RUN(test_check_url_spellings);
    RUN(test_too_many);
    return check_summary();
}
