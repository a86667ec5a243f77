/*
 * load_hist.h: mllp_load's latency histogram, log-linear in microseconds:
 * values below 128 have a bucket each, above that every power of two is
 * split in 64 buckets, so a reported percentile is within 1/64 (1.6 %) of
 * the true value.
 */
#ifndef LABWATCH_BENCH_LOAD_HIST_H
#define LABWATCH_BENCH_LOAD_HIST_H

#include <stdint.h>

#define HIST_SUB 64
#define HIST_BUCKETS (HIST_SUB * 2 + HIST_SUB * 40)

struct hist {
	uint64_t count[HIST_BUCKETS];
	uint64_t n, max, sum;
};

/* Count one value (us). */
void hist_record(struct hist *h, uint64_t us);
/* Add h's counts into into. */
void hist_merge(struct hist *into, const struct hist *h);
/* The value at quantile q (0 < q <= 1): the top of its bucket, capped at max. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
