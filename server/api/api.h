/*
 * api.h - the REST API under /api/v1 and the dashboard's static files: the route table and
 * its handlers, on top of server/http/http.h and server/store/store.h.
 *
 * Calling sequence (main thread): sp_api_new() opens the database (migrating it) and marks
 * runs left running by a dead process as aborted; sp_api_seed_examples() once on a new
 * database; sp_api_routes() is given to sp_http_server_new() with the sp_api as its app
 * pointer; sp_api_checkpoint() now and then; sp_api_free() after sp_http_server_free().
 *
 * Threads: handlers run on libmicrohttpd's worker threads. Each takes an SQLite connection
 * from a small pool for the duration of the request (a connection is used by one thread at a
 * time, as store.h requires), so reads on different threads run in parallel under WAL.
 * The rest of sp_api is immutable after sp_api_new().
 *
 * Test definitions: a body is checked with sp_def_load() (422 with every error and its path
 * when invalid) and stored byte for byte; GET returns it as a JSON value inside the test
 * object, so the content is what the user saved (key order included), not its whitespace.
 * A definition with "secrets" is the exception: its values are stored apart (server/runs/policy.h)
 * and the revision is the document re-written with the mask in their place.
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

/* The route table: the tests and service routes, then the run routes of api_runs.c and the
 * import and try routes of api_tools.c (built once, static afterwards). */
const sp_http_route *sp_api_routes(size_t *n);

/* ---- For the run routes (server/api/api_runs.c) ---- */

struct sp_runs;
/* The run manager the run routes use; set once by serve.c before the HTTP server starts. */
void sp_api_set_runs(sp_api *api, struct sp_runs *runs);
struct sp_runs *sp_api_runs(const sp_api *api);
/* The database file and the data directory (borrowed, as long as api lives). */
const char *sp_api_db_path(const sp_api *api);
const char *sp_api_data_dir(const sp_api *api);
/*
 * Where definitions on this server read their CSV data files: DATA_DIR/files (SP_API_FILES_DIR),
 * through sp_def_load_confined(), never anywhere else on the server.
 */
#define SP_API_FILES_DIR "files"
const char *sp_api_files_dir(const sp_api *api);
/* Takes a pooled connection for the calling thread (or opens one: err says why it could not);
 * give it back with sp_api_store_give() before the handler returns. Thread-safe. */
struct sp_store;
int sp_api_store_take(sp_api *api, struct sp_store **out, char *err, size_t errlen);
void sp_api_store_give(sp_api *api, struct sp_store *s);

/* The run routes (server/api/api_runs.c), static. */
const sp_http_route *sp_api_run_routes(size_t *n);
/* The settings routes of the target allowlist and caps (server/api/api_policy.c), static. */
const sp_http_route *sp_api_policy_routes(size_t *n);
/* The data files routes (api_files.c): /api/v1/files, what definitions' data_file.csv reads. */
const sp_http_route *sp_api_file_routes(size_t *n);
/* The access control routes (server/api/api_auth.c): login, tokens, users, audit; static. */
const sp_http_route *sp_api_auth_routes(size_t *n);
/* The import and "Try it" routes (server/api/api_tools.c), static. */
const sp_http_route *sp_api_tool_routes(size_t *n);

#endif
