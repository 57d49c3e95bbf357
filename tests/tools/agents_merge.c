/*
 * agents_merge.c - the server's cost of merging a run across many agents (issue 17's bench):
 * AGENTS agents x NAMES request names each send one second every second, as the wire carries
 * it; this replays SECONDS of them at real-time pace through what the server does with each
 * (sp_wire_decode, sp_wire_stats_decode, the merge into its location's totals, and
 * sp_engine_feed_second_take into a remote engine whose aggregator merges them) and prints the
 * process's CPU per second of run (as % of one core) and how late each merged second came out after
 * its end (the live point's budget is 1.5 s).
 *
 * usage: agents_merge [AGENTS [NAMES [SECONDS]]]   (defaults 200 50 10)
 * The agents' own encoding is done before the clock starts: it is the agents' cost, not the
 * server's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "engine/wire.h"

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct out {
    uint64_t start_ns;
    double worst_late_ms;
    uint64_t seconds, requests;
} out;

static void on_second(void *ud, uint64_t second, const sp_stats *s)
{
    out *o = ud;
    double late =
        ((double)sp_now_ns() - (double)(o->start_ns + (second + 1) * 1000000000ull)) / 1e6;
    if (late > o->worst_late_ms)
        o->worst_late_ms = late;
    o->seconds++;
    for (size_t i = 0; i < s->nnames; i++)
        o->requests += s->names[i].requests;
}

int main(int argc, char **argv)
{
    unsigned agents = argc > 1 ? (unsigned)atoi(argv[1]) : 200;
    unsigned names = argc > 2 ? (unsigned)atoi(argv[2]) : 50;
    unsigned seconds = argc > 3 ? (unsigned)atoi(argv[3]) : 10;
    if (!agents || agents > SP_WIRE_MAX_AGENTS || !names || names > 1000 || !seconds) {
        fprintf(stderr, "usage: agents_merge [AGENTS<=1024 [NAMES<=1000 [SECONDS]]]\n");
        return 2;
    }
    /* A definition with NAMES request names. */
    sp_buf d;
    sp_buf_init(&d, 1 << 20);
    sp_buf_addf(&d, "{\"name\":\"bench\",\"base_url\":\"http://127.0.0.1:9\",\"users\":[{\"name\":"
                    "\"u\",\"tasks\":[{\"steps\":[");
    for (unsigned i = 0; i < names; i++)
        sp_buf_addf(&d, "%s{\"request\":{\"url\":\"/n%u\",\"name\":\"n%u\"}}", i ? "," : "", i, i);
    sp_buf_addf(&d, "]}]}],\"load\":{\"users\":1,\"duration\":\"%us\"}}", seconds);
    sp_overrides ov = SP_OVERRIDES_NONE;
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *def = NULL;
    if (sp_def_load(d.p, d.len, &ov, NULL, &def, &el) != 0) {
        fprintf(stderr, "definition invalid\n");
        return 1;
    }
    /* One agent's second: each name with 200 requests over ~40 buckets (20-60 ms, as a real
     * API gives), encoded once and sent by every agent every second. */
    sp_stats s;
    sp_stats_init(&s, def->nnames);
    srand(7);
    for (unsigned i = 0; i < names; i++)
        for (int k = 0; k < 200; k++)
            sp_name_stats_record(&s.names[i], 20000 + (uint64_t)(rand() % 40000), 200, -1, NULL,
                                 300, 100);
    char **msgs = sp_calloc(seconds, sizeof *msgs);
    size_t bytes = 0;
    for (unsigned sec = 0; sec < seconds; sec++) {
        sp_wire_msg m;
        sp_wire_msg_init(&m, SP_WIRE_SECOND);
        m.run_id = 1;
        m.second = sec;
        msgs[sec] = sp_wire_encode(&m, &s, NULL);
        bytes = strlen(msgs[sec]);
    }
    out o = {0};
    sp_engine_opts eo = {.remote_workers = agents, .on_second = on_second, .ud = &o};
    sp_engine *e = NULL;
    char err[256];
    if (sp_engine_new(def, &eo, &e, err, sizeof err) != 0 || sp_engine_start(e) != 0) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    o.start_ns = sp_now_ns();
    sp_stats back, loc[2]; /* two locations, the agents alternating */
    sp_stats_init(&back, def->nnames);
    sp_stats_init(&loc[0], def->nnames);
    sp_stats_init(&loc[1], def->nnames);
    uint64_t cpu0 = cpu_ns();
    for (unsigned sec = 0; sec < seconds; sec++) {
        /* The agents' seconds arrive as each second ends. */
        uint64_t due = o.start_ns + (uint64_t)(sec + 1) * 1000000000ull;
        while (sp_now_ns() < due) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        for (unsigned a = 0; a < agents; a++) {
            sp_wire_msg m;
            if (sp_wire_decode(msgs[sec], strlen(msgs[sec]), &m, err, sizeof err) != 0 ||
                sp_wire_stats_decode(m.body, m.body_len, def->nnames, &back, err, sizeof err) !=
                    0) {
                fprintf(stderr, "decode: %s\n", err);
                return 1;
            }
            /* As server/agents/agents.c does: the location's totals, then the run's engine. */
            sp_stats_merge(&loc[a % 2], &back, 1);
            sp_engine_feed_second_take(e, a, m.second, &back);
            sp_wire_msg_release(&m);
        }
    }
    for (unsigned a = 0; a < agents; a++)
        sp_engine_feed_end(e, a);
    sp_engine_wait(e);
    uint64_t cpu = cpu_ns() - cpu0;
    printf("agents %u, names %u, seconds %u, %zu bytes per agent second\n", agents, names, seconds,
           bytes);
    printf("server CPU: %.1f%% of one core (%.1f ms per second of run)\n",
           (double)cpu / 1e7 / seconds, (double)cpu / 1e6 / seconds);
    printf("merged seconds: %llu, worst out %.0f ms after its end (budget 1500 ms)\n",
           (unsigned long long)o.seconds, o.worst_late_ms);
    printf("requests merged: %llu (expected %llu)\n", (unsigned long long)o.requests,
           (unsigned long long)agents * names * 200ull * seconds);
    sp_engine_free(e);
    sp_stats_release(&back);
    sp_stats_release(&loc[0]);
    sp_stats_release(&loc[1]);
    sp_stats_release(&s);
    for (unsigned sec = 0; sec < seconds; sec++)
        free(msgs[sec]);
    free(msgs);
    sp_def_free(def);
    sp_buf_release(&d);
    return 0;
}
