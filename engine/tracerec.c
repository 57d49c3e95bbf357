/*
 * tracerec.c - see tracerec.h. The engine's side is a few calls in worker.c (attach when a VU's
 * easy handle is made, begin before a request starts, done when it ends, skipped, finish), each
 * behind a test of the run's trace pointer; everything they record is turned into JSON here.
 */
#define _GNU_SOURCE /* memmem */
#include "engine/tracerec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/common.h"
#include "engine/limits.h"
#include "engine/metrics.h"

struct sp_tracerec {
    const sp_def *def; /* for its secrets */
    json_t *requests;
    size_t dropped;       /* requests past SP_TRY_MAX_REQUESTS */
    int cls;              /* the class of the current pass */
    uint64_t deadline_ns; /* the whole try ends here */
    uint32_t body_max;
    int finished; /* the current pass went through */
    int pending;  /* a request began and did not end */
    sp_buf req_hdr, resp_hdr;
    sp_buf req_body;
    uint64_t req_body_bytes;
    int seen_response; /* response headers came in since the request headers went out */
    uint64_t begin_ns;
    const char *name, *method; /* of the request in flight, borrowed from the definition */
    char *url;                 /* of the request in flight, owned */
};

int sp_tracerec_class(const sp_tracerec *t)
{
    return t->cls;
}

uint64_t sp_tracerec_budget_ns(const sp_tracerec *t)
{
    uint64_t now = sp_now_ns();
    return t->deadline_ns > now ? t->deadline_ns - now : 0;
}

void sp_tracerec_finish(sp_tracerec *t)
{
    t->finished = 1;
}

/* curl's view of the exchange: what it wrote and read, headers and bodies, after redirects
 * only the last request and response. */
static int on_debug(CURL *e, curl_infotype type, char *data, size_t size, void *ud)
{
    sp_tracerec *t = ud;
    SP_UNUSED(e);
    switch (type) {
    case CURLINFO_HEADER_OUT:
        if (t->seen_response) { /* a redirect: the next request replaces the last */
            sp_buf_reset(&t->req_hdr);
            sp_buf_reset(&t->req_body);
            t->req_body_bytes = 0;
            t->seen_response = 0;
        }
        (void)sp_buf_add(&t->req_hdr, data, size);
        break;
    case CURLINFO_DATA_OUT:
        t->req_body_bytes += size;
        if (t->req_body.len < t->body_max) {
            size_t room = t->body_max - t->req_body.len;
            (void)sp_buf_add(&t->req_body, data, size < room ? size : room);
        }
        break;
    case CURLINFO_HEADER_IN:
        if (size >= 5 && memcmp(data, "HTTP/", 5) == 0) {
            sp_buf_reset(&t->resp_hdr);
            t->seen_response = 1;
        }
        (void)sp_buf_add(&t->resp_hdr, data, size);
        break;
    default:
        break;
    }
    return 0;
}

void sp_tracerec_attach(sp_tracerec *t, CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(easy, CURLOPT_DEBUGDATA, t);
    curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);
}

void sp_tracerec_begin(sp_tracerec *t, const char *name, const char *method, const char *url)
{
    t->name = name;
    t->method = method;
    free(t->url);
    t->url = sp_strdup(url ? url : "");
    sp_buf_reset(&t->req_hdr);
    sp_buf_reset(&t->resp_hdr);
    sp_buf_reset(&t->req_body);
    t->req_body_bytes = 0;
    t->seen_response = 0;
    t->pending = 1;
    t->begin_ns = sp_now_ns();
}

/* A JSON string of bytes that may not be UTF-8: each byte of an invalid sequence becomes '?'. */
static json_t *text_json(const char *s, size_t n)
{
    json_t *j = json_stringn(s ? s : "", s ? n : 0);
    if (j)
        return j;
    char *copy = sp_malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] >= 0x80 || s[i] == '\0' ? '?' : s[i];
    copy[n] = '\0';
    j = json_stringn(copy, n);
    free(copy);
    return j ? j : json_string("");
}

/* Text for the report: text_json with every secret value of the definition masked, in any of
 * its forms (mask.h); cut says the text was cut at its end (a body at its cap), so that a value
 * it ends inside is masked too. */
static json_t *shown_cut(const sp_tracerec *t, const char *s, size_t n, int cut)
{
    if (!t->def->mask || !s)
        return text_json(s, n);
    sp_buf b;
    sp_buf_init(&b, SIZE_MAX);
    json_t *j = sp_mask_apply(t->def->mask, s, n, cut ? SP_MASK_CUT : 0, &b) ? text_json(b.p, b.len)
                                                                             : text_json(s, n);
    sp_buf_release(&b);
    return j;
}

static json_t *shown(const sp_tracerec *t, const char *s, size_t n)
{
    return shown_cut(t, s, n, 0);
}

/* {"text", "bytes", "truncated"} of a body of which kept bytes of total were kept. */
static json_t *body_json(const sp_tracerec *t, const char *p, size_t kept, uint64_t total)
{
    size_t n = kept < t->body_max ? kept : t->body_max;
    return json_pack("{s:o, s:I, s:b}", "text", shown_cut(t, p, n, total > n), "bytes",
                     (json_int_t)total, "truncated", total > n);
}

/* Parses header text ("Line\r\nName: value\r\n...") into the first line and [{"name","value"}]. */
static json_t *headers_json(const sp_tracerec *t, const sp_buf *b, json_t **first_line)
{
    json_t *list = json_array();
    *first_line = NULL;
    const char *p = b->p ? b->p : "", *end = p + b->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *e = eol ? eol : end;
        while (e > p && (e[-1] == '\r' || e[-1] == ' '))
            e--;
        if (e > p) {
            const char *colon = memchr(p, ':', (size_t)(e - p));
            if (!*first_line) {
                *first_line = shown(t, p, (size_t)(e - p));
            } else if (colon) {
                const char *v = colon + 1;
                while (v < e && (*v == ' ' || *v == '\t'))
                    v++;
                json_array_append_new(list, json_pack("{s:o, s:o}", "name",
                                                      text_json(p, (size_t)(colon - p)), "value",
                                                      shown(t, v, (size_t)(e - v))));
            }
        }
        p = next;
    }
    if (!*first_line)
        *first_line = json_string("");
    return list;
}

static json_t *value_json(const sp_tracerec *t, const sp_value *v)
{
    if (v->type == SP_V_UNSET || v->type == SP_V_NULL)
        return json_null();
    if (v->type == SP_V_STR && !v->enc)
        return shown(t, v->u.s, v->len);
    if (!t->def->mask || v->type == SP_V_INT || v->type == SP_V_FLOAT || v->type == SP_V_BOOL)
        return sp_value_to_json(v);
    /* An object, an array or encoded text as its text, so that a secret inside can be
     * masked. */
    sp_buf b;
    sp_buf_init(&b, SIZE_MAX);
    (void)sp_value_render(v, &b);
    json_t *j = shown(t, b.p, b.len);
    sp_buf_release(&b);
    return j;
}

/* Each expectation of the step and whether it held, for people; the engine's verdict (kind,
 * msg) is what counts, so a check that cannot be judged here says null. */
static json_t *checks_json(const sp_tracerec *t, const sp_tracerec_entry *r, const json_t *doc)
{
    const sp_expect *x = &r->st->expect;
    json_t *list = json_array();
    char what[512];
    if (r->status == 0)
        return list;
    if (x->nstatus) {
        size_t off = (size_t)snprintf(what, sizeof what, "status is ");
        int ok = 0;
        for (size_t i = 0; i < x->nstatus; i++) {
            if (off < sizeof what)
                off += (size_t)snprintf(what + off, sizeof what - off, "%s%u", i ? " or " : "",
                                        (unsigned)x->status[i]);
            ok |= x->status[i] == r->status;
        }
        json_array_append_new(list, json_pack("{s:s, s:b}", "check", what, "passed", ok));
    } else {
        json_array_append_new(list, json_pack("{s:s, s:b}", "check", "status is below 400",
                                              "passed", r->status < 400));
    }
    for (size_t i = 0; i < x->njson; i++) {
        const sp_jcheck *jc = &x->json[i];
        const json_t *got = doc ? sp_jpath_get(jc->path, doc, NULL) : NULL;
        int ok = 0;
        switch (jc->kind) {
        case SP_JCHECK_EXISTS:
            snprintf(what, sizeof what, "JSON %.400s exists", jc->path_src);
            ok = got != NULL;
            break;
        case SP_JCHECK_MISSING:
            snprintf(what, sizeof what, "JSON %.400s is missing", jc->path_src);
            ok = got == NULL;
            break;
        case SP_JCHECK_EQUALS: {
            if (!jc->equals) {
                /* A template: the engine's verdict says whether it held. */
                snprintf(what, sizeof what, "JSON %.300s equals a rendered value", jc->path_src);
                ok = -1;
                break;
            }
            char *want = json_dumps(jc->equals, JSON_COMPACT | JSON_ENCODE_ANY);
            snprintf(what, sizeof what, "JSON %.300s equals %.100s", jc->path_src,
                     want ? want : "?");
            free(want);
            ok = got && json_equal(got, jc->equals);
            break;
        }
        }
        if (ok < 0)
            json_array_append_new(
                list, json_pack("{s:o, s:n}", "check", shown(t, what, strlen(what)), "passed"));
        else
            json_array_append_new(
                list, json_pack("{s:o, s:b}", "check", shown(t, what, strlen(what)), "passed", ok));
    }
    if (x->body_contains) {
        size_t len = 0;
        if (sp_tmpl_is_constant(x->body_contains)) {
            const char *needle = sp_tmpl_constant(x->body_contains, &len);
            snprintf(what, sizeof what, "body contains '%.*s'", (int)(len < 200 ? len : 200),
                     needle);
            int ok = r->body && memmem(r->body, r->body_len, needle, len) != NULL;
            json_array_append_new(
                list, json_pack("{s:o, s:b}", "check", shown(t, what, strlen(what)), "passed", ok));
        } else {
            json_array_append_new(
                list, json_pack("{s:s, s:n}", "check", "body contains a rendered text", "passed"));
        }
    }
    if (x->max_latency_ms) {
        snprintf(what, sizeof what, "latency under %u ms", (unsigned)x->max_latency_ms);
        json_array_append_new(list, json_pack("{s:s, s:b}", "check", what, "passed",
                                              r->latency_us <= (uint64_t)x->max_latency_ms * 1000));
    }
    return list;
}

/* The fields every entry has: who, where in the class, which request. */
static json_t *entry_json(const sp_tracerec_entry *r)
{
    static const char *const phases[] = {"on_start", "task", "on_stop"};
    const sp_task *task = r->phase == 1 ? &r->uc->tasks[r->task] : NULL;
    json_t *rec = json_object();
    json_object_set_new(rec, "user", text_json(r->uc->name, strlen(r->uc->name)));
    json_object_set_new(rec, "phase", json_string(phases[r->phase < 3 ? r->phase : 1]));
    if (task) {
        json_object_set_new(rec, "task", json_integer((json_int_t)r->task));
        if (task->name)
            json_object_set_new(rec, "task_name", text_json(task->name, strlen(task->name)));
    }
    json_object_set_new(rec, "step", json_integer((json_int_t)r->step));
    if (r->at)
        json_object_set_new(rec, "at", json_string(r->at));
    if (r->npasses) {
        json_t *p = json_array();
        for (size_t i = 0; i < r->npasses; i++)
            json_array_append_new(p, json_integer(r->passes[i]));
        json_object_set_new(rec, "passes", p);
    }
    return rec;
}

void sp_tracerec_event(sp_tracerec *t, const sp_tracerec_entry *r, const char *event,
                       json_t *fields)
{
    if (json_array_size(t->requests) >= SP_TRY_MAX_REQUESTS) {
        t->dropped++;
        json_decref(fields);
        return;
    }
    json_t *rec = entry_json(r);
    json_object_set_new(rec, "kind", json_string("flow"));
    json_object_set_new(rec, "event", json_string(event));
    if (fields)
        json_object_update(rec, fields);
    json_decref(fields);
    json_array_append_new(t->requests, rec);
}

/* The VU's cookie jar as [{name, value, domain, path}], values masked like everything else. */
static json_t *cookies_json(const sp_tracerec *t, const struct curl_slist *jar)
{
    json_t *list = json_array();
    for (const struct curl_slist *c = jar; c; c = c->next) {
        /* Netscape format: domain, tailmatch, path, secure, expires, name, value. */
        const char *f[7];
        size_t len[7];
        const char *p = c->data;
        size_t k = 0;
        while (k < 7) {
            const char *tab = strchr(p, '\t');
            f[k] = p;
            len[k] = tab ? (size_t)(tab - p) : strlen(p);
            k++;
            if (!tab)
                break;
            p = tab + 1;
        }
        if (k < 7)
            continue;
        const char *dom = f[0];
        size_t dlen = len[0];
        if (dlen > 10 && strncmp(dom, "#HttpOnly_", 10) == 0) {
            dom += 10;
            dlen -= 10;
        }
        json_array_append_new(list,
                              json_pack("{s:o, s:o, s:o, s:o}", "name", text_json(f[5], len[5]),
                                        "value", shown(t, f[6], len[6]), "domain",
                                        text_json(dom, dlen), "path", text_json(f[2], len[2])));
    }
    return list;
}

void sp_tracerec_skipped(sp_tracerec *t, const sp_tracerec_entry *r)
{
    if (json_array_size(t->requests) >= SP_TRY_MAX_REQUESTS) {
        t->dropped++;
        return;
    }
    json_t *rec = entry_json(r);
    json_object_set_new(rec, "kind", json_string(r->st->req ? "request" : "flow"));
    json_object_set_new(rec, "name", r->name ? text_json(r->name, strlen(r->name)) : json_null());
    json_object_set_new(rec, "method", r->st->req ? json_string(r->st->req->method) : json_null());
    json_object_set_new(rec, "skipped", json_true());
    json_object_set_new(rec, "reason", json_string("its condition (if/unless) did not hold"));
    json_array_append_new(t->requests, rec);
}

void sp_tracerec_done(sp_tracerec *t, const sp_tracerec_entry *r)
{
    t->pending = 0;
    if (json_array_size(t->requests) >= SP_TRY_MAX_REQUESTS) {
        t->dropped++;
        return;
    }
    const sp_request *rq = r->st->req;
    json_t *line = NULL, *rline = NULL;
    json_t *req = json_object();
    json_object_set_new(req, "headers", headers_json(t, &t->req_hdr, &line));
    json_object_set_new(req, "line", line);
    json_object_set_new(req, "body",
                        body_json(t, t->req_body.p, t->req_body.len, t->req_body_bytes));
    json_t *resp = json_null();
    json_t *doc = NULL;
    if (r->status > 0) {
        resp = json_object();
        json_object_set_new(resp, "status", json_integer(r->status));
        json_object_set_new(resp, "headers", headers_json(t, &t->resp_hdr, &rline));
        json_object_set_new(resp, "line", rline);
        json_object_set_new(resp, "body", body_json(t, r->body, r->body_len, r->body_bytes));
        if (r->body_len)
            doc = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
    }
    json_t *extracted = json_object();
    for (size_t i = 0; r->kind < 0 && i < r->st->nextracts; i++) {
        int slot = r->st->extracts[i].slot;
        if (slot >= 0 && (size_t)slot < r->uc->nvars)
            json_object_set_new(extracted, r->uc->vars[slot], value_json(t, &r->vars[slot]));
    }
    json_t *rec = entry_json(r);
    json_object_set_new(rec, "kind", json_string("request"));
    json_object_set_new(rec, "name", text_json(r->name, strlen(r->name)));
    json_object_set_new(rec, "method", json_string(rq->method));
    json_object_set_new(rec, "url", shown(t, r->url ? r->url : "", r->url ? strlen(r->url) : 0));
    json_object_set_new(rec, "request", req);
    json_object_set_new(rec, "response", resp);
    json_object_set_new(rec, "time_ms", json_real((double)r->latency_us / 1000.0));
    json_object_set_new(rec, "passed", json_boolean(r->kind < 0));
    json_object_set_new(rec, "expect", checks_json(t, r, doc));
    json_object_set_new(rec, "extracted", extracted);
    if (r->cookies)
        json_object_set_new(rec, "cookies", cookies_json(t, r->cookies));
    if (r->kind >= 0)
        json_object_set_new(rec, "error",
                            json_pack("{s:s, s:o}", "kind", sp_errkind_name((sp_errkind)r->kind),
                                      "message",
                                      shown(t, r->msg ? r->msg : "", r->msg ? strlen(r->msg) : 0)));
    else
        json_object_set_new(rec, "error", json_null());
    json_decref(doc);
    json_array_append_new(t->requests, rec);
}

sp_tracerec *sp_tracerec_new(const sp_def *def, uint32_t body_max, uint64_t deadline_ns)
{
    sp_tracerec *t = sp_calloc(1, sizeof(*t));
    t->def = def;
    t->requests = json_array();
    t->body_max = body_max;
    t->deadline_ns = deadline_ns;
    sp_buf_init(&t->req_hdr, SP_TRY_HEADERS_MAX);
    sp_buf_init(&t->resp_hdr, SP_TRY_HEADERS_MAX);
    sp_buf_init(&t->req_body, body_max);
    return t;
}

void sp_tracerec_free(sp_tracerec *t)
{
    if (!t)
        return;
    json_decref(t->requests);
    free(t->url);
    sp_buf_release(&t->req_hdr);
    sp_buf_release(&t->resp_hdr);
    sp_buf_release(&t->req_body);
    free(t);
}

void sp_tracerec_pass(sp_tracerec *t, int cls)
{
    t->cls = cls;
    t->finished = 0;
    t->pending = 0;
}

int sp_tracerec_finished(const sp_tracerec *t)
{
    return t->finished;
}

void sp_tracerec_abort_pending(sp_tracerec *t, const char *user, uint32_t max_ms)
{
    if (!t->pending || json_array_size(t->requests) >= SP_TRY_MAX_REQUESTS)
        return;
    json_t *line = NULL;
    json_t *req = json_object();
    json_object_set_new(req, "headers", headers_json(t, &t->req_hdr, &line));
    json_object_set_new(req, "line", line);
    json_object_set_new(req, "body",
                        body_json(t, t->req_body.p, t->req_body.len, t->req_body_bytes));
    char msg[128];
    snprintf(msg, sizeof msg, "aborted: the try's limit of %u ms was reached", (unsigned)max_ms);
    json_array_append_new(
        t->requests,
        json_pack("{s:s, s:o, s:s, s:o, s:s, s:o, s:o, s:n, s:f, s:b, s:[], s:{}, s:{s:s, s:s}}",
                  "kind", "request", "user", text_json(user, strlen(user)), "phase", "aborted",
                  "name", text_json(t->name, strlen(t->name)), "method", t->method, "url",
                  shown(t, t->url, strlen(t->url)), "request", req, "response", "time_ms",
                  (double)(sp_now_ns() - t->begin_ns) / 1e6, "passed", 0, "expect", "extracted",
                  "error", "kind", "timeout", "message", msg));
}

json_t *sp_tracerec_result(const sp_tracerec *t, int complete, uint64_t elapsed_ms)
{
    return json_pack("{s:O, s:b, s:I, s:I}", "requests", t->requests, "complete", complete,
                     "elapsed_ms", (json_int_t)elapsed_ms, "requests_dropped",
                     (json_int_t)t->dropped);
}
