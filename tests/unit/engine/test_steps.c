/*
 * test_steps.c - the constructs of the format beyond a plain step: repeat, choose, group,
 * on_stop, expression conditions, typed lets, JSON path takes, template equals, cookies and
 * URLs that render absolute. First the loader (one test per error path, each with its path and
 * reason, and the fields that are not templates), then the engine on a real local server: typed
 * extraction and typed bodies, loops, branches and groups as Try it shows them, group entries in
 * a load run's stats (and never in its totals), on_stop.
 *
 * Documents are written with single quotes for readability; q() turns them into JSON (so the
 * expressions here use no string literals).
 */
#include "check.h"

#include <stdlib.h>

#include "engine/definition.h"
#include "engine/engine.h"
#include "engine/trace.h"
#include "testserver.h"

static testserver srv;

static char *q(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static void dump(const sp_errlist *el)
{
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    sp_errlist_format(el, &b);
    fprintf(stderr, "    errors:\n%s", b.p);
    sp_buf_release(&b);
}

static int has_err(const sp_errlist *el, const char *path, const char *phrase)
{
    for (size_t i = 0; i < el->n; i++)
        if (strcmp(el->v[i].path, path) == 0 && strstr(el->v[i].msg, phrase))
            return 1;
    dump(el);
    fprintf(stderr, "    wanted: %s: ...%s...\n", path, phrase);
    return 0;
}

#define EXPECT_ERR(src, path, phrase)                                                              \
    do {                                                                                           \
        sp_errlist el_;                                                                            \
        sp_errlist_init(&el_);                                                                     \
        sp_def *d_ = (sp_def *)1;                                                                  \
        char *doc_ = q(src);                                                                       \
        int rc_ = sp_def_load(doc_, strlen(doc_), NULL, NULL, &d_, &el_);                          \
        free(doc_);                                                                                \
        int ok_ = rc_ == SP_EINVAL && d_ == NULL && has_err(&el_, path, phrase);                   \
        sp_errlist_release(&el_);                                                                  \
        if (!ok_)                                                                                  \
            CHECK_FAIL_("expected error at '%s' with '%s' (rc %d)", path, phrase, rc_);            \
    } while (0)

static sp_def *must_load(const char *src, const char *base)
{
    char *doc = q(src);
    sp_def *d = ts_load_def(doc, base);
    free(doc);
    return d;
}

#define HEAD "'name':'t','base_url':'http://h:1',"
#define LOAD "'load':{'users':1,'duration':'1s'}"
#define WITH_STEPS(steps) "{" HEAD "'users':[{'tasks':[{'steps':[" steps "]}]}]," LOAD "}"
#define S "users[0].tasks[0].steps[0]"
#define REQ "{'request':{'url':'/x'}}"

/* ---- the loader ---- */

static void test_load_constructs(void)
{
    sp_def *d = must_load(
        WITH_STEPS("{'let':{'next':'/a','acc':[]}},"
                   "{'repeat':{'while':'next != null','max':5,'index':'i','steps':["
                   "{'request':{'url':'{{next}}','name':'page'},'extract':{'next':{'json':'n'},"
                   "'got':{'json':'items[*]','take':'all'}}}]}},"
                   "{'repeat':{'count':3,'steps':[" REQ "]}},"
                   "{'repeat':{'count':'i + 1','max':9,'steps':[" REQ "]}},"
                   "{'choose':[{'weight':3,'name':'a','steps':[" REQ "]},{'steps':["
                   "{'group':{'name':'g','steps':[" REQ "," REQ "]}}]}]},"
                   "{'if':'i > 1 and not (next == null)','request':{'url':'/y'}}"),
        NULL);
    CHECK(d != NULL);
    const sp_userclass *u = &d->users[0];
    const sp_step *st = u->tasks[0].steps;
    CHECK_INT_EQ(st[0].kind, SP_STEP_PLAIN);
    CHECK(st[0].lets[1].lit && json_is_array(st[0].lets[1].lit));
    CHECK_INT_EQ(st[1].kind, SP_STEP_REPEAT);
    CHECK(st[1].while_ != NULL);
    CHECK_UINT_EQ(st[1].max, 5);
    CHECK(st[1].index_slot >= 0);
    CHECK(st[1].body.steps[0].req->join_at_run);
    CHECK_INT_EQ(st[1].body.steps[0].extracts[1].take, SP_TAKE_ALL);
    CHECK_INT_EQ(st[2].count_lit, 3);
    CHECK_UINT_EQ(st[2].max, 3); /* a literal count bounds itself */
    CHECK(st[3].count != NULL);
    CHECK_INT_EQ(st[4].kind, SP_STEP_CHOOSE);
    CHECK_UINT_EQ(st[4].nbranches, 2);
    CHECK_UINT_EQ(st[4].total_weight, 4);
    CHECK_STR_EQ(st[4].branches[0].name, "a");
    const sp_step *g = &st[4].branches[1].body.steps[0];
    CHECK_INT_EQ(g->kind, SP_STEP_GROUP);
    CHECK_STR_EQ(d->names[g->group_id], "g");
    CHECK_INT_EQ(d->name_kinds[g->group_id], SP_NAME_GROUP);
    CHECK_INT_EQ(st[5].cond.kind, SP_COND_EXPR);
    /* Plans: one per request, nested ones included; nesting 2 (choose > group). */
    CHECK_UINT_EQ(u->nplans, 7);
    CHECK_UINT_EQ(u->depth, 2);
    CHECK(d->opts.cookies);
    sp_def_free(d);
    d = must_load("{" HEAD "'options':{'cookies':false},'users':[{'tasks':[" REQ "],"
                  "'on_stop':[{'request':{'method':'DELETE','url':'/s'}}]}]," LOAD "}",
                  NULL);
    CHECK(d && !d->opts.cookies);
    CHECK_UINT_EQ(d->users[0].non_stop, 1);
    sp_def_free(d);
}

static void test_err_repeat(void)
{
    EXPECT_ERR(WITH_STEPS("{'repeat':5}"), S ".repeat", "expected an object such as");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':2,'while':'true','max':2,'steps':[" REQ "]}}"),
               S ".repeat", "give 'count' or 'while', not both");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'steps':[" REQ "]}}"), S ".repeat",
               "give 'count' (a number or an expression) or 'while'");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':-1,'steps':[" REQ "]}}"), S ".repeat.count",
               "a count from 0 to 1000000");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':true,'steps':[" REQ "]}}"), S ".repeat.count",
               "expected a whole number or an expression");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':'{{vu}}','max':3,'steps':[" REQ "]}}"),
               S ".repeat.count", "a count is an expression, not a template");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':'vu > 1','max':3,'steps':[" REQ "]}}"),
               S ".repeat.count", "a count is a number, but this expression gives no number");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':'vu +','max':3,'steps':[" REQ "]}}"),
               S ".repeat.count", "column 5: the expression ends too early");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'while':1,'max':3,'steps':[" REQ "]}}"), S ".repeat.while",
               "expected an expression such as");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'while':'{{vu}} > 1','max':3,'steps':[" REQ "]}}"),
               S ".repeat.while", "'while' is an expression, not a template");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'while':'true','steps':[" REQ "]}}"), S ".repeat",
               "a repeat with 'while' needs 'max'");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':'vu','steps':[" REQ "]}}"), S ".repeat",
               "a repeat whose count is an expression needs 'max'");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'while':'true','max':0,'steps':[" REQ "]}}"), S ".repeat.max",
               "must be between 1 and 1000000");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':2,'index':'vu','steps':[" REQ "]}}"),
               S ".repeat.index", "reserved name");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':2}}"), S ".repeat", "missing required field 'steps'");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':2,'steps':[]}}"), S ".repeat.steps",
               "give at least one step");
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':2,'stepz':[]}}"), S ".repeat.stepz",
               "unknown field 'stepz' (did you mean 'steps'?)");
}

static void test_err_choose(void)
{
    EXPECT_ERR(WITH_STEPS("{'choose':{}}"), S ".choose", "an array of 1 to 64 branches");
    EXPECT_ERR(WITH_STEPS("{'choose':[]}"), S ".choose", "an array of 1 to 64 branches");
    EXPECT_ERR(WITH_STEPS("{'choose':[5]}"), S ".choose[0]", "expected an object");
    EXPECT_ERR(WITH_STEPS("{'choose':[{'weight':0,'steps':[" REQ "]}]}"), S ".choose[0].weight",
               "between 1 and 1000000");
    EXPECT_ERR(WITH_STEPS("{'choose':[{'name':'','steps':[" REQ "]}]}"), S ".choose[0].name",
               "a branch name must have 1 to 256 characters");
    EXPECT_ERR(WITH_STEPS("{'choose':[{'name':'b{{vu}}','steps':[" REQ "]}]}"), S ".choose[0].name",
               "this field is not a template");
    EXPECT_ERR(WITH_STEPS("{'choose':[{'weight':1}]}"), S ".choose[0]",
               "missing required field 'steps'");
}

static void test_err_group(void)
{
    EXPECT_ERR(WITH_STEPS("{'group':[]}"), S ".group", "expected an object such as");
    EXPECT_ERR(WITH_STEPS("{'group':{'steps':[" REQ "]}}"), S ".group",
               "missing required field 'name'");
    EXPECT_ERR(WITH_STEPS("{'group':{'name':'','steps':[" REQ "]}}"), S ".group.name",
               "a group name must have 1 to 256 characters");
    EXPECT_ERR(WITH_STEPS("{'group':{'name':'g {{vu}}','steps':[" REQ "]}}"), S ".group.name",
               "not a template");
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x','name':'flow'}},{'group':{'name':'flow',"
                          "'steps':[" REQ "]}}"),
               "users[0].tasks[0].steps[1].group.name", "'flow' is already a request name");
    EXPECT_ERR(WITH_STEPS("{'group':{'name':'flow','steps':[" REQ "]}},{'request':{'url':'/x',"
                          "'name':'flow'}}"),
               "users[0].tasks[0].steps[1].request.name", "'flow' is already a group's name");
    EXPECT_ERR(WITH_STEPS("{'group':{'name':'g'}}"), S ".group", "missing required field 'steps'");
}

static void test_err_step_shapes(void)
{
    EXPECT_ERR(WITH_STEPS("{'repeat':{'count':1,'steps':[" REQ "]},'request':{'url':'/x'}}"),
               S ".request", "'request' cannot sit beside 'repeat' in one step");
    EXPECT_ERR(WITH_STEPS("{'group':{'name':'g','steps':[" REQ "]},'let':{'a':1}}"), S ".let",
               "'let' cannot sit beside 'group'");
    EXPECT_ERR(
        WITH_STEPS("{'group':{'name':'g','steps':[" REQ "]},'choose':[{'steps':[" REQ "]}]}"), S,
        "give only one of 'repeat', 'choose' and 'group'");
    EXPECT_ERR(WITH_STEPS("{'if':'true'}"), S, "a step needs at least one of");
    /* Nesting is bounded: nine groups inside one another (a short-form task, so that the
     * document stays within its own nesting cap). */
    char doc[4096];
    size_t n = (size_t)snprintf(doc, sizeof doc, "{" HEAD "'users':[{'tasks':[");
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s{'group':{'name':'g%d','steps':[",
                              i ? "" : "", i);
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "]}}");
    snprintf(doc + n, sizeof doc - n, "]}]," LOAD "}");
    char path[512];
    n = (size_t)snprintf(path, sizeof path, "users[0].tasks[0]");
    for (int i = 0; i < 8; i++)
        n += (size_t)snprintf(path + n, sizeof path - n, ".group.steps[0]");
    EXPECT_ERR(doc, path, "steps nested more than 8 deep");
    /* A user class's steps are bounded, nested ones included. */
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    sp_buf_addf(&b, "{" HEAD "'users':[{'tasks':[{'steps':[");
    for (int i = 0; i < 20; i++) {
        sp_buf_addf(&b, "%s{'group':{'name':'g%d','steps':[", i ? "," : "", i);
        for (int j = 0; j < 205; j++)
            sp_buf_addf(&b, "%s{'let':{'a':1}}", j ? "," : "");
        sp_buf_adds(&b, "]}}");
    }
    sp_buf_adds(&b, "]}]}]," LOAD "}");
    EXPECT_ERR(b.p, "users[0].tasks[0].steps[19].group.steps[181]",
               "more than 4096 steps in this user class");
    sp_buf_release(&b);
}

static void test_err_conditions_and_lets(void)
{
    EXPECT_ERR(WITH_STEPS("{'if':'{{vu}} > 1','request':{'url':'/x'}}"), S ".if",
               "a condition is an expression, not a template");
    EXPECT_ERR(WITH_STEPS("{'if':'vu >','request':{'url':'/x'}}"), S ".if",
               "column 5: the expression ends too early");
    EXPECT_ERR(WITH_STEPS("{'unless':'status == true','request':{'url':'/x'}}"), S ".unless",
               "column 8: '==' compares a number with a boolean");
    EXPECT_ERR(WITH_STEPS("{'if':5,'request':{'url':'/x'}}"), S ".if",
               "expected an expression such as");
    EXPECT_ERR(WITH_STEPS("{'let':{'null':1}}"), S ".let.null", "reserved name");
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'extract':{'and':{'json':'a'}}}"),
               S ".extract.and", "reserved name");
    EXPECT_ERR(WITH_STEPS("{'let':{'a':{'x':'{{vu}}'}}}"), S ".let.a",
               "only a let value that is a string is a template");
    EXPECT_ERR(WITH_STEPS("{'let':{'a':'x'}},{'if':{'var':'{{a}}'},'request':{'url':'/x'}}"),
               "users[0].tasks[0].steps[1].if.var", "not a template");
    EXPECT_ERR(WITH_STEPS("{'let':{'a':'x'}},{'if':{'var':'a','equals':'{{a}}'},'request':{'url':"
                          "'/x'}}"),
               "users[0].tasks[0].steps[1].if.equals", "write the condition as an expression");
}

static void test_err_not_templates(void)
{
    static const char hint[] = "this field is not a template";
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x','name':'GET /x/{{vu}}'}}"), S ".request.name",
               "a request name groups its requests");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[{'name':'t{{vu}}','request':{'url':'/x'}}]}]," LOAD "}",
               "users[0].tasks[0].name", hint);
    EXPECT_ERR("{" HEAD "'users':[{'name':'u{{vu}}','tasks':[" REQ "]}]," LOAD "}", "users[0].name",
               hint);
    EXPECT_ERR("{'name':'t{{vu}}','base_url':'http://h:1','users':[{'tasks':[" REQ "]}]," LOAD "}",
               "name", hint);
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'extract':{'v':{'json':'a.{{vu}}'}}}"),
               S ".extract.v.json", "a JSON path is not a template");
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'expect':{'json':[{'path':'{{vu}}',"
                          "'exists':true}]}}"),
               S ".expect.json[0].path", "a JSON path is not a template");
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'extract':{'v':{'header':'X-{{vu}}'}}}"),
               S ".extract.v.header", hint);
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'extract':{'v':{'regex':'a{{vu}}'}}}"),
               S ".extract.v.regex", "a regex is not a template");
    EXPECT_ERR(WITH_STEPS("{'request':{'method':'POST','url':'/x','multipart':[{'name':'f{{vu}}',"
                          "'value':'v'}]}}"),
               S ".request.multipart[0].name", "only a part's 'value' and 'content'");
    EXPECT_ERR(WITH_STEPS("{'request':{'method':'POST','url':'/x','multipart':[{'name':'f',"
                          "'filename':'{{vu}}.csv','content':'x'}]}}"),
               S ".request.multipart[0].filename", hint);
    EXPECT_ERR("{" HEAD "'data':{'ids':['{{vu}}']},'users':[{'tasks':[" REQ "]}]," LOAD "}",
               "data.ids[0]", "data values are not templates");
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'expect':{'json':[{'path':'a','equals':"
                          "{'b':'{{vu}}'}}]}}"),
               S ".expect.json[0].equals", "only an 'equals' that is a string is a template");
}

static void test_err_extract_take(void)
{
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'extract':{'v':{'json':'a[*]','take':'some'}}}"),
               S ".extract.v.take", "use first, last, random, all or count");
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'extract':{'v':{'header':'X','take':'all'}}}"),
               S ".extract.v.take", "'take' goes with 'json'");
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'extract':{'v':{'json':'a[?(@.x >)]'}}}"),
               S ".extract.v.json", "invalid JSON path 'a[?(@.x >)]': in the filter: column 10");
    EXPECT_ERR(WITH_STEPS("{'request':{'url':'/x'},'expect':{'json':[{'path':'a','equals':"
                          "'{{nope}}'}]}}"),
               S ".expect.json[0].equals", "unknown variable 'nope'");
}

static void test_err_on_stop(void)
{
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[" REQ "],'on_stop':[{'requst':{}}]}]," LOAD "}",
               "users[0].on_stop[0].requst", "unknown field 'requst' (did you mean 'request'?)");
    EXPECT_ERR("{" HEAD "'users':[{'tasks':[" REQ "],'on_stop':{}}]," LOAD "}", "users[0].on_stop",
               "expected an array of steps");
    EXPECT_ERR("{" HEAD "'options':{'cookies':'yes'},'users':[{'tasks':[" REQ "]}]," LOAD "}",
               "options.cookies", "expected a boolean");
}

/* ---- the engine, on a local server, through Try it ---- */

static json_t *try_it(const char *src)
{
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", srv.port);
    sp_def *d = must_load(src, base);
    if (!d)
        return NULL;
    json_t *out = NULL;
    char err[256];
    if (sp_trace_run(d, NULL, &out, err, sizeof err) != 0)
        fprintf(stderr, "try: %s\n", err);
    sp_def_free(d);
    return out;
}

static json_t *entry(json_t *out, size_t i)
{
    return json_array_get(json_object_get(out, "requests"), i);
}

static const char *sent_body(json_t *e)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(e, "request"), "body"), "text"));
}

static void test_typed_extraction(void)
{
    json_t *out =
        try_it("{" HEAD "'users':[{'tasks':[{'steps':["
               "{'request':{'url':'/typed','name':'typed'},'extract':{"
               "'n':{'json':'n'},'f':{'json':'f'},'b':{'json':'b'},'z':{'json':'z'},"
               "'o':{'json':'o'},'arr':{'json':'arr'},'s':{'json':'s'},'gone':{'json':'nope'},"
               "'in_stock':{'json':'arr[?(@.stock > 0)].id','take':'all'},"
               "'cnt':{'json':'arr[*]','take':'count'},'last':{'json':'arr[*].id','take':'last'}}},"
               "{'request':{'method':'POST','url':'/ok','name':'send','json':{"
               "'n':'{{n}}','f':'{{f}}','b':'{{b}}','z':'{{z}}','o':'{{o}}','arr':'{{in_stock}}',"
               "'s':'{{s}}','text':'n={{n}} b={{b}} z={{z}}','sum':'{{n + f}}','c':'{{cnt}}',"
               "'last':'{{last}}','first':'{{arr[0].id}}'}}}"
               "]}]}]," LOAD "}");
    CHECK(out != NULL);
    json_t *first = entry(out, 0);
    json_t *x = json_object_get(first, "extracted");
    CHECK(json_is_integer(json_object_get(x, "n")));
    CHECK(json_is_real(json_object_get(x, "f")));
    CHECK(json_is_true(json_object_get(x, "b")));
    CHECK(json_is_null(json_object_get(x, "z"))); /* null leaves it unset */
    CHECK(json_is_object(json_object_get(x, "o")));
    CHECK(json_is_array(json_object_get(x, "arr")));
    CHECK(json_is_null(json_object_get(x, "gone")));
    CHECK_STR_EQ(json_string_value(json_object_get(x, "s")), "x y");
    CHECK_INT_EQ(json_integer_value(json_object_get(x, "cnt")), 3);
    CHECK_STR_EQ(sent_body(entry(out, 1)),
                 "{\"n\":5,\"f\":1.5,\"b\":true,\"z\":null,\"o\":{\"a\":1},\"arr\":[2,3],"
                 "\"s\":\"x y\",\"text\":\"n=5 b=true z=\",\"sum\":6.5,\"c\":3,\"last\":3,"
                 "\"first\":1}");
    json_decref(out);
}

static void test_flow_in_a_pass(void)
{
    json_t *out = try_it(
        "{" HEAD "'users':[{'tasks':[{'steps':["
        "{'repeat':{'count':3,'index':'i','steps':[{'request':{'url':'/"
        "ok?i={{i}}','name':'ok'}}]}},"
        "{'let':{'k':0}},"
        "{'repeat':{'while':'true','max':2,'steps':[{'let':{'k':'{{k + 1}}'}}]}},"
        "{'choose':[{'name':'only','steps':[{'group':{'name':'g','steps':["
        "{'request':{'url':'/ok?k={{k}}','name':'ok'}},{'request':{'url':'/500','name':'bad'}}"
        "]}}]}]},"
        "{'if':'k == 2','request':{'url':'/ok?after','name':'ok'}},"
        "{'unless':'k == 2','request':{'url':'/ok?never','name':'ok'}}"
        "]}],'on_stop':[{'request':{'url':'/ok?bye','name':'bye'}}]}]," LOAD "}");
    CHECK(out != NULL);
    json_t *list = json_object_get(out, "requests");
    sp_buf seq;
    sp_buf_init(&seq, 1 << 16);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        if (strcmp(kind, "flow") == 0) {
            const char *ev = json_string_value(json_object_get(e, "event"));
            if (json_is_true(json_object_get(e, "skipped")))
                sp_buf_addf(&seq, "skip ");
            else if (strcmp(ev, "repeat") == 0)
                sp_buf_addf(&seq, "pass%d ", (int)json_integer_value(json_object_get(e, "pass")));
            else if (strcmp(ev, "repeat_end") == 0)
                sp_buf_addf(&seq, "end%d%s ", (int)json_integer_value(json_object_get(e, "passes")),
                            json_is_true(json_object_get(e, "stopped_at_max")) ? "max" : "");
            else if (strcmp(ev, "choose") == 0)
                sp_buf_addf(&seq, "choose:%s ",
                            json_string_value(json_object_get(e, "branch_name")));
            else if (strcmp(ev, "group") == 0)
                sp_buf_addf(&seq, "group:%s:%s ", json_string_value(json_object_get(e, "name")),
                            json_is_true(json_object_get(e, "passed")) ? "ok" : "failed");
        } else if (json_is_true(json_object_get(e, "skipped"))) {
            sp_buf_adds(&seq, "skip ");
        } else {
            const char *url = json_string_value(json_object_get(e, "url"));
            const char *qm = url ? strchr(url, '?') : NULL;
            sp_buf_addf(&seq, "%s%s ", json_string_value(json_object_get(e, "name")), qm ? qm : "");
        }
    }
    CHECK_STR_EQ(seq.p, "pass0 ok?i=0 pass1 ok?i=1 pass2 ok?i=2 end3 pass0 pass1 end2max "
                        "choose:only ok?k=2 bad group:g:failed ok?after skip bye?bye ");
    sp_buf_release(&seq);
    /* Where each step sits, in the definition's terms. */
    CHECK_STR_EQ(json_string_value(json_object_get(entry(out, 3), "at")),
                 "tasks[0].steps[0].repeat.steps[0]");
    json_t *bye = json_array_get(list, json_array_size(list) - 1);
    CHECK_STR_EQ(json_string_value(json_object_get(bye, "phase")), "on_stop");
    json_decref(out);
}

static void test_absolute_url_rendered(void)
{
    char abs[64];
    snprintf(abs, sizeof abs, "http://127.0.0.1:%u/ok?abs", srv.port);
    char src[1024];
    snprintf(src, sizeof src,
             "{" HEAD "'users':[{'tasks':[{'steps':[{'let':{'u':'%s','r':'ok?rel'}},"
             "{'request':{'url':'{{u}}','name':'abs'}},{'request':{'url':'{{r}}','name':'rel'}},"
             "{'let':{'u':'ftp://h/x'}},{'request':{'url':'{{u}}','name':'ftp'}}]}]}]," LOAD "}",
             abs);
    json_t *out = try_it(src);
    CHECK(out != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(entry(out, 0), "url")), abs);
    char rel[64];
    snprintf(rel, sizeof rel, "http://127.0.0.1:%u/ok?rel", srv.port);
    CHECK_STR_EQ(json_string_value(json_object_get(entry(out, 1), "url")), rel);
    CHECK_STR_CONTAINS(
        json_string_value(json_object_get(json_object_get(entry(out, 2), "error"), "message")),
        "only http:// and https:// are sent");
    json_decref(out);
}

static void test_cookies(void)
{
    /* The first cookie comes on a redirect: the next hop and every later request carry it
     * (and the second cookie of that response, which curl reads itself once the jar exists). */
    json_t *out = try_it("{" HEAD "'users':[{'tasks':[{'steps':["
                         "{'request':{'url':'/login302','name':'login'},'expect':{'status':200}},"
                         "{'request':{'url':'/needcookie','name':'again'},'expect':{'status':200}}"
                         "]}]}]," LOAD "}");
    CHECK(out != NULL);
    CHECK(json_is_true(json_object_get(entry(out, 0), "passed")));
    CHECK(json_is_true(json_object_get(entry(out, 1), "passed")));
    const char *body = json_string_value(json_object_get(
        json_object_get(json_object_get(entry(out, 1), "response"), "body"), "text"));
    CHECK_STR_CONTAINS(body, "sid=s3cr3t");
    CHECK_STR_CONTAINS(body, "theme=dark");
    json_t *jar = json_object_get(entry(out, 1), "cookies");
    CHECK_UINT_EQ(json_array_size(jar), 2);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(jar, 0), "domain")), "127.0.0.1");
    json_decref(out);
    /* Off: nothing goes back. */
    out = try_it("{" HEAD "'options':{'cookies':false},'users':[{'tasks':[{'steps':["
                 "{'request':{'url':'/login302','name':'login'},'expect':{'status':401}}]}]}]," LOAD
                 "}");
    CHECK(out != NULL);
    CHECK(json_is_true(json_object_get(entry(out, 0), "passed")));
    json_decref(out);
}

/* ---- a load run: groups in the stats, never in the totals ---- */

static void test_group_stats(void)
{
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", srv.port);
    sp_def *d = must_load("{" HEAD "'users':[{'think':{'constant':'5ms'},'tasks':[{'steps':["
                          "{'group':{'name':'flow','steps':[{'request':{'url':'/ok','name':'a'}},"
                          "{'request':{'url':'/ok','name':'b'}}]}}]}]}],"
                          "'load':{'users':2,'duration':'1s'},'thresholds':['flow: p95 < 2s']}",
                          base);
    CHECK(d != NULL);
    sp_engine *e = NULL;
    char err[256];
    sp_engine_opts o = {.threads = 1};
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    sp_engine_wait(e);
    const sp_stats *t = sp_engine_totals(e);
    int flow = -1, a = -1, b = -1;
    for (size_t i = 0; i < d->nnames; i++) {
        if (!strcmp(d->names[i], "flow"))
            flow = (int)i;
        else if (!strcmp(d->names[i], "a"))
            a = (int)i;
        else if (!strcmp(d->names[i], "b"))
            b = (int)i;
    }
    CHECK(flow >= 0 && a >= 0 && b >= 0);
    CHECK(t->names[flow].group);
    CHECK(t->names[flow].requests > 10);
    CHECK_UINT_EQ(t->names[flow].requests, t->names[b].requests);
    CHECK_UINT_EQ(t->names[flow].failures, 0);
    sp_name_stats tot;
    sp_name_stats_init(&tot);
    sp_stats_total(t, &tot);
    CHECK_UINT_EQ(tot.requests, t->names[a].requests + t->names[b].requests);
    sp_name_stats_release(&tot);
    /* A group's time covers its requests. */
    CHECK(sp_hist_percentile(t->names[flow].hist, 50) >= sp_hist_percentile(t->names[a].hist, 50));
    sp_verdict v;
    sp_threshold_eval(&d->thresholds[0], t, 1.0, &v);
    CHECK(v.passed);
    sp_engine_free(e);
    sp_def_free(d);
}

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "cannot start the test server\n");
        return 1;
    }
    RUN(test_load_constructs);
    RUN(test_err_repeat);
    RUN(test_err_choose);
    RUN(test_err_group);
    RUN(test_err_step_shapes);
    RUN(test_err_conditions_and_lets);
    RUN(test_err_not_templates);
    RUN(test_err_extract_take);
    RUN(test_err_on_stop);
    RUN(test_typed_extraction);
    RUN(test_flow_in_a_pass);
    RUN(test_absolute_url_rendered);
    RUN(test_cookies);
    RUN(test_group_stats);
    testserver_stop(&srv);
    return check_summary();
}
