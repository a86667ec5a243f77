/*
 * notify.c: labwatch notify's delivery loop (see notify.h).
 *
 * One PostgreSQL session, LISTEN labwatch_alert. Each turn of the loop:
 * escalate the critical alerts nobody answered in time (when asked to),
 * add a deliveries row for each new event a target takes (the catch-up:
 * it runs at start, after every reconnect and on every wake, so nothing
 * committed while we were away is missed), then claim the due rows one
 * at a time, deliver, record. Then wait on the socket for a NOTIFY, at
 * most until the next retry is due or a second has passed (escalation
 * deadlines need a clock, not a NOTIFY).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cli/cmd.h"
#include "cli/deliver.h"
#include "cli/notify.h"
#include "cli/notify_metrics.h"
#include "daemon/notify.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "store/db.h"

/* What the claimer is called in deliveries.claimed_by. */
static char me[300];
static volatile sig_atomic_t stopping;

/* One claimed delivery, and its event (columns of EVENT_COLUMNS). */
struct claim {
	long long event;
	int attempt;
	PGresult *ev; /* owned: freed by deliver_one */
};

/* The claim's answer: the delivery, then the event. */
enum { EV_EVENT = 2, EV_DEDUP, EV_ID, EV_AT, EV_BY, EV_NOTE, EV_ALERT };

static void nlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
nlog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("labwatch notify: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int
notify_parse_duration(const char *s, double *secs)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = { { "", 1 }, { "ms", 0.001 }, { "s", 1 }, { "m", 60 },
		{ "h", 3600 } };
	char *end;
	double v;
	size_t i;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v))
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			*secs = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

double
notify_backoff(int n, double base, double max)
{
	double d = base;

	while (--n > 0 && d < max)
		d *= 2;
	return d < max ? d : max;
}

int
notify_severity_rank(const char *s)
{
	static const char *const sev[] = { "info", "warning", "critical" };
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(s, sev[i]) == 0)
			return i;
	return -1;
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* The session, listening, with both targets registered; or NULL. */
static PGconn *
session(struct notify_opts *o, char **cause)
{
	struct notify_target *t[2] = { &o->main, &o->esc };
	const char *p[1];
	PGresult *r;
	PGconn *c;
	bool ready;
	int i;

	if ((c = db_connect(db_conninfo(o->db), "labwatch notify", cause)) ==
	    NULL)
		return NULL;
	if (db_schema_ready(c, &ready, cause) != DB_OK)
		goto fail;
	if (!ready) {
		*cause = xstrdup("the database has no labwatch schema: run "
				 "labwatch migrate");
		goto fail;
	}
	/*
	 * Claims, collected rows and escalate events need not survive a
	 * crash of PostgreSQL (they are made again); what records a delivery
	 * does: its statement turns synchronous_commit on for its own
	 * transaction (SYNC_COMMIT). One fsync per event, not two. A
	 * statement that hangs (a lock, a server in trouble) ends after a
	 * minute, under the unit's watchdog.
	 */
	if (db_set_search_path(c, cause) != DB_OK ||
	    db_exec(c, "listen",
		"SET synchronous_commit = off; SET statement_timeout = '60s'; "
		"LISTEN labwatch_alert",
		cause) != DB_OK)
		goto fail;
	for (i = 0; i < 2; i++) {
		if (t[i]->name == NULL)
			continue;
		p[0] = t[i]->name;
		r = db_query(c, "register the target",
		    "SELECT notify_register($1)", 1, p, cause);
		if (r == NULL)
			goto fail;
		t[i]->since = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		t[i]->horizon[0] = '\0'; /* a new session: a full scan */
		PQclear(r);
	}
	return c;
fail:
	PQfinish(c);
	return NULL;
}

/*
 * The first CTE of a statement that must be durable in a session that
 * commits asynchronously: set_config(..., true) lasts until the commit of
 * the statement's own transaction, and the commit reads it. The statement
 * joins s so that it is evaluated.
 */
#define SYNC_COMMIT \
	"WITH s AS MATERIALIZED (SELECT set_config('synchronous_commit', " \
	"'on', true)) "

/*
 * Give each critical alert left open past our deadline its escalate event
 * for our escalation target (notify_escalate() locks the alert and reads
 * its state again).
 */
static bool
escalate(PGconn *c, const struct notify_opts *o)
{
	char after[32], since[32], note[64], *cause = NULL;
	const char *p[6];
	PGresult *r;

	snprintf(after, sizeof(after), "%.3f", o->escalate_after);
	snprintf(since, sizeof(since), "%lld", o->esc.since);
	snprintf(note, sizeof(note), "not acknowledged within %g s",
	    o->escalate_after);
	p[0] = after;
	p[1] = since;
	p[2] = note;
	p[3] = o->kinds;
	p[4] = o->protocol;
	p[5] = o->esc.name;
	r = db_query(c, "escalate",
	    "SELECT notify_escalate($6, $1::float8, $2::bigint, $3, "
	    "$4::text[], $5)",
	    6, p, &cause);
	if (r == NULL) {
		nlog("%s", cause);
		free(cause);
		return false;
	}
	/* How many escalate events it wrote. */
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		notify_metrics_escalated(
		    strtoull(PQgetvalue(r, 0, 0), NULL, 10));
	PQclear(r);
	return true;
}

/*
 * The catch-up: a deliveries row for every event after the target's
 * start that it takes and has none yet. An escalation target takes its
 * own escalate events, and the acknowledge and resolve events of the
 * escalated alert and of the alerts that supersede it (the rest of its
 * episode), whatever their event ids, so that the escalation page is
 * closed; the main target all the events but escalate events.
 *
 * The main target's scan starts at its horizon: every event written by a
 * transaction older than the oldest one running at the last scan
 * (pg_snapshot_xmin) was visible to it and judged then (on the event and
 * its alert's kind, severity and protocol, which never change). The
 * horizon is 0 at start and after a reconnect: a full scan. An escalation
 * target judges events by others (an escalate before them), so it scans
 * the events of escalated alerts, which are few, every time.
 */
static bool
collect(PGconn *c, const struct notify_opts *o, struct notify_target *t)
{
	char since[32], sev[8], *cause = NULL;
	const char *p[7];
	PGresult *r;

	snprintf(since, sizeof(since), "%lld", t->since);
	snprintf(sev, sizeof(sev), "%d", o->min_severity);
	p[0] = t->name;
	p[1] = since;
	p[2] = t->escalation ? "t" : "f";
	p[3] = sev;
	p[4] = o->kinds;
	p[5] = o->protocol;
	p[6] = t->horizon[0] != '\0' ? t->horizon : "0";
	r = db_query(c, "collect the events",
	    "WITH snap AS MATERIALIZED (SELECT "
	    "pg_snapshot_xmin(pg_current_snapshot())::text AS x), "
	    "esc AS MATERIALIZED (SELECT x.id, x.alert FROM alert_events x "
	    "WHERE $3::bool AND x.event = 'escalate' AND x.target = $1 "
	    "AND x.id > $2::bigint), "
	    "ep AS MATERIALIZED (SELECT DISTINCT f AS alert FROM esc, "
	    "alert_episode_from(esc.alert) f), "
	    "ins AS (INSERT INTO deliveries (event, target) "
	    "SELECT e.id, $1 FROM alert_events e JOIN alerts a "
	    "ON a.id = e.alert WHERE e.id > $2::bigint "
	    "AND CASE WHEN $3::bool THEN e.id IN (SELECT id FROM esc) OR "
	    "(e.event IN ('acknowledge', 'resolve') AND e.alert IN "
	    "(SELECT alert FROM ep)) "
	    "ELSE e.event <> 'escalate' AND e.xid >= $7::xid8 END "
	    "AND CASE a.severity WHEN 'info' THEN 0 WHEN 'warning' THEN 1 "
	    "ELSE 2 END >= $4::int "
	    "AND ($5::text[] IS NULL OR a.kind = ANY ($5)) "
	    "AND ($6::text IS NULL OR a.protocol = $6) "
	    "AND NOT EXISTS (SELECT 1 FROM deliveries d "
	    "WHERE d.event = e.id AND d.target = $1) "
	    "ORDER BY e.id ON CONFLICT DO NOTHING RETURNING 1) "
	    "SELECT x FROM snap",
	    7, p, &cause);
	if (r == NULL) {
		nlog("%s", cause);
		free(cause);
		return false;
	}
	if (!t->escalation)
		snprintf(t->horizon, sizeof(t->horizon), "%s",
		    PQgetvalue(r, 0, 0));
	PQclear(r);
	return true;
}

/*
 * Claim the oldest due delivery of t: pending and due, or delivering
 * under a lease that ran out (its claimer died) with attempts left (see
 * expire()). A row waits while an earlier event of its episode (the same
 * dedup key) is pending or delivering for t: one episode's events reach a
 * target in order, whatever retries, backoffs and other claimers do (an
 * acknowledge before its trigger is dropped by a paging service, and the
 * incident the trigger then opens stays open). The lease outlasts the
 * command's timeout. 1 and *cl, 0 when none is due, -1 after an error.
 */
static int
claim(PGconn *c, const struct notify_opts *o, const struct notify_target *t,
    struct claim *cl)
{
	char lease[32], max[16], *cause = NULL;
	const char *p[4];
	PGresult *r;
	int n;

	snprintf(lease, sizeof(lease), "%.3f", o->timeout + 5);
	snprintf(max, sizeof(max), "%d", o->max_attempts);
	p[0] = t->name;
	p[1] = lease;
	p[2] = me;
	p[3] = max;
	r = db_query(c, "claim a delivery",
	    "WITH c AS (SELECT d.event FROM deliveries d JOIN alert_events ce "
	    "ON ce.id = d.event WHERE d.target = $1 "
	    "AND ((d.state = 'pending' AND d.next_attempt_at <= now()) OR "
	    "(d.state = 'delivering' AND d.lease_until <= now() "
	    "AND d.attempts < $4::int)) "
	    "AND NOT EXISTS (SELECT 1 FROM deliveries b JOIN alert_events be "
	    "ON be.id = b.event WHERE b.target = $1 AND b.event < d.event "
	    "AND b.state IN ('pending', 'delivering') "
	    "AND alert_dedup_key(be.alert) = alert_dedup_key(ce.alert)) "
	    "ORDER BY d.event LIMIT 1 FOR UPDATE OF d SKIP LOCKED) "
	    "UPDATE deliveries d SET state = 'delivering', "
	    "attempts = d.attempts + 1, claimed_by = $3, "
	    "lease_until = now() + make_interval(secs => $2::float8) "
	    "FROM c, alert_events e WHERE d.event = c.event "
	    "AND d.target = $1 AND e.id = c.event "
	    "RETURNING d.event, d.attempts, e.event, "
	    "alert_dedup_key(e.alert), e.id, " DB_ISO("e.at") ", e.by, "
							      "e.note, e.alert",
	    4, p, &cause);
	if (r == NULL) {
		nlog("%s", cause);
		free(cause);
		return -1;
	}
	if ((n = PQntuples(r)) != 1) {
		PQclear(r);
		return 0;
	}
	cl->event = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	cl->attempt = atoi(PQgetvalue(r, 0, 1));
	cl->ev = r;
	return 1;
}

/* sent_at: now, ISO 8601 UTC with milliseconds. */
static void
iso_now(char *out, size_t cap)
{
	struct timeval tv;
	struct tm tm;
	char s[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%.19s.%03dZ", s, (int)(tv.tv_usec / 1000) % 1000);
}

/* A column of r's row 0 by name, "" when NULL. */
static const char *
col(const PGresult *r, const char *name)
{
	int i = PQfnumber(r, name);

	return i < 0 || PQgetisnull(r, 0, i) ? "" : PQgetvalue(r, 0, i);
}

/* Append "NAME=value" to env[*n]. */
static void
env_add(char **env, int *n, const char *name, const char *value)
{
	env[(*n)++] = xasprintf("%s=%s", name, value);
	env[*n] = NULL;
}

/*
 * The event's JSON into b and its environment into env (10 slots);
 * false after an error.
 */
static bool
event_json(PGconn *c, const struct notify_target *t, const struct claim *cl,
    struct buf *b, char **env)
{
	const PGresult *e = cl->ev;
	char sent[40], *sql, *cause = NULL;
	const char *p[1];
	PGresult *a;
	int n = 0;

	p[0] = PQgetvalue(e, 0, EV_ALERT);
	sql = xasprintf("SELECT %s FROM alerts a JOIN patients p "
			"ON p.id = a.patient WHERE a.id = $1",
	    cli_alert_columns);
	a = db_query(c, "read the alert", sql, 1, p, &cause);
	free(sql);
	if (a == NULL || PQntuples(a) != 1) {
		nlog("event %lld: %s", cl->event,
		    cause != NULL ? cause : "its alert is gone");
		free(cause);
		PQclear(a);
		return false;
	}
	iso_now(sent, sizeof(sent));
	buf_adds(b, "{\"event\":");
	json_strz(b, PQgetvalue(e, 0, EV_EVENT));
	buf_adds(b, ",\"dedup_key\":");
	json_strz(b, PQgetvalue(e, 0, EV_DEDUP));
	buf_printf(b,
	    ",\"attempt\":%d,\"sent_at\":\"%s\",\"target\":", cl->attempt,
	    sent);
	json_strz(b, t->name);
	buf_printf(b, ",\"event_id\":%s,\"event_at\":\"%s\",\"by\":",
	    PQgetvalue(e, 0, EV_ID), PQgetvalue(e, 0, EV_AT));
	json_strz(b, PQgetisnull(e, 0, EV_BY) ? NULL : PQgetvalue(e, 0, EV_BY));
	buf_adds(b, ",\"note\":");
	json_strz(b,
	    PQgetisnull(e, 0, EV_NOTE) ? NULL : PQgetvalue(e, 0, EV_NOTE));
	buf_adds(b, ",\"alert\":");
	cli_json_row(b, a, 0);
	buf_adds(b, "}\n");
	env_add(env, &n, "LABWATCH_ALERT_ID", col(a, "id"));
	env_add(env, &n, "LABWATCH_ALERT_PATIENT", col(a, "patient_id"));
	env_add(env, &n, "LABWATCH_ALERT_SEVERITY", col(a, "severity"));
	env_add(env, &n, "LABWATCH_ALERT_KIND", col(a, "kind"));
	env_add(env, &n, "LABWATCH_ALERT_SUMMARY", col(a, "summary"));
	env_add(env, &n, "LABWATCH_ALERT_DEDUP_KEY",
	    PQgetvalue(e, 0, EV_DEDUP));
	env_add(env, &n, "LABWATCH_ALERT_EVENT", PQgetvalue(e, 0, EV_EVENT));
	PQclear(a);
	return true;
}

/* Record a delivery done: delivered_at, under our own claim only. */
static bool
record_ok(PGconn *c, const struct notify_target *t, const struct claim *cl)
{
	char ev[32], at[16], *cause = NULL;
	const char *p[4];
	PGresult *r;
	bool mine;

	snprintf(ev, sizeof(ev), "%lld", cl->event);
	snprintf(at, sizeof(at), "%d", cl->attempt);
	p[0] = ev;
	p[1] = t->name;
	p[2] = me;
	p[3] = at;
	r = db_query(c, "record the delivery",
	    SYNC_COMMIT
	    "UPDATE deliveries SET state = 'delivered', delivered_at = now(), "
	    "lease_until = NULL, last_error = NULL FROM s WHERE event = $1 "
	    "AND target = $2 AND state = 'delivering' AND claimed_by = $3 "
	    "AND attempts = $4::int",
	    4, p, &cause);
	if (r == NULL) {
		nlog("event %lld was delivered to %s but not recorded: %s",
		    cl->event, t->name, cause);
		free(cause);
		return false;
	}
	mine = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!mine)
		nlog("event %lld: the lease ran out before it was recorded "
		     "(raise --timeout?)",
		    cl->event);
	return true;
}

/*
 * The CTE "op" of a statement whose CTE "d" returns the deliveries of
 * target $2 that failed (event, state, attempts, last_error): a critical
 * operational alert for each (not for an operational alert's own events:
 * paging cannot page about itself).
 */
#define OP_ALERT \
	"op AS (INSERT INTO alerts (patient, protocol, kind, severity, " \
	"summary, details) SELECT a.patient, a.protocol, 'data_quality', " \
	"'critical', format('Paging failed: alert #%s (%s %s) could not " \
	"be delivered to %s after %s attempts (%s): see that it reaches " \
	"someone', a.id, a.severity, a.kind, $2, d.attempts, " \
	"d.last_error), jsonb_build_object('operational', " \
	"'paging_failed', 'alert', a.id, 'event', e.id, 'target', " \
	"$2::text, 'attempts', d.attempts, 'last_error', d.last_error) " \
	"FROM d JOIN alert_events e ON e.id = d.event JOIN alerts a " \
	"ON a.id = e.alert WHERE d.state = 'failed' AND " \
	"coalesce(a.details->>'operational', '') <> 'paging_failed' " \
	"RETURNING id) "

/*
 * A delivery whose lease ran out at its last attempt (its claimer died
 * while running it, --max-attempts times: a crash loop) is not run again:
 * it is failed, with its operational alert. false after an error.
 */
static bool
expire(PGconn *c, const struct notify_opts *o, const struct notify_target *t)
{
	char max[16], *cause = NULL;
	const char *p[2];
	PGresult *r;
	int i;

	snprintf(max, sizeof(max), "%d", o->max_attempts);
	p[0] = max;
	p[1] = t->name;
	r = db_query(c, "fail the expired deliveries",
	    SYNC_COMMIT
	    ", d AS (UPDATE deliveries SET state = 'failed', failed_at = now(), "
	    "lease_until = NULL, last_error = format('the lease ran out at "
	    "attempt %s (its claimer died?)', attempts) FROM s "
	    "WHERE target = $2 AND state = 'delivering' "
	    "AND lease_until <= now() AND attempts >= $1::int "
	    "RETURNING event, state, attempts, last_error), " OP_ALERT
	    "SELECT d.event, d.attempts, (SELECT count(*) FROM op) FROM d",
	    2, p, &cause);
	if (r == NULL) {
		nlog("%s", cause);
		free(cause);
		return false;
	}
	for (i = 0; i < PQntuples(r); i++)
		nlog("event %s: delivery to %s failed after %s attempts (the "
		     "lease ran out: not run again)%s",
		    PQgetvalue(r, i, 0), t->name, PQgetvalue(r, i, 1),
		    strcmp(PQgetvalue(r, i, 2), "0") != 0 ?
			"; operational alert raised" :
			"");
	PQclear(r);
	return true;
}

/*
 * Record a failed attempt: pending again after the backoff, or failed
 * after the last one, with a critical operational alert (not for an
 * operational alert's own events: paging cannot page about itself).
 */
static bool
record_fail(PGconn *c, const struct notify_opts *o,
    const struct notify_target *t, const struct claim *cl, const char *err,
    uint64_t usec)
{
	char ev[32], at[16], max[16], wait[32], *cause = NULL;
	const char *p[7];
	PGresult *r;

	snprintf(ev, sizeof(ev), "%lld", cl->event);
	snprintf(at, sizeof(at), "%d", cl->attempt);
	snprintf(max, sizeof(max), "%d", o->max_attempts);
	snprintf(wait, sizeof(wait), "%.3f",
	    notify_backoff(cl->attempt, o->retry_base, o->retry_max));
	p[0] = ev;
	p[1] = t->name;
	p[2] = me;
	p[3] = at;
	p[4] = max;
	p[5] = err;
	p[6] = wait;
	r = db_query(c, "record the failed attempt",
	    SYNC_COMMIT
	    ", d AS (UPDATE deliveries SET state = CASE WHEN attempts >= "
	    "$5::int THEN 'failed' ELSE 'pending' END, last_error = $6, "
	    "lease_until = NULL, failed_at = CASE WHEN attempts >= $5::int "
	    "THEN now() END, next_attempt_at = now() + "
	    "make_interval(secs => $7::float8) FROM s WHERE event = $1 "
	    "AND target = $2 AND state = 'delivering' AND claimed_by = $3 "
	    "AND attempts = $4::int "
	    "RETURNING event, state, attempts, last_error), " OP_ALERT
	    "SELECT (SELECT state FROM d), (SELECT id FROM op)",
	    7, p, &cause);
	if (r == NULL) {
		nlog("%s", cause);
		free(cause);
		return false;
	}
	if (!PQgetisnull(r, 0, 0))
		notify_metrics_delivery(strcmp(PQgetvalue(r, 0, 0), "failed") ==
			    0 ?
			NOTIFY_FAILED :
			NOTIFY_RETRY,
		    usec);
	if (PQgetisnull(r, 0, 0))
		nlog("event %lld: the lease ran out before the failed attempt "
		     "was recorded (raise --timeout?)",
		    cl->event);
	else if (strcmp(PQgetvalue(r, 0, 0), "failed") == 0)
		nlog("event %lld: delivery to %s failed after %d attempts "
		     "(%s)%s%s",
		    cl->event, t->name, cl->attempt, err,
		    PQgetisnull(r, 0, 1) ? "" : "; operational alert ",
		    PQgetisnull(r, 0, 1) ? "" : PQgetvalue(r, 0, 1));
	else
		nlog("event %lld: attempt %d to %s failed (%s); retry in %s s",
		    cl->event, cl->attempt, t->name, err, wait);
	PQclear(r);
	return true;
}

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Claim, deliver and record one event of t: 1 done, 0 none due, -1 error. */
static int
deliver_one(PGconn *c, const struct notify_opts *o,
    const struct notify_target *t)
{
	char *env[10] = { NULL }, err[256];
	enum deliver_rc rc;
	struct claim cl = { 0, 0, NULL };
	struct buf b;
	uint64_t t0, took;
	int n, i;
	bool ok;

	if ((n = claim(c, o, t, &cl)) <= 0)
		return n;
	buf_init(&b);
	if (!event_json(c, t, &cl, &b, env)) {
		snprintf(err, sizeof(err), "the event could not be read");
		ok = record_fail(c, o, t, &cl, err, 0);
		goto out;
	}
	t0 = mono_usec();
	if (t->exec != NULL)
		rc = deliver_exec(t->exec, b.p, b.len, env, o->timeout, err,
		    sizeof(err));
	else
		rc = deliver_http(t->url, o->ca, b.p, b.len, o->timeout, err,
		    sizeof(err));
	took = mono_usec() - t0;
	if (rc == DELIVER_OK) {
		ok = record_ok(c, t, &cl);
		if (ok) {
			notify_metrics_delivery(NOTIFY_DELIVERED, took);
			nlog("event %lld delivered to %s (attempt %d)",
			    cl.event, t->name, cl.attempt);
		}
	} else
		ok = record_fail(c, o, t, &cl, err, took);
out:
	PQclear(cl.ev);
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	buf_free(&b);
	return ok ? 1 : -1;
}

/* Seconds until the next retry of either target is due (at most 1). */
static double
next_due(PGconn *c, const struct notify_opts *o)
{
	const char *p[2] = { o->main.name, o->esc.name };
	char *cause = NULL;
	PGresult *r;
	double s = 1;

	r = db_query(c, "find the next retry",
	    "SELECT extract(epoch FROM min(CASE WHEN state = 'pending' "
	    "THEN next_attempt_at ELSE lease_until END) - now()) "
	    "FROM deliveries WHERE target IN ($1, $2) "
	    "AND state IN ('pending', 'delivering')",
	    2, p, &cause);
	if (r == NULL) {
		free(cause);
		return s;
	}
	if (!PQgetisnull(r, 0, 0))
		s = strtod(PQgetvalue(r, 0, 0), NULL);
	PQclear(r);
	return s < 0 ? 0 : s > 1 ? 1 : s;
}

/*
 * Whether SIGINT or SIGTERM waits (they are blocked outside ppoll()): then
 * stopping, so that only the delivery under way is finished, not the
 * whole backlog.
 */
static bool
stop_pending(void)
{
	sigset_t set;

	if (!stopping && sigpending(&set) == 0 &&
	    (sigismember(&set, SIGINT) == 1 || sigismember(&set, SIGTERM) == 1))
		stopping = 1;
	return stopping;
}

/* One turn: escalate, collect, deliver what is due. false: reconnect. */
static bool
turn(PGconn *c, struct notify_opts *o)
{
	struct notify_target *t[2] = { &o->main, &o->esc };
	int i, n = 0;

	if (o->escalate_after > 0 && !escalate(c, o))
		return PQstatus(c) == CONNECTION_OK;
	for (i = 0; i < 2; i++)
		if (t[i]->name != NULL && !collect(c, o, t[i]))
			return PQstatus(c) == CONNECTION_OK;
	for (i = 0; i < 2; i++) {
		if (t[i]->name == NULL)
			continue;
		if (!expire(c, o, t[i]))
			return PQstatus(c) == CONNECTION_OK;
		while (!stop_pending() && (n = deliver_one(c, o, t[i])) > 0)
			notify_send("WATCHDOG=1");
		if (!stopping && n < 0)
			return PQstatus(c) == CONNECTION_OK;
	}
	return true;
}

/* Sleep secs, or until SIGINT or SIGTERM. */
static void
wait_for_signal(double secs, const sigset_t *waitmask)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	(void)ppoll(NULL, 0, &ts, waitmask);
}

/* Wait for a NOTIFY or the timeout; false when the session broke. */
static bool
wait_for(PGconn *c, double secs, const sigset_t *waitmask)
{
	struct timespec ts;
	struct pollfd pfd;
	PGnotify *n;
	bool woken = false;

	/*
	 * A NOTIFY that came in with the answer to a query of the last turn
	 * is already in libpq's queue, not on the socket: go round at once.
	 */
	while ((n = PQnotifies(c)) != NULL) {
		PQfreemem(n);
		woken = true;
	}
	if (woken)
		return true;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	pfd.fd = PQsocket(c);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		return false;
	if (ppoll(&pfd, 1, &ts, waitmask) < 0 && errno != EINTR)
		return false;
	if (PQconsumeInput(c) == 0)
		return false;
	while ((n = PQnotifies(c)) != NULL)
		PQfreemem(n);
	return true;
}

int
notify_run(struct notify_opts *o)
{
	struct sigaction sa;
	sigset_t block, waitmask;
	char host[256], *cause = NULL;
	double pause = 1;
	PGconn *c = NULL;

	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "?");
	host[sizeof(host) - 1] = '\0';
	snprintf(me, sizeof(me), "%s:%ld", host, (long)getpid());
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (notify_init(&cause) != 0) {
		nlog("%s", cause);
		free(cause);
		cause = NULL;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	/* Started with SIGINT and SIGTERM blocked: they stay the loop's. */
	if (o->metrics_listen != NULL) {
		if (notify_metrics_start(o->metrics_listen, &cause) != 0) {
			nlog("%s", cause);
			free(cause);
			return 1;
		}
		nlog("metrics on http://%.*s:%u/metrics",
		    (int)(strrchr(o->metrics_listen, ':') - o->metrics_listen),
		    o->metrics_listen, notify_metrics_port());
	}
	while (!stopping) {
		if (c == NULL) {
			if ((c = session(o, &cause)) == NULL) {
				nlog("%s; again in %g s", cause, pause);
				notify_send("STATUS=waiting for the database\n"
					    "WATCHDOG=1");
				free(cause);
				cause = NULL;
				wait_for_signal(pause, &waitmask);
				pause = pause < 30 ? pause * 2 : 30;
				continue;
			}
			nlog("listening; delivering to %s%s%s", o->main.name,
			    o->esc.name != NULL ? ", escalating to " : "",
			    o->esc.name != NULL ? o->esc.name : "");
			notify_send("READY=1\nSTATUS=listening");
			pause = 1;
		}
		/* Each turn is at most a second plus a delivery's timeout. */
		notify_send("WATCHDOG=1");
		if (!turn(c, o) ||
		    (!stopping && !wait_for(c, next_due(c, o), &waitmask))) {
			nlog("lost the database connection; reconnecting");
			PQfinish(c);
			c = NULL;
		}
	}
	notify_send("STOPPING=1");
	PQfinish(c);
	notify_metrics_stop();
	notify_close();
	nlog("stopped");
	return 0;
}
