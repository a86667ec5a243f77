/*
 * exporter.h: labwatchd's metrics, served at /metrics on metrics_listen
 * (metrics_http.h). The event loop's counters are struct daemon_stats
 * and the store's outcome counts; the writer thread's are struct
 * store_metrics, read without a lock (lib/metrics.h). README.md's
 * "Monitoring" lists what is exported.
 */
#ifndef LABWATCH_EXPORTER_H
#define LABWATCH_EXPORTER_H

#include "daemon.h"
#include "lib/attr.h"
#include "lib/buf.h"

/* Listen on cfg->metrics_listen when set. 0, or -1 and *cause. */
LW_MUSTCHECK int exporter_open(struct daemon *d, char **cause);
/* Stop serving (nothing when not open). */
void exporter_close(struct daemon *d);
/* The whole exposition of d into out. */
void exporter_render(void *d, struct buf *out);

#endif
