/*
 * client.h - a small libcurl client for unit tests that talk to a real sp_http server on a
 * loopback port: one request, and its status, headers and body kept for the checks.
 *
 * Each call makes its own easy handle (no connection reuse), so a test sees exactly what one
 * request got. The test calls curl_global_init() once in main().
 */
#ifndef SP_TEST_HTTP_CLIENT_H
#define SP_TEST_HTTP_CLIENT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

typedef struct http_resp {
    long status;     /* 0 when the transfer failed (curl_error says why) */
    char body[8192]; /* the first bytes of the body, NUL-terminated */
    size_t len;      /* the whole body's length */
    long long sent;  /* request body bytes curl sent */
    char headers[4096];
    char curl_error[CURL_ERROR_SIZE];
} http_resp;

/*
 * What to send. method NULL: GET. ctype NULL: curl's own (x-www-form-urlencoded with a body).
 * body NULL: none. With chunked_bytes, a body of that many 'x' is sent chunked (no
 * Content-Length); with announced_bytes, that many 'x' with a Content-Length. host: a Host
 * header instead of curl's. header: one more header line.
 */
typedef struct http_req {
    const char *method;
    const char *path;
    const char *ctype;
    const char *body;
    size_t chunked_bytes;
    size_t announced_bytes;
    const char *host;
    const char *header; /* one more header line ("Authorization: Bearer ..."), or NULL */
} http_req;

static inline size_t http_on_body(char *p, size_t size, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t len = size * n;
    if (r->len < sizeof r->body - 1) {
        size_t keep = len < sizeof r->body - 1 - r->len ? len : sizeof r->body - 1 - r->len;
        memcpy(r->body + r->len, p, keep);
        r->body[r->len + keep] = '\0';
    }
    r->len += len;
    return len;
}

static inline size_t http_on_header(char *p, size_t size, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t len = size * n, have = strlen(r->headers);
    if (have + len < sizeof r->headers) {
        memcpy(r->headers + have, p, len);
        r->headers[have + len] = '\0';
    }
    return len;
}

typedef struct http_filler {
    size_t left;
} http_filler;

static inline size_t http_fill(char *p, size_t size, size_t n, void *ud)
{
    http_filler *f = ud;
    size_t len = size * n < f->left ? size * n : f->left;
    memset(p, 'x', len);
    f->left -= len;
    return len;
}

/* Sends q to 127.0.0.1:port and fills *r. Returns r->status. */
static inline long http_send(uint16_t port, const http_req *q, http_resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, q->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_error);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    struct curl_slist *h = NULL;
    char line[300];
    if (q->ctype) {
        snprintf(line, sizeof line, "Content-Type: %s", q->ctype);
        h = curl_slist_append(h, line);
    }
    if (q->host) {
        snprintf(line, sizeof line, "Host: %s", q->host);
        h = curl_slist_append(h, line);
    }
    if (q->header)
        h = curl_slist_append(h, q->header);
    http_filler fill = {q->chunked_bytes ? q->chunked_bytes : q->announced_bytes};
    if (q->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(q->body));
    } else if (q->chunked_bytes || q->announced_bytes) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, http_fill);
        curl_easy_setopt(c, CURLOPT_READDATA, &fill);
        if (q->announced_bytes)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->announced_bytes);
        else
            h = curl_slist_append(h, "Transfer-Encoding: chunked");
    }
    if (q->method && strcmp(q->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (q->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_off_t up = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
    r->sent = (long long)up;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r->status;
}

/* A GET (or another method without a body) of path. */
static inline long http_get(uint16_t port, const char *method, const char *path, http_resp *r)
{
    http_req q = {.method = method, .path = path};
    return http_send(port, &q, r);
}

/* A JSON body sent with method to path. */
static inline long http_json(uint16_t port, const char *method, const char *path, const char *body,
                             http_resp *r)
{
    http_req q = {.method = method, .path = path, .ctype = "application/json", .body = body};
    return http_send(port, &q, r);
}

/* The value of response header name (case-insensitive) in out, "" when there is none. */
static inline const char *http_header(const http_resp *r, const char *name, char *out,
                                      size_t outlen)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *l = r->headers; *l;) {
        const char *end = strstr(l, "\r\n");
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (len > n && strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, outlen, "%.*s", (int)(len - (size_t)(v - l)), v);
            return out;
        }
        l += len + (end ? 2 : 0);
    }
    return out;
}

#endif
