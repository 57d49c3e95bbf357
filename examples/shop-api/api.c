/*
 * api.c - the route table and the handlers of the authenticated and state-changing endpoints:
 * auth, users/me, cart, orders and imports. Catalog and report handlers are in catalog.c.
 *
 * A handler gets a request whose body is complete and whose bearer token, when the route
 * needs one, is already checked (rq->principal >= 0). It fills the reply and never blocks
 * for long: delays, stalls and injected errors are applied by main.c around it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shop.h"

const char *const shop_method_names[M_COUNT] = { "GET",  "POST", "PUT",     "PATCH",
                                                 "DELETE", "HEAD", "OPTIONS", "OTHER" };

int method_index(const char *method)
{
    for (int i = 0; i < M_OTHER; i++)
        if (strcmp(method, shop_method_names[i]) == 0)
            return i;
    return M_OTHER;
}

const char *query_arg(struct shop_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

int query_long(struct shop_request *rq, const char *name, long min, long max, long def, long *out)
{
    const char *v = query_arg(rq, name);
    if (!v) {
        *out = def;
        return 0;
    }
    return parse_long(v, min, max, out);
}

/* ---- JSON bodies ---- */

/* Jansson's own nesting limit is 2048; request bodies here are flat, so anything deeper than
 * SHOP_JSON_DEPTH_MAX is refused before it is parsed. */
static int json_too_deep(const char *s, size_t n)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > SHOP_JSON_DEPTH_MAX)
                return 1;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

/* Returns the body as a JSON object (new reference), or NULL with a 400 reply. */
static json_t *body_object(struct shop_request *rq, struct reply *out)
{
    if (!rq->body || rq->body_len == 0) {
        reply_error(out, 400, "invalid_body", "a JSON object body is required");
        return NULL;
    }
    if (json_too_deep(rq->body, rq->body_len)) {
        reply_error(out, 400, "invalid_body", "the JSON body is nested too deeply");
        return NULL;
    }
    json_error_t err;
    json_t *o = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!o || !json_is_object(o)) {
        char msg[256];
        if (o)
            snprintf(msg, sizeof msg, "the body must be a JSON object");
        else
            snprintf(msg, sizeof msg, "malformed JSON at line %d, column %d: %s", err.line,
                     err.column, err.text);
        json_decref(o);
        reply_error(out, 400, "invalid_json", msg);
        return NULL;
    }
    return o;
}

/* A non-empty string member of o (borrowed), or NULL. */
static const char *str_field(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* An integer member given as a JSON integer or a string of digits: 0 and the value in *out,
 * 1 when absent, -1 when present but not an integer in [min, max]. */
static int int_field(json_t *o, const char *key, long min, long max, long *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 1;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < min || i > max)
            return -1;
        *out = (long)i;
        return 0;
    }
    if (json_is_string(v))
        return parse_long(json_string_value(v), min, max, out);
    return -1;
}

static void reply_missing(struct reply *out, const char *fields)
{
    char msg[160];
    snprintf(msg, sizeof msg, "required fields: %s", fields);
    reply_error(out, 400, "missing_field", msg);
}

/* ---- auth ---- */

static void reply_tokens(struct reply *out, const struct token_pair *tp, int with_user)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "access_token", tp->access, "refresh_token",
                          tp->refresh, "token_type", "Bearer", "expires_in",
                          (int)store_token_ttl());
    if (with_user)
        json_object_set_new(o, "user", store_principal_json(tp->principal)); /* steals */
    reply_json(out, 200, o);
}

static void auth_login(struct shop_request *rq, struct reply *out)
{
    json_t *body = body_object(rq, out);
    if (!body)
        return;
    const char *email = str_field(body, "email"), *password = str_field(body, "password");
    if (!email || !password) {
        reply_missing(out, "email, password (strings)");
        goto out;
    }
    int p = store_check_login(email, password);
    if (p < 0) {
        reply_error(out, 401, "invalid_credentials", "unknown email or wrong password");
        goto out;
    }
    struct token_pair tp;
    store_issue(p, &tp);
    reply_tokens(out, &tp, 1);
out:
    json_decref(body);
}

static void auth_token(struct shop_request *rq, struct reply *out)
{
    json_t *body = body_object(rq, out);
    if (!body)
        return;
    const char *id = str_field(body, "client_id"), *secret = str_field(body, "client_secret");
    const char *grant = str_field(body, "grant_type");
    if (!id || !secret || !grant) {
        reply_missing(out, "client_id, client_secret, grant_type (strings)");
        goto out;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        reply_error(out, 400, "unsupported_grant_type", "grant_type must be client_credentials");
        goto out;
    }
    int p = store_check_client(id, secret);
    if (p < 0) {
        reply_error(out, 401, "invalid_client", "unknown client_id or wrong client_secret");
        goto out;
    }
    struct token_pair tp;
    store_issue(p, &tp);
    reply_tokens(out, &tp, 0);
out:
    json_decref(body);
}

static void auth_refresh(struct shop_request *rq, struct reply *out)
{
    json_t *body = body_object(rq, out);
    if (!body)
        return;
    const char *rt = str_field(body, "refresh_token");
    if (!rt) {
        reply_missing(out, "refresh_token (string)");
        goto out;
    }
    struct token_pair tp;
    if (store_refresh(rt, &tp) < 0) {
        reply_error(out, 401, "invalid_grant", "unknown, used or expired refresh token");
        goto out;
    }
    reply_tokens(out, &tp, 0);
out:
    json_decref(body);
}

static void users_me(struct shop_request *rq, struct reply *out)
{
    reply_json(out, 200, store_principal_json(rq->principal));
}

/* ---- cart and orders ---- */

static void cart_get(struct shop_request *rq, struct reply *out)
{
    reply_json(out, 200, store_cart_json(rq->principal));
}

static void cart_add(struct shop_request *rq, struct reply *out)
{
    json_t *body = body_object(rq, out);
    if (!body)
        return;
    long pid, qty = 1;
    int r = int_field(body, "product_id", 1, 1000000000, &pid);
    if (r != 0) {
        reply_error(out, 400, r > 0 ? "missing_field" : "invalid_field",
                    "product_id must be an integer (or a string of digits)");
        goto out;
    }
    if (int_field(body, "quantity", 1, 99, &qty) < 0) {
        reply_error(out, 400, "invalid_field", "quantity must be an integer in 1..99");
        goto out;
    }
    const struct product *p = catalog_find((int)pid);
    if (!p) {
        reply_error(out, 404, "product_not_found", "no product with this product_id");
        goto out;
    }
    reply_json(out, 201, store_cart_add(rq->principal, p, (int)qty));
out:
    json_decref(body);
}

#define FIELD_MAX 64
#define NOTES_MAX 500

static void orders_create(struct shop_request *rq, struct reply *out)
{
    json_t *body = body_object(rq, out);
    if (!body)
        return;
    const char *ship = str_field(body, "shipping_address_id");
    json_t *pay = json_object_get(body, "payment_method_id"), *notes = json_object_get(body, "notes");
    if (!ship) {
        reply_missing(out, "shipping_address_id (string)");
        goto out;
    }
    if (strlen(ship) > FIELD_MAX || (pay && !json_is_null(pay) && !json_is_string(pay)) ||
        (pay && json_string_length(pay) > FIELD_MAX) ||
        (notes && !json_is_null(notes) && !json_is_string(notes)) ||
        (notes && json_string_length(notes) > NOTES_MAX)) {
        reply_error(out, 400, "invalid_field",
                    "shipping_address_id and payment_method_id: strings of at most 64 "
                    "characters; notes: a string of at most 500");
        goto out;
    }
    reply_json(out, 201, store_order_create(rq->principal, ship, json_string_value(pay),
                                            json_string_value(notes)));
out:
    json_decref(body);
}

static void orders_list(struct shop_request *rq, struct reply *out)
{
    long limit;
    if (query_long(rq, "limit", 1, 100, 20, &limit) < 0) {
        reply_error(out, 400, "invalid_parameter", "limit must be an integer in 1..100");
        return;
    }
    out->status = 200;
    out->body = store_orders_text(rq->principal, (int)limit, &out->len);
}

/* ---- imports ---- */

static void imports_create(struct shop_request *rq, struct reply *out)
{
    static const char *const types[] = { "customers", "products", "orders" };
    if (rq->upload_bad) {
        reply_error(out, 400, "invalid_body", "malformed multipart/form-data body");
        return;
    }
    if (!rq->upload_seen_file) {
        reply_error(out, 400, "missing_field", "a \"file\" part is required");
        return;
    }
    const char *type = rq->upload_import_type[0] ? rq->upload_import_type : "customers";
    size_t i;
    for (i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i]) == 0)
            break;
    if (i == sizeof types / sizeof types[0]) {
        reply_error(out, 400, "invalid_field",
                    "import_type must be one of customers, products, orders");
        return;
    }
    const char *n = rq->upload_notify;
    int notify = strcasecmp(n, "true") == 0 || strcmp(n, "1") == 0 || strcasecmp(n, "yes") == 0;
    if (n[0] && !notify && strcasecmp(n, "false") != 0 && strcmp(n, "0") != 0 &&
        strcasecmp(n, "no") != 0) {
        reply_error(out, 400, "invalid_field", "notify_on_completion must be true or false");
        return;
    }
    /* The first line of the CSV is its header; the rows are the non-blank lines after it. */
    uint64_t rows = rq->upload_lines ? rq->upload_lines - 1 : 0;
    reply_json(out, 202,
               store_import_create(rq->principal,
                                   rq->upload_filename[0] ? rq->upload_filename : "upload.csv",
                                   type, notify, rows, rq->upload_bytes));
}

static void imports_list(struct shop_request *rq, struct reply *out)
{
    long limit;
    if (query_long(rq, "limit", 1, 100, 20, &limit) < 0) {
        reply_error(out, 400, "invalid_parameter", "limit must be an integer in 1..100");
        return;
    }
    const char *status = query_arg(rq, "status");
    if (status && (!*status || strcmp(status, "all") == 0))
        status = NULL;
    if (status && !store_import_status_valid(status)) {
        reply_error(out, 400, "invalid_parameter",
                    "status must be one of queued, processing, completed, all");
        return;
    }
    reply_json(out, 200, store_imports_json(rq->principal, status, (int)limit));
}

static void imports_get(struct shop_request *rq, struct reply *out)
{
    json_t *imp = store_import_json(rq->principal, rq->id);
    if (!imp) {
        reply_error(out, 404, "not_found", "no import with this id");
        return;
    }
    reply_json(out, 200, imp);
}

/* ---- routes ---- */

const struct shop_route shop_routes[] = {
    { "/api/v1/products", G_CATALOG, catalog_products, NULL, 0, 0, "GET", 0 },
    { "/api/v1/products/:id", G_CATALOG, catalog_product, NULL, 0, 0, "GET", 0 },
    { "/api/v1/categories", G_CATALOG, catalog_categories, NULL, 0, 0, "GET", 0 },
    { "/api/v1/search", G_CATALOG, catalog_search, NULL, 0, 0, "GET", 0 },
    { "/api/v1/auth/login", G_AUTH, NULL, auth_login, 0, 0, "POST", 0 },
    { "/api/v1/auth/token", G_AUTH, NULL, auth_token, 0, 0, "POST", 0 },
    { "/api/v1/auth/refresh", G_AUTH, NULL, auth_refresh, 0, 0, "POST", 0 },
    { "/api/v1/users/me", G_AUTH, users_me, NULL, 1, 0, "GET", 0 },
    { "/api/v1/cart", G_CART, cart_get, NULL, 1, 0, "GET", 0 },
    { "/api/v1/cart/items", G_CART, NULL, cart_add, 0, 1, "POST", 0 },
    { "/api/v1/orders", G_ORDERS, orders_list, orders_create, 1, 1, "GET, POST", 0 },
    { "/api/v1/reports/orders", G_REPORTS, catalog_report_orders, NULL, 1, 0, "GET", 0 },
    { "/api/v1/reports/customers", G_REPORTS, catalog_report_customers, NULL, 1, 0, "GET", 0 },
    { "/api/v1/imports", G_IMPORTS, imports_list, imports_create, 1, 1, "GET, POST", 0 },
    { "/api/v1/imports/:id", G_IMPORTS, imports_get, NULL, 1, 0, "GET", 0 },
    { "/__stats", G_NONE, stats_handler, NULL, 0, 0, "GET", 1 },
    { "/__reset", G_NONE, NULL, reset_handler, 0, 0, "POST", 1 },
    /* Paths that match nothing are counted under "<METHOD> *". */
    { "*", G_NONE, NULL, NULL, 0, 0, NULL, 0 },
};
const int shop_route_count = (int)(sizeof shop_routes / sizeof shop_routes[0]);

/* Compares path with pattern segment by segment; ":id" takes one non-empty segment. A single
 * trailing slash on the path is ignored. */
static int pattern_match(const char *pattern, const char *path, char *id, size_t id_size)
{
    const char *p = pattern, *s = path;
    while (*p) {
        if (p[0] == ':') {
            const char *end = strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == 0 || n >= id_size)
                return 0;
            memcpy(id, s, n);
            id[n] = '\0';
            s += n;
            p += 3; /* ":id" */
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == '\0' || (s[0] == '/' && s[1] == '\0');
}

int route_match(const char *path, char *id, size_t id_size)
{
    for (int i = 0; i < shop_route_count - 1; i++)
        if (pattern_match(shop_routes[i].pattern, path, id, id_size))
            return i;
    id[0] = '\0';
    return ROUTE_UNMATCHED;
}
