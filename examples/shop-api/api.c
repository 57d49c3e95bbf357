/*
 * api.c - the route table and the handlers of the authenticated and state-changing endpoints:
 * auth, users/me, cart, orders and imports. Catalog and report handlers are in catalog.c.
 *
 * A handler gets a request whose body is complete and whose bearer token, when the route
 * needs one, is already checked (rq->principal >= 0). It fills the reply and never blocks
 * for long: delays, stalls and injected errors are applied by main.c around it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shop.h"

const char *const shop_method_names[M_COUNT] = {"GET",    "POST", "PUT",     "PATCH",
                                                "DELETE", "HEAD", "OPTIONS", "OTHER"};

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

static void reply_missing(struct reply *out, const char *fields)
{
    char msg[160];
    snprintf(msg, sizeof msg, "required fields: %s", fields);
    reply_error(out, 400, "missing_field", msg);
}

/* ---- auth ---- */

static void reply_tokens(struct reply *out, const struct token_pair *tp, int with_user)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:i}", "access_token", tp->access, "refresh_token", tp->refresh,
                  "token_type", "Bearer", "expires_in", (int)store_token_ttl());
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

/* How many POST /api/v1/cart/items sent a product_id that is a string (for /__stats): a client
 * that keeps values' types never does. */
static atomic_ullong string_product_ids;

unsigned long long api_string_product_ids(int reset)
{
    return reset ? atomic_exchange(&string_product_ids, 0) : atomic_load(&string_product_ids);
}

static const char *cart_sid(struct shop_request *rq)
{
    return rq->sid[0] ? rq->sid : NULL;
}

static void reply_session_gone(struct reply *out)
{
    reply_error(out, 401, "unauthorized", "the session has ended");
}

static void cart_get(struct shop_request *rq, struct reply *out)
{
    json_t *cart = store_cart_json(rq->principal, cart_sid(rq));
    if (!cart) {
        reply_session_gone(out);
        return;
    }
    reply_json(out, 200, cart);
}

/* product_id and quantity must be JSON integers: a string of digits is refused, so a client
 * that turns numbers into text is caught. */
static void cart_add(struct shop_request *rq, struct reply *out)
{
    json_t *body = body_object(rq, out);
    if (!body)
        return;
    json_t *pid = json_object_get(body, "product_id"), *qty = json_object_get(body, "quantity");
    if (json_is_string(pid))
        atomic_fetch_add(&string_product_ids, 1);
    if (!pid) {
        reply_error(out, 400, "missing_field", "product_id is required (a JSON integer)");
        goto out;
    }
    if (!json_is_integer(pid) || json_integer_value(pid) < 1 ||
        json_integer_value(pid) > 1000000000) {
        reply_error(out, 400, "invalid_field", "product_id must be a JSON integer");
        goto out;
    }
    long q = 1;
    if (qty &&
        (!json_is_integer(qty) || json_integer_value(qty) < 1 || json_integer_value(qty) > 99)) {
        reply_error(out, 400, "invalid_field", "quantity must be a JSON integer in 1..99");
        goto out;
    }
    if (qty)
        q = (long)json_integer_value(qty);
    const struct product *p = catalog_find((int)json_integer_value(pid));
    if (!p) {
        reply_error(out, 404, "product_not_found", "no product with this product_id");
        goto out;
    }
    if (p->stock == 0) {
        reply_error(out, 409, "out_of_stock", "this product is out of stock");
        goto out;
    }
    json_t *cart = store_cart_add(rq->principal, cart_sid(rq), p, (int)q);
    if (!cart)
        reply_session_gone(out);
    else
        reply_json(out, 201, cart);
out:
    json_decref(body);
}

/* POST /api/v1/checkout: the cart becomes an order when it holds something. */
static void checkout(struct shop_request *rq, struct reply *out)
{
    json_t *order = NULL;
    int rc = store_checkout(rq->principal, cart_sid(rq), &order);
    if (rc < 0) {
        reply_session_gone(out);
        return;
    }
    if (rc > 0) {
        reply_error(out, 409, "cart_empty", "the cart is empty: add items before checking out");
        return;
    }
    reply_json(out, 201, order);
}

/* ---- sessions ---- */

/* The "sid" cookie of the request, copied into sid; 0, or -1 when there is none. */
int session_cookie(struct MHD_Connection *conn, char sid[SESSION_HEX + 1])
{
    const char *c = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "sid");
    if (!c || strlen(c) != SESSION_HEX)
        return -1;
    memcpy(sid, c, SESSION_HEX + 1);
    return 0;
}

static void session_user(struct reply *out, int status, int principal)
{
    const char *email = store_principal_email(principal);
    reply_json(out, status, json_pack("{s:{s:s}}", "user", "email", email ? email : ""));
}

static void session_create(struct shop_request *rq, struct reply *out)
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
    char sid[SESSION_HEX + 1];
    if (store_session_create(p, sid) < 0) {
        reply_error(out, 503, "too_many_sessions", "too many live sessions");
        goto out;
    }
    session_user(out, 200, p);
    snprintf(out->set_cookie, sizeof out->set_cookie, "sid=%s; Path=/; HttpOnly", sid);
out:
    json_decref(body);
}

static void session_get(struct shop_request *rq, struct reply *out)
{
    char sid[SESSION_HEX + 1];
    int p = session_cookie(rq->conn, sid) == 0 ? store_session_auth(sid, 0) : -1;
    if (p < 0) {
        reply_error(out, 401, "unauthorized", "no live session: log in with POST /api/v1/session");
        return;
    }
    session_user(out, 200, p);
}

static void session_delete(struct shop_request *rq, struct reply *out)
{
    char sid[SESSION_HEX + 1];
    if (session_cookie(rq->conn, sid) != 0 || store_session_delete(sid) != 0) {
        reply_error(out, 401, "unauthorized", "no live session to end");
        return;
    }
    out->status = 204;
    out->body = NULL;
    out->len = 0;
    snprintf(out->set_cookie, sizeof out->set_cookie, "sid=; Path=/; HttpOnly; Max-Age=0");
}

#define FIELD_MAX 64
#define NOTES_MAX 500

static void orders_create(struct shop_request *rq, struct reply *out)
{
    json_t *body = body_object(rq, out);
    if (!body)
        return;
    const char *ship = str_field(body, "shipping_address_id");
    json_t *pay = json_object_get(body, "payment_method_id"),
           *notes = json_object_get(body, "notes");
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
    reply_json(
        out, 201,
        store_order_create(rq->principal, ship, json_string_value(pay), json_string_value(notes)));
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
    static const char *const types[] = {"customers", "products", "orders"};
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
    /* pattern, group, get, post, get_auth, post_auth, allow, internal, delete, cookie_ok */
    {"/api/v1/products", G_CATALOG, catalog_products, NULL, 0, 0, "GET", 0, NULL, 0},
    {"/api/v1/products/:id", G_CATALOG, catalog_product, NULL, 0, 0, "GET", 0, NULL, 0},
    {"/api/v1/categories", G_CATALOG, catalog_categories, NULL, 0, 0, "GET", 0, NULL, 0},
    {"/api/v1/search", G_CATALOG, catalog_search, NULL, 0, 0, "GET", 0, NULL, 0},
    {"/api/v1/catalog", G_CATALOG, catalog_page, NULL, 0, 0, "GET", 0, NULL, 0},
    {"/api/v1/auth/login", G_AUTH, NULL, auth_login, 0, 0, "POST", 0, NULL, 0},
    {"/api/v1/auth/token", G_AUTH, NULL, auth_token, 0, 0, "POST", 0, NULL, 0},
    {"/api/v1/auth/refresh", G_AUTH, NULL, auth_refresh, 0, 0, "POST", 0, NULL, 0},
    {"/api/v1/session", G_AUTH, session_get, session_create, 0, 0, "GET, POST, DELETE", 0,
     session_delete, 0},
    {"/api/v1/users/me", G_AUTH, users_me, NULL, 1, 0, "GET", 0, NULL, 0},
    {"/api/v1/cart", G_CART, cart_get, NULL, 1, 0, "GET", 0, NULL, 1},
    {"/api/v1/cart/items", G_CART, NULL, cart_add, 0, 1, "POST", 0, NULL, 1},
    {"/api/v1/checkout", G_ORDERS, NULL, checkout, 0, 1, "POST", 0, NULL, 1},
    {"/api/v1/orders", G_ORDERS, orders_list, orders_create, 1, 1, "GET, POST", 0, NULL, 1},
    {"/api/v1/reports/orders", G_REPORTS, catalog_report_orders, NULL, 1, 0, "GET", 0, NULL, 0},
    {"/api/v1/reports/customers", G_REPORTS, catalog_report_customers, NULL, 1, 0, "GET", 0, NULL,
     0},
    {"/api/v1/imports", G_IMPORTS, imports_list, imports_create, 1, 1, "GET, POST", 0, NULL, 0},
    {"/api/v1/imports/:id", G_IMPORTS, imports_get, NULL, 1, 0, "GET", 0, NULL, 0},
    {"/__stats", G_NONE, stats_handler, NULL, 0, 0, "GET", 1, NULL, 0},
    {"/__reset", G_NONE, NULL, reset_handler, 0, 0, "POST", 1, NULL, 0},
    /* Paths that match nothing are counted under "<METHOD> *". */
    {"*", G_NONE, NULL, NULL, 0, 0, NULL, 0, NULL, 0},
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
