/*
 * shop.h - the demo shop API's shared types: replies, requests, the route table, the small
 * utilities (allocation, clocks, random numbers, string building) and the two data modules.
 *
 * The shop is an example program: one process, a libmicrohttpd thread pool answering requests,
 * and one timer thread that resumes connections whose answer is held back by injected latency
 * or a stall. Every function here may be called from any request thread unless said otherwise.
 *
 *   catalog.c  products, categories, search and the generated reports: read-only after
 *              catalog_init(), so no locks on the hot read paths.
 *   store.c    users, the client-credentials client, tokens, and per-principal carts, orders
 *              and imports; sharded locks for tokens, one mutex per principal for the rest.
 *   api.c      the route table and the handlers that turn a request into a reply.
 *   main.c     options, the daemon, request life cycle, delays, stalls, errors and /__stats.
 */
#ifndef SHOP_H
#define SHOP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "../../engine/banned.h"

struct shop_request;

/* Caps on what a client may send; a body over its cap is answered with 413. */
#define SHOP_JSON_BODY_MAX (64 * 1024)
#define SHOP_UPLOAD_BODY_MAX (10 * 1024 * 1024)
#define SHOP_JSON_DEPTH_MAX 32
/* Per-principal history kept in memory: older orders and imports are forgotten so a long
 * benchmark cannot grow the shop without bound. */
#define SHOP_HISTORY_MAX 1000
/* The catalog of GET /api/v1/catalog: the guide's products and generated ones. */
#define SHOP_CATALOG_SIZE 100
#define SHOP_CATALOG_PAGE 20 /* the default page size */
/* Sessions (POST /api/v1/session): live ones at most; a login past it answers 503. */
#define SHOP_SESSIONS_MAX 100000
#define SESSION_HEX 32

/* ---- utilities (util.c) ---- */

/* Allocation that aborts on out-of-memory, so callers never check for NULL. The memory comes
 * from malloc(), so libmicrohttpd's MHD_RESPMEM_MUST_FREE may release it. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
uint64_t now_ns(void);
uint64_t wall_ns(void);

/* A per-thread PRNG (splitmix64) seeded from the global seed and a thread number; rng_seed()
 * must be called once before any thread starts. */
void rng_seed(uint64_t seed);
uint64_t rng_next(void);
double rng_unit(void); /* uniform in [0, 1) */

/* A growable string; sb_take() hands the malloc'd text to the caller. */
struct sbuf {
    char *p;
    size_t len, cap;
};
void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_adds(struct sbuf *b, const char *s);
void sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_add_json_str(struct sbuf *b, const char *s); /* quoted and escaped */
char *sb_take(struct sbuf *b, size_t *len);

/* Parses a whole decimal integer within [min, max]; 0, or -1 if it is not one. */
int parse_long(const char *s, long min, long max, long *out);
/* A query argument, URL-decoded by libmicrohttpd ('+' is a space), or NULL. */
const char *query_arg(struct shop_request *rq, const char *name);
/* A query argument as an integer in [min, max], def if absent; -1 if malformed or outside. */
int query_long(struct shop_request *rq, const char *name, long min, long max, long def, long *out);
/* A deterministic 64-bit mix of two numbers, for generated data. */
uint64_t mix64(uint64_t a, uint64_t b);

/* Case-insensitive substring search. */
const char *ci_strstr(const char *hay, const char *needle);

/* Days since 1970-01-01 for a proleptic Gregorian date, and back. */
int64_t days_from_civil(int y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);
/* Parses exactly YYYY-MM-DD into days since the epoch; returns 0 or -1 if malformed. */
int parse_date(const char *s, int64_t *days);

/* ---- replies ---- */

struct reply {
    int status;
    char *body; /* owned and malloc'd, unless body_static */
    size_t len;
    int body_static;      /* body points at storage that lives as long as the process */
    const char *allow;    /* Allow header for 405 */
    char set_cookie[128]; /* a Set-Cookie header's value, or "" */
};

/* Steals obj (one reference) and serializes it compactly into the reply. */
void reply_json(struct reply *r, int status, json_t *obj);
void reply_error(struct reply *r, int status, const char *code, const char *message);
void reply_static(struct reply *r, int status, const char *body, size_t len);
void reply_release(struct reply *r);

/* ---- requests and routes (api.c) ---- */

enum shop_group { G_NONE, G_CATALOG, G_AUTH, G_CART, G_ORDERS, G_REPORTS, G_IMPORTS, G_COUNT };

enum shop_method { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_HEAD, M_OPTIONS, M_OTHER, M_COUNT };

/* What the access handler collected about one request before it is answered. */
struct shop_request {
    struct MHD_Connection *conn;
    int route;     /* index into the route table, ROUTE_UNMATCHED if none */
    int method;    /* enum shop_method */
    char id[64];   /* the ":id" path segment, if the route has one */
    int principal; /* from the bearer token or the session cookie, -1 if none or invalid */
    char sid[SESSION_HEX + 1]; /* the session cookie that authenticated it, or "" */
    const char *body;          /* the JSON body (NUL-terminated), or NULL */
    size_t body_len;
    /* multipart upload summary, for POST /api/v1/imports */
    int upload_seen_file;
    int upload_bad;
    char upload_filename[128];
    char upload_import_type[32];
    char upload_notify[16];
    uint64_t upload_bytes;
    uint64_t upload_lines;
};

typedef void (*shop_handler)(struct shop_request *rq, struct reply *out);

struct shop_route {
    const char *pattern;     /* with ":id" for one variable segment */
    int group;               /* enum shop_group, for --latency-ms */
    shop_handler get, post;  /* NULL when the method is not allowed */
    int get_auth, post_auth; /* the method needs a valid bearer token */
    const char *allow;       /* the Allow header for 405 */
    int internal;            /* /__ endpoints: not counted, no delays or injected errors */
    shop_handler del;        /* DELETE, NULL when not allowed */
    int cookie_ok;           /* a session cookie authenticates as a bearer token does */
};

extern const struct shop_route shop_routes[];
extern const int shop_route_count; /* including the unmatched pseudo-route at the end */
#define ROUTE_UNMATCHED (shop_route_count - 1)

/* Finds the route for a path and copies a ":id" segment into id. */
int route_match(const char *path, char *id, size_t id_size);
int method_index(const char *method);
extern const char *const shop_method_names[M_COUNT];

/* The "sid" cookie of a request into sid: 0, or -1 when it has none. */
int session_cookie(struct MHD_Connection *conn, char sid[SESSION_HEX + 1]);
/* POST /api/v1/cart/items that sent product_id as a string, since the last reset (reset: read
 * and set to zero). */
unsigned long long api_string_product_ids(int reset);

/* The /__stats and /__reset handlers live in main.c; api.c only routes to them. */
void stats_handler(struct shop_request *rq, struct reply *out);
void reset_handler(struct shop_request *rq, struct reply *out);

/* ---- catalog (catalog.c): immutable after catalog_init() ---- */

struct product {
    int id;
    const char *name;
    const char *category;
    const char *sku;
    int price_cents;
    int popularity;
    int stock;
};

void catalog_init(void);
/* Any product of the catalog (the guide's and the generated ones), or NULL. */
const struct product *catalog_find(int id);
/* GET /api/v1/catalog?limit=&cursor=: a page of the whole catalog with an absolute "next". */
void catalog_page(struct shop_request *rq, struct reply *out);
/* Pages of GET /api/v1/catalog served, by the offset they start at (for /__stats). */
json_t *catalog_page_stats(void);
void catalog_page_stats_reset(void);
void catalog_products(struct shop_request *rq, struct reply *out);
void catalog_product(struct shop_request *rq, struct reply *out);
void catalog_categories(struct shop_request *rq, struct reply *out);
void catalog_search(struct shop_request *rq, struct reply *out);
void catalog_report_orders(struct shop_request *rq, struct reply *out);
void catalog_report_customers(struct shop_request *rq, struct reply *out);

/* ---- store (store.c) ---- */

#define TOKEN_HEX 32

struct token_pair {
    char access[TOKEN_HEX + 1];
    char refresh[TOKEN_HEX + 1];
    int principal;
};

/* ttl_s: access-token lifetime; refresh tokens live four times as long. */
void store_init(unsigned ttl_s);
unsigned store_token_ttl(void);
/* Returns the principal for a login, -1 for unknown email or wrong password. */
int store_check_login(const char *email, const char *password);
/* Returns the principal of the client, -1 for unknown id or wrong secret. */
int store_check_client(const char *client_id, const char *client_secret);
void store_issue(int principal, struct token_pair *out);
/* Looks up a bearer access token; -1 if unknown or expired. */
int store_auth(const char *token);
/* Exchanges a refresh token for new tokens; 0, or -1 if unknown or expired. The static test
 * token is never used up and stays the refresh token in the answer. */
int store_refresh(const char *refresh, struct token_pair *out);
/* Drops all carts, orders, imports and tokens. */
void store_reset(void);

json_t *store_principal_json(int principal); /* new reference */
int store_principal_is_user(int principal);
const char *store_principal_email(int principal); /* NULL for the client */
/* A cart: the principal's (a bearer token), or a session's when sid is not NULL (each session
 * has a cart of its own). */
json_t *store_cart_json(int principal, const char *sid);
/* Adds quantity of product; returns the cart (new reference), NULL for an unknown session. */
json_t *store_cart_add(int principal, const char *sid, const struct product *p, int quantity);
/* Turns a cart that holds something into an order: 0 and *order (new reference), or 1 when the
 * cart is empty. */
int store_checkout(int principal, const char *sid, json_t **order);

/* Sessions: a login by cookie. out gets the new session id (SESSION_HEX hex characters); -1
 * when SHOP_SESSIONS_MAX sessions are live. */
int store_session_create(int principal, char out[SESSION_HEX + 1]);
/* The principal of a live session id, or -1; use marks it used by a cart or order request. */
int store_session_auth(const char *sid, int use);
/* Ends a session: 0, or -1 when it is not live. */
int store_session_delete(const char *sid);
/* {created, deleted, live, used}: used counts sessions that made a cart or order request. */
json_t *store_session_stats(void);
void store_session_stats_reset(void);
/* Turns the cart into an order (an empty cart gives an empty order); new reference. */
json_t *store_order_create(int principal, const char *shipping, const char *payment,
                           const char *notes);
/* The principal's last orders, newest first, as malloc'd JSON text {items, limit, total}. */
char *store_orders_text(int principal, int limit, size_t *len);
json_t *store_import_create(int principal, const char *filename, const char *import_type,
                            int notify, uint64_t rows, uint64_t bytes);
/* NULL if the principal has no import with that id. */
json_t *store_import_json(int principal, const char *id);
/* status may be NULL for any; returns NULL for an unknown status name. */
json_t *store_imports_json(int principal, const char *status, int limit);
int store_import_status_valid(const char *status);

#endif
