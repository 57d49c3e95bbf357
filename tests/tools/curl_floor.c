/*
 * curl_floor.c - what libcurl alone costs, for the engine benchmarks to compare against.
 *
 * Two modes, both with the transfer options the engine sets on every easy handle
 * (engine/worker.c: NOSIGNAL, NOPROXY "*", HTTP/1.1, TCP_NODELAY, an 8 KB receive buffer,
 * http/https only) and nothing else: no scenario, no names, no histograms, no expectations.
 *
 *   curl_floor loop URL CONNS SECONDS
 *       CONNS easy handles in one multi handle driven by curl_multi_socket_action and epoll,
 *       each re-added as soon as its transfer ends, for SECONDS. Prints "requests N failed F".
 *       Its CPU time per request is the floor the engine's CPU per request stands on.
 *
 *   curl_floor idle URL N SECONDS
 *       N easy handles, each with its own connection-cache share (as the engine's VUs have),
 *       make one request each and then hold their keep-alive connections for SECONDS.
 *       Prints "ready" once every transfer is done, then sleeps; the caller samples the RSS.
 *
 * Load goes only where URL says; the caller passes a loopback URL.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define MAX_FDS 65536

typedef struct loop {
    CURLM *multi;
    int ep;
    double deadline; /* when curl wants its timeout action (now_s() clock); < 0: never */
    unsigned char state[MAX_FDS]; /* per socket: events (1 in, 2 out) | ST_REG | ST_CURL */
} loop;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A keep-alive socket is removed by curl when its transfer ends and added back when the next
 * transfer reuses it. Like the engine, leave it registered and only mark it idle, so a reused
 * connection costs no epoll_ctl calls; an event on an idle socket unregisters it.
 */
#define ST_REG 0x4u
#define ST_CURL 0x8u

static void fd_set_events(loop *l, curl_socket_t s, unsigned events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.fd = s;
    ev.events = events;
    int op = (l->state[s] & ST_REG) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->ep, op, s, &ev) != 0) /* the number was closed and reused behind us */
        epoll_ctl(l->ep, op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    loop *l = userp;
    (void)e;
    (void)socketp;
    if (s < 0 || s >= MAX_FDS)
        return -1;
    if (what == CURL_POLL_REMOVE) {
        l->state[s] &= (unsigned char)~ST_CURL;
        return 0;
    }
    unsigned want = ((what & CURL_POLL_IN) ? 1u : 0u) | ((what & CURL_POLL_OUT) ? 2u : 0u);
    if ((l->state[s] & ST_REG) == 0 || (l->state[s] & 3u) != want)
        fd_set_events(l, s, ((want & 1u) ? EPOLLIN : 0u) | ((want & 2u) ? EPOLLOUT : 0u));
    l->state[s] = (unsigned char)(want | ST_REG | ST_CURL);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    loop *l = userp;
    (void)m;
    l->deadline = timeout_ms < 0 ? -1.0 : now_s() + (double)timeout_ms / 1e3;
    return 0;
}

static CURL *easy_new(const char *url, CURLSH *share)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    if (share)
        curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 8192L);
    return e;
}

/*
 * Drives l until stop_at (0: until no transfer is running). With readd, a finished handle is
 * added again at once. Counts finished transfers and failed ones.
 */
static void drive(loop *l, double stop_at, int readd, long *done, long *failed)
{
    struct epoll_event evs[MAX_EVENTS];
    int running = 1;
    for (;;) {
        double now = now_s();
        if (stop_at > 0 && now >= stop_at)
            return;
        if (l->deadline >= 0 && now >= l->deadline) {
            l->deadline = -1.0;
            curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        } else {
            double until = l->deadline >= 0 ? l->deadline - now : 0.1;
            int wait = until > 0.1 ? 100 : (int)(until * 1e3);
            int n = epoll_wait(l->ep, evs, MAX_EVENTS, wait);
            for (int i = 0; i < n; i++) {
                int fd = evs[i].data.fd;
                if (!(l->state[fd] & ST_CURL)) { /* idle and the peer closed it */
                    epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
                    l->state[fd] = 0;
                    continue;
                }
                int flags = 0;
                if (evs[i].events & EPOLLIN)
                    flags |= CURL_CSELECT_IN;
                if (evs[i].events & EPOLLOUT)
                    flags |= CURL_CSELECT_OUT;
                if (evs[i].events & (EPOLLERR | EPOLLHUP))
                    flags |= CURL_CSELECT_ERR;
                curl_multi_socket_action(l->multi, fd, flags, &running);
            }
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(l->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            (*done)++;
            if (msg->data.result != CURLE_OK)
                (*failed)++;
            curl_multi_remove_handle(l->multi, e);
            if (readd)
                curl_multi_add_handle(l->multi, e); /* sets a 0 ms timeout: starts next loop */
        }
        if (stop_at == 0 && running == 0 && l->deadline < 0)
            return;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: curl_floor loop URL CONNS SECONDS\n"
                    "       curl_floor idle URL N SECONDS\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc != 5)
        return usage();
    const char *mode = argv[1], *url = argv[2];
    long n = strtol(argv[3], NULL, 10), secs = strtol(argv[4], NULL, 10);
    int idle = strcmp(mode, "idle") == 0;
    if ((!idle && strcmp(mode, "loop") != 0) || n <= 0 || n > 100000 || secs <= 0 || secs > 3600)
        return usage();
    if (strncmp(url, "http://127.", 11) != 0 && strncmp(url, "http://[::1]", 12) != 0) {
        fprintf(stderr, "curl_floor: only loopback URLs (http://127.x or http://[::1])\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);

    static loop l;
    l.multi = curl_multi_init();
    l.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!l.multi || l.ep < 0) {
        fprintf(stderr, "curl_floor: cannot set up: %s\n", strerror(errno));
        return 1;
    }
    curl_multi_setopt(l.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(l.multi, CURLMOPT_SOCKETDATA, &l);
    curl_multi_setopt(l.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(l.multi, CURLMOPT_TIMERDATA, &l);
    curl_multi_setopt(l.multi, CURLMOPT_MAXCONNECTS, n);

    CURL **easies = calloc((size_t)n, sizeof *easies);
    CURLSH **shares = idle ? calloc((size_t)n, sizeof *shares) : NULL;
    if (!easies || (idle && !shares))
        return 1;
    for (long i = 0; i < n; i++) {
        if (idle) {
            shares[i] = curl_share_init();
            curl_share_setopt(shares[i], CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        }
        easies[i] = easy_new(url, idle ? shares[i] : NULL);
        if (!easies[i])
            return 1;
        curl_multi_add_handle(l.multi, easies[i]);
    }

    long done = 0, failed = 0;
    if (idle) {
        drive(&l, 0, 0, &done, &failed);
        printf("ready %ld failed %ld\n", done, failed);
        fflush(stdout);
        sleep((unsigned)secs);
    } else {
        drive(&l, now_s() + (double)secs, 1, &done, &failed);
        printf("requests %ld failed %ld\n", done, failed);
    }

    for (long i = 0; i < n; i++) {
        curl_multi_remove_handle(l.multi, easies[i]);
        curl_easy_cleanup(easies[i]);
        if (idle)
            curl_share_cleanup(shares[i]);
    }
    free(easies);
    free(shares);
    curl_multi_cleanup(l.multi);
    close(l.ep);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
