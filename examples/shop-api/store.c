/*
 * store.c - principals (the four test users and the client-credentials client), tokens, and
 * each principal's cart, orders and imports, all in memory.
 *
 * Threads: tokens live in SHARDS hash tables, each behind a read-write lock, so the bearer
 * check on every authenticated request is a read lock on one shard of many. Carts, orders and
 * imports are kept per principal behind that principal's mutex; critical sections only copy
 * or build small values. No Jansson value is ever shared between threads (Jansson values are
 * not thread-safe, not even for reference counting): orders are kept as their JSON text.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "shop.h"

struct principal {
    const char *id;
    const char *email; /* NULL for the client */
    const char *name;
    const char *role;
    const char *secret; /* password or client secret */
};

#define TEST_PASSWORD "TestPass123!"
#define CLIENT_ID "load-test-client"
#define CLIENT_SECRET "super-secret-test-key"
#define STATIC_REFRESH "static-refresh-token-for-test"

static const struct principal principals[] = {
    {"usr_1001", "sarah.chen@example.com", "Sarah Chen", "customer", TEST_PASSWORD},
    {"usr_1002", "marcus.lee@example.com", "Marcus Lee", "customer", TEST_PASSWORD},
    {"usr_1003", "nina.patel@example.com", "Nina Patel", "customer", TEST_PASSWORD},
    {"usr_1004", "ops.user@example.com", "Ops User", "operations", TEST_PASSWORD},
    {CLIENT_ID, NULL, "Load test client", "service", CLIENT_SECRET},
};
#define N_PRINCIPALS ((int)(sizeof principals / sizeof principals[0]))
#define CLIENT_PRINCIPAL (N_PRINCIPALS - 1)

static void sessions_drop_all(void);
static void sessions_init(void);

/* ---- tokens ---- */

enum { KIND_ACCESS, KIND_REFRESH };

struct token {
    uint64_t hi, lo;
    uint64_t expires_ns; /* CLOCK_MONOTONIC */
    int principal;
    int kind;
    struct token *next;
};

#define SHARDS 64
/* Expired tokens are swept from a shard every SWEEP_EVERY insertions into it, so a long
 * benchmark that keeps logging in holds only the tokens of the last TTL. */
#define SWEEP_EVERY 1024

struct shard {
    pthread_rwlock_t lock;
    struct token **buckets;
    size_t nbuckets, count;
    unsigned inserts;
};

static struct shard shards[SHARDS];
static unsigned token_ttl_s;

static int parse_token(const char *s, uint64_t *hi, uint64_t *lo)
{
    uint64_t v[2] = {0, 0};
    for (int i = 0; i < TOKEN_HEX; i++) {
        int c = (unsigned char)s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return -1; /* also the terminating NUL of a short token */
        v[i / 16] = v[i / 16] << 4 | (uint64_t)d;
    }
    if (s[TOKEN_HEX] != '\0')
        return -1;
    *hi = v[0];
    *lo = v[1];
    return 0;
}

static void format_token(uint64_t hi, uint64_t lo, char out[TOKEN_HEX + 1])
{
    snprintf(out, TOKEN_HEX + 1, "%016llx%016llx", (unsigned long long)hi, (unsigned long long)lo);
}

static struct shard *shard_of(uint64_t lo)
{
    return &shards[lo % SHARDS];
}

static size_t bucket_of(const struct shard *sh, uint64_t hi)
{
    return (size_t)(hi & (sh->nbuckets - 1));
}

/* Called with the shard write-locked. */
static void shard_sweep(struct shard *sh, uint64_t now)
{
    for (size_t b = 0; b < sh->nbuckets; b++) {
        struct token **pp = &sh->buckets[b];
        while (*pp) {
            struct token *t = *pp;
            if (t->expires_ns <= now) {
                *pp = t->next;
                free(t);
                sh->count--;
            } else {
                pp = &t->next;
            }
        }
    }
}

/* Called with the shard write-locked. */
static void shard_grow(struct shard *sh)
{
    size_t n = sh->nbuckets * 2;
    struct token **nb = xcalloc(n, sizeof *nb);
    for (size_t b = 0; b < sh->nbuckets; b++) {
        struct token *t = sh->buckets[b];
        while (t) {
            struct token *next = t->next;
            size_t i = (size_t)(t->hi & (n - 1));
            t->next = nb[i];
            nb[i] = t;
            t = next;
        }
    }
    free(sh->buckets);
    sh->buckets = nb;
    sh->nbuckets = n;
}

static void token_insert(int principal, int kind, uint64_t ttl_ns, char out[TOKEN_HEX + 1])
{
    struct token *t = xmalloc(sizeof *t);
    /* 128 random bits: a collision with a live token is not a practical concern. */
    t->hi = rng_next();
    t->lo = rng_next();
    t->principal = principal;
    t->kind = kind;
    uint64_t now = now_ns();
    t->expires_ns = now + ttl_ns;
    struct shard *sh = shard_of(t->lo);
    pthread_rwlock_wrlock(&sh->lock);
    if (++sh->inserts % SWEEP_EVERY == 0)
        shard_sweep(sh, now);
    if (sh->count >= sh->nbuckets * 2)
        shard_grow(sh);
    size_t b = bucket_of(sh, t->hi);
    t->next = sh->buckets[b];
    sh->buckets[b] = t;
    sh->count++;
    pthread_rwlock_unlock(&sh->lock);
    format_token(t->hi, t->lo, out);
}

void store_issue(int principal, struct token_pair *out)
{
    uint64_t ttl = (uint64_t)token_ttl_s * 1000000000u;
    out->principal = principal;
    token_insert(principal, KIND_ACCESS, ttl, out->access);
    token_insert(principal, KIND_REFRESH, ttl * 4, out->refresh);
}

int store_auth(const char *token)
{
    uint64_t hi, lo;
    if (parse_token(token, &hi, &lo) < 0)
        return -1;
    struct shard *sh = shard_of(lo);
    int principal = -1;
    uint64_t now = now_ns();
    pthread_rwlock_rdlock(&sh->lock);
    for (struct token *t = sh->buckets[bucket_of(sh, hi)]; t; t = t->next) {
        if (t->hi == hi && t->lo == lo) {
            if (t->kind == KIND_ACCESS && t->expires_ns > now)
                principal = t->principal;
            break;
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    return principal;
}

int store_refresh(const char *refresh, struct token_pair *out)
{
    uint64_t ttl = (uint64_t)token_ttl_s * 1000000000u;
    if (strcmp(refresh, STATIC_REFRESH) == 0) {
        /* The guide's reporting user sends this literal on every refresh: it stays valid and
         * is answered again as the refresh token, so refreshing does not pile up tokens. */
        out->principal = CLIENT_PRINCIPAL;
        token_insert(CLIENT_PRINCIPAL, KIND_ACCESS, ttl, out->access);
        snprintf(out->refresh, sizeof out->refresh, "%s", STATIC_REFRESH);
        return 0;
    }
    uint64_t hi, lo;
    if (parse_token(refresh, &hi, &lo) < 0)
        return -1;
    struct shard *sh = shard_of(lo);
    int principal = -1;
    uint64_t now = now_ns();
    /* Refresh tokens are used up: the found token is unlinked, and new ones are issued. */
    pthread_rwlock_wrlock(&sh->lock);
    for (struct token **pp = &sh->buckets[bucket_of(sh, hi)]; *pp; pp = &(*pp)->next) {
        struct token *t = *pp;
        if (t->hi == hi && t->lo == lo) {
            if (t->kind == KIND_REFRESH && t->expires_ns > now) {
                principal = t->principal;
                *pp = t->next;
                free(t);
                sh->count--;
            }
            break;
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    if (principal < 0)
        return -1;
    store_issue(principal, out);
    return 0;
}

unsigned store_token_ttl(void)
{
    return token_ttl_s;
}

int store_check_login(const char *email, const char *password)
{
    for (int i = 0; i < N_PRINCIPALS; i++)
        if (principals[i].email && strcasecmp(principals[i].email, email) == 0)
            return strcmp(principals[i].secret, password) == 0 ? i : -1;
    return -1;
}

int store_check_client(const char *client_id, const char *client_secret)
{
    if (strcmp(client_id, CLIENT_ID) == 0 && strcmp(client_secret, CLIENT_SECRET) == 0)
        return CLIENT_PRINCIPAL;
    return -1;
}

const char *store_principal_email(int principal)
{
    return principal >= 0 && principal < N_PRINCIPALS ? principals[principal].email : NULL;
}

int store_principal_is_user(int principal)
{
    return principal >= 0 && principal < N_PRINCIPALS && principals[principal].email != NULL;
}

json_t *store_principal_json(int principal)
{
    const struct principal *p = &principals[principal];
    if (!p->email)
        return json_pack("{s:s, s:s, s:s, s:s}", "id", p->id, "type", "client", "name", p->name,
                         "role", p->role);
    char first[32];
    const char *sp = strchr(p->name, ' ');
    snprintf(first, sizeof first, "%.*s", (int)(sp ? sp - p->name : (long)strlen(p->name)),
             p->name);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", p->id, "type", "user",
                     "email", p->email, "name", p->name, "first_name", first, "last_name",
                     sp ? sp + 1 : "", "role", p->role, "default_shipping_address_id", "addr_7845");
}

/* ---- per-principal state ---- */

#define CART_LINES 16

struct cart_line {
    int product_id;
    int quantity;
};

struct import_rec {
    char id[24];
    uint64_t created_mono;
    uint64_t created_wall;
    char filename[128];
    char import_type[32];
    int notify;
    uint64_t rows, bytes;
};

struct cart {
    struct cart_line line[CART_LINES];
    int n;
};

struct account {
    pthread_mutex_t lock;
    struct cart cart;
    char *orders[SHOP_HISTORY_MAX]; /* ring of orders as compact JSON text, owned */
    size_t norders;                 /* ever made; the ring holds the last SHOP_HISTORY_MAX */
    struct import_rec imports[SHOP_HISTORY_MAX];
    size_t nimports;
};

static struct account accounts[N_PRINCIPALS];
static atomic_ullong next_order = 100000;
static atomic_ullong next_import = 0;

void store_init(unsigned ttl_s)
{
    token_ttl_s = ttl_s;
    for (int i = 0; i < SHARDS; i++) {
        pthread_rwlock_init(&shards[i].lock, NULL);
        shards[i].nbuckets = 64;
        shards[i].buckets = xcalloc(shards[i].nbuckets, sizeof(struct token *));
    }
    for (int i = 0; i < N_PRINCIPALS; i++)
        pthread_mutex_init(&accounts[i].lock, NULL);
    sessions_init();
}

void store_reset(void)
{
    sessions_drop_all();
    for (int i = 0; i < SHARDS; i++) {
        pthread_rwlock_wrlock(&shards[i].lock);
        shard_sweep(&shards[i], UINT64_MAX);
        pthread_rwlock_unlock(&shards[i].lock);
    }
    for (int i = 0; i < N_PRINCIPALS; i++) {
        struct account *a = &accounts[i];
        pthread_mutex_lock(&a->lock);
        a->cart.n = 0;
        for (size_t k = 0; k < SHOP_HISTORY_MAX; k++) {
            free(a->orders[k]);
            a->orders[k] = NULL;
        }
        a->norders = 0;
        a->nimports = 0;
        pthread_mutex_unlock(&a->lock);
    }
}

static json_t *money(long long cents)
{
    return json_real((double)cents / 100.0);
}

/* Called with the cart's lock held; returns a new reference. */
static json_t *cart_json_locked(const struct cart *c)
{
    json_t *items = json_array();
    long long subtotal = 0;
    int count = 0;
    for (int i = 0; i < c->n; i++) {
        const struct product *p = catalog_find(c->line[i].product_id);
        long long line = (long long)p->price_cents * c->line[i].quantity;
        subtotal += line;
        count += c->line[i].quantity;
        /* json_array_append_new steals the new object. */
        json_array_append_new(items,
                              json_pack("{s:i, s:s, s:i, s:o, s:o}", "product_id", p->id, "name",
                                        p->name, "quantity", c->line[i].quantity, "unit_price",
                                        money(p->price_cents), "line_total", money(line)));
    }
    return json_pack("{s:o, s:i, s:o, s:o, s:s}", "items", items, "item_count", count, "subtotal",
                     money(subtotal), "total", money(subtotal), "currency", "USD");
}

/* Quantities of one product add up in one line, capped so a long run cannot overflow. */
#define CART_LINE_MAX 9999

static void cart_add_locked(struct cart *c, const struct product *p, int quantity)
{
    int i;
    for (i = 0; i < c->n; i++)
        if (c->line[i].product_id == p->id)
            break;
    if (i == c->n && c->n < CART_LINES) {
        c->line[i].product_id = p->id;
        c->line[i].quantity = 0;
        c->n++;
    }
    if (i < c->n) {
        c->line[i].quantity += quantity;
        if (c->line[i].quantity > CART_LINE_MAX)
            c->line[i].quantity = CART_LINE_MAX;
    }
}

/* ---- sessions (a login by cookie) ----
 *
 * Sessions live in SHARDS hash tables like tokens, each behind a mutex, since a session's cart
 * changes under it. A session expires --token-ttl seconds after it was last used. */

struct session {
    uint64_t hi, lo;
    int principal;
    int used;
    uint64_t expires_ns;
    struct cart cart;
    struct session *next;
};

struct sshard {
    pthread_mutex_t lock;
    struct session **buckets;
    size_t nbuckets, count;
    unsigned inserts;
};

static struct sshard sshards[SHARDS];
static atomic_ullong sess_created, sess_deleted, sess_used;
static atomic_llong sess_live;

static void sshard_sweep(struct sshard *sh, uint64_t now)
{
    for (size_t b = 0; b < sh->nbuckets; b++) {
        struct session **pp = &sh->buckets[b];
        while (*pp) {
            struct session *x = *pp;
            if (x->expires_ns <= now) {
                *pp = x->next;
                free(x);
                sh->count--;
                atomic_fetch_sub(&sess_live, 1);
            } else {
                pp = &x->next;
            }
        }
    }
}

int store_session_create(int principal, char out[SESSION_HEX + 1])
{
    if (atomic_load(&sess_live) >= SHOP_SESSIONS_MAX)
        return -1;
    struct session *x = xcalloc(1, sizeof *x);
    x->hi = rng_next();
    x->lo = rng_next();
    x->principal = principal;
    uint64_t now = now_ns();
    x->expires_ns = now + (uint64_t)token_ttl_s * 1000000000u;
    struct sshard *sh = &sshards[x->lo % SHARDS];
    pthread_mutex_lock(&sh->lock);
    if (++sh->inserts % SWEEP_EVERY == 0)
        sshard_sweep(sh, now);
    if (sh->count >= sh->nbuckets * 2) {
        size_t n = sh->nbuckets * 2;
        struct session **nb = xcalloc(n, sizeof *nb);
        for (size_t b = 0; b < sh->nbuckets; b++) {
            struct session *t = sh->buckets[b];
            while (t) {
                struct session *next = t->next;
                size_t i = (size_t)(t->hi & (n - 1));
                t->next = nb[i];
                nb[i] = t;
                t = next;
            }
        }
        free(sh->buckets);
        sh->buckets = nb;
        sh->nbuckets = n;
    }
    size_t b = (size_t)(x->hi & (sh->nbuckets - 1));
    x->next = sh->buckets[b];
    sh->buckets[b] = x;
    sh->count++;
    pthread_mutex_unlock(&sh->lock);
    atomic_fetch_add(&sess_created, 1);
    atomic_fetch_add(&sess_live, 1);
    format_token(x->hi, x->lo, out);
    return 0;
}

/* Finds a live session and locks its shard; NULL (nothing locked) when there is none. */
static struct session *session_lock(const char *sid, struct sshard **shp)
{
    uint64_t hi, lo;
    if (!sid || parse_token(sid, &hi, &lo) < 0)
        return NULL;
    struct sshard *sh = &sshards[lo % SHARDS];
    uint64_t now = now_ns();
    pthread_mutex_lock(&sh->lock);
    for (struct session *x = sh->buckets[(size_t)(hi & (sh->nbuckets - 1))]; x; x = x->next) {
        if (x->hi == hi && x->lo == lo) {
            if (x->expires_ns <= now)
                break;
            x->expires_ns = now + (uint64_t)token_ttl_s * 1000000000u;
            *shp = sh;
            return x;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

int store_session_auth(const char *sid, int use)
{
    struct sshard *sh;
    struct session *x = session_lock(sid, &sh);
    if (!x)
        return -1;
    int p = x->principal;
    if (use && !x->used) {
        x->used = 1;
        atomic_fetch_add(&sess_used, 1);
    }
    pthread_mutex_unlock(&sh->lock);
    return p;
}

int store_session_delete(const char *sid)
{
    uint64_t hi, lo;
    if (parse_token(sid, &hi, &lo) < 0)
        return -1;
    struct sshard *sh = &sshards[lo % SHARDS];
    int rc = -1;
    pthread_mutex_lock(&sh->lock);
    for (struct session **pp = &sh->buckets[(size_t)(hi & (sh->nbuckets - 1))]; *pp;
         pp = &(*pp)->next) {
        struct session *x = *pp;
        if (x->hi == hi && x->lo == lo) {
            *pp = x->next;
            free(x);
            sh->count--;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    if (rc == 0) {
        atomic_fetch_add(&sess_deleted, 1);
        atomic_fetch_sub(&sess_live, 1);
    }
    return rc;
}

json_t *store_session_stats(void)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "created", (json_int_t)atomic_load(&sess_created),
                     "deleted", (json_int_t)atomic_load(&sess_deleted), "live",
                     (json_int_t)atomic_load(&sess_live), "used",
                     (json_int_t)atomic_load(&sess_used));
}

void store_session_stats_reset(void)
{
    atomic_store(&sess_created, 0);
    atomic_store(&sess_deleted, 0);
    atomic_store(&sess_used, 0);
}

static void sessions_init(void)
{
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&sshards[i].lock, NULL);
        sshards[i].nbuckets = 64;
        sshards[i].buckets = xcalloc(sshards[i].nbuckets, sizeof(struct session *));
    }
}

static void sessions_drop_all(void)
{
    for (int i = 0; i < SHARDS; i++) {
        struct sshard *sh = &sshards[i];
        pthread_mutex_lock(&sh->lock);
        sshard_sweep(sh, UINT64_MAX);
        pthread_mutex_unlock(&sh->lock);
    }
}

/* ---- carts ---- */

json_t *store_cart_json(int principal, const char *sid)
{
    if (sid) {
        struct sshard *sh;
        struct session *x = session_lock(sid, &sh);
        if (!x)
            return NULL;
        json_t *cart = cart_json_locked(&x->cart);
        pthread_mutex_unlock(&sh->lock);
        return cart;
    }
    struct account *a = &accounts[principal];
    pthread_mutex_lock(&a->lock);
    json_t *cart = cart_json_locked(&a->cart);
    pthread_mutex_unlock(&a->lock);
    return cart;
}

json_t *store_cart_add(int principal, const char *sid, const struct product *p, int quantity)
{
    if (sid) {
        struct sshard *sh;
        struct session *x = session_lock(sid, &sh);
        if (!x)
            return NULL;
        cart_add_locked(&x->cart, p, quantity);
        json_t *cart = cart_json_locked(&x->cart);
        pthread_mutex_unlock(&sh->lock);
        return cart;
    }
    struct account *a = &accounts[principal];
    pthread_mutex_lock(&a->lock);
    cart_add_locked(&a->cart, p, quantity);
    json_t *cart = cart_json_locked(&a->cart);
    pthread_mutex_unlock(&a->lock);
    return cart;
}

static void iso_time(uint64_t wall, char *out, size_t size)
{
    time_t secs = (time_t)(wall / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Keeps an order in the principal's history (as its text: no Jansson value is shared between
 * threads). Called without locks held. */
static void record_order(int principal, const json_t *order)
{
    struct account *a = &accounts[principal];
    /* json_dumps allocates with malloc(); the ring owns the text. */
    char *text = json_dumps(order, JSON_COMPACT | JSON_REAL_PRECISION(12));
    if (!text)
        abort();
    pthread_mutex_lock(&a->lock);
    size_t slot = a->norders % SHOP_HISTORY_MAX;
    free(a->orders[slot]);
    a->orders[slot] = text;
    a->norders++;
    pthread_mutex_unlock(&a->lock);
}

/* An order from a cart's JSON (borrowed); a new reference. */
static json_t *order_from(const json_t *cart, const char *shipping, const char *payment,
                          const char *notes)
{
    char id[32], created[32];
    snprintf(id, sizeof id, "ord_%llu", (unsigned long long)atomic_fetch_add(&next_order, 1) + 1);
    iso_time(wall_ns(), created, sizeof created);
    return json_pack("{s:s, s:s, s:O, s:O, s:i, s:s, s:s?, s:s?, s:s?, s:s}", "order_id", id,
                     "status", "confirmed", "items", json_object_get(cart, "items"), "total",
                     json_object_get(cart, "subtotal"), "item_count",
                     (int)json_integer_value(json_object_get(cart, "item_count")), "currency",
                     "USD", "shipping_address_id", shipping, "payment_method_id", payment, "notes",
                     notes, "created_at", created);
}

json_t *store_order_create(int principal, const char *shipping, const char *payment,
                           const char *notes)
{
    struct account *a = &accounts[principal];
    pthread_mutex_lock(&a->lock);
    json_t *cart = cart_json_locked(&a->cart);
    a->cart.n = 0;
    pthread_mutex_unlock(&a->lock);
    /* An empty cart still makes an order (status "confirmed", no items, total 0): the guide's
     * shopper may check out before anything was added, and its script treats only 200 and 201
     * as success. */
    json_t *order = order_from(cart, shipping, payment, notes);
    json_decref(cart);
    record_order(principal, order);
    return order;
}

int store_checkout(int principal, const char *sid, json_t **order)
{
    json_t *cart;
    *order = NULL;
    if (sid) {
        struct sshard *sh;
        struct session *x = session_lock(sid, &sh);
        if (!x)
            return -1;
        if (x->cart.n == 0) {
            pthread_mutex_unlock(&sh->lock);
            return 1;
        }
        cart = cart_json_locked(&x->cart);
        x->cart.n = 0;
        pthread_mutex_unlock(&sh->lock);
    } else {
        struct account *a = &accounts[principal];
        pthread_mutex_lock(&a->lock);
        if (a->cart.n == 0) {
            pthread_mutex_unlock(&a->lock);
            return 1;
        }
        cart = cart_json_locked(&a->cart);
        a->cart.n = 0;
        pthread_mutex_unlock(&a->lock);
    }
    *order = order_from(cart, NULL, NULL, NULL);
    json_decref(cart);
    record_order(principal, *order);
    return 0;
}

char *store_orders_text(int principal, int limit, size_t *len)
{
    struct account *a = &accounts[principal];
    struct sbuf b = {0};
    sb_adds(&b, "{\"items\":[");
    pthread_mutex_lock(&a->lock);
    size_t kept = a->norders < SHOP_HISTORY_MAX ? a->norders : SHOP_HISTORY_MAX;
    size_t total = a->norders;
    for (size_t i = 0; i < kept && (int)i < limit; i++) {
        if (i)
            sb_add(&b, ",", 1);
        sb_adds(&b, a->orders[(a->norders - 1 - i) % SHOP_HISTORY_MAX]);
    }
    pthread_mutex_unlock(&a->lock);
    sb_addf(&b, "],\"limit\":%d,\"total\":%zu}", limit, total);
    return sb_take(&b, len);
}

/* ---- imports ---- */

/* An import is queued for its first half second, processing until 1.5 s, then completed:
 * long enough for the guide's immediate status check to see "queued", short enough for a test
 * to poll it to completion. */
#define IMPORT_QUEUED_NS 500000000ull
#define IMPORT_DONE_NS 1500000000ull

static const char *import_status(const struct import_rec *r, uint64_t now)
{
    uint64_t age = now - r->created_mono;
    return age < IMPORT_QUEUED_NS ? "queued" : age < IMPORT_DONE_NS ? "processing" : "completed";
}

int store_import_status_valid(const char *status)
{
    return strcmp(status, "queued") == 0 || strcmp(status, "processing") == 0 ||
           strcmp(status, "completed") == 0;
}

static json_t *import_json(const struct import_rec *r, uint64_t now)
{
    const char *status = import_status(r, now);
    uint64_t age = now - r->created_mono;
    uint64_t done = 0;
    if (age >= IMPORT_DONE_NS)
        done = r->rows;
    else if (age > IMPORT_QUEUED_NS)
        done = r->rows * (age - IMPORT_QUEUED_NS) / (IMPORT_DONE_NS - IMPORT_QUEUED_NS);
    char created[32];
    iso_time(r->created_wall, created, sizeof created);
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:s}", "import_id", r->id,
                     "status", status, "import_type", r->import_type, "filename", r->filename,
                     "notify_on_completion", r->notify, "rows", (json_int_t)r->rows,
                     "rows_processed", (json_int_t)done, "rows_failed", (json_int_t)0, "bytes",
                     (json_int_t)r->bytes, "created_at", created);
}

json_t *store_import_create(int principal, const char *filename, const char *import_type,
                            int notify, uint64_t rows, uint64_t bytes)
{
    struct account *a = &accounts[principal];
    struct import_rec r = {0};
    snprintf(r.id, sizeof r.id, "imp_%06llu",
             (unsigned long long)atomic_fetch_add(&next_import, 1) + 1);
    r.created_mono = now_ns();
    r.created_wall = wall_ns();
    snprintf(r.filename, sizeof r.filename, "%s", filename);
    snprintf(r.import_type, sizeof r.import_type, "%s", import_type);
    r.notify = notify;
    r.rows = rows;
    r.bytes = bytes;
    pthread_mutex_lock(&a->lock);
    a->imports[a->nimports % SHOP_HISTORY_MAX] = r;
    a->nimports++;
    pthread_mutex_unlock(&a->lock);
    return import_json(&r, r.created_mono);
}

json_t *store_import_json(int principal, const char *id)
{
    struct account *a = &accounts[principal];
    json_t *found = NULL;
    uint64_t now = now_ns();
    pthread_mutex_lock(&a->lock);
    size_t kept = a->nimports < SHOP_HISTORY_MAX ? a->nimports : SHOP_HISTORY_MAX;
    for (size_t i = 0; i < kept; i++) {
        const struct import_rec *r = &a->imports[(a->nimports - 1 - i) % SHOP_HISTORY_MAX];
        if (strcmp(r->id, id) == 0) {
            found = import_json(r, now);
            break;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return found;
}

json_t *store_imports_json(int principal, const char *status, int limit)
{
    struct account *a = &accounts[principal];
    json_t *items = json_array();
    int total = 0;
    uint64_t now = now_ns();
    pthread_mutex_lock(&a->lock);
    size_t kept = a->nimports < SHOP_HISTORY_MAX ? a->nimports : SHOP_HISTORY_MAX;
    for (size_t i = 0; i < kept; i++) {
        const struct import_rec *r = &a->imports[(a->nimports - 1 - i) % SHOP_HISTORY_MAX];
        if (status && strcmp(import_status(r, now), status) != 0)
            continue;
        if (total++ < limit)
            json_array_append_new(items, import_json(r, now));
    }
    pthread_mutex_unlock(&a->lock);
    return json_pack("{s:o, s:i, s:i, s:s?}", "items", items, "limit", limit, "total", total,
                     "status", status);
}
