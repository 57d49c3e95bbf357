/*
 * raw.h - raw TCP requests for unit tests of the HTTP layer: bytes sent exactly as written, so
 * a test can send what libcurl would never send (two Host headers, none at all, two
 * Content-Length headers, an unknown Transfer-Encoding, hundreds of query arguments) and see
 * whether, and how soon, the server answers.
 *
 * raw_send() connects to 127.0.0.1:port, sends the request and reads one response: until the
 * headers and a Content-Length body are in, the server closes, or wait_ms pass without an
 * answer (timed_out). raw_open() and raw_read() do the same in two steps, for a body streamed
 * by the test in between.
 */
#ifndef SP_TEST_HTTP_RAW_H
#define SP_TEST_HTTP_RAW_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

typedef struct raw_resp {
    int status;       /* the status line's code, 0 when no status line came */
    int timed_out;    /* no complete answer within wait_ms */
    int closed;       /* the server closed the connection */
    char text[16384]; /* what came, NUL-terminated (cut at the buffer's size) */
    size_t len;
    long ms; /* from the end of sending to the end of the answer */
} raw_resp;

static inline long raw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected socket to 127.0.0.1:port, or -1. */
static inline int raw_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Sends len bytes; 0 when all went, -1 when the server closed or reset the connection. */
static inline int raw_write(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len) {
        ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Whether r->text holds a whole response: the headers and Content-Length bytes of body. */
static inline int raw_complete(const raw_resp *r)
{
    const char *end = strstr(r->text, "\r\n\r\n");
    if (!end)
        return 0;
    const char *cl = strcasestr(r->text, "\r\nContent-Length:");
    if (!cl || cl > end)
        return 1;
    size_t want = strtoul(cl + 17, NULL, 10);
    return r->len >= (size_t)(end + 4 - r->text) + want;
}

/* Reads one response from fd into *r, waiting at most wait_ms for it. Closes fd. */
static inline int raw_read(int fd, int wait_ms, raw_resp *r)
{
    long t0 = raw_now_ms();
    for (;;) {
        long left = wait_ms - (raw_now_ms() - t0);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            r->timed_out = 1;
            break;
        }
        ssize_t n = recv(fd, r->text + r->len, sizeof r->text - 1 - r->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->closed = 1;
            break;
        }
        r->len += (size_t)n;
        r->text[r->len] = '\0';
        if (raw_complete(r) || r->len == sizeof r->text - 1)
            break;
    }
    r->ms = raw_now_ms() - t0;
    if (strncmp(r->text, "HTTP/1.", 7) == 0 && r->len > 12)
        r->status = atoi(r->text + 9);
    close(fd);
    return r->status;
}

/* Sends request (len bytes) and reads the answer. Returns its status, 0 when none came. */
static inline int raw_send(uint16_t port, const char *request, size_t len, int wait_ms, raw_resp *r)
{
    memset(r, 0, sizeof *r);
    int fd = raw_open(port);
    if (fd < 0)
        return 0;
    /* A failed write is no failure: the server may answer and close before taking it all. */
    (void)raw_write(fd, request, len);
    return raw_read(fd, wait_ms, r);
}

/* The body of a response (after the blank line), or "". */
static inline const char *raw_body(const raw_resp *r)
{
    const char *end = strstr(r->text, "\r\n\r\n");
    return end ? end + 4 : "";
}

#endif
