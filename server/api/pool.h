/*
 * pool.h - the API's pool of SQLite connections to the one database.
 *
 * A connection is used by one thread at a time (store.h), and opening one costs a migration
 * check, so a request takes an idle connection for its duration and gives it back: the pool
 * grows to the number of requests handled at once (the HTTP thread pool's size) and never
 * shrinks. Reads on different threads run in parallel under WAL.
 *
 * Calling sequence: sp_pool_new() when the API is created (main thread); sp_pool_take() and
 * sp_pool_give() in pairs from any thread (handlers reach them through server/api/kit.h);
 * sp_pool_free() after the HTTP server has stopped.
 *
 * Threads: take and give are thread-safe (one mutex, held only to pop or push); new and free
 * are the owner's.
 */
#ifndef SP_API_POOL_H
#define SP_API_POOL_H

#include <stddef.h>

#include "store/store.h"

typedef struct sp_pool sp_pool;

/* A pool of connections to the database at db_path (copied). Opens nothing yet. */
sp_pool *sp_pool_new(const char *db_path);
/* Closes every idle connection and frees the pool. Every taken connection must have been given
 * back. NULL is ignored. */
void sp_pool_free(sp_pool *p);

/* An idle connection, or a new one when none is idle. The calling thread owns *out until it
 * gives it back. Fails as sp_store_open() does (err says why; SP_ESYS, SP_EIO, SP_ESTATE) with
 * *out NULL. */
int sp_pool_take(sp_pool *p, sp_store **out, char *err, size_t errlen);
/* Gives s back for the next request (NULL is ignored). s must not be in a transaction. */
void sp_pool_give(sp_pool *p, sp_store *s);

#endif
