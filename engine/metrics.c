/*
 * metrics.c - see metrics.h.
 */
#include "engine/metrics.h"

#include <stdlib.h>
#include <string.h>

const char *sp_errkind_name(sp_errkind k)
{
    switch (k) {
    case SP_ERRK_TIMEOUT:
        return "timeout";
    case SP_ERRK_CONNREFUSED:
        return "connect_refused";
    case SP_ERRK_RESET:
        return "reset";
    case SP_ERRK_DNS:
        return "dns";
    case SP_ERRK_TLS:
        return "tls";
    case SP_ERRK_HTTP_STATUS:
        return "http_status";
    case SP_ERRK_ASSERTION:
        return "assertion";
    case SP_ERRK_TOO_LARGE:
        return "too_large";
    case SP_ERRK_OTHER:
        return "other";
    case SP_ERRK_BLOCKED:
        return "blocked";
    case SP_ERRK_REGEX_LIMIT:
        return "regex_limit";
    case SP_ERRK_H2_RESET:
        return "stream_reset";
    case SP_ERRK_H2:
        return "http2";
    case SP_ERRK_NOT_H2:
        return "not_http2";
    case SP_ERRK_COUNT:
        break;
    }
    return "other";
}

void sp_name_stats_init(sp_name_stats *n)
{
    memset(n, 0, sizeof(*n));
    /* Allocated up front rather than on first use: readers (thresholds, the store) may look at
     * any name's histogram, and an empty one answers 0 everywhere. */
    n->hist = sp_hist_new();
}

static void free_msgs(sp_name_stats *n)
{
    for (size_t i = 0; i < n->nmsgs; i++)
        free(n->msgs[i].msg);
    n->nmsgs = 0;
}

void sp_name_stats_release(sp_name_stats *n)
{
    free_msgs(n);
    sp_hist_free(n->hist);
    sp_hist_free(n->connect_hist);
    memset(n, 0, sizeof(*n));
}

static void name_stats_reset(sp_name_stats *n)
{
    sp_hist *h = n->hist, *ch = n->connect_hist;
    uint8_t group = n->group;
    free_msgs(n);
    sp_hist_reset(h);
    if (ch && n->connects)
        sp_hist_reset(ch);
    memset(n, 0, sizeof(*n));
    n->hist = h;
    n->connect_hist = ch; /* kept: a worker's stats are reused every second */
    n->group = group;
}

/* The length of msg cut to SP_FAIL_MSG_MAX bytes, never in the middle of a UTF-8 sequence. */
static size_t msg_len(const char *msg)
{
    size_t len = strnlen(msg, SP_FAIL_MSG_MAX + 1);
    if (len <= SP_FAIL_MSG_MAX)
        return len;
    len = SP_FAIL_MSG_MAX;
    while (len > 0 && ((unsigned char)msg[len] & 0xC0) == 0x80)
        len--;
    return len;
}

static void add_msg(sp_name_stats *n, const char *msg, uint64_t count)
{
    size_t len = msg_len(msg);
    for (size_t i = 0; i < n->nmsgs; i++) {
        if (strlen(n->msgs[i].msg) == len && memcmp(n->msgs[i].msg, msg, len) == 0) {
            n->msgs[i].count += count;
            return;
        }
    }
    if (n->nmsgs >= SP_FAIL_MSGS_PER_NAME) {
        n->msgs_dropped += count;
        return;
    }
    n->msgs[n->nmsgs].msg = sp_strndup(msg, len);
    n->msgs[n->nmsgs].count = count;
    n->nmsgs++;
}

void sp_name_stats_record(sp_name_stats *n, uint64_t latency_us, int status, int kind,
                          const char *msg, uint64_t bytes_in, uint64_t bytes_out)
{
    sp_hist_record(n->hist, latency_us);
    n->requests++;
    if (status < 0 || status >= SP_STATUS_MAX)
        status = 0;
    n->status[status]++;
    if (kind >= 0) {
        n->failures++;
        n->errors[kind < SP_ERRK_COUNT ? kind : SP_ERRK_OTHER]++;
        if (msg)
            add_msg(n, msg, 1);
    }
    n->bytes_in += bytes_in;
    n->bytes_out += bytes_out;
}

void sp_name_stats_record_connect(sp_name_stats *n, uint64_t connect_us)
{
    if (!n->connect_hist)
        n->connect_hist = sp_hist_new();
    sp_hist_record(n->connect_hist, connect_us);
    n->connects++;
}

void sp_name_stats_record_group(sp_name_stats *n, uint64_t duration_us, int kind, const char *msg)
{
    n->group = 1;
    sp_name_stats_record(n, duration_us, 0, kind, msg, 0, 0);
}

void sp_name_stats_merge(sp_name_stats *dst, const sp_name_stats *src)
{
    dst->group |= src->group;
    sp_hist_merge(dst->hist, src->hist);
    dst->requests += src->requests;
    dst->failures += src->failures;
    for (size_t i = 0; i < SP_STATUS_MAX; i++)
        dst->status[i] += src->status[i];
    for (size_t i = 0; i < SP_ERRK_COUNT; i++)
        dst->errors[i] += src->errors[i];
    dst->bytes_in += src->bytes_in;
    dst->bytes_out += src->bytes_out;
    if (src->connects) {
        if (!dst->connect_hist)
            dst->connect_hist = sp_hist_new();
        sp_hist_merge(dst->connect_hist, src->connect_hist);
        dst->connects += src->connects;
    }
    for (size_t i = 0; i < src->nmsgs; i++)
        add_msg(dst, src->msgs[i].msg, src->msgs[i].count);
    dst->msgs_dropped += src->msgs_dropped;
}

void sp_stats_init(sp_stats *s, size_t nnames)
{
    memset(s, 0, sizeof(*s));
    s->nnames = nnames;
    s->names = sp_calloc(nnames ? nnames : 1, sizeof(s->names[0]));
    for (size_t i = 0; i < nnames; i++)
        sp_name_stats_init(&s->names[i]);
}

void sp_stats_release(sp_stats *s)
{
    for (size_t i = 0; i < s->nnames; i++)
        sp_name_stats_release(&s->names[i]);
    free(s->names);
    memset(s, 0, sizeof(*s));
}

void sp_stats_reset(sp_stats *s)
{
    for (size_t i = 0; i < s->nnames; i++) {
        /* Most names of a second are untouched; skip the histogram's memset for those. */
        if (s->names[i].requests || s->names[i].nmsgs || s->names[i].msgs_dropped)
            name_stats_reset(&s->names[i]);
    }
    s->iterations = 0;
    s->dropped = 0;
    s->active_vus = 0;
    s->target_vus = 0;
    s->lag_us_max = 0;
    s->stalled_seconds = 0;
    s->stall_first = 0;
    s->stall_last = 0;
    s->arrivals = 0;
    s->arrivals_late = 0;
    s->arrivals_lag_us = 0;
    s->target_rate = 0;
}

void sp_stats_merge(sp_stats *dst, const sp_stats *src, int sum_gauges)
{
    size_t n = dst->nnames < src->nnames ? dst->nnames : src->nnames;
    for (size_t i = 0; i < n; i++) {
        if (src->names[i].requests || src->names[i].nmsgs || src->names[i].msgs_dropped)
            sp_name_stats_merge(&dst->names[i], &src->names[i]);
    }
    dst->iterations += src->iterations;
    dst->dropped += src->dropped;
    dst->arrivals += src->arrivals;
    dst->arrivals_late += src->arrivals_late;
    dst->arrivals_lag_us += src->arrivals_lag_us;
    if (src->target_rate != 0)
        dst->target_rate = src->target_rate;
    if (sum_gauges) {
        dst->active_vus += src->active_vus;
        dst->target_vus += src->target_vus;
    } else {
        dst->active_vus = src->active_vus;
        dst->target_vus = src->target_vus;
    }
    if (src->lag_us_max > dst->lag_us_max)
        dst->lag_us_max = src->lag_us_max;
    if (src->stalled_seconds) {
        if (!dst->stalled_seconds || src->stall_first < dst->stall_first)
            dst->stall_first = src->stall_first;
        if (!dst->stalled_seconds || src->stall_last > dst->stall_last)
            dst->stall_last = src->stall_last;
        dst->stalled_seconds += src->stalled_seconds;
    }
}

void sp_stats_total(const sp_stats *s, sp_name_stats *out)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (!s->names[i].group)
            sp_name_stats_merge(out, &s->names[i]);
}
