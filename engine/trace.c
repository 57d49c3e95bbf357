/*
 * trace.c - see trace.h: one engine per user class in single-pass mode, with a recorder
 * (tracerec.h) that the engine's worker feeds and that turns what it saw into JSON.
 */
#include "engine/trace.h"

#include <stdio.h>

#include "engine/common.h"
#include "engine/engine.h"
#include "engine/limits.h"
#include "engine/tracerec.h"

#define NS_PER_MS 1000000ull

int sp_trace_run(const sp_def *def, const sp_trace_opts *opts, json_t **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    uint32_t max_ms = opts && opts->max_ms ? opts->max_ms : SP_TRY_MAX_MS;
    uint32_t body_max = opts && opts->body_max ? opts->body_max : SP_TRY_BODY_MAX;
    uint64_t t0 = sp_now_ns();
    uint64_t deadline_ns = t0 + (uint64_t)max_ms * NS_PER_MS;
    sp_tracerec *t = sp_tracerec_new(def, body_max, deadline_ns);
    int complete = 1, rc = 0;
    for (size_t c = 0; c < def->nusers; c++) {
        if (sp_now_ns() >= deadline_ns) {
            complete = 0;
            break;
        }
        sp_tracerec_pass(t, (int)c);
        sp_engine *e = NULL;
        sp_engine_opts eo = {.threads = 1, .trace = t, .allowlist = opts ? opts->allowlist : NULL};
        rc = sp_engine_new(def, &eo, &e, err, errlen);
        if (rc)
            break;
        rc = sp_engine_start(e);
        if (rc == 0)
            sp_engine_wait(e);
        sp_engine_free(e);
        if (rc) {
            snprintf(err, errlen, "the engine could not start its threads");
            break;
        }
        /* The time cap aborted a request in flight: it is reported with what was sent. */
        sp_tracerec_abort_pending(t, def->users[c].name, max_ms);
        if (!sp_tracerec_finished(t)) {
            complete = 0;
            break;
        }
    }
    if (rc == 0)
        *out = sp_tracerec_result(t, complete, (sp_now_ns() - t0) / NS_PER_MS);
    sp_tracerec_free(t);
    return rc;
}
