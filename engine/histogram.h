/*
 * histogram.h - mergeable log-linear latency histograms (HdrHistogram-style).
 *
 * Values are microseconds. Values below 256 us are kept exactly (1 us buckets); above that,
 * each power of two [2^e, 2^(e+1)) is split into 128 equal buckets (3840 buckets in all), so a
 * reported value (the bucket's midpoint, clamped to the observed min/max) is within 0.4% of any
 * value recorded in that bucket. The range is 0 to 2^36 us (about 19 hours); larger values land in
 * the last bucket and still update the exact max. Histograms of the same layout merge by adding
 * counts, so percentiles over any set of seconds, request names or workers are exact merges, never
 * averages.
 *
 * Threads: a histogram belongs to one thread at a time; merging reads src and writes dst.
 * Memory: sp_hist_new() allocates the bucket array once; recording never allocates.
 */
#ifndef SP_HISTOGRAM_H
#define SP_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_hist sp_hist;

/* Number of buckets in every histogram (the layout is fixed, so any two merge). */
size_t sp_hist_buckets(void);

sp_hist *sp_hist_new(void);
void sp_hist_free(sp_hist *h);
/* Forgets every value; keeps the memory. */
void sp_hist_reset(sp_hist *h);

void sp_hist_record(sp_hist *h, uint64_t us);
void sp_hist_record_n(sp_hist *h, uint64_t us, uint64_t n);
/* dst += src. */
void sp_hist_merge(sp_hist *dst, const sp_hist *src);

uint64_t sp_hist_count(const sp_hist *h);
uint64_t sp_hist_min(const sp_hist *h); /* exact; 0 when empty */
uint64_t sp_hist_max(const sp_hist *h); /* exact; 0 when empty */
double sp_hist_mean(const sp_hist *h);  /* exact (from the exact sum); 0 when empty */
/*
 * The value at percentile p (0 < p <= 100): the smallest recorded value v such that at least
 * p% of the values are <= v, as the midpoint of its bucket (clamped to min and max). 0 when empty.
 * p >= 100 returns the exact max, p <= 0 the exact min.
 */
uint64_t sp_hist_percentile(const sp_hist *h, double p);

/*
 * Bucket access, for compact storage: index -> count, and the value range of an index.
 * sp_hist_bucket_of(us) is the index a value lands in. Counts are 64-bit.
 */
size_t sp_hist_bucket_of(uint64_t us);
uint64_t sp_hist_bucket_count(const sp_hist *h, size_t index);
uint64_t sp_hist_bucket_low(size_t index);  /* smallest value of the bucket */
uint64_t sp_hist_bucket_high(size_t index); /* largest value of the bucket */
/* Adds n to bucket index (used to rebuild a histogram from storage); keeps min/max/sum approximate.
 */
void sp_hist_add_bucket(sp_hist *h, size_t index, uint64_t n);
/* The exact sum of the values (for a copy to another process). */
uint64_t sp_hist_sum(const sp_hist *h);
/* After a histogram was rebuilt bucket by bucket from an exact copy (an agent's second), sets
 * its exact min, max and sum, so percentiles, mean and max are the original's to the bit.
 * SP_EINVAL (and h unchanged) when they do not fit the buckets: min is not in the first
 * non-empty bucket, max not in the last, or the sum is outside count * [min, max]. first and
 * last are the first and last non-empty buckets, as the caller added them (it knows them; a
 * scan of the layout would cost more than the rest of the rebuild). */
int sp_hist_set_exact(sp_hist *h, uint64_t min, uint64_t max, uint64_t sum, size_t first,
                      size_t last);

#endif
