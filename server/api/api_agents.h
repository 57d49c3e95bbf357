/*
 * api_agents.h - the agents connected to this server (server/agents/agents.h) over REST:
 * GET /api/v1/agents lists them with their state, capacity, clock offset and, while they run,
 * their generator health (docs/agents-protocol.md).
 *
 * Threads: handlers run on the HTTP server's threads; the registry has its own lock.
 */
#ifndef SP_API_AGENTS_H
#define SP_API_AGENTS_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_agents_routes[];
extern const size_t sp_api_agents_nroutes;

#endif
