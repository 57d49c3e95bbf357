/*
 * test_multipart.c - multipart bodies as a real server reads them.
 *
 * The engine writes a multipart body itself (engine/vu.c), unless the request sets a
 * Content-Type of its own, where libcurl's mime API writes it. A local libmicrohttpd server
 * parses every body it receives with libmicrohttpd's own form parser and keeps each one's
 * parts, raw bytes and Content-Type, so the tests check what a server sees: the parts with
 * their names, file names, types and values; the engine's bytes equal libcurl's for the same
 * parts (the boundary aside); and a value that holds the VU's boundary makes it take another.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "engine/definition.h"
#include "engine/engine.h"

/* What the server kept of the last body posted to one path. */
typedef struct seen {
    char path[16];
    char method[8];
    char ctype[160];
    sp_buf parts; /* "name|filename|type|value\n" per part, as the form parser gave them */
    sp_buf raw;   /* the body's bytes */
    int bodies;
} seen;

enum { NSEEN = 4 };
static seen seens[NSEEN];
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *daemon_;
static unsigned port_;

typedef struct conn {
    struct MHD_PostProcessor *pp;
    sp_buf parts, raw;
} conn;

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    conn *cn = cls;
    (void)kind;
    (void)transfer_encoding;
    if (off == 0) {
        /* A new part: close the line of the one before. */
        if (cn->parts.len)
            (void)sp_buf_addc(&cn->parts, '\n');
        (void)sp_buf_addf(&cn->parts, "%s|%s|%s|", key, filename ? filename : "",
                          content_type ? content_type : "");
    }
    (void)sp_buf_add(&cn->parts, data, size);
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    conn *cn = *con_cls;
    if (!cn) {
        cn = sp_calloc(1, sizeof(*cn));
        sp_buf_init(&cn->parts, 1 << 20);
        sp_buf_init(&cn->raw, 1 << 20);
        cn->pp = MHD_create_post_processor(c, 4096, on_part, cn);
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_data_size) {
        (void)sp_buf_add(&cn->raw, upload_data, *upload_data_size);
        if (cn->pp)
            MHD_post_process(cn->pp, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    pthread_mutex_lock(&seen_mu);
    for (int i = 0; i < NSEEN; i++) {
        seen *s = &seens[i];
        if (s->path[0] && strcmp(s->path, url) != 0)
            continue;
        snprintf(s->path, sizeof s->path, "%s", url);
        snprintf(s->method, sizeof s->method, "%s", method);
        snprintf(s->ctype, sizeof s->ctype, "%s", ct ? ct : "");
        sp_buf_reset(&s->parts);
        sp_buf_reset(&s->raw);
        if (cn->parts.len)
            (void)sp_buf_add(&s->parts, cn->parts.p, cn->parts.len);
        (void)sp_buf_addc(&s->parts, '\n');
        if (cn->raw.len)
            (void)sp_buf_add(&s->raw, cn->raw.p, cn->raw.len);
        s->bodies++;
        break;
    }
    pthread_mutex_unlock(&seen_mu);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn *cn = *con_cls;
    if (!cn)
        return;
    if (cn->pp)
        MHD_destroy_post_processor(cn->pp);
    sp_buf_release(&cn->parts);
    sp_buf_release(&cn->raw);
    free(cn);
    *con_cls = NULL;
}

static int server_start(void)
{
    for (int i = 0; i < NSEEN; i++) {
        sp_buf_init(&seens[i].parts, 1 << 20);
        sp_buf_init(&seens[i].raw, 1 << 20);
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                         NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!daemon_)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port_ = info ? info->port : 0;
    return port_ ? 0 : -1;
}

static void seen_clear(void)
{
    pthread_mutex_lock(&seen_mu);
    for (int i = 0; i < NSEEN; i++) {
        seens[i].path[0] = '\0';
        seens[i].bodies = 0;
    }
    pthread_mutex_unlock(&seen_mu);
}

static seen *seen_at(const char *path)
{
    for (int i = 0; i < NSEEN; i++)
        if (strcmp(seens[i].path, path) == 0)
            return &seens[i];
    return NULL;
}

/* Runs text (one VU, one iteration of its task) against the server with the given seed; the
 * number of failed requests, or -1 when the engine did not run. */
static long run_once(const char *text, uint64_t seed)
{
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port_);
    sp_overrides ov = SP_OVERRIDES_NONE;
    ov.base_url = base;
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    int rc = sp_def_load(text, strlen(text), &ov, NULL, &d, &el);
    if (rc != 0 && el.n)
        fprintf(stderr, "    definition error: %s: %s\n", el.v[0].path, el.v[0].msg);
    sp_errlist_release(&el);
    if (rc != 0)
        return -1;
    sp_engine_opts o = {.threads = 1, .seed = seed};
    sp_engine *e = NULL;
    char err[256];
    long failed = -1;
    if (sp_engine_new(d, &o, &e, err, sizeof err) == 0 && sp_engine_start(e) == 0 &&
        sp_engine_wait(e) == 0) {
        const sp_stats *t = sp_engine_totals(e);
        failed = 0;
        for (size_t i = 0; i < t->nnames; i++)
            failed += (long)t->names[i].failures;
    }
    sp_engine_free(e);
    sp_def_free(d);
    return failed;
}

/* One arrival: the VU runs its task once. */
#define ONE_ARRIVAL                                                                                \
    "\"load\":{\"model\":\"open\",\"max_vus\":1,\"stages\":[{\"duration\":\"0s\",\"rate\":1},"     \
    "{\"duration\":\"500ms\",\"rate\":1},{\"duration\":\"0s\",\"rate\":0},"                        \
    "{\"duration\":\"500ms\",\"rate\":0}]}"

#define PARTS                                                                                      \
    "[{\"name\":\"file\",\"filename\":\"rows.csv\",\"content_type\":\"text/csv\","                 \
    "\"content\":\"email,n\\na@example.com,{{vu}}\\n\"},"                                          \
    "{\"name\":\"bin\",\"filename\":\"x \\\"q\\\".bin\",\"content\":\"\\u0001\\u0002\"},"          \
    "{\"name\":\"kind\",\"value\":\"customers {{1 + 1}}\"},"                                       \
    "{\"name\":\"note\",\"content_type\":\"text/plain\",\"value\":\"line\\r\\nnext\"}]"

/* The boundary of a multipart Content-Type, or NULL. */
static const char *boundary_of(const char *ctype)
{
    const char *b = strstr(ctype, "boundary=");
    return b ? b + 9 : NULL;
}

/* The raw body with every occurrence of its boundary replaced by "B". */
static void unbound(const seen *s, sp_buf *out)
{
    const char *b = boundary_of(s->ctype);
    size_t bl = b ? strlen(b) : 0;
    sp_buf_reset(out);
    const char *p = s->raw.p, *end = s->raw.p + s->raw.len;
    while (p < end) {
        const char *q = bl ? memmem(p, (size_t)(end - p), b, bl) : NULL;
        if (!q) {
            (void)sp_buf_add(out, p, (size_t)(end - p));
            break;
        }
        (void)sp_buf_add(out, p, (size_t)(q - p));
        (void)sp_buf_addc(out, 'B');
        p = q + bl;
    }
}

/*
 * The parts as the server's form parser reads them, for a POST and a PUT, and the same bytes as
 * libcurl's mime API writes (taken by a request that sets its own Content-Type, which keeps
 * libcurl's path), boundaries aside.
 */
static void test_parts_as_a_server_reads_them(void)
{
    seen_clear();
    const char *text =
        "{\"name\":\"t\",\"base_url\":\"http://placeholder\",\"users\":[{\"name\":\"u\","
        "\"tasks\":[{\"steps\":["
        "{\"request\":{\"method\":\"POST\",\"url\":\"/engine\",\"multipart\":" PARTS "}},"
        "{\"request\":{\"method\":\"PUT\",\"url\":\"/put\",\"multipart\":" PARTS "}},"
        "{\"request\":{\"method\":\"POST\",\"url\":\"/curl\","
        "\"headers\":{\"Content-Type\":\"multipart/form-data\"},\"multipart\":" PARTS "}}"
        "]}]}]," ONE_ARRIVAL "}";
    CHECK_INT_EQ(run_once(text, 11), 0);
    const char *want = "file|rows.csv|text/csv|email,n\na@example.com,1\n\n"
                       "bin|x %22q%22.bin|application/octet-stream|\x01\x02\n"
                       "kind|||customers 2\n"
                       "note||text/plain|line\r\nnext\n";
    seen *e = seen_at("/engine"), *put = seen_at("/put"), *c = seen_at("/curl");
    CHECK(e != NULL && put != NULL && c != NULL);
    CHECK_INT_EQ(e->bodies, 1);
    CHECK_STR_EQ(e->method, "POST");
    CHECK_STR_EQ(put->method, "PUT");
    CHECK_STR_CONTAINS(e->ctype, "multipart/form-data; boundary=");
    CHECK_STR_EQ(e->parts.p, want);
    CHECK_STR_EQ(put->parts.p, want);
    CHECK_STR_EQ(c->parts.p, want);
    /* Byte for byte what libcurl writes, with the boundary libcurl would have drawn. */
    sp_buf a, b;
    sp_buf_init(&a, 1 << 20);
    sp_buf_init(&b, 1 << 20);
    unbound(e, &a);
    unbound(c, &b);
    fprintf(stderr, "    engine body %zu bytes, libcurl's %zu\n", a.len, b.len);
    int same = a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
    if (!same)
        fprintf(stderr, "    engine:\n%s\n    libcurl:\n%s\n", a.p, b.p);
    sp_buf_release(&a);
    sp_buf_release(&b);
    CHECK(same);
    CHECK_INT_EQ(strlen(boundary_of(e->ctype)), strlen(boundary_of(c->ctype)));
}

/* A value that holds the boundary the VU would use (the same seed gives the same one) is sent
 * whole: the VU takes another boundary for that body. */
static void test_value_holding_the_boundary(void)
{
    seen_clear();
    const char *first = "{\"name\":\"t\",\"base_url\":\"http://placeholder\",\"users\":[{"
                        "\"name\":\"u\",\"tasks\":[{\"request\":{\"method\":\"POST\","
                        "\"url\":\"/engine\",\"multipart\":[{\"name\":\"f\",\"filename\":\"f.txt\","
                        "\"content\":\"x\"}]}}]}]," ONE_ARRIVAL "}";
    CHECK_INT_EQ(run_once(first, 23), 0);
    seen *s = seen_at("/engine");
    CHECK(s != NULL && boundary_of(s->ctype) != NULL);
    char bd[128];
    snprintf(bd, sizeof bd, "%s", boundary_of(s->ctype));

    seen_clear();
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\":\"t\",\"base_url\":\"http://placeholder\",\"users\":[{"
             "\"name\":\"u\",\"tasks\":[{\"request\":{\"method\":\"POST\","
             "\"url\":\"/engine\",\"multipart\":[{\"name\":\"f\",\"filename\":\"f.txt\","
             "\"content\":\"a\\r\\n--%s\\r\\nContent-Disposition: form-data; name=\\\"g\\\"\\r\\n"
             "\\r\\nforged\\r\\n--%s--\\r\\n\"}]}}]}]," ONE_ARRIVAL "}",
             bd, bd);
    CHECK_INT_EQ(run_once(text, 23), 0);
    s = seen_at("/engine");
    CHECK(s != NULL && boundary_of(s->ctype) != NULL);
    CHECK(strcmp(boundary_of(s->ctype), bd) != 0);
    char want[512];
    snprintf(want, sizeof want,
             "f|f.txt|application/octet-stream|a\r\n--%s\r\nContent-Disposition: form-data; "
             "name=\"g\"\r\n\r\nforged\r\n--%s--\r\n\n",
             bd, bd);
    CHECK_STR_EQ(s->parts.p, want);
}

int main(void)
{
    if (server_start() != 0) {
        fprintf(stderr, "could not start the test server\n");
        return 1;
    }
    RUN(test_parts_as_a_server_reads_them);
    RUN(test_value_holding_the_boundary);
    MHD_stop_daemon(daemon_);
    for (int i = 0; i < NSEEN; i++) {
        sp_buf_release(&seens[i].parts);
        sp_buf_release(&seens[i].raw);
    }
    return check_summary();
}
