/*
 * payload.h - what a webhook receives (docs/api-webhooks.md): the body of an event in
 * Stampede's JSON or as a Slack-compatible incoming-webhook message, and its signature.
 *
 * A body is built once per delivery from the run as the store answers it (sp_store_run_get)
 * and every attempt sends those bytes. It is made only of the fields named below, picked one
 * by one: whatever else the run row holds (its overrides, a test's secrets, failure messages)
 * never reaches a receiver, and neither does the webhook's secret, which only signs.
 *
 * Stampede's JSON:
 *   {"event", "created_at" (ms), "server",
 *    "run": {"id", "test_id", "test_name", "revision", "status", "origin", "schedule_id",
 *            "started_by", "created_at", "started_at", "ended_at", "duration_s", "error"},
 *    "verdicts": [{"threshold", "passed", "measured", "metric", "name"}...],
 *    "figures": {"requests", "failures", "error_rate", "rps", "p50_ms", "p95_ms", "p99_ms",
 *                "max_ms"} (null before the run has a summary),
 *    "links": {"run": SERVER/#/runs/ID, "report": SERVER/api/v1/runs/ID/export.html}}
 * Slack: {"text": one line, "blocks": [a section in mrkdwn, a context line]}, with &, < and >
 * of every text from a test or a user written as &amp; &lt; &gt; (Slack's rule), so a test
 * named "<!channel>" notifies nobody.
 *
 * Threads: pure; any thread.
 */
#ifndef SP_NOTIFY_PAYLOAD_H
#define SP_NOTIFY_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/common.h"

/* The events a webhook may ask for, NULL-terminated (docs/api-webhooks.md says what fires
 * each). */
extern const char *const sp_payload_events[];
/* Whether name is one of them. */
int sp_payload_event_known(const char *name);

/*
 * The body of event for run (borrowed; an object as sp_store_run_get() answers, whatever it
 * holds) in format "stampede" or "slack", with links under server (no trailing slash; may be
 * "") and created_at now_ms. A new NUL-terminated string (free()), *len its length; NULL when
 * it would pass SP_NOTIFY_BODY_MAX (never for a run the server made).
 */
char *sp_payload_run(const char *event, const json_t *run, const char *format, const char *server,
                     int64_t now_ms, size_t *len);

/* The body of a "ping" (a test delivery an admin asks for) to webhook hook_name. */
char *sp_payload_ping(int64_t hook_id, const char *hook_name, const char *format,
                      const char *server, int64_t now_ms, size_t *len);

/*
 * The signature header's value for body: "sha256=" and the lower-case hex HMAC-SHA256 of the
 * body's bytes with the secret's bytes as the key (what GitHub's X-Hub-Signature-256 is), into
 * out (at least SP_PAYLOAD_SIG_LEN bytes).
 */
#define SP_PAYLOAD_SIG_LEN 72
void sp_payload_sign(const char *secret, size_t secret_len, const void *body, size_t len,
                     char *out);

#endif
