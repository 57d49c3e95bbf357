/*
 * api_runs.h - the run routes of the REST API: start, list, get, stop, change load, stats,
 * series, live points, failures, compare and exports (docs/api-runs.md for the shapes).
 * Registered by api.c.
 *
 * Threads: handlers run on libmicrohttpd's workers; each gets a pooled store connection for
 * the request (SP_API_STORE, server/api/kit.h) and uses the run manager, which is thread-safe.
 * A start holds its connection while sp_runs_start() opens the run's own.
 */
#ifndef SP_API_RUNS_H
#define SP_API_RUNS_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_runs_routes[];
extern const size_t sp_api_runs_nroutes;

#endif
