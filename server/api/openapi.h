/*
 * openapi.h - the OpenAPI 3 description of the REST API (GET /api/v1/openapi.json), built from
 * the route table the server serves, so that it lists every route and nothing else: each
 * route's path (":id" becomes "{id}", a final "*" becomes "{path}"), its query parameters, its
 * permission (x-permission) and security, its success status and its JSON body.
 *
 * Threads: pure; any thread may build one at any time.
 */
#ifndef SP_API_OPENAPI_H
#define SP_API_OPENAPI_H

#include <stddef.h>

#include <jansson.h>

#include "http/http.h"

/* The description of routes[0..n) as a new JSON object (the caller owns the reference), or
 * NULL when Jansson could not build it (out of memory). */
json_t *sp_openapi_build(const sp_http_route *routes, size_t n);

#endif
