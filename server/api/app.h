/*
 * app.h - struct sp_api, the state the REST handlers share: the HTTP server's application
 * pointer (sp_http_req_app) points at one.
 *
 * It is defined here rather than in api.c so that the handler kit (kit.c) can reach the pool
 * and the paths without calling up into api.c, which assembles the route tables of every
 * handler file: api.c -> api_*.c -> kit.c -> app.h, pool.h, with no way back. Only api.c
 * (which creates, fills and frees it) and kit.c (which hands its parts to handlers) include
 * this header; handlers go through kit.h.
 *
 * Threads: every field is set by sp_api_new() (runs, sched and notify by sp_api_set_*(),
 * before the HTTP server starts) and read-only afterwards; the pool has its own lock.
 */
#ifndef SP_API_APP_H
#define SP_API_APP_H

#include <stdint.h>

#include "api/pool.h"

struct sp_runs;
struct sp_sched;
struct sp_notify;
struct sp_agents;

struct sp_api {
    char *db_path;
    char *data_dir;
    char *files_dir; /* data_dir/files: the only place definitions may read CSV files from */
    char *web_root;  /* realpath of --web-root, NULL when none */
    uint16_t live_port;
    char *live_url; /* NULL: none */
    int first_start;
    struct sp_runs *runs;     /* the run manager (api_runs.c), set before serving */
    struct sp_sched *sched;   /* schedules (api_schedules.c), set before serving; may be NULL */
    struct sp_notify *notify; /* webhooks (api_webhooks.c), set before serving; may be NULL */
    struct sp_agents *agents; /* connected agents (api_agents.c), set before serving; may be NULL */
    sp_pool *pool;            /* connections to db_path */
};

#endif
