/*
 * trace.h - "Try it": runs a test definition once, one VU at a time, and reports every request
 * and response, so a scenario can be debugged before any load is put on the target.
 *
 * sp_trace_run() runs, for each user class in order, one VU through the class's on_start steps
 * and then each of its tasks once, in order, with no think time, on the real engine (engine.h in
 * its single-pass mode: one worker, the same request path, templates, expectations, extractions
 * and headers as a load run). A recorder (tracerec.h) that the engine feeds keeps, per request: the
 * request as curl sent it (request line, headers, body), the response (status, headers, body), the
 * time, the error kind and message, the result of each expectation, and the variables the step
 * extracted. Bodies and headers are cut at caps (SP_TRY_BODY_MAX, SP_TRY_HEADERS_MAX) and marked
 * truncated; the whole try is bounded by SP_TRY_MAX_MS, after which the request in flight is
 * aborted and reported as such. Nothing here logs: bodies may hold credentials, and every value of
 * the definition's secrets is masked (SP_SECRET_MASK) in everything reported: URLs, headers,
 * bodies, extracted values and messages, as written and in every form the engine gives it
 * (percent-encoded, JSON-escaped, base64: mask.h).
 *
 * This module sits above the engine and only drives it; when the trace is off (every load run)
 * the engine's request path only tests one pointer.
 *
 * Threads: sp_trace_run blocks the calling thread until the try is over (at most its time cap
 * plus the engine's shutdown); the recorder is fed on the engine's worker thread. Tries running
 * at the same time share nothing.
 */
#ifndef SP_TRACE_H
#define SP_TRACE_H

#include <jansson.h>
#include <stdint.h>

#include "engine/definition.h"

struct sp_allowlist;

typedef struct sp_trace_opts {
    uint32_t max_ms;   /* the whole try; 0: SP_TRY_MAX_MS */
    uint32_t body_max; /* bytes of each body reported; 0: SP_TRY_BODY_MAX */
    /* The target allowlist (borrowed, resolved), as for a run: a request to a target outside
     * it fails with the error kind "blocked". NULL: every target. */
    const struct sp_allowlist *allowlist;
} sp_trace_opts;

/*
 * Tries def (borrowed; it must be valid, from sp_def_load). On success returns 0 and *out, a new
 * reference: {"requests": [...], "complete": bool, "elapsed_ms", "requests_dropped"} with each
 * request as docs/api.md ("Try it") describes; "complete" is false when the time cap ended the
 * try early. Failing requests are results, not errors. Returns SP_ESYS (err says why, e.g. curl
 * could not start) only when the engine itself could not run.
 */
int sp_trace_run(const sp_def *def, const sp_trace_opts *opts, json_t **out, char *err,
                 size_t errlen);

#endif
