/*
 * policy.c - see policy.h.
 */
#include "runs/policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/limits.h"

int sp_policy_load(sp_policy *p, sp_store *s, const char *role)
{
    memset(p, 0, sizeof *p);
    snprintf(p->role, sizeof p->role, "%s", role ? role : "");
    json_t *caps = NULL;
    int rc = sp_store_allowlist_get(s, &p->allow);
    if (rc)
        goto out;
    rc = sp_store_caps_get(s, &caps);
    if (rc)
        goto out;
    size_t n = json_array_size(p->allow);
    p->entries = sp_calloc(n ? n : 1, sizeof *p->entries);
    for (size_t i = 0; i < n; i++)
        p->entries[i] = json_string_value(json_array_get(p->allow, i)); /* borrowed */
    p->run.role = p->role;
    p->run.allow = p->entries;
    p->run.nallow = n;
    const json_t *c = json_object_get(caps, p->role); /* borrowed */
    json_int_t vus = json_integer_value(json_object_get(c, "max_vus"));
    json_int_t dur = json_integer_value(json_object_get(c, "max_duration_s"));
    json_int_t conc = json_integer_value(json_object_get(c, "max_concurrent_runs"));
    p->run.max_vus = vus > 0 && vus < UINT32_MAX ? (uint32_t)vus : 0;
    p->run.max_rate = json_number_value(json_object_get(c, "max_rate"));
    p->run.max_duration_ms = dur > 0 ? (uint64_t)dur * 1000 : 0;
    p->run.max_concurrent_runs = conc > 0 && conc < UINT32_MAX ? (unsigned)conc : 0;
out:
    json_decref(caps);
    if (rc)
        sp_policy_release(p);
    return rc;
}

void sp_policy_release(sp_policy *p)
{
    json_decref(p->allow);
    free(p->entries);
    memset(p, 0, sizeof *p);
}

int sp_policy_check_allowlist(const json_t *body, sp_errlist *errs)
{
    if (!json_is_object(body)) {
        sp_errlist_add(errs, "", "expected {\"entries\": [\"127.0.0.0/8\", \"localhost:8090\"]}");
        return SP_EINVAL;
    }
    const char *key;
    json_t *v;
    int bad = 0;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "entries") != 0) {
            sp_errlist_add(errs, key, "unknown field (the body is {\"entries\": [...]})");
            bad = 1;
        }
    }
    const json_t *entries = json_object_get(body, "entries");
    if (!json_is_array(entries)) {
        sp_errlist_add(errs, "entries",
                       entries ? "must be an array of strings" : "missing required field");
        return SP_EINVAL;
    }
    size_t n = json_array_size(entries);
    if (n > SP_ALLOW_MAX_ENTRIES) {
        sp_errlist_add(errs, "entries", "%zu entries; at most %d are allowed", n,
                       SP_ALLOW_MAX_ENTRIES);
        return SP_EINVAL;
    }
    const char **list = sp_calloc(n ? n : 1, sizeof *list);
    size_t i;
    json_array_foreach(entries, i, v)
    {
        if (!json_is_string(v)) {
            char path[32];
            snprintf(path, sizeof path, "entries[%zu]", i);
            sp_errlist_add(errs, path, "must be a string such as \"127.0.0.0/8\"");
            bad = 1;
            list[i] = "";
        } else {
            list[i] = json_string_value(v);
        }
    }
    sp_allowlist *al = NULL;
    if (!bad && sp_allowlist_new(list, n, &al, errs) != 0)
        bad = 1;
    sp_allowlist_free(al);
    free(list);
    return bad ? SP_EINVAL : 0;
}

int sp_policy_check_caps(const json_t *body, json_t **out, sp_errlist *errs)
{
    static const char *const roles[] = {"admin", "tester", "viewer"};
    static const char *const fields[] = {"max_vus", "max_rate", "max_duration_s",
                                         "max_concurrent_runs"};
    *out = NULL;
    if (!json_is_object(body)) {
        sp_errlist_add(errs, "", "expected {\"tester\": {\"max_vus\": 200, ...}, ...}");
        return SP_EINVAL;
    }
    json_t *res = json_object();
    const char *role;
    json_t *c;
    json_object_foreach((json_t *)body, role, c)
    {
        const char *near = sp_suggest(role, roles, 3);
        int known = 0;
        for (size_t i = 0; i < 3; i++)
            known |= strcmp(role, roles[i]) == 0;
        if (!known) {
            sp_errlist_add(errs, role, "unknown role%s%s%s (roles: admin, tester, viewer)",
                           near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            continue;
        }
        if (!json_is_object(c)) {
            sp_errlist_add(errs, role, "must be an object of caps");
            continue;
        }
        json_t *r = json_pack("{s:i, s:f, s:i, s:i}", "max_vus", 0, "max_rate", 0.0,
                              "max_duration_s", 0, "max_concurrent_runs", 0);
        const char *f;
        json_t *v;
        json_object_foreach(c, f, v)
        {
            char path[64];
            snprintf(path, sizeof path, "%s.%.40s", role, f);
            size_t k = 0;
            while (k < 4 && strcmp(f, fields[k]) != 0)
                k++;
            if (k == 4) {
                const char *nf = sp_suggest(f, fields, 4);
                sp_errlist_add(errs, path, "unknown field%s%s%s", nf ? " (did you mean '" : "",
                               nf ? nf : "", nf ? "'?)" : "");
            } else if (k == 1) {
                if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
                    json_number_value(v) < 0 || json_number_value(v) > 1e9)
                    sp_errlist_add(errs, path, "must be a number from 0 (no cap) to 1e9");
                else
                    json_object_set_new(r, f, json_real(json_number_value(v)));
            } else if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                       json_integer_value(v) > 1000000000) {
                sp_errlist_add(errs, path, "must be a whole number from 0 (no cap) to 1000000000");
            } else {
                json_object_set_new(r, f, json_integer(json_integer_value(v)));
            }
        }
        json_object_set_new(res, role, r);
    }
    if (errs->n || errs->dropped) {
        json_decref(res);
        return SP_EINVAL;
    }
    *out = res;
    return 0;
}

void sp_policy_split_secrets(const json_t *doc, char **text, json_t **secrets)
{
    *text = NULL;
    *secrets = NULL;
    const json_t *ds = json_object_get(doc, "secrets");
    if (!json_is_object(ds))
        return;
    *secrets = json_deep_copy(ds);
    json_t *masked = json_copy((json_t *)doc); /* shallow: "secrets" is replaced below */
    json_t *ms = json_object();
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)ds, name, v)
        json_object_set_new(ms, name, json_string(SP_SECRET_MASK));
    json_object_set_new(masked, "secrets", ms);
    *text = json_dumps(masked, JSON_INDENT(2));
    json_decref(masked);
}

int sp_policy_check_load(const sp_policy_rules *pol, const sp_def *def, const char **cap, char *msg,
                         size_t msglen)
{
    const char *role = pol->role && *pol->role ? pol->role : "?";
    if (pol->max_duration_ms && def->load.total_ms > pol->max_duration_ms) {
        *cap = "max_duration_s";
        snprintf(msg, msglen, "duration %.0fs exceeds the %s cap max_duration_s=%.0f",
                 (double)def->load.total_ms / 1000.0, role, (double)pol->max_duration_ms / 1000.0);
        return SP_ELIMIT;
    }
    int open = def->load.model == SP_LOAD_OPEN;
    if (open && pol->max_vus && def->load.max_vus > pol->max_vus) {
        *cap = "max_vus";
        snprintf(msg, msglen, "max_vus %u exceeds the %s cap max_vus=%u", def->load.max_vus, role,
                 pol->max_vus);
        return SP_ELIMIT;
    }
    for (size_t i = 0; i < def->load.nstages; i++) {
        double t = def->load.stages[i].target;
        if (!open && pol->max_vus && t > pol->max_vus) {
            *cap = "max_vus";
            snprintf(msg, msglen, "users %.0f exceeds the %s cap max_vus=%u", t, role,
                     pol->max_vus);
            return SP_ELIMIT;
        }
        if (open && pol->max_rate > 0 && t > pol->max_rate) {
            *cap = "max_rate";
            snprintf(msg, msglen, "rate %g/s exceeds the %s cap max_rate=%g", t, role,
                     pol->max_rate);
            return SP_ELIMIT;
        }
    }
    return 0;
}

/* An absolute http(s) URL's authority holds no template hole: it can be checked now. (A hole
 * there is checked by the engine, at connection time, like every request.) */
static int checkable_url(const char *u)
{
    const char *p;
    if (strncasecmp(u, "http://", 7) == 0)
        p = u + 7;
    else if (strncasecmp(u, "https://", 8) == 0)
        p = u + 8;
    else
        return 0;
    size_t alen = strcspn(p, "/?#");
    for (size_t i = 0; i + 1 < alen; i++)
        if (p[i] == '{' && p[i + 1] == '{')
            return 0;
    return 1;
}

/* Walks the document for every request's absolute URL and checks each against al; the first
 * refused one is added to errs with its path. Returns 1 when one was refused. */
static int check_targets_in(const sp_allowlist *al, const json_t *j, sp_buf *path, sp_errlist *errs)
{
    size_t mark = path->len;
    int bad = 0;
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)j, key, v)
        {
            (void)sp_buf_addf(path, "%s%.100s", mark ? "." : "", key);
            const json_t *url = json_is_object(v) ? json_object_get(v, "url") : NULL;
            if (strcmp(key, "request") == 0 && json_is_string(url) &&
                checkable_url(json_string_value(url))) {
                char why[400];
                if (sp_allowlist_check_url(al, json_string_value(url), why, sizeof why) != 0) {
                    (void)sp_buf_adds(path, ".url");
                    sp_errlist_add(errs, path->p, "%s", why);
                    bad = 1;
                }
            } else {
                bad = check_targets_in(al, v, path, errs);
            }
            path->len = mark;
            if (path->p)
                path->p[mark] = '\0';
            if (bad)
                break;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            (void)sp_buf_addf(path, "[%zu]", i);
            bad = check_targets_in(al, v, path, errs);
            path->len = mark;
            if (path->p)
                path->p[mark] = '\0';
            if (bad)
                break;
        }
    }
    return bad;
}

int sp_policy_allowlist(const sp_policy_rules *rules, sp_allowlist **out, sp_errlist *errs)
{
    *out = NULL;
    if (!rules || !rules->nallow)
        return 0;
    if (sp_allowlist_new(rules->allow, rules->nallow, out, errs) != 0)
        return SP_EINVAL;
    sp_allowlist_resolve(*out);
    return 0;
}

int sp_policy_check_targets(const sp_allowlist *al, const sp_def *def, sp_errlist *errs)
{
    if (def->base_url && checkable_url(def->base_url)) {
        char why[400];
        if (sp_allowlist_check_url(al, def->base_url, why, sizeof why) != 0) {
            sp_errlist_add(errs, "base_url", "%s", why);
            return SP_EINVAL;
        }
    }
    sp_buf path;
    sp_buf_init(&path, 4096);
    int bad = check_targets_in(al, json_object_get(def->doc, "users"), &path, errs);
    if (bad && errs->n) {
        /* Paths are relative to "users". */
        sp_error *e = &errs->v[errs->n - 1];
        sp_buf full;
        sp_buf_init(&full, 4200);
        (void)sp_buf_addf(&full, "users%s", e->path);
        free(e->path);
        e->path = sp_buf_detach(&full, NULL);
    }
    sp_buf_release(&path);
    return bad ? SP_EINVAL : 0;
}

/* Whether a and b are the same, NULL being a value of its own. */
static int same_name(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Whether two base URLs are the same target as written, trailing slashes aside. A spelling that
 * differs ("http://LOCALHOST:80") counts as another target: it errs on the side of the secrets. */
static int same_base(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    while (na && a[na - 1] == '/')
        na--;
    while (nb && b[nb - 1] == '/')
        nb--;
    return na == nb && memcmp(a, b, na) == 0;
}

int sp_policy_may_carry_secrets(const char *user, const char *role, const char *owner,
                                const char *revision_by, const char *stored_base_url,
                                const char *base_url_override)
{
    if (role && strcmp(role, "admin") == 0)
        return 1;
    if (user && *user && owner && strcmp(user, owner) == 0)
        return 1;
    if (base_url_override && !same_base(base_url_override, stored_base_url ? stored_base_url : ""))
        return 0;
    return same_name(revision_by, owner);
}

int sp_policy_test_secrets(sp_store *s, const json_t *test, const char *base_url_override,
                           const char *user, const char *role, json_t **secrets, int *withheld)
{
    *secrets = NULL;
    *withheld = 0;
    int64_t id = json_integer_value(json_object_get(test, "id"));
    json_t *first = NULL;
    int rc = sp_store_test_secrets(s, id, secrets);
    if (rc || !json_object_size(*secrets) || !role)
        goto out;
    rc = sp_store_test_get(s, id, 1, &first);
    if (rc)
        goto out;
    const char *text = json_string_value(json_object_get(test, "definition"));
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    const char *stored_base = json_string_value(json_object_get(doc, "base_url"));
    if (!sp_policy_may_carry_secrets(
            user, role, json_string_value(json_object_get(first, "revision_created_by")),
            json_string_value(json_object_get(test, "revision_created_by")), stored_base,
            base_url_override)) {
        json_object_clear(*secrets);
        *withheld = 1;
    }
    json_decref(doc);
out:
    json_decref(first);
    if (rc) {
        json_decref(*secrets);
        *secrets = NULL;
    }
    return rc;
}

const char *sp_policy_with_secrets(const char *text, const json_t *secrets, char **owned)
{
    *owned = NULL;
    if (!json_object_size(secrets))
        return text;
    json_t *doc = json_loads(text, 0, NULL);
    json_t *ds = json_object_get(doc, "secrets"); /* borrowed */
    if (!json_is_object(ds)) {
        json_decref(doc);
        return text;
    }
    const char *name;
    json_t *v;
    json_object_foreach(ds, name, v)
    {
        json_t *real = json_object_get(secrets, name);
        if (json_is_string(real) && json_is_string(v) &&
            strcmp(json_string_value(v), SP_SECRET_MASK) == 0)
            json_object_set(ds, name, real); /* a new reference to real */
    }
    *owned = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return *owned ? *owned : text;
}
