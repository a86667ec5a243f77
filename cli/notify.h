/*
 * notify.h: labwatch notify's delivery loop: alert events from
 * PostgreSQL to a paging command or webhook, each once per target
 * (sql/008_alert_events.sql has the tables and the claim's reasoning).
 */
#ifndef LABWATCH_CLI_NOTIFY_H
#define LABWATCH_CLI_NOTIFY_H

#include <stdbool.h>

#include "lib/attr.h"

/* Where events go: a command or a URL, under a name. */
struct notify_target {
	const char *name; /* the deliveries' target; default: exec or url */
	const char *exec; /* /bin/sh -c CMD, or NULL */
	const char *url;  /* a webhook, or NULL */
	bool escalation;  /* takes escalate events (and closes their pages) */
	long long since;  /* notify_register(): the events it starts after */
	char horizon[24]; /* the catch-up's start (an xid8; "" for all) */
};

/* What labwatch notify was asked to do. Owned by cmd_notify. */
struct notify_opts {
	const char *db;
	struct notify_target main;
	struct notify_target esc; /* used when escalate_after > 0 */
	const char *ca;		  /* PEM file for https webhooks, or NULL */
	int min_severity;	  /* 0 info, 1 warning, 2 critical */
	const char *kinds;	  /* "{toxicity,hold}" (a text[]), or NULL */
	const char *protocol;	  /* or NULL */
	int max_attempts;
	double retry_base;	    /* first retry after this (s) */
	double retry_max;	    /* the backoff's cap (s) */
	double timeout;		    /* one delivery at most (s) */
	double escalate_after;	    /* 0: no escalation */
	int parallel;		    /* deliveries in flight at once (1-256) */
	const char *metrics_listen; /* host:port for /metrics, or NULL */
};

/*
 * A duration: a number (decimals allowed) and a unit ms, s, m or h ("90s",
 * "10m", "1.5h", "200ms"); a bare number is seconds. 0 and *secs, or -1.
 */
LW_MUSTCHECK int notify_parse_duration(const char *s, double *secs);

/*
 * The wait before attempt n + 1 after n failed ones (n >= 1): base *
 * 2^(n-1), at most max.
 */
double notify_backoff(int n, double base, double max);

/* A line of labwatch notify's log: "labwatch notify: " and the text, on stderr. */
void notify_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The rank of a severity (info 0, warning 1, critical 2), or -1. */
int notify_severity_rank(const char *s);

/*
 * Run until SIGINT or SIGTERM (the deliveries under way are finished and
 * recorded first; no more are started). Reconnects to PostgreSQL as long
 * as it takes, with a pause that doubles up to 30 s. Returns the exit
 * status: 0, or 1 when the delivery threads could not be started or the
 * metrics listener cannot open.
 */
int notify_run(struct notify_opts *o);

#endif
