/*
 * tracerec.h - the recorder behind "Try it" (trace.h): what a single pass of the engine sent
 * and received, turned into the JSON that sp_trace_run returns. Private to the engine.
 *
 * Calling sequence: trace.c makes one recorder per try (sp_tracerec_new) and, for each user
 * class in turn, starts a pass (sp_tracerec_pass) and runs an engine with
 * sp_engine_opts.trace set to the recorder. The engine calls the hooks below: engine.c asks
 * which class the pass runs and how long it may take; worker.c attaches the recorder to the
 * pass's one VU, and reports each request (begin, then done), each skipped step, and the end
 * of the pass. After the engine has stopped, trace.c reports a request that the time cap
 * aborted (sp_tracerec_abort_pending), and finally takes the result and frees the recorder.
 *
 * What is recorded per request: the request as curl sent it (request line, headers, body), the
 * response (status, headers, body), the time, the error kind and message, the result of each
 * expectation and the variables the step extracted. Bodies and headers are cut at caps
 * (body_max, SP_TRY_HEADERS_MAX) and marked truncated; at most SP_TRY_MAX_REQUESTS requests
 * are kept, later ones only counted. Every value of the definition's secrets is masked
 * (SP_SECRET_MASK) in everything recorded, as written and in the forms the engine gives it
 * (percent-encoded, JSON-escaped, base64: mask.h), a body cut at its cap included. Nothing
 * here logs.
 *
 * Threads: a recorder is used by one thread at a time: the try's thread between passes, the
 * engine's one worker thread (hooks) during a pass, and engine.c's controlling thread for
 * sp_tracerec_class and sp_tracerec_budget_ns before the worker starts.
 */
#ifndef SP_TRACEREC_H
#define SP_TRACEREC_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "engine/definition.h"

typedef struct sp_tracerec sp_tracerec;

/* A recorder for def (borrowed, must outlive it); the try ends at deadline_ns (sp_now_ns). */
sp_tracerec *sp_tracerec_new(const sp_def *def, uint32_t body_max, uint64_t deadline_ns);
void sp_tracerec_free(sp_tracerec *t);
/* Starts the pass of user class cls (an index in def->users). */
void sp_tracerec_pass(sp_tracerec *t, int cls);
/* 1 when the current pass went through (sp_tracerec_finish was called). */
int sp_tracerec_finished(const sp_tracerec *t);
/* After the engine of a pass has stopped: when a request was still in flight (the time cap
 * aborted it), records it with what was sent, as the user's (user: the class's name). */
void sp_tracerec_abort_pending(sp_tracerec *t, const char *user, uint32_t max_ms);
/* A new reference: {"requests", "complete", "elapsed_ms", "requests_dropped"}. */
json_t *sp_tracerec_result(const sp_tracerec *t, int complete, uint64_t elapsed_ms);

/* ---- Hooks for the engine (engine.c, worker.c) ---- */

/* What the worker knows of a finished request. Everything is borrowed for the call. */
typedef struct sp_tracerec_entry {
    const sp_userclass *uc;
    int phase;         /* 0: on_start, 1: a task, 2: on_stop */
    size_t task, step; /* the task, the step's index in its block */
    const char
        *at; /* the step's definition path in the class: "tasks[1].steps[2].repeat.steps[0]" */
    const uint32_t *passes; /* the pass of each repeat around the step, outermost first */
    size_t npasses;
    const sp_step *st;
    const char *name; /* the request's name */
    const char *url;  /* the URL sent (the last one after redirects) */
    int status;       /* 0: no response */
    uint64_t latency_us;
    int kind;         /* SP_ERRK_* of a failure, -1 when it passed */
    const char *msg;  /* the failure's message, NULL when it passed */
    const char *body; /* the response body as kept */
    size_t body_len;
    uint64_t body_bytes;              /* bytes received */
    const sp_value *vars;             /* the VU's variables after the step (uc->nvars) */
    const struct curl_slist *cookies; /* the VU's cookie jar after the request (Netscape lines),
                                         NULL when empty or off */
} sp_tracerec_entry;

/* The user class the current pass runs (engine.c builds the class table from it). */
int sp_tracerec_class(const sp_tracerec *t);
/* Nanoseconds the current pass may take. */
uint64_t sp_tracerec_budget_ns(const sp_tracerec *t);
/* Sets up a VU's easy handle to report what it sends and receives (CURLOPT_DEBUGFUNCTION). */
void sp_tracerec_attach(sp_tracerec *t, CURL *easy);
/* A request is about to be handed to curl: its name and method (borrowed from the definition)
 * and its URL (copied). */
void sp_tracerec_begin(sp_tracerec *t, const char *name, const char *method, const char *url);
/* A request finished (or could not be sent: status 0 and the failure). */
void sp_tracerec_done(sp_tracerec *t, const sp_tracerec_entry *rec);
/* A step was skipped: its condition (if/unless) did not hold. rec's outcome fields are unused. */
void sp_tracerec_skipped(sp_tracerec *t, const sp_tracerec_entry *rec);
/* The VU went through its whole pass (or can go no further): the run may end. */
void sp_tracerec_finish(sp_tracerec *t);
/* A step of control flow, so loops and branches can be followed step by step: event is
 * "repeat" (a pass begins: pass), "repeat_end" (passes, stopped_at_max), "choose" (branch,
 * branch_name) or "group" (name, time_ms, passed), with its fields in fields (stolen). rec says
 * where, as for a request; its outcome fields are unused. */
void sp_tracerec_event(sp_tracerec *t, const sp_tracerec_entry *rec, const char *event,
                       json_t *fields);

#endif
