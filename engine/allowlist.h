/*
 * allowlist.h - the target allowlist: which hosts and ports a run may send load to.
 *
 * An entry is one of (an optional ":PORT" or "]:PORT" limits it to that port, 1..65535):
 *   127.0.0.1          an IPv4 address, written as four decimal parts (nothing else: the
 *   10.0.0.0/8         decimal, hex and octal spellings inet_aton() accepts are refused)
 *   10.1.2.3:8090      and optionally a prefix length; host bits beyond it are ignored
 *   ::1, fe80::/10     an IPv6 address or network; with a port it must be bracketed:
 *   [::1]:8090         "[::1]:8090", "[fd00::/8]:443"
 *   localhost:8090     a host name (letters, digits, '-', '.'; the last label starts with a
 *                      letter, so "2130706433" or "0x7f000001" is never taken for a name)
 * Entries compare addresses, never spellings: an IPv4-mapped IPv6 address (::ffff:127.0.0.1)
 * is compared as the IPv4 address, and a host-name entry stands for the addresses the name
 * resolved to when sp_allowlist_resolve() ran (once, before a run starts, so a name that
 * resolves elsewhere later, DNS rebinding, does not widen the list).
 *
 * Calling sequence:
 *     sp_allowlist_new(entries, n, &al, &errs);   parse (no network)
 *     sp_allowlist_resolve(al);                   resolve the host-name entries (blocking DNS)
 *     sp_allowlist_allows_addr(al, sa, len) ...   any thread, any number of times
 *     sp_allowlist_free(al);
 * sp_allowlist_check_url() is the check made before a run starts: it resolves the URL's host
 * itself when the host is a name that no entry names.
 *
 * Threads: after resolve, an allowlist is immutable and may be read by any number of threads.
 */
#ifndef SP_ALLOWLIST_H
#define SP_ALLOWLIST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine/common.h"

typedef struct sp_allowlist sp_allowlist;

typedef enum sp_allow_kind { SP_ALLOW_V4, SP_ALLOW_V6, SP_ALLOW_NAME } sp_allow_kind;

/* One parsed entry. */
typedef struct sp_allow_entry {
    sp_allow_kind kind;
    uint8_t addr[16]; /* V4: the first 4 bytes; network byte order; host bits cleared */
    unsigned prefix;  /* V4: 0..32, V6: 0..128 */
    uint16_t port;    /* 0: any port */
    char name[256];   /* NAME: lower-cased, without a trailing dot */
} sp_allow_entry;

/*
 * Parses one entry of len bytes (need not be NUL-terminated). Returns 0 and fills *out, or
 * SP_EINVAL (SP_ELIMIT when longer than SP_ALLOW_MAX_ENTRY) with the reason in err, e.g.
 * "prefix length 33 is out of range (0..32)". The reason never quotes more than the entry.
 * Pure and thread-safe; the fuzz target fuzz_allowlist drives it.
 */
int sp_allow_entry_parse(const char *s, size_t len, sp_allow_entry *out, char *err, size_t errlen);

/*
 * Parses entries[0..n) into a new allowlist. Every bad entry is added to errs with the path
 * "entries[i]" and a reason naming the entry; more than SP_ALLOW_MAX_ENTRIES entries is one
 * error. On success returns 0 and *out (owned by the caller; n == 0 gives an empty list, which
 * allows nothing: callers that mean "no allowlist" pass NULL instead of an allowlist). On
 * failure returns SP_EINVAL and *out is NULL.
 */
int sp_allowlist_new(const char *const *entries, size_t n, sp_allowlist **out, sp_errlist *errs);
void sp_allowlist_free(sp_allowlist *al);
size_t sp_allowlist_count(const sp_allowlist *al);

/* Resolves every host-name entry (getaddrinfo, blocking) and keeps up to SP_ALLOW_MAX_ADDRS
 * addresses of each. A name that does not resolve matches no address. Call once, before the
 * list is shared with other threads. */
void sp_allowlist_resolve(sp_allowlist *al);

/* 1 when the address and port in sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts
 * as IPv4) are allowed, else 0. Any thread. */
int sp_allowlist_allows_addr(const sp_allowlist *al, const struct sockaddr *sa, size_t salen);

/* The same for a numeric address as text ("127.0.0.1", "::1", "::ffff:127.0.0.1") and a
 * port. Text that is not a numeric address is refused (0). */
int sp_allowlist_allows_ip(const sp_allowlist *al, const char *ip, unsigned port);

/*
 * The check before a run: is every address the URL's host may reach allowed? url is an absolute
 * http(s) URL; its host may be an IP literal, a host name (allowed when an entry names it with
 * a matching port; otherwise it is resolved and each of its addresses must be allowed, so that
 * "2130706433" or "0x7f000001", which the resolver reads as 127.0.0.1, are judged as that
 * address). Returns 0 when allowed, SP_EINVAL when not (or the URL cannot be read), with why
 * filled: "127.0.0.1:8090 is not in the target allowlist". Blocking (DNS); any thread.
 */
int sp_allowlist_check_url(const sp_allowlist *al, const char *url, char *why, size_t whylen);

/* Writes "ADDR:PORT" ("[ADDR]:PORT" for IPv6) of sa to buf, for messages. */
void sp_allow_format_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
