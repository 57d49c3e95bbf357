/*
 * test_definition.c - the definition loader: the examples, every error path (with its path and
 * reason), overrides, defaults and shorthands.
 *
 * Documents are written with single quotes for readability; q() turns them into JSON.
 */
#include "check.h"

#include <stdlib.h>

#include "engine/definition.h"

static char *q(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static int load_q(const char *src, const sp_overrides *ov, sp_def **out, sp_errlist *el)
{
    char *doc = q(src);
    int rc = sp_def_load(doc, strlen(doc), ov, NULL, out, el);
    free(doc);
    return rc;
}

static void dump(const sp_errlist *el)
{
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    sp_errlist_format(el, &b);
    fprintf(stderr, "    errors:\n%s", b.p);
    sp_buf_release(&b);
}

/* True when some error has exactly this path and a message containing phrase. */
static int has_err(const sp_errlist *el, const char *path, const char *phrase)
{
    for (size_t i = 0; i < el->n; i++)
        if (strcmp(el->v[i].path, path) == 0 && strstr(el->v[i].msg, phrase))
            return 1;
    dump(el);
    fprintf(stderr, "    wanted: %s: ...%s...\n", path, phrase);
    return 0;
}

/* Loads src, expects failure with an error at path containing phrase. */
#define EXPECT_ERR(src, path, phrase)                                                              \
    do {                                                                                           \
        sp_errlist el_;                                                                            \
        sp_errlist_init(&el_);                                                                     \
        sp_def *d_ = (sp_def *)1;                                                                  \
        int rc_ = load_q(src, NULL, &d_, &el_);                                                    \
        int ok_ = rc_ == SP_EINVAL && d_ == NULL && has_err(&el_, path, phrase);                   \
        sp_errlist_release(&el_);                                                                  \
        if (!ok_)                                                                                  \
            CHECK_FAIL_("expected error at '%s' with '%s' (rc %d)", path, phrase, rc_);            \
    } while (0)

#define HEAD "'name':'t','base_url':'http://h:1',"
#define LOAD "'load':{'users':1,'duration':'1s'}"
/* A valid document with one task whose single step is STEP. */
#define WITH_STEP(step) "{" HEAD "'users':[{'tasks':[{'steps':[" step "]}]}]," LOAD "}"
#define WITH_REQ(req) WITH_STEP("{'request':" req "}")
#define WITH_LOAD(load) "{" HEAD "'users':[{'tasks':[{'request':{'url':'/x'}}]}],'load':" load "}"

static const char *const MINIMAL =
    "{" HEAD "'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}";

static sp_def *must_load_q(const char *src, const sp_overrides *ov)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    if (load_q(src, ov, &d, &el) != 0)
        dump(&el);
    sp_errlist_release(&el);
    return d;
}

static sp_def *must_load_file(const char *path)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    sp_overrides ov = SP_OVERRIDES_NONE;
    if (sp_def_load_file(path, &ov, &d, &el) != 0)
        dump(&el);
    sp_errlist_release(&el);
    return d;
}

static int name_id(const sp_def *d, const char *name)
{
    for (size_t i = 0; i < d->nnames; i++)
        if (strcmp(d->names[i], name) == 0)
            return (int)i;
    return -1;
}

/* Renders t with an empty VU (no variables set) into a static buffer. */
static const char *render(const sp_tmpl *t)
{
    static char out[4096];
    sp_rng rng;
    sp_rng_seed(&rng, 1);
    sp_value vars[8];
    memset(vars, 0, sizeof vars);
    sp_vuctx ctx = {vars, 8, NULL, &rng, 1, 0, 200, 1700000000000, NULL};
    sp_buf b;
    sp_buf_init(&b, sizeof out - 1);
    if (sp_tmpl_render(t, &ctx, &b) != 0)
        return "RENDER FAILED";
    snprintf(out, sizeof out, "%s", b.p);
    sp_buf_release(&b);
    return out;
}

/* ---- the examples ---- */

static void test_example_browse(void)
{
    sp_def *d = must_load_file("../../examples/browse.json");
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->nusers, 1);
    sp_userclass *u = &d->users[0];
    CHECK_UINT_EQ(u->ntasks, 4);
    CHECK_UINT_EQ(u->tasks[0].weight, 4);
    CHECK_UINT_EQ(u->tasks[1].weight, 2);
    CHECK_UINT_EQ(u->tasks[2].weight, 1);
    CHECK_UINT_EQ(u->tasks[3].weight, 2);
    CHECK_UINT_EQ(u->total_weight, 9);
    CHECK_INT_EQ(u->think.kind, SP_THINK_BETWEEN);
    CHECK_UINT_EQ(u->think.min_ms, 1000);
    CHECK_UINT_EQ(u->think.max_ms, 3000);
    CHECK_UINT_EQ(d->nheaders, 2);
    CHECK(name_id(d, "GET /products") >= 0);
    CHECK(name_id(d, "GET /products/:id") >= 0);
    CHECK(name_id(d, "GET /categories") >= 0);
    CHECK(name_id(d, "GET /search") >= 0);
    CHECK_UINT_EQ(d->nnames, 4);
    CHECK_INT_EQ(u->tasks[3].steps[0].req->name_id, name_id(d, "GET /search"));
    CHECK_STR_EQ(render(u->tasks[0].steps[0].req->url),
                 "http://127.0.0.1:8090/api/v1/products?page=1&limit=20&sort=popularity_desc");
    const char *s = render(u->tasks[3].steps[0].req->url);
    CHECK_STR_CONTAINS(s, "http://127.0.0.1:8090/api/v1/search?q=");
    CHECK_STR_CONTAINS(s, "&limit=10");
    CHECK(strchr(s, ' ') == NULL); /* "wireless mouse" is encoded */
    CHECK_UINT_EQ(d->nthresholds, 3);
    CHECK_INT_EQ(d->thresholds[2].name_id, name_id(d, "GET /search"));
    CHECK_INT_EQ(d->load.model, SP_LOAD_CLOSED);
    CHECK_UINT_EQ(d->load.nstages, 2);
    CHECK_UINT_EQ(d->load.total_ms, 30000);
    sp_def_free(d);
}

static void test_example_shopper(void)
{
    sp_def *d = must_load_file("../../examples/shopper.json");
    CHECK(d != NULL);
    sp_userclass *u = &d->users[0];
    CHECK_UINT_EQ(u->non_start, 1);
    CHECK_UINT_EQ(u->ntasks, 4);
    uint32_t w[] = {2, 3, 4, 1};
    for (size_t i = 0; i < 4; i++)
        CHECK_UINT_EQ(u->tasks[i].weight, w[i]);
    sp_step *login = &u->on_start[0];
    CHECK_UINT_EQ(login->nlets, 1);
    CHECK_UINT_EQ(login->nextracts, 1);
    CHECK_UINT_EQ(login->nset_headers, 1);
    CHECK_STR_EQ(login->set_headers[0].name, "Authorization");
    CHECK_INT_EQ(login->req->body_kind, SP_BODY_JSON);
    CHECK_STR_EQ(login->req->content_type, "application/json");
    CHECK_STR_EQ(login->req->method, "POST");
    /* cred and token are assigned in on_start, so they live for the VU's life. */
    CHECK_UINT_EQ(u->nvars, 2);
    CHECK_UINT_EQ(u->nstart_vars, 2);
    sp_step *order = &u->tasks[3].steps[0];
    CHECK_UINT_EQ(order->expect.nstatus, 2);
    CHECK_UINT_EQ(order->expect.status[0], 200);
    CHECK_UINT_EQ(order->expect.status[1], 201);
    CHECK(order->expect.message != NULL);
    CHECK_STR_EQ(render(order->expect.message), "Unexpected order creation failure: 200");
    CHECK_STR_EQ(render(order->req->body), "{\"shipping_address_id\":\"addr_7845\","
                                           "\"payment_method_id\":\"pm_card_visa\","
                                           "\"notes\":\"Leave package at front desk\"}");
    /* quantity is a number in the body, not a string */
    const char *add = render(u->tasks[2].steps[0].req->body);
    CHECK_STR_CONTAINS(add, "\"quantity\":");
    CHECK(strstr(add, "\"quantity\":\"") == NULL);
    CHECK(name_id(d, "POST /auth/login") >= 0);
    CHECK(name_id(d, "POST /orders") >= 0);
    CHECK_UINT_EQ(d->nthresholds, 3);
    sp_def_free(d);
}

static void test_example_reporting(void)
{
    sp_def *d = must_load_file("../../examples/reporting.json");
    CHECK(d != NULL);
    sp_userclass *u = &d->users[0];
    CHECK_UINT_EQ(u->ntasks, 3);
    CHECK_UINT_EQ(u->tasks[0].weight, 3);
    CHECK_UINT_EQ(u->tasks[1].weight, 2);
    CHECK_UINT_EQ(u->tasks[2].weight, 1);
    CHECK_UINT_EQ(u->think.min_ms, 2000);
    CHECK_UINT_EQ(u->think.max_ms, 5000);
    sp_step *refresh = &u->tasks[2].steps[0];
    CHECK_UINT_EQ(refresh->expect.nstatus, 1);
    CHECK_UINT_EQ(refresh->expect.status[0], 200);
    CHECK_INT_EQ(refresh->extracts[0].slot, u->on_start[0].extracts[0].slot);
    CHECK_UINT_EQ(u->nvars, 1);
    CHECK_UINT_EQ(u->nstart_vars, 1);
    const char *url = render(u->tasks[0].steps[0].req->url);
    CHECK_STR_CONTAINS(url, "/api/v1/reports/orders?start_date=2023-10-15&end_date=2023-11-14&"
                            "status=completed&page=");
    CHECK_STR_CONTAINS(url, "&page_size=50");
    CHECK(name_id(d, "GET /reports/customers") >= 0);
    sp_def_free(d);
}

static void test_example_upload(void)
{
    sp_def *d = must_load_file("../../examples/upload.json");
    CHECK(d != NULL);
    sp_userclass *u = &d->users[0];
    CHECK_UINT_EQ(u->ntasks, 2);
    CHECK_UINT_EQ(u->tasks[0].weight, 2);
    CHECK_UINT_EQ(u->tasks[0].nsteps, 2);
    sp_request *up = u->tasks[0].steps[0].req;
    CHECK_INT_EQ(up->body_kind, SP_BODY_MULTIPART);
    CHECK(up->content_type == NULL);
    CHECK_UINT_EQ(up->nparts, 3);
    CHECK_STR_EQ(up->parts[0].filename, "customer_import.csv");
    CHECK_STR_EQ(up->parts[0].content_type, "text/csv");
    CHECK_STR_CONTAINS(render(up->parts[0].value), "carol@example.com,Carol,Kim,enterprise\n");
    CHECK(up->parts[1].filename == NULL);
    CHECK_STR_EQ(render(up->parts[2].value), "true");
    CHECK_UINT_EQ(u->tasks[0].steps[0].expect.nstatus, 3);
    sp_step *follow = &u->tasks[0].steps[1];
    CHECK_INT_EQ(follow->cond.kind, SP_COND_VAR_SET);
    CHECK_INT_EQ(follow->cond.negate, 0);
    /* import_id is assigned only by a task, so it is unset when each iteration starts */
    CHECK_UINT_EQ(u->nvars, 2);
    CHECK_UINT_EQ(u->nstart_vars, 1);
    CHECK_STR_EQ(u->vars[1], "import_id");
    CHECK_INT_EQ(follow->cond.slot, 1);
    CHECK_INT_EQ(follow->req->name_id, name_id(d, "GET /imports/:id"));
    CHECK(name_id(d, "GET /imports") >= 0);
    sp_def_free(d);
}

/* The sketch in DESIGN.md, verbatim: the names it uses are the format's. */
static void test_design_sketch(void)
{
    sp_def *d = must_load_file("engine/defs/design_sketch.json");
    CHECK(d != NULL);
    sp_userclass *u = &d->users[0];
    CHECK_STR_EQ(u->name, "shopper");
    CHECK_UINT_EQ(u->ntasks, 2);
    CHECK_UINT_EQ(u->total_weight, 5);
    CHECK_UINT_EQ(u->on_start[0].nlets, 1);
    CHECK_UINT_EQ(u->tasks[1].steps[0].expect.nstatus, 2);
    CHECK_UINT_EQ(d->nthresholds, 3);
    CHECK_INT_EQ(d->thresholds[2].name_id, name_id(d, "POST /orders"));
    CHECK_UINT_EQ(d->load.total_ms, 150000);
    sp_def_free(d);
}

/* ---- defaults and shorthands ---- */

static void test_defaults(void)
{
    sp_def *d = must_load_q(MINIMAL, NULL);
    CHECK(d != NULL);
    CHECK_STR_EQ(d->users[0].name, "user1");
    CHECK_UINT_EQ(d->users[0].weight, 1);
    CHECK_INT_EQ(d->users[0].think.kind, SP_THINK_NONE);
    sp_request *r = d->users[0].tasks[0].steps[0].req;
    CHECK_STR_EQ(r->method, "GET");
    CHECK_STR_EQ(d->names[r->name_id], "GET /x");
    CHECK_INT_EQ(r->body_kind, SP_BODY_NONE);
    CHECK(r->content_type == NULL);
    CHECK_UINT_EQ(r->timeout_ms, SP_REQ_DEFAULT_TIMEOUT_MS);
    CHECK_UINT_EQ(d->opts.timeout_ms, SP_REQ_DEFAULT_TIMEOUT_MS);
    CHECK_UINT_EQ(d->opts.connect_timeout_ms, SP_REQ_CONNECT_TIMEOUT_MS);
    CHECK_UINT_EQ(d->opts.max_response_bytes, SP_RESP_KEEP_MAX);
    CHECK_UINT_EQ(d->opts.graceful_stop_ms, 10000);
    CHECK_INT_EQ(d->opts.follow_redirects, 1);
    CHECK_INT_EQ(d->opts.insecure, 0);
    CHECK_INT_EQ(d->opts.http_version, SP_HTTP_1_1);
    /* users + duration shorthand: jump to 1 user, hold 1 s */
    CHECK_UINT_EQ(d->load.nstages, 2);
    CHECK_UINT_EQ(d->load.stages[0].duration_ms, 0);
    CHECK_NEAR(d->load.stages[0].target, 1, 0);
    CHECK_UINT_EQ(d->load.stages[1].duration_ms, 1000);
    CHECK_UINT_EQ(d->load.total_ms, 1000);
    sp_def_free(d);
}

static void test_request_forms(void)
{
    sp_def *d = must_load_q(
        "{'name':'t','base_url':'https://h:1/api/','options':{'timeout':'5s','insecure':true,"
        "'follow_redirects':false,'max_response_bytes':1000,'graceful_stop':0},"
        "'users':[{'name':'u','weight':3,'think':{'pacing':'5s'},'tasks':["
        "{'weight':2,'request':{'method':'post','url':'v1/a?x=1','query':{'b c':'d e "
        "{{vu}}','s':'{{\\\"}}\\\"}}'},"
        "'form':{'k 1':'v&1','n':2}}},"
        "{'request':{'method':'PUT','url':'http://other:2/p?z','body':'raw','timeout':700,"
        "'headers':{'content-type':'text/csv'}}},"
        "{'request':{'url':'/j','json':{'a':[1,true,null,{'b':'x\\\"y'}],'n':1.5}}}]}]," LOAD "}",
        NULL);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->opts.timeout_ms, 5000);
    CHECK_INT_EQ(d->opts.insecure, 1);
    CHECK_INT_EQ(d->opts.follow_redirects, 0);
    CHECK_UINT_EQ(d->opts.max_response_bytes, 1000);
    CHECK_UINT_EQ(d->opts.graceful_stop_ms, 0);
    CHECK_STR_EQ(d->base_url, "https://h:1/api");
    sp_userclass *u = &d->users[0];
    CHECK_INT_EQ(u->think.kind, SP_THINK_PACING);
    CHECK_UINT_EQ(u->think.min_ms, 5000);
    CHECK_UINT_EQ(u->total_weight, 4);
    sp_request *a = u->tasks[0].steps[0].req;
    CHECK_STR_EQ(a->method, "POST");
    CHECK_STR_EQ(render(a->url), "https://h:1/api/v1/a?x=1&b%20c=d%20e%201&s=%7D%7D");
    CHECK_STR_EQ(d->names[a->name_id], "POST /v1/a");
    CHECK_INT_EQ(a->body_kind, SP_BODY_FORM);
    CHECK_STR_EQ(render(a->body), "k%201=v%261&n=2");
    CHECK_STR_EQ(a->content_type, "application/x-www-form-urlencoded");
    CHECK_UINT_EQ(a->timeout_ms, 5000);
    sp_request *b = u->tasks[1].steps[0].req;
    CHECK_STR_EQ(render(b->url), "http://other:2/p?z");
    CHECK_STR_EQ(d->names[b->name_id], "PUT /p");
    CHECK_INT_EQ(b->body_kind, SP_BODY_RAW);
    CHECK(b->content_type == NULL); /* the request's own header sets it */
    CHECK_UINT_EQ(b->timeout_ms, 700);
    sp_request *j = u->tasks[2].steps[0].req;
    CHECK_STR_EQ(render(j->body), "{\"a\":[1,true,null,{\"b\":\"x\\\"y\"}],\"n\":1.5}");
    sp_def_free(d);
}

/* Query values: literal text is encoded at load, holes at render; a "}}" inside a string
 * literal of either quote does not end the hole. */
static void test_query_literals(void)
{
    const char *src =
        "{\"name\":\"t\",\"base_url\":\"http://h\",\"users\":[{\"tasks\":[{\"request\":"
        "{\"url\":\"/q\",\"query\":{\"a\":\"{{'}}'}} x\",\"b\":\"{{\\\"}}\\\"}}%\"}}}]}],"
        "\"load\":{\"users\":1,\"duration\":\"1s\"}}";
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    int rc = sp_def_load(src, strlen(src), NULL, NULL, &d, &el);
    if (rc)
        dump(&el);
    sp_errlist_release(&el);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_EQ(render(d->users[0].tasks[0].steps[0].req->url),
                 "http://h/q?a=%7D%7D%20x&b=%7D%7D%25");
    sp_def_free(d);
}

static void test_think_spellings(void)
{
    static const char *const forms[] = {"{'constant_ms':250}", "{'constant':'250ms'}",
                                        "{'between_ms':[250,250]}", "{'between':['250ms',250]}",
                                        "{'pacing_ms':250}"};
    for (size_t i = 0; i < SP_ARRAY_LEN(forms); i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "{" HEAD "'users':[{'think':%s,'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
                 forms[i]);
        sp_def *d = must_load_q(src, NULL);
        CHECK(d != NULL);
        CHECK_UINT_EQ(d->users[0].think.min_ms, 250);
        CHECK_UINT_EQ(d->users[0].think.max_ms, 250);
        sp_def_free(d);
    }
    EXPECT_ERR(
        "{" HEAD
        "'users':[{'think':{'between':['3s','1s']},'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
        "users[0].think.between", "minimum is larger");
    EXPECT_ERR("{" HEAD
               "'users':[{'think':{'constant_ms':'1s'},'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               "}",
               "users[0].think.constant_ms", "expected a number of milliseconds");
    EXPECT_ERR("{" HEAD "'users':[{'think':{},'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "users[0].think", "exactly one of");
}

static void test_steps_and_conditions(void)
{
    sp_def *d = must_load_q(
        "{" HEAD "'users':[{'on_start':[{'let':{'a':'1'},'set_headers':{'X-A':'{{a}}'}}],"
        "'tasks':[{'name':'t1','steps':["
        "{'request':{'url':'/x'},'extract':{'b':{'header':'Location'},'c':{'regex':'id=([0-9]+)'},"
        "'e':{'regex':'x','group':0}},"
        "'expect':{'json':[{'path':'a.b','exists':false},{'path':'n','equals':{'k':[1]}}],"
        "'body_contains':'ok','max_latency':'250ms'}},"
        "{'unless':{'var':'b','equals':'x'},'request':{'url':'/y'}},"
        "{'if':{'status':[200,204]},'request':{'url':'/z'}}]}]}]," LOAD "}",
        NULL);
    CHECK(d != NULL);
    sp_userclass *u = &d->users[0];
    CHECK_UINT_EQ(u->nstart_vars, 1);
    CHECK_UINT_EQ(u->nvars, 4);
    CHECK(u->on_start[0].req == NULL);
    CHECK_STR_EQ(u->tasks[0].name, "t1");
    sp_step *s0 = &u->tasks[0].steps[0];
    CHECK_INT_EQ(s0->extracts[0].kind, SP_EXTRACT_HEADER);
    CHECK_STR_EQ(s0->extracts[0].header, "Location");
    CHECK_INT_EQ(s0->extracts[1].kind, SP_EXTRACT_REGEX);
    CHECK_INT_EQ(s0->extracts[1].group, 1);
    CHECK_INT_EQ(s0->extracts[2].group, 0);
    CHECK_INT_EQ(s0->expect.json[0].kind, SP_JCHECK_MISSING);
    CHECK_INT_EQ(s0->expect.json[1].kind, SP_JCHECK_EQUALS);
    CHECK(json_is_object(s0->expect.json[1].equals));
    CHECK_UINT_EQ(s0->expect.max_latency_ms, 250);
    CHECK_INT_EQ(u->tasks[0].steps[1].cond.kind, SP_COND_VAR_EQUALS);
    CHECK_INT_EQ(u->tasks[0].steps[1].cond.negate, 1);
    CHECK_STR_EQ(u->tasks[0].steps[1].cond.equals, "x");
    CHECK_INT_EQ(u->tasks[0].steps[2].cond.kind, SP_COND_STATUS);
    CHECK_UINT_EQ(u->tasks[0].steps[2].cond.nstatus, 2);
    sp_def_free(d);
}

static void test_open_model(void)
{
    sp_def *d = must_load_q(
        WITH_LOAD("{'model':'open','max_vus':50,'stages':[{'duration':'1m','rate':20.5},"
                  "{'duration':0,'rate':0},{'duration':1000,'rate':1}]}"),
        NULL);
    CHECK(d != NULL);
    CHECK_INT_EQ(d->load.model, SP_LOAD_OPEN);
    CHECK_UINT_EQ(d->load.max_vus, 50);
    CHECK_UINT_EQ(d->load.nstages, 3);
    CHECK_NEAR(d->load.stages[0].target, 20.5, 1e-9);
    CHECK_UINT_EQ(d->load.total_ms, 61000);
    sp_def_free(d);
}

/* ---- errors ---- */

static void test_err_malformed_json(void)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    const char *src = "{\n  \"name\": \"t\",\n  \"base_url\": ,\n}";
    CHECK_INT_EQ(sp_def_load(src, strlen(src), NULL, NULL, &d, &el), SP_EINVAL);
    CHECK(d == NULL);
    CHECK_UINT_EQ(el.n, 1);
    CHECK_STR_EQ(el.v[0].path, "");
    CHECK_STR_CONTAINS(el.v[0].msg, "invalid JSON at line 3, column");
    sp_errlist_release(&el);
    EXPECT_ERR("[1,2]", "", "expected an object");
    EXPECT_ERR("{'name':'a','name':'b'}", "", "duplicate");
}

static void test_err_too_large(void)
{
    size_t n = SP_DEF_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    int rc = sp_def_load(big, n, NULL, NULL, &d, &el);
    free(big);
    CHECK_INT_EQ(rc, SP_ELIMIT);
    CHECK(d == NULL);
    CHECK_UINT_EQ(el.n, 1);
    CHECK_STR_CONTAINS(el.v[0].msg, "4194305 bytes");
    CHECK_STR_CONTAINS(el.v[0].msg, "limit");
    sp_errlist_release(&el);
}

static void test_err_too_deep(void)
{
    char src[512];
    size_t n = (size_t)snprintf(src, sizeof src, "{'name':'t','data':{'x':");
    for (int i = 0; i < 40; i++)
        src[n++] = '[';
    for (int i = 0; i < 40; i++)
        src[n++] = ']';
    snprintf(src + n, sizeof src - n, "}}");
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    CHECK_INT_EQ(load_q(src, NULL, &d, &el), SP_EINVAL);
    CHECK_UINT_EQ(el.n, 1);
    CHECK_STR_CONTAINS(el.v[0].msg, "deeper than 32");
    /* document, data and x's array are levels 1-3, so the 33rd level is x's 30th nesting */
    CHECK_STR_CONTAINS(el.v[0].path, "data.x[0][0]");
    sp_errlist_release(&el);
}

static void test_err_unknown_field(void)
{
    EXPECT_ERR(WITH_REQ("{'mehtod':'GET','url':'/x'}"), "users[0].tasks[0].steps[0].request.mehtod",
               "unknown field 'mehtod' (did you mean 'method'?)");
    EXPECT_ERR("{" HEAD "'userz':[]," LOAD "}", "userz", "did you mean 'users'?");
    EXPECT_ERR(WITH_REQ("{'url':'/x','zzzzzzzz':1}"), "users[0].tasks[0].steps[0].request.zzzzzzzz",
               "unknown field 'zzzzzzzz'");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[{'weight':2,'reqest':{'url':'/x'}}]}]," LOAD "}",
               "users[0].tasks[0].reqest", "did you mean 'request'?");
}

static void test_err_wrong_type(void)
{
    EXPECT_ERR(
        "{'name':5,'base_url':'http://h','users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
        "name", "expected a string, got a number");
    EXPECT_ERR(WITH_REQ("{'url':'/x','headers':[1]}"), "users[0].tasks[0].steps[0].request.headers",
               "got an array");
    EXPECT_ERR("{" HEAD "'users':[{'weight':'2','tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "users[0].weight", "expected a whole number, got a string");
    EXPECT_ERR("{" HEAD
               "'options':{'insecure':'yes'},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               "}",
               "options.insecure", "expected a boolean");
    EXPECT_ERR("{" HEAD "'users':[{'weight':0,'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "users[0].weight", "between 1 and");
}

/* options.http_version: the three spellings, and anything else refused with the allowed ones. */
static void test_http_version(void)
{
    static const struct {
        const char *v;
        sp_http_version want;
    } ok[] = {{"'1.1'", SP_HTTP_1_1}, {"'2'", SP_HTTP_2}, {"'auto'", SP_HTTP_AUTO}};
    for (size_t i = 0; i < SP_ARRAY_LEN(ok); i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "{" HEAD "'options':{'http_version':%s},'users':[{'tasks':[{'request':{'url':'/x'"
                 "}}]}]," LOAD "}",
                 ok[i].v);
        sp_def *d = must_load_q(src, NULL);
        CHECK(d != NULL);
        if (d)
            CHECK_INT_EQ(d->opts.http_version, ok[i].want);
        sp_def_free(d);
    }
    static const char *const bad[] = {"'2.0'", "'h2'", "'HTTP/2'", "'1.0'", "'AUTO'", "''",
                                      "2",     "1.1",  "null",     "true",  "['2']"};
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "{" HEAD "'options':{'http_version':%s},'users':[{'tasks':[{'request':{'url':'/x'"
                 "}}]}]," LOAD "}",
                 bad[i]);
        EXPECT_ERR(src, "options.http_version", "expected \"1.1\", \"2\" or \"auto\"");
    }
}

static void test_err_missing_required(void)
{
    EXPECT_ERR("{'base_url':'http://h','users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "", "missing required field 'name'");
    EXPECT_ERR("{'name':'t','users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}", "",
               "missing required field 'base_url'");
    EXPECT_ERR("{" HEAD LOAD "}", "", "missing required field 'users'");
    EXPECT_ERR("{" HEAD "'users':[]," LOAD "}", "users", "between 1 and 64");
    EXPECT_ERR("{" HEAD "'users':[{'name':'u'}]," LOAD "}", "users[0]",
               "missing required field 'tasks'");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[]}]," LOAD "}", "users[0].tasks", "between 1 and");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[{'request':{'url':'/x'}}]}]}", "",
               "missing required field 'load'");
    EXPECT_ERR(WITH_REQ("{'method':'GET'}"), "users[0].tasks[0].steps[0].request",
               "missing required field 'url'");
    EXPECT_ERR(WITH_STEP("{}"), "users[0].tasks[0].steps[0]", "needs at least one of");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[{'steps':[]}]}]," LOAD "}", "users[0].tasks[0].steps",
               "at least one step");
}

static void test_err_templates(void)
{
    EXPECT_ERR(WITH_REQ("{'url':'/x/{{randint(1}}'}"), "users[0].tasks[0].steps[0].request.url",
               "randint");
    EXPECT_ERR(WITH_REQ("{'url':'/x/{{uuid()'}"), "users[0].tasks[0].steps[0].request.url",
               "unterminated");
    /* unknown variable, with a suggestion from the variables the class assigns */
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/a'},'extract':{'token':{'json':'t'}}},"
                         "{'request':{'url':'/b','headers':{'X':'{{tokn}}'}}}"),
               "users[0].tasks[0].steps[1].request.headers.X", "did you mean 'token'");
    EXPECT_ERR(WITH_REQ("{'url':'/x','json':{'a':{'b':['{{nope}}']}}}"),
               "users[0].tasks[0].steps[0].request.json.a.b[0]", "unknown variable 'nope'");
    /* definition-wide headers cannot use VU variables */
    EXPECT_ERR("{" HEAD "'headers':{'Authorization':'Bearer {{token}}'},'users':[{'tasks':["
               "{'request':{'url':'/x'},'extract':{'token':{'json':'t'}}}]}]," LOAD "}",
               "headers.Authorization", "unknown variable 'token'");
    EXPECT_ERR(
        WITH_STEP("{'if':{'var':'tokn'},'request':{'url':'/a'},'extract':{'token':{'json':'t'}}}"),
        "users[0].tasks[0].steps[0].if.var", "unknown variable 'tokn' (did you mean 'token'?)");
    EXPECT_ERR(WITH_STEP("{'let':{'status':'1'}}"), "users[0].tasks[0].steps[0].let.status",
               "reserved");
    EXPECT_ERR(WITH_STEP("{'let':{'1x':'1'}}"), "users[0].tasks[0].steps[0].let.1x",
               "invalid variable name");
}

static void test_err_data(void)
{
    EXPECT_ERR(WITH_REQ("{'url':'/x/{{random(ids)}}'}"), "users[0].tasks[0].steps[0].request.url",
               "no data list named 'ids'");
    EXPECT_ERR("{" HEAD "'data':{'ids':[]},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               "}",
               "data.ids", "empty");
    EXPECT_ERR("{" HEAD
               "'data':{'ids':[1,[2]]},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "data.ids[1]", "got an array");
    EXPECT_ERR("{" HEAD "'data':{'ids':5},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "data.ids", "expected an array");
}

static void test_err_request(void)
{
    EXPECT_ERR(WITH_REQ("{'method':'GE T','url':'/x'}"),
               "users[0].tasks[0].steps[0].request.method", "invalid method");
    EXPECT_ERR(WITH_REQ("{'url':'ftp://h/x'}"), "users[0].tasks[0].steps[0].request.url",
               "unsupported URL scheme 'ftp'");
    EXPECT_ERR(WITH_REQ("{'url':'/a b'}"), "users[0].tasks[0].steps[0].request.url",
               "cannot contain spaces");
    EXPECT_ERR(WITH_REQ("{'url':'http:///x'}"), "users[0].tasks[0].steps[0].request.url",
               "no host");
    EXPECT_ERR("{'name':'t','base_url':'localhost:8090','users':[{'tasks':[{'request':{'url':'/"
               "x'}}]}]," LOAD "}",
               "base_url", "expected an http:// or https:// URL");
    EXPECT_ERR("{'name':'t','base_url':'http://h/?a=1','users':[{'tasks':[{'request':{'url':'/"
               "x'}}]}]," LOAD "}",
               "base_url", "query");
    EXPECT_ERR(WITH_REQ("{'url':'/x','json':{},'form':{}}"), "users[0].tasks[0].steps[0].request",
               "only one of json, form, body and multipart (found 'json' and 'form')");
    EXPECT_ERR(WITH_REQ("{'url':'/x','body':{}}"), "users[0].tasks[0].steps[0].request.body",
               "expected a string");
    EXPECT_ERR(WITH_REQ("{'url':'/x','headers':{'Bad Name':'v'}}"),
               "users[0].tasks[0].steps[0].request.headers.Bad Name", "invalid header name");
    EXPECT_ERR(WITH_REQ("{'url':'/x','multipart':[{'name':'f','filename':'a.txt'}]}"),
               "users[0].tasks[0].steps[0].request.multipart[0]",
               "missing required field 'content'");
    EXPECT_ERR(WITH_REQ("{'url':'/x','multipart':[{'name':'f','content':'x'}]}"),
               "users[0].tasks[0].steps[0].request.multipart[0].content", "needs 'filename'");
    EXPECT_ERR(WITH_REQ("{'url':'/x','timeout':0}"), "users[0].tasks[0].steps[0].request.timeout",
               "longer than 0");
    EXPECT_ERR(WITH_STEP("{'expect':{'status':200}}"), "users[0].tasks[0].steps[0].expect",
               "needs a 'request'");
}

static void test_err_status(void)
{
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/x'},'expect':{'status':700}}"),
               "users[0].tasks[0].steps[0].expect.status", "between 100 and 599 (got 700)");
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/x'},'expect':{'status':[200,'ok']}}"),
               "users[0].tasks[0].steps[0].expect.status[1]", "got a string");
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/x'},'expect':{'status':[]}}"),
               "users[0].tasks[0].steps[0].expect.status", "between 1 and");
    EXPECT_ERR(WITH_STEP("{'if':{'status':99},'request':{'url':'/x'}}"),
               "users[0].tasks[0].steps[0].if.status", "between 100 and 599");
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/x'},'expect':{'json':[{'path':'a'}]}}"),
               "users[0].tasks[0].steps[0].expect.json[0]", "give 'exists'");
}

static void test_err_duration(void)
{
    EXPECT_ERR("{" HEAD
               "'options':{'timeout':'5 sec'},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               "}",
               "options.timeout", "invalid duration '5 sec'");
    EXPECT_ERR("{" HEAD
               "'options':{'timeout':-5},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "options.timeout", "negative");
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':'10'}"), "load.duration", "invalid duration");
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':true}"), "load.duration", "expected a duration");
}

static void test_err_load(void)
{
    EXPECT_ERR(WITH_LOAD("{'stages':[]}"), "load.stages", "no stages");
    EXPECT_ERR(WITH_LOAD("{}"), "load", "give 'stages', or 'users' and 'duration'");
    EXPECT_ERR(WITH_LOAD("{'stages':[{'duration':0,'users':5}]}"), "load", "total duration is 0");
    EXPECT_ERR(WITH_LOAD("{'stages':[{'duration':'5d','users':5},{'duration':'5d','users':5}]}"),
               "load", "longer than 7 days");
    EXPECT_ERR(WITH_LOAD("{'users':200001,'duration':'1m'}"), "load.users", "between 0 and 200000");
    EXPECT_ERR(WITH_LOAD("{'stages':[{'duration':'1m','users':-1}]}"), "load.stages[0].users",
               "cannot be negative");
    EXPECT_ERR(WITH_LOAD("{'stages':[{'duration':'1m','users':0}]}"), "load", "0 users");
    EXPECT_ERR(WITH_LOAD("{'model':'open','max_vus':10,'stages':[{'duration':'1m'}]}"),
               "load.stages[0]", "missing required field 'rate'");
    EXPECT_ERR(WITH_LOAD("{'model':'open','max_vus':10,'stages':[{'duration':'1m','users':5}]}"),
               "load.stages[0].users", "open-model stages set 'rate'");
    EXPECT_ERR(WITH_LOAD("{'model':'open','max_vus':0,'stages':[{'duration':'1m','rate':5}]}"),
               "load.max_vus", "between 1 and");
    EXPECT_ERR(WITH_LOAD("{'model':'open','stages':[{'duration':'1m','rate':5}]}"), "load",
               "needs 'max_vus'");
    EXPECT_ERR(WITH_LOAD("{'model':'closed','max_vus':5,'users':1,'duration':'1s'}"),
               "load.max_vus", "open model");
    EXPECT_ERR(WITH_LOAD("{'model':'mixed','users':1,'duration':'1s'}"), "load.model",
               "expected \"closed\"");
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':'1s','stop_when':{'window':'5s'}}"),
               "load.stop_when", "missing required field 'any'");
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':'1s','stop_when':{'any':['p95 >> 2s']}}"),
               "load.stop_when.any[0]", "");
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':'1s','stop_when':{'any':['p95 > baseline * 2']}}"),
               "load.stop_when.any[0]", "cannot use the baseline");
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':'1s','stop_when':{'any':[]}}"),
               "load.stop_when.any", "1 to");
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':'1s','stop_when':{'any':['p95 > 1s'],"
                         "'window':'1500ms'}}"),
               "load.stop_when.window", "whole number of seconds");
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':'1s','stop_when':{'any':['p95 > 1s'],'when':1}}"),
               "load.stop_when.when", "");
    /* Dropped arrivals and the achieved rate are the open model's. */
    EXPECT_ERR(WITH_LOAD("{'users':1,'duration':'1s','stop_when':{'any':['dropped > 1%']}}"),
               "load.stop_when.any[0]", "dropped is measured in the open model only");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               ",'thresholds':['achieved_rate > 10']}",
               "thresholds[0]", "achieved_rate is measured in the open model only");
    sp_def *d = must_load_q(WITH_LOAD("{'model':'open','max_vus':5,'rate':10,'duration':'2s',"
                                      "'stop_when':{'any':['dropped > 1%','achieved_rate < 9'],"
                                      "'window':'2s'}}"),
                            NULL);
    CHECK(d != NULL);
    if (d) {
        CHECK_UINT_EQ(d->load.nstop_when, 2);
        CHECK_INT_EQ(d->load.stop_when[0].metric, SP_TH_DROPPED);
        CHECK_INT_EQ(d->load.stop_when[1].metric, SP_TH_ACHIEVED_RATE);
    }
    sp_def_free(d);
}

static void test_err_thresholds(void)
{
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               ",'thresholds':['p95 <']}",
               "thresholds[0]", "");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               ",'thresholds':['GET /y: p95 < 300ms']}",
               "thresholds[0]", "GET /y");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD ",'thresholds':[5]}",
               "thresholds[0]", "expected a string");
    sp_def *d = must_load_q("{" HEAD "'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
                            ",'thresholds':['GET /x: p99 < 1s','rps > 10']}",
                            NULL);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->nthresholds, 2);
    CHECK_INT_EQ(d->thresholds[0].name_id, 0);
    CHECK_INT_EQ(d->thresholds[1].name_id, -1);
    sp_def_free(d);
}

static void test_err_extract(void)
{
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/x'},'extract':{'v':{'regex':'('}}}"),
               "users[0].tasks[0].steps[0].extract.v.regex", "invalid regex");
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/x'},'extract':{'v':{'regex':'a(b)','group':2}}}"),
               "users[0].tasks[0].steps[0].extract.v.group", "has 1 group");
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/x'},'extract':{'v':{'json':'a..b'}}}"),
               "users[0].tasks[0].steps[0].extract.v.json", "invalid JSON path 'a..b'");
    EXPECT_ERR(
        WITH_STEP("{'request':{'url':'/x'},'expect':{'json':[{'path':'[x]','exists':true}]}}"),
        "users[0].tasks[0].steps[0].expect.json[0].path", "invalid JSON path");
    EXPECT_ERR(WITH_STEP("{'request':{'url':'/x'},'extract':{'v':{'json':'a','header':'B'}}}"),
               "users[0].tasks[0].steps[0].extract.v", "exactly one of");
}

static void test_all_errors_collected(void)
{
    /* three independent mistakes, three errors */
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    CHECK_INT_EQ(load_q("{'name':'t','base_url':'http://h','users':[{'tasks':["
                        "{'request':{'mehtod':'GET','url':'/x'}},"
                        "{'request':{'url':'/y','timeout':'fast'}}]}],"
                        "'load':{'users':1,'duration':'1s'},'thresholds':['p95 < 10 parsecs']}",
                        NULL, &d, &el),
                 SP_EINVAL);
    CHECK(d == NULL);
    if (el.n != 3)
        dump(&el);
    CHECK_UINT_EQ(el.n, 3);
    CHECK_STR_EQ(el.v[0].path, "users[0].tasks[0].request.mehtod");
    CHECK_STR_EQ(el.v[1].path, "users[0].tasks[1].request.timeout");
    CHECK_STR_EQ(el.v[2].path, "thresholds[0]");
    sp_errlist_release(&el);
}

static void test_overrides(void)
{
    const char *doc =
        WITH_LOAD("{'stages':[{'duration':'10s','users':10},{'duration':'20s','users':10}]}");
    sp_overrides ov = SP_OVERRIDES_NONE;

    ov.users = 3;
    ov.duration_ms = 5000;
    ov.base_url = "http://other:9";
    sp_def *d = must_load_q(doc, &ov);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->load.nstages, 2);
    CHECK_UINT_EQ(d->load.stages[0].duration_ms, 0);
    CHECK_NEAR(d->load.stages[0].target, 3, 0);
    CHECK_UINT_EQ(d->load.total_ms, 5000);
    CHECK_STR_EQ(d->base_url, "http://other:9");
    CHECK_STR_EQ(render(d->users[0].tasks[0].steps[0].req->url), "http://other:9/x");
    sp_def_free(d);

    /* users alone keeps the test's duration */
    ov = (sp_overrides)SP_OVERRIDES_NONE;
    ov.users = 4;
    d = must_load_q(doc, &ov);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->load.total_ms, 30000);
    CHECK_NEAR(d->load.stages[1].target, 4, 0);
    sp_def_free(d);

    /* a shorter duration cuts the profile where it is */
    ov = (sp_overrides)SP_OVERRIDES_NONE;
    ov.duration_ms = 5000;
    d = must_load_q(doc, &ov);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->load.nstages, 1);
    CHECK_UINT_EQ(d->load.total_ms, 5000);
    CHECK_NEAR(d->load.stages[0].target, 5, 0);
    sp_def_free(d);

    /* a longer one holds the last target */
    ov.duration_ms = 60000;
    d = must_load_q(doc, &ov);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->load.nstages, 3);
    CHECK_UINT_EQ(d->load.total_ms, 60000);
    CHECK_NEAR(d->load.stages[2].target, 10, 0);
    sp_def_free(d);

    /* duration on the shorthand */
    ov.duration_ms = 7000;
    d = must_load_q(MINIMAL, &ov);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->load.total_ms, 7000);
    sp_def_free(d);

    /* stages as JSON */
    ov = (sp_overrides)SP_OVERRIDES_NONE;
    ov.stages = "[{\"duration\":\"1m\",\"users\":7}]";
    d = must_load_q(MINIMAL, &ov);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->load.nstages, 1);
    CHECK_UINT_EQ(d->load.total_ms, 60000);
    sp_def_free(d);

    ov.stages = "[{\"duration\":";
    sp_errlist el;
    sp_errlist_init(&el);
    d = NULL;
    CHECK_INT_EQ(load_q(MINIMAL, &ov, &d, &el), SP_EINVAL);
    CHECK(has_err(&el, "overrides.stages", "invalid JSON"));
    sp_errlist_release(&el);

    /* overrides are validated like the document */
    ov = (sp_overrides)SP_OVERRIDES_NONE;
    ov.users = SP_DEF_MAX_VUS + 1;
    ov.duration_ms = 1000;
    sp_errlist_init(&el);
    CHECK_INT_EQ(load_q(MINIMAL, &ov, &d, &el), SP_EINVAL);
    CHECK(has_err(&el, "load.stages[0].users", "between 0 and"));
    sp_errlist_release(&el);
}

static void test_parse_duration(void)
{
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {{"0", 0},         {"500ms", 500},     {"30s", 30000},      {"2m", 120000},
                {"1h", 3600000},  {"1h30m", 5400000}, {"1m30s", 90000},    {"1.5s", 1500},
                {"1d", 86400000}, {"7d", 604800000},  {"2m500ms", 120500}, {"0s", 0}};
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
        int64_t ms = -1;
        CHECK_INT_EQ(sp_parse_duration_ms(good[i].s, &ms), 0);
        CHECK_INT_EQ(ms, good[i].ms);
    }
    static const char *const bad[] = {"",    "10",  "s",  "1x",   "1s1m", "1m1m",
                                      "-1s", "1 s", "8d", "1.s5", "ms",   "1sm"};
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        int64_t ms;
        if (sp_parse_duration_ms(bad[i], &ms) == 0)
            CHECK_FAIL_("'%s' parsed as %lld", bad[i], (long long)ms);
    }
}

static void test_load_file_missing(void)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *d = NULL;
    CHECK_INT_EQ(sp_def_load_file("no/such/file.json", NULL, &d, &el), SP_ENOTFOUND);
    CHECK(d == NULL);
    CHECK_UINT_EQ(el.n, 1);
    CHECK_STR_CONTAINS(el.v[0].msg, "no/such/file.json");
    sp_errlist_release(&el);
}

/* A definition's secrets: validated without ever quoting a value, read as {{secret.NAME}},
 * and the loader's mask (every form: tests/unit/engine/test_mask.c) hides them. */
static void test_secrets(void)
{
    sp_def *d =
        must_load_q("{" HEAD "'secrets':{'api_key':'s3cr3t-XYZ','pw':'hunter22'},"
                    "'users':[{'tasks':[{'request':{'url':'/x',"
                    "'headers':{'Authorization':'Bearer {{secret.api_key}}'}}}]}]," LOAD "}",
                    NULL);
    CHECK(d != NULL);
    CHECK_UINT_EQ(d->nsecrets, 2);
    sp_buf b;
    sp_buf_init(&b, 4096);
#define MASK(s) sp_mask_apply(d->mask, s, strlen(s), 0, &b)
    CHECK(d->mask != NULL);
    CHECK_INT_EQ(MASK("got s3cr3t-XYZ and hunter22!"), 1);
    CHECK_STR_EQ(b.p, "got ******** and ********!");
    sp_buf_reset(&b);
    CHECK_INT_EQ(MASK("nothing here"), 0);
    CHECK_STR_EQ(b.p, "nothing here");
    /* A message cut inside a secret. */
    sp_buf_reset(&b);
    CHECK_INT_EQ(MASK("expected the body to contain 'key s3cr3t-...'"), 1);
    CHECK_STR_EQ(b.p, "expected the body to contain 'key ********...'");
#undef MASK
    sp_buf_release(&b);
    sp_def_free(d);

    EXPECT_ERR("{" HEAD
               "'secrets':{'1bad':'x'},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "secrets.1bad", "a secret's name");
    EXPECT_ERR("{" HEAD "'secrets':{'k':5},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               "}",
               "secrets.k", "must be a string");
    EXPECT_ERR("{" HEAD "'secrets':{'k':''},'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD
               "}",
               "secrets.k", "cannot be empty");
    EXPECT_ERR("{" HEAD "'secrets':['x'],'users':[{'tasks':[{'request':{'url':'/x'}}]}]," LOAD "}",
               "secrets", "expected an object");
    EXPECT_ERR(WITH_REQ("{'url':'/x','headers':{'X':'{{secret.nope}}'}}"),
               "users[0].tasks[0].steps[0].request.headers.X", "no secrets in this test");
    EXPECT_ERR(WITH_STEP("{'let':{'secret':'1'},'request':{'url':'/x'}}"),
               "users[0].tasks[0].steps[0].let.secret", "reserved");

    /* No error message quotes a secret's value, even for a bad reference. */
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *bad = NULL;
    CHECK_INT_EQ(load_q("{" HEAD "'secrets':{'api_key':'s3cr3t-XYZ'},"
                        "'users':[{'tasks':[{'request':{'url':'/x',"
                        "'headers':{'A':'{{secret.api_ky}}'}}}]}]," LOAD "}",
                        NULL, &bad, &el),
                 SP_EINVAL);
    sp_buf_init(&b, 1 << 16);
    sp_errlist_format(&el, &b);
    CHECK_STR_CONTAINS(b.p, "did you mean 'api_key'");
    CHECK(!strstr(b.p, "s3cr3t"));
    sp_buf_release(&b);
    sp_errlist_release(&el);
}

int main(void)
{
    RUN(test_secrets);
    RUN(test_example_browse);
    RUN(test_example_shopper);
    RUN(test_example_reporting);
    RUN(test_example_upload);
    RUN(test_design_sketch);
    RUN(test_defaults);
    RUN(test_request_forms);
    RUN(test_query_literals);
    RUN(test_think_spellings);
    RUN(test_steps_and_conditions);
    RUN(test_open_model);
    RUN(test_err_malformed_json);
    RUN(test_err_too_large);
    RUN(test_err_too_deep);
    RUN(test_err_unknown_field);
    RUN(test_err_wrong_type);
    RUN(test_http_version);
    RUN(test_err_missing_required);
    RUN(test_err_templates);
    RUN(test_err_data);
    RUN(test_err_request);
    RUN(test_err_status);
    RUN(test_err_duration);
    RUN(test_err_load);
    RUN(test_err_thresholds);
    RUN(test_err_extract);
    RUN(test_all_errors_collected);
    RUN(test_overrides);
    RUN(test_parse_duration);
    RUN(test_load_file_missing);
    return check_summary();
}
