/*
 * live.c - the live stream over libwebsockets (see live.h for the contract, docs/live.md for
 * the messages).
 *
 * Data flow: publishers append a msg to live->inbox under live->mu and call lws_cancel_service;
 * the service thread, on LWS_CALLBACK_EVENT_WAIT_CANCELLED, takes the whole inbox and pushes a
 * reference to each msg onto the queue of every connection whose subscription matches, then
 * asks for a writeable callback. A msg is shared by all its queues (refs counts them; only the
 * service thread touches refs once the msg has left the inbox) and freed by the last one.
 * Connections live in a list owned by the service thread; nothing else reads it.
 */
#include "live/live.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

#define LIVE_PROTOCOL "stampede-live-v1"

typedef struct msg {
    struct msg *next; /* inbox link, under live->mu */
    unsigned refs;    /* queues holding it; service thread only */
    int point;        /* a published point: counts toward a client's queue cap */
    int64_t run_id;   /* the run it is about, 0 when none */
    size_t len;
    char data[]; /* len bytes and a NUL */
} msg;

enum sub_kind { SUB_NONE, SUB_RUNS, SUB_RUN };

/* Per-connection state: lws allocates it zeroed (per_session_data_size) and frees it. */
typedef struct conn {
    struct sp_live *live;
    struct lws *wsi;
    struct conn *prev, *next;
    enum sub_kind sub;
    int64_t run_id;
    /* Send queue: q[head .. head+len), sent = bytes of q[head] already written. */
    msg **q;
    size_t q_cap, q_head, q_len;
    size_t q_bytes;     /* bytes of live points (seconds, ends) queued */
    size_t q_all_bytes; /* every queued byte, backlogs and replies included */
    size_t sent;
    unsigned char *scratch; /* LWS_PRE + SP_LIVE_FRAGMENT_BYTES, for lws_write */
    /* Receive side: one client message, assembled from fragments. */
    char rx[SP_LIVE_CLIENT_MSG_MAX];
    size_t rx_len;
    int rx_skip; /* the current message is too large or binary: drop its rest */
    unsigned bad;
    /* Close after the queue has been written (a reply to bad input), or at once (dead). */
    int close_after_flush;
    int dead;
    int close_code;
    char close_reason[64];
} conn;

struct sp_live {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    pthread_t thread;
    int thread_started;
    int port;

    pthread_mutex_t mu; /* guards inbox, n_inbox, stopping, backlog fn */
    msg *inbox, *inbox_tail;
    size_t n_inbox;
    int stopping;
    sp_live_backlog_fn backlog;
    void *backlog_ud;

    /* Options, copied. */
    char **origins;
    size_t n_origins;
    char **hosts;
    size_t n_hosts;
    size_t queue_max_bytes;
    unsigned queue_max_msgs;
    unsigned max_subscribers;
    sp_live_auth_fn auth;
    void *auth_ud;
    int auth_checks_names;

    /* Service thread only. */
    conn *conns;
    unsigned n_conns;
    char hdr[8][SP_LIVE_HEADER_MAX]; /* header copies for the auth hook */

    struct lws_protocols protocols[3];
    lws_sorted_usec_list_t tick; /* wakes the service loop while it is stopping */
    lws_retry_bo_t retry;

    /* Counters: written by the service thread (published: by publishers), read by anyone. */
    atomic_uint st_subscribers;
    atomic_uint_fast64_t st_accepted, st_refused, st_published, st_sent, st_dropped, st_bad;
};

static const char *const default_hosts[] = {"127.0.0.1", "localhost", "[::1]", "::1"};

/* ---- messages ---- */

static msg *msg_new(int64_t run_id, size_t len)
{
    msg *m = sp_malloc(sizeof *m + len + 1);
    m->next = NULL;
    m->refs = 0;
    m->point = 0;
    m->run_id = run_id;
    m->len = len;
    m->data[len] = '\0';
    return m;
}

/* Builds {"type":TYPE,"run_id":N,"data":JSON} (or without run_id when it is 0). */
static msg *msg_wrap(const char *type, int64_t run_id, const char *json, size_t len)
{
    char head[96];
    int hn = run_id > 0
                 ? snprintf(head, sizeof head, "{\"type\":\"%s\",\"run_id\":%lld,\"data\":", type,
                            (long long)run_id)
                 : snprintf(head, sizeof head, "{\"type\":\"%s\",\"data\":", type);
    size_t total = (size_t)hn + len + 1;
    msg *m = msg_new(run_id, total);
    memcpy(m->data, head, (size_t)hn);
    memcpy(m->data + hn, json, len);
    m->data[total - 1] = '}';
    return m;
}

static msg *msg_text(const char *text, size_t len)
{
    msg *m = msg_new(0, len);
    memcpy(m->data, text, len);
    return m;
}

static void msg_unref(msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

/* ---- per-connection queue (service thread) ---- */

static void conn_queue_clear(conn *c)
{
    for (size_t i = 0; i < c->q_len; i++)
        msg_unref(c->q[c->q_head + i]);
    free(c->q);
    c->q = NULL;
    c->q_cap = c->q_head = c->q_len = 0;
    c->q_bytes = c->q_all_bytes = 0;
    c->sent = 0;
}

/*
 * Closes c: its queue goes at once, and the close frame (code, reason) goes out on the next
 * writeable callback. A client that reads nothing never becomes writeable, so a timer closes
 * the socket anyway after grace_s seconds.
 */
static void conn_kill(conn *c, int code, const char *reason, int grace_s)
{
    if (c->dead)
        return;
    c->dead = 1;
    conn_queue_clear(c);
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, grace_s);
    lws_callback_on_writable(c->wsi);
}

/*
 * Queues m on c. Points count toward the queue cap; replies and backlogs are bounded on their
 * own. A client over its cap is dropped: it never holds up anyone.
 */
static void conn_push(conn *c, msg *m)
{
    sp_live *live = c->live;
    if (c->dead || c->close_after_flush)
        return;
    if (c->q_len + 1 > live->queue_max_msgs ||
        (m->point && c->q_bytes + m->len > live->queue_max_bytes) ||
        c->q_all_bytes + m->len > live->queue_max_bytes + SP_LIVE_BACKLOG_MAX_BYTES) {
        atomic_fetch_add(&live->st_dropped, 1);
        conn_kill(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow subscriber", SP_LIVE_DROP_GRACE_S);
        return;
    }
    if (c->q_head + c->q_len == c->q_cap) {
        if (c->q_head > 0) {
            memmove(c->q, c->q + c->q_head, c->q_len * sizeof *c->q);
            c->q_head = 0;
        } else {
            sp_grow((void **)&c->q, &c->q_cap, c->q_len + 1, sizeof *c->q);
        }
    }
    m->refs++;
    c->q[c->q_head + c->q_len++] = m;
    if (m->point)
        c->q_bytes += m->len;
    c->q_all_bytes += m->len;
    lws_callback_on_writable(c->wsi);
}

/* Queues a message made for c alone (freed if it could not be queued). */
static void conn_push_own(conn *c, msg *m)
{
    conn_push(c, m);
    if (m->refs == 0)
        free(m);
}

static void conn_reply_error(conn *c, const char *code, const char *message)
{
    /* o is a new reference (ours to decref); the strings are copied into it. */
    json_t *o = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "code", code, "message",
                          message);
    /* Jansson's parse error quotes the input and may cut it inside a UTF-8 sequence, which
     * json_pack refuses: say less rather than nothing. */
    if (!o)
        o = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "code", code, "message",
                      "invalid message");
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text)
        conn_push_own(c, msg_text(text, strlen(text)));
    free(text);
    json_decref(o);
    atomic_fetch_add(&c->live->st_bad, 1);
    if (++c->bad >= SP_LIVE_CLIENT_BAD_MAX && !c->close_after_flush) {
        c->close_after_flush = 1;
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        snprintf(c->close_reason, sizeof c->close_reason, "too many bad messages");
    }
}

/* ---- fan-out (service thread) ---- */

static int conn_wants(const conn *c, const msg *m)
{
    return c->sub == SUB_RUNS || (c->sub == SUB_RUN && c->run_id == m->run_id);
}

/* Takes every published message from the inbox and queues it for its subscribers. */
static void distribute(sp_live *live)
{
    pthread_mutex_lock(&live->mu);
    msg *m = live->inbox;
    live->inbox = live->inbox_tail = NULL;
    live->n_inbox = 0;
    pthread_mutex_unlock(&live->mu);

    while (m) {
        msg *next = m->next;
        m->next = NULL;
        for (conn *c = live->conns; c; c = c->next)
            if (conn_wants(c, m))
                conn_push(c, m);
        if (m->refs == 0)
            free(m);
        m = next;
    }
}

/* ---- client messages (service thread) ---- */

static void send_backlog(conn *c, int64_t run_id)
{
    sp_live *live = c->live;
    pthread_mutex_lock(&live->mu);
    sp_live_backlog_fn fn = live->backlog;
    void *ud = live->backlog_ud;
    pthread_mutex_unlock(&live->mu);

    size_t len = 0;
    char *text = fn ? fn(ud, run_id, &len) : NULL; /* owned here from now on */
    if (text && len > SP_LIVE_BACKLOG_MAX_BYTES) {
        static const char too_large[] = "{\"type\":\"error\",\"error\":{\"code\":"
                                        "\"backlog_too_large\",\"message\":"
                                        "\"the run so far is too large to send\"}}";
        free(text);
        conn_push_own(c, msg_text(too_large, sizeof too_large - 1));
        return;
    }
    if (text && len > 0)
        conn_push_own(c, msg_wrap("backlog", run_id, text, len));
    else
        conn_push_own(c, msg_wrap("backlog", run_id, "null", 4));
    free(text);
}

static void handle_client_message(conn *c, const char *text, size_t len)
{
    json_error_t jerr;
    /* doc is a new reference; run and val are borrowed from it and die with it at out. The
     * depth is bounded by the message size (SP_LIVE_CLIENT_MSG_MAX bytes). */
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    char reply[160];
    if (!doc) {
        conn_reply_error(c, "bad_json", jerr.text);
        return;
    }
    const char *what = NULL;
    json_t *run = NULL;
    const char *key;
    json_t *val;
    if (!json_is_object(doc)) {
        conn_reply_error(c, "bad_request", "expected an object like {\"subscribe\":\"runs\"}");
        goto out;
    }
    json_object_foreach(doc, key, val)
    {
        if (strcmp(key, "subscribe") == 0) {
            what = json_is_string(val) ? json_string_value(val) : "";
        } else if (strcmp(key, "run_id") == 0) {
            run = val;
        } else {
            conn_reply_error(c, "bad_request", "unknown field (expected subscribe, run_id)");
            goto out;
        }
    }
    if (what && strcmp(what, "runs") == 0 && !run) {
        /* Earlier points go out under the old subscription, so none is sent twice. */
        distribute(c->live);
        c->sub = SUB_RUNS;
        c->run_id = 0;
        int n = snprintf(reply, sizeof reply, "{\"type\":\"subscribed\",\"subscribe\":\"runs\"}");
        conn_push_own(c, msg_text(reply, (size_t)n));
    } else if (what && strcmp(what, "run") == 0 && json_is_integer(run) &&
               json_integer_value(run) > 0) {
        int64_t id = (int64_t)json_integer_value(run);
        distribute(c->live);
        c->sub = SUB_RUN;
        c->run_id = id;
        int n = snprintf(reply, sizeof reply,
                         "{\"type\":\"subscribed\",\"subscribe\":\"run\",\"run_id\":%lld}",
                         (long long)id);
        conn_push_own(c, msg_text(reply, (size_t)n));
        send_backlog(c, id);
    } else {
        conn_reply_error(
            c, "bad_request",
            "expected {\"subscribe\":\"runs\"} or {\"subscribe\":\"run\",\"run_id\":N}");
    }
out:
    json_decref(doc);
}

static void on_receive(conn *c, const void *in, size_t len)
{
    int first = lws_is_first_fragment(c->wsi);
    int final = lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0;
    if (first) {
        c->rx_len = 0;
        c->rx_skip = 0;
        if (lws_frame_is_binary(c->wsi)) {
            conn_reply_error(c, "bad_request", "binary messages are not accepted");
            c->rx_skip = 1;
        }
    }
    if (!c->rx_skip) {
        if (c->rx_len + len > sizeof c->rx) {
            /* Only subscribe messages come this way: something this big is not one. */
            conn_reply_error(c, "too_large", "message too large");
            c->rx_skip = 1;
            if (!c->close_after_flush) {
                c->close_after_flush = 1;
                c->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
                snprintf(c->close_reason, sizeof c->close_reason, "message too large");
            }
        } else {
            memcpy(c->rx + c->rx_len, in, len);
            c->rx_len += len;
        }
    }
    if (final && !c->rx_skip)
        handle_client_message(c, c->rx, c->rx_len);
}

/* Writes (part of) the head of c's queue. Returns -1 to close the connection. */
static int on_writeable(conn *c)
{
    if (c->q_len == 0) {
        if (c->dead || c->close_after_flush) {
            lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
                             (unsigned char *)c->close_reason, strlen(c->close_reason));
            return -1;
        }
        return 0;
    }
    msg *m = c->q[c->q_head];
    if (!c->scratch)
        c->scratch = sp_malloc(LWS_PRE + SP_LIVE_FRAGMENT_BYTES);
    size_t left = m->len - c->sent;
    size_t n = left < SP_LIVE_FRAGMENT_BYTES ? left : SP_LIVE_FRAGMENT_BYTES;
    int start = c->sent == 0, end = n == left;
    /* lws writes the frame header into the LWS_PRE bytes before the payload, so every fragment
     * is copied: the shared message must stay intact for the other subscribers. */
    memcpy(c->scratch + LWS_PRE, m->data + c->sent, n);
    int flags = lws_write_ws_flags(LWS_WRITE_TEXT, start, end);
    int w = lws_write(c->wsi, c->scratch + LWS_PRE, n, (enum lws_write_protocol)flags);
    if (w < (int)n)
        return -1;
    c->sent += n;
    if (end) {
        c->q_head++;
        c->q_len--;
        if (m->point)
            c->q_bytes -= m->len;
        c->q_all_bytes -= m->len;
        c->sent = 0;
        msg_unref(m);
        atomic_fetch_add(&c->live->st_sent, 1);
        if (c->q_len == 0)
            c->q_head = 0;
    }
    if (c->q_len > 0 || c->close_after_flush)
        lws_callback_on_writable(c->wsi);
    return 0;
}

/* ---- the upgrade check (service thread) ---- */

static int is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&a6))
            return a6.s6_addr[12] == 127;
    }
    return 0;
}

/* Copies header h into buf ("" when absent). Returns -1 when it does not fit. */
static int copy_header(struct lws *wsi, enum lws_token_indexes h, char *buf, size_t size)
{
    buf[0] = '\0';
    int n = lws_hdr_total_length(wsi, h);
    if (n <= 0)
        return 0;
    if ((size_t)n >= size)
        return -1;
    return lws_hdr_copy(wsi, buf, (int)size, h) < 0 ? -1 : 0;
}

/* The Host header without its port: "[::1]:8485" -> "[::1]", "localhost:8485" -> "localhost". */
static void host_name(const char *host, char *out, size_t size)
{
    size_t n = strlen(host);
    const char *colon = strrchr(host, ':');
    const char *bracket = strrchr(host, ']');
    if (colon && (!bracket || colon > bracket) && (host[0] == '[' || strchr(host, ':') == colon))
        n = (size_t)(colon - host);
    if (n >= size)
        n = size - 1;
    memcpy(out, host, n);
    out[n] = '\0';
}

static int in_list(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* Returns 0 to let the upgrade proceed. Runs before any WebSocket byte is sent. */
static int filter_upgrade(sp_live *live, struct lws *wsi)
{
    char(*h)[SP_LIVE_HEADER_MAX] = live->hdr;
    char name[256];
    sp_live_request req;
    if (live->n_conns >= live->max_subscribers)
        return -1;
    if (copy_header(wsi, WSI_TOKEN_HOST, h[0], sizeof h[0]) < 0 ||
        copy_header(wsi, WSI_TOKEN_ORIGIN, h[1], sizeof h[1]) < 0 ||
        copy_header(wsi, WSI_TOKEN_GET_URI, h[2], sizeof h[2]) < 0 ||
        copy_header(wsi, WSI_TOKEN_PROTOCOL, h[3], sizeof h[3]) < 0 ||
        copy_header(wsi, WSI_TOKEN_HTTP_COOKIE, h[4], sizeof h[4]) < 0 ||
        copy_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, h[5], sizeof h[5]) < 0)
        return -1;
    /* DNS rebinding: a page on evil.example resolving to 127.0.0.1 still sends its own name. */
    host_name(h[0], name, sizeof name);
    if (!live->auth_checks_names && !in_list(live->hosts, live->n_hosts, name))
        return -1;
    /* Cross-site WebSocket hijacking: browsers always send Origin; other clients need not. */
    if (!live->auth_checks_names && h[1][0] && !in_list(live->origins, live->n_origins, h[1]))
        return -1;
    h[6][0] = '\0';
    lws_get_peer_simple(wsi, h[6], sizeof h[6]);
    req.peer = h[6];
    req.peer_loopback = is_loopback(h[6]);
    req.host = h[0];
    req.origin = h[1];
    req.path = h[2];
    req.protocol = h[3];
    req.cookie = h[4];
    req.authorization = h[5];
    if (live->auth)
        return live->auth(live->auth_ud, &req) == 0 ? 0 : -1;
    return req.peer_loopback ? 0 : -1;
}

/* ---- the lws callback ---- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    const struct lws_protocols *p = lws_get_protocol(wsi);
    sp_live *live = p ? p->user : NULL;
    conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!live || filter_upgrade(live, wsi) != 0) {
            if (live)
                atomic_fetch_add(&live->st_refused, 1);
            return -1;
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof *c);
        c->live = live;
        c->wsi = wsi;
        c->next = live->conns;
        if (live->conns)
            live->conns->prev = c;
        live->conns = c;
        live->n_conns++;
        atomic_store(&live->st_subscribers, live->n_conns);
        atomic_fetch_add(&live->st_accepted, 1);
        return 0;

    case LWS_CALLBACK_CLOSED:
        if (!c || !c->live)
            return 0;
        if (c->prev)
            c->prev->next = c->next;
        else
            live->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        live->n_conns--;
        atomic_store(&live->st_subscribers, live->n_conns);
        conn_queue_clear(c);
        free(c->scratch);
        c->scratch = NULL;
        c->live = NULL;
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (c->dead || c->close_after_flush)
            return 0;
        on_receive(c, in, len);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(c);

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (live)
            distribute(live);
        return 0;

    case LWS_CALLBACK_HTTP:
        /* Only upgrades are served here; the dashboard lives on the HTTP server. */
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
            return -1;
        return lws_http_transaction_completed(wsi);

    default:
        /* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE is deliberately left to lws (CVE-2025-11677). */
        return 0;
    }
}

/* ---- service thread ---- */

static int stopping(sp_live *live)
{
    pthread_mutex_lock(&live->mu);
    int s = live->stopping;
    pthread_mutex_unlock(&live->mu);
    return s;
}

/* lws_service sleeps until its next timer: while stopping, this keeps that short. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
    sp_live *live = lws_container_of(sul, sp_live, tick);
    lws_sul_schedule(live->ctx, 0, &live->tick, on_tick, 20 * LWS_US_PER_MS);
}

static void *service_main(void *arg)
{
    sp_live *live = arg;
    while (!stopping(live))
        if (lws_service(live->ctx, 0) < 0)
            break;
    /* Say goodbye to every client, then give the close frames a moment to go out. */
    for (conn *c = live->conns; c; c = c->next)
        conn_kill(c, LWS_CLOSE_STATUS_GOINGAWAY, "server stopping", 1);
    on_tick(&live->tick);
    uint64_t deadline = sp_now_ns() + SP_LIVE_STOP_GRACE_MS * 1000000ull;
    while (live->conns && sp_now_ns() < deadline)
        if (lws_service(live->ctx, 0) < 0)
            break;
    lws_sul_cancel(&live->tick);
    return NULL;
}

/* ---- public API ---- */

void sp_live_opts_init(sp_live_opts *o)
{
    memset(o, 0, sizeof *o);
    o->port = SP_LIVE_DEFAULT_PORT;
    o->queue_max_bytes = SP_LIVE_QUEUE_MAX_BYTES;
    o->queue_max_msgs = SP_LIVE_QUEUE_MAX_MSGS;
    o->max_subscribers = SP_LIVE_MAX_SUBSCRIBERS;
    o->timeout_secs = SP_LIVE_TIMEOUT_S;
}

static char **copy_list(const char *const *v, size_t n)
{
    char **out = sp_calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = sp_strdup(v[i]);
    return out;
}

static void free_list(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void live_destroy(sp_live *live)
{
    if (live->ctx)
        lws_context_destroy(live->ctx);
    msg *m = live->inbox;
    while (m) {
        msg *next = m->next;
        free(m);
        m = next;
    }
    free_list(live->origins, live->n_origins);
    free_list(live->hosts, live->n_hosts);
    pthread_mutex_destroy(&live->mu);
    free(live);
}

/* libwebsockets' log lines (errors only, see sp_live_new) as server log events. */
static void on_lws_log(int level, const char *line)
{
    char text[512];
    snprintf(text, sizeof text, "%s", line);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    sp_log_kv(level == LLL_ERR ? SP_LOG_ERROR : SP_LOG_WARN, "libwebsockets", "detail", text, NULL);
}

int sp_live_new(const sp_live_opts *o, sp_live **out, char *err, size_t errlen)
{
    sp_live_opts def;
    struct lws_context_creation_info info;
    const char *addr;
    sp_live *live = NULL;
    int rc = SP_OK;

    *out = NULL;
    if (!o) {
        sp_live_opts_init(&def);
        o = &def;
    }
    addr = o->listen_addr && *o->listen_addr ? o->listen_addr : "127.0.0.1";
    if (o->port < 0 || o->port > 65535 || o->n_origins > SP_LIVE_ORIGINS_MAX ||
        o->n_hosts > SP_LIVE_ORIGINS_MAX || (o->n_origins && !o->origins) ||
        (o->n_hosts && !o->hosts)) {
        snprintf(err, errlen, "live: invalid options (port %d, %zu origins, %zu hosts)", o->port,
                 o->n_origins, o->n_hosts);
        return SP_EINVAL;
    }
    struct in6_addr a6;
    struct in_addr a4;
    int v6 = inet_pton(AF_INET6, addr, &a6) == 1;
    if (!v6 && inet_pton(AF_INET, addr, &a4) != 1) {
        snprintf(err, errlen, "live: listen address '%s' is not a numeric IP address", addr);
        return SP_EINVAL;
    }

    live = sp_calloc(1, sizeof *live);
    pthread_mutex_init(&live->mu, NULL);
    live->origins = copy_list(o->origins, o->n_origins);
    live->n_origins = o->n_origins;
    if (o->n_hosts) {
        live->hosts = copy_list(o->hosts, o->n_hosts);
        live->n_hosts = o->n_hosts;
    } else {
        live->hosts = copy_list(default_hosts, SP_ARRAY_LEN(default_hosts));
        live->n_hosts = SP_ARRAY_LEN(default_hosts);
    }
    live->queue_max_bytes = o->queue_max_bytes ? o->queue_max_bytes : SP_LIVE_QUEUE_MAX_BYTES;
    live->queue_max_msgs = o->queue_max_msgs ? o->queue_max_msgs : SP_LIVE_QUEUE_MAX_MSGS;
    live->max_subscribers = o->max_subscribers ? o->max_subscribers : SP_LIVE_MAX_SUBSCRIBERS;
    live->auth = o->auth;
    live->auth_ud = o->auth_ud;
    live->auth_checks_names = o->auth && o->auth_checks_names;

    /* Clients only send subscribe messages: a small receive buffer, and bigger messages are
     * refused in on_receive. tx_packet_size is set so that sends are not limited to it. */
    live->protocols[0].name = LIVE_PROTOCOL;
    live->protocols[0].callback = callback;
    live->protocols[0].per_session_data_size = sizeof(conn);
    live->protocols[0].rx_buffer_size = SP_LIVE_CLIENT_MSG_MAX;
    live->protocols[0].tx_packet_size = LWS_PRE + SP_LIVE_FRAGMENT_BYTES;
    live->protocols[0].user = live;
    if (o->extra_protocol)
        live->protocols[1] = *(const struct lws_protocols *)o->extra_protocol;

    /* Idle connections are pinged, and dropped when the pong does not come. */
    live->retry.secs_since_valid_ping = SP_LIVE_PING_S;
    live->retry.secs_since_valid_hangup = SP_LIVE_HANGUP_S;

    /* Refused upgrades are counted in the stats; lws need not log each one. Its errors go
     * to the server's log, as one line each with the server's format. */
    lws_set_log_level(LLL_ERR, on_lws_log);

    if (!o->tls_cert_path != !o->tls_key_path) {
        snprintf(err, errlen, "live: a TLS certificate needs its key, and a key its certificate");
        rc = SP_EINVAL;
        goto out;
    }
    memset(&info, 0, sizeof info);
    /* VALIDATE_UTF8 is documented as a vhost option, but lws 4.1's frame parser reads it from
     * the context's options: set on both, or invalid text frames reach the callback. */
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6 |
                   LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (v6)
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
    if (o->tls_cert_path)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.count_threads = 1;
    info.user = live;
    live->ctx = lws_create_context(&info);
    if (!live->ctx) {
        snprintf(err, errlen, "live: cannot create the libwebsockets context");
        rc = SP_ESYS;
        goto out;
    }

    memset(&info, 0, sizeof info);
    info.vhost_name = "stampede-live";
    info.iface = addr;
    info.port = o->port;
    info.protocols = live->protocols;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND |
                   (v6 ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6);
    info.timeout_secs = o->timeout_secs ? o->timeout_secs : SP_LIVE_TIMEOUT_S;
    info.timeout_secs_ah_idle = info.timeout_secs;
    info.retry_and_idle_policy = &live->retry;
    info.user = live;
    /* Read here, while the vhost is made; nothing keeps the paths afterwards. */
    info.ssl_cert_filepath = o->tls_cert_path;
    info.ssl_private_key_filepath = o->tls_key_path;
    if (o->tls_cert_path) /* lws reads this one from the vhost's options too */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    live->vh = lws_create_vhost(live->ctx, &info);
    if (!live->vh) {
        snprintf(err, errlen, "live: cannot listen on %s port %d: %s", addr, o->port,
                 errno ? strerror(errno) : "refused");
        rc = SP_ESYS;
        goto out;
    }
    live->port = lws_get_vhost_listen_port(live->vh);

    if (pthread_create(&live->thread, NULL, service_main, live) != 0) {
        snprintf(err, errlen, "live: cannot start the service thread");
        rc = SP_ESYS;
        goto out;
    }
    live->thread_started = 1;
    *out = live;
    live = NULL;
out:
    if (live)
        live_destroy(live);
    return rc;
}

void sp_live_free(sp_live *live)
{
    if (!live)
        return;
    pthread_mutex_lock(&live->mu);
    live->stopping = 1;
    pthread_mutex_unlock(&live->mu);
    if (live->thread_started) {
        lws_cancel_service(live->ctx);
        pthread_join(live->thread, NULL);
    }
    live_destroy(live);
}

int sp_live_port(const sp_live *live)
{
    return live->port;
}

void sp_live_set_backlog_fn(sp_live *live, sp_live_backlog_fn fn, void *ud)
{
    pthread_mutex_lock(&live->mu);
    live->backlog = fn;
    live->backlog_ud = ud;
    pthread_mutex_unlock(&live->mu);
}

static int publish(sp_live *live, const char *type, int64_t run_id, const char *json, size_t len)
{
    if (run_id <= 0 || !json || len == 0 || len > SP_LIVE_MSG_MAX_BYTES)
        return SP_EINVAL;
    /* The copy is made before the lock, so the lock is held only for the append. */
    msg *m = msg_wrap(type, run_id, json, len);
    m->point = 1;
    int rc = SP_OK;
    pthread_mutex_lock(&live->mu);
    if (live->stopping) {
        rc = SP_ESTATE;
    } else if (live->n_inbox >= SP_LIVE_INBOX_MAX) {
        rc = SP_ELIMIT;
    } else {
        if (live->inbox_tail)
            live->inbox_tail->next = m;
        else
            live->inbox = m;
        live->inbox_tail = m;
        live->n_inbox++;
    }
    pthread_mutex_unlock(&live->mu);
    if (rc != SP_OK) {
        free(m);
        return rc;
    }
    atomic_fetch_add(&live->st_published, 1);
    lws_cancel_service(live->ctx);
    return SP_OK;
}

int sp_live_publish(sp_live *live, int64_t run_id, const char *json, size_t len)
{
    return publish(live, "second", run_id, json, len);
}

int sp_live_publish_end(sp_live *live, int64_t run_id, const char *json, size_t len)
{
    return publish(live, "end", run_id, json, len);
}

void sp_live_stats_get(sp_live *live, sp_live_stats *st)
{
    st->subscribers = atomic_load(&live->st_subscribers);
    st->accepted = atomic_load(&live->st_accepted);
    st->refused = atomic_load(&live->st_refused);
    st->published = atomic_load(&live->st_published);
    st->sent = atomic_load(&live->st_sent);
    st->dropped_slow = atomic_load(&live->st_dropped);
    st->bad_input = atomic_load(&live->st_bad);
}
