/*
 * allowlist.c - see allowlist.h.
 *
 * Addresses are kept as 16 bytes: IPv4 in the first 4 (kind V4), so that matching is a prefix
 * compare of bytes. An IPv4-mapped IPv6 address is turned into its IPv4 address before any
 * compare, so "::ffff:127.0.0.1" meets the same entries as "127.0.0.1".
 */
#include "engine/allowlist.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/limits.h"

typedef struct resolved {
    size_t n;
    int v6[SP_ALLOW_MAX_ADDRS];
    uint8_t addr[SP_ALLOW_MAX_ADDRS][16];
} resolved;

struct sp_allowlist {
    sp_allow_entry *e;
    resolved *res; /* [n], for NAME entries */
    size_t n;
};

/* ---- parsing ---- */

static int parse_port(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static int parse_prefix(const char *s, size_t n, unsigned max, unsigned *out)
{
    if (n == 0 || n > 3)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static void clear_host_bits(uint8_t *a, unsigned prefix, unsigned bits)
{
    for (unsigned b = prefix; b < bits; b++)
        a[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
}

/* An address with an optional "/prefix", as written between brackets or before ":port". */
static int parse_net(const char *s, size_t n, int v6, sp_allow_entry *out, char *err, size_t errlen)
{
    char text[64];
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    unsigned bits = v6 ? 128 : 32;
    if (alen == 0 || alen >= sizeof text) {
        snprintf(err, errlen, "not an IP address");
        return SP_EINVAL;
    }
    memcpy(text, s, alen);
    text[alen] = '\0';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, text, out->addr) != 1) {
        snprintf(err, errlen,
                 v6 ? "not an IPv6 address" : "not an IPv4 address (write four decimal parts)");
        return SP_EINVAL;
    }
    out->prefix = bits;
    if (slash && parse_prefix(slash + 1, n - alen - 1, bits, &out->prefix) != 0) {
        snprintf(err, errlen, "the prefix length must be a number from 0 to %u", bits);
        return SP_EINVAL;
    }
    /* An IPv4-mapped network is an IPv4 network: compare it as one. */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (v6 && out->prefix >= 96 && memcmp(out->addr, mapped, 12) == 0) {
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->prefix -= 96;
        v6 = 0;
        bits = 32;
    }
    out->kind = v6 ? SP_ALLOW_V6 : SP_ALLOW_V4;
    clear_host_bits(out->addr, out->prefix, bits);
    return 0;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

static int all_ipv4_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '/'))
            return 0;
    return 1;
}

int sp_allow_entry_parse(const char *s, size_t len, sp_allow_entry *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > SP_ALLOW_MAX_ENTRY) {
        snprintf(err, errlen, "longer than %u bytes", SP_ALLOW_MAX_ENTRY);
        return SP_ELIMIT;
    }
    if (len == 0) {
        snprintf(err, errlen, "empty entry");
        return SP_EINVAL;
    }
    if (memchr(s, '\0', len)) {
        snprintf(err, errlen, "contains a NUL byte");
        return SP_EINVAL;
    }
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) {
            snprintf(err, errlen, "'[' without ']'");
            return SP_EINVAL;
        }
        size_t inner = (size_t)(close - s) - 1;
        size_t rest = len - inner - 2;
        if (rest && (close[1] != ':' || parse_port(close + 2, rest - 1, &out->port) != 0)) {
            snprintf(err, errlen, "after ']' only ':PORT' may follow (a port from 1 to 65535)");
            return SP_EINVAL;
        }
        if (memchr(s + 1, ':', inner) == NULL) {
            snprintf(err, errlen, "brackets are for IPv6 addresses only");
            return SP_EINVAL;
        }
        return parse_net(s + 1, inner, 1, out, err, errlen);
    }
    /* Two colons or more: a bare IPv6 address or network, which cannot carry a port. */
    const char *c1 = memchr(s, ':', len);
    if (c1 && memchr(c1 + 1, ':', len - (size_t)(c1 - s) - 1))
        return parse_net(s, len, 1, out, err, errlen);
    size_t hlen = len;
    if (c1) {
        hlen = (size_t)(c1 - s);
        if (parse_port(c1 + 1, len - hlen - 1, &out->port) != 0) {
            snprintf(err, errlen, "the port must be a number from 1 to 65535");
            return SP_EINVAL;
        }
    }
    if (hlen == 0) {
        snprintf(err, errlen, "no host before the port");
        return SP_EINVAL;
    }
    if (all_ipv4_chars(s, hlen))
        return parse_net(s, hlen, 0, out, err, errlen);
    /* A host name. */
    if (s[hlen - 1] == '.')
        hlen--; /* a trailing dot names the same host */
    if (hlen == 0 || hlen > 253) {
        snprintf(err, errlen, "a host name has 1 to 253 characters");
        return SP_EINVAL;
    }
    size_t label = 0, last = 0;
    for (size_t i = 0; i < hlen; i++) {
        if (!name_char(s[i])) {
            snprintf(err, errlen,
                     "a host name has only letters, digits, '-' and '.' (for a network write "
                     "an address with a prefix, such as 10.0.0.0/8)");
            return SP_EINVAL;
        }
        if (s[i] == '.') {
            if (label == 0) {
                snprintf(err, errlen, "a host name has an empty label");
                return SP_EINVAL;
            }
            label = 0;
            last = i + 1;
        } else if (++label > 63) {
            snprintf(err, errlen, "a label of a host name is longer than 63 characters");
            return SP_EINVAL;
        }
    }
    if (label == 0) {
        snprintf(err, errlen, "a host name has an empty label");
        return SP_EINVAL;
    }
    /* The resolver reads "2130706433", "0x7f000001" or "127.1" as addresses: a name must not
     * look like one, so its last label starts with a letter (as every top-level domain does). */
    char f = s[last];
    if (!((f >= 'a' && f <= 'z') || (f >= 'A' && f <= 'Z'))) {
        snprintf(err, errlen,
                 "not an IPv4 address in four decimal parts, nor a host name (the last label "
                 "of a name starts with a letter)");
        return SP_EINVAL;
    }
    out->kind = SP_ALLOW_NAME;
    for (size_t i = 0; i < hlen; i++) {
        char ch = s[i];
        out->name[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    out->name[hlen] = '\0';
    return 0;
}

/* ---- the list ---- */

int sp_allowlist_new(const char *const *entries, size_t n, sp_allowlist **out, sp_errlist *errs)
{
    *out = NULL;
    if (n > SP_ALLOW_MAX_ENTRIES) {
        sp_errlist_add(errs, "entries", "%zu entries; at most %d are allowed", n,
                       SP_ALLOW_MAX_ENTRIES);
        return SP_EINVAL;
    }
    sp_allowlist *al = sp_calloc(1, sizeof *al);
    al->e = sp_calloc(n ? n : 1, sizeof *al->e);
    al->res = sp_calloc(n ? n : 1, sizeof *al->res);
    al->n = n;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char err[160];
        const char *s = entries[i] ? entries[i] : "";
        size_t len = strlen(s);
        if (sp_allow_entry_parse(s, len, &al->e[i], err, sizeof err) != 0) {
            char path[32];
            snprintf(path, sizeof path, "entries[%zu]", i);
            sp_errlist_add(errs, path, "'%.*s%s': %s", len > 80 ? 80 : (int)len, s,
                           len > 80 ? "..." : "", err);
            bad = 1;
        }
    }
    if (bad) {
        sp_allowlist_free(al);
        return SP_EINVAL;
    }
    *out = al;
    return 0;
}

void sp_allowlist_free(sp_allowlist *al)
{
    if (!al)
        return;
    free(al->e);
    free(al->res);
    free(al);
}

size_t sp_allowlist_count(const sp_allowlist *al)
{
    return al ? al->n : 0;
}

void sp_allowlist_resolve(sp_allowlist *al)
{
    for (size_t i = 0; i < al->n; i++) {
        if (al->e[i].kind != SP_ALLOW_NAME)
            continue;
        resolved *r = &al->res[i];
        r->n = 0;
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(al->e[i].name, NULL, &hints, &res) != 0)
            continue;
        for (struct addrinfo *a = res; a && r->n < SP_ALLOW_MAX_ADDRS; a = a->ai_next) {
            if (a->ai_family == AF_INET) {
                r->v6[r->n] = 0;
                memset(r->addr[r->n], 0, 16);
                memcpy(r->addr[r->n], &((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr, 4);
                r->n++;
            } else if (a->ai_family == AF_INET6) {
                r->v6[r->n] = 1;
                memcpy(r->addr[r->n], &((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr, 16);
                r->n++;
            }
        }
        freeaddrinfo(res);
    }
}

/* ---- matching ---- */

static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* addr: 4 bytes (v6 == 0) or 16; mapped IPv4 already turned into IPv4. */
static int allows(const sp_allowlist *al, int v6, const uint8_t *addr, unsigned port)
{
    for (size_t i = 0; i < al->n; i++) {
        const sp_allow_entry *e = &al->e[i];
        if (e->port && e->port != port)
            continue;
        if (e->kind == SP_ALLOW_NAME) {
            const resolved *r = &al->res[i];
            for (size_t k = 0; k < r->n; k++)
                if (r->v6[k] == v6 && memcmp(r->addr[k], addr, v6 ? 16 : 4) == 0)
                    return 1;
        } else if ((e->kind == SP_ALLOW_V6) == (v6 != 0) && prefix_eq(e->addr, addr, e->prefix)) {
            return 1;
        }
    }
    return 0;
}

/* Normalises a 16-byte IPv6 address: an IPv4-mapped one becomes IPv4 (4 bytes). */
static int unmap(uint8_t *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0) {
        memmove(a, a + 12, 4);
        return 0;
    }
    return 1;
}

int sp_allowlist_allows_addr(const sp_allowlist *al, const struct sockaddr *sa, size_t salen)
{
    uint8_t a[16];
    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(a, &in->sin_addr, 4);
        return allows(al, 0, a, ntohs(in->sin_port));
    }
    if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(a, &in6->sin6_addr, 16);
        int v6 = unmap(a);
        return allows(al, v6, a, ntohs(in6->sin6_port));
    }
    return 0;
}

int sp_allowlist_allows_ip(const sp_allowlist *al, const char *ip, unsigned port)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, ip, a) == 1)
        return allows(al, 0, a, port);
    if (inet_pton(AF_INET6, ip, a) == 1) {
        int v6 = unmap(a);
        return allows(al, v6, a, port);
    }
    return 0;
}

void sp_allow_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%u", ip, port);
    } else {
        snprintf(buf, len, "an address of family %d", (int)sa->sa_family);
    }
}

/* ---- the check before a run ---- */

int sp_allowlist_check_url(const sp_allowlist *al, const char *url, char *why, size_t whylen)
{
    unsigned port;
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        port = 80;
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        port = 443;
        p = url + 8;
    } else {
        snprintf(why, whylen, "%.200s is not an http(s) URL", url);
        return SP_EINVAL;
    }
    size_t alen = strcspn(p, "/?#");
    /* Userinfo ends at an '@'. Parsers disagree on which one when there are several, or on a
     * backslash: such a URL is refused rather than read one way here and another by libcurl. */
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++) {
        if ((p[i] == '@' && at) || p[i] == '\\')
            goto bad_host;
        if (p[i] == '@')
            at = p + i;
    }
    if (at) {
        alen -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    char host[SP_ALLOW_MAX_ENTRY + 1];
    size_t hlen;
    const char *after;
    if (alen && p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close) {
            snprintf(why, whylen, "%.200s: '[' without ']' in the host", url);
            return SP_EINVAL;
        }
        hlen = (size_t)(close - p) - 1;
        if (hlen >= sizeof host)
            goto bad_host;
        memcpy(host, p + 1, hlen);
        after = close + 1;
    } else {
        const char *colon = memchr(p, ':', alen);
        hlen = colon ? (size_t)(colon - p) : alen;
        if (hlen >= sizeof host)
            goto bad_host;
        memcpy(host, p, hlen);
        after = p + hlen;
    }
    host[hlen] = '\0';
    size_t rest = alen - (size_t)(after - p);
    if (rest) {
        uint16_t pt;
        if (after[0] != ':' || (rest > 1 && parse_port(after + 1, rest - 1, &pt) != 0)) {
            snprintf(why, whylen, "%.200s: the port is not a number from 1 to 65535", url);
            return SP_EINVAL;
        }
        if (rest > 1)
            port = pt;
    }
    if (hlen && host[hlen - 1] == '.')
        host[--hlen] = '\0';
    if (!hlen)
        goto bad_host;
    for (size_t i = 0; i < hlen; i++)
        if (!name_char(host[i]) && host[i] != ':' && host[i] != '_')
            goto bad_host;
    for (size_t i = 0; i < al->n; i++) {
        const sp_allow_entry *e = &al->e[i];
        if (e->kind == SP_ALLOW_NAME && (!e->port || e->port == port) &&
            strcasecmp(e->name, host) == 0)
            return 0;
    }
    /* Numeric or not, let the resolver read the host as libcurl's will, and judge what it
     * finds: every address must be allowed. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        snprintf(why, whylen, "%s:%u is not in the target allowlist (the name does not resolve)",
                 host, port);
        return SP_EINVAL;
    }
    int rc = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET)
            ((struct sockaddr_in *)(void *)a->ai_addr)->sin_port = htons((uint16_t)port);
        else if (a->ai_family == AF_INET6)
            ((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_port = htons((uint16_t)port);
        else
            continue;
        if (!sp_allowlist_allows_addr(al, a->ai_addr, a->ai_addrlen)) {
            char addr[80], ip[INET6_ADDRSTRLEN] = "";
            sp_allow_format_addr(a->ai_addr, addr, sizeof addr);
            const void *raw =
                a->ai_family == AF_INET
                    ? (const void *)&((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr
                    : (const void *)&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr;
            inet_ntop(a->ai_family, raw, ip, sizeof ip);
            /* Name the target as written and, when it is spelled otherwise, what it means. */
            if (strcmp(ip, host) == 0)
                snprintf(why, whylen, "%s is not in the target allowlist", addr);
            else
                snprintf(why, whylen, "%s:%u (%s) is not in the target allowlist", host, port,
                         addr);
            rc = SP_EINVAL;
            break;
        }
    }
    freeaddrinfo(res);
    return rc;
bad_host:
    snprintf(why, whylen, "%.200s: the host cannot be checked against the target allowlist", url);
    return SP_EINVAL;
}
