/*
 * wire.c - see wire.h. Decoding reads outside input: the text is size- and depth-checked
 * before Jansson builds a tree, every field is looked up by name with its type checked, and
 * every failure names the field.
 */
#include "engine/wire.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/histogram.h"

/* The most arrivals per second a second may plan (target_rate). */
#define MAX_RATE 1e12

static const char *const type_names[SP_WIRE_NTYPES] = {
    "hello",      "welcome", "refuse", "heartbeat", "time", "assign",
    "set_target", "stop",    "second", "end",       "bye",
};

const char *sp_wire_type_name(sp_wire_type t)
{
    return (unsigned)t < SP_WIRE_NTYPES ? type_names[t] : "?";
}

void sp_wire_msg_init(sp_wire_msg *m, sp_wire_type type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->v = SP_WIRE_PROTOCOL;
    m->csv_count = 1;
    m->last_second = -1;
}

void sp_wire_msg_release(sp_wire_msg *m)
{
    json_decref(m->def);
    json_decref(m->allowlist);
    json_decref(m->files);
    sp_wire_msg_init(m, m->type);
}

/* ---- encoding ---- */

static json_t *u64(uint64_t x)
{
    return json_integer(x > INT64_MAX ? INT64_MAX : (json_int_t)x);
}

/* The packed form of a second (docs/agents-protocol.md, "A second's stats"): lines of decimal
 * tokens, one line per name, so the server reads it in one pass straight into its sp_stats,
 * with no JSON tree to build and free for the hundreds of thousands of values 200 agents x 50
 * names send every second. */
static void add_u64(sp_buf *b, char sepc, uint64_t x)
{
    char tmp[21]; /* a separator and up to 20 digits */
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    tmp[--n] = sepc;
    (void)sp_buf_add(b, tmp + n, sizeof tmp - n);
}

/* A second: its header line, then its stats packed (no JSON: see sp_wire_stats_encode). */
static char *encode_second(const sp_wire_msg *m, const sp_stats *s, size_t *len)
{
    sp_buf b;
    sp_buf_init(&b, SIZE_MAX);
    (void)sp_buf_adds(&b, "second");
    add_u64(&b, ' ', m->v);
    add_u64(&b, ' ', m->run_id);
    add_u64(&b, ' ', m->second);
    (void)sp_buf_add(&b, "\n", 1);
    if (s) {
        sp_wire_stats_encode(s, &b);
    } else {
        /* Re-encoding a decoded second (the fuzz target's check): its body as it came. */
        (void)sp_buf_add(&b, m->body, m->body_len);
    }
    size_t n;
    char *text = sp_buf_detach(&b, &n);
    if (len)
        *len = n;
    return text;
}

char *sp_wire_encode(const sp_wire_msg *m, const sp_stats *s, size_t *len)
{
    if (m->type == SP_WIRE_SECOND)
        return encode_second(m, s, len);
    json_t *j = json_pack("{s:s,s:i}", "type", sp_wire_type_name(m->type), "v", (int)m->v);
    switch (m->type) {
    case SP_WIRE_HELLO:
        json_object_set_new(j, "version", json_string(m->version));
        json_object_set_new(j, "protocol", json_integer(m->v));
        json_object_set_new(j, "name", json_string(m->name));
        json_object_set_new(j, "location", json_string(m->location));
        json_object_set_new(j, "cores", json_integer(m->cores));
        json_object_set_new(j, "threads", json_integer(m->threads));
        json_object_set_new(j, "max_vus", json_integer(m->max_vus));
        break;
    case SP_WIRE_WELCOME:
        json_object_set_new(j, "version", json_string(m->version));
        break;
    case SP_WIRE_REFUSE:
    case SP_WIRE_BYE:
        json_object_set_new(j, "reason", json_string(m->reason));
        if (m->type == SP_WIRE_REFUSE)
            json_object_set_new(j, "version", json_string(m->version));
        break;
    case SP_WIRE_HEARTBEAT:
        if (m->has_health) {
            json_object_set_new(j, "run", u64(m->run_id));
            json_object_set_new(j, "cpu", json_real(isfinite(m->cpu) ? m->cpu : 0));
            json_object_set_new(j, "lag_ms", json_real(isfinite(m->lag_ms) ? m->lag_ms : 0));
            json_object_set_new(j, "dropped", u64(m->dropped));
        }
        if (m->has_offset)
            json_object_set_new(j, "offset_ns", json_integer(m->offset_ns));
        break;
    case SP_WIRE_TIME:
        json_object_set_new(j, "t0", json_integer(m->t0));
        if (m->t1 || m->t2) {
            json_object_set_new(j, "t1", json_integer(m->t1));
            json_object_set_new(j, "t2", json_integer(m->t2));
        }
        break;
    case SP_WIRE_ASSIGN:
        json_object_set_new(j, "run", u64(m->run_id));
        json_object_set(j, "definition", m->def ? m->def : json_null());
        if (m->allowlist)
            json_object_set(j, "allowlist", m->allowlist);
        if (m->files)
            json_object_set(j, "files", m->files);
        json_object_set_new(j, "vu_offset", json_integer(m->vu_offset));
        json_object_set_new(j, "fraction", json_real(m->fraction));
        json_object_set_new(j, "share_from", json_real(m->share_from));
        json_object_set_new(j, "share_to", json_real(m->share_to));
        json_object_set_new(j, "csv_index", json_integer(m->csv_index));
        json_object_set_new(j, "csv_count", json_integer(m->csv_count));
        json_object_set_new(j, "start_ns", json_integer(m->start_ns));
        break;
    case SP_WIRE_SET_TARGET:
        json_object_set_new(j, "run", u64(m->run_id));
        json_object_set_new(j, "target", json_real(m->target));
        json_object_set_new(j, "ramp_ms", json_integer(m->ramp_ms));
        break;
    case SP_WIRE_STOP:
        json_object_set_new(j, "run", u64(m->run_id));
        json_object_set_new(j, "graceful", json_boolean(m->graceful));
        break;
    case SP_WIRE_SECOND: /* encode_second */
        break;
    case SP_WIRE_END:
        json_object_set_new(j, "run", u64(m->run_id));
        json_object_set_new(j, "last_second", json_integer(m->last_second));
        break;
    case SP_WIRE_NTYPES:
        break;
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (len)
        *len = text ? strlen(text) : 0;
    return text;
}

/* ---- decoding ---- */

/* Reading the packed form of a second: a cursor over the untrusted bytes, never past end. */
struct cur {
    const char *p, *end;
    size_t line; /* 1-based, for the reasons */
};
typedef struct cur cur;

typedef struct dec {
    char *err;
    size_t errlen;
} dec;

__attribute__((format(printf, 2, 3))) static int fail(dec *d, const char *fmt, ...)
{
    if (d->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
    }
    return SP_EINVAL;
}

/* An integer field in [lo, hi]. */
static int get_int(dec *d, const json_t *o, const char *key, json_int_t lo, json_int_t hi,
                   int required, json_int_t *out)
{
    const json_t *v = json_object_get(o, key); /* borrowed */
    if (!v) {
        if (required)
            return fail(d, "%s: missing", key);
        return 0;
    }
    if (!json_is_integer(v))
        return fail(d, "%s: must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(d, "%s: %lld is out of range [%lld, %lld]", key, (long long)x, (long long)lo,
                    (long long)hi);
    *out = x;
    return 0;
}

static int get_u32(dec *d, const json_t *o, const char *key, uint32_t hi, int required,
                   uint32_t *out)
{
    json_int_t x = 0;
    int rc = get_int(d, o, key, 0, hi, required, &x);
    if (!rc && json_object_get(o, key))
        *out = (uint32_t)x;
    return rc;
}

static int get_u64(dec *d, const json_t *o, const char *key, int required, uint64_t *out)
{
    json_int_t x = 0;
    int rc = get_int(d, o, key, 0, INT64_MAX, required, &x);
    if (!rc && json_object_get(o, key))
        *out = (uint64_t)x;
    return rc;
}

static int get_num(dec *d, const json_t *o, const char *key, double lo, double hi, int required,
                   double *out)
{
    const json_t *v = json_object_get(o, key); /* borrowed */
    if (!v) {
        if (required)
            return fail(d, "%s: missing", key);
        return 0;
    }
    if (!json_is_number(v))
        return fail(d, "%s: must be a number", key);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return fail(d, "%s: %g is out of range [%g, %g]", key, x, lo, hi);
    *out = x;
    return 0;
}

/* A string field of at most max bytes, printable (no control characters), into buf. */
static int get_str(dec *d, const json_t *o, const char *key, size_t max, int required, char *buf)
{
    const json_t *v = json_object_get(o, key); /* borrowed */
    if (!v) {
        if (required)
            return fail(d, "%s: missing", key);
        return 0;
    }
    if (!json_is_string(v))
        return fail(d, "%s: must be a string", key);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > max)
        return fail(d, "%s: longer than %zu bytes", key, max);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(d, "%s: holds a control character", key);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* A name or location: 1..SP_WIRE_MAX_NAME of [A-Za-z0-9._-], so it is safe in a log line, a
 * URL and a threshold ("near: p95 < 300ms"). */
static int get_name(dec *d, const json_t *o, const char *key, char *buf)
{
    int rc = get_str(d, o, key, SP_WIRE_MAX_NAME, 1, buf);
    if (rc)
        return rc;
    if (!buf[0])
        return fail(d, "%s: must not be empty", key);
    for (const char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return fail(d, "%s: may hold only letters, digits, '.', '_' and '-'", key);
    return 0;
}

static int decode_fields(dec *d, json_t *j, sp_wire_msg *m)
{
    int rc = 0;
    json_int_t x;
    switch (m->type) {
    case SP_WIRE_HELLO:
        if ((rc = get_str(d, j, "version", SP_WIRE_MAX_VERSION, 1, m->version)) ||
            (rc = get_name(d, j, "name", m->name)) ||
            (rc = get_name(d, j, "location", m->location)) ||
            (rc = get_u32(d, j, "cores", 65536, 1, &m->cores)) ||
            (rc = get_u32(d, j, "threads", 65536, 1, &m->threads)) ||
            (rc = get_u32(d, j, "max_vus", SP_DEF_MAX_VUS, 1, &m->max_vus)))
            return rc;
        return 0;
    case SP_WIRE_WELCOME:
        return get_str(d, j, "version", SP_WIRE_MAX_VERSION, 0, m->version);
    case SP_WIRE_REFUSE:
        if ((rc = get_str(d, j, "version", SP_WIRE_MAX_VERSION, 0, m->version)))
            return rc;
        /* fall through */
    case SP_WIRE_BYE:
        return get_str(d, j, "reason", SP_WIRE_MAX_REASON, m->type == SP_WIRE_REFUSE, m->reason);
    case SP_WIRE_HEARTBEAT:
        if (json_object_get(j, "offset_ns")) {
            /* An offset of more than a day is a broken clock, not a measurement. */
            if ((rc = get_int(d, j, "offset_ns", -86400000000000LL, 86400000000000LL, 1, &x)))
                return rc;
            m->has_offset = 1;
            m->offset_ns = x;
        }
        if (!json_object_get(j, "cpu"))
            return 0;
        m->has_health = 1;
        if ((rc = get_u64(d, j, "run", 1, &m->run_id)) ||
            (rc = get_num(d, j, "cpu", 0, 100.0 * 65536, 1, &m->cpu)) ||
            (rc = get_num(d, j, "lag_ms", 0, 1e12, 1, &m->lag_ms)) ||
            (rc = get_u64(d, j, "dropped", 1, &m->dropped)))
            return rc;
        return 0;
    case SP_WIRE_TIME:
        if ((rc = get_int(d, j, "t0", 0, INT64_MAX, 1, &x)))
            return rc;
        m->t0 = x;
        if (json_object_get(j, "t1") || json_object_get(j, "t2")) {
            if ((rc = get_int(d, j, "t1", 0, INT64_MAX, 1, &x)))
                return rc;
            m->t1 = x;
            if ((rc = get_int(d, j, "t2", 0, INT64_MAX, 1, &x)))
                return rc;
            m->t2 = x;
            if (m->t2 < m->t1)
                return fail(d, "t2: earlier than t1");
        }
        return 0;
    case SP_WIRE_ASSIGN: {
        if ((rc = get_u64(d, j, "run", 1, &m->run_id)) ||
            (rc = get_u32(d, j, "vu_offset", SP_DEF_MAX_VUS, 1, &m->vu_offset)) ||
            (rc = get_num(d, j, "fraction", 0, 1, 1, &m->fraction)) ||
            (rc = get_u32(d, j, "csv_count", SP_WIRE_MAX_AGENTS, 1, &m->csv_count)) ||
            (rc = get_u32(d, j, "csv_index", SP_WIRE_MAX_AGENTS, 1, &m->csv_index)))
            return rc;
        if (m->fraction <= 0)
            return fail(d, "fraction: must be above 0");
        if ((rc = get_num(d, j, "share_from", 0, 1, 1, &m->share_from)) ||
            (rc = get_num(d, j, "share_to", 0, 1, 1, &m->share_to)))
            return rc;
        if (m->share_to <= m->share_from)
            return fail(d, "share_to: must be above share_from");
        if (m->csv_count < 1 || m->csv_index >= m->csv_count)
            return fail(d, "csv_index: %u is not below csv_count %u", m->csv_index, m->csv_count);
        if ((rc = get_int(d, j, "start_ns", 0, INT64_MAX, 1, &x)))
            return rc;
        m->start_ns = x;
        json_t *def = json_object_get(j, "definition"); /* borrowed */
        if (!json_is_object(def))
            return fail(d, "definition: must be an object");
        json_t *al = json_object_get(j, "allowlist"); /* borrowed */
        if (al && !json_is_null(al)) {
            if (!json_is_array(al))
                return fail(d, "allowlist: must be an array of strings");
            for (size_t i = 0; i < json_array_size(al); i++)
                if (!json_is_string(json_array_get(al, i)))
                    return fail(d, "allowlist[%zu]: must be a string", i);
            m->allowlist = json_incref(al);
        }
        json_t *files = json_object_get(j, "files"); /* borrowed */
        if (files) {
            const char *path;
            json_t *content;
            if (!json_is_object(files))
                return fail(d, "files: must be an object of paths and contents");
            json_object_foreach(files, path, content)
            {
                if (!json_is_string(content))
                    return fail(d, "files.%.64s: must be a string", path);
            }
            m->files = json_incref(files);
        }
        m->def = json_incref(def);
        return 0;
    }
    case SP_WIRE_SET_TARGET:
        if ((rc = get_u64(d, j, "run", 1, &m->run_id)) ||
            (rc = get_num(d, j, "target", 0, SP_DEF_MAX_VUS * 1000.0, 1, &m->target)) ||
            (rc = get_u32(d, j, "ramp_ms", SP_DEF_MAX_DURATION_S * 1000u, 0, &m->ramp_ms)))
            return rc;
        return 0;
    case SP_WIRE_STOP: {
        if ((rc = get_u64(d, j, "run", 1, &m->run_id)))
            return rc;
        const json_t *g = json_object_get(j, "graceful"); /* borrowed */
        if (!json_is_boolean(g))
            return fail(d, "graceful: must be true or false");
        m->graceful = json_is_true(g);
        return 0;
    }
    case SP_WIRE_SECOND:
        return fail(d, "type: a second is sent packed, not as JSON (protocol %d)",
                    SP_WIRE_PROTOCOL);
    case SP_WIRE_END:
        if ((rc = get_u64(d, j, "run", 1, &m->run_id)) ||
            (rc = get_int(d, j, "last_second", -1, SP_DEF_MAX_DURATION_S + 3600, 1, &x)))
            return rc;
        m->last_second = x;
        return 0;
    case SP_WIRE_NTYPES:
        break;
    }
    return fail(d, "type: unknown");
}

static int tok_u64(dec *d, cur *c, size_t k, const char *field, uint64_t hi, uint64_t *out);
static int tok_eol(dec *d, cur *c, const char *what);

/* "second <v> <run> <second>\n" and the stats after it, which stay in the text (m->body) until
 * the receiver reads them against its run's names with sp_wire_stats_decode. */
static int decode_second(dec *d, const char *text, size_t len, sp_wire_msg *m)
{
    cur c = {text + 6, text + len, 1};
    uint64_t v = 0;
    int rc;
    m->type = SP_WIRE_SECOND;
    if ((rc = tok_u64(d, &c, SIZE_MAX, "v", 1000000, &v)))
        goto out;
    m->v = (uint32_t)v;
    if (m->v != SP_WIRE_PROTOCOL) {
        if (d->errlen)
            snprintf(d->err, d->errlen, "v: protocol %u, this side speaks %d", m->v,
                     SP_WIRE_PROTOCOL);
        return SP_ESTATE;
    }
    if ((rc = tok_u64(d, &c, SIZE_MAX, "run", INT64_MAX, &m->run_id)) ||
        (rc = tok_u64(d, &c, SIZE_MAX, "second", SP_DEF_MAX_DURATION_S + 3600, &m->second)) ||
        (rc = tok_eol(d, &c, "second")))
        goto out;
    m->body = c.p;
    m->body_len = (size_t)(c.end - c.p);
    return 0;
out:
    sp_wire_msg_release(m);
    m->type = SP_WIRE_SECOND;
    return rc;
}

int sp_wire_decode(const char *text, size_t len, sp_wire_msg *m, char *err, size_t errlen)
{
    dec d = {err, err ? errlen : 0};
    json_t *j = NULL;
    int rc = 0;
    sp_wire_msg_init(m, SP_WIRE_NTYPES);
    if (d.errlen)
        err[0] = '\0';
    if (len > SP_WIRE_MAX_BYTES) {
        if (d.errlen)
            snprintf(err, errlen, "message: %zu bytes, more than %u", len, SP_WIRE_MAX_BYTES);
        return SP_ELIMIT;
    }
    if (len >= 7 && memcmp(text, "second ", 7) == 0)
        return decode_second(&d, text, len, m);
    size_t deep = sp_json_too_deep(text, len, SP_WIRE_MAX_DEPTH);
    if (deep != SIZE_MAX) {
        if (d.errlen)
            snprintf(err, errlen, "message: nested deeper than %d levels at byte %zu",
                     SP_WIRE_MAX_DEPTH, deep);
        return SP_ELIMIT;
    }
    json_error_t je;
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        rc = fail(&d, "message: not JSON (%s at byte %d)", je.text, je.position);
        goto out;
    }
    if (!json_is_object(j)) {
        rc = fail(&d, "message: must be a JSON object");
        goto out;
    }
    const json_t *t = json_object_get(j, "type"); /* borrowed */
    if (!json_is_string(t)) {
        rc = fail(&d, "type: must be a string");
        goto out;
    }
    for (int i = 0; i < SP_WIRE_NTYPES; i++)
        if (strcmp(json_string_value(t), type_names[i]) == 0)
            m->type = (sp_wire_type)i;
    if (m->type == SP_WIRE_NTYPES) {
        rc = fail(&d, "type: unknown message type");
        goto out;
    }
    if ((rc = get_u32(&d, j, "v", 1000000, 1, &m->v)))
        goto out;
    if (m->v != SP_WIRE_PROTOCOL) {
        /* Enough to refuse it by name: who it is and what it speaks. */
        if (m->type == SP_WIRE_HELLO) {
            (void)get_str(&d, j, "version", SP_WIRE_MAX_VERSION, 0, m->version);
            (void)get_name(&d, j, "name", m->name);
        } else if (m->type == SP_WIRE_REFUSE) {
            (void)get_str(&d, j, "version", SP_WIRE_MAX_VERSION, 0, m->version);
            (void)get_str(&d, j, "reason", SP_WIRE_MAX_REASON, 0, m->reason);
        }
        if (d.errlen)
            snprintf(err, errlen, "v: protocol %u, this side speaks %d", m->v, SP_WIRE_PROTOCOL);
        json_decref(j);
        return SP_ESTATE;
    }
    rc = decode_fields(&d, j, m);
out:
    json_decref(j);
    if (rc) {
        sp_wire_type type = m->type;
        sp_wire_msg_release(m);
        m->type = type;
    }
    return rc;
}

/* ---- a second's stats ---- */

/* " index:count,index:count", or " -" when every count is 0. */
static void add_pairs(sp_buf *b, const uint64_t *counts, size_t n)
{
    size_t start = b->len;
    for (size_t k = 0; k < n; k++)
        if (counts[k]) {
            add_u64(b, b->len == start ? ' ' : ',', k);
            add_u64(b, ':', counts[k]);
        }
    if (b->len == start)
        (void)sp_buf_add(b, " -", 2);
}

static int utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 9;
        if (k == 9 || (k == 1 && c < 0xc2) || i + k >= n + (k ? 0 : 1))
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

/* A failure message on the rest of its line: control characters become spaces, and a message
 * that is not UTF-8 keeps only its ASCII ('?' for the rest): the frame is a WebSocket text
 * frame, which must be UTF-8. */
static void add_msg(sp_buf *b, const char *msg)
{
    size_t n = strnlen(msg, SP_FAIL_MSG_MAX);
    int utf8 = utf8_valid((const unsigned char *)msg, n);
    (void)sp_buf_reserve(b, n);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)msg[k];
        char o = c < 0x20 || c == 0x7f ? ' ' : (c >= 0x80 && !utf8) ? '?' : (char)c;
        (void)sp_buf_add(b, &o, 1);
    }
}

void sp_wire_stats_encode(const sp_stats *s, sp_buf *b)
{
    char rate[40];
    double tr = isfinite(s->target_rate) && s->target_rate > 0 ? s->target_rate : 0;
    snprintf(rate, sizeof rate, " %.17g", tr > MAX_RATE ? MAX_RATE : tr);
    (void)sp_buf_add(b, "s", 1);
    add_u64(b, ' ', s->iterations);
    add_u64(b, ' ', s->dropped);
    add_u64(b, ' ', s->active_vus);
    add_u64(b, ' ', s->target_vus);
    add_u64(b, ' ', s->lag_us_max);
    add_u64(b, ' ', s->arrivals);
    (void)sp_buf_adds(b, rate);
    add_u64(b, ' ', s->arrivals_late);
    add_u64(b, ' ', s->arrivals_lag_us);
    (void)sp_buf_add(b, "\n", 1);
    size_t nb = sp_hist_buckets();
    for (size_t i = 0; i < s->nnames; i++) {
        const sp_name_stats *n = &s->names[i];
        /* Sparse: a name with nothing in this second is left out. */
        if (!n->requests && !n->nmsgs && !n->msgs_dropped && !sp_hist_count(n->hist))
            continue;
        (void)sp_buf_add(b, "n", 1);
        add_u64(b, ' ', i);
        add_u64(b, ' ', n->group ? 1 : 0);
        add_u64(b, ' ', n->requests);
        add_u64(b, ' ', n->failures);
        add_u64(b, ' ', n->bytes_in);
        add_u64(b, ' ', n->bytes_out);
        add_u64(b, ' ', n->msgs_dropped);
        add_u64(b, ' ', sp_hist_min(n->hist));
        add_u64(b, ' ', sp_hist_max(n->hist));
        add_u64(b, ' ', sp_hist_sum(n->hist));
        add_pairs(b, n->status, SP_STATUS_MAX);
        add_pairs(b, n->errors, SP_ERRK_COUNT);
        size_t start = b->len;
        if (sp_hist_count(n->hist))
            for (size_t k = sp_hist_bucket_of(sp_hist_min(n->hist)),
                        hi = sp_hist_bucket_of(sp_hist_max(n->hist));
                 k <= hi && k < nb; k++) {
                uint64_t c = sp_hist_bucket_count(n->hist, k);
                if (c) {
                    add_u64(b, b->len == start ? ' ' : ',', k);
                    add_u64(b, ':', c);
                }
            }
        if (b->len == start)
            (void)sp_buf_add(b, " -", 2);
        (void)sp_buf_add(b, "\n", 1);
        for (size_t k = 0; k < n->nmsgs; k++) {
            (void)sp_buf_add(b, "m", 1);
            add_u64(b, ' ', n->msgs[k].count);
            (void)sp_buf_add(b, " ", 1);
            add_msg(b, n->msgs[k].msg);
            (void)sp_buf_add(b, "\n", 1);
        }
    }
}

static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *q = *p;
    uint64_t v = 0;
    if (q == end || *q < '0' || *q > '9')
        return -1;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    *p = q;
    *out = v;
    return 0;
}

/* " <decimal>" at most hi, into *out. The field's name, for a reason only: "names[k].field",
 * or "field" when k is NOWHERE (formatting it for every token would cost more than reading). */
#define NOWHERE SIZE_MAX
static int tok_u64(dec *d, cur *c, size_t k, const char *field, uint64_t hi, uint64_t *out)
{
    char f[64];
    if (c->p < c->end && *c->p == ' ') {
        c->p++;
        if (!parse_u64(&c->p, c->end, out) && (c->p == c->end || *c->p == ' ' || *c->p == '\n')) {
            if (*out <= hi)
                return 0;
            if (k == NOWHERE)
                snprintf(f, sizeof f, "%s", field);
            else
                snprintf(f, sizeof f, "names[%zu].%s", k, field);
            return fail(d, "%s: %llu is more than %llu", f, (unsigned long long)*out,
                        (unsigned long long)hi);
        }
        if (k == NOWHERE)
            snprintf(f, sizeof f, "%s", field);
        else
            snprintf(f, sizeof f, "names[%zu].%s", k, field);
        return fail(d, "%s: must be a whole number from 0 (line %zu)", f, c->line);
    }
    if (k == NOWHERE)
        snprintf(f, sizeof f, "%s", field);
    else
        snprintf(f, sizeof f, "names[%zu].%s", k, field);
    return fail(d, "%s: missing (line %zu)", f, c->line);
}

/* The end of a line: '\n', nothing else before it. */
static int tok_eol(dec *d, cur *c, const char *what)
{
    if (c->p == c->end || *c->p != '\n')
        return fail(d, "%s: the line must end here (line %zu)", what, c->line);
    c->p++;
    c->line++;
    return 0;
}

static int add_ovf(uint64_t *acc, uint64_t x)
{
    return __builtin_add_overflow(*acc, x, acc);
}

/* " -" or " index:count,index:count..." with index < limit and strictly increasing, count from
 * 1, at most maxn pairs and what is left of the message's budget; put() takes each pair. */
static int pairs(dec *d, cur *c, const char *key, size_t i, size_t limit, size_t maxn,
                 size_t *budget, void (*put)(void *, size_t, uint64_t), void *ud, uint64_t *total)
{
    *total = 0;
    if (c->p == c->end || *c->p++ != ' ')
        return fail(d, "names[%zu].%s: missing", i, key);
    if (c->p < c->end && *c->p == '-') {
        c->p++;
        return 0;
    }
    uint64_t prev = 0;
    size_t n = 0;
    for (;;) {
        uint64_t idx, cnt;
        if (parse_u64(&c->p, c->end, &idx) || c->p == c->end || *c->p++ != ':' ||
            parse_u64(&c->p, c->end, &cnt))
            return fail(d, "names[%zu].%s: pair %zu: must be index:count", i, key, n);
        if (n >= maxn || n >= *budget)
            return fail(d, "names[%zu].%s: too many entries", i, key);
        if (idx >= limit)
            return fail(d, "names[%zu].%s: pair %zu: index %llu is outside [0, %zu)", i, key, n,
                        (unsigned long long)idx, limit);
        if (n && idx <= prev)
            return fail(d, "names[%zu].%s: pair %zu: indexes must increase", i, key, n);
        if (cnt < 1 || cnt > INT64_MAX)
            return fail(d, "names[%zu].%s: pair %zu: count must be from 1", i, key, n);
        if (add_ovf(total, cnt))
            return fail(d, "names[%zu].%s: counts overflow", i, key);
        prev = idx;
        put(ud, (size_t)idx, cnt);
        n++;
        if (c->p == c->end || *c->p != ',')
            break;
        c->p++;
    }
    *budget -= n;
    return 0;
}

static void put_status(void *ud, size_t i, uint64_t c)
{
    ((sp_name_stats *)ud)->status[i] = c;
}

static void put_error(void *ud, size_t i, uint64_t c)
{
    ((sp_name_stats *)ud)->errors[i] = c;
}

/* The histogram being rebuilt and the first and last buckets put into it. */
typedef struct hist_put {
    sp_hist *h;
    size_t first, last, n;
} hist_put;

static void put_bucket(void *ud, size_t i, uint64_t c)
{
    hist_put *hp = ud;
    sp_hist_add_bucket(hp->h, i, c);
    if (!hp->n++)
        hp->first = i;
    hp->last = i;
}

/* One "n" line (its leading "n" read), the k-th of the message. */
static int decode_name(dec *d, cur *c, size_t k, sp_stats *out, size_t *budget, unsigned char *seen,
                       sp_name_stats **which)
{
    int rc;
    uint64_t idx, group;
    char f[48];
    if ((rc = tok_u64(d, c, k, "i", UINT64_MAX, &idx)))
        return rc;
    if (idx >= out->nnames)
        return fail(d, "names[%zu].i: %llu is not a name of this run", k, (unsigned long long)idx);
    if (seen[idx])
        return fail(d, "names[%zu].i: name %llu comes twice", k, (unsigned long long)idx);
    seen[idx] = 1;
    sp_name_stats *n = &out->names[idx];
    *which = n;
    static const char *const fields[] = {"group",    "requests",  "failures",
                                         "bytes_in", "bytes_out", "msgs_dropped",
                                         "hist.min", "hist.max",  "hist.sum"};
    uint64_t v[SP_ARRAY_LEN(fields)];
    for (size_t j = 0; j < SP_ARRAY_LEN(fields); j++) {
        if ((rc = tok_u64(d, c, k, fields[j], j == 0 ? 1 : INT64_MAX, &v[j])))
            return rc;
    }
    group = v[0];
    n->group = (uint8_t)group;
    n->requests = v[1];
    n->failures = v[2];
    n->bytes_in = v[3];
    n->bytes_out = v[4];
    n->msgs_dropped = v[5];
    if (n->failures > n->requests)
        return fail(d, "names[%zu].failures: more than its requests", k);
    uint64_t total;
    if ((rc = pairs(d, c, "status", k, SP_STATUS_MAX, SP_WIRE_MAX_STATUS, budget, put_status, n,
                    &total)))
        return rc;
    if (total != n->requests)
        return fail(d, "names[%zu].status: counts add up to %llu, not to its %llu requests", k,
                    (unsigned long long)total, (unsigned long long)n->requests);
    if ((rc = pairs(d, c, "errors", k, SP_ERRK_COUNT, SP_ERRK_COUNT, budget, put_error, n, &total)))
        return rc;
    if (total != n->failures)
        return fail(d, "names[%zu].errors: counts add up to %llu, not to its %llu failures", k,
                    (unsigned long long)total, (unsigned long long)n->failures);
    hist_put hp = {n->hist, 0, 0, 0};
    if ((rc = pairs(d, c, "hist.b", k, sp_hist_buckets(), SIZE_MAX, budget, put_bucket, &hp,
                    &total)))
        return rc;
    if (total != n->requests)
        return fail(d, "names[%zu].hist: counts add up to %llu, not to its %llu requests", k,
                    (unsigned long long)total, (unsigned long long)n->requests);
    if (sp_hist_set_exact(n->hist, v[6], v[7], v[8], hp.first, hp.last))
        return fail(d, "names[%zu].hist: min, max or sum do not fit its buckets", k);
    if (c->p == c->end || *c->p != '\n') {
        snprintf(f, sizeof f, "names[%zu]", k);
        return tok_eol(d, c, f);
    }
    c->p++;
    c->line++;
    return 0;
}

/* One "m" line (its leading "m" read): a failure message of the name before it. */
static int decode_msg(dec *d, cur *c, size_t k, sp_name_stats *n)
{
    char f[48];
    uint64_t count;
    int rc;
    snprintf(f, sizeof f, "msgs[%zu].count", n->nmsgs);
    if ((rc = tok_u64(d, c, k, f, INT64_MAX, &count)))
        return rc;
    if (!count)
        return fail(d, "names[%zu].msgs[%zu].count: must be from 1", k, n->nmsgs);
    if (n->nmsgs >= SP_FAIL_MSGS_PER_NAME)
        return fail(d, "names[%zu].msgs: more than %d", k, SP_FAIL_MSGS_PER_NAME);
    if (c->p == c->end || *c->p++ != ' ')
        return fail(d, "names[%zu].msgs[%zu]: must be 'm count message'", k, n->nmsgs);
    const char *s = c->p;
    while (c->p < c->end && *c->p != '\n') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20 || ch == 0x7f)
            return fail(d, "names[%zu].msgs[%zu]: holds a control character", k, n->nmsgs);
        if ((size_t)(c->p - s) >= SP_FAIL_MSG_MAX)
            return fail(d, "names[%zu].msgs[%zu]: longer than %d bytes", k, n->nmsgs,
                        SP_FAIL_MSG_MAX);
        c->p++;
    }
    size_t len = (size_t)(c->p - s);
    snprintf(f, sizeof f, "names[%zu].msgs[%zu]", k, n->nmsgs);
    if ((rc = tok_eol(d, c, f)))
        return rc;
    n->msgs[n->nmsgs].msg = sp_strndup(s, len);
    n->msgs[n->nmsgs].count = count;
    n->nmsgs++;
    return 0;
}

int sp_wire_stats_decode(const char *body, size_t len, size_t nnames, sp_stats *out, char *err,
                         size_t errlen)
{
    dec d = {err, err ? errlen : 0};
    int rc = 0;
    unsigned char *seen = NULL;
    cur c = {body, body + len, 2}; /* line 1 is the message's header */
    sp_stats_reset(out);
    if (d.errlen)
        err[0] = '\0';
    if (out->nnames != nnames) {
        rc = fail(&d, "stats: the receiver holds %zu names, not %zu", out->nnames, nnames);
        goto out;
    }
    if (!body || c.p == c.end || *c.p++ != 's') {
        rc = fail(&d, "stats: the line must start with 's' (line 2)");
        goto out;
    }
    static const char *const fields[] = {"iterations", "dropped",    "active_vus",
                                         "target_vus", "lag_us_max", "arrivals"};
    uint64_t v[SP_ARRAY_LEN(fields)];
    for (size_t j = 0; j < SP_ARRAY_LEN(fields); j++) {
        uint64_t hi = j == 2 || j == 3 ? SP_DEF_MAX_VUS : INT64_MAX;
        if ((rc = tok_u64(&d, &c, NOWHERE, fields[j], hi, &v[j])))
            goto out;
    }
    out->iterations = v[0];
    out->dropped = v[1];
    out->active_vus = (uint32_t)v[2];
    out->target_vus = (uint32_t)v[3];
    out->lag_us_max = v[4];
    out->arrivals = v[5];
    /* target_rate: a decimal number, [0-9.eE+-] only (strtod alone would take "inf", "nan"
     * and hex), copied out because the body is not NUL-terminated. */
    char num[40];
    size_t nl = 0;
    if (c.p < c.end && *c.p == ' ')
        c.p++;
    else
        nl = sizeof num;
    while (nl < sizeof num && c.p < c.end && strchr("0123456789.eE+-", *c.p) && *c.p)
        num[nl++] = *c.p++;
    char *endp = NULL;
    double rate = 0;
    if (nl > 0 && nl < sizeof num) {
        num[nl] = '\0';
        rate = strtod(num, &endp);
    }
    if (!endp || *endp || !isfinite(rate) || rate < 0 || rate > MAX_RATE ||
        (c.p < c.end && *c.p != ' ')) {
        rc = fail(&d, "target_rate: must be a number in [0, %g]", MAX_RATE);
        goto out;
    }
    out->target_rate = rate;
    if ((rc = tok_u64(&d, &c, NOWHERE, "arrivals_late", INT64_MAX, &out->arrivals_late)) ||
        (rc = tok_u64(&d, &c, NOWHERE, "arrivals_lag_us", INT64_MAX, &out->arrivals_lag_us)) ||
        (rc = tok_eol(&d, &c, "stats")))
        goto out;
    seen = sp_calloc(nnames ? nnames : 1, 1);
    size_t budget = SP_WIRE_MAX_BUCKETS, k = 0;
    sp_name_stats *last = NULL;
    while (c.p < c.end) {
        char t = *c.p++;
        if (t == 'n') {
            if (k >= nnames) {
                rc = fail(&d, "names: more than the run's %zu", nnames);
                goto out;
            }
            if ((rc = decode_name(&d, &c, k, out, &budget, seen, &last)))
                goto out;
            k++;
        } else if (t == 'm' && last) {
            if ((rc = decode_msg(&d, &c, k - 1, last)))
                goto out;
        } else {
            rc = fail(&d, "stats: line %zu must start with 'n', or 'm' after a name", c.line);
            goto out;
        }
    }
out:
    if (rc) {
        /* sp_stats_reset skips a name with no requests and no messages, but a refused name may
         * have left other counts behind (failures, status counts, bytes): every name this second
         * touched is cleared whole, or a hostile second's leftovers would count in the next. */
        for (size_t i = 0; seen && i < nnames; i++)
            if (seen[i]) {
                sp_name_stats_release(&out->names[i]);
                sp_name_stats_init(&out->names[i]);
            }
        sp_stats_reset(out);
    }
    free(seen);
    return rc;
}

/* ---- clock offset ---- */

sp_clock_sample sp_clock_sample_of(int64_t t0, int64_t t1, int64_t t2, int64_t t3)
{
    sp_clock_sample s;
    /* Halves first: the sums of two realtime stamps would overflow nothing, but differences of
     * hostile ones might, so each difference is taken alone. */
    s.offset_ns = (t1 - t0) / 2 + (t2 - t3) / 2;
    s.rtt_ns = (t3 - t0) - (t2 - t1);
    return s;
}

void sp_clock_init(sp_clock *c)
{
    memset(c, 0, sizeof *c);
}

void sp_clock_add(sp_clock *c, sp_clock_sample s)
{
    if (s.rtt_ns < 0)
        return;
    c->s[c->next] = s;
    c->next = (c->next + 1) % SP_WIRE_CLOCK_SAMPLES;
    if (c->n < SP_WIRE_CLOCK_SAMPLES)
        c->n++;
}

int sp_clock_offset(const sp_clock *c, int64_t *offset_ns, int64_t *rtt_ns)
{
    if (!c->n)
        return 0;
    size_t best = 0;
    for (size_t i = 1; i < c->n; i++)
        if (c->s[i].rtt_ns < c->s[best].rtt_ns)
            best = i;
    *offset_ns = c->s[best].offset_ns;
    if (rtt_ns)
        *rtt_ns = c->s[best].rtt_ns;
    return 1;
}
