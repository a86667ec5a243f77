/*
 * exporter.c: what labwatchd exports, in the Prometheus text format.
 * Names follow Prometheus' conventions: labwatch_ prefix, _total for
 * counters, base units (_seconds, _bytes).
 */
#include "exporter.h"

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/metrics.h"
#include "log.h"
#include "metrics_http.h"

/* The outcomes as exported; STORE_REJECTED is what a sender sees: refused. */
static const char *const outcome_label[STORE_NOUTCOMES] = {
	[STORE_PROCESSED] = "processed",
	[STORE_DUPLICATE] = "duplicate",
	[STORE_IGNORED] = "ignored",
	[STORE_QUARANTINED] = "quarantined",
	[STORE_SPOOLED] = "spooled",
	[STORE_REJECTED] = "refused",
};
static const char *const ack_codes[6] = { "AA", "AE", "AR", "CA", "CE", "CR" };

/* A family with one sample and no labels. */
static void
one(struct buf *b, const char *name, const char *type, const char *help,
    uint64_t v)
{
	metrics_family(b, name, type, help);
	metrics_sample(b, name, NULL, 0, v);
}

/* A family with one label: n values and their names. */
static void
by_label(struct buf *b, const char *name, const char *help, const char *label,
    const char *const *names, const uint64_t *v, size_t n)
{
	struct metric_label l;
	size_t i;

	metrics_family(b, name, "counter", help);
	l.name = label;
	for (i = 0; i < n; i++) {
		l.value = names[i];
		metrics_sample(b, name, &l, 1, v[i]);
	}
}

static void
hist(struct buf *b, const char *name, const char *help,
    const struct metric_hist *h, const struct metric_hist_def *def)
{
	struct metric_hist_snap snap = { { 0 }, 0 };

	metric_hist_add(&snap, h, def);
	metrics_family(b, name, "histogram", help);
	metrics_histogram(b, name, NULL, 0, def, &snap);
}

static void
render_network(struct buf *b, const struct daemon *d)
{
	const struct daemon_stats *s = &d->stats;
	static const char *const reasons[] = { "acl", "limit", "tls" };
	uint64_t refused[] = { s->refused_acl, s->refused_limit,
		s->refused_tls };

	one(b, "labwatch_frames_received_total", "counter",
	    "MLLP frames received (whole, oversize or cut short).", s->frames);
	by_label(b, "labwatch_acks_total",
	    "ACKs queued to senders, by MSA-1 code.", "code", ack_codes,
	    s->acks_by_code, 6);
	hist(b, "labwatch_ack_latency_seconds",
	    "From a frame's arrival to its ACK queued (after COMMIT or "
	    "spool fsync).",
	    &s->ack_usec, &daemon_ack_hist);
	one(b, "labwatch_connections_open", "gauge",
	    "MLLP connections whose socket is open.", d->nsockets);
	one(b, "labwatch_connections_accepted_total", "counter",
	    "MLLP connections accepted.", s->accepted);
	by_label(b, "labwatch_connections_refused_total",
	    "MLLP connections closed at accept or handshake, by reason "
	    "(allow list, connection limits, TLS).",
	    "reason", reasons, refused, 3);
	one(b, "labwatch_tls_handshake_failures_total", "counter",
	    "TLS handshakes that failed or timed out.", s->tls_failures);
	one(b, "labwatch_connection_timeouts_total", "counter",
	    "Connections closed by start, frame, idle or handshake timeouts.",
	    s->timeouts);
}

static void
render_store(struct buf *b, struct daemon *d)
{
	const struct store_metrics *m = store_metrics(d->store);
	struct store_stats st;
	struct metric_label l[2];
	const char *ok[] = { "ok", "error" };
	uint64_t reloads[] = { d->stats.reloads, d->stats.reload_failures };
	size_t i;

	store_stats(d->store, &st);
	by_label(b, "labwatch_frames_total",
	    "Frames by outcome; a spooled frame counts again with its outcome "
	    "when the spool drains.",
	    "outcome", outcome_label, st.outcomes, STORE_NOUTCOMES);
	hist(b, "labwatch_batch_commit_seconds",
	    "From a batch sent to PostgreSQL to its COMMIT.", &m->commit_usec,
	    &store_commit_hist);
	hist(b, "labwatch_batch_size", "Frames per committed batch.",
	    &m->batch_frames, &store_batch_hist);
	one(b, "labwatch_spool_records", "gauge",
	    "Frames in the spool, waiting for the database.",
	    metric_get(&m->spool_records));
	one(b, "labwatch_spool_bytes", "gauge", "Bytes of frames in the spool.",
	    metric_get(&m->spool_bytes));
	one(b, "labwatch_spool_drains_total", "counter",
	    "Times the spool was emptied into the database.",
	    metric_get(&m->drains));
	one(b, "labwatch_spool_drained_frames_total", "counter",
	    "Frames moved from the spool into the database.",
	    metric_get(&m->drained));
	one(b, "labwatch_database_up", "gauge",
	    "1 when the writer holds a working PostgreSQL session.",
	    st.db_up ? 1 : 0);
	one(b, "labwatch_database_reconnects_total", "counter",
	    "PostgreSQL sessions the writer opened after start (reconnects).",
	    metric_get(&m->reconnects));
	metrics_family(b, "labwatch_alerts_total", "counter",
	    "Alerts committed, by kind and severity.");
	l[0].name = "kind";
	l[1].name = "severity";
	for (i = 0; i < STORE_ALERT_KINDS * STORE_ALERT_SEVERITIES; i++) {
		l[0].value = store_alert_kind_name(i);
		l[1].value = store_alert_severity_name(i);
		metrics_sample(b, "labwatch_alerts_total", l, 2,
		    metric_get(&m->alerts[i]));
	}
	by_label(b, "labwatch_rules_reloads_total",
	    "SIGHUP reloads of configuration, rules and certificates, by "
	    "result.",
	    "result", ok, reloads, 2);
}

void
exporter_render(void *arg, struct buf *out)
{
	struct daemon *d = arg;
	struct metric_label v = { "version", PACKAGE_VERSION };

	render_network(out, d);
	render_store(out, d);
	metrics_family(out, "labwatch_build_info", "gauge",
	    "Always 1; the labels say which labwatchd runs.");
	metrics_sample(out, "labwatch_build_info", &v, 1, 1);
}

int
exporter_open(struct daemon *d, char **cause)
{
	const struct config_addr *a = d->cfg->metrics_addr;

	if (a == NULL)
		return 0;
	d->metrics = metrics_http_open(d->base, a->host, a->port,
	    exporter_render, d, cause);
	if (d->metrics == NULL)
		return -1;
	log_info("metrics on http://%s%s%s:%u/metrics",
	    strchr(a->host, ':') != NULL ? "[" : "",
	    a->host[0] != '\0' ? a->host : "0.0.0.0",
	    strchr(a->host, ':') != NULL ? "]" : "",
	    metrics_http_port(d->metrics));
	return 0;
}

void
exporter_close(struct daemon *d)
{
	metrics_http_close(d->metrics);
	d->metrics = NULL;
}
