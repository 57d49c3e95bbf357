/*
 * worker.c - one worker thread: an epoll loop around a libcurl multi handle, a timer heap, and
 * the VUs it owns. See worker.h for how VUs are numbered and shared out, docs/engine.md for the
 * whole picture.
 *
 * A VU is a small state machine driven by the loop:
 *     READY --(a step with a request)--> REQ --(curl says done)--> READY
 *     READY --(iteration over, think time)--> THINK --(timer)--> READY
 *     READY --(a class without tasks, after on_start)--> PARKED
 * vu_run() advances a READY VU through steps that need no network until it starts a request
 * or arms its timer. A VU asked to stop finishes the request in flight (graceful) and is freed.
 */
#define _GNU_SOURCE /* memmem */
#include "engine/worker.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine/allowlist.h"
#include "engine/common.h"
#include "engine/profile.h"
#include "engine/timerheap.h"
#include "engine/tracerec.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define TICK_NS (100 * NS_PER_MS)      /* how often a worker re-reads the target */
#define IDLE_YIELD_NS (1 * NS_PER_MS)  /* pause after an iteration that sent no request */
#define HDR_TEXT_MAX (256u << 10)      /* rendered request header lines of one request */
#define RESP_HDR_MAX (64u << 10)       /* response header bytes kept for header extracts */
#define URL_MAX (64u << 10)            /* one rendered URL */
#define SCRATCH_MAX SP_TMPL_MAX_RENDER /* lets, messages, body_contains needles */
#define MAX_GROUPS 10                  /* regex capture groups an extract may name */
#define EVENTS_MAX 64
/* VUs per multi handle. curl looks for an idle connection by walking every connection to the
 * host in its cache, so with hundreds of busy VUs on one multi handle that walk dominates each
 * request; shards of this size keep it short for a little memory per shard. */
#define SHARD_VUS 128
#define EV_WAKE UINT64_MAX /* epoll data of the eventfd */

enum vu_state { VU_READY, VU_REQ, VU_THINK, VU_PARKED, VU_IDLE }; /* IDLE: free in the open pool */
enum vu_phase { PH_START, PH_TASK, PH_NEXT };                     /* PH_NEXT: between iterations */

typedef struct varstore {
    char *p;
    size_t cap;
} varstore;

/* A VU-level header set by set_headers. The name is borrowed from the definition. */
typedef struct vuhdr {
    const char *name;
    char *val;
    size_t len;
    size_t cap;
} vuhdr;

typedef struct vu {
    sp_worker *w;
    struct shard *sh; /* the multi handle this VU's transfers run on */
    uint32_t slot;    /* local index on the worker */
    uint64_t num;     /* 1-based VU number over the run */
    const sp_userclass *uc;
    const sp_classplan *cp;
    CURL *easy;
    CURLSH *conn; /* the VU's private connection cache: one keep-alive connection per VU */
    sp_timer timer;
    enum vu_state state;
    enum vu_phase phase;
    int stopping;
    size_t task, step;
    uint64_t iteration;
    int last_status;
    uint32_t iter_requests;
    uint64_t iter_start_ns;
    sp_rng rng;

    sp_value *vars; /* [uc->nvars], NULL when the class has none */
    varstore *store;

    vuhdr *vh;
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
    curl_mime *mime;

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
    char blocked[64]; /* "ADDR:PORT" the allowlist refused for the request in flight, or "" */
} vu;

/* One multi handle and the VUs [idx * SHARD_VUS, (idx + 1) * SHARD_VUS) of its worker. */
typedef struct shard {
    sp_worker *w;
    uint32_t idx;
    CURLM *multi;
    uint64_t deadline_ns; /* curl's timer: UINT64_MAX none, 0 at once */
    long maxconns;
} shard;

struct sp_worker {
    sp_run *r;
    unsigned id;
    int ep, evfd;
    shard **shards;
    size_t nshards, capshards;
    sp_timerheap timers;
    vu **vus;
    size_t nslots, capslots;
    uint32_t desired;
    uint32_t alive;
    uint32_t inflight;
    int ending;
    uint64_t end_deadline_ns;
    uint64_t next_tick_ns;
    sp_msg *cur;
    uint64_t cur_second;
    pthread_mutex_t free_mu;
    sp_msg *free_list;
    uint8_t *fds; /* FD_* by socket number */
    size_t nfds;
    /* Open model: this worker schedules arrivals n = id, id + N, id + 2N, ... of the run on
     * one timer, and hands each to a VU of its own idle pool. */
    int open;
    sp_timer arrival;
    uint64_t next_n;   /* the global number of the arrival the timer is armed for */
    int arrivals_over; /* no arrival left before the end */
    sp_ovr ovr;        /* the override the schedule follows */
    vu **idle;         /* [nidle] idle VUs, a stack (the last freed is the warmest) */
    size_t nidle, capidle;
    sp_buf scratch; /* lets and needles: used and copied out before anything else renders */
    sp_buf msgbuf;  /* failure messages */
};

static void vu_run(vu *v);
static void trace_finish(vu *v);
static void trace_skipped(vu *v, const sp_step *st);
static void vu_free(vu *v);
static int on_close(void *ud, curl_socket_t s);
static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a);
static void guard_setup(vu *v);
static shard *get_shard(sp_worker *w, uint32_t idx);

/* ---- stats messages ---- */

static sp_msg *msg_take(sp_worker *w)
{
    pthread_mutex_lock(&w->free_mu);
    sp_msg *m = w->free_list;
    if (m)
        w->free_list = m->next;
    pthread_mutex_unlock(&w->free_mu);
    if (!m) {
        m = sp_calloc(1, sizeof(*m));
        sp_stats_init(&m->stats, w->r->def->nnames);
    }
    m->next = NULL;
    return m;
}

void sp_worker_recycle(sp_worker *w, sp_msg *m)
{
    pthread_mutex_lock(&w->free_mu);
    m->next = w->free_list;
    w->free_list = m;
    pthread_mutex_unlock(&w->free_mu);
}

static void msg_push(sp_run *r, sp_msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->q_tail)
        r->q_tail->next = m;
    else
        r->q_head = m;
    r->q_tail = m;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Sends the current second's stats and starts second `sec`. */
static void flush_second(sp_worker *w, uint64_t sec, int last)
{
    sp_msg *m = w->cur;
    m->worker = w->id;
    m->second = w->cur_second;
    m->done_through = last ? UINT64_MAX : sec - 1;
    m->last = last;
    /* Open model: the busy VUs, since the whole pool is alive from the start. */
    m->stats.active_vus = w->open ? w->alive - (uint32_t)w->nidle : w->alive;
    msg_push(w->r, m);
    w->cur = last ? NULL : msg_take(w);
    w->cur_second = sec;
}

static sp_stats *cur_stats(sp_worker *w)
{
    return &w->cur->stats;
}

/* ---- VU variables and headers ---- */

static void var_unset(vu *v, int slot)
{
    if (slot < 0 || (size_t)slot >= v->uc->nvars)
        return;
    v->vars[slot].s = NULL;
    v->vars[slot].len = 0;
    v->vars[slot].item = NULL;
}

static void var_set_str(vu *v, int slot, const char *s, size_t len)
{
    if (slot < 0 || (size_t)slot >= v->uc->nvars)
        return;
    if (len > SP_VAR_MAX_BYTES)
        len = SP_VAR_MAX_BYTES;
    varstore *st = &v->store[slot];
    if (st->cap < len + 1) {
        size_t ncap = st->cap ? st->cap : 32;
        while (ncap < len + 1)
            ncap *= 2;
        st->p = sp_realloc(st->p, ncap);
        st->cap = ncap;
    }
    memmove(st->p, s, len);
    st->p[len] = '\0';
    v->vars[slot].s = st->p;
    v->vars[slot].len = len;
    v->vars[slot].item = NULL;
}

static void var_set_item(vu *v, int slot, const json_t *item)
{
    if (slot < 0 || (size_t)slot >= v->uc->nvars)
        return;
    v->vars[slot].s = NULL;
    v->vars[slot].len = 0;
    v->vars[slot].item = item;
}

static void vu_ctx(const vu *v, sp_vuctx *c)
{
    c->vars = v->vars;
    c->nvars = v->uc->nvars;
    c->row = v->row;
    c->rng = (sp_rng *)&v->rng;
    c->vu = v->num;
    c->iteration = v->iteration;
    c->status = v->last_status;
    c->now_ms = 0;
}

static void vuhdr_set(vu *v, const char *name, const char *val, size_t len)
{
    size_t i;
    for (i = 0; i < v->nvh; i++)
        if (strcasecmp(v->vh[i].name, name) == 0)
            break;
    if (len == 0) { /* an empty value removes the header */
        if (i == v->nvh)
            return;
        free(v->vh[i].val);
        memmove(&v->vh[i], &v->vh[i + 1], (v->nvh - i - 1) * sizeof(v->vh[0]));
        v->nvh--;
        v->vh_ver++;
        return;
    }
    if (i == v->nvh) {
        sp_grow((void **)&v->vh, &v->capvh, v->nvh + 1, sizeof(v->vh[0]));
        memset(&v->vh[i], 0, sizeof(v->vh[i]));
        v->vh[i].name = name;
        v->nvh++;
    } else if (v->vh[i].len == len && memcmp(v->vh[i].val, val, len) == 0) {
        return; /* re-set to the same value: the cached header list stays valid */
    }
    vuhdr *h = &v->vh[i];
    if (h->cap < len + 1) {
        h->val = sp_realloc(h->val, len + 1);
        h->cap = len + 1;
    }
    memcpy(h->val, val, len);
    h->val[len] = '\0';
    h->len = len;
    v->vh_ver++;
}

static void apply_set_headers(vu *v, const sp_step *st)
{
    sp_vuctx ctx;
    vu_ctx(v, &ctx);
    for (size_t i = 0; i < st->nset_headers; i++) {
        sp_buf_reset(&v->w->scratch);
        if (sp_tmpl_render(st->set_headers[i].value, &ctx, &v->w->scratch) != 0)
            continue;
        vuhdr_set(v, st->set_headers[i].name, v->w->scratch.p, v->w->scratch.len);
    }
}

static void apply_lets(vu *v, const sp_step *st)
{
    sp_vuctx ctx;
    vu_ctx(v, &ctx);
    for (size_t i = 0; i < st->nlets; i++) {
        sp_value out = {NULL, 0, NULL};
        sp_buf_reset(&v->w->scratch);
        if (sp_tmpl_eval(st->lets[i].value, &ctx, &out, &v->w->scratch) != 0)
            var_unset(v, st->lets[i].slot);
        else if (out.item)
            var_set_item(v, st->lets[i].slot, out.item);
        else
            var_set_str(v, st->lets[i].slot, out.s ? out.s : "", out.s ? out.len : 0);
    }
}

static int status_in(int status, const uint16_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == status)
            return 1;
    return 0;
}

static int cond_ok(vu *v, const sp_cond *c)
{
    int ok = 1;
    const sp_value *val = NULL;
    if ((c->kind == SP_COND_VAR_SET || c->kind == SP_COND_VAR_EQUALS) && c->slot >= 0 &&
        (size_t)c->slot < v->uc->nvars)
        val = &v->vars[c->slot];
    switch (c->kind) {
    case SP_COND_ALWAYS:
        ok = 1;
        break;
    case SP_COND_VAR_SET:
        ok = val && (val->item || (val->s && val->len));
        break;
    case SP_COND_VAR_EQUALS: {
        const char *want = c->equals ? c->equals : "";
        if (!val) {
            ok = 0;
        } else if (val->item) {
            sp_buf_reset(&v->w->scratch);
            ok = sp_value_render(val, &v->w->scratch) == 0 && strcmp(v->w->scratch.p, want) == 0;
        } else {
            ok = val->s && strlen(want) == val->len && memcmp(val->s, want, val->len) == 0;
        }
        break;
    }
    case SP_COND_STATUS:
        ok = status_in(v->last_status, c->status, c->nstatus);
        break;
    }
    return c->negate ? !ok : ok;
}

/* ---- curl callbacks of a VU's easy handle ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    vu *v = ud;
    size_t len = size * n;
    v->rx += len;
    if (v->rx > v->w->r->max_resp) {
        /* Returning less than len makes curl abort with CURLE_WRITE_ERROR: too_large. */
        v->too_large = 1;
        return 0;
    }
    if (v->keep_body)
        (void)sp_buf_add(&v->resp, p, len);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    vu *v = ud;
    size_t len = size * n;
    if (v->keep_headers) {
        /* With redirects followed, only the last response's headers matter. */
        if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
            sp_buf_reset(&v->resphdr);
        (void)sp_buf_add(&v->resphdr, p, len);
    }
    return len;
}

/* ---- VU lifecycle ---- */

static vu *vu_new(sp_worker *w, uint32_t slot)
{
    sp_run *r = w->r;
    const sp_def *d = r->def;
    uint64_t k = (uint64_t)slot * r->nworkers + w->id;
    int cls = sp_run_class_of(r, k);
    vu *v = sp_calloc(1, sizeof(*v));
    v->w = w;
    v->slot = slot;
    v->num = k + 1;
    v->uc = &d->users[cls];
    v->cp = &r->plans[cls];
    v->feeder = r->feeders ? r->feeders[cls] : NULL;
    v->sh = get_shard(w, slot / SHARD_VUS);
    if (!v->sh) {
        free(v);
        return NULL;
    }
    sp_timer_init(&v->timer);
    sp_rng_seed(&v->rng, r->seed ^ (v->num * 0x9e3779b97f4a7c15ull));
    if (v->uc->nvars) {
        v->vars = sp_calloc(v->uc->nvars, sizeof(v->vars[0]));
        v->store = sp_calloc(v->uc->nvars, sizeof(v->store[0]));
    }
    sp_buf_init(&v->hdrtext, HDR_TEXT_MAX);
    sp_buf_init(&v->url, URL_MAX);
    sp_buf_init(&v->body, SP_TMPL_MAX_RENDER);
    sp_buf_init(&v->resp, r->max_resp);
    sp_buf_init(&v->resphdr, RESP_HDR_MAX);

    CURL *e = curl_easy_init();
    if (!e) {
        sp_buf_release(&v->hdrtext);
        free(v->vars);
        free(v->store);
        free(v);
        return NULL;
    }
    v->easy = e;
    /* A real client keeps its own connection, so the target sees one connection per VU. The
     * multi handle's cache is shared by all its transfers, and any idle connection to the host
     * would be handed to whichever VU asks first, so VUs that think between requests would take
     * turns on a few connections. A share holding only the connection cache pins each VU to
     * its own connection (about 6 KB per VU, measured). */
    v->conn = curl_share_init();
    if (v->conn) {
        curl_share_setopt(v->conn, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_easy_setopt(e, CURLOPT_SHARE, v->conn);
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)v);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, w);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, w);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, v);
    /* No header callback unless an extract needs headers (set per request). */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, d->opts.follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)SP_REQ_MAX_REDIRS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(d->opts.connect_timeout_ms ? d->opts.connect_timeout_ms
                                                       : SP_REQ_CONNECT_TIMEOUT_MS));
    if (d->opts.insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* Proxies from the environment are ignored: a load test measures the target, and skipping
     * the proxy lookup saves work on every transfer. */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    /* One connection per VU, as real clients behave; HTTP/2 would multiplex VUs onto one. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    /* curl's receive buffer is allocated per easy handle and kept for its life; 16 KB by
     * default. A smaller one keeps idle VUs small at the cost of more reads for big bodies. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 8192L);
    if (r->allowlist)
        guard_setup(v);
    if (r->trace)
        sp_tracerec_attach(r->trace, e);

    w->alive++;
    return v;
}

static void vu_abort_request(vu *v)
{
    if (v->state != VU_REQ)
        return;
    curl_multi_remove_handle(v->sh->multi, v->easy);
    v->w->inflight--;
    v->state = VU_READY;
}

static void vu_free(vu *v)
{
    sp_worker *w = v->w;
    sp_timerheap_remove(&w->timers, &v->timer);
    vu_abort_request(v);
    if (v->mime) {
        curl_easy_setopt(v->easy, CURLOPT_MIMEPOST, NULL);
        curl_mime_free(v->mime);
    }
    curl_easy_cleanup(v->easy);
    /* Closes the VU's connection (through on_close, so the worker forgets the socket). */
    if (v->conn)
        curl_share_cleanup(v->conn);
    if (v->slot < w->nslots && w->vus[v->slot] == v)
        w->vus[v->slot] = NULL;
    for (size_t i = 0; v->store && i < v->uc->nvars; i++)
        free(v->store[i].p);
    free(v->store);
    free(v->vars);
    for (size_t i = 0; i < v->nvh; i++)
        free(v->vh[i].val);
    free(v->vh);
    free(v->nodes);
    sp_buf_release(&v->hdrtext);
    sp_buf_release(&v->url);
    sp_buf_release(&v->body);
    sp_buf_release(&v->resp);
    sp_buf_release(&v->resphdr);
    if (!v->exhausted)
        w->alive--;
    free(v);
}

/* Asks v to stop: at once when it waits, after its request when one is in flight. */
static void vu_stop(vu *v)
{
    if (v->state == VU_REQ)
        v->stopping = 1;
    else
        vu_free(v);
}

/* ---- requests ---- */

static void set_method(vu *v, const sp_request *rq)
{
    CURL *e = v->easy;
    const char *m = rq->method;
    if (rq->body_kind == SP_BODY_NONE) {
        if (strcmp(m, "HEAD") == 0) {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
            return;
        }
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(m, "GET") == 0 ? NULL : m);
        return;
    }
    curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(m, "POST") == 0 ? NULL : m);
}

static int build_mime(vu *v, const sp_request *rq, const sp_vuctx *ctx)
{
    curl_mime *mime = curl_mime_init(v->easy);
    for (size_t i = 0; i < rq->nparts; i++) {
        const sp_part *pt = &rq->parts[i];
        curl_mimepart *part = curl_mime_addpart(mime);
        sp_buf_reset(&v->body);
        if (sp_tmpl_render(pt->value, ctx, &v->body) != 0) {
            curl_mime_free(mime);
            return SP_ELIMIT;
        }
        curl_mime_name(part, pt->name);
        curl_mime_data(part, v->body.p, v->body.len); /* copied by curl */
        if (pt->filename)
            curl_mime_filename(part, pt->filename);
        if (pt->content_type)
            curl_mime_type(part, pt->content_type);
        else if (pt->filename)
            curl_mime_type(part, "application/octet-stream");
    }
    curl_easy_setopt(v->easy, CURLOPT_MIMEPOST, mime);
    v->mime = mime;
    return 0;
}

/* Adds one "Name: value" line to the VU's header text; the node's data holds the offset until
 * the list is linked (the text may move while it grows). */
static int hdr_emit(vu *v, size_t *n, const char *line, const char *name, const char *val,
                    size_t vlen, const sp_tmpl *t, const sp_vuctx *ctx)
{
    size_t off = v->hdrtext.len;
    int rc = 0;
    if (line) {
        rc = sp_buf_adds(&v->hdrtext, line);
    } else {
        rc = sp_buf_adds(&v->hdrtext, name);
        if (!rc)
            rc = sp_buf_add(&v->hdrtext, ": ", 2);
        if (!rc && t)
            rc = sp_tmpl_render(t, ctx, &v->hdrtext);
        else if (!rc)
            rc = sp_buf_add(&v->hdrtext, val, vlen);
    }
    if (!rc)
        rc = sp_buf_add(&v->hdrtext, "", 1); /* the NUL that ends this line */
    if (rc)
        return rc;
    sp_grow((void **)&v->nodes, &v->capnodes, *n + 1, sizeof(v->nodes[0]));
    v->nodes[*n].data = (char *)(uintptr_t)off;
    (*n)++;
    return 0;
}

static int plan_has(const sp_plan *p, int prio, const char *name)
{
    for (size_t i = 0; i < p->nhdrs; i++)
        if (p->hdrs[i].prio == prio && strcasecmp(p->hdrs[i].name, name) == 0)
            return 1;
    return 0;
}

static int vu_has(const vu *v, const char *name)
{
    for (size_t i = 0; i < v->nvh; i++)
        if (strcasecmp(v->vh[i].name, name) == 0)
            return 1;
    return 0;
}

/*
 * The header list for this request. Constant plans used by VUs without headers of their own
 * share the plan's prebuilt list; otherwise the VU renders its own into reused memory, and keeps
 * it while neither the plan nor its VU headers change.
 */
static int build_headers(vu *v, const sp_plan *p, const sp_vuctx *ctx, struct curl_slist **out)
{
    if (v->nvh == 0 && p->hdrs_constant) {
        *out = p->slist;
        return 0;
    }
    if (p->hdrs_constant && v->hdr_plan == p && v->hdr_ver == v->vh_ver) {
        *out = v->capnodes ? v->nodes : NULL;
        return 0;
    }
    v->hdr_plan = NULL;
    sp_buf_reset(&v->hdrtext);
    size_t n = 0;
    int rc = 0;
    /* Definition and class headers, unless the VU set its own of the same name. */
    for (size_t i = 0; !rc && i < p->nhdrs; i++) {
        const sp_planhdr *h = &p->hdrs[i];
        if (h->prio == 0 && !vu_has(v, h->name))
            rc = hdr_emit(v, &n, h->line, h->name, NULL, 0, h->value, ctx);
    }
    /* VU headers, unless the request sets its own of the same name. */
    for (size_t i = 0; !rc && i < v->nvh; i++) {
        if (!plan_has(p, 2, v->vh[i].name))
            rc = hdr_emit(v, &n, NULL, v->vh[i].name, v->vh[i].val, v->vh[i].len, NULL, ctx);
    }
    for (size_t i = 0; !rc && i < p->nhdrs; i++) {
        const sp_planhdr *h = &p->hdrs[i];
        if (h->prio == 2)
            rc = hdr_emit(v, &n, h->line, h->name, NULL, 0, h->value, ctx);
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        v->nodes[i].data = v->hdrtext.p + (uintptr_t)v->nodes[i].data;
        v->nodes[i].next = i + 1 < n ? &v->nodes[i + 1] : NULL;
    }
    if (p->hdrs_constant) {
        v->hdr_plan = p;
        v->hdr_ver = v->vh_ver;
    }
    *out = n ? v->nodes : NULL;
    return 0;
}

static void trace_done(vu *v, const sp_plan *p, int sent, int status, uint64_t latency, int kind,
                       const char *msg);

/* Records a request that could not be sent (a render over its cap) as a failure. */
static void record_local_failure(vu *v, const sp_plan *p, const char *msg)
{
    sp_name_stats_record(&cur_stats(v->w)->names[p->req->name_id], 0, 0, SP_ERRK_OTHER, msg, 0, 0);
    if (v->w->r->trace)
        trace_done(v, p, 0, 0, 0, SP_ERRK_OTHER, msg);
}

/* Starts p's request. 0 when it is in flight; otherwise it was recorded as failed. */
static int start_request(vu *v, const sp_plan *p)
{
    sp_worker *w = v->w;
    const sp_request *rq = p->req;
    CURL *e = v->easy;
    sp_vuctx ctx;
    vu_ctx(v, &ctx);

    if (sp_tmpl_is_constant(rq->url)) {
        if (v->cfg_url != rq) {
            curl_easy_setopt(e, CURLOPT_URL, sp_tmpl_constant(rq->url, NULL));
            v->cfg_url = rq;
        }
    } else {
        sp_buf_reset(&v->url);
        if (sp_tmpl_render(rq->url, &ctx, &v->url) != 0) {
            record_local_failure(v, p, "URL longer than its cap");
            return -1;
        }
        curl_easy_setopt(e, CURLOPT_URL, v->url.p);
        v->cfg_url = NULL;
    }
    if (v->cfg_req != rq) {
        set_method(v, rq);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
        v->cfg_req = rq;
    }
    switch (rq->body_kind) {
    case SP_BODY_NONE:
        break;
    case SP_BODY_RAW:
    case SP_BODY_JSON:
    case SP_BODY_FORM: {
        const char *data;
        size_t len;
        if (sp_tmpl_is_constant(rq->body)) {
            data = sp_tmpl_constant(rq->body, &len);
        } else {
            sp_buf_reset(&v->body);
            if (sp_tmpl_render(rq->body, &ctx, &v->body) != 0) {
                record_local_failure(v, p, "request body larger than its cap");
                return -1;
            }
            data = v->body.p;
            len = v->body.len;
        }
        /* Not copied by curl: the constant lives in the definition, the render in the VU. */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, data);
        break;
    }
    case SP_BODY_MULTIPART:
        if (build_mime(v, rq, &ctx) != 0) {
            record_local_failure(v, p, "multipart field larger than its cap");
            return -1;
        }
        if (strcmp(rq->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
        break;
    }
    struct curl_slist *hdrs = NULL;
    if (build_headers(v, p, &ctx, &hdrs) != 0) {
        record_local_failure(v, p, "request headers larger than their cap");
        return -1;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);

    v->keep_body = p->keep_body;
    if (v->keep_headers != p->keep_headers) {
        /* Both or neither: with HEADERDATA alone curl would pass headers to on_body. */
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, p->keep_headers ? on_header : NULL);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, p->keep_headers ? (void *)v : NULL);
    }
    v->keep_headers = p->keep_headers;
    sp_buf_reset(&v->resp);
    sp_buf_reset(&v->resphdr);
    v->rx = 0;
    v->too_large = 0;
    v->blocked[0] = '\0';
    v->cur = p;
    v->start_us = sp_now_us();
    /* The first request of an open-model arrival counts from when the arrival was due, so the
     * time it waited (a late timer, a busy engine) is part of its latency: no coordinated
     * omission. Later requests of the iteration follow their predecessor, as a user would. */
    v->intended_us = v->arrival_us && v->arrival_us < v->start_us ? v->arrival_us : v->start_us;
    v->arrival_us = 0;
    if (w->r->trace) {
        /* "Try it" shows every response body, whether or not a check reads it. */
        v->keep_body = 1;
        sp_tracerec_begin(w->r->trace, w->r->def->names[rq->name_id], rq->method,
                          sp_tmpl_is_constant(rq->url) ? sp_tmpl_constant(rq->url, NULL)
                                                       : v->url.p);
    }
    if (curl_multi_add_handle(v->sh->multi, e) != CURLM_OK) {
        record_local_failure(v, p, "could not start the request");
        return -1;
    }
    v->state = VU_REQ;
    w->inflight++;
    v->iter_requests++;
    return 0;
}

/* ---- responses: classification, expectations, extraction ---- */

static int classify(vu *v, CURLcode cc, const char **msg)
{
    sp_worker *w = v->w;
    long oserr = 0;
    if (v->blocked[0]) {
        sp_buf_reset(&w->msgbuf);
        (void)sp_buf_addf(&w->msgbuf, "target not in allowlist: %s", v->blocked);
        v->blocked[0] = '\0';
        *msg = w->msgbuf.p;
        return SP_ERRK_BLOCKED;
    }
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        sp_buf_reset(&w->msgbuf);
        (void)sp_buf_addf(&w->msgbuf, "timeout after %u ms", (unsigned)v->cur->timeout_ms);
        *msg = w->msgbuf.p;
        return SP_ERRK_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(v->easy, CURLINFO_OS_ERRNO, &oserr);
        if (oserr == ECONNREFUSED) {
            *msg = "connection refused";
            return SP_ERRK_CONNREFUSED;
        }
        *msg = curl_easy_strerror(cc);
        return SP_ERRK_OTHER;
    case CURLE_COULDNT_RESOLVE_HOST:
        *msg = "could not resolve host";
        return SP_ERRK_DNS;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        *msg = curl_easy_strerror(cc);
        return SP_ERRK_RESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_PEER_FAILED_VERIFICATION:
        *msg = curl_easy_strerror(cc);
        return SP_ERRK_TLS;
    case CURLE_WRITE_ERROR:
        if (v->too_large) {
            sp_buf_reset(&w->msgbuf);
            (void)sp_buf_addf(&w->msgbuf, "response larger than %u bytes",
                              (unsigned)w->r->max_resp);
            *msg = w->msgbuf.p;
            return SP_ERRK_TOO_LARGE;
        }
        *msg = curl_easy_strerror(cc);
        return SP_ERRK_OTHER;
    default:
        *msg = curl_easy_strerror(cc);
        return SP_ERRK_OTHER;
    }
}

/* A short JSON text of j for a message, cut with "..." when long. */
static void json_brief(const json_t *j, char *buf, size_t len)
{
    if (!j) {
        snprintf(buf, len, "nothing");
        return;
    }
    size_t need = json_dumpb(j, buf, len - 1, JSON_COMPACT | JSON_ENCODE_ANY);
    if (need == 0) {
        snprintf(buf, len, "?");
    } else if (need >= len - 1) {
        buf[len - 4] = '.';
        buf[len - 3] = '.';
        buf[len - 2] = '.';
        buf[len - 1] = '\0';
    } else {
        buf[need] = '\0';
    }
}

static json_t *parse_body(vu *v)
{
    if (!v->resp.len)
        return NULL;
    return json_loadb(v->resp.p, v->resp.len, JSON_DECODE_ANY, NULL);
}

/*
 * Checks a response against its step's expectations. Returns -1 when it passed, else the error
 * kind with *msg set (the step's message template when it has one). *doc gets the parsed body
 * when it was parsed (the caller decrefs it).
 */
static int check_expect(vu *v, const sp_plan *p, int status, uint64_t latency_us, const char **msg,
                        json_t **doc)
{
    sp_worker *w = v->w;
    const sp_expect *x = &p->step->expect;
    sp_buf *mb = &w->msgbuf;
    int kind = -1;
    sp_buf_reset(mb);

    if (x->nstatus) {
        if (!status_in(status, x->status, x->nstatus)) {
            kind = SP_ERRK_ASSERTION;
            (void)sp_buf_adds(mb, "expected status ");
            for (size_t i = 0; i < x->nstatus; i++) {
                if (i)
                    (void)sp_buf_adds(mb, i + 1 == x->nstatus ? " or " : ", ");
                (void)sp_buf_addf(mb, "%u", (unsigned)x->status[i]);
            }
            (void)sp_buf_addf(mb, ", got %d", status);
        }
    } else if (status >= 400) {
        kind = SP_ERRK_HTTP_STATUS;
        (void)sp_buf_addf(mb, "HTTP %d", status);
    }
    if (kind < 0 && x->njson) {
        if (!*doc)
            *doc = parse_body(v);
        for (size_t i = 0; kind < 0 && i < x->njson; i++) {
            const sp_jcheck *jc = &x->json[i];
            const json_t *got = *doc ? sp_jpath_get(jc->path, *doc) : NULL;
            const char *nojson = *doc ? "" : " (the response is not JSON)";
            if (jc->kind == SP_JCHECK_EXISTS && !got) {
                kind = SP_ERRK_ASSERTION;
                (void)sp_buf_addf(mb, "expected JSON path '%s' to exist%s", jc->path_src, nojson);
            } else if (jc->kind == SP_JCHECK_MISSING && got) {
                kind = SP_ERRK_ASSERTION;
                (void)sp_buf_addf(mb, "expected JSON path '%s' to be missing", jc->path_src);
            } else if (jc->kind == SP_JCHECK_EQUALS && (!got || !json_equal(got, jc->equals))) {
                char want[64], have[64];
                json_brief(jc->equals, want, sizeof want);
                json_brief(got, have, sizeof have);
                kind = SP_ERRK_ASSERTION;
                (void)sp_buf_addf(mb, "expected JSON path '%s' to equal %s, got %s%s", jc->path_src,
                                  want, have, nojson);
            }
        }
    }
    if (kind < 0 && x->body_contains) {
        sp_vuctx ctx;
        vu_ctx(v, &ctx);
        sp_buf_reset(&w->scratch);
        if (sp_tmpl_render(x->body_contains, &ctx, &w->scratch) == 0 &&
            !memmem(v->resp.p, v->resp.len, w->scratch.p, w->scratch.len)) {
            kind = SP_ERRK_ASSERTION;
            (void)sp_buf_adds(mb, "expected the body to contain '");
            (void)sp_buf_add(mb, w->scratch.p, w->scratch.len < 64 ? w->scratch.len : 64);
            (void)sp_buf_adds(mb, w->scratch.len < 64 ? "'" : "...'");
        }
    }
    if (kind < 0 && x->max_latency_ms && latency_us > (uint64_t)x->max_latency_ms * 1000) {
        kind = SP_ERRK_ASSERTION;
        (void)sp_buf_addf(mb, "expected latency under %u ms, got %llu ms",
                          (unsigned)x->max_latency_ms,
                          (unsigned long long)((latency_us + 500) / 1000));
    }
    if (kind >= 0 && x->message) {
        sp_vuctx ctx;
        vu_ctx(v, &ctx);
        ctx.status = status;
        sp_buf_reset(mb);
        (void)sp_tmpl_render(x->message, &ctx, mb);
    }
    *msg = kind >= 0 ? mb->p : NULL;
    return kind;
}

/* The value of header name in the kept response headers, or NULL. */
static const char *find_header(const sp_buf *hb, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    const char *p = hb->p, *end = hb->p + hb->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *s = p + nlen + 1, *e = eol;
            while (s < e && (*s == ' ' || *s == '\t'))
                s++;
            while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *len = (size_t)(e - s);
            return s;
        }
        p = eol + 1;
    }
    return NULL;
}

static void extract_json_value(vu *v, int slot, const json_t *j)
{
    char num[64];
    int n;
    switch (json_typeof(j)) {
    case JSON_STRING:
        var_set_str(v, slot, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        var_set_str(v, slot, num, (size_t)n);
        return;
    case JSON_TRUE:
        var_set_str(v, slot, "true", 4);
        return;
    case JSON_FALSE:
        var_set_str(v, slot, "false", 5);
        return;
    case JSON_NULL:
        var_set_str(v, slot, "null", 4); /* found, so set: "other values as their JSON text" */
        return;
    default: {
        /* Reals, objects and arrays: their compact JSON text. */
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s)
            var_set_str(v, slot, s, strlen(s));
        else
            var_unset(v, slot);
        free(s);
        return;
    }
    }
}

static void run_extracts(vu *v, const sp_step *st, json_t **doc)
{
    for (size_t i = 0; i < st->nextracts; i++) {
        const sp_extract *x = &st->extracts[i];
        switch (x->kind) {
        case SP_EXTRACT_JSON: {
            if (!*doc)
                *doc = parse_body(v);
            const json_t *j = *doc ? sp_jpath_get(x->path, *doc) : NULL;
            if (j)
                extract_json_value(v, x->slot, j);
            else
                var_unset(v, x->slot);
            break;
        }
        case SP_EXTRACT_HEADER: {
            size_t len = 0;
            const char *s = find_header(&v->resphdr, x->header, &len);
            if (s)
                var_set_str(v, x->slot, s, len);
            else
                var_unset(v, x->slot);
            break;
        }
        case SP_EXTRACT_REGEX: {
            regmatch_t m[MAX_GROUPS];
            if (x->group >= 0 && x->group < MAX_GROUPS && x->re &&
                regexec(x->re, v->resp.p, (size_t)x->group + 1, m, 0) == 0 &&
                m[x->group].rm_so >= 0)
                var_set_str(v, x->slot, v->resp.p + m[x->group].rm_so,
                            (size_t)(m[x->group].rm_eo - m[x->group].rm_so));
            else
                var_unset(v, x->slot);
            break;
        }
        }
    }
}

/* A request of v finished (curl's handle is already removed from the multi). */
static void vu_done(vu *v, CURLcode cc)
{
    sp_worker *w = v->w;
    CURL *e = v->easy;
    const sp_plan *p = v->cur;
    uint64_t latency = sp_now_us() - v->intended_us;
    long status = 0;
    curl_off_t down = 0, up = 0;
    long hsize = 0, rsize = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &hsize);
    curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &rsize);
    curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up);
    v->state = VU_READY;
    w->inflight--;

    const char *msg = NULL;
    json_t *doc = NULL;
    int kind;
    if (cc != CURLE_OK)
        kind = classify(v, cc, &msg);
    else
        kind = check_expect(v, p, (int)status, latency, &msg, &doc);
    v->last_status = (int)status;
    sp_name_stats_record(&cur_stats(w)->names[p->req->name_id], latency, (int)status, kind, msg,
                         (uint64_t)down + (uint64_t)hsize, (uint64_t)rsize + (uint64_t)up);
    if (kind < 0) {
        run_extracts(v, p->step, &doc);
        apply_set_headers(v, p->step);
    }
    json_decref(doc);
    if (w->r->trace)
        trace_done(v, p, 1, (int)status, latency, kind, msg);
    if (v->mime) {
        curl_easy_setopt(e, CURLOPT_MIMEPOST, NULL);
        curl_mime_free(v->mime);
        v->mime = NULL;
        v->cfg_req = NULL; /* the method must be set again after a multipart post */
    }
    v->cur = NULL;
    v->step++;
    vu_run(v);
}

/* ---- the VU state machine ---- */

static uint64_t think_ns(vu *v, uint64_t now)
{
    const sp_think *t = &v->uc->think;
    uint64_t d = 0;
    switch (t->kind) {
    case SP_THINK_NONE:
        break;
    case SP_THINK_CONSTANT:
        d = (uint64_t)t->min_ms * NS_PER_MS;
        break;
    case SP_THINK_BETWEEN:
        d = (uint64_t)sp_rng_range(&v->rng, t->min_ms,
                                   t->max_ms >= t->min_ms ? t->max_ms : t->min_ms) *
            NS_PER_MS;
        break;
    case SP_THINK_PACING: {
        uint64_t next = v->iter_start_ns + (uint64_t)t->min_ms * NS_PER_MS;
        d = next > now ? next - now : 0;
        break;
    }
    }
    /* An iteration that sent nothing must still yield, or it would spin the worker. */
    if (d == 0 && v->iter_requests == 0)
        d = IDLE_YIELD_NS;
    return d;
}

static size_t pick_task(vu *v)
{
    const sp_userclass *uc = v->uc;
    uint64_t total = uc->total_weight;
    if (uc->ntasks <= 1 || total == 0)
        return 0;
    uint64_t x = (uint64_t)sp_rng_range(&v->rng, 0, (int64_t)total - 1);
    for (size_t i = 0; i < uc->ntasks; i++) {
        if (x < uc->tasks[i].weight)
            return i;
        x -= uc->tasks[i].weight;
    }
    return uc->ntasks - 1;
}

/* Takes the VU's next CSV row; -1 when a unique feeder with on_exhausted stop ran out. */
static int vu_feed(vu *v)
{
    const json_t *row = NULL;
    if (sp_feeder_next(v->feeder, &v->rng, &row) != 0)
        return -1;
    v->row = row;
    return 0;
}

/* A VU whose unique rows ran out stops for the rest of the run. It stays in its slot, parked,
 * so the population does not start a new VU in its place at the next tick; it no longer counts
 * as active. */
static void vu_exhaust(vu *v)
{
    v->exhausted = 1;
    v->state = VU_PARKED;
    v->row = NULL;
    v->w->alive--;
    if (v->w->r->trace)
        sp_tracerec_finish(v->w->r->trace); /* no row to go on with: the pass ends here */
}

static void vu_run(vu *v)
{
    sp_worker *w = v->w;
    const sp_userclass *uc = v->uc;
    if (v->feeder && !v->fed) {
        /* The first row is taken before on_start, which may log in with it. */
        v->fed = 1;
        v->row_fresh = 1;
        if (vu_feed(v) != 0) {
            vu_exhaust(v);
            return;
        }
    }
    if (v->exhausted)
        return;
    for (;;) {
        const sp_step *steps = NULL;
        sp_plan *const *plans = NULL;
        size_t nsteps = 0;
        if (v->phase == PH_START) {
            steps = uc->on_start;
            plans = v->cp->on_start;
            nsteps = uc->non_start;
        } else if (v->phase == PH_TASK) {
            steps = uc->tasks[v->task].steps;
            plans = v->cp->tasks[v->task];
            nsteps = uc->tasks[v->task].nsteps;
        }
        uint64_t now = 0;
        if (v->phase == PH_TASK && v->step >= nsteps) {
            /* The iteration is over even when the VU stops right after it. */
            cur_stats(w)->iterations++;
            v->iteration++;
            v->phase = PH_NEXT;
            if (!v->stopping && !w->ending && !w->open && !w->r->trace) {
                now = sp_now_ns();
                uint64_t d = think_ns(v, now);
                if (d) {
                    v->state = VU_THINK;
                    sp_timerheap_add(&w->timers, &v->timer, now + d);
                    return;
                }
            }
        }
        if (v->stopping || w->ending) {
            vu_free(v);
            return;
        }
        if (v->phase == PH_NEXT || v->step >= nsteps) {
            if (w->r->trace && v->iteration >= uc->ntasks) {
                trace_finish(v); /* on_start and every task done once */
                return;
            }
            if (w->open && (!v->go || uc->ntasks == 0)) {
                /* Back to the pool until an arrival takes it: no think time in the open model,
                 * the schedule decides when the next iteration starts. */
                v->go = 0;
                v->phase = PH_NEXT;
                v->state = VU_IDLE;
                w->idle[w->nidle++] = v;
                return;
            }
            v->go = 0;
            if (uc->ntasks == 0) {
                v->state = VU_PARKED;
                return;
            }
            if (v->feeder && sp_feeder_per(v->feeder) == SP_FEED_PER_ITERATION) {
                if (!v->row_fresh && vu_feed(v) != 0) {
                    vu_exhaust(v);
                    return;
                }
                v->row_fresh = 0;
            }
            v->phase = PH_TASK;
            /* A single pass ("Try it") takes the tasks in order, one per iteration. */
            v->task = w->r->trace ? (size_t)v->iteration : pick_task(v);
            v->step = 0;
            /* Variables assigned only by tasks live for one iteration (docs/test-format.md):
             * the loader numbers them after the on_start ones. */
            for (size_t i = uc->nstart_vars; i < uc->nvars; i++)
                var_unset(v, (int)i);
            if (uc->think.kind == SP_THINK_PACING) /* the only reader of the start time */
                v->iter_start_ns = now ? now : sp_now_ns();
            v->iter_requests = 0;
            continue;
        }
        const sp_step *st = &steps[v->step];
        if (!cond_ok(v, &st->cond)) {
            if (w->r->trace)
                trace_skipped(v, st);
            v->step++;
            continue;
        }
        apply_lets(v, st);
        if (st->req) {
            if (start_request(v, plans[v->step]) == 0)
                return;
            v->step++;
            continue;
        }
        apply_set_headers(v, st);
        v->step++;
    }
}

static void vu_timer_fired(vu *v)
{
    v->state = VU_READY;
    vu_run(v);
}

/* ---- the VU population ---- */

static void set_maxconns(shard *sh, uint32_t vus)
{
    /* curl closes the oldest idle connection whenever one is returned to a full cache, so a
     * cache sized to the VUs keeps one connection per VU while they grow and sheds the extra
     * ones as the remaining VUs finish requests after they shrink. A little slack covers VUs
     * that talk to two hosts. */
    long want = (long)vus + (long)(vus / 16) + 1;
    if (want != sh->maxconns) {
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, want);
        sh->maxconns = want;
    }
}

/* Sizes every shard's connection cache for `desired` VUs on the worker. */
static void set_all_maxconns(sp_worker *w, uint32_t desired)
{
    for (size_t i = 0; i < w->nshards; i++) {
        uint64_t lo = (uint64_t)i * SHARD_VUS;
        uint32_t n = desired > lo ? (uint32_t)(desired - lo) : 0;
        set_maxconns(w->shards[i], n > SHARD_VUS ? SHARD_VUS : n);
    }
}

static void set_population(sp_worker *w, uint32_t desired)
{
    uint32_t old = w->desired;
    /* Shards first, then grow the connection caches before VUs are added; shrink them after
     * VUs are asked to go. */
    if (desired > 0 && !get_shard(w, (desired - 1) / SHARD_VUS))
        return; /* curl could not allocate: retried at the next tick */
    if (desired > old)
        set_all_maxconns(w, desired);
    w->desired = desired;
    sp_grow((void **)&w->vus, &w->capslots, desired, sizeof(w->vus[0]));
    if (desired > w->nslots) {
        memset(&w->vus[w->nslots], 0, (desired - w->nslots) * sizeof(w->vus[0]));
        w->nslots = desired;
    }
    for (size_t j = 0; j < w->nslots; j++) {
        vu *v = w->vus[j];
        if (j < desired) {
            if (!v) {
                v = vu_new(w, (uint32_t)j);
                if (!v)
                    continue; /* curl could not allocate: retried at the next tick */
                w->vus[j] = v;
                vu_run(v);
            } else if (v->stopping) {
                v->stopping = 0; /* wanted again before its last request finished */
            }
        } else if (v && !v->stopping) {
            vu_stop(v);
        }
    }
    if (desired < old)
        set_all_maxconns(w, desired);
}

/* Arms the arrival timer for arrival next_n, or marks the schedule over. */
static void schedule_arrival(sp_worker *w)
{
    sp_run *r = w->r;
    double t_ms;
    if (w->ending || sp_profile_arrival_at(&r->def->load, &w->ovr, (double)w->next_n, &t_ms) != 0 ||
        t_ms * (double)NS_PER_MS >= (double)(r->end_ns - r->start_ns)) {
        sp_timerheap_remove(&w->timers, &w->arrival);
        w->arrivals_over = 1;
        return;
    }
    w->arrivals_over = 0;
    sp_timerheap_add(&w->timers, &w->arrival, r->start_ns + (uint64_t)llround(t_ms * NS_PER_MS));
}

/* An arrival is due, lag_us late: a free VU runs one iteration, else the arrival is dropped. */
static void on_arrival(sp_worker *w, uint64_t lag_us)
{
    sp_stats *st = cur_stats(w);
    if (lag_us > SP_LAG_LATE_US)
        st->arrivals_late++;
    st->arrivals_lag_us += lag_us;
    uint64_t due_us = w->arrival.when_ns / 1000;
    w->next_n += w->r->nworkers;
    schedule_arrival(w);
    if (w->nidle == 0) {
        st->dropped++;
        return;
    }
    vu *v = w->idle[--w->nidle];
    st->arrivals++;
    v->go = 1;
    v->arrival_us = due_us;
    v->state = VU_READY;
    vu_run(v);
}

/* Open model: the pool (its max_vus share) is started once and kept; the tick only follows a
 * change of the target (sp_engine_set_target) by re-planning the next arrival. */
static void open_tick(sp_worker *w)
{
    sp_run *r = w->r;
    uint32_t pool = r->def->load.max_vus;
    uint32_t mine = pool > w->id ? (pool - w->id + r->nworkers - 1) / r->nworkers : 0;
    if (w->capidle < mine) {
        /* Once, before any VU can become idle: the stack never grows on the request path. */
        sp_grow((void **)&w->idle, &w->capidle, mine, sizeof(w->idle[0]));
    }
    if (mine != w->desired || w->alive < mine)
        set_population(w, mine);
    sp_ovr o;
    sp_run_override(r, &o);
    if (o.ver != w->ovr.ver) {
        w->ovr = o;
        schedule_arrival(w);
    }
}

static void control_tick(sp_worker *w, uint64_t now)
{
    sp_run *r = w->r;
    if (w->open) {
        open_tick(w);
        return;
    }
    if (r->trace) {
        /* A single pass has one VU, started once; the load profile plays no part. */
        if (w->desired == 0)
            set_population(w, 1);
        return;
    }
    double t = sp_run_target(r, (now - r->start_ns) / NS_PER_MS);
    long total = lround(t);
    if (total < 0)
        total = 0;
    if (total > SP_DEF_MAX_VUS)
        total = SP_DEF_MAX_VUS;
    uint32_t mine = (uint64_t)total > w->id
                        ? (uint32_t)(((uint64_t)total - w->id + r->nworkers - 1) / r->nworkers)
                        : 0;
    if (mine != w->desired || w->alive < mine)
        set_population(w, mine);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/*
 * Open model, at the end. Arrivals due before the plan's end that have not fired yet (the loop
 * looks at the clock before the timers, or was behind its schedule) are started now when the
 * run ends by itself: they belong to the plan. When a stop ends it, those due before the stop
 * are dropped arrivals. Either way started + dropped equals what was planned up to the end,
 * so a low achieved rate is always explained.
 */
static void settle_arrivals(sp_worker *w, uint64_t now, int natural)
{
    sp_run *r = w->r;
    if (!w->open)
        return;
    uint64_t limit = min_u64(now, r->end_ns);
    for (uint64_t i = 0; natural && !w->arrivals_over && w->arrival.when_ns < limit; i++) {
        if (i == SP_OPEN_MAX_OVERDUE)
            break;
        sp_timerheap_remove(&w->timers, &w->arrival);
        on_arrival(w, (now - w->arrival.when_ns) / 1000);
    }
    if (w->arrivals_over)
        return;
    double limit_ms = (double)(limit - r->start_ns) / (double)NS_PER_MS;
    sp_stats *st = cur_stats(w);
    double t_ms;
    for (uint64_t i = 0; i < SP_OPEN_MAX_OVERDUE; i++) {
        if (sp_profile_arrival_at(&r->def->load, &w->ovr, (double)w->next_n, &t_ms) != 0 ||
            t_ms >= limit_ms)
            break;
        st->dropped++;
        w->next_n += r->nworkers;
    }
}

static void begin_end(sp_worker *w, uint64_t deadline, uint64_t now, int natural)
{
    if (w->ending) {
        if (deadline < w->end_deadline_ns)
            w->end_deadline_ns = deadline;
        return;
    }
    settle_arrivals(w, now, natural);
    w->ending = 1;
    w->end_deadline_ns = deadline;
    /* The idle VUs are freed just below; no arrival may take one any more. */
    w->nidle = 0;
    sp_timerheap_remove(&w->timers, &w->arrival);
    w->arrivals_over = 1;
    for (size_t j = 0; j < w->nslots; j++)
        if (w->vus[j])
            vu_stop(w->vus[j]);
}

static void free_all_vus(sp_worker *w)
{
    for (size_t j = 0; j < w->nslots; j++)
        if (w->vus[j])
            vu_free(w->vus[j]);
}

/* ---- "Try it" (trace.h): a single pass, recorded ---- */

/* Hands a request that ended (sent) or could not be sent to the trace. Only called when the run
 * has one. */
static void trace_done(vu *v, const sp_plan *p, int sent, int status, uint64_t latency, int kind,
                       const char *msg)
{
    char *url = NULL;
    if (sent)
        curl_easy_getinfo(v->easy, CURLINFO_EFFECTIVE_URL, &url);
    else
        sp_tracerec_begin(v->w->r->trace, v->w->r->def->names[p->req->name_id], p->req->method, "");
    sp_tracerec_entry rec = {
        .uc = v->uc,
        .on_start = v->phase == PH_START,
        .task = v->task,
        .step = v->step,
        .st = p->step,
        .name = v->w->r->def->names[p->req->name_id],
        .url = url,
        .status = status,
        .latency_us = latency,
        .kind = kind,
        .msg = msg,
        .body = v->resp.p,
        .body_len = v->resp.len,
        .body_bytes = v->rx,
        .vars = v->vars,
    };
    sp_tracerec_done(v->w->r->trace, &rec);
}

/* A step whose condition did not hold, shown as skipped. */
static void trace_skipped(vu *v, const sp_step *st)
{
    sp_tracerec_entry rec = {
        .uc = v->uc,
        .on_start = v->phase == PH_START,
        .task = v->task,
        .step = v->step,
        .st = st,
        .name = st->req ? v->w->r->def->names[st->req->name_id] : NULL,
        .kind = -1,
    };
    sp_tracerec_skipped(v->w->r->trace, &rec);
}

/* The pass's VU went through on_start and every task: the run ends at once. */
static void trace_finish(vu *v)
{
    sp_worker *w = v->w;
    sp_tracerec_finish(w->r->trace);
    w->ending = 1;
    w->end_deadline_ns = sp_now_ns();
    vu_free(v);
}

/* ---- the event loop ---- */

/* What a worker knows of a socket: the events registered with epoll, and whether curl still
 * watches it. */
#define FD_REG_IN 0x1u
#define FD_REG_OUT 0x2u
#define FD_REGISTERED 0x4u
#define FD_CURL 0x8u
#define FD_OURS 0x10u /* opened through on_open, so it is closed through on_close */

static void fd_ctl(shard *sh, curl_socket_t s, unsigned want)
{
    sp_worker *w = sh->w;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((want & FD_REG_IN) ? EPOLLIN : 0u) | ((want & FD_REG_OUT) ? EPOLLOUT : 0u);
    /* A connection stays in its shard's cache for life, so its socket's shard never changes
     * while it is registered. */
    ev.data.u64 = ((uint64_t)sh->idx << 32) | (uint32_t)s;
    int op = (w->fds[s] & FD_REGISTERED) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(w->ep, op, s, &ev) != 0) {
        /* Only if a socket was closed behind curl's back: try the other operation. */
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        epoll_ctl(w->ep, op, s, &ev);
    }
    w->fds[s] = (uint8_t)((w->fds[s] & FD_OURS) | want | FD_REGISTERED | FD_CURL);
}

static void fd_grow(sp_worker *w, curl_socket_t s)
{
    if ((size_t)s >= w->nfds) {
        size_t old = w->nfds;
        sp_grow((void **)&w->fds, &w->nfds, (size_t)s + 1, 1);
        memset(w->fds + old, 0, w->nfds - old);
    }
}

/*
 * curl removes a keep-alive connection's socket each time its transfer ends and adds it back
 * when the next request reuses it: two epoll_ctl calls per request for nothing. So a removed
 * socket stays registered and is only marked as no longer curl's; if it signals an event
 * while parked (the server closed it), the loop drops it then. Only connection sockets are
 * parked: curl opens them through on_open and closes them through on_close, which forgets the
 * socket (closing it takes it out of epoll), so a number reused for a new socket is never
 * mistaken for a registered one. Other sockets (a resolver's) are removed for real.
 */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    shard *sh = userp;
    sp_worker *w = sh->w;
    SP_UNUSED(e);
    SP_UNUSED(socketp);
    if (s < 0)
        return 0;
    fd_grow(w, s);
    if (what == CURL_POLL_REMOVE) {
        if (w->fds[s] & FD_OURS) {
            w->fds[s] &= (uint8_t)~FD_CURL;
        } else {
            if (w->fds[s] & FD_REGISTERED)
                epoll_ctl(w->ep, EPOLL_CTL_DEL, s, NULL);
            w->fds[s] = 0;
        }
        return 0;
    }
    unsigned want =
        ((what & CURL_POLL_IN) ? FD_REG_IN : 0u) | ((what & CURL_POLL_OUT) ? FD_REG_OUT : 0u);
    uint8_t st = w->fds[s];
    if ((st & FD_REGISTERED) && (st & (FD_REG_IN | FD_REG_OUT)) == want) {
        w->fds[s] = (uint8_t)(st | FD_CURL);
        return 0;
    }
    fd_ctl(sh, s, want);
    return 0;
}

static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    sp_worker *w = ud;
    SP_UNUSED(purpose);
    curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (s < 0)
        return CURL_SOCKET_BAD;
    fd_grow(w, s);
    w->fds[s] = FD_OURS;
    return s;
}

/* ---- target allowlist: only installed when the run has one ---- */

/* Every new connection, after DNS resolution, with the address about to be connected: the
 * address is what counts, however the URL spelled it and wherever a redirect pointed. */
static curl_socket_t guard_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    vu *v = ud;
    if (!sp_allowlist_allows_addr(v->w->r->allowlist, &a->addr, a->addrlen)) {
        sp_allow_format_addr(&a->addr, v->blocked, sizeof v->blocked);
        return CURL_SOCKET_BAD;
    }
    return on_open(v->w, purpose, a);
}

/* Every request, a reused connection's and a redirect's too, just before it is sent. */
static int guard_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    vu *v = ud;
    SP_UNUSED(local_ip);
    SP_UNUSED(local_port);
    if (!sp_allowlist_allows_ip(v->w->r->allowlist, ip, (unsigned)port)) {
        snprintf(v->blocked, sizeof v->blocked, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
        return CURL_PREREQFUNC_ABORT;
    }
    /* A refused address that happy eyeballs then replaced by an allowed one is no failure. */
    v->blocked[0] = '\0';
    return CURL_PREREQFUNC_OK;
}

static void guard_setup(vu *v)
{
    curl_easy_setopt(v->easy, CURLOPT_OPENSOCKETFUNCTION, guard_open);
    curl_easy_setopt(v->easy, CURLOPT_OPENSOCKETDATA, v);
    curl_easy_setopt(v->easy, CURLOPT_PREREQFUNCTION, guard_prereq);
    curl_easy_setopt(v->easy, CURLOPT_PREREQDATA, v);
}

static int on_close(void *ud, curl_socket_t s)
{
    sp_worker *w = ud;
    if (s >= 0 && (size_t)s < w->nfds)
        w->fds[s] = 0;
    return close(s);
}

/* An event on a socket curl no longer watches: stop watching it too. */
static int fd_parked(sp_worker *w, int fd)
{
    if ((size_t)fd >= w->nfds || (w->fds[fd] & FD_CURL))
        return 0;
    if (w->fds[fd] & FD_REGISTERED)
        epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
    w->fds[fd] &= (uint8_t)FD_OURS; /* still open: on_close will be called for it */
    return 1;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    shard *sh = userp;
    SP_UNUSED(m);
    if (timeout_ms < 0)
        sh->deadline_ns = UINT64_MAX;
    else if (timeout_ms == 0)
        sh->deadline_ns = 0; /* due whatever "now" the loop compares it with */
    else
        sh->deadline_ns = sp_now_ns() + (uint64_t)timeout_ms * NS_PER_MS;
    return 0;
}

static void process_done(shard *sh)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(sh->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode cc = m->data.result;
        /* m is invalid once the handle is removed: copy first. */
        curl_multi_remove_handle(sh->multi, e);
        char *pv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &pv);
        vu_done((vu *)pv, cc);
    }
}

static void curl_timeout(shard *sh)
{
    int running;
    sh->deadline_ns = UINT64_MAX;
    curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process_done(sh);
}

/* Runs curl's timeouts of every shard that is due; 1 when any ran. */
static int run_due(sp_worker *w, uint64_t now)
{
    int ran = 0;
    for (size_t i = 0; i < w->nshards; i++) {
        if (w->shards[i]->deadline_ns <= now) {
            curl_timeout(w->shards[i]);
            ran = 1;
        }
    }
    return ran;
}

static shard *get_shard(sp_worker *w, uint32_t idx)
{
    while (w->nshards <= idx) {
        shard *sh = sp_calloc(1, sizeof(*sh));
        sh->w = w;
        sh->idx = (uint32_t)w->nshards;
        sh->deadline_ns = UINT64_MAX;
        sh->multi = curl_multi_init();
        if (!sh->multi) {
            free(sh);
            return NULL;
        }
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
        set_maxconns(sh, 0);
        sp_grow((void **)&w->shards, &w->capshards, w->nshards + 1, sizeof(w->shards[0]));
        w->shards[w->nshards++] = sh;
    }
    return w->shards[idx];
}

void sp_worker_wake(sp_worker *w)
{
    uint64_t one = 1;
    ssize_t rc = write(w->evfd, &one, sizeof one);
    SP_UNUSED(rc); /* a full counter already means "wake up" */
}

/*
 * epoll_wait counts in whole milliseconds, so a timer due in 0.2 ms would fire up to 1 ms late:
 * too coarse for open-model arrivals, whose lateness is reported as the generator's lag.
 * epoll_pwait2 (Linux 5.11) takes nanoseconds; older kernels fall back to milliseconds,
 * rounded up so a timer never fires early.
 */
static int wait_events(int ep, struct epoll_event *evs, uint64_t ns)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    static atomic_int no_pwait2;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts = {(time_t)(ns / NS_PER_S), (long)(ns % NS_PER_S)};
        int n = epoll_pwait2(ep, evs, EVENTS_MAX, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        atomic_store_explicit(&no_pwait2, 1, memory_order_relaxed);
    }
#endif
    return epoll_wait(ep, evs, EVENTS_MAX, (int)((ns + NS_PER_MS - 1) / NS_PER_MS));
}

void *sp_worker_main(void *arg)
{
    sp_worker *w = arg;
    sp_run *r = w->r;
    /* A try's time cap is a hard stop: no grace after it. */
    const uint64_t graceful_ns = r->trace ? 0 : (uint64_t)r->def->opts.graceful_stop_ms * NS_PER_MS;
    struct epoll_event evs[EVENTS_MAX];

    w->cur = msg_take(w);
    w->cur_second = 0;
    w->next_tick_ns = r->start_ns;
    if (w->open) {
        /* The pool first, so the first arrivals find their VUs (those with on_start steps are
         * busy with them until done), then the schedule from arrival `id`. */
        open_tick(w);
        schedule_arrival(w);
    }
    for (;;) {
        uint64_t now = sp_now_ns();
        /* A second that ended is sent first, so its gauges describe its end, not a stop
         * that comes after it. */
        uint64_t sec = (now - r->start_ns) / NS_PER_S;
        if (sec > w->cur_second)
            flush_second(w, sec, 0);
        int mode = atomic_load(&r->stop_mode);
        if (mode == SP_STOP_NOW)
            break;
        if (mode == SP_STOP_GRACEFUL)
            begin_end(w, atomic_load(&r->stop_deadline_ns), now, 0);
        else if (now >= r->end_ns)
            begin_end(w, r->end_ns + graceful_ns, now, 1);
        if (w->ending && (w->inflight == 0 || now >= w->end_deadline_ns))
            break;
        if (!w->ending && now >= w->next_tick_ns) {
            control_tick(w, now);
            w->next_tick_ns = now + TICK_NS;
        }
        sp_timer *t;
        while ((t = sp_timerheap_pop_due(&w->timers, now))) {
            uint64_t lag = (now - t->when_ns) / 1000;
            if (lag > cur_stats(w)->lag_us_max)
                cur_stats(w)->lag_us_max = lag;
            if (t == &w->arrival) {
                on_arrival(w, lag);
            } else {
                vu_timer_fired((vu *)((char *)t - offsetof(vu, timer)));
            }
        }
        /* Requests just added want curl's timeout at once: start them before sleeping. */
        if (run_due(w, now))
            continue;

        uint64_t deadline = r->start_ns + (w->cur_second + 1) * NS_PER_S;
        for (size_t i = 0; i < w->nshards; i++)
            deadline = min_u64(deadline, w->shards[i]->deadline_ns);
        if (w->ending)
            deadline = min_u64(deadline, w->end_deadline_ns);
        else
            deadline = min_u64(min_u64(deadline, w->next_tick_ns), r->end_ns);
        if ((t = sp_timerheap_peek(&w->timers)))
            deadline = min_u64(deadline, t->when_ns);
        uint64_t wait_ns = deadline > now ? deadline - now : 0;
        int n = wait_events(w->ep, evs, wait_ns > NS_PER_S ? NS_PER_S : wait_ns);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == EV_WAKE) {
                uint64_t val;
                ssize_t rc = read(w->evfd, &val, sizeof val);
                SP_UNUSED(rc);
                w->next_tick_ns = 0; /* a new target: follow it now, not at the next tick */
                continue;
            }
            int fd = (int)(uint32_t)evs[i].data.u64;
            uint32_t si = (uint32_t)(evs[i].data.u64 >> 32);
            if (fd_parked(w, fd) || si >= w->nshards)
                continue;
            int flags = 0;
            if (evs[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            int running;
            curl_multi_socket_action(w->shards[si]->multi, fd, flags, &running);
        }
        for (size_t i = 0; i < w->nshards; i++)
            process_done(w->shards[i]);
        run_due(w, sp_now_ns());
    }
    /* Whatever is still in flight is aborted and not recorded (see docs/engine.md). */
    free_all_vus(w);
    uint64_t now = sp_now_ns();
    flush_second(w, (now - r->start_ns) / NS_PER_S, 1);
    return NULL;
}

sp_worker *sp_worker_new(sp_run *r, unsigned id, char *err, size_t errlen)
{
    sp_worker *w = sp_calloc(1, sizeof(*w));
    w->r = r;
    w->id = id;
    w->ep = -1;
    w->evfd = -1;
    sp_timerheap_init(&w->timers);
    sp_timer_init(&w->arrival);
    w->open = r->def->load.model == SP_LOAD_OPEN && !r->trace;
    w->next_n = id;
    pthread_mutex_init(&w->free_mu, NULL);
    sp_buf_init(&w->scratch, SCRATCH_MAX);
    sp_buf_init(&w->msgbuf, SP_FAIL_MSG_MAX * 4);

    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->ep < 0 || w->evfd < 0) {
        snprintf(err, errlen, "worker %u: epoll/eventfd: %s", id, strerror(errno));
        goto fail;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = EV_WAKE;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &ev) != 0) {
        snprintf(err, errlen, "worker %u: epoll_ctl: %s", id, strerror(errno));
        goto fail;
    }
    /* The first shard now, so that a curl that cannot start fails the run at once. */
    if (!get_shard(w, 0)) {
        snprintf(err, errlen, "worker %u: curl_multi_init failed", id);
        goto fail;
    }
    /* Two stats objects per worker cover the steady state: one filling, one being merged. */
    sp_worker_recycle(w, msg_take(w));
    sp_worker_recycle(w, msg_take(w));
    return w;
fail:
    sp_worker_free(w);
    return NULL;
}

void sp_worker_free(sp_worker *w)
{
    if (!w)
        return;
    free_all_vus(w);
    free(w->vus);
    free(w->idle);
    /* Closing the cached connections calls on_close, which uses the socket table. */
    for (size_t i = 0; i < w->nshards; i++) {
        curl_multi_cleanup(w->shards[i]->multi);
        free(w->shards[i]);
    }
    free(w->shards);
    free(w->fds);
    if (w->ep >= 0)
        close(w->ep);
    if (w->evfd >= 0)
        close(w->evfd);
    sp_timerheap_release(&w->timers);
    sp_msg *m = w->free_list;
    while (m) {
        sp_msg *next = m->next;
        sp_stats_release(&m->stats);
        free(m);
        m = next;
    }
    if (w->cur) {
        sp_stats_release(&w->cur->stats);
        free(w->cur);
    }
    pthread_mutex_destroy(&w->free_mu);
    sp_buf_release(&w->scratch);
    sp_buf_release(&w->msgbuf);
    free(w);
}
