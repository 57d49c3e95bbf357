/*
 * live.h - the live stream: per-second points of running runs, pushed to browsers over a
 * WebSocket (libwebsockets), protocol "stampede-live-v1" (docs/live.md has the messages).
 *
 * A client connects, sends {"subscribe":"runs"} (every running run's points) or
 * {"subscribe":"run","run_id":N} (one run's points, preceded by the run so far), and from then
 * on receives one text message per published second. The server side publishes one message per
 * running run per second with sp_live_publish(); each subscriber whose subscription matches
 * gets it.
 *
 * Calling sequence:
 *     sp_live_opts o; sp_live_opts_init(&o); o.port = 8485; ...
 *     sp_live_new(&o, &live, err, sizeof err);     starts the service thread, listening
 *     sp_live_set_backlog_fn(live, fn, ud);        before clients can subscribe to runs
 *     sp_live_publish(live, run_id, json, len);    any thread, once per run per second
 *     sp_live_free(live);                          closes every client, joins the thread
 *
 * Threads: sp_live owns one service thread, the only thread that touches libwebsockets
 * (besides lws_cancel_service, which is documented as safe from any thread). Publishers copy
 * their message into an inbox under a mutex and wake the service thread with
 * lws_cancel_service; the service thread fans messages out to per-connection send queues and
 * writes when each socket is writeable. So sp_live_publish never waits for a client, and a
 * client that does not read only fills its own queue; when that queue passes its cap the
 * client is dropped (closed with code 1008 and reason "slow subscriber").
 * The auth and backlog callbacks run on the service thread: they must not call sp_live_free,
 * and every moment they take delays every subscriber's next point.
 *
 * Safety: the upgrade is checked in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION (Host against the
 * allowed host names and the bound port, Origin against the allowed list, the subscriber cap,
 * then the auth hook; with auth_checks_names the hook checks Host and Origin instead, as
 * `stampede serve` does with its one access check); LWS_CALLBACK_HTTP_CONFIRM_UPGRADE is
 * deliberately not handled. Client messages are small (SP_LIVE_CLIENT_MSG_MAX) and parsed with a
 * length; larger ones close the connection, repeated bad ones too. Plain HTTP requests are answered
 * 404.
 */
#ifndef SP_LIVE_H
#define SP_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"

typedef struct sp_live sp_live;

/*
 * What the auth hook sees of an upgrade request. Every string is borrowed for the duration of
 * the call and is "" (never NULL) when the header is absent. peer is the numeric peer address.
 */
typedef struct sp_live_request {
    const char *peer;          /* "127.0.0.1", "::1", ... */
    int peer_loopback;         /* 1 when peer is in 127.0.0.0/8 or ::1 (also v4-mapped) */
    const char *host;          /* Host header */
    const char *origin;        /* Origin header (browsers always send one) */
    const char *path;          /* request path, e.g. "/" or "/live" */
    const char *protocol;      /* Sec-WebSocket-Protocol as sent, "" when none */
    const char *cookie;        /* Cookie header, for a session cookie */
    const char *authorization; /* Authorization header, for "Bearer TOKEN" */
} sp_live_request;

/*
 * Decides whether an upgrade may proceed, after the Host and Origin checks passed. Returns 0 to
 * allow, a negative SP_E* code to refuse (the client sees the upgrade fail). Runs on the
 * service thread; must not block for long. Without a hook, loopback peers are allowed and any
 * other peer is refused.
 */
typedef int (*sp_live_auth_fn)(void *ud, const sp_live_request *req);

/*
 * Returns the run so far as one JSON text (any JSON value), for a client that has just
 * subscribed to run_id: a malloc'd buffer that sp_live takes and frees, its length in *len; or
 * NULL when there is nothing to send (unknown run, no second yet), which the client sees as
 * "data": null. The text is sent as the "data" of a {"type":"backlog"} message, not checked:
 * it must be valid JSON. At most SP_LIVE_BACKLOG_MAX_BYTES; a larger one is dropped and the
 * client gets an error message instead. Runs on the service thread.
 */
typedef char *(*sp_live_backlog_fn)(void *ud, int64_t run_id, size_t *len);

typedef struct sp_live_opts {
    const char *listen_addr;    /* numeric address to bind; NULL = "127.0.0.1" */
    int port;                   /* 0 = any free port (see sp_live_port) */
    const char *const *origins; /* allowed Origin values, exact ("http://127.0.0.1:8484") */
    size_t n_origins;           /* a request without Origin (not a browser) is allowed */
    const char *const *hosts;   /* allowed Host names without port; NULL = loopback names */
    size_t n_hosts;             /* ("127.0.0.1", "localhost", "[::1]") */
    size_t queue_max_bytes;     /* per-client queue of unsent points; 0 = default */
    unsigned queue_max_msgs;    /* the same in messages; 0 = default */
    unsigned max_subscribers;   /* open connections at once; 0 = default */
    unsigned timeout_secs;      /* libwebsockets' network round-trip timeout; 0 = default */
    sp_live_auth_fn auth;       /* NULL = loopback peers only */
    void *auth_ud;
    int auth_checks_names; /* 1: the hook checks Host and Origin itself (stampede serve's
                              access check, which audits its refusals); the two lists
                              above are then not used */
    /* PEM files of a certificate and its key: the stream then speaks TLS only (wss://), as
     * the dashboard served over https must use. Both or neither; read once at start. */
    const char *tls_cert_path;
    const char *tls_key_path;
    /* One more WebSocket protocol served on the same port by the same service thread: the
     * agents' (server/agents/agents.h, "stampede-agent-v1"). A `const struct lws_protocols *`,
     * copied at start; void here so that this header needs no libwebsockets. Its callback does
     * its own upgrade check (the Host, Origin and subscriber checks above are the browsers'). An
     * upgrade asking for no protocol still gets the live one. NULL: none. */
    const void *extra_protocol;
} sp_live_opts;

/* Fills o with the defaults from limits.h (port SP_LIVE_DEFAULT_PORT, loopback). */
void sp_live_opts_init(sp_live_opts *o);

/*
 * Creates the context, binds the listening socket and starts the service thread. Strings and
 * arrays in o are copied. On failure returns SP_EINVAL (bad option) or SP_ESYS (cannot
 * listen, e.g. the port is taken, or the thread cannot start), fills err and sets *out to NULL.
 * Call from any thread.
 */
int sp_live_new(const sp_live_opts *o, sp_live **out, char *err, size_t errlen);

/*
 * Stops accepting, closes every client (code 1001, "server stopping"), joins the service
 * thread and frees everything, messages not yet sent included. NULL is a no-op. Must not run
 * concurrently with any other call on live (stop the publishers first), nor from a callback.
 */
void sp_live_free(sp_live *live);

/* The port the listening socket is bound to (useful with port 0). Any thread. */
int sp_live_port(const sp_live *live);

/*
 * Sets the function that returns a run so far (NULL: subscribers get "data": null). Any
 * thread; takes effect for the next subscription.
 */
void sp_live_set_backlog_fn(sp_live *live, sp_live_backlog_fn fn, void *ud);

/*
 * Publishes one second of run_id (> 0): json (len bytes, one valid JSON value, not checked,
 * borrowed: copied before returning) is sent to the run's subscribers and to "runs"
 * subscribers as {"type":"second","run_id":N,"data":JSON}. Any thread; never waits for a
 * client: it takes a mutex for a list append and wakes the service thread. Returns SP_EINVAL
 * (run_id <= 0, empty, or longer than SP_LIVE_MSG_MAX_BYTES), SP_ELIMIT (SP_LIVE_INBOX_MAX
 * messages are waiting for the service thread: it is stuck or gone), or SP_ESTATE (stopping).
 */
int sp_live_publish(sp_live *live, int64_t run_id, const char *json, size_t len);

/*
 * Tells the same subscribers that run_id has ended: {"type":"end","run_id":N,"data":JSON}
 * (e.g. the final status). Same rules and errors as sp_live_publish.
 */
int sp_live_publish_end(sp_live *live, int64_t run_id, const char *json, size_t len);

/* Counters since sp_live_new, for logs and tests. Read with sp_live_stats from any thread. */
typedef struct sp_live_stats {
    unsigned subscribers;  /* connections open now */
    uint64_t accepted;     /* connections accepted */
    uint64_t refused;      /* upgrades refused (host, origin, cap, auth) */
    uint64_t published;    /* messages accepted by sp_live_publish[_end] */
    uint64_t sent;         /* messages written to clients */
    uint64_t dropped_slow; /* clients closed because their queue passed its cap */
    uint64_t bad_input;    /* client messages answered with an error */
} sp_live_stats;

void sp_live_stats_get(sp_live *live, sp_live_stats *st);

#endif
