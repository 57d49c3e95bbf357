/*
 * catalog.c - products, categories, search and the generated reports.
 *
 * Everything here is built once by catalog_init() before the daemon starts and only read
 * afterwards, so the hot read paths take no lock: benchmarks should measure the engine, not
 * the shop. Products are rendered to JSON once; list answers are concatenations of those.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "shop.h"

static const struct product products[] = {
    {101, "Wireless Mouse", "Peripherals", "PER-WM-101", 2999, 980, 420},
    {102, "Mechanical Keyboard", "Peripherals", "PER-MK-102", 8999, 870, 160},
    {103, "USB-C Hub 7-in-1", "Accessories", "ACC-UH-103", 3999, 760, 310},
    {104, "Monitor Arm Dual", "Office", "OFF-MA-104", 11900, 540, 75},
    {105, "Noise-Cancelling Headphones", "Audio", "AUD-NC-105", 19900, 910, 58},
    {201, "Ergonomic Wireless Mouse", "Peripherals", "PER-EW-201", 4999, 650, 240},
    {202, "Wireless Mechanical Keyboard TKL", "Peripherals", "PER-WK-202", 12900, 720, 95},
    {203, "27-inch 4K Monitor", "Displays", "DIS-4K-203", 32900, 830, 40},
    {204, "Laptop Stand Aluminium", "Office", "OFF-LS-204", 3499, 590, 380},
};
#define N_PRODUCTS (sizeof products / sizeof products[0])

enum { SORT_POPULARITY_DESC, SORT_PRICE_ASC, SORT_PRICE_DESC, SORT_NAME_ASC, SORT_COUNT };
static const char *const sort_names[SORT_COUNT] = {"popularity_desc", "price_asc", "price_desc",
                                                   "name_asc"};

static char *product_json[N_PRODUCTS];
static size_t product_json_len[N_PRODUCTS];
static int sorted[SORT_COUNT][N_PRODUCTS];
#define DEFAULT_LIMIT 20
static char *first_page_json[SORT_COUNT];
static size_t first_page_json_len[SORT_COUNT];
static char *categories_json;
static size_t categories_json_len;

static int cmp_sort; /* only used by qsort during catalog_init, before any thread starts */

static int compare(const void *a, const void *b)
{
    const struct product *x = &products[*(const int *)a], *y = &products[*(const int *)b];
    int r = 0;
    switch (cmp_sort) {
    case SORT_POPULARITY_DESC:
        r = y->popularity - x->popularity;
        break;
    case SORT_PRICE_ASC:
        r = x->price_cents - y->price_cents;
        break;
    case SORT_PRICE_DESC:
        r = y->price_cents - x->price_cents;
        break;
    case SORT_NAME_ASC:
        r = strcasecmp(x->name, y->name);
        break;
    }
    return r ? r : x->id - y->id;
}

static void slug(const char *name, char *out, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; name[i] && j + 1 < size; i++) {
        char c = name[i];
        out[j++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (c == ' ' ? '-' : c);
    }
    out[j] = '\0';
}

static void render_products(struct sbuf *b, int s, long page, long limit, const char *category);
static void catalog_build(void);

void catalog_init(void)
{
    catalog_build();
    for (size_t i = 0; i < N_PRODUCTS; i++) {
        const struct product *p = &products[i];
        struct sbuf b = {0};
        char cat[64];
        slug(p->category, cat, sizeof cat);
        sb_addf(&b, "{\"id\":%d,\"name\":", p->id);
        sb_add_json_str(&b, p->name);
        sb_adds(&b, ",\"sku\":");
        sb_add_json_str(&b, p->sku);
        sb_adds(&b, ",\"category\":");
        sb_add_json_str(&b, p->category);
        sb_addf(&b,
                ",\"category_id\":\"%s\",\"price\":%d.%02d,\"currency\":\"USD\","
                "\"popularity\":%d,\"stock\":%d,\"in_stock\":%s}",
                cat, p->price_cents / 100, p->price_cents % 100, p->popularity, p->stock,
                p->stock > 0 ? "true" : "false");
        product_json[i] = sb_take(&b, &product_json_len[i]);
    }
    for (int s = 0; s < SORT_COUNT; s++) {
        for (size_t i = 0; i < N_PRODUCTS; i++)
            sorted[s][i] = (int)i;
        cmp_sort = s;
        qsort(sorted[s], N_PRODUCTS, sizeof(int), compare);
        struct sbuf fp = {0};
        render_products(&fp, s, 1, DEFAULT_LIMIT, NULL);
        first_page_json[s] = sb_take(&fp, &first_page_json_len[s]);
    }

    struct sbuf b = {0};
    sb_adds(&b, "{\"items\":[");
    int n = 0;
    for (size_t i = 0; i < N_PRODUCTS; i++) {
        size_t j;
        for (j = 0; j < i; j++)
            if (strcmp(products[j].category, products[i].category) == 0)
                break;
        if (j < i)
            continue; /* already listed */
        int count = 0;
        for (size_t k = 0; k < N_PRODUCTS; k++)
            count += strcmp(products[k].category, products[i].category) == 0;
        char cat[64];
        slug(products[i].category, cat, sizeof cat);
        sb_addf(&b, "%s{\"id\":\"%s\",\"name\":", n++ ? "," : "", cat);
        sb_add_json_str(&b, products[i].category);
        sb_addf(&b, ",\"product_count\":%d}", count);
    }
    sb_addf(&b, "],\"total\":%d}", n);
    categories_json = sb_take(&b, &categories_json_len);
}

/* The guide's products only: /api/v1/products and /api/v1/products/{id} serve these. */
static const struct product *guide_find(int id)
{
    for (size_t i = 0; i < N_PRODUCTS; i++)
        if (products[i].id == id)
            return &products[i];
    return NULL;
}

/* ---- the catalog: the guide's products and generated ones, paged with cursors ----
 *
 * GET /api/v1/catalog serves SHOP_CATALOG_SIZE products: the guide's nine, then generated ones
 * (ids from 301), by id. Some have no stock, so a journey has something to choose around. Each
 * page names the next one by an absolute URL built from the request's Host header, the way
 * APIs that page by links do; a client has to follow it as written. */

static struct product catalog[SHOP_CATALOG_SIZE];
static char catalog_names[SHOP_CATALOG_SIZE][48];
static atomic_ullong page_hits[SHOP_CATALOG_SIZE];

static void catalog_build(void)
{
    static const char *const adj[] = {"Compact", "Deluxe", "Portable", "Silent", "Smart",
                                      "Rugged",  "Slim",   "Wireless", "Studio", "Travel"};
    static const char *const noun[] = {"Charger", "Webcam", "Speaker", "Lamp", "Cable",
                                       "Stand",   "Dock",   "Mat",     "Pen",  "Sleeve"};
    size_t n = 0;
    for (size_t i = 0; i < N_PRODUCTS; i++)
        catalog[n++] = products[i];
    for (int k = 0; n < SHOP_CATALOG_SIZE; k++, n++) {
        struct product *p = &catalog[n];
        uint64_t h = mix64((uint64_t)k, 7);
        snprintf(catalog_names[n], sizeof catalog_names[n], "%s %s %d", adj[k % 10],
                 noun[(k / 10) % 10], 301 + k);
        p->id = 301 + k;
        p->name = catalog_names[n];
        p->category = "Accessories";
        p->sku = "GEN";
        p->price_cents = 499 + (int)(h % 19500);
        p->popularity = (int)(h % 1000);
        /* One generated product in seven is out of stock. */
        p->stock = k % 7 == 3 ? 0 : 5 + (int)((h >> 20) % 300);
    }
}

const struct product *catalog_find(int id)
{
    for (size_t i = 0; i < SHOP_CATALOG_SIZE; i++)
        if (catalog[i].id == id)
            return &catalog[i];
    return NULL;
}

/* A cursor is the offset of the page's first product, written so that nobody mistakes it for a
 * page number: "c" and the offset in hex. */
static int parse_cursor(const char *s, long *off)
{
    if (!s || s[0] != 'c' || !s[1] || strlen(s) > 9)
        return -1;
    char *end;
    long v = strtol(s + 1, &end, 16);
    if (*end || v < 0 || v >= SHOP_CATALOG_SIZE)
        return -1;
    *off = v;
    return 0;
}

/* The host of the request, as the client wrote it, when it is a plausible host[:port]. */
static const char *request_host(struct shop_request *rq)
{
    const char *h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!h || !*h || strlen(h) > 255)
        return NULL;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(".-:[]_", *p)))
            return NULL;
    return h;
}

void catalog_page(struct shop_request *rq, struct reply *out)
{
    long limit, off = 0;
    if (query_long(rq, "limit", 1, 100, SHOP_CATALOG_PAGE, &limit) < 0) {
        reply_error(out, 400, "invalid_parameter", "limit must be an integer in 1..100");
        return;
    }
    const char *cursor = query_arg(rq, "cursor");
    if (cursor && parse_cursor(cursor, &off) < 0) {
        reply_error(out, 400, "invalid_cursor", "cursor must be one that a page's \"next\" gave");
        return;
    }
    const char *host = request_host(rq);
    if (!host) {
        reply_error(out, 400, "invalid_host", "the request needs a Host header");
        return;
    }
    atomic_fetch_add_explicit(&page_hits[off], 1, memory_order_relaxed);
    struct sbuf b = {0};
    sb_adds(&b, "{\"items\":[");
    long end = off + limit < SHOP_CATALOG_SIZE ? off + limit : SHOP_CATALOG_SIZE;
    for (long i = off; i < end; i++) {
        const struct product *p = &catalog[i];
        sb_addf(&b, "%s{\"id\":%d,\"name\":", i > off ? "," : "", p->id);
        sb_add_json_str(&b, p->name);
        sb_addf(&b, ",\"price\":%d.%02d,\"stock\":%d}", p->price_cents / 100, p->price_cents % 100,
                p->stock);
    }
    if (end < SHOP_CATALOG_SIZE)
        sb_addf(&b, "],\"next\":\"http://%s/api/v1/catalog?limit=%ld&cursor=c%lx\"}", host, limit,
                end);
    else
        sb_adds(&b, "],\"next\":null}");
    out->status = 200;
    out->body = sb_take(&b, &out->len);
}

json_t *catalog_page_stats(void)
{
    json_t *o = json_object();
    for (long i = 0; i < SHOP_CATALOG_SIZE; i++) {
        unsigned long long n = atomic_load_explicit(&page_hits[i], memory_order_relaxed);
        if (!n)
            continue;
        char key[16];
        snprintf(key, sizeof key, "%ld", i);
        json_object_set_new(o, key, json_integer((json_int_t)n)); /* steals */
    }
    return o;
}

void catalog_page_stats_reset(void)
{
    for (size_t i = 0; i < SHOP_CATALOG_SIZE; i++)
        atomic_store_explicit(&page_hits[i], 0, memory_order_relaxed);
}

static void render_products(struct sbuf *b, int s, long page, long limit, const char *category)
{
    sb_adds(b, "{\"items\":[");
    long matched = 0, shown = 0, first = (page - 1) * limit;
    for (size_t i = 0; i < N_PRODUCTS; i++) {
        int k = sorted[s][i];
        if (category && strcasecmp(products[k].category, category) != 0)
            continue;
        if (matched >= first && shown < limit) {
            if (shown++)
                sb_add(b, ",", 1);
            sb_add(b, product_json[k], product_json_len[k]);
        }
        matched++;
    }
    sb_addf(b, "],\"page\":%ld,\"limit\":%ld,\"total\":%ld,\"sort\":\"%s\"}", page, limit, matched,
            sort_names[s]);
}

void catalog_products(struct shop_request *rq, struct reply *out)
{
    long page, limit;
    if (query_long(rq, "page", 1, 1000000, 1, &page) < 0) {
        reply_error(out, 400, "invalid_parameter", "page must be an integer >= 1");
        return;
    }
    if (query_long(rq, "limit", 1, 100, 20, &limit) < 0) {
        reply_error(out, 400, "invalid_parameter", "limit must be an integer in 1..100");
        return;
    }
    const char *sort = query_arg(rq, "sort");
    int s = SORT_POPULARITY_DESC;
    if (sort) {
        for (s = 0; s < SORT_COUNT; s++)
            if (strcmp(sort, sort_names[s]) == 0)
                break;
        if (s == SORT_COUNT) {
            reply_error(out, 400, "invalid_parameter",
                        "sort must be one of popularity_desc, price_asc, price_desc, name_asc");
            return;
        }
    }
    const char *category = query_arg(rq, "category");
    if (page == 1 && limit == DEFAULT_LIMIT && !category) {
        /* The first page at the default size is most of the guide's browsing traffic. */
        reply_static(out, 200, first_page_json[s], first_page_json_len[s]);
        return;
    }
    struct sbuf b = {0};
    render_products(&b, s, page, limit, category);
    out->status = 200;
    out->body = sb_take(&b, &out->len);
}

void catalog_product(struct shop_request *rq, struct reply *out)
{
    long id;
    const struct product *p = NULL;
    if (parse_long(rq->id, 1, 1000000000, &id) == 0)
        p = guide_find((int)id);
    if (!p) {
        reply_error(out, 404, "not_found", "no product with this id");
        return;
    }
    size_t i = (size_t)(p - products);
    reply_static(out, 200, product_json[i], product_json_len[i]);
}

void catalog_categories(struct shop_request *rq, struct reply *out)
{
    (void)rq;
    reply_static(out, 200, categories_json, categories_json_len);
}

/* A product matches when every word of the query occurs in its name or category, ignoring
 * case, so "wireless mouse" finds both "Wireless Mouse" and "Ergonomic Wireless Mouse". */
static int search_matches(const struct product *p, char *const *words, int nwords)
{
    for (int w = 0; w < nwords; w++)
        if (!ci_strstr(p->name, words[w]) && !ci_strstr(p->category, words[w]))
            return 0;
    return 1;
}

void catalog_search(struct shop_request *rq, struct reply *out)
{
    const char *q = query_arg(rq, "q");
    long limit;
    if (query_long(rq, "limit", 1, 100, 20, &limit) < 0) {
        reply_error(out, 400, "invalid_parameter", "limit must be an integer in 1..100");
        return;
    }
    char buf[256];
    char *words[16];
    int nwords = 0;
    if (q && strlen(q) < sizeof buf) {
        memcpy(buf, q, strlen(q) + 1);
        char *save = NULL;
        for (char *w = strtok_r(buf, " \t", &save); w && nwords < 16;
             w = strtok_r(NULL, " \t", &save))
            words[nwords++] = w;
    }
    if (!q || nwords == 0) {
        reply_error(out, 400, "invalid_parameter",
                    "q is required: 1 to 255 characters, not only spaces");
        return;
    }
    struct sbuf b = {0};
    sb_adds(&b, "{\"query\":");
    sb_add_json_str(&b, q);
    sb_adds(&b, ",\"items\":[");
    long matched = 0, shown = 0;
    for (size_t i = 0; i < N_PRODUCTS; i++) {
        int k = sorted[SORT_POPULARITY_DESC][i];
        if (!search_matches(&products[k], words, nwords))
            continue;
        if (shown < limit) {
            if (shown++)
                sb_add(&b, ",", 1);
            sb_add(&b, product_json[k], product_json_len[k]);
        }
        matched++;
    }
    sb_addf(&b, "],\"limit\":%ld,\"total\":%ld}", limit, matched);
    out->status = 200;
    out->body = sb_take(&b, &out->len);
}

/* ---- generated reports ----
 *
 * Orders are a pure function of the day: 20..40 orders a day, statuses following a fixed
 * ten-slot pattern rotated per day. Counting the rows of one status for a day is then O(1),
 * so a report over a long range and a deep page costs little, yet every row is reproducible
 * (the same URL always gives the same answer, whatever the load). */

#define REPORT_MAX_DAYS 3660
enum { ST_COMPLETED, ST_PENDING, ST_PROCESSING, ST_CANCELLED, ST_REFUNDED, ST_COUNT };
static const char *const status_names[ST_COUNT] = {"completed", "pending", "processing",
                                                   "cancelled", "refunded"};
static const int pattern[10] = {ST_COMPLETED, ST_COMPLETED,  ST_PENDING,   ST_COMPLETED,
                                ST_COMPLETED, ST_PROCESSING, ST_COMPLETED, ST_CANCELLED,
                                ST_COMPLETED, ST_REFUNDED};

static int day_orders(int64_t day)
{
    return 20 + (int)(mix64((uint64_t)day, 1) % 21);
}

static int day_offset(int64_t day)
{
    return (int)(mix64((uint64_t)day, 2) % 10);
}

static int order_status(int64_t day, int k)
{
    return pattern[(k + day_offset(day)) % 10];
}

/* Orders of day with status st (-1 for any). */
static int day_count(int64_t day, int st)
{
    int n = day_orders(day);
    if (st < 0)
        return n;
    int count = 0, off = day_offset(day);
    for (int j = 0; j < 10; j++)
        if (pattern[(j + off) % 10] == st)
            count += n / 10 + (j < n % 10);
    return count;
}

static void add_order_row(struct sbuf *b, int64_t day, int k, int n, int first)
{
    int y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    uint64_t h = mix64((uint64_t)day * 64 + (uint64_t)k, 3);
    unsigned slot = 86400u / (unsigned)n;
    unsigned secs = (unsigned)k * slot + (unsigned)(h % slot);
    unsigned cents = 1500 + (unsigned)(h >> 20) % 50000;
    sb_addf(b,
            "%s{\"order_id\":\"ord_%04d%02u%02u_%04d\",\"created_at\":\"%04d-%02u-%02uT%02u:%02u:"
            "%02uZ\",\"customer_id\":\"cus_%05u\",\"status\":\"%s\",\"items\":%u,"
            "\"total\":%u.%02u,\"currency\":\"USD\"}",
            first ? "" : ",", y, m, d, k + 1, y, m, d, secs / 3600, secs / 60 % 60, secs % 60,
            (unsigned)(h >> 40) % 50000, status_names[order_status(day, k)],
            1 + (unsigned)(h >> 8) % 5, cents / 100, cents % 100);
}

static int64_t today(void)
{
    return (int64_t)(wall_ns() / 1000000000u / 86400u);
}

void catalog_report_orders(struct shop_request *rq, struct reply *out)
{
    const char *s_start = query_arg(rq, "start_date"), *s_end = query_arg(rq, "end_date");
    int64_t start, end = today();
    if (s_end && parse_date(s_end, &end) < 0) {
        reply_error(out, 400, "invalid_parameter", "end_date must be a valid YYYY-MM-DD date");
        return;
    }
    start = end - 30;
    if (s_start && parse_date(s_start, &start) < 0) {
        reply_error(out, 400, "invalid_parameter", "start_date must be a valid YYYY-MM-DD date");
        return;
    }
    if (start > end) {
        reply_error(out, 400, "invalid_parameter", "start_date is after end_date");
        return;
    }
    if (end - start >= REPORT_MAX_DAYS) {
        reply_error(out, 400, "invalid_parameter", "the date range may span at most 3660 days");
        return;
    }
    const char *status = query_arg(rq, "status");
    int st = -1;
    if (status && *status && strcmp(status, "all") != 0) {
        for (st = 0; st < ST_COUNT; st++)
            if (strcmp(status, status_names[st]) == 0)
                break;
        if (st == ST_COUNT) {
            reply_error(out, 400, "invalid_parameter",
                        "status must be one of completed, pending, processing, cancelled, "
                        "refunded, all");
            return;
        }
    }
    long page, page_size;
    if (query_long(rq, "page", 1, 1000000, 1, &page) < 0) {
        reply_error(out, 400, "invalid_parameter", "page must be an integer >= 1");
        return;
    }
    if (query_long(rq, "page_size", 1, 200, 50, &page_size) < 0) {
        reply_error(out, 400, "invalid_parameter", "page_size must be an integer in 1..200");
        return;
    }

    long total = 0;
    for (int64_t d = start; d <= end; d++)
        total += day_count(d, st);

    /* Newest first: walk back from end_date, skipping whole days until the page starts. */
    struct sbuf b = {0};
    sb_adds(&b, "{\"rows\":[");
    long skip = (page - 1) * page_size, shown = 0;
    for (int64_t d = end; d >= start && shown < page_size; d--) {
        int c = day_count(d, st);
        if (skip >= c) {
            skip -= c;
            continue;
        }
        int n = day_orders(d);
        for (int k = n - 1; k >= 0 && shown < page_size; k--) {
            if (st >= 0 && order_status(d, k) != st)
                continue;
            if (skip > 0) {
                skip--;
                continue;
            }
            add_order_row(&b, d, k, n, shown++ == 0);
        }
    }
    int y1, y2;
    unsigned m1, d1, m2, d2;
    civil_from_days(start, &y1, &m1, &d1);
    civil_from_days(end, &y2, &m2, &d2);
    sb_addf(&b,
            "],\"start_date\":\"%04d-%02u-%02u\",\"end_date\":\"%04d-%02u-%02u\",\"status\":\"%s\","
            "\"page\":%ld,\"page_size\":%ld,\"total\":%ld,\"total_pages\":%ld}",
            y1, m1, d1, y2, m2, d2, st < 0 ? "all" : status_names[st], page, page_size, total,
            (total + page_size - 1) / page_size);
    out->status = 200;
    out->body = sb_take(&b, &out->len);
}

void catalog_report_customers(struct shop_request *rq, struct reply *out)
{
    static const char *const segments[] = {"all", "enterprise", "smb", "consumer"};
    static const char *const periods[] = {"last_7_days", "last_30_days", "last_90_days",
                                          "last_365_days"};
    static const int period_days[] = {7, 30, 90, 365};
    static const int segment_base[] = {48000, 1200, 9800, 37000};
    const char *segment = query_arg(rq, "segment"), *period = query_arg(rq, "period");
    int si = 0, pi = 1;
    if (segment) {
        for (si = 0; si < 4 && strcmp(segment, segments[si]) != 0; si++)
            ;
        if (si == 4) {
            reply_error(out, 400, "invalid_parameter",
                        "segment must be one of all, enterprise, smb, consumer");
            return;
        }
    }
    if (period) {
        for (pi = 0; pi < 4 && strcmp(period, periods[pi]) != 0; pi++)
            ;
        if (pi == 4) {
            reply_error(out, 400, "invalid_parameter",
                        "period must be one of last_7_days, last_30_days, last_90_days, "
                        "last_365_days");
            return;
        }
    }
    uint64_t h = mix64((uint64_t)si, (uint64_t)pi + 10);
    int total = segment_base[si] + (int)(h % 500);
    int days = period_days[pi];
    int fresh = total * days / 1000 + (int)(h >> 16) % 50;
    int active = total * (55 + (int)(h >> 24) % 30) / 100;
    int churned = total * days / 4000 + (int)(h >> 32) % 20;
    int orders = active * (1 + days / 30) + (int)(h >> 40) % 100;
    int aov_cents = (si == 1   ? 184000
                     : si == 2 ? 42000
                     : si == 3 ? 6800
                               : 12500) +
                    (int)((h >> 48) % 3000);
    long long revenue_cents = (long long)orders * aov_cents;
    struct sbuf b = {0};
    sb_addf(&b,
            "{\"segment\":\"%s\",\"period\":\"%s\",\"customers\":{\"total\":%d,\"new\":%d,"
            "\"active\":%d,\"churned\":%d},\"orders\":%d,\"revenue\":{\"total\":%lld.%02lld,"
            "\"average_order_value\":%d.%02d,\"currency\":\"USD\"},\"retention_rate\":%.3f,"
            "\"top_products\":[",
            segments[si], periods[pi], total, fresh, active, churned, orders, revenue_cents / 100,
            revenue_cents % 100, aov_cents / 100, aov_cents % 100,
            1.0 - (double)churned / (double)total);
    for (int i = 0; i < 3; i++) {
        const struct product *p = &products[sorted[SORT_POPULARITY_DESC][(si + i) % N_PRODUCTS]];
        sb_addf(&b, "%s{\"product_id\":%d,\"name\":", i ? "," : "", p->id);
        sb_add_json_str(&b, p->name);
        sb_addf(&b, ",\"units\":%d}", (int)(mix64(h, (uint64_t)i) % 900) + 100);
    }
    sb_adds(&b, "]}");
    out->status = 200;
    out->body = sb_take(&b, &out->len);
}
