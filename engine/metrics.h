/*
 * metrics.h - what a run measures: per request name, per second and for the whole run.
 *
 * An sp_stats holds one sp_name_stats per request name (indexed by the definition's name ids)
 * plus run-level counters. Workers fill their own sp_stats for the current second, hand it to
 * the aggregator through a queue once a second, and the aggregator merges the workers' stats
 * into the second's snapshot and into the run's totals. Merging adds counts and histograms, so
 * any window or set of names can be recomputed exactly.
 *
 * Threads: an sp_stats belongs to one thread at a time; ownership moves with the queue message.
 */
#ifndef SP_METRICS_H
#define SP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"
#include "engine/histogram.h"

/* Why a request failed. A request has at most one kind. */
typedef enum sp_errkind {
    SP_ERRK_TIMEOUT,     /* connect or total timeout */
    SP_ERRK_CONNREFUSED, /* nothing listening */
    SP_ERRK_RESET,       /* the peer reset or closed the connection mid-exchange */
    SP_ERRK_DNS,         /* the host name could not be resolved */
    SP_ERRK_TLS,         /* handshake or certificate failure */
    SP_ERRK_HTTP_STATUS, /* a 4xx/5xx status that no expectation allowed */
    SP_ERRK_ASSERTION,   /* an expectation failed (status set, JSON, body, latency) */
    SP_ERRK_TOO_LARGE,   /* the response was larger than max_response_bytes */
    SP_ERRK_OTHER,       /* any other transport failure */
    SP_ERRK_BLOCKED,     /* the target's address is not in the target allowlist */
    SP_ERRK_REGEX_LIMIT, /* an extract's regex reached its match limit (engine/regex.h) */
    SP_ERRK_H2_RESET,    /* HTTP/2: the server reset the request's stream (RST_STREAM) */
    SP_ERRK_H2,          /* HTTP/2: the connection failed (framing error, GOAWAY with an error) */
    SP_ERRK_NOT_H2,      /* http_version "2", and the server answered over HTTP/1.x */
    SP_ERRK_COUNT
} sp_errkind;

/* Stable lower-case name of a kind: "timeout", "connect_refused", "reset", "dns", "tls",
 * "http_status", "assertion", "too_large", "other", "blocked", "regex_limit", "stream_reset",
 * "http2", "not_http2". Kinds are stored by number: a new kind is added before SP_ERRK_COUNT,
 * never in the middle. */
const char *sp_errkind_name(sp_errkind k);

typedef struct sp_failmsg {
    char *msg; /* owned, at most SP_FAIL_MSG_MAX bytes */
    uint64_t count;
} sp_failmsg;

typedef struct sp_name_stats {
    /* 1 when the name is a group's (definition.h, SP_NAME_GROUP): its entries are whole runs
     * of the group's steps, counted beside the requests inside it and never in a run's totals.
     * Set by sp_name_stats_record_group and kept by merges and resets. */
    uint8_t group;
    sp_hist *hist;     /* latency of every finished request, failed ones included, in us */
    uint64_t requests; /* finished requests (with a response or a transport error) */
    uint64_t failures; /* of which failed (any error kind) */
    uint64_t status[SP_STATUS_MAX]; /* by status code; [0] counts requests with no response */
    uint64_t errors[SP_ERRK_COUNT];
    uint64_t bytes_in;  /* response bytes: headers and body as received */
    uint64_t bytes_out; /* request bytes: headers and body as sent */
    /* Requests that opened a new connection, and the time each spent opening it (TCP connect,
     * plus the TLS handshake for https; name resolution left out), in us. That time is part of
     * the request's latency (hist); it is counted here too so a ramp's first requests, which
     * all connect, can be told from a slow target. connect_hist is NULL until the first
     * connect: with keep-alive most names of most seconds have none. */
    uint64_t connects;
    sp_hist *connect_hist;
    sp_failmsg msgs[SP_FAIL_MSGS_PER_NAME]; /* first distinct failure messages, with counts */
    size_t nmsgs;
    uint64_t msgs_dropped; /* failures whose message was new once the table was full */
} sp_name_stats;

typedef struct sp_stats {
    size_t nnames;
    sp_name_stats *names; /* [nnames], index = request name id */
    uint64_t iterations;  /* task iterations finished */
    uint64_t dropped;     /* open model: arrivals that found no free VU */
    uint32_t active_vus;  /* gauge: VUs running at the end of the period */
    uint32_t target_vus;  /* gauge: the profile's target at the end of the period */
    /* Generator health: the latest a timer fired, or the longest the worker loop was away
     * beyond its plan, in the period (worker.c note_gap). */
    uint64_t lag_us_max;
    /* Seconds whose lag_us_max exceeded SP_STALL_US: generator stalls, the engine's own doing
     * and not the target's. Set by the aggregator per second (0 or 1), summed in the totals,
     * with the first and last such second (valid when stalled_seconds > 0). */
    uint64_t stalled_seconds;
    uint64_t stall_first, stall_last;
    /* Open model only (zero in the closed one). */
    uint64_t arrivals;        /* arrivals that took a free VU and started an iteration */
    double target_rate;       /* gauge: arrivals the profile planned for the period, per second */
    uint64_t arrivals_late;   /* arrivals (started or dropped) whose timer fired over
                                 SP_LAG_LATE_US late */
    uint64_t arrivals_lag_us; /* the sum of how late arrivals' timers fired (for a mean) */
} sp_stats;

void sp_stats_init(sp_stats *s, size_t nnames);
void sp_stats_release(sp_stats *s);
/* Zeroes every counter and histogram; keeps the memory (workers reuse their stats). */
void sp_stats_reset(sp_stats *s);
/* dst += src for every counter, histogram and message; gauges: dst takes the sum (across workers)
 * when sum_gauges, else src's values (across time). lag_us_max takes the max; arrivals
 * add up; target_rate is set by the aggregator, so dst takes src's unless src's is 0. */
void sp_stats_merge(sp_stats *dst, const sp_stats *src, int sum_gauges);
/* Merges every request name of s (groups left out: their requests are counted already) into
 * out (an initialised sp_name_stats, e.g. from sp_name_stats_init). */
void sp_stats_total(const sp_stats *s, sp_name_stats *out);

void sp_name_stats_init(sp_name_stats *n);
void sp_name_stats_release(sp_name_stats *n);
void sp_name_stats_merge(sp_name_stats *dst, const sp_name_stats *src);
/* Records one finished request. status 0 = no response; kind < 0 = success; msg may be NULL. */
void sp_name_stats_record(sp_name_stats *n, uint64_t latency_us, int status, int kind,
                          const char *msg, uint64_t bytes_in, uint64_t bytes_out);
/* Adds one request that opened a new connection, connect_us long, to n (after
 * sp_name_stats_record of that request). Allocates the connect histogram the first time. */
void sp_name_stats_record_connect(sp_name_stats *n, uint64_t connect_us);
/* Records one finished run of a group's steps: its whole duration, and as a failure (kind and
 * msg) when a request inside it failed. Marks n as a group's. */
void sp_name_stats_record_group(sp_name_stats *n, uint64_t duration_us, int kind, const char *msg);

#endif
