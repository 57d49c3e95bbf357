/*
 * wire.h - the messages between a server and its agents (protocol "stampede-agent-v1").
 *
 * Every message is one text frame: a JSON object {"type": ..., "v": SP_WIRE_PROTOCOL, ...},
 * or for a "second", its packed form (below).
 * docs/agents-protocol.md lists them with their fields and the order they come in:
 *
 *     agent  -> server  hello, heartbeat, time (t0), second, end, bye
 *     server -> agent   welcome | refuse, heartbeat, time (t0, t1, t2), assign, set_target,
 *                       stop, bye
 *
 * Encoding: sp_wire_encode turns an sp_wire_msg into text (owned by the caller, free()).
 * Decoding: sp_wire_decode reads untrusted text into an sp_wire_msg, refusing anything
 * malformed with a reason (the field and what is wrong with it): more than SP_WIRE_MAX_BYTES,
 * nested deeper than SP_WIRE_MAX_DEPTH, an unknown type, a missing or mistyped field, a name
 * longer than SP_WIRE_MAX_NAME. A "second" is the exception to JSON (protocol 2): a header line
 * "second <v> <run> <second>" and its stats packed in decimal lines, which stay in the text
 * (msg.body, borrowed) until the receiver, who knows the run's request names, reads them into
 * an sp_stats with sp_wire_stats_decode, which checks every index, count and histogram bucket
 * against the layout (histogram.h) and refuses counts that do not add up.
 *
 * A message whose "v" is not SP_WIRE_PROTOCOL decodes only as far as hello or refuse need (so
 * each side can name both versions in its refusal) and fails with SP_ESTATE.
 *
 * Threads: none kept; every function is pure and may be called from any thread.
 */
#ifndef SP_WIRE_H
#define SP_WIRE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/limits.h"
#include "engine/metrics.h"

/* 2: a "second" is sent packed (sp_wire_stats_encode), no longer as JSON. */
#define SP_WIRE_PROTOCOL 2
#define SP_WIRE_SUBPROTOCOL "stampede-agent-v1"

typedef enum sp_wire_type {
    SP_WIRE_HELLO,
    SP_WIRE_WELCOME,
    SP_WIRE_REFUSE,
    SP_WIRE_HEARTBEAT,
    SP_WIRE_TIME,
    SP_WIRE_ASSIGN,
    SP_WIRE_SET_TARGET,
    SP_WIRE_STOP,
    SP_WIRE_SECOND,
    SP_WIRE_END,
    SP_WIRE_BYE,
    SP_WIRE_NTYPES
} sp_wire_type;

/* "hello", "welcome", ... */
const char *sp_wire_type_name(sp_wire_type t);

typedef struct sp_wire_msg {
    sp_wire_type type;
    uint32_t v; /* the sender's protocol version */
    /* hello */
    char version[SP_WIRE_MAX_VERSION + 1];
    char name[SP_WIRE_MAX_NAME + 1];
    char location[SP_WIRE_MAX_NAME + 1];
    uint32_t cores, threads, max_vus;
    /* refuse, bye */
    char reason[SP_WIRE_MAX_REASON + 1];
    /* heartbeat: the agent's generator health while running (has_health); the server's
     * heartbeat carries none */
    int has_health;
    double cpu;       /* percent of one core, 0..100 * cores */
    double lag_ms;    /* timer lag, the worst in the last second */
    uint64_t dropped; /* open model: arrivals dropped so far in the run */
    /* heartbeat (agent): its clock offset to the server's, as it measured it (has_offset) */
    int has_offset;
    int64_t offset_ns;
    /* time: t0 by the agent (its clock), t1 and t2 by the server (its clock), ns; 0 unset */
    int64_t t0, t1, t2;
    /* assign, set_target, stop, second, end */
    uint64_t run_id;
    /* assign: the agent's share of the run */
    json_t *def;        /* owned: the definition (data files inline: docs/agents-protocol.md) */
    json_t *allowlist;  /* owned or NULL: the server's target allowlist, an array of strings */
    json_t *files;      /* owned or NULL: the definition's data files, {"path": "content"} */
    uint32_t vu_offset; /* the agent's first VU number over the whole run */
    double fraction;    /* the agent's share of the load, 0 < fraction <= 1 */
    double share_from;  /* its range [from, to) of the run's load (engine/share.h) */
    double share_to;
    uint32_t csv_index; /* unique CSV partition: rows with row % csv_count == csv_index */
    uint32_t csv_count; /* >= 1 */
    int64_t start_ns;   /* the start instant, server clock (CLOCK_REALTIME ns) */
    /* set_target: the run's new total target; the agent scales it by its fraction */
    double target;
    uint32_t ramp_ms;
    /* stop */
    int graceful;
    /* second, end: the second (0-based from the start); end: the last second the agent sent,
     * or -1 when it sent none */
    uint64_t second;
    int64_t last_second;
    /* second: its packed stats, borrowed from the decoded text (valid while it is), read with
     * sp_wire_stats_decode */
    const char *body;
    size_t body_len;
} sp_wire_msg;

void sp_wire_msg_init(sp_wire_msg *m, sp_wire_type type);
/* Frees the JSON a message owns (def, allowlist, files) and resets it. */
void sp_wire_msg_release(sp_wire_msg *m);

/* The message as JSON text (owned by the caller; free()). Borrows m (def, allowlist and stats
 * are copied by reference into the output only). For a "second", pass its stats in s (or NULL
 * to send m->body as it is); otherwise s is NULL. */
char *sp_wire_encode(const sp_wire_msg *m, const sp_stats *s, size_t *len);

/* Reads a message. 0: *m filled (release it with sp_wire_msg_release). SP_EINVAL or SP_ELIMIT:
 * malformed or too large, with the reason in err; *m is left released. SP_ESTATE: another
 * protocol version (m->v, and for a hello or refuse its fields, are filled so the caller can
 * name both versions). */
int sp_wire_decode(const char *text, size_t len, sp_wire_msg *m, char *err, size_t errlen);

/* Appends the packed stats of a "second" to b (docs/agents-protocol.md): a line "s" with the
 * run-level counters, then per request name with anything in it a line "n" with its counters,
 * exact min, max and sum, and its status, error and histogram counts as index:count lists, each
 * followed by its failure messages ("m count text"). */
void sp_wire_stats_encode(const sp_stats *s, sp_buf *b);
/* Reads a second's packed stats (m->body, m->body_len) into out (initialised by the caller
 * with sp_stats_init(out, nnames), reset first), in one pass and with no allocation but the
 * failure messages. SP_EINVAL with a reason naming the field in err when a line or token is
 * malformed, a name index is >= nnames or comes twice, a histogram bucket is outside the layout,
 * repeated or out of order, counts do not add up to the requests (status, histogram) or the
 * failures (errors), a count does not fit, min, max or sum do not fit the buckets, or more than
 * SP_WIRE_MAX_BUCKETS buckets come; out is then reset. */
int sp_wire_stats_decode(const char *body, size_t len, size_t nnames, sp_stats *out, char *err,
                         size_t errlen);

/* Clock offset (NTP-style): the agent sends t0 (its clock), the server stamps t1 (receipt) and
 * t2 (answer), the agent notes t3 on receipt. offset = ((t1 - t0) + (t2 - t3)) / 2 is what
 * to add to the agent's clock to read the server's; rtt = (t3 - t0) - (t2 - t1). */
typedef struct sp_clock_sample {
    int64_t offset_ns;
    int64_t rtt_ns;
} sp_clock_sample;

sp_clock_sample sp_clock_sample_of(int64_t t0, int64_t t1, int64_t t2, int64_t t3);

/* The last SP_WIRE_CLOCK_SAMPLES samples; the estimate is the offset of the one with the least
 * round trip (its error is at most half that round trip). */
typedef struct sp_clock {
    sp_clock_sample s[SP_WIRE_CLOCK_SAMPLES];
    size_t n, next;
} sp_clock;

void sp_clock_init(sp_clock *c);
/* Adds a sample; one with a negative round trip (a clock stepped mid-exchange) is dropped. */
void sp_clock_add(sp_clock *c, sp_clock_sample s);
/* 1 and *offset_ns when any sample is kept, else 0. *rtt_ns (may be NULL): that sample's RTT. */
int sp_clock_offset(const sp_clock *c, int64_t *offset_ns, int64_t *rtt_ns);

#endif
