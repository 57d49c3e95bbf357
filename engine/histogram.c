/*
 * histogram.c - see histogram.h.
 *
 * Layout: with shift = max(0, floor(log2(v)) - 7), a value v lands in bucket
 * shift * 128 + (v >> shift). Below 256 the shift is 0 and the index is the value itself (1 us
 * buckets; the header promises them below 128 and this layout keeps them up to 255). From 256
 * on, (v >> shift) is in [128, 256), so each power of two gets 128 buckets of width 2^shift.
 * The largest power kept is 2^35 (shift 28), so there are 29 * 128 + 256 = 3840 buckets.
 */
#include "engine/histogram.h"

#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

#define SUB_BITS 7
#define SUB_COUNT (1u << SUB_BITS) /* buckets per power of two */
#define RANGE_BITS 36              /* values up to 2^36 - 1 us are bucketed exactly */
#define VALUE_MAX ((UINT64_C(1) << RANGE_BITS) - 1)
#define NBUCKETS ((size_t)(RANGE_BITS - SUB_BITS) * SUB_COUNT + SUB_COUNT)

struct sp_hist {
    uint64_t count;
    uint64_t min; /* UINT64_MAX while empty, so recording needs no "first value" branch */
    uint64_t max;
    uint64_t sum;
    uint64_t counts[NBUCKETS];
};

size_t sp_hist_buckets(void)
{
    return NBUCKETS;
}

sp_hist *sp_hist_new(void)
{
    sp_hist *h = sp_malloc(sizeof *h);
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
    return h;
}

void sp_hist_free(sp_hist *h)
{
    free(h);
}

static inline size_t index_of(uint64_t us)
{
    uint64_t v = us > VALUE_MAX ? VALUE_MAX : us;
    /* OR-ing in 255 makes every value below 256 share the exact (shift 0) group, without a branch.
     */
    unsigned top = 63u - (unsigned)__builtin_clzll(v | 255u);
    unsigned shift = top - SUB_BITS;
    return (size_t)shift * SUB_COUNT + (size_t)(v >> shift);
}

void sp_hist_reset(sp_hist *h)
{
    /* Every bucket is zero while the count is (counts only grow together): an empty histogram
     * is reset without touching its 30 KB of buckets, which the merge of many agents' seconds
     * and every worker's second would otherwise clear again and again. */
    if (h->count) {
        /* Only the buckets from min's to max's can hold counts (every writer keeps min and max
         * exact or at its buckets' bounds): a second of a real API spans a hundred of them. */
        size_t lo = index_of(h->min), hi = index_of(h->max);
        memset(&h->counts[lo], 0, (hi - lo + 1) * sizeof h->counts[0]);
    }
    h->count = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum = 0;
}

size_t sp_hist_bucket_of(uint64_t us)
{
    return index_of(us);
}

/* The hot path: one clz, one add per field, and min/max as conditional moves. */
static inline void record(sp_hist *h, uint64_t us, uint64_t n)
{
    h->counts[index_of(us)] += n;
    h->count += n;
    h->sum += us * n;
    h->min = us < h->min ? us : h->min;
    h->max = us > h->max ? us : h->max;
}

void sp_hist_record(sp_hist *h, uint64_t us)
{
    record(h, us, 1);
}

void sp_hist_record_n(sp_hist *h, uint64_t us, uint64_t n)
{
    /* Recording nothing must not move min and max. */
    if (n)
        record(h, us, n);
}

void sp_hist_merge(sp_hist *dst, const sp_hist *src)
{
    if (src->count == 0)
        return;
    /* src's counts lie from min's bucket to max's (see sp_hist_reset). */
    for (size_t i = index_of(src->min), hi = index_of(src->max); i <= hi; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t sp_hist_count(const sp_hist *h)
{
    return h->count;
}

uint64_t sp_hist_min(const sp_hist *h)
{
    return h->count ? h->min : 0;
}

uint64_t sp_hist_max(const sp_hist *h)
{
    return h->count ? h->max : 0;
}

double sp_hist_mean(const sp_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

uint64_t sp_hist_bucket_low(size_t index)
{
    if (index >= NBUCKETS)
        index = NBUCKETS - 1;
    if (index < 2 * SUB_COUNT)
        return index;
    unsigned shift = (unsigned)(index >> SUB_BITS) - 1u;
    return ((uint64_t)(index & (SUB_COUNT - 1)) + SUB_COUNT) << shift;
}

uint64_t sp_hist_bucket_high(size_t index)
{
    if (index >= NBUCKETS)
        index = NBUCKETS - 1;
    if (index < 2 * SUB_COUNT)
        return index;
    unsigned shift = (unsigned)(index >> SUB_BITS) - 1u;
    return sp_hist_bucket_low(index) + (UINT64_C(1) << shift) - 1u;
}

uint64_t sp_hist_bucket_count(const sp_hist *h, size_t index)
{
    return index < NBUCKETS ? h->counts[index] : 0;
}

void sp_hist_add_bucket(sp_hist *h, size_t index, uint64_t n)
{
    if (index >= NBUCKETS || n == 0)
        return;
    uint64_t lo = sp_hist_bucket_low(index), hi = sp_hist_bucket_high(index);
    h->counts[index] += n;
    h->count += n;
    /* The values are lost; the midpoint keeps the mean within the bucket's error. */
    h->sum += (lo + (hi - lo) / 2) * n;
    if (lo < h->min)
        h->min = lo;
    if (hi > h->max)
        h->max = hi;
}

uint64_t sp_hist_percentile(const sp_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (!(p > 0.0))
        return h->min;
    if (p >= 100.0)
        return h->max;
    /* The rank is computed in floating point; a product that rounds up past count would walk
     * off the end, so it is clamped. */
    double r = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    size_t i = 0;
    for (; i < NBUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            break;
    }
    if (i == NBUCKETS)
        i = NBUCKETS - 1;
    uint64_t lo = sp_hist_bucket_low(i), hi = sp_hist_bucket_high(i);
    uint64_t v = lo + (hi - lo) / 2;
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

uint64_t sp_hist_sum(const sp_hist *h)
{
    return h->sum;
}

int sp_hist_set_exact(sp_hist *h, uint64_t min, uint64_t max, uint64_t sum, size_t first,
                      size_t last)
{
    if (!h->count)
        return min == 0 && max == 0 && sum == 0 ? 0 : SP_EINVAL;
    if (first > last || last >= NBUCKETS || !h->counts[first] || !h->counts[last])
        return SP_EINVAL;
    if (min > max || index_of(min) != first || index_of(max) != last)
        return SP_EINVAL;
    /* The sum of count values each within [min, max], without overflow. */
    if (min && sum / min < h->count)
        return SP_EINVAL;
    if (max && sum / max > h->count)
        return SP_EINVAL;
    if (!max && sum)
        return SP_EINVAL;
    h->min = min;
    h->max = max;
    h->sum = sum;
    return 0;
}
