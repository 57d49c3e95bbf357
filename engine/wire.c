/*
 * wire.c - see wire.h. Decoding reads outside input: the text is size- and depth-checked
 * before Jansson builds a tree, every field is looked up by name with its type checked, and
 * every failure names the field.
 */
#include "engine/wire.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/common.h"
#include "engine/histogram.h"

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
    json_decref(m->stats);
    sp_wire_msg_init(m, m->type);
}

/* ---- encoding ---- */

static json_t *u64(uint64_t x)
{
    return json_integer(x > INT64_MAX ? INT64_MAX : (json_int_t)x);
}

json_t *sp_wire_stats_encode(const sp_stats *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "iterations", u64(s->iterations));
    json_object_set_new(j, "dropped", u64(s->dropped));
    json_object_set_new(j, "active_vus", u64(s->active_vus));
    json_object_set_new(j, "target_vus", u64(s->target_vus));
    json_object_set_new(j, "lag_us_max", u64(s->lag_us_max));
    json_object_set_new(j, "arrivals", u64(s->arrivals));
    json_object_set_new(j, "target_rate", json_real(isfinite(s->target_rate) ? s->target_rate : 0));
    json_object_set_new(j, "arrivals_late", u64(s->arrivals_late));
    json_object_set_new(j, "arrivals_lag_us", u64(s->arrivals_lag_us));
    json_t *names = json_array();
    sp_buf pb; /* the pair lists, one at a time */
    sp_buf_init(&pb, SIZE_MAX);
    for (size_t i = 0; i < s->nnames; i++) {
        const sp_name_stats *n = &s->names[i];
        /* Sparse: a name with nothing in this second is left out. */
        if (!n->requests && !n->nmsgs && !n->msgs_dropped && !sp_hist_count(n->hist))
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "i", u64(i));
        if (n->group)
            json_object_set_new(o, "group", json_true());
        json_object_set_new(o, "requests", u64(n->requests));
        json_object_set_new(o, "failures", u64(n->failures));
        sp_buf_reset(&pb);
        for (size_t c = 0; c < SP_STATUS_MAX; c++)
            if (n->status[c])
                (void)sp_buf_addf(&pb, "%s%zu:%llu", pb.len ? "," : "", c,
                                  (unsigned long long)n->status[c]);
        json_object_set_new(o, "status", json_stringn(pb.p ? pb.p : "", pb.len));
        sp_buf_reset(&pb);
        for (size_t k = 0; k < SP_ERRK_COUNT; k++)
            if (n->errors[k])
                (void)sp_buf_addf(&pb, "%s%zu:%llu", pb.len ? "," : "", k,
                                  (unsigned long long)n->errors[k]);
        json_object_set_new(o, "errors", json_stringn(pb.p ? pb.p : "", pb.len));
        json_object_set_new(o, "bytes_in", u64(n->bytes_in));
        json_object_set_new(o, "bytes_out", u64(n->bytes_out));
        json_t *ms = json_array();
        for (size_t k = 0; k < n->nmsgs; k++)
            json_array_append_new(ms, json_pack("[so]", n->msgs[k].msg, u64(n->msgs[k].count)));
        json_object_set_new(o, "msgs", ms);
        json_object_set_new(o, "msgs_dropped", u64(n->msgs_dropped));
        sp_buf_reset(&pb);
        size_t nb = sp_hist_buckets();
        for (size_t k = 0; k < nb; k++) {
            uint64_t c = sp_hist_bucket_count(n->hist, k);
            if (c)
                (void)sp_buf_addf(&pb, "%s%zu:%llu", pb.len ? "," : "", k, (unsigned long long)c);
        }
        json_t *b = json_stringn(pb.p ? pb.p : "", pb.len);
        json_object_set_new(o, "hist",
                            json_pack("{s:o,s:o,s:o,s:o}", "min", u64(sp_hist_min(n->hist)), "max",
                                      u64(sp_hist_max(n->hist)), "sum", u64(sp_hist_sum(n->hist)),
                                      "b", b));
        json_array_append_new(names, o);
    }
    sp_buf_release(&pb);
    json_object_set_new(j, "names", names);
    return j;
}

char *sp_wire_encode(const sp_wire_msg *m, const sp_stats *s, size_t *len)
{
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
    case SP_WIRE_SECOND:
        json_object_set_new(j, "run", u64(m->run_id));
        json_object_set_new(j, "second", u64(m->second));
        json_object_set_new(j, "stats", s ? sp_wire_stats_encode(s) : json_object());
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
    case SP_WIRE_SECOND: {
        if ((rc = get_u64(d, j, "run", 1, &m->run_id)) ||
            (rc = get_u64(d, j, "second", 1, &m->second)))
            return rc;
        if (m->second > SP_DEF_MAX_DURATION_S + 3600)
            return fail(d, "second: %llu is past any run's end", (unsigned long long)m->second);
        json_t *st = json_object_get(j, "stats"); /* borrowed */
        if (!json_is_object(st))
            return fail(d, "stats: must be an object");
        m->stats = json_incref(st);
        return 0;
    }
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

/* Puts "names[i]." before the reason a field check left in d->err. */
static int in_name(dec *d, size_t i)
{
    char inner[SP_WIRE_MAX_REASON];
    snprintf(inner, sizeof inner, "%s", d->errlen ? d->err : "");
    return fail(d, "names[%zu].%s", i, inner);
}

static int add_ovf(uint64_t *acc, uint64_t x)
{
    return __builtin_add_overflow(*acc, x, acc);
}

/* An array of [index, count] pairs with index < limit, strictly increasing, count >= 1. */
/* A list of "index:count" pairs, comma-separated, in one string ("378:1,431:2"): a second of
 * many names and buckets is one token each, not thousands of JSON values to allocate. Indexes
 * are < limit and strictly increasing, counts >= 1, both decimal without sign or spaces. */
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

static int pairs(dec *d, const json_t *a, const char *key, size_t i, size_t limit, size_t maxn,
                 size_t *budget, void (*put)(void *, size_t, uint64_t), void *ud, uint64_t *total)
{
    if (!json_is_string(a))
        return fail(d, "names[%zu].%s: must be a string of index:count pairs", i, key);
    const char *p = json_string_value(a), *end = p + json_string_length(a);
    uint64_t prev = 0;
    size_t n = 0;
    *total = 0;
    while (p < end) {
        uint64_t idx, c;
        if (n && *p++ != ',')
            return fail(d, "names[%zu].%s: pair %zu: expected ','", i, key, n);
        if (parse_u64(&p, end, &idx) || p == end || *p++ != ':' || parse_u64(&p, end, &c))
            return fail(d, "names[%zu].%s: pair %zu: must be index:count", i, key, n);
        if (n >= maxn || n >= *budget)
            return fail(d, "names[%zu].%s: too many entries", i, key);
        if (idx >= limit)
            return fail(d, "names[%zu].%s: pair %zu: index %llu is outside [0, %zu)", i, key, n,
                        (unsigned long long)idx, limit);
        if (n && idx <= prev)
            return fail(d, "names[%zu].%s: pair %zu: indexes must increase", i, key, n);
        if (c < 1 || c > INT64_MAX)
            return fail(d, "names[%zu].%s: pair %zu: count must be from 1", i, key, n);
        if (add_ovf(total, c))
            return fail(d, "names[%zu].%s: counts overflow", i, key);
        prev = idx;
        put(ud, (size_t)idx, c);
        n++;
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

static int decode_name(dec *d, const json_t *o, size_t i, sp_stats *out, size_t *budget,
                       unsigned char *seen)
{
    int rc;
    json_int_t idx;
    if (!json_is_object(o))
        return fail(d, "names[%zu]: must be an object", i);
    if ((rc = get_int(d, o, "i", 0, (json_int_t)out->nnames - 1, 1, &idx)))
        return fail(d, "names[%zu].i: missing or not a name of this run", i);
    if (seen[idx])
        return fail(d, "names[%zu].i: name %lld comes twice", i, (long long)idx);
    seen[idx] = 1;
    sp_name_stats *n = &out->names[idx];
    const json_t *g = json_object_get(o, "group"); /* borrowed */
    if (g && !json_is_boolean(g))
        return fail(d, "names[%zu].group: must be true or false", i);
    n->group = json_is_true(g);
    if ((rc = get_u64(d, o, "requests", 1, &n->requests)) ||
        (rc = get_u64(d, o, "failures", 1, &n->failures)) ||
        (rc = get_u64(d, o, "bytes_in", 1, &n->bytes_in)) ||
        (rc = get_u64(d, o, "bytes_out", 1, &n->bytes_out)) ||
        (rc = get_u64(d, o, "msgs_dropped", 1, &n->msgs_dropped)))
        return in_name(d, i);
    if (n->failures > n->requests)
        return fail(d, "names[%zu].failures: more than its requests", i);
    uint64_t total;
    if ((rc = pairs(d, json_object_get(o, "status"), "status", i, SP_STATUS_MAX, SP_WIRE_MAX_STATUS,
                    budget, put_status, n, &total)))
        return rc;
    if (total != n->requests)
        return fail(d, "names[%zu].status: counts add up to %llu, not to its %llu requests", i,
                    (unsigned long long)total, (unsigned long long)n->requests);
    if ((rc = pairs(d, json_object_get(o, "errors"), "errors", i, SP_ERRK_COUNT, SP_ERRK_COUNT,
                    budget, put_error, n, &total)))
        return rc;
    if (total != n->failures)
        return fail(d, "names[%zu].errors: counts add up to %llu, not to its %llu failures", i,
                    (unsigned long long)total, (unsigned long long)n->failures);
    const json_t *ms = json_object_get(o, "msgs"); /* borrowed */
    if (!json_is_array(ms) || json_array_size(ms) > SP_FAIL_MSGS_PER_NAME)
        return fail(d, "names[%zu].msgs: must be an array of at most %d", i, SP_FAIL_MSGS_PER_NAME);
    for (size_t k = 0; k < json_array_size(ms); k++) {
        const json_t *p = json_array_get(ms, k); /* borrowed */
        const json_t *pm = json_array_get(p, 0), *pc = json_array_get(p, 1);
        if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_string(pm) ||
            !json_is_integer(pc) || json_integer_value(pc) < 1 ||
            json_string_length(pm) > SP_FAIL_MSG_MAX)
            return fail(d, "names[%zu].msgs[%zu]: must be [message, count]", i, k);
        n->msgs[n->nmsgs].msg = sp_strndup(json_string_value(pm), json_string_length(pm));
        n->msgs[n->nmsgs].count = (uint64_t)json_integer_value(pc);
        n->nmsgs++;
    }
    const json_t *h = json_object_get(o, "hist"); /* borrowed */
    if (!json_is_object(h))
        return fail(d, "names[%zu].hist: must be an object", i);
    uint64_t min = 0, max = 0, sum = 0;
    if ((rc = get_u64(d, h, "min", 1, &min)) || (rc = get_u64(d, h, "max", 1, &max)) ||
        (rc = get_u64(d, h, "sum", 1, &sum)))
        return in_name(d, i);
    hist_put hp = {n->hist, 0, 0, 0};
    if ((rc = pairs(d, json_object_get(h, "b"), "hist.b", i, sp_hist_buckets(), SIZE_MAX, budget,
                    put_bucket, &hp, &total)))
        return rc;
    if (total != n->requests)
        return fail(d, "names[%zu].hist: counts add up to %llu, not to its %llu requests", i,
                    (unsigned long long)total, (unsigned long long)n->requests);
    if (sp_hist_set_exact(n->hist, min, max, sum, hp.first, hp.last))
        return fail(d, "names[%zu].hist: min, max or sum do not fit its buckets", i);
    return 0;
}

int sp_wire_stats_decode(const json_t *j, size_t nnames, sp_stats *out, char *err, size_t errlen)
{
    dec d = {err, err ? errlen : 0};
    int rc = 0;
    unsigned char *seen = NULL;
    sp_stats_reset(out);
    if (d.errlen)
        err[0] = '\0';
    if (out->nnames != nnames) {
        rc = fail(&d, "stats: the receiver holds %zu names, not %zu", out->nnames, nnames);
        goto out;
    }
    if (!json_is_object(j)) {
        rc = fail(&d, "stats: must be an object");
        goto out;
    }
    uint64_t active = 0, target = 0;
    if ((rc = get_u64(&d, j, "iterations", 1, &out->iterations)) ||
        (rc = get_u64(&d, j, "dropped", 1, &out->dropped)) ||
        (rc = get_u64(&d, j, "active_vus", 1, &active)) ||
        (rc = get_u64(&d, j, "target_vus", 1, &target)) ||
        (rc = get_u64(&d, j, "lag_us_max", 1, &out->lag_us_max)) ||
        (rc = get_u64(&d, j, "arrivals", 1, &out->arrivals)) ||
        (rc = get_num(&d, j, "target_rate", 0, 1e12, 1, &out->target_rate)) ||
        (rc = get_u64(&d, j, "arrivals_late", 1, &out->arrivals_late)) ||
        (rc = get_u64(&d, j, "arrivals_lag_us", 1, &out->arrivals_lag_us)))
        goto out;
    if (active > SP_DEF_MAX_VUS || target > SP_DEF_MAX_VUS) {
        rc = fail(&d, "active_vus: more than %d", SP_DEF_MAX_VUS);
        goto out;
    }
    out->active_vus = (uint32_t)active;
    out->target_vus = (uint32_t)target;
    const json_t *names = json_object_get(j, "names"); /* borrowed */
    if (!json_is_array(names) || json_array_size(names) > nnames) {
        rc = fail(&d, "names: must be an array of at most %zu", nnames);
        goto out;
    }
    seen = sp_calloc(nnames ? nnames : 1, 1);
    size_t budget = SP_WIRE_MAX_BUCKETS;
    for (size_t i = 0; i < json_array_size(names); i++)
        if ((rc = decode_name(&d, json_array_get(names, i), i, out, &budget, seen)))
            goto out;
out:
    free(seen);
    if (rc)
        sp_stats_reset(out);
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
