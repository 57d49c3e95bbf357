/*
 * sleep_cost.c - what a sleep and its wake-up cost this machine, for tests/bench/sleep-cost.sh.
 *
 *   sleep_cost RATE SECONDS SPIN_US
 *       Sleeps with epoll_pwait2 (an empty epoll set, timer slack 1 ns, as the engine's worker
 *       loop) to deadlines RATE per second apart, for SECONDS, doing nothing else; a wait of at
 *       most SPIN_US polls with a zero timeout instead of sleeping (0: always sleep). Prints one
 *       line: the deadlines met, the mean and largest lateness, the share over 1 ms late, the
 *       CPU (user + system, getrusage) per deadline and the voluntary context switches.
 *
 * The CPU per deadline at a rate where every wait sleeps is the price of one sleep and wake-up:
 * what the engine pays for each wait of its loop (docs/engine.md, "Short waits poll").
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

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

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: sleep_cost RATE SECONDS SPIN_US\n");
        return 2;
    }
    double rate = atof(argv[1]), secs = atof(argv[2]);
    uint64_t spin_ns = (uint64_t)(atof(argv[3]) * 1000);
    if (!(rate > 0 && rate <= 1e6 && secs > 0 && secs <= 600)) {
        fprintf(stderr, "sleep_cost: RATE must be in (0, 1e6] and SECONDS in (0, 600]\n");
        return 2;
    }
    (void)prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
    int ep = epoll_create1(0);
    struct epoll_event ev[8];
    uint64_t n = (uint64_t)(rate * secs), late = 0, sum = 0, max = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t due = t0 + (uint64_t)((double)i * 1e9 / rate);
        for (;;) {
            uint64_t t = now_ns();
            if (t >= due)
                break;
            uint64_t w = due - t;
            struct timespec ts = {0, w <= spin_ns ? 0 : (long)w};
            if (w >= 1000000000u)
                ts = (struct timespec){(time_t)(w / 1000000000u), (long)(w % 1000000000u)};
            epoll_pwait2(ep, ev, 8, &ts, NULL);
        }
        uint64_t l = now_ns() - due;
        sum += l;
        if (l > max)
            max = l;
        if (l > 1000000)
            late++;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
    printf("rate %.0f/s spin %.0f us: %llu deadlines, lateness mean %.3f ms max %.2f ms, "
           "over 1 ms %.2f%%, CPU %.1f us per deadline (%.2f of a core), %ld sleeps\n",
           rate, (double)spin_ns / 1000, (unsigned long long)n, (double)sum / 1e6 / (double)n,
           (double)max / 1e6, 100.0 * (double)late / (double)n, cpu * 1e6 / (double)n, cpu / secs,
           ru.ru_nvcsw);
    return 0;
}
