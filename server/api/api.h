/*
 * api.h - the REST API under /api/v1 and the dashboard's static files, as `stampede serve`
 * (server/cli/cmd_serve.c) uses them: the API's state, the route table to serve, seeding and
 * checkpoints.
 *
 * Calling sequence (main thread): sp_api_new() opens the database (migrating it) and marks
 * runs left running by a dead process as aborted; sp_api_set_runs() once the run manager
 * exists; sp_api_seed_examples() once on a new database; sp_api_routes() is given to
 * sp_http_server_new() with the sp_api as its app pointer; sp_api_checkpoint() now and then;
 * sp_api_free() after sp_http_server_free().
 *
 * Inside: api.c assembles the route tables that the handler files register (api_web,
 * api_tests, api_runs, api_policy, api_auth, api_tools, api_files; each exports a table of
 * sp_api_route, server/api/kit.h) and serves the service routes itself (health, config,
 * openapi.json, built by openapi.c from the assembled table). Handlers share one kit (kit.h):
 * the pooled store connection of a request (pool.h), the one id parser, query numbers and the
 * usual answers. The state they share is struct sp_api (app.h). The modules depend one way:
 * api -> api_* -> kit -> app, pool.
 *
 * Threads: handlers run on libmicrohttpd's worker threads, each with an SQLite connection
 * taken from the pool for the request (a connection is used by one thread at a time, as
 * store.h requires), so reads on different threads run in parallel under WAL. The rest of
 * sp_api is immutable once the server serves.
 */
#ifndef SP_API_H
#define SP_API_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

typedef struct sp_api sp_api;

typedef struct sp_api_config {
    const char *data_dir; /* exists; the database is data_dir/stampede.db */
    const char *web_root; /* NULL: the built-in placeholder page */
    uint16_t live_port;   /* reported by GET /api/v1/config */
    const char *live_url; /* the same, as a URL behind a proxy (--live-url); NULL: none */
} sp_api_config;

/* Opens the store and recovers from a crash. On failure err says why (e.g. a database written
 * by a newer Stampede) and *out is NULL. */
int sp_api_new(sp_api **out, const sp_api_config *cfg, char *err, size_t errlen);
/* Closes every pooled connection. Call after the HTTP server is stopped. NULL is ignored. */
void sp_api_free(sp_api *api);
/* Whether the database file did not exist before sp_api_new() (a first start). */
int sp_api_is_first_start(const sp_api *api);

/*
 * Stores every .json file in examples_dir that is a valid definition as a test, in name order, with
 * base_url replaced by shop_url when it is not NULL. Invalid or unreadable files are logged
 * and skipped. Returns the number stored, or a negative SP_E* code when the directory cannot
 * be read.
 */
int sp_api_seed_examples(sp_api *api, const char *examples_dir, const char *shop_url);

/*
 * Checkpoints the database's WAL into the main file (see sp_store_checkpoint): the server's
 * main thread calls it every SP_API_CHECKPOINT_S seconds with truncate 0, and once with
 * truncate 1 after the HTTP server has stopped. Failures are logged and returned.
 */
int sp_api_checkpoint(sp_api *api, int truncate);

/* The route table, in the order it is served and described: the dashboard, the service
 * routes, then those of api_tests.c, api_runs.c, api_schedules.c, api_policy.c,
 * api_webhooks.c, api_auth.c, api_tools.c and api_files.c (built once, static afterwards;
 * thread-safe). */
const sp_http_route *sp_api_routes(size_t *n);

struct sp_runs;
struct sp_sched;
struct sp_notify;
/* The run manager the run routes use; set once by serve.c before the HTTP server starts. */
void sp_api_set_runs(sp_api *api, struct sp_runs *runs);
/* The agents' registry (GET /agents), before serving; may stay unset. */
struct sp_agents;
void sp_api_set_agents(sp_api *api, struct sp_agents *agents);
/* The scheduler and the webhooks their routes use; set once before the HTTP server starts
 * (without them those routes answer 409). */
void sp_api_set_sched(sp_api *api, struct sp_sched *sched);
void sp_api_set_notify(sp_api *api, struct sp_notify *notify);
/* The database file and the data directory (borrowed, as long as api lives). */
const char *sp_api_db_path(const sp_api *api);
const char *sp_api_data_dir(const sp_api *api);
/*
 * Where definitions on this server read their CSV data files: DATA_DIR/files (SP_API_FILES_DIR),
 * through sp_def_load_confined(), never anywhere else on the server.
 */
#define SP_API_FILES_DIR "files"
const char *sp_api_files_dir(const sp_api *api);

#endif
