/*
 * api_tools.h - the REST routes that help build a test without running a load: imports (a
 * HAR recording, an OpenAPI document) and "Try it" (one pass of a test's steps, every request
 * and response shown). See docs/api.md ("Imports", "Try it"). Registered by api.c.
 *
 * Threads: handlers run on libmicrohttpd's workers. A try blocks its worker for up to
 * SP_TRY_MAX_MS, so at most SP_TRY_MAX_CONCURRENT run at once (a process-wide count); more are
 * answered 503 with Retry-After, and the other HTTP workers stay free for the API. A try holds
 * no store connection while it runs (it takes one for each read before).
 */
#ifndef SP_API_TOOLS_H
#define SP_API_TOOLS_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_tools_routes[];
extern const size_t sp_api_tools_nroutes;

#endif
