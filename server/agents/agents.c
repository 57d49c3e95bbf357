/*
 * agents.c - see agents.h.
 *
 * An agent is a heap object in the registry's list from its upgrade until it is replaced by a
 * new connection of the same name (or the registry is freed): a lost one stays listed as lost.
 * Its connection (wsi) and its receive buffer belong to the live service thread; everything
 * else is under a->mu. Messages to an agent are queued under a->mu by any thread and written
 * by the service thread when lws says the socket is writeable; lws_cancel_service wakes it.
 */
#include "agents/agents.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/version.h"
#include "engine/common.h"
#include "engine/histogram.h"
#include "engine/share.h"
#include "engine/wire.h"

#define RX_CHUNK 65536
#define HEARTBEAT_MS 1000
#define TICK_MS 200
#define MAX_QUEUED 256 /* messages waiting for one agent: past it the agent is dropped */

enum { A_NEW, A_IDLE, A_RUNNING, A_LOST };
static const char *const state_names[] = {"idle", "idle", "running", "lost"};

typedef struct agent agent;

struct agent {
    agent *next;
    sp_agents *a;
    struct lws *wsi; /* NULL once disconnected; service thread */
    sp_buf rx;       /* service thread: the message being received */
    int state;
    char name[SP_WIRE_MAX_NAME + 1], location[SP_WIRE_MAX_NAME + 1];
    char version[SP_WIRE_MAX_VERSION + 1];
    uint32_t cores, threads, max_vus;
    int64_t token_id;
    int64_t last_word_ms, last_hb_ms;
    int has_health;
    double cpu, lag_ms;
    uint64_t dropped;
    int has_offset;
    int64_t offset_ns;
    /* Outgoing, oldest first. */
    char **q;
    size_t qn, qcap;
    int close;
    char close_reason[96];
    /* The run it has a share of. */
    sp_agents_run *run;
    unsigned widx;
};

/* A location's totals of one second an agent sent (the second it named). */
typedef struct loc_sec {
    uint64_t second;
    size_t loc;
    sp_name_stats tot;
} loc_sec;

/* One agent's part of a run, kept after the agent is gone (for the summary). */
typedef struct share_rec {
    agent *ag; /* NULL once given back */
    char name[SP_WIRE_MAX_NAME + 1];
    size_t loc;
    sp_share sh;
    int ended, lost;
    int64_t lost_second;
    double cpu_max, lag_ms_max;
    uint64_t dropped;
    uint32_t threads;     /* the agent's engine threads, for its CPU ceiling */
    uint64_t next_second; /* the next second it may send (under a->mu) */
} share_rec;

struct sp_agents_run {
    sp_agents *a;
    int64_t run_id;
    sp_engine *engine;
    size_t nnames;
    sp_load_model model;
    int64_t start_ns;
    char **locs;
    size_t nlocs;
    sp_stats *loc_totals; /* [nlocs], under a->mu */
    /* Each location's totals of the seconds received and not yet emitted by the engine
     * (sp_agents_run_second takes them), under a->mu. */
    struct loc_sec *pend;
    size_t npend, pend_cap;
    share_rec *recs;
    unsigned n;
    int began;
    int abort_on_loss; /* load.on_agent_loss "abort" */
    sp_stats scratch;  /* service thread: a second being decoded */
};

struct sp_agents {
    pthread_mutex_t mu;
    agent *list;
    struct lws_context *ctx; /* from the first connection; any thread may cancel its service */
    sp_agents_auth_fn auth;
    void *auth_ud;
    struct lws_protocols proto;
    pthread_t ticker;
    int stopping;
    pthread_cond_t cv;
};

typedef struct pss {
    agent *ag;
} pss;

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- sending (any thread, under a->mu) ---- */

static void wake(sp_agents *a)
{
    if (a->ctx)
        lws_cancel_service(a->ctx);
}

/* Queues a message for ag; takes text. Under a->mu. */
static void queue_text(agent *ag, char *text)
{
    if (!text)
        return;
    if (!ag->wsi || ag->close || ag->qn >= MAX_QUEUED) {
        if (ag->wsi && !ag->close) {
            ag->close = 1;
            snprintf(ag->close_reason, sizeof ag->close_reason, "the agent does not read");
        }
        free(text);
        return;
    }
    sp_grow((void **)&ag->q, &ag->qcap, ag->qn + 1, sizeof ag->q[0]);
    ag->q[ag->qn++] = text;
}

static void queue_msg(agent *ag, const sp_wire_msg *m)
{
    queue_text(ag, sp_wire_encode(m, NULL, NULL));
}

static void close_agent(agent *ag, const char *reason)
{
    if (ag->close)
        return;
    ag->close = 1;
    snprintf(ag->close_reason, sizeof ag->close_reason, "%s", reason);
}

/* ---- runs: what the service thread and the ticker do for them (under a->mu) ---- */

static share_rec *rec_of(agent *ag)
{
    return ag->run ? &ag->run->recs[ag->widx] : NULL;
}

static void stop_locked(sp_agents_run *ar, int graceful);

/* The agent is gone for its run: the run goes on without it, or with load.on_agent_loss
 * "abort" it stops at once. Under a->mu. */
static void lose(agent *ag, const char *why)
{
    share_rec *r = rec_of(ag);
    if (r && !r->ended && ag->run->began) {
        r->lost = 1;
        r->ended = 1;
        /* Lost at its last word, not when the loss is noticed (SP_AGENTS_LOST_MS later). */
        int64_t el =
            (ag->last_word_ms > 0 ? ag->last_word_ms * 1000000 : wall_ns()) - ag->run->start_ns;
        r->lost_second = el > 0 ? el / 1000000000 : 0;
        sp_engine_feed_end(ag->run->engine, ag->widx);
        char id[24], sec[24];
        snprintf(id, sizeof id, "%lld", (long long)ag->run->run_id);
        snprintf(sec, sizeof sec, "%lld", (long long)r->lost_second);
        sp_log_kv(SP_LOG_WARN, "agent lost during a run", "agent", ag->name, "location",
                  ag->location, "run", id, "second", sec, "why", why, NULL);
        if (ag->run->abort_on_loss) {
            sp_engine_stop(ag->run->engine, 0);
            stop_locked(ag->run, 0);
        }
    }
    ag->state = A_LOST;
}

/* Adds a second an agent sent to its location's pending totals of that second. Under a->mu. */
static void pend_add(sp_agents_run *ar, uint64_t second, size_t loc, const sp_stats *s)
{
    loc_sec *e = NULL;
    for (size_t i = 0; i < ar->npend && !e; i++)
        if (ar->pend[i].second == second && ar->pend[i].loc == loc)
            e = &ar->pend[i];
    if (!e) {
        sp_grow((void **)&ar->pend, &ar->pend_cap, ar->npend + 1, sizeof *ar->pend);
        e = &ar->pend[ar->npend++];
        e->second = second;
        e->loc = loc;
        sp_name_stats_init(&e->tot);
    }
    sp_stats_total(s, &e->tot);
}

static void on_second_msg(agent *ag, sp_wire_msg *m)
{
    sp_agents_run *ar = ag->run;
    share_rec *r = rec_of(ag);
    if (!ar || !ar->began || (int64_t)m->run_id != ar->run_id || r->ended) {
        sp_log_kv(SP_LOG_WARN, "agent second refused: not of its run", "agent", ag->name, NULL);
        return;
    }
    char err[256];
    if (sp_wire_stats_decode(m->body, m->body_len, ar->nnames, &ar->scratch, err, sizeof err) !=
        0) {
        sp_log_kv(SP_LOG_WARN, "agent second refused", "agent", ag->name, "why", err, NULL);
        return;
    }
    /* A second it already sent (after a reconnect) counts once: dropped here, and refused by
     * the engine too. */
    if (m->second < r->next_second)
        return;
    r->next_second = m->second + 1;
    sp_stats_merge(&ar->loc_totals[r->loc], &ar->scratch, 1);
    pend_add(ar, m->second, r->loc, &ar->scratch);
    sp_engine_feed_second_take(ar->engine, ag->widx, m->second, &ar->scratch);
}

static void agent_free(agent *ag);

static void handle(agent *ag, const char *text, size_t len, int64_t t1)
{
    sp_agents *a = ag->a;
    sp_wire_msg m;
    char err[256];
    int rc = sp_wire_decode(text, len, &m, err, sizeof err);
    pthread_mutex_lock(&a->mu);
    ag->last_word_ms = sp_wall_ms();
    if (rc == SP_ESTATE && m.type == SP_WIRE_HELLO) {
        sp_wire_msg re;
        sp_wire_msg_init(&re, SP_WIRE_REFUSE);
        snprintf(re.version, sizeof re.version, "%s", sp_version());
        snprintf(re.reason, sizeof re.reason,
                 "the agent speaks protocol %u (stampede %s), this server protocol %d (stampede "
                 "%s)",
                 m.v, m.version, SP_WIRE_PROTOCOL, sp_version());
        sp_log_kv(SP_LOG_WARN, "agent refused", "agent", m.name, "why", re.reason, NULL);
        queue_msg(ag, &re);
        close_agent(ag, "protocol mismatch");
        goto out;
    }
    if (rc) {
        sp_log_kv(SP_LOG_WARN, "agent message refused", "agent", ag->name[0] ? ag->name : "?",
                  "why", err, NULL);
        goto out;
    }
    if (ag->state == A_NEW && m.type != SP_WIRE_HELLO) {
        close_agent(ag, "hello first");
        goto out;
    }
    switch (m.type) {
    case SP_WIRE_HELLO: {
        if (ag->state != A_NEW)
            break;
        /* The same name again: an agent that reconnects. Within its run it takes its share
         * back and goes on sending; the old entry goes. */
        agent *old = NULL;
        for (agent *o = a->list; o; o = o->next)
            if (o != ag && strcmp(o->name, m.name) == 0)
                old = o;
        snprintf(ag->name, sizeof ag->name, "%s", m.name);
        snprintf(ag->location, sizeof ag->location, "%s", m.location);
        snprintf(ag->version, sizeof ag->version, "%s", m.version);
        ag->cores = m.cores;
        ag->threads = m.threads;
        ag->max_vus = m.max_vus;
        ag->state = A_IDLE;
        if (old) {
            if (old->wsi)
                close_agent(old, "replaced by a new connection");
            share_rec *r = rec_of(old);
            if (r && !r->ended) {
                ag->run = old->run;
                ag->widx = old->widx;
                r->ag = ag;
                ag->state = A_RUNNING;
            }
            old->run = NULL;
            old->name[0] = '\0'; /* unlisted; freed once its connection is closed */
            old->state = A_LOST;
            if (!old->wsi) {
                /* Closed already: nothing else holds it. */
                for (agent **pp = &a->list; *pp; pp = &(*pp)->next)
                    if (*pp == old) {
                        *pp = old->next;
                        break;
                    }
                agent_free(old);
            }
        }
        sp_wire_msg w;
        sp_wire_msg_init(&w, SP_WIRE_WELCOME);
        snprintf(w.version, sizeof w.version, "%s", sp_version());
        queue_msg(ag, &w);
        sp_log_kv(SP_LOG_INFO, old ? "agent reconnected" : "agent connected", "agent", ag->name,
                  "location", ag->location, "version", ag->version, NULL);
        break;
    }
    case SP_WIRE_TIME: {
        sp_wire_msg t;
        sp_wire_msg_init(&t, SP_WIRE_TIME);
        t.t0 = m.t0;
        t.t1 = t1;
        t.t2 = wall_ns();
        queue_msg(ag, &t);
        break;
    }
    case SP_WIRE_HEARTBEAT: {
        if (m.has_health) {
            ag->has_health = 1;
            ag->cpu = m.cpu;
            ag->lag_ms = m.lag_ms;
            ag->dropped = m.dropped;
            share_rec *r = rec_of(ag);
            if (r && (int64_t)m.run_id == ag->run->run_id) {
                if (m.cpu > r->cpu_max)
                    r->cpu_max = m.cpu;
                if (m.lag_ms > r->lag_ms_max)
                    r->lag_ms_max = m.lag_ms;
                r->dropped = m.dropped;
            }
        }
        if (m.has_offset) {
            ag->has_offset = 1;
            ag->offset_ns = m.offset_ns;
        }
        break;
    }
    case SP_WIRE_SECOND:
        on_second_msg(ag, &m);
        break;
    case SP_WIRE_END: {
        share_rec *r = rec_of(ag);
        if (r && (int64_t)m.run_id == ag->run->run_id && !r->ended) {
            r->ended = 1;
            sp_engine_feed_end(ag->run->engine, ag->widx);
        }
        break;
    }
    case SP_WIRE_BYE:
        close_agent(ag, "bye");
        break;
    default:
        sp_log_kv(SP_LOG_WARN, "agent message refused", "agent", ag->name, "why",
                  "not a message an agent sends", NULL);
        break;
    }
out:
    pthread_mutex_unlock(&a->mu);
    sp_wire_msg_release(&m);
}

/* ---- the lws callback (live service thread) ---- */

static int is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

static int filter(sp_agents *a, struct lws *wsi, int64_t *token_id)
{
    char authz[512] = "", peer[64] = "";
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n >= (int)sizeof authz)
        return -1;
    if (n > 0 && lws_hdr_copy(wsi, authz, sizeof authz, WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        return -1;
    lws_get_peer_simple(wsi, peer, sizeof peer);
    const char *token = strncasecmp(authz, "Bearer ", 7) == 0 ? authz + 7 : "";
    *token_id = 0;
    size_t n_agents = 0;
    pthread_mutex_lock(&a->mu);
    for (agent *ag = a->list; ag; ag = ag->next)
        n_agents++;
    pthread_mutex_unlock(&a->mu);
    if (n_agents >= SP_WIRE_MAX_AGENTS)
        return -1;
    if (a->auth)
        return a->auth(a->auth_ud, token, is_loopback(peer), token_id) == 0 ? 0 : -1;
    return is_loopback(peer) ? 0 : -1;
}

static int on_writeable(agent *ag)
{
    sp_agents *a = ag->a;
    pthread_mutex_lock(&a->mu);
    char *text = NULL;
    if (ag->qn) {
        text = ag->q[0];
        memmove(&ag->q[0], &ag->q[1], (ag->qn - 1) * sizeof ag->q[0]);
        ag->qn--;
    }
    int more = ag->qn > 0, close = ag->close && !text;
    char reason[96];
    snprintf(reason, sizeof reason, "%s", ag->close_reason);
    pthread_mutex_unlock(&a->mu);
    if (close) {
        lws_close_reason(ag->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason,
                         strlen(reason));
        return -1;
    }
    if (!text)
        return 0;
    size_t len = strlen(text);
    unsigned char *buf = sp_malloc(LWS_PRE + len);
    memcpy(buf + LWS_PRE, text, len);
    int w = lws_write(ag->wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT);
    free(buf);
    free(text);
    if (w < (int)len)
        return -1;
    if (more || close)
        lws_callback_on_writable(ag->wsi);
    else {
        pthread_mutex_lock(&a->mu);
        if (ag->qn || ag->close)
            lws_callback_on_writable(ag->wsi);
        pthread_mutex_unlock(&a->mu);
    }
    return 0;
}

static void agent_free(agent *ag)
{
    for (size_t i = 0; i < ag->qn; i++)
        free(ag->q[i]);
    free(ag->q);
    sp_buf_release(&ag->rx);
    free(ag);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    const struct lws_protocols *p = lws_get_protocol(wsi);
    sp_agents *a = p ? p->user : NULL;
    pss *ps = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        int64_t tid = 0;
        if (!a || filter(a, wsi, &tid) != 0)
            return -1;
        /* The token id rides with the connection until ESTABLISHED makes the agent. */
        lws_set_opaque_user_data(wsi, (void *)(intptr_t)tid);
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        agent *ag = sp_calloc(1, sizeof *ag);
        ag->a = a;
        ag->wsi = wsi;
        ag->state = A_NEW;
        ag->token_id = (int64_t)(intptr_t)lws_get_opaque_user_data(wsi);
        sp_buf_init(&ag->rx, SP_WIRE_MAX_BYTES);
        ag->last_word_ms = ag->last_hb_ms = sp_wall_ms();
        ps->ag = ag;
        pthread_mutex_lock(&a->mu);
        a->ctx = lws_get_context(wsi);
        ag->next = a->list;
        a->list = ag;
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
        agent *ag = ps->ag;
        if (!ag)
            return -1;
        int64_t t1 = wall_ns();
        if (sp_buf_add(&ag->rx, in, len) != 0) {
            sp_log_kv(SP_LOG_WARN, "agent message refused", "agent", ag->name, "why",
                      "larger than SP_WIRE_MAX_BYTES", NULL);
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                             (unsigned char *)"message too large", 17);
            return -1;
        }
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            handle(ag, ag->rx.p ? ag->rx.p : "", ag->rx.len, t1);
            sp_buf_reset(&ag->rx);
        }
        pthread_mutex_lock(&a->mu);
        if (ag->qn || ag->close)
            lws_callback_on_writable(wsi);
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ps->ag ? on_writeable(ps->ag) : -1;
    case LWS_CALLBACK_CLOSED: {
        agent *ag = ps->ag;
        if (!ag)
            return 0;
        ps->ag = NULL;
        pthread_mutex_lock(&a->mu);
        ag->wsi = NULL;
        if (!ag->name[0]) {
            /* Replaced by a reconnect, or gone before its hello: unlink and free. */
            for (agent **pp = &a->list; *pp; pp = &(*pp)->next)
                if (*pp == ag) {
                    *pp = ag->next;
                    break;
                }
            pthread_mutex_unlock(&a->mu);
            agent_free(ag);
            return 0;
        }
        /* In a run, it is lost only after SP_AGENTS_LOST_MS without a reconnect (the ticker):
         * an agent back within that resumes its share. */
        if (!ag->run)
            ag->state = A_LOST;
        sp_log_kv(SP_LOG_INFO, "agent disconnected", "agent", ag->name[0] ? ag->name : "?", NULL);
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (!a)
            return 0;
        pthread_mutex_lock(&a->mu);
        for (agent *ag = a->list; ag; ag = ag->next)
            if (ag->wsi && (ag->qn || ag->close))
                lws_callback_on_writable(ag->wsi);
        pthread_mutex_unlock(&a->mu);
        return 0;
    default:
        return 0;
    }
}

/* ---- the ticker: heartbeats and loss ---- */

static void *ticker_main(void *arg)
{
    sp_agents *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        if (a->stopping)
            break;
        int64_t now = sp_wall_ms();
        int any = 0;
        for (agent *ag = a->list; ag; ag = ag->next) {
            if (!ag->name[0] && ag->state != A_NEW)
                continue;
            if (now - ag->last_word_ms > SP_AGENTS_LOST_MS && ag->state != A_LOST) {
                lose(ag, ag->wsi ? "no word for 3 s" : "disconnected");
                if (ag->wsi)
                    close_agent(ag, "no word for 3 s");
                any = 1;
            } else if (ag->wsi && now - ag->last_hb_ms >= HEARTBEAT_MS && ag->state != A_NEW) {
                sp_wire_msg hb;
                sp_wire_msg_init(&hb, SP_WIRE_HEARTBEAT);
                queue_msg(ag, &hb);
                ag->last_hb_ms = now;
                any = 1;
            }
        }
        if (any)
            wake(a);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- the API ---- */

sp_agents *sp_agents_new(const sp_agents_opts *o)
{
    sp_agents *a = sp_calloc(1, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (o) {
        a->auth = o->auth;
        a->auth_ud = o->auth_ud;
    }
    a->proto.name = SP_WIRE_SUBPROTOCOL;
    a->proto.callback = callback;
    a->proto.per_session_data_size = sizeof(pss);
    a->proto.rx_buffer_size = RX_CHUNK;
    a->proto.user = a;
    if (pthread_create(&a->ticker, NULL, ticker_main, a) != 0)
        abort();
    return a;
}

void sp_agents_free(sp_agents *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->ticker, NULL);
    for (agent *ag = a->list, *next; ag; ag = next) {
        next = ag->next;
        agent_free(ag);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

const void *sp_agents_protocol(sp_agents *a)
{
    return &a->proto;
}

static json_t *rfc3339(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[96];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(buf);
}

json_t *sp_agents_list(sp_agents *a)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&a->mu);
    for (agent *ag = a->list; ag; ag = ag->next) {
        /* Listed once registered and its clock offset is known (one round trip after the
         * welcome): until then it could not start a run at its instant. */
        if (!ag->name[0] || !ag->has_offset)
            continue;
        int running = ag->state == A_RUNNING;
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(ag->name));
        json_object_set_new(o, "location", json_string(ag->location));
        json_object_set_new(o, "state", json_string(state_names[ag->state]));
        json_object_set_new(o, "run_id", ag->run ? json_integer(ag->run->run_id) : json_null());
        json_object_set_new(o, "version", json_string(ag->version));
        json_object_set_new(o, "protocol", json_integer(SP_WIRE_PROTOCOL));
        json_object_set_new(o, "cores", json_integer(ag->cores));
        json_object_set_new(o, "threads", json_integer(ag->threads));
        json_object_set_new(o, "max_vus", json_integer(ag->max_vus));
        json_object_set_new(o, "last_heartbeat", rfc3339(ag->last_word_ms));
        json_object_set_new(o, "clock_offset_ms", json_real((double)ag->offset_ns / 1e6));
        json_object_set_new(o, "cpu", running && ag->has_health ? json_real(ag->cpu) : json_null());
        json_object_set_new(o, "lag_ms",
                            running && ag->has_health ? json_real(ag->lag_ms) : json_null());
        json_object_set_new(o, "dropped",
                            running && ag->has_health ? json_integer((json_int_t)ag->dropped)
                                                      : json_null());
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&a->mu);
    return json_pack("{s:o}", "agents", arr);
}

void sp_agents_drop_token(sp_agents *a, int64_t token_id)
{
    if (!token_id)
        return;
    pthread_mutex_lock(&a->mu);
    for (agent *ag = a->list; ag; ag = ag->next)
        if (ag->token_id == token_id && ag->wsi) {
            close_agent(ag, "token revoked");
            lose(ag, "token revoked");
            ag->last_word_ms = 0;
        }
    wake(a);
    pthread_mutex_unlock(&a->mu);
}

int sp_agents_reserve(sp_agents *a, const json_t *locations, uint32_t peak, sp_agents_run **out,
                      char *msg, size_t msglen)
{
    *out = NULL;
    if (!json_is_object(locations) || json_object_size(locations) == 0 ||
        json_object_size(locations) > SP_WIRE_MAX_LOCATIONS) {
        snprintf(msg, msglen, "locations: must be an object of 1 to %d locations and percents",
                 SP_WIRE_MAX_LOCATIONS);
        return SP_EINVAL;
    }
    size_t nlocs = json_object_size(locations);
    sp_share_loc *sl = sp_calloc(nlocs, sizeof *sl);
    const char *key;
    json_t *v;
    size_t i = 0;
    int rc = 0;
    json_object_foreach((json_t *)locations, key, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100) {
            snprintf(msg, msglen, "locations.%s: must be an integer percent from 1 to 100", key);
            free(sl);
            return SP_EINVAL;
        }
        sl[i].name = key;
        sl[i].percent = (uint32_t)json_integer_value(v);
        i++;
    }
    pthread_mutex_lock(&a->mu);
    unsigned total = 0;
    for (i = 0; i < nlocs; i++)
        for (agent *ag = a->list; ag; ag = ag->next)
            if (ag->wsi && !ag->close && ag->state == A_IDLE && ag->has_offset &&
                strcmp(ag->location, sl[i].name) == 0) {
                sl[i].nagents++;
                total++;
            }
    sp_share *sh = sp_calloc(total ? total : 1, sizeof *sh);
    rc = sp_share_plan(sl, nlocs, peak, sh, msg, msglen);
    if (rc == 0) {
        sp_agents_run *ar = sp_calloc(1, sizeof *ar);
        ar->a = a;
        ar->n = total;
        ar->nlocs = nlocs;
        ar->locs = sp_calloc(nlocs, sizeof *ar->locs);
        for (i = 0; i < nlocs; i++)
            ar->locs[i] = sp_strdup(sl[i].name);
        ar->recs = sp_calloc(total, sizeof *ar->recs);
        unsigned k = 0;
        for (i = 0; i < nlocs; i++)
            for (agent *ag = a->list; ag; ag = ag->next)
                if (ag->wsi && !ag->close && ag->state == A_IDLE && ag->has_offset &&
                    strcmp(ag->location, sl[i].name) == 0) {
                    share_rec *r = &ar->recs[k];
                    r->ag = ag;
                    r->threads = ag->threads;
                    snprintf(r->name, sizeof r->name, "%s", ag->name);
                    r->loc = i;
                    r->sh = sh[k];
                    ag->run = ar;
                    ag->widx = k;
                    ag->state = A_RUNNING;
                    k++;
                }
        *out = ar;
    }
    pthread_mutex_unlock(&a->mu);
    free(sh);
    free(sl);
    return rc;
}

unsigned sp_agents_run_count(const sp_agents_run *ar)
{
    return ar->n;
}

void sp_agents_run_begin(sp_agents_run *ar, int64_t run_id, sp_engine *engine, const sp_def *def,
                         const json_t *allowlist, const json_t *files, int64_t start_ns)
{
    sp_agents *a = ar->a;
    pthread_mutex_lock(&a->mu);
    ar->run_id = run_id;
    ar->engine = engine;
    ar->nnames = def->nnames;
    ar->model = def->load.model;
    ar->start_ns = start_ns;
    ar->abort_on_loss = def->load.abort_on_agent_loss;
    ar->loc_totals = sp_calloc(ar->nlocs, sizeof *ar->loc_totals);
    for (size_t i = 0; i < ar->nlocs; i++)
        sp_stats_init(&ar->loc_totals[i], def->nnames);
    sp_stats_init(&ar->scratch, def->nnames);
    ar->began = 1;
    for (unsigned k = 0; k < ar->n; k++) {
        share_rec *r = &ar->recs[k];
        if (!r->ag)
            continue;
        sp_wire_msg m;
        sp_wire_msg_init(&m, SP_WIRE_ASSIGN);
        m.run_id = (uint64_t)run_id;
        m.def = def->doc;
        m.allowlist = (json_t *)allowlist;
        m.files = (json_t *)files;
        m.vu_offset = r->sh.vu_offset;
        m.fraction = r->sh.to - r->sh.from;
        m.share_from = r->sh.from;
        m.share_to = r->sh.to;
        m.csv_index = r->sh.csv_index;
        m.csv_count = r->sh.csv_count;
        m.start_ns = start_ns;
        queue_msg(r->ag, &m);
    }
    wake(a);
    pthread_mutex_unlock(&a->mu);
}

void sp_agents_run_stop(sp_agents_run *ar, int graceful)
{
    pthread_mutex_lock(&ar->a->mu);
    stop_locked(ar, graceful);
    pthread_mutex_unlock(&ar->a->mu);
}

static void stop_locked(sp_agents_run *ar, int graceful)
{
    sp_agents *a = ar->a;
    for (unsigned k = 0; k < ar->n; k++) {
        share_rec *r = &ar->recs[k];
        if (!r->ag || r->ended)
            continue;
        sp_wire_msg m;
        sp_wire_msg_init(&m, SP_WIRE_STOP);
        m.run_id = (uint64_t)ar->run_id;
        m.graceful = graceful;
        queue_msg(r->ag, &m);
    }
    wake(a);
}

void sp_agents_run_set_target(sp_agents_run *ar, double target, uint32_t ramp_ms)
{
    sp_agents *a = ar->a;
    pthread_mutex_lock(&a->mu);
    for (unsigned k = 0; k < ar->n; k++) {
        share_rec *r = &ar->recs[k];
        if (!r->ag || r->ended)
            continue;
        sp_wire_msg m;
        sp_wire_msg_init(&m, SP_WIRE_SET_TARGET);
        m.run_id = (uint64_t)ar->run_id;
        m.target = ar->model == SP_LOAD_OPEN ? target * (r->sh.to - r->sh.from)
                                             : sp_share_vus(target, r->sh.from, r->sh.to);
        m.ramp_ms = ramp_ms;
        queue_msg(r->ag, &m);
    }
    wake(a);
    pthread_mutex_unlock(&a->mu);
}

const sp_stats *sp_agents_run_location_stats(sp_agents_run *ar, const char *location)
{
    for (size_t i = 0; ar->began && i < ar->nlocs; i++)
        if (strcmp(ar->locs[i], location) == 0)
            return &ar->loc_totals[i];
    return NULL;
}

json_t *sp_agents_run_second(sp_agents_run *ar, uint64_t second)
{
    pthread_mutex_lock(&ar->a->mu);
    if (!ar->began) {
        pthread_mutex_unlock(&ar->a->mu);
        return json_object();
    }
    /* The engine's last second also holds what came after it (a graceful stop's tail): once
     * every agent has ended, everything pending is this second's. */
    int all_ended = 1;
    for (unsigned k = 0; k < ar->n; k++)
        all_ended &= ar->recs[k].ended;
    sp_name_stats *tot = sp_calloc(ar->nlocs, sizeof *tot);
    for (size_t i = 0; i < ar->nlocs; i++)
        sp_name_stats_init(&tot[i]);
    size_t kept = 0;
    for (size_t i = 0; i < ar->npend; i++) {
        loc_sec *e = &ar->pend[i];
        if (e->second <= second || all_ended) {
            sp_name_stats_merge(&tot[e->loc], &e->tot);
            sp_name_stats_release(&e->tot);
        } else {
            ar->pend[kept++] = *e;
        }
    }
    ar->npend = kept;
    json_t *o = json_object();
    for (size_t i = 0; i < ar->nlocs; i++) {
        const sp_name_stats *t = &tot[i];
        json_object_set_new(o, ar->locs[i],
                            json_pack("{s:I,s:I,s:f,s:f,s:f}", "requests", (json_int_t)t->requests,
                                      "errors", (json_int_t)t->failures, "p50_ms",
                                      (double)sp_hist_percentile(t->hist, 50) / 1000.0, "p95_ms",
                                      (double)sp_hist_percentile(t->hist, 95) / 1000.0, "p99_ms",
                                      (double)sp_hist_percentile(t->hist, 99) / 1000.0));
        sp_name_stats_release(&tot[i]);
    }
    free(tot);
    pthread_mutex_unlock(&ar->a->mu);
    return o;
}

int sp_agents_run_lost(sp_agents_run *ar)
{
    int lost = 0;
    pthread_mutex_lock(&ar->a->mu);
    for (unsigned k = 0; k < ar->n; k++)
        lost |= ar->recs[k].lost;
    pthread_mutex_unlock(&ar->a->mu);
    return lost;
}

static json_t *figures(const sp_name_stats *n)
{
    return json_pack("{s:I,s:I,s:f,s:f,s:f}", "requests", (json_int_t)n->requests, "failures",
                     (json_int_t)n->failures, "p50_ms",
                     (double)sp_hist_percentile(n->hist, 50) / 1000.0, "p95_ms",
                     (double)sp_hist_percentile(n->hist, 95) / 1000.0, "p99_ms",
                     (double)sp_hist_percentile(n->hist, 99) / 1000.0);
}

json_t *sp_agents_run_summary(sp_agents_run *ar, const sp_def *def)
{
    json_t *locs = json_object(), *agents = json_array(), *lost = json_array();
    pthread_mutex_lock(&ar->a->mu);
    for (size_t i = 0; ar->began && i < ar->nlocs; i++) {
        const sp_stats *s = &ar->loc_totals[i];
        sp_name_stats tot;
        sp_name_stats_init(&tot);
        sp_stats_total(s, &tot);
        json_t *o = figures(&tot);
        sp_name_stats_release(&tot);
        json_t *names = json_object();
        for (size_t k = 0; k < s->nnames && k < def->nnames; k++)
            if (s->names[k].requests)
                json_object_set_new(names, def->names[k], figures(&s->names[k]));
        json_object_set_new(o, "names", names);
        json_object_set_new(locs, ar->locs[i], o);
    }
    for (unsigned k = 0; k < ar->n; k++) {
        const share_rec *r = &ar->recs[k];
        /* The generator, not the target, may have been the bottleneck: its timers fired late
         * (SP_LAG_WARN_US), or its threads were busy (90% of each). */
        const char *why = r->lag_ms_max * 1000.0 > SP_LAG_WARN_US        ? "timer lag"
                          : r->threads && r->cpu_max > 90.0 * r->threads ? "cpu"
                                                                         : NULL;
        json_array_append_new(agents,
                              json_pack("{s:s,s:s,s:f,s:f,s:I,s:o}", "name", r->name, "location",
                                        ar->locs[r->loc], "cpu", r->cpu_max, "lag_ms_max",
                                        r->lag_ms_max, "dropped", (json_int_t)r->dropped,
                                        "bottleneck", why ? json_string(why) : json_null()));
        if (r->lost)
            json_array_append_new(lost, json_pack("{s:s,s:s,s:I}", "name", r->name, "location",
                                                  ar->locs[r->loc], "second",
                                                  (json_int_t)r->lost_second));
    }
    pthread_mutex_unlock(&ar->a->mu);
    return json_pack("{s:o,s:o,s:o}", "locations", locs, "agents", agents, "agents_lost", lost);
}

void sp_agents_run_free(sp_agents_run *ar)
{
    if (!ar)
        return;
    sp_agents *a = ar->a;
    pthread_mutex_lock(&a->mu);
    for (unsigned k = 0; k < ar->n; k++) {
        agent *ag = ar->recs[k].ag;
        if (ag && ag->run == ar) {
            ag->run = NULL;
            if (ag->state == A_RUNNING)
                ag->state = ag->wsi ? A_IDLE : A_LOST;
        }
    }
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; i < ar->nlocs; i++) {
        free(ar->locs[i]);
        if (ar->loc_totals)
            sp_stats_release(&ar->loc_totals[i]);
    }
    free(ar->locs);
    free(ar->loc_totals);
    for (size_t i = 0; i < ar->npend; i++)
        sp_name_stats_release(&ar->pend[i].tot);
    free(ar->pend);
    if (ar->began)
        sp_stats_release(&ar->scratch);
    free(ar->recs);
    free(ar);
}
