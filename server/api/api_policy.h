/*
 * api_policy.h - the admin routes of the target allowlist and the caps per role:
 *     GET/PUT /api/v1/settings/allowlist   {"entries": ["127.0.0.0/8", "localhost:8090"]}
 *     GET/PUT /api/v1/settings/caps        {"admin": {...}, "tester": {...}, "viewer": {...}}
 * A PUT replaces the whole setting; it is checked first (422 naming each bad entry or field,
 * server/runs/policy.h) and nothing is written when it fails. The settings are read again at
 * every run start. Registered by api.c; handlers get their connection from the kit.
 */
#ifndef SP_API_POLICY_H
#define SP_API_POLICY_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_policy_routes[];
extern const size_t sp_api_policy_nroutes;

#endif
