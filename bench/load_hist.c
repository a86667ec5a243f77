/*
 * load_hist.c: mllp_load's latency histogram (see load_hist.h).
 */
#include "load_hist.h"

static unsigned
hist_index(uint64_t v)
{
	unsigned e;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	e = (unsigned)(63 - __builtin_clzll(v)) - 6; /* v >> e in [64, 128) */
	if (e * HIST_SUB + (v >> e) >= HIST_BUCKETS)
		return HIST_BUCKETS - 1;
	return e * HIST_SUB + (unsigned)(v >> e);
}

/* Highest value that falls in bucket i. */
static uint64_t
hist_bucket_top(unsigned i)
{
	unsigned e;

	if (i < 2 * HIST_SUB)
		return i;
	e = i / HIST_SUB - 1;
	return (((uint64_t)(i - e * HIST_SUB) + 1) << e) - 1;
}

void
hist_record(struct hist *h, uint64_t us)
{
	h->count[hist_index(us)]++;
	h->n++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

void
hist_merge(struct hist *into, const struct hist *h)
{
	unsigned i;

	for (i = 0; i < HIST_BUCKETS; i++)
		into->count[i] += h->count[i];
	into->n += h->n;
	into->sum += h->sum;
	if (h->max > into->max)
		into->max = h->max;
}

/* The value at quantile q (0 < q <= 1): the top of its bucket, capped at max. */
uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, cum = 0, top;
	unsigned i;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		cum += h->count[i];
		if (cum >= rank) {
			top = hist_bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
