/*
 * api_auth.h - the access control routes under /api/v1: login, logout, me, password, API
 * tokens, users and the audit log (docs/security.md, docs/api.md). The decisions about who
 * may call what are made before these run, by sp_http_access_check(); these handlers only
 * act, on the sp_auth given to the HTTP server (which keeps its own database connections, so
 * no route here takes the kit's), and write the audit log. Registered by api.c.
 */
#ifndef SP_API_AUTH_H
#define SP_API_AUTH_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_auth_routes[];
extern const size_t sp_api_auth_nroutes;

#endif
