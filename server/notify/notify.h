/*
 * notify.h - webhooks of `stampede serve` (docs/api-webhooks.md): what admins set up, the
 * deliveries of run events to them, and the delivery thread.
 *
 * A webhook is a URL, the events it wants (payload.h's list), a body format ("stampede" or
 * "slack") and a secret that signs every body (X-Stampede-Signature-256: sha256=HMAC). When a
 * run ends, the run manager's end callback (registered by server/cli/cmd_serve.c, so that the
 * manager knows nothing of webhooks) calls sp_notify_run_ended(), which only queues the run id
 * and wakes the delivery thread. That thread reads the run, builds one body per (webhook,
 * event) and stores it as a pending delivery (at most one per webhook, event and run, whatever
 * happens around a restart), then sends the deliveries that are due.
 *
 * Sending never holds anything up: the thread drives every attempt through one libcurl multi
 * handle, up to SP_NOTIFY_INFLIGHT at once and SP_NOTIFY_INFLIGHT_PER_HOOK per webhook, each
 * bounded by SP_NOTIFY_CONNECT_TIMEOUT_MS and SP_NOTIFY_TIMEOUT_MS, so a receiver that hangs
 * or answers slowly costs one slot for ten seconds and delays no run and no other receiver. An
 * answer other than 2xx, or none, is retried with exponential back-off (SP_NOTIFY_BACKOFF_MS,
 * doubling, at most SP_NOTIFY_BACKOFF_MAX_MS apart) while the delivery is younger than
 * SP_NOTIFY_RETRY_FOR_MS and has had fewer than SP_NOTIFY_MAX_ATTEMPTS attempts; then it is
 * "failed". Every attempt's outcome is kept (state, attempts, last status, last error) for the
 * admin's log, which can send any delivery again. Deliveries are rows, so pending ones survive
 * a restart and resume.
 *
 * The target allowlist does not apply to webhooks; the webhook allowlist does (same entries,
 * engine/allowlist.h), checked after DNS on every connection in libcurl's opensocket callback
 * and on every request (a reused connection) in its prereq callback, as the engine checks
 * targets. No entries: every address is allowed. Redirects are not followed, and proxies from
 * the environment are not used, so the address checked is the receiver's.
 *
 * Calling sequence (cmd_serve.c): sp_notify_new() after the store is migrated (it reads and
 * resolves the webhook allowlist); sp_notify_start() before the HTTP server (it first queues
 * the runs that this start's crash recovery marked aborted); sp_notify_run_ended() from any
 * thread; the API's calls while serving; sp_notify_free() after the HTTP server and the run
 * manager are gone (attempts in flight are abandoned and made again at the next start).
 *
 * Threads: every function but _new and _free may be called from any thread. The API's calls
 * share one SQLite connection under a mutex; the delivery thread has its own. Nothing the API
 * calls waits for the network, except sp_notify_allowlist_set() resolving host-name entries.
 *
 * Errors: 0 or a negative SP_E* code; SP_EINVAL with errs naming each field ("url",
 * "events[1]", "entries[0]"), SP_ENOTFOUND, SP_ELIMIT (SP_NOTIFY_MAX_HOOKS), SP_EIO.
 */
#ifndef SP_NOTIFY_H
#define SP_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/common.h"

typedef struct sp_notify sp_notify;

typedef struct sp_notify_config {
    const char *db_path;      /* the migrated database (copied) */
    const char *server_url;   /* links in bodies: the public URL, else the listen URL (copied;
                                 no trailing slash) */
    int64_t aborted_since_ms; /* runs ended as aborted at or after this (this start's crash
                                 recovery) are told as run.aborted; 0: none */
    /* Test hooks (STAMPEDE_TEST_WEBHOOK_RETRY, docs/operations.md); 0: the limits.h value. */
    int64_t backoff_ms;   /* SP_NOTIFY_BACKOFF_MS */
    int64_t retry_for_ms; /* SP_NOTIFY_RETRY_FOR_MS */
} sp_notify_config;

int sp_notify_new(const sp_notify_config *cfg, sp_notify **out, char *err, size_t errlen);
/* Starts the delivery thread. SP_ESYS when it cannot. */
int sp_notify_start(sp_notify *n);
void sp_notify_free(sp_notify *n);

/* A run has ended (its status is stored): its events go to the webhooks that want them.
 * Never blocks; any thread. Beyond SP_NOTIFY_QUEUE_MAX waiting runs, the run is logged and
 * dropped. */
void sp_notify_run_ended(sp_notify *n, int64_t run_id);

/*
 * Webhooks, as the calls answer them (new objects): {"id", "name", "url", "events", "format",
 * "enabled", "created_at", "updated_at", "created_by"}; create, and an update that sets or
 * rotates the secret, add "secret": the only time it is shown.
 * A body: {"url" (http or https), "events" (names from payload.h), "name" (default: the URL's
 * host), "format" ("stampede" or "slack", default "stampede"), "secret" (16 to 256 printable
 * bytes; default: made here, "whsec_" and 64 hex digits), "enabled" (default true)}; an update
 * takes the same fields, each optional, and "rotate_secret": true.
 */
int sp_notify_hook_create(sp_notify *n, const json_t *body, const char *by, json_t **out,
                          sp_errlist *errs, char *msg, size_t msglen);
int sp_notify_hook_update(sp_notify *n, int64_t id, const json_t *body, json_t **out,
                          sp_errlist *errs, char *msg, size_t msglen);
int sp_notify_hook_delete(sp_notify *n, int64_t id, json_t **deleted);
int sp_notify_hook_get(sp_notify *n, int64_t id, json_t **out);
/* {"items": [webhook...]}, oldest first. */
int sp_notify_hook_list(sp_notify *n, json_t **out);
/* Queues a "ping" delivery to webhook id now; *out is the delivery. */
int sp_notify_ping(sp_notify *n, int64_t id, json_t **out);

/*
 * The delivery log, newest first: {"items": [{"id", "webhook_id", "webhook_name", "event",
 * "run_id", "state" ("pending", "delivered", "failed"), "attempts", "created_at",
 * "last_attempt_at", "next_attempt_at", "last_status", "last_error", "last_ms",
 * "redelivery_of"}...]} of webhook hook_id (0: all), at most limit (1 to 1000).
 */
int sp_notify_deliveries(sp_notify *n, int64_t hook_id, int limit, json_t **out);
/* One delivery, with its "body" (the text sent). */
int sp_notify_delivery_get(sp_notify *n, int64_t id, json_t **out);
/* Sends delivery id again as a new delivery (same body, "redelivery_of": id); *out is it. */
int sp_notify_resend(sp_notify *n, int64_t id, json_t **out);

/* The webhook allowlist: {"entries": [...]}. */
int sp_notify_allowlist_get(sp_notify *n, json_t **out);
/* Replaces it with body {"entries": [...]} (engine/allowlist.h's entries; [] for none): parsed
 * (errs names "entries[i]"), resolved (blocking DNS), stored, and in force for the next
 * attempt. */
int sp_notify_allowlist_set(sp_notify *n, const json_t *body, sp_errlist *errs, char *msg,
                            size_t msglen);

/* "scheme://host[:port]" of a URL, for the audit log and the server log: a webhook's path may
 * hold a token (Slack's do), so only this much is ever written there. */
void sp_notify_url_origin(const char *url, char *out, size_t outlen);

#endif
