/*
 * worker.h - the engine's worker threads. Not a public API; engine.h is. The state a worker
 * shares with the controlling thread and the aggregator is the run (run.h).
 *
 * Each worker owns an epoll fd, an eventfd, its curl multi handles, a timer heap and its share
 * of the VUs (VU k of the run lives on worker k % N); it sends its stats to the aggregator once
 * a second as an sp_msg on the run's queue, and gets the message back through
 * sp_worker_recycle.
 *
 * Calling sequence (engine.c): sp_worker_new for each worker before the threads start; one
 * thread per worker running sp_worker_main until the run ends; sp_worker_free after join.
 *
 * Threads: sp_worker_new and sp_worker_free are called by the engine's controlling thread
 * before start and after join; sp_worker_main runs on the worker's thread; sp_worker_wake and
 * sp_worker_recycle may be called from any thread.
 */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include <stddef.h>

#include "engine/run.h"

typedef struct sp_worker sp_worker;

/* Creates worker id of r (epoll, eventfd, multi handle). NULL and err on failure. r is
 * borrowed and must outlive the worker. */
sp_worker *sp_worker_new(sp_run *r, unsigned id, char *err, size_t errlen);
void sp_worker_free(sp_worker *w);
/* The thread body; arg is the sp_worker. */
void *sp_worker_main(void *arg);
/* Wakes the worker's loop (after a stop or a target change). Any thread. */
void sp_worker_wake(sp_worker *w);
/* Hands a message (its stats reset) back to its worker for reuse. Any thread. */
void sp_worker_recycle(sp_worker *w, sp_msg *m);

#endif
