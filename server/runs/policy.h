/*
 * policy.h - what a run may do beyond what its definition says: the target allowlist, caps per
 * role, and the secrets of test definitions, as the REST API handles them.
 *
 * The settings live in the store (migrations/0004_policy.sql); this module checks the REST
 * bodies that change them, reads them for a start (sp_policy_load -> sp_runs_policy), and
 * splits a definition's secrets from the text that is stored and shown.
 *
 * Threads: no state of its own; each call uses the connection it is given, which belongs to
 * the calling thread (store.h).
 */
#ifndef SP_POLICY_H
#define SP_POLICY_H

#include <jansson.h>

#include "engine/common.h"
#include "runs/runs.h"
#include "store/store.h"

/* The settings that apply to one start, and the memory they point into. */
typedef struct sp_policy {
    sp_runs_policy run; /* points into the fields below */
    json_t *allow;      /* array of entry strings (owned) */
    const char **entries;
    char role[16];
} sp_policy;

/* Reads the allowlist and role's caps. On success the caller owns p (sp_policy_release).
 * Store errors are returned as they are (SP_EIO...). */
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
 * Splits a definition document's secrets: when doc has a "secrets" object, *secrets gets a new
 * object name -> value (as sent; the mask stands for "keep the stored value") and *text a new
 * JSON text of doc with the mask in place of each value (free() it). Without secrets both are
 * NULL and the document is stored as sent. Never fails (a malformed "secrets" was refused by
 * the loader before).
 */
void sp_policy_split_secrets(const json_t *doc, char **text, json_t **secrets);

#endif
