/*
 * notify_metrics.c: what labwatch notify exports (notify_metrics.h).
 */
#include "config.h"

#include "cli/notify_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/metrics_http.h"
#include "lib/metrics.h"
#include "lib/xmalloc.h"

/* The delivery loop's counters; the metrics thread reads them. */
static struct {
	struct metric results[NOTIFY_NRESULTS];
	struct metric escalations;
	struct metric_hist latency;
} nm;
static struct metrics_http *server;

/* Deliveries from 10 ms to the 30 s default timeout and beyond. */
static const uint64_t latency_bounds[] = { 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 5000000, 10000000, 30000000 };
static const struct metric_hist_def latency_def = { latency_bounds,
	sizeof(latency_bounds) / sizeof(latency_bounds[0]), 1e6 };

void
notify_metrics_delivery(enum notify_result r, uint64_t usec)
{
	metric_add(&nm.results[r], 1);
	metric_observe(&nm.latency, &latency_def, usec);
}

void
notify_metrics_escalated(uint64_t n)
{
	metric_add(&nm.escalations, n);
}

static void
render(void *arg, struct buf *b)
{
	static const char *const names[NOTIFY_NRESULTS] = { "delivered",
		"retry", "failed" };
	struct metric_hist_snap snap;
	struct metric_label l;
	size_t i;

	(void)arg;
	metrics_family(b, "labwatch_notify_deliveries_total", "counter",
	    "Delivery attempts by result: delivered, retry (failed, tried "
	    "again later), failed (the last attempt failed).");
	l.name = "result";
	for (i = 0; i < NOTIFY_NRESULTS; i++) {
		l.value = names[i];
		metrics_sample(b, "labwatch_notify_deliveries_total", &l, 1,
		    metric_get(&nm.results[i]));
	}
	memset(&snap, 0, sizeof(snap));
	metric_hist_add(&snap, &nm.latency, &latency_def);
	metrics_family(b, "labwatch_notify_delivery_seconds", "histogram",
	    "How long one delivery attempt took (command or webhook).");
	metrics_histogram(b, "labwatch_notify_delivery_seconds", NULL, 0,
	    &latency_def, &snap);
	metrics_family(b, "labwatch_notify_escalations_total", "counter",
	    "Escalate events written for critical alerts left unanswered.");
	metrics_sample(b, "labwatch_notify_escalations_total", NULL, 0,
	    metric_get(&nm.escalations));
	l.name = "version";
	l.value = PACKAGE_VERSION;
	metrics_family(b, "labwatch_notify_build_info", "gauge",
	    "Always 1; the labels say which labwatch notify runs.");
	metrics_sample(b, "labwatch_notify_build_info", &l, 1, 1);
}

int
notify_metrics_start(const char *listen, char **cause)
{
	const char *colon = strrchr(listen, ':');
	char *host;
	size_t hl;

	if (colon == NULL || colon[1] == '\0') {
		*cause = xasprintf("--metrics-listen %s: not host:port",
		    listen);
		return -1;
	}
	hl = (size_t)(colon - listen);
	/* [v6addr]:port */
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']')
		host = xstrndup(listen + 1, hl - 2);
	else
		host = xstrndup(listen, hl);
	server = metrics_http_thread(host, colon + 1, render, NULL, cause);
	free(host);
	return server != NULL ? 0 : -1;
}

unsigned
notify_metrics_port(void)
{
	return server != NULL ? metrics_http_port(server) : 0;
}

void
notify_metrics_stop(void)
{
	metrics_http_close(server);
	server = NULL;
}
