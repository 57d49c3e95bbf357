/*
 * policy.h - what a run may do beyond what its definition says: the target allowlist, caps per
 * role, and the secrets of test definitions, as the REST API handles them.
 *
 * The settings live in the store (migrations/0004_policy.sql). This module checks the REST
 * bodies that change them (sp_policy_check_allowlist, sp_policy_check_caps), reads them for a
 * start (sp_policy_load -> sp_policy_rules), and makes the decisions a start takes with them:
 * whether a loaded definition's profile is within the role's caps (sp_policy_check_load) and
 * whether every target it names is in the allowlist (sp_policy_allowlist, then
 * sp_policy_check_targets). It also splits a definition's secrets from the text that is stored
 * and shown (sp_policy_split_secrets) and puts them back for a run or a try
 * (sp_policy_with_secrets).
 *
 * Calling sequence of a start (server/runs/runs.c; a try, server/api/api_tools.c, skips the
 * caps: it is one VU for a bounded time):
 *     sp_policy_test_secrets(s, test, base_url, user, role, &secrets, &withheld);
 *     sp_policy_with_secrets(text, secrets, &owned);     the definition to load
 *     sp_policy_load(&p, s, role);                       the settings as they are now
 *     sp_policy_check_load(&p.run, def, &cap, msg, n);   the role's caps
 *     sp_policy_allowlist(&p.run, &al, errs);            built and resolved (DNS), NULL: none
 *     sp_policy_check_targets(al, def, errs);            every target the definition names
 *     sp_policy_release(&p);
 *
 * Threads: no state of its own; each call uses the connection it is given, which belongs to
 * the calling thread (store.h). Everything else is pure.
 */
#ifndef SP_POLICY_H
#define SP_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/allowlist.h"
#include "engine/common.h"
#include "engine/definition.h"
#include "store/store.h"

/*
 * The rules one start follows: what its starter's role may do (server/api/api_runs.c reads
 * them from the store for the request's principal). Caps of 0 are no caps; the run manager's
 * own caps (sp_runs_config) apply on top.
 */
typedef struct sp_policy_rules {
    const char *role;             /* the starter's role: named in messages; runs are counted
                                     per role for max_concurrent_runs */
    uint32_t max_vus;             /* VUs of any stage (closed) or the VU pool (open) */
    double max_rate;              /* open model: iterations/s of any stage */
    uint64_t max_duration_ms;     /* a run's planned duration */
    unsigned max_concurrent_runs; /* runs started by this role going at once */
    const char *const *allow;     /* target allowlist entries; nallow 0: every target allowed */
    size_t nallow;
} sp_policy_rules;

/* The settings that apply to one start, and the memory they point into. */
typedef struct sp_policy {
    sp_policy_rules run; /* points into the fields below */
    json_t *allow;       /* array of entry strings (owned) */
    const char **entries;
    char role[16];
} sp_policy;

/* Reads the allowlist and role's caps (a role without caps, or an unknown one, gets none). On
 * success the caller owns p (sp_policy_release). Store errors are returned as they are
 * (SP_EIO...). */
int sp_policy_load(sp_policy *p, sp_store *s, const char *role);
void sp_policy_release(sp_policy *p);

/*
 * Checks a PUT /settings/allowlist body {"entries": [...]}: an object with exactly that field,
 * an array of at most SP_ALLOW_MAX_ENTRIES strings, each a valid entry (engine/allowlist.h).
 * Every problem goes to errs with its path ("entries[2]"). Returns 0 or SP_EINVAL.
 */
int sp_policy_check_allowlist(const json_t *body, sp_errlist *errs);

/*
 * Checks a PUT /settings/caps body: an object of roles ("admin", "tester", "viewer"), each an
 * object of "max_vus", "max_rate", "max_duration_s", "max_concurrent_runs" (numbers >= 0;
 * every field but max_rate whole; missing fields are 0). On success returns 0 and *out, a new
 * object with all four fields for each role given; else SP_EINVAL with errs filled.
 */
int sp_policy_check_caps(const json_t *body, json_t **out, sp_errlist *errs);

/*
 * Checks a loaded definition's profile (after overrides) against the caps of rules: the
 * planned duration, the VUs of every stage (closed model) or the VU pool (open model), and the
 * rate of every stage (open model). Returns 0, or SP_ELIMIT with *cap naming the cap
 * ("max_duration_s", "max_vus", "max_rate"; static) and msg saying by how much ("users 500
 * exceeds the tester cap max_vus=200"). max_concurrent_runs is the run manager's to count.
 */
int sp_policy_check_load(const sp_policy_rules *rules, const sp_def *def, const char **cap,
                         char *msg, size_t msglen);

/*
 * The allowlist of rules, parsed and resolved (blocking: host-name entries are looked up), in
 * *out (owned by the caller, sp_allowlist_free); NULL when rules has no entries (every target
 * is allowed). SP_EINVAL with errs filled when a stored entry does not parse.
 */
int sp_policy_allowlist(const sp_policy_rules *rules, sp_allowlist **out, sp_errlist *errs);

/*
 * Checks every target def names against al (not NULL): its base_url (after overrides) and
 * each request's absolute http(s) URL whose host and port hold no template (those are checked
 * by the engine when it connects). Returns 0, or SP_EINVAL with the first refused target in
 * errs, its path the URL's field ("base_url", "users[0].tasks[1].steps[0].request.url") and a
 * message naming it. Blocking: a host name no entry names is resolved.
 */
int sp_policy_check_targets(const sp_allowlist *al, const sp_def *def, sp_errlist *errs);

/*
 * Splits a definition document's secrets: when doc has a "secrets" object, *secrets gets a new
 * object name -> value (as sent; the mask stands for "keep the stored value") and *text a new
 * JSON text of doc with the mask in place of each value (free() it). Without secrets both are
 * NULL and the document is stored as sent. Never fails (a malformed "secrets" was refused by
 * the loader before).
 */
void sp_policy_split_secrets(const json_t *doc, char **text, json_t **secrets);

/*
 * Whether a run or a try of a stored test may carry the test's secrets (docs/security.md,
 * "Secrets and other targets"). Secrets go where the test's owner aimed them: the owner (who
 * created the test), or any admin, may send them anywhere; anyone else only to the stored
 * test's target as its owner saved it, that is with no base_url override other than the stored
 * base_url (trailing slashes aside), and at a revision the owner saved (an edit by someone else
 * may have aimed the test, or a step's absolute URL, elsewhere). The whole run goes without them
 * otherwise, the steps whose absolute URL the override does not change included: a secret may
 * be written into any request, and those go to the override. Returns 1 when it may.
 * user, owner and revision_by may be NULL (unknown: an owner of NULL is nobody's; a revision by
 * NULL of a test owned by NULL counts as the owner's); a user of NULL or "" owns nothing. Pure.
 */
int sp_policy_may_carry_secrets(const char *user, const char *role, const char *owner,
                                const char *revision_by, const char *stored_base_url,
                                const char *base_url_override);

/*
 * The secrets a run or a try of a stored test may carry: test is its row at the revision about
 * to run (sp_store_test_get: "id", "definition", "revision_created_by"), base_url_override the
 * start's (NULL: none), user and role the starter's (role NULL: an in-process caller with no
 * principal, such as a unit test, trusted as an admin). Reads the test's owner (the author of
 * its revision 1) and its secrets. On success *secrets is a new object (empty when withheld or
 * when there are none) and *withheld is 1 when the test has secrets that this start may not
 * carry (sp_policy_may_carry_secrets): the definition then runs with the mask as each value.
 * Store errors are returned as they are (the message is on s).
 */
int sp_policy_test_secrets(sp_store *s, const json_t *test, const char *base_url_override,
                           const char *user, const char *role, json_t **secrets, int *withheld);

/*
 * The reverse, for a run or a try: the stored definition text holds the mask in place of each
 * secret's value; each masked secret that has a value in secrets (the test's, from
 * sp_store_test_secrets, borrowed) gets it back. Returns the text to load: text itself when
 * there is nothing to put back, else a new string (*owned, free() it; NULL otherwise).
 */
const char *sp_policy_with_secrets(const char *text, const json_t *secrets, char **owned);

#endif
