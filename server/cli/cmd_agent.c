/*
 * cmd_agent.c - `stampede agent`: a load generator on another machine that connects out to a
 * server, takes its share of runs across locations and streams their seconds back
 * (docs/agents-protocol.md; the server side is server/agents/).
 *
 * One thread runs the libwebsockets client loop and everything the agent decides; a run's
 * engine has its own threads. The engine's on_second (its aggregator thread) encodes each
 * second and queues it under a mutex, then wakes the loop with lws_cancel_service; a waiter
 * thread blocks in sp_engine_wait and wakes the loop when the run has ended.
 *
 * Safety: the agent never listens. Its load stops within SP_AGENT_ORPHAN_MS of its last word
 * from the server (a dead server or a network split leaves no orphaned load). A lost
 * connection is retried with backoff (1, 2, 4 ... 30 s); seconds made meanwhile wait (bounded)
 * and are sent after the reconnect, where the server drops any it already has.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/version.h"
#include "cli/cli.h"
#include "engine/allowlist.h"
#include "engine/common.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "engine/share.h"
#include "engine/wire.h"

#define SP_AGENT_ORPHAN_MS 4000 /* no word from the server this long: stop the load at once */
#define BACKOFF_MAX_S 30
#define OUT_MAX 1200 /* messages waiting to be sent (20 minutes of seconds) */
#define CONFIG_TIMEOUT_MS 10000

typedef struct agent {
    /* options */
    char server[1024];
    const char *token;
    char name[SP_WIRE_MAX_NAME + 1], location[SP_WIRE_MAX_NAME + 1];
    unsigned threads, max_vus;
    int insecure;
    const char *ca_file; /* NULL: the system's trusted CAs */
    const char *record;  /* NULL, or a directory: each run's seconds as sent (record_second) */
    /* where the stream is */
    char host[256];
    int port, tls;
    /* the connection (loop thread) */
    struct lws_context *ctx;
    struct lws *wsi;
    int connected, welcomed;
    char cert_err[200]; /* why the server's certificate was refused, this attempt; "" if not */
    int64_t next_attempt_ms;
    unsigned backoff_s;
    int64_t last_word_ms, last_hb_ms;
    sp_buf rx;
    sp_clock clock;
    int exit_code; /* >= 0: leave the loop with it */
    /* outgoing, under mu */
    pthread_mutex_t mu;
    char **out;
    size_t nout, capout;
    /* the run (loop thread, but ended under mu) */
    sp_engine *engine;
    sp_def *def;
    sp_allowlist *allow;
    uint64_t run_id;
    int64_t start_at_ns; /* the agent's clock; 0: started */
    int ended;           /* under mu: the waiter saw sp_engine_wait return */
    int64_t last_second; /* under mu */
    uint64_t lag_us;     /* under mu: the last second's worst lag */
    uint64_t dropped;    /* under mu */
    pthread_t waiter;
    int waiter_started;
    struct rusage ru;
    int64_t ru_ms;
    /* --record (loop thread): the open file of the run whose seconds are being sent */
    FILE *rec;
    unsigned long long rec_run;
    int rec_bad; /* rec_run's file could not be written: said once, not retried */
} agent;

#define START_EARLY_MS 60 /* the loop wakes this long before a start instant, then sleeps to it */
#define LOOP_MAX_WAIT_MS 1000 /* the longest the loop sleeps, whatever is due */

static volatile sig_atomic_t got_signal;
static struct lws_context *signal_ctx;
static lws_sorted_usec_list_t tick_sul;

static void on_signal(int sig)
{
    got_signal = sig;
    if (signal_ctx)
        lws_cancel_service(signal_ctx);
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "agent: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- outgoing ---- */

static void push_text(agent *ag, char *text)
{
    if (!text)
        return;
    pthread_mutex_lock(&ag->mu);
    if (ag->nout >= OUT_MAX) {
        free(text); /* the server has long declared this agent lost */
    } else {
        sp_grow((void **)&ag->out, &ag->capout, ag->nout + 1, sizeof ag->out[0]);
        ag->out[ag->nout++] = text;
    }
    pthread_mutex_unlock(&ag->mu);
    if (ag->ctx)
        lws_cancel_service(ag->ctx);
}

static void push(agent *ag, const sp_wire_msg *m)
{
    push_text(ag, sp_wire_encode(m, NULL, NULL));
}

/* The engine's aggregator thread: one message per second of the run. */
static void on_second(void *ud, uint64_t second, const sp_stats *s)
{
    agent *ag = ud;
    sp_wire_msg m;
    sp_wire_msg_init(&m, SP_WIRE_SECOND);
    m.run_id = ag->run_id;
    m.second = second;
    pthread_mutex_lock(&ag->mu);
    ag->last_second = (int64_t)second;
    ag->lag_us = s->lag_us_max;
    ag->dropped += s->dropped;
    pthread_mutex_unlock(&ag->mu);
    push_text(ag, sp_wire_encode(&m, s, NULL));
}

static void *waiter_main(void *arg)
{
    agent *ag = arg;
    sp_engine_wait(ag->engine);
    pthread_mutex_lock(&ag->mu);
    ag->ended = 1;
    pthread_mutex_unlock(&ag->mu);
    lws_cancel_service(ag->ctx);
    return NULL;
}

/* ---- the run ---- */

static void run_release(agent *ag)
{
    if (ag->waiter_started)
        pthread_join(ag->waiter, NULL);
    ag->waiter_started = 0;
    sp_engine_free(ag->engine);
    ag->engine = NULL;
    sp_def_free(ag->def);
    ag->def = NULL;
    sp_allowlist_free(ag->allow);
    ag->allow = NULL;
    ag->start_at_ns = 0;
    ag->ended = 0;
}

/* Writes {"path": "content"} into a new directory (its name into dir); each path is a plain
 * file name the loader accepts. 0, or an error added to el. */
static int write_files(const json_t *files, char *dir, size_t dirlen, sp_errlist *el)
{
    if (!json_object_size(files))
        return 0;
    snprintf(dir, dirlen, "/tmp/stampede-agent-XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        sp_errlist_add(el, "files", "cannot make a directory for the data files");
        return SP_EIO;
    }
    const char *path;
    json_t *content;
    json_object_foreach((json_t *)files, path, content)
    {
        if (!sp_def_file_path_ok(path)) {
            sp_errlist_add(el, "files", "'%.64s' is not a relative path without . or ..", path);
            return SP_EINVAL;
        }
        char full[1200];
        snprintf(full, sizeof full, "%s/%s", dir, path);
        /* Its folders first ("data/users.csv"). */
        for (char *s = full + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
            *s = '\0';
            mkdir(full, 0700);
            *s = '/';
        }
        FILE *f = fopen(full, "wb");
        size_t n = json_string_length(content);
        if (!f || fwrite(json_string_value(content), 1, n, f) != n) {
            if (f)
                fclose(f);
            sp_errlist_add(el, "files", "cannot write '%.64s'", path);
            return SP_EIO;
        }
        fclose(f);
    }
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    SP_UNUSED(st);
    SP_UNUSED(flag);
    SP_UNUSED(ftw);
    remove(path);
    return 0;
}

/* Removes the directory write_files made, with everything in it. */
static void remove_files(const json_t *files, const char *dir)
{
    SP_UNUSED(files);
    if (dir[0])
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void take_assign(agent *ag, sp_wire_msg *m)
{
    if (ag->engine) {
        say("refused run %llu: still running run %llu", (unsigned long long)m->run_id,
            (unsigned long long)ag->run_id);
        return;
    }
    char *text = json_dumps(m->def, JSON_COMPACT);
    sp_errlist el;
    sp_errlist_init(&el);
    sp_overrides ov = SP_OVERRIDES_NONE;
    /* The data files came with the definition: written to a directory of this run's own,
     * read by the loader (which keeps them in memory), then removed. */
    char dir[64] = "";
    int rc = text ? write_files(m->files, dir, sizeof dir, &el) : SP_EINVAL;
    if (rc == 0)
        rc = sp_def_load_confined(text, strlen(text), &ov, dir[0] ? dir : NULL, &ag->def, &el);
    remove_files(m->files, dir);
    free(text);
    if (rc == 0 && m->allowlist && json_array_size(m->allowlist)) {
        size_t n = json_array_size(m->allowlist);
        const char **entries = sp_calloc(n, sizeof *entries);
        for (size_t i = 0; i < n; i++)
            entries[i] = json_string_value(json_array_get(m->allowlist, i));
        rc = sp_allowlist_new(entries, n, &ag->allow, &el);
        free(entries);
        if (rc == 0)
            sp_allowlist_resolve(ag->allow);
    }
    if (rc) {
        sp_buf b;
        sp_buf_init(&b, 4096);
        sp_errlist_format(&el, &b);
        say("cannot run run %llu: %s", (unsigned long long)m->run_id, b.p ? b.p : "invalid");
        sp_buf_release(&b);
        sp_errlist_release(&el);
        run_release(ag);
        return;
    }
    sp_errlist_release(&el);
    /* Its share: the load scaled, thresholds and stop_when left to the server, which sees
     * every agent's seconds. */
    sp_share_scale_load(&ag->def->load, m->share_from, m->share_to);
    ag->def->load.nstop_when = 0;
    sp_engine_opts eo = {.threads = ag->threads,
                         .on_second = on_second,
                         .ud = ag,
                         .allowlist = ag->allow,
                         .vu_base = m->vu_offset,
                         .csv_part_index = m->csv_index,
                         .csv_part_count = m->csv_count};
    char err[256];
    if (sp_engine_new(ag->def, &eo, &ag->engine, err, sizeof err) != 0) {
        say("cannot run run %llu: %s", (unsigned long long)m->run_id, err);
        run_release(ag);
        return;
    }
    /* The threads and the open model's pool now, in the lead time before the instant, so that
     * the start at the instant is only the clock's. */
    if (sp_engine_prepare(ag->engine) != 0) {
        say("cannot run run %llu: the engine's threads did not start",
            (unsigned long long)m->run_id);
        run_release(ag);
        return;
    }
    ag->run_id = m->run_id;
    ag->last_second = -1;
    ag->dropped = 0;
    int64_t off = 0;
    sp_clock_offset(&ag->clock, &off, NULL);
    /* The server's instant on this agent's clock. */
    ag->start_at_ns = m->start_ns - off;
    getrusage(RUSAGE_SELF, &ag->ru);
    ag->ru_ms = sp_wall_ms();
    say("run %llu assigned: VUs from %u, share %.4f, starting in %lld ms",
        (unsigned long long)m->run_id, m->vu_offset + 1, m->share_to - m->share_from,
        (long long)((ag->start_at_ns - wall_ns()) / 1000000));
}

/* Starts the assigned run at its instant: the loop wakes a little before, then sleeps to it. */
static void maybe_start(agent *ag)
{
    if (!ag->engine || !ag->start_at_ns)
        return;
    int64_t left = ag->start_at_ns - wall_ns();
    if (left > START_EARLY_MS * 1000000LL)
        return;
    if (left > 0) {
        struct timespec ts = {(time_t)(ag->start_at_ns / 1000000000),
                              (long)(ag->start_at_ns % 1000000000)};
        clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
    }
    int64_t at = ag->start_at_ns;
    ag->start_at_ns = 0;
    /* The engine's seconds count from its start: log how late that is, and the instant on
     * this agent's clock (the distributed test compares the agents' instants). */
    int64_t now = wall_ns();
    int rc = sp_engine_start(ag->engine);
    say("run %llu starting %.3f ms after its instant (agent clock %lld ns)",
        (unsigned long long)ag->run_id, (double)(now - at) / 1e6, (long long)now);
    if (rc != 0 || pthread_create(&ag->waiter, NULL, waiter_main, ag) != 0) {
        say("run %llu could not start", (unsigned long long)ag->run_id);
        sp_engine_stop(ag->engine, 0);
        pthread_mutex_lock(&ag->mu);
        ag->ended = 1;
        pthread_mutex_unlock(&ag->mu);
        return;
    }
    ag->waiter_started = 1;
    say("run %llu started", (unsigned long long)ag->run_id);
}

/* ---- messages from the server ---- */

static void send_heartbeat(agent *ag);

static void handle(agent *ag, const char *text, size_t len)
{
    sp_wire_msg m;
    char err[256];
    int rc = sp_wire_decode(text, len, &m, err, sizeof err);
    if (rc == SP_ESTATE) {
        say("refused: the server speaks protocol %u (stampede %s), this agent protocol %d "
            "(stampede %s)",
            m.v, m.version[0] ? m.version : "?", SP_WIRE_PROTOCOL, sp_version());
        ag->exit_code = 1;
        return;
    }
    if (rc) {
        say("message from the server refused: %s", err);
        return;
    }
    ag->last_word_ms = sp_wall_ms();
    switch (m.type) {
    case SP_WIRE_WELCOME:
        ag->welcomed = 1;
        ag->backoff_s = 0;
        /* A heartbeat at once (with the clock offset, when a reconnected agent has one): the
         * server lists the agent and gives it work only once it has heard its offset. */
        ag->last_hb_ms = 0;
        say("registered with the server (stampede %s) as %s in %s", m.version, ag->name,
            ag->location);
        break;
    case SP_WIRE_REFUSE:
        say("refused by the server: %s", m.reason);
        ag->exit_code = 1;
        break;
    case SP_WIRE_TIME:
        if (m.t1) {
            int64_t off;
            int had = sp_clock_offset(&ag->clock, &off, NULL);
            sp_clock_add(&ag->clock, sp_clock_sample_of(m.t0, m.t1, m.t2, wall_ns()));
            /* The server lists this agent, and gives it work, only once it knows its clock
             * offset: tell it now rather than at the next heartbeat, a second away. */
            if (!had && sp_clock_offset(&ag->clock, &off, NULL) && ag->welcomed)
                send_heartbeat(ag);
        }
        break;
    case SP_WIRE_ASSIGN:
        take_assign(ag, &m);
        break;
    case SP_WIRE_SET_TARGET:
        if (ag->engine && m.run_id == ag->run_id) {
            sp_engine_set_target(ag->engine, m.target, m.ramp_ms);
            say("run %llu: target %g over %u ms (agent clock %lld ns)",
                (unsigned long long)m.run_id, m.target, m.ramp_ms, (long long)wall_ns());
        }
        break;
    case SP_WIRE_STOP:
        if (ag->engine && m.run_id == ag->run_id) {
            if (ag->start_at_ns) {
                /* Not started yet: it never will. */
                ag->start_at_ns = 0;
                pthread_mutex_lock(&ag->mu);
                ag->ended = 1;
                pthread_mutex_unlock(&ag->mu);
            } else {
                sp_engine_stop(ag->engine, m.graceful);
            }
            say("run %llu: stop (%s; agent clock %lld ns)", (unsigned long long)m.run_id,
                m.graceful ? "graceful" : "now", (long long)wall_ns());
        }
        break;
    case SP_WIRE_BYE:
        say("the server said bye: %s", m.reason);
        break;
    default:
        break;
    }
    sp_wire_msg_release(&m);
}

/* ---- the loop's timers ---- */

static void send_heartbeat(agent *ag)
{
    int64_t now = sp_wall_ms();
    sp_wire_msg t;
    sp_wire_msg_init(&t, SP_WIRE_TIME);
    t.t0 = wall_ns();
    push(ag, &t);
    sp_wire_msg hb;
    sp_wire_msg_init(&hb, SP_WIRE_HEARTBEAT);
    int64_t off;
    if (sp_clock_offset(&ag->clock, &off, NULL)) {
        hb.has_offset = 1;
        hb.offset_ns = off;
    }
    if (ag->engine && !ag->start_at_ns) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double used = (double)(ru.ru_utime.tv_sec - ag->ru.ru_utime.tv_sec) * 1000.0 +
                      (double)(ru.ru_utime.tv_usec - ag->ru.ru_utime.tv_usec) / 1000.0 +
                      (double)(ru.ru_stime.tv_sec - ag->ru.ru_stime.tv_sec) * 1000.0 +
                      (double)(ru.ru_stime.tv_usec - ag->ru.ru_stime.tv_usec) / 1000.0;
        int64_t span = now - ag->ru_ms;
        ag->ru = ru;
        ag->ru_ms = now;
        hb.has_health = 1;
        hb.run_id = ag->run_id;
        hb.cpu = span > 0 ? used * 100.0 / (double)span : 0;
        pthread_mutex_lock(&ag->mu);
        hb.lag_ms = (double)ag->lag_us / 1000.0;
        hb.dropped = ag->dropped;
        pthread_mutex_unlock(&ag->mu);
    }
    push(ag, &hb);
    ag->last_hb_ms = now;
}

static void tick(agent *ag)
{
    int64_t now = sp_wall_ms();
    maybe_start(ag);
    /* No orphaned load: a run goes on only while the server is heard. */
    if (ag->engine && now - ag->last_word_ms > SP_AGENT_ORPHAN_MS) {
        if (ag->start_at_ns) {
            ag->start_at_ns = 0;
            pthread_mutex_lock(&ag->mu);
            ag->ended = 1;
            pthread_mutex_unlock(&ag->mu);
        } else {
            sp_engine_stop(ag->engine, 0);
        }
        say("run %llu: no word from the server for %d ms: load stopped",
            (unsigned long long)ag->run_id, SP_AGENT_ORPHAN_MS);
        ag->last_word_ms = now; /* said once */
    }
    pthread_mutex_lock(&ag->mu);
    int ended = ag->ended;
    int64_t last = ag->last_second;
    pthread_mutex_unlock(&ag->mu);
    if (ended && ag->engine) {
        run_release(ag);
        sp_wire_msg e;
        sp_wire_msg_init(&e, SP_WIRE_END);
        e.run_id = ag->run_id;
        e.last_second = last;
        push(ag, &e);
        say("run %llu ended after second %lld", (unsigned long long)ag->run_id, (long long)last);
    }
    if (ag->connected && ag->welcomed && now - ag->last_hb_ms >= 1000)
        send_heartbeat(ag);
}

/* ---- --record: each second as sent ---- */

/* Appends one "second" frame, exactly as it is about to be written to the socket, to the file
 * of its run (DIR/NAME-runID.wire, made on the run's first second): a line with its length in
 * bytes, the frame, then a newline (docs/distributed.md). Returns the file's length before it,
 * for unrecord when the write fails, or -1 when nothing was recorded (not a second, or the file
 * cannot be written: said once per run, the load goes on). Loop thread. */
static long record_second(agent *ag, const char *text, size_t n)
{
    unsigned v;
    unsigned long long run, second;
    if (!ag->record || strncmp(text, "second ", 7) != 0 ||
        sscanf(text, "second %u %llu %llu", &v, &run, &second) != 3)
        return -1;
    if (ag->rec_run != run) {
        if (ag->rec)
            fclose(ag->rec);
        char path[1400];
        snprintf(path, sizeof path, "%s/%s-run%llu.wire", ag->record, ag->name, run);
        ag->rec = fopen(path, "wb");
        ag->rec_run = run;
        ag->rec_bad = !ag->rec;
        if (ag->rec_bad)
            say("--record: cannot write %s: %s", path, strerror(errno));
    }
    if (ag->rec_bad)
        return -1;
    long at = ftell(ag->rec);
    fprintf(ag->rec, "%zu\n", n);
    fwrite(text, 1, n, ag->rec);
    fputc('\n', ag->rec);
    /* Flushed at once: whoever reads the file after the run has ended sees every second the
     * server may have counted. */
    if (fflush(ag->rec) != 0) {
        say("--record: cannot write the file of run %llu: %s", run, strerror(errno));
        fclose(ag->rec);
        ag->rec = NULL;
        ag->rec_bad = 1;
        return -1;
    }
    return at;
}

/* The frame recorded at `at` was not sent after all: the file keeps only what was. */
static void unrecord(agent *ag, long at)
{
    if (at < 0 || ag->rec_bad)
        return;
    if (ftruncate(fileno(ag->rec), at) != 0 || fseek(ag->rec, at, SEEK_SET) != 0) {
        say("--record: cannot take back an unsent second of run %llu", ag->rec_run);
        fclose(ag->rec);
        ag->rec = NULL;
        ag->rec_bad = 1;
    }
}

/* Microseconds from now to the loop's next deadline of its own (tick): a reconnect, a run's
 * start instant, the orphan check, the next heartbeat; at least 1 ms, at most
 * LOOP_MAX_WAIT_MS. Everything else that needs the loop (a message in or out, a second to
 * send, the run's end, a signal) wakes it through lws, so it sleeps between those: a wake-up
 * costs some 40 us of CPU on a busy 2-core VM, and a fixed 50 ms tick made 20 a second in
 * every agent, for nothing. */
static lws_usec_t next_due_us(const agent *ag)
{
    int64_t now = sp_wall_ms(), due = now + LOOP_MAX_WAIT_MS;
    if (!ag->wsi && ag->next_attempt_ms < due)
        due = ag->next_attempt_ms;
    if (ag->engine && ag->start_at_ns) {
        int64_t at = ag->start_at_ns / 1000000 - START_EARLY_MS;
        if (at < due)
            due = at;
    }
    if (ag->engine && ag->last_word_ms + SP_AGENT_ORPHAN_MS + 1 < due)
        due = ag->last_word_ms + SP_AGENT_ORPHAN_MS + 1;
    if (ag->connected && ag->welcomed && ag->last_hb_ms + 1000 < due)
        due = ag->last_hb_ms + 1000;
    return (lws_usec_t)(due > now ? due - now : 1) * LWS_US_PER_MS;
}

/* lws_service waits for its next event whatever timeout it is given: this timer makes one at
 * the loop's next deadline. It is always pending (it sets itself again when it fires, and
 * the loop sets it after each pass), so a deadline is never missed, even when the timer
 * comes due before lws_service looks at it. */
static void on_tick_sul(lws_sorted_usec_list_t *s)
{
    if (signal_ctx)
        lws_sul_schedule(signal_ctx, 0, s, on_tick_sul, next_due_us(lws_context_user(signal_ctx)));
}

/* ---- the lws client ---- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    agent *ag = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!ag->token || !ag->token[0])
            return 0;
        unsigned char **p = in, *end = *p + len;
        char v[600];
        snprintf(v, sizeof v, "Bearer %s", ag->token);
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)v,
                                         (int)strlen(v), p, end))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
        ag->connected = 1;
        ag->last_word_ms = sp_wall_ms();
        say("connected to %s://%s:%d", ag->tls ? "wss" : "ws", ag->host, ag->port);
        sp_wire_msg h;
        sp_wire_msg_init(&h, SP_WIRE_HELLO);
        snprintf(h.version, sizeof h.version, "%s", sp_version());
        snprintf(h.name, sizeof h.name, "%s", ag->name);
        snprintf(h.location, sizeof h.location, "%s", ag->location);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        h.cores = cores > 0 ? (uint32_t)cores : 1;
        h.threads = ag->threads ? ag->threads : h.cores;
        h.max_vus = ag->max_vus;
        /* The hello goes first, before any second waiting from before a reconnect. */
        char *text = sp_wire_encode(&h, NULL, NULL);
        pthread_mutex_lock(&ag->mu);
        sp_grow((void **)&ag->out, &ag->capout, ag->nout + 1, sizeof ag->out[0]);
        memmove(&ag->out[1], &ag->out[0], ag->nout * sizeof ag->out[0]);
        ag->out[0] = text;
        ag->nout++;
        pthread_mutex_unlock(&ag->mu);
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (sp_buf_add(&ag->rx, in, len) != 0) {
            say("message from the server larger than %u bytes: closing", SP_WIRE_MAX_BYTES);
            return -1;
        }
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            handle(ag, ag->rx.p ? ag->rx.p : "", ag->rx.len);
            sp_buf_reset(&ag->rx);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        pthread_mutex_lock(&ag->mu);
        char *text = NULL;
        /* Nothing but the hello until the server has welcomed this agent. */
        if (ag->nout && (ag->welcomed || strstr(ag->out[0], "\"hello\""))) {
            text = ag->out[0];
            memmove(&ag->out[0], &ag->out[1], (ag->nout - 1) * sizeof ag->out[0]);
            ag->nout--;
        }
        int more = ag->nout > 0 && ag->welcomed;
        pthread_mutex_unlock(&ag->mu);
        if (!text)
            return 0;
        size_t n = strlen(text);
        unsigned char *buf = sp_malloc(LWS_PRE + n);
        memcpy(buf + LWS_PRE, text, n);
        /* Recorded before the write, so that the file holds it by the time the server can have
         * counted it; taken back if the write fails. */
        long at = record_second(ag, text, n);
        int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
        free(buf);
        free(text);
        if (w < (int)n) {
            unrecord(ag, at);
            return -1;
        }
        if (more)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        /* OpenSSL's verdict on the wss:// server's certificate (len: preverify_ok; user: the
         * X509_STORE_CTX), once per certificate of the chain. Only noted, never overruled (0):
         * the connection error that follows a refusal then says why, as libcurl does for
         * /api/v1/config, rather than lws's "connect SSL err 1". */
        if (!len && !ag->cert_err[0]) {
            X509_STORE_CTX *x = user;
            int e = X509_STORE_CTX_get_error(x);
            snprintf(ag->cert_err, sizeof ag->cert_err, "%s (at depth %d of the chain)",
                     X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(x));
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED: {
        ag->wsi = NULL;
        ag->connected = 0;
        ag->welcomed = 0;
        sp_buf_reset(&ag->rx);
        ag->backoff_s = ag->backoff_s ? ag->backoff_s * 2 : 1;
        if (ag->backoff_s > BACKOFF_MAX_S)
            ag->backoff_s = BACKOFF_MAX_S;
        ag->next_attempt_ms = sp_wall_ms() + ag->backoff_s * 1000;
        if (ag->cert_err[0] && reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR)
            say("cannot connect: the server's certificate was refused: %s; retrying in %u s",
                ag->cert_err, ag->backoff_s);
        else
            say("%s%s%s; retrying in %u s",
                reason == LWS_CALLBACK_CLIENT_CLOSED ? "disconnected" : "cannot connect",
                in && reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ? ": " : "",
                in && reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ? (const char *)in : "",
                ag->backoff_s);
        ag->cert_err[0] = '\0';
        /* The server drops seconds of a run it has ended; a new connection starts afresh
         * unless a run is still going. */
        if (!ag->engine) {
            pthread_mutex_lock(&ag->mu);
            for (size_t i = 0; i < ag->nout; i++)
                free(ag->out[i]);
            ag->nout = 0;
            pthread_mutex_unlock(&ag->mu);
        }
        return 0;
    }
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (ag->wsi && ag->connected) {
            pthread_mutex_lock(&ag->mu);
            int any = ag->nout > 0;
            pthread_mutex_unlock(&ag->mu);
            if (any)
                lws_callback_on_writable(ag->wsi);
        }
        return 0;
    default:
        return 0;
    }
}

static void connect_now(agent *ag)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ag->ctx;
    ci.address = ag->host;
    ci.port = ag->port;
    ci.path = "/";
    ci.host = ag->host;
    ci.protocol = SP_WIRE_SUBPROTOCOL;
    if (ag->tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (ag->insecure)
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_INSECURE | LCCSCF_ALLOW_EXPIRED;
    }
    ci.pwsi = &ag->wsi;
    ag->next_attempt_ms = INT64_MAX;
    ag->cert_err[0] = '\0';
    if (!lws_client_connect_via_info(&ci)) {
        ag->wsi = NULL;
        ag->backoff_s = ag->backoff_s ? ag->backoff_s * 2 : 1;
        if (ag->backoff_s > BACKOFF_MAX_S)
            ag->backoff_s = BACKOFF_MAX_S;
        ag->next_attempt_ms = sp_wall_ms() + ag->backoff_s * 1000;
        say("cannot connect to %s:%d; retrying in %u s", ag->host, ag->port, ag->backoff_s);
    }
}

/* ---- finding the stream: GET /api/v1/config ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return sp_buf_add(ud, p, size * n) == 0 ? size * n : 0;
}

static int find_stream(agent *ag, char *err, size_t errlen)
{
    int rc = SP_EIO;
    CURL *c = curl_easy_init();
    CURLU *u = curl_url();
    char *host = NULL, *scheme = NULL;
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    if (!c || !u || curl_url_set(u, CURLUPART_URL, ag->server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "--server: '%s' is not an http:// or https:// URL", ag->server);
        rc = SP_EINVAL;
        goto out;
    }
    ag->tls = strcmp(scheme, "https") == 0;
    /* An IPv6 literal comes back in brackets: lws wants it bare. */
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2)
        snprintf(ag->host, sizeof ag->host, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(ag->host, sizeof ag->host, "%s", host);
    char url[1200];
    size_t sl = strlen(ag->server);
    snprintf(url, sizeof url, "%.*s/api/v1/config",
             (int)(sl && ag->server[sl - 1] == '/' ? sl - 1 : sl), ag->server);
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CONFIG_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    if (ag->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (ag->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ag->ca_file);
    }
    long status = 0;
    if (curl_easy_perform(c) != CURLE_OK) {
        snprintf(err, errlen, "cannot read %s: %s", url, cerr);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_t *j = status == 200 && b.p ? json_loads(b.p, 0, NULL) : NULL;
    json_t *lp = json_object_get(j, "live_port");
    if (!json_is_integer(lp) || json_integer_value(lp) < 1 || json_integer_value(lp) > 65535) {
        snprintf(err, errlen, "%s answered %ld without a live_port: is it a Stampede server?", url,
                 status);
        json_decref(j);
        goto out;
    }
    ag->port = (int)json_integer_value(lp);
    json_decref(j);
    rc = 0;
out:
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    if (c)
        curl_easy_cleanup(c);
    sp_buf_release(&b);
    return rc;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: stampede agent --server URL --token TOKEN --location NAME [--name ID]\n"
               "                      [--threads N] [--max-vus N] [--insecure | --ca-file PATH]\n"
               "                      [--record DIR]\n"
               "\n"
               "Connects out to a Stampede server and runs its share of runs across locations.\n"
               "  --server URL     the server's HTTP base URL, e.g. http://10.77.0.1:8080\n"
               "  --token TOKEN    an agent token (or STAMPEDE_AGENT_TOKEN in the environment;\n"
               "                   none is needed by a loopback agent of `serve --no-auth`)\n"
               "  --location NAME  where this agent is, e.g. eu-west\n"
               "  --name ID        how it is listed (default: the host name)\n"
               "  --threads N      engine threads (default: one per core)\n"
               "  --max-vus N      the most VUs it takes (default: 200000)\n"
               "  --insecure       do not verify the server's TLS certificate\n"
               "  --ca-file PATH   trust the CA certificates in PATH (PEM) for the server's\n"
               "                   certificate instead of the system's\n"
               "  --record DIR     keep each run's seconds as sent, in DIR/NAME-runID.wire\n"
               "                   (an audit and debugging aid: docs/distributed.md)\n");
}

/* 1..SP_WIRE_MAX_NAME of [A-Za-z0-9._-]: what the server accepts (engine/wire.c). */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SP_WIRE_MAX_NAME)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int number(const char *flag, const char *v, unsigned max, unsigned *out)
{
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (!*v || *end || x < 1 || x > max) {
        fprintf(stderr, "stampede agent: %s: '%s' is not a number from 1 to %u\n", flag, v, max);
        return 2;
    }
    *out = (unsigned)x;
    return 0;
}

int sp_cmd_agent(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"token", required_argument, NULL, 't'},
                                         {"location", required_argument, NULL, 'l'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"threads", required_argument, NULL, 'T'},
                                         {"max-vus", required_argument, NULL, 'm'},
                                         {"insecure", no_argument, NULL, 'k'},
                                         {"ca-file", required_argument, NULL, 'C'},
                                         {"record", required_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    agent *ag = sp_calloc(1, sizeof *ag);
    int rc = 2;
    ag->max_vus = SP_DEF_MAX_VUS;
    ag->exit_code = -1;
    pthread_mutex_init(&ag->mu, NULL);
    sp_buf_init(&ag->rx, SP_WIRE_MAX_BYTES);
    sp_clock_init(&ag->clock);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            snprintf(ag->server, sizeof ag->server, "%s", optarg);
            break;
        case 't':
            ag->token = optarg;
            break;
        case 'l':
            snprintf(ag->location, sizeof ag->location, "%.*s", SP_WIRE_MAX_NAME, optarg);
            if (!name_ok(optarg)) {
                fprintf(stderr,
                        "stampede agent: --location: '%s' must be 1 to %d letters, "
                        "digits, '.', '_' or '-'\n",
                        optarg, SP_WIRE_MAX_NAME);
                goto out;
            }
            break;
        case 'n':
            snprintf(ag->name, sizeof ag->name, "%.*s", SP_WIRE_MAX_NAME, optarg);
            if (!name_ok(optarg)) {
                fprintf(stderr,
                        "stampede agent: --name: '%s' must be 1 to %d letters, digits, "
                        "'.', '_' or '-'\n",
                        optarg, SP_WIRE_MAX_NAME);
                goto out;
            }
            break;
        case 'T':
            if (number("--threads", optarg, 256, &ag->threads))
                goto out;
            break;
        case 'm':
            if (number("--max-vus", optarg, SP_DEF_MAX_VUS, &ag->max_vus))
                goto out;
            break;
        case 'k':
            ag->insecure = 1;
            break;
        case 'C': {
            FILE *f = fopen(optarg, "r");
            if (!f) {
                fprintf(stderr, "stampede agent: --ca-file: cannot read '%s': %s\n", optarg,
                        strerror(errno));
                goto out;
            }
            fclose(f);
            ag->ca_file = optarg;
            break;
        }
        case 'R': {
            struct stat st;
            if (stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode) || access(optarg, W_OK) != 0) {
                fprintf(stderr, "stampede agent: --record: '%s' is not a writable directory\n",
                        optarg);
                goto out;
            }
            ag->record = optarg;
            break;
        }
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "stampede agent: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (ag->insecure && ag->ca_file) {
        fprintf(stderr, "stampede agent: --ca-file: pointless with --insecure, which verifies "
                        "nothing\n");
        goto out;
    }
    if (!ag->token)
        ag->token = getenv("STAMPEDE_AGENT_TOKEN");
    if (!ag->server[0] || !ag->location[0]) {
        fprintf(stderr, "stampede agent: %s is required\n",
                !ag->server[0] ? "--server" : "--location");
        usage(stderr);
        goto out;
    }
    if (!ag->name[0]) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        for (char *p = host; *p; p++)
            if (!name_ok((char[]){*p, 0}))
                *p = '-';
        snprintf(ag->name, sizeof ag->name, "%.*s", SP_WIRE_MAX_NAME, host[0] ? host : "agent");
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char err[512];
    int frc = find_stream(ag, err, sizeof err);
    if (frc == SP_EINVAL) {
        fprintf(stderr, "stampede agent: %s\n", err);
        goto out;
    }
    /* A server that is not up yet is waited for, as a reconnect would. */
    unsigned wait_s = 0;
    while (frc && !got_signal) {
        wait_s = wait_s ? (wait_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : wait_s * 2) : 1;
        say("%s; retrying in %u s", err, wait_s);
        sleep(wait_s);
        frc = find_stream(ag, err, sizeof err);
    }
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_protocols protocols[2];
    memset(protocols, 0, sizeof protocols);
    protocols[0].name = SP_WIRE_SUBPROTOCOL;
    protocols[0].callback = callback;
    protocols[0].rx_buffer_size = 65536;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = ag;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    /* The CAs the wss:// connection trusts: --ca-file's, else the system's (lws loads those
     * when it is given none). */
    info.client_ssl_ca_filepath = ag->ca_file;
    ag->ctx = lws_create_context(&info);
    if (!ag->ctx) {
        fprintf(stderr, "stampede agent: cannot create the libwebsockets context\n");
        rc = 1;
        goto out;
    }
    signal_ctx = ag->ctx;
    memset(&tick_sul, 0, sizeof tick_sul);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    say("%s in %s, connecting to %s://%s:%d", ag->name, ag->location, ag->tls ? "wss" : "ws",
        ag->host, ag->port);
    ag->next_attempt_ms = 0;
    while (ag->exit_code < 0 && !got_signal) {
        if (!ag->wsi && sp_wall_ms() >= ag->next_attempt_ms)
            connect_now(ag);
        lws_sul_schedule(ag->ctx, 0, &tick_sul, on_tick_sul, next_due_us(ag));
        lws_service(ag->ctx, 0);
        tick(ag);
    }
    lws_sul_cancel(&tick_sul);
    if (ag->engine) {
        sp_engine_stop(ag->engine, 0);
        run_release(ag);
    }
    rc = ag->exit_code >= 0 ? ag->exit_code : 0;
    say("%s", got_signal ? "stopped by a signal" : "exiting");
out:
    if (ag->ctx)
        lws_context_destroy(ag->ctx);
    signal_ctx = NULL;
    for (size_t i = 0; i < ag->nout; i++)
        free(ag->out[i]);
    free(ag->out);
    if (ag->rec)
        fclose(ag->rec);
    sp_buf_release(&ag->rx);
    pthread_mutex_destroy(&ag->mu);
    free(ag);
    return rc;
}
