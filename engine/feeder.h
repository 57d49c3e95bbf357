/*
 * feeder.h - hands CSV rows to virtual users: in order, at random, or each row once.
 *
 * A feeder belongs to one user class of one run and reads one parsed sp_csv (csv.h). Modes:
 *   SP_FEED_SEQUENTIAL  rows in file order across all VUs and threads together, wrapping round
 *                       to the first row after the last.
 *   SP_FEED_RANDOM      a row chosen uniformly at random, with replacement, from the caller's
 *                       sp_rng; rows repeat and VUs may hold the same row at once.
 *   SP_FEED_UNIQUE      each row handed out exactly once across all VUs and threads. When every
 *                       row has been handed out, on_exhausted decides: SP_FEED_STOP makes
 *                       sp_feeder_next() return SP_ENOTFOUND from then on (the engine stops that
 *                       VU), SP_FEED_RECYCLE starts over from the first row (each row is then
 *                       handed out once per round).
 * Sequential and unique both hand out rows in file order from one shared counter; they differ in
 * intent and in what happens at the end. on_exhausted is ignored by the other modes.
 *
 * When a VU takes a row is the engine's decision, told by opts.per:
 *   SP_FEED_PER_ITERATION  the engine calls sp_feeder_next() at the start of each iteration of
 *                          the VU (before on_start for the first one) and the row stays the VU's
 *                          for that iteration;
 *   SP_FEED_PER_VU         the engine calls it once, when the VU starts, and the VU keeps the
 *                          row for its life. With unique + stop, VUs beyond the number of rows
 *                          stop at once.
 * The feeder only stores this choice (sp_feeder_per()); it does not track VUs.
 *
 * Calling sequence: sp_csv_parse() or sp_csv_load(), sp_feeder_new(), sp_feeder_next() from any
 * worker, sp_feeder_free() after every worker has stopped, then sp_csv_free().
 *
 * Threads: sp_feeder_next() may be called by any number of threads at once. Sequential and
 * unique take their position with one relaxed atomic fetch-and-add (no lock); random touches no
 * shared state but the caller's rng, which must belong to the calling thread or VU. The rows
 * handed out are borrowed from the sp_csv and immutable: read them, never json_incref(),
 * json_decref() or change them (see csv.h).
 */
#ifndef SP_FEEDER_H
#define SP_FEEDER_H

#include <jansson.h>
#include <stdint.h>

#include "engine/common.h"
#include "engine/csv.h"

typedef struct sp_feeder sp_feeder;

typedef enum sp_feed_mode {
    SP_FEED_SEQUENTIAL,
    SP_FEED_RANDOM,
    SP_FEED_UNIQUE,
} sp_feed_mode;

typedef enum sp_feed_exhausted {
    SP_FEED_STOP,    /* unique: no more rows; the VU stops */
    SP_FEED_RECYCLE, /* unique: start over */
} sp_feed_exhausted;

typedef enum sp_feed_per {
    SP_FEED_PER_ITERATION, /* a new row for every iteration of a VU */
    SP_FEED_PER_VU,        /* one row for the VU's life */
} sp_feed_per;

/* A zeroed struct means sequential, one row per iteration (on_exhausted: stop). */
typedef struct sp_feeder_opts {
    sp_feed_mode mode;
    sp_feed_exhausted on_exhausted;
    sp_feed_per per;
    /* unique only: this feeder hands out just the rows r with r % part_count == part_index
     * (an agent's partition of a run across agents, engine/share.h); part_count 0 or 1: all. */
    uint32_t part_index, part_count;
} sp_feeder_opts;

/*
 * Returns a new feeder over csv, which is borrowed and must outlive the feeder. opts may be
 * NULL (the defaults above). Never fails for a csv from sp_csv_parse() (which has at least one
 * row); returns NULL only for an out-of-range enum value in opts. Call from one thread.
 */
sp_feeder *sp_feeder_new(const sp_csv *csv, const sp_feeder_opts *opts);
void sp_feeder_free(sp_feeder *f);

/*
 * Sets *row to the next row (an object field -> string, borrowed from the csv; put it in
 * sp_vuctx.row) and returns 0, or returns SP_ENOTFOUND with *row = NULL when a unique feeder
 * with SP_FEED_STOP is exhausted. rng is used only by SP_FEED_RANDOM (it may be NULL otherwise)
 * and must not be shared between threads. Thread-safe; allocates nothing.
 */
int sp_feeder_next(sp_feeder *f, sp_rng *rng, const json_t **row);

/* The options the feeder was made with; the engine reads per to decide when to call next. */
sp_feeder_opts sp_feeder_get_opts(const sp_feeder *f);
sp_feed_per sp_feeder_per(const sp_feeder *f);

/* How many rows sequential and unique feeders have handed out so far (every call counts, also
 * those that found a unique feeder exhausted); 0 for random. Thread-safe; a snapshot. */
uint64_t sp_feeder_taken(const sp_feeder *f);

/*
 * Names used in definitions: mode "sequential" | "random" | "unique", on_exhausted "stop" |
 * "recycle", per "iteration" | "vu". Each returns 0 and sets *out, or SP_EINVAL for any other
 * name (the caller writes the error with the path it knows).
 */
int sp_feed_mode_from_name(const char *name, sp_feed_mode *out);
int sp_feed_exhausted_from_name(const char *name, sp_feed_exhausted *out);
int sp_feed_per_from_name(const char *name, sp_feed_per *out);
const char *sp_feed_mode_name(sp_feed_mode mode);

#endif
