/*
 * test_policy.c - what a run may do beyond its definition (server/runs/policy.c): the caps of
 * each role as read from a real store and the decision on a loaded profile, the target
 * allowlist (its checked body, and which targets a definition may aim at), and the secrets
 * of a definition (masked for storage, put back for a run, withheld from a run aimed elsewhere
 * than their owner aimed them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine/definition.h"
#include "runs/policy.h"
#include "store/store.h"

static char tmpdir[256];
static char dbpath[320];

/* A loaded definition (aborts the test run when it does not load: the texts here are valid). */
static sp_def *load(const char *text)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_def *def = NULL;
    if (sp_def_load(text, strlen(text), NULL, NULL, &def, &el) != 0) {
        fprintf(stderr, "definition does not load: %s: %s\n", el.n ? el.v[0].path : "",
                el.n ? el.v[0].msg : "?");
        abort();
    }
    sp_errlist_release(&el);
    return def;
}

#define CLOSED                                                                                     \
    "{\"name\":\"c\",\"base_url\":\"http://127.0.0.1:9\",\"users\":[{\"name\":\"u\",\"tasks\":["   \
    "{\"request\":{\"url\":\"/\"}}]}],\"load\":{\"stages\":[{\"duration\":\"10s\",\"users\":5},"   \
    "{\"duration\":\"20s\",\"users\":50}]}}"
#define OPEN                                                                                       \
    "{\"name\":\"o\",\"base_url\":\"http://127.0.0.1:9\",\"users\":[{\"name\":\"u\",\"tasks\":["   \
    "{\"request\":{\"url\":\"/\"}}]}],\"load\":{\"model\":\"open\",\"max_vus\":40,\"stages\":["    \
    "{\"duration\":\"1m\",\"rate\":20},{\"duration\":\"1m\",\"rate\":75.5}]}}"

/* ---- Caps per role ---- */

static void test_load_reads_the_caps_of_the_role(void)
{
    sp_store *s = NULL;
    char err[256];
    CHECK_INT_EQ(sp_store_open(&s, dbpath, err, sizeof err), 0);
    json_t *caps =
        json_pack("{s:{s:i, s:f, s:i, s:i}, s:{s:i, s:f, s:i, s:i}}", "tester", "max_vus", 200,
                  "max_rate", 50.5, "max_duration_s", 600, "max_concurrent_runs", 2, "viewer",
                  "max_vus", 1, "max_rate", 0.0, "max_duration_s", 0, "max_concurrent_runs", 0);
    CHECK_INT_EQ(sp_store_caps_set(s, caps), 0);
    json_decref(caps);
    json_t *allow = json_pack("[s, s]", "127.0.0.0/8", "localhost:8090");
    CHECK_INT_EQ(sp_store_allowlist_set(s, allow), 0);
    json_decref(allow);

    sp_policy p;
    CHECK_INT_EQ(sp_policy_load(&p, s, "tester"), 0);
    CHECK_STR_EQ(p.run.role, "tester");
    CHECK_UINT_EQ(p.run.max_vus, 200);
    CHECK_NEAR(p.run.max_rate, 50.5, 1e-9);
    CHECK_UINT_EQ(p.run.max_duration_ms, 600000);
    CHECK_UINT_EQ(p.run.max_concurrent_runs, 2);
    CHECK_UINT_EQ(p.run.nallow, 2);
    CHECK_STR_EQ(p.run.allow[0], "127.0.0.0/8");
    CHECK_STR_EQ(p.run.allow[1], "localhost:8090");
    sp_policy_release(&p);

    /* Each role its own; a role nobody capped, or an unknown one, has none (0). */
    CHECK_INT_EQ(sp_policy_load(&p, s, "viewer"), 0);
    CHECK_UINT_EQ(p.run.max_vus, 1);
    CHECK_UINT_EQ(p.run.max_duration_ms, 0);
    sp_policy_release(&p);
    CHECK_INT_EQ(sp_policy_load(&p, s, "admin"), 0);
    CHECK_UINT_EQ(p.run.max_vus, 0);
    CHECK_UINT_EQ(p.run.max_concurrent_runs, 0);
    sp_policy_release(&p);
    CHECK_INT_EQ(sp_policy_load(&p, s, "nobody"), 0);
    CHECK_UINT_EQ(p.run.max_vus, 0);
    CHECK_UINT_EQ(p.run.nallow, 2); /* the allowlist is everybody's */
    sp_policy_release(&p);
    sp_store_close(s);
}

static void test_role_caps_decide_a_closed_profile(void)
{
    sp_def *def = load(CLOSED);
    const char *cap = NULL;
    char msg[256] = "";
    sp_policy_rules none = {.role = "tester"};
    CHECK_INT_EQ(sp_policy_check_load(&none, def, &cap, msg, sizeof msg), 0);
    /* The biggest stage counts, and a cap equal to it is within it. */
    sp_policy_rules r = {.role = "tester", .max_vus = 50};
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), 0);
    r.max_vus = 49;
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), SP_ELIMIT);
    CHECK_STR_EQ(cap, "max_vus");
    CHECK_STR_EQ(msg, "users 50 exceeds the tester cap max_vus=49");
    /* The planned duration: 30 s. */
    r = (sp_policy_rules){.role = "tester", .max_duration_ms = 30000};
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), 0);
    r.max_duration_ms = 20000;
    cap = NULL;
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), SP_ELIMIT);
    CHECK_STR_EQ(cap, "max_duration_s");
    CHECK_STR_EQ(msg, "duration 30s exceeds the tester cap max_duration_s=20");
    /* A rate cap means nothing to a closed profile. */
    r = (sp_policy_rules){.role = "tester", .max_rate = 1};
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), 0);
    /* No role named: the message says so rather than printing nothing. */
    r = (sp_policy_rules){.max_vus = 10};
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), SP_ELIMIT);
    CHECK_STR_EQ(msg, "users 50 exceeds the ? cap max_vus=10");
    sp_def_free(def);
}

static void test_role_caps_decide_an_open_profile(void)
{
    sp_def *def = load(OPEN);
    const char *cap = NULL;
    char msg[256] = "";
    /* The VU pool, not a stage's target, is what max_vus caps in the open model. */
    sp_policy_rules r = {.role = "viewer", .max_vus = 40, .max_rate = 75.5};
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), 0);
    r.max_vus = 39;
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), SP_ELIMIT);
    CHECK_STR_EQ(cap, "max_vus");
    CHECK_STR_EQ(msg, "max_vus 40 exceeds the viewer cap max_vus=39");
    r = (sp_policy_rules){.role = "viewer", .max_rate = 75};
    CHECK_INT_EQ(sp_policy_check_load(&r, def, &cap, msg, sizeof msg), SP_ELIMIT);
    CHECK_STR_EQ(cap, "max_rate");
    CHECK_STR_EQ(msg, "rate 75.5/s exceeds the viewer cap max_rate=75");
    sp_def_free(def);
}

/* ---- The target allowlist ---- */

static void test_allowlist_body_is_checked(void)
{
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *b = json_pack("{s:[s, s]}", "entries", "127.0.0.0/8", "[::1]:8090");
    CHECK_INT_EQ(sp_policy_check_allowlist(b, &el), 0);
    CHECK_INT_EQ(el.n, 0);
    json_decref(b);

    b = json_pack("{s:[s, i, s], s:i}", "entries", "127.0.0.0/8", 5, "10.0.0.0/40", "x", 1);
    CHECK_INT_EQ(sp_policy_check_allowlist(b, &el), SP_EINVAL);
    CHECK_INT_EQ(el.n, 2);
    CHECK_STR_EQ(el.v[0].path, "x");
    CHECK_STR_EQ(el.v[1].path, "entries[1]");
    json_decref(b);
    sp_errlist_release(&el);

    sp_errlist_init(&el);
    b = json_pack("{s:[s, s]}", "entries", "127.0.0.1", "10.0.0.0/40");
    CHECK_INT_EQ(sp_policy_check_allowlist(b, &el), SP_EINVAL);
    CHECK_INT_EQ(el.n, 1);
    CHECK_STR_EQ(el.v[0].path, "entries[1]");
    CHECK_STR_CONTAINS(el.v[0].msg, "10.0.0.0/40");
    json_decref(b);
    sp_errlist_release(&el);

    sp_errlist_init(&el);
    json_t *many = json_array();
    for (int i = 0; i <= SP_ALLOW_MAX_ENTRIES; i++)
        json_array_append_new(many, json_string("127.0.0.1"));
    b = json_pack("{s:o}", "entries", many);
    CHECK_INT_EQ(sp_policy_check_allowlist(b, &el), SP_EINVAL);
    CHECK_STR_EQ(el.v[0].path, "entries");
    json_decref(b);
    sp_errlist_release(&el);
}

static void test_allowlist_is_built_only_when_set(void)
{
    sp_errlist el;
    sp_errlist_init(&el);
    sp_allowlist *al = (sp_allowlist *)&el; /* any non-NULL: must be reset */
    sp_policy_rules open_door = {.role = "tester"};
    CHECK_INT_EQ(sp_policy_allowlist(&open_door, &al, &el), 0);
    CHECK(al == NULL);
    al = (sp_allowlist *)&el;
    CHECK_INT_EQ(sp_policy_allowlist(NULL, &al, &el), 0);
    CHECK(al == NULL);
    const char *bad[] = {"127.0.0.1", "300.1.1.1"};
    sp_policy_rules broken = {.allow = bad, .nallow = 2};
    CHECK_INT_EQ(sp_policy_allowlist(&broken, &al, &el), SP_EINVAL);
    CHECK(al == NULL);
    CHECK_INT_EQ(el.n, 1);
    CHECK_STR_EQ(el.v[0].path, "entries[1]");
    sp_errlist_release(&el);
}

/* The decision for def under entries: 0, or the refused target's path in *path. */
static int targets(const char *def_text, const char *entry, char *path, size_t pathlen)
{
    sp_def *def = load(def_text);
    const char *entries[] = {entry};
    sp_policy_rules r = {.allow = entries, .nallow = 1};
    sp_errlist el;
    sp_errlist_init(&el);
    sp_allowlist *al = NULL;
    int rc = sp_policy_allowlist(&r, &al, &el);
    if (rc == 0)
        rc = sp_policy_check_targets(al, def, &el);
    snprintf(path, pathlen, "%s", el.n ? el.v[el.n - 1].path : "");
    sp_allowlist_free(al);
    sp_errlist_release(&el);
    sp_def_free(def);
    return rc;
}

#define TWO_STEPS(base, second)                                                                    \
    "{\"name\":\"t\",\"base_url\":\"" base                                                         \
    "\",\"users\":[{\"name\":\"u\",\"tasks\":[{\"request\":"                                       \
    "{\"url\":\"/a\"}},{\"steps\":[{\"request\":{\"url\":\"/b\"}},{\"request\":{\"url\":\"" second \
    "\"}}]}]}],\"load\":{\"users\":1,\"duration\":\"1s\"}}"

static void test_targets_outside_the_allowlist_are_named(void)
{
    char path[256];
    CHECK_INT_EQ(targets(TWO_STEPS("http://127.0.0.1:9", "/c"), "127.0.0.0/8", path, sizeof path),
                 0);
    CHECK_INT_EQ(targets(TWO_STEPS("http://10.1.2.3:9", "/c"), "127.0.0.0/8", path, sizeof path),
                 SP_EINVAL);
    CHECK_STR_EQ(path, "base_url");
    /* A port entry allows that port only. */
    CHECK_INT_EQ(
        targets(TWO_STEPS("http://127.0.0.1:9", "/c"), "127.0.0.1:8090", path, sizeof path),
        SP_EINVAL);
    CHECK_STR_EQ(path, "base_url");
    /* An absolute URL of a step is checked where it is written. */
    CHECK_INT_EQ(targets(TWO_STEPS("http://127.0.0.1:9", "http://10.9.9.9/x"), "127.0.0.0/8", path,
                         sizeof path),
                 SP_EINVAL);
    CHECK_STR_EQ(path, "users[0].tasks[1].steps[1].request.url");
    /* A template in the authority is left to the engine, which checks at connection time. */
    CHECK_INT_EQ(targets(TWO_STEPS("http://127.0.0.1:9", "http://10.9.9.{{randint(1,9)}}/x"),
                         "127.0.0.0/8", path, sizeof path),
                 0);
}

/* ---- Caps body ---- */

static void test_caps_body_is_checked(void)
{
    sp_errlist el;
    sp_errlist_init(&el);
    json_t *out = NULL;
    json_t *b = json_pack("{s:{s:i}}", "tester", "max_vus", 200);
    CHECK_INT_EQ(sp_policy_check_caps(b, &out, &el), 0);
    char *text = json_dumps(out, JSON_COMPACT);
    CHECK_STR_EQ(text, "{\"tester\":{\"max_vus\":200,\"max_rate\":0.0,\"max_duration_s\":0,"
                       "\"max_concurrent_runs\":0}}");
    free(text);
    json_decref(out);
    json_decref(b);

    b = json_pack("{s:{s:i, s:i, s:f}, s:{}}", "tester", "max_vus", -1, "max_vu", 2, "max_rate",
                  1.5, "testr");
    CHECK_INT_EQ(sp_policy_check_caps(b, &out, &el), SP_EINVAL);
    CHECK(out == NULL);
    CHECK_INT_EQ(el.n, 3);
    CHECK_STR_EQ(el.v[0].path, "tester.max_vus");
    CHECK_STR_EQ(el.v[1].path, "tester.max_vu");
    CHECK_STR_CONTAINS(el.v[1].msg, "did you mean 'max_vus'");
    CHECK_STR_EQ(el.v[2].path, "testr");
    CHECK_STR_CONTAINS(el.v[2].msg, "did you mean 'tester'");
    json_decref(b);
    sp_errlist_release(&el);
}

/* ---- Secrets ---- */

static void test_secrets_are_masked_for_storage(void)
{
    json_t *doc = json_pack("{s:s, s:{s:s, s:s}}", "name", "x", "secrets", "TOKEN", "abc123", "KEY",
                            SP_SECRET_MASK);
    char *text = NULL;
    json_t *secrets = NULL;
    sp_policy_split_secrets(doc, &text, &secrets);
    CHECK(text != NULL && secrets != NULL);
    CHECK(strstr(text, "abc123") == NULL);
    json_t *stored = json_loads(text, 0, NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(stored, "secrets"), "TOKEN")),
                 SP_SECRET_MASK);
    CHECK_STR_EQ(json_string_value(json_object_get(stored, "name")), "x");
    /* The values as sent, the mask included (it stands for "keep the stored value"). */
    CHECK_STR_EQ(json_string_value(json_object_get(secrets, "TOKEN")), "abc123");
    CHECK_STR_EQ(json_string_value(json_object_get(secrets, "KEY")), SP_SECRET_MASK);
    /* The caller's document is not changed. */
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(doc, "secrets"), "TOKEN")),
                 "abc123");
    json_decref(stored);
    json_decref(secrets);
    free(text);
    json_decref(doc);

    doc = json_pack("{s:s}", "name", "plain");
    text = (char *)"x";
    secrets = (json_t *)doc;
    sp_policy_split_secrets(doc, &text, &secrets);
    CHECK(text == NULL && secrets == NULL);
    json_decref(doc);
}

static void test_secrets_are_put_back_for_a_run(void)
{
    const char *text = "{\"name\":\"x\",\"secrets\":{\"TOKEN\":\"" SP_SECRET_MASK
                       "\",\"KEY\":\"" SP_SECRET_MASK "\",\"NEW\":\"fresh\"}}";
    json_t *values = json_pack("{s:s, s:s}", "TOKEN", "abc123", "NEW", "old");
    char *owned = NULL;
    const char *full = sp_policy_with_secrets(text, values, &owned);
    CHECK(owned != NULL && full == owned);
    json_t *doc = json_loads(full, 0, NULL);
    json_t *s = json_object_get(doc, "secrets");
    CHECK_STR_EQ(json_string_value(json_object_get(s, "TOKEN")), "abc123");
    /* No stored value: the mask stays. A value that is not the mask is not replaced. */
    CHECK_STR_EQ(json_string_value(json_object_get(s, "KEY")), SP_SECRET_MASK);
    CHECK_STR_EQ(json_string_value(json_object_get(s, "NEW")), "fresh");
    json_decref(doc);
    free(owned);

    /* Nothing to put back: the text itself. */
    json_t *none = json_object();
    CHECK(sp_policy_with_secrets(text, none, &owned) == text);
    CHECK(owned == NULL);
    CHECK(sp_policy_with_secrets(text, NULL, &owned) == text);
    CHECK(sp_policy_with_secrets("{\"name\":\"x\"}", values, &owned) != NULL);
    CHECK(owned == NULL);
    json_decref(none);
    json_decref(values);
}

/* Who may take a test's secrets where: the owner and admins anywhere; anyone else only to the
 * stored target, at a revision the owner saved. */
static void test_secrets_go_where_their_owner_aimed_them(void)
{
    const char *base = "http://api.internal:8080";
    /* The owner, and any admin, with any override. */
    CHECK_INT_EQ(
        sp_policy_may_carry_secrets("ann", "tester", "ann", "ann", base, "http://127.0.0.1:4444"),
        1);
    CHECK_INT_EQ(
        sp_policy_may_carry_secrets("root", "admin", "ann", "bob", base, "http://127.0.0.1:4444"),
        1);
    /* Another tester: the stored target only, trailing slashes aside. */
    CHECK_INT_EQ(sp_policy_may_carry_secrets("bob", "tester", "ann", "ann", base, NULL), 1);
    CHECK_INT_EQ(sp_policy_may_carry_secrets("bob", "tester", "ann", "ann", base,
                                             "http://api.internal:8080/"),
                 1);
    CHECK_INT_EQ(
        sp_policy_may_carry_secrets("bob", "tester", "ann", "ann", base, "http://127.0.0.1:4444"),
        0);
    CHECK_INT_EQ(sp_policy_may_carry_secrets("bob", "tester", "ann", "ann", base,
                                             "http://api.internal:8080/x"),
                 0);
    CHECK_INT_EQ(
        sp_policy_may_carry_secrets("bob", "tester", "ann", "ann", NULL, "http://127.0.0.1:4444"),
        0);
    /* A revision someone else saved may aim the test (or a step's absolute URL) elsewhere. */
    CHECK_INT_EQ(sp_policy_may_carry_secrets("bob", "tester", "ann", "bob", base, NULL), 0);
    CHECK_INT_EQ(sp_policy_may_carry_secrets("cy", "tester", "ann", "bob", base, NULL), 0);
    /* Unknown names: nobody owns a test with no recorded author; its own revisions are its
     * owner's; an unknown starter owns nothing. */
    CHECK_INT_EQ(sp_policy_may_carry_secrets("bob", "tester", NULL, NULL, base, NULL), 1);
    CHECK_INT_EQ(sp_policy_may_carry_secrets("bob", "tester", NULL, "bob", base, NULL), 0);
    CHECK_INT_EQ(sp_policy_may_carry_secrets(NULL, "tester", NULL, NULL, base, "http://x:1"), 0);
    CHECK_INT_EQ(sp_policy_may_carry_secrets("", "viewer", "", "", base, "http://x:1"), 0);
}

/* The same decision on a real store: the owner is the author of revision 1; withheld secrets
 * come back as an empty object, and the definition then keeps the mask. */
static void test_secrets_are_withheld_from_another_target(void)
{
    sp_store *s = NULL;
    char err[256];
    CHECK_INT_EQ(sp_store_open(&s, dbpath, err, sizeof err), 0);
    const char *text = "{\"name\":\"w\",\"base_url\":\"http://127.0.0.1:9\","
                       "\"secrets\":{\"K\":\"" SP_SECRET_MASK "\"}}";
    json_t *values = json_pack("{s:s}", "K", "s3cr3t-value");
    int64_t id = 0;
    int rev = 0;
    CHECK_INT_EQ(
        sp_store_test_save(s, 0, "withheld", text, values, "ann", &id, NULL, err, sizeof err), 0);
    json_t *test = NULL, *got = NULL;
    int withheld = -1;
    CHECK_INT_EQ(sp_store_test_get(s, id, 0, &test), 0);

    CHECK_INT_EQ(sp_policy_test_secrets(s, test, NULL, "bob", "tester", &got, &withheld), 0);
    CHECK_INT_EQ(withheld, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(got, "K")), "s3cr3t-value");
    json_decref(got);

    CHECK_INT_EQ(
        sp_policy_test_secrets(s, test, "http://127.0.0.1:4444", "bob", "tester", &got, &withheld),
        0);
    CHECK_INT_EQ(withheld, 1);
    CHECK_UINT_EQ(json_object_size(got), 0);
    char *owned = NULL;
    CHECK(sp_policy_with_secrets(text, got, &owned) == text); /* the mask stays */
    json_decref(got);

    CHECK_INT_EQ(
        sp_policy_test_secrets(s, test, "http://127.0.0.1:4444", "ann", "tester", &got, &withheld),
        0);
    CHECK_INT_EQ(withheld, 0);
    CHECK_UINT_EQ(json_object_size(got), 1);
    json_decref(got);
    /* No principal (an in-process caller): trusted. */
    CHECK_INT_EQ(
        sp_policy_test_secrets(s, test, "http://127.0.0.1:4444", NULL, NULL, &got, &withheld), 0);
    CHECK_INT_EQ(withheld, 0);
    CHECK_UINT_EQ(json_object_size(got), 1);
    json_decref(got);
    json_decref(test);

    /* bob saves revision 2, keeping the stored value: his revision does not get it, even
     * aimed at the stored target, unless the owner or an admin starts it. */
    CHECK_INT_EQ(
        sp_store_test_save(s, id, "withheld", text, values, "bob", NULL, &rev, err, sizeof err), 0);
    CHECK_INT_EQ(rev, 2);
    CHECK_INT_EQ(sp_store_test_get(s, id, 0, &test), 0);
    CHECK_INT_EQ(sp_policy_test_secrets(s, test, NULL, "bob", "tester", &got, &withheld), 0);
    CHECK_INT_EQ(withheld, 1);
    json_decref(got);
    CHECK_INT_EQ(sp_policy_test_secrets(s, test, NULL, "root", "admin", &got, &withheld), 0);
    CHECK_INT_EQ(withheld, 0);
    json_decref(got);
    json_decref(test);
    /* A test without secrets withholds nothing. */
    CHECK_INT_EQ(sp_store_test_save(s, 0, "plain", "{\"name\":\"p\"}", NULL, "ann", &id, NULL, err,
                                    sizeof err),
                 0);
    CHECK_INT_EQ(sp_store_test_get(s, id, 0, &test), 0);
    CHECK_INT_EQ(sp_policy_test_secrets(s, test, "http://x:1", "bob", "tester", &got, &withheld),
                 0);
    CHECK_INT_EQ(withheld, 0);
    CHECK_UINT_EQ(json_object_size(got), 0);
    json_decref(got);
    json_decref(test);
    json_decref(values);
    sp_store_close(s);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/stampede-policy-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dbpath, sizeof dbpath, "%s/stampede.db", tmpdir);
    RUN(test_load_reads_the_caps_of_the_role);
    RUN(test_role_caps_decide_a_closed_profile);
    RUN(test_role_caps_decide_an_open_profile);
    RUN(test_allowlist_body_is_checked);
    RUN(test_allowlist_is_built_only_when_set);
    RUN(test_targets_outside_the_allowlist_are_named);
    RUN(test_caps_body_is_checked);
    RUN(test_secrets_are_masked_for_storage);
    RUN(test_secrets_are_put_back_for_a_run);
    RUN(test_secrets_go_where_their_owner_aimed_them);
    RUN(test_secrets_are_withheld_from_another_target);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
