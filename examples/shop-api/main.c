/*
 * main.c - the demo shop API: options, the libmicrohttpd daemon, the life of one request,
 * injected latency, stalls and errors, and the /__stats ground truth.
 *
 * Threading model. The daemon runs a pool of --threads threads, each with its own epoll loop
 * (MHD_USE_EPOLL_INTERNAL_THREAD with MHD_OPTION_THREAD_POOL_SIZE): on two cores this answers
 * tens of thousands of keep-alive requests a second, and thousands of idle keep-alive
 * connections cost one small connection structure each, not one thread each.
 *
 * Delays. A pool thread must never sleep, or every connection it serves would wait too.
 * A request whose answer is due later (--latency-ms, --latency-from, or a stall) is answered by its
 * handler right away into a prepared reply, its connection is suspended (MHD_suspend_connection)
 * and put on a deadline heap, and one timer thread resumes it when the deadline comes; the pool
 * thread then queues the prepared reply. Deadlines are absolute CLOCK_MONOTONIC times counted
 * from the request's arrival (the first call of the access handler, once the headers are in),
 * so the delay does not depend on how long the handler took, and the timer thread runs with a
 * 1 ns timer slack so the kernel does not round its wake-ups up by the default 50 us, and
 * with a real-time priority when it may have one. It waits on a condition variable bound to
 * CLOCK_MONOTONIC with an absolute deadline, which sleeps exactly as clock_nanosleep with
 * TIMER_ABSTIME would, but can also be woken when a request with a nearer deadline arrives.
 * Thread-per-connection mode would let handlers simply sleep, but it costs a thread per
 * keep-alive connection and a context switch per request, which the benchmarks would
 * measure instead of the engine.
 *
 * Counting. Every answer is counted when it is queued, before the client can see it, in an
 * atomic counter per (route, method, status): a client that has its answers can read exact
 * counts from /__stats. The /__ endpoints are neither counted nor delayed nor failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "shop.h"

/* ---- configuration ---- */

enum { DIST_NONE, DIST_FIXED, DIST_UNIFORM, DIST_EXP };

#define ROUTES_MAX 32
#define LATENCY_FROM_MAX 32

struct latency {
    int dist;
    double a, b; /* fixed: a; uniform: a..b; exp: mean a (all in ms) */
};

/* --latency-from: latency added for clients whose source address is in a network, so that
 * tests can give one client network more latency than another on a kernel without netem. */
struct latency_from {
    int family;            /* AF_INET or AF_INET6 */
    unsigned char net[16]; /* the network address, host bits cleared */
    unsigned prefix;       /* bits */
    struct latency l;
};

static const char *const group_names[G_COUNT] = {"all",    "catalog", "auth",   "cart",
                                                 "orders", "reports", "imports"};

static struct {
    unsigned port;
    const char *listen;
    unsigned threads;
    struct latency latency[G_COUNT];            /* index G_NONE holds "all" */
    struct latency route_latency[ROUTES_MAX];   /* --latency-route: wins over the groups */
    struct latency_from from[LATENCY_FROM_MAX]; /* --latency-from: added to the above */
    int n_from;
    double error_rate;
    uint64_t stall_every_ns, stall_ns;
    uint64_t seed;
    int have_seed;
    unsigned token_ttl;
    int quiet;
} cfg = {.port = 8090, .listen = "127.0.0.1", .token_ttl = 900};

static uint64_t start_ns; /* stall windows are counted from here */

/* ---- statistics ---- */

#define STATUS_MIN 100
#define STATUS_SPAN 500
static atomic_ullong stats[ROUTES_MAX][M_COUNT][STATUS_SPAN];

static void stats_count(int route, int method, int status)
{
    if (status < STATUS_MIN || status >= STATUS_MIN + STATUS_SPAN)
        status = 500;
    atomic_fetch_add_explicit(&stats[route][method][status - STATUS_MIN], 1, memory_order_relaxed);
}

void stats_handler(struct shop_request *rq, struct reply *out)
{
    (void)rq;
    json_t *endpoints = json_object();
    unsigned long long total = 0;
    for (int r = 0; r < shop_route_count; r++) {
        if (shop_routes[r].internal)
            continue;
        for (int m = 0; m < M_COUNT; m++) {
            json_t *codes = NULL;
            for (int s = 0; s < STATUS_SPAN; s++) {
                unsigned long long n = atomic_load_explicit(&stats[r][m][s], memory_order_relaxed);
                if (!n)
                    continue;
                if (!codes)
                    codes = json_object();
                char code[8];
                snprintf(code, sizeof code, "%d", s + STATUS_MIN);
                json_object_set_new(codes, code, json_integer((json_int_t)n)); /* steals */
                total += n;
            }
            if (codes) {
                char key[96];
                snprintf(key, sizeof key, "%s %s", shop_method_names[m], shop_routes[r].pattern);
                json_object_set_new(endpoints, key, codes); /* steals */
            }
        }
    }
    /* Beyond the answers: sessions, the catalog's pages by their first product, and the
     * number of cart requests whose product_id was a string (a client that lost a type). */
    reply_json(out, 200,
               json_pack("{s:I, s:o, s:o, s:o, s:I}", "total", (json_int_t)total, "endpoints",
                         endpoints, "sessions", store_session_stats(), "catalog_pages",
                         catalog_page_stats(), "string_product_ids",
                         (json_int_t)api_string_product_ids(0)));
}

void reset_handler(struct shop_request *rq, struct reply *out)
{
    const char *state = query_arg(rq, "state");
    int clear_state = state && (strcmp(state, "1") == 0 || strcasecmp(state, "true") == 0);
    for (int r = 0; r < ROUTES_MAX; r++)
        for (int m = 0; m < M_COUNT; m++)
            for (int s = 0; s < STATUS_SPAN; s++)
                atomic_store_explicit(&stats[r][m][s], 0, memory_order_relaxed);
    store_session_stats_reset();
    catalog_page_stats_reset();
    (void)api_string_product_ids(1);
    if (clear_state)
        store_reset();
    reply_json(out, 200, json_pack("{s:b, s:b}", "reset", 1, "state", clear_state));
}

/* ---- delays ---- */

static double draw_ms(const struct latency *l)
{
    double ms = 0;
    switch (l->dist) {
    case DIST_FIXED:
        ms = l->a;
        break;
    case DIST_UNIFORM:
        ms = l->a + rng_unit() * (l->b - l->a);
        break;
    case DIST_EXP:
        ms = -l->a * log(1.0 - rng_unit());
        if (ms > 60000)
            ms = 60000; /* the exponential tail is unbounded; a minute is enough */
        break;
    default:
        return 0;
    }
    return ms;
}

static int prefix_match(const unsigned char *a, const unsigned char *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, full) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == net[full];
}

/* The --latency-from entry for a client address: the longest matching prefix (the first given
 * among equals), as a routing table would pick it; NULL when none matches. An IPv4 client of
 * an IPv6 socket (::ffff:a.b.c.d) is matched as the IPv4 address it is. */
static const struct latency *from_latency(const struct sockaddr *sa)
{
    if (!cfg.n_from || !sa)
        return NULL;
    int family = sa->sa_family;
    const unsigned char *a;
    if (family == AF_INET) {
        a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        a = a6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            a += 12;
        }
    } else {
        return NULL;
    }
    const struct latency_from *best = NULL;
    for (int i = 0; i < cfg.n_from; i++) {
        const struct latency_from *f = &cfg.from[i];
        if (f->family == family && (!best || f->prefix > best->prefix) &&
            prefix_match(a, f->net, f->prefix))
            best = f;
    }
    return best ? &best->l : NULL;
}

/* The delay of one answer: the route's, its group's or "all" (the first set of these), plus the
 * client network's (--latency-from). */
static uint64_t latency_ns(int route, int group, struct MHD_Connection *conn)
{
    const struct latency *l = cfg.route_latency[route].dist ? &cfg.route_latency[route]
                              : cfg.latency[group].dist     ? &cfg.latency[group]
                                                            : &cfg.latency[G_NONE];
    double ms = draw_ms(l);
    if (cfg.n_from) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct latency *from = ci ? from_latency(ci->client_addr) : NULL;
        if (from)
            ms += draw_ms(from);
    }
    return (uint64_t)(ms * 1e6);
}

/* Moves t out of a stall window: windows start every stall_every after start-up and last
 * stall_ns, and an answer due inside one waits for its end. */
static uint64_t stall_adjust(uint64_t t)
{
    if (!cfg.stall_every_ns || t < start_ns)
        return t;
    uint64_t since = t - start_ns;
    uint64_t k = since / cfg.stall_every_ns;
    if (k >= 1 && since - k * cfg.stall_every_ns < cfg.stall_ns)
        return start_ns + k * cfg.stall_every_ns + cfg.stall_ns;
    return t;
}

struct pending {
    uint64_t due;
    struct MHD_Connection *conn;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    struct pending *heap;
    size_t n, cap;
    int stopping;
} timer = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void heap_push(struct pending p)
{
    if (timer.n == timer.cap) {
        timer.cap = timer.cap ? timer.cap * 2 : 256;
        timer.heap = xrealloc(timer.heap, timer.cap * sizeof *timer.heap);
    }
    size_t i = timer.n++;
    while (i > 0 && timer.heap[(i - 1) / 2].due > p.due) {
        timer.heap[i] = timer.heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    timer.heap[i] = p;
}

static struct pending heap_pop(void)
{
    struct pending top = timer.heap[0], last = timer.heap[--timer.n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= timer.n)
            break;
        if (c + 1 < timer.n && timer.heap[c + 1].due < timer.heap[c].due)
            c++;
        if (last.due <= timer.heap[c].due)
            break;
        timer.heap[i] = timer.heap[c];
        i = c;
    }
    if (timer.n)
        timer.heap[i] = last;
    return top;
}

/* Suspends conn until due; returns -1 (and leaves conn running) once shutdown has begun. The
 * timer lock is held across MHD_suspend_connection so that the timer thread cannot resume the
 * connection before it is suspended; the timer thread resumes without holding it, so the two
 * locks are never taken in opposite orders. */
static int delay_until(struct MHD_Connection *conn, uint64_t due)
{
    pthread_mutex_lock(&timer.lock);
    if (timer.stopping) {
        pthread_mutex_unlock(&timer.lock);
        return -1;
    }
    MHD_suspend_connection(conn);
    int earliest = timer.n == 0 || due < timer.heap[0].due;
    heap_push((struct pending){due, conn});
    if (earliest)
        pthread_cond_signal(&timer.cond);
    pthread_mutex_unlock(&timer.lock);
    return 0;
}

static void *timer_main(void *arg)
{
    (void)arg;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    /* On a busy machine a normal thread can wake tens of milliseconds late; a real-time
     * priority (when the process may take one) keeps the deadlines. The thread only waits and
     * resumes connections, short bursts of work even at that priority. Where the process may
     * not take it, the thread simply stays at normal priority. */
    struct sched_param sp = {.sched_priority = 1};
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    pthread_mutex_lock(&timer.lock);
    for (;;) {
        if (timer.n == 0) {
            if (timer.stopping)
                break;
            pthread_cond_wait(&timer.cond, &timer.lock);
            continue;
        }
        uint64_t now = now_ns();
        if (timer.stopping || timer.heap[0].due <= now) {
            struct pending p = heap_pop();
            pthread_mutex_unlock(&timer.lock);
            /* After this call the connection belongs to its pool thread again. */
            MHD_resume_connection(p.conn);
            pthread_mutex_lock(&timer.lock);
            continue;
        }
        struct timespec ts = {(time_t)(timer.heap[0].due / 1000000000u),
                              (long)(timer.heap[0].due % 1000000000u)};
        pthread_cond_timedwait(&timer.cond, &timer.lock, &ts);
    }
    pthread_mutex_unlock(&timer.lock);
    return NULL;
}

/* ---- one request ---- */

struct conn_state {
    struct shop_request rq;
    uint64_t arrival_ns;
    size_t cap;        /* body cap for this route */
    uint64_t received; /* body bytes seen */
    int too_large;
    int unsupported; /* 415: imports without multipart/form-data */
    char *body;
    size_t body_len, body_size;
    struct MHD_PostProcessor *pp;
    int line_open;      /* the current CSV line has content */
    struct reply reply; /* prepared while the connection waits for its deadline */
    int ready;
};

static enum MHD_Result send_reply(struct conn_state *cs, struct reply *r)
{
    struct MHD_Response *resp;
    if (r->body_static) {
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_PERSISTENT);
    } else {
        /* libmicrohttpd takes the malloc'd body and frees it with the response. */
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    }
    if (!resp) {
        reply_release(r);
        return MHD_NO;
    }
    r->body = NULL;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (r->status == 405 && r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->set_cookie[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
    if (!shop_routes[cs->rq.route].internal)
        stats_count(cs->rq.route, cs->rq.method, r->status);
    enum MHD_Result ret = MHD_queue_response(cs->rq.conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int bearer_principal(struct MHD_Connection *conn)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return -1;
    h += 7;
    while (*h == ' ')
        h++;
    char tok[TOKEN_HEX + 2];
    size_t n = strcspn(h, " \t");
    if (n > TOKEN_HEX)
        return -1;
    memcpy(tok, h, n);
    tok[n] = '\0';
    return store_auth(tok);
}

static void dispatch(struct conn_state *cs, struct reply *r)
{
    struct shop_request *rq = &cs->rq;
    const struct shop_route *route = &shop_routes[rq->route];
    if (rq->route == ROUTE_UNMATCHED) {
        reply_error(r, 404, "not_found", "no such endpoint");
        return;
    }
    shop_handler fn = rq->method == M_GET      ? route->get
                      : rq->method == M_POST   ? route->post
                      : rq->method == M_DELETE ? route->del
                                               : NULL;
    int need_auth = rq->method == M_GET ? route->get_auth : route->post_auth;
    if (rq->method == M_DELETE)
        need_auth = 0;
    if (!fn) {
        reply_error(r, 405, "method_not_allowed", "this endpoint does not allow this method");
        r->allow = route->allow;
        return;
    }
    if (need_auth) {
        rq->principal = bearer_principal(rq->conn);
        /* The cart and order routes take a session cookie as well as a bearer token. */
        if (rq->principal < 0 && route->cookie_ok && session_cookie(rq->conn, rq->sid) == 0) {
            rq->principal = store_session_auth(rq->sid, 1);
            if (rq->principal < 0)
                rq->sid[0] = '\0';
        }
        if (rq->principal < 0) {
            reply_error(r, 401, "unauthorized", "a valid, unexpired bearer token is required");
            return;
        }
    }
    if (cs->unsupported) {
        reply_error(r, 415, "unsupported_media_type", "the body must be multipart/form-data");
        return;
    }
    rq->body = cs->body;
    rq->body_len = cs->body_len;
    fn(rq, r);
}

/* Called once the whole request is in (or refused unread, for a body over its cap): answers
 * now or at its deadline. */
static enum MHD_Result finish(struct conn_state *cs)
{
    const struct shop_route *route = &shop_routes[cs->rq.route];
    struct reply r = {0};
    if (cs->pp) {
        if (MHD_destroy_post_processor(cs->pp) == MHD_NO)
            cs->rq.upload_bad = 1;
        cs->pp = NULL;
        if (cs->line_open)
            cs->rq.upload_lines++;
    }
    if (cs->too_large) {
        reply_error(&r, 413, "payload_too_large", "the request body is over the size cap");
    } else if (!route->internal && cfg.error_rate > 0 && rng_unit() < cfg.error_rate) {
        /* An injected failure changes nothing: the handler is not called. */
        reply_error(&r, 500, "injected_error", "injected failure (--error-rate)");
    } else {
        dispatch(cs, &r);
    }
    /* A body refused unread is answered at once: while its connection waited, libmicrohttpd
     * would start reading the very body the answer refuses. */
    if (!route->internal && !(cs->too_large && cs->received == 0)) {
        uint64_t due =
            stall_adjust(cs->arrival_ns + latency_ns(cs->rq.route, route->group, cs->rq.conn));
        uint64_t now = now_ns();
        if (due < now)
            due = stall_adjust(now);
        /* Below 20 us a suspend and resume would cost more than the wait. The reply is
         * parked before the connection is handed to the timer thread. */
        if (due > now + 20000) {
            cs->reply = r;
            cs->ready = 1;
            if (delay_until(cs->rq.conn, due) == 0)
                return MHD_YES;
            cs->ready = 0;
            memset(&cs->reply, 0, sizeof cs->reply);
        }
    }
    return send_reply(cs, &r);
}

static enum MHD_Result upload_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size)
{
    struct conn_state *cs = cls;
    struct shop_request *rq = &cs->rq;
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    char *dst = NULL;
    size_t dst_size = 0;
    if (strcmp(key, "file") == 0) {
        if (!rq->upload_seen_file && filename)
            snprintf(rq->upload_filename, sizeof rq->upload_filename, "%s", filename);
        rq->upload_seen_file = 1;
        rq->upload_bytes += size;
        /* Count non-blank lines as they stream by; the file is never kept. */
        for (size_t i = 0; i < size; i++) {
            char c = data[i];
            if (c == '\n') {
                rq->upload_lines += (uint64_t)cs->line_open;
                cs->line_open = 0;
            } else if (c != '\r' && c != ' ' && c != '\t') {
                cs->line_open = 1;
            }
        }
        return MHD_YES;
    }
    if (strcmp(key, "import_type") == 0) {
        dst = rq->upload_import_type;
        dst_size = sizeof rq->upload_import_type;
    } else if (strcmp(key, "notify_on_completion") == 0) {
        dst = rq->upload_notify;
        dst_size = sizeof rq->upload_notify;
    }
    if (dst) {
        /* Values longer than their buffer are cut; they are then simply invalid values. */
        if (off < dst_size - 1) {
            size_t n = size < dst_size - 1 - (size_t)off ? size : dst_size - 1 - (size_t)off;
            memcpy(dst + off, data, n);
            dst[off + n] = '\0';
        }
    }
    return MHD_YES;
}

static int is_upload(const struct conn_state *cs)
{
    return cs->rq.method == M_POST &&
           strcmp(shop_routes[cs->rq.route].pattern, "/api/v1/imports") == 0;
}

/* First call, headers in: set up the body's cap and parser. Returns 1 when the request was
 * answered already (a declared body over the cap). */
static int begin(struct conn_state *cs, struct MHD_Connection *conn)
{
    cs->cap = SHOP_JSON_BODY_MAX;
    if (is_upload(cs)) {
        cs->cap = SHOP_UPLOAD_BODY_MAX;
        const char *ct =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0)
            cs->pp = MHD_create_post_processor(conn, 16 * 1024, upload_field, cs);
        if (!cs->pp)
            cs->unsupported = 1;
    }
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        /* A declared body over the cap is refused before it is read; libmicrohttpd closes
         * the connection after this answer instead of reading the body. */
        if (!errno && *end == '\0' && n > cs->cap) {
            cs->too_large = 1;
            return 1;
        }
    }
    return 0;
}

static void take_body(struct conn_state *cs, const char *data, size_t size)
{
    cs->received += size;
    if (cs->too_large)
        return;
    if (cs->received > cs->cap) {
        /* A chunked body grew over the cap: keep reading it, answer 413 at its end. */
        cs->too_large = 1;
        free(cs->body);
        cs->body = NULL;
        cs->body_len = 0;
        return;
    }
    if (cs->pp) {
        if (MHD_post_process(cs->pp, data, size) == MHD_NO)
            cs->rq.upload_bad = 1;
        return;
    }
    if (cs->unsupported)
        return;
    if (cs->body_len + size + 1 > cs->body_size) {
        size_t n = cs->body_size ? cs->body_size : 1024;
        while (n < cs->body_len + size + 1)
            n *= 2;
        cs->body = xrealloc(cs->body, n);
        cs->body_size = n;
    }
    memcpy(cs->body + cs->body_len, data, size);
    cs->body_len += size;
    cs->body[cs->body_len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        cs = xcalloc(1, sizeof *cs);
        *con_cls = cs;
        cs->arrival_ns = now_ns();
        cs->rq.conn = conn;
        cs->rq.principal = -1;
        cs->rq.method = method_index(method);
        cs->rq.route = route_match(url, cs->rq.id, sizeof cs->rq.id);
        /* Answers are queued on a later call, never on this first one: libmicrohttpd closes
         * the connection after an answer queued before the request was read to its end,
         * which would turn every keep-alive request into a new connection. Only a declared
         * body over the cap is answered here, precisely so that it is not read. */
        if (begin(cs, conn))
            return finish(cs);
        return MHD_YES;
    }
    if (cs->ready) {
        /* Resumed by the timer thread: the deadline has come. */
        cs->ready = 0;
        return send_reply(cs, &cs->reply);
    }
    if (*upload_data_size) {
        take_body(cs, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return finish(cs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct conn_state *cs = *con_cls;
    if (!cs)
        return;
    if (cs->pp)
        MHD_destroy_post_processor(cs->pp);
    reply_release(&cs->reply);
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fputs("Usage: shop-api [options]\n"
          "The demo e-commerce REST API that Stampede's example tests run against.\n"
          "\n"
          "  --port N              TCP port (default 8090)\n"
          "  --listen ADDR         IPv4 or IPv6 address to bind (default 127.0.0.1)\n"
          "  --threads N           request threads (default: one per core)\n"
          "  --latency-ms SPEC     injected latency, GROUP=DIST, repeatable; GROUP is all,\n"
          "                        catalog, auth, cart, orders, reports or imports; DIST is\n"
          "                        fixed:MS, uniform:MIN-MAX or exp:MEAN (milliseconds);\n"
          "                        a group's own setting wins over all\n"
          "  --latency-route SPEC  injected latency of one route, ROUTE=DIST, repeatable; ROUTE\n"
          "                        as /__stats names it (/api/v1/products/:id); wins over\n"
          "                        --latency-ms\n"
          "  --latency-from SPEC   latency added for clients from a network, CIDR=DIST,\n"
          "                        repeatable (10.77.2.0/24=fixed:20, ::1=uniform:1-3); the\n"
          "                        longest matching prefix applies\n"
          "  --error-rate P        answer a fraction P (0..1) of requests with 500\n"
          "  --stall-every DUR     pause all answers every DUR (e.g. 5s, 500ms, 1m)...\n"
          "  --stall-ms MS         ...for MS milliseconds (both options go together)\n"
          "  --seed N              seed for tokens, latency and errors (default: random)\n"
          "  --token-ttl S         access-token lifetime in seconds (default 900)\n"
          "  --quiet               print nothing on start\n"
          "  --help                this text\n"
          "\n"
          "GET /__stats gives the answers counted per endpoint and status; POST /__reset clears\n"
          "them, and with ?state=1 also carts, orders, imports and tokens.\n",
          f);
}

static void bad_option(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void bad_option(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shop-api: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'shop-api --help'.\n", stderr);
    exit(2);
}

static double parse_double(const char *s, const char *opt, const char *expect)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        bad_option("%s '%s': expected %s", opt, s, expect);
    return v;
}

/* DIST of --latency-ms and --latency-route (opt names the option in messages). */
static struct latency parse_dist(const char *dist, const char *spec, const char *opt)
{
    struct latency l = {0};
    char *end;
#define BAD_LATENCY                                                                                \
    "%s '%s': expected NAME=fixed:MS, NAME=uniform:MIN-MAX or NAME=exp:MEAN with non-negative "    \
    "milliseconds"
    if (strncmp(dist, "fixed:", 6) == 0) {
        l.dist = DIST_FIXED;
        l.a = strtod(dist + 6, &end);
        if (end == dist + 6 || *end)
            bad_option(BAD_LATENCY, opt, spec);
    } else if (strncmp(dist, "uniform:", 8) == 0) {
        l.dist = DIST_UNIFORM;
        l.a = strtod(dist + 8, &end);
        if (end == dist + 8 || *end != '-')
            bad_option(BAD_LATENCY, opt, spec);
        const char *b = end + 1;
        l.b = strtod(b, &end);
        if (end == b || *end || l.b < l.a)
            bad_option(BAD_LATENCY, opt, spec);
    } else if (strncmp(dist, "exp:", 4) == 0) {
        l.dist = DIST_EXP;
        l.a = strtod(dist + 4, &end);
        if (end == dist + 4 || *end)
            bad_option(BAD_LATENCY, opt, spec);
    } else {
        bad_option(BAD_LATENCY, opt, spec);
    }
    if (!isfinite(l.a) || !isfinite(l.b) || l.a < 0 || l.b < 0 || l.a > 600000 || l.b > 600000)
        bad_option(BAD_LATENCY, opt, spec);
    return l;
}

static void parse_latency(const char *spec)
{
    const char *eq = strchr(spec, '=');
    int g = G_NONE;
    const char *dist = spec;
    if (eq) {
        size_t n = (size_t)(eq - spec);
        for (g = 0; g < G_COUNT; g++)
            if (strlen(group_names[g]) == n && strncmp(spec, group_names[g], n) == 0)
                break;
        if (g == G_COUNT)
            bad_option("--latency-ms '%s': the group must be all, catalog, auth, cart, orders, "
                       "reports or imports",
                       spec);
        dist = eq + 1;
    }
    cfg.latency[g] = parse_dist(dist, spec, "--latency-ms");
}

/* ROUTE=DIST: the last '=' splits, so a route is taken as written. */
static void parse_route_latency(const char *spec)
{
    const char *eq = strrchr(spec, '=');
    if (!eq)
        bad_option("--latency-route '%s': expected ROUTE=DIST, e.g. /api/v1/categories=fixed:26",
                   spec);
    size_t n = (size_t)(eq - spec);
    for (int r = 0; r < shop_route_count && r < ROUTES_MAX; r++) {
        if (!shop_routes[r].internal && strlen(shop_routes[r].pattern) == n &&
            strncmp(spec, shop_routes[r].pattern, n) == 0) {
            cfg.route_latency[r] = parse_dist(eq + 1, spec, "--latency-route");
            return;
        }
    }
    bad_option("--latency-route '%s': no route '%.*s' (routes are named as /__stats names them, "
               "e.g. /api/v1/products/:id)",
               spec, (int)n, spec);
}

/* CIDR=DIST: an IPv4 or IPv6 address with an optional /PREFIX (a host without one). */
static void parse_from_latency(const char *spec)
{
    const char *eq = strchr(spec, '=');
    char addr[INET6_ADDRSTRLEN + 8];
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof addr)
        bad_option("--latency-from '%s': expected CIDR=DIST, e.g. 10.77.2.0/24=fixed:20", spec);
    if (cfg.n_from == LATENCY_FROM_MAX)
        bad_option("--latency-from '%s': at most %d networks", spec, LATENCY_FROM_MAX);
    memcpy(addr, spec, (size_t)(eq - spec));
    addr[eq - spec] = '\0';
    struct latency_from f = {0};
    char *slash = strchr(addr, '/');
    if (slash)
        *slash = '\0';
    if (inet_pton(AF_INET, addr, f.net) == 1)
        f.family = AF_INET;
    else if (inet_pton(AF_INET6, addr, f.net) == 1)
        f.family = AF_INET6;
    else
        bad_option("--latency-from '%s': '%s' is not an IPv4 or IPv6 address", spec, addr);
    unsigned max = f.family == AF_INET ? 32 : 128;
    f.prefix = max;
    if (slash) {
        long v;
        if (parse_long(slash + 1, 0, max, &v) < 0)
            bad_option("--latency-from '%s': the prefix length must be 0..%u", spec, max);
        f.prefix = (unsigned)v;
    }
    /* Host bits are cleared, so 10.77.2.1/24 means the network 10.77.2.0/24. */
    for (unsigned bit = f.prefix; bit < max; bit++)
        f.net[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    f.l = parse_dist(eq + 1, spec, "--latency-from");
    cfg.from[cfg.n_from++] = f;
}

static uint64_t parse_duration_ns(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double scale = 1e9;
    if (end == s || errno || !isfinite(v) || v <= 0)
        bad_option("--stall-every '%s': expected a positive duration such as 5s, 500ms, 1m", s);
    if (strcmp(end, "ms") == 0)
        scale = 1e6;
    else if (strcmp(end, "m") == 0)
        scale = 60e9;
    else if (*end && strcmp(end, "s") != 0)
        bad_option("--stall-every '%s': expected a positive duration such as 5s, 500ms, 1m", s);
    return (uint64_t)(v * scale);
}

static void parse_options(int argc, char **argv)
{
    enum {
        O_PORT = 1,
        O_LISTEN,
        O_THREADS,
        O_LATENCY,
        O_LATENCY_ROUTE,
        O_LATENCY_FROM,
        O_ERROR,
        O_STALL_EVERY,
        O_STALL_MS,
        O_SEED,
        O_TTL,
        O_QUIET,
        O_HELP
    };
    static const struct option opts[] = {
        {"port", required_argument, NULL, O_PORT},
        {"listen", required_argument, NULL, O_LISTEN},
        {"threads", required_argument, NULL, O_THREADS},
        {"latency-ms", required_argument, NULL, O_LATENCY},
        {"latency-route", required_argument, NULL, O_LATENCY_ROUTE},
        {"latency-from", required_argument, NULL, O_LATENCY_FROM},
        {"error-rate", required_argument, NULL, O_ERROR},
        {"stall-every", required_argument, NULL, O_STALL_EVERY},
        {"stall-ms", required_argument, NULL, O_STALL_MS},
        {"seed", required_argument, NULL, O_SEED},
        {"token-ttl", required_argument, NULL, O_TTL},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    double stall_ms = -1;
    long v;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_PORT:
            if (parse_long(optarg, 1, 65535, &v) < 0)
                bad_option("--port '%s': expected a port number 1..65535", optarg);
            cfg.port = (unsigned)v;
            break;
        case O_LISTEN:
            cfg.listen = optarg;
            break;
        case O_THREADS:
            if (parse_long(optarg, 1, 256, &v) < 0)
                bad_option("--threads '%s': expected 1..256", optarg);
            cfg.threads = (unsigned)v;
            break;
        case O_LATENCY:
            parse_latency(optarg);
            break;
        case O_LATENCY_ROUTE:
            parse_route_latency(optarg);
            break;
        case O_LATENCY_FROM:
            parse_from_latency(optarg);
            break;
        case O_ERROR:
            cfg.error_rate = parse_double(optarg, "--error-rate", "a number 0..1");
            if (cfg.error_rate < 0 || cfg.error_rate > 1)
                bad_option("--error-rate '%s': expected a number 0..1", optarg);
            break;
        case O_STALL_EVERY:
            cfg.stall_every_ns = parse_duration_ns(optarg);
            break;
        case O_STALL_MS:
            stall_ms = parse_double(optarg, "--stall-ms", "milliseconds > 0");
            if (stall_ms <= 0)
                bad_option("--stall-ms '%s': expected milliseconds > 0", optarg);
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            cfg.seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end)
                bad_option("--seed '%s': expected a non-negative integer", optarg);
            cfg.have_seed = 1;
            break;
        }
        case O_TTL:
            if (parse_long(optarg, 1, 30L * 86400, &v) < 0)
                bad_option("--token-ttl '%s': expected seconds, 1..2592000", optarg);
            cfg.token_ttl = (unsigned)v;
            break;
        case O_QUIET:
            cfg.quiet = 1;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            bad_option("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        bad_option("unexpected argument '%s'", argv[optind]);
    if ((stall_ms > 0) != (cfg.stall_every_ns > 0))
        bad_option("%s", "--stall-every and --stall-ms go together");
    if (stall_ms > 0) {
        cfg.stall_ns = (uint64_t)(stall_ms * 1e6);
        if (cfg.stall_ns >= cfg.stall_every_ns)
            bad_option("%s", "--stall-ms must be shorter than --stall-every");
    }
    if (!cfg.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.threads = n > 0 && n <= 256 ? (unsigned)n : 2;
    }
}

/* ---- start and stop ---- */

static unsigned raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 1000000 ? 1000000 : (unsigned)rl.rlim_cur;
}

int main(int argc, char **argv)
{
    int rc = 1;
    struct MHD_Daemon *d = NULL;
    pthread_t timer_thread;
    int timer_started = 0;

    parse_options(argc, argv);

    struct sockaddr_storage ss = {0};
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg.listen, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cfg.port);
    } else if (inet_pton(AF_INET6, cfg.listen, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cfg.port);
        flags |= MHD_USE_IPv6;
    } else {
        bad_option("--listen '%s': expected an IPv4 or IPv6 address", cfg.listen);
    }
    if (!cfg.quiet)
        flags |= MHD_USE_ERROR_LOG;

    uint64_t seed = cfg.seed;
    if (!cfg.have_seed && getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = wall_ns() ^ (uint64_t)getpid() << 32;
    rng_seed(seed);
    catalog_init();
    store_init(cfg.token_ttl);
    if (shop_route_count > ROUTES_MAX) {
        fputs("shop-api: too many routes for the statistics table\n", stderr);
        goto out;
    }

    /* Signals are taken by sigwait() in this thread only: every thread started below inherits
     * the blocked mask, so a signal can never interrupt a request thread. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&timer.cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&timer_thread, NULL, timer_main, NULL) != 0) {
        fputs("shop-api: cannot start the timer thread\n", stderr);
        goto out;
    }
    timer_started = 1;

    /* All load comes from one address (loopback), so the per-IP limit is the global one. */
    unsigned fds = raise_fd_limit();
    unsigned limit = fds > 200 ? fds - 100 : fds / 2;
    start_ns = now_ns();
    d = MHD_start_daemon(flags, (uint16_t)cfg.port, NULL, NULL, on_request, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                         cfg.threads, MHD_OPTION_CONNECTION_LIMIT, limit,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT,
                         120u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "shop-api: cannot listen on %s port %u: %s\n", cfg.listen, cfg.port,
                strerror(errno));
        goto out;
    }
    if (!cfg.quiet) {
        printf("shop-api: listening on http://%s%s%s:%u/ with %u threads\n",
               flags & MHD_USE_IPv6 ? "[" : "", cfg.listen, flags & MHD_USE_IPv6 ? "]" : "",
               cfg.port, cfg.threads);
        fflush(stdout);
    }

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    if (!cfg.quiet) {
        printf("shop-api: stopping on signal %d\n", sig);
        fflush(stdout);
    }
    rc = 0;

out:
    if (timer_started) {
        /* Resume every held connection before the daemon stops: libmicrohttpd cannot close
         * suspended connections cleanly. */
        pthread_mutex_lock(&timer.lock);
        timer.stopping = 1;
        pthread_cond_signal(&timer.cond);
        pthread_mutex_unlock(&timer.lock);
        pthread_join(timer_thread, NULL);
    }
    if (d)
        MHD_stop_daemon(d);
    free(timer.heap);
    return rc;
}
