/*
 * vu.c - see vu.h: a VU's variables and headers, and its requests: building one from its plan
 * (URL, method, body, headers, rendered into buffers the VU keeps), judging the response
 * (transport errors, status, JSON paths, body, latency) and extracting values from it.
 */
#define _GNU_SOURCE /* memmem */
#include "engine/vu.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "engine/tracerec.h"

#define HDR_TEXT_MAX (256u << 10)      /* rendered request header lines of one request */
#define RESP_HDR_MAX (64u << 10)       /* response header bytes kept for header extracts */
#define URL_MAX (64u << 10)            /* one rendered URL */
#define SCRATCH_MAX SP_TMPL_MAX_RENDER /* lets, messages, body_contains needles */

static void trace_done(sp_vu *v, const sp_plan *p, int sent, int status, uint64_t latency, int kind,
                       const char *msg);

void sp_vu_env_init(sp_vuenv *env, sp_run *r)
{
    env->r = r;
    env->stats = NULL;
    sp_buf_init(&env->scratch, SCRATCH_MAX);
    sp_buf_init(&env->arena, 2 * (size_t)SP_EXPR_MAX_TEXT);
    sp_buf_init(&env->msgbuf, SP_FAIL_MSG_MAX * 4);
    env->rx = sp_regex_scratch_new();
}

void sp_vu_env_release(sp_vuenv *env)
{
    sp_buf_release(&env->scratch);
    sp_buf_release(&env->arena);
    sp_buf_release(&env->msgbuf);
    sp_regex_scratch_free(env->rx);
    env->rx = NULL;
}

/* ---- VU variables and headers ---- */

sp_frame *sp_vu_top(sp_vu *v)
{
    return v->nfr <= 1 ? &v->root : &v->more[v->nfr - 2];
}

void sp_vu_unset(sp_vu *v, int slot)
{
    if (slot < 0 || (size_t)slot >= v->uc->nvars)
        return;
    sp_value_drop(&v->vars[slot]); /* a response's value the VU held goes back */
}

/* Copies text into the slot's own storage, which grows only. */
static void var_set_text(sp_vu *v, int slot, const char *s, size_t len)
{
    if (len > SP_VAR_MAX_BYTES)
        len = SP_VAR_MAX_BYTES;
    sp_vustore *st = &v->store[slot];
    if (st->cap < len + 1) {
        size_t ncap = st->cap ? st->cap : 32;
        while (ncap < len + 1)
            ncap *= 2;
        /* The text may be the slot's own (let a = a): it moves with the storage. */
        ptrdiff_t inside = st->p && s >= st->p && s < st->p + st->cap ? s - st->p : -1;
        st->p = sp_realloc(st->p, ncap);
        st->cap = ncap;
        if (inside >= 0)
            s = st->p + inside;
    }
    memmove(st->p, s, len);
    st->p[len] = '\0';
}

void sp_vu_set(sp_vu *v, int slot, const sp_value *val)
{
    if (slot < 0 || (size_t)slot >= v->uc->nvars) {
        sp_value tmp = *val;
        sp_value_drop(&tmp);
        return;
    }
    sp_value nv;
    memset(&nv, 0, sizeof nv);
    switch (val->type) {
    case SP_V_STR:
        if (val->enc) {
            /* urlencode()'s layers are applied now: the variable holds the encoded text. */
            sp_buf *b = &v->env->scratch;
            sp_buf_reset(b);
            (void)sp_value_write(val, SP_ESC_NONE, b);
            var_set_text(v, slot, b->p, b->len);
            nv.len = (uint32_t)(b->len > SP_VAR_MAX_BYTES ? SP_VAR_MAX_BYTES : b->len);
        } else {
            var_set_text(v, slot, val->u.s, val->len);
            nv.len = val->len > SP_VAR_MAX_BYTES ? SP_VAR_MAX_BYTES : val->len;
        }
        nv.type = SP_V_STR;
        nv.u.s = v->store[slot].p;
        break;
    case SP_V_BOOL:
    case SP_V_INT:
    case SP_V_FLOAT:
        nv = *val;
        break;
    case SP_V_JSON:
        nv = *val;
        /* A response's value (this thread's) is kept with a reference of the VU's own; the
         * definition's data is never reference-counted (other threads read it too). */
        if (val->ref == SP_REF_LOCAL) {
            json_incref((json_t *)val->u.j);
            nv.ref = SP_REF_OWNED;
        }
        break;
    default: /* null and unset: a variable never holds null */
        break;
    }
    /* The old value goes last: the new one may have been read from it. */
    sp_value_drop(&v->vars[slot]);
    v->vars[slot] = nv;
}

void sp_vu_ctx(const sp_vu *v, sp_vuctx *c)
{
    c->vars = v->vars;
    c->nvars = v->uc->nvars;
    c->row = v->row;
    c->rng = (sp_rng *)&v->rng;
    c->vu = v->num;
    c->iteration = v->iteration;
    c->status = v->last_status;
    c->now_ms = 0;
    c->arena = &v->env->arena;
    sp_buf_reset(&v->env->arena);
}

static void vuhdr_set(sp_vu *v, const char *name, const char *val, size_t len)
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
    sp_vuhdr *h = &v->vh[i];
    if (h->cap < len + 1) {
        h->val = sp_realloc(h->val, len + 1);
        h->cap = len + 1;
    }
    memcpy(h->val, val, len);
    h->val[len] = '\0';
    h->len = len;
    v->vh_ver++;
}

void sp_vu_set_headers(sp_vu *v, const sp_step *st)
{
    sp_vuctx ctx;
    sp_vu_ctx(v, &ctx);
    for (size_t i = 0; i < st->nset_headers; i++) {
        sp_buf_reset(&v->env->scratch);
        if (sp_tmpl_render(st->set_headers[i].value, &ctx, &v->env->scratch) != 0)
            continue;
        vuhdr_set(v, st->set_headers[i].name, v->env->scratch.p, v->env->scratch.len);
    }
}

void sp_vu_lets(sp_vu *v, const sp_step *st)
{
    sp_vuctx ctx;
    sp_vu_ctx(v, &ctx);
    for (size_t i = 0; i < st->nlets; i++) {
        const sp_let *l = &st->lets[i];
        sp_value out;
        if (l->lit) {
            sp_value_from_json(&out, l->lit, SP_REF_DEF);
            sp_vu_set(v, l->slot, &out);
            continue;
        }
        sp_buf_reset(&v->env->scratch);
        sp_buf_reset(&v->env->arena);
        if (sp_tmpl_eval(l->value, &ctx, &out, &v->env->scratch) != 0)
            sp_vu_unset(v, l->slot);
        else
            sp_vu_set(v, l->slot, &out); /* takes over a reference out holds */
    }
}

static int status_in(int status, const uint16_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == status)
            return 1;
    return 0;
}

int sp_vu_cond(sp_vu *v, const sp_cond *c)
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
        ok = val && val->type != SP_V_UNSET && val->type != SP_V_NULL &&
             (val->type != SP_V_STR || val->len);
        break;
    case SP_COND_VAR_EQUALS: {
        const char *want = c->equals ? c->equals : "";
        if (!val || val->type == SP_V_UNSET) {
            ok = 0;
        } else {
            sp_buf_reset(&v->env->scratch);
            ok = sp_value_render(val, &v->env->scratch) == 0 &&
                 strlen(want) == v->env->scratch.len && strcmp(v->env->scratch.p, want) == 0;
        }
        break;
    }
    case SP_COND_STATUS:
        ok = status_in(v->last_status, c->status, c->nstatus);
        break;
    case SP_COND_EXPR: {
        sp_vuctx ctx;
        sp_vu_ctx(v, &ctx);
        sp_value r;
        sp_expr_eval(c->expr, &ctx, NULL, &r);
        ok = sp_value_truthy(&r);
        sp_value_drop(&r);
        break;
    }
    }
    return c->negate ? !ok : ok;
}

/* ---- curl callbacks of a VU's easy handle ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sp_vu *v = ud;
    size_t len = size * n;
    v->rx += len;
    if (v->rx > v->env->r->max_resp) {
        /* Returning less than len makes curl abort with CURLE_WRITE_ERROR: too_large. */
        v->too_large = 1;
        return 0;
    }
    if (v->keep_body)
        (void)sp_buf_add(&v->resp, p, len);
    return len;
}

/* Case-insensitive search for an attribute ("domain=", "path=") in a Set-Cookie value's
 * attributes (after its first ';'). */
static int cookie_has_attr(const char *s, size_t n, const char *attr)
{
    const char *semi = memchr(s, ';', n);
    size_t alen = strlen(attr);
    for (const char *q = semi; q && q < s + n;) {
        q++;
        while (q < s + n && (*q == ' ' || *q == '\t'))
            q++;
        if ((size_t)(s + n - q) >= alen && strncasecmp(q, attr, alen) == 0)
            return 1;
        q = memchr(q, ';', (size_t)(s + n - q));
    }
    return 0;
}

/*
 * The VU's first cookie. A VU's cookie jar (curl's, a 2 KB table) is made only when a response
 * first sets a cookie, so that VUs of targets that never do (most APIs with tokens) do not pay
 * for one. curl has already passed over this Set-Cookie line without a jar, so it is handed to
 * the new jar as curl would have read it: for the host and path of the request that got it (a
 * cookie without Domain is kept for that host, one without Path for its directory). From then on
 * curl reads every Set-Cookie itself, the rest of this response's and the next hop's of a
 * redirect included, and sends the jar's cookies on every later request.
 */
static void first_cookie(sp_vu *v, const char *p, size_t len)
{
    const char *val = p + 11;
    size_t vlen = len - 11;
    while (vlen && (*val == ' ' || *val == '\t'))
        val++, vlen--;
    while (vlen && (val[vlen - 1] == '\r' || val[vlen - 1] == '\n' || val[vlen - 1] == ' '))
        vlen--;
    char *url = NULL;
    curl_easy_getinfo(v->easy, CURLINFO_EFFECTIVE_URL, &url);
    const char *h = url ? strstr(url, "://") : NULL;
    if (!vlen || vlen > SP_COOKIE_LINE_MAX || !h)
        return;
    h += 3;
    size_t hlen = strcspn(h, "/?#");
    const char *at = memchr(h, '@', hlen);
    if (at) {
        hlen -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    /* The host without its port (an IPv6 literal keeps its brackets' inside). */
    size_t host_len = hlen;
    const char *host = h;
    if (host_len && host[0] == '[') {
        const char *rb = memchr(host, ']', host_len);
        host++;
        host_len = rb ? (size_t)(rb - host) : host_len - 1;
    } else {
        const char *colon = memchr(host, ':', host_len);
        if (colon)
            host_len = (size_t)(colon - host);
    }
    const char *path = h + hlen;
    size_t plen = strcspn(path, "?#");
    size_t dir = plen;
    while (dir > 0 && path[dir - 1] != '/')
        dir--;
    if (dir > 1)
        dir--; /* the directory without its last '/' */
    char line[SP_COOKIE_LINE_MAX + 600];
    int n = snprintf(line, sizeof line, "Set-Cookie: %.*s", (int)vlen, val);
    if (!cookie_has_attr(val, vlen, "domain=") && host_len < 256)
        n += snprintf(line + n, sizeof line - (size_t)n, "; domain=%.*s", (int)host_len, host);
    if (!cookie_has_attr(val, vlen, "path=") && dir < 256)
        n += snprintf(line + n, sizeof line - (size_t)n, "; path=%.*s", dir ? (int)dir : 1,
                      dir ? path : "/");
    if (n > 0 && (size_t)n < sizeof line) {
        /* Creates the jar and adds this cookie: curl lets COOKIELIST start its cookie engine,
         * which then also reads this transfer's later headers. */
        curl_easy_setopt(v->easy, CURLOPT_COOKIELIST, line);
        v->jar = 1;
    }
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    sp_vu *v = ud;
    size_t len = size * n;
    if (v->keep_headers) {
        /* With redirects followed, only the last response's headers matter. */
        if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
            sp_buf_reset(&v->resphdr);
        (void)sp_buf_add(&v->resphdr, p, len);
    }
    if (!v->jar && v->env->r->def->opts.cookies && len > 11 && (p[0] == 'S' || p[0] == 's') &&
        strncasecmp(p, "Set-Cookie:", 11) == 0)
        first_cookie(v, p, len);
    return len;
}

/*
 * CURLOPT_HTTP_VERSION for options.http_version. "2" asks for prior knowledge: over http:// the
 * connection starts with the HTTP/2 preface (h2c), and over https:// curl offers h2 and
 * http/1.1 by ALPN and speaks what the server picks, so a server that picks http/1.1 is caught
 * after the response (h2_outcome) rather than refused in the handshake. "auto" offers h2 by ALPN
 * only over TLS: plain http:// stays HTTP/1.1, as browsers behave.
 */
static long curl_http_version(sp_http_version ver)
{
    switch (ver) {
    case SP_HTTP_2:
        return (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    case SP_HTTP_AUTO:
        return (long)CURL_HTTP_VERSION_2TLS;
    case SP_HTTP_1_1:
        break;
    }
    return (long)CURL_HTTP_VERSION_1_1;
}

/*
 * libcurl before 8.0 (Debian 12 ships 7.88.1) breaks a reused h2c connection: with prior
 * knowledge asked for, curl sets up HTTP/2 on the connection a second time and the request fails
 * with CURLE_HTTP2 before it is sent (curl issue 10634, fixed in 8.0.0), so every other request
 * of a VU would fail. Asking for plain HTTP/2 (CURL_HTTP_VERSION_2_0) on a connection that already
 * speaks h2c avoids that, but on a new connection it would send an HTTP/1.1 Upgrade that h2c
 * servers such as nginx refuse. So each request asks for plain HTTP/2 only when the VU's last h2c
 * connection is still open and idle, and prior knowledge otherwise: the socket curl last opened
 * for the VU (on_sockopt) is that connection while its local port is still the one the last h2c
 * response came over. A connection with something to read (a GOAWAY, the server's close) is left
 * for a new one made with prior knowledge. Two system calls per request, only in this case.
 */
#define H2C_REUSE_BUG (LIBCURL_VERSION_NUM < 0x080000)

static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
    sp_vu *v = ud;
    if (purpose == CURLSOCKTYPE_IPCXN)
        v->h2c_fd = fd;
    return CURL_SOCKOPT_OK;
}

/* 1 when fd is still the TCP socket whose local port is port. */
static int same_socket(int fd, long port)
{
    struct sockaddr_storage a;
    socklen_t alen = sizeof a;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        return 0;
    if (a.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&a)->sin_port) == port;
    if (a.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&a)->sin6_port) == port;
    return 0;
}

static void h2c_version(sp_vu *v)
{
    long want = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, fresh = 0;
    if (v->h2_port && v->h2_clear && same_socket(v->h2c_fd, v->h2_port)) {
        struct pollfd pfd = {.fd = v->h2c_fd, .events = POLLIN | POLLRDHUP};
        if (poll(&pfd, 1, 0) == 0)
            want = CURL_HTTP_VERSION_2_0;
        else
            fresh = 1;
    }
    curl_easy_setopt(v->easy, CURLOPT_HTTP_VERSION, want);
    curl_easy_setopt(v->easy, CURLOPT_FRESH_CONNECT, fresh);
}

/* ---- VU lifecycle ---- */

sp_vu *sp_vu_new(sp_vuenv *env, struct sp_worker *w, struct sp_shard *sh, uint32_t slot, uint64_t k)
{
    sp_run *r = env->r;
    const sp_def *d = r->def;
    int cls = sp_run_class_of(r, k);
    sp_vu *v = sp_calloc(1, sizeof(*v));
    v->w = w;
    v->env = env;
    v->sh = sh;
    v->slot = slot;
    v->num = r->vu_base + k + 1;
    v->uc = &d->users[cls];
    v->cp = &r->plans[cls];
    v->feeder = r->feeders ? r->feeders[cls] : NULL;
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
    /* The socket callbacks are the worker's (sockets live in its epoll set). */
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
    /* options.http_version. Whatever the version, each VU keeps its own connection, as real
     * clients do: the share above gives the VU a connection cache of its own and the multi
     * handle never multiplexes (CURLPIPE_NOTHING in worker.c), so HTTP/2 carries one VU's
     * requests, one at a time, and never puts VUs together on one connection. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, curl_http_version(d->opts.http_version));
    v->h2c_fd = -1;
    if (d->opts.http_version == SP_HTTP_2 && H2C_REUSE_BUG) {
        curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
        curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, v);
    }
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    /* curl's receive buffer is allocated per easy handle and kept for its life; 16 KB by
     * default. A smaller one keeps idle VUs small at the cost of more reads for big bodies. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 8192L);
    /* Each VU keeps its own cookies, as a browser does, in a jar made when a response first
     * sets one (first_cookie): they go back on the VU's later requests, redirects included,
     * and no other VU ever sees them. Until then the header callback watches for Set-Cookie. */
    return v;
}

void sp_vu_free(sp_vu *v)
{
    if (v->mime) {
        curl_easy_setopt(v->easy, CURLOPT_MIMEPOST, NULL);
        curl_mime_free(v->mime);
    }
    free(v->mp);
    curl_easy_cleanup(v->easy);
    /* Closes the VU's connection (through the worker's close callback, so that it forgets the
     * socket). */
    if (v->conn)
        curl_share_cleanup(v->conn);
    for (size_t i = 0; v->store && i < v->uc->nvars; i++) {
        free(v->store[i].p);
        sp_value_drop(&v->vars[i]);
    }
    free(v->store);
    free(v->vars);
    free(v->more);
    for (size_t i = 0; i < v->nvh; i++)
        free(v->vh[i].val);
    free(v->vh);
    free(v->nodes);
    sp_buf_release(&v->hdrtext);
    sp_buf_release(&v->url);
    sp_buf_release(&v->body);
    sp_buf_release(&v->resp);
    sp_buf_release(&v->resphdr);
    free(v);
}

/* ---- requests ---- */

static void set_method(sp_vu *v, const sp_request *rq)
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

static int build_mime(sp_vu *v, const sp_request *rq, const sp_vuctx *ctx)
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

/*
 * Multipart bodies. libcurl's mime API allocates a tree per request (a part, its name, type
 * and data copied, its headers formatted) and sends the body from a read callback after the
 * headers, in a second send that also waits for the socket to be writable: together a third of
 * an upload's cost (tests/bench/guide.sh). The VU writes the body itself instead, in the layout
 * libcurl writes, and sends it as it sends any body. The part headers are written at load
 * (sp_part.head); a request only copies them around its rendered values.
 *
 * The boundary is fixed per VU (derived from the run's seed, the VU number and a generation
 * count), so the Content-Type line it goes in is built once. A body whose values hold the
 * boundary (content echoed by a server, say) is built again with the next generation's.
 * A request whose headers set a Content-Type of their own keeps libcurl's mime API, which
 * appends the boundary to that type (build_mime).
 */
#define MP_DASHES "------------------------"
#define MP_BOUNDARY_LEN (sizeof MP_DASHES - 1 + 16)
#define MP_CTYPE "Content-Type: multipart/form-data; boundary="
#define MP_TRIES 8 /* boundaries tried before a body is given up */

typedef struct sp_vump {
    struct curl_slist node; /* the Content-Type line, linked before the request's headers */
    uint32_t gen;
    char line[sizeof MP_CTYPE + MP_BOUNDARY_LEN];
} sp_vump;

static void mp_boundary(sp_vu *v, sp_vump *mp)
{
    static const char hex[] = "0123456789abcdef";
    sp_rng g;
    sp_rng_seed(&g, v->env->r->seed ^ (v->num * 0xbf58476d1ce4e5b9ull) ^
                        ((uint64_t)mp->gen * 0x94d049bb133111ebull));
    uint64_t x = sp_rng_next(&g);
    char *b = mp->line + sizeof MP_CTYPE - 1;
    memcpy(b, MP_DASHES, sizeof MP_DASHES - 1);
    for (size_t i = 0; i < 16; i++)
        b[sizeof MP_DASHES - 1 + i] = hex[(x >> (4 * i)) & 15];
    b[MP_BOUNDARY_LEN] = '\0';
}

/* 1 when a header of this request (the plan's or the VU's) sets the Content-Type. */
static int sets_ctype(const sp_vu *v, const sp_plan *p);

/* Renders the parts into v->body between boundary lines. Each value has the render cap of its
 * own, as with one template per part; the body as a whole is bounded by the number of parts. */
static int build_multipart(sp_vu *v, const sp_request *rq, const sp_vuctx *ctx)
{
    sp_vump *mp = v->mp;
    if (!mp) {
        mp = v->mp = sp_calloc(1, sizeof(*mp));
        memcpy(mp->line, MP_CTYPE, sizeof MP_CTYPE - 1);
        mp->node.data = mp->line;
        mp_boundary(v, mp);
    }
    sp_buf *b = &v->body;
    int rc = 0;
    for (int tries = 0; !rc && tries < MP_TRIES; tries++) {
        const char *bd = mp->line + sizeof MP_CTYPE - 1;
        sp_buf_reset(b);
        for (size_t i = 0; !rc && i < rq->nparts; i++) {
            const sp_part *pt = &rq->parts[i];
            b->max = SIZE_MAX;
            (void)sp_buf_add(b, "--", 2);
            (void)sp_buf_add(b, bd, MP_BOUNDARY_LEN);
            (void)sp_buf_add(b, "\r\n", 2);
            (void)sp_buf_add(b, pt->head, pt->head_len);
            b->max = b->len + SP_TMPL_MAX_RENDER;
            rc = sp_tmpl_render(pt->value, ctx, b);
            b->max = SIZE_MAX;
            (void)sp_buf_add(b, "\r\n", 2);
        }
        if (rc)
            break;
        (void)sp_buf_add(b, "--", 2);
        (void)sp_buf_add(b, bd, MP_BOUNDARY_LEN);
        (void)sp_buf_add(b, "--\r\n", 4);
        /* The boundary is on nparts + 1 lines; any more is inside a value. */
        size_t n = 0;
        for (const char *q = b->p, *end = b->p + b->len;
             (q = memmem(q, (size_t)(end - q), bd, MP_BOUNDARY_LEN)) != NULL; q += MP_BOUNDARY_LEN)
            n++;
        if (n == rq->nparts + 1)
            break;
        mp->gen++;
        mp_boundary(v, mp);
        if (tries + 1 == MP_TRIES)
            rc = SP_EINVAL;
    }
    b->max = SP_TMPL_MAX_RENDER;
    return rc;
}

/* Adds one "Name: value" line to the VU's header text; the node's data holds the offset until
 * the list is linked (the text may move while it grows). */
static int hdr_emit(sp_vu *v, size_t *n, const char *line, const char *name, const char *val,
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

static int vu_has(const sp_vu *v, const char *name)
{
    for (size_t i = 0; i < v->nvh; i++)
        if (strcasecmp(v->vh[i].name, name) == 0)
            return 1;
    return 0;
}

static int sets_ctype(const sp_vu *v, const sp_plan *p)
{
    return plan_has(p, 0, "Content-Type") || plan_has(p, 2, "Content-Type") ||
           vu_has(v, "Content-Type");
}

/*
 * The header list for this request. Constant plans used by VUs without headers of their own
 * share the plan's prebuilt list; otherwise the VU renders its own into reused memory, and keeps
 * it while neither the plan nor its VU headers change.
 */
static int build_headers(sp_vu *v, const sp_plan *p, const sp_vuctx *ctx, struct curl_slist **out)
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

/* Records a request that could not be sent (a render over its cap) as a failure. */
void sp_vu_fail_groups(sp_vu *v, int kind, int name_id)
{
    for (uint32_t k = 1; k < v->nfr; k++) {
        sp_frame *f = &v->more[k - 1];
        if (f->owner && f->owner->kind == SP_STEP_GROUP && f->fail_kind < 0) {
            f->fail_kind = kind;
            f->fail_name = name_id;
        }
    }
}

void sp_vu_fail(sp_vu *v, const sp_plan *p, const char *msg)
{
    sp_name_stats_record(&v->env->stats->names[p->req->name_id], 0, 0, SP_ERRK_OTHER, msg, 0, 0);
    sp_vu_fail_groups(v, SP_ERRK_OTHER, p->req->name_id);
    if (v->env->r->trace)
        trace_done(v, p, 0, 0, 0, SP_ERRK_OTHER, msg);
}

/* A URL that started with a hole has rendered into v->url: an absolute http(s) URL is sent as
 * is (the target allowlist checks every connection, wherever it goes), anything else is joined
 * to base_url. 0, or -1 after recording the request as failed. */
static int join_url(sp_vu *v, const sp_request *rq, const sp_plan *p)
{
    const char *u = v->url.p;
    size_t i = 0;
    while (i < v->url.len && i < 16 &&
           ((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') ||
            (i && ((u[i] >= '0' && u[i] <= '9') || u[i] == '+' || u[i] == '-' || u[i] == '.'))))
        i++;
    if (i > 0 && v->url.len >= i + 3 && memcmp(u + i, "://", 3) == 0) {
        if ((i == 4 && strncasecmp(u, "http", 4) == 0) ||
            (i == 5 && strncasecmp(u, "https", 5) == 0))
            return 0;
        sp_buf *mb = &v->env->msgbuf;
        sp_buf_reset(mb);
        (void)sp_buf_addf(
            mb, "the URL rendered to a %.*s:// URL: only http:// and https:// are sent", (int)i, u);
        sp_vu_fail(v, p, mb->p);
        return -1;
    }
    if (!rq->join_base) {
        sp_vu_fail(v, p, "the URL rendered to a relative URL, and the test has no base_url");
        return -1;
    }
    size_t blen = strlen(rq->join_base);
    size_t slash = v->url.len && u[0] == '/' ? 0 : 1;
    if (sp_buf_reserve(&v->url, blen + slash) != 0) {
        sp_vu_fail(v, p, "URL longer than its cap");
        return -1;
    }
    memmove(v->url.p + blen + slash, v->url.p, v->url.len + 1);
    memcpy(v->url.p, rq->join_base, blen);
    if (slash)
        v->url.p[blen] = '/';
    v->url.len += blen + slash;
    return 0;
}

int sp_vu_prepare(sp_vu *v, const sp_plan *p)
{
    sp_vuenv *env = v->env;
    const sp_request *rq = p->req;
    CURL *e = v->easy;
    sp_vuctx ctx;
    sp_vu_ctx(v, &ctx);

    if (sp_tmpl_is_constant(rq->url) && !rq->join_at_run) {
        if (v->cfg_url != rq) {
            curl_easy_setopt(e, CURLOPT_URL, sp_tmpl_constant(rq->url, NULL));
            v->cfg_url = rq;
        }
    } else {
        sp_buf_reset(&v->url);
        if (sp_tmpl_render(rq->url, &ctx, &v->url) != 0) {
            sp_vu_fail(v, p, "URL longer than its cap");
            return -1;
        }
        if (rq->join_at_run && join_url(v, rq, p) != 0)
            return -1;
        curl_easy_setopt(e, CURLOPT_URL, v->url.p);
        v->cfg_url = NULL;
    }
    if (env->r->def->opts.http_version == SP_HTTP_2 && H2C_REUSE_BUG)
        h2c_version(v);
    if (v->cfg_req != rq) {
        set_method(v, rq);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
        v->cfg_req = rq;
    }
    struct curl_slist *ctype = NULL; /* a multipart body's Content-Type line */
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
                sp_vu_fail(v, p, "request body larger than its cap");
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
        if (!sets_ctype(v, p)) {
            int rc = build_multipart(v, rq, &ctx);
            if (rc != 0) {
                sp_vu_fail(v, p,
                           rc == SP_ELIMIT ? "multipart field larger than its cap"
                                           : "multipart values hold every boundary tried");
                return -1;
            }
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)v->body.len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, v->body.p);
            ctype = &v->mp->node;
            break;
        }
        if (build_mime(v, rq, &ctx) != 0) {
            sp_vu_fail(v, p, "multipart field larger than its cap");
            return -1;
        }
        if (strcmp(rq->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
        break;
    }
    struct curl_slist *hdrs = NULL;
    if (build_headers(v, p, &ctx, &hdrs) != 0) {
        sp_vu_fail(v, p, "request headers larger than their cap");
        return -1;
    }
    if (ctype) {
        /* The VU's own node, in front of a list that may be the plan's (shared, never
         * changed). */
        ctype->next = hdrs;
        hdrs = ctype;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);

    v->keep_body = p->keep_body;
    /* The header callback: for an extract that reads a header, or to watch for the first
     * cookie while the VU has no jar. */
    int want_hdr = p->keep_headers || (!v->jar && env->r->def->opts.cookies);
    if (v->hdr_cb != want_hdr) {
        /* Both or neither: with HEADERDATA alone curl would pass headers to on_body. */
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, want_hdr ? on_header : NULL);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, want_hdr ? (void *)v : NULL);
        v->hdr_cb = want_hdr;
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
    if (env->r->trace) {
        /* "Try it" shows every response body, whether or not a check reads it. */
        v->keep_body = 1;
        sp_tracerec_begin(env->r->trace, env->r->def->names[rq->name_id], rq->method,
                          sp_tmpl_is_constant(rq->url) ? sp_tmpl_constant(rq->url, NULL)
                                                       : v->url.p);
    }
    return 0;
}

/* ---- responses: classification, expectations, extraction ---- */

/* 1 when the transfer went over http:// (no TLS). */
static int is_cleartext(sp_vu *v)
{
    const char *scheme = NULL; /* curl's, static */
    curl_easy_getinfo(v->easy, CURLINFO_SCHEME, &scheme);
    return scheme && strcasecmp(scheme, "http") == 0;
}

static int classify(sp_vu *v, CURLcode cc, const char **msg)
{
    sp_vuenv *env = v->env;
    long oserr = 0;
    if (v->blocked[0]) {
        sp_buf_reset(&env->msgbuf);
        (void)sp_buf_addf(&env->msgbuf, "target not in allowlist: %s", v->blocked);
        v->blocked[0] = '\0';
        *msg = env->msgbuf.p;
        return SP_ERRK_BLOCKED;
    }
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        sp_buf_reset(&env->msgbuf);
        (void)sp_buf_addf(&env->msgbuf, "timeout after %u ms", (unsigned)v->cur->timeout_ms);
        *msg = env->msgbuf.p;
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
        if (cc == CURLE_GOT_NOTHING && env->r->def->opts.http_version == SP_HTTP_2 &&
            is_cleartext(v))
            /* An HTTP/1.1 server answers the h2c preface with a 400 that curl cannot read as
             * HTTP/2 and closes: the usual cause when this happens on every request. */
            *msg = "server returned nothing: does it speak HTTP/2 without TLS (h2c)?";
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
    case CURLE_HTTP2_STREAM:
        /* Only this request's stream failed: the server sent RST_STREAM (or broke the stream's
         * rules), and the VU's connection stays usable for its next request. */
        *msg = "HTTP/2 stream reset";
        return SP_ERRK_H2_RESET;
    case CURLE_HTTP2:
        /* The whole HTTP/2 connection failed: a framing or protocol error, a GOAWAY with an
         * error code, or prior knowledge (h2c) sent to a server that does not speak HTTP/2. */
        *msg = "HTTP/2 connection error (framing, protocol or GOAWAY)";
        return SP_ERRK_H2;
    case CURLE_WRITE_ERROR:
        if (v->too_large) {
            sp_buf_reset(&env->msgbuf);
            (void)sp_buf_addf(&env->msgbuf, "response larger than %u bytes",
                              (unsigned)env->r->max_resp);
            *msg = env->msgbuf.p;
            return SP_ERRK_TOO_LARGE;
        }
        *msg = curl_easy_strerror(cc);
        return SP_ERRK_OTHER;
    default:
        *msg = curl_easy_strerror(cc);
        return SP_ERRK_OTHER;
    }
}

/*
 * The HTTP/2 side of a finished transfer, with http_version "2" or "auto": -1, or a kind with
 * *msg set. With "2" a response that came over HTTP/1.x fails as not_h2: curl falls back to
 * HTTP/1.1 when TLS ALPN does not pick h2, and a test of an HTTP/2 gateway that silently measured
 * HTTP/1.1 would report figures of the wrong protocol ("auto" is there for the fallback). A
 * connection that ends mid-request after it carried HTTP/2 fails as http2: libcurl 7.88 reports a
 * GOAWAY with an error code, and the close that follows it, as a partial or failed read, which
 * would otherwise read as a TCP reset; the connection is known by its local port.
 */
static int h2_outcome(sp_vu *v, CURLcode cc, const char **msg)
{
    long ver = 0, port = 0;
    curl_easy_getinfo(v->easy, CURLINFO_HTTP_VERSION, &ver);
    curl_easy_getinfo(v->easy, CURLINFO_LOCAL_PORT, &port);
    if (cc != CURLE_OK) {
        int on_h2 = ver == CURL_HTTP_VERSION_2_0 || (port && port == v->h2_port);
        if (on_h2 && (cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR ||
                      cc == CURLE_GOT_NOTHING || cc == CURLE_SEND_ERROR)) {
            *msg = "HTTP/2 connection closed mid-request (GOAWAY with an error, or a close)";
            return SP_ERRK_H2;
        }
        return -1;
    }
    v->h2_port = ver == CURL_HTTP_VERSION_2_0 ? port : 0;
    if (H2C_REUSE_BUG && v->env->r->def->opts.http_version == SP_HTTP_2)
        v->h2_clear = v->h2_port && is_cleartext(v);
    if (ver == CURL_HTTP_VERSION_2_0 || v->env->r->def->opts.http_version != SP_HTTP_2)
        return -1;
    *msg = ver == CURL_HTTP_VERSION_1_0
               ? "the server answered over HTTP/1.0, not HTTP/2 (options.http_version \"2\")"
               : "the server answered over HTTP/1.1, not HTTP/2 (options.http_version \"2\")";
    return SP_ERRK_NOT_H2;
}

/* A short JSON text of j for a message, cut with "..." when long. */
static void json_brief(const json_t *j, char *buf, size_t len)
{
    if (!j) {
        snprintf(buf, len, "nothing");
        return;
    }
    /* json_dumpb() writes nothing at all when the text does not fit (it only says how long the
     * text is), so the length comes first, and a long value is dumped whole and then cut. A
     * value from a response can be as large as the response: past a cap only its size is told. */
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    size_t need = json_dumpb(j, NULL, 0, flags);
    if (need == 0) {
        snprintf(buf, len, "?");
    } else if (need < len) {
        json_dumpb(j, buf, need, flags);
        buf[need] = '\0';
    } else if (need > SP_FAIL_VALUE_DUMP_MAX) {
        snprintf(buf, len, "%s of %zu bytes",
                 json_is_object(j)  ? "an object"
                 : json_is_array(j) ? "an array"
                                    : "a string",
                 need);
    } else {
        char *full = sp_malloc(need);
        json_dumpb(j, full, need, flags);
        snprintf(buf, len, "%.*s...", (int)(len - 4), full);
        free(full);
    }
}

/* The response as JSON for checks and extracts, or NULL. A target's response is outside input:
 * it is parsed only up to SP_RESP_JSON_MAX bytes and SP_RESP_JSON_MAX_DEPTH levels, so the tree
 * Jansson builds (tens of bytes per value) stays bounded per worker whatever max_response_bytes
 * allows; a larger or deeper response counts as "not JSON" for its checks. */
static json_t *parse_body(sp_vu *v)
{
    if (!v->resp.len || v->resp.len > SP_RESP_JSON_MAX ||
        sp_json_too_deep(v->resp.p, v->resp.len, SP_RESP_JSON_MAX_DEPTH) != SIZE_MAX)
        return NULL;
    return json_loadb(v->resp.p, v->resp.len, JSON_DECODE_ANY, NULL);
}

/* expect.json[].equals written as a string: a template. One hole compares with the value's own
 * type (== of expr.h: 2 equals 2.0), any other text with a JSON string of that text. The value
 * is left in v->env->eq_val for the message. */
static int equals_template(sp_vu *v, const sp_jcheck *jc, const json_t *got, const sp_vuctx *ctx)
{
    sp_buf_reset(&v->env->scratch);
    sp_value want;
    if (sp_tmpl_eval(jc->equals_t, ctx, &want, &v->env->scratch) != 0)
        return 0;
    v->env->eq_val = want;
    if (!got)
        return 0;
    sp_value have;
    sp_value_from_json(&have, got, SP_REF_LOCAL);
    int ok = sp_value_equal(&have, &want);
    if (want.type == SP_V_JSON && want.ref == SP_REF_OWNED) {
        /* A joined array: the message only needs its text. */
        v->env->eq_val.type = SP_V_NULL;
        sp_value_drop(&want);
    }
    return ok;
}

/*
 * Checks a response against its step's expectations. Returns -1 when it passed, else the error
 * kind with *msg set (the step's message template when it has one). *doc gets the parsed body
 * when it was parsed (the caller decrefs it).
 */
static int check_expect(sp_vu *v, const sp_plan *p, int status, uint64_t latency_us,
                        const char **msg, json_t **doc)
{
    sp_vuenv *env = v->env;
    const sp_expect *x = &p->step->expect;
    sp_buf *mb = &env->msgbuf;
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
        sp_vuctx ctx;
        sp_vu_ctx(v, &ctx);
        ctx.status = status;
        for (size_t i = 0; kind < 0 && i < x->njson; i++) {
            const sp_jcheck *jc = &x->json[i];
            const json_t *got = *doc ? sp_jpath_get(jc->path, *doc, &ctx) : NULL;
            const char *nojson = *doc ? "" : " (the response is not JSON)";
            if (jc->kind == SP_JCHECK_EXISTS && !got) {
                kind = SP_ERRK_ASSERTION;
                (void)sp_buf_addf(mb, "expected JSON path '%s' to exist%s", jc->path_src, nojson);
            } else if (jc->kind == SP_JCHECK_MISSING && got) {
                kind = SP_ERRK_ASSERTION;
                (void)sp_buf_addf(mb, "expected JSON path '%s' to be missing", jc->path_src);
            } else if (jc->kind == SP_JCHECK_EQUALS && jc->equals &&
                       (!got || !json_equal(got, jc->equals))) {
                char want[64], have[64];
                json_brief(jc->equals, want, sizeof want);
                json_brief(got, have, sizeof have);
                kind = SP_ERRK_ASSERTION;
                (void)sp_buf_addf(mb, "expected JSON path '%s' to equal %s, got %s%s", jc->path_src,
                                  want, have, nojson);
            } else if (jc->kind == SP_JCHECK_EQUALS && jc->equals_t &&
                       !equals_template(v, jc, got, &ctx)) {
                char want[64], have[64];
                json_t *w = sp_value_to_json(&v->env->eq_val);
                json_brief(w, want, sizeof want);
                json_decref(w);
                json_brief(got, have, sizeof have);
                kind = SP_ERRK_ASSERTION;
                (void)sp_buf_addf(mb, "expected JSON path '%s' to equal %s, got %s%s", jc->path_src,
                                  want, have, nojson);
            }
        }
    }
    if (kind < 0 && x->body_contains) {
        sp_vuctx ctx;
        sp_vu_ctx(v, &ctx);
        sp_buf_reset(&env->scratch);
        if (sp_tmpl_render(x->body_contains, &ctx, &env->scratch) == 0 &&
            !memmem(v->resp.p, v->resp.len, env->scratch.p, env->scratch.len)) {
            kind = SP_ERRK_ASSERTION;
            (void)sp_buf_adds(mb, "expected the body to contain '");
            (void)sp_buf_add(mb, env->scratch.p, env->scratch.len < 64 ? env->scratch.len : 64);
            (void)sp_buf_adds(mb, env->scratch.len < 64 ? "'" : "...'");
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
        sp_vu_ctx(v, &ctx);
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

/* A value found in the response: its type kept (a string stays text, a number a number, an
 * object or array the JSON value itself); null leaves the variable unset. */
static void extract_json_value(sp_vu *v, int slot, const json_t *j)
{
    sp_value val;
    sp_value_from_json(&val, j, SP_REF_LOCAL);
    sp_vu_set(v, slot, &val);
}

/* Runs the step's extracts on a response that passed its checks. Returns -1, or
 * SP_ERRK_REGEX_LIMIT with *msg naming the request and the variable when a regex gave up at its
 * match limit: the request then fails, and the variable is left unset. */
static int run_extracts(sp_vu *v, const sp_plan *p, json_t **doc, const char **msg)
{
    const sp_step *st = p->step;
    int kind = -1;
    for (size_t i = 0; i < st->nextracts; i++) {
        const sp_extract *x = &st->extracts[i];
        switch (x->kind) {
        case SP_EXTRACT_JSON: {
            if (!*doc)
                *doc = parse_body(v);
            sp_vuctx ctx;
            sp_vu_ctx(v, &ctx);
            const json_t *one = NULL;
            json_t *all = NULL;
            size_t n = *doc ? sp_jpath_take(x->path, *doc, x->take, &ctx, &one, &all) : 0;
            if (x->take == SP_TAKE_COUNT) {
                sp_value cnt = {.type = SP_V_INT, .u.i = (int64_t)n};
                sp_vu_set(v, x->slot, &cnt);
            } else if (x->take == SP_TAKE_ALL) {
                sp_value arr = {.type = SP_V_JSON, .ref = SP_REF_OWNED};
                arr.u.j = all ? all : json_array(); /* the VU takes this reference */
                sp_vu_set(v, x->slot, &arr);
            } else if (one) {
                extract_json_value(v, x->slot, one);
            } else {
                sp_vu_unset(v, x->slot);
            }
            break;
        }
        case SP_EXTRACT_HEADER: {
            size_t len = 0;
            const char *s = find_header(&v->resphdr, x->header, &len);
            sp_value val = {.type = SP_V_STR, .len = (uint32_t)len};
            val.u.s = s;
            if (s)
                sp_vu_set(v, x->slot, &val);
            else
                sp_vu_unset(v, x->slot);
            break;
        }
        case SP_EXTRACT_REGEX: {
            size_t at = 0, len = 0;
            int rc = sp_regex_match(x->re, v->env->rx, v->resp.p, v->resp.len, (unsigned)x->group,
                                    &at, &len);
            if (rc == 1) {
                sp_value val = {.type = SP_V_STR, .len = (uint32_t)len};
                val.u.s = v->resp.p + at;
                sp_vu_set(v, x->slot, &val);
                break;
            }
            sp_vu_unset(v, x->slot);
            if (rc == SP_ELIMIT && kind < 0) {
                sp_buf *mb = &v->env->msgbuf;
                sp_buf_reset(mb);
                (void)sp_buf_addf(mb,
                                  "%s: the regex extracting '%s' gave up at its match limit on "
                                  "a %zu-byte response",
                                  v->env->r->def->names[p->req->name_id], v->uc->vars[x->slot],
                                  v->resp.len);
                *msg = mb->p;
                kind = SP_ERRK_REGEX_LIMIT;
            }
            break;
        }
        }
    }
    return kind;
}

/*
 * A request that opened a connection (curl counts the new ones, redirects' included) spent part
 * of its latency opening it: counted apart per name. The time is the last connection's, from
 * curl's timings: until the TCP connect or, with TLS, the handshake was done, less the name
 * resolution before it. A connect that failed is not counted: it opened nothing.
 */
static void record_connect(sp_vu *v, sp_name_stats *ns)
{
    long nconn = 0;
    if (curl_easy_getinfo(v->easy, CURLINFO_NUM_CONNECTS, &nconn) != CURLE_OK || nconn <= 0)
        return;
    curl_off_t dns = 0, tcp = 0, tls = 0;
    curl_easy_getinfo(v->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(v->easy, CURLINFO_CONNECT_TIME_T, &tcp);
    curl_easy_getinfo(v->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
    curl_off_t ready = tls > tcp ? tls : tcp;
    if (ready <= 0)
        return;
    sp_name_stats_record_connect(ns, (uint64_t)(ready > dns ? ready - dns : 0));
}

void sp_vu_finish(sp_vu *v, CURLcode cc)
{
    sp_vuenv *env = v->env;
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

    const char *msg = NULL;
    json_t *doc = NULL;
    int kind = -1;
    if (env->r->def->opts.http_version != SP_HTTP_1_1)
        kind = h2_outcome(v, cc, &msg);
    if (kind < 0 && cc != CURLE_OK)
        kind = classify(v, cc, &msg);
    else if (kind < 0)
        kind = check_expect(v, p, (int)status, latency, &msg, &doc);
    v->last_status = (int)status;
    /* Extracts run before the request is recorded: a regex that gives up fails the request. */
    if (kind < 0)
        kind = run_extracts(v, p, &doc, &msg);
    sp_name_stats *ns = &env->stats->names[p->req->name_id];
    sp_name_stats_record(ns, latency, (int)status, kind, msg, (uint64_t)down + (uint64_t)hsize,
                         (uint64_t)rsize + (uint64_t)up);
    record_connect(v, ns);
    if (kind < 0)
        sp_vu_set_headers(v, p->step);
    else
        sp_vu_fail_groups(v, kind, p->req->name_id);
    json_decref(doc);
    if (env->r->trace)
        trace_done(v, p, 1, (int)status, latency, kind, msg);
    if (v->mime) {
        curl_easy_setopt(e, CURLOPT_MIMEPOST, NULL);
        curl_mime_free(v->mime);
        v->mime = NULL;
        v->cfg_req = NULL; /* the method must be set again after a multipart post */
    }
    v->cur = NULL;
}

/* Hands a request that ended (sent) or could not be sent to the trace. Only called when the run
 * has one. */
static void trace_done(sp_vu *v, const sp_plan *p, int sent, int status, uint64_t latency, int kind,
                       const char *msg)
{
    char *url = NULL;
    struct curl_slist *cookies = NULL;
    if (sent)
        curl_easy_getinfo(v->easy, CURLINFO_EFFECTIVE_URL, &url);
    else
        sp_tracerec_begin(v->env->r->trace, v->env->r->def->names[p->req->name_id], p->req->method,
                          "");
    if (v->jar)
        curl_easy_getinfo(v->easy, CURLINFO_COOKIELIST, &cookies); /* a list we free */
    char where[512];
    uint32_t passes[SP_DEF_MAX_NESTING];
    size_t npasses = SP_DEF_MAX_NESTING;
    sp_buf wb;
    sp_buf_init(&wb, sizeof where - 1);
    sp_vu_where(v, &wb, passes, &npasses);
    snprintf(where, sizeof where, "%s", wb.p);
    sp_buf_release(&wb);
    sp_tracerec_entry rec = {
        .uc = v->uc,
        .phase = v->phase == SP_VU_PH_START  ? 0
                 : v->phase == SP_VU_PH_STOP ? 2
                                             : 1,
        .task = v->task,
        .step = sp_vu_top(v)->i,
        .at = where,
        .passes = passes,
        .npasses = npasses,
        .st = p->step,
        .name = v->env->r->def->names[p->req->name_id],
        .url = url,
        .status = status,
        .latency_us = latency,
        .kind = kind,
        .msg = msg,
        .body = v->resp.p,
        .body_len = v->resp.len,
        .body_bytes = v->rx,
        .vars = v->vars,
        .cookies = cookies,
    };
    sp_tracerec_done(v->env->r->trace, &rec);
    curl_slist_free_all(cookies);
}

void sp_vu_where(const sp_vu *v, sp_buf *path, uint32_t *passes, size_t *npasses)
{
    size_t cap = *npasses, np = 0;
    if (v->phase == SP_VU_PH_START)
        (void)sp_buf_adds(path, "on_start");
    else if (v->phase == SP_VU_PH_STOP)
        (void)sp_buf_adds(path, "on_stop");
    else
        (void)sp_buf_addf(path, "tasks[%zu].steps", v->task);
    for (uint32_t k = 0; k < v->nfr; k++) {
        const sp_frame *f = k == 0 ? &v->root : &v->more[k - 1];
        (void)sp_buf_addf(path, "[%u]", (unsigned)f->i);
        if (k + 1 < v->nfr) {
            const sp_frame *in = &v->more[k];
            const sp_step *o = in->owner;
            if (o && o->kind == SP_STEP_REPEAT) {
                (void)sp_buf_adds(path, ".repeat.steps");
                if (np < cap)
                    passes[np++] = in->pass;
            } else if (o && o->kind == SP_STEP_CHOOSE) {
                (void)sp_buf_addf(path, ".choose[%u].steps", (unsigned)in->branch);
            } else {
                (void)sp_buf_adds(path, ".group.steps");
            }
        }
    }
    *npasses = np;
}
