/*
 * metrics.h: counters one thread writes and another reads, and the
 * Prometheus text exposition (format 0.0.4) that labwatchd and labwatch
 * notify both serve.
 *
 * A counter belongs to one thread (its slot): only that thread adds to
 * it, with a relaxed load and store (no lock, no locked instruction on
 * the hot path); the scrape reads it, relaxed, from any thread. A value
 * that several threads count has one counter per thread, and the scrape
 * adds them up. A histogram is a counter per bucket (not cumulative:
 * the writer makes them so) and a counter of the sum, in the unit the
 * code measures (microseconds, frames), with the scale to the unit shown
 * (1e6 for seconds).
 */
#ifndef LABWATCH_METRICS_H
#define LABWATCH_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Most finite bucket bounds of a histogram. */
#define METRIC_HIST_MAX 16

/* A counter or gauge of one writer thread. Zeroed is 0. */
struct metric {
	_Atomic uint64_t v;
};

/* A histogram of one writer thread; bounds live in a struct metric_hist_def. */
struct metric_hist {
	struct metric bucket[METRIC_HIST_MAX + 1]; /* last: above every bound */
	struct metric sum;
};

/* The buckets of a histogram: upper bounds (inclusive, ascending), in units. */
struct metric_hist_def {
	const uint64_t *bounds;
	size_t n;     /* <= METRIC_HIST_MAX */
	double scale; /* units per exposed unit: 1e6 for usec as seconds */
};

/* One label of a sample. */
struct metric_label {
	const char *name;
	const char *value; /* escaped by the writer */
};

/* Add n (the owning thread only). */
static inline void
metric_add(struct metric *m, uint64_t n)
{
	atomic_store_explicit(&m->v,
	    atomic_load_explicit(&m->v, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/* Set a gauge (the owning thread only). */
static inline void
metric_set(struct metric *m, uint64_t v)
{
	atomic_store_explicit(&m->v, v, memory_order_relaxed);
}

/* Read (any thread). */
static inline uint64_t
metric_get(const struct metric *m)
{
	return atomic_load_explicit(&m->v, memory_order_relaxed);
}

/* Count v (in units) into its bucket (the owning thread only). */
void metric_observe(struct metric_hist *h, const struct metric_hist_def *def,
    uint64_t v);

/* A histogram's counts read from any thread: per bucket (not cumulative). */
struct metric_hist_snap {
	uint64_t bucket[METRIC_HIST_MAX + 1];
	uint64_t sum;
};

/* Add h's counts into *snap (start it zeroed): the scrape of each slot. */
void metric_hist_add(struct metric_hist_snap *snap, const struct metric_hist *h,
    const struct metric_hist_def *def);

/*
 * The exposition writer. A family is its HELP and TYPE lines (type
 * "counter", "gauge" or "histogram"), then its samples; label values and
 * help text are escaped as the format says (\\, \", \n).
 */
void metrics_family(struct buf *b, const char *name, const char *type,
    const char *help);
/* One sample: name{labels} value (nl labels; none: no braces). */
void metrics_sample(struct buf *b, const char *name,
    const struct metric_label *labels, size_t nl, uint64_t value);
/* The same with a value that is not a whole number. */
void metrics_sample_double(struct buf *b, const char *name,
    const struct metric_label *labels, size_t nl, double value);
/*
 * A histogram's samples: name_bucket{labels,le=".."} cumulative, the
 * last le="+Inf", then name_sum (scaled) and name_count.
 */
void metrics_histogram(struct buf *b, const char *name,
    const struct metric_label *labels, size_t nl,
    const struct metric_hist_def *def, const struct metric_hist_snap *snap);

/* The Content-Type of what the writer produces. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
