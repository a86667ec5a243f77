/*
 * notify_metrics.h: labwatch notify's Prometheus metrics (--metrics-listen),
 * served by a thread of their own (daemon/metrics_http.h) while the
 * delivery loop counts (lib/metrics.h: relaxed atomics, no lock).
 */
#ifndef LABWATCH_NOTIFY_METRICS_H
#define LABWATCH_NOTIFY_METRICS_H

#include <stdint.h>

#include "lib/attr.h"

/* What became of one delivery attempt. */
enum notify_result {
	NOTIFY_DELIVERED = 0, /* the command or webhook took it */
	NOTIFY_RETRY,	      /* it failed; another attempt is due */
	NOTIFY_FAILED,	      /* it failed for the last time */
	NOTIFY_NRESULTS
};

/* Serve on "host:port" ([v6]:port). 0, or -1 and *cause (malloc'ed). */
LW_MUSTCHECK int notify_metrics_start(const char *listen, char **cause);
/* The port served on (the kernel's choice for port 0). */
unsigned notify_metrics_port(void);
/* Stop serving (nothing when not started). */
void notify_metrics_stop(void);
/* One attempt ended with r after usec microseconds. */
void notify_metrics_delivery(enum notify_result r, uint64_t usec);
/* n escalate events were written. */
void notify_metrics_escalated(uint64_t n);

#endif
