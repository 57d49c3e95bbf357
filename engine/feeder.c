/*
 * feeder.c - see feeder.h.
 */
#include "engine/feeder.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sp_feeder {
    const sp_csv *csv;  /* borrowed */
    const json_t *rows; /* borrowed from csv */
    uint64_t nrows;
    sp_feeder_opts opts;
    /* The shared position lives on its own cache line, so that workers bumping it do not also
     * invalidate the fields above, which every call reads. */
    char pad0[64];
    _Atomic uint64_t next;
    char pad1[64 - sizeof(uint64_t)];
};

sp_feeder *sp_feeder_new(const sp_csv *csv, const sp_feeder_opts *opts)
{
    static const sp_feeder_opts defaults;
    if (!opts)
        opts = &defaults;
    if ((unsigned)opts->mode > SP_FEED_UNIQUE || (unsigned)opts->on_exhausted > SP_FEED_RECYCLE ||
        (unsigned)opts->per > SP_FEED_PER_VU || sp_csv_nrows(csv) == 0)
        return NULL;
    sp_feeder *f = sp_calloc(1, sizeof(*f));
    f->csv = csv;
    f->rows = sp_csv_rows(csv);
    f->nrows = sp_csv_nrows(csv);
    f->opts = *opts;
    if (f->opts.mode == SP_FEED_UNIQUE && f->opts.part_count > 1) {
        if (f->opts.part_index >= f->opts.part_count) {
            free(f);
            return NULL;
        }
        /* Row i of the partition is row i * count + index of the file. */
        uint64_t idx = f->opts.part_index, cnt = f->opts.part_count;
        f->nrows = f->nrows > idx ? (f->nrows - idx + cnt - 1) / cnt : 0;
    }
    atomic_init(&f->next, 0);
    return f;
}

void sp_feeder_free(sp_feeder *f)
{
    free(f);
}

int sp_feeder_next(sp_feeder *f, sp_rng *rng, const json_t **row)
{
    uint64_t i;
    if (f->opts.mode == SP_FEED_RANDOM) {
        i = (uint64_t)sp_rng_range(rng, 0, (int64_t)f->nrows - 1);
    } else {
        /* Relaxed is enough: the rows were written before the workers started (thread creation
         * orders that), and the counter only has to hand out distinct positions. A 64-bit
         * counter does not wrap in any run's lifetime, so "taken >= nrows" stays true once
         * a unique feeder is exhausted. */
        i = atomic_fetch_add_explicit(&f->next, 1, memory_order_relaxed);
        if (i >= f->nrows) {
            /* A partition with no rows (more agents than rows) is exhausted from the start,
             * also for recycle. */
            if (f->opts.mode == SP_FEED_UNIQUE &&
                (f->opts.on_exhausted == SP_FEED_STOP || f->nrows == 0)) {
                *row = NULL;
                return SP_ENOTFOUND;
            }
            i %= f->nrows;
        }
    }
    if (f->opts.mode == SP_FEED_UNIQUE && f->opts.part_count > 1)
        i = i * f->opts.part_count + f->opts.part_index;
    *row = json_array_get(f->rows, (size_t)i); /* borrowed */
    return 0;
}

sp_feeder_opts sp_feeder_get_opts(const sp_feeder *f)
{
    return f->opts;
}

sp_feed_per sp_feeder_per(const sp_feeder *f)
{
    return f->opts.per;
}

uint64_t sp_feeder_taken(const sp_feeder *f)
{
    return atomic_load_explicit(&f->next, memory_order_relaxed);
}

static int lookup(const char *name, const char *const *names, size_t n, int *out)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return SP_EINVAL;
}

/* Indexed by the enum values. */
static const char *const mode_names[] = {"sequential", "random", "unique"};
static const char *const exhausted_names[] = {"stop", "recycle"};
static const char *const per_names[] = {"iteration", "vu"};

int sp_feed_mode_from_name(const char *name, sp_feed_mode *out)
{
    int v;
    int rc = lookup(name, mode_names, SP_ARRAY_LEN(mode_names), &v);
    if (rc == 0)
        *out = (sp_feed_mode)v;
    return rc;
}

int sp_feed_exhausted_from_name(const char *name, sp_feed_exhausted *out)
{
    int v;
    int rc = lookup(name, exhausted_names, SP_ARRAY_LEN(exhausted_names), &v);
    if (rc == 0)
        *out = (sp_feed_exhausted)v;
    return rc;
}

int sp_feed_per_from_name(const char *name, sp_feed_per *out)
{
    int v;
    int rc = lookup(name, per_names, SP_ARRAY_LEN(per_names), &v);
    if (rc == 0)
        *out = (sp_feed_per)v;
    return rc;
}

const char *sp_feed_mode_name(sp_feed_mode mode)
{
    return (unsigned)mode < SP_ARRAY_LEN(mode_names) ? mode_names[mode] : "unknown";
}
