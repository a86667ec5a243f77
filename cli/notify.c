/*
 * notify.c: labwatch notify's delivery loop (see notify.h).
 *
 * One PostgreSQL session, LISTEN labwatch_alert, in the main thread;
 * the deliveries themselves run in --parallel worker threads
 * (notify_pool.c). Each turn of the loop: record what the workers
 * finished (all of a target's successes in one statement); on a NOTIFY,
 * at start and at least once a second, add a deliveries row for each new
 * event a target takes (the catch-up: it runs at start, after every
 * reconnect and on every wake, so nothing committed while we were away
 * is missed), and once a second (escalation deadlines need a clock, not a
 * NOTIFY) escalate the critical alerts nobody answered in time (when
 * asked to) and fail expired leases; then claim as many due rows as there
 * are free workers, in one statement, read their alerts in another, and
 * hand them over. Then wait on the socket for a NOTIFY and on the
 * workers, at most until the next retry is due or a second has passed.
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
#include "cli/notify_pool.h"
#include "daemon/notify.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "store/db.h"

/* What the claimer is called in deliveries.claimed_by. */
static char me[300];
static volatile sig_atomic_t stopping;

/* One claimed delivery: whose, which event, which attempt. */
struct claim {
	const struct notify_target *t;
	long long event;
	int attempt;
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
 * Claim the oldest due deliveries of t, at most n: pending and due, or
 * delivering under a lease that ran out (its claimer died) with attempts
 * left (see expire()). A row waits while an earlier event of its chain
 * (alert_chain_root: an episode, or a hold and the resume that answered
 * it) is pending or delivering for t, in flight here or elsewhere: one
 * chain's events reach a target in order, one at a time, whatever
 * retries, backoffs, workers and other claimers do (an acknowledge before
 * its trigger is dropped by a paging service, and the incident the
 * trigger then opens stays open). Only the first unfinished row of each
 * chain may be claimed (u and f: one alert_chain_root() per unfinished
 * row, not one per pair of them, which made a claim in a backlog of 400
 * take seconds). The lease outlasts the
 * command's timeout. The rows (event, attempt, then the event's columns,
 * EV_*), or NULL after an error.
 */
static PGresult *
claim(PGconn *c, const struct notify_opts *o, const struct notify_target *t,
    int n)
{
	char lease[32], max[16], lim[16], *cause = NULL;
	const char *p[5];
	PGresult *r;

	snprintf(lease, sizeof(lease), "%.3f", o->timeout + 5);
	snprintf(max, sizeof(max), "%d", o->max_attempts);
	snprintf(lim, sizeof(lim), "%d", n);
	p[0] = t->name;
	p[1] = lease;
	p[2] = me;
	p[3] = max;
	p[4] = lim;
	r = db_query(c, "claim deliveries",
	    "WITH u AS MATERIALIZED (SELECT d.event, "
	    "alert_chain_root(ue.alert) AS root FROM deliveries d "
	    "JOIN alert_events ue ON ue.id = d.event WHERE d.target = $1 "
	    "AND d.state IN ('pending', 'delivering')), "
	    "f AS (SELECT min(event) AS event FROM u GROUP BY root), "
	    "c AS (SELECT d.event FROM deliveries d JOIN f ON f.event = d.event "
	    "WHERE d.target = $1 "
	    "AND ((d.state = 'pending' AND d.next_attempt_at <= now()) OR "
	    "(d.state = 'delivering' AND d.lease_until <= now() "
	    "AND d.attempts < $4::int)) "
	    "ORDER BY d.event LIMIT $5::int FOR UPDATE OF d SKIP LOCKED) "
	    "UPDATE deliveries d SET state = 'delivering', "
	    "attempts = d.attempts + 1, claimed_by = $3, "
	    "lease_until = now() + make_interval(secs => $2::float8) "
	    "FROM c, alert_events e WHERE d.event = c.event "
	    "AND d.target = $1 AND e.id = c.event "
	    "RETURNING d.event, d.attempts, e.event, "
	    "alert_dedup_key(e.alert), e.id, " DB_ISO(
		"e.at") ", e.by, e.note, e.alert",
	    5, p, &cause);
	if (r == NULL) {
		nlog("%s", cause);
		free(cause);
	}
	return r;
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

/* A column of r's row k by name, "" when NULL. */
static const char *
col(const PGresult *r, int k, const char *name)
{
	int i = PQfnumber(r, name);

	return i < 0 || PQgetisnull(r, k, i) ? "" : PQgetvalue(r, k, i);
}

/*
 * The alerts of the events claim() returned in e, in one query (one
 * round trip per claim, not one per event); NULL after an error.
 */
static PGresult *
read_alerts(PGconn *c, const PGresult *e)
{
	struct buf ids;
	char *sql, *cause = NULL;
	const char *p[1];
	PGresult *a;
	int i;

	buf_init(&ids);
	for (i = 0; i < PQntuples(e); i++)
		buf_printf(&ids, "%c%s", i == 0 ? '{' : ',',
		    PQgetvalue(e, i, EV_ALERT));
	buf_addc(&ids, '}');
	p[0] = ids.p;
	sql = xasprintf("SELECT %s FROM alerts a JOIN patients p "
			"ON p.id = a.patient WHERE a.id = ANY ($1::bigint[])",
	    cli_alert_columns);
	a = db_query(c, "read the alerts", sql, 1, p, &cause);
	free(sql);
	buf_free(&ids);
	if (a == NULL) {
		nlog("%s", cause);
		free(cause);
	}
	return a;
}

/* Append "NAME=value" to env[*n]. */
static void
env_add(char **env, int *n, const char *name, const char *value)
{
	env[(*n)++] = xasprintf("%s=%s", name, value);
	env[*n] = NULL;
}

/*
 * The event of row i of claim()'s answer e, its alert in a (read_alerts(),
 * or NULL): its JSON into b and its environment into env (10 slots);
 * false when its alert could not be read.
 */
static bool
event_json(const struct claim *cl, const PGresult *e, int i, const PGresult *a,
    struct buf *b, char **env)
{
	const char *id = PQgetvalue(e, i, EV_ALERT);
	char sent[40];
	int n = 0, k;

	for (k = 0; a != NULL && k < PQntuples(a); k++)
		if (strcmp(col(a, k, "id"), id) == 0)
			break;
	if (a == NULL || k == PQntuples(a)) {
		nlog("event %lld: its alert could not be read", cl->event);
		return false;
	}
	iso_now(sent, sizeof(sent));
	buf_adds(b, "{\"event\":");
	json_strz(b, PQgetvalue(e, i, EV_EVENT));
	buf_adds(b, ",\"dedup_key\":");
	json_strz(b, PQgetvalue(e, i, EV_DEDUP));
	buf_printf(b,
	    ",\"attempt\":%d,\"sent_at\":\"%s\",\"target\":", cl->attempt,
	    sent);
	json_strz(b, cl->t->name);
	buf_printf(b, ",\"event_id\":%s,\"event_at\":\"%s\",\"by\":",
	    PQgetvalue(e, i, EV_ID), PQgetvalue(e, i, EV_AT));
	json_strz(b, PQgetisnull(e, i, EV_BY) ? NULL : PQgetvalue(e, i, EV_BY));
	buf_adds(b, ",\"note\":");
	json_strz(b,
	    PQgetisnull(e, i, EV_NOTE) ? NULL : PQgetvalue(e, i, EV_NOTE));
	buf_adds(b, ",\"alert\":");
	cli_json_row(b, a, k);
	buf_adds(b, "}\n");
	env_add(env, &n, "LABWATCH_ALERT_ID", col(a, k, "id"));
	env_add(env, &n, "LABWATCH_ALERT_PATIENT", col(a, k, "patient_id"));
	env_add(env, &n, "LABWATCH_ALERT_SEVERITY", col(a, k, "severity"));
	env_add(env, &n, "LABWATCH_ALERT_KIND", col(a, k, "kind"));
	env_add(env, &n, "LABWATCH_ALERT_SUMMARY", col(a, k, "summary"));
	env_add(env, &n, "LABWATCH_ALERT_DEDUP_KEY",
	    PQgetvalue(e, i, EV_DEDUP));
	env_add(env, &n, "LABWATCH_ALERT_EVENT", PQgetvalue(e, i, EV_EVENT));
	return true;
}

/*
 * Record the deliveries of t in jobs (a list, each done) as delivered,
 * under our own claims only, in one statement: one synchronous commit for
 * all the deliveries the workers finished while the last was recorded
 * (one each made a burst wait on the disk, 15-30 ms per event). false
 * after an error (then none is recorded).
 */
static bool
record_ok(PGconn *c, const struct notify_target *t, struct pool_job *jobs)
{
	struct buf ev, at;
	struct pool_job *j;
	const struct claim *cl;
	char *cause = NULL;
	const char *p[4];
	PGresult *r;
	bool mine;
	int i;

	buf_init(&ev);
	buf_init(&at);
	for (j = jobs; j != NULL; j = j->next) {
		cl = j->owner;
		buf_printf(&ev, "%c%lld", ev.len == 0 ? '{' : ',', cl->event);
		buf_printf(&at, "%c%d", at.len == 0 ? '{' : ',', cl->attempt);
	}
	buf_addc(&ev, '}');
	buf_addc(&at, '}');
	p[0] = ev.p;
	p[1] = at.p;
	p[2] = t->name;
	p[3] = me;
	r = db_query(c, "record the deliveries",
	    SYNC_COMMIT ", v AS (SELECT * FROM unnest($1::bigint[], "
			"$2::int[]) AS v(event, attempt)) "
			"UPDATE deliveries d SET state = 'delivered', "
			"delivered_at = now(), lease_until = NULL, "
			"last_error = NULL FROM s, v WHERE d.event = v.event "
			"AND d.attempts = v.attempt AND d.target = $3 "
			"AND d.state = 'delivering' AND d.claimed_by = $4 "
			"RETURNING d.event",
	    4, p, &cause);
	buf_free(&ev);
	buf_free(&at);
	for (j = jobs; j != NULL; j = j->next) {
		cl = j->owner;
		if (r == NULL) {
			if (PQstatus(c) == CONNECTION_OK)
				nlog("event %lld was delivered to %s but not "
				     "recorded: %s",
				    cl->event, t->name, cause);
			continue;
		}
		for (i = 0, mine = false; i < PQntuples(r) && !mine; i++)
			mine = strtoll(PQgetvalue(r, i, 0), NULL, 10) ==
			    cl->event;
		if (mine)
			nlog("event %lld delivered to %s (attempt %d)",
			    cl->event, t->name, cl->attempt);
		else
			nlog("event %lld: the lease ran out before it was "
			     "recorded (raise --timeout?)",
			    cl->event);
	}
	free(cause);
	PQclear(r);
	return r != NULL;
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
record_fail(PGconn *c, const struct notify_opts *o, const struct claim *cl,
    const char *err, uint64_t usec)
{
	const struct notify_target *t = cl->t;
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

/*
 * Hand row i of claim()'s answer r (a delivery of t; a: the alerts) to a
 * worker; an event whose alert cannot be read is a failed attempt. false
 * after an error.
 */
static bool
start(PGconn *c, const struct notify_opts *o, const struct notify_target *t,
    const PGresult *r, int i, const PGresult *a, struct notify_pool *pool)
{
	struct claim *cl = xmalloc(sizeof(*cl));
	struct pool_job *j = pool_job_new();
	bool ok;

	cl->t = t;
	cl->event = strtoll(PQgetvalue(r, i, 0), NULL, 10);
	cl->attempt = atoi(PQgetvalue(r, i, 1));
	if (!event_json(cl, r, i, a, &j->body, j->env)) {
		ok = record_fail(c, o, cl, "the event could not be read", 0);
		free(cl);
		pool_job_free(j);
		return ok;
	}
	j->exec = t->exec;
	j->url = t->url;
	j->owner = cl;
	pool_submit(pool, j);
	return true;
}

/* Free a finished delivery and its claim. */
static void
job_free(struct pool_job *j)
{
	free(j->owner);
	pool_job_free(j);
}

/* Move the deliveries the workers finished to *held. */
static void
hold_done(struct notify_pool *pool, struct pool_job **held)
{
	struct pool_job *j;

	while ((j = pool_collect(pool)) != NULL) {
		j->next = *held;
		*held = j;
	}
}

/* Put list back in front of *held. */
static void
hold_again(struct pool_job *list, struct pool_job **held)
{
	struct pool_job *j;

	while ((j = list) != NULL) {
		list = j->next;
		j->next = *held;
		*held = j;
	}
}

/*
 * Record the deliveries the workers finished, and those held from a
 * broken session: the successes of each target in one statement, each
 * failed attempt on its own (record_fail). false when the session broke
 * (what was not recorded stays held for the next: its lease has time).
 */
static bool
record_done(PGconn *c, const struct notify_opts *o, struct notify_pool *pool,
    struct pool_job **held)
{
	const struct notify_target *t[2] = { &o->main, &o->esc };
	struct pool_job *ok[2] = { NULL, NULL }, *bad = NULL, *j;
	const struct claim *cl;
	bool recorded;
	int i;

	hold_done(pool, held);
	while ((j = *held) != NULL) {
		*held = j->next;
		cl = j->owner;
		i = cl->t == t[0] ? 0 : 1;
		if (j->rc == DELIVER_OK) {
			j->next = ok[i];
			ok[i] = j;
		} else {
			j->next = bad;
			bad = j;
		}
	}
	for (i = 0; i < 2; i++) {
		recorded = ok[i] != NULL && record_ok(c, t[i], ok[i]);
		if (ok[i] != NULL && !recorded &&
		    PQstatus(c) != CONNECTION_OK) {
			for (; i < 2; i++)
				hold_again(ok[i], held);
			hold_again(bad, held);
			return false;
		}
		while ((j = ok[i]) != NULL) {
			ok[i] = j->next;
			if (recorded)
				notify_metrics_delivery(NOTIFY_DELIVERED,
				    j->usec);
			job_free(j);
		}
	}
	while ((j = bad) != NULL) {
		if (!record_fail(c, o, j->owner, j->err, j->usec) &&
		    PQstatus(c) != CONNECTION_OK) {
			hold_again(bad, held);
			return false;
		}
		bad = j->next;
		job_free(j);
	}
	return true;
}

/*
 * Whether SIGINT or SIGTERM waits (they are blocked outside ppoll()): then
 * stopping, so that only the deliveries under way are finished, not the
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

/*
 * Claim what is due for each target, as many rows as there are free
 * workers, and start them. false after an error.
 */
static bool
fill(PGconn *c, const struct notify_opts *o, struct notify_pool *pool)
{
	const struct notify_target *t[2] = { &o->main, &o->esc };
	PGresult *r, *a;
	int i, k, n, room;
	bool ok = true;

	for (i = 0; i < 2 && ok; i++) {
		if (t[i]->name == NULL)
			continue;
		while (ok && (room = pool_free_slots(pool)) > 0 &&
		    !stop_pending()) {
			if ((r = claim(c, o, t[i], room)) == NULL)
				return false;
			n = PQntuples(r);
			a = n > 0 ? read_alerts(c, r) : NULL;
			for (k = 0; k < n; k++)
				if (!start(c, o, t[i], r, k, a, pool))
					ok = false;
			PQclear(a);
			PQclear(r);
			if (n < room)
				break;
		}
	}
	return ok;
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

/* Sleep secs, or until SIGINT or SIGTERM. */
static void
wait_for_signal(double secs, const sigset_t *waitmask)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	(void)ppoll(NULL, 0, &ts, waitmask);
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Wait for a NOTIFY (then *woken), a delivery finished or the timeout;
 * false when the session broke.
 */
static bool
wait_for(PGconn *c, struct notify_pool *pool, double secs,
    const sigset_t *waitmask, bool *woken)
{
	struct timespec ts;
	struct pollfd pfd[2];
	PGnotify *n;

	/*
	 * A NOTIFY that came in with the answer to a query of the last turn
	 * is already in libpq's queue, not on the socket: go round at once.
	 */
	while ((n = PQnotifies(c)) != NULL) {
		PQfreemem(n);
		*woken = true;
	}
	if (*woken)
		return true;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	pfd[0].fd = PQsocket(c);
	pfd[0].events = POLLIN;
	pfd[1].fd = pool_fd(pool);
	pfd[1].events = POLLIN;
	if (pfd[0].fd < 0)
		return false;
	if (ppoll(pfd, 2, &ts, waitmask) < 0 && errno != EINTR)
		return false;
	if (PQconsumeInput(c) == 0)
		return false;
	while ((n = PQnotifies(c)) != NULL) {
		PQfreemem(n);
		*woken = true;
	}
	return true;
}

/* The delivery loop's state. */
struct loop {
	struct notify_opts *o;
	struct notify_pool *pool;
	struct pool_job *held; /* finished, to record once connected */
	PGconn *c;
	double pause;	/* before the next connection attempt (s) */
	double scanned; /* when the last scan ran (now_mono()) */
	bool woken;	/* a NOTIFY came, or a new session: scan */
	sigset_t waitmask;
};

/*
 * Collect; on the clock's turn (tick) escalate first and expire after.
 * false after an error.
 */
static bool
scan(PGconn *c, struct notify_opts *o, bool tick)
{
	struct notify_target *t[2] = { &o->main, &o->esc };
	int i;

	if (tick && o->escalate_after > 0 && !escalate(c, o))
		return false;
	for (i = 0; i < 2; i++)
		if (t[i]->name != NULL && !collect(c, o, t[i]))
			return false;
	for (i = 0; tick && i < 2; i++)
		if (t[i]->name != NULL && !expire(c, o, t[i]))
			return false;
	return true;
}

/*
 * One turn: record, collect (on a NOTIFY, and a second after the last
 * full scan: then escalate and expire too), claim and start, wait. false
 * when the session broke.
 */
static bool
turn(struct loop *l)
{
	PGconn *c = l->c;
	double secs, due;
	bool tick;

	notify_send("WATCHDOG=1");
	if (!record_done(c, l->o, l->pool, &l->held))
		return false;
	if (!stop_pending()) {
		tick = now_mono() - l->scanned >= 1;
		if (l->woken || tick) {
			l->woken = false;
			if (tick)
				l->scanned = now_mono();
			if (!scan(c, l->o, tick) &&
			    PQstatus(c) != CONNECTION_OK)
				return false;
		}
		if (!fill(c, l->o, l->pool) && PQstatus(c) != CONNECTION_OK)
			return false;
	}
	if (stopping) {
		if (pool_busy(l->pool) == 0)
			return true;
		l->woken = false; /* no more scans: wait for the workers */
		secs = 1;
	} else {
		/*
		 * Idle after fill(): a delivery due now waits for an earlier
		 * event of its chain; not less than 50 ms then (no spinning).
		 */
		secs = 1 - (now_mono() - l->scanned);
		if (pool_busy(l->pool) == 0 && (due = next_due(c, l->o)) < secs)
			secs = due > 0.05 ? due : 0.05;
	}
	return wait_for(c, l->pool, secs < 0 ? 0 : secs, &l->waitmask,
	    &l->woken);
}

/* Connect, or wait before the next try; false: not connected. */
static bool
connect_once(struct loop *l)
{
	struct notify_opts *o = l->o;
	char *cause = NULL;

	if ((l->c = session(o, &cause)) == NULL) {
		nlog("%s; again in %g s", cause, l->pause);
		notify_send("STATUS=waiting for the database\nWATCHDOG=1");
		free(cause);
		wait_for_signal(l->pause, &l->waitmask);
		l->pause = l->pause < 30 ? l->pause * 2 : 30;
		return false;
	}
	nlog("listening; delivering to %s%s%s (%d at once)", o->main.name,
	    o->esc.name != NULL ? ", escalating to " : "",
	    o->esc.name != NULL ? o->esc.name : "", o->parallel);
	notify_send("READY=1\nSTATUS=listening");
	l->pause = 1;
	l->woken = true;
	l->scanned = 0; /* a full scan at once */
	return true;
}

/*
 * Stopping without a session: wait for the workers, then say which
 * deliveries were not recorded (each runs again once its lease ends).
 */
static void
give_up(struct loop *l)
{
	struct pool_job *j;
	struct pollfd pfd;

	while (pool_busy(l->pool) > 0) {
		pfd.fd = pool_fd(l->pool);
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 1000);
		hold_done(l->pool, &l->held);
	}
	while ((j = l->held) != NULL) {
		l->held = j->next;
		nlog("event %lld: attempt %d to %s not recorded (no database): "
		     "it runs again when its lease ends",
		    ((struct claim *)j->owner)->event,
		    ((struct claim *)j->owner)->attempt,
		    ((struct claim *)j->owner)->t->name);
		job_free(j);
	}
}

int
notify_run(struct notify_opts *o)
{
	struct loop l;
	struct sigaction sa;
	sigset_t block;
	char host[256], *cause = NULL;

	memset(&l, 0, sizeof(l));
	l.o = o;
	l.pause = 1;
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
	sigprocmask(SIG_BLOCK, &block, &l.waitmask);
	sigdelset(&l.waitmask, SIGINT);
	sigdelset(&l.waitmask, SIGTERM);
	if ((l.pool = pool_new(o->parallel, o->ca, o->timeout, &cause)) ==
	    NULL) {
		nlog("%s", cause);
		free(cause);
		notify_close();
		return 1;
	}
	/* Started with SIGINT and SIGTERM blocked: they stay the loop's. */
	if (o->metrics_listen != NULL) {
		if (notify_metrics_start(o->metrics_listen, &cause) != 0) {
			nlog("%s", cause);
			free(cause);
			pool_free(l.pool);
			notify_close();
			return 1;
		}
		nlog("metrics on http://%.*s:%u/metrics",
		    (int)(strrchr(o->metrics_listen, ':') - o->metrics_listen),
		    o->metrics_listen, notify_metrics_port());
	}
	while (!stop_pending() || pool_busy(l.pool) > 0 || l.held != NULL) {
		if (l.c == NULL) {
			if (stopping) {
				give_up(&l);
				break;
			}
			hold_done(l.pool, &l.held);
			if (!connect_once(&l))
				continue;
		}
		if (!turn(&l)) {
			nlog("lost the database connection; reconnecting");
			PQfinish(l.c);
			l.c = NULL;
		}
	}
	notify_send("STOPPING=1");
	PQfinish(l.c);
	pool_free(l.pool);
	notify_metrics_stop();
	notify_close();
	nlog("stopped");
	return 0;
}
