/*
 * fuzz_agent_wire.c - the agent message decoder (engine/wire.h) on arbitrary bytes.
 *
 * Whatever decodes is checked: the type is known, owned JSON is present exactly where the type
 * carries it, names are within their caps, and a decoded message encodes and decodes again to
 * the same type. A "second" is then read into the stats of a run of 4 names; whatever it gives
 * must be consistent (each name's histogram count equals its requests, failures <= requests)
 * and encode again to a body that decodes to the same counts, and a refusal must leave the
 * stats empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/histogram.h"
#include "engine/metrics.h"
#include "engine/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NNAMES 4

static void check_stats(const char *body, size_t len)
{
    sp_stats s, again;
    sp_stats_init(&s, NNAMES);
    sp_stats_init(&again, NNAMES);
    char err[256];
    int rc = sp_wire_stats_decode(body, len, NNAMES, &s, err, sizeof err);
    for (size_t i = 0; i < NNAMES; i++) {
        const sp_name_stats *n = &s.names[i];
        if (rc && (n->requests || sp_hist_count(n->hist) || n->nmsgs))
            abort();
        if (sp_hist_count(n->hist) != n->requests || n->failures > n->requests ||
            n->nmsgs > SP_FAIL_MSGS_PER_NAME)
            abort();
        if (n->requests && sp_hist_percentile(n->hist, 50) > sp_hist_max(n->hist))
            abort();
    }
    if (rc && !err[0])
        abort();
    if (!rc) {
        /* What was taken encodes to a body that decodes to the same counts. */
        sp_buf b;
        sp_buf_init(&b, SIZE_MAX);
        sp_wire_stats_encode(&s, &b);
        if (sp_wire_stats_decode(b.p, b.len, NNAMES, &again, err, sizeof err) != 0)
            abort();
        for (size_t i = 0; i < NNAMES; i++)
            if (again.names[i].requests != s.names[i].requests ||
                again.names[i].nmsgs != s.names[i].nmsgs ||
                sp_hist_sum(again.names[i].hist) != sp_hist_sum(s.names[i].hist))
                abort();
        sp_buf_release(&b);
    }
    sp_stats_release(&again);
    sp_stats_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_wire_msg m;
    char err[256];
    int rc = sp_wire_decode((const char *)data, size, &m, err, sizeof err);
    if (rc) {
        if (!err[0] || m.def || m.body || m.allowlist)
            abort();
        return 0;
    }
    if (m.type >= SP_WIRE_NTYPES || strlen(m.name) > SP_WIRE_MAX_NAME ||
        strlen(m.location) > SP_WIRE_MAX_NAME || strlen(m.reason) > SP_WIRE_MAX_REASON)
        abort();
    if ((m.type == SP_WIRE_ASSIGN) != (m.def != NULL) ||
        (m.type == SP_WIRE_SECOND) != (m.body != NULL))
        abort();
    if (m.type == SP_WIRE_SECOND) {
        if (m.body < (const char *)data || m.body + m.body_len > (const char *)data + size)
            abort();
        check_stats(m.body, m.body_len);
    }
    size_t len;
    char *text = sp_wire_encode(&m, NULL, &len);
    sp_wire_msg again;
    if (!text || sp_wire_decode(text, len, &again, err, sizeof err) != 0 || again.type != m.type)
        abort();
    sp_wire_msg_release(&again);
    free(text);
    sp_wire_msg_release(&m);
    return 0;
}
