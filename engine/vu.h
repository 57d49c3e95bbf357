/*
 * vu.h - a virtual user: its state, its variables and headers, and what it does with one
 * request: render it from its plan, judge the response against the step's expectations,
 * extract values from it, and record the outcome. Private to the engine.
 *
 * The worker (worker.c) owns its VUs, drives their state machine (the states below; worker.c's
 * top comment draws it) and runs their transfers; this module knows nothing of sockets, timers
 * or shards. The calling sequence, all on the worker's thread:
 *     sp_vu_new                       then the worker sets the socket callbacks on v->easy
 *     per step: sp_vu_cond, sp_vu_lets, then for a request:
 *         sp_vu_prepare               v->easy is ready: the worker adds it to a multi handle
 *         ... curl runs the transfer ...
 *         sp_vu_finish                after the worker removed v->easy from the multi handle
 *     or, for a step without a request, sp_vu_set_headers
 *     sp_vu_free                      once no request is in flight
 *
 * Every outcome is recorded in env->stats (the worker's current second); a run with a trace
 * (tracerec.h) also hands it to the trace. Rendering allocates only when a buffer must grow
 * past its size so far (docs/engine.md, "Requests").
 *
 * Threads: a VU and its environment belong to one worker thread; nothing here locks.
 */
#ifndef SP_VU_H
#define SP_VU_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "engine/common.h"
#include "engine/definition.h"
#include "engine/run.h"
#include "engine/timerheap.h"

struct sp_worker;
struct sp_shard;

/* What the VUs of one worker share with it. Owned by the worker (sp_vu_env_init and
 * sp_vu_env_release), used on its thread only. */
typedef struct sp_vuenv {
    sp_run *r;
    sp_stats *stats; /* the current second's stats; the worker replaces it when a second ends */
    sp_buf scratch;  /* lets and needles: used and copied out before anything else renders */
    sp_buf arena;    /* text expressions build while evaluating (expr.h); reset per use */
    sp_value eq_val; /* the value an expect.json equals template gave, for its message */
    sp_buf msgbuf;   /* failure messages */
    sp_regex_scratch *rx; /* this thread's regex match state (engine/regex.h) */
} sp_vuenv;

enum sp_vu_state {
    SP_VU_READY,  /* running steps */
    SP_VU_REQ,    /* a request in flight */
    SP_VU_THINK,  /* its timer armed */
    SP_VU_PARKED, /* nothing more to do in this run */
    SP_VU_IDLE,   /* free in the open model's pool */
};
enum sp_vu_phase {
    SP_VU_PH_START, /* on_start steps */
    SP_VU_PH_TASK,  /* a task's steps */
    SP_VU_PH_NEXT,  /* between iterations */
    SP_VU_PH_STOP,  /* on_stop steps, after a graceful stop */
};

/* A block of steps a VU is going through: the phase's own (on_start, a task, on_stop) at the
 * bottom, and one more for each repeat, choose or group it is inside. */
typedef struct sp_frame {
    const sp_step *steps;
    uint32_t n, i;        /* the block's length, the step at hand */
    const sp_step *owner; /* the control step whose block this is; NULL at the bottom */
    uint32_t pass, limit; /* repeat: the pass at hand (0-based), the passes it may make */
    uint32_t branch;      /* choose: the branch taken */
    int fail_kind;        /* group: the kind of the first failed request inside it, or -1 */
    int fail_name;        /* group: that request's name id */
    uint64_t start_us;    /* group: when it began */
} sp_frame;

/* Storage of one variable's string value; grows only. */
typedef struct sp_vustore {
    char *p;
    size_t cap;
} sp_vustore;

/* A VU-level header set by set_headers. The name is borrowed from the definition. */
typedef struct sp_vuhdr {
    const char *name;
    char *val;
    size_t len;
    size_t cap;
} sp_vuhdr;

typedef struct sp_vu {
    struct sp_worker *w; /* the VU's owner, for the state machine (worker.c) */
    sp_vuenv *env;       /* the owner's shared part, for this module */
    struct sp_shard *sh; /* the multi handle this VU's transfers run on */
    uint32_t slot;       /* local index on the worker */
    uint64_t num;        /* 1-based VU number over the run */
    const sp_userclass *uc;
    const sp_classplan *cp;
    CURL *easy;
    CURLSH *conn; /* the VU's private connection cache: one keep-alive connection per VU */
    sp_timer timer;
    enum sp_vu_state state;
    enum sp_vu_phase phase;
    int stopping;
    int started;    /* went through on_start: on_stop may run */
    size_t task;    /* the task of the iteration at hand */
    sp_frame root;  /* the phase's block */
    sp_frame *more; /* [uc->depth] frames of nested blocks, made when the VU first nests */
    uint32_t nfr;   /* frames in use: root, then more[0 .. nfr - 2] */
    uint64_t iteration;
    int last_status;
    uint32_t iter_requests;
    uint64_t iter_start_ns;
    sp_rng rng;

    sp_value *vars; /* [uc->nvars], NULL when the class has none */
    sp_vustore *store;

    sp_vuhdr *vh;
    size_t nvh, capvh;
    uint32_t vh_ver; /* bumped when a VU header changes */

    /* What the easy handle was last configured with, so unchanged options are not set again
     * (curl copies strings such as the URL and the method on every setopt). */
    const sp_request *cfg_req;
    const sp_request *cfg_url;
    const sp_plan *hdr_plan; /* the plan the VU's own header list was built for */
    uint32_t hdr_ver;
    struct curl_slist *nodes;
    size_t capnodes;
    sp_buf hdrtext;

    sp_buf url, body, resp, resphdr;
    curl_mime *mime;    /* a multipart body libcurl builds (the request sets its type) */
    struct sp_vump *mp; /* the multipart boundary and its header, made when first needed */

    const sp_plan *cur;   /* the request in flight */
    uint64_t intended_us; /* when the request should have started (open model); latency base */
    uint64_t arrival_us;  /* open model: the arrival's intended start, for its first request */
    int go;               /* open model: an arrival took this VU; run one iteration */
    sp_feeder *feeder;    /* the class's CSV rows, NULL when none */
    const json_t *row;    /* the VU's current row, borrowed from the definition's CSV */
    int fed;              /* took its first row (before on_start) */
    int row_fresh;        /* the row was taken for on_start and serves the first iteration too */
    int exhausted;        /* a unique feeder ran out: the VU is parked for good */
    uint64_t start_us;    /* when it was handed to curl */
    uint64_t rx;          /* body bytes received */
    int too_large;
    int keep_body, keep_headers;
    uint8_t hdr_cb;   /* the header callback is installed */
    uint8_t jar;      /* the VU's cookie jar exists (a response set a cookie) */
    char blocked[64]; /* "ADDR:PORT" the allowlist refused for the request in flight, or "" */
    /* http_version "2" or "auto" (h2_outcome in vu.c): the local port of the connection the
     * last response came over when that was HTTP/2, else 0; h2_clear: that connection is h2c
     * (no TLS); h2c_fd: the socket curl last opened for the VU (h2c_version, libcurl < 8.0). */
    long h2_port;
    uint8_t h2_clear;
    int h2c_fd;
} sp_vu;

/* Sets up env for the VUs of a worker of r; sp_vu_env_release frees its buffers. */
void sp_vu_env_init(sp_vuenv *env, sp_run *r);
void sp_vu_env_release(sp_vuenv *env);

/*
 * A new VU: VU k (0-based over the run) in local slot `slot` of worker w, whose transfers run
 * on shard sh (both kept as borrowed pointers, never used here). Its easy handle has every
 * option of the run except the socket callbacks, which are the worker's to set. NULL when curl
 * could not make an easy handle.
 */
sp_vu *sp_vu_new(sp_vuenv *env, struct sp_worker *w, struct sp_shard *sh, uint32_t slot,
                 uint64_t k);
/* Frees v, its easy handle and its connection. No request may be in flight (the worker removes
 * it from its multi handle first). */
void sp_vu_free(sp_vu *v);

/* The frame at the top (the block the VU is going through). */
sp_frame *sp_vu_top(sp_vu *v);
/* Unsets variable slot (out of range: nothing), giving back a response's value it held. */
void sp_vu_unset(sp_vu *v, int slot);
/* Sets variable slot to val: text is copied into the VU's storage, a response's object or array
 * is kept with a reference of the VU's (one that val holds, SP_REF_OWNED, passes to the VU),
 * null or unset unsets it. */
void sp_vu_set(sp_vu *v, int slot, const sp_value *val);
/* The VU's evaluation context (its variables, row, number, generator), with env's arena. */
void sp_vu_ctx(const sp_vu *v, sp_vuctx *ctx);
/* The definition path of the step at hand relative to its user class
 * ("tasks[1].steps[2].repeat.steps[0]"), and the pass of each repeat around it, outermost
 * first (at most *npasses of them). For "Try it" only. */
void sp_vu_where(const sp_vu *v, sp_buf *path, uint32_t *passes, size_t *npasses);
/* Evaluates the step's let assignments into the VU's variables. */
void sp_vu_lets(sp_vu *v, const sp_step *st);
/* Renders the step's set_headers into the VU's own headers. */
void sp_vu_set_headers(sp_vu *v, const sp_step *st);
/* 1 when the step condition holds for v. */
int sp_vu_cond(sp_vu *v, const sp_cond *c);

/*
 * Sets v->easy up for plan p's request: URL, method, body, headers, response capture. 0 when it
 * is ready for the worker to hand to curl; otherwise the request could not be built (a render
 * over its cap) and was recorded as failed.
 */
int sp_vu_prepare(sp_vu *v, const sp_plan *p);
/* Records p's request as failed without a response (kind other, msg as given). */
void sp_vu_fail(sp_vu *v, const sp_plan *p, const char *msg);
/* A request of name name_id failed with kind: every group around the step at hand that has no
 * failure yet takes this one. */
void sp_vu_fail_groups(sp_vu *v, int kind, int name_id);
/* v's request ended with cc (its handle already removed from the multi): records it, checks
 * it against the step's expectations, runs the step's extracts and set_headers when it passed,
 * hands it to the trace, and clears v->cur. The caller moves the VU on. */
void sp_vu_finish(sp_vu *v, CURLcode cc);

#endif
