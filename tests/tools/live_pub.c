/*
 * live_pub - a test driver for server/live: starts sp_live on the given port and publishes one
 * known message for run 1 and one for run 2 every --interval-ms for --seconds (or until
 * SIGTERM/SIGINT), then stops it with sp_live_free. The backlog of run N is a known JSON text
 * ({"run_id":N,"backlog":true,"points":[1,2,3],"fill":"..."}, fill being --backlog-fill bytes);
 * run 99 has none, run 98's is larger than SP_LIVE_BACKLOG_MAX_BYTES.
 * With --token T, the auth hook admits only requests carrying "Authorization: Bearer T" or the
 * cookie "sp_session=T" (loopback or not), as the access-control issue will.
 *
 * Prints one JSON object per line on stdout, for tests/integration/live.test.mjs:
 *   {"event":"listening","port":P}
 *   {"event":"publish","seq":K,"us":[A,B]}        how long each sp_live_publish call took
 *   {"event":"stats",...}                        sp_live_stats every 200 ms
 *   {"event":"stopped","max_publish_us":X,"free_ms":Y,"published":N}
 * A published message is {"run_id":R,"seq":K,"sent_ms":WALL_MS,"pad":"xx..."}; only run 2's
 * carries --pad bytes of padding, so a test can make one run heavy and keep the other light.
 *
 * Usage: live_pub --port P [--seconds S] [--interval-ms MS] [--pad BYTES] [--queue-bytes N]
 *                 [--max-subscribers N] [--backlog-fill BYTES] [--token T] [--origin O]...
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "live/live.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    SP_UNUSED(sig);
    stop_requested = 1;
}

static char *backlog(void *ud, int64_t run_id, size_t *len)
{
    size_t fill = *(const size_t *)ud;
    if (run_id == 99)
        return NULL;
    if (run_id == 98)
        fill = SP_LIVE_BACKLOG_MAX_BYTES;
    sp_buf b;
    sp_buf_init(&b, fill + 1024);
    (void)sp_buf_addf(&b, "{\"run_id\":%lld,\"backlog\":true,\"points\":[1,2,3],\"fill\":\"",
                      (long long)run_id);
    for (size_t i = 0; i < fill; i++)
        (void)sp_buf_addc(&b, (char)('a' + i % 26));
    (void)sp_buf_adds(&b, "\"}");
    return sp_buf_detach(&b, len);
}

/* Accepts "Authorization: Bearer TOKEN" or a "sp_session=TOKEN" cookie. */
static int auth(void *ud, const sp_live_request *req)
{
    const char *token = ud;
    char want[256];
    snprintf(want, sizeof want, "Bearer %s", token);
    if (strcmp(req->authorization, want) == 0)
        return 0;
    snprintf(want, sizeof want, "sp_session=%s", token);
    for (const char *p = strstr(req->cookie, want); p; p = strstr(p + 1, want)) {
        size_t n = strlen(want);
        if ((p == req->cookie || p[-1] == ' ' || p[-1] == ';') && (p[n] == '\0' || p[n] == ';'))
            return 0;
    }
    return SP_EINVAL;
}

static long arg_long(const char *s, const char *name)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "live_pub: bad %s '%s'\n", name, s);
        exit(2);
    }
    return v;
}

static void print_stats(sp_live *live)
{
    sp_live_stats st;
    sp_live_stats_get(live, &st);
    printf("{\"event\":\"stats\",\"subscribers\":%u,\"accepted\":%llu,\"refused\":%llu,"
           "\"published\":%llu,\"sent\":%llu,\"dropped_slow\":%llu,\"bad_input\":%llu}\n",
           st.subscribers, (unsigned long long)st.accepted, (unsigned long long)st.refused,
           (unsigned long long)st.published, (unsigned long long)st.sent,
           (unsigned long long)st.dropped_slow, (unsigned long long)st.bad_input);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested) {
    }
}

int main(int argc, char **argv)
{
    sp_live_opts o;
    const char *origins[16];
    size_t n_origins = 0;
    long seconds = 10, interval_ms = 100, pad = 0;
    size_t backlog_fill = 0;
    const char *token = NULL;
    char err[256];
    sp_live *live;

    sp_live_opts_init(&o);
    o.port = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "live_pub: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--port") == 0)
            o.port = (int)arg_long(v, a);
        else if (strcmp(a, "--seconds") == 0)
            seconds = arg_long(v, a);
        else if (strcmp(a, "--interval-ms") == 0)
            interval_ms = arg_long(v, a);
        else if (strcmp(a, "--pad") == 0)
            pad = arg_long(v, a);
        else if (strcmp(a, "--queue-bytes") == 0)
            o.queue_max_bytes = (size_t)arg_long(v, a);
        else if (strcmp(a, "--max-subscribers") == 0)
            o.max_subscribers = (unsigned)arg_long(v, a);
        else if (strcmp(a, "--backlog-fill") == 0)
            backlog_fill = (size_t)arg_long(v, a);
        else if (strcmp(a, "--token") == 0)
            token = v;
        else if (strcmp(a, "--origin") == 0 && n_origins < SP_ARRAY_LEN(origins))
            origins[n_origins++] = v;
        else {
            fprintf(stderr, "live_pub: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (o.port < 0 || interval_ms < 1 || pad > (long)(SP_LIVE_MSG_MAX_BYTES / 2)) {
        fprintf(stderr, "usage: live_pub --port P [--seconds S] [--interval-ms MS] [--pad N] "
                        "[--queue-bytes N] [--max-subscribers N] [--origin O]...\n");
        return 2;
    }
    o.origins = origins;
    o.n_origins = n_origins;
    if (token) {
        o.auth = auth;
        o.auth_ud = (void *)token;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    int rc = sp_live_new(&o, &live, err, sizeof err);
    if (rc != SP_OK) {
        fprintf(stderr, "live_pub: %s\n", err);
        return 1;
    }
    sp_live_set_backlog_fn(live, backlog, &backlog_fill);
    printf("{\"event\":\"listening\",\"port\":%d}\n", sp_live_port(live));

    char *padding = sp_malloc((size_t)pad + 1);
    memset(padding, 'x', (size_t)pad);
    padding[pad] = '\0';
    sp_buf msgbuf;
    sp_buf_init(&msgbuf, SP_LIVE_MSG_MAX_BYTES);
    uint64_t max_us = 0, published = 0;
    uint64_t start = sp_now_ns(), next = start, last_stats = 0;
    for (long seq = 1; !stop_requested && sp_now_ns() - start < (uint64_t)seconds * 1000000000ull;
         seq++) {
        uint64_t us[2];
        for (int run = 1; run <= 2; run++) {
            sp_buf_reset(&msgbuf);
            (void)sp_buf_addf(&msgbuf,
                              "{\"run_id\":%d,\"seq\":%ld,\"sent_ms\":%lld,\"pad\":\"%s\"}", run,
                              seq, (long long)sp_wall_ms(), run == 2 ? padding : "");
            uint64_t t0 = sp_now_ns();
            int prc = sp_live_publish(live, run, msgbuf.p, msgbuf.len);
            us[run - 1] = (sp_now_ns() - t0) / 1000u;
            if (us[run - 1] > max_us)
                max_us = us[run - 1];
            if (prc == SP_OK)
                published++;
            else
                fprintf(stderr, "live_pub: publish: %s\n", sp_strerror(prc));
        }
        printf("{\"event\":\"publish\",\"seq\":%ld,\"us\":[%llu,%llu]}\n", seq,
               (unsigned long long)us[0], (unsigned long long)us[1]);
        if (sp_now_ns() - last_stats >= 200000000ull) {
            print_stats(live);
            last_stats = sp_now_ns();
        }
        next += (uint64_t)interval_ms * 1000000ull;
        uint64_t now = sp_now_ns();
        if (next > now)
            sleep_ms((long)((next - now) / 1000000ull));
    }
    print_stats(live);
    uint64_t t0 = sp_now_ns();
    sp_live_free(live);
    uint64_t free_ms = (sp_now_ns() - t0) / 1000000u;
    printf("{\"event\":\"stopped\",\"max_publish_us\":%llu,\"free_ms\":%llu,\"published\":%llu}\n",
           (unsigned long long)max_us, (unsigned long long)free_ms, (unsigned long long)published);
    sp_buf_release(&msgbuf);
    free(padding);
    return 0;
}
