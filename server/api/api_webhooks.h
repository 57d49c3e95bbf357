/*
 * api_webhooks.h - the admin routes of webhooks (docs/api-webhooks.md):
 *     GET/POST /api/v1/webhooks                      list, create (the secret shown once)
 *     GET/PUT/DELETE /api/v1/webhooks/:id            one; change the fields given; delete
 *     POST /api/v1/webhooks/:id/ping                 a test delivery now
 *     GET  /api/v1/webhooks/deliveries               the log (?webhook_id=, ?limit=)
 *     GET  /api/v1/webhooks/deliveries/:id           one delivery with the body sent
 *     POST /api/v1/webhooks/deliveries/:id/resend    send it again
 *     GET/PUT /api/v1/settings/webhook-allowlist     {"entries": [...]}
 * Every change is in the audit log, naming a webhook by its URL's origin only (a path may hold
 * a token). Registered by api.c; the handlers use server/notify/notify.h, which keeps its own
 * connection.
 */
#ifndef SP_API_WEBHOOKS_H
#define SP_API_WEBHOOKS_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_webhooks_routes[];
extern const size_t sp_api_webhooks_nroutes;

#endif
