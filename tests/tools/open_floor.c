/*
 * open_floor.c - the open model with nothing but sockets, the floor tests/bench/open-model.sh
 * prints beside the engine's open model.
 *
 *   open_floor PORT RATE SECONDS CONNS
 *       Opens CONNS keep-alive connections to 127.0.0.1:PORT and sends one
 *       "GET /api/v1/products" per arrival, arrivals RATE per second apart for SECONDS, each on
 *       the most recently freed idle connection (the engine's pool is a stack too); an arrival
 *       that finds none is dropped. The loop sleeps with epoll_pwait2 to the next arrival (timer
 *       slack 1 ns) and reads whatever answers are ready meanwhile; a connection is free again
 *       once its answer (Content-Length bytes after the head) is in. No libcurl, no parsing
 *       beyond that, no statistics but the arrivals' lateness. Prints one line: arrivals sent,
 *       dropped, answers, the mean lateness, the share over 1 ms late, the CPU (getrusage) per
 *       answer and the voluntary context switches per answer.
 *
 * What it measures is what this machine charges any open-model client: the sleeps and wake-ups
 * between arrivals, the loopback send and the wake-up of the target. Load goes only to
 * 127.0.0.1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096

typedef struct conn {
    int fd;
    int busy;
    size_t got, want; /* bytes of the answer read, and its full size once the head is in */
    char head[4096];
    size_t headlen;
} conn;

static conn conns[MAX_CONNS];
static int idle[MAX_CONNS], nidle;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Reads what is there; 1 when the connection's answer is complete. */
static int drain(conn *c)
{
    char buf[16384];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r <= 0) {
            if (r < 0 && errno == EAGAIN)
                return 0;
            fprintf(stderr, "open_floor: the target closed a connection\n");
            exit(1);
        }
        if (!c->want) {
            size_t take = (size_t)r < sizeof c->head - 1 - c->headlen
                              ? (size_t)r
                              : sizeof c->head - 1 - c->headlen;
            memcpy(c->head + c->headlen, buf, take);
            c->headlen += take;
            c->head[c->headlen] = '\0';
            char *end = strstr(c->head, "\r\n\r\n");
            char *cl = strcasestr(c->head, "\r\ncontent-length:");
            if (end && cl)
                c->want = (size_t)(end + 4 - c->head) + strtoul(cl + 17, NULL, 10);
        }
        c->got += (size_t)r;
        if (c->want && c->got >= c->want)
            return 1;
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: open_floor PORT RATE SECONDS CONNS\n");
        return 2;
    }
    int port = atoi(argv[1]), nconn = atoi(argv[4]);
    double rate = atof(argv[2]), secs = atof(argv[3]);
    if (port <= 0 || port > 65535 || !(rate > 0 && rate <= 1e6) || !(secs > 0 && secs <= 600) ||
        nconn <= 0 || nconn > MAX_CONNS) {
        fprintf(stderr, "open_floor: PORT 1-65535, RATE (0, 1e6], SECONDS (0, 600], CONNS "
                        "1-4096\n");
        return 2;
    }
    (void)prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
    int ep = epoll_create1(0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < nconn; i++) {
        conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
            perror("open_floor: connect");
            return 1;
        }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
        idle[nidle++] = nconn - 1 - i;
    }
    static const char req[] = "GET /api/v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    struct epoll_event evs[64];
    uint64_t n = (uint64_t)(rate * secs), sent = 0, dropped = 0, answers = 0;
    uint64_t late = 0, lag_sum = 0;
    struct rusage r0;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t due = t0 + (uint64_t)((double)i * 1e9 / rate);
        for (;;) {
            uint64_t t = now_ns();
            uint64_t w = t >= due ? 0 : due - t;
            struct timespec ts = {(time_t)(w / 1000000000u), (long)(w % 1000000000u)};
            int k = epoll_pwait2(ep, evs, 64, &ts, NULL);
            for (int j = 0; j < k; j++) {
                conn *c = &conns[evs[j].data.u32];
                if (c->busy && drain(c)) {
                    c->busy = 0;
                    answers++;
                    idle[nidle++] = (int)evs[j].data.u32;
                }
            }
            if (now_ns() >= due)
                break;
        }
        uint64_t lag = now_ns() - due;
        lag_sum += lag;
        if (lag > 1000000)
            late++;
        if (nidle == 0) {
            dropped++;
            continue;
        }
        conn *c = &conns[idle[--nidle]];
        c->busy = 1;
        c->got = c->want = c->headlen = 0;
        if (write(c->fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
            perror("open_floor: write");
            return 1;
        }
        sent++;
    }
    struct rusage r1;
    getrusage(RUSAGE_SELF, &r1);
    double cpu = tv_s(r1.ru_utime) + tv_s(r1.ru_stime) - tv_s(r0.ru_utime) - tv_s(r0.ru_stime);
    uint64_t per = answers ? answers : 1;
    printf("floor %.0f/s: sent %llu dropped %llu answers %llu lag mean %.3f ms late >1ms %.2f%% "
           "CPU %.2f us/answer sleeps/answer %.3f\n",
           rate, (unsigned long long)sent, (unsigned long long)dropped, (unsigned long long)answers,
           (double)lag_sum / 1e6 / (double)n, 100.0 * (double)late / (double)n,
           cpu * 1e6 / (double)per, (double)(r1.ru_nvcsw - r0.ru_nvcsw) / (double)per);
    return 0;
}
