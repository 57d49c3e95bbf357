/*
 * api_web.h - the dashboard's routes: GET / and GET /assets/PATH, from --web-root when one is
 * given and holds the file, else compiled into the binary (api/web.h). Paths are limited to
 * [A-Za-z0-9._-] segments, none starting with '.'; a file of the web root reached through a
 * symbolic link that leaves the root is not served. Compiled-in files carry an ETag and answer
 * a matching If-None-Match with 304. Registered by api.c.
 *
 * Threads: handlers read only the immutable web root path and the static embedded files.
 */
#ifndef SP_API_WEB_H
#define SP_API_WEB_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_web_routes[];
extern const size_t sp_api_web_nroutes;

#endif
